//! Sets `KILN_VERSION` for `kiln --version`: the package version, and the
//! commit it was built from when that is known, as cargo prints its own
//! (`0.1.0 (2ab233bc1 2025-12-07)`).
//!
//! The commit comes from, in order:
//! - `KILN_BUILD_COMMIT` in the build's environment (a packager building
//!   from a tarball can say it);
//! - git, when the package's directory is the top of a git checkout (never
//!   the commit of some repository the package merely sits inside, such as
//!   a home directory under git holding `~/.cargo/registry`);
//! - `.cargo_vcs_info.json`, which `cargo package` writes into the crate it
//!   packs from a git checkout (so `cargo install kiln` and the build
//!   `cargo package` verifies know the commit too, without a date).
//!
//! Anything missing or failing (no git, not a checkout, a shallow clone
//! without dates) leaves just the version: the build never fails here.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    println!("cargo:rerun-if-env-changed=KILN_BUILD_COMMIT");
    let commit = from_env().or_else(|| from_git(&dir)).or_else(|| {
        // Not a checkout: cargo package's copy (target/package/kiln-*), an
        // installed crate, a tarball. Cargo keys this script's results by
        // package, not by directory, so a checkout building into the same
        // target dir after `cargo package` would find them fresh and keep
        // this copy's commit; a file that never exists makes cargo run
        // this again next time (a copy like this is built once anyway).
        if let Some(out) = std::env::var_os("OUT_DIR") {
            println!(
                "cargo:rerun-if-changed={}",
                Path::new(&out).join("never-written").display()
            );
        }
        from_vcs_info(&dir)
    });
    let full = match commit {
        Some(c) => format!("{version} ({c})"),
        None => version,
    };
    println!("cargo:rustc-env=KILN_VERSION={full}");
}

fn from_env() -> Option<String> {
    let v = std::env::var("KILN_BUILD_COMMIT").ok()?;
    let v = v.trim();
    (!v.is_empty() && v.chars().all(|c| c.is_ascii_graphic() || c == ' ')).then(|| v.to_string())
}

/// `HASH DATE` of HEAD, when `dir` is the top of a git work tree. Tells
/// cargo to run this again when HEAD moves.
fn from_git(dir: &Path) -> Option<String> {
    let top = git(dir, &["rev-parse", "--show-toplevel"])?;
    if std::fs::canonicalize(top).ok()? != std::fs::canonicalize(dir).ok()? {
        return None;
    }
    // HEAD names a branch (its ref file, or packed-refs) or a commit: a
    // commit, a checkout or a branch switch changes one of these files.
    for name in ["HEAD", "packed-refs"] {
        if let Some(p) = git(dir, &["rev-parse", "--git-path", name]) {
            rerun_if_changed(&dir.join(p));
        }
    }
    if let Some(branch) = git(dir, &["symbolic-ref", "-q", "HEAD"]) {
        if let Some(p) = git(dir, &["rev-parse", "--git-path", &branch]) {
            rerun_if_changed(&dir.join(p));
        }
    }
    let line = git(
        dir,
        &["log", "-1", "--abbrev=9", "--date=short", "--format=%h %cd"],
    )?;
    (!line.is_empty()).then_some(line)
}

/// The sha1 `cargo package` recorded (short, as git shows it).
fn from_vcs_info(dir: &Path) -> Option<String> {
    let path = dir.join(".cargo_vcs_info.json");
    rerun_if_changed(&path);
    let text = std::fs::read_to_string(path).ok()?;
    let (_, rest) = text.split_once("\"sha1\"")?;
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let sha: String = rest
        .strip_prefix('"')?
        .chars()
        .take_while(|c| c.is_ascii_hexdigit())
        .collect();
    (sha.len() >= 9).then(|| sha.chars().take(9).collect())
}

/// Only files that exist: a missing one would make cargo run this every
/// build.
fn rerun_if_changed(path: &Path) {
    if path.exists() {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

/// What git prints (trimmed), or `None` when it is missing or fails.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8(out.stdout).ok()?.trim().to_string())
}
