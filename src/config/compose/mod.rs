//! Compose files as kiln stacks: `compose.yaml` (and override files) read
//! into the same [`Config`](crate::config::Config) a `kiln.yaml` gives, so
//! the rest of kiln does not know the difference.
//!
//! The pipeline, following the compose CLI (compose-go) step by step:
//! 1. `env.rs`: the environment (process, then `.env` or `--env-file`)
//!    and the project name (`-p`, `COMPOSE_PROJECT_NAME`, `name:`, the
//!    directory);
//! 2. `include.rs` puts the project's files together, file by file: each
//!    read (`files.rs`) into a tree of located nodes (`tree.rs`), every
//!    string interpolated (`${VAR:-default}`, `${VAR:?err}`, `$$`), the
//!    relative paths of included and extended files rewritten to start at
//!    the project's directory (`paths.rs`); its `include`s loaded and
//!    imported, its `extends` applied (`extends.rs`); then merged over
//!    the files before it as override files are (`merge.rs`);
//! 3. `project.rs` / `service.rs`: profiles, `depends_on`, `x-kiln:`, and
//!    each enabled service turned into an image, tagged `image:` or
//!    `<project>-<service>`;
//! 4. the same whole-stack checks as kiln.yaml (`checks.rs`).
//!
//! Problems are reported all at once, each at `FILE:LINE:COL` of the file
//! (compose file, override file, included or extended file, or `.env`)
//! where the value was written.

mod engines;
mod env;
mod extends;
mod files;
mod include;
mod merge;
mod paths;
mod project;
mod read;
mod secrets;
mod service;
mod tree;

use std::path::{Path, PathBuf};

use crate::config::checks::Problems;
use crate::config::interpolate::{interpolate, Env};
use crate::config::positions::{too_deep, Positions};
use crate::config::secrets::Sources;
use crate::config::suggest::did_you_mean;
use crate::config::{read_text, ConfigErrors, LoadError, Loaded};

/// Compose file names, in the compose CLI's order of preference.
pub const FILE_NAMES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
];

/// Override files the compose CLI adds next to a discovered compose file
/// (the first one found), in its order of preference.
pub const OVERRIDE_FILE_NAMES: [&str; 4] = [
    "compose.override.yml",
    "compose.override.yaml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
];

/// The compose CLI's options that shape a project.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComposeOptions {
    /// `-p/--project-name`.
    pub project_name: Option<String>,
    /// `--profile` (repeatable); empty: `COMPOSE_PROFILES`.
    pub profiles: Vec<String>,
    /// `--env-file` (repeatable); empty: `.env` in the project directory.
    pub env_files: Vec<PathBuf>,
}

impl ComposeOptions {
    /// Whether any option was given (they only apply to compose files).
    pub fn is_empty(&self) -> bool {
        self == &ComposeOptions::default()
    }
}

/// The variables the `--env-file`s (else `.env` in `dir`) set, as the
/// compose CLI reads them before it knows the project (for
/// `COMPOSE_FILE`); none when they cannot be read (loading the project
/// reports why).
pub(crate) fn env_file_vars(
    explicit: &[PathBuf],
    dir: &Path,
    process: Env<'_>,
) -> std::collections::BTreeMap<String, String> {
    env::read_env_files(explicit, dir, process).unwrap_or_default()
}

/// Whether `path` has a compose file's name.
pub(crate) fn has_compose_name(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    FILE_NAMES.contains(&name) || OVERRIDE_FILE_NAMES.contains(&name)
}

/// Whether a file (read as far as its positions' first reading, which has
/// the top-level keys) reads as a compose file rather than a kiln.yaml: its
/// top level has `services` and none of kiln.yaml's `images`, `defaults`
/// or `builder`.
pub(crate) fn has_compose_keys(top: &Positions<'_>) -> bool {
    let has = |k: &str| top.has_top_key(k);
    has("services") && !has("images") && !has("defaults") && !has("builder")
}

/// What loading a project needs before its files are read: the project
/// directory (the first file's, as given), the env files' variables and
/// the project name.
struct Setting {
    dir: PathBuf,
    dotenv: env::EnvVars,
    name: String,
}

impl Setting {
    fn new(
        files: &[PathBuf],
        opts: &ComposeOptions,
        process: Env<'_>,
    ) -> Result<Setting, LoadError> {
        let Some(first) = files.first() else {
            return Err(LoadError::Usage("no compose file given".to_string()));
        };
        let mut texts = Vec::with_capacity(files.len());
        let mut unreadable = Vec::new();
        for f in files {
            match read_text(f) {
                Ok(t) => texts.push(t),
                Err(e) => unreadable.extend(e.errors),
            }
        }
        if !unreadable.is_empty() {
            return Err(ConfigErrors { errors: unreadable }.into());
        }
        let dir = match first.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let absolute_dir = std::path::absolute(&dir).unwrap_or_else(|_| dir.clone());
        let dotenv =
            env::read_env_files(&opts.env_files, &absolute_dir, process).map_err(|e| match e {
                env::EnvFileError::Syntax(err) => ConfigErrors { errors: vec![err] }.into(),
                env::EnvFileError::Missing(msg) => LoadError::Usage(msg),
            })?;
        let base_env = |k: &str| process(k).or_else(|| dotenv.get(k).cloned());
        let (name, _) = env::project_name(
            opts.project_name.as_deref(),
            base_env("COMPOSE_PROJECT_NAME"),
            name_in_files(&texts, &base_env),
            &absolute_dir,
        )
        .map_err(LoadError::Usage)?;
        Ok(Setting { dir, dotenv, name })
    }

    /// A variable for interpolation: the process's, else the env files';
    /// `COMPOSE_PROJECT_NAME` is the chosen name (compose-go sets it).
    fn var(&self, process: Env<'_>, k: &str) -> Option<String> {
        if k == "COMPOSE_PROJECT_NAME" {
            return Some(self.name.clone());
        }
        process(k).or_else(|| self.dotenv.get(k).cloned())
    }
}

/// Every file loading `files` reads (they, what they include and extend,
/// the included projects' env files), in order; the given files when the
/// project cannot be read that far.
pub(crate) fn files_read(
    files: &[PathBuf],
    opts: &ComposeOptions,
    process: Env<'_>,
) -> Vec<PathBuf> {
    let Ok(setting) = Setting::new(files, opts, process) else {
        return files.to_vec();
    };
    let full_env = |k: &str| setting.var(process, k);
    let mut out = Problems::default();
    match read_project(files, &setting.dir, &full_env, &mut out) {
        Ok((_, read)) => read,
        Err(_) => files.to_vec(),
    }
}

/// Loads compose `files` (merged in order) into a config. `process` is the
/// process environment.
pub(crate) fn load(
    files: &[PathBuf],
    opts: &ComposeOptions,
    process: Env<'_>,
    sources: Sources,
) -> Result<Loaded, LoadError> {
    let setting = Setting::new(files, opts, process)?;
    let (first, dir, name) = (&files[0], &setting.dir, &setting.name);
    let full_env = |k: &str| setting.var(process, k);

    let mut out = Problems::new(sources);
    let (merged, read) = read_project(files, dir, &full_env, &mut out)?;
    let profiles = enabled_profiles(opts, &full_env);
    let project = project::Project {
        name,
        path: first,
        dir,
        profiles: &profiles,
        env: &full_env,
    };
    let converted = project::to_config(&merged, &project, &mut out);
    check_profile_flags(&opts.profiles, &converted.known_profiles)?;
    finish(&read, converted.config, out)
}

/// The last non-empty top-level `name:` among the files, interpolated.
fn name_in_files(texts: &[String], env: Env<'_>) -> Option<String> {
    let mut name = None;
    for text in texts {
        // (Too deep a file is refused where it is read as a tree.)
        if too_deep(text).is_some() {
            continue;
        }
        let Ok(serde_yaml::Value::Mapping(top)) = serde_yaml::from_str(text) else {
            continue;
        };
        if let Some(serde_yaml::Value::String(n)) = top.get("name") {
            if let Ok(i) = interpolate(n, env) {
                if !i.value.is_empty() {
                    name = Some(i.value);
                }
            }
        }
    }
    name
}

/// Reads every file (with what they include and extend) and merges them
/// in order; also every file read, in order. YAML syntax errors (of all
/// files) end the load.
fn read_project(
    files: &[PathBuf],
    dir: &Path,
    env: Env<'_>,
    out: &mut Problems,
) -> Result<(tree::Node, Vec<PathBuf>), LoadError> {
    let mut loader = files::Loader::new(dir, out);
    let named: Vec<files::Named> = files
        .iter()
        .map(|f| files::Named {
            path: f.clone(),
            at: None,
        })
        .collect();
    let merged = include::project(&mut loader, &named, Path::new(""), env, &[]);
    if !loader.syntax.is_empty() {
        return Err(ConfigErrors {
            errors: std::mem::take(&mut loader.syntax),
        }
        .into());
    }
    // Every file empty: the first one's (empty) tree, which says so.
    let root = merged.unwrap_or_else(|| {
        tree::Node::new(
            tree::Kind::Null,
            crate::config::checks::Loc::new(&files[0], crate::config::positions::Pos::START),
        )
    });
    Ok((root, loader.files))
}

/// What a file whose top level is a list or a scalar is told.
fn top_level_not_a_mapping(is_override: bool) -> &'static str {
    if is_override {
        "expected a mapping at the top level of an override file"
    } else {
        "expected a mapping with 'services:' at the top level"
    }
}

/// `--profile`s, else `COMPOSE_PROFILES` (comma-separated).
fn enabled_profiles(opts: &ComposeOptions, env: Env<'_>) -> Vec<String> {
    if !opts.profiles.is_empty() {
        return opts.profiles.clone();
    }
    env("COMPOSE_PROFILES")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(String::from)
        .collect()
}

/// A `--profile` that no service has is most likely a typo.
fn check_profile_flags(
    flags: &[String],
    known: &std::collections::BTreeSet<String>,
) -> Result<(), LoadError> {
    for p in flags {
        if p != "*" && !known.contains(p) {
            let hint = did_you_mean(p, known.iter().map(String::as_str));
            let list = if known.is_empty() {
                "no service has a profile".to_string()
            } else {
                let names: Vec<&str> = known.iter().map(String::as_str).collect();
                format!("profiles: {}", names.join(", "))
            };
            return Err(LoadError::Usage(format!(
                "--profile {p}: no service has this profile ({list}){hint}"
            )));
        }
    }
    Ok(())
}

/// Problems in file order (the order the files were given), then line and
/// column; the config when there are none.
fn finish(
    files: &[PathBuf],
    config: Option<crate::config::Config>,
    mut out: Problems,
) -> Result<Loaded, LoadError> {
    let order = |e: &crate::config::ConfigError| {
        let file = files
            .iter()
            .position(|f| *f == e.file)
            .unwrap_or(files.len());
        (file, e.line, e.col)
    };
    out.dedup();
    out.errors.sort_by_key(order);
    out.warnings.sort_by_key(order);
    match config {
        Some(config) if out.errors.is_empty() => Ok(Loaded {
            config,
            warnings: out.warnings,
        }),
        _ => {
            if out.errors.is_empty() {
                // Defensive: a failed conversion always says why.
                out.error(
                    &crate::config::checks::Loc::new(
                        &files[0],
                        crate::config::positions::Pos::START,
                    ),
                    "invalid compose file",
                );
            }
            Err(ConfigErrors { errors: out.errors }.into())
        }
    }
}
