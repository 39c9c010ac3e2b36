//! One rendering per event: a run's lines in the dashboard's pane, written
//! to its saved log by the history's recorder, come back exactly as they
//! were shown (text and kind) when history opens and the pane replays the
//! log's tail. The run has a line of every kind the pane shows for an
//! event: cached, shared and interleaved steps, a notice of two lines, a
//! stall and its end, a slow step, and a failure of two lines.
#![allow(clippy::unwrap_used, clippy::string_slice)]

mod model_support;

use std::time::Duration;

use kiln::app::event::Event;
use kiln::app::log::LogLine;
use kiln::app::{update, App, Command, Msg};
use kiln::protocol::{
    BuildEvent, BuilderKind, EngineEvent, ImageHistory, LastRun, Phase, RunResult,
};
use model_support::*;

const BUILDER: &str = "[builder 3/4] RUN make";
const RUNTIME: &str = "[stage-1 4/4] RUN make test";

/// A BuildKit step `(cached, shared)`.
fn buildkit_step(
    app: &mut App,
    id: &str,
    name: &str,
    (cached, shared): (bool, bool),
    at: f64,
) -> Vec<Command> {
    engine(
        app,
        BASE,
        at,
        EngineEvent::Build(BuildEvent::Step {
            id: id.into(),
            index: None,
            total: None,
            name: name.into(),
            cached,
            shared,
        }),
    )
}

fn line_of(app: &mut App, step: &str, line: &str, at: f64) -> Vec<Command> {
    engine(
        app,
        BASE,
        at,
        EngineEvent::Build(BuildEvent::Log {
            step: Some(step.into()),
            line: line.into(),
        }),
    )
}

/// Base's run, as the model shows it, and the events it emitted.
fn a_run() -> (App, Vec<Event>) {
    let mut app = app();
    usually(&mut app, "base", RUNTIME, Duration::from_secs(1));
    let mut events = Vec::new();
    let mut keep = |cmds: Vec<Command>| events.extend(emitted(&cmds));
    keep(build(&mut app, &[BASE], 0.0));
    let started = EngineEvent::Started {
        builder: BuilderKind::Buildkit,
    };
    keep(engine(&mut app, BASE, 0.5, started));
    keep(buildkit_step(
        &mut app,
        "s1",
        "[1/4] FROM busybox",
        (true, false),
        0.6,
    ));
    keep(buildkit_step(
        &mut app,
        "s2",
        "[2/4] COPY . /src",
        (false, true),
        0.7,
    ));
    let notice = EngineEvent::Notice("BuildKit could not start\nfalling back".into());
    keep(engine(&mut app, BASE, 0.8, notice));
    keep(buildkit_step(&mut app, "b", BUILDER, (false, false), 1.0));
    keep(line_of(&mut app, "b", "cc -c a.c", 1.1));
    keep(buildkit_step(&mut app, "r", RUNTIME, (false, false), 1.2));
    keep(line_of(&mut app, "r", "test 1 ok", 1.3));
    keep(line_of(&mut app, "b", "cc -c b.c", 1.4));
    // Silent past stall_after (30 s): a stall, and the runtime's step (the
    // latest) is slower than usual; then output again.
    keep(tick(&mut app, 40.0));
    keep(line_of(&mut app, "b", "cc -c c.c", 41.0));
    let failed = EngineEvent::Failed {
        phase: Phase::Build,
        error: "process \"make\" did not complete\nexit code: 2".into(),
    };
    keep(engine(&mut app, BASE, 42.0, failed));
    (app, events)
}

/// The pane of an image this session has not built, when history opens
/// with `log` as its latest run's saved log.
fn replayed(log: Vec<String>) -> Vec<LogLine> {
    let mut app = app();
    let run = LastRun {
        result: RunResult::Failed,
        ended_ago: Some(Duration::from_secs(60)),
        as_of: t(0.0),
        duration: Some(Duration::from_secs(42)),
        image_id: None,
        error: None,
        last_step: None,
        log_path: None,
        log_tail: log,
        id: 1,
        by_other: true,
    };
    update(
        &mut app,
        Msg::HistoryKnown(vec![(
            "base".into(),
            ImageHistory {
                last_run: Some(run),
                ..ImageHistory::default()
            },
        )]),
    );
    // The first line says where the rest comes from.
    app.images[BASE].log.iter().skip(1).cloned().collect()
}

#[test]
fn a_saved_log_replays_exactly_as_it_was_shown() {
    let (app, events) = a_run();
    let shown: Vec<LogLine> = app.images[BASE].log.iter().cloned().collect();
    // The run has every kind of line the pane shows for an event.
    let texts: Vec<&str> = shown.iter().map(|l| l.text.as_str()).collect();
    for expected in [
        "[1/4] FROM busybox  CACHED",
        "[2/4] COPY . /src  SHARED",
        "falling back",
        "[builder 3/4] | cc -c b.c",
        "STALLED: build silent for 38s (in [stage-1 4/4] RUN make test)",
        "output resumed after 39s of silence",
        "exit code: 2",
    ] {
        assert!(texts.contains(&expected), "{expected:?} not in {texts:#?}");
    }
    assert!(
        texts.iter().any(|t| t.starts_with("slower than usual: ")),
        "{texts:#?}"
    );
    let log = saved_log(&events, "base");
    assert!(
        log.contains(&"==> [1/4] FROM busybox  (cached)".to_string()),
        "{log:#?}"
    );
    assert_eq!(replayed(log), shown);
}
