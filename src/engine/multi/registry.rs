//! Moving an image between engines through the stack's transfer registry
//! (`transfer_registry:`): tagged on the source engine with a reference of
//! kiln's own, named by the image, its id and the target engine
//! (`HOST/PREFIX/NAME:<12 hex of the id>-<target>`: two moves of one image
//! to two engines each push and untag their own, one after the other,
//! `pushing` being the image's turn), pushed from there, pulled on the target BY DIGEST (the
//! manifest the push made: exactly the image built, never whatever a tag
//! names by then), its id checked against the one built, then tagged with
//! its stack tags. The transfer reference is removed again on both sides
//! (the reference, never the image). Credentials are the engines' usual
//! ones from docker's config.json, as `kiln push` sends them.

use std::collections::HashMap;

use bollard::query_parameters::{CreateImageOptionsBuilder, RemoveImageOptionsBuilder};
use bollard::Docker;
use futures::StreamExt;
use tokio::sync::mpsc;

use super::connect::Link;
use super::transfer::{reason, tag_all};
use crate::config::{check_reference, TransferRegistry};
use crate::engine::credentials;
use crate::engine::push;
use crate::engine::report::Report;
use crate::engine::sink::Sink;
use crate::protocol::{EngineEvent, PushEvent};

/// What moves: the image's name in the stack, its id, its stack tags.
pub struct Moving<'a> {
    pub name: &'a str,
    pub id: &'a str,
    pub tags: &'a [String],
}

/// Bytes moved, per layer (the largest count the daemon said for it), on
/// the way up and on the way down.
#[derive(Default)]
struct Counted {
    up: HashMap<String, u64>,
    down: HashMap<String, u64>,
}

impl Counted {
    fn total(&self) -> u64 {
        self.up.values().chain(self.down.values()).sum()
    }

    /// Count `bytes` for layer `id`; true when that is more than before.
    fn count(layers: &mut HashMap<String, u64>, id: &str, bytes: u64) -> bool {
        let seen = layers.entry(id.to_string()).or_default();
        let more = bytes > *seen;
        *seen = (*seen).max(bytes);
        more
    }
}

/// The reference an image moves under to engine `to`:
/// `HOST/PREFIX/NAME:<12 hex of id>-<to>`.
pub fn transfer_reference(registry: &TransferRegistry, name: &str, id: &str, to: &str) -> String {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    let hex = hex.get(..12).unwrap_or(hex);
    // A tag is at most 128 characters; engine names are [a-z0-9_.-].
    let to = to.get(..100).unwrap_or(to);
    let short = format!("{hex}-{to}");
    let reference = format!("{}:{short}", registry.repository(name));
    // A stack name Docker's grammar refuses as a path component ("a..b").
    match check_reference(&reference) {
        Ok(false) => reference,
        _ => format!("{}:{short}", registry.repository("image")),
    }
}

/// Move `m` from `src` to `dst` through `registry`; `progress` is told the
/// bytes pushed and pulled so far. Returns the bytes moved, or why the
/// registry could not move it (the caller falls back to streaming).
pub async fn move_through(
    registry: &TransferRegistry,
    src: &Link,
    dst: &Link,
    m: &Moving<'_>,
    pushing: &tokio::sync::Mutex<()>,
    mut progress: impl FnMut(u64),
) -> Result<u64, String> {
    let reference = transfer_reference(registry, m.name, m.id, &dst.name);
    let mut counted = Counted::default();
    let by_digest = {
        // This image's other moves push after (or before) this one.
        let _turn = pushing.lock().await;
        tag_all(&src.docker, m.id, std::slice::from_ref(&reference))
            .await
            .map_err(|e| format!("on engine {}: {e}", src.name))?;
        let pushed = push_counted(src, &reference, &mut counted, &mut progress).await;
        let (repository, _) = crate::config::split_tag(&reference);
        let by_digest = pushed.map(|d| format!("{repository}@{d}"));
        // The push recorded the digest too: both go again on the source.
        let mut on_source = vec![reference.clone()];
        on_source.extend(by_digest.clone().ok());
        untag(&src.docker, m.id, &on_source).await;
        by_digest?
    };
    pull_counted(&dst.docker, &by_digest, &mut counted, &mut progress)
        .await
        .map_err(|e| format!("engine {} cannot pull {by_digest}: {e}", dst.name))?;
    let got = dst
        .docker
        .inspect_image(&by_digest)
        .await
        .map_err(|e| format!("{by_digest} is not on engine {}: {}", dst.name, reason(&e)))?
        .id
        .unwrap_or_default();
    if got != m.id {
        return Err(format!(
            "engine {} pulled {got} for {by_digest}, not the image built ({})",
            dst.name, m.id
        ));
    }
    tag_all(&dst.docker, m.id, m.tags).await?;
    if !m.tags.is_empty() {
        untag(&dst.docker, m.id, std::slice::from_ref(&by_digest)).await;
    }
    Ok(counted.total())
}

/// Push `reference` from `src`, counting the bytes each layer sent.
async fn push_counted(
    src: &Link,
    reference: &str,
    counted: &mut Counted,
    progress: &mut impl FnMut(u64),
) -> Result<String, String> {
    let (tx, mut rx) = mpsc::channel::<Report>(64);
    let sink = Sink::new(tx, 0, 0);
    let pushing = push::push_one(&src.docker, &src.endpoint, reference, &sink);
    tokio::pin!(pushing);
    let mut note = |report: Report, counted: &mut Counted| {
        if let Report::Run {
            event:
                EngineEvent::Push {
                    event:
                        PushEvent::Layer {
                            id,
                            current,
                            total,
                            status,
                        },
                    ..
                },
            ..
        } = report
        {
            let bytes = match status.as_str() {
                "Pushed" => total.or(current),
                _ => current,
            };
            if Counted::count(&mut counted.up, &id, bytes.unwrap_or(0)) {
                progress(counted.total());
            }
        }
    };
    let digest = loop {
        tokio::select! {
            r = &mut pushing => break r,
            Some(report) = rx.recv() => note(report, counted),
        }
    };
    while let Ok(report) = rx.try_recv() {
        note(report, counted);
    }
    digest.map_err(|e| format!("on engine {}: {e}", src.name))
}

/// Pull `reference` (by digest) on `dst`, counting the bytes each layer
/// brought.
async fn pull_counted(
    dst: &Docker,
    reference: &str,
    counted: &mut Counted,
    progress: &mut impl FnMut(u64),
) -> Result<(), String> {
    let registry = credentials::registry_of(reference);
    let creds = match tokio::task::spawn_blocking(credentials::Store::from_env).await {
        Ok(Ok(store)) => store
            .get(&registry)
            .await
            .ok()
            .flatten()
            .map(|c| c.to_docker()),
        _ => None,
    };
    let options = CreateImageOptionsBuilder::new()
        .from_image(reference)
        .build();
    // X-Registry-Auth must be url-safe base64 (see credentials.rs).
    let docker = credentials::url_safe_registry_headers(dst.clone());
    let mut stream = docker.create_image(Some(options), None, creds);
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => {
                let downloading = info.status.as_deref() == Some("Downloading");
                if let (Some(id), Some(d), true) = (&info.id, &info.progress_detail, downloading) {
                    let bytes = d.current.and_then(|c| u64::try_from(c).ok()).unwrap_or(0);
                    if Counted::count(&mut counted.down, id, bytes) {
                        progress(counted.total());
                    }
                }
            }
            Err(bollard::errors::Error::DockerStreamError { error }) => {
                return Err(crate::sanitize::sanitize_line(&error))
            }
            Err(e) => return Err(reason(&e)),
        }
    }
    Ok(())
}

/// Remove the references `references` of image `id`, never the image:
/// each only while the image has another name to keep it by.
async fn untag(docker: &Docker, id: &str, references: &[String]) {
    for reference in references {
        let Ok(image) = docker.inspect_image(id).await else {
            return;
        };
        let names = image.repo_tags.unwrap_or_default().len()
            + image.repo_digests.unwrap_or_default().len();
        if names > 1 {
            let options = RemoveImageOptionsBuilder::default().noprune(true).build();
            let _ = docker.remove_image(reference, Some(options), None).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_named_by_image_and_id() {
        let r = TransferRegistry::parse("10.0.0.1:5050/kiln").unwrap();
        let id = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        assert_eq!(
            transfer_reference(&r, "base", id, "m1"),
            "10.0.0.1:5050/kiln/base:0123456789ab-m1"
        );
        assert_eq!(
            transfer_reference(&r, "a..b", id, "m2"),
            "10.0.0.1:5050/kiln/image:0123456789ab-m2"
        );
    }
}
