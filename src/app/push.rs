//! One image's push in the model: per-layer progress as the daemon reports
//! it, the coalescing of progress ticks into `push_progress` events, the
//! push's own clock (its `timeout` starts when the push starts) and the
//! per-layer stall rule. Pure, like the rest of `app`: every instant comes
//! from a message.
//!
//! Event policy: a layer's `push_progress` is emitted on every status
//! transition (Preparing → Waiting → Pushing → Pushed, "Layer already
//! exists", "Mounted from …", "Retrying in N seconds"), and byte-progress
//! ticks within one status at most once per [`PROGRESS_EVERY`] of event time
//! per layer; a held-back tick is emitted before the layer's next transition
//! and when the push ends, so the last numbers are never lost.

use std::time::{Duration, Instant};

use super::event::EventKind;
use super::log::LineKind;
use super::status::Status;
use super::{App, Command};
use crate::human::{format_duration, millis, short_digest};
use crate::protocol::{Phase, PushEvent};

/// At most one progress tick per layer per this much event time.
pub const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// The window over which a layer's bytes/s is measured.
const RATE_WINDOW: Duration = Duration::from_secs(1);

/// One layer of the tag being pushed.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    /// The daemon's short layer id (12 hex digits).
    pub id: String,
    /// The daemon's status words: "Preparing", "Waiting", "Pushing",
    /// "Pushed", "Layer already exists", "Mounted from …", "Retrying in N
    /// seconds".
    pub status: String,
    /// Bytes uploaded, never more than `total`.
    pub current: u64,
    /// Bytes to upload, when the daemon said.
    pub total: Option<u64>,
    /// When anything was last heard about this layer.
    pub last_progress: Instant,
    /// Upload speed over the last second or so.
    pub bytes_per_sec: Option<f64>,
    /// How many times the daemon started over ("Retrying in …").
    pub retries: u32,
    last_emitted: Option<Instant>,
    /// A progress tick was held back (coalesced) and not yet emitted.
    pending: bool,
    rate_mark: Option<(Instant, u64)>,
}

impl Layer {
    fn new(id: String, status: String, at: Instant) -> Layer {
        Layer {
            id,
            status,
            current: 0,
            total: None,
            last_progress: at,
            bytes_per_sec: None,
            retries: 0,
            last_emitted: None,
            pending: false,
            rate_mark: None,
        }
    }

    /// Uploaded, already in the registry, or mounted from another repository.
    pub fn is_done(&self) -> bool {
        is_done_status(&self.status)
    }

    /// Work the daemon is doing now (not finished, not queued behind others):
    /// such a layer going silent is a stall.
    pub fn is_in_flight(&self) -> bool {
        !self.is_done() && self.status != "Waiting"
    }

    /// 0.0..=1.0 when the size is known.
    pub fn fraction(&self) -> Option<f64> {
        match self.total {
            Some(t) if t > 0 => Some((self.current as f64 / t as f64).min(1.0)),
            _ if self.is_done() => Some(1.0),
            _ => None,
        }
    }

    fn event(&self, tag: &str) -> EventKind {
        EventKind::PushProgress {
            tag: tag.to_string(),
            layer: self.id.clone(),
            current: self.current,
            total: self.total.unwrap_or(0),
            status: self.status.clone(),
        }
    }
}

fn is_done_status(status: &str) -> bool {
    status == "Pushed" || status == "Layer already exists" || status.starts_with("Mounted from")
}

/// Statuses that are the same state for coalescing: one retry countdown
/// ("Retrying in 5 seconds", "… 4 seconds", …) is one state; a countdown
/// starting over (the daemon's next, longer, wait) is a new retry.
fn same_state(a: &str, b: &str) -> bool {
    match (retry_secs(a), retry_secs(b)) {
        (Some(x), Some(y)) => y <= x,
        _ => a == b,
    }
}

fn retry_secs(status: &str) -> Option<u64> {
    status
        .strip_prefix("Retrying in ")?
        .split(' ')
        .next()?
        .parse()
        .ok()
}

/// An image's push: the tags done so far and the layers of the current tag.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PushState {
    /// Push every tag after a successful build (config `push`, `--push`).
    pub enabled: bool,
    /// When this push started (its `timeout` counts from here).
    pub started: Option<Instant>,
    /// The tag being pushed now.
    pub tag: Option<String>,
    /// Layers of the current tag, in the order the daemon named them.
    pub layers: Vec<Layer>,
    /// Every tag pushed so far.
    pub pushed: Vec<PushedTag>,
    /// While stalled: since when it has been silent.
    pub silent_since: Option<Instant>,
    /// Since when the tag being pushed now has been pushing.
    tag_since: Option<Instant>,
}

/// One tag in the registry: what it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedTag {
    pub tag: String,
    /// The manifest's digest, as the registry serves it.
    pub digest: String,
    /// Bytes uploaded for it (layers the registry already had are not).
    pub bytes: u64,
    pub took: Duration,
}

impl PushedTag {
    /// `pushed 12.3 MB in 4s → digest sha256:abcd1234ef56…`.
    pub fn summary(&self) -> String {
        format!("{} → digest {}", self.short(), short_digest(&self.digest))
    }

    /// `pushed 12.3 MB in 4s`.
    pub fn short(&self) -> String {
        let what = match self.bytes {
            0 => "pushed (every layer was there)".to_string(),
            n => format!("pushed {}", crate::human::human_bytes(n)),
        };
        format!("{what} in {}", format_duration(self.took))
    }
}

impl PushState {
    pub fn new(enabled: bool) -> PushState {
        PushState {
            enabled,
            ..PushState::default()
        }
    }

    /// Forget the last push (a new run); keeps `enabled`.
    pub fn reset(&mut self) {
        *self = PushState::new(self.enabled);
    }

    pub fn start(&mut self, at: Instant) {
        self.reset();
        self.started = Some(at);
        self.tag_since = Some(at);
    }

    /// Tag `tag` is in the registry as `digest`: what its push took.
    fn tag_pushed(&mut self, tag: String, digest: String, at: Instant) -> &PushedTag {
        let bytes = self
            .layers
            .iter()
            .filter(|l| self.tag.as_deref() == Some(tag.as_str()) && l.status == "Pushed")
            .map(|l| l.total.unwrap_or(l.current))
            .sum();
        let since = self.tag_since.or(self.started).unwrap_or(at);
        self.tag_since = Some(at);
        self.pushed.push(PushedTag {
            tag,
            digest,
            bytes,
            took: at.saturating_duration_since(since),
        });
        &self.pushed[self.pushed.len() - 1]
    }

    /// How long this push has run.
    pub fn elapsed(&self, now: Instant) -> Option<Duration> {
        self.started.map(|s| now.saturating_duration_since(s))
    }

    pub fn layer(&self, id: &str) -> Option<&Layer> {
        self.layers.iter().find(|l| l.id == id)
    }

    /// Bytes uploaded and to upload over the current tag's layers of known size.
    pub fn bytes(&self) -> (u64, u64) {
        self.layers
            .iter()
            .filter_map(|l| l.total.map(|t| (l.current, t)))
            .fold((0, 0), |(c, t), (lc, lt)| (c + lc, t + lt))
    }

    /// Switch to `tag` (a new tag: new layers), emitting held-back ticks of
    /// the previous one.
    fn enter_tag(&mut self, tag: &str, out: &mut Vec<EventKind>) {
        if self.tag.as_deref() != Some(tag) {
            self.flush(out);
            self.tag = Some(tag.to_string());
            self.layers.clear();
        }
    }

    /// Apply one layer line of the push of `tag`; the `push_progress`
    /// events to emit go to `out`.
    #[allow(clippy::too_many_arguments)]
    pub fn on_layer(
        &mut self,
        tag: &str,
        id: &str,
        status: &str,
        current: Option<u64>,
        total: Option<u64>,
        at: Instant,
        out: &mut Vec<EventKind>,
    ) {
        self.enter_tag(tag, out);
        let idx = match self.layers.iter().position(|l| l.id == id) {
            Some(i) => i,
            None => {
                self.layers
                    .push(Layer::new(id.to_string(), String::new(), at));
                self.layers.len() - 1
            }
        };
        let layer = &mut self.layers[idx];
        let transition = layer.last_emitted.is_none() || !same_state(&layer.status, status);
        if transition && layer.pending {
            // The last tick of the old state first, with its numbers.
            out.push(layer.event(tag));
            layer.pending = false;
        }
        if retry_secs(status).is_some() && transition {
            layer.retries += 1;
        }
        layer.status = status.to_string();
        layer.last_progress = at;
        if let Some(t) = total {
            layer.total = Some(t);
        }
        if let Some(c) = current {
            layer.current = layer.total.map_or(c, |t| c.min(t));
            match layer.rate_mark {
                Some((t0, c0)) if at.saturating_duration_since(t0) >= RATE_WINDOW => {
                    let dt = at.saturating_duration_since(t0).as_secs_f64();
                    layer.bytes_per_sec = Some(layer.current.saturating_sub(c0) as f64 / dt);
                    layer.rate_mark = Some((at, layer.current));
                }
                Some(_) => {}
                None => layer.rate_mark = Some((at, layer.current)),
            }
        }
        if is_done_status(status) {
            if let Some(t) = layer.total {
                layer.current = t;
            }
            layer.bytes_per_sec = None;
        }
        let due = layer
            .last_emitted
            .is_none_or(|t| at.saturating_duration_since(t) >= PROGRESS_EVERY);
        if transition || due {
            out.push(layer.event(tag));
            layer.last_emitted = Some(at);
            layer.pending = false;
        } else {
            layer.pending = true;
        }
    }

    /// "Retrying in N seconds" for a layer (counts a retry on entry).
    pub fn on_retry(
        &mut self,
        tag: &str,
        id: &str,
        secs: u64,
        at: Instant,
        out: &mut Vec<EventKind>,
    ) {
        let unit = if secs == 1 { "second" } else { "seconds" };
        self.on_layer(
            tag,
            id,
            &format!("Retrying in {secs} {unit}"),
            None,
            None,
            at,
            out,
        );
    }

    /// Emit every held-back tick (end of a tag or of the push).
    pub fn flush(&mut self, out: &mut Vec<EventKind>) {
        let Some(tag) = self.tag.clone() else {
            return;
        };
        for layer in &mut self.layers {
            if layer.pending {
                out.push(layer.event(&tag));
                layer.pending = false;
            }
        }
    }

    /// Whether the push is stalled at `now`: some in-flight layer has had no
    /// progress for `stall_after` (the longest-silent one is named), or, with
    /// no layer in flight, nothing at all was heard since `last_output`.
    /// Returns the silent layer (if any) and since when it has been silent.
    pub fn stall(
        &self,
        now: Instant,
        stall_after: Duration,
        last_output: Option<Instant>,
    ) -> Option<(Option<String>, Instant)> {
        let in_flight = self.layers.iter().filter(|l| l.is_in_flight());
        let oldest = in_flight.min_by_key(|l| l.last_progress);
        match oldest {
            Some(l) => (now.saturating_duration_since(l.last_progress) >= stall_after)
                .then(|| (Some(l.id.clone()), l.last_progress)),
            None => {
                let since = last_output.or(self.started)?;
                (now.saturating_duration_since(since) >= stall_after).then_some((None, since))
            }
        }
    }
}

/// Image `i` enters its push (after its build, or for `kiln push`): the
/// engine is told to push its tags.
/// When `push_tags` chooses none of its tags, the image is done at once,
/// saying so. Several engines: an error when the engine that holds the
/// image is out of the run (the caller fails the push with it).
pub(super) fn start(
    app: &mut App,
    i: usize,
    at: Instant,
    out: &mut Vec<Command>,
) -> Result<(), String> {
    let img = &mut app.images[i];
    let tags = img.tags_to_push();
    if tags.is_empty() {
        img.status = Status::Done;
        img.finished_at = Some(at);
        let message = img.nothing_to_push();
        app.emit(out, i, EventKind::Notice { message });
        return Ok(());
    }
    let engine = super::placement::push_from(app, i)?;
    let img = &mut app.images[i];
    img.status = Status::Pushing;
    img.push.start(at);
    img.last_output = Some(at);
    img.log
        .push(LineKind::Note, format!("pushing {}", tags.join(", ")));
    if let Some(e) = engine.and_then(|e| app.engines.get(e)) {
        let message = format!("pushing from engine {}", e.name);
        app.emit(out, i, EventKind::Notice { message });
    }
    let img = &app.images[i];
    out.push(Command::Push {
        run: img.run,
        image: i,
        tags,
        engine,
    });
    Ok(())
}

/// The image's push made progress: record it, emit what the coalescing
/// lets through, and leave the stalled state if no layer is silent any more.
pub(super) fn on_progress(
    app: &mut App,
    i: usize,
    at: Instant,
    tag: String,
    ev: PushEvent,
    out: &mut Vec<Command>,
) {
    let img = &mut app.images[i];
    img.last_output = Some(at);
    let mut events = Vec::new();
    match ev {
        PushEvent::Layer {
            id,
            status,
            current,
            total,
        } => img
            .push
            .on_layer(&tag, &id, &status, current, total, at, &mut events),
        PushEvent::Retrying { id, secs } => {
            img.log.push(
                LineKind::Note,
                format!("{tag}: layer {id}: retrying in {secs}s"),
            );
            img.push.on_retry(&tag, &id, secs, at, &mut events)
        }
        PushEvent::Status(text) => img.log.push(LineKind::Output, text),
        // The engine turns these into Pushed / Failed.
        PushEvent::Digest { .. } | PushEvent::Error(_) => {}
    }
    for kind in events {
        app.emit(out, i, kind);
    }
    maybe_resume(app, i, at, out);
}

fn maybe_resume(app: &mut App, i: usize, at: Instant, out: &mut Vec<Command>) {
    let img = &mut app.images[i];
    if img.status != Status::Stalled(Phase::Push)
        || img
            .push
            .stall(at, img.stall_after, img.last_output)
            .is_some()
    {
        return;
    }
    let silent = img
        .push
        .silent_since
        .take()
        .map(|s| at.saturating_duration_since(s))
        .unwrap_or_default();
    img.status = Status::Pushing;
    app.emit(
        out,
        i,
        EventKind::Resumed {
            silent_ms: millis(silent),
        },
    );
}

/// One tag is in the registry.
pub(super) fn on_pushed(
    app: &mut App,
    i: usize,
    at: Instant,
    tag: String,
    digest: String,
    out: &mut Vec<Command>,
) {
    let img = &mut app.images[i];
    img.last_output = Some(at);
    let mut events = Vec::new();
    img.push.flush(&mut events);
    let summary = img
        .push
        .tag_pushed(tag.clone(), digest.clone(), at)
        .summary();
    img.log.push(LineKind::Note, format!("{tag}: {summary}"));
    for kind in events {
        app.emit(out, i, kind);
    }
    app.emit(out, i, EventKind::Pushed { tag, digest });
    maybe_resume(app, i, at, out);
}

/// Every tag is pushed: the image is done.
pub(super) fn on_done(app: &mut App, i: usize, at: Instant, out: &mut Vec<Command>) {
    let img = &mut app.images[i];
    let mut events = Vec::new();
    img.push.flush(&mut events);
    img.status = Status::Done;
    img.finished_at = Some(at);
    for kind in events {
        app.emit(out, i, kind);
    }
}

/// Before a push failure is reported: the last numbers of every layer.
pub(super) fn flush(app: &mut App, i: usize, out: &mut Vec<Command>) {
    let mut events = Vec::new();
    app.images[i].push.flush(&mut events);
    for kind in events {
        app.emit(out, i, kind);
    }
}

/// `stall::check_timers` for a pushing image.
pub(super) fn check_stall(app: &mut App, i: usize, now: Instant, out: &mut Vec<Command>) {
    let img = &mut app.images[i];
    if img.status != Status::Pushing {
        return;
    }
    let Some((layer, since)) = img.push.stall(now, img.stall_after, img.last_output) else {
        return;
    };
    let silent = now.saturating_duration_since(since);
    img.status = Status::Stalled(Phase::Push);
    img.push.silent_since = Some(since);
    let step = layer.map(|id| format!("layer {id}"));
    app.emit(
        out,
        i,
        EventKind::Stalled {
            silent_ms: millis(silent),
            phase: Phase::Push,
            step,
        },
    );
}

/// For compact output (`--plain`): lets through a `push_progress` event only
/// when it changes a layer's state, so a long upload is a handful of lines.
#[derive(Debug, Default)]
pub struct TransitionFilter {
    last: std::collections::HashMap<(String, String, String), String>,
}

impl TransitionFilter {
    /// Whether `event` (of `image`) should be shown.
    pub fn admit(&mut self, image: Option<&str>, event: &EventKind) -> bool {
        let EventKind::PushProgress {
            tag, layer, status, ..
        } = event
        else {
            return true;
        };
        let key = (
            image.unwrap_or_default().to_string(),
            tag.clone(),
            layer.clone(),
        );
        match self.last.get(&key) {
            Some(prev) if same_state(prev, status) => false,
            _ => {
                self.last.insert(key, status.clone());
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statuses(ev: &[EventKind]) -> Vec<(String, u64, u64, String)> {
        ev.iter()
            .map(|e| match e {
                EventKind::PushProgress {
                    layer,
                    current,
                    total,
                    status,
                    ..
                } => (layer.clone(), *current, *total, status.clone()),
                other => panic!("not push_progress: {other:?}"),
            })
            .collect()
    }

    fn row(layer: &str, current: u64, total: u64, status: &str) -> (String, u64, u64, String) {
        (layer.into(), current, total, status.into())
    }

    #[test]
    fn ticks_are_coalesced_per_layer_and_transitions_always_pass() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut p = PushState::new(true);
        p.start(t0);
        let mut out = Vec::new();
        p.on_layer("r/x:1", "aa", "Preparing", None, None, ms(0), &mut out);
        p.on_layer("r/x:1", "bb", "Preparing", None, None, ms(1), &mut out);
        p.on_layer("r/x:1", "bb", "Waiting", None, None, ms(2), &mut out);
        // 1000 ticks 1 ms apart: the first passes (a transition), then one
        // per 500 ms.
        for n in 0..1000u64 {
            p.on_layer(
                "r/x:1",
                "aa",
                "Pushing",
                Some(n * 10),
                Some(10_000),
                ms(10 + n),
                &mut out,
            );
        }
        assert_eq!(
            statuses(&out),
            vec![
                row("aa", 0, 0, "Preparing"),
                row("bb", 0, 0, "Preparing"),
                row("bb", 0, 0, "Waiting"),
                row("aa", 0, 10_000, "Pushing"),
                row("aa", 5000, 10_000, "Pushing"),
            ]
        );
        out.clear();
        // The held-back last tick (9990) comes out before the transition;
        // Pushed reports the full size even though the daemon's line has none.
        p.on_layer("r/x:1", "aa", "Pushed", None, None, ms(1011), &mut out);
        assert_eq!(
            statuses(&out),
            vec![
                row("aa", 9990, 10_000, "Pushing"),
                row("aa", 10_000, 10_000, "Pushed")
            ]
        );
        out.clear();
        // Same status again (the daemon repeats itself): within 500 ms, held.
        p.on_layer("r/x:1", "bb", "Waiting", None, None, ms(100), &mut out);
        assert!(out.is_empty());
        // … and flushed at the end of the push.
        p.flush(&mut out);
        assert_eq!(statuses(&out), vec![row("bb", 0, 0, "Waiting")]);
        out.clear();
        p.flush(&mut out);
        assert!(out.is_empty(), "flush emits a held tick once");
    }

    #[test]
    fn current_is_clamped_and_retries_counted_once_per_countdown() {
        let t0 = Instant::now();
        let s = |n: u64| t0 + Duration::from_secs(n);
        let mut p = PushState::new(true);
        let mut out = Vec::new();
        p.on_layer("t", "aa", "Pushing", Some(5000), Some(3216), s(0), &mut out);
        assert_eq!(p.layer("aa").unwrap().current, 3216);
        p.on_retry("t", "aa", 5, s(1), &mut out);
        p.on_retry("t", "aa", 4, s(2), &mut out);
        p.on_retry("t", "aa", 3, s(3), &mut out);
        p.on_layer("t", "aa", "Pushing", Some(10), Some(3216), s(6), &mut out);
        p.on_retry("t", "aa", 10, s(7), &mut out);
        assert_eq!(p.layer("aa").unwrap().retries, 2);
        // The daemon's next wait straight after a countdown: a new retry.
        p.on_retry("t", "aa", 1, s(16), &mut out);
        p.on_retry("t", "aa", 15, s(17), &mut out);
        assert_eq!(p.layer("aa").unwrap().retries, 3);
        out.truncate(6);
        let st = statuses(&out);
        assert_eq!(st[1].3, "Retrying in 5 seconds");
        assert_eq!(
            st.iter().filter(|r| r.3.starts_with("Retrying")).count(),
            4, // the countdown ticks once a second, past the interval
            "{st:?}"
        );
    }

    #[test]
    fn rate_is_measured_over_a_second() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut p = PushState::new(true);
        let mut out = Vec::new();
        p.on_layer(
            "t",
            "aa",
            "Pushing",
            Some(0),
            Some(10_000_000),
            ms(0),
            &mut out,
        );
        p.on_layer(
            "t",
            "aa",
            "Pushing",
            Some(1_000_000),
            Some(10_000_000),
            ms(500),
            &mut out,
        );
        assert_eq!(p.layer("aa").unwrap().bytes_per_sec, None);
        p.on_layer(
            "t",
            "aa",
            "Pushing",
            Some(2_000_000),
            Some(10_000_000),
            ms(1000),
            &mut out,
        );
        assert_eq!(p.layer("aa").unwrap().bytes_per_sec, Some(2_000_000.0));
        assert_eq!(p.bytes(), (2_000_000, 10_000_000));
    }

    #[test]
    fn a_new_tag_starts_new_layers_after_flushing_the_old_ones() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut p = PushState::new(true);
        let mut out = Vec::new();
        p.on_layer("r/x:1", "aa", "Pushing", Some(1), Some(10), ms(0), &mut out);
        p.on_layer("r/x:1", "aa", "Pushing", Some(2), Some(10), ms(1), &mut out);
        p.on_layer(
            "r/x:2",
            "aa",
            "Layer already exists",
            None,
            None,
            ms(2),
            &mut out,
        );
        let tags: Vec<_> = out
            .iter()
            .map(|e| match e {
                EventKind::PushProgress { tag, current, .. } => (tag.as_str(), *current),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(tags, vec![("r/x:1", 1), ("r/x:1", 2), ("r/x:2", 0)]);
        assert_eq!(p.layers.len(), 1);
        assert!(p.layers[0].is_done());
    }

    #[test]
    fn plain_output_sees_transitions_only() {
        let ev = |status: &str, current: u64| EventKind::PushProgress {
            tag: "t".into(),
            layer: "aa".into(),
            current,
            total: 100,
            status: status.into(),
        };
        let mut f = TransitionFilter::default();
        let shown: Vec<bool> = [
            ev("Preparing", 0),
            ev("Pushing", 1),
            ev("Pushing", 50),
            ev("Retrying in 5 seconds", 50),
            ev("Retrying in 4 seconds", 50),
            ev("Retrying in 1 second", 50),
            ev("Retrying in 10 seconds", 50),
            ev("Pushing", 60),
            ev("Pushed", 100),
        ]
        .iter()
        .map(|e| f.admit(Some("x"), e))
        .collect();
        assert_eq!(
            shown,
            [true, true, false, true, false, false, true, true, true]
        );
        assert!(f.admit(Some("y"), &ev("Pushed", 100)), "per image");
    }

    #[test]
    fn stall_is_per_in_flight_layer() {
        let t0 = Instant::now();
        let s = |n: u64| t0 + Duration::from_secs(n);
        let after = Duration::from_secs(60);
        let mut p = PushState::new(true);
        p.start(t0);
        let mut out = Vec::new();
        // Before any layer: the image's own silence counts.
        assert_eq!(p.stall(s(59), after, Some(t0)), None);
        assert_eq!(p.stall(s(60), after, Some(t0)), Some((None, t0)));
        p.on_layer("t", "aa", "Pushing", Some(1), Some(10), s(1), &mut out);
        p.on_layer("t", "bb", "Waiting", None, None, s(1), &mut out);
        p.on_layer("t", "cc", "Pushing", Some(1), Some(10), s(1), &mut out);
        // cc keeps moving, aa does not: stalled on aa (waiting bb is not).
        for n in 2..=70 {
            p.on_layer("t", "cc", "Pushing", Some(n), Some(100), s(n), &mut out);
        }
        assert_eq!(
            p.stall(s(61), after, Some(s(61))),
            Some((Some("aa".into()), s(1)))
        );
        p.on_layer("t", "aa", "Pushed", None, None, s(71), &mut out);
        assert_eq!(p.stall(s(72), after, Some(s(71))), None);
    }
}
