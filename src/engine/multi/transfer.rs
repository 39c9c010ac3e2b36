//! Moving an image between engines: `docker save` of it (by id) on one,
//! streamed through kiln into `docker load` on the other, never held whole
//! in memory; then tagged there with the tags it has in the stack. An
//! image the target has already (same id) is only tagged.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bollard::query_parameters::{ImportImageOptionsBuilder, TagImageOptionsBuilder};
use bollard::Docker;
use futures::StreamExt;

use crate::config::split_tag;
use crate::engine::connect;

/// How often a transfer's progress is reported.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// Copy image `id` from `from` to `to` and tag it there with `tags`;
/// `progress` is told the bytes moved so far every half second. Returns
/// the bytes moved (0: the target had it).
pub async fn move_image(
    from: &Docker,
    to: &Docker,
    id: &str,
    tags: &[String],
    mut progress: impl FnMut(u64),
) -> Result<u64, String> {
    let present = to.inspect_image(id).await.is_ok();
    let mut moved = 0;
    if !present {
        let count = Arc::new(AtomicU64::new(0));
        let counter = count.clone();
        let saved = from.export_image(id).map(move |chunk| {
            if let Ok(b) = &chunk {
                counter.fetch_add(b.len() as u64, Ordering::Relaxed);
            }
            chunk
        });
        let mut loading = to.import_image_stream(
            ImportImageOptionsBuilder::default().quiet(true).build(),
            saved,
            None,
        );
        let mut tick = tokio::time::interval(PROGRESS_EVERY);
        // (An interval's first tick is at once: the start is said already.)
        tick.tick().await;
        loop {
            tokio::select! {
                next = loading.next() => match next {
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(reason(&e)),
                    None => break,
                },
                _ = tick.tick() => progress(count.load(Ordering::Relaxed)),
            }
        }
        moved = count.load(Ordering::Relaxed);
        to.inspect_image(id)
            .await
            .map_err(|e| format!("the image is not there after loading it: {}", reason(&e)))?;
    }
    tag_all(to, id, tags).await?;
    Ok(moved)
}

/// Tag image `id` on `to` with each of `tags` (replacing what they named).
pub(super) async fn tag_all(to: &Docker, id: &str, tags: &[String]) -> Result<(), String> {
    for t in tags {
        let (repo, tag) = split_tag(t);
        let options = TagImageOptionsBuilder::default()
            .repo(repo)
            .tag(tag)
            .build();
        to.tag_image(id, Some(options))
            .await
            .map_err(|e| format!("cannot tag it {t}: {}", reason(&e)))?;
    }
    Ok(())
}

/// The daemon's message, or what went wrong reaching it.
pub(super) fn reason(e: &bollard::errors::Error) -> String {
    match e {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message.clone(),
        other => connect::failure_reason(other),
    }
}
