//! The database: opening (with crash recovery), transactions, checkpoints, recovery models,
//! and the hooks the backups call.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::alloc;
use super::alloc::MapLayout;
use super::btree::{self, Node, ROOT};
use super::buffer::Pool;
use super::file::{self, Boot, DataFile, DataFileInfo, FilegroupInfo};
use super::lock::{LockManager, Mode};
use super::page::{Page, PageId, PAGE_SIZE};
use super::recovery::RecoveryReport;
use super::time;
use super::wal::{Log, LogRecord, Lsn, RecordBody, SmoOp};
use super::{Error, Result};

pub use super::file::RecoveryModel;

/// The log file's name in the database directory.
pub const LOG_FILE: &str = "log.ldf";
/// The primary data file's name.
pub const PRIMARY_FILE: &str = "primary.mdf";
const LOCK_FILE: &str = "refdb.lock";

/// The file in a database directory that says where its primary data file and its log are,
/// present only when a restore's MOVE put either elsewhere than [`PRIMARY_FILE`] and
/// [`LOG_FILE`] in the directory.
///
/// Why a file of its own: the primary data file holds the boot record, which says where the
/// other data files are, so it cannot say where it is itself; and the log is opened before the
/// boot record can be trusted (a torn boot page is rebuilt from the log). One small text file
/// names both, read in one place ([`locate`]) that every path to the two files goes through
/// (the engine's open, the restores, STANDBY, the tail-log backup). Absent, the layout is the
/// one every database had before: old databases keep working unchanged, and an older engine
/// meeting a moved database finds no `primary.mdf` and `log.ldf` in the directory and refuses
/// it as "not a refdb database" rather than opening anything else. The boot record's path of
/// the primary file (file 1) repeats the primary's path, so that everything that walks the
/// boot record's files finds it where it is; the open checks that the two agree.
pub const LOCATION_FILE: &str = "refdb.location";
const LOCATION_MAGIC: &str = "refdb location 1";

/// Where the primary data file and the log of a database are, as [`LOCATION_FILE`] writes
/// them: relative to the database directory (a plain name in it, or `../…`), or absolute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub primary: String,
    pub log: String,
}

impl Default for Location {
    fn default() -> Self {
        Location {
            primary: PRIMARY_FILE.into(),
            log: LOG_FILE.into(),
        }
    }
}

impl Location {
    /// Both in the directory at their usual names (no location file is written).
    pub fn is_default(&self) -> bool {
        *self == Location::default()
    }

    /// The primary data file of the database in `dir`.
    pub fn primary(&self, dir: &Path) -> PathBuf {
        dir.join(&self.primary)
    }

    /// The log of the database in `dir`.
    pub fn log(&self, dir: &Path) -> PathBuf {
        dir.join(&self.log)
    }

    /// The location file's text.
    pub fn to_text(&self) -> String {
        format!(
            "{LOCATION_MAGIC}\nprimary {}\nlog {}\n",
            self.primary, self.log
        )
    }

    /// Whether the two paths are usable (as the boot record's paths are) and differ.
    pub fn validate(&self) -> std::result::Result<(), String> {
        for (what, p) in [("primary data file", &self.primary), ("log", &self.log)] {
            if !file::valid_path(p) {
                return Err(format!("bad path {p:?} for the {what}"));
            }
        }
        if self.primary == self.log {
            return Err(format!(
                "the primary data file and the log at one path {:?}",
                self.log
            ));
        }
        Ok(())
    }
}

/// Where the primary data file and the log of the database in `dir` are: the one place that
/// reads [`LOCATION_FILE`]. The file is read as the restores' state files are (never through
/// a link, never waited on as a FIFO, at most a few MiB); a damaged one is refused naming it,
/// never taken for the default layout.
pub fn locate(dir: &Path) -> Result<Location> {
    let path = dir.join(LOCATION_FILE);
    let damaged = |why: String| {
        Error::Invalid(format!(
            "{}: {why}: this file says where the database's primary data file and log are (put back the file a restore wrote, or remove it and restore the database again)",
            path.display()
        ))
    };
    let lines = match crate::dbbackup::read_state_file(&path, LOCATION_MAGIC) {
        Err(e) => return Err(Error::Invalid(e.to_string())),
        Ok(None) => return Ok(Location::default()),
        Ok(Some(None)) => {
            return Err(damaged(format!(
                "not a refdb location file (its first line is not {LOCATION_MAGIC:?})"
            )))
        }
        Ok(Some(Some(l))) => l,
    };
    let mut lines = lines;
    let (Some(primary), Some(log)) = (lines.get("primary"), lines.get("log")) else {
        return Err(damaged("damaged (no primary and log lines)".into()));
    };
    if lines.rest().any(|l| !l.is_empty()) {
        return Err(damaged("damaged (lines after the log's)".into()));
    }
    let loc = Location { primary, log };
    loc.validate()
        .map_err(|e| damaged(format!("damaged ({e})")))?;
    Ok(loc)
}

/// The primary data file of the database in `dir` (see [`locate`]).
pub fn primary_path(dir: &Path) -> Result<PathBuf> {
    Ok(locate(dir)?.primary(dir))
}

/// The log of the database in `dir` (see [`locate`]).
pub fn log_path(dir: &Path) -> Result<PathBuf> {
    Ok(locate(dir)?.log(dir))
}

/// A transaction's place in the active transaction table.
#[derive(Clone, Copy, Debug)]
pub struct TxnEntry {
    /// Its first log record (the log before it may not be truncated while it runs).
    pub first: Lsn,
    /// Its last log record (the next record's previous-LSN link).
    pub last: Lsn,
}

/// The state behind the engine latch: buffer pool, boot record, active transactions.
pub struct Core {
    pub(crate) pool: Pool,
    pub(crate) log: Arc<Log>,
    pub(crate) boot: Boot,
    pub(crate) att: HashMap<u64, TxnEntry>,
    next_txn: u64,
    last_ts: u64,
    /// Where the allocation maps are (fixed at creation; kept apart from the boot record,
    /// which recovery replaces).
    pub(crate) layout: MapLayout,
    /// Allocation maps per data file (intervals the file has grown to).
    pub(crate) maps: HashMap<u16, u32>,
    /// Per data file, the first map that may have a free page (all before it are full).
    pub(crate) free_hint: HashMap<u16, u32>,
    /// Per filegroup, the turn of its files for the next allocation.
    next_file: HashMap<u16, usize>,
    /// Opened read-only (a database in standby): why every change is refused.
    read_only: Option<String>,
}

/// The pages one structure change takes, before it is logged: working copies of the maps it
/// allocates from, and the maps it creates when a file grows by an interval.
#[derive(Default)]
pub(crate) struct Allocation {
    maps: HashMap<PageId, Page>,
    new_maps: Vec<Page>,
    allocs: Vec<PageId>,
    grown: HashMap<u16, u32>,
}

impl Allocation {
    /// The log operations: the new maps' images first (the allocations in them apply to
    /// them), then the allocations.
    pub(crate) fn into_ops(self) -> Vec<SmoOp> {
        self.new_maps
            .into_iter()
            .map(SmoOp::Image)
            .chain(self.allocs.into_iter().map(SmoOp::Alloc))
            .collect()
    }
}

impl Core {
    /// Logs the full image of a clean page before its first change, so a torn write of the
    /// page can be repaired from the log (its recovery LSN is this record).
    fn ensure_image(&mut self, id: PageId) -> Result<()> {
        if self.pool.is_dirty(id) {
            return Ok(());
        }
        let img = self.pool.read(id)?;
        let (lsn, _) = self.log.append(0, 0, &RecordBody::Fpi(img.clone()));
        self.apply(&LogRecord {
            lsn,
            prev: 0,
            txn: 0,
            body: RecordBody::Fpi(img),
            len: 0,
        })?;
        Ok(())
    }

    /// The allocation map that describes a page.
    pub(crate) fn map_of(&self, id: PageId) -> PageId {
        PageId {
            file: id.file,
            page: self.layout.map_for(id.page),
        }
    }

    fn ensure_images(&mut self, body: &RecordBody) -> Result<()> {
        let (pages, mut maps): (Vec<PageId>, Vec<PageId>) = match body {
            RecordBody::Update { page, .. } | RecordBody::Clr { page, .. } => {
                (vec![*page], vec![self.map_of(*page)])
            }
            RecordBody::Smo { ops, bulk } => {
                let maps = ops
                    .iter()
                    .map(|o| match o {
                        SmoOp::Image(p) => p.id(),
                        SmoOp::Alloc(id) | SmoOp::Free(id) => *id,
                    })
                    .chain(bulk.iter().copied())
                    .map(|id| self.map_of(id))
                    // A map this record creates (or replaces whole) needs no image before.
                    .filter(|m| {
                        !ops.iter()
                            .any(|o| matches!(o, SmoOp::Image(p) if p.id() == *m))
                    })
                    .collect();
                (vec![], maps)
            }
            _ => (vec![], vec![]),
        };
        maps.sort();
        maps.dedup();
        for m in maps {
            self.ensure_image(m)?;
        }
        for p in pages {
            self.ensure_image(p)?;
        }
        Ok(())
    }

    /// Takes a free page for a filegroup's table, from its files in turn (SQL Server fills a
    /// filegroup's files proportionally; in turn is the simple form of it). A file whose
    /// intervals are all full is passed over while another has room; when all are full, the
    /// file whose turn it is grows by an interval (a new allocation map, logged with the
    /// change). The pages are taken in `a`, and in the maps when `a`'s operations are logged.
    pub(crate) fn allocate(&mut self, table: u16, a: &mut Allocation) -> Result<PageId> {
        let files = self.boot.files_of(table);
        if files.is_empty() {
            return Err(Error::Invalid(format!(
                "no data files for filegroup {table}"
            )));
        }
        let turn = self.next_file.get(&table).copied().unwrap_or(0) % files.len();
        self.next_file.insert(table, turn + 1);
        for i in 0..files.len() {
            if let Some(id) = self.free_page(files[(turn + i) % files.len()], a)? {
                return Ok(id);
            }
        }
        let file = files[turn];
        let k = self.map_count(file, a);
        if k >= self.layout.max_maps() {
            return Err(Error::FileFull {
                path: self.pool.file(file)?.path.clone(),
                pages: k.saturating_mul(self.layout.pages()),
            });
        }
        let id = PageId {
            file,
            page: self.layout.map_page(k),
        };
        let map = alloc::new_map(id, self.layout.extents);
        a.new_maps.push(map.clone());
        a.maps.insert(id, map);
        a.grown.insert(file, k + 1);
        self.free_page(file, a)?
            .ok_or_else(|| Error::Invalid(format!("a new allocation map {id} has no free page")))
    }

    fn map_count(&self, file: u16, a: &Allocation) -> u32 {
        a.grown
            .get(&file)
            .or(self.maps.get(&file))
            .copied()
            .unwrap_or(1)
    }

    fn free_page(&mut self, file: u16, a: &mut Allocation) -> Result<Option<PageId>> {
        let from = self.free_hint.get(&file).copied().unwrap_or(0);
        for k in from..self.map_count(file, a) {
            let id = PageId {
                file,
                page: self.layout.map_page(k),
            };
            let m = match a.maps.entry(id) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(v) => {
                    let m = self.pool.read(id)?;
                    if alloc::first_free(&m).is_none() {
                        // Full as logged: no later allocation can free it (pages are not
                        // freed; a logged free lowers the hint again).
                        if self.free_hint.get(&file).copied().unwrap_or(0) == k {
                            self.free_hint.insert(file, k + 1);
                        }
                        continue;
                    }
                    v.insert(m)
                }
            };
            if let Some(no) = alloc::first_free(m) {
                alloc::set_allocated(m, no, true);
                let p = PageId { file, page: no };
                a.allocs.push(p);
                return Ok(Some(p));
            }
        }
        Ok(None)
    }

    /// Counts each data file's allocation maps (after redo, which may have made some): the
    /// maps at their places up to the first place that holds none. A damaged map counts, so
    /// the check reports it.
    fn count_maps(&mut self) -> Result<()> {
        for file in self.pool.file_ids() {
            let mut k = 0;
            while k < self.layout.max_maps() {
                let id = PageId {
                    file,
                    page: self.layout.map_page(k),
                };
                match self.pool.frame(id) {
                    Ok(f) if f.page.page_type() == Some(super::page::PageType::AllocMap) => {}
                    Ok(_) => break,
                    Err(Error::Corrupt { .. }) => {}
                    Err(e) => return Err(e),
                }
                k += 1;
            }
            self.maps.insert(file, k.max(1));
        }
        Ok(())
    }

    /// Every allocation map of every data file, in file and page order.
    pub(crate) fn all_maps(&self) -> Vec<PageId> {
        let mut out = Vec::new();
        for file in self.pool.file_ids() {
            for k in 0..self.maps.get(&file).copied().unwrap_or(1) {
                out.push(PageId {
                    file,
                    page: self.layout.map_page(k),
                });
            }
        }
        out
    }

    /// Logs and applies a transaction's change.
    pub(crate) fn log_txn(&mut self, txn: u64, body: RecordBody) -> Result<Lsn> {
        self.ensure_images(&body)?;
        let prev = self.att.get(&txn).map_or(0, |e| e.last);
        let (lsn, _) = self.log.append(prev, txn, &body);
        self.att
            .entry(txn)
            .or_insert(TxnEntry {
                first: lsn,
                last: lsn,
            })
            .last = lsn;
        self.apply(&LogRecord {
            lsn,
            prev,
            txn,
            body,
            len: 0,
        })?;
        Ok(lsn)
    }

    /// Logs and applies a system change (a structure change, a boot record change).
    pub(crate) fn log_system(&mut self, body: RecordBody) -> Result<Lsn> {
        self.ensure_images(&body)?;
        let (lsn, _) = self.log.append(0, 0, &body);
        self.apply(&LogRecord {
            lsn,
            prev: 0,
            txn: 0,
            body,
            len: 0,
        })?;
        Ok(lsn)
    }

    /// An image of a page as it is applied: an image of the boot page keeps the files' paths
    /// this database has (they are where it opened them; a restore's MOVE may have put them
    /// elsewhere than where they were when the image was logged, so redo must not put the old
    /// paths back), and which filegroups are offline (a piecemeal restore marks them before
    /// recovery; the images in the restored log are older than that).
    pub(crate) fn boot_with_paths(&self, img: &Page) -> Page {
        if img.id() != (PageId { file: 1, page: 0 }) {
            return img.clone();
        }
        match Boot::from_page(img) {
            Some(mut b) if b.files.len() == self.boot.files.len() => {
                for (f, now) in b.files.iter_mut().zip(&self.boot.files) {
                    if f.id == now.id {
                        f.path = now.path.clone();
                    }
                }
                for g in &mut b.filegroups {
                    g.offline = self
                        .boot
                        .filegroups
                        .iter()
                        .find(|n| n.id == g.id)
                        .and_then(|n| n.offline);
                }
                if b.validate().is_err() {
                    return img.clone();
                }
                let mut p = b.to_page();
                p.set_lsn(img.lsn());
                p
            }
            _ => img.clone(),
        }
    }

    /// Changes the boot record (logged as the boot page's new image).
    fn set_boot(&mut self, boot: Boot) -> Result<Lsn> {
        self.refuse_read_only()?;
        let page = boot.to_page();
        // The new record first: applying its image keeps the current record's paths and
        // offline filegroups (`boot_with_paths`), which must be the new ones.
        let old = std::mem::replace(&mut self.boot, boot);
        match self.log_system(RecordBody::Smo {
            ops: vec![SmoOp::Image(page)],
            bulk: vec![],
        }) {
            Ok(lsn) => Ok(lsn),
            Err(e) => {
                self.boot = old;
                Err(e)
            }
        }
    }

    fn refuse_read_only(&self) -> Result<()> {
        match &self.read_only {
            Some(why) => Err(Error::Invalid(why.clone())),
            None => Ok(()),
        }
    }

    fn table(&self, name: &str, write: bool) -> Result<u16> {
        if write {
            self.refuse_read_only()?;
        }
        let fg = self
            .boot
            .filegroup(name)
            .ok_or_else(|| Error::Invalid(format!("no filegroup {name:?}")))?;
        if let Some(lsn) = fg.offline {
            return Err(Error::Invalid(format!(
                "filegroup {:?} is offline (recovery pending since a piecemeal restore recovered the database at LSN {lsn}): restore it (refdb restore --filegroup {}) and the logs up to that point",
                fg.name, fg.name
            )));
        }
        if write && fg.read_only {
            return Err(Error::Invalid(format!(
                "filegroup {:?} is read-only",
                fg.name
            )));
        }
        Ok(fg.id)
    }
}

/// A filegroup to create: a name and whether it is read-only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilegroupSpec {
    /// The name (letters, digits, `_`, `-`).
    pub name: String,
    /// Read-only from the start.
    pub read_only: bool,
}

impl std::str::FromStr for FilegroupSpec {
    type Err = String;
    /// `NAME` or `NAME:readonly`.
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let (name, ro) = match s.split_once(':') {
            Some((n, "readonly")) | Some((n, "read-only")) => (n, true),
            Some((_, other)) => return Err(format!("unknown filegroup flag {other:?} (readonly)")),
            None => (s, false),
        };
        Ok(FilegroupSpec {
            name: name.to_string(),
            read_only: ro,
        })
    }
}

/// A further data file of a filegroup: `FILEGROUP:LOGICAL_NAME` on the command line. Its file
/// is `LOGICAL_NAME.ndf`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataFileSpec {
    /// The filegroup's name (`PRIMARY` or one being created).
    pub filegroup: String,
    /// The logical name (letters, digits, `_`, `-`; unique among the database's files).
    pub logical_name: String,
}

impl std::str::FromStr for DataFileSpec {
    type Err = String;
    /// `FILEGROUP:LOGICAL_NAME`.
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.split_once(':') {
            Some((fg, name)) if !fg.is_empty() && !name.is_empty() => Ok(DataFileSpec {
                filegroup: fg.to_string(),
                logical_name: name.to_string(),
            }),
            _ => Err(format!("{s:?}: expected FILEGROUP:LOGICAL_NAME")),
        }
    }
}

/// What a new database is made of beyond its filegroups.
#[derive(Clone, Debug)]
pub struct CreateOptions {
    /// Further data files (each filegroup has one already).
    pub files: Vec<DataFileSpec>,
    /// Extents per allocation map interval (1..=[`alloc::MAX_EXTENTS`], the default): small
    /// intervals make a small database cross many maps, for tests.
    pub map_extents: u32,
}

impl Default for CreateOptions {
    fn default() -> Self {
        CreateOptions {
            files: Vec::new(),
            map_extents: alloc::MAX_EXTENTS,
        }
    }
}

/// A data file as it is now: for backups, which read every file's extents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataFileStatus {
    /// Its id (the `FILE` of `FILE:PAGE`).
    pub id: u16,
    /// Its logical name.
    pub logical_name: String,
    /// Its filegroup's name.
    pub filegroup: String,
    /// Its path.
    pub path: PathBuf,
    /// Its length in pages on disk (pages past it read as unformatted; a backup checkpoints
    /// first so that the files hold every change).
    pub pages: u64,
}

/// Tuning knobs, with defaults for a small database.
#[derive(Clone, Debug)]
pub struct Options {
    /// Buffer pool frames (8 KiB each).
    pub pool_pages: usize,
    /// A checkpoint runs after this many bytes of log since the last one.
    pub checkpoint_every: u64,
    /// How long a transaction waits for a key lock.
    pub lock_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            pool_pages: 512,
            checkpoint_every: 4 << 20,
            lock_timeout: Duration::from_secs(10),
        }
    }
}

/// What a database is: for `refdb info` and the backups' headers.
#[derive(Clone, Debug)]
pub struct DbInfo {
    /// The name.
    pub name: String,
    /// The database id.
    pub db_guid: [u8; 16],
    /// The recovery fork id.
    pub fork_guid: [u8; 16],
    /// The LSN the recovery fork began at (0: the fork made at creation).
    pub fork_point_lsn: u64,
    /// The fork the current one branched from when it kept the log backup chain (the first
    /// stage of a piecemeal restore); `None` otherwise.
    pub parent_fork_guid: Option<[u8; 16]>,
    /// The recovery model.
    pub model: RecoveryModel,
    /// The filegroups.
    pub filegroups: Vec<FilegroupInfo>,
    /// The data files, by id.
    pub files: Vec<DataFileInfo>,
    /// Extents per allocation map interval.
    pub map_extents: u32,
    /// The first LSN still in the log file (everything before was truncated).
    pub log_start: Lsn,
    /// The next LSN.
    pub log_end: Lsn,
    /// The log backup chain's start (0 = no chain: the log is truncated at checkpoints).
    pub log_chain_lsn: Lsn,
    /// The end of the last log backup.
    pub log_backup_lsn: Lsn,
    /// The last full backup's LSN (the differential base), 0 = none.
    pub diff_base_lsn: Lsn,
    /// The last checkpoint.
    pub checkpoint_lsn: Lsn,
}

/// A commit's acknowledgement: durable when returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommitInfo {
    /// The commit record's LSN (0 for a transaction that changed nothing).
    pub lsn: Lsn,
    /// The commit time (milliseconds since the Unix epoch, UTC).
    pub ts_ms: u64,
}

/// An open database. Share it between threads by reference; each thread runs its own
/// transactions.
pub struct Database {
    dir: PathBuf,
    core: Mutex<Core>,
    log: Arc<Log>,
    locks: LockManager,
    checkpointing: Mutex<()>,
    opts: Options,
    recovery: RecoveryReport,
    checkpoint_on_drop: bool,
    _lock: File,
}

/// Opens a data file other than the primary, checking that its header is this database's.
fn open_secondary(dir: &Path, db_guid: [u8; 16], g: &DataFileInfo) -> Result<DataFile> {
    let path = g.resolve(dir);
    let f = DataFile::open(g.id, &path, true)?;
    let h = f.read_page(0)?;
    if file::parse_header(&h) != Some((db_guid, g.id)) {
        return Err(Error::corrupt(
            &path,
            "file header does not belong to this database",
        ));
    }
    Ok(f)
}

fn random_guid(dir: &Path) -> Result<[u8; 16]> {
    use std::io::Read;
    let mut g = [0u8; 16];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut g))
        .map_err(|e| Error::io("read /dev/urandom for a GUID for", dir, e))?;
    // RFC 4122 version 4.
    g[6] = (g[6] & 0x0f) | 0x40;
    g[8] = (g[8] & 0x3f) | 0x80;
    Ok(g)
}

/// Starts the log backup chain at `lsn` if the model keeps the log and there is none.
fn start_chain(b: &mut Boot, lsn: Lsn) {
    if b.model != RecoveryModel::Simple && b.log_chain_lsn == 0 {
        b.log_chain_lsn = lsn;
        b.log_backup_lsn = lsn;
    }
}

/// A GUID in its usual printed form: the one SQL Server, the backup history and `mtfdump`
/// print (the first three groups little-endian, upper case), so that a set, a database or a
/// fork named in a message can be found in their listings.
pub fn guid_string(g: &[u8; 16]) -> String {
    mtf::stream::Guid(*g).to_string()
}

/// Takes the database directory's lock (its lock file made if missing): held while the
/// database is open, and by a restore or a tail-log backup from the files, so that neither
/// runs under a process that has the database open.
pub(crate) fn lock_dir(dir: &Path) -> Result<File> {
    let p = dir.join(LOCK_FILE);
    use std::os::unix::fs::OpenOptionsExt;
    // Not through a link planted in its place: that would create a file elsewhere.
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&p)
        .map_err(|e| Error::io("open lock file (never through a link)", &p, e))?;
    match super::file::try_flock(&f) {
        Ok(true) => Ok(f),
        Ok(false) => Err(Error::Invalid(format!(
            "{}: database is open in another process",
            dir.display()
        ))),
        Err(e) => Err(Error::io("lock", &p, e)),
    }
}

impl Database {
    /// Creates a database in `dir` (created if missing; it must hold no database files), with
    /// one data file per filegroup and allocation maps at the default interval.
    pub fn create(
        dir: &Path,
        name: &str,
        model: RecoveryModel,
        filegroups: &[FilegroupSpec],
    ) -> Result<Database> {
        Database::create_with(dir, name, model, filegroups, &CreateOptions::default())
    }

    /// Creates a database with further data files in its filegroups, or another allocation
    /// map interval.
    pub fn create_with(
        dir: &Path,
        name: &str,
        model: RecoveryModel,
        filegroups: &[FilegroupSpec],
        opts: &CreateOptions,
    ) -> Result<Database> {
        if name.is_empty() || name.len() > 128 {
            return Err(Error::Invalid(
                "database name must be 1 to 128 bytes".into(),
            ));
        }
        let layout = MapLayout::new(opts.map_extents).ok_or_else(|| {
            Error::Invalid(format!(
                "allocation map interval {} extents (1..={})",
                opts.map_extents,
                alloc::MAX_EXTENTS
            ))
        })?;
        let mut groups = vec![FilegroupInfo {
            id: 1,
            name: "PRIMARY".into(),
            read_only: false,
            offline: None,
        }];
        let mut files = vec![DataFileInfo {
            id: 1,
            logical_name: "primary".into(),
            filegroup: 1,
            file_name: PRIMARY_FILE.into(),
            path: PRIMARY_FILE.into(),
        }];
        for (i, fg) in filegroups.iter().enumerate() {
            if !file::valid_file_name(&fg.name) || fg.name.contains('.') {
                return Err(Error::Invalid(format!("bad filegroup name {:?}", fg.name)));
            }
            let id =
                u16::try_from(i + 2).map_err(|_| Error::Invalid("too many filegroups".into()))?;
            groups.push(FilegroupInfo {
                id,
                name: fg.name.clone(),
                read_only: fg.read_only,
                offline: None,
            });
            files.push(DataFileInfo {
                id,
                logical_name: fg.name.clone(),
                filegroup: id,
                file_name: format!("{}.ndf", fg.name),
                path: format!("{}.ndf", fg.name),
            });
        }
        for f in &opts.files {
            let fg = groups
                .iter()
                .find(|g| g.name.eq_ignore_ascii_case(&f.filegroup))
                .ok_or_else(|| {
                    Error::Invalid(format!(
                        "data file {:?}: no filegroup {:?}",
                        f.logical_name, f.filegroup
                    ))
                })?;
            if !file::valid_file_name(&f.logical_name) || f.logical_name.contains('.') {
                return Err(Error::Invalid(format!(
                    "bad logical file name {:?} (letters, digits, _ and -)",
                    f.logical_name
                )));
            }
            let id = u16::try_from(files.len() + 1)
                .map_err(|_| Error::Invalid("too many data files".into()))?;
            files.push(DataFileInfo {
                id,
                logical_name: f.logical_name.clone(),
                filegroup: fg.id,
                file_name: format!("{}.ndf", f.logical_name),
                path: format!("{}.ndf", f.logical_name),
            });
        }
        let mut boot = Boot {
            db_guid: [0; 16],
            fork_guid: [0; 16],
            fork_point_lsn: 0,
            parent_fork_guid: None,
            name: name.to_string(),
            model,
            created_ms: time::now_ms(),
            log_chain_lsn: 0,
            log_backup_lsn: 0,
            diff_base_lsn: 0,
            filegroups: groups,
            files: files.clone(),
            layout,
        };
        // Everything refused is refused before anything is made.
        boot.validate().map_err(Error::Invalid)?;
        // (A location file left there would send the open elsewhere.)
        for f in files
            .iter()
            .map(|f| f.file_name.as_str())
            .chain([LOG_FILE, LOCATION_FILE])
        {
            if dir.join(f).exists() {
                return Err(Error::Invalid(format!(
                    "{}: already holds {f}; refusing to overwrite a database",
                    dir.display()
                )));
            }
        }
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create directory", dir, e))?;
        let _lock = lock_dir(dir)?;
        let db_guid = random_guid(dir)?;
        boot.db_guid = db_guid;
        boot.fork_guid = random_guid(dir)?;
        // A create that fails half-way takes back the files it made (and only those: each
        // was made new, O_EXCL), so it can simply be run again.
        let mut made: Vec<PathBuf> = Vec::new();
        let res = Database::make_files(dir, &boot, &files, layout, &mut made);
        if let Err(e) = res {
            for p in made.iter().rev() {
                let _ = std::fs::remove_file(p);
            }
            return Err(e);
        }
        drop(_lock);
        Database::open(dir)
    }

    /// Writes a new database's data files and log (the paths made go into `made` as they are
    /// made).
    fn make_files(
        dir: &Path,
        boot: &Boot,
        files: &[DataFileInfo],
        layout: MapLayout,
        made: &mut Vec<PathBuf>,
    ) -> Result<()> {
        let db_guid = boot.db_guid;
        for g in files {
            let path = dir.join(&g.file_name);
            let f = DataFile::create(g.id, &path)?;
            made.push(path);
            let mut header = if g.id == 1 {
                boot.to_page()
            } else {
                file::header_page(db_guid, g.id)
            };
            f.write_page(&mut header)?;
            let mut map = alloc::new_map(
                PageId {
                    file: g.id,
                    page: alloc::ALLOC_PAGE,
                },
                layout.extents,
            );
            alloc::set_allocated(&mut map, 0, true);
            // The first file of a filegroup holds its table's root.
            if g.id == g.filegroup {
                alloc::set_allocated(&mut map, ROOT, true);
                f.write_page(&mut Node::empty().to_page(btree::root(g.id)))?;
            }
            f.write_page(&mut map)?;
            f.sync()?;
        }
        // The log last: a directory without it is not (yet) a database.
        let log = dir.join(LOG_FILE);
        Log::create(&log, db_guid)?;
        made.push(log);
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io("fsync directory", dir, e))
    }

    /// Opens a database, running crash recovery.
    pub fn open(dir: &Path) -> Result<Database> {
        Database::open_with(dir, Options::default())
    }

    /// Opens a database with options, running crash recovery.
    pub fn open_with(dir: &Path, opts: Options) -> Result<Database> {
        Database::open_inner(dir, opts, None, None)
    }

    /// Opens a database read-only (a restored database in standby between log restores):
    /// reads work; every change (and any checkpoint) is refused with `why`. Refused when
    /// recovery would have anything to redo or undo, since that would change the files.
    pub fn open_read_only(dir: &Path, opts: Options, why: String) -> Result<Database> {
        Database::open_inner(dir, opts, None, Some(why))
    }

    /// Opens a database, running crash recovery, and calls `before_write` before each page
    /// write for as long as it stays open, with the file and page about to be overwritten:
    /// a restore WITH STANDBY keeps the pages recovery changes aside this way, so that the
    /// next log restore can put them back.
    pub fn open_recording(
        dir: &Path,
        opts: Options,
        before_write: super::buffer::PreImageHook,
    ) -> Result<Database> {
        Database::open_inner(dir, opts, Some(before_write), None)
    }

    fn open_inner(
        dir: &Path,
        opts: Options,
        before_write: Option<super::buffer::PreImageHook>,
        read_only: Option<String>,
    ) -> Result<Database> {
        if !dir.is_dir() {
            return Err(Error::Invalid(format!(
                "{}: not a directory",
                dir.display()
            )));
        }
        let loc = locate(dir)?;
        let primary = loc.primary(dir);
        let log_path = loc.log(dir);
        if loc.is_default() && (!primary.exists() || !log_path.exists()) {
            return Err(Error::Invalid(format!(
                "{}: not a refdb database (no {PRIMARY_FILE} and {LOG_FILE})",
                dir.display()
            )));
        }
        for (what, p) in [("primary data file", &primary), ("log", &log_path)] {
            if std::fs::symlink_metadata(p).is_err() {
                return Err(Error::Invalid(format!(
                    "{}: its {what} {} (where {LOCATION_FILE} says it is) is missing",
                    dir.display(),
                    p.display()
                )));
            }
        }
        let lock = lock_dir(dir)?;
        let pf = DataFile::open(1, &primary, true)?;
        if !pf.try_lock()? {
            return Err(Error::Invalid(format!(
                "{}: its primary data file {} is open through another database directory (whose location file names the same files)",
                dir.display(),
                primary.display()
            )));
        }
        let (boot, log, opened) = match pf.read_page(0).ok().and_then(|p| Boot::from_page(&p)) {
            Some(boot) => {
                // The boot record repeats the primary's path: a location file that says
                // otherwise is not this database's (copied from another, or edited).
                if boot.files.first().map(|f| f.path.as_str()) != Some(loc.primary.as_str()) {
                    return Err(Error::corrupt(
                        dir.join(LOCATION_FILE),
                        format!(
                            "the primary data file is at {:?} by this directory's location, at {:?} by its boot record",
                            loc.primary,
                            boot.files.first().map(|f| f.path.as_str()).unwrap_or("")
                        ),
                    ));
                }
                let (log, opened) = Log::open(&log_path, boot.db_guid)?;
                (boot, log, opened)
            }
            None => {
                // A boot page torn by a crash: the files it names are in the last image of it
                // the log holds (recovery then repairs the page itself).
                let guid = Log::peek_guid(&log_path)
                    .map_err(|_| Error::corrupt(&primary, "page 0 is not a refdb boot page"))?;
                let (log, opened) = Log::open(&log_path, guid)?;
                let mut found = None;
                log.for_each(0, |r| {
                    let imgs: Vec<&super::page::Page> = match &r.body {
                        RecordBody::Fpi(p) => vec![p],
                        RecordBody::Smo { ops, .. } => ops
                            .iter()
                            .filter_map(|o| {
                                if let SmoOp::Image(p) = o {
                                    Some(p)
                                } else {
                                    None
                                }
                            })
                            .collect(),
                        _ => vec![],
                    };
                    for p in imgs {
                        if p.id() == (PageId { file: 1, page: 0 }) {
                            found = Boot::from_page(p).filter(|b| b.db_guid == guid);
                        }
                    }
                    Ok(())
                })?;
                let boot = found.ok_or_else(|| {
                    Error::corrupt(
                        &primary,
                        "page 0 (the boot page) is damaged and the log holds no image of it",
                    )
                })?;
                (boot, log, opened)
            }
        };
        let mut files = vec![pf];
        // An offline filegroup's files are not opened (a piecemeal restore left them out).
        for g in boot
            .files
            .iter()
            .filter(|f| f.id != 1 && !boot.file_offline(f.id))
        {
            files.push(open_secondary(dir, boot.db_guid, g)?);
        }
        let log = Arc::new(log);
        let boot_layout = boot.layout;
        let mut core = Core {
            pool: Pool::new(opts.pool_pages, files, log.clone()),
            log: log.clone(),
            boot,
            att: HashMap::new(),
            next_txn: 1,
            last_ts: 0,
            layout: boot_layout,
            maps: HashMap::new(),
            free_hint: HashMap::new(),
            next_file: HashMap::new(),
            read_only: read_only.clone(),
        };
        core.pool.before_write = before_write;
        let mut rep = RecoveryReport {
            torn_log_bytes: opened.torn_bytes,
            ..Default::default()
        };
        let h = log.header();
        let start = if h.ckpt != 0 { h.ckpt } else { h.base };
        let a = core.analyse(h.ckpt, start)?;
        rep.analysed = a.records;
        core.next_txn = a.next_txn;
        core.last_ts = a.last_ts;
        core.redo(&a, &mut rep)?;
        core.count_maps()?;
        core.undo(&a, &mut rep)?;
        if read_only.is_some() && !core.pool.dirty_pages().is_empty() {
            return Err(Error::Invalid(format!(
                "{}: the database needs recovery, which a read-only open cannot run",
                dir.display()
            )));
        }
        // The boot record as recovery left it (a model switch may have been redone).
        let boot_page = core.pool.read(PageId { file: 1, page: 0 })?;
        core.boot = Boot::from_page(&boot_page)
            .ok_or_else(|| Error::corrupt(&primary, "boot page damaged"))?;
        let db = Database {
            dir: dir.to_path_buf(),
            core: Mutex::new(core),
            log,
            locks: LockManager::new(opts.lock_timeout),
            checkpointing: Mutex::new(()),
            opts,
            recovery: rep,
            checkpoint_on_drop: read_only.is_none(),
            _lock: lock,
        };
        db.checkpoint()?;
        Ok(db)
    }

    /// Brings an offline filegroup online, once a restore has put its files in place, brought
    /// up to the LSN it is pending at (see `dbbackup::piecemeal`): its files are opened and
    /// checked, and the boot record's change is logged and written to the primary file before
    /// this returns.
    pub fn bring_filegroup_online(&self, name: &str) -> Result<()> {
        let mut c = self.core();
        let fg = c
            .boot
            .filegroup(name)
            .cloned()
            .ok_or_else(|| Error::Invalid(format!("no filegroup {name:?}")))?;
        if fg.offline.is_none() {
            return Err(Error::Invalid(format!(
                "filegroup {:?} is not offline",
                fg.name
            )));
        }
        let mut opened = Vec::new();
        for f in c.boot.files.iter().filter(|f| f.filegroup == fg.id) {
            opened.push(open_secondary(&self.dir, c.boot.db_guid, f)?);
        }
        for f in opened {
            c.pool.add_file(f);
        }
        let mut b = c.boot.clone();
        if let Some(g) = b.filegroups.iter_mut().find(|g| g.id == fg.id) {
            g.offline = None;
        }
        c.set_boot(b)?;
        c.count_maps()?;
        drop(c);
        // The checkpoint writes the boot page: recovery keeps the offline state the page on
        // disk has (see `boot_with_paths`), so the page itself must say online.
        self.checkpoint()?;
        Ok(())
    }

    pub(crate) fn core(&self) -> MutexGuard<'_, Core> {
        self.core.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The database directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What recovery did when the database was opened.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.recovery
    }

    /// Starts a transaction.
    pub fn begin(&self) -> Txn<'_> {
        let mut c = self.core();
        let id = c.next_txn;
        c.next_txn += 1;
        Txn {
            db: self,
            id,
            done: false,
        }
    }

    /// Runs `f` in a transaction and commits it (rolls back on error).
    pub fn run<T>(&self, f: impl FnOnce(&mut Txn) -> Result<T>) -> Result<(T, CommitInfo)> {
        let mut t = self.begin();
        match f(&mut t) {
            Ok(v) => Ok((v, t.commit()?)),
            Err(e) => {
                t.rollback()?;
                Err(e)
            }
        }
    }

    /// A checkpoint: writes the dirty pages, records the dirty page and active transaction
    /// tables, moves the log's restart point, and truncates the log as the recovery model
    /// allows. Returns the checkpoint's LSN.
    pub fn checkpoint(&self) -> Result<Lsn> {
        if self.core().read_only.is_some() {
            // Read-only: nothing is dirty, and the log must stay as it is.
            return Ok(self.log.header().ckpt);
        }
        let _one = self.checkpointing.lock().unwrap_or_else(|e| e.into_inner());
        self.checkpoint_locked()
    }

    fn checkpoint_locked(&self) -> Result<Lsn> {
        let (begin, dirty) = {
            let c = self.core();
            let (begin, _) = self.log.append(0, 0, &RecordBody::CkptBegin);
            (begin, c.pool.dirty_pages())
        };
        for (i, (id, _)) in dirty.iter().enumerate() {
            self.core().pool.write_out(*id)?;
            if i == 0 {
                super::crash::point(super::crash::Point::Checkpoint);
            }
        }
        let (end, keep, boot) = {
            let c = self.core();
            let dpt = c.pool.dirty_pages();
            let att: Vec<_> = c.att.iter().map(|(&t, e)| (t, e.last, e.first)).collect();
            let keep = dpt
                .iter()
                .map(|d| d.1)
                .chain(att.iter().map(|a| a.2))
                .fold(begin, Lsn::min);
            let (_, end) = self.log.append(
                0,
                0,
                &RecordBody::CkptEnd {
                    begin,
                    dpt,
                    att,
                    next_txn: c.next_txn,
                },
            );
            // Pages written before the tables were taken must be on disk before the checkpoint
            // that no longer lists them counts.
            c.pool.sync_files()?;
            (end, keep, c.boot.clone())
        };
        self.log.flush_to(end)?;
        self.log.set_checkpoint(begin)?;
        let keep = if boot.model == RecoveryModel::Simple || boot.log_chain_lsn == 0 {
            keep
        } else {
            keep.min(boot.log_backup_lsn)
        };
        let base = self.log.header().base;
        // Rewriting the log costs a copy of its active part: do it when it frees a good share.
        if keep > base && (keep - base) >= (self.opts.checkpoint_every / 4).max(64 << 10) {
            self.log.truncate_before(keep)?;
        }
        Ok(begin)
    }

    /// A checkpoint if enough log was written since the last one and no other thread is
    /// taking one already.
    fn maybe_checkpoint(&self) -> Result<()> {
        let due = || {
            let h = self.log.header();
            self.log.end().saturating_sub(h.ckpt.max(h.base)) >= self.opts.checkpoint_every
        };
        if due() {
            if let Ok(_one) = self.checkpointing.try_lock() {
                if due() {
                    self.checkpoint_locked()?;
                }
            }
        }
        Ok(())
    }

    /// Writes everything out and closes (a clean shutdown; dropping without it is a crash,
    /// which recovery handles).
    pub fn close(self) -> Result<()> {
        self.checkpoint()?;
        Ok(())
    }

    /// Closes without a checkpoint and without writing anything more: what a crash at this
    /// point leaves (log records not yet flushed are lost, as they would be). For tests.
    pub fn abandon(mut self) {
        self.checkpoint_on_drop = false;
    }

    /// What the database is.
    pub fn info(&self) -> DbInfo {
        let c = self.core();
        let h = self.log.header();
        DbInfo {
            name: c.boot.name.clone(),
            db_guid: c.boot.db_guid,
            fork_guid: c.boot.fork_guid,
            fork_point_lsn: c.boot.fork_point_lsn,
            parent_fork_guid: c.boot.parent_fork_guid,
            model: c.boot.model,
            filegroups: c.boot.filegroups.clone(),
            files: c.boot.files.clone(),
            map_extents: c.layout.extents,
            log_start: h.base,
            log_end: self.log.end(),
            log_chain_lsn: c.boot.log_chain_lsn,
            log_backup_lsn: c.boot.log_backup_lsn,
            diff_base_lsn: c.boot.diff_base_lsn,
            checkpoint_lsn: h.ckpt,
        }
    }

    /// Log flushes since the database was opened (group commit makes them fewer than
    /// commits).
    pub fn log_fsyncs(&self) -> u64 {
        self.log.fsyncs()
    }

    /// The log file's size in bytes.
    pub fn log_file_len(&self) -> Result<u64> {
        self.log.file_len()
    }

    /// Switches the recovery model, by the reference documents' rules: to simple breaks the
    /// log backup chain (the log is truncated at the next checkpoint); from simple to full or
    /// bulk-logged the chain starts only at the next full (or differential) backup, and until
    /// then the log is still truncated at checkpoints; between full and bulk-logged the chain
    /// continues.
    pub fn set_recovery_model(&self, model: RecoveryModel) -> Result<()> {
        self.change_boot(|b| {
            if b.model != model && model == RecoveryModel::Simple {
                b.log_chain_lsn = 0;
                b.log_backup_lsn = 0;
            }
            b.model = model;
            Ok(())
        })
    }

    /// Marks a filegroup read-only or read-write.
    pub fn set_filegroup_read_only(&self, name: &str, read_only: bool) -> Result<()> {
        let id = self.core().table(name, false)?;
        self.change_boot(|b| {
            if let Some(fg) = b.filegroups.iter_mut().find(|f| f.id == id) {
                fg.read_only = read_only;
            }
            Ok(())
        })
    }

    /// For the full backup (issue 15): records a full backup taken from `start_lsn`. It is the
    /// base of later differentials; under full or bulk-logged, it starts the log backup chain
    /// if there is none, and from then on the log is kept until a log backup has copied it.
    /// A copy-only backup must not call this.
    pub fn note_full_backup(&self, start_lsn: Lsn) -> Result<()> {
        self.check_backup_start(start_lsn)?;
        self.change_boot(|b| {
            b.diff_base_lsn = start_lsn;
            start_chain(b, start_lsn);
            Ok(())
        })
    }

    /// For the differential backup (issue 15): records a differential taken from `start_lsn`.
    /// Like a full backup it can start the log backup chain after a switch from simple (the
    /// reference documents: "unless a database or differential database backup is created
    /// after the transaction log truncation occurs"), provided there is a full backup to be
    /// the differential's base. It does not move the differential base.
    pub fn note_differential_backup(&self, start_lsn: Lsn) -> Result<()> {
        self.check_backup_start(start_lsn)?;
        self.change_boot(|b| {
            if b.diff_base_lsn == 0 {
                return Err(Error::Invalid(
                    "a differential backup needs a full backup first".into(),
                ));
            }
            start_chain(b, start_lsn);
            Ok(())
        })
    }

    fn check_backup_start(&self, start_lsn: Lsn) -> Result<()> {
        if start_lsn < self.log.header().base
            || start_lsn > self.log.end()
            || !self.is_record_boundary(start_lsn)
        {
            return Err(Error::Invalid(format!(
                "backup start LSN {start_lsn} is not in the log"
            )));
        }
        Ok(())
    }

    /// Changes the boot record (logged), if `f` changes it, and makes the change durable.
    fn change_boot(&self, f: impl FnOnce(&mut Boot) -> Result<()>) -> Result<()> {
        let mut c = self.core();
        let mut b = c.boot.clone();
        f(&mut b)?;
        if b != c.boot {
            c.set_boot(b)?;
        }
        drop(c);
        self.log.flush_all()
    }

    /// Whether a record starts at `lsn` (or it is the end of the log): the log is only ever
    /// cut at record boundaries.
    fn is_record_boundary(&self, lsn: Lsn) -> bool {
        lsn == self.log.end() || self.log.read(lsn).is_ok()
    }

    /// For a file or page restore recovered where the rest of the database is (the end of the
    /// tail-log backup, `at`): the log backup chain goes on from there, as after a log backup
    /// ending at `at` (the tail-log backup is one). Nothing branched (the restored files were
    /// brought to the point the database already was), so the recovery fork, the chain's start
    /// and the differential base stay. Unlike [`Database::note_log_backup`], the extents marked
    /// changed by minimally logged operations keep their marks: a tail-log backup read from the
    /// files of a damaged database did not copy them, and the next log backup copying them again
    /// costs only its size. Does nothing without a chain (nothing for a log backup to follow).
    pub fn continue_log_chain(&self, at: Lsn) -> Result<()> {
        if at > self.log.end() || !self.is_record_boundary(at) {
            return Err(Error::Invalid(format!(
                "the log backup chain cannot go on from LSN {at}: not a record of the log (which ends at {})",
                self.log.end()
            )));
        }
        self.change_boot(|b| {
            if b.model != RecoveryModel::Simple && b.log_chain_lsn != 0 {
                b.log_backup_lsn = b.log_backup_lsn.max(at);
            }
            Ok(())
        })
    }

    /// For a restore that stops before the end of the log (issue 15): starts a new recovery
    /// fork, so log backups taken from here on are never mixed with those of the abandoned
    /// history. Returns the new fork id.
    pub fn start_recovery_fork(&self, at: Lsn) -> Result<[u8; 16]> {
        if at == 0 {
            return Err(Error::Invalid("a recovery fork begins at an LSN".into()));
        }
        let fork = random_guid(&self.dir)?;
        self.change_boot(|b| {
            b.fork_guid = fork;
            b.fork_point_lsn = at;
            b.parent_fork_guid = None;
            Ok(())
        })?;
        Ok(fork)
    }

    /// For the first stage of a piecemeal restore recovered at `at` (the end of its restored
    /// log): a new recovery fork as [`Database::start_recovery_fork`], but the log backup chain
    /// goes on, its last backed-up point set to `at`, so that the next log backup starts
    /// exactly at the fork point. The database is online between the stages, which may be
    /// days, and no full backup can be taken while a filegroup is offline: without this no
    /// backup at all could be. The parent fork is recorded (the boot record's version 5
    /// extension) so that the log backups carry it, and only a restore in the parent fork at
    /// exactly `at` takes them. Returns the new fork and whether the chain was kept: not under
    /// the simple model, nor when the log no longer holds `at` (nothing for a log backup to
    /// start from); the fork is then an ordinary one, with no parent.
    pub fn start_recovery_fork_keeping_chain(&self, at: Lsn) -> Result<([u8; 16], bool)> {
        if at == 0 {
            return Err(Error::Invalid("a recovery fork begins at an LSN".into()));
        }
        let holds = at <= self.log.end() && self.is_record_boundary(at);
        let fork = random_guid(&self.dir)?;
        let mut kept = false;
        self.change_boot(|b| {
            kept = holds && b.model != RecoveryModel::Simple;
            b.parent_fork_guid = kept.then_some(b.fork_guid);
            b.fork_guid = fork;
            b.fork_point_lsn = at;
            if kept {
                // The chain as restored (a full restored alone may not have one yet) goes on
                // from the fork point.
                if b.log_chain_lsn == 0 {
                    b.log_chain_lsn = at;
                }
                b.log_backup_lsn = at;
            }
            Ok(())
        })?;
        Ok((fork, kept))
    }

    /// For the log backup (issue 15): the log up to `up_to` has been backed up, so it may be
    /// truncated (at the next checkpoint), and the bulk-changed marks are cleared (the backup
    /// copied those extents). Refused under simple or without a chain: there is nothing for a
    /// log backup to follow on from.
    pub fn note_log_backup(&self, up_to: Lsn) -> Result<()> {
        let mut c = self.core();
        let mut b = c.boot.clone();
        if b.model == RecoveryModel::Simple || b.log_chain_lsn == 0 {
            return Err(Error::Invalid(
                "no log backup chain: the recovery model is simple, or no full backup was taken since it was switched"
                    .into(),
            ));
        }
        if up_to < b.log_backup_lsn || up_to > self.log.end() || !self.is_record_boundary(up_to) {
            return Err(Error::Invalid(format!(
                "log backup end {up_to} outside {}..={}",
                b.log_backup_lsn,
                self.log.end()
            )));
        }
        b.log_backup_lsn = up_to;
        // The maps with marks get their cleared image, in records of a bounded size.
        let mut ops = Vec::new();
        for id in c.all_maps() {
            let mut m = c.pool.read(id)?;
            if alloc::clear_bulk_changed(&mut m) {
                ops.push(SmoOp::Image(m));
            }
            if ops.len() == 64 {
                let ops = std::mem::take(&mut ops);
                c.log_system(RecordBody::Smo { ops, bulk: vec![] })?;
            }
        }
        if !ops.is_empty() {
            c.log_system(RecordBody::Smo { ops, bulk: vec![] })?;
        }
        c.set_boot(b)?;
        drop(c);
        self.log.flush_all()
    }

    /// Calls `f` on every log record with `from <= lsn < to` (the range must still be in the
    /// log: after truncation its start is [`DbInfo::log_start`]).
    pub fn read_log(
        &self,
        from: Lsn,
        to: Lsn,
        mut f: impl FnMut(&LogRecord) -> Result<()>,
    ) -> Result<()> {
        let base = self.log.header().base;
        if from < base {
            return Err(Error::Invalid(format!(
                "LSN {from} was truncated (the log starts at {base})"
            )));
        }
        self.log
            .for_each(from, |r| if r.lsn < to { f(&r) } else { Ok(()) })
    }

    /// The extents (file id, extent number) changed after `since`: what a differential backup
    /// based on a full backup at `since` must copy.
    pub fn changed_extents(&self, since: Lsn) -> Result<Vec<(u16, u32)>> {
        self.extents(|m, e| alloc::changed_lsn(m, e) > since)
    }

    /// The extents changed by minimally logged operations since the last log backup.
    pub fn bulk_changed_extents(&self) -> Result<Vec<(u16, u32)>> {
        self.extents(alloc::bulk_changed)
    }

    /// The extents (file id, extent number in the file) of every allocation map that `pick`
    /// chooses, in file and extent order.
    fn extents(&self, pick: impl Fn(&Page, u32) -> bool) -> Result<Vec<(u16, u32)>> {
        let mut c = self.core();
        let mut out = Vec::new();
        for id in c.all_maps() {
            let m = c.pool.read(id)?;
            out.extend(
                alloc::extents(&m)
                    .filter(|&e| pick(&m, e))
                    .map(|e| (id.file, e)),
            );
        }
        Ok(out)
    }

    /// The data files, by id, with their logical names, filegroups, paths and lengths.
    pub fn data_files(&self) -> Result<Vec<DataFileStatus>> {
        let c = self.core();
        let mut out = Vec::new();
        for f in &c.boot.files {
            let fg = c.boot.filegroups.iter().find(|g| g.id == f.filegroup);
            // An offline filegroup's file is not open (it may be missing): 0 pages.
            let (path, pages) = if c.boot.file_offline(f.id) {
                (f.resolve(&self.dir), 0)
            } else {
                let df = c.pool.file(f.id)?;
                (df.path.clone(), df.len_pages()?)
            };
            out.push(DataFileStatus {
                id: f.id,
                logical_name: f.logical_name.clone(),
                filegroup: fg.map_or_else(String::new, |g| g.name.clone()),
                path,
                pages,
            });
        }
        out.sort_by_key(|f| f.id);
        Ok(out)
    }

    /// Loads rows (sorted by key, no duplicates, none already in the table) into a table in
    /// one atomic step. The table is rebuilt from its rows and the new ones into new pages (its
    /// old pages are freed and its root page rewritten), so it takes the whole database for
    /// itself: it is refused while any transaction has changes in flight (SQL Server's bulk
    /// insert with a table lock waits for them instead). Under the bulk-logged model it is
    /// minimally logged: the new pages are written to the data files and made durable first,
    /// and the log gets only their allocation, the freeing of the old pages, the root's image
    /// and a mark on the new pages' extents (which the next log backup copies). Under full and
    /// simple every page's image is logged. Returns the number of pages written.
    pub fn bulk_load(&self, filegroup: &str, rows: &[(Vec<u8>, Vec<u8>)]) -> Result<usize> {
        for w in rows.windows(2) {
            if w[0].0 >= w[1].0 {
                return Err(Error::Invalid(
                    "bulk load rows must be sorted by key, without duplicates".into(),
                ));
            }
        }
        for (k, v) in rows {
            btree::check_row(k, Some(v))?;
        }
        let mut c = self.core();
        let t = c.table(filegroup, true)?;
        if !c.att.is_empty() {
            return Err(Error::Invalid(format!(
                "bulk load into {filegroup:?} refused: {} transaction(s) have changes in flight",
                c.att.len()
            )));
        }
        let mut old_pages = Vec::new();
        let existing = c.tree_walk(t, None, None, &mut old_pages)?;
        let mut merged = Vec::with_capacity(existing.len() + rows.len());
        let mut new_rows = rows.iter().peekable();
        for row in existing {
            while let Some(r) = new_rows.next_if(|r| r.0 < row.0) {
                merged.push(r.clone());
            }
            if new_rows.peek().is_some_and(|r| r.0 == row.0) {
                return Err(Error::Invalid(format!(
                    "bulk load into {filegroup:?}: key {:?} is already in the table",
                    String::from_utf8_lossy(&row.0)
                )));
            }
            merged.push(row);
        }
        merged.extend(new_rows.cloned());
        let rows = &merged;
        let minimal = c.boot.model == RecoveryModel::BulkLogged;
        let mut a = Allocation::default();
        // Build bottom-up: full leaves (three quarters, leaving room to grow), then parents.
        let mut level: Vec<(Vec<u8>, Node)> = Vec::new();
        let mut cur: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let mut size = 2;
        for (k, v) in rows {
            if size + 4 + k.len() + v.len() > PAGE_SIZE * 3 / 4 && !cur.is_empty() {
                level.push((cur[0].0.clone(), Node::Leaf(std::mem::take(&mut cur))));
                size = 2;
            }
            size += 4 + k.len() + v.len();
            cur.push((k.clone(), v.clone()));
        }
        if !cur.is_empty() || level.is_empty() {
            let first = cur.first().map(|r| r.0.clone()).unwrap_or_default();
            level.push((first, Node::Leaf(cur)));
        }
        let mut pages = Vec::new();
        while level.len() > 1 {
            let mut parents: Vec<(Vec<u8>, Node)> = Vec::new();
            let mut keys: Vec<Vec<u8>> = Vec::new();
            let mut children: Vec<PageId> = Vec::new();
            let mut first_key = Vec::new();
            let mut size = 6;
            for (low, node) in level {
                let no = c.allocate(t, &mut a)?;
                pages.push(node.to_page(no));
                if !children.is_empty() && size + 6 + low.len() > PAGE_SIZE * 3 / 4 {
                    parents.push((
                        first_key.clone(),
                        Node::Internal {
                            keys: std::mem::take(&mut keys),
                            children: std::mem::take(&mut children),
                        },
                    ));
                    size = 6;
                }
                if children.is_empty() {
                    first_key = low;
                } else {
                    size += 6 + low.len();
                    keys.push(low);
                }
                children.push(no);
            }
            parents.push((first_key, Node::Internal { keys, children }));
            level = parents;
        }
        let root = level.pop().expect("one root").1.to_page(btree::root(t));
        let mut ops = a.into_ops();
        let root_id = btree::root(t);
        ops.extend(
            old_pages
                .into_iter()
                .filter(|&p| p != root_id)
                .map(SmoOp::Free),
        );
        let bulk: Vec<PageId> = if minimal {
            let mut written = Vec::new();
            // The new pages carry an LSN past every record before this load: a page freed
            // earlier may have older records in the redo range, which must not be applied to
            // its new contents (the load's own record comes after this LSN).
            // Durable first, so that the pages never carry an LSN past the log's durable end
            // (which `check` takes for lost log).
            self.log.flush_all()?;
            let lsn = self.log.end();
            for p in pages.iter_mut() {
                // A page freed earlier may still have a frame: it must not be written over
                // the new page later.
                c.pool.forget(p.id());
                p.set_lsn(lsn);
                let f = c.pool.file(p.id().file)?;
                f.write_page(p)?;
                written.push(p.id().file);
            }
            written.sort();
            written.dedup();
            for f in written {
                c.pool.file(f)?.sync()?;
            }
            pages.iter().map(|p| p.id()).collect()
        } else {
            ops.extend(pages.iter().cloned().map(SmoOp::Image));
            vec![]
        };
        ops.push(SmoOp::Image(root));
        let n = pages.len() + 1;
        let body = RecordBody::Smo { ops, bulk };
        if super::wal::encode(0, 0, 0, &body).len() > super::wal::MAX_RECORD {
            return Err(Error::Invalid(
                "bulk load too large for one log record (1 MiB)".into(),
            ));
        }
        let lsn = c.log_system(body)?;
        drop(c);
        self.log.flush_to(lsn + 1)?;
        Ok(n)
    }

    /// Checks the whole database (see [`super::check`]); writes dirty pages out first so the
    /// files on disk are what is checked.
    pub fn check(&self) -> Result<super::CheckReport> {
        let mut c = self.core();
        c.pool.flush_all()?;
        let mut r = super::check::check(&mut c)?;
        drop(c);
        // The whole log too, not only the part recovery read: under full and bulk-logged its
        // older records are what the next log backup copies.
        let base = self.log.header().base;
        if let Err(e) = self.log.for_each(base, |_| Ok(())) {
            r.problems.push(e.to_string());
        }
        Ok(r)
    }

    /// Reads a key outside any transaction (sees uncommitted changes; for tools).
    pub fn get(&self, filegroup: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let mut c = self.core();
        let t = c.table(filegroup, false)?;
        c.tree_get(t, key)
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        // Best effort: a clean shutdown leaves nothing to redo. Failing here is a crash, which
        // recovery handles at the next open.
        if self.checkpoint_on_drop {
            let _ = self.checkpoint();
        }
    }
}

/// A transaction: its changes are seen by others only after commit (key locks), undone on
/// rollback or if dropped unfinished.
pub struct Txn<'a> {
    db: &'a Database,
    id: u64,
    done: bool,
}

impl Txn<'_> {
    /// The transaction id.
    pub fn id(&self) -> u64 {
        self.id
    }

    fn lock(&self, table: u16, key: &[u8], mode: Mode) -> Result<()> {
        self.db.locks.acquire(self.id, &(table, key.to_vec()), mode)
    }

    /// Reads a key.
    pub fn get(&mut self, filegroup: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let t = self.db.core().table(filegroup, false)?;
        self.lock(t, key, Mode::Shared)?;
        self.db.core().tree_get(t, key)
    }

    /// Reads a key to change it: takes the exclusive lock at once, so two transactions doing
    /// read-then-write on one key queue instead of deadlocking on a lock upgrade.
    pub fn get_for_update(&mut self, filegroup: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let t = self.db.core().table(filegroup, true)?;
        self.lock(t, key, Mode::Exclusive)?;
        self.db.core().tree_get(t, key)
    }

    /// Inserts or replaces a row.
    pub fn put(&mut self, filegroup: &str, key: &[u8], value: &[u8]) -> Result<()> {
        self.set(filegroup, key, Some(value))
    }

    /// Deletes a row (no error if absent).
    pub fn delete(&mut self, filegroup: &str, key: &[u8]) -> Result<()> {
        self.set(filegroup, key, None)
    }

    fn set(&mut self, filegroup: &str, key: &[u8], value: Option<&[u8]>) -> Result<()> {
        btree::check_row(key, value)?;
        let t = self.db.core().table(filegroup, true)?;
        self.lock(t, key, Mode::Exclusive)?;
        self.db.core().tree_set(self.id, t, key, value, None)
    }

    /// Rows with keys in `[from, to)`, in key order (each read under a shared lock).
    pub fn scan(
        &mut self,
        filegroup: &str,
        from: Option<&[u8]>,
        to: Option<&[u8]>,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let t = self.db.core().table(filegroup, false)?;
        let keys = self.db.core().tree_scan(t, from, to)?;
        let mut out = Vec::with_capacity(keys.len());
        for (k, _) in keys {
            self.lock(t, &k, Mode::Shared)?;
            if let Some(v) = self.db.core().tree_get(t, &k)? {
                out.push((k, v));
            }
        }
        Ok(out)
    }

    /// Commits: returns once the commit record is durable.
    pub fn commit(self) -> Result<CommitInfo> {
        self.commit_then(|_| {})
    }

    /// Commits, and calls `acknowledged` once the commit is durable but before the locks are
    /// released: whatever it reports is ordered before any transaction that touches the same
    /// keys next (the workload prints its acknowledgements this way, so a test harness sees
    /// them in the order the changes were made).
    pub fn commit_then(mut self, acknowledged: impl FnOnce(&CommitInfo)) -> Result<CommitInfo> {
        self.done = true;
        let res = (|| {
            let mut c = self.db.core();
            let Some(e) = c.att.remove(&self.id) else {
                return Ok((
                    CommitInfo {
                        lsn: 0,
                        ts_ms: time::now_ms(),
                    },
                    0,
                ));
            };
            let ts_ms = time::now_ms().max(c.last_ts + 1);
            c.last_ts = ts_ms;
            let (lsn, end) = self
                .db
                .log
                .append(e.last, self.id, &RecordBody::Commit { ts_ms });
            Ok((CommitInfo { lsn, ts_ms }, end))
        })();
        let flushed = res.and_then(|(info, end)| self.db.log.flush_to(end).map(|()| info));
        // If the commit record may not be durable, the transaction may yet be undone by
        // recovery: its locks stay held (the log refuses all further work anyway), so nobody
        // builds on changes that could be rolled back.
        let info = flushed?;
        acknowledged(&info);
        self.db.locks.release_all(self.id);
        // The commit is durable whatever happens next: a checkpoint that fails here is not
        // its failure (the next checkpoint, or `close`, reports the problem).
        let _ = self.db.maybe_checkpoint();
        Ok(info)
    }

    /// Rolls back every change.
    pub fn rollback(mut self) -> Result<()> {
        self.done = true;
        self.undo()
    }

    fn undo(&mut self) -> Result<()> {
        let res = {
            let mut c = self.db.core();
            match c.att.get(&self.id).copied() {
                Some(e) => c.undo_txn(self.id, e.last),
                None => Ok(()),
            }
        };
        // A rollback that failed half-way keeps its locks: recovery will finish it, and nobody
        // may change those keys before.
        if res.is_ok() {
            self.db.locks.release_all(self.id);
        }
        res
    }
}

impl Drop for Txn<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.undo();
        }
    }
}
