//! One file per subcommand; `cli` parses the command line and calls one of
//! these. What they share: reaching the daemon, the run options, opening
//! the history for reading.

pub(crate) mod build;
pub(crate) mod check;
pub(crate) mod completions;
mod dry_run;
mod engines;
pub(crate) mod init;
pub(crate) mod logs;
pub(crate) mod ls;
pub(crate) mod man;
pub(crate) mod push;
pub(crate) mod runs;
pub(crate) mod schema;
pub(crate) mod ui;
pub(crate) mod watch;

use crate::app::RunOptions;
use crate::cli::args::RunArgs;
use crate::config::Config;
use crate::engine::build::BuildFlags;
use crate::engine::connect::{self, ProcessEnv};
use crate::engine::identify::{self, EngineInfo};
use crate::exit;
use crate::history::{self, History};
use crate::output;

/// The model's and the engine's share of the run options.
fn run_options(args: &RunArgs) -> (RunOptions, BuildFlags) {
    (
        RunOptions {
            jobs: args.jobs.map(usize::from),
            push: args.push,
            push_images: None,
            stall_after: args.stall_after,
            timeout: args.timeout,
            force: args.force,
            no_cache: args.no_cache,
            pull: args.pull,
            engines: Vec::new(),
        },
        BuildFlags {
            no_cache: args.no_cache,
            pull: args.pull,
            buildkit_available: false,
            buildah: false,
            stack_tags: Vec::new(),
            endpoint: None,
        },
    )
}

/// The daemon, or the exit code after saying why it cannot be reached.
async fn connect_or_exit() -> Result<(bollard::Docker, connect::Endpoint), i32> {
    connect::connect(&ProcessEnv).await.map_err(|e| {
        output::error(&e);
        exit::DAEMON
    })
}

/// What a run that builds needs from the daemon.
struct Connected {
    docker: bollard::Docker,
    endpoint: connect::Endpoint,
    /// What the daemon is (None: `/version` did not answer).
    engine: Option<EngineInfo>,
    /// The run options, with what the daemon can do (BuildKit, its
    /// endpoint) filled in.
    run: (RunOptions, BuildFlags),
    /// Several engines: each of the stack's (None: out of the run).
    engines: Vec<Option<crate::engine::multi::Link>>,
}

/// Reach the daemon for a run, or the exit code after saying why it
/// cannot be reached.
async fn connect_for_run(args: &RunArgs, config: &Config) -> Result<Connected, i32> {
    if !config.engines.is_empty() {
        return engines::connect(args, config).await;
    }
    if let Some(name) = args.engine.first() {
        output::error(format_args!(
            "--engine {name}: the stack has no 'engines:' list"
        ));
        return Err(exit::USAGE);
    }
    let (docker, endpoint) = connect_or_exit().await?;
    let (opts, mut flags) = run_options(args);
    let engine = identify::identify(&docker).await;
    flags.buildkit_available = engine.as_ref().is_some_and(|e| e.buildkit);
    flags.buildah = engine.as_ref().is_some_and(|e| e.builds_with_buildah());
    flags.endpoint = Some(endpoint.clone());
    Ok(Connected {
        docker,
        endpoint,
        engine,
        run: (opts, flags),
        engines: Vec::new(),
    })
}

/// What a command that builds starts from: the images named (with what
/// they depend on), the daemon reached, and `--push` narrowed to the images
/// named; or the exit code after saying what is wrong.
async fn prepare_run(
    config: &Config,
    images: &[String],
    args: &RunArgs,
) -> Result<(Vec<usize>, Connected), i32> {
    let selection = select_or_exit(config, images)?;
    let mut connected = connect_for_run(args, config).await?;
    push_named(&mut connected.run, images);
    Ok((selection, connected))
}

/// `--push` is for the images named on the command line, not the
/// dependencies built for them (as `kiln push`); for every image when none
/// is named.
fn push_named(run: &mut (RunOptions, BuildFlags), names: &[String]) {
    run.0.push_images = (!names.is_empty()).then(|| names.to_vec());
}

/// The images named on the command line (with what they depend on), or
/// the exit code after saying which name is wrong.
fn select_or_exit(config: &Config, names: &[String]) -> Result<Vec<usize>, i32> {
    config.select(names).map_err(|e| {
        output::error(e);
        exit::USAGE
    })
}

/// The stack's history for reading (`ls`, `logs`), opened read-only, or
/// the exit code after saying why it cannot be opened.
fn open_history(config: &Config) -> Result<History, i32> {
    read_history(config).map_err(|e| {
        output::error(&e);
        exit::FAILED
    })
}

/// The stack's history, opened read-only, or why it cannot be.
fn read_history(config: &Config) -> Result<History, history::HistoryError> {
    history::data_dir()
        .ok_or(history::HistoryError::NoDataDir)
        .and_then(|dir| History::open_read_only(&dir, &config.path))
}

/// The history, read-only, for a command about one image of the stack
/// (`kiln logs`, `kiln history`): an image the stack does not have is a
/// usage error, said as selecting it on the command line would say it.
fn open_image_history(config: &Config, image: &str) -> Result<History, i32> {
    if config.index_of(image).is_none() {
        if let Err(e) = config.select(&[image.to_string()]) {
            output::error(e);
        }
        return Err(exit::USAGE);
    }
    open_history(config)
}

/// The exit code after printing a command's result: a reader that went
/// away (`| head`) is no failure; any other write error is.
fn printed(result: std::io::Result<()>) -> i32 {
    match result {
        Ok(()) => exit::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => exit::SUCCESS,
        Err(e) => {
            output::error(format_args!("cannot print: {e}"));
            exit::FAILED
        }
    }
}
