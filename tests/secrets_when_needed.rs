//! Where a build secret or an SSH agent comes from is checked only by the
//! commands that build (and `kiln check`): `kiln ls`, `kiln logs`,
//! `kiln history` and `kiln push` build nothing and work with the secret's
//! variable unset, its file gone and the SSH key file gone, on the real
//! daemon and a real registry, while `kiln build` still fails early with
//! each problem at its `FILE:LINE:COL`.
#![allow(clippy::unwrap_used, clippy::string_slice)]

mod common;

use std::process::{Command, Output};

use common::registry::Registry;
use common::*;

/// The variable the stack's secret `tok` comes from.
const VAR: &str = "KILN_TEST_SECRET_WHEN_NEEDED";

/// `kiln ARGS` on the stack, with an empty docker config (no credentials
/// of the machine's) and `tok`'s variable set to `value` (None: unset).
fn kiln(s: &Stack, docker_config: &std::path::Path, value: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = s.kiln_cmd(args);
    cmd.env("DOCKER_CONFIG", docker_config)
        .env_remove("SSH_AUTH_SOCK");
    match value {
        Some(v) => cmd.env(VAR, v),
        None => cmd.env_remove(VAR),
    };
    cmd.output().unwrap()
}

#[test]
fn commands_that_build_nothing_need_no_secret_sources() {
    require_docker!();
    let reg = Registry::start();
    let s = Stack::new();
    let pushed = format!("{}/kiln/{}-app:1", reg.host, s.prefix);
    let _cleanup = RemoveImages(vec![pushed.clone()]);
    s.busybox_context(
        "app",
        &format!(
            "RUN --mount=type=secret,id=tok,required=true [\"/bin/busybox\", \"sh\", \"-c\", \"wc -c < /run/secrets/tok > /tok-len && echo marker-{}\"]\n",
            s.prefix
        ),
    );
    s.write("npm-token.txt", "npm-secret\n");
    let key = s.path("deploy_key");
    let made = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(made.success());
    s.config(&format!(
        "images:\n  - name: app\n    tags: [\"{{prefix}}/app:latest\", \"{pushed}\"]\n    push_tags: [\"{host}/*\"]\n    secrets:\n      - {{id: tok, env: {VAR}}}\n      - {{id: npm, src: ./npm-token.txt}}\n    ssh:\n      - {{id: deploy, paths: [./deploy_key]}}\n",
        host = reg.host
    ));
    let dc = tempfile::tempdir().unwrap();
    std::fs::write(dc.path().join("config.json"), "{}").unwrap();

    let out = kiln(&s, dc.path(), Some("s3cr3t"), &["build", "--no-cache"]);
    assert!(out.status.success(), "{}\n{}", stderr(&out), stdout(&out));

    // The sources go away: the variable unset, the files removed.
    std::fs::remove_file(s.path("npm-token.txt")).unwrap();
    std::fs::remove_file(&key).unwrap();

    // A command that builds fails early, each problem where it is written.
    for args in [&["build"][..], &["check"]] {
        let out = kiln(&s, dc.path(), None, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        for (at, what) in [
            (
                "kiln.yaml:6:24:",
                format!("secret 'tok': environment variable {VAR} is not set"),
            ),
            (
                "kiln.yaml:7:24:",
                "secret 'npm': file ./npm-token.txt does not exist".to_string(),
            ),
            (
                "kiln.yaml:9:30:",
                "ssh 'deploy': ./deploy_key does not exist".to_string(),
            ),
        ] {
            assert!(
                err.lines().any(|l| l.contains(at) && l.ends_with(&what)),
                "{args:?}: {at} {what}:\n{err}"
            );
        }
    }

    // Those that build nothing work.
    let out = kiln(&s, dc.path(), None, &["ls"]);
    assert!(out.status.success(), "ls: {}", stderr(&out));
    assert!(
        stdout(&out)
            .lines()
            .any(|l| l.contains("app") && l.contains("built")),
        "{}",
        stdout(&out)
    );
    let out = kiln(&s, dc.path(), None, &["ls", "--names"]);
    assert_eq!(stdout(&out).trim(), "app", "{}", stderr(&out));
    let out = kiln(&s, dc.path(), None, &["logs", "app"]);
    assert!(out.status.success(), "logs: {}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("marker-{}", s.prefix)),
        "{}",
        stdout(&out)
    );
    let out = kiln(&s, dc.path(), None, &["history", "app", "--json"]);
    assert!(out.status.success(), "history: {}", stderr(&out));
    assert_eq!(events(&out).len(), 1, "{}", stdout(&out));
    let out = kiln(&s, dc.path(), None, &["push", "--json"]);
    assert!(
        out.status.success(),
        "push: {}\n{}",
        stderr(&out),
        stdout(&out)
    );
    let ev = events(&out);
    let tags: Vec<&str> = of_type(&ev, "pushed", Some("app"))
        .iter()
        .map(|e| e["tag"].as_str().unwrap())
        .collect();
    assert_eq!(tags, [pushed.as_str()]);
    let repo = format!("kiln/{}-app", s.prefix);
    assert!(reg.manifest_digest(&repo, "1").is_some());
    // Nothing said the secret's value (it was never read back).
    assert!(!stdout(&out).contains("s3cr3t") && !stderr(&out).contains("s3cr3t"));
}

/// The same for a compose file's `build.secrets` and `build.ssh`: `ls`
/// reads the stack without the sources, `build` refuses it, located.
#[test]
fn a_compose_stack_lists_without_its_secret_sources() {
    let s = Stack::new();
    s.busybox_context("app", "");
    s.write(
        "compose.yaml",
        &format!(
            "services:\n  app:\n    build:\n      context: ./app\n      secrets: [tok, npm]\n      ssh: [deploy=./deploy_key, default]\nsecrets:\n  tok:\n    environment: {VAR}\n  npm:\n    file: ./npm-token.txt\n"
        ),
    );
    let compose = |args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kiln"));
        cmd.arg("-f").arg(s.path("compose.yaml")).args(args);
        isolate(&mut cmd, s.home.path());
        cmd.env_remove(VAR).env_remove("SSH_AUTH_SOCK");
        cmd.output().unwrap()
    };
    let out = compose(&["ls", "--names"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "app");
    let out = compose(&["ls"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = compose(&["build"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    for (at, what) in [
        (
            "compose.yaml:6:13:",
            "ssh 'deploy': ./deploy_key does not exist",
        ),
        (
            "compose.yaml:6:34:",
            "ssh 'default' forwards your SSH agent, and SSH_AUTH_SOCK is not set",
        ),
        ("compose.yaml:9:18:", "secret 'tok': environment variable"),
        (
            "compose.yaml:11:11:",
            "secret 'npm': file ./npm-token.txt does not exist",
        ),
    ] {
        assert!(
            err.lines().any(|l| l.contains(at) && l.contains(what)),
            "{at} {what}:\n{err}"
        );
    }
}
