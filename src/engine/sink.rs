//! Where an engine task reports: one image's run, stamped with the time each
//! event happened, into the model's channel.

use std::time::Instant;

use tokio::sync::mpsc;

use crate::app::event::Phase;
use crate::app::{EngineEvent, Msg, RunId};

/// Sends one image's events to the app, stamped with the time they happened.
#[derive(Clone)]
pub struct Sink {
    pub tx: mpsc::Sender<Msg>,
    pub run: RunId,
    pub image: usize,
}

impl Sink {
    /// False when the app has gone away (the front-end is shutting down).
    pub async fn send(&self, event: EngineEvent) -> bool {
        self.tx
            .send(Msg::Engine {
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
