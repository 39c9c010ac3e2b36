//! The help overlay (`?`): the key table.

use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};
use ratatui::Frame;

use super::Theme;

/// The keys, as shown in the overlay and README.md.
pub const KEYS: &[(&str, &str)] = &[
    ("↑/↓ j/k", "select image (list) / scroll (pane)"),
    ("Enter Tab", "focus list ⇄ log pane"),
    ("PgUp PgDn", "scroll the log a page"),
    ("g / G", "top / bottom of the log"),
    ("f", "follow the log tail on/off"),
    ("/  n N", "search the log, next / previous match"),
    ("b", "rebuild selected (with its dependencies)"),
    ("B", "rebuild all"),
    ("c", "cancel selected"),
    ("p", "push selected"),
    ("e", "edit args/tags/target for the next build"),
    ("t", "tiled: a pane per active build"),
    ("+ / -", "more / fewer builds at once"),
    ("?", "this help"),
    ("Esc", "close search / overlay"),
    ("q", "quit (asks while builds run)"),
    ("Ctrl-C", "cancel everything and quit"),
    ("mouse", "wheel scrolls, click selects"),
];

pub fn draw(theme: &Theme, frame: &mut Frame, area: Rect) {
    let key_width = KEYS
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let lines: Vec<Line> = KEYS
        .iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(
                    format!(" {k:<key_width$}  "),
                    theme.fg(Color::Cyan).add_modifier(Modifier::BOLD),
                ),
                Span::raw(*what),
            ])
        })
        .collect();
    let popup = area.centered(
        Constraint::Length(60.min(area.width)),
        Constraint::Length((KEYS.len() as u16 + 2).min(area.height)),
    );
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::bordered()
                .title(" keys ")
                .title_bottom(Line::from(" any key closes ").right_aligned())
                .border_style(theme.fg(Color::Cyan))
                .style(Style::default()),
        ),
        popup,
    );
}
