//! A compose project's files read into one tree, the way compose-go's
//! loader (`loader/loader.go`, `loadYamlFile`) reads them, file by file:
//!
//! 1. the file parsed into a located tree and interpolated (`tree.rs`),
//!    its relative paths rewritten to start at the main project's
//!    directory (`paths.rs`);
//! 2. its `include`s loaded as projects of their own and imported
//!    (`include.rs`);
//! 3. its services' `extends` applied (`extends.rs`), after the includes
//!    so a service can extend an included one;
//! 4. merged over the files before it (`merge.rs`). An empty file (or one
//!    of only comments) adds nothing: compose-go skips an empty document.
//!
//! Every file read is remembered, in order: problems are sorted by it and
//! watch mode reloads when one changes.

use std::path::{Path, PathBuf};

use super::tree::{self, Kind, Node};
use super::{extends, include, merge, paths};
use crate::config::checks::{Loc, Problems};
use crate::config::interpolate::Env;
use crate::config::{read_text, ConfigError};

/// A file of a project, and where it was named (`None`: on the command
/// line or found by discovery).
pub(crate) struct Named {
    /// As shown in messages: joined to the main project's directory as
    /// given, without `.` components.
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

    /// Loads `files` as one project whose relative paths start at `base`
    /// (relative to the main project's directory) and whose variables come
    /// from `env`. `chain`: the files (as shown) that include this project,
    /// to refuse a cycle. The merged tree; `None` when no file holds anything.
    pub fn project(
        &mut self,
        files: &[Named],
        base: &Path,
        env: Env<'_>,
        chain: &[PathBuf],
    ) -> Option<Node> {
        let mut merged: Option<Node> = None;
        for (i, file) in files.iter().enumerate() {
            let Some(mut tree) = self.read(file, base, env) else {
                continue;
            };
            match &tree.kind {
                Kind::Null => continue,
                Kind::Map(_) => {}
                _ => {
                    self.out
                        .error(&tree.at, super::top_level_not_a_mapping(i > 0));
                    continue;
                }
            }
            let mut within = chain.to_vec();
            within.push(file.path.clone());
            include::apply(self, &mut tree, base, env, &within);
            extends::apply(self, &mut tree, &file.path, base, env);
            merged = Some(match merged {
                None => tree,
                Some(earlier) => merge::merge(earlier, tree, &mut Vec::new(), self.out),
            });
        }
        merged
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

/// `path` absolute against the current directory, without `.`
/// components (symlinks are not resolved: compose-go compares paths as
/// joined).
pub(crate) fn absolute(path: &Path) -> PathBuf {
    paths::clean(&std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()))
}
