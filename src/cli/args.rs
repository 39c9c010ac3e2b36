//! The command line's shape (clap): subcommands, their options, help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config;
use crate::headless::{Format, OnLostOutput};

#[derive(Debug, Parser)]
#[command(
    name = "kiln",
    // The version and, built from a git checkout, the commit (build.rs).
    version = env!("KILN_VERSION"),
    about = "Build a stack of Docker images and watch every build, step and push live",
    after_help = "With no subcommand, kiln opens the dashboard.\n\
                  Exit codes: 0 all succeeded or unchanged, 1 a build/push failed, timed out or was cancelled,\n\
                  2 invalid config or usage, 3 Docker daemon unreachable, 130 interrupted (Ctrl-C),\n\
                  143 terminated (SIGTERM), 129 hung up (SIGHUP)."
)]
pub struct Cli {
    /// The stack file (default: $KILN_FILE, else kiln.yaml/kiln.yml here or in a parent
    /// directory, else compose.yaml & co.); repeat to merge compose files
    #[arg(short = 'f', long = "file", global = true, value_name = "PATH")]
    pub file: Vec<PathBuf>,

    /// Compose project name (default: COMPOSE_PROJECT_NAME, else `name:`, else the directory)
    #[arg(short = 'p', long = "project-name", global = true, value_name = "NAME")]
    pub project_name: Option<String>,

    /// Enable a compose profile (repeatable; default: COMPOSE_PROFILES)
    #[arg(long = "profile", global = true, value_name = "NAME")]
    pub profile: Vec<String>,

    /// Read compose variables from this file instead of .env (repeatable)
    #[arg(long = "env-file", global = true, value_name = "PATH")]
    pub env_file: Vec<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Cmd>,

    #[command(flatten)]
    pub ui: UiArgs,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Open the dashboard (the default)
    Ui(UiArgs),
    /// Build images headless, printing progress as text or JSON lines
    Build(BuildArgs),
    /// Build, then rebuild what changes as files are saved (headless)
    Watch(WatchArgs),
    /// Validate the stack (kiln.yaml or compose files) and print the build plan
    Check,
    /// List the images with their last result, duration and age
    Ls {
        /// Print only the image names, one per line (for scripts and shell
        /// completion; the history is not read)
        #[arg(long)]
        names: bool,
        /// Print one JSON object per image (README's JSON section)
        #[arg(long, conflicts_with = "names")]
        json: bool,
    },
    /// List an image's recorded runs, newest first: result, end, duration,
    /// image id, and why it was built (or why it failed)
    History {
        /// The image
        image: String,
        /// Print one JSON object per run (README's JSON section)
        #[arg(long)]
        json: bool,
    },
    /// Print an image's saved build log (the latest run by default)
    Logs {
        /// The image
        image: String,
        /// Which run: 1 is the latest, 2 the one before, ...
        #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        run: u32,
        /// Follow a running build's log to the build's end (exit 0; Ctrl-C: 130).
        /// After `logs`, `-f` means this (as in `tail -f`): give the stack file
        /// as --file, or before `logs`
        #[arg(long)]
        follow: bool,
    },
    /// Push images' tags as they are now (no build), with per-layer progress
    Push(PushArgs),
    /// Write a kiln.yaml for the Dockerfiles in this directory and below
    Init(InitArgs),
    /// Print a shell completion script (e.g. `source <(kiln completions bash)`)
    Completions {
        /// The shell
        shell: clap_complete::Shell,
    },
    /// Print kiln's manual page, kiln(1), as roff (e.g. `kiln man | man -l -`)
    Man,
    /// Print the JSON Schema of kiln.yaml, for editors and CI (e.g. `kiln
    /// schema > kiln.schema.json`)
    Schema,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The directory to look in and write kiln.yaml to (default: the
    /// current directory)
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Print the kiln.yaml instead of writing it (what was found and the
    /// plan go to stderr)
    #[arg(long)]
    pub stdout: bool,
    /// Write a kiln.yaml even though a compose file is here (kiln reads
    /// compose files as they are; a kiln.yaml then takes precedence)
    #[arg(long)]
    pub ignore_compose: bool,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// Images to push (only these, not their dependencies); default: every
    /// image that kiln builds
    #[arg(value_name = "IMAGE")]
    pub images: Vec<String>,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// How headless commands print: `--plain` (the default, also on a
/// terminal: the live dashboard is `kiln`) or `--json`.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Print `name | text` lines (the default)
    #[arg(long, conflicts_with = "json")]
    pub plain: bool,
    /// Print one JSON event per line
    #[arg(long)]
    pub json: bool,
    /// When the output is closed (`| head`), build on instead of cancelling
    #[arg(long)]
    pub keep_going_without_output: bool,
}

impl OutputArgs {
    pub fn format(&self) -> Format {
        if self.json {
            Format::Json
        } else {
            Format::Plain
        }
    }

    /// What a closed output does to the run.
    pub fn on_lost_output(&self) -> OnLostOutput {
        if self.keep_going_without_output {
            OnLostOutput::KeepGoing
        } else {
            OnLostOutput::Stop
        }
    }
}

#[derive(Debug, Args, Default)]
pub struct UiArgs {
    /// Start building everything as soon as the dashboard opens
    #[arg(long)]
    pub build: bool,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Images to build (with everything they depend on); default: all
    #[arg(value_name = "IMAGE")]
    pub images: Vec<String>,
    /// Say what the build would do with each image and why (build, skip,
    /// fail; what --push would push), building, pulling, pushing and
    /// recording nothing; exit 0
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Images to watch (with everything they depend on); default: all
    #[arg(value_name = "IMAGE")]
    pub images: Vec<String>,
    /// A change during a build of the same image cancels it and starts
    /// again (default: one more build after the current one)
    #[arg(long)]
    pub restart: bool,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum BuilderArg {
    Auto,
    Buildkit,
    Legacy,
}

impl BuilderArg {
    pub fn choice(self) -> config::BuilderChoice {
        match self {
            BuilderArg::Auto => config::BuilderChoice::Auto,
            BuilderArg::Buildkit => config::BuilderChoice::BuildKit,
            BuilderArg::Legacy => config::BuilderChoice::Legacy,
        }
    }
}

/// Options shared by `build`, `watch` and the dashboard.
#[derive(Debug, Args, Default)]
pub struct RunArgs {
    /// Push each image after it builds (the tags its push_tags choose); with
    /// IMAGEs named, only those, not the dependencies built for them
    #[arg(long)]
    pub push: bool,
    /// Build without the daemon's layer cache
    #[arg(long)]
    pub no_cache: bool,
    /// Always try to pull newer base images
    #[arg(long)]
    pub pull: bool,
    /// How many images to build at once (default: defaults.jobs, else 4;
    /// with several engines: a cap across them, each engine bounded by its
    /// own jobs)
    #[arg(short = 'j', long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
    /// Which builder to use (default: each image's `builder`, else auto)
    #[arg(long, value_enum)]
    pub builder: Option<BuilderArg>,
    /// Flag a build as stalled after this long without output (e.g. 90s, 2m)
    #[arg(long, value_name = "DUR", value_parser = parse_duration_arg)]
    pub stall_after: Option<std::time::Duration>,
    /// Cancel a build that runs longer than this (e.g. 30m)
    #[arg(long, value_name = "DUR", value_parser = parse_duration_arg)]
    pub timeout: Option<std::time::Duration>,
    /// Rebuild even images that have not changed
    #[arg(long)]
    pub force: bool,
    /// Override a config field for this run: IMAGE.FIELD=VALUE (repeatable),
    /// e.g. --set web.args.VERSION=2 or --set base.tags=a:1,a:latest
    #[arg(long = "set", value_name = "IMAGE.FIELD=VALUE")]
    pub set: Vec<String>,
    /// Build only on this engine of the stack's `engines:` (repeatable)
    #[arg(long = "engine", value_name = "NAME")]
    pub engine: Vec<String>,
}

fn parse_duration_arg(s: &str) -> Result<std::time::Duration, String> {
    config::parse_duration(s)
}
