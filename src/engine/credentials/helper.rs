//! Running a credential helper: `docker-credential-NAME get`, the server
//! address on stdin, `{ServerURL, Username, Secret}` on stdout.
//!
//! A helper is someone else's program: it may be missing, fail, hang, or
//! leave children behind. It runs in a process group of its own, which is
//! killed whole when it overruns [`HELPER_TIMEOUT`] or the lookup is
//! dropped. What it says when it fails is quoted only after
//! [`quotable`]: first line, sanitised, nothing JSON-like, and every word
//! that could be a token masked; its stdout on success carries the secret
//! and is never quoted.

use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::human::format_duration;

/// A credential helper that has not answered by then is given up on.
pub const HELPER_TIMEOUT: Duration = Duration::from_secs(15);

/// A helper's answer.
#[derive(Deserialize)]
pub(super) struct HelperReply {
    #[serde(rename = "Username", default)]
    pub(super) username: String,
    #[serde(rename = "Secret", default)]
    pub(super) secret: String,
}

/// A credential helper (`credHelpers` or `credsStore`) that gave no usable
/// answer for a registry. (A helper that answers "credentials not found"
/// is not an error: the lookup just finds nothing there.)
#[derive(Debug, thiserror::Error)]
#[error("docker-credential-{helper} {failure} (registry {server})")]
pub struct HelperError {
    /// `NAME` of `docker-credential-NAME`.
    pub helper: String,
    /// The server address it was asked about.
    pub server: String,
    pub failure: HelperFailure,
}

/// What went wrong with a credential helper. Each message follows the
/// helper's name (see [`HelperError`]).
#[derive(Debug, thiserror::Error)]
pub enum HelperFailure {
    /// No `docker-credential-NAME` on `PATH`.
    #[error("not found on PATH")]
    NotOnPath,
    /// It is there but could not be started (permissions, interpreter, ...).
    #[error("could not be run: {0}")]
    CannotRun(std::io::Error),
    /// Talking to it failed (its stdin or stdout).
    #[error("failed: {0}")]
    Io(std::io::Error),
    /// It did not answer within the limit ([`HELPER_TIMEOUT`]); it was
    /// killed with everything it started.
    #[error("timed out after {}", format_duration(*.0))]
    TimedOut(Duration),
    /// It exited unsuccessfully; `said` is what it printed, made
    /// [`quotable`] (None when nothing was).
    #[error("{}{}", ended(.status), colon_then(.said))]
    Exited {
        status: ExitStatus,
        said: Option<String>,
    },
    /// It answered with something other than `{ServerURL, Username, Secret}`.
    #[error("answered with something that is not credentials JSON")]
    NotCredentialsJson,
}

/// `exited 1`, `was killed by signal 9`.
fn ended(status: &ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited {code}"),
        (None, Some(signal)) => format!("was killed by signal {signal}"),
        (None, None) => format!("ended ({status})"),
    }
}

/// `": text"`, or nothing.
fn colon_then(text: &Option<String>) -> String {
    text.as_ref().map(|t| format!(": {t}")).unwrap_or_default()
}

/// How to run helpers: where to look first (tests) and how long to wait.
#[derive(Debug, Default, Clone)]
pub(super) struct Runner {
    /// Directory prepended to PATH when looking for helpers (tests).
    pub(super) dir: Option<PathBuf>,
    /// How long a helper may take; `None`: [`HELPER_TIMEOUT`].
    pub(super) limit: Option<Duration>,
}

impl Runner {
    /// Ask `docker-credential-{helper}` for `server`'s credentials.
    /// `Ok(None)`: it has none.
    pub(super) async fn ask(
        &self,
        helper: &str,
        server: &str,
    ) -> Result<Option<HelperReply>, HelperError> {
        self.exchange(helper, server)
            .await
            .map_err(|failure| HelperError {
                helper: helper.to_string(),
                server: server.to_string(),
                failure,
            })
    }

    async fn exchange(
        &self,
        helper: &str,
        server: &str,
    ) -> Result<Option<HelperReply>, HelperFailure> {
        let mut child = self.command(helper).spawn().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                HelperFailure::NotOnPath
            } else {
                HelperFailure::CannotRun(e)
            }
        })?;
        // Killed whole unless it is reaped first (then its id may be reused).
        let mut group = GroupKill(child.id());
        let limit = self.limit.unwrap_or(HELPER_TIMEOUT);
        let talk = async {
            let (mut stdin, mut stdout, mut stderr) =
                (child.stdin.take(), child.stdout.take(), child.stderr.take());
            if let Some(stdin) = stdin.as_mut() {
                // A helper may exit without reading (broken pipe): its exit
                // status and output say what happened.
                let _ = stdin.write_all(server.as_bytes()).await;
                let _ = stdin.shutdown().await;
            }
            drop(stdin);
            let (mut out, mut err) = (Vec::new(), Vec::new());
            let (read_out, read_err) = tokio::join!(
                read_all(stdout.as_mut(), &mut out),
                read_all(stderr.as_mut(), &mut err)
            );
            read_out?;
            read_err?;
            let status = child.wait().await?;
            group.0 = None;
            Ok::<_, std::io::Error>((status, out, err))
        };
        match tokio::time::timeout(limit, talk).await {
            Ok(Ok((status, out, err))) => interpret(status, &out, &err),
            Ok(Err(e)) => Err(HelperFailure::Io(e)),
            Err(_) => Err(HelperFailure::TimedOut(limit)),
        }
    }

    /// `docker-credential-{helper} get`, with piped stdio, in a process
    /// group of its own, looked for in the test helper directory first.
    fn command(&self, helper: &str) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(format!("docker-credential-{helper}"));
        if let Some(dir) = &self.dir {
            let path = std::env::var_os("PATH").unwrap_or_default();
            let mut dirs = vec![dir.clone()];
            dirs.extend(std::env::split_paths(&path));
            if let Ok(joined) = std::env::join_paths(dirs) {
                cmd.env("PATH", joined);
            }
        }
        cmd.arg("get")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        cmd
    }
}

async fn read_all(
    pipe: Option<&mut (impl tokio::io::AsyncRead + Unpin)>,
    into: &mut Vec<u8>,
) -> std::io::Result<()> {
    if let Some(p) = pipe {
        p.read_to_end(into).await?;
    }
    Ok(())
}

/// Kills a helper's process group (SIGKILL) when dropped, unless the
/// helper was reaped (`None`).
struct GroupKill(Option<u32>);

impl Drop for GroupKill {
    fn drop(&mut self) {
        if let Some(pgid) = self.0.and_then(|p| libc::pid_t::try_from(p).ok()) {
            // SAFETY: killpg only sends a signal. The group leader has not
            // been reaped, so its id still names this group.
            unsafe {
                libc::killpg(pgid, libc::SIGKILL);
            }
        }
    }
}

/// What a finished helper's output means.
pub(super) fn interpret(
    status: ExitStatus,
    stdout: &[u8],
    stderr: &[u8],
) -> Result<Option<HelperReply>, HelperFailure> {
    let out = String::from_utf8_lossy(stdout);
    if !status.success() {
        // The protocol's "no credentials" answer.
        if out.contains("credentials not found") {
            return Ok(None);
        }
        let err = String::from_utf8_lossy(stderr);
        let said = if err.trim().is_empty() { &out } else { &err };
        return Err(HelperFailure::Exited {
            status,
            said: quotable(said),
        });
    }
    let reply: HelperReply =
        serde_json::from_str(out.trim()).map_err(|_| HelperFailure::NotCredentialsJson)?;
    if reply.secret.is_empty() && reply.username.is_empty() {
        return Ok(None);
    }
    Ok(Some(reply))
}

/// The longest piece of a helper's error text that is quoted.
const MAX_QUOTE: usize = 200;

/// A failed helper's words, safe to show: its first non-empty line,
/// sanitised and cut to [`MAX_QUOTE`] chars, with every token-like word
/// masked. Nothing when it looks like JSON or names a secret field (it
/// could be echoing the secret), or says nothing.
pub fn quotable(text: &str) -> Option<String> {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    let lower = line.to_ascii_lowercase();
    let names_a_secret = ["secret", "password", "passwd", "token", "auth"]
        .iter()
        .any(|w| {
            lower.match_indices(w).any(|(i, _)| {
                lower
                    .get(i + w.len()..)
                    .is_some_and(|after| after.trim_start().starts_with([':', '=']))
            })
        });
    if line.contains(['{', '}']) || names_a_secret {
        return None;
    }
    let clean = crate::sanitize::sanitize(line);
    let cut: String = clean.chars().take(MAX_QUOTE).collect();
    let masked = mask_tokens(&cut);
    (!masked.trim().is_empty()).then_some(masked)
}

/// Chars a token (password, API key, base64 blob) is made of.
fn token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '_' | '-' | '~')
}

/// Replace every run of token chars that could be a secret with `***`:
/// 24 or more of them, or 12 or more mixing letters and digits.
fn mask_tokens(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        let letters = run.chars().any(|c| c.is_ascii_alphabetic());
        let digits = run.chars().any(|c| c.is_ascii_digit());
        let n = run.chars().count();
        if n >= 24 || (n >= 12 && letters && digits) {
            out.push_str("***");
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in s.chars() {
        if token_char(c) {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_masks_what_could_be_a_secret() {
        assert_eq!(
            quotable("keychain locked\nmore").as_deref(),
            Some("keychain locked")
        );
        assert_eq!(
            quotable("bad token ghp_A1b2C3d4E5f6G7h8I9j0K1 here").as_deref(),
            Some("bad token *** here")
        );
        assert_eq!(
            quotable("blob dTpwdw9876543210== x").as_deref(),
            Some("blob *** x")
        );
        assert_eq!(
            quotable("no such file /home/u/.password-store").as_deref(),
            Some("no such file /home/u/.password-store")
        );
        assert_eq!(quotable(r#"{"Secret":"s3"}"#), None);
        assert_eq!(quotable("password: hunter2"), None);
        assert_eq!(quotable("Token=abc"), None);
        assert_eq!(quotable("  \n "), None);
        assert_eq!(quotable("\x1b]52;c;AAAA\x07"), None);
        let long = "x ".repeat(300);
        assert!(quotable(&long).unwrap().chars().count() <= MAX_QUOTE);
    }
}
