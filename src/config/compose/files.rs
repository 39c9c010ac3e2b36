//! Reading a compose project's files: each file read once into a located
//! tree, interpolated, its relative paths rewritten to start at the main
//! project's directory (`paths.rs`); every file read remembered, in order
//! (problems are sorted by it, and watch mode reloads when one changes).
//! How the files of a project are put together (includes, extends,
//! merging) is `include.rs`'s [`project`](super::include::project).

use std::path::{Path, PathBuf};

use super::paths;
use super::tree::{self, Node};
use crate::config::checks::{Loc, Problems};
use crate::config::interpolate::Env;
use crate::config::{read_text, ConfigError};

/// A file of a project, and where it was named (`None`: on the command
/// line or found by discovery).
pub(crate) struct Named {
    /// As shown in messages: a file of the command line as given; one
    /// included or extended joined to the main project's directory as
    /// given and cleaned as text (`paths::clean`).
    pub path: PathBuf,
    pub at: Option<Loc>,
}

/// Reads files into trees, collecting problems.
pub(crate) struct Loader<'a, 'o> {
    /// The main project's directory, as given.
    dir: &'a Path,
    pub out: &'o mut Problems,
    /// YAML syntax errors: they end the load once every file is read.
    pub syntax: Vec<ConfigError>,
    /// Every file read, in the order first read, as shown.
    pub files: Vec<PathBuf>,
}

impl<'a, 'o> Loader<'a, 'o> {
    pub fn new(dir: &'a Path, out: &'o mut Problems) -> Self {
        Loader {
            dir,
            out,
            syntax: Vec::new(),
            files: Vec::new(),
        }
    }

    /// A path relative to the main project's directory, as shown.
    pub fn shown(&self, rel: &Path) -> PathBuf {
        paths::clean(&self.dir.join(rel))
    }

    /// One file as a tree, its paths starting at `base`. `None` when it
    /// cannot be read (said where it was named) or is not valid YAML.
    pub fn read(&mut self, file: &Named, base: &Path, env: Env<'_>) -> Option<Node> {
        if let Some(at) = &file.at {
            if !file.path.is_file() {
                self.out
                    .error(at, format!("no such file: {}", file.path.display()));
                return None;
            }
        }
        if !self.files.contains(&file.path) {
            self.files.push(file.path.clone());
        }
        let text = match read_text(&file.path) {
            Ok(t) => t,
            Err(e) => {
                self.syntax.extend(e.errors);
                return None;
            }
        };
        match tree::parse(&file.path, &text, env, self.out) {
            Ok(mut t) => {
                paths::rebase(&mut t, base);
                Some(t)
            }
            Err(e) => {
                self.syntax.extend(e.errors);
                None
            }
        }
    }
}

/// `path` absolute against the current directory and cleaned as text, to
/// compare files (compose-go compares paths as `filepath.Join` cleans
/// them, without resolving symlinks).
pub(crate) fn absolute(path: &Path) -> PathBuf {
    paths::clean(&std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()))
}
