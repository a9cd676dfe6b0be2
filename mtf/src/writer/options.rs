//! What a writer is told: about the medium, each data set, volume, directory and file.

use crate::block::ObjectDates;
use crate::date::{DateTime, MtfDateTime};
use crate::spec::{NtFileAttributes, SetAttributes, StringType};

/// Default physical block size on media without hardware filemarks (files, pipes).
pub const DEFAULT_FILE_BLOCK_SIZE: usize = 64 * 1024;
/// Default physical block size on tape.
pub const DEFAULT_TAPE_BLOCK_SIZE: usize = 256 * 1024;

/// The medium (TAPE block) and the writer's layout choices.
#[derive(Clone, Debug)]
pub struct MediumOptions {
    /// Format Logical Block size: 512 or 1024.
    pub flb_size: u16,
    /// Physical block size; `None` picks [`DEFAULT_FILE_BLOCK_SIZE`] or
    /// [`DEFAULT_TAPE_BLOCK_SIZE`] by whether the sink has hardware filemarks. A multiple of the
    /// FLB size, at most 32 MiB; it is recorded in the TAPE block (soft filemark block size).
    pub block_size: Option<usize>,
    /// Media name (TAPE block).
    pub media_name: String,
    /// Media description (TAPE block).
    pub media_description: String,
    /// Constant across the family. Pick something unique (e.g. from the time and host).
    pub media_family_id: u32,
    /// The writing software's name (defaults to [`crate::SOFTWARE_NAME`]).
    pub software_name: String,
    /// The writing software's vendor id (0: none registered).
    pub software_vendor_id: u16,
    /// When the medium is first written (local civil time, as NTBackup records it).
    pub media_date: DateTime,
    /// How the strings are encoded (ANSI or Unicode) on every block.
    pub string_type: StringType,
    /// Write a Type 1 media based catalog (FDD and set map) at every set's end.
    pub catalog: bool,
}

impl MediumOptions {
    /// Options with the usual defaults: FLB 1024, Unicode strings, Type 1 catalog.
    pub fn new(media_name: &str, media_family_id: u32, media_date: DateTime) -> Self {
        MediumOptions {
            flb_size: 1024,
            block_size: None,
            media_name: media_name.to_owned(),
            media_description: String::new(),
            media_family_id,
            software_name: crate::SOFTWARE_NAME.to_owned(),
            software_vendor_id: 0,
            media_date,
            string_type: StringType::UNICODE,
            catalog: true,
        }
    }
}

/// What kind of backup a data set holds (the SSET operation bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackupKind {
    /// Every selected file; archive bits cleared.
    Normal,
    /// Every selected file; archive bits left alone.
    Copy,
    /// Files changed since the last normal backup.
    Differential,
    /// Files changed since the last normal or incremental backup.
    Incremental,
    /// Files changed today.
    Daily,
}

impl BackupKind {
    /// The SSET/ESET attribute bit.
    pub fn attributes(self) -> SetAttributes {
        match self {
            BackupKind::Normal => SetAttributes::NORMAL,
            BackupKind::Copy => SetAttributes::COPY,
            BackupKind::Differential => SetAttributes::DIFFERENTIAL,
            BackupKind::Incremental => SetAttributes::INCREMENTAL,
            BackupKind::Daily => SetAttributes::DAILY,
        }
    }
}

/// A data set (SSET).
#[derive(Clone, Debug)]
pub struct SetOptions {
    /// Data set name.
    pub name: String,
    /// Data set description.
    pub description: String,
    /// User name.
    pub user: String,
    /// The kind of backup (SSET attributes).
    pub kind: BackupKind,
    /// When the set is written.
    pub date: DateTime,
    /// Offset from UTC in 15-minute units, or [`crate::block::Sset::LOCAL_TZ`].
    pub time_zone: i8,
    /// The writing software's (major, minor) version (SSET).
    pub software_version: (u8, u8),
    /// Follow every data stream with a CSUM stream.
    pub checksums: bool,
    /// The SSET's OS-specific data (empty: none). SQL Server keeps its BackupSetGUID there
    /// (16 bytes, then 5 zero bytes).
    pub os_data: Vec<u8>,
}

impl SetOptions {
    /// A normal backup set with the given name and date.
    pub fn new(name: &str, date: DateTime) -> Self {
        SetOptions {
            name: name.to_owned(),
            description: String::new(),
            user: String::new(),
            kind: BackupKind::Normal,
            date,
            time_zone: crate::block::Sset::LOCAL_TZ,
            software_version: (0, 1),
            checksums: false,
            os_data: Vec::new(),
        }
    }
}

/// A volume (VOLB).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VolumeOptions {
    /// E.g. `C:`, `\\server\share`, or a Unix mount point.
    pub device: String,
    /// Volume name.
    pub volume: String,
    /// Machine name.
    pub machine: String,
}

/// Metadata of a directory or file.
#[derive(Clone, Copy, Debug, Default)]
pub struct EntryMeta {
    /// Modification, creation, backup and access dates.
    pub dates: ObjectDates,
    /// Windows attributes, recorded in the NT OS-specific data.
    pub nt_attributes: NtFileAttributes,
    /// The MTF read-only attribute.
    pub read_only: bool,
    /// The MTF hidden attribute.
    pub hidden: bool,
}

impl EntryMeta {
    /// Metadata with the same modification, creation and access date, and the backup date.
    pub fn with_dates(modified: Option<DateTime>, backup: DateTime) -> Self {
        let m = modified
            .and_then(MtfDateTime::from_datetime)
            .unwrap_or(MtfDateTime::NONE);
        EntryMeta {
            dates: ObjectDates {
                last_modification: m,
                creation: m,
                backup: MtfDateTime::from_datetime(backup).unwrap_or(MtfDateTime::NONE),
                last_access: m,
            },
            nt_attributes: NtFileAttributes::empty(),
            read_only: false,
            hidden: false,
        }
    }
}
