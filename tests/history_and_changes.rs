//! Change detection, build history and saved logs against the real daemon.
#![allow(clippy::unwrap_used, clippy::string_slice)]

mod common;

use std::os::unix::fs::PermissionsExt;

use common::*;

fn three_image_stack(s: &Stack) {
    s.busybox_context("base", "RUN echo base\n");
    s.child_context("mid", "base", "COPY mid.txt /mid.txt\nRUN cat /mid.txt\n");
    s.write("mid/mid.txt", "v1");
    s.child_context("top", "mid", "RUN echo top-of-stack\n");
    s.busybox_context("other", "RUN echo unrelated\n");
    s.config(
        r#"
images:
  - {name: base, tags: ["{prefix}/base:latest"]}
  - {name: mid, tags: ["{prefix}/mid:latest"]}
  - {name: top, tags: ["{prefix}/top:latest"]}
  - {name: other, tags: ["{prefix}/other:latest"]}
"#,
    );
}

fn result_of(ev: &[serde_json::Value], image: &str) -> String {
    if !of_type(ev, "built", Some(image)).is_empty() {
        return "built".into();
    }
    let skipped = of_type(ev, "skipped", Some(image));
    match skipped.first() {
        Some(s) => format!("skipped:{}", s["reason"].as_str().unwrap()),
        None => "none".into(),
    }
}

#[test]
fn unchanged_images_are_skipped_and_a_change_rebuilds_only_its_dependents() {
    require_docker!();
    let s = Stack::new();
    three_image_stack(&s);
    let first = s.kiln(&["build", "--json"]);
    assert!(first.status.success(), "{}", stderr(&first));

    let second = s.kiln(&["build", "--json"]);
    assert!(second.status.success(), "{}", stderr(&second));
    let ev = events(&second);
    for image in ["base", "mid", "top", "other"] {
        assert_eq!(result_of(&ev, image), "skipped:unchanged", "{image}");
        assert!(
            of_type(&ev, "started", Some(image)).is_empty(),
            "{image} was sent to the daemon"
        );
    }
    assert_eq!(second.status.code(), Some(0));

    // Touching a file without changing it is not a change.
    let mid = s.path("mid/mid.txt");
    let f = std::fs::File::options().write(true).open(&mid).unwrap();
    f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
        .unwrap();
    drop(f);
    let ev = events(&s.kiln(&["build", "--json"]));
    assert_eq!(result_of(&ev, "mid"), "skipped:unchanged");

    // Changing mid's context rebuilds mid and top (whose parent id changes) only.
    s.write("mid/mid.txt", "v2");
    let third = s.kiln(&["build", "--json"]);
    assert!(third.status.success(), "{}", stderr(&third));
    let ev = events(&third);
    assert_eq!(result_of(&ev, "base"), "skipped:unchanged");
    assert_eq!(result_of(&ev, "mid"), "built");
    assert_eq!(result_of(&ev, "top"), "built");
    assert_eq!(result_of(&ev, "other"), "skipped:unchanged");
    let why: Vec<&str> = of_type(&ev, "notice", None)
        .iter()
        .filter_map(|n| n["message"].as_str())
        .collect();
    assert!(
        why.contains(&"rebuilding: files in the build context changed: mid.txt (modified)"),
        "{why:?}"
    );
    assert!(
        why.iter()
            .any(|w| w.starts_with("rebuilding: base image") && w.ends_with("mid:latest changed")),
        "{why:?}"
    );

    // --force rebuilds everything; what it built from (worked out while
    // the daemon built) is recorded, so the next build has nothing to do.
    let ev = events(&s.kiln(&["build", "--json", "--force"]));
    for image in ["base", "mid", "top", "other"] {
        assert_eq!(result_of(&ev, image), "built", "{image}");
    }
    let ev = events(&s.kiln(&["build", "--json"]));
    for image in ["base", "mid", "top", "other"] {
        assert_eq!(result_of(&ev, image), "skipped:unchanged", "{image}");
    }

    // A removed image is rebuilt even though its inputs are the same.
    docker(&["rmi", "-f", &s.tag("other")]);
    let ev = events(&s.kiln(&["build", "--json", "other"]));
    assert_eq!(result_of(&ev, "other"), "built");
}

#[test]
fn logs_are_saved_privately_and_listed() {
    require_docker!();
    let s = Stack::new();
    s.busybox_context(
        "one",
        "RUN printf 'first-run-line\\n\\033]0;evil title\\007visible\\033[2J\\n'\n",
    );
    s.config("images:\n  - {name: one, tags: [\"{prefix}/one:latest\"]}\n");
    let out = s.kiln(&["build", "--plain", "--no-cache"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stdout(&out).contains('\u{1b}'), "escape reached stdout");

    let data = s.home.path().join("data/kiln");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("history.sqlite")), 0o600);

    let logs = s.kiln(&["logs", "one"]);
    assert!(logs.status.success(), "{}", stderr(&logs));
    let text = stdout(&logs);
    assert!(text.contains("first-run-line"), "{text}");
    assert!(text.lines().any(|l| l == "visible"), "{text}");
    assert!(!text.contains('\u{1b}'), "escape in the saved log");

    // The log file itself is private.
    let log_files: Vec<_> = walk(&data.join("logs"));
    assert_eq!(log_files.len(), 1);
    assert_eq!(mode(&log_files[0]), 0o600);
    assert_eq!(mode(log_files[0].parent().unwrap()), 0o700);

    let ls = stdout(&s.kiln(&["ls"]));
    let row = ls
        .lines()
        .find(|l| l.starts_with("one "))
        .expect("a row for one");
    assert!(row.contains("built"), "{ls}");

    let missing = s.kiln(&["logs", "one", "--run", "5"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        stderr(&missing).contains("has 1 recorded run"),
        "{}",
        stderr(&missing)
    );
    // It has been built: no advice to build it, the runs there are.
    assert!(
        !stderr(&missing).contains("kiln build") && stderr(&missing).contains("--run 1"),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn an_unusable_history_does_not_stop_the_build() {
    require_docker!();
    let s = Stack::new();
    s.busybox_context("one", "RUN echo still-builds\n");
    s.config("images:\n  - {name: one, tags: [\"{prefix}/one:latest\"]}\n");
    let data = s.home.path().join("data/kiln");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(
        data.join("history.sqlite"),
        "this is not a database, just garbage bytes",
    )
    .unwrap();
    let out = s.kiln(&["build", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let ev = events(&out);
    let notice = of_type(&ev, "notice", None);
    assert!(
        notice.iter().any(|n| n["message"]
            .as_str()
            .unwrap()
            .starts_with("build history and logs are off:")),
        "{notice:?}"
    );
    assert_eq!(of_type(&ev, "built", Some("one")).len(), 1);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn build_arg_values_stay_out_of_history_and_logs() {
    require_docker!();
    let s = Stack::new();
    let secret = format!("{}-Sup3rSecretToken", s.prefix);
    s.busybox_context(
        "one",
        "ARG TOKEN\nRUN test -n \"$TOKEN\" && echo token-present\n",
    );
    s.busybox_context("bad", "ARG TOKEN\nRUN test \"$TOKEN\" = something-else\n");
    s.config(&format!(
        "defaults: {{args: {{TOKEN: {secret}}}}}\nimages:\n  - {{name: one, tags: [\"{{prefix}}/one:latest\"]}}\n  - {{name: bad, tags: [\"{{prefix}}/bad:latest\"]}}\n"
    ));
    let out = s.kiln(&["build", "--json", "--no-cache"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("token-present"));
    // The failed RUN's error and its step name show $TOKEN, not the value.
    let ev = events(&out);
    let error = of_type(&ev, "failed", Some("bad"))[0]["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(error.contains("$TOKEN"), "{error}");
    assert!(!text.contains(&secret), "secret on stdout");
    // Changing the secret still triggers a rebuild (its hash is compared)...
    let again = s.kiln(&[
        "build",
        "--json",
        "one",
        "--set",
        &format!("one.args.TOKEN={secret}-2"),
    ]);
    let ev = events(&again);
    assert!(of_type(&ev, "notice", Some("one"))
        .iter()
        .any(|n| n["message"] == "rebuilding: build args changed"));
    // ...but neither value is written anywhere kiln keeps files.
    let found = grep_dir(s.home.path(), &secret);
    assert!(found.is_empty(), "secret found in {found:?}");
}

fn grep_dir(dir: &std::path::Path, needle: &str) -> Vec<std::path::PathBuf> {
    if !dir.exists() {
        return Vec::new();
    }
    walk(dir)
        .into_iter()
        .filter(|p| {
            std::fs::read(p)
                .map(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
                .unwrap_or(false)
        })
        .collect()
}

/// The paths in image `tag`'s file system, one per line, from a created
/// container's export (not `docker run`: the docker CLI cannot attach to a
/// container through Podman 4.3's compatible API, "unable to upgrade to tcp").
fn image_files(tag: &str) -> String {
    let created = docker(&["create", tag, "/bin/true"]);
    assert!(created.status.success(), "{}", stderr(&created));
    let id = stdout(&created).trim().to_string();
    let export = std::process::Command::new("sh")
        .args(["-c", "docker export \"$1\" | tar -t", "sh", &id])
        .output()
        .unwrap();
    docker(&["rm", &id]);
    assert!(export.status.success(), "{}", stderr(&export));
    stdout(&export)
}

/// kiln's data and cache directories (history, logs, hash cache) inside a
/// context that copies everything: never sent, hashed or counted, under
/// either builder, and said once.
#[test]
fn kilns_own_directories_inside_a_context_are_left_out() {
    require_docker!();
    for builder in ["buildkit", "legacy"] {
        let s = Stack::new();
        s.busybox_context("app", "COPY . /x/\n");
        s.write("app/src/a", "a\n");
        s.config("images:\n  - {name: app, tags: [\"{prefix}/app:latest\"]}\n");
        let home = s.path("app/home");
        let run = || {
            let mut cmd = s.kiln_cmd(&["build", "--json", "--builder", builder]);
            cmd.env("XDG_DATA_HOME", home.join(".local/share"))
                .env("XDG_CACHE_HOME", home.join(".cache"));
            let out = cmd.output().unwrap();
            assert!(out.status.success(), "{builder}: {}", stderr(&out));
            events(&out)
        };
        let first = run();
        assert_eq!(of_type(&first, "built", Some("app")).len(), 1, "{first:#?}");
        let warned: Vec<&str> = of_type(&first, "notice", Some("app"))
            .iter()
            .filter_map(|n| n["message"].as_str())
            .filter(|m| {
                m.contains("kiln's own data or cache directory is inside the build context")
            })
            .collect();
        assert_eq!(warned.len(), 1, "{builder}: {first:#?}");
        assert!(home.join(".local/share/kiln/history.sqlite").exists());
        let second = run();
        let skipped = of_type(&second, "skipped", Some("app"));
        assert_eq!(
            skipped.len(),
            1,
            "{builder}: kiln's own writes changed nothing: {second:#?}"
        );
        assert_eq!(skipped[0]["reason"], "unchanged");

        let files = image_files(&s.tag("app"));
        assert!(files.contains("x/src/a"), "{builder}: {files}");
        assert!(files.contains("x/home"), "{builder}: {files}");
        assert!(
            !files.contains("kiln"),
            "{builder}: kiln's files in the image: {files}"
        );
        assert!(!files.contains("history"), "{builder}: {files}");
    }
}
