//! kiln's exit codes (README "Exit codes"): the one place they are named.

/// Everything built (or was unchanged) and pushed.
pub const SUCCESS: i32 = 0;
/// A build or push failed, timed out or was cancelled.
pub const FAILED: i32 = 1;
/// The config or the command line is invalid.
pub const USAGE: i32 = 2;
/// The Docker daemon cannot be reached.
pub const DAEMON: i32 = 3;
/// Interrupted by Ctrl-C / SIGINT (128 + 2).
pub const INTERRUPTED: i32 = 130;
/// Stopped by SIGTERM (128 + 15).
pub const TERMINATED: i32 = 143;
/// Stopped by SIGHUP, the terminal gone (128 + 1).
pub const HUNG_UP: i32 = 129;
