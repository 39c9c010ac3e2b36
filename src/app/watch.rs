//! Watch mode in the model: what to rebuild when files change, and when.
//! The watcher (`engine::watch`) reports changes as messages; everything
//! decided about them is here, pure like the rest of the model.
//!
//! - Files changed in an image's context: that image, then the images built
//!   on it (within the watched ones), in dependency order. Change detection
//!   still decides, for each, whether anything it builds from changed.
//! - A change while that image builds (or pushes): exactly one more build
//!   after the current one, however many changes arrive meanwhile; with
//!   `--restart`, the build is cancelled and starts again at once. A queued
//!   image that has not started needs nothing: it will read the new files.
//! - The stack file changed: a stack that loads replaces the model's
//!   images (their state carries over by name) and rebuilds the images
//!   whose settings changed; one that does not load is shown and the last
//!   good stack stays. A reload that adds, removes or reorders images waits
//!   for the running builds to end (their messages name images by
//!   position) and starts nothing new meanwhile.
//! - A context directory deleted or renamed: that image fails, no other.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use super::event::{Event, EventKind};
use super::image::ImageState;
use super::log::LineKind;
use super::message::Command;
use super::schedule::{self, request_run, RunKind};
use super::status::Status;
use super::view::Mode;
use super::{App, Stop};
use crate::config::Config;
use crate::protocol::{ContextChanges, Phase, WatchEvent};

/// Watch mode's state in the model.
#[derive(Debug, Clone, Default)]
pub struct Watch {
    /// A change cancels a running build of the image and starts it again.
    pub restart: bool,
    /// The run exists to watch (`kiln watch`; not `W` in the dashboard):
    /// it ends, failed, when nothing can be watched.
    pub alone: bool,
    /// The images asked for (none: all), to select again after a reload.
    pub names: Vec<String>,
    /// The images watched: those asked for and what they depend on.
    pub images: Vec<usize>,
    /// What the watcher reported it watches: (paths, directories). None
    /// until it is set up; the first build waits for it, so that nothing
    /// saved meanwhile is missed.
    pub watching: Option<(Vec<String>, usize)>,
    /// Images that changed while building, by name: one more build each
    /// after the current one, and what changed (for the log).
    again: BTreeMap<String, String>,
    /// A reloaded stack that reshapes the images, waiting for the running
    /// builds to end, with the images it changes.
    pending: Option<(Arc<Config>, Vec<String>)>,
}

impl Watch {
    /// Whether the scheduler must start nothing new: a reshaping reload
    /// waits for the running builds to end.
    pub fn holds_builds(&self) -> bool {
        self.pending.is_some()
    }
}

/// `kiln watch`'s request: watch `(names, images, restart)`.
pub(super) fn on_request(
    app: &mut App,
    (names, images, restart): (Vec<String>, Vec<usize>, bool),
    at: Instant,
    out: &mut Vec<Command>,
) {
    start(app, names, images, restart, out);
    if let Some(watch) = &mut app.watch {
        watch.alone = true;
    }
    app.now = Some(at);
    schedule::schedule(app, at, out);
}

/// What the watcher saw, from `update`.
pub(super) fn on_event(app: &mut App, event: WatchEvent, out: &mut Vec<Command>) {
    let at = match event {
        WatchEvent::Watching { paths, dirs, at } => {
            on_watching(app, paths, dirs, at, out);
            at
        }
        WatchEvent::FilesChanged { changes, at } => {
            on_files_changed(app, changes, at, out);
            at
        }
        WatchEvent::ContextGone { image, error, at } => {
            on_context_gone(app, &image, error, at, out);
            at
        }
        WatchEvent::StackReloaded {
            config,
            changed,
            at,
        } => {
            on_stack_reloaded(app, config, changed, at, out);
            at
        }
        WatchEvent::CannotWatch { error, at } => {
            on_cannot_watch(app, error, at, out);
            at
        }
        WatchEvent::StackInvalid(error) => return on_stack_invalid(app, error, out),
        WatchEvent::Notice(message) => return super::notice(app, message, out),
    };
    app.now = Some(at);
    schedule::schedule(app, at, out);
}

/// `kiln watch`, or `W` in the dashboard: watch these images. The first
/// build (of whatever is out of date) starts once the watcher is set up.
fn start(
    app: &mut App,
    names: Vec<String>,
    images: Vec<usize>,
    restart: bool,
    out: &mut Vec<Command>,
) {
    out.push(Command::Watch {
        images: images.clone(),
    });
    app.watch = Some(Watch {
        restart,
        names,
        images,
        ..Watch::default()
    });
}

/// `W` in the dashboard: watch every image, or stop watching.
pub(super) fn toggle(app: &mut App, out: &mut Vec<Command>) {
    if app.watch.take().is_some() {
        out.push(Command::Unwatch);
        app.view.message = Some("stopped watching".to_string());
    } else {
        let all = (0..app.images.len()).collect();
        start(app, Vec::new(), all, false, out);
        app.view.message = Some("watching: saved files rebuild their images".to_string());
    }
}

/// The watcher is set up: say what it watches; the first time, build what
/// is out of date.
fn on_watching(
    app: &mut App,
    paths: Vec<String>,
    dirs: usize,
    at: Instant,
    out: &mut Vec<Command>,
) {
    let Some(watch) = &mut app.watch else {
        return;
    };
    let first = watch.watching.is_none();
    watch.watching = Some((paths.clone(), dirs));
    let images = watch.images.clone();
    out.push(Command::Emit(Event {
        image: None,
        kind: EventKind::Watching {
            paths,
            images: images.len(),
            dirs,
        },
    }));
    if first {
        request_run(app, RunKind::Build, &images, at, out);
    }
}

/// Files changed in watched contexts, all at once: each image that
/// changed and its dependents are queued, in build order, before anything
/// is scheduled, so that an image whose base changed too waits for the new
/// base (and is not built on the old one, nor twice).
fn on_files_changed(
    app: &mut App,
    changes: Vec<ContextChanges>,
    at: Instant,
    out: &mut Vec<Command>,
) {
    let mut changed: Vec<(usize, ContextChanges)> = changes
        .into_iter()
        .filter_map(|c| Some((watched(app, &c.image)?, c)))
        .collect();
    changed.sort_by_key(|(i, _)| app.order.iter().position(|o| o == i));
    for (i, c) in changed {
        let why = super::words::changed(&c.files, c.more);
        app.emit(
            out,
            i,
            EventKind::Changed {
                files: c.files,
                more: c.more,
            },
        );
        rebuild_with_dependents(app, i, &why, at, out);
    }
}

/// `name`'s context directory is gone: that image fails (its build, if
/// running, is stopped); the others go on.
fn on_context_gone(app: &mut App, name: &str, error: String, at: Instant, out: &mut Vec<Command>) {
    let Some(i) = watched(app, name) else {
        return;
    };
    if let Some(watch) = &mut app.watch {
        watch.again.remove(name);
    }
    let img = &mut app.images[i];
    if img.status.is_active() {
        out.push(Command::Cancel {
            run: img.run,
            image: i,
        });
    }
    img.status = Status::Failed(Phase::Build);
    img.finished_at = Some(at);
    img.current_step = None;
    img.error = Some(error.clone());
    let mut failed = EventKind::Failed {
        phase: Phase::Build,
        error,
        log_tail: Vec::new(),
    };
    app.show(i, &failed);
    if let EventKind::Failed { log_tail, .. } = &mut failed {
        *log_tail = app.images[i].log.tail(1);
    }
    app.announce(out, i, failed);
}

/// Nothing can be watched: watch mode is off, said; `kiln watch` ends
/// (exit 1) rather than wait for ever for a change it cannot see.
fn on_cannot_watch(app: &mut App, error: String, at: Instant, out: &mut Vec<Command>) {
    let Some(watch) = app.watch.take() else {
        return;
    };
    out.push(Command::Unwatch);
    let message = format!("watch mode cannot watch files: {error}");
    super::notice(app, message.clone(), out);
    if watch.alone {
        app.failure = Some(message);
        super::stop(app, Stop::CannotWatch, at, out);
    }
}

/// The stack file changed and loads: use it now, or once the running
/// builds end if it reshapes the images.
fn on_stack_reloaded(
    app: &mut App,
    config: Arc<Config>,
    changed: Vec<String>,
    at: Instant,
    out: &mut Vec<Command>,
) {
    let Some(watch) = &mut app.watch else {
        return;
    };
    let reshaped = !same_images(&app.images, &config);
    if reshaped && app.images.iter().any(|i| i.status.is_active()) {
        let message = format!(
            "{} changed: the new stack applies when the running builds end",
            config.path.display()
        );
        watch.pending = Some((config, changed));
        super::notice(app, message, out);
        return;
    }
    use_stack(app, config, changed, at, out);
}

/// The stack file changed but does not load: say why; keep the last good
/// stack.
fn on_stack_invalid(app: &mut App, error: String, out: &mut Vec<Command>) {
    if app.watch.is_none() {
        return;
    }
    let problems: Vec<&str> = error.lines().collect();
    let message = format!(
        "the stack file does not load (still using the last good one): {}",
        problems.join("; ")
    );
    super::notice(app, message, out);
}

/// After the engine reported or a timer fired: apply a reload that was
/// waiting for the running builds, and start the one more build of images
/// that changed while they built (not of those cancelled by hand).
pub(super) fn settle(app: &mut App, at: Instant, out: &mut Vec<Command>) {
    let Some(watch) = &mut app.watch else {
        return;
    };
    if !app.images.iter().any(|i| i.status.is_active()) {
        if let Some((config, changed)) = watch.pending.take() {
            use_stack(app, config, changed, at, out);
        }
    }
    let Some(watch) = &mut app.watch else {
        return;
    };
    let mut due = Vec::new();
    watch.again.retain(|name, why| {
        let Some(i) = app.images.iter().position(|img| &img.name == name) else {
            return false;
        };
        match app.images[i].status {
            s if s.is_pending() => true,
            Status::Cancelled => false,
            _ => {
                due.push((i, std::mem::take(why)));
                false
            }
        }
    });
    for (i, why) in due {
        request_run(app, RunKind::Build, &[i], at, out);
        app.images[i].log.push(LineKind::Note, why);
    }
}

/// The watched image called `name`.
fn watched(app: &App, name: &str) -> Option<usize> {
    let i = app.index_of(name)?;
    app.watch.as_ref()?.images.contains(&i).then_some(i)
}

/// Rebuild `i` and then the watched images built on it, in build order.
fn rebuild_with_dependents(
    app: &mut App,
    i: usize,
    why: &str,
    at: Instant,
    out: &mut Vec<Command>,
) {
    let name = app.images[i].name.clone();
    for t in affected(app, i) {
        let reason = if t == i {
            why.to_string()
        } else {
            format!("{name} changed")
        };
        rebuild(app, t, reason, at, out);
    }
}

/// `i` and every watched image that depends on it, directly or not, in
/// build order.
fn affected(app: &App, i: usize) -> Vec<usize> {
    let watched = app
        .watch
        .as_ref()
        .map(|w| w.images.as_slice())
        .unwrap_or(&[]);
    let mut hit = vec![false; app.images.len()];
    hit[i] = true;
    let mut out = Vec::new();
    for &t in &app.order {
        if !hit[t] && app.deps[t].iter().any(|d| hit[*d]) && watched.contains(&t) {
            hit[t] = true;
        }
        if hit[t] {
            out.push(t);
        }
    }
    out
}

/// Build `t` again because of `why`: now if it is not on its way; once
/// more after the current build if it is running (or at once, cancelling
/// it, with `--restart`); not again if it is queued and has not started.
fn rebuild(app: &mut App, t: usize, why: String, at: Instant, out: &mut Vec<Command>) {
    let status = app.images[t].status;
    let restart = app.watch.as_ref().is_some_and(|w| w.restart);
    if status == Status::Queued {
        app.images[t].log.push(LineKind::Note, why);
        return;
    }
    if status.is_active() && !restart {
        app.images[t].log.push(
            LineKind::Note,
            format!("{why}: one more build after this one"),
        );
        let name = app.images[t].name.clone();
        if let Some(watch) = &mut app.watch {
            watch.again.insert(name, why);
        }
        return;
    }
    if status.is_active() {
        schedule::cancel(app, t, at, out);
    }
    request_run(app, RunKind::Build, &[t], at, out);
    app.images[t].log.push(LineKind::Note, why);
}

/// Whether `config` has the model's images, in the same order.
fn same_images(images: &[ImageState], config: &Config) -> bool {
    images.len() == config.images.len()
        && images
            .iter()
            .zip(&config.images)
            .all(|(a, b)| a.name == b.name)
}

/// Build from `config` from now on: the model's images follow it (state
/// carried over by name), the engine and the watcher are told, and the
/// watched images it changed are rebuilt with their dependents.
fn use_stack(
    app: &mut App,
    config: Arc<Config>,
    changed: Vec<String>,
    at: Instant,
    out: &mut Vec<Command>,
) {
    let reshaped = !same_images(&app.images, &config);
    restack(app, &config, reshaped);
    let Some(watch) = &mut app.watch else {
        return;
    };
    let known: Vec<String> = watch
        .names
        .iter()
        .filter(|n| config.index_of(n).is_some())
        .cloned()
        .collect();
    let lost = watch.names.len() - known.len();
    watch.images = if watch.names.is_empty() || !known.is_empty() {
        config.select(&known).unwrap_or_default()
    } else {
        Vec::new()
    };
    let images = watch.images.clone();
    out.push(Command::UseStack(config.clone()));
    out.push(Command::Watch {
        images: images.clone(),
    });
    let what = if changed.is_empty() {
        "no image changed".to_string()
    } else {
        format!("changed: {}", changed.join(", "))
    };
    let mut message = format!("{} reloaded ({what})", config.path.display());
    if lost > 0 {
        message.push_str("; images asked for are gone from it and no longer watched");
    }
    super::notice(app, message, out);
    let file = config.path.display().to_string();
    for name in changed {
        if let Some(i) = app.index_of(&name).filter(|i| images.contains(i)) {
            rebuild_with_dependents(app, i, &format!("{file} changed"), at, out);
        }
    }
    schedule::schedule(app, at, out);
}

/// The model's images become `config`'s: an image that was there keeps its
/// state, its log and its dashboard edits, with the new settings; a new one
/// starts idle. The selection follows the selected image.
fn restack(app: &mut App, config: &Config, reshaped: bool) {
    let fresh = App::new(config, &app.options);
    let selected = app.images.get(app.view.selected).map(|i| i.name.clone());
    let old_names: Vec<String> = app.images.iter().map(|i| i.name.clone()).collect();
    let mut old: BTreeMap<String, (ImageState, Option<super::ImageOverride>)> = app
        .images
        .drain(..)
        .zip(app.overrides.drain(..))
        .map(|(img, edits)| (img.name.clone(), (img, edits)))
        .collect();
    let mut overrides = Vec::new();
    for new in fresh.images {
        match old.remove(&new.name) {
            Some((mut kept, edits)) => {
                kept.stall_after = new.stall_after;
                kept.timeout = new.timeout;
                kept.push.enabled = new.push.enabled;
                kept.push_tags = new.push_tags;
                kept.always_build = new.always_build;
                app.images.push(kept);
                overrides.push(edits);
            }
            None => {
                app.images.push(new);
                overrides.push(None);
            }
        }
    }
    app.overrides = overrides;
    app.deps = fresh.deps;
    app.order = fresh.order;
    app.plan = fresh.plan;
    app.view.defaults = fresh.view.defaults;
    app.stack_label = fresh.stack_label;
    app.view.selected = selected.and_then(|name| app.index_of(&name)).unwrap_or(0);
    // The session's record names images by position: follow them by name
    // (the runs of an image no longer in the stack are forgotten).
    let new_index: Vec<Option<usize>> = old_names.iter().map(|n| app.index_of(n)).collect();
    let moved = |i: usize| new_index.get(i).copied().flatten();
    let session = &mut app.session;
    session
        .outcomes
        .retain_mut(|o| moved(o.image).map(|i| o.image = i).is_some());
    session.awaited = session.awaited.and_then(moved);
    if reshaped && matches!(app.view.mode, Mode::Edit(_)) {
        app.view.mode = Mode::Normal;
    }
}
