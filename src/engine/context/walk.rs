//! The walk of a build context: every file, directory and symlink Docker
//! would send, after `.dockerignore`, with a Dockerfile from elsewhere
//! added under a generated name.

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, Metadata};
use std::io;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use bytes::Bytes;

use super::dockerfile::generated_dockerfile_name;
use super::{
    ignore_file, io_err, locate_dockerfile, ContextError, ContextSpec, DockerfilePlace, Entry,
    EntryKind, DOCKERIGNORE,
};
use crate::engine::dockerignore::{go_text, DockerIgnore, MatchInfo};
use crate::engine::own_dirs::{is_own, OwnDirs};
use std::os::unix::ffi::OsStrExt;

/// Counters from a walk, mainly to prove pruning works.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WalkStats {
    /// Directories whose listing was read (the root included).
    pub dirs_read: u64,
    /// Excluded directories skipped without being read.
    pub dirs_pruned: u64,
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

    // The Dockerfile's own ignore file replaces `.dockerignore`, which is
    // then a file like any other (as under BuildKit).
    let ignore_path = ignore_file(root, &place);
    let at_root = ignore_path == root.join(DOCKERIGNORE);
    let (ignore, has_ignore_file) = match fs::read(&ignore_path) {
        Ok(bytes) => (DockerIgnore::try_parse(&go_text(&bytes))?, true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => (DockerIgnore::default(), false),
        Err(e) => return Err(io_err(&ignore_path)(e)),
    };

    if has_ignore_file && at_root {
        forced.push(DOCKERIGNORE.to_string());
    }

    let own = OwnDirs::of_kiln().within(root);
    let mut walker = Walker {
        ignore: &ignore,
        forced: &forced,
        own: &own,
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
        while let Some((parent, _)) = rel.rsplit_once('/') {
            rel = parent;
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
    entries.push(generated_entry(root, &name, content, 0, 0o600));
    let ignore = match entries.iter().position(|e| e.rel == DOCKERIGNORE) {
        Some(i) => {
            let old = entries.remove(i);
            let mut content = fs::read(&old.abs).map_err(io_err(&old.abs))?;
            content.extend_from_slice(format!("\n{name}\n").as_bytes());
            // The file's own header, as the docker CLI keeps it.
            generated_entry(
                root,
                DOCKERIGNORE,
                Bytes::from(content),
                old.mtime,
                old.mode,
            )
        }
        None => {
            let content = format!("{DOCKERIGNORE}\n{name}\n");
            generated_entry(root, DOCKERIGNORE, Bytes::from(content), 0, 0o600)
        }
    };
    entries.push(ignore);
    Ok(())
}

fn generated_entry(root: &Path, rel: &str, content: Bytes, mtime: u64, mode: u32) -> Entry {
    Entry {
        rel: rel.to_string(),
        rel_os: PathBuf::from(rel),
        size: content.len() as u64,
        kind: EntryKind::Generated(content),
        mode,
        mtime,
        abs: root.join(rel),
    }
}

struct Walker<'a> {
    ignore: &'a DockerIgnore,
    /// Paths sent even when .dockerignore matches them.
    forced: &'a [String],
    /// kiln's own directories in the context: never sent nor read.
    own: &'a [String],
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
                let name_str = go_text(name.as_bytes());
                let rel = if dir_rel.is_empty() {
                    name_str.to_string()
                } else {
                    format!("{dir_rel}/{name_str}")
                };
                if is_own(self.own, &rel) {
                    continue;
                }
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
                    super::open_regular(&abs).map_err(io_err(&abs))?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Dockerfile;
    use crate::engine::context::fixture::*;
    use crate::engine::context::{digest, inline_dockerfile_name};
    use std::collections::BTreeSet;
    #[cfg(unix)]
    use std::os::unix::fs::PermissionsExt;

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
        if std::fs::File::open(&locked).is_ok() {
            // Running as root: permissions do not stop reads, nothing to test.
            return;
        }
        let err = walk(&spec(dir.path())).unwrap_err();
        assert!(err.to_string().contains("locked.txt"), "{err}");
    }
}
