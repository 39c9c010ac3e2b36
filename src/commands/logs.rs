//! `kiln logs IMAGE [--run N]`: print a saved build log, each line
//! sanitised on the way out (a log may come from an older kiln, or have
//! been edited).

use crate::config::Config;
use crate::exit;
use crate::history;
use crate::output;

pub(crate) fn run(config: &Config, image: &str, run: u32) -> i32 {
    if config.index_of(image).is_none() {
        if let Err(e) = config.select(&[image.to_string()]) {
            output::error(e);
        }
        return exit::USAGE;
    }
    let history = match super::open_history(config) {
        Ok(h) => h,
        Err(code) => return code,
    };
    let runs = history.runs(image).unwrap_or_default();
    let Some(row) = runs.get(run as usize - 1) else {
        output::error(format_args!(
            "{image} has {} recorded run{}; nothing at --run {run} (build it with `kiln build {image}`)",
            runs.len(),
            if runs.len() == 1 { "" } else { "s" }
        ));
        return exit::FAILED;
    };
    let Some(path) = &row.log_path else {
        output::error(format_args!("run {run} of {image} has no saved log"));
        return exit::FAILED;
    };
    let printed = std::fs::File::open(path).and_then(|f| {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        let last = output::copy_lines(std::io::BufReader::new(f), &mut out)?;
        // Cut short by a full disk: the log's last line says so, unless
        // even that could not be written.
        if row.log_note.is_some() && last.as_deref() != Some(history::INCOMPLETE_MARKER) {
            output::write_line(&mut out, history::INCOMPLETE_MARKER)?;
        }
        std::io::Write::flush(&mut out)
    });
    match printed {
        Ok(()) => exit::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => exit::SUCCESS,
        Err(e) => {
            output::error(format_args!("cannot print {}: {e}", path.display()));
            exit::FAILED
        }
    }
}
