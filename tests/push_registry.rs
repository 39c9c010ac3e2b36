//! Pushes against the real daemon and a real registry (Debian's
//! docker-registry on 127.0.0.1): per-layer progress with layer ids, the
//! digest the registry serves, credentials from config.json and from a
//! credential helper (with a password whose standard and url-safe base64
//! differ), rejected credentials, a registry dying mid-push. Nothing is
//! pulled; no secret may appear in kiln's output or files.
#![allow(clippy::unwrap_used, clippy::string_slice)]

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;

use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use base64::Engine;
use common::registry::{files_containing, Registry};
use common::*;
use kiln::engine::credentials::{auth_header, auth_json, Credentials, Source};

const USER: &str = "kiln";

/// A docker config dir (outside the stack's kiln home, so grepping what
/// kiln wrote does not find the test's own config.json).
fn docker_config(json: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), json).unwrap();
    dir
}

fn kiln(s: &Stack, docker_config: &Path, args: &[&str]) -> std::process::Output {
    s.kiln_cmd(args)
        .env("DOCKER_CONFIG", docker_config)
        .output()
        .expect("run kiln")
}

/// A password for `host` whose X-Registry-Auth JSON has different standard
/// and url-safe base64 encodings (so bollard's encoding would break it).
fn url_unsafe_password(host: &str) -> String {
    for k in 0..64 {
        let pw = format!("s3cret-{k}-??>>~~");
        let json = auth_json(Some(&creds(host, &pw)));
        if STANDARD.encode(&json) != URL_SAFE.encode(&json) {
            return pw;
        }
    }
    panic!("no url-unsafe password found");
}

fn creds(host: &str, password: &str) -> Credentials {
    Credentials {
        username: Some(USER.into()),
        password: Some(password.into()),
        identity_token: None,
        server_address: host.into(),
        source: Source::File(Default::default()),
    }
}

/// One busybox image with three layers, tagged into `reg`.
fn small_image(s: &Stack, reg: &Registry, name: &str) -> String {
    s.busybox_context(name, &format!("RUN echo {name}-{} > /id\n", s.prefix));
    format!("{}/kiln/{}-{name}:latest", reg.host, s.prefix)
}

/// No password (raw or as sent in the header) in kiln's output or files.
fn assert_no_secret(s: &Stack, out: &std::process::Output, password: &str, host: &str) {
    let header = auth_header(Some(&creds(host, password)));
    for needle in [password, header.as_str()] {
        assert!(
            !stdout(out).contains(needle) && !stderr(out).contains(needle),
            "secret in kiln's output"
        );
        let found = files_containing(s.home.path(), needle);
        assert!(found.is_empty(), "secret in files kiln wrote: {found:?}");
    }
}

#[test]
fn a_multi_layer_push_reports_layers_and_the_registrys_digest() {
    require_docker!();
    skip_on_podman!("Podman's push stream reports no layers, only the digest");
    let reg = Registry::start();
    let s = Stack::new();
    let tag = small_image(&s, &reg, "base");
    let _cleanup = common::RemoveImages(vec![tag.clone()]);
    s.config(&format!("images:\n  - name: base\n    tags: [\"{tag}\"]\n"));
    let dc = docker_config("{}");
    let out = kiln(
        &s,
        dc.path(),
        &["build", "--push", "--json", "--builder", "legacy"],
    );
    assert!(out.status.success(), "{}\n{}", stderr(&out), stdout(&out));
    let ev = events(&out);

    let progress = of_type(&ev, "push_progress", Some("base"));
    assert!(position(&ev, "built", "base") < position(&ev, "push_progress", "base"));
    let mut layers: Vec<&str> = progress
        .iter()
        .map(|e| e["layer"].as_str().unwrap())
        .collect();
    layers.sort();
    layers.dedup();
    assert!(
        layers.len() >= 3,
        "three layers (COPY, RUN, RUN): {layers:?}"
    );
    for l in &layers {
        assert!(
            l.len() == 12 && l.chars().all(|c| c.is_ascii_hexdigit()),
            "layer id {l}"
        );
    }
    for e in &progress {
        assert_eq!(e["tag"], tag.as_str());
        assert!(
            e["current"].as_u64().unwrap()
                <= e["total"]
                    .as_u64()
                    .unwrap()
                    .max(e["current"].as_u64().unwrap())
        );
        if e["total"].as_u64().unwrap() > 0 {
            assert!(e["current"].as_u64() <= e["total"].as_u64(), "clamped: {e}");
        }
    }
    // Every layer ends pushed (a fresh registry: no "already exists").
    for l in &layers {
        let last = progress.iter().rfind(|e| e["layer"] == *l).unwrap();
        assert_eq!(last["status"], "Pushed", "{l}: {last}");
    }

    let pushed = of_type(&ev, "pushed", Some("base"));
    assert_eq!(pushed.len(), 1, "{pushed:?}");
    assert_eq!(pushed[0]["tag"], tag.as_str());
    let name = format!("kiln/{}-base", s.prefix);
    let digest = reg
        .manifest_digest(&name, "latest")
        .expect("manifest in registry");
    assert_eq!(pushed[0]["digest"], digest.as_str());
    assert!(position(&ev, "pushed", "base") < ev.len() - 1);
    assert_eq!(ev.last().unwrap()["succeeded"], serde_json::json!(["base"]));

    // `kiln push` again, plain: the layers exist now; one line per layer
    // state change and the digest.
    let out = kiln(&s, dc.path(), &["push", "--plain"]);
    assert!(out.status.success(), "{}\n{}", stderr(&out), stdout(&out));
    let text = stdout(&out);
    assert!(text.contains("Layer already exists"), "{text}");
    assert!(
        text.contains(&format!("base | pushed {tag} {digest}")),
        "{text}"
    );
    assert!(
        !text.contains("building"),
        "kiln push does not build: {text}"
    );

    // `build --push` of an unchanged image still pushes it (the registry
    // may have lost it): skipped as unchanged, then pushed.
    let out = kiln(
        &s,
        dc.path(),
        &["build", "--push", "--json", "--builder", "legacy"],
    );
    assert!(out.status.success(), "{}\n{}", stderr(&out), stdout(&out));
    let ev = events(&out);
    assert_eq!(
        of_type(&ev, "skipped", Some("base"))[0]["reason"],
        "unchanged"
    );
    assert!(position(&ev, "skipped", "base") < position(&ev, "pushed", "base"));
    assert_eq!(
        of_type(&ev, "pushed", Some("base"))[0]["digest"],
        digest.as_str()
    );
}

#[test]
fn credentials_from_config_json_work_with_url_unsafe_passwords_and_bad_ones_fail() {
    require_docker!();
    let s = Stack::new();
    // The JSON holds the host (port): the password is chosen for it.
    let reg = Registry::with_auth_for(USER, url_unsafe_password);
    let password = reg.password.clone().unwrap();
    let json = auth_json(Some(&creds(&reg.host, &password)));
    assert_ne!(STANDARD.encode(&json), URL_SAFE.encode(&json));

    let tag = small_image(&s, &reg, "app");
    let _cleanup = common::RemoveImages(vec![tag.clone()]);
    s.config(&format!(
        "images:\n  - name: app\n    tags: [\"{tag}\"]\n    push: true\n"
    ));
    let auth = STANDARD.encode(format!("{USER}:{password}"));
    let good = docker_config(&format!(
        r#"{{"auths":{{"http://{}":{{"auth":"{auth}"}}}}}}"#,
        reg.host
    ));
    let out = kiln(&s, good.path(), &["build", "--json", "--builder", "legacy"]);
    assert!(out.status.success(), "{}\n{}", stderr(&out), stdout(&out));
    let ev = events(&out);
    assert_eq!(of_type(&ev, "pushed", Some("app")).len(), 1);
    assert_no_secret(&s, &out, &password, &reg.host);

    // A wrong password: the push fails naming the registry.
    let bad = docker_config(&format!(
        r#"{{"auths":{{"{}":{{"username":"{USER}","password":"wrong-{password}"}}}}}}"#,
        reg.host
    ));
    let out = kiln(&s, bad.path(), &["push", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let ev = events(&out);
    let failed = of_type(&ev, "failed", Some("app"));
    assert_eq!(failed.len(), 1, "{ev:?}");
    assert_eq!(failed[0]["phase"], "push");
    let error = failed[0]["error"].as_str().unwrap();
    assert!(error.contains("authentication failed"), "{error}");
    assert!(error.contains(&reg.host), "{error}");
    assert_no_secret(&s, &out, &password, &reg.host);
    assert_no_secret(&s, &out, &format!("wrong-{password}"), &reg.host);

    // No credentials at all: fails too, and says there were none.
    let none = docker_config("{}");
    let out = kiln(&s, none.path(), &["push", "--plain"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "FAILED (push): authentication failed for registry {}",
            reg.host
        )),
        "{text}"
    );
    assert!(text.contains("no credentials for"), "{text}");
}

#[test]
fn a_credential_helper_supplies_the_password() {
    require_docker!();
    let s = Stack::new();
    // Any password: the helper path is what is tested here.
    let password = "helper-s3cret/+=";
    let reg = Registry::with_auth(USER, password);
    let tag = small_image(&s, &reg, "tool");
    let _cleanup = common::RemoveImages(vec![tag.clone()]);
    s.config(&format!("images:\n  - name: tool\n    tags: [\"{tag}\"]\n"));
    let bin = tempfile::tempdir().unwrap();
    let log = bin.path().join("calls.log");
    let helper = bin.path().join("docker-credential-kilntest");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\nread -r server\necho \"$1 $server\" >> '{}'\nprintf '{{\"ServerURL\":\"%s\",\"Username\":\"{USER}\",\"Secret\":\"{password}\"}}' \"$server\"\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let dc = docker_config(&format!(
        r#"{{"credHelpers":{{"{}":"kilntest"}},"auths":{{"{}":{{"username":"x","password":"not-this-one"}}}}}}"#,
        reg.host, reg.host
    ));
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // Build it first (no push), then `kiln push` it.
    let out = kiln(&s, dc.path(), &["build", "--plain", "--builder", "legacy"]);
    assert!(out.status.success(), "{}", stdout(&out));
    let out = s
        .kiln_cmd(&["push", "--json"])
        .env("DOCKER_CONFIG", dc.path())
        .env("PATH", &path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}\n{}", stderr(&out), stdout(&out));
    assert_eq!(of_type(&events(&out), "pushed", Some("tool")).len(), 1);
    let calls = std::fs::read_to_string(&log).unwrap();
    assert_eq!(calls.trim(), format!("get {}", reg.host));
    assert_no_secret(&s, &out, password, &reg.host);
}

#[test]
fn a_registry_dying_mid_push_fails_that_image_only() {
    require_docker!();
    skip_on_podman!(
        "Podman's push stream says nothing between its first line and the digest: there is no mid-push moment to kill the registry at"
    );
    let s = Stack::new();
    let mut doomed = Registry::start();
    let fine = Registry::start();
    s.busybox_context(
        "big",
        &format!(
            "RUN head -c 50000000 /dev/urandom > /big && echo {} > /id\n",
            s.prefix
        ),
    );
    let big = format!("{}/kiln/{}-big:latest", doomed.host, s.prefix);
    let small = small_image(&s, &fine, "small");
    let _cleanup = common::RemoveImages(vec![big.clone(), small.clone()]);
    s.config(&format!(
        "images:\n  - name: big\n    tags: [\"{big}\"]\n  - name: small\n    tags: [\"{small}\"]\n"
    ));
    let dc = docker_config("{}");
    let mut child = s
        .kiln_cmd(&["build", "--push", "--json", "--builder", "legacy"])
        .env("DOCKER_CONFIG", dc.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        if v["type"] == "push_progress" && v["image"] == "big" && doomed.port != 0 {
            doomed.kill();
            doomed.port = 0;
        }
        lines.push(v);
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1), "{lines:?}");
    assert_eq!(doomed.port, 0, "the big push started: {lines:?}");
    let failed = of_type(&lines, "failed", Some("big"));
    assert_eq!(failed.len(), 1, "{lines:?}");
    assert_eq!(failed[0]["phase"], "push");
    let error = failed[0]["error"].as_str().unwrap();
    assert!(error.contains(&doomed.host), "names the registry: {error}");
    assert_eq!(of_type(&lines, "pushed", Some("small")).len(), 1);
    let summary = lines.last().unwrap();
    assert_eq!(summary["failed"], serde_json::json!(["big"]));
    assert_eq!(summary["succeeded"], serde_json::json!(["small"]));
}

/// `push_tags` chooses the tags a push pushes (here under `defaults:`, the
/// registry's tags and not the local-only ones, which would go to
/// docker.io and fail); `kiln build --push api` pushes api only, not the
/// base it builds for it; `kiln push` with no name pushes every image.
#[test]
fn push_tags_and_build_push_of_named_images_push_exactly_those() {
    require_docker!();
    let reg = Registry::start();
    let s = Stack::new();
    s.busybox_context("base", &format!("RUN echo {} > /id\n", s.prefix));
    s.child_context("api", "base", "RUN echo api > /api\n");
    let base = format!("{}/kiln/{}-base:1", reg.host, s.prefix);
    let api = format!("{}/kiln/{}-api:1", reg.host, s.prefix);
    let _cleanup = common::RemoveImages(vec![base.clone(), api.clone()]);
    s.config(&format!(
        "defaults:\n  push_tags: [\"{host}/*\"]\nimages:\n  - name: base\n    tags: [\"{{prefix}}/base:latest\", \"{base}\"]\n  - name: api\n    tags: [\"{{prefix}}/api:latest\", \"{api}\"]\n",
        host = reg.host
    ));
    let dc = docker_config("{}");
    let out = kiln(
        &s,
        dc.path(),
        &["build", "--push", "api", "--json", "--builder", "legacy"],
    );
    assert!(out.status.success(), "{}\n{}", stderr(&out), stdout(&out));
    let ev = events(&out);
    assert_eq!(
        of_type(&ev, "built", Some("base")).len(),
        1,
        "base is built for api"
    );
    assert!(
        of_type(&ev, "pushed", Some("base")).is_empty(),
        "base is not pushed"
    );
    let pushed: Vec<&str> = of_type(&ev, "pushed", Some("api"))
        .iter()
        .map(|e| e["tag"].as_str().unwrap())
        .collect();
    assert_eq!(pushed, [api.as_str()], "only the registry's tag");
    let repo = |n: &str| format!("kiln/{}-{n}", s.prefix);
    assert!(reg.manifest_digest(&repo("api"), "1").is_some());
    assert!(reg.manifest_digest(&repo("base"), "1").is_none());

    let out = kiln(&s, dc.path(), &["push", "--json"]);
    assert!(out.status.success(), "{}\n{}", stderr(&out), stdout(&out));
    let ev = events(&out);
    for (name, tag) in [("base", &base), ("api", &api)] {
        let pushed = of_type(&ev, "pushed", Some(name));
        assert_eq!(pushed.len(), 1, "{name}: {ev:?}");
        assert_eq!(pushed[0]["tag"], tag.as_str());
    }
    assert!(reg.manifest_digest(&repo("base"), "1").is_some());
}

/// Each tag's push stands alone: a tag whose registry is not there fails,
/// the tags after it are pushed all the same, and the failure names the
/// failed tag and those pushed.
#[test]
fn a_failing_tag_does_not_stop_the_other_tags() {
    require_docker!();
    let reg = Registry::start();
    let s = Stack::new();
    let first = small_image(&s, &reg, "app");
    let (name, _) = first.rsplit_once(':').unwrap();
    let last = format!("{name}:2");
    // Nothing listens on port 1.
    let nowhere = format!("127.0.0.1:1/kiln/{}-app:1", s.prefix);
    let _cleanup = common::RemoveImages(vec![first.clone(), last.clone(), nowhere.clone()]);
    s.config(&format!(
        "images:\n  - name: app\n    tags: [\"{first}\", \"{nowhere}\", \"{last}\"]\n"
    ));
    let dc = docker_config("{}");
    let out = kiln(&s, dc.path(), &["build", "--builder", "legacy"]);
    assert!(out.status.success(), "{}\n{}", stderr(&out), stdout(&out));
    let out = kiln(&s, dc.path(), &["push", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let ev = events(&out);
    let pushed: Vec<&str> = of_type(&ev, "pushed", Some("app"))
        .iter()
        .map(|e| e["tag"].as_str().unwrap())
        .collect();
    assert_eq!(pushed, [first.as_str(), last.as_str()], "{ev:?}");
    let failed = of_type(&ev, "failed", Some("app"));
    assert_eq!(failed.len(), 1, "{ev:?}");
    let error = failed[0]["error"].as_str().unwrap();
    assert!(
        error.starts_with(&format!(
            "1 of 3 tags not pushed (pushed {first}, {last}): "
        )),
        "{error}"
    );
    assert!(error.contains(&nowhere), "{error}");
    let repo = format!("kiln/{}-app", s.prefix);
    assert!(reg.manifest_digest(&repo, "latest").is_some());
    assert!(reg.manifest_digest(&repo, "2").is_some());
    // Plain output says the same in its lines.
    let out = kiln(&s, dc.path(), &["push"]);
    let text = stdout(&out);
    assert!(text.contains("1 of 3 tags not pushed"), "{text}");
}
