//! Feeds the model's events into history and the per-run log files: the
//! same events the front-ends print. Shared with the engine through the
//! `History` behind it (which reads `last_success` for change detection).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::sync::{Arc, Mutex};

use super::{private_dir, private_file, History};
use crate::app::event::{Event, EventKind};

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// One image's run as the recorder follows it.
struct Open {
    run: i64,
    log: Option<BufWriter<File>>,
}

/// Writes what the model reports into history and log files. Shared with
/// the engine (which reads `last_success` for change detection).
pub struct Recorder {
    history: Arc<Mutex<History>>,
    open: HashMap<String, Open>,
    /// The inputs (digest, parts) of each image's current build.
    inputs: HashMap<String, (String, String)>,
    /// First problem met; reported once, then history is off.
    pub failed: Option<String>,
}

impl Recorder {
    pub fn new(history: Arc<Mutex<History>>) -> Self {
        Recorder {
            history,
            open: HashMap::new(),
            inputs: HashMap::new(),
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

    fn try_record(&mut self, event: &Event) -> Result<(), String> {
        let Some(image) = event.image.as_deref() else {
            return Ok(());
        };
        let history = self.history.clone();
        let lock = || {
            history
                .lock()
                .map_err(|_| "history lock poisoned".to_string())
        };
        let err = |e: rusqlite::Error| e.to_string();
        match &event.kind {
            EventKind::Started { builder } => {
                let mut h = lock()?;
                let run = h
                    .start_run(image, builder.as_str(), now_ms())
                    .map_err(err)?;
                let path = h.log_path(image, run);
                if let Some(dir) = path.parent() {
                    private_dir(dir).map_err(|e| e.to_string())?;
                }
                let log = private_file(&path, false)
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                h.set_log_path(run, &path).map_err(err)?;
                self.open.insert(
                    image.to_string(),
                    Open {
                        run,
                        log: Some(BufWriter::new(log)),
                    },
                );
            }
            EventKind::Inputs { digest, inputs } => {
                // Arrives before `started`: the engine checks for changes
                // before it sends anything to the daemon.
                self.inputs
                    .insert(image.to_string(), (digest.clone(), inputs.clone()));
            }
            EventKind::Step { name, cached, .. } => {
                let mark = if *cached { " (cached)" } else { "" };
                self.write_line(image, &format!("==> {name}{mark}"))?;
            }
            EventKind::Log { line, .. } => self.write_line(image, line)?,
            EventKind::Notice { message } => self.write_line(image, &format!("kiln: {message}"))?,
            EventKind::StepDone {
                name,
                cached,
                duration_ms,
            } => {
                if let Some(o) = self.open.get(image) {
                    lock()?
                        .record_step(o.run, name, *cached, *duration_ms)
                        .map_err(err)?;
                }
            }
            EventKind::Stalled {
                silent_ms,
                phase,
                step,
            } => {
                if let Some(o) = self.open.get(image) {
                    let phase = match phase {
                        crate::app::event::Phase::Build => "build",
                        crate::app::event::Phase::Push => "push",
                    };
                    lock()?
                        .record_stall(o.run, phase, step.as_deref(), *silent_ms)
                        .map_err(err)?;
                }
                self.write_line(image, &format!("kiln: no output for {silent_ms} ms"))?;
            }
            EventKind::Built { image_id, .. } => {
                self.finish(image, "built", Some(image_id), None)?
            }
            EventKind::Failed { error, .. } => self.finish(image, "failed", None, Some(error))?,
            EventKind::TimedOut { .. } => self.finish(image, "timed_out", None, None)?,
            EventKind::Cancelled { .. } => self.finish(image, "cancelled", None, None)?,
            _ => {}
        }
        Ok(())
    }

    fn write_line(&mut self, image: &str, line: &str) -> Result<(), String> {
        if let Some(Open { log: Some(w), .. }) = self.open.get_mut(image) {
            writeln!(w, "{line}").map_err(|e| format!("cannot write a log file: {e}"))?;
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
        let mut h = self
            .history
            .lock()
            .map_err(|_| "history lock poisoned".to_string())?;
        // Only a successful build's inputs are worth comparing against later.
        let inputs = self.inputs.remove(image).filter(|_| result == "built");
        let (digest, inputs) = match &inputs {
            Some((d, i)) => (Some(d.as_str()), Some(i.as_str())),
            None => (None, None),
        };
        h.finish_run(o.run, result, now_ms(), image_id, digest, inputs)
            .map_err(|e| e.to_string())
    }
}
