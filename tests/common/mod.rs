//! Shared test harness: temporary stacks built on the real daemon from
//! `FROM scratch` plus Debian's static busybox (nothing is ever pulled), the
//! kiln binary run against them, and cleanup of every image a test made.
//!
//! BuildKit's cache outlives the images a test removes, so a test that reads
//! what a step prints builds with `--no-cache`: on a second run of the suite
//! the step would otherwise be a silent cache hit.
#![allow(dead_code)]

pub mod compose;
pub mod engines;
pub mod fake_daemon;
pub mod registry;
pub mod tmux;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const BUSYBOX: &str = "/bin/busybox";

/// Whether the daemon is reachable. With KILN_REQUIRE_DOCKER=1 (CI) an
/// unreachable daemon fails the test instead of skipping it.
pub fn docker_available() -> bool {
    let ok = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        cannot_run("the Docker daemon is not reachable (is dockerd running? run scripts/setup)");
    }
    ok
}

/// The calling test cannot run here, because `why` (no daemon, no tmux,
/// no tmpfs). With KILN_REQUIRE_DOCKER=1 (CI, `scripts/test`) nothing may
/// be skipped: the test fails. Without it, the test is skipped, saying so.
pub fn cannot_run(why: &str) {
    if std::env::var("KILN_REQUIRE_DOCKER").as_deref() == Ok("1") {
        panic!("KILN_REQUIRE_DOCKER=1 but {why}");
    }
    say_skipped(why);
}

// The test's own output, which the harness shows with it.
#[allow(clippy::print_stderr)]
fn say_skipped(why: &str) {
    eprintln!("skipping: {why} (set KILN_REQUIRE_DOCKER=1 to make this a failure)");
}

/// The Podman version when the tests' daemon (`DOCKER_HOST`, as the docker
/// CLI and kiln read it) is Podman's service, from its `/version`'s
/// "Podman Engine" component; None for a Docker Engine.
pub fn podman_version() -> Option<String> {
    let out = Command::new("docker")
        .args([
            "version",
            "--format",
            "{{range .Server.Components}}{{if eq .Name \"Podman Engine\"}}{{.Version}}{{end}}{{end}}",
        ])
        .output()
        .ok()?;
    let v = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !v.is_empty()).then_some(v)
}

/// The calling test checks what Podman does not have by its nature
/// (`why`): it is skipped there, saying so, also under
/// KILN_REQUIRE_DOCKER=1 (it is no missing set-up). Written to the
/// process's stderr itself, past the test harness's capture, so that the
/// run shows every such skip.
pub fn not_on_podman(why: &str) -> bool {
    use std::io::Write;
    match podman_version() {
        Some(v) => {
            let _ = writeln!(
                std::io::stderr(),
                "skipping {} on Podman {v} (DOCKER_HOST): {why}",
                std::thread::current().name().unwrap_or("a test")
            );
            true
        }
        None => false,
    }
}

/// Skip the calling test on Podman, saying why (see [`not_on_podman`]).
#[macro_export]
macro_rules! skip_on_podman {
    ($why:expr) => {
        if common::not_on_podman($why) {
            return;
        }
    };
}

/// Send `signal` to process `pid` (a kiln the test started).
pub fn send_signal(pid: u32, signal: i32) {
    let pid = i32::try_from(pid).expect("a process id fits kill(2)");
    // SAFETY: kill(2) takes two integers and touches no memory of ours.
    unsafe { libc::kill(pid, signal) };
}

/// Skip the calling test when there is no daemon (and it is not required).
#[macro_export]
macro_rules! require_docker {
    () => {
        if !common::docker_available() {
            return;
        }
    };
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A stack in a temp dir whose images are all tagged under a unique prefix
/// and removed when the stack is dropped.
pub struct Stack {
    pub dir: tempfile::TempDir,
    /// e.g. `kiln-test-12345-3`
    pub prefix: String,
    /// Isolated data/state dirs for kiln (history, logs).
    pub home: tempfile::TempDir,
}

impl Stack {
    pub fn new() -> Stack {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        Stack {
            dir: tempfile::tempdir().expect("tempdir"),
            prefix: format!("kiln-test-{}-{}", std::process::id(), n),
            home: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// The tag of image `name` in this stack.
    pub fn tag(&self, name: &str) -> String {
        format!("{}/{}:latest", self.prefix, name)
    }

    pub fn write(&self, rel: &str, content: &str) {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }

    /// `kiln.yaml`, with `{prefix}` replaced by this stack's prefix.
    pub fn config(&self, yaml: &str) {
        self.write("kiln.yaml", &yaml.replace("{prefix}", &self.prefix));
    }

    /// A base image context in `dir`: scratch + busybox, plus `extra` lines.
    pub fn busybox_context(&self, dir: &str, extra: &str) {
        std::fs::create_dir_all(self.path(dir)).unwrap();
        std::fs::copy(BUSYBOX, self.path(&format!("{dir}/busybox")))
            .expect("copy busybox (run scripts/setup)");
        self.write(
            &format!("{dir}/Dockerfile"),
            &format!(
                "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\nENV PATH=/bin\n{}",
                extra.replace("{prefix}", &self.prefix)
            ),
        );
    }

    /// A context whose Dockerfile starts FROM another image of this stack.
    pub fn child_context(&self, dir: &str, parent: &str, body: &str) {
        self.write(
            &format!("{dir}/Dockerfile"),
            &format!("FROM {}\n{}", self.tag(parent), body),
        );
    }

    /// Run kiln with `-f <stack>/kiln.yaml` and isolated data dirs.
    pub fn kiln(&self, args: &[&str]) -> Output {
        self.kiln_cmd(args).output().expect("run kiln")
    }

    pub fn kiln_cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kiln"));
        cmd.arg("-f").arg(self.path("kiln.yaml")).args(args);
        isolate(&mut cmd, self.home.path());
        cmd
    }

    /// Every image whose repository starts with this stack's prefix.
    pub fn images(&self) -> Vec<String> {
        let out = Command::new("docker")
            .args(["images", "--format", "{{.Repository}}:{{.Tag}}"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.starts_with(&self.prefix))
            .map(String::from)
            .collect()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        remove_images(&self.images());
    }
}

/// Remove these images (by tag). `--no-prune` keeps the untagged layers
/// under them: builds of other tests running at the same time may have
/// just found them as cache, and removing them made those builds fail with
/// "No such image".
pub fn remove_images(images: &[String]) {
    if !images.is_empty() {
        let _ = Command::new("docker")
            .args(["rmi", "-f", "--no-prune"])
            .args(images)
            .output();
    }
}

/// Removes the listed images when dropped (see [`remove_images`]).
pub struct RemoveImages(pub Vec<String>);

impl Drop for RemoveImages {
    fn drop(&mut self) {
        remove_images(&self.0);
    }
}

/// Keep kiln's history, logs and docker config of a test away from the user's.
pub fn isolate(cmd: &mut Command, home: &Path) {
    cmd.env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_STATE_HOME", home.join("state"))
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env_remove("KILN_FILE")
        .env_remove("COMPOSE_FILE")
        .env_remove("COMPOSE_PATH_SEPARATOR")
        .env("NO_COLOR", "1");
}

/// The JSON events kiln printed, one per line.
pub fn events(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// Events of one type (and image, when given).
pub fn of_type<'a>(
    events: &'a [serde_json::Value],
    ty: &str,
    image: Option<&str>,
) -> Vec<&'a serde_json::Value> {
    events
        .iter()
        .filter(|e| e["type"] == ty && image.is_none_or(|i| e["image"] == i))
        .collect()
}

/// Position of the first event matching type and image.
pub fn position(events: &[serde_json::Value], ty: &str, image: &str) -> usize {
    events
        .iter()
        .position(|e| e["type"] == ty && e["image"] == image)
        .unwrap_or_else(|| panic!("no {ty} event for {image}"))
}

pub fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .output()
        .expect("run docker")
}

/// `docker image inspect` as JSON.
pub fn inspect(image: &str) -> Option<serde_json::Value> {
    let out = docker(&["image", "inspect", image]);
    if !out.status.success() {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    v.get(0).cloned()
}

/// Poll `check` until it holds or `limit` passes (the daemon cleans up
/// asynchronously); returns whether it held.
pub fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if check() {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `cmd` as words for sh: `env` with its environment spelled out (a tmux
/// server does not pass a client's environment on), then the program and
/// its arguments, each quoted.
pub fn shell_words(cmd: &Command) -> String {
    let mut line = String::from("env");
    for (k, v) in cmd.get_envs() {
        let k = k.to_string_lossy();
        match v {
            Some(v) => line.push_str(&format!(" {k}={}", sh_quote(&v.to_string_lossy()))),
            None => line.push_str(&format!(" -u {k}")),
        }
    }
    line.push(' ');
    line.push_str(&sh_quote(&cmd.get_program().to_string_lossy()));
    for a in cmd.get_args() {
        line.push(' ');
        line.push_str(&sh_quote(&a.to_string_lossy()));
    }
    line
}

/// `s` quoted for sh.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}
