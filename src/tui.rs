//! The dashboard's front-end on the shared runtime: terminal setup and
//! teardown, the terminal's events as `Msg`s, and drawing the model when
//! something changed (at most ~30 times a second; once a second while a
//! timer is on screen). The terminal is restored on every way out: normal
//! quit, error (the guard's `Drop`) and panic (the hook).

use std::io::{self, Stdout};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use bollard::Docker;
use crossterm::event::{
    DisableMouseCapture, EnableMouseCapture, Event as TermEvent, EventStream, KeyEventKind,
};
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use crossterm::{cursor, execute};
use futures::StreamExt;
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

use crate::app::event::Event;
use crate::app::{App, Msg, RunOptions};
use crate::config::Config;
use crate::engine::build::BuildFlags;
use crate::format::plain_text;
use crate::runtime::{FrontEnd, Runtime};
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
pub(crate) async fn run(
    docker: Docker,
    config: Arc<Config>,
    (opts, flags): (RunOptions, BuildFlags),
    build_all: bool,
    daemon: String,
) -> io::Result<i32> {
    let mut app = App::new(&config, &opts).with_color(color_from_env());
    let mut runtime = Runtime::new(docker, config, flags);
    let guard = TerminalGuard::enter()?;
    let mut dashboard = Dashboard::new(Terminal::new(CrosstermBackend::new(io::stdout()))?);
    runtime.handle(&mut app, &mut dashboard, Msg::DaemonInfo(daemon));
    runtime.open_history(&mut app, &mut dashboard).await;
    let size = dashboard.terminal.size()?;
    runtime.handle(
        &mut app,
        &mut dashboard,
        Msg::Resize {
            width: size.width,
            height: size.height,
        },
    );
    let first = if build_all {
        Msg::BuildRequested {
            images: (0..app.images.len()).collect(),
            at: Instant::now(),
        }
    } else {
        Msg::Tick(Instant::now())
    };
    let ran = runtime.run(&mut app, &mut dashboard, first).await;
    drop(dashboard);
    drop(guard);
    runtime.shutdown(&mut app, &mut NoScreen).await;
    ran?;
    if app.run_started.is_some() {
        if let Some(line) = plain_text(&app.summary(Instant::now())) {
            println!("kiln | {line}");
        }
    }
    Ok(app.exit_code())
}

/// The dashboard on the terminal: draws the model, reads the terminal.
struct Dashboard {
    terminal: Terminal<CrosstermBackend<Stdout>>,
    events: EventStream,
    /// Something changed since the last frame.
    dirty: bool,
    last_draw: Option<Instant>,
    /// The terminal's input ended (stdin closed): leave.
    closed: bool,
}

impl Dashboard {
    fn new(terminal: Terminal<CrosstermBackend<Stdout>>) -> Dashboard {
        Dashboard {
            terminal,
            events: EventStream::new(),
            dirty: true,
            last_draw: None,
            closed: false,
        }
    }

    /// When the next frame may be drawn.
    fn next_frame(&self, now: Instant) -> Instant {
        self.last_draw.map(|t| t + FRAME).unwrap_or(now)
    }
}

impl FrontEnd for Dashboard {
    /// The screen shows the model itself; history keeps the events.
    fn show(&mut self, _event: &Event) {}

    fn present(&mut self, app: &App, changed: bool, _backlog: bool) -> io::Result<()> {
        let timer_due =
            timers_visible(app) && self.last_draw.is_none_or(|t| t.elapsed() >= TIMER_REDRAW);
        self.dirty |= changed || timer_due;
        let now = Instant::now();
        if self.dirty && now >= self.next_frame(now) {
            self.terminal.draw(|frame| crate::ui::draw(app, frame))?;
            self.last_draw = Some(now);
            self.dirty = false;
        }
        Ok(())
    }

    async fn input(&mut self) -> io::Result<Option<Msg>> {
        let next_frame = self.next_frame(Instant::now());
        loop {
            tokio::select! {
                ev = self.events.next() => match ev {
                    Some(Ok(ev)) => {
                        if let Some(msg) = term_msg(ev) {
                            return Ok(Some(msg));
                        }
                    }
                    Some(Err(e)) => return Err(e),
                    None => {
                        self.closed = true;
                        return Ok(None);
                    }
                },
                _ = tokio::time::sleep_until(next_frame.into()), if self.dirty => return Ok(None),
            }
        }
    }

    fn finished(&self, _app: &App) -> bool {
        self.closed
    }
}

/// After the terminal is handed back: nothing left to show.
struct NoScreen;

impl FrontEnd for NoScreen {
    fn show(&mut self, _event: &Event) {}

    fn present(&mut self, _app: &App, _changed: bool, _backlog: bool) -> io::Result<()> {
        Ok(())
    }

    async fn input(&mut self) -> io::Result<Option<Msg>> {
        std::future::pending().await
    }

    fn finished(&self, _app: &App) -> bool {
        true
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
