//! The dashboard's front-end on the shared runtime: terminal setup and
//! teardown, the terminal's events as `Msg`s, drawing the model when
//! something changed (at most ~30 times a second; once a second while a
//! timer is on screen), and what the model asks of the terminal: a pager
//! on a saved log (the terminal is handed over and taken back), the
//! clipboard (kiln's own OSC 52), mouse capture. The terminal is restored
//! on every way out: normal quit, error (the guard's `Drop`) and panic
//! (the hook).

use std::io::{self, Stdout, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use bollard::Docker;
use crossterm::event::{
    DisableMouseCapture, EnableMouseCapture, Event as TermEvent, EventStream, KeyEventKind,
};
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, Clear, ClearType, EnterAlternateScreen, LeaveAlternateScreen,
};
use crossterm::{cursor, execute};
use futures::StreamExt;
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

use crate::app::event::Event;
use crate::app::{App, Msg, RunOptions, Stop};
use crate::config::{Config, StackSource};
use crate::engine::build::BuildFlags;
use crate::format::session_line;
use crate::runtime::{Effect, FrontEnd, Runtime};
use crate::sanitize::sanitize;
/// The shortest gap between two frames (~30 fps).
const FRAME: Duration = Duration::from_millis(33);
/// How often a visible timer (elapsed, silent-for) is redrawn.
const TIMER_REDRAW: Duration = Duration::from_secs(1);

/// The pager when `$PAGER` is unset or empty.
const DEFAULT_PAGER: &str = "less -R";

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
        let guard = TerminalGuard;
        enter(true)?;
        Ok(guard)
    }
}

/// The dashboard is on the alternate screen (`restore` clears it once,
/// never the main screen).
static ON_ALTERNATE_SCREEN: AtomicBool = AtomicBool::new(false);

/// Raw mode, the alternate screen, the mouse (if captured), no cursor.
fn enter(mouse: bool) -> io::Result<()> {
    enable_raw_mode()?;
    execute!(io::stdout(), EnterAlternateScreen, cursor::Hide)?;
    ON_ALTERNATE_SCREEN.store(true, Ordering::SeqCst);
    if mouse {
        execute!(io::stdout(), EnableMouseCapture)?;
    }
    Ok(())
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Put the terminal back; safe to call more than once. The alternate
/// screen is cleared first: after a resize, tmux shows rows of it that
/// the main screen, restored at its old size, does not cover.
pub fn restore() {
    if ON_ALTERNATE_SCREEN.swap(false, Ordering::SeqCst) {
        let _ = execute!(io::stdout(), Clear(ClearType::All));
    }
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
/// `reload`: how to load the stack again when its file changes while
/// watching (`W`).
pub(crate) async fn run(
    (docker, engines): (Docker, Vec<Option<crate::engine::multi::Link>>),
    (config, reload): (Arc<Config>, StackSource),
    (opts, flags): (RunOptions, BuildFlags),
    build_all: bool,
    daemon: String,
) -> io::Result<i32> {
    let mut app = App::new(&config, &opts).with_color(color_from_env());
    let mut runtime = Runtime::new(docker, config, flags)
        .with_engines(engines, &app.engines)
        .reload_from(reload);
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
    // After SIGHUP the terminal is gone and drawing on it fails: the stop
    // is what happened, not the failure.
    if app.stopped.is_none() {
        ran?;
    }
    if app.run_started.is_some() {
        let line = session_line(&app.session_summary(Instant::now()));
        let _ = crate::output::stdout(&format!("kiln | {line}"));
    }
    Ok(app.exit_code())
}

/// The dashboard on the terminal: draws the model, reads the terminal.
struct Dashboard {
    terminal: Terminal<CrosstermBackend<Stdout>>,
    /// The terminal's events; none while a pager has the terminal.
    events: Option<EventStream>,
    /// The pager (`o`) while it has the terminal, and how it was named.
    pager: Option<(tokio::process::Child, String)>,
    /// The mouse is captured (`m` leaves it to the terminal).
    mouse: bool,
    /// Something changed since the last frame.
    dirty: bool,
    last_draw: Option<Instant>,
    /// The terminal's input ended (stdin closed): leave.
    closed: bool,
}

/// Whether the pager (its program's name) opens a file at line N given
/// `+N`: less, more, most, vi and its kin, nano.
fn opens_at_a_line(pager: &str) -> bool {
    let program = pager.split_whitespace().next().unwrap_or_default();
    let name = program.rsplit('/').next().unwrap_or(program);
    matches!(
        name,
        "less" | "more" | "most" | "vi" | "vim" | "nvim" | "view" | "nano"
    )
}

impl Dashboard {
    fn new(terminal: Terminal<CrosstermBackend<Stdout>>) -> Dashboard {
        Dashboard {
            terminal,
            events: Some(EventStream::new()),
            pager: None,
            mouse: true,
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

    fn shows_ages(&self) -> bool {
        true
    }

    fn present(&mut self, app: &App, changed: bool, _backlog: bool) -> io::Result<()> {
        if self.pager.is_some() {
            // The pager has the screen; the model goes on underneath.
            self.dirty = true;
            return Ok(());
        }
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
        if let Some((child, pager)) = &mut self.pager {
            let status = child.wait().await;
            let pager = pager.clone();
            self.pager = None;
            return self.take_back_terminal(&pager, status);
        }
        let next_frame = self.next_frame(Instant::now());
        let events = self.events.get_or_insert_with(EventStream::new);
        loop {
            tokio::select! {
                ev = events.next() => match ev {
                    Some(Ok(ev)) => {
                        if let Some(msg) = term_msg(ev) {
                            return Ok(Some(msg));
                        }
                    }
                    Some(Err(e)) => return Err(e),
                    // The terminal is gone (its input ended): as a SIGHUP.
                    None if !self.closed => {
                        self.closed = true;
                        return Ok(Some(Msg::Stop { why: Stop::Hangup, at: Instant::now() }));
                    }
                    None => return Ok(None),
                },
                _ = tokio::time::sleep_until(next_frame.into()), if self.dirty => return Ok(None),
            }
        }
    }

    fn finished(&self, _app: &App) -> bool {
        self.closed
    }

    fn perform(&mut self, effect: Effect) -> Option<Msg> {
        let done = match effect {
            Effect::Pager(path, line) => self.page(&path, line),
            Effect::Copy(text) => copy_to_clipboard(&mut io::stdout(), &text)
                .map_err(|e| io::Error::other(format!("cannot copy: {e}"))),
            Effect::MouseCapture(on) => {
                self.mouse = on;
                set_mouse_capture(on)
                    .map_err(|e| io::Error::other(format!("cannot change mouse capture: {e}")))
            }
        };
        self.dirty = true;
        done.err().map(|e| Msg::Notice(e.to_string()))
    }

    fn shows_saved_logs(&self) -> bool {
        true
    }

    fn terminal_lent(&self) -> bool {
        self.pager.is_some()
    }
}

impl Dashboard {
    /// Hand the terminal to `$PAGER` (default `less -R`) on `path`. The
    /// terminal's event reader is stopped meanwhile, so every key goes to
    /// the pager; builds, timers and history go on (`input` waits for the
    /// pager and takes the terminal back).
    fn page(&mut self, path: &Path, line: Option<usize>) -> io::Result<()> {
        self.events = None;
        // Wait for the reader's thread to let go of the terminal.
        let _ = crossterm::event::poll(Duration::ZERO);
        restore();
        let pager = std::env::var("PAGER")
            .ok()
            .filter(|p| !p.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_PAGER.to_string());
        let at = line
            .filter(|_| opens_at_a_line(&pager))
            .map(|n| format!(" +{n}"))
            .unwrap_or_default();
        let spawned = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{pager}{at} \"$1\""))
            .arg("kiln-pager")
            .arg(path)
            .kill_on_drop(true)
            .spawn();
        match spawned {
            Ok(child) => {
                self.pager = Some((child, pager));
                Ok(())
            }
            Err(e) => {
                let back = self.enter_again();
                back.and(Err(io::Error::other(format!("cannot run `{pager}`: {e}"))))
            }
        }
    }

    /// The pager ended: the terminal is the dashboard's again.
    fn take_back_terminal(
        &mut self,
        pager: &str,
        status: io::Result<std::process::ExitStatus>,
    ) -> io::Result<Option<Msg>> {
        self.enter_again()?;
        Ok(match status {
            Ok(status) if status.success() => None,
            Ok(status) => Some(Msg::Notice(format!("`{pager}` ended with {status}"))),
            Err(e) => Some(Msg::Notice(format!("cannot run `{pager}`: {e}"))),
        })
    }

    fn enter_again(&mut self) -> io::Result<()> {
        let back = enter(self.mouse);
        self.events = Some(EventStream::new());
        self.terminal.clear()?;
        self.dirty = true;
        back
    }
}

/// Put `text` on the terminal's clipboard with OSC 52: kiln's own sequence
/// around the text base64-encoded, the text stripped of any escape first
/// (nothing of a build's can reach the terminal through it).
fn copy_to_clipboard(out: &mut impl Write, text: &str) -> io::Result<()> {
    use base64::Engine;
    let clean: Vec<String> = text.lines().map(|l| sanitize(l).into_owned()).collect();
    let payload = base64::engine::general_purpose::STANDARD.encode(clean.join("\n"));
    write!(out, "\x1b]52;c;{payload}\x07")?;
    out.flush()
}

fn set_mouse_capture(on: bool) -> io::Result<()> {
    if on {
        execute!(io::stdout(), EnableMouseCapture)
    } else {
        execute!(io::stdout(), DisableMouseCapture)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pagers_that_take_a_line_get_one() {
        for p in ["less -R", "/usr/bin/less", "more", "vim -R", "nano -v"] {
            assert!(opens_at_a_line(p), "{p}");
        }
        for p in ["cat", "/tmp/pager.sh", "bat --paging=always", ""] {
            assert!(!opens_at_a_line(p), "{p}");
        }
    }

    #[test]
    fn the_clipboard_gets_kilns_own_sequence_around_clean_text() {
        let mut out = Vec::new();
        copy_to_clipboard(&mut out, "ok \x1b]52;c;ZXZpbA==\x07line\nnext \x1b[31mred").unwrap();
        let written = String::from_utf8(out).unwrap();
        let payload = written
            .strip_prefix("\x1b]52;c;")
            .and_then(|p| p.strip_suffix('\x07'))
            .expect("one OSC 52 sequence");
        use base64::Engine;
        let text = base64::engine::general_purpose::STANDARD
            .decode(payload)
            .unwrap();
        assert_eq!(String::from_utf8(text).unwrap(), "ok line\nnext red");
    }
}
