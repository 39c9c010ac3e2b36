//! Feeds the model's events into history and the per-run log files: the
//! same events the front-ends print, plus each build's inputs (which only
//! history keeps). It owns the `History`; nothing else writes to it.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use super::{private_dir, private_file, History};
use crate::app::event::{Event, EventKind};
use crate::app::step_marks::{step_mark, StepMarks};
use crate::protocol::ImageHistory;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// One image's run as the recorder follows it.
struct Open {
    run: i64,
    log: Option<BufWriter<File>>,
    /// Which step the log's lines follow (marks interleaved output).
    marks: StepMarks,
    path: PathBuf,
}

/// Writes what the model reports into history and log files.
pub struct Recorder {
    history: History,
    open: HashMap<String, Open>,
    /// The inputs (digest, parts) of each image's current build.
    inputs: HashMap<String, (String, String)>,
    /// The tags of each image's current build.
    tags: HashMap<String, Vec<String>>,
    /// First problem met; reported once, then history is off.
    pub failed: Option<String>,
}

impl Recorder {
    pub fn new(history: History) -> Self {
        Recorder {
            history,
            open: HashMap::new(),
            inputs: HashMap::new(),
            tags: HashMap::new(),
            failed: None,
        }
    }

    /// Record one event. Returns a message the first time something fails
    /// (the caller shows it); after that, recording stops.
    pub fn record(&mut self, event: &Event) -> Option<String> {
        if self.failed.is_some() {
            return None;
        }
        match self.try_record(event) {
            Ok(()) => None,
            Err(e) => {
                let msg = format!("build history and logs are off: {e}");
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

    /// `image`'s saved log, written out up to the last line recorded: its
    /// current run's, else its latest run's. None without one.
    pub fn log_file(&mut self, image: &str) -> Option<PathBuf> {
        if let Some(open) = self.open.get_mut(image) {
            if let Some(w) = open.log.as_mut() {
                let _ = w.flush();
            }
            return Some(open.path.clone());
        }
        let runs = self.history.runs(image).ok()?;
        runs.into_iter().find_map(|r| r.log_path)
    }

    /// What history now knows about `image` (after its run was recorded);
    /// None once recording has stopped.
    pub fn known(&self, image: &str) -> Option<ImageHistory> {
        if self.failed.is_some() {
            return None;
        }
        self.history.known(image).ok()
    }

    fn try_record(&mut self, event: &Event) -> Result<(), String> {
        let Some(image) = event.image.as_deref() else {
            return Ok(());
        };
        let db = |e: rusqlite::Error| e.to_string();
        match &event.kind {
            EventKind::Started { builder } => self.start_run(image, builder.as_str())?,
            EventKind::Step {
                name,
                cached,
                shared,
                ..
            } => {
                let mark = step_mark(*cached, *shared);
                self.write_line(image, &format!("==> {name}{mark}"))?;
                if let Some(o) = self.open.get_mut(image) {
                    o.marks.header(name);
                }
            }
            EventKind::Log { line, step } => self.write_output(image, step.as_deref(), line)?,
            EventKind::Notice { message } => self.write_line(image, &format!("kiln: {message}"))?,
            // A shared step's time was spent by another step or build:
            // it says nothing about how long this step usually takes.
            EventKind::StepDone { shared: true, .. } => {}
            EventKind::StepDone {
                name,
                cached,
                duration_ms,
                ..
            } => {
                if let Some(o) = self.open.get(image) {
                    self.history
                        .record_step(o.run, name, *cached, *duration_ms)
                        .map_err(db)?;
                }
            }
            EventKind::Stalled {
                silent_ms,
                phase,
                step,
            } => {
                if let Some(o) = self.open.get(image) {
                    self.history
                        .record_stall(o.run, phase.as_str(), step.as_deref(), *silent_ms)
                        .map_err(db)?;
                }
                self.write_line(image, &format!("kiln: no output for {silent_ms} ms"))?;
            }
            EventKind::Built { image_id, .. } => {
                self.finish(image, "built", Some(image_id), None)?
            }
            EventKind::Failed { error, .. } => {
                if let Some(o) = self.open.get(image) {
                    self.history.set_error(o.run, error).map_err(db)?;
                }
                self.finish(image, "failed", None, Some(error))?
            }
            EventKind::Pushed { tag, digest } => self
                .history
                .record_push(image, tag, digest, now_ms())
                .map_err(db)?,
            EventKind::TimedOut { .. } => self.finish(image, "timed_out", None, None)?,
            EventKind::Cancelled { .. } => self.finish(image, "cancelled", None, None)?,
            _ => {}
        }
        Ok(())
    }

    /// A run of `image` started: its row, and its log file (0600).
    fn start_run(&mut self, image: &str, builder: &str) -> Result<(), String> {
        let h = &mut self.history;
        let run = h
            .start_run(image, builder, now_ms())
            .map_err(|e| e.to_string())?;
        let path = h.log_path(image, run);
        if let Some(dir) = path.parent() {
            private_dir(dir).map_err(|e| e.to_string())?;
        }
        let log = private_file(&path, false)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        h.set_log_path(run, &path).map_err(|e| e.to_string())?;
        if let Some(tags) = self.tags.remove(image) {
            h.set_tags(run, &tags).map_err(|e| e.to_string())?;
        }
        self.open.insert(
            image.to_string(),
            Open {
                run,
                log: Some(BufWriter::new(log)),
                marks: StepMarks::default(),
                path,
            },
        );
        Ok(())
    }

    fn write_line(&mut self, image: &str, line: &str) -> Result<(), String> {
        if let Some(Open { log: Some(w), .. }) = self.open.get_mut(image) {
            writeln!(w, "{line}").map_err(|e| format!("cannot write a log file: {e}"))?;
        }
        Ok(())
    }

    /// A line of build output, marked with its step when steps interleave.
    fn write_output(&mut self, image: &str, step: Option<&str>, line: &str) -> Result<(), String> {
        if let Some(Open {
            log: Some(w),
            marks,
            ..
        }) = self.open.get_mut(image)
        {
            let text = marks.line(step, line);
            writeln!(w, "{text}").map_err(|e| format!("cannot write a log file: {e}"))?;
        }
        Ok(())
    }

    fn finish(
        &mut self,
        image: &str,
        result: &str,
        image_id: Option<&str>,
        error: Option<&str>,
    ) -> Result<(), String> {
        let Some(mut o) = self.open.remove(image) else {
            return Ok(());
        };
        if let Some(w) = o.log.as_mut() {
            if let Some(e) = error {
                let _ = writeln!(w, "kiln: FAILED: {e}");
            }
            w.flush()
                .map_err(|e| format!("cannot write a log file: {e}"))?;
        }
        // Only a successful build's inputs are worth comparing against later.
        let inputs = self.inputs.remove(image).filter(|_| result == "built");
        let (digest, inputs) = match &inputs {
            Some((d, i)) => (Some(d.as_str()), Some(i.as_str())),
            None => (None, None),
        };
        self.history
            .finish_run(o.run, result, now_ms(), image_id, digest, inputs)
            .map_err(|e| e.to_string())
    }
}
