//! kiln's own BuildKit session, through which a BuildKit build of a local
//! directory reads its context, as `DOCKER_BUILDKIT=1 docker build` does:
//! the build request says `remote=client-session` and carries no body, and
//! the daemon pulls the files it needs over the session's `FileSync`
//! service ([`filesync`]): only what the Dockerfile uses, and only files
//! that changed since the last build of the same directory.
//!
//! The session is a hijacked `POST /session` (`Upgrade: h2c`) on a
//! connection of kiln's own to the daemon (unix socket or plain TCP), with
//! the `X-Docker-Expose-Session-*` headers naming the session, its shared
//! key and the gRPC methods served; kiln then serves HTTP/2 gRPC on that
//! connection: Health, FileSync (two directories, `context` and
//! `dockerfile`), Auth (registry credentials for base images), Secrets
//! (`secrets.rs`: build secrets) and SSH (`sshforward.rs`: SSH agents,
//! key files through an agent of kiln's own, `keyagent.rs`).
//! bollard's session cannot carry FileSync (its service list is private)
//! and its BuildKit `build_image` always uploads a tar, hence this module.
//!
//! The shared key is the docker CLI's: sha256 of `<node id>:<directory>`,
//! the node id being the random `.buildNodeID` kept in the docker config
//! dir, so the daemon reuses its copy of the context across builds (and
//! with the docker CLI for the same directory).

mod auth;
mod copies;
mod filesync;
mod keyagent;
mod secrets;
mod sshforward;
mod walk;
mod wire;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bollard::auth::DockerCredentials;
use bollard::Docker;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::upgrade::Upgraded;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::task::JoinHandle;

use crate::config::{BuildSecret, SshForward, SshSource};
use crate::engine::connect::{self, ProcessEnv};
use crate::engine::context::DockerfilePlace;
use crate::engine::push::Transport;

use auth::{AuthService, HealthService};
use bollard_buildkit_proto::health::health_server::HealthServer;
use bollard_buildkit_proto::moby::buildkit::secrets::v1::secrets_server::SecretsServer;
use bollard_buildkit_proto::moby::filesync::v1::auth_server::AuthServer;
use bollard_buildkit_proto::moby::sshforward::v1::ssh_server::SshServer;
use copies::Copies;
use filesync::{DirSource, FileSyncService, SyncedDir, TransferStats};
use keyagent::KeyAgent;
use secrets::SecretsService;
use sshforward::SshService;

/// Connecting to the daemon and its answer to the upgrade must not hang.
const DIAL_TIMEOUT: Duration = Duration::from_secs(10);

/// The gRPC methods the session serves (the daemon checks this list).
const METHODS: &[&str] = &[
    "/grpc.health.v1.Health/Check",
    "/moby.filesync.v1.FileSync/DiffCopy",
    "/moby.filesync.v1.Auth/Credentials",
    "/moby.filesync.v1.Auth/FetchToken",
    "/moby.filesync.v1.Auth/GetTokenAuthority",
    "/moby.filesync.v1.Auth/VerifyTokenAuthority",
    "/moby.buildkit.secrets.v1.Secrets/GetSecret",
    "/moby.sshforward.v1.SSH/CheckAgent",
    "/moby.sshforward.v1.SSH/ForwardAgent",
];

/// Why the session could not start; the build then uploads a tar (one
/// with secrets or SSH agents fails instead).
#[derive(Debug, thiserror::Error)]
pub(crate) enum SessionError {
    #[error("kiln serves it only over unix://, plain tcp:// and ssh:// daemon endpoints")]
    NoDirectConnection,
    #[error("cannot connect to the daemon at {addr}: {reason}")]
    Connect { addr: String, reason: String },
    #[error("the daemon did not open the session: {0}")]
    Refused(String),
    #[error("{0}")]
    Http(String),
    /// An agent for an SSH id's key files could not start (the message
    /// names the id and the key).
    #[error("{0}")]
    SshAgent(String),
}

/// What a build asks of kiln beside its context, served by the session.
#[derive(Default)]
pub(crate) struct FromClient {
    /// Registry credentials for the daemon's pulls of base images.
    pub creds: Option<HashMap<String, DockerCredentials>>,
    /// Build secrets (`RUN --mount=type=secret`).
    pub secrets: Vec<BuildSecret>,
    /// SSH agents (`RUN --mount=type=ssh`).
    pub ssh: Vec<SshForward>,
    /// How long an agent of kiln's own keeps its keys (the build's
    /// timeout).
    pub key_lifetime: Duration,
    /// The daemon's endpoint (an engine of several), where the session's
    /// connection goes; None: the one the environment names.
    pub endpoint: Option<connect::Endpoint>,
}

impl FromClient {
    /// Whether the build cannot do without the session (a tar upload or
    /// the legacy builder would leave its secrets or agents out).
    pub(crate) fn needs_session(&self) -> bool {
        !(self.secrets.is_empty() && self.ssh.is_empty())
    }
}

/// A running session: served until dropped (dropping it closes the
/// connection, and the daemon forgets the session).
pub(crate) struct ContextSession {
    serve: JoinHandle<()>,
    query: BuildQuery,
    stats: Arc<TransferStats>,
    /// What the daemon's copy of the context was given, kept when the
    /// session ends.
    copies: Copies,
    /// Agents holding key files for the build, stopped with the session.
    _agents: Vec<KeyAgent>,
}

impl Drop for ContextSession {
    fn drop(&mut self) {
        self.serve.abort();
        self.copies.save();
    }
}

impl ContextSession {
    /// How the `/build` request must be changed to use this session.
    pub(crate) fn build_query(&self) -> BuildQuery {
        self.query.clone()
    }

    /// What the daemon pulled of the build context, in words (the docker
    /// CLI shows "transferring context"); None when it pulled nothing.
    pub(crate) fn summary(&self) -> Option<String> {
        let offered = self.stats.files_offered.load(Ordering::Relaxed);
        let sent = self.stats.files_sent.load(Ordering::Relaxed);
        let bytes = self.stats.bytes_sent.load(Ordering::Relaxed);
        (offered > 0).then(|| {
            format!(
                "build context: the daemon asked for {sent} of {offered} files ({}) and had the rest",
                crate::human::human_bytes(bytes)
            )
        })
    }
}

/// The build request's query for a session build: BuildKit, the session,
/// and for a context the session serves `remote=client-session` and the
/// Dockerfile's name in its directory (`None`: a remote context, whose
/// `remote` and `dockerfile` stay as they are).
#[derive(Debug, Clone)]
pub(crate) struct BuildQuery {
    session_id: String,
    dockerfile: Option<String>,
}

impl BuildQuery {
    /// Rewrites a `/build` request's query (other requests pass unchanged).
    /// bollard is asked for a legacy build (else it would start its own
    /// session and upload a tar); this turns it into the session build.
    pub(crate) fn apply(&self, mut req: bollard::BollardRequest) -> bollard::BollardRequest {
        if !req.uri().path().ends_with("/build") {
            return req;
        }
        let replaced: &[&str] = match self.dockerfile {
            Some(_) => &["version", "session", "remote", "dockerfile"],
            None => &["version", "session"],
        };
        let mut ser = form_urlencoded::Serializer::new(String::new());
        let old = req.uri().query().unwrap_or("").to_string();
        for (k, v) in form_urlencoded::parse(old.as_bytes()) {
            if !replaced.contains(&k.as_ref()) {
                ser.append_pair(&k, &v);
            }
        }
        ser.append_pair("version", "2")
            .append_pair("session", &self.session_id);
        if let Some(dockerfile) = &self.dockerfile {
            ser.append_pair("remote", "client-session")
                .append_pair("dockerfile", dockerfile);
        }
        let uri = format!("{}?{}", req.uri().path(), ser.finish());
        let mut parts = req.uri().clone().into_parts();
        if let Ok(pq) = uri.parse() {
            parts.path_and_query = Some(pq);
            if let Ok(new) = http::Uri::from_parts(parts) {
                *req.uri_mut() = new;
            }
        }
        req
    }
}

/// Opens session `id` on the daemon serving the context directory `root`
/// and the directory of the Dockerfile at `place`, with what `client`
/// gives (credentials for the daemon's registry pulls, secrets, SSH
/// agents). Returns once the daemon has taken the session.
pub(crate) async fn start(
    docker: &Docker,
    id: &str,
    root: &Path,
    place: &DockerfilePlace,
    client: FromClient,
) -> Result<ContextSession, SessionError> {
    let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let (dockerfile_dir, dockerfile) = dockerfile_dir(&root, place);
    // It looks at every file the daemon's copy was given: off the runtime.
    let copies = {
        let root = root.clone();
        tokio::task::spawn_blocking(move || Copies::open(&root))
            .await
            .unwrap_or_default()
    };
    let headers = SessionHeaders {
        id: id.to_string(),
        name: root
            .file_name()
            .map_or_else(|| "context".into(), |n| n.to_string_lossy().into_owned()),
        shared_key: shared_key(&root, copies.salt()),
    };
    let dirs = vec![
        SyncedDir {
            name: "context".into(),
            source: DirSource::Disk(root),
            reset_owner: true,
        },
        SyncedDir {
            name: "dockerfile".into(),
            source: dockerfile_dir,
            reset_owner: false,
        },
    ];
    launch(docker, headers, dirs, Some(dockerfile), client, copies).await
}

/// Opens session `id` for a build of a remote (git) context, which the
/// daemon fetches itself: the session serves only what `client` gives.
pub(crate) async fn start_remote(
    docker: &Docker,
    id: &str,
    client: FromClient,
) -> Result<ContextSession, SessionError> {
    let headers = SessionHeaders {
        id: id.to_string(),
        name: "remote".into(),
        shared_key: shared_key(Path::new(""), b""),
    };
    launch(docker, headers, Vec::new(), None, client, Copies::default()).await
}

/// Starts the agents for key files (before the daemon hears of the
/// build), opens the session and serves it.
async fn launch(
    docker: &Docker,
    headers: SessionHeaders,
    dirs: Vec<SyncedDir>,
    dockerfile: Option<String>,
    client: FromClient,
    copies: Copies,
) -> Result<ContextSession, SessionError> {
    let (agents, sockets) = ssh_agents(&client).await?;
    let connection = open(docker, client.endpoint.as_ref(), &headers).await?;
    let stats = Arc::new(TransferStats::default());
    let services = Services {
        filesync: FileSyncService::new(dirs, Arc::clone(&stats), Arc::clone(&copies.announced)),
        auth: AuthService::new(client.creds),
        secrets: SecretsService::new(&client.secrets),
        ssh: SshService::new(sockets),
    };
    let serve = tokio::spawn(serve(connection, services));
    Ok(ContextSession {
        serve,
        query: BuildQuery {
            session_id: headers.id,
            dockerfile,
        },
        stats,
        copies,
        _agents: agents,
    })
}

/// The agent socket of each SSH id, starting an agent of kiln's own for
/// each one given key files.
async fn ssh_agents(
    client: &FromClient,
) -> Result<(Vec<KeyAgent>, HashMap<String, std::path::PathBuf>), SessionError> {
    let mut agents = Vec::new();
    let mut sockets = HashMap::new();
    for forward in &client.ssh {
        let socket = match &forward.source {
            SshSource::Agent(socket) => socket.clone(),
            SshSource::Keys(keys) => {
                let agent = KeyAgent::start(&forward.id, keys, client.key_lifetime)
                    .await
                    .map_err(SessionError::SshAgent)?;
                let socket = agent.socket();
                agents.push(agent);
                socket
            }
        };
        sockets.insert(forward.id.clone(), socket);
    }
    Ok((agents, sockets))
}

/// The gRPC services a session serves.
struct Services {
    filesync: FileSyncService,
    auth: AuthService,
    secrets: SecretsService,
    ssh: SshService,
}

/// The session's connection: `POST /session` on a connection of kiln's own
/// to the daemon, taken over once the daemon agrees.
async fn open(
    docker: &Docker,
    endpoint: Option<&connect::Endpoint>,
    headers: &SessionHeaders,
) -> Result<Upgraded, SessionError> {
    let resolved = endpoint
        .cloned()
        .map_or_else(|| connect::resolve(&ProcessEnv), Ok);
    let transport = match resolved {
        Ok(ep) => Transport::of(&ep),
        Err(_) => Transport::Bollard,
    };
    let version = docker.client_version().to_string();
    match &transport {
        Transport::Unix(path) => {
            let stream = dial(path, tokio::net::UnixStream::connect(path)).await?;
            hijack(stream, "docker", &version, headers).await
        }
        Transport::Tcp(addr) => {
            let stream = dial(addr, tokio::net::TcpStream::connect(addr)).await?;
            hijack(stream, addr, &version, headers).await
        }
        Transport::Ssh(target) => {
            let stream = connect::SshStream::dial(Arc::new(target.clone()))
                .await
                .map_err(|e| SessionError::Connect {
                    addr: format!("ssh://{target}"),
                    reason: e.to_string(),
                })?;
            hijack(stream, "docker", &version, headers).await
        }
        Transport::Bollard => Err(SessionError::NoDirectConnection),
    }
}

/// Serves gRPC (HTTP/2) on the session's connection until the daemon
/// closes it (or the session is dropped); a failure shows as the daemon's
/// build error.
async fn serve(connection: Upgraded, services: Services) {
    let routes = tonic::service::Routes::new(services.filesync)
        .add_service(AuthServer::new(services.auth))
        .add_service(SecretsServer::new(services.secrets))
        .add_service(SshServer::new(services.ssh))
        .add_service(HealthServer::new(HealthService))
        .prepare();
    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
        .serve_connection(connection, TowerToHyperService::new(routes))
        .await;
}

/// The directory served as `dockerfile` and the Dockerfile's name in it:
/// the directory the config names (the docker CLI's `-f` directory); for a
/// Dockerfile outside the context, the one it really lives in; for an
/// inline one, a directory of its own holding just it.
fn dockerfile_dir(root: &Path, place: &DockerfilePlace) -> (DirSource, String) {
    let split = |path: &Path| {
        let dir = path.parent().unwrap_or(root).to_path_buf();
        let name = path
            .file_name()
            .map_or_else(|| "Dockerfile".into(), |n| n.to_string_lossy().into_owned());
        (DirSource::Disk(dir), name)
    };
    match place {
        // Where it really is: a symlink to elsewhere in the context is
        // followed here, not left for the daemon to fail on.
        DockerfilePlace::Inside(rel) => {
            let path = root.join(rel);
            split(&std::fs::canonicalize(&path).unwrap_or(path))
        }
        DockerfilePlace::Outside(abs) => split(abs),
        DockerfilePlace::Inline(text) => {
            let name = "Dockerfile".to_string();
            let content = Bytes::from(text.clone());
            (
                DirSource::File {
                    name: name.clone(),
                    content,
                },
                name,
            )
        }
    }
}

struct SessionHeaders {
    id: String,
    name: String,
    shared_key: String,
}

async fn dial<S>(
    addr: &str,
    connecting: impl std::future::Future<Output = std::io::Result<S>>,
) -> Result<S, SessionError> {
    match tokio::time::timeout(DIAL_TIMEOUT, connecting).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(SessionError::Connect {
            addr: addr.to_string(),
            reason: e.to_string(),
        }),
        Err(_) => Err(SessionError::Connect {
            addr: addr.to_string(),
            reason: format!("no answer within {}s", DIAL_TIMEOUT.as_secs()),
        }),
    }
}

/// `POST /session` with `Upgrade: h2c`; the upgraded connection on 101.
async fn hijack<S>(
    stream: S,
    host: &str,
    version: &str,
    headers: &SessionHeaders,
) -> Result<Upgraded, SessionError>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let http = |what: &str, e: &(dyn std::error::Error + 'static)| match connect::ssh_failure(e) {
        Some(ssh) => SessionError::Http(ssh.to_string()),
        None => SessionError::Http(format!("{what}: {e}")),
    };
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| http("HTTP handshake with the daemon failed", &e))?;
    tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    let mut req = http::Request::post(format!("/v{version}/session"))
        .header(http::header::HOST, host)
        .header(http::header::CONNECTION, "Upgrade")
        .header(http::header::UPGRADE, "h2c")
        .header("X-Docker-Expose-Session-Uuid", &headers.id)
        .header("X-Docker-Expose-Session-Sharedkey", &headers.shared_key);
    if let Ok(name) = http::HeaderValue::from_str(&headers.name) {
        req = req.header("X-Docker-Expose-Session-Name", name);
    }
    for method in METHODS {
        req = req.header("X-Docker-Expose-Session-Grpc-Method", *method);
    }
    let req = req
        .body(Empty::<Bytes>::new())
        .map_err(|e| http("bad session request", &e))?;
    let resp = tokio::time::timeout(DIAL_TIMEOUT, sender.send_request(req))
        .await
        .map_err(|_| {
            SessionError::Refused(format!("no answer within {}s", DIAL_TIMEOUT.as_secs()))
        })?
        .map_err(|e| http("the daemon did not answer the session request", &e))?;
    if resp.status() != http::StatusCode::SWITCHING_PROTOCOLS {
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("message")?.as_str().map(String::from))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).trim().to_string());
        return Err(SessionError::Refused(format!(
            "{} (HTTP {status})",
            crate::sanitize::sanitize(&message)
        )));
    }
    hyper::upgrade::on(resp)
        .await
        .map_err(|e| http("the session connection could not be taken over", &e))
}

/// A new session id. The daemon keys its cache of a context transfer by
/// the session id (with the patterns asked for), so an id must never come
/// back: random, like the docker CLI's.
pub(crate) fn new_id() -> String {
    use std::io::Read;
    let mut random = [0u8; 16];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut random));
    if read.is_err() {
        // No randomness to be had: unique enough from the process, the time
        // and a counter.
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let seed = format!("{}:{now}:{n}", std::process::id());
        random.copy_from_slice(&Sha256::digest(seed.as_bytes())[..16]);
    }
    format!("kiln-{}", hex::encode(random))
}

/// The docker CLI's `getBuildSharedKey`: one key per client machine and
/// directory (the path's bytes: two paths that differ only in a byte that
/// is not UTF-8 are two directories). A `salt` (see [`copies`]) gives the
/// directory a fresh copy on the daemon.
fn shared_key(dir: &Path, salt: &[u8]) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut key = Sha256::new();
    key.update(node_id().as_bytes());
    key.update(b":");
    key.update(dir.as_os_str().as_bytes());
    if !salt.is_empty() {
        key.update(b":");
        key.update(salt);
    }
    hex::encode(key.finalize())
}

/// The docker CLI's `tryNodeIdentifier`: the random id stored in the
/// docker config dir's `.buildNodeID` (created if missing), else the dir.
fn node_id() -> String {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let Some(dir) = connect::docker_config_dir(&ProcessEnv) else {
            return String::new();
        };
        read_or_create_node_id(&dir).unwrap_or_else(|| dir.display().to_string())
    })
    .clone()
}

fn read_or_create_node_id(dir: &Path) -> Option<String> {
    use std::io::{Read, Write};
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .ok()?;
    let file = dir.join(".buildNodeID");
    if std::fs::symlink_metadata(&file).is_err() {
        let mut random = [0u8; 32];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut random))
            .ok()?;
        // Another process may create it first: then its id is read below.
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&file)
        {
            f.write_all(hex::encode(random).as_bytes()).ok()?;
        }
    }
    std::fs::read_to_string(&file).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_id_is_created_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("docker");
        let first = read_or_create_node_id(&conf).unwrap();
        assert_eq!(first.len(), 64, "{first}");
        assert!(first.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(read_or_create_node_id(&conf).unwrap(), first);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(conf.join(".buildNodeID"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn session_ids_never_repeat() {
        let ids: std::collections::HashSet<String> = (0..100).map(|_| new_id()).collect();
        assert_eq!(ids.len(), 100);
        assert!(ids
            .iter()
            .all(|id| id.starts_with("kiln-") && id.len() == 37));
    }

    #[test]
    fn shared_key_depends_on_the_directory_and_the_salt_only() {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;
        let key = |p: &[u8], salt: &[u8]| shared_key(Path::new(OsStr::from_bytes(p)), salt);
        assert_eq!(key(b"/a/ctx", b""), key(b"/a/ctx", b""));
        assert_ne!(key(b"/a/ctx", b""), key(b"/b/ctx", b""));
        assert_eq!(key(b"/a/ctx", b"").len(), 64);
        // The docker CLI's key for a UTF-8 path.
        let cli = hex::encode(Sha256::digest(format!("{}:/a/ctx", node_id())));
        assert_eq!(key(b"/a/ctx", b""), cli);
        // Two paths lossily alike (issue 21, item 4).
        assert_ne!(key(b"/t/\xfe/ctx", b""), key(b"/t/\xff/ctx", b""));
        assert_ne!(key(b"/a/ctx", b"1"), key(b"/a/ctx", b""));
    }

    #[test]
    fn the_build_query_becomes_a_session_build() {
        let q = BuildQuery {
            session_id: "kiln-1-2-3".into(),
            dockerfile: Some("Dockerfile.web".into()),
        };
        let req = http::Request::post("/v1.41/build?t=a%3A1&version=1&dockerfile=docker%2FDockerfile.web&session=kiln-1-2-3&rm=true")
            .body(bollard::body_full(Bytes::new()))
            .unwrap();
        let req = q.apply(req);
        let pairs: Vec<(String, String)> =
            form_urlencoded::parse(req.uri().query().unwrap().as_bytes())
                .into_owned()
                .collect();
        let get = |k: &str| -> Vec<&str> {
            pairs
                .iter()
                .filter(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
                .collect()
        };
        assert_eq!(get("version"), ["2"]);
        assert_eq!(get("session"), ["kiln-1-2-3"]);
        assert_eq!(get("remote"), ["client-session"]);
        assert_eq!(get("dockerfile"), ["Dockerfile.web"]);
        assert_eq!(get("t"), ["a:1"]);
        assert_eq!(get("rm"), ["true"]);

        let other = http::Request::get("/v1.41/images/json?all=1")
            .body(bollard::body_full(Bytes::new()))
            .unwrap();
        assert_eq!(q.apply(other).uri().query(), Some("all=1"));

        // A git context keeps its URL and Dockerfile.
        let remote = BuildQuery {
            session_id: "kiln-4".into(),
            dockerfile: None,
        };
        let req = http::Request::post(
            "/v1.41/build?remote=https%3A%2F%2Fh%2Fr.git&dockerfile=D&version=1",
        )
        .body(bollard::body_full(Bytes::new()))
        .unwrap();
        let query = remote.apply(req).uri().query().unwrap().to_string();
        assert_eq!(
            query,
            "remote=https%3A%2F%2Fh%2Fr.git&dockerfile=D&version=2&session=kiln-4"
        );
    }

    #[test]
    fn the_dockerfile_dir_is_where_the_dockerfile_is() {
        use std::path::PathBuf;
        let root = Path::new("/ctx");
        let on_disk = |place: DockerfilePlace| match dockerfile_dir(root, &place) {
            (DirSource::Disk(dir), name) => (dir, name),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            on_disk(DockerfilePlace::Inside("Dockerfile".into())),
            (PathBuf::from("/ctx"), "Dockerfile".to_string())
        );
        assert_eq!(
            on_disk(DockerfilePlace::Inside("docker/web.Dockerfile".into())),
            (PathBuf::from("/ctx/docker"), "web.Dockerfile".to_string())
        );
        assert_eq!(
            on_disk(DockerfilePlace::Outside("/elsewhere/Dockerfile".into())),
            (PathBuf::from("/elsewhere"), "Dockerfile".to_string())
        );
        match dockerfile_dir(root, &DockerfilePlace::Inline("FROM scratch\n".into())) {
            (DirSource::File { name, content }, named) => {
                assert_eq!(
                    (name.as_str(), named.as_str()),
                    ("Dockerfile", "Dockerfile")
                );
                assert_eq!(&content[..], b"FROM scratch\n");
            }
            other => panic!("{other:?}"),
        }
    }
}
