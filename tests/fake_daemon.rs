//! Daemon misbehaviour the real daemon won't produce on demand, scripted on
//! a fake daemon (tests/common/fake_daemon.rs). Each case runs two images
//! with the legacy builder: `good`, answered with a recorded successful
//! stream, and `bad`, answered with the broken one. `bad` must end in one
//! clear `failed` (or `timed_out`) event, `good` must still be built, kiln
//! must exit 1 without a panic or a hang, and what `bad` printed before it
//! broke must be kept (in the `log` events and in `kiln logs bad`).
//!
//! No real daemon is needed: these always run.
#![allow(clippy::unwrap_used, clippy::string_slice)]

mod common;

use std::process::{Command, Output};
use std::time::Duration;

use common::fake_daemon::{End, FakeDaemon, Reply, Route};
use common::{events, isolate, of_type, stderr};
use serde_json::Value;

const GOOD_TAG: &str = "127.0.0.1:5999/good:latest";
const BAD_TAG: &str = "127.0.0.1:5999/x:latest";
/// Every kiln run here is killed (and the test fails) after this long.
const HARD_LIMIT: Duration = Duration::from_secs(30);

fn success_lines() -> Vec<String> {
    include_str!("fixtures/legacy_success.jsonl")
        .lines()
        .map(String::from)
        .collect()
}

/// The first steps of a legacy build, with two lines of RUN output that
/// must survive whatever comes after.
fn opening_lines() -> Vec<String> {
    [
        r#"{"stream":"Step 1/3 : FROM scratch"}"#,
        r#"{"stream":"\n"}"#,
        r#"{"stream":" ---\u003e \n"}"#,
        r#"{"stream":"Step 2/3 : RUN echo before-the-break"}"#,
        r#"{"stream":"\n"}"#,
        r#"{"stream":" ---\u003e Running in 0123456789ab\n"}"#,
        r#"{"stream":"before-the-break\n"}"#,
        r#"{"stream":"second line before the break\n"}"#,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

struct Case {
    stack: tempfile::TempDir,
    home: tempfile::TempDir,
    daemon: FakeDaemon,
}

impl Case {
    /// A two-image stack on a fake daemon answering `good`'s build with a
    /// recorded success and `bad`'s with `bad`; `extra` routes (pushes).
    fn new(bad: Reply, extra: Vec<Route>) -> Case {
        let stack = tempfile::tempdir().unwrap();
        for name in ["good", "bad"] {
            let dir = stack.path().join(name);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(
                dir.join("Dockerfile"),
                format!("FROM scratch\nRUN echo {name}\n"),
            )
            .unwrap();
        }
        std::fs::write(
            stack.path().join("kiln.yaml"),
            format!(
                "images:\n  - {{name: good, tags: [\"{GOOD_TAG}\"]}}\n  - {{name: bad, tags: [\"{BAD_TAG}\"]}}\n"
            ),
        )
        .unwrap();
        let mut routes = vec![
            Route::build(GOOD_TAG, Reply::lines(&success_lines(), End::Finish)),
            Route::build(BAD_TAG, bad),
        ];
        routes.extend(extra);
        Case {
            stack,
            home: tempfile::tempdir().unwrap(),
            daemon: FakeDaemon::start(routes),
        }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kiln"));
        cmd.arg("-f")
            .arg(self.stack.path().join("kiln.yaml"))
            .args(args);
        isolate(&mut cmd, self.home.path());
        cmd.env("DOCKER_HOST", self.daemon.host())
            .env("DOCKER_CONFIG", self.home.path().join("docker"))
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_TLS_VERIFY")
            .env_remove("DOCKER_CERT_PATH");
        cmd
    }

    /// `kiln build --json --builder legacy ARGS`, bounded.
    fn build(&self, args: &[&str]) -> (Output, Vec<Value>) {
        let mut all = vec!["build", "--json", "--builder", "legacy"];
        all.extend_from_slice(args);
        let out = common::fake_daemon::run_bounded(self.cmd(&all), HARD_LIMIT);
        let err = stderr(&out);
        assert!(!err.contains("panicked"), "kiln panicked:\n{err}");
        let ev = events(&out);
        (out, ev)
    }

    /// What `kiln logs IMAGE` prints.
    fn logs(&self, image: &str) -> String {
        let out = common::fake_daemon::run_bounded(self.cmd(&["logs", image]), HARD_LIMIT);
        assert!(out.status.success(), "kiln logs {image}: {}", stderr(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// The common verdict: `good` built, `bad` ended once with `end` (and
/// nothing else terminal), exit code 1, the summary names `bad` only.
fn assert_only_bad_ended(out: &Output, ev: &[Value], end: &str) {
    assert_eq!(
        out.status.code(),
        Some(1),
        "stderr: {}\nevents: {ev:#?}",
        stderr(out)
    );
    assert_eq!(of_type(ev, "built", Some("good")).len(), 1, "{ev:#?}");
    for ty in ["failed", "timed_out", "cancelled"] {
        assert!(
            of_type(ev, ty, Some("good")).is_empty(),
            "good {ty}: {ev:#?}"
        );
    }
    assert_eq!(of_type(ev, end, Some("bad")).len(), 1, "{ev:#?}");
    assert!(of_type(ev, "built", Some("bad")).is_empty(), "{ev:#?}");
    let summary = ev.last().unwrap();
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["failed"], serde_json::json!(["bad"]));
    assert_eq!(summary["succeeded"], serde_json::json!(["good"]));
}

/// The log lines `bad` streamed (as `log` events).
fn bad_log(ev: &[Value]) -> Vec<String> {
    of_type(ev, "log", Some("bad"))
        .iter()
        .filter_map(|e| e["line"].as_str().map(String::from))
        .collect()
}

fn failed_error(ev: &[Value]) -> (String, String) {
    let f = of_type(ev, "failed", Some("bad"));
    (
        f[0]["phase"].as_str().unwrap().to_string(),
        f[0]["error"].as_str().unwrap().to_string(),
    )
}

fn assert_kept_before_the_break(c: &Case, ev: &[Value]) {
    let lines = bad_log(ev);
    assert!(
        lines.iter().any(|l| l == "before-the-break"),
        "log events kept: {lines:?}"
    );
    let saved = c.logs("bad");
    assert!(saved.contains("before-the-break"), "kiln logs bad: {saved}");
    assert!(
        saved.contains("second line before the break"),
        "kiln logs bad: {saved}"
    );
}

#[test]
fn malformed_json_fails_that_image_only() {
    let bad = Reply::lines(&opening_lines(), End::Finish)
        .then_raw(b"{\"stream\": this is not json}\n")
        .then_raw(b"{\"stream\":\"after the garbage\\n\"}\n");
    let c = Case::new(bad, vec![]);
    let (out, ev) = c.build(&["--timeout", "10s"]);
    assert_only_bad_ended(&out, &ev, "failed");
    let (phase, error) = failed_error(&ev);
    assert_eq!(phase, "build");
    assert!(
        error.contains("malformed JSON") && !error.contains("lost the build stream"),
        "names the cause: {error}"
    );
    assert_kept_before_the_break(&c, &ev);
}

#[test]
fn a_stream_cut_mid_line_fails_that_image_only() {
    // A clean end of the HTTP body in the middle of a JSON line, no image id.
    let bad = Reply::lines(&opening_lines(), End::Finish)
        .then_raw(b"{\"stream\":\"Step 3/3 : ENV A=")
        .then_pause(Duration::from_millis(100));
    let c = Case::new(bad, vec![]);
    let (out, ev) = c.build(&["--timeout", "10s"]);
    assert_only_bad_ended(&out, &ev, "failed");
    let (phase, error) = failed_error(&ev);
    assert_eq!(phase, "build");
    assert!(error.contains("in the middle of a message"), "{error}");
    assert_kept_before_the_break(&c, &ev);
}

#[test]
fn a_connection_dropped_mid_build_fails_that_image_only() {
    let bad = Reply::lines(&opening_lines(), End::Drop).then_pause(Duration::from_millis(300));
    let c = Case::new(bad, vec![]);
    let (out, ev) = c.build(&["--timeout", "10s"]);
    assert_only_bad_ended(&out, &ev, "failed");
    let (phase, error) = failed_error(&ev);
    assert_eq!(phase, "build");
    assert!(error.contains("lost the build stream"), "{error}");
    assert_kept_before_the_break(&c, &ev);
}

#[test]
fn a_daemon_that_never_answers_is_stalled_then_timed_out() {
    let bad = Reply::lines(&opening_lines(), End::Hang);
    let c = Case::new(bad, vec![]);
    let (out, ev) = c.build(&["--stall-after", "1s", "--timeout", "3s"]);
    assert_only_bad_ended(&out, &ev, "timed_out");
    let stalled = of_type(&ev, "stalled", Some("bad"));
    assert!(!stalled.is_empty(), "{ev:#?}");
    assert_eq!(stalled[0]["phase"], "build");
    let at = |ty: &str| {
        ev.iter()
            .position(|e| e["type"] == ty && e["image"] == "bad")
            .unwrap()
    };
    assert!(at("stalled") < at("timed_out"));
    assert!(of_type(&ev, "failed", Some("bad")).is_empty());
    assert_kept_before_the_break(&c, &ev);
}

#[test]
fn a_daemon_that_never_sends_a_status_line_is_timed_out() {
    // The build request is read, then nothing: not even response headers.
    let c = Case::new(Reply::silent(), vec![]);
    let (out, ev) = c.build(&["--stall-after", "1s", "--timeout", "3s"]);
    assert_only_bad_ended(&out, &ev, "timed_out");
    assert!(!of_type(&ev, "stalled", Some("bad")).is_empty(), "{ev:#?}");
}

#[test]
fn a_push_dropped_half_way_fails_that_push_only() {
    let push_new: Vec<String> = include_str!("fixtures/push_new.jsonl")
        .lines()
        .map(String::from)
        .collect();
    let bad_push = Reply::lines(
        &[
            r#"{"status":"The push refers to repository [127.0.0.1:5999/x]"}"#,
            r#"{"status":"Preparing","progressDetail":{},"id":"0e1d1955bd16"}"#,
            r#"{"status":"Pushing","progressDetail":{"current":512,"total":3216},"progress":"[=======\u003e     ]     512B/3.216kB","id":"0e1d1955bd16"}"#,
        ],
        End::Drop,
    );
    let c = Case::new(
        Reply::lines(&success_lines(), End::Finish),
        vec![
            Route::push("127.0.0.1:5999/good", Reply::lines(&push_new, End::Finish)),
            Route::push("127.0.0.1:5999/x", bad_push),
        ],
    );
    let (out, ev) = c.build(&["--push", "--timeout", "10s"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(of_type(&ev, "built", Some("bad")).len(), 1, "{ev:#?}");
    assert_eq!(of_type(&ev, "built", Some("good")).len(), 1, "{ev:#?}");
    assert_eq!(of_type(&ev, "pushed", Some("good")).len(), 1, "{ev:#?}");
    assert!(of_type(&ev, "failed", Some("good")).is_empty(), "{ev:#?}");
    assert!(of_type(&ev, "pushed", Some("bad")).is_empty(), "{ev:#?}");
    let (phase, error) = failed_error(&ev);
    assert_eq!(phase, "push");
    assert!(error.contains(BAD_TAG), "names the tag: {error}");
    // The progress before the drop was shown.
    let progress = of_type(&ev, "push_progress", Some("bad"));
    assert!(
        progress.iter().any(|p| p["layer"] == "0e1d1955bd16"),
        "{ev:#?}"
    );
    let summary = ev.last().unwrap();
    assert_eq!(summary["failed"], serde_json::json!(["bad"]));
    // The raw push speaks the API version negotiated through /version.
    let seen = c.daemon.requests();
    assert!(
        seen.iter()
            .any(|r| r.starts_with("POST /v1.41/images/127.0.0.1:5999/x/push?tag=latest")),
        "{seen:?}"
    );
}

/// The fake itself: bollard's version negotiation and ping go through it.
#[test]
fn the_fake_daemon_answers_ping_and_version() {
    let c = Case::new(Reply::lines(&success_lines(), End::Finish), vec![]);
    let (out, ev) = c.build(&["good"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(of_type(&ev, "built", Some("good")).len(), 1);
    let seen = c.daemon.requests();
    assert!(seen.iter().any(|r| r.ends_with("/_ping")), "{seen:?}");
    assert!(seen.iter().any(|r| r.contains("/version")), "{seen:?}");
    assert!(seen.iter().any(|r| r.contains("/build?")), "{seen:?}");
}

/// The daemon ends each message with `\r\n`; when a message's `}` and its
/// `\r\n` come in separate reads, bollard's line decoder keeps the `\r`
/// and, at the end of the body, reports "bytes remaining on stream"
/// (issue 21, item 13: a build that succeeded was reported failed).
fn success_split_before_the_last_crlf() -> Reply {
    let lines = success_lines();
    let (last, rest) = lines.split_last().unwrap();
    let mut reply = Reply {
        status: 200,
        steps: Vec::new(),
        end: End::Finish,
    };
    for l in rest {
        reply = reply.then_raw(format!("{l}\r\n").as_bytes());
    }
    reply.then_raw(last.as_bytes()).then_raw(b"\r\n")
}

const SUCCESS_ID: &str = "sha256:3a2f6a75123f30a5d15e3bdd28d897a411e6a92d02ea6772bcfc849dbd6fbce4";

/// `GET /images/{reference}/json` answered with an image whose id is `id`.
fn inspect_route(reference: &str, id: &str) -> Route {
    Route {
        method: "GET",
        needle: format!("/images/{reference}/json"),
        reply: Reply::lines(&[format!("{{\"Id\":\"{id}\"}}")], End::Finish),
    }
}

#[test]
fn a_lone_cr_after_the_image_id_is_a_clean_end_once_the_image_is_confirmed() {
    let c = Case::new(
        success_split_before_the_last_crlf(),
        vec![
            inspect_route(SUCCESS_ID, SUCCESS_ID),
            inspect_route(BAD_TAG, SUCCESS_ID),
        ],
    );
    let (out, ev) = c.build(&["bad", "--timeout", "10s"]);
    assert!(out.status.success(), "{}\n{ev:#?}", stderr(&out));
    let built = of_type(&ev, "built", Some("bad"));
    assert_eq!(built.len(), 1, "{ev:#?}");
    assert!(of_type(&ev, "failed", Some("bad")).is_empty(), "{ev:#?}");
    // It was confirmed on the daemon, not taken on trust, and said so.
    let notices = of_type(&ev, "notice", Some("bad"));
    assert!(
        notices.iter().any(|n| n["message"]
            .as_str()
            .unwrap()
            .contains("confirmed on the daemon")),
        "{ev:#?}"
    );
    let seen = c.daemon.requests();
    assert!(
        seen.iter()
            .any(|r| r.starts_with("GET") && r.contains("/images/127.0.0.1:5999/x:latest/json")),
        "{seen:?}"
    );
}

#[test]
fn a_lone_cr_after_the_image_id_fails_when_the_tag_names_another_image() {
    let other = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    let c = Case::new(
        success_split_before_the_last_crlf(),
        vec![
            inspect_route(SUCCESS_ID, SUCCESS_ID),
            inspect_route(BAD_TAG, other),
        ],
    );
    let (out, ev) = c.build(&["--timeout", "10s"]);
    assert_only_bad_ended(&out, &ev, "failed");
    let (_, error) = failed_error(&ev);
    assert!(
        error.contains("in the middle of a message") && error.contains(BAD_TAG),
        "{error}"
    );
}
