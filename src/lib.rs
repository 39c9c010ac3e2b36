//! kiln: build a stack of Docker images and watch every build, step and push.
//!
//! The shape is the Elm architecture (DESIGN.md): `app` owns all state and
//! changes it only in `app::update`; `engine` does every Docker I/O in tasks
//! that report back as messages; `headless` (and the dashboard) only read
//! the model and print or draw it.

pub mod app;
pub mod cli;
pub mod config;
pub mod engine;
pub mod headless;
pub mod history;
pub mod push_cmd;
pub mod sanitize;
pub mod tui;
pub mod ui;
