//! What a run was built on and why: the images it was built on
//! (`runs.bases`, JSON pairs of name and image id: when a base's image is
//! another one now, what was built on it is stale, whichever kiln rebuilt
//! the base), and the reason it was built (`runs.reason`).

use rusqlite::{params, OptionalExtension};

use super::History;

impl History {
    /// The images (name, id) `image`'s last successful build was built on.
    pub fn built_on(&self, image: &str) -> rusqlite::Result<Vec<(String, String)>> {
        let bases: Option<Option<String>> = self
            .conn
            .query_row(
                "SELECT bases FROM runs WHERE project = ?1 AND image = ?2 AND result = 'built'
                 ORDER BY id DESC LIMIT 1",
                [&self.project, image],
                |r| r.get(0),
            )
            .optional()?;
        Ok(bases
            .flatten()
            .and_then(|b| serde_json::from_str(&b).ok())
            .unwrap_or_default())
    }

    /// Why a run was built (`rebuilding: base.txt (modified)`).
    pub fn set_reason(&mut self, run: i64, reason: &str) -> rusqlite::Result<()> {
        self.conn.execute(
            "UPDATE runs SET reason = ?2 WHERE id = ?1",
            params![run, reason],
        )?;
        Ok(())
    }

    /// The bases (name, image id) a run is built on.
    pub fn set_bases(&mut self, run: i64, bases: &[(String, String)]) -> rusqlite::Result<()> {
        let bases = serde_json::to_string(bases).unwrap_or_default();
        self.conn.execute(
            "UPDATE runs SET bases = ?2 WHERE id = ?1",
            params![run, bases],
        )?;
        Ok(())
    }
}
