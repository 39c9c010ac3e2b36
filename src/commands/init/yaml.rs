//! The kiln.yaml text `kiln init` writes: one entry per image, with a
//! comment saying which Dockerfile it came from and what it builds on.
//! Values are written so YAML reads them as the strings they are and
//! kiln's `${VAR}` interpolation leaves them alone (`$` doubled).

use std::fmt::Write as _;

use super::propose::{Found, Proposed};

/// The file's opening comment. Its first line points editors that use
/// yaml-language-server (VS Code's YAML extension, Helix, Neovim's yamlls)
/// at the schema `kiln init` writes beside it.
const HEADER: &str = "\
# yaml-language-server: $schema=kiln.schema.json
# Written by `kiln init` from the Dockerfiles in this directory and below.
# Each image builds on what its Dockerfile's FROM names: an image whose tag
# a FROM names is built first (`kiln check` prints the plan). Every field:
# README.md's \"Configuration\", or `kiln man`; `kiln schema` prints the
# JSON Schema that kiln.schema.json holds.
";

/// The whole kiln.yaml for `images` (from `found`).
pub fn render(images: &[Proposed], found: &[Found]) -> String {
    let mut s = String::from(HEADER);
    s.push_str("images:\n");
    for (n, img) in images.iter().enumerate() {
        if n > 0 {
            s.push('\n');
        }
        let f = &found[img.found];
        let _ = writeln!(
            s,
            "  # {}{}",
            comment_text(&f.path()),
            builds_on(img, images)
        );
        let _ = writeln!(s, "  - name: {}", scalar(&img.name));
        let _ = writeln!(s, "    context: {}", scalar(&context(f)));
        if f.file != "Dockerfile" {
            let _ = writeln!(s, "    dockerfile: {}", scalar(&f.file));
        }
        let tags: Vec<String> = img.tags.iter().map(|t| quoted(t)).collect();
        let _ = writeln!(s, "    tags: [{}]", tags.join(", "));
    }
    s
}

/// `: builds on base (FROM myorg/base:latest)` for the comment.
fn builds_on(img: &Proposed, images: &[Proposed]) -> String {
    let mut parts: Vec<String> = img
        .builds_on
        .iter()
        .map(|(r, j)| format!("builds on {} ({})", images[*j].name, comment_text(r)))
        .collect();
    parts.extend(
        img.cycles
            .iter()
            .map(|r| format!("{} not linked: it would make a cycle", comment_text(r))),
    );
    if parts.is_empty() {
        String::new()
    } else {
        format!(": {}", parts.join("; "))
    }
}

/// The context directory as kiln.yaml writes it: `.` or `./dir/sub`.
fn context(f: &Found) -> String {
    let dir = f.dir.to_string_lossy().replace('\\', "/");
    if dir.is_empty() {
        ".".to_string()
    } else {
        format!("./{dir}")
    }
}

/// A comment's text on one line (a file name may hold a line break).
fn comment_text(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// `s` as a plain YAML scalar when that reads back as the same string,
/// else double-quoted.
fn scalar(s: &str) -> String {
    let plain = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '/' | '_' | '-'))
        && s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '.')
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "y" | "n" | "yes" | "no" | "on" | "off" | "true" | "false" | "null" | "~"
        );
    if plain {
        s.to_string()
    } else {
        quoted(s)
    }
}

/// `s` double-quoted (JSON's escapes are YAML's), `$` doubled so kiln's
/// interpolation gives it back as it is.
fn quoted(s: &str) -> String {
    let json = serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""));
    json.replace('$', "$$")
}
