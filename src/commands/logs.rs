//! `kiln logs IMAGE [--run N]`: print a saved build log.

use crate::config::Config;
use crate::exit;

pub(crate) fn run(config: &Config, image: &str, run: u32) -> i32 {
    if config.index_of(image).is_none() {
        if let Err(e) = config.select(&[image.to_string()]) {
            eprintln!("kiln: error: {e}");
        }
        return exit::USAGE;
    }
    let history = match super::open_history(config) {
        Ok(h) => h,
        Err(code) => return code,
    };
    let runs = history.runs(image).unwrap_or_default();
    let Some(row) = runs.get(run as usize - 1) else {
        eprintln!(
            "kiln: error: {image} has {} recorded run{}; nothing at --run {run} (build it with `kiln build {image}`)",
            runs.len(),
            if runs.len() == 1 { "" } else { "s" }
        );
        return exit::FAILED;
    };
    let Some(path) = &row.log_path else {
        eprintln!("kiln: error: run {run} of {image} has no saved log");
        return exit::FAILED;
    };
    let printed = std::fs::File::open(path).and_then(|mut f| {
        let mut out = std::io::stdout().lock();
        std::io::copy(&mut f, &mut out)
    });
    match printed {
        Ok(_) => exit::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => exit::SUCCESS,
        Err(e) => {
            eprintln!("kiln: error: cannot print {}: {e}", path.display());
            exit::FAILED
        }
    }
}
