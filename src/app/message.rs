//! What goes into the model and what comes out of it: `Msg` (everything
//! that happens: the clock, requests, the engine's reports, the user's keys)
//! and `Command` (what should happen next, carried out by the runtime). What
//! the engine reports (`EngineEvent`) and what a build needs of the model
//! (`ChangeCheck`, `ImageOverride`) are `protocol`'s: both sides use them.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use super::event::Event;
use crate::config::Config;
use crate::protocol::Placement;
use crate::protocol::{
    BuildEvent, ChangeCheck, DaemonPushError, EngineEvent, ImageHistory, ImageOverride, PushEvent,
    RunId, WatchEvent,
};
use crate::sanitize::{sanitize, sanitize_text};

/// What happened. Everything that changes state arrives as one of these.
#[derive(Debug, Clone)]
pub enum Msg {
    /// The clock moved (timers: stalls, timeouts).
    Tick(Instant),
    /// Build these images (indices into the config; the caller includes
    /// their dependencies).
    BuildRequested { images: Vec<usize>, at: Instant },
    /// `kiln push`: push these images' tags as they are now (no build).
    PushRequested { images: Vec<usize>, at: Instant },
    /// Something the engine observed for one image's run.
    Engine {
        run: RunId,
        image: usize,
        at: Instant,
        event: EngineEvent,
    },
    /// What the build history knows, by image name: sent once when history
    /// opens, and again for an image after each of its runs is recorded.
    HistoryKnown(Vec<(String, ImageHistory)>),
    /// Ctrl-C (the dashboard's key): cancel everything and leave; the same
    /// as `Stop { why: Stop::Interrupt }`.
    Interrupt(Instant),
    /// Stop the run at once: cancel everything (history says `cancelled`)
    /// and leave, with the exit code `why` calls for.
    Stop { why: Stop, at: Instant },
    /// Which daemon kiln talks to (endpoint, engine version, builder).
    DaemonInfo(String),
    /// The result of a daemon ping while builds run.
    DaemonHealth { ok: bool, detail: String },
    /// Several engines: engine `engine` stopped answering while in use.
    EngineLost {
        engine: usize,
        why: String,
        at: Instant,
    },
    /// Several engines: engine `engine`, out of the run (lost, or
    /// unreachable at the start), answers again; the model asks which of
    /// the images it held are still there (`Command::RejoinEngine`).
    EngineAnswers { engine: usize, at: Instant },
    /// Several engines: engine `engine` is back, holding `present` of the
    /// image ids asked about: it rejoins the run.
    EngineBack {
        engine: usize,
        present: Vec<String>,
        at: Instant,
    },
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
    /// Watch mode (`kiln watch`): watch these images (`images`: the
    /// `names` asked for and what they depend on; no names: all) and
    /// rebuild what changes; `restart`: a change cancels a running build.
    WatchRequested {
        names: Vec<String>,
        images: Vec<usize>,
        restart: bool,
        at: Instant,
    },
    /// What watch mode's file watcher saw.
    Watch(WatchEvent),
}

/// Why a run is stopped all at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Ctrl-C, SIGINT (exit 130).
    Interrupt,
    /// SIGTERM (exit 143).
    Terminate,
    /// SIGHUP: the terminal went away (exit 129).
    Hangup,
    /// Standard output was closed (`kiln build --json | head`): nobody
    /// reads what the builds do (exit 1). Not sent with
    /// `--keep-going-without-output`.
    OutputClosed,
    /// `kiln watch` cannot watch files at all (exit 1): it would wait for
    /// ever for a change it cannot see.
    CannotWatch,
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
        check: ChangeCheck,
        /// Several engines: where it builds, what to move there first.
        placement: Option<Placement>,
    },
    /// Engine: stop this image's work on the daemon.
    Cancel { run: RunId, image: usize },
    /// Engine: push `tags` of this image (a fresh build of run `run`):
    /// exactly the tags it was built with, dashboard edits included;
    /// several engines: from engine `engine`, which holds it.
    Push {
        run: RunId,
        image: usize,
        tags: Vec<String>,
        engine: Option<usize>,
    },
    /// Engine (several engines): engine `engine` answers again; find out
    /// which of `ids` it holds (`Msg::EngineBack`), and use it again.
    RejoinEngine { engine: usize, ids: Vec<String> },
    /// Front-end and history: report this event.
    Emit(Event),
    /// History: the inputs of `image`'s current build, kept with the run
    /// when it succeeds (what the next build compares against).
    RecordInputs {
        image: String,
        digest: String,
        inputs: String,
    },
    /// History: the tags `image`'s current build gives (kept with its run).
    RecordTags { image: String, tags: Vec<String> },
    /// History: the images (`name`, image id) `image`'s current build is
    /// built on, kept with its run: a base whose image is another one
    /// later makes it stale.
    RecordBases {
        image: String,
        bases: Vec<(String, String)>,
    },
    /// Front-end: show image `image`'s saved log, every line, in a pager
    /// (the dashboard's `o`).
    ShowLog { image: usize },
    /// Front-end: put this text on the terminal's clipboard (`y`).
    Copy(String),
    /// Front-end: capture the mouse (wheel, clicks) or leave it to the
    /// terminal, for its own text selection (`m`).
    MouseCapture(bool),
    /// Runtime: watch these images' contexts (and the stack file), from
    /// now on; starts the watcher or sets it up anew.
    Watch { images: Vec<usize> },
    /// Runtime: stop watching.
    Unwatch,
    /// Runtime and engine: build from this stack from now on (a reload).
    UseStack(Arc<Config>),
    /// Leave (the dashboard's `q`, Ctrl-C).
    Quit,
}

impl Msg {
    /// The message with every string from outside kiln sanitised (daemon
    /// and registry text, helper and history text, notices): the one place
    /// such text enters the model, so the dashboard, the printers and the
    /// history only ever see clean text. Multi-line texts keep their line
    /// breaks (the printers prefix each line).
    pub fn sanitized(mut self) -> Msg {
        match &mut self {
            Msg::Notice(text)
            | Msg::DaemonHealth { detail: text, .. }
            | Msg::EngineLost { why: text, .. } => clean_text(text),
            Msg::DaemonInfo(label) => clean_line(label),
            Msg::HistoryKnown(known) => {
                // Read from the history and saved logs: written by kiln, but
                // maybe an older one, or edited.
                for (_, facts) in known {
                    facts
                        .usual_steps
                        .iter_mut()
                        .for_each(|(n, _)| clean_line(n));
                    if let Some(last) = &mut facts.last_success {
                        last.engine.iter_mut().for_each(clean_line);
                    }
                    if let Some(run) = &mut facts.last_run {
                        run.image_id.iter_mut().for_each(clean_line);
                        run.error.iter_mut().for_each(clean_text);
                        run.last_step.iter_mut().for_each(clean_line);
                        run.log_tail.iter_mut().for_each(clean_line);
                    }
                }
            }
            Msg::Engine { event, .. } => sanitize_engine_event(event),
            // Watch mode: paths and file names from the file system, errors
            // that name them, a stack file's problems.
            Msg::Watch(event) => sanitize_watch_event(event),
            Msg::EngineBack { present, .. } => present.iter_mut().for_each(clean_line),
            Msg::WatchRequested { .. } => {}
            Msg::Tick(_)
            | Msg::BuildRequested { .. }
            | Msg::PushRequested { .. }
            | Msg::EngineAnswers { .. }
            | Msg::Interrupt(_)
            | Msg::Stop { .. }
            | Msg::Key { .. }
            | Msg::Mouse { .. }
            | Msg::Resize { .. } => {}
        }
        self
    }
}

/// The engine's report with the daemon's, registries' and helpers' text
/// sanitised.
fn sanitize_engine_event(event: &mut EngineEvent) {
    match event {
        EngineEvent::Build(event) => match event {
            BuildEvent::Step { name, .. } => clean_line(name),
            BuildEvent::StepDone { error, .. } => error.iter_mut().for_each(clean_text),
            BuildEvent::Log { line, .. } => clean_line(line),
            BuildEvent::ImageId(id) => clean_line(id),
            BuildEvent::Error(text) => clean_text(text),
        },
        EngineEvent::Built { image_id } => clean_line(image_id),
        EngineEvent::Failed { error: text, .. } | EngineEvent::Notice(text) => clean_text(text),
        EngineEvent::Push { tag, event } => {
            clean_line(tag);
            match event {
                PushEvent::Layer { id, status, .. } => {
                    clean_line(id);
                    clean_line(status);
                }
                PushEvent::Digest { tag, digest, .. } => {
                    clean_line(tag);
                    clean_line(digest);
                }
                PushEvent::Retrying { id, .. } => clean_line(id),
                PushEvent::Error(
                    DaemonPushError::Authentication(text)
                    | DaemonPushError::NoSuchImage(text)
                    | DaemonPushError::Other(text),
                ) => clean_text(text),
                PushEvent::Status(text) => clean_line(text),
            }
        }
        EngineEvent::Pushed { tag, digest } => {
            clean_line(tag);
            clean_line(digest);
        }
        EngineEvent::Transfer {
            of,
            from,
            to,
            registry,
            ..
        } => {
            clean_line(of);
            clean_line(from);
            clean_line(to);
            if let Some(r) = registry {
                clean_line(r);
            }
        }
        // Kept in history only, never shown.
        EngineEvent::Inputs { .. } => {}
        EngineEvent::Started { .. } | EngineEvent::Skipped(_) | EngineEvent::PushDone => {}
    }
}

/// The watcher's report with the file system's text sanitised: paths and
/// file names, errors that name them, a stack file's problems.
fn sanitize_watch_event(event: &mut WatchEvent) {
    match event {
        WatchEvent::Watching { paths: names, .. } => names.iter_mut().for_each(clean_line),
        // Names as they are: data, escaped in JSON, and written out
        // visibly wherever they are shown (`words::changed`).
        WatchEvent::FilesChanged { .. } => {}
        WatchEvent::ContextGone { error: text, .. }
        | WatchEvent::CannotWatch { error: text, .. }
        | WatchEvent::StackInvalid(text)
        | WatchEvent::Notice(text) => clean_text(text),
        // The stack is the one the command line loaded, loaded again.
        WatchEvent::StackReloaded { .. } => {}
    }
}

/// `s`, sanitised as one line (allocating only when it was not clean).
fn clean_line(s: &mut String) {
    let clean = match sanitize(s) {
        Cow::Owned(c) => c,
        Cow::Borrowed(_) => return,
    };
    *s = clean;
}

/// `s`, sanitised line by line.
fn clean_text(s: &mut String) {
    let clean = match sanitize_text(s) {
        Cow::Owned(c) => c,
        Cow::Borrowed(_) => return,
    };
    *s = clean;
}
