//! Pings the daemon every few seconds while builds run, reporting the
//! result as `Msg::DaemonHealth` (one ping in flight at a time).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bollard::Docker;
use tokio::sync::mpsc;

use crate::app::Msg;
use crate::config::EngineConfig;
use crate::engine::connect::{self, PING_TIMEOUT};
use crate::engine::multi::{self, Link};
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

/// Several engines: each engine in the run pinged every few seconds (one
/// ping in flight per engine); one that does not answer is reported once
/// as `Msg::EngineLost`. An engine out of the run for a reason that may
/// pass (lost, or unreachable at the start) is reached anew as often, and
/// reported as `Msg::EngineAnswers` once it answers; its new link waits
/// here until the model takes it back (`take_answered`).
pub(crate) struct EngineHealth {
    slots: Vec<Arc<Mutex<Slot>>>,
    /// Each engine's config (None: not chosen, never tried).
    configs: Vec<Option<EngineConfig>>,
    tx: mpsc::Sender<Msg>,
    last: Option<Instant>,
    busy: Vec<Arc<AtomicBool>>,
}

/// Where one engine stands, as the pings see it.
enum Slot {
    /// In the run: pinged.
    Up(Docker),
    /// Out of the run for now: reached anew each time.
    Away,
    /// Answered again: its new link, until the model takes it back.
    Answered(Box<Link>),
    /// Never tried (`--engine` did not choose it).
    Off,
}

impl EngineHealth {
    /// `engines`: each engine's link (None: out of the run) and config
    /// (None: never to be tried).
    pub(crate) fn new(
        engines: Vec<(Option<Docker>, Option<EngineConfig>)>,
        tx: mpsc::Sender<Msg>,
    ) -> Self {
        let mut slots = Vec::new();
        let mut configs = Vec::new();
        for (docker, config) in engines {
            let slot = match (docker, &config) {
                (Some(d), _) => Slot::Up(d),
                (None, Some(_)) => Slot::Away,
                (None, None) => Slot::Off,
            };
            slots.push(Arc::new(Mutex::new(slot)));
            configs.push(config);
        }
        EngineHealth {
            busy: (0..slots.len())
                .map(|_| Arc::new(AtomicBool::new(false)))
                .collect(),
            slots,
            configs,
            tx,
            last: None,
        }
    }

    /// The link of engine `engine`, which answered again, for the
    /// executor; it is pinged as in the run from now on.
    pub(crate) fn take_answered(&mut self, engine: usize) -> Option<Link> {
        let mut slot = lock(self.slots.get(engine)?);
        let Slot::Answered(link) = &*slot else {
            return None;
        };
        let link = (**link).clone();
        *slot = Slot::Up(link.docker.clone());
        Some(link)
    }

    pub(crate) fn maybe_ping(&mut self, now: Instant) {
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < HEALTH_EVERY)
        {
            return;
        }
        self.last = Some(now);
        for engine in 0..self.slots.len() {
            let up = match &*lock(&self.slots[engine]) {
                Slot::Up(docker) => Some(docker.clone()),
                Slot::Away => None,
                Slot::Answered(_) | Slot::Off => continue,
            };
            let Some(config) = self.configs[engine].clone() else {
                continue;
            };
            if self.busy[engine].swap(true, Ordering::SeqCst) {
                continue;
            }
            let (busy, slot) = (self.busy[engine].clone(), self.slots[engine].clone());
            let tx = self.tx.clone();
            tokio::spawn(async move {
                let msg = match up {
                    Some(docker) => ping(&docker).await.map(|why| {
                        *lock(&slot) = Slot::Away;
                        let at = Instant::now();
                        Msg::EngineLost { engine, why, at }
                    }),
                    None => reach(&config).await.map(|link| {
                        *lock(&slot) = Slot::Answered(Box::new(link));
                        let at = Instant::now();
                        Msg::EngineAnswers { engine, at }
                    }),
                };
                if let Some(msg) = msg {
                    let _ = tx.send(msg).await;
                }
                busy.store(false, Ordering::SeqCst);
            });
        }
    }
}

/// Why `docker` does not answer a ping, if it does not.
async fn ping(docker: &Docker) -> Option<String> {
    match tokio::time::timeout(PING_TIMEOUT, docker.ping()).await {
        Ok(Ok(_)) => None,
        Ok(Err(e)) => Some(connect::failure_reason(&e)),
        Err(_) => Some(format!(
            "no answer to a ping within {}",
            format_duration(PING_TIMEOUT)
        )),
    }
}

/// A new link to an engine out of the run, if it answers now.
async fn reach(config: &EngineConfig) -> Option<Link> {
    multi::reach(config).await.ok()
}

fn lock(slot: &Mutex<Slot>) -> std::sync::MutexGuard<'_, Slot> {
    match slot.lock() {
        Ok(s) => s,
        Err(poisoned) => poisoned.into_inner(),
    }
}
