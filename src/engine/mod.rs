//! Everything that talks to the Docker daemon (and watches the files it
//! builds from). Each build runs in its own task and reports back to the
//! model as `Msg`s; nothing here decides what to build next (that is
//! `app`'s scheduler).

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
pub mod inputs;
pub mod parse;
pub mod prebuilt;
pub mod push;
pub(crate) mod session;
pub mod sink;
pub mod steps;
pub(crate) mod transfer;
pub(crate) mod watch;
