//! The dashboard's keys and mouse, as model changes: called from `update`
//! only, no I/O. A key is looked up in the table of its mode
//! (`table::lookup`, over `View::mode`) and its `Action` carried out by
//! `apply`; each mode's handler decides what an unbound key does (typed
//! into the search or the edit prompt, closes the `?` overlay, or nothing).
//! Builds, pushes and cancels go through the scheduler (`app::schedule`)
//! like every other request; Ctrl-C sends `Msg::Interrupt` through
//! `update`, as SIGINT does.

mod mouse;
mod normal;
mod prompt;
mod search;
pub(crate) mod table;

use std::time::Instant;

use crossterm::event::{KeyEvent, KeyEventKind};

use super::schedule::cancel_all;
use super::view::Mode;
use super::{App, Command, Msg};
pub(super) use mouse::on_mouse;
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
        Mode::Edit(_) => prompt::on_key(app, key, at, out),
        Mode::ConfirmQuit => on_confirm_quit_key(app, key, at, out),
    }
}

/// The `?` overlay: any key closes it; a key it does not bind then acts as
/// in normal mode.
fn on_help_key(app: &mut App, key: KeyEvent, at: Instant, out: &mut Vec<Command>) {
    match table::lookup(table::HELP, &key) {
        Some(action) => apply(app, action, at, out),
        None => {
            app.view.mode = Mode::Normal;
            normal::on_key(app, key, at, out);
        }
    }
}

/// "Cancel them and quit? (y/n)": other keys do nothing.
fn on_confirm_quit_key(app: &mut App, key: KeyEvent, at: Instant, out: &mut Vec<Command>) {
    if let Some(action) = table::lookup(table::CONFIRM_QUIT, &key) {
        apply(app, action, at, out);
    }
}

/// Carry out `action`.
fn apply(app: &mut App, action: Action, at: Instant, out: &mut Vec<Command>) {
    match action {
        Action::Interrupt => out.extend(super::update(app, Msg::Interrupt(at))),
        Action::Up => normal::up(app),
        Action::Down => normal::down(app),
        Action::SwitchFocus => normal::switch_focus(app),
        Action::PageUp => normal::scroll_pages(app, 1),
        Action::PageDown => normal::scroll_pages(app, -1),
        Action::Top => normal::show_top(app),
        Action::Bottom => normal::show_bottom(app),
        Action::ToggleFollow => normal::toggle_follow(app),
        Action::StartSearch => search::start(app),
        Action::NextMatch => search::step(app, true),
        Action::PrevMatch => search::step(app, false),
        Action::Build => normal::build_selected(app, at, out),
        Action::BuildAll => normal::build_all(app, at, out),
        Action::Cancel => normal::cancel_selected(app, at, out),
        Action::Push => normal::push_selected(app, at, out),
        Action::Edit => prompt::open(app),
        Action::ToggleTiled => app.view.tiled = !app.view.tiled,
        Action::MoreJobs => normal::more_jobs(app, at, out),
        Action::FewerJobs => normal::fewer_jobs(app, at, out),
        Action::ShowHelp => app.view.mode = Mode::Help,
        Action::Back => normal::back(app),
        Action::Quit => {
            if app.is_idle() {
                quit(app, out);
            } else {
                app.view.mode = Mode::ConfirmQuit;
            }
        }
        Action::CloseHelp | Action::QuitDeclined => app.view.mode = Mode::Normal,
        Action::FindMatches => search::find(app),
        Action::CloseSearch => search::close(app),
        Action::ApplyEdits => prompt::apply_edits(app),
        Action::NewLine => prompt::new_line(app),
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
