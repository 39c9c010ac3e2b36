//! The command line (a contract: README's "Commands"): parse it, load the
//! config, and hand over to the subcommand in `commands`. Errors end as one
//! line on stderr and the exit codes of `crate::exit`.

pub mod args;

use clap::Parser;

use args::{BuilderArg, Cli, Cmd};

use crate::commands;
use crate::config::{ComposeOptions, Config, FileEnv, LoadError, Sources, StackError, StackSource};
use crate::exit;
use crate::output;

/// Parse the command line and run; returns the process exit code.
pub fn main() -> i32 {
    crate::memory::tune_allocator();
    let cli = match Cli::try_parse_from(logs_follow_short(std::env::args_os().collect())) {
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
    let code = runtime.block_on(run(cli));
    // Whatever is still running has been told to stop; a thread blocked in
    // the kernel (a context file that became a FIFO) must not keep the
    // process alive after its summary.
    runtime.shutdown_background();
    code
}

/// The global options that take a value (`-f PATH`, ...).
const VALUED_GLOBALS: &[&str] = &[
    "-f",
    "--file",
    "-p",
    "--project-name",
    "--profile",
    "--env-file",
];

/// `kiln logs -f IMAGE` follows the log, as `tail -f` and `docker logs -f`
/// do: after the `logs` subcommand, `-f` is `--follow` (the stack file is
/// then `--file`, or `-f` before `logs`).
fn logs_follow_short(mut args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let mut i = 1;
    while let Some(arg) = args.get(i) {
        let Some(text) = arg.to_str() else {
            return args;
        };
        if text == "--" {
            return args;
        }
        if VALUED_GLOBALS.contains(&text) {
            i += 2;
            continue;
        }
        if text.starts_with('-') {
            i += 1;
            continue;
        }
        if text != "logs" {
            return args;
        }
        break;
    }
    for arg in args.iter_mut().skip(i + 1) {
        if arg == "--" {
            break;
        }
        if arg == "-f" {
            *arg = "--follow".into();
        }
    }
    args
}

async fn run(mut cli: Cli) -> i32 {
    // The commands that need no stack: they must work where there is none.
    match cli.command.take() {
        Some(Cmd::Completions { shell }) => commands::completions::run(shell),
        Some(Cmd::Man) => commands::man::run(),
        Some(Cmd::Schema) => commands::schema::run(),
        Some(Cmd::Init(_)) if stack_options_given(&cli) => {
            output::error("kiln init writes kiln.yaml; --file, --project-name, --profile and --env-file do not apply to it");
            exit::USAGE
        }
        Some(Cmd::Init(args)) => commands::init::run(&args).await,
        command => run_on_stack(cli, command).await,
    }
}

fn stack_options_given(cli: &Cli) -> bool {
    !cli.file.is_empty()
        || cli.project_name.is_some()
        || !cli.profile.is_empty()
        || !cli.env_file.is_empty()
}

async fn run_on_stack(cli: Cli, command: Option<Cmd>) -> i32 {
    let source = match stack_source(&cli, &command) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let config = match load_config(&source) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match command {
        Some(Cmd::Check) => commands::check::run(&config).await,
        Some(Cmd::Ls { names, json }) => commands::ls::run(&config, names, json),
        Some(Cmd::History { image, json }) => commands::runs::run(&config, &image, json),
        Some(Cmd::Logs { image, run, follow }) => {
            commands::logs::run(&config, &image, run, follow).await
        }
        Some(Cmd::Build(args)) => commands::build::run(config, args).await,
        Some(Cmd::Watch(args)) => commands::watch::run(config, source, args).await,
        Some(Cmd::Push(args)) => commands::push::run(config, args).await,
        Some(Cmd::Ui(args)) => commands::ui::run(config, source, args).await,
        // Taken care of in `run`.
        Some(Cmd::Init(_) | Cmd::Completions { .. } | Cmd::Man | Cmd::Schema) => exit::USAGE,
        None => commands::ui::run(config, source, cli.ui).await,
    }
}

/// Where the stack comes from and what the command line changes in it:
/// the current directory, `$KILN_FILE`, `--file`, the compose options,
/// `--set`, `--builder`.
fn stack_source(cli: &Cli, command: &Option<Cmd>) -> Result<StackSource, i32> {
    let cwd = std::env::current_dir().map_err(|e| {
        output::error(format_args!("cannot read the current directory: {e}"));
        exit::USAGE
    })?;
    let (sets, builder) = match command {
        Some(Cmd::Build(a)) => (&a.run.set, a.run.builder),
        Some(Cmd::Watch(a)) => (&a.run.set, a.run.builder),
        Some(Cmd::Ui(a)) => (&a.run.set, a.run.builder),
        None => (&cli.ui.run.set, cli.ui.run.builder),
        _ => (&cli.ui.run.set, None),
    };
    Ok(StackSource {
        files: cli.file.clone(),
        file_env: FileEnv::from_env(&|k| std::env::var(k).ok(), &cli.env_file),
        cwd,
        compose: ComposeOptions {
            project_name: cli.project_name.clone(),
            profiles: cli.profile.clone(),
            env_files: cli.env_file.clone(),
        },
        sets: sets.clone(),
        builder: builder.map(BuilderArg::choice),
        sources: sources_for(command),
    })
}

/// Whether the command checks where build secrets and SSH agents come
/// from as the stack loads: those that build (and `check`) do; `ls`,
/// `history`, `logs` and `push` build nothing and do not need them.
fn sources_for(command: &Option<Cmd>) -> Sources {
    match command {
        Some(Cmd::Ls { .. } | Cmd::History { .. } | Cmd::Logs { .. } | Cmd::Push(_)) => {
            Sources::Unchecked
        }
        _ => Sources::Checked,
    }
}

/// Load the stack; problems and warnings are printed here.
fn load_config(source: &StackSource) -> Result<Config, i32> {
    let env = |name: &str| std::env::var(name).ok();
    let loaded = source.load(&env).map_err(|e| {
        // File names and values come from outside kiln: `output` shows
        // their control characters.
        match e {
            StackError::Invalid(LoadError::Config(errors)) => output::stderr(&errors.to_string()),
            StackError::Invalid(LoadError::Usage(message)) => output::error(message),
            other => output::error(other),
        }
        exit::USAGE
    })?;
    for w in &loaded.warnings {
        output::warning(w);
    }
    Ok(loaded.config)
}

#[cfg(test)]
mod tests {
    use super::logs_follow_short;

    fn words(line: &str) -> Vec<String> {
        let args = line.split(' ').map(Into::into).collect();
        logs_follow_short(args)
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn after_logs_dash_f_follows() {
        assert_eq!(
            words("kiln logs -f web"),
            ["kiln", "logs", "--follow", "web"]
        );
        assert_eq!(
            words("kiln -f logs logs -f web"),
            ["kiln", "-f", "logs", "logs", "--follow", "web"]
        );
        assert_eq!(
            words("kiln build -f x.yaml"),
            ["kiln", "build", "-f", "x.yaml"]
        );
        assert_eq!(words("kiln -f a.yaml ls"), ["kiln", "-f", "a.yaml", "ls"]);
        assert_eq!(
            words("kiln logs web -- -f"),
            ["kiln", "logs", "web", "--", "-f"]
        );
    }
}
