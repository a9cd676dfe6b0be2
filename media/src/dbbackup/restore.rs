//! Restore sequences, by the reference documents' rules.
//!
//! A set is first read whole from its media into a staging directory beside the target (never
//! into the target), and its header checked; only then is the target changed:
//!
//! - **Full** (or a full set given for a new sequence): a new database directory is built in
//!   staging (data files from the pages, the log file from the set's log, starting at the set's
//!   first LSN with its checkpoint as the restart point) and takes the target's place by rename.
//!   A target that holds another database, a database not in a restore sequence, or files at
//!   the database's file names is refused unless REPLACE, and left as it was; other files (not
//!   a database's) are never deleted, REPLACE or not, nor is a database open in another process
//!   replaced.
//! - **Differential:** its base must be the full the sequence began with; its pages are written
//!   over the restoring files and its log replaces the restoring log.
//! - **Log:** it must continue the restoring log exactly where it ends (a gap names the missing
//!   LSN range); its records from there are appended, up to STOPAT (the first commit after the
//!   point ends the log there). A log holding bulk-logged changes refuses STOPAT.
//! - **NORECOVERY** leaves the directory restoring: the file `refdb.restoring` records the
//!   sequence (database, base, where the log ends). **RECOVERY** opens the database (ARIES
//!   recovery: redo, then undo of what never committed), starts a new recovery fork and a new
//!   log chain (the next log backup waits for a full backup), and ends the sequence: an
//!   already-recovered database refuses further logs. Not so after a file or page restore:
//!   there recovery happens only where the rest of the database already was (the end of the
//!   tail-log backup), so history stays linear, no fork is started, and the log chain and the
//!   differential base go on (see `file_restore`). Nor after the first stage of a piecemeal
//!   restore: its fork keeps the log chain and records its parent, and a log of that fork is
//!   taken by a database restoring in the parent exactly at the fork point (see `piecemeal`).
//!
//! - **File and page restore** (a filegroup, or one page, out of a file or full backup): see
//!   `file_restore`.
//!
//! - **MOVE** (a full restore puts data files elsewhere): see `relocate`.
//!
//! - **STANDBY** (readable between log restores, the undo kept in an undo file): see
//!   [`super::standby`]; the next restore puts the undo back first (in `check_log_file`).
//!
//! - **RESTART** (an interrupted restore continued, not mixed with another): see
//!   [`super::restart`].
//!
//! - **Piecemeal restore** (PARTIAL: the primary filegroup and the named ones first, the
//!   others later): see `piecemeal`.

use super::header::{flags, SetHeader, FORMAT_VERSION};
pub(super) use super::incoming::write_data_files;
use super::incoming::Incoming;
use super::relocate::{self, Placement};
use super::{io_err, BackupType, DbBackupError, Result};
use crate::changer::MediaChanger;
use crate::engine::file::read_boot;
use crate::engine::wal::{self, RecordBody, FILE_HEADER};
use crate::engine::{Database, Lsn};
use crate::restore::ReadSpec;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// The file that marks a directory as restoring, with the sequence's state.
pub const RESTORING_FILE: &str = "refdb.restoring";
/// Where the state is written before it is renamed over [`RESTORING_FILE`].
const STATE_TMP: &str = ".refdb.restoring.tmp";
/// Where a differential's log is written before it is renamed over the restoring log.
const LOG_TMP: &str = ".log.ldf.restoring";
/// In a full restore's work directory while it is built with MOVE (see `restore_full`).
const MOVED_MARK: &str = "refdb.restoring.moved";
/// Present while a differential's pages are written over the restoring files.
pub(super) const DIFF_MARK: &str = "refdb.restoring.differential";
/// Written before a file or page restore puts the set's pages back, removed once the restoring
/// log is replaced: until then the state still says what the tail-log backup left, and the
/// files are neither the database's nor the set's.
pub(super) const FILE_MARK: &str = "refdb.restoring.files";

/// How a restore ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recovery {
    /// Recover: the database opens; no more backups can be restored to it.
    Recovery,
    /// Stay restoring: more backups can follow.
    NoRecovery,
    /// STANDBY: recover so that the database can be read (not changed), keeping the undo in
    /// this undo file so that more logs can still follow (see `standby`).
    Standby(PathBuf),
}

/// How to restore.
#[derive(Clone, Debug)]
pub struct RestoreOptions {
    pub recovery: Recovery,
    /// Point in time (Unix ms, UTC): commits after it are not restored.
    pub stopat_ms: Option<u64>,
    /// Overwrite what is in the target.
    pub replace: bool,
    /// File restore: restore only this filegroup's files (out of a file or a full backup).
    pub filegroup: Option<String>,
    /// Page restore: restore only this page (file id, page number) out of a full or file
    /// backup.
    pub page: Option<(u16, u32)>,
    /// MOVE: data files (by logical name) a full restore puts elsewhere than the database
    /// directory, at a path relative to it or absolute (see `relocate`).
    pub moves: Vec<(String, String)>,
    /// RESTART: continue an interrupted restore of the same set (see `restart`).
    pub restart: bool,
    /// PARTIAL (piecemeal restore): a full backup restores only the primary filegroup and
    /// the filegroups in `filegroups`; the others stay offline until restored later (see
    /// `piecemeal`).
    pub partial: bool,
    /// With `partial`: the filegroups restored besides the primary one.
    pub filegroups: Vec<String>,
    /// Counts the set's bytes read off the media of its total (the sizes of its files), for
    /// the caller to show (see [`super::Progress`]); `None`: nothing is counted.
    pub progress: Option<super::Progress>,
    /// The set the caller means (its BackupSetGUID, as the history recorded it): a set read
    /// with another GUID is refused before anything changes. A medium the history names may
    /// have been written over since (`--format`), and its set at the recorded position is
    /// then another backup (another database's, or a later one) that must never be restored
    /// as the planned one. `None`: whatever set is read.
    pub expect_set: Option<[u8; 16]>,
}

impl Default for RestoreOptions {
    fn default() -> Self {
        RestoreOptions {
            recovery: Recovery::Recovery,
            stopat_ms: None,
            replace: false,
            filegroup: None,
            page: None,
            moves: Vec::new(),
            restart: false,
            partial: false,
            filegroups: Vec::new(),
            progress: None,
            expect_set: None,
        }
    }
}

/// What a restore did.
#[derive(Debug)]
pub struct RestoreOutcome {
    pub header: SetHeader,
    /// Whether the database was recovered (it may stay restoring when STOPAT lies past the
    /// log restored).
    pub recovered: bool,
    /// Where the restored log ends.
    pub log_end: Lsn,
    /// The new recovery fork, when recovered; `None` after a file or page restore, which
    /// brings the restored part to where the rest of the database is (nothing branches).
    pub fork: Option<[u8; 16]>,
    pub media: crate::restore::RestoreReport,
}

/// Where a restore sequence into a directory stands (see [`standing`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Standing {
    /// The set (its GUID) an interrupted restore into the directory was restoring: the same
    /// restore run again finishes it, and any other is refused until it does.
    pub interrupted: Option<[u8; 16]>,
    /// The database is restoring: the full backup (its set GUID) its sequence began with, and
    /// where its restored log ends.
    pub restoring: Option<([u8; 16], Lsn)>,
}

/// Where a restore sequence into `dir` stands, read without changing anything: for a caller
/// that runs a sequence of restores (`refdb plan --execute`) and, run again after it was
/// killed, must go on where it stopped rather than start over at the full backup (which the
/// interrupted restore's progress file refuses).
pub fn standing(dir: &Path) -> Result<Standing> {
    Ok(Standing {
        interrupted: super::restart::interrupted_set(dir)?,
        restoring: State::read(dir)?.map(|s| (s.full_guid, s.log_end)),
    })
}

/// The sequence state kept in [`RESTORING_FILE`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct State {
    pub(super) db_guid: [u8; 16],
    pub(super) database: String,
    /// The full backup the sequence began with (its set GUID).
    pub(super) full_guid: [u8; 16],
    /// Where the restoring log ends (the next LSN to restore).
    pub(super) log_end: Lsn,
    /// Its fork.
    pub(super) fork_guid: [u8; 16],
    /// After a file restore: the LSN the log must reach before recovery (where the rest of
    /// the database is, the end of the tail-log backup); 0 = none.
    pub(super) needed: Lsn,
    /// A piecemeal restore: the filegroups left out (their files are not restored; recovery
    /// marks them offline).
    pub(super) offline: Vec<u16>,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
fn unhex16(s: &str) -> Option<[u8; 16]> {
    if s.len() != 32 {
        return None;
    }
    let mut b = [0u8; 16];
    for (i, x) in b.iter_mut().enumerate() {
        *x = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(b)
}

impl State {
    pub(super) fn write(&self, dir: &Path) -> Result<()> {
        let mut text = format!(
            "refdb restoring 1\ndb_guid {}\ndatabase {}\nfull_guid {}\nlog_end {}\nfork_guid {}\nneeded {}\n",
            hex(&self.db_guid),
            hex(self.database.as_bytes()),
            hex(&self.full_guid),
            self.log_end,
            hex(&self.fork_guid),
            self.needed
        );
        if !self.offline.is_empty() {
            let ids: Vec<String> = self.offline.iter().map(u16::to_string).collect();
            text += &format!("offline {}\n", ids.join(","));
        }
        let tmp = dir.join(STATE_TMP);
        let path = dir.join(RESTORING_FILE);
        write_new(&tmp, text.as_bytes())?;
        fs::rename(&tmp, &path).map_err(io_err("rename into place", &path))?;
        sync_dir(dir)
    }

    pub(super) fn read(dir: &Path) -> Result<Option<State>> {
        let path = dir.join(RESTORING_FILE);
        let Some(text) = super::read_small_file(&path)? else {
            return Ok(None);
        };
        let bad =
            || DbBackupError::Refused(format!("{}: not a refdb restore state", path.display()));
        let mut lines = text.lines();
        if lines.next() != Some("refdb restoring 1") {
            return Err(bad());
        }
        let mut get = |k: &str| -> Result<String> {
            let l = lines.next().ok_or_else(bad)?;
            l.strip_prefix(k)
                .and_then(|v| v.strip_prefix(' '))
                .map(str::to_owned)
                .ok_or_else(bad)
        };
        let db_guid = unhex16(&get("db_guid")?).ok_or_else(bad)?;
        let name_hex = get("database")?;
        let name_bytes: Option<Vec<u8>> = (0..name_hex.len() / 2)
            .map(|i| u8::from_str_radix(name_hex.get(2 * i..2 * i + 2)?, 16).ok())
            .collect();
        let database = String::from_utf8(name_bytes.ok_or_else(bad)?).map_err(|_| bad())?;
        let full_guid = unhex16(&get("full_guid")?).ok_or_else(bad)?;
        let log_end = get("log_end")?.parse().map_err(|_| bad())?;
        let fork_guid = unhex16(&get("fork_guid")?).ok_or_else(bad)?;
        // Absent in the states written before file restore existed: none needed.
        let needed = match lines.next() {
            None => 0,
            Some(l) => l
                .strip_prefix("needed ")
                .and_then(|v| v.parse().ok())
                .ok_or_else(bad)?,
        };
        // Absent unless a piecemeal restore left filegroups out.
        let offline = match lines.next() {
            None => Vec::new(),
            Some(l) => l
                .strip_prefix("offline ")
                .and_then(|v| v.split(',').map(|x| x.parse().ok()).collect())
                .ok_or_else(bad)?,
        };
        Ok(Some(State {
            db_guid,
            database,
            full_guid,
            log_end,
            fork_guid,
            needed,
            offline,
        }))
    }
}

/// Writes `bytes` into a file made anew at `path` (what was there removed; O_EXCL follows no
/// link, so nothing is written through a link planted there), durably.
pub(super) fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(io_err("remove", path)(e))
        }
        _ => {}
    }
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(io_err("create", path))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(io_err("write", path))
}

/// Marks a database directory restoring after a tail-log backup WITH NORECOVERY: the database
/// must not be used again, and a restore of the same database over it needs no REPLACE.
pub(crate) fn mark_restoring(
    dir: &Path,
    database: &str,
    db_guid: [u8; 16],
    fork_guid: [u8; 16],
    log_end: Lsn,
) -> Result<()> {
    State {
        db_guid,
        database: database.to_owned(),
        full_guid: [0; 16],
        log_end,
        fork_guid,
        needed: 0,
        offline: Vec::new(),
    }
    .write(dir)
}

pub(super) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync directory", dir))
}

/// A directory beside `target` for work in progress, removed when dropped.
pub(super) struct TempDir(pub(super) PathBuf);

impl TempDir {
    pub(super) fn beside(target: &Path, what: &str) -> Result<TempDir> {
        let (parent, name) = super::restart::beside(target);
        // The work directory an interrupted full restore left for --restart is kept.
        let keep = super::restart::recorded_work_dir(target);
        sweep_dead(
            parent,
            &name,
            &["incoming", "restore", "files"],
            keep.as_deref(),
        );
        for i in 0..1000 {
            let p = parent.join(format!(".{name}.{what}.{}.{i}", std::process::id()));
            match fs::create_dir(&p) {
                Ok(()) => return Ok(TempDir(p)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io_err("create", &p)(e)),
            }
        }
        Err(DbBackupError::Refused(format!(
            "no free name for a work directory in {}",
            parent.display()
        )))
    }
}

/// Removes the work directories that restores of `name` killed before they could clean up
/// left beside it: `.NAME.WHAT.PID.N` of a process that no longer runs, of the kinds given.
/// The staged set, a database being built and a file restore's work only ever hold copies; a
/// database put aside (`old`) by a restore killed while it swapped the directories may be all
/// there is of it, and goes only once a new one is in place.
fn sweep_dead(parent: &Path, name: &str, kinds: &[&str], keep: Option<&Path>) {
    let Ok(rd) = fs::read_dir(parent) else { return };
    let prefix = format!(".{name}.");
    for e in rd.flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = n.strip_prefix(&prefix) else {
            continue;
        };
        let mut parts = rest.split('.');
        let (Some(what), Some(pid), Some(i), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let Ok(pid) = pid.parse::<i32>() else {
            continue;
        };
        if !kinds.contains(&what)
            || keep.is_some_and(|k| k.file_name() == Some(e.file_name().as_os_str()))
            || i.parse::<u32>().is_err()
            || pid <= 0
            || pid as u32 == std::process::id()
            || !e.file_type().is_ok_and(|t| t.is_dir())
        {
            continue;
        }
        // SAFETY: kill with signal 0 only asks whether the process exists.
        let gone = unsafe { libc::kill(pid, 0) } != 0
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        if gone {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The log records of a set's `log` file, checked: whole records, in LSN order from `first`
/// to `last` without a gap.
pub(super) struct LogBytes {
    pub(super) path: PathBuf,
    pub(super) first: Lsn,
}

impl LogBytes {
    /// Walks the records, calling `f(record, its bytes)`; stops early when `f` says so.
    pub(super) fn walk(
        &self,
        last: Lsn,
        mut f: impl FnMut(&crate::engine::LogRecord, &[u8]) -> Result<bool>,
    ) -> Result<()> {
        let mut file =
            std::io::BufReader::new(File::open(&self.path).map_err(io_err("open", &self.path))?);
        // Named as the set's (its staging copy goes with the restore).
        let bad = |w: String| DbBackupError::Refused(format!("the set's log: {w}"));
        let mut at = self.first;
        let mut head = [0u8; 4];
        while at < last {
            file.read_exact(&mut head)
                .map_err(|_| bad(format!("the log ends at LSN {at}, before LSN {last}")))?;
            let len = u32::from_le_bytes(head) as usize;
            if !(29..=wal::MAX_RECORD + 64).contains(&len) {
                return Err(bad(format!("record at LSN {at}: bad length {len}")));
            }
            let mut rec = vec![0u8; len];
            rec[..4].copy_from_slice(&head);
            file.read_exact(&mut rec[4..])
                .map_err(|_| bad(format!("record at LSN {at} cut short")))?;
            let crc = u32::from_le_bytes(rec[4..8].try_into().expect("4 bytes"));
            if crate::engine::page::crc32c(&rec[8..]) != crc {
                return Err(bad(format!(
                    "record at LSN {at}: checksum mismatch (the medium is damaged)"
                )));
            }
            let r = wal::decode(&rec)
                .filter(|r| r.lsn == at)
                .ok_or_else(|| bad(format!("record at LSN {at} does not decode")))?;
            if !f(&r, &rec)? {
                return Ok(());
            }
            at += len as u64;
        }
        if at != last {
            return Err(bad(format!("the records end at LSN {at}, not {last}")));
        }
        Ok(())
    }
}

/// Writes a new log file: header (base, restart checkpoint), then the records.
pub(super) fn write_log_header(
    f: &File,
    path: &Path,
    db_guid: [u8; 16],
    base: Lsn,
    ckpt: Lsn,
) -> Result<()> {
    let h = wal::LogHeader {
        seq: 2,
        db_guid,
        base,
        ckpt,
    };
    let b = h.encode();
    let mut page = vec![0u8; FILE_HEADER as usize];
    page[..52].copy_from_slice(&b);
    page[512..564].copy_from_slice(&b);
    f.write_all_at(&page, 0)
        .map_err(io_err("write log header", path))
}

/// A new log file holding the set's records up to `end`, restarting at its checkpoint.
pub(super) fn new_log_file(path: &Path, h: &SetHeader, log: &LogBytes, end: Lsn) -> Result<()> {
    let lf = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(io_err("create", path))?;
    write_log_header(&lf, path, h.db_guid, h.first_lsn, h.checkpoint_lsn)?;
    copy_records(log, h.last_lsn, h.first_lsn, end, &lf, path, FILE_HEADER)?;
    lf.sync_all().map_err(io_err("fsync", path))
}

/// Replaces the restoring log of `dir` by the set's records up to `end` (written beside it,
/// then renamed over it).
pub(super) fn replace_log(dir: &Path, h: &SetHeader, log: &LogBytes, end: Lsn) -> Result<()> {
    let lpath = crate::engine::db::log_path(dir)?;
    let tmp = log_tmp(&lpath);
    let _ = fs::remove_file(&tmp);
    new_log_file(&tmp, h, log, end)?;
    fs::rename(&tmp, &lpath).map_err(io_err("rename into place", &lpath))
}

/// Where a log that replaces the log at `lpath` is written first: beside it (the rename stays
/// in one file system when a MOVE put the log elsewhere), `LOG_TMP` for the usual log.
pub(super) fn log_tmp(lpath: &Path) -> PathBuf {
    let name = lpath
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    lpath.with_file_name(format!(".{name}.restoring"))
}

/// Where STOPAT cuts a log: the LSN of the first commit after the point, if any.
fn stop_point(log: &LogBytes, last: Lsn, stopat: u64) -> Result<Option<Lsn>> {
    Ok(stop_scan(log, last, stopat)?.0)
}

/// [`stop_point`], and the time of the last commit before the cut (of the whole log when it is
/// not cut), which tells whether a log without a commit after the point reaches it
/// ([`point_reached_in_log`]): one pass over the log for both.
fn stop_scan(log: &LogBytes, last: Lsn, stopat: u64) -> Result<(Option<Lsn>, Option<u64>)> {
    let (mut cut, mut newest) = (None, None);
    log.walk(last, |r, _| {
        if let RecordBody::Commit { ts_ms } = r.body {
            if ts_ms > stopat {
                cut = Some(r.lsn);
                return Ok(false);
            }
            newest = Some(ts_ms);
        }
        Ok(true)
    })?;
    Ok((cut, newest))
}

/// Whether a log backup in which no commit comes after `stopat` (its last commit's time:
/// `newest`) still holds every commit up to it, so that STOPAT is reached in it (the database
/// recovers at the log's end, which is the point: what follows the last commit never
/// committed in this log). Why it can be told: a commit takes its time with its log record, in
/// LSN order, never less than the clock's nor than the commit before it plus one. So a commit
/// after this log's end has a time past both its last commit's and the clock's when the backup
/// fixed the log's end, which was after the backup began: a point before the backup began, or
/// at its last commit (the last commit before a failure, restored through the tail-log
/// backup), is reached here. A later point may have commits in the next log: the database
/// stays restoring for it.
fn point_reached_in_log(h: &SetHeader, newest: Option<u64>, stopat: u64) -> bool {
    stopat < h.start_ms || newest == Some(stopat)
}

/// Where a later stage of a piecemeal restore cuts the set's log: at `point`, the LSN the
/// database was recovered at (where the filegroup must be brought, no further), when the set
/// goes past it; `None` when the set ends at or before it. The point is where the first stage
/// stopped (the end of a log, or the first commit after its STOPAT), so a record of every log
/// that holds it starts there; a set in which none does is refused rather than cut inside a
/// record. A log holding bulk-logged changes is refused as for STOPAT: its copied pages are
/// newer than the point.
pub(super) fn cut_at_point(h: &SetHeader, log: &LogBytes, point: Lsn) -> Result<Option<Lsn>> {
    if point >= h.last_lsn {
        return Ok(None);
    }
    refuse_bulk_stopat(h)?;
    let mut found = false;
    log.walk(h.last_lsn, |r, _| {
        if r.lsn >= point {
            found = r.lsn == point;
            return Ok(false);
        }
        Ok(true)
    })?;
    if !found {
        return Err(DbBackupError::Refused(format!(
            "no record of the {} backup LSN {}..{} starts at LSN {point}, where the database was recovered: it cannot be restored up to that point",
            h.kind.name(),
            h.first_lsn,
            h.last_lsn
        )));
    }
    Ok(Some(point))
}

/// Copies the set's records from `from` (a record boundary in it) up to `to` into `out` at
/// file offset `off`. Returns the bytes written.
pub(super) fn copy_records(
    log: &LogBytes,
    last: Lsn,
    from: Lsn,
    to: Lsn,
    out: &File,
    out_path: &Path,
    mut off: u64,
) -> Result<u64> {
    let mut n = 0u64;
    let mut seen_from = from == log.first;
    log.walk(last, |r, bytes| {
        if r.lsn >= to {
            return Ok(false);
        }
        if r.lsn == from {
            seen_from = true;
        }
        if r.lsn >= from {
            out.write_all_at(bytes, off)
                .map_err(io_err("write log", out_path))?;
            off += bytes.len() as u64;
            n += bytes.len() as u64;
            crate::engine::crash::point(crate::engine::crash::Point::Restore);
        }
        Ok(true)
    })?;
    if !seen_from && from < to {
        return Err(DbBackupError::Refused(format!(
            "no log record starts at LSN {from} in the set's log"
        )));
    }
    Ok(n)
}

/// One restore: the target, the set as received, its header and log, the options.
#[derive(Clone, Copy)]
pub(super) struct Job<'a> {
    pub(super) dir: &'a Path,
    pub(super) stage: &'a Incoming,
    pub(super) h: &'a SetHeader,
    pub(super) log: &'a LogBytes,
    pub(super) opts: &'a RestoreOptions,
    /// A later stage of a piecemeal restore: the LSN the database was recovered at, which
    /// the stage's backups are restored up to and not past (see [`cut_at_point`]); `None`
    /// for every other restore.
    pub(super) until: Option<Lsn>,
}

/// What is in the target directory.
pub(super) enum Target {
    Missing,
    Empty,
    Restoring(State),
    /// A database not in a restore sequence: its name and id.
    Database(String, [u8; 16]),
    /// Something else: the first names found.
    Other(Vec<String>),
}

pub(super) fn inspect_target(dir: &Path) -> Result<Target> {
    let rd = match fs::read_dir(dir) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Target::Missing),
        Err(e) => return Err(io_err("read directory", dir)(e)),
    };
    let names: Vec<String> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    if names.is_empty() {
        return Ok(Target::Empty);
    }
    // A damaged location file is refused naming it, whatever the restore (the files of the
    // database there are not known, so nothing is taken for free).
    crate::engine::db::locate(dir)?;
    if let Some(s) = State::read(dir)? {
        return Ok(Target::Restoring(s));
    }
    if let Some(b) = read_boot(dir) {
        return Ok(Target::Database(b.name, b.db_guid));
    }
    let mut names = names;
    names.sort();
    names.truncate(5);
    Ok(Target::Other(names))
}

/// Restores the backup set `spec` names from the media the changers give into database
/// directory `dir`.
pub fn restore(
    dir: &Path,
    changers: Vec<Box<dyn MediaChanger>>,
    spec: &ReadSpec,
    opts: &RestoreOptions,
) -> Result<RestoreOutcome> {
    // One restore into a directory at a time, taken before the set is read.
    let _one = super::restart::lock_target(dir)?;
    let (stage, media) = Incoming::receive(dir, changers, spec, opts.progress.clone())?;
    let header = stage.header()?;
    if let Some(want) = opts.expect_set.filter(|g| *g != header.set_guid) {
        use mtf::stream::sqlserver::Guid;
        return Err(DbBackupError::Refused(format!(
            "the set read is not the one asked for: it is set {} ({:?} backup of {}), not set {}; the medium was written over since",
            Guid(header.set_guid),
            header.kind,
            header.database,
            Guid(want)
        )));
    }
    if header.format_version > FORMAT_VERSION {
        return Err(DbBackupError::Refused(format!(
            "the set was written by a newer engine (backup format {}; this engine reads up to {FORMAT_VERSION})",
            header.format_version
        )));
    }
    let log = LogBytes {
        path: stage.log_path()?.to_path_buf(),
        first: header.first_lsn,
    };
    let mut target = inspect_target(dir)?;
    let job = Job {
        dir,
        stage: &stage,
        h: &header,
        log: &log,
        opts,
        until: None,
    };
    if !opts.moves.is_empty()
        && (header.kind != BackupType::Full || opts.page.is_some() || opts.filegroup.is_some())
    {
        return Err(DbBackupError::Refused(
            "MOVE relocates files when a full backup is restored (they stay where it put them for the rest of the sequence)".into(),
        ));
    }
    let resumed = super::restart::gate(dir, &header, opts)?;
    if let Recovery::Standby(undo) = &opts.recovery {
        // Before anything changes: the undo file must be writable where it is asked for.
        super::standby::check_undo_target(dir, undo, &header.db_guid)?;
        if header.kind == BackupType::Full {
            refuse_undo_at_a_database_file(dir, undo, &header, opts)?;
        }
    }
    if let Target::Restoring(_) = &target {
        // A database in standby is readable, so a process may have it open: nothing is put
        // back or applied under it (it would read pages changing beneath it, and the restore
        // failed only at its end, when recovery could not open the database). The full
        // restore holds the lock while it replaces the directory; the others check it here.
        drop(crate::engine::db::lock_dir(dir)?);
    }
    if opts.partial {
        let mut out = super::piecemeal::restore_partial(job, target)?;
        super::restart::finish(dir)?;
        out.media = media;
        return Ok(out);
    }
    target = match super::piecemeal::restore_later(job, target)? {
        super::piecemeal::Later::Done(mut out) => {
            out.media = media;
            return Ok(*out);
        }
        super::piecemeal::Later::NotPiecemeal(t) => t,
    };
    let mut out = match header.kind {
        BackupType::File | BackupType::Full if opts.page.is_some() => {
            super::file_restore::restore_page(job, target)?
        }
        BackupType::File | BackupType::Full if opts.filegroup.is_some() => {
            super::file_restore::restore_files(job, target)?
        }
        BackupType::Full => restore_full(job, target, resumed, Vec::new())?,
        BackupType::Differential => restore_diff(job, target, resumed)?,
        BackupType::Log => restore_log(job, target, resumed)?,
        BackupType::File => {
            return Err(DbBackupError::Refused(
                "a file backup restores one filegroup: name it (--filegroup NAME)".into(),
            ))
        }
    };
    super::restart::finish(dir)?;
    out.media = media;
    Ok(out)
}

pub(super) fn outcome(header: &SetHeader, log_end: Lsn) -> RestoreOutcome {
    RestoreOutcome {
        header: header.clone(),
        recovered: false,
        log_end,
        fork: None,
        media: Default::default(),
    }
}

/// A full restore WITH STANDBY whose undo file would be one of the files the restore puts in
/// place (a data file, the log or the location file in the directory, a MOVE target): the path
/// is free when the restore starts, so the undo file's own checks pass, and the restore failed
/// only at its end, when standby found the database's file there, leaving the directory
/// restoring. Refused before anything is done.
fn refuse_undo_at_a_database_file(
    dir: &Path,
    undo: &Path,
    h: &SetHeader,
    opts: &RestoreOptions,
) -> Result<()> {
    let abs = |p: &Path| {
        std::path::absolute(p)
            .map(|a| relocate::lexical(&a))
            .map_err(io_err("resolve", p))
    };
    let u = abs(undo)?;
    let mut at: Vec<PathBuf> = h.files.iter().map(|f| dir.join(&f.file_name)).collect();
    at.push(dir.join(crate::engine::db::LOG_FILE));
    at.push(dir.join(crate::engine::db::LOCATION_FILE));
    at.extend(opts.moves.iter().map(|(_, p)| dir.join(p)));
    for p in at {
        if abs(&p)? == u {
            return Err(DbBackupError::Refused(format!(
                "undo file {}: that is where the restore puts a file of the database; name another file for the undo",
                undo.display()
            )));
        }
    }
    Ok(())
}

pub(super) fn name_guid(h: &SetHeader) -> String {
    format!(
        "{} (id {})",
        h.database,
        crate::engine::db::guid_string(&h.db_guid)
    )
}

/// A full restore; `resumed`: the progress of the interrupted restore `--restart` continues;
/// `offline`: the filegroups a piecemeal restore leaves out (the set's header in `job` then
/// lists only the files restored).
pub(super) fn restore_full(
    job: Job<'_>,
    target: Target,
    resumed: Option<super::restart::Progress>,
    offline: Vec<u16>,
) -> Result<RestoreOutcome> {
    let Job {
        dir,
        stage,
        h,
        log,
        opts,
        until,
    } = job;
    match &target {
        Target::Missing | Target::Empty => {}
        Target::Restoring(s) if s.db_guid == h.db_guid => {}
        _ if opts.replace => {}
        Target::Restoring(s) => {
            return Err(DbBackupError::Refused(format!(
                "{} is restoring database {}, not the backup's {}: use REPLACE to overwrite it",
                dir.display(),
                s.database,
                name_guid(h)
            )))
        }
        Target::Database(name, guid) if *guid != h.db_guid => {
            return Err(DbBackupError::Refused(format!(
                "{} holds a different database named {name} (id {}), not the backup's {}: use REPLACE to overwrite it",
                dir.display(),
                crate::engine::db::guid_string(guid),
                name_guid(h)
            )))
        }
        Target::Database(name, _) => {
            return Err(DbBackupError::Refused(format!(
                "{} holds database {name}, which is not restoring: the tail of its log may not be backed up; take a tail-log backup (NO_TRUNCATE, NORECOVERY) or use REPLACE",
                dir.display()
            )))
        }
        Target::Other(names) => {
            // REPLACE overwrites what bears a database file's name; it deletes nothing else,
            // so it is advised only when it would help.
            let ours = database_names(dir, h);
            let advice = if names.iter().all(|n| ours.contains(n)) {
                "use REPLACE to overwrite them"
            } else {
                "a restore never deletes other files, even with REPLACE; move them away, or restore into another directory"
            };
            return Err(DbBackupError::Refused(format!(
                "{} holds files that are not a refdb database ({}): {advice}",
                dir.display(),
                names.join(", ")
            )));
        }
    }
    refuse_foreign_files(dir, h)?;
    // A database replaced is not open in another process (its commits would go into the
    // directory put aside): its lock is held until the new one is in place.
    let _lock = match &target {
        Target::Database(..) | Target::Restoring(_) => Some(crate::engine::db::lock_dir(dir)?),
        _ => None,
    };
    refuse_stopat_before_copy(h, opts)?;
    let cut = match (opts.stopat_ms, until) {
        (Some(t), _) => refuse_bulk_stopat(h).and_then(|_| stop_point(log, h.last_lsn, t))?,
        (None, Some(p)) => cut_at_point(h, log, p)?,
        (None, None) => None,
    };
    let end = cut.unwrap_or(h.last_lsn);
    if end < h.checkpoint_lsn {
        return Err(DbBackupError::Refused(format!(
            "the point in time lies before the end of the full backup's copy (LSN {}): restore an earlier full backup",
            h.checkpoint_lsn
        )));
    }
    // Build the database in a work directory (an interrupted restore's, continued), then put
    // it in place.
    let (work, mut progress) = match resumed
        .as_ref()
        .and_then(|p| super::restart::work_dir(dir, p).map(|w| (w, p.clone())))
    {
        Some((w, p)) => (TempDir(w), Some(p)),
        None => {
            let work = TempDir::beside(dir, "restore")?;
            (work, None)
        }
    };
    let continued = progress.is_some();
    // The rules MOVE keeps are checked before anything counts as started.
    let placement = relocate::plan(dir, &work.0, h, opts)?;
    // `--restart` does not take MOVE, and the progress file does not record it: a work
    // directory built with MOVE is not continued without it (the files would silently come
    // back into the directory, and those already written elsewhere stay there).
    let moved_mark = work.0.join(MOVED_MARK);
    if continued && fs::symlink_metadata(&moved_mark).is_ok() {
        return Err(DbBackupError::Refused(format!(
            "the interrupted restore into {} moved files (MOVE), which --restart does not repeat: restore again with --replace and the same --move options",
            dir.display()
        )));
    }
    if !opts.moves.is_empty() {
        super::write_state_file(&moved_mark, "refdb restore moved files\n")?;
    }
    let mut progress = match progress.take() {
        Some(p) => p,
        None => super::restart::start(dir, h, Some(&work.0))?,
    };
    let built = (|| {
        for f in &h.files {
            let path = placement.write_at(&work.0, f.file_id, &f.file_name);
            if continued {
                if super::restart::file_is_done(&progress, f.file_id, &path)? {
                    continue;
                }
                let _ = fs::remove_file(&path);
            }
            let one = SetHeader {
                files: vec![f.clone()],
                ..h.clone()
            };
            write_data_files(&work.0, stage, &one, true, &placement)?;
            if path.is_file() {
                super::restart::file_done(dir, &mut progress, f.file_id, &path)?;
            }
        }
        let lpath = placement.log_write_at(&work.0);
        if continued {
            let _ = fs::remove_file(&lpath);
        }
        new_log_file(&lpath, h, log, end)?;
        placement.write_location(&work.0)?;
        Ok(placement)
    })();
    let mut placement = match built {
        Ok(p) => p,
        Err(e) => {
            // Kept for --restart.
            std::mem::forget(work);
            return Err(e);
        }
    };
    let state = State {
        db_guid: h.db_guid,
        database: h.database.clone(),
        full_guid: h.set_guid,
        log_end: end,
        fork_guid: h.fork_guid,
        needed: 0,
        offline,
    };
    let _ = fs::remove_file(&moved_mark);
    placement.place()?;
    let out = finish(dir, work, h, state, opts, cut.is_some())?;
    placement.commit();
    Ok(out)
}

/// The names a database directory holds: its files (the backup's, and those the boot record of
/// the database there names) and the work files of the engine and of restores.
fn database_names(dir: &Path, h: &SetHeader) -> Vec<String> {
    let mut names: Vec<String> = [
        crate::engine::db::LOG_FILE,
        crate::engine::db::PRIMARY_FILE,
        crate::engine::db::LOCATION_FILE,
        "refdb.lock",
        RESTORING_FILE,
        STATE_TMP,
        LOG_TMP,
        DIFF_MARK,
        FILE_MARK,
        super::standby::STANDBY_FILE,
        super::piecemeal::PIECEMEAL_DIR,
        super::standby::LOG_PUT_BACK_TMP,
    ]
    .iter()
    .map(|n| n.to_string())
    .collect();
    names.extend(h.files.iter().map(|f| f.file_name.clone()));
    if let Some(b) = read_boot(dir) {
        names.extend(b.files.into_iter().flat_map(|f| [f.file_name, f.path]));
    }
    // A primary or log MOVE put at another name in the directory.
    if let Ok(l) = crate::engine::db::locate(dir) {
        names.push(l.log);
    }
    names
}

/// A full restore replaces the whole directory: files in it that are not a database's (a
/// user's documents in the directory named by mistake) are never deleted, REPLACE or not.
fn refuse_foreign_files(dir: &Path, h: &SetHeader) -> Result<()> {
    let rd = match fs::read_dir(dir) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err("read directory", dir)(e)),
    };
    let ours = database_names(dir, h);
    let mut foreign: Vec<String> = Vec::new();
    for e in rd {
        let e = e.map_err(io_err("read directory", dir))?;
        let name = e.file_name().to_string_lossy().into_owned();
        // The work directory and progress file of a piecemeal stage's work database, which
        // sit beside it in the database directory.
        let stage_work = name.starts_with(&format!(".{}.", super::piecemeal::PIECEMEAL_DIR));
        if !ours.contains(&name) && !stage_work {
            foreign.push(name);
        }
    }
    if foreign.is_empty() {
        return Ok(());
    }
    foreign.sort();
    let n = foreign.len();
    foreign.truncate(5);
    Err(DbBackupError::Refused(format!(
        "{} holds {n} file(s) that are not part of a refdb database ({}{}): a restore replaces the whole directory and never deletes other files, even with REPLACE; move them away, or restore into another directory",
        dir.display(),
        foreign.join(", "),
        if n > 5 { ", …" } else { "" }
    )))
}

/// Either recovers the work directory and puts it in place, or puts it in place restoring.
fn finish(
    dir: &Path,
    work: TempDir,
    h: &SetHeader,
    state: State,
    opts: &RestoreOptions,
    stopped: bool,
) -> Result<RestoreOutcome> {
    let mut out = outcome(h, state.log_end);
    let stay = opts.recovery != Recovery::Recovery || (opts.stopat_ms.is_some() && !stopped);
    if stay {
        state.write(&work.0)?;
    } else {
        super::piecemeal::mark_left_out(&work.0, &state)?;
        let db = Database::open(&work.0)?;
        out.fork = Some(new_fork(&db, state.log_end, !state.offline.is_empty())?);
        db.close()?;
        let _ = fs::remove_file(work.0.join("refdb.lock"));
        out.recovered = true;
    }
    swap_into_place(dir, work)?;
    if let Recovery::Standby(undo) = &opts.recovery {
        super::standby::enter(dir, &state, undo)?;
    }
    Ok(out)
}

/// The recovered database starts a new recovery fork at `at` (where it was recovered: the
/// backups record it as their fork point), and a new log chain: the chain the
/// backups recorded ended with the restore, and the next log backup follows the next full
/// backup (a switch to simple and back clears the chain, as the engine's rules say).
///
/// Not so for the first stage of a piecemeal restore (`piecemeal`, filegroups left offline):
/// no full backup can be taken until they are back, which may be days, so the chain goes on
/// from `at` and the fork records its parent
/// ([`Database::start_recovery_fork_keeping_chain`]).
fn new_fork(db: &Database, at: Lsn, piecemeal: bool) -> Result<[u8; 16]> {
    if piecemeal {
        let (fork, kept) = db.start_recovery_fork_keeping_chain(at)?;
        if kept {
            return Ok(fork);
        }
        clear_chain(db)?;
        return Ok(fork);
    }
    let fork = db.start_recovery_fork(at)?;
    clear_chain(db)?;
    Ok(fork)
}

fn clear_chain(db: &Database) -> Result<()> {
    let model = db.info().model;
    if model != crate::engine::RecoveryModel::Simple {
        db.set_recovery_model(crate::engine::RecoveryModel::Simple)?;
        db.set_recovery_model(model)?;
    }
    Ok(())
}

/// Replaces `dir` with the work directory: the old one is renamed aside first and removed
/// only once the new one is in place.
fn swap_into_place(dir: &Path, work: TempDir) -> Result<()> {
    sync_dir(&work.0)?;
    let old = if dir.exists() {
        let aside = TempDir::beside(dir, "old")?;
        fs::remove_dir(&aside.0).map_err(io_err("remove", &aside.0))?;
        fs::rename(dir, &aside.0).map_err(io_err("move aside", dir))?;
        Some(aside)
    } else {
        None
    };
    if let Err(e) = fs::rename(&work.0, dir) {
        if let Some(o) = &old {
            let _ = fs::rename(&o.0, dir);
        }
        return Err(io_err("rename into place", dir)(e));
    }
    std::mem::forget(work);
    drop(old);
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    sync_dir(parent)?;
    if let Some(name) = dir.file_name() {
        sweep_dead(parent, &name.to_string_lossy(), &["old"], None);
    }
    Ok(())
}

/// Whether log backup `h` begins a recovery fork that branched from the restoring database's
/// fork exactly where it is restored up to: the first log backup taken after the first stage
/// of a piecemeal restore (which keeps the log chain) names that parent fork as the one it
/// starts in, and starts at the fork point. A fork of another history that happens to begin at
/// the same LSN names another parent and is refused; once one fork's log is restored the
/// database is in that fork, and a sibling's logs (the same parent, another fork) are refused.
fn begins_child_fork(h: &SetHeader, s: &State) -> bool {
    h.kind == BackupType::Log
        && h.fork_guid != s.fork_guid
        && h.first_fork_guid == s.fork_guid
        && h.fork_point_lsn != 0
        && h.fork_point_lsn == s.log_end
        && h.first_lsn == s.log_end
}

/// A log that begins a piecemeal restore's fork (see [`begins_child_fork`]) carries a restore
/// of the whole database past the fork point only when no transaction was in flight there:
/// the first stage's recovery undid such a transaction in the filegroups online then (its
/// compensation records are in this log) but not in the ones left offline, whose undo the
/// later stage did in its own work database, so the fork's log has the transaction ended with
/// its offline changes still in place. A record of this log continuing a transaction begun
/// before the fork point shows one (the undo's first record points back past it).
fn refuse_deferred_undo(h: &SetHeader, log: &LogBytes) -> Result<()> {
    let mut found = None;
    log.walk(h.last_lsn, |r, _| {
        if r.txn != 0 && r.prev != 0 && r.prev < h.first_lsn {
            found = Some(r.txn);
            return Ok(false);
        }
        Ok(true)
    })?;
    if let Some(t) = found {
        return Err(DbBackupError::Refused(format!(
            "the log backup LSN {}..{} begins recovery fork {}, which a piecemeal restore started at LSN {} with transaction {t} in flight: its changes to the filegroups left offline were undone by the later stage outside this log, so the fork's logs cannot bring a restore of the whole database past that point (restore a full backup taken after every filegroup came back online)",
            h.first_lsn,
            h.last_lsn,
            crate::engine::db::guid_string(&h.fork_guid),
            h.fork_point_lsn
        )));
    }
    Ok(())
}

/// A backup of another recovery fork than the restoring database's.
pub(super) fn refuse_other_fork(h: &SetHeader, s: &State) -> Result<()> {
    if h.fork_guid != s.fork_guid {
        return Err(DbBackupError::Refused(format!(
            "the {} backup LSN {}..{} belongs to recovery fork {}, the database being restored is in fork {}: the two histories cannot be mixed",
            h.kind.name(),
            h.first_lsn,
            h.last_lsn,
            crate::engine::db::guid_string(&h.fork_guid),
            crate::engine::db::guid_string(&s.fork_guid)
        )));
    }
    Ok(())
}

/// After a file restore, recovery waits until the log reaches the rest of the database.
pub(super) fn refuse_early_recovery(s: &State, end: Lsn, opts: &RestoreOptions) -> Result<()> {
    if opts.recovery != Recovery::NoRecovery && end < s.needed {
        return Err(DbBackupError::Refused(format!(
            "the restored files are brought up to date only at LSN {} (the end of the tail-log backup), this restore ends at LSN {end}: restore WITH NORECOVERY and continue with the log backups up to it",
            s.needed
        )));
    }
    Ok(())
}

/// A STOPAT before a full or differential backup began: the copy may hold commits made after
/// the point, which nothing can take out again, and a log of the copy says nothing of the
/// commits before it. SQL Server refuses it as too early; so does refdb, rather than leave
/// the database at the copy's point and say it reached the one asked for. Compared at the
/// second of the start (as the history and the planner know it), so a plan the planner
/// made from backups that finished before the point is never refused here.
fn refuse_stopat_before_copy(h: &SetHeader, opts: &RestoreOptions) -> Result<()> {
    match opts.stopat_ms {
        Some(t) if t < h.start_ms / 1000 * 1000 => Err(DbBackupError::Refused(format!(
            "the point in time {} is before this {} backup began ({}): it is too early for this backup; restore an earlier full backup and its logs",
            crate::engine::time::format_ms(t),
            h.kind.name(),
            crate::engine::time::format_ms(h.start_ms / 1000 * 1000)
        ))),
        _ => Ok(()),
    }
}

fn refuse_bulk_stopat(h: &SetHeader) -> Result<()> {
    if h.flags & flags::BULK_LOGGED != 0 {
        return Err(DbBackupError::Refused(format!(
            "the log backup LSN {}..{} holds bulk-logged changes: a point in time inside it cannot be restored (restore it whole, or stop at an earlier log)",
            h.first_lsn, h.last_lsn
        )));
    }
    Ok(())
}

pub(super) fn restoring_state(
    dir: &Path,
    target: Target,
    h: &SetHeader,
    what: &str,
) -> Result<State> {
    match target {
        Target::Restoring(s) => {
            if s.db_guid != h.db_guid {
                return Err(DbBackupError::Refused(format!(
                    "the {what} is of database {}, but {} is restoring database {}",
                    name_guid(h),
                    dir.display(),
                    s.database
                )));
            }
            Ok(s)
        }
        Target::Database(name, _) => Err(DbBackupError::Refused(format!(
            "database {name} in {} is already recovered: no more backups can be restored to it (restore a full backup WITH NORECOVERY first)",
            dir.display()
        ))),
        _ => Err(DbBackupError::Refused(format!(
            "no database is being restored in {}: restore a full backup WITH NORECOVERY first",
            dir.display()
        ))),
    }
}

/// Checks that the restoring log file ends where the state says (nobody opened it since),
/// after putting back the undo of a database in standby.
pub(super) fn check_log_file(dir: &Path, s: &State) -> Result<(File, PathBuf, Lsn)> {
    super::standby::leave(dir, s)?;
    let (f, lpath, base, len) = open_restoring_log(dir)?;
    if len != FILE_HEADER + s.log_end.saturating_sub(base) {
        return Err(DbBackupError::Refused(format!(
            "{}: the restoring log no longer ends at LSN {} (the database was opened since): restore the sequence again from its full backup",
            lpath.display(),
            s.log_end
        )));
    }
    Ok((f, lpath, base))
}

/// The restoring log of `dir`, open to write: the file, its path, its base LSN, its length.
pub(super) fn open_restoring_log(dir: &Path) -> Result<(File, PathBuf, Lsn, u64)> {
    let lpath = crate::engine::db::log_path(dir)?;
    let f = crate::engine::file::open_own(
        &lpath,
        OpenOptions::new().read(true).write(true),
        "open the restoring log",
    )?;
    let mut head = vec![0u8; 52];
    f.read_exact_at(&mut head, 0)
        .map_err(io_err("read", &lpath))?;
    let base = u64::from_le_bytes(head[32..40].try_into().expect("8 bytes"));
    let len = f.metadata().map_err(io_err("stat", &lpath))?.len();
    Ok((f, lpath, base, len))
}

pub(super) fn restore_diff(
    job: Job<'_>,
    target: Target,
    resumed: Option<super::restart::Progress>,
) -> Result<RestoreOutcome> {
    let Job {
        dir,
        stage,
        h,
        log,
        opts,
        until,
    } = job;
    let s = restoring_state(dir, target, h, "differential backup")?;
    if h.base_guid != [0; 16] && h.base_guid != s.full_guid {
        return Err(DbBackupError::Refused(format!(
            "the differential is based on full backup {}, but the restore began with full backup {}",
            crate::engine::db::guid_string(&h.base_guid),
            crate::engine::db::guid_string(&s.full_guid)
        )));
    }
    refuse_stopat_before_copy(h, opts)?;
    let cut = match (opts.stopat_ms, until) {
        (Some(t), _) => stop_point(log, h.last_lsn, t)?,
        (None, Some(p)) => cut_at_point(h, log, p)?,
        (None, None) => None,
    };
    if cut.is_some_and(|c| c < h.checkpoint_lsn) {
        return Err(DbBackupError::Refused(
            "the point in time lies before the differential's copy: restore the logs after the full backup instead".into(),
        ));
    }
    // Refused or not, a database in standby stays in standby until here.
    let mark = dir.join(DIFF_MARK);
    if fs::read(&mark).ok().as_deref() == Some(hex(&h.set_guid).as_bytes()) {
        // This very differential was killed half way (its mark is there): the log may be
        // its own already, no longer ending where the state says, and is replaced whole
        // again below. Its length proves nothing here, and refusing would leave the
        // sequence unfinishable.
        super::standby::leave(dir, &s)?;
    } else {
        check_log_file(dir, &s)?;
    }
    // Everything checked: the pages go over the restoring files, the log is replaced (all of
    // it again when continued: doing it twice is doing it once). Until both are done, a mark
    // says the files are half way: a log restored onto them (or their recovery) would mix the
    // differential's pages with the older log.
    if resumed.is_none() {
        super::restart::start(dir, h, None)?;
    }
    write_new(&mark, hex(&h.set_guid).as_bytes())?;
    sync_dir(dir)?;
    let present = super::piecemeal::present_files(h, &s);
    write_data_files(dir, stage, &present, false, &Placement::of_database(dir)?)?;
    crate::engine::crash::point(crate::engine::crash::Point::Restore);
    let end = cut.unwrap_or(h.last_lsn);
    replace_log(dir, h, log, end)?;
    crate::engine::crash::point(crate::engine::crash::Point::Restore);
    fs::remove_file(&mark).map_err(io_err("remove", &mark))?;
    let state = State {
        log_end: end,
        fork_guid: h.fork_guid,
        ..s
    };
    finish_in_place(dir, h, state, opts, cut.is_some())
}

pub(super) fn finish_in_place(
    dir: &Path,
    h: &SetHeader,
    state: State,
    opts: &RestoreOptions,
    stopped: bool,
) -> Result<RestoreOutcome> {
    let mut out = outcome(h, state.log_end);
    let stay = opts.recovery != Recovery::Recovery || (opts.stopat_ms.is_some() && !stopped);
    state.write(dir)?;
    if let Recovery::Standby(undo) = &opts.recovery {
        super::standby::enter(dir, &state, undo)?;
    }
    if !stay {
        out.fork = recover_restoring(dir, &state)?;
        out.recovered = true;
    }
    Ok(out)
}

/// RECOVERY of the restoring database in `dir` whose restored log ends where `state` says:
/// the filegroups left out go offline, recovery runs (redo, undo), the restoring mark goes.
/// Returns the new recovery fork, if one starts.
pub(super) fn recover_restoring(dir: &Path, state: &State) -> Result<Option<[u8; 16]>> {
    super::piecemeal::mark_left_out(dir, state)?;
    let db = Database::open(dir)?;
    let fork = if state.needed > 0 {
        // A file or page restore, recovered where the rest of the database was (the end
        // of the tail-log backup: `refuse_early_recovery` saw to it): history did not
        // branch, so no fork, and the log backups go on from the tail's end.
        db.continue_log_chain(state.needed)?;
        None
    } else {
        Some(new_fork(&db, state.log_end, !state.offline.is_empty())?)
    };
    db.close()?;
    let p = dir.join(RESTORING_FILE);
    fs::remove_file(&p).map_err(io_err("remove", &p))?;
    sync_dir(dir)?;
    Ok(fork)
}

pub(super) fn restore_log(
    job: Job<'_>,
    target: Target,
    resumed: Option<super::restart::Progress>,
) -> Result<RestoreOutcome> {
    let Job {
        dir,
        stage,
        h,
        log,
        opts,
        until,
    } = job;
    let mut s = restoring_state(dir, target, h, "log backup")?;
    if dir.join(DIFF_MARK).exists() {
        return Err(DbBackupError::Refused(format!(
            "{}: a differential restore into it did not finish (its pages are partly written): restore that differential again, or the sequence from its full backup",
            dir.display()
        )));
    }
    if begins_child_fork(h, &s) {
        refuse_deferred_undo(h, log)?;
        s.fork_guid = h.fork_guid;
    } else {
        refuse_other_fork(h, &s)?;
    }
    if resumed.is_some() {
        // The records the interrupted run appended stay; only the rest is applied.
        s = super::restart::resume_log(dir, s, log, h)?;
        if s.log_end == h.last_lsn {
            return finish_in_place(dir, h, s, opts, false);
        }
    }
    if h.first_lsn > s.log_end {
        return Err(DbBackupError::Refused(format!(
            "log chain gap: the database is restored up to LSN {}, this log backup starts at LSN {}; the log from LSN {} to {} is missing (restore the log backup that holds it first)",
            s.log_end, h.first_lsn, s.log_end, h.first_lsn
        )));
    }
    if h.last_lsn <= s.log_end {
        return Err(DbBackupError::Refused(format!(
            "the log backup LSN {}..{} is too early: the database is already restored up to LSN {}",
            h.first_lsn, h.last_lsn, s.log_end
        )));
    }
    if s.needed > 0 && opts.stopat_ms.is_some() {
        return Err(DbBackupError::Refused(format!(
            "a restored file must be brought up to the rest of the database (LSN {}): no point in time can be restored after a file restore",
            s.needed
        )));
    }
    refuse_early_recovery(&s, h.last_lsn, opts)?;
    let (cut, newest) = match (opts.stopat_ms, until) {
        (Some(t), _) => {
            refuse_bulk_stopat(h)?;
            stop_scan(log, h.last_lsn, t)?
        }
        (None, Some(p)) => (cut_at_point(h, log, p)?, None),
        (None, None) => (None, None),
    };
    if let Some(c) = cut {
        if c <= s.log_end {
            return Err(DbBackupError::Refused(format!(
                "the point in time lies before this log backup's records (LSN {}): it was reached by an earlier backup of the sequence",
                s.log_end
            )));
        }
    }
    let (lf, lpath, base) = check_log_file(dir, &s)?;
    if resumed.is_none() {
        super::restart::start(dir, h, None)?;
    }
    let end = cut.unwrap_or(h.last_lsn);
    // Pages of minimally logged operations (not in the log) first.
    let present = super::piecemeal::present_files(h, &s);
    if !present.files.is_empty() {
        write_data_files(dir, stage, &present, false, &Placement::of_database(dir)?)?;
    }
    let at = FILE_HEADER + (s.log_end - base);
    let copied = copy_records(log, h.last_lsn, s.log_end, end, &lf, &lpath, at)
        .and_then(|_| lf.sync_all().map_err(io_err("fsync", &lpath)));
    if let Err(e) = copied {
        // A failed copy (disk full) leaves the restoring log where the state says it ends, so
        // that the same log backup can be restored again.
        let _ = lf.set_len(at).and_then(|_| lf.sync_all());
        return Err(e);
    }
    drop(lf);
    // A log beginning a child fork took the database into it (`s.fork_guid`).
    let state = State { log_end: end, ..s };
    let reached = cut.is_some()
        || opts
            .stopat_ms
            .is_some_and(|t| point_reached_in_log(h, newest, t));
    finish_in_place(dir, h, state, opts, reached)
}
