//! Change detection: a digest of everything that determines a build — the
//! context files after .dockerignore (names, modes, contents), the
//! Dockerfile's path, build args, target, platform, labels, tags, and the
//! image ids of the images its Dockerfile builds on. Equal to the last
//! successful build's digest, with that image still present: nothing to do.

use std::collections::BTreeMap;

use bollard::Docker;
use sha2::{Digest, Sha256};

use crate::config::{dockerfile_refs, ImageConfig};
use crate::engine::context::{self, Entry};

/// The parts of a build's inputs, each reduced to a short string, and
/// their combined digest. Parts are kept to say *why* a build is needed.
#[derive(Debug, Clone, PartialEq)]
pub struct Inputs {
    pub parts: BTreeMap<String, String>,
    pub digest: String,
}

impl Inputs {
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.parts).unwrap_or_default()
    }
}

/// Compute the inputs of `spec` whose context walked to `entries`.
pub async fn compute(
    docker: &Docker,
    spec: &ImageConfig,
    dockerfile: &str,
    entries: Vec<Entry>,
) -> Result<Inputs, String> {
    let dockerfile_text = entries
        .iter()
        .find(|e| e.rel == dockerfile.trim_start_matches("./"))
        .and_then(|e| std::fs::read_to_string(&e.abs).ok())
        .unwrap_or_default();
    let context_digest = tokio::task::spawn_blocking(move || context::digest(&entries))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;

    let mut parts = BTreeMap::new();
    parts.insert("context".to_string(), context_digest);
    parts.insert("dockerfile".to_string(), dockerfile.to_string());
    parts.insert("args".to_string(), join_map(&spec.args));
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
        digest: hex::encode(h.finalize()),
    })
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
    let Some(prev) =
        previous.and_then(|p| serde_json::from_str::<BTreeMap<String, String>>(p).ok())
    else {
        return "no earlier successful build recorded".into();
    };
    let mut reasons = Vec::new();
    for (k, v) in &now.parts {
        if prev.get(k) != Some(v) {
            reasons.push(match k.as_str() {
                "context" => "files in the build context changed".to_string(),
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
            digest: String::new(),
        }
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
