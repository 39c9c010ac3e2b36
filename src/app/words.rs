//! The words of every event, once. Three views show the contract's events
//! as text, and all take their words from here:
//!
//! - an image's log: the dashboard's pane (the model fills it as it emits
//!   each event, `App::emit`) and the saved log (the history's recorder
//!   writes the same lines): [`log_lines`]. A saved line keeps its kind in
//!   a prefix ([`saved_line`]), so the pane replays a saved log exactly as
//!   it was shown ([`read_saved_line`]);
//! - plain output (`--plain`, `kiln watch`): [`plain_line`], the same
//!   words, with what a line among other images' lines needs (`FAILED
//!   (build): `, a legacy step's number).
//!
//! Each function matches every event: one without words is a compile
//! error, not a line silently missing from a view. The model's own notes
//! that are not events (why a build starts, "one more build after this
//! one", a push's progress) are the pane's alone and live where the model
//! decides them.

use std::borrow::Cow;
use std::fmt::Write;

use super::event::{DrySummary, EventKind};
use super::log::LineKind;
use super::step_marks::StepMarks;
use crate::human::{format_ms, human_bytes, plural, short_id};
use crate::protocol::{BuilderKind, Phase, SkipReason};
use crate::sanitize::visible;

/// How the pane marks a step header that did no work of its own: done
/// once for identical work elsewhere, or a cache hit (the pane styles it).
pub const SHARED_MARK: &str = "  SHARED";
pub const CACHED_MARK: &str = "  CACHED";
/// The same marks in text that has no style: plain output, saved logs.
const SHARED_TEXT: &str = "  (shared)";
const CACHED_TEXT: &str = "  (cached)";

/// What a saved log puts before a line of each kind but output.
const SAVED_STEP: &str = "==> ";
const SAVED_ERROR: &str = "kiln: FAILED: ";
const SAVED_NOTE: &str = "kiln: ";

/// The lines an event puts in an image's log, each with its kind, given to
/// `push` in order; `marks` follows the image's steps (a line of another
/// step than the last header is marked with its own). The pane and the
/// saved log both take their lines from here.
pub fn log_lines(kind: &EventKind, marks: &mut StepMarks, mut push: impl FnMut(LineKind, String)) {
    match kind {
        EventKind::Started { .. } => marks.clear(),
        EventKind::Step {
            name,
            cached,
            shared,
            ..
        } => {
            marks.header(name);
            let mark = step_mark(*cached, *shared, CACHED_MARK, SHARED_MARK);
            push(LineKind::Step, format!("{name}{mark}"));
        }
        EventKind::Log { line, step } => push(
            LineKind::Output,
            marks.line(step.as_deref(), line).into_owned(),
        ),
        EventKind::Notice { message } => message
            .lines()
            .for_each(|l| push(LineKind::Note, l.to_string())),
        EventKind::Failed { error, .. } => error
            .lines()
            .for_each(|l| push(LineKind::Error, l.to_string())),
        EventKind::Stalled {
            silent_ms,
            phase,
            step,
        } => push(LineKind::Note, stalled(*silent_ms, *phase, step.as_deref())),
        EventKind::Resumed { silent_ms } => push(LineKind::Note, resumed(*silent_ms)),
        EventKind::SlowStep {
            name,
            elapsed_ms,
            usual_ms,
        } => push(LineKind::Note, slow_step(name, *elapsed_ms, *usual_ms)),
        EventKind::TimedOut { after_ms } => push(LineKind::Error, timed_out(*after_ms)),
        EventKind::Cancelled { after_ms } => push(LineKind::Note, cancelled(*after_ms)),
        EventKind::Transfer { .. } => {
            if let Some(line) = words(kind) {
                push(LineKind::Note, line);
            }
        }
        // Shown elsewhere: the list's row and the status bar (queue, skips,
        // the result, step times), the push bars (push progress), and the
        // model's own notes (a change, a push's summary).
        EventKind::Plan { .. }
        | EventKind::Queued
        | EventKind::Skipped { .. }
        | EventKind::StepDone { .. }
        | EventKind::Built { .. }
        | EventKind::PushProgress { .. }
        | EventKind::Pushed { .. }
        | EventKind::Summary { .. }
        | EventKind::Watching { .. }
        | EventKind::Changed { .. }
        // Only a dry run says these, and it has no pane.
        | EventKind::WouldBuild { .. }
        | EventKind::WouldFail { .. } => {}
    }
}

/// The line plain output prints for an event, or None for what it leaves
/// out (queue bookkeeping, per-step completions). `marks`: the image's
/// steps, as in [`log_lines`].
pub fn plain_line(kind: &EventKind, marks: &mut StepMarks) -> Option<String> {
    Some(match kind {
        EventKind::Started { builder, engine } => {
            marks.clear();
            started(*builder, engine.as_deref())
        }
        EventKind::Step {
            index,
            total,
            name,
            cached,
            shared,
        } => {
            marks.header(name);
            plain_step(*index, *total, name, *cached, *shared)
        }
        EventKind::Log { line, step } => marks.line(step.as_deref(), line).into_owned(),
        EventKind::Failed { phase, error, .. } => format!("FAILED ({}): {error}", phase.as_str()),
        EventKind::Queued | EventKind::StepDone { .. } => return None,
        other => words(other)?,
    })
}

/// The words of the events that read the same in every view.
fn words(kind: &EventKind) -> Option<String> {
    Some(match kind {
        EventKind::Plan { images, waves } => plan(images, waves),
        EventKind::Skipped { reason } => skipped(*reason),
        EventKind::Stalled {
            silent_ms,
            phase,
            step,
        } => stalled(*silent_ms, *phase, step.as_deref()),
        EventKind::Resumed { silent_ms } => resumed(*silent_ms),
        EventKind::SlowStep {
            name,
            elapsed_ms,
            usual_ms,
        } => slow_step(name, *elapsed_ms, *usual_ms),
        EventKind::Built {
            image_id,
            duration_ms,
            steps,
            cached_steps,
        } => built(image_id, *duration_ms, *steps, *cached_steps),
        EventKind::PushProgress {
            tag,
            layer,
            current,
            total,
            status,
        } => format!(
            "push {tag}: layer {layer} {status}{}",
            push_size(*current, *total)
        ),
        EventKind::Pushed { tag, digest } => format!("pushed {tag} {digest}"),
        EventKind::TimedOut { after_ms } => timed_out(*after_ms),
        EventKind::Cancelled { after_ms } => cancelled(*after_ms),
        EventKind::Summary {
            dry: Some(dry),
            skipped,
            duration_ms,
            ..
        } => dry_summary(dry, skipped, *duration_ms),
        EventKind::Summary {
            succeeded,
            failed,
            skipped,
            duration_ms,
            dry: None,
        } => summary(succeeded, failed, skipped, *duration_ms),
        EventKind::WouldBuild { reason, .. } => format!("would build: {reason}"),
        EventKind::WouldFail { error } => format!("would fail: {error}"),
        EventKind::Notice { message } => message.clone(),
        EventKind::Watching {
            paths,
            images,
            dirs,
        } => watching(paths, *images, *dirs),
        EventKind::Changed { files, more } => changed(files, *more),
        EventKind::Transfer {
            of,
            from,
            to,
            bytes,
            done,
            registry,
            ..
        } => return transfer(of, from, to, *bytes, *done, registry.as_deref()),
        // Each view has its own words for these (above).
        EventKind::Started { .. }
        | EventKind::Step { .. }
        | EventKind::Log { .. }
        | EventKind::Failed { .. }
        | EventKind::Queued
        | EventKind::StepDone { .. } => return None,
    })
}

/// A line of an image's log as its saved log keeps it: the kind in a
/// prefix (`==> ` a step header, `kiln: FAILED: ` an error, `kiln: ` a
/// note), a step's mark in words. [`read_saved_line`] reverses it.
pub fn saved_line(kind: LineKind, text: String) -> String {
    match kind {
        LineKind::Step => {
            let (name, mark) = split_mark(&text, CACHED_MARK, SHARED_MARK);
            let mark = step_mark(
                mark == Mark::Cached,
                mark == Mark::Shared,
                CACHED_TEXT,
                SHARED_TEXT,
            );
            format!("{SAVED_STEP}{name}{mark}")
        }
        LineKind::Error => format!("{SAVED_ERROR}{text}"),
        LineKind::Note => format!("{SAVED_NOTE}{text}"),
        // Build output, the bulk: kept as it is, not copied.
        LineKind::Output => text,
    }
}

/// A saved log's line as the pane showed it: its kind and its text.
pub fn read_saved_line(line: &str) -> (LineKind, String) {
    if let Some(header) = line.strip_prefix(SAVED_STEP) {
        let (name, mark) = split_mark(header, CACHED_TEXT, SHARED_TEXT);
        let mark = step_mark(
            mark == Mark::Cached,
            mark == Mark::Shared,
            CACHED_MARK,
            SHARED_MARK,
        );
        (LineKind::Step, format!("{name}{mark}"))
    } else if let Some(error) = line.strip_prefix(SAVED_ERROR) {
        (LineKind::Error, error.to_string())
    } else if let Some(note) = line.strip_prefix(SAVED_NOTE) {
        (LineKind::Note, note.to_string())
    } else {
        (LineKind::Output, line.to_string())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    None,
    Cached,
    Shared,
}

/// A step header's name and its mark, spelt `cached` / `shared`.
fn split_mark<'a>(header: &'a str, cached: &str, shared: &str) -> (&'a str, Mark) {
    if let Some(name) = header.strip_suffix(shared) {
        (name, Mark::Shared)
    } else if let Some(name) = header.strip_suffix(cached) {
        (name, Mark::Cached)
    } else {
        (header, Mark::None)
    }
}

/// How a step header says it did no work of its own: `shared` (done once
/// for identical work elsewhere), `cached`, or nothing.
fn step_mark<'a>(is_cached: bool, is_shared: bool, cached: &'a str, shared: &'a str) -> &'a str {
    if is_shared {
        shared
    } else if is_cached {
        cached
    } else {
        ""
    }
}

fn started(builder: BuilderKind, engine: Option<&str>) -> String {
    match engine {
        Some(e) => format!("building ({} builder) on engine {e}", builder.as_str()),
        None => format!("building ({} builder)", builder.as_str()),
    }
}

/// A transfer's first and last line (the bytes between are the bar's).
fn transfer(
    of: &str,
    from: &str,
    to: &str,
    bytes: u64,
    done: bool,
    registry: Option<&str>,
) -> Option<String> {
    let through = registry.map_or(String::new(), |r| format!(" through registry {r}"));
    if done {
        Some(format!(
            "moved {of} from engine {from} to engine {to}{through} ({})",
            crate::human::human_bytes(bytes)
        ))
    } else if bytes == 0 {
        Some(format!(
            "moving {of} from engine {from} to engine {to}{through}"
        ))
    } else {
        None
    }
}

fn skipped(reason: SkipReason) -> String {
    format!("skipped: {}", reason.as_str().replace('_', " "))
}

/// A step header on a line of its own: a legacy step says its number.
fn plain_step(
    index: Option<u32>,
    total: Option<u32>,
    name: &str,
    cached: bool,
    shared: bool,
) -> String {
    let mark = step_mark(cached, shared, CACHED_TEXT, SHARED_TEXT);
    match (index, total) {
        (Some(i), Some(t)) if !name.starts_with("Step ") => format!("Step {i}/{t} : {name}{mark}"),
        _ => format!("{name}{mark}"),
    }
}

/// `STALLED: build silent for 1m12s (in [2/3] RUN npm ci)`.
fn stalled(silent_ms: u64, phase: Phase, step: Option<&str>) -> String {
    let what = phase.as_str();
    match step {
        Some(s) => format!(
            "STALLED: {what} silent for {} (in {s})",
            format_ms(silent_ms)
        ),
        None => format!("STALLED: {what} silent for {}", format_ms(silent_ms)),
    }
}

fn resumed(silent_ms: u64) -> String {
    format!("output resumed after {} of silence", format_ms(silent_ms))
}

fn slow_step(name: &str, elapsed_ms: u64, usual_ms: u64) -> String {
    format!(
        "slower than usual: {name} has run {} (usually {})",
        format_ms(elapsed_ms),
        format_ms(usual_ms)
    )
}

fn timed_out(after_ms: u64) -> String {
    format!("TIMED OUT after {}", format_ms(after_ms))
}

fn cancelled(after_ms: u64) -> String {
    format!("cancelled after {}", format_ms(after_ms))
}

fn built(image_id: &str, duration_ms: u64, steps: u32, cached_steps: u32) -> String {
    format!(
        "built {} in {} ({steps} step{}, {cached_steps} cached)",
        short_id(image_id),
        format_ms(duration_ms),
        plural(steps as usize)
    )
}

fn plan(images: &[String], waves: &[Vec<String>]) -> String {
    let waves: Vec<String> = waves.iter().map(|w| w.join(", ")).collect();
    format!(
        "building {} image{}: {}",
        images.len(),
        plural(images.len()),
        waves.join(" → ")
    )
}

fn push_size(current: u64, total: u64) -> String {
    match (current, total) {
        (_, 0) => String::new(),
        (c, t) if c >= t => format!(" ({})", human_bytes(t)),
        (c, t) => format!(" ({}/{})", human_bytes(c), human_bytes(t)),
    }
}

/// A dry run's summary: `2 would build (api, web), 3 unchanged, 1 would
/// fail (x), 1 skipped (y) (dry run in 40ms: nothing built or pushed)`;
/// the parts with no image are left out, but the first two.
fn dry_summary(dry: &DrySummary, skipped: &[String], duration_ms: u64) -> String {
    let list = |v: &[String]| {
        if v.is_empty() {
            String::new()
        } else {
            format!(" ({})", v.join(", "))
        }
    };
    let others: Vec<String> = skipped
        .iter()
        .filter(|s| !dry.unchanged.contains(s))
        .cloned()
        .collect();
    let mut parts = vec![
        format!(
            "{} would build{}",
            dry.would_build.len(),
            list(&dry.would_build)
        ),
        format!("{} unchanged", dry.unchanged.len()),
    ];
    if !dry.would_fail.is_empty() {
        parts.push(format!(
            "{} would fail{}",
            dry.would_fail.len(),
            list(&dry.would_fail)
        ));
    }
    if !others.is_empty() {
        parts.push(format!("{} skipped{}", others.len(), list(&others)));
    }
    format!(
        "{} (dry run in {}: nothing built or pushed)",
        parts.join(", "),
        format_ms(duration_ms)
    )
}

fn summary(
    succeeded: &[String],
    failed: &[String],
    skipped: &[String],
    duration_ms: u64,
) -> String {
    let list = |v: &[String]| {
        if v.is_empty() {
            String::new()
        } else {
            format!(" ({})", v.join(", "))
        }
    };
    format!(
        "{} succeeded, {} failed{}, {} skipped{} in {}",
        succeeded.len(),
        failed.len(),
        list(failed),
        skipped.len(),
        list(skipped),
        format_ms(duration_ms)
    )
}

fn watching(paths: &[String], images: usize, dirs: usize) -> String {
    format!(
        "watching {images} image{} ({dirs} director{}): {}",
        plural(images),
        if dirs == 1 { "y" } else { "ies" },
        paths.join(", ")
    )
}

/// `changed: a.txt, src/b.rs and 3 more` (also the pane's note on why a
/// build starts); control characters in the names written out visibly.
pub fn changed(files: &[String], more: usize) -> String {
    let shown: Vec<Cow<'_, str>> = files.iter().map(|f| visible(f)).collect();
    let mut text = format!("changed: {}", shown.join(", "));
    if files.is_empty() {
        text.push_str("(too many changes at once to name them)");
    } else if more > 0 {
        let _ = write!(text, " and {more} more");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(kind: EventKind) -> Option<String> {
        plain_line(&kind, &mut StepMarks::default())
    }

    #[test]
    fn events_read_as_lines() {
        assert_eq!(
            text(EventKind::Started {
                builder: BuilderKind::Buildkit,
                engine: None,
            })
            .unwrap(),
            "building (buildkit builder)"
        );
        assert_eq!(text(EventKind::Queued), None);
        assert_eq!(
            text(EventKind::Step {
                index: Some(2),
                total: Some(5),
                name: "RUN make".into(),
                cached: true,
                shared: false
            })
            .unwrap(),
            "Step 2/5 : RUN make  (cached)"
        );
        assert_eq!(
            text(EventKind::Stalled {
                silent_ms: 72_000,
                phase: Phase::Push,
                step: Some("layer 1a2b".into())
            })
            .unwrap(),
            "STALLED: push silent for 1m12s (in layer 1a2b)"
        );
        assert_eq!(
            text(EventKind::Built {
                image_id: "sha256:0123456789abcdef".into(),
                duration_ms: 477,
                steps: 4,
                cached_steps: 1
            })
            .unwrap(),
            "built 0123456789ab in 477ms (4 steps, 1 cached)"
        );
        assert_eq!(
            text(EventKind::PushProgress {
                tag: "r/x:1".into(),
                layer: "aa".into(),
                current: 500,
                total: 2_000_000,
                status: "Pushing".into()
            })
            .unwrap(),
            "push r/x:1: layer aa Pushing (500 B/2.00 MB)"
        );
        assert_eq!(
            text(EventKind::Summary {
                succeeded: vec!["a".into()],
                failed: vec!["b".into(), "c".into()],
                skipped: vec![],
                duration_ms: 3_000,
                dry: None,
            })
            .unwrap(),
            "1 succeeded, 2 failed (b, c), 0 skipped in 3s"
        );
    }
}
