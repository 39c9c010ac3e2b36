//! The log search: `/` starts typing a query (mode `Search`), Enter finds
//! its matches in the selected log and goes to the nearest; the search then
//! stays, highlighted, for `n`/`N` until Esc.

use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent};

use super::{apply, table};
use crate::app::view::{Mode, Search};
use crate::app::{App, Command};

/// Keys the search table does not bind edit the query.
pub(super) fn on_key(app: &mut App, key: KeyEvent, at: Instant, out: &mut Vec<Command>) {
    match table::lookup(table::SEARCH, &key) {
        Some(action) => apply(app, action, at, out),
        None => edit_query(app, key),
    }
}

pub(super) fn start(app: &mut App) {
    app.view.search = Some(Search::default());
    app.view.mode = Mode::Search;
}

pub(super) fn close(app: &mut App) {
    app.view.search = None;
    app.view.mode = Mode::Normal;
}

/// A character is added; Backspace takes one off, and on an empty query
/// closes the search.
fn edit_query(app: &mut App, key: KeyEvent) {
    let Some(search) = app.view.search.as_mut() else {
        app.view.mode = Mode::Normal;
        return;
    };
    match key.code {
        KeyCode::Backspace if search.query.pop().is_none() => close(app),
        KeyCode::Char(c) => search.query.push(c),
        _ => {}
    }
}

/// Enter: the query's matches, starting from the one nearest the bottom of
/// the pane, at or above it: what the reader was just looking at. An empty
/// query closes the search.
pub(super) fn find(app: &mut App) {
    app.view.mode = Mode::Normal;
    if app.view.search.as_ref().is_none_or(|s| s.query.is_empty()) {
        app.view.search = None;
        return;
    }
    find_matches(app);
    let bottom = app.images[app.view.selected].log.bottom_index();
    if let Some(s) = app.view.search.as_mut() {
        s.current = s
            .matches
            .iter()
            .rposition(|&m| m <= bottom)
            .or((!s.matches.is_empty()).then_some(0));
    }
    reveal_current(app);
}

/// Another image was selected: the search's matches are now its log's
/// (none current until `n`/`N`).
pub(super) fn refresh(app: &mut App) {
    if let Some(search) = app.view.search.as_mut() {
        search.current = None;
    }
    if !matches!(app.view.mode, Mode::Search) {
        find_matches(app);
    }
}

/// Recompute the selected image's matches (its log may have grown or
/// dropped lines since), keeping the current match where possible.
fn find_matches(app: &mut App) {
    let Some(img) = app.images.get(app.view.selected) else {
        return;
    };
    let Some(search) = app.view.search.as_mut() else {
        return;
    };
    let previous = search.current.and_then(|c| search.matches.get(c).copied());
    search.matches = img
        .log
        .iter()
        .enumerate()
        .filter(|(_, l)| search.is_match(&l.text))
        .map(|(i, _)| i)
        .collect();
    search.current = previous.and_then(|p| search.matches.iter().position(|&m| m == p));
}

/// n (forward = newer, down) / N (back = older, up), wrapping around.
pub(super) fn step(app: &mut App, forward: bool) {
    if app.view.search.is_none() {
        app.view.message = Some("no search yet: Tab to the log, then / searches it".into());
        return;
    }
    find_matches(app);
    let bottom = app.images[app.view.selected].log.bottom_index();
    let Some(s) = app.view.search.as_mut() else {
        return;
    };
    let n = s.matches.len();
    if n == 0 {
        app.view.message = Some(format!("no match for “{}”", s.query));
        return;
    }
    s.current = Some(match s.current {
        Some(c) if forward => (c + 1) % n,
        Some(c) => (c + n - 1) % n,
        None if forward => s.matches.iter().position(|&m| m > bottom).unwrap_or(0),
        None => s.matches.iter().rposition(|&m| m < bottom).unwrap_or(n - 1),
    });
    reveal_current(app);
}

fn reveal_current(app: &mut App) {
    let Some(line) = app
        .view
        .search
        .as_ref()
        .and_then(|s| s.current.and_then(|c| s.matches.get(c)).copied())
    else {
        return;
    };
    let below = super::pane::context_below(app);
    if let Some(img) = app.images.get_mut(app.view.selected) {
        img.log.reveal_with_context(line, below);
    }
}
