//! The list's filters: `/` on the list types a substring (mode `Filter`;
//! the list follows each key, smart case like the log search), `!` shows
//! only failed, stalled and timed-out images. Esc clears both. The
//! selection stays on a shown image.

use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent};

use super::normal::select;
use super::{apply, table};
use crate::app::view::{self, Mode};
use crate::app::{App, Command};

/// Keys the filter table does not bind edit the filter.
pub(super) fn on_key(app: &mut App, key: KeyEvent, at: Instant, out: &mut Vec<Command>) {
    match table::lookup(table::FILTER, &key) {
        Some(action) => apply(app, action, at, out),
        None => edit(app, key),
    }
}

pub(super) fn start(app: &mut App) {
    app.view.filter.get_or_insert_with(String::new);
    app.view.mode = Mode::Filter;
}

/// Enter: keep the filter (an empty one is dropped).
pub(super) fn keep(app: &mut App) {
    app.view.mode = Mode::Normal;
    if app.view.filter.as_deref() == Some("") {
        app.view.filter = None;
    }
    say_what_shows(app);
}

/// Esc: every image again.
pub(super) fn clear(app: &mut App) {
    app.view.mode = Mode::Normal;
    app.view.filter = None;
}

/// `!`: only the images in trouble, or every image again.
pub(super) fn toggle_problems(app: &mut App) {
    app.view.problems_only = !app.view.problems_only;
    keep_selection_visible(app);
    if app.view.problems_only {
        say_what_shows(app);
    } else {
        app.view.message = Some("showing every image".into());
    }
}

/// A character is added; Backspace takes one off, and on an empty filter
/// drops it.
fn edit(app: &mut App, key: KeyEvent) {
    let Some(filter) = app.view.filter.as_mut() else {
        app.view.mode = Mode::Normal;
        return;
    };
    match key.code {
        KeyCode::Backspace if filter.pop().is_none() => clear(app),
        KeyCode::Char(c) => filter.push(c),
        _ => {}
    }
    keep_selection_visible(app);
}

/// The selection moves to the first shown image when the filter hides it.
fn keep_selection_visible(app: &mut App) {
    let visible = view::visible_images(app);
    if view::selected_row(app, &visible).is_none() {
        if let Some(&first) = visible.first() {
            select(app, first);
        }
    }
}

fn say_what_shows(app: &mut App) {
    let shown = view::visible_images(app).len();
    if shown == app.images.len() {
        return;
    }
    app.view.message = Some(match shown {
        0 if app.view.problems_only => {
            let problems = app.images.iter().filter(|i| view::is_problem(i)).count();
            match app.view.filter.as_deref().filter(|f| !f.is_empty()) {
                Some(f) if problems > 0 => format!(
                    "no image matching “{f}” failed, stalled or timed out; {problems} other{} did (Esc shows all)",
                    if problems == 1 { "" } else { "s" }
                ),
                _ => "no image failed, stalled or timed out (Esc shows all)".to_string(),
            }
        }
        0 => "no image matches (Esc shows all)".to_string(),
        n => format!("{n} of {} images shown (Esc shows all)", app.images.len()),
    });
}
