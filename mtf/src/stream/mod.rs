//! Streams: the 22-byte stream header, and the payloads this library decodes.
//!
//! A DBLK's streams follow its header region; each header starts on a 4-byte boundary, its data
//! follows at once, and the last stream of every DBLK is SPAD. Payload decoders live in their
//! own modules and each has its encoder beside it.

pub mod catalog1;
pub mod catalog2;
pub mod frame;
pub mod simple;
pub mod sqlserver;

pub use catalog1::{Fdd, FddEntry, SetMap, SetMapEntry};
pub use catalog2::PackedBlocks;
pub use frame::{frames, FrameHeader, FrameId};
pub use simple::{is_zero_pad, AdatHeader, Crpt, Csum, NameStream, SparHeader};
pub use sqlserver::{BackupChecksum, Guid, Raid};

use crate::checksum::xor16;
use crate::encode::PutLe;
use crate::error::{Error, Result};
use crate::parse::{array, le_u16, le_u64, run};
use crate::spec::{StreamFsAttributes, StreamId, StreamMediaAttributes, STREAM_HDR_LEN};

/// MTF_STREAM_HDR.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct StreamHeader {
    /// The stream id.
    pub id: StreamId,
    /// Fs attributes.
    pub fs_attributes: StreamFsAttributes,
    /// Media attributes.
    pub media_attributes: StreamMediaAttributes,
    /// Data length, excluding this header and the alignment pad after the data.
    pub length: u64,
    /// Valid when ENCRYPTED is set.
    pub encryption_algorithm: u16,
    /// Valid when COMPRESSED is set.
    pub compression_algorithm: u16,
    /// As stored; the fixed writer recomputes it.
    pub checksum: u16,
}

impl StreamHeader {
    /// A header with every attribute clear.
    pub fn new(id: StreamId, length: u64) -> StreamHeader {
        StreamHeader {
            id,
            fs_attributes: StreamFsAttributes::empty(),
            media_attributes: StreamMediaAttributes::empty(),
            length,
            encryption_algorithm: 0,
            compression_algorithm: 0,
            checksum: 0,
        }
    }

    /// Parses 22 bytes without checking the checksum.
    pub fn parse_unchecked(bytes: &[u8]) -> Result<StreamHeader> {
        let (h, _) = run(bytes, "stream header", STREAM_HDR_LEN, |i| {
            let (i, id) = array::<4>(i)?;
            let (i, fs) = le_u16(i)?;
            let (i, media) = le_u16(i)?;
            let (i, length) = le_u64(i)?;
            let (i, enc) = le_u16(i)?;
            let (i, comp) = le_u16(i)?;
            let (i, checksum) = le_u16(i)?;
            Ok((
                i,
                StreamHeader {
                    id: StreamId(id),
                    fs_attributes: StreamFsAttributes::from_bits_retain(fs),
                    media_attributes: StreamMediaAttributes::from_bits_retain(media),
                    length,
                    encryption_algorithm: enc,
                    compression_algorithm: comp,
                    checksum,
                },
            ))
        })?;
        Ok(h)
    }

    /// Parses and checks a stream header.
    pub fn parse(bytes: &[u8]) -> Result<StreamHeader> {
        let h = Self::parse_unchecked(bytes)?;
        let computed = xor16(&bytes[..STREAM_HDR_LEN - 2]);
        if computed != h.checksum {
            return Err(Error::StreamChecksum {
                offset: 0,
                id: h.id,
                stored: h.checksum,
                computed,
            });
        }
        Ok(h)
    }

    /// Writes the 22 bytes exactly as held.
    pub fn write_raw(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.id.0);
        out.put_le(self.fs_attributes.bits());
        out.put_le(self.media_attributes.bits());
        out.put_le(self.length);
        out.put_le(self.encryption_algorithm);
        out.put_le(self.compression_algorithm);
        out.put_le(self.checksum);
    }

    /// Writes the header with a recomputed checksum (stored back into `self`).
    pub fn write_fixed(&mut self, out: &mut Vec<u8>) {
        let mut b = Vec::with_capacity(STREAM_HDR_LEN);
        self.write_raw(&mut b);
        self.checksum = xor16(&b[..STREAM_HDR_LEN - 2]);
        self.write_raw(out);
    }

    /// The header as bytes with a recomputed checksum.
    pub fn to_bytes_fixed(&self) -> [u8; STREAM_HDR_LEN] {
        let mut h = self.clone();
        let mut v = Vec::with_capacity(STREAM_HDR_LEN);
        h.write_fixed(&mut v);
        v.try_into().expect("22 bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_built_stream_header_has_known_checksum() {
        let mut h = StreamHeader::new(StreamId::SPAD, 806);
        let mut out = Vec::new();
        h.write_fixed(&mut out);
        // As in the TAPE block of every SQL Server sample: SPAD, length 0x326.
        assert_eq!(
            out,
            [
                0x53, 0x50, 0x41, 0x44, 0, 0, 0, 0, 0x26, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x34,
                0x17
            ]
        );
        assert_eq!(h.checksum, 0x1734);
        assert_eq!(StreamHeader::parse(&out).unwrap(), h);
        out[9] = 4;
        assert!(matches!(
            StreamHeader::parse(&out),
            Err(Error::StreamChecksum { .. })
        ));
    }
}
