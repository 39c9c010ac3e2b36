//! The mouse, in normal, search and filter mode (overlays ignore it): the wheel
//! scrolls the log under it or moves the list's selection, a click selects
//! the row or tile under it, using the geometry the view drew with
//! (`view::areas`).

use std::time::Instant;

use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::{Position, Rect};

use super::normal::{move_selection, select};
use crate::app::view::{self, Focus, Mode};
use crate::app::App;

/// Lines one mouse-wheel notch scrolls.
const WHEEL_LINES: isize = 3;

pub(in crate::app) fn on_mouse(app: &mut App, event: MouseEvent, _at: Instant) {
    if !takes_mouse(&app.view.mode) {
        return;
    }
    let screen = Rect::new(0, 0, app.view.width, app.view.height);
    let areas = view::areas(app, screen);
    let pos = Position::new(event.column, event.row);
    let wheel = match event.kind {
        MouseEventKind::ScrollUp => Some(WHEEL_LINES),
        MouseEventKind::ScrollDown => Some(-WHEEL_LINES),
        _ => None,
    };
    if app.view.tiled {
        let shown = view::tiled_images(app);
        let tiles = view::tiles(areas.main, shown.len());
        if let Some(t) = tiles.iter().position(|r| r.contains(pos)) {
            let i = shown[t];
            match (wheel, event.kind) {
                (Some(d), _) => app.images[i].log.scroll_by(d),
                (None, MouseEventKind::Down(MouseButton::Left)) => select(app, i),
                _ => {}
            }
        }
        return;
    }
    if areas.pane.contains(pos) {
        if let (Some(d), Some(img)) = (wheel, app.images.get_mut(app.view.selected)) {
            img.log.scroll_by(d);
        }
    } else if areas.list.contains(pos) {
        match (wheel, event.kind) {
            (Some(d), _) => move_selection(app, if d > 0 { -1 } else { 1 }),
            (None, MouseEventKind::Down(MouseButton::Left)) => {
                // Inside the border: row 0 is the list's first visible row.
                let rows = areas.list.height.saturating_sub(2) as usize;
                if event.row > areas.list.y && event.row < areas.list.bottom().saturating_sub(1) {
                    let visible = view::visible_images(app);
                    let selected = view::selected_row(app, &visible).unwrap_or(0);
                    let offset = view::list_offset(selected, rows);
                    let row = offset + (event.row - areas.list.y - 1) as usize;
                    if let Some(&i) = visible.get(row) {
                        select(app, i);
                        app.view.focus = Focus::List;
                    }
                }
            }
            _ => {}
        }
    }
}

fn takes_mouse(mode: &Mode) -> bool {
    match mode {
        Mode::Normal | Mode::Search | Mode::Filter => true,
        Mode::Help | Mode::Edit(_) | Mode::ConfirmQuit => false,
    }
}
