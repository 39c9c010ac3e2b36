//! `kiln history IMAGE [--json]` (this file is `runs`: `history` is the
//! history itself): an image's runs, newest first: result, when it ended,
//! how long it took, its image id, and why it was built (or why it
//! failed). Also the JSON shape of a run that `kiln ls --json` shares.

use serde::Serialize;

use crate::config::Config;
use crate::exit;
use crate::format::run_failure as failure;
use crate::history::RunRow;
use crate::human::{format_duration, short_id};
use crate::output;

/// A recorded run as `--json` prints it (README's JSON section).
#[derive(Debug, Serialize)]
pub(crate) struct RunJson<'a> {
    pub image: &'a str,
    /// `built`, `failed`, `timed_out`, `cancelled`, `running`,
    /// `interrupted`; `never` (ls only: no run recorded).
    pub result: &'a str,
    /// RFC 3339.
    pub started: Option<String>,
    pub ended: Option<String>,
    pub duration_ms: Option<i64>,
    pub image_id: Option<&'a str>,
    pub tags: &'a [String],
    pub pushed: &'a [String],
    /// Why it was built (`rebuilding: …`), when recorded.
    pub reason: Option<&'a str>,
    /// A failed run's cause in a few words (`exit 7 at [2/2] RUN …`).
    pub failure: Option<String>,
    /// The daemon's whole error, for a failed run.
    pub error: Option<&'a str>,
    pub log: Option<String>,
    pub log_note: Option<&'a str>,
}

fn rfc3339(ms: i64) -> Option<String> {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

impl<'a> RunJson<'a> {
    pub(crate) fn of(run: &'a RunRow) -> RunJson<'a> {
        RunJson {
            image: &run.image,
            result: &run.result,
            started: rfc3339(run.started_ms),
            ended: run.ended_ms.and_then(rfc3339),
            duration_ms: run.ended_ms.map(|e| (e - run.started_ms).max(0)),
            image_id: run.image_id.as_deref(),
            tags: &run.tags,
            pushed: &run.pushed,
            reason: run.reason.as_deref(),
            failure: failure(run),
            error: run.error.as_deref(),
            log: run.log_path.as_ref().map(|p| p.display().to_string()),
            log_note: run.log_note.as_deref(),
        }
    }

    /// An image with no run recorded.
    pub(crate) fn never(image: &'a str) -> RunJson<'a> {
        RunJson {
            image,
            result: "never",
            started: None,
            ended: None,
            duration_ms: None,
            image_id: None,
            tags: &[],
            pushed: &[],
            reason: None,
            failure: None,
            error: None,
            log: None,
            log_note: None,
        }
    }
}

/// Print `rows` as JSON lines.
pub(crate) fn print_json<'a>(rows: impl Iterator<Item = RunJson<'a>>) -> i32 {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut rows = rows;
    let printed = rows
        .try_for_each(|row| {
            output::write_json(&mut out, &row)?;
            std::io::Write::write_all(&mut out, b"\n")
        })
        .and_then(|()| std::io::Write::flush(&mut out));
    super::printed(printed)
}

pub(crate) fn run(config: &Config, image: &str, json: bool) -> i32 {
    let history = match super::open_image_history(config, image) {
        Ok(h) => h,
        Err(code) => return code,
    };
    let runs = match history.runs(image) {
        Ok(r) => r,
        Err(e) => {
            output::error(format_args!("cannot read the build history: {e}"));
            return exit::FAILED;
        }
    };
    if json {
        return print_json(runs.iter().map(RunJson::of));
    }
    let now = chrono::Utc::now().timestamp_millis();
    super::printed(output::stdout(&render(&runs, now)))
}

/// The runs as a table, newest first (`RUN` is what `kiln logs --run`
/// takes).
fn render(runs: &[RunRow], now_ms: i64) -> String {
    let short = |d: i64| format_duration(std::time::Duration::from_millis(d.max(0) as u64));
    let mut s = format!(
        "{:>4}  {:<11}  {:>9}  {:>9}  {:<12}  REASON\n",
        "RUN", "RESULT", "ENDED", "DURATION", "IMAGE ID"
    );
    for (n, r) in runs.iter().enumerate() {
        let why = failure(r)
            .or_else(|| r.reason.clone())
            .unwrap_or_else(|| "-".into());
        s.push_str(&format!(
            "{:>4}  {:<11}  {:>9}  {:>9}  {:<12}  {}\n",
            n + 1,
            r.result,
            r.ended_ms
                .map(|e| format!("{} ago", short(now_ms - e)))
                .unwrap_or_else(|| "-".into()),
            r.ended_ms
                .map(|e| short(e - r.started_ms))
                .unwrap_or_else(|| "-".into()),
            r.image_id.as_deref().map(short_id).unwrap_or("-"),
            why
        ));
    }
    if runs.is_empty() {
        s.push_str("(no runs recorded)\n");
    }
    s
}
