//! Normal mode: moving the selection, acting on the selected image (build,
//! force, cancel, push) or on all of them, and the dashboard's layout
//! switches (tiled, zoom, mouse). The log pane's own keys are in `pane`.

use std::time::Instant;

use crossterm::event::KeyEvent;

use super::{apply, pane, search, table};
use crate::app::schedule::{cancel, request_run, schedule, RunKind};
use crate::app::status::Status;
use crate::app::view::{self, Focus};
use crate::app::{App, Command};
use crate::protocol::{Phase, RunResult, SkipReason};

/// Keys the normal table does not bind do nothing, and say so.
pub(super) fn on_key(app: &mut App, key: KeyEvent, at: Instant, out: &mut Vec<Command>) {
    match table::lookup(table::NORMAL, &key) {
        Some(action) => apply(app, action, at, out),
        None if matches!(key.code, crossterm::event::KeyCode::Modifier(_)) => {}
        None => {
            app.view.message = Some(format!(
                "{} does nothing (? lists the keys)",
                super::key_name(&key)
            ));
        }
    }
}

pub(super) fn up(app: &mut App) {
    match app.view.focus {
        Focus::List => move_selection(app, -1),
        Focus::Pane => pane::scroll(app, 1),
    }
}

pub(super) fn down(app: &mut App) {
    match app.view.focus {
        Focus::List => move_selection(app, 1),
        Focus::Pane => pane::scroll(app, -1),
    }
}

/// Move the selection `delta` rows among the images the list shows.
pub(super) fn move_selection(app: &mut App, delta: isize) {
    let visible = view::visible_images(app);
    let Some(last) = visible.len().checked_sub(1) else {
        app.view.message = Some("no image is shown: Esc clears the filter".into());
        return;
    };
    let row = match view::selected_row(app, &visible) {
        Some(row) => row.saturating_add_signed(delta).min(last),
        None => 0,
    };
    select(app, visible[row]);
}

/// `g`/`G`/Home/End with the list focused: the first or last image shown.
pub(super) fn select_end(app: &mut App, last: bool) {
    let visible = view::visible_images(app);
    let end = if last {
        visible.last()
    } else {
        visible.first()
    };
    match end {
        Some(&i) => select(app, i),
        None => app.view.message = Some("no image is shown: Esc clears the filter".into()),
    }
}

pub(super) fn switch_focus(app: &mut App) {
    app.view.focus = match app.view.focus {
        Focus::List => Focus::Pane,
        Focus::Pane => Focus::List,
    };
}

/// Esc: close the search, else clear the list's filters, else leave zoom
/// or tiled mode, else focus the list.
pub(super) fn back(app: &mut App) {
    if app.view.search.is_some() {
        app.view.search = None;
    } else if app.view.filter.is_some() || app.view.problems_only {
        app.view.filter = None;
        app.view.problems_only = false;
    } else if app.view.zoom {
        app.view.zoom = false;
    } else if app.view.tiled {
        app.view.tiled = false;
    } else if app.view.focus == Focus::Pane {
        app.view.focus = Focus::List;
    } else {
        app.view.message = Some("nothing to close (q quits)".into());
    }
}

/// Select image `i` (clamped to the list); a new selection's search
/// matches are its own log's.
pub(super) fn select(app: &mut App, i: usize) {
    let last = app.images.len().saturating_sub(1);
    let i = i.min(last);
    if i != app.view.selected {
        app.view.selected = i;
        search::refresh(app);
    }
}

/// How `b`, `F` and `N` build the selected image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Rebuild {
    /// `b`: if it changed.
    IfChanged,
    /// `F`: without change detection (the daemon's cache still serves).
    Forced,
    /// `N`: without change detection and without the daemon's cache.
    NoCache,
}

/// `b`, `F`, `N`: build the selected image, with what it builds on (each
/// of those only if it changed); `F` and `N` skip change detection for the
/// selected image, `N` the daemon's layer cache too. An image already on
/// its way says so instead.
pub(super) fn build_selected(app: &mut App, how: Rebuild, at: Instant, out: &mut Vec<Command>) {
    let i = app.view.selected;
    let Some(img) = app.images.get(i) else {
        return;
    };
    if img.status.is_pending() {
        app.view.message = Some(format!(
            "{} is already {} (c cancels it)",
            img.name,
            img.status.label()
        ));
        return;
    }
    let mut images = Vec::new();
    with_deps(app, i, &mut images);
    let deps: Vec<&str> = images[1..]
        .iter()
        .filter(|&&d| !app.images[d].status.is_pending())
        .map(|&d| app.images[d].name.as_str())
        .collect();
    let name = &app.images[i].name;
    let mut message = match how {
        Rebuild::IfChanged => format!("building {name} if it changed"),
        Rebuild::Forced => format!("rebuilding {name} without change detection"),
        Rebuild::NoCache => format!("rebuilding {name} without the cache"),
    };
    if !deps.is_empty() {
        message.push_str(&format!(" (after checking {})", deps.join(", ")));
    }
    app.view.message = Some(message);
    app.images[i].force_next = how != Rebuild::IfChanged;
    app.images[i].no_cache_next = how == Rebuild::NoCache;
    app.session.awaited = Some(i);
    request_run(app, RunKind::Build, &images, at, out);
    schedule(app, at, out);
}

/// `B`: every image that is not already on its way, each built only if it
/// changed.
pub(super) fn build_all(app: &mut App, at: Instant, out: &mut Vec<Command>) {
    let idle: Vec<usize> = (0..app.images.len())
        .filter(|&i| !app.images[i].status.is_pending())
        .collect();
    app.view.message = Some(match idle.len() {
        0 => "every image is already building or queued".to_string(),
        n if n == app.images.len() => {
            format!("checking all {n} images: those that changed rebuild")
        }
        n => format!("checking the {n} other images: those that changed rebuild"),
    });
    request_run(app, RunKind::Build, &idle, at, out);
    schedule(app, at, out);
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

pub(super) fn cancel_selected(app: &mut App, at: Instant, out: &mut Vec<Command>) {
    let i = app.view.selected;
    let Some(img) = app.images.get(i) else {
        return;
    };
    if !img.status.is_pending() {
        app.view.message = Some(format!(
            "nothing to cancel: {} is {}",
            img.name,
            img.status.label()
        ));
        return;
    }
    app.view.message = Some(format!("cancelled {}", img.name));
    cancel(app, i, at, out);
    schedule(app, at, out);
}

/// `p`: push the selected image's tags (those its `push_tags` choose):
/// its fresh build, or what the daemon has of it (unchanged, or built
/// before this session), as `kiln push` does. Refused, saying why, while
/// it is on its way, after a build that did not end well, and for a
/// prebuilt image.
pub(super) fn push_selected(app: &mut App, at: Instant, out: &mut Vec<Command>) {
    let i = app.view.selected;
    let Some(img) = app.images.get(i) else {
        return;
    };
    if let Some(why) = push_refusal(app, i) {
        app.view.message = Some(why);
        return;
    }
    let tags = img.tags_to_push();
    if tags.is_empty() {
        app.view.message = Some(format!("{}: {}", img.name, img.nothing_to_push()));
        return;
    }
    let fresh = img.status == Status::Done && !img.push_only && img.finished_at.is_some();
    app.view.message = Some(if fresh {
        format!("pushing {}'s fresh build ({})", img.name, tags.join(", "))
    } else {
        format!(
            "pushing {} as the daemon has it, without building ({})",
            img.name,
            tags.join(", ")
        )
    });
    app.session.awaited = Some(i);
    request_run(app, RunKind::Push, &[i], at, out);
}

/// Why `p` does not push image `i`, if it does not.
fn push_refusal(app: &App, i: usize) -> Option<String> {
    let img = &app.images[i];
    let name = &img.name;
    if img.status.is_pending() {
        return Some(format!(
            "{name} is already {} (c cancels it)",
            img.status.label()
        ));
    }
    if matches!(app.view.defaults.get(i), Some(None)) {
        return Some(format!(
            "{name} is a prebuilt image: kiln pushes only images it builds"
        ));
    }
    let ended = match img.status {
        Status::Failed(Phase::Build) => Some("failed"),
        Status::TimedOut => Some("timed out"),
        Status::Cancelled => Some("was cancelled"),
        Status::Skipped(SkipReason::DependencyFailed) => Some("was skipped"),
        Status::Idle => img.last_run.as_ref().and_then(|r| match r.result {
            RunResult::Failed => Some("failed"),
            RunResult::TimedOut => Some("timed out"),
            RunResult::Cancelled => Some("was cancelled"),
            RunResult::Unfinished => Some("never finished"),
            RunResult::Running => Some("is still running in another kiln"),
            RunResult::Built => None,
        }),
        _ => None,
    }?;
    Some(format!(
        "{name}'s last build {ended}: nothing fresh to push (b builds it, then p pushes)"
    ))
}

pub(super) fn toggle_tiled(app: &mut App) {
    app.view.tiled = !app.view.tiled;
    app.view.zoom = false;
}

pub(super) fn toggle_zoom(app: &mut App) {
    app.view.zoom = !app.view.zoom;
    app.view.tiled = false;
}

/// `m`: the mouse to the dashboard (wheel, clicks) or to the terminal (its
/// own text selection).
pub(super) fn toggle_mouse(app: &mut App, out: &mut Vec<Command>) {
    app.view.mouse = !app.view.mouse;
    app.view.message = Some(if app.view.mouse {
        "mouse: wheel scrolls, click selects (m gives it to the terminal)".into()
    } else {
        "mouse: the terminal's own selection works (m takes it back)".into()
    });
    out.push(Command::MouseCapture(app.view.mouse));
}

pub(super) fn more_jobs(app: &mut App, at: Instant, out: &mut Vec<Command>) {
    app.jobs += 1;
    app.view.message = Some(format!("up to {} builds at once", app.jobs));
    schedule(app, at, out);
}

pub(super) fn fewer_jobs(app: &mut App, at: Instant, out: &mut Vec<Command>) {
    if app.jobs == 1 {
        app.view.message = Some("1 build at once is the least".into());
        return;
    }
    app.jobs -= 1;
    app.view.message = Some(format!(
        "up to {} builds at once (running ones finish)",
        app.jobs
    ));
    schedule(app, at, out);
}
