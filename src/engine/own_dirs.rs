//! kiln's own directories: its data directory (`$XDG_DATA_HOME/kiln`: the
//! history, `history.sqlite*`, and the saved logs) and its cache directory
//! (`$XDG_CACHE_HOME/kiln`: the hash cache). A build context can hold them
//! (`HOME` as a context, or inside one): they are never part of it. The
//! context walks (the digest, the tar, the BuildKit session's sender) and
//! watch mode leave them out, so kiln's own writes are not a change, and
//! the history and the 0600 logs never reach the daemon or an image.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// kiln's own directories, as absolute paths (each also as its real
/// path, when it exists).
#[derive(Debug, Clone, Default)]
pub struct OwnDirs {
    dirs: Vec<PathBuf>,
}

impl OwnDirs {
    /// kiln's data and cache directories, as the environment names them now.
    pub fn of_kiln() -> OwnDirs {
        let found = directories::ProjectDirs::from("", "", "kiln")
            .map(|d| vec![d.data_dir().to_path_buf(), d.cache_dir().to_path_buf()])
            .unwrap_or_default();
        OwnDirs::new(found)
    }

    /// These directories.
    pub fn new(paths: Vec<PathBuf>) -> OwnDirs {
        let mut dirs = Vec::new();
        for path in paths {
            let abs = std::path::absolute(&path).unwrap_or(path);
            if let Ok(real) = std::fs::canonicalize(&abs) {
                if real != abs {
                    dirs.push(real);
                }
            }
            dirs.push(abs);
        }
        OwnDirs { dirs }
    }

    /// Create them (0700) where they do not exist yet: a context that holds
    /// them then has their parent directories from its first build on,
    /// rather than one more (made by kiln) after it. Failures are ignored
    /// (whoever writes there says what is wrong).
    pub fn create(&self) {
        use std::os::unix::fs::DirBuilderExt;
        for dir in &self.dirs {
            let _ = std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir);
        }
    }

    /// Those inside the directory `root` (not `root` itself, nor one that
    /// holds it), relative to it, `/`-separated: what a walk of `root`
    /// leaves out.
    pub fn within(&self, root: &Path) -> Vec<String> {
        let mut roots = vec![std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf())];
        if let Ok(real) = std::fs::canonicalize(root) {
            roots.push(real);
        }
        let mut rels: Vec<String> = Vec::new();
        for dir in &self.dirs {
            for r in &roots {
                let Ok(rel) = dir.strip_prefix(r) else {
                    continue;
                };
                let rel = rel.to_string_lossy().into_owned();
                if !rel.is_empty() && !rels.contains(&rel) {
                    rels.push(rel);
                }
            }
        }
        rels
    }
}

/// Whether `rel` (relative to a context root) is one of `own` (from
/// [`OwnDirs::within`]) or below one.
pub fn is_own(own: &[String], rel: &str) -> bool {
    own.iter().any(|o| {
        rel.strip_prefix(o.as_str())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// The warning, once per process, when kiln's own directories lie inside
/// the context `root`: None when they do not, or it was said already.
pub fn warning_once(root: &Path, own: &[String]) -> Option<String> {
    static SAID: AtomicBool = AtomicBool::new(false);
    if own.is_empty() || SAID.swap(true, Ordering::Relaxed) {
        return None;
    }
    Some(format!(
        "kiln's own data or cache directory is inside the build context {}: {} left out of the context (kiln's history, logs and hash cache are never sent, hashed or watched)",
        root.display(),
        own.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_dirs_inside_a_root_are_found_relative_to_it() {
        let home = tempfile::tempdir().unwrap();
        let data = home.path().join(".local/share/kiln");
        let cache = home.path().join(".cache/kiln");
        std::fs::create_dir_all(&data).unwrap();
        let own = OwnDirs::new(vec![data, cache]);
        assert_eq!(
            own.within(home.path()),
            [".local/share/kiln", ".cache/kiln"]
        );
        assert_eq!(
            own.within(&home.path().join(".local")),
            ["share/kiln"],
            "inside a subdirectory"
        );
        assert!(own
            .within(&home.path().join(".local/share/kiln"))
            .is_empty());
        assert!(own.within(&home.path().join("elsewhere")).is_empty());
        let rels = own.within(home.path());
        assert!(is_own(&rels, ".local/share/kiln"));
        assert!(is_own(&rels, ".local/share/kiln/logs/web/1.log"));
        assert!(!is_own(&rels, ".local/share/kiln2"));
        assert!(!is_own(&rels, ".local/share"));
    }
}
