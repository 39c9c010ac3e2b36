//! The `moby.filesync.v1.FileSync` service: the daemon pulls a local
//! directory (`context` or `dockerfile`) with `DiffCopy`, and kiln is the
//! sender of tonistiigi/fsutil's protocol:
//!
//! 1. STAT packets, one per entry in walk order ([`super::walk`]), then an
//!    empty STAT. The n-th STAT sent has id n; regular files can be asked for.
//! 2. The daemon compares them with its copy from the last build of the same
//!    directory (same session shared key) and sends REQ id for each file
//!    whose size, mtime, mode or owner differ.
//! 3. Each REQ is answered with DATA packets (32 KiB) and an empty DATA.
//!    A file that cannot be read ends the transfer with an ERR packet naming
//!    it (fsutil would send it empty).
//! 4. The daemon sends FIN when it has everything; kiln answers FIN.
//!
//! The request metadata says which directory (`dir-name`) and what to walk:
//! `include-patterns`, `exclude-patterns` (from `.dockerignore`) and
//! `followpaths` (the paths COPY/ADD use).

use std::collections::HashMap;
use std::convert::Infallible;
use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::codegen::{http, BoxFuture, Service, StdError};
use tonic::metadata::MetadataMap;
use tonic::server::{Grpc, NamedService, StreamingService};
use tonic::{Request, Response, Status, Streaming};

use super::copies::Announced;
use super::walk::{self, Item, WalkOpt};
use super::wire::{kind, Packet, Stat};
use crate::engine::context::open_regular;
use crate::engine::stamp::Stamp;

/// Size of the DATA packets (fsutil's buffer size).
const CHUNK: usize = 32 * 1024;
/// Packets queued for the daemon: bounds memory to about 2 MiB.
const QUEUE: usize = 64;
/// Files read at once (fsutil's sender runs four).
const READERS: usize = 4;

/// A directory the daemon may pull, under the name it asks for.
#[derive(Debug, Clone)]
pub(crate) struct SyncedDir {
    pub name: String,
    pub source: DirSource,
    /// Send uid/gid 0 (the docker CLI's `resetUIDAndGID` for the context).
    pub reset_owner: bool,
}

/// What a served directory holds.
#[derive(Debug, Clone)]
pub(crate) enum DirSource {
    /// A directory on disk.
    Disk(PathBuf),
    /// One file that exists only in memory (an inline Dockerfile), in a
    /// directory of its own, as the docker CLI writes a Dockerfile from
    /// stdin to a temporary directory.
    File { name: String, content: Bytes },
}

/// Where an announced file's content comes from.
#[derive(Debug, Clone)]
enum Content {
    /// A file on disk, and its stamp when it was announced.
    Disk(PathBuf, Stamp),
    Memory(Bytes),
}

/// What crossed the socket for the `context` directory, over all of the
/// daemon's requests in one session.
#[derive(Debug, Default)]
pub(crate) struct TransferStats {
    /// Regular files announced (the daemon could have asked for them).
    pub files_offered: AtomicU64,
    /// Files the daemon asked for (new or changed since its last copy).
    pub files_sent: AtomicU64,
    pub bytes_sent: AtomicU64,
}

/// The FileSync gRPC service over a fixed set of directories.
#[derive(Debug, Clone)]
pub(crate) struct FileSyncService {
    dirs: Arc<Vec<SyncedDir>>,
    stats: Arc<TransferStats>,
    announced: Arc<Announced>,
}

impl FileSyncService {
    /// Serves `dirs`, counting in `stats` and noting the files announced
    /// in `announced`.
    pub fn new(dirs: Vec<SyncedDir>, stats: Arc<TransferStats>, announced: Arc<Announced>) -> Self {
        FileSyncService {
            dirs: Arc::new(dirs),
            stats,
            announced,
        }
    }
}

impl NamedService for FileSyncService {
    const NAME: &'static str = "moby.filesync.v1.FileSync";
}

impl<B> Service<http::Request<B>> for FileSyncService
where
    B: tonic::codegen::Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let dirs = Arc::clone(&self.dirs);
        let stats = Arc::clone(&self.stats);
        let announced = Arc::clone(&self.announced);
        Box::pin(async move {
            if req.uri().path() != "/moby.filesync.v1.FileSync/DiffCopy" {
                // TarStream: the daemon only uses it when told to by an
                // environment variable of its own.
                return Ok(Status::unimplemented("kiln serves DiffCopy only").into_http());
            }
            let codec = tonic_prost::ProstCodec::<Packet, Packet>::default();
            Ok(Grpc::new(codec)
                .streaming(DiffCopy(dirs, stats, announced), req)
                .await)
        })
    }
}

struct DiffCopy(Arc<Vec<SyncedDir>>, Arc<TransferStats>, Arc<Announced>);

type PacketStream = ReceiverStream<Result<Packet, Status>>;

impl StreamingService<Packet> for DiffCopy {
    type Response = Packet;
    type ResponseStream = PacketStream;
    type Future = BoxFuture<Response<PacketStream>, Status>;

    fn call(&mut self, request: Request<Streaming<Packet>>) -> Self::Future {
        let dirs = Arc::clone(&self.0);
        let stats = Arc::clone(&self.1);
        let announced = Arc::clone(&self.2);
        Box::pin(async move {
            let (dir, opt) = requested(&dirs, request.metadata())?;
            // Only the build context's transfer is reported.
            let stats = (dir.name == "context").then_some(stats);
            let sender = Sender { stats, announced };
            Ok(Response::new(send(
                dir.source,
                opt,
                request.into_inner(),
                sender,
            )))
        })
    }
}

/// The directory and walk options a request's metadata asks for.
fn requested(dirs: &[SyncedDir], md: &MetadataMap) -> Result<(SyncedDir, WalkOpt), Status> {
    let values = |key: &str| -> Option<Vec<String>> {
        let all: Vec<String> = md
            .get_all(key)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        (!all.is_empty()).then_some(all)
    };
    let name = values("dir-name")
        .and_then(|v| v.into_iter().next())
        .unwrap_or_default();
    let dir = dirs
        .iter()
        .find(|d| d.name == name)
        .ok_or_else(|| Status::not_found(format!("no access allowed to dir {name:?}")))?;
    let opt = WalkOpt {
        includes: values("include-patterns"),
        excludes: values("exclude-patterns"),
        follow_paths: values("followpaths"),
        reset_owner: dir.reset_owner,
    };
    Ok((dir.clone(), opt))
}

/// Files announced and not yet asked for, by id.
type Offered = Arc<Mutex<HashMap<u32, Content>>>;

/// Where one transfer reports: what crossed (the context's only), and the
/// stamps of the files announced (for the daemon's copy, [`Announced`]).
struct Sender {
    stats: Option<Arc<TransferStats>>,
    announced: Arc<Announced>,
}

/// Runs the sender: the walk announces entries, REQs are answered by a
/// few readers, FIN ends it. Returns the stream of packets for the daemon.
fn send(dir: DirSource, opt: WalkOpt, incoming: Streaming<Packet>, sender: Sender) -> PacketStream {
    let (tx, rx) = mpsc::channel(QUEUE);
    let offered: Offered = Arc::default();
    let stats = sender.stats.clone();
    {
        let tx = tx.clone();
        let offered = Arc::clone(&offered);
        tokio::task::spawn_blocking(move || announce(&dir, &opt, &offered, &tx, &sender));
    }
    tokio::spawn(answer(incoming, offered, tx, stats));
    ReceiverStream::new(rx)
}

/// Walks the directory, sending a STAT per entry and the closing empty STAT.
fn announce(
    dir: &DirSource,
    opt: &WalkOpt,
    offered: &Offered,
    tx: &mpsc::Sender<Result<Packet, Status>>,
    sender: &Sender,
) {
    let stats = sender.stats.as_deref();
    let mut next_id: u32 = 0;
    let mut emit = |stat: Stat, content: Option<Content>| -> bool {
        if let Some(content) = content {
            if let Ok(mut files) = offered.lock() {
                files.insert(next_id, content);
            }
            if let Some(stats) = stats {
                stats.files_offered.fetch_add(1, Ordering::Relaxed);
            }
        }
        next_id = next_id.wrapping_add(1);
        tx.blocking_send(Ok(Packet::stat(Some(stat)))).is_ok()
    };
    let walked = match dir {
        DirSource::Disk(dir) => walk::walk(dir, opt, &mut |item: Item| {
            if let Some(stamp) = item.stamp {
                sender.announced.note(&item.abs, stamp);
            }
            let content = match item.stamp {
                Some(stamp) if item.has_data() => Some(Content::Disk(item.abs, stamp)),
                _ => None,
            };
            emit(item.stat, content)
        }),
        DirSource::File { name, content } => {
            let stat = memory_stat(name, content.len());
            match emit(stat, Some(Content::Memory(content.clone()))) {
                true => Ok(()),
                false => Err(walk::WalkError::Stopped),
            }
        }
    };
    match walked {
        Ok(()) => {
            let _ = tx.blocking_send(Ok(Packet::stat(None)));
        }
        Err(walk::WalkError::Stopped) => {}
        Err(e) => fail(tx, &e.to_string()),
    }
}

/// The stat of an in-memory file: 0644, owned by root, modified now (so a
/// changed text is never mistaken for the daemon's copy of an older one).
fn memory_stat(name: &str, size: usize) -> Stat {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64);
    Stat {
        path: name.as_bytes().to_vec(),
        mode: 0o644,
        size: size as i64,
        mod_time: now,
        ..Stat::default()
    }
}

/// Ends the transfer with an error: an ERR packet (the daemon reports
/// "error from sender: …") and the gRPC status.
fn fail(tx: &mpsc::Sender<Result<Packet, Status>>, message: &str) {
    let _ = tx.blocking_send(Ok(Packet::error(message)));
    let _ = tx.blocking_send(Err(Status::aborted(message.to_string())));
}

/// Reads the daemon's packets: REQs go to the readers, FIN is answered.
async fn answer(
    mut incoming: Streaming<Packet>,
    announced: Offered,
    tx: mpsc::Sender<Result<Packet, Status>>,
    stats: Option<Arc<TransferStats>>,
) {
    let (jobs, queue) = std::sync::mpsc::channel::<(u32, Content)>();
    let queue = Arc::new(Mutex::new(queue));
    for _ in 0..READERS {
        let queue = Arc::clone(&queue);
        let tx = tx.clone();
        let stats = stats.clone();
        tokio::task::spawn_blocking(move || read_files(&queue, &tx, stats.as_deref()));
    }
    loop {
        let packet = match incoming.message().await {
            Ok(Some(p)) => p,
            // The daemon went away without FIN: its own error says why.
            Ok(None) | Err(_) => return,
        };
        match packet.kind {
            kind::REQ => {
                let content = announced.lock().ok().and_then(|mut f| f.remove(&packet.id));
                match content {
                    Some(content) => {
                        if jobs.send((packet.id, content)).is_err() {
                            return;
                        }
                    }
                    None => {
                        let msg = format!("invalid file id {}", packet.id);
                        let _ = tx.send(Ok(Packet::error(&msg))).await;
                        let _ = tx.send(Err(Status::invalid_argument(msg))).await;
                        return;
                    }
                }
            }
            kind::FIN => {
                let _ = tx
                    .send(Ok(Packet {
                        kind: kind::FIN,
                        ..Packet::default()
                    }))
                    .await;
                return;
            }
            // The daemon's build fails with its own account of the error.
            kind::ERR => return,
            _ => {}
        }
    }
}

/// One reader: takes requested files off the queue and sends their
/// content, until the queue closes or the daemon goes away.
fn read_files(
    queue: &Mutex<std::sync::mpsc::Receiver<(u32, Content)>>,
    tx: &mpsc::Sender<Result<Packet, Status>>,
    stats: Option<&TransferStats>,
) {
    loop {
        let job = match queue.lock() {
            Ok(q) => q.recv(),
            Err(_) => return,
        };
        let Ok((id, content)) = job else {
            return;
        };
        let sent = match &content {
            Content::Disk(path, stamp) => send_file(id, path, stamp, tx),
            Content::Memory(bytes) => Ok(send_bytes(id, bytes, tx)),
        };
        match sent {
            Ok(Some(bytes)) => {
                if let Some(stats) = stats {
                    stats.files_sent.fetch_add(1, Ordering::Relaxed);
                    stats.bytes_sent.fetch_add(bytes, Ordering::Relaxed);
                }
            }
            Ok(None) => return,
            Err(e) => {
                let path = match &content {
                    Content::Disk(path, _) => path.display().to_string(),
                    Content::Memory(_) => "the Dockerfile".to_string(),
                };
                fail(tx, &format!("cannot read {path}: {e}"));
                return;
            }
        }
    }
}

/// Sends one file as DATA packets and the closing empty DATA; returns the
/// bytes sent, None when the daemon is gone. What is sent is what was
/// announced: the same regular file (not a symlink or a FIFO swapped in
/// since, [`open_regular`]), of the announced size, unchanged while it is
/// read; else an error that says what changed.
fn send_file(
    id: u32,
    path: &std::path::Path,
    announced: &Stamp,
    tx: &mpsc::Sender<Result<Packet, Status>>,
) -> std::io::Result<Option<u64>> {
    let mut file = open_regular(path)?;
    let size = announced.size();
    if !announced.same_file_and_content(&Stamp::of(&file.metadata()?)) {
        return Err(changed("it changed since it was listed".into()));
    }
    let mut sent = 0;
    while sent < size {
        let want = CHUNK.min((size - sent) as usize);
        let mut buf = BytesMut::zeroed(want);
        let n = match file.read(&mut buf) {
            Ok(0) => {
                return Err(changed(format!(
                    "it shrank while being sent ({size} bytes listed, {sent} read)"
                )))
            }
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        buf.truncate(n);
        sent += n as u64;
        if sent == size && !announced.same_file_and_content(&Stamp::of(&file.metadata()?)) {
            // Written to while it was read: what was read may be a mix.
            return Err(changed("it changed while being sent".into()));
        }
        if tx
            .blocking_send(Ok(Packet::data(id, buf.freeze())))
            .is_err()
        {
            return Ok(None);
        }
    }
    let done = tx.blocking_send(Ok(Packet::data(id, Bytes::new()))).is_ok();
    Ok(done.then_some(sent))
}

fn changed(what: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what)
}

/// Sends bytes held in memory as one file; None when the daemon is gone.
fn send_bytes(id: u32, bytes: &Bytes, tx: &mpsc::Sender<Result<Packet, Status>>) -> Option<u64> {
    for chunk in bytes.chunks(CHUNK) {
        let packet = Packet::data(id, bytes.slice_ref(chunk));
        tx.blocking_send(Ok(packet)).ok()?;
    }
    tx.blocking_send(Ok(Packet::data(id, Bytes::new()))).ok()?;
    Some(bytes.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::service::TowerToHyperService;
    use tokio::io::DuplexStream;
    use tonic::metadata::MetadataValue;

    /// A connector handing out one in-memory connection.
    #[derive(Clone)]
    struct OneConnection(Arc<Mutex<Option<DuplexStream>>>);

    impl Service<http::Uri> for OneConnection {
        type Response = TokioIo<DuplexStream>;
        type Error = std::io::Error;
        type Future = BoxFuture<Self::Response, Self::Error>;

        fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _uri: http::Uri) -> Self::Future {
            let io = self.0.lock().unwrap().take();
            Box::pin(async move {
                io.map(TokioIo::new)
                    .ok_or_else(|| std::io::Error::other("one connection only"))
            })
        }
    }

    /// The daemon's end of one DiffCopy of `dir` served as `context`.
    struct Daemon {
        to_kiln: mpsc::Sender<Packet>,
        from_kiln: Streaming<Packet>,
        stats: Arc<TransferStats>,
    }

    async fn diff_copy(
        dir: &std::path::Path,
        meta: &[(&'static str, &'static str)],
    ) -> Result<Daemon, Status> {
        let (client_io, server_io) = tokio::io::duplex(1 << 16);
        let stats = Arc::new(TransferStats::default());
        let service = FileSyncService::new(
            vec![
                SyncedDir {
                    name: "context".into(),
                    source: DirSource::Disk(dir.to_path_buf()),
                    reset_owner: true,
                },
                SyncedDir {
                    name: "dockerfile".into(),
                    source: DirSource::File {
                        name: "Dockerfile".into(),
                        content: Bytes::from_static(b"FROM scratch\n"),
                    },
                    reset_owner: false,
                },
            ],
            Arc::clone(&stats),
            Arc::default(),
        );
        let routes = tonic::service::Routes::new(service).prepare();
        tokio::spawn(async move {
            let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(server_io), TowerToHyperService::new(routes))
                .await;
        });
        let channel = tonic::transport::Endpoint::from_static("http://session")
            .connect_with_connector(OneConnection(Arc::new(Mutex::new(Some(client_io)))))
            .await
            .unwrap();
        let mut grpc = tonic::client::Grpc::new(channel);
        grpc.ready().await.unwrap();
        let (to_kiln, rx) = mpsc::channel(16);
        let mut req = Request::new(ReceiverStream::new(rx));
        for (k, v) in meta {
            req.metadata_mut().append(*k, MetadataValue::from_static(v));
        }
        let path = http::uri::PathAndQuery::from_static("/moby.filesync.v1.FileSync/DiffCopy");
        let codec = tonic_prost::ProstCodec::<Packet, Packet>::default();
        let from_kiln = grpc.streaming(req, path, codec).await?.into_inner();
        Ok(Daemon {
            to_kiln,
            from_kiln,
            stats,
        })
    }

    impl Daemon {
        /// The STATs up to the closing empty one: (id, path, stat).
        async fn stats(&mut self) -> Vec<(u32, String, Stat)> {
            let mut out = Vec::new();
            loop {
                let p = self.from_kiln.message().await.unwrap().expect("a STAT");
                assert_eq!(p.kind, kind::STAT);
                let Some(stat) = p.stat else { return out };
                let path = String::from_utf8_lossy(&stat.path).into_owned();
                out.push((out.len() as u32, path, stat));
            }
        }

        /// The paths of the STATs, in order.
        async fn paths(&mut self) -> Vec<String> {
            self.stats().await.into_iter().map(|(_, p, _)| p).collect()
        }

        async fn send(&self, kind: i32, id: u32) {
            self.to_kiln
                .send(Packet {
                    kind,
                    id,
                    ..Packet::default()
                })
                .await
                .unwrap();
        }
    }

    /// The DiffCopy a build asks for: `dir` as its context.
    async fn context_copy(dir: &std::path::Path) -> Daemon {
        diff_copy(dir, &[("dir-name", "context")]).await.unwrap()
    }

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "hello").unwrap();
        let big: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
        std::fs::write(dir.path().join("big.bin"), big).unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/c.txt"), "c").unwrap();
        std::os::unix::fs::symlink("a.txt", dir.path().join("link")).unwrap();
        dir
    }

    #[tokio::test]
    async fn diff_copy_speaks_fsutils_protocol() {
        let dir = tree();
        let mut daemon = context_copy(dir.path()).await;
        let stats = daemon.stats().await;
        let paths: Vec<&str> = stats.iter().map(|(_, p, _)| p.as_str()).collect();
        assert_eq!(paths, ["a.txt", "big.bin", "link", "sub", "sub/c.txt"]);
        let (big_id, _, big) = &stats[1];
        assert_eq!(big.size, 100_000);
        assert_eq!((big.uid, big.gid), (0, 0), "the context's owner is reset");
        assert_eq!(stats[2].2.linkname, b"a.txt");

        daemon.send(kind::REQ, *big_id).await;
        let mut content = Vec::new();
        loop {
            let p = daemon.from_kiln.message().await.unwrap().unwrap();
            assert_eq!((p.kind, p.id), (kind::DATA, *big_id));
            assert!(p.data.len() <= CHUNK);
            if p.data.is_empty() {
                break;
            }
            content.extend_from_slice(&p.data);
        }
        assert_eq!(content, std::fs::read(dir.path().join("big.bin")).unwrap());

        daemon.send(kind::FIN, 0).await;
        let fin = daemon.from_kiln.message().await.unwrap().unwrap();
        assert_eq!(fin.kind, kind::FIN);
        assert!(
            daemon.from_kiln.message().await.unwrap().is_none(),
            "ends after FIN"
        );
        assert_eq!(daemon.stats.files_offered.load(Ordering::Relaxed), 3);
        assert_eq!(daemon.stats.files_sent.load(Ordering::Relaxed), 1);
        assert_eq!(daemon.stats.bytes_sent.load(Ordering::Relaxed), 100_000);
    }

    #[tokio::test]
    async fn the_walk_follows_the_requests_metadata() {
        let dir = tree();
        let mut daemon = diff_copy(
            dir.path(),
            &[
                ("dir-name", "context"),
                ("exclude-patterns", "*.bin"),
                ("exclude-patterns", "link"),
            ],
        )
        .await
        .unwrap();
        let paths = daemon.paths().await;
        assert_eq!(paths, ["a.txt", "sub", "sub/c.txt"]);

        let mut daemon = diff_copy(
            dir.path(),
            &[("dir-name", "context"), ("followpaths", "link")],
        )
        .await
        .unwrap();
        let paths = daemon.paths().await;
        assert_eq!(paths, ["a.txt", "link"], "the link and its target");
    }

    #[tokio::test]
    async fn a_file_gone_before_it_is_asked_for_fails_naming_it() {
        let dir = tree();
        let mut daemon = context_copy(dir.path()).await;
        let stats = daemon.stats().await;
        std::fs::remove_file(dir.path().join("a.txt")).unwrap();
        daemon.send(kind::REQ, stats[0].0).await;
        let err = daemon.from_kiln.message().await.unwrap().unwrap();
        assert_eq!(err.kind, kind::ERR);
        let text = String::from_utf8_lossy(&err.data);
        assert!(
            text.starts_with("cannot read ") && text.contains("a.txt"),
            "{text}"
        );
        let status = daemon.from_kiln.message().await.unwrap_err();
        assert!(status.message().contains("a.txt"), "{status:?}");
    }

    /// The ERR the daemon gets after asking for `name`, once the test
    /// changed it since its STAT; bounded, so a sender stuck in `open`
    /// fails the test instead of hanging it.
    async fn refused_after(name: &str, change: impl FnOnce(&std::path::Path)) -> String {
        let dir = tree();
        let mut daemon = context_copy(dir.path()).await;
        let stats = daemon.stats().await;
        let (id, _, _) = stats.iter().find(|(_, p, _)| p == name).unwrap();
        let path = dir.path().join(name);
        change(&path);
        daemon.send(kind::REQ, *id).await;
        let bounded = std::time::Duration::from_secs(20);
        let mut sent = Vec::new();
        loop {
            let Ok(p) = tokio::time::timeout(bounded, daemon.from_kiln.message()).await else {
                // Let a reader stuck on a FIFO go, so the test can end.
                use std::os::unix::fs::OpenOptionsExt;
                let _ = std::fs::OpenOptions::new()
                    .write(true)
                    .custom_flags(libc::O_NONBLOCK)
                    .open(&path);
                panic!("the sender did not answer (waiting on a FIFO?)");
            };
            let p = p.unwrap().unwrap();
            if p.kind == kind::ERR {
                let text = String::from_utf8_lossy(&p.data).into_owned();
                assert!(text.contains(name), "names the file: {text}");
                assert!(
                    !sent.windows(7).any(|w| w == b"OUTSIDE"),
                    "nothing from outside was sent"
                );
                return text;
            }
            assert_eq!(p.kind, kind::DATA, "{p:?}");
            assert!(!p.data.is_empty(), "a file that changed was sent whole");
            sent.extend_from_slice(&p.data);
        }
    }

    /// Issue 21, item 7: a FIFO swapped in between the STAT and the
    /// daemon's request left the sender waiting in `open` for a writer.
    #[tokio::test]
    async fn a_file_swapped_for_a_fifo_is_refused_not_waited_on() {
        let text = refused_after("a.txt", |p| {
            std::fs::remove_file(p).unwrap();
            let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
            // SAFETY: a valid NUL-terminated path.
            assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        })
        .await;
        assert!(text.contains("no longer"), "{text}");
    }

    /// A file swapped for a symlink to a file outside the context is not
    /// followed (it was sent with the outside content).
    #[tokio::test]
    async fn a_file_swapped_for_a_symlink_is_not_followed() {
        let outside = tempfile::tempdir().unwrap();
        let secret = outside.path().join("secret");
        std::fs::write(&secret, "OUTSIDE").unwrap();
        let text = refused_after("a.txt", |p| {
            std::fs::remove_file(p).unwrap();
            std::os::unix::fs::symlink(&secret, p).unwrap();
        })
        .await;
        assert!(text.contains("symbolic link"), "{text}");
    }

    /// A file truncated (or grown) since its STAT is not sent with another
    /// size or content than announced.
    #[tokio::test]
    async fn a_file_truncated_or_rewritten_since_its_stat_fails_naming_it() {
        let text = refused_after("big.bin", |p| {
            std::fs::OpenOptions::new()
                .write(true)
                .open(p)
                .unwrap()
                .set_len(10)
                .unwrap();
        })
        .await;
        assert!(text.contains("changed since it was listed"), "{text}");
        // Same size, new content (a rename over it): another file.
        let text = refused_after("a.txt", |p| {
            let new = p.with_file_name("a.new");
            std::fs::write(&new, "HELLO").unwrap();
            std::fs::rename(&new, p).unwrap();
        })
        .await;
        assert!(text.contains("changed since it was listed"), "{text}");
    }

    #[tokio::test]
    async fn an_inline_dockerfile_is_served_from_memory() {
        let dir = tree();
        let mut daemon = diff_copy(dir.path(), &[("dir-name", "dockerfile")])
            .await
            .unwrap();
        let stats = daemon.stats().await;
        assert_eq!(stats.len(), 1);
        let (id, path, stat) = &stats[0];
        assert_eq!(
            (path.as_str(), stat.size, stat.mode),
            ("Dockerfile", 13, 0o644)
        );
        daemon.send(kind::REQ, *id).await;
        let data = daemon.from_kiln.message().await.unwrap().unwrap();
        assert_eq!(
            (data.kind, &data.data[..]),
            (kind::DATA, &b"FROM scratch\n"[..])
        );
        let end = daemon.from_kiln.message().await.unwrap().unwrap();
        assert!(end.data.is_empty());
        daemon.send(kind::FIN, 0).await;
        assert_eq!(
            daemon.from_kiln.message().await.unwrap().unwrap().kind,
            kind::FIN
        );
        // Not the build context: not counted in its transfer.
        assert_eq!(daemon.stats.files_offered.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn only_the_served_directories_can_be_asked_for() {
        let dir = tree();
        let status = diff_copy(dir.path(), &[("dir-name", "elsewhere")])
            .await
            .err()
            .expect("refused");
        assert_eq!(status.code(), tonic::Code::NotFound);
        assert!(status.message().contains("elsewhere"));
    }
}
