//! Several engines in the model: where `update` places each build (the
//! rule of `app/placement.rs`), the parents a child's placement moves,
//! collecting, a pin on an engine out of the run, and an engine lost
//! mid-run (its builds cancelled and retried once elsewhere, a pinned one
//! failed), pushes from the engine that holds the image, an engine that
//! answers again rejoining, and `--jobs` across engines. Made-up
//! instants; no daemon.
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

/// What a batch says, each event as JSON text.
fn said(cmds: &[Command]) -> Vec<String> {
    emitted(cmds)
        .iter()
        .map(|e| serde_json::to_string(e).unwrap())
        .collect()
}

/// The runtime's answer to a rejoining engine's lookup: which of the ids
/// asked about are `present` there, at `at` seconds.
fn engine_back(a: &mut App, engine: usize, present: Vec<String>, at: f64) -> Vec<Command> {
    update(
        a,
        Msg::EngineBack {
            engine,
            present,
            at: t(at),
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
    let said = said(&cmds);
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

/// The engine each push of a batch goes from, by image.
fn pushes(cmds: &[Command]) -> Vec<(usize, Option<usize>)> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::Push { image, engine, .. } => Some((*image, *engine)),
            _ => None,
        })
        .collect()
}

/// The `failed` event of `name` in a batch, as JSON text.
fn failure(cmds: &[Command], name: &str) -> String {
    emitted(cmds)
        .into_iter()
        .filter(|e| e.image.as_deref() == Some(name))
        .map(|e| serde_json::to_string(&e).unwrap())
        .find(|e| e.contains("\"failed\""))
        .unwrap_or_default()
}

fn pushing_app(down: &[usize], collect: bool) -> App {
    let opts = RunOptions {
        engines: slots(down),
        push: true,
        ..RunOptions::default()
    };
    let mut a = app_with(STACK, &opts);
    a.collect = collect;
    a
}

#[test]
fn build_push_goes_from_the_first_engine_once_collected_else_from_where_it_was_built() {
    for (collect, from) in [(true, 0), (false, 2)] {
        let mut a = pushing_app(&[], collect);
        build_all(&mut a);
        built(&mut a, 0, 1.0);
        // api, pinned to e3, built there: collected on e1 or not.
        assert_eq!(a.images[2].engine, Some(2));
        let cmds = built(&mut a, 2, 2.0);
        assert_eq!(pushes(&cmds), vec![(2, Some(from))], "collect: {collect}");
        // base built on e1 pushes from e1 either way.
        assert_eq!(a.images[0].held_on, vec![0]);
    }
}

fn last_success_on(a: &mut App, image: &str, engine: &str) {
    use kiln::protocol::{ImageHistory, LastSuccess};
    let facts = ImageHistory {
        last_success: Some(LastSuccess {
            digest: "d".into(),
            image_id: format!("sha256:{:064x}", 9),
            inputs: None,
            engine: Some(engine.into()),
        }),
        ..ImageHistory::default()
    };
    update(a, Msg::HistoryKnown(vec![(image.into(), facts)]));
}

fn push_request(a: &mut App, images: Vec<usize>) -> Vec<Command> {
    update(a, Msg::PushRequested { images, at: t(0.0) })
}

#[test]
fn kiln_push_goes_from_the_first_engine_with_collect_else_from_the_last_builds_engine() {
    // collect: true: the first engine, which every build collects on.
    let mut a = pushing_app(&[], true);
    last_success_on(&mut a, "web", "e2");
    assert_eq!(pushes(&push_request(&mut a, vec![1])), vec![(1, Some(0))]);
    // collect: false: where its last success was built.
    let mut a = pushing_app(&[], false);
    last_success_on(&mut a, "web", "e2");
    assert_eq!(pushes(&push_request(&mut a, vec![1])), vec![(1, Some(1))]);
    // With no engine recorded, nothing is pushed from a guess.
    let cmds = push_request(&mut a, vec![3]);
    assert!(pushes(&cmds).is_empty());
    let failed = failure(&cmds, "cli");
    assert!(
        failed.contains("\"phase\":\"push\"") && failed.contains("no engine is known to hold"),
        "{failed}"
    );
}

#[test]
fn a_push_whose_engine_is_out_of_the_run_fails_naming_it() {
    let mut a = pushing_app(&[0], true);
    let cmds = push_request(&mut a, vec![1]);
    assert!(pushes(&cmds).is_empty());
    let failed = failure(&cmds, "web");
    assert!(
        failed.contains("cannot push from engine 'e1'")
            && failed.contains("out of this run: unreachable at the start"),
        "{failed}"
    );
    let mut a = pushing_app(&[1], false);
    last_success_on(&mut a, "web", "e2");
    let failed = failure(&push_request(&mut a, vec![1]), "web");
    assert!(failed.contains("cannot push from engine 'e2'"), "{failed}");
    // Built this session on e3 without collecting, then e3 is lost: the
    // push after a `p` fails naming e3, not pushing e1's stale image.
    let mut a = pushing_app(&[], false);
    a.images[2].push.enabled = false;
    build_all(&mut a);
    built(&mut a, 0, 1.0);
    built(&mut a, 2, 2.0);
    update(
        &mut a,
        Msg::EngineLost {
            engine: 2,
            why: "connection refused".into(),
            at: t(3.0),
        },
    );
    let failed = failure(&push_request(&mut a, vec![2]), "api");
    assert!(
        failed.contains("cannot push from engine 'e3'")
            && failed.contains("lost: connection refused"),
        "{failed}"
    );
}

fn lose(a: &mut App, engine: usize, at: f64) -> Vec<Command> {
    update(
        a,
        Msg::EngineLost {
            engine,
            why: "no answer to a ping within 5s".into(),
            at: t(at),
        },
    )
}

#[test]
fn a_lost_engine_that_answers_again_rejoins_once_its_images_are_looked_up() {
    let mut a = app(&[]);
    a.collect = false;
    build_all(&mut a);
    built(&mut a, 0, 1.0); // base on e1; web e1, api e3, cli e2
    lose(&mut a, 2, 2.0); // api, pinned there, fails
    assert!(a.engines[2].down.is_some());
    assert!(!a.engine_loads()[2].up);
    // e3 answers: the model asks which of its images are there (none
    // were built there) before it takes builds again.
    let cmds = update(
        &mut a,
        Msg::EngineAnswers {
            engine: 2,
            at: t(3.0),
        },
    );
    assert_eq!(
        cmds,
        vec![Command::RejoinEngine {
            engine: 2,
            ids: vec![]
        }]
    );
    assert!(a.engines[2].down.is_some(), "not before the lookup");
    let cmds = engine_back(&mut a, 2, vec![], 3.5);
    let said = said(&cmds);
    assert!(
        said.iter()
            .any(|n| n.contains("engine 'e3' answers again and rejoins this run")),
        "{said:?}"
    );
    assert!(a.engines[2].down.is_none());
    assert!(a.engine_loads()[2].up);
    // It takes builds again: api, pinned there, builds there now, with
    // base moved from e1.
    assert!(a.images[2].status.is_failure());
    let cmds = update(
        &mut a,
        Msg::BuildRequested {
            images: vec![2],
            at: t(4.0),
        },
    );
    let (i, p) = placed(&cmds).into_iter().next().expect("api placed");
    assert_eq!((i, p.engine), (2, 2));
    assert_eq!(p.parents[0].from, 0);
}

#[test]
fn images_an_engine_lost_are_not_counted_on_there_after_it_rejoins() {
    // base built on e1, nothing collects; e1 is lost, then answers again
    // without base: a child of base fails rather than building on a
    // base that is not there.
    let opts = RunOptions {
        engines: slots(&[]),
        ..RunOptions::default()
    };
    let mut a = app_with(&STACK.replace("engine: e3", "engine: e1"), &opts);
    a.collect = false;
    build_all(&mut a);
    built(&mut a, 0, 1.0); // web on e1, api (pinned to e1) waits, cli on e2
    assert_eq!(a.images[0].held_on, vec![0]);
    lose(&mut a, 0, 2.0);
    let cmds = update(
        &mut a,
        Msg::EngineAnswers {
            engine: 0,
            at: t(3.0),
        },
    );
    let base_id = format!("sha256:{:064x}", 1);
    assert_eq!(
        cmds,
        vec![Command::RejoinEngine {
            engine: 0,
            ids: vec![base_id.clone()]
        }]
    );
    // Lost again before the lookup came back: the answer is stale.
    lose(&mut a, 0, 3.2);
    let cmds = engine_back(&mut a, 0, vec![base_id], 3.5);
    assert!(emitted(&cmds).is_empty(), "{cmds:?}");
    assert!(a.engines[0].down.is_some());
    // Next answer: base is gone from e1.
    update(
        &mut a,
        Msg::EngineAnswers {
            engine: 0,
            at: t(8.0),
        },
    );
    let cmds = engine_back(&mut a, 0, vec![], 8.5);
    let said = said(&cmds);
    assert!(
        said.iter()
            .any(|n| n.contains("rejoins this run (without base, no longer there)")),
        "{said:?}"
    );
    assert!(a.images[0].held_on.is_empty());
    // Nor is it pushed from anywhere.
    a.collect = true;
    let pushed = failure(&push_request(&mut a, vec![0]), "base");
    assert!(
        pushed.contains("its image is on no engine of this run"),
        "{pushed}"
    );
    // A child of base asked for now fails, saying why.
    let cmds = update(
        &mut a,
        Msg::BuildRequested {
            images: vec![1],
            at: t(9.0),
        },
    );
    assert!(placed(&cmds).is_empty());
    let all = failure(&cmds, "web");
    assert!(
        all.contains(
            "its parent base is on no engine of this run: engine 'e1' rejoined without it"
        ),
        "{all}"
    );
}

#[test]
fn jobs_caps_the_builds_at_once_across_engines() {
    let opts = RunOptions {
        engines: slots(&[]),
        jobs: Some(2),
        ..RunOptions::default()
    };
    let mut a = app_with(STACK, &opts);
    build_all(&mut a);
    let next = placed(&built(&mut a, 0, 1.0));
    // Three children could start (one per engine): two do.
    assert_eq!(next.len(), 2, "{next:?}");
    assert_eq!(a.running(), 2);
    let next = placed(&built(&mut a, next[0].0, 2.0));
    assert_eq!(next.len(), 1);
}
