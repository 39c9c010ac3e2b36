//! The schema of `kiln.yaml`: walks the `serde_yaml::Value` with a node
//! path, checks every field, applies defaults and interpolation, and turns
//! entries into [`ImageConfig`]s. Then the checks that need the whole file
//! (`checks.rs`, shared with compose files): duplicate names, context
//! directories and Dockerfiles on disk, `depends_on` targets, inferred
//! dependencies and cycles.
//!
//! Every check records its problem and carries on with a neutral value, so
//! one run reports everything; positions come from [`Positions`].

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_yaml::{Mapping, Value};

use super::checks::{self, Loc, Meta, Problems};
use super::interpolate::{interpolate, Env};
use super::positions::{NodePath, Pos, Positions, Seg, MAX_DEPTH};
use super::reference::{check_reference, check_tag};
use super::suggest::{closest, did_you_mean};
use super::units::{parse_duration, parse_size};
use super::{
    BuilderChoice, Config, ConfigError, ConfigErrors, ContextSource, Dockerfile, ImageConfig,
    Loaded, Source, DEFAULT_JOBS, DEFAULT_STALL_AFTER, DEFAULT_TIMEOUT,
};

const TOP_FIELDS: &[&str] = &["images", "defaults", "builder"];
const OLD_BUILDER_FIELDS: &[&str] = &["images"];
const DEFAULT_FIELDS: &[&str] = &[
    "builder",
    "jobs",
    "stall_after",
    "timeout",
    "push",
    "no_cache",
    "pull",
    "network",
    "platform",
    "args",
    "labels",
];
const IMAGE_FIELDS: &[&str] = &[
    "name",
    "context",
    "dockerfile",
    "image",
    "tags",
    "args",
    "target",
    "labels",
    "cache_from",
    "depends_on",
    "no_cache",
    "pull",
    "network",
    "extra_hosts",
    "shm_size",
    "platform",
    "stall_after",
    "timeout",
    "push",
    "builder",
];
/// The older layout (`builder: {images: [{name, from}]}`) also knows `from`.
const OLD_IMAGE_FIELDS: &[&str] = &[
    "name",
    "from",
    "context",
    "dockerfile",
    "image",
    "tags",
    "args",
    "target",
    "labels",
    "cache_from",
    "depends_on",
    "no_cache",
    "pull",
    "network",
    "extra_hosts",
    "shm_size",
    "platform",
    "stall_after",
    "timeout",
    "push",
    "builder",
];
/// Fields that only make sense for an image kiln builds; an `image:` entry
/// is pulled or used as-is, so these are contradictions there.
const BUILD_ONLY: &[&str] = &[
    "context",
    "from",
    "dockerfile",
    "args",
    "target",
    "labels",
    "cache_from",
    "no_cache",
    "network",
    "extra_hosts",
    "shm_size",
    "platform",
    "builder",
];

pub(crate) fn load_text(path: &Path, text: &str, env: Env<'_>) -> Result<Loaded, ConfigErrors> {
    load_read(path, text, Positions::read(text), env)
}

/// [`load_text`] with the text's positions already read (or where it
/// nests too deep).
pub(crate) fn load_read<'t>(
    path: &Path,
    text: &'t str,
    read: Result<Positions<'t>, Pos>,
    env: Env<'t>,
) -> Result<Loaded, ConfigErrors> {
    let (root, pos) = parse_read(path, text, read)?;
    let mut cx = Ctx {
        file: path.to_path_buf(),
        pos,
        env,
        out: Problems::default(),
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let config = cx.document(&root, path, &dir);
    cx.out.dedup();
    let by_pos = |a: &ConfigError, b: &ConfigError| (a.line, a.col).cmp(&(b.line, b.col));
    cx.out.errors.sort_by(by_pos);
    cx.out.warnings.sort_by(by_pos);
    match config {
        Some(config) if cx.out.errors.is_empty() => Ok(Loaded {
            config,
            warnings: cx.out.warnings,
        }),
        _ => {
            if cx.out.errors.is_empty() {
                // Defensive: a failed walk always records why; never return
                // an empty error list.
                cx.error(Pos::START, "invalid configuration");
            }
            Err(ConfigErrors {
                errors: cx.out.errors,
            })
        }
    }
}

/// The YAML of `path` as a value (merge keys applied) and where its nodes
/// are. Positions are read first: that reading also refuses nesting
/// deeper than [`MAX_DEPTH`] before serde_yaml (whose cost grows with the
/// depth at every token) reads the text.
pub(crate) fn parse_yaml<'t>(
    path: &Path,
    text: &'t str,
) -> Result<(Value, Positions<'t>), ConfigErrors> {
    parse_read(path, text, Positions::read(text))
}

/// [`parse_yaml`] with the positions already read.
fn parse_read<'t>(
    path: &Path,
    text: &'t str,
    read: Result<Positions<'t>, Pos>,
) -> Result<(Value, Positions<'t>), ConfigErrors> {
    let positions = read.map_err(|at| ConfigErrors {
        errors: vec![ConfigError {
            file: path.to_path_buf(),
            line: at.line,
            col: at.col,
            message: format!("YAML nested deeper than {MAX_DEPTH} levels"),
        }],
    })?;
    let mut root: Value = serde_yaml::from_str(text).map_err(|e| syntax_error(path, text, &e))?;
    super::merge_keys::apply(&mut root).map_err(|e| {
        let at = positions.value(&e.path);
        ConfigErrors {
            errors: vec![ConfigError {
                file: path.to_path_buf(),
                line: at.line,
                col: at.col,
                message: e.message,
            }],
        }
    })?;
    Ok((root, positions))
}

/// A serde_yaml error as one located error, without serde_yaml's own
/// "at line X column Y" (the location is already in front). A duplicate
/// key is located at the key (serde_yaml gives its mapping's start); a
/// tab where the error is is named as the cause.
pub(crate) fn syntax_error(path: &Path, text: &str, e: &serde_yaml::Error) -> ConfigErrors {
    let (mut line, mut col) = e
        .location()
        .map_or((1, 1), |l| (l.line().max(1), l.column().max(1)));
    let mut message = e.to_string();
    let mark = format!(" at line {line} column {col}");
    if let Some(i) = message.find(&mark) {
        message.replace_range(i..i + mark.len(), "");
    }
    // A second mark (libyaml's "while parsing X at line L column C") is
    // kept, in the same LINE:COL notation as the prefix.
    message = shorten_marks(&message);
    if message.contains("duplicate entry with key") {
        if let Some(at) = Positions::build(text).first_duplicate_key() {
            (line, col) = (at.line, at.col);
        }
    }
    if tab_at(text, line, col) && !message.contains("tab") {
        message.push_str(" (a tab: YAML indents with spaces only)");
    }
    ConfigErrors {
        errors: vec![ConfigError {
            file: path.to_path_buf(),
            line,
            col,
            message: format!("YAML syntax error: {message}"),
        }],
    }
}

/// Whether the 1-based `line`:`col` of `text` is a tab, or in the line's
/// indentation holding one.
fn tab_at(text: &str, line: usize, col: usize) -> bool {
    let Some(l) = text.lines().nth(line.saturating_sub(1)) else {
        return false;
    };
    let indent: String = l.chars().take_while(|c| c.is_whitespace()).collect();
    l.chars().nth(col.saturating_sub(1)) == Some('\t')
        || (col <= indent.chars().count() + 1 && indent.contains('\t'))
}

/// Rewrites `at line L column C` as `at L:C`.
fn shorten_marks(msg: &str) -> String {
    let mut out = String::new();
    let mut rest = msg;
    while let Some(i) = rest.find("at line ") {
        out.push_str(&rest[..i]);
        let after = &rest[i + "at line ".len()..];
        let line_end = after
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(after.len());
        let (line, tail) = after.split_at(line_end);
        let col_part = tail.strip_prefix(" column ").unwrap_or("");
        let col_end = col_part
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(col_part.len());
        if line.is_empty() || col_end == 0 {
            out.push_str("at line ");
            rest = after;
            continue;
        }
        out.push_str(&format!("at {line}:{}", &col_part[..col_end]));
        rest = &col_part[col_end..];
    }
    out.push_str(rest);
    out
}

/// Values of `defaults:`, applied under every image.
struct Defaults {
    builder: BuilderChoice,
    jobs: usize,
    stall_after: Duration,
    timeout: Duration,
    push: bool,
    no_cache: bool,
    pull: bool,
    network: Option<String>,
    platform: Option<String>,
    args: BTreeMap<String, String>,
    labels: BTreeMap<String, String>,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            builder: BuilderChoice::Auto,
            jobs: DEFAULT_JOBS,
            stall_after: DEFAULT_STALL_AFTER,
            timeout: DEFAULT_TIMEOUT,
            push: false,
            no_cache: false,
            pull: false,
            network: None,
            platform: None,
            args: BTreeMap::new(),
            labels: BTreeMap::new(),
        }
    }
}

/// The list of image entries, and where it is.
struct ImageList<'v> {
    value: &'v Value,
    path: NodePath,
    /// Under the older `builder: {images: ...}` layout, whose entries also
    /// know `from`.
    older_layout: bool,
}

/// Where an entry's build context and Dockerfile are, as written.
struct BuildPlace {
    /// `context` (or the older `from`) and its position.
    context: Option<(String, Pos)>,
    dockerfile: String,
    dockerfile_pos: Option<Pos>,
    /// False when `context`/`dockerfile` had an error already.
    ok: bool,
}

/// What an entry gives its build besides the context.
struct Recipe {
    args: BTreeMap<String, String>,
    labels: BTreeMap<String, String>,
    target: Option<String>,
    network: Option<String>,
    platform: Option<String>,
    cache_from: Vec<String>,
    extra_hosts: Vec<String>,
}

/// How kiln runs an entry's build and push.
struct RunOptions {
    no_cache: bool,
    pull: bool,
    push: bool,
    shm_size: Option<u64>,
    stall_after: Duration,
    timeout: Duration,
    builder: BuilderChoice,
}

/// Fields of one mapping that passed the unknown-key check.
struct Fields<'v> {
    map: HashMap<&'static str, (&'v Value, NodePath)>,
}

impl<'v> Fields<'v> {
    /// Present and not null.
    fn get(&self, k: &str) -> Option<(&'v Value, &NodePath)> {
        self.map
            .get(k)
            .filter(|(v, _)| !matches!(untag(v), Value::Null))
            .map(|(v, p)| (*v, p))
    }

    fn has(&self, k: &str) -> bool {
        self.get(k).is_some()
    }
}

fn untag(v: &Value) -> &Value {
    match v {
        // Tags (`!foo x`) carry no meaning for kiln; look through them.
        Value::Tagged(t) => &t.value,
        other => other,
    }
}

fn child(path: &[Seg], key: &str) -> NodePath {
    let mut p = path.to_vec();
    p.push(Seg::Key(key.to_string()));
    p
}

fn item(path: &[Seg], i: usize) -> NodePath {
    let mut p = path.to_vec();
    p.push(Seg::Index(i));
    p
}

pub(crate) fn key_text(k: &Value) -> Option<String> {
    match untag(k) {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some("null".to_string()),
        _ => None,
    }
}

pub(crate) fn valid_name(n: &str) -> bool {
    let b = n.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter().all(|&c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'.' | b'-')
        })
}

/// Docker's remote-context rules: `git://`, `git@` and `github.com/` are
/// always git; `http(s)://` only with `.git` at the end or before `#`.
pub(crate) fn is_git_context(s: &str) -> bool {
    if s.starts_with("git://") || s.starts_with("git@") || s.starts_with("github.com/") {
        return true;
    }
    (s.starts_with("http://") || s.starts_with("https://"))
        && (s.ends_with(".git") || s.contains(".git#"))
}

struct Ctx<'a> {
    file: PathBuf,
    pos: Positions<'a>,
    env: Env<'a>,
    out: Problems,
}

impl Ctx<'_> {
    fn loc(&self, at: Pos) -> Loc {
        Loc::new(&self.file, at)
    }

    fn error(&mut self, at: Pos, message: impl Into<String>) {
        let at = self.loc(at);
        self.out.error(&at, message);
    }

    fn warn(&mut self, at: Pos, message: impl Into<String>) {
        let at = self.loc(at);
        self.out.warn(&at, message);
    }

    /// Splits a mapping into known fields, reporting unknown keys (with a
    /// suggestion, or the list of valid fields). Keys starting with `x-`
    /// are allowed at the top level for YAML anchors, as in Compose.
    fn fields<'v>(
        &mut self,
        map: &'v Mapping,
        path: &[Seg],
        valid: &[&'static str],
        allow_x: bool,
    ) -> Fields<'v> {
        let mut out = HashMap::new();
        for (k, v) in map {
            let Some(name) = key_text(k) else {
                let at = self.pos.value(path);
                self.error(at, "mapping keys must be plain field names");
                continue;
            };
            let p = child(path, &name);
            if let Some(&known) = valid.iter().find(|f| **f == name) {
                out.insert(known, (v, p));
                continue;
            }
            if allow_x && name.starts_with("x-") {
                continue;
            }
            let hint = match closest(&name, valid.iter().copied()) {
                Some(c) => format!(" — did you mean '{c}'?"),
                None => format!(" (valid fields: {})", valid.join(", ")),
            };
            let at = self.pos.key(&p);
            self.error(at, format!("unknown field '{name}'{hint}"));
        }
        Fields { map: out }
    }

    fn interp(&mut self, s: &str, path: &[Seg]) -> Option<String> {
        match interpolate(s, self.env) {
            Ok(r) => {
                for w in r.warnings {
                    let at = self.pos.value(path);
                    self.warn(at, w);
                }
                Some(r.value)
            }
            Err(e) => {
                let at = self.pos.value(path);
                self.error(at, e);
                None
            }
        }
    }

    /// A string field (interpolated). Errors are recorded; `None` then.
    fn string(&mut self, v: &Value, path: &[Seg], field: &str) -> Option<String> {
        match untag(v) {
            Value::String(s) => self.interp(s, path),
            _ => {
                let at = self.pos.value(path);
                self.error(at, format!("'{field}' must be a string"));
                None
            }
        }
    }

    /// A string, number or bool, stringified (for args and labels).
    fn scalar_text(&mut self, v: &Value, path: &[Seg], what: &str) -> Option<String> {
        match untag(v) {
            Value::String(s) => self.interp(s, path),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => {
                let at = self.pos.value(path);
                self.error(at, format!("'{what}' must be a string, number or bool"));
                None
            }
        }
    }

    fn boolean(&mut self, v: &Value, path: &[Seg], field: &str) -> Option<bool> {
        let text = match untag(v) {
            Value::Bool(b) => return Some(*b),
            // After interpolation `push: ${PUSH:-false}` is a string.
            Value::String(s) => self.interp(s, path)?,
            _ => String::new(),
        };
        match text.trim().to_ascii_lowercase().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => {
                let at = self.pos.value(path);
                self.error(at, format!("'{field}' must be true or false"));
                None
            }
        }
    }

    fn string_list(&mut self, v: &Value, path: &[Seg], field: &str) -> Option<Vec<String>> {
        let Value::Sequence(seq) = untag(v) else {
            let at = self.pos.value(path);
            self.error(at, format!("'{field}' must be a list of strings"));
            return None;
        };
        let mut out = Vec::with_capacity(seq.len());
        let mut ok = true;
        for (i, x) in seq.iter().enumerate() {
            let p = item(path, i);
            match untag(x) {
                Value::String(s) => match self.interp(s, &p) {
                    Some(s) => out.push(s),
                    None => ok = false,
                },
                _ => {
                    let at = self.pos.value(&p);
                    self.error(at, format!("'{field}' must be a list of strings"));
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    fn string_map(
        &mut self,
        v: &Value,
        path: &[Seg],
        field: &str,
    ) -> Option<BTreeMap<String, String>> {
        let Value::Mapping(m) = untag(v) else {
            let at = self.pos.value(path);
            self.error(at, format!("'{field}' must be a mapping of NAME: value"));
            return None;
        };
        let mut out = BTreeMap::new();
        let mut ok = true;
        for (k, x) in m {
            let Some(name) = key_text(k) else {
                let at = self.pos.value(path);
                self.error(at, format!("'{field}' keys must be plain names"));
                ok = false;
                continue;
            };
            // A plain string (the usual case: nothing to interpolate, so
            // nothing to report) is taken as it is, without a path.
            if let Value::String(s) = untag(x) {
                if !s.contains('$') {
                    out.insert(name, s.clone());
                    continue;
                }
            }
            let p = child(path, &name);
            match self.scalar_text(x, &p, &format!("{field}.{name}")) {
                Some(s) => {
                    out.insert(name, s);
                }
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn duration(&mut self, v: &Value, path: &[Seg], field: &str) -> Option<Duration> {
        let text = match untag(v) {
            Value::Number(n) => n.to_string(),
            Value::String(s) => self.interp(s, path)?,
            _ => String::new(),
        };
        parse_duration(&text)
            .map_err(|e| {
                let at = self.pos.value(path);
                self.error(at, format!("{field}: {e}"));
            })
            .ok()
    }

    fn size(&mut self, v: &Value, path: &[Seg], field: &str) -> Option<u64> {
        let text = match untag(v) {
            Value::Number(n) => n.to_string(),
            Value::String(s) => self.interp(s, path)?,
            _ => String::new(),
        };
        parse_size(&text)
            .map_err(|e| {
                let at = self.pos.value(path);
                self.error(at, format!("{field}: {e}"));
            })
            .ok()
    }

    fn jobs(&mut self, v: &Value, path: &[Seg]) -> Option<usize> {
        let parsed = match untag(v) {
            Value::Number(n) => n.as_u64().and_then(|n| usize::try_from(n).ok()),
            Value::String(s) => self.interp(s, path)?.trim().parse::<usize>().ok(),
            _ => None,
        };
        match parsed {
            Some(n) if n >= 1 => Some(n),
            _ => {
                let at = self.pos.value(path);
                self.error(at, "'jobs' must be an integer >= 1");
                None
            }
        }
    }

    fn builder(&mut self, v: &Value, path: &[Seg]) -> Option<BuilderChoice> {
        let s = self.string(v, path, "builder")?;
        let got = BuilderChoice::parse(&s);
        if got.is_none() {
            let hint = did_you_mean(&s, ["auto", "buildkit", "legacy"]);
            let at = self.pos.value(path);
            self.error(
                at,
                format!("'builder' must be one of auto, buildkit, legacy (got '{s}'){hint}"),
            );
        }
        got
    }

    /// The whole file: top-level fields, `defaults`, each image entry,
    /// then the checks that need every entry.
    fn document(&mut self, root: &Value, path: &Path, dir: &Path) -> Option<Config> {
        let top = self.top_mapping(root)?;
        let f = self.fields(top, &[], TOP_FIELDS, true);
        let defaults = match f.get("defaults") {
            Some((v, p)) => self.defaults(v, &p.clone()),
            None => Defaults::default(),
        };
        let list = self.image_list(&f)?;
        let entries = self.image_entries(&list)?;
        let mut images = Vec::new();
        let mut metas = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            let at = item(&list.path, i);
            if let Some((img, meta)) = self.image(e, &at, &defaults, dir, list.older_layout) {
                images.push(img);
                metas.push(meta);
            }
        }
        checks::whole_stack(&mut images, &metas, true, &mut self.out);
        Some(Config {
            path: path.to_path_buf(),
            dir: dir.to_path_buf(),
            jobs: defaults.jobs,
            images,
        })
    }

    /// The document's top-level mapping; an empty file or any other shape
    /// is an error.
    fn top_mapping<'v>(&mut self, root: &'v Value) -> Option<&'v Mapping> {
        match untag(root) {
            Value::Mapping(m) => Some(m),
            Value::Null => {
                self.error(Pos::START, "file is empty; add an 'images:' list");
                None
            }
            _ => {
                let at = self.pos.value(&[]);
                self.error(
                    at,
                    "expected a mapping with an 'images:' list at the top level",
                );
                None
            }
        }
    }

    /// The `images:` list, or the older layout's `builder: {images: ...}`;
    /// `None` (with the reason recorded) when there is none to use.
    fn image_list<'v>(&mut self, f: &Fields<'v>) -> Option<ImageList<'v>> {
        let images = f.get("images").map(|(value, p)| ImageList {
            value,
            path: p.clone(),
            older_layout: false,
        });
        let list = match f.get("builder") {
            Some((b, bp)) => self.older_layout_list(b, bp, images),
            None => images,
        };
        if list.is_none() && !f.map.contains_key("builder") {
            self.no_images(f);
        }
        list
    }

    /// The list under a top-level `builder:` (the older layout), unless
    /// `images:` is there too or `builder` is not that mapping (errors
    /// recorded; `images` stays the list).
    fn older_layout_list<'v>(
        &mut self,
        builder: &'v Value,
        path: &NodePath,
        images: Option<ImageList<'v>>,
    ) -> Option<ImageList<'v>> {
        match untag(builder) {
            Value::Mapping(_) if images.is_some() => {
                let at = self.pos.key(path);
                self.error(
                    at,
                    "use either 'images' or the older 'builder: {images: ...}', not both",
                );
                images
            }
            Value::Mapping(m) => {
                let bf = self.fields(m, path, OLD_BUILDER_FIELDS, false);
                match bf.get("images") {
                    Some((value, p)) => Some(ImageList {
                        value,
                        path: p.clone(),
                        older_layout: true,
                    }),
                    None => {
                        let at = self.pos.key(path);
                        self.error(at, "'builder' is missing its 'images' list");
                        None
                    }
                }
            }
            _ => {
                let at = self.pos.value(path);
                self.error(
                    at,
                    "top-level 'builder' must be a mapping with 'images' (the older layout); \
                     to choose a builder, set 'defaults.builder'",
                );
                images
            }
        }
    }

    /// No images at all: `images:` with nothing after it, or no `images:`.
    fn no_images(&mut self, f: &Fields<'_>) {
        match f.map.get("images") {
            // `images:` with nothing after it: point at the key, not at the
            // empty value (which yaml_rust2 places on the next line).
            Some((_, p)) => {
                let at = self.pos.key(p);
                self.error(at, "'images' is empty; define at least one image");
            }
            None => self.error(Pos::START, "no images defined: add an 'images:' list"),
        }
    }

    /// The entries of the image list: a non-empty sequence.
    fn image_entries<'v>(&mut self, list: &ImageList<'v>) -> Option<&'v [Value]> {
        let Value::Sequence(entries) = untag(list.value) else {
            let at = self.pos.value(&list.path);
            self.error(at, "'images' must be a list of image entries");
            return None;
        };
        if entries.is_empty() {
            let at = self.pos.value(&list.path);
            self.error(at, "'images' is empty; define at least one image");
            return None;
        }
        Some(entries)
    }

    fn defaults(&mut self, v: &Value, path: &[Seg]) -> Defaults {
        let mut d = Defaults::default();
        let Value::Mapping(m) = untag(v) else {
            let at = self.pos.value(path);
            self.error(at, "'defaults' must be a mapping");
            return d;
        };
        let f = self.fields(m, path, DEFAULT_FIELDS, false);
        if let Some((v, p)) = f.get("builder") {
            d.builder = self.builder(v, p).unwrap_or(d.builder);
        }
        if let Some((v, p)) = f.get("jobs") {
            d.jobs = self.jobs(v, p).unwrap_or(d.jobs);
        }
        if let Some((v, p)) = f.get("stall_after") {
            d.stall_after = self.duration(v, p, "stall_after").unwrap_or(d.stall_after);
        }
        if let Some((v, p)) = f.get("timeout") {
            d.timeout = self.duration(v, p, "timeout").unwrap_or(d.timeout);
        }
        for (field, slot) in [
            ("push", &mut d.push),
            ("no_cache", &mut d.no_cache),
            ("pull", &mut d.pull),
        ] {
            if let Some((v, p)) = f.get(field) {
                *slot = self.boolean(v, p, field).unwrap_or(*slot);
            }
        }
        if let Some((v, p)) = f.get("network") {
            d.network = self.string(v, p, "network");
        }
        if let Some((v, p)) = f.get("platform") {
            d.platform = self.string(v, p, "platform");
        }
        if let Some((v, p)) = f.get("args") {
            d.args = self.string_map(v, p, "args").unwrap_or_default();
        }
        if let Some((v, p)) = f.get("labels") {
            d.labels = self.string_map(v, p, "labels").unwrap_or_default();
        }
        d
    }

    /// One entry of the image list, with `d`'s defaults applied. Every
    /// field is checked even when an earlier one failed; `None` only when
    /// the entry is not a mapping or has no usable name.
    fn image(
        &mut self,
        entry: &Value,
        path: &[Seg],
        d: &Defaults,
        dir: &Path,
        older_layout: bool,
    ) -> Option<(ImageConfig, Meta)> {
        let entry_pos = self.pos.value(path);
        let Value::Mapping(m) = untag(entry) else {
            self.error(
                entry_pos,
                "each entry in 'images' must be a mapping with at least 'name'",
            );
            return None;
        };
        let valid = if older_layout {
            OLD_IMAGE_FIELDS
        } else {
            IMAGE_FIELDS
        };
        let f = self.fields(m, path, valid, false);
        let (name, name_pos) = self.image_name(&f, entry_pos);
        let prebuilt = self.prebuilt_image(&f);
        let place = self.build_place(&f);
        let tags = self.image_tags(&f);
        let recipe = self.recipe(&f, d);
        let (depends_on, depends_pos) = self.depends_on(&f);
        self.check_extra_hosts(&f, &recipe.extra_hosts);
        let run = self.run_options(&f, d);

        let name = name?;
        let (source, context) = source_of(&name, name_pos, prebuilt, &place, dir);
        let tags = tags.unwrap_or_else(|| default_tags(&name, &source));
        let img = ImageConfig {
            name,
            source,
            tags,
            args: recipe.args,
            target: recipe.target,
            labels: recipe.labels,
            cache_from: recipe.cache_from,
            depends_on,
            inferred_depends_on: Vec::new(),
            unused_depends_on: Vec::new(),
            no_cache: run.no_cache,
            pull: run.pull,
            pull_if_missing: false,
            network: recipe.network,
            extra_hosts: recipe.extra_hosts,
            shm_size: run.shm_size,
            platform: recipe.platform,
            stall_after: run.stall_after,
            timeout: run.timeout,
            push: run.push,
            builder: run.builder,
            line: entry_pos.line,
        };
        let meta = Meta {
            name_at: self.loc(name_pos),
            depends_at: depends_pos.into_iter().map(|p| self.loc(p)).collect(),
            context: context.map(|(text, at)| (text, self.loc(at))),
            dockerfile_at: place.dockerfile_pos.map(|p| self.loc(p)),
            ok_for_files: place.ok,
        };
        Some((img, meta))
    }

    /// The entry's `name` (checked) and where it is; `entry_pos` when it
    /// has none.
    fn image_name(&mut self, f: &Fields<'_>, entry_pos: Pos) -> (Option<String>, Pos) {
        let Some((v, p)) = f.get("name") else {
            self.error(entry_pos, "image entry is missing 'name'");
            return (None, entry_pos);
        };
        let name_pos = self.pos.value(p);
        let name = self.string(v, p, "name");
        if let Some(n) = name.as_deref().filter(|n| !valid_name(n)) {
            self.error(
                name_pos,
                format!(
                    "invalid image name '{n}' — use lowercase letters, digits, '_', '.', '-', \
                     starting with a letter or digit"
                ),
            );
        }
        (name, name_pos)
    }

    /// `image:` (a prebuilt image), refusing the fields that only make
    /// sense for an image kiln builds.
    fn prebuilt_image(&mut self, f: &Fields<'_>) -> Option<String> {
        let (v, p) = f.get("image")?;
        let image = self.string(v, p, "image");
        if image.as_deref().is_some_and(|s| s.trim().is_empty()) {
            let at = self.pos.value(p);
            self.error(at, "'image' must not be empty");
        } else if let Some(Err(why)) = image.as_deref().map(check_reference) {
            let at = self.pos.value(p);
            let shown = image.as_deref().unwrap_or_default();
            self.error(at, format!("invalid image reference '{shown}': {why}"));
        }
        for k in BUILD_ONLY {
            if let Some((_, kp)) = f.get(k) {
                let at = self.pos.key(kp);
                self.error(
                    at,
                    format!("'{k}' cannot be used with 'image' (a prebuilt image is never built)"),
                );
            }
        }
        image
    }

    /// `context` (or the older `from`) and `dockerfile`, as written.
    fn build_place(&mut self, f: &Fields<'_>) -> BuildPlace {
        let mut place = BuildPlace {
            context: None,
            dockerfile: "Dockerfile".to_string(),
            dockerfile_pos: None,
            ok: true,
        };
        if f.has("from") && f.has("context") {
            if let Some((_, p)) = f.get("context") {
                let at = self.pos.key(p);
                self.error(at, "use either 'from' or 'context', not both");
            }
        }
        for field in ["context", "from"] {
            if let Some((v, p)) = f.get(field) {
                let at = self.pos.value(p);
                match self.string(v, p, field) {
                    Some(s) if s.trim().is_empty() => {
                        self.error(at, format!("'{field}' must not be empty"));
                        place.ok = false;
                    }
                    Some(s) => place.context = Some((s, at)),
                    None => place.ok = false,
                }
            }
        }
        if let Some((v, p)) = f.get("dockerfile") {
            let at = self.pos.value(p);
            place.dockerfile_pos = Some(at);
            match self.string(v, p, "dockerfile") {
                Some(s) if s.trim().is_empty() => {
                    self.error(at, "'dockerfile' must not be empty");
                    place.ok = false;
                }
                Some(s) => place.dockerfile = s,
                None => place.ok = false,
            }
        }
        place
    }

    /// `tags`, each checked; `None` when absent (or not a list).
    fn image_tags(&mut self, f: &Fields<'_>) -> Option<Vec<String>> {
        let (v, p) = f.get("tags")?;
        let list = self.string_list(v, p, "tags")?;
        for (i, t) in list.iter().enumerate() {
            if let Err(why) = check_tag(t) {
                let at = self.pos.value(&item(p, i));
                self.error(at, format!("invalid tag '{t}': {why}"));
            }
        }
        if list.is_empty() {
            let at = self.pos.value(p);
            self.error(
                at,
                "'tags' is empty; remove it to use the default '<name>:latest'",
            );
        }
        Some(list)
    }

    /// What the build is given besides its context: args and labels over
    /// the defaults', target, network, platform, cache sources, hosts.
    fn recipe(&mut self, f: &Fields<'_>, d: &Defaults) -> Recipe {
        let mut args = d.args.clone();
        if let Some((v, p)) = f.get("args") {
            args.extend(self.string_map(v, p, "args").unwrap_or_default());
        }
        let mut labels = d.labels.clone();
        if let Some((v, p)) = f.get("labels") {
            labels.extend(self.string_map(v, p, "labels").unwrap_or_default());
        }
        Recipe {
            args,
            labels,
            target: self.optional_string(f, "target", None),
            network: self.optional_string(f, "network", d.network.clone()),
            platform: self.optional_string(f, "platform", d.platform.clone()),
            cache_from: self.cache_from(f),
            extra_hosts: self.optional_list(f, "extra_hosts"),
        }
    }

    /// `cache_from`, each a valid image reference.
    fn cache_from(&mut self, f: &Fields<'_>) -> Vec<String> {
        let list = self.optional_list(f, "cache_from");
        if let Some((_, p)) = f.get("cache_from") {
            let p = p.clone();
            for (i, r) in list.iter().enumerate() {
                if let Err(why) = check_reference(r) {
                    let at = self.pos.value(&item(&p, i));
                    self.error(at, format!("invalid cache_from image '{r}': {why}"));
                }
            }
        }
        list
    }

    /// Declared `depends_on`, and where each entry is.
    fn depends_on(&mut self, f: &Fields<'_>) -> (Vec<String>, Vec<Pos>) {
        let depends_on = self.optional_list(f, "depends_on");
        let positions = match f.get("depends_on") {
            Some((_, p)) => (0..depends_on.len())
                .map(|i| self.pos.value(&item(p, i)))
                .collect(),
            None => Vec::new(),
        };
        (depends_on, positions)
    }

    /// Each extra host must be `HOST:IP`.
    fn check_extra_hosts(&mut self, f: &Fields<'_>, extra_hosts: &[String]) {
        let Some((_, p)) = f.get("extra_hosts") else {
            return;
        };
        for (i, h) in extra_hosts.iter().enumerate() {
            if !h.contains(':') {
                let at = self.pos.value(&item(p, i));
                self.error(at, format!("invalid extra host '{h}' (use HOST:IP)"));
            }
        }
    }

    /// How kiln runs the build: cache and pull flags, push, shm size,
    /// stall and timeout limits, builder; the defaults' where absent.
    fn run_options(&mut self, f: &Fields<'_>, d: &Defaults) -> RunOptions {
        let no_cache = self.optional_flag(f, "no_cache", d.no_cache);
        let pull = self.optional_flag(f, "pull", d.pull);
        let push = self.optional_flag(f, "push", d.push);
        let shm_size = match f.get("shm_size") {
            Some((v, p)) => self.size(v, p, "shm_size"),
            None => None,
        };
        let stall_after = self.optional_duration(f, "stall_after", d.stall_after);
        let timeout = self.optional_duration(f, "timeout", d.timeout);
        let builder = match f.get("builder") {
            Some((v, p)) => self.builder(v, p).unwrap_or(d.builder),
            None => d.builder,
        };
        RunOptions {
            no_cache,
            pull,
            push,
            shm_size,
            stall_after,
            timeout,
            builder,
        }
    }

    /// A string field, or `default` when absent (`None` when invalid).
    fn optional_string(
        &mut self,
        f: &Fields<'_>,
        field: &str,
        default: Option<String>,
    ) -> Option<String> {
        match f.get(field) {
            Some((v, p)) => self.string(v, p, field),
            None => default,
        }
    }

    /// A list field; empty when absent or invalid.
    fn optional_list(&mut self, f: &Fields<'_>, field: &str) -> Vec<String> {
        match f.get(field) {
            Some((v, p)) => self.string_list(v, p, field).unwrap_or_default(),
            None => Vec::new(),
        }
    }

    /// A boolean field; `default` when absent or invalid.
    fn optional_flag(&mut self, f: &Fields<'_>, field: &str, default: bool) -> bool {
        match f.get(field) {
            Some((v, p)) => self.boolean(v, p, field).unwrap_or(default),
            None => default,
        }
    }

    /// A duration field; `default` when absent or invalid.
    fn optional_duration(&mut self, f: &Fields<'_>, field: &str, default: Duration) -> Duration {
        match f.get(field) {
            Some((v, p)) => self.duration(v, p, field).unwrap_or(default),
            None => default,
        }
    }
}

fn source_of(
    name: &str,
    name_pos: Pos,
    prebuilt: Option<String>,
    place: &BuildPlace,
    dir: &Path,
) -> (Source, Option<(String, Pos)>) {
    if let Some(image) = prebuilt {
        return (Source::Prebuilt { image }, None);
    }
    let (text, at) = place
        .context
        .clone()
        .unwrap_or_else(|| (format!("./{name}"), name_pos));
    let context = if is_git_context(&text) {
        ContextSource::Git(text.clone())
    } else {
        // Collecting the components drops every `.` but a leading one:
        // `./kiln.yaml` with `context: ./sub` is `./sub`, not `././sub`.
        ContextSource::Dir(dir.join(&text).components().collect())
    };
    let to_check = match &context {
        ContextSource::Dir(_) if place.ok => Some((text, at)),
        _ => None,
    };
    let source = Source::Build {
        context,
        dockerfile: Dockerfile::Path(place.dockerfile.clone()),
    };
    (source, to_check)
}

/// Tags when `tags` is absent: the prebuilt reference, else `NAME:latest`.
fn default_tags(name: &str, source: &Source) -> Vec<String> {
    match source {
        Source::Prebuilt { image } => vec![image.clone()],
        Source::Build { .. } => vec![format!("{name}:latest")],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_contexts() {
        for g in [
            "git://host/repo",
            "git@github.com:me/repo.git",
            "github.com/me/repo",
            "https://example.com/repo.git",
            "https://example.com/repo.git#main:sub",
            "http://example.com/r.git",
        ] {
            assert!(is_git_context(g), "{g}");
        }
        for d in [
            "./base",
            "https://example.com/tarball.tgz",
            "base.git",
            "/abs/dir",
        ] {
            assert!(!is_git_context(d), "{d}");
        }
    }

    #[test]
    fn names() {
        for ok in ["base", "0x", "a_b.c-d", "web2"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "Web", "-a", ".a", "a b", "a/b", "é"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
