//! The signals that end a run early (SIGINT, SIGTERM, SIGHUP), as streams
//! listened to from the start of the loop. A fresh `tokio::signal::ctrl_c()`
//! per `select!` only sees signals sent while it is being polled: one
//! arriving while the loop was handling a message was lost (and the
//! default action is gone by then, so the build just went on). One
//! `Signal` per kind remembers it. Each becomes a `Stop` for the model,
//! which cancels everything (history: `cancelled`) and leaves with the
//! signal's exit code; the dashboard restores the terminal on the way out.

use tokio::signal::unix::{signal, Signal, SignalKind};

use crate::app::Stop;

pub(crate) struct Signals {
    interrupt: Option<Signal>,
    terminate: Option<Signal>,
    hangup: Option<Signal>,
}

impl Signals {
    pub(crate) fn listen() -> Self {
        Signals {
            interrupt: signal(SignalKind::interrupt()).ok(),
            terminate: signal(SignalKind::terminate()).ok(),
            hangup: signal(SignalKind::hangup()).ok(),
        }
    }

    /// Forget a SIGINT that came while the terminal belonged to another
    /// program (the dashboard's pager): its Ctrl-C was meant for it. (A
    /// SIGTERM or SIGHUP is kept: it was meant for kiln.)
    pub(crate) fn discard_pending(&mut self) {
        use futures::FutureExt;
        if let Some(signal) = &mut self.interrupt {
            while let Some(Some(())) = signal.recv().now_or_never() {}
        }
    }

    /// The next SIGINT, SIGTERM or SIGHUP, as the stop it asks for (never,
    /// for a kind whose handler could not be installed).
    pub(crate) async fn next(&mut self) -> Stop {
        tokio::select! {
            _ = next_of(&mut self.interrupt) => Stop::Interrupt,
            _ = next_of(&mut self.terminate) => Stop::Terminate,
            _ = next_of(&mut self.hangup) => Stop::Hangup,
        }
    }
}

async fn next_of(signal: &mut Option<Signal>) {
    match signal {
        Some(signal) => {
            signal.recv().await;
        }
        None => std::future::pending().await,
    }
}
