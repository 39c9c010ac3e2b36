//! The mouse, in normal and search mode (overlays ignore it): the wheel
//! scrolls the log under it or moves the list's selection, a click selects
//! the row or tile under it, using the geometry the view drew with
//! (`view::areas`).

use std::time::Instant;

use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::{Position, Rect};

use super::normal::select;
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
            (Some(d), _) => {
                let next = if d > 0 {
                    app.view.selected.saturating_sub(1)
                } else {
                    app.view.selected + 1
                };
                select(app, next);
            }
            (None, MouseEventKind::Down(MouseButton::Left)) => {
                // Inside the border: row 0 is the list's first visible row.
                let rows = areas.list.height.saturating_sub(2) as usize;
                if event.row > areas.list.y && event.row < areas.list.bottom().saturating_sub(1) {
                    let offset = view::list_offset(app.view.selected, rows);
                    let row = offset + (event.row - areas.list.y - 1) as usize;
                    if row < app.images.len() {
                        select(app, row);
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
        Mode::Normal | Mode::Search => true,
        Mode::Help | Mode::Edit(_) | Mode::ConfirmQuit => false,
    }
}
