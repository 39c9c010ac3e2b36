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

use std::collections::BTreeMap;

use super::fields::{self, Field, Kind};
use super::plan::{edges, find_cycles, infer_deps};
use super::reference::check_tag;
use super::suggest::did_you_mean;
use super::units::parse_duration;
use super::values::{scalar, FieldValue};
use super::{Config, ImageConfig};

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
    let settable = fields::settable();
    let Some(&field) = settable.iter().find(|f| f.name == base) else {
        let hint = did_you_mean(base, settable.iter().map(|f| f.name));
        let hint = if hint.is_empty() {
            let listed: Vec<String> = settable.iter().map(|f| spelled(f)).collect();
            format!(" (fields: {})", listed.join(", "))
        } else {
            hint
        };
        return Err(format!("{at}: unknown field '{field}'{hint}"));
    };
    match (field.kind, key) {
        (Kind::Map, None | Some("")) => {
            return Err(format!("{at}: use {base}.KEY=VALUE"));
        }
        (Kind::Map, Some(_)) => {}
        (_, Some(_)) => return Err(format!("{at}: '{base}' has no sub-fields")),
        _ => {}
    }

    let mut next = config.clone();
    for &i in &targets {
        // `*` skips prebuilt images for build-only fields instead of failing.
        let img = &mut next.images[i];
        if img.is_prebuilt() && !field.prebuilt {
            if image == "*" {
                continue;
            }
            return Err(format!(
                "{at}: '{}' is a prebuilt image (image:); it has no '{base}'",
                img.name
            ));
        }
        set_field(img, field, key, value).map_err(|e| format!("{at}: {e}"))?;
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

/// How `--set` and its messages spell a field: `args.KEY` for a map.
fn spelled(field: &Field) -> String {
    match field.kind {
        Kind::Map => format!("{}.KEY", field.name),
        _ => field.name.to_string(),
    }
}

/// `value` as the command line gives it, put into `field`: a list is
/// comma-separated, an empty string clears an optional string, a flag is
/// also `yes`/`no`/`1`/`0`.
fn set_field(
    img: &mut ImageConfig,
    field: &Field,
    key: Option<&str>,
    value: &str,
) -> Result<(), String> {
    let typed = match field.kind {
        Kind::List => FieldValue::List(list(field, value)?),
        Kind::Map => {
            let key = key.unwrap_or_default().to_string();
            FieldValue::Map(BTreeMap::from([(key, value.to_string())]))
        }
        Kind::Text if field.name == "dockerfile" => {
            FieldValue::Text(Some(non_empty(value).ok_or("dockerfile cannot be empty")?))
        }
        Kind::Text | Kind::Name => FieldValue::Text(non_empty(value)),
        Kind::Flag => FieldValue::Flag(parse_bool(value)?),
        Kind::Duration => FieldValue::Duration(parse_duration(value)?),
        Kind::Size | Kind::Count | Kind::Choice(_) => match scalar(field, value) {
            Some(read) => read?,
            None => return Err(format!("unknown field '{}'", field.name)),
        },
        // (Not settable: the table says so; a secret on the command line
        // would stand in the shell's history.)
        Kind::Secrets | Kind::Ssh => return Err(format!("unknown field '{}'", field.name)),
    };
    if !img.put(field.name, typed) {
        return Err(format!("unknown field '{}'", field.name));
    }
    Ok(())
}

/// A comma-separated list; tags must be at least one, each valid.
fn list(field: &Field, value: &str) -> Result<Vec<String>, String> {
    let items: Vec<String> = value
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(String::from)
        .collect();
    if field.name == "tags" {
        if items.is_empty() {
            return Err("tags need at least one tag".to_string());
        }
        for tag in &items {
            check_tag(tag).map_err(|why| format!("invalid tag '{tag}': {why}"))?;
        }
    }
    Ok(items)
}
