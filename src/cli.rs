//! The command line (a contract: DESIGN.md's "Command line"): parse, load the
//! config, reach the daemon, and hand over to a front-end. Errors end here as
//! one line on stderr and DESIGN.md's exit codes.

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::app::RunOptions;
use crate::config::{self, BuilderChoice, Config};
use crate::engine::build::BuildFlags;
use crate::engine::connect::{self, ProcessEnv};
use crate::headless::{self, Format};
use crate::history::{self, History, RunRow};

pub const EXIT_FAILED: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_DAEMON: i32 = 3;

#[derive(Debug, Parser)]
#[command(
    name = "kiln",
    version,
    about = "Build a stack of Docker images and watch every build, step and push live",
    after_help = "With no subcommand, kiln opens the dashboard.\n\
                  Exit codes: 0 all succeeded or unchanged, 1 a build/push failed, timed out or was cancelled,\n\
                  2 invalid config or usage, 3 Docker daemon unreachable, 130 interrupted."
)]
pub struct Cli {
    /// The stack file (default: $KILN_FILE, else kiln.yaml/kiln.yml here or in a parent directory)
    #[arg(short = 'f', long = "file", global = true, value_name = "PATH")]
    pub file: Option<PathBuf>,

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
    /// Validate kiln.yaml and print the build plan
    Check,
    /// List the images with their last result, duration and age
    Ls,
    /// Print an image's saved build log (the latest run by default)
    Logs {
        /// The image
        image: String,
        /// Which run: 1 is the latest, 2 the one before, ...
        #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        run: u32,
    },
    /// Push images' tags as they are now (no build), with per-layer progress
    Push(PushArgs),
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
}

impl OutputArgs {
    pub fn format(&self) -> Format {
        if self.json {
            Format::Json
        } else {
            Format::Plain
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

/// Options shared by `build` and the dashboard.
#[derive(Debug, Args, Default)]
pub struct RunArgs {
    /// Push every tag of each image after it builds
    #[arg(long)]
    pub push: bool,
    /// Build without the daemon's layer cache
    #[arg(long)]
    pub no_cache: bool,
    /// Always try to pull newer base images
    #[arg(long)]
    pub pull: bool,
    /// How many images to build at once (default: defaults.jobs, else 4)
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
}

fn parse_duration_arg(s: &str) -> Result<std::time::Duration, String> {
    config::parse_duration(s)
}

/// Parse the command line and run; returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kiln: error: cannot start the async runtime: {e}");
            return EXIT_FAILED;
        }
    };
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> i32 {
    let config = match load_config(&cli) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match cli.command {
        Some(Cmd::Check) => check(&config),
        Some(Cmd::Ls) => ls(&config),
        Some(Cmd::Logs { image, run }) => logs(&config, &image, run),
        Some(Cmd::Build(args)) => build(config, args).await,
        Some(Cmd::Push(args)) => crate::push_cmd::run(config, args).await,
        Some(Cmd::Ui(args)) => dashboard(config, args).await,
        None => dashboard(config, cli.ui).await,
    }
}

/// Discover, load and override the config; problems are printed here.
fn load_config(cli: &Cli) -> Result<Config, i32> {
    let cwd = std::env::current_dir().map_err(|e| {
        eprintln!("kiln: error: cannot read the current directory: {e}");
        EXIT_USAGE
    })?;
    let kiln_file = std::env::var("KILN_FILE").ok().filter(|v| !v.is_empty());
    let path = config::discover(cli.file.as_deref(), kiln_file.as_deref(), &cwd).map_err(|e| {
        eprintln!("kiln: error: {e}");
        EXIT_USAGE
    })?;
    let env = |name: &str| std::env::var(name).ok();
    let loaded = config::load(&path, &env).map_err(|errors| {
        eprint!("{errors}");
        if !errors.to_string().ends_with('\n') {
            eprintln!();
        }
        EXIT_USAGE
    })?;
    for w in &loaded.warnings {
        eprintln!("warning: {w}");
    }
    let mut config = loaded.config;
    let sets = match &cli.command {
        Some(Cmd::Build(a)) => &a.run.set,
        Some(Cmd::Ui(a)) => &a.run.set,
        _ => &cli.ui.run.set,
    };
    for spec in sets {
        config.apply_override(spec).map_err(|e| {
            eprintln!("kiln: error: --set {spec}: {e}");
            EXIT_USAGE
        })?;
    }
    Ok(config)
}

fn check(config: &Config) -> i32 {
    print!("{}", render_plan(config));
    0
}

/// `kiln check`'s output: the images in waves, with their dependencies.
pub fn render_plan(config: &Config) -> String {
    use std::fmt::Write;
    let plan = config.plan();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{}: {} image{} in {} wave{} (up to {} at once)",
        config.path.display(),
        config.images.len(),
        if config.images.len() == 1 { "" } else { "s" },
        plan.waves.len(),
        if plan.waves.len() == 1 { "" } else { "s" },
        config.jobs
    );
    let width = config
        .images
        .iter()
        .map(|i| i.name.len())
        .max()
        .unwrap_or(0);
    for (w, wave) in plan.waves.iter().enumerate() {
        let _ = writeln!(s, "wave {}:", w + 1);
        for &i in wave {
            let img = &config.images[i];
            let what = match &img.source {
                config::Source::Prebuilt { image } => format!("prebuilt {image}"),
                config::Source::Build { .. } => img.tags.join(", "),
            };
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
            let after = if deps.is_empty() {
                String::new()
            } else {
                format!("  after {}", deps.join(", "))
            };
            let _ = writeln!(s, "  {:<width$}  {what}{after}", img.name);
        }
    }
    s
}

fn open_history(config: &Config) -> Result<History, i32> {
    history::data_dir()
        .ok_or(history::HistoryError::NoDataDir)
        .and_then(|dir| History::open(&dir, &config.path))
        .map_err(|e| {
            eprintln!("kiln: error: {e}");
            EXIT_FAILED
        })
}

fn ls(config: &Config) -> i32 {
    let history = match open_history(config) {
        Ok(h) => h,
        Err(code) => return code,
    };
    let latest = match history.latest_runs() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("kiln: error: cannot read the build history: {e}");
            return EXIT_FAILED;
        }
    };
    print!(
        "{}",
        render_ls(config, &latest, chrono::Utc::now().timestamp_millis())
    );
    0
}

/// `kiln ls`'s table: every image of the config, its last run or `never`.
pub fn render_ls(
    config: &Config,
    latest: &std::collections::HashMap<String, RunRow>,
    now_ms: i64,
) -> String {
    use std::fmt::Write;
    let width = config
        .images
        .iter()
        .map(|i| i.name.len())
        .max()
        .unwrap_or(5)
        .max(5);
    let mut s = format!(
        "{:<width$}  {:<10}  {:>9}  {:>9}  IMAGE ID\n",
        "IMAGE", "RESULT", "DURATION", "AGE"
    );
    let short = |d: i64| config::format_duration(std::time::Duration::from_millis(d.max(0) as u64));
    for img in &config.images {
        let _ = match latest.get(&img.name) {
            Some(r) => writeln!(
                s,
                "{:<width$}  {:<10}  {:>9}  {:>9}  {}",
                img.name,
                r.result,
                r.ended_ms
                    .map(|e| short(e - r.started_ms))
                    .unwrap_or_else(|| "-".into()),
                format!("{} ago", short(now_ms - r.started_ms)),
                r.image_id
                    .as_deref()
                    .map(|i| i
                        .trim_start_matches("sha256:")
                        .chars()
                        .take(12)
                        .collect::<String>())
                    .unwrap_or_else(|| "-".into()),
            ),
            None => writeln!(
                s,
                "{:<width$}  {:<10}  {:>9}  {:>9}  -",
                img.name, "never", "-", "-"
            ),
        };
    }
    s
}

fn logs(config: &Config, image: &str, run: u32) -> i32 {
    if config.index_of(image).is_none() {
        if let Err(e) = config.select(&[image.to_string()]) {
            eprintln!("kiln: error: {e}");
        }
        return EXIT_USAGE;
    }
    let history = match open_history(config) {
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
        return EXIT_FAILED;
    };
    let Some(path) = &row.log_path else {
        eprintln!("kiln: error: run {run} of {image} has no saved log");
        return EXIT_FAILED;
    };
    match std::fs::File::open(path) {
        Ok(mut f) => {
            let mut out = std::io::stdout().lock();
            match std::io::copy(&mut f, &mut out) {
                Ok(_) => 0,
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
                Err(e) => {
                    eprintln!("kiln: error: cannot print {}: {e}", path.display());
                    EXIT_FAILED
                }
            }
        }
        Err(e) => {
            eprintln!("kiln: error: cannot read {}: {e}", path.display());
            EXIT_FAILED
        }
    }
}

fn run_options(args: &RunArgs) -> (RunOptions, BuildFlags) {
    (
        RunOptions {
            jobs: args.jobs.map(usize::from),
            push: args.push,
            stall_after: args.stall_after,
            timeout: args.timeout,
        },
        BuildFlags {
            no_cache: args.no_cache,
            pull: args.pull,
            buildkit_available: false,
            force: args.force,
        },
    )
}

fn apply_builder(config: &mut Config, builder: Option<BuilderArg>) {
    if let Some(b) = builder {
        let choice = match b {
            BuilderArg::Auto => BuilderChoice::Auto,
            BuilderArg::Buildkit => BuilderChoice::BuildKit,
            BuilderArg::Legacy => BuilderChoice::Legacy,
        };
        for img in &mut config.images {
            img.builder = choice;
        }
    }
}

async fn connect_or_exit() -> Result<(bollard::Docker, connect::Endpoint), i32> {
    match connect::connect(&ProcessEnv).await {
        Ok(found) => Ok(found),
        Err(e) => {
            eprintln!("kiln: error: {e}");
            Err(EXIT_DAEMON)
        }
    }
}

async fn build(mut config: Config, args: BuildArgs) -> i32 {
    let selection = match config.select(&args.images) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("kiln: error: {e}");
            return EXIT_USAGE;
        }
    };
    apply_builder(&mut config, args.run.builder);
    let format = args.output.format();
    let (docker, _) = match connect_or_exit().await {
        Ok(found) => found,
        Err(code) => return code,
    };
    let (opts, mut flags) = run_options(&args.run);
    flags.buildkit_available = connect::buildkit_available(&docker).await;
    headless::run(docker, Arc::new(config), selection, opts, flags, format).await
}

async fn dashboard(mut config: Config, args: UiArgs) -> i32 {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        eprintln!("kiln: error: the dashboard needs a terminal; use `kiln build` for plain or JSON output");
        return EXIT_USAGE;
    }
    apply_builder(&mut config, args.run.builder);
    let (docker, endpoint) = match connect_or_exit().await {
        Ok(found) => found,
        Err(code) => return code,
    };
    let (opts, mut flags) = run_options(&args.run);
    flags.buildkit_available = connect::buildkit_available(&docker).await;
    let daemon = connect::describe(&docker, &endpoint, flags.buildkit_available).await;
    match crate::tui::run(docker, Arc::new(config), opts, flags, args.build, daemon).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("kiln: error: terminal: {e}");
            EXIT_FAILED
        }
    }
}
