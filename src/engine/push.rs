//! One image's push: every tag in turn, reported as `EngineEvent`s.
//!
//! bollard's `PushImageInfo` drops the layer `id` and the `aux` digest, so
//! the push is a raw `POST /v{api}/images/{name}/push?tag={tag}` over a
//! hyper 1 connection of our own to the same daemon (unix socket or plain
//! TCP), each JSON line fed to [`parse_push_line`]. The API version is the
//! one bollard negotiated. For TLS (and any other transport) endpoints
//! this falls back to bollard's typed `push_image` with a notice: layer ids
//! are unknown there, so no per-layer progress, but the digest still comes
//! from the daemon's `<tag>: digest: … size: …` status line.
//!
//! Credentials come from `credentials.rs` and travel url-safe base64
//! encoded in `X-Registry-Auth`. No secret is ever logged or put in a
//! message.

use std::time::Duration;

use bollard::query_parameters::PushImageOptionsBuilder;
use bollard::Docker;
use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tokio_util::sync::CancellationToken;

use crate::config::{split_tag, ImageConfig};
use crate::engine::connect::{self, Endpoint, ProcessEnv, SshStream, SshTarget};
use crate::engine::credentials::{self, Credentials, HelperError, Store};
use crate::engine::parse::{classify_push_error, parse_push_line, parse_push_refusal};
use crate::engine::sink::Sink;
use crate::protocol::{DaemonPushError, EngineEvent, Phase, PushEvent};

/// Connecting to the daemon for a push must not hang.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How kiln reaches the daemon for the raw push stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    Unix(String),
    /// `host:port` of a plain-HTTP daemon.
    Tcp(String),
    /// A daemon over ssh (`docker system dial-stdio`).
    Ssh(SshTarget),
    /// TLS or anything else: bollard's typed push.
    Bollard,
}

impl Transport {
    pub fn of(ep: &Endpoint) -> Transport {
        if ep.tls.is_some() {
            return Transport::Bollard;
        }
        if let Some(Ok(target)) = ep.ssh() {
            return Transport::Ssh(target);
        }
        let host = ep.host.as_str();
        if let Some(path) = host.strip_prefix("unix://") {
            return Transport::Unix(path.to_string());
        }
        if let Some(rest) = host
            .strip_prefix("tcp://")
            .or_else(|| host.strip_prefix("http://"))
        {
            let authority = rest.split('/').next().unwrap_or(rest);
            return Transport::Tcp(authority.to_string());
        }
        Transport::Bollard
    }
}

/// Push every tag of `spec` from `docker`, reached at `endpoint` (None:
/// the daemon the environment names). Returns when done, failed, or
/// `cancel` fires (dropping the connection makes the daemon abort the
/// push).
pub async fn run(
    docker: Docker,
    endpoint: Option<Endpoint>,
    spec: ImageConfig,
    sink: Sink,
    cancel: CancellationToken,
) {
    tokio::select! {
        _ = cancel.cancelled() => {}
        _ = push_all(&docker, endpoint, &spec, &sink) => {}
    }
}

async fn fail(sink: &Sink, error: String) {
    sink.send(EngineEvent::Failed {
        phase: Phase::Push,
        error,
    })
    .await;
}

async fn push_all(docker: &Docker, endpoint: Option<Endpoint>, spec: &ImageConfig, sink: &Sink) {
    let endpoint = match endpoint {
        Some(ep) => Ok(ep),
        None => connect::resolve(&ProcessEnv),
    };
    let transport = endpoint.map_or(Transport::Bollard, |ep| Transport::of(&ep));
    if transport == Transport::Bollard
        && !sink
            .send(EngineEvent::Notice(
                "pushing through bollard (TLS daemon endpoint): no per-layer progress".into(),
            ))
            .await
    {
        return;
    }
    let pusher = match Pusher::new(docker, transport).await {
        Ok(p) => p,
        Err(e) => return fail(sink, e).await,
    };
    // Each tag's push stands alone: one failing does not stop the others.
    let mut failures = Vec::new();
    let mut pushed = Vec::new();
    for tag in &spec.tags {
        let creds = pusher.credentials(tag).await;
        if let Err(e) = &creds.lookup {
            // Go on without: a registry that needs none still works, and
            // one that does fails below, saying the lookup failed.
            sink.send(EngineEvent::Notice(format!(
                "{e}; pushing to {} without credentials",
                creds.registry
            )))
            .await;
        }
        match pusher.push(tag, &creds, sink).await {
            Ok(digest) => {
                pushed.push(tag.as_str());
                if !sink
                    .send(EngineEvent::Pushed {
                        tag: tag.clone(),
                        digest,
                    })
                    .await
                {
                    return;
                }
            }
            Err(Failure::Gone) => return,
            Err(Failure::Said(why)) => failures.push(why),
        }
    }
    match failures_message(spec.tags.len(), &failures, &pushed) {
        Some(error) => fail(sink, error).await,
        None => {
            sink.send(EngineEvent::PushDone).await;
        }
    }
}

/// One reference pushed from the daemon at `endpoint` (several engines'
/// transfer registry: `multi/registry.rs`), with the credentials
/// docker's config.json gives its registry; its progress goes to `sink`
/// as a push's does. Returns the manifest digest, or why not (never the
/// credentials).
pub async fn push_one(
    docker: &Docker,
    endpoint: &Endpoint,
    reference: &str,
    sink: &Sink,
) -> Result<String, String> {
    let pusher = Pusher::new(docker, Transport::of(endpoint)).await?;
    let creds = pusher.credentials(reference).await;
    pusher
        .push(reference, &creds, sink)
        .await
        .map_err(|failure| match failure {
            Failure::Gone => "kiln is shutting down".into(),
            Failure::Said(why) => why,
        })
}

/// What a push needs besides the reference: the daemon, how to reach it
/// for the raw stream, the API version bollard negotiated, and docker's
/// credentials (read once for every reference).
struct Pusher<'a> {
    docker: &'a Docker,
    transport: Transport,
    version: String,
    store: Store,
}

/// The credentials for one reference's registry, or why the lookup failed.
struct RegistryCredentials {
    registry: String,
    lookup: Result<Option<Credentials>, HelperError>,
}

/// Why one reference was not pushed.
enum Failure {
    /// The failure as one sentence naming the reference (and registry).
    Said(String),
    /// The app went away.
    Gone,
}

impl<'a> Pusher<'a> {
    async fn new(docker: &'a Docker, transport: Transport) -> Result<Pusher<'a>, String> {
        let store = match tokio::task::spawn_blocking(Store::from_env).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(format!("cannot read registry credentials: {e}")),
            Err(e) => return Err(format!("cannot read registry credentials: {e}")),
        };
        Ok(Pusher {
            docker,
            transport,
            version: docker.client_version().to_string(),
            store,
        })
    }

    async fn credentials(&self, reference: &str) -> RegistryCredentials {
        let registry = credentials::registry_of(reference);
        let lookup = self.store.get(&registry).await;
        RegistryCredentials { registry, lookup }
    }

    /// Push `reference` with `creds`; its manifest digest.
    async fn push(
        &self,
        reference: &str,
        creds: &RegistryCredentials,
        sink: &Sink,
    ) -> Result<String, Failure> {
        let found = creds.lookup.as_ref().ok().and_then(Option::as_ref);
        let result = match &self.transport {
            Transport::Bollard => push_typed(self.docker, reference, found, sink).await,
            t => push_raw(t, &self.version, reference, found, sink).await,
        };
        result.map_err(|e| match e {
            PushError::Gone => Failure::Gone,
            PushError::Daemon(error) => Failure::Said(explain(
                reference,
                &creds.registry,
                &error,
                &creds.lookup,
                &self.store,
            )),
            PushError::Other(msg) => Failure::Said(format!("push of {reference}: {msg}")),
        })
    }
}

/// The push's failure, naming every tag: the one failure of a one-tag
/// push as it is, else how many failed, each failure, and the tags pushed.
fn failures_message(tags: usize, failures: &[String], pushed: &[&str]) -> Option<String> {
    match failures {
        [] => None,
        [only] if tags == 1 => Some(only.clone()),
        _ => {
            let done = match pushed {
                [] => "none pushed".to_string(),
                _ => format!("pushed {}", pushed.join(", ")),
            };
            Some(format!(
                "{} of {tags} tags not pushed ({done}): {}",
                failures.len(),
                failures.join("; ")
            ))
        }
    }
}

enum PushError {
    /// The daemon's own error (from the stream or the response), classified
    /// where it was parsed.
    Daemon(DaemonPushError),
    /// Our side: connecting, reading, the stream ending early.
    Other(String),
    /// The app went away.
    Gone,
}

/// The failure as one sentence naming the tag and registry; authentication
/// errors say so, and where the credentials came from (never what they are)
/// or why there were none.
fn explain(
    tag: &str,
    registry: &str,
    error: &DaemonPushError,
    lookup: &Result<Option<Credentials>, HelperError>,
    store: &Store,
) -> String {
    match error {
        DaemonPushError::Authentication(msg) => {
            let hint = match lookup {
                Ok(Some(c)) => format!("the credentials from {} were rejected", c.source),
                Err(e) => format!("the credential lookup failed: {e}"),
                Ok(None) => format!(
                    "no credentials for {registry} in {} (docker login {registry})",
                    store
                        .path
                        .as_ref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|| "~/.docker/config.json".into())
                ),
            };
            format!(
                "authentication failed for registry {registry} pushing {tag}: {hint} (daemon: {msg})"
            )
        }
        DaemonPushError::NoSuchImage(msg) => format!("push of {tag}: {msg} (build it first)"),
        DaemonPushError::Other(msg) => format!("push of {tag} to {registry} failed: {msg}"),
    }
}

/// What one tag's push stream said so far: its manifest digest and the
/// daemon's first error.
#[derive(Default)]
struct Outcome {
    digest: Option<String>,
    error: Option<DaemonPushError>,
}

impl Outcome {
    /// The digest, unless the daemon reported an error or never named one.
    fn finish(self) -> Result<String, PushError> {
        match (self.error, self.digest) {
            (Some(e), _) => Err(PushError::Daemon(e)),
            (None, Some(d)) => Ok(d),
            (None, None) => Err(PushError::Other(
                "the daemon ended the push without a manifest digest".into(),
            )),
        }
    }
}

/// Forward one parsed line; remember the digest and the first error.
/// False when the app went away.
async fn forward(
    tag: &str,
    events: Vec<PushEvent>,
    sink: &Sink,
    outcome: &mut Outcome,
    layers_known: bool,
) -> bool {
    for ev in events {
        match ev {
            PushEvent::Digest { digest, .. } => outcome.digest = Some(digest),
            PushEvent::Error(e) => {
                outcome.error.get_or_insert(e);
            }
            PushEvent::Status(s) if !layers_known && is_layer_status(&s) => {}
            ev => {
                if !sink
                    .send(EngineEvent::Push {
                        tag: tag.to_string(),
                        event: ev,
                    })
                    .await
                {
                    return false;
                }
            }
        }
    }
    true
}

/// Per-layer words that, without a layer id, are noise.
fn is_layer_status(s: &str) -> bool {
    matches!(
        s,
        "Preparing" | "Waiting" | "Pushing" | "Pushed" | "Layer already exists"
    ) || s.starts_with("Mounted from")
        || s.starts_with("Retrying in")
}

/// A request sender on our own HTTP/1 connection to the daemon.
type Sender = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;

/// The raw push of one tag; returns its manifest digest.
async fn push_raw(
    transport: &Transport,
    version: &str,
    reference: &str,
    creds: Option<&Credentials>,
    sink: &Sink,
) -> Result<String, PushError> {
    let (host_header, mut sender) = connect_raw(transport).await?;
    let request = push_request(version, reference, &host_header, creds)?;
    let response =
        sender
            .send_request(request)
            .await
            .map_err(|e| match connect::ssh_failure(&e) {
                Some(ssh) => PushError::Other(ssh.to_string()),
                None => PushError::Other(format!("the daemon did not answer the push: {e}")),
            })?;
    let status = response.status();
    let body = response.into_body();
    if !status.is_success() {
        let bytes = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        return Err(PushError::Daemon(parse_push_refusal(status, &bytes)));
    }
    read_push_stream(reference, body, sink).await
}

/// A connection of our own to the daemon, and the `Host` header it wants.
async fn connect_raw(transport: &Transport) -> Result<(String, Sender), PushError> {
    match transport {
        Transport::Unix(path) => {
            let stream = connect_in_time(path, tokio::net::UnixStream::connect(path)).await?;
            Ok(("docker".to_string(), handshake(stream).await?))
        }
        Transport::Tcp(addr) => {
            let stream = connect_in_time(addr, tokio::net::TcpStream::connect(addr)).await?;
            Ok((addr.clone(), handshake(stream).await?))
        }
        Transport::Ssh(target) => {
            let stream = SshStream::dial(std::sync::Arc::new(target.clone()))
                .await
                .map_err(|e| PushError::Other(e.to_string()))?;
            Ok(("docker".to_string(), handshake(stream).await?))
        }
        Transport::Bollard => Err(PushError::Other("no raw transport to the daemon".into())),
    }
}

/// `connect`, given up on after [`CONNECT_TIMEOUT`].
async fn connect_in_time<S>(
    address: &str,
    connect: impl std::future::Future<Output = std::io::Result<S>>,
) -> Result<S, PushError> {
    tokio::time::timeout(CONNECT_TIMEOUT, connect)
        .await
        .map_err(|_| PushError::Other(format!("connecting to the daemon at {address} timed out")))?
        .map_err(|e| PushError::Other(format!("cannot connect to the daemon at {address}: {e}")))
}

async fn handshake<S>(stream: S) -> Result<Sender, PushError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| PushError::Other(format!("HTTP handshake with the daemon failed: {e}")))?;
    // Drives the connection; ends when the response is read or the sender
    // (and with it the push) is dropped.
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// `POST /v{version}/images/{name}/push?tag={tag}` with the credentials in
/// `X-Registry-Auth`.
fn push_request(
    version: &str,
    reference: &str,
    host_header: &str,
    creds: Option<&Credentials>,
) -> Result<http::Request<Empty<Bytes>>, PushError> {
    let (name, tag) = split_tag(reference);
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("tag", tag)
        .finish();
    http::Request::post(format!("/v{version}/images/{name}/push?{query}"))
        .header(http::header::HOST, host_header)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header("X-Registry-Auth", credentials::auth_header(creds))
        .body(Empty::<Bytes>::new())
        .map_err(|e| PushError::Other(format!("bad push request: {e}")))
}

/// Reads the push stream line by line, forwarding what it says; returns
/// the manifest digest.
async fn read_push_stream(
    reference: &str,
    mut body: hyper::body::Incoming,
    sink: &Sink,
) -> Result<String, PushError> {
    let mut buf: Vec<u8> = Vec::new();
    let mut outcome = Outcome::default();
    while let Some(frame) = body.frame().await {
        let frame = frame
            .map_err(|e| PushError::Other(format!("lost the push stream from the daemon: {e}")))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        buf.extend_from_slice(&data);
        while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            if !forward_line(reference, &line, sink, &mut outcome).await {
                return Err(PushError::Gone);
            }
        }
    }
    if !buf.is_empty() && !forward_line(reference, &buf, sink, &mut outcome).await {
        return Err(PushError::Gone);
    }
    outcome.finish()
}

/// One raw line of the push stream: forwarded, or a notice when it is not
/// JSON. False when the app went away.
async fn forward_line(reference: &str, line: &[u8], sink: &Sink, outcome: &mut Outcome) -> bool {
    match parse_push_line(line) {
        Ok(events) => forward(reference, events, sink, outcome, true).await,
        Err(e) => {
            sink.send(EngineEvent::Notice(format!("push of {reference}: {e}")))
                .await
        }
    }
}

/// Fallback (TLS endpoints): bollard's typed push. Its items lack layer ids
/// and `aux`; the digest still arrives as a status line.
async fn push_typed(
    docker: &Docker,
    reference: &str,
    creds: Option<&Credentials>,
    sink: &Sink,
) -> Result<String, PushError> {
    let (name, tag) = split_tag(reference);
    // bollard encodes X-Registry-Auth as standard base64: re-encode.
    let docker = credentials::url_safe_registry_headers(docker.clone());
    let options = PushImageOptionsBuilder::new().tag(tag).build();
    let mut stream = docker.push_image(name, Some(options), creds.map(|c| c.to_docker()));
    let mut outcome = Outcome::default();
    while let Some(item) = stream.next().await {
        let events = match item {
            Ok(info) => serde_json::to_vec(&info)
                .ok()
                .and_then(|line| parse_push_line(&line).ok())
                .unwrap_or_default(),
            Err(bollard::errors::Error::DockerStreamError { error }) => {
                vec![PushEvent::Error(classify_push_error(&error))]
            }
            Err(bollard::errors::Error::DockerResponseServerError { message, .. }) => {
                vec![PushEvent::Error(classify_push_error(&message))]
            }
            Err(e) => {
                return Err(PushError::Other(format!(
                    "lost the push stream from the daemon: {e}"
                )))
            }
        };
        if !forward(reference, events, sink, &mut outcome, false).await {
            return Err(PushError::Gone);
        }
    }
    outcome.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::connect::Origin;

    #[test]
    fn a_failed_tag_is_named_with_the_others() {
        let one = vec!["push of a:1 to docker.io failed: denied".to_string()];
        assert_eq!(failures_message(1, &one, &[]), Some(one[0].clone()));
        assert_eq!(failures_message(2, &[], &["a:1", "b:1"]), None);
        assert_eq!(
            failures_message(3, &one, &["r/a:1", "r/a:2"]).as_deref(),
            Some("1 of 3 tags not pushed (pushed r/a:1, r/a:2): push of a:1 to docker.io failed: denied")
        );
        let two = vec!["x".to_string(), "y".to_string()];
        assert_eq!(
            failures_message(2, &two, &[]).as_deref(),
            Some("2 of 2 tags not pushed (none pushed): x; y")
        );
    }

    #[test]
    fn transports_follow_the_endpoint() {
        let ep = |host: &str, tls: bool| Endpoint {
            host: host.into(),
            origin: Origin::Default,
            tls: tls.then(|| connect::Tls {
                ca: "ca".into(),
                cert: "c".into(),
                key: "k".into(),
            }),
        };
        assert_eq!(
            Transport::of(&ep("unix:///var/run/docker.sock", false)),
            Transport::Unix("/var/run/docker.sock".into())
        );
        assert_eq!(
            Transport::of(&ep("tcp://1.2.3.4:2375", false)),
            Transport::Tcp("1.2.3.4:2375".into())
        );
        assert_eq!(
            Transport::of(&ep("http://h:2375/", false)),
            Transport::Tcp("h:2375".into())
        );
        assert_eq!(Transport::of(&ep("tcp://h:2376", true)), Transport::Bollard);
        assert_eq!(
            Transport::of(&ep("ssh://me@h:2222", false)),
            Transport::Ssh(SshTarget {
                user: Some("me".into()),
                host: "h".into(),
                port: Some(2222)
            })
        );
    }

    #[test]
    fn auth_failures_name_the_registry_and_never_the_secret() {
        let store = Store::default();
        let msg = explain(
            "r:5/x:1",
            "r:5",
            &classify_push_error("unauthorized: authentication required"),
            &Ok(None),
            &store,
        );
        assert!(
            msg.starts_with("authentication failed for registry r:5"),
            "{msg}"
        );
        assert!(msg.contains("docker login r:5"), "{msg}");
        let creds = Credentials {
            username: Some("u".into()),
            password: Some("sekrit".into()),
            identity_token: None,
            server_address: "r:5".into(),
            source: credentials::Source::Helper("kilntest".into()),
        };
        let msg = explain(
            "r:5/x:1",
            "r:5",
            &classify_push_error("no basic auth credentials"),
            &Ok(Some(creds)),
            &store,
        );
        assert!(
            msg.contains("docker-credential-kilntest were rejected"),
            "{msg}"
        );
        assert!(!msg.contains("sekrit"));
        let refused = classify_push_error("connection refused");
        let msg = explain("r:5/x:1", "r:5", &refused, &Ok(None), &store);
        assert_eq!(msg, "push of r:5/x:1 to r:5 failed: connection refused");
        let missing = DaemonPushError::NoSuchImage("no such image".into());
        let msg = explain("r:5/x:1", "r:5", &missing, &Ok(None), &store);
        assert_eq!(msg, "push of r:5/x:1: no such image (build it first)");
    }
}
