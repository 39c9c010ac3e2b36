//! Reaching a stack's several engines for a run: each one of the stack's
//! `engines:` (or of those `--engine` names), all at once. One that cannot
//! be reached is said in a warning and left out; the run goes on without
//! it, on the first engine that answers, unless none does.

use crate::cli::args::RunArgs;
use crate::config::Config;
use crate::engine::multi;
use crate::exit;
use crate::output;
use crate::protocol::{EngineSlot, NOT_CHOSEN};

use super::{run_options, Connected};

pub(super) async fn connect(args: &RunArgs, config: &Config) -> Result<Connected, i32> {
    let (mut opts, mut flags) = run_options(args);
    let (slots, links, first) = reach(config, &args.engine).await?;
    opts.engines = slots;
    let engine = first.engine.clone();
    flags.buildkit_available = engine.as_ref().is_some_and(|e| e.buildkit);
    flags.buildah = engine.as_ref().is_some_and(|e| e.builds_with_buildah());
    flags.endpoint = Some(first.endpoint.clone());
    Ok(Connected {
        docker: first.docker,
        endpoint: first.endpoint,
        engine,
        run: (opts, flags),
        engines: links,
    })
}

/// Reach the stack's engines (those `chosen` names; none: all): the
/// model's view of each, each one's link (None: out of the run), and the
/// first that answered; or the exit code after saying why not.
pub(super) async fn reach(
    config: &Config,
    chosen: &[String],
) -> Result<(Vec<EngineSlot>, Vec<Option<multi::Link>>, multi::Link), i32> {
    for name in chosen {
        if !config.engines.iter().any(|e| &e.name == name) {
            let names: Vec<&str> = config.engines.iter().map(|e| e.name.as_str()).collect();
            output::error(format_args!(
                "--engine {name}: no such engine (engines: {})",
                names.join(", ")
            ));
            return Err(exit::USAGE);
        }
    }
    let chosen = |name: &str| chosen.is_empty() || chosen.iter().any(|e| e == name);
    let tried: Vec<_> = config
        .engines
        .iter()
        .filter(|e| chosen(&e.name))
        .cloned()
        .collect();
    let mut reached = multi::connect_all(&tried).await.into_iter();
    let mut slots = Vec::new();
    let mut links = Vec::new();
    for e in &config.engines {
        let link = if chosen(&e.name) {
            match reached.next().map(|r| r.link) {
                Some(Ok(link)) => Ok(link),
                Some(Err(why)) => {
                    output::warning(format_args!(
                        "engine '{}' is left out of this run: {why}",
                        e.name
                    ));
                    Err(format!("unreachable at the start: {why}"))
                }
                None => Err("not reached".to_string()),
            }
        } else {
            Err(NOT_CHOSEN.to_string())
        };
        slots.push(EngineSlot {
            name: e.name.clone(),
            jobs: e.jobs,
            down: link.as_ref().err().cloned(),
        });
        links.push(link.ok());
    }
    let Some(first) = links.iter().flatten().next().cloned() else {
        output::error("no engine of the stack can be reached");
        return Err(exit::DAEMON);
    };
    Ok((slots, links, first))
}
