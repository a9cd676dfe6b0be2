//! The MQCI stream SQL Server writes in its MSCI block (before the data) and again in its MSLS
//! block (after the data, with final values): a sequence of `[tag][u32 size]` chunks, `SCIN`
//! (backup set and database), `SFGI` (one per filegroup) and `SFIN` (one per database file).
//!
//! Only the fields that `mtf/docs/sqlserver-evidence.md` marks *confirmed* are decoded; every
//! other byte stays in the chunk's raw bytes. Offsets below are from the chunk's start (its tag).

use crate::date::MtfDateTime;
use crate::spec::StringType;
use crate::stream::sqlserver::Guid;
use crate::text::decode_str;
use std::fmt;

/// A chunk: its tag and its whole bytes (header included).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk<'a> {
    /// Tag.
    pub tag: [u8; 4],
    /// The bytes, as read.
    pub bytes: &'a [u8],
}

/// Why an MQCI stream could not be cut into chunks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkError {
    /// Where on the medium (or in the structure) it starts.
    pub offset: usize,
    /// What was wrong.
    pub reason: String,
}

impl fmt::Display for ChunkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MQCI at byte {}: {}", self.offset, self.reason)
    }
}

/// Cuts MQCI data into chunks. The size includes the 8-byte chunk header; the chunks must end
/// exactly at the end of the data.
pub fn chunks(data: &[u8]) -> Result<Vec<Chunk<'_>>, ChunkError> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < data.len() {
        let Some(head) = data.get(at..at + 8) else {
            return Err(ChunkError {
                offset: at,
                reason: format!("{} bytes left, a chunk header needs 8", data.len() - at),
            });
        };
        let size = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as usize;
        if size < 8 || size > data.len() - at {
            return Err(ChunkError {
                offset: at,
                reason: format!(
                    "chunk size {size} does not fit the {} bytes left",
                    data.len() - at
                ),
            });
        }
        out.push(Chunk {
            tag: [head[0], head[1], head[2], head[3]],
            bytes: &data[at..at + size],
        });
        at += size;
    }
    Ok(out)
}

use crate::parse::{u16_at, u32_at, u64_at};
fn guid_at(b: &[u8], o: usize) -> Option<Guid> {
    Some(Guid(b.get(o..o + 16)?.try_into().ok()?))
}
fn date_at(b: &[u8], o: usize) -> Option<MtfDateTime> {
    Some(MtfDateTime(b.get(o..o + 5)?.try_into().ok()?))
}
/// A UTF-16 string located by a tape address (size, offset) at `o`, relative to the chunk.
fn text_at(b: &[u8], o: usize) -> Option<String> {
    let size = u16_at(b, o)? as usize;
    let off = u16_at(b, o + 2)? as usize;
    if size == 0 {
        return Some(String::new());
    }
    let raw = b.get(off..off.checked_add(size)?)?;
    Some(decode_str(raw, StringType::UNICODE))
}

/// A log sequence number: virtual log file sequence, block, slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Lsn {
    /// Vlf.
    pub vlf: u32,
    /// Block.
    pub block: u32,
    /// Slot.
    pub slot: u16,
}

impl Lsn {
    fn at(b: &[u8], o: usize) -> Option<Lsn> {
        Some(Lsn {
            vlf: u32_at(b, o)?,
            block: u32_at(b, o + 4)?,
            slot: u16_at(b, o + 8)?,
        })
    }

    /// The decimal form SQL Server shows (`numeric(25,0)`): vlf·10^15 + block·10^5 + slot.
    pub fn decimal(&self) -> u128 {
        self.vlf as u128 * 1_000_000_000_000_000 + self.block as u128 * 100_000 + self.slot as u128
    }

    /// The parts back from the decimal form, if it has them (each part within its width).
    pub fn from_decimal(d: u128) -> Option<Lsn> {
        Some(Lsn {
            vlf: u32::try_from(d / 1_000_000_000_000_000).ok()?,
            block: u32::try_from(d / 100_000 % 10_000_000_000).ok()?,
            slot: u16::try_from(d % 100_000).ok()?,
        })
    }

    /// Whether all parts are zero (no LSN).
    pub fn is_zero(&self) -> bool {
        *self == Lsn::default()
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}:{}:{})",
            self.decimal(),
            self.vlf,
            self.block,
            self.slot
        )
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Lsn {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{}", self.decimal()))
    }
}

/// The backup type SCIN+0x57 records, as msdb `backupset.type` letters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackupType {
    /// `D`: full database.
    Database,
    /// `I`: differential database.
    Differential,
    /// `L`: transaction log.
    Log,
    /// Another letter (file, partial, ... none in the samples): kept, not named.
    Other(u8),
}

impl BackupType {
    fn from_byte(b: u8) -> BackupType {
        match b {
            b'D' => BackupType::Database,
            b'I' => BackupType::Differential,
            b'L' => BackupType::Log,
            x => BackupType::Other(x),
        }
    }

    /// The words RESTORE HEADERONLY uses (BackupTypeDescription).
    pub fn description(&self) -> String {
        match self {
            BackupType::Database => "Database".into(),
            BackupType::Differential => "Database Differential".into(),
            BackupType::Log => "Transaction Log".into(),
            BackupType::Other(b) => format!("unknown (type byte {b:#04x})"),
        }
    }

    /// The msdb letter.
    pub fn letter(&self) -> char {
        match self {
            BackupType::Database => 'D',
            BackupType::Differential => 'I',
            BackupType::Log => 'L',
            BackupType::Other(b) => *b as char,
        }
    }
}

impl fmt::Display for BackupType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.description())
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for BackupType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// SCIN: the backup set and database. Each field is `None` when the chunk is too short for it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Scin {
    /// 0x08 bit 0x10: the backup was taken WITH CHECKSUM.
    pub has_checksums: Option<bool>,
    /// 0x1B.0x1A.0x18: product major, minor, build.
    pub version: Option<(u8, u8, u16)>,
    /// 0x20.
    pub first_lsn: Option<Lsn>,
    /// 0x2A.
    pub last_lsn: Option<Lsn>,
    /// 0x34.
    pub checkpoint_lsn: Option<Lsn>,
    /// 0x3E (zero for a first-ever full backup).
    pub database_backup_lsn: Option<Lsn>,
    /// 0x4D: backup start (local time).
    pub backup_start: Option<MtfDateTime>,
    /// 0x52: backup finish (zero in the MSCI copy, written before the data).
    pub backup_finish: Option<MtfDateTime>,
    /// 0x57.
    pub backup_type: Option<BackupType>,
    /// 0x58: SQL sort order id.
    pub sort_order: Option<u8>,
    /// 0x5B.
    pub compatibility_level: Option<u8>,
    /// 0x5E: internal database version.
    pub database_version: Option<u16>,
    /// 0x60: BackupSize in bytes (an estimate in the MSCI copy).
    pub backup_size: Option<u64>,
    /// 0x68.
    pub database_name: Option<String>,
    /// 0x6C: `machine[\instance]`.
    pub server_name: Option<String>,
    /// 0x74: Unicode locale id.
    pub unicode_locale_id: Option<u32>,
    /// 0xC8: BackupSetGUID of the full backup DatabaseBackupLSN refers to (zero if none).
    pub database_backup_set_guid: Option<Guid>,
    /// 0xD8: collation LCID (bits 0-19 of the u32).
    pub collation_lcid: Option<u32>,
    /// 0xDC: collation SortId.
    pub collation_sort_id: Option<u8>,
    /// 0x104: DifferentialBaseLSN (differential sets).
    pub differential_base_lsn: Option<Lsn>,
    /// 0x110: DifferentialBaseGUID (differential sets).
    pub differential_base_guid: Option<Guid>,
}

impl Scin {
    /// Decodes a SCIN chunk (its whole bytes).
    pub fn decode(b: &[u8]) -> Scin {
        let ver = match (b.get(0x1B), b.get(0x1A), u16_at(b, 0x18)) {
            (Some(&ma), Some(&mi), Some(build)) => Some((ma, mi, build)),
            _ => None,
        };
        Scin {
            has_checksums: u32_at(b, 0x08).map(|f| f & 0x10 != 0),
            version: ver,
            first_lsn: Lsn::at(b, 0x20),
            last_lsn: Lsn::at(b, 0x2A),
            checkpoint_lsn: Lsn::at(b, 0x34),
            database_backup_lsn: Lsn::at(b, 0x3E),
            backup_start: date_at(b, 0x4D),
            backup_finish: date_at(b, 0x52),
            backup_type: b.get(0x57).map(|&x| BackupType::from_byte(x)),
            sort_order: b.get(0x58).copied(),
            compatibility_level: b.get(0x5B).copied(),
            database_version: u16_at(b, 0x5E),
            backup_size: u64_at(b, 0x60),
            database_name: text_at(b, 0x68),
            server_name: text_at(b, 0x6C),
            unicode_locale_id: u32_at(b, 0x74),
            database_backup_set_guid: guid_at(b, 0xC8),
            collation_lcid: u32_at(b, 0xD8).map(|v| v & 0xF_FFFF),
            collation_sort_id: b.get(0xDC).copied(),
            differential_base_lsn: Lsn::at(b, 0x104),
            differential_base_guid: guid_at(b, 0x110),
        }
    }

    /// The product version as `major.minor.build`.
    pub fn version_string(&self) -> Option<String> {
        self.version.map(|(a, b, c)| format!("{a}.{b}.{c}"))
    }
}

/// SFGI: a filegroup.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Sfgi {
    /// 0x0C.
    pub id: Option<u32>,
    /// 0x10.
    pub name: Option<String>,
}

impl Sfgi {
    /// Decodes an SFGI chunk.
    pub fn decode(b: &[u8]) -> Sfgi {
        Sfgi {
            id: u32_at(b, 0x0C),
            name: text_at(b, 0x10),
        }
    }
}

/// The type of a database file (SFIN+0x1C).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileType {
    /// 1: a data file (`D` in FILELISTONLY).
    Data,
    /// 2: a log file (`L`).
    Log,
    /// Another value, kept.
    Other(u32),
}

impl FileType {
    /// The FILELISTONLY letter.
    pub fn letter(&self) -> String {
        match self {
            FileType::Data => "D".into(),
            FileType::Log => "L".into(),
            FileType::Other(v) => format!("?{v}"),
        }
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for FileType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.letter())
    }
}

/// SFIN: one database file.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Sfin {
    /// 0x14: FileID.
    pub file_id: Option<u32>,
    /// 0x1C.
    pub file_type: Option<FileType>,
    /// 0x24: FileGroupID (0 for the log).
    pub filegroup_id: Option<u32>,
    /// 0x28: Size in bytes.
    pub size: Option<u64>,
    /// 0x30: LogicalName.
    pub logical_name: Option<String>,
    /// 0x34: PhysicalName.
    pub physical_name: Option<String>,
    /// 0x9E: DifferentialBaseLSN (data files; zero for the log).
    pub differential_base_lsn: Option<Lsn>,
    /// 0xAA: DifferentialBaseGUID (data files).
    pub differential_base_guid: Option<Guid>,
}

impl Sfin {
    /// Decodes an SFIN chunk.
    pub fn decode(b: &[u8]) -> Sfin {
        Sfin {
            file_id: u32_at(b, 0x14),
            file_type: u32_at(b, 0x1C).map(|t| match t {
                1 => FileType::Data,
                2 => FileType::Log,
                x => FileType::Other(x),
            }),
            filegroup_id: u32_at(b, 0x24),
            size: u64_at(b, 0x28),
            logical_name: text_at(b, 0x30),
            physical_name: text_at(b, 0x34),
            differential_base_lsn: Lsn::at(b, 0x9E),
            differential_base_guid: guid_at(b, 0xAA),
        }
    }
}

/// A decoded MQCI stream.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Mqci {
    /// Scin.
    pub scin: Option<Scin>,
    /// Filegroups.
    pub filegroups: Vec<Sfgi>,
    /// Files.
    pub files: Vec<Sfin>,
    /// Tags of chunks this decoder does not know.
    pub other_chunks: Vec<String>,
}

impl Mqci {
    /// Decodes MQCI data.
    pub fn decode(data: &[u8]) -> Result<Mqci, ChunkError> {
        let mut m = Mqci::default();
        for c in chunks(data)? {
            match &c.tag {
                b"SCIN" if m.scin.is_none() => m.scin = Some(Scin::decode(c.bytes)),
                b"SFGI" => m.filegroups.push(Sfgi::decode(c.bytes)),
                b"SFIN" => m.files.push(Sfin::decode(c.bytes)),
                t => m.other_chunks.push(String::from_utf8_lossy(t).into_owned()),
            }
        }
        Ok(m)
    }

    /// The filegroup name for a filegroup id.
    pub fn filegroup_name(&self, id: u32) -> Option<&str> {
        self.filegroups
            .iter()
            .find(|g| g.id == Some(id))
            .and_then(|g| g.name.as_deref())
    }
}

/// The SCIN fields the decoder leaves undecoded because the evidence marks them only *likely*
/// (`mtf/docs/sqlserver-evidence.md` §6.2), which a writer still has to fill.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScinExtra {
    /// 0x0C: the number of data files (likely).
    pub data_files: u32,
    /// 0x08 bit 0x800: set in differential backups (likely).
    pub differential: bool,
    /// 0x48: the database's creation date (likely).
    pub database_created: Option<MtfDateTime>,
    /// 0x7C: FamilyGUID, the database's original id, stable across restores (likely).
    pub family_guid: Guid,
    /// 0x9C: RecoveryForkID, the fork the database was in at the backup (likely).
    pub recovery_fork: Guid,
    /// 0xAC: ForkPointLSN, where that fork began (zero if never forked; likely).
    pub fork_point_lsn: Lsn,
    /// 0xE0 (and 0xB8, which real sets mostly give the same value): FirstRecoveryForkID, the
    /// database's first fork (likely).
    pub first_recovery_fork: Guid,
}

/// Writes the chunks the decoder reads, field by field at the offsets it reads them from, in
/// the 11.0+ sizes (SCIN 0x190, SFIN strings from 0x110, SFGI strings from 0x30). A field the
/// caller leaves `None` is written as zero; bytes whose meaning no sample settles are zero,
/// except the constants every real set has (SCIN+0x08 bit 0x200, +0x10 = 1, +0x59 = 1;
/// SFGI+0x08 = 0x10, +0x14 = 1; SFIN+0x10 = 8192), which are written as real sets have them.
pub mod write {
    use super::*;

    struct ChunkBuf {
        b: Vec<u8>,
        strings: Vec<(usize, Vec<u8>)>,
    }

    impl ChunkBuf {
        fn new(tag: &[u8; 4], fixed: usize) -> Self {
            let mut b = vec![0u8; fixed];
            b[..4].copy_from_slice(tag);
            ChunkBuf {
                b,
                strings: Vec::new(),
            }
        }
        fn u8(&mut self, o: usize, v: u8) {
            self.b[o] = v;
        }
        fn u16(&mut self, o: usize, v: u16) {
            self.b[o..o + 2].copy_from_slice(&v.to_le_bytes());
        }
        fn u32(&mut self, o: usize, v: u32) {
            self.b[o..o + 4].copy_from_slice(&v.to_le_bytes());
        }
        fn u64(&mut self, o: usize, v: u64) {
            self.b[o..o + 8].copy_from_slice(&v.to_le_bytes());
        }
        fn lsn(&mut self, o: usize, v: Option<Lsn>) {
            let v = v.unwrap_or_default();
            self.u32(o, v.vlf);
            self.u32(o + 4, v.block);
            self.u16(o + 8, v.slot);
        }
        fn guid(&mut self, o: usize, v: Option<Guid>) {
            self.b[o..o + 16].copy_from_slice(&v.unwrap_or_default().0);
        }
        fn date(&mut self, o: usize, v: Option<MtfDateTime>) {
            self.b[o..o + 5].copy_from_slice(&v.map(|d| d.0).unwrap_or([0; 5]));
        }
        /// A UTF-16LE string placed after the fixed part, its (size, offset) at `o`.
        fn text(&mut self, o: usize, s: Option<&str>) {
            let raw: Vec<u8> = s
                .unwrap_or("")
                .encode_utf16()
                .flat_map(|u| u.to_le_bytes())
                .collect();
            self.strings.push((o, raw));
        }
        fn finish(mut self) -> Vec<u8> {
            for (o, raw) in std::mem::take(&mut self.strings) {
                // A string too long for the 16-bit size is cut at a character boundary.
                let len = raw.len().min(0xFFFE);
                let at = self.b.len();
                let (size, off) = if len == 0 {
                    (0, 0)
                } else {
                    (len as u16, u16::try_from(at).unwrap_or(0))
                };
                if off == 0 && len != 0 {
                    continue;
                }
                self.u16(o, size);
                self.u16(o + 2, off);
                self.b.extend_from_slice(&raw[..len]);
            }
            let n = self.b.len() as u32;
            self.u32(4, n);
            self.b
        }
    }

    /// A SCIN chunk.
    pub fn scin(s: &Scin, x: &ScinExtra) -> Vec<u8> {
        let mut c = ChunkBuf::new(b"SCIN", 0x190);
        let mut flags = 0x200;
        if s.has_checksums == Some(true) {
            flags |= 0x10;
        }
        if x.differential {
            flags |= 0x800;
        }
        c.u32(0x08, flags);
        c.u32(0x0C, x.data_files);
        c.u32(0x10, 1);
        if let Some((ma, mi, build)) = s.version {
            c.u16(0x18, build);
            c.u8(0x1A, mi);
            c.u8(0x1B, ma);
        }
        c.lsn(0x20, s.first_lsn);
        c.lsn(0x2A, s.last_lsn);
        c.lsn(0x34, s.checkpoint_lsn);
        c.lsn(0x3E, s.database_backup_lsn);
        c.date(0x48, x.database_created);
        c.date(0x4D, s.backup_start);
        c.date(0x52, s.backup_finish);
        let t = match s.backup_type {
            Some(BackupType::Database) => b'D',
            Some(BackupType::Differential) => b'I',
            Some(BackupType::Log) => b'L',
            Some(BackupType::Other(b)) => b,
            None => 0,
        };
        c.u8(0x57, t);
        c.u8(0x58, s.sort_order.unwrap_or(0));
        c.u8(0x59, 1);
        c.u8(0x5B, s.compatibility_level.unwrap_or(0));
        c.u16(0x5E, s.database_version.unwrap_or(0));
        c.u64(0x60, s.backup_size.unwrap_or(0));
        c.text(0x68, s.database_name.as_deref());
        c.text(0x6C, s.server_name.as_deref());
        c.u32(0x74, s.unicode_locale_id.unwrap_or(0));
        c.guid(0x7C, Some(x.family_guid));
        c.lsn(0x90, s.last_lsn);
        c.guid(0x9C, Some(x.recovery_fork));
        c.lsn(0xAC, Some(x.fork_point_lsn));
        c.guid(0xB8, Some(x.first_recovery_fork));
        c.guid(0xC8, s.database_backup_set_guid);
        c.u32(0xD8, s.collation_lcid.unwrap_or(0));
        c.u8(0xDC, s.collation_sort_id.unwrap_or(0));
        c.guid(0xE0, Some(x.first_recovery_fork));
        c.lsn(0x104, s.differential_base_lsn);
        c.guid(0x110, s.differential_base_guid);
        c.u64(0x158, s.backup_size.unwrap_or(0));
        c.finish()
    }

    /// An SFGI chunk.
    pub fn sfgi(g: &Sfgi) -> Vec<u8> {
        let mut c = ChunkBuf::new(b"SFGI", 0x30);
        c.u32(0x08, 0x10);
        c.u32(0x0C, g.id.unwrap_or(0));
        c.text(0x10, g.name.as_deref());
        c.u32(0x14, 1);
        c.finish()
    }

    /// An SFIN chunk. `full_data` sets flag 0x80 (data files of a full backup, likely),
    /// otherwise 0x04 is written, as in real log and differential sets.
    pub fn sfin(
        f: &Sfin,
        full_data: bool,
        copies: (Option<Lsn>, Option<Lsn>, Option<Lsn>),
    ) -> Vec<u8> {
        let mut c = ChunkBuf::new(b"SFIN", 0x110);
        c.u32(0x08, if full_data { 0x80 } else { 0x04 });
        c.u32(0x10, 8192);
        c.u32(0x14, f.file_id.unwrap_or(0));
        c.u32(
            0x1C,
            match f.file_type {
                Some(FileType::Data) => 1,
                Some(FileType::Log) => 2,
                Some(FileType::Other(v)) => v,
                None => 0,
            },
        );
        c.u32(0x24, f.filegroup_id.unwrap_or(0));
        c.u64(0x28, f.size.unwrap_or(0));
        c.text(0x30, f.logical_name.as_deref());
        c.text(0x34, f.physical_name.as_deref());
        c.lsn(0x9E, f.differential_base_lsn);
        c.guid(0xAA, f.differential_base_guid);
        c.lsn(0xCA, copies.0);
        c.lsn(0xDA, copies.1);
        c.lsn(0xEA, copies.2);
        c.finish()
    }

    /// A chunk of the caller's own (a tag the decoder lists in [`Mqci::other_chunks`]).
    pub fn other(tag: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut b = Vec::with_capacity(8 + body.len());
        b.extend_from_slice(tag);
        b.extend_from_slice(&((8 + body.len()) as u32).to_le_bytes());
        b.extend_from_slice(body);
        b
    }
}

#[cfg(test)]
mod tests {
    use super::Lsn;

    #[test]
    fn an_lsn_comes_back_from_its_decimal_form() {
        // SQL Server's decimal LSN 25000000006200170 is VLF 25, block 62, slot 170.
        let l = Lsn::from_decimal(25_000_000_006_200_170).unwrap();
        assert_eq!((l.vlf, l.block, l.slot), (25, 62, 170));
        assert_eq!(l.decimal(), 25_000_000_006_200_170);
        // A slot of five digits past a u16, a VLF past a u32: no LSN has that form.
        assert_eq!(Lsn::from_decimal(99_999), None);
        assert_eq!(
            Lsn::from_decimal((u128::from(u32::MAX) + 1) * 1_000_000_000_000_000),
            None
        );
    }
}
