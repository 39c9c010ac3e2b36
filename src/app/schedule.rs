//! The scheduler: which images take part in a run, which may start now
//! (dependencies ready, under the jobs limit, in build order), which are
//! skipped because a dependency failed, and cancelling. Pure like the rest
//! of the model: the engine's `Executor` only carries out the commands.

use std::time::Instant;

use super::event::EventKind;
use super::log::LineKind;
use super::message::Command;
use super::placement::Place;
use super::status::Status;
use super::{build, engines, push, App};
use crate::human::millis;
use crate::protocol::{ChangeCheck, Phase, Placement, SkipReason};

/// What a run does with each image it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    /// Build (dependencies first), then push if the image pushes.
    Build,
    /// Push the tags as they are now, without building (`kiln push`, `p`).
    Push,
}

/// Take `images` into a run (those not already on their way). Builds are
/// queued for `schedule`; pushes start at once (they take no job slot).
pub(super) fn request_run(
    app: &mut App,
    kind: RunKind,
    images: &[usize],
    at: Instant,
    out: &mut Vec<Command>,
) {
    if app.is_idle() {
        app.run_started = Some(at);
    }
    for i in app.order.clone() {
        if !images.contains(&i) || app.images[i].status.is_pending() {
            continue;
        }
        let run = app.new_run_id();
        let img = &mut app.images[i];
        match kind {
            RunKind::Build => {
                img.reset_for_run(run);
                img.status = Status::Queued;
                app.emit(out, i, EventKind::Queued);
            }
            RunKind::Push => {
                img.reset_for_push_run(run);
                img.started_at = Some(at);
                if let Err(error) = push::start(app, i, at, out) {
                    build::on_failed(app, i, at, Phase::Push, error, out);
                }
            }
        }
    }
}

/// Start what can start: queued images whose dependencies are ready, up to
/// the jobs limit, in build order; skip those whose dependencies failed.
/// Nothing starts while a reloaded stack waits for the running builds.
pub(super) fn schedule(app: &mut App, now: Instant, out: &mut Vec<Command>) {
    if app.holds_builds() {
        return;
    }
    for i in app.order.clone() {
        if app.images[i].status != Status::Queued {
            continue;
        }
        let deps = &app.deps[i];
        if deps
            .iter()
            .any(|d| app.images[*d].status.skips_dependents())
        {
            skip(app, i, SkipReason::DependencyFailed, now, out);
            continue;
        }
        let ready = deps
            .iter()
            .all(|d| app.images[*d].status.lets_dependents_build());
        if !ready {
            continue;
        }
        if app.engines.is_empty() {
            if app.running() < app.jobs {
                start(app, i, now, None, out);
            }
            continue;
        }
        // `--jobs N` caps the builds at once across every engine (each
        // engine still takes at most its own `jobs`).
        let capped = app.options.jobs.is_some_and(|cap| app.running() >= cap);
        match engines::place_image(app, i) {
            Place::On(_) if capped => {}
            Place::On(e) => match engines::placement(app, i, e) {
                Ok(placement) => start(app, i, now, Some(placement), out),
                Err(why) => engines::fail_with(app, i, now, why, out),
            },
            Place::Wait => {}
            Place::Never => engines::fail_pinned(app, i, now, out),
        }
    }
}

fn skip(app: &mut App, i: usize, reason: SkipReason, now: Instant, out: &mut Vec<Command>) {
    let cause = (reason == SkipReason::DependencyFailed)
        .then(|| dependency_trouble(app, i))
        .flatten();
    let img = &mut app.images[i];
    img.status = Status::Skipped(reason);
    img.finished_at = Some(now);
    if let Some(cause) = &cause {
        img.log.push(LineKind::Note, format!("skipped: {cause}"));
    }
    img.skip_cause = cause;
    app.emit(out, i, EventKind::Skipped { reason });
}

/// What happened to the dependency that keeps image `i` from building, in
/// a few words: "base timed out", "base was cancelled"; for a dependency
/// skipped in turn, what happened to its own.
fn dependency_trouble(app: &App, i: usize) -> Option<String> {
    let d = app.deps[i]
        .iter()
        .copied()
        .find(|&d| app.images[d].status.skips_dependents())?;
    let dep = &app.images[d];
    Some(match dep.status {
        Status::TimedOut => format!("{} timed out", dep.name),
        Status::Cancelled => format!("{} was cancelled", dep.name),
        Status::Skipped(SkipReason::DependencyFailed) => dep
            .skip_cause
            .clone()
            .unwrap_or_else(|| format!("{} was skipped", dep.name)),
        _ => format!("{} failed", dep.name),
    })
}

fn start(
    app: &mut App,
    i: usize,
    now: Instant,
    placement: Option<Placement>,
    out: &mut Vec<Command>,
) {
    let check = change_check(app, i);
    let edits = app.overrides[i].clone();
    let img = &mut app.images[i];
    img.status = Status::Building;
    img.started_at = Some(now);
    img.last_output = Some(now);
    img.force_next = false;
    img.engine = placement.as_ref().map(|p| p.engine);
    img.collect_to = placement.as_ref().and_then(|p| p.collect_to);
    img.no_cache_next = false;
    img.tags = edits
        .as_ref()
        .and_then(|e| e.tags.clone())
        .unwrap_or_else(|| img.config_tags.clone());
    img.run_edits = edits.clone();
    out.push(Command::RecordTags {
        image: img.name.clone(),
        tags: img.tags.clone(),
    });
    let bases = super::session::current_bases(app, i);
    out.push(Command::RecordBases {
        image: app.images[i].name.clone(),
        bases,
    });
    let img = &app.images[i];
    out.push(Command::StartBuild {
        run: img.run,
        image: i,
        overrides: edits,
        check,
        placement,
    });
}

/// Change detection, decided here: off without history, forced when the
/// run or the image asks for a full build (`--force`, `F`), else against
/// the last success; the registries are asked when the build pulls its
/// base images.
pub(super) fn change_check(app: &App, i: usize) -> ChangeCheck {
    let img = &app.images[i];
    let registry = img.pull;
    if img.no_cache_next {
        ChangeCheck::NoCache { registry }
    } else if !app.history_on {
        ChangeCheck::Off
    } else if img.always_build || img.force_next {
        ChangeCheck::Forced { registry }
    } else {
        ChangeCheck::Against {
            last: img.last_success.clone(),
            registry,
        }
    }
}

/// Cancel image `i` if it is part of the run: a running build or push is
/// stopped on the daemon, a queued one never starts.
pub(super) fn cancel(app: &mut App, i: usize, at: Instant, out: &mut Vec<Command>) {
    let img = &mut app.images[i];
    let status = img.status;
    if !status.is_pending() {
        return;
    }
    let after_ms = if status.is_active() {
        img.elapsed(at).map(millis).unwrap_or(0)
    } else {
        0
    };
    img.status = Status::Cancelled;
    img.finished_at = Some(at);
    if status.is_active() {
        out.push(Command::Cancel {
            run: img.run,
            image: i,
        });
    }
    app.emit(out, i, EventKind::Cancelled { after_ms });
}

/// Cancel everything that is running or queued.
pub(super) fn cancel_all(app: &mut App, at: Instant, out: &mut Vec<Command>) {
    for i in app.order.clone() {
        cancel(app, i, at, out);
    }
}
