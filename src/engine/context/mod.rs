//! The build context: which files `docker build` would send, the tar stream
//! that carries them to the daemon, and a digest for change detection.
//!
//! The types every step shares are here ([`ContextSpec`], [`Entry`],
//! [`ContextError`]); each step has a file of its own:
//!
//! * `dockerfile.rs`: where the Dockerfile is, seen from the context
//!   ([`locate_dockerfile`]: inside, outside, or inline text) and the name
//!   the daemon is told it by;
//! * `walk.rs`: [`walk`] lists the context after applying
//!   `root/.dockerignore` (see [`super::dockerignore`]), never reading
//!   directories that are excluded and cannot contain re-included paths,
//!   and always keeping the Dockerfile and the `.dockerignore` file
//!   (Docker's CLI does the same by appending exceptions for them). A
//!   Dockerfile that is not in the context (inline text, or a path outside
//!   it) is added to it under a generated name, as the docker CLI adds one;
//! * `tar.rs`: [`tar_stream`] turns that list into a tar archive produced
//!   on a blocking thread and handed over in bounded chunks, so memory use
//!   does not grow with the context size. Headers follow the docker CLI:
//!   uid/gid 0, no user/group names, permission bits and mtime (seconds)
//!   preserved, directories as `dir/` entries, symlinks stored (never
//!   followed);
//! * `digest.rs`: [`digest`] hashes paths, kinds, modes, link targets and
//!   file contents (not mtimes), so "touched but unchanged" does not look
//!   like a change.
//!
//! Sockets, FIFOs and device nodes are skipped: they cannot be `COPY`'d
//! meaningfully and opening a FIFO would block the walker.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::dockerignore::PatternError;
use crate::config::Dockerfile;

mod digest;
mod dockerfile;
mod tar;
mod walk;

pub use digest::{digest, digest_with_cache, digest_with_fingerprints};
pub use dockerfile::{
    dockerfile_ignore_path, ignore_file, inline_dockerfile_name, locate_dockerfile, DockerfilePlace,
};
pub use tar::tar_stream;
pub use walk::{walk, walk_with_stats, WalkStats};

/// Name of the ignore file read from the context root (unless the
/// Dockerfile has its own, [`ignore_file`]).
pub const DOCKERIGNORE: &str = ".dockerignore";

/// Size of the chunks [`tar_stream`] yields, and of the reads that hash a
/// file.
const CHUNK_SIZE: usize = 64 * 1024;

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

/// Opens a context file that was listed as a regular file, for reading,
/// without following a symlink or waiting on a FIFO (`O_NOFOLLOW |
/// O_NONBLOCK`, which a regular file's reads ignore): what was swapped in
/// since the listing is refused rather than followed or waited on.
pub fn open_regular(path: &Path) -> io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => io::Error::new(
                io::ErrorKind::InvalidInput,
                "it was a regular file and is now a symbolic link",
            ),
            _ => e,
        })?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "it was a regular file and is no longer one",
        ));
    }
    Ok(file)
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ContextError + '_ {
    move |source| ContextError::Io {
        path: path.to_path_buf(),
        source,
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

#[cfg(test)]
mod fixture;

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 21, item 7: what was listed as a regular file and is now a
    /// FIFO or a symlink is refused at once (the digest, the tar and the
    /// session's sender open files this way).
    #[test]
    fn open_regular_refuses_fifos_and_symlinks_without_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        fs::write(&file, "x").unwrap();
        assert!(open_regular(&file).is_ok());
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        let e = open_regular(&fifo).unwrap_err();
        assert!(e.to_string().contains("no longer"), "{e}");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        let e = open_regular(&link).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
    }
}
