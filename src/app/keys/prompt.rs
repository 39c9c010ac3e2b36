//! The edit prompt (`e`, mode `Edit`): a text area over the selected
//! image's build args, tags and target for its next build.

use std::time::Instant;

use crossterm::event::KeyEvent;
use ratatui_textarea::{CursorMove, DataCursor, TextArea};

use super::{apply, table};

use crate::app::view::{EditPrompt, Mode};
use crate::app::{App, Command};
use crate::protocol::ImageOverride;

/// Keys the prompt table does not bind go to the text area.
pub(super) fn on_key(app: &mut App, key: KeyEvent, at: Instant, out: &mut Vec<Command>) {
    match table::lookup(table::PROMPT, &key) {
        Some(action) => apply(app, action, at, out),
        None => {
            if let Mode::Edit(prompt) = &mut app.view.mode {
                prompt.textarea.input(key);
                prompt.error = None;
                prompt.note = None;
            }
        }
    }
}

/// Open the prompt on the image's edits so far, else its config's values,
/// with the cursor at the end.
pub(super) fn open(app: &mut App) {
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
    textarea.move_cursor(CursorMove::Bottom);
    textarea.move_cursor(CursorMove::End);
    app.view.mode = Mode::Edit(Box::new(EditPrompt {
        image: i,
        textarea,
        error: None,
        note: None,
    }));
}

pub(super) fn new_line(app: &mut App) {
    if let Mode::Edit(prompt) = &mut app.view.mode {
        prompt.textarea.insert_newline();
    }
}

/// The open prompt, its cursor (row, column) and the cursor's line.
fn at_cursor(app: &mut App) -> Option<(&mut EditPrompt, usize, usize)> {
    let Mode::Edit(prompt) = &mut app.view.mode else {
        return None;
    };
    let DataCursor(row, col) = prompt.textarea.cursor();
    prompt.error = None;
    prompt.note = None;
    Some((prompt, row, col))
}

fn line_len(prompt: &EditPrompt, row: usize) -> usize {
    prompt
        .textarea
        .lines()
        .get(row)
        .map_or(0, |l| l.chars().count())
}

/// Ctrl-U: empty the cursor's line (the line itself stays).
pub(super) fn clear_line(app: &mut App) {
    let Some((prompt, row, _)) = at_cursor(app) else {
        return;
    };
    if line_len(prompt, row) > 0 {
        prompt.textarea.move_cursor(CursorMove::End);
        prompt.textarea.delete_line_by_head();
    }
}

/// Ctrl-W: delete the word before the cursor; at the start of a line,
/// nothing (lines are joined with Backspace, knowingly).
pub(super) fn delete_word(app: &mut App) {
    let Some((prompt, _, col)) = at_cursor(app) else {
        return;
    };
    if col == 0 {
        prompt.note = Some("at the start of the line: Backspace joins it to the one above".into());
    } else {
        prompt.textarea.delete_word();
    }
}

/// Delete: the character under the cursor; at the end of a line, nothing
/// (it would silently join the next line onto this one).
pub(super) fn delete_next(app: &mut App) {
    let Some((prompt, row, col)) = at_cursor(app) else {
        return;
    };
    if col >= line_len(prompt, row) {
        prompt.note =
            Some("Delete does not join lines: Backspace at the start of the next one does".into());
    } else {
        prompt.textarea.delete_next_char();
    }
}

/// Enter: store the edits for the image's next builds (none, when they
/// are the config's values) and close; a bad line is refused with the
/// reason, and the prompt stays open.
pub(super) fn apply_edits(app: &mut App) {
    let Mode::Edit(prompt) = &mut app.view.mode else {
        return;
    };
    let edits = match ImageOverride::parse(prompt.textarea.lines()) {
        Err(e) => {
            prompt.error = Some(e);
            return;
        }
        Ok(edits) => edits,
    };
    let i = prompt.image;
    app.view.mode = Mode::Normal;
    let name = app.images[i].name.clone();
    let same = app.view.defaults.get(i).cloned().flatten().as_ref() == Some(&edits);
    app.overrides[i] = if same { None } else { Some(edits) };
    app.view.message = Some(if same {
        format!("{name}: back to the config's values")
    } else {
        format!("{name}: edits saved for the next build (b)")
    });
}
