//! RESTORE ... WITH RESTART: a restore interrupted (process killed, medium missing, disk
//! full) continues from where it stopped, instead of silently mixing two attempts.
//!
//! When a restore starts changing anything, it writes a progress file beside the target
//! (`.<name>.restore-progress`, written whole by temp + rename): the set it restores (its
//! GUID, type and LSNs) and, for a full restore, the work directory it builds the database in
//! and each data file finished there with its length and identity stamp. The file goes when the
//! restore is done. While it is there:
//!
//! - the same restore run again without `restart` (the same set, as SQL Server lets a failed
//!   RESTORE be run again): a full restore starts over (the interrupted one's work directory
//!   goes), a differential or log restore goes on as with `restart` (the result is the same:
//!   what is kept is compared with the set first);
//! - a restore of another set without `restart` is refused with the reason ("an interrupted
//!   restore of ... is in progress: run that restore again to finish it ..."); a full
//!   restore with REPLACE discards the interrupted one and starts over;
//! - a restore with `restart` must be of the same set: a full restore reuses the work
//!   directory and skips the data files whose length and identity (inode, change and
//!   modification times) are as it left them (others are written again); a log restore keeps the records already appended to the restoring log
//!   (each compared byte for byte with the set's) and appends only the rest; a differential
//!   restore is done again whole (it writes absolute page images and replaces the log, so
//!   doing it twice is doing it once). A restore that had finished applying and was killed
//!   while recovering or entering standby does that last step again.
//!
//! `restart` without an interrupted restore is refused ("nothing to restart"), so that a
//! typo'd directory does not pass for success. The media are read again in any case (the set
//! is staged whole before the target is touched); what is skipped is the work on the target.
//! Not supported together: `restart` with MOVE or STOPAT, and file or page restores (they
//! are short; run them again).

use super::header::SetHeader;
use super::restore::{sync_dir, LogBytes, RestoreOptions, State};
use super::{
    hex, io_err, read_state_file, unhex, write_state_file, BackupType, DbBackupError, Result,
};
use crate::engine::wal::FILE_HEADER;
use std::fs;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// What a progress file holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Progress {
    pub(super) set_guid: [u8; 16],
    pub(super) kind: BackupType,
    pub(super) first_lsn: u64,
    pub(super) last_lsn: u64,
    /// A full restore's work directory.
    pub(super) work: Option<PathBuf>,
    /// Data files finished in the work directory: id, length, identity stamp.
    pub(super) done: Vec<(u16, u64, u64)>,
}

/// The directory a target is in, and its name (what the files beside it are named after: the
/// progress file, the staging and work directories).
pub(super) fn beside(dir: &Path) -> (&Path, String) {
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "db".into());
    (parent, name)
}

/// The lock that lets one restore at a time into a directory: `.NAME.restore-lock` beside
/// it, locked (`flock`) for the whole restore and removed when it ends (left by a killed
/// one, and taken over by the next). Two restores at once would share the progress file and
/// the work directory (one removed the other's under it). The name is checked to be still
/// the file locked, since a restore that ends removes it while the next may hold it open.
pub(super) struct TargetLock {
    path: PathBuf,
    _file: fs::File,
}

impl Drop for TargetLock {
    fn drop(&mut self) {
        // Removed while still locked: whoever opened it meanwhile finds its name gone.
        let _ = fs::remove_file(&self.path);
    }
}

/// Takes the restore lock of `dir`, or says another restore into it is running.
pub(super) fn lock_target(dir: &Path) -> Result<TargetLock> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let (parent, name) = beside(dir);
    let path = parent.join(format!(".{name}.restore-lock"));
    let busy = || {
        DbBackupError::Refused(format!(
            "another restore into {} is running: let it end (or stop it), then run this one again",
            dir.display()
        ))
    };
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&path)
        .map_err(io_err(
            "open the restore lock (never through a link)",
            &path,
        ))?;
    if !crate::engine::file::try_flock(&file).map_err(io_err("lock", &path))? {
        return Err(busy());
    }
    let held = file.metadata().map_err(io_err("stat", &path))?;
    match fs::symlink_metadata(&path) {
        Ok(m) if m.ino() == held.ino() && m.dev() == held.dev() => {
            Ok(TargetLock { path, _file: file })
        }
        _ => Err(busy()),
    }
}

/// Where the progress file of a restore into `dir` is.
pub(super) fn progress_path(dir: &Path) -> PathBuf {
    let (parent, name) = beside(dir);
    parent.join(format!(".{name}.restore-progress"))
}

impl Progress {
    fn new(h: &SetHeader) -> Progress {
        Progress {
            set_guid: h.set_guid,
            kind: h.kind,
            first_lsn: h.first_lsn,
            last_lsn: h.last_lsn,
            work: None,
            done: Vec::new(),
        }
    }

    pub(super) fn write(&self, dir: &Path) -> Result<()> {
        use std::os::unix::ffi::OsStrExt;
        let mut text = format!(
            "refdb restore progress 1\nset {}\nkind {}\nlsn {} {}\nwork {}\n",
            hex(&self.set_guid),
            self.kind.code() as char,
            self.first_lsn,
            self.last_lsn,
            self.work
                .as_ref()
                .map_or("-".into(), |w| hex(w.as_os_str().as_bytes()))
        );
        for (id, len, stamp) in &self.done {
            text.push_str(&format!("done {id} {len} {stamp}\n"));
        }
        write_state_file(&progress_path(dir), &text)
    }

    fn read(dir: &Path) -> Result<Option<Progress>> {
        use std::os::unix::ffi::OsStringExt;
        let path = progress_path(dir);
        let bad = || {
            DbBackupError::Refused(format!(
                "{}: a damaged restore progress file: an interrupted restore cannot be continued (remove it and restore with --replace)",
                path.display()
            ))
        };
        let mut l = match read_state_file(&path, "refdb restore progress 1")? {
            None => return Ok(None),
            Some(l) => l.ok_or_else(bad)?,
        };
        let mut get = |k: &str| l.get(k).ok_or_else(bad);
        let set_guid: [u8; 16] = unhex(&get("set")?)
            .and_then(|v| v.try_into().ok())
            .ok_or_else(bad)?;
        let kind = get("kind")?
            .bytes()
            .next()
            .and_then(BackupType::from_code)
            .ok_or_else(bad)?;
        let lsn = get("lsn")?;
        let (a, b) = lsn.split_once(' ').ok_or_else(bad)?;
        let work = match get("work")?.as_str() {
            "-" => None,
            h => Some(PathBuf::from(std::ffi::OsString::from_vec(
                unhex(h).ok_or_else(bad)?,
            ))),
        };
        let mut done = Vec::new();
        for line in l.rest() {
            let v: Vec<&str> = line
                .strip_prefix("done ")
                .ok_or_else(bad)?
                .split(' ')
                .collect();
            let [id, len, crc] = v[..] else {
                return Err(bad());
            };
            done.push((
                id.parse().map_err(|_| bad())?,
                len.parse().map_err(|_| bad())?,
                crc.parse().map_err(|_| bad())?,
            ));
        }
        Ok(Some(Progress {
            set_guid,
            kind,
            first_lsn: a.parse().map_err(|_| bad())?,
            last_lsn: b.parse().map_err(|_| bad())?,
            work,
            done,
        }))
    }

    fn describe(&self) -> String {
        format!(
            "the {} backup {} (LSN {}..{})",
            self.kind.name(),
            crate::engine::db::guid_string(&self.set_guid),
            self.first_lsn,
            self.last_lsn
        )
    }
}

/// Before a restore into `dir` of the set `h`: refuses what would mix an interrupted restore
/// with another, and returns the interrupted restore's progress when `restart` continues it.
/// The interrupted restore into `dir`, if one is: a progress file left by a restore killed
/// after its last step (the database put in place, or recovered) is removed, since that
/// restore was whole.
fn pending(dir: &Path) -> Result<Option<Progress>> {
    let p = Progress::read(dir)?;
    let stale = p.as_ref().is_some_and(|p| is_stale(dir, p));
    if stale {
        finish(dir)?;
        return Ok(None);
    }
    Ok(p)
}

/// Whether the progress file `p` was left by a restore killed after its last step.
fn is_stale(dir: &Path, p: &Progress) -> bool {
    match p.kind {
        BackupType::Full => work_dir(dir, p).is_none() && dir.is_dir(),
        _ => !dir.join(super::restore::RESTORING_FILE).exists(),
    }
}

/// The set (its GUID) an interrupted restore into `dir` was restoring, if one is; nothing is
/// changed (a stale progress file is left for the next restore to remove).
pub(super) fn interrupted_set(dir: &Path) -> Result<Option<[u8; 16]>> {
    Ok(Progress::read(dir)?
        .filter(|p| !is_stale(dir, p))
        .map(|p| p.set_guid))
}

/// What an interrupted restore into `dir` was restoring (for a refusal), if one is.
pub(super) fn interrupted(dir: &Path) -> Result<Option<String>> {
    Ok(pending(dir)?.map(|p| p.describe()))
}

pub(super) fn gate(dir: &Path, h: &SetHeader, opts: &RestoreOptions) -> Result<Option<Progress>> {
    let p = pending(dir)?;
    if opts.restart {
        if !opts.moves.is_empty() || opts.stopat_ms.is_some() {
            return Err(DbBackupError::Refused(
                "--restart continues an interrupted restore as it was: it does not take MOVE or STOPAT (restore again with --replace instead)".into(),
            ));
        }
        if opts.page.is_some() || opts.filegroup.is_some() || opts.partial {
            return Err(DbBackupError::Refused(
                "--restart is for database, differential and log restores: run the file, page or partial restore again without it".into(),
            ));
        }
    }
    let same_set = p.as_ref().is_some_and(|p| p.set_guid == h.set_guid);
    match p {
        None if opts.restart => Err(DbBackupError::Refused(format!(
            "--restart: no interrupted restore into {} to continue (nothing to restart; restore without --restart)",
            dir.display()
        ))),
        None => Ok(None),
        Some(p) if opts.restart => {
            if p.set_guid != h.set_guid {
                return Err(DbBackupError::Refused(format!(
                    "--restart: the interrupted restore into {} was of {}, not of this {} backup {}: restart it with its own media",
                    dir.display(),
                    p.describe(),
                    h.kind.name(),
                    crate::engine::db::guid_string(&h.set_guid)
                )));
            }
            Ok(Some(p))
        }
        // The same restore run again without --restart: a differential or log restore goes
        // on as with it (a differential is written whole again; the log records already
        // appended are compared byte for byte and kept), a full restore starts over.
        Some(p)
            if p.set_guid == h.set_guid
                && h.kind != BackupType::Full
                && opts.moves.is_empty()
                && opts.stopat_ms.is_none()
                && opts.page.is_none()
                && opts.filegroup.is_none()
                && !opts.partial =>
        {
            Ok(Some(p))
        }
        Some(_) if (opts.replace || same_set) && h.kind == BackupType::Full => {
            discard(dir)?;
            Ok(None)
        }
        Some(p) => Err(DbBackupError::Refused(format!(
            "an interrupted restore of {} into {} is in progress: run that restore again to finish it (--restart continues it where it stopped), or restore a full backup with --replace to start over",
            p.describe(),
            dir.display()
        ))),
    }
}

/// Starts over: the work directory an interrupted full restore into `dir` left (if its
/// progress file names one beside `dir`) and the progress file go.
pub(super) fn discard(dir: &Path) -> Result<()> {
    if let Some(w) = recorded_work_dir(dir) {
        // Not interrupted but running: its work directory is in use.
        if let Some(pid) = running_owner(&w) {
            return Err(DbBackupError::Refused(format!(
                "another restore into {} is running (process {pid}): let it end, or stop it and run this one again",
                dir.display()
            )));
        }
        // (A link planted at its name is removed, not followed.)
        let _ = fs::remove_dir_all(w);
    }
    finish(dir)
}

/// Whether `w` is named as a work directory beside `dir` (a damaged progress file must not
/// make a restore remove anything else).
fn is_work_dir_of(dir: &Path, w: &Path) -> bool {
    let (parent, name) = beside(dir);
    w.parent() == Some(parent)
        && w.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(&format!(".{name}.restore.")))
}

/// The restore starts changing things: records it (a fresh progress, unless it continues).
pub(super) fn start(dir: &Path, h: &SetHeader, work: Option<&Path>) -> Result<Progress> {
    let mut p = Progress::new(h);
    p.work = work.map(Path::to_path_buf);
    p.write(dir)?;
    Ok(p)
}

/// The work directory the progress file beside `dir` names, if any (whether or not it is
/// still there): the sweep of dead restores' work directories leaves it for `--restart`.
pub(super) fn recorded_work_dir(dir: &Path) -> Option<PathBuf> {
    Progress::read(dir)
        .ok()
        .flatten()
        .and_then(|p| p.work)
        .filter(|w| is_work_dir_of(dir, w))
}

/// The process that made work directory `w` (`.NAME.restore.PID.N`), when it still runs
/// and is not this one.
fn running_owner(w: &Path) -> Option<i32> {
    let name = w.file_name()?.to_str()?;
    let mut parts = name.rsplit('.');
    let (_n, pid) = (parts.next()?, parts.next()?.parse::<i32>().ok()?);
    if pid <= 0 || pid as u32 == std::process::id() {
        return None;
    }
    // SAFETY: kill with signal 0 only asks whether the process exists.
    let alive = unsafe { libc::kill(pid, 0) } == 0
        || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    alive.then_some(pid)
}

/// The work directory an interrupted full restore left, if it is still there: a directory
/// itself, not a symbolic link planted at its name (a restart writes the data files and the
/// log into it and renames it into place: through a link it would overwrite the files of
/// whatever directory the link names, and put the link in place of the database).
pub(super) fn work_dir(dir: &Path, p: &Progress) -> Option<PathBuf> {
    p.work
        .as_ref()
        .filter(|w| is_work_dir_of(dir, w) && fs::symlink_metadata(w).is_ok_and(|m| m.is_dir()))
        .cloned()
}

/// Whether data file `id`, at `path`, was finished by the interrupted restore and is still
/// as it left it.
pub(super) fn file_is_done(p: &Progress, id: u16, path: &Path) -> Result<bool> {
    let Some(&(_, len, stamp)) = p.done.iter().find(|d| d.0 == id) else {
        return Ok(false);
    };
    if !path.is_file() {
        return Ok(false);
    }
    Ok(file_stamp(path)? == (len, stamp))
}

/// A data file's length and a stamp of its identity (device, inode, change and modification
/// times): any write to the file, a rename over it or a copy put in its place changes it (the
/// change time cannot be set back). Its pages were each checked against their CRC-32C as they
/// came off the media; reading the whole file again to checksum it cost a fifth of a restore.
fn file_stamp(path: &Path) -> Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let m = fs::symlink_metadata(path).map_err(io_err("stat", path))?;
    // FNV-1a: the same stamp from every build (a progress file outlives the binary that
    // wrote it when the restore is continued after an upgrade).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for v in [
        m.dev(),
        m.ino(),
        m.ctime() as u64,
        m.ctime_nsec() as u64,
        m.mtime() as u64,
        m.mtime_nsec() as u64,
    ] {
        for b in v.to_le_bytes() {
            h = (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    Ok((m.len(), h))
}

/// Records data file `id` (at `path`) finished.
pub(super) fn file_done(dir: &Path, p: &mut Progress, id: u16, path: &Path) -> Result<()> {
    let (len, stamp) = file_stamp(path)?;
    p.done.retain(|d| d.0 != id);
    p.done.push((id, len, stamp));
    p.write(dir)?;
    crate::engine::crash::point(crate::engine::crash::Point::Restore);
    Ok(())
}

/// The restore is done: the progress file goes.
pub(super) fn finish(dir: &Path) -> Result<()> {
    let path = progress_path(dir);
    match fs::remove_file(&path) {
        Ok(()) => sync_dir(path.parent().unwrap_or(Path::new("."))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err("remove", &path)(e)),
    }
}

/// A log restore continued: keeps the records the interrupted run appended to the restoring
/// log after `s.log_end` that are byte for byte the set's, cuts anything after the last of
/// them, and returns the state with the log ending there (written to `dir`).
pub(super) fn resume_log(dir: &Path, s: State, log: &LogBytes, h: &SetHeader) -> Result<State> {
    super::standby::leave(dir, &s)?;
    if s.log_end >= h.last_lsn {
        // Applied whole; killed while recovering (whose records the log may hold: recovery
        // runs again over them) or entering standby (put back just now).
        return Ok(s);
    }
    let (f, lpath, base, len) = super::restore::open_restoring_log(dir)?;
    let start = FILE_HEADER + s.log_end.saturating_sub(base);
    if len < start {
        return Err(DbBackupError::Refused(format!(
            "{}: the restoring log is shorter than its state says (LSN {}): restore the sequence again from its full backup",
            lpath.display(),
            s.log_end
        )));
    }
    let mut end = s.log_end;
    let mut off = start;
    let mut buf = Vec::new();
    log.walk(h.last_lsn, |r, bytes| {
        if r.lsn < s.log_end {
            return Ok(true);
        }
        if r.lsn != end || off + bytes.len() as u64 > len {
            return Ok(false);
        }
        buf.resize(bytes.len(), 0);
        f.read_exact_at(&mut buf, off)
            .map_err(io_err("read", &lpath))?;
        if buf != bytes {
            return Ok(false);
        }
        off += bytes.len() as u64;
        end = r.lsn + bytes.len() as u64;
        Ok(true)
    })?;
    f.set_len(off)
        .and_then(|_| f.sync_all())
        .map_err(io_err("cut the log after its last whole record", &lpath))?;
    let s = State { log_end: end, ..s };
    s.write(dir)?;
    Ok(s)
}
