//! kiln: build a stack of Docker images and watch every build, step and push.
//!
//! The shape is the Elm architecture (ARCHITECTURE.md): `app` owns all
//! state and changes it only in `app::update`; `engine` does every Docker
//! I/O in tasks that report back (what both read is `protocol`'s);
//! `runtime` runs the loop that joins them; `headless` and the dashboard
//! (`tui`, drawing with `ui`) only print or draw the model. Everything printed goes through `output`,
//! which sanitises it (`sanitize`).

pub mod app;
pub mod cli;
mod commands;
pub mod config;
pub mod engine;
pub mod exit;
pub mod format;
pub mod headless;
pub mod history;
pub mod human;
mod memory;
pub mod output;
pub mod protocol;
mod runtime;
pub mod sanitize;
pub mod tui;
pub mod ui;
