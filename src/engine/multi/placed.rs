//! A build where the model placed it: its parents moved to its engine
//! first (each image once per engine, by id: concurrent children wait for
//! the one move), then the build, whose reports pass through here so that
//! a built (or unchanged) image is collected on the first engine before
//! the model hears it is done.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::connect::Link;
use super::transfer::move_image;
use crate::engine::report::Report;
use crate::engine::sink::Sink;
use crate::protocol::{ChangeCheck, EngineEvent, Move, Placement, SkipReason};

/// The moves done or under way, by (target engine, image id): a move is
/// made once, and a second child waits for the first's.
#[derive(Clone, Default)]
pub struct Moves(Arc<Mutex<HashMap<(usize, String), MoveSlot>>>);

/// One move's lock: true once done.
type MoveSlot = Arc<tokio::sync::Mutex<bool>>;

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
}

impl Moves {
    fn slot(&self, engine: usize, id: &str) -> MoveSlot {
        let mut map = match self.0.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        map.entry((engine, id.to_string())).or_default().clone()
    }
}

/// Move `m` to engine `to`, reporting on `sink`; an error names both
/// engines.
async fn bring(
    links: &[Option<Link>],
    moves: &Moves,
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
    let total = src
        .docker
        .inspect_image(&m.id)
        .await
        .ok()
        .and_then(|i| i.size)
        .and_then(|s| u64::try_from(s).ok())
        .unwrap_or(0);
    let event = |bytes, done| EngineEvent::Transfer {
        of: m.name.clone(),
        from: src.name.clone(),
        to: dst.name.clone(),
        bytes,
        total,
        done,
    };
    sink.send(event(0, false)).await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let work = move_image(&src.docker, &dst.docker, &m.id, &m.tags, |b| {
        let _ = tx.send(b);
    });
    tokio::pin!(work);
    let result = loop {
        tokio::select! {
            r = &mut work => break r,
            Some(b) = rx.recv() => { sink.send(event(b, false)).await; }
        }
    };
    let bytes = result.map_err(|e| {
        format!(
            "cannot move {} from engine {} to engine {}: {e}",
            m.name, src.name, dst.name
        )
    })?;
    sink.send(event(bytes, true)).await;
    *done = true;
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
    } = placed;
    for m in &placement.parents {
        let moved = tokio::select! {
            r = bring(&links, &moves, m, placement.engine, &sink) => r,
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
                r = bring(&links, &moves, &m, first, &sink) => r,
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
