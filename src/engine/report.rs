//! What the engine tells the runtime, on its one channel: each image's run
//! reports through its `Sink` (`Report::Run`, stamped with the run and the
//! time), the file watcher through its own sender (`Report::Watch`). The
//! engine owns this type and knows nothing of the model's `Msg`; the
//! runtime turns each report into the model's message
//! (`runtime/translate.rs`), as gitui's app wraps asyncgit's notifications.
//! The data inside (`EngineEvent`, `RunId`) is `protocol`'s, which the
//! model reads too.

use std::sync::Arc;
use std::time::Instant;

use crate::config::Config;
use crate::protocol::{EngineEvent, RunId};

/// One thing the engine reports.
#[derive(Debug, Clone)]
pub enum Report {
    /// Something one image's run observed, at `at`.
    Run {
        run: RunId,
        image: usize,
        at: Instant,
        event: EngineEvent,
    },
    /// Something the file watcher saw (watch mode).
    Watch(WatchEvent),
}

/// What the file watcher reports (`engine/watch/`).
#[derive(Debug, Clone)]
pub enum WatchEvent {
    /// Set up anew: the paths it watches (contexts and the stack file) and
    /// how many directories that is.
    Watching {
        paths: Vec<String>,
        dirs: usize,
        at: Instant,
    },
    /// Files changed in an image's context (paths relative to it, a few
    /// named; `more`: how many more changed).
    FilesChanged {
        image: String,
        files: Vec<String>,
        more: usize,
        at: Instant,
    },
    /// An image's context directory was deleted or renamed.
    ContextGone {
        image: String,
        error: String,
        at: Instant,
    },
    /// The stack file changed and loads: the new stack, and the images that
    /// are new or whose settings changed.
    StackReloaded {
        config: Arc<Config>,
        changed: Vec<String>,
        at: Instant,
    },
    /// The stack file changed but does not load: why, with positions.
    StackInvalid(String),
    /// Something the user should know (an image that cannot be watched,
    /// the inotify limit, a warning of the reloaded stack).
    Notice(String),
}
