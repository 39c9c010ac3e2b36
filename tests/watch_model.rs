//! Watch mode in the model, as `update` sequences: which images a change
//! rebuilds and when, one more build for changes during a build (or a
//! restart), stack reloads good and bad, a vanished context, and `W`.
//! Messages in, state and commands out, with synthetic instants.
#![allow(clippy::unwrap_used, clippy::string_slice)]

mod model_support;

use std::sync::Arc;

use crossterm::event::KeyCode;
use kiln::app::event::EventKind;
use kiln::app::status::Status;
use kiln::app::{update, App, Command, Msg};
use kiln::config::Config;
use kiln::protocol::{ContextChanges, Phase, WatchEvent};
use model_support::*;

/// The stack of `model_support` (base ← web, base ← api, tools prebuilt;
/// two jobs), watched whole, the watcher set up at `t(0)`.
fn watching() -> App {
    let mut app = app();
    let all: Vec<usize> = (0..app.images.len()).collect();
    let cmds = update(
        &mut app,
        Msg::WatchRequested {
            names: vec![],
            images: all.clone(),
            restart: false,
            at: t(0.0),
        },
    );
    assert_eq!(cmds, [Command::Watch { images: all }]);
    app
}

fn set_up(app: &mut App, at: f64) -> Vec<Command> {
    update(
        app,
        Msg::Watch(WatchEvent::Watching {
            paths: vec!["/s/base".into(), "/s/kiln.yaml".into()],
            dirs: 3,
            at: t(at),
        }),
    )
}

/// Every image built once, so that all are done and idle.
fn settled() -> App {
    let mut app = watching();
    set_up(&mut app, 0.0);
    for (i, at) in [(BASE, 1.0), (WEB, 2.0), (API, 2.0)] {
        started(&mut app, i, at - 0.5);
        built(&mut app, i, at);
    }
    engine(
        &mut app,
        TOOLS,
        0.5,
        kiln::protocol::EngineEvent::Skipped(kiln::protocol::SkipReason::Prebuilt),
    );
    assert!(app.is_idle(), "{:?}", statuses(&app));
    app
}

fn changed(app: &mut App, image: &str, files: &[&str], at: f64) -> Vec<Command> {
    changed_together(app, &[(image, files)], at)
}

/// Files changed in several contexts, seen in one quiet period: one
/// message, as the watcher sends it.
fn changed_together(app: &mut App, batch: &[(&str, &[&str])], at: f64) -> Vec<Command> {
    let changes = batch
        .iter()
        .map(|(image, files)| ContextChanges {
            image: image.to_string(),
            files: files.iter().map(|f| f.to_string()).collect(),
            more: 0,
        })
        .collect();
    update(
        app,
        Msg::Watch(WatchEvent::FilesChanged { changes, at: t(at) }),
    )
}

fn statuses(app: &App) -> Vec<Status> {
    app.images.iter().map(|i| i.status).collect()
}

fn events(cmds: &[Command]) -> Vec<(Option<String>, EventKind)> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::Emit(e) => Some((e.image.clone(), e.kind.clone())),
            _ => None,
        })
        .collect()
}

fn notes(app: &App, image: usize) -> Vec<String> {
    app.images[image]
        .log
        .iter()
        .map(|l| l.text.clone())
        .collect()
}

/// A stack like `model_support::STACK`, loaded from `yaml`.
fn stack(yaml: &str) -> Arc<Config> {
    let dir = tempfile::tempdir().unwrap();
    for name in ["base", "web", "api", "extra"] {
        std::fs::create_dir_all(dir.path().join(name)).unwrap();
        std::fs::write(dir.path().join(name).join("Dockerfile"), "FROM scratch\n").unwrap();
    }
    let env = |_: &str| None;
    let loaded = kiln::config::load_str(&dir.path().join("kiln.yaml"), yaml, &env)
        .unwrap_or_else(|e| panic!("{e}"));
    Arc::new(loaded.config)
}

#[test]
fn the_first_build_waits_for_the_watcher_and_comes_once() {
    let mut app = watching();
    assert!(app.is_idle(), "nothing builds before the watcher is set up");
    let cmds = set_up(&mut app, 0.0);
    assert_eq!(
        events(&cmds)[0],
        (
            None,
            EventKind::Watching {
                paths: vec!["/s/base".into(), "/s/kiln.yaml".into()],
                images: 4,
                dirs: 3
            }
        )
    );
    assert_eq!(starts(&cmds), [BASE, TOOLS], "jobs: 2, base first");
    let again = set_up(&mut app, 1.0);
    assert!(
        starts(&again).is_empty(),
        "a reload's set-up builds nothing"
    );
    assert_eq!(events(&again).len(), 1, "only `watching` again");
}

#[test]
fn a_change_rebuilds_the_image_then_its_dependents_only() {
    let mut app = settled();
    let cmds = changed(&mut app, "web", &["public/index.html"], 10.0);
    assert_eq!(
        events(&cmds)[0],
        (
            Some("web".into()),
            EventKind::Changed {
                files: vec!["public/index.html".into()],
                more: 0
            }
        )
    );
    assert_eq!(starts(&cmds), [WEB]);
    assert_eq!(app.images[BASE].status, Status::Done, "untouched");
    assert_eq!(app.images[API].status, Status::Done, "untouched");
    assert!(notes(&app, WEB).contains(&"changed: public/index.html".to_string()));

    let mut app = settled();
    let cmds = changed(&mut app, "base", &["Dockerfile"], 10.0);
    assert_eq!(starts(&cmds), [BASE], "dependents wait for base");
    assert_eq!(app.images[WEB].status, Status::Queued);
    assert_eq!(app.images[API].status, Status::Queued);
    assert_eq!(
        app.images[TOOLS].status,
        Status::Skipped(kiln::protocol::SkipReason::Prebuilt)
    );
    assert!(notes(&app, WEB).contains(&"base changed".to_string()));
    let cmds = built(&mut app, BASE, 11.0);
    assert_eq!(starts(&cmds), [WEB, API]);
}

#[test]
fn a_base_and_its_dependent_changed_together_build_in_dependency_order() {
    // The watcher names the images in any order (here the dependent
    // first): web waits for the new base, and builds once.
    let mut app = settled();
    let cmds = changed_together(
        &mut app,
        &[("web", &["a"]), ("base", &["Dockerfile"])],
        10.0,
    );
    assert_eq!(starts(&cmds), [BASE], "web waits for the new base");
    assert_eq!(app.images[WEB].status, Status::Queued);
    assert_eq!(
        events(&cmds)
            .iter()
            .filter(|(_, e)| matches!(e, EventKind::Changed { .. }))
            .map(|(i, _)| i.clone().unwrap())
            .collect::<Vec<_>>(),
        ["base", "web"],
        "said in build order"
    );
    let cmds = built(&mut app, BASE, 11.0);
    assert_eq!(starts(&cmds), [WEB, API]);
    started(&mut app, WEB, 11.5);
    let cmds = built(&mut app, WEB, 12.0);
    assert!(starts(&cmds).is_empty(), "web builds once: {cmds:?}");
    assert_eq!(app.images[WEB].status, Status::Done);

    // A base that fails leaves the dependent that changed with it unbuilt.
    let mut app = settled();
    let cmds = changed_together(
        &mut app,
        &[("web", &["a"]), ("base", &["Dockerfile"])],
        10.0,
    );
    assert_eq!(starts(&cmds), [BASE]);
    let cmds = engine(
        &mut app,
        BASE,
        11.0,
        kiln::protocol::EngineEvent::Failed {
            phase: Phase::Build,
            error: "exit 3".into(),
        },
    );
    assert!(starts(&cmds).is_empty(), "nothing builds on a failed base");
    assert_eq!(
        app.images[WEB].status,
        Status::Skipped(kiln::protocol::SkipReason::DependencyFailed)
    );
}

#[test]
fn changed_names_stay_data_and_show_their_controls_visibly() {
    let mut app = settled();
    let cmds = changed(&mut app, "web", &["src/c2\u{9b}\u{1b}]0;x\u{7}"], 10.0);
    assert_eq!(
        events(&cmds)[0].1,
        EventKind::Changed {
            files: vec!["src/c2\u{9b}\u{1b}]0;x\u{7}".into()],
            more: 0
        },
        "the event (JSON) carries the name as it is"
    );
    let note = notes(&app, WEB)
        .into_iter()
        .find(|n| n.starts_with("changed: "))
        .unwrap();
    assert_eq!(note, "changed: src/c2\\u{9b}\\e]0;x\\u{7}");
    let plain: Vec<String> = cmds
        .iter()
        .filter_map(|c| match c {
            Command::Emit(e) => kiln::app::words::plain_line(
                &e.kind,
                &mut kiln::app::step_marks::StepMarks::default(),
            ),
            _ => None,
        })
        .collect();
    assert!(plain.contains(&note), "{plain:?}");
}

#[test]
fn changes_during_a_build_queue_exactly_one_more() {
    let mut app = settled();
    changed(&mut app, "web", &["a.txt"], 10.0);
    started(&mut app, WEB, 10.1);
    let run = app.images[WEB].run;
    for (i, f) in ["b.txt", "c.txt", "b.txt"].iter().enumerate() {
        let cmds = changed(&mut app, "web", &[f], 10.5 + i as f64);
        assert!(starts(&cmds).is_empty(), "no second build at once");
        assert!(
            !cmds.iter().any(|c| matches!(c, Command::Cancel { .. })),
            "no cancel by default"
        );
    }
    assert_eq!(app.images[WEB].run, run, "the running build goes on");
    let cmds = built(&mut app, WEB, 15.0);
    assert_eq!(starts(&cmds), [WEB], "one more build");
    assert_ne!(app.images[WEB].run, run);
    let cmds = built(&mut app, WEB, 20.0);
    assert!(starts(&cmds).is_empty(), "and only one");
    assert_eq!(app.images[WEB].status, Status::Done);
}

#[test]
fn a_queued_image_needs_nothing_more_when_it_changes() {
    let mut app = settled();
    changed(&mut app, "base", &["x"], 10.0);
    assert_eq!(app.images[WEB].status, Status::Queued);
    let cmds = changed(&mut app, "web", &["y"], 10.5);
    assert!(starts(&cmds).is_empty());
    built(&mut app, BASE, 11.0);
    started(&mut app, WEB, 11.5);
    let cmds = built(&mut app, WEB, 12.0);
    assert!(starts(&cmds).is_empty(), "it read the new files already");
}

#[test]
fn a_change_to_the_base_during_a_dependents_build_rebuilds_it_after_the_base() {
    let mut app = settled();
    changed(&mut app, "web", &["a"], 10.0);
    started(&mut app, WEB, 10.1);
    let cmds = changed(&mut app, "base", &["b"], 10.5);
    assert_eq!(starts(&cmds), [BASE], "base does not wait for web");
    let cmds = built(&mut app, WEB, 11.0);
    assert!(starts(&cmds).is_empty(), "web's next build waits for base");
    assert_eq!(app.images[WEB].status, Status::Queued);
    let cmds = built(&mut app, BASE, 12.0);
    assert_eq!(starts(&cmds), [WEB, API]);
}

#[test]
fn with_restart_a_change_cancels_the_build_and_starts_again() {
    let mut app = app();
    let all: Vec<usize> = (0..app.images.len()).collect();
    update(
        &mut app,
        Msg::WatchRequested {
            names: vec![],
            images: all,
            restart: true,
            at: t(0.0),
        },
    );
    set_up(&mut app, 0.0);
    started(&mut app, BASE, 0.5);
    let old = app.images[BASE].run;
    let cmds = changed(&mut app, "base", &["x"], 1.0);
    assert!(cmds.contains(&Command::Cancel {
        run: old,
        image: BASE
    }));
    assert_eq!(starts(&cmds), [BASE]);
    assert_ne!(app.images[BASE].run, old);
    assert_eq!(app.images[WEB].status, Status::Queued, "not skipped");
}

#[test]
fn a_build_cancelled_by_hand_is_not_rebuilt_for_changes_during_it() {
    let mut app = settled();
    changed(&mut app, "web", &["a"], 10.0);
    started(&mut app, WEB, 10.1);
    changed(&mut app, "web", &["b"], 10.5);
    app.view.selected = WEB;
    key(&mut app, KeyCode::Char('c'), 11.0);
    let cmds = tick(&mut app, 12.0);
    assert!(starts(&cmds).is_empty());
    assert_eq!(app.images[WEB].status, Status::Cancelled);
}

#[test]
fn changes_to_images_not_watched_or_while_not_watching_do_nothing() {
    let mut app = app();
    assert!(changed(&mut app, "web", &["a"], 1.0).is_empty());
    let mut app = app_from(STACK);
    update(
        &mut app,
        Msg::WatchRequested {
            names: vec!["api".into()],
            images: vec![BASE, API],
            restart: false,
            at: t(0.0),
        },
    );
    set_up(&mut app, 0.0);
    assert!(changed(&mut app, "web", &["a"], 1.0).is_empty());
    assert!(changed(&mut app, "nope", &["a"], 1.0).is_empty());
    started(&mut app, BASE, 1.5);
    built(&mut app, BASE, 2.0);
    started(&mut app, API, 2.5);
    built(&mut app, API, 3.0);
    let cmds = changed(&mut app, "base", &["a"], 4.0);
    assert_eq!(starts(&cmds), [BASE]);
    assert_eq!(app.images[API].status, Status::Queued);
    assert_eq!(app.images[WEB].status, Status::Idle, "web is not watched");
}

#[test]
fn a_vanished_context_fails_that_image_only() {
    let mut app = settled();
    changed(&mut app, "base", &["x"], 10.0);
    started(&mut app, BASE, 10.2);
    let run = app.images[BASE].run;
    let cmds = update(
        &mut app,
        Msg::Watch(WatchEvent::ContextGone {
            image: "base".into(),
            error: "the build context /s/base was deleted or renamed".into(),
            at: t(11.0),
        }),
    );
    assert!(cmds.contains(&Command::Cancel { run, image: BASE }));
    assert!(events(&cmds).iter().any(|(image, kind)| image.as_deref() == Some("base")
        && matches!(kind, EventKind::Failed { phase: Phase::Build, error, .. } if error.contains("deleted or renamed"))));
    assert_eq!(app.images[BASE].status, Status::Failed(Phase::Build));
    // Its dependents, queued behind it, are skipped; nothing else changes.
    assert!(matches!(app.images[WEB].status, Status::Skipped(_)));
    let cmds = changed(&mut app, "api", &["y"], 12.0);
    assert!(
        starts(&cmds).is_empty(),
        "api builds on a failed base: skipped"
    );
    assert_eq!(
        app.images[TOOLS].status,
        Status::Skipped(kiln::protocol::SkipReason::Prebuilt)
    );
}

const RELOADED: &str = "\
defaults:
  jobs: 2
  stall_after: 45s
images:
  - name: base
  - name: web
    depends_on: [base]
    args: {VERSION: \"2\"}
    tags: [example/web:latest]
  - name: api
    depends_on: [base]
  - name: tools
    image: alpine:3.20
";

#[test]
fn a_reloaded_stack_rebuilds_what_it_changed() {
    let mut app = settled();
    let config = stack(RELOADED);
    let cmds = update(
        &mut app,
        Msg::Watch(WatchEvent::StackReloaded {
            config: config.clone(),
            changed: vec!["web".into()],
            at: t(10.0),
        }),
    );
    assert!(cmds.contains(&Command::UseStack(config)));
    assert!(cmds.contains(&Command::Watch {
        images: vec![0, 1, 2, 3]
    }));
    assert_eq!(starts(&cmds), [WEB]);
    assert_eq!(app.images[WEB].stall_after.as_secs(), 45, "new settings");
    assert!(app.images[BASE].image_id.is_some(), "state carried over");
    let said = events(&cmds);
    assert!(said.iter().any(|(_, k)| matches!(k, EventKind::Notice { message } if message.ends_with("kiln.yaml reloaded (changed: web)"))), "{said:?}");
}

/// The dashboard's frame names the stack as it is now: a reload that
/// renamed the compose project (`name:`, `COMPOSE_PROJECT_NAME` in `.env`)
/// renames it.
#[test]
fn a_reloaded_stack_keeps_the_frame_s_name_true() {
    let mut app = settled();
    assert_eq!(app.stack_label, LABEL);
    let mut config = (*stack(RELOADED)).clone();
    config.label = "compose project renamed".into();
    update(
        &mut app,
        Msg::Watch(WatchEvent::StackReloaded {
            config: Arc::new(config),
            changed: vec!["web".into()],
            at: t(10.0),
        }),
    );
    assert_eq!(app.stack_label, "compose project renamed");
}

#[test]
fn a_broken_stack_is_shown_and_the_last_good_one_stays() {
    let mut app = settled();
    let cmds = update(
        &mut app,
        Msg::Watch(WatchEvent::StackInvalid(
            "kiln.yaml:3:5: unknown field 'contxt'".into(),
        )),
    );
    assert_eq!(cmds.len(), 1);
    let said = events(&cmds);
    assert!(
        matches!(&said[0].1, EventKind::Notice { message } if message.contains("still using the last good one") && message.contains("kiln.yaml:3:5: unknown field 'contxt'"))
    );
    assert_eq!(app.images.len(), 4);
    assert!(app.is_idle());
    assert!(changed(&mut app, "web", &["a"], 2.0)
        .iter()
        .any(|c| matches!(c, Command::StartBuild { .. })));
}

#[test]
fn kiln_watch_that_cannot_watch_ends_failed_and_w_turns_off() {
    let cannot = || {
        Msg::Watch(WatchEvent::CannotWatch {
            error: "inotify cannot start: Too many open files".into(),
            at: t(0.5),
        })
    };
    // `kiln watch`: said, nothing built, the run ends with exit 1.
    let mut app = watching();
    let cmds = update(&mut app, cannot());
    assert!(cmds.contains(&Command::Unwatch), "{cmds:?}");
    assert!(cmds.contains(&Command::Quit), "{cmds:?}");
    assert!(starts(&cmds).is_empty());
    assert!(events(&cmds).iter().any(|(_, k)| matches!(k, EventKind::Notice { message } if message == "watch mode cannot watch files: inotify cannot start: Too many open files")));
    assert!(!app.is_watching());
    assert_eq!(app.exit_code(), 1);
    assert!(app
        .failure
        .as_deref()
        .unwrap()
        .contains("Too many open files"));

    // `W` in the dashboard: watching is off, and the status line says why.
    let mut app = model_support::app();
    key(&mut app, KeyCode::Char('W'), 1.0);
    assert!(app.is_watching());
    let cmds = update(&mut app, cannot());
    assert!(!cmds.contains(&Command::Quit), "{cmds:?}");
    assert!(cmds.contains(&Command::Unwatch));
    assert!(!app.is_watching());
    assert!(app
        .view
        .message
        .as_deref()
        .unwrap()
        .contains("cannot watch files"));
    assert_eq!(app.exit_code(), 0);
}

#[test]
fn a_stack_that_reshapes_the_images_waits_for_running_builds() {
    let mut app = settled();
    changed(&mut app, "api", &["a"], 10.0);
    started(&mut app, API, 10.1);
    let grown = stack(&format!(
        "{}  - name: extra\n    depends_on: [base]\n",
        RELOADED.replace("  - name: base\n", "  - name: base\n    labels: {x: y}\n")
    ));
    let cmds = update(
        &mut app,
        Msg::Watch(WatchEvent::StackReloaded {
            config: grown.clone(),
            changed: vec!["base".into(), "web".into(), "extra".into()],
            at: t(11.0),
        }),
    );
    assert!(!cmds.iter().any(|c| matches!(c, Command::UseStack(_))));
    assert_eq!(app.images.len(), 4, "not yet");
    // Nothing new starts meanwhile, even what changes.
    let cmds = changed(&mut app, "web", &["b"], 11.5);
    assert!(starts(&cmds).is_empty());
    let cmds = built(&mut app, API, 12.0);
    assert!(cmds.contains(&Command::UseStack(grown)));
    assert_eq!(app.images.len(), 5);
    assert_eq!(app.images[4].name, "extra");
    assert_eq!(starts(&cmds), [BASE], "base first, then web, api, extra");
    for name in ["web", "extra"] {
        let i = app.images.iter().position(|i| i.name == name).unwrap();
        assert_eq!(app.images[i].status, Status::Queued, "{name}");
    }
}

#[test]
fn w_toggles_watching_and_the_status_bar_says_so() {
    let mut app = app();
    let cmds = key(&mut app, KeyCode::Char('W'), 0.0);
    assert_eq!(
        cmds,
        [Command::Watch {
            images: vec![0, 1, 2, 3]
        }]
    );
    let screen = render(&mut app, 120, 12);
    assert!(
        screen.lines().last().unwrap().contains("watching…"),
        "{screen}"
    );
    set_up(&mut app, 0.5);
    started(&mut app, BASE, 0.6);
    built(&mut app, BASE, 1.0);
    changed(&mut app, "base", &["etc/motd", "bin/tool"], 2.0);
    app.view.selected = BASE;
    let screen = render(&mut app, 120, 12);
    assert!(
        screen.lines().last().unwrap().contains("watching 4"),
        "{screen}"
    );
    assert!(screen.contains("changed: etc/motd, bin/tool"), "{screen}");
    let cmds = key(&mut app, KeyCode::Char('W'), 3.0);
    assert_eq!(cmds, [Command::Unwatch]);
    assert!(!app.is_watching());
    assert!(changed(&mut app, "base", &["x"], 4.0).is_empty());
}

#[test]
fn a_stack_that_drops_and_reorders_images_keeps_each_ones_state_by_name() {
    let mut app = settled();
    // api fails once: the session's record has it.
    changed(&mut app, "api", &["a"], 10.0);
    started(&mut app, API, 10.1);
    engine(
        &mut app,
        API,
        10.5,
        kiln::protocol::EngineEvent::Failed {
            phase: Phase::Build,
            error: "exit 2".into(),
        },
    );
    app.view.selected = API;
    // api moves to the top, web is gone.
    let config = stack(
        "defaults: {jobs: 2}\nimages:\n  - name: api\n    depends_on: [base]\n  - name: base\n  - name: tools\n    image: alpine:3.20\n",
    );
    let cmds = update(
        &mut app,
        Msg::Watch(WatchEvent::StackReloaded {
            config,
            changed: vec![],
            at: t(11.0),
        }),
    );
    assert!(cmds.iter().any(|c| matches!(c, Command::UseStack(_))));
    let names: Vec<&str> = app.images.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["api", "base", "tools"]);
    assert_eq!(app.images[0].status, Status::Failed(Phase::Build));
    assert_eq!(app.images[1].status, Status::Done);
    assert_eq!(app.view.selected, 0, "the selection follows api");
    let summary = app.session_summary(t(12.0));
    assert_eq!(summary.failed, ["api"]);
    assert_eq!(app.deps[0], [1], "api builds on base, now at 1");
}
