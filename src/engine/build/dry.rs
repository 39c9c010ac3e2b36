//! A dry run of one image (`kiln build --dry-run`): what `run` would do
//! with it, found by the same checks and the same change detection, with
//! nothing built, pulled, pushed or retagged. What the real run would say
//! in notices before deciding (what could not be checked, a tag it would
//! put back, a pull) comes back as notes.

use bollard::Docker;
use tokio::sync::mpsc;

use super::build_inputs::find_and_walk;
use super::{choose_builder, dockerfile_name, own_dirs_first, prebuilt_pull, refusal};
use super::{BuildFlags, INLINE_NEEDS_DIR};
use crate::config::{ContextSource, ImageConfig, Source};
use crate::engine::change::{self, compare_inputs, Change, InputsUse, Subject};
use crate::engine::context::ContextSpec;
use crate::engine::prebuilt;
use crate::engine::report::Report;
use crate::engine::sink::Sink;
use crate::protocol::{BuildCause, ChangeCheck, EngineEvent, SkipReason};

/// What a real run would do with an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DryVerdict {
    /// Skip it (unchanged, or a prebuilt image that is there).
    Skip(SkipReason),
    /// Build it, because of `why` (the words of the real run's
    /// `rebuilding: …` notice).
    Build { cause: BuildCause, why: String },
    /// Fail before building: the real run's error.
    Fail(String),
}

/// What a real run would do with `spec` under `check` (the model's change
/// check), and the notes it would give on the way.
pub async fn dry_run(
    docker: &Docker,
    spec: &ImageConfig,
    flags: &BuildFlags,
    check: &ChangeCheck,
) -> (DryVerdict, Vec<String>) {
    let (tx, mut rx) = mpsc::channel(16);
    let sink = Sink::new(tx, 0, 0);
    let work = async move {
        let verdict = decide(docker, spec, flags, check, &sink).await;
        drop(sink);
        verdict
    };
    let notes = async {
        let mut notes = Vec::new();
        while let Some(report) = rx.recv().await {
            if let Report::Run {
                event: EngineEvent::Notice(note),
                ..
            } = report
            {
                notes.push(note);
            }
        }
        notes
    };
    tokio::join!(work, notes)
}

async fn decide(
    docker: &Docker,
    spec: &ImageConfig,
    flags: &BuildFlags,
    check: &ChangeCheck,
    sink: &Sink,
) -> DryVerdict {
    let (context, dockerfile) = match &spec.source {
        Source::Prebuilt { image } => {
            let pull = prebuilt_pull(spec, flags);
            return match prebuilt::dry_check(docker, image, pull).await {
                Ok(first) => {
                    if let Some(note) = first {
                        sink.send(EngineEvent::Notice(note)).await;
                    }
                    DryVerdict::Skip(SkipReason::Prebuilt)
                }
                Err(why) => DryVerdict::Fail(why),
            };
        }
        Source::Build {
            context,
            dockerfile,
        } => (context, dockerfile),
    };
    let Some(dockerfile_name) = dockerfile_name(context, dockerfile) else {
        return DryVerdict::Fail(INLINE_NEEDS_DIR.into());
    };
    if let Some(why) = refusal(spec, choose_builder(spec.builder, flags)) {
        return DryVerdict::Fail(why.into());
    }
    let root = match context {
        // The daemon fetches a git context: the real run compares nothing
        // before it builds (and a dry run fetches nothing).
        ContextSource::Git(_) => return DryVerdict::Build {
            cause: BuildCause::GitContext,
            why:
                "a git context is built whatever changed (the daemon fetches it; its cache decides)"
                    .into(),
        },
        ContextSource::Dir(root) => root,
    };
    own_dirs_first(root, sink).await;
    let use_ = change::inputs_use(check);
    let spec_ctx = ContextSpec {
        root: root.clone(),
        dockerfile: dockerfile.clone(),
    };
    let walk = matches!(use_, InputsUse::Decide { .. });
    let entries = match find_and_walk(&spec_ctx, walk).await {
        Ok((_, entries)) => entries.unwrap_or_default(),
        Err(why) => return DryVerdict::Fail(why),
    };
    match use_ {
        InputsUse::None => DryVerdict::Build {
            cause: BuildCause::NoHistory,
            why: "history is off: nothing to compare with".into(),
        },
        InputsUse::Record { why, cause, .. } => DryVerdict::Build {
            cause,
            why: why.into(),
        },
        InputsUse::Decide { last, registry } => {
            let subject = Subject {
                docker,
                spec,
                dockerfile: &dockerfile_name,
                stack_tags: &flags.stack_tags,
                sink,
                dry: true,
            };
            compared(compare_inputs(&subject, last, registry, &entries).await)
        }
    }
}

/// What change detection found, as a verdict.
fn compared(change: Change) -> DryVerdict {
    match change {
        Change::Unchanged => DryVerdict::Skip(SkipReason::Unchanged),
        Change::Build { why, .. } => DryVerdict::Build {
            cause: BuildCause::InputsChanged,
            why,
        },
        Change::Unknown(why) => DryVerdict::Build {
            cause: BuildCause::Unknown,
            why,
        },
    }
}
