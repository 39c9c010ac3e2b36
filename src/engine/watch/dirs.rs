//! The directories under watch: each one an inotify watch (through
//! `notify`, one directory at a time, never recursive), added once however
//! many scopes want it and removed when the last one lets go.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use notify::{RecommendedWatcher, RecursiveMode, Watcher as _};

pub(super) struct Dirs {
    /// Why inotify could not be set up, when it could not.
    notify: Result<RecommendedWatcher, String>,
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
        let notify = notify::recommended_watcher(handler).map_err(|e| {
            let why = format!("inotify cannot start: {e}");
            let hint = match e.kind {
                // EMFILE from inotify_init: too many inotify instances.
                notify::ErrorKind::Io(ref io) if io.raw_os_error() == Some(libc::EMFILE) => {
                    " (too many inotify instances, or open files: raise \
                     fs.inotify.max_user_instances, e.g. sysctl -w \
                     fs.inotify.max_user_instances=512, or end other watchers)"
                }
                _ => "",
            };
            crate::sanitize::visible(&format!("{why}{hint}")).into_owned()
        });
        Dirs {
            notify,
            wanted: BTreeMap::new(),
            problem: None,
            limit_hit: false,
        }
    }

    /// Why nothing can be watched at all (inotify did not start), if so.
    pub(super) fn cannot_watch(&self) -> Option<&str> {
        self.notify.as_ref().err().map(String::as_str)
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
        let Ok(notify) = &mut self.notify else {
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
            if let Ok(notify) = &mut self.notify {
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
