//! Build history and saved logs, in kiln's data dir (`directories`):
//! `history.sqlite` (runs, step durations, stalls, input digests) and
//! `logs/<project>/<image>/<run>.log`. Build output can hold secrets, so the
//! directories are created 0700 and the files 0600.
//!
//! History is a convenience, never a reason to lose a build: every failure
//! to open or write it becomes a message and kiln builds on without it.
//! The `Recorder` is fed the same events the front-ends print; the runtime
//! runs it on a thread of its own, off the async threads.

use std::collections::HashMap;
use std::fs::{DirBuilder, File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};

use crate::protocol::{ImageHistory, LastSuccess, RunResult};

mod bases;
mod log_file;
mod process;
mod read;
use read::{row, RUN_COLUMNS};
mod recorder;
pub use log_file::{INCOMPLETE_MARKER, INCOMPLETE_NOTE};
pub use recorder::Recorder;

/// Schema migrations, in order; `PRAGMA user_version` counts those applied.
/// Append only: a history written by an older kiln is brought up to date
/// by the ones it has not seen.
const MIGRATIONS: &[&str] = &[
    // 1: runs, steps, stalls
    "CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        project TEXT NOT NULL,
        image TEXT NOT NULL,
        started_ms INTEGER NOT NULL,
        ended_ms INTEGER,
        result TEXT NOT NULL DEFAULT 'running',
        builder TEXT,
        image_id TEXT,
        digest TEXT,
        inputs TEXT,
        log_path TEXT
     );
     CREATE INDEX runs_by_image ON runs(project, image, id);
     CREATE TABLE steps (
        run_id INTEGER NOT NULL REFERENCES runs(id),
        name TEXT NOT NULL,
        cached INTEGER NOT NULL,
        duration_ms INTEGER NOT NULL
     );
     CREATE INDEX steps_by_run ON steps(run_id);
     CREATE TABLE stalls (
        run_id INTEGER NOT NULL REFERENCES runs(id),
        phase TEXT NOT NULL,
        step TEXT,
        silent_ms INTEGER NOT NULL
     );",
    // 2: what a failed run's error was, the tags a run built, the tags
    // pushed after it
    "ALTER TABLE runs ADD COLUMN error TEXT;
     ALTER TABLE runs ADD COLUMN tags TEXT;
     CREATE TABLE pushes (
        run_id INTEGER NOT NULL REFERENCES runs(id),
        tag TEXT NOT NULL,
        digest TEXT NOT NULL,
        pushed_ms INTEGER NOT NULL
     );
     CREATE INDEX pushes_by_run ON pushes(run_id);",
    // 3: which process records a run (to tell a run whose kiln died from
    // one still going), and a note on its log (`incomplete (disk full)`).
    "ALTER TABLE runs ADD COLUMN pid INTEGER;
     ALTER TABLE runs ADD COLUMN process TEXT;
     ALTER TABLE runs ADD COLUMN log_note TEXT;",
    // 4: the images a run was built on (to tell when a base's image has
    // changed since: stale), and why it was built.
    "ALTER TABLE runs ADD COLUMN bases TEXT;
     ALTER TABLE runs ADD COLUMN reason TEXT;",
    // 5: the engine a run built on (a stack with several engines).
    "ALTER TABLE runs ADD COLUMN engine TEXT;",
];

/// How long to wait for another kiln holding the database (two runs at
/// once, one creating the schema).
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("no data directory for kiln (is HOME set?)")]
    NoDataDir,
    #[error("cannot create {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the build history at {path}: the disk is full")]
    DiskFull { path: PathBuf },
    #[error("build history at {path} is unusable ({source}); move it aside to start a new one")]
    Db {
        path: PathBuf,
        source: rusqlite::Error,
    },
}

/// Where kiln keeps its data: `$XDG_DATA_HOME/kiln` on Linux.
pub fn data_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "kiln").map(|d| d.data_dir().to_path_buf())
}

pub(crate) fn private_dir(path: &Path) -> Result<(), HistoryError> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|source| HistoryError::Dir {
            path: path.to_path_buf(),
            source,
        })
}

/// Create (or open) a file only its owner can read.
pub(crate) fn private_file(path: &Path, append: bool) -> std::io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(append)
        .write(true)
        .truncate(!append)
        .mode(0o600)
        .open(path)
}

/// One row of `kiln ls` / `kiln logs`.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRow {
    pub id: i64,
    pub image: String,
    pub started_ms: i64,
    pub ended_ms: Option<i64>,
    pub result: String,
    pub image_id: Option<String>,
    pub log_path: Option<PathBuf>,
    /// The tags the run built (empty for runs recorded before kiln kept
    /// them).
    pub tags: Vec<String>,
    /// The tags pushed after it.
    pub pushed: Vec<String>,
    /// Something to know about the log (`log incomplete (disk full)`).
    pub log_note: Option<String>,
    /// The process that recorded it.
    pub pid: Option<u32>,
    /// The error of a failed run.
    pub error: Option<String>,
    /// The last step it recorded (where a failed run failed).
    pub last_step: Option<String>,
    /// Why it was built (`rebuilding: …`).
    pub reason: Option<String>,
    /// The engine it ran on (several engines).
    pub engine: Option<String>,
}

/// An image's latest run, for the dashboard: `RunRow`'s facts and what a
/// failure needs to be told in a few words.
#[derive(Debug, Clone, PartialEq)]
pub struct LastRunRow {
    pub run: RunRow,
    /// The error of a failed run.
    pub error: Option<String>,
    /// The last step it recorded (where a failed run failed).
    pub last_step: Option<String>,
}

impl RunRow {
    /// `result` as the model knows it.
    pub fn result(&self) -> RunResult {
        match self.result.as_str() {
            "built" => RunResult::Built,
            "failed" => RunResult::Failed,
            "timed_out" => RunResult::TimedOut,
            "cancelled" => RunResult::Cancelled,
            "running" => RunResult::Running,
            _ => RunResult::Unfinished,
        }
    }
}

pub struct History {
    conn: Connection,
    root: PathBuf,
    /// Identifies the stack (hash of the kiln.yaml path).
    project: String,
}

impl History {
    /// Open the history of the stack defined by `config_path` under `root`
    /// (normally `data_dir()`).
    pub fn open(root: &Path, config_path: &Path) -> Result<History, HistoryError> {
        private_dir(root)?;
        let path = root.join("history.sqlite");
        let db = |source: rusqlite::Error| match source.sqlite_error_code() {
            // Not the history's fault: moving it aside would not help.
            Some(rusqlite::ErrorCode::DiskFull) => HistoryError::DiskFull { path: path.clone() },
            _ => HistoryError::Db {
                path: path.clone(),
                source,
            },
        };
        // Create the file 0600 before SQLite does (it would use the umask).
        private_file(&path, true).map_err(|source| HistoryError::Dir {
            path: path.clone(),
            source,
        })?;
        let conn = Connection::open(&path).map_err(db)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(db)?;
        wal_mode(&conn).map_err(db)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(db)?;
        migrate(&conn).map_err(db)?;
        mark_interrupted_runs(&conn).map_err(db)?;
        Ok(History {
            conn,
            root: root.to_path_buf(),
            project: project_key(config_path),
        })
    }

    /// A run of `image` starts: its row, marked as this process's (so a
    /// later open can tell whether it is still going).
    pub fn start_run(
        &mut self,
        image: &str,
        builder: &str,
        engine: Option<&str>,
        started_ms: i64,
    ) -> rusqlite::Result<i64> {
        let pid = std::process::id();
        self.conn.execute(
            "INSERT INTO runs (project, image, started_ms, builder, pid, process, engine)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                self.project,
                image,
                started_ms,
                builder,
                pid,
                process::identity(pid),
                engine
            ],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    pub fn set_log_path(&mut self, run: i64, path: &Path) -> rusqlite::Result<()> {
        self.conn.execute(
            "UPDATE runs SET log_path = ?2 WHERE id = ?1",
            params![run, path.to_string_lossy()],
        )?;
        Ok(())
    }

    /// A note on a run's log (e.g. [`INCOMPLETE_NOTE`]).
    pub fn set_log_note(&mut self, run: i64, note: &str) -> rusqlite::Result<()> {
        self.conn.execute(
            "UPDATE runs SET log_note = ?2 WHERE id = ?1",
            params![run, note],
        )?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub fn finish_run(
        &mut self,
        run: i64,
        result: &str,
        ended_ms: i64,
        image_id: Option<&str>,
        digest: Option<&str>,
        inputs: Option<&str>,
    ) -> rusqlite::Result<()> {
        self.conn.execute(
            "UPDATE runs SET result = ?2, ended_ms = ?3, image_id = ?4, digest = ?5, inputs = ?6 WHERE id = ?1",
            params![run, result, ended_ms, image_id, digest, inputs],
        )?;
        Ok(())
    }

    /// A finished run took `duration_ms` (as the model measured it, from
    /// its start to its end): its start is put that long before its end,
    /// so that every view of the run gives the one duration.
    pub fn set_duration(&mut self, run: i64, duration_ms: u64) -> rusqlite::Result<()> {
        let ms = i64::try_from(duration_ms).unwrap_or(i64::MAX);
        self.conn.execute(
            "UPDATE runs SET started_ms = ended_ms - ?2 WHERE id = ?1 AND ended_ms IS NOT NULL",
            params![run, ms],
        )?;
        Ok(())
    }

    /// The error a run failed with.
    pub fn set_error(&mut self, run: i64, error: &str) -> rusqlite::Result<()> {
        self.conn.execute(
            "UPDATE runs SET error = ?2 WHERE id = ?1",
            params![run, error],
        )?;
        Ok(())
    }

    /// The tags a run builds.
    pub fn set_tags(&mut self, run: i64, tags: &[String]) -> rusqlite::Result<()> {
        let tags = serde_json::to_string(tags).unwrap_or_default();
        self.conn.execute(
            "UPDATE runs SET tags = ?2 WHERE id = ?1",
            params![run, tags],
        )?;
        Ok(())
    }

    /// `tag` of `image` is in the registry as `digest`: kept with the
    /// image's latest run (the build it pushed).
    pub fn record_push(
        &mut self,
        image: &str,
        tag: &str,
        digest: &str,
        pushed_ms: i64,
    ) -> rusqlite::Result<()> {
        self.conn.execute(
            "INSERT INTO pushes (run_id, tag, digest, pushed_ms)
             SELECT id, ?3, ?4, ?5 FROM runs WHERE project = ?1 AND image = ?2
             ORDER BY id DESC LIMIT 1",
            params![self.project, image, tag, digest, pushed_ms],
        )?;
        Ok(())
    }

    pub fn record_step(
        &mut self,
        run: i64,
        name: &str,
        cached: bool,
        duration_ms: u64,
    ) -> rusqlite::Result<()> {
        self.conn.execute(
            "INSERT INTO steps (run_id, name, cached, duration_ms) VALUES (?1, ?2, ?3, ?4)",
            params![run, name, cached, duration_ms as i64],
        )?;
        Ok(())
    }

    pub fn record_stall(
        &mut self,
        run: i64,
        phase: &str,
        step: Option<&str>,
        silent_ms: u64,
    ) -> rusqlite::Result<()> {
        self.conn.execute(
            "INSERT INTO stalls (run_id, phase, step, silent_ms) VALUES (?1, ?2, ?3, ?4)",
            params![run, phase, step, silent_ms as i64],
        )?;
        Ok(())
    }

    pub fn last_success(&self, image: &str) -> rusqlite::Result<Option<LastSuccess>> {
        self.conn
            .query_row(
                "SELECT digest, image_id, inputs, engine FROM runs
                 WHERE project = ?1 AND image = ?2 AND result = 'built' AND digest IS NOT NULL
                 ORDER BY id DESC LIMIT 1",
                params![self.project, image],
                |r| {
                    Ok(LastSuccess {
                        digest: r.get(0)?,
                        image_id: r.get(1)?,
                        inputs: r.get(2)?,
                        engine: r.get(3)?,
                    })
                },
            )
            .optional()
    }

    /// The median duration of a step (by image and step name) over its
    /// recent uncached runs; None without enough history.
    pub fn usual_step_ms(&self, image: &str, step: &str) -> rusqlite::Result<Option<u64>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT s.duration_ms FROM steps s JOIN runs r ON r.id = s.run_id
             WHERE r.project = ?1 AND r.image = ?2 AND s.name = ?3 AND s.cached = 0
             ORDER BY s.run_id DESC LIMIT 10",
        )?;
        let mut d: Vec<u64> = stmt
            .query_map(params![self.project, image, step], |r| r.get::<_, i64>(0))?
            .filter_map(Result::ok)
            .map(|v| v.max(0) as u64)
            .collect();
        if d.is_empty() {
            return Ok(None);
        }
        d.sort_unstable();
        Ok(Some(d[d.len() / 2]))
    }

    /// The steps of an image's last successful build, in order, each with
    /// its usual (median uncached) duration; steps never run uncached are
    /// left out. Empty without history.
    pub fn usual_steps(&self, image: &str) -> rusqlite::Result<Vec<(String, std::time::Duration)>> {
        let last: Option<i64> = self
            .conn
            .query_row(
                "SELECT id FROM runs WHERE project = ?1 AND image = ?2 AND result = 'built'
                 ORDER BY id DESC LIMIT 1",
                params![self.project, image],
                |r| r.get(0),
            )
            .optional()?;
        let Some(run) = last else {
            return Ok(Vec::new());
        };
        let mut stmt = self
            .conn
            .prepare("SELECT name FROM steps WHERE run_id = ?1 ORDER BY rowid")?;
        let names: Vec<String> = stmt
            .query_map(params![run], |r| r.get(0))?
            .filter_map(Result::ok)
            .collect();
        let mut out = Vec::new();
        for name in names {
            if let Some(ms) = self.usual_step_ms(image, &name)? {
                out.push((name, std::time::Duration::from_millis(ms)));
            }
        }
        Ok(out)
    }

    /// What history knows about an image: its last success and usual step
    /// durations.
    pub fn known(&self, image: &str) -> rusqlite::Result<ImageHistory> {
        Ok(ImageHistory {
            last_success: self.last_success(image)?,
            usual_steps: self.usual_steps(image)?,
            last_run: None,
            built_on: self.built_on(image)?,
        })
    }

    /// An image's latest run, with its error and last step.
    pub fn last_run(&self, image: &str) -> rusqlite::Result<Option<LastRunRow>> {
        let Some(run) = self.runs(image)?.into_iter().next() else {
            return Ok(None);
        };
        let error = self
            .conn
            .query_row(
                "SELECT error FROM runs WHERE id = ?1",
                params![run.id],
                |r| r.get(0),
            )
            .optional()?
            .flatten();
        let last_step = self
            .conn
            .query_row(
                "SELECT name FROM steps WHERE run_id = ?1 ORDER BY rowid DESC LIMIT 1",
                params![run.id],
                |r| r.get(0),
            )
            .optional()?;
        Ok(Some(LastRunRow {
            run,
            error,
            last_step,
        }))
    }

    /// Each image's latest run, by image name.
    pub fn latest_runs(&self) -> rusqlite::Result<HashMap<String, RunRow>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {RUN_COLUMNS} FROM runs
             WHERE id IN (SELECT MAX(id) FROM runs WHERE project = ?1 GROUP BY image)"
        ))?;
        let rows = stmt.query_map(params![self.project], row)?;
        Ok(rows
            .filter_map(Result::ok)
            .map(|r| (r.image.clone(), r))
            .collect())
    }

    /// An image's runs, newest first.
    pub fn runs(&self, image: &str) -> rusqlite::Result<Vec<RunRow>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {RUN_COLUMNS} FROM runs
             WHERE project = ?1 AND image = ?2 ORDER BY id DESC"
        ))?;
        let rows = stmt.query_map(params![self.project, image], row)?;
        Ok(rows.filter_map(Result::ok).collect())
    }

    pub(crate) fn log_path(&self, image: &str, run: i64) -> PathBuf {
        self.root
            .join("logs")
            .join(&self.project)
            .join(image)
            .join(format!("{run}.log"))
    }
}

/// The key of the stack defined by `config_path` in the history (a hash
/// of its canonical path).
fn project_key(config_path: &Path) -> String {
    let canonical = config_path
        .canonicalize()
        .unwrap_or_else(|_| config_path.to_path_buf());
    hex::encode(&Sha256::digest(canonical.to_string_lossy().as_bytes())[..8])
}

/// Switch to WAL (once per database; it persists). Two kilns opening a
/// fresh database both try; the loser may be told "busy" without waiting,
/// so it waits here and looks again.
fn wal_mode(conn: &Connection) -> rusqlite::Result<()> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match conn.pragma_update(None, "journal_mode", "WAL") {
            Err(e) if is_busy(&e) && std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// Bring the schema up to date in one write transaction: `BEGIN
/// IMMEDIATE` takes the write lock before the version is read, so of two
/// kilns opening a fresh history one creates the tables and the other,
/// waiting (busy timeout), then finds them there.
fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let current = |c: &Connection| -> rusqlite::Result<usize> {
        c.pragma_query_value(None, "user_version", |r| r.get(0))
    };
    if current(conn)? >= MIGRATIONS.len() {
        return Ok(());
    }
    let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
    let version = current(&tx)?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i + 1)?;
    }
    tx.commit()
}

/// Runs left `running` by a kiln that is gone (killed, or the machine went
/// down) are marked `interrupted`: nothing will ever finish them. A run
/// whose process is still there (the same pid, started at the same time
/// since the same boot) is left alone.
fn mark_interrupted_runs(conn: &Connection) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare("SELECT id, pid, process FROM runs WHERE result = 'running'")?;
    let open: Vec<(i64, Option<u32>, Option<String>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (id, pid, recorded) in open {
        // Recorded by a kiln from before pids were kept: if it is still
        // running, its own result overwrites this one.
        if !read::alive(pid, recorded.as_deref()) {
            conn.execute(
                "UPDATE runs SET result = 'interrupted' WHERE id = ?1 AND result = 'running'",
                params![id],
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result_of(h: &History, id: i64) -> String {
        h.conn
            .query_row("SELECT result FROM runs WHERE id = ?1", params![id], |r| {
                r.get(0)
            })
            .unwrap()
    }

    #[test]
    fn runs_of_a_gone_kiln_are_marked_interrupted_on_open() {
        let root = tempfile::tempdir().unwrap();
        let cfg = root.path().join("kiln.yaml");
        let mut h = History::open(root.path(), &cfg).unwrap();
        // This process's run: still going.
        let mine = h.start_run("web", "legacy", None, 1).unwrap();
        // A run of a process that has exited (and was reaped).
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let gone_pid = child.id();
        child.wait().unwrap();
        let gone = h.start_run("api", "legacy", None, 1).unwrap();
        h.conn
            .execute(
                "UPDATE runs SET pid = ?2 WHERE id = ?1",
                params![gone, gone_pid],
            )
            .unwrap();
        // A run of this pid, but of a process started at another time
        // (the pid was reused), and one from before pids were recorded.
        let reused = h.start_run("db", "legacy", None, 1).unwrap();
        h.conn
            .execute(
                "UPDATE runs SET process = 'other-boot/1' WHERE id = ?1",
                params![reused],
            )
            .unwrap();
        let old = h.start_run("cache", "legacy", None, 1).unwrap();
        h.conn
            .execute(
                "UPDATE runs SET pid = NULL, process = NULL WHERE id = ?1",
                params![old],
            )
            .unwrap();
        let done = h.start_run("ui", "legacy", None, 1).unwrap();
        h.finish_run(done, "built", 2, None, None, None).unwrap();
        drop(h);

        let h = History::open(root.path(), &cfg).unwrap();
        assert_eq!(result_of(&h, mine), "running");
        assert_eq!(result_of(&h, gone), "interrupted");
        assert_eq!(result_of(&h, reused), "interrupted");
        assert_eq!(result_of(&h, old), "interrupted");
        assert_eq!(result_of(&h, done), "built");
    }

    #[test]
    fn an_older_history_is_migrated_in_place() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("history.sqlite");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute(
            "INSERT INTO runs (project, image, started_ms) VALUES ('p', 'web', 1)",
            [],
        )
        .unwrap();
        drop(conn);
        let h = History::open(root.path(), &root.path().join("kiln.yaml")).unwrap();
        let version: usize = h
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len());
        // Left running by a kiln that recorded no pid: interrupted.
        assert_eq!(result_of(&h, 1), "interrupted");
    }
}
