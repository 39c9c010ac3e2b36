//! The stack's engines: the top-level `engines:` of kiln.yaml (compose:
//! `x-kiln: engines`), a list of `{name, host, jobs, tls}`, the images'
//! `engine:` pins, and `transfer_registry:`, the registry images move
//! through between engines. Both formats read each entry into a [`RawEngine`] (the
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

/// `transfer_registry:` (compose: `x-kiln: transfer_registry`): a registry
/// every engine reaches, through which images move between engines (pushed
/// from one, pulled by digest on the other) instead of `docker save`
/// streamed into `docker load` through kiln.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferRegistry {
    /// `HOST[:PORT]`: where the daemons push and pull, with the
    /// credentials docker's config.json gives it.
    pub host: String,
    /// The repository path under it (may be empty): `kiln` in
    /// `registry.lan:5000/kiln`.
    pub prefix: String,
}

impl TransferRegistry {
    /// Reads `HOST[:PORT][/PREFIX]`; the message says what to write instead.
    pub fn parse(text: &str) -> Result<TransferRegistry, String> {
        const SHAPE: &str = "use HOST[:PORT][/PREFIX], e.g. registry.lan:5000/kiln";
        let t = text.trim();
        if t.contains("://") {
            return Err(format!(
                "transfer_registry '{t}' has a scheme: {SHAPE} (the daemons choose https, or http for an insecure registry)"
            ));
        }
        let (host, prefix) = t.split_once('/').unwrap_or((t, ""));
        let prefix = prefix.trim_end_matches('/');
        let is_host = host == "localhost" || host.contains('.') || host.contains(':');
        if !is_host {
            return Err(format!(
                "transfer_registry '{t}' does not start with a registry host (a name with a '.' or a ':PORT', or localhost): {SHAPE}"
            ));
        }
        if prefix.contains([':', '@']) {
            return Err(format!(
                "transfer_registry '{t}' has a tag or digest: {SHAPE}"
            ));
        }
        let probe = if prefix.is_empty() {
            format!("{host}/kiln-transfer:x")
        } else {
            format!("{host}/{prefix}/kiln-transfer:x")
        };
        match super::reference::check_reference(&probe) {
            Ok(false) => Ok(TransferRegistry {
                host: host.to_string(),
                prefix: prefix.to_string(),
            }),
            Ok(true) => Err(format!("transfer_registry '{t}' has a digest: {SHAPE}")),
            Err(_) if prefix != prefix.to_ascii_lowercase() => Err(format!(
                "transfer_registry '{t}': the repository path must be lowercase"
            )),
            Err(_) => Err(format!(
                "transfer_registry '{t}' is not a registry and repository path: {SHAPE}"
            )),
        }
    }

    /// The repository an image named `name` moves through:
    /// `HOST[:PORT]/PREFIX/NAME`.
    pub fn repository(&self, name: &str) -> String {
        match self.prefix.as_str() {
            "" => format!("{}/{name}", self.host),
            p => format!("{}/{p}/{name}", self.host),
        }
    }
}

impl std::fmt::Display for TransferRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.prefix.as_str() {
            "" => f.write_str(&self.host),
            p => write!(f, "{}/{p}", self.host),
        }
    }
}

/// `transfer_registry:` as written, checked: its value, and a warning when
/// the stack has no engines for it to serve.
pub(crate) fn check_registry(
    raw: Option<(String, Loc)>,
    engines: &[EngineConfig],
    out: &mut Problems,
) -> Option<TransferRegistry> {
    let (text, at) = raw?;
    match TransferRegistry::parse(&text) {
        Ok(r) if engines.is_empty() => {
            out.warn(
                &at,
                "'transfer_registry' does nothing without 'engines:': images move between engines only",
            );
            Some(r)
        }
        Ok(r) => Some(r),
        Err(e) => {
            out.error(&at, e);
            None
        }
    }
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
    fn transfer_registries() {
        let r = TransferRegistry::parse("10.0.0.1:5050/kiln/moves").unwrap();
        assert_eq!(r.host, "10.0.0.1:5050");
        assert_eq!(r.repository("base"), "10.0.0.1:5050/kiln/moves/base");
        assert_eq!(r.to_string(), "10.0.0.1:5050/kiln/moves");
        let bare = TransferRegistry::parse("registry.lan").unwrap();
        assert_eq!(bare.repository("a"), "registry.lan/a");
        assert!(TransferRegistry::parse("localhost/x/").is_ok());
        for bad in [
            "https://r.lan/x",
            "kiln/moves",
            "r.lan/Kiln",
            "r.lan/x:1",
            "r.lan/x@sha256:00",
            "",
            "r.lan/a//b",
        ] {
            assert!(TransferRegistry::parse(bad).is_err(), "{bad}");
        }
    }

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
