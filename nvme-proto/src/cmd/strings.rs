//! String fields: space-padded ASCII (SN, MN, FR) and NUL-terminated NQNs (SUBNQN, HOSTNQN). Validated, never
//! trusted: no read past the field, an error (with the field's offset) instead of a panic or a lossy conversion.

use super::CmdError;

/// Longest NQN in bytes (the NUL terminator excluded; NVMe Base: 223 bytes).
pub const NQN_MAX_LEN: usize = 223;

/// Reads a space-padded ASCII field (SN, MN, FR): printable ASCII (0x20..=0x7E), trailing spaces removed. Trailing
/// NUL bytes are accepted as padding too (some controllers pad with NUL), but a NUL followed by a printable
/// character is not. Any other byte gives [`CmdError::InvalidString`] at `offset` (the field's offset in its
/// structure).
pub fn parse_ascii_field(field: &[u8], offset: usize) -> Result<&str, CmdError> {
    let end = field.iter().rposition(|&b| b != b' ' && b != 0).map_or(0, |i| i + 1);
    let text = &field[..end];
    if !text.iter().all(|b| (0x20..=0x7E).contains(b)) {
        return Err(CmdError::InvalidString { offset });
    }
    core::str::from_utf8(text).map_err(|_| CmdError::InvalidString { offset })
}

/// Writes `text` into a space-padded ASCII field: printable ASCII only, at most `field.len()` bytes; the rest is
/// filled with spaces. A longer or non-printable text gives [`CmdError::InvalidString`] at `offset`.
pub fn write_ascii_field(field: &mut [u8], text: &str, offset: usize) -> Result<(), CmdError> {
    let bytes = text.as_bytes();
    if bytes.len() > field.len() || !bytes.iter().all(|b| (0x20..=0x7E).contains(b)) {
        return Err(CmdError::InvalidString { offset });
    }
    let (head, tail) = field.split_at_mut(bytes.len());
    head.copy_from_slice(bytes);
    tail.fill(b' ');
    Ok(())
}

/// Reads a NUL-terminated UTF-8 field (SUBNQN, HOSTNQN): the bytes before the first NUL. No NUL inside the field,
/// invalid UTF-8 or more than [`NQN_MAX_LEN`] bytes gives [`CmdError::InvalidString`] at `offset`. Bytes after the
/// terminator are not looked at.
pub fn parse_nqn_field(field: &[u8], offset: usize) -> Result<&str, CmdError> {
    let end = field.iter().position(|&b| b == 0).ok_or(CmdError::InvalidString { offset })?;
    if end > NQN_MAX_LEN {
        return Err(CmdError::InvalidString { offset });
    }
    core::str::from_utf8(&field[..end]).map_err(|_| CmdError::InvalidString { offset })
}

/// Writes `text` NUL-terminated into an NQN field and zeroes the rest. Text longer than [`NQN_MAX_LEN`] bytes (or
/// than the field minus its terminator), or containing a NUL, gives [`CmdError::InvalidString`] at `offset`.
pub fn write_nqn_field(field: &mut [u8], text: &str, offset: usize) -> Result<(), CmdError> {
    let bytes = text.as_bytes();
    if bytes.len() > NQN_MAX_LEN || bytes.len() >= field.len() || bytes.contains(&0) {
        return Err(CmdError::InvalidString { offset });
    }
    let (head, tail) = field.split_at_mut(bytes.len());
    head.copy_from_slice(bytes);
    tail.fill(0);
    Ok(())
}
