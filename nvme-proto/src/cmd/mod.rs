//! Command layer (filled by the command-layer work).
