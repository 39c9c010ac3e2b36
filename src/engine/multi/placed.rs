//! A build where the model placed it: its parents moved to its engine
//! first (each image once per engine, by id: concurrent children wait for
//! the one move), then the build, whose reports pass through here so that
//! a built (or unchanged) image is collected on the first engine before
//! the model hears it is done.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::connect::Link;
use super::registry::{move_through, Moving};
use super::transfer::move_image;
use crate::config::TransferRegistry;
use crate::engine::report::Report;
use crate::engine::sink::Sink;
use crate::protocol::{ChangeCheck, EngineEvent, Move, Placement, SkipReason};

/// The moves done or under way, by (target engine, image id): a move is
/// made once, and a second child waits for the first's. Whether the
/// transfer registry failed in this run: once it has, moves stream (a
/// registry that is down costs each move its time-out only once). And one
/// lock per image id for its pushes to the transfer registry: moves of
/// one image to two engines push one after the other (the second finds
/// its layers there), never the same blobs at once, which the registry's
/// storage may answer with an error.
#[derive(Clone, Default)]
pub struct Moves {
    slots: Arc<Mutex<HashMap<(usize, String), MoveSlot>>>,
    registry_failed: Arc<AtomicBool>,
    pushes: Arc<Mutex<HashMap<String, PushLock>>>,
}

/// One move's lock: true once done.
type MoveSlot = Arc<tokio::sync::Mutex<bool>>;

/// The lock an image's pushes to the transfer registry take in turn.
type PushLock = Arc<tokio::sync::Mutex<()>>;

/// A build the model placed: where, with what around it.
pub struct Placed {
    pub links: Arc<Vec<Option<Link>>>,
    pub moves: Moves,
    pub placement: Placement,
    /// The change check it was given (an unchanged image's id is its last
    /// success's).
    pub check: ChangeCheck,
    /// The image's tags and name.
    pub tags: Vec<String>,
    pub name: String,
    /// The stack's `transfer_registry:`, if any: moves go through it.
    pub registry: Option<TransferRegistry>,
}

impl Moves {
    /// Forget every move to engine `engine` (it rejoined the run: what was
    /// moved there is looked up again before it is counted on).
    pub fn forget(&self, engine: usize) {
        lock(&self.slots).retain(|(e, _), _| *e != engine);
    }

    fn slot(&self, engine: usize, id: &str) -> MoveSlot {
        lock(&self.slots)
            .entry((engine, id.to_string()))
            .or_default()
            .clone()
    }

    fn push_lock(&self, id: &str) -> PushLock {
        lock(&self.pushes)
            .entry(id.to_string())
            .or_default()
            .clone()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Move `m` to engine `to`, reporting on `sink`: through `registry` when
/// the stack names one (falling back to streaming, with a notice saying
/// why, when the registry cannot move it), else streamed; an error names
/// both engines.
async fn bring(
    links: &[Option<Link>],
    moves: &Moves,
    registry: Option<&TransferRegistry>,
    m: &Move,
    to: usize,
    sink: &Sink,
) -> Result<(), String> {
    let link = |e: usize| links.get(e).and_then(Option::as_ref);
    let (Some(src), Some(dst)) = (link(m.from), link(to)) else {
        return Err(format!("cannot move {}: no such engine", m.name));
    };
    let slot = moves.slot(to, &m.id);
    let mut done = slot.lock().await;
    if *done {
        return Ok(());
    }
    if dst.docker.inspect_image(&m.id).await.is_ok() {
        // There already (an earlier run's move): only its tags.
        move_image(&src.docker, &dst.docker, &m.id, &m.tags, |_| {})
            .await
            .map_err(|e| format!("cannot tag {} on engine {}: {e}", m.name, dst.name))?;
        *done = true;
        return Ok(());
    }
    let size = src
        .docker
        .inspect_image(&m.id)
        .await
        .ok()
        .and_then(|i| i.size)
        .and_then(|s| u64::try_from(s).ok())
        .unwrap_or(0);
    let registry = registry.filter(|_| !moves.registry_failed.load(Ordering::Relaxed));
    if let Some(r) = registry {
        if through_registry(r, src, dst, m, size, &moves.push_lock(&m.id), sink).await {
            *done = true;
            return Ok(());
        }
        moves.registry_failed.store(true, Ordering::Relaxed);
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let work = move_image(&src.docker, &dst.docker, &m.id, &m.tags, |b| {
        let _ = tx.send(b);
    });
    let event = transfer_event(m, src, dst, size, None);
    reported(work, rx, sink, event).await.map_err(|e| {
        format!(
            "cannot move {} from engine {} to engine {}: {e}",
            m.name, src.name, dst.name
        )
    })?;
    *done = true;
    Ok(())
}

/// Move `m` through the transfer registry `r`; false (a notice said why,
/// and that it streams instead) when the registry could not.
async fn through_registry(
    r: &TransferRegistry,
    src: &Link,
    dst: &Link,
    m: &Move,
    size: u64,
    pushing: &PushLock,
    sink: &Sink,
) -> bool {
    let (tx, rx) = mpsc::unbounded_channel();
    let moving = Moving {
        name: &m.name,
        id: &m.id,
        tags: &m.tags,
    };
    let work = move_through(r, src, dst, &moving, pushing, |b| {
        let _ = tx.send(b);
    });
    let event = transfer_event(m, src, dst, size, Some(r));
    let Err(why) = reported(work, rx, sink, event).await else {
        return true;
    };
    let note = format!(
        "cannot move {} through registry {r}: {why}; streaming it from engine {} to engine {} instead (and every move after it in this run)",
        m.name, src.name, dst.name
    );
    sink.send(EngineEvent::Notice(note)).await;
    false
}

/// The `Transfer` event of moving `m` (of `size` bytes on its engine)
/// from `src` to `dst`, given its bytes so far and whether it is done.
fn transfer_event(
    m: &Move,
    src: &Link,
    dst: &Link,
    size: u64,
    registry: Option<&TransferRegistry>,
) -> impl Fn(u64, bool) -> EngineEvent {
    // Through a registry it goes up once and down once.
    let total = if registry.is_some() { size * 2 } else { size };
    let registry = registry.map(ToString::to_string);
    let (of, from, to) = (m.name.clone(), src.name.clone(), dst.name.clone());
    move |bytes, done| EngineEvent::Transfer {
        of: of.clone(),
        from: from.clone(),
        to: to.clone(),
        bytes,
        total,
        done,
        registry: registry.clone(),
    }
}

/// Run a move, its start, progress (bytes from `progress`) and end sent
/// on `sink` as `event(bytes, done)`.
async fn reported(
    work: impl Future<Output = Result<u64, String>>,
    mut progress: mpsc::UnboundedReceiver<u64>,
    sink: &Sink,
    event: impl Fn(u64, bool) -> EngineEvent,
) -> Result<(), String> {
    sink.send(event(0, false)).await;
    tokio::pin!(work);
    let result = loop {
        tokio::select! {
            r = &mut work => break r,
            Some(b) = progress.recv() => { sink.send(event(b, false)).await; }
        }
    };
    let bytes = result?;
    sink.send(event(bytes, true)).await;
    Ok(())
}

/// Run `build` (given the sink it must report to) on the placed engine:
/// parents first, then the build, collecting its image.
pub async fn run_placed<F, Fut>(placed: Placed, sink: Sink, cancel: CancellationToken, build: F)
where
    F: FnOnce(Sink) -> Fut,
    Fut: Future<Output = ()>,
{
    let Placed {
        links,
        moves,
        placement,
        check,
        tags,
        name,
        registry,
    } = placed;
    for m in &placement.parents {
        let moved = tokio::select! {
            r = bring(&links, &moves, registry.as_ref(), m, placement.engine, &sink) => r,
            _ = cancel.cancelled() => return,
        };
        if let Err(e) = moved {
            sink.fail(e).await;
            return;
        }
    }
    let Some(first) = placement.collect_to else {
        build(sink).await;
        return;
    };
    // The build reports to us; everything passes on but the end, which
    // waits for the image to be collected.
    let (tx, mut rx) = mpsc::channel::<Report>(64);
    let inner = Sink::new(tx, 0, 0);
    let building = build(inner);
    tokio::pin!(building);
    let mut finished = false;
    loop {
        let report = tokio::select! {
            () = &mut building, if !finished => { finished = true; continue; }
            r = rx.recv() => r,
        };
        let Some(Report::Run { event, .. }) = report else {
            break;
        };
        let id = match &event {
            EngineEvent::Built { image_id } => Some(image_id.clone()),
            EngineEvent::Skipped(SkipReason::Unchanged) => match &check {
                ChangeCheck::Against { last: Some(l), .. } => Some(l.image_id.clone()),
                _ => None,
            },
            _ => None,
        };
        if let Some(id) = id {
            let m = Move {
                name: name.clone(),
                id,
                tags: tags.clone(),
                from: placement.engine,
            };
            let collected = tokio::select! {
                r = bring(&links, &moves, registry.as_ref(), &m, first, &sink) => r,
                _ = cancel.cancelled() => return,
            };
            if let Err(e) = collected {
                sink.fail(e).await;
                continue;
            }
        }
        sink.send(event).await;
    }
}
