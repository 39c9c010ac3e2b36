//! Several engines (the stack's `engines:`): what the model knows of each
//! (`EngineSlot`), where it sends a build and which parents must be moved
//! there first (`Placement`, `Move`).

/// One engine as the model sees it: its name, its job slots, and why it
/// is out of the run (unreachable at the start, lost, or not chosen with
/// `--engine`), if it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineSlot {
    pub name: String,
    pub jobs: usize,
    pub down: Option<String>,
}

/// Why an engine `--engine` did not name is out of the run.
pub const NOT_CHOSEN: &str = "not chosen with --engine";

impl EngineSlot {
    /// Whether the engine is out of the run for a reason that may pass
    /// (unreachable at the start, lost): it is tried again, and rejoins
    /// when it answers. One `--engine` did not choose never does.
    pub fn may_rejoin(&self) -> bool {
        self.down.as_deref().is_some_and(|d| d != NOT_CHOSEN)
    }
}

/// Where a build runs, and the images to bring there before it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// An index into the run's engines.
    pub engine: usize,
    pub parents: Vec<Move>,
    /// Also bring the built image to this engine (collecting) before
    /// reporting it built.
    pub collect_to: Option<usize>,
}

/// How an image moves between engines (the JSON `transfer` event's `via`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferVia {
    /// `docker save` on one engine streamed through kiln into `docker load`
    /// on the other.
    Stream,
    /// Pushed to the stack's `transfer_registry`, pulled by digest.
    Registry,
}

/// An image to copy from one engine to another, by its id (never a tag
/// that may name something else there), then tagged with `tags`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    /// The image's name in the stack.
    pub name: String,
    pub id: String,
    pub tags: Vec<String>,
    pub from: usize,
}
