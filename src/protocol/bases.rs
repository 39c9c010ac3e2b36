//! The base images of a stack that kiln does not build, as the daemon has
//! them (`kiln check`): the engine finds out, the views print it.

/// What the daemon has of a base image a Dockerfile names (`kiln check`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalBase {
    /// Pulled from its registry (or pushed there): the manifest digest the
    /// registry had then.
    FromRegistry { digest: String },
    /// On the daemon only (built or loaded here, never pulled or pushed):
    /// builds use it as it is; `--pull` would look for it in a registry.
    OnlyLocal,
    /// Not on the daemon: the first build pulls it.
    Absent,
    /// The daemon could not say (its message).
    Unknown(String),
}

/// A base image of the stack that kiln does not build, and who uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseImage {
    pub reference: String,
    /// The images whose Dockerfiles name it.
    pub used_by: Vec<String>,
    pub state: LocalBase,
}
