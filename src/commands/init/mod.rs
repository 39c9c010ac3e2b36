//! `kiln init [DIR]`: a kiln.yaml for a tree of Dockerfiles. It finds them
//! (`scan.rs`), proposes an image for each (`propose.rs`: names, tags that
//! make the dependencies resolve), writes the file (`yaml.rs`), checks it
//! with the loader every command uses, and prints what it found and the
//! plan as `kiln check` does. It never overwrites a kiln.yaml, and where a
//! compose file is already there (which kiln reads as it is) it writes
//! nothing unless told `--ignore-compose`. `--stdout` prints the file
//! instead (what was found and the plan then go to stderr).

mod propose;
mod scan;
mod yaml;

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::cli::args::InitArgs;
use crate::config::{self, Config};
use crate::exit;
use crate::format::render_plan;
use crate::output;

pub(crate) async fn run(args: &InitArgs) -> i32 {
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from("."));
    if !dir.is_dir() {
        output::error(format_args!("{}: no such directory", dir.display()));
        return exit::USAGE;
    }
    let target = shown(&dir).join("kiln.yaml");
    if !args.stdout {
        if let Some(code) = refuse_to_write(&dir, args.ignore_compose) {
            return code;
        }
    }
    let scan = scan::scan(&dir);
    for s in &scan.skipped {
        output::warning(format_args!("skipped {s}"));
    }
    if scan.found.is_empty() {
        output::error(format_args!(
            "no Dockerfile (Dockerfile, Dockerfile.*, *.Dockerfile) in {} or below; \
             dot-directories and what .gitignore or a .dockerignore excludes are not searched",
            dir.display()
        ));
        return exit::USAGE;
    }
    let images = propose::propose(&root_name(&dir), &scan.found);
    let text = yaml::render(&images, &scan.found);
    let config = match check_text(&target, &text) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let report = found_report(&images, &scan.found);
    if args.stdout {
        output::stderr(&format!(
            "{report}its first line names {0}: `kiln schema > {0}` writes it",
            super::schema::FILE_NAME
        ));
        if let Err(e) = output::stdout(&text) {
            return super::printed(Err(e));
        }
    } else {
        if let Err(code) = write_new(&target, &text) {
            return code;
        }
        let schema = write_schema(&dir);
        if let Err(e) = output::stdout(&format!("{report}wrote {}{schema}", target.display())) {
            return super::printed(Err(e));
        }
    }
    let plan = render_plan(&config, &super::check::base_images(&config).await);
    if args.stdout {
        output::stderr(&plan);
        exit::SUCCESS
    } else {
        super::printed(output::stdout(&plan))
    }
}

/// Why kiln.yaml must not be written in `dir`, said, as an exit code.
fn refuse_to_write(dir: &Path, ignore_compose: bool) -> Option<i32> {
    if let Some(existing) = first_existing(dir, &config::FILE_NAMES) {
        output::error(format_args!(
            "{} already exists; kiln init never overwrites it (`kiln init --stdout` prints what it would write)",
            shown(dir).join(existing).display()
        ));
        return Some(exit::USAGE);
    }
    if ignore_compose {
        return None;
    }
    let compose = first_existing(dir, &config::COMPOSE_FILE_NAMES)?;
    output::error(format_args!(
        "{} is here, and kiln already reads it as it is: try `kiln check`. Nothing was written; \
         `kiln init --ignore-compose` writes a kiln.yaml from the Dockerfiles instead \
         (kiln then reads the kiln.yaml, not the compose file)",
        shown(dir).join(compose).display()
    ));
    Some(exit::USAGE)
}

fn first_existing<'a>(dir: &Path, names: &[&'a str]) -> Option<&'a str> {
    names.iter().copied().find(|n| dir.join(n).is_file())
}

/// `dir` as the user wrote it, without a leading `./` for the current
/// directory (`kiln.yaml`, `sub/kiln.yaml`).
fn shown(dir: &Path) -> PathBuf {
    if dir == Path::new(".") {
        PathBuf::new()
    } else {
        dir.to_path_buf()
    }
}

/// The name of the directory itself (for a Dockerfile at its top).
fn root_name(dir: &Path) -> String {
    std::fs::canonicalize(dir)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default()
}

/// The proposed file, loaded as every command loads a kiln.yaml: what
/// init writes must be what kiln accepts.
fn check_text(target: &Path, text: &str) -> Result<Config, i32> {
    let env = |name: &str| std::env::var(name).ok();
    match config::load_str(target, text, &env) {
        Ok(loaded) => Ok(loaded.config),
        Err(errors) => {
            output::error("the kiln.yaml kiln init made does not load; nothing was written:");
            output::stderr(&errors.to_string());
            Err(exit::FAILED)
        }
    }
}

/// Creates `target` with `text`, failing if it exists (also when another
/// process made it since the check).
fn write_new(target: &Path, text: &str) -> Result<(), i32> {
    write_new_quietly(target, text).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            output::error(format_args!(
                "{} already exists; kiln init never overwrites it",
                target.display()
            ));
            exit::USAGE
        } else {
            output::error(format_args!("cannot write {}: {e}", target.display()));
            exit::FAILED
        }
    })
}

/// Writes kiln.schema.json beside the new kiln.yaml (the file its first
/// line names) unless one is there; says what it did, as the end of the
/// `wrote kiln.yaml` line. Not being able to write it fails nothing.
fn write_schema(dir: &Path) -> String {
    let name = super::schema::FILE_NAME;
    let path = shown(dir).join(name);
    if dir.join(name).exists() {
        return format!(" (kept the {} that is there)", path.display());
    }
    match write_new_quietly(&dir.join(name), &super::schema::text()) {
        Ok(()) => format!(" and {} (its JSON Schema, for editors)", path.display()),
        Err(e) => {
            output::warning(format_args!(
                "cannot write {}: {e}; `kiln schema > {name}` writes it",
                path.display()
            ));
            String::new()
        }
    }
}

/// Creates `path` with `text`, failing if it exists.
fn write_new_quietly(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
}

/// `found N Dockerfiles:` and a line per image: its Dockerfile, its name
/// and tags.
fn found_report(images: &[propose::Proposed], found: &[propose::Found]) -> String {
    let mut s = format!(
        "found {} Dockerfile{}:\n",
        found.len(),
        if found.len() == 1 { "" } else { "s" }
    );
    let paths: Vec<String> = images.iter().map(|i| found[i.found].path()).collect();
    let width = paths.iter().map(|p| p.chars().count()).max().unwrap_or(0);
    let name_width = images.iter().map(|i| i.name.len()).max().unwrap_or(0);
    for (img, path) in images.iter().zip(&paths) {
        let _ = writeln!(
            s,
            "  {path:<width$}  → {:<name_width$}  {}",
            img.name,
            img.tags.join(", ")
        );
    }
    s
}
