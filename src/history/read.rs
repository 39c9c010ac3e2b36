//! History for the commands that only read it (`kiln ls`, `logs`,
//! `history`): opened read-only, so that a history kiln may not write
//! (a read-only file or file system) is still read, and a reader never
//! changes it. A run left `running` by a kiln that is gone reads as
//! `interrupted` here without being written so (`alive`).

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::{
    migrate, process, project_key, History, HistoryError, RunRow, BUSY_TIMEOUT, MIGRATIONS,
};
use std::path::PathBuf;

impl History {
    /// Open the history of the stack defined by `config_path` under `root`
    /// for reading only. No history yet reads as an empty one; a history
    /// an older kiln wrote is brought up to date first if it can be (else
    /// it is an error, its columns being older than the queries).
    pub fn open_read_only(root: &Path, config_path: &Path) -> Result<History, HistoryError> {
        let path = root.join("history.sqlite");
        let db = |source: rusqlite::Error| HistoryError::Db {
            path: path.clone(),
            source,
        };
        let conn = if path.exists() {
            let conn = connect_read_only(&path).map_err(db)?;
            let version: usize = conn
                .pragma_query_value(None, "user_version", |r| r.get(0))
                .map_err(db)?;
            if version < MIGRATIONS.len() {
                drop(conn);
                return History::open(root, config_path);
            }
            conn
        } else {
            // Nothing recorded yet: an empty history, in memory.
            let conn = Connection::open_in_memory().map_err(db)?;
            migrate(&conn).map_err(db)?;
            conn
        };
        Ok(History {
            conn,
            root: root.to_path_buf(),
            project: project_key(config_path),
        })
    }

    /// A number that changes when another connection (another kiln) has
    /// written to the history since this one last looked.
    pub fn data_version(&self) -> rusqlite::Result<i64> {
        self.conn
            .pragma_query_value(None, "data_version", |r| r.get(0))
    }

    /// One run, as it is now (`kiln logs -f` asks until it has ended).
    pub fn run_by_id(&self, id: i64) -> rusqlite::Result<Option<RunRow>> {
        use rusqlite::OptionalExtension;
        self.conn
            .query_row(
                &format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"),
                [id],
                row,
            )
            .optional()
    }
}

/// A read-only connection. A history in WAL mode on a file system kiln
/// cannot write may not be readable that way (SQLite would create its
/// shared-memory file): then it is read as immutable.
fn connect_read_only(path: &Path) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let tried = Connection::open_with_flags(path, flags).and_then(|conn| {
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))?;
        Ok(conn)
    });
    match tried {
        Ok(conn) => Ok(conn),
        Err(first) => {
            let uri = format!("file:{}?immutable=1", uri_path(path));
            let conn = Connection::open_with_flags(uri, flags).map_err(|_| first)?;
            conn.busy_timeout(BUSY_TIMEOUT)?;
            Ok(conn)
        }
    }
}

/// `path` as the path of a `file:` URI: `%`, `?` and `#` escaped.
fn uri_path(path: &Path) -> String {
    let mut out = String::new();
    for c in path.to_string_lossy().chars() {
        match c {
            '%' => out.push_str("%25"),
            '?' => out.push_str("%3f"),
            '#' => out.push_str("%23"),
            c => out.push(c),
        }
    }
    out
}

/// Whether the kiln that recorded a run (`pid`, and its identity then) is
/// still there. A run recorded before pids were kept counts as gone.
pub(super) fn alive(pid: Option<u32>, recorded: Option<&str>) -> bool {
    match (pid, recorded) {
        (Some(pid), Some(recorded)) => process::identity(pid).as_deref() == Some(recorded),
        _ => false,
    }
}

/// The columns `row` reads, in its order.
pub(super) const RUN_COLUMNS: &str =
    "id, image, started_ms, ended_ms, result, image_id, log_path, tags,
    (SELECT group_concat(tag, char(10)) FROM pushes WHERE pushes.run_id = runs.id), log_note,
    pid, process, error,
    (SELECT name FROM steps WHERE steps.run_id = runs.id ORDER BY rowid DESC LIMIT 1), reason,
    engine";

pub(super) fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RunRow> {
    let tags = r
        .get::<_, Option<String>>(7)?
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let mut pushed: Vec<String> = r
        .get::<_, Option<String>>(8)?
        .map(|p| p.lines().map(String::from).collect())
        .unwrap_or_default();
    pushed.sort();
    pushed.dedup();
    Ok(RunRow {
        id: r.get(0)?,
        image: r.get(1)?,
        started_ms: r.get(2)?,
        ended_ms: r.get(3)?,
        result: {
            let result: String = r.get(4)?;
            // Its kiln is gone (a history read-only readers do not mark).
            if result == "running" && !alive(r.get(10)?, r.get::<_, Option<String>>(11)?.as_deref())
            {
                "interrupted".to_string()
            } else {
                result
            }
        },
        image_id: r.get(5)?,
        log_path: r.get::<_, Option<String>>(6)?.map(PathBuf::from),
        tags,
        pushed,
        log_note: r.get(9)?,
        pid: r.get(10)?,
        error: r.get(12)?,
        last_step: r.get(13)?,
        reason: r.get(14)?,
        engine: r.get(15)?,
    })
}
