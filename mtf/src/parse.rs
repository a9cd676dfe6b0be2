//! Small parsing plumbing shared by every structure: nom's complete little-endian parsers, turned
//! into this crate's typed errors with the offset of the failure.

use crate::error::{Error, Result};
use byteorder::{ByteOrder, LittleEndian};
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

/// The little-endian `u16` at offset `o` of `b`, if those bytes are there. With [`u32_at`] and
/// [`u64_at`], the one place fields are read out of a byte slice by offset (the parsers above
/// read them in sequence).
pub(crate) fn u16_at(b: &[u8], o: usize) -> Option<u16> {
    b.get(o..o.checked_add(2)?).map(LittleEndian::read_u16)
}

/// The little-endian `u32` at offset `o` of `b`, if those bytes are there.
pub(crate) fn u32_at(b: &[u8], o: usize) -> Option<u32> {
    b.get(o..o.checked_add(4)?).map(LittleEndian::read_u32)
}

/// The little-endian `u64` at offset `o` of `b`, if those bytes are there.
pub(crate) fn u64_at(b: &[u8], o: usize) -> Option<u64> {
    b.get(o..o.checked_add(8)?).map(LittleEndian::read_u64)
}
