//! One image's share of a watch: its context root and the one question a
//! change raises — does a change at this path matter to this image? — plus
//! the directories to watch for it.
//!
//! A path matters when the build would see it: it is in the context after
//! `.dockerignore` (Docker's matcher, `super::super::dockerignore`, as the
//! context walker in `context.rs` applies it) and the Dockerfile reads it
//! (`COPY`/`ADD` sources and bind mounts, `config::context_reads`). The
//! Dockerfile and `.dockerignore` themselves always matter. Editors' swap
//! and backup files never do.
//!
//! Directories are listed the way the context walker prunes: a directory
//! nothing below which can matter (an excluded `node_modules`, a `docs/`
//! the Dockerfile never copies) is not read, let alone watched. Symlinks
//! are not followed (the context sends them as links).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::config::{context_reads, Config, ContextReads, ContextSource, Dockerfile, Source};
use crate::engine::context::{
    dockerfile_ignore_path, ignore_file, locate_dockerfile, ContextSpec, DockerfilePlace,
    DOCKERIGNORE,
};
use crate::engine::dockerignore::{clean, go_text, DockerIgnore};
use crate::engine::own_dirs::{is_own, OwnDirs};
use std::os::unix::ffi::OsStrExt;

/// How many changed paths one walk of a new directory names at most.
pub(crate) const MAX_NAMED: usize = 10_000;

/// One watched image.
#[derive(Debug, Clone)]
pub(crate) struct Scope {
    pub name: String,
    /// The context directory, absolute.
    pub root: PathBuf,
    /// The Dockerfile as configured (its text, or a path from the root).
    dockerfile: Dockerfile,
    /// Where it is inside the context (clean, relative), if it is a file
    /// there.
    dockerfile_rel: Option<String>,
    /// Where it is outside the context (its real path), if it is: watched
    /// through its directory.
    pub dockerfile_outside: Option<PathBuf>,
    /// The build args (the Dockerfile's `$VAR`s in sources).
    args: BTreeMap<String, String>,
    ignore: DockerIgnore,
    /// What the Dockerfile reads, as an ignore file that leaves out
    /// everything else (`*`, then `!SOURCE` per source); None: everything.
    reads: Option<DockerIgnore>,
    /// kiln's own directories inside the context (relative): never a
    /// change, never watched.
    pub own: Vec<String>,
    /// The image's base runs `ONBUILD COPY`/`ADD` in it: what it reads is
    /// not all in its own Dockerfile, so the whole context counts.
    everything: bool,
}

/// What a walk below a directory found.
#[derive(Debug, Default)]
pub(crate) struct Found {
    /// Paths that matter, relative to the root (when asked for), at most
    /// [`MAX_NAMED`].
    pub paths: Vec<String>,
    /// Paths that matter beyond those named.
    pub more: usize,
}

impl Scope {
    /// The scope of image `name` built from `root` with `dockerfile` (a
    /// path is relative to the root); reads its `.dockerignore` and
    /// Dockerfile.
    pub fn new(
        name: String,
        root: PathBuf,
        dockerfile: &Dockerfile,
        args: BTreeMap<String, String>,
    ) -> Scope {
        let spec = ContextSpec {
            root: root.clone(),
            dockerfile: dockerfile.clone(),
        };
        let (dockerfile_rel, dockerfile_outside) = match (locate_dockerfile(&spec), dockerfile) {
            (Ok(DockerfilePlace::Inside(rel)), _) => (Some(rel), None),
            (Ok(DockerfilePlace::Outside(real)), _) => (None, Some(real)),
            (Ok(DockerfilePlace::Inline(_)), _) | (Err(_), Dockerfile::Inline(_)) => (None, None),
            // Not there (yet): where it would be, for when it comes.
            (Err(_), Dockerfile::Path(path)) => {
                let cleaned = clean(path.trim_start_matches("./"));
                (Some(cleaned.trim_start_matches('/').to_string()), None)
            }
        };
        // kiln's own directories inside the context exist before it is
        // walked, as before a build walks it: their parents (`.cache`) made
        // by kiln later would be a change.
        let kilns = OwnDirs::of_kiln();
        let own = kilns.within(&root);
        if !own.is_empty() {
            kilns.create();
        }
        let mut scope = Scope {
            name,
            root: root.clone(),
            dockerfile: dockerfile.clone(),
            dockerfile_rel,
            dockerfile_outside,
            args,
            ignore: DockerIgnore::default(),
            reads: None,
            own,
            everything: false,
        };
        scope.reread();
        scope
    }

    /// Read `.dockerignore` and the Dockerfile again (one of them changed).
    /// Unreadable ones leave everything in view: the build will say what is
    /// wrong with them.
    pub fn reread(&mut self) {
        let place = match (&self.dockerfile_rel, &self.dockerfile_outside) {
            (Some(rel), _) => DockerfilePlace::Inside(rel.clone()),
            (None, Some(real)) => DockerfilePlace::Outside(real.clone()),
            (None, None) => DockerfilePlace::Inline(String::new()),
        };
        self.ignore = fs::read(ignore_file(&self.root, &place))
            .map(|bytes| DockerIgnore::parse(&go_text(&bytes)))
            .unwrap_or_default();
        self.reads = self
            .dockerfile
            .text_in(&self.root)
            .and_then(|text| reads_matcher(&text, &self.args))
            .filter(|_| !self.everything);
    }

    /// Count the whole context (after `.dockerignore`), whatever the
    /// Dockerfile copies: a base's `ONBUILD COPY` reads from it too.
    pub fn reads_everything(&mut self) {
        self.everything = true;
        self.reads = None;
    }

    /// Whether a change at `rel` (relative to the root) matters.
    pub fn matters(&self, rel: &str, is_dir: bool) -> bool {
        if is_own(&self.own, rel) {
            return false;
        }
        if self.is_build_file(rel) {
            return true;
        }
        let name = rel.rsplit('/').next().unwrap_or(rel);
        !is_editor_scratch(name)
            && seen(&self.ignore, rel, is_dir)
            && self.reads.as_ref().is_none_or(|r| seen(r, rel, is_dir))
    }

    /// The Dockerfile (if it is a file in the context), `.dockerignore`, or
    /// the Dockerfile's own ignore file (`Dockerfile.dockerignore`, which
    /// replaces `.dockerignore` when it exists): a change there changes
    /// what the scope sees.
    pub fn is_build_file(&self, rel: &str) -> bool {
        rel == DOCKERIGNORE
            || self.dockerfile_rel.as_deref().is_some_and(|d| {
                d == rel
                    || rel
                        .strip_prefix(d)
                        .is_some_and(|rest| rest == ".dockerignore")
            })
    }

    /// The Dockerfile outside the context, or its own ignore file beside
    /// it (the directory they are in is watched).
    pub fn is_outside_build_file(&self, path: &Path) -> bool {
        self.dockerfile_outside
            .as_ref()
            .is_some_and(|d| d == path || dockerfile_ignore_path(d).is_some_and(|own| own == path))
    }

    /// Whether to watch directory `rel`: something below it can matter.
    pub fn descends(&self, rel: &str) -> bool {
        if is_own(&self.own, rel) {
            return false;
        }
        let holds_dockerfile = self
            .dockerfile_rel
            .as_deref()
            .and_then(|p| p.strip_prefix(rel))
            .is_some_and(|r| r.starts_with('/'));
        self.matters(rel, true) || holds_dockerfile
    }

    /// Walk from directory `abs` (`rel` below the root; the root: "") down
    /// through the directories to watch, calling `watch` on each before
    /// reading it (so that nothing created meanwhile goes unseen), and
    /// collecting, with `paths`, the paths below that matter. `Err` only
    /// when `abs` itself cannot be read; what vanishes meanwhile is skipped.
    pub fn walk(
        &self,
        abs: &Path,
        rel: &str,
        paths: bool,
        watch: &mut dyn FnMut(&Path),
    ) -> std::io::Result<Found> {
        let mut found = Found::default();
        let mut stack = vec![(abs.to_path_buf(), rel.to_string())];
        let mut first = true;
        while let Some((dir_abs, dir_rel)) = stack.pop() {
            watch(&dir_abs);
            let listing = match fs::read_dir(&dir_abs) {
                Ok(listing) => listing,
                Err(e) if first => return Err(e),
                Err(_) => continue,
            };
            first = false;
            for item in listing.flatten() {
                let is_dir = item.file_type().is_ok_and(|t| t.is_dir());
                let name = item.file_name();
                let child = join(&dir_rel, &go_text(name.as_bytes()));
                if paths && self.matters(&child, is_dir) {
                    if found.paths.len() < MAX_NAMED {
                        found.paths.push(child.clone());
                    } else {
                        found.more += 1;
                    }
                }
                if is_dir && self.descends(&child) {
                    stack.push((item.path(), child));
                }
            }
        }
        Ok(found)
    }
}

/// `rel` (or, for a directory, something below it) is left in by `ignore`.
fn seen(ignore: &DockerIgnore, rel: &str, is_dir: bool) -> bool {
    !ignore.is_excluded(rel) || (is_dir && ignore.dir_may_have_included_children(rel))
}

/// What a Dockerfile reads, as a matcher (see `Scope::reads`); None when
/// it may read anything.
fn reads_matcher(dockerfile: &str, args: &BTreeMap<String, String>) -> Option<DockerIgnore> {
    let ContextReads::Paths(sources) = context_reads(dockerfile, args) else {
        return None;
    };
    let mut text = String::from("*\n");
    for source in &sources {
        let cleaned = clean(source.trim_start_matches('/'));
        if cleaned == "." || cleaned == ".." || cleaned.starts_with("../") {
            return None;
        }
        text.push('!');
        text.push_str(&cleaned);
        text.push('\n');
    }
    let matcher = DockerIgnore::parse(&text);
    matcher.invalid_patterns().is_empty().then_some(matcher)
}

/// Files editors write beside the one being saved (vim's swap files and its
/// `4913` probe, backups, emacs' lock and auto-save files, JetBrains'
/// safe-write copies): never a reason to rebuild.
pub(crate) fn is_editor_scratch(name: &str) -> bool {
    name == "4913"
        || name.ends_with('~')
        || [".swp", ".swo", ".swx", "___jb_tmp___", "___jb_old___"]
            .iter()
            .any(|s| name.ends_with(s))
        || name.starts_with(".#")
        || (name.len() > 1 && name.starts_with('#') && name.ends_with('#'))
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// Whether image `i`'s Dockerfile has an `ONBUILD COPY` or `ONBUILD ADD`:
/// an image built on it reads what that names from its own context, which
/// its own Dockerfile does not say.
pub(super) fn copies_on_build(config: &Config, i: usize) -> bool {
    let Some(Source::Build {
        context: ContextSource::Dir(root),
        dockerfile,
    }) = config.images.get(i).map(|img| &img.source)
    else {
        return false;
    };
    let Some(text) = dockerfile.text_in(root) else {
        return false;
    };
    text.lines().any(|line| {
        let mut words = line.split_whitespace();
        let is = |w: Option<&str>, what: &str| w.is_some_and(|w| w.eq_ignore_ascii_case(what));
        is(words.next(), "ONBUILD") && {
            let next = words.next();
            is(next, "COPY") || is(next, "ADD")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (rel, text) in files {
            let p = dir.path().join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, text).unwrap();
        }
        dir
    }

    fn scope(dir: &tempfile::TempDir) -> Scope {
        Scope::new(
            "web".into(),
            dir.path().to_path_buf(),
            &Dockerfile::Path("Dockerfile".into()),
            BTreeMap::new(),
        )
    }

    /// The directories a walk of the whole context watches, and what it
    /// found.
    fn walk(scope: &Scope, paths: bool) -> (Vec<String>, Found) {
        let mut dirs = Vec::new();
        let found = scope
            .walk(&scope.root, "", paths, &mut |d| {
                let rel = d.strip_prefix(&scope.root).unwrap();
                dirs.push(rel.to_string_lossy().into_owned());
            })
            .unwrap();
        dirs.sort();
        (dirs, found)
    }

    #[test]
    fn dockerignored_paths_do_not_matter_and_their_directories_are_not_watched() {
        let dir = context(&[
            ("Dockerfile", "FROM scratch\nCOPY . /app\n"),
            (".dockerignore", "node_modules\n*.log\n!keep.log\n"),
            ("src/app.js", ""),
            ("node_modules/left/index.js", ""),
            ("debug.log", ""),
            ("keep.log", ""),
        ]);
        let s = scope(&dir);
        assert!(s.matters("src/app.js", false));
        assert!(!s.matters("node_modules/left/index.js", false));
        assert!(!s.matters("debug.log", false));
        assert!(s.matters("keep.log", false));
        assert!(s.matters(".dockerignore", false));
        assert!(s.matters("Dockerfile", false));
        let (dirs, found) = walk(&s, true);
        assert_eq!(dirs, ["", "src"]);
        let mut paths = found.paths.clone();
        paths.sort();
        assert_eq!(
            paths,
            [
                ".dockerignore",
                "Dockerfile",
                "keep.log",
                "src",
                "src/app.js"
            ]
        );
    }

    /// Issue 21, item 5: `Dockerfile.dockerignore` replaces `.dockerignore`,
    /// as the daemon has it.
    #[test]
    fn the_dockerfiles_own_ignore_file_replaces_dockerignore() {
        let dir = context(&[
            ("Dockerfile", "FROM scratch\nCOPY . /app\n"),
            (".dockerignore", "a\n"),
            ("Dockerfile.dockerignore", "b/x\n"),
            ("a/only", ""),
            ("b/x", ""),
            ("b/y", ""),
        ]);
        let mut s = scope(&dir);
        assert!(s.matters("a/only", false));
        assert!(!s.matters("b/x", false));
        assert!(s.matters("b/y", false));
        assert!(s.is_build_file("Dockerfile.dockerignore"));
        assert!(!s.is_build_file("Dockerfile.dockerignore2"));
        // Gone: `.dockerignore` is back in force.
        std::fs::remove_file(dir.path().join("Dockerfile.dockerignore")).unwrap();
        s.reread();
        assert!(!s.matters("a/only", false));
        assert!(s.matters("b/x", false));
    }

    #[test]
    fn paths_the_dockerfile_never_reads_do_not_matter() {
        let dir = context(&[
            (
                "Dockerfile",
                "FROM scratch\nCOPY src/ /app/\nCOPY conf/*.json /etc/\n",
            ),
            ("src/deep/a.rs", ""),
            ("conf/a.json", ""),
            ("conf/notes.txt", ""),
            ("docs/readme.md", ""),
        ]);
        let s = scope(&dir);
        assert!(s.matters("src/deep/a.rs", false));
        assert!(s.matters("src/new/dir", true));
        assert!(s.matters("conf/a.json", false));
        assert!(!s.matters("conf/notes.txt", false));
        assert!(!s.matters("docs/readme.md", false));
        assert!(!s.matters("README.md", false));
        assert_eq!(walk(&s, false).0, ["", "conf", "src", "src/deep"]);
    }

    #[test]
    fn a_changed_dockerfile_is_read_again() {
        let dir = context(&[("Dockerfile", "FROM scratch\nCOPY a /a\n"), ("b", "")]);
        let mut s = scope(&dir);
        assert!(!s.matters("b", false));
        fs::write(dir.path().join("Dockerfile"), "FROM scratch\nCOPY . /\n").unwrap();
        s.reread();
        assert!(s.matters("b", false));
    }

    #[test]
    fn an_inline_dockerfile_says_what_is_read() {
        let dir = context(&[("app/main.py", ""), ("docs/x.md", "")]);
        let s = Scope::new(
            "web".into(),
            dir.path().to_path_buf(),
            &Dockerfile::Inline("FROM scratch\nCOPY app /app\n".into()),
            BTreeMap::new(),
        );
        assert!(s.matters("app/main.py", false));
        assert!(!s.matters("docs/x.md", false));
        assert!(!s.matters("Dockerfile", false), "no Dockerfile file");
    }

    #[test]
    fn a_dockerfile_outside_the_context_is_known_by_its_real_path() {
        let dir = context(&[
            ("web.Dockerfile", "FROM scratch\nCOPY a /a\n"),
            ("ctx/a", ""),
        ]);
        let s = Scope::new(
            "web".into(),
            dir.path().join("ctx"),
            &Dockerfile::Path("../web.Dockerfile".into()),
            BTreeMap::new(),
        );
        let real = fs::canonicalize(dir.path().join("web.Dockerfile")).unwrap();
        assert_eq!(s.dockerfile_outside, Some(real));
        assert!(s.matters("a", false));
        assert!(!s.is_build_file("../web.Dockerfile"));
    }

    #[test]
    fn editor_scratch_files_never_matter() {
        let dir = context(&[("Dockerfile", "FROM scratch\nCOPY . /\n")]);
        let s = scope(&dir);
        for name in [
            ".index.html.swp",
            "index.html~",
            "4913",
            ".#index.html",
            "#index.html#",
            "index.html___jb_tmp___",
        ] {
            assert!(!s.matters(&format!("public/{name}"), false), "{name}");
        }
        assert!(s.matters("public/index.html", false));
    }

    #[test]
    fn a_nested_dockerfile_keeps_its_directory_watched() {
        let dir = context(&[
            ("docker/web.Dockerfile", "FROM scratch\nCOPY app /app\n"),
            ("app/main.py", ""),
        ]);
        let s = Scope::new(
            "web".into(),
            dir.path().to_path_buf(),
            &Dockerfile::Path("./docker/web.Dockerfile".into()),
            BTreeMap::new(),
        );
        assert!(s.matters("docker/web.Dockerfile", false));
        assert_eq!(walk(&s, false).0, ["", "app", "docker"]);
    }
}
