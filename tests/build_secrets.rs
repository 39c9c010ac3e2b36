//! Build secrets and SSH forwarding on the real daemon, from kiln.yaml and
//! from a compose file: Dockerfiles `RUN --mount=type=secret` (a file, a
//! variable) and `RUN --mount=type=ssh` (the agent at `$SSH_AUTH_SOCK`,
//! an `ssh-agent` this test starts, and a key file kiln serves through an
//! agent of its own). The image proves each arrived without holding it:
//! a secret's SHA-256, the keys `ssh-add -l` lists (OpenSSH's own tools
//! copied into the image with their libraries: busybox has no SSH client),
//! and a signature made through the forwarded agent that verifies here.
//! Then the secrets' values (and the private key's text) are looked for,
//! and must not be found, in kiln's output, its data directory (history,
//! logs) and `docker save` of the image.
#![allow(clippy::unwrap_used, clippy::string_slice)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::compose::kiln_compose_cmd;
use common::Stack;
use sha2::{Digest, Sha256};

/// OpenSSH's tools a build runs, with the libraries they need, under
/// `dir/` of the stack, beside busybox.
fn ssh_tools(stack: &Stack, dir: &str) {
    let ctx = stack.path(dir);
    std::fs::create_dir_all(ctx.join("root/bin")).unwrap();
    std::fs::copy(common::BUSYBOX, ctx.join("root/bin/busybox")).unwrap();
    for tool in ["/usr/bin/ssh-add", "/usr/bin/ssh-keygen"] {
        let name = Path::new(tool).file_name().unwrap();
        std::fs::copy(tool, ctx.join("root/bin").join(name)).unwrap();
        let ldd = Command::new("ldd").arg(tool).output().unwrap();
        for lib in String::from_utf8_lossy(&ldd.stdout)
            .split_whitespace()
            .filter(|w| w.starts_with('/'))
        {
            let to = ctx.join("root").join(lib.trim_start_matches('/'));
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(lib, to).unwrap();
        }
    }
}

/// An `ssh-agent` of the test's own on a socket in `dir`, holding `key`;
/// killed when dropped.
struct TestAgent {
    child: Child,
    socket: PathBuf,
}

impl TestAgent {
    fn start(dir: &Path, key: &Path) -> TestAgent {
        let socket = dir.join("agent.sock");
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdout(Stdio::null())
            .spawn()
            .expect("ssh-agent (openssh-client)");
        let agent = TestAgent { child, socket };
        assert!(common::eventually(Duration::from_secs(10), || agent
            .socket
            .exists()));
        let added = Command::new("ssh-add")
            .arg("-q")
            .arg(key)
            .env("SSH_AUTH_SOCK", &agent.socket)
            .status()
            .unwrap();
        assert!(added.success());
        agent
    }

    /// What `ssh-add -l` lists in it now.
    fn keys(&self) -> String {
        let out = Command::new("ssh-add")
            .arg("-l")
            .env("SSH_AUTH_SOCK", &self.socket)
            .output()
            .unwrap();
        common::stdout(&out)
    }
}

impl Drop for TestAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A key pair `name` in `dir` (0600, as ssh-add wants), its comment its
/// name.
fn keygen(dir: &Path, name: &str) -> PathBuf {
    let key = dir.join(name);
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(ok.success());
    key
}

/// A value no test could meet by chance.
fn unique(what: &str) -> String {
    let seed = format!(
        "{what}{:?}{}",
        std::time::SystemTime::now(),
        std::process::id()
    );
    format!("{what}-{}", &hex::encode(Sha256::digest(seed))[..24])
}

fn sha256(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The project both tests build: the Dockerfile of `app` mounts secret
/// `tok` (a file) and `gh` (a variable), the default SSH agent (which it
/// also tries to empty) and the SSH id `deploy` (a key file), and signs
/// `msg` through `deploy`.
fn write_project(stack: &Stack, deploy_pub: &Path) {
    ssh_tools(stack, "app");
    // ssh-keygen wants to know who it runs as.
    stack.write("app/root/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n");
    std::fs::copy(deploy_pub, stack.path("app/deploy.pub")).unwrap();
    stack.write("app/msg", "signed in the build\n");
    stack.write(
        "app/Dockerfile",
        r#"FROM scratch
COPY root/ /
COPY deploy.pub msg /
ENV PATH=/bin
RUN --mount=type=secret,id=tok ["/bin/busybox", "sh", "-c", "busybox sha256sum /run/secrets/tok > /tok.sha"]
RUN --mount=type=secret,id=gh ["/bin/busybox", "sh", "-c", "busybox sha256sum /run/secrets/gh > /gh.sha"]
RUN --mount=type=ssh ["/bin/busybox", "sh", "-c", "ssh-add -D; ssh-add -l > /default-keys"]
RUN --mount=type=ssh,id=deploy ["/bin/busybox", "sh", "-c", "ssh-add -l > /deploy-keys && ssh-keygen -Y sign -f /deploy.pub -n kiln /msg"]
"#,
    );
}

/// A file of the built image.
fn cat(image: &str, path: &str) -> String {
    let out = common::docker(&["run", "--rm", image, "/bin/busybox", "cat", path]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    common::stdout(&out)
}

/// What the image proves: each secret's hash, each agent's key, a
/// signature by the deploy key, and the test's agent untouched.
fn check_image(image: &str, tok: &str, gh: &str, deploy_pub: &Path, agent: &TestAgent) {
    assert!(cat(image, "/tok.sha").starts_with(&sha256(tok)));
    assert!(cat(image, "/gh.sha").starts_with(&sha256(gh)));
    let default_keys = cat(image, "/default-keys");
    assert!(default_keys.contains("agent-key"), "{default_keys}");
    assert!(
        agent.keys().contains("agent-key"),
        "ssh-add -D reached the agent"
    );
    let deploy_keys = cat(image, "/deploy-keys");
    assert!(deploy_keys.contains("deploy-key"), "{deploy_keys}");
    assert!(!deploy_keys.contains("agent-key"), "{deploy_keys}");

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("msg.sig"), cat(image, "/msg.sig")).unwrap();
    let public = std::fs::read_to_string(deploy_pub).unwrap();
    std::fs::write(dir.path().join("allowed"), format!("deploy {public}")).unwrap();
    let mut verify = Command::new("ssh-keygen")
        .args(["-Y", "verify", "-I", "deploy", "-n", "kiln", "-f"])
        .arg(dir.path().join("allowed"))
        .arg("-s")
        .arg(dir.path().join("msg.sig"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    verify
        .stdin
        .take()
        .unwrap()
        .write_all(b"signed in the build\n")
        .unwrap();
    assert!(
        verify.wait().unwrap().success(),
        "the signature does not verify"
    );
}

/// Every file under `dir`, read whole.
fn files_under(dir: &Path, into: &mut Vec<(PathBuf, Vec<u8>)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            files_under(&path, into);
        } else if let Ok(bytes) = std::fs::read(&path) {
            into.push((path, bytes));
        }
    }
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// None of `values` in kiln's output, its data directory, or the image
/// (where `present`, the hash the build wrote, is found: the search sees
/// into the image's layers).
fn nowhere(values: &[&str], present: &str, out: &Output, stack: &Stack, image: &str) {
    let mut places: Vec<(PathBuf, Vec<u8>)> = vec![
        ("stdout".into(), out.stdout.clone()),
        ("stderr".into(), out.stderr.clone()),
    ];
    let before = places.len();
    files_under(stack.home.path(), &mut places);
    assert!(
        places
            .iter()
            .skip(before)
            .any(|(p, _)| p.ends_with("history.sqlite")),
        "no history written"
    );
    let saved = common::docker(&["save", image]);
    assert!(saved.status.success());
    assert!(saved.stdout.len() > 1_000_000);
    assert!(contains(&saved.stdout, present));
    places.push(("docker save".into(), saved.stdout));
    for value in values {
        for (place, bytes) in &places {
            assert!(
                !contains(bytes, value),
                "{value} found in {}",
                place.display()
            );
        }
    }
}

/// The key's body, a line of its base64 text (what a leak would show).
fn private_text(key: &Path) -> String {
    let text = std::fs::read_to_string(key).unwrap();
    text.lines().nth(1).unwrap().to_string()
}

/// A project of both tests: the stack, the test's agent (holding
/// `agent-key`), the deploy key, and the two secrets' values.
struct Setup {
    stack: Stack,
    _keys: tempfile::TempDir,
    agent: TestAgent,
    deploy: PathBuf,
    tok: String,
    gh: String,
}

impl Setup {
    fn new() -> Setup {
        let stack = Stack::new();
        let keys = tempfile::tempdir().unwrap();
        let agent = TestAgent::start(keys.path(), &keygen(keys.path(), "agent-key"));
        let deploy = keygen(keys.path(), "deploy-key");
        write_project(&stack, &deploy.with_extension("pub"));
        std::fs::copy(&deploy, stack.path("deploy_key")).unwrap();
        Setup {
            stack,
            _keys: keys,
            agent,
            deploy,
            tok: unique("file-secret"),
            gh: unique("env-secret"),
        }
    }

    /// The build `out` succeeded, its image holds what proves each secret
    /// and agent arrived, and no value is anywhere.
    fn verify(&self, out: &Output) {
        assert!(
            out.status.success(),
            "{}\n{}",
            common::stdout(out),
            common::stderr(out)
        );
        let image = self.stack.tag("app");
        let public = self.deploy.with_extension("pub");
        check_image(&image, &self.tok, &self.gh, &public, &self.agent);
        let values = [&self.tok, &self.gh, &private_text(&self.deploy)];
        let values: Vec<&str> = values.iter().map(|v| v.as_str()).collect();
        nowhere(&values, &sha256(&self.tok), out, &self.stack, &image);
    }
}

#[test]
fn secrets_and_ssh_agents_from_kiln_yaml_reach_the_build_and_nothing_else() {
    require_docker!();
    let t = Setup::new();
    t.stack.write("tok.txt", &t.tok);
    t.stack.config(
        "images:\n  - name: app\n    tags: ['{prefix}/app:latest']\n    secrets:\n      - {id: tok, src: ./tok.txt}\n      - {id: gh, env: GH_TOKEN}\n    ssh:\n      - default\n      - {id: deploy, paths: [./deploy_key]}\n",
    );
    let kiln = |args: &[&str]| {
        t.stack
            .kiln_cmd(args)
            .env("GH_TOKEN", &t.gh)
            .env("SSH_AUTH_SOCK", &t.agent.socket)
            .output()
            .unwrap()
    };
    let check = kiln(&["check"]);
    let listed = common::stdout(&check);
    assert!(check.status.success(), "{}", common::stderr(&check));
    assert!(
        listed.contains("secrets: tok (file ") && listed.contains("gh (env GH_TOKEN)"),
        "{listed}"
    );
    assert!(listed.contains("ssh: default (agent "), "{listed}");
    assert!(listed.contains("deploy (1 key)"), "{listed}");
    assert!(!listed.contains(&t.gh), "{listed}");

    t.verify(&kiln(&["build", "--json", "--no-cache"]));
}

#[test]
fn secrets_and_ssh_agents_from_a_compose_file_reach_the_build_and_nothing_else() {
    require_docker!();
    let t = Setup::new();
    t.stack.write("secrets/tok.txt", &t.tok);
    // The variable comes from .env, which compose reads and kiln never
    // puts in its process environment.
    t.stack.write(".env", &format!("GH_TOKEN={}\n", t.gh));
    t.stack.write(
        "compose.yaml",
        &format!(
            "services:\n  app:\n    image: {}\n    build:\n      context: ./app\n      secrets:\n        - npm_token\n        - source: github\n          target: gh\n      ssh: [default, deploy=./deploy_key]\nsecrets:\n  npm_token:\n    file: ./secrets/tok.txt\n  github:\n    environment: GH_TOKEN\n",
            t.stack.tag("app")
        ),
    );
    // compose's short form names the id after the secret.
    let dockerfile = std::fs::read_to_string(t.stack.path("app/Dockerfile")).unwrap();
    t.stack.write(
        "app/Dockerfile",
        &dockerfile
            .replace("id=tok", "id=npm_token")
            .replace("secrets/tok", "secrets/npm_token"),
    );
    t.verify(&with_agent(
        &t.stack,
        &t.agent,
        &["build", "--plain", "--no-cache"],
    ));
}

/// kiln on `stack`'s compose file with the test's agent as `$SSH_AUTH_SOCK`.
fn with_agent(stack: &Stack, agent: &TestAgent, args: &[&str]) -> Output {
    kiln_compose_cmd(stack, args)
        .env("SSH_AUTH_SOCK", &agent.socket)
        .env_remove("GH_TOKEN")
        .output()
        .unwrap()
}

/// `git daemon` serving `base` on a free port of 127.0.0.1; killed when
/// dropped.
struct GitDaemon {
    child: Child,
    port: u16,
}

impl GitDaemon {
    fn start(base: &Path) -> GitDaemon {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("git")
            .arg("daemon")
            .arg("--reuseaddr")
            .arg("--export-all")
            .arg("--listen=127.0.0.1")
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={}", base.display()))
            .arg(base)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("git daemon");
        let daemon = GitDaemon { child, port };
        assert!(common::eventually(Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        }));
        daemon
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_git_context_gets_its_secrets_too() {
    require_docker!();
    let stack = Stack::new();
    let repo = stack.path("srv/repo");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::copy(common::BUSYBOX, repo.join("busybox")).unwrap();
    std::fs::write(
        repo.join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN --mount=type=secret,id=tok [\"/bin/busybox\", \"sh\", \"-c\", \"/bin/busybox sha256sum /run/secrets/tok > /tok.sha\"]\n",
    )
    .unwrap();
    let git = |args: &[&str]| {
        let ok = Command::new("git")
            .args(["-c", "user.email=kiln@test", "-c", "user.name=kiln"])
            .args(args)
            .current_dir(&repo)
            .output()
            .unwrap();
        assert!(ok.status.success(), "{}", common::stderr(&ok));
    };
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "a context"]);
    let daemon = GitDaemon::start(&stack.path("srv"));
    let tok = unique("git-secret");
    stack.write("tok.txt", &tok);
    stack.config(&format!(
        "images:\n  - name: g\n    context: git://127.0.0.1:{}/repo\n    tags: ['{{prefix}}/g:latest']\n    secrets: [{{id: tok, src: ./tok.txt}}]\n",
        daemon.port
    ));
    let out = stack.kiln(&["build", "--plain", "--no-cache"]);
    assert!(
        out.status.success(),
        "{}\n{}",
        common::stdout(&out),
        common::stderr(&out)
    );
    let image = stack.tag("g");
    assert!(cat(&image, "/tok.sha").starts_with(&sha256(&tok)));
    nowhere(&[&tok], &sha256(&tok), &out, &stack, &image);
}
