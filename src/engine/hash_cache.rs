//! Content hashes of context files from the last digest of the same
//! directory, so that change detection re-reads only the files that
//! changed instead of the whole context on every build.
//!
//! A file whose device, inode, size, mtime and ctime (nanoseconds) are what
//! they were when it was hashed still has that content: every write moves
//! the ctime, which no program can set back (git trusts the same stamp). A
//! write in the same clock tick as the hashing could keep the stamp, so a
//! file is only remembered once its ctime is [`SETTLED`] old.
//!
//! The cache lives in `$XDG_CACHE_HOME/kiln/context-hashes/`, one file per
//! context directory (named by a hash of its path), 0600 in a 0700
//! directory; it holds paths and content hashes, as the history's per-file
//! fingerprints do. It is only an accelerator: a cache that cannot be read
//! or written is simply not used, and the digest is the same either way.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

const MAGIC: &[u8] = b"kiln-context-hashes-v1\n";
/// How old a file's ctime must be before its hash is remembered.
pub const SETTLED: Duration = Duration::from_secs(2);

/// What identifies a file's content without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i64,
    ctime_ns: i64,
}

impl Stamp {
    fn of(meta: &fs::Metadata) -> Stamp {
        Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
            ctime_ns: meta.ctime() * 1_000_000_000 + meta.ctime_nsec(),
        }
    }
}

/// A file's stamp when it was read, and its content hash.
#[derive(Debug, Clone, Copy)]
struct Remembered {
    stamp: Stamp,
    hash: [u8; 32],
}

/// Remembered hashes by path in the context.
type Known = HashMap<Vec<u8>, Remembered>;

/// The hashes known for one context directory, and those seen this time.
#[derive(Debug, Default)]
pub struct HashCache {
    /// Where it is kept; None: not kept (no cache dir, or a test).
    file: Option<PathBuf>,
    known: Known,
    seen: Mutex<Known>,
    /// The time `settled` measures from; None: the system clock's now (a
    /// test sets it, to stand at a later moment without waiting for it).
    as_of: Option<SystemTime>,
}

impl HashCache {
    /// The cache of the context directory `root` (empty if there is none).
    pub fn open(root: &Path) -> HashCache {
        let dir = directories::ProjectDirs::from("", "", "kiln")
            .map(|d| d.cache_dir().join("context-hashes"));
        let Some(dir) = dir else {
            return HashCache::default();
        };
        let root = fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
        let name = hex::encode(&Sha256::digest(root.as_os_str().as_bytes())[..16]);
        HashCache::at(dir.join(name))
    }

    /// The cache kept in `file`.
    pub fn at(file: PathBuf) -> HashCache {
        let known = fs::read(&file)
            .ok()
            .and_then(|bytes| parse(&bytes))
            .unwrap_or_default();
        HashCache {
            file: Some(file),
            known,
            seen: Mutex::default(),
            as_of: None,
        }
    }

    /// The content hash of the regular file `abs` (`rel` in the context):
    /// the remembered one when its stamp is unchanged, else `read(abs)`.
    pub fn hash<E>(
        &self,
        rel: &Path,
        abs: &Path,
        read: impl FnOnce(&Path) -> Result<[u8; 32], E>,
    ) -> Result<[u8; 32], E> {
        let rel = rel.as_os_str().as_bytes();
        // Stamped before reading: a write while reading moves the ctime
        // past this stamp, so the next digest reads the file again.
        let Ok(stamp) = fs::metadata(abs).map(|m| Stamp::of(&m)) else {
            return read(abs);
        };
        let hash = match self.known.get(rel) {
            Some(known) if known.stamp == stamp => known.hash,
            _ => read(abs)?,
        };
        if self.settled(stamp.ctime_ns) {
            if let Ok(mut seen) = self.seen.lock() {
                seen.insert(rel.to_vec(), Remembered { stamp, hash });
            }
        }
        Ok(hash)
    }

    /// Keeps the hashes seen this time (only those: files gone from the
    /// context are forgotten). Failures are ignored.
    pub fn save(self) {
        let Some(file) = self.file else { return };
        let seen = self.seen.into_inner().unwrap_or_default();
        let _ = write(&file, &seen);
    }

    /// Whether a file changed at `ctime_ns` is old enough to remember.
    fn settled(&self, ctime_ns: i64) -> bool {
        let now = self
            .as_of
            .unwrap_or_else(SystemTime::now)
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i64);
        now.saturating_sub(ctime_ns) > SETTLED.as_nanos() as i64
    }
}

fn write(file: &Path, seen: &Known) -> io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let dir = file
        .parent()
        .ok_or_else(|| io::Error::other("no directory"))?;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let mut out = Vec::with_capacity(MAGIC.len() + seen.len() * 96);
    out.extend_from_slice(MAGIC);
    for (rel, Remembered { stamp: s, hash }) in seen {
        out.extend_from_slice(&(rel.len() as u32).to_le_bytes());
        out.extend_from_slice(rel);
        for n in [s.dev, s.ino, s.size] {
            out.extend_from_slice(&n.to_le_bytes());
        }
        for n in [s.mtime_ns, s.ctime_ns] {
            out.extend_from_slice(&n.to_le_bytes());
        }
        out.extend_from_slice(hash);
    }
    // Written aside and renamed: a concurrent reader sees all or nothing.
    let tmp = file.with_extension(format!("tmp{}", std::process::id()));
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(&out)?;
    drop(f);
    fs::rename(&tmp, file)
}

fn parse(bytes: &[u8]) -> Option<Known> {
    let mut rest = bytes.strip_prefix(MAGIC)?;
    let mut take = |n: usize| -> Option<&[u8]> {
        let (head, tail) = rest.split_at_checked(n)?;
        rest = tail;
        Some(head)
    };
    let mut known = HashMap::new();
    while let Some(len) = take(4) {
        let len = u32::from_le_bytes(len.try_into().ok()?) as usize;
        let rel = take(len)?.to_vec();
        let mut u = [0u64; 3];
        for n in &mut u {
            *n = u64::from_le_bytes(take(8)?.try_into().ok()?);
        }
        let mut i = [0i64; 2];
        for n in &mut i {
            *n = i64::from_le_bytes(take(8)?.try_into().ok()?);
        }
        let hash: [u8; 32] = take(32)?.try_into().ok()?;
        let stamp = Stamp {
            dev: u[0],
            ino: u[1],
            size: u[2],
            mtime_ns: i[0],
            ctime_ns: i[1],
        };
        known.insert(rel, Remembered { stamp, hash });
    }
    Some(known)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// A cache whose clock stands past `SETTLED` from now: what is
    /// written now is old enough to remember (a ctime cannot be set back;
    /// the clock can be moved on instead of waited out).
    fn later(file: PathBuf) -> HashCache {
        HashCache {
            as_of: Some(SystemTime::now() + SETTLED + Duration::from_millis(50)),
            ..HashCache::at(file)
        }
    }

    fn counting_read(count: &Cell<u32>) -> impl FnOnce(&Path) -> io::Result<[u8; 32]> + '_ {
        move |p| {
            count.set(count.get() + 1);
            Ok(Sha256::digest(fs::read(p)?).into())
        }
    }

    #[test]
    fn unchanged_files_are_not_read_again_and_changed_ones_are() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("cache/ctx");
        let a = dir.path().join("a.txt");
        fs::write(&a, b"one").unwrap();
        let reads = Cell::new(0);

        let cache = later(store.clone());
        let first = cache
            .hash(Path::new("a.txt"), &a, counting_read(&reads))
            .unwrap();
        cache.save();
        assert_eq!(reads.get(), 1);

        let cache = later(store.clone());
        let again = cache
            .hash(Path::new("a.txt"), &a, counting_read(&reads))
            .unwrap();
        cache.save();
        assert_eq!((reads.get(), again), (1, first), "served from the cache");

        // Same size, new content: the stamp moved, the file is read.
        fs::write(&a, b"two").unwrap();
        let cache = HashCache::at(store.clone());
        let changed = cache
            .hash(Path::new("a.txt"), &a, counting_read(&reads))
            .unwrap();
        assert_eq!(reads.get(), 2);
        assert_eq!(changed, <[u8; 32]>::from(Sha256::digest(b"two")));
        // Not settled yet (the system clock): not remembered, read again
        // next time.
        cache.save();
        let cache = HashCache::at(store.clone());
        cache
            .hash(Path::new("a.txt"), &a, counting_read(&reads))
            .unwrap();
        assert_eq!(reads.get(), 3);

        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&store).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_damaged_cache_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("ctx");
        let a = dir.path().join("a.txt");
        fs::write(&a, b"x").unwrap();
        for junk in [
            &b"garbage"[..],
            MAGIC,
            &[MAGIC, &[200, 0, 0, 0, 1]].concat()[..],
        ] {
            fs::write(&store, junk).unwrap();
            let reads = Cell::new(0);
            let cache = HashCache::at(store.clone());
            cache
                .hash(Path::new("a.txt"), &a, counting_read(&reads))
                .unwrap();
            assert_eq!(reads.get(), 1);
        }
    }
}
