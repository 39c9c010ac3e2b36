//! The model's timers on a fake clock: stalls, resumes, timeouts, slow
//! steps and the scheduler, as sequences of messages in and events out.
#![allow(clippy::unwrap_used, clippy::string_slice)]

mod model_support;

use std::time::{Duration, Instant};

use kiln::app::event::EventKind;
use kiln::app::status::Status;
use kiln::app::{update, Command, Msg, RunOptions};
use kiln::protocol::{ChangeCheck, EngineEvent, ImageHistory, Phase, SkipReason};
use model_support::*;

const STACK: &str = "
defaults: {stall_after: 60s, timeout: 10m, jobs: 1}
images:
  - {name: base, image: 'x/base:1'}
  - {name: web, image: 'x/web:1', depends_on: [base]}
  - {name: solo, image: 'x/solo:1'}
";

#[test]
fn jobs_limit_and_dependencies_decide_what_starts() {
    let mut a = app_from(STACK);
    let t0 = Instant::now();
    let cmds = build(&mut a, &[0, 1, 2], t0);
    let starts: Vec<_> = cmds
        .iter()
        .filter(|c| matches!(c, Command::StartBuild { .. }))
        .collect();
    // jobs: 1 — only base starts; web waits for base, solo for a slot.
    assert_eq!(
        starts,
        vec![&Command::StartBuild {
            run: a.images[0].run,
            image: 0,
            overrides: None,
            check: ChangeCheck::Off,
            placement: None,
        }]
    );
    assert_eq!(a.images[1].status, Status::Queued);
    let cmds = engine(
        &mut a,
        0,
        t0 + Duration::from_secs(1),
        EngineEvent::Built {
            image_id: "sha256:1".into(),
        },
    );
    assert!(cmds.contains(&Command::StartBuild {
        run: a.images[1].run,
        image: 1,
        overrides: None,
        check: ChangeCheck::Off,
        placement: None,
    }));
    assert_eq!(
        a.images[2].status,
        Status::Queued,
        "still one job at a time"
    );
}

#[test]
fn silence_past_stall_after_is_a_stall_and_output_resumes_it() {
    let mut a = app_from(STACK);
    let t0 = Instant::now();
    build(&mut a, &[0], t0);
    engine(&mut a, 0, t0, step_event("RUN make"));
    assert!(kinds(&tick(&mut a, t0 + Duration::from_secs(59))).is_empty());
    assert_eq!(a.images[0].status, Status::Building);

    let k = kinds(&tick(&mut a, t0 + Duration::from_secs(61)));
    assert_eq!(
        k,
        vec![EventKind::Stalled {
            silent_ms: 61_000,
            phase: Phase::Build,
            step: Some("RUN make".into())
        }]
    );
    assert_eq!(a.images[0].status, Status::Stalled(Phase::Build));
    assert_eq!(
        a.images[0].silent_for(t0 + Duration::from_secs(72)),
        Some(Duration::from_secs(72))
    );
    // Reported once, not on every tick.
    assert!(kinds(&tick(&mut a, t0 + Duration::from_secs(70))).is_empty());

    let k = kinds(&engine(
        &mut a,
        0,
        t0 + Duration::from_secs(75),
        log_event("finally"),
    ));
    assert_eq!(k[0], EventKind::Resumed { silent_ms: 75_000 });
    assert_eq!(a.images[0].status, Status::Building);

    // A second silence is a second stall, measured from the last output.
    let k = kinds(&tick(&mut a, t0 + Duration::from_secs(136)));
    assert!(
        matches!(
            k[0],
            EventKind::Stalled {
                silent_ms: 61_000,
                ..
            }
        ),
        "{k:?}"
    );
}

#[test]
fn a_build_past_its_timeout_is_cancelled_and_its_dependents_skipped() {
    let mut a = app_from(
        "
defaults: {timeout: 30s, stall_after: 1h}
images:
  - {name: base, image: 'x/base:1'}
  - {name: web, image: 'x/web:1', depends_on: [base]}
",
    );
    let t0 = Instant::now();
    build(&mut a, &[0, 1], t0);
    engine(
        &mut a,
        0,
        t0 + Duration::from_secs(29),
        log_event("still going"),
    );
    let cmds = tick(&mut a, t0 + Duration::from_secs(30));
    assert!(cmds.contains(&Command::Cancel {
        run: a.images[0].run,
        image: 0
    }));
    let k = kinds(&cmds);
    assert_eq!(k[0], EventKind::TimedOut { after_ms: 30_000 });
    assert_eq!(
        k[1],
        EventKind::Skipped {
            reason: SkipReason::DependencyFailed
        }
    );
    assert_eq!(a.images[0].status, Status::TimedOut);
    assert!(a.is_idle());
    assert_eq!(a.exit_code(), 1);
    // Late output from the cancelled build is dropped.
    assert!(engine(&mut a, 0, t0 + Duration::from_secs(31), log_event("late")).is_empty());
}

#[test]
fn a_step_well_past_its_usual_duration_is_flagged_once() {
    let mut a = app_from(STACK);
    let t0 = Instant::now();
    // What history knows arrives when it opens, before anything builds.
    update(
        &mut a,
        Msg::HistoryKnown(vec![(
            "base".into(),
            ImageHistory {
                last_success: None,
                last_run: None,
                usual_steps: vec![
                    ("RUN make".into(), Duration::from_secs(4)),
                    ("RUN test".into(), Duration::from_secs(6)),
                ],
                built_on: Vec::new(),
            },
        )]),
    );
    build(&mut a, &[0], t0);
    assert_eq!(a.images[0].eta(t0), Some(Duration::from_secs(10)));
    engine(&mut a, 0, t0, step_event("RUN make"));
    // 3x usual is 12 s, but the margin asks for more than usual + 10 s = 14 s.
    for s in [5, 12, 13] {
        engine(&mut a, 0, t0 + Duration::from_secs(s), log_event("tick"));
        let k = kinds(&tick(&mut a, t0 + Duration::from_secs(s)));
        assert!(
            !k.iter().any(|k| matches!(k, EventKind::SlowStep { .. })),
            "flagged at {s}s"
        );
    }
    engine(&mut a, 0, t0 + Duration::from_secs(15), log_event("tick"));
    let k = kinds(&tick(&mut a, t0 + Duration::from_secs(15)));
    assert_eq!(
        k,
        vec![EventKind::SlowStep {
            name: "RUN make".into(),
            elapsed_ms: 15_000,
            usual_ms: 4_000
        }]
    );
    assert!(kinds(&tick(&mut a, t0 + Duration::from_secs(16))).is_empty());
}

#[test]
fn without_history_nothing_is_slow() {
    let mut a = app_from(STACK);
    let t0 = Instant::now();
    build(&mut a, &[0], t0);
    engine(&mut a, 0, t0, step_event("RUN make"));
    for s in (10..600).step_by(10) {
        engine(&mut a, 0, t0 + Duration::from_secs(s), log_event("tick"));
        let k = kinds(&tick(&mut a, t0 + Duration::from_secs(s)));
        assert!(!k.iter().any(|k| matches!(k, EventKind::SlowStep { .. })));
    }
    assert_eq!(a.images[0].eta(t0), None);
}

#[test]
fn ctrl_c_cancels_running_and_queued_images() {
    let mut a = app_from(STACK);
    let t0 = Instant::now();
    build(&mut a, &[0, 1, 2], t0);
    let cmds = update(&mut a, Msg::Interrupt(t0 + Duration::from_secs(2)));
    assert!(cmds.contains(&Command::Cancel {
        run: a.images[0].run,
        image: 0
    }));
    assert!(a.images.iter().all(|i| i.status == Status::Cancelled));
    assert!(a.is_idle());
    assert_eq!(a.exit_code(), 130);
}

#[test]
fn the_daemon_going_silent_is_reported_once_and_its_return_too() {
    let mut a = app_from(STACK);
    let down = || Msg::DaemonHealth {
        ok: false,
        detail: "connection refused".into(),
    };
    let k = kinds(&update(&mut a, down()));
    assert_eq!(
        k,
        vec![EventKind::Notice {
            message: "the Docker daemon is not answering: connection refused".into()
        }]
    );
    assert!(kinds(&update(&mut a, down())).is_empty());
    let k = kinds(&update(
        &mut a,
        Msg::DaemonHealth {
            ok: true,
            detail: String::new(),
        },
    ));
    assert_eq!(
        k,
        vec![EventKind::Notice {
            message: "the Docker daemon is answering again".into()
        }]
    );
    assert_eq!(a.daemon_down, None);
}

/// The check a StartBuild of image 0 carries, once history is open.
fn first_check(yaml: &str, opts: RunOptions) -> ChangeCheck {
    let mut a = app_with(yaml, &opts);
    update(&mut a, Msg::HistoryKnown(Vec::new()));
    let cmds = build(&mut a, &[0], Instant::now());
    cmds.into_iter()
        .find_map(|c| match c {
            Command::StartBuild { check, .. } => Some(check),
            _ => None,
        })
        .expect("image 0 starts")
}

#[test]
fn pulling_builds_ask_the_registries_as_part_of_change_detection() {
    let plain = "images:\n  - {name: base, image: 'x/base:1'}\n";
    assert_eq!(
        first_check(plain, RunOptions::default()),
        ChangeCheck::Against {
            last: None,
            registry: false
        }
    );
    let pull = RunOptions {
        pull: true,
        ..Default::default()
    };
    assert_eq!(
        first_check(plain, pull.clone()),
        ChangeCheck::Against {
            last: None,
            registry: true
        }
    );
    let per_image = "images:\n  - {name: base, image: 'x/base:1', pull: true}\n";
    assert_eq!(
        first_check(per_image, RunOptions::default()),
        ChangeCheck::Against {
            last: None,
            registry: true
        }
    );
    let forced = RunOptions {
        force: true,
        ..pull
    };
    assert_eq!(
        first_check(plain, forced),
        ChangeCheck::Forced { registry: true }
    );
}

#[test]
fn a_stop_cancels_everything_and_its_reason_sets_the_exit_code() {
    use kiln::app::Stop;
    for (why, code) in [
        (Stop::Interrupt, 130),
        (Stop::Terminate, 143),
        (Stop::Hangup, 129),
        (Stop::OutputClosed, 1),
    ] {
        let mut a = app_from(STACK);
        let t0 = Instant::now();
        build(&mut a, &[0, 1, 2], t0);
        let at = t0 + Duration::from_secs(1);
        let cmds = update(&mut a, Msg::Stop { why, at });
        assert!(cmds.contains(&Command::Quit), "{why:?}");
        let cancelled = kinds(&cmds)
            .iter()
            .filter(|k| matches!(k, EventKind::Cancelled { .. }))
            .count();
        assert_eq!(cancelled, 3, "{why:?}: every image is cancelled");
        // A second stop does not change how the first one ends the run.
        update(&mut a, Msg::Interrupt(at));
        assert_eq!(a.exit_code(), code, "{why:?}");
    }
}
