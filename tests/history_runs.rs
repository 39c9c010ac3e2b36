//! What history keeps of a run for the dashboard and `kiln ls`: its tags,
//! the tags pushed after it, its error and last step; and an older history
//! file gaining them without losing its runs (migrations only append).
#![allow(clippy::unwrap_used, clippy::string_slice)]

mod common;

use kiln::history::History;
use kiln::protocol::RunResult;

/// The first schema, as kiln wrote it before runs kept tags and errors.
const SCHEMA_1: &str = "CREATE TABLE runs (
    id INTEGER PRIMARY KEY, project TEXT NOT NULL, image TEXT NOT NULL,
    started_ms INTEGER NOT NULL, ended_ms INTEGER,
    result TEXT NOT NULL DEFAULT 'running', builder TEXT, image_id TEXT,
    digest TEXT, inputs TEXT, log_path TEXT);
 CREATE INDEX runs_by_image ON runs(project, image, id);
 CREATE TABLE steps (run_id INTEGER NOT NULL REFERENCES runs(id), name TEXT NOT NULL,
    cached INTEGER NOT NULL, duration_ms INTEGER NOT NULL);
 CREATE INDEX steps_by_run ON steps(run_id);
 CREATE TABLE stalls (run_id INTEGER NOT NULL REFERENCES runs(id), phase TEXT NOT NULL,
    step TEXT, silent_ms INTEGER NOT NULL);
 PRAGMA user_version = 1;";

#[test]
fn a_run_keeps_its_tags_pushes_error_and_last_step() {
    let root = tempfile::tempdir().unwrap();
    let config = root.path().join("kiln.yaml");
    std::fs::write(&config, "images: []").unwrap();
    let mut h = History::open(root.path(), &config).unwrap();

    let run = h.start_run("web", "legacy", None, 1_000).unwrap();
    h.set_tags(run, &["r/web:dev".into(), "r/web:1".into()])
        .unwrap();
    h.record_step(run, "[2/3] RUN make", false, 900).unwrap();
    h.finish_run(run, "built", 2_000, Some("sha256:aa"), None, None)
        .unwrap();
    h.record_push("web", "r/web:dev", "sha256:dd", 2_500)
        .unwrap();
    let latest = h.latest_runs().unwrap();
    let row = &latest["web"];
    assert_eq!(row.tags, ["r/web:dev", "r/web:1"]);
    assert_eq!(row.pushed, ["r/web:dev"]);

    let failed = h.start_run("web", "legacy", None, 3_000).unwrap();
    h.record_step(failed, "[3/3] RUN test", false, 10).unwrap();
    h.set_error(failed, "returned a non-zero code: 2").unwrap();
    h.finish_run(failed, "failed", 3_500, None, None, None)
        .unwrap();
    let last = h.last_run("web").unwrap().expect("a last run");
    assert_eq!(last.run.result(), RunResult::Failed);
    assert_eq!(last.error.as_deref(), Some("returned a non-zero code: 2"));
    assert_eq!(last.last_step.as_deref(), Some("[3/3] RUN test"));
    assert!(last.run.tags.is_empty() && last.run.pushed.is_empty());
    assert!(h.last_run("api").unwrap().is_none());
}

#[test]
fn an_older_history_gains_the_new_columns_and_keeps_its_runs() {
    let root = tempfile::tempdir().unwrap();
    let config = root.path().join("kiln.yaml");
    std::fs::write(&config, "images: []").unwrap();
    let db = root.path().join("history.sqlite");
    // The stack's project key, as history writes it.
    let mut h = History::open(root.path(), &config).unwrap();
    h.start_run("probe", "legacy", None, 0).unwrap();
    drop(h);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let project: String = conn
        .query_row("SELECT project FROM runs", [], |r| r.get(0))
        .unwrap();
    drop(conn);
    std::fs::remove_file(&db).unwrap();

    // A history the previous kiln wrote, with one run of this stack.
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(SCHEMA_1).unwrap();
    conn.execute(
        "INSERT INTO runs (project, image, started_ms, ended_ms, result, image_id)
         VALUES (?1, 'web', 1000, 2000, 'built', 'sha256:aa')",
        [&project],
    )
    .unwrap();
    drop(conn);

    let h = History::open(root.path(), &config).unwrap();
    let last = h.last_run("web").unwrap().expect("the old run");
    assert_eq!(last.run.result(), RunResult::Built);
    assert_eq!(last.run.image_id.as_deref(), Some("sha256:aa"));
    assert!(last.run.tags.is_empty() && last.error.is_none());
    let conn = rusqlite::Connection::open(&db).unwrap();
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, 5, "every migration ran");
}

/// `kiln ls` over a history someone edited by hand: an image id that is
/// not hex (not even ASCII) is shortened by characters, never cut inside
/// one (that was a panic: exit 101).
#[test]
fn ls_shows_a_hand_edited_image_id_without_panicking() {
    let s = common::Stack::new();
    s.write("web/Dockerfile", "FROM scratch\n");
    s.config("images:\n  - {name: web}\n");
    let data = s.home.path().join("data").join("kiln");
    let mut h = History::open(&data, &s.path("kiln.yaml")).unwrap();
    let run = h.start_run("web", "legacy", None, 1_000).unwrap();
    // Byte 12 falls inside a character.
    let id = format!("sha256:a{}", "é".repeat(40));
    h.finish_run(run, "built", 2_000, Some(&id), None, None)
        .unwrap();
    drop(h);
    let out = s.kiln(&["ls"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{:?}: {stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let row = stdout
        .lines()
        .find(|l| l.starts_with("web "))
        .expect("web's row");
    let short = format!("a{}", "é".repeat(11));
    assert!(row.contains(&format!("{short}  ")), "{row}");
}

/// One duration per build: history keeps the duration the `built` event
/// (and so plain output and JSON) gives, not its own clock's; so does a
/// timed-out or cancelled run's.
#[test]
fn history_keeps_the_duration_the_events_give() {
    use kiln::app::event::{Event, EventKind};
    use kiln::history::Recorder;
    use kiln::protocol::BuilderKind;
    let root = tempfile::tempdir().unwrap();
    let config = root.path().join("kiln.yaml");
    std::fs::write(&config, "images: []").unwrap();
    let mut recorder = Recorder::new(History::open(root.path(), &config).unwrap());
    let started = |image: &str| {
        Event::for_image(
            image,
            EventKind::Started {
                builder: BuilderKind::Legacy,
                engine: None,
            },
        )
    };
    for e in [
        started("api"),
        Event::for_image(
            "api",
            EventKind::Built {
                image_id: format!("sha256:{}", "a".repeat(64)),
                duration_ms: 170,
                steps: 2,
                cached_steps: 1,
            },
        ),
        started("web"),
        Event::for_image("web", EventKind::Cancelled { after_ms: 4_321 }),
    ] {
        assert_eq!(recorder.record(&e), None);
    }
    let h = History::open(root.path(), &config).unwrap();
    for (image, ms) in [("api", 170), ("web", 4_321)] {
        let run = &h.runs(image).unwrap()[0];
        assert_eq!(run.ended_ms.unwrap() - run.started_ms, ms, "{image}");
    }
}
