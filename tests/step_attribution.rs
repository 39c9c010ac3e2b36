//! Which step each line and each step name belongs to, on BuildKit streams
//! recorded from the real daemon (tests/fixtures/README.md): a multi-stage
//! build whose stages run at the same time, two concurrent builds sharing
//! their first steps, and two builds of byte-identical contexts. The
//! events go the engine's way (parser, then the image's own steps), then
//! through the model into the three readable views: the dashboard's log
//! pane, the saved log and `--plain`.
#![allow(clippy::unwrap_used, clippy::string_slice)]

mod model_support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bollard::models::BuildInfo;
use kiln::app::event::{Event, EventKind};
use kiln::app::{update, App, Command, Msg};
use kiln::engine::parse::BuildKitParser;
use kiln::engine::steps::OwnSteps;
use kiln::headless::{Format, Printer};
use kiln::protocol::{BuildEvent, BuilderKind, EngineEvent};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The events the engine makes of a recorded build of `context`'s
/// Dockerfile: parsed, made the image's own, and (the build succeeded)
/// the steps the stream never showed. Recorded with `nocache`.
fn engine_events(fixture: &str, context: &str) -> Vec<BuildEvent> {
    let dockerfile =
        std::fs::read_to_string(fixtures().join("contexts").join(context).join("Dockerfile"))
            .unwrap();
    let planned = kiln::config::buildkit_steps(&dockerfile, &Default::default(), None);
    let mut own = OwnSteps::new(planned, true);
    let mut parser = BuildKitParser::new();
    let mut events = Vec::new();
    for line in std::fs::read_to_string(fixtures().join(fixture))
        .unwrap()
        .lines()
    {
        let info: BuildInfo = serde_json::from_str(line).unwrap();
        let mut batch = Vec::new();
        parser.feed_info(&info, &mut batch);
        own.rewrite(&mut batch);
        events.extend(batch);
    }
    let mut rest = Vec::new();
    parser.finish(&mut rest);
    own.rewrite(&mut rest);
    own.unseen(&mut rest);
    events.extend(rest);
    events
}

/// (name, cached, shared) of every step that is not BuildKit's bookkeeping.
fn dockerfile_steps(events: &[BuildEvent]) -> Vec<(String, bool, bool)> {
    events
        .iter()
        .filter_map(|e| match e {
            BuildEvent::Step {
                name,
                cached,
                shared,
                ..
            } if !kiln::protocol::is_internal_step(name) => Some((name.clone(), *cached, *shared)),
            _ => None,
        })
        .collect()
}

/// One image, `app`, run through the model: every event the model emits.
fn through_the_model(events: Vec<BuildEvent>) -> (App, Vec<Event>) {
    let mut app = model_support::app_from("images:\n  - name: base\n");
    let start = Instant::now();
    let mut emitted = Vec::new();
    let mut send = |app: &mut App, msg: Msg| {
        for c in update(app, msg) {
            if let Command::Emit(e) = c {
                emitted.push(e);
            }
        }
    };
    send(
        &mut app,
        Msg::BuildRequested {
            images: vec![0],
            at: start,
        },
    );
    let engine = |n: u64, event| Msg::Engine {
        run: 1,
        image: 0,
        at: start + Duration::from_millis(n),
        event,
    };
    let mut all = vec![EngineEvent::Started {
        builder: BuilderKind::Buildkit,
    }];
    let image_id = events.iter().find_map(|e| match e {
        BuildEvent::ImageId(id) => Some(id.clone()),
        _ => None,
    });
    all.extend(events.into_iter().map(EngineEvent::Build));
    all.push(EngineEvent::Built {
        image_id: image_id.expect("the fixture has an image id"),
    });
    for (n, event) in all.into_iter().enumerate() {
        send(&mut app, engine(n as u64, event));
    }
    (app, emitted)
}

fn pane(app: &App) -> Vec<String> {
    app.images[0].log.iter().map(|l| l.text.clone()).collect()
}

fn plain(emitted: &[Event]) -> Vec<String> {
    let mut printer = Printer::new(Vec::new(), Format::Plain, &["base".to_string()]);
    for e in emitted {
        printer.print(e);
    }
    String::from_utf8(printer.into_inner())
        .unwrap()
        .lines()
        .map(|l| l.strip_prefix("base | ").unwrap_or(l).to_string())
        .collect()
}

/// The lines of `view` from the first that contains `from` to the first
/// after it that contains `to`.
fn between(view: &[String], from: &str, to: &str) -> Vec<String> {
    let start = view.iter().position(|l| l.contains(from)).unwrap();
    let end = start + view[start..].iter().position(|l| l.contains(to)).unwrap();
    view[start..=end].to_vec()
}

const BUILDER_RUN: &str =
    "[builder 2/3] RUN for i in 1 2 3 4 5 6; do echo \"builder line $i\"; sleep 0.4; done";
const RUNTIME_RUN: &str =
    "[stage-1 2/4] RUN for i in 1 2 3 4 5 6; do echo \"runtime line $i\"; sleep 0.4; done";

#[test]
fn parallel_stages_lines_are_attributed_to_their_own_step() {
    let events = engine_events("buildkit_parallel_stages.jsonl", "parallel");
    // Parsed: each line carries the vertex of its own stage's RUN.
    let step_of = |needle: &str| {
        events
            .iter()
            .find_map(|e| match e {
                BuildEvent::Step { id, name, .. } if name.as_str() == needle => Some(id.clone()),
                _ => None,
            })
            .unwrap()
    };
    let (builder, runtime) = (step_of(BUILDER_RUN), step_of(RUNTIME_RUN));
    let mut interleaved = Vec::new();
    for e in &events {
        if let BuildEvent::Log { step, line } = e {
            if line.starts_with("builder line") {
                assert_eq!(step.as_ref(), Some(&builder), "{line}");
                interleaved.push('b');
            } else if line.starts_with("runtime line") {
                assert_eq!(step.as_ref(), Some(&runtime), "{line}");
                interleaved.push('r');
            }
        }
    }
    assert_eq!(interleaved.iter().collect::<String>(), "brbrbrbrbrbr");

    // Rendered: after the second header, every change of step is marked.
    let (app, emitted) = through_the_model(events);
    let expected = |header: &dyn Fn(&str) -> String| {
        let mut lines = vec![header(BUILDER_RUN), header(RUNTIME_RUN)];
        lines.push("[builder 2/3] | builder line 1".into());
        lines.push("[stage-1 2/4] | runtime line 1".into());
        for i in 2..=6 {
            lines.push(format!("[builder 2/3] | builder line {i}"));
            lines.push(format!("[stage-1 2/4] | runtime line {i}"));
        }
        lines
    };
    let pane_view = pane(&app);
    assert_eq!(
        between(&pane_view, BUILDER_RUN, "runtime line 6"),
        expected(&|n: &str| n.to_string())
    );
    assert_eq!(
        between(
            &model_support::saved_log(&emitted, "base"),
            BUILDER_RUN,
            "runtime line 6"
        ),
        expected(&|n: &str| format!("==> {n}"))
    );
    assert_eq!(
        between(&plain(&emitted), BUILDER_RUN, "runtime line 6"),
        expected(&|n: &str| n.to_string())
    );
    // A step running alone is not marked.
    assert!(
        pane_view.contains(&"builder done".to_string()),
        "{pane_view:#?}"
    );

    // The JSON `log` event names the step as data, unmarked.
    let log = emitted
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::Log { line, step } if line == "runtime line 3" => Some(step.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(log.as_deref(), Some(RUNTIME_RUN));

    // The steps are the Dockerfile's: 7, the second FROM being the same
    // work as the first (one vertex), so shared.
    let built = emitted.iter().find_map(|e| match &e.kind {
        EventKind::Built {
            steps,
            cached_steps,
            ..
        } => Some((*steps, *cached_steps)),
        _ => None,
    });
    assert_eq!(built, Some((7, 0)));
}

#[test]
fn a_build_sharing_work_with_another_shows_its_own_steps() {
    // shared_b started while shared_a ran the same FROM and RUN: its
    // stream names them as shared_a's Dockerfile does, `[1/3]`, `[2/3]`.
    let raw = {
        let mut parser = BuildKitParser::new();
        let mut out = Vec::new();
        for line in std::fs::read_to_string(fixtures().join("buildkit_shared_b.jsonl"))
            .unwrap()
            .lines()
        {
            parser.feed_info(&serde_json::from_str(line).unwrap(), &mut out);
        }
        parser.finish(&mut out);
        dockerfile_steps(&out)
    };
    assert!(raw[0].0.starts_with("[1/3] FROM "), "{raw:?}");

    let shared_run =
        "RUN echo \"shared step\"; for i in 1 2 3 4; do echo \"shared line $i\"; sleep 0.5; done";
    let b = engine_events("buildkit_shared_b.jsonl", "shared_b");
    assert_eq!(
        dockerfile_steps(&b),
        vec![
            (
                "[builder 1/3] FROM docker.io/kilnfix/base".into(),
                false,
                true
            ),
            (format!("[builder 2/3] {shared_run}"), false, true),
            (
                "[builder 3/3] RUN echo \"builder of b\"".into(),
                false,
                false
            ),
            (
                "[stage-1 2/3] COPY --from=builder /bin/busybox /bb".into(),
                false,
                false
            ),
            ("[stage-1 3/3] RUN echo \"only in b\"".into(), false, false),
            // Never shown by the daemon: the first FROM's work.
            ("[stage-1 1/3] FROM kilnfix/base".into(), false, true),
        ]
    );
    let (app, emitted) = through_the_model(b);
    let pane_view = pane(&app);
    let header = format!("[builder 2/3] {shared_run}  SHARED");
    let at = pane_view.iter().position(|l| *l == header).unwrap();
    assert_eq!(pane_view[at + 1], "shared step");
    let log = model_support::saved_log(&emitted, "base");
    assert!(
        log.contains(&format!("==> [builder 2/3] {shared_run}  (shared)")),
        "{log:#?}"
    );
    assert!(!log.iter().any(|l| l.contains("[2/3]")), "{log:#?}");
    // Under --no-cache nothing counts as cached, the FROM included.
    assert!(emitted.iter().any(|e| matches!(
        e.kind,
        EventKind::Built {
            steps: 6,
            cached_steps: 0,
            ..
        }
    )));

    // shared_a, which ran them, keeps its own names, unshared.
    let a = dockerfile_steps(&engine_events("buildkit_shared_a.jsonl", "shared_a"));
    assert_eq!(a.len(), 3);
    assert!(a
        .iter()
        .all(|(n, cached, shared)| n.starts_with('[') && !cached && !shared));
    assert_eq!(a[1].0, format!("[2/3] {shared_run}"));
}

#[test]
fn a_build_whose_work_was_merged_into_an_identical_one_still_shows_its_steps() {
    // Two builds of byte-identical contexts: the daemon merged the first's
    // work into the second; the first's stream shows only its FROM.
    let first = engine_events("buildkit_twin_first.jsonl", "twin");
    let second = engine_events("buildkit_twin_second.jsonl", "twin");
    let twin_run =
        "RUN echo \"twin step\"; for i in 1 2 3 4; do echo \"twin line $i\"; sleep 0.5; done";
    assert_eq!(
        dockerfile_steps(&first),
        vec![
            ("[1/4] FROM docker.io/kilnfix/base".into(), false, false),
            ("[2/4] COPY file /file".into(), false, true),
            (format!("[3/4] {twin_run}"), false, true),
            ("[4/4] RUN cat /file".into(), false, true),
        ]
    );
    assert_eq!(dockerfile_steps(&second).len(), 4);
    assert!(dockerfile_steps(&second)
        .iter()
        .all(|(_, _, shared)| !shared));
    let (_, emitted) = through_the_model(first);
    let plain = plain(&emitted);
    assert!(
        plain.contains(&format!("[3/4] {twin_run}  (shared)")),
        "{plain:#?}"
    );
    assert!(
        plain
            .iter()
            .any(|l| l.starts_with("built ") && l.ends_with("(4 steps, 0 cached)")),
        "{plain:#?}"
    );
}
