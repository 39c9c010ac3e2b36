//! The help overlay (`?`): normal mode's rows of the key table
//! (`app::keys::table::NORMAL`), keys and what they do.

use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};
use ratatui::Frame;

use super::Theme;
use crate::app::keys::table::NORMAL;

pub fn draw(theme: &Theme, frame: &mut Frame, area: Rect) {
    let key_width = NORMAL
        .iter()
        .map(|row| row.keys.chars().count())
        .max()
        .unwrap_or(0);
    let lines: Vec<Line> = NORMAL
        .iter()
        .map(|row| {
            Line::from(vec![
                Span::styled(
                    format!(" {:<key_width$}  ", row.keys),
                    theme.fg(Color::Cyan).add_modifier(Modifier::BOLD),
                ),
                Span::raw(row.help),
            ])
        })
        .collect();
    let popup = area.centered(
        Constraint::Length(60.min(area.width)),
        Constraint::Length((NORMAL.len() as u16 + 2).min(area.height)),
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
