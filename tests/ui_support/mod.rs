//! Shared by the dashboard's tests: an App from a YAML stack (contexts in a
//! temp dir), messages with synthetic instants relative to one base, and
//! rendering to a TestBackend.
#![allow(dead_code)]

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};

use kiln::app::{update, App, Command, Msg, RunOptions};
use kiln::protocol::BuildEvent;
use kiln::protocol::{BuilderKind, EngineEvent};
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

pub fn app_from(yaml: &str) -> App {
    let dir = tempfile::tempdir().unwrap();
    for name in ["base", "web", "api"] {
        std::fs::create_dir_all(dir.path().join(name)).unwrap();
        std::fs::write(dir.path().join(name).join("Dockerfile"), "FROM scratch\n").unwrap();
    }
    let env = |_: &str| None;
    let loaded = kiln::config::load_str(&dir.path().join("kiln.yaml"), yaml, &env)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut app = App::new(&loaded.config, &RunOptions::default());
    app.view.color = true;
    app
}

/// The instant `secs` seconds after a fixed base.
pub fn t(secs: f64) -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now) + Duration::from_secs_f64(secs)
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

pub fn tick(app: &mut App, at: f64) -> Vec<Command> {
    update(app, Msg::Tick(t(at)))
}

pub fn build(app: &mut App, images: &[usize], at: f64) -> Vec<Command> {
    update(
        app,
        Msg::BuildRequested {
            images: images.to_vec(),
            at: t(at),
        },
    )
}

pub fn engine(app: &mut App, image: usize, at: f64, event: EngineEvent) -> Vec<Command> {
    let run = app.images[image].run;
    update(
        app,
        Msg::Engine {
            run,
            image,
            at: t(at),
            event,
        },
    )
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
