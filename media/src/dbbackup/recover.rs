//! RESTORE DATABASE … WITH RECOVERY, no backup named: a database left restoring is recovered
//! where it stands.
//!
//! SQL Server lets a restore sequence end this way when its last backup was restored WITH
//! NORECOVERY (or STANDBY), and it is how a database a tail-log backup WITH NORECOVERY took
//! offline is brought back when no restore follows after all. Without it the only way back
//! online would be the whole sequence again from its full backup: restoring the last log a
//! second time is refused as too early, as SQL Server refuses it.
//!
//! What recovery does depends on how the directory came to be restoring:
//! - **A restore sequence** (the state names the full backup it began with): exactly what a
//!   last restore WITH RECOVERY would have done at this point
//!   ([`super::restore::recover_restoring`]): a database in standby has its undo put back
//!   first, the restoring log must end where the state says (nobody opened it since), a file
//!   or page restore must have reached the end of the tail, and a new recovery fork starts
//!   (none after a file or page restore).
//! - **A tail-log backup WITH NORECOVERY** (no full backup in the state): nothing was
//!   restored, the files and the log are the database's own. It is opened (crash recovery)
//!   and the mark removed: history did not branch and the log chain is left as it was, so
//!   the next log backup starts where the last one that truncated the log ended (the
//!   tail-log backup, taken with NO_TRUNCATE, moved nothing). The log may hold a checkpoint
//!   past the tail's end, written when the backup closed the database: it is the database's
//!   own log, kept.
//!
//! Refused, changing nothing: a database that is not restoring, an interrupted restore into
//! it (run that again), a differential restore that did not finish, a file or page restore
//! that did not finish (killed after it began putting pages back: the state still says what
//! the tail-log backup left, but the files are no longer the database's own), a file restore
//! whose log has not reached the end of the tail, and a database another process has open.

use super::restore::{
    check_log_file, inspect_target, open_restoring_log, recover_restoring, refuse_early_recovery,
    sync_dir, RestoreOptions, Target, DIFF_MARK, FILE_MARK, RESTORING_FILE,
};
use super::{io_err, DbBackupError, Result};
use crate::engine::wal::{Lsn, FILE_HEADER};
use crate::engine::Database;
use std::fs;
use std::path::Path;

/// What [`recover`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovered {
    /// The LSN the database was recovered at (where its restored log ends).
    pub log_end: Lsn,
    /// The new recovery fork, when one starts (a restore sequence recovered).
    pub fork: Option<[u8; 16]>,
}

/// Why the restoring database in `dir` cannot be recovered where it stands, when a restore
/// into it was interrupted (its progress file), or a differential, file or page restore did
/// not finish putting its pages in place: what to run to go on. The commands that refuse a
/// restoring database say this rather than advise a recovery that would be refused.
pub fn unfinished(dir: &Path) -> Result<Option<String>> {
    if let Some(what) = super::restart::interrupted(dir)? {
        return Ok(Some(format!(
            "an interrupted restore of {what} into {} is in progress: run that restore again to finish it (it may recover the database itself)",
            dir.display()
        )));
    }
    if dir.join(DIFF_MARK).exists() {
        return Ok(Some(format!(
            "{}: a differential restore into it did not finish (its pages are partly written): restore that differential again, or the sequence from its full backup",
            dir.display()
        )));
    }
    if dir.join(FILE_MARK).exists() {
        return Ok(Some(format!(
            "{}: a file or page restore into it did not finish (its files are partly put back): run that restore again to finish it, then the log backups since",
            dir.display()
        )));
    }
    Ok(None)
}

/// Recovers the database left restoring in `dir` where it stands (RESTORE … WITH RECOVERY
/// with no backup).
pub fn recover(dir: &Path) -> Result<Recovered> {
    let s = match inspect_target(dir)? {
        Target::Restoring(s) => s,
        Target::Database(name, _) => {
            return Err(DbBackupError::Refused(format!(
                "database {name} in {} is not restoring (it is recovered already): there is nothing to recover",
                dir.display()
            )))
        }
        _ => {
            return Err(DbBackupError::Refused(format!(
                "no database is being restored in {}: there is nothing to recover",
                dir.display()
            )))
        }
    };
    if let Some(why) = unfinished(dir)? {
        return Err(DbBackupError::Refused(why));
    }
    refuse_early_recovery(&s, s.log_end, &RestoreOptions::default())?;
    // A database in standby is readable: nobody may have it open while it is recovered.
    drop(crate::engine::db::lock_dir(dir)?);
    if s.full_guid != [0; 16] {
        check_log_file(dir, &s)?;
        let fork = recover_restoring(dir, &s)?;
        return Ok(Recovered {
            log_end: s.log_end,
            fork,
        });
    }
    // Left restoring by a tail-log backup: its own files and log, whole to the tail's end.
    let (_, lpath, base, len) = open_restoring_log(dir)?;
    if len < FILE_HEADER + s.log_end.saturating_sub(base) {
        return Err(DbBackupError::Refused(format!(
            "{}: the log ends before LSN {}, where the tail-log backup that left the database restoring ended: it was cut since; restore the database from its backups",
            lpath.display(),
            s.log_end
        )));
    }
    Database::open(dir)?.close()?;
    let p = dir.join(RESTORING_FILE);
    fs::remove_file(&p).map_err(io_err("remove", &p))?;
    sync_dir(dir)?;
    Ok(Recovered {
        log_end: s.log_end,
        fork: None,
    })
}
