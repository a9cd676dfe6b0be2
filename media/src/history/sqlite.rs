//! The embedded backup history: one SQLite file (through `rusqlite`, SQLite bundled), tables
//! named and shaped after msdb's (`media_set`, `medium` ≈ `backupmediafamily`, `backup_set`,
//! with `backup_medium` saying which media hold which set).
//!
//! Every write is one transaction: a failed import leaves the history as it was. The schema
//! carries a version (`PRAGMA user_version`); a file of a newer version, or a file that is not
//! a history, is refused, never altered.

use super::{
    normalize_guid, parse_datetime, BackupHistory, BackupKind, BackupRecord, FamilyRecord,
    HistoryError, Lsn, MediumRecord, Recorded, RecoveryModel,
};
use rusqlite::{params, Connection, OptionalExtension, ToSql, Transaction};
use std::path::{Path, PathBuf};

const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE media_set (
    media_set_id INTEGER PRIMARY KEY,
    -- the media set GUID, or a stand-in key when the source has none
    media_uuid TEXT NOT NULL UNIQUE,
    media_family_count INTEGER
);
CREATE TABLE medium (
    medium_id INTEGER PRIMARY KEY,
    media_set_id INTEGER NOT NULL REFERENCES media_set(media_set_id),
    family_sequence_number INTEGER NOT NULL,
    media_sequence_number INTEGER NOT NULL,
    physical_device_name TEXT NOT NULL,
    is_tape INTEGER NOT NULL,
    UNIQUE (media_set_id, family_sequence_number, media_sequence_number, physical_device_name)
);
CREATE TABLE backup_set (
    backup_set_id INTEGER PRIMARY KEY,
    backup_set_uuid TEXT,
    media_set_id INTEGER NOT NULL REFERENCES media_set(media_set_id),
    position INTEGER NOT NULL,
    database_name TEXT NOT NULL,
    server_name TEXT,
    type TEXT NOT NULL,
    is_copy_only INTEGER,
    -- LSNs as 25-digit zero-padded text: text order is numeric order
    first_lsn TEXT,
    last_lsn TEXT,
    checkpoint_lsn TEXT,
    database_backup_lsn TEXT,
    differential_base_lsn TEXT,
    differential_base_guid TEXT,
    first_recovery_fork_guid TEXT,
    last_recovery_fork_guid TEXT,
    fork_point_lsn TEXT,
    -- server local time, YYYY-MM-DDTHH:MM:SS
    backup_start_date TEXT,
    backup_finish_date TEXT,
    utc_offset_minutes INTEGER,
    recovery_model TEXT,
    is_damaged INTEGER NOT NULL,
    is_incomplete INTEGER NOT NULL,
    backup_size INTEGER,
    source TEXT NOT NULL,
    UNIQUE (media_set_id, position)
);
CREATE TABLE backup_medium (
    backup_set_id INTEGER NOT NULL REFERENCES backup_set(backup_set_id),
    medium_id INTEGER NOT NULL REFERENCES medium(medium_id),
    PRIMARY KEY (backup_set_id, medium_id)
);
CREATE INDEX backup_set_database ON backup_set (database_name COLLATE NOCASE, last_lsn);
CREATE INDEX backup_set_uuid ON backup_set (backup_set_uuid);
";

/// The SQLite backup history.
pub struct SqliteHistory {
    conn: Connection,
    path: PathBuf,
}

fn err(path: &Path, op: &str, e: impl std::fmt::Display) -> HistoryError {
    HistoryError(format!("{}: {op}: {e}", path.display()))
}

impl SqliteHistory {
    /// Opens the history at `path`, creating it (and its schema) if the file does not exist.
    /// A symbolic link is refused: the history is never written through a link.
    pub fn open(path: &Path) -> Result<SqliteHistory, HistoryError> {
        use rusqlite::OpenFlags;
        if path
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink())
        {
            return Err(err(
                path,
                "open history",
                "a symbolic link; refused (give the file it points to)",
            ));
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_NOFOLLOW;
        let conn =
            Connection::open_with_flags(path, flags).map_err(|e| err(path, "open history", e))?;
        Self::init(conn, path)
    }

    /// A history in memory (tests, one-off plans).
    pub fn in_memory() -> Result<SqliteHistory, HistoryError> {
        let p = Path::new(":memory:");
        let conn = Connection::open_in_memory().map_err(|e| err(p, "open history", e))?;
        Self::init(conn, p)
    }

    fn init(conn: Connection, path: &Path) -> Result<SqliteHistory, HistoryError> {
        // Version and tables read in one statement (one read transaction): another process
        // may create the schema between two reads.
        let state = |conn: &Connection| -> Result<(i64, i64), HistoryError> {
            conn.query_row(
                "SELECT (SELECT user_version FROM pragma_user_version), \
                        (SELECT count(*) FROM sqlite_master)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(|e| err(path, "read the history (not an SQLite database?)", e))
        };
        let (mut version, mut tables) = state(&conn)?;
        if (version, tables) == (0, 0) {
            // A new file: create the schema under the write lock, and look again once it is
            // held. Another process opening the same new file at the same time may have made
            // the schema meanwhile; it is then used, not made twice.
            conn.execute_batch("BEGIN IMMEDIATE;")
                .map_err(|e| err(path, "create the history's tables", e))?;
            (version, tables) = state(&conn)?;
            let made = if (version, tables) == (0, 0) {
                conn.execute_batch(&format!(
                    "{SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
                ))
            } else {
                conn.execute_batch("COMMIT;")
            };
            if let Err(e) = made {
                let _ = conn.execute_batch("ROLLBACK;");
                return Err(err(path, "create the history's tables", e));
            }
            version = state(&conn)?.0;
        }
        match version {
            SCHEMA_VERSION => {}
            0 => {
                return Err(err(
                    path,
                    "open history",
                    "an SQLite database that is not a backup history; refused, left as it was",
                ))
            }
            v => {
                return Err(err(
                    path,
                    "open history",
                    format!(
                        "schema version {v}, this program knows {SCHEMA_VERSION}; left as it was"
                    ),
                ))
            }
        }
        conn.execute_batch("PRAGMA foreign_keys = ON;")
            .map_err(|e| err(path, "open history", e))?;
        Ok(SqliteHistory {
            conn,
            path: path.to_path_buf(),
        })
    }

    fn e(&self, op: &str, e: impl std::fmt::Display) -> HistoryError {
        err(&self.path, op, e)
    }
}

/// The key of a set's media set: its GUID, else a stand-in that keeps unrelated sets apart.
fn media_key(r: &BackupRecord) -> String {
    if let Some(g) = &r.media_set_guid {
        return g.clone();
    }
    match (&r.backup_set_guid, r.paths().first()) {
        (Some(g), _) => format!("set:{g}"),
        (None, Some(p)) => format!("path:{p}"),
        (None, None) => format!("record:{}:{}", r.database, r.position),
    }
}

fn lsn(l: &Option<Lsn>) -> Option<String> {
    l.map(|l| l.padded())
}

/// The backup_set columns a second record of the same set merges into the first, and how:
/// `coalesce` keeps a known value and fills an unknown one, `max`/`min` keep a damaged mark and
/// let a complete copy clear the incomplete one.
const MERGED: [(&str, &str); 19] = [
    ("backup_set_uuid", "coalesce"),
    ("server_name", "coalesce"),
    ("is_copy_only", "coalesce"),
    ("first_lsn", "coalesce"),
    ("last_lsn", "coalesce"),
    ("checkpoint_lsn", "coalesce"),
    ("database_backup_lsn", "coalesce"),
    ("differential_base_lsn", "coalesce"),
    ("differential_base_guid", "coalesce"),
    ("first_recovery_fork_guid", "coalesce"),
    ("last_recovery_fork_guid", "coalesce"),
    ("fork_point_lsn", "coalesce"),
    ("backup_start_date", "coalesce"),
    ("backup_finish_date", "coalesce"),
    ("utc_offset_minutes", "coalesce"),
    ("recovery_model", "coalesce"),
    ("is_damaged", "max"),
    ("is_incomplete", "min"),
    ("backup_size", "coalesce"),
];

/// The values of [`MERGED`]'s columns, in its order.
fn merged_values(r: &BackupRecord) -> Vec<Box<dyn ToSql>> {
    vec![
        Box::new(r.backup_set_guid.clone()),
        Box::new(r.server.clone()),
        Box::new(r.copy_only),
        Box::new(lsn(&r.first_lsn)),
        Box::new(lsn(&r.last_lsn)),
        Box::new(lsn(&r.checkpoint_lsn)),
        Box::new(lsn(&r.database_backup_lsn)),
        Box::new(lsn(&r.differential_base_lsn)),
        Box::new(r.differential_base_guid.clone()),
        Box::new(r.first_recovery_fork_guid.clone()),
        Box::new(r.last_recovery_fork_guid.clone()),
        Box::new(lsn(&r.fork_point_lsn)),
        Box::new(r.start.as_ref().map(super::iso)),
        Box::new(r.finish.as_ref().map(super::iso)),
        Box::new(r.utc_offset_minutes),
        Box::new(r.recovery_model.map(|m| m.name())),
        Box::new(r.damaged),
        Box::new(r.incomplete),
        Box::new(r.backup_size.and_then(|s| i64::try_from(s).ok())),
    ]
}

fn record_in(tx: &Transaction<'_>, r: &BackupRecord) -> rusqlite::Result<Recorded> {
    let key = media_key(r);
    tx.execute(
        "INSERT INTO media_set (media_uuid, media_family_count) VALUES (?1, ?2)
         ON CONFLICT (media_uuid) DO UPDATE
         SET media_family_count = coalesce(media_family_count, excluded.media_family_count)",
        params![key, r.family_count],
    )?;
    let ms: i64 = tx.query_row(
        "SELECT media_set_id FROM media_set WHERE media_uuid = ?1",
        [&key],
        |x| x.get(0),
    )?;
    let existing: Option<i64> = tx
        .query_row(
            "SELECT backup_set_id FROM backup_set WHERE media_set_id = ?1 AND position = ?2",
            params![ms, r.position],
            |x| x.get(0),
        )
        .optional()?;
    let mut values = merged_values(r);
    let (id, outcome) = match existing {
        None => {
            let names: Vec<&str> = MERGED.iter().map(|(c, _)| *c).collect();
            let marks: Vec<String> = (1..=MERGED.len() + 5).map(|i| format!("?{i}")).collect();
            values.push(Box::new(ms));
            values.push(Box::new(r.position));
            values.push(Box::new(r.database.clone()));
            values.push(Box::new(r.kind.letter().to_string()));
            values.push(Box::new(r.source.clone()));
            tx.execute(
                &format!(
                    "INSERT INTO backup_set ({}, media_set_id, position, database_name, type, \
                     source) VALUES ({})",
                    names.join(", "),
                    marks.join(", ")
                ),
                rusqlite::params_from_iter(values.iter()),
            )?;
            (tx.last_insert_rowid(), Recorded::New)
        }
        Some(id) => {
            // Damage found reading media is the copy's: a damaged copy adds nothing to an
            // intact one read from media, and a whole copy replaces a damaged one (its marks
            // and places; the damaged copy's places are not offered again).
            let (source, damaged, incomplete): (String, bool, bool) = tx.query_row(
                "SELECT source, is_damaged, is_incomplete FROM backup_set
                 WHERE backup_set_id = ?1",
                [id],
                |x| Ok((x.get(0)?, x.get(1)?, x.get(2)?)),
            )?;
            if source == "media" {
                if r.is_bad_media_copy() && !damaged && !incomplete {
                    return Ok(Recorded::Updated);
                }
                if r.is_whole_media_copy() && (damaged || incomplete) {
                    tx.execute(
                        "UPDATE backup_set SET is_damaged = 0, is_incomplete = 0
                         WHERE backup_set_id = ?1",
                        [id],
                    )?;
                    tx.execute("DELETE FROM backup_medium WHERE backup_set_id = ?1", [id])?;
                }
            }
            // What one source knows fills what another left unknown; a damaged mark stays, a
            // complete copy clears the incomplete mark.
            let sets: Vec<String> = MERGED
                .iter()
                .enumerate()
                .map(|(i, (c, how))| format!("{c} = {how}({c}, ?{})", i + 1))
                .collect();
            values.push(Box::new(id));
            tx.execute(
                &format!(
                    "UPDATE backup_set SET {} WHERE backup_set_id = ?{}",
                    sets.join(", "),
                    MERGED.len() + 1
                ),
                rusqlite::params_from_iter(values.iter()),
            )?;
            (id, Recorded::Updated)
        }
    };
    for f in &r.families {
        // The places of one medium are read back newest row first: the preferred place (the
        // first given) is inserted last.
        for m in f.media.iter().rev() {
            tx.execute(
                "INSERT INTO medium (media_set_id, family_sequence_number, media_sequence_number,
                 physical_device_name, is_tape) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT DO NOTHING",
                params![
                    ms,
                    f.family_number,
                    m.media_sequence_number,
                    m.path,
                    m.is_tape
                ],
            )?;
            let mid: i64 = tx.query_row(
                "SELECT medium_id FROM medium WHERE media_set_id = ?1
                 AND family_sequence_number = ?2 AND media_sequence_number = ?3
                 AND physical_device_name = ?4",
                params![ms, f.family_number, m.media_sequence_number, m.path],
                |x| x.get(0),
            )?;
            tx.execute(
                "INSERT INTO backup_medium (backup_set_id, medium_id) VALUES (?1, ?2)
                 ON CONFLICT DO NOTHING",
                params![id, mid],
            )?;
        }
    }
    Ok(outcome)
}

fn parse_lsn(s: Option<String>) -> Option<Lsn> {
    s.as_deref().and_then(Lsn::parse)
}

impl BackupHistory for SqliteHistory {
    fn record(&mut self, rec: &BackupRecord) -> Result<Recorded, HistoryError> {
        Ok(self.record_all(std::slice::from_ref(rec))?[0])
    }

    fn record_all(&mut self, recs: &[BackupRecord]) -> Result<Vec<Recorded>, HistoryError> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction()
            .map_err(|e| err(&path, "record backups", e))?;
        let mut out = Vec::with_capacity(recs.len());
        for r in recs {
            out.push(record_in(&tx, r).map_err(|e| {
                err(
                    &path,
                    &format!(
                        "record {} set {} of {}",
                        r.kind.word(),
                        r.position,
                        r.label()
                    ),
                    e,
                )
            })?);
        }
        tx.commit().map_err(|e| err(&path, "record backups", e))?;
        Ok(out)
    }

    fn backups(&self, database: Option<&str>) -> Result<Vec<BackupRecord>, HistoryError> {
        let op = "read backups";
        let mut stmt = self
            .conn
            .prepare(
                "SELECT b.backup_set_id, b.backup_set_uuid, b.position, b.database_name,
                 b.server_name, b.type, b.is_copy_only, b.first_lsn, b.last_lsn,
                 b.checkpoint_lsn, b.database_backup_lsn, b.differential_base_lsn,
                 b.differential_base_guid, b.first_recovery_fork_guid,
                 b.last_recovery_fork_guid, b.fork_point_lsn, b.backup_start_date,
                 b.backup_finish_date, b.utc_offset_minutes, b.recovery_model, b.is_damaged,
                 b.is_incomplete, b.backup_size, b.source, s.media_uuid, s.media_family_count
                 FROM backup_set b JOIN media_set s ON s.media_set_id = b.media_set_id
                 WHERE ?1 IS NULL OR b.database_name = ?1 COLLATE NOCASE
                 ORDER BY b.last_lsn, b.backup_start_date, b.backup_set_id",
            )
            .map_err(|e| self.e(op, e))?;
        let rows = stmt
            .query_map([database], |x| {
                let kind: String = x.get(5)?;
                let mut r = BackupRecord::new(
                    &x.get::<_, String>(3)?,
                    BackupKind::from_letter(kind.chars().next().unwrap_or('?')),
                    x.get(2)?,
                    &x.get::<_, String>(23)?,
                );
                r.backup_set_guid = x.get(1)?;
                r.server = x.get(4)?;
                r.copy_only = x.get(6)?;
                r.first_lsn = parse_lsn(x.get(7)?);
                r.last_lsn = parse_lsn(x.get(8)?);
                r.checkpoint_lsn = parse_lsn(x.get(9)?);
                r.database_backup_lsn = parse_lsn(x.get(10)?);
                r.differential_base_lsn = parse_lsn(x.get(11)?);
                r.differential_base_guid = x.get(12)?;
                r.first_recovery_fork_guid = x.get(13)?;
                r.last_recovery_fork_guid = x.get(14)?;
                r.fork_point_lsn = parse_lsn(x.get(15)?);
                r.start = x
                    .get::<_, Option<String>>(16)?
                    .as_deref()
                    .and_then(parse_datetime);
                r.finish = x
                    .get::<_, Option<String>>(17)?
                    .as_deref()
                    .and_then(parse_datetime);
                r.utc_offset_minutes = x.get(18)?;
                r.recovery_model = x
                    .get::<_, Option<String>>(19)?
                    .as_deref()
                    .and_then(RecoveryModel::parse);
                r.damaged = x.get(20)?;
                r.incomplete = x.get(21)?;
                r.backup_size = x.get::<_, Option<i64>>(22)?.map(|s| s as u64);
                let key: String = x.get(24)?;
                r.media_set_guid = normalize_guid(&key).filter(|_| !key.contains(':'));
                r.family_count = x.get(25)?;
                Ok((x.get::<_, i64>(0)?, r))
            })
            .map_err(|e| self.e(op, e))?;
        let mut out = Vec::new();
        let mut media = self
            .conn
            .prepare(
                "SELECT m.family_sequence_number, m.media_sequence_number,
                 m.physical_device_name, m.is_tape
                 FROM backup_medium bm JOIN medium m ON m.medium_id = bm.medium_id
                 WHERE bm.backup_set_id = ?1
                 ORDER BY m.family_sequence_number, m.media_sequence_number, m.medium_id DESC",
            )
            .map_err(|e| self.e(op, e))?;
        for row in rows {
            let (id, mut r) = row.map_err(|e| self.e(op, e))?;
            let ms = media
                .query_map([id], |x| {
                    Ok((
                        x.get::<_, u16>(0)?,
                        MediumRecord {
                            media_sequence_number: x.get(1)?,
                            path: x.get(2)?,
                            is_tape: x.get(3)?,
                        },
                    ))
                })
                .map_err(|e| self.e(op, e))?;
            for m in ms {
                let (fam, med) = m.map_err(|e| self.e(op, e))?;
                match r.families.iter_mut().find(|f| f.family_number == fam) {
                    Some(f) => f.media.push(med),
                    None => r.families.push(FamilyRecord {
                        family_number: fam,
                        media: vec![med],
                    }),
                }
            }
            out.push(r);
        }
        Ok(out)
    }

    fn set_damaged(&mut self, backup_set_guid: &str, damaged: bool) -> Result<usize, HistoryError> {
        let g = normalize_guid(backup_set_guid).unwrap_or_default();
        self.conn
            .execute(
                "UPDATE backup_set SET is_damaged = ?1 WHERE backup_set_uuid = ?2",
                params![damaged, g],
            )
            .map_err(|e| self.e("mark damaged", e))
    }
}
