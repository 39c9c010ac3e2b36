//! Several engines in the model: where `update` places each build (the
//! rule of `app/placement.rs`), the parents a child's placement moves,
//! collecting, a pin on an engine out of the run, and an engine lost
//! mid-run (its builds cancelled and retried once elsewhere, a pinned one
//! failed). Made-up instants; no daemon.
#![allow(clippy::unwrap_used)]

mod model_support;

use kiln::app::{update, App, Command, Msg, RunOptions};
use kiln::protocol::{EngineSlot, Move, Placement};
use model_support::{app_with, built, emitted, t};

const STACK: &str = "\
engines:
  - {name: e1, host: \"unix:///run/e1.sock\", jobs: 1}
  - {name: e2, host: \"tcp://h2:2375\", jobs: 1}
  - {name: e3, host: \"tcp://h3:2375\", jobs: 1}
images:
  - name: base
  - name: web
    depends_on: [base]
    tags: [ex/web:1]
  - name: api
    depends_on: [base]
    engine: e3
  - name: cli
    context: ./web
    depends_on: [base]
";

fn slots(down: &[usize]) -> Vec<EngineSlot> {
    ["e1", "e2", "e3"]
        .iter()
        .enumerate()
        .map(|(i, n)| EngineSlot {
            name: n.to_string(),
            jobs: 1,
            down: down
                .contains(&i)
                .then(|| "unreachable at the start".to_string()),
        })
        .collect()
}

fn app(down: &[usize]) -> App {
    let opts = RunOptions {
        engines: slots(down),
        ..RunOptions::default()
    };
    app_with(STACK, &opts)
}

/// (image, placement) of each build a batch starts.
fn placed(cmds: &[Command]) -> Vec<(usize, Placement)> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::StartBuild {
                image,
                placement: Some(p),
                ..
            } => Some((*image, p.clone())),
            _ => None,
        })
        .collect()
}

fn build_all(a: &mut App) -> Vec<Command> {
    update(
        a,
        Msg::BuildRequested {
            images: vec![0, 1, 2, 3],
            at: t(0.0),
        },
    )
}

#[test]
fn children_go_where_the_parent_is_then_elsewhere_with_the_parent_moved() {
    let mut a = app(&[]);
    let first = placed(&build_all(&mut a));
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].0, 0);
    assert_eq!(
        first[0].1.engine, 0,
        "base: least loaded, the earlier engine"
    );
    assert_eq!(first[0].1.parents, vec![]);
    // base built on e1: web goes to e1 (its parent's engine, free); api is
    // pinned to e3 and gets base moved there, by id, with its tags.
    let next = placed(&built(&mut a, 0, 1.0));
    let web = next.iter().find(|(i, _)| *i == 1).unwrap();
    let api = next.iter().find(|(i, _)| *i == 2).unwrap();
    assert_eq!(web.1.engine, 0);
    assert_eq!(web.1.parents, vec![]);
    assert_eq!(api.1.engine, 2);
    assert_eq!(
        api.1.parents,
        vec![Move {
            name: "base".into(),
            id: format!("sha256:{:064x}", 1),
            tags: vec!["base:latest".into()],
            from: 0,
        }]
    );
    assert_eq!(api.1.collect_to, Some(0), "collected on the first engine");
    assert_eq!(web.1.collect_to, None, "built there already");
}

#[test]
fn a_pin_on_an_engine_out_of_the_run_fails_saying_why() {
    let mut a = app(&[2]);
    build_all(&mut a);
    let cmds = built(&mut a, 0, 1.0);
    let failed = emitted(&cmds)
        .into_iter()
        .find(|e| e.image.as_deref() == Some("api"))
        .map(|e| serde_json::to_value(&e).unwrap())
        .unwrap();
    assert_eq!(failed["type"], "failed");
    let error = failed["error"].as_str().unwrap();
    assert!(error.contains("pinned to engine 'e3'"), "{error}");
    assert!(error.contains("unreachable at the start"), "{error}");
}

#[test]
fn a_lost_engine_cancels_its_builds_and_retries_them_elsewhere_once() {
    let mut a = app(&[]);
    build_all(&mut a);
    // base on e1; then web on e1, api (pinned) on e3, cli on e2 with base
    // moved from e1.
    let next = placed(&built(&mut a, 0, 1.0));
    let cli = next.iter().find(|(i, _)| *i == 3).unwrap();
    assert_eq!(cli.1.engine, 1);
    assert_eq!(cli.1.parents[0].from, 0);
    // e2 stops answering: cli is cancelled there and queued again; every
    // other engine is busy, so it waits.
    let cli_run = a.images[3].run;
    let lost = |a: &mut App, engine, at| {
        update(
            a,
            Msg::EngineLost {
                engine,
                why: "no answer to a ping within 5s".into(),
                at: t(at),
            },
        )
    };
    let cmds = lost(&mut a, 1, 2.0);
    assert!(cmds.contains(&Command::Cancel {
        run: cli_run,
        image: 3
    }));
    assert!(placed(&cmds).is_empty(), "no free slot: it waits");
    let said: Vec<String> = emitted(&cmds)
        .iter()
        .map(|e| serde_json::to_string(e).unwrap())
        .collect();
    assert!(
        said.iter().any(|n| n.contains("engine 'e2' was lost")),
        "{said:?}"
    );
    assert!(
        said.iter()
            .any(|n| n.contains("retrying on another engine")),
        "{said:?}"
    );
    // web done on e1: cli goes there, where base is (nothing to move).
    let again = placed(&built(&mut a, 1, 3.0));
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].0, again[0].1.engine), (3, 0));
    assert!(again[0].1.parents.is_empty());
    // api, pinned to e3, is lost with e3: it fails, not retried.
    let cmds = lost(&mut a, 2, 4.0);
    assert!(placed(&cmds).is_empty());
    let failed: Vec<String> = emitted(&cmds)
        .iter()
        .filter(|e| e.image.as_deref() == Some("api"))
        .map(|e| serde_json::to_string(e).unwrap())
        .collect();
    assert!(
        failed
            .iter()
            .any(|f| f.contains("\"failed\"") && f.contains("engine 'e3' was lost")),
        "{failed:?}"
    );
}

#[test]
fn a_parent_only_on_a_lost_engine_fails_its_children_saying_so() {
    // e3 out from the start; api pinned to e2; nothing collects.
    let opts = RunOptions {
        engines: slots(&[2]),
        ..RunOptions::default()
    };
    let mut a = app_with(&STACK.replace("engine: e3", "engine: e2"), &opts);
    a.collect = false;
    build_all(&mut a);
    // base on e1; web on e1, api on e2, cli waits for a slot.
    built(&mut a, 0, 1.0);
    assert_eq!(a.images[1].engine, Some(0));
    assert_eq!(a.images[2].engine, Some(1));
    // e1 is lost: base is only there. When api frees e2, web (retried) and
    // cli cannot get base from anywhere: they fail, saying so.
    update(
        &mut a,
        Msg::EngineLost {
            engine: 0,
            why: "connection refused".into(),
            at: t(2.0),
        },
    );
    let cmds = built(&mut a, 2, 3.0);
    assert!(placed(&cmds).is_empty());
    for name in ["web", "cli"] {
        let failed = emitted(&cmds)
            .into_iter()
            .find(|e| e.image.as_deref() == Some(name))
            .map(|e| serde_json::to_string(&e).unwrap())
            .unwrap_or_default();
        assert!(
            failed.contains("\"failed\"")
                && failed.contains("its parent base is only on engine 'e1', which left the run"),
            "{name}: {failed}"
        );
    }
}

#[test]
fn the_dashboard_shows_a_move_and_each_engines_load() {
    use kiln::protocol::EngineEvent;
    use model_support::{engine, key, render};
    let mut a = app(&[]);
    a.view.color = false;
    build_all(&mut a);
    built(&mut a, 0, 1.0);
    engine(
        &mut a,
        2,
        1.5,
        EngineEvent::Transfer {
            of: "base".into(),
            from: "e1".into(),
            to: "e3".into(),
            bytes: 1_000_000,
            total: 2_000_000,
            done: false,
            registry: None,
        },
    );
    // api's row says what it moves; the status bar each engine's load.
    let screen = render(&mut a, 140, 30);
    assert!(screen.contains("moving base 1.00 MB"), "{screen}");
    assert!(screen.contains("e1 1/1 · e2 1/1 · e3 1/1"), "{screen}");
    // api selected: the bar under its log.
    key(&mut a, crossterm::event::KeyCode::Down, 2.0);
    key(&mut a, crossterm::event::KeyCode::Down, 2.0);
    let screen = render(&mut a, 140, 30);
    assert!(
        screen.contains("moving base e1 → e3 1.00 MB / 2.00 MB"),
        "{screen}"
    );
}

#[test]
fn a_move_through_the_registry_says_so_in_the_bar_the_log_and_json() {
    use kiln::protocol::EngineEvent;
    use model_support::{engine, key, render};
    let mut a = app(&[]);
    a.view.color = false;
    build_all(&mut a);
    built(&mut a, 0, 1.0);
    let moving = |bytes, done| EngineEvent::Transfer {
        of: "base".into(),
        from: "e1".into(),
        to: "e3".into(),
        bytes,
        total: 4_000_000,
        done,
        registry: Some("reg.lan:5000/kiln".into()),
    };
    let start = engine(&mut a, 2, 1.5, moving(0, false));
    let json = serde_json::to_value(&emitted(&start)[0]).unwrap();
    assert_eq!(json["via"], "registry");
    assert_eq!(json["registry"], "reg.lan:5000/kiln");
    engine(&mut a, 2, 1.6, moving(1_000_000, false));
    key(&mut a, crossterm::event::KeyCode::Down, 2.0);
    key(&mut a, crossterm::event::KeyCode::Down, 2.0);
    let screen = render(&mut a, 140, 30);
    assert!(
        screen.contains("moving base e1 → e3 via registry 1.00 MB / 4.00 MB"),
        "{screen}"
    );
    assert!(
        screen
            .contains("moving base from engine e1 to engine e3 through registry reg.lan:5000/kiln"),
        "{screen}"
    );
    let done = engine(&mut a, 2, 2.5, moving(3_000_000, true));
    let json = serde_json::to_value(&emitted(&done)[0]).unwrap();
    assert_eq!(json["done"], true);
    assert_eq!(json["via"], "registry");
    // Streamed: `via` says so, and no `registry`.
    let streamed = engine(
        &mut a,
        2,
        3.0,
        EngineEvent::Transfer {
            of: "base".into(),
            from: "e1".into(),
            to: "e2".into(),
            bytes: 0,
            total: 0,
            done: false,
            registry: None,
        },
    );
    let json = serde_json::to_value(&emitted(&streamed)[0]).unwrap();
    assert_eq!(json["via"], "stream");
    assert!(json.get("registry").is_none(), "{json}");
}
