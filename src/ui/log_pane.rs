//! One image's log pane: the ring's lines with step headers styled,
//! `CACHED` marks, errors red, kiln's notes dim, search matches
//! highlighted, and a marker where older lines were dropped from memory.
//! Honours the ring's scroll position; long lines wrap (`w`) or are cut
//! at the pane's edge and scroll sideways (←/→). The title names the
//! image, what it does (the running step, cut with `…` first) and its
//! timer (never cut); on the right, where the view is in the log.

use std::ops::Range;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use ratatui::Frame;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use super::list::{state_text, symbol, timer};
use super::{push_bars, truncate, Theme};
use crate::app::image::ImageState;
use crate::app::log::{is_error_line, LineKind, LogLine, LogRing};
use crate::app::status::Status;
use crate::app::view::{self, find_all, Focus};
use crate::app::words::CACHED_MARK;
use crate::app::App;
use crate::human::format_duration;

pub fn draw(app: &App, theme: &Theme, frame: &mut Frame, area: Rect, i: usize) {
    let block = border(app, theme, i, area.width as usize);
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

/// Whether image `i`'s pane has the focus: the selected tile in tiled
/// mode, else the pane when focused.
fn focused(app: &App, i: usize) -> bool {
    if app.view.tiled {
        i == app.view.selected
    } else {
        app.view.focus == Focus::Pane
    }
}

/// The border: the title on the left, where the view is on the right.
fn border<'a>(app: &'a App, theme: &Theme, i: usize, width: usize) -> Block<'a> {
    let position = format!(" {} ", position(app, &app.images[i].log));
    // Corners, and a column between the titles.
    let room = width.saturating_sub(position.width() + 3);
    Block::bordered()
        .title(title(app, theme, i, room))
        .title(Line::from(position).right_aligned())
        .border_style(theme.border(focused(app, i)))
}

/// ` ▶ name · [3/4] RUN make -j4 all · silent 47s · 1a2b3c4d5e6f `, at
/// most `room` columns: the timer is never cut; the name comes next, then
/// the state (cut with `…`, left out below a few columns), then the image
/// id if it fits whole. In tiled mode the selected tile's title starts
/// with `▶`.
fn title(app: &App, theme: &Theme, i: usize, room: usize) -> Line<'static> {
    let img = &app.images[i];
    let (_, status_style) = symbol(theme, img);
    let (timer, loud) = timer(app, img);
    let marker = if app.view.tiled && i == app.view.selected {
        "▶ "
    } else {
        ""
    };
    let part = |s: &str| if s.is_empty() { 0 } else { s.width() + 3 };
    // " " + marker + name + " · state" + " · timer" + " · id" + " "
    let fixed = 2 + marker.width() + part(&timer);
    let name = truncate(&img.name, room.saturating_sub(fixed).max(1));
    let mut left = room.saturating_sub(fixed + name.width());
    let state = state_text(app, i, true);
    let id = image_id(img)
        .filter(|id| part(id) + part(&state) <= left)
        .unwrap_or_default();
    left = left.saturating_sub(part(&id));
    let state = if left >= MIN_STATE + 3 {
        truncate(&state, left - 3)
    } else {
        String::new()
    };
    let timer_style = if loud { theme.loud() } else { Style::default() };
    let mut spans = vec![
        Span::raw(" "),
        Span::styled(marker, theme.fg(Color::Cyan).add_modifier(Modifier::BOLD)),
        Span::styled(name, Style::default().add_modifier(Modifier::BOLD)),
    ];
    for (text, style) in [
        (state, status_style),
        (timer, timer_style),
        (id, theme.fg(Color::DarkGray)),
    ] {
        if !text.is_empty() {
            spans.push(Span::raw(" · "));
            spans.push(Span::styled(text, style));
        }
    }
    spans.push(Span::raw(" "));
    Line::from(spans)
}

/// `text[range]`, owned; empty if the range is not on characters.
fn slice(text: &str, range: Range<usize>) -> String {
    text.get(range).unwrap_or_default().to_string()
}

/// Below this many columns a title leaves the state out.
const MIN_STATE: usize = 6;

/// The image id a finished image (or history's last run) has.
fn image_id(img: &ImageState) -> Option<String> {
    let id = match img.status {
        Status::Idle => img.last_run.as_ref().and_then(|r| r.image_id.as_deref()),
        s if s.is_final() => img.image_id.as_deref(),
        _ => None,
    };
    id.map(|id| crate::human::short_id(id).to_string())
}

/// "follow", "paused" (not following, at the tail), or "↑12" lines back;
/// sideways scroll, wrapping, and how many lines were dropped from memory.
fn position(app: &App, log: &LogRing) -> String {
    let mut position = match (log.follow, log.scroll_back) {
        (true, _) => "follow".to_string(),
        (false, 0) => "paused".to_string(),
        (false, n) => format!("↑{n}"),
    };
    if app.view.wrap {
        position.push_str(" · wrap");
    } else if app.view.hscroll > 0 {
        position.push_str(&format!(" · →{}", app.view.hscroll));
    }
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
        let hint = match (img.status, &img.last_run) {
            (Status::Idle, Some(_)) => "its saved log is empty or gone".to_string(),
            (Status::Idle, None) => "not built yet: b builds it".to_string(),
            (Status::Queued, _) => "waiting to start".to_string(),
            (s, _) if s.is_final() => "no output".to_string(),
            _ => match app.now.and_then(|n| img.elapsed(n)) {
                Some(e) => format!("no output yet ({})", format_duration(e)),
                None => "no output yet".to_string(),
            },
        };
        return Paragraph::new(hint).style(theme.fg(Color::DarkGray).add_modifier(Modifier::DIM));
    }
    Paragraph::new(lines_in_view(app, theme, i, area))
}

/// The log's rows in view: the dropped-lines marker when the oldest line
/// kept is in view, then the lines, wrapped or cut to `area`.
fn lines_in_view(app: &App, theme: &Theme, i: usize, area: Rect) -> Vec<Line<'static>> {
    let log = &app.images[i].log;
    let (height, width) = (area.height as usize, area.width as usize);
    let window = view::log_window(log, height, width, app.view.wrap);
    let mut rows: Vec<Line> = Vec::with_capacity(height);
    if window.marker {
        rows.push(dropped_marker(theme, log.dropped(), width));
    }
    let (query, current) = search_in(app, i);
    for n in window.start..window.end {
        let Some(line) = log.get(n) else { break };
        let skip = if n == window.start { window.skip } else { 0 };
        let paint = Paint {
            theme,
            query,
            current: current == Some(n),
        };
        for row in line_rows(app, line, width, skip) {
            if rows.len() == height {
                return rows;
            }
            rows.push(paint.row(line, row));
        }
    }
    rows
}

/// The byte ranges of `line` shown as rows: one (cut at the edge, after
/// the sideways scroll) or, wrapping, each row from the `skip`th on.
fn line_rows(app: &App, line: &LogLine, width: usize, skip: usize) -> Vec<Range<usize>> {
    if !app.view.wrap {
        return vec![columns(&line.text, app.view.hscroll, width)];
    }
    let mut rows = Vec::new();
    let mut start = 0;
    let mut used = 0;
    for (at, c) in line.text.char_indices() {
        let w = c.width().unwrap_or(0);
        if used + w > width && used > 0 {
            rows.push(start..at);
            start = at;
            used = 0;
        }
        used += w;
    }
    rows.push(start..line.text.len());
    rows.into_iter().skip(skip).collect()
}

/// The bytes of `text` in display columns `from..from + width` (a wide
/// character cut by either edge is left out).
fn columns(text: &str, from: usize, width: usize) -> Range<usize> {
    let (mut col, mut start, mut end) = (0, None, text.len());
    for (at, c) in text.char_indices() {
        let w = c.width().unwrap_or(0);
        if start.is_none() && col >= from {
            start = Some(at);
        }
        if start.is_some() && col + w > from + width {
            end = at;
            break;
        }
        col += w;
    }
    let start = start.unwrap_or(text.len());
    start..end.max(start)
}

fn dropped_marker(theme: &Theme, dropped: u64, width: usize) -> Line<'static> {
    Line::styled(
        truncate(
            &format!("… {dropped} older lines dropped from memory (o shows the saved log)"),
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

/// How a log line's bytes are styled: its kind, its `CACHED` mark, the
/// search's matches (the current match's line emphasised).
struct Paint<'t> {
    theme: &'t Theme,
    query: Option<&'t str>,
    current: bool,
}

impl Paint<'_> {
    fn base(&self, kind: LineKind) -> Style {
        let theme = self.theme;
        match kind {
            LineKind::Step => theme.fg(Color::Blue).add_modifier(Modifier::BOLD),
            LineKind::Output => Style::default(),
            LineKind::Error => theme.fg(Color::Red),
            LineKind::Note => theme
                .fg(Color::DarkGray)
                .add_modifier(Modifier::DIM | Modifier::ITALIC),
        }
    }

    /// The bytes `row` of `line`, styled. Matches are looked for only
    /// around the row (a 64 KiB line costs no more than a short one).
    fn row(&self, line: &LogLine, row: Range<usize>) -> Line<'static> {
        let text = &line.text;
        let mut marks: Vec<(Range<usize>, Style)> = Vec::new();
        if line.kind == LineKind::Step && text.ends_with(CACHED_MARK) {
            let at = text.len() - CACHED_MARK.len();
            marks.push((
                at..text.len(),
                self.theme.fg(Color::Green).add_modifier(Modifier::DIM),
            ));
        }
        if let Some(q) = self.query {
            let reach = q.len() * 4;
            let mut from = row.start.saturating_sub(reach);
            while !text.is_char_boundary(from) {
                from -= 1;
            }
            let mut to = (row.end + reach).min(text.len());
            while !text.is_char_boundary(to) {
                to += 1;
            }
            let mut hl = self.theme.highlight();
            if self.current {
                hl = hl.add_modifier(Modifier::BOLD | Modifier::UNDERLINED);
            }
            for (s, e) in find_all(text.get(from..to).unwrap_or_default(), q) {
                marks.push((from + s..from + e, hl));
            }
        }
        let mut base = self.base(line.kind);
        if line.kind == LineKind::Output && is_error_line(text) {
            base = self.theme.fg(Color::Red).add_modifier(Modifier::BOLD);
        }
        spans(text, row, base, &marks)
    }
}

/// `text[row]` as spans: `base`, with the later of overlapping `marks`
/// winning (highlights over the `CACHED` mark).
fn spans(
    text: &str,
    row: Range<usize>,
    base: Style,
    marks: &[(Range<usize>, Style)],
) -> Line<'static> {
    let style_at = |at: usize| {
        marks
            .iter()
            .rev()
            .find(|(r, _)| r.contains(&at))
            .map_or(base, |(_, s)| *s)
    };
    let mut spans: Vec<Span> = Vec::new();
    let mut start = row.start;
    let mut style = style_at(start);
    for (at, _) in text
        .get(row.clone())
        .unwrap_or_default()
        .char_indices()
        .map(|(o, c)| (row.start + o, c))
    {
        let here = style_at(at);
        if here != style {
            spans.push(Span::styled(slice(text, start..at), style));
            start = at;
            style = here;
        }
    }
    if start < row.end {
        spans.push(Span::styled(slice(text, start..row.end), style));
    }
    Line::from(spans)
}
