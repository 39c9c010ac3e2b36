//! The signals that end a run early, as one stream listened to from the
//! start of the loop. A fresh `tokio::signal::ctrl_c()` per `select!` only
//! sees signals sent while it is being polled: one arriving while the loop
//! was handling a message was lost (and the default action is gone by then,
//! so the build just went on). One `Signal` per kind remembers it.

use tokio::signal::unix::{signal, Signal, SignalKind};

pub(crate) struct Signals {
    interrupt: Option<Signal>,
}

impl Signals {
    pub(crate) fn listen() -> Self {
        Signals {
            interrupt: signal(SignalKind::interrupt()).ok(),
        }
    }

    /// Forget a SIGINT that came while the terminal belonged to another
    /// program (the dashboard's pager): its Ctrl-C was meant for it.
    pub(crate) fn discard_pending(&mut self) {
        use futures::FutureExt;
        if let Some(signal) = &mut self.interrupt {
            while let Some(Some(())) = signal.recv().now_or_never() {}
        }
    }

    /// The next Ctrl-C / SIGINT (never, if the handler could not be
    /// installed).
    pub(crate) async fn next(&mut self) {
        match &mut self.interrupt {
            Some(signal) => {
                signal.recv().await;
            }
            None => std::future::pending().await,
        }
    }
}
