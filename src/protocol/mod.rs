//! The facts that cross between layers, as plain data, so that no layer
//! imports another's internals: what the daemon said (`daemon`), what the
//! model asks of a run and what the engine reports about it (`run`), what
//! the file watcher saw (`watch`), what the build history knows
//! (`history`), and what the daemon has of the stack's base images
//! (`bases`). Below the model, the engine, the history and the views; of
//! kiln's own it imports only the stack (`config`, a reloaded stack).

mod bases;
mod daemon;
mod engines;
mod history;
mod run;
mod watch;

pub use bases::{BaseImage, LocalBase};
pub use daemon::{is_internal_step, BuildEvent, DaemonPushError, PushEvent};
pub use engines::{EngineSlot, Move, Placement, TransferVia, NOT_CHOSEN};
pub use history::{ImageHistory, LastRun, LastSuccess, RunResult};
pub use run::{
    BuildCause, BuilderKind, ChangeCheck, EngineEvent, ImageOverride, Phase, RunId, SkipReason,
};
pub use watch::{ContextChanges, WatchEvent};
