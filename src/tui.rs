//! The dashboard's front-end: terminal setup and teardown, and the loop that
//! turns terminal events, engine messages and ticks into `Msg`s, feeds them
//! to `app::update`, hands the returned commands to the engine's `Executor`,
//! and redraws when something changed (at most ~30 times a second; once a
//! second while a timer is on screen). The terminal is restored on every way
//! out: normal quit, error (the guard's `Drop`) and panic (the hook).

use std::io::{self, Stdout};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use bollard::Docker;
use crossterm::event::{
    DisableMouseCapture, EnableMouseCapture, Event as TermEvent, EventStream, KeyCode, KeyEvent,
    KeyEventKind, KeyModifiers,
};
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use crossterm::{cursor, execute};
use futures::StreamExt;
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;
use tokio::sync::mpsc;

use crate::app::{self, App, Command, Msg, RunOptions};
use crate::config::Config;
use crate::engine::build::BuildFlags;
use crate::engine::executor::Executor;
use crate::headless::{plain_text, CHANNEL_CAPACITY};

/// How often timers are checked.
const TICK: Duration = Duration::from_millis(250);
/// The shortest gap between two frames (~30 fps).
const FRAME: Duration = Duration::from_millis(33);
/// How often a visible timer (elapsed, silent-for) is redrawn.
const TIMER_REDRAW: Duration = Duration::from_secs(1);

/// Whether to draw in colour: NO_COLOR set and non-empty turns colour off.
/// Read once, by the front-end; the view only sees `view.color`.
pub fn color_from_env() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Raw mode, alternate screen, mouse capture, hidden cursor — undone on drop.
pub struct TerminalGuard;

impl TerminalGuard {
    pub fn enter() -> io::Result<TerminalGuard> {
        install_panic_hook();
        enable_raw_mode()?;
        let guard = TerminalGuard;
        execute!(
            io::stdout(),
            EnterAlternateScreen,
            EnableMouseCapture,
            cursor::Hide
        )?;
        Ok(guard)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Put the terminal back; safe to call more than once.
pub fn restore() {
    let _ = execute!(
        io::stdout(),
        DisableMouseCapture,
        LeaveAlternateScreen,
        cursor::Show
    );
    let _ = disable_raw_mode();
}

/// Restore the terminal before the previous hook prints the panic.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}

/// Run the dashboard until the user quits; returns the exit code.
pub async fn run(
    docker: Docker,
    config: Arc<Config>,
    opts: RunOptions,
    flags: BuildFlags,
    build_all: bool,
    daemon: String,
) -> io::Result<i32> {
    let (tx, mut rx) = mpsc::channel(CHANNEL_CAPACITY);
    let mut app = App::new(&config, &opts);
    app::update(&mut app, Msg::DaemonInfo(daemon));
    app.view.color = color_from_env();
    let (history, history_problem) = crate::headless::open_history(&config);
    let mut recorder = history.clone().map(crate::history::Recorder::new);
    let health = crate::headless::HealthCheck::new(docker.clone(), tx.clone());
    let mut executor = Executor::new(docker, config.clone(), flags, history, tx);
    if let Some(problem) = history_problem {
        app::update(&mut app, Msg::Notice(problem));
    }

    let guard = TerminalGuard::enter()?;
    let mut terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
    let mut front = FrontEnd {
        executor: &mut executor,
        recorder: recorder.as_mut(),
        health: &health,
    };
    let result = event_loop(&mut terminal, &mut app, &mut front, &mut rx, build_all).await;
    drop(terminal);
    drop(guard);
    executor.shutdown().await;
    result?;
    if app.run_started.is_some() {
        if let Some(line) = plain_text(&app.summary(Instant::now())) {
            println!("kiln | {line}");
        }
    }
    Ok(app.exit_code())
}

async fn event_loop(
    terminal: &mut Terminal<CrosstermBackend<Stdout>>,
    app: &mut App,
    front: &mut FrontEnd<'_>,
    rx: &mut mpsc::Receiver<Msg>,
    build_all: bool,
) -> io::Result<()> {
    let size = terminal.size()?;
    let mut commands = app::update(
        app,
        Msg::Resize {
            width: size.width,
            height: size.height,
        },
    );
    if build_all {
        let images = (0..app.images.len()).collect();
        commands.extend(app::update(
            app,
            Msg::BuildRequested {
                images,
                at: Instant::now(),
            },
        ));
    }
    let mut events = EventStream::new();
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut dirty = true;
    let mut last_draw: Option<Instant> = None;
    let mut interrupts = crate::headless::Interrupts::listen();
    let mut interrupted = false;
    loop {
        let mut later = Vec::new();
        for cmd in commands.drain(..) {
            match &cmd {
                // The screen shows the model itself; history keeps the events.
                Command::Emit(event) => {
                    if let Some(problem) = front.recorder.as_mut().and_then(|r| r.record(event)) {
                        later.push(Msg::Notice(problem));
                    }
                }
                Command::Quit => app.view.quit = true,
                _ => front.executor.execute(&cmd),
            }
        }
        for msg in later {
            commands.extend(app::update(app, msg));
        }
        if app.view.quit {
            return Ok(());
        }
        let now = Instant::now();
        let next_frame = last_draw.map(|t| t + FRAME).unwrap_or(now);
        if dirty && now >= next_frame {
            terminal.draw(|frame| crate::ui::draw(app, frame))?;
            last_draw = Some(now);
            dirty = false;
        }
        let msg = tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(ev)) => match term_msg(ev) {
                    Some(msg) => msg,
                    None => continue,
                },
                Some(Err(e)) => return Err(e),
                None => return Ok(()), // stdin closed
            },
            Some(msg) = rx.recv() => msg,
            _ = ticker.tick() => {
                if !app.is_idle() {
                    front.health.maybe_ping(Instant::now());
                }
                Msg::Tick(Instant::now())
            }
            _ = tokio::time::sleep_until(next_frame.into()), if dirty => continue,
            _ = interrupts.next(), if !interrupted => {
                interrupted = true;
                // Same as Ctrl-C typed in the dashboard: cancel all, leave.
                ctrl_c()
            }
        };
        let tick = matches!(msg, Msg::Tick(_));
        commands = app::update(app, msg);
        let changed = !tick || !commands.is_empty();
        let timer_due =
            timers_visible(app) && last_draw.is_none_or(|t| t.elapsed() >= TIMER_REDRAW);
        dirty |= changed || timer_due;
    }
}

/// The I/O side the loop drives: the engine, the history recorder and the
/// daemon health check.
struct FrontEnd<'a> {
    executor: &'a mut Executor,
    recorder: Option<&'a mut crate::history::Recorder>,
    health: &'a crate::headless::HealthCheck,
}

fn ctrl_c() -> Msg {
    Msg::Key {
        key: KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL),
        at: Instant::now(),
    }
}

/// A terminal event as a model message (None: nothing the model uses).
fn term_msg(ev: TermEvent) -> Option<Msg> {
    let at = Instant::now();
    match ev {
        TermEvent::Key(key) if key.kind == KeyEventKind::Press => Some(Msg::Key { key, at }),
        TermEvent::Mouse(event) => Some(Msg::Mouse { event, at }),
        TermEvent::Resize(width, height) => Some(Msg::Resize { width, height }),
        _ => None,
    }
}

/// Something on screen shows a running clock (elapsed, silent-for).
fn timers_visible(app: &App) -> bool {
    app.images.iter().any(|i| i.status.is_active())
}
