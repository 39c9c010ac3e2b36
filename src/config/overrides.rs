//! `--set IMAGE.FIELD=VALUE` overrides from the command line.
//!
//! This file owns the override grammar and its validation. Values are taken
//! literally (the shell has already expanded variables). An override that
//! changes tags, args or the Dockerfile recomputes inferred dependencies and
//! is refused if it would create a dependency cycle; a refused override
//! leaves the config untouched.
//!
//! Errors are `String`s, only ever shown as usage errors: each names the
//! override and says what is expected (see `config/mod.rs`).

use super::plan::{edges, find_cycles, infer_deps};
use super::reference::check_tag;
use super::suggest::did_you_mean;
use super::units::parse_duration;
use super::{Config, Dockerfile, ImageConfig, Source};

const FIELDS: &[&str] = &[
    "tags",
    "args.KEY",
    "labels.KEY",
    "target",
    "platform",
    "network",
    "no_cache",
    "pull",
    "push",
    "stall_after",
    "timeout",
    "dockerfile",
];

/// Fields that make no sense for an `image:` entry.
const BUILD_ONLY: &[&str] = &[
    "args",
    "labels",
    "target",
    "platform",
    "network",
    "no_cache",
    "dockerfile",
];

pub(crate) fn apply(config: &mut Config, spec: &str) -> Result<(), String> {
    let usage = || format!("--set {spec}: expected IMAGE.FIELD=VALUE, e.g. --set web.target=dev");
    let (lhs, value) = spec.split_once('=').ok_or_else(usage)?;
    let (image, field) = lhs.trim().split_once('.').ok_or_else(usage)?;
    if image.is_empty() || field.is_empty() {
        return Err(usage());
    }
    // Each message names the override once; the value only where it is
    // the problem.
    let at = format!("--set {}", lhs.trim());
    let targets: Vec<usize> = if image == "*" {
        (0..config.images.len()).collect()
    } else {
        match config.index_of(image) {
            Some(i) => vec![i],
            None => {
                let hint = did_you_mean(image, config.images.iter().map(|i| i.name.as_str()));
                return Err(format!("{at}: unknown image '{image}'{hint}"));
            }
        }
    };
    let (base, key) = match field.split_once('.') {
        Some((b, k)) => (b, Some(k)),
        None => (field, None),
    };
    let known = FIELDS.iter().any(|f| f.split('.').next() == Some(base));
    if !known {
        let plain = FIELDS.iter().map(|f| f.split('.').next().unwrap_or(f));
        let hint = did_you_mean(base, plain);
        let hint = if hint.is_empty() {
            format!(" (fields: {})", FIELDS.join(", "))
        } else {
            hint
        };
        return Err(format!("{at}: unknown field '{field}'{hint}"));
    }
    match (base, key) {
        ("args" | "labels", None) | ("args" | "labels", Some("")) => {
            return Err(format!("{at}: use {base}.KEY=VALUE"));
        }
        ("args" | "labels", Some(_)) => {}
        (_, Some(_)) => return Err(format!("{at}: '{base}' has no sub-fields")),
        _ => {}
    }

    let mut next = config.clone();
    for &i in &targets {
        // `*` skips prebuilt images for build-only fields instead of failing.
        let img = &mut next.images[i];
        if img.is_prebuilt() && BUILD_ONLY.contains(&base) {
            if image == "*" {
                continue;
            }
            return Err(format!(
                "{at}: '{}' is a prebuilt image (image:); it has no '{base}'",
                img.name
            ));
        }
        set_field(img, base, key, value).map_err(|e| format!("{at}: {e}"))?;
    }
    if matches!(base, "tags" | "args" | "dockerfile") {
        infer_deps(&mut next.images);
        if let Some(cycle) = find_cycles(&edges(&next.images)).first() {
            let mut names: Vec<&str> = cycle
                .iter()
                .map(|&i| next.images[i].name.as_str())
                .collect();
            if let Some(&f) = cycle.first() {
                names.push(&next.images[f].name);
            }
            return Err(format!(
                "{at}: would create a dependency cycle: {}",
                names.join(" -> ")
            ));
        }
    }
    *config = next;
    Ok(())
}

fn parse_bool(v: &str) -> Result<bool, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(format!("expected true or false, got '{v}'")),
    }
}

fn non_empty(v: &str) -> Option<String> {
    let t = v.trim();
    (!t.is_empty()).then(|| t.to_string())
}

fn set_field(
    img: &mut ImageConfig,
    base: &str,
    key: Option<&str>,
    value: &str,
) -> Result<(), String> {
    match base {
        "tags" => {
            let tags: Vec<String> = value
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(String::from)
                .collect();
            if tags.is_empty() {
                return Err("tags need at least one tag".to_string());
            }
            for tag in &tags {
                check_tag(tag).map_err(|why| format!("invalid tag '{tag}': {why}"))?;
            }
            img.tags = tags;
        }
        "args" | "labels" => {
            let key = key.unwrap_or_default().to_string();
            let map = if base == "args" {
                &mut img.args
            } else {
                &mut img.labels
            };
            map.insert(key, value.to_string());
        }
        "target" => img.target = non_empty(value),
        "platform" => img.platform = non_empty(value),
        "network" => img.network = non_empty(value),
        "no_cache" => img.no_cache = parse_bool(value)?,
        "pull" => img.pull = parse_bool(value)?,
        "push" => img.push = parse_bool(value)?,
        "stall_after" => img.stall_after = parse_duration(value)?,
        "timeout" => img.timeout = parse_duration(value)?,
        "dockerfile" => {
            let v = non_empty(value).ok_or("dockerfile cannot be empty")?;
            if let Source::Build { dockerfile, .. } = &mut img.source {
                *dockerfile = Dockerfile::Path(v);
            }
        }
        other => return Err(format!("unknown field '{other}'")),
    }
    Ok(())
}
