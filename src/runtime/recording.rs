//! The build history, opened once per run and written on a thread of its
//! own: SQLite and the log files are blocking I/O, kept off the async
//! threads. The loop hands it the model's events (and each build's inputs);
//! it answers on a channel of its own with what history then knows about an
//! image (after each of its runs) and, once, why recording stopped.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::app::event::{Event, EventKind};
use crate::app::Msg;
use crate::config::Config;
use crate::history::{self, History, LastRunRow, Recorder};
use crate::protocol::{ImageHistory, LastRun};
use crate::sanitize::sanitize_line;

/// Events waiting for the history thread before the loop waits for it.
const BACKLOG: usize = 64 * 1024;
/// The most of a saved log read to show its tail when history opens.
const TAIL_BYTES: u64 = 64 * 1024;
/// The most lines of that tail kept.
const TAIL_LINES: usize = 300;
/// How often the dashboard looks whether other kilns wrote to the history.
const POLL_OTHERS: Duration = Duration::from_secs(1);
/// The most jobs handled before the open logs are written out.
const FLUSH_EVERY: usize = 512;
/// How long the loop waits for the history thread to name a log file.
const LOG_FILE_WAIT: Duration = Duration::from_secs(3);

/// What the loop hands the history thread.
enum Job {
    Event(Event),
    Inputs {
        image: String,
        digest: String,
        inputs: String,
    },
    Tags {
        image: String,
        tags: Vec<String>,
    },
    Bases {
        image: String,
        bases: Vec<(String, String)>,
    },
    /// Write out what is recorded of `image`'s log and name its file.
    LogFile {
        image: String,
        reply: std_mpsc::Sender<Option<PathBuf>>,
    },
}

/// The history thread, while it runs.
pub(crate) struct Recording {
    jobs: std_mpsc::SyncSender<Job>,
    thread: JoinHandle<()>,
}

/// Open the stack's history: what it knows about each image (with its
/// latest run, and that run's log tail when `saved_logs`), and the thread
/// that records this run; or why history is off (kiln builds on without).
pub(crate) fn open(
    config: &Config,
    answers: mpsc::UnboundedSender<Msg>,
    saved_logs: bool,
) -> Result<(Vec<(String, ImageHistory)>, Recording), String> {
    let history = history::data_dir()
        .ok_or(history::HistoryError::NoDataDir)
        .and_then(|dir| History::open(&dir, &config.path))
        .map_err(|e| format!("build history and logs are off: {e}"))?;
    let names: Vec<String> = config.images.iter().map(|i| i.name.clone()).collect();
    let known = known_now(&history, &names, saved_logs);
    // The dashboard shows what other kilns sharing the history do.
    let live = saved_logs.then(|| Live {
        version: history.data_version().ok(),
        names,
        polled: Instant::now(),
    });
    let recording = Recording::start(Recorder::new(history), answers, live)
        .map_err(|e| format!("build history and logs are off: cannot start its thread: {e}"))?;
    Ok((known, recording))
}

/// What history knows now of each of `names`, with its latest run (and
/// that run's log tail when `saved_logs`).
fn known_now(history: &History, names: &[String], saved_logs: bool) -> Vec<(String, ImageHistory)> {
    let now = (Instant::now(), chrono::Utc::now().timestamp_millis());
    names
        .iter()
        .map(|name| {
            let mut facts = history.known(name).unwrap_or_default();
            facts.last_run = history
                .last_run(name)
                .ok()
                .flatten()
                .map(|row| last_run(row, now, saved_logs));
            (name.clone(), facts)
        })
        .collect()
}

/// Following what other kiln processes write to the shared history: SQLite's
/// `data_version` moves when another connection commits, so one cheap
/// query a second tells whether anything is worth reading.
struct Live {
    names: Vec<String>,
    version: Option<i64>,
    polled: Instant,
}

impl Live {
    /// If a second has passed and another kiln wrote: what history now
    /// knows of every image, for the model.
    fn poll(&mut self, history: &History) -> Option<Msg> {
        if self.polled.elapsed() < POLL_OTHERS {
            return None;
        }
        self.polled = Instant::now();
        let version = history.data_version().ok();
        if version == self.version {
            return None;
        }
        self.version = version;
        Some(Msg::HistoryKnown(known_now(history, &self.names, true)))
    }
}

impl Recording {
    fn start(
        mut recorder: Recorder,
        answers: mpsc::UnboundedSender<Msg>,
        mut live: Option<Live>,
    ) -> std::io::Result<Recording> {
        let (jobs, queue) = std_mpsc::sync_channel(BACKLOG);
        let thread = std::thread::Builder::new()
            .name("kiln-history".into())
            .spawn(move || {
                // Whatever has arrived is written out as soon as nothing
                // else waits: `kiln logs` (and `-f`) read a running build's
                // log, and a killed kiln loses only what never reached here.
                loop {
                    let first = match queue.recv_timeout(POLL_OTHERS) {
                        Ok(job) => Some(job),
                        Err(std_mpsc::RecvTimeoutError::Timeout) => None,
                        Err(std_mpsc::RecvTimeoutError::Disconnected) => break,
                    };
                    if let Some(known) = live.as_mut().and_then(|l| l.poll(recorder.history())) {
                        let _ = answers.send(known);
                    }
                    let mut next = first;
                    let mut handled = 0;
                    while let Some(job) = next {
                        if let Some(answer) = handle(&mut recorder, job) {
                            let _ = answers.send(answer);
                        }
                        handled += 1;
                        // A flood of output is written out now and then too.
                        next = (handled < FLUSH_EVERY)
                            .then(|| queue.try_recv().ok())
                            .flatten();
                    }
                    if let Some(problem) = recorder.flush_logs() {
                        let _ = answers.send(Msg::Notice(problem));
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

    pub(crate) fn record_tags(&self, image: String, tags: Vec<String>) {
        let _ = self.jobs.send(Job::Tags { image, tags });
    }

    pub(crate) fn record_bases(&self, image: String, bases: Vec<(String, String)>) {
        let _ = self.jobs.send(Job::Bases { image, bases });
    }

    /// `image`'s saved log file, with every line recorded so far written
    /// out: its current run's, else its latest run's. Waits for the
    /// history thread (bounded); None without a log.
    pub(crate) fn log_file(&self, image: String) -> Option<PathBuf> {
        let (reply, answer) = std_mpsc::channel();
        self.jobs.send(Job::LogFile { image, reply }).ok()?;
        answer.recv_timeout(LOG_FILE_WAIT).ok().flatten()
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
        Job::Tags { image, tags } => {
            recorder.record_tags(&image, tags);
            None
        }
        Job::Bases { image, bases } => {
            recorder.record_bases(&image, bases);
            None
        }
        Job::LogFile { image, reply } => {
            let _ = reply.send(recorder.log_file(&image));
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

/// History's row of an image's latest run as the model takes it: its end
/// as an age on the monotonic clock (`now`: the same moment on both
/// clocks), and its saved log's tail when `saved_logs`.
fn last_run(row: LastRunRow, (now, now_ms): (Instant, i64), saved_logs: bool) -> LastRun {
    let run = row.run;
    let ms = |from: i64, to: i64| Duration::from_millis(to.saturating_sub(from).max(0) as u64);
    LastRun {
        result: run.result(),
        ended_ago: run.ended_ms.map(|end| ms(end, now_ms)),
        as_of: now,
        duration: run.ended_ms.map(|end| ms(run.started_ms, end)),
        image_id: run.image_id,
        error: row.error.map(|e| sanitize_line(&e)),
        last_step: row.last_step.map(|s| sanitize_line(&s)),
        log_tail: match (&run.log_path, saved_logs) {
            (Some(path), true) => log_tail(path),
            _ => Vec::new(),
        },
        log_path: run.log_path,
        id: run.id,
        by_other: run.pid != Some(std::process::id()),
    }
}

/// The last lines of a saved log, from at most its last `TAIL_BYTES`
/// (a line cut by that is dropped), sanitised like anything read back.
fn log_tail(path: &Path) -> Vec<String> {
    let Ok(mut file) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let from = len.saturating_sub(TAIL_BYTES);
    let mut bytes = Vec::new();
    if file.seek(SeekFrom::Start(from)).is_err()
        || file.take(TAIL_BYTES).read_to_end(&mut bytes).is_err()
    {
        return Vec::new();
    }
    let text = String::from_utf8_lossy(&bytes);
    let mut lines: Vec<&str> = text.lines().collect();
    if from > 0 && !lines.is_empty() {
        lines.remove(0);
    }
    let skip = lines.len().saturating_sub(TAIL_LINES);
    lines[skip..].iter().map(|l| sanitize_line(l)).collect()
}

/// The 1-based number of the first error line of a saved log (as the pane
/// finds it: `LogLine::is_error`), for `o` on a failed build; None when
/// it has none or cannot be read.
pub(super) fn first_error_line(path: &std::path::Path) -> Option<usize> {
    use std::io::BufRead;
    let file = std::fs::File::open(path).ok()?;
    std::io::BufReader::new(file)
        .split(b'\n')
        .map_while(Result::ok)
        .position(|bytes| {
            let (kind, text) = crate::app::words::read_saved_line(&String::from_utf8_lossy(&bytes));
            crate::app::log::LogLine { kind, text }.is_error()
        })
        .map(|n| n + 1)
}

#[cfg(test)]
mod tests {
    use super::first_error_line;

    #[test]
    fn a_saved_logs_first_error_is_its_first_error_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1.log");
        let log = "kiln: rebuilding: the build failed last time\n==> [2/2] RUN cargo build || echo failed\n   Compiling x v1\nerror[E0308]: mismatched types\nkiln: FAILED: exit code: 101\n";
        std::fs::write(&path, log).unwrap();
        assert_eq!(
            first_error_line(&path),
            Some(4),
            "notes and step headers are not errors"
        );
        std::fs::write(
            &path,
            "==> RUN make\nall fine\nkiln: FAILED: exit code: 2\n",
        )
        .unwrap();
        assert_eq!(first_error_line(&path), Some(3), "kiln's own error line");
        std::fs::write(&path, "all fine\n").unwrap();
        assert_eq!(first_error_line(&path), None);
        assert_eq!(first_error_line(&dir.path().join("gone.log")), None);
    }
}
