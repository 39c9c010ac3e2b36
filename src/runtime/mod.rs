//! The one runtime every front-end runs on: the model's message channel,
//! the engine's executor, the history thread, the daemon health check, the
//! signals, the clock and (in watch mode) the file watcher, merged into one
//! loop that feeds `app::update` and carries out the commands it returns.
//! A front-end (`headless`'s printer, the dashboard) only shows: it prints
//! events or draws the model, and may add input of its own (keys, mouse,
//! resize).
//!
//! ```text
//!  engine tasks ──┐ Report
//!  file watcher ──┤ (translate)
//!  history thread ┤
//!  ticks, pings ──┼─► Msg ─► app::update ─► Commands ─┬─► Executor (engine), as Requests
//!  signals ───────┤                                   ├─► history thread
//!  front-end input┘                                   ├─► FrontEnd::show
//!                                                      └─► FrontEnd::perform
//! ```
//!
//! The engine does not know the model: its tasks and its watcher report
//! on a channel of their own (`engine::report::Report`), and take
//! `engine::executor::Request`s; `translate` maps both ways.

mod health;
mod recording;
mod signals;
mod translate;

use std::collections::VecDeque;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bollard::Docker;
use tokio::sync::mpsc;

use crate::app::event::Event;
use crate::app::{self, App, Command, Msg};
use crate::config::{Config, StackSource};
use crate::engine::build::BuildFlags;
use crate::engine::executor::Executor;
use crate::engine::report::Report;
use crate::engine::watch::Watcher;
use crate::protocol::{EngineSlot, RunResult, WatchEvent};
use health::{EngineHealth, HealthCheck};
use recording::first_error_line;
use recording::Recording;
use signals::Signals;

/// Engine reports (and other messages) in flight before a build task
/// waits for the loop.
pub(crate) const CHANNEL_CAPACITY: usize = 4096;
/// How often timers are checked (stall and timeout precision), while
/// anything is queued or running.
const TICK: Duration = Duration::from_millis(250);
/// How often an idle front-end that shows ages ticks.
const IDLE_TICK: Duration = Duration::from_secs(1);

/// What a front-end does in the loop. The runtime owns everything else.
pub(crate) trait FrontEnd {
    /// An event the model emitted (the printers print it; the dashboard
    /// draws the model instead).
    fn show(&mut self, event: &Event);

    /// Bring the output up to date after a message. `changed`: the message
    /// changed something; `backlog`: more messages are already waiting.
    fn present(&mut self, app: &App, changed: bool, backlog: bool) -> io::Result<()>;

    /// The front-end's own next input: `Some` goes to the model; `None`
    /// only asks to present again (a frame is due). A front-end without
    /// input never resolves.
    async fn input(&mut self) -> io::Result<Option<Msg>>;

    /// Whether the run is over without anyone quitting (headless: nothing
    /// left to build).
    fn finished(&self, app: &App) -> bool;

    /// Something to do with the terminal (the dashboard's pager, clipboard,
    /// mouse); what came of it, if the model should know. The printers
    /// have no terminal of their own and ignore it.
    fn perform(&mut self, _effect: Effect) -> Option<Msg> {
        None
    }

    /// Whether the model should get each image's latest saved log when
    /// history opens (the dashboard shows it; the printers do not).
    fn shows_saved_logs(&self) -> bool {
        false
    }

    /// Whether the front-end shows ages that move while nothing runs
    /// (the dashboard's `built 12s ago`): then the loop ticks once a second
    /// while idle, and draws again when one reads differently.
    fn shows_ages(&self) -> bool {
        false
    }

    /// Whether another program (the dashboard's pager) has the terminal
    /// now: a Ctrl-C typed meanwhile is that program's.
    fn terminal_lent(&self) -> bool {
        false
    }
}

/// What a front-end is asked to do with its terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Effect {
    /// Hand the terminal to `$PAGER` on this file, then take it back;
    /// the line to open it at (a failed build's first error), 1-based.
    Pager(PathBuf, Option<usize>),
    /// Put this (sanitised) text on the clipboard.
    Copy(String),
    /// Capture the mouse, or leave it to the terminal.
    MouseCapture(bool),
}

pub(crate) struct Runtime {
    config: Arc<Config>,
    /// Where engine tasks and the watcher report.
    engine_tx: mpsc::Sender<Report>,
    reports: mpsc::Receiver<Report>,
    /// Where the health check (and the runtime itself) send messages.
    tx: mpsc::Sender<Msg>,
    messages: mpsc::Receiver<Msg>,
    history_answers: mpsc::UnboundedReceiver<Msg>,
    history_tx: mpsc::UnboundedSender<Msg>,
    executor: Executor,
    recording: Option<Recording>,
    health: HealthCheck,
    /// Several engines: each one's pings.
    engine_health: Option<EngineHealth>,
    signals: Signals,
    /// Watch mode's file watcher, while the model watches.
    watcher: Option<Watcher>,
    /// How to load the stack again when its file changes in watch mode.
    reload: Option<StackSource>,
}

impl Runtime {
    /// Everything a run needs, listening for signals from now on.
    pub(crate) fn new(docker: Docker, config: Arc<Config>, flags: BuildFlags) -> Runtime {
        let (tx, messages) = mpsc::channel(CHANNEL_CAPACITY);
        let (engine_tx, reports) = mpsc::channel(CHANNEL_CAPACITY);
        let (history_tx, history_answers) = mpsc::unbounded_channel();
        Runtime {
            config: config.clone(),
            engine_tx: engine_tx.clone(),
            reports,
            tx: tx.clone(),
            messages,
            history_answers,
            history_tx,
            health: HealthCheck::new(docker.clone(), tx),
            executor: Executor::new(docker, config, flags, engine_tx),
            recording: None,
            engine_health: None,
            signals: Signals::listen(),
            watcher: None,
            reload: None,
        }
    }

    /// Several engines: build on these (`engine::multi`), as the model
    /// places each build.
    /// An engine out of the run that may come back (`slots`: the model's
    /// engines) is tried again while the run lasts.
    pub(crate) fn with_engines(
        mut self,
        links: Vec<Option<crate::engine::multi::Link>>,
        slots: &[EngineSlot],
    ) -> Runtime {
        if !links.is_empty() {
            let engines = links.iter().enumerate().map(|(e, l)| {
                let config = slots
                    .get(e)
                    .filter(|s| l.is_some() || s.may_rejoin())
                    .and_then(|s| self.config.engines.iter().find(|c| c.name == s.name))
                    .cloned();
                (l.as_ref().map(|l| l.docker.clone()), config)
            });
            self.engine_health = Some(EngineHealth::new(engines.collect(), self.tx.clone()));
        }
        self.executor.use_engines(links);
        self
    }

    /// In watch mode, reload the stack from `source` when its file changes.
    pub(crate) fn reload_from(mut self, source: StackSource) -> Runtime {
        self.reload = Some(source);
        self
    }

    /// Open the build history (off the async threads): what it knows about
    /// each image goes to the model; if it cannot be opened, why not.
    pub(crate) async fn open_history<F: FrontEnd>(&mut self, app: &mut App, front: &mut F) {
        let (config, answers) = (self.config.clone(), self.history_tx.clone());
        let saved_logs = front.shows_saved_logs();
        let opened =
            tokio::task::spawn_blocking(move || recording::open(&config, answers, saved_logs))
                .await
                .unwrap_or_else(|e| Err(format!("build history and logs are off: {e}")));
        let msg = match opened {
            Ok((known, recording)) => {
                self.recording = Some(recording);
                Msg::HistoryKnown(known)
            }
            Err(problem) => Msg::Notice(problem),
        };
        self.handle(app, front, msg);
    }

    /// Feed one message to the model and carry out what it says; returns
    /// whether to quit.
    pub(crate) fn handle<F: FrontEnd>(&mut self, app: &mut App, front: &mut F, msg: Msg) -> bool {
        let commands = app::update(app, msg);
        self.dispatch(app, front, commands)
    }

    /// Carry out the model's commands; what a front-end reports back goes
    /// to the model, and its commands are carried out in turn.
    fn dispatch<F: FrontEnd>(
        &mut self,
        app: &mut App,
        front: &mut F,
        commands: Vec<Command>,
    ) -> bool {
        let mut quit = false;
        let mut queue = VecDeque::from(commands);
        while let Some(command) = queue.pop_front() {
            let report = match command {
                Command::Emit(event) => {
                    front.show(&event);
                    if let Some(r) = &self.recording {
                        r.record(event);
                    }
                    None
                }
                Command::RecordInputs {
                    image,
                    digest,
                    inputs,
                } => {
                    if let Some(r) = &self.recording {
                        r.record_inputs(image, digest, inputs);
                    }
                    None
                }
                Command::RecordTags { image, tags } => {
                    if let Some(r) = &self.recording {
                        r.record_tags(image, tags);
                    }
                    None
                }
                Command::RecordBases { image, bases } => {
                    if let Some(r) = &self.recording {
                        r.record_bases(image, bases);
                    }
                    None
                }
                Command::ShowLog { image } => self.show_log(app, front, image),
                Command::Copy(text) => front.perform(Effect::Copy(text)),
                Command::MouseCapture(on) => front.perform(Effect::MouseCapture(on)),
                Command::Quit => {
                    quit = true;
                    None
                }
                Command::Watch { images } => {
                    self.watch(images);
                    None
                }
                Command::Unwatch => {
                    self.watcher = None;
                    None
                }
                Command::RejoinEngine { engine, ids } => {
                    self.rejoin(engine, ids);
                    None
                }
                Command::UseStack(config) => {
                    self.config = config.clone();
                    self.executor.use_stack(config);
                    None
                }
                engine => {
                    if let Some(request) = translate::request(engine) {
                        self.executor.execute(request);
                    }
                    None
                }
            };
            if let Some(msg) = report {
                queue.extend(app::update(app, msg));
            }
        }
        quit
    }

    /// Several engines: engine `engine` answered again; the executor
    /// takes its new link and looks up `ids` there.
    fn rejoin(&mut self, engine: usize, ids: Vec<String>) {
        let link = self
            .engine_health
            .as_mut()
            .and_then(|h| h.take_answered(engine));
        if let Some(link) = link {
            self.executor.rejoin(engine, link, ids);
        }
    }

    /// `o`: the image's saved log, written out to its last line, in the
    /// front-end's pager.
    fn show_log<F: FrontEnd>(&mut self, app: &App, front: &mut F, image: usize) -> Option<Msg> {
        let name = app.images.get(image)?.name.clone();
        let file = self
            .recording
            .as_ref()
            .and_then(|r| r.log_file(name.clone()));
        let Some(path) = file else {
            return Some(Msg::Notice(format!("no saved log for {name}")));
        };
        let failed = app.images.get(image).is_some_and(|img| {
            img.status.is_failure()
                || (img.status == app::status::Status::Idle
                    && img.last_run.as_ref().is_some_and(|r| {
                        matches!(r.result, RunResult::Failed | RunResult::TimedOut)
                    }))
        });
        let line = if failed {
            first_error_line(&path)
        } else {
            None
        };
        front.perform(Effect::Pager(path, line))
    }

    /// Watch `images` from now on: start the watcher, or set it up anew.
    fn watch(&mut self, images: Vec<usize>) {
        if self.watcher.is_none() {
            match Watcher::start(self.engine_tx.clone(), self.reload.clone()) {
                Ok(w) => self.watcher = Some(w),
                Err(e) => {
                    // Nothing can be watched: the model says so (and
                    // `kiln watch` ends).
                    let error = format!("its thread cannot start: {e}");
                    let at = Instant::now();
                    let cannot = Msg::Watch(WatchEvent::CannotWatch { error, at });
                    let _ = self.tx.try_send(cannot);
                    return;
                }
            }
        }
        if let Some(w) = &self.watcher {
            w.configure(self.config.clone(), images);
        }
    }

    /// The loop: from `first` until the model says quit or the front-end is
    /// finished.
    pub(crate) async fn run<F: FrontEnd>(
        &mut self,
        app: &mut App,
        front: &mut F,
        first: Msg,
    ) -> io::Result<()> {
        let mut ticker = tokio::time::interval(TICK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut idle_ticker = tokio::time::interval(IDLE_TICK);
        idle_ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let ages = front.shows_ages();
        let mut stopping = false;
        let mut changed = true;
        let mut was_lent = false;
        let mut quit = self.handle(app, front, first);
        loop {
            let backlog = !self.messages.is_empty() || !self.reports.is_empty();
            front.present(app, changed, backlog)?;
            if quit || front.finished(app) {
                return Ok(());
            }
            // A Ctrl-C typed while another program had the terminal (the
            // pager) was that program's: not a reason to cancel builds.
            let lent = front.terminal_lent();
            if was_lent && !lent {
                self.signals.discard_pending();
            }
            was_lent = lent;
            let msg = tokio::select! {
                input = front.input() => match input? {
                    Some(msg) => msg,
                    None => {
                        changed = false;
                        continue;
                    }
                },
                Some(report) = self.reports.recv() => translate::message(report),
                Some(msg) = self.messages.recv() => msg,
                Some(msg) = self.history_answers.recv() => msg,
                // Timers and pings only matter while something runs: idle
                // (watch mode waiting for a save), the loop sleeps.
                _ = ticker.tick(), if !app.is_idle() => {
                    self.health.maybe_ping(Instant::now());
                    if let Some(h) = &mut self.engine_health {
                        h.maybe_ping(Instant::now());
                    }
                    Msg::Tick(Instant::now())
                }
                // Idle, ages still move on the screen: once a second.
                // Several engines are pinged all the same (every 5 s), so
                // that a watch session or the dashboard notices one lost
                // and one that answers again between builds.
                _ = idle_ticker.tick(), if app.is_idle() && (ages && app.shows_ages() || self.engine_health.is_some()) => {
                    if let Some(h) = &mut self.engine_health {
                        h.maybe_ping(Instant::now());
                    }
                    Msg::Tick(Instant::now())
                }
                why = self.signals.next(), if !stopping && !lent => {
                    stopping = true;
                    Msg::Stop { why, at: Instant::now() }
                }
            };
            let tick = matches!(msg, Msg::Tick(_));
            let commands = app::update(app, msg);
            changed = !tick || !commands.is_empty() || app.clock_moved;
            quit = self.dispatch(app, front, commands);
        }
    }

    /// Stop: write the rest of the history and show what it said while
    /// doing so (a disk that filled up), then cancel what still runs on the
    /// daemon, waiting (bounded) for the tasks to let go of their streams.
    pub(crate) async fn shutdown<F: FrontEnd>(mut self, app: &mut App, front: &mut F) {
        self.watcher = None;
        if let Some(recording) = self.recording.take() {
            let _ = tokio::task::spawn_blocking(move || recording.close()).await;
        }
        while let Ok(msg) = self.history_answers.try_recv() {
            if matches!(msg, Msg::Notice(_)) {
                self.handle(app, front, msg);
            }
        }
        self.executor.shutdown().await;
    }
}
