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
use crate::app::image::ImageState;
use crate::app::log::{LineKind, LogLine, LogRing};
use crate::app::status::Status;
use crate::app::view::{find_all, Focus};
use crate::app::App;

/// Marks a step header that was a cache hit (see `app::build`).
const CACHED_SUFFIX: &str = "  CACHED";

pub fn draw(app: &App, theme: &Theme, frame: &mut Frame, area: Rect, i: usize) {
    let block = border(app, theme, i);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [text_area, bars] = Layout::vertical([
        Constraint::Min(0),
        Constraint::Length(push_bars::height(app, i)),
    ])
    .areas(inner);
    push_bars::draw(app, theme, frame, bars, i);
    if !text_area.is_empty() {
        frame.render_widget(text(app, theme, i, text_area), text_area);
    }
}

/// The border: name, progress and silence (or, once finished, elapsed)
/// on the left; where the view is in the log on the right.
fn border<'a>(app: &'a App, theme: &Theme, i: usize) -> Block<'a> {
    let focused = if app.view.tiled {
        i == app.view.selected
    } else {
        app.view.focus == Focus::Pane
    };
    let img = &app.images[i];
    Block::bordered()
        .title(title(app, theme, img))
        .title(Line::from(format!(" {} ", position(&img.log))).right_aligned())
        .border_style(theme.border(focused))
}

fn title<'a>(app: &App, theme: &Theme, img: &'a ImageState) -> Line<'a> {
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
    Line::from(title)
}

/// "follow" or "scrolled ↑N", and how many lines were dropped from memory.
fn position(log: &LogRing) -> String {
    let mut position = if log.follow {
        "follow".to_string()
    } else {
        format!("scrolled ↑{}", log.scroll_back)
    };
    if log.dropped() > 0 {
        position.push_str(&format!(" · {} dropped", log.dropped()));
    }
    position
}

/// What the text area shows: a hint while the log is empty, else the lines
/// in view.
fn text<'a>(app: &'a App, theme: &Theme, i: usize, area: Rect) -> Paragraph<'a> {
    let img = &app.images[i];
    if img.log.is_empty() {
        let hint = match img.status {
            Status::Idle => "not built in this session: b builds it",
            _ => "no output yet",
        };
        return Paragraph::new(hint).style(theme.fg(Color::DarkGray).add_modifier(Modifier::DIM));
    }
    Paragraph::new(lines_in_view(app, theme, i, area))
}

/// The log's lines from the scroll position up, cut to `area`; above them
/// the dropped-lines marker when the oldest line kept is in view.
fn lines_in_view<'a>(app: &'a App, theme: &Theme, i: usize, area: Rect) -> Vec<Line<'a>> {
    let log = &app.images[i].log;
    let (height, width) = (area.height as usize, area.width as usize);
    let (start, bottom) = window(log, height);
    let mut lines: Vec<Line> = Vec::with_capacity(height);
    if log.dropped() > 0 && bottom + 1 < height {
        lines.push(dropped_marker(theme, log.dropped(), width));
    }
    let (query, current) = search_in(app, i);
    let end = (start + height - lines.len())
        .min(log.len())
        .min(bottom + 1);
    for n in start..end {
        let Some(line) = log.get(n) else { break };
        lines.push(render_line(theme, line, width, query, current == Some(n)));
    }
    lines
}

/// The first and last line of a non-empty log in `height` rows. Scrolled
/// into the first page, the page shows from the top, like a pager, rather
/// than a few lines at the top of an empty pane.
fn window(log: &LogRing, height: usize) -> (usize, usize) {
    let reserved = usize::from(log.dropped() > 0);
    let bottom = log
        .bottom_index()
        .max((height - reserved).saturating_sub(1))
        .min(log.len() - 1);
    let start = (bottom + 1).saturating_sub(height);
    (start, bottom)
}

fn dropped_marker(theme: &Theme, dropped: u64, width: usize) -> Line<'static> {
    Line::styled(
        truncate(
            &format!("… {dropped} older lines dropped from memory (full log on disk)"),
            width,
        ),
        theme.fg(Color::DarkGray).add_modifier(Modifier::ITALIC),
    )
}

/// The search to highlight in image `i`'s log (the selected image's only):
/// its query and the line of its current match.
fn search_in(app: &App, i: usize) -> (Option<&str>, Option<usize>) {
    let Some(search) = app
        .view
        .search
        .as_ref()
        .filter(|s| !s.query.is_empty() && i == app.view.selected)
    else {
        return (None, None);
    };
    let current = search.current.and_then(|c| search.matches.get(c)).copied();
    (Some(search.query.as_str()), current)
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
