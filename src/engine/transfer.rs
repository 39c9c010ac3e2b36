//! How a directory context reaches the daemon for one build. BuildKit
//! builds read it through kiln's session ([`super::session`]): the daemon
//! pulls what the Dockerfile uses, and only what changed since its last
//! copy. Legacy builds, and BuildKit builds whose session cannot start
//! (said once, in a notice), get the whole context as a tar; but a build
//! with secrets or SSH agents, which only the session serves, fails then.

use std::io;
use std::path::Path;
use std::pin::Pin;

use bollard::Docker;
use bytes::Bytes;
use futures::Stream;

use crate::engine::context::{self, ContextError, ContextSpec, DockerfilePlace, Entry};
use crate::engine::session::{self, ContextSession, FromClient, SessionError};
use crate::engine::sink::Sink;
use crate::protocol::{BuilderKind, EngineEvent};

/// The tar of a context, produced while it is sent.
pub(crate) type TarStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

/// What the build request carries.
pub(crate) enum ContextUpload {
    /// No body: the daemon reads the context through this session, which
    /// must live until the build ends.
    Session(ContextSession),
    /// The context as a tar stream (a Dockerfile that is not in the context
    /// travels in it under a generated name, see `context::walk`).
    Tar(TarStream),
}

/// The context of one build, where its Dockerfile is, and its entries when
/// they were walked already (a session build needs none: the daemon asks
/// for what it uses).
pub(crate) struct LocalContext<'a> {
    pub root: &'a Path,
    pub place: DockerfilePlace,
    pub spec: ContextSpec,
    pub entries: Option<Vec<Entry>>,
}

/// Why a context could not be read for a build.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WalkError {
    /// Its walk failed (a directory that cannot be read, a Dockerfile not
    /// found, ...).
    #[error("{0}")]
    Context(#[from] ContextError),
    /// The thread walking it stopped (a panic, or the runtime shutting
    /// down).
    #[error("{0}")]
    Stopped(#[from] tokio::task::JoinError),
}

impl LocalContext<'_> {
    /// The entries, walking the context now if that was not done yet.
    pub(crate) async fn entries(self) -> Result<Vec<Entry>, WalkError> {
        match self.entries {
            Some(entries) => Ok(entries),
            None => walk(self.spec).await,
        }
    }
}

/// Walk a context off the async threads.
pub(crate) async fn walk(spec: ContextSpec) -> Result<Vec<Entry>, WalkError> {
    Ok(tokio::task::spawn_blocking(move || context::walk(&spec)).await??)
}

/// Why a build's upload could not be prepared.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PrepareError {
    #[error("cannot read the build context: {0}")]
    Walk(#[from] WalkError),
    /// The build has secrets or SSH agents, which only the session
    /// serves, and the session could not start.
    #[error("the BuildKit session, which serves this build's secrets and SSH agents, could not start: {0}")]
    NoSession(SessionError),
    /// An agent for an SSH id's key files could not start (the message
    /// names the id and the key).
    #[error("{0}")]
    SshAgent(String),
}

/// Chooses the upload for `builder`, the session serving what `client`
/// gives; an error when the context cannot be read for a tar or the
/// secrets or SSH agents cannot be served.
pub(crate) async fn prepare(
    docker: &Docker,
    builder: BuilderKind,
    session_id: &str,
    local: LocalContext<'_>,
    client: FromClient,
    sink: &Sink,
) -> Result<ContextUpload, PrepareError> {
    if builder == BuilderKind::Buildkit {
        let needs_session = client.needs_session();
        match session::start(docker, session_id, local.root, &local.place, client).await {
            Ok(s) => return Ok(ContextUpload::Session(s)),
            Err(SessionError::SshAgent(why)) => return Err(PrepareError::SshAgent(why)),
            Err(e) if needs_session => return Err(PrepareError::NoSession(e)),
            // No connection to the daemon: no fallback to speak of, the
            // build request says the daemon is not answering.
            Err(SessionError::Connect { .. }) => {}
            Err(e) => {
                sink.send(EngineEvent::Notice(format!(
                    "the BuildKit session for the build context could not start ({e}); sending the whole context as a tar"
                )))
                .await;
            }
        }
    }
    let entries = local.entries().await?;
    Ok(ContextUpload::Tar(Box::pin(context::tar_stream(entries))))
}
