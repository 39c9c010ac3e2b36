//! BuildKit builds against the real daemon: the same events as the legacy
//! builder, multi-stage targets, cache mounts, and failures naming the step.
#![allow(clippy::unwrap_used, clippy::string_slice)]

mod common;

use common::*;

fn stack(s: &Stack) {
    s.busybox_context("base", "RUN echo base-ready > /etc/base\n");
    s.write(
        "app/Dockerfile",
        &format!(
            "FROM {} AS build\n\
             ARG GREETING=hi\n\
             RUN --mount=type=cache,target=/cache echo \"greeting=$GREETING\" | tee /cache/g && cat /etc/base\n\
             RUN echo built > /artifact\n\
             FROM {} AS runtime\n\
             COPY --from=build /artifact /artifact\n\
             RUN echo runtime-stage\n\
             FROM runtime AS debug\n\
             RUN echo debug-stage-should-not-run\n",
            s.tag("base"),
            s.tag("base")
        ),
    );
    s.config(
        r#"
images:
  - name: base
    tags: ["{prefix}/base:latest"]
  - name: app
    tags: ["{prefix}/app:latest", "{prefix}/app:v2"]
    args: {GREETING: hello-buildkit}
    target: runtime
"#,
    );
}

#[test]
fn buildkit_builds_stream_the_same_events_as_legacy() {
    require_docker!();
    skip_on_podman!("BuildKit: Podman builds with buildah, which has no BuildKit session (tests/engines.rs builds on Podman)");
    let s = Stack::new();
    stack(&s);
    // `auto` picks BuildKit on a daemon that supports it (Engine 20.10 does).
    let out = s.kiln(&["build", "--json", "--builder", "auto", "--no-cache"]);
    assert!(out.status.success(), "{}\n{}", stderr(&out), stdout(&out));
    let ev = events(&out);
    assert_eq!(
        of_type(&ev, "started", Some("app"))[0]["builder"],
        "buildkit"
    );
    assert!(position(&ev, "built", "base") < position(&ev, "started", "app"));

    let steps = of_type(&ev, "step", Some("app"));
    assert!(steps
        .iter()
        .all(|s| s["index"].is_null() && s["total"].is_null()));
    let names: Vec<&str> = steps.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert!(
        names.iter().any(|n| n.contains("RUN echo runtime-stage")),
        "{names:?}"
    );
    // The target stops at `runtime`: the debug stage never runs.
    assert!(
        !names.iter().any(|n| n.contains("debug-stage")),
        "{names:?}"
    );
    assert!(!of_type(&ev, "log", Some("app"))
        .iter()
        .any(|l| l["line"] == "debug-stage-should-not-run"));

    // Logs are attributed to the step that printed them.
    let greeting = of_type(&ev, "log", Some("app"))
        .into_iter()
        .find(|l| l["line"] == "greeting=hello-buildkit")
        .expect("the build arg reaches a RUN with a cache mount");
    assert!(greeting["step"]
        .as_str()
        .unwrap()
        .contains("RUN --mount=type=cache"));
    assert!(!of_type(&ev, "step_done", Some("app")).is_empty());

    let built = of_type(&ev, "built", Some("app"))[0];
    let id = built["image_id"].as_str().unwrap();
    for tag in [s.tag("app"), format!("{}/app:v2", s.prefix)] {
        assert_eq!(inspect(&tag).expect("tag exists")["Id"], id);
    }

    // Second run: every Dockerfile step after FROM is a cache hit.
    let again = s.kiln(&["build", "--json", "--builder", "buildkit", "--force", "app"]);
    assert!(again.status.success(), "{}", stderr(&again));
    let ev = events(&again);
    let built = of_type(&ev, "built", Some("app"))[0];
    assert!(built["cached_steps"].as_u64().unwrap() >= 3, "{built}");
}

#[test]
fn a_buildkit_failure_names_the_step_and_the_error() {
    require_docker!();
    skip_on_podman!("BuildKit: Podman builds with buildah, which has no BuildKit session (tests/engines.rs builds on Podman)");
    let s = Stack::new();
    s.busybox_context("bad", "RUN echo before-failure && exit 7\n");
    s.config("images:\n  - name: bad\n    tags: [\"{prefix}/bad:latest\"]\n");
    let out = s.kiln(&["build", "--json", "--builder", "buildkit"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let ev = events(&out);
    let failed = of_type(&ev, "failed", Some("bad"));
    let error = failed[0]["error"].as_str().unwrap();
    assert!(
        error.contains("exit 7") || error.contains("exit code: 7"),
        "{error}"
    );
    let tail: Vec<&str> = failed[0]["log_tail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(tail.contains(&"before-failure"), "{tail:?}");
}

/// `one` and `two` start together (both wait for `base`) and begin with
/// the same FROM and RUN, which BuildKit then does once for both.
fn sharing_stack(s: &Stack) {
    s.busybox_context("base", "");
    let shared = format!(
        "RUN echo \"shared {}\"; for i in 1 2 3 4; do echo \"shared line $i\"; sleep 0.5; done\n",
        s.prefix
    );
    s.child_context("one", "base", &format!("{shared}RUN echo only-one\n"));
    s.write(
        "two/Dockerfile",
        &format!(
            "FROM {base} AS builder\n{shared}RUN echo builder-two\n\
             FROM {base}\nCOPY --from=builder /bin/busybox /bb\nRUN echo only-two\n",
            base = s.tag("base")
        ),
    );
    s.config(
        r#"
defaults: {jobs: 2, builder: buildkit}
images:
  - {name: base, tags: ["{prefix}/base:latest"]}
  - {name: one, tags: ["{prefix}/one:latest"]}
  - {name: two, tags: ["{prefix}/two:latest"]}
"#,
    );
}

/// The labels (`[builder 2/3]`) of an image's Dockerfile steps, in order.
fn labels(ev: &[serde_json::Value], image: &str) -> Vec<String> {
    let mut labels: Vec<String> = of_type(ev, "step", Some(image))
        .iter()
        .filter_map(|s| s["name"].as_str())
        .filter(|n| !kiln::protocol::is_internal_step(n))
        .map(|n| n[..=n.find(']').unwrap()].to_string())
        .collect();
    labels.sort();
    labels
}

fn built_counts(ev: &[serde_json::Value], image: &str) -> (u64, u64) {
    let built = of_type(ev, "built", Some(image))[0];
    (
        built["steps"].as_u64().unwrap(),
        built["cached_steps"].as_u64().unwrap(),
    )
}

#[test]
fn concurrent_builds_sharing_work_each_show_their_own_steps() {
    require_docker!();
    skip_on_podman!("BuildKit: Podman builds with buildah, which has no BuildKit session (tests/engines.rs builds on Podman)");
    let s = Stack::new();
    sharing_stack(&s);
    for round in ["first", "second"] {
        let out = s.kiln(&["build", "--json", "--no-cache"]);
        assert!(out.status.success(), "{round}: {}", stderr(&out));
        let ev = events(&out);
        assert_eq!(labels(&ev, "one"), ["[1/3]", "[2/3]", "[3/3]"], "{round}");
        assert_eq!(
            labels(&ev, "two"),
            [
                "[builder 1/3]",
                "[builder 2/3]",
                "[builder 3/3]",
                "[stage-1 1/3]",
                "[stage-1 2/3]",
                "[stage-1 3/3]"
            ],
            "{round}"
        );
        // Under --no-cache nothing is cached, not even the FROM of a base
        // BuildKit has used before (the second round).
        assert_eq!(built_counts(&ev, "one"), (3, 0), "{round}");
        assert_eq!(built_counts(&ev, "two"), (6, 0), "{round}");
        // The shared RUN's output is under each image's own name for it.
        for (image, label) in [("one", "[2/3] RUN"), ("two", "[builder 2/3] RUN")] {
            let line = of_type(&ev, "log", Some(image))
                .into_iter()
                .find(|l| l["line"] == "shared line 4")
                .unwrap_or_else(|| panic!("{round}: {image} shows the shared RUN's output"));
            assert!(
                line["step"].as_str().unwrap().starts_with(label),
                "{round}: {line}"
            );
        }
    }
}

#[test]
fn images_with_identical_contexts_both_show_every_step() {
    require_docker!();
    skip_on_podman!("BuildKit: Podman builds with buildah, which has no BuildKit session (tests/engines.rs builds on Podman)");
    let s = Stack::new();
    s.busybox_context("base", "");
    for twin in ["left", "right"] {
        s.child_context(
            twin,
            "base",
            &format!(
                "COPY file /file\nRUN echo \"twin {}\"; sleep 2\nRUN cat /file\n",
                s.prefix
            ),
        );
        s.write(&format!("{twin}/file"), "same bytes\n");
    }
    s.config(
        r#"
defaults: {jobs: 2, builder: buildkit}
images:
  - {name: base, tags: ["{prefix}/base:latest"]}
  - {name: left, tags: ["{prefix}/left:latest"]}
  - {name: right, tags: ["{prefix}/right:latest"]}
"#,
    );
    let out = s.kiln(&["build", "--json", "--no-cache"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let ev = events(&out);
    for twin in ["left", "right"] {
        assert_eq!(
            labels(&ev, twin),
            ["[1/4]", "[2/4]", "[3/4]", "[4/4]"],
            "{twin}"
        );
        assert_eq!(built_counts(&ev, twin), (4, 0), "{twin}");
    }
}
