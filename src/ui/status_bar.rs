//! The status bar: counts per state, jobs running/limit, queue length,
//! `watching N` in watch mode, and normal mode's key hints (from
//! `app::keys::table`, shortened to fit, never dropped); on the right the
//! search or the last message, and the daemon in the room that is left
//! (cut with `…`, never overwritten). A message too long for that room
//! takes the whole bar.

use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use unicode_width::UnicodeWidthStr;

use super::{truncate, Theme};

use crate::app::keys::table;
use crate::app::status::Status;
use crate::app::view::Mode;
use crate::app::App;
use crate::protocol::{Phase, SkipReason};

/// The states counted, in the order shown.
const ORDER: &[Status] = &[
    Status::Building,
    Status::Stalled(Phase::Build),
    Status::Pushing,
    Status::Queued,
    Status::Done,
    Status::Skipped(SkipReason::Unchanged),
    Status::Skipped(SkipReason::Prebuilt),
    Status::Failed(Phase::Build),
    Status::TimedOut,
    Status::Cancelled,
    Status::Skipped(SkipReason::DependencyFailed),
];

/// Statuses counted together (a stalled push counts as stalled).
fn bucket(s: Status) -> Status {
    match s {
        Status::Stalled(_) => Status::Stalled(Phase::Build),
        Status::Failed(_) => Status::Failed(Phase::Build),
        s => s,
    }
}

pub fn draw(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let mut left = counts(app, theme, false);
    // A narrow screen keeps the hints: the counts lose their words.
    if Line::from(left.clone()).width() + 8 > area.width as usize {
        left = counts(app, theme, true);
    }
    let left = Line::from(left);
    let avail = (area.width as usize).saturating_sub(left.width());
    // A message too long to stand beside the counts and the least hint
    // gets the whole bar (until the next key clears it).
    let least = hint_levels().last().map_or(0, |h| h.width());
    if let Some((text, style)) = right_text(app) {
        if text.width() > avail.saturating_sub(least + 3) {
            let text = truncate(&text, (area.width as usize).saturating_sub(2));
            let line = Line::from(Span::styled(format!(" {text}"), style));
            frame.render_widget(Paragraph::new(line), area);
            return;
        }
    }
    let (hint, daemon, message) = fit(app, avail);
    let mut spans = left.spans;
    spans.push(Span::styled(hint, theme.fg(Color::DarkGray)));
    let mut right: Vec<Span> = Vec::new();
    if let Some(daemon) = daemon {
        right.push(Span::styled(
            format!("{daemon} "),
            theme.fg(Color::DarkGray),
        ));
    }
    if let Some((text, style)) = message {
        right.push(Span::styled(format!("{text} "), style));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
    frame.render_widget(Paragraph::new(Line::from(right).right_aligned()), area);
}

/// The counts per state, jobs and queue (`tight`: symbols and numbers
/// only), and the daemon's trouble.
fn counts(app: &App, theme: &Theme, tight: bool) -> Vec<Span<'static>> {
    let mut left: Vec<Span> = Vec::new();
    for &state in ORDER {
        let n = app
            .images
            .iter()
            .filter(|i| bucket(i.status) == state)
            .count();
        if n == 0 {
            continue;
        }
        let (symbol, style) = theme.status(state);
        left.push(Span::styled(format!(" {symbol}{n}"), style));
        if !tight {
            left.push(Span::raw(format!(" {}", state.label())));
        }
        left.push(Span::raw(" "));
    }
    if left.is_empty() {
        left.push(Span::raw(" idle "));
    }
    let queued = app
        .images
        .iter()
        .filter(|i| i.status == Status::Queued)
        .count();
    let jobs = if tight {
        format!("│ {}/{} │ ", app.running(), app.jobs)
    } else {
        format!("│ jobs {}/{} │ queue {queued} │ ", app.running(), app.jobs)
    };
    left.push(Span::styled(jobs, theme.fg(Color::DarkGray)));
    left.extend(watching(app, theme, tight));
    if app.daemon_down.is_some() {
        left.push(Span::styled(
            if tight {
                "daemon down "
            } else {
                "daemon not answering "
            },
            theme
                .fg(Color::Red)
                .add_modifier(Modifier::BOLD | Modifier::REVERSED),
        ));
    }
    left
}

/// `watching N` (images) in watch mode, `watching…` while it sets up;
/// `tight`: `◉N`.
fn watching(app: &App, theme: &Theme, tight: bool) -> Option<Span<'static>> {
    let watch = app.watch.as_ref()?;
    let text = match (watch.watching.is_some(), tight) {
        (true, false) => format!("watching {} ", watch.images.len()),
        (false, false) => "watching… ".to_string(),
        (true, true) => format!("◉{} ", watch.images.len()),
        (false, true) => "◉… ".to_string(),
    };
    Some(Span::styled(
        text,
        theme.fg(Color::Cyan).add_modifier(Modifier::BOLD),
    ))
}

/// What fits beside the counts in `avail` columns, in this order: the
/// search or message (cut if need be), the shortest hints ("? help"), the
/// daemon (cut, or left out below a dozen columns), then longer hints as
/// room allows.
fn fit(app: &App, avail: usize) -> (String, Option<String>, Option<(String, Style)>) {
    let levels = hint_levels();
    let least = levels.last().map_or(0, |h| h.width());
    let message = right_text(app)
        .map(|(text, style)| (truncate(&text, avail.saturating_sub(least + 3)), style));
    let mut room = avail.saturating_sub(message.as_ref().map_or(0, |(t, _)| t.width() + 1) + 1);
    let label = daemon_label(app);
    let daemon_wants = label
        .as_deref()
        .map_or(0, |d| d.width().min(DAEMON_MIN) + 1);
    let hint = levels
        .iter()
        .find(|h| h.width() + daemon_wants <= room)
        .or(levels.last())
        .map(|h| truncate(h, room))
        .unwrap_or_default();
    room = room.saturating_sub(hint.width() + 1);
    let daemon = label
        .as_deref()
        .filter(|_| room > DAEMON_LEAST)
        .map(|d| truncate(d, room - 1));
    (hint, daemon, message)
}

/// The daemon's label; with several engines, each engine's load instead
/// (`e1 2/2 · e2 1/2 · e3 down`).
fn daemon_label(app: &App) -> Option<String> {
    if app.engines.is_empty() {
        return app.daemon.clone();
    }
    let loads = app.engine_loads();
    let parts: Vec<String> = app
        .engines
        .iter()
        .zip(loads)
        .map(|(e, l)| match &e.down {
            Some(_) => format!("{} down", e.name),
            None => format!("{} {}/{}", e.name, l.running, l.jobs),
        })
        .collect();
    Some(parts.join(" · "))
}

/// The daemon's label is left out below this many columns...
const DAEMON_LEAST: usize = 12;
/// ... and longer hints give way while it has fewer than this.
const DAEMON_MIN: usize = 24;

/// The search being typed or its place, else the last message: (text,
/// style) with the theme applied by `draw`.
fn right_text(app: &App) -> Option<(String, Style)> {
    let theme = super::Theme::new(app.view.color);
    if let Some(search) = &app.view.search {
        let mut s = format!("/{}", search.query);
        if matches!(app.view.mode, Mode::Search) {
            s.push('▏');
        } else if search.matches.is_empty() {
            s.push_str("  (no match)");
        } else if let Some(at) = search.current {
            s.push_str(&format!("  {}/{}  n/N", at + 1, search.matches.len()));
        } else {
            let n = search.matches.len();
            s.push_str(&format!(
                "  {n} match{}  n/N",
                if n == 1 { "" } else { "es" }
            ));
        }
        return Some((s, theme.fg(Color::Yellow).add_modifier(Modifier::BOLD)));
    }
    app.view.message.clone().map(|m| (m, theme.fg(Color::Cyan)))
}

/// Normal mode's hints, longest first: "? help  / filter  b build ...",
/// then with fewer labels ("? help  / filter  b c o t q"), then "? help".
fn hint_levels() -> Vec<String> {
    let hints = table::hints(table::NORMAL);
    let mut levels: Vec<String> = (1..=hints.len())
        .rev()
        .map(|labelled| {
            let mut words: Vec<String> = hints[..labelled]
                .iter()
                .map(|(keys, label)| format!("{keys} {label}"))
                .collect();
            let rest: Vec<&str> = hints[labelled..].iter().map(|(keys, _)| *keys).collect();
            if !rest.is_empty() {
                words.push(rest.join(" "));
            }
            words.join("  ")
        })
        .collect();
    levels.extend(hints.first().map(|(keys, label)| format!("{keys} {label}")));
    levels
}
