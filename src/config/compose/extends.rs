//! `extends`, as compose-go's `loader/extends.go` applies it, for each
//! file of a project after its includes:
//!
//! - `extends: NAME` (or `{service: NAME}`) takes the service NAME of the
//!   same file (its included services count; an earlier `-f` file's do
//!   not), `{service: NAME, file: PATH}` the one of another file, whose
//!   relative paths start at its own directory (`paths.rs`); PATH is
//!   relative to the project's directory. That file is read for its
//!   services alone: its `include`s are not loaded.
//! - The base is resolved first (it may extend another service, in its
//!   own file), then the service is merged over a copy of it with the
//!   rules of override files (`merge.rs`: mappings by key, lists appended,
//!   `build.args` by key, `!reset`, `!override`).
//! - A service that extends itself, directly or not, is an error.

use std::path::{Path, PathBuf};

use super::files::{absolute, Loader, Named};
use super::tree::{Entry, Kind, Node};
use super::{merge, paths, read};
use crate::config::checks::{Loc, Problems};
use crate::config::interpolate::Env;
use crate::config::suggest::did_you_mean;

/// How long a chain of `extends` may be (a cycle through a symlink is not
/// seen as one by comparing paths).
const MAX_CHAIN: usize = 32;

/// The file a service is resolved in.
struct FileCx<'a> {
    /// As shown.
    file: &'a Path,
    /// Where its relative paths start.
    base: &'a Path,
    env: Env<'a>,
}

/// What an `extends` names.
struct Target {
    service: String,
    at: Loc,
    file: Option<(String, Loc)>,
}

/// Applies every service's `extends` in `tree` (the file `file`, whose
/// paths start at `base`).
pub(crate) fn apply(
    ld: &mut Loader<'_, '_>,
    tree: &mut Node,
    file: &Path,
    base: &Path,
    env: Env<'_>,
) {
    let Some(services) = services_mut(tree) else {
        return;
    };
    let names: Vec<String> = services.iter().map(|e| e.key.clone()).collect();
    let cx = FileCx { file, base, env };
    let mut walk = Walk::default();
    for name in names {
        resolve(ld, services, &cx, &name, &mut walk);
    }
}

/// The services (by file) being resolved, to refuse a cycle, and those
/// that could not be (said once).
#[derive(Default)]
struct Walk {
    visiting: Vec<(PathBuf, String)>,
    failed: Vec<(PathBuf, String)>,
}

fn services_mut(tree: &mut Node) -> Option<&mut Vec<Entry>> {
    tree.entries_mut()?
        .iter_mut()
        .find(|e| e.key == "services")?
        .value
        .entries_mut()
}

/// The service `name` of `services` with its `extends` applied (and kept
/// so in `services`); `None` when it cannot be.
fn resolve(
    ld: &mut Loader<'_, '_>,
    services: &mut [Entry],
    cx: &FileCx<'_>,
    name: &str,
    walk: &mut Walk,
) -> Option<Node> {
    let i = services.iter().position(|e| e.key == name)?;
    let Some(ext) = services[i].value.entry("extends").cloned() else {
        return Some(services[i].value.clone());
    };
    let me = (absolute(cx.file), name.to_string());
    if walk.failed.contains(&me) {
        return None;
    }
    if let Some(j) = walk.visiting.iter().position(|v| *v == me) {
        let cycle: Vec<&str> = walk.visiting[j..]
            .iter()
            .map(|(_, n)| n.as_str())
            .chain([name])
            .collect();
        ld.out.error(
            &ext.key_at,
            format!("extends cycle: {}", cycle.join(" extends ")),
        );
        walk.failed.extend(walk.visiting[j..].iter().cloned());
        return None;
    }
    if walk.visiting.len() > MAX_CHAIN {
        ld.out.error(
            &ext.key_at,
            format!("extends chains longer than {MAX_CHAIN} services"),
        );
        return None;
    }
    walk.visiting.push(me.clone());
    let base = read_target(&ext, ld.out).and_then(|target| match &target.file {
        None => base_in_same_file(ld, services, cx, &target, walk),
        Some((file, at)) => base_in_other_file(ld, cx, &target, file, at, walk),
    });
    walk.visiting.pop();
    let Some(base) = base else {
        walk.failed.push(me);
        return None;
    };
    let mut own = services[i].value.clone();
    own.take("extends");
    let mut path = vec!["services".to_string(), name.to_string()];
    let merged = merge::merge(base, own, &mut path, ld.out);
    services[i].value = merged.clone();
    Some(merged)
}

fn read_target(ext: &Entry, out: &mut Problems) -> Option<Target> {
    let node = &ext.value;
    match &node.kind {
        Kind::Str(s) => Some(Target {
            service: s.clone(),
            at: node.at.clone(),
            file: None,
        }),
        Kind::Map(_) => {
            read::unknown_keys(node, &["service", "file"], "extends key", out);
            let Some(service) = node.get("service") else {
                out.error(
                    &node.at,
                    "'extends' needs a 'service': the service to extend",
                );
                return None;
            };
            let file = match node.get("file") {
                Some(f) => Some((read::non_empty(f, "extends.file", out)?, f.at.clone())),
                None => None,
            };
            Some(Target {
                service: read::non_empty(service, "extends.service", out)?,
                at: service.at.clone(),
                file,
            })
        }
        _ => {
            out.error(
                &node.at,
                format!(
                    "'extends' must be a service name or a mapping with 'service' (and 'file'), not {}",
                    node.describe()
                ),
            );
            None
        }
    }
}

/// The base service in the same file.
fn base_in_same_file(
    ld: &mut Loader<'_, '_>,
    services: &mut [Entry],
    cx: &FileCx<'_>,
    target: &Target,
    walk: &mut Walk,
) -> Option<Node> {
    if !has_service(ld, services, cx.file, target) {
        return None;
    }
    resolve(ld, services, cx, &target.service, walk)
}

/// The base service in `file` (relative to the project's directory).
fn base_in_other_file(
    ld: &mut Loader<'_, '_>,
    cx: &FileCx<'_>,
    target: &Target,
    file: &str,
    at: &Loc,
    walk: &mut Walk,
) -> Option<Node> {
    let rel = paths::clean(&cx.base.join(file));
    let named = Named {
        path: ld.shown(&rel),
        at: Some(at.clone()),
    };
    let base = rel.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut other = ld.read(&named, &base, cx.env)?;
    let Some(services) = services_mut(&mut other) else {
        ld.out.error(
            at,
            format!(
                "cannot extend '{}': {} has no services",
                target.service,
                named.path.display()
            ),
        );
        return None;
    };
    if !has_service(ld, services, &named.path, target) {
        return None;
    }
    let other_cx = FileCx {
        file: &named.path,
        base: &base,
        env: cx.env,
    };
    resolve(ld, services, &other_cx, &target.service, walk)
}

/// Whether `services` (of `file`) has the target; an error if not.
fn has_service(ld: &mut Loader<'_, '_>, services: &[Entry], file: &Path, target: &Target) -> bool {
    if services.iter().any(|e| e.key == target.service) {
        return true;
    }
    let hint = did_you_mean(&target.service, services.iter().map(|e| e.key.as_str()));
    ld.out.error(
        &target.at,
        format!(
            "cannot extend '{}': {} has no service of that name{hint}",
            target.service,
            file.display()
        ),
    );
    false
}
