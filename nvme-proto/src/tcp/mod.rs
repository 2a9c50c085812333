//! Transport layer (filled by the transport work).
