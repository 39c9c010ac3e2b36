//! The dashboard's keys and mouse as `update` sequences: messages in, state
//! and commands out, with synthetic instants.
#![allow(clippy::unwrap_used, clippy::string_slice)]

mod model_support;

use crossterm::event::{KeyCode, KeyModifiers, MouseEventKind};
use kiln::app::log::LineKind;
use kiln::app::status::Status;
use kiln::app::view::{Focus, Mode};
use kiln::app::{update, Command, Msg};
use kiln::protocol::{ChangeCheck, EngineEvent};
use model_support::*;

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
    let mut app = model_support::app();
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
    key(&mut app, KeyCode::Tab, 2.0); // the log pane: `/` searches it
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
    // Starts at the match nearest the bottom, and reveals it with what
    // follows it below (a third of the pane), not on the pane's last row.
    assert_eq!(s.current, Some(2));
    let below = kiln::app::view::pane_text_size(&app).0 / 3;
    assert!(below >= 3, "a pane of {below} lines");
    let shown = |m: usize| (m + below).min(29);
    assert_eq!(app.images[BASE].log.bottom_index(), shown(23));
    key(&mut app, KeyCode::Char('N'), 3.0);
    assert_eq!(app.images[BASE].log.bottom_index(), shown(13));
    assert!(shown(13) > 13, "context below the match");
    key(&mut app, KeyCode::Char('N'), 3.0);
    assert_eq!(app.images[BASE].log.bottom_index(), shown(3));
    key(&mut app, KeyCode::Char('n'), 3.0);
    assert_eq!(app.images[BASE].log.bottom_index(), shown(13));
    key(&mut app, KeyCode::Char('n'), 3.0);
    key(&mut app, KeyCode::Char('n'), 3.0);
    assert_eq!(
        app.images[BASE].log.bottom_index(),
        shown(3),
        "wraps around"
    );
    key(&mut app, KeyCode::Esc, 4.0);
    assert!(app.view.search.is_none());
}

#[test]
fn keys_typed_into_the_search_are_not_commands() {
    let mut app = app();
    key(&mut app, KeyCode::Tab, 0.0);
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
fn p_pushes_a_fresh_build() {
    let mut app = app();
    build(&mut app, &[BASE], 0.0);
    log(&mut app, BASE, "compiled everything", 0.5);
    built(&mut app, BASE, 1.0);
    let built_run = app.images[BASE].run;
    let cmds = key(&mut app, KeyCode::Char('p'), 2.0);
    // A push is a run of its own: the image is Pushing under a new run id.
    let run = app.images[BASE].run;
    assert!(run > built_run);
    assert!(
        cmds.contains(&Command::Push {
            run,
            image: BASE,
            tags: vec!["base:latest".into()],
            engine: None,
        }),
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

/// Bug 1: the push goes to exactly the tags that were built, the
/// dashboard's edits included, and history is told the tags.
#[test]
fn edited_tags_are_what_is_pushed() {
    let mut app = app();
    key(&mut app, KeyCode::Char('j'), 0.0); // web
    key(&mut app, KeyCode::Char('e'), 0.0);
    // Replace the tags line: to its start, clear it, type the new tags.
    key(&mut app, KeyCode::Up, 0.0);
    key_mod(&mut app, KeyCode::Char('u'), KeyModifiers::CONTROL, 0.0);
    keys(&mut app, "tags: example/web:dev", 0.0);
    key(&mut app, KeyCode::Enter, 0.0);
    assert_eq!(
        app.overrides[WEB].as_ref().and_then(|o| o.tags.clone()),
        Some(vec!["example/web:dev".to_string()])
    );
    key(&mut app, KeyCode::Char('b'), 1.0);
    let cmds = built(&mut app, BASE, 2.0);
    assert!(
        cmds.contains(&Command::RecordTags {
            image: "web".into(),
            tags: vec!["example/web:dev".into()]
        }),
        "{cmds:?}"
    );
    built(&mut app, WEB, 3.0);
    let cmds = key(&mut app, KeyCode::Char('p'), 4.0);
    let pushed: Vec<&Vec<String>> = cmds
        .iter()
        .filter_map(|c| match c {
            Command::Push {
                image: WEB, tags, ..
            } => Some(tags),
            _ => None,
        })
        .collect();
    assert_eq!(pushed, [&vec!["example/web:dev".to_string()]]);
}

#[test]
fn slash_on_the_list_filters_it_and_bang_shows_the_trouble() {
    let mut app = app();
    key(&mut app, KeyCode::Char('/'), 0.0);
    assert!(matches!(app.view.mode, Mode::Filter));
    keys(&mut app, "ap", 0.0);
    assert_eq!(kiln::app::view::visible_images(&app), vec![API]);
    assert_eq!(app.view.selected, API, "the selection follows the filter");
    key(&mut app, KeyCode::Enter, 0.0);
    assert!(matches!(app.view.mode, Mode::Normal));
    assert_eq!(app.view.filter.as_deref(), Some("ap"));
    key(&mut app, KeyCode::Esc, 0.0);
    assert!(app.view.filter.is_none());
    assert_eq!(kiln::app::view::visible_images(&app).len(), 4);

    build(&mut app, &[BASE], 1.0);
    engine(
        &mut app,
        BASE,
        2.0,
        EngineEvent::Failed {
            phase: kiln::protocol::Phase::Build,
            error: "boom".into(),
        },
    );
    key(&mut app, KeyCode::Char('!'), 3.0);
    assert_eq!(kiln::app::view::visible_images(&app), vec![BASE]);
    key(&mut app, KeyCode::Down, 3.0);
    assert_eq!(app.view.selected, BASE, "moves among the shown only");
    key(&mut app, KeyCode::Char('!'), 3.0);
    assert_eq!(kiln::app::view::visible_images(&app).len(), 4);
}

/// With the log focused, `/` still searches it.
#[test]
fn slash_on_the_pane_searches_the_log() {
    let mut app = app();
    key(&mut app, KeyCode::Tab, 0.0);
    key(&mut app, KeyCode::Char('/'), 0.0);
    assert!(matches!(app.view.mode, Mode::Search));
    assert!(app.view.filter.is_none());
}

fn history_on(app: &mut kiln::app::App) {
    update(app, Msg::HistoryKnown(Vec::new()));
}

#[test]
fn capital_f_rebuilds_without_change_detection_and_b_checks() {
    let mut app = app();
    history_on(&mut app);
    let cmds = key(&mut app, KeyCode::Char('F'), 0.0);
    let check = cmds.iter().find_map(|c| match c {
        Command::StartBuild {
            image: BASE, check, ..
        } => Some(check.clone()),
        _ => None,
    });
    assert_eq!(check, Some(ChangeCheck::Forced { registry: false }));
    assert!(app
        .view
        .message
        .as_deref()
        .unwrap()
        .contains("without change detection"));
    built(&mut app, BASE, 1.0);
    let cmds = key(&mut app, KeyCode::Char('b'), 2.0);
    let check = cmds.iter().find_map(|c| match c {
        Command::StartBuild {
            image: BASE, check, ..
        } => Some(check.clone()),
        _ => None,
    });
    assert!(
        matches!(check, Some(ChangeCheck::Against { .. })),
        "{check:?}"
    );
}

#[test]
fn a_rebuilt_base_makes_what_is_built_on_it_stale_until_it_rebuilds() {
    let mut app = app();
    build(&mut app, &[BASE, WEB], 0.0);
    built(&mut app, BASE, 1.0);
    built(&mut app, WEB, 2.0);
    assert!(app.images[WEB].stale.is_none());
    // Only base rebuilds, to a new image.
    build(&mut app, &[BASE], 3.0);
    engine(
        &mut app,
        BASE,
        4.0,
        EngineEvent::Built {
            image_id: format!("sha256:{:064x}", 99),
        },
    );
    assert_eq!(app.images[WEB].stale.as_deref(), Some("base"));
    assert!(app.images[API].stale.is_none(), "api was never built");
    let screen = render(&mut app, 100, 12);
    assert!(screen.contains("⟳ web   stale: base rebuilt"), "{screen}");
    key(&mut app, KeyCode::Char('j'), 5.0); // web
    key(&mut app, KeyCode::Char('b'), 5.0);
    assert!(app.images[WEB].stale.is_none());
    assert!(app.images[WEB].status.is_pending());
}

#[test]
fn waiting_for_a_dependency_is_not_queued_for_a_slot() {
    let mut app = app_from(&STACK.replace("jobs: 2", "jobs: 1"));
    key(&mut app, KeyCode::Char('B'), 0.0);
    let screen = render(&mut app, 100, 12);
    assert!(screen.contains("web   waiting for base"), "{screen}");
    assert!(screen.contains("tools queued (1st)"), "{screen}");
    built(&mut app, BASE, 1.0);
    // web holds the one slot; api and tools wait for it, in build order.
    let screen = render(&mut app, 100, 12);
    assert!(screen.contains("api   queued (1st)"), "{screen}");
    assert!(screen.contains("tools queued (2nd)"), "{screen}");
}

#[test]
fn history_on_open_shows_the_last_run_and_its_log() {
    let mut app = app();
    update(&mut app, last_runs());
    tick(&mut app, 0.0);
    let screen = render(&mut app, 120, 14);
    let title = screen.lines().next().unwrap();
    assert!(
        title.contains("base · failed 10m00s ago: exit 2 at [3/4] RUN make · 14s"),
        "{title}"
    );
    assert!(screen.contains("✗ base  failed 10m00s ago"), "{screen}");
    assert!(
        screen.contains("src/part7.c:12: error: expected ';'"),
        "{screen}"
    );
    assert!(app.images[BASE]
        .log
        .iter()
        .any(|l| l.kind == LineKind::Error));
    // A new build replaces it.
    build(&mut app, &[BASE], 1.0);
    assert!(app.images[BASE].log.is_empty());
}

#[test]
fn z_zooms_the_log_pane_and_back() {
    let mut app = app();
    terminal(&mut app, 100, 30);
    key(&mut app, KeyCode::Char('z'), 0.0);
    let areas = kiln::app::view::areas(&app, ratatui::layout::Rect::new(0, 0, 100, 30));
    assert_eq!(areas.pane.width, 100);
    assert!(areas.list.is_empty());
    key(&mut app, KeyCode::Char('z'), 0.0);
    let areas = kiln::app::view::areas(&app, ratatui::layout::Rect::new(0, 0, 100, 30));
    assert!(areas.list.width > 0 && areas.pane.width < 100);
}

#[test]
fn w_wraps_and_arrows_scroll_cut_lines_sideways() {
    let mut app = app();
    key(&mut app, KeyCode::Char('l'), 0.0);
    key(&mut app, KeyCode::Right, 0.0);
    assert_eq!(app.view.hscroll, 16);
    key(&mut app, KeyCode::Char('h'), 0.0);
    key(&mut app, KeyCode::Left, 0.0);
    key(&mut app, KeyCode::Left, 0.0);
    assert_eq!(app.view.hscroll, 0);
    assert!(app
        .view
        .message
        .as_deref()
        .unwrap()
        .contains("start of the lines"));
    key(&mut app, KeyCode::Char('w'), 0.0);
    assert!(app.view.wrap);
    key(&mut app, KeyCode::Right, 0.0);
    assert_eq!(app.view.hscroll, 0);
    assert!(app.view.message.as_deref().unwrap().contains("w cuts them"));
}

#[test]
fn y_copies_the_lines_in_view_or_the_match() {
    let mut app = app();
    let cmds = key(&mut app, KeyCode::Char('y'), 0.0);
    assert!(cmds.is_empty());
    assert!(app.view.message.as_deref().unwrap().contains("empty"));
    build(&mut app, &[BASE], 0.0);
    for i in 0..40 {
        log(&mut app, BASE, &format!("line {i}"), 1.0);
    }
    terminal(&mut app, 100, 12); // 9 lines in view
    let cmds = key(&mut app, KeyCode::Char('y'), 2.0);
    let expected: String = (31..40).map(|i| format!("line {i}\n")).collect();
    assert_eq!(cmds, vec![Command::Copy(expected)]);
    key(&mut app, KeyCode::Tab, 3.0);
    key(&mut app, KeyCode::Char('/'), 3.0);
    keys(&mut app, "line 7", 3.0);
    key(&mut app, KeyCode::Enter, 3.0);
    let cmds = key(&mut app, KeyCode::Char('y'), 3.0);
    assert_eq!(cmds, vec![Command::Copy("line 7\n".into())]);
    assert!(app.view.message.as_deref().unwrap().contains("copied"));
}

#[test]
fn o_asks_the_front_end_for_the_pager_when_there_is_a_saved_log() {
    let mut app = app();
    let cmds = key(&mut app, KeyCode::Char('o'), 0.0);
    assert!(cmds.is_empty());
    assert!(app
        .view
        .message
        .as_deref()
        .unwrap()
        .contains("history is off"));
    history_on(&mut app);
    let cmds = key(&mut app, KeyCode::Char('o'), 0.0);
    assert!(cmds.is_empty());
    assert!(app
        .view
        .message
        .as_deref()
        .unwrap()
        .contains("no saved log"));
    build(&mut app, &[BASE], 1.0);
    let cmds = key(&mut app, KeyCode::Char('o'), 2.0);
    assert_eq!(cmds, vec![Command::ShowLog { image: BASE }]);
}

#[test]
fn m_gives_the_mouse_to_the_terminal_and_back() {
    let mut app = app();
    let cmds = key(&mut app, KeyCode::Char('m'), 0.0);
    assert_eq!(cmds, vec![Command::MouseCapture(false)]);
    let cmds = key(&mut app, KeyCode::Char('m'), 0.0);
    assert_eq!(cmds, vec![Command::MouseCapture(true)]);
}

#[test]
fn the_edit_box_clears_lines_deletes_words_and_never_joins_silently() {
    let mut app = app();
    key(&mut app, KeyCode::Char('j'), 0.0); // web: VERSION=1, tags, target
    key(&mut app, KeyCode::Char('e'), 0.0);
    let lines = |app: &kiln::app::App| app.view.prompt().unwrap().textarea.lines().to_vec();
    let before = lines(&app);
    assert_eq!(before.len(), 3, "{before:?}");
    // The cursor is at the end of the last line, "target: ".
    key(&mut app, KeyCode::Delete, 0.0);
    assert_eq!(lines(&app), before, "Delete at the end joined lines");
    assert!(app.view.prompt().unwrap().note.is_some());
    key(&mut app, KeyCode::Up, 0.0); // the tags line
    key(&mut app, KeyCode::End, 0.0);
    key_mod(&mut app, KeyCode::Char('w'), KeyModifiers::CONTROL, 0.0);
    assert_eq!(lines(&app)[1], "tags: example/web:", "{:?}", lines(&app));
    key_mod(&mut app, KeyCode::Char('u'), KeyModifiers::CONTROL, 0.0);
    assert_eq!(lines(&app)[1], "");
    assert_eq!(lines(&app).len(), 3, "Ctrl-U removed the line");
    key(&mut app, KeyCode::Esc, 0.0);
}

#[test]
fn pending_edits_are_marked_until_built() {
    let mut app = app();
    key(&mut app, KeyCode::Char('j'), 0.0); // web
    key(&mut app, KeyCode::Char('e'), 0.0);
    key_mod(&mut app, KeyCode::Enter, KeyModifiers::ALT, 0.0);
    keys(&mut app, "EXTRA=1", 0.0);
    key(&mut app, KeyCode::Enter, 0.0);
    assert!(render(&mut app, 100, 12).contains("∙ web ✎ idle"));
    key(&mut app, KeyCode::Char('b'), 1.0);
    built(&mut app, BASE, 2.0);
    assert!(
        render(&mut app, 100, 12).contains("▸ web ✎"),
        "marked while it builds"
    );
    built(&mut app, WEB, 3.0);
    let screen = render(&mut app, 100, 12);
    assert!(!screen.contains('✎'), "{screen}");
}

#[test]
fn help_scrolls_and_closes() {
    let mut app = app();
    key(&mut app, KeyCode::Char('?'), 0.0);
    key(&mut app, KeyCode::Char('j'), 0.0);
    key(&mut app, KeyCode::Down, 0.0);
    assert_eq!(app.view.help_scroll, 2);
    assert!(matches!(app.view.mode, Mode::Help));
    assert_eq!(app.view.selected, 0);
    key(&mut app, KeyCode::Char('x'), 0.0);
    assert!(matches!(app.view.mode, Mode::Normal));
}

/// Bug 11: the quit summary counts every run of the session, and names
/// timed-out and cancelled builds as such.
#[test]
fn the_quit_summary_counts_the_whole_session() {
    let mut app = app();
    key(&mut app, KeyCode::Char('B'), 0.0);
    built(&mut app, BASE, 1.0);
    engine(
        &mut app,
        TOOLS,
        1.0,
        EngineEvent::Skipped(kiln::protocol::SkipReason::Prebuilt),
    );
    built(&mut app, WEB, 2.0);
    built(&mut app, API, 2.0);
    // Again: everything unchanged but api, which times out.
    key(&mut app, KeyCode::Char('B'), 3.0);
    engine(
        &mut app,
        BASE,
        3.5,
        EngineEvent::Skipped(kiln::protocol::SkipReason::Unchanged),
    );
    engine(
        &mut app,
        TOOLS,
        3.5,
        EngineEvent::Skipped(kiln::protocol::SkipReason::Prebuilt),
    );
    key(&mut app, KeyCode::Char('j'), 4.0);
    key(&mut app, KeyCode::Char('c'), 4.0); // web cancelled
    tick(&mut app, 3.0 + 31.0 * 60.0); // api times out (30m)
    let line = kiln::format::session_line(&app.session_summary(t(3.0 + 31.0 * 60.0)));
    assert_eq!(
        line,
        "3 built, 1 unchanged, 2 prebuilt, 1 timed out (api), 1 cancelled (web) in 31m03s"
    );
}

#[test]
fn arrows_move_among_the_filtered_images_while_typing() {
    let mut app = app();
    key(&mut app, KeyCode::Char('/'), 0.0);
    keys(&mut app, "e", 0.0); // base, web
    assert_eq!(app.view.selected, BASE);
    key(&mut app, KeyCode::Down, 0.0);
    assert_eq!(app.view.selected, WEB);
    key(&mut app, KeyCode::Down, 0.0);
    assert_eq!(app.view.selected, WEB, "api is not shown");
    assert!(matches!(app.view.mode, Mode::Filter));
}

/// The check the StartBuild of image `image` among `cmds` carries.
fn check_of(cmds: &[Command], image: usize) -> Option<ChangeCheck> {
    cmds.iter().find_map(|c| match c {
        Command::StartBuild {
            image: i, check, ..
        } if *i == image => Some(check.clone()),
        _ => None,
    })
}

/// `N` (list focused) rebuilds the selected image without the daemon's
/// cache, this build only, saying so; its dependencies only if changed.
/// With the pane focused `N` is still the previous search match.
#[test]
fn capital_n_rebuilds_without_the_cache() {
    let mut app = app();
    history_on(&mut app);
    key(&mut app, KeyCode::Char('j'), 0.0); // web, on base
    let cmds = key(&mut app, KeyCode::Char('N'), 0.0);
    assert_eq!(
        app.view.message.as_deref(),
        Some("rebuilding web without the cache (after checking base)")
    );
    assert_eq!(
        check_of(&cmds, BASE),
        Some(ChangeCheck::Against {
            last: None,
            registry: false
        }),
        "base: only if it changed"
    );
    let cmds = built(&mut app, BASE, 1.0);
    assert_eq!(
        check_of(&cmds, WEB),
        Some(ChangeCheck::NoCache { registry: false })
    );
    built(&mut app, WEB, 2.0);
    // The next `b` checks for changes again, with the cache.
    key(&mut app, KeyCode::Char('b'), 3.0);
    let cmds = built(&mut app, BASE, 4.0);
    assert!(matches!(
        check_of(&cmds, WEB),
        Some(ChangeCheck::Against { .. })
    ));
}

/// `g`/`G`/Home/End with the list focused select the first/last image
/// shown (with the pane focused they go to the log's ends).
#[test]
fn g_and_capital_g_select_the_first_and_last_image() {
    let mut app = app();
    key(&mut app, KeyCode::Char('G'), 0.0);
    assert_eq!(app.view.selected, TOOLS);
    key(&mut app, KeyCode::Char('g'), 0.0);
    assert_eq!(app.view.selected, BASE);
    key(&mut app, KeyCode::End, 0.0);
    assert_eq!(app.view.selected, TOOLS);
    key(&mut app, KeyCode::Home, 0.0);
    assert_eq!(app.view.selected, BASE);
    // Among the images a filter shows.
    key(&mut app, KeyCode::Char('/'), 0.0);
    keys(&mut app, "e", 0.0); // base, web
    key(&mut app, KeyCode::Enter, 0.0);
    key(&mut app, KeyCode::Char('G'), 0.0);
    assert_eq!(app.view.selected, WEB);
}

/// `E` shows the log's first error line with what follows it; a log with
/// none says so.
#[test]
fn capital_e_jumps_to_the_first_error() {
    let mut app = app();
    build(&mut app, &[BASE], 0.0);
    for i in 0..40 {
        let line = match i {
            12 => "src/main.rs:3:5: error[E0308]: mismatched types".to_string(),
            30 => "error: could not compile `x`".to_string(),
            _ => format!("   Compiling part{i}"),
        };
        log(&mut app, BASE, &line, 1.0);
    }
    key(&mut app, KeyCode::Char('E'), 2.0);
    let below = kiln::app::view::pane_text_size(&app).0 / 3;
    assert!(below > 0);
    let ring = &app.images[BASE].log;
    assert_eq!(
        ring.bottom_index(),
        12 + below,
        "the error, then what follows"
    );
    assert!(!ring.follow);
    assert_eq!(
        app.view.message.as_deref(),
        Some("base's first error: line 13 of 40 (g G ends, f follows)")
    );
    let mut app = model_support::app();
    build(&mut app, &[BASE], 0.0);
    log(&mut app, BASE, "all good: 0 failed", 0.5);
    key(&mut app, KeyCode::Char('E'), 1.0);
    assert_eq!(
        app.view.message.as_deref(),
        Some("no error line in base's log")
    );
}

/// A key bound to nothing says so (`x`, `7`), also at the quit question.
#[test]
fn a_key_that_does_nothing_says_so() {
    let mut app = app();
    for (c, name) in [('x', "x"), ('7', "7")] {
        let cmds = key(&mut app, KeyCode::Char(c), 0.0);
        assert!(cmds.is_empty());
        assert_eq!(
            app.view.message.as_deref(),
            Some(format!("{name} does nothing (? lists the keys)").as_str())
        );
    }
    key(&mut app, KeyCode::F(5), 0.0);
    assert_eq!(
        app.view.message.as_deref(),
        Some("F5 does nothing (? lists the keys)")
    );
    build(&mut app, &[BASE], 1.0);
    key(&mut app, KeyCode::Char('q'), 1.0);
    assert!(matches!(app.view.mode, Mode::ConfirmQuit));
    key(&mut app, KeyCode::Char('x'), 1.0);
    assert!(matches!(app.view.mode, Mode::ConfirmQuit));
    assert_eq!(
        app.view.message.as_deref(),
        Some("x does nothing here: y cancels the builds and quits, n keeps building")
    );
}

/// `!` under a filter that hides the failed image does not say that no
/// image failed.
#[test]
fn problems_under_a_filter_say_what_the_filter_hides() {
    let mut app = app();
    update(&mut app, last_runs()); // base failed
    key(&mut app, KeyCode::Char('/'), 0.0);
    keys(&mut app, "we", 0.0);
    key(&mut app, KeyCode::Enter, 0.0);
    key(&mut app, KeyCode::Char('!'), 0.0);
    assert_eq!(
        app.view.message.as_deref(),
        Some("no image matching “we” failed, stalled or timed out; 1 other did (Esc shows all)")
    );
}

/// The quit summary names each image once, with how many runs ended so
/// when more than one did.
#[test]
fn the_session_summary_names_each_image_once() {
    let mut app = app();
    for n in 0..3 {
        let at = f64::from(n) * 10.0;
        build(&mut app, &[BASE], at);
        engine(
            &mut app,
            BASE,
            at + 1.0,
            EngineEvent::Failed {
                phase: kiln::protocol::Phase::Build,
                error: "exit code: 2".into(),
            },
        );
    }
    let line = kiln::format::session_line(&app.session_summary(t(40.0)));
    assert_eq!(line, "3 failed (base ×3) in 40s");
}

/// `B` says it checks every image, not that every image changed.
#[test]
fn capital_b_says_it_checks_every_image() {
    let mut app = app();
    key(&mut app, KeyCode::Char('B'), 0.0);
    assert_eq!(
        app.view.message.as_deref(),
        Some("checking all 4 images: those that changed rebuild")
    );
}
