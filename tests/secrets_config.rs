//! Build secrets and SSH agents in the stack file: every mistake located
//! at `FILE:LINE:COL` of the value it is about (kiln.yaml and compose,
//! included files too), reported before anything is built, and no
//! secret's value in a message or in the loaded config's debug text.
#![allow(clippy::unwrap_used, clippy::string_slice)]

mod common;

use std::path::{Path, PathBuf};

use common::compose::{env_of, errors, load_with, Scratch};
use kiln::config::*;

/// `text` as kiln.yaml in a project with `app/Dockerfile`, loaded with
/// `vars` as the environment: its errors as `LINE:COL: message`.
fn yaml_errors(text: &str, vars: &[(&str, &str)]) -> Vec<String> {
    let (dir, path) = project(text);
    let errs = load(&path, &env_of(vars)).expect_err("errors");
    drop(dir);
    errs.errors
        .iter()
        .map(|e| format!("{}:{}: {}", e.line, e.col, e.message))
        .collect()
}

fn project(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("app")).unwrap();
    std::fs::write(dir.path().join("app/Dockerfile"), "FROM scratch\n").unwrap();
    std::fs::write(dir.path().join("tok.txt"), "s3cr3t-in-a-file").unwrap();
    std::fs::write(dir.path().join("key"), "not really a key").unwrap();
    let path = dir.path().join("kiln.yaml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

#[test]
fn kiln_yaml_secret_mistakes_are_located_and_all_said() {
    let text = "\
images:
  - name: app
    secrets:
      - {id: tok, src: ./missing.txt}
      - {id: gh, env: GH_TOKEN}
      - {id: both, src: ./tok.txt, env: HOME}
      - {id: none}
      - {src: ./tok.txt}
      - {id: typo, srcc: ./tok.txt}
      - {id: tok2, src: ~/tok.txt}
      - just-a-name
";
    assert_eq!(
        yaml_errors(text, &[]),
        [
            "4:24: secret 'tok': file ./missing.txt does not exist",
            "5:23: secret 'gh': environment variable GH_TOKEN is not set",
            "6:36: secret 'both': give 'src' or 'env', not both",
            "7:9: secret 'none' needs 'src' (a file) or 'env' (a variable)",
            "8:9: each secret entry needs an 'id'",
            "9:9: secret 'typo' needs 'src' (a file) or 'env' (a variable)",
            "9:20: unknown field 'srcc' — did you mean 'src'?",
            "10:25: secret 'tok2': file ~/tok.txt does not exist (kiln does not expand '~': write ${HOME}/…)",
            "11:9: each secret must be {id: NAME, src: FILE} or {id: NAME, env: VAR}",
        ]
    );
}

#[test]
fn kiln_yaml_ssh_mistakes_are_located() {
    let text = "\
images:
  - name: app
    ssh:
      - default
      - {id: deploy, paths: [./key, ./nokey]}
      - {id: deploy}
      - {paths: [./key]}
";
    assert_eq!(
        yaml_errors(text, &[]),
        [
            "4:9: ssh 'default' forwards your SSH agent, and SSH_AUTH_SOCK is not set: start an agent (eval $(ssh-agent); ssh-add) or give the key files in 'paths'",
            "5:37: ssh 'deploy': ./nokey does not exist",
            "6:9: ssh 'deploy' forwards your SSH agent, and SSH_AUTH_SOCK is not set: start an agent (eval $(ssh-agent); ssh-add) or give the key files in 'paths'",
            "7:9: each ssh entry needs an 'id'",
        ]
    );
    let twice = yaml_errors(
        "images:\n  - name: app\n    ssh:\n      - {id: k, paths: [./key]}\n      - {id: k, paths: [./key]}\n    secrets: [{id: t, src: ./tok.txt}, {id: t, env: T}]\n",
        &[("T", "x")],
    );
    assert_eq!(
        twice,
        [
            "5:9: ssh 'k' is given twice",
            "6:40: secret 't' is given twice"
        ]
    );
    // A socket that is gone (a stale SSH_AUTH_SOCK).
    let stale = yaml_errors(
        "images:\n  - name: app\n    ssh: [default]\n",
        &[("SSH_AUTH_SOCK", "/nonexistent/agent.sock")],
    );
    assert_eq!(
        stale,
        ["3:11: ssh 'default' forwards your SSH agent, and SSH_AUTH_SOCK (/nonexistent/agent.sock) is not a socket: is the agent still running?"]
    );
}

#[test]
fn the_legacy_builder_is_refused_where_it_meets_secrets() {
    let text = "\
defaults:
  builder: legacy
images:
  - name: app
    secrets:
      - {id: tok, src: ./tok.txt}
  - name: other
    context: ./app
    builder: legacy
    ssh:
      - {id: deploy, paths: [./key]}
  - name: fine
    context: ./app
    builder: buildkit
    secrets: [{id: tok, src: ./tok.txt}]
";
    let why = |what: &str, mounts: &str| {
        format!("'{what}' needs BuildKit, and this image's builder is legacy: the legacy builder cannot serve {mounts}; use builder: buildkit (or auto)")
    };
    assert_eq!(
        yaml_errors(text, &[]),
        [
            format!("5:5: {}", why("secrets", "RUN --mount=type=secret")),
            format!("10:5: {}", why("ssh", "RUN --mount=type=ssh")),
        ]
    );
    // `--builder legacy` on the command line.
    let (_dir, path) =
        project("images:\n  - name: app\n    secrets: [{id: tok, src: ./tok.txt}]\n");
    let source = StackSource {
        files: vec![path],
        builder: Some(BuilderChoice::Legacy),
        ..StackSource::default()
    };
    let err = source.load(&|_| None).unwrap_err().to_string();
    assert_eq!(
        err,
        "--builder legacy: image 'app' has build secrets or SSH agents, which only BuildKit can serve; use --builder auto or buildkit"
    );
}

#[test]
fn defaults_give_secrets_to_every_image_and_an_image_s_own_win_by_id() {
    let text = "\
defaults:
  secrets:
    - {id: tok, src: ./tok.txt}
    - {id: gh, env: GH_TOKEN}
images:
  - name: app
  - name: other
    context: ./app
    secrets:
      - {id: gh, env: OTHER_TOKEN}
";
    let (_dir, path) = project(text);
    let env = env_of(&[
        ("GH_TOKEN", "value-of-gh"),
        ("OTHER_TOKEN", "value-of-other"),
    ]);
    let config = load(&path, &env).unwrap().config;
    let ids = |i: usize| -> Vec<String> {
        config.images[i]
            .secrets
            .iter()
            .map(|s| format!("{} {}", s.id, s.source.describe()))
            .collect()
    };
    assert_eq!(ids(0)[1], "gh env GH_TOKEN");
    assert_eq!(ids(1)[1], "gh env OTHER_TOKEN");
    assert!(ids(0)[0].starts_with("tok file ") && ids(0)[0].ends_with("tok.txt"));
    // Nothing of a value shows in the config's debug text.
    let shown = format!("{config:?}");
    assert!(!shown.contains("value-of-gh") && !shown.contains("value-of-other"));
    assert!(shown.contains("<hidden>"));
}

const SERVICE: &str = "services:\n  app:\n    build:\n      context: ./app\n";

#[test]
fn compose_build_secret_mistakes_are_located() {
    let s = Scratch::new();
    s.write("tok.txt", "s3cr3t");
    let got = s.errors(&[(
        "compose.yaml",
        &format!(
            "{SERVICE}      secrets:\n        - tok\n        - toke\n        - source: gh\n          target: github\n          mod: 0400\n        - {{target: x}}\n        - nofile\nsecrets:\n  tok:\n    file: ./missing.txt\n  gh:\n    environment: GH_TOKEN\n  nofile:\n    external: true\n"
        ),
    )]);
    assert_eq!(
        got,
        [
            "compose.yaml:7:11: build secret 'toke' is not defined under the top-level 'secrets:' — did you mean 'tok'?",
            "compose.yaml:10:11: unknown build secret key 'mod' — did you mean 'mode'?",
            "compose.yaml:11:11: a build secret needs 'source' (the secret's name)",
            "compose.yaml:15:11: secret 'tok': file ./missing.txt does not exist",
            "compose.yaml:17:18: secret 'github': environment variable GH_TOKEN is not set",
            "compose.yaml:18:3: secret 'nofile' is used by a build, which takes it from 'file' or 'environment' only",
        ]
    );
}

#[test]
fn compose_build_ssh_mistakes_are_located() {
    let s = Scratch::new();
    s.write("key", "not really a key");
    let got = s.errors(&[(
        "compose.yaml",
        &format!(
            "{SERVICE}      ssh: [default, deploy, k=./nokey, ok=./key]\n  two:\n    build:\n      context: ./app\n      ssh:\n        mine: ./nokey\n        default:\n"
        ),
    )]);
    assert_eq!(
        got,
        [
            "compose.yaml:5:13: ssh 'default' forwards your SSH agent, and SSH_AUTH_SOCK is not set: start an agent (eval $(ssh-agent); ssh-add) or give the key files in 'paths'",
            "compose.yaml:5:22: invalid ssh key 'deploy': use default or ID=PATH",
            "compose.yaml:5:30: ssh 'k': ./nokey does not exist",
            "compose.yaml:10:15: ssh 'mine': ./nokey does not exist",
            "compose.yaml:11:9: ssh 'default' forwards your SSH agent, and SSH_AUTH_SOCK is not set: start an agent (eval $(ssh-agent); ssh-add) or give the key files in 'paths'",
        ]
    );
}

#[test]
fn compose_legacy_builder_with_secrets_is_an_error_at_the_key() {
    let s = Scratch::new();
    s.write("tok.txt", "s3cr3t");
    let got = s.errors(&[(
        "compose.yaml",
        &format!(
            "{SERVICE}      secrets: [tok]\n    x-kiln: {{builder: legacy}}\nsecrets:\n  tok: {{file: ./tok.txt}}\n"
        ),
    )]);
    assert_eq!(
        got,
        ["compose.yaml:5:7: 'secrets' needs BuildKit, and this image's builder is legacy: the legacy builder cannot serve RUN --mount=type=secret; use builder: buildkit (or auto)"]
    );
}

#[test]
fn compose_secrets_of_an_included_project_start_at_its_directory() {
    let s = Scratch::new();
    s.write("lib/app/Dockerfile", "FROM scratch\n");
    s.write("lib/tok.txt", "s3cr3t");
    s.write("home/.ssh/id", "not really a key");
    s.write(
        "lib/compose.yaml",
        "services:\n  lib:\n    build:\n      context: ./app\n      secrets: [tok, gone]\n      ssh: [k=./tok.txt]\nsecrets:\n  tok: {file: ./tok.txt}\n  gone: {file: ./gone.txt}\n",
    );
    let main = s.write(
        "compose.yaml",
        &format!("include: [lib/compose.yaml]\n{SERVICE}      ssh: [h=~/.ssh/id]\n"),
    );
    let home = s.proj().join("home").display().to_string();
    let got = errors(
        load_with(
            std::slice::from_ref(&main),
            &ComposeOptions::default(),
            &[("HOME", &home)],
        ),
        &s.proj(),
    );
    assert_eq!(
        got,
        ["lib/compose.yaml:9:16: secret 'gone': file lib/gone.txt does not exist"]
    );
    // Without the missing one it loads, each path where compose puts it.
    s.write(
        "lib/compose.yaml",
        "services:\n  lib:\n    build:\n      context: ./app\n      secrets: [tok]\n      ssh: [k=./tok.txt]\nsecrets:\n  tok: {file: ./tok.txt}\n",
    );
    let config = load_with(&[main], &ComposeOptions::default(), &[("HOME", &home)])
        .unwrap()
        .config;
    let lib = &config.images[config.index_of("lib").unwrap()];
    assert_eq!(
        lib.secrets[0].source,
        SecretSource::File(s.proj().join("lib/tok.txt"))
    );
    assert_eq!(
        lib.ssh[0].source,
        SshSource::Keys(vec![s.proj().join("lib/tok.txt")])
    );
    let app = &config.images[config.index_of("app").unwrap()];
    assert_eq!(
        app.ssh[0].source,
        SshSource::Keys(vec![Path::new(&home).join(".ssh/id")])
    );
}

#[test]
fn compose_environment_secrets_come_from_the_project_environment() {
    let s = Scratch::new();
    s.write(".env", "GH_TOKEN=from-dotenv\n");
    let main = s.write(
        "compose.yaml",
        &format!("{SERVICE}      secrets:\n        - source: gh\n          target: github\nsecrets:\n  gh: {{environment: GH_TOKEN}}\n"),
    );
    let config = load_with(&[main], &ComposeOptions::default(), &[])
        .unwrap()
        .config;
    let secret = &config.images[0].secrets[0];
    assert_eq!(secret.id, "github");
    match &secret.source {
        SecretSource::Env { var, value } => {
            assert_eq!(var, "GH_TOKEN");
            assert_eq!(value.expose(), b"from-dotenv");
        }
        other => panic!("{other:?}"),
    }
    assert!(!format!("{config:?}").contains("from-dotenv"));
}

/// A command that builds nothing loads the stack without checking secret
/// sources: what cannot be used now (a missing file, an unset variable, no
/// agent) is left out without an error; what is wrong in the file itself
/// still is an error, at its place.
#[test]
fn unchecked_sources_leave_out_what_cannot_be_used_and_still_refuse_mistakes() {
    let text = "\
images:
  - name: app
    secrets:
      - {id: tok, src: ./tok.txt}
      - {id: gone, src: ./missing.txt}
      - {id: gh, env: GH_TOKEN}
    ssh:
      - default
      - {id: deploy, paths: [./no-key]}
";
    let (dir, path) = project(text);
    let unchecked = |vars: &[(&str, &str)]| {
        load_stack_with(
            std::slice::from_ref(&path),
            &ComposeOptions::default(),
            &env_of(vars),
            Sources::Unchecked,
        )
    };
    let loaded = unchecked(&[]).unwrap();
    let app = &loaded.config.images[0];
    let ids: Vec<&str> = app.secrets.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["tok"], "{app:?}");
    assert!(app.ssh.is_empty(), "{app:?}");
    let strict = load_stack(
        std::slice::from_ref(&path),
        &ComposeOptions::default(),
        &env_of(&[]),
    );
    assert_eq!(errors(strict, dir.path()).len(), 4);

    std::fs::write(
        &path,
        "images:\n  - name: app\n    secrets:\n      - {id: gh, env: ''}\n      - {id: gh, env: GH_TOKEN}\n",
    )
    .unwrap();
    assert_eq!(
        errors(unchecked(&[("GH_TOKEN", "x")]), dir.path()),
        ["kiln.yaml:4:23: secret 'gh': the variable's name is empty",]
    );
    assert_eq!(
        errors(unchecked(&[]), dir.path()),
        ["kiln.yaml:4:23: secret 'gh': the variable's name is empty"]
    );

    // A compose file's the same.
    let scratch = Scratch::new();
    let file = scratch.proj().join("compose.yaml");
    std::fs::write(
        &file,
        "services:\n  app:\n    build:\n      context: ./app\n      secrets: [tok, nope]\n      ssh: [default]\nsecrets:\n  tok:\n    environment: TOK\n",
    )
    .unwrap();
    let load = |sources| {
        load_stack_with(
            std::slice::from_ref(&file),
            &ComposeOptions::default(),
            &env_of(&[]),
            sources,
        )
    };
    assert_eq!(
        errors(load(Sources::Unchecked), &scratch.proj()),
        ["compose.yaml:5:22: build secret 'nope' is not defined under the top-level 'secrets:'"]
    );
    assert_eq!(errors(load(Sources::Checked), &scratch.proj()).len(), 3);
    std::fs::write(
        &file,
        "services:\n  app:\n    build:\n      context: ./app\n      secrets: [tok]\n      ssh: [default]\nsecrets:\n  tok:\n    environment: TOK\n",
    )
    .unwrap();
    let loaded = load(Sources::Unchecked).unwrap();
    assert!(loaded.config.images[0].secrets.is_empty());
    assert!(loaded.config.images[0].ssh.is_empty());
}
