//! `kiln` / `kiln ui`: the dashboard.

use std::io::IsTerminal;
use std::sync::Arc;

use crate::cli::args::UiArgs;
use crate::config::{Config, StackSource};
use crate::engine::{build, identify};
use crate::exit;
use crate::output;

pub(crate) async fn run(config: Config, source: StackSource, args: UiArgs) -> i32 {
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        output::error("the dashboard needs a terminal; use `kiln build` for plain or JSON output");
        return exit::USAGE;
    }
    let super::Connected {
        docker,
        endpoint,
        engine,
        run,
        engines,
    } = match super::connect_for_run(&args.run, &config).await {
        Ok(c) => c,
        Err(code) => return code,
    };
    let builders = build::builders_in_use(&config.images, &run.1);
    let daemon = identify::describe(&endpoint.host, engine.as_ref(), &builders);
    let config = Arc::new(config);
    match crate::tui::run((docker, engines), (config, source), run, args.build, daemon).await {
        Ok(code) => code,
        Err(e) => {
            output::error(format_args!("terminal: {e}"));
            exit::FAILED
        }
    }
}
