//! `refdb backup`, `restore`, `plan` and `history`: the command line of
//! [`media::dbbackup`] and of the planner over the engine's backup history. This module only
//! turns arguments into those calls and prints what they did.

use crate::packset::{log_media, prepare_media, put_back, MediaSetJob, PreparedMedia};
use media::changer::dir::DirectoryLibrary;
use media::changer::{MediaChanger, ScriptedChanger};
use media::dbbackup::{self, BackupOptions, Recovery, RestoreOptions};
use media::decision::Operation;
use media::engine::Database;
use media::history::sqlite::SqliteHistory;
use media::history::{BackupHistory, BackupRecord};
use media::plan::{plan_database, Target};
use media::restore::ReadSpec;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Parses `YYYY-MM-DDTHH:MM:SS[.fff]` (UTC; a space may stand for the `T`), the form
/// `refdb workload` prints for each commit, into Unix milliseconds.
pub fn parse_time(s: &str) -> Result<u64, String> {
    let bad = || format!("{s:?}: not a time of the form YYYY-MM-DDTHH:MM:SS[.fff] (UTC)");
    let (main, frac) = match s.split_once('.') {
        Some((m, f)) => (m, Some(f)),
        None => (s, None),
    };
    let b = main.as_bytes();
    if b.len() != 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !(b[10] == b'T' || b[10] == b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| -> Result<u32, String> {
        let t = &main[r];
        if !t.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        t.parse().map_err(|_| bad())
    };
    let d = mtf::DateTime {
        year: num(0..4)? as u16,
        month: num(5..7)? as u8,
        day: num(8..10)? as u8,
        hour: num(11..13)? as u8,
        minute: num(14..16)? as u8,
        second: num(17..19)? as u8,
    };
    if !(1..=12).contains(&d.month)
        || d.day == 0
        || d.day > 31
        || d.hour > 23
        || d.minute > 59
        || d.second > 59
    {
        return Err(bad());
    }
    let ms = match frac {
        None => 0,
        Some(f) if (1..=3).contains(&f.len()) && f.bytes().all(|c| c.is_ascii_digit()) => {
            f.parse::<u64>().map_err(|_| bad())? * 10u64.pow(3 - f.len() as u32)
        }
        Some(_) => return Err(bad()),
    };
    let secs = d.to_unix();
    // A day that does not exist in its month (Feb 30) comes back as another date.
    if mtf::DateTime::from_unix(secs) != Some(d) || secs < 0 {
        return Err(bad());
    }
    Ok(secs as u64 * 1000 + ms)
}

/// What `refdb backup` was asked.
pub struct BackupJob {
    pub dir: PathBuf,
    pub options: BackupOptions,
    pub media: MediaSetJob,
    pub history: PathBuf,
}

/// Takes the backup; prints the set and its media. Exit status 0 when the set is whole.
/// A tail-log backup (`--no-truncate`) of a database that does not open is read from its
/// files (the primary data file and the log). While it runs, a progress line on stderr (only
/// when stderr is a terminal: see [`crate::progress`]) shows the bytes copied of the set's
/// pages and log.
pub fn backup(job: &BackupJob, log: &mut dyn Write) -> Result<(), String> {
    let media = job.media.outputs.iter().chain(&job.media.mirrors);
    for (what, p) in media
        .map(|p| ("medium", p))
        .chain([("history", &job.history)])
    {
        refuse_own_name(what, p)?;
    }
    if dbbackup::standby::is_standby(&job.dir) {
        // Opening it would change it, and its undo would no longer apply.
        return Err(format!(
            "{}: no backup of it is taken",
            dbbackup::standby::read_only_reason(&job.dir)
        ));
    }
    if job.dir.join(dbbackup::restore::RESTORING_FILE).exists() {
        // Opening it would recover it (a restore left it restoring, a tail-log backup already
        // taken, a restore killed entering standby): no more backups could be restored to it,
        // and the "backup" would be of a half-restored copy, recorded as the database's.
        return Err(format!(
            "{}; no backup of it is taken",
            restoring_advice(&job.dir)
        ));
    }
    let db = match Database::open(&job.dir) {
        Ok(db) => Some(db),
        Err(e) if job.options.no_truncate => {
            let _ = writeln!(
                log,
                "refdb: {}: {e}; backing up the tail of the log from the files",
                job.dir.display()
            );
            None
        }
        // WITH NORECOVERY alone backs up the tail of a database that opens, as SQL Server's
        // does; one that does not open needs NO_TRUNCATE, which reads the tail from its files.
        Err(e) if job.options.norecovery => {
            return Err(format!(
                "{e} (the tail of the log of a database that does not open is backed up with --no-truncate)"
            ))
        }
        Err(e) => return Err(e.to_string()),
    };
    let mut history = SqliteHistory::open(&job.history).map_err(|e| e.to_string())?;
    let mut prepared = prepare_media(&job.media)?;
    // Held until the set is written or the images are put back: no other run writes (or
    // cuts back) these images meanwhile.
    let _locks = prepared.take_locks();
    let created = prepared.created.clone();
    let library_created = prepared.library_created.clone();
    let ends = prepared.ends.clone();
    let counters = dbbackup::Progress::new();
    let options = BackupOptions {
        progress: Some(counters.clone()),
        ..job.options.clone()
    };
    let n = job.media.outputs.len();
    let mut watch = crate::progress::Watch::start(
        &format!(
            "backup {} ({}) to {n} device{}",
            job.dir.display(),
            job.options.kind.name(),
            if n == 1 { "" } else { "s" }
        ),
        &counters,
    );
    let out = match &db {
        Some(db) => dbbackup::backup(
            db,
            &options,
            prepared.devices,
            prepared.set,
            &prepared.options,
            &mut history,
        ),
        None => dbbackup::tail_log_from_files(
            &job.dir,
            &options,
            prepared.devices,
            prepared.set,
            &prepared.options,
            &mut history,
        ),
    };
    watch.finish();
    let out = match out {
        Ok(o) => o,
        Err(e) => {
            PreparedMedia::cleanup_all(&created, &library_created);
            // A failed append leaves the images as they were (what it added is cut away).
            let put = if job.media.write.operation == media::decision::Operation::Append {
                put_back(&ends)
            } else {
                String::new()
            };
            let e = e.to_string();
            let hint = capacity_hint(&e, &job.media);
            return Err(format!("{e}{hint}{put}"));
        }
    };
    log_media("refdb", &out.report, log);
    let h = &out.header;
    let _ = writeln!(
        log,
        "refdb: {:?} backup of {} as set {}: LSN {}..{} (checkpoint {}), {} bytes{}",
        h.kind,
        h.database,
        out.position,
        h.first_lsn,
        h.last_lsn,
        h.checkpoint_lsn,
        h.backup_size,
        if out.damaged_pages.is_empty() {
            String::new()
        } else {
            format!(
                "; DAMAGED: {} page(s) copied as they were",
                out.damaged_pages.len()
            )
        }
    );
    if let Some(db) = db {
        db.close().map_err(|e| e.to_string())?;
    }
    if out.damaged_pages.is_empty() && out.header.flags & dbbackup::header::flags::DAMAGED == 0 {
        Ok(())
    } else {
        Err("the set is marked damaged".into())
    }
}

/// For a backup that ran out of a medium of the `--capacity` given: why, and what gets past
/// it. The end of a set (filemark, ESET, set map, filemark) is written inside the medium's
/// early-warning zone without moving to the next medium; in whole blocks of the block size,
/// on a small image that zone cannot hold it, and the write runs into the end of the medium
/// ("I/O error: end of medium"), which reads as a failing medium rather than a capacity
/// chosen too small.
fn capacity_hint(err: &str, job: &MediaSetJob) -> String {
    match job.capacity {
        Some(c) if err.contains("end of medium") => format!(
            " (the medium filled past its early warning, where the end of a set or of the medium is written without moving on to the next: --capacity {c} leaves too little room there for {}-byte blocks; give a larger --capacity)",
            job.write.block_size
        ),
        _ => String::new(),
    }
}

/// What a restore reads, for its progress line: the media given, or the library.
pub fn source_name(from: &[PathBuf], library: Option<&Path>) -> String {
    match library {
        Some(d) => d.display().to_string(),
        None => from
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// The changers that read the media given: a directory library, or the media in the order
/// given (each family's media in sequence, family after family) on one device.
pub fn readers(
    from: &[PathBuf],
    library: Option<&Path>,
) -> Result<Vec<Box<dyn MediaChanger>>, String> {
    if let Some(dir) = library {
        return Ok(vec![Box::new(
            DirectoryLibrary::new(dir, Default::default()).map_err(|e| e.to_string())?,
        )]);
    }
    if from.is_empty() {
        return Err("no medium to read (--from DEV, or --changer DIR)".into());
    }
    // A medium given that does not exist is an error, never a new blank image.
    for p in from {
        if !p.exists() {
            return Err(format!("{}: no such medium", p.display()));
        }
    }
    Ok(vec![Box::new(ScriptedChanger::new(
        from.to_vec(),
        Default::default(),
    ))])
}

/// A restore's error, with the media it read when it does not name them already (the set's
/// damage is found once it is read, when the media are known only to the command line).
pub fn naming_media(e: String, from: &[PathBuf], library: Option<&Path>) -> String {
    let names: Vec<String> = match library {
        Some(d) => vec![d.display().to_string()],
        None => from.iter().map(|p| p.display().to_string()).collect(),
    };
    if names.is_empty() || names.iter().any(|n| e.contains(n.as_str())) {
        e
    } else {
        format!("{e} (restoring from {})", names.join(", "))
    }
}

/// One step of a planned restore: the set at `position` on the media `files` (position 0:
/// the first set).
fn restore_step(
    dir: &Path,
    files: &[PathBuf],
    position: u32,
    opts: &RestoreOptions,
    out: &mut dyn Write,
) -> Result<dbbackup::RestoreOutcome, String> {
    let set = Some(position as u16).filter(|&p| p != 0);
    restore(
        dir,
        readers(files, None)?,
        &source_name(files, None),
        set,
        opts,
        out,
    )
    .map_err(|e| naming_media(e, files, None))
}

/// `refdb restore DIR --recovery` with no media: recovers the database left restoring in
/// `dir` where it stands (RESTORE DATABASE … WITH RECOVERY); prints what it did.
pub fn recover(dir: &Path, log: &mut impl Write) -> Result<(), String> {
    let r = dbbackup::recover(dir).map_err(|e| e.to_string())?;
    let _ = writeln!(
        log,
        "refdb: recovered {} at LSN {}{}",
        dir.display(),
        r.log_end,
        r.fork
            .map(|f| format!(", new recovery fork {}", media::engine::db::guid_string(&f)))
            .unwrap_or_default()
    );
    Ok(())
}

/// Restores set `set` (default: the first) read by `changers` from `source` (named in the
/// progress line, which is drawn on stderr only when it is a terminal, with the bytes read of
/// the set's files) into `dir`; prints what it did.
pub fn restore(
    dir: &Path,
    changers: Vec<Box<dyn MediaChanger>>,
    source: &str,
    set: Option<u16>,
    opts: &RestoreOptions,
    log: &mut dyn Write,
) -> Result<dbbackup::RestoreOutcome, String> {
    let spec = ReadSpec {
        media_set_id: None,
        data_set: set,
    };
    let counters = dbbackup::Progress::new();
    let opts = &RestoreOptions {
        progress: Some(counters.clone()),
        ..opts.clone()
    };
    let mut watch = crate::progress::Watch::start(
        &format!("restore {} from {source}", dir.display()),
        &counters,
    );
    let o = dbbackup::restore(dir, changers, &spec, opts);
    watch.finish();
    let o = o.map_err(|e| e.to_string())?;
    let _ = writeln!(
        log,
        "refdb: restored {:?} backup of {} (LSN {}..{}) into {}: {}",
        o.header.kind,
        o.header.database,
        o.header.first_lsn,
        o.header.last_lsn,
        dir.display(),
        if o.recovered {
            format!(
                "recovered at LSN {}{}",
                o.log_end,
                o.fork
                    .map(|f| format!(", new recovery fork {}", media::engine::db::guid_string(&f)))
                    .unwrap_or_default()
            )
        } else if let dbbackup::Recovery::Standby(undo) = &opts.recovery {
            format!(
                "in standby, read-only (log restored up to LSN {}; its undo in {})",
                o.log_end,
                undo.display()
            )
        } else {
            format!("restoring (log restored up to LSN {})", o.log_end)
        }
    );
    // After a piecemeal restore: what is still offline, and what brings it online.
    if let Some(boot) = media::engine::file::read_boot(dir) {
        for g in &boot.filegroups {
            if let Some(lsn) = g.offline {
                let _ = writeln!(
                    log,
                    "refdb: filegroup {} is offline (recovery pending at LSN {lsn}): restore it later with --filegroup {}",
                    g.name, g.name
                );
            }
        }
        // The first stage kept the log chain (its fork records the parent): say so, since
        // after any other recovery the next log backup waits for a full backup.
        if o.recovered && o.fork.is_some() && boot.parent_fork_guid.is_some() {
            let _ = writeln!(
                log,
                "refdb: log backups go on from LSN {} (the log chain is kept between the stages)",
                boot.fork_point_lsn
            );
        }
    }
    Ok(o)
}

/// What to say of a database left restoring, which no command but a restore may open: its
/// next backup, or its recovery where it stands; or, when a restore into it did not finish,
/// that restore again (a recovery would be refused).
pub fn restoring_advice(dir: &Path) -> String {
    match dbbackup::unfinished(dir) {
        Ok(Some(why)) => format!("{}: the database is restoring: {why}", dir.display()),
        _ => format!(
            "{}: the database is restoring (a restore sequence, or a tail-log backup WITH NORECOVERY, left it so): restore its next backup, or recover it where it stands with `refdb restore DIR --recovery`",
            dir.display()
        ),
    }
}

/// Refuses a medium or a history at a name refdb keeps in a database directory (`refdb.*`:
/// its lock, its restoring and standby marks, its location file, a piecemeal work database):
/// written there, it would pass for the database's own state (every command would call the
/// database restoring), or be replaced empty by the next restore.
fn refuse_own_name(what: &str, p: &Path) -> Result<(), String> {
    let own = p
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.len() > 6 && n[..6].eq_ignore_ascii_case("refdb."));
    let parent = p.parent().filter(|d| !d.as_os_str().is_empty());
    let parent = parent.unwrap_or(Path::new("."));
    let database_dir = ["refdb.lock", "refdb.location", "primary.mdf", "log.ldf"]
        .iter()
        .any(|f| std::fs::symlink_metadata(parent.join(f)).is_ok());
    if own && database_dir {
        return Err(format!(
            "{}: a {what} cannot be at a name refdb keeps in a database directory (refdb.*): name it otherwise",
            p.display()
        ));
    }
    Ok(())
}

/// An existing history, for reading: a mistyped path is an error, not a new empty history.
fn open_history(path: &Path) -> Result<SqliteHistory, String> {
    if !path.exists() {
        return Err(format!(
            "{}: no backup history there (refdb backup records one; --history names it)",
            path.display()
        ));
    }
    SqliteHistory::open(path).map_err(|e| e.to_string())
}

/// The backups of `database` in the history, or an error that names the databases it does
/// hold: an empty answer to a mistyped name must not pass for "never backed up" in silence.
fn backups_of(h: &SqliteHistory, path: &Path, database: &str) -> Result<Vec<BackupRecord>, String> {
    let records = h.backups(Some(database)).map_err(|e| e.to_string())?;
    if !records.is_empty() {
        return Ok(records);
    }
    let mut known: Vec<String> = h
        .backups(None)
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|r| r.database)
        .collect();
    known.sort();
    known.dedup();
    let holds = if known.is_empty() {
        "no backups at all".to_string()
    } else {
        format!("backups of {}", known.join(", "))
    };
    Err(format!(
        "{}: no backup of database {database:?} is recorded there (it holds {holds})",
        path.display()
    ))
}

/// A recorded LSN as refdb's backup and restore print it (the engine's LSN): the history
/// keeps SQL Server's decimal form, which agrees with the engine's only below 65536, and
/// one set must have one LSN range in every message. An LSN that is no engine LSN (imported
/// from another server's history) is printed as recorded.
fn engine_lsn(l: media::history::Lsn) -> String {
    dbbackup::header::from_history_lsn(l).map_or_else(|| l.0.to_string(), |e| e.to_string())
}

/// Prints the recorded backups of one database (or all).
pub fn history(path: &Path, database: Option<&str>, out: &mut dyn Write) -> Result<(), String> {
    let h = open_history(path)?;
    let records = match database {
        Some(name) => backups_of(&h, path, name)?,
        None => h.backups(None).map_err(|e| e.to_string())?,
    };
    for r in records {
        let lsn = |l: Option<media::history::Lsn>| l.map_or("-".into(), engine_lsn);
        let files: Vec<String> = r
            .families
            .iter()
            .flat_map(|f| f.media.iter().map(|m| m.path.clone()))
            .collect();
        let _ = writeln!(
            out,
            "{}\t{}\t{}\tset {}\tfirst {}\tlast {}\tfinished {}\t{}{}{}",
            r.database,
            r.kind.letter(),
            r.backup_set_guid.as_deref().unwrap_or("-"),
            r.position,
            lsn(r.first_lsn),
            lsn(r.last_lsn),
            r.finish
                .map(|d| media::history::iso(&d))
                .unwrap_or_else(|| "-".into()),
            files.join(","),
            if r.copy_only == Some(true) {
                "\tcopy-only"
            } else {
                ""
            },
            if r.damaged { "\tdamaged" } else { "" },
        );
    }
    Ok(())
}

/// Plans the restore of `database` from the history; with `execute`, runs it into that
/// directory.
pub fn plan(
    history_path: &Path,
    database: &str,
    stopat_ms: Option<u64>,
    execute: Option<&Path>,
    replace: bool,
    out: &mut dyn Write,
) -> Result<(), String> {
    let h = open_history(history_path)?;
    let records = backups_of(&h, history_path, database)?;
    let target = match stopat_ms {
        None => Target::Latest,
        Some(ms) => {
            Target::At(mtf::DateTime::from_unix((ms / 1000) as i64).ok_or("STOPAT out of range")?)
        }
    };
    // A plan that is run can only use the sets whose media are here: one whose medium is
    // lost (every copy of it) is left out, saying so, and the planner does without it (an
    // earlier differential, or the logs) where the chain allows, as the reference documents'
    // lost differential does. A plan only shown keeps every recorded set.
    let all = records.clone();
    let mut records = records;
    if execute.is_some() {
        records.retain(|r| match media_to_read(r) {
            Ok(_) => true,
            Err(why) => {
                let _ = writeln!(
                    out,
                    "note: {} backup set {} of {} left out: {why}",
                    r.kind.word(),
                    r.position,
                    r.database
                );
                false
            }
        });
    }
    let p = plan_database(&records, target);
    for pr in &p.problems {
        let _ = writeln!(out, "note: {pr}");
    }
    if !p.is_valid() {
        return Err(format!("no restore plan for {database} to {}", p.target));
    }
    // Doing without a lost set must not quietly restore less: to the latest point, the plan
    // without it must end where the plan of every recorded set ends.
    if records.len() < all.len() && target == Target::Latest {
        let whole = plan_database(&all, target);
        let end = |p: &media::plan::Plan| p.steps.last().map(|s| s.last_lsn);
        if whole.is_valid() && end(&whole) > end(&p) {
            return Err(format!(
                "without the lost media the latest point {database} can be restored to is LSN {}, not LSN {} (the end of its last recorded backup): nothing is restored; find the lost media, or restore to an earlier point with --stopat",
                end(&p).map_or("-".into(), engine_lsn),
                end(&whole).map_or("-".into(), engine_lsn),
            ));
        }
    }
    for (i, s) in p.steps.iter().enumerate() {
        let _ = writeln!(
            out,
            "{}. {:?} set {} LSN {}..{} from {}{}{}",
            i + 1,
            s.kind,
            s.position,
            engine_lsn(s.first_lsn),
            engine_lsn(s.last_lsn),
            s.files
                .iter()
                .map(|f| shown(f))
                .collect::<Vec<_>>()
                .join(", "),
            if s.stopat.is_some() { " STOPAT" } else { "" },
            if s.recovery {
                " RECOVERY"
            } else {
                " NORECOVERY"
            }
        );
    }
    let Some(dir) = execute else { return Ok(()) };
    let n = p.steps.len();
    let start = resume_at(dir, &p.steps)?;
    if start > 0 {
        let _ = writeln!(
            out,
            "refdb: {} is restoring from an earlier run of this plan: going on at step {}",
            dir.display(),
            start + 1
        );
    }
    let mut last = None;
    for (i, s) in p.steps.iter().enumerate().skip(start) {
        let files = match records.iter().find(|r| {
            r.backup_set_guid.is_some()
                && r.backup_set_guid == s.backup_set_guid
                && r.position == s.position
        }) {
            Some(r) => media_to_read(r)?,
            None => s.files.iter().map(PathBuf::from).collect(),
        };
        let opts = RestoreOptions {
            recovery: if i + 1 == n {
                Recovery::Recovery
            } else {
                Recovery::NoRecovery
            },
            stopat_ms: if s.stopat.is_some() || (i + 1 == n && stopat_ms.is_some()) {
                stopat_ms
            } else {
                None
            },
            replace: replace && i == 0,
            expect_set: recorded_set(s.backup_set_guid.as_deref()),
            ..Default::default()
        };
        last = Some(restore_step(dir, &files, s.position, &opts, out)?);
    }
    // The history keeps whole seconds: a point in the second a log backup finished may lie
    // in the next log. The restore, which knows milliseconds, then stays restoring; the logs
    // that carry the chain on (same fork) follow until the point is reached.
    while let Some(o) = last.take().filter(|o| !o.recovered) {
        let end = dbbackup::header::history_lsn(o.log_end);
        let fork = media::history::normalize_guid(
            &mtf::stream::sqlserver::Guid(o.header.fork_guid).to_string(),
        );
        let next = records
            .iter()
            .filter(|r| {
                r.kind == media::history::BackupKind::Log
                    && !r.damaged
                    && r.first_lsn.is_some_and(|f| f <= end)
                    && r.last_lsn.is_some_and(|l| l > end)
                    && r.last_recovery_fork_guid == fork
            })
            .min_by_key(|r| r.last_lsn)
            .ok_or_else(|| {
                format!(
                    "the point in time lies beyond the last log backup: {} is left restoring",
                    dir.display()
                )
            })?;
        let files = media_to_read(next)?;
        let opts = RestoreOptions {
            recovery: Recovery::Recovery,
            stopat_ms,
            replace: false,
            expect_set: recorded_set(next.backup_set_guid.as_deref()),
            ..Default::default()
        };
        last = Some(restore_step(dir, &files, next.position, &opts, out)?);
    }
    Ok(())
}

/// A recorded medium as the plan shows it: relative to the working directory when it lies
/// in it (as the backup named it there), else its full path. The history keeps the full
/// path; only what is printed is shortened.
fn shown(path: &str) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| {
            Path::new(path)
                .strip_prefix(cwd)
                .ok()
                .map(|p| p.display().to_string())
        })
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| path.to_owned())
}

/// The media a planned step reads for the recorded set `r`: every medium (family by family,
/// in sequence) at each place recorded for it that is still there, the first copy before its
/// mirrors. A lost first copy is then read from its mirror, and a copy damaged or cut short
/// is read on from the other (the restore takes copies of one medium as one). A medium at
/// none of its places is an error naming them all.
fn media_to_read(r: &media::history::BackupRecord) -> Result<Vec<PathBuf>, String> {
    let mut fams: Vec<_> = r.families.iter().collect();
    fams.sort_by_key(|f| f.family_number);
    let mut out = Vec::new();
    for f in fams {
        let mut seqs: Vec<u16> = f.media.iter().map(|m| m.media_sequence_number).collect();
        seqs.sort_unstable();
        seqs.dedup();
        for seq in seqs {
            let places: Vec<PathBuf> = f
                .media
                .iter()
                .filter(|m| m.media_sequence_number == seq)
                .map(|m| PathBuf::from(&m.path))
                .collect();
            let there: Vec<PathBuf> = places.iter().filter(|p| p.exists()).cloned().collect();
            if there.is_empty() {
                let names: Vec<String> = places.iter().map(|p| p.display().to_string()).collect();
                return Err(match names.as_slice() {
                    [one] => format!("{one}: no such medium"),
                    _ => format!(
                        "{}: no such medium (nor any copy of it: {})",
                        names[0],
                        names[1..].join(", ")
                    ),
                });
            }
            out.extend(there);
        }
    }
    Ok(out)
}

/// The step a plan run into `dir` starts at: 0, unless an earlier run of this plan was
/// killed there. Then the interrupted restore (its set is one of the steps) is run again,
/// which finishes it; or, the database being left restoring by this plan's full backup, the
/// first step whose log goes past where the restored log ends. Starting over at the full
/// backup would be refused by the interrupted restore's progress file, for ever.
fn resume_at(dir: &Path, steps: &[media::plan::Step]) -> Result<usize, String> {
    let st = dbbackup::standing(dir).map_err(|e| e.to_string())?;
    let guid = |s: &media::plan::Step| recorded_set(s.backup_set_guid.as_deref());
    if let Some(g) = st.interrupted {
        // Another set's interrupted restore: the first step is refused, naming it.
        return Ok(steps.iter().position(|s| guid(s) == Some(g)).unwrap_or(0));
    }
    match st.restoring {
        Some((full, end)) if steps.first().and_then(guid) == Some(full) => {
            let end = dbbackup::header::history_lsn(end);
            Ok(steps
                .iter()
                .position(|s| s.kind != media::history::BackupKind::Full && s.last_lsn > end)
                .unwrap_or(steps.len().saturating_sub(1)))
        }
        _ => Ok(0),
    }
}

/// The set GUID the history recorded for a step, for the restore to hold the set it reads
/// to: a medium named by the history may hold another set now (written over with
/// `--format`), and only the recorded one is the planned step.
fn recorded_set(guid: Option<&str>) -> Option<[u8; 16]> {
    guid.and_then(dbbackup::backup::parse_guid)
}

/// The operation a backup asks of its media.
pub fn operation(format: bool, init: bool) -> Operation {
    if format {
        Operation::Format
    } else if init {
        Operation::Init
    } else {
        Operation::Append
    }
}

#[cfg(test)]
mod tests {
    use super::parse_time;

    #[test]
    fn times_parse_as_the_workload_prints_them() {
        // 2024-02-29T23:59:58.007Z is 1709251198007 ms (date -u -d @1709251198).
        assert_eq!(parse_time("2024-02-29T23:59:58.007"), Ok(1_709_251_198_007));
        assert_eq!(parse_time("2024-02-29T23:59:58"), Ok(1_709_251_198_000));
        assert_eq!(parse_time("2024-02-29 23:59:58.5"), Ok(1_709_251_198_500));
        for bad in [
            "2024-02-30T00:00:00",
            "2024-13-01T00:00:00",
            "2024-02-29T24:00:00",
            "2024-02-29T23:59:58.0071",
            "2024-02-29",
            "yesterday",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }
}
