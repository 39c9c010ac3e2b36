//! What identifies a file's content without reading it (its [`Stamp`]),
//! and the private files that remember stamps: the hash cache
//! (`hash_cache.rs`) and the session's record of the daemon's copies
//! (`session/copies.rs`). Both write records of the same shape: a
//! length-prefixed path, its stamp, and what each adds.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// What identifies a file's content without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub(crate) dev: u64,
    pub(crate) ino: u64,
    pub(crate) size: u64,
    pub(crate) mtime_ns: i64,
    pub(crate) ctime_ns: i64,
}

impl Stamp {
    pub(crate) fn of(meta: &fs::Metadata) -> Stamp {
        Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
            ctime_ns: meta.ctime() * 1_000_000_000 + meta.ctime_nsec(),
        }
    }

    /// The size in bytes.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// `now` is the same file with the same size and mtime (a write moves
    /// the mtime; a file renamed in is another inode).
    pub(crate) fn same_file_and_content(&self, now: &Stamp) -> bool {
        (self.dev, self.ino, self.size, self.mtime_ns) == (now.dev, now.ino, now.size, now.mtime_ns)
    }

    /// The daemon would take a file with stamp `now` for its copy of one
    /// announced with `self`, though the content may have changed.
    pub(crate) fn hides_a_change(&self, now: &Stamp) -> bool {
        self.size == now.size
            && self.mtime_ns == now.mtime_ns
            && (self.ctime_ns, self.ino, self.dev) != (now.ctime_ns, now.ino, now.dev)
    }

    /// Appends `path` (length-prefixed) and the stamp to `out`, as
    /// [`Reader::record`] reads them.
    pub(crate) fn encode(&self, path: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(&(path.len() as u32).to_le_bytes());
        out.extend_from_slice(path);
        for n in [self.dev, self.ino, self.size] {
            out.extend_from_slice(&n.to_le_bytes());
        }
        for n in [self.mtime_ns, self.ctime_ns] {
            out.extend_from_slice(&n.to_le_bytes());
        }
    }
}

/// Reads a file of records from its bytes.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// The bytes after `magic`, if they start with it.
    pub(crate) fn new(bytes: &'a [u8], magic: &[u8]) -> Option<Reader<'a>> {
        bytes.strip_prefix(magic).map(|rest| Reader { rest })
    }

    /// The next `n` bytes.
    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = self.rest.split_at_checked(n)?;
        self.rest = tail;
        Some(head)
    }

    /// A length-prefixed run of bytes.
    pub(crate) fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = u32::from_le_bytes(self.take(4)?.try_into().ok()?) as usize;
        self.take(len)
    }

    /// The next record's path and stamp: None at the end (or where the
    /// file is cut short).
    pub(crate) fn record(&mut self) -> Option<(Vec<u8>, Stamp)> {
        let path = self.bytes()?.to_vec();
        let mut u = [0u64; 3];
        for n in &mut u {
            *n = u64::from_le_bytes(self.take(8)?.try_into().ok()?);
        }
        let mut i = [0i64; 2];
        for n in &mut i {
            *n = i64::from_le_bytes(self.take(8)?.try_into().ok()?);
        }
        let [dev, ino, size] = u;
        let [mtime_ns, ctime_ns] = i;
        let stamp = Stamp {
            dev,
            ino,
            size,
            mtime_ns,
            ctime_ns,
        };
        Some((path, stamp))
    }
}

/// Writes `bytes` to `file`, readable by the user only (its directory
/// made 0700 when missing): written aside and renamed, so a concurrent
/// reader sees all or nothing.
pub(crate) fn write_private(file: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let dir = file
        .parent()
        .ok_or_else(|| io::Error::other("no directory"))?;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let tmp = file.with_extension(format!("tmp{}", std::process::id()));
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(bytes)?;
    drop(f);
    fs::rename(&tmp, file)
}
