//! The exit codes of the `rtprelay` commands (docs/protocol.md §4): 0
//! success, 1 failure while running, 2 bad usage or configuration (with a
//! one-line reason on stderr).

/// Success.
pub const OK: i32 = 0;
/// The relay or the command failed while running.
pub const FAILURE: i32 = 1;
/// Bad usage or configuration.
pub const USAGE: i32 = 2;
