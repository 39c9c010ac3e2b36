//! The status bar: counts per state, jobs running/limit, queue length, and
//! on the right the search, a message, or normal mode's key hints (from
//! `app::keys::table`).

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::Theme;
use crate::app::event::{Phase, SkipReason};
use crate::app::keys::table;
use crate::app::status::Status;
use crate::app::view::Mode;
use crate::app::App;

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
        left.push(Span::styled(format!(" {symbol}{n} "), style));
        left.push(Span::raw(format!("{} ", state.label())));
    }
    if left.is_empty() {
        left.push(Span::raw(" idle "));
    }
    let queued = app
        .images
        .iter()
        .filter(|i| i.status == Status::Queued)
        .count();
    left.push(Span::styled(
        format!("│ jobs {}/{} │ queue {queued} ", app.running(), app.jobs),
        theme.fg(Color::DarkGray),
    ));

    if app.daemon_down.is_some() {
        left.push(Span::styled(
            " daemon not answering ",
            theme
                .fg(Color::Red)
                .add_modifier(Modifier::BOLD | Modifier::REVERSED),
        ));
    }

    if let Some(daemon) = &app.daemon {
        left.push(Span::styled(
            format!("│ {daemon} "),
            theme.fg(Color::DarkGray),
        ));
    }
    let left = Line::from(left);
    let right: Line = if let Some(search) = &app.view.search {
        let mut s = format!("/{}", search.query);
        if matches!(app.view.mode, Mode::Search) {
            s.push('▏');
        } else if search.matches.is_empty() {
            s.push_str("  (no match)");
        } else {
            let at = search.current.map(|c| c + 1).unwrap_or(0);
            s.push_str(&format!("  {at}/{}  n/N", search.matches.len()));
        }
        Line::from(Span::styled(
            s,
            theme.fg(Color::Yellow).add_modifier(Modifier::BOLD),
        ))
    } else if let Some(message) = &app.view.message {
        Line::from(Span::styled(message.as_str(), theme.fg(Color::Cyan)))
    } else {
        Line::from(Span::styled(
            hints(area.width as usize, left.width()),
            theme.fg(Color::DarkGray),
        ))
    };
    let right_width = (right.width() as u16 + 1).min(area.width / 2);
    let [l, r] =
        Layout::horizontal([Constraint::Min(0), Constraint::Length(right_width)]).areas(area);
    frame.render_widget(Paragraph::new(left), l);
    frame.render_widget(Paragraph::new(right.right_aligned()), r);
}

/// Normal mode's hints, "? help  b build ... q quit ", where they fit
/// beside `left` columns in `width`; else only the first, "? help ".
fn hints(width: usize, left: usize) -> String {
    let hints: Vec<String> = table::hints(table::NORMAL)
        .iter()
        .map(|(keys, label)| format!("{keys} {label}"))
        .collect();
    let all = format!("{} ", hints.join("  "));
    if left + all.len() < width {
        all
    } else {
        hints.first().map(|h| format!("{h} ")).unwrap_or_default()
    }
}
