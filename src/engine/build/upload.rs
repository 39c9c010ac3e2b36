//! What one build attempt sends with its request: the context (a
//! session's or a tar, `transfer.rs`, unless it is unchanged) and the
//! session serving what the build asks of kiln (credentials, secrets,
//! SSH agents). A git context travels as its URL; when its build has
//! secrets or SSH agents, kiln's session serves them beside it.

use bollard::query_parameters::{BuildImageOptionsBuilder, BuilderVersion};

use super::build_inputs::{local_context, BuildInputs};
use super::Job;
use crate::config::ContextSource;
use crate::engine::session::{self, ContextSession, FromClient};
use crate::engine::transfer::{self, ContextUpload, TarStream};
use crate::protocol::{BuilderKind, ChangeCheck};

/// The context's tar (none: the request has no body), the inputs worked
/// out on the way, the session the daemon reads from (kept until the
/// build ends), and the build's options for them.
pub(super) struct Upload {
    pub tar: Option<TarStream>,
    pub inputs: BuildInputs,
    pub session: Option<ContextSession>,
    pub options: BuildImageOptionsBuilder,
}

/// The upload of one attempt; `None` when the build was reported already
/// (unchanged, or failed).
pub(super) async fn upload(
    job: &Job<'_>,
    check: &ChangeCheck,
    builder: BuilderKind,
    session_id: &str,
    options: BuildImageOptionsBuilder,
    client: FromClient,
) -> Option<Upload> {
    match job.context {
        ContextSource::Git(url) => {
            let options = options.remote(url);
            let session = if builder == BuilderKind::Buildkit && client.needs_session() {
                match session::start_remote(job.docker, session_id, client).await {
                    Ok(s) => Some(s),
                    Err(e) => {
                        job.sink
                            .fail(format!(
                                "the BuildKit session, which serves this build's secrets and SSH agents, could not start: {e}"
                            ))
                            .await;
                        return None;
                    }
                }
            } else {
                None
            };
            Some(Upload {
                tar: None,
                inputs: BuildInputs::None,
                options: session_build(options, &session),
                session,
            })
        }
        ContextSource::Dir(root) => {
            let (local, inputs) = local_context(job, root, check, builder).await?;
            let prepared =
                transfer::prepare(job.docker, builder, session_id, local, client, job.sink);
            let (tar, session) = match prepared.await {
                Ok(ContextUpload::Session(s)) => (None, Some(s)),
                Ok(ContextUpload::Tar(tar)) => (Some(tar), None),
                Err(why) => {
                    job.sink.fail(why.to_string()).await;
                    return None;
                }
            };
            Some(Upload {
                tar,
                inputs,
                options: session_build(options, &session),
                session,
            })
        }
    }
}

/// bollard would start a session of its own for a BuildKit build: it is
/// asked for a legacy build, which kiln's session's query turns into this
/// session's build (`session::BuildQuery`).
fn session_build(
    options: BuildImageOptionsBuilder,
    session: &Option<ContextSession>,
) -> BuildImageOptionsBuilder {
    match session {
        Some(_) => options.version(BuilderVersion::BuilderV1),
        None => options,
    }
}
