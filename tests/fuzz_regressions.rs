//! Replays the saved fuzz inputs under plain `cargo test`: every file in
//! `tests/fixtures/fuzz/<target>/` goes through the same function the
//! cargo-fuzz target of that name runs (`fuzz/harness.rs`), so a crash once
//! found stays fixed. `scripts/fuzz` explains how inputs get there.
#![allow(clippy::unwrap_used, clippy::string_slice)]

#[path = "../fuzz/harness.rs"]
mod harness;

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/fuzz")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no inputs in {}", dir.display());
    for file in files {
        let data = std::fs::read(&file).unwrap();
        let replayed = std::panic::catch_unwind(|| {
            run(&data);
            // Every prefix too: streams cut anywhere must not trip the
            // parsers.
            for cut in (0..data.len()).step_by(data.len() / 16 + 1) {
                run(&data[..cut]);
            }
        });
        assert!(replayed.is_ok(), "{} trips the parser", file.display());
    }
}

#[test]
fn legacy_stream() {
    replay("legacy_stream", harness::legacy_stream);
}

#[test]
fn buildkit_stream() {
    replay("buildkit_stream", harness::buildkit_stream);
}

#[test]
fn push_line() {
    replay("push_line", harness::push_line);
}

#[test]
fn config_load() {
    replay("config_load", harness::config_load);
}

#[test]
fn dockerignore() {
    replay("dockerignore", harness::dockerignore);
}

#[test]
fn sanitize() {
    replay("sanitize", harness::sanitize);
}

#[test]
fn config_json() {
    replay("config_json", harness::config_json);
}

#[test]
fn helper_output() {
    replay("helper_output", harness::helper_output);
}
