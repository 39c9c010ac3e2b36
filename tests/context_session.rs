//! BuildKit builds read their context through kiln's own session (the
//! FileSync service), as `DOCKER_BUILDKIT=1 docker build` does: the same
//! files as a tar build, metadata intact, only changed files sent again, a
//! Dockerfile in a subdirectory or outside the context, and a fallback to
//! the tar upload when the daemon cannot open the session. Real daemon,
//! except for the fallback (a scripted fake daemon).
#![allow(clippy::unwrap_used, clippy::string_slice)]

mod common;

use std::collections::BTreeSet;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use common::fake_daemon::{End, FakeDaemon, Reply, Route};
use common::*;
use serde_json::Value;

/// `docker run --rm IMAGE ARGS`, stdout as bytes.
fn run_in(image: &str, args: &[&str]) -> Vec<u8> {
    let mut all = vec!["run", "--rm", image];
    all.extend_from_slice(args);
    // Every command run here prints something; under load, a container
    // that exits at once has been seen to succeed with its output lost on
    // the way to the CLI (Docker 26, the CLI attached after it ended): ask
    // again then.
    let mut out = docker(&all);
    for _ in 0..2 {
        if !(out.status.success() && out.stdout.is_empty()) {
            break;
        }
        out = docker(&all);
    }
    assert!(
        out.status.success(),
        "docker run {image} {args:?}: {}",
        stderr(&out)
    );
    out.stdout
}

/// Every regular file of the image's filesystem, sorted.
fn files_of(image: &str) -> BTreeSet<String> {
    String::from_utf8_lossy(&run_in(image, &["find", "/", "-xdev", "-type", "f"]))
        .lines()
        .map(String::from)
        .collect()
}

fn notices(ev: &[Value], image: &str) -> Vec<String> {
    of_type(ev, "notice", Some(image))
        .iter()
        .map(|n| n["message"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Step names and log lines of one image, to look for the daemon's words.
fn steps_and_logs(ev: &[Value], image: &str) -> String {
    let mut text = String::new();
    for e in of_type(ev, "step", Some(image)) {
        text.push_str(e["name"].as_str().unwrap_or_default());
        text.push('\n');
    }
    for e in of_type(ev, "log", Some(image)) {
        text.push_str(e["line"].as_str().unwrap_or_default());
        text.push('\n');
    }
    text
}

fn build_ok(s: &Stack, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["build", "--json"];
    all.extend_from_slice(args);
    let out = s.kiln(&all);
    assert!(out.status.success(), "{}\n{}", stderr(&out), stdout(&out));
    events(&out)
}

#[test]
fn dockerignore_rules_give_the_same_files_as_a_tar_build() {
    require_docker!();
    skip_on_podman!("kiln's BuildKit session: Podman builds with buildah, from a tar (tests/engines.rs builds on Podman)");
    let s = Stack::new();
    s.busybox_context("base", "");
    s.child_context("ctx", "base", "COPY . /ctx/\n");
    s.write(
        "ctx/.dockerignore",
        ".*\n!.keep\nsub/.*\n!sub/.config\nDockerfile\n**/*.tmp\nsecret\n",
    );
    for (rel, content) in [
        (".hidden", "h"),
        (".keep", "k"),
        (".git/HEAD", "ref"),
        ("a.txt", "a"),
        ("b.tmp", "b"),
        ("sub/.config", "c"),
        ("sub/.env", "e"),
        ("sub/c.tmp", "c"),
        ("sub/d.txt", "d"),
        ("secret/x", "x"),
    ] {
        s.write(&format!("ctx/{rel}"), content);
    }
    s.config(
        r#"
images:
  - {name: base, tags: ["{prefix}/base:latest"]}
  - {name: legacy, context: ./ctx, builder: legacy, tags: ["{prefix}/legacy:latest"]}
  - {name: kit, context: ./ctx, builder: buildkit, tags: ["{prefix}/kit:latest"]}
"#,
    );
    let ev = build_ok(&s, &[]);
    assert_eq!(
        of_type(&ev, "started", Some("kit"))[0]["builder"],
        "buildkit"
    );

    let legacy = files_of(&s.tag("legacy"));
    let kit = files_of(&s.tag("kit"));
    assert_eq!(legacy, kit, "the builders disagree on the files");
    let copied: BTreeSet<&str> = kit.iter().filter_map(|f| f.strip_prefix("/ctx/")).collect();
    // Docker's rule: .dockerignore excludes the Dockerfile and itself too.
    assert_eq!(
        copied,
        BTreeSet::from([".keep", "a.txt", "sub/.config", "sub/d.txt"]),
        "{kit:?}"
    );
}

#[test]
fn symlinks_modes_empty_dirs_hard_links_and_odd_names_survive() {
    require_docker!();
    skip_on_podman!("kiln's BuildKit session: Podman builds with buildah, from a tar (tests/engines.rs builds on Podman)");
    let s = Stack::new();
    s.busybox_context("base", "");
    s.child_context("ctx", "base", "COPY . /ctx/\n");
    let ctx = s.path("ctx");
    s.write("ctx/target.txt", "target\n");
    std::os::unix::fs::symlink("target.txt", ctx.join("link")).unwrap();
    std::os::unix::fs::symlink("/nowhere/at/all", ctx.join("dangling")).unwrap();
    s.write("ctx/script.sh", "#!/bin/sh\n");
    std::fs::set_permissions(
        ctx.join("script.sh"),
        std::fs::Permissions::from_mode(0o751),
    )
    .unwrap();
    s.write("ctx/locked/inner.txt", "inner\n");
    std::fs::set_permissions(ctx.join("locked"), std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::create_dir_all(ctx.join("empty/deeper")).unwrap();
    s.write("ctx/hard1", "same inode\n");
    std::fs::hard_link(ctx.join("hard1"), ctx.join("hard2")).unwrap();
    let odd = std::ffi::OsStr::from_bytes(b"caf\xe9.txt");
    std::fs::write(ctx.join(odd), "latin-1 name\n").unwrap();
    let old = std::time::UNIX_EPOCH + Duration::from_secs(981_173_106); // 2001-02-03
    std::fs::File::options()
        .write(true)
        .open(ctx.join("target.txt"))
        .unwrap()
        .set_modified(old)
        .unwrap();
    s.config(
        "images:\n  - {name: base, tags: [\"{prefix}/base:latest\"]}\n  - {name: ctx, builder: buildkit, tags: [\"{prefix}/ctx:latest\"]}\n",
    );
    build_ok(&s, &["--no-cache"]);

    let image = s.tag("ctx");
    let stat = |path: &str| -> String {
        let out = run_in(&image, &["stat", "-c", "%a %F %h %Y", path]);
        String::from_utf8_lossy(&out).trim().to_string()
    };
    assert_eq!(stat("/ctx/script.sh").split(' ').next(), Some("751"));
    assert!(stat("/ctx/locked").starts_with("700 directory"));
    assert!(stat("/ctx/empty/deeper").contains("directory"));
    assert!(stat("/ctx/link").contains("symbolic link"));
    assert!(stat("/ctx/dangling").contains("symbolic link"));
    assert_eq!(
        String::from_utf8_lossy(&run_in(
            &image,
            &["sh", "-c", "readlink /ctx/link; readlink /ctx/dangling"]
        )),
        "target.txt\n/nowhere/at/all\n"
    );
    // Links are never followed, and the file keeps its mtime.
    assert!(
        stat("/ctx/target.txt").ends_with(" 981173106"),
        "{}",
        stat("/ctx/target.txt")
    );
    assert!(
        stat("/ctx/hard1").contains("regular file 2 "),
        "{}",
        stat("/ctx/hard1")
    );
    let inodes = run_in(&image, &["stat", "-c", "%i", "/ctx/hard1", "/ctx/hard2"]);
    let inodes: Vec<&[u8]> = inodes.split(|b| *b == b'\n').take(2).collect();
    assert_eq!(inodes[0], inodes[1], "hard links are one file");
    // The name that is not UTF-8 arrives byte for byte.
    let listing = run_in(
        &image,
        &["sh", "-c", "for f in /ctx/*; do echo \"$f\"; done"],
    );
    assert!(
        listing
            .split(|b| *b == b'\n')
            .any(|n| n == b"/ctx/caf\xe9.txt"),
        "{}",
        String::from_utf8_lossy(&listing)
    );
    assert_eq!(
        run_in(&image, &["sh", "-c", "cat /ctx/caf*.txt"]),
        b"latin-1 name\n"
    );
}

#[test]
fn only_changed_files_cross_and_the_change_is_seen() {
    require_docker!();
    skip_on_podman!("kiln's BuildKit session: Podman builds with buildah, from a tar (tests/engines.rs builds on Podman)");
    let s = Stack::new();
    s.busybox_context("base", "");
    s.child_context("app", "base", "COPY data /data\nRUN cat /data/app.txt\n");
    let first = format!("{}-first", s.prefix);
    s.write("app/data/app.txt", &format!("{first}\n"));
    for i in 0..3 {
        std::fs::write(
            s.path(&format!("app/data/big{i}.bin")),
            vec![i as u8; 1 << 20],
        )
        .unwrap();
    }
    s.write("app/unused.txt", "not used by the Dockerfile\n");
    s.config(
        "images:\n  - {name: base, tags: [\"{prefix}/base:latest\"]}\n  - {name: app, builder: buildkit, tags: [\"{prefix}/app:latest\"]}\n",
    );
    let ev = build_ok(&s, &[]);
    let text = steps_and_logs(&ev, "app");
    assert!(text.contains("[internal] load build context"), "{text}");
    assert!(!text.contains("load remote build context"), "{text}");
    assert!(text.contains(&first), "{text}");
    // Only what COPY uses is offered; a new directory is sent whole.
    assert!(
        notices(&ev, "app")
            .iter()
            .any(|n| n.starts_with("build context: the daemon asked for 4 of 4 files")),
        "{:?}",
        notices(&ev, "app")
    );

    // Same size, new content: the daemon sees the new mtime and asks again.
    let second = format!("{}-secnd", s.prefix);
    s.write("app/data/app.txt", &format!("{second}\n"));
    let ev = build_ok(&s, &["app"]);
    assert!(
        notices(&ev, "app")
            .iter()
            .any(|n| n.starts_with("build context: the daemon asked for 1 of 4 files (")),
        "{:?}",
        notices(&ev, "app")
    );
    assert!(steps_and_logs(&ev, "app").contains(&second));
    assert_eq!(
        run_in(&s.tag("app"), &["cat", "/data/app.txt"]),
        format!("{second}\n").as_bytes()
    );
}

#[test]
fn copy_from_a_stage_and_a_dockerfile_in_a_subdirectory() {
    require_docker!();
    skip_on_podman!("kiln's BuildKit session: Podman builds with buildah, from a tar (tests/engines.rs builds on Podman)");
    let s = Stack::new();
    s.busybox_context("base", "");
    let msg = format!("{}-staged", s.prefix);
    s.write("app/src/msg", &format!("{msg}\n"));
    s.write(
        "app/docker/app.Dockerfile",
        &format!(
            "FROM {base} AS build\nCOPY src/ /src/\nRUN cat /src/msg > /out\nFROM {base}\nCOPY --from=build /out /out\nRUN cat /out\n",
            base = s.tag("base")
        ),
    );
    s.config(
        "images:\n  - {name: base, tags: [\"{prefix}/base:latest\"]}\n  - {name: app, builder: buildkit, dockerfile: docker/app.Dockerfile, tags: [\"{prefix}/app:latest\"]}\n",
    );
    let ev = build_ok(&s, &["--no-cache"]);
    assert!(steps_and_logs(&ev, "app").contains(&msg));
    assert_eq!(
        run_in(&s.tag("app"), &["cat", "/out"]),
        format!("{msg}\n").as_bytes()
    );
}

#[test]
fn a_dockerfile_outside_the_context_builds_under_both_builders() {
    require_docker!();
    skip_on_podman!("kiln's BuildKit session: Podman builds with buildah, from a tar (tests/engines.rs builds on Podman)");
    let s = Stack::new();
    s.busybox_context("base", "");
    let body = format!("FROM {}\nCOPY . /ctx/\nRUN ls -A /ctx\n", s.tag("base"));
    s.write("shared/Dockerfile", &body);
    s.write("shared/web.Dockerfile", &body);
    s.write("given/a.txt", "a\n");
    s.write("linked/b.txt", "b\n");
    s.write("linked/.dockerignore", "ignored.txt\n");
    s.write("linked/ignored.txt", "i\n");
    // A Dockerfile that is a symlink out of its context.
    std::os::unix::fs::symlink("../shared/web.Dockerfile", s.path("linked/Dockerfile")).unwrap();
    let mut yaml = String::from("images:\n  - {name: base, tags: [\"{prefix}/base:latest\"]}\n");
    for builder in ["legacy", "buildkit"] {
        yaml.push_str(&format!(
            "  - {{name: given-{builder}, context: ./given, dockerfile: ../shared/Dockerfile, builder: {builder}, tags: [\"{{prefix}}/given-{builder}:latest\"]}}\n  - {{name: linked-{builder}, context: ./linked, builder: {builder}, tags: [\"{{prefix}}/linked-{builder}:latest\"]}}\n"
        ));
    }
    s.config(&yaml);
    let check = s.kiln(&["check"]);
    assert!(
        check.status.success(),
        "{}\n{}",
        stderr(&check),
        stdout(&check)
    );
    build_ok(&s, &[]);

    let listing = |image: &str| -> BTreeSet<String> {
        files_of(&s.tag(image))
            .into_iter()
            .filter_map(|f| f.strip_prefix("/ctx/").map(String::from))
            .collect()
    };
    for builder in ["legacy", "buildkit"] {
        // The context only: no generated Dockerfile left behind.
        assert_eq!(
            listing(&format!("given-{builder}")),
            BTreeSet::from(["a.txt".to_string()]),
            "{builder}"
        );
        assert_eq!(
            listing(&format!("linked-{builder}")),
            BTreeSet::from([".dockerignore".to_string(), "b.txt".to_string()]),
            "{builder}"
        );
    }
    // The link itself is part of the context, as with the docker CLI.
    assert!(Path::new(&s.path("linked/Dockerfile")).is_symlink());
}

#[test]
fn an_inline_dockerfile_stays_out_of_the_image_under_both_builders() {
    require_docker!();
    skip_on_podman!("kiln's BuildKit session: Podman builds with buildah, from a tar (tests/engines.rs builds on Podman)");
    let s = Stack::new();
    s.busybox_context("base", "");
    s.write("ctx/a.txt", "a\n");
    // A compose file (services, no kiln.yaml keys) with dockerfile_inline.
    let mut yaml =
        String::from("services:\n  base:\n    build: ./base\n    image: {prefix}/base:latest\n");
    for builder in ["legacy", "buildkit"] {
        yaml.push_str(&format!(
            "  inline-{builder}:\n    build:\n      context: ./ctx\n      dockerfile_inline: |\n        FROM {{prefix}}/base:latest\n        COPY . /ctx/\n    image: {{prefix}}/inline-{builder}:latest\n    x-kiln: {{builder: {builder}}}\n"
        ));
    }
    s.config(&yaml);
    build_ok(&s, &[]);
    for builder in ["legacy", "buildkit"] {
        let files: BTreeSet<String> = files_of(&format!("{}/inline-{builder}:latest", s.prefix))
            .into_iter()
            .filter_map(|f| f.strip_prefix("/ctx/").map(String::from))
            .collect();
        assert_eq!(files, BTreeSet::from(["a.txt".to_string()]), "{builder}");
    }
}

#[test]
fn a_daemon_that_refuses_the_session_gets_a_tar_and_kiln_says_so_once() {
    let stack = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let tag = "127.0.0.1:5999/fallback:latest";
    std::fs::create_dir_all(stack.path().join("app")).unwrap();
    std::fs::write(stack.path().join("app/Dockerfile"), "FROM scratch\n").unwrap();
    std::fs::write(
        stack.path().join("kiln.yaml"),
        format!("images:\n  - {{name: app, tags: [\"{tag}\"]}}\n"),
    )
    .unwrap();
    // No /session route: the fake daemon answers it with 404.
    let fail = r#"{"errorDetail":{"message":"scripted failure"},"error":"scripted failure"}"#;
    let daemon = FakeDaemon::start(vec![Route::build(tag, Reply::lines(&[fail], End::Finish))]);
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_kiln"));
    cmd.arg("-f").arg(stack.path().join("kiln.yaml")).args([
        "build",
        "--json",
        "--builder",
        "buildkit",
    ]);
    isolate(&mut cmd, home.path());
    cmd.env("DOCKER_HOST", daemon.host())
        .env("DOCKER_CONFIG", home.path().join("docker"))
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_TLS_VERIFY");
    let out = common::fake_daemon::run_bounded(cmd, Duration::from_secs(30));
    let ev = events(&out);
    let said: Vec<String> = notices(&ev, "app")
        .into_iter()
        .filter(|n| n.contains("sending the whole context as a tar"))
        .collect();
    assert_eq!(said.len(), 1, "{ev:#?}");
    assert!(said[0].contains("HTTP 404"), "{}", said[0]);
    let requests = daemon.requests();
    let builds: Vec<&String> = requests.iter().filter(|r| r.contains("/build?")).collect();
    assert_eq!(builds.len(), 1, "{requests:?}");
    assert!(
        !builds[0].contains("remote=client-session"),
        "{}",
        builds[0]
    );
    assert!(requests
        .iter()
        .any(|r| r.starts_with("POST") && r.contains("/session")));
    assert_eq!(
        of_type(&ev, "failed", Some("app"))[0]["error"],
        "scripted failure"
    );
}

/// Sets a file's mtime (to give a new content the old one's).
fn set_mtime(path: &Path, secs: u64) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(std::time::UNIX_EPOCH + Duration::from_secs(secs))
        .unwrap();
}

/// Issue 21, item 3: the daemon's copy matched the file's size and mtime,
/// so it asked for nothing and the image kept the old content.
#[test]
fn a_new_content_with_the_same_size_and_mtime_reaches_the_daemon() {
    require_docker!();
    let s = Stack::new();
    s.busybox_context("base", "");
    s.child_context("app", "base", "COPY f /f\n");
    s.config(
        "images:\n  - {name: base, tags: [\"{prefix}/base:latest\"]}\n  - {name: app, builder: buildkit, tags: [\"{prefix}/app:latest\"]}\n",
    );
    let f = s.path("app/f");
    s.write("app/f", "AAAA\n");
    set_mtime(&f, 1_704_067_200);
    build_ok(&s, &[]);
    assert_eq!(run_in(&s.tag("app"), &["cat", "/f"]), b"AAAA\n");

    s.write("app/f", "BBBB\n");
    set_mtime(&f, 1_704_067_200);
    let ev = build_ok(&s, &["app"]);
    assert_eq!(of_type(&ev, "built", Some("app")).len(), 1, "{ev:#?}");
    assert_eq!(run_in(&s.tag("app"), &["cat", "/f"]), b"BBBB\n");
    // The mtime is the file's own, untouched.
    assert_eq!(
        run_in(&s.tag("app"), &["stat", "-c", "%Y", "/f"]),
        b"1704067200\n"
    );

    // And the next build, with nothing changed, asks for nothing again.
    let ev = build_ok(&s, &["app", "--force"]);
    assert!(
        notices(&ev, "app")
            .iter()
            .any(|n| n.starts_with("build context: the daemon asked for 0 of 1 files")),
        "{:?}",
        notices(&ev, "app")
    );
    assert_eq!(run_in(&s.tag("app"), &["cat", "/f"]), b"BBBB\n");
}

/// Issue 21, item 4: two contexts whose paths differ only in a byte that
/// is not UTF-8 shared one copy on the daemon (the key was made of the
/// path's lossy spelling).
#[test]
fn contexts_whose_paths_differ_in_a_non_utf8_byte_have_copies_of_their_own() {
    use std::ffi::OsStr;
    require_docker!();
    let s = Stack::new();
    s.busybox_context("base", "");
    let mut yaml = String::from("images:\n  - {name: base, tags: [\"{prefix}/base:latest\"]}\n");
    for (name, byte, content) in [("fe", b"\xfe", "AAAA\n"), ("ff", b"\xff", "BBBB\n")] {
        let odd = s.path("odd").join(OsStr::from_bytes(byte));
        let ctx = odd.join("ctx");
        std::fs::create_dir_all(&ctx).unwrap();
        std::fs::write(
            ctx.join("Dockerfile"),
            format!("FROM {}\nCOPY f /f\n", s.tag("base")),
        )
        .unwrap();
        std::fs::write(ctx.join("f"), content).unwrap();
        set_mtime(&ctx.join("f"), 1_704_067_200);
        set_mtime(&ctx.join("Dockerfile"), 1_704_067_200);
        // kiln.yaml is UTF-8: a link leads to the odd path.
        std::os::unix::fs::symlink(&ctx, s.path(&format!("ctx-{name}"))).unwrap();
        yaml.push_str(&format!(
            "  - {{name: {name}, context: ./ctx-{name}, builder: buildkit, tags: [\"{{prefix}}/{name}:latest\"]}}\n"
        ));
    }
    s.config(&yaml);
    build_ok(&s, &["base"]);
    build_ok(&s, &["fe"]);
    build_ok(&s, &["ff"]);
    assert_eq!(run_in(&s.tag("fe"), &["cat", "/f"]), b"AAAA\n");
    assert_eq!(run_in(&s.tag("ff"), &["cat", "/f"]), b"BBBB\n");
}

/// Issue 21, item 12: with the legacy builder and a Dockerfile outside the
/// context, kiln appends the Dockerfile's generated name to `.dockerignore`;
/// the file kept its content but became 0600 (the docker CLI keeps its
/// header).
#[test]
fn a_dockerignore_keeps_its_mode_when_a_dockerfile_from_outside_is_added() {
    require_docker!();
    let s = Stack::new();
    s.busybox_context("base", "");
    s.write(
        "shared/Dockerfile",
        &format!("FROM {}\nCOPY . /ctx/\n", s.tag("base")),
    );
    s.write("given/a.txt", "a\n");
    s.write("given/.dockerignore", "ignored.txt\n");
    s.write("given/ignored.txt", "i\n");
    std::fs::set_permissions(
        s.path("given/.dockerignore"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    s.config(
        "images:\n  - {name: base, tags: [\"{prefix}/base:latest\"]}\n  - {name: given, context: ./given, dockerfile: ../shared/Dockerfile, builder: legacy, tags: [\"{prefix}/given:latest\"]}\n",
    );
    build_ok(&s, &[]);
    assert_eq!(
        run_in(&s.tag("given"), &["stat", "-c", "%a", "/ctx/.dockerignore"]),
        b"644\n"
    );
    assert_eq!(
        files_of(&s.tag("given"))
            .into_iter()
            .filter(|f| f.starts_with("/ctx/"))
            .collect::<Vec<_>>(),
        ["/ctx/.dockerignore", "/ctx/a.txt"]
    );
}

/// Issue 21, item 5: `Dockerfile.dockerignore` (the Dockerfile's own ignore
/// file) replaces `.dockerignore` for the daemon's BuildKit builds; change
/// detection and the legacy tar followed `.dockerignore`, so an edit of a
/// file only the Dockerfile's own ignore file lets in was `unchanged`.
#[test]
fn the_dockerfiles_own_ignore_file_is_followed_everywhere() {
    require_docker!();
    let s = Stack::new();
    s.busybox_context("base", "");
    let mut yaml = String::from("images:\n  - {name: base, tags: [\"{prefix}/base:latest\"]}\n");
    for builder in ["buildkit", "legacy"] {
        let dir = format!("ctx-{builder}");
        s.write(
            &format!("{dir}/docker/web.Dockerfile"),
            &format!("FROM {}\nCOPY . /x/\n", s.tag("base")),
        );
        s.write(&format!("{dir}/.dockerignore"), "a\n");
        s.write(
            &format!("{dir}/docker/web.Dockerfile.dockerignore"),
            "b/x\n",
        );
        s.write(&format!("{dir}/a/only"), "first\n");
        s.write(&format!("{dir}/b/x"), "x\n");
        s.write(&format!("{dir}/b/y"), "y\n");
        yaml.push_str(&format!(
            "  - {{name: {builder}, context: ./{dir}, dockerfile: docker/web.Dockerfile, builder: {builder}, tags: [\"{{prefix}}/{builder}:latest\"]}}\n"
        ));
    }
    s.config(&yaml);
    build_ok(&s, &[]);
    let listing = |image: &str| -> BTreeSet<String> {
        files_of(&s.tag(image))
            .into_iter()
            .filter_map(|f| f.strip_prefix("/x/").map(String::from))
            .collect()
    };
    let expected: BTreeSet<String> = [
        ".dockerignore",
        "a/only",
        "b/y",
        "docker/web.Dockerfile",
        "docker/web.Dockerfile.dockerignore",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(listing("buildkit"), expected, "the daemon's own rule");
    assert_eq!(listing("legacy"), expected, "the tar follows it");

    for builder in ["buildkit", "legacy"] {
        // What `.dockerignore` alone would leave out, edited: a rebuild.
        s.write(&format!("ctx-{builder}/a/only"), "second\n");
        let ev = build_ok(&s, &[builder]);
        assert_eq!(of_type(&ev, "built", Some(builder)).len(), 1, "{ev:#?}");
        assert_eq!(run_in(&s.tag(builder), &["cat", "/x/a/only"]), b"second\n");
        // What the Dockerfile's own file leaves out, edited: nothing to do.
        s.write(&format!("ctx-{builder}/b/x"), "x2\n");
        let ev = build_ok(&s, &[builder]);
        let skipped = of_type(&ev, "skipped", Some(builder));
        assert_eq!(skipped.len(), 1, "{ev:#?}");
        assert_eq!(skipped[0]["reason"], "unchanged", "{ev:#?}");
    }
}

/// Issue 21, item 11: names that are not UTF-8 were matched against
/// `.dockerignore` in Rust's lossy spelling (one U+FFFD for a whole broken
/// sequence), where Docker's Go matcher reads one U+FFFD per byte: `?`
/// and `??` counted differently, and files the docker CLI keeps were
/// dropped (and the other way round).
#[test]
fn names_that_are_not_utf8_are_matched_as_dockers_matcher_reads_them() {
    use std::ffi::OsStr;
    require_docker!();
    let s = Stack::new();
    s.busybox_context("base", "");
    let mut yaml = String::from("images:\n  - {name: base, tags: [\"{prefix}/base:latest\"]}\n");
    for builder in ["buildkit", "legacy"] {
        let dir = s.path(&format!("ctx-{builder}"));
        s.write(
            &format!("ctx-{builder}/Dockerfile"),
            &format!("FROM {}\nCOPY . /x/\n", s.tag("base")),
        );
        s.write(&format!("ctx-{builder}/.dockerignore"), "k?\nl?\nd??\n");
        for name in [&b"k\xe2\x82"[..], b"l\xf0\x9f\x98", b"d\xe2\x82", b"e\xfe"] {
            std::fs::write(dir.join(OsStr::from_bytes(name)), "x").unwrap();
        }
        yaml.push_str(&format!(
            "  - {{name: {builder}, context: ./ctx-{builder}, builder: {builder}, tags: [\"{{prefix}}/{builder}:latest\"]}}\n"
        ));
    }
    s.config(&yaml);
    build_ok(&s, &[]);
    for builder in ["buildkit", "legacy"] {
        let listing = run_in(&s.tag(builder), &["find", "/x", "-type", "f"]);
        let mut names: Vec<&[u8]> = listing
            .split(|b| *b == b'\n')
            .filter_map(|l| l.strip_prefix(b"/x/"))
            .collect();
        names.sort();
        // `k?` and `l?` see two and three characters after the letter (one
        // per byte): kept; `d??` sees two: left out.
        assert_eq!(
            names,
            [
                &b".dockerignore"[..],
                b"Dockerfile",
                b"e\xfe",
                b"k\xe2\x82",
                b"l\xf0\x9f\x98"
            ],
            "{builder}: {:?}",
            names
                .iter()
                .map(|n| String::from_utf8_lossy(n))
                .collect::<Vec<_>>()
        );
    }
}
