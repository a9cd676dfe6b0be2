//! MTF_DB_HDR: the 52-byte common header every descriptor block starts with.
//!
//! This is the framing step: it checks the header checksum and tells the caller how many bytes
//! the block's header region spans (Offset To First Event), before any per-type parsing.

use crate::checksum::xor16;
use crate::encode::PutLe;
use crate::error::{Error, Result};
use crate::parse::{array, le_u16, le_u32, le_u64, le_u8, run};
use crate::spec::{BlockAttributes, BlockType, OsId, StringType, DB_HDR_LEN};
use crate::text::TapeAddress;

/// The common block header, every field as stored (reserved bytes included).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct DbHeader {
    /// The block type.
    pub block_type: BlockType,
    /// The whole attribute word: generic bits low, type-specific bits high.
    pub attributes: BlockAttributes,
    /// From the DBLK start to the first stream header.
    pub offset_to_first_event: u16,
    /// OS id of the OS-specific data.
    pub os_id: OsId,
    /// Version of the OS-specific data structure (not of the OS).
    pub os_version: u8,
    /// For display only (e.g. a file's size).
    pub displayable_size: u64,
    /// Index of this DBLK's FLB from the start of the data set.
    pub format_logical_address: u64,
    /// Zero, except in Type 2 catalog copies, where it is the media sequence number.
    pub reserved_for_mbc: u16,
    /// Reserved1.
    pub reserved1: [u8; 6],
    /// 0 for SSET, then increasing within the data set.
    pub control_block_id: u32,
    /// Reserved2.
    pub reserved2: [u8; 4],
    /// Where the OS-specific data lies in the block.
    pub os_data: TapeAddress,
    /// How the strings are encoded.
    pub string_type: StringType,
    /// Reserved3.
    pub reserved3: u8,
    /// As stored; the fixed writer recomputes it.
    pub checksum: u16,
}

impl DbHeader {
    /// A header of the given type with every other field zero.
    pub fn new(block_type: BlockType) -> DbHeader {
        DbHeader {
            block_type,
            attributes: BlockAttributes::empty(),
            offset_to_first_event: 0,
            os_id: OsId(0),
            os_version: 0,
            displayable_size: 0,
            format_logical_address: 0,
            reserved_for_mbc: 0,
            reserved1: [0; 6],
            control_block_id: 0,
            reserved2: [0; 4],
            os_data: TapeAddress::default(),
            string_type: StringType::NONE,
            reserved3: 0,
            checksum: 0,
        }
    }

    /// Parses the 52 bytes at the start of `bytes` *without* checking the checksum.
    pub fn parse_unchecked(bytes: &[u8]) -> Result<DbHeader> {
        let (h, _) = run(bytes, "block header", DB_HDR_LEN, |i| {
            let (i, block_type) = array::<4>(i)?;
            let (i, attributes) = le_u32(i)?;
            let (i, offset_to_first_event) = le_u16(i)?;
            let (i, os_id) = le_u8(i)?;
            let (i, os_version) = le_u8(i)?;
            let (i, displayable_size) = le_u64(i)?;
            let (i, format_logical_address) = le_u64(i)?;
            let (i, reserved_for_mbc) = le_u16(i)?;
            let (i, reserved1) = array::<6>(i)?;
            let (i, control_block_id) = le_u32(i)?;
            let (i, reserved2) = array::<4>(i)?;
            let (i, os_data) = TapeAddress::parse(i)?;
            let (i, string_type) = le_u8(i)?;
            let (i, reserved3) = le_u8(i)?;
            let (i, checksum) = le_u16(i)?;
            Ok((
                i,
                DbHeader {
                    block_type: BlockType(block_type),
                    attributes: BlockAttributes::from_bits_retain(attributes),
                    offset_to_first_event,
                    os_id: OsId(os_id),
                    os_version,
                    displayable_size,
                    format_logical_address,
                    reserved_for_mbc,
                    reserved1,
                    control_block_id,
                    reserved2,
                    os_data,
                    string_type: StringType(string_type),
                    reserved3,
                    checksum,
                },
            ))
        })?;
        Ok(h)
    }

    /// Parses and checks a header: the checksum must hold and the type must be non-zero.
    pub fn parse(bytes: &[u8]) -> Result<DbHeader> {
        let h = Self::parse_unchecked(bytes)?;
        let computed = xor16(&bytes[..DB_HDR_LEN - 2]);
        if computed != h.checksum {
            return Err(Error::BlockChecksum {
                offset: 0,
                block_type: h.block_type,
                stored: h.checksum,
                computed,
            });
        }
        if h.block_type.0 == [0; 4] {
            return Err(Error::invalid(0, "block type", "zero block type"));
        }
        Ok(h)
    }

    /// Whether `bytes` starts with a header whose checksum holds (cheap; used to resync).
    pub fn looks_valid(bytes: &[u8]) -> bool {
        crate::spec::block_header_holds(bytes)
    }

    /// Writes the 52 bytes exactly as held (the stored checksum included).
    pub fn write_raw(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.block_type.0);
        out.put_le(self.attributes.bits());
        out.put_le(self.offset_to_first_event);
        out.push(self.os_id.0);
        out.push(self.os_version);
        out.put_le(self.displayable_size);
        out.put_le(self.format_logical_address);
        out.put_le(self.reserved_for_mbc);
        out.extend_from_slice(&self.reserved1);
        out.put_le(self.control_block_id);
        out.extend_from_slice(&self.reserved2);
        self.os_data.write(out);
        out.push(self.string_type.0);
        out.push(self.reserved3);
        out.put_le(self.checksum);
    }

    /// The checksum the header's other fields call for.
    pub fn compute_checksum(&self) -> u16 {
        let mut b = Vec::with_capacity(DB_HDR_LEN);
        self.write_raw(&mut b);
        xor16(&b[..DB_HDR_LEN - 2])
    }

    /// Writes the header with a freshly computed checksum (and stores it in `self`).
    pub fn write_fixed(&mut self, out: &mut Vec<u8>) {
        self.checksum = self.compute_checksum();
        self.write_raw(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_built_header_has_known_checksum() {
        let mut h = DbHeader::new(BlockType::SSET);
        h.offset_to_first_event = 0x98;
        h.os_id = OsId::WINDOWS_NT;
        h.string_type = StringType::UNICODE;
        h.control_block_id = 0;
        let mut out = Vec::new();
        h.write_fixed(&mut out);
        assert_eq!(out.len(), DB_HDR_LEN);
        // SS ^ ET ^ 0x0098 ^ (os id 14 in the low byte of word 5) ^ string type 2 (word 24).
        let expected = 0x5353 ^ 0x5445 ^ 0x0098 ^ 0x000E ^ 0x0002;
        assert_eq!(h.checksum, expected);
        assert_eq!(DbHeader::parse(&out).unwrap(), h);
        out[20] ^= 1;
        assert!(matches!(
            DbHeader::parse(&out),
            Err(Error::BlockChecksum { .. })
        ));
        assert!(matches!(
            DbHeader::parse(&out[..51]),
            Err(Error::Truncated { .. })
        ));
    }
}
