//! What the file watcher of watch mode reports (`engine/watch/`): the
//! model decides what to rebuild from it (`app/watch.rs`).

use std::sync::Arc;
use std::time::Instant;

use crate::config::Config;

/// Files changed in one image's context: paths relative to it, a few
/// named (as they are: data, not text for a terminal; whatever shows them
/// writes their controls out visibly), and how many more changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextChanges {
    pub image: String,
    pub files: Vec<String>,
    pub more: usize,
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
    /// Files changed in watched contexts, everything seen in one quiet
    /// period: one message, so that the model schedules the whole batch
    /// at once, in dependency order (a base and an image built on it
    /// changed together: the image waits for the new base).
    FilesChanged {
        changes: Vec<ContextChanges>,
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
    /// The watcher cannot watch anything at all (inotify does not start,
    /// its thread cannot be made): why. Nothing will ever be seen.
    CannotWatch { error: String, at: Instant },
    /// The stack file changed but does not load: why, with positions.
    StackInvalid(String),
    /// Something the user should know (an image that cannot be watched,
    /// the inotify limit, a warning of the reloaded stack).
    Notice(String),
}
