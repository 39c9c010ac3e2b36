//! `kiln watch [IMAGE...]`: build, then rebuild what changes as files are
//! saved, printing plain lines or JSON, until Ctrl-C.

use std::sync::Arc;

use crate::cli::args::WatchArgs;
use crate::config::{Config, StackSource};
use crate::headless::{self, Job};

pub(crate) async fn run(config: Config, source: StackSource, args: WatchArgs) -> i32 {
    let (selection, connected) = match super::prepare_run(&config, &args.images, &args.run).await {
        Ok(prepared) => prepared,
        Err(code) => return code,
    };
    let job = Job::Watch {
        names: args.images,
        restart: args.restart,
        reload: Box::new(source),
    };
    let output = (args.output.format(), args.output.on_lost_output());
    headless::run(
        (connected.docker, connected.engines),
        Arc::new(config),
        selection,
        connected.run,
        output,
        job,
    )
    .await
}
