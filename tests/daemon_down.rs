//! A daemon that stops answering while kiln runs (the dashboard stays
//! open): a build then fails saying what kiln says at start, `cannot
//! reach the Docker daemon at ENDPOINT`, and never takes the BuildKit
//! fallback ("BuildKit could not start …; falling back"), which would only
//! fail the same way with a worse message. No daemon needed.
#![allow(clippy::unwrap_used, clippy::string_slice)]

use bollard::Docker;
use kiln::engine::build::{self, BuildFlags};
use kiln::engine::connect::{Endpoint, Origin};
use kiln::engine::report::Report;
use kiln::engine::sink::Sink;
use kiln::protocol::{ChangeCheck, EngineEvent};
use tokio_util::sync::CancellationToken;

/// What the engine reports building a one-image stack on `host`.
async fn build_on(host: &str, docker: Docker) -> Vec<EngineEvent> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("x")).unwrap();
    std::fs::write(dir.path().join("x/Dockerfile"), "FROM scratch\n").unwrap();
    let env = |_: &str| None;
    let config = kiln::config::load_str(
        &dir.path().join("kiln.yaml"),
        "images:\n  - {name: x, tags: [\"x:1\"]}\n",
        &env,
    )
    .expect("valid")
    .config;
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let flags = BuildFlags {
        buildkit_available: true,
        endpoint: Some(Endpoint {
            host: host.to_string(),
            origin: Origin::DockerHostEnv,
            tls: None,
        }),
        ..BuildFlags::default()
    };
    let sink = Sink::new(tx, 1, 0);
    build::run(
        docker,
        config.images[0].clone(),
        flags,
        ChangeCheck::Off,
        sink,
        CancellationToken::new(),
    )
    .await;
    let mut out = Vec::new();
    while let Ok(Report::Run { event, .. }) = rx.try_recv() {
        out.push(event);
    }
    out
}

fn check(host: &str, events: &[EngineEvent], reason: &str) {
    let failures: Vec<&String> = events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::Failed { error, .. } => Some(error),
            _ => None,
        })
        .collect();
    assert_eq!(failures.len(), 1, "{events:?}");
    let error = failures[0];
    assert!(
        error.starts_with(&format!(
            "cannot reach the Docker daemon at {host} (from DOCKER_HOST): {reason}"
        )),
        "{error}"
    );
    let notices: Vec<&String> = events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::Notice(n) => Some(n),
            _ => None,
        })
        .collect();
    assert!(
        !notices
            .iter()
            .any(|n| n.contains("falling back") || n.contains("BuildKit")),
        "{notices:?}"
    );
}

/// Builds on `host`, with the environment naming it too (as when kiln
/// runs: its own connections, the BuildKit session's, resolve it there).
async fn build_on_dead(host: &str, docker: Docker) -> Vec<EngineEvent> {
    // One test at a time changes the environment (this file's only test).
    std::env::set_var("DOCKER_HOST", host);
    build_on(host, docker).await
}

#[tokio::test]
async fn a_daemon_that_is_gone_is_named_not_fallen_back_from() {
    // The daemon was there when kiln started, then stopped (its socket
    // removed).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("docker.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let host = format!("unix://{}", path.display());
    let docker = Docker::connect_with_unix(&host, 5, bollard::API_DEFAULT_VERSION).unwrap();
    drop(listener);
    std::fs::remove_file(&path).unwrap();
    check(&host, &build_on_dead(&host, docker).await, "no such socket");

    // A socket file nobody listens on any more.
    let path = dir.path().join("refused.sock");
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    let host = format!("unix://{}", path.display());
    let docker = Docker::connect_with_unix(&host, 5, bollard::API_DEFAULT_VERSION).unwrap();
    check(
        &host,
        &build_on_dead(&host, docker).await,
        "connection refused",
    );

    // A TCP port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let host = format!("tcp://127.0.0.1:{port}");
    let docker = Docker::connect_with_http(&host, 5, bollard::API_DEFAULT_VERSION).unwrap();
    check(
        &host,
        &build_on_dead(&host, docker).await,
        "connection refused",
    );
}
