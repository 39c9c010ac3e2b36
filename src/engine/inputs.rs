//! Change detection: a digest of everything that determines a build — the
//! context files after .dockerignore (names, modes, contents), the
//! Dockerfile's path, the image's fields that the table of fields counts
//! (`config::fields`: build args, target, platform, labels, tags), and the
//! image ids of the images its Dockerfile builds on. Equal to the last
//! successful build's digest, with that image still present: nothing to do.
//!
//! With `--pull` the build uses what the registries serve, so the inputs
//! also hold the registry's manifest digest of each base image kiln does
//! not build (`registry REF` parts). Those stay out of the digest (a build
//! without `--pull` does not depend on them) and are compared on their
//! own: [`registry_moves`].

use std::collections::BTreeMap;

use bollard::Docker;
use sha2::{Digest, Sha256};

use crate::config::fields::{Change, FIELDS};
use crate::config::{
    dockerfile_refs, ref_matches_tag, ContextSource, FieldValue, ImageConfig, Source,
};
use crate::engine::bases;
use crate::engine::context::{self, ContextError, Entry};
use crate::engine::hash_cache::HashCache;
use crate::human::short_digest;
use crate::sanitize::visible;

/// The key prefix of a base image's local id among the parts.
const LOCAL: &str = "image ";
/// The key prefix of a base image's registry digest (`--pull`).
const REGISTRY: &str = "registry ";

/// The parts of a build's inputs, each reduced to a short string, and
/// their combined digest. Parts are kept to say *why* a build is needed.
#[derive(Debug, Clone, PartialEq)]
pub struct Inputs {
    pub parts: BTreeMap<String, String>,
    /// Per context entry, a short fingerprint (to name changed files);
    /// empty for very large contexts, where it would bloat the history.
    pub files: BTreeMap<String, String>,
    pub digest: String,
    /// Why a base image's registry digest is not among the parts (asked
    /// for, but the registry could not say): one message per image.
    pub unchecked: Vec<String>,
}

/// Contexts with more entries than this keep no per-file fingerprints.
const MAX_FINGERPRINTS: usize = 20_000;

/// How many changed files a rebuild reason names.
const NAMED_FILES: usize = 5;

/// What history stores of a build's inputs.
#[derive(serde::Serialize, serde::Deserialize, Default)]
struct Stored {
    parts: BTreeMap<String, String>,
    #[serde(default)]
    files: BTreeMap<String, String>,
}

impl Inputs {
    pub fn to_json(&self) -> String {
        let stored = Stored {
            parts: self.parts.clone(),
            files: self.files.clone(),
        };
        serde_json::to_string(&stored).unwrap_or_default()
    }
}

/// Why the inputs could not be digested (the build then goes ahead, saying
/// it cannot tell whether anything changed).
#[derive(Debug, thiserror::Error)]
pub enum InputsError {
    /// A context file could not be read.
    #[error(transparent)]
    Context(#[from] ContextError),
    /// The digesting task panicked or was cancelled.
    #[error("{0}")]
    DigestTask(#[from] tokio::task::JoinError),
}

/// Which registries change detection asks (`--pull`, `pull: true`).
#[derive(Debug, Clone, Copy)]
pub struct RegistryCheck<'a> {
    /// Ask for the digest of every base image but these (the stack's own
    /// images, which kiln builds).
    pub except: &'a [String],
}

/// Compute the inputs of `spec` whose context walked to `entries`; with
/// `registry`, also the registry digest of each base image.
pub async fn compute(
    docker: &Docker,
    spec: &ImageConfig,
    dockerfile: &str,
    entries: Vec<Entry>,
    registry: Option<RegistryCheck<'_>>,
) -> Result<Inputs, InputsError> {
    let dockerfile_text = entries
        .iter()
        .find(|e| e.rel == dockerfile.trim_start_matches("./"))
        .and_then(context::Entry::text)
        .unwrap_or_default();
    let cache = match &spec.source {
        Source::Build {
            context: ContextSource::Dir(dir),
            ..
        } => HashCache::open(dir),
        _ => HashCache::default(),
    };
    let (context_digest, mut files) = tokio::task::spawn_blocking(move || {
        let digest = context::digest_with_cache(&entries, &cache);
        cache.save();
        digest
    })
    .await??;
    if files.len() > MAX_FINGERPRINTS {
        files.clear();
    }

    let mut parts = field_parts(spec);
    parts.insert("context".to_string(), context_digest);
    parts.insert("dockerfile".to_string(), dockerfile.to_string());
    let mut unchecked = Vec::new();
    for r in dockerfile_refs(&dockerfile_text, &spec.args, spec.target.as_deref()) {
        parts.insert(format!("{LOCAL}{r}"), local_id(docker, &r).await);
        let Some(check) = registry else { continue };
        if check.except.iter().any(|t| ref_matches_tag(&r, t)) {
            continue;
        }
        match bases::registry_digest(docker, &r).await {
            Ok(digest) => {
                parts.insert(format!("{REGISTRY}{r}"), digest);
            }
            Err(e) => unchecked.push(format!("cannot check base image {r} in the registry: {e}")),
        }
    }
    let digest = digest_of(&parts);
    Ok(Inputs {
        parts,
        files,
        digest,
        unchecked,
    })
}

/// The parts that are the image's fields: each field the table counts
/// (`config::fields`, [`Change`]), under its name. A field whose values
/// may be secrets (build args) is kept as a hash only.
fn field_parts(spec: &ImageConfig) -> BTreeMap<String, String> {
    let mut parts = BTreeMap::new();
    for field in FIELDS {
        let hashed = match field.change {
            Change::Counts => false,
            Change::Hashed => true,
            Change::Own(_) | Change::Not(_) => continue,
        };
        if let Some(value) = spec.get(field.name) {
            parts.insert(field.name.to_string(), part_text(&value, hashed));
        }
    }
    parts
}

/// A field's value as a part of the inputs. (What history has stored
/// for args, labels, tags, target and platform is spelt this way: a
/// different spelling would make every image look changed.)
fn part_text(value: &FieldValue, hashed: bool) -> String {
    let text = match value {
        FieldValue::Map(m) if hashed => return hash_map(m),
        FieldValue::Map(m) => join_map(m),
        FieldValue::List(l) => l.join(","),
        FieldValue::Text(t) => t.clone().unwrap_or_default(),
        FieldValue::Flag(b) => b.to_string(),
        FieldValue::Duration(d) => d.as_millis().to_string(),
        FieldValue::Size(n) => n.map(|n| n.to_string()).unwrap_or_default(),
        FieldValue::Count(n) => n.to_string(),
        FieldValue::Choice(c) => c.to_string(),
        // Ids only, never a value (the table counts neither anyway).
        FieldValue::Secrets(l) => ids(l.iter().map(|s| s.id.as_str())),
        FieldValue::Ssh(l) => ids(l.iter().map(|s| s.id.as_str())),
    };
    if hashed {
        hex::encode(&Sha256::digest(text.as_bytes())[..16])
    } else {
        text
    }
}

fn ids<'a>(ids: impl Iterator<Item = &'a str>) -> String {
    ids.collect::<Vec<_>>().join(",")
}

/// The id of the local image `r`, or `absent`.
async fn local_id(docker: &Docker, r: &str) -> String {
    match docker.inspect_image(r).await {
        Ok(info) => info.id.unwrap_or_default(),
        Err(_) => "absent".to_string(),
    }
}

/// The digest of the parts a build depends on whether it pulls or not
/// (all but the registry digests).
fn digest_of(parts: &BTreeMap<String, String>) -> String {
    let mut h = Sha256::new();
    for (k, v) in parts.iter().filter(|(k, _)| !k.starts_with(REGISTRY)) {
        h.update(k.as_bytes());
        h.update([0]);
        h.update(v.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

/// After a build that pulled: the local ids of its base images as they are
/// now (the legacy builder pulls into the daemon's images; BuildKit does
/// not, and nothing changes), so that the next build compares against the
/// images this one used.
pub async fn refresh_local_bases(docker: &Docker, inputs: &mut Inputs) {
    let refs: Vec<String> = inputs
        .parts
        .keys()
        .filter_map(|k| k.strip_prefix(LOCAL).map(String::from))
        .collect();
    for r in refs {
        let id = local_id(docker, &r).await;
        inputs.parts.insert(format!("{LOCAL}{r}"), id);
    }
    inputs.digest = digest_of(&inputs.parts);
}

/// What the last build's inputs (as stored) held, by part.
fn stored_parts(previous: Option<&str>) -> Option<BTreeMap<String, String>> {
    previous
        .and_then(|p| serde_json::from_str::<Stored>(p).ok())
        .map(|s| s.parts)
}

/// The base images whose registry digest (asked now, under `--pull`) is
/// not what the last build used, in words: `base image REF changed in the
/// registry (sha256:old… → sha256:new…)`. What the last build used is its
/// own registry digest when it asked too, else the registry digest the
/// daemon's copy of the image it used came with (none: a local image).
pub async fn registry_moves(docker: &Docker, previous: Option<&str>, now: &Inputs) -> Vec<String> {
    let Some(prev) = stored_parts(previous) else {
        return Vec::new();
    };
    let mut moves = Vec::new();
    for (key, new) in &now.parts {
        let Some(r) = key.strip_prefix(REGISTRY) else {
            continue;
        };
        let old = match prev.get(key) {
            Some(old) => Some(old.clone()),
            None => match prev.get(&format!("{LOCAL}{r}")) {
                Some(id) => digest_of_local(docker, id, r).await,
                None => None,
            },
        };
        match old {
            Some(old) if &old == new => {}
            Some(old) => moves.push(format!(
                "base image {r} changed in the registry ({} → {})",
                short_digest(&old),
                short_digest(new)
            )),
            None => moves.push(format!(
                "base image {r} in the registry ({}) is not the local image the last build used",
                short_digest(new)
            )),
        }
    }
    moves
}

/// The registry digest the local image `id` came with for `r`'s repository.
async fn digest_of_local(docker: &Docker, id: &str, r: &str) -> Option<String> {
    let info = docker.inspect_image(id).await.ok()?;
    bases::repo_digest(&info.repo_digests.unwrap_or_default(), r)
}

/// A short hash of a map, for parts whose values must not be stored.
fn hash_map(m: &BTreeMap<String, String>) -> String {
    let mut h = Sha256::new();
    for (k, v) in m {
        h.update(k.as_bytes());
        h.update([0]);
        h.update(v.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..16])
}

fn join_map(m: &BTreeMap<String, String>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// In words, what differs between the last successful build's inputs
/// (as stored) and now, but for registry digests ([`registry_moves`]);
/// None when nothing does.
pub fn explain_change(previous: Option<&str>, now: &Inputs) -> Option<String> {
    let Some(stored) = previous.and_then(|p| serde_json::from_str::<Stored>(p).ok()) else {
        return Some("no earlier successful build recorded".into());
    };
    let prev = &stored.parts;
    let mut reasons = Vec::new();
    for (k, v) in now.parts.iter().filter(|(k, _)| !k.starts_with(REGISTRY)) {
        if prev.get(k) != Some(v) {
            reasons.push(match k.as_str() {
                "context" => match changed_files(&stored.files, &now.files) {
                    Some(files) => format!("files in the build context changed: {files}"),
                    None => "files in the build context changed".to_string(),
                },
                "args" => "build args changed".to_string(),
                other => match other.strip_prefix(LOCAL) {
                    Some(r) if prev.contains_key(k) => format!("base image {r} changed"),
                    Some(r) => format!("now builds on {r}"),
                    None => format!("{other} changed"),
                },
            });
        }
    }
    for k in prev.keys().filter(|k| !now.parts.contains_key(*k)) {
        if let Some(r) = k.strip_prefix(LOCAL) {
            reasons.push(format!("no longer builds on {r}"));
        }
    }
    (!reasons.is_empty()).then(|| reasons.join("; "))
}

/// The files that differ between two fingerprint maps, named (a few, then
/// a count); None when either side has no fingerprints.
fn changed_files(
    before: &BTreeMap<String, String>,
    now: &BTreeMap<String, String>,
) -> Option<String> {
    if before.is_empty() || now.is_empty() {
        return None;
    }
    // A file name may hold anything but `/` and NUL: its controls are
    // shown, so a newline or an escape in a name neither breaks the
    // notice's line nor reaches the terminal.
    let mut changes = Vec::new();
    for (path, print) in now {
        let shown = visible(path);
        match before.get(path) {
            None => changes.push(format!("{shown} (added)")),
            Some(old) if old != print => changes.push(format!("{shown} (modified)")),
            _ => {}
        }
    }
    for path in before.keys().filter(|p| !now.contains_key(*p)) {
        changes.push(format!("{} (removed)", visible(path)));
    }
    if changes.is_empty() {
        return None;
    }
    let more = changes.len().saturating_sub(NAMED_FILES);
    changes.truncate(NAMED_FILES);
    let mut text = changes.join(", ");
    if more > 0 {
        text.push_str(&format!(" and {more} more"));
    }
    Some(text)
}

/// Where an image's tags point, against the image its last build made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tags {
    /// Every tag points at the last build's image.
    AtLastBuild,
    /// Some do not (`moved`: each such tag and the id it points at now, or
    /// None when it is gone); `kept` says whether the last build's image
    /// still exists.
    Elsewhere {
        moved: Vec<(String, Option<String>)>,
        kept: bool,
    },
}

/// Where `spec`'s tags point now, against `image_id`.
pub async fn tags(docker: &Docker, spec: &ImageConfig, image_id: &str) -> Tags {
    let mut moved = Vec::new();
    for tag in &spec.tags {
        match docker.inspect_image(tag).await {
            Ok(info) if info.id.as_deref() == Some(image_id) => {}
            Ok(info) => moved.push((tag.clone(), info.id)),
            Err(_) => moved.push((tag.clone(), None)),
        }
    }
    if moved.is_empty() && !spec.tags.is_empty() {
        return Tags::AtLastBuild;
    }
    let kept = docker.inspect_image(image_id).await.is_ok();
    Tags::Elsewhere { moved, kept }
}

/// What happened to the tags, in words: `tag r/x:1 now points at another
/// image (6cc8d1e2f3a4)`, `tag r/x:2 is gone`.
pub fn explain_tags(moved: &[(String, Option<String>)]) -> String {
    moved
        .iter()
        .map(|(tag, now)| match now {
            Some(id) => format!(
                "tag {tag} now points at another image ({})",
                crate::human::short_id(id)
            ),
            None => format!("tag {tag} is gone"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(pairs: &[(&str, &str)]) -> Inputs {
        Inputs {
            parts: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            files: BTreeMap::new(),
            digest: String::new(),
            unchecked: Vec::new(),
        }
    }

    #[test]
    fn names_the_files_that_changed() {
        let mut before = inputs(&[("context", "a")]);
        let mut now = inputs(&[("context", "b")]);
        for (p, f) in [("keep", "f1"), ("edit", "f2"), ("gone", "f3")] {
            before.files.insert(p.into(), f.into());
        }
        for (p, f) in [("keep", "f1"), ("edit", "f9"), ("new", "f4")] {
            now.files.insert(p.into(), f.into());
        }
        assert_eq!(
            explain_change(Some(&before.to_json()), &now).unwrap(),
            "files in the build context changed: edit (modified), new (added), gone (removed)"
        );
        for i in 0..10 {
            now.files.insert(format!("extra{i}"), "x".into());
        }
        let text = explain_change(Some(&before.to_json()), &now).unwrap();
        assert!(text.ends_with(" and 8 more"), "{text}");
    }

    #[test]
    fn the_fields_the_table_counts_are_parts_spelt_as_history_keeps_them() {
        use crate::config::{ContextSource, Dockerfile};
        let source = Source::Build {
            context: ContextSource::Dir("web".into()),
            dockerfile: Dockerfile::Path("Dockerfile".into()),
        };
        let mut spec = ImageConfig::new("web", source, 1);
        spec.tags = vec!["web:1".into(), "web:latest".into()];
        spec.args.insert("TOKEN".into(), "s3cret".into());
        spec.labels.insert("a".into(), "1".into());
        spec.labels.insert("b".into(), "2".into());
        spec.target = Some("run".into());
        spec.shm_size = Some(1 << 20);
        let parts = field_parts(&spec);
        let counted: Vec<&str> = FIELDS
            .iter()
            .filter(|f| matches!(f.change, Change::Counts | Change::Hashed))
            .map(|f| f.name)
            .collect();
        assert_eq!(parts.keys().map(String::as_str).collect::<Vec<_>>(), {
            let mut c = counted.clone();
            c.sort_unstable();
            c
        });
        let mut args = Sha256::new();
        args.update(b"TOKEN\0s3cret\0");
        let want = [
            ("args", hex::encode(&args.finalize()[..16])),
            ("labels", "a=1\nb=2".to_string()),
            ("platform", String::new()),
            ("tags", "web:1,web:latest".to_string()),
            ("target", "run".to_string()),
        ];
        for (k, v) in want {
            assert_eq!(parts[k], v, "{k}");
        }
        assert!(!parts.values().any(|v| v.contains("s3cret")));
    }

    #[test]
    fn explains_what_changed() {
        let before = inputs(&[
            ("context", "a"),
            ("args", "X=1"),
            ("image base:1", "sha256:1"),
        ]);
        let now = inputs(&[
            ("context", "b"),
            ("args", "X=1"),
            ("image base:1", "sha256:2"),
        ]);
        assert_eq!(
            explain_change(Some(&before.to_json()), &now).unwrap(),
            "files in the build context changed; base image base:1 changed"
        );
        assert_eq!(
            explain_tags(&[
                (
                    "r/x:1".into(),
                    Some(format!("sha256:6cc8{}", "0".repeat(60)))
                ),
                ("r/x:2".into(), None)
            ]),
            "tag r/x:1 now points at another image (6cc800000000), tag r/x:2 is gone"
        );
        assert_eq!(
            explain_change(None, &now).unwrap(),
            "no earlier successful build recorded"
        );
        assert_eq!(explain_change(Some(&now.to_json()), &now), None);
        // Registry digests are compared on their own (registry_moves).
        let mut pulled = now.clone();
        pulled
            .parts
            .insert("registry base:1".into(), "sha256:9".into());
        pulled.digest = digest_of(&pulled.parts);
        assert_eq!(explain_change(Some(&now.to_json()), &pulled), None);
        assert_eq!(digest_of(&now.parts), pulled.digest);
    }
}
