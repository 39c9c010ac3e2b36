//! A compose file's `x-kiln: engines` and `x-kiln: collect` (the top
//! level's), read into the entries `config/engines.rs` checks, and the
//! services' `x-kiln: engine` pins checked against them.

use std::path::Path;

use super::read;
use super::tree::{Kind, Node};
use crate::config::checks::Problems;
use crate::config::engines::{
    check, check_pin, check_registry, EngineConfig, RawEngine, TransferRegistry, ENGINE_KEYS,
};
use crate::config::ImageConfig;

/// The top-level x-kiln's keys read here rather than from the table.
pub(crate) const TOP_KEYS: &[&str] = &["engines", "collect", "transfer_registry"];

/// `transfer_registry` of the top-level `x-kiln:` (if any), checked
/// against the engines read.
pub(crate) fn read_registry(
    xkiln: Option<&Node>,
    engines: &[EngineConfig],
    out: &mut Problems,
) -> Option<TransferRegistry> {
    let node = xkiln?.get("transfer_registry")?;
    let Some(text) = node.scalar_text() else {
        out.error(
            &node.at,
            format!(
                "'transfer_registry' must be text (HOST[:PORT][/PREFIX]), not {}",
                node.describe()
            ),
        );
        return None;
    };
    check_registry(Some((text, node.at.clone())), engines, out)
}

/// `engines` and `collect` of the top-level `x-kiln:` (if any).
pub(crate) fn read_top(
    xkiln: Option<&Node>,
    dir: &Path,
    out: &mut Problems,
) -> (Vec<EngineConfig>, bool) {
    let Some(x) = xkiln else {
        return (Vec::new(), true);
    };
    let collect = x
        .get("collect")
        .and_then(|n| read::boolean(n, "collect", out))
        .unwrap_or(true);
    let Some(list) = x.get("engines") else {
        return (Vec::new(), collect);
    };
    let Kind::Seq(items) = &list.kind else {
        out.error(&list.at, "'engines' must be a list of {name, host, jobs}");
        return (Vec::new(), collect);
    };
    let mut raw = Vec::new();
    for e in items {
        let Some(m) = read::mapping(e, "engines", out) else {
            continue;
        };
        read::unknown_keys(m, ENGINE_KEYS, "engine key", out);
        let text = |key: &str| {
            let n = m.get(key)?;
            n.scalar_text().map(|s| (s, n.at.clone()))
        };
        raw.push(RawEngine {
            at: e.at.clone(),
            name: text("name"),
            host: text("host"),
            jobs: text("jobs"),
            tls: text("tls"),
        });
    }
    (check(raw, dir, out), collect)
}

/// Each service's `x-kiln: engine` names an engine of the stack.
pub(crate) fn check_pins(
    services: &[(&str, &Node)],
    images: &[ImageConfig],
    engines: &[EngineConfig],
    out: &mut Problems,
) {
    for (name, node) in services {
        let Some(pin_node) = node.get("x-kiln").and_then(|x| x.get("engine")) else {
            continue;
        };
        let Some(pin) = images
            .iter()
            .find(|i| i.name == *name)
            .and_then(|i| i.engine.as_deref())
        else {
            continue;
        };
        check_pin(pin, &pin_node.at, engines, out);
    }
}
