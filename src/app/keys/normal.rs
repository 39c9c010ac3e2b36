//! Normal mode: moving the selection, scrolling the log, and acting on the
//! selected image (build, cancel, push) or on all of them.

use std::time::Instant;

use crossterm::event::KeyEvent;
use ratatui::layout::Rect;

use super::{apply, table};
use crate::app::schedule::{cancel, request_run, schedule, RunKind};
use crate::app::status::Status;
use crate::app::view::{self, Focus};
use crate::app::{App, Command};

/// Keys the normal table does not bind do nothing.
pub(super) fn on_key(app: &mut App, key: KeyEvent, at: Instant, out: &mut Vec<Command>) {
    if let Some(action) = table::lookup(table::NORMAL, &key) {
        apply(app, action, at, out);
    }
}

pub(super) fn up(app: &mut App) {
    match app.view.focus {
        Focus::List => select(app, app.view.selected.saturating_sub(1)),
        Focus::Pane => scroll(app, 1),
    }
}

pub(super) fn down(app: &mut App) {
    match app.view.focus {
        Focus::List => select(app, app.view.selected + 1),
        Focus::Pane => scroll(app, -1),
    }
}

pub(super) fn switch_focus(app: &mut App) {
    app.view.focus = match app.view.focus {
        Focus::List => Focus::Pane,
        Focus::Pane => Focus::List,
    };
}

/// Scroll `pages` pages back (negative: forward).
pub(super) fn scroll_pages(app: &mut App, pages: isize) {
    scroll(app, pages * page_lines(app));
}

/// The first page: its last line at the bottom of the pane.
pub(super) fn show_top(app: &mut App) {
    let page = page_lines(app) as usize;
    if let Some(img) = app.images.get_mut(app.view.selected) {
        img.log.reveal(page);
    }
}

pub(super) fn show_bottom(app: &mut App) {
    if let Some(img) = app.images.get_mut(app.view.selected) {
        img.log.scroll_to_bottom();
    }
}

pub(super) fn toggle_follow(app: &mut App) {
    if let Some(img) = app.images.get_mut(app.view.selected) {
        if img.log.follow {
            img.log.follow = false;
        } else {
            img.log.scroll_to_bottom();
        }
    }
}

/// Esc: close the search, else leave tiled mode, else focus the list.
pub(super) fn back(app: &mut App) {
    if app.view.search.is_some() {
        app.view.search = None;
    } else if app.view.tiled {
        app.view.tiled = false;
    } else {
        app.view.focus = Focus::List;
    }
}

/// Select image `i` (clamped to the list); a new selection drops the
/// search's matches, which were the old image's lines.
pub(super) fn select(app: &mut App, i: usize) {
    let last = app.images.len().saturating_sub(1);
    let i = i.min(last);
    if i != app.view.selected {
        app.view.selected = i;
        if let Some(search) = app.view.search.as_mut() {
            search.matches.clear();
            search.current = None;
        }
    }
}

fn scroll(app: &mut App, delta: isize) {
    if let Some(img) = app.images.get_mut(app.view.selected) {
        img.log.scroll_by(delta);
    }
}

/// A page of the log pane: its inner height less one line of overlap.
fn page_lines(app: &App) -> isize {
    let areas = view::areas(app, Rect::new(0, 0, app.view.width, app.view.height));
    (areas.pane.height.saturating_sub(3) as isize).max(1)
}

pub(super) fn build_selected(app: &mut App, at: Instant, out: &mut Vec<Command>) {
    let mut images = Vec::new();
    with_deps(app, app.view.selected, &mut images);
    rebuild(app, images, at, out);
}

pub(super) fn build_all(app: &mut App, at: Instant, out: &mut Vec<Command>) {
    let all = (0..app.images.len()).collect();
    rebuild(app, all, at, out);
}

/// `i` and everything it builds on, transitively.
fn with_deps(app: &App, i: usize, acc: &mut Vec<usize>) {
    if i >= app.images.len() || acc.contains(&i) {
        return;
    }
    acc.push(i);
    for &d in &app.deps[i] {
        with_deps(app, d, acc);
    }
}

fn rebuild(app: &mut App, images: Vec<usize>, at: Instant, out: &mut Vec<Command>) {
    request_run(app, RunKind::Build, &images, at, out);
    schedule(app, at, out);
}

pub(super) fn cancel_selected(app: &mut App, at: Instant, out: &mut Vec<Command>) {
    let i = app.view.selected;
    if i < app.images.len() {
        cancel(app, i, at, out);
        schedule(app, at, out);
    }
}

pub(super) fn push_selected(app: &mut App, at: Instant, out: &mut Vec<Command>) {
    let i = app.view.selected;
    let Some(img) = app.images.get(i) else {
        return;
    };
    if img.status == Status::Done {
        app.view.message = Some(format!("pushing {}", img.name));
        request_run(app, RunKind::Push, &[i], at, out);
    } else {
        app.view.message = Some(format!("{} has no fresh build to push", img.name));
    }
}

pub(super) fn more_jobs(app: &mut App, at: Instant, out: &mut Vec<Command>) {
    app.jobs += 1;
    app.view.message = Some(format!("up to {} builds at once", app.jobs));
    schedule(app, at, out);
}

pub(super) fn fewer_jobs(app: &mut App, at: Instant, out: &mut Vec<Command>) {
    app.jobs = app.jobs.saturating_sub(1).max(1);
    app.view.message = Some(format!(
        "up to {} builds at once (running ones finish)",
        app.jobs
    ));
    schedule(app, at, out);
}
