//! A build box over `ssh://`: the test host `scripts/hosts-ssh` starts
//! (10.213.0.2, a network namespace with a dockerd and an sshd of its own;
//! port 2222 is an sshd on which `docker` is missing). kiln runs the real
//! `ssh` (through a wrapper that gives it the test's config with `-F`: ssh
//! reads `~/.ssh/config` from the passwd home, not `$HOME`), which runs
//! `docker system dial-stdio` there; the images land on that dockerd, not
//! on the local one.
//!
//! Builds with kiln's BuildKit session and with the legacy builder, change
//! detection, a docker context naming the host, many builds on one shared
//! login, and each way ssh can fail (an unknown or changed host key, a
//! refused login, no docker there, a docker there without its daemon (port
//! 2223), no ssh here): a clear error, exit 3, never a hang.
#![allow(clippy::unwrap_used, clippy::string_slice)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{events, of_type, stderr, Stack};
use sha2::{Digest, Sha256};

const HOST: &str = "10.213.0.2";
const CLIENT: &str = "/var/lib/kilnssh/client";
const REMOTE_SOCKET: &str = "unix:///run/kilnssh/docker.sock";

/// Longer than any run here should take: a run still going then is hung.
const HANG: Duration = Duration::from_secs(180);

/// Whether the test host is up (with KILN_REQUIRE_DOCKER=1 it must be).
fn ssh_host_up() -> bool {
    let up = Path::new(CLIENT).join("ssh_config").exists()
        && remote_docker(&["version", "--format", "{{.Server.Version}}"])
            .status
            .success();
    if !up {
        common::cannot_run(
            "the ssh:// test host (10.213.0.2) is not up (run scripts/setup, or scripts/hosts-ssh)",
        );
    }
    up
}

macro_rules! require_ssh_host {
    () => {
        if !ssh_host_up() {
            return;
        }
    };
}

/// The docker CLI on the test host's own daemon, through its socket.
fn remote_docker(args: &[&str]) -> Output {
    Command::new("docker")
        .env("DOCKER_HOST", REMOTE_SOCKET)
        .args(args)
        .output()
        .expect("run docker")
}

/// Removes the listed images from the test host's daemon when dropped.
struct RemoveRemote(Vec<String>);

impl Drop for RemoveRemote {
    fn drop(&mut self) {
        let mut args = vec!["rmi", "-f", "--no-prune"];
        args.extend(self.0.iter().map(String::as_str));
        let _ = remote_docker(&args);
    }
}

/// The real ssh, wherever it is on PATH.
fn real_ssh() -> PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("ssh"))
        .find(|p| p.is_file())
        .expect("ssh on PATH (scripts/setup installs openssh-client)")
}

/// A directory with an `ssh` that runs the real one with `config`.
fn ssh_wrapper(dir: &Path, config: &Path) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = format!(
        "#!/bin/sh\nexec '{}' -F '{}' \"$@\"\n",
        real_ssh().display(),
        config.display()
    );
    let path = bin.join("ssh");
    std::fs::write(&path, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

/// An ssh config for the test host with this key and known_hosts.
fn ssh_config(dir: &Path, key: &str, known_hosts: &Path) -> PathBuf {
    let path = dir.join("ssh_config");
    std::fs::write(
        &path,
        format!(
            "Host {HOST}\n  User root\n  IdentityFile {CLIENT}/{key}\n  IdentitiesOnly yes\n  \
             UserKnownHostsFile {}\n  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n",
            known_hosts.display()
        ),
    )
    .unwrap();
    path
}

/// PATH with the wrapper first.
fn path_with(bin: &Path) -> String {
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// kiln in `stack` with `DOCKER_HOST=host` and ssh from `bin`.
fn kiln_over(stack: &Stack, host: &str, bin: &Path, args: &[&str]) -> Output {
    let mut cmd = stack.kiln_cmd(args);
    cmd.env("DOCKER_HOST", host).env("PATH", path_with(bin));
    finish(cmd)
}

/// Runs `cmd` to its end; fails the test if it is still running after
/// [`HANG`] (killing it).
fn finish(mut cmd: Command) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kiln");
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > HANG {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "kiln hung over ssh:// ({})",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.wait_with_output().unwrap()
}

/// A two-image stack: a base and an app built on it, which copies a file.
fn two_images(stack: &Stack, builder: &str) {
    stack.busybox_context("base", "RUN echo base > /base.txt\n");
    stack.child_context(
        "app",
        "base",
        "COPY hello.txt /hello.txt\nRUN cat /hello.txt /base.txt\n",
    );
    stack.write("app/hello.txt", "hello over ssh\n");
    stack.config(&format!(
        "defaults: {{builder: {builder}}}\nimages:\n  - name: base\n    tags: [\"{{prefix}}/base:latest\"]\n  - name: app\n    tags: [\"{{prefix}}/app:latest\"]\n"
    ));
}

fn the_test_hosts_config(dir: &Path) -> PathBuf {
    ssh_wrapper(dir, &Path::new(CLIENT).join("ssh_config"))
}

/// Built both images on the test host's daemon (and not on the local one).
fn assert_built_remotely(stack: &Stack, out: &Output) -> Vec<serde_json::Value> {
    assert!(out.status.success(), "{}", stderr(out));
    let ev = events(out);
    for image in ["base", "app"] {
        assert_eq!(
            of_type(&ev, "built", Some(image)).len(),
            1,
            "{image}: {ev:?}"
        );
        let tag = stack.tag(image);
        assert!(
            remote_docker(&["image", "inspect", &tag]).status.success(),
            "{tag} is not on the test host's daemon"
        );
        assert!(common::inspect(&tag).is_none(), "{tag} was built locally");
    }
    ev
}

#[test]
fn a_stack_builds_over_ssh_with_kilns_buildkit_session_and_then_is_unchanged() {
    require_ssh_host!();
    let stack = Stack::new();
    let _cleanup = RemoveRemote(vec![stack.tag("base"), stack.tag("app")]);
    two_images(&stack, "buildkit");
    let tmp = tempfile::tempdir().unwrap();
    let bin = the_test_hosts_config(tmp.path());
    let host = format!("ssh://root@{HOST}");

    let out = kiln_over(&stack, &host, &bin, &["build", "--json", "--no-cache"]);
    let ev = assert_built_remotely(&stack, &out);
    for image in ["base", "app"] {
        assert_eq!(
            of_type(&ev, "started", Some(image))[0]["builder"],
            "buildkit"
        );
        let notices: Vec<String> = of_type(&ev, "notice", Some(image))
            .iter()
            .map(|n| n["message"].as_str().unwrap().to_string())
            .collect();
        // kiln's own context transfer, not the tar fallback.
        assert!(
            notices.iter().any(|n| n.contains("the daemon asked for")),
            "{image}: {notices:?}"
        );
        assert!(
            !notices.iter().any(|n| n.contains("could not start")),
            "{image}: {notices:?}"
        );
    }
    let steps: Vec<&str> = of_type(&ev, "step", Some("app"))
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(
        steps
            .iter()
            .any(|s| s.contains("COPY hello.txt /hello.txt")),
        "{steps:?}"
    );

    let again = kiln_over(&stack, &host, &bin, &["build", "--json"]);
    assert!(again.status.success(), "{}", stderr(&again));
    let ev = events(&again);
    for image in ["base", "app"] {
        let skipped = of_type(&ev, "skipped", Some(image));
        assert_eq!(skipped.len(), 1, "{image}: {ev:?}");
        assert_eq!(skipped[0]["reason"], "unchanged");
    }
}

#[test]
fn a_stack_builds_over_ssh_with_the_legacy_builder() {
    require_ssh_host!();
    let stack = Stack::new();
    let _cleanup = RemoveRemote(vec![stack.tag("base"), stack.tag("app")]);
    two_images(&stack, "legacy");
    let tmp = tempfile::tempdir().unwrap();
    let bin = the_test_hosts_config(tmp.path());

    // Each connection its own login, as without kiln's shared one.
    let mut cmd = stack.kiln_cmd(&["build", "--json", "--no-cache"]);
    cmd.env("DOCKER_HOST", format!("ssh://root@{HOST}:22"))
        .env("PATH", path_with(&bin))
        .env("KILN_SSH_MULTIPLEX", "0");
    let out = finish(cmd);
    let ev = assert_built_remotely(&stack, &out);
    assert_eq!(of_type(&ev, "started", Some("app"))[0]["builder"], "legacy");
    let built = &of_type(&ev, "built", Some("app"))[0];
    assert_eq!(built["steps"], 3, "{built}");
    let lines: Vec<&str> = of_type(&ev, "log", Some("app"))
        .iter()
        .map(|l| l["line"].as_str().unwrap())
        .collect();
    assert!(
        lines.iter().any(|l| l.contains("hello over ssh")),
        "{lines:?}"
    );
}

#[test]
fn many_builds_at_once_share_one_login_within_sshds_default_max_sessions() {
    require_ssh_host!();
    // The test host's sshd keeps the default MaxSessions (10): kiln's
    // shared login must not ask for more sessions than that.
    let stack = Stack::new();
    let names: Vec<String> = (1..=9).map(|i| format!("svc{i}")).collect();
    let mut cleanup = vec![stack.tag("base")];
    cleanup.extend(names.iter().map(|n| stack.tag(n)));
    let _cleanup = RemoveRemote(cleanup);
    stack.busybox_context("base", "");
    let mut yaml = String::from("images:\n  - name: base\n    tags: [\"{prefix}/base:latest\"]\n");
    for name in &names {
        stack.child_context(name, "base", &format!("RUN echo {name} > /name\n"));
        yaml.push_str(&format!(
            "  - name: {name}\n    tags: [\"{{prefix}}/{name}:latest\"]\n"
        ));
    }
    stack.config(&yaml);
    let tmp = tempfile::tempdir().unwrap();
    let bin = the_test_hosts_config(tmp.path());
    let out = kiln_over(
        &stack,
        &format!("ssh://root@{HOST}"),
        &bin,
        &["build", "--json", "-j", "9"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let ev = events(&out);
    for name in &names {
        assert_eq!(of_type(&ev, "built", Some(name)).len(), 1, "{name}: {ev:?}");
        // Every connection it asked for was granted: the BuildKit session
        // too (a refused one falls back to a tar, saying so).
        let notices: Vec<&str> = of_type(&ev, "notice", Some(name))
            .iter()
            .map(|n| n["message"].as_str().unwrap())
            .collect();
        assert_eq!(
            of_type(&ev, "started", Some(name))[0]["builder"],
            "buildkit"
        );
        assert!(
            !notices.iter().any(|n| n.contains("could not start")),
            "{name}: {notices:?}"
        );
    }
}

#[test]
fn a_docker_context_whose_host_is_ssh_is_followed() {
    require_ssh_host!();
    let stack = Stack::new();
    let _cleanup = RemoveRemote(vec![stack.tag("base"), stack.tag("app")]);
    two_images(&stack, "auto");
    let tmp = tempfile::tempdir().unwrap();
    let bin = the_test_hosts_config(tmp.path());
    // A docker config of the test's own: currentContext "buildbox", its
    // meta stored under the sha256 of the name, as `docker context create`
    // writes it.
    let config = tmp.path().join("docker");
    let id = hex::encode(Sha256::digest(b"buildbox"));
    let meta = config.join("contexts/meta").join(id);
    std::fs::create_dir_all(&meta).unwrap();
    std::fs::write(
        meta.join("meta.json"),
        format!(
            r#"{{"Name":"buildbox","Metadata":{{}},"Endpoints":{{"docker":{{"Host":"ssh://root@{HOST}","SkipTLSVerify":false}}}}}}"#
        ),
    )
    .unwrap();
    std::fs::write(
        config.join("config.json"),
        r#"{"currentContext":"buildbox"}"#,
    )
    .unwrap();

    let mut cmd = stack.kiln_cmd(&["build", "--json"]);
    cmd.env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .env("DOCKER_CONFIG", &config)
        .env("PATH", path_with(&bin));
    let out = finish(cmd);
    assert_built_remotely(&stack, &out);
}

/// kiln run against the test host with `config`'s ssh fails at connecting
/// (exit 3) with one line that says `says`, and no control character.
fn fails_to_connect(host: &str, path: String, says: &[&str]) -> String {
    let stack = Stack::new();
    stack.busybox_context("base", "");
    stack.config("images:\n  - name: base\n    tags: [\"{prefix}/base:latest\"]\n");
    let mut cmd = stack.kiln_cmd(&["build", "--plain"]);
    cmd.env("DOCKER_HOST", host).env("PATH", path);
    let out = finish(cmd);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.starts_with(&format!(
            "kiln: error: cannot reach the Docker daemon at {host} (from DOCKER_HOST): "
        )),
        "{err}"
    );
    for s in says {
        assert!(err.contains(s), "wanted {s:?} in: {err}");
    }
    assert!(!err.trim_end().chars().any(|c| c.is_control()), "{err:?}");
    err
}

#[test]
fn an_unknown_host_key_says_to_log_in_once_and_accept_it() {
    require_ssh_host!();
    let tmp = tempfile::tempdir().unwrap();
    let known = tmp.path().join("known_hosts");
    std::fs::write(&known, "").unwrap();
    let bin = ssh_wrapper(tmp.path(), &ssh_config(tmp.path(), "id_ed25519", &known));
    fails_to_connect(
        &format!("ssh://root@{HOST}"),
        path_with(&bin),
        &[
            &format!("the host key of root@{HOST} is not known"),
            &format!("log in once with `ssh root@{HOST}`"),
        ],
    );
}

#[test]
fn a_changed_host_key_says_it_does_not_match_and_how_to_replace_it() {
    require_ssh_host!();
    let tmp = tempfile::tempdir().unwrap();
    // known_hosts names another key for the host (the client's own key
    // will do: it is an ed25519 key, just not the host's).
    let other = std::fs::read_to_string(format!("{CLIENT}/other_ed25519.pub")).unwrap();
    let key: Vec<&str> = other.split_whitespace().take(2).collect();
    let known = tmp.path().join("known_hosts");
    std::fs::write(&known, format!("{HOST} {}\n", key.join(" "))).unwrap();
    let bin = ssh_wrapper(tmp.path(), &ssh_config(tmp.path(), "id_ed25519", &known));
    fails_to_connect(
        &format!("ssh://root@{HOST}"),
        path_with(&bin),
        &[
            "does not match the one in your known_hosts",
            &format!("ssh-keygen -R '{HOST}'"),
        ],
    );
}

#[test]
fn a_refused_login_says_which_key_setup_kiln_needs() {
    require_ssh_host!();
    let tmp = tempfile::tempdir().unwrap();
    let known = Path::new(CLIENT).join("known_hosts");
    let bin = ssh_wrapper(tmp.path(), &ssh_config(tmp.path(), "other_ed25519", &known));
    fails_to_connect(
        &format!("ssh://root@{HOST}"),
        path_with(&bin),
        &[
            &format!("root@{HOST} refused the login"),
            "Permission denied (publickey)",
            "ssh-agent",
            "authorized_keys",
        ],
    );
}

#[test]
fn a_host_without_docker_says_to_install_the_docker_cli_there() {
    require_ssh_host!();
    let tmp = tempfile::tempdir().unwrap();
    let bin = the_test_hosts_config(tmp.path());
    fails_to_connect(
        &format!("ssh://root@{HOST}:2222"),
        path_with(&bin),
        &[
            &format!("root@{HOST}:2222 has no `docker` command"),
            "install the docker CLI there",
        ],
    );
}

#[test]
fn a_remote_docker_without_its_daemon_says_dial_stdio_could_not_reach_it() {
    require_ssh_host!();
    // Port 2223: docker is there, but its DOCKER_HOST names no daemon.
    let tmp = tempfile::tempdir().unwrap();
    let bin = the_test_hosts_config(tmp.path());
    fails_to_connect(
        &format!("ssh://root@{HOST}:2223"),
        path_with(&bin),
        &[
            &format!("docker on root@{HOST}:2223 cannot reach its daemon"),
            "failed to open the raw stream connection",
            "start dockerd there",
        ],
    );
}

#[test]
fn no_ssh_here_says_to_install_it() {
    // Needs no test host: ssh is not even found.
    let empty = tempfile::tempdir().unwrap();
    fails_to_connect(
        &format!("ssh://root@{HOST}"),
        empty.path().display().to_string(),
        &["ssh is not installed", "openssh-client"],
    );
}
