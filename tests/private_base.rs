//! Builds FROM a private base image in a registry that wants a password:
//! kiln finds the credentials like the docker CLI and hands them to the
//! daemon (legacy: X-Registry-Config, url-safe base64; BuildKit: its
//! session). Without them the pull fails. Real daemon, real registry.
#![allow(clippy::unwrap_used, clippy::string_slice)]

mod common;

use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::registry::Registry;
use common::*;

const USER: &str = "kiln";
/// `?>>` makes the auth JSON's standard and url-safe base64 differ.
const PASSWORD: &str = "base-s3cret-??>>~~";

fn kiln(s: &Stack, docker_config: &Path, args: &[&str]) -> std::process::Output {
    s.kiln_cmd(args)
        .env("DOCKER_CONFIG", docker_config)
        .output()
        .expect("run kiln")
}

fn rmi(tag: &str) {
    remove_images(&[tag.to_string()]);
}

#[test]
fn a_private_base_image_is_pulled_with_the_users_credentials() {
    require_docker!();
    let s = Stack::new();
    let reg = Registry::with_auth(USER, PASSWORD);
    let base = format!("{}/{}-base:latest", reg.host, s.prefix);
    let auth = STANDARD.encode(format!("{USER}:{PASSWORD}"));
    let good = tempfile::tempdir().unwrap();
    std::fs::write(
        good.path().join("config.json"),
        format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, reg.host),
    )
    .unwrap();
    let none = tempfile::tempdir().unwrap();
    std::fs::write(none.path().join("config.json"), "{}").unwrap();

    // Publish the base with kiln itself, then forget it locally.
    s.busybox_context(
        "base",
        &format!("RUN echo {}-private > /etc/private\n", s.prefix),
    );
    s.write(
        "app/Dockerfile",
        &format!("FROM {base}\nRUN cat /etc/private\n"),
    );
    s.config(&format!(
        "images:\n  - {{name: base, tags: [\"{base}\"], push: true}}\n"
    ));
    let out = kiln(&s, good.path(), &["build", "--json", "base"]);
    assert!(out.status.success(), "{}\n{}", stderr(&out), stdout(&out));
    assert_eq!(of_type(&events(&out), "pushed", Some("base")).len(), 1);
    // From now on the stack is only the app: its base comes from the registry.
    s.config("images:\n  - {name: app, tags: [\"{prefix}/app:latest\"]}\n");

    for builder in ["legacy", "buildkit"] {
        rmi(&base);
        // Without credentials the registry refuses the pull.
        let out = kiln(
            &s,
            none.path(),
            &["build", "--json", "--force", "--builder", builder, "app"],
        );
        assert_eq!(out.status.code(), Some(1), "{builder}: {}", stdout(&out));
        let ev = events(&out);
        let failed = of_type(&ev, "failed", Some("app"));
        assert_eq!(failed.len(), 1, "{builder}: {ev:?}");
        rmi(&base);

        // With them it builds, and the secret shows nowhere.
        let out = kiln(
            &s,
            good.path(),
            &["build", "--json", "--force", "--builder", builder, "app"],
        );
        assert!(
            out.status.success(),
            "{builder}: {}\n{}",
            stderr(&out),
            stdout(&out)
        );
        let ev = events(&out);
        assert_eq!(of_type(&ev, "built", Some("app")).len(), 1, "{builder}");
        let text = format!("{}{}", stdout(&out), stderr(&out));
        assert!(
            !text.contains(PASSWORD) && !text.contains(&auth),
            "{builder}: secret in output"
        );
    }
    rmi(&base);
}
