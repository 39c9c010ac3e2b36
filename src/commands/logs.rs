//! `kiln logs IMAGE [--run N] [-f]`: print a saved build log, each line
//! sanitised on the way out (a log may come from an older kiln, or have
//! been edited). A running build's log holds what it has printed so far;
//! `-f` follows it to the build's end.

use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use crate::config::Config;
use crate::exit;
use crate::history::{self, History, RunRow};
use crate::output;

/// How often `-f` looks for more of the log, and whether the run ended.
const FOLLOW_EVERY: Duration = Duration::from_millis(200);

pub(crate) async fn run(config: &Config, image: &str, run: u32, follow: bool) -> i32 {
    let history = match super::open_image_history(config, image) {
        Ok(h) => h,
        Err(code) => return code,
    };
    let runs = history.runs(image).unwrap_or_default();
    let Some(row) = runs.get(run as usize - 1) else {
        output::error(no_such_run(image, runs.len(), run));
        return exit::FAILED;
    };
    let Some(path) = &row.log_path else {
        let why = row.log_note.as_deref().unwrap_or("none was saved");
        output::error(format_args!("run {run} of {image} has no saved log: {why}"));
        return exit::FAILED;
    };
    let printed = match follow && row.result == "running" {
        true => follow_log(&history, row, path).await,
        false => print_log(row, path).map(|()| exit::SUCCESS),
    };
    match printed {
        Ok(code) => code,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => exit::SUCCESS,
        Err(e) => {
            output::error(format_args!("cannot print {}: {e}", path.display()));
            exit::FAILED
        }
    }
}

/// The whole log, as it is now.
fn print_log(row: &RunRow, path: &Path) -> std::io::Result<()> {
    let f = std::fs::File::open(path)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let last = output::copy_lines(std::io::BufReader::new(f), &mut out)?;
    // Cut short by a full disk: the log's last line says so, unless
    // even that could not be written.
    if row.log_note.is_some() && last.as_deref() != Some(history::INCOMPLETE_MARKER) {
        output::write_line(&mut out, history::INCOMPLETE_MARKER)?;
    }
    out.flush()
}

/// `-f`: the log so far, then each line as it is written, until the run
/// ends (or its kiln is gone): exit 0; Ctrl-C: 130.
async fn follow_log(history: &History, row: &RunRow, path: &Path) -> std::io::Result<i32> {
    // Listening before the first line is printed: a Ctrl-C from then on
    // ends the follow, not the process.
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut file = std::fs::File::open(path)?;
    let mut pending = Vec::new();
    loop {
        // Read whether it has ended first: what it wrote before ending is
        // then all in the file.
        let ended = match history.run_by_id(row.id) {
            Ok(Some(now)) => now.result != "running",
            Ok(None) | Err(_) => true,
        };
        file.read_to_end(&mut pending)?;
        let whole = match ended {
            true => pending.len(),
            false => pending
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |i| i + 1),
        };
        let lines: Vec<u8> = pending.drain(..whole).collect();
        let mut out = std::io::stdout().lock();
        output::copy_lines(lines.as_slice(), &mut out)?;
        out.flush()?;
        drop(out);
        if ended {
            return Ok(exit::SUCCESS);
        }
        tokio::select! {
            _ = tokio::time::sleep(FOLLOW_EVERY) => {}
            _ = interrupt.recv() => return Ok(exit::INTERRUPTED),
        }
    }
}

/// `--run N` past the runs history has: how many there are, and what to
/// do (build it only when it has none).
fn no_such_run(image: &str, runs: usize, run: u32) -> String {
    match runs {
        0 => format!("{image} has no recorded run yet (build it with `kiln build {image}`)"),
        1 => format!("{image} has 1 recorded run; nothing at --run {run} (--run 1 is the only one)"),
        n => format!(
            "{image} has {n} recorded runs; nothing at --run {run} (--run 1 is the latest, --run {n} the oldest)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::no_such_run;

    #[test]
    fn a_run_past_the_last_names_the_runs_there_are() {
        assert_eq!(
            no_such_run("broken", 13, 50),
            "broken has 13 recorded runs; nothing at --run 50 (--run 1 is the latest, --run 13 the oldest)"
        );
        assert!(no_such_run("new", 0, 1).contains("kiln build new"));
        assert!(!no_such_run("one", 1, 5).contains("kiln build"));
    }
}
