//! The model: all of kiln's state and the one function that changes it.
//!
//! `update(&mut App, Msg) -> Vec<Command>` is the only place state changes.
//! No I/O, no clock reads, no terminal here: time arrives in messages
//! (`Msg::Tick`, and the `at` stamp on engine messages), so every behaviour —
//! including "silent for 61 s → stalled" — is a plain sequence of messages in
//! a test. Commands say what the engine, the history or the front-end should
//! do next; the runtime (`crate::runtime`) carries them out.
//!
//! Files: `message` (Msg in, Command out), `schedule` (who runs when),
//! `build` and `push` (an image's run as the engine reports it), `stall`
//! (timers), `status`/`image`/`log` (per-image state), `step_marks` (which
//! step a line of interleaved output belongs to), `event` (the JSON
//! contract's events), `session` (what this session did: outcomes, stale
//! images), `keys`/`view`/`edit` (the dashboard's side).

mod build;
pub mod edit;
mod engines;
pub mod event;
pub mod image;
pub mod keys;
pub mod log;
pub mod message;
pub mod placement;
pub mod push;
pub mod schedule;
pub mod session;
pub mod stall;
pub mod status;
pub mod step_marks;
pub mod view;
pub mod watch;
pub mod words;

use std::time::{Duration, Instant};

use crate::config::{Config, Plan};
use crate::exit;
use crate::human::millis;
use crate::protocol::{
    EngineEvent, EngineSlot, ImageHistory, ImageOverride, Phase, RunId, SkipReason,
};
use event::{Event, EventKind};
use image::ImageState;
use log::LineKind;
pub use message::{Command, Msg, Stop};
use schedule::RunKind;
use status::Status;

/// Per-run choices that override the config (from the command line).
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub jobs: Option<usize>,
    pub push: bool,
    /// The images `push` is for (those named on the command line, not the
    /// dependencies built for them); `None`: every image.
    pub push_images: Option<Vec<String>>,
    pub stall_after: Option<Duration>,
    pub timeout: Option<Duration>,
    /// Build every image even when nothing changed (`--force`).
    pub force: bool,
    /// Build without the layer cache (`--no-cache`): also always builds.
    pub no_cache: bool,
    /// Pull every base image (`--pull`): change detection asks the
    /// registries.
    pub pull: bool,
    /// The stack's engines (several engines; empty: the one engine), in
    /// the config's order, with those out of the run marked down.
    pub engines: Vec<EngineSlot>,
}

impl RunOptions {
    /// Whether `--push` is for image `name`.
    pub fn pushes(&self, name: &str) -> bool {
        self.push
            && self
                .push_images
                .as_ref()
                .is_none_or(|names| names.iter().any(|n| n == name))
    }
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
    /// Why the run was stopped all at once (Ctrl-C, a signal, output
    /// closed): everything is being cancelled.
    pub stopped: Option<Stop>,
    /// Why the run could not do what it was asked, beyond any build
    /// (`kiln watch` that cannot watch files): said on stderr as it ends.
    pub failure: Option<String>,
    /// The build history is open (change detection can compare).
    pub history_on: bool,
    /// Why the daemon is not answering pings, while it isn't.
    pub daemon_down: Option<String>,
    /// Which daemon this is, for the status bar.
    pub daemon: Option<String>,
    /// The dashboard's view state.
    pub view: view::View,
    /// Per image: edits from the dashboard for its next builds.
    pub overrides: Vec<Option<ImageOverride>>,
    /// What this session did, run by run.
    pub session: session::Session,
    /// Watch mode, while on (`kiln watch`, `W`).
    pub watch: Option<watch::Watch>,
    /// The run options, to set up images a reloaded stack adds.
    pub options: RunOptions,
    /// The last tick changed an age the list shows (`built 12s ago`): the
    /// screen needs drawing again although nothing else changed.
    pub clock_moved: bool,
    /// The run's engines (several engines; empty: the one engine).
    pub engines: Vec<EngineSlot>,
    /// Each image's `engine:` pin.
    pub pins: Vec<Option<String>>,
    /// Built images also go to the first engine.
    pub collect: bool,
    /// The engine that collects: the first one in the run at the start.
    pub collector: Option<usize>,
    /// What the dashboard's frame calls the stack (the config's `label`:
    /// its file, or the compose project); empty: nothing is shown.
    pub stack_label: String,
    /// Engines that answered again, whose images are being looked up
    /// before they rejoin (a loss meanwhile drops them from here).
    pub rejoining: Vec<usize>,
}

impl App {
    pub fn new(config: &Config, opts: &RunOptions) -> App {
        let plan = config.plan();
        let images = config
            .images
            .iter()
            .map(|c| {
                let mut img = ImageState::new(
                    c.name.clone(),
                    opts.stall_after.unwrap_or(c.stall_after),
                    opts.timeout.unwrap_or(c.timeout),
                    opts.pushes(&c.name) || c.push,
                )
                .with_tags(c.tags.clone());
                img.push_tags = c.push_tags.clone();
                img.always_build = opts.force || opts.no_cache || c.no_cache;
                img.pull = opts.pull || c.pull;
                img
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
            stopped: None,
            failure: None,
            history_on: false,
            daemon_down: None,
            daemon: None,
            view: view::View::new(config),
            overrides: vec![None; n],
            session: session::Session::default(),
            watch: None,
            options: opts.clone(),
            clock_moved: false,
            engines: opts.engines.clone(),
            pins: config.images.iter().map(|c| c.engine.clone()).collect(),
            collect: config.collect,
            collector: opts.engines.iter().position(|e| e.down.is_none()),
            stack_label: config.label.clone(),
            rejoining: Vec::new(),
        }
    }

    /// The change check image `i`'s next build would be started with
    /// (`kiln build --dry-run` asks the engine what it would find).
    pub fn change_check(&self, i: usize) -> crate::protocol::ChangeCheck {
        schedule::change_check(self, i)
    }

    /// Draw with colours or not (NO_COLOR, read by the front-end).
    pub fn with_color(mut self, color: bool) -> App {
        self.view.color = color;
        self
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

    /// Watch mode is on: the run lasts until the user leaves.
    pub fn is_watching(&self) -> bool {
        self.watch.is_some()
    }

    /// Whether the scheduler must start nothing new: a reshaping reload
    /// (watch mode) waits for the running builds to end.
    pub fn holds_builds(&self) -> bool {
        self.watch.as_ref().is_some_and(watch::Watch::holds_builds)
    }

    /// Nothing queued or running.
    pub fn is_idle(&self) -> bool {
        !self.images.iter().any(|i| i.status.is_pending())
    }

    /// Whether the list shows an age that moves with the clock (an image
    /// not built in this session, with its last run's age): then an idle
    /// dashboard still ticks, once a second.
    pub fn shows_ages(&self) -> bool {
        self.images.iter().any(ImageState::shows_age)
    }

    /// Several engines: each engine's builds and slots.
    pub fn engine_loads(&self) -> Vec<placement::Load> {
        engines::loads(self)
    }

    /// Builds holding a job slot.
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
            .map(|s| millis(now.saturating_duration_since(s)))
            .unwrap_or(0);
        Event {
            image: None,
            kind: EventKind::Summary {
                succeeded,
                failed,
                skipped,
                duration_ms,
                dry: None,
            },
        }
    }

    /// The process's exit code (`crate::exit`): how it was stopped, else
    /// whether anything failed.
    pub fn exit_code(&self) -> i32 {
        match self.stopped {
            Some(Stop::Interrupt) => exit::INTERRUPTED,
            Some(Stop::Terminate) => exit::TERMINATED,
            Some(Stop::Hangup) => exit::HUNG_UP,
            Some(Stop::OutputClosed | Stop::CannotWatch) => exit::FAILED,
            None if self.images.iter().any(|i| i.status.is_failure()) => exit::FAILED,
            None => exit::SUCCESS,
        }
    }

    /// Emit an event of image `image`: its lines go to the image's log
    /// (`words::log_lines`, the pane), and the event to the front-end and
    /// the history.
    fn emit(&mut self, out: &mut Vec<Command>, image: usize, kind: EventKind) {
        self.show(image, &kind);
        self.announce(out, image, kind);
    }

    /// The lines `kind` puts in image `image`'s log (the first half of
    /// `emit`, for an event that carries the log's tail).
    fn show(&mut self, image: usize, kind: &EventKind) {
        let img = &mut self.images[image];
        words::log_lines(kind, &mut img.marks, |k, text| img.log.push(k, text));
    }

    /// The event, for the front-end and the history (the second half of
    /// `emit`).
    fn announce(&self, out: &mut Vec<Command>, image: usize, kind: EventKind) {
        out.push(Command::Emit(Event::for_image(
            &self.images[image].name,
            kind,
        )));
    }

    fn new_run_id(&mut self) -> RunId {
        let run = self.next_run;
        self.next_run += 1;
        run
    }

    fn index_of(&self, name: &str) -> Option<usize> {
        self.images.iter().position(|i| i.name == name)
    }
}

/// The one place state changes. Text from outside kiln in `msg` is
/// sanitised first (`Msg::sanitized`).
pub fn update(app: &mut App, msg: Msg) -> Vec<Command> {
    let mut out = Vec::new();
    match msg.sanitized() {
        Msg::Tick(now) => {
            let before = app.now.replace(now);
            app.clock_moved = match before {
                Some(before) => ages_moved(app, before, now),
                None => app.shows_ages(),
            };
            stall::check_timers(app, now, &mut out);
            watch::settle(app, now, &mut out);
            schedule::schedule(app, now, &mut out);
        }
        Msg::BuildRequested { images, at } => {
            app.now = Some(at);
            schedule::request_run(app, RunKind::Build, &images, at, &mut out);
            schedule::schedule(app, at, &mut out);
        }
        Msg::PushRequested { images, at } => {
            app.now = Some(at);
            schedule::request_run(app, RunKind::Push, &images, at, &mut out);
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
            watch::settle(app, at, &mut out);
            schedule::schedule(app, at, &mut out);
        }
        Msg::HistoryKnown(known) => on_history(app, known),
        Msg::Interrupt(at) => stop(app, Stop::Interrupt, at, &mut out),
        Msg::Stop { why, at } => stop(app, why, at, &mut out),
        Msg::DaemonHealth { ok, detail } => on_daemon_health(app, ok, detail, &mut out),
        msg @ (Msg::EngineLost { .. } | Msg::EngineAnswers { .. } | Msg::EngineBack { .. }) => {
            on_engine_health(app, msg, &mut out);
        }
        Msg::Notice(message) => notice(app, message, &mut out),
        Msg::DaemonInfo(label) => app.daemon = Some(label),
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
        Msg::WatchRequested {
            names,
            images,
            restart,
            at,
        } => watch::on_request(app, (names, images, restart), at, &mut out),
        Msg::Watch(event) => watch::on_event(app, event, &mut out),
    }
    session::count_outcomes(app);
    keys::settle(app);
    out
}

/// Whether an age the list shows reads differently at `now` than at
/// `before` (`12s ago` → `13s ago`; `2h00m ago` moves once a minute).
fn ages_moved(app: &App, before: Instant, now: Instant) -> bool {
    app.images.iter().filter(|i| i.shows_age()).any(|img| {
        let text = |at| {
            img.last_run
                .as_ref()
                .and_then(|r| r.age(at))
                .map(crate::human::format_duration)
        };
        text(before) != text(now)
    })
}

/// An engine event for image `i`'s current run; a fresh build also makes
/// the images built on it stale, and is what its edits were built into.
fn on_engine_event(
    app: &mut App,
    i: usize,
    at: Instant,
    event: EngineEvent,
    out: &mut Vec<Command>,
) {
    let built = match &event {
        EngineEvent::Built { .. } => Some(session::known_image_id(app, i)),
        _ => None,
    };
    let unchanged = matches!(event, EngineEvent::Skipped(SkipReason::Unchanged));
    let prebuilt = matches!(event, EngineEvent::Skipped(SkipReason::Prebuilt));
    if built.is_some() || unchanged || prebuilt {
        // Before the event: a push it starts goes from where the image is.
        engines::on_image_ready(app, i);
    }
    build::on_engine_event(app, i, at, event, out);
    if built.is_some() || unchanged {
        let img = &mut app.images[i];
        img.built_edits = img.run_edits.clone();
    }
    if let Some(before) = built {
        session::mark_dependents_stale(app, i, before);
    }
}

/// Stop everything at once and leave; the first reason is the one the
/// exit code tells.
pub(super) fn stop(app: &mut App, why: Stop, at: Instant, out: &mut Vec<Command>) {
    app.now = Some(at);
    app.stopped.get_or_insert(why);
    schedule::cancel_all(app, at, out);
    keys::quit(app, out);
}

/// What history knows arrived: the usual step durations (ETA, "slower than
/// usual"), the last success (change detection) and, when history opens,
/// each image's latest run, whose saved log's tail fills the pane of an
/// image this session has not built.
fn on_history(app: &mut App, known: Vec<(String, ImageHistory)>) {
    app.history_on = true;
    for (name, facts) in known {
        if let Some(i) = app.index_of(&name) {
            let img = &mut app.images[i];
            img.usual = facts.usual_steps;
            img.last_success = facts.last_success;
            img.built_on = facts.built_on;
            if let Some(mut run) = facts.last_run {
                // Another kiln's run, newer than what this one shows: the
                // row and the pane show it (this session's own result of an
                // image it is not building gives way).
                let news = run.by_other && img.last_run.as_ref().is_none_or(|r| r.id != run.id);
                if news && img.status.is_final() {
                    img.status = status::Status::Idle;
                }
                if news && !img.status.is_pending() {
                    img.stale = None;
                }
                if img.status == status::Status::Idle && (img.log.is_empty() || news) {
                    img.log.clear();
                    show_saved_log(img, std::mem::take(&mut run.log_tail));
                }
                img.last_run = Some(run);
            }
        }
    }
    session::mark_stale_from_history(app);
}

/// The tail of the latest run's saved log, as the pane showed it
/// (`words::read_saved_line`).
fn show_saved_log(img: &mut ImageState, tail: Vec<String>) {
    if tail.is_empty() {
        return;
    }
    img.log.push(
        LineKind::Note,
        "the latest run's log, from its saved file (o shows all of it):".into(),
    );
    for line in tail {
        let (kind, text) = words::read_saved_line(&line);
        img.log.push(kind, text);
    }
}

/// Several engines: one lost, answering again, or back in the run.
fn on_engine_health(app: &mut App, msg: Msg, out: &mut Vec<Command>) {
    match msg {
        Msg::EngineLost { engine, why, at } => {
            app.now = Some(at);
            engines::on_lost(app, engine, why, at, out);
            schedule::schedule(app, at, out);
        }
        Msg::EngineAnswers { engine, at } => {
            app.now = Some(at);
            engines::on_answers(app, engine, out);
        }
        Msg::EngineBack {
            engine,
            present,
            at,
        } => {
            app.now = Some(at);
            engines::on_back(app, engine, &present, out);
            schedule::schedule(app, at, out);
        }
        _ => {}
    }
}

fn on_daemon_health(app: &mut App, ok: bool, detail: String, out: &mut Vec<Command>) {
    let message = match (ok, app.daemon_down.is_some()) {
        (false, false) => format!("the Docker daemon is not answering: {detail}"),
        (true, true) => "the Docker daemon is answering again".to_string(),
        _ => return,
    };
    app.daemon_down = (!ok).then_some(detail);
    notice(app, message, out);
}

fn notice(app: &mut App, message: String, out: &mut Vec<Command>) {
    app.view.message = Some(message.clone());
    out.push(Command::Emit(Event {
        image: None,
        kind: EventKind::Notice { message },
    }));
}
