//! A client for each engine of the stack, through `engine::connect` (the
//! same clients, TLS and docker contexts as `DOCKER_HOST` gets): each
//! pinged within `PING_TIMEOUT`, all at once; one that does not answer is
//! left out of the run with the reason.

use std::path::PathBuf;

use bollard::Docker;

use crate::config::EngineConfig;
use crate::engine::connect::{self, Endpoint, Env, Origin, ProcessEnv, Tls, PING_TIMEOUT};
use crate::engine::identify::{self, EngineInfo};

/// A reachable engine: its client, and what its builds need of it.
#[derive(Debug, Clone)]
pub struct Link {
    pub name: String,
    pub docker: Docker,
    pub endpoint: Endpoint,
    /// What it is (None: `/version` did not answer).
    pub engine: Option<EngineInfo>,
    /// "Docker Engine 20.10.24 (API 1.41)", "Podman 4.3.1 (Docker API 1.41)".
    pub version: String,
}

/// One engine of the stack at the start of a run.
pub struct Reached {
    pub config: EngineConfig,
    /// The link, or why the engine is out of the run.
    pub link: Result<Link, String>,
}

/// The environment of a docker context's resolution: as the process's, but
/// naming the context and no DOCKER_HOST.
struct ContextEnv<'a>(&'a str);

impl Env for ContextEnv<'_> {
    fn var(&self, name: &str) -> Option<String> {
        match name {
            "DOCKER_HOST" => None,
            "DOCKER_CONTEXT" => Some(self.0.to_string()),
            _ => ProcessEnv.var(name),
        }
    }
}

/// The endpoint an engine's `host:` names.
pub fn endpoint(e: &EngineConfig) -> Result<Endpoint, String> {
    if !e.host.contains("://") {
        return connect::resolve(&ContextEnv(&e.host)).map_err(|err| err.to_string());
    }
    let tls = e.tls.as_ref().map(|dir: &PathBuf| Tls {
        ca: dir.join("ca.pem"),
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    });
    Ok(Endpoint {
        host: e.host.clone(),
        origin: Origin::DockerHostEnv,
        tls,
    })
}

/// A connection error in the engine's words: the endpoint came from its
/// `host:`, not from DOCKER_HOST as `connect`'s messages would say.
fn said(err: &connect::ConnectError) -> String {
    err.to_string().replace(" (from DOCKER_HOST)", "")
}

/// Reach one engine: its client, pinged within `PING_TIMEOUT`, and what
/// it is; or why it cannot be reached.
pub async fn reach(e: &EngineConfig) -> Result<Link, String> {
    let ep = endpoint(e)?;
    let docker = connect::client(&ep).map_err(|err| said(&err))?;
    connect::ping(&docker, &ep)
        .await
        .map_err(|err| said(&err))?;
    let docker = match tokio::time::timeout(PING_TIMEOUT, docker.clone().negotiate_version()).await
    {
        Ok(Ok(d)) => d,
        _ => docker,
    };
    let engine = identify::identify(&docker).await;
    let version = engine
        .as_ref()
        .map_or_else(|| "engine ?".to_string(), EngineInfo::name);
    Ok(Link {
        name: e.name.clone(),
        docker,
        endpoint: ep,
        engine,
        version,
    })
}

/// Reach every engine at once (each bounded by the ping's timeout).
pub async fn connect_all(engines: &[EngineConfig]) -> Vec<Reached> {
    let tries = engines.iter().map(|e| async move {
        Reached {
            config: e.clone(),
            link: reach(e).await,
        }
    });
    futures::future::join_all(tries).await
}
