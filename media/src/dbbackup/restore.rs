//! Restore sequences, by the reference documents' rules.
//!
//! A set is first read whole from its media into a staging directory beside the target (never
//! into the target), and its header checked; only then is the target changed:
//!
//! - **Full** (or a full set given for a new sequence): a new database directory is built in
//!   staging (data files from the pages, the log file from the set's log, starting at the set's
//!   first LSN with its checkpoint as the restart point) and takes the target's place by rename.
//!   A target that holds another database, a database not in a restore sequence, or other files
//!   is refused unless REPLACE, and left as it was.
//! - **Differential:** its base must be the full the sequence began with; its pages are written
//!   over the restoring files and its log replaces the restoring log.
//! - **Log:** it must continue the restoring log exactly where it ends (a gap names the missing
//!   LSN range); its records from there are appended, up to STOPAT (the first commit after the
//!   point ends the log there). A log holding bulk-logged changes refuses STOPAT.
//! - **NORECOVERY** leaves the directory restoring: the file `refdb.restoring` records the
//!   sequence (database, base, where the log ends). **RECOVERY** opens the database (ARIES
//!   recovery: redo, then undo of what never committed), starts a new recovery fork, and ends
//!   the sequence: an already-recovered database refuses further logs.
//!
//! - **File and page restore** (a filegroup, or one page, out of a file or full backup): see
//!   `file_restore`.
//!
//! - **MOVE** (a full restore puts data files elsewhere): see `relocate`.
//!
//! - **Piecemeal restore** (PARTIAL: the primary filegroup and the named ones first, the
//!   others later): see `piecemeal`.
//!
//! Not done yet (issue 15): STANDBY, RESTART.

use super::backup::read_pages;
use super::header::{flags, SetHeader, FORMAT_VERSION};
use super::relocate::{self, Placement};
use super::{io_err, BackupType, DbBackupError, Result};
use crate::changer::MediaChanger;
use crate::engine::file::{read_boot, valid_file_name};
use crate::engine::wal::{self, RecordBody, FILE_HEADER};
use crate::engine::{Database, Lsn};
use crate::family::MediaError;
use crate::restore::{ReadSpec, RestoreSink};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// The file that marks a directory as restoring, with the sequence's state.
pub const RESTORING_FILE: &str = "refdb.restoring";

/// How a restore ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recovery {
    /// Recover: the database opens; no more backups can be restored to it.
    Recovery,
    /// Stay restoring: more backups can follow.
    NoRecovery,
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
    /// PARTIAL (piecemeal restore): a full backup restores only the primary filegroup and
    /// the filegroups in `filegroups`; the others stay offline until restored later (see
    /// `piecemeal`).
    pub partial: bool,
    /// With `partial`: the filegroups restored besides the primary one.
    pub filegroups: Vec<String>,
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
            partial: false,
            filegroups: Vec::new(),
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
    /// The new recovery fork, when recovered.
    pub fork: Option<[u8; 16]>,
    pub media: crate::restore::RestoreReport,
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
        let tmp = dir.join(".refdb.restoring.tmp");
        let path = dir.join(RESTORING_FILE);
        let mut f = File::create(&tmp).map_err(io_err("create", &tmp))?;
        f.write_all(text.as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(io_err("write", &tmp))?;
        fs::rename(&tmp, &path).map_err(io_err("rename into place", &path))?;
        sync_dir(dir)
    }

    pub(super) fn read(dir: &Path) -> Result<Option<State>> {
        let path = dir.join(RESTORING_FILE);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err("read", &path)(e)),
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

/// Writes each file of the set into the staging directory, by its name in `refdb/`.
struct Staging {
    dir: PathBuf,
    current: Option<File>,
    names: Vec<String>,
    error: Option<String>,
}

fn set_file_name(path: &[String]) -> Option<&str> {
    match path {
        [d, n] if d == "refdb" => {
            let ok = n == "log"
                || n == "header.mqci"
                || (n.starts_with('F')
                    && n.ends_with(".pages")
                    && n[1..n.len() - 6].parse::<u16>().is_ok());
            ok.then_some(n.as_str())
        }
        _ => None,
    }
}

impl RestoreSink for Staging {
    fn start(&mut self, _family: u16, path: &[String], _size: u64) -> crate::family::Result<()> {
        let Some(name) = set_file_name(path) else {
            self.error = Some(format!(
                "the set holds {:?}, which is not part of a refdb backup",
                path.join("/")
            ));
            return Err(MediaError::Invalid("not a refdb backup set".into()));
        };
        if self.names.iter().any(|n| n == name) {
            self.error = Some(format!("the set holds {name} twice"));
            return Err(MediaError::Invalid("a file twice in the set".into()));
        }
        self.names.push(name.to_owned());
        let p = self.dir.join(name);
        let f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&p)
            .map_err(|e| MediaError::Invalid(format!("create {}: {e}", p.display())))?;
        self.current = Some(f);
        Ok(())
    }
    fn data(&mut self, _family: u16, bytes: &[u8]) -> crate::family::Result<()> {
        let f = self
            .current
            .as_mut()
            .ok_or_else(|| MediaError::Invalid("data before a file".into()))?;
        f.write_all(bytes)
            .map_err(|e| MediaError::Invalid(format!("write into {}: {e}", self.dir.display())))
    }
    fn end(&mut self, _family: u16) -> crate::family::Result<()> {
        self.current = None;
        Ok(())
    }
    fn discard(&mut self, _family: u16) -> crate::family::Result<()> {
        self.current = None;
        if let Some(n) = self.names.pop() {
            let _ = fs::remove_file(self.dir.join(n));
        }
        Ok(())
    }
}

/// A directory beside `target` for work in progress, removed when dropped.
pub(super) struct TempDir(pub(super) PathBuf);

impl TempDir {
    pub(super) fn beside(target: &Path, what: &str) -> Result<TempDir> {
        let parent = target
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "db".into());
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
    fn walk(
        &self,
        last: Lsn,
        mut f: impl FnMut(&crate::engine::LogRecord, &[u8]) -> Result<bool>,
    ) -> Result<()> {
        let mut file =
            std::io::BufReader::new(File::open(&self.path).map_err(io_err("open", &self.path))?);
        let bad = |w: String| DbBackupError::Refused(format!("{}: {w}", self.path.display()));
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
                return Err(bad(format!("record at LSN {at}: checksum mismatch")));
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
    let lpath = dir.join(crate::engine::db::LOG_FILE);
    let tmp = dir.join(".log.ldf.restoring");
    let _ = fs::remove_file(&tmp);
    new_log_file(&tmp, h, log, end)?;
    fs::rename(&tmp, &lpath).map_err(io_err("rename into place", &lpath))
}

/// Where STOPAT cuts a log: the LSN of the first commit after the point, if any.
fn stop_point(log: &LogBytes, last: Lsn, stopat: u64) -> Result<Option<Lsn>> {
    let mut cut = None;
    log.walk(last, |r, _| {
        if let RecordBody::Commit { ts_ms } = r.body {
            if ts_ms > stopat {
                cut = Some(r.lsn);
                return Ok(false);
            }
        }
        Ok(true)
    })?;
    Ok(cut)
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

/// One restore: the target, the set read into staging, its header and log, the options.
#[derive(Clone, Copy)]
pub(super) struct Job<'a> {
    pub(super) dir: &'a Path,
    pub(super) stage: &'a Path,
    pub(super) h: &'a SetHeader,
    pub(super) log: &'a LogBytes,
    pub(super) opts: &'a RestoreOptions,
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
    let stage = TempDir::beside(dir, "incoming")?;
    let mut sink = Staging {
        dir: stage.0.clone(),
        current: None,
        names: Vec::new(),
        error: None,
    };
    let media = match crate::restore::restore(changers, spec, &mut sink) {
        Ok(r) => r,
        Err(e) => {
            return Err(match sink.error.take() {
                Some(w) => DbBackupError::Refused(w),
                None => e.into(),
            })
        }
    };
    drop(sink.current.take());
    let hpath = stage.0.join("header.mqci");
    let data = fs::read(&hpath).map_err(|_| {
        DbBackupError::Refused(
            "the set is not a refdb backup, or it is incomplete (no refdb/header.mqci)".into(),
        )
    })?;
    let header = SetHeader::from_mqci(&data, "the set's header")?;
    if header.format_version > FORMAT_VERSION {
        return Err(DbBackupError::Refused(format!(
            "the set was written by a newer engine (backup format {}; this engine reads up to {FORMAT_VERSION})",
            header.format_version
        )));
    }
    let log = LogBytes {
        path: stage.0.join("log"),
        first: header.first_lsn,
    };
    if !log.path.is_file() {
        return Err(DbBackupError::Refused("the set has no log".into()));
    }
    let mut target = inspect_target(dir)?;
    let job = Job {
        dir,
        stage: &stage.0,
        h: &header,
        log: &log,
        opts,
    };
    if !opts.moves.is_empty()
        && (header.kind != BackupType::Full || opts.page.is_some() || opts.filegroup.is_some())
    {
        return Err(DbBackupError::Refused(
            "MOVE relocates files when a full backup is restored (they stay where it put them for the rest of the sequence)".into(),
        ));
    }
    if opts.partial {
        let mut out = super::piecemeal::restore_partial(job, target)?;
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
        BackupType::Full => restore_full(job, target, Vec::new())?,
        BackupType::Differential => restore_diff(job, target)?,
        BackupType::Log => restore_log(job, target)?,
        BackupType::File => {
            return Err(DbBackupError::Refused(
                "a file backup restores one filegroup: name it (--filegroup NAME)".into(),
            ))
        }
    };
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

pub(super) fn name_guid(h: &SetHeader) -> String {
    format!(
        "{} (id {})",
        h.database,
        crate::engine::db::guid_string(&h.db_guid)
    )
}

/// A full restore; `offline`: the filegroups a piecemeal restore leaves out (the set's
/// header in `job` then lists only the files restored).
pub(super) fn restore_full(
    job: Job<'_>,
    target: Target,
    offline: Vec<u16>,
) -> Result<RestoreOutcome> {
    let Job {
        dir,
        stage,
        h,
        log,
        opts,
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
            return Err(DbBackupError::Refused(format!(
                "{} holds files that are not a refdb database ({}): use REPLACE to overwrite them",
                dir.display(),
                names.join(", ")
            )))
        }
    }
    // Build the database in a work directory, then put it in place.
    let work = TempDir::beside(dir, "restore")?;
    let mut placement = relocate::plan(dir, &work.0, h, opts)?;
    write_data_files(&work.0, stage, h, true, &placement)?;
    let cut = match opts.stopat_ms {
        Some(t) => refuse_bulk_stopat(h).and_then(|_| stop_point(log, h.last_lsn, t))?,
        None => None,
    };
    let end = cut.unwrap_or(h.last_lsn);
    if end < h.checkpoint_lsn {
        return Err(DbBackupError::Refused(format!(
            "the point in time lies before the end of the full backup's copy (LSN {}): restore an earlier full backup",
            h.checkpoint_lsn
        )));
    }
    new_log_file(&work.0.join(crate::engine::db::LOG_FILE), h, log, end)?;
    let state = State {
        db_guid: h.db_guid,
        database: h.database.clone(),
        full_guid: h.set_guid,
        log_end: end,
        fork_guid: h.fork_guid,
        needed: 0,
        offline,
    };
    placement.place()?;
    let out = finish(dir, work, h, state, opts, cut.is_some())?;
    placement.commit();
    Ok(out)
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
    let stay = opts.recovery == Recovery::NoRecovery || (opts.stopat_ms.is_some() && !stopped);
    if stay {
        state.write(&work.0)?;
    } else {
        super::piecemeal::mark_left_out(&work.0, &state)?;
        let db = Database::open(&work.0)?;
        out.fork = Some(new_fork(&db)?);
        db.close()?;
        let _ = fs::remove_file(work.0.join("refdb.lock"));
        out.recovered = true;
    }
    swap_into_place(dir, work)?;
    Ok(out)
}

/// The recovered database starts a new recovery fork, and a new log chain: the chain the
/// backups recorded ended with the restore, and the next log backup follows the next full
/// backup (a switch to simple and back clears the chain, as the engine's rules say).
fn new_fork(db: &Database) -> Result<[u8; 16]> {
    let fork = db.start_recovery_fork()?;
    let model = db.info().model;
    if model != crate::engine::RecoveryModel::Simple {
        db.set_recovery_model(crate::engine::RecoveryModel::Simple)?;
        db.set_recovery_model(model)?;
    }
    Ok(fork)
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
    if let Some(p) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        sync_dir(p)?;
    }
    Ok(())
}

/// Writes the set's pages into the data files in `into` (creating them when `create`), where
/// `placement` puts them; the boot page gets the placement's paths.
pub(super) fn write_data_files(
    into: &Path,
    stage: &Path,
    h: &SetHeader,
    create: bool,
    placement: &Placement,
) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    for f in &h.files {
        if !valid_file_name(&f.file_name) {
            return Err(DbBackupError::Refused(format!(
                "the set names data file {:?}, which is not a plain file name",
                f.file_name
            )));
        }
        let src = stage.join(format!("F{}.pages", f.file_id));
        if f.pages_in_set == 0 && !src.exists() {
            continue;
        }
        let path = placement.write_at(into, f.file_id, &f.file_name);
        let out = if create && !placement.made_before(f.file_id) {
            OpenOptions::new().write(true).create_new(true).open(&path)
        } else {
            OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&path)
        }
        .map_err(io_err("open data file (not following a link)", &path))?;
        let mut count = 0u64;
        read_pages(&src, |p| {
            let id = p.id();
            if id.file != f.file_id || p.verify(id).is_err() {
                return Err(DbBackupError::Refused(format!(
                    "{}: page {} of the set is damaged",
                    src.display(),
                    count
                )));
            }
            let placed;
            let p = if id.file == 1 && id.page == 0 {
                placed = placement.place_boot(&p)?;
                &placed
            } else {
                &p
            };
            out.write_all_at(
                &p.0[..],
                id.page as u64 * crate::engine::page::PAGE_SIZE as u64,
            )
            .map_err(io_err("write", &path))?;
            count += 1;
            Ok(())
        })?;
        if count != f.pages_in_set {
            return Err(DbBackupError::Refused(format!(
                "the set holds {count} pages of data file {}, its header says {}",
                f.file_id, f.pages_in_set
            )));
        }
        out.sync_all().map_err(io_err("fsync", &path))?;
    }
    Ok(())
}

/// A backup of another recovery fork than the restoring database's.
pub(super) fn refuse_other_fork(h: &SetHeader, s: &State) -> Result<()> {
    if h.fork_guid != s.fork_guid {
        return Err(DbBackupError::Refused(format!(
            "the {} backup LSN {}..{} belongs to recovery fork {}, the database being restored is in fork {}: the two histories cannot be mixed",
            format!("{:?}", h.kind).to_lowercase(),
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
    if opts.recovery == Recovery::Recovery && end < s.needed {
        return Err(DbBackupError::Refused(format!(
            "the restored files are brought up to date only at LSN {} (the end of the tail-log backup), this restore ends at LSN {end}: restore WITH NORECOVERY and continue with the log backups up to it",
            s.needed
        )));
    }
    Ok(())
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

/// Checks that the restoring log file ends where the state says (nobody opened it since).
fn check_log_file(dir: &Path, s: &State) -> Result<(File, PathBuf, Lsn)> {
    let lpath = dir.join(crate::engine::db::LOG_FILE);
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&lpath)
        .map_err(io_err("open", &lpath))?;
    let mut head = vec![0u8; 52];
    f.read_exact_at(&mut head, 0)
        .map_err(io_err("read", &lpath))?;
    let base = u64::from_le_bytes(head[32..40].try_into().expect("8 bytes"));
    let len = f.metadata().map_err(io_err("stat", &lpath))?.len();
    if len != FILE_HEADER + s.log_end.saturating_sub(base) {
        return Err(DbBackupError::Refused(format!(
            "{}: the restoring log no longer ends at LSN {} (the database was opened since): restore the sequence again from its full backup",
            lpath.display(),
            s.log_end
        )));
    }
    Ok((f, lpath, base))
}

pub(super) fn restore_diff(job: Job<'_>, target: Target) -> Result<RestoreOutcome> {
    let Job {
        dir,
        stage,
        h,
        log,
        opts,
    } = job;
    let s = restoring_state(dir, target, h, "differential backup")?;
    if h.base_guid != [0; 16] && h.base_guid != s.full_guid {
        return Err(DbBackupError::Refused(format!(
            "the differential is based on full backup {}, but the restore began with full backup {}",
            crate::engine::db::guid_string(&h.base_guid),
            crate::engine::db::guid_string(&s.full_guid)
        )));
    }
    check_log_file(dir, &s)?;
    let cut = match opts.stopat_ms {
        Some(t) => stop_point(log, h.last_lsn, t)?,
        None => None,
    };
    if cut.is_some_and(|c| c < h.checkpoint_lsn) {
        return Err(DbBackupError::Refused(
            "the point in time lies before the differential's copy: restore the logs after the full backup instead".into(),
        ));
    }
    // Everything checked: the pages go over the restoring files, the log is replaced.
    let present = super::piecemeal::present_files(h, &s);
    write_data_files(dir, stage, &present, false, &Placement::of_database(dir)?)?;
    let end = cut.unwrap_or(h.last_lsn);
    replace_log(dir, h, log, end)?;
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
    let stay = opts.recovery == Recovery::NoRecovery || (opts.stopat_ms.is_some() && !stopped);
    state.write(dir)?;
    if !stay {
        super::piecemeal::mark_left_out(dir, &state)?;
        let db = Database::open(dir)?;
        out.fork = Some(new_fork(&db)?);
        db.close()?;
        let p = dir.join(RESTORING_FILE);
        fs::remove_file(&p).map_err(io_err("remove", &p))?;
        sync_dir(dir)?;
        out.recovered = true;
    }
    Ok(out)
}

pub(super) fn restore_log(job: Job<'_>, target: Target) -> Result<RestoreOutcome> {
    let Job {
        dir,
        stage,
        h,
        log,
        opts,
    } = job;
    let s = restoring_state(dir, target, h, "log backup")?;
    refuse_other_fork(h, &s)?;
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
    let cut = match opts.stopat_ms {
        Some(t) => {
            refuse_bulk_stopat(h)?;
            stop_point(log, h.last_lsn, t)?
        }
        None => None,
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
    let end = cut.unwrap_or(h.last_lsn);
    // Pages of minimally logged operations (not in the log) first.
    let present = super::piecemeal::present_files(h, &s);
    if !present.files.is_empty() {
        write_data_files(dir, stage, &present, false, &Placement::of_database(dir)?)?;
    }
    copy_records(
        log,
        h.last_lsn,
        s.log_end,
        end,
        &lf,
        &lpath,
        FILE_HEADER + (s.log_end - base),
    )?;
    lf.sync_all().map_err(io_err("fsync", &lpath))?;
    drop(lf);
    let state = State { log_end: end, ..s };
    finish_in_place(dir, h, state, opts, cut.is_some())
}
