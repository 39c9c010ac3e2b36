//! A service's `build.secrets` and `build.ssh`, as compose-go reads them
//! and docker compose hands them to the build (`--secret`, `--ssh`):
//!
//! ```yaml
//! services:
//!   app:
//!     build:
//!       context: .
//!       secrets:
//!         - npm                       # short: id = the secret's name
//!         - source: gh                # long: id = target (default: source)
//!           target: github_token
//!       ssh: [default, deploy=./deploy_key]   # or {default: null, deploy: ./deploy_key}
//! secrets:
//!   npm: {file: ./npm-token.txt}
//!   gh: {environment: GITHUB_TOKEN}   # from the project's environment (.env too)
//! ```
//!
//! A build secret must be defined at the top level with `file` or
//! `environment` (compose's build passes only those two); the file must
//! exist and the variable be set, each reported where it is written. As
//! compose-go does, `~` starts the user's home directory in a secret's
//! `file` and an SSH path, and relative ones start at the project's
//! directory (included files' already do: `paths.rs`).

use std::path::{Path, PathBuf};

use super::read;
use super::tree::{Kind, Node};
use crate::config::checks::{Loc, Problems};
use crate::config::interpolate::Env;
use crate::config::secrets::{self, BuildSecret, SshForward, DEFAULT_SSH_ID};
use crate::config::suggest::did_you_mean;

/// Keys of a build secret's long syntax (compose-spec `service.build.secrets`).
const SECRET_KEYS: &[&str] = &["source", "target", "uid", "gid", "mode"];

/// `build.secrets` (`node`), each resolved against the top-level
/// `secrets:` (`defined`).
pub(crate) fn build_secrets(
    node: &Node,
    defined: Option<&Node>,
    dir: &Path,
    env: Env<'_>,
    out: &mut Problems,
) -> Vec<BuildSecret> {
    let Kind::Seq(items) = &node.kind else {
        out.error(
            &node.at,
            format!(
                "'secrets' must be a list of secret names or {{source, target}}, not {}",
                node.describe()
            ),
        );
        return Vec::new();
    };
    let mut list: Vec<BuildSecret> = Vec::new();
    for item in items {
        let Some((source, id)) = reference(item, out) else {
            continue;
        };
        let Some(secret) = definition(&source, &id, &item.at, defined, dir, env, out) else {
            continue;
        };
        if list.iter().any(|s| s.id == secret.id) {
            out.error(&item.at, secrets::duplicate_id("secret", &secret.id));
            continue;
        }
        list.push(secret);
    }
    list
}

/// One item of `build.secrets`: the secret's name and the id the build
/// knows it by.
fn reference(item: &Node, out: &mut Problems) -> Option<(String, String)> {
    match &item.kind {
        Kind::Str(name) => Some((name.clone(), name.clone())),
        Kind::Map(_) => {
            read::unknown_keys(item, SECRET_KEYS, "build secret key", out);
            let Some(source) = item.get("source") else {
                out.error(
                    &item.at,
                    "a build secret needs 'source' (the secret's name)",
                );
                return None;
            };
            let source = read::non_empty(source, "source", out)?;
            let id = match item.get("target") {
                Some(t) => read::non_empty(t, "target", out)?,
                None => source.clone(),
            };
            Some((source, id))
        }
        _ => {
            out.error(
                &item.at,
                format!(
                    "a build secret is a name or {{source, target}}, not {}",
                    item.describe()
                ),
            );
            None
        }
    }
}

/// The top-level secret `source`, as build secret `id`.
fn definition(
    source: &str,
    id: &str,
    used_at: &Loc,
    defined: Option<&Node>,
    dir: &Path,
    env: Env<'_>,
    out: &mut Problems,
) -> Option<BuildSecret> {
    let Some(def) = defined.and_then(|d| d.entry(source)) else {
        let names = defined.map(|d| d.entries()).unwrap_or_default();
        let hint = did_you_mean(source, names.iter().map(|e| e.key.as_str()));
        out.error(
            used_at,
            format!("build secret '{source}' is not defined under the top-level 'secrets:'{hint}"),
        );
        return None;
    };
    let (file, var) = (def.value.get("file"), def.value.get("environment"));
    let (node, source) = match (file, var) {
        (Some(f), None) => {
            let text = read::non_empty(f, "file", out)?;
            let path = expand_home(&text, env).unwrap_or_else(|| secrets::join(dir, &text));
            (f, secrets::file_secret(id, path, &text))
        }
        (None, Some(v)) => {
            let var = read::non_empty(v, "environment", out)?;
            (v, secrets::env_secret(id, &var, env))
        }
        (Some(_), Some(v)) => {
            out.error(
                &v.at,
                format!("secret '{source}': give 'file' or 'environment', not both"),
            );
            return None;
        }
        (None, None) => {
            out.error(
                &def.key_at,
                format!(
                    "secret '{source}' is used by a build, which takes it from 'file' or 'environment' only"
                ),
            );
            return None;
        }
    };
    match source {
        Ok(source) => Some(BuildSecret {
            id: id.to_string(),
            source,
        }),
        Err(message) => {
            out.unavailable(&node.at, message);
            None
        }
    }
}

/// One id of `build.ssh` as written: its path (none: the agent at
/// `$SSH_AUTH_SOCK`) and where it is.
struct SshGiven {
    id: String,
    path: Option<(String, Loc)>,
    at: Loc,
}

/// `build.ssh`: a list of `default` and `ID=PATH`, or a mapping `ID: PATH`
/// (`ID:` alone: the agent at `$SSH_AUTH_SOCK`).
pub(crate) fn build_ssh(
    node: &Node,
    dir: &Path,
    env: Env<'_>,
    out: &mut Problems,
) -> Vec<SshForward> {
    let mut list: Vec<SshForward> = Vec::new();
    for given in ssh_entries(node, out) {
        let paths: Vec<(PathBuf, String)> = given
            .path
            .iter()
            .filter(|(p, _)| !p.is_empty())
            .map(|(p, _)| {
                let path = expand_home(p, env).unwrap_or_else(|| secrets::join(dir, p));
                (path, p.clone())
            })
            .collect();
        let source = match secrets::ssh_source(&given.id, &paths, env) {
            Ok(source) => source,
            Err((index, message)) => {
                let at = match (index, &given.path) {
                    (Some(_), Some((_, path_at))) => path_at,
                    _ => &given.at,
                };
                out.unavailable(at, message);
                continue;
            }
        };
        if list.iter().any(|s| s.id == given.id) {
            out.error(&given.at, secrets::duplicate_id("ssh", &given.id));
            continue;
        }
        list.push(SshForward {
            id: given.id,
            source,
        });
    }
    list
}

/// The ids of `build.ssh` in either form, as compose-go's `transformSSH`
/// reads them: a list item without `=` must be `default`.
fn ssh_entries(node: &Node, out: &mut Problems) -> Vec<SshGiven> {
    let mut given = Vec::new();
    match &node.kind {
        Kind::Seq(_) => {
            for (s, at) in read::strings(node, "ssh", out).unwrap_or_default() {
                match s.split_once('=') {
                    Some((id, path)) => given.push(SshGiven {
                        id: id.to_string(),
                        path: Some((path.to_string(), at.clone())),
                        at,
                    }),
                    None if s == DEFAULT_SSH_ID => given.push(SshGiven {
                        id: s,
                        path: None,
                        at,
                    }),
                    None => out.error(
                        &at,
                        format!("invalid ssh key '{s}': use default or ID=PATH"),
                    ),
                }
            }
        }
        Kind::Map(entries) => {
            for e in entries {
                let path = match &e.value.kind {
                    Kind::Null => None,
                    Kind::Seq(_) | Kind::Map(_) => {
                        out.error(&e.value.at, format!("'ssh.{}' must be a path", e.key));
                        continue;
                    }
                    _ => e.value.scalar_text().map(|p| (p, e.value.at.clone())),
                };
                given.push(SshGiven {
                    id: e.key.clone(),
                    path,
                    at: e.key_at.clone(),
                });
            }
        }
        _ => out.error(
            &node.at,
            format!(
                "'ssh' must be a list of default / ID=PATH or a mapping, not {}",
                node.describe()
            ),
        ),
    }
    given
}

/// `~/…` (or `~`) in the user's home directory (`$HOME`), as compose-go's
/// `ExpandUser`; `None` for a path that does not start with `~`, or with
/// no `HOME`.
fn expand_home(path: &str, env: Env<'_>) -> Option<PathBuf> {
    let rest = path.strip_prefix('~')?;
    let home = env("HOME").filter(|h| !h.is_empty())?;
    Some(PathBuf::from(home).join(rest.trim_start_matches('/')))
}
