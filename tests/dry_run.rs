//! `kiln build --dry-run`: what a real build would do with each image and
//! why, with nothing built, pushed or recorded. Real daemon, real binary,
//! a real local registry.
#![allow(clippy::unwrap_used, clippy::string_slice)]

mod common;

use common::registry::Registry;
use common::*;

/// base ← app (FROM base), and other on its own. base copies base.txt, so
/// changing it gives base a new image id (and app a new base).
fn stack(s: &Stack) {
    s.busybox_context("base", "COPY base.txt /base.txt\n");
    s.write("base/base.txt", "v1");
    s.child_context("app", "base", "COPY app.txt /app.txt\n");
    s.write("app/app.txt", "v1");
    s.busybox_context("other", "RUN echo other\n");
    s.config(
        r#"
images:
  - {name: base, tags: ["{prefix}/base:latest"]}
  - {name: app, tags: ["{prefix}/app:latest"]}
  - {name: other, tags: ["{prefix}/other:latest"]}
"#,
    );
}

/// `kiln build --dry-run ARGS --json`: its events, after checking it
/// exited 0.
fn dry_json(s: &Stack, args: &[&str]) -> Vec<serde_json::Value> {
    let mut all = vec!["build", "--dry-run", "--json"];
    all.extend_from_slice(args);
    let out = s.kiln(&all);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stderr(&out),
        stdout(&out)
    );
    events(&out)
}

/// What the dry run said of `image`: `would_build:CAUSE:REASON`,
/// `skipped:REASON`, `would_fail:ERROR` (exactly one of them).
fn verdict(ev: &[serde_json::Value], image: &str) -> String {
    let said: Vec<String> = ev
        .iter()
        .filter(|e| e["image"] == image)
        .filter_map(|e| match e["type"].as_str().unwrap() {
            "would_build" => Some(format!(
                "would_build:{}:{}",
                e["cause"].as_str().unwrap(),
                e["reason"].as_str().unwrap()
            )),
            "skipped" => Some(format!("skipped:{}", e["reason"].as_str().unwrap())),
            "would_fail" => Some(format!("would_fail:{}", e["error"].as_str().unwrap())),
            _ => None,
        })
        .collect();
    assert_eq!(said.len(), 1, "one verdict for {image}: {said:?}");
    said[0].clone()
}

fn summary(ev: &[serde_json::Value]) -> &serde_json::Value {
    let s = of_type(ev, "summary", None);
    assert_eq!(s.len(), 1, "one summary");
    assert_eq!(
        ev.last().unwrap()["type"],
        "summary",
        "the summary comes last"
    );
    s[0]
}

fn names(v: &serde_json::Value) -> Vec<&str> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect()
}

/// Every image's id now (None: not on the daemon).
fn ids(s: &Stack) -> Vec<Option<String>> {
    ["base", "app", "other"]
        .iter()
        .map(|n| inspect(&s.tag(n)).map(|i| i["Id"].as_str().unwrap().to_string()))
        .collect()
}

/// How many runs history holds of each image (`kiln history --json`).
fn run_counts(s: &Stack) -> Vec<usize> {
    ["base", "app", "other"]
        .iter()
        .map(|n| {
            let out = s.kiln(&["history", n, "--json"]);
            assert!(out.status.success(), "{}", stderr(&out));
            stdout(&out).lines().count()
        })
        .collect()
}

#[test]
fn a_fresh_stack_would_build_everything_and_nothing_is_built_or_recorded() {
    require_docker!();
    let s = Stack::new();
    stack(&s);
    let ev = dry_json(&s, &[]);
    assert_eq!(ev[0]["type"], "plan");
    assert_eq!(names(&ev[0]["images"]), ["base", "app", "other"]);
    for image in ["base", "app", "other"] {
        assert_eq!(
            verdict(&ev, image),
            "would_build:first_build:no earlier successful build recorded"
        );
    }
    let sum = summary(&ev);
    assert_eq!(sum["dry_run"], true);
    assert_eq!(names(&sum["would_build"]), ["base", "app", "other"]);
    assert!(names(&sum["succeeded"]).is_empty() && names(&sum["skipped"]).is_empty());
    // Nothing built, and no history written (not even created).
    assert!(s.images().is_empty(), "built: {:?}", s.images());
    let history = s.home.path().join("data/kiln/history.sqlite");
    assert!(!history.exists(), "a dry run made {}", history.display());
    // Plain: one line per image in build order, then the summary.
    let out = s.kiln(&["build", "--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    assert!(
        lines[0].starts_with("kiln  | dry run of 3 images:"),
        "{text}"
    );
    assert_eq!(
        lines[1],
        "base  | would build: no earlier successful build recorded"
    );
    assert!(lines[2].starts_with("app   | would build"), "{text}");
    assert!(lines[3].starts_with("other | would build"), "{text}");
    assert!(
        lines[4].starts_with("kiln  | 3 would build (base, app, other), 0 unchanged (dry run in "),
        "{text}"
    );
    // (Where a real run keeps its history: the check above looked there.)
    let built = s.kiln(&["build", "other"]);
    assert!(built.status.success(), "{}", stderr(&built));
    assert!(history.exists(), "no history at {}", history.display());
}

#[test]
fn after_a_build_all_is_unchanged_and_a_change_says_what_the_real_run_then_says() {
    require_docker!();
    let s = Stack::new();
    stack(&s);
    let first = s.kiln(&["build", "--json"]);
    assert!(first.status.success(), "{}", stderr(&first));

    let ev = dry_json(&s, &[]);
    for image in ["base", "app", "other"] {
        assert_eq!(verdict(&ev, image), "skipped:unchanged", "{image}");
    }
    let sum = summary(&ev);
    assert!(names(&sum["would_build"]).is_empty());
    assert_eq!(names(&sum["unchanged"]), ["base", "app", "other"]);
    assert_eq!(names(&sum["skipped"]), ["base", "app", "other"]);
    let out = s.kiln(&["build", "--dry-run", "--plain"]);
    let text = stdout(&out);
    assert!(text.contains("\nbase  | skip: unchanged\n"), "{text}");
    assert!(
        text.contains("kiln  | 0 would build, 3 unchanged (dry run in "),
        "{text}"
    );

    // A change in base's context: base would build, saying why, and app
    // because base would be rebuilt first; other stays unchanged.
    s.write("base/base.txt", "v2");
    let (ids_before, runs_before) = (ids(&s), run_counts(&s));
    let ev = dry_json(&s, &[]);
    let base = verdict(&ev, "base");
    assert_eq!(
        base,
        "would_build:inputs_changed:files in the build context changed: base.txt (modified)"
    );
    assert_eq!(
        verdict(&ev, "app"),
        "would_build:base_rebuilt:its base 'base' would be rebuilt first"
    );
    assert_eq!(verdict(&ev, "other"), "skipped:unchanged");
    assert_eq!(names(&summary(&ev)["would_build"]), ["base", "app"]);
    // Nothing was built or recorded.
    assert_eq!(ids(&s), ids_before, "a dry run changed an image");
    assert_eq!(run_counts(&s), runs_before, "a dry run recorded a run");

    // The real run gives the very reason, and builds what the dry run said.
    let real = s.kiln(&["build", "--json"]);
    assert!(real.status.success(), "{}", stderr(&real));
    let rev = events(&real);
    let reason = base.splitn(3, ':').nth(2).unwrap();
    let notices: Vec<&str> = of_type(&rev, "notice", Some("base"))
        .iter()
        .filter_map(|n| n["message"].as_str())
        .collect();
    assert!(
        notices.contains(&format!("rebuilding: {reason}").as_str()),
        "{notices:?}"
    );
    for image in ["base", "app"] {
        assert_eq!(of_type(&rev, "built", Some(image)).len(), 1, "{image}");
    }
    assert_eq!(of_type(&rev, "skipped", Some("other")).len(), 1);
}

#[test]
fn images_named_narrow_the_dry_run_as_they_narrow_a_build() {
    require_docker!();
    let s = Stack::new();
    stack(&s);
    let ev = dry_json(&s, &["app"]);
    assert_eq!(names(&ev[0]["images"]), ["base", "app"]);
    let about: std::collections::BTreeSet<&str> =
        ev.iter().filter_map(|e| e["image"].as_str()).collect();
    assert_eq!(about, ["app", "base"].into_iter().collect());
    assert_eq!(names(&summary(&ev)["would_build"]), ["base", "app"]);
    // --force: the real run's forced reason.
    let ev = dry_json(&s, &["other", "--force"]);
    assert_eq!(
        verdict(&ev, "other"),
        "would_build:forced:forced (--force, --no-cache, no_cache or the dashboard's F)"
    );
    // An unknown image is a usage error, as for a build.
    let out = s.kiln(&["build", "--dry-run", "nope"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("unknown image 'nope'"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty());
}

#[test]
fn a_missing_prebuilt_image_would_fail_and_its_dependents_would_be_skipped() {
    require_docker!();
    let s = Stack::new();
    let ghost = format!("{}/ghost:1", s.prefix);
    s.write("user/Dockerfile", &format!("FROM {ghost}\nRUN true\n"));
    s.config(&format!(
        "images:\n  - {{name: ghost, image: \"{ghost}\"}}\n  - {{name: user, tags: [\"{}/user:latest\"], depends_on: [ghost]}}\n",
        s.prefix
    ));
    let ev = dry_json(&s, &[]);
    assert_eq!(
        verdict(&ev, "ghost"),
        format!("would_fail:prebuilt image {ghost} is not present on the daemon; pull or load it first (docker pull {ghost}), or set `pull: true`")
    );
    assert_eq!(verdict(&ev, "user"), "skipped:dependency_failed");
    let sum = summary(&ev);
    assert_eq!(names(&sum["would_fail"]), ["ghost"]);
    assert_eq!(names(&sum["skipped"]), ["user"]);
}

#[test]
fn push_says_what_would_be_pushed_and_the_registry_gets_nothing() {
    require_docker!();
    let reg = Registry::start();
    let s = Stack::new();
    s.busybox_context("img", "RUN echo pushed\n");
    let remote = format!("{}/kiln/{}-img:1", reg.host, s.prefix);
    let local = s.tag("img");
    let _cleanup = RemoveImages(vec![remote.clone()]);
    s.config(&format!(
        "images:\n  - name: img\n    tags: [\"{remote}\", \"{local}\"]\n    push_tags: [\"{remote}\"]\n"
    ));
    let built = s.kiln(&["build", "--json"]);
    assert!(built.status.success(), "{}", stderr(&built));
    let ev = dry_json(&s, &["--push"]);
    assert_eq!(verdict(&ev, "img"), "skipped:unchanged");
    let said: Vec<&str> = of_type(&ev, "notice", Some("img"))
        .iter()
        .filter_map(|n| n["message"].as_str())
        .collect();
    assert_eq!(said, [format!("would push {remote}").as_str()]);
    let name = format!("kiln/{}-img", s.prefix);
    assert_eq!(reg.manifest_digest(&name, "1"), None, "a dry run pushed");
    // Without --push, nothing is said about pushing.
    let ev = dry_json(&s, &[]);
    assert!(of_type(&ev, "notice", Some("img")).is_empty());
}

#[test]
fn an_unreachable_daemon_exits_3_and_a_bad_config_2() {
    let s = Stack::new();
    stack(&s);
    let out = s
        .kiln_cmd(&["build", "--dry-run"])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    s.config("images:\n  - {name: base, tags: 7}\n");
    let out = s.kiln(&["build", "--dry-run"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn a_moved_tag_is_only_said_to_be_put_back() {
    require_docker!();
    let s = Stack::new();
    stack(&s);
    let first = s.kiln(&["build", "--json", "base", "other"]);
    assert!(first.status.success(), "{}", stderr(&first));
    // Another tool points base's tag at other's image.
    let other_id = inspect(&s.tag("other")).unwrap()["Id"].clone();
    let moved = docker(&["tag", &s.tag("other"), &s.tag("base")]);
    assert!(moved.status.success());
    let ev = dry_json(&s, &["base"]);
    assert_eq!(verdict(&ev, "base"), "skipped:unchanged");
    let said: Vec<&str> = of_type(&ev, "notice", Some("base"))
        .iter()
        .filter_map(|n| n["message"].as_str())
        .collect();
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(
        said[0].ends_with("still exists: would retag it instead of rebuilding"),
        "{said:?}"
    );
    // The tag still points where the other tool put it.
    assert_eq!(inspect(&s.tag("base")).unwrap()["Id"], other_id);
    // A real run puts it back, as the dry run said.
    let real = s.kiln(&["build", "--json", "base"]);
    let rev = events(&real);
    assert_eq!(of_type(&rev, "skipped", Some("base")).len(), 1);
    assert_ne!(inspect(&s.tag("base")).unwrap()["Id"], other_id);
}

#[test]
fn a_git_context_would_build_and_a_prebuilt_image_that_pulls_says_so() {
    require_docker!();
    let s = Stack::new();
    s.busybox_context("base", "RUN echo base\n");
    let built = {
        s.config("images:\n  - {name: base, tags: [\"{prefix}/base:latest\"]}\n");
        s.kiln(&["build", "--json"])
    };
    assert!(built.status.success(), "{}", stderr(&built));
    let base = s.tag("base");
    s.config(&format!(
        "images:\n  - {{name: remote, tags: [\"{{prefix}}/remote:latest\"], context: \"https://example.invalid/kiln/remote.git\"}}\n  - {{name: pre, image: \"{base}\"}}\n  - {{name: pulled, image: \"{base}\", pull: true}}\n"
    ));
    let ev = dry_json(&s, &[]);
    assert_eq!(
        verdict(&ev, "remote"),
        "would_build:git_context:a git context is built whatever changed (the daemon fetches it; its cache decides)"
    );
    assert_eq!(verdict(&ev, "pre"), "skipped:prebuilt");
    assert!(of_type(&ev, "notice", Some("pre")).is_empty());
    assert_eq!(verdict(&ev, "pulled"), "skipped:prebuilt");
    let said: Vec<&str> = of_type(&ev, "notice", Some("pulled"))
        .iter()
        .filter_map(|n| n["message"].as_str())
        .collect();
    assert_eq!(
        said,
        [format!("would pull {base} first (pull: true or --pull)").as_str()]
    );
}
