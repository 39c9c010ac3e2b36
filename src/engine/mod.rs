//! Everything that talks to the Docker daemon (and watches the files it
//! builds from). The executor takes the runtime's `Request`s and runs each
//! image's work in its own task, which reports through a `Sink` as
//! `Report`s: the engine's own type, which the runtime turns into the
//! model's messages. Nothing here decides what to build next (that is
//! `app`'s scheduler), and nothing here imports the model (`app`):
//! what both sides read is `protocol`'s.

pub mod bases;
pub mod build;
pub mod change;
pub mod connect;
pub mod context;
pub mod credentials;
pub mod dockerignore;
pub mod executor;
pub(crate) mod glob;
pub mod hash_cache;
pub mod identify;
pub mod inputs;
pub mod multi;
pub mod own_dirs;
pub mod parse;
pub mod prebuilt;
pub mod push;
pub mod report;
pub(crate) mod session;
pub mod sink;
pub(crate) mod stamp;
pub mod steps;
pub(crate) mod transfer;
pub(crate) mod watch;
