//! The headless front-ends (`kiln build --plain` / `--json`): the same model
//! and engine as the dashboard, with the model's events printed as lines.
//! Plain: `name | text`, aligned. JSON: one object per line (DESIGN.md's
//! contract), each stamped with the wall-clock `time` as it is written.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bollard::Docker;
use tokio::sync::mpsc;

use crate::app::event::{Event, EventKind, Phase};
use crate::app::push::{human_bytes, TransitionFilter};
use crate::app::{self, App, Command, Msg, RunOptions};
use crate::config::{format_duration, Config};
use crate::engine::build::{BuildFlags, SharedHistory};
use crate::engine::executor::Executor;
use crate::history::{self, History, Recorder};

/// How often timers are checked (stall and timeout precision).
const TICK: Duration = Duration::from_millis(250);
/// Engine messages in flight before a build task waits for the app.
pub const CHANNEL_CAPACITY: usize = 4096;

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
    /// JSON: the last `time` stamp written, and its millisecond.
    stamp: (i64, String),
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
            stamp: (i64::MIN, String::new()),
        }
    }

    pub fn print(&mut self, event: &Event) {
        // A closed stdout (e.g. `| head`) must not stop the builds.
        let _ = match self.format {
            Format::Json => self.print_json(event),
            Format::Plain if !self.push_lines.admit(event.image.as_deref(), &event.kind) => Ok(()),
            Format::Plain => match plain_text(event) {
                Some(text) => {
                    let who = event.image.as_deref().unwrap_or("kiln");
                    let width = self.name_width;
                    text.lines()
                        .try_for_each(|line| writeln!(self.out, "{who:<width$} | {line}"))
                }
                None => Ok(()),
            },
        };
    }

    fn print_json(&mut self, event: &Event) -> std::io::Result<()> {
        if matches!(event.kind, EventKind::Inputs { .. }) {
            return Ok(());
        }
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
        serde_json::to_writer(&mut self.out, &line).map_err(std::io::Error::other)?;
        self.out.write_all(b"\n")
    }

    pub fn flush(&mut self) {
        let _ = self.out.flush();
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// The plain-text rendering of an event, or None for events plain output
/// leaves out (queue bookkeeping, per-step completions).
pub fn plain_text(event: &Event) -> Option<String> {
    let d = |ms: u64| format_duration(Duration::from_millis(ms));
    Some(match &event.kind {
        EventKind::Plan { images, waves } => {
            let waves: Vec<String> = waves.iter().map(|w| w.join(", ")).collect();
            format!(
                "building {} image{}: {}",
                images.len(),
                if images.len() == 1 { "" } else { "s" },
                waves.join(" → ")
            )
        }
        EventKind::Queued | EventKind::StepDone { .. } => return None,
        EventKind::Started { builder } => format!("building ({} builder)", builder.as_str()),
        EventKind::Skipped { reason } => format!("skipped: {}", reason.as_str().replace('_', " ")),
        EventKind::Step {
            index,
            total,
            name,
            cached,
        } => {
            let mark = if *cached { "  (cached)" } else { "" };
            match (index, total) {
                (Some(i), Some(t)) if !name.starts_with("Step ") => {
                    format!("Step {i}/{t} : {name}{mark}")
                }
                _ => format!("{name}{mark}"),
            }
        }
        EventKind::Log { line, .. } => line.clone(),
        EventKind::Stalled {
            silent_ms,
            phase,
            step,
        } => {
            let what = match phase {
                Phase::Build => "build",
                Phase::Push => "push",
            };
            match step {
                Some(s) => format!("STALLED: {what} silent for {} (in {s})", d(*silent_ms)),
                None => format!("STALLED: {what} silent for {}", d(*silent_ms)),
            }
        }
        EventKind::Resumed { silent_ms } => {
            format!("output resumed after {} of silence", d(*silent_ms))
        }
        EventKind::SlowStep {
            name,
            elapsed_ms,
            usual_ms,
        } => format!(
            "slower than usual: {name} has run {} (usually {})",
            d(*elapsed_ms),
            d(*usual_ms)
        ),
        EventKind::Built {
            image_id,
            duration_ms,
            steps,
            cached_steps,
        } => format!(
            "built {} in {} ({steps} steps, {cached_steps} cached)",
            short_id(image_id),
            d(*duration_ms)
        ),
        EventKind::PushProgress {
            tag,
            layer,
            current,
            total,
            status,
        } => {
            let size = match (current, total) {
                (_, 0) => String::new(),
                (c, t) if c >= t => format!(" ({})", human_bytes(*t)),
                (c, t) => format!(" ({}/{})", human_bytes(*c), human_bytes(*t)),
            };
            format!("push {tag}: layer {layer} {status}{size}")
        }
        EventKind::Pushed { tag, digest } => format!("pushed {tag} {digest}"),
        EventKind::Failed { phase, error, .. } => {
            let what = match phase {
                Phase::Build => "build",
                Phase::Push => "push",
            };
            format!("FAILED ({what}): {error}")
        }
        EventKind::TimedOut { after_ms } => format!("TIMED OUT after {}", d(*after_ms)),
        EventKind::Cancelled { after_ms } => format!("cancelled after {}", d(*after_ms)),
        EventKind::Summary {
            succeeded,
            failed,
            skipped,
            duration_ms,
        } => {
            let list = |v: &Vec<String>| {
                if v.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", v.join(", "))
                }
            };
            format!(
                "{} succeeded, {} failed{}, {} skipped{} in {}",
                succeeded.len(),
                failed.len(),
                list(failed),
                skipped.len(),
                list(skipped),
                d(*duration_ms)
            )
        }
        EventKind::Notice { message } => message.clone(),
        EventKind::Inputs { .. } => return None,
    })
}

fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}

/// Pings the daemon every few seconds while builds run, reporting the
/// result as `Msg::DaemonHealth` (one ping in flight at a time).
pub struct HealthCheck {
    docker: Docker,
    tx: mpsc::Sender<Msg>,
    last: std::cell::Cell<Option<Instant>>,
    in_flight: Arc<std::sync::atomic::AtomicBool>,
}

const HEALTH_EVERY: Duration = Duration::from_secs(5);

impl HealthCheck {
    pub fn new(docker: Docker, tx: mpsc::Sender<Msg>) -> Self {
        HealthCheck {
            docker,
            tx,
            last: std::cell::Cell::new(None),
            in_flight: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        }
    }

    pub fn maybe_ping(&self, now: Instant) {
        use std::sync::atomic::Ordering;
        if self
            .last
            .get()
            .is_some_and(|t| now.duration_since(t) < HEALTH_EVERY)
            || self.in_flight.swap(true, Ordering::SeqCst)
        {
            return;
        }
        self.last.set(Some(now));
        let (docker, tx, flag) = (self.docker.clone(), self.tx.clone(), self.in_flight.clone());
        tokio::spawn(async move {
            let result =
                tokio::time::timeout(crate::engine::connect::PING_TIMEOUT, docker.ping()).await;
            let (ok, detail) = match result {
                Ok(Ok(_)) => (true, String::new()),
                Ok(Err(e)) => (false, e.to_string()),
                Err(_) => (false, "no answer to a ping within 5s".to_string()),
            };
            let _ = tx.send(Msg::DaemonHealth { ok, detail }).await;
            flag.store(false, Ordering::SeqCst);
        });
    }
}

/// SIGINT (Ctrl-C) as a stream that is listened to from the start of a
/// front-end's loop. A fresh `tokio::signal::ctrl_c()` per `select!` only
/// sees signals sent while it is being polled: one arriving while the loop
/// was handling a message was lost (and the default action is gone by
/// then, so the build just went on). One `Signal` remembers it.
pub struct Interrupts(Option<tokio::signal::unix::Signal>);

impl Interrupts {
    pub fn listen() -> Self {
        let kind = tokio::signal::unix::SignalKind::interrupt();
        Interrupts(tokio::signal::unix::signal(kind).ok())
    }

    /// The next Ctrl-C (never, if the handler could not be installed).
    pub async fn next(&mut self) {
        match &mut self.0 {
            Some(signal) => {
                signal.recv().await;
            }
            None => std::future::pending().await,
        }
    }
}

fn notice(message: String) -> Event {
    Event {
        image: None,
        kind: EventKind::Notice { message },
    }
}

/// Open the build history, or say why it is off (kiln builds on without it).
pub fn open_history(config: &Config) -> (SharedHistory, Option<String>) {
    let opened = history::data_dir()
        .ok_or(history::HistoryError::NoDataDir)
        .and_then(|dir| History::open(&dir, &config.path));
    match opened {
        Ok(h) => (Some(Arc::new(Mutex::new(h))), None),
        Err(e) => (None, Some(format!("build history and logs are off: {e}"))),
    }
}

/// Build `selection` headless, printing events; returns the exit code.
pub async fn run(
    docker: Docker,
    config: Arc<Config>,
    selection: Vec<usize>,
    opts: RunOptions,
    flags: BuildFlags,
    format: Format,
) -> i32 {
    drive(
        docker,
        config,
        selection,
        opts,
        flags,
        format,
        Request::Build,
    )
    .await
}

/// `kiln push`: push `selection`'s tags as they are now, printing events;
/// returns the exit code.
pub async fn push(
    docker: Docker,
    config: Arc<Config>,
    selection: Vec<usize>,
    format: Format,
) -> i32 {
    let opts = RunOptions::default();
    let flags = BuildFlags::default();
    drive(
        docker,
        config,
        selection,
        opts,
        flags,
        format,
        Request::Push,
    )
    .await
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Request {
    Build,
    Push,
}

async fn drive(
    docker: Docker,
    config: Arc<Config>,
    selection: Vec<usize>,
    opts: RunOptions,
    flags: BuildFlags,
    format: Format,
    request: Request,
) -> i32 {
    let names: Vec<String> = selection
        .iter()
        .map(|i| config.images[*i].name.clone())
        .collect();
    let stdout = std::io::stdout().lock();
    let mut printer = Printer::new(std::io::BufWriter::new(stdout), format, &names);
    let (tx, mut rx) = mpsc::channel(CHANNEL_CAPACITY);
    let mut app = App::new(&config, &opts);
    let (history, problem) = open_history(&config);
    if let Some(problem) = problem {
        printer.print(&notice(problem));
    }
    let mut recorder = history.clone().map(Recorder::new);
    let health = HealthCheck::new(docker.clone(), tx.clone());
    let mut executor = Executor::new(docker, config.clone(), flags, history, tx);

    // (Plain text words the plan as a build; a push has no waves.)
    if request == Request::Build || format == Format::Json {
        printer.print(&app.plan_event(&selection));
    }
    let (images, at) = (selection, Instant::now());
    let first = match request {
        Request::Build => Msg::BuildRequested { images, at },
        Request::Push => Msg::PushRequested { images, at },
    };
    let mut commands = app::update(&mut app, first);
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut interrupts = Interrupts::listen();
    let mut interrupted = false;
    loop {
        for cmd in commands.drain(..) {
            match &cmd {
                Command::Emit(event) => {
                    printer.print(event);
                    if let Some(problem) = recorder.as_mut().and_then(|r| r.record(event)) {
                        printer.print(&notice(problem));
                    }
                }
                _ => executor.execute(&cmd),
            }
        }
        // Flush when nothing is waiting: lines still go out as they come,
        // but a backlog goes out in full buffers, not a write(2) per line
        // (BENCHMARKS.md: that was ~1.8 writes per line, 60% of CPU).
        if rx.is_empty() {
            printer.flush();
        }
        if app.is_idle() {
            break;
        }
        let msg = tokio::select! {
            Some(msg) = rx.recv() => msg,
            _ = ticker.tick() => {
                health.maybe_ping(Instant::now());
                Msg::Tick(Instant::now())
            }
            _ = interrupts.next(), if !interrupted => {
                interrupted = true;
                Msg::Interrupt(Instant::now())
            }
        };
        commands = app::update(&mut app, msg);
    }
    printer.print(&app.summary(Instant::now()));
    printer.flush();
    executor.shutdown().await;
    app.exit_code()
}
