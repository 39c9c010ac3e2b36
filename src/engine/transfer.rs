//! How a directory context reaches the daemon for one build. BuildKit
//! builds read it through kiln's session ([`super::session`]): the daemon
//! pulls what the Dockerfile uses, and only what changed since its last
//! copy. Legacy builds, and BuildKit builds whose session cannot start
//! (said once, in a notice), get the whole context as a tar.

use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::pin::Pin;

use bollard::auth::DockerCredentials;
use bollard::Docker;
use bytes::Bytes;
use futures::Stream;

use crate::engine::context::{self, ContextError, ContextSpec, DockerfilePlace, Entry};
use crate::engine::session::{self, ContextSession, SessionError};
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

/// Chooses the upload for `builder`; an error when the context cannot be
/// read for a tar.
pub(crate) async fn prepare(
    docker: &Docker,
    builder: BuilderKind,
    session_id: &str,
    local: LocalContext<'_>,
    creds: Option<HashMap<String, DockerCredentials>>,
    sink: &Sink,
) -> Result<ContextUpload, WalkError> {
    if builder == BuilderKind::Buildkit {
        match session::start(docker, session_id, local.root, &local.place, creds).await {
            Ok(s) => return Ok(ContextUpload::Session(s)),
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
