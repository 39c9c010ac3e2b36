//! Timers driven by `Msg::Tick`: a build or push that has been silent longer
//! than its `stall_after` becomes Stalled; one that has run longer than its
//! `timeout` is cancelled and marked TimedOut. Pure: `now` comes from the
//! message, so tests drive exact sequences with made-up instants.

use std::time::Instant;

use super::event::EventKind;
use super::image::ImageState;
use super::push;
use super::status::Status;
use super::{App, Command};
use crate::human::millis;
use crate::protocol::Phase;

pub(super) fn check_timers(app: &mut App, now: Instant, out: &mut Vec<Command>) {
    for i in 0..app.images.len() {
        let img = &app.images[i];
        if !img.status.is_active() {
            continue;
        }
        if let Some(elapsed) = phase_elapsed(img, now) {
            if elapsed >= img.timeout {
                time_out(app, i, now, out);
                continue;
            }
        }
        check_slow_step(app, i, now, out);
        let img = &mut app.images[i];
        let phase = match img.status {
            Status::Building => Phase::Build,
            // Per-layer rule (push.rs).
            Status::Pushing => {
                push::check_stall(app, i, now, out);
                continue;
            }
            _ => continue, // already stalled: the view shows the live counter
        };
        let Some(silent) = img.silent_for(now) else {
            continue;
        };
        if silent >= img.stall_after {
            img.status = Status::Stalled(phase);
            let step = img.current_step_name();
            app.emit(
                out,
                i,
                EventKind::Stalled {
                    silent_ms: millis(silent),
                    phase,
                    step,
                },
            );
        }
    }
}

/// How long the current phase has run: a push has its own clock, so an
/// image's `timeout` bounds its build and, separately, its push.
fn phase_elapsed(img: &ImageState, now: Instant) -> Option<std::time::Duration> {
    if img.status.is_pushing() {
        img.push.elapsed(now)
    } else {
        img.elapsed(now)
    }
}

fn time_out(app: &mut App, i: usize, now: Instant, out: &mut Vec<Command>) {
    let img = &mut app.images[i];
    let after = phase_elapsed(img, now).unwrap_or_default();
    img.status = Status::TimedOut;
    img.finished_at = Some(now);
    img.current_step = None;
    out.push(Command::Cancel {
        run: img.run,
        image: i,
    });
    app.emit(
        out,
        i,
        EventKind::TimedOut {
            after_ms: millis(after),
        },
    );
}

/// A running step past 3x its usual duration and more than 10 s over it is
/// "slower than usual" (reported once per step). No history, no flag.
pub const SLOW_FACTOR: u32 = 3;
pub const SLOW_MARGIN: std::time::Duration = std::time::Duration::from_secs(10);

fn check_slow_step(app: &mut App, i: usize, now: Instant, out: &mut Vec<Command>) {
    let img = &mut app.images[i];
    let Some(s) = img.current_step else {
        return;
    };
    let step = &img.steps[s];
    if step.flagged_slow || step.cached || step.duration.is_some() {
        return;
    }
    let Some(usual) = img.usual_for(&step.name) else {
        return;
    };
    let elapsed = now.saturating_duration_since(step.started);
    if elapsed > usual * SLOW_FACTOR && elapsed > usual + SLOW_MARGIN {
        let name = step.name.clone();
        img.steps[s].flagged_slow = true;
        app.emit(
            out,
            i,
            EventKind::SlowStep {
                name,
                elapsed_ms: millis(elapsed),
                usual_ms: millis(usual),
            },
        );
    }
}
