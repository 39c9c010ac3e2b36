//! The build history, opened once per run and written on a thread of its
//! own: SQLite and the log files are blocking I/O, kept off the async
//! threads. The loop hands it the model's events (and each build's inputs);
//! it answers on a channel of its own with what history then knows about an
//! image (after each of its runs) and, once, why recording stopped.

use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;

use tokio::sync::mpsc;

use crate::app::event::{Event, EventKind};
use crate::app::Msg;
use crate::config::Config;
use crate::history::{self, History, Recorder};
use crate::protocol::ImageHistory;

/// Events waiting for the history thread before the loop waits for it.
const BACKLOG: usize = 64 * 1024;

/// What the loop hands the history thread.
enum Job {
    Event(Event),
    Inputs {
        image: String,
        digest: String,
        inputs: String,
    },
}

/// The history thread, while it runs.
pub(crate) struct Recording {
    jobs: std_mpsc::SyncSender<Job>,
    thread: JoinHandle<()>,
}

/// Open the stack's history: what it knows about each image, and the thread
/// that records this run; or why history is off (kiln builds on without).
pub(crate) fn open(
    config: &Config,
    answers: mpsc::UnboundedSender<Msg>,
) -> Result<(Vec<(String, ImageHistory)>, Recording), String> {
    let history = history::data_dir()
        .ok_or(history::HistoryError::NoDataDir)
        .and_then(|dir| History::open(&dir, &config.path))
        .map_err(|e| format!("build history and logs are off: {e}"))?;
    let known = config
        .images
        .iter()
        .map(|img| {
            let facts = history.known(&img.name).unwrap_or_default();
            (img.name.clone(), facts)
        })
        .collect();
    let recording = Recording::start(Recorder::new(history), answers)
        .map_err(|e| format!("build history and logs are off: cannot start its thread: {e}"))?;
    Ok((known, recording))
}

impl Recording {
    fn start(
        mut recorder: Recorder,
        answers: mpsc::UnboundedSender<Msg>,
    ) -> std::io::Result<Recording> {
        let (jobs, queue) = std_mpsc::sync_channel(BACKLOG);
        let thread = std::thread::Builder::new()
            .name("kiln-history".into())
            .spawn(move || {
                for job in queue {
                    if let Some(answer) = handle(&mut recorder, job) {
                        let _ = answers.send(answer);
                    }
                }
            })?;
        Ok(Recording { jobs, thread })
    }

    pub(crate) fn record(&self, event: Event) {
        let _ = self.jobs.send(Job::Event(event));
    }

    pub(crate) fn record_inputs(&self, image: String, digest: String, inputs: String) {
        let _ = self.jobs.send(Job::Inputs {
            image,
            digest,
            inputs,
        });
    }

    /// Write what is queued and stop.
    pub(crate) fn close(self) {
        drop(self.jobs);
        let _ = self.thread.join();
    }
}

/// Record one job; what to tell the loop about it.
fn handle(recorder: &mut Recorder, job: Job) -> Option<Msg> {
    match job {
        Job::Inputs {
            image,
            digest,
            inputs,
        } => {
            recorder.record_inputs(&image, digest, inputs);
            None
        }
        Job::Event(event) => {
            if let Some(problem) = recorder.record(&event) {
                return Some(Msg::Notice(problem));
            }
            let image = event.image.filter(|_| ends_a_run(&event.kind))?;
            let known = recorder.known(&image)?;
            Some(Msg::HistoryKnown(vec![(image, known)]))
        }
    }
}

/// The events after which history has something new to say about an image.
fn ends_a_run(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::Built { .. }
            | EventKind::Failed { .. }
            | EventKind::TimedOut { .. }
            | EventKind::Cancelled { .. }
    )
}
