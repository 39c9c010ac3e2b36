//! The file watcher of watch mode: inotify (through `notify`) on every
//! directory that can hold a path a watched image's build sees, and on the
//! stack file; changes are reported (`WatchEvent`, on the engine's
//! channel), debounced.
//!
//! ```text
//!  notify's thread ──► inputs ──► kiln-watch thread ──► WatchEvent::FilesChanged / ContextGone /
//!  runtime: Configure ┘             (scopes, dirs,        Watching / StackReloaded /
//!                                   debounce)             StackInvalid ──► the engine's channel
//! ```
//!
//! - inotify watches one directory at a time; kiln adds one watch per
//!   directory that matters (`scope.rs`), so a `node_modules` that
//!   `.dockerignore` excludes costs nothing. New directories are walked and
//!   watched as they appear; directories deleted or moved away are dropped.
//! - Changes are collected per image until nothing relevant has happened
//!   for [`QUIET`] (or [`MAX_WAIT`] has passed since the first): a
//!   `git checkout` of thousands of files is one message per image.
//! - The stack file's directory is watched (editors save by renaming a new
//!   file over the old one); a change reloads the stack the way the
//!   command line loaded it (`config::StackSource`).
//! - A context directory deleted or renamed is reported for its image.
//! - Idle, the thread blocks on its channel: no timer, no CPU.
//!
//! Nothing here decides what to rebuild: that is `app::watch`.

mod changes;
mod dirs;
pub(crate) mod scope;

use std::collections::BTreeSet;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use notify::Event as FsEvent;
use tokio::sync::mpsc;

use crate::config::{Config, ContextSource, Source, StackSource};
use crate::engine::dockerignore::go_text;
use crate::engine::own_dirs;
use crate::engine::report::Report;
use crate::protocol::{ContextChanges, WatchEvent};
use crate::sanitize::visible;
use changes::{Change, Pending};
use dirs::Dirs;
use scope::Scope;

/// How long nothing relevant must happen before changes are reported.
pub(crate) const QUIET: Duration = Duration::from_millis(300);
/// The longest changes wait while relevant ones keep coming.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(30);
/// How many changed files one message names (the rest are counted).
pub(crate) const NAMED_FILES: usize = 20;

/// What the watch thread is told.
enum Input {
    /// What inotify saw (through notify's thread).
    Fs(notify::Result<FsEvent>),
    /// Watch these images of this stack (and its file), instead of
    /// whatever was watched before.
    Configure {
        config: Arc<Config>,
        images: Vec<usize>,
    },
    Stop,
}

/// The running watcher; dropping it stops watching.
pub(crate) struct Watcher {
    inputs: std_mpsc::Sender<Input>,
}

impl Watcher {
    /// Start the watch thread, reporting to `tx`; `reload` is how to load
    /// the stack again when its file changes (none: the file is not
    /// watched).
    pub(crate) fn start(
        tx: mpsc::Sender<Report>,
        reload: Option<StackSource>,
    ) -> std::io::Result<Watcher> {
        let (inputs, queue) = std_mpsc::channel();
        let fs = inputs.clone();
        std::thread::Builder::new()
            .name("kiln-watch".into())
            .spawn(move || {
                let dirs = Dirs::new(move |event| {
                    if !changes::is_read_only(&event) {
                        let _ = fs.send(Input::Fs(event));
                    }
                });
                State::new(dirs, tx, reload).run(queue);
            })?;
        Ok(Watcher { inputs })
    }

    /// Watch `images` of `config` from now on.
    pub(crate) fn configure(&self, config: Arc<Config>, images: Vec<usize>) {
        let _ = self.inputs.send(Input::Configure { config, images });
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.inputs.send(Input::Stop);
    }
}

/// The watch thread's state.
struct State {
    dirs: Dirs,
    tx: mpsc::Sender<Report>,
    reload: Option<StackSource>,
    /// The stack the model builds from (to say what a reload changed).
    config: Option<Arc<Config>>,
    scopes: Vec<Scope>,
    /// Per scope: the directories it watches.
    scope_dirs: Vec<BTreeSet<PathBuf>>,
    /// Per scope: its context directory is gone.
    gone: Vec<bool>,
    /// The stack's files (kiln.yaml, or compose files and their env
    /// file), absolute.
    stack_files: Vec<PathBuf>,
    /// Directories watched to see the stack file and the context
    /// directories themselves replaced, deleted or renamed.
    parents: BTreeSet<PathBuf>,
    pending: Pending,
}

impl State {
    fn new(dirs: Dirs, tx: mpsc::Sender<Report>, reload: Option<StackSource>) -> State {
        State {
            dirs,
            tx,
            reload,
            config: None,
            scopes: Vec::new(),
            scope_dirs: Vec::new(),
            gone: Vec::new(),
            stack_files: Vec::new(),
            parents: BTreeSet::new(),
            pending: Pending::default(),
        }
    }

    /// Until stopped (or the runtime is gone): wait for inputs, report what
    /// is due.
    fn run(mut self, queue: std_mpsc::Receiver<Input>) {
        loop {
            let input = match self.pending.due() {
                None => queue.recv().ok(),
                Some(due) => {
                    let wait = due.saturating_duration_since(Instant::now());
                    match queue.recv_timeout(wait) {
                        Ok(input) => Some(input),
                        Err(std_mpsc::RecvTimeoutError::Timeout) => {
                            if !self.report() {
                                return;
                            }
                            continue;
                        }
                        Err(std_mpsc::RecvTimeoutError::Disconnected) => None,
                    }
                }
            };
            let alive = match input {
                None | Some(Input::Stop) => false,
                Some(Input::Fs(Ok(event))) => {
                    self.on_event(event);
                    true
                }
                Some(Input::Fs(Err(e))) => self.on_error(e),
                Some(Input::Configure { config, images }) => self.configure(config, images),
            };
            if !alive {
                return;
            }
        }
    }

    /// Report to the runtime; false when it is gone.
    fn send(&self, event: WatchEvent) -> bool {
        self.tx.blocking_send(Report::Watch(event)).is_ok()
    }

    /// Watch `images` of `config` (and its file): new scopes, their
    /// directories watched (before the old ones are let go, so the
    /// directories both watch are never unwatched), then say what is
    /// watched.
    fn configure(&mut self, config: Arc<Config>, images: Vec<usize>) -> bool {
        if let Some(error) = self.dirs.cannot_watch() {
            // Nothing will ever be seen: said, and the thread ends.
            let error = error.to_string();
            let at = Instant::now();
            let _ = self.send(WatchEvent::CannotWatch { error, at });
            return false;
        }
        let mut scopes = Vec::new();
        let mut unwatchable = Vec::new();
        let deps = config.plan().deps;
        for &i in &images {
            let Some(img) = config.images.get(i) else {
                continue;
            };
            match &img.source {
                Source::Build {
                    context: ContextSource::Dir(root),
                    dockerfile,
                } => {
                    let mut scope = Scope::new(
                        img.name.clone(),
                        absolute(root),
                        dockerfile,
                        img.args.clone(),
                    );
                    let bases = deps.get(i).map(Vec::as_slice).unwrap_or_default();
                    if bases.iter().any(|d| scope::copies_on_build(&config, d.on)) {
                        scope.reads_everything();
                    }
                    scopes.push(scope);
                }
                Source::Build {
                    context: ContextSource::Git(_),
                    ..
                } => unwatchable.push(img.name.clone()),
                Source::Prebuilt { .. } => {}
            }
        }
        let env = |name: &str| std::env::var(name).ok();
        let stack_files = self
            .reload
            .as_ref()
            .map(|r| r.files(&env))
            .unwrap_or_default();
        let mut parents: BTreeSet<PathBuf> = scopes
            .iter()
            .flat_map(|s| [Some(&s.root), s.dockerfile_outside.as_ref()])
            .filter_map(|p| p?.parent().map(Path::to_path_buf))
            .collect();
        parents.extend(
            stack_files
                .iter()
                .filter_map(|f| f.parent().map(Path::to_path_buf)),
        );

        let old_dirs = std::mem::take(&mut self.scope_dirs);
        let old_parents = std::mem::replace(&mut self.parents, parents);
        self.scope_dirs = vec![BTreeSet::new(); scopes.len()];
        self.gone = vec![false; scopes.len()];
        self.scopes = scopes;
        let mut lost = Vec::new();
        for k in 0..self.scopes.len() {
            let root = self.scopes[k].root.clone();
            if let Err(e) = self.walk_and_watch(k, &root, "", false) {
                lost.push((self.scopes[k].name.clone(), gone_error(&root, &e)));
                self.gone[k] = true;
            }
        }
        self.dirs.add_all(&self.parents.clone());
        for old in old_dirs {
            self.dirs.remove_all(&old);
        }
        self.dirs.remove_all(&old_parents);
        self.stack_files = stack_files;
        self.config = Some(config);
        // What is pending stays: its changes happened (the model ignores
        // images it no longer watches).
        self.say_what_is_watched(unwatchable, lost)
    }

    /// `Watching`, after any problems: images that cannot be watched, the
    /// inotify limit, contexts that are gone.
    fn say_what_is_watched(
        &mut self,
        unwatchable: Vec<String>,
        lost: Vec<(String, String)>,
    ) -> bool {
        let mut msgs = Vec::new();
        if !unwatchable.is_empty() {
            msgs.push(WatchEvent::Notice(format!(
                "not watched (their context is a git URL): {}",
                unwatchable.join(", ")
            )));
        }
        if let Some(problem) = self.dirs.take_problem() {
            msgs.push(WatchEvent::Notice(problem));
        }
        for scope in &self.scopes {
            if let Some(warning) = own_dirs::warning_once(&scope.root, &scope.own) {
                msgs.push(WatchEvent::Notice(shown(&warning)));
            }
        }
        let at = Instant::now();
        for (image, error) in lost {
            msgs.push(WatchEvent::ContextGone { image, error, at });
        }
        let mut paths: Vec<String> = self
            .scopes
            .iter()
            .map(|s| shown(&s.root.to_string_lossy()))
            .collect();
        let existing = self.stack_files.iter().filter(|f| f.is_file());
        paths.extend(existing.map(|f| shown(&f.to_string_lossy())));
        msgs.push(WatchEvent::Watching {
            paths,
            dirs: self.dirs.len(),
            at,
        });
        msgs.into_iter().all(|m| self.send(m))
    }

    /// One thing inotify saw.
    fn on_event(&mut self, event: FsEvent) {
        if event.need_rescan() {
            self.missed_events();
            return;
        }
        let Some(change) = changes::change_of(&event, &self.dirs) else {
            return;
        };
        for path in &event.paths {
            self.on_change(path, change);
        }
    }

    /// A change at `path`: to the stack file, or within (or of) contexts.
    fn on_change(&mut self, path: &Path, change: Change) {
        let now = Instant::now();
        if self.stack_files.iter().any(|f| f == path) {
            self.pending.stack = true;
            self.pending.touch(now);
        }
        for k in 0..self.scopes.len() {
            if self.scopes[k].is_outside_build_file(path) {
                let name = self.scopes[k].name.clone();
                self.pending.reread.insert(name.clone());
                self.pending
                    .add(&name, path.to_string_lossy().into_owned(), now);
            }
            let root = &self.scopes[k].root;
            if path == root {
                self.on_root_change(k, change, now);
            } else if let Ok(rel) = path.strip_prefix(root) {
                if !self.gone[k] {
                    // As the matcher reads names (Go's way with bytes
                    // that are not UTF-8).
                    let rel = go_text(rel.as_os_str().as_bytes()).into_owned();
                    self.on_context_change(k, path, rel, change, now);
                }
            }
        }
    }

    /// The context directory itself was deleted, moved away, or (after
    /// that) is back.
    fn on_root_change(&mut self, k: usize, change: Change, now: Instant) {
        let name = self.scopes[k].name.clone();
        match change {
            Change::Vanished { .. } => {
                self.gone[k] = true;
                let dirs = std::mem::take(&mut self.scope_dirs[k]);
                self.dirs.remove_all(&dirs);
                self.pending.gone.insert(name);
                self.pending.touch(now);
            }
            Change::Appeared { .. } if self.gone[k] => {
                self.gone[k] = false;
                self.pending.gone.remove(&name);
                self.pending.reread.insert(name.clone());
                self.pending.add(&name, ".".into(), now);
            }
            _ => {}
        }
    }

    /// A change at `rel` inside scope `k`'s context: new directories are
    /// walked and watched, vanished ones let go; what matters is kept for
    /// the report.
    fn on_context_change(
        &mut self,
        k: usize,
        path: &Path,
        rel: String,
        change: Change,
        now: Instant,
    ) {
        let scope = &self.scopes[k];
        if scope.is_build_file(&rel) {
            self.pending.reread.insert(scope.name.clone());
        }
        let dir = matches!(
            change,
            Change::Appeared { dir: true } | Change::Vanished { dir: true }
        );
        let matters = scope.matters(&rel, dir);
        match change {
            Change::Appeared { dir: true } if scope.descends(&rel) => {
                // Its content may have been written before its watch was
                // added: walk it for that too.
                let name = scope.name.clone();
                if let Ok(found) = self.walk_and_watch(k, path, &rel, true) {
                    for p in found.paths {
                        self.pending.add(&name, p, now);
                    }
                    if let Some((_, more)) = self.pending.files.get_mut(&name) {
                        *more += found.more;
                    }
                }
            }
            Change::Vanished { dir: true } => self.let_go_below(k, path),
            _ => {}
        }
        if matters {
            let name = self.scopes[k].name.clone();
            self.pending.add(&name, rel, now);
        }
    }

    /// Walk scope `k`'s directories from `abs` (`rel` in its context),
    /// watching each before it is read; what the walk found, or why `abs`
    /// cannot be read (then it is not watched either).
    fn walk_and_watch(
        &mut self,
        k: usize,
        abs: &Path,
        rel: &str,
        paths: bool,
    ) -> std::io::Result<scope::Found> {
        let (dirs, scope_dirs) = (&mut self.dirs, &mut self.scope_dirs[k]);
        let walked = self.scopes[k].walk(abs, rel, paths, &mut |dir| {
            if scope_dirs.insert(dir.to_path_buf()) {
                dirs.add(dir);
            }
        });
        if walked.is_err() && scope_dirs.remove(abs) {
            dirs.remove(abs);
        }
        walked
    }

    /// Scope `k` no longer watches `dir` and what is below it.
    fn let_go_below(&mut self, k: usize, dir: &Path) {
        let below: BTreeSet<PathBuf> = self.scope_dirs[k]
            .range(dir.to_path_buf()..)
            .take_while(|d| d.starts_with(dir))
            .cloned()
            .collect();
        for d in &below {
            self.scope_dirs[k].remove(d);
        }
        self.dirs.remove_all(&below);
    }

    /// inotify's queue overflowed: changes were lost. Every image may have
    /// changed; walk everything again.
    fn missed_events(&mut self) {
        let now = Instant::now();
        for scope in &self.scopes {
            self.pending.files.entry(scope.name.clone()).or_default();
            self.pending.reread.insert(scope.name.clone());
        }
        self.pending.touch(now);
    }

    /// notify's own errors: the inotify limit (said once), or its thread
    /// failing to read (nothing to do but say so). False when the runtime
    /// is gone.
    fn on_error(&mut self, error: notify::Error) -> bool {
        let message = match error.kind {
            notify::ErrorKind::MaxFilesWatch => match self.dirs.limit_problem() {
                Some(problem) => problem,
                None => return true,
            },
            _ => format!("the file watcher failed: {}", shown(&error.to_string())),
        };
        self.send(WatchEvent::Notice(message))
    }

    /// The quiet period is over: re-read build files, then report contexts
    /// gone, files changed, and the stack reloaded. False when the runtime
    /// is gone.
    fn report(&mut self) -> bool {
        let pending = std::mem::take(&mut self.pending);
        for name in &pending.reread {
            self.reread(name);
        }
        let at = Instant::now();
        let mut msgs = Vec::new();
        for name in &pending.gone {
            let Some(scope) = self.scopes.iter().find(|s| &s.name == name) else {
                continue;
            };
            let error = format!(
                "the build context {} was deleted or renamed",
                scope.root.display()
            );
            msgs.push(WatchEvent::ContextGone {
                image: name.clone(),
                error: shown(&error),
                at,
            });
        }
        let changes: Vec<ContextChanges> = pending
            .files
            .into_iter()
            .filter(|(image, _)| !pending.gone.contains(image))
            .map(|(image, (files, more))| {
                let total = files.len() + more;
                let files: Vec<String> = files.into_iter().take(NAMED_FILES).collect();
                ContextChanges {
                    more: total - files.len(),
                    image,
                    files,
                }
            })
            .collect();
        if !changes.is_empty() {
            msgs.push(WatchEvent::FilesChanged { changes, at });
        }
        if pending.stack {
            msgs.extend(self.reload_stack());
        }
        if let Some(problem) = self.dirs.take_problem() {
            msgs.push(WatchEvent::Notice(problem));
        }
        msgs.into_iter().all(|m| self.send(m))
    }

    /// Scope `name`'s Dockerfile or `.dockerignore` changed: read them and
    /// watch the directories it now sees.
    fn reread(&mut self, name: &str) {
        let Some(k) = self.scopes.iter().position(|s| s.name == name) else {
            return;
        };
        if self.gone[k] {
            return;
        }
        self.scopes[k].reread();
        // Watch what it sees now before letting go of what it saw.
        let old = std::mem::take(&mut self.scope_dirs[k]);
        let root = self.scopes[k].root.clone();
        let _ = self.walk_and_watch(k, &root, "", false);
        self.dirs.remove_all(&old);
    }

    /// Load the stack again as the command line did: the new stack and
    /// what changed in it, or why it does not load.
    fn reload_stack(&self) -> Vec<WatchEvent> {
        let (Some(source), Some(old)) = (&self.reload, &self.config) else {
            return Vec::new();
        };
        let env = |name: &str| std::env::var(name).ok();
        match source.load(&env) {
            Ok(loaded) => {
                let mut msgs: Vec<WatchEvent> = loaded
                    .warnings
                    .iter()
                    .map(|w| WatchEvent::Notice(format!("warning: {}", shown(&w.to_string()))))
                    .collect();
                msgs.push(WatchEvent::StackReloaded {
                    changed: old.changed_images(&loaded.config),
                    config: Arc::new(loaded.config),
                    at: Instant::now(),
                });
                msgs
            }
            Err(e) => {
                let text: Vec<String> = e.to_string().lines().map(shown).collect();
                vec![WatchEvent::StackInvalid(text.join("\n"))]
            }
        }
    }
}

/// Why a context directory cannot be watched.
fn gone_error(root: &Path, e: &std::io::Error) -> String {
    shown(&format!(
        "cannot watch the build context {}: {e}",
        root.display()
    ))
}

/// Text from the file system (names, errors naming them) as it may be
/// shown: control characters written out, so a name neither drives the
/// terminal nor breaks a line, and what is odd about it shows.
fn shown(text: &str) -> String {
    visible(text).into_owned()
}

/// `path` made absolute against the current directory, without resolving
/// symlinks (events name paths the way their watch was added).
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}
