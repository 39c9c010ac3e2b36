//! The directories under watch: each one an inotify watch (through
//! `notify`, one directory at a time, never recursive), added once however
//! many scopes want it and removed when the last one lets go.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use notify::{RecommendedWatcher, RecursiveMode, Watcher as _};

pub(super) struct Dirs {
    /// None when inotify could not be set up (`problem` says why).
    notify: Option<RecommendedWatcher>,
    /// Each watched directory and how many scopes want it.
    wanted: BTreeMap<PathBuf, u32>,
    /// Something to tell the user, once.
    problem: Option<String>,
    /// The inotify limit was hit (and said).
    limit_hit: bool,
}

impl Dirs {
    /// inotify, reporting to `handler` on notify's thread.
    pub(super) fn new<F>(handler: F) -> Dirs
    where
        F: FnMut(notify::Result<notify::Event>) + Send + 'static,
    {
        let (notify, problem) = match notify::recommended_watcher(handler) {
            Ok(w) => (Some(w), None),
            Err(e) => (None, Some(format!("watch mode cannot watch files: {e}"))),
        };
        Dirs {
            notify,
            wanted: BTreeMap::new(),
            problem,
            limit_hit: false,
        }
    }

    pub(super) fn add_all(&mut self, dirs: &BTreeSet<PathBuf>) {
        for dir in dirs {
            self.add(dir);
        }
    }

    pub(super) fn add(&mut self, dir: &Path) {
        if let Some(n) = self.wanted.get_mut(dir) {
            *n += 1;
            return;
        }
        let Some(notify) = &mut self.notify else {
            return;
        };
        match notify.watch(dir, RecursiveMode::NonRecursive) {
            Ok(()) => {
                self.wanted.insert(dir.to_path_buf(), 1);
            }
            Err(e) => match e.kind {
                notify::ErrorKind::MaxFilesWatch => {
                    if let Some(problem) = self.limit_problem() {
                        self.problem = Some(problem);
                    }
                }
                // Gone between the walk and the watch: nothing to watch.
                notify::ErrorKind::PathNotFound => {}
                _ => {
                    self.problem.get_or_insert_with(|| {
                        crate::sanitize::visible(&format!("cannot watch {}: {e}", dir.display()))
                            .into_owned()
                    });
                }
            },
        }
    }

    pub(super) fn remove_all(&mut self, dirs: &BTreeSet<PathBuf>) {
        for dir in dirs {
            self.remove(dir);
        }
    }

    pub(super) fn remove(&mut self, dir: &Path) {
        let Some(n) = self.wanted.get_mut(dir) else {
            return;
        };
        *n -= 1;
        if *n == 0 {
            self.wanted.remove(dir);
            if let Some(notify) = &mut self.notify {
                // Already gone when the directory was deleted or moved.
                let _ = notify.unwatch(dir);
            }
        }
    }

    pub(super) fn contains(&self, dir: &Path) -> bool {
        self.wanted.contains_key(dir)
    }

    /// How many directories are watched.
    pub(super) fn len(&self) -> usize {
        self.wanted.len()
    }

    /// What went wrong since last asked, if anything.
    pub(super) fn take_problem(&mut self) -> Option<String> {
        self.problem.take()
    }

    /// The inotify limit, said the first time only.
    pub(super) fn limit_problem(&mut self) -> Option<String> {
        if std::mem::replace(&mut self.limit_hit, true) {
            return None;
        }
        Some(
            "cannot watch every directory: the system's inotify limit is reached \
             (fs.inotify.max_user_watches); raise it (e.g. sysctl -w \
             fs.inotify.max_user_watches=524288) or leave big directories out \
             with .dockerignore"
                .to_string(),
        )
    }
}
