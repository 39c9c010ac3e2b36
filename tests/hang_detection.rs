//! Stalls and timeouts of real builds on the real daemon.
#![allow(clippy::unwrap_used, clippy::string_slice)]

mod common;

use std::time::Duration;

use common::*;

#[test]
fn a_silent_build_is_reported_stalled_then_resumed() {
    require_docker!();
    let s = Stack::new();
    s.busybox_context(
        "quiet",
        "RUN echo before-the-silence && sleep 4 && echo after-the-silence\n",
    );
    s.config("images:\n  - {name: quiet, tags: [\"{prefix}/quiet:latest\"]}\n");
    let out = s.kiln(&["build", "--json", "--stall-after", "1500ms", "--no-cache"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let ev = events(&out);
    // An earlier step may be silent past 1.5 s too (a RUN's container
    // starting under load, as on Podman): the sleep's stall is the one.
    let stalled = ev
        .iter()
        .position(|e| {
            e["type"] == "stalled" && e["step"].as_str().is_some_and(|s| s.contains("sleep 4"))
        })
        .unwrap_or_else(|| panic!("no stall in the sleeping step: {ev:?}"));
    let resumed = stalled
        + ev[stalled..]
            .iter()
            .position(|e| e["type"] == "resumed")
            .expect("resumed after the stall");
    assert_eq!(ev[stalled]["phase"], "build");
    let silent = ev[stalled]["silent_ms"].as_u64().unwrap();
    assert!(
        (1500..2500).contains(&silent),
        "flagged within 1s of the threshold: {silent}"
    );
    assert!(ev[resumed]["silent_ms"].as_u64().unwrap() >= 3000);
    let after = ev
        .iter()
        .position(|e| e["line"] == "after-the-silence")
        .unwrap();
    assert!(
        resumed <= after + 1 && resumed + 1 >= after,
        "resumed comes with the output"
    );
}

#[test]
fn a_timeout_cancels_the_build_and_spares_independent_images() {
    require_docker!();
    skip_on_podman!(
        "Podman 4.3 does not stop a build whose client went away: the timed-out build runs on in the daemon (its buildah container is not in `docker ps` either)"
    );
    let s = Stack::new();
    let marker = format!("{}-hung", s.prefix);
    s.busybox_context("hung", &format!("RUN echo {marker} && sleep 300\n"));
    s.child_context("after", "hung", "RUN echo never\n");
    s.busybox_context("fine", "RUN sleep 1 && echo fine\n");
    s.config(
        r#"
defaults: {jobs: 2}
images:
  - {name: hung, tags: ["{prefix}/hung:latest"], timeout: 4s}
  - {name: after, tags: ["{prefix}/after:latest"]}
  - {name: fine, tags: ["{prefix}/fine:latest"]}
"#,
    );
    let out = s.kiln(&["build", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let ev = events(&out);
    let timed_out = of_type(&ev, "timed_out", Some("hung"));
    assert_eq!(timed_out.len(), 1);
    let after_ms = timed_out[0]["after_ms"].as_u64().unwrap();
    assert!((4000..5500).contains(&after_ms), "{after_ms}");
    assert_eq!(
        of_type(&ev, "skipped", Some("after"))[0]["reason"],
        "dependency_failed"
    );
    assert_eq!(of_type(&ev, "built", Some("fine")).len(), 1);
    assert_eq!(ev.last().unwrap()["failed"], serde_json::json!(["hung"]));

    // The build container is gone from the daemon, and the log was kept.
    let running =
        || stdout(&docker(&["ps", "--no-trunc", "--format", "{{.Command}}"])).contains(&marker);
    assert!(
        eventually(Duration::from_secs(20), || !running()),
        "build container still running"
    );
    let logs = s.kiln(&["logs", "hung"]);
    assert!(stdout(&logs).contains(&marker), "{}", stdout(&logs));
}
