//! File (filegroup) and page restore: one filegroup's files (or one page) out of a file backup or a full backup, into
//! an existing database, then the log backups that bring them up to date.
//!
//! The reference documents' sequence: take a tail-log backup of the damaged database (NO_TRUNCATE,
//! NORECOVERY: it leaves the directory restoring), restore the filegroup's backup, restore every
//! log backup since it, and the tail-log backup WITH RECOVERY. Here the filegroup's files are
//! rebuilt from the set's pages and the restoring log restarts at the set's log (its first
//! LSN, its checkpoint); the other files stay as they are, newer than that log, and redo leaves
//! their pages alone (a page is redone only when its LSN is older than the record's). Recovery
//! waits until the log reaches the end of the tail-log backup, where the other files are:
//! before it, the restored files would not match the rest of the database.
//!
//! Recovered there, the database is where it was before the damage, nothing lost and nothing
//! branched: as SQL Server's online file and page restores, it starts no recovery fork and
//! keeps its log chain and its differential base. The next log backup starts at the end of the
//! tail-log backup (`Database::continue_log_chain`), a differential is still based on the last
//! full, and the whole database can be restored from that full through the logs, the tail and
//! the logs after it (the planner builds that sequence: the LSNs follow on, one fork). A fork
//! would tell the planner that the logs after the restore lead elsewhere than the tail, which
//! they do not.
//!
//! Restrictions (the documents' table): under the simple recovery model, a file restore is for
//! read-only filegroups only; a read-only filegroup's files are put back in place with the
//! database online, as nothing of them changed since (no log is needed). A point in time is
//! never restored after a file restore.
//!
//! The primary filegroup too (full and bulk-logged models, offline: the documents' "File
//! Restores" of the primary), although its file holds the boot record (file list, filegroups,
//! recovery model, log chain, differential base, fork). The restored boot record is the
//! backup's, older than the database, and log replay brings it up to date: every change of it
//! is logged as an image of the boot page (`Core::set_boot`), and the file list is fixed when
//! the database is created, so the backup's record names the same files. What the log does not
//! say is where the files are now (a MOVE of a full restore changes the paths without logging
//! them): those come from the restoring database (`current_boot`: the damaged primary's boot
//! page if it still reads, else the newest image of it in the restoring log; the primary's own
//! path from `refdb.location`), written into the restored boot page as a MOVE restore does, and
//! kept by redo (`boot_with_paths`). The log is replaced where `refdb.location` says it is.
//! The other files are not touched until the recovery at the end of the tail, which finds
//! their pages newer than the log and leaves them; the recovered boot record is the tail's,
//! and the log chain goes on from there as for any file restore. Under simple it is refused:
//! the primary filegroup is read-write, and there is no log to bring it up to date.
//!
//! A refused restore (another database's backup, a log past the tail, a log gap afterwards)
//! changes nothing; one killed after the primary file was put back leaves the directory
//! restoring as the tail left it (the state file is written last) with a mark (`FILE_MARK`,
//! written before the first page is put back, removed once the log is replaced) that makes
//! RECOVERY with no backup refuse it, and the same restore run again finishes it (the primary
//! it put back says where the files are).

use super::header::SetHeader;
use super::incoming::Incoming;
use super::relocate::Placement;
use super::restore::{
    finish_in_place, name_guid, outcome, refuse_early_recovery, refuse_other_fork, replace_log,
    restoring_state, sync_dir, write_data_files, write_new, Job, RestoreOutcome, State, Target,
    TempDir, FILE_MARK,
};
use super::{io_err, DbBackupError, Result};
use crate::engine::file::{read_boot, Boot};
use crate::engine::page::{PageId, PAGE_SIZE};
use crate::engine::RecoveryModel;
use std::fs;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

/// Restores the filegroup `job.opts.filegroup` names from the set in staging.
pub(super) fn restore_files(job: Job<'_>, target: Target) -> Result<RestoreOutcome> {
    let Job {
        dir,
        stage,
        h,
        opts,
        ..
    } = job;
    let fg = opts.filegroup.as_deref().unwrap_or_default();
    let files: Vec<_> = h
        .files
        .iter()
        .filter(|f| f.filegroup.eq_ignore_ascii_case(fg))
        .cloned()
        .collect();
    if files.is_empty() {
        return Err(DbBackupError::Refused(format!(
            "database {} has no filegroup {fg:?} in this backup",
            h.database
        )));
    }
    if let Some(f) = files.iter().find(|f| f.pages_in_set == 0) {
        return Err(DbBackupError::Refused(format!(
            "the backup holds no pages of data file {} ({}) of filegroup {fg}: restore it from a backup of that filegroup or a full backup",
            f.logical_name, f.file_name
        )));
    }
    let primary = files.iter().any(|f| f.filegroup_id == 1);
    if opts.stopat_ms.is_some() {
        return Err(DbBackupError::Refused(
            "a file restore cannot stop at a point in time: the file is brought up to the rest of the database".into(),
        ));
    }
    let read_only = files.iter().all(|f| f.read_only) && !primary;
    if h.model == RecoveryModel::Simple && primary {
        return Err(DbBackupError::Refused(format!(
            "database {} uses the simple recovery model: a file restore is only for read-only filegroups (there is no log backup to bring a read-write file up to date), and the primary filegroup {fg} is read-write: restore the whole database",
            h.database
        )));
    }
    if h.model == RecoveryModel::Simple && !read_only {
        return Err(DbBackupError::Refused(format!(
            "database {} uses the simple recovery model: a file restore is only for read-only filegroups, and filegroup {fg} was read-write when backed up (restore the whole database)",
            h.database
        )));
    }
    let sub = SetHeader {
        files: files.clone(),
        ..h.clone()
    };
    match target {
        Target::Database(name, guid) if guid == h.db_guid && read_only => {
            let boot = check_files(dir, &sub)?;
            let now_ro = boot
                .filegroups
                .iter()
                .find(|g| g.id == files[0].filegroup_id)
                .is_some_and(|g| g.read_only);
            if !now_ro {
                return Err(DbBackupError::Refused(format!(
                    "filegroup {fg} of database {name} is read-write now: it may have changed since the backup; take a tail-log backup (NO_TRUNCATE, NORECOVERY) and restore the logs after the file"
                )));
            }
            put_files(dir, stage, &sub)?;
            let mut out = outcome(h, h.last_lsn);
            out.recovered = true;
            Ok(out)
        }
        Target::Database(name, guid) if guid == h.db_guid => Err(DbBackupError::Refused(format!(
            "{} holds database {name}, which is not restoring: the tail of its log is needed to bring filegroup {fg} up to date; take a tail-log backup (NO_TRUNCATE, NORECOVERY) first",
            dir.display()
        ))),
        Target::Database(name, guid) => Err(DbBackupError::Refused(format!(
            "{} holds a different database named {name} (id {}), not the backup's {}",
            dir.display(),
            crate::engine::db::guid_string(&guid),
            name_guid(h)
        ))),
        target if primary => restart_from_set(
            job,
            target,
            |s| {
                let boot = current_boot(dir, s)?;
                check_all_in(dir, &sub, &boot)?;
                Ok(boot)
            },
            |boot| {
                let ids: Vec<u16> = sub.files.iter().map(|f| f.file_id).collect();
                let placement = Placement::for_file_restore_by(dir, &boot, &ids)?;
                put_files_placed(dir, stage, &sub, placement)
            },
        ),
        target => restart_from_set(
            job,
            target,
            |_| Ok(()),
            |()| {
                check_files(dir, &sub)?;
                put_files(dir, stage, &sub)
            },
        ),
    }
}

/// The boot record of the database restoring in `dir` (the one `s` describes), for a file
/// restore of its primary filegroup: where its files are now comes from it, not from the
/// backup, whose boot record is older (a MOVE since put files elsewhere). The primary's boot
/// page when it reads as this database's: it holds the files' paths as they are (the engine
/// keeps them there, and a killed run of this restore wrote them into the primary it put
/// back). Else (the boot page itself damaged) the newest image of it the restoring log holds,
/// as the engine's open does with a torn boot page; the log is read, never changed. The
/// primary's own path is the location file's either way, as the engine's open checks.
fn current_boot(dir: &Path, s: &State) -> Result<Boot> {
    let loc = crate::engine::db::locate(dir)?;
    let primary = loc.primary(dir);
    let on_disk = crate::engine::file::DataFile::open(1, &primary, false)
        .and_then(|f| f.read_page(0))
        .ok()
        .and_then(|p| Boot::from_page(&p))
        .filter(|b| b.db_guid == s.db_guid);
    let mut boot = match on_disk {
        Some(b) => b,
        None => {
            let lpath = loc.log(dir);
            let img = crate::engine::wal::Log::newest_image(
                &lpath,
                s.db_guid,
                PageId { file: 1, page: 0 },
            )
            .map_err(|e| {
                DbBackupError::Refused(format!(
                    "{}: the boot page of the primary data file does not read, and the restoring log cannot stand in for it ({e}): restore the whole database",
                    primary.display()
                ))
            })?;
            img.as_ref()
                .and_then(Boot::from_page)
                .filter(|b| b.db_guid == s.db_guid)
                .ok_or_else(|| {
                    DbBackupError::Refused(format!(
                        "{}: the boot page of the primary data file does not read, and the restoring log {} holds no image of it: restore the whole database",
                        primary.display(),
                        lpath.display()
                    ))
                })?
        }
    };
    if let Some(f) = boot.files.iter_mut().find(|f| f.id == 1) {
        f.path = loc.primary.clone();
    }
    if let Some(g) = boot.filegroups.iter().find(|g| g.offline.is_some()) {
        return Err(DbBackupError::Refused(format!(
            "filegroup {} of database {} is offline (a piecemeal restore): bring it online before restoring the primary filegroup, or restore the whole database",
            g.name, s.database
        )));
    }
    Ok(boot)
}

/// Into a database left restoring (by a tail-log backup): `check` looks at the database before
/// anything changes (a refusal leaves a database in standby readable), `put` writes the set's
/// pages, the log restarts at the set's log, and recovery waits until it reaches where the
/// database's log ended.
fn restart_from_set<T>(
    job: Job<'_>,
    target: Target,
    check: impl FnOnce(&State) -> Result<T>,
    put: impl FnOnce(T) -> Result<()>,
) -> Result<RestoreOutcome> {
    let Job {
        dir, h, log, opts, ..
    } = job;
    let s = restoring_state(dir, target, h, "backup")?;
    let s_before = s.clone();
    refuse_other_fork(h, &s)?;
    if h.last_lsn > s.log_end {
        return Err(DbBackupError::Refused(format!(
            "the backup ends at LSN {}, after the database's log (LSN {}): it is not a backup of this database's past",
            h.last_lsn, s.log_end
        )));
    }
    let state = State {
        full_guid: h.set_guid,
        log_end: h.last_lsn,
        needed: s.needed.max(s.log_end),
        ..s
    };
    refuse_early_recovery(&state, h.last_lsn, opts)?;
    let checked = check(&s_before)?;
    // Everything checked: a database in standby is put back to restoring only now, so that a
    // refused file or page restore leaves it readable as it was.
    super::standby::leave(dir, &s_before)?;
    // Until the log is replaced, the state still says what the tail-log backup left: a mark
    // says the files are half way, so that RECOVERY with no backup does not open them as the
    // database's own (the same restore run again finishes it and removes the mark).
    let mark = dir.join(FILE_MARK);
    write_new(
        &mark,
        crate::engine::db::guid_string(&h.set_guid).as_bytes(),
    )?;
    sync_dir(dir)?;
    put(checked)?;
    replace_log(dir, h, log, h.last_lsn)?;
    fs::remove_file(&mark).map_err(io_err("remove", &mark))?;
    sync_dir(dir)?;
    finish_in_place(dir, h, state, opts, false)
}

/// Page restore: one page out of a full or file backup, into the database left restoring by a
/// tail-log backup, then the logs since (as a file restore). Refused under the simple model;
/// a file's header page and first allocation map are restored with their file.
pub(super) fn restore_page(job: Job<'_>, target: Target) -> Result<RestoreOutcome> {
    let Job {
        dir,
        stage,
        h,
        opts,
        ..
    } = job;
    let (file, page) = opts.page.unwrap_or_default();
    if h.model == RecoveryModel::Simple {
        return Err(DbBackupError::Refused(format!(
            "database {} uses the simple recovery model, which has no page restore: restore the whole database",
            h.database
        )));
    }
    if page < 2 {
        return Err(DbBackupError::Refused(format!(
            "page {file}:{page} is the file's header or its allocation map: restore the file (--filegroup) or the database"
        )));
    }
    if opts.stopat_ms.is_some() || opts.filegroup.is_some() {
        return Err(DbBackupError::Refused(
            "a page restore takes neither a point in time nor a filegroup".into(),
        ));
    }
    let entry = h.files.iter().find(|f| f.file_id == file).ok_or_else(|| {
        DbBackupError::Refused(format!("the backup names no data file with id {file}"))
    })?;
    let sub = SetHeader {
        files: vec![entry.clone()],
        ..h.clone()
    };
    if let Target::Database(name, _) = &target {
        return Err(DbBackupError::Refused(format!(
            "{} holds database {name}, which is not restoring: take a tail-log backup (NO_TRUNCATE, NORECOVERY) first, then restore the page and the logs since",
            dir.display()
        )));
    }
    restart_from_set(
        job,
        target,
        |_| Ok(()),
        |()| {
            let boot = check_file_ids(dir, &sub)?;
            let found = match stage.image(file) {
                Some(img) => img.read_page(page)?,
                None => None,
            };
            let p = found
                .filter(|p| p.verify(PageId { file, page }).is_ok())
                .ok_or_else(|| {
                    DbBackupError::Refused(format!(
                        "the backup holds no undamaged copy of page {file}:{page}"
                    ))
                })?;
            let path = boot
                .files
                .iter()
                .find(|b| b.id == file)
                .map_or_else(|| dir.join(&entry.file_name), |b| b.resolve(dir));
            let out = std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&path)
                .map_err(io_err("open data file (not following a link)", &path))?;
            out.write_all_at(&p.0[..], page as u64 * PAGE_SIZE as u64)
                .and_then(|_| out.sync_all())
                .map_err(io_err("write page into", &path))
        },
    )
}

/// The database's description (its boot page), checked against the files to restore: the same
/// ids, filegroups and file names, so nothing is written beside the database's own files.
fn check_file_ids(dir: &Path, sub: &SetHeader) -> Result<Boot> {
    let primary = crate::engine::db::primary_path(dir)?;
    let boot = read_boot(dir).ok_or_else(|| {
        DbBackupError::Refused(format!(
            "{}: the primary data file cannot be read: restore the whole database",
            primary.display()
        ))
    })?;
    check_ids_in(dir, sub, &boot)?;
    Ok(boot)
}

/// The same against `boot`.
fn check_ids_in(dir: &Path, sub: &SetHeader, boot: &Boot) -> Result<()> {
    for f in &sub.files {
        let same = boot.files.iter().any(|b| {
            b.id == f.file_id && b.filegroup == f.filegroup_id && b.file_name == f.file_name
        });
        if !same {
            return Err(DbBackupError::Refused(format!(
                "the backup's data file {} ({}, id {}) is not a file of the database in {} now: restore the whole database",
                f.logical_name,
                f.file_name,
                f.file_id,
                dir.display()
            )));
        }
    }
    Ok(())
}

/// The same, and every file of the filegroup is in the set.
pub(super) fn check_files(dir: &Path, sub: &SetHeader) -> Result<Boot> {
    let boot = check_file_ids(dir, sub)?;
    check_all_in(dir, sub, &boot)?;
    Ok(boot)
}

/// The same against `boot`.
fn check_all_in(dir: &Path, sub: &SetHeader, boot: &Boot) -> Result<()> {
    check_ids_in(dir, sub, boot)?;
    let fg = sub.files[0].filegroup_id;
    if let Some(b) = boot
        .files
        .iter()
        .find(|b| b.filegroup == fg && !sub.files.iter().any(|f| f.file_id == b.id))
    {
        return Err(DbBackupError::Refused(format!(
            "data file {} ({}) of filegroup {} was added after the backup, which does not hold it: restore the whole database",
            b.logical_name, b.file_name, sub.files[0].filegroup
        )));
    }
    Ok(())
}

/// Builds the files in a work directory, then renames each over the database's file; a file a
/// MOVE put elsewhere is built beside where it is (under a temporary name, made new) and
/// renamed over it, and what was there is put back if the restore fails before the end.
pub(super) fn put_files(dir: &Path, stage: &Incoming, sub: &SetHeader) -> Result<()> {
    let ids: Vec<u16> = sub.files.iter().map(|f| f.file_id).collect();
    put_files_placed(dir, stage, sub, Placement::for_file_restore(dir, &ids)?)
}

/// The same, the files placed by `placement`.
fn put_files_placed(
    dir: &Path,
    stage: &Incoming,
    sub: &SetHeader,
    mut placement: Placement,
) -> Result<()> {
    let work = TempDir::beside(dir, "files")?;
    write_data_files(&work.0, stage, sub, true, &placement)?;
    for f in &sub.files {
        if placement.made_before(f.file_id) {
            continue;
        }
        let from = work.0.join(&f.file_name);
        let to = dir.join(&f.file_name);
        fs::rename(&from, &to).map_err(io_err("rename into place", &to))?;
    }
    sync_dir(dir)?;
    placement.place()?;
    placement.commit();
    Ok(())
}
