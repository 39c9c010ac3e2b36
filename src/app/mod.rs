//! The model: all of kiln's state and the one function that changes it.
//!
//! `update(&mut App, Msg) -> Vec<Command>` is the only place state changes.
//! No I/O, no clock reads, no terminal here: time arrives in messages
//! (`Msg::Tick`, and the `at` stamp on engine messages), so every behaviour —
//! including "silent for 61 s → stalled" — is a plain sequence of messages in
//! a test. Commands say what the engine (or the front-end) should do next.

pub mod edit;
pub mod event;
pub mod image;
pub mod keys;
pub mod log;
pub mod push;
pub mod stall;
pub mod view;

use std::time::{Duration, Instant};

use crate::config::{Config, Plan};
use crate::engine::parse::{BuildEvent, PushEvent};
pub use edit::ImageOverride;
use event::{BuilderKind, Event, EventKind, Phase, SkipReason};
use image::{ImageState, Status, Step};
use log::LineKind;

/// Identifies one request to build an image; engine messages carry it so
/// that messages from a cancelled or superseded run are dropped.
pub type RunId = u64;

/// How many log lines a `failed` event carries.
const FAILURE_TAIL_LINES: usize = 10;

/// What happened. Everything that changes state arrives as one of these.
#[derive(Debug, Clone)]
pub enum Msg {
    /// The clock moved (timers: stalls, timeouts).
    Tick(Instant),
    /// Build these images (indices into the config; the caller includes
    /// their dependencies).
    BuildRequested { images: Vec<usize>, at: Instant },
    /// Something the engine observed for one image's run.
    Engine {
        run: RunId,
        image: usize,
        at: Instant,
        event: EngineEvent,
    },
    /// Ctrl-C / SIGINT: cancel everything and leave.
    Interrupt(Instant),
    /// Which daemon kiln talks to (endpoint, engine version, builder).
    DaemonInfo(String),
    /// The result of a daemon ping while builds run.
    DaemonHealth { ok: bool, detail: String },
    /// Something the user should know that is not about one image (e.g.
    /// history is off): shown in the status bar, printed headless.
    Notice(String),
    /// Dashboard: a key was pressed (see `keys`).
    Key {
        key: crossterm::event::KeyEvent,
        at: Instant,
    },
    /// Dashboard: the mouse did something.
    Mouse {
        event: crossterm::event::MouseEvent,
        at: Instant,
    },
    /// Dashboard: the terminal's size.
    Resize { width: u16, height: u16 },
    /// `kiln push`: push these images' tags as they are now (no build).
    PushRequested { images: Vec<usize>, at: Instant },
}

/// What the engine reports about one image's run.
#[derive(Debug, Clone)]
pub enum EngineEvent {
    /// The daemon accepted the build; which builder runs it.
    Started {
        builder: BuilderKind,
    },
    Build(BuildEvent),
    Built {
        image_id: String,
    },
    /// The engine decided not to build (unchanged, prebuilt image present).
    Skipped(SkipReason),
    Failed {
        phase: Phase,
        error: String,
    },
    /// Something to tell the user about this image (fallbacks, warnings).
    Notice(String),
    /// What this build's inputs are (change detection; kept in history).
    Inputs {
        digest: String,
        inputs: String,
    },
    /// From history: this image's steps in their last order, each with its
    /// usual (median) duration — for "slower than usual" and the ETA.
    UsualSteps(Vec<(String, Duration)>),
    /// A line of the push of `tag` (layer progress, retries, status text).
    Push {
        tag: String,
        event: PushEvent,
    },
    /// `tag` is in the registry; `digest` is its manifest's.
    Pushed {
        tag: String,
        digest: String,
    },
    /// Every tag is pushed (failures come as `Failed { phase: Push }`).
    PushDone,
}

/// What should happen next, carried out outside the model.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Engine: build (or check, for prebuilt images) this image, with the
    /// dashboard's edits for this run applied to its config, if any.
    StartBuild {
        run: RunId,
        image: usize,
        overrides: Option<ImageOverride>,
    },
    /// Engine: stop this image's work on the daemon.
    Cancel { run: RunId, image: usize },
    /// Front-end: report this event.
    Emit(Event),
    /// Engine: push this image's tags (a fresh build of run `run`).
    Push { run: RunId, image: usize },
    /// Front-end: leave (the dashboard's `q`).
    Quit,
}

/// Per-run choices that override the config (from the command line).
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub jobs: Option<usize>,
    pub push: bool,
    pub stall_after: Option<Duration>,
    pub timeout: Option<Duration>,
}

pub struct App {
    pub images: Vec<ImageState>,
    /// `deps[i]`: the images `i` builds on.
    pub deps: Vec<Vec<usize>>,
    /// Build order (topological, config order among peers).
    pub order: Vec<usize>,
    pub plan: Plan,
    /// Concurrent builds allowed.
    pub jobs: usize,
    /// The latest time the model has seen.
    pub now: Option<Instant>,
    pub run_started: Option<Instant>,
    next_run: RunId,
    /// Ctrl-C was pressed: everything is being cancelled.
    pub interrupted: bool,
    /// Why the daemon is not answering pings, while it isn't.
    pub daemon_down: Option<String>,
    /// Which daemon this is, for the status bar.
    pub daemon: Option<String>,
    /// The dashboard's view state.
    pub view: view::View,
    /// Per image: edits from the dashboard for its next builds.
    pub overrides: Vec<Option<ImageOverride>>,
}

impl App {
    pub fn new(config: &Config, opts: &RunOptions) -> App {
        let plan = config.plan();
        let images = config
            .images
            .iter()
            .map(|c| {
                ImageState::new(
                    c.name.clone(),
                    opts.stall_after.unwrap_or(c.stall_after),
                    opts.timeout.unwrap_or(c.timeout),
                    opts.push || c.push,
                )
            })
            .collect();
        let deps = plan
            .deps
            .iter()
            .map(|ds| ds.iter().map(|d| d.on).collect())
            .collect();
        let n = config.images.len();
        App {
            images,
            deps,
            order: plan.order.clone(),
            plan,
            jobs: opts.jobs.unwrap_or(config.jobs).max(1),
            now: None,
            run_started: None,
            next_run: 1,
            interrupted: false,
            daemon_down: None,
            daemon: None,
            view: view::View::new(config),
            overrides: vec![None; n],
        }
    }

    /// The `plan` event: all images in build order, and the waves.
    pub fn plan_event(&self, only: &[usize]) -> Event {
        let name = |i: &usize| self.images[*i].name.clone();
        let images = self
            .order
            .iter()
            .filter(|i| only.contains(i))
            .map(name)
            .collect();
        let waves = self
            .plan
            .waves
            .iter()
            .map(|w| w.iter().filter(|i| only.contains(i)).map(name).collect())
            .filter(|w: &Vec<String>| !w.is_empty())
            .collect();
        Event {
            image: None,
            kind: EventKind::Plan { images, waves },
        }
    }

    /// Nothing queued or running.
    pub fn is_idle(&self) -> bool {
        !self.images.iter().any(|i| i.status.is_pending())
    }

    pub fn running(&self) -> usize {
        self.images
            .iter()
            .filter(|i| matches!(i.status, Status::Building | Status::Stalled(Phase::Build)))
            .count()
    }

    /// The `summary` event for images that took part in a run.
    pub fn summary(&self, now: Instant) -> Event {
        let mut succeeded = Vec::new();
        let mut failed = Vec::new();
        let mut skipped = Vec::new();
        for i in &self.order {
            let img = &self.images[*i];
            match img.status {
                Status::Done => succeeded.push(img.name.clone()),
                Status::Skipped(_) => skipped.push(img.name.clone()),
                s if s.is_failure() => failed.push(img.name.clone()),
                _ => {}
            }
        }
        let duration_ms = self
            .run_started
            .map(|s| ms(now.saturating_duration_since(s)))
            .unwrap_or(0);
        Event {
            image: None,
            kind: EventKind::Summary {
                succeeded,
                failed,
                skipped,
                duration_ms,
            },
        }
    }

    /// DESIGN.md's exit codes: 130 interrupted, 1 anything failed, else 0.
    pub fn exit_code(&self) -> i32 {
        if self.interrupted {
            130
        } else if self.images.iter().any(|i| i.status.is_failure()) {
            1
        } else {
            0
        }
    }

    fn emit(&self, out: &mut Vec<Command>, image: usize, kind: EventKind) {
        out.push(Command::Emit(Event::for_image(
            &self.images[image].name,
            kind,
        )));
    }
}

pub fn ms(d: Duration) -> u64 {
    d.as_millis().min(u64::MAX as u128) as u64
}

/// The one place state changes.
pub fn update(app: &mut App, msg: Msg) -> Vec<Command> {
    let mut out = Vec::new();
    match msg {
        Msg::Tick(now) => {
            app.now = Some(now);
            stall::check_timers(app, now, &mut out);
            schedule(app, now, &mut out);
        }
        Msg::BuildRequested { images, at } => {
            app.now = Some(at);
            request_builds(app, &images, at, &mut out);
            schedule(app, at, &mut out);
        }
        Msg::Engine {
            run,
            image,
            at,
            event,
        } => {
            app.now = Some(at);
            let Some(img) = app.images.get(image) else {
                return out;
            };
            // Stale: a cancelled or superseded run, or an image already done.
            if img.run != run || !img.status.is_active() {
                return out;
            }
            on_engine_event(app, image, at, event, &mut out);
            schedule(app, at, &mut out);
        }
        Msg::DaemonHealth { ok, detail } => {
            let message = match (ok, app.daemon_down.is_some()) {
                (false, false) => format!("the Docker daemon is not answering: {detail}"),
                (true, true) => "the Docker daemon is answering again".to_string(),
                _ => return out,
            };
            app.daemon_down = (!ok).then_some(detail);
            notice(app, message, &mut out);
        }
        Msg::Notice(message) => notice(app, message, &mut out),
        Msg::DaemonInfo(label) => app.daemon = Some(label),
        Msg::Interrupt(at) => {
            app.now = Some(at);
            app.interrupted = true;
            for i in app.order.clone() {
                let status = app.images[i].status;
                if status.is_active() {
                    cancel(app, i, at, &mut out);
                } else if status == Status::Queued {
                    app.images[i].status = Status::Cancelled;
                    app.images[i].finished_at = Some(at);
                    app.emit(&mut out, i, EventKind::Cancelled { after_ms: 0 });
                }
            }
        }
        Msg::Key { key, at } => {
            app.now = Some(at);
            keys::on_key(app, key, at, &mut out);
        }
        Msg::Mouse { event, at } => {
            app.now = Some(at);
            keys::on_mouse(app, event, at);
        }
        Msg::Resize { width, height } => {
            app.view.width = width;
            app.view.height = height;
        }
        Msg::PushRequested { images, at } => {
            app.now = Some(at);
            push::request_pushes(app, &images, at, &mut out);
        }
    }
    out
}

fn notice(app: &mut App, message: String, out: &mut Vec<Command>) {
    app.view.message = Some(message.clone());
    out.push(Command::Emit(Event {
        image: None,
        kind: EventKind::Notice { message },
    }));
}

fn request_builds(app: &mut App, images: &[usize], at: Instant, out: &mut Vec<Command>) {
    if app.is_idle() {
        app.run_started = Some(at);
    }
    for &i in app.order.clone().iter().filter(|i| images.contains(i)) {
        if app.images[i].status.is_pending() {
            continue; // already on its way
        }
        let run = app.next_run;
        app.next_run += 1;
        let img = &mut app.images[i];
        img.reset_for_run(run);
        img.status = Status::Queued;
        app.emit(out, i, EventKind::Queued);
    }
}

/// Start what can start: queued images whose dependencies are ready, up to
/// the jobs limit, in build order; skip those whose dependencies failed.
fn schedule(app: &mut App, now: Instant, out: &mut Vec<Command>) {
    for i in app.order.clone() {
        if app.images[i].status != Status::Queued {
            continue;
        }
        let deps = &app.deps[i];
        if deps
            .iter()
            .any(|d| push::fails_dependents(app.images[*d].status))
        {
            let img = &mut app.images[i];
            img.status = Status::Skipped(SkipReason::DependencyFailed);
            img.finished_at = Some(now);
            app.emit(
                out,
                i,
                EventKind::Skipped {
                    reason: SkipReason::DependencyFailed,
                },
            );
            continue;
        }
        let ready = deps
            .iter()
            .all(|d| push::built_for_dependents(app.images[*d].status));
        if !ready || app.running() >= app.jobs {
            continue;
        }
        let img = &mut app.images[i];
        img.status = Status::Building;
        img.started_at = Some(now);
        img.last_output = Some(now);
        out.push(Command::StartBuild {
            run: img.run,
            image: i,
            overrides: app.overrides[i].clone(),
        });
    }
}

fn cancel(app: &mut App, i: usize, at: Instant, out: &mut Vec<Command>) {
    let img = &mut app.images[i];
    let after_ms = img.elapsed(at).map(ms).unwrap_or(0);
    img.status = Status::Cancelled;
    img.finished_at = Some(at);
    img.log.push(LineKind::Note, "cancelled".into());
    out.push(Command::Cancel {
        run: img.run,
        image: i,
    });
    app.emit(out, i, EventKind::Cancelled { after_ms });
}

/// Any sign of life: remember it, and leave the stalled state if in it.
fn saw_output(app: &mut App, i: usize, at: Instant, out: &mut Vec<Command>) {
    let img = &mut app.images[i];
    let silent = img
        .last_output
        .map(|t| at.saturating_duration_since(t))
        .unwrap_or_default();
    img.last_output = Some(at);
    if let Status::Stalled(phase) = img.status {
        img.status = match phase {
            Phase::Build => Status::Building,
            Phase::Push => Status::Pushing,
        };
        img.log.push(
            LineKind::Note,
            format!(
                "output resumed after {} of silence",
                crate::config::format_duration(silent)
            ),
        );
        app.emit(
            out,
            i,
            EventKind::Resumed {
                silent_ms: ms(silent),
            },
        );
    }
}

fn on_engine_event(
    app: &mut App,
    i: usize,
    at: Instant,
    event: EngineEvent,
    out: &mut Vec<Command>,
) {
    match event {
        EngineEvent::Started { builder } => {
            app.images[i].builder = Some(builder);
            saw_output(app, i, at, out);
            app.emit(out, i, EventKind::Started { builder });
        }
        EngineEvent::Build(ev) => {
            saw_output(app, i, at, out);
            on_build_event(app, i, at, ev, out);
        }
        EngineEvent::Built { image_id } => {
            finish_current_step(app, i, at, out);
            let img = &mut app.images[i];
            img.image_id = Some(image_id.clone());
            let duration_ms = img.elapsed(at).map(ms).unwrap_or(0);
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
                push::start(app, i, at, out);
            }
        }
        EngineEvent::Skipped(reason) => {
            let img = &mut app.images[i];
            img.status = Status::Skipped(reason);
            img.finished_at = Some(at);
            let push = reason == SkipReason::Unchanged && img.push.enabled;
            app.emit(out, i, EventKind::Skipped { reason });
            // Unchanged is no reason not to push: the registry may not have
            // it yet (or lost it); layers it has are skipped quickly.
            if push {
                app.images[i].finished_at = None;
                push::start(app, i, at, out);
            }
        }
        EngineEvent::Failed { phase, error } => {
            if phase == Phase::Push {
                push::flush(app, i, out);
            }
            let img = &mut app.images[i];
            img.status = Status::Failed(phase);
            img.finished_at = Some(at);
            img.current_step = None;
            img.error = Some(error.clone());
            for line in error.lines() {
                img.log.push(LineKind::Error, line.to_string());
            }
            let log_tail = img.log.tail(FAILURE_TAIL_LINES);
            app.emit(
                out,
                i,
                EventKind::Failed {
                    phase,
                    error,
                    log_tail,
                },
            );
        }
        EngineEvent::UsualSteps(steps) => {
            app.images[i].usual = steps;
        }
        EngineEvent::Inputs { digest, inputs } => {
            app.emit(out, i, EventKind::Inputs { digest, inputs });
        }
        EngineEvent::Notice(message) => {
            app.images[i].log.push(LineKind::Note, message.clone());
            app.emit(out, i, EventKind::Notice { message });
        }
        EngineEvent::Push { tag, event } => push::on_progress(app, i, at, tag, event, out),
        EngineEvent::Pushed { tag, digest } => push::on_pushed(app, i, at, tag, digest, out),
        EngineEvent::PushDone => push::on_done(app, i, at, out),
    }
}

fn on_build_event(app: &mut App, i: usize, at: Instant, ev: BuildEvent, out: &mut Vec<Command>) {
    match ev {
        BuildEvent::Step {
            id,
            index,
            total,
            name,
            cached,
        } => {
            let img = &mut app.images[i];
            let header = if cached {
                format!("{name}  CACHED")
            } else {
                name.clone()
            };
            img.log.push(LineKind::Step, header);
            img.steps.push(Step {
                id,
                index,
                total,
                name: name.clone(),
                cached,
                started: at,
                duration: None,
                error: None,
                flagged_slow: false,
            });
            img.current_step = Some(img.steps.len() - 1);
            app.emit(
                out,
                i,
                EventKind::Step {
                    index,
                    total,
                    name,
                    cached,
                },
            );
        }
        BuildEvent::StepDone { id, cached, error } => {
            let img = &mut app.images[i];
            let Some(s) = img.step_by_id(&id) else {
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
            let (name, cached) = (step.name.clone(), step.cached);
            if img.current_step == Some(s) {
                img.current_step = None;
            }
            app.emit(
                out,
                i,
                EventKind::StepDone {
                    name,
                    cached,
                    duration_ms: ms(duration),
                },
            );
        }
        BuildEvent::Log { step, line } => {
            let img = &mut app.images[i];
            let step_name = step
                .as_deref()
                .and_then(|id| img.step_by_id(id))
                .or(img.current_step)
                .map(|s| img.steps[s].name.clone());
            img.log.push(LineKind::Output, line.clone());
            app.emit(
                out,
                i,
                EventKind::Log {
                    line,
                    step: step_name,
                },
            );
        }
        BuildEvent::ImageId(id) => {
            app.images[i].image_id = Some(id);
        }
        BuildEvent::Error(message) => {
            let img = &mut app.images[i];
            img.error = Some(message);
        }
    }
}

/// Legacy builds end their last step only implicitly: close it on success.
fn finish_current_step(app: &mut App, i: usize, at: Instant, out: &mut Vec<Command>) {
    if let Some(s) = app.images[i].current_step {
        let id = app.images[i].steps[s].id.clone();
        let cached = app.images[i].steps[s].cached;
        on_build_event(
            app,
            i,
            at,
            BuildEvent::StepDone {
                id,
                cached,
                error: None,
            },
            out,
        );
    }
}
