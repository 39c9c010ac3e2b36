//! Between the model and the engine: what the model asks of a run (its id,
//! the change check, the dashboard's edits) and what the engine reports
//! about it (`EngineEvent`). The engine's tasks send these through their
//! `Sink`; the runtime hands them to the model as `Msg::Engine`.

use std::collections::BTreeMap;

use serde::Serialize;

use super::daemon::{BuildEvent, PushEvent};
use super::history::LastSuccess;

/// Identifies one request to build an image; engine messages carry it so
/// that messages from a cancelled or superseded run are dropped.
pub type RunId = u64;

/// Which phase of an image's life an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Build,
    Push,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Build => "build",
            Phase::Push => "push",
        }
    }
}

/// Which builder the daemon ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BuilderKind {
    Legacy,
    Buildkit,
    /// Podman's builder, behind its Docker-compatible API.
    Buildah,
}

impl BuilderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BuilderKind::Legacy => "legacy",
            BuilderKind::Buildkit => "buildkit",
            BuilderKind::Buildah => "buildah",
        }
    }
}

/// Why an image was not built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    Unchanged,
    DependencyFailed,
    Prebuilt,
}

impl SkipReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Unchanged => "unchanged",
            SkipReason::DependencyFailed => "dependency_failed",
            SkipReason::Prebuilt => "prebuilt",
        }
    }
}

/// What the engine reports about one image's run.
#[derive(Debug, Clone)]
pub enum EngineEvent {
    /// The daemon accepted the build; which builder runs it.
    Started {
        builder: BuilderKind,
    },
    Build(BuildEvent),
    Built {
        image_id: String,
    },
    /// The engine decided not to build (unchanged, prebuilt image present).
    Skipped(SkipReason),
    Failed {
        phase: Phase,
        error: String,
    },
    /// Something to tell the user about this image (fallbacks, warnings).
    Notice(String),
    /// What this build's inputs are (change detection; kept in history).
    Inputs {
        digest: String,
        inputs: String,
    },
    /// A line of the push of `tag` (layer progress, retries, status text).
    Push {
        tag: String,
        event: PushEvent,
    },
    /// `tag` is in the registry; `digest` is its manifest's.
    Pushed {
        tag: String,
        digest: String,
    },
    /// Every tag is pushed (failures come as `Failed { phase: Push }`).
    PushDone,
    /// Copying image `of` from engine `from` to engine `to` (engine names):
    /// `bytes` so far of about `total` (its size on `from`; 0: unknown),
    /// `done` at the end. `registry`: the transfer registry it moves
    /// through (pushed there, pulled by digest); None: `docker save`
    /// streamed into `docker load` through kiln.
    Transfer {
        of: String,
        from: String,
        to: String,
        bytes: u64,
        total: u64,
        done: bool,
        registry: Option<String>,
    },
}

/// What the engine compares a build's inputs against before building: the
/// model's decision about change detection, with the data it needs.
/// `registry`: the build pulls its base images (`--pull`, `pull: true`), so
/// their digests in the registries count as inputs too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeCheck {
    /// History is off: build without working out the inputs.
    Off,
    /// Build whatever changed (`--force`, `--no-cache`, `no_cache`), but
    /// work out the inputs so the next build can compare against them.
    Forced { registry: bool },
    /// As `Forced`, and this build runs without the daemon's layer cache
    /// (the dashboard's `N`).
    NoCache { registry: bool },
    /// Skip the build when its inputs equal this last success's and that
    /// image is still tagged; `None`: no successful build yet.
    Against {
        last: Option<LastSuccess>,
        registry: bool,
    },
}

/// The dashboard's edits to one image for its next builds (the edit
/// prompt, `e`; parsed and shown by `app::edit`): the engine applies them
/// to its copy of the image's config when it starts the build.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageOverride {
    /// Replaces the config's build args.
    pub args: BTreeMap<String, String>,
    /// Replaces the config's tags when present.
    pub tags: Option<Vec<String>>,
    /// Replaces the config's target when present; `Some("")` clears it.
    pub target: Option<String>,
}

/// Why a dry run (`kiln build --dry-run`) says an image would be built:
/// the model's change check or what change detection found. The words are
/// the real run's rebuild notice (`rebuilding: …`); this is the kind, for
/// scripts (`would_build`'s `cause`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BuildCause {
    /// History is off: every build goes ahead, no inputs compared.
    NoHistory,
    /// No successful build of it is recorded.
    FirstBuild,
    /// `--force`, `--no-cache` or the image's `no_cache`.
    Forced,
    /// Without the daemon's cache (the dashboard's `N`).
    NoCache,
    /// Its inputs differ from the last success's (files, args, base
    /// images, a registry's digest, its tags).
    InputsChanged,
    /// Its inputs could not be worked out: the real run builds.
    Unknown,
    /// A git context: the daemon fetches it, nothing is compared before.
    GitContext,
    /// Unchanged itself, but a stack image it is built on would be rebuilt
    /// first (the real run then finds that base's new image).
    BaseRebuilt,
}

impl BuildCause {
    pub fn as_str(self) -> &'static str {
        match self {
            BuildCause::NoHistory => "no_history",
            BuildCause::FirstBuild => "first_build",
            BuildCause::Forced => "forced",
            BuildCause::NoCache => "no_cache",
            BuildCause::InputsChanged => "inputs_changed",
            BuildCause::Unknown => "unknown",
            BuildCause::GitContext => "git_context",
            BuildCause::BaseRebuilt => "base_rebuilt",
        }
    }
}
