//! What a build asks of the client beside its context: build secrets
//! (`RUN --mount=type=secret`) and SSH agents (`RUN --mount=type=ssh`),
//! as kiln.yaml's `secrets:`/`ssh:` and compose's `build.secrets`/
//! `build.ssh` give them, and the checks both formats share: a secret's
//! file exists, its variable is set, an agent's socket is one, a key file
//! is a file, and the legacy builder (which mounts neither) is not asked.
//!
//! A secret's value never enters a message: what is wrong is said with
//! its id, its file's name or its variable's name. An `env:` secret's
//! value is taken when the stack loads (compose reads the variable from
//! the project's environment, `.env` included, which kiln never puts in
//! its process environment) and held as a [`SecretValue`]: shown as
//! `<hidden>`, zeroed when the last copy is dropped. A file is read only
//! when the daemon asks for it (`engine/session/secrets.rs`).
//!
//! No I/O here but looking at the files named (`stat`).

use std::fmt;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use zeroize::Zeroizing;

use super::{BuilderChoice, ImageConfig};

/// BuildKit's limit on a secret's size (`secretsprovider.MaxSecretSize`).
pub const MAX_SECRET_SIZE: u64 = 500 * 1024;

/// The id an SSH mount uses when it names none.
pub const DEFAULT_SSH_ID: &str = "default";

/// Whether loading the stack checks where build secrets and SSH agents
/// come from (a file exists, a variable is set, an agent's socket is one).
/// A command that builds needs them and checks them as the stack loads, to
/// fail early at the value's `FILE:LINE:COL`; one that builds nothing
/// (`kiln ls`, `logs`, `history`, `push`) does not: a source that does not
/// check is left out of its image, with no error.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sources {
    #[default]
    Checked,
    Unchecked,
}

/// One build secret: `RUN --mount=type=secret,id=ID` gets its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildSecret {
    pub id: String,
    pub source: SecretSource,
}

/// Where a secret's content comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// A file (absolute, or joined with the stack's directory), read when
    /// the daemon asks for it.
    File(PathBuf),
    /// An environment variable, and its value when the stack was loaded.
    Env { var: String, value: SecretValue },
}

/// A secret's content held in memory: never shown (`Debug` says
/// `<hidden>`), zeroed when the last clone is dropped.
#[derive(Clone)]
pub struct SecretValue(Arc<Zeroizing<Vec<u8>>>);

impl SecretValue {
    pub fn new(bytes: Vec<u8>) -> SecretValue {
        SecretValue(Arc::new(Zeroizing::new(bytes)))
    }

    /// The content, for the daemon's request and nothing else.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<hidden>")
    }
}

/// Two values are equal when their contents are (a reload that changed a
/// variable's value changed the image's settings).
impl PartialEq for SecretValue {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

impl Eq for SecretValue {}

/// One SSH agent a build may use: `RUN --mount=type=ssh,id=ID`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshForward {
    pub id: String,
    pub source: SshSource,
}

/// What answers for an SSH id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SshSource {
    /// A running agent's socket: `$SSH_AUTH_SOCK` (no paths given), or a
    /// socket named in `paths`.
    Agent(PathBuf),
    /// Private key files, served by an agent kiln starts for the build.
    Keys(Vec<PathBuf>),
}

impl SecretSource {
    /// Where the content comes from, for `kiln check`: the file or the
    /// variable's name (never the value).
    pub fn describe(&self) -> String {
        match self {
            SecretSource::File(path) => format!("file {}", path.display()),
            SecretSource::Env { var, .. } => format!("env {var}"),
        }
    }
}

impl SshSource {
    /// What answers, for `kiln check`.
    pub fn describe(&self) -> String {
        match self {
            SshSource::Agent(socket) => format!("agent {}", socket.display()),
            SshSource::Keys(keys) => {
                let n = keys.len();
                format!("{n} key{}", if n == 1 { "" } else { "s" })
            }
        }
    }
}

/// A secret from a file, checked: it exists, is a file (or what a file
/// name leads to) and is within BuildKit's size limit. `shown` is the path
/// as written, for the message.
pub(crate) fn file_secret(id: &str, path: PathBuf, shown: &str) -> Result<SecretSource, String> {
    let meta = std::fs::metadata(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            format!(
                "secret '{id}': file {shown} does not exist{}",
                tilde_hint(shown)
            )
        }
        _ => format!("secret '{id}': cannot read file {shown}: {e}"),
    })?;
    if meta.is_dir() {
        return Err(format!("secret '{id}': {shown} is a directory, not a file"));
    }
    if meta.len() > MAX_SECRET_SIZE {
        return Err(format!(
            "secret '{id}': file {shown} is larger than BuildKit's limit for a secret ({} KiB)",
            MAX_SECRET_SIZE / 1024
        ));
    }
    Ok(SecretSource::File(path))
}

/// A secret from the variable `var` (a name: the readers refuse an empty
/// one), which must be set (to anything, even empty, as the docker CLI
/// takes it).
pub(crate) fn env_secret(
    id: &str,
    var: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<SecretSource, String> {
    match env(var) {
        Some(value) => Ok(SecretSource::Env {
            var: var.to_string(),
            value: SecretValue::new(value.into_bytes()),
        }),
        None => Err(format!(
            "secret '{id}': environment variable {var} is not set"
        )),
    }
}

/// What answers for SSH id `id`: with no paths, the agent at
/// `$SSH_AUTH_SOCK`; else one agent socket or key files (not both, as
/// the docker CLI's `--ssh ID=PATH,...`). Each path is `(path to use, as
/// written)`. An error names the path it is about (its index), or none.
pub(crate) fn ssh_source(
    id: &str,
    paths: &[(PathBuf, String)],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<SshSource, (Option<usize>, String)> {
    if paths.is_empty() {
        let Some(sock) = env("SSH_AUTH_SOCK").filter(|s| !s.is_empty()) else {
            return Err((
                None,
                format!(
                    "ssh '{id}' forwards your SSH agent, and SSH_AUTH_SOCK is not set: start an agent (eval $(ssh-agent); ssh-add) or give the key files in 'paths'"
                ),
            ));
        };
        return match std::fs::metadata(&sock) {
            Ok(m) if m.file_type().is_socket() => Ok(SshSource::Agent(PathBuf::from(sock))),
            _ => Err((
                None,
                format!(
                    "ssh '{id}' forwards your SSH agent, and SSH_AUTH_SOCK ({sock}) is not a socket: is the agent still running?"
                ),
            )),
        };
    }
    let mut socket = None;
    let mut keys = Vec::new();
    for (i, (path, shown)) in paths.iter().enumerate() {
        let at = |message: String| (Some(i), message);
        let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => at(format!(
                "ssh '{id}': {shown} does not exist{}",
                tilde_hint(shown)
            )),
            _ => at(format!("ssh '{id}': cannot read {shown}: {e}")),
        })?;
        if meta.file_type().is_socket() {
            if socket.is_some() || !keys.is_empty() {
                return Err(at(one_socket_or_keys(id)));
            }
            socket = Some(path.clone());
        } else if meta.is_file() {
            if socket.is_some() {
                return Err(at(one_socket_or_keys(id)));
            }
            keys.push(path.clone());
        } else {
            return Err(at(format!(
                "ssh '{id}': {shown} is neither a private key file nor an agent's socket"
            )));
        }
    }
    Ok(match socket {
        Some(s) => SshSource::Agent(s),
        None => SshSource::Keys(keys),
    })
}

fn one_socket_or_keys(id: &str) -> String {
    format!("ssh '{id}': give one agent socket or private key files, not both")
}

/// kiln does not expand `~` (nor does the docker CLI: the shell does).
fn tilde_hint(shown: &str) -> &'static str {
    if shown.starts_with("~/") {
        " (kiln does not expand '~': write ${HOME}/…)"
    } else {
        ""
    }
}

/// `path` as written, joined with `dir` unless absolute.
pub(crate) fn join(dir: &Path, path: &str) -> PathBuf {
    dir.join(path).components().collect()
}

impl ImageConfig {
    /// Whether the image's build has secrets or SSH agents, which only
    /// kiln's BuildKit session serves (the legacy builder mounts neither).
    pub fn needs_buildkit(&self) -> bool {
        !(self.secrets.is_empty() && self.ssh.is_empty())
    }
}

/// What is wrong with an image that has secrets or SSH agents and the
/// legacy builder, which mounts neither: `what` is `secrets` or `ssh`.
pub(crate) fn refused_by_legacy(img: &ImageConfig, what: &str) -> Option<String> {
    let has = match what {
        "secrets" => !img.secrets.is_empty(),
        _ => !img.ssh.is_empty(),
    };
    (has && img.builder == BuilderChoice::Legacy).then(|| {
        let mounts = if what == "secrets" {
            "RUN --mount=type=secret"
        } else {
            "RUN --mount=type=ssh"
        };
        format!(
            "'{what}' needs BuildKit, and this image's builder is legacy: the legacy builder cannot serve {mounts}; use builder: buildkit (or auto)"
        )
    })
}

/// A second entry with the same id: `put` keeps the later one, and the
/// file reader says so.
pub(crate) fn duplicate_id(kind: &str, id: &str) -> String {
    format!("{kind} '{id}' is given twice")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_value_is_never_shown() {
        let v = SecretValue::new(b"hunter2".to_vec());
        let s = SecretSource::Env {
            var: "TOKEN".into(),
            value: v.clone(),
        };
        let shown = format!("{s:?} {}", s.describe());
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<hidden>") && shown.contains("env TOKEN"));
        assert_eq!(v.expose(), b"hunter2");
        assert_eq!(v, SecretValue::new(b"hunter2".to_vec()));
        assert_ne!(v, SecretValue::new(b"hunter3".to_vec()));
    }

    #[test]
    fn files_and_variables_are_checked_without_saying_a_value() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tok");
        std::fs::write(&file, "s3cr3t").unwrap();
        assert_eq!(
            file_secret("t", file.clone(), "tok"),
            Ok(SecretSource::File(file))
        );
        let missing = file_secret("t", dir.path().join("nope"), "~/nope").unwrap_err();
        assert_eq!(
            missing,
            "secret 't': file ~/nope does not exist (kiln does not expand '~': write ${HOME}/…)"
        );
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'x'; MAX_SECRET_SIZE as usize + 1]).unwrap();
        assert!(file_secret("t", big, "big")
            .unwrap_err()
            .contains("500 KiB"));
        let env = |k: &str| (k == "SET").then(|| "s3cr3t".to_string());
        assert!(matches!(
            env_secret("t", "SET", &env),
            Ok(SecretSource::Env { .. })
        ));
        let unset = env_secret("t", "UNSET", &env).unwrap_err();
        assert_eq!(unset, "secret 't': environment variable UNSET is not set");
    }

    #[test]
    fn ssh_takes_the_agent_one_socket_or_keys() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("agent.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let key = dir.path().join("id");
        std::fs::write(&key, "KEY").unwrap();
        let sock_s = sock.display().to_string();
        let env = move |k: &str| (k == "SSH_AUTH_SOCK").then(|| sock_s.clone());
        let no_env = |_: &str| None;
        assert_eq!(
            ssh_source("default", &[], &env),
            Ok(SshSource::Agent(sock.clone()))
        );
        let (at, why) = ssh_source("default", &[], &no_env).unwrap_err();
        assert_eq!(at, None);
        assert!(why.contains("SSH_AUTH_SOCK is not set"), "{why}");
        let p = |path: &Path| (path.to_path_buf(), path.display().to_string());
        assert_eq!(
            ssh_source("k", &[p(&key)], &no_env),
            Ok(SshSource::Keys(vec![key.clone()]))
        );
        assert_eq!(
            ssh_source("k", &[p(&sock)], &no_env),
            Ok(SshSource::Agent(sock.clone()))
        );
        let (at, why) = ssh_source("k", &[p(&key), p(&sock)], &no_env).unwrap_err();
        assert_eq!(at, Some(1));
        assert!(why.contains("not both"), "{why}");
        let (at, _) = ssh_source("k", &[p(&key), p(&dir.path().join("x"))], &no_env).unwrap_err();
        assert_eq!(at, Some(1));
    }
}
