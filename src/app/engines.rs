//! The model's side of several engines: each image's place by the rule in
//! `placement.rs`, the parents to move there first, collecting, and an
//! image that can build nowhere.

use std::time::Instant;

use super::event::EventKind;
use super::message::Command;
use super::placement::{place, Load, Place};
use super::status::Status;
use super::{build, notice, App};
use crate::protocol::{Move, Phase, Placement, NOT_CHOSEN};

/// The engines' loads: builds holding a slot on each.
pub(super) fn loads(app: &App) -> Vec<Load> {
    let mut loads: Vec<Load> = app
        .engines
        .iter()
        .map(|e| Load {
            jobs: e.jobs,
            running: 0,
            up: e.down.is_none(),
        })
        .collect();
    for img in &app.images {
        if matches!(img.status, Status::Building | Status::Stalled(Phase::Build)) {
            if let Some(l) = img.engine.and_then(|e| loads.get_mut(e)) {
                l.running += 1;
            }
        }
    }
    loads
}

/// An engine's index by name.
pub(super) fn index(app: &App, name: &str) -> Option<usize> {
    app.engines.iter().position(|e| e.name == name)
}

/// Where image `i` goes now, by the rule.
pub(super) fn place_image(app: &App, i: usize) -> Place {
    let pin = match &app.pins[i] {
        Some(name) => match index(app, name) {
            Some(e) => Some(e),
            None => return Place::Never,
        },
        None => None,
    };
    let last = app.images[i]
        .last_success
        .as_ref()
        .and_then(|l| l.engine.as_deref())
        .and_then(|n| index(app, n));
    let parents: Vec<usize> = app.deps[i]
        .iter()
        .filter_map(|&d| app.images[d].engine)
        .collect();
    place(pin, last, &parents, app.images[i].avoid, &loads(app))
}

/// Whether engine `e` is in the run now.
fn up(app: &App, e: usize) -> bool {
    app.engines.get(e).is_some_and(|x| x.down.is_none())
}

/// Building `i` on engine `e`: the parents to bring there (each from an
/// engine in the run that has it: where it was built, or the engine that
/// collects), and where to collect it; or why it cannot build there (a
/// parent only on engines that left the run).
pub(super) fn placement(app: &App, i: usize, e: usize) -> Result<Placement, String> {
    let collector = app.collector.filter(|_| app.collect);
    let collect_to = collector.filter(|&c| c != e && up(app, c));
    let mut parents = Vec::new();
    for &d in &app.deps[i] {
        let dep = &app.images[d];
        let Some(built_on) = dep.engine else {
            continue;
        };
        let name = |x: usize| app.engines.get(x).map_or("?", |x| x.name.as_str());
        if dep.held_nowhere {
            return Err(format!(
                "its parent {} is on no engine of this run: engine '{}' rejoined without it",
                dep.name,
                name(built_on)
            ));
        }
        // Where its run put it (else, as placed: built there, collected).
        let held: Vec<usize> = if dep.held_on.is_empty() {
            std::iter::once(built_on).chain(collector).collect()
        } else {
            dep.held_on.clone()
        };
        if held.contains(&e) {
            continue;
        }
        let Some(from) = held.iter().copied().find(|&x| up(app, x)) else {
            return Err(format!(
                "its parent {} is only on engine '{}', which left the run",
                dep.name,
                name(built_on)
            ));
        };
        let id = dep
            .image_id
            .clone()
            .or_else(|| dep.last_success.as_ref().map(|l| l.image_id.clone()));
        let Some(id) = id else {
            continue;
        };
        parents.push(Move {
            name: dep.name.clone(),
            id,
            tags: dep.tags.clone(),
            from,
        });
    }
    Ok(Placement {
        engine: e,
        parents,
        collect_to,
    })
}

/// Image `i` is pinned to an engine out of the run: it fails, saying why.
pub(super) fn fail_pinned(app: &mut App, i: usize, now: Instant, out: &mut Vec<Command>) {
    let pin = app.pins[i].clone().unwrap_or_default();
    let why = match app.engines.iter().find(|e| e.name == pin) {
        Some(e) => e.down.clone().unwrap_or_default(),
        None => "not chosen with --engine".to_string(),
    };
    let error = format!("pinned to engine '{pin}', which is out of this run: {why}");
    app.images[i].started_at = Some(now);
    build::on_failed(app, i, now, Phase::Build, error, out);
}

/// Engine `e` stopped answering: it leaves the run; its builds fail, and
/// those not pinned there are retried once on another engine.
pub(super) fn on_lost(app: &mut App, e: usize, why: String, at: Instant, out: &mut Vec<Command>) {
    app.rejoining.retain(|&x| x != e);
    let Some(engine) = app.engines.get_mut(e) else {
        return;
    };
    if engine.down.is_some() {
        return;
    }
    engine.down = Some(format!("lost: {why}"));
    let name = engine.name.clone();
    notice(
        app,
        format!("engine '{name}' was lost and leaves this run: {why}"),
        out,
    );
    for i in 0..app.images.len() {
        let img = &app.images[i];
        let on_it = img.engine == Some(e)
            && matches!(img.status, Status::Building | Status::Stalled(Phase::Build));
        if !on_it {
            continue;
        }
        out.push(Command::Cancel {
            run: img.run,
            image: i,
        });
        let error = format!("engine '{name}' was lost: {why}");
        if app.pins[i].is_some() || img.avoid.is_some() {
            build::on_failed(app, i, at, Phase::Build, error, out);
            continue;
        }
        let run = app.new_run_id();
        let img = &mut app.images[i];
        img.reset_for_run(run);
        img.avoid = Some(e);
        img.engine = None;
        img.status = Status::Queued;
        let message = format!("{error}; retrying on another engine");
        app.emit(out, i, EventKind::Notice { message });
        app.emit(out, i, EventKind::Queued);
    }
}

/// Image `i` cannot build anywhere now, because `why`.
pub(super) fn fail_with(
    app: &mut App,
    i: usize,
    now: Instant,
    why: String,
    out: &mut Vec<Command>,
) {
    app.images[i].started_at = Some(now);
    build::on_failed(app, i, now, Phase::Build, why, out);
}

/// Image `i`'s run gave it (built, unchanged, prebuilt): it is on the
/// engine it ran on, and on the one that collected it.
pub(super) fn on_image_ready(app: &mut App, i: usize) {
    let img = &mut app.images[i];
    if let Some(e) = img.engine {
        img.held_on = std::iter::once(e).chain(img.collect_to).collect();
        img.held_nowhere = false;
    }
}

/// The image id the model believes image `i` has (this run's, else its
/// last success's).
fn image_id(app: &App, i: usize) -> Option<String> {
    let img = &app.images[i];
    img.image_id
        .clone()
        .or_else(|| img.last_success.as_ref().map(|l| l.image_id.clone()))
}

/// Engine `e`, out of the run, answers again: ask which of the images the
/// model placed there are still there before it takes builds again.
pub(super) fn on_answers(app: &mut App, e: usize, out: &mut Vec<Command>) {
    let chosen = app
        .engines
        .get(e)
        .is_some_and(|x| x.down.as_deref() != Some(NOT_CHOSEN));
    if !chosen {
        return;
    }
    if !app.rejoining.contains(&e) {
        app.rejoining.push(e);
    }
    let mut ids: Vec<String> = (0..app.images.len())
        .filter(|&i| app.images[i].held_on.contains(&e))
        .filter_map(|i| image_id(app, i))
        .collect();
    ids.sort();
    ids.dedup();
    out.push(Command::RejoinEngine { engine: e, ids });
}

/// Engine `e` is back, holding `present` of the ids asked about: it
/// rejoins the run; an image it no longer holds is not counted on there.
pub(super) fn on_back(app: &mut App, e: usize, present: &[String], out: &mut Vec<Command>) {
    // Lost again meanwhile: it waits for its next answer.
    if !app.rejoining.contains(&e) {
        return;
    }
    app.rejoining.retain(|&x| x != e);
    let Some(engine) = app.engines.get_mut(e) else {
        return;
    };
    let was_out = engine.down.take().is_some();
    let name = engine.name.clone();
    let mut gone = Vec::new();
    for i in 0..app.images.len() {
        if !app.images[i].held_on.contains(&e) {
            continue;
        }
        let there = image_id(app, i).is_some_and(|id| present.contains(&id));
        if !there {
            let img = &mut app.images[i];
            img.held_on.retain(|&x| x != e);
            img.held_nowhere = img.held_on.is_empty();
            gone.push(img.name.clone());
        }
    }
    if !was_out {
        return;
    }
    let mut message = format!("engine '{name}' answers again and rejoins this run");
    if !gone.is_empty() {
        message.push_str(&format!(" (without {}, no longer there)", gone.join(", ")));
    }
    notice(app, message, out);
}
