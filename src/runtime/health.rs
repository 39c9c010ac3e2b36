//! Pings the daemon every few seconds while builds run, reporting the
//! result as `Msg::DaemonHealth` (one ping in flight at a time).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bollard::Docker;
use tokio::sync::mpsc;

use crate::app::Msg;
use crate::engine::connect::{self, PING_TIMEOUT};
use crate::human::format_duration;

/// How often the daemon is pinged while builds run.
const HEALTH_EVERY: Duration = Duration::from_secs(5);

pub(crate) struct HealthCheck {
    docker: Docker,
    tx: mpsc::Sender<Msg>,
    last: Option<Instant>,
    in_flight: Arc<AtomicBool>,
}

impl HealthCheck {
    pub(crate) fn new(docker: Docker, tx: mpsc::Sender<Msg>) -> Self {
        HealthCheck {
            docker,
            tx,
            last: None,
            in_flight: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Ping unless one was sent recently or is still out.
    pub(crate) fn maybe_ping(&mut self, now: Instant) {
        let recent = self
            .last
            .is_some_and(|t| now.duration_since(t) < HEALTH_EVERY);
        if recent || self.in_flight.swap(true, Ordering::SeqCst) {
            return;
        }
        self.last = Some(now);
        let (docker, tx, flag) = (self.docker.clone(), self.tx.clone(), self.in_flight.clone());
        tokio::spawn(async move {
            let (ok, detail) = match tokio::time::timeout(PING_TIMEOUT, docker.ping()).await {
                Ok(Ok(_)) => (true, String::new()),
                Ok(Err(e)) => (false, connect::failure_reason(&e)),
                Err(_) => (
                    false,
                    format!(
                        "no answer to a ping within {}",
                        format_duration(PING_TIMEOUT)
                    ),
                ),
            };
            let _ = tx.send(Msg::DaemonHealth { ok, detail }).await;
            flag.store(false, Ordering::SeqCst);
        });
    }
}

/// Several engines: each engine in the run pinged every few seconds while
/// builds run (one ping in flight per engine); one that does not answer is
/// reported once as `Msg::EngineLost` and pinged no more.
pub(crate) struct EngineHealth {
    engines: Vec<Option<Docker>>,
    tx: mpsc::Sender<Msg>,
    last: Option<Instant>,
    busy: Vec<Arc<AtomicBool>>,
    lost: Vec<Arc<AtomicBool>>,
}

impl EngineHealth {
    pub(crate) fn new(engines: Vec<Option<Docker>>, tx: mpsc::Sender<Msg>) -> Self {
        let flags = |n: usize| (0..n).map(|_| Arc::new(AtomicBool::new(false))).collect();
        EngineHealth {
            busy: flags(engines.len()),
            lost: flags(engines.len()),
            engines,
            tx,
            last: None,
        }
    }

    pub(crate) fn maybe_ping(&mut self, now: Instant) {
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < HEALTH_EVERY)
        {
            return;
        }
        self.last = Some(now);
        for (engine, docker) in self.engines.iter().enumerate() {
            let Some(docker) = docker.clone() else {
                continue;
            };
            let (busy, lost) = (self.busy[engine].clone(), self.lost[engine].clone());
            if lost.load(Ordering::SeqCst) || busy.swap(true, Ordering::SeqCst) {
                continue;
            }
            let tx = self.tx.clone();
            tokio::spawn(async move {
                let why = match tokio::time::timeout(PING_TIMEOUT, docker.ping()).await {
                    Ok(Ok(_)) => None,
                    Ok(Err(e)) => Some(connect::failure_reason(&e)),
                    Err(_) => Some(format!(
                        "no answer to a ping within {}",
                        format_duration(PING_TIMEOUT)
                    )),
                };
                if let Some(why) = why {
                    lost.store(true, Ordering::SeqCst);
                    let at = Instant::now();
                    let _ = tx.send(Msg::EngineLost { engine, why, at }).await;
                }
                busy.store(false, Ordering::SeqCst);
            });
        }
    }
}
