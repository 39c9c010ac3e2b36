//! The day-two commands on the real daemon (issue 22 §2): `kiln ls`
//! names a failure's cause, `kiln ls --json` and `kiln history IMAGE
//! [--json]` tell each run's result, end, duration, image id and why it
//! was built.
#![allow(clippy::unwrap_used, clippy::string_slice)]

mod common;

use common::*;

fn json_lines(out: &std::process::Output) -> Vec<serde_json::Value> {
    assert!(out.status.success(), "{}", stderr(out));
    events(out)
}

fn two_image_stack() -> Stack {
    let s = Stack::new();
    s.busybox_context("ok", "RUN echo ok\n");
    s.busybox_context("bad", "RUN echo about to fail && exit 7\n");
    s.config(
        "images:\n  - {name: ok, tags: [\"{prefix}/ok:latest\"]}\n  - {name: bad, tags: [\"{prefix}/bad:latest\"]}\n  - {name: new, tags: [\"{prefix}/new:latest\"], context: ok}\n",
    );
    s
}

#[test]
fn ls_names_the_failure_and_ls_json_tells_each_image() {
    require_docker!();
    let s = two_image_stack();
    let out = s.kiln(&["build", "--plain", "ok", "bad"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));

    let ls = stdout(&s.kiln(&["ls"]));
    let bad = ls.lines().find(|l| l.starts_with("bad")).unwrap_or("");
    assert!(bad.contains("failed"), "{ls}");
    assert!(bad.contains("(exit 7 at "), "the cause: {ls}");

    let rows = json_lines(&s.kiln(&["ls", "--json"]));
    assert_eq!(rows.len(), 3, "{rows:#?}");
    let by = |name: &str| rows.iter().find(|r| r["image"] == name).unwrap();
    let ok = by("ok");
    assert_eq!(ok["result"], "built");
    assert!(ok["image_id"].as_str().unwrap().starts_with("sha256:"));
    assert!(ok["duration_ms"].as_i64().is_some());
    assert!(ok["ended"].as_str().unwrap().ends_with('Z'));
    assert_eq!(ok["tags"][0], s.tag("ok"));
    assert_eq!(
        ok["reason"],
        "rebuilding: no earlier successful build recorded"
    );
    let bad = by("bad");
    assert_eq!(bad["result"], "failed");
    let failure = bad["failure"].as_str().unwrap();
    assert!(failure.starts_with("exit 7 at "), "{failure}");
    assert!(failure.contains("exit 7"), "{failure}");
    assert_eq!(by("new")["result"], "never");
}

#[test]
fn history_lists_an_images_runs_newest_first() {
    require_docker!();
    let s = two_image_stack();
    assert!(s.kiln(&["build", "--plain", "ok"]).status.success());
    assert!(s
        .kiln(&["build", "--plain", "--force", "ok"])
        .status
        .success());

    let runs = json_lines(&s.kiln(&["history", "ok", "--json"]));
    assert_eq!(runs.len(), 2, "{runs:#?}");
    assert!(runs.iter().all(|r| r["result"] == "built"));
    assert!(runs[0]["reason"]
        .as_str()
        .unwrap()
        .starts_with("rebuilding: forced"));
    assert_eq!(
        runs[1]["reason"],
        "rebuilding: no earlier successful build recorded"
    );
    assert!(runs[0]["ended"].as_str() > runs[1]["ended"].as_str());

    let text = s.kiln(&["history", "ok"]);
    assert!(text.status.success(), "{}", stderr(&text));
    let text = stdout(&text);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].contains("RESULT") && lines[0].contains("REASON"),
        "{text}"
    );
    assert!(lines[1].trim_start().starts_with("1  built"), "{text}");
    assert!(lines[1].contains("rebuilding: forced"), "{text}");
    assert!(lines[2].contains("no earlier successful build"), "{text}");

    let unknown = s.kiln(&["history", "nope"]);
    assert_eq!(unknown.status.code(), Some(2));
}
