//! Text for people, in one place: the plain-output line of each event,
//! `kiln check`'s plan, `kiln ls`'s table, sizes and short ids. Pure
//! functions from data to strings (no I/O, no clock: `now` is passed in).

use std::collections::HashMap;
use std::fmt::Write;
use std::time::Duration;

use crate::app::event::{Event, EventKind};
use crate::app::session::SessionSummary;
use crate::app::step_marks::step_mark;
use crate::config::{self, Config};
use crate::history::RunRow;
use crate::human::{format_duration, format_ms as ms, human_bytes, plural, short_digest, short_id};
use crate::protocol::Phase;
use crate::protocol::{BaseImage, LocalBase};

/// The plain-text rendering of an event, or None for events plain output
/// leaves out (queue bookkeeping, per-step completions).
pub fn plain_text(event: &Event) -> Option<String> {
    Some(match &event.kind {
        EventKind::Plan { images, waves } => plan_line(images, waves),
        EventKind::Queued | EventKind::StepDone { .. } => return None,
        EventKind::Started { builder } => format!("building ({} builder)", builder.as_str()),
        EventKind::Skipped { reason } => format!("skipped: {}", reason.as_str().replace('_', " ")),
        EventKind::Step {
            index,
            total,
            name,
            cached,
            shared,
        } => step_line(*index, *total, name, *cached, *shared),
        EventKind::Log { line, .. } => line.clone(),
        EventKind::Stalled {
            silent_ms,
            phase,
            step,
        } => stalled_line(*silent_ms, *phase, step.as_deref()),
        EventKind::Resumed { silent_ms } => {
            format!("output resumed after {} of silence", ms(*silent_ms))
        }
        EventKind::SlowStep {
            name,
            elapsed_ms,
            usual_ms,
        } => format!(
            "slower than usual: {name} has run {} (usually {})",
            ms(*elapsed_ms),
            ms(*usual_ms)
        ),
        EventKind::Built {
            image_id,
            duration_ms,
            steps,
            cached_steps,
        } => format!(
            "built {} in {} ({steps} step{}, {cached_steps} cached)",
            short_id(image_id),
            ms(*duration_ms),
            plural(*steps as usize)
        ),
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
        EventKind::Failed { phase, error, .. } => format!("FAILED ({}): {error}", phase.as_str()),
        EventKind::TimedOut { after_ms } => format!("TIMED OUT after {}", ms(*after_ms)),
        EventKind::Cancelled { after_ms } => format!("cancelled after {}", ms(*after_ms)),
        EventKind::Summary {
            succeeded,
            failed,
            skipped,
            duration_ms,
        } => summary_line(succeeded, failed, skipped, *duration_ms),
        EventKind::Notice { message } => message.clone(),
        EventKind::Watching {
            paths,
            images,
            dirs,
        } => watching_line(paths, *images, *dirs),
        EventKind::Changed { files, more } => changed_line(files, *more),
    })
}

fn watching_line(paths: &[String], images: usize, dirs: usize) -> String {
    format!(
        "watching {images} image{} ({dirs} director{}): {}",
        plural(images),
        if dirs == 1 { "y" } else { "ies" },
        paths.join(", ")
    )
}

/// `changed: a.txt, src/b.rs and 3 more`.
pub fn changed_line(files: &[String], more: usize) -> String {
    let mut text = format!("changed: {}", files.join(", "));
    if files.is_empty() {
        text.push_str("(too many changes at once to name them)");
    } else if more > 0 {
        text.push_str(&format!(" and {more} more"));
    }
    text
}

fn plan_line(images: &[String], waves: &[Vec<String>]) -> String {
    let waves: Vec<String> = waves.iter().map(|w| w.join(", ")).collect();
    format!(
        "building {} image{}: {}",
        images.len(),
        plural(images.len()),
        waves.join(" → ")
    )
}

fn step_line(
    index: Option<u32>,
    total: Option<u32>,
    name: &str,
    cached: bool,
    shared: bool,
) -> String {
    let mark = step_mark(cached, shared);
    match (index, total) {
        (Some(i), Some(t)) if !name.starts_with("Step ") => format!("Step {i}/{t} : {name}{mark}"),
        _ => format!("{name}{mark}"),
    }
}

fn stalled_line(silent_ms: u64, phase: Phase, step: Option<&str>) -> String {
    let what = phase.as_str();
    match step {
        Some(s) => format!("STALLED: {what} silent for {} (in {s})", ms(silent_ms)),
        None => format!("STALLED: {what} silent for {}", ms(silent_ms)),
    }
}

fn push_size(current: u64, total: u64) -> String {
    match (current, total) {
        (_, 0) => String::new(),
        (c, t) if c >= t => format!(" ({})", human_bytes(t)),
        (c, t) => format!(" ({}/{})", human_bytes(c), human_bytes(t)),
    }
}

fn summary_line(
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
        ms(duration_ms)
    )
}

/// The dashboard's quit summary: every run of the session by how it
/// ended, the images that went wrong named: `5 built, 3 unchanged, 1
/// failed (web), 1 timed out (api) in 3m12s`.
pub fn session_line(s: &SessionSummary) -> String {
    let named = |n: &[String], what: &str| match n.len() {
        0 => None,
        _ => Some(format!("{} {what} ({})", n.len(), n.join(", "))),
    };
    let counted = |n: usize, what: &str| (n > 0).then(|| format!("{n} {what}"));
    let parts: Vec<String> = [
        counted(s.built, "built"),
        counted(s.pushed, "pushed"),
        counted(s.unchanged, "unchanged"),
        counted(s.prebuilt, "prebuilt"),
        named(&s.failed, "failed"),
        named(&s.timed_out, "timed out"),
        named(&s.cancelled, "cancelled"),
        named(&s.skipped, "skipped"),
    ]
    .into_iter()
    .flatten()
    .collect();
    let what = if parts.is_empty() {
        "nothing finished".to_string()
    } else {
        parts.join(", ")
    };
    format!("{what} in {}", format_duration(s.duration))
}

/// `kiln check`'s output: the images in waves, with their dependencies,
/// then the base images kiln does not build and what the daemon has of
/// them (`bases`: why they could not be checked, when they could not).
pub fn render_plan(config: &Config, bases: &Result<Vec<BaseImage>, String>) -> String {
    let plan = config.plan();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{}: {} image{} in {} wave{} (up to {} at once)",
        config.path.display(),
        config.images.len(),
        plural(config.images.len()),
        plan.waves.len(),
        plural(plan.waves.len()),
        config.jobs
    );
    let rows: Vec<(&str, String, String)> = config
        .images
        .iter()
        .enumerate()
        .map(|(i, img)| (img.name.as_str(), what_it_is(img), after(config, &plan, i)))
        .collect();
    let name_width = column_width(rows.iter().map(|r| r.0));
    let what_width = column_width(rows.iter().map(|r| r.1.as_str()));
    for (w, wave) in plan.waves.iter().enumerate() {
        let _ = writeln!(s, "wave {}:", w + 1);
        for &i in wave {
            let (name, what, after) = &rows[i];
            let line = if after.is_empty() {
                format!("  {name:<name_width$}  {what}")
            } else {
                format!("  {name:<name_width$}  {what:<what_width$}  after {after}")
            };
            let _ = writeln!(s, "{}", line.trim_end());
        }
    }
    render_bases(&mut s, bases);
    s
}

/// Width of a column of `cells` (characters, not bytes).
fn column_width<'a>(cells: impl Iterator<Item = &'a str>) -> usize {
    cells.map(|c| c.chars().count()).max().unwrap_or(0)
}

/// `check`'s middle column: the tags an image gets, or what it is.
fn what_it_is(img: &config::ImageConfig) -> String {
    match &img.source {
        config::Source::Prebuilt { image } => format!("prebuilt {image}"),
        config::Source::Build { .. } => img.tags.join(", "),
    }
}

/// `check`'s last column: the images image `i` waits for.
fn after(config: &Config, plan: &config::Plan, i: usize) -> String {
    let deps: Vec<String> = plan.deps[i]
        .iter()
        .map(|d| {
            let name = &config.images[d.on].name;
            if d.inferred {
                format!("{name} (from Dockerfile)")
            } else {
                name.clone()
            }
        })
        .collect();
    deps.join(", ")
}

/// The base images kiln does not build: whether the daemon's copy came
/// from a registry or exists only on the daemon, and who uses each.
fn render_bases(s: &mut String, bases: &Result<Vec<BaseImage>, String>) {
    let bases = match bases {
        Ok(b) if b.is_empty() => return,
        Ok(b) => b,
        Err(why) => {
            let _ = writeln!(s, "base images: not checked ({why})");
            return;
        }
    };
    let _ = writeln!(
        s,
        "base images (without --pull, builds use the daemon's copy):"
    );
    let width = column_width(bases.iter().map(|b| b.reference.as_str()));
    for b in bases {
        let state = match &b.state {
            LocalBase::FromRegistry { digest } => {
                format!("from its registry ({})", short_digest(digest))
            }
            LocalBase::OnlyLocal => "only local: never pulled from or pushed to a registry".into(),
            LocalBase::Absent => "not on the daemon: the first build pulls it".into(),
            LocalBase::Unknown(why) => format!("unknown: {why}"),
        };
        let _ = writeln!(
            s,
            "  {:<width$}  {state} (used by {})",
            b.reference,
            b.used_by.join(", ")
        );
    }
}

/// `kiln ls`'s table: every image of the config, its last run or `never`.
pub fn render_ls(config: &Config, latest: &HashMap<String, RunRow>, now_ms: i64) -> String {
    let width = config
        .images
        .iter()
        .map(|i| i.name.len())
        .max()
        .unwrap_or(5)
        .max(5);
    let mut s = format!(
        "{:<width$}  {:<11}  {:>9}  {:>9}  {:<12}  TAGS\n",
        "IMAGE", "RESULT", "DURATION", "AGE", "IMAGE ID"
    );
    let short = |d: i64| format_duration(Duration::from_millis(d.max(0) as u64));
    for img in &config.images {
        let _ = match latest.get(&img.name) {
            Some(r) => writeln!(
                s,
                "{:<width$}  {:<11}  {:>9}  {:>9}  {:<12}  {}{}",
                img.name,
                r.result,
                r.ended_ms
                    .map(|e| short(e - r.started_ms))
                    .unwrap_or_else(|| "-".into()),
                // A run is as old as its end (a running one, its start).
                format!("{} ago", short(now_ms - r.ended_ms.unwrap_or(r.started_ms))),
                r.image_id.as_deref().map(short_id).unwrap_or("-"),
                run_tags(r),
                r.log_note
                    .as_deref()
                    .map(|n| format!("  ({n})"))
                    .unwrap_or_default(),
            ),
            None => writeln!(
                s,
                "{:<width$}  {:<11}  {:>9}  {:>9}  {:<12}  -",
                img.name, "never", "-", "-", "-"
            ),
        };
    }
    s
}

/// The tags a run built, those pushed after it marked: `web:dev (pushed)`.
fn run_tags(r: &RunRow) -> String {
    if r.tags.is_empty() {
        return "-".into();
    }
    let tags: Vec<String> = r
        .tags
        .iter()
        .map(|t| {
            if r.pushed.contains(t) {
                format!("{t} (pushed)")
            } else {
                t.clone()
            }
        })
        .collect();
    tags.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::BuilderKind;

    fn text(kind: EventKind) -> Option<String> {
        plain_text(&Event::for_image("web", kind))
    }

    #[test]
    fn events_read_as_lines() {
        assert_eq!(
            text(EventKind::Started {
                builder: BuilderKind::Buildkit
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
                duration_ms: 3_000
            })
            .unwrap(),
            "1 succeeded, 2 failed (b, c), 0 skipped in 3s"
        );
    }

    fn stack(yaml: &str, images: &[&str]) -> (tempfile::TempDir, Config) {
        let dir = tempfile::tempdir().unwrap();
        for name in images {
            std::fs::create_dir_all(dir.path().join(name)).unwrap();
            std::fs::write(dir.path().join(name).join("Dockerfile"), "FROM scratch\n").unwrap();
        }
        let env = |_: &str| None;
        let loaded = crate::config::load_str(&dir.path().join("kiln.yaml"), yaml, &env).unwrap();
        (dir, loaded.config)
    }

    #[test]
    fn check_aligns_its_after_column_and_says_which_bases_are_only_local() {
        let (_dir, config) = stack(
            "images:\n  - {name: base, tags: [r/base:1]}\n  - {name: web, depends_on: [base], tags: [r/web:latest, r/web:2]}\n  - {name: api, depends_on: [base]}\n",
            &["base", "web", "api"],
        );
        let bases = Ok(vec![
            BaseImage {
                reference: "localhost:5001/debian:12".into(),
                used_by: vec!["base".into()],
                state: LocalBase::FromRegistry {
                    digest: format!("sha256:{}", "ab".repeat(32)),
                },
            },
            BaseImage {
                reference: "tools:dev".into(),
                used_by: vec!["web".into(), "api".into()],
                state: LocalBase::OnlyLocal,
            },
        ]);
        let text = render_plan(&config, &bases);
        let lines: Vec<&str> = text.lines().skip(1).collect();
        assert_eq!(
            lines,
            vec![
                "wave 1:",
                "  base  r/base:1",
                "wave 2:",
                "  web   r/web:latest, r/web:2  after base",
                "  api   api:latest             after base",
                "base images (without --pull, builds use the daemon's copy):",
                "  localhost:5001/debian:12  from its registry (sha256:abababababab…) (used by base)",
                "  tools:dev                 only local: never pulled from or pushed to a registry (used by web, api)",
            ]
        );
        let unchecked = render_plan(&config, &Err("cannot reach the daemon".into()));
        assert!(unchecked.ends_with("base images: not checked (cannot reach the daemon)\n"));
    }

    #[test]
    fn ls_counts_age_from_the_end_of_a_run() {
        let (_dir, config) = stack("images:\n  - {name: a}\n  - {name: b}\n", &["a", "b"]);
        let row = |image: &str, started_ms, ended_ms| RunRow {
            id: 1,
            image: image.into(),
            started_ms,
            ended_ms,
            result: "built".into(),
            image_id: Some("sha256:0123456789abcdef".into()),
            log_path: None,
            tags: vec![format!("r/{image}:dev"), format!("r/{image}:1")],
            pushed: vec![format!("r/{image}:dev")],
            log_note: None,
        };
        // Both started at 0; a ended at 45 s, b at 105 s; now is 150 s.
        let latest = HashMap::from([
            ("a".to_string(), row("a", 0, Some(45_000))),
            ("b".to_string(), row("b", 0, Some(105_000))),
        ]);
        let text = render_ls(&config, &latest, 150_000);
        let age = |image: &str| {
            let line = text.lines().find(|l| l.starts_with(image)).unwrap();
            line.split("  ")
                .find(|c| c.ends_with(" ago"))
                .unwrap()
                .trim()
                .to_string()
        };
        assert_eq!(age("a"), "1m45s ago");
        assert_eq!(age("b"), "45s ago");
        // The tags each run built, those pushed after it marked.
        assert!(
            text.contains("0123456789ab  r/a:dev (pushed), r/a:1\n"),
            "{text}"
        );
    }
}
