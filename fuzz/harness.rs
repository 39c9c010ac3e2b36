//! What each fuzz target does with its input, shared by the libFuzzer
//! targets in `fuzz_targets/` and by `tests/fuzz_regressions.rs`, which
//! replays the saved inputs under plain `cargo test`. Each function must
//! neither panic nor hang on any input; the asserts are the invariants the
//! rest of kiln relies on.
#![allow(dead_code)]

use base64::Engine as _;
use bollard::models::BuildInfo;
use kiln::engine::dockerignore::DockerIgnore;
use kiln::engine::parse::{parse_push_line, BuildKitParser, BuildahParser, LegacyParser};
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

/// The bytes as a legacy build stream (and buildah's, also `stream`
/// messages): one JSON `BuildInfo` per line, as bollard hands them to the
/// engine (lines that are not `BuildInfo` JSON are skipped, as bollard
/// would end the stream there).
pub fn legacy_stream(data: &[u8]) {
    let mut parser = LegacyParser::new();
    // buildah's stream (Podman) is `stream` messages too: the same bytes.
    let mut buildah = BuildahParser::new();
    let mut out = Vec::new();
    for line in cap(data).split(|b| *b == b'\n') {
        if let Ok(info) = serde_json::from_slice::<BuildInfo>(line) {
            parser.feed(&info, &mut out);
            buildah.feed(&info, &mut out);
            if buildah.holds_step() && line.len() % 3 == 0 {
                buildah.release(&mut out);
            }
        }
    }
    parser.finish(&mut out);
    buildah.finish(&mut out);
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

/// Every string (and number) value in a JSON document, and every key.
fn json_texts(v: &serde_json::Value, values: &mut Vec<String>, keys: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => values.push(s.clone()),
        serde_json::Value::Number(n) => values.push(n.to_string()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| json_texts(x, values, keys)),
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                keys.push(k.clone());
                json_texts(x, values, keys);
            }
        }
        _ => {}
    }
}

/// The words kiln's config.json messages are made of (a value that is
/// one of them may show up in a message without having been quoted).
const CONFIG_JSON_WORDS: &str = "is not valid: must be an object a string a JSON object \
    the base64 of USER:PASSWORD (it is a number a boolean an array null) the top level \
    auths credsStore credHelpers auth username password identitytoken not valid JSON";

/// The bytes as a `config.json`: loading never panics, and an error never
/// quotes a value from the file (a password, an `auth`), only the file,
/// the key path and what was expected.
pub fn config_json(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(cap(data)) else {
        return;
    };
    let path = std::path::Path::new("/fuzz/config.json");
    let Err(e) = kiln::engine::credentials::Store::parse(path, text) else {
        return;
    };
    let message = e.to_string();
    assert!(
        !message.chars().any(|c| c.is_control()),
        "control character in {message:?}"
    );
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(text) else {
        return; // a syntax error: serde_json's words and a position only
    };
    let (mut values, mut keys) = (Vec::new(), Vec::new());
    json_texts(&doc, &mut values, &mut keys);
    let mut rest = message.replacen(&path.display().to_string(), "", 1);
    for k in &keys {
        rest = rest.replace(kiln::sanitize::visible(k).as_ref(), "");
    }
    for v in values.iter().filter(|v| v.len() >= 6) {
        if CONFIG_JSON_WORDS.contains(v.as_str()) || keys.iter().any(|k| k.contains(v.as_str())) {
            continue;
        }
        assert!(
            !rest.contains(v.as_str()),
            "{message:?} quotes the value {v:?}"
        );
    }
}

/// Chars a token (password, API key, base64) is made of, as kiln masks them.
fn token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '_' | '-' | '~')
}

/// The bytes as what a credential helper did: its exit code (the first
/// byte), then its stdout, a NUL, its stderr. Whatever it printed, what
/// kiln says about a failure holds no control character and no run of
/// token characters that could be a secret (24 or more, or 12 or more
/// mixing letters and digits).
pub fn helper_output(data: &[u8]) {
    use std::os::unix::process::ExitStatusExt;
    let data = cap(data);
    let Some((&code, rest)) = data.split_first() else {
        return;
    };
    let (stdout, stderr) = match rest.iter().position(|b| *b == 0) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let status = std::process::ExitStatus::from_raw(i32::from(code) << 8);
    let Err(failure) = kiln::engine::credentials::helper_gave_credentials(status, stdout, stderr)
    else {
        return;
    };
    let message = failure.to_string();
    assert!(
        !message.chars().any(|c| c.is_control()),
        "control character in {message:?}"
    );
    for said in [stdout, stderr] {
        let said = String::from_utf8_lossy(said);
        for run in said.split(|c: char| !token_char(c)) {
            let n = run.chars().count();
            let mixed = run.chars().any(|c| c.is_ascii_alphabetic())
                && run.chars().any(|c| c.is_ascii_digit());
            if n >= 24 || (n >= 12 && mixed) {
                assert!(!message.contains(run), "{message:?} shows {run:?}");
            }
        }
    }
}
