//! Text for people that is not an event's (those are `app::words`'s):
//! `kiln check`'s plan, `kiln ls`'s table, the dashboard's quit summary.
//! Pure functions from data to strings (no I/O, no clock: `now` is passed
//! in); sizes, durations and ids read as `human` says.

use std::collections::HashMap;
use std::fmt::Write;
use std::time::Duration;

use crate::app::session::SessionSummary;
use crate::config::{self, Config};
use crate::history::RunRow;
use crate::human::{format_duration, plural, short_digest, short_id};
use crate::protocol::{BaseImage, LocalBase};

/// The dashboard's quit summary: every run of the session by how it
/// ended, the images that went wrong named: `5 built, 3 unchanged, 1
/// failed (web), 1 timed out (api) in 3m12s`.
pub fn session_line(s: &SessionSummary) -> String {
    let named = |n: &[String], what: &str| match n.len() {
        0 => None,
        _ => Some(format!("{} {what} ({})", n.len(), each_once(n))),
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

/// Names as they first came, each once, with how many times when more
/// than once: `broken ×4, api`.
fn each_once(names: &[String]) -> String {
    let mut counted: Vec<(&str, usize)> = Vec::new();
    for name in names {
        match counted.iter_mut().find(|(n, _)| n == name) {
            Some((_, k)) => *k += 1,
            None => counted.push((name, 1)),
        }
    }
    counted
        .iter()
        .map(|(n, k)| {
            if *k > 1 {
                format!("{n} ×{k}")
            } else {
                n.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
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
            for asks in client_side(&config.images[i]) {
                let _ = writeln!(s, "  {:name_width$}  {asks}", "");
            }
        }
    }
    render_bases(&mut s, bases);
    s
}

/// What an image's build asks of kiln beside its context: its secrets' and
/// SSH agents' ids and where each comes from (a file's or a variable's
/// name, an agent's socket, how many keys), never a value.
fn client_side(img: &config::ImageConfig) -> Vec<String> {
    let secrets = img.secrets.iter().map(|s| (&s.id, s.source.describe()));
    let ssh = img.ssh.iter().map(|s| (&s.id, s.source.describe()));
    [
        ("secrets", secrets.collect::<Vec<_>>()),
        ("ssh", ssh.collect()),
    ]
    .into_iter()
    .filter(|(_, list)| !list.is_empty())
    .map(|(what, list)| {
        let list: Vec<String> = list
            .iter()
            .map(|(id, from)| format!("{id} ({from})"))
            .collect();
        format!("{what}: {}", list.join(", "))
    })
    .collect()
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
    // Several engines: where each image was built, after its result.
    let several = !config.engines.is_empty();
    let ewidth = config
        .engines
        .iter()
        .map(|e| e.name.len())
        .max()
        .unwrap_or(0)
        .max(6);
    let engine = |e: Option<&str>| match several {
        true => format!("{:<ewidth$}  ", e.unwrap_or("-")),
        false => String::new(),
    };
    let mut s = format!(
        "{:<width$}  {:<11}  {}{:>9}  {:>9}  {:<12}  TAGS\n",
        "IMAGE",
        "RESULT",
        engine(Some("ENGINE")),
        "DURATION",
        "AGE",
        "IMAGE ID"
    );
    let short = |d: i64| format_duration(Duration::from_millis(d.max(0) as u64));
    for img in &config.images {
        let _ = match latest.get(&img.name) {
            Some(r) => writeln!(
                s,
                "{:<width$}  {:<11}  {}{:>9}  {:>9}  {:<12}  {}{}",
                img.name,
                r.result,
                engine(r.engine.as_deref()),
                r.ended_ms
                    .map(|e| short(e - r.started_ms))
                    .unwrap_or_else(|| "-".into()),
                // A run is as old as its end (a running one, its start).
                format!("{} ago", short(now_ms - r.ended_ms.unwrap_or(r.started_ms))),
                r.image_id.as_deref().map(short_id).unwrap_or("-"),
                run_tags(r),
                [r.log_note.clone(), run_failure(r)]
                    .into_iter()
                    .flatten()
                    .map(|n| format!("  ({n})"))
                    .collect::<String>(),
            ),
            None => writeln!(
                s,
                "{:<width$}  {:<11}  {}{:>9}  {:>9}  {:<12}  -",
                img.name,
                "never",
                engine(None),
                "-",
                "-",
                "-"
            ),
        };
    }
    s
}

/// A failed run's cause in a few words (`exit 7 at [2/2] RUN make`).
pub fn run_failure(run: &RunRow) -> Option<String> {
    let error = run.error.as_deref().filter(|_| run.result == "failed")?;
    Some(crate::app::image::failure_reason(
        crate::protocol::Phase::Build,
        error,
        run.last_step.as_deref(),
    ))
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
            pid: None,
            error: None,
            last_step: None,
            reason: None,
            engine: None,
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
