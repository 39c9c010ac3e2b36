//! Shared by the model's tests (the dashboard's too: they draw the model):
//! an App from a YAML stack (contexts in a temp dir), messages at made-up
//! instants (seconds after one base, `t`, or any `Instant`), the events a
//! batch of commands emits, what the history's recorder saves of them,
//! and rendering to a TestBackend.
#![allow(dead_code)]

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};

use kiln::app::event::{Event, EventKind};
use kiln::app::{update, App, Command, Msg, RunOptions};
use kiln::history::{History, Recorder};
use kiln::protocol::{BuildEvent, BuilderKind, EngineEvent};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

/// base ← web, base ← api, and a prebuilt image; two jobs, 30 s stall limit.
pub const STACK: &str = "\
defaults:
  jobs: 2
  stall_after: 30s
images:
  - name: base
  - name: web
    depends_on: [base]
    args: {VERSION: \"1\"}
    tags: [example/web:latest]
  - name: api
    depends_on: [base]
  - name: tools
    image: alpine:3.20
";

pub const BASE: usize = 0;
pub const WEB: usize = 1;
pub const API: usize = 2;
pub const TOOLS: usize = 3;

pub fn app() -> App {
    app_from(STACK)
}

/// The App of `yaml` (its images `base`, `web` and `api` may build from
/// contexts of those names), drawn in colour.
pub fn app_from(yaml: &str) -> App {
    let mut app = app_with(yaml, &RunOptions::default());
    app.view.color = true;
    app
}

/// What the dashboard's frame calls the model tests' stack (the command
/// line sets it from where the file is; here it is fixed).
pub const LABEL: &str = "demo/kiln.yaml";

/// The App of `yaml` with the command line's `opts`.
pub fn app_with(yaml: &str, opts: &RunOptions) -> App {
    let dir = tempfile::tempdir().unwrap();
    for name in ["base", "web", "api"] {
        std::fs::create_dir_all(dir.path().join(name)).unwrap();
        std::fs::write(dir.path().join(name).join("Dockerfile"), "FROM scratch\n").unwrap();
    }
    let env = |_: &str| None;
    let mut config = kiln::config::load_str(&dir.path().join("kiln.yaml"), yaml, &env)
        .unwrap_or_else(|e| panic!("{e}"))
        .config;
    config.label = LABEL.to_string();
    App::new(&config, opts)
}

/// The instant `secs` seconds after a fixed base.
pub fn t(secs: f64) -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now) + Duration::from_secs_f64(secs)
}

/// When a message happens: seconds after the base (`t`), or an instant.
pub trait At {
    fn instant(self) -> Instant;
}

impl At for f64 {
    fn instant(self) -> Instant {
        t(self)
    }
}

impl At for Instant {
    fn instant(self) -> Instant {
        self
    }
}

pub fn key(app: &mut App, code: KeyCode, at: f64) -> Vec<Command> {
    key_mod(app, code, KeyModifiers::NONE, at)
}

pub fn key_mod(app: &mut App, code: KeyCode, mods: KeyModifiers, at: f64) -> Vec<Command> {
    update(
        app,
        Msg::Key {
            key: KeyEvent::new(code, mods),
            at: t(at),
        },
    )
}

pub fn keys(app: &mut App, text: &str, at: f64) -> Vec<Command> {
    text.chars()
        .flat_map(|c| key(app, KeyCode::Char(c), at))
        .collect()
}

pub fn click(app: &mut App, column: u16, row: u16, at: f64) -> Vec<Command> {
    mouse(
        app,
        MouseEventKind::Down(MouseButton::Left),
        column,
        row,
        at,
    )
}

pub fn mouse(app: &mut App, kind: MouseEventKind, column: u16, row: u16, at: f64) -> Vec<Command> {
    update(
        app,
        Msg::Mouse {
            event: MouseEvent {
                kind,
                column,
                row,
                modifiers: KeyModifiers::NONE,
            },
            at: t(at),
        },
    )
}

pub fn tick(app: &mut App, at: impl At) -> Vec<Command> {
    update(app, Msg::Tick(at.instant()))
}

pub fn build(app: &mut App, images: &[usize], at: impl At) -> Vec<Command> {
    update(
        app,
        Msg::BuildRequested {
            images: images.to_vec(),
            at: at.instant(),
        },
    )
}

/// What the engine reports of `image`'s current run, at `at`.
pub fn engine(app: &mut App, image: usize, at: impl At, event: EngineEvent) -> Vec<Command> {
    let run = app.images[image].run;
    update(
        app,
        Msg::Engine {
            run,
            image,
            at: at.instant(),
            event,
        },
    )
}

/// A BuildKit-style step named `name` (its id is its name).
pub fn step_event(name: &str) -> EngineEvent {
    EngineEvent::Build(BuildEvent::Step {
        id: name.into(),
        index: None,
        total: None,
        name: name.into(),
        cached: false,
        shared: false,
    })
}

/// A line of output of no known step.
pub fn log_event(line: &str) -> EngineEvent {
    EngineEvent::Build(BuildEvent::Log {
        step: None,
        line: line.into(),
    })
}

/// History opens knowing how long `step` of `image` usually takes.
pub fn usually(app: &mut App, image: &str, step: &str, takes: Duration) -> Vec<Command> {
    update(
        app,
        Msg::HistoryKnown(vec![(
            image.into(),
            kiln::protocol::ImageHistory {
                usual_steps: vec![(step.into(), takes)],
                ..Default::default()
            },
        )]),
    )
}

/// The events a batch of commands emits.
pub fn emitted(cmds: &[Command]) -> Vec<Event> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::Emit(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

/// The kinds of the events a batch of commands emits.
pub fn kinds(cmds: &[Command]) -> Vec<EventKind> {
    emitted(cmds).into_iter().map(|e| e.kind).collect()
}

/// Their `type`s, as the JSON contract names them.
pub fn types(cmds: &[Command]) -> Vec<String> {
    kinds(cmds)
        .iter()
        .map(|k| {
            serde_json::to_value(k).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

/// What the history's recorder saves of `events`: `image`'s (first) saved
/// log, line by line.
pub fn saved_log(events: &[Event], image: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let history = History::open(dir.path(), &dir.path().join("kiln.yaml")).unwrap();
    let mut recorder = Recorder::new(history);
    for e in events {
        assert_eq!(recorder.record(e), None);
    }
    let history = History::open(dir.path(), &dir.path().join("kiln.yaml")).unwrap();
    let runs = history.runs(image).unwrap();
    let path = runs[0].log_path.clone().expect("a saved log");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

pub fn started(app: &mut App, image: usize, at: f64) {
    engine(
        app,
        image,
        at,
        EngineEvent::Started {
            builder: BuilderKind::Legacy,
        },
    );
}

/// A legacy step header `Step i/n : name`.
pub fn step(
    app: &mut App,
    image: usize,
    index: u32,
    total: u32,
    name: &str,
    cached: bool,
    at: f64,
) {
    engine(
        app,
        image,
        at,
        EngineEvent::Build(BuildEvent::Step {
            id: index.to_string(),
            index: Some(index),
            total: Some(total),
            name: name.into(),
            cached,
            shared: false,
        }),
    );
}

pub fn log(app: &mut App, image: usize, line: &str, at: f64) {
    engine(
        app,
        image,
        at,
        EngineEvent::Build(BuildEvent::Log {
            step: None,
            line: line.into(),
        }),
    );
}

pub fn built(app: &mut App, image: usize, at: f64) -> Vec<Command> {
    engine(
        app,
        image,
        at,
        EngineEvent::Built {
            image_id: format!("sha256:{:064x}", image + 1),
        },
    )
}

/// The images a batch of commands starts.
pub fn starts(cmds: &[Command]) -> Vec<usize> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::StartBuild { image, .. } => Some(*image),
            _ => None,
        })
        .collect()
}

pub fn terminal(app: &mut App, width: u16, height: u16) -> Terminal<TestBackend> {
    update(app, Msg::Resize { width, height });
    Terminal::new(TestBackend::new(width, height)).unwrap()
}

/// The screen as text (one quoted line per row).
pub fn render(app: &mut App, width: u16, height: u16) -> String {
    let mut term = terminal(app, width, height);
    term.draw(|f| kiln::ui::draw(app, f)).unwrap();
    term.backend().to_string()
}

/// The screen's buffer, for style checks.
pub fn render_buffer(app: &mut App, width: u16, height: u16) -> ratatui::buffer::Buffer {
    let mut term = terminal(app, width, height);
    term.draw(|f| kiln::ui::draw(app, f)).unwrap();
    term.backend().buffer().clone()
}

/// What history knows when it opens: base failed 10 minutes ago, web was
/// built an hour ago; with their saved logs' tails.
pub fn last_runs() -> Msg {
    use kiln::protocol::{LastRun, RunResult};
    let run = LastRun {
        result: RunResult::Failed,
        ended_ago: Some(std::time::Duration::from_secs(600)),
        as_of: t(0.0),
        duration: Some(std::time::Duration::from_secs(14)),
        image_id: None,
        error: Some("The command '/bin/sh -c make' returned a non-zero code: 2".into()),
        last_step: Some("[3/4] RUN make".into()),
        log_path: Some("/tmp/kiln/base/7.log".into()),
        log_tail: vec![
            "==> [1/4] FROM scratch".into(),
            // As the recorder writes a cached step's header.
            "==> [2/4] COPY busybox /bin/busybox  (cached)".into(),
            "==> [3/4] RUN make".into(),
            "cc -O2 -c src/part7.c".into(),
            "src/part7.c:12: error: expected ';'".into(),
            "kiln: FAILED: The command '/bin/sh -c make' returned a non-zero code: 2".into(),
        ],
        id: 7,
        by_other: true,
    };
    let web = LastRun {
        result: RunResult::Built,
        ended_ago: Some(std::time::Duration::from_secs(3600)),
        duration: Some(std::time::Duration::from_millis(28_400)),
        image_id: Some(format!("sha256:1a2b3c4d5e6f{}", "0".repeat(52))),
        error: None,
        last_step: Some("[2/2] RUN make install".into()),
        log_tail: vec![
            "==> [1/2] FROM base".into(),
            "==> [2/2] RUN make install".into(),
            "installed 12 files".into(),
        ],
        ..run.clone()
    };
    let known = |run| kiln::protocol::ImageHistory {
        last_run: Some(run),
        ..Default::default()
    };
    Msg::HistoryKnown(vec![
        ("base".into(), known(run)),
        ("web".into(), known(web)),
    ])
}
