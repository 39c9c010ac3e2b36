//! Several engines (the stack's `engines:`): a client for each engine
//! (`connect.rs`, through `engine::connect`), the images moved between
//! them (`transfer.rs`: `docker save` of one streamed into `docker load`
//! of the other through kiln; `registry.rs`: through the stack's transfer
//! registry, pushed and pulled by digest), and a build run where the model placed it
//! (`placed.rs`: its parents moved there first, the built image collected
//! on the first engine before it is reported built).

mod connect;
mod placed;
mod registry;
mod transfer;

pub use connect::{connect_all, reach, Link, Reached};
pub use placed::{run_placed, Moves, Placed};
pub use transfer::move_image;
