//! What the build history knows about an image: the history reads it, the
//! model keeps it, the engine's change detection compares against it.

/// The last successful build of an image, as history recorded it: what
/// change detection compares the next build's inputs against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastSuccess {
    /// The digest of the build's inputs (context, Dockerfile, args, bases).
    pub digest: String,
    pub image_id: String,
    /// The inputs themselves (JSON), to say what changed.
    pub inputs: Option<String>,
    /// The engine it was built on (several engines), by name.
    pub engine: Option<String>,
}

/// What the build history knows about one image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageHistory {
    pub last_success: Option<LastSuccess>,
    /// The steps of the last successful build, in order, each with its
    /// usual (median uncached) duration: for "slower than usual" and the ETA.
    pub usual_steps: Vec<(String, std::time::Duration)>,
    /// The image's latest run, whatever its result: what the dashboard
    /// shows for an image not built in this session. Only sent when
    /// history opens (after that the model knows the session's runs).
    pub last_run: Option<LastRun>,
    /// The images (name, image id) its last successful build was built
    /// on: one whose image is another one now makes it stale.
    pub built_on: Vec<(String, String)>,
}

/// How a run recorded in history ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunResult {
    Built,
    Failed,
    TimedOut,
    Cancelled,
    /// Never finished: kiln was killed while it ran.
    Unfinished,
    /// Still running, in another kiln.
    Running,
}

/// An image's latest run as history recorded it, its wall-clock times
/// already turned into an age on the model's clock (where history is read,
/// not in the model).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastRun {
    pub result: RunResult,
    /// How long before `as_of` it ended (None: it never did).
    pub ended_ago: Option<std::time::Duration>,
    /// When `ended_ago` was measured, on the model's clock.
    pub as_of: std::time::Instant,
    pub duration: Option<std::time::Duration>,
    pub image_id: Option<String>,
    /// The daemon's (or kiln's) error, for a failed run.
    pub error: Option<String>,
    /// The last step the run recorded: where a failed run failed.
    pub last_step: Option<String>,
    /// Its saved log file.
    pub log_path: Option<std::path::PathBuf>,
    /// The last lines of that log (a bounded read), oldest first.
    pub log_tail: Vec<String>,
    /// Its row in the history (a later run has a higher one).
    pub id: i64,
    /// Recorded by another kiln process (not this dashboard).
    pub by_other: bool,
}

impl LastRun {
    /// How long ago it ended, at `now`.
    pub fn age(&self, now: std::time::Instant) -> Option<std::time::Duration> {
        self.ended_ago
            .map(|ago| ago + now.saturating_duration_since(self.as_of))
    }
}
