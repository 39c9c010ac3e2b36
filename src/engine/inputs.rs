//! Change detection: a digest of everything that determines a build — the
//! context files after .dockerignore (names, modes, contents), the
//! Dockerfile's path, build args, target, platform, labels, tags, and the
//! image ids of the images its Dockerfile builds on. Equal to the last
//! successful build's digest, with that image still present: nothing to do.

use std::collections::BTreeMap;

use bollard::Docker;
use sha2::{Digest, Sha256};

use crate::config::{dockerfile_refs, ImageConfig};
use crate::engine::context::{self, ContextError, Entry};

/// The parts of a build's inputs, each reduced to a short string, and
/// their combined digest. Parts are kept to say *why* a build is needed.
#[derive(Debug, Clone, PartialEq)]
pub struct Inputs {
    pub parts: BTreeMap<String, String>,
    /// Per context entry, a short fingerprint (to name changed files);
    /// empty for very large contexts, where it would bloat the history.
    pub files: BTreeMap<String, String>,
    pub digest: String,
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

/// Compute the inputs of `spec` whose context walked to `entries`.
pub async fn compute(
    docker: &Docker,
    spec: &ImageConfig,
    dockerfile: &str,
    entries: Vec<Entry>,
) -> Result<Inputs, InputsError> {
    let dockerfile_text = entries
        .iter()
        .find(|e| e.rel == dockerfile.trim_start_matches("./"))
        .and_then(context::Entry::text)
        .unwrap_or_default();
    let (context_digest, mut files) =
        tokio::task::spawn_blocking(move || context::digest_with_fingerprints(&entries)).await??;
    if files.len() > MAX_FINGERPRINTS {
        files.clear();
    }

    let mut parts = BTreeMap::new();
    parts.insert("context".to_string(), context_digest);
    parts.insert("dockerfile".to_string(), dockerfile.to_string());
    // Build args can carry secrets: history keeps only their hash.
    parts.insert("args".to_string(), hash_map(&spec.args));
    parts.insert("labels".to_string(), join_map(&spec.labels));
    parts.insert("tags".to_string(), spec.tags.join(","));
    parts.insert(
        "target".to_string(),
        spec.target.clone().unwrap_or_default(),
    );
    parts.insert(
        "platform".to_string(),
        spec.platform.clone().unwrap_or_default(),
    );
    for r in dockerfile_refs(&dockerfile_text, &spec.args) {
        let id = match docker.inspect_image(&r).await {
            Ok(info) => info.id.unwrap_or_default(),
            Err(_) => "absent".to_string(),
        };
        parts.insert(format!("image {r}"), id);
    }
    let mut h = Sha256::new();
    for (k, v) in &parts {
        h.update(k.as_bytes());
        h.update([0]);
        h.update(v.as_bytes());
        h.update([0]);
    }
    Ok(Inputs {
        parts,
        files,
        digest: hex::encode(h.finalize()),
    })
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
/// (as stored) and now.
pub fn explain_change(previous: Option<&str>, now: &Inputs) -> String {
    let Some(stored) = previous.and_then(|p| serde_json::from_str::<Stored>(p).ok()) else {
        return "no earlier successful build recorded".into();
    };
    let prev = &stored.parts;
    let mut reasons = Vec::new();
    for (k, v) in &now.parts {
        if prev.get(k) != Some(v) {
            reasons.push(match k.as_str() {
                "context" => match changed_files(&stored.files, &now.files) {
                    Some(files) => format!("files in the build context changed: {files}"),
                    None => "files in the build context changed".to_string(),
                },
                "args" => "build args changed".to_string(),
                other => match other.strip_prefix("image ") {
                    Some(r) if prev.contains_key(k) => format!("base image {r} changed"),
                    Some(r) => format!("now builds on {r}"),
                    None => format!("{other} changed"),
                },
            });
        }
    }
    for k in prev.keys().filter(|k| !now.parts.contains_key(*k)) {
        if let Some(r) = k.strip_prefix("image ") {
            reasons.push(format!("no longer builds on {r}"));
        }
    }
    if reasons.is_empty() {
        "the image from the last build is gone".into()
    } else {
        reasons.join("; ")
    }
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
    let mut changes = Vec::new();
    for (path, print) in now {
        match before.get(path) {
            None => changes.push(format!("{path} (added)")),
            Some(old) if old != print => changes.push(format!("{path} (modified)")),
            _ => {}
        }
    }
    for path in before.keys().filter(|p| !now.contains_key(*p)) {
        changes.push(format!("{path} (removed)"));
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

/// The last build's image is still what every tag points at.
pub async fn still_present(docker: &Docker, spec: &ImageConfig, image_id: &str) -> bool {
    for tag in &spec.tags {
        match docker.inspect_image(tag).await {
            Ok(info) if info.id.as_deref() == Some(image_id) => {}
            _ => return false,
        }
    }
    !spec.tags.is_empty()
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
            explain_change(Some(&before.to_json()), &now),
            "files in the build context changed: edit (modified), new (added), gone (removed)"
        );
        for i in 0..10 {
            now.files.insert(format!("extra{i}"), "x".into());
        }
        let text = explain_change(Some(&before.to_json()), &now);
        assert!(text.ends_with(" and 8 more"), "{text}");
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
            explain_change(Some(&before.to_json()), &now),
            "files in the build context changed; base image base:1 changed"
        );
        assert_eq!(
            explain_change(None, &now),
            "no earlier successful build recorded"
        );
        assert_eq!(
            explain_change(Some(&now.to_json()), &now),
            "the image from the last build is gone"
        );
    }
}
