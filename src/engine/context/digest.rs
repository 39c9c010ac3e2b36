//! The digest of a build context for change detection: paths, kinds,
//! modes, link targets and file contents, never mtimes.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use sha2::{Digest as _, Sha256};

use super::{io_err, ContextError, Entry, EntryKind, CHUNK_SIZE};
use crate::engine::hash_cache::HashCache;

/// Upper bound on digest worker threads.
const MAX_HASH_THREADS: usize = 4;

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
    let mut file = super::open_regular(path).map_err(io_err(path))?;
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
    use crate::engine::context::fixture::*;
    use crate::engine::context::walk;
    use std::fs;
    #[cfg(unix)]
    use std::os::unix::fs::{symlink, PermissionsExt};
    use std::time::{Duration, SystemTime};

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
        let f = std::fs::File::options()
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
