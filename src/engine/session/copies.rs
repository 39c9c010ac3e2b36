//! What the daemon's copy of a served directory was last given, so that a
//! file whose content changed while its size and mtime stayed the same is
//! not left stale there.
//!
//! The daemon keeps a copy of each directory a session served, under the
//! session's shared key, and asks only for the files whose stat (size,
//! mtime, mode, owner, link, xattrs) differs from its copy's: a new content
//! with the same size and mtime (`cp -p`, `touch -d`, a tool that restores
//! times) is never asked for, and the image is built from the old one (the
//! docker CLI shares this). Every write moves a file's ctime, which no
//! program can set back: so kiln remembers each file's stamp (device,
//! inode, size, mtime, ctime) as it announced it, and before the next
//! session of the same directory looks at those files again. One whose size
//! and mtime are what the daemon has but whose ctime, inode or device moved
//! may hold a content the daemon does not have: the shared key then takes a
//! new salt, and the daemon starts a fresh copy (everything the build uses
//! crosses once more).
//!
//! Kept in `$XDG_CACHE_HOME/kiln/session-copies/`, one file per context
//! directory (named by a hash of its path's bytes), 0600 in a 0700
//! directory. A record that cannot be read or written is not used: the
//! key is then the docker CLI's own.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use crate::engine::stamp::{write_private, Reader, Stamp};

const MAGIC: &[u8] = b"kiln-session-copies-v1\n";

/// Stamps by absolute path (bytes).
type Known = HashMap<Vec<u8>, Stamp>;

/// The stamps announced during a session, by absolute path.
#[derive(Debug, Default)]
pub(crate) struct Announced(Mutex<Known>);

impl Announced {
    pub(crate) fn note(&self, abs: &Path, stamp: Stamp) {
        if let Ok(mut k) = self.0.lock() {
            k.insert(abs.as_os_str().as_bytes().to_vec(), stamp);
        }
    }
}

/// The record of one context directory: the salt of its shared key and
/// the stamps its files were announced with.
#[derive(Debug, Default)]
pub(crate) struct Copies {
    /// Where it is kept; None: not kept.
    file: Option<PathBuf>,
    salt: Vec<u8>,
    known: Known,
    /// The record must be written (a new salt, files forgotten).
    dirty: bool,
    /// What this session announced, merged into `known` at the end.
    pub(crate) announced: Arc<Announced>,
}

impl Copies {
    /// The record of the context directory `root` (canonical), checked
    /// against the files as they are now: a new salt when one of them may
    /// hide a change from the daemon.
    pub(crate) fn open(root: &Path) -> Copies {
        let file = directories::ProjectDirs::from("", "", "kiln").map(|d| {
            let name = hex::encode(&Sha256::digest(root.as_os_str().as_bytes())[..16]);
            d.cache_dir().join("session-copies").join(name)
        });
        match file {
            Some(file) => Copies::at(file),
            None => Copies::default(),
        }
    }

    /// The record kept in `file`, checked.
    pub(crate) fn at(file: PathBuf) -> Copies {
        let (salt, known) = fs::read(&file)
            .ok()
            .and_then(|b| parse(&b))
            .unwrap_or_default();
        let mut copies = Copies {
            file: Some(file),
            salt,
            known,
            dirty: false,
            announced: Arc::default(),
        };
        copies.check();
        copies
    }

    /// Looks at every file announced before; forgets those gone, and takes
    /// a new salt (forgetting the rest) when one may hide a change.
    fn check(&mut self) {
        let (mut stale, before) = (false, self.known.len());
        self.known.retain(|path, stamp| {
            let Ok(meta) = fs::symlink_metadata(std::ffi::OsStr::from_bytes(path)) else {
                return false;
            };
            stale |= stamp.hides_a_change(&Stamp::of(&meta));
            true
        });
        self.dirty = self.known.len() != before;
        if stale {
            self.dirty = true;
            self.salt = new_salt();
            self.known.clear();
        }
    }

    /// What the shared key is made of besides the node id and the path:
    /// empty until a change was hidden from the daemon.
    pub(crate) fn salt(&self) -> &[u8] {
        &self.salt
    }

    /// Keeps what this session announced. Failures are ignored.
    pub(crate) fn save(&mut self) {
        let Some(file) = &self.file else { return };
        let announced = match self.announced.0.lock() {
            Ok(mut a) => std::mem::take(&mut *a),
            Err(_) => return,
        };
        let mut changed = self.dirty;
        for (path, stamp) in announced {
            changed |= self.known.insert(path, stamp) != Some(stamp);
        }
        if changed {
            let _ = write(file, &self.salt, &self.known);
        }
        self.dirty = false;
    }
}

/// 16 random bytes, hex.
fn new_salt() -> Vec<u8> {
    let mut random = [0u8; 16];
    if fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut random))
        .is_err()
    {
        // A salt that differs from the last one is all that matters.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        random.copy_from_slice(&Sha256::digest(now.to_le_bytes())[..16]);
    }
    hex::encode(random).into_bytes()
}

fn write(file: &Path, salt: &[u8], known: &Known) -> io::Result<()> {
    let mut out = Vec::with_capacity(MAGIC.len() + known.len() * 96);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(salt.len() as u32).to_le_bytes());
    out.extend_from_slice(salt);
    for (path, stamp) in known {
        stamp.encode(path, &mut out);
    }
    write_private(file, &out)
}

fn parse(bytes: &[u8]) -> Option<(Vec<u8>, Known)> {
    let mut reader = Reader::new(bytes, MAGIC)?;
    let salt = reader.bytes()?.to_vec();
    let mut known = HashMap::new();
    while let Some((path, stamp)) = reader.record() {
        known.insert(path, stamp);
    }
    Some((salt, known))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    fn set_mtime(path: &Path, at: SystemTime) {
        fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(at)
            .unwrap();
    }

    #[test]
    fn a_new_content_with_the_old_size_and_mtime_changes_the_salt() {
        let dir = tempfile::tempdir().unwrap();
        let record = dir.path().join("record");
        let f = dir.path().join("f");
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        fs::write(&f, "AAAA").unwrap();
        set_mtime(&f, at);

        let mut first = Copies::at(record.clone());
        assert!(first.salt().is_empty());
        first
            .announced
            .note(&f, Stamp::of(&fs::symlink_metadata(&f).unwrap()));
        first.save();

        // Nothing moved: the same key.
        let mut again = Copies::at(record.clone());
        assert!(again.salt().is_empty());
        again.save();

        // A new size or mtime: the daemon sees it, the key stays.
        fs::write(&f, "AAAAA").unwrap();
        set_mtime(&f, at);
        assert!(Copies::at(record.clone()).salt().is_empty());
        fs::write(&f, "AAAA").unwrap();
        set_mtime(&f, at);

        // The same size and mtime, a new content: a new salt, kept.
        fs::write(&f, "BBBB").unwrap();
        set_mtime(&f, at);
        let mut stale = Copies::at(record.clone());
        let salt = stale.salt().to_vec();
        assert!(!salt.is_empty());
        stale
            .announced
            .note(&f, Stamp::of(&fs::symlink_metadata(&f).unwrap()));
        stale.save();
        assert_eq!(Copies::at(record.clone()).salt(), &salt[..]);
    }

    #[test]
    fn a_damaged_record_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let record = dir.path().join("record");
        fs::write(&record, b"kiln-session-copies-v1\n\xff\xff\xff\xff").unwrap();
        assert!(Copies::at(record).salt().is_empty());
    }
}
