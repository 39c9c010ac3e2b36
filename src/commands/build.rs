//! `kiln build [IMAGE...]`: build headless, printing plain lines or JSON
//! (`--dry-run`: `dry_run.rs`).

use std::sync::Arc;

use crate::cli::args::BuildArgs;
use crate::config::Config;
use crate::headless::{self, Job};

pub(crate) async fn run(config: Config, args: BuildArgs) -> i32 {
    if args.dry_run {
        return super::dry_run::run(config, args).await;
    }
    let (selection, connected) = match super::prepare_run(&config, &args.images, &args.run).await {
        Ok(prepared) => prepared,
        Err(code) => return code,
    };
    let output = (args.output.format(), args.output.on_lost_output());
    headless::run(
        (connected.docker, connected.engines),
        Arc::new(config),
        selection,
        connected.run,
        output,
        Job::Build,
    )
    .await
}
