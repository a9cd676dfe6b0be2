//! RESTORE ... WITH STANDBY: a restore that leaves the database readable between log
//! restores, its undo kept aside in an undo file so that the next log can still be applied.
//!
//! **Entering standby** (after a full, differential or log restore has left the directory
//! restoring): the undo file is first written beside its final name (a temporary file, created
//! new): a header (database id, the full backup the sequence began with, the LSN the restored
//! log ends at, each data file's length), then the whole restoring log as it is, then, while
//! recovery runs (its redo and its undo of what never committed), the image each data page had
//! before recovery's first write to it. Each page image is made durable before the page is
//! overwritten, so a process killed halfway leaves a directory the next restore can put back.
//! The marker file [`STANDBY_FILE`] says which phase the directory is in (`recovering`, then
//! `standby`) and where the undo file is. At the end the temporary file gets an end record and
//! is renamed over the undo file (an earlier undo file of the same database, of this directory
//! or of one no longer using it, may be replaced; anything else, or a link, is refused).
//!
//! **Leaving standby** (the next restore into the directory, before it changes anything):
//! the undo file must be there, be whole, and be of this database at this LSN; the log must be
//! as standby left it (nobody wrote to the database since). The page images are written back,
//! data files cut to their lengths, the log put back, and the marker removed: the directory is
//! restoring again, exactly as before standby, and the restore goes on. Putting back is
//! repeatable, so a process killed while doing it leaves a state the next attempt handles.
//!
//! **Whose undo file.** Its header names the directory it belongs to (`RDBUNDO2`: the
//! directory's canonical path, device and inode). Two standby copies of one database restored
//! from the same backups have the same database, full backup and LSN, so nothing else tells
//! their undo files apart, and one copy putting back the other's pages would pass every other
//! check. Entering standby over an undo file of another directory is refused, naming it, while
//! that directory still names the file in its marker; once it does not (the directory is
//! gone, recovered, or in standby with another undo file), the file may be replaced. The same
//! directory naming the same file again (STANDBY, then the next log WITH STANDBY) is what
//! entering over it is for. Leaving standby refuses an undo file of another directory; a
//! directory renamed on its file system keeps its device and inode, so it still owns its undo
//! file after an `mv` (moved to another file system, it is refused with the way out: move it
//! back). Undo files of the previous release (`RDBUNDO1`, no owner) are still put back by the
//! directory whose marker names them, on the database, full backup, LSN and log checks as
//! before; entering standby over one is allowed only from that directory.
//!
//! Cost: the undo file holds the whole restoring log (which may be large) and the pages
//! recovery touched; recovery pays one fsync per page it writes.

use super::restore::{sync_dir, State, RESTORING_FILE};
use super::{hex, io_err, read_state_file, unhex, write_state_file, DbBackupError, Result};
use crate::engine::db::Options;
use crate::engine::file::{read_boot, DataFile};
use crate::engine::page::{crc32c, Crc32c};
use crate::engine::page::{PageId, PAGE_SIZE};
use crate::engine::Database;
use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, Read, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The marker of a database directory in standby (or entering it).
pub const STANDBY_FILE: &str = "refdb.standby";
/// The restoring log being put back from the undo file, renamed into place once whole.
pub(super) const LOG_PUT_BACK_TMP: &str = ".log.ldf.unstandby";

/// An undo file of the previous release: no owner in its header.
const MAGIC_V1: &[u8; 8] = b"RDBUNDO1";
/// An undo file whose header names the database directory that owns it.
const MAGIC: &[u8; 8] = b"RDBUNDO2";
/// At most this many data files in an undo file's header (a damaged count is refused).
const MAX_FILES: u16 = 4096;
/// At most this many bytes of owner path (Linux's PATH_MAX): a damaged or forged length is
/// refused before anything is allocated for it.
const MAX_OWNER: u16 = 4096;

/// Why a standby database refuses changes (the engine's read-only reason).
pub fn read_only_reason(dir: &Path) -> String {
    format!(
        "{}: the database is in standby (read-only) between log restores: restore its next log backup (WITH STANDBY, NORECOVERY or RECOVERY) before changing it",
        dir.display()
    )
}

/// Whether `dir` holds a database in standby that can be opened read-only.
pub fn is_standby(dir: &Path) -> bool {
    matches!(Marker::read(dir), Ok(Some(m)) if m.phase == Phase::Standby)
        && dir.join(RESTORING_FILE).exists()
}

/// Opens a database in standby read-only (the read commands use this).
pub fn open_standby(dir: &Path, opts: Options) -> Result<Database> {
    Ok(Database::open_read_only(dir, opts, read_only_reason(dir))?)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Recovering,
    Standby,
    /// The undo being put back (pages written back): no longer readable, since the files
    /// are half way between standby and restoring; the next restore puts it back again.
    Leaving,
}

/// What [`STANDBY_FILE`] holds.
struct Marker {
    phase: Phase,
    undo: PathBuf,
    temp: PathBuf,
    /// The log as standby left it: its length and CRC-32C (0, 0 while recovering).
    log_len: u64,
    log_crc: u32,
}

fn path_of_hex(s: &str) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStringExt;
    Some(PathBuf::from(std::ffi::OsString::from_vec(unhex(s)?)))
}
fn hex_of_path(p: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    hex(p.as_os_str().as_bytes())
}

impl Marker {
    fn write(&self, dir: &Path) -> Result<()> {
        let text = format!(
            "refdb standby 1\nphase {}\nundo {}\ntemp {}\nlog {} {}\n",
            match self.phase {
                Phase::Recovering => "recovering",
                Phase::Standby => "standby",
                Phase::Leaving => "leaving",
            },
            hex_of_path(&self.undo),
            hex_of_path(&self.temp),
            self.log_len,
            self.log_crc
        );
        write_state_file(&dir.join(STANDBY_FILE), &text)
    }

    fn read(dir: &Path) -> Result<Option<Marker>> {
        let path = dir.join(STANDBY_FILE);
        let bad = || {
            DbBackupError::Refused(format!(
                "{}: damaged standby marker: restore the sequence again from its full backup (with REPLACE)",
                path.display()
            ))
        };
        let mut l = match read_state_file(&path, "refdb standby 1")? {
            None => return Ok(None),
            Some(l) => l.ok_or_else(bad)?,
        };
        let mut get = |k: &str| l.get(k).ok_or_else(bad);
        let phase = match get("phase")?.as_str() {
            "recovering" => Phase::Recovering,
            "standby" => Phase::Standby,
            "leaving" => Phase::Leaving,
            _ => return Err(bad()),
        };
        let undo = path_of_hex(&get("undo")?).ok_or_else(bad)?;
        let temp = path_of_hex(&get("temp")?).ok_or_else(bad)?;
        let log = get("log")?;
        let (a, b) = log.split_once(' ').ok_or_else(bad)?;
        Ok(Some(Marker {
            phase,
            undo,
            temp,
            log_len: a.parse().map_err(|_| bad())?,
            log_crc: b.parse().map_err(|_| bad())?,
        }))
    }
}

/// The database directory an undo file belongs to. Two standby copies of one database
/// restored from the same backups have the same database, full backup and LSN: only the
/// directory tells their undo files apart (one would otherwise put back the other's pages).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Owner {
    /// Its canonical absolute path when it entered standby.
    path: PathBuf,
    /// Its device and inode: a directory renamed on its file system (`mv`) keeps them, so
    /// it is still known as the owner at its new path.
    dev: u64,
    ino: u64,
}

impl Owner {
    /// The owner record of the existing directory `dir`.
    fn of(dir: &Path) -> Result<Owner> {
        use std::os::unix::fs::MetadataExt;
        let path = fs::canonicalize(dir).map_err(io_err("resolve", dir))?;
        let m = fs::metadata(&path).map_err(io_err("stat", &path))?;
        Ok(Owner {
            path,
            dev: m.dev(),
            ino: m.ino(),
        })
    }

    /// Whether `dir` is this owner: the same path (canonical; for a directory a full restore
    /// has yet to create, its parent's canonical path and its name), or the same directory
    /// under another name.
    fn is(&self, dir: &Path) -> bool {
        if let Ok(here) = Owner::of(dir) {
            return here.path == self.path || (here.dev, here.ino) == (self.dev, self.ino);
        }
        let planned = std::path::absolute(dir).ok().and_then(|a| {
            let name = a.file_name()?.to_owned();
            Some(fs::canonicalize(a.parent()?).ok()?.join(name))
        });
        planned.as_deref() == Some(self.path.as_path())
    }
}

/// The header of an undo file.
#[derive(Debug, PartialEq, Eq)]
struct UndoHeader {
    db_guid: [u8; 16],
    full_guid: [u8; 16],
    log_end: u64,
    /// The directory in standby it belongs to; `None` in an undo file of the previous
    /// release (`RDBUNDO1`), which did not record it.
    owner: Option<Owner>,
    /// Each data file's id and length before recovery.
    files: Vec<(u16, u64)>,
    log_len: u64,
}

impl UndoHeader {
    /// `RDBUNDO2`: magic, database id, full backup id, log end, owner device and inode,
    /// owner path length, data file count, owner path, data files (id, length), log length,
    /// CRC-32C of all before it. Without an owner, the previous release's `RDBUNDO1` (the
    /// same without the owner fields): only the tests write it, to show it is still read.
    fn encode(&self) -> Vec<u8> {
        use std::os::unix::ffi::OsStrExt;
        let mut b = match &self.owner {
            Some(_) => MAGIC.to_vec(),
            None => MAGIC_V1.to_vec(),
        };
        b.extend_from_slice(&self.db_guid);
        b.extend_from_slice(&self.full_guid);
        b.extend_from_slice(&self.log_end.to_le_bytes());
        let owner = self
            .owner
            .as_ref()
            .map(|o| (o, o.path.as_os_str().as_bytes()));
        if let Some((o, p)) = owner {
            b.extend_from_slice(&o.dev.to_le_bytes());
            b.extend_from_slice(&o.ino.to_le_bytes());
            b.extend_from_slice(&(p.len() as u16).to_le_bytes());
        }
        b.extend_from_slice(&(self.files.len() as u16).to_le_bytes());
        if let Some((_, p)) = owner {
            b.extend_from_slice(p);
        }
        for (id, len) in &self.files {
            b.extend_from_slice(&id.to_le_bytes());
            b.extend_from_slice(&len.to_le_bytes());
        }
        b.extend_from_slice(&self.log_len.to_le_bytes());
        let c = crc32c(&b);
        b.extend_from_slice(&c.to_le_bytes());
        b
    }
}

/// Reads exactly `n` bytes, or `None` at a short read (a torn end).
fn take(r: &mut impl Read, n: usize) -> std::io::Result<Option<Vec<u8>>> {
    let mut b = vec![0u8; n];
    Ok(take_into(r, &mut b)?.then_some(b))
}

/// Fills `b`, or false at a short read.
fn take_into(r: &mut impl Read, b: &mut [u8]) -> std::io::Result<bool> {
    let mut got = 0;
    while got < b.len() {
        match r.read(&mut b[got..])? {
            0 => return Ok(false),
            k => got += k,
        }
    }
    Ok(true)
}

/// An undo file checked (every checksum), and where its parts are in it: the log, and each
/// page image (read from the file when put back, so its size never sits in memory).
struct Undo {
    path: PathBuf,
    header: UndoHeader,
    log_off: u64,
    log_crc: u32,
    pages: Vec<(PageId, u64)>,
    /// It has its end record (a temporary file of an interrupted standby has not).
    whole: bool,
}

/// Reads an undo file. `partial`: a file cut short by a crash is taken up to its last whole
/// record.
fn read_undo(path: &Path, partial: bool) -> Result<Undo> {
    let f = File::open(path).map_err(io_err("open undo file", path))?;
    let mut r = BufReader::new(f);
    let bad = |why: &str| {
        DbBackupError::Refused(format!(
            "undo file {}: {why}: it cannot be used to continue the restore (restore the sequence again from its full backup)",
            path.display()
        ))
    };
    let io = io_err("read undo file", path);
    let magic = take(&mut r, 8)
        .map_err(io_err("read undo file", path))?
        .ok_or_else(|| bad("too short to be an undo file"))?;
    let v2 = match &magic[..] {
        m if m == MAGIC => true,
        m if m == MAGIC_V1 => false,
        _ => return Err(bad("not a refdb undo file")),
    };
    // The fixed part: ids and log end, (v2) the owner's device, inode and path length, then
    // the data file count. Every length is checked before anything is sized by it.
    let fixed_len = 16 + 16 + 8 + if v2 { 8 + 8 + 2 } else { 0 } + 2;
    let fixed = take(&mut r, fixed_len)
        .map_err(io_err("read undo file", path))?
        .ok_or_else(|| bad("too short to be an undo file"))?;
    let u16_at = |i: usize| u16::from_le_bytes([fixed[i], fixed[i + 1]]);
    let u64_at = |i: usize| u64::from_le_bytes(fixed[i..i + 8].try_into().expect("8 bytes"));
    let n = u16_at(fixed_len - 2);
    let owner_len = if v2 { u16_at(56) } else { 0 };
    if n > MAX_FILES {
        return Err(bad("damaged header (data file count)"));
    }
    if owner_len > MAX_OWNER {
        return Err(bad("damaged header (owner path length)"));
    }
    let ol = owner_len as usize;
    let rest = take(&mut r, ol + n as usize * 10 + 8 + 4)
        .map_err(io_err("read undo file", path))?
        .ok_or_else(|| bad("damaged header"))?;
    let mut all = magic.clone();
    all.extend_from_slice(&fixed);
    all.extend_from_slice(&rest[..rest.len() - 4]);
    let crc = u32::from_le_bytes(rest[rest.len() - 4..].try_into().expect("4 bytes"));
    if crc32c(&all) != crc {
        return Err(bad("damaged header (checksum)"));
    }
    let owner = if v2 {
        use std::os::unix::ffi::OsStrExt;
        let p = Path::new(std::ffi::OsStr::from_bytes(&rest[..ol]));
        // A canonical path: absolute, no NUL (nothing else was ever written there).
        if !p.is_absolute() || rest[..ol].contains(&0) {
            return Err(bad("damaged header (owner path)"));
        }
        Some(Owner {
            path: p.to_path_buf(),
            dev: u64_at(40),
            ino: u64_at(48),
        })
    } else {
        None
    };
    let rest = &rest[ol..];
    let files = (0..n as usize)
        .map(|i| {
            let b = &rest[i * 10..i * 10 + 10];
            (
                u16::from_le_bytes([b[0], b[1]]),
                u64::from_le_bytes(b[2..10].try_into().expect("8 bytes")),
            )
        })
        .collect();
    let log_len = u64::from_le_bytes(
        rest[n as usize * 10..n as usize * 10 + 8]
            .try_into()
            .expect("8 bytes"),
    );
    let header = UndoHeader {
        db_guid: fixed[0..16].try_into().expect("16 bytes"),
        full_guid: fixed[16..32].try_into().expect("16 bytes"),
        log_end: u64_at(32),
        owner,
        files,
        log_len,
    };
    // The log: its length is checked against the file's before it is read.
    let flen = fs::metadata(path).map_err(io_err("stat", path))?.len();
    if log_len.saturating_add(4) > flen {
        return Err(bad("cut short in its copy of the log"));
    }
    // Streamed: checked here, copied from the file when it is put back.
    let log_off = (all.len() + 4) as u64;
    let mut d = Crc32c::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut left = log_len;
    while left > 0 {
        let k = left.min(buf.len() as u64) as usize;
        take_into(&mut r, &mut buf[..k])
            .map_err(io_err("read undo file", path))?
            .then_some(())
            .ok_or_else(|| bad("cut short in its copy of the log"))?;
        d.update(&buf[..k]);
        left -= k as u64;
    }
    let log_crc = d.finalize();
    let c = take(&mut r, 4)
        .map_err(io_err("read undo file", path))?
        .ok_or_else(|| bad("cut short in its copy of the log"))?;
    if log_crc != u32::from_le_bytes(c[..].try_into().expect("4 bytes")) {
        return Err(bad("its copy of the log is damaged (checksum)"));
    }
    let mut at = log_off + log_len + 4;
    let mut pages = Vec::new();
    let mut whole = false;
    while let Some(tag) = take(&mut r, 1).map_err(io_err("read undo file", path))? {
        match tag[0] {
            b'P' => {
                let Some(b) =
                    take(&mut r, 6 + PAGE_SIZE + 4).map_err(io_err("read undo file", path))?
                else {
                    break;
                };
                let (body, c) = b.split_at(6 + PAGE_SIZE);
                let mut d = Crc32c::new();
                d.update(b"P");
                d.update(body);
                if d.finalize() != u32::from_le_bytes(c.try_into().expect("4 bytes")) {
                    if partial {
                        break;
                    }
                    return Err(bad("a page image is damaged (checksum)"));
                }
                let id = PageId {
                    file: u16::from_le_bytes([body[0], body[1]]),
                    page: u32::from_le_bytes(body[2..6].try_into().expect("4 bytes")),
                };
                pages.push((id, at + 1 + 6));
                at += 1 + b.len() as u64;
            }
            b'E' => {
                let b = take(&mut r, 8)
                    .map_err(io_err("read undo file", path))?
                    .ok_or_else(|| bad("damaged end record"))?;
                let count = u32::from_le_bytes(b[..4].try_into().expect("4 bytes"));
                let c = u32::from_le_bytes(b[4..].try_into().expect("4 bytes"));
                let mut d = Crc32c::new();
                d.update(b"E");
                d.update(&b[..4]);
                if d.finalize() != c || count as usize != pages.len() {
                    return Err(bad("damaged end record"));
                }
                if take(&mut r, 1).map_err(io)?.is_some() {
                    return Err(bad("bytes after its end record"));
                }
                whole = true;
                break;
            }
            _ if partial => break,
            _ => return Err(bad("damaged (unknown record)")),
        }
    }
    if !whole && !partial {
        return Err(bad("incomplete (no end record)"));
    }
    Ok(Undo {
        path: path.to_path_buf(),
        header,
        log_off,
        log_crc,
        pages,
        whole,
    })
}

/// Refuses to put an undo file where a link, a non-file, or a file that is not an undo file
/// of this database is, or at a name the restore into `dir` itself takes (the database
/// directory, its progress file beside it): those do not exist yet when the restore starts,
/// and would only be found taken once the database had been put in place. An undo file of
/// this database that another directory owns is refused too, naming it, while that directory
/// still names it (see [`may_replace`]).
pub(super) fn check_undo_target(dir: &Path, undo: &Path, db_guid: &[u8; 16]) -> Result<()> {
    check_target(dir, undo, db_guid, false)
}

/// [`check_undo_target`]; `v1_ok`: an undo file of the previous release is taken as this
/// directory's (when entering standby at the end of a restore whose start checked it: the
/// marker that named it is gone by then, removed when the undo was put back).
fn check_target(dir: &Path, undo: &Path, db_guid: &[u8; 16], v1_ok: bool) -> Result<()> {
    let undo = &std::path::absolute(undo).map_err(io_err("resolve", undo))?;
    let resolve = |p: &Path| std::path::absolute(p).map_err(io_err("resolve", p));
    if *undo == resolve(dir)? || *undo == resolve(&super::restart::progress_path(dir))? {
        return Err(DbBackupError::Refused(format!(
            "undo file {}: that is where the restore puts the database (or records its progress); name a file outside the database directory",
            undo.display()
        )));
    }
    if !undo.parent().is_some_and(Path::is_dir) {
        return Err(DbBackupError::Refused(format!(
            "undo file {}: its directory does not exist",
            undo.display()
        )));
    }
    match fs::symlink_metadata(undo) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err("stat", undo)(e)),
        Ok(m) if m.file_type().is_symlink() => Err(DbBackupError::Refused(format!(
            "undo file {} is a symbolic link: refusing to write through it",
            undo.display()
        ))),
        Ok(m) if !m.is_file() => Err(DbBackupError::Refused(format!(
            "undo file {} exists and is not a regular file",
            undo.display()
        ))),
        Ok(_) => match read_undo(undo, true) {
            Ok(u) if u.header.db_guid == *db_guid && u.header.owner.is_none() && v1_ok => Ok(()),
            Ok(u) if u.header.db_guid == *db_guid => may_replace(dir, undo, &u.header),
            Ok(_) => Err(DbBackupError::Refused(format!(
                "undo file {} exists and belongs to another database: refusing to overwrite it",
                undo.display()
            ))),
            Err(_) => Err(DbBackupError::Refused(format!(
                "{} exists and is not a refdb undo file: refusing to overwrite it",
                undo.display()
            ))),
        },
    }
}

/// Whether the undo file `undo` of this database (header `h`) may be replaced by the standby
/// of `dir`. Yes when `dir` owns it (the same directory entering standby again after its next
/// log), or when its owner no longer names it: the owner's directory is gone, or is not in
/// standby (no marker), or its marker names another undo file. An owner whose marker cannot
/// be read keeps it (what it holds is unknown, and the undo file may be all it has). An undo
/// file of the previous release names no owner: it is replaced only by the directory whose
/// marker names it.
fn may_replace(dir: &Path, undo: &Path, h: &UndoHeader) -> Result<()> {
    let dir_abs = std::path::absolute(dir).map_err(io_err("resolve", dir))?;
    match &h.owner {
        Some(o) if o.is(dir) => Ok(()),
        Some(o) => match still_named(&o.path, undo) {
            None => Ok(()),
            Some(why) => Err(DbBackupError::Refused(format!(
                "undo file {} belongs to the database in standby in {} ({why}): refusing to overwrite it; give {} an undo file of its own (each standby database needs its own)",
                undo.display(),
                o.path.display(),
                dir_abs.display()
            ))),
        },
        None if still_named(dir, undo).is_some() => Ok(()),
        None => Err(DbBackupError::Refused(format!(
            "undo file {} was written by an earlier refdb and does not say which database directory it belongs to: refusing to overwrite it; name another undo file, or remove it if no database in standby uses it",
            undo.display()
        ))),
    }
}

/// Why the directory `owner` still needs the undo file `undo` (its standby marker names it),
/// or `None` when it does not (gone, not a directory, no marker, a marker naming another
/// file).
fn still_named(owner: &Path, undo: &Path) -> Option<String> {
    if !owner.is_dir() {
        return None;
    }
    match Marker::read(owner) {
        Ok(None) => None,
        Ok(Some(m)) if same_file(&m.undo, undo) || same_file(&m.temp, undo) => {
            Some("its standby marker names it".into())
        }
        Ok(Some(_)) => None,
        Err(e) => Some(format!("its standby marker cannot be read: {e}")),
    }
}

/// The same path, or the same file (device and inode) under two names.
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    a == b
        || matches!((fs::metadata(a), fs::metadata(b)),
            (Ok(x), Ok(y)) if (x.dev(), x.ino()) == (y.dev(), y.ino()))
}

/// The length and CRC-32C of a file, streamed (what standby and --restart compare a file
/// with to know it is as they left it).
pub(super) fn file_crc(path: &Path) -> Result<(u64, u32)> {
    let mut f = File::open(path).map_err(io_err("open", path))?;
    let mut d = Crc32c::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf).map_err(io_err("read", path))?;
        if k == 0 {
            break;
        }
        d.update(&buf[..k]);
        n += k as u64;
    }
    Ok((n, d.finalize()))
}

/// Puts the restoring database in `dir` (its state `state` already written there) in
/// standby, keeping its undo in `undo`.
pub(super) fn enter(dir: &Path, state: &State, undo: &Path) -> Result<()> {
    let undo = std::path::absolute(undo).map_err(io_err("resolve", undo))?;
    check_target(dir, &undo, &state.db_guid, true)?;
    let name = undo
        .file_name()
        .ok_or_else(|| {
            DbBackupError::Refused(format!("undo file {}: no file name", undo.display()))
        })?
        .to_string_lossy()
        .into_owned();
    let temp = undo.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let _ = fs::remove_file(&temp);
    let mut out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&temp)
        .map_err(io_err("create undo file", &temp))?;
    // Until the marker names it, nothing would ever find the temporary file again: a failure
    // before (a full disk while the log is copied into it) removes it, or it would stay
    // beside the undo file for good, as large as the log.
    let lpath = crate::engine::db::log_path(dir)?;
    let begun = (|| -> Result<()> {
        let boot = read_boot(dir).ok_or_else(|| {
            DbBackupError::Refused(format!("{}: no readable boot page", dir.display()))
        })?;
        let mut files = Vec::new();
        for f in &boot.files {
            let p = f.resolve(dir);
            let m = fs::metadata(&p).map_err(io_err("stat", &p))?;
            files.push((f.id, m.len()));
        }
        let log_len = fs::metadata(&lpath).map_err(io_err("stat", &lpath))?.len();
        let owner = Owner::of(dir)?;
        if owner.path.as_os_str().len() > MAX_OWNER as usize {
            return Err(DbBackupError::Refused(format!(
                "{}: the directory's path is longer than {MAX_OWNER} bytes, more than an undo file records",
                owner.path.display()
            )));
        }
        let header = UndoHeader {
            db_guid: state.db_guid,
            full_guid: state.full_guid,
            log_end: state.log_end,
            owner: Some(owner),
            files,
            log_len,
        };
        let w = io_err("write undo file", &temp);
        out.write_all(&header.encode()).map_err(w)?;
        // The whole restoring log.
        let mut lf = File::open(&lpath).map_err(io_err("open", &lpath))?;
        let mut d = Crc32c::new();
        let mut buf = vec![0u8; 1 << 16];
        let mut left = log_len;
        while left > 0 {
            let k = lf
                .read(&mut buf[..left.min(1 << 16) as usize])
                .map_err(io_err("read", &lpath))?;
            if k == 0 {
                return Err(DbBackupError::Refused(format!(
                    "{}: the log shrank while it was copied",
                    lpath.display()
                )));
            }
            d.update(&buf[..k]);
            out.write_all(&buf[..k])
                .map_err(io_err("write undo file", &temp))?;
            left -= k as u64;
        }
        out.write_all(&d.finalize().to_le_bytes())
            .and_then(|_| out.sync_all())
            .map_err(io_err("write undo file", &temp))?;
        if let Some(p) = temp.parent() {
            sync_dir(p)?;
        }
        Marker {
            phase: Phase::Recovering,
            undo: undo.clone(),
            temp: temp.clone(),
            log_len: 0,
            log_crc: 0,
        }
        .write(dir)
    })();
    if let Err(e) = begun {
        let _ = fs::remove_file(&temp);
        return Err(e);
    }
    // Recovery, each page's image kept before its first overwrite.
    let rec = Arc::new(Mutex::new(Recorder {
        out,
        path: temp.clone(),
        seen: HashSet::new(),
    }));
    let hook_rec = rec.clone();
    let hook: crate::engine::buffer::PreImageHook = Box::new(move |file: &DataFile, id| {
        let mut r = hook_rec.lock().unwrap_or_else(|e| e.into_inner());
        r.keep(file, id)
    });
    let db = Database::open_recording(dir, Options::default(), hook)?;
    db.close()?;
    let _ = fs::remove_file(dir.join("refdb.lock"));
    let mut r = Arc::try_unwrap(rec)
        .ok()
        .expect("the database is closed")
        .into_inner()
        .unwrap_or_else(|e| e.into_inner());
    let count = r.seen.len() as u32;
    let mut end = b"E".to_vec();
    end.extend_from_slice(&count.to_le_bytes());
    let c = crc32c(&end);
    end.extend_from_slice(&c.to_le_bytes());
    r.out
        .write_all(&end)
        .and_then(|_| r.out.sync_all())
        .map_err(io_err("write undo file", &temp))?;
    drop(r);
    // Recovery took a while: another standby may have put its undo file at this name since
    // the check above (two standby servers' restores run at the same time). Checked again
    // here, the window left is the rename's; what slips through it is refused when the undo
    // is put back (the owner check in `leave`), never applied.
    if let Err(e) = check_target(dir, &undo, &state.db_guid, true) {
        // This directory's undo is put back from the temporary file: it is restoring again,
        // as before this restore's recovery, and the other's file is left as it is.
        leave(dir, state)?;
        let _ = fs::remove_file(&temp);
        return Err(DbBackupError::Refused(format!(
            "{e}: another standby wrote it while {} was entering standby, which is left restoring (nothing lost): run the same restore again naming an undo file of its own (or WITH NORECOVERY or RECOVERY)",
            dir.display()
        )));
    }
    fs::rename(&temp, &undo).map_err(io_err("rename into place", &undo))?;
    if let Some(p) = undo.parent() {
        sync_dir(p)?;
    }
    let (log_len, log_crc) = file_crc(&lpath)?;
    Marker {
        phase: Phase::Standby,
        undo,
        temp,
        log_len,
        log_crc,
    }
    .write(dir)
}

/// Keeps each page's image before recovery's first write to it, durably.
struct Recorder {
    out: File,
    path: PathBuf,
    seen: HashSet<PageId>,
}

impl Recorder {
    fn keep(&mut self, file: &DataFile, id: PageId) -> crate::engine::Result<()> {
        if !self.seen.insert(id) {
            return Ok(());
        }
        let img = file.read_raw(id.page)?;
        let mut rec = Vec::with_capacity(1 + 6 + PAGE_SIZE + 4);
        rec.push(b'P');
        rec.extend_from_slice(&id.file.to_le_bytes());
        rec.extend_from_slice(&id.page.to_le_bytes());
        rec.extend_from_slice(&img.0[..]);
        let c = crc32c(&rec);
        rec.extend_from_slice(&c.to_le_bytes());
        self.out
            .write_all(&rec)
            .and_then(|_| self.out.sync_data())
            .map_err(|e| crate::engine::Error::io("write undo file", &self.path, e))
    }
}

/// If `dir` is in standby (or was killed entering it), puts back what recovery changed, so
/// that the directory is restoring again as the state `s` says. Refuses, changing nothing,
/// when the undo file is missing, damaged or of another database or LSN, or when the database
/// changed since.
pub(super) fn leave(dir: &Path, s: &State) -> Result<()> {
    let Some(m) = Marker::read(dir)? else {
        return Ok(());
    };
    let undo = match m.phase {
        Phase::Standby | Phase::Leaving => {
            if !m.undo.is_file() {
                return Err(DbBackupError::Refused(format!(
                    "{} is in standby, and its undo file {} is missing: without it no more logs can be applied (restore the sequence again from its full backup)",
                    dir.display(),
                    m.undo.display()
                )));
            }
            read_undo(&m.undo, false)?
        }
        // Killed while entering standby: the temporary file (or, killed just after its
        // rename, the undo file) holds the images of every page recovery overwrote.
        Phase::Recovering => {
            let p = if m.temp.is_file() { &m.temp } else { &m.undo };
            if !p.is_file() {
                return Err(DbBackupError::Refused(format!(
                    "{} was interrupted entering standby, and its undo file {} is missing: restore the sequence again from its full backup",
                    dir.display(),
                    m.temp.display()
                )));
            }
            read_undo(p, true)?
        }
    };
    let h = &undo.header;
    if h.db_guid != s.db_guid {
        return Err(DbBackupError::Refused(format!(
            "undo file {} belongs to database {}, not to {} ({}) being restored in {}",
            m.undo.display(),
            crate::engine::db::guid_string(&h.db_guid),
            s.database,
            crate::engine::db::guid_string(&s.db_guid),
            dir.display()
        )));
    }
    if h.log_end != s.log_end || h.full_guid != s.full_guid {
        return Err(DbBackupError::Refused(format!(
            "undo file {} was taken at LSN {}, the database in {} is restored up to LSN {}: it is the undo file of another standby",
            m.undo.display(),
            h.log_end,
            dir.display(),
            s.log_end
        )));
    }
    // Its owner: this directory (at its path, or renamed on its file system). An undo file of
    // the previous release names none: the marker here naming it, and the checks above and
    // below, are what it is taken on.
    if let Some(o) = h.owner.as_ref().filter(|o| !o.is(dir)) {
        return Err(DbBackupError::Refused(format!(
            "undo file {} belongs to the database in standby in {}, not to {}: if this directory was moved there from {} (to another file system), move it back and restore there; otherwise its undo file was replaced by that standby's, and no more logs can be applied to it (restore the sequence again from its full backup, with REPLACE)",
            m.undo.display(),
            o.path.display(),
            std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf()).display(),
            o.path.display()
        )));
    }
    let lpath = crate::engine::db::log_path(dir)?;
    if m.phase != Phase::Recovering {
        let now = file_crc(&lpath)?;
        let before = (h.log_len, undo.log_crc);
        if now != (m.log_len, m.log_crc) && now != before {
            return Err(DbBackupError::Refused(format!(
                "{}: the database was changed since it was put in standby: its undo no longer applies (restore the sequence again from its full backup)",
                dir.display()
            )));
        }
    }
    let boot = read_boot(dir);
    let path_of = |id: u16| -> Result<PathBuf> {
        // (A boot page that does not read is refused: the files could not be found.)
        match &boot {
            Some(b) => b
                .files
                .iter()
                .find(|f| f.id == id)
                .map(|f| f.resolve(dir))
                .ok_or_else(|| {
                    DbBackupError::Refused(format!(
                        "undo file {} names data file {id}, which the database does not have",
                        m.undo.display()
                    ))
                }),
            None => Err(DbBackupError::Refused(format!(
                "{}: no readable boot page to find the data files by",
                dir.display()
            ))),
        }
    };
    if let Some((id, _)) = undo
        .pages
        .iter()
        .find(|(id, _)| !h.files.iter().any(|f| f.0 == id.file))
    {
        return Err(DbBackupError::Refused(format!(
            "undo file {} holds a page of data file {}, which it does not list",
            m.undo.display(),
            id.file
        )));
    }
    // Everything checked: from here the files change, and the read commands must no longer
    // take the directory for a database in standby (they would read pages half put back
    // and report the wrong rows, and `check` would pass them).
    if m.phase == Phase::Standby {
        Marker {
            phase: Phase::Leaving,
            undo: m.undo.clone(),
            temp: m.temp.clone(),
            log_len: m.log_len,
            log_crc: m.log_crc,
        }
        .write(dir)?;
    }
    // The log first, beside the restoring one (checked again as it is copied).
    let tmp = {
        // Beside the log, wherever a MOVE put it (`LOG_PUT_BACK_TMP` for the usual log).
        let name = lpath
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        lpath.with_file_name(format!(".{name}.unstandby"))
    };
    let _ = fs::remove_file(&tmp);
    let lf = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(io_err("create", &tmp))?;
    let src = File::open(&undo.path).map_err(io_err("open undo file", &undo.path))?;
    let mut d = Crc32c::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut done = 0u64;
    while done < h.log_len {
        let k = (h.log_len - done).min(buf.len() as u64) as usize;
        src.read_exact_at(&mut buf[..k], undo.log_off + done)
            .map_err(io_err("read undo file", &undo.path))?;
        d.update(&buf[..k]);
        lf.write_all_at(&buf[..k], done)
            .map_err(io_err("write", &tmp))?;
        done += k as u64;
    }
    if d.finalize() != undo.log_crc {
        let _ = fs::remove_file(&tmp);
        return Err(DbBackupError::Refused(format!(
            "undo file {}: it changed while it was read",
            undo.path.display()
        )));
    }
    lf.sync_all().map_err(io_err("fsync", &tmp))?;
    let mut open: Vec<(u16, File, PathBuf)> = Vec::new();
    for (id, _) in &h.files {
        let p = path_of(*id)?;
        let f = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&p)
            .map_err(io_err("open data file (not following a link)", &p))?;
        open.push((*id, f, p));
    }
    let mut img = vec![0u8; PAGE_SIZE];
    for (id, at) in &undo.pages {
        // A page past its file's length before standby is cut off below anyway: it is not
        // written (a damaged or forged page number would otherwise write terabytes out).
        let len = h.files.iter().find(|f| f.0 == id.file).map_or(0, |f| f.1);
        if id.page as u64 * PAGE_SIZE as u64 >= len {
            continue;
        }
        src.read_exact_at(&mut img, *at)
            .map_err(io_err("read undo file", &undo.path))?;
        let (_, f, p) = open.iter().find(|o| o.0 == id.file).expect("checked above");
        f.write_all_at(&img, id.page as u64 * PAGE_SIZE as u64)
            .map_err(io_err("write", p))?;
    }
    crate::engine::crash::point(crate::engine::crash::Point::Restore);
    for ((_, len), (_, f, p)) in h.files.iter().zip(&open) {
        let now = f.metadata().map_err(io_err("stat", p))?.len();
        if now > *len {
            f.set_len(*len)
                .map_err(io_err("cut to its length before standby", p))?;
        }
        f.sync_all().map_err(io_err("fsync", p))?;
    }
    fs::rename(&tmp, &lpath).map_err(io_err("rename into place", &lpath))?;
    if let Some(parent) = lpath.parent().filter(|p| !p.as_os_str().is_empty()) {
        sync_dir(parent)?;
    }
    let mp = dir.join(STANDBY_FILE);
    fs::remove_file(&mp).map_err(io_err("remove", &mp))?;
    sync_dir(dir)?;
    if m.phase == Phase::Recovering && !undo.whole {
        let _ = fs::remove_file(&m.temp);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An undo file of `h`: its header, a log of `log`, no page, its end record.
    fn undo_file(h: &UndoHeader, log: &[u8]) -> Vec<u8> {
        let mut b = h.encode();
        b.extend_from_slice(log);
        b.extend_from_slice(&crc32c(log).to_le_bytes());
        let mut end = b"E".to_vec();
        end.extend_from_slice(&0u32.to_le_bytes());
        let c = crc32c(&end);
        end.extend_from_slice(&c.to_le_bytes());
        b.extend_from_slice(&end);
        b
    }

    fn header(owner: Option<Owner>) -> UndoHeader {
        UndoHeader {
            db_guid: [1; 16],
            full_guid: [2; 16],
            log_end: 0x1234_5678,
            owner,
            files: vec![(1, 8192 * 3), (7, 8192)],
            log_len: 5,
        }
    }

    /// Both forms read back as written (the owner of the new one, none in the old one), and
    /// the log is found where it is.
    #[test]
    fn headers_of_both_releases_read_back() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("u");
        let owner = Owner {
            path: PathBuf::from("/srv/standby/sales"),
            dev: 0x0102,
            ino: 0x0a0b_0c0d,
        };
        for (h, magic) in [
            (header(Some(owner.clone())), b"RDBUNDO2"),
            (header(None), b"RDBUNDO1"),
        ] {
            let bytes = undo_file(&h, b"hello");
            assert_eq!(&bytes[..8], magic);
            fs::write(&p, &bytes).unwrap();
            let u = read_undo(&p, false).unwrap();
            assert_eq!(u.header, h);
            assert!(u.whole);
            assert_eq!(&bytes[u.log_off as usize..u.log_off as usize + 5], b"hello");
        }
    }
}
