//! Import of a CSV export of `msdb.dbo.backupset` joined with `msdb.dbo.backupmediafamily`,
//! with msdb's own column names, as an administrator produces it from a server's history:
//!
//! ```sql
//! SELECT bs.*, bmf.family_sequence_number, bmf.physical_device_name, bmf.device_type,
//!        bmf.mirror
//! FROM msdb.dbo.backupset bs
//! JOIN msdb.dbo.backupmediafamily bmf ON bmf.media_set_id = bs.media_set_id
//! ```
//!
//! One row per backup set, family and mirror; the rows of one set are merged into one record
//! (mirror 0 first). Column names are matched without case and without a table prefix
//! (`bs.database_name`); columns the planner does not need may be absent. `NULL` and empty
//! cells are unknown. A bad cell is an error naming the file, the line and the column.

use super::{
    normalize_guid, parse_datetime, BackupKind, BackupRecord, FamilyRecord, HistoryError, Lsn,
    MediumRecord, RecoveryModel,
};
use std::collections::HashMap;
use std::io::Read;

/// One backupmediafamily row of a set: family number, mirror, the medium.
type FamilyRow = (u16, u32, MediumRecord);

/// Reads the export from `input`; `name` is the file's name for messages.
pub fn read(input: impl Read, name: &str) -> Result<Vec<BackupRecord>, HistoryError> {
    let e = |line: u64, what: String| HistoryError(format!("{name}: line {line}: {what}"));
    let mut rdr = csv::ReaderBuilder::new().flexible(false).from_reader(input);
    let headers = rdr
        .headers()
        .map_err(|x| e(1, format!("read the header row: {x}")))?
        .clone();
    let mut cols: HashMap<String, usize> = HashMap::new();
    for (i, h) in headers.iter().enumerate() {
        let h = h.trim().trim_start_matches('\u{feff}');
        let h = h.rsplit('.').next().unwrap_or(h);
        // The first of duplicate names wins (`bs.media_set_id`, `bmf.media_set_id`).
        cols.entry(h.trim_matches(['[', ']', '"']).to_ascii_lowercase())
            .or_insert(i);
    }
    for need in ["database_name", "type"] {
        if !cols.contains_key(need) {
            return Err(e(
                1,
                format!("no column {need:?}: not an msdb backupset export"),
            ));
        }
    }
    let mut order: Vec<String> = Vec::new();
    let mut by_set: HashMap<String, (BackupRecord, Vec<FamilyRow>)> = HashMap::new();
    for row in rdr.records() {
        let row = row.map_err(|x| {
            let line = x.position().map(|p| p.line()).unwrap_or(0);
            e(line, x.to_string())
        })?;
        let line = row.position().map(|p| p.line()).unwrap_or(0);
        let cell = |c: &str| -> Option<&str> {
            let v = row.get(*cols.get(c)?)?.trim();
            (!v.is_empty() && !v.eq_ignore_ascii_case("null")).then_some(v)
        };
        let bad = |c: &str, v: &str| e(line, format!("column {c}: {v:?} is not valid"));
        let lsn = |c: &str| -> Result<Option<Lsn>, HistoryError> {
            match cell(c) {
                None => Ok(None),
                Some(v) => {
                    let digits = v.split_once('.').map_or(v, |(a, frac)| {
                        if frac.bytes().all(|b| b == b'0') {
                            a
                        } else {
                            v
                        }
                    });
                    Lsn::parse(digits).map(Some).ok_or_else(|| bad(c, v))
                }
            }
        };
        let int = |c: &str| -> Result<Option<i64>, HistoryError> {
            cell(c)
                .map(|v| v.parse::<i64>().map_err(|_| bad(c, v)))
                .transpose()
        };
        let flag = |c: &str| -> Result<Option<bool>, HistoryError> {
            cell(c)
                .map(|v| match v.to_ascii_lowercase().as_str() {
                    "1" | "true" | "yes" => Ok(true),
                    "0" | "false" | "no" => Ok(false),
                    _ => Err(bad(c, v)),
                })
                .transpose()
        };
        let date = |c: &str| -> Result<Option<super::DateTime>, HistoryError> {
            cell(c)
                .map(|v| parse_datetime(v).ok_or_else(|| bad(c, v)))
                .transpose()
        };
        let database = cell("database_name").ok_or_else(|| e(line, "no database_name".into()))?;
        let kind = cell("type")
            .and_then(|t| t.chars().next())
            .map(BackupKind::from_letter)
            .ok_or_else(|| e(line, "no type".into()))?;
        let position = int("position")?.unwrap_or(1);
        let position =
            u32::try_from(position).map_err(|_| bad("position", &position.to_string()))?;
        let server = cell("server_name").map(str::to_string);
        let guid = cell("backup_set_uuid").and_then(normalize_guid);
        let key = match (&guid, cell("backup_set_id")) {
            (Some(g), _) => g.clone(),
            (None, Some(id)) => format!("id:{}:{id}", server.as_deref().unwrap_or("")),
            (None, None) => format!("line:{line}"),
        };
        let mirror = int("mirror")?.unwrap_or(0);
        let family = int("family_sequence_number")?.unwrap_or(1);
        let family = u16::try_from(family)
            .map_err(|_| bad("family_sequence_number", &family.to_string()))?;
        let device_type = int("device_type")?;
        let medium = cell("physical_device_name").map(|p| MediumRecord {
            media_sequence_number: 1,
            path: p.to_string(),
            is_tape: matches!(device_type, Some(5) | Some(105)),
        });
        if !by_set.contains_key(&key) {
            let mut r = BackupRecord::new(database, kind, position, "msdb-csv");
            r.backup_set_guid = guid.clone();
            r.server = server.clone();
            r.copy_only = flag("is_copy_only")?;
            r.first_lsn = lsn("first_lsn")?;
            r.last_lsn = lsn("last_lsn")?;
            r.checkpoint_lsn = lsn("checkpoint_lsn")?;
            r.database_backup_lsn = lsn("database_backup_lsn")?;
            r.differential_base_lsn = lsn("differential_base_lsn")?;
            r.differential_base_guid = cell("differential_base_guid").and_then(normalize_guid);
            r.first_recovery_fork_guid = cell("first_recovery_fork_guid").and_then(normalize_guid);
            r.last_recovery_fork_guid = cell("last_recovery_fork_guid").and_then(normalize_guid);
            r.fork_point_lsn = lsn("fork_point_lsn")?;
            r.start = date("backup_start_date")?;
            r.finish = date("backup_finish_date")?;
            r.utc_offset_minutes = match int("time_zone")? {
                Some(127) | None => None,
                Some(tz) => Some(tz as i32 * 15),
            };
            r.recovery_model = match cell("recovery_model") {
                None => None,
                Some(v) => Some(RecoveryModel::parse(v).ok_or_else(|| bad("recovery_model", v))?),
            };
            r.damaged = flag("is_damaged")?.unwrap_or(false);
            r.incomplete = flag("has_incomplete_metadata")?.unwrap_or(false);
            r.backup_size = int("backup_size")?.map(|s| s.max(0) as u64);
            order.push(key.clone());
            by_set.insert(key.clone(), (r, Vec::new()));
        }
        let (r, found) = by_set.get_mut(&key).expect("inserted above");
        if let Some(m) = medium {
            found.push((family, u32::try_from(mirror).unwrap_or(u32::MAX), m));
        }
        if let Some(n) = int("media_family_count")? {
            r.family_count = u16::try_from(n).ok();
        }
    }
    let mut out = Vec::with_capacity(order.len());
    for k in order {
        let Some((mut r, mut found)) = by_set.remove(&k) else {
            continue;
        };
        // Each family's path from its lowest mirror (mirror 0 when it is there).
        found.sort_by_key(|(fam, mirror, _)| (*fam, *mirror));
        for (fam, _, m) in found {
            if !r.families.iter().any(|f| f.family_number == fam) {
                r.families.push(FamilyRecord {
                    family_number: fam,
                    media: vec![m],
                });
            }
        }
        // Without backupmediaset's media_family_count, the highest family number seen.
        let highest = r.families.iter().map(|f| f.family_number).max();
        r.family_count = r.family_count.or(highest);
        out.push(r);
    }
    Ok(out)
}
