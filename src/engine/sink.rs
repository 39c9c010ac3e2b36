//! Where an engine task reports: one image's run, stamped with the time each
//! event happened, onto the engine's channel (`Report::Run`).

use std::time::Instant;

use tokio::sync::mpsc;

use crate::engine::report::Report;
use crate::protocol::{EngineEvent, Phase, RunId};

/// Sends one image's events to the runtime, stamped with the time they
/// happened.
#[derive(Clone)]
pub struct Sink {
    tx: mpsc::Sender<Report>,
    run: RunId,
    image: usize,
}

impl Sink {
    /// The sink of run `run` of image `image` (an index into the config).
    pub fn new(tx: mpsc::Sender<Report>, run: RunId, image: usize) -> Sink {
        Sink { tx, run, image }
    }

    /// False when the runtime has gone away (the front-end is shutting
    /// down).
    pub async fn send(&self, event: EngineEvent) -> bool {
        self.tx
            .send(Report::Run {
                run: self.run,
                image: self.image,
                at: Instant::now(),
                event,
            })
            .await
            .is_ok()
    }

    /// Report a failure of the build phase.
    pub(crate) async fn fail(&self, error: String) {
        self.send(EngineEvent::Failed {
            phase: Phase::Build,
            error,
        })
        .await;
    }
}
