//! Finding and reaching the Docker daemon the way the docker CLI does:
//! DOCKER_HOST, else DOCKER_CONTEXT, else config.json's `currentContext`,
//! else the local socket. bollard knows nothing of contexts, so they are read
//! here from `$DOCKER_CONFIG/contexts` (meta and TLS material are stored
//! under the sha256 of the context's name).
//!
//! `ssh://` hosts are reached as the docker CLI reaches them, through
//! `ssh … docker system dial-stdio` ([`ssh`], one process per connection,
//! [`pipe`]), the processes sharing one ssh login ([`mux`]).
//!
//! Every failure becomes one sentence naming the endpoint tried and how it
//! was chosen; nothing here may hang (pings are bounded).

mod mux;
mod pipe;
pub mod ssh;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bollard::{BollardRequest, Docker, API_DEFAULT_VERSION};
use hyper_util::rt::TokioExecutor;
use sha2::{Digest, Sha256};

pub use pipe::SshStream;
pub use ssh::{SshError, SshTarget};

/// The default local socket.
pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// How long a ping may take before the daemon counts as unreachable.
pub const PING_TIMEOUT: Duration = Duration::from_secs(5);

/// The same over ssh, whose first connection logs in and starts the
/// remote docker CLI first: longer than twice ssh's ConnectTimeout (the
/// shared login's attempt, then the connection's own), so that a host ssh
/// cannot reach is reported as ssh says it.
pub const SSH_PING_TIMEOUT: Duration = Duration::from_secs(25);

/// How long an idle connection over ssh (an ssh process) is kept for reuse.
const SSH_IDLE: Duration = Duration::from_secs(30);

/// bollard's per-request timeout covers only the wait for response headers;
/// a big context upload happens inside it, so it must be generous.
const REQUEST_TIMEOUT_SECS: u64 = 3600;

/// Where the endpoint came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    DockerHostEnv,
    DockerContextEnv(String),
    CurrentContext(String),
    Default,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::DockerHostEnv => write!(f, "from DOCKER_HOST"),
            Origin::DockerContextEnv(n) => write!(f, "from DOCKER_CONTEXT={n}"),
            Origin::CurrentContext(n) => {
                write!(f, "from the current docker context '{n}' in config.json")
            }
            Origin::Default => write!(f, "the default; set DOCKER_HOST to use another"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub origin: Origin,
    pub tls: Option<Tls>,
}

/// Environment the resolution reads; injected so tests need not touch the
/// process environment.
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot reach the Docker daemon at {host} ({origin}): {reason} — {hint}")]
    Unreachable {
        host: String,
        origin: Origin,
        reason: String,
        hint: &'static str,
    },
    #[error("docker context '{name}' ({origin}) is not usable: {reason}")]
    BadContext {
        name: String,
        origin: Origin,
        reason: String,
    },
    #[error(
        "unsupported Docker host '{host}' ({origin}): use unix://, tcp://, http://, https:// or ssh://"
    )]
    Unsupported { host: String, origin: Origin },
    #[error("bad ssh:// Docker host '{host}' ({origin}): {reason}")]
    BadSshHost {
        host: String,
        origin: Origin,
        reason: String,
    },
    #[error("cannot reach the Docker daemon at {host} ({origin}): {error}")]
    Ssh {
        host: String,
        origin: Origin,
        error: Box<SshError>,
    },
}

/// The docker CLI's config dir: $DOCKER_CONFIG or ~/.docker.
pub fn docker_config_dir(env: &dyn Env) -> Option<PathBuf> {
    if let Some(d) = env.var("DOCKER_CONFIG") {
        return Some(PathBuf::from(d));
    }
    env.var("HOME").map(|h| Path::new(&h).join(".docker"))
}

/// Decide which daemon to talk to, as the docker CLI would.
pub fn resolve(env: &dyn Env) -> Result<Endpoint, ConnectError> {
    if let Some(host) = env.var("DOCKER_HOST") {
        let tls = if env.var("DOCKER_TLS_VERIFY").is_some() {
            let dir = env
                .var("DOCKER_CERT_PATH")
                .map(PathBuf::from)
                .or_else(|| docker_config_dir(env))
                .unwrap_or_else(|| PathBuf::from("."));
            Some(Tls {
                ca: dir.join("ca.pem"),
                cert: dir.join("cert.pem"),
                key: dir.join("key.pem"),
            })
        } else {
            None
        };
        return Ok(Endpoint {
            host,
            origin: Origin::DockerHostEnv,
            tls,
        });
    }
    let config_dir = docker_config_dir(env);
    let (name, origin) = if let Some(name) = env.var("DOCKER_CONTEXT") {
        (name.clone(), Origin::DockerContextEnv(name))
    } else if let Some(name) = config_dir.as_deref().and_then(current_context) {
        (name.clone(), Origin::CurrentContext(name))
    } else {
        return Ok(default_endpoint());
    };
    if name == "default" {
        return Ok(default_endpoint());
    }
    let dir = config_dir.ok_or_else(|| ConnectError::BadContext {
        name: name.clone(),
        origin: origin.clone(),
        reason: "no docker config directory (set HOME or DOCKER_CONFIG)".into(),
    })?;
    context_endpoint(&dir, &name, origin)
}

fn default_endpoint() -> Endpoint {
    Endpoint {
        host: DEFAULT_HOST.into(),
        origin: Origin::Default,
        tls: None,
    }
}

fn current_context(config_dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(config_dir.join("config.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("currentContext")?
        .as_str()
        .filter(|s| !s.is_empty())
        .map(String::from)
}

fn context_endpoint(
    config_dir: &Path,
    name: &str,
    origin: Origin,
) -> Result<Endpoint, ConnectError> {
    let bad = |reason: String| ConnectError::BadContext {
        name: name.to_string(),
        origin: origin.clone(),
        reason,
    };
    let id = hex::encode(Sha256::digest(name.as_bytes()));
    let meta_path = config_dir.join("contexts/meta").join(&id).join("meta.json");
    let text = std::fs::read_to_string(&meta_path)
        .map_err(|e| bad(format!("cannot read {}: {e}", meta_path.display())))?;
    let meta: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| bad(format!("{} is not valid JSON: {e}", meta_path.display())))?;
    let docker = &meta["Endpoints"]["docker"];
    let host = docker["Host"]
        .as_str()
        .ok_or_else(|| {
            bad(format!(
                "{} has no Endpoints.docker.Host",
                meta_path.display()
            ))
        })?
        .to_string();
    let tls_dir = config_dir.join("contexts/tls").join(&id).join("docker");
    let tls = tls_dir.join("ca.pem").exists().then(|| Tls {
        ca: tls_dir.join("ca.pem"),
        cert: tls_dir.join("cert.pem"),
        key: tls_dir.join("key.pem"),
    });
    Ok(Endpoint { host, origin, tls })
}

/// A client for the endpoint (no network traffic yet).
pub fn client(ep: &Endpoint) -> Result<Docker, ConnectError> {
    let unreachable = |e: bollard::errors::Error| {
        let (reason, hint) = explain(&e);
        ConnectError::Unreachable {
            host: ep.host.clone(),
            origin: ep.origin.clone(),
            reason,
            hint,
        }
    };
    let host = ep.host.as_str();
    if let Some(path) = host.strip_prefix("unix://") {
        return Docker::connect_with_unix(path, REQUEST_TIMEOUT_SECS, API_DEFAULT_VERSION)
            .map_err(unreachable);
    }
    if host.starts_with("tcp://") || host.starts_with("http://") || host.starts_with("https://") {
        if let Some(tls) = &ep.tls {
            return Docker::connect_with_ssl(
                host,
                &tls.key,
                &tls.cert,
                &tls.ca,
                REQUEST_TIMEOUT_SECS,
                API_DEFAULT_VERSION,
            )
            .map_err(|e| ConnectError::Unreachable {
                host: ep.host.clone(),
                origin: ep.origin.clone(),
                reason: format!("TLS setup failed: {e}"),
                hint: "check DOCKER_CERT_PATH (ca.pem, cert.pem, key.pem)",
            });
        }
        let addr = host.replacen("tcp://", "http://", 1);
        return Docker::connect_with_http(&addr, REQUEST_TIMEOUT_SECS, API_DEFAULT_VERSION)
            .map_err(unreachable);
    }
    if host.starts_with("ssh://") {
        let target = ep.ssh_target()?;
        return ssh_client(target).map_err(unreachable);
    }
    Err(ConnectError::Unsupported {
        host: ep.host.clone(),
        origin: ep.origin.clone(),
    })
}

impl Endpoint {
    /// Where an `ssh://` endpoint points; None for any other scheme.
    pub fn ssh(&self) -> Option<Result<SshTarget, ConnectError>> {
        self.host.starts_with("ssh://").then(|| self.ssh_target())
    }

    fn ssh_target(&self) -> Result<SshTarget, ConnectError> {
        SshTarget::parse(&self.host).map_err(|reason| ConnectError::BadSshHost {
            host: crate::sanitize::visible(&ssh::without_password(&self.host)).into_owned(),
            origin: self.origin.clone(),
            reason,
        })
    }

    /// How long a ping may take at this endpoint.
    pub fn ping_timeout(&self) -> Duration {
        if self.host.starts_with("ssh://") {
            SSH_PING_TIMEOUT
        } else {
            PING_TIMEOUT
        }
    }
}

/// A client whose connections are ssh processes (see [`pipe`]), kept alive
/// and reused while the client lives.
fn ssh_client(target: SshTarget) -> Result<Docker, bollard::errors::Error> {
    let http = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .pool_idle_timeout(SSH_IDLE)
        .pool_timer(hyper_util::rt::TokioTimer::new())
        .build(pipe::Connector::new(target));
    let http = Arc::new(http);
    let transport = move |req: BollardRequest| {
        let http = Arc::clone(&http);
        async move {
            http.request(req)
                .await
                .map_err(bollard::errors::Error::from)
        }
    };
    // The address only names the Host header ("docker", as the CLI's).
    Docker::connect_with_custom_transport(
        transport,
        Some("http://docker"),
        REQUEST_TIMEOUT_SECS,
        API_DEFAULT_VERSION,
    )
}

/// Ping within the endpoint's time (`PING_TIMEOUT`, `SSH_PING_TIMEOUT`);
/// the error names the endpoint and its origin.
pub async fn ping(docker: &Docker, ep: &Endpoint) -> Result<(), ConnectError> {
    let limit = ep.ping_timeout();
    let result = tokio::time::timeout(limit, docker.ping()).await;
    let (reason, hint) = match result {
        Ok(Ok(_)) => return Ok(()),
        Ok(Err(e)) => {
            if let Some(error) = ssh_failure(&e) {
                return Err(ConnectError::Ssh {
                    host: ep.host.clone(),
                    origin: ep.origin.clone(),
                    error: Box::new(error),
                });
            }
            explain(&e)
        }
        Err(_) => (
            format!("no answer within {}s", limit.as_secs()),
            "is the daemon overloaded, or is that address something else?",
        ),
    };
    Err(ConnectError::Unreachable {
        host: ep.host.clone(),
        origin: ep.origin.clone(),
        reason,
        hint,
    })
}

/// The ssh failure that broke a request to a daemon over ssh, if that is
/// what happened.
pub fn ssh_failure(e: &(dyn std::error::Error + 'static)) -> Option<SshError> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(ssh) = s.downcast_ref::<SshError>() {
            return Some(ssh.clone());
        }
        // io::Error's source skips the error it wraps.
        if let Some(ssh) = s
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<SshError>())
        {
            return Some(ssh.clone());
        }
        source = s.source();
    }
    None
}

/// Resolve, connect, ping and negotiate the API version.
pub async fn connect(env: &dyn Env) -> Result<(Docker, Endpoint), ConnectError> {
    let ep = resolve(env)?;
    let docker = client(&ep)?;
    ping(&docker, &ep).await?;
    // Older daemons (like Engine 20.10, API 1.41) reject newer API paths.
    let docker = match tokio::time::timeout(PING_TIMEOUT, docker.clone().negotiate_version()).await
    {
        Ok(Ok(d)) => d,
        _ => docker,
    };
    Ok((docker, ep))
}

/// When a request failed because the daemon could not be reached (no
/// socket, connection refused, not permitted, no connection made), what
/// kiln says when it cannot reach the daemon at start (`cannot reach the
/// Docker daemon at ENDPOINT …`); None for any other failure. `ep` is the
/// endpoint in use (resolved from the environment when not known).
pub fn unreachable(e: &bollard::errors::Error, ep: Option<&Endpoint>) -> Option<ConnectError> {
    if !is_connect_failure(e) {
        return None;
    }
    let ep = match ep {
        Some(ep) => ep.clone(),
        None => resolve(&ProcessEnv).unwrap_or_else(|_| default_endpoint()),
    };
    if let Some(error) = ssh_failure(e) {
        return Some(ConnectError::Ssh {
            host: ep.host,
            origin: ep.origin,
            error: Box::new(error),
        });
    }
    let (reason, hint) = explain(e);
    Some(ConnectError::Unreachable {
        host: ep.host,
        origin: ep.origin,
        reason,
        hint,
    })
}

/// Why a request to the daemon failed, in a few words (`connection
/// refused`, `no such socket`), for "the Docker daemon is not answering".
pub fn failure_reason(e: &bollard::errors::Error) -> String {
    match ssh_failure(e) {
        Some(ssh) => ssh.to_string(),
        None => explain(e).0,
    }
}

/// Whether `e` says no connection to the daemon could be made (not: a
/// connection that broke, or a request body that could not be read).
fn is_connect_failure(e: &bollard::errors::Error) -> bool {
    if ssh_failure(e).is_some() {
        return true;
    }
    match e {
        bollard::errors::Error::SocketNotFoundError(_) => true,
        bollard::errors::Error::HyperLegacyError { err } => err.is_connect(),
        _ => false,
    }
}

/// The innermost cause of a connection error, in words, and a hint.
fn explain(e: &bollard::errors::Error) -> (String, &'static str) {
    if let bollard::errors::Error::SocketNotFoundError(_) = e {
        return (
            "no such socket".into(),
            "is dockerd running? (start it, or point DOCKER_HOST at the right socket)",
        );
    }
    let mut source: Option<&dyn std::error::Error> = Some(e);
    let mut io_kind = None;
    let mut deepest = e.to_string();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            io_kind = Some(io.kind());
        }
        deepest = s.to_string();
        source = s.source();
    }
    use std::io::ErrorKind::*;
    match io_kind {
        Some(NotFound) => (
            "no such socket".into(),
            "is dockerd running? (start it, or point DOCKER_HOST at the right socket)",
        ),
        Some(ConnectionRefused) => ("connection refused".into(), "is dockerd running?"),
        Some(PermissionDenied) => (
            "permission denied".into(),
            "add yourself to the 'docker' group, or run with access to the socket",
        ),
        _ => (deepest, "is dockerd running and reachable?"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct MapEnv(HashMap<&'static str, String>);
    impl Env for MapEnv {
        fn var(&self, name: &str) -> Option<String> {
            self.0.get(name).cloned()
        }
    }

    #[test]
    fn docker_host_wins_over_contexts() {
        let env = MapEnv(HashMap::from([
            ("DOCKER_HOST", "tcp://1.2.3.4:2375".to_string()),
            ("DOCKER_CONTEXT", "remote".to_string()),
        ]));
        let ep = resolve(&env).unwrap();
        assert_eq!(ep.host, "tcp://1.2.3.4:2375");
        assert_eq!(ep.origin, Origin::DockerHostEnv);
        assert_eq!(ep.tls, None);
    }

    #[test]
    fn tls_verify_uses_cert_path() {
        let env = MapEnv(HashMap::from([
            ("DOCKER_HOST", "tcp://h:2376".to_string()),
            ("DOCKER_TLS_VERIFY", "1".to_string()),
            ("DOCKER_CERT_PATH", "/certs".to_string()),
        ]));
        let tls = resolve(&env).unwrap().tls.unwrap();
        assert_eq!(tls.ca, PathBuf::from("/certs/ca.pem"));
        assert_eq!(tls.key, PathBuf::from("/certs/key.pem"));
    }

    #[test]
    fn context_from_config_json_is_read_from_its_hashed_dir() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"currentContext":"remote"}"#,
        )
        .unwrap();
        let id = hex::encode(Sha256::digest(b"remote"));
        let meta = dir.path().join("contexts/meta").join(&id);
        std::fs::create_dir_all(&meta).unwrap();
        std::fs::write(
            meta.join("meta.json"),
            r#"{"Name":"remote","Endpoints":{"docker":{"Host":"tcp://10.0.0.5:2376"}}}"#,
        )
        .unwrap();
        let tls = dir.path().join("contexts/tls").join(&id).join("docker");
        std::fs::create_dir_all(&tls).unwrap();
        std::fs::write(tls.join("ca.pem"), "x").unwrap();
        let env = MapEnv(HashMap::from([(
            "DOCKER_CONFIG",
            dir.path().display().to_string(),
        )]));
        let ep = resolve(&env).unwrap();
        assert_eq!(ep.host, "tcp://10.0.0.5:2376");
        assert_eq!(ep.origin, Origin::CurrentContext("remote".into()));
        assert_eq!(ep.tls.unwrap().cert, tls.join("cert.pem"));
    }

    #[test]
    fn missing_context_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let env = MapEnv(HashMap::from([
            ("DOCKER_CONFIG", dir.path().display().to_string()),
            ("DOCKER_CONTEXT", "nope".to_string()),
        ]));
        let err = resolve(&env).unwrap_err().to_string();
        assert!(
            err.starts_with(
                "docker context 'nope' (from DOCKER_CONTEXT=nope) is not usable: cannot read"
            ),
            "{err}"
        );
    }

    #[test]
    fn default_context_means_local_socket() {
        let env = MapEnv(HashMap::from([("DOCKER_CONTEXT", "default".to_string())]));
        assert_eq!(resolve(&env).unwrap().host, DEFAULT_HOST);
    }
}
