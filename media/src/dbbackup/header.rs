//! What a reference-engine backup set says about itself, and its encoding as SQL Server's MQCI
//! stream (written in the MSCI block before the data, in the MSLS block after it, and as the
//! set's `refdb/header.mqci` file, which the restore reads).
//!
//! Every field SQL Server's decoder ([`mtf::sqlserver::mqci`]) reads is written where it reads
//! it. What SQL Server's headers do not carry in any confirmed field (the recovery model,
//! copy-only, the damaged, tail-log and bulk-logged flags, the expiry, the engine's format
//! version, the filegroup of a file backup) goes in a chunk of our own, `RDBX`, which the
//! decoder lists and otherwise ignores.
//!
//! Fields written whose meaning the evidence marks only *likely*: the database creation date
//! (SCIN+0x48), FamilyGUID (0x7C, the database id), the recovery fork (0x9C), the fork point
//! (0xAC, where a fork a restore started began; zero for the fork made at creation) and the
//! first fork (0xB8 and 0xE0: the fork the set starts in, the current one except for a log
//! backup starting exactly where a fork that kept the log chain began, the first stage of a
//! piecemeal restore, which starts in that fork's parent), the data file count
//! (0x0C), the differential flag (0x08 bit 0x800), the SFIN "full data" flag (0x80). Fields
//! written as zero because they mean nothing here: sort order, compatibility level, Unicode
//! locale and collation (the engine compares keys as bytes); every byte no sample explains
//! (SCIN 0x14, 0x1C, 0x5C, 0x70, 0x8C, 0xF0-0x103; SFGI and SFIN beyond the decoded fields:
//! max size, create LSN, file GUID). Written as real sets have them, meaning unknown: SCIN+0x08
//! bit 0x200, +0x10 = 1, +0x59 = 1; SFGI+0x08 = 0x10, +0x14 = 1; SFIN+0x10 = 8192 (likely the
//! page size, which is refdb's too). The log file is listed as SFIN file id 0 (refdb's log has
//! no file id) with the size of the log the set holds. The product version is 1.0.N with N the
//! backup format version, which a restore checks.
//!
//! LSNs: a refdb LSN is a byte position (u64); SQL Server's is (VLF sequence u32, block u32,
//! slot u16), shown as `vlf·10^15 + block·10^5 + slot`. A refdb LSN `L` is written as
//! `vlf = L >> 48`, `block = (L >> 16) & 0xFFFF_FFFF`, `slot = L & 0xFFFF`: the mapping keeps
//! the order (block < 10^10 and slot < 10^5, so the decimal form grows with `L`) and is
//! reversible ([`from_sql_lsn`]), so the planner orders refdb sets as it orders SQL Server's.

use super::{BackupType, DbBackupError, Result};
use crate::engine::Lsn;
use crate::history;
use mtf::date::MtfDateTime;
use mtf::sqlserver::mqci::{self, write};
use mtf::sqlserver::{FileType, Mqci, Scin, ScinExtra, Sfgi, Sfin};
use mtf::stream::sqlserver::Guid;

/// The engine's backup format version, in SCIN's product version (major.minor.build =
/// 1.0.FORMAT_VERSION). A backup with a higher one is refused by this engine.
pub const FORMAT_VERSION: u16 = 1;

/// The HEADERONLY `Flags` bits this engine sets (msdb's meanings).
pub mod flags {
    /// The set holds bulk-logged changes (a point in time inside it is refused).
    pub const BULK_LOGGED: u32 = 1;
    /// Page checksums were verified and a backup checksum stored (WITH CHECKSUM).
    pub const CHECKSUMS: u32 = 16;
    /// Taken WITH CONTINUE_AFTER_ERROR past a damaged page: the set is damaged.
    pub const DAMAGED: u32 = 32;
    /// A tail-log backup (NO_TRUNCATE).
    pub const TAIL_LOG: u32 = 64;
    /// A tail-log backup that left the database restoring (NORECOVERY).
    pub const NORECOVERY: u32 = 256;
    /// Not one of msdb's bits: COPY_ONLY (msdb has it as a column of its own).
    pub const COPY_ONLY: u32 = 1 << 16;
}

/// One data file of the database, as the set records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEntry {
    pub file_id: u16,
    /// Its filegroup's id and name.
    pub filegroup_id: u16,
    pub filegroup: String,
    /// Its logical name (what MOVE names).
    pub logical_name: String,
    /// Its name in the database directory.
    pub file_name: String,
    /// Where it was when backed up, as the database's boot record says (its SFIN physical
    /// name): `file_name`, or where a MOVE put it. Not in the set's `RDBX`: read back, it is
    /// `file_name`.
    pub physical_name: String,
    pub read_only: bool,
    /// Pages of this file in the set.
    pub pages_in_set: u64,
}

/// What a set says about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetHeader {
    pub kind: BackupType,
    pub database: String,
    pub db_guid: [u8; 16],
    pub set_guid: [u8; 16],
    pub server: String,
    pub model: crate::engine::RecoveryModel,
    /// The log the set holds: `first_lsn..last_lsn` (for data backups, the log that makes the
    /// copied pages consistent).
    pub first_lsn: Lsn,
    pub last_lsn: Lsn,
    /// The checkpoint recovery of a data backup starts from.
    pub checkpoint_lsn: Lsn,
    /// The full backup this set depends on: its checkpoint LSN and set GUID (DatabaseBackupLSN
    /// and, for a differential, DifferentialBaseLSN/GUID). 0 = none.
    pub base_lsn: Lsn,
    pub base_guid: [u8; 16],
    /// The recovery fork at the backup, where it began (0 = never forked) and the first fork.
    pub fork_guid: [u8; 16],
    pub fork_point_lsn: Lsn,
    pub first_fork_guid: [u8; 16],
    /// Unix milliseconds.
    pub start_ms: u64,
    pub finish_ms: u64,
    pub expires_ms: u64,
    pub created_ms: u64,
    pub flags: u32,
    pub backup_size: u64,
    pub user: String,
    pub files: Vec<FileEntry>,
    /// Where the log was when backed up (its SFIN physical name; see
    /// [`FileEntry::physical_name`]).
    pub log_physical_name: String,
    /// The engine format version that wrote the set.
    pub format_version: u16,
}

/// A refdb LSN in SQL Server's three parts (see the module notes).
pub fn to_sql_lsn(l: Lsn) -> mqci::Lsn {
    mqci::Lsn {
        vlf: (l >> 48) as u32,
        block: ((l >> 16) & 0xFFFF_FFFF) as u32,
        slot: (l & 0xFFFF) as u16,
    }
}

/// The refdb LSN back from SQL Server's parts.
pub fn from_sql_lsn(l: mqci::Lsn) -> Lsn {
    ((l.vlf as u64) << 48) | ((l.block as u64) << 16) | l.slot as u64
}

/// The refdb LSN as the history and the planner see it.
pub fn history_lsn(l: Lsn) -> history::Lsn {
    history::Lsn::from(to_sql_lsn(l))
}

/// The refdb LSN a history LSN stands for, if it is one ([`history_lsn`]'s inverse): an LSN
/// recorded by another server need not be.
pub fn from_history_lsn(l: history::Lsn) -> Option<Lsn> {
    let engine = from_sql_lsn(mqci::Lsn::from_decimal(l.0)?);
    (history_lsn(engine) == l).then_some(engine)
}

fn date(ms: u64) -> Option<MtfDateTime> {
    if ms == 0 {
        return None;
    }
    mtf::DateTime::from_unix((ms / 1000) as i64).and_then(MtfDateTime::from_datetime)
}

fn model_code(m: crate::engine::RecoveryModel) -> u8 {
    // sys.databases.recovery_model: 1 full, 2 bulk-logged, 3 simple.
    match m {
        crate::engine::RecoveryModel::Full => 1,
        crate::engine::RecoveryModel::BulkLogged => 2,
        crate::engine::RecoveryModel::Simple => 3,
    }
}

fn model_from(c: u8) -> Option<crate::engine::RecoveryModel> {
    Some(match c {
        1 => crate::engine::RecoveryModel::Full,
        2 => crate::engine::RecoveryModel::BulkLogged,
        3 => crate::engine::RecoveryModel::Simple,
        _ => return None,
    })
}

impl SetHeader {
    fn scin(&self, final_copy: bool) -> Scin {
        let lsn = |l: Lsn| Some(to_sql_lsn(l));
        let zero_guid = [0u8; 16];
        Scin {
            has_checksums: Some(self.flags & flags::CHECKSUMS != 0),
            version: Some((1, 0, self.format_version)),
            first_lsn: lsn(self.first_lsn),
            last_lsn: lsn(self.last_lsn),
            checkpoint_lsn: lsn(self.checkpoint_lsn),
            database_backup_lsn: lsn(self.base_lsn),
            backup_start: date(self.start_ms),
            backup_finish: if final_copy {
                date(self.finish_ms)
            } else {
                None
            },
            backup_type: Some(self.kind.sql_type()),
            sort_order: Some(0),
            compatibility_level: Some(0),
            database_version: Some(self.format_version),
            backup_size: Some(self.backup_size),
            database_name: Some(self.database.clone()),
            server_name: Some(self.server.clone()),
            unicode_locale_id: Some(0),
            database_backup_set_guid: Some(Guid(self.base_guid)),
            collation_lcid: Some(0),
            collation_sort_id: Some(0),
            differential_base_lsn: if self.kind == BackupType::Differential {
                lsn(self.base_lsn)
            } else {
                lsn(0)
            },
            differential_base_guid: Some(Guid(if self.kind == BackupType::Differential {
                self.base_guid
            } else {
                zero_guid
            })),
        }
    }

    /// The MQCI stream: the copy written before the data (`final_copy` false: no finish date)
    /// or after it.
    pub fn to_mqci(&self, final_copy: bool) -> Vec<u8> {
        let extra = ScinExtra {
            data_files: self.files.len() as u32,
            differential: self.kind == BackupType::Differential,
            database_created: date(self.created_ms),
            family_guid: Guid(self.db_guid),
            recovery_fork: Guid(self.fork_guid),
            fork_point_lsn: to_sql_lsn(self.fork_point_lsn),
            first_recovery_fork: Guid(self.first_fork_guid),
        };
        let mut out = write::scin(&self.scin(final_copy), &extra);
        let mut groups: Vec<(u16, &str)> = Vec::new();
        for f in &self.files {
            if !groups.iter().any(|g| g.0 == f.filegroup_id) {
                groups.push((f.filegroup_id, &f.filegroup));
            }
        }
        for (id, name) in &groups {
            out.extend(write::sfgi(&Sfgi {
                id: Some(*id as u32),
                name: Some(name.to_string()),
            }));
        }
        let (diff_lsn, diff_guid) = match self.kind {
            BackupType::Full | BackupType::File if !self.copy_only() => {
                (self.checkpoint_lsn, self.set_guid)
            }
            _ => (self.base_lsn, self.base_guid),
        };
        let copies = (
            Some(to_sql_lsn(self.first_lsn)),
            Some(to_sql_lsn(self.last_lsn)),
            Some(to_sql_lsn(self.checkpoint_lsn)),
        );
        for f in &self.files {
            let sfin = Sfin {
                file_id: Some(f.file_id as u32),
                file_type: Some(FileType::Data),
                filegroup_id: Some(f.filegroup_id as u32),
                size: Some(f.pages_in_set * crate::engine::page::PAGE_SIZE as u64),
                logical_name: Some(f.logical_name.clone()),
                physical_name: Some(f.physical_name.clone()),
                differential_base_lsn: Some(to_sql_lsn(diff_lsn)),
                differential_base_guid: Some(Guid(diff_guid)),
            };
            out.extend(write::sfin(&sfin, self.kind == BackupType::Full, copies));
        }
        // The log file, as SQL Server lists its own (type L, filegroup 0); refdb's log has no
        // file id of its own, 0 is written.
        out.extend(write::sfin(
            &Sfin {
                file_id: Some(0),
                file_type: Some(FileType::Log),
                filegroup_id: Some(0),
                size: Some(self.last_lsn.saturating_sub(self.first_lsn)),
                logical_name: Some("log".into()),
                physical_name: Some(self.log_physical_name.clone()),
                differential_base_lsn: Some(mqci::Lsn::default()),
                differential_base_guid: Some(Guid([0; 16])),
            },
            false,
            copies,
        ));
        out.extend(write::other(b"RDBX", &self.rdbx()));
        out
    }

    /// Whether the set is copy-only.
    pub fn copy_only(&self) -> bool {
        self.flags & flags::COPY_ONLY != 0
    }

    /// The `RDBX` chunk: what SQL Server's chunks have no confirmed place for.
    fn rdbx(&self) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&1u16.to_le_bytes()); // the chunk's layout version
        b.push(model_code(self.model));
        b.push(self.kind.code());
        b.extend_from_slice(&self.flags.to_le_bytes());
        b.extend_from_slice(&self.format_version.to_le_bytes());
        b.extend_from_slice(&self.set_guid);
        b.extend_from_slice(&self.db_guid);
        for v in [
            self.first_lsn,
            self.last_lsn,
            self.checkpoint_lsn,
            self.base_lsn,
            self.fork_point_lsn,
            self.start_ms,
            self.finish_ms,
            self.expires_ms,
            self.created_ms,
        ] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        let s = |b: &mut Vec<u8>, t: &str| {
            let t = t.as_bytes();
            b.extend_from_slice(&(t.len().min(u16::MAX as usize) as u16).to_le_bytes());
            b.extend_from_slice(&t[..t.len().min(u16::MAX as usize)]);
        };
        s(&mut b, &self.user);
        b.extend_from_slice(&(self.files.len() as u16).to_le_bytes());
        for f in &self.files {
            b.extend_from_slice(&f.file_id.to_le_bytes());
            b.extend_from_slice(&f.filegroup_id.to_le_bytes());
            b.push(f.read_only as u8);
            b.extend_from_slice(&f.pages_in_set.to_le_bytes());
            s(&mut b, &f.filegroup);
            s(&mut b, &f.logical_name);
            s(&mut b, &f.file_name);
        }
        b
    }

    /// Reads a header back from an MQCI stream (the set's `header.mqci`). `what` names the
    /// source in errors.
    pub fn from_mqci(data: &[u8], what: &str) -> Result<SetHeader> {
        let bad = |why: String| DbBackupError::Refused(format!("{what}: {why}"));
        let m = Mqci::decode(data).map_err(|e| bad(e.to_string()))?;
        let scin = m.scin.clone().ok_or_else(|| bad("no SCIN chunk".into()))?;
        let rdbx = mqci::chunks(data)
            .map_err(|e| bad(e.to_string()))?
            .into_iter()
            .find(|c| &c.tag == b"RDBX")
            .ok_or_else(|| bad("not a refdb backup set (no RDBX chunk)".into()))?;
        let mut r = Rd {
            b: &rdbx.bytes[8..],
            at: 0,
        };
        let short = || bad("RDBX chunk cut short".into());
        let layout = r.u16().ok_or_else(short)?;
        if layout != 1 {
            return Err(bad(format!(
                "RDBX layout {layout} is not one this engine reads"
            )));
        }
        let model = r
            .u8()
            .and_then(model_from)
            .ok_or_else(|| bad("unknown recovery model".into()))?;
        let kind = r
            .u8()
            .and_then(BackupType::from_code)
            .ok_or_else(|| bad("unknown backup type".into()))?;
        let flags = r.u32().ok_or_else(short)?;
        let format_version = r.u16().ok_or_else(short)?;
        let set_guid = r.guid().ok_or_else(short)?;
        let db_guid = r.guid().ok_or_else(short)?;
        let mut v = [0u64; 9];
        for x in &mut v {
            *x = r.u64().ok_or_else(short)?;
        }
        let user = r.str().ok_or_else(short)?;
        let n = r.u16().ok_or_else(short)?;
        let mut files = Vec::new();
        for _ in 0..n {
            let file_id = r.u16().ok_or_else(short)?;
            let filegroup_id = r.u16().ok_or_else(short)?;
            let read_only = r.u8().ok_or_else(short)? != 0;
            let pages_in_set = r.u64().ok_or_else(short)?;
            let filegroup = r.str().ok_or_else(short)?;
            let logical_name = r.str().ok_or_else(short)?;
            let file_name = r.str().ok_or_else(short)?;
            files.push(FileEntry {
                file_id,
                filegroup_id,
                filegroup,
                logical_name,
                physical_name: file_name.clone(),
                file_name,
                read_only,
                pages_in_set,
            });
        }
        let g = |x: Option<Guid>| x.map(|g| g.0).unwrap_or_default();
        let fork = chunk_guid(data, 0x9C);
        let first_fork = chunk_guid(data, 0xE0);
        Ok(SetHeader {
            kind,
            database: scin.database_name.clone().unwrap_or_default(),
            db_guid,
            set_guid,
            server: scin.server_name.clone().unwrap_or_default(),
            model,
            first_lsn: v[0],
            last_lsn: v[1],
            checkpoint_lsn: v[2],
            base_lsn: v[3],
            base_guid: g(scin.database_backup_set_guid),
            fork_guid: fork,
            fork_point_lsn: v[4],
            first_fork_guid: first_fork,
            start_ms: v[5],
            finish_ms: v[6],
            expires_ms: v[7],
            created_ms: v[8],
            flags,
            backup_size: scin.backup_size.unwrap_or(0),
            user,
            files,
            log_physical_name: crate::engine::db::LOG_FILE.into(),
            format_version,
        })
    }
}

/// A GUID at an offset of the SCIN chunk (the fork GUIDs, which the decoder leaves alone).
fn chunk_guid(data: &[u8], off: usize) -> [u8; 16] {
    data.get(off..off + 16)
        .and_then(|b| b.try_into().ok())
        .unwrap_or_default()
}

struct Rd<'a> {
    b: &'a [u8],
    at: usize,
}

impl Rd<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let s = self.b.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.take(2)?.try_into().ok()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn guid(&mut self) -> Option<[u8; 16]> {
        self.take(16)?.try_into().ok()
    }
    fn str(&mut self) -> Option<String> {
        let n = self.u16()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
}

/// The history record of a set written to a media set.
pub fn history_record(
    h: &SetHeader,
    media_set: &str,
    position: u32,
    paths: &[Vec<String>],
) -> history::BackupRecord {
    use history::{BackupKind, BackupRecord, FamilyRecord, MediumRecord, RecoveryModel};
    let kind = match h.kind {
        BackupType::Full => BackupKind::Full,
        BackupType::Differential => BackupKind::Differential,
        BackupType::Log => BackupKind::Log,
        BackupType::File => BackupKind::Other('F'),
    };
    let guid = |g: &[u8; 16]| history::normalize_guid(&Guid(*g).to_string());
    let mut r = BackupRecord::new(&h.database, kind, position, "refdb");
    r.backup_set_guid = guid(&h.set_guid);
    r.server = Some(h.server.clone());
    r.copy_only = Some(h.copy_only());
    r.first_lsn = Some(history_lsn(h.first_lsn));
    r.last_lsn = Some(history_lsn(h.last_lsn));
    r.checkpoint_lsn = Some(history_lsn(h.checkpoint_lsn));
    r.database_backup_lsn = (h.base_lsn != 0).then(|| history_lsn(h.base_lsn));
    if h.kind == BackupType::Differential {
        r.differential_base_lsn = Some(history_lsn(h.base_lsn));
        r.differential_base_guid = guid(&h.base_guid);
    }
    r.last_recovery_fork_guid = guid(&h.fork_guid);
    // A log starting where a piecemeal restore's fork began starts in the parent fork.
    if h.first_fork_guid != h.fork_guid && h.first_fork_guid != [0; 16] {
        r.first_recovery_fork_guid = guid(&h.first_fork_guid);
    }
    r.fork_point_lsn = (h.fork_point_lsn != 0).then(|| history_lsn(h.fork_point_lsn));
    r.start = history_time(h.start_ms);
    r.finish = history_time(h.finish_ms);
    r.utc_offset_minutes = Some(0);
    r.recovery_model = Some(match h.model {
        crate::engine::RecoveryModel::Full => RecoveryModel::Full,
        crate::engine::RecoveryModel::BulkLogged => RecoveryModel::BulkLogged,
        crate::engine::RecoveryModel::Simple => RecoveryModel::Simple,
    });
    r.damaged = h.flags & flags::DAMAGED != 0;
    r.media_set_guid = history::normalize_guid(media_set);
    r.family_count = Some(paths.len() as u16);
    r.backup_size = Some(h.backup_size);
    for (i, media) in paths.iter().enumerate() {
        r.families.push(FamilyRecord {
            family_number: i as u16 + 1,
            media: media
                .iter()
                .enumerate()
                .map(|(s, p)| MediumRecord {
                    media_sequence_number: s as u16 + 1,
                    path: p.clone(),
                    is_tape: true,
                })
                .collect(),
        });
    }
    r
}

/// Unix milliseconds as the history's date and time (UTC, in whole seconds as msdb keeps
/// them: the planner compares a target's second with a set's, so a commit in the second a log
/// backup finished counts as in that log).
pub fn history_time(ms: u64) -> Option<history::DateTime> {
    if ms == 0 {
        return None;
    }
    mtf::DateTime::from_unix((ms / 1000) as i64)
}
