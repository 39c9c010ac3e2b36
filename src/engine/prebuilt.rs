//! Prebuilt images (`image:` entries): never built, only checked to be on
//! the daemon — pulled first, with the user's credentials, when `pull` is
//! set (or, for compose's default pull policy, when it is missing).
//! Reports through the same `Sink` as a build.

use bollard::Docker;
use futures::StreamExt;

use crate::engine::credentials;
use crate::engine::sink::Sink;
use crate::protocol::{BuildEvent, EngineEvent, SkipReason};

/// When a prebuilt image is pulled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pull {
    /// Never: it must be on the daemon.
    Never,
    /// Only when the daemon does not have it (compose's `pull_policy:
    /// missing`, its default).
    IfMissing,
    /// Every time (`pull: true`, `--pull`, `pull_policy: always`).
    Always,
}

/// A prebuilt image is never built: it must be on the daemon, pulled first
/// (with the user's credentials) as `pull` says.
pub async fn check(docker: &Docker, image: &str, pull: Pull, sink: &Sink) {
    let mut pull_error = None;
    let wanted = match pull {
        Pull::Always => true,
        Pull::IfMissing => matches!(
            docker.inspect_image(image).await,
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404,
                ..
            })
        ),
        Pull::Never => false,
    };
    if wanted {
        if let Err(e) = pull_image(docker, image, sink).await {
            pull_error = Some(e);
        }
    }
    match docker.inspect_image(image).await {
        Ok(_) => {
            if let Some(e) = pull_error {
                let note = format!("could not pull {image} ({e}); using the local copy");
                sink.send(EngineEvent::Notice(note)).await;
            }
            sink.send(EngineEvent::Skipped(SkipReason::Prebuilt)).await;
        }
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => sink.fail(missing(image, pull_error)).await,
        Err(e) => sink.fail(cannot_inspect(image, &e)).await,
    }
}

fn missing(image: &str, pull_error: Option<PullError>) -> String {
    let why = match pull_error {
        Some(e) => format!("pulling it failed: {e}"),
        None => format!("pull or load it first (docker pull {image}), or set `pull: true`"),
    };
    format!("prebuilt image {image} is not present on the daemon; {why}")
}

fn cannot_inspect(image: &str, e: &bollard::errors::Error) -> String {
    format!("cannot inspect prebuilt image {image}: {e}")
}

/// What `check` would do, asking the daemon only (a dry run: nothing is
/// pulled). Ok: skipped as prebuilt, with what would come first (a pull);
/// Err: the failure a real run would report.
pub async fn dry_check(docker: &Docker, image: &str, pull: Pull) -> Result<Option<String>, String> {
    let present = match docker.inspect_image(image).await {
        Ok(_) => true,
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => false,
        Err(e) => return Err(cannot_inspect(image, &e)),
    };
    match (pull, present) {
        (Pull::Always, _) => Ok(Some(format!(
            "would pull {image} first (pull: true or --pull)"
        ))),
        (Pull::IfMissing, false) => Ok(Some(format!(
            "would pull {image} first: it is not on the daemon"
        ))),
        (_, true) => Ok(None),
        (Pull::Never, false) => Err(missing(image, None)),
    }
}

/// Why pulling a prebuilt image failed. Only ever shown, after
/// "could not pull IMAGE" or "pulling it failed:".
#[derive(Debug, thiserror::Error)]
enum PullError {
    /// The daemon's message in the pull stream (an unknown image, a
    /// registry that refused), sanitised.
    #[error("{0}")]
    Daemon(String),
    /// The request itself failed (the daemon's reply or the connection).
    #[error("{}", crate::sanitize::sanitize(&.0.to_string()))]
    Request(bollard::errors::Error),
}

/// The user's credentials for `image`'s registry; when they cannot be
/// had, a notice says why (the pull goes on without: it may not need them).
async fn credentials_for(image: &str, sink: &Sink) -> Option<bollard::auth::DockerCredentials> {
    let registry = credentials::registry_of(image);
    let found = match credentials::Store::from_env() {
        Ok(store) => store.get(&registry).await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    match found {
        Ok(creds) => creds.map(|c| c.to_docker()),
        Err(why) => {
            let note = format!("{why}; pulling {image} without credentials");
            sink.send(EngineEvent::Notice(note)).await;
            None
        }
    }
}

/// Pull `image`, reporting progress as log lines (one per layer status).
async fn pull_image(docker: &Docker, image: &str, sink: &Sink) -> Result<(), PullError> {
    let creds = credentials_for(image, sink).await;
    let options = bollard::query_parameters::CreateImageOptionsBuilder::new()
        .from_image(image)
        .build();
    // X-Registry-Auth must be url-safe base64 (see credentials.rs).
    let docker = credentials::url_safe_registry_headers(docker.clone());
    let mut stream = docker.create_image(Some(options), None, creds);
    sink.send(EngineEvent::Notice(format!("pulling {image}")))
        .await;
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => {
                // Byte-level ticks are noise in a log; keep the transitions.
                let tick = matches!(info.status.as_deref(), Some("Downloading" | "Extracting"));
                if let (Some(status), false) = (&info.status, tick) {
                    let line = match &info.id {
                        Some(id) => format!("{id}: {status}"),
                        None => status.clone(),
                    };
                    let line = crate::sanitize::sanitize_line(&line);
                    sink.send(EngineEvent::Build(BuildEvent::Log { step: None, line }))
                        .await;
                }
            }
            Err(bollard::errors::Error::DockerStreamError { error }) => {
                return Err(PullError::Daemon(crate::sanitize::sanitize_line(&error)))
            }
            Err(e) => return Err(PullError::Request(e)),
        }
    }
    Ok(())
}
