//! What happened in this session, run by run: the outcome of every run
//! (the dashboard's quit summary counts them all, not only each image's
//! latest state), the images a rebuild made stale, and the status line's
//! word on how a run started by a key ended. Called from `update` after
//! each message; pure like the rest of the model.

use std::time::{Duration, Instant};

use super::status::Status;
use super::App;
use crate::human::format_duration;
use crate::protocol::{Phase, RunResult, SkipReason};

/// One finished run of an image in this session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub image: usize,
    pub status: Status,
    /// A push of an image as it was (`p`, `kiln push`), no build.
    pub push_only: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Session {
    /// Every run that ended, in the order they ended.
    pub outcomes: Vec<Outcome>,
    /// The image a key started a run of: how it ends goes to the status
    /// line.
    pub awaited: Option<usize>,
    /// When the session's first run started.
    pub started: Option<Instant>,
}

/// The runs that ended with the last message: counted once each, and the
/// awaited one said in the status line.
pub(super) fn count_outcomes(app: &mut App) {
    if app.session.started.is_none() {
        app.session.started = app.run_started;
    }
    for i in 0..app.images.len() {
        let img = &app.images[i];
        if !img.status.is_final() || img.counted_run == img.run {
            continue;
        }
        let before = app
            .session
            .outcomes
            .iter()
            .rev()
            .find(|o| o.image == i)
            .map(|o| o.status);
        let outcome = Outcome {
            image: i,
            status: img.status,
            push_only: img.push_only,
        };
        app.images[i].counted_run = app.images[i].run;
        app.session.outcomes.push(outcome);
        if app.session.awaited == Some(i) {
            app.session.awaited = None;
            app.view.message = Some(ended(app, i, before));
        }
    }
}

/// "web built in 28s", "web failed again: exit 2 at [3/4] RUN make".
fn ended(app: &App, i: usize, before: Option<Status>) -> String {
    let img = &app.images[i];
    let took = img
        .finished_at
        .and_then(|end| img.elapsed(end))
        .map(format_duration)
        .unwrap_or_default();
    let again = if before.is_some_and(|s| s.is_failure()) && img.status.is_failure() {
        " again"
    } else {
        ""
    };
    match (img.status, img.reason()) {
        (Status::Failed(_), Some(reason)) => format!("{} failed{again}: {reason}", img.name),
        (_, Some(reason)) => format!("{} {reason}{again}", img.name),
        (Status::Skipped(SkipReason::Unchanged), _) => {
            format!("{} is unchanged: F rebuilds it anyway", img.name)
        }
        (Status::Skipped(SkipReason::DependencyFailed), _) => format!(
            "{} skipped: {}",
            img.name,
            img.skip_cause.as_deref().unwrap_or("a dependency failed")
        ),
        (Status::Done, _) if img.push_only => format!("{} pushed in {took}", img.name),
        (s, _) => format!("{} {} in {took}", img.name, s.label()),
    }
}

/// Image `i` was just built as `new_id`, where it was `before` (its last
/// known image): the images built on it, directly or not, that are not on
/// their way to a build of their own are stale until they rebuild.
pub(super) fn mark_dependents_stale(app: &mut App, i: usize, before: Option<String>) {
    if before.as_deref() == app.images[i].image_id.as_deref() {
        return;
    }
    let name = app.images[i].name.clone();
    let mut stack = vec![i];
    let mut seen = vec![false; app.images.len()];
    while let Some(base) = stack.pop() {
        let built_on = (0..app.images.len()).filter(|&d| app.deps[d].contains(&base));
        for d in built_on.collect::<Vec<_>>() {
            if std::mem::replace(&mut seen[d], true) {
                continue;
            }
            stack.push(d);
            let img = &mut app.images[d];
            if !img.status.is_pending() && has_a_build(img) {
                img.stale = Some(name.clone());
            }
        }
    }
}

/// The image exists from an earlier build: this session's, or history's.
fn has_a_build(img: &super::image::ImageState) -> bool {
    match img.status {
        Status::Done | Status::Skipped(SkipReason::Unchanged) | Status::Failed(Phase::Push) => true,
        Status::Idle => img
            .last_run
            .as_ref()
            .is_some_and(|r| r.result == RunResult::Built),
        _ => false,
    }
}

/// The images (name, image id) image `i` is built on now: each
/// dependency's image as this session built it, else as history knows it.
pub(super) fn current_bases(app: &App, i: usize) -> Vec<(String, String)> {
    app.deps[i]
        .iter()
        .filter_map(|&d| {
            let id = current_id(app, d)?;
            Some((app.images[d].name.clone(), id))
        })
        .collect()
}

/// Image `d`'s image now: this session's build, else history's.
fn current_id(app: &App, d: usize) -> Option<String> {
    let img = &app.images[d];
    img.image_id
        .clone()
        .filter(|_| matches!(img.status, Status::Done | Status::Failed(Phase::Push)))
        .or_else(|| known_image_id(app, d))
}

/// Images whose last build was on a base whose image is another one now
/// (rebuilt by this kiln or another) are stale, from the moment history
/// says so: at open, and when another kiln's run is seen.
pub(super) fn mark_stale_from_history(app: &mut App) {
    for i in 0..app.images.len() {
        let img = &app.images[i];
        if img.stale.is_some() || img.status.is_pending() || !has_a_build(img) {
            continue;
        }
        let moved = img.built_on.iter().find(|(base, id)| {
            app.images
                .iter()
                .position(|b| &b.name == base)
                .and_then(|b| current_id(app, b))
                .is_some_and(|now| &now != id)
        });
        if let Some((base, _)) = moved {
            app.images[i].stale = Some(base.clone());
        }
    }
}

/// The image id an image had before this build: from this session, else
/// from history.
pub(super) fn known_image_id(app: &App, i: usize) -> Option<String> {
    let img = &app.images[i];
    img.last_success
        .as_ref()
        .map(|l| l.image_id.clone())
        .or_else(|| img.last_run.as_ref().and_then(|r| r.image_id.clone()))
}

/// The dashboard's quit summary: every run of the session by how it ended
/// (images named where something went wrong), and how long it all took.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionSummary {
    pub built: usize,
    pub pushed: usize,
    pub unchanged: usize,
    pub prebuilt: usize,
    pub failed: Vec<String>,
    pub timed_out: Vec<String>,
    pub cancelled: Vec<String>,
    pub skipped: Vec<String>,
    pub duration: Duration,
}

impl App {
    /// What this session did, for the line printed on quitting.
    pub fn session_summary(&self, now: Instant) -> SessionSummary {
        let mut s = SessionSummary {
            duration: self
                .session
                .started
                .map(|t| now.saturating_duration_since(t))
                .unwrap_or_default(),
            ..SessionSummary::default()
        };
        for o in &self.session.outcomes {
            let name = self.images[o.image].name.clone();
            match o.status {
                Status::Done if o.push_only => s.pushed += 1,
                Status::Done => s.built += 1,
                Status::Skipped(SkipReason::Unchanged) => s.unchanged += 1,
                Status::Skipped(SkipReason::Prebuilt) => s.prebuilt += 1,
                Status::Skipped(SkipReason::DependencyFailed) => s.skipped.push(name),
                Status::Failed(_) => s.failed.push(name),
                Status::TimedOut => s.timed_out.push(name),
                Status::Cancelled => s.cancelled.push(name),
                _ => {}
            }
        }
        s
    }
}
