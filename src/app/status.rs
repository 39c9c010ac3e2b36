//! Where an image is in its life, and the rules that follow from it
//! (which states hold a job slot, which let dependents build, which count
//! as failures). A leaf of the model: the image, push and scheduling code
//! all read it.
//!
//! Idle → Queued → Building ⇄ Stalled → Pushing ⇄ Stalled
//!      → Done | Failed | TimedOut | Cancelled | Skipped

use crate::protocol::{Phase, SkipReason};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Not part of any run yet.
    Idle,
    /// Waiting for its dependencies or a free job slot.
    Queued,
    /// The engine is building it.
    Building,
    /// Building or pushing, but silent for longer than `stall_after`.
    Stalled(Phase),
    Pushing,
    Done,
    Failed(Phase),
    TimedOut,
    Cancelled,
    Skipped(SkipReason),
}

impl Status {
    /// Holds a job slot or a running task on the engine side.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            Status::Building | Status::Stalled(_) | Status::Pushing
        )
    }

    /// Part of the current run and not finished.
    pub fn is_pending(self) -> bool {
        self == Status::Queued || self.is_active()
    }

    pub fn is_final(self) -> bool {
        matches!(
            self,
            Status::Done
                | Status::Failed(_)
                | Status::TimedOut
                | Status::Cancelled
                | Status::Skipped(_)
        )
    }

    /// Pushing (or stalled while pushing).
    pub fn is_pushing(self) -> bool {
        matches!(self, Status::Pushing | Status::Stalled(Phase::Push))
    }

    /// A dependent may start building on an image in this state: one that
    /// is there (idle, built, unchanged, prebuilt), also while it pushes and
    /// even when its push failed: dependents build on the local image, not
    /// the registry's.
    pub fn lets_dependents_build(self) -> bool {
        matches!(
            self,
            Status::Idle
                | Status::Done
                | Status::Skipped(SkipReason::Unchanged)
                | Status::Skipped(SkipReason::Prebuilt)
                | Status::Failed(Phase::Push)
        ) || self.is_pushing()
    }

    /// Dependents of an image in this state are skipped: it ended badly (a
    /// failed push is not a reason: the image itself is fine).
    pub fn skips_dependents(self) -> bool {
        self.is_failure() && self != Status::Failed(Phase::Push)
    }

    /// Ended badly: dependents must not build.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            Status::Failed(_)
                | Status::TimedOut
                | Status::Cancelled
                | Status::Skipped(SkipReason::DependencyFailed)
        )
    }

    pub fn label(self) -> &'static str {
        match self {
            Status::Idle => "idle",
            Status::Queued => "queued",
            Status::Building => "building",
            Status::Stalled(_) => "stalled",
            Status::Pushing => "pushing",
            Status::Done => "done",
            Status::Failed(_) => "failed",
            Status::TimedOut => "timed out",
            Status::Cancelled => "cancelled",
            Status::Skipped(SkipReason::Unchanged) => "unchanged",
            Status::Skipped(SkipReason::Prebuilt) => "prebuilt",
            Status::Skipped(SkipReason::DependencyFailed) => "skipped",
        }
    }
}
