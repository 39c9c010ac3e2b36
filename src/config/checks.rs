//! The checks that need every image at once, shared by `kiln.yaml`
//! (`schema.rs`) and compose files (`compose/`): duplicate names, context
//! directories and Dockerfiles on disk, `depends_on` targets, inferred
//! dependencies and cycles.
//!
//! Each image comes with a [`Meta`] saying where its parts were written, as
//! a [`Loc`] (file and position), because a compose stack spreads one
//! service over several files.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::plan::{edges, find_cycles, infer_deps};
use super::positions::Pos;
use super::secrets::Sources;
use super::suggest::did_you_mean;
use super::{ConfigError, ContextSource, Dockerfile, ImageConfig, Source};

/// A position in a named file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Loc {
    pub file: PathBuf,
    pub pos: Pos,
}

impl Loc {
    pub fn new(file: &Path, pos: Pos) -> Loc {
        Loc {
            file: file.to_path_buf(),
            pos,
        }
    }

    /// A problem located here.
    pub fn problem(&self, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.clone(),
            line: self.pos.line,
            col: self.pos.col,
            message: message.into(),
        }
    }
}

/// Where one image's parts were written, for the checks below.
pub(crate) struct Meta {
    pub name_at: Loc,
    /// Position of each `depends_on` entry, parallel to `depends_on`.
    pub depends_at: Vec<Loc>,
    /// The context as written (for messages) and where; `None` when the
    /// context had an error already or is not a directory.
    pub context: Option<(String, Loc)>,
    pub dockerfile_at: Option<Loc>,
    /// False when `context`/`dockerfile` already had an error, so the disk
    /// checks would only repeat it.
    pub ok_for_files: bool,
}

/// Errors and warnings collected so far.
#[derive(Default)]
pub(crate) struct Problems {
    pub errors: Vec<ConfigError>,
    pub warnings: Vec<ConfigError>,
    /// Whether a secret's or an SSH agent's source that cannot be used is
    /// an error ([`Problems::unavailable`]).
    pub sources: Sources,
}

impl Problems {
    /// Problems of a load that checks secret sources as `sources` says.
    pub fn new(sources: Sources) -> Problems {
        Problems {
            sources,
            ..Problems::default()
        }
    }

    pub fn error(&mut self, at: &Loc, message: impl Into<String>) {
        self.errors.push(at.problem(message));
    }

    /// A build secret's or SSH agent's source that cannot be used now (a
    /// file missing, a variable unset, no agent): an error when sources
    /// are checked; else nothing (the caller leaves the entry out).
    pub fn unavailable(&mut self, at: &Loc, message: impl Into<String>) {
        if self.sources == Sources::Checked {
            self.error(at, message);
        }
    }

    pub fn warn(&mut self, at: &Loc, message: impl Into<String>) {
        self.warnings.push(at.problem(message));
    }

    /// Drops repeats of a problem (same place, same message), keeping the
    /// first: YAML anchors and merge keys copy one written value into
    /// several places, and its problem is said once, where it is written.
    pub fn dedup(&mut self) {
        for list in [&mut self.errors, &mut self.warnings] {
            let mut seen = HashSet::new();
            list.retain(|e| seen.insert((e.file.clone(), e.line, e.col, e.message.clone())));
        }
    }
}

/// Runs every whole-stack check and fills the images' inferred
/// dependencies. `warn_unused_depends_on`: say when a declared dependency
/// is not used by the Dockerfile (right for kiln.yaml, where `depends_on`
/// is about builds; noise for compose, where it is about running).
pub(crate) fn whole_stack(
    images: &mut [ImageConfig],
    metas: &[Meta],
    warn_unused_depends_on: bool,
    out: &mut Problems,
) {
    duplicate_names(images, metas, out);
    contexts_on_disk(images, metas, out);
    declared_dependencies(images, metas, out);
    infer_deps(images);
    if warn_unused_depends_on {
        unused_dependencies(images, metas, out);
    }
    cycles(images, metas, out);
}

/// Duplicate names: point at the later one, mention the first.
fn duplicate_names(images: &[ImageConfig], metas: &[Meta], out: &mut Problems) {
    let mut first: HashMap<&str, usize> = HashMap::new();
    for (i, img) in images.iter().enumerate() {
        if let Some(&j) = first.get(img.name.as_str()) {
            let msg = format!(
                "duplicate image name '{}' (first defined on line {})",
                img.name, metas[j].name_at.pos.line
            );
            out.error(&metas[i].name_at, msg);
        } else {
            first.insert(&img.name, i);
        }
    }
}

/// Context directories and Dockerfiles exist (directory contexts only).
fn contexts_on_disk(images: &[ImageConfig], metas: &[Meta], out: &mut Problems) {
    for (img, meta) in images.iter().zip(metas) {
        let (Some((ctx_text, ctx_at)), true) = (&meta.context, meta.ok_for_files) else {
            continue;
        };
        let Source::Build {
            context: ContextSource::Dir(dir),
            dockerfile,
        } = &img.source
        else {
            continue;
        };
        if !dir.exists() {
            out.error(
                ctx_at,
                format!("context directory {ctx_text} does not exist"),
            );
            continue;
        }
        if !dir.is_dir() {
            out.error(ctx_at, format!("context {ctx_text} is not a directory"));
            continue;
        }
        let Dockerfile::Path(dockerfile) = dockerfile else {
            continue;
        };
        if !dir.join(dockerfile).is_file() {
            let shown = if Path::new(dockerfile).is_absolute() {
                dockerfile.clone()
            } else {
                format!("{}/{}", ctx_text.trim_end_matches('/'), dockerfile)
            };
            let at = meta.dockerfile_at.as_ref().unwrap_or(ctx_at);
            out.error(at, format!("Dockerfile not found: {shown}"));
        }
    }
}

/// Declared dependencies must name other images.
fn declared_dependencies(images: &[ImageConfig], metas: &[Meta], out: &mut Problems) {
    let names: HashSet<&str> = images.iter().map(|i| i.name.as_str()).collect();
    for (img, meta) in images.iter().zip(metas) {
        for (dep, at) in img.depends_on.iter().zip(&meta.depends_at) {
            if *dep == img.name {
                out.error(at, format!("image '{dep}' depends on itself"));
            } else if !names.contains(dep.as_str()) {
                let hint = did_you_mean(dep, images.iter().map(|i| i.name.as_str()));
                out.error(at, format!("depends_on: unknown image '{dep}'{hint}"));
            }
        }
    }
}

/// A declared dependency whose tags the image's Dockerfile never names
/// (FROM, COPY --from, RUN --mount=from): it only orders the builds, which
/// is worth a warning — usually a stale `depends_on` or a tag typo.
fn unused_dependencies(images: &[ImageConfig], metas: &[Meta], out: &mut Problems) {
    let mut by_name: HashMap<&str, &ImageConfig> = HashMap::with_capacity(images.len());
    for img in images {
        by_name.entry(img.name.as_str()).or_insert(img);
    }
    for (img, meta) in images.iter().zip(metas) {
        for (dep, at) in img.depends_on.iter().zip(&meta.depends_at) {
            if !img.unused_depends_on.contains(dep) {
                continue;
            }
            let Some(other) = by_name.get(dep.as_str()) else {
                continue;
            };
            let mut names = other.tags.clone();
            if let Source::Prebuilt { image } = &other.source {
                names.push(image.clone());
            }
            out.warn(
                at,
                format!(
                    "'{}' depends on '{dep}', but its Dockerfile does not use any of {dep}'s tags ({}); the dependency only orders the builds",
                    img.name,
                    names.join(", ")
                ),
            );
        }
    }
}

/// Each dependency cycle once, named, at the edge that closes it.
fn cycles(images: &[ImageConfig], metas: &[Meta], out: &mut Problems) {
    for cycle in find_cycles(&edges(images)) {
        let (Some(&first), Some(&last)) = (cycle.first(), cycle.last()) else {
            continue;
        };
        let mut text: Vec<&str> = cycle.iter().map(|&i| images[i].name.as_str()).collect();
        text.push(&images[first].name);
        // The edge last -> first closes the cycle: point at its depends_on
        // entry, or at the image name for an inferred edge.
        let closing = images[last]
            .depends_on
            .iter()
            .position(|d| *d == images[first].name)
            .and_then(|k| metas[last].depends_at.get(k));
        let (at, how) = match closing {
            Some(at) => (at, String::new()),
            None => (
                &metas[last].name_at,
                format!(
                    " ('{}' uses '{}' in its Dockerfile)",
                    images[last].name, images[first].name
                ),
            ),
        };
        out.error(at, format!("dependency cycle: {}{how}", text.join(" -> ")));
    }
}
