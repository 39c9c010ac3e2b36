//! kiln's configuration: finding, reading and validating `kiln.yaml` (or
//! compose files), and planning the build order it implies.
//!
//! What each file owns:
//! - `mod.rs` (this file): the public types ([`Config`], [`ImageConfig`],
//!   [`ConfigError`], ...), [`load`], which runs the pipeline
//!   *read → YAML syntax (serde_yaml) → positions (yaml_rust2) → schema →
//!   file checks → dependencies*, and [`load_stack`], which sends compose
//!   files to `compose/` instead.
//! - `discover.rs`: [`discover`], where the file is (`--file`, `$KILN_FILE`,
//!   `$COMPOSE_FILE`, `kiln.yaml`/`kiln.yml` in the current or a parent
//!   directory, else a compose file and its override file).
//! - `compose/`: compose files into the same [`Config`] (its `mod.rs` says
//!   how: environment and project name, located trees, override merging,
//!   services as images).
//! - `checks.rs`: the checks that need every image (names, contexts and
//!   Dockerfiles on disk, `depends_on`, cycles), shared by both formats.
//! - `positions/`: the `path → line:col` side table built from
//!   `yaml_rust2` events (why: see its `mod.rs`).
//! - `merge_keys.rs`: YAML merge keys (`<<: *defaults`) resolved in the
//!   parsed value, also those inside anchors.
//! - `fields.rs`: the table of image fields (name, kind, where each may be
//!   written, `--set`, its compose key, whether change detection counts it)
//!   that every reader of fields follows, and kiln.yaml's JSON Schema made
//!   from it; `values.rs`: a field's typed value put into an
//!   [`ImageConfig`] by name, and the grammar of the scalar kinds that
//!   kiln.yaml and compose files share.
//! - `engines.rs`: the stack's `engines:` (`{name, host, jobs, tls}`),
//!   checked the same for both formats, and images' `engine:` pins.
//! - `secrets.rs`: build secrets and SSH agents (`secrets:`, `ssh:`), and
//!   the checks both formats share (files, variables, sockets, builder).
//! - `yaml.rs`: a stack file's YAML read into a `serde_yaml::Value` with its
//!   positions, syntax errors located.
//! - `schema/`: kiln.yaml's layout (`mod.rs`: the top level, `defaults:`,
//!   each entry into an [`ImageConfig`]) and its typed readers (`read.rs`),
//!   collecting every problem rather than stopping at the first.
//! - `interpolate.rs`: `${VAR}` substitution in string scalars.
//! - `units.rs`: durations and sizes.
//! - `dockerfile.rs`: image references in Dockerfiles, for inferred
//!   dependencies, and the context paths a Dockerfile reads.
//! - `reference.rs`: Docker's grammar of image references, for tags and
//!   `image:`/`cache_from:` values.
//! - `plan.rs`: dependency graph, cycles, build order and waves, `select`.
//! - `overrides.rs`: `--set IMAGE.FIELD=VALUE`.
//! - `stack.rs`: [`StackSource`], loading the stack as the command line
//!   asked (discover, load, `--set`, `--builder`), at the start and on
//!   every reload in watch mode; what a reload changed.
//! - `suggest.rs`: "did you mean" suggestions.
//!
//! Errors: a problem in the file is a [`ConfigError`] (`FILE:LINE:COL:
//! message`), and one run gathers them all into [`ConfigErrors`]. The value
//! parsers under it (`units`, `interpolate`, `overrides`, [`Config::select`])
//! return `Result<_, String>`: nothing branches on their errors, they are
//! only shown (after `FILE:LINE:COL:` or as a usage error), so the message
//! is the whole interface. As in cargo and ripgrep, it names the offending
//! value and says what to write instead (`use e.g. 90s, 2m, 1h30m`,
//! `did you mean 'web'?`).
//!
//! Design: serde_yaml is the parser of record (it decides what is valid YAML
//! and what type each scalar has). It reports only the first syntax error,
//! and a `serde_yaml::Value` carries no positions, so positions come from a
//! second, event-level read with `yaml_rust2` keyed by node path. Keeping the
//! values from serde_yaml (instead of building a positioned tree from
//! yaml_rust2 events) avoids re-implementing YAML's scalar typing rules
//! (`yes`, `0x10`, `1e3`, ...) and lets aliases be resolved by serde_yaml
//! (merge keys by `merge_keys.rs`); the positions table follows aliases and
//! merge keys to where a node was written.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod checks;
mod compose;
mod discover;
mod dockerfile;
mod dockerfile_steps;
mod engines;
pub mod fields;
mod interpolate;
mod merge_keys;
mod overrides;
mod plan;
mod positions;
mod reference;
mod schema;
mod secrets;
mod stack;
mod suggest;
mod units;
mod values;
mod yaml;

pub use compose::{ComposeOptions, FILE_NAMES as COMPOSE_FILE_NAMES};
pub use discover::{discover, DiscoverError, FileEnv, FILE_NAMES};
pub use dockerfile::{context_reads, dockerfile_refs, ref_matches_tag, ContextReads, TagSet};
pub use dockerfile_steps::{buildkit_steps, PlannedStep};
pub use engines::{host_problem, EngineConfig, TransferRegistry};
pub use interpolate::{interpolate, Interpolated};
pub use plan::{Dep, Plan};
pub use reference::{check_reference, check_tag, push_tags_of, split_tag, tag_matches};
pub use secrets::{
    BuildSecret, SecretSource, SecretValue, Sources, SshForward, SshSource, DEFAULT_SSH_ID,
    MAX_SECRET_SIZE,
};
pub use stack::{LoadedStack, StackError, StackSource};
pub use units::{parse_duration, parse_size};
pub use values::FieldValue;

/// Default number of concurrent builds when neither `defaults.jobs` nor the
/// CLI says otherwise.
pub const DEFAULT_JOBS: usize = 4;
/// Default `stall_after`: how long a build may print nothing.
pub const DEFAULT_STALL_AFTER: Duration = Duration::from_secs(60);
/// Default per-image build `timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// A validated `kiln.yaml`.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file as given or discovered (displayed as-is in messages).
    pub path: PathBuf,
    /// The directory of the file; relative contexts are joined to it.
    pub dir: PathBuf,
    /// `defaults.jobs`, or [`DEFAULT_JOBS`]. The CLI's `--jobs` wins over it.
    pub jobs: usize,
    /// Images in file order.
    pub images: Vec<ImageConfig>,
    /// The top-level `engines:` (compose: `x-kiln: engines`); empty: the
    /// one engine the environment names, as always.
    pub engines: Vec<EngineConfig>,
    /// `collect:` (default true): every built image also ends up on the
    /// first engine.
    pub collect: bool,
    /// The compose project's name (`-p`, `COMPOSE_PROJECT_NAME`, `name:`,
    /// else the directory's); none for a kiln.yaml.
    pub project: Option<String>,
    /// What the dashboard calls the stack in its frame: the stack file as
    /// the user names it from the current directory, or `compose project
    /// NAME`. Set by [`StackSource::load`]; empty when loaded otherwise.
    /// From outside kiln: shown sanitised.
    pub label: String,
    /// `transfer_registry:`: images move between engines through it
    /// (None: `docker save` streamed into `docker load` through kiln).
    pub transfer_registry: Option<TransferRegistry>,
}

/// Which Docker builder to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BuilderChoice {
    /// BuildKit when the daemon supports it, else legacy.
    #[default]
    Auto,
    BuildKit,
    Legacy,
}

impl BuilderChoice {
    /// Parses `auto`, `buildkit` or `legacy` (case-insensitive).
    pub fn parse(s: &str) -> Option<BuilderChoice> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Some(BuilderChoice::Auto),
            "buildkit" => Some(BuilderChoice::BuildKit),
            "legacy" => Some(BuilderChoice::Legacy),
            _ => None,
        }
    }

    /// The spelling used in `kiln.yaml`.
    pub fn as_str(self) -> &'static str {
        match self {
            BuilderChoice::Auto => "auto",
            BuilderChoice::BuildKit => "buildkit",
            BuilderChoice::Legacy => "legacy",
        }
    }
}

impl fmt::Display for BuilderChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an image comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Built by kiln.
    Build {
        context: ContextSource,
        dockerfile: Dockerfile,
    },
    /// `image: REF`: used as-is, never built.
    Prebuilt { image: String },
}

/// The Dockerfile of a build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dockerfile {
    /// A path relative to the context (Docker's `-f` semantics).
    Path(String),
    /// The Dockerfile's text itself (compose's `dockerfile_inline`). The
    /// engine sends it inside the build context, as the docker CLI does
    /// for a Dockerfile from stdin.
    Inline(String),
}

impl Dockerfile {
    /// The Dockerfile's text: the inline text, or the file read from the
    /// context directory `dir`. `None` when the file cannot be read.
    pub fn text_in(&self, dir: &Path) -> Option<String> {
        match self {
            Dockerfile::Path(p) => std::fs::read(dir.join(p))
                .ok()
                .map(|b| String::from_utf8_lossy(&b).into_owned()),
            Dockerfile::Inline(text) => Some(text.clone()),
        }
    }
}

/// A build context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContextSource {
    /// A directory: absolute, or already joined with [`Config::dir`].
    Dir(PathBuf),
    /// A remote git context (`https://host/repo.git#ref:subdir`), passed to
    /// Docker untouched.
    Git(String),
}

/// One entry of `images:`, with defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageConfig {
    pub name: String,
    pub source: Source,
    /// Default: `["<name>:latest"]` for built images, `[<image>]` for
    /// prebuilt ones.
    pub tags: Vec<String>,
    /// `defaults.args` with the image's own args on top.
    pub args: BTreeMap<String, String>,
    pub target: Option<String>,
    /// `defaults.labels` with the image's own labels on top.
    pub labels: BTreeMap<String, String>,
    pub cache_from: Vec<String>,
    /// Declared `depends_on` only (see [`ImageConfig::inferred_depends_on`]).
    pub depends_on: Vec<String>,
    /// Images this one uses through its Dockerfile (`FROM`, `COPY --from`,
    /// `RUN --mount=from=`) and does not already declare. Filled by
    /// [`load`] and [`Config::apply_override`].
    pub inferred_depends_on: Vec<String>,
    /// Declared dependencies whose tags the Dockerfile never names (it was
    /// read and names none of them): they only order the builds. Filled
    /// with `inferred_depends_on`.
    pub unused_depends_on: Vec<String>,
    pub no_cache: bool,
    pub pull: bool,
    /// Prebuilt images only: pull the image when the daemon does not have
    /// it (compose's default `pull_policy: missing`). kiln.yaml: false.
    pub pull_if_missing: bool,
    pub network: Option<String>,
    /// `engine:`: the engine (of the stack's `engines:`) it must build on.
    pub engine: Option<String>,
    pub extra_hosts: Vec<String>,
    /// Bytes.
    pub shm_size: Option<u64>,
    pub platform: Option<String>,
    pub stall_after: Duration,
    pub timeout: Duration,
    pub push: bool,
    /// Which of `tags` a push pushes: tags, or patterns with `*`
    /// ([`push_tags_of`]); default `["*"]`, every tag.
    pub push_tags: Vec<String>,
    pub builder: BuilderChoice,
    /// Build secrets (`RUN --mount=type=secret`), served by kiln's
    /// BuildKit session; by id, the defaults' first.
    pub secrets: Vec<BuildSecret>,
    /// SSH agents (`RUN --mount=type=ssh`), served by kiln's BuildKit
    /// session; by id, the defaults' first.
    pub ssh: Vec<SshForward>,
    /// 1-based line of the entry in the file, for later messages.
    pub line: usize,
}

impl ImageConfig {
    /// The image `name` from `source`, written at `line`, with no tags yet
    /// and every other field at kiln's default.
    pub fn new(name: &str, source: Source, line: usize) -> ImageConfig {
        ImageConfig {
            name: name.to_string(),
            source,
            tags: Vec::new(),
            args: BTreeMap::new(),
            target: None,
            labels: BTreeMap::new(),
            cache_from: Vec::new(),
            depends_on: Vec::new(),
            inferred_depends_on: Vec::new(),
            unused_depends_on: Vec::new(),
            no_cache: false,
            pull: false,
            pull_if_missing: false,
            network: None,
            engine: None,
            extra_hosts: Vec::new(),
            shm_size: None,
            platform: None,
            stall_after: DEFAULT_STALL_AFTER,
            timeout: DEFAULT_TIMEOUT,
            push: false,
            push_tags: vec!["*".to_string()],
            builder: BuilderChoice::Auto,
            secrets: Vec::new(),
            ssh: Vec::new(),
            line,
        }
    }

    /// Whether this is an `image:` entry that is never built.
    pub fn is_prebuilt(&self) -> bool {
        matches!(self.source, Source::Prebuilt { .. })
    }
}

/// One problem, located in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based.
    pub line: usize,
    /// 1-based.
    pub col: usize,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.col,
            self.message
        )
    }
}

/// Every problem found in one run, in file order; displayed one per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors {
    pub errors: Vec<ConfigError>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// A successfully loaded config plus non-fatal warnings (same format as
/// errors), e.g. unset `${VAR}`s.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<ConfigError>,
}

/// Why a stack could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// Problems located in the files, each as `FILE:LINE:COL: message`.
    #[error("{0}")]
    Config(#[from] ConfigErrors),
    /// A problem with how kiln was asked (flags, files), not inside a file.
    #[error("{0}")]
    Usage(String),
}

/// Loads the stack in `files`: one kiln.yaml, or compose files merged in
/// order (later files override earlier ones, as compose's override files
/// do). A file is a compose file by its name (`compose.yaml`, ...) or by
/// having `services:` and no kiln.yaml keys at the top. `compose` holds the
/// compose CLI's options, which a kiln.yaml refuses. Secret sources are
/// checked (see [`load_stack_with`]).
pub fn load_stack(
    files: &[PathBuf],
    compose: &ComposeOptions,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Loaded, LoadError> {
    load_stack_with(files, compose, env, Sources::Checked)
}

/// [`load_stack`], checking where build secrets and SSH agents come from
/// as `sources` says.
pub fn load_stack_with(
    files: &[PathBuf],
    compose: &ComposeOptions,
    env: &dyn Fn(&str) -> Option<String>,
    sources: Sources,
) -> Result<Loaded, LoadError> {
    let Some(first) = files.first() else {
        return Err(LoadError::Usage("no stack file given".to_string()));
    };
    let text = read_text(first)?;
    if compose::has_compose_name(first) {
        return compose::load(files, compose, env, sources);
    }
    // One reading of the positions (which also refuses too deep a file)
    // tells a compose file by its keys and locates a kiln.yaml's problems.
    let read = positions::Positions::read(&text);
    if read.as_ref().is_ok_and(compose::has_compose_keys) {
        return compose::load(files, compose, env, sources);
    }
    if files.len() > 1 {
        return Err(LoadError::Usage(format!(
            "several -f files are merged only for compose files, and {} is a kiln.yaml",
            first.display()
        )));
    }
    if !compose.is_empty() {
        return Err(LoadError::Usage(format!(
            "-p/--project-name, --profile and --env-file apply to compose files, and {} is a kiln.yaml",
            first.display()
        )));
    }
    Ok(schema::load_read(first, &text, read, env, sources)?)
}

/// Reads and validates `path`. `env` resolves `${VAR}`s (pass
/// `&|k| std::env::var(k).ok()` in the CLI). Returns every problem at once.
pub fn load(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Loaded, ConfigErrors> {
    let text = read_text(path)?;
    load_str(path, &text, env)
}

/// A config file's text: UTF-8, without a byte-order mark. A file that
/// cannot be read or is not UTF-8 is a located error.
pub(crate) fn read_text(path: &Path) -> Result<String, ConfigErrors> {
    let at = |line: usize, col: usize, message: String| ConfigErrors {
        errors: vec![ConfigError {
            file: path.to_path_buf(),
            line,
            col,
            message,
        }],
    };
    let bytes = std::fs::read(path).map_err(|e| at(1, 1, format!("cannot read file: {e}")))?;
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let bytes = e.as_bytes();
            let (line, col) = line_col_of(bytes, e.utf8_error().valid_up_to());
            return Err(at(line, col, "file is not valid UTF-8".to_string()));
        }
    };
    Ok(match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => text,
    })
}

/// [`load`] for text already in memory; `path` is used for messages and to
/// resolve relative contexts.
pub fn load_str(
    path: &Path,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Loaded, ConfigErrors> {
    schema::load_text(path, text, env)
}

/// 1-based line and column (in chars) of byte offset `at`.
fn line_col_of(bytes: &[u8], at: usize) -> (usize, usize) {
    let before = &bytes[..at.min(bytes.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    let col = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    (line, col)
}

impl Config {
    /// Index of the image called `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.images.iter().position(|i| i.name == name)
    }

    /// The dependency graph, build order and waves.
    pub fn plan(&self) -> Plan {
        plan::plan(self)
    }

    /// The named images plus everything they depend on (declared or
    /// inferred), transitively, in plan order. An empty `names` selects all
    /// images. Unknown names are an error (all of them, with suggestions).
    pub fn select(&self, names: &[String]) -> Result<Vec<usize>, String> {
        plan::select(self, names)
    }

    /// Applies a CLI override `IMAGE.FIELD=VALUE` (`IMAGE` may be `*` for
    /// every image). Fields: those the table of fields marks settable
    /// ([`fields::settable`]): `tags` (comma-separated), `args.KEY`,
    /// `labels.KEY`, `target`, `platform`, `network` (empty value clears
    /// these three), `no_cache`, `pull`, `push`, `stall_after`, `timeout`,
    /// `dockerfile`. On error the config is unchanged.
    pub fn apply_override(&mut self, spec: &str) -> Result<(), String> {
        overrides::apply(self, spec)
    }
}
