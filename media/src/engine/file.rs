//! Data files and filegroups, and the boot record that describes the database.
//!
//! A database directory holds `primary.mdf` (the primary filegroup's first file), one
//! `NAME.ndf` per other filegroup, one `LOGICAL.ndf` per further file of a filegroup, and
//! `log.ldf`. Every data file has an id and a logical name (its file name without the
//! extension: `primary`, the filegroup's name, or the name given at creation); the first file
//! of filegroup `n` has id `n`, further files the ids after the last filegroup. Page 0 of every
//! data file is its header: the database's id (a GUID made at creation, so a file from another
//! database is refused) and the file's id. Page 0 of the primary file also holds the boot
//! record ([`Boot`]): the database name, its recovery model, its recovery fork, the filegroups
//! and their files, the allocation map interval, and the LSNs the backups need. The boot page
//! changes only through logged full-page images, so recovery restores it like any page.
//!
//! A restore's MOVE puts data files elsewhere: each file then has a path (relative to the
//! database directory, or absolute) besides its name, in a version 2 extension at the end of
//! the boot record, written only when some file is not at its name (version 1 records read as
//! every file at its name). The primary file's path repeats the directory's location file,
//! which is how a moved primary is found (`db::locate`; the open checks that the two agree). Redo keeps the paths the database has when it applies an older image of the boot
//! page (see `Core::boot_with_paths`).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::alloc::MapLayout;
use super::codec::{Dec, Enc};
use super::crash::{self, Point};
use super::page::{Page, PageId, PageType, PAGE_SIZE};
use super::{Error, Result};

const MAGIC: &[u8; 8] = b"REFDBDAT";

/// How much log the database keeps, and so which restores are possible.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecoveryModel {
    /// The log is truncated at each checkpoint: no log backups, restores to the last full or
    /// differential backup only.
    Simple,
    /// The log is kept until a log backup has copied it: point-in-time restore.
    Full,
    /// As full, but bulk operations log only their allocations and mark the changed extents;
    /// a log backup copies those extents instead, and cannot be restored to a point inside it.
    BulkLogged,
}

impl RecoveryModel {
    fn code(self) -> u8 {
        match self {
            RecoveryModel::Simple => 1,
            RecoveryModel::Full => 2,
            RecoveryModel::BulkLogged => 3,
        }
    }
    fn from_code(c: u8) -> Option<Self> {
        Some(match c {
            1 => RecoveryModel::Simple,
            2 => RecoveryModel::Full,
            3 => RecoveryModel::BulkLogged,
            _ => return None,
        })
    }
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            RecoveryModel::Simple => "simple",
            RecoveryModel::Full => "full",
            RecoveryModel::BulkLogged => "bulk-logged",
        }
    }
}

impl std::str::FromStr for RecoveryModel {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "simple" => Ok(RecoveryModel::Simple),
            "full" => Ok(RecoveryModel::Full),
            "bulk-logged" | "bulk_logged" => Ok(RecoveryModel::BulkLogged),
            _ => Err(format!(
                "unknown recovery model {s:?} (simple, full, bulk-logged)"
            )),
        }
    }
}

/// One filegroup: a name and a read-only flag. Its data files are the [`DataFileInfo`]s that
/// name it; its table's root is page 2 of its first file (whose id is the filegroup's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilegroupInfo {
    /// Its id, which is also its first data file's id (1 = primary).
    pub id: u16,
    /// Its name (`PRIMARY` for the primary filegroup).
    pub name: String,
    /// Whether writes are refused.
    pub read_only: bool,
    /// Offline, recovery pending (a piecemeal restore left it out): `Some(lsn)`, the LSN the
    /// database was recovered at, which the filegroup's files must be restored up to before
    /// they come online. Its tables refuse reads and writes meanwhile, and recovery and check
    /// skip its files (which may be missing).
    pub offline: Option<u64>,
}

/// One data file of a filegroup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataFileInfo {
    /// Its id (the `FILE` of a `FILE:PAGE` page address).
    pub id: u16,
    /// Its logical name (what a restore's MOVE names): its file name without the extension.
    pub logical_name: String,
    /// The id of its filegroup.
    pub filegroup: u16,
    /// Its file name in the database directory.
    pub file_name: String,
    /// Where it is: `file_name`, unless a restore moved it (MOVE). A relative path is
    /// relative to the database directory, an absolute one is taken as it is. The primary's
    /// repeats the directory's location file (`db::locate`), which is how it is found.
    pub path: String,
}

impl DataFileInfo {
    /// Where the file is, for the database in `dir`.
    pub fn resolve(&self, dir: &Path) -> PathBuf {
        dir.join(&self.path)
    }
}

/// The boot record's version 2 extension (after the files): each file's path. Written only
/// when a file is not at its file name, so a database never moved keeps the version 1 bytes.
const BOOT_PATHS_V2: u8 = 2;

/// The boot record's version 3 extension (after the paths, if any): the offline filegroups and
/// the LSN each is pending at. Written only when a filegroup is offline, so a database without
/// a piecemeal restore keeps the version 1 or 2 bytes; an engine that knows only version 2
/// refuses it (an unknown extension), rather than opening a database with missing files.
const BOOT_OFFLINE_V3: u8 = 3;

/// The boot record's version 4 extension (after the offline filegroups, if any): the LSN the
/// recovery fork began at. Written only for a fork a restore started (a database never
/// restored keeps the older bytes); an older engine refuses it as an unknown extension.
const BOOT_FORK_V4: u8 = 4;

/// The boot record's version 5 extension (after the fork point): the fork the current one
/// branched from, for a fork that keeps the log backup chain (the first stage of a piecemeal
/// restore: the database goes on from exactly where its restored history ended, so log
/// backups go on too). A log backup starting at the fork point names that parent as the fork
/// it starts in, and only a database restoring in the parent, exactly at the fork point, takes
/// it (a sibling fork from the same LSN has another id). Written only then; an older engine
/// refuses it as an unknown extension.
const BOOT_PARENT_V5: u8 = 5;

/// The database's boot record (page 0 of the primary file).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Boot {
    /// The database's id, made at creation.
    pub db_guid: [u8; 16],
    /// The recovery fork: made at creation; a restore that stops before the end of the log
    /// (issue 15) starts a new one, so log backups of different histories are never mixed.
    pub fork_guid: [u8; 16],
    /// The LSN the fork began at (where the restore that started it recovered the database;
    /// the backups record it as their fork point); 0 for the fork made at creation.
    pub fork_point_lsn: u64,
    /// The fork this one branched from, when it kept the log backup chain (see
    /// `BOOT_PARENT_V5`); `None` for a fork that started a new chain, or the one made at
    /// creation.
    pub parent_fork_guid: Option<[u8; 16]>,
    /// The database name.
    pub name: String,
    /// The recovery model.
    pub model: RecoveryModel,
    /// Milliseconds since the Unix epoch at creation.
    pub created_ms: u64,
    /// Where the log backup chain starts: set by a full backup under the full or bulk-logged
    /// model, cleared by a switch to simple. 0 = no chain, and then the log is truncated at
    /// checkpoints whatever the model (there is nothing a log backup could follow on from).
    pub log_chain_lsn: u64,
    /// The end of the last log backup (or the chain start): the log before it may go.
    pub log_backup_lsn: u64,
    /// The LSN of the last full backup (the base of differential backups); 0 = none.
    pub diff_base_lsn: u64,
    /// The filegroups, primary first.
    pub filegroups: Vec<FilegroupInfo>,
    /// The data files, by id; every filegroup has at least one.
    pub files: Vec<DataFileInfo>,
    /// Where the allocation maps are.
    pub layout: MapLayout,
}

impl Boot {
    fn encode(&self, e: &mut Enc) {
        e.0.extend_from_slice(&self.fork_guid);
        e.bytes(self.name.as_bytes());
        e.u8(self.model.code());
        e.u64(self.created_ms)
            .u64(self.log_chain_lsn)
            .u64(self.log_backup_lsn);
        e.u64(self.diff_base_lsn);
        e.u16(self.filegroups.len() as u16);
        for fg in &self.filegroups {
            e.u16(fg.id)
                .bytes(fg.name.as_bytes())
                .u8(fg.read_only as u8);
        }
        e.u32(self.layout.extents);
        e.u16(self.files.len() as u16);
        for f in &self.files {
            e.u16(f.id).u16(f.filegroup);
            e.bytes(f.logical_name.as_bytes())
                .bytes(f.file_name.as_bytes());
        }
        if self.files.iter().any(|f| f.path != f.file_name) {
            e.u8(BOOT_PATHS_V2);
            for f in &self.files {
                e.bytes(f.path.as_bytes());
            }
        }
        let offline: Vec<_> = self
            .filegroups
            .iter()
            .filter_map(|g| g.offline.map(|l| (g.id, l)))
            .collect();
        if !offline.is_empty() {
            e.u8(BOOT_OFFLINE_V3);
            e.u16(offline.len() as u16);
            for (id, lsn) in offline {
                e.u16(id).u64(lsn);
            }
        }
        if self.fork_point_lsn != 0 {
            e.u8(BOOT_FORK_V4);
            e.u64(self.fork_point_lsn);
        }
        if let Some(p) = self.parent_fork_guid {
            e.u8(BOOT_PARENT_V5);
            e.0.extend_from_slice(&p);
        }
    }

    fn decode(db_guid: [u8; 16], d: &mut Dec) -> Option<Boot> {
        let fork_guid = d.take(16)?.try_into().ok()?;
        let name = String::from_utf8(d.bytes()?).ok()?;
        let model = RecoveryModel::from_code(d.u8()?)?;
        let (created_ms, log_chain_lsn, log_backup_lsn) = (d.u64()?, d.u64()?, d.u64()?);
        let diff_base_lsn = d.u64()?;
        let n = d.u16()?;
        let mut filegroups = Vec::new();
        for _ in 0..n {
            let id = d.u16()?;
            let name = String::from_utf8(d.bytes()?).ok()?;
            let read_only = d.u8()? != 0;
            filegroups.push(FilegroupInfo {
                id,
                name,
                read_only,
                offline: None,
            });
        }
        let layout = MapLayout::new(d.u32()?)?;
        let n = d.u16()?;
        let mut files = Vec::new();
        for _ in 0..n {
            let (id, filegroup) = (d.u16()?, d.u16()?);
            let logical_name = String::from_utf8(d.bytes()?).ok()?;
            let file_name = String::from_utf8(d.bytes()?).ok()?;
            files.push(DataFileInfo {
                id,
                logical_name,
                filegroup,
                path: file_name.clone(),
                file_name,
            });
        }
        // Version 1 ends here; version 2 adds the paths, version 3 the offline filegroups
        // (each extension optional, in this order).
        let mut tag = if d.remaining() > 0 {
            Some(d.u8()?)
        } else {
            None
        };
        if tag == Some(BOOT_PATHS_V2) {
            for f in &mut files {
                f.path = String::from_utf8(d.bytes()?).ok()?;
            }
            tag = if d.remaining() > 0 {
                Some(d.u8()?)
            } else {
                None
            };
        }
        if tag == Some(BOOT_OFFLINE_V3) {
            for _ in 0..d.u16()? {
                let (id, lsn) = (d.u16()?, d.u64()?);
                let g = filegroups.iter_mut().find(|g| g.id == id && id != 1)?;
                if g.offline.replace(lsn).is_some() {
                    return None;
                }
            }
            tag = if d.remaining() > 0 {
                Some(d.u8()?)
            } else {
                None
            };
        }
        let mut fork_point_lsn = 0;
        if tag == Some(BOOT_FORK_V4) {
            fork_point_lsn = d.u64()?;
            if fork_point_lsn == 0 {
                return None;
            }
            tag = if d.remaining() > 0 {
                Some(d.u8()?)
            } else {
                None
            };
        }
        let mut parent_fork_guid = None;
        if tag == Some(BOOT_PARENT_V5) {
            // A parent without a fork point (or the fork itself) is damage.
            let p: [u8; 16] = d.take(16)?.try_into().ok()?;
            if fork_point_lsn == 0 || p == fork_guid {
                return None;
            }
            parent_fork_guid = Some(p);
            tag = if d.remaining() > 0 {
                Some(d.u8()?)
            } else {
                None
            };
        }
        if tag.is_some() {
            return None;
        }
        let boot = Boot {
            db_guid,
            fork_guid,
            fork_point_lsn,
            parent_fork_guid,
            name,
            model,
            created_ms,
            log_chain_lsn,
            log_backup_lsn,
            diff_base_lsn,
            filegroups,
            files,
            layout,
        };
        boot.validate().ok()?;
        Some(boot)
    }

    /// Checks what the engine relies on: the primary filegroup first; filegroup and file ids
    /// unique; every filegroup's first file has its id; every file in a filegroup; file names
    /// that stay in the directory; names unique; the record fits its page.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let fgs = &self.filegroups;
        if fgs.first().map(|f| f.id) != Some(1) {
            return Err("the primary filegroup must come first".into());
        }
        if fgs.len() > MAX_FILES || self.files.len() > MAX_FILES {
            return Err(format!("at most {MAX_FILES} filegroups and data files"));
        }
        for (i, fg) in fgs.iter().enumerate() {
            if fg.id as usize != i + 1 {
                return Err(format!("filegroup {:?} has id {}", fg.name, fg.id));
            }
            if fg.id == 1 && fg.offline.is_some() {
                return Err("the primary filegroup cannot be offline".into());
            }
            if fgs[..i]
                .iter()
                .any(|g| g.name.eq_ignore_ascii_case(&fg.name))
            {
                return Err(format!("filegroup name {:?} repeated", fg.name));
            }
            if self
                .files
                .iter()
                .find(|f| f.filegroup == fg.id)
                .map(|f| f.id)
                != Some(fg.id)
            {
                return Err(format!(
                    "filegroup {:?}: its first data file must have its id",
                    fg.name
                ));
            }
        }
        for (i, f) in self.files.iter().enumerate() {
            if !valid_file_name(&f.file_name) || f.logical_name.is_empty() {
                return Err(format!("bad data file name {:?}", f.file_name));
            }
            if !valid_path(&f.path) {
                return Err(format!(
                    "data file {:?}: bad path {:?}",
                    f.logical_name, f.path
                ));
            }
            if f.id == 0 || !fgs.iter().any(|g| g.id == f.filegroup) {
                return Err(format!(
                    "data file {:?}: no filegroup {}",
                    f.file_name, f.filegroup
                ));
            }
            if self.files[..i].iter().any(|g| {
                g.id == f.id
                    || g.file_name.eq_ignore_ascii_case(&f.file_name)
                    || g.logical_name.eq_ignore_ascii_case(&f.logical_name)
                    || g.path == f.path
            }) {
                return Err(format!(
                    "data file {:?} (id {}) repeats another's id or name",
                    f.logical_name, f.id
                ));
            }
        }
        let mut e = Enc::default();
        self.encode(&mut e);
        if HDR_LEN + 4 + e.0.len() > super::page::BODY {
            return Err("too many filegroups and files for the boot page".into());
        }
        Ok(())
    }

    /// The header page of file 1 holding this boot record.
    pub fn to_page(&self) -> Page {
        let mut e = Enc::default();
        self.encode(&mut e);
        boot_page(self.db_guid, &e.0)
    }

    /// Reads the boot record from the primary file's header page.
    pub fn from_page(p: &Page) -> Option<Boot> {
        let (guid, file) = parse_header(p)?;
        if file != 1 {
            return None;
        }
        let body = p.body();
        let n = u32::from_le_bytes(body[HDR_LEN..HDR_LEN + 4].try_into().ok()?) as usize;
        let b = body.get(HDR_LEN + 4..HDR_LEN + 4 + n)?;
        Boot::decode(guid, &mut Dec::new(b))
    }

    /// The filegroup of a name (case-insensitive, as SQL Server names are).
    pub fn filegroup(&self, name: &str) -> Option<&FilegroupInfo> {
        self.filegroups
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }

    /// Whether data file `id` belongs to an offline filegroup.
    /// (Redo asks for every record: a filegroup is found by its place, its id less one, as
    /// `validate` requires.)
    pub fn file_offline(&self, id: u16) -> bool {
        self.files
            .iter()
            .find(|f| f.id == id)
            .and_then(|f| {
                self.filegroups
                    .get(usize::from(f.filegroup).checked_sub(1)?)
            })
            .is_some_and(|g| g.offline.is_some())
    }

    /// The ids of a filegroup's data files, first file first.
    pub fn files_of(&self, filegroup: u16) -> Vec<u16> {
        self.files
            .iter()
            .filter(|f| f.filegroup == filegroup)
            .map(|f| f.id)
            .collect()
    }
}

/// `flock(LOCK_EX | LOCK_NB)` on `f`: true when taken, false when another open file holds it
/// (the one lock primitive of the crate and its tools: databases, restore targets, images).
pub fn try_flock(f: &File) -> std::io::Result<bool> {
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a file descriptor we own; no memory is passed.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
        return Ok(false);
    }
    Err(e)
}

/// The boot record on disk in database directory `dir` (page 0 of its primary file), read
/// without opening the database (restores look at a target, or at a restoring database).
pub fn read_boot(dir: &Path) -> Option<Boot> {
    DataFile::open(1, &super::db::primary_path(dir).ok()?, false)
        .and_then(|f| f.read_page(0))
        .ok()
        .and_then(|p| Boot::from_page(&p))
}

/// Marks filegroups offline, pending at `lsn`, in the boot record on disk of database
/// directory `dir`, which must not be open: a piecemeal restore does it before recovery, so
/// recovery leaves their (missing) files alone. The page keeps its LSN; recovery's first change
/// of the boot record logs it.
pub fn mark_offline(dir: &Path, filegroups: &[u16], lsn: u64) -> Result<()> {
    let path = super::db::primary_path(dir)?;
    let f = DataFile::open(1, &path, true)?;
    let old = f.read_page(0)?;
    let mut boot =
        Boot::from_page(&old).ok_or_else(|| Error::corrupt(&path, "page 0 is not a boot page"))?;
    for &id in filegroups {
        let g = boot
            .filegroups
            .iter_mut()
            .find(|g| g.id == id)
            .ok_or_else(|| Error::Invalid(format!("no filegroup with id {id}")))?;
        g.offline = Some(lsn);
    }
    boot.validate().map_err(Error::Invalid)?;
    let mut p = boot.to_page();
    p.set_lsn(old.lsn());
    f.write_page(&mut p)?;
    f.sync()
}

/// The most filegroups, and the most data files, a database has.
pub const MAX_FILES: usize = 64;

const HDR_LEN: usize = 8 + 16 + 2;

/// A data file's header page: magic, database id, file id.
pub fn header_page(db_guid: [u8; 16], file: u16) -> Page {
    let mut p = Page::new(PageId { file, page: 0 }, PageType::FileHeader);
    let b = p.body_mut();
    b[0..8].copy_from_slice(MAGIC);
    b[8..24].copy_from_slice(&db_guid);
    b[24..26].copy_from_slice(&file.to_le_bytes());
    p
}

/// The database id and file id of a header page, if it is one of ours.
pub fn parse_header(p: &Page) -> Option<([u8; 16], u16)> {
    let b = p.body();
    if p.page_type() != Some(PageType::FileHeader) || &b[0..8] != MAGIC {
        return None;
    }
    Some((
        b[8..24].try_into().ok()?,
        u16::from_le_bytes([b[24], b[25]]),
    ))
}

/// A name that stays inside the database directory.
pub fn valid_file_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 64
        && n != "."
        && n != ".."
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// A data file's path as the boot record holds it: absolute, or relative to the database
/// directory; no `.` components, no empty ones, no NUL, and short enough for the boot page.
pub fn valid_path(p: &str) -> bool {
    let rel = p.strip_prefix('/').unwrap_or(p);
    !rel.is_empty()
        && p.len() <= 1024
        && !p.contains('\0')
        && rel.split('/').all(|c| !c.is_empty() && c != ".")
        && !rel.ends_with("/..")
        && rel != ".."
}

/// Opens a file of the database directory with `opts`, never through a link planted there:
/// a symbolic link is not followed, and a file that is not a regular file or that has other
/// hard links (whose other names would see every write) is refused.
pub(crate) fn open_own(path: &Path, opts: &mut OpenOptions, op: &str) -> Result<File> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    // O_NONBLOCK: a FIFO planted there would block the open until someone writes to it; it is
    // opened at once and refused below (the flag is cleared again for a regular file).
    let file = opts
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                Error::Invalid(format!(
                    "{op} {}: it is a symbolic link; refusing to use a database file through a link",
                    path.display()
                ))
            } else {
                Error::io(op, path, e)
            }
        })?;
    let m = file.metadata().map_err(|e| Error::io("stat", path, e))?;
    if !m.is_file() {
        return Err(Error::Invalid(format!(
            "{op} {}: not a regular file",
            path.display()
        )));
    }
    if m.nlink() > 1 {
        return Err(Error::Invalid(format!(
            "{op} {}: it has {} hard links; refusing to write a database file that other names share",
            path.display(),
            m.nlink()
        )));
    }
    clear_nonblock(&file).map_err(|e| Error::io(op, path, e))?;
    Ok(file)
}

fn clear_nonblock(file: &File) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on a descriptor this function's caller owns, with integer arguments only.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// One open data file.
pub struct DataFile {
    /// Its id.
    pub id: u16,
    /// Its path.
    pub path: PathBuf,
    file: File,
}

impl DataFile {
    /// Creates a new data file (failing if it exists).
    pub fn create(id: u16, path: &Path) -> Result<DataFile> {
        let file = open_own(
            path,
            OpenOptions::new().read(true).write(true).create_new(true),
            "create data file",
        )?;
        Ok(DataFile {
            id,
            path: path.to_path_buf(),
            file,
        })
    }

    /// Opens an existing data file.
    pub fn open(id: u16, path: &Path, writable: bool) -> Result<DataFile> {
        let file = open_own(
            path,
            OpenOptions::new().read(true).write(writable),
            "open data file",
        )?;
        Ok(DataFile {
            id,
            path: path.to_path_buf(),
            file,
        })
    }

    /// Takes an exclusive advisory lock on the file (held until it is closed), or says the
    /// file is locked already: the primary data file's lock is the database's own, where its
    /// directory's lock is only that directory's (two directories whose location files name
    /// the same moved files would otherwise both open them).
    pub(crate) fn try_lock(&self) -> Result<bool> {
        try_flock(&self.file).map_err(|e| Error::io("lock", &self.path, e))
    }

    /// Reads a page as it is on disk, without checking it (pages past the end read as zeros).
    pub fn read_raw(&self, page: u32) -> Result<Page> {
        let mut p = Page::zeroed();
        self.read_raw_run(page, &mut p.0[..])?;
        Ok(p)
    }

    /// Reads `out.len()` bytes of consecutive pages from page `first` as they are on disk, in
    /// as few reads as the system allows (pages past the end read as zeros): backups copy runs
    /// of pages.
    pub fn read_raw_run(&self, first: u32, out: &mut [u8]) -> Result<()> {
        let off = first as u64 * PAGE_SIZE as u64;
        let mut done = 0;
        while done < out.len() {
            match self.file.read_at(&mut out[done..], off + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(Error::io(
                        format!("read pages from {first} of"),
                        &self.path,
                        e,
                    ))
                }
            }
        }
        out[done..].fill(0);
        Ok(())
    }

    /// Reads and checks a page.
    pub fn read_page(&self, page: u32) -> Result<Page> {
        let p = self.read_raw(page)?;
        let id = PageId {
            file: self.id,
            page,
        };
        p.verify(id)
            .map_err(|f| Error::corrupt(&self.path, format!("page {page}: {f}")))?;
        Ok(p)
    }

    /// Seals (checksums) and writes a page. Not durable until [`DataFile::sync`].
    pub fn write_page(&self, page: &mut Page) -> Result<()> {
        page.seal();
        let no = page.id().page;
        let off = no as u64 * PAGE_SIZE as u64;
        if crash::hit(Point::PageWrite) {
            if crash::tearing() {
                let _ = self.file.write_all_at(&page.0[..PAGE_SIZE / 2], off);
            }
            crash::die();
        }
        self.file
            .write_all_at(&page.0[..], off)
            .map_err(|e| Error::io(format!("write page {no} of"), &self.path, e))
    }

    /// Makes written pages durable.
    pub fn sync(&self) -> Result<()> {
        self.file
            .sync_data()
            .map_err(|e| Error::io("fsync", &self.path, e))
    }

    /// Pages the file holds (its length in pages, rounded up).
    pub fn len_pages(&self) -> Result<u64> {
        let len = self
            .file
            .metadata()
            .map_err(|e| Error::io("stat", &self.path, e))?
            .len();
        Ok(len.div_ceil(PAGE_SIZE as u64))
    }
}

/// The header page of file 1 holding an encoded boot record `rec` (length-prefixed).
fn boot_page(db_guid: [u8; 16], rec: &[u8]) -> Page {
    let mut p = header_page(db_guid, 1);
    let body = p.body_mut();
    body[HDR_LEN..HDR_LEN + 4].copy_from_slice(&(rec.len() as u32).to_le_bytes());
    body[HDR_LEN + 4..HDR_LEN + 4 + rec.len()].copy_from_slice(rec);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boot() -> Boot {
        let file = |id: u16, fg: u16, name: &str| DataFileInfo {
            id,
            logical_name: name.into(),
            filegroup: fg,
            file_name: format!("{name}.ndf"),
            path: format!("{name}.ndf"),
        };
        Boot {
            db_guid: [7; 16],
            fork_guid: [8; 16],
            fork_point_lsn: 0,
            parent_fork_guid: None,
            name: "sales".into(),
            model: RecoveryModel::Full,
            created_ms: 1,
            log_chain_lsn: 2,
            log_backup_lsn: 3,
            diff_base_lsn: 4,
            filegroups: vec![
                FilegroupInfo {
                    id: 1,
                    name: "PRIMARY".into(),
                    read_only: false,
                    offline: None,
                },
                FilegroupInfo {
                    id: 2,
                    name: "a".into(),
                    read_only: false,
                    offline: None,
                },
            ],
            files: vec![file(1, 1, "primary"), file(2, 2, "a")],
            layout: MapLayout::new(8).unwrap(),
        }
    }

    #[test]
    fn a_boot_record_without_moved_files_keeps_the_version_1_bytes() {
        let b = boot();
        let mut e = Enc::default();
        b.encode(&mut e);
        // Version 1 ends with the last file's file name (length-prefixed bytes).
        assert!(e.0.ends_with(b"a.ndf"), "{:?}", &e.0[e.0.len() - 8..]);
        assert_eq!(Boot::from_page(&b.to_page()), Some(b));
    }

    #[test]
    fn moved_paths_round_trip_and_are_checked() {
        let mut b = boot();
        b.files[1].path = "/data/disk2/a.ndf".into();
        assert_eq!(Boot::from_page(&b.to_page()).unwrap(), b);
        b.files[1].path = "../disk2/a.ndf".into();
        assert_eq!(Boot::from_page(&b.to_page()).unwrap(), b);
        for bad in ["", "/", "a//b", "./a", "x/.", "..", "x/..", "a\0b"] {
            b.files[1].path = bad.into();
            assert!(b.validate().is_err(), "{bad:?} accepted");
        }
        b.files[1].path = "primary.ndf".into();
        assert!(b.validate().unwrap_err().contains("repeats"));
        // The primary's path repeats the database directory's location file (`db::locate`).
        let mut b = boot();
        b.files[0].path = "/elsewhere/primary.mdf".into();
        assert_eq!(Boot::from_page(&b.to_page()).unwrap(), b);
        b.files[0].path = b.files[1].path.clone();
        assert!(b.validate().unwrap_err().contains("repeats"));
    }

    #[test]
    fn offline_filegroups_round_trip_with_and_without_moved_paths() {
        let mut b = boot();
        b.filegroups[1].offline = Some(4242);
        let p = b.to_page();
        assert_eq!(Boot::from_page(&p).unwrap(), b);
        assert!(b.file_offline(2) && !b.file_offline(1));
        b.files[1].path = "/data/disk2/a.ndf".into();
        assert_eq!(Boot::from_page(&b.to_page()).unwrap(), b);
        // Written only when a filegroup is offline: the version 1 bytes otherwise.
        b.files[1].path = b.files[1].file_name.clone();
        b.filegroups[1].offline = None;
        let mut e = Enc::default();
        b.encode(&mut e);
        assert!(e.0.ends_with(b"a.ndf"));
        // The primary filegroup is never offline.
        b.filegroups[0].offline = Some(1);
        assert!(b.validate().unwrap_err().contains("primary"));
    }

    #[test]
    fn the_fork_point_round_trips_after_every_other_extension() {
        let mut b = boot();
        b.fork_point_lsn = 77_000;
        assert_eq!(Boot::from_page(&b.to_page()).unwrap(), b);
        b.filegroups[1].offline = Some(4242);
        b.files[1].path = "/data/disk2/a.ndf".into();
        assert_eq!(Boot::from_page(&b.to_page()).unwrap(), b);
        // The fork made at creation: the older bytes, no extension.
        let mut b = boot();
        b.fork_point_lsn = 0;
        let mut e = Enc::default();
        b.encode(&mut e);
        assert!(e.0.ends_with(b"a.ndf"));
        // A fork point of 0 written out is damage.
        e.u8(BOOT_FORK_V4).u64(0);
        assert_eq!(Boot::from_page(&boot_page(b.db_guid, &e.0)), None);
    }

    #[test]
    fn the_parent_fork_round_trips_after_the_fork_point() {
        let mut b = boot();
        b.fork_point_lsn = 77_000;
        b.parent_fork_guid = Some([9; 16]);
        assert_eq!(Boot::from_page(&b.to_page()).unwrap(), b);
        b.filegroups[1].offline = Some(4242);
        b.files[1].path = "/data/disk2/a.ndf".into();
        assert_eq!(Boot::from_page(&b.to_page()).unwrap(), b);
        // Without a parent: the version 4 bytes, no extension.
        b.parent_fork_guid = None;
        let mut e = Enc::default();
        b.encode(&mut e);
        assert!(e.0.ends_with(&77_000u64.to_le_bytes()));
        // A parent without a fork point, or naming the fork itself, is damage.
        let mut b = boot();
        let mut e = Enc::default();
        b.encode(&mut e);
        e.u8(BOOT_PARENT_V5);
        e.0.extend_from_slice(&[9; 16]);
        assert_eq!(Boot::from_page(&boot_page(b.db_guid, &e.0)), None);
        b.fork_point_lsn = 77_000;
        let mut e = Enc::default();
        b.encode(&mut e);
        e.u8(BOOT_PARENT_V5);
        e.0.extend_from_slice(&b.fork_guid);
        assert_eq!(Boot::from_page(&boot_page(b.db_guid, &e.0)), None);
        // An engine that knows only version 4 refuses it: an unknown tag after the fork point.
        let mut e = Enc::default();
        b.encode(&mut e);
        e.u8(BOOT_PARENT_V5 + 1);
        assert_eq!(Boot::from_page(&boot_page(b.db_guid, &e.0)), None);
    }

    #[test]
    fn an_offline_entry_for_no_filegroup_is_refused() {
        let b = boot();
        let mut e = Enc::default();
        b.encode(&mut e);
        e.u8(BOOT_OFFLINE_V3).u16(1).u16(9).u64(5);
        assert_eq!(Boot::from_page(&boot_page(b.db_guid, &e.0)), None);
    }

    #[test]
    fn an_unknown_boot_extension_is_refused() {
        let b = boot();
        let mut e = Enc::default();
        b.encode(&mut e);
        e.u8(9).bytes(b"x").bytes(b"y");
        assert_eq!(Boot::from_page(&boot_page(b.db_guid, &e.0)), None);
    }
}
