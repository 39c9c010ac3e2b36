//! The push part of the model as plain `update` sequences with made-up
//! instants: build → push → done, per-layer stalls and resumes, the push's
//! own timeout clock, failures that leave dependents alone, `kiln push`.
#![allow(clippy::unwrap_used, clippy::string_slice)]

mod model_support;

use std::time::Instant;

use kiln::app::event::EventKind;
use kiln::app::status::Status;
use kiln::app::{update, App, Command, Msg, RunOptions};
use kiln::protocol::{ChangeCheck, EngineEvent, Phase, PushEvent};
use model_support::*;

const STACK: &str = r#"
defaults: {stall_after: 60s, timeout: 10m}
images:
  - name: a
    image: r:5000/a:1
    push: true
  - name: b
    image: r:5000/b:1
    depends_on: [a]
"#;

/// An App and messages to it at seconds after the base (`t`).
struct Run {
    app: App,
}

impl Run {
    fn new(yaml: &str, opts: RunOptions) -> Run {
        Run {
            app: app_with(yaml, &opts),
        }
    }
    fn at(&self, secs: f64) -> Instant {
        t(secs)
    }
    fn send(&mut self, msg: Msg) -> Vec<Command> {
        update(&mut self.app, msg)
    }
    fn engine(&mut self, image: usize, secs: f64, event: EngineEvent) -> Vec<Command> {
        engine(&mut self.app, image, secs, event)
    }
    fn tick(&mut self, secs: f64) -> Vec<Command> {
        tick(&mut self.app, secs)
    }
    fn layer(&mut self, secs: f64, id: &str, status: &str, cur: Option<u64>) -> Vec<Command> {
        self.engine(
            0,
            secs,
            EngineEvent::Push {
                tag: "r:5000/a:1".into(),
                event: PushEvent::Layer {
                    id: id.into(),
                    status: status.into(),
                    current: cur,
                    total: cur.map(|_| 1_000_000),
                },
            },
        )
    }
}

/// Build `a` (push: true) up to the start of its push at t=10.
fn built_and_pushing() -> (Run, Vec<Command>) {
    let mut r = Run::new(STACK, RunOptions::default());
    let at = r.at(0.0);
    let cmds = r.send(Msg::BuildRequested {
        images: vec![0, 1],
        at,
    });
    assert!(cmds.contains(&Command::StartBuild {
        run: 1,
        image: 0,
        overrides: None,
        check: ChangeCheck::Off,
        placement: None,
    }));
    let cmds = r.engine(
        0,
        10.0,
        EngineEvent::Built {
            image_id: "sha256:aaa".into(),
        },
    );
    (r, cmds)
}

#[test]
fn a_built_image_with_push_goes_on_to_push_and_dependents_start() {
    let (mut r, cmds) = built_and_pushing();
    assert_eq!(r.app.images[0].status, Status::Pushing);
    assert!(
        cmds.contains(&Command::Push {
            run: 1,
            image: 0,
            tags: vec!["r:5000/a:1".into()],
            engine: None,
        }),
        "{cmds:?}"
    );
    // The dependent builds on the local image while `a` pushes.
    assert!(
        cmds.contains(&Command::StartBuild {
            run: 2,
            image: 1,
            overrides: None,
            check: ChangeCheck::Off,
            placement: None,
        }),
        "{cmds:?}"
    );
    assert_eq!(types(&cmds)[0], "built");
    assert!(!r.app.is_idle());

    let cmds = r.layer(11.0, "l1", "Preparing", None);
    assert_eq!(types(&cmds), ["push_progress"]);
    let cmds = r.engine(
        0,
        12.0,
        EngineEvent::Pushed {
            tag: "r:5000/a:1".into(),
            digest: "sha256:d".into(),
        },
    );
    assert!(matches!(kinds(&cmds)[..], [EventKind::Pushed { .. }]));
    r.engine(0, 12.0, EngineEvent::PushDone);
    assert_eq!(r.app.images[0].status, Status::Done);
    let pushed: Vec<(&str, &str)> = r.app.images[0]
        .push
        .pushed
        .iter()
        .map(|p| (p.tag.as_str(), p.digest.as_str()))
        .collect();
    assert_eq!(pushed, [("r:5000/a:1", "sha256:d")]);
    // `b` is prebuilt: skipped; then all is done and the run succeeded.
    r.engine(
        1,
        13.0,
        EngineEvent::Skipped(kiln::protocol::SkipReason::Prebuilt),
    );
    assert!(r.app.is_idle());
    assert_eq!(r.app.exit_code(), 0);
}

#[test]
fn a_silent_layer_stalls_the_push_and_its_progress_resumes_it() {
    let (mut r, _) = built_and_pushing();
    r.layer(11.0, "l1", "Pushing", Some(10));
    r.layer(11.0, "l2", "Pushing", Some(10));
    // l2 keeps moving; l1 is silent from t=11.
    let mut stalled = Vec::new();
    for s in 12..=75 {
        r.layer(s as f64, "l2", "Pushing", Some(s * 1000));
        // Only `a`'s events (`b` is building, silently, meanwhile).
        stalled.extend(
            r.tick(s as f64 + 0.5)
                .into_iter()
                .filter(|c| matches!(c, Command::Emit(e) if e.image.as_deref() == Some("a"))),
        );
    }
    let ev = kinds(&stalled);
    assert_eq!(ev.len(), 1, "{ev:?}");
    match &ev[0] {
        EventKind::Stalled {
            silent_ms,
            phase,
            step,
        } => {
            assert_eq!(*phase, Phase::Push);
            assert_eq!(*silent_ms, 60_500);
            assert_eq!(step.as_deref(), Some("layer l1"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(r.app.images[0].status, Status::Stalled(Phase::Push));
    // Another layer's progress does not resume it; l1's does.
    let cmds = r.layer(76.0, "l2", "Pushing", Some(80_000));
    assert!(!types(&cmds).contains(&"resumed".to_string()));
    let cmds = r.layer(80.0, "l1", "Pushing", Some(20));
    let ev = kinds(&cmds);
    assert!(
        ev.iter()
            .any(|k| matches!(k, EventKind::Resumed { silent_ms: 69_000 })),
        "{ev:?}"
    );
    assert_eq!(r.app.images[0].status, Status::Pushing);
}

#[test]
fn the_timeout_of_a_push_counts_from_the_push_start() {
    let yaml = STACK.replace("timeout: 10m", "timeout: 100s");
    let mut r = Run::new(&yaml, RunOptions::default());
    let at = r.at(0.0);
    r.send(Msg::BuildRequested {
        images: vec![0],
        at,
    });
    // The build took 90 s of the 100 s; the push gets its own 100 s.
    r.engine(
        0,
        90.0,
        EngineEvent::Built {
            image_id: "x".into(),
        },
    );
    for s in 91..190 {
        r.layer(s as f64, "l1", "Pushing", Some(s));
        let cmds = r.tick(s as f64);
        assert!(!types(&cmds).contains(&"timed_out".to_string()), "at {s}");
    }
    let cmds = r.tick(190.0);
    assert!(
        cmds.contains(&Command::Cancel { run: 1, image: 0 }),
        "{cmds:?}"
    );
    assert!(matches!(
        kinds(&cmds)[..],
        [EventKind::TimedOut { after_ms: 100_000 }]
    ));
    assert_eq!(r.app.images[0].status, Status::TimedOut);
}

#[test]
fn a_failed_push_fails_the_image_but_not_its_dependents() {
    let mut r = Run::new(
        &STACK.replace("{stall_after: 60s, timeout: 10m}", "{jobs: 1}"),
        RunOptions::default(),
    );
    let at = r.at(0.0);
    r.send(Msg::BuildRequested {
        images: vec![0, 1],
        at,
    });
    r.engine(
        0,
        1.0,
        EngineEvent::Built {
            image_id: "x".into(),
        },
    );
    // Many ticks, one emitted; the held-back last tick comes out before failed.
    r.layer(2.0, "l1", "Pushing", Some(1));
    r.layer(2.1, "l1", "Pushing", Some(2));
    let cmds = r.engine(
        0,
        2.2,
        EngineEvent::Failed {
            phase: Phase::Push,
            error: "authentication failed for registry r:5000".into(),
        },
    );
    assert_eq!(types(&cmds), ["push_progress", "failed"]);
    assert_eq!(r.app.images[0].status, Status::Failed(Phase::Push));
    assert_ne!(
        r.app.images[1].status,
        Status::Skipped(kiln::protocol::SkipReason::DependencyFailed)
    );
    r.engine(
        1,
        3.0,
        EngineEvent::Skipped(kiln::protocol::SkipReason::Prebuilt),
    );
    assert!(r.app.is_idle());
    assert_eq!(r.app.exit_code(), 1);
}

#[test]
fn kiln_push_pushes_without_building_and_cli_push_enables_it() {
    let mut r = Run::new(STACK, RunOptions::default());
    let at = r.at(0.0);
    let cmds = r.send(Msg::PushRequested {
        images: vec![1],
        at,
    });
    assert_eq!(
        cmds.iter()
            .filter(|c| !matches!(c, Command::Emit(_)))
            .collect::<Vec<_>>(),
        [&Command::Push {
            run: 1,
            image: 1,
            tags: vec!["r:5000/b:1".into()],
            engine: None,
        }]
    );
    assert_eq!(r.app.images[1].status, Status::Pushing);
    assert_eq!(r.app.images[0].status, Status::Idle);

    let app = app_with(
        STACK,
        &RunOptions {
            push: true,
            ..Default::default()
        },
    );
    assert!(app.images.iter().all(|i| i.push.enabled));
}

/// Local-only tags, a registry's tags, and `push_tags` choosing the latter.
const CHOSEN: &str = r#"
images:
  - name: base
  - name: api
    depends_on: [base]
    tags: [nu/api:latest, "r:5000/nu/api:1", "r:5000/nu/api:latest"]
    push_tags: ["r:5000/*"]
"#;

/// The Push command among `cmds`: its tags.
fn pushed_tags(cmds: &[Command]) -> Option<Vec<String>> {
    cmds.iter().find_map(|c| match c {
        Command::Push { tags, .. } => Some(tags.clone()),
        _ => None,
    })
}

#[test]
fn push_tags_choose_what_p_and_push_push() {
    use crossterm::event::KeyCode;
    let opts = RunOptions {
        push: true,
        ..RunOptions::default()
    };
    let mut r = Run::new(CHOSEN, opts);
    r.send(Msg::BuildRequested {
        images: vec![1],
        at: t(0.0),
    });
    built(&mut r.app, 0, 1.0);
    let cmds = built(&mut r.app, 1, 2.0);
    assert_eq!(
        pushed_tags(&cmds),
        Some(vec![
            "r:5000/nu/api:1".into(),
            "r:5000/nu/api:latest".into()
        ])
    );
    // base has no registry tag, and push_tags is its default (every tag).
    r.app.view.selected = 1;
    r.engine(1, 3.0, EngineEvent::PushDone);
    let cmds = key(&mut r.app, KeyCode::Char('p'), 4.0);
    assert_eq!(
        pushed_tags(&cmds),
        Some(vec![
            "r:5000/nu/api:1".into(),
            "r:5000/nu/api:latest".into()
        ])
    );
}

/// `kiln build --push api`: api pushes, base (built for it) does not.
#[test]
fn build_push_of_named_images_leaves_their_dependencies_alone() {
    let opts = RunOptions {
        push: true,
        push_images: Some(vec!["api".into()]),
        ..RunOptions::default()
    };
    let r = Run::new(CHOSEN, opts);
    assert!(!r.app.images[0].push.enabled, "base is not pushed");
    assert!(r.app.images[1].push.enabled);
    let all = RunOptions {
        push: true,
        ..RunOptions::default()
    };
    let r = Run::new(CHOSEN, all);
    assert!(r.app.images.iter().all(|i| i.push.enabled));
}

/// push_tags (from `defaults:`) that choose none of an image's tags: it is
/// done after its build, saying it pushed nothing; `p` says so too.
#[test]
fn push_tags_that_choose_nothing_push_nothing_and_say_so() {
    use crossterm::event::KeyCode;
    let yaml = "defaults: {push: true, push_tags: [\"r:5000/*\"]}\nimages:\n  - name: base\n";
    let mut r = Run::new(yaml, RunOptions::default());
    r.send(Msg::BuildRequested {
        images: vec![0],
        at: t(0.0),
    });
    let cmds = built(&mut r.app, 0, 1.0);
    assert_eq!(pushed_tags(&cmds), None);
    assert_eq!(r.app.images[0].status, Status::Done);
    let notices: Vec<String> = kinds(&cmds)
        .into_iter()
        .filter_map(|k| match k {
            EventKind::Notice { message } => Some(message),
            _ => None,
        })
        .collect();
    assert_eq!(
        notices,
        ["nothing to push: push_tags (r:5000/*) chooses none of its tags (base:latest)"]
    );
    let cmds = key(&mut r.app, KeyCode::Char('p'), 2.0);
    assert_eq!(pushed_tags(&cmds), None);
    assert_eq!(
        r.app.view.message.as_deref(),
        Some("base: nothing to push: push_tags (r:5000/*) chooses none of its tags (base:latest)")
    );
}

/// `p` on an unchanged image pushes what the daemon has, as `kiln push`
/// does, and says so; on one whose last build failed (in this session or
/// in history) it says why it does not push (not "it is idle").
#[test]
fn p_pushes_an_unchanged_image_and_refuses_a_failed_one() {
    use crossterm::event::KeyCode;
    use kiln::protocol::SkipReason;
    let mut app = model_support::app();
    build(&mut app, &[BASE], 0.0);
    engine(
        &mut app,
        BASE,
        1.0,
        EngineEvent::Skipped(SkipReason::Unchanged),
    );
    let cmds = key(&mut app, KeyCode::Char('p'), 2.0);
    assert_eq!(pushed_tags(&cmds), Some(vec!["base:latest".into()]));
    assert_eq!(
        app.view.message.as_deref(),
        Some("pushing base as the daemon has it, without building (base:latest)")
    );

    let mut app = model_support::app();
    update(&mut app, last_runs());
    let cmds = key(&mut app, KeyCode::Char('p'), 1.0);
    assert_eq!(pushed_tags(&cmds), None);
    assert_eq!(
        app.view.message.as_deref(),
        Some("base's last build failed: nothing fresh to push (b builds it, then p pushes)")
    );
    build(&mut app, &[BASE], 2.0);
    engine(
        &mut app,
        BASE,
        3.0,
        EngineEvent::Failed {
            phase: Phase::Build,
            error: "exit code: 2".into(),
        },
    );
    key(&mut app, KeyCode::Char('p'), 4.0);
    assert!(
        app.view
            .message
            .as_deref()
            .unwrap()
            .starts_with("base's last build failed"),
        "{:?}",
        app.view.message
    );
    // web was built an hour ago: pushed as the daemon has it.
    key(&mut app, KeyCode::Char('j'), 5.0);
    let cmds = key(&mut app, KeyCode::Char('p'), 5.0);
    assert_eq!(pushed_tags(&cmds), Some(vec!["example/web:latest".into()]));
    // A prebuilt image is not kiln's to push.
    app.view.selected = TOOLS;
    key(&mut app, KeyCode::Char('p'), 6.0);
    assert_eq!(
        app.view.message.as_deref(),
        Some("tools is a prebuilt image: kiln pushes only images it builds")
    );
}
