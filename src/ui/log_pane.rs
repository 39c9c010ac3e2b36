//! One image's log pane: the ring's lines with step headers styled,
//! `CACHED` marks, errors red, kiln's notes dim, search matches highlighted,
//! and a marker where older lines were dropped from memory. Honours the
//! ring's scroll position; long lines are cut to the pane's width.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use ratatui::Frame;

use super::list::{clock, progress, silent_label};
use super::{push_bars, truncate, Theme};
use crate::app::log::{LineKind, LogLine};
use crate::app::view::{find_all, Focus};
use crate::app::App;

/// Marks a step header that was a cache hit (see `app::on_build_event`).
const CACHED_SUFFIX: &str = "  CACHED";

pub fn draw(app: &App, theme: &Theme, frame: &mut Frame, area: Rect, i: usize) {
    let img = &app.images[i];
    let log = &img.log;
    let focused = if app.view.tiled {
        i == app.view.selected
    } else {
        app.view.focus == Focus::Pane
    };
    let (_, status_style) = theme.status(img.status);
    let mut title = vec![
        Span::raw(" "),
        Span::styled(
            img.name.as_str(),
            Style::default().add_modifier(Modifier::BOLD),
        ),
        Span::raw(" · "),
        Span::styled(progress(img), status_style),
    ];
    if let Some(silent) = silent_label(app, img) {
        title.push(Span::raw(" · "));
        title.push(Span::styled(
            silent,
            theme.fg(Color::Yellow).add_modifier(Modifier::BOLD),
        ));
    } else if img.status.is_final() {
        if let Some(e) = app.now.and_then(|n| img.elapsed(n)) {
            title.push(Span::raw(format!(" · {}", clock(e))));
        }
    }
    title.push(Span::raw(" "));
    let mut where_ = if log.follow {
        "follow".to_string()
    } else {
        format!("scrolled ↑{}", log.scroll_back)
    };
    if log.dropped() > 0 {
        where_.push_str(&format!(" · {} dropped", log.dropped()));
    }
    let block = Block::bordered()
        .title(Line::from(title))
        .title(Line::from(format!(" {where_} ")).right_aligned())
        .border_style(theme.border(focused));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [text_area, bars] = Layout::vertical([
        Constraint::Min(0),
        Constraint::Length(push_bars::height(app, i)),
    ])
    .areas(inner);
    push_bars::draw(app, theme, frame, bars, i);

    let height = text_area.height as usize;
    let width = text_area.width as usize;
    if height == 0 || width == 0 {
        return;
    }
    if log.is_empty() {
        let hint = match img.status {
            crate::app::status::Status::Idle => "not built in this session: b builds it",
            _ => "no output yet",
        };
        frame.render_widget(
            Paragraph::new(hint).style(theme.fg(Color::DarkGray).add_modifier(Modifier::DIM)),
            text_area,
        );
        return;
    }
    // Scrolled into the first page: show the page from the top, like a
    // pager, rather than a few lines at the top of an empty pane.
    let reserved = usize::from(log.dropped() > 0);
    let bottom = log
        .bottom_index()
        .max((height - reserved).saturating_sub(1))
        .min(log.len() - 1);
    let start = (bottom + 1).saturating_sub(height);
    let mut lines: Vec<Line> = Vec::with_capacity(height);
    let marker = log.dropped() > 0 && bottom + 1 < height;
    if marker {
        lines.push(Line::styled(
            truncate(
                &format!(
                    "… {} older lines dropped from memory (full log on disk)",
                    log.dropped()
                ),
                width,
            ),
            theme.fg(Color::DarkGray).add_modifier(Modifier::ITALIC),
        ));
    }
    let search = app
        .view
        .search
        .as_ref()
        .filter(|s| !s.query.is_empty() && i == app.view.selected);
    let current = search.and_then(|s| s.current.and_then(|c| s.matches.get(c)).copied());
    let end = (start + height - lines.len())
        .min(log.len())
        .min(bottom + 1);
    for n in start..end {
        let Some(line) = log.get(n) else { break };
        let query = search.map(|s| s.query.as_str());
        lines.push(render_line(theme, line, width, query, current == Some(n)));
    }
    frame.render_widget(Paragraph::new(lines), text_area);
}

fn render_line<'a>(
    theme: &Theme,
    line: &'a LogLine,
    width: usize,
    query: Option<&str>,
    current: bool,
) -> Line<'a> {
    // Cut before styling: a 64 KiB line costs no more than a short one.
    let text = truncate(&line.text, width);
    let base = match line.kind {
        LineKind::Step => theme.fg(Color::Blue).add_modifier(Modifier::BOLD),
        LineKind::Output => Style::default(),
        LineKind::Error => theme.fg(Color::Red),
        LineKind::Note => theme
            .fg(Color::DarkGray)
            .add_modifier(Modifier::DIM | Modifier::ITALIC),
    };
    let mut spans = Vec::new();
    let (body, suffix) = match (line.kind, text.strip_suffix(CACHED_SUFFIX)) {
        (LineKind::Step, Some(head)) => (head.to_string(), Some(CACHED_SUFFIX)),
        _ => (text, None),
    };
    match query {
        Some(q) => {
            let mut at = 0;
            let mut hl = theme.highlight();
            if current {
                hl = hl.add_modifier(Modifier::BOLD | Modifier::UNDERLINED);
            }
            for (s, e) in find_all(&body, q) {
                if s > at {
                    spans.push(Span::styled(body[at..s].to_string(), base));
                }
                spans.push(Span::styled(body[s..e].to_string(), hl));
                at = e;
            }
            if at < body.len() {
                spans.push(Span::styled(body[at..].to_string(), base));
            }
        }
        None => spans.push(Span::styled(body, base)),
    }
    if let Some(suffix) = suffix {
        spans.push(Span::styled(
            suffix,
            theme.fg(Color::Green).add_modifier(Modifier::DIM),
        ));
    }
    Line::from(spans)
}
