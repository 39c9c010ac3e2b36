//! One image's state in the model: where it is in its life, its steps, its
//! log ring and its timers. Transitions happen only in `app::update`.
//!
//! Idle → Queued → Building ⇄ Stalled → Pushing ⇄ Stalled
//!      → Done | Failed | TimedOut | Cancelled | Skipped

use std::time::{Duration, Instant};

use super::event::BuilderKind;
use super::log::LogRing;
use super::push::PushState;
use super::status::Status;
use super::step_marks::StepMarks;
use super::RunId;
use crate::protocol::LastSuccess;

/// One step of a build as the model knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The engine's id: legacy step index, or BuildKit vertex digest.
    pub id: String,
    pub index: Option<u32>,
    pub total: Option<u32>,
    pub name: String,
    pub cached: bool,
    /// Done once for identical work of another step or build (BuildKit).
    pub shared: bool,
    pub started: Instant,
    pub duration: Option<Duration>,
    pub error: Option<String>,
    /// Whether `slow_step` was reported for this step.
    pub flagged_slow: bool,
}

#[derive(Debug, Clone)]
pub struct ImageState {
    pub name: String,
    pub status: Status,
    /// The run this image's current work belongs to; engine messages of
    /// other runs are stale and dropped.
    pub run: RunId,
    pub builder: Option<BuilderKind>,
    pub steps: Vec<Step>,
    /// Index into `steps` of the step running now.
    pub current_step: Option<usize>,
    pub log: LogRing,
    /// The step the log's reader is following (marks interleaved lines).
    pub marks: StepMarks,
    pub started_at: Option<Instant>,
    pub finished_at: Option<Instant>,
    /// Last sign of life from the engine (any output).
    pub last_output: Option<Instant>,
    pub image_id: Option<String>,
    pub error: Option<String>,
    /// This image's steps as history knows them, with usual durations.
    pub usual: Vec<(String, Duration)>,
    /// The last successful build (from history, then from this session):
    /// what change detection compares the next build against.
    pub last_success: Option<LastSuccess>,
    /// This run's inputs as the engine worked them out: (digest, JSON).
    pub inputs: Option<(String, String)>,
    /// Build even when nothing changed (`--force`, `--no-cache`, `no_cache`).
    pub always_build: bool,
    /// The build pulls its base images (`--pull`, `pull: true`): change
    /// detection asks their registries.
    pub pull: bool,
    /// Effective per-image limits for this run.
    pub stall_after: Duration,
    pub timeout: Duration,
    /// Whether to push after building, and the push's progress.
    pub push: PushState,
}

impl ImageState {
    pub fn new(name: String, stall_after: Duration, timeout: Duration, push: bool) -> Self {
        ImageState {
            name,
            status: Status::Idle,
            run: 0,
            builder: None,
            steps: Vec::new(),
            current_step: None,
            log: LogRing::default(),
            marks: StepMarks::default(),
            started_at: None,
            finished_at: None,
            last_output: None,
            image_id: None,
            error: None,
            usual: Vec::new(),
            last_success: None,
            inputs: None,
            always_build: false,
            pull: false,
            stall_after,
            timeout,
            push: PushState::new(push),
        }
    }

    /// Forget the previous run's progress (the log ring is cleared too: the
    /// previous run's full log stays on disk).
    pub fn reset_for_run(&mut self, run: RunId) {
        self.run = run;
        self.builder = None;
        self.steps.clear();
        self.current_step = None;
        self.log.clear();
        self.marks.clear();
        self.started_at = None;
        self.finished_at = None;
        self.last_output = None;
        self.image_id = None;
        self.error = None;
        self.inputs = None;
        self.push.reset();
    }

    /// Start a push-only run (`kiln push`, the dashboard's `p`): a new run
    /// id and clean push state, but the build's steps and log stay in view.
    pub fn reset_for_push_run(&mut self, run: RunId) {
        self.run = run;
        self.current_step = None;
        self.started_at = None;
        self.finished_at = None;
        self.last_output = None;
        self.error = None;
        self.push.reset();
    }

    pub fn step_by_id(&self, id: &str) -> Option<usize> {
        // Recent steps are the likely match: search from the end.
        self.steps.iter().rposition(|s| s.id == id)
    }

    /// Dockerfile steps, without BuildKit's internal vertexes (loading the
    /// context, exporting the image), which are not the user's steps.
    pub fn dockerfile_steps(&self) -> impl Iterator<Item = &Step> {
        let buildkit = self.builder == Some(BuilderKind::Buildkit);
        self.steps
            .iter()
            .filter(move |s| !(buildkit && crate::protocol::is_internal_step(&s.name)))
    }

    pub fn cached_steps(&self) -> u32 {
        self.dockerfile_steps().filter(|s| s.cached).count() as u32
    }

    pub fn current_step_name(&self) -> Option<String> {
        self.current_step
            .and_then(|i| self.steps.get(i))
            .map(|s| s.name.clone())
    }

    /// The usual duration of a step, by its name, from history.
    pub fn usual_for(&self, step: &str) -> Option<Duration> {
        self.usual.iter().find(|(n, _)| n == step).map(|(_, d)| *d)
    }

    /// Estimated time left: the usual durations of the steps history knows
    /// that have not finished in this run (the running one counts what is
    /// left of it). None without history.
    pub fn eta(&self, now: Instant) -> Option<Duration> {
        if self.usual.is_empty() || !self.status.is_active() {
            return None;
        }
        let mut left = Duration::ZERO;
        for (name, usual) in &self.usual {
            match self.steps.iter().rev().find(|s| &s.name == name) {
                Some(s) if s.duration.is_some() => {}
                Some(s) => left += usual.saturating_sub(now.saturating_duration_since(s.started)),
                None => left += *usual,
            }
        }
        Some(left)
    }

    /// How long it has run (until it finished, or until `now`).
    pub fn elapsed(&self, now: Instant) -> Option<Duration> {
        let start = self.started_at?;
        let end = self.finished_at.unwrap_or(now);
        Some(end.saturating_duration_since(start))
    }

    /// How long since the last output, while active.
    pub fn silent_for(&self, now: Instant) -> Option<Duration> {
        if !self.status.is_active() {
            return None;
        }
        let last = self.last_output.or(self.started_at)?;
        Some(now.saturating_duration_since(last))
    }
}
