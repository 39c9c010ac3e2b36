//! The same small stack built on each engine `scripts/engines` starts
//! beside the system's Docker: Docker Engine 26 and Podman (buildah). On
//! each, kiln must report the same steps (named as the legacy builder
//! names them: buildah's are named alike), the same cache hits, and each
//! log line under the step that printed it; a rebuild after one file
//! changed is the same on each; `kiln check` names the engine.
//!
//! Docker builds with `--builder legacy` here, the builder whose steps
//! buildah's match (BuildKit names steps `[2/4] RUN …`; its own tests are
//! `build_buildkit.rs`). Under KILN_REQUIRE_DOCKER=1 (CI) an engine that
//! does not answer fails the test: `scripts/setup` starts them all.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Command, Output};

use common::*;

/// The engines of the test matrix: (name, DOCKER_HOST).
const ENGINES: [(&str, &str); 3] = [
    ("Docker Engine", "unix:///var/run/docker.sock"),
    ("Docker Engine", "unix:///run/kiln-docker26/docker.sock"),
    ("Podman", "unix:///run/kiln-podman/podman.sock"),
];

fn answers(host: &str) -> bool {
    Command::new("docker")
        .args(["-H", host, "version", "--format", "{{.Server.Version}}"])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn kiln_on(s: &Stack, host: &str, args: &[&str]) -> Output {
    s.kiln_cmd(args)
        .env("DOCKER_HOST", host)
        .env_remove("DOCKER_CONTEXT")
        .output()
        .unwrap()
}

/// The stack: a base unique to this run (its first line), and an app on it
/// whose RUN prints to stdout and stderr before a COPY of the file the
/// second build changes.
fn stack(s: &Stack) {
    std::fs::create_dir_all(s.path("base")).unwrap();
    std::fs::copy(BUSYBOX, s.path("base/busybox")).unwrap();
    s.write(
        "base/Dockerfile",
        &format!(
            "FROM scratch\nENV RUN_ID={}\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\nENV PATH=/bin\n",
            s.prefix
        ),
    );
    s.child_context(
        "app",
        "base",
        "RUN echo out-line && echo err-line >&2\nCOPY a.txt /a.txt\nRUN cat /a.txt\n",
    );
    s.write("app/a.txt", "one\n");
    s.config(
        "images:\n  - name: base\n    tags: [\"{prefix}/base:latest\"]\n  - name: app\n    tags: [\"{prefix}/app:latest\"]\n",
    );
}

/// What must be equal on every engine: per image, each finished step
/// (name, cached), each log line with its step (sorted: a RUN's stdout
/// and stderr are two streams, whose lines the daemon may pass on in
/// either order), and the `built` counts; the images skipped.
#[derive(Debug, PartialEq)]
struct Seen {
    steps: Vec<(String, String, bool)>,
    logs: Vec<(String, String, String)>,
    built: Vec<(String, u64, u64)>,
    skipped: Vec<(String, String)>,
}

fn seen(out: &Output) -> Seen {
    assert!(out.status.success(), "{}\n{}", stderr(out), stdout(out));
    let ev = events(out);
    let field = |e: &serde_json::Value, k: &str| e[k].as_str().unwrap_or("").to_string();
    let of = |ty: &'static str| ev.iter().filter(move |e| e["type"] == ty);
    Seen {
        steps: of("step_done")
            .map(|e| (field(e, "image"), field(e, "name"), e["cached"] == true))
            .collect(),
        logs: {
            let mut logs: Vec<_> = of("log")
                .map(|e| (field(e, "image"), field(e, "step"), field(e, "line")))
                .collect();
            logs.sort();
            logs
        },
        built: of("built")
            .map(|e| {
                let n = |k: &str| e[k].as_u64().unwrap();
                (field(e, "image"), n("steps"), n("cached_steps"))
            })
            .collect(),
        skipped: of("skipped")
            .map(|e| (field(e, "image"), field(e, "reason")))
            .collect(),
    }
}

fn step(image: &str, name: &str, cached: bool) -> (String, String, bool) {
    (image.into(), name.into(), cached)
}

fn log(image: &str, step: &str, line: &str) -> (String, String, String) {
    (image.into(), step.into(), line.into())
}

/// Build, change a.txt, build again: what each build showed, with the
/// stack's own prefix in step names put back as `{prefix}`.
fn build_twice(host: &str) -> (String, Seen, Seen) {
    let s = Stack::new();
    stack(&s);
    let check = kiln_on(&s, host, &["check"]);
    let engine = stdout(&check)
        .lines()
        .find_map(|l| l.strip_prefix("engine: "))
        .unwrap_or_default()
        .to_string();
    let build = || {
        let mut seen = seen(&kiln_on(
            &s,
            host,
            &["build", "--json", "--builder", "legacy"],
        ));
        for st in &mut seen.steps {
            st.1 = st.1.replace(&s.prefix, "{prefix}");
        }
        seen
    };
    let first = build();
    s.write("app/a.txt", "two\n");
    let second = build();
    let tags = [s.tag("base"), s.tag("app")];
    let _ = Command::new("docker")
        .args(["-H", host, "rmi", "-f"])
        .args(&tags)
        .output();
    (engine, first, second)
}

#[test]
fn the_same_stack_builds_alike_on_every_engine() {
    require_docker!();
    let mut results = Vec::new();
    for (product, host) in ENGINES {
        if !answers(host) {
            cannot_run(&format!(
                "{product} at {host} does not answer (run scripts/setup, which runs scripts/engines)"
            ));
            continue;
        }
        let (engine, first, second) = build_twice(host);
        assert!(
            engine.starts_with(product) && engine.contains(host),
            "kiln check on {host} said: {engine}"
        );
        results.push((host, engine, first, second));
    }
    for (host, engine, first, second) in &results {
        let ctx = format!("{engine} ({host})");
        // The app's steps, all run the first time.
        let run_echo = "RUN echo out-line && echo err-line >&2";
        assert_eq!(
            first.steps,
            vec![
                step("base", "FROM scratch", false),
                step("base", "ENV RUN_ID={prefix}", false),
                step("base", "COPY busybox /bin/busybox", false),
                step(
                    "base",
                    r#"RUN ["/bin/busybox", "--install", "-s", "/bin"]"#,
                    false
                ),
                step("base", "ENV PATH=/bin", false),
                step("app", "FROM {prefix}/base:latest", false),
                step("app", run_echo, false),
                step("app", "COPY a.txt /a.txt", false),
                step("app", "RUN cat /a.txt", false),
            ],
            "{ctx}"
        );
        assert_eq!(
            first.logs,
            vec![
                log("app", "RUN cat /a.txt", "one"),
                log("app", run_echo, "err-line"),
                log("app", run_echo, "out-line"),
            ],
            "{ctx}"
        );
        // The base's 5 steps, none cached (its ENV line is new), then
        // the app's 4.
        assert_eq!(
            first.built,
            vec![("base".into(), 5, 0), ("app".into(), 4, 0)],
            "{ctx}"
        );
        // After a.txt changed: the base is unchanged, the app's RUN before
        // the COPY is a cache hit, the rest runs again.
        assert_eq!(
            second.skipped,
            vec![("base".into(), "unchanged".into())],
            "{ctx}"
        );
        assert_eq!(
            second.steps,
            vec![
                step("app", "FROM {prefix}/base:latest", false),
                step("app", run_echo, true),
                step("app", "COPY a.txt /a.txt", false),
                step("app", "RUN cat /a.txt", false),
            ],
            "{ctx}"
        );
        assert_eq!(
            second.logs,
            vec![log("app", "RUN cat /a.txt", "two")],
            "{ctx}"
        );
        assert_eq!(second.built, vec![("app".into(), 4, 1)], "{ctx}");
    }
    // And so, equal everywhere.
    for pair in results.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        assert_eq!((&a.2, &a.3), (&b.2, &b.3), "{} vs {}", a.1, b.1);
    }
}

/// On Podman a build with a secret fails before anything is sent, saying
/// it needs BuildKit's session, which Podman has not (no fallback to a
/// build that would leave the secret out); the secret is not printed.
#[test]
fn on_podman_a_build_with_secrets_fails_saying_why() {
    require_docker!();
    let host = ENGINES[2].1;
    if !answers(host) {
        cannot_run(&format!(
            "Podman at {host} does not answer (run scripts/setup)"
        ));
        return;
    }
    let s = Stack::new();
    s.busybox_context(
        "app",
        "RUN --mount=type=secret,id=tok cat /run/secrets/tok\n",
    );
    s.write("tok.txt", "podman-secret-value\n");
    s.config(
        "images:\n  - name: app\n    tags: ['{prefix}/app:latest']\n    secrets:\n      - {id: tok, src: ./tok.txt}\n",
    );
    let out = kiln_on(&s, host, &["build", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let ev = events(&out);
    let failed: Vec<_> = ev.iter().filter(|e| e["type"] == "failed").collect();
    assert_eq!(failed.len(), 1, "{ev:?}");
    let error = failed[0]["error"].as_str().unwrap();
    assert!(
        error.contains("need BuildKit's session, which Podman does not offer"),
        "{error}"
    );
    assert!(ev.iter().all(|e| e["type"] != "started"), "{ev:?}");
    assert!(!stdout(&out).contains("podman-secret-value"));
}
