//! The headless front-end (`kiln build --plain` / `--json`, `kiln push`,
//! `kiln watch`):
//! the model's events printed as lines, on the same runtime as the
//! dashboard. Plain: `name | text`, aligned, each line sanitised. JSON: one
//! object per line (the README's contract), each stamped with the
//! wall-clock `time` as it is written, control characters escaped
//! (`output::write_json`).

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use bollard::Docker;

use crate::app::event::{Event, EventKind};
use crate::app::push::TransitionFilter;
use crate::app::step_marks::StepMarks;
use crate::app::words::plain_line;
use crate::app::{App, Msg, RunOptions, Stop};
use crate::config::{Config, StackSource};
use crate::engine::build::BuildFlags;
use crate::engine::multi::Link;
use crate::exit;
use crate::output;
use crate::runtime::{FrontEnd, Runtime};
use crate::sanitize::sanitize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Plain,
    Json,
}

/// Turns events into lines on a writer.
pub struct Printer<W: Write> {
    out: W,
    format: Format,
    name_width: usize,
    /// Plain output shows a layer's push only when its state changes.
    push_lines: TransitionFilter,
    /// Plain output: per image, which step its log lines follow.
    marks: HashMap<String, StepMarks>,
    /// JSON: the last `time` stamp written, and its millisecond.
    stamp: (i64, String),
    /// Writing failed (the reader went away: `| head`): what to do.
    lost: LostOutput,
    /// A dry run's lines: a skip is what would happen (`skip: unchanged`).
    dry_run: bool,
}

/// What becomes of a run whose output can no longer be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnLostOutput {
    /// Stop it (`Stop::OutputClosed`): nobody sees what the builds do.
    Stop,
    /// Build on (`--keep-going-without-output`).
    KeepGoing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LostOutput {
    /// Every line so far was written.
    No,
    /// A write failed; the model is to be told.
    Unreported,
    /// Told (or not to be told).
    Handled,
}

/// A JSON line: the event's fields, then `time`.
#[derive(serde::Serialize)]
struct Stamped<'a> {
    #[serde(flatten)]
    event: &'a Event,
    time: &'a str,
}

impl<W: Write> Printer<W> {
    pub fn new(out: W, format: Format, names: &[String]) -> Self {
        let name_width = names.iter().map(|n| n.len()).max().unwrap_or(4).max(4);
        Printer {
            out,
            format,
            name_width,
            push_lines: TransitionFilter::default(),
            marks: HashMap::new(),
            stamp: (i64::MIN, String::new()),
            lost: LostOutput::No,
            dry_run: false,
        }
    }

    /// Print a dry run (`kiln build --dry-run`): a skip reads `skip: …`.
    pub fn dry_run(mut self) -> Self {
        self.dry_run = true;
        self
    }

    /// What to do when the output is gone (default: stop the run).
    pub fn on_lost_output(mut self, then: OnLostOutput) -> Self {
        if then == OnLostOutput::KeepGoing {
            self.lost = LostOutput::Handled;
        }
        self
    }

    pub fn print(&mut self, event: &Event) {
        let written = match self.format {
            Format::Json => self.print_json(event),
            Format::Plain => self.print_plain(event),
        };
        self.note(written);
    }

    /// Remember a failed write (the first one; the rest say the same).
    fn note(&mut self, written: std::io::Result<()>) {
        if written.is_err() && self.lost == LostOutput::No {
            self.lost = LostOutput::Unreported;
        }
    }

    fn print_plain(&mut self, event: &Event) -> std::io::Result<()> {
        if !self.push_lines.admit(event.image.as_deref(), &event.kind) {
            return Ok(());
        }
        let who = event.image.as_deref().unwrap_or("kiln");
        let marks = self.marks.entry(who.to_string()).or_default();
        let text = match &event.kind {
            EventKind::Skipped { reason } if self.dry_run => {
                Some(format!("skip: {}", reason.as_str().replace('_', " ")))
            }
            EventKind::Plan { .. } if self.dry_run => {
                plain_line(&event.kind, marks).map(|t| t.replacen("building ", "dry run of ", 1))
            }
            kind => plain_line(kind, marks),
        };
        let Some(text) = text else {
            return Ok(());
        };
        let who = sanitize(who);
        let width = self.name_width;
        if text.is_empty() {
            // A blank line of the build's output stays one (`lines()` has
            // none): compiler diagnostics are paragraphs.
            return writeln!(self.out, "{who:<width$} | ");
        }
        text.lines()
            .try_for_each(|line| writeln!(self.out, "{who:<width$} | {}", sanitize(line)))
    }

    fn print_json(&mut self, event: &Event) -> std::io::Result<()> {
        // Serialised straight to the writer: going through a
        // `serde_json::Value` (a map of owned strings, built and dropped
        // per line) was 60% of the cost of a log line (BENCHMARKS.md).
        // The stamp is formatted once per millisecond, not per line.
        let now = chrono::Utc::now();
        if self.stamp.0 != now.timestamp_millis() {
            let text = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            self.stamp = (now.timestamp_millis(), text);
        }
        let line = Stamped {
            event,
            time: &self.stamp.1,
        };
        output::write_json(&mut self.out, &line)?;
        self.out.write_all(b"\n")
    }

    pub fn flush(&mut self) {
        let flushed = self.out.flush();
        self.note(flushed);
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write> FrontEnd for Printer<W> {
    fn show(&mut self, event: &Event) {
        self.print(event);
    }

    fn present(&mut self, _app: &App, _changed: bool, backlog: bool) -> std::io::Result<()> {
        // Flush when nothing is waiting: lines still go out as they come,
        // but a backlog goes out in full buffers, not a write(2) per line
        // (BENCHMARKS.md: that was ~1.8 writes per line, 60% of CPU).
        if !backlog {
            self.flush();
        }
        Ok(())
    }

    /// The printer's only input: its output is gone, so the run stops
    /// (once; unless told to keep going).
    async fn input(&mut self) -> std::io::Result<Option<Msg>> {
        if self.lost == LostOutput::Unreported {
            self.lost = LostOutput::Handled;
            return Ok(Some(Msg::Stop {
                why: Stop::OutputClosed,
                at: Instant::now(),
            }));
        }
        std::future::pending().await
    }

    fn finished(&self, app: &App) -> bool {
        app.is_idle() && !app.is_watching()
    }
}

/// What a headless run does with the images it is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Job {
    /// Build them (`kiln build`), pushing those that push.
    Build,
    /// Push their tags as they are now (`kiln push`).
    Push,
    /// Build them, then rebuild what changes until interrupted (`kiln
    /// watch`): `names` as asked for, `restart` a running build on a
    /// change, reload the stack from `reload` when its files change.
    Watch {
        names: Vec<String>,
        restart: bool,
        reload: Box<StackSource>,
    },
}

/// Run `job` on `selection` headless, printing events; returns the exit
/// code.
pub(crate) async fn run(
    (docker, engines): (Docker, Vec<Option<Link>>),
    config: Arc<Config>,
    selection: Vec<usize>,
    (opts, flags): (RunOptions, BuildFlags),
    (format, on_lost): (Format, OnLostOutput),
    job: Job,
) -> i32 {
    let names: Vec<String> = selection
        .iter()
        .map(|i| config.images[*i].name.clone())
        .collect();
    let stdout = std::io::stdout().lock();
    let mut printer =
        Printer::new(std::io::BufWriter::new(stdout), format, &names).on_lost_output(on_lost);
    let mut app = App::new(&config, &opts);
    let mut runtime = Runtime::new(docker, config, flags).with_engines(engines, &app.engines);
    if let Job::Watch { reload, .. } = &job {
        runtime = runtime.reload_from((**reload).clone());
    }
    runtime.open_history(&mut app, &mut printer).await;
    // (Plain text words the plan as a build; a push has no waves.)
    if job != Job::Push || format == Format::Json {
        printer.print(&app.plan_event(&selection));
    }
    let (images, at) = (selection, Instant::now());
    let watching = matches!(job, Job::Watch { .. });
    let first = match job {
        Job::Build => Msg::BuildRequested { images, at },
        Job::Push => Msg::PushRequested { images, at },
        Job::Watch { names, restart, .. } => Msg::WatchRequested {
            names,
            images,
            restart,
            at,
        },
    };
    let ran = runtime.run(&mut app, &mut printer, first).await;
    runtime.shutdown(&mut app, &mut printer).await;
    let now = Instant::now();
    let mut summary = app.summary(now);
    if watching {
        // A watch session is many runs: what they all came to, and the
        // whole session's time (not the last run's).
        let session = app.session_summary(now);
        printer.print(&Event {
            image: None,
            kind: EventKind::Notice {
                message: format!("this session: {}", crate::format::session_line(&session)),
            },
        });
        if let EventKind::Summary { duration_ms, .. } = &mut summary.kind {
            *duration_ms = crate::human::millis(session.duration);
        }
    }
    printer.print(&summary);
    printer.flush();
    if let Some(failure) = &app.failure {
        output::error(failure);
    }
    match ran {
        Ok(()) => app.exit_code(),
        Err(e) => {
            output::error(e);
            exit::FAILED
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_output_keeps_blank_lines_of_the_build() {
        let mut printer = Printer::new(Vec::new(), Format::Plain, &["api".to_string()]);
        for line in [
            "error[E0308]: mismatched types",
            "",
            "  --> src/main.rs:3:5",
        ] {
            printer.print(&Event::for_image(
                "api",
                EventKind::Log {
                    line: line.into(),
                    step: None,
                },
            ));
        }
        let text = String::from_utf8(printer.into_inner()).unwrap();
        assert_eq!(
            text,
            "api  | error[E0308]: mismatched types\napi  | \napi  |   --> src/main.rs:3:5\n"
        );
    }
}
