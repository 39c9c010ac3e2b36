//! Several kiln processes on one history: the first ones to open a fresh
//! data dir create its schema together (one transaction, waiting for each
//! other), and every run is recorded.
#![allow(clippy::unwrap_used, clippy::string_slice)]

mod common;

use std::process::{Command, Output, Stdio};

use common::*;

/// Start `n` kiln processes at once with `args`, all on `data`; their
/// outputs.
fn at_once(s: &Stack, data: &std::path::Path, n: usize, args: &[&str]) -> Vec<Output> {
    let children: Vec<_> = (0..n)
        .map(|_| {
            let mut cmd: Command = s.kiln_cmd(args);
            cmd.env("XDG_DATA_HOME", data)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("run kiln")
        })
        .collect();
    children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect()
}

#[test]
fn first_opens_at_once_all_succeed() {
    let s = Stack::new();
    s.write("x/Dockerfile", "FROM scratch\n");
    s.config("images:\n  - name: x\n");
    for round in 0..6 {
        let data = s.home.path().join(format!("fresh-{round}"));
        for out in at_once(&s, &data, 8, &["ls"]) {
            assert!(out.status.success(), "round {round}: {}", stderr(&out));
            assert!(stdout(&out).contains("never"), "{}", stdout(&out));
        }
    }
}

#[test]
fn two_first_builds_at_once_both_record() {
    require_docker!();
    let s = Stack::new();
    s.busybox_context("one", "RUN echo one\n");
    s.config("images:\n  - {name: one, tags: [\"{prefix}/one:latest\"]}\n");
    let data = s.home.path().join("fresh");
    let outs = at_once(
        &s,
        &data,
        2,
        &["build", "--json", "--force", "--builder", "legacy"],
    );
    for out in &outs {
        assert!(out.status.success(), "{}", stderr(out));
        let ev = events(out);
        let notices: Vec<_> = of_type(&ev, "notice", None)
            .iter()
            .filter_map(|n| n["message"].as_str().map(String::from))
            .filter(|m| m.contains("history"))
            .collect();
        assert!(notices.is_empty(), "history trouble: {notices:?}");
        assert_eq!(of_type(&ev, "built", Some("one")).len(), 1, "{ev:?}");
    }
    // Both runs are in the history, both built, each with its log.
    for run in ["1", "2"] {
        let out = s
            .kiln_cmd(&["logs", "one", "--run", run])
            .env("XDG_DATA_HOME", &data)
            .output()
            .unwrap();
        assert!(out.status.success(), "run {run}: {}", stderr(&out));
    }
    let out = s
        .kiln_cmd(&["ls"])
        .env("XDG_DATA_HOME", &data)
        .output()
        .unwrap();
    assert!(stdout(&out).contains("built"), "{}", stdout(&out));
}
