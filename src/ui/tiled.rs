//! Tiled mode (`t`): a grid of log panes, one per active image, each
//! following its tail (the wheel scrolls the tile under the cursor).

use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier};
use ratatui::widgets::{Block, Paragraph};
use ratatui::Frame;

use super::{log_pane, Theme};
use crate::app::view::{tiled_images, tiles};
use crate::app::App;

pub fn draw(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let shown = tiled_images(app);
    if shown.is_empty() {
        frame.render_widget(
            Paragraph::new("nothing has run yet: B builds everything, t leaves tiled mode")
                .style(theme.fg(Color::DarkGray).add_modifier(Modifier::DIM))
                .block(Block::bordered().title(" tiled ")),
            area,
        );
        return;
    }
    for (rect, i) in tiles(area, shown.len()).into_iter().zip(shown) {
        log_pane::draw(app, theme, frame, rect, i);
    }
}
