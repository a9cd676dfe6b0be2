//! The small standard stream payloads: CSUM, PNAM/FNAM, SPAD, SPAR, ADAT and CRPT.
//!
//! Each type decodes the bytes of one stream's data (what follows the 22-byte stream header, up
//! to the header's Stream Length) and writes them back. SPAR and ADAT put a small header in
//! front of the object's own bytes; their decoders return that header and the rest of the data
//! as a borrowed slice, so a multi-gigabyte sparse chunk or alternate stream is never copied.
//! Offsets in errors are relative to the start of the data slice.

use crate::checksum::Xor32;
use crate::encode::PutLe;
use crate::error::{Error, Result};
use crate::parse::{le_u32, le_u64, run, slice_at};
use crate::spec::{align_up, StringType, STREAM_HDR_LEN};
use crate::text::{decode_str, encode_str, join_dir_path, split_dir_path};

/// CSUM: a 32-bit XOR checksum of the preceding stream's data.
///
/// MTF computes it over the data as little-endian 32-bit words, zero-padding a short tail, and
/// the result does not depend on how the data was chunked (see [`Xor32`]). The preceding
/// stream's header has [`crate::spec::StreamMediaAttributes::CHECKSUMED`] set.
///
/// SQL Server writes CSUM streams after MQDA/MQTL when a backup is taken WITH CHECKSUM, but its
/// values are *not* the MTF XOR-32 of the preceding stream, so [`Csum::matches`] is false for
/// them: SQL Server reuses the stream id for a checksum of its own, which
/// [`crate::stream::sqlserver::BackupChecksum`] computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Csum {
    /// The checksum as stored.
    pub value: u32,
}

impl Csum {
    /// Length of a CSUM stream's data.
    pub const LEN: usize = 4;

    /// Decodes a CSUM stream's data, which must be exactly four bytes.
    pub fn decode(data: &[u8]) -> Result<Csum> {
        let (value, rest) = run(data, "CSUM data", Self::LEN, le_u32)?;
        if !rest.is_empty() {
            return Err(Error::invalid(
                Self::LEN,
                "CSUM length",
                format!("{} bytes; a CSUM holds exactly 4", data.len()),
            ));
        }
        Ok(Csum { value })
    }

    /// Writes the four bytes.
    pub fn write_raw(&self, out: &mut Vec<u8>) {
        out.put_le(self.value);
    }

    /// The stream data as bytes.
    pub fn encode_raw(&self) -> Vec<u8> {
        self.value.to_le_bytes().to_vec()
    }

    /// The checksum of `data` (a whole stream's data, in one piece).
    pub fn of(data: &[u8]) -> Csum {
        let mut x = Xor32::new();
        x.update(data);
        Self::from_xor(&x)
    }

    /// The checksum accumulated in `x` (for data that arrives in chunks).
    pub fn from_xor(x: &Xor32) -> Csum {
        Csum { value: x.value() }
    }

    /// Whether the stored value is the XOR-32 of `preceding` (the preceding stream's data).
    pub fn matches(&self, preceding: &[u8]) -> bool {
        *self == Self::of(preceding)
    }

    /// Like [`Csum::matches`], but says what was stored and what the data gives.
    pub fn verify(&self, preceding: &[u8]) -> Result<()> {
        let computed = Self::of(preceding).value;
        if computed == self.value {
            Ok(())
        } else {
            Err(Error::invalid(
                0,
                "CSUM value",
                format!(
                    "stored {:#010x}, the preceding stream's data gives {computed:#010x}",
                    self.value
                ),
            ))
        }
    }
}

/// PNAM or FNAM: a directory path or file name too long for its DIRB or FILE, in the block's
/// string type.
///
/// The bytes are kept as stored; any bytes are a name, so decoding cannot fail (odd UTF-16 and
/// unpaired surrogates decode lossily). A PNAM holds a path in the DIRB form: NUL-separated
/// components, each followed by a separator, the root a single NUL; use
/// [`NameStream::components`] for it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct NameStream {
    /// The name as stored, in the owning block's string encoding.
    pub raw: Vec<u8>,
}

impl NameStream {
    /// Takes a PNAM/FNAM stream's data.
    pub fn decode(data: &[u8]) -> NameStream {
        NameStream { raw: data.to_vec() }
    }

    /// A name encoded in `string_type` (ANSI is Latin-1: other characters become `?`).
    pub fn from_name(name: &str, string_type: StringType) -> NameStream {
        NameStream {
            raw: encode_str(name, string_type),
        }
    }

    /// A PNAM path from its components (no components make the root).
    pub fn from_components<S: AsRef<str>>(components: &[S], string_type: StringType) -> NameStream {
        NameStream {
            raw: join_dir_path(components, string_type),
        }
    }

    /// The name decoded with the block's string type.
    pub fn name(&self, string_type: StringType) -> String {
        decode_str(&self.raw, string_type)
    }

    /// A PNAM path's components.
    pub fn components(&self, string_type: StringType) -> Vec<String> {
        split_dir_path(&self.raw, string_type)
    }

    /// Writes the stored bytes.
    pub fn write_raw(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.raw);
    }

    /// The stream data as bytes.
    pub fn encode_raw(&self) -> Vec<u8> {
        self.raw.clone()
    }
}

/// Whether SPAD data (or any alignment fill) is all zero, as MTF requires "for C2 security".
/// Real media are not obliged to obey, which is why the walker keeps the bytes; this tells a
/// checker whether they do.
pub fn is_zero_pad(data: &[u8]) -> bool {
    data.iter().all(|&b| b == 0)
}

/// Checks that pad bytes are zero; the error names the first non-zero byte.
pub fn check_zero_pad(data: &[u8]) -> Result<()> {
    match data.iter().position(|&b| b != 0) {
        None => Ok(()),
        Some(i) => Err(Error::invalid(
            i,
            "SPAD data",
            format!("byte {:#04x} where zero fill is required", data[i]),
        )),
    }
}

/// The SPAD data length that makes a SPAD whose header starts at `header_offset` end exactly on
/// the next multiple of `boundary` (an FLB, or a physical block before a filemark). If the
/// header's end is already on a boundary the length is 0. `boundary` must be non-zero.
pub fn spad_data_len(header_offset: u64, boundary: u64) -> u64 {
    let data_start = header_offset.saturating_add(STREAM_HDR_LEN as u64);
    align_up(data_start, boundary.max(1)) - data_start
}

/// SPAR: one chunk of a sparse stream: where the chunk's bytes go in the file, then the bytes.
///
/// The initial stream (e.g. STAN) has IS_SPARSE set and length 0; each SPAR after it carries
/// this header and then its data. [`SparHeader::decode`] returns the header and the data slice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct SparHeader {
    /// Offset of the chunk's first byte in the file.
    pub offset: u64,
}

impl SparHeader {
    /// Size of the header in front of the chunk's data.
    pub const LEN: usize = 8;

    /// Splits a SPAR stream's data into its header and the chunk bytes.
    pub fn decode(data: &[u8]) -> Result<(SparHeader, &[u8])> {
        let (offset, rest) = run(data, "SPAR header", Self::LEN, le_u64)?;
        Ok((SparHeader { offset }, rest))
    }

    /// Writes the 8-byte header (the chunk bytes follow it in the stream).
    pub fn write_raw(&self, out: &mut Vec<u8>) {
        out.put_le(self.offset);
    }

    /// The stream length of a SPAR carrying `data_len` bytes.
    pub fn stream_len(data_len: u64) -> u64 {
        data_len.saturating_add(Self::LEN as u64)
    }
}

/// ADAT: an NT alternate data stream: `u32` name size in bytes, the UTF-16LE name (no NUL), then
/// the stream's bytes. The stream length counts all three.
///
/// The name is kept as stored (its size is its length), so an odd size or bad UTF-16 still
/// writes back exactly.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct AdatHeader {
    /// The stream name as stored (UTF-16LE).
    pub raw_name: Vec<u8>,
}

impl AdatHeader {
    /// Size of the name-size field.
    pub const SIZE_LEN: usize = 4;

    /// A header for the named stream (e.g. `:Zone.Identifier:$DATA`).
    pub fn new(name: &str) -> AdatHeader {
        AdatHeader {
            raw_name: encode_str(name, StringType::UNICODE),
        }
    }

    /// Splits an ADAT stream's data into its header and the alternate stream's bytes.
    pub fn decode(data: &[u8]) -> Result<(AdatHeader, &[u8])> {
        let (size, _) = run(data, "ADAT name size", Self::SIZE_LEN, le_u32)?;
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        let name = slice_at(data, Self::SIZE_LEN, size, "ADAT name")?;
        let rest = &data[Self::SIZE_LEN + name.len()..];
        Ok((
            AdatHeader {
                raw_name: name.to_vec(),
            },
            rest,
        ))
    }

    /// The name, decoded (lossily) from UTF-16LE.
    pub fn name(&self) -> String {
        decode_str(&self.raw_name, StringType::UNICODE)
    }

    /// Size of the header (name size field and name) in front of the stream's bytes.
    pub fn len(&self) -> usize {
        Self::SIZE_LEN + self.raw_name.len()
    }

    /// Whether the name is empty (the header is then just the zero size field).
    pub fn is_empty(&self) -> bool {
        self.raw_name.is_empty()
    }

    /// Writes the size field and the name. Fails only if the name exceeds `u32::MAX` bytes.
    pub fn write_raw(&self, out: &mut Vec<u8>) -> Result<()> {
        let size = u32::try_from(self.raw_name.len()).map_err(|_| Error::Encode {
            field: "ADAT name size",
            reason: format!("{} bytes do not fit 32 bits", self.raw_name.len()),
        })?;
        out.put_le(size);
        out.extend_from_slice(&self.raw_name);
        Ok(())
    }
}

/// CRPT: marks the preceding stream as corrupt. It carries no data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Crpt;

impl Crpt {
    /// Checks that a CRPT stream's data is empty.
    pub fn decode(data: &[u8]) -> Result<Crpt> {
        if data.is_empty() {
            Ok(Crpt)
        } else {
            Err(Error::invalid(
                0,
                "CRPT length",
                format!("{} bytes; a CRPT stream carries no data", data.len()),
            ))
        }
    }

    /// Writes nothing: the stream is its header alone.
    pub fn write_raw(&self, _out: &mut Vec<u8>) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csum_decodes_and_checks_xor32() {
        // Words 0x04030201 ^ 0x08070605 ^ 0x00000009 (short tail zero-padded).
        let data = [1u8, 2, 3, 4, 5, 6, 7, 8, 9];
        let expected = 0x0403_0201u32 ^ 0x0807_0605 ^ 0x0000_0009;
        let c = Csum::of(&data);
        assert_eq!(c.value, expected);
        let bytes = c.encode_raw();
        assert_eq!(bytes, expected.to_le_bytes());
        assert_eq!(Csum::decode(&bytes).unwrap(), c);
        assert!(c.matches(&data));
        c.verify(&data).unwrap();
        let err = Csum { value: 0 }.verify(&data).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Invalid {
                    field: "CSUM value",
                    ..
                }
            ),
            "{err}"
        );
        let mut x = Xor32::new();
        x.update(&data[..5]);
        x.update(&data[5..]);
        assert_eq!(Csum::from_xor(&x), c);
        assert!(matches!(
            Csum::decode(&[0; 5]),
            Err(Error::Invalid { offset: 4, .. })
        ));
    }

    #[test]
    fn name_streams_decode_in_the_block_string_type() {
        let st = StringType::UNICODE;
        let n = NameStream::from_name("a very long name.txt", st);
        assert_eq!(n.raw.len(), 40);
        let back = NameStream::decode(&n.encode_raw());
        assert_eq!(back.name(st), "a very long name.txt");
        let p = NameStream::from_components(&["apps", "fred"], StringType::ANSI);
        assert_eq!(p.raw, b"apps\0fred\0");
        assert_eq!(p.components(StringType::ANSI), ["apps", "fred"]);
        assert_eq!(NameStream::decode(&[0xE9]).name(StringType::ANSI), "é");
    }

    #[test]
    fn spad_helpers() {
        assert!(is_zero_pad(&[0; 100]));
        assert!(is_zero_pad(&[]));
        assert!(!is_zero_pad(&[0, 0, 1]));
        check_zero_pad(&[0; 7]).unwrap();
        assert!(matches!(
            check_zero_pad(&[0, 0, 0, 5, 0]),
            Err(Error::Invalid { offset: 3, .. })
        ));
        // The TAPE block of the SQL Server samples: SPAD header at 0xC4, padded to 0x400.
        assert_eq!(spad_data_len(0xC4, 1024), 0x326);
        assert_eq!(spad_data_len(1024 - 22, 1024), 0);
        assert_eq!(spad_data_len(1024 - 21, 1024), 1023);
    }

    #[test]
    fn spar_header_then_data() {
        let mut b = Vec::new();
        SparHeader {
            offset: 0x1_0000_0000,
        }
        .write_raw(&mut b);
        b.extend_from_slice(b"chunk");
        let (h, data) = SparHeader::decode(&b).unwrap();
        assert_eq!(h.offset, 0x1_0000_0000);
        assert_eq!(data, b"chunk");
        assert_eq!(SparHeader::stream_len(5), 13);
        for cut in 0..8 {
            assert!(matches!(
                SparHeader::decode(&b[..cut]),
                Err(Error::Truncated { .. })
            ));
        }
    }

    #[test]
    fn adat_header_then_data() {
        let h = AdatHeader::new(":Zone.Identifier:$DATA");
        let mut b = Vec::new();
        h.write_raw(&mut b).unwrap();
        assert_eq!(&b[..4], &44u32.to_le_bytes());
        b.extend_from_slice(b"[ZoneTransfer]");
        let (back, data) = AdatHeader::decode(&b).unwrap();
        assert_eq!(back, h);
        assert_eq!(back.name(), ":Zone.Identifier:$DATA");
        assert_eq!(back.len(), 48);
        assert_eq!(data, b"[ZoneTransfer]");
        // A name size beyond the data is a truncation at the name, not an allocation.
        let err = AdatHeader::decode(&[0xFF, 0xFF, 0xFF, 0xFF, 1, 2]).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Truncated {
                    offset: 4,
                    what: "ADAT name",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn crpt_has_no_data() {
        assert_eq!(Crpt::decode(&[]).unwrap(), Crpt);
        assert!(matches!(Crpt::decode(&[0]), Err(Error::Invalid { .. })));
        let mut v = Vec::new();
        Crpt.write_raw(&mut v);
        assert!(v.is_empty());
    }

    #[test]
    fn hostile_truncations_are_errors_not_panics() {
        let csum = Csum { value: 0xDEAD_BEEF }.encode_raw();
        for cut in 0..csum.len() {
            assert!(Csum::decode(&csum[..cut]).is_err());
        }
        let mut adat = Vec::new();
        AdatHeader::new("s").write_raw(&mut adat).unwrap();
        for cut in 0..adat.len() {
            assert!(AdatHeader::decode(&adat[..cut]).is_err(), "cut {cut}");
        }
        for cut in 0..=adat.len() {
            // Names and pads accept any bytes; they must simply not panic.
            let n = NameStream::decode(&adat[..cut]);
            let _ = n.name(StringType::UNICODE);
            let _ = n.components(StringType::UNICODE);
            let _ = is_zero_pad(&adat[..cut]);
            let _ = check_zero_pad(&adat[..cut]);
        }
    }
}
