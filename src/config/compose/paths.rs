//! Relative paths of included projects and extended files, made to start
//! at the main project's directory.
//!
//! kiln joins a build context to the main project's directory; compose-go
//! resolves the paths of an included project against that project's own
//! directory, and those of a service extended from another file against
//! that file's directory (`paths/resolve.go`). So each file is read with
//! its *base* (where its relative paths start, relative to the main
//! project's directory: empty for the main project's files) and its paths
//! are rewritten to `base/path` as it is read. Rewritten are the paths
//! kiln reads: a service's `build` (short form), `build.context` and the
//! paths of `build.ssh`, and the top-level `secrets.*.file` and
//! `configs.*.file`. Remote contexts (git, URLs, `service:` and other
//! `scheme://` contexts), absolute paths and paths in the home directory
//! (`~/…`, which compose-go expands) stay as written. No I/O.

use std::path::{Component, Path, PathBuf};

use super::tree::{Entry, Kind, Node};
use crate::config::schema::is_git_context;

/// `path` cleaned as text the way Go's `filepath.Clean` (and so
/// compose-go, which joins paths with it) cleans it: `.` dropped, `a/..`
/// dropped, `..` kept only where nothing is before it to drop. Empty: `.`.
pub(crate) fn clean(path: &Path) -> PathBuf {
    let mut parts: Vec<Component> = Vec::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match parts.last() {
                Some(Component::Normal(_)) => {
                    parts.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => parts.push(c),
            },
            other => parts.push(other),
        }
    }
    let cleaned: PathBuf = parts.iter().collect();
    if cleaned.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        cleaned
    }
}

/// Whether `base` is the main project's directory.
fn is_main(base: &Path) -> bool {
    base.as_os_str().is_empty() || base == Path::new(".")
}

/// Rewrites the relative paths of one file's tree to start at the main
/// project's directory (see the module's doc).
pub(crate) fn rebase(tree: &mut Node, base: &Path) {
    if is_main(base) {
        return;
    }
    let Some(top) = tree.entries_mut() else {
        return;
    };
    for section in top.iter_mut() {
        let Some(items) = section.value.entries_mut() else {
            continue;
        };
        for item in items.iter_mut() {
            match section.key.as_str() {
                "services" => rebase_build(&mut item.value, base),
                "secrets" | "configs" => {
                    if let Some(file) = item.value.entries_mut().and_then(|e| find(e, "file")) {
                        rebase_str(&mut file.value, base, false);
                    }
                }
                _ => {}
            }
        }
    }
}

/// A service's `build: DIR` or `build.context`.
fn rebase_build(service: &mut Node, base: &Path) {
    let Some(build) = service.entries_mut().and_then(|e| find(e, "build")) else {
        return;
    };
    match build.value.entries_mut() {
        Some(entries) => {
            if let Some(context) = find(entries, "context") {
                rebase_str(&mut context.value, base, true);
            }
            if let Some(ssh) = find(entries, "ssh") {
                rebase_ssh(&mut ssh.value, base);
            }
        }
        None => rebase_str(&mut build.value, base, true),
    }
}

/// The paths of `build.ssh`: `ID=PATH` items of its list form, the values
/// of its mapping form.
fn rebase_ssh(ssh: &mut Node, base: &Path) {
    match &mut ssh.kind {
        Kind::Seq(items) => {
            for item in items {
                let Kind::Str(text) = &mut item.kind else {
                    continue;
                };
                if let Some((id, path)) = text.split_once('=') {
                    let mut node = Node::new(Kind::Str(path.to_string()), item.at.clone());
                    rebase_str(&mut node, base, false);
                    if let Kind::Str(path) = node.kind {
                        *text = format!("{id}={path}");
                    }
                }
            }
        }
        Kind::Map(entries) => {
            for e in entries {
                rebase_str(&mut e.value, base, false);
            }
        }
        _ => {}
    }
}

fn find<'e>(entries: &'e mut [Entry], key: &str) -> Option<&'e mut Entry> {
    entries.iter_mut().find(|e| e.key == key)
}

/// A path string made to start at the main project's directory; `context`:
/// remote build contexts are left alone.
fn rebase_str(node: &mut Node, base: &Path, context: bool) {
    let Kind::Str(text) = &mut node.kind else {
        return;
    };
    let remote = context
        && (text.contains("://")
            || text.starts_with("service:")
            || text.starts_with("ssh://")
            || is_git_context(text));
    if text.is_empty() || remote || text.starts_with('~') || Path::new(text.as_str()).is_absolute()
    {
        return;
    }
    *text = clean(&base.join(text.as_str()))
        .to_string_lossy()
        .into_owned();
}

/// A `build:` mapping without `context` builds the directory its project
/// is in: for an included project, `base` (compose-go sets the default
/// before resolving the project's paths).
pub(crate) fn default_contexts(tree: &mut Node, base: &Path) {
    if is_main(base) {
        return;
    }
    let Some(services) = tree
        .entries_mut()
        .and_then(|top| find(top, "services"))
        .and_then(|s| s.value.entries_mut())
    else {
        return;
    };
    for service in services.iter_mut() {
        let Some(build) = service.value.entries_mut().and_then(|e| find(e, "build")) else {
            continue;
        };
        let at = build.value.at.clone();
        let Some(entries) = build.value.entries_mut() else {
            continue;
        };
        if entries.iter().all(|e| e.key != "context") {
            let dir = base.to_string_lossy().into_owned();
            entries.push(Entry {
                key: "context".to_string(),
                key_at: at.clone(),
                value: Node::new(Kind::Str(dir), at),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::checks::Problems;
    use crate::config::compose::tree::parse;

    fn tree(text: &str) -> Node {
        let mut out = Problems::default();
        parse(Path::new("c.yaml"), text, &|_| None, &mut out).unwrap()
    }

    fn text(n: &Node, path: &[&str]) -> String {
        let mut n = n;
        for key in path {
            n = n.get(key).unwrap();
        }
        n.scalar_text().unwrap()
    }

    #[test]
    fn paths_kiln_reads_start_at_the_main_project() {
        let mut t = tree(
            "services:\n  a:\n    build: ./app\n  b:\n    build:\n      context: ../b\n      dockerfile: x/Dockerfile\n      ssh: [default, k=./key, h=~/.ssh/id]\n  f:\n    build: {ssh: {k: key}}\n  c:\n    build: https://github.com/x/y.git#main\n  d:\n    build: {context: /abs}\n  e:\n    build: {dockerfile: D}\nsecrets:\n  s: {file: ./s.txt}\n",
        );
        rebase(&mut t, Path::new("sub/dir"));
        let at = |t: &Node, svc: &str, rest: &[&str]| {
            let mut p = vec!["services", svc];
            p.extend_from_slice(rest);
            text(t, &p)
        };
        assert_eq!(at(&t, "a", &["build"]), "sub/dir/app");
        assert_eq!(at(&t, "b", &["build", "context"]), "sub/b");
        assert_eq!(at(&t, "b", &["build", "dockerfile"]), "x/Dockerfile");
        assert_eq!(at(&t, "c", &["build"]), "https://github.com/x/y.git#main");
        assert_eq!(at(&t, "d", &["build", "context"]), "/abs");
        assert_eq!(text(&t, &["secrets", "s", "file"]), "sub/dir/s.txt");
        let ssh = t
            .get("services")
            .unwrap()
            .get("b")
            .unwrap()
            .get("build")
            .unwrap();
        let items: Vec<String> = match &ssh.get("ssh").unwrap().kind {
            Kind::Seq(items) => items.iter().filter_map(Node::scalar_text).collect(),
            _ => panic!(),
        };
        assert_eq!(items, ["default", "k=sub/dir/key", "h=~/.ssh/id"]);
        assert_eq!(at(&t, "f", &["build", "ssh", "k"]), "sub/dir/key");
        default_contexts(&mut t, Path::new("sub/dir"));
        assert_eq!(at(&t, "e", &["build", "context"]), "sub/dir");
        assert_eq!(at(&t, "a", &["build"]), "sub/dir/app");
    }

    #[test]
    fn the_main_project_is_left_as_written() {
        let mut t = tree("services:\n  a:\n    build: ./app\n  e:\n    build: {dockerfile: D}\n");
        rebase(&mut t, Path::new(""));
        default_contexts(&mut t, Path::new("."));
        assert_eq!(text(&t, &["services", "a", "build"]), "./app");
        assert!(t
            .get("services")
            .unwrap()
            .get("e")
            .unwrap()
            .get("build")
            .unwrap()
            .get("context")
            .is_none());
        assert_eq!(clean(Path::new("./a/./b/../c")), Path::new("a/c"));
        assert_eq!(clean(Path::new("a/../../b")), Path::new("../b"));
        assert_eq!(clean(Path::new("/../x")), Path::new("/x"));
        assert_eq!(clean(Path::new("./")), Path::new("."));
    }
}
