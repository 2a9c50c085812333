//! Hex text input for `decode --hex` and stdin.

use std::fmt;

/// Why hex text could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HexError {
    /// A character that is neither a hex digit nor a separator, at this character position (0-based).
    BadChar {
        /// Character position.
        at: usize,
        /// The character.
        ch: char,
    },
    /// A token with an odd number of hex digits, starting at this character position.
    OddDigits {
        /// Character position of the token.
        at: usize,
    },
    /// No hex digits at all.
    Empty,
}

impl fmt::Display for HexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            HexError::BadChar { at, ch } => write!(f, "invalid hex: {ch:?} at character {at} is not a hex digit"),
            HexError::OddDigits { at } => {
                write!(f, "invalid hex: the group starting at character {at} has an odd number of digits")
            }
            HexError::Empty => f.write_str("invalid hex: no bytes given"),
        }
    }
}

impl std::error::Error for HexError {}

/// Parses hex text: groups of hex digits separated by whitespace, commas or colons, each group optionally prefixed
/// with `0x`; every group has an even number of digits (`05 01 18`, `050118`, `0x05,0x01` and `05:01` all work).
///
/// One pass over the text, no copy of it: the only allocation is the output (half the text's length at most), so
/// `decode --hex` holds about 1.5 times its input.
pub fn parse_hex(text: &str) -> Result<Vec<u8>, HexError> {
    let mut out = Vec::with_capacity(text.len() / 2);
    let is_sep = |c: char| c.is_whitespace() || c == ',' || c == ':';
    // Character position of the current group's start, and its pending high nibble.
    let mut group: Option<usize> = None;
    let mut high: Option<u8> = None;
    let mut chars = text.chars().enumerate().peekable();
    while let Some((at, ch)) = chars.next() {
        if is_sep(ch) {
            if let (Some(start), Some(_)) = (group, high) {
                return Err(HexError::OddDigits { at: start });
            }
            group = None;
            continue;
        }
        if group.is_none() {
            group = Some(at);
            if ch == '0' && matches!(chars.peek(), Some((_, 'x' | 'X'))) {
                chars.next();
                continue;
            }
        }
        let d = ch.to_digit(16).ok_or(HexError::BadChar { at, ch })? as u8;
        match high.take() {
            Some(h) => out.push(h << 4 | d),
            None => high = Some(d),
        }
    }
    if let (Some(start), Some(_)) = (group, high) {
        return Err(HexError::OddDigits { at: start });
    }
    if out.is_empty() {
        return Err(HexError::Empty);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_forms() {
        assert_eq!(parse_hex("05 01 18").unwrap(), [5, 1, 0x18]);
        assert_eq!(parse_hex("050118\n").unwrap(), [5, 1, 0x18]);
        assert_eq!(parse_hex("0x05,0x01, 0X18").unwrap(), [5, 1, 0x18]);
        assert_eq!(parse_hex("fA:Bc").unwrap(), [0xFA, 0xBC]);
        assert_eq!(parse_hex("0x0a0b").unwrap(), [0x0A, 0x0B]);
    }

    #[test]
    fn rejected_forms() {
        assert_eq!(parse_hex("05 0g").unwrap_err(), HexError::BadChar { at: 4, ch: 'g' });
        assert_eq!(parse_hex("05 011").unwrap_err(), HexError::OddDigits { at: 3 });
        assert_eq!(parse_hex(" \n").unwrap_err(), HexError::Empty);
        assert_eq!(parse_hex("0x").unwrap_err(), HexError::Empty);
        assert_eq!(parse_hex("é1").unwrap_err(), HexError::BadChar { at: 0, ch: 'é' });
    }
}
