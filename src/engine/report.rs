//! What the engine tells the runtime, on its one channel: each image's run
//! reports through its `Sink` (`Report::Run`, stamped with the run and the
//! time), the file watcher through its own sender (`Report::Watch`). The
//! engine owns this type and knows nothing of the model's `Msg`; the
//! runtime turns each report into the model's message
//! (`runtime/translate.rs`), as gitui's app wraps asyncgit's notifications.
//! What the reports carry (`EngineEvent`, `WatchEvent`) is `protocol`'s,
//! which the model reads too.

use std::time::Instant;

use crate::protocol::{EngineEvent, RunId, WatchEvent};

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
    /// Several engines: an engine that answers again holds `present` of
    /// the image ids it was asked about (each looked up by id).
    EngineBack {
        engine: usize,
        present: Vec<String>,
        at: Instant,
    },
}
