//! SQL Server's RAID stream: the media set identity, carried by the TAPE block of every
//! uncompressed SQL Server backup (the first stream, before SPAD).
//!
//! Not in MTF 1.00a; the layout was read off the foreign samples (SQL Server 2005 to 2022,
//! single files and two striped pairs). The stream is always 32 bytes:
//!
//! | Off | Size | Field | Seen |
//! | --- | --- | --- | --- |
//! | 0 | 16 | media set id (a GUID, Windows mixed-endian byte order) | version-4 GUIDs; equal across the families of a striped set |
//! | 16 | 4 | unknown | `AD 00 00 F0` (0xF00000AD) in every sample |
//! | 20 | 2 | family count | 1 for single files, 2 for both files of each striped pair |
//! | 22 | 2 | unknown | 1 in every sample |
//! | 24 | 2 | family number (1-based) | 1 and 2 in the striped pairs; 1 elsewhere |
//! | 26 | 4 | reserved | zero in every sample |
//! | 30 | 2 | unknown | 1 in every sample |
//!
//! The unknown words are kept (and written back) as they are. Plausible readings for the two
//! words that are 1 everywhere are the mirror count and the media sequence number that
//! `RESTORE LABELONLY` reports, but no sample tells them apart, so they are not named so.
//! The media family id of each family's TAPE block differs between the families of one media
//! set; the media set id is what ties them together.

use crate::encode::PutLe;
use crate::error::{Error, Result};
use crate::parse::{array, le_u16, le_u32, run};
use std::fmt;
use std::str::FromStr;

/// A GUID as stored on disk by Windows: `Data1` (u32), `Data2` and `Data3` (u16) little-endian,
/// then 8 bytes in order. `Display` prints the usual `XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX`
/// form in upper case, as SQL Server shows `uniqueidentifier` values.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Guid(pub [u8; 16]);

impl Guid {
    /// The GUID's version nibble (4 for random GUIDs), read from the mixed-endian `Data3`.
    pub fn version(&self) -> u8 {
        self.0[7] >> 4
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.0;
        write!(
            f,
            "{:02X}{:02X}{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}-",
            b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9]
        )?;
        for x in &b[10..] {
            write!(f, "{x:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Guid({self})")
    }
}

impl FromStr for Guid {
    type Err = Error;

    /// Parses the text form, with or without braces, in either case.
    fn from_str(s: &str) -> Result<Guid> {
        let bad = |reason: &str| Error::invalid(0, "GUID text", format!("{s:?}: {reason}"));
        let t = s.trim();
        let t = t
            .strip_prefix('{')
            .and_then(|t| t.strip_suffix('}'))
            .unwrap_or(t);
        let groups: Vec<&str> = t.split('-').collect();
        if groups.len() != 5
            || groups.iter().map(|g| g.len()).ne([8usize, 4, 4, 4, 12])
            || !t.chars().all(|c| c == '-' || c.is_ascii_hexdigit())
        {
            return Err(bad("expected XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX"));
        }
        let hex: String = groups.concat();
        let mut text = [0u8; 16];
        for (k, byte) in text.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * k..2 * k + 2], 16).map_err(|_| bad("not hex"))?;
        }
        // Text order is Data1..Data4 big-endian; storage has Data1..Data3 little-endian.
        let mut b = text;
        b[..4].reverse();
        b[4..6].reverse();
        b[6..8].reverse();
        Ok(Guid(b))
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Guid {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The RAID stream's data, every byte accounted for.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Raid {
    /// Shared by every family (stripe) of the media set.
    pub media_set_id: Guid,
    /// Offset 16; 0xF00000AD in every sample.
    pub unknown_16: u32,
    /// How many families (stripes) the media set has.
    pub family_count: u16,
    /// Offset 22; 1 in every sample.
    pub unknown_22: u16,
    /// Which family this medium belongs to, 1-based.
    pub family_number: u16,
    /// Offsets 26..30; zero in every sample.
    pub reserved: [u8; 4],
    /// Offset 30; 1 in every sample.
    pub unknown_30: u16,
    /// Bytes after the 32 known ones (none in any sample), kept for the round trip.
    pub extra: Vec<u8>,
}

impl Raid {
    /// Size of the stream's data in every sample.
    pub const LEN: usize = 32;
    /// The word at offset 16 in every sample.
    pub const UNKNOWN_16_SEEN: u32 = 0xF000_00AD;

    /// A RAID payload for family `family_number` of `family_count`, with the other fields as
    /// every sample has them.
    pub fn new(media_set_id: Guid, family_count: u16, family_number: u16) -> Raid {
        Raid {
            media_set_id,
            unknown_16: Self::UNKNOWN_16_SEEN,
            family_count,
            unknown_22: 1,
            family_number,
            reserved: [0; 4],
            unknown_30: 1,
            extra: Vec::new(),
        }
    }

    /// Decodes a RAID stream's data (at least 32 bytes).
    pub fn decode(data: &[u8]) -> Result<Raid> {
        let (r, rest) = run(data, "RAID data", Self::LEN, |i| {
            let (i, id) = array::<16>(i)?;
            let (i, u16_) = le_u32(i)?;
            let (i, count) = le_u16(i)?;
            let (i, u22) = le_u16(i)?;
            let (i, number) = le_u16(i)?;
            let (i, reserved) = array::<4>(i)?;
            let (i, u30) = le_u16(i)?;
            Ok((
                i,
                Raid {
                    media_set_id: Guid(id),
                    unknown_16: u16_,
                    family_count: count,
                    unknown_22: u22,
                    family_number: number,
                    reserved,
                    unknown_30: u30,
                    extra: Vec::new(),
                },
            ))
        })?;
        Ok(Raid {
            extra: rest.to_vec(),
            ..r
        })
    }

    /// Writes the data exactly as held.
    pub fn write_raw(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.media_set_id.0);
        out.put_le(self.unknown_16);
        out.put_le(self.family_count);
        out.put_le(self.unknown_22);
        out.put_le(self.family_number);
        out.extend_from_slice(&self.reserved);
        out.put_le(self.unknown_30);
        out.extend_from_slice(&self.extra);
    }

    /// The data as bytes.
    pub fn encode_raw(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(Self::LEN + self.extra.len());
        self.write_raw(&mut v);
        v
    }

    /// Checks what a reader can rely on: the family number lies in `1..=family_count`.
    pub fn check(&self) -> Result<()> {
        if self.family_count == 0 {
            return Err(Error::invalid(20, "RAID family count", "zero families"));
        }
        if !(1..=self.family_count).contains(&self.family_number) {
            return Err(Error::invalid(
                24,
                "RAID family number",
                format!(
                    "{} is outside 1..={}",
                    self.family_number, self.family_count
                ),
            ));
        }
        Ok(())
    }
}

/// The checksum SQL Server stores in a CSUM stream after MQDA/MQTL data (backups taken WITH
/// CHECKSUM): not MTF's XOR-32 but SQL Server's page-checksum construction run over the whole
/// stream. The stream's first 2 bytes are skipped; the rest is cut into 512-byte sectors
/// (the last zero-padded); sector `k` (from 0) contributes the XOR of its 128 little-endian
/// words rotated right by `(k + 1) mod 32`; the checksum is the XOR of the contributions.
///
/// Worked out by the SQL Server evidence (mtf/docs/sqlserver-evidence.md §7.4) and confirmed
/// on every CSUM of the samples. Like [`crate::checksum::Xor32`] it accepts the data in chunks
/// of any size.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BackupChecksum {
    /// Bytes fed so far, the 2 skipped ones included.
    fed: u64,
    /// XOR of the current sector's bytes by lane (byte offset mod 4).
    lanes: [u8; 4],
    /// The XOR of the finished sectors' contributions.
    acc: u32,
    /// Index of the current sector.
    sector: u64,
}

impl BackupChecksum {
    /// Bytes at the start of the stream that the checksum skips.
    pub const SKIP: u64 = 2;
    /// Sector size.
    pub const SECTOR: u64 = 512;

    /// A fresh accumulator.
    pub fn new() -> Self {
        Self::default()
    }

    /// The checksum of a whole stream's data.
    pub fn of(data: &[u8]) -> u32 {
        let mut c = Self::new();
        c.update(data);
        c.value()
    }

    fn contribution(lanes: [u8; 4], sector: u64) -> u32 {
        u32::from_le_bytes(lanes).rotate_right(((sector + 1) % 32) as u32)
    }

    /// Feeds more data.
    pub fn update(&mut self, data: &[u8]) {
        for &b in data {
            if self.fed >= Self::SKIP {
                let at = self.fed - Self::SKIP;
                self.lanes[(at % 4) as usize] ^= b;
                if at % Self::SECTOR == Self::SECTOR - 1 {
                    self.acc ^= Self::contribution(self.lanes, self.sector);
                    self.lanes = [0; 4];
                    self.sector += 1;
                }
            }
            self.fed += 1;
        }
    }

    /// The checksum of everything fed so far.
    pub fn value(&self) -> u32 {
        let partial = self.fed > Self::SKIP && (self.fed - Self::SKIP) % Self::SECTOR != 0;
        if partial {
            self.acc ^ Self::contribution(self.lanes, self.sector)
        } else {
            self.acc
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RAID data laid out like the second family of a two-way stripe (made-up GUID).
    const STRIPE_2_OF_2: [u8; 32] = [
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x47, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee,
        0xff, 0xad, 0x00, 0x00, 0xf0, 0x02, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x01, 0x00,
    ];

    #[test]
    fn decodes_a_known_stripe_family() {
        let r = Raid::decode(&STRIPE_2_OF_2).unwrap();
        assert_eq!(
            r.media_set_id.to_string(),
            "33221100-5544-4766-8899-AABBCCDDEEFF"
        );
        assert_eq!(r.media_set_id.version(), 4);
        assert_eq!(r.unknown_16, Raid::UNKNOWN_16_SEEN);
        assert_eq!((r.family_count, r.family_number), (2, 2));
        assert_eq!((r.unknown_22, r.unknown_30), (1, 1));
        assert_eq!(r.reserved, [0; 4]);
        assert!(r.extra.is_empty());
        r.check().unwrap();
        assert_eq!(r.encode_raw(), STRIPE_2_OF_2);
        assert_eq!(Raid::new(r.media_set_id, 2, 2), r);
    }

    #[test]
    fn guid_text_round_trips() {
        let g: Guid = "{33221100-5544-4766-8899-aabbccddeeff}".parse().unwrap();
        assert_eq!(g.0, STRIPE_2_OF_2[..16]);
        assert_eq!(g.to_string().parse::<Guid>().unwrap(), g);
        for bad in [
            "",
            "33221100-5544-4766-8899",
            "33221100-5544-4766-8899-AABBCCDDEEFG",
            "3322110-05544-4766-8899-AABBCCDDEEFF",
        ] {
            assert!(bad.parse::<Guid>().is_err(), "{bad}");
        }
    }

    #[test]
    fn unknown_bytes_and_extra_bytes_round_trip() {
        let mut b: Vec<u8> = (0..40u8).collect();
        let r = Raid::decode(&b).unwrap();
        assert_eq!(r.extra, (32..40u8).collect::<Vec<_>>());
        assert_eq!(r.encode_raw(), b);
        b.truncate(32);
        assert!(Raid::decode(&b).unwrap().extra.is_empty());
    }

    #[test]
    fn family_number_outside_count_is_invalid() {
        let mut r = Raid::decode(&STRIPE_2_OF_2).unwrap();
        r.family_number = 3;
        assert!(matches!(r.check(), Err(Error::Invalid { offset: 24, .. })));
        r.family_count = 0;
        assert!(matches!(r.check(), Err(Error::Invalid { offset: 20, .. })));
    }

    #[test]
    fn hostile_truncations_are_errors_not_panics() {
        for cut in 0..Raid::LEN {
            let e = Raid::decode(&STRIPE_2_OF_2[..cut]).unwrap_err();
            assert!(matches!(e, Error::Truncated { offset: 0, .. }), "{e}");
        }
    }

    #[test]
    fn backup_checksum_rotates_each_sector() {
        // Two-byte prefix (skipped), sector 0 with one word 0x80000001, sector 1 with 0x12345678.
        let mut data = vec![0xEE, 0xEE];
        let mut s0 = vec![0u8; 512];
        s0[8..12].copy_from_slice(&0x8000_0001u32.to_le_bytes());
        data.extend_from_slice(&s0);
        data.put_le(0x1234_5678u32);
        let expected = 0xC000_0000 ^ 0x048D_159E;
        assert_eq!(BackupChecksum::of(&data), expected);
        let mut c = BackupChecksum::new();
        for chunk in data.chunks(7) {
            c.update(chunk);
        }
        assert_eq!(c.value(), expected);
        assert_eq!(BackupChecksum::of(&[1, 2]), 0);
        assert_eq!(BackupChecksum::of(&[]), 0);
        // Sector 31 rotates by 0.
        let mut long = vec![0u8; 2 + 31 * 512];
        long.put_le(5u32);
        assert_eq!(BackupChecksum::of(&long), 5);
    }
}
