//! The help overlay (`?`): normal mode's rows of the key table
//! (`app::keys::table::NORMAL`), keys and what they do; scrolled with
//! ↑/↓ when the screen is too short for all of them.

use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};
use ratatui::Frame;

use super::Theme;
use crate::app::keys::table::NORMAL;

pub fn draw(theme: &Theme, frame: &mut Frame, area: Rect, scroll: usize) {
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
        Constraint::Length(64.min(area.width)),
        Constraint::Length((NORMAL.len() as u16 + 2).min(area.height)),
    );
    let shown = popup.height.saturating_sub(2) as usize;
    let scroll = scroll.min(lines.len().saturating_sub(shown));
    let footer = if lines.len() > shown {
        " ↑/↓ more · any other key closes "
    } else {
        " ↑/↓ scroll · any other key closes "
    };
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).scroll((scroll as u16, 0)).block(
            Block::bordered()
                .title(" keys ")
                .title_bottom(Line::from(footer).right_aligned())
                .border_style(theme.fg(Color::Cyan))
                .style(Style::default()),
        ),
        popup,
    );
}
