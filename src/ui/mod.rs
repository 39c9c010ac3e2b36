//! The dashboard's view: `draw(&App, &mut Frame)` renders the model and
//! changes nothing. No I/O, no clock reads (elapsed and silent-for come from
//! `app.now`), no environment reads (`app.view.color` says whether to use
//! colour). Layout geometry is shared with the mouse handling through
//! `app::view::areas`.

pub mod help;
pub mod list;
pub mod log_pane;
pub mod prompt;
pub mod push_bars;
pub mod status_bar;
pub mod tiled;

use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};
use ratatui::Frame;

use crate::app::status::Status;
use crate::app::view::{self, Mode};
use crate::app::App;
use crate::protocol::{Phase, SkipReason};

/// Draw the whole dashboard.
pub fn draw(app: &App, frame: &mut Frame) {
    let theme = Theme::new(app.view.color);
    let areas = view::areas(app, frame.area());
    if app.view.tiled {
        tiled::draw(app, &theme, frame, areas.main);
    } else {
        if !areas.list.is_empty() {
            list::draw(app, &theme, frame, areas.list);
        }
        if let Some(i) = app.images.get(app.view.selected).map(|_| app.view.selected) {
            log_pane::draw(app, &theme, frame, areas.pane, i);
        }
    }
    draw_stack_label(app, &theme, frame, &areas);
    status_bar::draw(app, &theme, frame, areas.status);
    match &app.view.mode {
        Mode::Normal | Mode::Search | Mode::Filter => {}
        Mode::Help => help::draw(&theme, frame, areas.main, app.view.help_scroll),
        Mode::Edit(prompt) => prompt::draw(app, prompt, &theme, frame, areas.main),
        Mode::ConfirmQuit => draw_confirm_quit(app, &theme, frame, areas.main),
    }
}

/// The stack's name (`demo/kiln.yaml`, `compose project demo`) on the
/// bottom border of the list, or of the main area when there is no list
/// (zoomed, tiled): left-aligned, its start cut with `…` when it does not
/// fit (the file's name stays), its control characters shown.
fn draw_stack_label(app: &App, theme: &Theme, frame: &mut Frame, areas: &view::Areas) {
    use unicode_width::UnicodeWidthStr;
    let (area, room) = if app.view.tiled || areas.list.is_empty() {
        (areas.main, areas.main.width / 2)
    } else {
        (areas.list, areas.list.width)
    };
    // Two corners, a space each side and a stroke of the border after.
    let room = usize::from(room).saturating_sub(5);
    if app.stack_label.is_empty() || area.height < 2 || room < 4 {
        return;
    }
    let label = truncate_start(&crate::sanitize::visible(&app.stack_label), room);
    let width = u16::try_from(label.width() + 2).unwrap_or(u16::MAX);
    let at = Rect::new(area.x + 1, area.bottom() - 1, width, 1);
    frame.render_widget(
        Paragraph::new(format!(" {label} ")).style(theme.fg(Color::Gray)),
        at,
    );
}

fn draw_confirm_quit(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let running = app.images.iter().filter(|i| i.status.is_pending()).count();
    let text = vec![
        Line::from(format!(
            "{running} build{} still running or queued.",
            if running == 1 { " is" } else { "s are" }
        )),
        Line::from("Cancel them and quit? (y/n)"),
    ];
    let popup = area.centered(Constraint::Length(44), Constraint::Length(4));
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(text).wrap(Wrap { trim: true }).block(
            Block::bordered()
                .title(" quit? ")
                .border_style(theme.fg(Color::Yellow).add_modifier(Modifier::BOLD)),
        ),
        popup,
    );
}

/// Colours, or none at all under NO_COLOR: every colour goes through here.
#[derive(Debug, Clone, Copy)]
pub struct Theme {
    pub color: bool,
}

impl Theme {
    pub fn new(color: bool) -> Theme {
        Theme { color }
    }

    /// A foreground colour (nothing without colour).
    pub fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::default().fg(c)
        } else {
            Style::default()
        }
    }

    /// A timer that must be seen (`silent 47s`): bold yellow, or bold
    /// reversed without colour.
    pub fn loud(&self) -> Style {
        if self.color {
            Style::default()
                .fg(Color::Yellow)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::default().add_modifier(Modifier::BOLD | Modifier::REVERSED)
        }
    }

    /// Search-match highlight: reversed video works with and without colour.
    pub fn highlight(&self) -> Style {
        if self.color {
            Style::default().fg(Color::Black).bg(Color::Yellow)
        } else {
            Style::default().add_modifier(Modifier::REVERSED)
        }
    }

    /// How an image in `status` is shown: symbol and style.
    pub fn status(&self, status: Status) -> (&'static str, Style) {
        let s = Style::default();
        match status {
            Status::Idle => ("∙", self.fg(Color::DarkGray)),
            Status::Queued => ("◦", self.fg(Color::Gray)),
            Status::Building => ("▸", self.fg(Color::Blue)),
            Status::Stalled(_) => ("!", self.fg(Color::Yellow).add_modifier(Modifier::BOLD)),
            Status::Pushing => ("⇡", self.fg(Color::Blue)),
            Status::Done => ("✓", self.fg(Color::Green)),
            Status::Skipped(SkipReason::Unchanged) | Status::Skipped(SkipReason::Prebuilt) => {
                ("=", self.fg(Color::Cyan).add_modifier(Modifier::DIM))
            }
            Status::Failed(Phase::Build) | Status::Failed(Phase::Push) => {
                ("✗", self.fg(Color::Red).add_modifier(Modifier::BOLD))
            }
            Status::TimedOut => ("⧗", self.fg(Color::Red).add_modifier(Modifier::BOLD)),
            Status::Cancelled => ("⊘", s.add_modifier(Modifier::DIM)),
            Status::Skipped(SkipReason::DependencyFailed) => ("-", s.add_modifier(Modifier::DIM)),
        }
    }

    pub fn border(&self, focused: bool) -> Style {
        if focused {
            self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
        } else {
            self.fg(Color::DarkGray)
        }
    }
}

/// `s` cut to at most `max` display columns from its start, with "…"
/// first when cut: a path keeps its file's name.
pub fn truncate_start(s: &str, max: usize) -> String {
    use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};
    if s.width() <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut kept = Vec::new();
    let mut used = 0;
    for c in s.chars().rev() {
        let w = c.width().unwrap_or(0);
        if used + w > max - 1 {
            break;
        }
        used += w;
        kept.push(c);
    }
    std::iter::once('…').chain(kept.into_iter().rev()).collect()
}

/// `s` cut to at most `max` display columns, with "…" when cut.
pub fn truncate(s: &str, max: usize) -> String {
    use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};
    if s.width() <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut t = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = c.width().unwrap_or(0);
        if used + w > max - 1 {
            break;
        }
        used += w;
        t.push(c);
    }
    t.push('…');
    t
}
