//! Compression and encryption frames: the framing of a stream's data when its header has
//! COMPRESSED or ENCRYPTED set.
//!
//! Such data is a sequence of frames, each a 24-byte header followed by `compressed_size`
//! bytes. This module reads and writes the headers and cuts the data into frames; it does not
//! decompress or decrypt. The only compression algorithm MTF names, Stac LZS221 (ANSI X3.241,
//! id 0x0ABE), is out of scope, and MTF defines no cipher at all. A frame stored raw has equal
//! sizes and its payload *is* the data.
//!
//! MTF says: compress, then encrypt; never frame SPAD, set map, FDD or ESET streams; one
//! algorithm per data set (the SSET names it).

use crate::checksum::xor16;
use crate::encode::PutLe;
use crate::error::{Error, Result};
use crate::parse::{le_u16, le_u32, le_u64, le_u8, run};
use crate::spec::StreamMediaAttributes;
use std::fmt;

/// Size of a frame header.
pub const FRAME_HDR_LEN: usize = 24;

/// A frame header's id word: which kind of frame it is. Open, like the four-character codes, so
/// a header with another id still parses unchecked and writes back.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct FrameId(pub u16);

impl FrameId {
    /// `FH` (bytes 0x46 0x48): a compression frame.
    pub const COMPRESSION: FrameId = FrameId(0x4846);
    /// `EH` (bytes 0x45 0x48): an encryption frame.
    pub const ENCRYPTION: FrameId = FrameId(0x4845);

    /// Whether the id is one of the two MTF defines.
    pub fn is_known(self) -> bool {
        self == Self::COMPRESSION || self == Self::ENCRYPTION
    }
}

impl fmt::Debug for FrameId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b] = self.0.to_le_bytes();
        if a.is_ascii_graphic() && b.is_ascii_graphic() {
            write!(f, "FrameId({}{})", a as char, b as char)
        } else {
            write!(f, "FrameId({:#06x})", self.0)
        }
    }
}

/// A compression or encryption frame header, every field as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct FrameHeader {
    /// The stream id.
    pub id: FrameId,
    /// The stream's media format attributes as they were before framing.
    pub media_attributes: StreamMediaAttributes,
    /// Uncompressed (unencrypted) bytes still to come in the stream, this frame's included;
    /// 0 if the writer did not know.
    pub remaining_size: u64,
    /// This frame's data size before compression (encryption).
    pub uncompressed_size: u32,
    /// This frame's data size as stored; equal to `uncompressed_size` when stored raw.
    pub compressed_size: u32,
    /// Starts at 1 and wraps at 256. Reported, not enforced.
    pub sequence: u8,
    /// Reserved bytes, kept verbatim for the round trip.
    pub reserved: u8,
    /// As stored; the fixed writer recomputes it.
    pub checksum: u16,
}

impl FrameHeader {
    /// A header for a frame of `size` bytes stored raw (equal sizes), checksum unset.
    pub fn stored(id: FrameId, remaining_size: u64, size: u32, sequence: u8) -> FrameHeader {
        FrameHeader {
            id,
            media_attributes: StreamMediaAttributes::empty(),
            remaining_size,
            uncompressed_size: size,
            compressed_size: size,
            sequence,
            reserved: 0,
            checksum: 0,
        }
    }

    /// Parses 24 bytes without checking the id or the checksum.
    pub fn parse_unchecked(bytes: &[u8]) -> Result<FrameHeader> {
        let (h, _) = run(bytes, "frame header", FRAME_HDR_LEN, |i| {
            let (i, id) = le_u16(i)?;
            let (i, media) = le_u16(i)?;
            let (i, remaining_size) = le_u64(i)?;
            let (i, uncompressed_size) = le_u32(i)?;
            let (i, compressed_size) = le_u32(i)?;
            let (i, sequence) = le_u8(i)?;
            let (i, reserved) = le_u8(i)?;
            let (i, checksum) = le_u16(i)?;
            Ok((
                i,
                FrameHeader {
                    id: FrameId(id),
                    media_attributes: StreamMediaAttributes::from_bits_retain(media),
                    remaining_size,
                    uncompressed_size,
                    compressed_size,
                    sequence,
                    reserved,
                    checksum,
                },
            ))
        })?;
        Ok(h)
    }

    /// Parses and checks a header: the id must be `FH` or `EH` and the checksum (XOR of the 11
    /// little-endian words at bytes 0..22) must hold.
    pub fn parse(bytes: &[u8]) -> Result<FrameHeader> {
        let h = Self::parse_unchecked(bytes)?;
        if !h.id.is_known() {
            return Err(Error::invalid(
                0,
                "frame id",
                format!("{:?} is neither FH (compression) nor EH (encryption)", h.id),
            ));
        }
        let computed = xor16(&bytes[..FRAME_HDR_LEN - 2]);
        if computed != h.checksum {
            return Err(Error::FrameChecksum {
                offset: 0,
                stored: h.checksum,
                computed,
            });
        }
        Ok(h)
    }

    /// Writes the 24 bytes exactly as held.
    pub fn write_raw(&self, out: &mut Vec<u8>) {
        out.put_le(self.id.0);
        out.put_le(self.media_attributes.bits());
        out.put_le(self.remaining_size);
        out.put_le(self.uncompressed_size);
        out.put_le(self.compressed_size);
        out.push(self.sequence);
        out.push(self.reserved);
        out.put_le(self.checksum);
    }

    /// The checksum the other fields call for.
    pub fn compute_checksum(&self) -> u16 {
        let mut b = Vec::with_capacity(FRAME_HDR_LEN);
        self.write_raw(&mut b);
        xor16(&b[..FRAME_HDR_LEN - 2])
    }

    /// Writes the header with a recomputed checksum (stored back into `self`).
    pub fn write_fixed(&mut self, out: &mut Vec<u8>) {
        self.checksum = self.compute_checksum();
        self.write_raw(out);
    }

    /// Whether the frame's payload is its data as is (sizes equal).
    pub fn is_stored_raw(&self) -> bool {
        self.uncompressed_size == self.compressed_size
    }
}

/// One frame of a stream's data: its header and its payload (still compressed/encrypted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// Where the frame header starts in the stream's data.
    pub offset: usize,
    /// The header.
    pub header: FrameHeader,
    /// The `compressed_size` bytes after the header.
    pub payload: &'a [u8],
}

impl Frame<'_> {
    /// Writes the header as held and the payload.
    pub fn write_raw(&self, out: &mut Vec<u8>) {
        self.header.write_raw(out);
        out.extend_from_slice(self.payload);
    }
}

/// The frames of a stream's data, in order. Yields an error (and then ends) at a header that
/// is truncated, has an unknown id or a bad checksum, or whose payload runs past the data.
#[derive(Clone, Debug)]
pub struct Frames<'a> {
    data: &'a [u8],
    pos: usize,
    done: bool,
}

/// Cuts a compressed or encrypted stream's data into frames.
pub fn frames(data: &[u8]) -> Frames<'_> {
    Frames {
        data,
        pos: 0,
        done: false,
    }
}

impl<'a> Frames<'a> {
    /// How far the iteration has got in the data.
    pub fn position(&self) -> usize {
        self.pos
    }

    fn next_frame(&mut self) -> Result<Frame<'a>> {
        let at = self.pos;
        let rest = &self.data[at..];
        let header = FrameHeader::parse(rest).map_err(|e| e.at(at as u64))?;
        let size = usize::try_from(header.compressed_size).unwrap_or(usize::MAX);
        let payload = crate::parse::slice_at(rest, FRAME_HDR_LEN, size, "frame payload")
            .map_err(|e| e.at(at as u64))?;
        self.pos = at + FRAME_HDR_LEN + payload.len();
        Ok(Frame {
            offset: at,
            header,
            payload,
        })
    }
}

impl<'a> Iterator for Frames<'a> {
    type Item = Result<Frame<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.pos >= self.data.len() {
            return None;
        }
        let r = self.next_frame();
        if r.is_err() {
            self.done = true;
        }
        Some(r)
    }
}

/// Frames `data` as raw-stored frames of at most `max_frame` bytes (e.g. when a set is marked
/// compressed but a stream does not shrink), with fixed checksums and sequence numbers from 1.
/// `max_frame` must be non-zero.
pub fn frame_stored(id: FrameId, data: &[u8], max_frame: u32) -> Vec<u8> {
    let step = (max_frame.max(1) as usize).min(data.len().max(1));
    let mut out = Vec::new();
    let mut remaining = data.len() as u64;
    for (k, chunk) in data.chunks(step).enumerate() {
        // Sequence numbers start at 1 and wrap at 256 (255 is followed by 0).
        let mut h = FrameHeader::stored(id, remaining, chunk.len() as u32, (k + 1) as u8);
        h.write_fixed(&mut out);
        out.extend_from_slice(chunk);
        remaining -= chunk.len() as u64;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header_bytes() -> Vec<u8> {
        let mut h = FrameHeader {
            id: FrameId::COMPRESSION,
            media_attributes: StreamMediaAttributes::CHECKSUMED,
            remaining_size: 100_000,
            uncompressed_size: 0xF800,
            compressed_size: 5,
            sequence: 1,
            reserved: 0,
            checksum: 0,
        };
        let mut v = Vec::new();
        h.write_fixed(&mut v);
        v
    }

    #[test]
    fn hand_built_header_has_known_checksum() {
        let b = header_bytes();
        assert_eq!(b.len(), FRAME_HDR_LEN);
        assert_eq!(&b[..2], b"FH");
        // Words: 'FH' ^ CHECKSUMED (0x20) ^ 100000 = 0x000186A0 (two words) ^ 0xF800 ^ 5 ^ seq 1.
        let expected = 0x4846 ^ 0x0020 ^ 0x86A0 ^ 0x0001 ^ 0xF800 ^ 0x0005 ^ 0x0001;
        assert_eq!(u16::from_le_bytes([b[22], b[23]]), expected);
        let h = FrameHeader::parse(&b).unwrap();
        assert_eq!(h.remaining_size, 100_000);
        assert_eq!(h.compressed_size, 5);
        assert!(!h.is_stored_raw());
        let mut raw = Vec::new();
        h.write_raw(&mut raw);
        assert_eq!(raw, b);
    }

    #[test]
    fn bad_id_and_bad_checksum_are_typed() {
        let mut b = header_bytes();
        b[12] ^= 1;
        assert!(matches!(
            FrameHeader::parse(&b),
            Err(Error::FrameChecksum { offset: 0, .. })
        ));
        let mut b = header_bytes();
        b[0] = b'X';
        assert!(matches!(
            FrameHeader::parse(&b),
            Err(Error::Invalid {
                field: "frame id",
                ..
            })
        ));
        assert!(FrameHeader::parse_unchecked(&b).is_ok());
    }

    #[test]
    fn frames_iterate_and_round_trip() {
        let data: Vec<u8> = (0..250u8).collect();
        let framed = frame_stored(FrameId::ENCRYPTION, &data, 100);
        assert_eq!(framed.len(), data.len() + 3 * FRAME_HDR_LEN);
        let fs: Vec<Frame> = frames(&framed).collect::<Result<_>>().unwrap();
        assert_eq!(fs.len(), 3);
        assert_eq!(
            fs.iter().map(|f| f.header.sequence).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        assert_eq!(
            fs.iter()
                .map(|f| f.header.remaining_size)
                .collect::<Vec<_>>(),
            [250, 150, 50]
        );
        assert_eq!(fs[2].offset, 2 * (FRAME_HDR_LEN + 100));
        let joined: Vec<u8> = fs.iter().flat_map(|f| f.payload.iter().copied()).collect();
        assert_eq!(joined, data);
        let mut back = Vec::new();
        for f in &fs {
            f.write_raw(&mut back);
        }
        assert_eq!(back, framed);
        assert_eq!(frames(&[]).count(), 0);
    }

    #[test]
    fn error_names_the_frame_offset_and_ends_iteration() {
        let data = [7u8; 40];
        let mut framed = frame_stored(FrameId::COMPRESSION, &data, 20);
        let second = FRAME_HDR_LEN + 20;
        framed[second + 4] ^= 0xFF;
        let mut it = frames(&framed);
        assert!(it.next().unwrap().is_ok());
        let err = it.next().unwrap().unwrap_err();
        assert!(
            matches!(err, Error::FrameChecksum { offset, .. } if offset == second as u64),
            "{err}"
        );
        assert!(it.next().is_none());
    }

    #[test]
    fn hostile_truncations_are_errors_not_panics() {
        let framed = frame_stored(FrameId::COMPRESSION, &[1, 2, 3, 4, 5, 6, 7], 3);
        let boundaries = [0, 27, 54, framed.len()];
        for cut in 0..framed.len() {
            let r: Result<Vec<Frame>> = frames(&framed[..cut]).collect();
            if boundaries.contains(&cut) {
                assert!(r.is_ok(), "cut {cut}");
            } else {
                let e = r.unwrap_err();
                assert!(e.offset().is_some(), "cut {cut}: {e}");
            }
        }
        // A huge declared payload is a truncation, not an allocation.
        let mut h = FrameHeader::stored(FrameId::COMPRESSION, 0, u32::MAX, 1);
        let mut b = Vec::new();
        h.write_fixed(&mut b);
        assert!(matches!(
            frames(&b).next().unwrap(),
            Err(Error::Truncated {
                offset: 24,
                what: "frame payload",
                ..
            })
        ));
    }

    #[test]
    fn hostile_byte_changes_frame_what_was_read_or_fail() {
        let framed = frame_stored(FrameId::COMPRESSION, &[9; 10], 4);
        for i in 0..framed.len() {
            let mut b = framed.clone();
            b[i] ^= 0x5A;
            let mut back = Vec::new();
            let mut it = frames(&b);
            for f in it.by_ref() {
                match f {
                    Ok(f) => f.write_raw(&mut back),
                    Err(e) => {
                        assert!(e.offset().is_some(), "{e}");
                        break;
                    }
                }
            }
            // Whatever was framed before an error is the input's prefix.
            assert_eq!(back[..], b[..back.len()], "byte {i}");
        }
    }
}
