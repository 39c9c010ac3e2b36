//! The layout of `kiln.yaml`: the top level, `defaults:`, the image list
//! (`list.rs`: `images:` or the older `builder: {images: [...]}`), and each
//! entry turned into an [`ImageConfig`]. Which fields an entry and `defaults:` take, and which
//! an `image:` entry refuses, is the table's (`fields.rs`); each field is
//! read by its kind (`read.rs`), but for the ones that say what the image
//! is and where it comes from, read here. Then the checks that need the
//! whole file (`checks.rs`, shared with compose files): duplicate names,
//! context directories and Dockerfiles on disk, `depends_on` targets,
//! inferred dependencies and cycles.
//!
//! Every check records its problem and carries on with a neutral value, so
//! one run reports everything; positions come from [`Positions`].

mod engines;
mod list;
mod read;
mod secrets;

use std::path::{Path, PathBuf};

use serde_yaml::{Mapping, Value};

use self::read::{item, Ctx, Fields};
use super::checks::{self, Meta, Problems};
use super::engines::{check as check_engines, check_pin, check_registry, EngineConfig};
use super::fields::{self, Entry, Field, FIELDS};
use super::interpolate::Env;
use super::positions::{NodePath, Pos, Positions, Seg};
use super::reference::{check_reference, check_tag};
use super::secrets::Sources;
use super::values::FieldValue;
use super::yaml::{parse_read, untag};
use super::{
    Config, ConfigError, ConfigErrors, ContextSource, Dockerfile, ImageConfig, Loaded, Source,
    DEFAULT_JOBS,
};

const TOP_FIELDS: &[&str] = &[
    "images",
    "defaults",
    "builder",
    "engines",
    "collect",
    "transfer_registry",
];
/// The fields of an entry that the layout reads itself: what names the
/// image and where it comes from. Every other field is read by its kind.
const OWN_READERS: &[&str] = &[
    "name",
    "from",
    "context",
    "dockerfile",
    "image",
    "tags",
    "depends_on",
];

pub(crate) fn load_text(path: &Path, text: &str, env: Env<'_>) -> Result<Loaded, ConfigErrors> {
    load_read(path, text, Positions::read(text), env, Sources::Checked)
}

/// [`load_text`] with the text's positions already read (or where it
/// nests too deep).
pub(crate) fn load_read<'t>(
    path: &Path,
    text: &'t str,
    read: Result<Positions<'t>, Pos>,
    env: Env<'t>,
    sources: Sources,
) -> Result<Loaded, ConfigErrors> {
    let (root, pos) = parse_read(path, text, read)?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut cx = Ctx {
        file: path.to_path_buf(),
        dir: dir.clone(),
        pos,
        env,
        out: Problems::new(sources),
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

/// What `defaults:` says: the stack's settings, and the values every
/// image starts from.
#[derive(Default)]
struct Defaults {
    /// `None`: [`DEFAULT_JOBS`].
    jobs: Option<usize>,
    values: Vec<(&'static Field, FieldValue)>,
    /// The stack's engines, which `engine:` pins must name.
    engines: Vec<EngineConfig>,
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

/// An image name: `[a-z0-9][a-z0-9_.-]*`.
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

impl Ctx<'_> {
    /// The whole file: top-level fields, `defaults`, each image entry,
    /// then the checks that need every entry.
    fn document(&mut self, root: &Value, path: &Path, dir: &Path) -> Option<Config> {
        let top = self.top_mapping(root)?;
        let f = self.fields(top, &[], TOP_FIELDS, true);
        let mut defaults = match f.get("defaults") {
            Some((v, p)) => self.defaults(v, &p.clone()),
            None => Defaults::default(),
        };
        if let Some((v, p)) = f.get("engines") {
            let raw = self.engines(v, &p.clone());
            defaults.engines = check_engines(raw, dir, &mut self.out);
        }
        let collect = match f.get("collect") {
            Some((v, p)) => self.collect(v, &p.clone()),
            None => true,
        };
        let registry = match f.get("transfer_registry") {
            Some((v, p)) => {
                let p = p.clone();
                self.string(v, &p, "transfer_registry")
                    .map(|s| (s, self.loc(self.pos.value(&p))))
            }
            None => None,
        };
        let transfer_registry = check_registry(registry, &defaults.engines, &mut self.out);
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
            jobs: defaults.jobs.unwrap_or(DEFAULT_JOBS),
            images,
            engines: defaults.engines,
            collect,
            project: None,
            label: String::new(),
            transfer_registry,
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

    fn defaults(&mut self, v: &Value, path: &[Seg]) -> Defaults {
        let mut d = Defaults::default();
        let Value::Mapping(m) = untag(v) else {
            let at = self.pos.value(path);
            self.error(at, "'defaults' must be a mapping");
            return d;
        };
        let takes = fields::defaults();
        let keys: Vec<&'static str> = takes.iter().map(|f| f.name).collect();
        let f = self.fields(m, path, &keys, false);
        for field in takes {
            let Some((v, p)) = f.get(field.name) else {
                continue;
            };
            match self.value(field, v, p) {
                Some(FieldValue::Count(jobs)) if field.entry == Entry::No => d.jobs = Some(jobs),
                Some(value) => d.values.push((field, value)),
                None => {}
            }
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
        let f = self.fields(m, path, &fields::entry_keys(older_layout), false);
        let (name, name_pos) = self.image_name(&f, entry_pos);
        let prebuilt = self.prebuilt_image(&f);
        let place = self.build_place(&f);
        let tags = self.image_tags(&f);
        let values = self.options(&f);
        let (depends_on, depends_pos) = self.depends_on(&f);

        let name = name?;
        let (source, context) = source_of(&name, name_pos, prebuilt, &place, dir);
        let tags = tags.unwrap_or_else(|| default_tags(&name, &source));
        let mut img = ImageConfig::new(&name, source, entry_pos.line);
        img.tags = tags;
        img.depends_on = depends_on;
        for (field, value) in d.values.iter().cloned().chain(values) {
            img.put(field.name, value);
        }
        self.builder_mounts(&img, &f, entry_pos);
        if let (Some(pin), Some((_, p))) = (&img.engine, f.get("engine")) {
            let at = self.loc(self.pos.value(p));
            check_pin(pin, &at, &d.engines, &mut self.out);
        }
        self.check_push_tags(&img, &f);
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
        for k in FIELDS.iter().filter(|f| !f.prebuilt).map(|f| f.name) {
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

    /// The entry's own `push_tags`: each one chooses at least one of the
    /// image's tags (a pattern under `defaults:` may choose none of an
    /// image's: that image pushes nothing).
    fn check_push_tags(&mut self, img: &ImageConfig, f: &Fields<'_>) {
        let Some((_, p)) = f.get("push_tags") else {
            return;
        };
        for (i, pattern) in img.push_tags.iter().enumerate() {
            if img.tags.iter().any(|t| super::tag_matches(pattern, t)) {
                continue;
            }
            let at = self.pos.value(&item(p, i));
            self.error(
                at,
                format!(
                    "push_tags: '{pattern}' is none of the image's tags ({}); \
                     name one of them, or use * as in 'localhost:5000/*'",
                    img.tags.join(", ")
                ),
            );
        }
    }

    /// Declared `depends_on`, and where each entry is.
    fn depends_on(&mut self, f: &Fields<'_>) -> (Vec<String>, Vec<Pos>) {
        let depends_on = match f.get("depends_on") {
            Some((v, p)) => self.string_list(v, p, "depends_on").unwrap_or_default(),
            None => Vec::new(),
        };
        let positions = match f.get("depends_on") {
            Some((_, p)) => (0..depends_on.len())
                .map(|i| self.pos.value(&item(p, i)))
                .collect(),
            None => Vec::new(),
        };
        (depends_on, positions)
    }

    /// The entry's other fields, each read by its kind and checked.
    fn options(&mut self, f: &Fields<'_>) -> Vec<(&'static Field, FieldValue)> {
        let mut values = Vec::new();
        for field in FIELDS.iter().filter(|f| !OWN_READERS.contains(&f.name)) {
            let Some((v, p)) = f.get(field.name) else {
                continue;
            };
            if let Some(value) = self.value(field, v, p) {
                self.check_items(field, &value, p);
                values.push((field, value));
            }
        }
        values
    }

    /// The checks of a list's items: `cache_from` names images, each
    /// extra host is `HOST:IP`.
    fn check_items(&mut self, field: &Field, value: &FieldValue, p: &NodePath) {
        let FieldValue::List(items) = value else {
            return;
        };
        for (i, it) in items.iter().enumerate() {
            let problem = match field.name {
                "cache_from" => check_reference(it)
                    .err()
                    .map(|why| format!("invalid cache_from image '{it}': {why}")),
                "extra_hosts" => {
                    (!it.contains(':')).then(|| format!("invalid extra host '{it}' (use HOST:IP)"))
                }
                _ => None,
            };
            if let Some(message) = problem {
                let at = self.pos.value(&item(p, i));
                self.error(at, message);
            }
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
