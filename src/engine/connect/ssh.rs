//! A daemon over ssh, as the docker CLI reaches `ssh://[user@]host[:port]`:
//! `ssh [-l user] [-p port] -- host docker system dial-stdio`, the Docker
//! API spoken over the process's stdin and stdout ([`super::pipe`]). The
//! user's own `ssh` runs, so their `~/.ssh/config`, agent, keys,
//! known_hosts and any `ControlMaster` apply; `BatchMode=yes` makes it fail
//! instead of asking for a password or about an unknown host key.
//!
//! When ssh fails, what it printed is read for why ([`SshError`]): the host
//! key, the login, the remote docker; its words are sanitised before they
//! are quoted.

use std::fmt;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use crate::sanitize::sanitize;

/// How long ssh may take to reach the host (its `ConnectTimeout`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The most of ssh's error output kept to explain a failure.
pub(super) const STDERR_LIMIT: usize = 16 * 1024;

/// How a connection uses ssh's multiplexing (see `super::mux`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mux {
    /// Its own login.
    Alone,
    /// Starts the master at this socket.
    Master(std::path::PathBuf),
    /// A session on the master at this socket.
    Shared(std::path::PathBuf),
}

/// Where `ssh://[user@]host[:port]` points.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SshTarget {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

impl fmt::Display for SshTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(user) = &self.user {
            write!(f, "{user}@")?;
        }
        if self.host.contains(':') {
            write!(f, "[{}]", self.host)?;
        } else {
            write!(f, "{}", self.host)?;
        }
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        Ok(())
    }
}

impl SshTarget {
    /// Reads `ssh://[user@]host[:port]`, refusing what the docker CLI
    /// refuses (a password, a path, a query); the error says what to write.
    pub fn parse(url: &str) -> Result<SshTarget, String> {
        let rest = url
            .strip_prefix("ssh://")
            .ok_or_else(|| "an ssh host is written ssh://[user@]host[:port]".to_string())?;
        let (authority, tail) = match rest.find(['/', '?', '#']) {
            Some(at) => rest.split_at(at),
            None => (rest, ""),
        };
        if !tail.is_empty() && tail != "/" {
            return Err(format!(
                "nothing may follow the host in an ssh:// address (write ssh://{authority})"
            ));
        }
        let (user, hostport) = match authority.rsplit_once('@') {
            Some((user, hostport)) => (Some(user), hostport),
            None => (None, authority),
        };
        if let Some(user) = user {
            if user.contains(':') {
                return Err("a password in an ssh:// address is not supported: use a key (ssh-agent or IdentityFile)".into());
            }
            if user.is_empty() {
                return Err("the user before '@' is empty (write ssh://user@host)".into());
            }
        }
        let (host, port) = split_port(hostport)?;
        if host.is_empty() {
            return Err("the ssh:// address names no host (write ssh://[user@]host[:port])".into());
        }
        if host.starts_with('-') || user.is_some_and(|u| u.starts_with('-')) {
            return Err("a host or user may not start with '-'".into());
        }
        if host
            .chars()
            .chain(user.unwrap_or_default().chars())
            .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err("spaces or control characters in an ssh:// address".into());
        }
        Ok(SshTarget {
            user: user.map(String::from),
            host: host.to_string(),
            port,
        })
    }

    /// The command that opens one connection to the remote daemon, on its
    /// own login or kiln's shared one ([`Mux`]).
    pub fn command(&self, mux: &Mux) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new("ssh");
        cmd.args(["-o", "BatchMode=yes"])
            .arg("-o")
            .arg(format!("ConnectTimeout={}", CONNECT_TIMEOUT.as_secs()))
            .arg("-T");
        match mux {
            Mux::Alone => {}
            Mux::Master(socket) => {
                cmd.args(["-o", "ControlMaster=yes", "-o", "ControlPersist=no", "-o"])
                    .arg(control_path(socket));
            }
            Mux::Shared(socket) => {
                cmd.args(["-o", "ControlMaster=no", "-o"])
                    .arg(control_path(socket));
            }
        }
        if let Some(user) = &self.user {
            cmd.arg("-l").arg(user);
        }
        if let Some(port) = self.port {
            cmd.arg("-p").arg(port.to_string());
        }
        cmd.arg("--")
            .arg(&self.host)
            .args(["docker", "system", "dial-stdio"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    /// How to try the login by hand, in hints: `ssh [-p PORT] [USER@]HOST`.
    fn by_hand(&self) -> String {
        let port = self.port.map(|p| format!("-p {p} ")).unwrap_or_default();
        let user = self
            .user
            .as_deref()
            .map(|u| format!("{u}@"))
            .unwrap_or_default();
        format!("ssh {port}{user}{}", self.host)
    }

    /// The host as known_hosts names it (`[host]:port` off port 22).
    fn known_as(&self) -> String {
        match self.port {
            Some(port) if port != 22 => format!("[{}]:{port}", self.host),
            _ => self.host.clone(),
        }
    }
}

/// `url` with the password of a `user:password@` replaced by `***`, to be
/// quoted in an error.
pub fn without_password(url: &str) -> String {
    let Some(rest) = url.strip_prefix("ssh://") else {
        return url.to_string();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("ssh://{user}:***@{host}{tail}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// `ControlPath=SOCKET`, its `%` escaped (ssh expands `%` tokens in it).
fn control_path(socket: &std::path::Path) -> String {
    format!(
        "ControlPath={}",
        socket.to_string_lossy().replace('%', "%%")
    )
}

fn split_port(hostport: &str) -> Result<(&str, Option<u16>), String> {
    let bad_port = |p: &str| format!("'{p}' is not a port number (write ssh://host:22)");
    if let Some(inner) = hostport.strip_prefix('[') {
        let (host, after) = inner
            .split_once(']')
            .ok_or_else(|| "an IPv6 address must be closed with ']'".to_string())?;
        return match after.strip_prefix(':') {
            Some(p) => Ok((host, Some(p.parse().map_err(|_| bad_port(p))?))),
            None if after.is_empty() => Ok((host, None)),
            None => Err(format!("unexpected '{after}' after the address")),
        };
    }
    match hostport.rsplit_once(':') {
        Some((host, p)) => Ok((host, Some(p.parse().map_err(|_| bad_port(p))?))),
        None => Ok((hostport, None)),
    }
}

/// Why the connection over ssh failed, each with what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SshError {
    #[error("ssh is not installed (no `ssh` on PATH): install the OpenSSH client (on Debian: apt-get install openssh-client)")]
    NotInstalled,
    #[error("ssh could not start: {0}")]
    Spawn(String),
    #[error("the host key of {host} does not match the one in your known_hosts (the host was reinstalled, or something is in the way): if the change is expected, `ssh-keygen -R '{known_as}'`, then log in once with `{by_hand}` to accept the new key")]
    HostKeyChanged {
        host: String,
        known_as: String,
        by_hand: String,
    },
    #[error("the host key of {host} is not known (kiln runs ssh with BatchMode=yes, which cannot ask): log in once with `{by_hand}` and accept it, or add it to known_hosts")]
    HostKeyUnknown { host: String, by_hand: String },
    #[error("{host} refused the login ({detail}): kiln needs a key that works without a prompt: load it into ssh-agent (ssh-add) or name it with IdentityFile in ~/.ssh/config, and put its public key in the remote user's authorized_keys; `{by_hand}` must log in without asking")]
    AuthRefused {
        host: String,
        detail: String,
        by_hand: String,
    },
    #[error("{host} has no `docker` command on the PATH of an ssh session: install the docker CLI there (kiln runs `docker system dial-stdio` on it)")]
    NoDocker { host: String },
    #[error("the docker CLI on {host} cannot run `docker system dial-stdio` ({detail}): install docker 18.09 or later there")]
    NoDialStdio { host: String, detail: String },
    #[error("docker on {host} cannot reach its daemon ({detail}): start dockerd there, or give the ssh user access to its socket (the docker group)")]
    RemoteDaemon { host: String, detail: String },
    #[error("ssh cannot reach {host}: {detail}")]
    Unreachable { host: String, detail: String },
    #[error("{host} refused one more session on kiln's shared ssh login (its sshd's MaxSessions is low): kiln now logs in once per connection to it; run again, or set KILN_SSH_MULTIPLEX=0")]
    SessionRefused { host: String },
    #[error("ssh to {host} failed ({status}){detail}")]
    Other {
        host: String,
        status: String,
        detail: String,
    },
}

impl SshError {
    /// Why a process that ended with `status`, having printed `stderr`,
    /// gave no connection; None when it ended well (the daemon closed).
    pub fn from_exit(
        target: &SshTarget,
        status: Option<ExitStatus>,
        stderr: &str,
    ) -> Option<SshError> {
        if status.is_some_and(|s| s.success()) {
            return None;
        }
        let code = status.and_then(|s| s.code());
        let found = SshError::of_login(target, code, stderr)
            .or_else(|| SshError::of_remote(target, code, stderr));
        Some(found.unwrap_or_else(|| {
            let last = last_line(stderr);
            SshError::Other {
                host: target.to_string(),
                status: status.map_or_else(|| "killed".to_string(), |s| s.to_string()),
                detail: if last.is_empty() {
                    String::new()
                } else {
                    format!(": {last}")
                },
            }
        }))
    }

    /// ssh's own failures: the host key, the login, the network.
    fn of_login(target: &SshTarget, code: Option<i32>, stderr: &str) -> Option<SshError> {
        let host = target.to_string();
        let by_hand = target.by_hand();
        let has = |needle: &str| stderr.contains(needle);
        Some(
            if has("REMOTE HOST IDENTIFICATION HAS CHANGED")
                || has("Host key for") && has("has changed")
            {
                SshError::HostKeyChanged {
                    host,
                    known_as: target.known_as(),
                    by_hand,
                }
            } else if has("Host key verification failed") || has("host key is known") {
                SshError::HostKeyUnknown { host, by_hand }
            } else if has("Session open refused") || has("mux_client_request_session") {
                SshError::SessionRefused { host }
            } else if has("Permission denied") || has("Too many authentication failures") {
                SshError::AuthRefused {
                    host,
                    detail: line_with(stderr, &["Permission denied", "Too many authentication"]),
                    by_hand,
                }
            } else if code == Some(255)
                && (has("Could not resolve")
                    || has("Connection refused")
                    || has("timed out")
                    || has("No route to host")
                    || has("Network is unreachable")
                    || has("Connection closed")
                    || has("Connection reset"))
            {
                SshError::Unreachable {
                    host,
                    detail: last_line(stderr),
                }
            } else {
                return None;
            },
        )
    }

    /// The remote side's failures: no docker, an old one, no daemon.
    fn of_remote(target: &SshTarget, code: Option<i32>, stderr: &str) -> Option<SshError> {
        let host = target.to_string();
        let has = |needle: &str| stderr.contains(needle);
        Some(
            if code == Some(127) || has("docker: command not found") || has("docker: not found") {
                SshError::NoDocker { host }
            } else if has("dial-stdio")
                && (has("is not a docker command") || has("unknown command"))
            {
                SshError::NoDialStdio {
                    host,
                    detail: line_with(stderr, &["dial-stdio"]),
                }
            } else if has("failed to open the raw stream connection")
                || has("Cannot connect to the Docker daemon")
                || has("Docker daemon socket")
                || has("docker.sock")
            {
                SshError::RemoteDaemon {
                    host,
                    detail: line_with(
                        stderr,
                        &[
                            "raw stream connection",
                            "Cannot connect",
                            "Docker daemon socket",
                            "docker.sock",
                        ],
                    ),
                }
            } else {
                return None;
            },
        )
    }
}

/// The first line of ssh's output holding one of `needles`, sanitised.
fn line_with(stderr: &str, needles: &[&str]) -> String {
    stderr
        .lines()
        .find(|l| needles.iter().any(|n| l.contains(n)))
        .map(clean)
        .unwrap_or_default()
}

/// The last line ssh printed that says something, sanitised.
fn last_line(stderr: &str) -> String {
    stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(clean)
        .unwrap_or_default()
}

/// A line from the remote side, safe to quote: no controls, at most 200
/// characters.
fn clean(line: &str) -> String {
    let line = sanitize(line.trim());
    let mut out: String = line.chars().take(200).collect();
    if line.chars().count() > 200 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    fn target(url: &str) -> SshTarget {
        SshTarget::parse(url).unwrap()
    }

    fn failed(code: i32) -> Option<ExitStatus> {
        Some(ExitStatus::from_raw(code << 8))
    }

    #[test]
    fn addresses_read_as_the_docker_cli_reads_them() {
        assert_eq!(
            target("ssh://me@box.example:2222"),
            SshTarget {
                user: Some("me".into()),
                host: "box.example".into(),
                port: Some(2222)
            }
        );
        assert_eq!(target("ssh://box").user, None);
        assert_eq!(target("ssh://box/").port, None);
        assert_eq!(target("ssh://[fe80::1]:22").host, "fe80::1");
        assert_eq!(target("ssh://me@[fe80::1]").to_string(), "me@[fe80::1]");
        for (bad, says) in [
            ("ssh://me:secret@box", "password"),
            ("ssh://box/var/run", "nothing may follow"),
            ("ssh://box:x", "not a port"),
            ("ssh://", "no host"),
            ("ssh://-oProxyCommand=x", "may not start with '-'"),
            ("ssh://@box", "empty"),
            ("ssh://bo x", "spaces"),
        ] {
            let err = SshTarget::parse(bad).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
        assert_eq!(
            without_password("ssh://me:secret@box:22"),
            "ssh://me:***@box:22"
        );
    }

    #[test]
    fn the_command_is_the_docker_clis_in_batch_mode() {
        let cmd = target("ssh://me@box:2222").command(&Mux::Alone);
        let args: Vec<_> = cmd
            .as_std()
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args,
            [
                "-o",
                "BatchMode=yes",
                "-o",
                "ConnectTimeout=10",
                "-T",
                "-l",
                "me",
                "-p",
                "2222",
                "--",
                "box",
                "docker",
                "system",
                "dial-stdio"
            ]
        );
    }

    #[test]
    fn the_shared_login_is_sshs_control_master() {
        let args = |mux: &Mux| -> Vec<String> {
            target("ssh://box")
                .command(mux)
                .as_std()
                .get_args()
                .map(|a| a.to_string_lossy().into_owned())
                .collect()
        };
        let socket = std::path::PathBuf::from("/run/user/0/kiln-ssh-0/12%-0");
        let master = args(&Mux::Master(socket.clone())).join(" ");
        assert!(
            master.contains("-o ControlMaster=yes -o ControlPersist=no -o ControlPath=/run/user/0/kiln-ssh-0/12%%-0 -- box docker system dial-stdio"),
            "{master}"
        );
        let shared = args(&Mux::Shared(socket)).join(" ");
        assert!(
            shared.contains(
                "-o ControlMaster=no -o ControlPath=/run/user/0/kiln-ssh-0/12%%-0 -- box"
            ),
            "{shared}"
        );
        assert!(!args(&Mux::Alone).join(" ").contains("Control"));
    }

    #[test]
    fn what_ssh_printed_says_what_went_wrong() {
        let t = target("ssh://me@box:2222");
        let class = |code: i32, stderr: &str| SshError::from_exit(&t, failed(code), stderr);
        assert!(matches!(
            class(255, "@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n"),
            Some(SshError::HostKeyChanged { known_as, .. }) if known_as == "[box]:2222"
        ));
        assert!(matches!(
            class(255, "No ED25519 host key is known for [box]:2222 and you have requested strict checking.\nHost key verification failed.\n"),
            Some(SshError::HostKeyUnknown { .. })
        ));
        assert!(matches!(
            class(255, "me@box: Permission denied (publickey).\n"),
            Some(SshError::AuthRefused { detail, .. }) if detail == "me@box: Permission denied (publickey)."
        ));
        assert!(matches!(
            class(255, "mux_client_request_session: session request failed: Session open refused by peer\n"),
            Some(SshError::SessionRefused { .. })
        ));
        assert!(matches!(
            class(127, "bash: line 1: docker: command not found\n"),
            Some(SshError::NoDocker { .. })
        ));
        assert!(matches!(
            class(1, "docker: 'system dial-stdio' is not a docker command.\n"),
            Some(SshError::NoDialStdio { .. })
        ));
        assert!(matches!(
            class(1, "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n"),
            Some(SshError::RemoteDaemon { .. })
        ));
        assert!(matches!(
            class(1, "failed to open the raw stream connection: dial unix /var/run/docker.sock: connect: permission denied\n"),
            Some(SshError::RemoteDaemon { detail, .. }) if detail.ends_with("permission denied")
        ));
        assert!(matches!(
            class(
                255,
                "ssh: connect to host box port 2222: Connection refused\n"
            ),
            Some(SshError::Unreachable { .. })
        ));
        assert_eq!(
            SshError::from_exit(&t, Some(ExitStatus::from_raw(0)), "warning"),
            None
        );
    }

    #[test]
    fn the_remotes_words_are_sanitised_before_they_are_quoted() {
        let t = target("ssh://box");
        let err = SshError::from_exit(&t, failed(1), "boom \x1b[2J\x1b]0;owned\x07 here\n")
            .unwrap()
            .to_string();
        assert!(!err.chars().any(|c| c.is_control()), "{err:?}");
        assert!(err.contains("boom"), "{err}");
    }
}
