//! README's table of JSON events is the contract's events: a row for each
//! type `kiln build --json` can print, naming exactly the fields it has.
//! A new event (or field) without its row, or a row without its event,
//! fails here; an event kind missing below fails to compile.
#![allow(clippy::unwrap_used, clippy::string_slice)]

use std::collections::{BTreeMap, BTreeSet};

use kiln::app::event::{Event, EventKind};
use kiln::protocol::{BuildCause, BuilderKind, Phase, SkipReason};

/// Which kind of event this is; every kind is named, so a new one does
/// not compile until it has a sample below.
fn ordinal(kind: &EventKind) -> usize {
    match kind {
        EventKind::Plan { .. } => 0,
        EventKind::Queued => 1,
        EventKind::Started { .. } => 2,
        EventKind::Skipped { .. } => 3,
        EventKind::Step { .. } => 4,
        EventKind::StepDone { .. } => 5,
        EventKind::Log { .. } => 6,
        EventKind::Stalled { .. } => 7,
        EventKind::Resumed { .. } => 8,
        EventKind::SlowStep { .. } => 9,
        EventKind::Built { .. } => 10,
        EventKind::PushProgress { .. } => 11,
        EventKind::Pushed { .. } => 12,
        EventKind::Failed { .. } => 13,
        EventKind::TimedOut { .. } => 14,
        EventKind::Cancelled { .. } => 15,
        EventKind::Summary { .. } => 16,
        EventKind::Watching { .. } => 17,
        EventKind::Changed { .. } => 18,
        EventKind::Notice { .. } => 19,
        EventKind::Transfer { .. } => 20,
        EventKind::WouldBuild { .. } => 21,
        EventKind::WouldFail { .. } => 22,
    }
}
const KINDS: usize = 23;

/// One event of every kind.
fn samples() -> Vec<EventKind> {
    let s = String::new;
    vec![
        EventKind::Plan {
            images: vec![],
            waves: vec![],
        },
        EventKind::Queued,
        EventKind::Started {
            builder: BuilderKind::Buildkit,
            engine: Some(s()),
        },
        EventKind::Skipped {
            reason: SkipReason::Unchanged,
        },
        EventKind::Step {
            index: None,
            total: None,
            name: s(),
            cached: false,
            shared: false,
        },
        EventKind::StepDone {
            name: s(),
            cached: false,
            shared: false,
            duration_ms: 0,
        },
        EventKind::Log {
            line: s(),
            step: None,
        },
        EventKind::Stalled {
            silent_ms: 0,
            phase: Phase::Build,
            step: None,
        },
        EventKind::Resumed { silent_ms: 0 },
        EventKind::SlowStep {
            name: s(),
            elapsed_ms: 0,
            usual_ms: 0,
        },
        EventKind::Built {
            image_id: s(),
            duration_ms: 0,
            steps: 0,
            cached_steps: 0,
        },
        EventKind::PushProgress {
            tag: s(),
            layer: s(),
            current: 0,
            total: 0,
            status: s(),
        },
        EventKind::Pushed {
            tag: s(),
            digest: s(),
        },
        EventKind::Failed {
            phase: Phase::Build,
            error: s(),
            log_tail: vec![],
        },
        EventKind::TimedOut { after_ms: 0 },
        EventKind::Cancelled { after_ms: 0 },
        EventKind::Summary {
            succeeded: vec![],
            failed: vec![],
            skipped: vec![],
            duration_ms: 0,
            dry: None,
        },
        EventKind::Watching {
            paths: vec![],
            images: 0,
            dirs: 0,
        },
        EventKind::Changed {
            files: vec![],
            more: 0,
        },
        EventKind::Notice { message: s() },
        EventKind::Transfer {
            of: s(),
            from: s(),
            to: s(),
            bytes: 0,
            total: 0,
            done: false,
            via: kiln::protocol::TransferVia::Registry,
            registry: Some(s()),
        },
        EventKind::WouldBuild {
            reason: s(),
            cause: BuildCause::InputsChanged,
        },
        EventKind::WouldFail { error: s() },
    ]
}

/// What each kind prints: its `type` and its fields (`image` and `time`
/// aside: the README says which events have an image).
fn printed() -> BTreeMap<String, BTreeSet<String>> {
    let samples = samples();
    let kinds: BTreeSet<usize> = samples.iter().map(ordinal).collect();
    assert_eq!(kinds, (0..KINDS).collect(), "one sample of every kind");
    samples
        .into_iter()
        .map(|kind| {
            let json = serde_json::to_value(Event { image: None, kind }).unwrap();
            let fields = json.as_object().unwrap();
            let fields: BTreeSet<String> =
                fields.keys().filter(|k| *k != "type").cloned().collect();
            (json["type"].as_str().unwrap().to_string(), fields)
        })
        .collect()
}

/// README's table: each row's type and the fields it names. A field is
/// the first `name` of each comma-separated part of the second column,
/// outside parentheses (which explain, and may name values).
fn readme_table() -> BTreeMap<String, BTreeSet<String>> {
    let readme = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"));
    let start = readme.find("| type | fields |").expect("the JSON table");
    readme[start..]
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|row| {
            let cells: Vec<&str> = row.split(" | ").collect();
            let name = cells[0].trim_start_matches("| ").trim_matches('`');
            let fields = without_parentheses(cells[1])
                .split(',')
                .filter_map(first_name)
                .collect();
            (name.to_string(), fields)
        })
        .collect()
}

fn without_parentheses(text: &str) -> String {
    let mut depth = 0usize;
    text.chars()
        .filter(|c| {
            match c {
                '(' => depth += 1,
                ')' => depth = depth.saturating_sub(1),
                _ => return depth == 0,
            }
            false
        })
        .collect()
}

/// The first backquoted identifier of `part` (`kiln watch` is a command).
fn first_name(part: &str) -> Option<String> {
    part.split('`')
        .skip(1)
        .step_by(2)
        .find(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        .map(String::from)
}

#[test]
fn the_readme_json_table_is_the_events() {
    assert_eq!(readme_table(), printed());
}

/// README, as a newcomer meets it: the Quick start says a Rust toolchain
/// is needed (rustup, the crate's rust-version) before the scripts, that
/// scripts/setup does not install it, and where the binary is; history is
/// per stack file; and scripts/demo lets cargo show its progress.
#[test]
fn readme_quick_start_says_what_a_newcomer_needs() {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let cargo = std::fs::read_to_string(format!("{root}/Cargo.toml")).unwrap();
    let version = cargo
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .expect("rust-version in Cargo.toml");
    let quick = readme
        .split("## Quick start")
        .nth(1)
        .and_then(|q| q.split("\n## ").next())
        .unwrap();
    let before_scripts = quick.split("scripts/demo ").next().unwrap();
    assert!(before_scripts.contains("rustup"), "{before_scripts}");
    assert!(
        before_scripts.contains(&format!("Rust {version} or newer")),
        "rust-version {version}: {before_scripts}"
    );
    assert!(before_scripts.contains("`scripts/setup` installs everything else, but not Rust"));
    assert!(quick.contains("`target/release/kiln`"));
    assert!(quick.contains("History is kept per stack file"));
    let demo = std::fs::read_to_string(format!("{root}/scripts/demo")).unwrap();
    let build = demo
        .lines()
        .find(|l| l.starts_with("cargo build"))
        .expect("scripts/demo builds kiln");
    assert!(
        !build.contains("--quiet") && !build.contains(" -q"),
        "{build}"
    );
    assert!(demo.contains("target/release/kiln"));
}
