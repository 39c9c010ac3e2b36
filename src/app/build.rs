//! One image's run in the model as the engine reports it: started, steps,
//! log lines, the result, and the hand-over to the push. (The push's own
//! progress is `push.rs`; the timers are `stall.rs`.)

use std::time::Instant;

use super::event::EventKind;
use super::image::{Step, Transfer};
use super::log::LineKind;
use super::message::Command;
use super::status::Status;
use super::{push, App};
use crate::human::millis;
use crate::protocol::{BuildEvent, EngineEvent, LastSuccess, Phase, SkipReason, TransferVia};

/// How many log lines a `failed` event carries.
const FAILURE_TAIL_LINES: usize = 10;
/// How far back `log_tail` reaches for the build's first error line.
const FAILURE_TAIL_REACH: usize = 60;

pub(super) fn on_engine_event(
    app: &mut App,
    i: usize,
    at: Instant,
    event: EngineEvent,
    out: &mut Vec<Command>,
) {
    match event {
        EngineEvent::Started { builder } => {
            app.images[i].builder = Some(builder);
            app.images[i].previous_log = None;
            saw_output(app, i, at, out);
            let engine = app.images[i]
                .engine
                .and_then(|e| app.engines.get(e))
                .map(|e| e.name.clone());
            app.emit(out, i, EventKind::Started { builder, engine });
        }
        EngineEvent::Build(ev) => {
            saw_output(app, i, at, out);
            on_build_event(app, i, at, ev, out);
        }
        EngineEvent::Built { image_id } => on_built(app, i, at, image_id, out),
        EngineEvent::Skipped(reason) => on_skipped(app, i, at, reason, out),
        EngineEvent::Failed { phase, error } => on_failed(app, i, at, phase, error, out),
        EngineEvent::Inputs { digest, inputs } => {
            app.images[i].inputs = Some((digest.clone(), inputs.clone()));
            out.push(Command::RecordInputs {
                image: app.images[i].name.clone(),
                digest,
                inputs,
            });
        }
        EngineEvent::Notice(message) => app.emit(out, i, EventKind::Notice { message }),
        EngineEvent::Push { tag, event } => push::on_progress(app, i, at, tag, event, out),
        EngineEvent::Pushed { tag, digest } => push::on_pushed(app, i, at, tag, digest, out),
        EngineEvent::PushDone => push::on_done(app, i, at, out),
        EngineEvent::Transfer {
            of,
            from,
            to,
            bytes,
            total,
            done,
            registry,
        } => {
            saw_output(app, i, at, out);
            app.images[i].transfer = (!done).then(|| Transfer {
                of: of.clone(),
                from: from.clone(),
                to: to.clone(),
                bytes,
                total,
                registry: registry.is_some(),
            });
            let via = match registry {
                Some(_) => TransferVia::Registry,
                None => TransferVia::Stream,
            };
            let kind = EventKind::Transfer {
                of,
                from,
                to,
                bytes,
                total,
                done,
                via,
                registry,
            };
            app.emit(out, i, kind);
        }
    }
}

/// Any sign of life: remember it, and leave the stalled state if in it.
fn saw_output(app: &mut App, i: usize, at: Instant, out: &mut Vec<Command>) {
    let img = &mut app.images[i];
    let silent = img
        .last_output
        .map(|t| at.saturating_duration_since(t))
        .unwrap_or_default();
    img.last_output = Some(at);
    let Status::Stalled(phase) = img.status else {
        return;
    };
    img.status = match phase {
        Phase::Build => Status::Building,
        Phase::Push => Status::Pushing,
    };
    app.emit(
        out,
        i,
        EventKind::Resumed {
            silent_ms: millis(silent),
        },
    );
}

/// The image is built: done, or on to its push. What it was built from
/// becomes the last success the next build compares against.
fn on_built(app: &mut App, i: usize, at: Instant, image_id: String, out: &mut Vec<Command>) {
    finish_current_step(app, i, at, out);
    let bases = super::session::current_bases(app, i);
    let img = &mut app.images[i];
    img.image_id = Some(image_id.clone());
    img.built_on = bases;
    // Moved, not copied: a big context's inputs name every file.
    if let Some((digest, inputs)) = img.inputs.take() {
        img.last_success = Some(LastSuccess {
            digest,
            image_id: image_id.clone(),
            inputs: Some(inputs),
            engine: img
                .engine
                .and_then(|e| app.engines.get(e))
                .map(|e| e.name.clone()),
        });
    }
    let duration_ms = img.elapsed(at).map(millis).unwrap_or(0);
    let push = img.push.enabled;
    if !push {
        img.finished_at = Some(at);
        img.status = Status::Done;
    }
    let steps = img.dockerfile_steps().count() as u32;
    let cached_steps = img.cached_steps();
    app.emit(
        out,
        i,
        EventKind::Built {
            image_id,
            duration_ms,
            steps,
            cached_steps,
        },
    );
    if push {
        start_push(app, i, at, out);
    }
}

/// Start image `i`'s push, or fail it when it cannot start.
fn start_push(app: &mut App, i: usize, at: Instant, out: &mut Vec<Command>) {
    if let Err(error) = push::start(app, i, at, out) {
        on_failed(app, i, at, Phase::Push, error, out);
    }
}

fn on_skipped(app: &mut App, i: usize, at: Instant, reason: SkipReason, out: &mut Vec<Command>) {
    let img = &mut app.images[i];
    img.status = Status::Skipped(reason);
    img.finished_at = Some(at);
    // Unchanged: the inputs are the last success's, which the model has.
    img.inputs = None;
    // Nothing was built: the log being read stays, with one line more
    // (and what the check said).
    if let Some(before) = img
        .previous_log
        .take()
        .filter(|_| reason == SkipReason::Unchanged)
    {
        let said = std::mem::replace(&mut img.log, before);
        img.log.push(
            LineKind::Note,
            "checked again: unchanged since the last build, nothing to build".into(),
        );
        for line in said.iter() {
            img.log.push(line.kind, line.text.clone());
        }
    }
    let push = reason == SkipReason::Unchanged && img.push.enabled;
    app.emit(out, i, EventKind::Skipped { reason });
    // Unchanged is no reason not to push: the registry may not have it yet
    // (or lost it); layers it has are skipped quickly.
    if push {
        app.images[i].finished_at = None;
        start_push(app, i, at, out);
    }
}

pub(super) fn on_failed(
    app: &mut App,
    i: usize,
    at: Instant,
    phase: Phase,
    error: String,
    out: &mut Vec<Command>,
) {
    if phase == Phase::Push {
        push::flush(app, i, out);
    }
    let img = &mut app.images[i];
    img.status = Status::Failed(phase);
    img.finished_at = Some(at);
    img.current_step = None;
    img.error = Some(error.clone());
    let mut failed = EventKind::Failed {
        phase,
        error,
        log_tail: Vec::new(),
    };
    app.show(i, &failed);
    if let EventKind::Failed { log_tail, .. } = &mut failed {
        *log_tail = app.images[i]
            .log
            .failure_tail(FAILURE_TAIL_LINES, FAILURE_TAIL_REACH);
    }
    app.announce(out, i, failed);
}

fn on_build_event(app: &mut App, i: usize, at: Instant, ev: BuildEvent, out: &mut Vec<Command>) {
    match ev {
        BuildEvent::Step {
            id,
            index,
            total,
            name,
            cached,
            shared,
        } => {
            let step = Step {
                id,
                index,
                total,
                name,
                cached,
                shared,
                started: at,
                duration: None,
                error: None,
                flagged_slow: false,
            };
            on_step(app, i, step, out);
        }
        BuildEvent::StepDone { id, cached, error } => {
            on_step_done(app, i, at, &id, cached, error, out)
        }
        BuildEvent::Log { step, line } => on_log(app, i, step, line, out),
        BuildEvent::ImageId(id) => app.images[i].image_id = Some(id),
        BuildEvent::Error(message) => app.images[i].error = Some(message),
    }
}

fn on_step(app: &mut App, i: usize, step: Step, out: &mut Vec<Command>) {
    let img = &mut app.images[i];
    let event = EventKind::Step {
        index: step.index,
        total: step.total,
        name: step.name.clone(),
        cached: step.cached,
        shared: step.shared,
    };
    img.steps.push(step);
    img.current_step = Some(img.steps.len() - 1);
    app.emit(out, i, event);
}

fn on_step_done(
    app: &mut App,
    i: usize,
    at: Instant,
    id: &str,
    cached: bool,
    error: Option<String>,
    out: &mut Vec<Command>,
) {
    let img = &mut app.images[i];
    let Some(s) = img.step_by_id(id) else {
        return;
    };
    let step = &mut img.steps[s];
    if step.duration.is_some() {
        return; // already reported
    }
    let duration = at.saturating_duration_since(step.started);
    step.duration = Some(duration);
    step.cached |= cached;
    step.error = error;
    let (name, cached, shared) = (step.name.clone(), step.cached, step.shared);
    if img.current_step == Some(s) {
        img.current_step = None;
    }
    app.emit(
        out,
        i,
        EventKind::StepDone {
            name,
            cached,
            shared,
            duration_ms: millis(duration),
        },
    );
}

fn on_log(app: &mut App, i: usize, step: Option<String>, line: String, out: &mut Vec<Command>) {
    let img = &mut app.images[i];
    let step_name = step
        .as_deref()
        .and_then(|id| img.step_by_id(id))
        .or(img.current_step)
        .map(|s| img.steps[s].name.clone());
    app.emit(
        out,
        i,
        EventKind::Log {
            line,
            step: step_name,
        },
    );
}

/// Legacy builds end their last step only implicitly: close it on success.
fn finish_current_step(app: &mut App, i: usize, at: Instant, out: &mut Vec<Command>) {
    if let Some(s) = app.images[i].current_step {
        let id = app.images[i].steps[s].id.clone();
        let cached = app.images[i].steps[s].cached;
        on_step_done(app, i, at, &id, cached, None, out);
    }
}
