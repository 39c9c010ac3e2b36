//! The sending side's walk of a directory served over the BuildKit
//! session, as tonistiigi/fsutil's `Walk` (the version Docker 20.10
//! vendors) does it for the docker CLI:
//!
//! * entries come depth-first, names sorted bytewise within a directory,
//!   each directory before its contents (`filepath.Walk` order; the
//!   daemon's receiver rejects anything else as "changes out of order");
//! * `include-patterns` (and `followpaths`, whose symlinks are resolved
//!   into more include patterns first) keep a path when a pattern matches
//!   it or, for a directory on the way, a prefix of the pattern
//!   (`filepath.Match` globbing, [`crate::engine::glob`]);
//! * `exclude-patterns` are `.dockerignore` patterns, matched with
//!   [`DockerIgnore`] exactly as kiln's tar upload matches them (moby's
//!   incremental parent matching), so both builders see the same files.
//!   An excluded directory is read only when a `!` exception could bring
//!   something inside it back, and is sent only when something did;
//! * every entry becomes a [`Stat`]: Go `FileMode` bits, uid/gid (0 for
//!   the context, as the docker CLI maps them), size, mtime in
//!   nanoseconds, symlink targets (links are never followed), hard links
//!   (a later path of an inode names the first one), extended attributes.
//!
//! Names are bytes: a name that is not UTF-8 is sent as it is. Sockets,
//! FIFOs and device nodes are left out, as kiln's tar upload leaves them out.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::OsString;
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::engine::dockerignore::{clean, go_text, DockerIgnore, MatchInfo, PatternError};
use crate::engine::glob::{filepath_match, has_wildcards};
use crate::engine::own_dirs::{is_own, OwnDirs};

use super::wire::Stat;
use crate::engine::stamp::Stamp;

/// Go's `os.FileMode` bits, which fsutil puts on the wire.
pub(crate) mod go_mode {
    pub const DIR: u32 = 1 << 31;
    pub const SYMLINK: u32 = 1 << 27;
    pub const SETUID: u32 = 1 << 23;
    pub const SETGID: u32 = 1 << 22;
    pub const STICKY: u32 = 1 << 20;
    /// Every type bit (dir, symlink, pipe, socket, device, char device,
    /// irregular): a mode with none of them is a regular file.
    pub const TYPE: u32 = DIR | SYMLINK | (1 << 26) | (1 << 25) | (1 << 24) | (1 << 21) | (1 << 19);
}

/// What the daemon asked for, from the request's metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct WalkOpt {
    pub includes: Option<Vec<String>>,
    pub excludes: Option<Vec<String>>,
    pub follow_paths: Option<Vec<String>>,
    /// Send uid and gid 0 (the docker CLI does this for the context).
    pub reset_owner: bool,
}

/// One entry to send.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub stat: Stat,
    /// Where the content is read from (regular files).
    pub abs: PathBuf,
    /// A regular file's stamp as it was announced.
    pub stamp: Option<Stamp>,
}

impl Item {
    /// Whether the receiver may ask for this entry's content (fsutil's
    /// `fileCanRequestData`: no type bits).
    pub fn has_data(&self) -> bool {
        self.stat.mode & go_mode::TYPE == 0
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum WalkError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} is not a directory", path.display())]
    NotADirectory { path: PathBuf },
    #[error("invalid exclude pattern {0}")]
    Pattern(#[from] PatternError),
    /// The consumer stopped taking entries (the transfer ended).
    #[error("the transfer was stopped")]
    Stopped,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> WalkError + '_ {
    move |source| WalkError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Walks `root` and hands each entry to `emit`, in the order the receiver
/// expects. `emit` returns false to stop the walk.
pub(crate) fn walk(
    root: &Path,
    opt: &WalkOpt,
    emit: &mut dyn FnMut(Item) -> bool,
) -> Result<(), WalkError> {
    let root = fs::canonicalize(root).map_err(io_err(root))?;
    if !fs::metadata(&root).map_err(io_err(&root))?.is_dir() {
        return Err(WalkError::NotADirectory { path: root });
    }
    let ignore = match &opt.excludes {
        Some(patterns) => Some(DockerIgnore::from_patterns(patterns)?),
        None => None,
    };
    let includes = include_patterns(&root, opt)?;
    let mut walker = Walker {
        own: OwnDirs::of_kiln().within(&root),
        includes,
        ignore,
        reset_owner: opt.reset_owner,
        last_included_dir: None,
        pending: Vec::new(),
        inodes: HashMap::new(),
        emit,
    };
    walker.dir(&root, b"", &MatchInfo::default())
}

/// The include patterns, cleaned, with `followpaths` resolved and added
/// (fsutil's `Walk` prologue). None: no include filter.
fn include_patterns(root: &Path, opt: &WalkOpt) -> Result<Option<Vec<String>>, WalkError> {
    let mut includes: Option<Vec<String>> = opt
        .includes
        .as_ref()
        .map(|ps| ps.iter().map(|p| clean(p)).collect());
    if let Some(follow) = &opt.follow_paths {
        if let Some(targets) = follow_links(root, follow)? {
            let mut all = includes.unwrap_or_default();
            all.extend(targets);
            includes = dedupe_paths(all);
        }
    }
    Ok(includes)
}

struct Walker<'a> {
    /// kiln's own directories in the context: never sent.
    own: Vec<String>,
    includes: Option<Vec<String>>,
    ignore: Option<DockerIgnore>,
    reset_owner: bool,
    /// fsutil's `lastIncludedDir`: everything below it is included.
    last_included_dir: Option<String>,
    /// Excluded directories being walked for re-included contents, not
    /// sent yet: sent (outermost first) before the first entry inside them.
    pending: Vec<(Item, bool)>,
    /// (device, inode) of regular files seen, to the first path sent.
    inodes: HashMap<(u64, u64), Vec<u8>>,
    emit: &'a mut dyn FnMut(Item) -> bool,
}

impl Walker<'_> {
    fn dir(&mut self, dir_abs: &Path, dir_rel: &[u8], info: &MatchInfo) -> Result<(), WalkError> {
        let mut names: Vec<OsString> = fs::read_dir(dir_abs)
            .map_err(io_err(dir_abs))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .map_err(io_err(dir_abs))?;
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for name in names {
            let abs = dir_abs.join(&name);
            let mut rel = dir_rel.to_vec();
            if !rel.is_empty() {
                rel.push(b'/');
            }
            rel.extend_from_slice(name.as_bytes());
            let meta = match fs::symlink_metadata(&abs) {
                Ok(m) => m,
                // Gone since the listing: fsutil skips it too.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err(&abs)(e)),
            };
            self.entry(abs, rel, &meta, info)?;
        }
        Ok(())
    }

    fn entry(
        &mut self,
        abs: PathBuf,
        rel: Vec<u8>,
        meta: &Metadata,
        info: &MatchInfo,
    ) -> Result<(), WalkError> {
        let rel_text = go_text(&rel).into_owned();
        if is_own(&self.own, &rel_text) {
            return Ok(());
        }
        let is_dir = meta.is_dir();
        if !self.included(&rel_text, is_dir) {
            return Ok(());
        }
        let (excluded, child_info) = match &self.ignore {
            Some(ignore) => ignore.matches_with_parent(&rel_text, info),
            None => (false, MatchInfo::default()),
        };
        if excluded {
            let descend = is_dir
                && self
                    .ignore
                    .as_ref()
                    .is_some_and(|i| i.dir_may_have_included_children(&rel_text));
            if descend {
                let item = self.item(&abs, rel.clone(), meta)?;
                if let Some(item) = item {
                    self.pending.push((item, false));
                    self.dir(&abs, &rel, &child_info)?;
                    self.pending.pop();
                }
            }
            return Ok(());
        }
        let Some(item) = self.item(&abs, rel.clone(), meta)? else {
            return Ok(());
        };
        self.send(item)?;
        if is_dir {
            self.dir(&abs, &rel, &child_info)?;
        }
        Ok(())
    }

    /// fsutil's include-pattern check; remembers a fully included directory.
    fn included(&mut self, rel: &str, is_dir: bool) -> bool {
        let Some(includes) = &self.includes else {
            return true;
        };
        if let Some(dir) = &self.last_included_dir {
            if rel
                .strip_prefix(dir.as_str())
                .is_some_and(|below| below.starts_with('/'))
            {
                return true;
            }
        }
        let mut matched = false;
        let mut partial = true;
        for pattern in includes {
            let (ok, is_partial) = match_prefix(pattern, rel);
            if ok {
                matched = true;
                if !is_partial {
                    partial = false;
                    break;
                }
            }
        }
        if matched && !partial && is_dir {
            self.last_included_dir = Some(rel.to_string());
        }
        matched
    }

    /// Sends the pending excluded parents, then `item`.
    fn send(&mut self, item: Item) -> Result<(), WalkError> {
        for (parent, sent) in self.pending.iter_mut() {
            if !*sent {
                *sent = true;
                if !(self.emit)(parent.clone()) {
                    return Err(WalkError::Stopped);
                }
            }
        }
        if (self.emit)(item) {
            Ok(())
        } else {
            Err(WalkError::Stopped)
        }
    }

    /// The entry for one path (fsutil's `mkstat`); None for the kinds that
    /// are left out.
    fn item(
        &mut self,
        abs: &Path,
        rel: Vec<u8>,
        meta: &Metadata,
    ) -> Result<Option<Item>, WalkError> {
        let ft = meta.file_type();
        let mut stat = Stat {
            mode: go_file_mode(meta.mode()),
            uid: if self.reset_owner { 0 } else { meta.uid() },
            gid: if self.reset_owner { 0 } else { meta.gid() },
            mod_time: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
            ..Stat::default()
        };
        if ft.is_symlink() {
            stat.size = meta.size() as i64;
            stat.linkname = fs::read_link(abs)
                .map_err(io_err(abs))?
                .into_os_string()
                .into_vec();
        } else if ft.is_file() {
            stat.size = meta.size() as i64;
            if meta.nlink() > 1 {
                match self.inodes.get(&(meta.dev(), meta.ino())) {
                    Some(first) => {
                        stat.linkname = first.clone();
                        stat.size = 0;
                    }
                    None => {
                        self.inodes.insert((meta.dev(), meta.ino()), rel.clone());
                    }
                }
            }
        } else if !ft.is_dir() {
            return Ok(None);
        }
        stat.xattrs = xattrs(abs).map_err(io_err(abs))?;
        stat.path = rel;
        Ok(Some(Item {
            stat,
            abs: abs.to_path_buf(),
            stamp: ft.is_file().then(|| Stamp::of(meta)),
        }))
    }
}

/// Unix `st_mode` as Go's `os.FileMode`.
pub(crate) fn go_file_mode(st_mode: u32) -> u32 {
    let mut mode = st_mode & 0o777;
    match st_mode & libc::S_IFMT {
        libc::S_IFDIR => mode |= go_mode::DIR,
        libc::S_IFLNK => mode |= go_mode::SYMLINK,
        _ => {}
    }
    if st_mode & libc::S_ISUID != 0 {
        mode |= go_mode::SETUID;
    }
    if st_mode & libc::S_ISGID != 0 {
        mode |= go_mode::SETGID;
    }
    if st_mode & libc::S_ISVTX != 0 {
        mode |= go_mode::STICKY;
    }
    mode
}

/// A path's extended attributes (not following symlinks); none where the
/// filesystem has no support for them.
fn xattrs(path: &Path) -> io::Result<BTreeMap<String, Vec<u8>>> {
    let mut out = BTreeMap::new();
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let names = xattr_call(|buf, len| unsafe {
        // SAFETY: c_path is a valid C string; buf/len describe a writable
        // buffer (or null/0 to ask for the size).
        libc::llistxattr(c_path.as_ptr(), buf.cast(), len)
    })?;
    for name in names.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let Ok(c_name) = std::ffi::CString::new(name) else {
            continue;
        };
        let value = xattr_call(|buf, len| unsafe {
            // SAFETY: as above; c_name is a valid C string.
            libc::lgetxattr(c_path.as_ptr(), c_name.as_ptr(), buf.cast(), len)
        });
        // An attribute removed meanwhile is simply left out (fsutil too).
        if let Ok(value) = value {
            out.insert(String::from_utf8_lossy(name).into_owned(), value);
        }
    }
    Ok(out)
}

/// Runs a size-then-fill xattr syscall, retrying if the value grew.
fn xattr_call(call: impl Fn(*mut u8, usize) -> isize) -> io::Result<Vec<u8>> {
    loop {
        let size = call(std::ptr::null_mut(), 0);
        if size < 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::ENOTSUP) | Some(libc::ENODATA) => Ok(Vec::new()),
                _ => Err(e),
            };
        }
        if size == 0 {
            return Ok(Vec::new());
        }
        let mut buf = vec![0u8; size as usize];
        let got = call(buf.as_mut_ptr(), buf.len());
        if got >= 0 {
            buf.truncate(got as usize);
            return Ok(buf);
        }
        if io::Error::last_os_error().raw_os_error() != Some(libc::ERANGE) {
            return Err(io::Error::last_os_error());
        }
    }
}

/// fsutil's `matchPrefix`: whether `name` matches `pattern`, or (partial)
/// a leading part of it with as many path elements as `name` has.
fn match_prefix(pattern: &str, name: &str) -> (bool, bool) {
    let depth = name.matches('/').count();
    let mut pattern = pattern;
    let mut partial = false;
    if pattern.matches('/').count() > depth {
        let cut = pattern
            .match_indices('/')
            .nth(depth)
            .map_or(pattern.len(), |(i, _)| i);
        pattern = pattern.split_at(cut).0;
        partial = true;
    }
    // A malformed pattern matches nothing (fsutil ignores the error).
    (filepath_match(pattern, name).unwrap_or(false), partial)
}

/// fsutil's `dedupePaths`: drops paths below an earlier one; None (no
/// filter at all) when one of them is the root.
fn dedupe_paths(paths: Vec<String>) -> Option<Vec<String>> {
    let mut out: Vec<String> = Vec::with_capacity(paths.len());
    let mut last = String::new();
    for p in paths {
        if p == "." {
            return None;
        }
        if p.starts_with(&format!("{last}/")) {
            continue;
        }
        last = p.clone();
        out.push(p);
    }
    Some(out)
}

/// Go's `filepath.Join` for slash paths.
fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => String::new(),
        (true, false) => clean(b),
        (false, true) => clean(a),
        (false, false) => clean(&format!("{a}/{b}")),
    }
}

/// Go's `filepath.Dir` for slash paths.
fn dir_of(p: &str) -> String {
    match p.rfind('/') {
        Some(i) => clean(p.split_at(i + 1).0),
        None => ".".to_string(),
    }
}

/// fsutil's `FollowLinks`: the paths, with every symlink on the way
/// resolved (the link and its target are both kept), sorted and deduped.
/// None: the root itself is among them (no filter).
fn follow_links(root: &Path, paths: &[String]) -> Result<Option<Vec<String>>, WalkError> {
    let mut resolver = SymlinkResolver {
        root,
        resolved: BTreeSet::new(),
    };
    for p in paths {
        resolver.append(p)?;
    }
    Ok(dedupe_paths(resolver.resolved.into_iter().collect()))
}

struct SymlinkResolver<'a> {
    root: &'a Path,
    resolved: BTreeSet<String>,
}

impl SymlinkResolver<'_> {
    fn append(&mut self, p: &str) -> Result<(), WalkError> {
        let mut p = join(".", p);
        if p == ".." || p.starts_with("../") {
            // Outside the directory served: nothing there is sent anyway.
            return Ok(());
        }
        let mut current = ".".to_string();
        loop {
            let (first, rest) = p.split_once('/').unwrap_or((p.as_str(), ""));
            current = join(&current, first);
            let rest = rest.to_string();
            let targets = self.read_symlink(&current, true)?;
            if (rest.is_empty() || targets.is_some()) && self.resolved.contains(&current) {
                return Ok(());
            }
            if let Some(targets) = targets {
                self.resolved.insert(current);
                for target in targets {
                    self.append(&join(&target, &rest))?;
                }
                return Ok(());
            }
            if rest.is_empty() {
                self.resolved.insert(current);
                return Ok(());
            }
            p = rest;
        }
    }

    /// The targets of `p` if it is a symlink (or, with a wildcard in its
    /// last element, of the symlinks it matches), as paths from the root.
    fn read_symlink(
        &self,
        p: &str,
        allow_wildcard: bool,
    ) -> Result<Option<Vec<String>>, WalkError> {
        let real = self.root.join(p);
        let base = p.rsplit('/').next().unwrap_or(p);
        if allow_wildcard && has_wildcards(base) {
            let parent = real.parent().unwrap_or(self.root);
            let listing = match fs::read_dir(parent) {
                Ok(l) => l,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(io_err(parent)(e)),
            };
            let mut names: Vec<String> = listing
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            let mut out = Vec::new();
            for name in names
                .iter()
                .filter(|n| filepath_match(base, n).unwrap_or(false))
            {
                if let Some(t) = self.read_symlink(&join(&dir_of(p), name), false)? {
                    out.extend(t);
                }
            }
            return Ok((!out.is_empty()).then_some(out));
        }
        let meta = match fs::symlink_metadata(&real) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(&real)(e)),
        };
        if !meta.file_type().is_symlink() {
            return Ok(None);
        }
        let link = fs::read_link(&real).map_err(io_err(&real))?;
        let link = clean(&link.to_string_lossy());
        if link.starts_with('/') {
            return Ok(Some(vec![link]));
        }
        Ok(Some(vec![join("/", &join(&dir_of(p), &link))]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    fn write(root: &Path, rel: &str, content: &[u8]) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, content).unwrap();
    }

    fn paths(root: &Path, opt: &WalkOpt) -> Vec<String> {
        collect(root, opt)
            .into_iter()
            .map(|i| String::from_utf8_lossy(&i.stat.path).into_owned())
            .collect()
    }

    fn collect(root: &Path, opt: &WalkOpt) -> Vec<Item> {
        let mut out = Vec::new();
        walk(root, opt, &mut |i| {
            out.push(i);
            true
        })
        .unwrap();
        out
    }

    /// fsutil's receiver-side `Validator`: each path's directory is the
    /// last directory sent (or one of its ancestors) and names grow.
    fn assert_receiver_accepts(paths: &[String]) {
        let mut dirs: Vec<(String, String)> = vec![(String::new(), String::new())];
        for p in paths {
            let (dir, base) = p.rsplit_once('/').unwrap_or(("", p));
            while dirs.last().unwrap().0 != dir {
                dirs.pop();
                assert!(!dirs.is_empty(), "{p}: parent never sent");
            }
            let last = &mut dirs.last_mut().unwrap().1;
            assert!(
                last.as_bytes() < base.as_bytes(),
                "out of order: {p} after {last}"
            );
            *last = base.to_string();
            dirs.push((p.clone(), String::new()));
        }
    }

    #[test]
    fn order_is_fsutils_depth_first_bytewise() {
        let dir = tempfile::tempdir().unwrap();
        for rel in ["a/b", "a-c", "a.txt", "B", "a/z/y", "a/Z"] {
            write(dir.path(), rel, b"x");
        }
        let got = paths(dir.path(), &WalkOpt::default());
        assert_eq!(
            got,
            ["B", "a", "a/Z", "a/b", "a/z", "a/z/y", "a-c", "a.txt"]
        );
        assert_receiver_accepts(&got);
    }

    #[test]
    fn excluded_parents_are_sent_only_before_what_comes_back() {
        let dir = tempfile::tempdir().unwrap();
        for rel in [
            "keep.txt",
            "secret/keep.txt",
            "secret/key",
            "build/out",
            "node_modules/m/x.js",
        ] {
            write(dir.path(), rel, b"x");
        }
        let opt = WalkOpt {
            excludes: Some(vec![
                "secret".into(),
                "!secret/keep.txt".into(),
                "build".into(),
                "node_modules".into(),
            ]),
            ..WalkOpt::default()
        };
        let got = paths(dir.path(), &opt);
        assert_eq!(got, ["keep.txt", "secret", "secret/keep.txt"]);
        assert_receiver_accepts(&got);
    }

    #[test]
    fn includes_keep_matches_and_the_directories_on_the_way() {
        let dir = tempfile::tempdir().unwrap();
        for rel in [
            "src/app/main.rs",
            "src/app/lib.rs",
            "src/other.rs",
            "docs/a.md",
            "x.txt",
            "y.txt",
        ] {
            write(dir.path(), rel, b"x");
        }
        let opt = WalkOpt {
            includes: Some(vec!["src/app".into(), "*.txt".into()]),
            ..WalkOpt::default()
        };
        let got = paths(dir.path(), &opt);
        assert_eq!(
            got,
            [
                "src",
                "src/app",
                "src/app/lib.rs",
                "src/app/main.rs",
                "x.txt",
                "y.txt"
            ]
        );
        assert_receiver_accepts(&got);
    }

    #[test]
    fn followpaths_resolve_symlinks_into_includes() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "real/conf/app.toml", b"x");
        write(dir.path(), "real/other", b"x");
        write(dir.path(), "unrelated", b"x");
        symlink("real/conf", dir.path().join("conf")).unwrap();
        let opt = WalkOpt {
            follow_paths: Some(vec!["conf/app.toml".into()]),
            ..WalkOpt::default()
        };
        let got = paths(dir.path(), &opt);
        assert_eq!(got, ["conf", "real", "real/conf", "real/conf/app.toml"]);
        // The root among them: no filter at all.
        let opt = WalkOpt {
            follow_paths: Some(vec![".".into(), "conf".into()]),
            ..WalkOpt::default()
        };
        assert_eq!(paths(dir.path(), &opt).len(), 6);
    }

    #[test]
    fn stats_carry_modes_owners_times_links_and_hard_links() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "run.sh", b"#!/bin/sh\n");
        fs::set_permissions(
            dir.path().join("run.sh"),
            fs::Permissions::from_mode(0o4751),
        )
        .unwrap();
        write(dir.path(), "h1", b"same");
        fs::hard_link(dir.path().join("h1"), dir.path().join("h2")).unwrap();
        symlink("/abs/target", dir.path().join("sl")).unwrap();
        fs::create_dir(dir.path().join("d")).unwrap();
        fs::set_permissions(dir.path().join("d"), fs::Permissions::from_mode(0o1770)).unwrap();
        let items = collect(dir.path(), &WalkOpt::default());
        let by = |name: &str| {
            items
                .iter()
                .find(|i| i.stat.path == name.as_bytes())
                .unwrap()
        };

        let run = by("run.sh");
        assert_eq!(run.stat.mode, 0o751 | go_mode::SETUID);
        assert!(run.has_data());
        let meta = fs::metadata(dir.path().join("run.sh")).unwrap();
        assert_eq!(
            run.stat.mod_time,
            meta.mtime() * 1_000_000_000 + meta.mtime_nsec()
        );
        assert_eq!(run.stat.uid, meta.uid(), "owners kept unless reset");
        assert_eq!(run.stat.size, 10);

        assert!(by("h1").stat.linkname.is_empty());
        assert_eq!(by("h2").stat.linkname, b"h1");
        assert_eq!(by("h2").stat.size, 0);

        let sl = by("sl");
        assert_eq!(sl.stat.mode & go_mode::SYMLINK, go_mode::SYMLINK);
        assert_eq!(sl.stat.linkname, b"/abs/target");
        assert!(!sl.has_data());

        assert_eq!(by("d").stat.mode, 0o770 | go_mode::DIR | go_mode::STICKY);

        let reset = collect(
            dir.path(),
            &WalkOpt {
                reset_owner: true,
                ..WalkOpt::default()
            },
        );
        assert!(reset.iter().all(|i| i.stat.uid == 0 && i.stat.gid == 0));
    }

    #[test]
    fn special_files_are_left_out_and_odd_names_kept() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let odd = std::ffi::OsStr::from_bytes(b"caf\xe9");
        fs::write(dir.path().join(odd), b"x").unwrap();
        let _sock = std::os::unix::net::UnixListener::bind(dir.path().join("sock")).unwrap();
        let items = collect(dir.path(), &WalkOpt::default());
        let names: Vec<&[u8]> = items.iter().map(|i| i.stat.path.as_slice()).collect();
        assert_eq!(names, [b"caf\xe9".as_slice()]);
    }

    #[test]
    fn a_stopped_consumer_stops_the_walk() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a", b"x");
        write(dir.path(), "b", b"x");
        let mut seen = 0;
        let r = walk(dir.path(), &WalkOpt::default(), &mut |_| {
            seen += 1;
            false
        });
        assert!(matches!(r, Err(WalkError::Stopped)));
        assert_eq!(seen, 1);
    }

    #[test]
    fn prefix_matching_and_dedupe_follow_fsutil() {
        assert_eq!(match_prefix("src/app/main.rs", "src"), (true, true));
        assert_eq!(match_prefix("src/app/main.rs", "src/app"), (true, true));
        assert_eq!(
            match_prefix("src/app/main.rs", "src/app/main.rs"),
            (true, false)
        );
        assert_eq!(match_prefix("s*/app", "src"), (true, true));
        assert!(!match_prefix("src", "src/app").0);
        assert_eq!(
            dedupe_paths(vec!["a".into(), "a/b".into(), "ab".into()]),
            Some(vec!["a".to_string(), "ab".to_string()])
        );
        assert_eq!(dedupe_paths(vec!["a".into(), ".".into()]), None);
    }
}
