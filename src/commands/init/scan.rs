//! Finding the Dockerfiles under a directory for `kiln init`: files named
//! `Dockerfile`, `Dockerfile.*` or `*.Dockerfile`, in the directory and
//! below, except in dot-directories, in what a `.gitignore` ignores (git's
//! rules, through the `ignore` crate, also outside a git repository), and
//! in directories a `.dockerignore` above them excludes from its context
//! (Docker's rules, `engine::dockerignore`). A `.dockerignore` that names
//! the Dockerfiles themselves (`**/Dockerfile`, often written to keep them
//! out of images) hides none: it is about images' contents, not which
//! Dockerfiles exist.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::config::dockerfile_refs;
use crate::engine::dockerignore::DockerIgnore;

use super::propose::Found;

/// What the walk found, and what it passed over and why.
#[derive(Debug, Default)]
pub struct Scan {
    /// Sorted by path.
    pub found: Vec<Found>,
    /// `PATH: why` for Dockerfiles that could not be used.
    pub skipped: Vec<String>,
}

/// Whether `name` is a Dockerfile's name (not BuildKit's per-Dockerfile
/// `NAME.dockerignore`, nor an editor's backup).
pub fn is_dockerfile_name(name: &str) -> bool {
    let named = name == "Dockerfile"
        || name
            .strip_prefix("Dockerfile.")
            .is_some_and(|s| !s.is_empty())
        || name
            .strip_suffix(".Dockerfile")
            .is_some_and(|s| !s.is_empty());
    let scratch = [".dockerignore", "~", ".swp", ".bak", ".orig", ".rej"]
        .iter()
        .any(|end| name.ends_with(end));
    named && !scratch
}

/// Walks `root`.
pub fn scan(root: &Path) -> Scan {
    let ignores = DockerIgnores::new(root);
    let walker = ignore::WalkBuilder::new(root)
        .hidden(true)
        .ignore(false)
        .git_global(false)
        .git_exclude(false)
        .require_git(false)
        .follow_links(false)
        .sort_by_file_path(|a, b| a.cmp(b))
        .filter_entry(move |entry| {
            !(entry.file_type().is_some_and(|t| t.is_dir()) && ignores.hides_dir(entry.path()))
        })
        .build();
    let mut scan = Scan::default();
    for entry in walker {
        let Ok(entry) = entry else { continue };
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let Some(name) = entry.file_name().to_str() else {
            continue;
        };
        if !is_dockerfile_name(name) {
            continue;
        }
        let rel = entry.path().strip_prefix(root).unwrap_or(entry.path());
        let shown = rel.to_string_lossy().into_owned();
        if rel.to_str().is_none() {
            scan.skipped.push(format!("{shown}: its path is not UTF-8"));
            continue;
        }
        match std::fs::read(entry.path()) {
            Ok(bytes) => scan.found.push(Found {
                dir: rel.parent().map(Path::to_path_buf).unwrap_or_default(),
                file: name.to_string(),
                refs: dockerfile_refs(&String::from_utf8_lossy(&bytes), &Default::default(), None),
            }),
            Err(e) => scan.skipped.push(format!("{shown}: cannot read it: {e}")),
        }
    }
    scan.found.sort_by_key(|f| f.path());
    scan
}

/// The `.dockerignore` files met on the walk, read once each.
struct DockerIgnores {
    root: PathBuf,
    read: Arc<Mutex<HashMap<PathBuf, Option<Arc<DockerIgnore>>>>>,
}

impl DockerIgnores {
    fn new(root: &Path) -> DockerIgnores {
        DockerIgnores {
            root: root.to_path_buf(),
            read: Arc::default(),
        }
    }

    /// Whether a `.dockerignore` in a directory above `dir` (within the
    /// root) excludes `dir`, and nothing below it can come back.
    fn hides_dir(&self, dir: &Path) -> bool {
        let Ok(rel) = dir.strip_prefix(&self.root) else {
            return false;
        };
        let mut above = self.root.clone();
        let parts: Vec<&str> = rel.iter().filter_map(|c| c.to_str()).collect();
        for i in 0..parts.len() {
            if let Some(ignore) = self.at(&above) {
                let inside = parts[i..].join("/");
                if ignore.is_excluded(&inside) && !ignore.dir_may_have_included_children(&inside) {
                    return true;
                }
            }
            above.push(parts[i]);
        }
        false
    }

    /// `dir/.dockerignore`, parsed as Docker would (lenient: a pattern
    /// Docker refuses is left out).
    fn at(&self, dir: &Path) -> Option<Arc<DockerIgnore>> {
        let mut read = self.read.lock().unwrap_or_else(|p| p.into_inner());
        read.entry(dir.to_path_buf())
            .or_insert_with(|| {
                let bytes = std::fs::read(dir.join(".dockerignore")).ok()?;
                Some(Arc::new(DockerIgnore::parse(&String::from_utf8_lossy(
                    &bytes,
                ))))
            })
            .clone()
    }
}
