//! `mtfdump history`: the backup history (an SQLite file, like msdb) fed from media and from
//! msdb CSV exports, and listed.
//!
//! - `history import PATH… --history DB`: files, folders (walked recursively; files that do not
//!   start with an MTF TAPE block are passed over), `.tap` images and tape devices; a `.csv` file
//!   is read as an msdb export. Importing is idempotent, so the history can be rebuilt from the
//!   media at any time (delete the file, import again).
//! - `history list --history DB [--database NAME]`.
//!
//! Every medium is listed from its catalog (the set map at its last set) without reading the
//! data; one that cannot be read is reported by name and the others are still imported.

use super::{display_name, is_tape, open_source, write_json, DumpError, DumpResult, Outcome};
use media::history::from_media::{self, ListedMedium};
use media::history::sqlite::SqliteHistory;
use media::history::{iso, msdb_csv, BackupHistory, BackupRecord, Recorded};
use mtf::reader::{list_sets, Listing, Mode, Reader};
use serde::Serialize;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// What was found under the paths given.
#[derive(Debug, Default)]
pub struct Found {
    /// Media to list: files that start like MTF, tape images and devices, and every file named
    /// directly.
    pub media: Vec<PathBuf>,
    /// msdb CSV exports.
    pub csv: Vec<PathBuf>,
    /// Files passed over in folders (not MTF), and why.
    pub passed_over: Vec<(PathBuf, String)>,
}

fn starts_with_tape_block(path: &Path) -> std::io::Result<Option<[u8; 8]>> {
    let mut head = [0u8; 8];
    let mut f = std::fs::File::open(path)?;
    let mut got = 0;
    while got < head.len() {
        match f.read(&mut head[got..])? {
            0 => return Ok(None),
            n => got += n,
        }
    }
    Ok(Some(head))
}

fn is_csv(p: &Path) -> bool {
    p.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"))
}

/// Expands the paths given: folders recursively (in name order), files as they are.
pub fn find(paths: &[PathBuf]) -> DumpResult<Found> {
    let mut found = Found::default();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| DumpError(format!("{}: {e}", p.display())))?;
        if !meta.is_dir() {
            if is_csv(p) {
                found.csv.push(p.clone());
            } else {
                found.media.push(p.clone());
            }
            continue;
        }
        for entry in walkdir::WalkDir::new(p).sort_by_file_name() {
            let entry = entry.map_err(|e| DumpError(format!("{}: {e}", p.display())))?;
            let path = entry.path().to_path_buf();
            if !entry.file_type().is_file() {
                if is_tape(&path) {
                    found.media.push(path);
                }
                continue;
            }
            if is_csv(&path) {
                found.csv.push(path);
                continue;
            }
            if is_tape(&path) {
                found.media.push(path);
                continue;
            }
            match starts_with_tape_block(&path) {
                Ok(Some(h)) if &h[..4] == b"TAPE" => found.media.push(path),
                Ok(Some(h)) if &h == mtf::sqlserver::MSSQLBAK_MAGIC => found.passed_over.push((
                    path,
                    "SQL Server compressed backup (MSSQLBAK): its headers are compressed and \
                     not decoded"
                        .into(),
                )),
                Ok(_) => found.passed_over.push((path, "not an MTF medium".into())),
                Err(e) => found.passed_over.push((path, e.to_string())),
            }
        }
    }
    Ok(found)
}

/// The records of every SQL Server set on the media and in the CSV exports found under
/// `paths`, and one line per file that could not be read.
pub fn read_records(paths: &[PathBuf]) -> DumpResult<(Vec<BackupRecord>, Vec<String>)> {
    let found = find(paths)?;
    let mut problems: Vec<String> = found
        .passed_over
        .iter()
        .filter(|(_, why)| why != "not an MTF medium")
        .map(|(p, why)| format!("{}: {why}", p.display()))
        .collect();
    let mut listings: Vec<(PathBuf, Listing)> = Vec::with_capacity(found.media.len());
    for p in &found.media {
        match super::compressed_container(p) {
            Ok(None) => {}
            Ok(Some(_)) => {
                problems.push(format!(
                    "{}: SQL Server compressed backup (MSSQLBAK): its headers are compressed \
                     and not decoded",
                    p.display()
                ));
                continue;
            }
            Err(e) => {
                problems.push(e.to_string());
                continue;
            }
        }
        let listed = open_source(p).and_then(|src| {
            list_sets(Reader::with_mode(src, Mode::Resync))
                .map_err(|e| DumpError(format!("{}: {e}", p.display())))
        });
        match listed {
            Ok(l) => listings.push((p.clone(), l)),
            Err(e) => problems.push(e.to_string()),
        }
    }
    let media: Vec<ListedMedium> = listings
        .iter()
        .map(|(p, l)| ListedMedium {
            path: p.display().to_string(),
            is_tape: is_tape(p),
            listing: l,
        })
        .collect();
    let (mut recs, skipped) = from_media::records(&media);
    for s in skipped {
        if s.reason != "not a SQL Server backup set" {
            problems.push(format!("{}: set {}: {}", s.file, s.position, s.reason));
        }
    }
    for c in &found.csv {
        let f = match std::fs::File::open(c) {
            Ok(f) => f,
            Err(e) => {
                problems.push(format!("{}: {e}", c.display()));
                continue;
            }
        };
        match msdb_csv::read(std::io::BufReader::new(f), &c.display().to_string()) {
            Ok(mut r) => recs.append(&mut r),
            Err(e) => problems.push(e.to_string()),
        }
    }
    Ok((recs, problems))
}

/// Opens the history file (created if missing).
pub fn open_history(path: &Path) -> DumpResult<SqliteHistory> {
    SqliteHistory::open(path).map_err(|e| DumpError(e.to_string()))
}

#[derive(Serialize)]
struct ImportReport {
    history: String,
    sets_new: usize,
    sets_updated: usize,
    problems: Vec<String>,
}

/// `mtfdump history import`.
pub fn run_import(
    paths: &[PathBuf],
    history: &Path,
    json: bool,
    out: &mut dyn Write,
) -> DumpResult<Outcome> {
    let (recs, problems) = read_records(paths)?;
    let mut h = open_history(history)?;
    let done = h.record_all(&recs).map_err(|e| DumpError(e.to_string()))?;
    let rep = ImportReport {
        history: display_name(history),
        sets_new: done.iter().filter(|d| **d == Recorded::New).count(),
        sets_updated: done.iter().filter(|d| **d == Recorded::Updated).count(),
        problems,
    };
    if json {
        write_json(out, &rep)?;
    } else {
        writeln!(
            out,
            "{}: {} backup sets recorded ({} new, {} already known)",
            rep.history,
            recs.len(),
            rep.sets_new,
            rep.sets_updated
        )?;
        for p in &rep.problems {
            writeln!(out, "  problem: {p}")?;
        }
    }
    Ok(if rep.problems.is_empty() {
        Outcome::Ok
    } else {
        Outcome::Problems
    })
}

/// One row of `history list`.
#[derive(Serialize)]
pub struct ListRow {
    pub database: String,
    pub backup_type: String,
    pub backup_set_guid: Option<String>,
    pub start: Option<String>,
    pub finish: Option<String>,
    pub first_lsn: Option<String>,
    pub last_lsn: Option<String>,
    pub database_backup_lsn: Option<String>,
    pub differential_base_guid: Option<String>,
    pub copy_only: Option<bool>,
    pub damaged: bool,
    pub incomplete: bool,
    pub position: u32,
    pub family_count: Option<u16>,
    pub files: Vec<String>,
    pub source: String,
}

/// `mtfdump history list`.
pub fn run_list(
    history: &Path,
    database: Option<&str>,
    json: bool,
    out: &mut dyn Write,
) -> DumpResult<Outcome> {
    if !history.exists() {
        return Err(DumpError(format!(
            "{}: no such history (create it with `mtfdump history import`)",
            history.display()
        )));
    }
    let h = open_history(history)?;
    let recs = h.backups(database).map_err(|e| DumpError(e.to_string()))?;
    let rows: Vec<ListRow> = recs
        .iter()
        .map(|r| ListRow {
            database: r.database.clone(),
            backup_type: r.kind.word(),
            backup_set_guid: r.backup_set_guid.clone(),
            start: r.start.as_ref().map(iso),
            finish: r.finish.as_ref().map(iso),
            first_lsn: r.first_lsn.map(|l| l.to_string()),
            last_lsn: r.last_lsn.map(|l| l.to_string()),
            database_backup_lsn: r.database_backup_lsn.map(|l| l.to_string()),
            differential_base_guid: r.differential_base_guid.clone(),
            copy_only: r.copy_only,
            damaged: r.damaged,
            incomplete: r.incomplete,
            position: r.position,
            family_count: r.family_count,
            files: r.paths(),
            source: r.source.clone(),
        })
        .collect();
    if json {
        write_json(out, &serde_json::json!({ "backups": rows }))?;
    } else {
        for r in &rows {
            writeln!(
                out,
                "{:<20} {:<12} {:<19} {:>25} {:>25}{}{}  {}",
                r.database,
                r.backup_type,
                r.finish.as_deref().unwrap_or("unknown"),
                r.first_lsn.as_deref().unwrap_or("?"),
                r.last_lsn.as_deref().unwrap_or("?"),
                if r.damaged { " DAMAGED" } else { "" },
                if r.incomplete { " INCOMPLETE" } else { "" },
                r.files.join(", ")
            )?;
        }
    }
    Ok(Outcome::Ok)
}
