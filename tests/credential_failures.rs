//! When credentials cannot be had, kiln says why, at every place that looks
//! them up (push, a prebuilt image's pull, a build's base images): a
//! helper that is missing or fails is named with what happened, never
//! reported as "no credentials"; a malformed config.json is named by file
//! and key path, never by a value. Real daemon, real registry with a
//! password.
#![allow(clippy::unwrap_used, clippy::string_slice)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use common::registry::Registry;
use common::*;

const USER: &str = "kiln";
const PASSWORD: &str = "fail-s3cret-pw";

fn docker_config(json: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), json).unwrap();
    dir
}

/// A directory holding `docker-credential-NAME` running `body`.
fn helper_dir(name: &str, body: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("docker-credential-{name}"));
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

fn kiln(s: &Stack, dc: &Path, helpers: Option<&Path>, args: &[&str]) -> std::process::Output {
    let mut cmd = s.kiln_cmd(args);
    cmd.env("DOCKER_CONFIG", dc);
    if let Some(dir) = helpers {
        let path = format!(
            "{}:{}",
            dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        cmd.env("PATH", path);
    }
    cmd.output().expect("run kiln")
}

fn rmi(tag: &str) {
    let _ = Command::new("docker").args(["rmi", "-f", tag]).output();
}

fn all_text(out: &std::process::Output) -> String {
    format!("{}{}", stdout(out), stderr(out))
}

/// A registry with a password, and `s`'s image app built (no credentials
/// needed for that) with a tag of it.
fn app_for_a_private_registry(s: &Stack) -> (Registry, String) {
    let reg = Registry::with_auth(USER, PASSWORD);
    let tag = format!("{}/{}-app:1", reg.host, s.prefix);
    s.busybox_context("app", "RUN echo app > /app\n");
    s.config(&format!("images:\n  - {{name: app, tags: [\"{tag}\"]}}\n"));
    let none = docker_config("{}");
    let out = kiln(
        s,
        none.path(),
        None,
        &["build", "--json", "--builder", "legacy"],
    );
    assert!(out.status.success(), "{}", all_text(&out));
    (reg, tag)
}

/// `out` failed, its stdout saying what the helper `sealed` said; that
/// stdout.
fn says_the_sealed_helper_failed(out: &std::process::Output) -> String {
    assert_eq!(out.status.code(), Some(1), "{}", all_text(out));
    let text = stdout(out);
    assert!(
        text.contains("docker-credential-sealed exited 1: vault is sealed"),
        "{text}"
    );
    text
}

#[test]
fn a_failing_credential_helper_is_named_at_every_lookup() {
    require_docker!();
    let s = Stack::new();
    let (reg, tag) = app_for_a_private_registry(&s);

    // Push: a helper that is not on PATH.
    let missing = docker_config(&format!(r#"{{"credHelpers":{{"{}":"gone"}}}}"#, reg.host));
    let out = kiln(&s, missing.path(), None, &["push", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", all_text(&out));
    let ev = events(&out);
    let error = of_type(&ev, "failed", Some("app"))[0]["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        error.contains("docker-credential-gone not found on PATH"),
        "{error}"
    );
    assert!(!error.contains("no credentials for"), "{error}");

    // Push: a helper that exits 1 saying why on stderr.
    let sealed = docker_config(&format!(r#"{{"credHelpers":{{"{}":"sealed"}}}}"#, reg.host));
    let bin = helper_dir("sealed", "echo 'vault is sealed' >&2\nexit 1");
    let out = kiln(&s, sealed.path(), Some(bin.path()), &["push", "--plain"]);
    let text = says_the_sealed_helper_failed(&out);
    assert!(!text.contains("no credentials for"), "{text}");

    // A prebuilt image pulled with that helper: said, not silently ignored.
    rmi(&tag);
    s.config(&format!(
        "images:\n  - {{name: app, image: \"{tag}\", pull: true}}\n"
    ));
    let out = kiln(&s, sealed.path(), Some(bin.path()), &["build", "--plain"]);
    says_the_sealed_helper_failed(&out);

    // A build FROM the private image: the same words, as a notice.
    s.write("child/Dockerfile", &format!("FROM {tag}\nRUN true\n"));
    s.config("images:\n  - {name: child, tags: [\"{prefix}/child:latest\"]}\n");
    let out = kiln(
        &s,
        sealed.path(),
        Some(bin.path()),
        &["build", "--plain", "--builder", "legacy"],
    );
    let text = says_the_sealed_helper_failed(&out);
    assert!(!text.contains("no credentials for"), "{text}");
    rmi(&tag);
}

#[test]
fn a_malformed_config_json_is_named_by_key_never_by_value() {
    require_docker!();
    let s = Stack::new();
    let (reg, tag) = app_for_a_private_registry(&s);
    let variants = [
        (
            format!(r#"{{"auths": {{"{}": "dTpwdw=="}}}}"#, reg.host),
            format!(r#"auths["{}"] must be an object"#, reg.host),
            "dTpwdw==",
        ),
        (
            format!(
                r#"{{"auths": {{"{}": {{"username": "kiln", "password": 12345678}}}}}}"#,
                reg.host
            ),
            format!(r#"auths["{}"].password must be a string"#, reg.host),
            "12345678",
        ),
        (
            format!(
                r#"{{"auths": {{"{}": {{"auth": "%%%notbase64"}}}}}}"#,
                reg.host
            ),
            format!(r#"auths["{}"].auth must be the base64"#, reg.host),
            "notbase64",
        ),
    ];
    for (json, says, secret) in variants {
        let dc = docker_config(&json);
        for format in ["--plain", "--json"] {
            let out = kiln(&s, dc.path(), None, &["push", format]);
            assert_eq!(out.status.code(), Some(1), "{}", all_text(&out));
            let mut text = all_text(&out);
            if format == "--json" {
                // The events' texts, unescaped.
                for e in events(&out) {
                    for field in ["error", "message"] {
                        if let Some(t) = e[field].as_str() {
                            text.push_str(t);
                        }
                    }
                }
            }
            assert!(text.contains(&says), "{format}: {text}");
            assert!(text.contains("config.json"), "{format}: {text}");
            assert!(
                !text.contains(secret),
                "{format}: a value is quoted: {text}"
            );
        }
    }
    rmi(&tag);
}
