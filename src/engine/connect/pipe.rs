//! One connection to a daemon over ssh: an `ssh … docker system
//! dial-stdio` process whose stdin and stdout are the connection
//! ([`SshStream`]), and the connector that opens one for each connection
//! the HTTP client wants ([`Connector`]).
//!
//! Nothing of ssh's shows while it works; when the connection ends
//! because ssh failed (its stdout closes, or writing to it breaks), the
//! read or write fails with the [`SshError`] that says why, made of what
//! ssh printed once it has exited.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout};
use tokio::sync::oneshot;

use super::mux;
use super::ssh::{SshError, SshTarget, STDERR_LIMIT};

/// How long ssh may take to exit once its output has closed, before the
/// connection counts as closed by the daemon.
const EXIT_WAIT: Duration = Duration::from_secs(5);

/// How long a connection given up on has to end by itself (its stdin
/// closed, the remote side sees the end) before its ssh is killed.
const LINGER: Duration = Duration::from_secs(2);

/// How the ssh process ended: its status (None: could not be waited for)
/// and the start of what it printed on stderr.
struct Ended {
    status: Option<std::process::ExitStatus>,
    stderr: String,
}

/// A connection to the daemon through an ssh process.
pub struct SshStream {
    target: Arc<SshTarget>,
    stdin: Option<ChildStdin>,
    stdout: ChildStdout,
    /// Resolves when the process has ended.
    ended: Option<oneshot::Receiver<Ended>>,
    /// Bounds the wait for `ended` once the output closed.
    exit_wait: Option<Pin<Box<tokio::time::Sleep>>>,
    /// What the end was, once known: None when it ended well.
    failure: Option<Option<SshError>>,
    /// Dropped with the stream: the process is then let go, and killed if
    /// it lingers.
    _drop_guard: oneshot::Sender<()>,
    /// Counts it among the connections on kiln's shared login, if it is.
    _share: Option<mux::Share>,
}

impl SshStream {
    /// Starts `ssh … docker system dial-stdio` to `target`.
    pub async fn dial(target: Arc<SshTarget>) -> Result<SshStream, SshError> {
        let (mux, share) = mux::for_connection(&target).await;
        let mut child = target.command(&mux).spawn().map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => SshError::NotInstalled,
            _ => SshError::Spawn(e.to_string()),
        })?;
        let missing = || SshError::Spawn("its pipes were not set up".into());
        let stdin = child.stdin.take().ok_or_else(missing)?;
        let stdout = child.stdout.take().ok_or_else(missing)?;
        let stderr = child.stderr.take().ok_or_else(missing)?;
        let (ended_tx, ended_rx) = oneshot::channel();
        let (guard_tx, guard_rx) = oneshot::channel();
        tokio::spawn(watch(child, stderr, ended_tx, guard_rx));
        Ok(SshStream {
            target,
            stdin: Some(stdin),
            stdout,
            ended: Some(ended_rx),
            exit_wait: None,
            failure: None,
            _drop_guard: guard_tx,
            _share: share,
        })
    }

    /// Once the connection broke: the ssh failure behind it, if any
    /// (waiting for the process to end, at most [`EXIT_WAIT`]).
    fn poll_failure(&mut self, cx: &mut Context<'_>) -> Poll<Option<SshError>> {
        if let Some(failure) = &self.failure {
            return Poll::Ready(failure.clone());
        }
        let ended = match self.ended.as_mut() {
            Some(rx) => match Pin::new(rx).poll(cx) {
                Poll::Ready(Ok(ended)) => Some(ended),
                Poll::Ready(Err(_)) => None,
                Poll::Pending => {
                    let wait = self
                        .exit_wait
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep(EXIT_WAIT)));
                    if wait.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    None
                }
            },
            None => None,
        };
        self.ended = None;
        let failure = ended.and_then(|e| SshError::from_exit(&self.target, e.status, &e.stderr));
        if let Some(SshError::SessionRefused { .. }) = failure {
            mux::give_up(&self.target);
        }
        self.failure = Some(failure.clone());
        Poll::Ready(failure)
    }
}

/// Reads ssh's stderr (keeping its start), waits for it to exit, and says
/// how it ended; when the stream is dropped first, waits [`LINGER`] and
/// kills it.
async fn watch(
    mut child: Child,
    stderr: ChildStderr,
    ended: oneshot::Sender<Ended>,
    dropped: oneshot::Receiver<()>,
) {
    let stderr = tokio::spawn(read_start(stderr));
    tokio::select! {
        status = child.wait() => {
            // A process ssh left behind (a ControlMaster) may hold stderr
            // open: what came by now is enough.
            let stderr = match tokio::time::timeout(LINGER, stderr).await {
                Ok(Ok(text)) => text,
                _ => String::new(),
            };
            let _ = ended.send(Ended { status: status.ok(), stderr });
        }
        _ = dropped => {
            if tokio::time::timeout(LINGER, child.wait()).await.is_err() {
                let _ = child.start_kill();
                let _ = child.wait().await;
            }
        }
    }
}

/// Reads `stderr` to its end, keeping the first [`STDERR_LIMIT`] bytes.
async fn read_start(mut stderr: ChildStderr) -> String {
    let mut kept = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = stderr.read(&mut buf).await {
        if n == 0 {
            break;
        }
        let room = STDERR_LIMIT.saturating_sub(kept.len());
        kept.extend_from_slice(buf.get(..n.min(room)).unwrap_or_default());
    }
    String::from_utf8_lossy(&kept).into_owned()
}

impl AsyncRead for SshStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.stdout).poll_read(cx, buf) {
            Poll::Ready(Ok(())) if buf.filled().len() == before && buf.remaining() > 0 => {
                // The output closed: the daemon's end, or ssh's failure.
                match this.poll_failure(cx) {
                    Poll::Ready(Some(e)) => Poll::Ready(Err(io::Error::other(e))),
                    Poll::Ready(None) => Poll::Ready(Ok(())),
                    Poll::Pending => Poll::Pending,
                }
            }
            other => other,
        }
    }
}

impl AsyncWrite for SshStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let Some(stdin) = this.stdin.as_mut() else {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        };
        match Pin::new(stdin).poll_write(cx, data) {
            Poll::Ready(Err(e)) => this.explain_write(cx, e),
            other => other,
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let Some(stdin) = this.stdin.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        match Pin::new(stdin).poll_flush(cx) {
            Poll::Ready(Err(e)) => this.explain_write(cx, e),
            other => other,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(stdin) = this.stdin.as_mut() {
            if let Poll::Ready(Err(e)) = Pin::new(stdin).poll_shutdown(cx) {
                return this.explain_write(cx, e);
            }
        }
        // Closing ssh's stdin is how the remote side hears of the end.
        this.stdin = None;
        Poll::Ready(Ok(()))
    }
}

impl SshStream {
    /// A write failed (ssh gone): the ssh failure if that was it.
    fn explain_write<T>(&mut self, cx: &mut Context<'_>, e: io::Error) -> Poll<io::Result<T>> {
        match self.poll_failure(cx) {
            Poll::Ready(Some(ssh)) => Poll::Ready(Err(io::Error::other(ssh))),
            Poll::Ready(None) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Connection for SshStream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

/// Opens a connection over ssh for each one the HTTP client asks for (the
/// client keeps them alive and reuses them).
#[derive(Clone)]
pub struct Connector {
    target: Arc<SshTarget>,
}

impl Connector {
    pub fn new(target: SshTarget) -> Connector {
        Connector {
            target: Arc::new(target),
        }
    }
}

impl tower_service::Service<hyper::Uri> for Connector {
    type Response = TokioIo<SshStream>;
    type Error = SshError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, SshError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), SshError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: hyper::Uri) -> Self::Future {
        let target = Arc::clone(&self.target);
        Box::pin(async move { SshStream::dial(target).await.map(TokioIo::new) })
    }
}
