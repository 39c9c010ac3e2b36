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
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::engine::stamp::{write_private, Reader, Stamp};

const MAGIC: &[u8] = b"kiln-context-hashes-v1\n";
/// How old a file's ctime must be before its hash is remembered.
pub const SETTLED: Duration = Duration::from_secs(2);

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
    let mut out = Vec::with_capacity(MAGIC.len() + seen.len() * 96);
    out.extend_from_slice(MAGIC);
    for (rel, Remembered { stamp, hash }) in seen {
        stamp.encode(rel, &mut out);
        out.extend_from_slice(hash);
    }
    write_private(file, &out)
}

fn parse(bytes: &[u8]) -> Option<Known> {
    let mut reader = Reader::new(bytes, MAGIC)?;
    let mut known = HashMap::new();
    while let Some((rel, stamp)) = reader.record() {
        let hash: [u8; 32] = reader.take(32)?.try_into().ok()?;
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
