//! The log pane's keys: scrolling (lines, pages, ends, sideways), follow
//! and wrap, and handing the log to the front-end: the whole saved file
//! to a pager (`o`), the lines in view to the clipboard (`y`).

use crate::app::view::{self, Mode};
use crate::app::{App, Command};
use crate::sanitize::sanitize;

/// Columns one ←/→ scrolls.
const SIDEWAYS: usize = 8;
/// The most text one copy sends (terminals cap OSC 52 payloads).
const COPY_LIMIT: usize = 64 * 1024;

/// Scroll the selected log `delta` lines back (negative: forward).
pub(super) fn scroll(app: &mut App, delta: isize) {
    if !has_log(app) {
        return;
    }
    if let Some(img) = app.images.get_mut(app.view.selected) {
        img.log.scroll_by(delta);
    }
}

/// Scroll `pages` pages back (negative: forward).
pub(super) fn scroll_pages(app: &mut App, pages: isize) {
    scroll(app, pages * page_lines(app));
}

/// The first page: its last line at the bottom of the pane.
pub(super) fn show_top(app: &mut App) {
    let page = page_lines(app) as usize;
    if has_log(app) {
        app.images[app.view.selected].log.reveal(page);
    }
}

pub(super) fn show_bottom(app: &mut App) {
    if has_log(app) {
        app.images[app.view.selected].log.scroll_to_bottom();
    }
}

pub(super) fn toggle_follow(app: &mut App) {
    if !has_log(app) {
        return;
    }
    let log = &mut app.images[app.view.selected].log;
    if log.follow {
        log.follow = false;
    } else {
        log.scroll_to_bottom();
    }
}

/// Wrap long lines, or cut them again (back at their start).
pub(super) fn toggle_wrap(app: &mut App) {
    app.view.wrap = !app.view.wrap;
    app.view.hscroll = 0;
    app.view.message = Some(if app.view.wrap {
        "long lines wrap (w cuts them)".into()
    } else {
        "long lines are cut: ←/→ scroll them (w wraps)".into()
    });
}

/// ←/→: scroll cut lines sideways (`direction` -1 or 1).
pub(super) fn scroll_sideways(app: &mut App, direction: isize) {
    if app.view.wrap {
        app.view.message = Some("lines wrap, nothing to scroll sideways (w cuts them)".into());
        return;
    }
    let step = SIDEWAYS.saturating_mul(direction.unsigned_abs());
    app.view.hscroll = if direction < 0 {
        if app.view.hscroll == 0 {
            app.view.message = Some("at the start of the lines".into());
        }
        app.view.hscroll.saturating_sub(step)
    } else {
        app.view.hscroll + step
    };
}

/// `E`: the log's first error line, with what follows it below.
pub(super) fn first_error(app: &mut App) {
    if !has_log(app) {
        return;
    }
    let below = context_below(app);
    let img = &mut app.images[app.view.selected];
    app.view.message = Some(match img.log.first_error() {
        Some(n) => {
            img.log.reveal_with_context(n, below);
            format!(
                "{}'s first error: line {} of {} (g G ends, f follows)",
                img.name,
                n + 1,
                img.log.len()
            )
        }
        None => format!("no error line in {}'s log", img.name),
    });
}

/// How many lines to show below a line jumped to (a search match, the
/// first error): a third of the pane.
pub(super) fn context_below(app: &App) -> usize {
    let (height, _) = view::pane_text_size(app);
    height / 3
}

/// `o`: the selected image's saved log, every line, in the pager. The
/// model knows whether there is one; the front-end finds and shows it.
pub(super) fn open_pager(app: &mut App, out: &mut Vec<Command>) {
    let i = app.view.selected;
    let Some(img) = app.images.get(i) else {
        return;
    };
    let saved = img.started_at.is_some() || img.last_run.is_some();
    if !app.history_on {
        app.view.message = Some("no saved logs: build history is off".into());
    } else if !saved {
        app.view.message = Some(format!("{} has no saved log yet (b builds it)", img.name));
    } else {
        out.push(Command::ShowLog { image: i });
    }
}

/// `y`: the current search match's line, else the lines in view, to the
/// clipboard (as text: kiln's own sanitised copy, never raw output).
pub(super) fn copy(app: &mut App, out: &mut Vec<Command>) {
    let i = app.view.selected;
    let Some(img) = app.images.get(i) else {
        return;
    };
    let current = app
        .view
        .search
        .as_ref()
        .filter(|_| !matches!(app.view.mode, Mode::Search))
        .and_then(|s| s.current.and_then(|c| s.matches.get(c)).copied());
    let (height, width) = view::pane_text_size(app);
    let range = match current {
        Some(line) => line..line + 1,
        None => {
            let w = view::log_window(&img.log, height, width, app.view.wrap);
            w.start..w.end
        }
    };
    if range.is_empty() {
        app.view.message = Some(format!("nothing to copy: {}'s log is empty", img.name));
        return;
    }
    let mut text = String::new();
    for line in range.clone().filter_map(|n| img.log.get(n)) {
        text.push_str(&sanitize(&line.text));
        text.push('\n');
    }
    let mut cut = text.len().min(COPY_LIMIT);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
    let what = match (current, range.len()) {
        (Some(_), _) => "the match's line".to_string(),
        (None, 1) => "1 line".to_string(),
        (None, n) => format!("{n} lines"),
    };
    app.view.message = Some(format!(
        "copied {what} to the clipboard (OSC 52: the terminal must allow it)"
    ));
    out.push(Command::Copy(text));
}

/// A page of the log pane: its inner height less one line of overlap.
fn page_lines(app: &App) -> isize {
    let (height, _) = view::pane_text_size(app);
    (height.saturating_sub(1) as isize).max(1)
}

/// The selected image has log lines to move through; if not, the status
/// line says so.
fn has_log(app: &mut App) -> bool {
    let Some(img) = app.images.get(app.view.selected) else {
        return false;
    };
    if img.log.is_empty() {
        app.view.message = Some(format!("{}'s log is empty", img.name));
        return false;
    }
    true
}
