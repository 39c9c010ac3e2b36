//! The build context as a tar archive, written on a blocking thread and
//! handed over in bounded chunks (see [`tar_stream`]).

use std::io::{self, Read, Write};
use std::path::Path;

use bytes::Bytes;
use futures::Stream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{Entry, EntryKind, CHUNK_SIZE};

/// Chunks buffered between the tar producer and the consumer: with 64 KiB
/// chunks this bounds the in-flight data to a few hundred KiB.
const CHANNEL_CAPACITY: usize = 4;

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
                let file = super::open_regular(&entry.abs).map_err(with_path)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::context::fixture::*;
    use crate::engine::context::{digest, walk};
    use futures::StreamExt;
    use std::fs;
    #[cfg(unix)]
    use std::os::unix::fs::symlink;
    use std::path::PathBuf;
    use std::time::Duration;

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
}
