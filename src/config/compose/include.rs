//! A compose project's files put together, and `include:`.
//!
//! [`project`] reads a project the way compose-go's loader
//! (`loader/loader.go`, `loadYamlFile`) does, file by file:
//! 1. the file read into a located, interpolated tree, its relative paths
//!    rewritten to start at the main project's directory (`files.rs`);
//! 2. its `include`s loaded as projects of their own and imported (here);
//! 3. its services' `extends` applied (`extends.rs`), after the includes
//!    so a service can extend an included one;
//! 4. merged over the files before it (`merge.rs`). An empty file (or one
//!    of only comments) adds nothing: compose-go skips an empty document.
//!
//! `include:` as compose-go's `loader/include.go` reads it. Each entry is
//! a path, or a mapping of `path` (a file or a list: the later files are
//! that project's override files), `project_directory` and `env_file`.
//!
//! - Paths, `project_directory` and `env_file` are relative to the
//!   including project's directory.
//! - The included files are a project of their own: its directory is
//!   `project_directory`, else the first file's; its relative paths start
//!   there (`paths.rs`), and a `build:` without `context` builds that
//!   directory. Its own `include`s and `extends` are applied.
//! - Its variables are the including project's, then (for names those do
//!   not set) its `env_file`s, else the `.env` in its directory.
//! - Its services (and volumes, networks, secrets, configs, models) join
//!   the including file's; one both define is merged, the including
//!   file's definition over the included one.
//! - A file that includes itself, directly or not, is an error.

use std::path::{Path, PathBuf};

use super::env::{self, EnvVars};
use super::files::{absolute, Loader, Named};
use super::project::TOP_KEYS;
use super::tree::{Entry, Kind, Node};
use super::{extends, merge, paths, read};
use crate::config::checks::{Loc, Problems};
use crate::config::interpolate::Env;
use crate::config::read_text;

/// How deep includes may nest (a cycle through a symlink is not seen as
/// one by comparing paths).
const MAX_NESTING: usize = 32;

/// Keys of an include given as a mapping.
const KEYS: &[&str] = &["path", "env_file", "project_directory"];

/// What an included project brings (compose-go's `importResources`).
const RESOURCES: [&str; 6] = [
    "services", "volumes", "networks", "secrets", "configs", "models",
];

/// One entry of `include:`.
struct Spec {
    paths: Vec<(String, Loc)>,
    project_directory: Option<String>,
    env_files: Vec<(String, Loc)>,
}

/// Loads `files` as one project whose relative paths start at `base`
/// (relative to the main project's directory) and whose variables come
/// from `env`. `chain`: the files (as shown) that include this project,
/// to refuse a cycle. The merged tree; `None` when no file holds anything.
pub(crate) fn project(
    ld: &mut Loader<'_, '_>,
    files: &[Named],
    base: &Path,
    env: Env<'_>,
    chain: &[PathBuf],
) -> Option<Node> {
    let mut merged: Option<Node> = None;
    for (i, file) in files.iter().enumerate() {
        let Some(mut tree) = ld.read(file, base, env) else {
            continue;
        };
        match &tree.kind {
            Kind::Null => continue,
            Kind::Map(_) => {}
            _ => {
                ld.out
                    .error(&tree.at, super::top_level_not_a_mapping(i > 0));
                // (A first file of a list stands as the root, not as
                // nothing: it is not empty.)
                if i == 0 {
                    merged = Some(tree);
                }
                continue;
            }
        }
        let mut within = chain.to_vec();
        within.push(file.path.clone());
        apply(ld, &mut tree, base, env, &within);
        extends::apply(ld, &mut tree, &file.path, base, env);
        merged = Some(match merged {
            None => tree,
            Some(earlier) => merge::merge(earlier, tree, &mut Vec::new(), ld.out),
        });
    }
    merged
}

/// Loads the `include:` of `tree` (a file of the project whose paths
/// start at `base`) and imports what it defines; removes the key.
/// `chain`: the files being loaded that lead here, this one last.
fn apply(ld: &mut Loader<'_, '_>, tree: &mut Node, base: &Path, env: Env<'_>, chain: &[PathBuf]) {
    let Some(entry) = tree.take("include") else {
        return;
    };
    let items = match entry.value.kind {
        Kind::Seq(items) => items,
        Kind::Null => return,
        _ => {
            ld.out.error(
                &entry.value.at,
                format!(
                    "'include' must be a list of files, not {}",
                    entry.value.describe()
                ),
            );
            return;
        }
    };
    for item in &items {
        if let Some(spec) = read_spec(item, ld.out) {
            include(ld, tree, &spec, base, env, chain);
        }
    }
}

fn read_spec(item: &Node, out: &mut Problems) -> Option<Spec> {
    match &item.kind {
        Kind::Str(s) => Some(Spec {
            paths: vec![(s.clone(), item.at.clone())],
            project_directory: None,
            env_files: Vec::new(),
        }),
        Kind::Map(_) => {
            read::unknown_keys(item, KEYS, "include key", out);
            let Some(path) = item.get("path") else {
                out.error(&item.at, "an include needs a 'path': the file to include");
                return None;
            };
            let paths = string_or_list(path, "path", out)?;
            if paths.is_empty() {
                out.error(&path.at, "'path' must name at least one file");
                return None;
            }
            let project_directory = match item.get("project_directory") {
                Some(n) => Some(read::non_empty(n, "project_directory", out)?),
                None => None,
            };
            let env_files = match item.get("env_file") {
                Some(n) => string_or_list(n, "env_file", out)?,
                None => Vec::new(),
            };
            Some(Spec {
                paths,
                project_directory,
                env_files,
            })
        }
        _ => {
            out.error(
                &item.at,
                format!(
                    "an include is a file path or a mapping with 'path', not {}",
                    item.describe()
                ),
            );
            None
        }
    }
}

/// compose's `string_or_list`.
fn string_or_list(node: &Node, what: &str, out: &mut Problems) -> Option<Vec<(String, Loc)>> {
    match &node.kind {
        Kind::Str(s) => Some(vec![(s.clone(), node.at.clone())]),
        _ => read::strings(node, what, out),
    }
}

/// Loads one include and imports it into `tree`.
fn include(
    ld: &mut Loader<'_, '_>,
    tree: &mut Node,
    spec: &Spec,
    base: &Path,
    env: Env<'_>,
    chain: &[PathBuf],
) {
    let rels: Vec<PathBuf> = spec
        .paths
        .iter()
        .map(|(p, _)| paths::clean(&base.join(p)))
        .collect();
    let files: Vec<Named> = rels
        .iter()
        .zip(&spec.paths)
        .map(|(rel, (_, at))| Named {
            path: ld.shown(rel),
            at: Some(at.clone()),
        })
        .collect();
    if chain.len() > MAX_NESTING {
        ld.out.error(
            &spec.paths[0].1,
            format!("includes nest deeper than {MAX_NESTING} files"),
        );
        return;
    }
    let first = absolute(&files[0].path);
    if let Some(i) = chain.iter().position(|f| absolute(f) == first) {
        let cycle: Vec<String> = chain[i..]
            .iter()
            .chain([&files[0].path])
            .map(|f| f.display().to_string())
            .collect();
        ld.out.error(
            &spec.paths[0].1,
            format!("include cycle: {}", cycle.join(" includes ")),
        );
        return;
    }
    let project_dir = match &spec.project_directory {
        Some(d) => paths::clean(&base.join(d)),
        None => rels[0].parent().map(Path::to_path_buf).unwrap_or_default(),
    };
    let Some(vars) = env_vars(ld, spec, base, &project_dir, env) else {
        return;
    };
    let included_env = |k: &str| env(k).or_else(|| vars.get(k).cloned());
    let Some(mut imported) = project(ld, &files, &project_dir, &included_env, chain) else {
        return;
    };
    // (Only its resources are imported: its other keys are checked here.)
    read::unknown_keys(&imported, TOP_KEYS, "top-level key", ld.out);
    paths::default_contexts(&mut imported, &project_dir);
    import(tree, imported, ld.out);
}

/// The include's variables: its `env_file`s (each must exist; `/dev/null`
/// stands for none), else `.env` in its directory if there is one.
fn env_vars(
    ld: &mut Loader<'_, '_>,
    spec: &Spec,
    base: &Path,
    project_dir: &Path,
    env: Env<'_>,
) -> Option<EnvVars> {
    let files: Vec<(PathBuf, Option<&Loc>)> = if spec.env_files.is_empty() {
        let default = ld.shown(&project_dir.join(".env"));
        if default.is_file() {
            vec![(default, None)]
        } else {
            Vec::new()
        }
    } else {
        spec.env_files
            .iter()
            .filter(|(f, _)| f != "/dev/null")
            .map(|(f, at)| (ld.shown(&base.join(f)), Some(at)))
            .collect()
    };
    let mut vars = EnvVars::new();
    for (file, at) in files {
        if let (Some(at), false) = (at, file.is_file()) {
            ld.out
                .error(at, format!("no such env file: {}", file.display()));
            return None;
        }
        if !ld.files.contains(&file) {
            ld.files.push(file.clone());
        }
        let parsed = read_text(&file)
            .map_err(|e| e.errors)
            .and_then(|text| env::parse(&file, &text, env, &mut vars).map_err(|e| vec![e]));
        if let Err(errors) = parsed {
            ld.out.errors.extend(errors);
            return None;
        }
    }
    Some(vars)
}

/// Adds what `imported` defines to `tree`; where both define one, the
/// tree's definition is merged over the imported one.
fn import(tree: &mut Node, mut imported: Node, out: &mut Problems) {
    for key in RESOURCES {
        let Some(from) = imported.take(key) else {
            continue;
        };
        let Some(from_items) = read::mapping(&from.value, key, out).map(|n| n.entries().to_vec())
        else {
            continue;
        };
        let Some(top) = tree.entries_mut() else {
            return;
        };
        let i = match top.iter().position(|e| e.key == key) {
            Some(i) => i,
            None => {
                top.push(Entry {
                    key: key.to_string(),
                    key_at: from.key_at.clone(),
                    value: Node::new(Kind::Null, from.value.at.clone()),
                });
                top.len() - 1
            }
        };
        if matches!(top[i].value.kind, Kind::Null) {
            top[i].value.kind = Kind::Map(Vec::new());
        }
        // (A section that is not a mapping is reported with the project.)
        let Some(local) = top[i].value.entries_mut() else {
            continue;
        };
        for item in from_items {
            match local.iter().position(|e| e.key == item.key) {
                Some(j) => {
                    let mine = local[j].value.clone();
                    let mut path = vec![key.to_string(), item.key.clone()];
                    local[j].value = merge::merge(item.value, mine, &mut path, out);
                }
                None => local.push(item),
            }
        }
    }
}
