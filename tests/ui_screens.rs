//! Whole dashboard screens rendered to a TestBackend and snapshotted with
//! insta (tests/snapshots/), plus direct checks of the cells whose colour
//! carries meaning. Every time is a synthetic instant: no real clock.
#![allow(clippy::unwrap_used, clippy::string_slice)]

mod model_support;

use crossterm::event::KeyCode;

use kiln::app::log::LogRing;
use kiln::app::status::Status;

use kiln::protocol::{EngineEvent, Phase};
use model_support::*;
use ratatui::style::Color;

/// base building (step 3/4 after two cache hits), web and api queued.
fn building() -> kiln::app::App {
    let mut app = app();
    build(&mut app, &[BASE, WEB, API], 0.0);
    started(&mut app, BASE, 0.5);
    step(&mut app, BASE, 1, 4, "FROM scratch", false, 0.6);
    step(&mut app, BASE, 2, 4, "COPY busybox /bin/busybox", true, 0.7);
    step(&mut app, BASE, 3, 4, "RUN make -j4 all", false, 1.0);
    for i in 1..=6 {
        log(
            &mut app,
            BASE,
            &format!("cc -O2 -c src/part{i}.c"),
            1.0 + i as f64,
        );
    }
    tick(&mut app, 12.0);
    app
}

#[test]
fn screen_building() {
    let mut app = building();
    insta::assert_snapshot!(render(&mut app, 100, 16));
}

#[test]
fn screen_stalled_with_live_silent_counter() {
    let mut app = building();
    tick(&mut app, 40.0); // 33 s of silence: stalled (stall_after 30s)
    assert!(matches!(app.images[BASE].status, Status::Stalled(_)));
    tick(&mut app, 79.0); // 1m12s since the last line at 7 s
    insta::assert_snapshot!(render(&mut app, 100, 16));
}

#[test]
fn screen_failed() {
    let mut app = building();
    log(&mut app, BASE, "src/part7.c:12: error: expected ';'", 13.0);
    engine(
        &mut app,
        BASE,
        14.0,
        EngineEvent::Failed {
            phase: Phase::Build,
            error: "The command '/bin/sh -c make -j4 all' returned a non-zero code: 2".into(),
        },
    );
    tick(&mut app, 15.0);
    insta::assert_snapshot!(render(&mut app, 100, 16));
}

#[test]
fn screen_help_overlay() {
    let mut app = building();
    key(&mut app, KeyCode::Char('?'), 13.0);
    insta::assert_snapshot!(render(&mut app, 100, 24));
}

#[test]
fn screen_search_highlights_matches() {
    let mut app = building();
    key(&mut app, KeyCode::Tab, 13.0);
    key(&mut app, KeyCode::Char('/'), 13.0);
    keys(&mut app, "part", 13.0);
    key(&mut app, KeyCode::Enter, 13.0);
    key(&mut app, KeyCode::Char('N'), 13.0);
    insta::assert_snapshot!(render(&mut app, 100, 16));
    // Matches are highlighted cells.
    let buf = render_buffer(&mut app, 100, 16);
    let highlighted = buf
        .content()
        .iter()
        .filter(|c| c.bg == Color::Yellow)
        .count();
    assert!(highlighted >= 4 * 3, "{highlighted} highlighted cells");
}

#[test]
fn screen_tiled() {
    let mut app = building();
    built(&mut app, BASE, 13.0);
    started(&mut app, WEB, 13.5);
    step(&mut app, WEB, 1, 2, "FROM base", false, 13.6);
    log(&mut app, WEB, "web output", 14.0);
    started(&mut app, API, 13.5);
    step(&mut app, API, 1, 2, "FROM base", true, 13.6);
    step(&mut app, API, 2, 2, "RUN go build ./...", false, 13.7);
    tick(&mut app, 20.0);
    key(&mut app, KeyCode::Char('t'), 20.0);
    insta::assert_snapshot!(render(&mut app, 100, 16));
}

#[test]
fn screen_tiny_terminal() {
    let mut app = building();
    insta::assert_snapshot!(render(&mut app, 40, 10));
}

#[test]
fn screen_dropped_lines_marker() {
    let mut app = building();
    app.images[BASE].log = LogRing::with_capacity(5);
    for i in 0..12 {
        log(&mut app, BASE, &format!("line {i}"), 12.0);
    }
    key(&mut app, KeyCode::Char('g'), 12.5); // to the oldest line kept
    insta::assert_snapshot!(render(&mut app, 100, 12));
}

#[test]
fn screen_edit_prompt_with_error() {
    let mut app = app();
    key(&mut app, KeyCode::Char('j'), 0.0);
    key(&mut app, KeyCode::Char('e'), 0.0);
    key_mod(
        &mut app,
        KeyCode::Enter,
        crossterm::event::KeyModifiers::ALT,
        0.0,
    );
    keys(&mut app, "not valid", 0.0);
    key(&mut app, KeyCode::Enter, 0.0);
    insta::assert_snapshot!(render(&mut app, 90, 20));
}

#[test]
fn screen_confirm_quit() {
    let mut app = building();
    key(&mut app, KeyCode::Char('q'), 13.0);
    insta::assert_snapshot!(render(&mut app, 100, 16));
}

#[test]
fn very_long_lines_do_not_panic() {
    let mut app = building();
    log(&mut app, BASE, &"x".repeat(64 * 1024), 12.0);
    log(&mut app, BASE, &"界".repeat(10_000), 12.0);
    for (w, h) in [(100, 16), (20, 5), (1, 1), (0, 0)] {
        render_buffer(&mut app, w, h); // (TestBackend cannot print a 0-wide screen)
    }
}

/// The list's symbol cell for image `i` (border at column 0, row 0).
fn symbol_cell(buf: &ratatui::buffer::Buffer, i: usize) -> &ratatui::buffer::Cell {
    &buf[(1, 1 + i as u16)]
}

#[test]
fn state_colours() {
    let mut app = building();
    let buf = render_buffer(&mut app, 100, 16);
    assert_eq!(symbol_cell(&buf, BASE).fg, Color::Blue, "building");
    assert_eq!(symbol_cell(&buf, WEB).fg, Color::Gray, "queued");

    tick(&mut app, 40.0);
    let buf = render_buffer(&mut app, 100, 16);
    assert_eq!(symbol_cell(&buf, BASE).symbol(), "!");
    assert_eq!(symbol_cell(&buf, BASE).fg, Color::Yellow, "stalled");
    // The silent counter is yellow too.
    let row: String = (0..40).map(|x| buf[(x, 1)].symbol()).collect();
    let at = row.find("silent").expect("silent counter in the row");
    let col = row[..at].chars().count() as u16;
    assert_eq!(buf[(col, 1)].fg, Color::Yellow);

    engine(
        &mut app,
        BASE,
        41.0,
        EngineEvent::Failed {
            phase: Phase::Build,
            error: "boom".into(),
        },
    );
    let buf = render_buffer(&mut app, 100, 16);
    assert_eq!(symbol_cell(&buf, BASE).fg, Color::Red, "failed");

    let mut app = model_support::app();
    build(&mut app, &[BASE], 0.0);
    built(&mut app, BASE, 1.0);
    let buf = render_buffer(&mut app, 100, 16);
    assert_eq!(symbol_cell(&buf, BASE).fg, Color::Green, "done");
}

#[test]
fn no_color_means_no_colours_at_all() {
    let mut app = building();
    tick(&mut app, 40.0); // stalled
    key(&mut app, KeyCode::Tab, 41.0);
    key(&mut app, KeyCode::Char('/'), 41.0);
    keys(&mut app, "part", 41.0);
    key(&mut app, KeyCode::Enter, 41.0);
    app.view.color = false;
    for screen in [false, true] {
        if screen {
            key(&mut app, KeyCode::Char('?'), 42.0);
        }
        let buf = render_buffer(&mut app, 100, 24);
        for cell in buf.content() {
            assert_eq!(cell.fg, Color::Reset, "fg of {:?}", cell.symbol());
            assert_eq!(cell.bg, Color::Reset, "bg of {:?}", cell.symbol());
        }
    }
    // Still distinguishable: the stalled symbol and bold/reversed counter.
    let buf = render_buffer(&mut app, 100, 24);
    assert_eq!(symbol_cell(&buf, BASE).symbol(), "!");
}

/// base built and pushing: one layer uploading, one pushed, one waiting.
fn pushing() -> kiln::app::App {
    use kiln::protocol::PushEvent;
    let mut app = building();
    built(&mut app, BASE, 13.0);
    kiln::app::update(
        &mut app,
        kiln::app::Msg::PushRequested {
            images: vec![BASE],
            at: t(14.0),
        },
    );
    let layer =
        |id: &str, status: &str, current: Option<u64>, total: Option<u64>| EngineEvent::Push {
            tag: "127.0.0.1:5001/base:latest".into(),
            event: PushEvent::Layer {
                id: id.into(),
                status: status.into(),
                current,
                total,
            },
        };
    engine(
        &mut app,
        BASE,
        14.5,
        layer("0e1d1955bd16", "Pushed", None, None),
    );
    engine(
        &mut app,
        BASE,
        14.6,
        layer("5f70bf18a086", "Waiting", None, None),
    );
    engine(
        &mut app,
        BASE,
        15.0,
        layer(
            "e9d438ee2b8d",
            "Pushing",
            Some(512 * 1024),
            Some(2 * 1024 * 1024),
        ),
    );
    tick(&mut app, 16.0);
    app
}

#[test]
fn screen_push_bars() {
    let mut app = pushing();
    assert_eq!(app.images[BASE].status, Status::Pushing);
    insta::assert_snapshot!(render(&mut app, 100, 18));
}

#[test]
fn a_silent_pushing_layer_is_marked_stalled() {
    let mut app = pushing();
    tick(&mut app, 60.0); // 45 s without progress (stall_after 30s)
    assert_eq!(app.images[BASE].status, Status::Stalled(Phase::Push));
    let screen = render(&mut app, 100, 18);
    let row = screen
        .lines()
        .find(|l| l.contains("e9d438ee2b8d Pushing"))
        .expect("a bar for the uploading layer");
    assert!(row.contains("STALLED 45s"), "{row}");
    let buf = render_buffer(&mut app, 100, 18);
    // On the bar's row (the pane's note on the stall says STALLED too).
    let bar_row = screen
        .lines()
        .position(|l| l.contains("e9d438ee2b8d Pushing"))
        .expect("the bar's row") as u16;
    let (x, y) = (bar_row..bar_row + 1)
        .flat_map(|y| (0..100u16).map(move |x| (x, y)))
        .find(|&(x, y)| {
            buf[(x, y)].symbol() == "S"
                && buf[(x + 1, y)].symbol() == "T"
                && buf[(x + 2, y)].symbol() == "A"
        })
        .expect("the STALLED label");
    assert_eq!(buf[(x, y)].fg, Color::Yellow);
}

#[test]
fn the_status_bar_names_the_daemon_and_says_when_it_stops_answering() {
    let mut app = building();
    kiln::app::update(
        &mut app,
        kiln::app::Msg::DaemonInfo(
            "unix:///var/run/docker.sock · Engine 20.10.24 (API 1.41) · buildkit".into(),
        ),
    );
    let screen = render(&mut app, 160, 16);
    let status = screen.lines().last().unwrap();
    // Beside the hints, cut with `…` if need be.
    assert!(
        status.contains("unix:///var/run/docker.sock · Engine 20.10.24"),
        "{status}"
    );
    assert!(!status.contains("daemon not answering"));
    kiln::app::update(
        &mut app,
        kiln::app::Msg::DaemonHealth {
            ok: false,
            detail: "connection refused".into(),
        },
    );
    let screen = render(&mut app, 160, 16);
    assert!(
        screen
            .lines()
            .last()
            .unwrap()
            .contains("daemon not answering"),
        "{screen}"
    );
}

/// The demo stack as a daily user keeps it open: history from the last
/// session, long names.
const LONG_NAMES: &str = "\
defaults:
  jobs: 2
  stall_after: 30s
images:
  - name: base
  - name: web
    depends_on: [base]
  - name: api
    depends_on: [base]
  - name: analytics-worker-prod
    depends_on: [base]
  - name: tools
    image: alpine:3.20
";

fn long_names() -> kiln::app::App {
    let yaml = LONG_NAMES;
    let dir = tempfile::tempdir().unwrap();
    for name in ["base", "web", "api", "analytics-worker-prod"] {
        std::fs::create_dir_all(dir.path().join(name)).unwrap();
        std::fs::write(dir.path().join(name).join("Dockerfile"), "FROM scratch\n").unwrap();
    }
    let mut config = kiln::config::load_str(&dir.path().join("kiln.yaml"), yaml, &|_| None)
        .unwrap()
        .config;
    config.label = LABEL.to_string();
    let mut app = kiln::app::App::new(&config, &kiln::app::RunOptions::default());
    app.view.color = true;
    app
}

#[test]
fn screen_history_on_open() {
    let mut app = app();
    kiln::app::update(&mut app, last_runs());
    tick(&mut app, 0.0);
    insta::assert_snapshot!(render(&mut app, 100, 14));
    key(&mut app, KeyCode::Char('j'), 0.0);
    insta::assert_snapshot!("screen_history_on_open_web", render(&mut app, 100, 14));
}

#[test]
fn screen_wrapped_long_error() {
    let mut app = building();
    let error = format!(
        "failed to create endpoint kiln_build_{} on network bridge: could not find bridge docker0",
        "0123456789abcdef".repeat(20)
    );
    engine(
        &mut app,
        BASE,
        13.0,
        EngineEvent::Failed {
            phase: Phase::Build,
            error,
        },
    );
    key(&mut app, KeyCode::Char('w'), 14.0);
    insta::assert_snapshot!(render(&mut app, 100, 16));
}

#[test]
fn screen_long_lines_scrolled_sideways() {
    let mut app = building();
    log(&mut app, BASE, &format!("{}END", "x".repeat(70)), 12.0);
    for _ in 0..3 {
        key(&mut app, KeyCode::Char('l'), 12.5);
    }
    let screen = render(&mut app, 100, 16);
    assert!(screen.contains("xxEND"), "{screen}");
    assert!(screen.contains("→24"), "{screen}");
}

#[test]
fn screen_filtered_list() {
    let mut app = long_names();
    key(&mut app, KeyCode::Char('/'), 0.0);
    keys(&mut app, "a", 0.0);
    insta::assert_snapshot!(render(&mut app, 100, 12));
}

#[test]
fn screen_stale_mark() {
    let mut app = app();
    build(&mut app, &[BASE, WEB], 0.0);
    built(&mut app, BASE, 1.0);
    built(&mut app, WEB, 2.0);
    build(&mut app, &[BASE], 3.0);
    engine(
        &mut app,
        BASE,
        3.4,
        EngineEvent::Built {
            image_id: format!("sha256:{:064x}", 99),
        },
    );
    tick(&mut app, 4.0);
    insta::assert_snapshot!(render(&mut app, 100, 10));
}

#[test]
fn screen_waiting_vs_queued() {
    let mut app = long_names();
    app.jobs = 1;
    kiln::app::update(
        &mut app,
        kiln::app::Msg::BuildRequested {
            images: vec![0, 1, 2, 3, 4],
            at: t(0.0),
        },
    );
    started(&mut app, BASE, 0.5);
    tick(&mut app, 9.0);
    insta::assert_snapshot!(render(&mut app, 100, 10));
}

/// A stack with a failing, a stalled, a timed-out and a pushed image.
fn busy_day() -> kiln::app::App {
    use kiln::protocol::BuildEvent;
    let mut app = long_names();
    app.jobs = 4;
    kiln::app::update(&mut app, last_runs());
    kiln::app::update(
        &mut app,
        kiln::app::Msg::BuildRequested {
            images: vec![0, 1, 2, 3],
            at: t(0.0),
        },
    );
    built(&mut app, BASE, 2.0);
    started(&mut app, 1, 2.5);
    step(&mut app, 1, 2, 3, "RUN npm ci", false, 3.0);
    started(&mut app, 2, 2.5);
    engine(
        &mut app,
        2,
        4.0,
        EngineEvent::Failed {
            phase: Phase::Build,
            error: "The command '/bin/sh -c go build ./...' returned a non-zero code: 2".into(),
        },
    );
    started(&mut app, 3, 2.5);
    engine(
        &mut app,
        3,
        3.0,
        EngineEvent::Build(BuildEvent::Step {
            id: "sha256:9".into(),
            index: None,
            total: None,
            name: "[4/9] RUN python -m pip install --no-cache-dir -r requirements/production.txt"
                .into(),
            cached: false,
            shared: false,
        }),
    );
    log(&mut app, 3, "Collecting django==4.2", 4.0);
    tick(&mut app, 51.0);
    app
}

#[test]
fn screen_80x24() {
    let mut app = busy_day();
    insta::assert_snapshot!(render(&mut app, 80, 24));
}

#[test]
fn screen_100x30() {
    let mut app = busy_day();
    insta::assert_snapshot!(render(&mut app, 100, 30));
}

#[test]
fn screen_tiled_marks_the_selected_tile() {
    let mut app = busy_day();
    key(&mut app, KeyCode::Char('j'), 51.0); // web
    key(&mut app, KeyCode::Char('t'), 51.0);
    insta::assert_snapshot!(render(&mut app, 100, 16));
}

#[test]
fn screen_zoom() {
    let mut app = busy_day();
    for _ in 0..3 {
        key(&mut app, KeyCode::Char('j'), 51.0);
    }
    key(&mut app, KeyCode::Char('z'), 51.0);
    insta::assert_snapshot!(render(&mut app, 100, 12));
}

#[test]
fn screen_push_summary() {
    use kiln::protocol::PushEvent;
    let mut app = app();
    build(&mut app, &[BASE], 0.0);
    started(&mut app, BASE, 0.1);
    step(
        &mut app,
        BASE,
        1,
        1,
        "COPY busybox /bin/busybox",
        false,
        0.2,
    );
    built(&mut app, BASE, 0.477);
    key(&mut app, KeyCode::Char('p'), 1.0);
    for (tag, at) in [
        ("127.0.0.1:5001/base:latest", 5.0),
        ("127.0.0.1:5001/base:1.0", 6.0),
    ] {
        let layer = |status: &str, current, total| EngineEvent::Push {
            tag: tag.into(),
            event: PushEvent::Layer {
                id: "e9d438ee2b8d".into(),
                status: status.into(),
                current,
                total,
            },
        };
        if at == 5.0 {
            engine(
                &mut app,
                BASE,
                1.5,
                layer("Pushing", Some(0), Some(12_300_000)),
            );
            engine(&mut app, BASE, at, layer("Pushed", None, None));
        } else {
            engine(
                &mut app,
                BASE,
                at,
                layer("Layer already exists", None, None),
            );
        }
        engine(
            &mut app,
            BASE,
            at,
            EngineEvent::Pushed {
                tag: tag.into(),
                digest: format!("sha256:abcd1234ef56{}", "0".repeat(52)),
            },
        );
    }
    engine(&mut app, BASE, 6.0, EngineEvent::PushDone);
    tick(&mut app, 7.0);
    insta::assert_snapshot!(render(&mut app, 100, 10));
}

/// Build output that reads as an error (`error[E…]`, `ERROR`, `fatal`,
/// `failed`) is red and bold in the pane; other output is not.
#[test]
fn error_lines_are_highlighted_in_the_pane() {
    use ratatui::style::Modifier;
    let mut app = building();
    for line in [
        "error[E0308]: mismatched types",
        "   Compiling plain v1",
        "fatal: not a git repository",
        "test result: ok. 3 passed; 0 failed",
    ] {
        log(&mut app, BASE, line, 12.5);
    }
    let buf = render_buffer(&mut app, 100, 16);
    let row_of = |text: &str| {
        (0..16)
            .find(|&y| {
                (0..100)
                    .map(|x| buf[(x, y)].symbol())
                    .collect::<String>()
                    .contains(text)
            })
            .unwrap_or_else(|| panic!("{text} not on screen"))
    };
    let cell_at = |text: &str| {
        let y = row_of(text);
        let x = (0..100)
            .find(|&x| {
                (x..100)
                    .map(|x| buf[(x, y)].symbol())
                    .collect::<String>()
                    .starts_with(text)
            })
            .unwrap();
        buf[(x, y)].clone()
    };
    for error in ["error[E0308]", "fatal: not"] {
        let cell = cell_at(error);
        assert_eq!(cell.fg, Color::Red, "{error}");
        assert!(cell.modifier.contains(Modifier::BOLD), "{error}");
    }
    for plain in ["Compiling plain", "test result"] {
        assert_ne!(cell_at(plain).fg, Color::Red, "{plain}");
    }
}

/// A long status message gets the room it needs: at 160 columns, beside
/// the counts and the daemon's label it would be cut; it takes the bar.
#[test]
fn a_long_status_message_gets_the_whole_bar() {
    let mut app = building();
    kiln::app::update(
        &mut app,
        kiln::app::Msg::DaemonInfo(
            "unix:///var/run/docker.sock · Engine 20.10.24 (API 1.41) · buildkit".into(),
        ),
    );
    let message = "base: nothing to push: push_tags (registry.example.com:5000/*) chooses none of its tags (base:latest, base:1.2.3)";
    app.view.message = Some(message.into());
    let screen = render(&mut app, 160, 16);
    let status = screen.lines().last().unwrap();
    assert!(status.contains(message), "{status}");
    // A short one stays beside the counts and the daemon.
    app.view.message = Some("up to 3 builds at once".into());
    let screen = render(&mut app, 160, 16);
    let status = screen.lines().last().unwrap();
    assert!(status.contains("up to 3 builds at once"), "{status}");
    assert!(status.contains("jobs"), "{status}");
}

/// At 80x24 running rows keep their step beside the loud `silent` timer.
#[test]
fn running_rows_keep_their_step_at_80x24() {
    let mut app = busy_day();
    let screen = render(&mut app, 80, 24);
    let row = |name: &str| {
        screen
            .lines()
            .find(|l| l.contains(&format!(" {name} ")))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        row("web").contains("2/3") && row("web").contains("silent"),
        "{screen}"
    );
    assert!(row("analytics-worker-prod").contains("4/9"), "{screen}");
}

/// At 220 columns the list grows for a long BuildKit step the row would
/// cut, while the pane keeps most of the screen.
#[test]
fn a_wide_screen_gives_a_long_step_room() {
    let mut app = busy_day();
    let screen = render(&mut app, 220, 24);
    let row = screen
        .lines()
        .find(|l| l.contains(" analytics-worker-prod "))
        .unwrap();
    let list = row.split("││").next().unwrap();
    assert!(
        list.contains("[4/9] RUN python -m pip install --no-cache-dir -r"),
        "{screen}"
    );
    assert!(list.chars().count() > 60, "{}", list.chars().count());
    assert!(
        list.chars().count() < 110,
        "the pane keeps half: {}",
        list.chars().count()
    );
}

/// The rows of a rendered screen, without the quotes `render` puts round
/// each.
fn rows(screen: &str) -> Vec<String> {
    screen
        .lines()
        .filter(|l| l.starts_with('"'))
        .map(|l| l.trim_matches('"').to_string())
        .collect()
}

/// The frame names the stack on the list's bottom border: a kiln.yaml as
/// the user names it, a compose project by its name; the image count and
/// the status bar stay as they were; a long path keeps its file's name; a
/// control character in a name is shown, never sent to the terminal.
#[test]
fn the_frame_names_its_stack() {
    let mut app = busy_day();
    for (w, h) in [(80, 24), (220, 24)] {
        app.stack_label = String::new();
        let plain = rows(&render(&mut app, w, h));
        app.stack_label = "compose project shop".into();
        let named = rows(&render(&mut app, w, h));
        let border = &named[usize::from(h) - 2];
        assert!(
            border.starts_with("└ compose project shop ─"),
            "{w}x{h}: {border}"
        );
        assert_eq!(named[0], plain[0], "{w}x{h}: the title keeps the count");
        assert!(named[0].starts_with("┌ images (5) "), "{}", named[0]);
        assert_eq!(
            named.last(),
            plain.last(),
            "{w}x{h}: the status bar is untouched"
        );
        // Only the list's border changed.
        let changed: Vec<usize> = (0..named.len()).filter(|&r| named[r] != plain[r]).collect();
        assert_eq!(changed, [usize::from(h) - 2], "{w}x{h}");
    }
    insta::assert_snapshot!(
        "screen_220_names_a_compose_project",
        render(&mut app, 220, 12)
    );

    // A narrow list: the path's start gives way, its file name stays.
    app.stack_label = "../../deploy/production/cluster-eu-west/kiln.yaml".into();
    let screen = rows(&render(&mut app, 60, 20));
    let border = &screen[18];
    assert!(border.starts_with("└ …"), "{border}");
    assert!(border.contains("/kiln.yaml ─"), "{border}");

    // A file name with an escape sequence in it.
    app.stack_label = "evil\u{1b}[2J\u{7}/kiln.yaml".into();
    let buffer = render_buffer(&mut app, 80, 24);
    let border: String = (0..80)
        .map(|x| buffer[(x, 22)].symbol().to_string())
        .collect();
    assert!(
        border.starts_with(r"└ evil\e[2J\u{7}/kiln.yaml ─"),
        "{border}"
    );
    let controls = buffer
        .content()
        .iter()
        .flat_map(|c| c.symbol().chars())
        .filter(|c| c.is_control())
        .count();
    assert_eq!(controls, 0, "no control character reaches the screen");
}

/// Zoomed or tiled there is no list: the name is on the main area's
/// bottom border.
#[test]
fn the_frame_names_its_stack_without_a_list() {
    let mut app = building();
    key(&mut app, KeyCode::Char('z'), 13.0);
    let zoomed = rows(&render(&mut app, 80, 12));
    assert!(zoomed[10].starts_with("└ demo/kiln.yaml ─"), "{zoomed:?}");
    key(&mut app, KeyCode::Char('z'), 13.5);
    key(&mut app, KeyCode::Char('t'), 14.0);
    let tiled = rows(&render(&mut app, 80, 12));
    assert!(tiled[10].starts_with("└ demo/kiln.yaml ─"), "{tiled:?}");
}
