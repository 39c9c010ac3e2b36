//! Prebuilt images (`image:` entries): never built, checked to exist,
//! pulled when `pull: true` — from a local registry, never the internet.
#![allow(clippy::unwrap_used, clippy::string_slice)]

mod common;

use common::registry::Registry;
use common::*;

fn rmi(tag: &str) {
    remove_images(&[tag.to_string()]);
}

#[test]
fn a_missing_prebuilt_image_fails_its_dependents_unless_it_can_be_pulled() {
    require_docker!();
    let s = Stack::new();
    let reg = Registry::start();
    let tool = format!("{}/{}-tool:1", reg.host, s.prefix);

    // Publish an image to the registry, then forget it locally.
    s.busybox_context("tool", "RUN echo tool > /etc/tool\n");
    s.config(&format!(
        "images:\n  - {{name: tool, tags: [\"{tool}\"], push: true}}\n"
    ));
    let out = s.kiln(&["build", "--json"]);
    assert!(out.status.success(), "{}\n{}", stderr(&out), stdout(&out));
    rmi(&tool);

    s.write(
        "app/Dockerfile",
        &format!("FROM {tool}\nRUN cat /etc/tool\n"),
    );
    let stack = |pull: bool| {
        format!(
            "images:\n  - {{name: tool, image: \"{tool}\", pull: {pull}}}\n  - {{name: app, tags: [\"{{prefix}}/app:latest\"]}}\n"
        )
    };

    // Not present and not pulled: a clear failure, and app is skipped.
    s.config(&stack(false));
    let out = s.kiln(&["build", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let ev = events(&out);
    let error = of_type(&ev, "failed", Some("tool"))[0]["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        error.contains("is not present on the daemon") && error.contains("pull: true"),
        "{error}"
    );
    assert_eq!(
        of_type(&ev, "skipped", Some("app"))[0]["reason"],
        "dependency_failed"
    );

    // pull: true fetches it; then it is `skipped: prebuilt` and app builds on it.
    s.config(&stack(true));
    let out = s.kiln(&["build", "--json"]);
    assert!(out.status.success(), "{}\n{}", stderr(&out), stdout(&out));
    let ev = events(&out);
    assert_eq!(
        of_type(&ev, "skipped", Some("tool"))[0]["reason"],
        "prebuilt"
    );
    assert!(
        of_type(&ev, "started", Some("tool")).is_empty(),
        "a prebuilt image is never built"
    );
    assert_eq!(of_type(&ev, "built", Some("app")).len(), 1);
    assert!(inspect(&tool).is_some());
    rmi(&tool);
}
