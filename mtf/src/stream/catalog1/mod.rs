//! Type 1 media based catalog: the TFDD (file/directory detail) and TSMP (set map) streams of a
//! data set's first ESET.
//!
//! Both are sequences of self-sized entries whose strings are located by MTF_TAPE_ADDRESS
//! *relative to the entry's start*. Every typed entry keeps every field as stored (pads
//! included) plus the bytes between its fixed part and its end verbatim, so the raw writers give
//! back the input exactly, whatever order or padding a writer used for the strings. The fixed
//! writers lay entries out afresh: strings start at the first even offset after the fixed part
//! (OS data first, then strings in field order, no padding between them), and lengths, string
//! addresses and counts are recomputed. That is exactly how SQL Server lays out its set maps, so
//! the fixed writer reproduces its TSMP streams byte for byte. FDD links (`link`) are offsets
//! between entries and are kept as held; a caller that reorders entries must set them.
//!
//! ## What SQL Server writes
//!
//! Every SQL Server sample (2005 to 2022) has a TSMP stream on its first ESET, preceded by an
//! all-zero OTCP stream that pads it to a 1 KiB boundary, and no TFDD. The set map follows the
//! MTF layout field for field, with these observations:
//! - volume entries (one per set, a full 36-byte FDD VOLB entry) come *after* the set map
//!   entry's Length, as in Backup Exec's SMP2 ([`VolumePlacement::AfterEntry`]);
//! - the 91-byte entry is followed by one zero byte, so strings start at offset 92; the VOLB
//!   entry's 61-byte fixed part likewise has one zero byte before its strings at 62;
//! - entries are not padded: each Length ends at its last string;
//! - PBAs are byte offsets from the start of the file (SSET PBA = the SSET's file offset);
//!   the FDD PBA is 0; the map is cumulative (an appended second set gives a two-entry map).
//!
//! Decoding handles both readings of the spec's ambiguity about where volume entries go: after
//! the entry's Length (tried first), or inside it, after the fixed part and strings (found by
//! their `VOLB` tag); [`SetMapEntry::placement`] records which, and the raw writer returns
//! either byte for byte.

use crate::error::{Error, Result};
use crate::spec::{align_up, BlockType};
use crate::text::{MtfText, TapeAddress};

mod fdd;
mod set_map;

pub use fdd::*;
pub use set_map::*;

/// The FDD entry type that ends an FDD.
pub const FEND: BlockType = BlockType(*b"FEND");
/// Size of MTF_FDD_HDR, the header of every FDD entry (and of a set map's volume entries).
pub const FDD_HDR_LEN: usize = 36;
/// Size of MTF_SM_HDR.
pub const SM_HDR_LEN: usize = 8;
/// Strings of a freshly laid out entry start on a multiple of this (UTF-16 alignment).
pub(super) const STRING_ALIGN: u64 = 2;

/// Reads the string `addr` names in `entry`; a bad address is reported at `field_offset`, the
/// offset of the address field within the entry.
pub(super) fn resolve(
    addr: TapeAddress,
    entry: &[u8],
    field: &'static str,
    field_offset: usize,
) -> Result<MtfText> {
    MtfText::resolve(addr, entry, field).map_err(|e| e.at(field_offset as u64))
}

pub(super) fn to_u16(n: usize, field: &'static str) -> Result<u16> {
    u16::try_from(n).map_err(|_| Error::Encode {
        field,
        reason: format!("{n} does not fit 16 bits"),
    })
}

/// Lays `texts` out after `fixed_len` bytes: the returned area starts at `fixed_len` with zero
/// fill up to an even offset, then each text in order; addresses are set (empty texts get the
/// zero address).
pub(super) fn lay_out(fixed_len: usize, texts: Vec<&mut MtfText>) -> Result<Vec<u8>> {
    let start = align_up(fixed_len as u64, STRING_ALIGN) as usize;
    let mut var = vec![0u8; start - fixed_len];
    for t in texts {
        t.addr = if t.raw.is_empty() {
            TapeAddress::default()
        } else {
            TapeAddress {
                size: to_u16(t.raw.len(), "catalog string size")?,
                offset: to_u16(fixed_len + var.len(), "catalog string offset")?,
            }
        };
        var.extend_from_slice(&t.raw);
    }
    Ok(var)
}

#[cfg(test)]
mod tests;
