//! What the daemon said during a build or a push, whichever builder ran
//! it: the engine's parsers produce these, the engine's tasks report them
//! (`EngineEvent::Build`, `EngineEvent::Push`), the model consumes them.

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
