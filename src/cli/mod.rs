//! The command line (a contract: README's "Commands"): parse it, load the
//! config, and hand over to the subcommand in `commands`. Errors end as one
//! line on stderr and the exit codes of `crate::exit`.

pub mod args;

use clap::Parser;

use args::{Cli, Cmd};

use crate::commands;
use crate::config::{self, Config};
use crate::exit;
use crate::output;

/// Parse the command line and run; returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // Help and version: clap prints them (to stdout, styled).
        Err(e) if !e.use_stderr() => e.exit(),
        // A usage error quotes what was typed: it goes out sanitised.
        Err(e) => {
            output::stderr(&e.render().to_string());
            return e.exit_code();
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            output::error(format_args!("cannot start the async runtime: {e}"));
            return exit::FAILED;
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
        Some(Cmd::Check) => commands::check::run(&config).await,
        Some(Cmd::Ls) => commands::ls::run(&config),
        Some(Cmd::Logs { image, run }) => commands::logs::run(&config, &image, run),
        Some(Cmd::Build(args)) => commands::build::run(config, args).await,
        Some(Cmd::Push(args)) => commands::push::run(config, args).await,
        Some(Cmd::Ui(args)) => commands::ui::run(config, args).await,
        None => commands::ui::run(config, cli.ui).await,
    }
}

/// Discover, load and override the config; problems are printed here.
fn load_config(cli: &Cli) -> Result<Config, i32> {
    let cwd = std::env::current_dir().map_err(|e| {
        output::error(format_args!("cannot read the current directory: {e}"));
        exit::USAGE
    })?;
    let kiln_file = std::env::var("KILN_FILE").ok().filter(|v| !v.is_empty());
    let files = config::discover(&cli.file, kiln_file.as_deref(), &cwd).map_err(|e| {
        output::error(&e);
        exit::USAGE
    })?;
    let compose = config::ComposeOptions {
        project_name: cli.project_name.clone(),
        profiles: cli.profile.clone(),
        env_files: cli.env_file.clone(),
    };
    let env = |name: &str| std::env::var(name).ok();
    let loaded = config::load_stack(&files, &compose, &env).map_err(|e| {
        // File names and values come from outside kiln: `output` shows
        // their control characters.
        match e {
            config::LoadError::Config(errors) => output::stderr(&errors.to_string()),
            config::LoadError::Usage(message) => output::error(message),
        }
        exit::USAGE
    })?;
    for w in &loaded.warnings {
        output::warning(w);
    }
    let mut config = loaded.config;
    let sets = match &cli.command {
        Some(Cmd::Build(a)) => &a.run.set,
        Some(Cmd::Ui(a)) => &a.run.set,
        _ => &cli.ui.run.set,
    };
    for spec in sets {
        config.apply_override(spec).map_err(|e| {
            output::error(e);
            exit::USAGE
        })?;
    }
    Ok(config)
}
