//! What a file-system event is to watch mode: reads are nothing, the rest
//! a [`Change`] at a path; and the changes seen and not yet reported
//! ([`Pending`]), debounced by [`QUIET`] and [`MAX_WAIT`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Instant;

use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind, RemoveKind, RenameMode};
use notify::{Event as FsEvent, EventKind as FsKind};

use super::dirs::Dirs;
use super::scope::MAX_NAMED;
use super::{MAX_WAIT, QUIET};

/// Opening and reading files (every build reads its whole context) is no
/// change; dropped on notify's thread, before it costs anything more.
pub(super) fn is_read_only(event: &notify::Result<FsEvent>) -> bool {
    matches!(
        event,
        Ok(FsEvent {
            kind: FsKind::Access(
                AccessKind::Open(_) | AccessKind::Close(AccessMode::Read) | AccessKind::Read
            ),
            ..
        })
    )
}

/// A change at one path, as the scopes see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Change {
    /// Created or moved in.
    Appeared { dir: bool },
    /// Deleted or moved away.
    Vanished { dir: bool },
    /// Written, or its metadata changed.
    Modified,
}

/// Changes seen and not yet reported.
#[derive(Debug, Default)]
pub(super) struct Pending {
    /// Per image: changed paths (relative to its context), and how many
    /// more than could be kept.
    pub(super) files: BTreeMap<String, (BTreeSet<String>, usize)>,
    /// Images whose Dockerfile or `.dockerignore` changed.
    pub(super) reread: BTreeSet<String>,
    /// Images whose context directory went away.
    pub(super) gone: BTreeSet<String>,
    /// The stack file changed.
    pub(super) stack: bool,
    /// When the first change came, and the last.
    pub(super) first: Option<Instant>,
    pub(super) last: Option<Instant>,
}

impl Pending {
    pub(super) fn touch(&mut self, now: Instant) {
        self.first.get_or_insert(now);
        self.last = Some(now);
    }

    /// When to report: after the quiet period, or at the latest MAX_WAIT
    /// after the first change.
    pub(super) fn due(&self) -> Option<Instant> {
        Some((self.last? + QUIET).min(self.first? + MAX_WAIT))
    }

    pub(super) fn add(&mut self, image: &str, rel: String, now: Instant) {
        let (files, more) = self.files.entry(image.to_string()).or_default();
        if files.len() < MAX_NAMED || files.contains(&rel) {
            files.insert(rel);
        } else {
            *more += 1;
        }
        self.touch(now);
    }
}

/// The change an event is, if it is one (`dirs`: the directories watched,
/// which a deleted path may have been).
pub(super) fn change_of(event: &FsEvent, dirs: &Dirs) -> Option<Change> {
    let path = event.paths.first()?;
    Some(match event.kind {
        FsKind::Create(kind) => Change::Appeared {
            dir: kind == CreateKind::Folder || (kind == CreateKind::Any && is_dir(path)),
        },
        FsKind::Remove(kind) => Change::Vanished {
            dir: kind == RemoveKind::Folder || dirs.contains(path),
        },
        FsKind::Modify(ModifyKind::Name(RenameMode::From)) => Change::Vanished {
            dir: dirs.contains(path),
        },
        FsKind::Modify(ModifyKind::Name(RenameMode::To)) => Change::Appeared { dir: is_dir(path) },
        // Reported as From and To already.
        FsKind::Modify(ModifyKind::Name(_)) => return None,
        FsKind::Modify(_) | FsKind::Access(AccessKind::Close(AccessMode::Write)) => {
            Change::Modified
        }
        _ => return None,
    })
}

fn is_dir(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_due_after_a_quiet_period_or_the_longest_wait() {
        let t0 = Instant::now();
        let mut pending = Pending::default();
        assert_eq!(pending.due(), None, "nothing pending: no timer at all");
        pending.add("web", "a".into(), t0);
        assert_eq!(pending.due(), Some(t0 + QUIET));
        // A burst keeps pushing the report back...
        for i in 1..20 {
            pending.add("web", format!("f{i}"), t0 + QUIET * i / 2);
        }
        assert_eq!(pending.due(), Some(t0 + QUIET * 19 / 2 + QUIET));
        // ...but never past the longest wait.
        pending.add("web", "late".into(), t0 + MAX_WAIT);
        assert_eq!(pending.due(), Some(t0 + MAX_WAIT));
        let (files, more) = &pending.files["web"];
        assert_eq!((files.len(), *more), (21, 0));
    }

    #[test]
    fn a_burst_names_a_bounded_number_of_files() {
        let t0 = Instant::now();
        let mut pending = Pending::default();
        for i in 0..MAX_NAMED + 5 {
            pending.add("web", format!("f{i}"), t0);
        }
        pending.add("web", "f0".into(), t0);
        let (files, more) = &pending.files["web"];
        assert_eq!((files.len(), *more), (MAX_NAMED, 5));
    }

    #[test]
    fn reads_are_no_change() {
        let read = FsEvent::new(FsKind::Access(AccessKind::Open(AccessMode::Any)));
        let written = FsEvent::new(FsKind::Access(AccessKind::Close(AccessMode::Write)));
        assert!(is_read_only(&Ok(read)));
        assert!(!is_read_only(&Ok(written)));
    }
}
