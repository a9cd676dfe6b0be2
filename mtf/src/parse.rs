//! Small parsing plumbing shared by every structure: nom's complete little-endian parsers, turned
//! into this crate's typed errors with the offset of the failure.

use crate::error::{Error, Result};
use nom::IResult;

pub(crate) use nom::bytes::complete::take;
pub(crate) use nom::number::complete::{le_i32, le_u16, le_u32, le_u64, le_u8};

/// Runs a nom parser over `input` and maps a failure to [`Error::Truncated`] at the byte where it
/// stopped (relative to the start of `input`). Complete parsers only fail by running out of bytes.
pub(crate) fn run<'a, T>(
    input: &'a [u8],
    what: &'static str,
    needed: usize,
    parser: impl FnOnce(&'a [u8]) -> IResult<&'a [u8], T>,
) -> Result<(T, &'a [u8])> {
    match parser(input) {
        Ok((rest, v)) => Ok((v, rest)),
        Err(_) => Err(Error::truncated(0, what, needed, input.len())),
    }
}

/// Reads a fixed-size array.
pub(crate) fn array<const N: usize>(i: &[u8]) -> IResult<&[u8], [u8; N]> {
    let (i, b) = take(N)(i)?;
    let mut a = [0u8; N];
    a.copy_from_slice(b);
    Ok((i, a))
}

/// The bytes `[offset, offset + len)` of `buf`, or a truncation error naming `what`.
pub(crate) fn slice_at<'a>(
    buf: &'a [u8],
    offset: usize,
    len: usize,
    what: &'static str,
) -> Result<&'a [u8]> {
    offset
        .checked_add(len)
        .and_then(|end| buf.get(offset..end))
        .ok_or_else(|| Error::truncated(offset, what, len, buf.len().saturating_sub(offset)))
}
