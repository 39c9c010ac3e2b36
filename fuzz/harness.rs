//! What each fuzz target does with its input, shared by the libFuzzer
//! targets in `fuzz_targets/` and by `tests/fuzz_regressions.rs`, which
//! replays the saved inputs under plain `cargo test`. Each function must
//! neither panic nor hang on any input; the asserts are the invariants the
//! rest of kiln relies on.
#![allow(dead_code)]

use base64::Engine as _;
use bollard::models::BuildInfo;
use kiln::engine::dockerignore::DockerIgnore;
use kiln::engine::parse::{parse_push_line, BuildKitParser, LegacyParser};
use kiln::protocol::BuildEvent;

/// Inputs over this size are cut (keeps each run fast).
const MAX_INPUT: usize = 64 * 1024;

fn cap(data: &[u8]) -> &[u8] {
    &data[..data.len().min(MAX_INPUT)]
}

/// Every line of text an event carries must be free of terminal controls.
fn assert_clean(events: &[BuildEvent]) {
    for ev in events {
        let text = match ev {
            BuildEvent::Log { line, .. } => line.as_str(),
            BuildEvent::Step { name, .. } => name.as_str(),
            _ => continue,
        };
        assert!(
            !text.chars().any(|c| c.is_control()),
            "control character in {ev:?}"
        );
    }
}

/// The bytes as a legacy build stream: one JSON `BuildInfo` per line, as
/// bollard hands them to the engine (lines that are not `BuildInfo` JSON
/// are skipped, as bollard would end the stream there).
pub fn legacy_stream(data: &[u8]) {
    let mut parser = LegacyParser::new();
    let mut out = Vec::new();
    for line in cap(data).split(|b| *b == b'\n') {
        if let Ok(info) = serde_json::from_slice::<BuildInfo>(line) {
            parser.feed(&info, &mut out);
        }
    }
    parser.finish(&mut out);
    assert_clean(&out);
}

/// The bytes as a BuildKit build stream. First byte even: JSON lines, as
/// for the legacy stream. Odd: the rest is one `moby.buildkit.trace`
/// status (protobuf), sent base64-encoded in `aux` as the daemon does, so
/// bollard's decoding and the parser both see arbitrary vertexes and logs.
pub fn buildkit_stream(data: &[u8]) {
    let data = cap(data);
    let mut parser = BuildKitParser::new();
    let mut out = Vec::new();
    match data.split_first() {
        None => {}
        Some((first, rest)) if first % 2 == 1 => {
            // Several statuses, split at 0xFF bytes (not valid protobuf
            // starts), to exercise state carried between items.
            for part in rest.split(|b| *b == 0xFF) {
                let aux = base64::engine::general_purpose::STANDARD.encode(part);
                let json = format!(r#"{{"id":"moby.buildkit.trace","aux":"{aux}"}}"#);
                if let Ok(info) = serde_json::from_str::<BuildInfo>(&json) {
                    parser.feed_info(&info, &mut out);
                }
            }
        }
        Some((_, rest)) => {
            for line in rest.split(|b| *b == b'\n') {
                if let Ok(info) = serde_json::from_slice::<BuildInfo>(line) {
                    parser.feed_info(&info, &mut out);
                }
            }
        }
    }
    parser.finish(&mut out);
    assert_clean(&out);
}

/// Each line as a raw push line.
pub fn push_line(data: &[u8]) {
    for line in cap(data).split(|b| *b == b'\n') {
        let _ = parse_push_line(line);
    }
}

/// The text as a kiln.yaml (never a panic: errors are values). The
/// environment knows a couple of variables so interpolation paths run.
pub fn config_load(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(cap(data)) else {
        return;
    };
    let env = |name: &str| match name {
        "VERSION" => Some("1.2.3".to_string()),
        "EMPTY" => Some(String::new()),
        _ => None,
    };
    let dir = std::env::temp_dir().join("kiln-fuzz-config-does-not-exist");
    let _ = kiln::config::load_str(&dir.join("kiln.yaml"), text, &env);
}

/// Before the first NUL: `.dockerignore` text; after it: paths to match,
/// one per line.
pub fn dockerignore(data: &[u8]) {
    let data = cap(data);
    let (patterns, paths) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b"a/b/c\nfoo\n.git/x\n"[..]),
    };
    let ignore = DockerIgnore::parse(&String::from_utf8_lossy(patterns));
    let _ = DockerIgnore::try_parse(&String::from_utf8_lossy(patterns));
    let _ = ignore.patterns();
    for path in String::from_utf8_lossy(paths).lines() {
        let excluded = ignore.is_excluded(path);
        if ignore.is_empty() {
            assert!(!excluded, "no patterns excluded {path:?}");
        }
        let _ = ignore.dir_may_have_included_children(path);
    }
}

/// `sanitize` on the text: no control character survives, and a clean
/// line is left alone.
pub fn sanitize(data: &[u8]) {
    let text = String::from_utf8_lossy(cap(data));
    for line in text.split('\n') {
        let clean = kiln::sanitize::sanitize(line);
        assert!(
            !clean.chars().any(|c| c.is_control()),
            "control character left in {clean:?} from {line:?}"
        );
        assert_eq!(
            kiln::sanitize::sanitize(&clean),
            clean,
            "sanitize is idempotent on {line:?}"
        );
    }
}
