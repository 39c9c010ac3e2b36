//! An SSH agent of kiln's own holding private key files for one build, as
//! the docker CLI's `--ssh ID=KEY` holds them in an in-process agent.
//!
//! kiln runs OpenSSH's `ssh-agent` on a socket in a private directory
//! (0700, under `$XDG_RUNTIME_DIR` or the temp dir) and loads the keys
//! with `ssh-add`, rather than parsing keys and signing itself: OpenSSH
//! reads every key format and type its users have (RSA with SHA-2
//! signatures, ECDSA, Ed25519, security keys, certificates beside the
//! key), and whoever forwards SSH keys to a build has OpenSSH. The agent
//! lives as long as the build's session: dropping it kills the agent
//! and removes the directory. Should kiln itself be killed, the agent
//! gets SIGKILL too (`PR_SET_PDEATHSIG`), and the keys expire anyway
//! after the image's `timeout` (`ssh-add -t`).
//!
//! A key protected by a passphrase cannot be used (kiln never asks for
//! one: `SSH_ASKPASS_REQUIRE=force` with an askpass that fails, so
//! `ssh-add` never reads the terminal); loading it into the user's own
//! agent and forwarding that (`ssh: [default]`) is the way.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};

/// How long `ssh-agent` may take to make its socket, and `ssh-add` to
/// load a key.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A running `ssh-agent` with the keys of one SSH id.
pub(crate) struct KeyAgent {
    child: Child,
    dir: PathBuf,
}

impl Drop for KeyAgent {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl KeyAgent {
    /// Starts an agent holding `keys` (for at most `lifetime`), for the
    /// SSH id `id` (named in errors).
    pub async fn start(id: &str, keys: &[PathBuf], lifetime: Duration) -> Result<KeyAgent, String> {
        let dir = private_dir()
            .map_err(|e| format!("cannot make a directory for the SSH agent of ssh '{id}': {e}"))?;
        let socket = dir.join("agent.sock");
        let child = match spawn_agent(&socket) {
            Ok(child) => child,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(format!(
                    "cannot start ssh-agent for ssh '{id}' (kiln serves key files through OpenSSH's ssh-agent and ssh-add): {e}"
                ));
            }
        };
        let mut agent = KeyAgent { child, dir };
        agent.wait_for_socket(id).await?;
        for key in keys {
            add_key(&socket, key, lifetime).await.map_err(|why| {
                format!(
                    "ssh '{id}': ssh-add could not load {}: {why}",
                    key.display()
                )
            })?;
        }
        Ok(agent)
    }

    /// The agent's socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.join("agent.sock")
    }

    /// Until the agent listens (its socket exists), or it has died.
    async fn wait_for_socket(&mut self, id: &str) -> Result<(), String> {
        let socket = self.socket();
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        loop {
            if socket.exists() {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                let said = said(self.child.stderr.as_mut()).await;
                return Err(format!("ssh-agent for ssh '{id}' exited ({status}){said}"));
            }
            if tokio::time::Instant::now() > deadline {
                return Err(format!(
                    "ssh-agent for ssh '{id}' did not start within {}s",
                    START_TIMEOUT.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// A new directory only this user can enter.
fn private_dir() -> std::io::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|d| d.is_dir())
        .unwrap_or_else(std::env::temp_dir);
    let dir = base.join(format!("kiln-ssh-{}", super::new_id()));
    std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
    Ok(dir)
}

/// `ssh-agent -D -a SOCKET`: in the foreground, so it is kiln's child.
fn spawn_agent(socket: &Path) -> std::io::Result<Child> {
    let mut cmd = Command::new("ssh-agent");
    cmd.arg("-D")
        .arg("-a")
        .arg(socket)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        // Ctrl-C at the terminal is kiln's to handle (it drops the agent).
        .process_group(0)
        .kill_on_drop(true);
    // SAFETY: the closure runs in the child between fork and exec and
    // only calls prctl(2), which is async-signal-safe; it touches no
    // memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn()
}

/// `ssh-add -q -t SECONDS -- KEY` into the agent at `socket`, never
/// asking for a passphrase.
async fn add_key(socket: &Path, key: &Path, lifetime: Duration) -> Result<(), String> {
    let mut child = Command::new("ssh-add")
        .arg("-q")
        .arg("-t")
        .arg(lifetime.as_secs().max(60).to_string())
        .arg("--")
        .arg(key)
        .env("SSH_AUTH_SOCK", socket)
        .env("SSH_ASKPASS_REQUIRE", "force")
        .env("SSH_ASKPASS", "false")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run ssh-add: {e}"))?;
    let status = match tokio::time::timeout(START_TIMEOUT, child.wait()).await {
        Ok(status) => status.map_err(|e| e.to_string())?,
        Err(_) => return Err(format!("timed out after {}s", START_TIMEOUT.as_secs())),
    };
    if status.success() {
        return Ok(());
    }
    let said = said(child.stderr.as_mut()).await;
    if said.is_empty() {
        return Err(format!(
            "{status} (a key protected by a passphrase? kiln cannot ask for one: add the key to your own agent with ssh-add and forward it with ssh: [default])"
        ));
    }
    Err(format!("{status}{said}"))
}

/// What a finished OpenSSH tool wrote to stderr, as `: line line` (its
/// `@@@` banners left out, controls made visible), or nothing.
async fn said(stderr: Option<&mut tokio::process::ChildStderr>) -> String {
    let mut bytes = Vec::new();
    if let Some(pipe) = stderr {
        let _ = pipe.take(4096).read_to_end(&mut bytes).await;
    }
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('@'))
        .collect();
    if lines.is_empty() {
        return String::new();
    }
    format!(": {}", crate::sanitize::visible(&lines.join(" ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new key pair in `dir` (OpenSSH's `ssh-keygen`), its private key
    /// 0600 as ssh-add wants it.
    fn keygen(dir: &Path, name: &str, passphrase: &str) -> PathBuf {
        let key = dir.join(name);
        let status = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", passphrase, "-C", name, "-f"])
            .arg(&key)
            .status()
            .unwrap();
        assert!(status.success());
        key
    }

    fn list(socket: &Path) -> String {
        let out = std::process::Command::new("ssh-add")
            .arg("-l")
            .env("SSH_AUTH_SOCK", socket)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[tokio::test]
    async fn holds_the_keys_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let key = keygen(dir.path(), "kiln-unit-key", "");
        let agent = KeyAgent::start("deploy", &[key], Duration::from_secs(600))
            .await
            .unwrap();
        let socket = agent.socket();
        assert!(list(&socket).contains("kiln-unit-key"), "{}", list(&socket));
        let private = agent.dir.clone();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&private).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        drop(agent);
        assert!(!private.exists());
    }

    #[tokio::test]
    async fn a_key_it_cannot_load_is_named_and_never_prompts() {
        let dir = tempfile::tempdir().unwrap();
        let locked = keygen(dir.path(), "locked", "a passphrase");
        let err = KeyAgent::start(
            "deploy",
            std::slice::from_ref(&locked),
            Duration::from_secs(60),
        )
        .await
        .err()
        .unwrap();
        assert!(
            err.starts_with(&format!(
                "ssh 'deploy': ssh-add could not load {}",
                locked.display()
            )),
            "{err}"
        );
        assert!(err.contains("passphrase"), "{err}");
    }
}
