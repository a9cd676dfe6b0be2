//! Piecemeal restore: the database comes back in stages, filegroup by filegroup, and is online
//! from the first stage on.
//!
//! **The partial restore** (`RestoreOptions::partial`, SQL Server's `WITH PARTIAL`): a full
//! backup restores the primary filegroup and the filegroups named; the others' files are not
//! written. Under the full and bulk-logged models the usual sequence follows (differential,
//! logs: they write only the restored files); recovery marks the left-out filegroups
//! offline, recovery pending, at the LSN the database is recovered at (the boot record's
//! version 3 extension), and the engine refuses their tables, naming the filegroup, while
//! recovery and check leave their files alone. Under the simple model, as the reference
//! documents say, the first stage holds the primary and *every read-write* filegroup: only
//! read-only ones may be left for later.
//!
//! **A later stage** (`restore DIR --filegroup X` into the online database, X offline):
//!
//! - under the simple model, X must be read-only, in the backup and in the database: its
//!   files are put back as they are (nothing of them changed, no log is needed);
//! - under full and bulk-logged, X's files must be brought to the LSN the database was
//!   recovered at: the full (or file) backup and then the same differential and log backups
//!   as the first stage are restored into a restoring work database `refdb.piecemeal/` inside
//!   the database directory (the primary and X only; its other filegroups offline), by the
//!   ordinary restore sequence, with its checks (same database, no gap in the log chain, a
//!   differential on its full). When its log reaches that LSN exactly, it is recovered there
//!   (redo, and the undo of what was in flight at that point, as the first stage's recovery
//!   did for the other filegroups), X's files are copied into the database, and X comes
//!   online. The backup that holds that LSN (the first stage stopped inside it, WITH STOPAT,
//!   or the first stage ended at an earlier log than one restored now) is restored up to it
//!   and no further (`Job::until`: the same record the first stage stopped at, which a log
//!   holding bulk-logged changes refuses, as STOPAT); a backup that starts past it (a log
//!   beginning at or after it, a full or differential whose copy ends after it) is refused: X
//!   would be newer than the rest.
//!
//! **STOPAT** (`RestoreOptions::stopat_ms`) goes with the first stage as with any restore
//! sequence: the full backup and the logs WITH STOPAT, the database recovered at the point,
//! where the left-out filegroups go offline. Refused under the simple model (no log backups,
//! no point in time), as SQL Server's. A later stage takes no STOPAT: its point is the one
//! the first stage fixed.
//!
//! An interrupted later stage is done again from its full backup: `--filegroup X` replaces
//! the work database (nothing of the user's is in it), and X stays offline until the files
//! are in place and the boot record says so.
//!
//! The pages copied keep their LSNs, except that none claims a later LSN than the one the
//! database was recovered at: the work database's own undo records lie past it, in a log
//! that is not the database's.
//!
//! **Log backups between the stages** (full and bulk-logged models): the first stage's
//! recovery starts a recovery fork but keeps the log backup chain, its last backed-up point
//! set to the recovery point ([`crate::engine::Database::start_recovery_fork_keeping_chain`]),
//! so the database, online, is backed up by its logs as usual; the first starts exactly at
//! the fork point and names the parent fork as the one it starts in (the boot record keeps
//! it). A full or differential backup still waits until every filegroup is online (they copy
//! every filegroup). A later stage needs none of those logs: an offline filegroup does not
//! change, so its stage ends at the point it went offline, and a log starting at or after it
//! is refused as not needed (naming the logs that are). A restore of the whole database
//! (the full, the logs up to the point WITH NORECOVERY, then the new fork's logs) takes the
//! fork's first log only in the parent fork exactly at the fork point, and only when no
//! transaction was in flight there (`restore::refuse_deferred_undo`: the first stage ended it
//! without undoing its changes to the offline filegroups, which the later stage undid outside
//! the database's log).
//!
//! Not done: under the full model, a later stage from a file backup of the filegroup
//! alone (the work database needs the primary filegroup of the same point, so the stage starts
//! from a full backup, or a file backup that holds the primary).

use super::file_restore::{check_files, put_files};
use super::header::SetHeader;
use super::restore::{
    inspect_target, name_guid, outcome, restore_diff, restore_full, restore_log, Job, Recovery,
    RestoreOptions, RestoreOutcome, State, Target,
};
use super::{io_err, BackupType, DbBackupError, Result};
use crate::engine::file::{self, read_boot, Boot, DataFile, FilegroupInfo};
use crate::engine::page::PAGE_SIZE;
use crate::engine::{Database, Lsn, RecoveryModel};
use std::fs;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// The work database of a later stage, inside the database directory.
pub const PIECEMEAL_DIR: &str = "refdb.piecemeal";

/// The first stage: a full backup, only the primary filegroup and `opts.filegroups`.
pub(super) fn restore_partial(job: Job<'_>, target: Target) -> Result<RestoreOutcome> {
    let Job { h, opts, .. } = job;
    if matches!(opts.recovery, Recovery::Standby(_)) {
        return Err(DbBackupError::Refused(
            "--partial with --standby is not supported: restore the first stage of a piecemeal restore WITH NORECOVERY or RECOVERY".into(),
        ));
    }
    if h.kind != BackupType::Full {
        return Err(DbBackupError::Refused(format!(
            "a partial (piecemeal) restore starts from a full backup, this set is a {} backup",
            h.kind.name()
        )));
    }
    if opts.page.is_some() || opts.filegroup.is_some() {
        return Err(DbBackupError::Refused(
            "a partial restore takes the filegroups to restore (--filegroup, with --partial) and no page".into(),
        ));
    }
    if opts.stopat_ms.is_some() && h.model == RecoveryModel::Simple {
        return Err(DbBackupError::Refused(format!(
            "database {} uses the simple recovery model, which keeps no log backups: a piecemeal restore cannot stop at a point in time (restore without --stopat)",
            h.database
        )));
    }
    let mut keep = vec![1u16];
    for name in &opts.filegroups {
        let f = h
            .files
            .iter()
            .find(|f| f.filegroup.eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                DbBackupError::Refused(format!(
                    "database {} has no filegroup {name:?} in this backup",
                    h.database
                ))
            })?;
        keep.push(f.filegroup_id);
    }
    let mut offline: Vec<u16> = h
        .files
        .iter()
        .map(|f| f.filegroup_id)
        .filter(|id| !keep.contains(id))
        .collect();
    offline.sort();
    offline.dedup();
    // Checked here, where the set's whole file list is known: MOVE itself sees only the
    // files this stage restores, and would call a left-out file missing from the backup.
    for (logical, _) in &opts.moves {
        if let Some(f) = h.files.iter().find(|f| {
            offline.contains(&f.filegroup_id) && f.logical_name.eq_ignore_ascii_case(logical)
        }) {
            return Err(DbBackupError::Refused(format!(
                "MOVE: data file {logical:?} is in filegroup {}, which this partial restore leaves out: MOVE relocates only the files the first stage restores (restore filegroup {} in this stage, with --filegroup, to move it)",
                f.filegroup, f.filegroup
            )));
        }
    }
    if h.model == RecoveryModel::Simple {
        if let Some(f) = h
            .files
            .iter()
            .find(|f| offline.contains(&f.filegroup_id) && !f.read_only)
        {
            return Err(DbBackupError::Refused(format!(
                "database {} uses the simple recovery model: the first stage of a piecemeal restore holds the primary and every read-write filegroup, and filegroup {} is read-write (only read-only filegroups can be restored later)",
                h.database, f.filegroup
            )));
        }
    }
    let sub = SetHeader {
        files: h
            .files
            .iter()
            .filter(|f| !offline.contains(&f.filegroup_id))
            .cloned()
            .collect(),
        ..h.clone()
    };
    restore_full(Job { h: &sub, ..job }, target, None, offline)
}

/// Before recovery: the filegroups a partial restore left out are marked offline at the LSN
/// the database is recovered at (the end of its restored log).
pub(super) fn mark_left_out(dir: &Path, s: &State) -> Result<()> {
    if !s.offline.is_empty() {
        file::mark_offline(dir, &s.offline, s.log_end)?;
    }
    Ok(())
}

/// The set's files that a restoring database has (a partial restore left the others out).
pub(super) fn present_files(h: &SetHeader, s: &State) -> SetHeader {
    SetHeader {
        files: h
            .files
            .iter()
            .filter(|f| !s.offline.contains(&f.filegroup_id))
            .cloned()
            .collect(),
        ..h.clone()
    }
}

/// Whether a restore was a later stage of a piecemeal restore.
pub(super) enum Later {
    Done(Box<RestoreOutcome>),
    /// Not one: the restore goes on as usual, with the target.
    NotPiecemeal(Target),
}

/// A later stage: a backup restored into an online database with offline filegroups, for one
/// of them (`opts.filegroup`), or to continue the stage in progress.
pub(super) fn restore_later(job: Job<'_>, target: Target) -> Result<Later> {
    let Job { dir, h, opts, .. } = job;
    let Target::Database(name, guid) = &target else {
        return Ok(Later::NotPiecemeal(target));
    };
    let Some(boot) = read_boot(dir).filter(|b| b.filegroups.iter().any(|g| g.offline.is_some()))
    else {
        return Ok(Later::NotPiecemeal(target));
    };
    let scratch = dir.join(PIECEMEAL_DIR);
    // Never through a link planted there.
    let begun = match fs::symlink_metadata(&scratch) {
        Ok(m) if m.is_dir() => true,
        Ok(_) => {
            return Err(DbBackupError::Refused(format!(
                "{} is not a directory: remove it and restore the filegroup again",
                scratch.display()
            )))
        }
        Err(_) => false,
    };
    if opts.page.is_some() || (opts.filegroup.is_none() && !begun) {
        return Ok(Later::NotPiecemeal(target));
    }
    if matches!(opts.recovery, Recovery::Standby(_)) {
        return Err(DbBackupError::Refused(format!(
            "{} is online with filegroups offline (a piecemeal restore): a later stage restores a filegroup into it, and STANDBY applies to a database being restored whole; restore without --standby",
            dir.display()
        )));
    }
    if let Some(fg) = &opts.filegroup {
        let g = boot.filegroup(fg).cloned().ok_or_else(|| {
            DbBackupError::Refused(format!("database {name} has no filegroup {fg:?}"))
        })?;
        if g.offline.is_none() {
            return Ok(Later::NotPiecemeal(target));
        }
        if *guid != h.db_guid {
            return Err(DbBackupError::Refused(format!(
                "{} holds database {name} (id {}), the backup is of database {}: an offline filegroup is restored from a backup of the same database",
                dir.display(),
                crate::engine::db::guid_string(guid),
                name_guid(h)
            )));
        }
        refuse_stopat(opts, dir)?;
        refuse_open_elsewhere(dir)?;
        return begin(job, &boot, &g, &scratch).map(|o| Later::Done(Box::new(o)));
    }
    if *guid != h.db_guid {
        return Err(DbBackupError::Refused(format!(
            "{} holds database {name}, which is restoring an offline filegroup, the backup is of database {}",
            dir.display(),
            name_guid(h)
        )));
    }
    refuse_stopat(opts, dir)?;
    refuse_open_elsewhere(dir)?;
    let s = match inspect_target(&scratch)? {
        Target::Restoring(s) => s,
        _ => {
            return Err(DbBackupError::Refused(format!(
                "{}: not a restoring work database; remove it and restore the filegroup again",
                scratch.display()
            )))
        }
    };
    let g = stage_filegroup(&boot, &s)?;
    let point = g.offline.unwrap_or_default();
    // A log that holds the point is restored up to it (`until`); a backup past it is refused.
    let past = match h.kind {
        BackupType::Log => h.first_lsn >= point,
        _ => h.checkpoint_lsn > point,
    };
    if past && h.kind == BackupType::Log && h.fork_guid != s.fork_guid {
        // The database's own log backups since the first stage (its fork): refused rather
        // than taken as a no-op, since the stage ends when its log reaches the point, so one
        // still waiting lacks the logs before it, and a success here would leave the
        // filegroup offline without saying which backups are missing.
        return Err(DbBackupError::Refused(format!(
            "not needed: the log backup LSN {}..{} starts at or after LSN {point}, where filegroup {} went offline (it did not change after that, and the logs taken since are not needed for it); the work database is restored up to LSN {}: restore the log backups from there up to LSN {point}",
            h.first_lsn, h.last_lsn, g.name, s.log_end
        )));
    }
    if past {
        return Err(DbBackupError::Refused(format!(
            "the {} backup LSN {}..{} goes past LSN {point}, where the database was recovered when filegroup {} went offline: the filegroup would be newer than the rest of the database",
            h.kind.name(),
            h.first_lsn,
            h.last_lsn,
            g.name
        )));
    }
    let scratch_opts = RestoreOptions {
        recovery: Recovery::NoRecovery,
        ..RestoreOptions::default()
    };
    let sjob = Job {
        dir: &scratch,
        opts: &scratch_opts,
        until: Some(point),
        ..job
    };
    // A log or differential restore into the work database killed half way goes on when
    // run again, as into any restoring database (its progress file is the work database's).
    let resumed = super::restart::gate(&scratch, h, &scratch_opts)?;
    let out = match h.kind {
        BackupType::Log => restore_log(sjob, Target::Restoring(s), resumed)?,
        BackupType::Differential => restore_diff(sjob, Target::Restoring(s), resumed)?,
        _ => {
            return Err(DbBackupError::Refused(format!(
                "filegroup {} is being restored in {}: continue with its differential and log backups (or restore the filegroup again with --filegroup {})",
                g.name,
                scratch.display(),
                g.name
            )))
        }
    };
    super::restart::finish(&scratch)?;
    complete_if_there(dir, &scratch, &g, out).map(|o| Later::Done(Box::new(o)))
}

/// A later stage copies the filegroup's files into the online database and opens it to bring
/// the filegroup online: with the database open in another process, the files were copied in
/// under it and the stage failed at its end (and running its last log again was then refused
/// as already restored). Refused before anything is done instead.
/// A later stage brings its filegroup to the point the database was recovered at, which the
/// first stage fixed: a STOPAT given to it could only disagree with that point or repeat it,
/// and is refused rather than ignored.
fn refuse_stopat(opts: &RestoreOptions, dir: &Path) -> Result<()> {
    if opts.stopat_ms.is_some() {
        return Err(DbBackupError::Refused(format!(
            "{} is online with filegroups offline (a piecemeal restore): a later stage brings its filegroup to the point where the database was recovered, which the first stage fixed; restore without --stopat",
            dir.display()
        )));
    }
    Ok(())
}

fn refuse_open_elsewhere(dir: &Path) -> Result<()> {
    drop(crate::engine::db::lock_dir(dir)?);
    Ok(())
}

/// The filegroup the work database restores: its one filegroup besides the primary that is
/// not left out.
fn stage_filegroup(boot: &Boot, s: &State) -> Result<FilegroupInfo> {
    boot.filegroups
        .iter()
        .find(|g| g.id != 1 && !s.offline.contains(&g.id) && g.offline.is_some())
        .cloned()
        .ok_or_else(|| {
            DbBackupError::Refused(
                "the work database of the piecemeal restore restores no offline filegroup; remove it and restore the filegroup again".into(),
            )
        })
}

/// Starts a later stage for filegroup `g` from a full or file backup.
fn begin(job: Job<'_>, boot: &Boot, g: &FilegroupInfo, scratch: &Path) -> Result<RestoreOutcome> {
    let Job { dir, stage, h, .. } = job;
    let point = g.offline.unwrap_or_default();
    if !matches!(h.kind, BackupType::Full | BackupType::File) {
        return Err(DbBackupError::Refused(format!(
            "filegroup {} is offline: restore it from a full or file backup first (--filegroup {}), then its logs",
            g.name, g.name
        )));
    }
    let files: Vec<_> = h
        .files
        .iter()
        .filter(|f| f.filegroup_id == g.id)
        .cloned()
        .collect();
    if files.is_empty() || files.iter().any(|f| f.pages_in_set == 0) {
        return Err(DbBackupError::Refused(format!(
            "the backup does not hold the files of filegroup {}: restore it from a full backup or a backup of that filegroup",
            g.name
        )));
    }
    if boot.model == RecoveryModel::Simple {
        let read_only = files.iter().all(|f| f.read_only) && g.read_only;
        if !read_only {
            return Err(DbBackupError::Refused(format!(
                "database {} uses the simple recovery model: only read-only filegroups are restored after the first stage of a piecemeal restore, and filegroup {} is read-write (restore the whole database)",
                boot.name, g.name
            )));
        }
        // Read-only since before the backup: its files are put back as they are.
        let sub = SetHeader { files, ..h.clone() };
        check_files(dir, &sub)?;
        put_files(dir, stage, &sub)?;
        bring_online(dir, g)?;
        let mut out = outcome(h, point);
        out.recovered = true;
        return Ok(out);
    }
    // A backup whose copy ends after the point is refused; one whose log goes on past it (the
    // point was a STOPAT inside it) is restored up to the point (`until`).
    if h.checkpoint_lsn > point {
        return Err(DbBackupError::Refused(format!(
            "the backup's copy ends at LSN {}, after LSN {point}, where the database was recovered when filegroup {} went offline: restore a backup taken before that",
            h.checkpoint_lsn, g.name
        )));
    }
    if h.kind == BackupType::File && !h.files.iter().any(|f| f.filegroup_id == 1) {
        return Err(DbBackupError::Refused(format!(
            "the file backup holds no primary filegroup: restore filegroup {} from a full backup",
            g.name
        )));
    }
    // A new work database: the primary and the filegroup, the others left out. A stage
    // killed before goes whole: its work database, and the work directory and progress file
    // its full restore left beside it (in the database directory, which would otherwise keep
    // them for good).
    if fs::symlink_metadata(scratch).is_ok() {
        fs::remove_dir_all(scratch).map_err(io_err("remove", scratch))?;
    }
    super::restart::discard(scratch)?;
    let keep = [1, g.id];
    let others: Vec<u16> = boot
        .filegroups
        .iter()
        .map(|x| x.id)
        .filter(|id| !keep.contains(id))
        .collect();
    let sub = SetHeader {
        kind: BackupType::Full,
        files: h
            .files
            .iter()
            .filter(|f| keep.contains(&f.filegroup_id))
            .cloned()
            .collect(),
        ..h.clone()
    };
    let scratch_opts = RestoreOptions {
        recovery: Recovery::NoRecovery,
        ..RestoreOptions::default()
    };
    let sjob = Job {
        dir: scratch,
        h: &sub,
        opts: &scratch_opts,
        until: Some(point),
        ..job
    };
    let out = restore_full(sjob, Target::Missing, None, others)?;
    super::restart::finish(scratch)?;
    let out = RestoreOutcome {
        header: h.clone(),
        ..out
    };
    complete_if_there(dir, scratch, g, out)
}

/// When the work database's log has reached the point: recovers it there, copies the
/// filegroup's files into the database and brings it online.
fn complete_if_there(
    dir: &Path,
    scratch: &Path,
    g: &FilegroupInfo,
    mut out: RestoreOutcome,
) -> Result<RestoreOutcome> {
    let point = g.offline.unwrap_or_default();
    let s = State::read(scratch)?.ok_or_else(|| {
        DbBackupError::Refused(format!("{}: the restore state is gone", scratch.display()))
    })?;
    out.recovered = false;
    out.log_end = s.log_end;
    if s.log_end < point {
        return Ok(out);
    }
    mark_left_out(scratch, &s)?;
    Database::open(scratch)?.close()?;
    let boot = read_boot(dir).ok_or_else(|| {
        DbBackupError::Refused(format!(
            "{}: the database's boot record cannot be read",
            dir.display()
        ))
    })?;
    for f in boot.files.iter().filter(|f| f.filegroup == g.id) {
        copy_file(&scratch.join(&f.file_name), &f.resolve(dir), f.id, point)?;
    }
    bring_online(dir, g)?;
    fs::remove_dir_all(scratch).map_err(io_err("remove", scratch))?;
    out.recovered = true;
    Ok(out)
}

/// Copies a data file written beside its target, then renamed over it (never through a link
/// planted there); no page claims an LSN past `point`.
fn copy_file(from: &Path, to: &Path, id: u16, point: Lsn) -> Result<()> {
    let src = DataFile::open(id, from, false)?;
    let tmp: PathBuf = {
        let name = to
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        to.with_file_name(format!(".{name}.piecemeal"))
    };
    let _ = fs::remove_file(&tmp);
    let out = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(io_err("create", &tmp))?;
    let pages = src.len_pages()?;
    let copied = (|| -> Result<()> {
        for no in 0..pages as u32 {
            let mut p = src.read_raw(no)?;
            let pid = crate::engine::PageId { file: id, page: no };
            if p.verify(pid).is_ok() && p.lsn() > point {
                p.set_lsn(point);
                p.seal();
            }
            out.write_all_at(&p.0[..], no as u64 * PAGE_SIZE as u64)
                .map_err(io_err("write", &tmp))?;
        }
        out.sync_all().map_err(io_err("fsync", &tmp))
    })();
    if let Err(e) = copied {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    drop(out);
    fs::rename(&tmp, to).map_err(io_err("rename into place", to))?;
    if let Some(d) = to.parent() {
        super::restore::sync_dir(d)?;
    }
    Ok(())
}

fn bring_online(dir: &Path, g: &FilegroupInfo) -> Result<()> {
    let db = Database::open(dir)?;
    db.bring_filegroup_online(&g.name)?;
    db.close()?;
    Ok(())
}

/// A full or differential backup copies every filegroup: refused while one is offline (a
/// log backup, and a file backup of an online filegroup, are not).
pub(super) fn refuse_offline_backup(
    info: &crate::engine::DbInfo,
    kind: BackupType,
    filegroup: Option<&str>,
) -> Result<()> {
    for g in info.filegroups.iter().filter(|g| g.offline.is_some()) {
        let named = filegroup.is_some_and(|f| g.name.eq_ignore_ascii_case(f));
        if matches!(kind, BackupType::Full | BackupType::Differential)
            || (kind == BackupType::File && named)
        {
            return Err(DbBackupError::Refused(format!(
                "filegroup {} of database {} is offline (a piecemeal restore is not finished): restore it before a {} backup",
                g.name,
                info.name,
                kind.name()
            )));
        }
    }
    Ok(())
}
