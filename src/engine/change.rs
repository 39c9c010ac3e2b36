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
use crate::protocol::{ChangeCheck, EngineEvent, LastSuccess, SkipReason};

/// What change detection found.
pub(crate) enum Change {
    /// Skipped as unchanged (reported).
    Unchanged,
    /// To be built (why was reported, with the inputs for history, when
    /// they could be worked out).
    Build(Option<Inputs>),
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
}

/// What the build's inputs are for, as the model's `check` says.
pub(crate) enum InputsUse {
    /// Nothing: history is off.
    None,
    /// Only to be recorded: the build goes ahead whatever they are (`why`),
    /// so they are worked out while the daemon builds.
    Record { why: &'static str, registry: bool },
    /// To decide whether to build: compared before anything is sent.
    Decide,
}

pub(crate) fn inputs_use(check: &ChangeCheck) -> InputsUse {
    match check {
        ChangeCheck::Off => InputsUse::None,
        ChangeCheck::Forced { registry } => InputsUse::Record {
            why: "forced (--force, --no-cache, no_cache or the dashboard's F)",
            registry: *registry,
        },
        ChangeCheck::NoCache { registry } => InputsUse::Record {
            why: "without the cache (the dashboard's N)",
            registry: *registry,
        },
        ChangeCheck::Against {
            last: None,
            registry,
        } => InputsUse::Record {
            why: "no earlier successful build recorded",
            registry: *registry,
        },
        ChangeCheck::Against { last: Some(_), .. } => InputsUse::Decide,
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
    let registry = registry.then_some(RegistryCheck {
        except: s.stack_tags,
    });
    match inputs::compute(s.docker, s.spec, s.dockerfile, entries, registry).await {
        Ok(now) => {
            for why in &now.unchecked {
                notice(s, why.clone()).await;
            }
            Some(now)
        }
        Err(e) => {
            notice(s, format!("cannot tell whether anything changed: {e}")).await;
            None
        }
    }
}

/// Compare with the last success (`check` is `Against` one): skip
/// (reported) when nothing changed and the image is (or, retagged, is
/// again) what its tags point at; else report the inputs and why it
/// rebuilds.
pub(crate) async fn compare_inputs(
    s: &Subject<'_>,
    check: &ChangeCheck,
    entries: &[Entry],
) -> Change {
    let ChangeCheck::Against {
        last: Some(last),
        registry,
    } = check
    else {
        return Change::Build(None);
    };
    let Some(now) = work_out(s, *registry, entries.to_vec()).await else {
        return Change::Build(None);
    };
    let Some(why) = reasons(s, last, &now).await else {
        s.sink
            .send(EngineEvent::Skipped(SkipReason::Unchanged))
            .await;
        return Change::Unchanged;
    };
    s.sink
        .send(EngineEvent::Inputs {
            digest: now.digest.clone(),
            inputs: now.to_json(),
        })
        .await;
    report_rebuild(s, &why).await;
    Change::Build(Some(now))
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
