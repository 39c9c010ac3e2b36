//! The dashboard's keys and mouse as `update` sequences: messages in, state
//! and commands out, with synthetic instants.

mod ui_support;

use crossterm::event::{KeyCode, KeyModifiers, MouseEventKind};
use kiln::app::status::Status;
use kiln::app::view::{Focus, Mode};
use kiln::app::Command;
use ui_support::*;

#[test]
fn arrows_and_jk_move_the_selection_within_bounds() {
    let mut app = app();
    key(&mut app, KeyCode::Down, 0.0);
    assert_eq!(app.view.selected, 1);
    key(&mut app, KeyCode::Char('j'), 0.0);
    key(&mut app, KeyCode::Char('j'), 0.0);
    key(&mut app, KeyCode::Char('j'), 0.0);
    assert_eq!(app.view.selected, 3, "stops at the last image");
    key(&mut app, KeyCode::Char('k'), 0.0);
    assert_eq!(app.view.selected, 2);
    for _ in 0..5 {
        key(&mut app, KeyCode::Up, 0.0);
    }
    assert_eq!(app.view.selected, 0);
}

#[test]
fn enter_focuses_the_pane_where_arrows_scroll() {
    let mut app = app();
    build(&mut app, &[BASE], 0.0);
    for i in 0..50 {
        log(&mut app, BASE, &format!("line {i}"), 1.0);
    }
    key(&mut app, KeyCode::Enter, 2.0);
    assert_eq!(app.view.focus, Focus::Pane);
    key(&mut app, KeyCode::Up, 2.0);
    key(&mut app, KeyCode::Char('k'), 2.0);
    assert_eq!(app.view.selected, BASE);
    assert_eq!(app.images[BASE].log.scroll_back, 2);
    assert!(!app.images[BASE].log.follow);
    key(&mut app, KeyCode::Char('G'), 2.0);
    assert!(app.images[BASE].log.follow);
    key(&mut app, KeyCode::Char('g'), 2.0);
    // The first page of the default 80x24 screen: its 21 lines end at 20.
    assert_eq!(app.images[BASE].log.bottom_index(), 20);
    key(&mut app, KeyCode::Char('f'), 2.0);
    assert!(
        app.images[BASE].log.follow,
        "f from a scrolled view follows the tail again"
    );
    key(&mut app, KeyCode::Tab, 2.0);
    assert_eq!(app.view.focus, Focus::List);
}

#[test]
fn b_rebuilds_the_selected_image_with_its_dependencies() {
    let mut app = app();
    key(&mut app, KeyCode::Char('j'), 0.0); // web
    let cmds = key(&mut app, KeyCode::Char('b'), 0.0);
    assert_eq!(starts(&cmds), vec![BASE], "web waits for base");
    assert_eq!(app.images[WEB].status, Status::Queued);
    assert_eq!(
        app.images[API].status,
        Status::Idle,
        "not a dependency of web"
    );
    let cmds = built(&mut app, BASE, 5.0);
    assert_eq!(starts(&cmds), vec![WEB]);
}

#[test]
fn capital_b_rebuilds_everything_within_the_jobs_limit() {
    let mut app = app();
    let cmds = key(&mut app, KeyCode::Char('B'), 0.0);
    assert_eq!(starts(&cmds), vec![BASE, TOOLS]);
    assert_eq!(app.running(), 2);
    let cmds = built(&mut app, BASE, 5.0);
    // tools still holds a slot: only one of web/api starts.
    assert_eq!(starts(&cmds).len(), 1);
}

#[test]
fn c_cancels_the_selected_build_and_its_dependents_are_skipped() {
    let mut app = app();
    key(&mut app, KeyCode::Char('B'), 0.0);
    let run = app.images[BASE].run;
    let cmds = key(&mut app, KeyCode::Char('c'), 3.0);
    assert!(cmds.contains(&Command::Cancel { run, image: BASE }));
    assert_eq!(app.images[BASE].status, Status::Cancelled);
    assert!(matches!(app.images[WEB].status, Status::Skipped(_)));
    // A queued image is cancelled without an engine command.
    let mut app = ui_support::app();
    key(&mut app, KeyCode::Char('B'), 0.0);
    key(&mut app, KeyCode::Char('j'), 0.0);
    let cmds = key(&mut app, KeyCode::Char('c'), 1.0);
    assert!(!cmds.iter().any(|c| matches!(c, Command::Cancel { .. })));
    assert_eq!(app.images[WEB].status, Status::Cancelled);
}

#[test]
fn q_quits_at_once_when_idle() {
    let mut app = app();
    let cmds = key(&mut app, KeyCode::Char('q'), 0.0);
    assert_eq!(cmds, vec![Command::Quit]);
    assert!(app.view.quit);
}

#[test]
fn q_asks_while_builds_run() {
    let mut app = app();
    key(&mut app, KeyCode::Char('B'), 0.0);
    let cmds = key(&mut app, KeyCode::Char('q'), 1.0);
    assert!(cmds.is_empty());
    assert!(matches!(app.view.mode, Mode::ConfirmQuit) && !app.view.quit);
    key(&mut app, KeyCode::Char('n'), 1.0);
    assert!(!matches!(app.view.mode, Mode::ConfirmQuit) && !app.view.quit);
    assert_eq!(app.images[BASE].status, Status::Building);

    key(&mut app, KeyCode::Char('q'), 2.0);
    let cmds = key(&mut app, KeyCode::Char('y'), 2.0);
    assert!(cmds
        .iter()
        .any(|c| matches!(c, Command::Cancel { image: BASE, .. })));
    assert_eq!(cmds.last(), Some(&Command::Quit));
    assert!(app.is_idle() && app.view.quit);
}

#[test]
fn ctrl_c_cancels_everything_and_quits_with_130() {
    let mut app = app();
    key(&mut app, KeyCode::Char('B'), 0.0);
    let cmds = key_mod(&mut app, KeyCode::Char('c'), KeyModifiers::CONTROL, 1.0);
    assert_eq!(
        cmds.iter()
            .filter(|c| matches!(c, Command::Cancel { .. }))
            .count(),
        2
    );
    assert_eq!(cmds.last(), Some(&Command::Quit));
    assert!(app.is_idle());
    assert_eq!(app.exit_code(), 130);
}

#[test]
fn plus_and_minus_change_the_jobs_limit_live() {
    let mut app = app();
    key(&mut app, KeyCode::Char('-'), 0.0);
    key(&mut app, KeyCode::Char('-'), 0.0);
    assert_eq!(app.jobs, 1, "never below one");
    let cmds = key(&mut app, KeyCode::Char('B'), 0.0);
    assert_eq!(starts(&cmds), vec![BASE]);
    let cmds = key(&mut app, KeyCode::Char('+'), 1.0);
    assert_eq!(app.jobs, 2);
    assert_eq!(starts(&cmds), vec![TOOLS], "a freed slot is used at once");
}

#[test]
fn search_finds_matches_and_n_n_move_between_them() {
    let mut app = app();
    build(&mut app, &[BASE], 0.0);
    for i in 0..30 {
        let line = if i % 10 == 3 {
            format!("Error {i}")
        } else {
            format!("ok {i}")
        };
        log(&mut app, BASE, &line, 1.0);
    }
    key(&mut app, KeyCode::Char('/'), 2.0);
    keys(&mut app, "error", 2.0);
    assert!(app.view.search.is_some() && matches!(app.view.mode, Mode::Search));
    key(&mut app, KeyCode::Enter, 2.0);
    let s = app.view.search.clone().unwrap();
    assert!(!matches!(app.view.mode, Mode::Search));
    assert_eq!(
        s.matches,
        vec![3, 13, 23],
        "smart case: lower-case query ignores case"
    );
    // Starts at the match nearest the bottom, and reveals it.
    assert_eq!(s.current, Some(2));
    assert_eq!(app.images[BASE].log.bottom_index(), 23);
    key(&mut app, KeyCode::Char('N'), 3.0);
    assert_eq!(app.images[BASE].log.bottom_index(), 13);
    key(&mut app, KeyCode::Char('N'), 3.0);
    assert_eq!(app.images[BASE].log.bottom_index(), 3);
    key(&mut app, KeyCode::Char('n'), 3.0);
    assert_eq!(app.images[BASE].log.bottom_index(), 13);
    key(&mut app, KeyCode::Char('n'), 3.0);
    key(&mut app, KeyCode::Char('n'), 3.0);
    assert_eq!(app.images[BASE].log.bottom_index(), 3, "wraps around");
    key(&mut app, KeyCode::Esc, 4.0);
    assert!(app.view.search.is_none());
}

#[test]
fn keys_typed_into_the_search_are_not_commands() {
    let mut app = app();
    key(&mut app, KeyCode::Char('/'), 0.0);
    let cmds = keys(&mut app, "qbB", 0.0);
    assert!(cmds.is_empty());
    assert!(!app.view.quit);
    assert_eq!(app.view.search.as_ref().unwrap().query, "qbB");
}

#[test]
fn edit_prompt_validates_and_the_override_reaches_start_build() {
    let mut app = app();
    key(&mut app, KeyCode::Char('j'), 0.0); // web
    key(&mut app, KeyCode::Char('e'), 0.0);
    let prompt = app.view.prompt().expect("prompt open");
    let text = prompt.textarea.lines().join("\n");
    assert!(text.contains("VERSION=1"), "{text}");
    assert!(text.contains("tags: example/web:latest"), "{text}");

    // A bad line is refused, with the reason, and the prompt stays open.
    key_mod(&mut app, KeyCode::Enter, KeyModifiers::ALT, 1.0);
    keys(&mut app, "oops", 1.0);
    key(&mut app, KeyCode::Enter, 1.0);
    let error = app.view.prompt().unwrap().error.clone().unwrap();
    assert!(
        error.contains("oops") && error.starts_with("line "),
        "{error}"
    );
    assert!(app.overrides[WEB].is_none());

    // Fixed: accepted, stored for web, and sent with web's next build.
    for _ in 0..4 {
        key(&mut app, KeyCode::Backspace, 2.0);
    }
    keys(&mut app, "EXTRA=2", 2.0);
    assert!(app.view.prompt().unwrap().error.is_none());
    key(&mut app, KeyCode::Enter, 2.0);
    assert!(app.view.prompt().is_none());
    let ov = app.overrides[WEB].clone().expect("stored");
    assert_eq!(ov.args["EXTRA"], "2");
    assert_eq!(ov.args["VERSION"], "1");

    key(&mut app, KeyCode::Char('b'), 3.0);
    let cmds = built(&mut app, BASE, 4.0);
    let start = cmds
        .iter()
        .find_map(|c| match c {
            Command::StartBuild {
                image: WEB,
                overrides,
                ..
            } => Some(overrides.clone()),
            _ => None,
        })
        .expect("web starts");
    assert_eq!(start, Some(ov));
}

#[test]
fn esc_closes_the_edit_prompt_without_changes() {
    let mut app = app();
    key(&mut app, KeyCode::Char('e'), 0.0);
    keys(&mut app, "junk", 0.0);
    key(&mut app, KeyCode::Esc, 0.0);
    assert!(app.view.prompt().is_none());
    assert!(app.overrides[BASE].is_none());
}

#[test]
fn prebuilt_images_have_nothing_to_edit() {
    let mut app = app();
    for _ in 0..3 {
        key(&mut app, KeyCode::Char('j'), 0.0);
    }
    key(&mut app, KeyCode::Char('e'), 0.0);
    assert!(app.view.prompt().is_none());
    assert!(app.view.message.as_deref().unwrap().contains("prebuilt"));
}

#[test]
fn p_pushes_a_fresh_build_only() {
    let mut app = app();
    let cmds = key(&mut app, KeyCode::Char('p'), 0.0);
    assert!(cmds.is_empty());
    build(&mut app, &[BASE], 0.0);
    log(&mut app, BASE, "compiled everything", 0.5);
    built(&mut app, BASE, 1.0);
    let built_run = app.images[BASE].run;
    let cmds = key(&mut app, KeyCode::Char('p'), 2.0);
    // A push is a run of its own: the image is Pushing under a new run id.
    let run = app.images[BASE].run;
    assert!(run > built_run);
    assert!(
        cmds.contains(&Command::Push { run, image: BASE }),
        "{cmds:?}"
    );
    assert_eq!(app.images[BASE].status, kiln::app::status::Status::Pushing);
    // The build's log stays in view while it pushes.
    assert!(
        app.images[BASE]
            .log
            .iter()
            .any(|l| l.text == "compiled everything"),
        "log cleared by the push"
    );
}

#[test]
fn help_and_tiled_toggle_and_esc_closes() {
    let mut app = app();
    key(&mut app, KeyCode::Char('?'), 0.0);
    assert!(matches!(app.view.mode, Mode::Help));
    key(&mut app, KeyCode::Esc, 0.0);
    assert!(!matches!(app.view.mode, Mode::Help));
    key(&mut app, KeyCode::Char('t'), 0.0);
    assert!(app.view.tiled);
    key(&mut app, KeyCode::Char('t'), 0.0);
    assert!(!app.view.tiled);
}

#[test]
fn only_key_presses_count() {
    let mut app = app();
    let mut ev = crossterm::event::KeyEvent::new(KeyCode::Char('j'), KeyModifiers::NONE);
    ev.kind = crossterm::event::KeyEventKind::Release;
    kiln::app::update(
        &mut app,
        kiln::app::Msg::Key {
            key: ev,
            at: t(0.0),
        },
    );
    assert_eq!(app.view.selected, 0);
}

#[test]
fn click_selects_a_row_and_the_wheel_scrolls_the_pane_under_it() {
    let mut app = app();
    terminal(&mut app, 100, 30);
    // The list's border is row 0; rows start at 1.
    click(&mut app, 3, 1 + API as u16, 0.0);
    assert_eq!(app.view.selected, API);
    build(&mut app, &[BASE, API], 0.0);
    built(&mut app, BASE, 0.5);
    for i in 0..40 {
        log(&mut app, API, &format!("line {i}"), 1.0);
    }
    mouse(&mut app, MouseEventKind::ScrollUp, 80, 10, 2.0);
    assert_eq!(app.images[API].log.scroll_back, 3);
    mouse(&mut app, MouseEventKind::ScrollDown, 80, 10, 2.0);
    assert!(app.images[API].log.follow);
}
