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
            tags: vec!["r:5000/a:1".into()]
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
            tags: vec!["r:5000/b:1".into()]
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
