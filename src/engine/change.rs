//! Change detection as the model asked for it (`ChangeCheck`): work out
//! the build's inputs (`inputs`), compare them with the last success's,
//! and either skip the build (`Skipped(Unchanged)`), retag the last build's
//! image when only its tags moved, or report why it rebuilds. Every reason
//! says what was found: which files, args or base images changed, which
//! base image moved in its registry (`--pull`), which tag another tool
//! moved.

use bollard::query_parameters::TagImageOptionsBuilder;
use bollard::Docker;

use crate::config::{split_tag, ImageConfig};
use crate::engine::context::Entry;
use crate::engine::inputs::{self, Inputs, RegistryCheck, Tags};
use crate::engine::sink::Sink;
use crate::human::short_id;
use crate::protocol::{BuildCause, ChangeCheck, EngineEvent, LastSuccess, SkipReason};

/// What change detection found; nothing of it is reported yet (the real
/// run reports it with `report`, a dry run says what it would do).
pub(crate) enum Change {
    /// Unchanged: skip it.
    Unchanged,
    /// To be built because of `why`, with the inputs for history.
    Build { why: String, inputs: Inputs },
    /// The inputs could not be worked out (why, in words): it is built.
    Unknown(String),
}

/// The image whose inputs are compared, and where to report.
pub(crate) struct Subject<'a> {
    pub docker: &'a Docker,
    pub spec: &'a ImageConfig,
    /// The Dockerfile's path in the context.
    pub dockerfile: &'a str,
    /// The stack's own images (never asked of a registry).
    pub stack_tags: &'a [String],
    pub sink: &'a Sink,
    /// A dry run (`kiln build --dry-run`): change nothing on the daemon
    /// (a moved tag is not put back, only said to be).
    pub dry: bool,
}

/// What the build's inputs are for, as the model's `check` says.
pub(crate) enum InputsUse<'a> {
    /// Nothing: history is off.
    None,
    /// Only to be recorded: the build goes ahead whatever they are (`why`,
    /// of kind `cause`), so they are worked out while the daemon builds.
    Record {
        why: &'static str,
        cause: BuildCause,
        registry: bool,
    },
    /// To decide whether to build: compared with `last` before anything
    /// is sent.
    Decide {
        last: &'a LastSuccess,
        registry: bool,
    },
}

pub(crate) fn inputs_use(check: &ChangeCheck) -> InputsUse<'_> {
    match check {
        ChangeCheck::Off => InputsUse::None,
        ChangeCheck::Forced { registry } => InputsUse::Record {
            why: "forced (--force, --no-cache, no_cache or the dashboard's F)",
            cause: BuildCause::Forced,
            registry: *registry,
        },
        ChangeCheck::NoCache { registry } => InputsUse::Record {
            why: "without the cache (the dashboard's N)",
            cause: BuildCause::NoCache,
            registry: *registry,
        },
        ChangeCheck::Against {
            last: None,
            registry,
        } => InputsUse::Record {
            why: "no earlier successful build recorded",
            cause: BuildCause::FirstBuild,
            registry: *registry,
        },
        ChangeCheck::Against {
            last: Some(last),
            registry,
        } => InputsUse::Decide {
            last,
            registry: *registry,
        },
    }
}

/// Say why a build goes ahead whatever its inputs are.
pub(crate) async fn report_rebuild(s: &Subject<'_>, why: &str) {
    notice(s, format!("rebuilding: {why}")).await;
}

/// Work out the build's inputs (saying what could not be checked); None
/// when they cannot be (said in a notice: the build goes ahead).
pub(crate) async fn work_out(
    s: &Subject<'_>,
    registry: bool,
    entries: Vec<Entry>,
) -> Option<Inputs> {
    match try_work_out(s, registry, entries).await {
        Ok(now) => Some(now),
        Err(why) => {
            notice(s, why).await;
            None
        }
    }
}

/// The build's inputs (what could not be checked is said in notices), or
/// why they cannot be worked out, in words (not reported).
async fn try_work_out(
    s: &Subject<'_>,
    registry: bool,
    entries: Vec<Entry>,
) -> Result<Inputs, String> {
    let registry = registry.then_some(RegistryCheck {
        except: s.stack_tags,
    });
    match inputs::compute(s.docker, s.spec, s.dockerfile, entries, registry).await {
        Ok(now) => {
            for why in &now.unchecked {
                notice(s, why.clone()).await;
            }
            Ok(now)
        }
        Err(e) => Err(format!("cannot tell whether anything changed: {e}")),
    }
}

/// Compare with `last`, the last success: unchanged when nothing changed
/// and the image is (or, retagged, is again) what its tags point at; else
/// why it rebuilds, with its inputs. Reported by the caller (`report`).
pub(crate) async fn compare_inputs(
    s: &Subject<'_>,
    last: &LastSuccess,
    registry: bool,
    entries: &[Entry],
) -> Change {
    let now = match try_work_out(s, registry, entries.to_vec()).await {
        Ok(now) => now,
        Err(why) => return Change::Unknown(why),
    };
    match reasons(s, last, &now).await {
        None => Change::Unchanged,
        Some(why) => Change::Build { why, inputs: now },
    }
}

/// Report what change detection found, as a real run does: skipped as
/// unchanged, or the inputs and why it rebuilds, or why it cannot tell.
/// The inputs, when it is built and they are known.
pub(crate) async fn report(s: &Subject<'_>, change: Change) -> Option<Option<Inputs>> {
    match change {
        Change::Unchanged => {
            s.sink
                .send(EngineEvent::Skipped(SkipReason::Unchanged))
                .await;
            None
        }
        Change::Build { why, inputs } => {
            s.sink
                .send(EngineEvent::Inputs {
                    digest: inputs.digest.clone(),
                    inputs: inputs.to_json(),
                })
                .await;
            report_rebuild(s, &why).await;
            Some(Some(inputs))
        }
        Change::Unknown(why) => {
            notice(s, why).await;
            Some(None)
        }
    }
}

/// Why the image must be built again since `last`, or None when it need
/// not be (its tags point at the last build's image, retagged if they had
/// moved).
async fn reasons(s: &Subject<'_>, last: &LastSuccess, now: &Inputs) -> Option<String> {
    let previous = last.inputs.as_deref();
    let mut reasons = inputs::registry_moves(s.docker, previous, now).await;
    if last.digest != now.digest {
        reasons.push(
            inputs::explain_change(previous, now)
                .unwrap_or_else(|| "its inputs changed".to_string()),
        );
    }
    if !reasons.is_empty() {
        return Some(reasons.join("; "));
    }
    let (moved, kept) = match inputs::tags(s.docker, s.spec, &last.image_id).await {
        Tags::AtLastBuild => return None,
        Tags::Elsewhere { moved, kept } => (moved, kept),
    };
    let what = inputs::explain_tags(&moved);
    let image = short_id(&last.image_id);
    if !kept {
        return Some(format!(
            "{what} and the last build's image ({image}) is gone"
        ));
    }
    if s.dry {
        notice(
            s,
            format!(
                "{what}; nothing else changed and the last build's image ({image}) still exists: would retag it instead of rebuilding"
            ),
        )
        .await;
        return None;
    }
    match retag(s.docker, &last.image_id, &moved).await {
        Ok(()) => {
            notice(
                s,
                format!(
                    "{what}; nothing else changed and the last build's image ({image}) still exists: retagged it instead of rebuilding"
                ),
            )
            .await;
            None
        }
        Err(e) => Some(format!(
            "{what}; retagging the last build's image ({image}) failed: {}",
            crate::sanitize::sanitize(&e.to_string())
        )),
    }
}

/// Point each of `moved`'s tags at `image_id` again.
async fn retag(
    docker: &Docker,
    image_id: &str,
    moved: &[(String, Option<String>)],
) -> Result<(), bollard::errors::Error> {
    for (tag, _) in moved {
        let (repo, name) = split_tag(tag);
        let options = TagImageOptionsBuilder::new().repo(repo).tag(name).build();
        docker.tag_image(image_id, Some(options)).await?;
    }
    Ok(())
}

async fn notice(s: &Subject<'_>, message: String) {
    s.sink.send(EngineEvent::Notice(message)).await;
}
