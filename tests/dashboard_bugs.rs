//! The dashboard bugs of issue 12, each as an `update` sequence (messages
//! in, state, commands and the rendered screen out) that failed before its
//! fix. Bug 1 (edited tags pushed) is `ui_keys::edited_tags_are_what_is_pushed`
//! and the registry test in `tui_tmux.rs`; bug 10 (stdout/stderr order) is
//! in `parse_fixtures.rs`.
#![allow(clippy::unwrap_used, clippy::string_slice)]

mod model_support;

use std::time::Duration;

use crossterm::event::KeyCode;

use kiln::app::status::Status;
use kiln::app::view::Mode;
use kiln::app::{update, Command, Msg};
use kiln::protocol::{EngineEvent, Phase, PushEvent};
use model_support::*;
use ratatui::style::Color;

/// The row of the list (or any screen line) that mentions `what`.
fn line_with<'a>(screen: &'a str, what: &str) -> &'a str {
    screen
        .lines()
        .find(|l| l.contains(what))
        .unwrap_or_else(|| panic!("no line with {what:?} in\n{screen}"))
}

/// Bug 2: the key that closes the `?` overlay does nothing else.
#[test]
fn bug2_the_key_closing_help_does_nothing_else() {
    let mut app = app();
    key(&mut app, KeyCode::Char('?'), 0.0);
    let cmds = key(&mut app, KeyCode::Char('q'), 0.0);
    assert!(cmds.is_empty() && !app.view.quit, "? then q quit");
    assert!(matches!(app.view.mode, Mode::Normal));

    key(&mut app, KeyCode::Char('?'), 0.0);
    let cmds = key(&mut app, KeyCode::Char('B'), 0.0);
    assert!(starts(&cmds).is_empty(), "? then B built: {cmds:?}");
    assert!(app.is_idle());

    key(&mut app, KeyCode::Char('?'), 0.0);
    key(&mut app, KeyCode::Char('j'), 0.0);
    assert_eq!(app.view.selected, 0, "? then j moved");
}

/// Bug 3: a build under a second shows its real duration, and a push
/// keeps the build's time beside its own.
#[test]
fn bug3_sub_second_builds_show_their_duration_and_keep_it_while_pushing() {
    let mut app = app();
    build(&mut app, &[BASE], 0.0);
    started(&mut app, BASE, 0.1);
    built(&mut app, BASE, 0.477);
    tick(&mut app, 1.0);
    let screen = render(&mut app, 100, 12);
    let row = line_with(&screen, "base ");
    assert!(row.contains("477ms"), "{row}");
    assert!(!row.contains("0ms "), "{row}");

    key(&mut app, KeyCode::Char('p'), 2.0);
    engine(
        &mut app,
        BASE,
        6.0,
        EngineEvent::Pushed {
            tag: "base:latest".into(),
            digest: format!("sha256:{}", "ab".repeat(32)),
        },
    );
    engine(&mut app, BASE, 6.0, EngineEvent::PushDone);
    let screen = render(&mut app, 100, 12);
    let row = line_with(&screen, "base ");
    assert!(row.contains("477ms"), "the build's time is gone: {row}");
    assert!(row.contains("4s"), "the push's time: {row}");
}

/// Bug 4: no ETA rather than `~0ms left` while a step runs longer than
/// history knows.
#[test]
fn bug4_no_eta_rather_than_a_wrong_one() {
    let mut app = app();
    usually(&mut app, "base", "RUN make", Duration::from_secs(4));
    build(&mut app, &[BASE], 0.0);
    started(&mut app, BASE, 0.0);
    step(&mut app, BASE, 1, 1, "RUN make", false, 0.0);
    tick(&mut app, 2.0);
    assert_eq!(app.images[BASE].eta(t(2.0)), Some(Duration::from_secs(2)));
    // A long step, past what history knows: no estimate.
    log(&mut app, BASE, "still going", 30.0);
    tick(&mut app, 30.0);
    assert_eq!(app.images[BASE].eta(t(30.0)), None);
    let screen = render(&mut app, 100, 12);
    assert!(!line_with(&screen, "base ").contains("left"), "{screen}");
}

/// Bug 5: the quit question closes when the last build ends.
#[test]
fn bug5_the_quit_question_goes_when_the_builds_end() {
    let mut app = app();
    build(&mut app, &[BASE], 0.0);
    key(&mut app, KeyCode::Char('q'), 1.0);
    assert!(matches!(app.view.mode, Mode::ConfirmQuit));
    built(&mut app, BASE, 2.0);
    assert!(
        !matches!(app.view.mode, Mode::ConfirmQuit),
        "still asking after the builds ended"
    );
    let screen = render(&mut app, 100, 16);
    assert!(!screen.contains("0 builds"), "{screen}");
    assert!(!app.view.quit);
}

/// Bug 6: a long error line can be read to its end (`w` wraps).
#[test]
fn bug6_w_wraps_a_long_error_to_its_end() {
    let mut app = app();
    build(&mut app, &[BASE], 0.0);
    started(&mut app, BASE, 0.0);
    let error = format!(
        "failed to create endpoint {} on network bridge: could not find bridge docker0",
        "x".repeat(330)
    );
    engine(
        &mut app,
        BASE,
        1.0,
        EngineEvent::Failed {
            phase: Phase::Build,
            error,
        },
    );
    let screen = render(&mut app, 100, 16);
    assert!(!screen.contains("docker0"), "cut without w:\n{screen}");
    key(&mut app, KeyCode::Char('w'), 2.0);
    let screen = render(&mut app, 100, 16);
    assert!(screen.contains("docker0"), "{screen}");
}

/// Bug 7: `silent 47s` is always visible for a stalled image: in its row,
/// in its pane's title however long the step, and in its tile.
#[test]
fn bug7_the_stall_timer_is_never_cut() {
    let mut app = app();
    build(&mut app, &[BASE], 0.0);
    started(&mut app, BASE, 0.0);
    // A BuildKit step: its name (with its place) is what the title shows.
    let long = format!("[3/4] RUN {}", "./configure --with-everything ".repeat(8));
    engine(
        &mut app,
        BASE,
        1.0,
        EngineEvent::Build(kiln::protocol::BuildEvent::Step {
            id: "sha256:3".into(),
            index: None,
            total: None,
            name: long,
            cached: false,
            shared: false,
        }),
    );
    tick(&mut app, 48.0); // stall_after 30s
    assert!(matches!(app.images[BASE].status, Status::Stalled(_)));
    let screen = render(&mut app, 100, 16);
    let title = screen.lines().next().unwrap();
    assert!(title.contains("silent 47s"), "{title}");
    assert!(line_with(&screen, "base ").contains("silent 47s"));
    key(&mut app, KeyCode::Char('t'), 48.0);
    let screen = render(&mut app, 100, 16);
    assert!(
        screen.lines().next().unwrap().contains("silent 47s"),
        "{screen}"
    );
}

/// Bug 8: every key acts visibly or says why it did nothing.
#[test]
fn bug8_keys_say_why_they_did_nothing() {
    let mut app = app();
    build(&mut app, &[BASE, WEB], 0.0);
    built(&mut app, BASE, 1.0);
    key(&mut app, KeyCode::Char('j'), 1.5); // web, building
    assert_eq!(app.images[WEB].status, Status::Building);
    let base_run = app.images[BASE].run;
    let cmds = key(&mut app, KeyCode::Char('b'), 2.0);
    assert!(starts(&cmds).is_empty());
    assert_eq!(app.images[BASE].run, base_run, "b reran the finished base");
    assert_eq!(app.images[BASE].status, Status::Done);
    let said = app.view.message.clone().unwrap_or_default();
    assert!(said.contains("web") && said.contains("already"), "{said:?}");

    key(&mut app, KeyCode::Char('k'), 3.0); // base, done
    key(&mut app, KeyCode::Char('c'), 3.0);
    let said = app.view.message.clone().unwrap_or_default();
    assert!(said.contains("nothing to cancel"), "{said:?}");

    // An image failing again at once: the status line says so.
    let mut app = model_support::app();
    build(&mut app, &[BASE], 0.0);
    let fail = |app: &mut kiln::app::App, at| {
        engine(
            app,
            BASE,
            at,
            EngineEvent::Failed {
                phase: Phase::Build,
                error: "The command '/bin/sh -c make' returned a non-zero code: 2".into(),
            },
        )
    };
    fail(&mut app, 1.0);
    key(&mut app, KeyCode::Char('b'), 2.0);
    fail(&mut app, 2.0);
    let said = app.view.message.clone().unwrap_or_default();
    assert!(
        said.contains("failed again") && said.contains("exit 2"),
        "{said:?}"
    );
}

/// Bug 9: a case-insensitive search highlights what it counts (the
/// `CACHED` marks too), and switching images counts the new log's matches.
#[test]
fn bug9_search_highlights_its_matches_and_follows_the_selection() {
    let mut app = app();
    build(&mut app, &[BASE, API], 0.0);
    for (i, at) in [(BASE, 0.5), (API, 1.5)] {
        started(&mut app, i, at);
        step(&mut app, i, 1, 2, "COPY busybox /bin/busybox", true, at);
        step(&mut app, i, 2, 2, "COPY app /app", true, at);
        if i == BASE {
            built(&mut app, BASE, 1.0); // api builds on it
        }
    }
    key(&mut app, KeyCode::Tab, 1.0); // the log pane
    key(&mut app, KeyCode::Char('/'), 1.0);
    keys(&mut app, "cached", 1.0);
    key(&mut app, KeyCode::Enter, 1.0);
    assert_eq!(app.view.search.as_ref().unwrap().matches.len(), 2);
    let buf = render_buffer(&mut app, 100, 16);
    let highlighted = buf
        .content()
        .iter()
        .filter(|c| c.bg == Color::Yellow)
        .count();
    assert!(highlighted >= 2 * "CACHED".len(), "{highlighted} cells");

    key(&mut app, KeyCode::Tab, 2.0); // the list
    key(&mut app, KeyCode::Down, 2.0);
    key(&mut app, KeyCode::Down, 2.0); // api
    assert_eq!(app.view.selected, API);
    let screen = render(&mut app, 100, 16);
    let status = screen.lines().last().unwrap();
    assert!(!status.contains("no match"), "{status}");
}

/// Bug 11: "1 steps"; `scrolled ↑0` after `f`; the `-` message over the
/// daemon's label; dependents of a timed-out image "dependency failed".
#[test]
fn bug11_small_things() {
    let mut app = app();
    build(&mut app, &[BASE, WEB], 0.0);
    started(&mut app, BASE, 0.0);
    step(&mut app, BASE, 1, 2, "FROM scratch", false, 0.1);
    engine(
        &mut app,
        BASE,
        0.2,
        EngineEvent::Build(kiln::protocol::BuildEvent::StepDone {
            id: "1".into(),
            cached: false,
            error: None,
        }),
    );
    tick(&mut app, 1.0);
    let screen = render(&mut app, 100, 16);
    assert!(!screen.contains("1 steps"), "{screen}");

    log(&mut app, BASE, "output", 1.5);
    key(&mut app, KeyCode::Char('f'), 2.0);
    let screen = render(&mut app, 100, 16);
    assert!(!screen.contains("↑0"), "{}", screen.lines().next().unwrap());

    update(
        &mut app,
        Msg::DaemonInfo(
            "unix:///var/run/docker.sock · Engine 20.10.24 (API 1.41) · buildkit".into(),
        ),
    );
    key(&mut app, KeyCode::Char('-'), 3.0);
    let screen = render(&mut app, 120, 16);
    let status = screen.lines().last().unwrap();
    assert!(status.contains("builds at once"), "{status}");
    let daemon = &status[status.find("unix://").expect("the daemon's label")..];
    assert!(
        daemon.contains("buildkit") || daemon.contains('…'),
        "the daemon's label is overwritten: {status}"
    );

    tick(&mut app, 20_000.0); // timeout 30m (default)
    assert_eq!(app.images[BASE].status, Status::TimedOut);
    let screen = render(&mut app, 100, 16);
    let web = line_with(&screen, "web ");
    assert!(web.contains("base timed out"), "{web}");
}

/// A finished push leaves its summary, per tag, in the row and the pane.
#[test]
fn a_push_leaves_its_summary_in_the_row_and_the_pane() {
    let mut app = app();
    build(&mut app, &[BASE], 0.0);
    built(&mut app, BASE, 1.0);
    key(&mut app, KeyCode::Char('p'), 2.0);
    let layer = |status: &str, current, total| EngineEvent::Push {
        tag: "base:latest".into(),
        event: PushEvent::Layer {
            id: "e9d438ee2b8d".into(),
            status: status.into(),
            current,
            total,
        },
    };
    engine(
        &mut app,
        BASE,
        2.5,
        layer("Pushing", Some(1_000), Some(12_300_000)),
    );
    engine(&mut app, BASE, 5.5, layer("Pushed", None, None));
    let digest = format!("sha256:abcd1234ef56{}", "0".repeat(52));
    let cmds = engine(
        &mut app,
        BASE,
        6.0,
        EngineEvent::Pushed {
            tag: "base:latest".into(),
            digest,
        },
    );
    assert!(!cmds.iter().any(|c| matches!(c, Command::Quit)));
    engine(&mut app, BASE, 6.0, EngineEvent::PushDone);
    let screen = render(&mut app, 120, 16);
    let row = line_with(&screen, "✓ base");
    assert!(row.contains("pushed 12.30 MB in 4s"), "{row}");
    let summary = "pushed 12.30 MB in 4s → digest sha256:abcd1234ef56…";
    assert!(
        screen.contains(&format!("base:latest: {summary}")),
        "{screen}"
    );
}

/// `failed.log_tail` is the build's own last lines (no step headers, none
/// of kiln's notes), reaching back to its first error: here a compiler's
/// `error[E0308]` 20 lines before the end.
#[test]
fn a_failures_log_tail_is_the_builds_own_lines_from_its_first_error() {
    use kiln::app::event::EventKind;
    let mut app = app();
    build(&mut app, &[BASE], 0.0);
    started(&mut app, BASE, 0.5);
    step(&mut app, BASE, 1, 2, "RUN cargo build", false, 1.0);
    for i in 0..30 {
        log(&mut app, BASE, &format!("   Compiling dep{i} v1.0.0"), 2.0);
    }
    log(&mut app, BASE, "error[E0308]: mismatched types", 3.0);
    for i in 0..18 {
        log(&mut app, BASE, &format!("  | note line {i}"), 3.0);
    }
    log(&mut app, BASE, "error: could not compile `x`", 3.5);
    let cmds = engine(
        &mut app,
        BASE,
        4.0,
        EngineEvent::Failed {
            phase: Phase::Build,
            error:
                "process \"/bin/sh -c cargo build\" did not complete successfully: exit code: 101"
                    .into(),
        },
    );
    let tail = kinds(&cmds)
        .into_iter()
        .find_map(|k| match k {
            EventKind::Failed { log_tail, .. } => Some(log_tail),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        tail.first().map(String::as_str),
        Some("error[E0308]: mismatched types")
    );
    assert_eq!(
        tail.last().map(String::as_str),
        Some("error: could not compile `x`")
    );
    assert_eq!(tail.len(), 20, "{tail:?}");
    assert!(!tail
        .iter()
        .any(|l| l.contains("RUN cargo build") || l.contains("exit code")));
}
