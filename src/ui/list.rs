//! The image list: status symbol and colour, name, progress (step i/N or
//! the current step's name), cache hits, elapsed, and a loud live
//! "silent 1m12s" for stalled builds. Times come from `app.now`.

use std::time::Duration;

use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use ratatui::Frame;

use super::{truncate, Theme};
use crate::app::event::Phase;
use crate::app::image::ImageState;
use crate::app::status::Status;
use crate::app::view::{list_offset, Focus};
use crate::app::App;
use crate::config::format_duration;

pub fn draw(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let focused = app.view.focus == Focus::List;
    let block = Block::bordered()
        .title(format!(" images ({}) ", app.images.len()))
        .border_style(theme.border(focused));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let rows = inner.height as usize;
    let offset = list_offset(app.view.selected, rows);
    let name_width = app
        .images
        .iter()
        .map(|i| i.name.chars().count())
        .max()
        .unwrap_or(0)
        .min((inner.width as usize / 2).max(4));
    let lines: Vec<Line> = app
        .images
        .iter()
        .enumerate()
        .skip(offset)
        .take(rows)
        .map(|(i, img)| {
            row(
                app,
                theme,
                img,
                i == app.view.selected,
                name_width,
                inner.width as usize,
            )
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

/// How long a stalled image has been silent, as the list and pane show it.
pub fn silent_label(app: &App, img: &ImageState) -> Option<String> {
    let Status::Stalled(_) = img.status else {
        return None;
    };
    let silent = img.silent_for(app.now?)?;
    Some(format!("silent {}", clock(silent)))
}

/// Durations as the dashboard shows them: 7s, 1m12s, 1h03m.
pub fn clock(d: Duration) -> String {
    format_duration(Duration::from_secs(d.as_secs()))
}

/// What the image is doing now, in a few words.
pub fn progress(img: &ImageState) -> String {
    match img.status {
        Status::Building | Status::Stalled(Phase::Build) => {
            let Some(step) = img.current_step.and_then(|s| img.steps.get(s)) else {
                return match img.steps.last() {
                    Some(_) => format!("{} steps", img.steps.len()),
                    None => "starting".into(),
                };
            };
            match (step.index, step.total) {
                (Some(i), Some(n)) => format!("step {i}/{n}"),
                _ => step.name.clone(),
            }
        }
        Status::Stalled(Phase::Push) | Status::Pushing => match img.push.bytes() {
            (done, total) if total > 0 => format!("pushing {}%", done.saturating_mul(100) / total),
            _ => "pushing".into(),
        },
        Status::Failed(Phase::Push) => "push failed".into(),
        Status::Skipped(crate::app::event::SkipReason::DependencyFailed) => {
            "skipped: dependency failed".into()
        }
        s => s.label().into(),
    }
}

fn row<'a>(
    app: &App,
    theme: &Theme,
    img: &'a ImageState,
    selected: bool,
    name_width: usize,
    width: usize,
) -> Line<'a> {
    let (symbol, style) = theme.status(img.status);
    let mut name_style = Style::default();
    if selected {
        name_style = name_style.add_modifier(Modifier::REVERSED | Modifier::BOLD);
    }
    let name = format!("{:<name_width$}", truncate(&img.name, name_width));
    // Right-hand side: silent-for (loud) or elapsed.
    let (right, right_style) = if let Some(silent) = silent_label(app, img) {
        let loud = if theme.color {
            Style::default()
                .fg(Color::Yellow)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::default().add_modifier(Modifier::BOLD | Modifier::REVERSED)
        };
        (silent, loud)
    } else {
        let elapsed = app
            .now
            .and_then(|now| img.elapsed(now))
            .map(clock)
            .unwrap_or_default();
        // With history, an estimate of what is left ("~40s left").
        let eta = app.now.and_then(|now| img.eta(now));
        match eta {
            Some(left) => (
                format!("{elapsed} ~{} left", clock(left)),
                theme.fg(Color::DarkGray),
            ),
            None => (elapsed, theme.fg(Color::DarkGray)),
        }
    };
    let cached = img.cached_steps();
    let mut detail = progress(img);
    if cached > 0 {
        detail.push_str(&format!(" ·{cached} cached"));
    }
    let used = 2 + name_width + 1;
    let right_len = right.chars().count();
    let room = width.saturating_sub(used + right_len + 1);
    let detail = truncate(&detail, room);
    let pad = width.saturating_sub(used + detail.chars().count() + right_len);
    let detail_style = match img.status {
        Status::Idle | Status::Queued => theme.fg(Color::DarkGray),
        _ => style.remove_modifier(Modifier::BOLD),
    };
    Line::from(vec![
        Span::styled(symbol, style),
        Span::raw(" "),
        Span::styled(name, name_style),
        Span::raw(" "),
        Span::styled(detail, detail_style),
        Span::raw(" ".repeat(pad)),
        Span::styled(right, right_style),
    ])
}
