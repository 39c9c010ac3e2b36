//! The facts that cross between layers, as plain data: what the daemon said
//! during a build or a push (the engine's parsers produce these, the model
//! consumes them), and what the build history knows about an image (the
//! history reads it, the model keeps it, the engine's change detection
//! compares against it). A leaf: it imports nothing of kiln's.

/// What a build stream says, whichever builder produced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildEvent {
    /// A step began. Legacy: index/total from "Step i/N : ...", id = index as string.
    /// BuildKit: index/total are None, id = the vertex digest, name = vertex name (e.g. "[2/3] RUN make").
    /// `shared`: the daemon did this step's work once for several steps or
    /// builds (BuildKit merges identical work): it ran, with its output,
    /// under another name (the parsers say false; the engine knows better).
    Step {
        id: String,
        index: Option<u32>,
        total: Option<u32>,
        name: String,
        cached: bool,
        shared: bool,
    },
    /// A step ended. error = the vertex error (BuildKit) if it failed.
    StepDone {
        id: String,
        cached: bool,
        error: Option<String>,
    },
    /// One line of output (already passed through sanitize_line), attributed to a step id when known.
    Log { step: Option<String>, line: String },
    /// The built image id ("sha256:…").
    ImageId(String),
    /// The daemon reported an error (errorDetail.message / error).
    Error(String),
}

/// What one line of a push stream says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushEvent {
    /// Progress of one layer: "Preparing", "Waiting", "Pushing" (with
    /// current/total bytes, current clamped to total), "Pushed",
    /// "Layer already exists", "Mounted from <repo>".
    Layer {
        id: String,
        status: String,
        current: Option<u64>,
        total: Option<u64>,
    },
    /// The pushed manifest. The daemon says it twice, as the status line
    /// `"<tag>: digest: sha256:… size: N"` and as `aux {Tag, Digest, Size}`,
    /// so the same Digest event normally arrives twice.
    Digest {
        tag: String,
        digest: String,
        size: Option<u64>,
    },
    /// "Retrying in N second(s)" for a layer upload.
    Retrying { id: String, secs: u64 },
    /// errorDetail.message (or error), classified by the parser.
    Error(DaemonPushError),
    /// Any other status, e.g. "The push refers to repository [host/x]".
    Status(String),
}

/// Why the daemon says a push failed: its message (sanitised), classified
/// once, where the text is parsed (`engine::parse::classify_push_error`),
/// so callers branch on the variant and never on words in the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DaemonPushError {
    /// The registry wants credentials, or rejected the ones sent.
    #[error("{0}")]
    Authentication(String),
    /// The daemon has no image by that name (HTTP 404 before any stream).
    #[error("{0}")]
    NoSuchImage(String),
    /// Anything else: an unreachable registry, a rejected manifest, ...
    #[error("{0}")]
    Other(String),
}

/// Whether a BuildKit vertex is bookkeeping rather than a Dockerfile step.
///
/// True for `[internal] …` vertexes (loading the Dockerfile, context,
/// metadata) and for vertexes whose name has no `[…]` prefix at all
/// (`exporting to image`, `copy /context /`, `resolve image config …`).
/// Dockerfile steps are named `[i/N] …` or `[stage i/N] …`. Such vertexes
/// are still reported as steps (docker's own output shows them); this tells
/// a UI not to count them.
pub fn is_internal_step(name: &str) -> bool {
    name.starts_with("[internal]") || !name.starts_with('[')
}

/// The last successful build of an image, as history recorded it: what
/// change detection compares the next build's inputs against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastSuccess {
    /// The digest of the build's inputs (context, Dockerfile, args, bases).
    pub digest: String,
    pub image_id: String,
    /// The inputs themselves (JSON), to say what changed.
    pub inputs: Option<String>,
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
}

impl LastRun {
    /// How long ago it ended, at `now`.
    pub fn age(&self, now: std::time::Instant) -> Option<std::time::Duration> {
        self.ended_ago
            .map(|ago| ago + now.saturating_duration_since(self.as_of))
    }
}

/// What the daemon has of a base image a Dockerfile names (`kiln check`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalBase {
    /// Pulled from its registry (or pushed there): the manifest digest the
    /// registry had then.
    FromRegistry { digest: String },
    /// On the daemon only (built or loaded here, never pulled or pushed):
    /// builds use it as it is; `--pull` would look for it in a registry.
    OnlyLocal,
    /// Not on the daemon: the first build pulls it.
    Absent,
    /// The daemon could not say (its message).
    Unknown(String),
}

/// A base image of the stack that kiln does not build, and who uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseImage {
    pub reference: String,
    /// The images whose Dockerfiles name it.
    pub used_by: Vec<String>,
    pub state: LocalBase,
}
