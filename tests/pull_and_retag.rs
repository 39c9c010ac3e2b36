//! Change detection that tells the truth, against the real daemon and a
//! real registry: `--pull` asks the registry for each base image's digest
//! and rebuilds when it moved (saying from what to what); `kiln check`
//! says which bases are only local; a tag another tool moved is put back
//! (or, the old image gone, rebuilt) saying what happened.
#![allow(clippy::unwrap_used, clippy::string_slice)]

mod common;

use std::process::Output;

use common::registry::Registry;
use common::*;

/// kiln with an empty docker config (no credentials, no helpers).
fn kiln(s: &Stack, docker_config: &std::path::Path, args: &[&str]) -> Output {
    s.kiln_cmd(args)
        .env("DOCKER_CONFIG", docker_config)
        .output()
        .expect("run kiln")
}

fn notices(ev: &[serde_json::Value], image: &str) -> Vec<String> {
    of_type(ev, "notice", Some(image))
        .iter()
        .filter_map(|n| n["message"].as_str().map(String::from))
        .collect()
}

fn result_of(ev: &[serde_json::Value], image: &str) -> String {
    if !of_type(ev, "built", Some(image)).is_empty() {
        return "built".into();
    }
    match of_type(ev, "skipped", Some(image)).first() {
        Some(s) => format!("skipped:{}", s["reason"].as_str().unwrap()),
        None => "none".into(),
    }
}

fn image_id(tag: &str) -> String {
    inspect(tag).expect("the tag exists")["Id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `sha256:0123456789ab…`, as kiln shows a digest.
fn short(digest: &str) -> String {
    format!("{}…", &digest[..19])
}

#[test]
fn pull_rebuilds_when_a_base_moved_in_the_registry() {
    require_docker!();
    let registry = Registry::start();
    let config = tempfile::tempdir().unwrap();
    // Upstream: a base image pushed to the registry by another stack.
    let up = Stack::new();
    let base = format!("{}/{}/up:1", registry.host, up.prefix);
    let _cleanup = common::RemoveImages(vec![base.clone()]);
    // Versions unique to this run: BuildKit's cache outlives the images.
    up.busybox_context("up", "RUN echo v1-{prefix} > /version\n");
    up.busybox_context("local", "");
    up.config(&format!(
        "images:\n  - {{name: up, tags: [\"{base}\"]}}\n  - {{name: local, tags: [\"{{prefix}}/local:1\"]}}\n"
    ));
    for args in [
        &["build", "--json", "--push", "up"][..],
        &["build", "--json", "local"],
    ] {
        let out = kiln(&up, config.path(), args);
        assert!(out.status.success(), "{}\n{}", stderr(&out), stdout(&out));
    }
    let first = registry
        .manifest_digest(&format!("{}/up", up.prefix), "1")
        .expect("the base is in the registry");
    let v1 = image_id(&base);

    // The stack under test builds on it, and on an image only the daemon has.
    let s = Stack::new();
    s.write(
        "app/Dockerfile",
        &format!("FROM {base}\nRUN cat /version\n"),
    );
    s.write(
        "other/Dockerfile",
        &format!("FROM {}/local:1\nRUN echo other\n", up.prefix),
    );
    s.config("images:\n  - {name: app, tags: [\"{prefix}/app:latest\"]}\n  - {name: other, tags: [\"{prefix}/other:latest\"]}\n");
    let check = stdout(&kiln(&s, config.path(), &["check"]));
    let line = |needle: &str| {
        check
            .lines()
            .find(|l| l.trim_start().starts_with(needle))
            .unwrap_or_else(|| panic!("no line for {needle}:\n{check}"))
            .to_string()
    };
    assert!(
        line(&base).contains(&format!("from its registry ({})", short(&first))),
        "{check}"
    );
    assert!(
        line(&format!("{}/local:1", up.prefix))
            .contains("only local: never pulled from or pushed to a registry (used by other)"),
        "{check}"
    );

    let out = kiln(&s, config.path(), &["build", "--json", "--pull", "app"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Asked again, the registry has the same: nothing to do.
    let out = kiln(&s, config.path(), &["build", "--json", "--pull", "app"]);
    let ev = events(&out);
    assert_eq!(
        result_of(&ev, "app"),
        "skipped:unchanged",
        "{:?}",
        notices(&ev, "app")
    );

    // Someone pushes a new base; the daemon's copy stays the old one.
    up.busybox_context("up", "RUN echo v2-{prefix} > /version\n");
    let out = kiln(&up, config.path(), &["build", "--json", "--push", "up"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let second = registry
        .manifest_digest(&format!("{}/up", up.prefix), "1")
        .unwrap();
    assert_ne!(first, second);
    assert!(docker(&["tag", &v1, &base]).status.success());

    // Without --pull the daemon's copy is what builds use: unchanged.
    let ev = events(&kiln(&s, config.path(), &["build", "--json", "app"]));
    assert_eq!(result_of(&ev, "app"), "skipped:unchanged");

    let out = kiln(&s, config.path(), &["build", "--json", "--pull", "app"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let ev = events(&out);
    assert_eq!(result_of(&ev, "app"), "built");
    let why = format!(
        "rebuilding: base image {base} changed in the registry ({} → {})",
        short(&first),
        short(&second)
    );
    assert!(
        notices(&ev, "app").contains(&why),
        "{:?}",
        notices(&ev, "app")
    );
    // And the build used the registry's base.
    assert!(
        of_type(&ev, "log", Some("app"))
            .iter()
            .any(|l| l["line"] == format!("v2-{}", up.prefix).as_str()),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_moved_tag_is_put_back_or_the_image_rebuilt_saying_why() {
    require_docker!();
    let s = Stack::new();
    s.busybox_context("x", "RUN echo x\n");
    s.busybox_context("y", "RUN echo y\n");
    s.config("images:\n  - {name: x, tags: [\"{prefix}/x:latest\"]}\n  - {name: y, tags: [\"{prefix}/y:latest\"]}\n");
    let out = s.kiln(&["build", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (x, y) = (image_id(&s.tag("x")), image_id(&s.tag("y")));

    // Another tool points x's tag at y's image; x's image still exists.
    assert!(docker(&["tag", &y, &s.tag("x")]).status.success());
    let ev = events(&s.kiln(&["build", "--json", "x"]));
    assert_eq!(result_of(&ev, "x"), "skipped:unchanged");
    let said = format!(
        "tag {} now points at another image ({}); nothing else changed and the last build's image ({}) still exists: retagged it instead of rebuilding",
        s.tag("x"),
        &y[7..19],
        &x[7..19]
    );
    assert!(notices(&ev, "x").contains(&said), "{:?}", notices(&ev, "x"));
    assert_eq!(image_id(&s.tag("x")), x);

    // Again, and this time x's image goes away.
    assert!(docker(&["tag", &y, &s.tag("x")]).status.success());
    assert!(docker(&["rmi", &x]).status.success());
    let ev = events(&s.kiln(&["build", "--json", "x"]));
    assert_eq!(result_of(&ev, "x"), "built");
    let said = format!(
        "rebuilding: tag {} now points at another image ({}) and the last build's image ({}) is gone",
        s.tag("x"),
        &y[7..19],
        &x[7..19]
    );
    assert!(notices(&ev, "x").contains(&said), "{:?}", notices(&ev, "x"));
}
