//! The dashboard's keys and mouse, as model changes. Called from `update`
//! only; no I/O. Rebuild, cancel and the jobs limit go through the same
//! helpers as `Msg::BuildRequested` and `Msg::Interrupt`, so the dashboard
//! and the headless front-end schedule identically.

use std::time::Instant;

use crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::layout::{Position, Rect};
use ratatui_textarea::TextArea;

use super::edit::ImageOverride;
use super::schedule::{self, cancel, cancel_all, schedule, RunKind};
use super::status::Status;
use super::view::{self, EditPrompt, Focus, Search};
use super::{App, Command, Msg};

/// Lines one mouse-wheel notch scrolls.
const WHEEL_LINES: isize = 3;

pub(super) fn on_key(app: &mut App, key: KeyEvent, at: Instant, out: &mut Vec<Command>) {
    if key.kind != KeyEventKind::Press {
        return;
    }
    app.view.message = None;
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && key.code == KeyCode::Char('c') {
        // Ctrl-C: cancel everything and leave, as SIGINT does.
        out.extend(super::update(app, Msg::Interrupt(at)));
        return;
    }
    if app.view.prompt.is_some() {
        prompt_key(app, key);
        return;
    }
    if app.view.confirm_quit {
        match key.code {
            KeyCode::Char('y') | KeyCode::Char('Y') => {
                cancel_all(app, at, out);
                quit(app, out);
            }
            KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc | KeyCode::Char('q') => {
                app.view.confirm_quit = false;
            }
            _ => {}
        }
        return;
    }
    if app.view.search.as_ref().is_some_and(|s| s.editing) {
        search_key(app, key);
        return;
    }
    if app.view.help {
        // Any key closes help; `?` and Esc just close it.
        app.view.help = false;
        if matches!(key.code, KeyCode::Char('?') | KeyCode::Esc) {
            return;
        }
    }
    let page = page_lines(app);
    match key.code {
        KeyCode::Char('q') => {
            if app.is_idle() {
                quit(app, out);
            } else {
                app.view.confirm_quit = true;
            }
        }
        KeyCode::Esc => {
            if app.view.search.is_some() {
                app.view.search = None;
            } else if app.view.tiled {
                app.view.tiled = false;
            } else {
                app.view.focus = Focus::List;
            }
        }
        KeyCode::Char('?') => app.view.help = true,
        KeyCode::Enter | KeyCode::Tab | KeyCode::BackTab => {
            app.view.focus = match app.view.focus {
                Focus::List => Focus::Pane,
                Focus::Pane => Focus::List,
            };
        }
        KeyCode::Up | KeyCode::Char('k') => match app.view.focus {
            Focus::List => select(app, app.view.selected.saturating_sub(1)),
            Focus::Pane => scroll(app, 1),
        },
        KeyCode::Down | KeyCode::Char('j') => match app.view.focus {
            Focus::List => select(app, app.view.selected + 1),
            Focus::Pane => scroll(app, -1),
        },
        KeyCode::PageUp => scroll(app, page),
        KeyCode::PageDown => scroll(app, -page),
        KeyCode::Home | KeyCode::Char('g') => {
            // The first page: its last line at the bottom of the pane.
            if let Some(img) = app.images.get_mut(app.view.selected) {
                img.log.reveal(page as usize);
            }
        }
        KeyCode::End | KeyCode::Char('G') => {
            if let Some(img) = app.images.get_mut(app.view.selected) {
                img.log.scroll_to_bottom();
            }
        }
        KeyCode::Char('f') => {
            if let Some(img) = app.images.get_mut(app.view.selected) {
                if img.log.follow {
                    img.log.follow = false;
                } else {
                    img.log.scroll_to_bottom();
                }
            }
        }
        KeyCode::Char('/') => {
            app.view.search = Some(Search {
                editing: true,
                ..Search::default()
            });
        }
        KeyCode::Char('n') => step_search(app, true),
        KeyCode::Char('N') => step_search(app, false),
        KeyCode::Char('b') => {
            let mut images = Vec::new();
            with_deps(app, app.view.selected, &mut images);
            rebuild(app, images, at, out);
        }
        KeyCode::Char('B') => {
            let all = (0..app.images.len()).collect();
            rebuild(app, all, at, out);
        }
        KeyCode::Char('c') => {
            let i = app.view.selected;
            if i < app.images.len() {
                cancel(app, i, at, out);
                schedule(app, at, out);
            }
        }
        KeyCode::Char('p') => push(app, at, out),
        KeyCode::Char('e') => open_prompt(app),
        KeyCode::Char('t') => app.view.tiled = !app.view.tiled,
        KeyCode::Char('+') | KeyCode::Char('=') => {
            app.jobs += 1;
            app.view.message = Some(format!("up to {} builds at once", app.jobs));
            schedule(app, at, out);
        }
        KeyCode::Char('-') => {
            app.jobs = app.jobs.saturating_sub(1).max(1);
            app.view.message = Some(format!(
                "up to {} builds at once (running ones finish)",
                app.jobs
            ));
            schedule(app, at, out);
        }
        _ => {}
    }
}

pub(super) fn on_mouse(app: &mut App, event: MouseEvent, _at: Instant) {
    if app.view.prompt.is_some() || app.view.help || app.view.confirm_quit {
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

pub(super) fn quit(app: &mut App, out: &mut Vec<Command>) {
    app.view.confirm_quit = false;
    if !app.view.quit {
        app.view.quit = true;
        out.push(Command::Quit);
    }
}

fn select(app: &mut App, i: usize) {
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
    schedule::request_run(app, RunKind::Build, &images, at, out);
    schedule(app, at, out);
}

fn push(app: &mut App, at: Instant, out: &mut Vec<Command>) {
    let i = app.view.selected;
    let Some(img) = app.images.get(i) else {
        return;
    };
    if img.status == Status::Done {
        app.view.message = Some(format!("pushing {}", img.name));
        schedule::request_run(app, RunKind::Push, &[i], at, out);
    } else {
        app.view.message = Some(format!("{} has no fresh build to push", img.name));
    }
}

fn open_prompt(app: &mut App) {
    let i = app.view.selected;
    let Some(Some(defaults)) = app.view.defaults.get(i) else {
        if let Some(img) = app.images.get(i) {
            app.view.message = Some(format!("{} is prebuilt: nothing to edit", img.name));
        }
        return;
    };
    let current = app.overrides.get(i).cloned().flatten();
    let text = current.as_ref().unwrap_or(defaults).to_text();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    if lines.is_empty() {
        lines.push(String::new());
    }
    let mut textarea = TextArea::new(lines);
    textarea.move_cursor(ratatui_textarea::CursorMove::Bottom);
    textarea.move_cursor(ratatui_textarea::CursorMove::End);
    app.view.prompt = Some(EditPrompt {
        image: i,
        textarea,
        error: None,
    });
}

fn prompt_key(app: &mut App, key: KeyEvent) {
    let Some(prompt) = app.view.prompt.as_mut() else {
        return;
    };
    let newline = key
        .modifiers
        .intersects(KeyModifiers::ALT | KeyModifiers::SHIFT);
    match key.code {
        KeyCode::Esc => app.view.prompt = None,
        KeyCode::Enter if newline => prompt.textarea.insert_newline(),
        KeyCode::Enter => match ImageOverride::parse(prompt.textarea.lines()) {
            Err(e) => prompt.error = Some(e),
            Ok(ov) => {
                let i = prompt.image;
                app.view.prompt = None;
                let name = app.images[i].name.clone();
                let same = app.view.defaults.get(i).cloned().flatten().as_ref() == Some(&ov);
                app.overrides[i] = if same { None } else { Some(ov) };
                app.view.message = Some(if same {
                    format!("{name}: back to the config's values")
                } else {
                    format!("{name}: edits saved for the next build (b)")
                });
            }
        },
        _ => {
            prompt.textarea.input(key);
            prompt.error = None;
        }
    }
}

fn search_key(app: &mut App, key: KeyEvent) {
    let Some(search) = app.view.search.as_mut() else {
        return;
    };
    match key.code {
        KeyCode::Esc => app.view.search = None,
        KeyCode::Enter => {
            search.editing = false;
            if search.query.is_empty() {
                app.view.search = None;
            } else {
                find_matches(app);
                // Start from the match nearest the bottom of the pane, at
                // or above it: what the reader was just looking at.
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
        }
        // Backspace on an empty query closes the search.
        KeyCode::Backspace if search.query.pop().is_none() => app.view.search = None,
        KeyCode::Char(c) => search.query.push(c),
        _ => {}
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
fn step_search(app: &mut App, forward: bool) {
    if app.view.search.is_none() {
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
    if let Some(img) = app.images.get_mut(app.view.selected) {
        img.log.reveal(line);
    }
}
