//! History records from media: the SQL Server backup sets that media listings hold, with their
//! families, media and positions. The listings come from `mtf::reader::list_sets`, which reads
//! the set map at the medium's last set (no data scan); the media are grouped into media sets
//! by their RAID identity and the sets matched across families and continuation media.
//!
//! What the headers carry (see `mtf/docs/sqlserver-evidence.md`): database, backup type,
//! first/last/checkpoint/database-backup LSNs, differential base LSN and GUID, start and finish
//! (local time) and the SSET time zone, the BackupSetGUID, the media set GUID and family count.
//! They do not carry, in any confirmed field: copy-only, the recovery model, the
//! CONTINUE_AFTER_ERROR damaged flag. Those stay unknown (`None`), and a set read with damage is
//! marked damaged.
//!
//! Recovery forks: SCIN+0x9C is the fork the database was in when the set was taken
//! (RecoveryForkID, msdb `last_recovery_fork_guid`), SCIN+0xAC the LSN where that fork began
//! (ForkPointLSN, zero for a database never restored to a point). The evidence doc marks them
//! *likely*; the samples bear it out: the 2016 RestoreTimeClean backups carry fork point
//! 25:153:1, the last LSN of the 2008 R2 chain's first log, and the 2008 R2 chain's fork GUID at
//! 0xB8 and 0xE0, while the whole 2008 R2 chain has one fork and no fork point. SCIN+0xB8 then
//! looks like the parent fork and 0xE0 the database's first fork ever (they differ in the 2017
//! sample), not the fork a log backup *starts* in: msdb's `first_recovery_fork_guid` is not in
//! the headers and is recorded as unknown (NULL).

use super::{normalize_guid, BackupKind, BackupRecord, FamilyRecord, Lsn, MediumRecord};
use crate::set::group::{group_media, merge_sets, MediumIdentity};
use mtf::reader::{Listing, SetEntry};
use mtf::spec::{BlockType, StreamId};
use mtf::sqlserver::{mqci, BackupType, SqlSetInfo};
use mtf::stream::sqlserver::Guid;

/// A medium that was listed.
pub struct ListedMedium<'a> {
    /// The path as given or found.
    pub path: String,
    pub is_tape: bool,
    pub listing: &'a Listing,
}

/// What the media held that is not a SQL Server backup set, or could not be read as one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    pub file: String,
    pub position: usize,
    pub reason: String,
}

/// The fork fields the MQCI's SCIN chunk holds (likely; see the module notes).
fn forks(set: &SetEntry) -> (Option<String>, Option<Lsn>) {
    for t in [BlockType::MSLS, BlockType::MSCI] {
        let Some(data) = set.block(t).and_then(|b| b.stream_data(StreamId::MQCI)) else {
            continue;
        };
        let Ok(chunks) = mqci::chunks(data) else {
            continue;
        };
        let Some(scin) = chunks.iter().find(|c| &c.tag == b"SCIN") else {
            continue;
        };
        let b = scin.bytes;
        let guid = |o: usize| {
            b.get(o..o + 16)
                .and_then(|x| <[u8; 16]>::try_from(x).ok())
                .and_then(|x| normalize_guid(&Guid(x).to_string()))
        };
        let lsn = b.get(0xAC..0xAC + 10).map(|x| {
            let l = mtf::sqlserver::Lsn {
                vlf: u32::from_le_bytes([x[0], x[1], x[2], x[3]]),
                block: u32::from_le_bytes([x[4], x[5], x[6], x[7]]),
                slot: u16::from_le_bytes([x[8], x[9]]),
            };
            Lsn::from(l)
        });
        return (guid(0x9C), lsn.filter(|l| l.0 != 0));
    }
    (None, None)
}

fn date(d: Option<mtf::MtfDateTime>) -> Option<super::DateTime> {
    d.and_then(|d| d.to_datetime())
}

/// The records of every SQL Server set on the media, and what was skipped.
pub fn records(given: &[ListedMedium<'_>]) -> (Vec<BackupRecord>, Vec<Skipped>) {
    let (media, ids) = best_copies(given);
    let listings: Vec<&Listing> = media.iter().map(|m| m.listing).collect();
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for g in group_media(&ids) {
        for m in merge_sets(&g, &listings) {
            // The details come from the chosen copy of the first part.
            let parts = &m.parts;
            let first = &parts[0];
            let set = &listings[first.medium].sets[first.set];
            let file = media[first.medium].path.clone();
            if !SqlSetInfo::has_details(set) {
                skipped.push(Skipped {
                    file,
                    position: m.position,
                    reason: "not a SQL Server backup set".into(),
                });
                continue;
            }
            let info = SqlSetInfo::from_set(set);
            let Some(scin) = info.scin() else {
                skipped.push(Skipped {
                    file,
                    position: m.position,
                    reason: format!(
                        "SQL Server set without readable details{}",
                        info.mqci_error
                            .as_ref()
                            .map(|e| format!(": {e}"))
                            .unwrap_or_default()
                    ),
                });
                continue;
            };
            let kind = match scin.backup_type {
                Some(BackupType::Database) => BackupKind::Full,
                Some(BackupType::Differential) => BackupKind::Differential,
                Some(BackupType::Log) => BackupKind::Log,
                Some(BackupType::Other(b)) => BackupKind::Other(b as char),
                None => BackupKind::Other('?'),
            };
            let database = scin.database_name.clone().unwrap_or_default();
            let mut r = BackupRecord::new(&database, kind, m.position as u32, "media");
            r.backup_set_guid = info
                .backup_set_guid
                .and_then(|g| normalize_guid(&g.to_string()));
            r.server = scin.server_name.clone();
            let lsn = |l: Option<mtf::sqlserver::Lsn>| l.filter(|l| !l.is_zero()).map(Lsn::from);
            r.first_lsn = lsn(scin.first_lsn);
            r.last_lsn = lsn(scin.last_lsn);
            r.checkpoint_lsn = lsn(scin.checkpoint_lsn);
            r.database_backup_lsn = lsn(scin.database_backup_lsn);
            r.differential_base_lsn = lsn(scin.differential_base_lsn);
            r.differential_base_guid = scin
                .differential_base_guid
                .and_then(|g| normalize_guid(&g.to_string()));
            let (fork, fork_point) = forks(set);
            r.last_recovery_fork_guid = fork;
            r.fork_point_lsn = fork_point;
            r.start = date(scin.backup_start).or_else(|| date(Some(set.sset().media_write_date)));
            r.finish = date(scin.backup_finish);
            r.utc_offset_minutes = match set.sset().time_zone {
                127 => None,
                tz => Some(tz as i32 * 15),
            };
            r.backup_size = scin.backup_size;
            r.media_set_guid = g.media_set_id.and_then(|x| normalize_guid(&x.to_string()));
            r.family_count = g.family_count;
            // Damage inside the set, or details only from the copy written before the data.
            r.damaged = parts
                .iter()
                .any(|p| !listings[p.medium].sets[p.set].damage.is_empty());
            r.incomplete = m.continues_on_missing_medium
                || info.mqci_source == Some(mtf::sqlserver::MqciSource::Msci)
                || parts.iter().any(|p| {
                    !listings[p.medium].sets[p.set].is_complete() && !p_continues(&listings, p)
                });
            for p in parts {
                let med = MediumRecord {
                    media_sequence_number: p.media_sequence_number,
                    path: media[p.medium].path.clone(),
                    is_tape: media[p.medium].is_tape,
                };
                match r
                    .families
                    .iter_mut()
                    .find(|f| f.family_number == p.family_number)
                {
                    Some(f) => f.media.push(med),
                    None => r.families.push(FamilyRecord {
                        family_number: p.family_number,
                        media: vec![med],
                    }),
                }
            }
            for f in &mut r.families {
                f.media.sort_by_key(|x| x.media_sequence_number);
                f.media.dedup_by_key(|x| x.media_sequence_number);
            }
            r.families.sort_by_key(|f| f.family_number);
            out.push(r);
        }
    }
    (out, skipped)
}

/// A part that goes on to the next medium is finished there, not here.
/// Copies of one medium (the same file on a share and on its mirror, an interrupted copy next
/// to the original) are one medium to the planner, read from the wholest copy: fewest damaged
/// ranges, then fewest sets cut short, then the first given. `group_media` reads the first of
/// two copies, which is right for extraction (the user named both and is told), but would let a
/// damaged copy hide an intact one here.
fn best_copies<'a>(given: &[ListedMedium<'a>]) -> (Vec<ListedMedium<'a>>, Vec<MediumIdentity>) {
    let flaws = |m: &ListedMedium<'_>| {
        let l = m.listing;
        let damage = l.damage.len() + l.sets.iter().map(|s| s.damage.len()).sum::<usize>();
        let cut = l
            .sets
            .iter()
            .filter(|s| !s.is_complete() && !s.continues)
            .count();
        (damage, cut)
    };
    let mut media: Vec<ListedMedium<'a>> = Vec::new();
    let mut ids: Vec<MediumIdentity> = Vec::new();
    for m in given {
        let id = MediumIdentity::from_header(&m.listing.header);
        let copy = ListedMedium {
            path: m.path.clone(),
            is_tape: m.is_tape,
            listing: m.listing,
        };
        match ids.iter().position(|x| *x == id) {
            Some(i) if flaws(m) < flaws(&media[i]) => media[i] = copy,
            Some(_) => {}
            None => {
                ids.push(id);
                media.push(copy);
            }
        }
    }
    (media, ids)
}

fn p_continues(listings: &[&Listing], p: &crate::set::group::SetPart) -> bool {
    listings[p.medium].sets[p.set].continues
}
