//! Nothing from outside kiln reaches a terminal unsanitised: a hostile
//! fixture (escape-laden Dockerfiles, build output, file names, tags,
//! names, `${VAR:?msg}` messages, config.json keys, DOCKER_HOST, command
//! line values) run through every command, with every byte of stdout and
//! stderr checked for ESC, BEL and C1 controls. JSON carries such text as
//! escaped data (`\u001b`), never as raw bytes.
#![allow(clippy::unwrap_used, clippy::string_slice)]

mod common;

use std::process::Output;

use common::*;

/// OSC 52 (write the clipboard), a screen clear, a title, and the 8-bit
/// CSI (U+009B): what a hostile string carries.
const EVIL: &str = "\x1b]52;c;ZXZpbA==\x07\x1b[2J\x1b]0;pwned\x07\u{9b}31m";
/// The same in a YAML double-quoted string.
const EVIL_YAML: &str = "\\e]52;c;ZXZpbA==\\a\\e[2J\\e]0;pwned\\a\\x9b31m";

/// The first terminal control byte in `bytes`: ESC, BEL, or a C1 control
/// (U+0080–U+009F, `C2 80`–`C2 9F` in UTF-8).
fn first_control(bytes: &[u8]) -> Option<usize> {
    bytes.iter().enumerate().position(|(i, &b)| {
        b == 0x1b
            || b == 0x07
            || (b == 0xC2 && bytes.get(i + 1).is_some_and(|n| (0x80..=0x9F).contains(n)))
    })
}

/// Neither stream of `out` holds a control byte; returns both as text.
fn assert_clean(what: &str, out: &Output) -> String {
    for (name, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        if let Some(i) = first_control(bytes) {
            let from = i.saturating_sub(60);
            let around = String::from_utf8_lossy(&bytes[from..(i + 20).min(bytes.len())]);
            panic!("{what}: a control byte on {name} at {i}: {around:?}");
        }
    }
    format!("{}{}", stdout(out), stderr(out))
}

/// A stack whose build output, Dockerfile text and file names are hostile.
fn hostile_stack() -> Stack {
    let s = Stack::new();
    s.busybox_context(
        "loud",
        "COPY files /files\nRUN printf '\\033]52;c;ZXZpbA==\\007\\033[2Jprinted \\302\\233 31m evil\\n'\n",
    );
    for name in [
        "plain.txt",
        "new\nline.txt",
        "\x1b]0;title\x07.txt",
        "c1\u{9b}2J.txt",
    ] {
        s.write(&format!("loud/files/{name}"), "one\n");
    }
    // The daemon's error for a failed RUN quotes the command as written.
    s.busybox_context("bad", &format!("RUN false # {EVIL}\n"));
    s.config(
        "images:\n  - {name: loud, tags: [\"{prefix}/loud:latest\"]}\n  - {name: bad, tags: [\"{prefix}/bad:latest\"]}\n",
    );
    s
}

#[test]
fn builds_logs_and_listings_never_print_a_control_byte() {
    require_docker!();
    let s = hostile_stack();
    for format in ["--plain", "--json"] {
        let out = s.kiln(&["build", format, "--no-cache", "--builder", "legacy"]);
        assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
        assert_clean(&format!("build {format}"), &out);
    }
    let out = s.kiln(&["build", "--json", "--no-cache", "--builder", "buildkit"]);
    assert_clean("build --builder buildkit", &out);
    // The escapes were there, as data: JSON keeps them escaped.
    let text = stdout(&out);
    assert!(text.contains("printed"), "{text}");

    // Change the hostile file names: the "files changed" notice names them,
    // each on the image's one line.
    for name in ["new\nline.txt", "\x1b]0;title\x07.txt", "c1\u{9b}2J.txt"] {
        s.write(&format!("loud/files/{name}"), "two\n");
    }
    let out = s.kiln(&["build", "--plain", "--builder", "legacy", "loud"]);
    let text = assert_clean("rebuild --plain", &out);
    let changed: Vec<&str> = text.lines().filter(|l| l.contains("rebuilding")).collect();
    assert_eq!(changed.len(), 1, "{text}");
    assert!(changed[0].starts_with("loud | "), "{text}");
    assert!(changed[0].contains("new\\nline.txt"), "{text}");
    assert!(changed[0].contains("\\e]0;title\\u{7}.txt"), "{text}");

    for args in [
        &["ls"][..],
        &["logs", "loud"],
        &["logs", "bad"],
        &["logs", "loud", "--run", "2"],
    ] {
        let out = s.kiln(args);
        assert_clean(&args.join(" "), &out);
    }

    // A saved log that holds escapes (written by hand here) is sanitised
    // on the way out too.
    let data = s.home.path().join("data");
    let log = find_log(&data, "loud").expect("loud's saved log");
    std::fs::write(&log, format!("before {EVIL} after\n")).unwrap();
    let out = s.kiln(&["logs", "loud"]);
    let text = assert_clean("logs of a tampered file", &out);
    assert!(text.contains("before") && text.contains("after"), "{text}");
}

/// The newest `.log` file under `dir` whose path names `image`.
fn find_log(dir: &std::path::Path, image: &str) -> Option<std::path::PathBuf> {
    let mut found: Vec<(std::time::SystemTime, std::path::PathBuf)> = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).ok()?.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "log")
                && p.parent().is_some_and(|d| d.ends_with(image))
            {
                found.push((e.metadata().ok()?.modified().ok()?, p));
            }
        }
    }
    found.into_iter().max().map(|(_, p)| p)
}

#[test]
fn config_mistakes_quote_hostile_values_harmlessly() {
    let s = Stack::new();
    s.busybox_context("ok", "");
    let configs = [
        format!("images:\n  - {{name: ok, tags: [\"ok{EVIL_YAML}:1\"]}}\n"),
        format!("images:\n  - {{name: \"Bad{EVIL_YAML}\", context: ok}}\n"),
        format!("images:\n  - {{name: ok, target: \"${{NOPE:?{EVIL_YAML}}}\"}}\n"),
        format!("images:\n  - {{name: ok, \"x{EVIL_YAML}\": 1}}\n"),
        format!("images:\n  - {{name: ok, dockerfile: \"Dock{EVIL_YAML}\"}}\n"),
        format!("images:\n  - {{name: ok, context: \"ctx{EVIL_YAML}\"}}\n"),
        format!("images:\n  - {{name: ok, image: \"alpine{EVIL_YAML}\"}}\n"),
        format!("images:\n  - {{name: ok, depends_on: [\"x{EVIL_YAML}\"]}}\n"),
        format!("images:\n  - {{name: ok, timeout: \"1{EVIL_YAML}\"}}\n"),
        format!("images:\n  - {{name: ok}}\n\"{EVIL_YAML}\": [\n"),
    ];
    for (i, yaml) in configs.iter().enumerate() {
        s.config(yaml);
        for args in [
            &["check"][..],
            &["build", "--plain"],
            &["build", "--json"],
            &["ls"],
        ] {
            let out = s.kiln(args);
            assert_eq!(out.status.code(), Some(2), "config {i}: {}", stderr(&out));
            assert_clean(&format!("config {i}: {}", args.join(" ")), &out);
        }
    }
}

#[test]
fn command_line_values_and_the_environment_are_quoted_harmlessly() {
    let s = Stack::new();
    s.busybox_context("ok", "");
    s.config("images:\n  - {name: ok, tags: [\"{prefix}/ok:latest\"]}\n");
    let cases: [&[&str]; 6] = [
        &["build", EVIL],
        &["logs", EVIL],
        &["push", EVIL],
        &["build", "--jobs", EVIL],
        &["build", "--set", &format!("ok.timeout={EVIL}")],
        &["build", "--set", &format!("ok.tags=a{EVIL}")],
    ];
    for args in cases {
        let out = s.kiln(args);
        assert_ne!(out.status.code(), Some(0), "{args:?}");
        assert_clean(&format!("{args:?}"), &out);
    }
    // The daemon's address comes from the environment.
    let out = s
        .kiln_cmd(&["build", "--plain"])
        .env("DOCKER_HOST", format!("unix:///nonexistent/{EVIL}.sock"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_clean("DOCKER_HOST", &out);
}

#[test]
fn hostile_config_json_keys_are_quoted_harmlessly() {
    require_docker!();
    let s = Stack::new();
    s.busybox_context("ok", "");
    s.config("images:\n  - {name: ok, tags: [\"localhost:1/{prefix}/ok:latest\"]}\n");
    let dc = tempfile::tempdir().unwrap();
    let evil_json = EVIL
        .replace('\x1b', "\\u001b")
        .replace('\x07', "\\u0007")
        .replace('\u{9b}', "\\u009b");
    for json in [
        format!(r#"{{"auths": {{"h{evil_json}": "dTpwdw=="}}}}"#),
        format!(r#"{{"credHelpers": {{"localhost:1": "x{evil_json}"}}}}"#),
        format!(r#"{{"auths": {{"localhost:1": {{"auth": "{evil_json}"}}}}}}"#),
    ] {
        std::fs::write(dc.path().join("config.json"), &json).unwrap();
        for format in ["--plain", "--json"] {
            let out = s
                .kiln_cmd(&["push", format])
                .env("DOCKER_CONFIG", dc.path())
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
            assert_clean(&format!("push {format} with {json}"), &out);
        }
    }
}
