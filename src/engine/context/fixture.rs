//! A context directory exercising every rule of the walk, and readers of
//! the tar made of it, for the tests of `context/`.

use std::fs;
use std::io::Read;
use std::path::Path;

use bytes::Bytes;
use futures::StreamExt;
use std::collections::BTreeSet;
#[cfg(unix)]
use std::os::unix::fs::{symlink, PermissionsExt};

use super::{tar_stream, ContextSpec, Entry};
use crate::config::Dockerfile;

pub(crate) const LONG_A: &str =
    "a_directory_name_that_is_quite_long_for_testing_purposes_0123456789";
pub(crate) const LONG_B: &str =
    "another_pretty_long_directory_name_to_push_past_the_ustar_limit_abcdef";

pub(crate) fn write(root: &Path, rel: &str, content: &[u8]) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap();
}

pub(crate) fn long_rel() -> String {
    format!("long/{LONG_A}/{LONG_B}/file.txt")
}

/// A context exercising every rule; see `expected_paths`.
pub(crate) fn make_tree(root: &Path) {
    write(root, "Dockerfile", b"FROM scratch\nCOPY . /\n");
    write(
        root,
        ".dockerignore",
        b"# kiln test\nnode_modules\n**/*.log\nsecret\n!secret/keep.txt\nbuild/**\n!build/keep-*\ndocs/*.md\n!docs/README.md\nDockerfile\n.dockerignore\n",
    );
    write(root, "src/main.rs", b"fn main() {}\n");
    write(root, "src/debug.log", b"log");
    write(root, "app.log", b"log");
    write(root, "node_modules/pkg/index.js", b"module.exports = 1;");
    write(root, "node_modules/pkg/deep/x.js", b"x");
    write(root, "secret/keep.txt", b"keep");
    write(root, "secret/private.key", b"key");
    write(root, "build/out.bin", b"\x00\x01");
    write(root, "build/keep-me", b"kept");
    write(root, "docs/a.md", b"# a");
    write(root, "docs/README.md", b"# readme");
    write(root, "docs/.dockerignore", b"*\n");
    write(root, "docs/sub/.dockerignore.bak", b"x");
    write(root, "bin/run.sh", b"#!/bin/sh\necho hi\n");
    write(root, &long_rel(), b"long");
    #[cfg(unix)]
    {
        fs::set_permissions(root.join("bin/run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(root.join("src/main.rs"), fs::Permissions::from_mode(0o600)).unwrap();
        symlink("src/main.rs", root.join("link")).unwrap();
        symlink("../nowhere", root.join("dangling")).unwrap();
        // A symlink to a directory is stored, never followed.
        symlink("node_modules", root.join("nm-link")).unwrap();
    }
}

pub(crate) fn expected_paths() -> BTreeSet<String> {
    let mut set: BTreeSet<String> = [
        ".dockerignore",
        "Dockerfile",
        "bin",
        "bin/run.sh",
        "build",
        "build/keep-me",
        "docs",
        "docs/.dockerignore",
        "docs/README.md",
        "docs/sub",
        "docs/sub/.dockerignore.bak",
        "long",
        "secret",
        "secret/keep.txt",
        "src",
        "src/main.rs",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    set.insert(format!("long/{LONG_A}"));
    set.insert(format!("long/{LONG_A}/{LONG_B}"));
    set.insert(long_rel());
    if cfg!(unix) {
        set.extend(["link", "dangling", "nm-link"].map(String::from));
    }
    set
}

pub(crate) fn spec(root: &Path) -> ContextSpec {
    ContextSpec {
        root: root.to_path_buf(),
        dockerfile: Dockerfile::Path("Dockerfile".to_string()),
    }
}

pub(crate) async fn collect_tar(entries: Vec<Entry>) -> Vec<u8> {
    let mut stream = Box::pin(tar_stream(entries));
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    out
}

/// Reads a tar produced by `tar_stream` back as (path, content) pairs.
pub(crate) async fn tar_files(entries: Vec<Entry>) -> Vec<(String, Vec<u8>)> {
    let chunks: Vec<Bytes> = tar_stream(entries)
        .map(|c| c.unwrap())
        .collect::<Vec<_>>()
        .await;
    let bytes: Vec<u8> = chunks.concat();
    let mut archive = tar::Archive::new(&bytes[..]);
    let mut out = Vec::new();
    for item in archive.entries().unwrap() {
        let mut item = item.unwrap();
        let path = item.path().unwrap().to_string_lossy().into_owned();
        let mut content = Vec::new();
        item.read_to_end(&mut content).unwrap();
        out.push((path, content));
    }
    out
}
