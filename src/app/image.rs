//! One image's state in the model: where it is in its life, its steps, its
//! log ring and its timers. Transitions happen only in `app::update`.
//!
//! Idle → Queued → Building ⇄ Stalled → Pushing ⇄ Stalled
//!      → Done | Failed | TimedOut | Cancelled | Skipped

use std::time::{Duration, Instant};

use super::log::LogRing;
use super::push::PushState;
use super::status::Status;
use super::step_marks::StepMarks;

use crate::human::format_duration;
use crate::protocol::{BuilderKind, ImageOverride, LastRun, LastSuccess, Phase, RunId, RunResult};

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

/// An image moving between engines for this image's build: which, from
/// and to which engine, bytes so far of about `total` (0: unknown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    pub of: String,
    pub from: String,
    pub to: String,
    pub bytes: u64,
    pub total: u64,
    /// Through the transfer registry (else streamed through kiln).
    pub registry: bool,
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
    /// The log of the run before, while a new run has not started building:
    /// a check that finds the image unchanged puts it back in the pane.
    pub previous_log: Option<LogRing>,
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
    /// The config's tags.
    pub config_tags: Vec<String>,
    /// The tags of the image's latest build (the config's, or the
    /// dashboard's edits that build ran with): what a push pushes.
    pub tags: Vec<String>,
    /// Which of `tags` a push pushes (config `push_tags`: tags or patterns
    /// with `*`; `["*"]`: every tag).
    pub push_tags: Vec<String>,
    /// The dashboard's edits the current build runs with (None: the
    /// config's values) ...
    pub run_edits: Option<ImageOverride>,
    /// ... and those the latest successful build ran with.
    pub built_edits: Option<ImageOverride>,
    /// The latest run history knows of, for an image not built in this
    /// session (with the tail of its saved log).
    pub last_run: Option<LastRun>,
    /// Why it was skipped when a dependency ended badly ("base timed out").
    pub skip_cause: Option<String>,
    /// A dependency was rebuilt since this image was built: which one.
    pub stale: Option<String>,
    /// The images (name, image id) its last successful build was built on.
    pub built_on: Vec<(String, String)>,
    /// The next build skips change detection (`F`).
    pub force_next: bool,
    /// The next build also runs without the daemon's layer cache (`N`).
    pub no_cache_next: bool,
    /// How long its latest build took (kept while it pushes, and after).
    pub build_time: Option<Duration>,
    /// The last run whose outcome the session counted (`app::session`).
    pub counted_run: RunId,
    /// The current run only pushes (`p`, `kiln push`): no build.
    pub push_only: bool,
    /// Several engines: the engine its build of this run went to.
    pub engine: Option<usize>,
    /// An engine its retry must not go to (the one lost under it); set
    /// once, so a build is retried once.
    pub avoid: Option<usize>,
    /// A transfer under way for it (several engines).
    pub transfer: Option<Transfer>,
    /// Several engines: where this run's build collects it (set when it
    /// starts).
    pub collect_to: Option<usize>,
    /// Several engines: the engines known to hold the image its latest
    /// successful build (or check) this session gave: the one that
    /// collected it first, then the one it was built on. An engine that
    /// rejoins keeps only the images it was verified to hold.
    pub held_on: Vec<usize>,
    /// Several engines: the last engine that held it rejoined without it
    /// (its image is on no engine of the run).
    pub held_nowhere: bool,
}

impl ImageState {
    pub fn new(name: String, stall_after: Duration, timeout: Duration, push: bool) -> Self {
        let tags = vec![format!("{name}:latest")];
        ImageState {
            name,
            status: Status::Idle,
            run: 0,
            builder: None,
            steps: Vec::new(),
            current_step: None,
            log: LogRing::default(),
            previous_log: None,
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
            config_tags: tags.clone(),
            tags,
            push_tags: vec!["*".to_string()],
            run_edits: None,
            built_edits: None,
            last_run: None,
            skip_cause: None,
            stale: None,
            built_on: Vec::new(),
            force_next: false,
            no_cache_next: false,
            build_time: None,
            counted_run: 0,
            push_only: false,
            engine: None,
            collect_to: None,
            held_on: Vec::new(),
            held_nowhere: false,
            avoid: None,
            transfer: None,
        }
    }

    /// With the config's tags (what a build gives without edits).
    pub fn with_tags(mut self, tags: Vec<String>) -> Self {
        self.config_tags = tags.clone();
        self.tags = tags;
        self
    }

    /// The tags a push of this image pushes: those of `tags` that
    /// `push_tags` chooses.
    pub fn tags_to_push(&self) -> Vec<String> {
        crate::config::push_tags_of(&self.tags, &self.push_tags)
    }

    /// Why it pushes nothing: its `push_tags` choose none of its tags.
    pub fn nothing_to_push(&self) -> String {
        format!(
            "nothing to push: push_tags ({}) chooses none of its tags ({})",
            self.push_tags.join(", "),
            self.tags.join(", ")
        )
    }

    /// Forget the previous run's progress (the log ring is cleared too: the
    /// previous run's full log stays on disk).
    pub fn reset_for_run(&mut self, run: RunId) {
        self.run = run;
        self.builder = None;
        self.steps.clear();
        self.current_step = None;
        let empty = self.log.emptied();
        let before = std::mem::replace(&mut self.log, empty);
        self.previous_log = (!before.is_empty()).then_some(before);
        self.marks.clear();
        self.started_at = None;
        self.finished_at = None;
        self.last_output = None;
        self.image_id = None;
        self.error = None;
        self.inputs = None;
        self.skip_cause = None;
        self.stale = None;
        self.build_time = None;
        self.push_only = false;
        self.transfer = None;
        self.push.reset();
    }

    /// Start a push-only run (`kiln push`, the dashboard's `p`): a new run
    /// id and clean push state, but the build's steps and log stay in view.
    pub fn reset_for_push_run(&mut self, run: RunId) {
        if let Some(end) = self.finished_at {
            self.build_time = self.build_time.or(self.elapsed(end));
        }
        self.push_only = true;
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
    /// left of it). None without history, and None rather than a wrong
    /// figure: while the running step is one history has no time for, or
    /// has already run longer than usual, or when nothing known is left.
    pub fn eta(&self, now: Instant) -> Option<Duration> {
        if self.usual.is_empty() || self.status != Status::Building {
            return None;
        }
        if let Some(step) = self.current_step.and_then(|s| self.steps.get(s)) {
            let usual = self.usual_for(&step.name)?;
            if now.saturating_duration_since(step.started) >= usual {
                return None;
            }
        }
        let mut left = Duration::ZERO;
        for (name, usual) in &self.usual {
            match self.steps.iter().rev().find(|s| &s.name == name) {
                Some(s) if s.duration.is_some() => {}
                Some(s) => left += usual.saturating_sub(now.saturating_duration_since(s.started)),
                None => left += *usual,
            }
        }
        (!left.is_zero()).then_some(left)
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

/// Presentation: what the list, the pane titles and the status line say
/// about an image. Pure, from the model's state.
impl ImageState {
    /// The step running now, as people read it: `[3/4] RUN make` (BuildKit
    /// names carry their position; legacy steps get it), else the latest
    /// step still open, else the latest step.
    pub fn step_label(&self) -> Option<String> {
        let open = || self.steps.iter().rposition(|s| s.duration.is_none());
        let step = self
            .current_step
            .or_else(open)
            .or(self.steps.len().checked_sub(1))
            .and_then(|s| self.steps.get(s))?;
        Some(match (step.index, step.total) {
            (Some(i), Some(n)) => format!("[{i}/{n}] {}", step.name),
            _ => step.name.clone(),
        })
    }

    /// The step a failed build failed at: the one the daemon gave an error,
    /// else the latest.
    fn failed_step(&self) -> Option<String> {
        let step = self
            .steps
            .iter()
            .rev()
            .find(|s| s.error.is_some())
            .or(self.steps.last())?;
        Some(match (step.index, step.total) {
            (Some(i), Some(n)) => format!("[{i}/{n}] {}", step.name),
            _ => step.name.clone(),
        })
    }

    /// Why this session's run ended badly, in a few words: `exit 2 at [3/4]
    /// RUN make`, `timed out after 20m`, `daemon: could not find bridge
    /// docker0`. None while it runs or when it went well.
    pub fn reason(&self) -> Option<String> {
        let took = || {
            self.finished_at
                .and_then(|end| self.elapsed(end))
                .map(format_duration)
                .unwrap_or_default()
        };
        match self.status {
            Status::Failed(phase) => Some(failure_reason(
                phase,
                self.error.as_deref().unwrap_or("unknown error"),
                self.failed_step().as_deref(),
            )),
            Status::TimedOut => Some(format!("timed out after {}", took())),
            Status::Cancelled => Some(format!("cancelled after {}", took())),
            _ => None,
        }
    }

    /// The same for the latest run history knows of.
    /// Whether the list shows its last run's age (`built 2m10s ago`): an
    /// image not built in this session (and not stale).
    pub fn shows_age(&self) -> bool {
        self.status == Status::Idle
            && self.stale.is_none()
            && self
                .last_run
                .as_ref()
                .is_some_and(|r| r.ended_ago.is_some())
    }

    pub fn last_run_reason(&self) -> Option<String> {
        let run = self.last_run.as_ref()?;
        let took = run.duration.map(format_duration).unwrap_or_default();
        match run.result {
            RunResult::Failed => Some(failure_reason(
                Phase::Build,
                run.error.as_deref().unwrap_or("unknown error"),
                run.last_step.as_deref(),
            )),
            RunResult::TimedOut => Some(format!("timed out after {took}")),
            RunResult::Cancelled => Some(format!("cancelled after {took}")),
            RunResult::Built | RunResult::Unfinished | RunResult::Running => None,
        }
    }

    /// Edits made in the dashboard that no successful build has used yet.
    pub fn pending_edits(&self, edits: Option<&ImageOverride>) -> bool {
        edits != self.built_edits.as_ref()
    }
}

/// A failure in a few words, from the daemon's message and the step it
/// failed at: a RUN's exit code (`exit 2 at [3/4] RUN make`), else the
/// message's last clause, its cause (`daemon: could not find bridge
/// docker0`); a push failure says so. The full message stays in the log.
pub fn failure_reason(phase: Phase, error: &str, step: Option<&str>) -> String {
    let first = error.lines().next().unwrap_or_default().trim();
    if phase == Phase::Push {
        return format!("push: {first}");
    }
    if let Some(code) = exit_code(first) {
        return match step {
            Some(step) => format!("exit {code} at {step}"),
            None => format!("exit {code}"),
        };
    }
    let cause = first
        .rsplit(": ")
        .map(str::trim)
        .find(|c| !c.is_empty())
        .unwrap_or(first);
    format!("daemon: {cause}")
}

/// The exit code in the classic builder's `… returned a non-zero code: 2`
/// or BuildKit's `… exit code: 2`.
fn exit_code(error: &str) -> Option<u32> {
    ["returned a non-zero code: ", "exit code: "]
        .iter()
        .find_map(|marker| {
            let (_, after) = error.rsplit_once(marker)?;
            let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_read_as_their_cause() {
        let legacy = "The command '/bin/sh -c make -j4 all' returned a non-zero code: 2";
        assert_eq!(
            failure_reason(Phase::Build, legacy, Some("[3/4] RUN make -j4 all")),
            "exit 2 at [3/4] RUN make -j4 all"
        );
        let buildkit = "process \"/bin/sh -c make\" did not complete successfully: exit code: 127";
        assert_eq!(failure_reason(Phase::Build, buildkit, None), "exit 127");
        let daemon = "failed to create endpoint x on network bridge: could not find bridge docker0";
        assert_eq!(
            failure_reason(Phase::Build, daemon, Some("[2/2] RUN x")),
            "daemon: could not find bridge docker0"
        );
        assert_eq!(
            failure_reason(
                Phase::Push,
                "authentication failed for registry r\nmore",
                None
            ),
            "push: authentication failed for registry r"
        );
        assert_eq!(failure_reason(Phase::Build, "boom", None), "daemon: boom");
    }
}
