//! nom building blocks for the variable-length structures (ANA group descriptors, namespace identification
//! descriptors): a fixed-size zerocopy view taken off the front of the input, and the translation of nom's answers
//! into [`CmdError`]. Why nom here and zerocopy elsewhere: [notes::commands](crate::notes::commands), "What this
//! crate does".
//!
//! The parsers are nom's *streaming* ones over `&[u8]`: a structure cut short answers `Incomplete(Needed::Size(n))`,
//! `n` bytes more than the input held, which [`short_by`] turns into the total size the caller must read
//! ([`CmdError::BufferTooShort`]). nom's names stay inside this crate; callers only ever see [`CmdError`]. Nothing
//! here allocates (nom is built without its `std` and `alloc` features).

use nom::bytes::streaming::take;
use nom::error::{Error, ErrorKind};
use nom::{Err, IResult, Needed};
use zerocopy::{FromBytes, Immutable, KnownLayout, Unaligned};

use super::CmdError;

/// A nom parser for the fixed-size view `T` at the start of the input.
pub(crate) fn view<T>(input: &[u8]) -> IResult<&[u8], &T>
where
    T: FromBytes + KnownLayout + Immutable + Unaligned,
{
    let (rest, bytes) = take(size_of::<T>())(input)?;
    match T::ref_from_bytes(bytes) {
        Ok(v) => Ok((rest, v)),
        // `take` gave exactly size_of::<T>() bytes and T is unaligned: unreachable, but an error, not a panic.
        Err(_) => Err(Err::Failure(Error::new(input, ErrorKind::LengthValue))),
    }
}

/// What a failed nom parse means to the caller: `at` is the offset (in the whole structure) where the failed parser
/// started, `input_len` the bytes it was given. A cut structure gives [`CmdError::BufferTooShort`] with the total it
/// needs (`usize::MAX` when that size is not even addressable); anything else is
/// [`CmdError::InvalidField`] at `at`.
pub(crate) fn short_by(e: Err<Error<&[u8]>>, at: usize, input_len: usize) -> CmdError {
    match e {
        Err::Incomplete(Needed::Size(n)) => {
            CmdError::BufferTooShort { needed: at.saturating_add(input_len).saturating_add(n.get()) }
        }
        Err::Incomplete(Needed::Unknown) => CmdError::BufferTooShort { needed: usize::MAX },
        Err::Error(_) | Err::Failure(_) => CmdError::InvalidField { offset: at },
    }
}
