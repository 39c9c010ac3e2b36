//! Headless builds against the real daemon with the legacy builder: event
//! order, tags, failures and their dependents, .dockerignore, cancellation.
//! (The legacy builder's build containers show in `docker ps`, which is what
//! the cancellation test watches.)
#![allow(clippy::unwrap_used, clippy::string_slice)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

fn two_image_stack(s: &Stack) {
    s.busybox_context("base", "RUN echo base-ready > /etc/base\n");
    s.child_context(
        "app",
        "base",
        "ARG GREETING=hi\nRUN echo \"greeting=$GREETING\" && cat /etc/base\nRUN echo second-step\n",
    );
    s.config(
        r#"
images:
  - name: base
    tags: ["{prefix}/base:latest"]
  - name: app
    tags: ["{prefix}/app:latest", "{prefix}/app:v1", "{prefix}/app-alias:latest"]
    args: {GREETING: hello-from-kiln}
    labels: {org.kiln.test: "yes"}
"#,
    );
}

#[test]
fn a_stack_builds_in_dependency_order_and_streams_events() {
    require_docker!();
    skip_on_podman!(
        "Docker's classic builder: Podman builds with buildah (tests/engines.rs builds on Podman)"
    );
    let s = Stack::new();
    two_image_stack(&s);
    let out = s.kiln(&["build", "--json", "--builder", "legacy", "--no-cache"]);
    assert!(
        out.status.success(),
        "kiln failed: {}\n{}",
        stderr(&out),
        stdout(&out)
    );
    let ev = events(&out);

    // The plan comes first and names the inferred order.
    assert_eq!(ev[0]["type"], "plan");
    assert_eq!(ev[0]["images"], serde_json::json!(["base", "app"]));
    assert_eq!(ev[0]["waves"], serde_json::json!([["base"], ["app"]]));
    for e in &ev {
        assert!(
            e["time"].as_str().is_some_and(|t| t.contains('T')),
            "no RFC 3339 time: {e}"
        );
    }

    // app starts only after base is built; steps stream between started and built.
    let base_built = position(&ev, "built", "base");
    let app_started = position(&ev, "started", "app");
    assert!(
        base_built < app_started,
        "app started before base was built"
    );
    assert_eq!(ev[app_started]["builder"], "legacy");
    let app_steps = of_type(&ev, "step", Some("app"));
    // The legacy builder adds the label as a last step.
    assert_eq!(
        app_steps.len(),
        5,
        "FROM, ARG, RUN, RUN, LABEL: {app_steps:?}"
    );
    assert_eq!(app_steps[0]["index"], 1);
    assert_eq!(app_steps[0]["total"], 5);
    assert!(app_steps[2]["name"]
        .as_str()
        .unwrap()
        .starts_with("RUN echo"));

    // Build args reach the build, and log lines name their step.
    let logs = of_type(&ev, "log", Some("app"));
    let greeting = logs
        .iter()
        .find(|e| e["line"] == "greeting=hello-from-kiln")
        .expect("build arg echoed in the log");
    assert!(greeting["step"]
        .as_str()
        .unwrap()
        .starts_with("RUN echo \"greeting"));

    // The image id carries every tag and the label.
    let built = of_type(&ev, "built", Some("app"))[0];
    let id = built["image_id"].as_str().unwrap();
    assert!(id.starts_with("sha256:"));
    assert_eq!(built["steps"], 5);
    for tag in [
        s.tag("app"),
        format!("{}/app:v1", s.prefix),
        s.tag("app-alias"),
    ] {
        let info = inspect(&tag).unwrap_or_else(|| panic!("tag {tag} missing"));
        assert_eq!(info["Id"], id, "{tag} points elsewhere");
        assert_eq!(info["Config"]["Labels"]["org.kiln.test"], "yes");
    }

    let summary = ev.last().unwrap();
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["succeeded"], serde_json::json!(["base", "app"]));

    // A second run with a changed label: base is unchanged (not rebuilt),
    // app rebuilds and hits the daemon's cache on every step before LABEL.
    let again = s.kiln(&[
        "build",
        "--json",
        "--builder",
        "legacy",
        "app",
        "--set",
        "app.labels.org.kiln.run=2",
    ]);
    assert!(again.status.success(), "{}", stderr(&again));
    let ev = events(&again);
    assert_eq!(
        of_type(&ev, "skipped", Some("base"))[0]["reason"],
        "unchanged"
    );
    let steps = of_type(&ev, "step", Some("app"));
    assert!(steps[1..4].iter().all(|s| s["cached"] == true), "{steps:?}");
    assert_eq!(steps[4]["cached"], false);
    assert_eq!(of_type(&ev, "built", Some("app"))[0]["cached_steps"], 3);
}

#[test]
fn a_failing_build_skips_its_dependents_and_others_go_on() {
    require_docker!();
    skip_on_podman!(
        "Docker's classic builder: Podman builds with buildah (tests/engines.rs builds on Podman)"
    );
    let s = Stack::new();
    s.busybox_context("base", "");
    s.child_context("broken", "base", "RUN echo about-to-fail && exit 3\n");
    s.child_context("child", "broken", "RUN echo never\n");
    s.busybox_context("solo", "RUN echo solo-ok\n");
    s.config(
        r#"
defaults: {jobs: 2}
images:
  - name: base
    tags: ["{prefix}/base:latest"]
  - name: broken
    tags: ["{prefix}/broken:latest"]
  - name: child
    tags: ["{prefix}/child:latest"]
  - name: solo
    tags: ["{prefix}/solo:latest"]
"#,
    );
    let out = s.kiln(&["build", "--json", "--builder", "legacy"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let ev = events(&out);
    let failed = of_type(&ev, "failed", Some("broken"));
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["phase"], "build");
    let error = failed[0]["error"].as_str().unwrap();
    assert!(error.contains("returned a non-zero code: 3"), "{error}");
    let tail = failed[0]["log_tail"].as_array().unwrap();
    assert!(tail.iter().any(|l| l == "about-to-fail"), "{tail:?}");

    let skipped = of_type(&ev, "skipped", Some("child"));
    assert_eq!(skipped[0]["reason"], "dependency_failed");
    assert!(of_type(&ev, "started", Some("child")).is_empty());
    assert_eq!(of_type(&ev, "built", Some("solo")).len(), 1);

    let summary = ev.last().unwrap();
    assert_eq!(summary["failed"], serde_json::json!(["broken"]));
    assert_eq!(summary["skipped"], serde_json::json!(["child"]));

    // Plain output says the same in `name | text` lines.
    let plain = s.kiln(&["build", "--plain", "--builder", "legacy", "broken"]);
    assert_eq!(plain.status.code(), Some(1));
    let text = stdout(&plain);
    assert!(
        text.lines()
            .any(|l| l.starts_with("broken | FAILED (build):")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("kiln   | ") && l.contains("1 failed (broken)")),
        "{text}"
    );
}

#[test]
fn dockerignore_rules_decide_what_reaches_the_daemon() {
    require_docker!();
    let s = Stack::new();
    s.busybox_context(
        "ctx",
        "COPY . /ctx\nRUN cd /ctx && find . -type f | sort | sed 's/^/file:/'\n",
    );
    for f in [
        "keep.txt",
        "notes.md",
        "README.md",
        "logs/a.log",
        "deep/er/b.log",
        "deep/er/c.txt",
        "secret/key.pem",
        "secret/keep.txt",
        "build/out.bin",
        "sub/build/nested.bin",
    ] {
        s.write(&format!("ctx/{f}"), f);
    }
    s.write(
        "ctx/.dockerignore",
        "# comment\n**/*.log\n*.md\n!README.md\nsecret\n!secret/keep.txt\n/build\n",
    );
    s.config("images:\n  - name: ctx\n    tags: [\"{prefix}/ctx:latest\"]\n");
    let out = s.kiln(&["build", "--json", "--builder", "legacy", "--no-cache"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let ev = events(&out);
    let mut files: Vec<String> = of_type(&ev, "log", Some("ctx"))
        .iter()
        .filter_map(|e| {
            e["line"]
                .as_str()?
                .strip_prefix("file:./")
                .map(String::from)
        })
        .collect();
    files.sort();
    assert_eq!(
        files,
        vec![
            ".dockerignore",
            "Dockerfile",
            "README.md",
            "busybox",
            "deep/er/c.txt",
            "keep.txt",
            "secret/keep.txt",
            "sub/build/nested.bin",
        ]
    );
}

#[test]
fn ctrl_c_cancels_the_build_on_the_daemon() {
    require_docker!();
    skip_on_podman!(
        "Docker's classic builder: Podman builds with buildah (tests/engines.rs builds on Podman)"
    );
    let s = Stack::new();
    let marker = format!("{}-sleeper", s.prefix);
    s.busybox_context("slow", &format!("RUN echo {marker} && sleep 120\n"));
    s.config("images:\n  - name: slow\n    tags: [\"{prefix}/slow:latest\"]\n");
    let mut child = s
        .kiln_cmd(&["build", "--json", "--builder", "legacy", "--no-cache"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // Wait until the sleeping step is running (its echo has been logged).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let line = lines.next().expect("kiln ended early").unwrap();
        if line.contains(&format!("\"line\":\"{marker}\"")) {
            break;
        }
        assert!(Instant::now() < deadline, "the build never started");
    }
    let running = || {
        let out = docker(&["ps", "--no-trunc", "--format", "{{.Command}}"]);
        stdout(&out).contains(&marker)
    };
    // `docker ps` can lag the log line under load: give it a moment.
    assert!(
        eventually(Duration::from_secs(10), running),
        "the build container should be running"
    );
    send_signal(child.id(), libc::SIGINT);
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(
        rest.iter().any(|l| l.contains("\"type\":\"cancelled\"")),
        "{rest:?}"
    );
    assert!(
        eventually(Duration::from_secs(20), || !running()),
        "the build container is still running after cancel"
    );
}

#[test]
fn an_unreachable_daemon_exits_3_quickly_naming_the_endpoint() {
    let s = Stack::new();
    s.write("x/Dockerfile", "FROM scratch\n");
    s.config("images:\n  - name: x\n");
    for (host, expect) in [
        ("unix:///nonexistent/docker.sock", "no such socket"),
        ("tcp://127.0.0.1:1", "connection refused"),
    ] {
        let start = Instant::now();
        let out = s
            .kiln_cmd(&["build"])
            .env("DOCKER_HOST", host)
            .output()
            .unwrap();
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "took {:?}",
            start.elapsed()
        );
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(
            err.contains(host) && err.contains("from DOCKER_HOST") && err.contains(expect),
            "{err}"
        );
    }
}
