//! `kiln build [IMAGE...]`: build headless, printing plain lines or JSON.

use std::sync::Arc;

use crate::cli::args::BuildArgs;
use crate::config::Config;
use crate::engine::connect;
use crate::exit;
use crate::headless::{self, Job};
use crate::output;

pub(crate) async fn run(config: Config, args: BuildArgs) -> i32 {
    let selection = match config.select(&args.images) {
        Ok(s) => s,
        Err(e) => {
            output::error(e);
            return exit::USAGE;
        }
    };
    let (docker, endpoint) = match super::connect_or_exit().await {
        Ok(found) => found,
        Err(code) => return code,
    };
    let (opts, mut flags) = super::run_options(&args.run);
    flags.buildkit_available = connect::buildkit_available(&docker).await;
    flags.endpoint = Some(endpoint);
    let output = (args.output.format(), args.output.on_lost_output());
    headless::run(
        docker,
        Arc::new(config),
        selection,
        (opts, flags),
        output,
        Job::Build,
    )
    .await
}
