//! The build context: which files `docker build` would send, the tar stream
//! that carries them to the daemon, and a digest for change detection.
//!
//! This module owns three steps:
//!
//! * [`walk`] lists the context after applying `root/.dockerignore`
//!   (see [`super::dockerignore`]), never reading directories that are
//!   excluded and cannot contain re-included paths, and always keeping the
//!   Dockerfile and the `.dockerignore` file (Docker's CLI does the same by
//!   appending exceptions for them). A Dockerfile that is not in the
//!   context (inline text, or a path outside it, see [`locate_dockerfile`])
//!   is added to it under a generated name, as the docker CLI adds one.
//! * [`tar_stream`] turns that list into a tar archive produced on a
//!   blocking thread and handed over in bounded chunks, so memory use does
//!   not grow with the context size. Headers follow the docker CLI: uid/gid
//!   0, no user/group names, permission bits and mtime (seconds) preserved,
//!   directories as `dir/` entries, symlinks stored (never followed).
//! * [`digest`] hashes paths, kinds, modes, link targets and file contents
//!   (not mtimes), so "touched but unchanged" does not look like a change.
//!
//! Sockets, FIFOs and device nodes are skipped: they cannot be `COPY`'d
//! meaningfully and opening a FIFO would block the walker.

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File, Metadata};
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::UNIX_EPOCH;

use bytes::Bytes;
use futures::Stream;
use sha2::{Digest as _, Sha256};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::dockerignore::{clean, DockerIgnore, MatchInfo, PatternError};
use super::hash_cache::HashCache;
use crate::config::Dockerfile;

/// Name of the ignore file read from the context root.
pub const DOCKERIGNORE: &str = ".dockerignore";

/// Size of the chunks [`tar_stream`] yields.
const CHUNK_SIZE: usize = 64 * 1024;
/// Chunks buffered between the tar producer and the consumer: with 64 KiB
/// chunks this bounds the in-flight data to a few hundred KiB.
const CHANNEL_CAPACITY: usize = 4;
/// Upper bound on digest worker threads.
const MAX_HASH_THREADS: usize = 4;

/// What to send: the context directory and the Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextSpec {
    /// The context root directory.
    pub root: PathBuf,
    /// A path relative to `root` (e.g. `Dockerfile` or
    /// `docker/Dockerfile.web`), or an inline Dockerfile, which [`walk`]
    /// adds to the context under [`inline_dockerfile_name`].
    pub dockerfile: Dockerfile,
}

impl ContextSpec {
    /// The Dockerfile's name inside the context (as sent in a tar), as the
    /// daemon is told it: the path, or the generated name of a Dockerfile
    /// added to the context.
    pub fn dockerfile_name(&self) -> String {
        match (locate_dockerfile(self), &self.dockerfile) {
            (Ok(DockerfilePlace::Outside(real)), Dockerfile::Path(p)) => fs::read(&real)
                .map(|content| generated_dockerfile_name(&content))
                .unwrap_or_else(|_| p.clone()),
            // Inside, but named from outside (`/abs/ctx/Dockerfile`,
            // `../ctx/Dockerfile`): the daemon wants it relative.
            (Ok(DockerfilePlace::Inside(rel)), Dockerfile::Path(p)) if names_from_outside(p) => rel,
            (_, Dockerfile::Path(p)) => p.clone(),
            (_, Dockerfile::Inline(text)) => inline_dockerfile_name(text),
        }
    }
}

/// The name an inline Dockerfile is sent under: `.dockerfile.` and 20 hex
/// digits of its SHA-256. The docker CLI uses 20 random characters; a name
/// derived from the text keeps an unchanged Dockerfile from looking like a
/// change.
pub fn inline_dockerfile_name(text: &str) -> String {
    generated_dockerfile_name(text.as_bytes())
}

fn names_from_outside(path: &str) -> bool {
    let cleaned = clean(path);
    Path::new(path).is_absolute() || cleaned == ".." || cleaned.starts_with("../")
}

fn generated_dockerfile_name(content: &[u8]) -> String {
    let hash = Sha256::digest(content);
    format!(".dockerfile.{}", &hex::encode(hash)[..20])
}

/// Where the Dockerfile is, seen from the context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DockerfilePlace {
    /// Inside the context, at this clean `/`-separated relative path.
    Inside(String),
    /// Outside the context (given so, or a symlink out of it): its real
    /// path. `docker build -f ../Dockerfile ctx` builds such a Dockerfile.
    Outside(PathBuf),
    /// Inline text.
    Inline(String),
}

/// What kind of filesystem object an [`Entry`] is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    /// A symbolic link and its (unresolved) target.
    Symlink(PathBuf),
    /// A regular file whose content kiln made: an inline Dockerfile, or
    /// `.dockerignore` with that Dockerfile's name added.
    Generated(Bytes),
}

/// One path in the build context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Path relative to the context root, `/`-separated, no leading `./`
    /// (a name that is not UTF-8 is spelled lossily here).
    pub rel: String,
    /// The exact relative path, as the archive and the digest carry it.
    pub rel_os: PathBuf,
    pub kind: EntryKind,
    /// Permission bits including setuid/setgid/sticky (`st_mode & 0o7777`).
    pub mode: u32,
    /// Size in bytes at walk time (0 for directories and symlinks).
    pub size: u64,
    /// Modification time, whole seconds since the Unix epoch.
    pub mtime: u64,
    /// Absolute (or root-joined) path on disk.
    pub abs: PathBuf,
}

/// Counters from a walk, mainly to prove pruning works.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WalkStats {
    /// Directories whose listing was read (the root included).
    pub dirs_read: u64,
    /// Excluded directories skipped without being read.
    pub dirs_pruned: u64,
}

/// Why the build context could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("build context {} is not a directory", path.display())]
    NotADirectory { path: PathBuf },
    #[error("cannot locate the Dockerfile at {}", path.display())]
    DockerfileNotFound { path: PathBuf },
    #[error("invalid pattern in .dockerignore: {0}")]
    IgnorePattern(#[from] PatternError),
    #[error("the Dockerfile path is not valid UTF-8: {}", path.display())]
    NonUtf8Path { path: PathBuf },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ContextError + '_ {
    move |source| ContextError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Lists the build context: every file, directory and symlink Docker would
/// send, sorted by `rel`.
pub fn walk(spec: &ContextSpec) -> Result<Vec<Entry>, ContextError> {
    walk_with_stats(spec).map(|(entries, _)| entries)
}

/// [`walk`], also returning counters about what was (not) read.
pub fn walk_with_stats(spec: &ContextSpec) -> Result<(Vec<Entry>, WalkStats), ContextError> {
    let root = spec.root.as_path();
    let root_meta = fs::metadata(root).map_err(io_err(root))?;
    if !root_meta.is_dir() {
        return Err(ContextError::NotADirectory {
            path: root.to_path_buf(),
        });
    }

    let place = locate_dockerfile(spec)?;
    let mut forced = Vec::new();
    if let DockerfilePlace::Inside(rel) = &place {
        forced.push(rel.clone());
    }

    let ignore_path = root.join(DOCKERIGNORE);
    let (ignore, has_ignore_file) = match fs::read(&ignore_path) {
        Ok(bytes) => (
            DockerIgnore::try_parse(&String::from_utf8_lossy(&bytes))?,
            true,
        ),
        Err(e) if e.kind() == io::ErrorKind::NotFound => (DockerIgnore::default(), false),
        Err(e) => return Err(io_err(&ignore_path)(e)),
    };

    if has_ignore_file {
        forced.push(DOCKERIGNORE.to_string());
    }

    let mut walker = Walker {
        ignore: &ignore,
        forced: &forced,
        entries: Vec::new(),
        excluded_dirs: BTreeMap::new(),
        stats: WalkStats::default(),
    };
    walker.run(root)?;
    let Walker {
        mut entries,
        excluded_dirs,
        stats,
        ..
    } = walker;

    // An excluded directory we descended into is sent only if something
    // inside it survived, the way BuildKit's fsutil sends parents of
    // re-included files, so they arrive with their own mode and mtime.
    let mut present: HashSet<String> = entries.iter().map(|e| e.rel.clone()).collect();
    let mut parents = Vec::new();
    for entry in &entries {
        let mut rel = entry.rel.as_str();
        while let Some(i) = rel.rfind('/') {
            rel = &rel[..i];
            if present.contains(rel) {
                break;
            }
            if let Some(dir) = excluded_dirs.get(rel) {
                present.insert(rel.to_string());
                parents.push(dir.clone());
            }
        }
    }
    entries.extend(parents);
    match place {
        DockerfilePlace::Inside(_) => {}
        DockerfilePlace::Outside(real) => {
            let content = fs::read(&real).map_err(io_err(&real))?;
            add_dockerfile(&mut entries, root, Bytes::from(content))?;
        }
        DockerfilePlace::Inline(text) => add_dockerfile(&mut entries, root, Bytes::from(text))?,
    }
    entries.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok((entries, stats))
}

/// Adds a Dockerfile that is not in the context (inline, or outside the
/// directory) the way the docker CLI adds a Dockerfile from stdin or from
/// outside the context: as a file named [`inline_dockerfile_name`], whose
/// name is appended to `.dockerignore` (created listing itself when there
/// is none). The legacy builder then reads the Dockerfile but leaves both
/// out of `COPY . ...`. (This is the tar's way; a BuildKit build reading
/// the context through kiln's session gets the Dockerfile apart.)
fn add_dockerfile(
    entries: &mut Vec<Entry>,
    root: &Path,
    content: Bytes,
) -> Result<(), ContextError> {
    let name = generated_dockerfile_name(&content);
    entries.retain(|e| e.rel != name);
    entries.push(generated_entry(root, &name, content, 0));
    let ignore = match entries.iter().position(|e| e.rel == DOCKERIGNORE) {
        Some(i) => {
            let old = entries.remove(i);
            let mut content = fs::read(&old.abs).map_err(io_err(&old.abs))?;
            content.extend_from_slice(format!("\n{name}\n").as_bytes());
            generated_entry(root, DOCKERIGNORE, Bytes::from(content), old.mtime)
        }
        None => {
            let content = format!("{DOCKERIGNORE}\n{name}\n");
            generated_entry(root, DOCKERIGNORE, Bytes::from(content), 0)
        }
    };
    entries.push(ignore);
    Ok(())
}

fn generated_entry(root: &Path, rel: &str, content: Bytes, mtime: u64) -> Entry {
    Entry {
        rel: rel.to_string(),
        rel_os: PathBuf::from(rel),
        size: content.len() as u64,
        kind: EntryKind::Generated(content),
        mode: 0o600,
        mtime,
        abs: root.join(rel),
    }
}

impl Entry {
    /// A file's content as text (lossy), read from disk or generated;
    /// `None` for directories, symlinks and unreadable files.
    pub fn text(&self) -> Option<String> {
        match &self.kind {
            EntryKind::File => fs::read(&self.abs).ok(),
            EntryKind::Generated(b) => Some(b.to_vec()),
            EntryKind::Dir | EntryKind::Symlink(_) => None,
        }
        .map(|b| String::from_utf8_lossy(&b).into_owned())
    }
}

/// Finds the Dockerfile: inline text; inside the context (its clean
/// relative path, as given: a symlink to elsewhere in the context stays a
/// symlink); or outside it (its real path), told apart as the docker CLI
/// does, after resolving symlinks. Fails when a path leads to no file.
pub fn locate_dockerfile(spec: &ContextSpec) -> Result<DockerfilePlace, ContextError> {
    let path = match &spec.dockerfile {
        Dockerfile::Inline(text) => return Ok(DockerfilePlace::Inline(text.clone())),
        Dockerfile::Path(path) => path,
    };
    let given = Path::new(path);
    // Joined and cleaned lexically first, as Go's filepath.Join does:
    // `sub/../../Dockerfile` need not have a `sub`.
    let abs = lexically_clean(&if given.is_absolute() {
        given.to_path_buf()
    } else {
        spec.root.join(given)
    });
    let not_found = || ContextError::DockerfileNotFound { path: abs.clone() };
    let real = fs::canonicalize(&abs).map_err(|_| not_found())?;
    if !fs::metadata(&real).map_err(|_| not_found())?.is_file() {
        return Err(not_found());
    }
    let root = fs::canonicalize(&spec.root).map_err(io_err(&spec.root))?;
    let Ok(real_rel) = real.strip_prefix(&root) else {
        return Ok(DockerfilePlace::Outside(real));
    };
    match lexical_rel(&spec.root, given, &root)? {
        Some(rel) => Ok(DockerfilePlace::Inside(rel)),
        // Named through a path that leaves the context and comes back in.
        None => Ok(DockerfilePlace::Inside(
            real_rel
                .to_str()
                .ok_or_else(|| ContextError::NonUtf8Path { path: real.clone() })?
                .to_string(),
        )),
    }
}

/// `path` with `.` and `dir/..` removed without looking at the disk.
fn lexically_clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for comp in path.components() {
        match comp {
            Component::CurDir => {}
            Component::ParentDir => {
                if out.file_name().is_some() {
                    out.pop();
                } else if !out.has_root() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// The Dockerfile path `given` as a clean, slash-separated path inside
/// `root`, without resolving symlinks; None when it leads outside.
fn lexical_rel(
    root: &Path,
    given: &Path,
    real_root: &Path,
) -> Result<Option<String>, ContextError> {
    let relative: PathBuf = if given.is_absolute() {
        // The root may have been given relative or through a symlink.
        match given
            .strip_prefix(root)
            .or_else(|_| given.strip_prefix(real_root))
        {
            Ok(rest) => rest.to_path_buf(),
            Err(_) => return Ok(None),
        }
    } else {
        given.to_path_buf()
    };
    let mut parts = Vec::new();
    for comp in relative.components() {
        match comp {
            Component::Normal(s) => {
                parts.push(s.to_str().ok_or_else(|| ContextError::NonUtf8Path {
                    path: given.to_path_buf(),
                })?)
            }
            Component::CurDir => {}
            Component::ParentDir => parts.push(".."),
            Component::RootDir | Component::Prefix(_) => return Ok(None),
        }
    }
    let cleaned = clean(&parts.join("/"));
    if cleaned == ".." || cleaned.starts_with("../") || cleaned == "." {
        return Ok(None);
    }
    Ok(Some(cleaned))
}

struct Walker<'a> {
    ignore: &'a DockerIgnore,
    /// Paths sent even when .dockerignore matches them.
    forced: &'a [String],
    entries: Vec<Entry>,
    /// Excluded directories that were still descended into, by `rel`.
    excluded_dirs: BTreeMap<String, Entry>,
    stats: WalkStats,
}

impl Walker<'_> {
    fn run(&mut self, root: &Path) -> Result<(), ContextError> {
        // An explicit stack: no recursion depth limit from deep trees.
        let mut stack = vec![(
            root.to_path_buf(),
            String::new(),
            PathBuf::new(),
            MatchInfo::default(),
        )];
        while let Some((dir_abs, dir_rel, dir_rel_os, info)) = stack.pop() {
            self.stats.dirs_read += 1;
            let listing = fs::read_dir(&dir_abs).map_err(io_err(&dir_abs))?;
            for item in listing {
                let item = item.map_err(io_err(&dir_abs))?;
                let abs = item.path();
                let name = item.file_name();
                let name_str = name.to_string_lossy();
                let rel = if dir_rel.is_empty() {
                    name_str.to_string()
                } else {
                    format!("{dir_rel}/{name_str}")
                };
                let rel_os = dir_rel_os.join(&name);
                let meta = fs::symlink_metadata(&abs).map_err(io_err(&abs))?;
                let (mut excluded, child_info) = self.ignore.matches_with_parent(&rel, &info);
                if excluded && self.forced.contains(&rel) {
                    excluded = false;
                }
                if excluded {
                    let descend = meta.is_dir()
                        && (self.ignore.dir_may_have_included_children(&rel)
                            || self.forces_below(&rel));
                    if descend {
                        let entry = make_entry(&rel, &rel_os, &abs, &meta)?;
                        if let Some(entry) = entry {
                            self.excluded_dirs.insert(rel.clone(), entry);
                        }
                        stack.push((abs, rel, rel_os, child_info));
                    } else if meta.is_dir() {
                        self.stats.dirs_pruned += 1;
                    }
                    continue;
                }
                let Some(entry) = make_entry(&rel, &rel_os, &abs, &meta)? else {
                    continue;
                };
                if entry.kind == EntryKind::File {
                    // Fail now, naming the file, rather than halfway through
                    // an upload (the docker CLI checks this up front too).
                    File::open(&abs).map_err(io_err(&abs))?;
                }
                if entry.kind == EntryKind::Dir {
                    stack.push((abs, rel, rel_os, child_info));
                }
                self.entries.push(entry);
            }
        }
        Ok(())
    }

    /// Whether a forced path (the Dockerfile) lives below `rel_dir`.
    fn forces_below(&self, rel_dir: &str) -> bool {
        self.forced.iter().any(|f| {
            f.strip_prefix(rel_dir)
                .is_some_and(|rest| rest.starts_with('/'))
        })
    }
}

/// Builds the entry for one path; `None` for object types that are skipped.
fn make_entry(
    rel: &str,
    rel_os: &Path,
    abs: &Path,
    meta: &Metadata,
) -> Result<Option<Entry>, ContextError> {
    let file_type = meta.file_type();
    let (kind, size) = if file_type.is_symlink() {
        let target = fs::read_link(abs).map_err(io_err(abs))?;
        (EntryKind::Symlink(target), 0)
    } else if file_type.is_dir() {
        (EntryKind::Dir, 0)
    } else if file_type.is_file() {
        (EntryKind::File, meta.len())
    } else {
        return Ok(None);
    };
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    Ok(Some(Entry {
        rel: rel.to_string(),
        rel_os: rel_os.to_path_buf(),
        kind,
        mode: mode_bits(meta),
        size,
        mtime,
        abs: abs.to_path_buf(),
    }))
}

#[cfg(unix)]
fn mode_bits(meta: &Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o7777
}

#[cfg(not(unix))]
fn mode_bits(_meta: &Metadata) -> u32 {
    // What the docker CLI sends from Windows.
    0o755
}

/// Streams the tar archive of `entries` (in the given order) in chunks of
/// up to 64 KiB.
///
/// The archive is written on a Tokio blocking thread into a small bounded
/// channel, so at most a few chunks are in memory at once. Dropping the
/// stream makes the producer stop at its next chunk. Must be polled inside
/// a Tokio runtime; otherwise the stream yields one error and ends.
pub fn tar_stream(
    entries: Vec<Entry>,
) -> impl Stream<Item = Result<Bytes, io::Error>> + Send + 'static {
    enum State {
        NotStarted(Vec<Entry>),
        Running(mpsc::Receiver<io::Result<Bytes>>, JoinHandle<()>),
        Done,
    }
    // Spawning lazily, on first poll, keeps construction free of any
    // runtime requirement.
    futures::stream::unfold(State::NotStarted(entries), |state| async move {
        let (mut rx, handle) = match state {
            State::NotStarted(entries) => {
                match spawn_producer(entries, CHUNK_SIZE, CHANNEL_CAPACITY) {
                    Ok(running) => running,
                    Err(e) => return Some((Err(e), State::Done)),
                }
            }
            State::Running(rx, handle) => (rx, handle),
            State::Done => return None,
        };
        match rx.recv().await {
            Some(item) => Some((item, State::Running(rx, handle))),
            // The channel closes when the producer returns; a panic there
            // must not pass for a complete (but truncated) archive.
            None => match handle.await {
                Ok(()) => None,
                Err(e) => Some((
                    Err(io::Error::other(format!("tar producer failed: {e}"))),
                    State::Done,
                )),
            },
        }
    })
}

type Producer = (mpsc::Receiver<io::Result<Bytes>>, JoinHandle<()>);

fn spawn_producer(entries: Vec<Entry>, chunk: usize, capacity: usize) -> io::Result<Producer> {
    let runtime = tokio::runtime::Handle::try_current()
        .map_err(|e| io::Error::other(format!("tar_stream needs a Tokio runtime: {e}")))?;
    let (tx, rx) = mpsc::channel(capacity);
    let handle = runtime.spawn_blocking(move || {
        let mut out = ChunkWriter {
            tx,
            buf: Vec::with_capacity(chunk),
            chunk,
            closed: false,
        };
        let result = write_tar(&entries, &mut out).and_then(|()| out.send_buffer());
        if let Err(e) = result {
            if !out.closed {
                let _ = out.tx.blocking_send(Err(e));
            }
        }
    });
    Ok((rx, handle))
}

/// An `io::Write` that cuts the byte stream into chunks and sends them,
/// blocking while the channel is full (that is the backpressure).
struct ChunkWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
    chunk: usize,
    /// Set once the receiver is gone, so the producer stops quietly.
    closed: bool,
}

impl ChunkWriter {
    fn send_buffer(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let data = std::mem::replace(&mut self.buf, Vec::with_capacity(self.chunk));
        if self.tx.blocking_send(Ok(Bytes::from(data))).is_err() {
            self.closed = true;
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "tar stream receiver dropped",
            ));
        }
        Ok(())
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = self.chunk - self.buf.len();
        let n = room.min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() >= self.chunk {
            self.send_buffer()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        // Chunks are sent when full or at the end; flushing early would
        // only make chunk boundaries depend on the tar crate's internals.
        Ok(())
    }
}

fn write_tar<W: Write>(entries: &[Entry], out: W) -> io::Result<()> {
    let mut builder = tar::Builder::new(out);
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        header.set_mode(entry.mode);
        header.set_mtime(entry.mtime);
        header.set_uid(0);
        header.set_gid(0);
        match &entry.kind {
            EntryKind::Dir => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_size(0);
                let mut name = entry.rel_os.clone().into_os_string();
                name.push("/");
                builder.append_data(&mut header, name, io::empty())?;
            }
            EntryKind::Symlink(target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_size(0);
                builder.append_link(&mut header, &entry.rel_os, target)?;
            }
            EntryKind::File => {
                let with_path = |e: io::Error| {
                    io::Error::new(e.kind(), format!("{}: {e}", entry.abs.display()))
                };
                let file = File::open(&entry.abs).map_err(with_path)?;
                // Size from the open file, so content and header agree even
                // if the file changed since the walk.
                let size = file.metadata().map_err(with_path)?.len();
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(size);
                let reader = ExactReader {
                    inner: file.take(size),
                    remaining: size,
                    path: &entry.abs,
                };
                builder.append_data(&mut header, &entry.rel_os, reader)?;
            }
            EntryKind::Generated(content) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(content.len() as u64);
                builder.append_data(&mut header, &entry.rel, &content[..])?;
            }
        }
    }
    builder.into_inner()?;
    Ok(())
}

/// Yields exactly `remaining` bytes or fails: a file that shrinks while
/// being archived would otherwise leave the tar's size header lying.
struct ExactReader<'a, R> {
    inner: R,
    remaining: u64,
    path: &'a Path,
}

impl<R: Read> Read for ExactReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{}: file shrank while being archived", self.path.display()),
            ));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// A hex SHA-256 over every entry's path, kind, mode, symlink target and
/// file content, in path order. Modification times are left out on purpose.
///
/// File contents are streamed (never read whole) and hashed on up to
/// `min(available_parallelism, 4)` threads.
pub fn digest(entries: &[Entry]) -> Result<String, ContextError> {
    digest_with_fingerprints(entries).map(|(d, _)| d)
}

/// Like [`digest`], plus a short fingerprint per entry (path → content
/// hash and mode, or link target), so that a later build can say which
/// files changed.
pub fn digest_with_fingerprints(
    entries: &[Entry],
) -> Result<(String, BTreeMap<String, String>), ContextError> {
    digest_with_cache(entries, &HashCache::default())
}

/// [`digest_with_fingerprints`], reading only the files whose content
/// `cache` does not already know (the result is the same).
pub fn digest_with_cache(
    entries: &[Entry],
    cache: &HashCache,
) -> Result<(String, BTreeMap<String, String>), ContextError> {
    let mut prints = BTreeMap::new();
    let mut ordered: Vec<&Entry> = entries.iter().collect();
    ordered.sort_by(|a, b| a.rel.cmp(&b.rel));
    let files: Vec<&Entry> = ordered
        .iter()
        .copied()
        .filter(|e| e.kind == EntryKind::File)
        .collect();
    let file_hashes = hash_files(&files, cache)?;

    let mut hasher = Sha256::new();
    hasher.update(b"kiln-context-digest-v1\0");
    let mut next_file = file_hashes.iter();
    for entry in ordered {
        // Length prefixes keep the encoding unambiguous.
        put_bytes(&mut hasher, &path_bytes(&entry.rel_os));
        hasher.update(entry.mode.to_le_bytes());
        let print = match &entry.kind {
            EntryKind::Dir => {
                hasher.update(b"d");
                format!("d{:o}", entry.mode)
            }
            EntryKind::File => {
                hasher.update(b"f");
                // One hash per file entry, computed in the same order.
                let h = next_file.next();
                if let Some(h) = h {
                    hasher.update(h);
                }
                let short = h.map(|h| hex::encode(&h[..8])).unwrap_or_default();
                format!("f{:o}:{short}", entry.mode)
            }
            EntryKind::Symlink(target) => {
                hasher.update(b"l");
                put_bytes(&mut hasher, &path_bytes(target));
                format!("l:{}", target.display())
            }
            EntryKind::Generated(content) => {
                // Hashed like a file with that content.
                hasher.update(b"f");
                let h: [u8; 32] = Sha256::digest(content).into();
                hasher.update(h);
                format!("f{:o}:{}", entry.mode, hex::encode(&h[..8]))
            }
        };
        prints.insert(entry.rel.clone(), print);
    }
    Ok((hex::encode(hasher.finalize()), prints))
}

fn put_bytes(hasher: &mut Sha256, bytes: &[u8]) {
    hasher.update((bytes.len() as u64).to_le_bytes());
    hasher.update(bytes);
}

#[cfg(unix)]
fn path_bytes(path: &Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    path.as_os_str().as_bytes().to_vec()
}

#[cfg(not(unix))]
fn path_bytes(path: &Path) -> Vec<u8> {
    path.to_string_lossy().as_bytes().to_vec()
}

/// One file's content hash, or why it could not be read.
type FileHash = Result<[u8; 32], ContextError>;

/// Content hashes of `files`, in order, computed by a few worker threads
/// pulling indices from a shared counter.
fn hash_files(files: &[&Entry], cache: &HashCache) -> Result<Vec<[u8; 32]>, ContextError> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_HASH_THREADS)
        .min(files.len().max(1));
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let per_thread: Vec<Vec<(usize, FileHash)>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    // Stop early once any file failed: the digest is
                    // an error anyway.
                    while !failed.load(Ordering::Relaxed) {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(entry) = files.get(i) else { break };
                        let result = cache.hash(&entry.rel_os, &entry.abs, hash_file);
                        if result.is_err() {
                            failed.store(true, Ordering::Relaxed);
                        }
                        done.push((i, result));
                    }
                    done
                })
            })
            .collect();
        // Joining explicitly turns a worker panic into missing results
        // (reported below) instead of a panic in the caller.
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_default())
            .collect()
    });

    let mut hashes: Vec<Option<[u8; 32]>> = vec![None; files.len()];
    // Report the failing file with the lowest index, for stable messages.
    let mut first_err: Option<(usize, ContextError)> = None;
    for (i, result) in per_thread.into_iter().flatten() {
        match result {
            Ok(h) => hashes[i] = Some(h),
            Err(e) => {
                if first_err.as_ref().is_none_or(|(j, _)| i < *j) {
                    first_err = Some((i, e));
                }
            }
        }
    }
    if let Some((_, e)) = first_err {
        return Err(e);
    }
    hashes
        .into_iter()
        .zip(files)
        .map(|(h, entry)| {
            h.ok_or_else(|| ContextError::Io {
                path: entry.abs.clone(),
                source: io::Error::other("hashing thread failed"),
            })
        })
        .collect()
}

fn hash_file(path: &Path) -> Result<[u8; 32], ContextError> {
    let mut file = File::open(path).map_err(io_err(path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK_SIZE];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err(path)(e)),
        };
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use std::collections::BTreeSet;
    #[cfg(unix)]
    use std::os::unix::fs::{symlink, PermissionsExt};
    use std::time::{Duration, SystemTime};

    const LONG_A: &str = "a_directory_name_that_is_quite_long_for_testing_purposes_0123456789";
    const LONG_B: &str = "another_pretty_long_directory_name_to_push_past_the_ustar_limit_abcdef";

    fn write(root: &Path, rel: &str, content: &[u8]) {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
    }

    fn long_rel() -> String {
        format!("long/{LONG_A}/{LONG_B}/file.txt")
    }

    /// A context exercising every rule; see `expected_paths`.
    fn make_tree(root: &Path) {
        write(root, "Dockerfile", b"FROM scratch\nCOPY . /\n");
        write(
            root,
            ".dockerignore",
            b"# kiln test\nnode_modules\n**/*.log\nsecret\n!secret/keep.txt\nbuild/**\n!build/keep-*\ndocs/*.md\n!docs/README.md\nDockerfile\n.dockerignore\n",
        );
        write(root, "src/main.rs", b"fn main() {}\n");
        write(root, "src/debug.log", b"log");
        write(root, "app.log", b"log");
        write(root, "node_modules/pkg/index.js", b"module.exports = 1;");
        write(root, "node_modules/pkg/deep/x.js", b"x");
        write(root, "secret/keep.txt", b"keep");
        write(root, "secret/private.key", b"key");
        write(root, "build/out.bin", b"\x00\x01");
        write(root, "build/keep-me", b"kept");
        write(root, "docs/a.md", b"# a");
        write(root, "docs/README.md", b"# readme");
        write(root, "docs/.dockerignore", b"*\n");
        write(root, "docs/sub/.dockerignore.bak", b"x");
        write(root, "bin/run.sh", b"#!/bin/sh\necho hi\n");
        write(root, &long_rel(), b"long");
        #[cfg(unix)]
        {
            fs::set_permissions(root.join("bin/run.sh"), fs::Permissions::from_mode(0o755))
                .unwrap();
            fs::set_permissions(root.join("src/main.rs"), fs::Permissions::from_mode(0o600))
                .unwrap();
            symlink("src/main.rs", root.join("link")).unwrap();
            symlink("../nowhere", root.join("dangling")).unwrap();
            // A symlink to a directory is stored, never followed.
            symlink("node_modules", root.join("nm-link")).unwrap();
        }
    }

    fn expected_paths() -> BTreeSet<String> {
        let mut set: BTreeSet<String> = [
            ".dockerignore",
            "Dockerfile",
            "bin",
            "bin/run.sh",
            "build",
            "build/keep-me",
            "docs",
            "docs/.dockerignore",
            "docs/README.md",
            "docs/sub",
            "docs/sub/.dockerignore.bak",
            "long",
            "secret",
            "secret/keep.txt",
            "src",
            "src/main.rs",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        set.insert(format!("long/{LONG_A}"));
        set.insert(format!("long/{LONG_A}/{LONG_B}"));
        set.insert(long_rel());
        if cfg!(unix) {
            set.extend(["link", "dangling", "nm-link"].map(String::from));
        }
        set
    }

    fn spec(root: &Path) -> ContextSpec {
        ContextSpec {
            root: root.to_path_buf(),
            dockerfile: Dockerfile::Path("Dockerfile".to_string()),
        }
    }

    async fn collect_tar(entries: Vec<Entry>) -> Vec<u8> {
        let mut stream = Box::pin(tar_stream(entries));
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk.unwrap());
        }
        out
    }

    struct TarItem {
        path: String,
        kind: tar::EntryType,
        mode: u32,
        uid: u64,
        gid: u64,
        names_empty: bool,
        mtime: u64,
        link: Option<PathBuf>,
        data: Vec<u8>,
    }

    fn read_tar(bytes: &[u8]) -> Vec<TarItem> {
        let mut archive = tar::Archive::new(bytes);
        let mut items = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let h = entry.header().clone();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            items.push(TarItem {
                path: entry.path().unwrap().to_string_lossy().into_owned(),
                kind: h.entry_type(),
                mode: h.mode().unwrap(),
                uid: h.uid().unwrap(),
                gid: h.gid().unwrap(),
                names_empty: h.username_bytes().unwrap_or_default().is_empty()
                    && h.groupname_bytes().unwrap_or_default().is_empty(),
                mtime: h.mtime().unwrap(),
                link: entry.link_name().unwrap().map(|l| l.into_owned()),
                data,
            });
        }
        items
    }

    #[test]
    fn walk_applies_dockerignore_and_prunes() {
        let dir = tempfile::tempdir().unwrap();
        make_tree(dir.path());
        let (entries, stats) = walk_with_stats(&spec(dir.path())).unwrap();
        let got: BTreeSet<String> = entries.iter().map(|e| e.rel.clone()).collect();
        assert_eq!(got, expected_paths());

        // Sorted, no duplicates.
        let rels: Vec<&str> = entries.iter().map(|e| e.rel.as_str()).collect();
        let mut sorted = rels.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(rels, sorted);

        // node_modules is excluded with no exception reaching into it: it
        // must not even be listed. Read: root, bin, build, docs, docs/sub,
        // long, long/A, long/A/B, secret (descended for the exception), src.
        assert_eq!(stats.dirs_pruned, 1);
        assert_eq!(stats.dirs_read, 10);

        let by_rel = |rel: &str| entries.iter().find(|e| e.rel == rel).unwrap();
        assert_eq!(by_rel("src").kind, EntryKind::Dir);
        assert_eq!(by_rel("bin/run.sh").kind, EntryKind::File);
        assert_eq!(by_rel("bin/run.sh").size, 18);
        #[cfg(unix)]
        {
            assert_eq!(by_rel("bin/run.sh").mode, 0o755);
            assert_eq!(by_rel("src/main.rs").mode, 0o600);
            assert_eq!(
                by_rel("link").kind,
                EntryKind::Symlink(PathBuf::from("src/main.rs"))
            );
            assert_eq!(
                by_rel("nm-link").kind,
                EntryKind::Symlink(PathBuf::from("node_modules"))
            );
        }
        assert!(by_rel("Dockerfile").mtime > 0);
        assert_eq!(by_rel("Dockerfile").abs, dir.path().join("Dockerfile"));
    }

    #[test]
    fn no_dockerignore_sends_everything() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "Dockerfile", b"FROM scratch");
        write(dir.path(), "a/b/c.txt", b"c");
        let entries = walk(&spec(dir.path())).unwrap();
        let rels: Vec<&str> = entries.iter().map(|e| e.rel.as_str()).collect();
        assert_eq!(rels, vec!["Dockerfile", "a", "a/b", "a/b/c.txt"]);
    }

    #[test]
    fn wildcard_exception_walks_only_where_needed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "Dockerfile", b"FROM scratch");
        write(root, ".dockerignore", b"vendor\n!vendor/*/LICENSE\n");
        write(root, "vendor/foo/LICENSE", b"MIT");
        write(root, "vendor/foo/src/lib.rs", b"");
        write(root, "vendor/bar/README", b"");
        let (entries, stats) = walk_with_stats(&spec(root)).unwrap();
        let rels: Vec<&str> = entries.iter().map(|e| e.rel.as_str()).collect();
        assert_eq!(
            rels,
            vec![
                ".dockerignore",
                "Dockerfile",
                "vendor",
                "vendor/foo",
                "vendor/foo/LICENSE"
            ]
        );
        // root, vendor, vendor/foo, vendor/bar read; vendor/foo/src pruned.
        assert_eq!(stats.dirs_read, 4);
        assert_eq!(stats.dirs_pruned, 1);
    }

    #[test]
    fn dockerfile_in_excluded_dir_is_still_sent() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "docker/Dockerfile.web", b"FROM scratch");
        write(root, "docker/other", b"x");
        write(root, "app.txt", b"x");
        write(root, ".dockerignore", b"docker\n*.txt\n");
        let spec = ContextSpec {
            root: root.to_path_buf(),
            dockerfile: Dockerfile::Path("./docker//Dockerfile.web".to_string()),
        };
        let rels: Vec<String> = walk(&spec).unwrap().into_iter().map(|e| e.rel).collect();
        assert_eq!(
            rels,
            vec![".dockerignore", "docker", "docker/Dockerfile.web"]
        );
    }

    #[test]
    fn a_dockerfile_outside_the_context_is_located_and_added() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ctx");
        write(&root, "a.txt", b"x");
        write(dir.path(), "Dockerfile", b"FROM scratch\n");
        let real = fs::canonicalize(dir.path().join("Dockerfile")).unwrap();
        let generated = inline_dockerfile_name("FROM scratch\n");
        let path_spec = |p: &str| ContextSpec {
            root: root.clone(),
            dockerfile: Dockerfile::Path(p.to_string()),
        };
        for given in [
            "../Dockerfile".to_string(),
            "sub/../../Dockerfile".to_string(),
            dir.path().join("Dockerfile").to_string_lossy().into_owned(),
        ] {
            let spec = path_spec(&given);
            assert_eq!(
                locate_dockerfile(&spec).unwrap(),
                DockerfilePlace::Outside(real.clone()),
                "{given}"
            );
            // In the context under a generated name, as an inline one.
            assert_eq!(spec.dockerfile_name(), generated, "{given}");
            let entries = walk(&spec).unwrap();
            let rels: Vec<&str> = entries.iter().map(|e| e.rel.as_str()).collect();
            assert_eq!(
                rels,
                [generated.as_str(), ".dockerignore", "a.txt"],
                "{given}"
            );
            let added = entries.iter().find(|e| e.rel == generated).unwrap();
            assert_eq!(added.text().as_deref(), Some("FROM scratch\n"));
        }
        // A symlink out of the context is outside too.
        #[cfg(unix)]
        {
            symlink("../Dockerfile", root.join("Dockerfile")).unwrap();
            assert_eq!(
                locate_dockerfile(&path_spec("Dockerfile")).unwrap(),
                DockerfilePlace::Outside(real.clone())
            );
        }
        // Inside, however it is spelled.
        write(&root, "docker/Dockerfile", b"FROM scratch");
        for given in [
            root.join("docker/Dockerfile")
                .to_string_lossy()
                .into_owned(),
            "../ctx/docker/Dockerfile".to_string(),
            "./docker//Dockerfile".to_string(),
        ] {
            assert_eq!(
                locate_dockerfile(&path_spec(&given)).unwrap(),
                DockerfilePlace::Inside("docker/Dockerfile".into()),
                "{given}"
            );
        }
        // The daemon is told a relative name; a relative one is kept as given.
        for (given, told) in [
            (
                root.join("docker/Dockerfile")
                    .to_string_lossy()
                    .into_owned(),
                "docker/Dockerfile",
            ),
            ("../ctx/docker/Dockerfile".to_string(), "docker/Dockerfile"),
            ("./docker/Dockerfile".to_string(), "./docker/Dockerfile"),
        ] {
            assert_eq!(path_spec(&given).dockerfile_name(), told, "{given}");
        }
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn names_that_are_not_utf8_are_sent_byte_for_byte() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "Dockerfile", b"FROM scratch");
        let odd = std::ffi::OsStr::from_bytes(b"caf\xe9");
        write(&dir.path().join(odd), "x.txt", b"x");
        let entries = walk(&spec(dir.path())).unwrap();
        let rels: Vec<&Path> = entries.iter().map(|e| e.rel_os.as_path()).collect();
        assert!(
            rels.contains(&Path::new(odd).join("x.txt").as_path()),
            "{rels:?}"
        );
        let bytes = collect_tar(entries.clone()).await;
        let mut archive = tar::Archive::new(bytes.as_slice());
        let names: Vec<Vec<u8>> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path_bytes().into_owned())
            .collect();
        assert!(names.contains(&b"caf\xe9/x.txt".to_vec()), "{names:?}");
        // Two names that differ only in their invalid bytes digest apart.
        let other = dir.path().join(std::ffi::OsStr::from_bytes(b"caf\xea"));
        fs::create_dir(&other).unwrap();
        fs::rename(dir.path().join(odd).join("x.txt"), other.join("x.txt")).unwrap();
        fs::remove_dir(dir.path().join(odd)).unwrap();
        assert_ne!(
            digest(&entries).ok(),
            digest(&walk(&spec(dir.path())).unwrap()).ok()
        );
    }

    #[test]
    fn missing_dockerfile_and_root_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let err = walk(&spec(dir.path())).unwrap_err();
        assert!(
            matches!(err, ContextError::DockerfileNotFound { .. }),
            "{err}"
        );

        let missing = dir.path().join("nope");
        let err = walk(&spec(&missing)).unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
    }

    /// Reads a tar produced by `tar_stream` back as (path, content) pairs.
    async fn tar_files(entries: Vec<Entry>) -> Vec<(String, Vec<u8>)> {
        let chunks: Vec<Bytes> = tar_stream(entries)
            .map(|c| c.unwrap())
            .collect::<Vec<_>>()
            .await;
        let bytes: Vec<u8> = chunks.concat();
        let mut archive = tar::Archive::new(&bytes[..]);
        let mut out = Vec::new();
        for item in archive.entries().unwrap() {
            let mut item = item.unwrap();
            let path = item.path().unwrap().to_string_lossy().into_owned();
            let mut content = Vec::new();
            item.read_to_end(&mut content).unwrap();
            out.push((path, content));
        }
        out
    }

    #[tokio::test]
    async fn inline_dockerfile_is_added_and_ignored_like_the_docker_cli_does() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "app.txt", b"x");
        let text = "FROM scratch\nCOPY app.txt /\n";
        let spec = ContextSpec {
            root: dir.path().to_path_buf(),
            dockerfile: Dockerfile::Inline(text.to_string()),
        };
        let name = spec.dockerfile_name();
        assert!(
            name.starts_with(".dockerfile.") && name.len() == 32,
            "{name}"
        );
        assert_eq!(name, inline_dockerfile_name(text), "stable per text");
        assert_ne!(name, inline_dockerfile_name("FROM scratch\n"));

        // No .dockerignore: one is made that lists itself and the Dockerfile.
        let entries = walk(&spec).unwrap();
        let files = tar_files(entries.clone()).await;
        let expect_ignore = format!(".dockerignore\n{name}\n");
        assert_eq!(
            files,
            vec![
                (name.clone(), text.as_bytes().to_vec()),
                (".dockerignore".to_string(), expect_ignore.into_bytes()),
                ("app.txt".to_string(), b"x".to_vec()),
            ]
        );
        let dockerfile = entries.iter().find(|e| e.rel == name).unwrap();
        assert_eq!(dockerfile.text().as_deref(), Some(text));

        // An existing .dockerignore keeps its rules, with the name added.
        write(dir.path(), ".dockerignore", b"*.log");
        write(dir.path(), "debug.log", b"noise");
        let entries = walk(&spec).unwrap();
        let files = tar_files(entries.clone()).await;
        let rels: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(rels, vec![name.as_str(), ".dockerignore", "app.txt"]);
        assert_eq!(files[1].1, format!("*.log\n{name}\n").into_bytes());

        // The digest follows the inline text.
        let before = digest(&entries).unwrap();
        let other = ContextSpec {
            root: dir.path().to_path_buf(),
            dockerfile: Dockerfile::Inline("FROM scratch\n".to_string()),
        };
        assert_ne!(before, digest(&walk(&other).unwrap()).unwrap());
        assert_eq!(before, digest(&walk(&spec).unwrap()).unwrap());
    }

    #[test]
    fn bad_dockerignore_pattern_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "Dockerfile", b"FROM scratch");
        write(dir.path(), ".dockerignore", b"ok\n[unclosed\n");
        let err = walk(&spec(dir.path())).unwrap_err();
        assert!(matches!(err, ContextError::IgnorePattern(_)), "{err}");
        assert!(err.to_string().contains("[unclosed"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn unreadable_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "Dockerfile", b"FROM scratch");
        write(dir.path(), "locked.txt", b"x");
        let locked = dir.path().join("locked.txt");
        fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).unwrap();
        if File::open(&locked).is_ok() {
            // Running as root: permissions do not stop reads, nothing to test.
            return;
        }
        let err = walk(&spec(dir.path())).unwrap_err();
        assert!(err.to_string().contains("locked.txt"), "{err}");
    }

    #[tokio::test]
    async fn tar_contains_exactly_the_walk_with_docker_headers() {
        let dir = tempfile::tempdir().unwrap();
        make_tree(dir.path());
        let entries = walk(&spec(dir.path())).unwrap();
        let bytes = collect_tar(entries.clone()).await;
        let items = read_tar(&bytes);

        let mut want: Vec<String> = Vec::new();
        for e in &entries {
            want.push(match e.kind {
                EntryKind::Dir => format!("{}/", e.rel),
                _ => e.rel.clone(),
            });
        }
        let got: Vec<String> = items.iter().map(|i| i.path.clone()).collect();
        assert_eq!(got, want);
        assert!(got.iter().any(|p| p.len() > 100), "long name present");

        for (item, entry) in items.iter().zip(&entries) {
            assert_eq!((item.uid, item.gid), (0, 0), "{}", item.path);
            assert!(item.names_empty, "{}", item.path);
            assert_eq!(item.mtime, entry.mtime, "{}", item.path);
            assert_eq!(item.mode, entry.mode, "{}", item.path);
            match &entry.kind {
                EntryKind::Dir => assert_eq!(item.kind, tar::EntryType::Directory),
                EntryKind::Symlink(target) => {
                    assert_eq!(item.kind, tar::EntryType::Symlink);
                    assert_eq!(item.link.as_ref(), Some(target));
                }
                EntryKind::File => {
                    assert_eq!(item.kind, tar::EntryType::Regular);
                    assert_eq!(item.data, fs::read(&entry.abs).unwrap());
                }

                EntryKind::Generated(content) => {
                    assert_eq!(item.kind, tar::EntryType::Regular);
                    assert_eq!(item.data, content.to_vec());
                }
            }
        }
        let run_sh = items.iter().find(|i| i.path == "bin/run.sh").unwrap();
        #[cfg(unix)]
        assert_eq!(run_sh.mode, 0o755);
        assert_eq!(run_sh.data, b"#!/bin/sh\necho hi\n");
        let long = items.iter().find(|i| i.path == long_rel()).unwrap();
        assert_eq!(long.data, b"long");

        // Deterministic: same input, same bytes.
        assert_eq!(collect_tar(entries).await, bytes);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn long_symlink_target_survives() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "Dockerfile", b"FROM scratch");
        let target = format!("{LONG_A}/{LONG_B}/target");
        symlink(&target, dir.path().join("l")).unwrap();
        let bytes = collect_tar(walk(&spec(dir.path())).unwrap()).await;
        let items = read_tar(&bytes);
        let l = items.iter().find(|i| i.path == "l").unwrap();
        assert_eq!(l.link, Some(PathBuf::from(target)));
    }

    #[tokio::test]
    async fn tar_is_chunked_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "Dockerfile", b"FROM scratch");
        let big: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        write(dir.path(), "big.bin", &big);
        let entries = walk(&spec(dir.path())).unwrap();
        let mut stream = Box::pin(tar_stream(entries));
        let mut sizes = Vec::new();
        let mut all = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.unwrap();
            sizes.push(chunk.len());
            all.extend_from_slice(&chunk);
        }
        assert!(sizes.len() > 10);
        let (last, full) = sizes.split_last().unwrap();
        assert!(full.iter().all(|&s| s == CHUNK_SIZE));
        assert!(*last > 0 && *last <= CHUNK_SIZE);
        let items = read_tar(&all);
        assert_eq!(
            items.iter().find(|i| i.path == "big.bin").unwrap().data,
            big
        );
    }

    #[tokio::test]
    async fn producer_stops_when_receiver_dropped() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "Dockerfile", b"FROM scratch");
        write(dir.path(), "big.bin", &vec![7u8; 8 * 1024 * 1024]);
        let entries = walk(&spec(dir.path())).unwrap();
        let (mut rx, handle) = spawn_producer(entries, 4096, 1).unwrap();
        assert!(rx.recv().await.unwrap().is_ok());
        drop(rx);
        // 8 MiB at 4 KiB per chunk would be 2048 sends: finishing quickly
        // means the producer noticed the closed channel.
        tokio::time::timeout(Duration::from_secs(10), handle)
            .await
            .expect("producer did not stop")
            .unwrap();
    }

    #[tokio::test]
    async fn tar_reports_file_vanished_after_walk() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "Dockerfile", b"FROM scratch");
        write(dir.path(), "gone.txt", b"x");
        let entries = walk(&spec(dir.path())).unwrap();
        fs::remove_file(dir.path().join("gone.txt")).unwrap();
        let mut stream = Box::pin(tar_stream(entries));
        let mut err = None;
        while let Some(chunk) = stream.next().await {
            if let Err(e) = chunk {
                err = Some(e);
            }
        }
        let err = err.expect("an error");
        assert!(err.to_string().contains("gone.txt"), "{err}");
    }

    #[test]
    fn tar_stream_outside_runtime_errors_instead_of_panicking() {
        let mut stream = Box::pin(tar_stream(Vec::new()));
        let first = futures::executor::block_on(stream.next());
        assert!(matches!(first, Some(Err(_))));
        assert!(futures::executor::block_on(stream.next()).is_none());
    }

    fn digest_of(root: &Path) -> String {
        digest(&walk(&spec(root)).unwrap()).unwrap()
    }

    #[test]
    fn digest_tracks_content_mode_and_names_not_mtime() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        make_tree(a.path());
        make_tree(b.path());
        let base = digest_of(a.path());
        assert_eq!(base.len(), 64);
        assert_eq!(base, digest_of(b.path()), "identical trees");

        // mtime-only change: same digest, though the walk sees it.
        let f = File::options()
            .write(true)
            .open(b.path().join("src/main.rs"))
            .unwrap();
        f.set_modified(SystemTime::now() - Duration::from_secs(86_400 * 30))
            .unwrap();
        drop(f);
        assert_eq!(base, digest_of(b.path()), "touch only");

        // Excluded files do not matter.
        write(b.path(), "node_modules/pkg/index.js", b"changed");
        assert_eq!(base, digest_of(b.path()), "ignored change");

        write(b.path(), "src/main.rs", b"fn main() { }\n");
        assert_ne!(base, digest_of(b.path()), "content");
        write(b.path(), "src/main.rs", b"fn main() {}\n");
        assert_eq!(base, digest_of(b.path()), "content restored");

        #[cfg(unix)]
        {
            let p = b.path().join("bin/run.sh");
            fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
            assert_ne!(base, digest_of(b.path()), "mode");
            fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
            assert_eq!(base, digest_of(b.path()), "mode restored");

            fs::remove_file(b.path().join("link")).unwrap();
            symlink("src/other.rs", b.path().join("link")).unwrap();
            assert_ne!(base, digest_of(b.path()), "symlink target");
            fs::remove_file(b.path().join("link")).unwrap();
            symlink("src/main.rs", b.path().join("link")).unwrap();
            assert_eq!(base, digest_of(b.path()), "symlink restored");
        }

        fs::rename(b.path().join("bin/run.sh"), b.path().join("bin/run2.sh")).unwrap();
        assert_ne!(base, digest_of(b.path()), "rename");
        fs::rename(b.path().join("bin/run2.sh"), b.path().join("bin/run.sh")).unwrap();

        write(b.path(), "empty-dir/.keep", b"");
        fs::remove_file(b.path().join("empty-dir/.keep")).unwrap();
        assert_ne!(base, digest_of(b.path()), "new empty dir");
    }

    #[test]
    fn digest_is_order_independent_and_unambiguous() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "Dockerfile", b"FROM scratch");
        for i in 0..20 {
            write(dir.path(), &format!("f{i:02}"), format!("{i}").as_bytes());
        }
        let mut entries = walk(&spec(dir.path())).unwrap();
        let d1 = digest(&entries).unwrap();
        entries.reverse();
        assert_eq!(d1, digest(&entries).unwrap());

        // Moving bytes between a name and content must change the digest.
        let x = tempfile::tempdir().unwrap();
        write(x.path(), "Dockerfile", b"FROM scratch");
        write(x.path(), "ab", b"c");
        let y = tempfile::tempdir().unwrap();
        write(y.path(), "Dockerfile", b"FROM scratch");
        write(y.path(), "a", b"bc");
        assert_ne!(digest_of(x.path()), digest_of(y.path()));
    }

    #[test]
    fn digest_error_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "Dockerfile", b"FROM scratch");
        write(dir.path(), "vanishing.txt", b"x");
        let entries = walk(&spec(dir.path())).unwrap();
        fs::remove_file(dir.path().join("vanishing.txt")).unwrap();
        let err = digest(&entries).unwrap_err();
        assert!(err.to_string().contains("vanishing.txt"), "{err}");
    }
}
