//! The edit prompt overlay (`e`): the text area with the selected image's
//! args, tags and target for the next build, and why Enter was refused.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier};
use ratatui::text::Line;
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::Theme;
use crate::app::keys::table;
use crate::app::view::EditPrompt;
use crate::app::App;

pub fn draw(app: &App, prompt: &EditPrompt, theme: &Theme, frame: &mut Frame, area: Rect) {
    let name = app
        .images
        .get(prompt.image)
        .map(|i| i.name.as_str())
        .unwrap_or("?");
    let popup = area.centered(
        Constraint::Length(70.min(area.width)),
        Constraint::Length(14.min(area.height)),
    );
    frame.render_widget(Clear, popup);
    let block = Block::bordered()
        .title(format!(" edit {name} for the next build "))
        .title_bottom(Line::from(hints(popup.width as usize)).right_aligned())
        .border_style(theme.fg(Color::Cyan));
    let inner = block.inner(popup);
    frame.render_widget(block, popup);
    let said = prompt.error.is_some() || prompt.note.is_some();
    let [hint, text, error] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(if said { 2 } else { 0 }),
    ])
    .areas(inner);
    frame.render_widget(
        Paragraph::new("KEY=VALUE per build arg · tags: a, b · target: stage")
            .style(theme.fg(Color::DarkGray).add_modifier(Modifier::DIM)),
        hint,
    );
    frame.render_widget(&prompt.textarea, text);
    if let Some(e) = &prompt.error {
        frame.render_widget(
            Paragraph::new(format!("✗ {e}"))
                .wrap(Wrap { trim: true })
                .style(theme.fg(Color::Red).add_modifier(Modifier::BOLD)),
            error,
        );
    } else if let Some(note) = &prompt.note {
        frame.render_widget(
            Paragraph::new(note.as_str())
                .wrap(Wrap { trim: true })
                .style(theme.fg(Color::Yellow)),
            error,
        );
    }
}

/// The prompt's hints, from its table, as many as fit in `width`:
/// " Enter apply · Alt-Enter new line · Esc cancel · … ".
fn hints(width: usize) -> String {
    let mut line = String::new();
    for (keys, label) in table::hints(table::PROMPT) {
        let hint = format!("{keys} {label}");
        let next = if line.is_empty() {
            hint
        } else {
            format!("{line} · {hint}")
        };
        if next.chars().count() + 4 > width {
            break;
        }
        line = next;
    }
    format!(" {line} ")
}
