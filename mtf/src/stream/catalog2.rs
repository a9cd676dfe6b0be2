//! Type 2 media based catalog: the MAP2 (set map) and FDD2 (file/directory detail) streams.
//!
//! Both payloads are packed copies of descriptor blocks, one after another: MAP2 holds TAPE,
//! SSET, VOLB and ESET copies, FDD2 holds VOLB, DIRB, FILE and CFIL copies. In a copy, Offset To
//! First Event is the offset to the next packed copy (so it is the copy's length: a copy has no
//! streams), and Reserved for MBC is the sequence number of the medium the block was written on.
//! The copies keep their header checksums, which is how a reader tells a copy from the bytes
//! after the last one.
//!
//! Decoding reuses [`Dblk::parse`]; the raw writer returns every copy exactly; the fixed writer
//! lays each copy out afresh with [`Dblk::write_fixed`], which recomputes string addresses,
//! Offset To First Event (4-byte aligned) and the checksum.

use crate::block::Dblk;
use crate::error::{Error, Result};
use crate::spec::{BlockType, DB_HDR_LEN};

/// Block types MTF puts in a MAP2 stream.
pub const MAP2_TYPES: &[BlockType] = &[
    BlockType::TAPE,
    BlockType::SSET,
    BlockType::VOLB,
    BlockType::ESET,
];

/// Block types MTF puts in an FDD2 stream.
pub const FDD2_TYPES: &[BlockType] = &[
    BlockType::VOLB,
    BlockType::DIRB,
    BlockType::FILE,
    BlockType::CFIL,
];

/// A MAP2 or FDD2 payload: the packed block copies and whatever follows the last one.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct PackedBlocks {
    /// The copies, in stream order.
    pub blocks: Vec<Dblk>,
    /// Bytes after the last copy that do not start a block whose header checksum holds (zero
    /// fill on a well-formed stream; empty in the usual case), kept verbatim.
    pub trailing: Vec<u8>,
}

/// The MAP2 payload.
pub type Map2 = PackedBlocks;
/// The FDD2 payload.
pub type Fdd2 = PackedBlocks;

impl PackedBlocks {
    /// Decodes a MAP2 or FDD2 payload.
    ///
    /// Copies are read while the next 52 bytes form a block header whose checksum holds; a copy
    /// whose header holds but whose body does not parse is an error at its offset. What
    /// follows the last copy is kept as [`PackedBlocks::trailing`], except that fewer than 52
    /// non-zero bytes are a truncated header and an error, so a cut payload never decodes
    /// silently as a shorter one unless it was cut exactly between two copies.
    pub fn decode(data: &[u8]) -> Result<PackedBlocks> {
        let mut blocks = Vec::new();
        let mut pos = 0usize;
        while pos < data.len() {
            let rest = &data[pos..];
            if rest.len() < DB_HDR_LEN {
                if rest.iter().any(|&b| b != 0) {
                    return Err(Error::truncated(
                        pos,
                        "packed block header",
                        DB_HDR_LEN,
                        rest.len(),
                    ));
                }
                break;
            }
            if !crate::header::DbHeader::looks_valid(rest) {
                break;
            }
            let (dblk, len) = Dblk::parse(rest, None).map_err(|e| e.at(pos as u64))?;
            blocks.push(dblk);
            pos += len;
        }
        Ok(PackedBlocks {
            blocks,
            trailing: data[pos..].to_vec(),
        })
    }

    /// Writes every copy exactly as held, then the trailing bytes. A copy whose strings or OS
    /// data disagree with its variable area is an error ([`Dblk::write_raw`]).
    pub fn write_raw(&self, out: &mut Vec<u8>) -> Result<()> {
        for b in &self.blocks {
            b.write_raw(out)?;
        }
        out.extend_from_slice(&self.trailing);
        Ok(())
    }

    /// The payload as held.
    pub fn encode_raw(&self) -> Result<Vec<u8>> {
        let mut v = Vec::new();
        self.write_raw(&mut v)?;
        Ok(v)
    }

    /// Lays every copy out afresh (see [`Dblk::write_fixed`]: Offset To First Event becomes the
    /// copy's aligned length, which is the offset to the next copy) and writes them, then the
    /// trailing bytes. `self` is updated to what was written.
    pub fn write_fixed(&mut self, out: &mut Vec<u8>) -> Result<()> {
        for b in &mut self.blocks {
            b.write_fixed(out)?;
        }
        out.extend_from_slice(&self.trailing);
        Ok(())
    }

    /// [`PackedBlocks::write_fixed`] into a new buffer.
    pub fn encode_fixed(&mut self) -> Result<Vec<u8>> {
        let mut v = Vec::new();
        self.write_fixed(&mut v)?;
        Ok(v)
    }

    /// Where each copy starts in the payload.
    pub fn offsets(&self) -> Vec<usize> {
        let mut at = 0;
        self.blocks
            .iter()
            .map(|b| {
                let o = at;
                at += b.encoded_len();
                o
            })
            .collect()
    }

    /// The medium each copy was written on (its header's Reserved for MBC field).
    pub fn media_sequence_number(block: &Dblk) -> u16 {
        block.header.reserved_for_mbc
    }

    /// Checks that every copy is of one of `allowed` (e.g. [`MAP2_TYPES`]); the error names the
    /// first copy that is not.
    pub fn check_types(&self, allowed: &[BlockType]) -> Result<()> {
        for (b, at) in self.blocks.iter().zip(self.offsets()) {
            if !allowed.contains(&b.block_type()) {
                return Err(Error::invalid(
                    at,
                    "packed block type",
                    format!("{} is not allowed in this catalog stream", b.block_type()),
                ));
            }
        }
        Ok(())
    }

    /// Whether the trailing bytes (if any) are zero fill.
    pub fn trailing_is_zero(&self) -> bool {
        self.trailing.iter().all(|&b| b == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::{Body, Eset, Volb};
    use crate::date::MtfDateTime;
    use crate::spec::{OsId, SetAttributes, StringType, VolumeAttributes};
    use crate::text::MtfText;

    fn volb_copy(media: u16, device: &str) -> Dblk {
        let st = StringType::UNICODE;
        let mut d = Dblk::new(
            BlockType::VOLB,
            Body::Volb(Volb {
                attributes: VolumeAttributes::DEV_DRIVE,
                device_name: MtfText::encode(device, st),
                volume_name: MtfText::encode("SYSTEM", st),
                machine_name: MtfText::encode("HOST", st),
                media_write_date: MtfDateTime([0x1F, 0x33, 0x3F, 0x41, 0xDE]),
            }),
        );
        d.header.os_id = OsId::WINDOWS_NT;
        d.header.string_type = st;
        d.header.reserved_for_mbc = media;
        d.header.format_logical_address = 1;
        d
    }

    fn eset_copy() -> Dblk {
        let mut d = Dblk::new(
            BlockType::ESET,
            Body::Eset(Eset {
                attributes: SetAttributes::NORMAL,
                number_of_corrupt_files: 0,
                reserved_for_mbc1: 0x1234,
                reserved_for_mbc2: 0,
                fdd_media_sequence_number: 1,
                data_set_number: 1,
                media_write_date: MtfDateTime([0x1F, 0x33, 0x3F, 0x41, 0xDE]),
            }),
        );
        d.header.reserved_for_mbc = 2;
        d
    }

    fn sample() -> (PackedBlocks, Vec<u8>) {
        let mut p = PackedBlocks {
            blocks: vec![volb_copy(1, "C:"), eset_copy()],
            trailing: Vec::new(),
        };
        let bytes = p.encode_fixed().unwrap();
        (p, bytes)
    }

    #[test]
    fn packed_copies_decode_and_round_trip() {
        let (p, bytes) = sample();
        // VOLB: 73 fixed + "C:" 4 + "SYSTEM" 12 + "HOST" 8 = 97, aligned to 100. ESET: 85 → 88.
        assert_eq!(p.blocks[0].header.offset_to_first_event, 100);
        assert_eq!(p.blocks[1].header.offset_to_first_event, 88);
        assert_eq!(bytes.len(), 188);
        assert_eq!(&bytes[100..104], b"ESET");
        let d = PackedBlocks::decode(&bytes).unwrap();
        assert_eq!(d, p);
        assert_eq!(d.offsets(), [0, 100]);
        assert_eq!(d.encode_raw().unwrap(), bytes);
        assert_eq!(
            d.blocks
                .iter()
                .map(PackedBlocks::media_sequence_number)
                .collect::<Vec<_>>(),
            [1, 2]
        );
        d.check_types(MAP2_TYPES).unwrap();
        let err = d.check_types(FDD2_TYPES).unwrap_err();
        assert!(matches!(err, Error::Invalid { offset: 100, .. }), "{err}");
        let Body::Volb(v) = &d.blocks[0].body else {
            panic!("not a VOLB")
        };
        assert_eq!(v.device_name.decode(StringType::UNICODE), "C:");
    }

    #[test]
    fn trailing_bytes_are_kept() {
        let (_, mut bytes) = sample();
        bytes.extend_from_slice(&[0u8; 10]);
        let d = PackedBlocks::decode(&bytes).unwrap();
        assert_eq!(d.trailing.len(), 10);
        assert!(d.trailing_is_zero());
        assert_eq!(d.encode_raw().unwrap(), bytes);
        // 60 bytes that are not a valid header: kept too.
        let (_, mut bytes) = sample();
        bytes.extend(1..=60u8);
        let d = PackedBlocks::decode(&bytes).unwrap();
        assert_eq!(d.blocks.len(), 2);
        assert!(!d.trailing_is_zero());
        assert_eq!(d.encode_raw().unwrap(), bytes);
        assert_eq!(PackedBlocks::decode(&[]).unwrap(), PackedBlocks::default());
    }

    #[test]
    fn damaged_copy_names_its_offset() {
        let (_, mut bytes) = sample();
        // Point the ESET copy's OS data outside the copy and fix its checksum.
        bytes[100 + 44] = 10;
        bytes[100 + 46] = 200;
        let c = crate::checksum::xor16(&bytes[100..150]);
        bytes[150..152].copy_from_slice(&c.to_le_bytes());
        let err = PackedBlocks::decode(&bytes).unwrap_err();
        assert!(
            matches!(err, Error::AddressOutOfRange { offset: 100, .. }),
            "{err}"
        );
    }

    #[test]
    fn hostile_truncations_are_errors_not_panics() {
        let (_, bytes) = sample();
        for cut in 0..bytes.len() {
            let r = PackedBlocks::decode(&bytes[..cut]);
            if cut == 0 || cut == 100 {
                assert_eq!(r.unwrap().encode_raw().unwrap(), &bytes[..cut]);
            } else {
                let e = r.unwrap_err();
                assert!(e.offset().is_some(), "cut {cut}: {e}");
            }
        }
    }

    #[test]
    fn hostile_byte_changes_decode_to_what_was_read_or_fail() {
        let (_, bytes) = sample();
        for i in 0..bytes.len() {
            for x in [0x01u8, 0x80, 0xFF] {
                let mut b = bytes.clone();
                b[i] ^= x;
                match PackedBlocks::decode(&b) {
                    Ok(d) => assert_eq!(d.encode_raw().unwrap(), b, "byte {i} ^ {x:#x}"),
                    Err(e) => assert!(e.offset().is_some(), "{e}"),
                }
            }
        }
    }
}
