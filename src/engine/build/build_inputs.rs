//! A build's inputs (change detection, history), by when they are known:
//! compared before the build when they decide whether to build, or worked
//! out while the daemon builds when the build goes ahead anyway (`--force`,
//! a first build), and handed to the stream's reader for history.

use crate::engine::change::{self, compare_inputs, InputsUse};
use crate::engine::context::{self, ContextSpec};
use crate::engine::inputs;
use crate::engine::sink::Sink;
use crate::engine::transfer;

use super::Job;
use crate::protocol::{BuilderKind, ChangeCheck, EngineEvent};

/// The inputs of a build that goes ahead whatever they are, worked out
/// while the daemon builds (handed to the stream's reader when ready).
pub(super) async fn work_out_later(job: &Job<'_>, later: Option<LaterInputs>) {
    let Some(LaterInputs {
        registry,
        entries,
        spec,
        ready,
    }) = later
    else {
        return;
    };
    let entries = match entries {
        Some(entries) => Ok(entries),
        None => transfer::walk(spec).await,
    };
    let inputs = match entries {
        Ok(entries) => change::work_out(&job.subject(), registry, entries).await,
        Err(e) => {
            let why = format!("cannot tell whether anything changed: {e}");
            job.sink.send(EngineEvent::Notice(why)).await;
            None
        }
    };
    let _ = ready.send(inputs);
}

/// A build's inputs (change detection, history), by when they are known.
pub(super) enum BuildInputs {
    /// Not worked out (history is off, a git context, or they could not be).
    None,
    /// Worked out and reported before the build.
    Ready(inputs::Inputs),
    /// To be worked out while the daemon builds, from these entries (or
    /// the context walked then).
    Later {
        registry: bool,
        entries: Option<Vec<context::Entry>>,
        spec: ContextSpec,
    },
}

/// Inputs still being worked out: what to work them out from, and where
/// they go when ready.
pub(super) struct LaterInputs {
    registry: bool,
    entries: Option<Vec<context::Entry>>,
    spec: ContextSpec,
    ready: tokio::sync::oneshot::Sender<Option<inputs::Inputs>>,
}

/// The inputs as the stream's reader gets them.
pub(super) enum InputsFor {
    None,
    Ready(inputs::Inputs),
    Pending(tokio::sync::oneshot::Receiver<Option<inputs::Inputs>>),
}

impl BuildInputs {
    /// The reader's side, and the work to do meanwhile (if any).
    pub(super) fn split(self) -> (InputsFor, Option<LaterInputs>) {
        match self {
            BuildInputs::None => (InputsFor::None, None),
            BuildInputs::Ready(i) => (InputsFor::Ready(i), None),
            BuildInputs::Later {
                registry,
                entries,
                spec,
            } => {
                let (ready, pending) = tokio::sync::oneshot::channel();
                let later = LaterInputs {
                    registry,
                    entries,
                    spec,
                    ready,
                };
                (InputsFor::Pending(pending), Some(later))
            }
        }
    }
}

impl InputsFor {
    /// The inputs, waiting for them if they are still being worked out;
    /// those worked out meanwhile are reported (for history) here.
    pub(super) async fn settle(self, sink: &Sink) -> Option<inputs::Inputs> {
        match self {
            InputsFor::None => None,
            InputsFor::Ready(i) => Some(i),
            InputsFor::Pending(pending) => {
                let now = pending.await.ok().flatten()?;
                sink.send(EngineEvent::Inputs {
                    digest: now.digest.clone(),
                    inputs: now.to_json(),
                })
                .await;
                Some(now)
            }
        }
    }
}

/// Find the Dockerfile and, unless a session build will not need them,
/// walk the context; with what becomes of the build's inputs. None when
/// nothing is left to do (it could not be read, or its inputs are
/// unchanged and the image was skipped).
pub(super) async fn local_context<'a>(
    job: &Job<'_>,
    root: &'a std::path::Path,
    check: &ChangeCheck,
    builder: BuilderKind,
) -> Option<(transfer::LocalContext<'a>, BuildInputs)> {
    let spec = ContextSpec {
        root: root.to_path_buf(),
        dockerfile: job.dockerfile.clone(),
    };
    let use_ = change::inputs_use(check);
    // A BuildKit build reads its context through the session (the others
    // get a tar of the walk): the walk is only for the inputs, and those only decide (first) under `Decide`.
    let walk_now = builder != BuilderKind::Buildkit || matches!(use_, InputsUse::Decide { .. });
    let (place, entries) = match find_and_walk(&spec, walk_now).await {
        Ok(found) => found,
        Err(e) => {
            job.sink.fail(e).await;
            return None;
        }
    };
    let inputs = match use_ {
        InputsUse::None => BuildInputs::None,
        InputsUse::Record { why, registry, .. } => {
            change::report_rebuild(&job.subject(), why).await;
            BuildInputs::Later {
                registry,
                entries: entries.clone(),
                spec: spec.clone(),
            }
        }
        InputsUse::Decide { last, registry } => {
            let entries = entries.as_deref().unwrap_or_default();
            let s = job.subject();
            let found = compare_inputs(&s, last, registry, entries).await;
            match change::report(&s, found).await {
                None => return None,
                Some(Some(i)) => BuildInputs::Ready(i),
                Some(None) => BuildInputs::None,
            }
        }
    };
    let local = transfer::LocalContext {
        root,
        place,
        spec,
        entries,
    };
    Some((local, inputs))
}

/// Find the Dockerfile in the context and (`walk`) walk the context, off
/// the async threads; why it cannot be read, in words.
pub(super) async fn find_and_walk(
    spec: &ContextSpec,
    walk: bool,
) -> Result<(context::DockerfilePlace, Option<Vec<context::Entry>>), String> {
    let spec = spec.clone();
    let found = tokio::task::spawn_blocking(move || {
        let place = context::locate_dockerfile(&spec)?;
        let entries = walk.then(|| context::walk(&spec)).transpose()?;
        Ok::<_, context::ContextError>((place, entries))
    })
    .await;
    found
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()))
        .map_err(|e| format!("cannot read the build context: {e}"))
}
