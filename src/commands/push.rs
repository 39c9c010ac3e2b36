//! `kiln push [IMAGE...]`: push the images' tags as they are on the daemon
//! now, without building, through the same model, runtime and printers as
//! `kiln build --push`.

use std::sync::Arc;

use crate::app::RunOptions;
use crate::cli::args::PushArgs;
use crate::config::Config;
use crate::engine::build::BuildFlags;
use crate::exit;
use crate::headless::{self, Job};
use crate::output;

/// Which images `kiln push` pushes: the named ones only (not their
/// dependencies), or every image kiln builds. Prebuilt images are not ours
/// to push.
pub(crate) fn select(config: &Config, names: &[String]) -> Result<Vec<usize>, String> {
    if names.is_empty() {
        let all: Vec<usize> = config
            .plan()
            .order
            .into_iter()
            .filter(|&i| !config.images[i].is_prebuilt())
            .collect();
        if all.is_empty() {
            return Err("no image to push: every image in the stack is prebuilt".into());
        }
        return Ok(all);
    }
    let mut out = Vec::new();
    for name in names {
        let Some(i) = config.index_of(name) else {
            // The same "unknown image … did you mean" message as `build`.
            return Err(config
                .select(std::slice::from_ref(name))
                .err()
                .unwrap_or_else(|| format!("unknown image '{name}'")));
        };
        if config.images[i].is_prebuilt() {
            return Err(format!(
                "'{name}' is a prebuilt image (image: {}); kiln pushes only images it builds",
                config.images[i].tags.join(", ")
            ));
        }
        if !out.contains(&i) {
            out.push(i);
        }
    }
    Ok(out)
}

pub(crate) async fn run(config: Config, args: PushArgs) -> i32 {
    let selection = match select(&config, &args.images) {
        Ok(s) => s,
        Err(e) => {
            output::error(e);
            return exit::USAGE;
        }
    };
    let mut opts = RunOptions::default();
    // Several engines: each image pushes from the engine that holds it
    // (the model says which: `app::placement::push_from`).
    let (docker, engines) = if config.engines.is_empty() {
        match super::connect_or_exit().await {
            Ok((docker, _)) => (docker, Vec::new()),
            Err(code) => return code,
        }
    } else {
        match super::engines::reach(&config, &[]).await {
            Ok((slots, links, first)) => {
                opts.engines = slots;
                (first.docker, links)
            }
            Err(code) => return code,
        }
    };
    let run = (opts, BuildFlags::default());
    let output = (args.output.format(), args.output.on_lost_output());
    headless::run(
        (docker, engines),
        Arc::new(config),
        selection,
        run,
        output,
        Job::Push,
    )
    .await
}
