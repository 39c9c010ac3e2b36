//! `kiln check`: validate the stack file and print the build plan, and
//! what the daemon has of the base images kiln does not build (which are
//! only local), and which engine the daemon is (its version, the builder
//! the images would use). A daemon that cannot be reached leaves those
//! parts out, saying so: checking the file needs no daemon.

use std::collections::HashMap;

use crate::config::{Config, ContextSource, Source, TagSet};
use crate::engine::bases::{external_bases, local_state};
use crate::engine::build::{builders_in_use, BuildFlags};
use crate::engine::connect::{self, ProcessEnv};
use crate::engine::identify;
use crate::engine::multi;
use crate::format::render_plan;
use crate::output;
use crate::protocol::BaseImage;
use crate::sanitize::sanitize;

pub(crate) async fn run(config: &Config) -> i32 {
    let bases = base_images(config).await;
    let mut text = render_plan(config, &bases);
    text.push_str(&engine_line(config).await);
    // Names, tags and paths come from the stack file (and the daemon's
    // words from the daemon): `output` sanitises them.
    if !config.engines.is_empty() {
        text.push_str(&engines(config).await);
    }
    super::printed(output::stdout(&text))
}

/// `engine: Docker Engine 26.1.5 (API 1.45) at unix:///var/run/docker.sock,
/// builder buildkit`, or why the daemon could not be asked.
async fn engine_line(config: &Config) -> String {
    let (docker, endpoint) = match connect::connect(&ProcessEnv).await {
        Ok(c) => c,
        Err(e) => return format!("engine: not reachable ({})\n", sanitize(&e.to_string())),
    };
    let Some(engine) = identify::identify(&docker).await else {
        return format!(
            "engine: at {} (its /version did not answer)\n",
            endpoint.host
        );
    };
    let flags = BuildFlags {
        buildkit_available: engine.buildkit,
        buildah: engine.builds_with_buildah(),
        ..BuildFlags::default()
    };
    format!(
        "engine: {} at {}, builder {}\n",
        engine.name(),
        endpoint.host,
        builders_in_use(&config.images, &flags)
    )
}

/// The stack's engines, each with its version or why it cannot be
/// reached.
async fn engines(config: &Config) -> String {
    let mut text = String::from("\nengines:\n");
    for r in multi::connect_all(&config.engines).await {
        let e = &r.config;
        let state = match &r.link {
            Ok(link) => format!("reachable, {}", link.version),
            Err(why) => format!("unreachable: {why}"),
        };
        text.push_str(&format!(
            "  {} ({}, jobs {}): {state}\n",
            e.name, e.host, e.jobs
        ));
    }
    text.push_str(&match &config.transfer_registry {
        Some(r) => format!("  images move through registry {r} (pushed, pulled by digest)\n"),
        None => "  images move by docker save streamed into docker load through kiln\n".into(),
    });
    text
}

/// The stack's base images with what the daemon has of them, or why the
/// daemon could not be asked.
pub(super) async fn base_images(config: &Config) -> Result<Vec<BaseImage>, String> {
    let mut bases: Vec<BaseImage> = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (reference, image) in references(config) {
        match seen.get(&reference) {
            Some(&b) => bases[b].used_by.push(image),
            None => {
                seen.insert(reference.clone(), bases.len());
                bases.push(BaseImage {
                    reference,
                    used_by: vec![image],
                    state: crate::protocol::LocalBase::Absent,
                });
            }
        }
    }
    if bases.is_empty() {
        return Ok(bases);
    }
    let (docker, _) = connect::connect(&ProcessEnv)
        .await
        .map_err(|e| sanitize(&e.to_string()).into_owned())?;
    for b in &mut bases {
        b.state = local_state(&docker, &b.reference).await;
    }
    Ok(bases)
}

/// (base image, the image whose Dockerfile names it), for the images kiln
/// builds from a local directory, leaving out the stack's own images.
fn references(config: &Config) -> Vec<(String, String)> {
    let stack_tags = TagSet::new(
        config
            .images
            .iter()
            .filter(|i| !i.is_prebuilt())
            .flat_map(|i| &i.tags),
    );
    let mut found = Vec::new();
    for img in &config.images {
        let Source::Build {
            context: ContextSource::Dir(root),
            dockerfile,
        } = &img.source
        else {
            continue;
        };
        let Some(text) = dockerfile.text_in(root) else {
            continue;
        };
        for reference in external_bases(&text, &img.args, img.target.as_deref(), &stack_tags) {
            found.push((reference, img.name.clone()));
        }
    }
    found
}
