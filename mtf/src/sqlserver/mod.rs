//! SQL Server's use of MTF: what its backup sets say about the database, read off the blocks a
//! listing captured, and its compressed container.
//!
//! Everything here is decoded only as far as `mtf/docs/sqlserver-evidence.md` marks it
//! confirmed against the samples; a field that is not decoded is `None` and shown as unknown.
//!
//! - the media set identity: the TAPE block's `RAID` stream ([`crate::stream::sqlserver::Raid`]);
//! - per set: SSET name, description, user, start date and product version; the BackupSetGUID
//!   in the SSET's OS-specific data; the VOLB machine name; the MQCI stream of the MSLS block
//!   (the final copy; the MSCI copy, written before the data, is the fallback) with the
//!   database, the backup type, the LSNs, the size and the database files ([`mqci`]);
//! - the checksum SQL Server writes in CSUM streams ([`FastBackupChecksum`]);
//! - the `MSSQLBAK` compressed container's header ([`CompressedContainer`]): the payload is
//!   compressed with an undocumented method and is not decoded.

pub mod mqci;

use crate::block::Body;
use crate::date::MtfDateTime;
use crate::reader::listing::SetEntry;
use crate::spec::{BlockType, StreamId};
use crate::stream::sqlserver::Guid;
pub use mqci::{BackupType, FileType, Lsn, Mqci, Scin, ScinExtra, Sfgi, Sfin};

/// SQL Server's software vendor id (TAPE and SSET).
pub const VENDOR_ID: u16 = 0x1200;

/// Which MQCI copy a set's details come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum MqciSource {
    /// The MSLS block's copy, written after the data: final values.
    Msls,
    /// The MSCI block's copy, written before the data: preliminary values (no finish date,
    /// an estimated size).
    Msci,
}

/// What a SQL Server backup set says about itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct SqlSetInfo {
    /// SSET OS-specific data bytes 0..16: the set's BackupSetGUID.
    pub backup_set_guid: Option<Guid>,
    /// The decoded MQCI and where it came from.
    pub mqci_source: Option<MqciSource>,
    /// Mqci.
    pub mqci: Option<Mqci>,
    /// Why the MQCI could not be decoded, if it could not.
    pub mqci_error: Option<String>,
}

impl SqlSetInfo {
    /// Whether a set was written by SQL Server (SSET vendor id 0x1200).
    pub fn is_sql_server(set: &SetEntry) -> bool {
        set.sset().software_vendor_id == VENDOR_ID
    }

    /// Whether a set carries database backup details in SQL Server's layout: written by SQL
    /// Server, or by another writer (the bundled reference engine) that lays its sets out the
    /// same way, with an MQCI stream in an MSCI or MSLS block.
    pub fn has_details(set: &SetEntry) -> bool {
        Self::is_sql_server(set)
            || [BlockType::MSLS, BlockType::MSCI].iter().any(|&t| {
                set.block(t)
                    .is_some_and(|b| b.stream_data(StreamId::MQCI).is_some())
            })
    }

    /// Reads what the set's captured blocks hold.
    pub fn from_set(set: &SetEntry) -> SqlSetInfo {
        let backup_set_guid = match &set.sset.dblk.os_data {
            crate::os_data::OsData::Raw(b) if b.len() >= 16 => {
                Some(Guid(b[..16].try_into().expect("16 bytes")))
            }
            _ => None,
        };
        let mut info = SqlSetInfo {
            backup_set_guid,
            ..Default::default()
        };
        for (t, src) in [
            (BlockType::MSLS, MqciSource::Msls),
            (BlockType::MSCI, MqciSource::Msci),
        ] {
            let Some(data) = set.block(t).and_then(|b| b.stream_data(StreamId::MQCI)) else {
                continue;
            };
            match Mqci::decode(data) {
                Ok(m) => {
                    info.mqci = Some(m);
                    info.mqci_source = Some(src);
                    info.mqci_error = None;
                    break;
                }
                Err(e) => info.mqci_error = Some(e.to_string()),
            }
        }
        info
    }

    /// The SCIN chunk, if decoded.
    pub fn scin(&self) -> Option<&Scin> {
        self.mqci.as_ref().and_then(|m| m.scin.as_ref())
    }

    /// The backup type: from SCIN+0x57.
    pub fn backup_type(&self) -> Option<BackupType> {
        self.scin().and_then(|s| s.backup_type)
    }

    /// The database files (FILELISTONLY).
    pub fn files(&self) -> &[Sfin] {
        self.mqci.as_ref().map(|m| &m.files[..]).unwrap_or(&[])
    }
}

/// The checksum SQL Server stores in CSUM streams (see
/// [`crate::stream::sqlserver::BackupChecksum`], the reference), computed a sector at a time.
#[derive(Clone, Debug, Default)]
pub struct FastBackupChecksum {
    fed: u64,
    /// Bytes of the current sector not yet folded (fewer than 512).
    partial: Vec<u8>,
    acc: u32,
    sector: u64,
}

impl FastBackupChecksum {
    const SKIP: u64 = 2;
    const SECTOR: usize = 512;

    /// A fresh accumulator.
    pub fn new() -> Self {
        FastBackupChecksum {
            partial: Vec::with_capacity(Self::SECTOR),
            ..Default::default()
        }
    }

    fn fold(sector: &[u8]) -> u32 {
        let mut a = 0u64;
        let mut it = sector.chunks_exact(8);
        for c in &mut it {
            a ^= u64::from_le_bytes(c.try_into().expect("8 bytes"));
        }
        let mut lanes = ((a as u32) ^ ((a >> 32) as u32)).to_le_bytes();
        for (i, &b) in it.remainder().iter().enumerate() {
            lanes[i % 4] ^= b;
        }
        u32::from_le_bytes(lanes)
    }

    fn add_sector(&mut self, sector: &[u8]) {
        let x = Self::fold(sector);
        self.acc ^= x.rotate_right(((self.sector + 1) % 32) as u32);
        self.sector += 1;
    }

    /// Feeds more data.
    pub fn update(&mut self, mut data: &[u8]) {
        if self.fed < Self::SKIP {
            let k = ((Self::SKIP - self.fed) as usize).min(data.len());
            self.fed += k as u64;
            data = &data[k..];
        }
        self.fed += data.len() as u64;
        if !self.partial.is_empty() {
            let k = (Self::SECTOR - self.partial.len()).min(data.len());
            self.partial.extend_from_slice(&data[..k]);
            data = &data[k..];
            if self.partial.len() == Self::SECTOR {
                let p = std::mem::take(&mut self.partial);
                self.add_sector(&p);
                self.partial = p;
                self.partial.clear();
            }
        }
        let mut it = data.chunks_exact(Self::SECTOR);
        for s in &mut it {
            self.add_sector(s);
        }
        self.partial.extend_from_slice(it.remainder());
    }

    /// The checksum of everything fed so far.
    pub fn value(&self) -> u32 {
        if self.partial.is_empty() {
            self.acc
        } else {
            self.acc ^ Self::fold(&self.partial).rotate_right(((self.sector + 1) % 32) as u32)
        }
    }
}

/// Magic at the start of SQL Server's compressed backup container.
pub const MSSQLBAK_MAGIC: &[u8; 8] = b"MSSQLBAK";
/// Soft filemark block size in the one compressed sample.
pub const CONTAINER_BLOCK: usize = 4096;

/// What can be read of an `MSSQLBAK` container without decompressing it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct CompressedContainer {
    /// The u32 at offset 8 (2 in the sample; meaning unknown).
    pub word_8: u32,
    /// The u32 at offset 12 (3 in the sample; meaning unknown).
    pub word_12: u32,
    /// Total length, if known.
    pub total_len: Option<u64>,
    /// The uncompressed SFMB at the end, if there is one: its offset and the filemark byte
    /// offsets it lists (newest first).
    pub last_soft_filemark: Option<(u64, Vec<u64>)>,
}

impl CompressedContainer {
    /// Whether `head` starts with the container's magic.
    pub fn is_container(head: &[u8]) -> bool {
        head.starts_with(MSSQLBAK_MAGIC)
    }

    /// Reads the container's header (16 bytes) and, when the source can seek, its last soft
    /// filemark block. Never reads the compressed payload.
    pub fn read<R: std::io::Read + std::io::Seek>(r: &mut R) -> std::io::Result<Option<Self>> {
        use std::io::SeekFrom;
        let mut head = [0u8; 16];
        r.seek(SeekFrom::Start(0))?;
        if r.read_exact(&mut head).is_err() || !Self::is_container(&head) {
            return Ok(None);
        }
        let word = |o: usize| u32::from_le_bytes(head[o..o + 4].try_into().expect("4 bytes"));
        let total = r.seek(SeekFrom::End(0))?;
        let mut last = None;
        let blk = CONTAINER_BLOCK as u64;
        if total >= 2 * blk && total % blk == 0 {
            let at = total - blk;
            r.seek(SeekFrom::Start(at))?;
            let mut b = vec![0u8; CONTAINER_BLOCK];
            r.read_exact(&mut b)?;
            if let Ok((d, _)) = crate::block::Dblk::parse(&b, Some(CONTAINER_BLOCK)) {
                if let Body::Sfmb(s) = d.body {
                    last = Some((at, s.used_entries().to_vec()));
                }
            }
        }
        Ok(Some(CompressedContainer {
            word_8: word(8),
            word_12: word(12),
            total_len: Some(total),
            last_soft_filemark: last,
        }))
    }
}

/// The SSET start date as SQL Server records it (local time).
pub fn backup_start(set: &SetEntry) -> MtfDateTime {
    set.sset().media_write_date
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::sqlserver::BackupChecksum;

    #[test]
    fn fast_checksum_matches_the_reference() {
        let data: Vec<u8> = (0..(2 + 512 * 7 + 100) as u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        let want = BackupChecksum::of(&data);
        for step in [1usize, 2, 3, 511, 512, 513, 4096, data.len()] {
            let mut f = FastBackupChecksum::new();
            for c in data.chunks(step) {
                f.update(c);
            }
            assert_eq!(f.value(), want, "step {step}");
        }
    }

    #[test]
    fn written_chunks_decode_to_what_was_written() {
        let lsn = |a, b, c| {
            Some(Lsn {
                vlf: a,
                block: b,
                slot: c,
            })
        };
        let scin = Scin {
            has_checksums: Some(true),
            version: Some((1, 2, 345)),
            first_lsn: lsn(1, 2, 3),
            last_lsn: lsn(4, 5, 6),
            checkpoint_lsn: lsn(1, 2, 9),
            database_backup_lsn: lsn(0, 77, 1),
            backup_start: Some(MtfDateTime([1, 2, 3, 4, 5])),
            backup_finish: Some(MtfDateTime([1, 2, 3, 4, 6])),
            backup_type: Some(BackupType::Differential),
            sort_order: Some(0),
            compatibility_level: Some(0),
            database_version: Some(1),
            backup_size: Some(123_456),
            database_name: Some("sales Ω".into()),
            server_name: Some("host\\inst".into()),
            unicode_locale_id: Some(0),
            database_backup_set_guid: Some(Guid([7; 16])),
            collation_lcid: Some(0),
            collation_sort_id: Some(0),
            differential_base_lsn: lsn(0, 77, 1),
            differential_base_guid: Some(Guid([7; 16])),
        };
        let g = Sfgi {
            id: Some(2),
            name: Some("fg_b".into()),
        };
        let f = Sfin {
            file_id: Some(3),
            file_type: Some(FileType::Data),
            filegroup_id: Some(2),
            size: Some(8192 * 40),
            logical_name: Some("fg_b".into()),
            physical_name: Some("fg_b.ndf".into()),
            differential_base_lsn: lsn(0, 77, 1),
            differential_base_guid: Some(Guid([7; 16])),
        };
        let mut data = mqci::write::scin(&scin, &mqci::ScinExtra::default());
        data.extend(mqci::write::sfgi(&g));
        data.extend(mqci::write::sfin(&f, false, (None, None, None)));
        data.extend(mqci::write::other(b"ABCD", b"xyz"));
        let m = Mqci::decode(&data).unwrap();
        assert_eq!(m.scin.as_ref(), Some(&scin));
        assert_eq!(m.filegroups, vec![g]);
        assert_eq!(m.files, vec![f]);
        assert_eq!(m.other_chunks, vec!["ABCD".to_string()]);
        // The flags word carries the checksum bit at 0x10, as in real sets.
        assert_eq!(
            u32::from_le_bytes(data[8..12].try_into().unwrap()) & 0x10,
            0x10
        );
    }

    #[test]
    fn mqci_chunks_refuse_bad_sizes() {
        assert!(mqci::chunks(b"SCIN\x04\x00\x00\x00").is_err());
        assert!(mqci::chunks(b"SCIN\xff\x00\x00\x00abc").is_err());
        assert!(mqci::chunks(b"SCI").is_err());
        assert_eq!(mqci::chunks(b"").unwrap().len(), 0);
        let c = mqci::chunks(b"ABCD\x09\x00\x00\x00xEFGH\x08\x00\x00\x00").unwrap();
        assert_eq!(c.len(), 2);
        // Decoding a truncated SCIN leaves the missing fields unknown.
        let s = Scin::decode(&[0u8; 0x30]);
        assert!(s.database_name.is_none());
        assert!(s.first_lsn.is_some());
    }
}
