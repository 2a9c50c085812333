//! Errors: small `Copy` enums that say what the driver did wrong or what was ignored. An error from a `handle_*`
//! method always means "nothing changed".

use core::fmt;

use nvme_proto::cmd::CmdError;

use crate::{PathId, PathState};

/// A submission the engine refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SubmitError {
    /// No such path.
    UnknownPath,
    /// The path is not LIVE (fencing, fenced, resetting or connecting): send the command on one of
    /// [`usable_paths`](crate::Engine::usable_paths) instead.
    PathNotUsable,
    /// The token is already outstanding.
    DuplicateToken,
    /// The table holds 2^32 - 1 commands.
    TableFull,
}

/// A completion the engine did not match.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CompleteError {
    /// No outstanding command has this token: a duplicate, a completion after release, or a driver bug. Drop it.
    UnknownCommand,
    /// The token is outstanding on another path (for example a late completion from a dead path for a command
    /// already retried elsewhere). Drop it.
    WrongPath {
        /// The path the command is outstanding on.
        path: PathId,
    },
}

/// A path-level input the engine refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PathError {
    /// No such path.
    UnknownPath,
    /// The engine tracks at most [`MAX_PATHS`](crate::MAX_PATHS) paths.
    TooManyPaths,
    /// The input is not allowed in the path's state (for example a reconnect while it is still fencing: the
    /// impacted path must not reconnect before its held commands are released,
    /// [notes::ccr_cqt §15](crate::notes::ccr_cqt)).
    WrongState {
        /// The path's state.
        state: PathState,
    },
}

/// A CCR completion the engine did not match.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CcrError {
    /// No CCR in flight has this id: a duplicate, or a completion after its source failed. Ignored.
    UnknownCcr,
}

/// A CCR log answer the engine did not use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LogError {
    /// No log read in flight has this id: a duplicate, or an answer after its source failed. Ignored.
    UnknownRead,
    /// The page did not parse; the read counts as failed (a CCR waiting for it gives up on that source).
    Malformed(CmdError),
}

macro_rules! display_via_debug {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(self, f)
            }
        }
        impl core::error::Error for $t {}
    )*};
}

display_via_debug!(SubmitError, CompleteError, PathError, CcrError, LogError);
