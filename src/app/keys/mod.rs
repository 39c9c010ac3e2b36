//! The dashboard's keys and mouse, as model changes: called from `update`
//! only, no I/O. A key is looked up in the table of its mode
//! (`table::lookup`, over `View::mode`) and its `Action` carried out by
//! `apply`; each mode's handler decides what an unbound key does (typed
//! into the search, the filter or the edit prompt, closes the `?` overlay,
//! or nothing). Builds, pushes and cancels go through the scheduler
//! (`app::schedule`) like every other request; what needs the terminal
//! (the pager, the clipboard, the mouse) goes out as a `Command` for the
//! front-end; Ctrl-C sends `Msg::Interrupt` through `update`, as SIGINT
//! does. Every key acts visibly or says in the status line why it did not.

mod filter;
mod mouse;
mod normal;
mod pane;
mod prompt;
mod search;
pub(crate) mod table;

use std::time::Instant;

use crossterm::event::{KeyEvent, KeyEventKind};

use super::schedule::cancel_all;
use super::view::{Focus, Mode};
use super::{App, Command, Msg};
pub(super) use mouse::on_mouse;
use normal::Rebuild;
use table::Action;

pub(super) fn on_key(app: &mut App, key: KeyEvent, at: Instant, out: &mut Vec<Command>) {
    if key.kind != KeyEventKind::Press {
        return;
    }
    app.view.message = None;
    match app.view.mode {
        Mode::Normal => normal::on_key(app, key, at, out),
        Mode::Help => on_help_key(app, key, at, out),
        Mode::Search => search::on_key(app, key, at, out),
        Mode::Filter => filter::on_key(app, key, at, out),
        Mode::Edit(_) => prompt::on_key(app, key, at, out),
        Mode::ConfirmQuit => on_confirm_quit_key(app, key, at, out),
    }
}

/// The `?` overlay: its keys scroll or close it; any other key closes it
/// and does nothing else (`?` then `q` does not quit).
fn on_help_key(app: &mut App, key: KeyEvent, at: Instant, out: &mut Vec<Command>) {
    match table::lookup(table::HELP, &key) {
        Some(action) => apply(app, action, at, out),
        None => app.view.mode = Mode::Normal,
    }
}

/// After every message: the quit question goes once nothing is left to
/// cancel (it would ask about builds that are over).
pub(super) fn settle(app: &mut App) {
    if matches!(app.view.mode, Mode::ConfirmQuit) && app.is_idle() {
        app.view.mode = Mode::Normal;
        app.view.message = Some("every build has ended: q quits".into());
    }
}

/// "Cancel them and quit? (y/n)": other keys do nothing.
fn on_confirm_quit_key(app: &mut App, key: KeyEvent, at: Instant, out: &mut Vec<Command>) {
    match table::lookup(table::CONFIRM_QUIT, &key) {
        Some(action) => apply(app, action, at, out),
        None => {
            app.view.message = Some(format!(
                "{} does nothing here: y cancels the builds and quits, n keeps building",
                key_name(&key)
            ))
        }
    }
}

/// A key as the status line names it: `x`, `Ctrl-x`, `F5`, `Insert`.
pub(super) fn key_name(key: &KeyEvent) -> String {
    use crossterm::event::{KeyCode, KeyModifiers};
    let name = match key.code {
        KeyCode::Char(' ') => "Space".to_string(),
        KeyCode::Char(c) if c.is_control() || c.is_whitespace() => "that key".to_string(),
        KeyCode::Char(c) => c.to_string(),
        KeyCode::F(n) => format!("F{n}"),
        other => format!("{other:?}"),
    };
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        format!("Ctrl-{name}")
    } else if key.modifiers.contains(KeyModifiers::ALT) {
        format!("Alt-{name}")
    } else {
        name
    }
}

/// Carry out `action`.
fn apply(app: &mut App, action: Action, at: Instant, out: &mut Vec<Command>) {
    match action {
        Action::Interrupt => out.extend(super::update(app, Msg::Interrupt(at))),
        Action::Up => normal::up(app),
        Action::Down => normal::down(app),
        Action::SwitchFocus => normal::switch_focus(app),
        Action::PageUp => pane::scroll_pages(app, 1),
        Action::PageDown => pane::scroll_pages(app, -1),
        Action::Top => match app.view.focus {
            Focus::List => normal::select_end(app, false),
            Focus::Pane => pane::show_top(app),
        },
        Action::Bottom => match app.view.focus {
            Focus::List => normal::select_end(app, true),
            Focus::Pane => pane::show_bottom(app),
        },
        Action::FirstError => pane::first_error(app),
        Action::ToggleFollow => pane::toggle_follow(app),
        Action::ToggleWrap => pane::toggle_wrap(app),
        Action::ScrollLeft => pane::scroll_sideways(app, -1),
        Action::ScrollRight => pane::scroll_sideways(app, 1),
        Action::StartSearch => match app.view.focus {
            Focus::List => filter::start(app),
            Focus::Pane => search::start(app),
        },
        Action::NextMatch => search::step(app, true),
        Action::NoCacheOrPrevMatch => match app.view.focus {
            Focus::List => normal::build_selected(app, Rebuild::NoCache, at, out),
            Focus::Pane => search::step(app, false),
        },
        Action::ToggleProblems => filter::toggle_problems(app),
        Action::Build => normal::build_selected(app, Rebuild::IfChanged, at, out),
        Action::ForceBuild => normal::build_selected(app, Rebuild::Forced, at, out),
        Action::BuildAll => normal::build_all(app, at, out),
        Action::Cancel => normal::cancel_selected(app, at, out),
        Action::Push => normal::push_selected(app, at, out),
        Action::Edit => prompt::open(app),
        Action::OpenPager => pane::open_pager(app, out),
        Action::Copy => pane::copy(app, out),
        Action::ToggleTiled => normal::toggle_tiled(app),
        Action::ToggleZoom => normal::toggle_zoom(app),
        Action::ToggleMouse => normal::toggle_mouse(app, out),
        Action::ToggleWatch => super::watch::toggle(app, out),
        Action::MoreJobs => normal::more_jobs(app, at, out),
        Action::FewerJobs => normal::fewer_jobs(app, at, out),
        Action::ShowHelp => {
            app.view.help_scroll = 0;
            app.view.mode = Mode::Help;
        }
        Action::Back => normal::back(app),
        Action::Quit => {
            if app.is_idle() {
                quit(app, out);
            } else {
                app.view.mode = Mode::ConfirmQuit;
            }
        }
        Action::CloseHelp | Action::QuitDeclined => app.view.mode = Mode::Normal,
        Action::HelpUp => app.view.help_scroll = app.view.help_scroll.saturating_sub(1),
        Action::HelpDown => app.view.help_scroll += 1,
        Action::FindMatches => search::find(app),
        Action::CloseSearch => search::close(app),
        Action::KeepFilter => filter::keep(app),
        Action::ClearFilter => filter::clear(app),
        Action::ApplyEdits => prompt::apply_edits(app),
        Action::NewLine => prompt::new_line(app),
        Action::ClearLine => prompt::clear_line(app),
        Action::DeleteWord => prompt::delete_word(app),
        Action::DeleteNext => prompt::delete_next(app),
        Action::CancelEdits => app.view.mode = Mode::Normal,
        Action::QuitConfirmed => {
            cancel_all(app, at, out);
            quit(app, out);
        }
    }
}

/// Tell the front-end to leave (once); the quit question, if open, is
/// answered. Also how `Msg::Interrupt` ends the dashboard.
pub(super) fn quit(app: &mut App, out: &mut Vec<Command>) {
    if matches!(app.view.mode, Mode::ConfirmQuit) {
        app.view.mode = Mode::Normal;
    }
    if !app.view.quit {
        app.view.quit = true;
        out.push(Command::Quit);
    }
}
