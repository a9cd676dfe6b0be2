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
