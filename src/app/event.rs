//! The events of the JSON contract (README "JSON events", `kiln build
//! --json`), as the model emits them. `update` pushes them out as
//! `Command::Emit`; the headless printers turn them into JSON lines or
//! plain text. No I/O here: the printer stamps the wall-clock `time` when
//! it writes a line.

use serde::Serialize;

use crate::protocol::{BuildCause, BuilderKind, Phase, SkipReason, TransferVia};

/// One event of the contract. `image` is absent for `plan` and `summary`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(flatten)]
    pub kind: EventKind,
}

impl Event {
    pub fn for_image(image: &str, kind: EventKind) -> Self {
        Event {
            image: Some(image.to_string()),
            kind,
        }
    }
}

/// What a dry run's summary adds: `dry_run: true`, the images that would
/// be built, would fail, and are unchanged (`skipped` holds every image
/// that would be skipped, as in a real run; `succeeded` and `failed` stay
/// empty: nothing ran).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DrySummary {
    pub dry_run: bool,
    pub would_build: Vec<String>,
    pub would_fail: Vec<String>,
    pub unchanged: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    Plan {
        images: Vec<String>,
        waves: Vec<Vec<String>>,
    },
    Queued,
    /// Copying image `of` from engine `from` to engine `to` (a parent to
    /// where its child builds, or a built image to the first engine).
    /// `via`: how (`stream`, `registry`); `registry`: which, when through
    /// one.
    Transfer {
        of: String,
        from: String,
        to: String,
        bytes: u64,
        total: u64,
        done: bool,
        via: TransferVia,
        #[serde(skip_serializing_if = "Option::is_none")]
        registry: Option<String>,
    },
    Started {
        builder: BuilderKind,
        /// The engine it builds on (a stack with several engines).
        #[serde(skip_serializing_if = "Option::is_none")]
        engine: Option<String>,
    },
    Skipped {
        reason: SkipReason,
    },
    Step {
        index: Option<u32>,
        total: Option<u32>,
        name: String,
        cached: bool,
        shared: bool,
    },
    StepDone {
        name: String,
        cached: bool,
        shared: bool,
        duration_ms: u64,
    },
    Log {
        line: String,
        step: Option<String>,
    },
    Stalled {
        silent_ms: u64,
        phase: Phase,
        step: Option<String>,
    },
    Resumed {
        silent_ms: u64,
    },
    SlowStep {
        name: String,
        elapsed_ms: u64,
        usual_ms: u64,
    },
    Built {
        image_id: String,
        duration_ms: u64,
        steps: u32,
        cached_steps: u32,
    },
    PushProgress {
        tag: String,
        layer: String,
        current: u64,
        total: u64,
        status: String,
    },
    Pushed {
        tag: String,
        digest: String,
    },
    Failed {
        phase: Phase,
        error: String,
        /// The last lines of the image's log, oldest first (an addition to
        /// the contract's fields; `error` stays the daemon's message).
        log_tail: Vec<String>,
    },
    TimedOut {
        after_ms: u64,
    },
    Cancelled {
        after_ms: u64,
    },
    Summary {
        succeeded: Vec<String>,
        failed: Vec<String>,
        skipped: Vec<String>,
        duration_ms: u64,
        /// A dry run's own fields (absent from a real run's summary).
        #[serde(flatten)]
        dry: Option<DrySummary>,
    },
    /// A dry run (`kiln build --dry-run`): the image would be built,
    /// because of `reason` (the words of the real run's `rebuilding: …`
    /// notice), of kind `cause`. (An addition to the contract.)
    WouldBuild {
        reason: String,
        cause: BuildCause,
    },
    /// A dry run: the real run would fail before building the image, with
    /// this error. (An addition to the contract.)
    WouldFail {
        error: String,
    },
    /// Watch mode is watching: the paths (each image's context, the stack
    /// file), how many images, how many directories under watch. Again
    /// after every reload. (An addition to the contract.)
    Watching {
        paths: Vec<String>,
        images: usize,
        dirs: usize,
    },
    /// Watch mode saw files change in the image's context: a few of them
    /// (relative to the context), and how many more. (An addition to the
    /// contract.)
    Changed {
        files: Vec<String>,
        more: usize,
    },
    /// Something the user should know that is not about one build step:
    /// the daemon stopped answering, history is off, a fallback was taken.
    /// (An addition to the contract; `image` may be absent.)
    Notice {
        message: String,
    },
}
