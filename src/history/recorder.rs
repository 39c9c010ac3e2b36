//! Feeds the model's events into history and the per-run log files: the
//! same events the front-ends print, plus each build's inputs (which only
//! history keeps). It owns the `History`; nothing else writes to it.

use std::collections::HashMap;
use std::path::PathBuf;

use super::log_file::{is_disk_full, LogFile, Written, INCOMPLETE_NOTE};
use super::{private_dir, History};
use crate::app::event::{Event, EventKind};
use crate::app::step_marks::StepMarks;
use crate::app::words::{log_lines, saved_line};
use crate::protocol::ImageHistory;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// What history notes about a run whose log could not be created.
pub const NO_LOG_NOTE: &str = "no log (its directory could not be created)";
/// How the note saying why an image is built starts (`engine::change`).
const REBUILD_NOTE: &str = "rebuilding: ";
/// The most notes kept for a run that has not started yet.
const BEFORE_START_LINES: usize = 100;

/// A run's log file (0600), in a directory of its own (0700).
fn create_log(path: &std::path::Path) -> Result<LogFile, Trouble> {
    if let Some(dir) = path.parent() {
        private_dir(dir).map_err(|e| Trouble {
            message: e.to_string(),
            disk_full: matches!(&e, super::HistoryError::Dir { source, .. } if is_disk_full(source)),
        })?;
    }
    LogFile::create(path.to_path_buf())
        .map_err(|e| Trouble::io(format!("cannot write {}", path.display()), e))
}

/// One image's run as the recorder follows it.
struct Open {
    run: i64,
    log: Option<LogFile>,
    /// Which step the log's lines follow (marks interleaved output).
    marks: StepMarks,
    path: PathBuf,
}

/// Why recording stopped; a full disk also ends the open logs, cut back
/// and marked (`log_file`).
struct Trouble {
    message: String,
    disk_full: bool,
}

impl From<rusqlite::Error> for Trouble {
    fn from(e: rusqlite::Error) -> Trouble {
        Trouble {
            disk_full: e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull),
            message: e.to_string(),
        }
    }
}

impl Trouble {
    fn io(what: String, e: std::io::Error) -> Trouble {
        Trouble {
            disk_full: is_disk_full(&e),
            message: format!("{what}: {e}"),
        }
    }
}

/// Writes what the model reports into history and log files.
pub struct Recorder {
    history: History,
    open: HashMap<String, Open>,
    /// The inputs (digest, parts) of each image's current build.
    inputs: HashMap<String, (String, String)>,
    /// The tags of each image's current build.
    tags: HashMap<String, Vec<String>>,
    /// The bases (name, image id) of each image's current build.
    bases: HashMap<String, Vec<(String, String)>>,
    /// Why each image's coming build goes ahead (`rebuilding: …`).
    reasons: HashMap<String, String>,
    /// First problem met; reported once, then history is off.
    pub failed: Option<String>,
    /// A log was cut short by a full disk; said once.
    told_disk_full: bool,
    /// The lines of the event being written (kept: one allocation for
    /// the whole run, not one per line).
    lines: Vec<String>,
    /// Notes on an image's coming run said before it started (why it
    /// rebuilds): the first lines of its log.
    before_start: HashMap<String, Vec<String>>,
    /// A log that could not be created was said (once).
    told_no_log: bool,
    /// Something to say that did not stop recording (a log that could not
    /// be created).
    to_say: Option<String>,
}

/// How long a run that ends with `kind` took, as the model measured it
/// (what `built` and plain output say): history keeps the same number.
fn took(kind: &EventKind) -> Option<u64> {
    match kind {
        EventKind::Built { duration_ms, .. } => Some(*duration_ms),
        EventKind::TimedOut { after_ms } | EventKind::Cancelled { after_ms } => Some(*after_ms),
        _ => None,
    }
}

impl Recorder {
    pub fn new(history: History) -> Self {
        Recorder {
            history,
            open: HashMap::new(),
            inputs: HashMap::new(),
            tags: HashMap::new(),
            bases: HashMap::new(),
            reasons: HashMap::new(),
            failed: None,
            told_disk_full: false,
            lines: Vec::new(),
            before_start: HashMap::new(),
            told_no_log: false,
            to_say: None,
        }
    }

    /// Record one event. Returns a message for the user: the first time
    /// something fails (after that, recording stops), or the first time a
    /// full disk cuts a log short (recording goes on).
    pub fn record(&mut self, event: &Event) -> Option<String> {
        if self.failed.is_some() {
            return None;
        }
        let outcome = self.try_record_timed(event);
        self.settle(outcome)
    }

    /// `try_record`, then a run that ended keeps the duration its event
    /// gives ([`took`]).
    fn try_record_timed(&mut self, event: &Event) -> Result<Option<String>, Trouble> {
        let run = event
            .image
            .as_deref()
            .and_then(|image| self.open.get(image))
            .map(|o| o.run);
        let took = took(&event.kind).zip(run);
        let cut = self.try_record(event)?;
        if let Some((ms, run)) = took {
            self.history.set_duration(run, ms)?;
        }
        Ok(cut)
    }

    /// Write out what the open logs hold, so that a reader (`kiln logs`,
    /// `-f`) sees it and a killed kiln keeps it. A message as `record`'s.
    pub fn flush_logs(&mut self) -> Option<String> {
        if self.failed.is_some() {
            return None;
        }
        let outcome = self.try_flush_logs();
        self.settle(outcome)
    }

    fn try_flush_logs(&mut self) -> Result<Option<String>, Trouble> {
        let mut cut = None;
        for (image, open) in &mut self.open {
            let Some(log) = open.log.as_mut() else {
                continue;
            };
            let written = log
                .flush()
                .map_err(|e| Trouble::io("cannot write a log file".into(), e))?;
            if written == Written::DiskFull {
                self.history.set_log_note(open.run, INCOMPLETE_NOTE)?;
                cut = Some(image.clone());
            }
        }
        Ok(cut)
    }

    /// What to tell the user of a write: see `record`.
    fn settle(&mut self, outcome: Result<Option<String>, Trouble>) -> Option<String> {
        match outcome {
            Ok(None) => self.to_say.take(),
            Ok(Some(image)) if !self.told_disk_full => {
                self.told_disk_full = true;
                Some(format!(
                    "the disk is full: {image}'s log is incomplete (it ends with a note saying so); history goes on"
                ))
            }
            Ok(Some(_)) => None,
            Err(trouble) => {
                if trouble.disk_full {
                    // Give the disk some room back, and say where each log stops.
                    for open in self.open.values_mut() {
                        if let Some(log) = open.log.as_mut() {
                            log.end_incomplete();
                        }
                    }
                }
                let msg = format!("build history and logs are off: {}", trouble.message);
                self.failed = Some(msg.clone());
                Some(msg)
            }
        }
    }

    /// The inputs (digest, JSON) of `image`'s current build, kept with its
    /// run if it succeeds.
    pub fn record_inputs(&mut self, image: &str, digest: String, inputs: String) {
        self.inputs.insert(image.to_string(), (digest, inputs));
    }

    /// The tags `image`'s current build gives, kept with its run.
    pub fn record_tags(&mut self, image: &str, tags: Vec<String>) {
        self.tags.insert(image.to_string(), tags);
    }

    /// The bases (name, image id) `image`'s current build is built on.
    pub fn record_bases(&mut self, image: &str, bases: Vec<(String, String)>) {
        self.bases.insert(image.to_string(), bases);
    }

    /// `image`'s saved log, written out up to the last line recorded: its
    /// current run's, else its latest run's. None without one.
    pub fn log_file(&mut self, image: &str) -> Option<PathBuf> {
        if let Some(open) = self.open.get_mut(image) {
            if let Some(log) = open.log.as_mut() {
                let _ = log.flush();
            }
            return Some(open.path.clone());
        }
        let runs = self.history.runs(image).ok()?;
        runs.into_iter().find_map(|r| r.log_path)
    }

    /// The history itself, to read.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// What history now knows about `image` (after its run was recorded);
    /// None once recording has stopped.
    pub fn known(&self, image: &str) -> Option<ImageHistory> {
        if self.failed.is_some() {
            return None;
        }
        self.history.known(image).ok()
    }

    /// Record one event; `Ok(Some(image))` when a full disk cut that
    /// image's log short. Every event is named: one the recorder does not
    /// know is a compile error, not a line missing from the saved log.
    fn try_record(&mut self, event: &Event) -> Result<Option<String>, Trouble> {
        let Some(image) = event.image.as_deref() else {
            return Ok(None);
        };
        let kind = &event.kind;
        let db = Trouble::from;
        // (Looked up where needed: a log line, the bulk, needs no run.)
        let run = |r: &Recorder| r.open.get(image).map(|o| o.run);
        let cut = match kind {
            EventKind::Started { builder, engine } => {
                self.start_run(image, builder.as_str(), engine.as_deref())?
            }
            EventKind::Notice { .. } | EventKind::Transfer { .. } if run(self).is_none() => {
                self.keep_for_start(image, kind);
                Written::Ok
            }
            EventKind::Step { .. }
            | EventKind::Log { .. }
            | EventKind::Notice { .. }
            | EventKind::Transfer { .. }
            | EventKind::Resumed { .. }
            | EventKind::SlowStep { .. } => self.write_lines(image, kind)?,
            // A shared step's time was spent by another step or build:
            // it says nothing about how long this step usually takes.
            EventKind::StepDone { shared: true, .. } => Written::Ok,
            EventKind::StepDone {
                name,
                cached,
                duration_ms,
                ..
            } => self.step_done(image, name, *cached, *duration_ms)?,
            EventKind::Stalled {
                silent_ms,
                phase,
                step,
            } => {
                if let Some(run) = run(self) {
                    let (phase, step) = (phase.as_str(), step.as_deref());
                    let h = &mut self.history;
                    h.record_stall(run, phase, step, *silent_ms).map_err(db)?;
                }
                self.write_lines(image, kind)?
            }
            EventKind::Built { image_id, .. } => self.finish(image, "built", Some(image_id))?,
            EventKind::Failed { error, .. } => {
                if let Some(run) = run(self) {
                    self.history.set_error(run, error).map_err(db)?;
                }
                self.ended(image, kind, "failed")?
            }
            EventKind::TimedOut { .. } => self.ended(image, kind, "timed_out")?,
            EventKind::Cancelled { .. } => self.ended(image, kind, "cancelled")?,
            EventKind::Pushed { tag, digest } => {
                let h = &mut self.history;
                h.record_push(image, tag, digest, now_ms()).map_err(db)?;
                Written::Ok
            }
            // Skipped before it started: no run to keep its inputs with
            // (unchanged, they are the last success's already); queued: a
            // new run, what was said before an earlier one is stale.
            EventKind::Skipped { .. } | EventKind::Queued => {
                self.inputs.remove(image);
                self.before_start.remove(image);
                self.reasons.remove(image);
                Written::Ok
            }
            // Not kept: the plan, the queue, push progress (the push's
            // result is), the session's summary, watch mode's doings.
            EventKind::Plan { .. }
            | EventKind::PushProgress { .. }
            | EventKind::Summary { .. }
            | EventKind::Watching { .. }
            | EventKind::Changed { .. }
            | EventKind::WouldBuild { .. }
            | EventKind::WouldFail { .. } => Written::Ok,
        };
        Ok((cut == Written::DiskFull).then(|| image.to_string()))
    }

    /// A step of `image`'s run ended: its time, for the usual durations.
    fn step_done(
        &mut self,
        image: &str,
        name: &str,
        cached: bool,
        duration_ms: u64,
    ) -> Result<Written, Trouble> {
        if let Some(run) = self.open.get(image).map(|o| o.run) {
            self.history
                .record_step(run, name, cached, duration_ms)
                .map_err(Trouble::from)?;
        }
        Ok(Written::Ok)
    }

    /// `image`'s run ended with `result` (not built): the event's lines,
    /// then the run finished.
    fn ended(&mut self, image: &str, kind: &EventKind, result: &str) -> Result<Written, Trouble> {
        let written = self.write_lines(image, kind)?;
        Ok(written.or(self.finish(image, result, None)?))
    }

    /// A run of `image` started: its row, and its log file (0600).
    fn start_run(
        &mut self,
        image: &str,
        builder: &str,
        engine: Option<&str>,
    ) -> Result<Written, Trouble> {
        let h = &mut self.history;
        let run = h.start_run(image, builder, engine, now_ms())?;
        let path = h.log_path(image, run);
        if let Some(tags) = self.tags.remove(image) {
            h.set_tags(run, &tags)?;
        }
        if let Some(bases) = self.bases.remove(image) {
            h.set_bases(run, &bases)?;
        }
        if let Some(reason) = self.reasons.remove(image) {
            h.set_reason(run, &reason)?;
        }
        // Without its log file the run is still recorded (its result is
        // what change detection needs): said once, noted with the run.
        let log = match create_log(&path) {
            Ok(log) => {
                h.set_log_path(run, &path)?;
                Some(log)
            }
            Err(e) if e.disk_full => return Err(e),
            Err(e) => {
                h.set_log_note(run, NO_LOG_NOTE)?;
                if !self.told_no_log {
                    self.told_no_log = true;
                    self.to_say = Some(format!(
                        "{image}'s log cannot be saved ({}); its runs are recorded without one",
                        e.message
                    ));
                }
                None
            }
        };
        self.open.insert(
            image.to_string(),
            Open {
                run,
                log,
                marks: StepMarks::default(),
                path,
            },
        );
        // The notes said before it started (why it rebuilds) open its log.
        for line in self.before_start.remove(image).unwrap_or_default() {
            self.write_line(image, &line)?;
        }
        Ok(Written::Ok)
    }

    /// A note on `image`'s run to come, kept for the start of its log.
    fn keep_for_start(&mut self, image: &str, kind: &EventKind) {
        if let EventKind::Notice { message } = kind {
            if message.starts_with(REBUILD_NOTE) {
                self.reasons.insert(image.to_string(), message.clone());
            }
        }
        let kept = self.before_start.entry(image.to_string()).or_default();
        log_lines(kind, &mut StepMarks::default(), |k, text| {
            if kept.len() < BEFORE_START_LINES {
                kept.push(saved_line(k, text));
            }
        });
    }

    /// A line of `image`'s log; a full disk ends the log (noted in history).
    fn write_line(&mut self, image: &str, line: &str) -> Result<Written, Trouble> {
        let Some(Open {
            run,
            log: Some(log),
            ..
        }) = self.open.get_mut(image)
        else {
            return Ok(Written::Ok);
        };
        let written = log
            .line(line)
            .map_err(|e| Trouble::io("cannot write a log file".into(), e))?;
        if written == Written::DiskFull {
            self.history.set_log_note(*run, INCOMPLETE_NOTE)?;
        }
        Ok(written)
    }

    /// The lines `kind` puts in `image`'s log (`words::log_lines`, as the
    /// pane shows them), each saved with its kind (`words::saved_line`).
    fn write_lines(&mut self, image: &str, kind: &EventKind) -> Result<Written, Trouble> {
        let Some(Open { marks, .. }) = self.open.get_mut(image) else {
            return Ok(Written::Ok);
        };
        let mut lines = std::mem::take(&mut self.lines);
        log_lines(kind, marks, |k, text| lines.push(saved_line(k, text)));
        let mut written = Written::Ok;
        let mut result = Ok(());
        for line in lines.drain(..) {
            match self.write_line(image, &line) {
                Ok(w) => written = written.or(w),
                Err(trouble) => {
                    result = Err(trouble);
                    break;
                }
            }
        }
        self.lines = lines;
        result.map(|()| written)
    }

    /// `image`'s run ended with `result`: its log closed, its row
    /// finished (with its inputs, if it was built).
    fn finish(
        &mut self,
        image: &str,
        result: &str,
        image_id: Option<&str>,
    ) -> Result<Written, Trouble> {
        let Some(mut o) = self.open.remove(image) else {
            return Ok(Written::Ok);
        };
        let mut written = Written::Ok;
        if let Some(log) = o.log.as_mut() {
            let io = |e| Trouble::io("cannot write a log file".into(), e);
            written = log.finish().map_err(io)?;
            if written == Written::DiskFull {
                self.history.set_log_note(o.run, INCOMPLETE_NOTE)?;
            }
        }
        // Only a successful build's inputs are worth comparing against later.
        let inputs = self.inputs.remove(image).filter(|_| result == "built");
        let (digest, inputs) = match &inputs {
            Some((d, i)) => (Some(d.as_str()), Some(i.as_str())),
            None => (None, None),
        };
        self.history
            .finish_run(o.run, result, now_ms(), image_id, digest, inputs)?;
        Ok(written)
    }
}
