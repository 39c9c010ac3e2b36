//! The stack's engines: the top-level `engines:` of kiln.yaml (compose:
//! `x-kiln: engines`), a list of `{name, host, jobs, tls}`, and the images'
//! `engine:` pins. Both formats read each entry into a [`RawEngine`] (the
//! values as written, with where they were written); the checks here are
//! the same for both: names, hosts, jobs, duplicates, pins.
//!
//! Data only: nothing is connected to here (the engine layer turns a host
//! into a client through `engine::connect`).

use std::collections::HashMap;
use std::path::PathBuf;

use serde_json::{json, Value};

use super::checks::{Loc, Problems};
use super::suggest::did_you_mean;

/// The keys an engine entry takes.
pub(crate) const ENGINE_KEYS: &[&str] = &["name", "host", "jobs", "tls"];

/// How many builds an engine runs at once when its entry does not say.
pub const DEFAULT_ENGINE_JOBS: usize = 2;

/// One engine of the stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    /// Its name: what `engine:` pins, `--engine` picks and kiln shows.
    pub name: String,
    /// `unix://PATH`, `tcp://HOST:PORT` (`http://`, `https://`), `ssh://…`,
    /// or the name of a docker context.
    pub host: String,
    /// How many builds it runs at once.
    pub jobs: usize,
    /// `tls:`: a directory with `ca.pem`, `cert.pem` and `key.pem` (as
    /// `DOCKER_CERT_PATH`), for a `tcp://` host with TLS.
    pub tls: Option<PathBuf>,
}

/// An engine entry as a format read it: each value with where it is.
/// `None`: absent (or already reported as the wrong shape).
pub(crate) struct RawEngine {
    pub at: Loc,
    pub name: Option<(String, Loc)>,
    pub host: Option<(String, Loc)>,
    /// As written: a number or text.
    pub jobs: Option<(String, Loc)>,
    pub tls: Option<(String, Loc)>,
}

/// Checks the entries (every problem recorded) and returns the engines.
/// `dir`: the stack file's directory, where a relative `tls:` starts.
pub(crate) fn check(
    raw: Vec<RawEngine>,
    dir: &std::path::Path,
    out: &mut Problems,
) -> Vec<EngineConfig> {
    let mut engines: Vec<EngineConfig> = Vec::new();
    let mut first: HashMap<String, usize> = HashMap::new();
    for e in raw {
        let Some((name, name_at)) = e.name else {
            out.error(&e.at, "engine entry is missing 'name'");
            continue;
        };
        if !valid_engine_name(&name) {
            out.error(
                &name_at,
                format!(
                    "invalid engine name '{name}': use lowercase letters, digits, '_', '.', '-'"
                ),
            );
            continue;
        }
        if let Some(line) = first.get(&name) {
            out.error(
                &name_at,
                format!("duplicate engine name '{name}' (first defined on line {line})"),
            );
            continue;
        }
        first.insert(name.clone(), name_at.pos.line);
        let Some((host, host_at)) = e.host else {
            out.error(&e.at, format!("engine '{name}' is missing 'host'"));
            continue;
        };
        if let Some(problem) = host_problem(&host) {
            out.error(&host_at, problem);
            continue;
        }
        let jobs = match e.jobs {
            None => DEFAULT_ENGINE_JOBS,
            Some((text, at)) => match text.trim().parse::<usize>() {
                Ok(n) if n >= 1 => n,
                _ => {
                    out.error(
                        &at,
                        format!("engine 'jobs' must be a whole number, at least 1, not '{text}'"),
                    );
                    continue;
                }
            },
        };
        let tls = match e.tls {
            Some((_, at)) if !host.starts_with("tcp://") && !host.starts_with("https://") => {
                out.error(&at, "'tls' is for a tcp:// or https:// host");
                continue;
            }
            Some((t, _)) => Some(dir.join(t)),
            None => None,
        };
        engines.push(EngineConfig {
            name,
            host,
            jobs,
            tls,
        });
    }
    engines
}

/// An image's `engine:` pin names an engine of the stack.
pub(crate) fn check_pin(pin: &str, at: &Loc, engines: &[EngineConfig], out: &mut Problems) {
    if engines.iter().any(|e| e.name == pin) {
        return;
    }
    if engines.is_empty() {
        out.error(
            at,
            format!("engine '{pin}' is not defined: the stack has no 'engines:' list"),
        );
        return;
    }
    let mut hint = did_you_mean(pin, engines.iter().map(|e| e.name.as_str()));
    if hint.is_empty() {
        let names: Vec<&str> = engines.iter().map(|e| e.name.as_str()).collect();
        hint = format!(" (engines: {})", names.join(", "));
    }
    out.error(at, format!("unknown engine '{pin}'{hint}"));
}

/// An engine name: `[a-z0-9][a-z0-9_.-]*`.
fn valid_engine_name(n: &str) -> bool {
    let b = n.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter().all(|&c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'.' | b'-')
        })
}

/// What is wrong with a `host:` value, if anything: a URL of a scheme
/// kiln knows with something after it, or a docker context's name.
pub fn host_problem(host: &str) -> Option<String> {
    const SCHEMES: &[&str] = &["unix://", "tcp://", "http://", "https://", "ssh://"];
    if let Some(rest) = SCHEMES.iter().find_map(|s| host.strip_prefix(s)) {
        if rest.is_empty() || rest.chars().any(char::is_whitespace) {
            return Some(format!(
                "engine host '{host}' has no address after its scheme"
            ));
        }
        return None;
    }
    if host.contains("://") {
        return Some(format!(
            "unsupported engine host '{host}': use unix://, tcp://, ssh:// or a docker context's name"
        ));
    }
    let b = host.as_bytes();
    let context_name = !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'+' | b'-'));
    (!context_name).then(|| {
        format!(
            "engine host '{host}' is neither a URL (unix://, tcp://, ssh://) nor a docker context's name"
        )
    })
}

/// The JSON Schema of `engines:`.
pub(crate) fn json_schema() -> Value {
    json!({
        "type": "array",
        "description": "The engines the stack builds on; the first collects every image",
        "items": {
            "type": "object",
            "properties": {
                "name": {"type": "string", "description": "The engine's name"},
                "host": {"type": "string", "description": "unix://, tcp://, ssh:// or a docker context's name"},
                "jobs": {"type": ["integer", "string"], "description": "Builds at once on it (default 2)"},
                "tls": {"type": "string", "description": "Directory with ca.pem, cert.pem, key.pem"},
            },
            "required": ["name", "host"],
            "additionalProperties": false,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(host_problem("unix:///run/x.sock"), None);
        assert_eq!(host_problem("tcp://10.0.0.2:2375"), None);
        assert_eq!(host_problem("ssh://me@box"), None);
        assert_eq!(host_problem("my-context"), None);
        assert!(host_problem("ftp://x").is_some());
        assert!(host_problem("tcp://").is_some());
        assert!(host_problem("a b").is_some());
    }
}
