//! The write-ahead log: one file, `log.ldf`, of checksummed records addressed by LSN.
//!
//! An LSN is the record's byte position in the log stream since the database was created, so
//! LSNs only grow, a record's successor is at `lsn + len`, and a range of LSNs is a range of
//! bytes a log backup can copy. The file starts with a 4 KiB header holding two copies of
//! [`LogHeader`] (written alternately, each with its own CRC, so a torn header write leaves the
//! other copy): the LSN of the file's first byte (`base`, which moves forward when the log is
//! truncated) and the LSN of the last complete checkpoint (the master record recovery starts
//! from). Record `lsn` sits at file offset `4096 + (lsn - base)`.
//!
//! Each record: `len u32 | crc u32 | lsn u64 | prev_lsn u64 | txn u64 | kind u8 | payload`, the
//! CRC-32C covering everything after itself. The LSN inside the record proves it is the record
//! expected at that place. Reading stops at the first record whose length, CRC or LSN is
//! wrong: that is the torn tail, and opening the log cuts the file there.
//!
//! Durability: [`Log::append`] only buffers; [`Log::flush_to`] writes and `fsync`s. Callers that
//! arrive while an `fsync` runs wait for it and the next `fsync` covers all of them together
//! (group commit).

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard};

use super::codec::{Dec, Enc};
use super::crash::{self, Point};
use super::page::{crc32c, Page, PageId, PAGE_SIZE};
use super::{Error, Result};

/// A log sequence number: a byte position in the log stream. 0 means "none".
pub type Lsn = u64;

/// Bytes before the first record in the file.
pub const FILE_HEADER: u64 = 4096;
/// The first LSN of a new database.
pub const FIRST_LSN: Lsn = 4096;
const REC_HEADER: usize = 29;
/// The largest record this engine writes (a split of a deep tree, with page images).
pub const MAX_RECORD: usize = 1 << 20;
/// The highest LSN a log may hold (2^62 bytes of log, far beyond any real database's life):
/// a header naming more is damaged.
pub const MAX_LSN: Lsn = 1 << 62;
const MAGIC: &[u8; 8] = b"REFDBLOG";

/// One step of a structure change (a page split, an allocation): logged as after-images, so
/// it is redone whole and never undone (it does not change what the table holds).
#[derive(Clone)]
pub enum SmoOp {
    /// The page's new full contents.
    Image(Page),
    /// Marks a page in use in its file's allocation map.
    Alloc(PageId),
    /// Marks a page free.
    Free(PageId),
}

/// What a log record says.
#[derive(Clone)]
pub enum RecordBody {
    /// A row change by a transaction on a leaf page: `before` is for undo, `after` for redo
    /// (`None` = no row).
    Update {
        /// The leaf page.
        page: PageId,
        /// The row's key.
        key: Vec<u8>,
        /// The value before (`None`: the key was absent).
        before: Option<Vec<u8>>,
        /// The value after (`None`: deleted).
        after: Option<Vec<u8>>,
    },
    /// A compensation record: the redo-only undo of an update. `undo_next` is the next record of
    /// the transaction still to undo, so undo never undoes the same change twice, even when it
    /// crashes and restarts.
    Clr {
        /// The leaf page changed.
        page: PageId,
        /// The row's key.
        key: Vec<u8>,
        /// The restored value.
        after: Option<Vec<u8>>,
        /// The next LSN of this transaction to undo (0 = none left).
        undo_next: Lsn,
    },
    /// The transaction committed at this time (milliseconds since the Unix epoch, UTC).
    Commit {
        /// Commit time; strictly increasing along the log, so a point in time names one place.
        ts_ms: u64,
    },
    /// The transaction's rollback is complete.
    Abort,
    /// A structure change, redo-only. `bulk` marks a minimally logged bulk operation whose data
    /// pages were written to the files before this record and are not in it.
    Smo {
        /// The changes.
        ops: Vec<SmoOp>,
        /// Minimally logged (bulk-logged model): the listed extents' data is not in the log.
        bulk: Vec<PageId>,
    },
    /// A full page image, logged when a clean page is first changed, so a page torn by a crash
    /// during its write can be rebuilt from the log.
    Fpi(Page),
    /// A checkpoint starts.
    CkptBegin,
    /// A checkpoint ends, with the dirty page table (page, recovery LSN) and the active
    /// transaction table (transaction, last LSN, first LSN) as of its end.
    CkptEnd {
        /// The matching `CkptBegin`.
        begin: Lsn,
        /// Dirty pages and the LSN of the first change not yet on disk.
        dpt: Vec<(PageId, Lsn)>,
        /// Active transactions.
        att: Vec<(u64, Lsn, Lsn)>,
        /// The next transaction id to hand out.
        next_txn: u64,
    },
}

/// A decoded log record.
#[derive(Clone)]
pub struct LogRecord {
    /// Its LSN.
    pub lsn: Lsn,
    /// The same transaction's previous record (0 = first).
    pub prev: Lsn,
    /// The transaction (0 = the system: checkpoints, structure changes).
    pub txn: u64,
    /// What it says.
    pub body: RecordBody,
    /// Its encoded length: the next record is at `lsn + len`.
    pub len: u32,
}

impl LogRecord {
    /// The pages the record changes (for the dirty page table and redo); `layout` says which
    /// allocation map an allocation changes.
    pub fn pages(&self, layout: super::alloc::MapLayout) -> Vec<PageId> {
        match &self.body {
            RecordBody::Update { page, .. } | RecordBody::Clr { page, .. } => vec![*page],
            RecordBody::Fpi(p) => vec![p.id()],
            RecordBody::Smo { ops, .. } => ops
                .iter()
                .map(|o| match o {
                    SmoOp::Image(p) => p.id(),
                    SmoOp::Alloc(id) | SmoOp::Free(id) => PageId {
                        file: id.file,
                        page: layout.map_for(id.page),
                    },
                })
                .collect(),
            _ => vec![],
        }
    }
}

fn page_enc(e: &mut Enc, p: PageId) {
    e.u16(p.file).u32(p.page);
}
fn page_dec(d: &mut Dec) -> Option<PageId> {
    Some(PageId {
        file: d.u16()?,
        page: d.u32()?,
    })
}
fn image_dec(d: &mut Dec) -> Option<Page> {
    Page::from_slice(d.take(PAGE_SIZE)?)
}

/// Encodes a record at `lsn`.
pub fn encode(lsn: Lsn, prev: Lsn, txn: u64, body: &RecordBody) -> Vec<u8> {
    let mut e = Enc(Vec::with_capacity(64));
    e.u32(0).u32(0).u64(lsn).u64(prev).u64(txn);
    match body {
        RecordBody::Update {
            page,
            key,
            before,
            after,
        } => {
            e.u8(1);
            page_enc(&mut e, *page);
            e.bytes(key).opt(before.as_deref()).opt(after.as_deref());
        }
        RecordBody::Clr {
            page,
            key,
            after,
            undo_next,
        } => {
            e.u8(2);
            page_enc(&mut e, *page);
            e.bytes(key).opt(after.as_deref()).u64(*undo_next);
        }
        RecordBody::Commit { ts_ms } => {
            e.u8(3).u64(*ts_ms);
        }
        RecordBody::Abort => {
            e.u8(4);
        }
        RecordBody::Smo { ops, bulk } => {
            e.u8(5).u32(ops.len() as u32);
            for op in ops {
                match op {
                    SmoOp::Image(p) => {
                        e.u8(1);
                        e.0.extend_from_slice(&p.0[..]);
                    }
                    SmoOp::Alloc(id) => {
                        e.u8(2);
                        page_enc(&mut e, *id);
                    }
                    SmoOp::Free(id) => {
                        e.u8(3);
                        page_enc(&mut e, *id);
                    }
                }
            }
            e.u32(bulk.len() as u32);
            for id in bulk {
                page_enc(&mut e, *id);
            }
        }
        RecordBody::Fpi(p) => {
            e.u8(6);
            e.0.extend_from_slice(&p.0[..]);
        }
        RecordBody::CkptBegin => {
            e.u8(7);
        }
        RecordBody::CkptEnd {
            begin,
            dpt,
            att,
            next_txn,
        } => {
            e.u8(8).u64(*begin).u64(*next_txn).u32(dpt.len() as u32);
            for (p, l) in dpt {
                page_enc(&mut e, *p);
                e.u64(*l);
            }
            e.u32(att.len() as u32);
            for (t, last, first) in att {
                e.u64(*t).u64(*last).u64(*first);
            }
        }
    }
    let mut v = e.0;
    let len = v.len() as u32;
    v[0..4].copy_from_slice(&len.to_le_bytes());
    let c = crc32c(&v[8..]);
    v[4..8].copy_from_slice(&c.to_le_bytes());
    v
}

/// Decodes a whole record (length and CRC already checked).
pub(crate) fn decode(b: &[u8]) -> Option<LogRecord> {
    let mut d = Dec::new(b);
    let len = d.u32()?;
    d.u32()?;
    let (lsn, prev, txn) = (d.u64()?, d.u64()?, d.u64()?);
    let body = match d.u8()? {
        1 => RecordBody::Update {
            page: page_dec(&mut d)?,
            key: d.bytes()?,
            before: d.opt()?,
            after: d.opt()?,
        },
        2 => RecordBody::Clr {
            page: page_dec(&mut d)?,
            key: d.bytes()?,
            after: d.opt()?,
            undo_next: d.u64()?,
        },
        3 => RecordBody::Commit { ts_ms: d.u64()? },
        4 => RecordBody::Abort,
        5 => {
            let n = d.u32()? as usize;
            let mut ops = Vec::new();
            for _ in 0..n {
                ops.push(match d.u8()? {
                    1 => SmoOp::Image(image_dec(&mut d)?),
                    2 => SmoOp::Alloc(page_dec(&mut d)?),
                    3 => SmoOp::Free(page_dec(&mut d)?),
                    _ => return None,
                });
            }
            let n = d.u32()? as usize;
            let mut bulk = Vec::new();
            for _ in 0..n {
                bulk.push(page_dec(&mut d)?);
            }
            RecordBody::Smo { ops, bulk }
        }
        6 => RecordBody::Fpi(image_dec(&mut d)?),
        7 => RecordBody::CkptBegin,
        8 => {
            let (begin, next_txn) = (d.u64()?, d.u64()?);
            let n = d.u32()? as usize;
            let mut dpt = Vec::new();
            for _ in 0..n {
                dpt.push((page_dec(&mut d)?, d.u64()?));
            }
            let n = d.u32()? as usize;
            let mut att = Vec::new();
            for _ in 0..n {
                att.push((d.u64()?, d.u64()?, d.u64()?));
            }
            RecordBody::CkptEnd {
                begin,
                dpt,
                att,
                next_txn,
            }
        }
        _ => return None,
    };
    if d.remaining() != 0 {
        return None;
    }
    Some(LogRecord {
        lsn,
        prev,
        txn,
        body,
        len,
    })
}

/// Checks and decodes the record that should be at `lsn`, given its bytes.
fn check(lsn: Lsn, b: &[u8]) -> Option<LogRecord> {
    if b.len() < REC_HEADER {
        return None;
    }
    let crc = u32::from_le_bytes(b[4..8].try_into().ok()?);
    if crc32c(&b[8..]) != crc {
        return None;
    }
    let r = decode(b)?;
    // Links only point back: a record that names itself or a later one as its predecessor
    // (or its undo's next step, or its checkpoint's start) is not this engine's, and
    // following it could go round forever.
    let back = |l: Lsn| l < lsn;
    let links_back = (r.prev == 0 || back(r.prev))
        && match &r.body {
            RecordBody::Clr { undo_next, .. } => *undo_next == 0 || back(*undo_next),
            RecordBody::CkptEnd { begin, .. } => back(*begin),
            _ => true,
        };
    (r.lsn == lsn && links_back).then_some(r)
}

/// The log file's header (two copies in the file's first 4 KiB).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogHeader {
    /// Bumped at every header write; the copy with the higher one wins.
    pub seq: u64,
    /// The database's id, so a log from another database is refused.
    pub db_guid: [u8; 16],
    /// The LSN of the file's first record byte (moves when the log is truncated).
    pub base: Lsn,
    /// The `CkptBegin` of the last complete checkpoint (0 = none yet).
    pub ckpt: Lsn,
}

impl LogHeader {
    pub(crate) fn encode(&self) -> [u8; 52] {
        let mut b = [0u8; 52];
        b[0..8].copy_from_slice(MAGIC);
        b[8..16].copy_from_slice(&self.seq.to_le_bytes());
        b[16..32].copy_from_slice(&self.db_guid);
        b[32..40].copy_from_slice(&self.base.to_le_bytes());
        b[40..48].copy_from_slice(&self.ckpt.to_le_bytes());
        let c = crc32c(&b[..48]);
        b[48..52].copy_from_slice(&c.to_le_bytes());
        b
    }
    fn decode(b: &[u8]) -> Option<LogHeader> {
        if b.len() < 52 || &b[0..8] != MAGIC {
            return None;
        }
        if crc32c(&b[..48]).to_le_bytes() != b[48..52] {
            return None;
        }
        let h = LogHeader {
            seq: u64::from_le_bytes(b[8..16].try_into().ok()?),
            db_guid: b[16..32].try_into().ok()?,
            base: u64::from_le_bytes(b[32..40].try_into().ok()?),
            ckpt: u64::from_le_bytes(b[40..48].try_into().ok()?),
        };
        // LSNs this engine can reach: the arithmetic on them (positions, lengths) never
        // overflows.
        (FIRST_LSN <= h.base && h.base <= MAX_LSN && h.ckpt <= MAX_LSN).then_some(h)
    }
}

struct Inner {
    file: File,
    header: LogHeader,
    /// The next LSN to hand out.
    end: Lsn,
    /// Records appended but not yet written, starting at `buf_start`.
    buf: Vec<u8>,
    buf_start: Lsn,
    /// Every byte before this LSN is written and fsynced.
    durable: Lsn,
    flushing: bool,
    failed: Option<String>,
}

/// The open log.
pub struct Log {
    path: PathBuf,
    inner: Mutex<Inner>,
    flushed: Condvar,
    fsyncs: std::sync::atomic::AtomicU64,
}

/// What opening the log found.
#[derive(Debug, Clone, Default)]
pub struct OpenReport {
    /// Bytes cut from a torn tail (0 = the log ended cleanly).
    pub torn_bytes: u64,
}

/// Reads the header: the valid copy with the higher sequence number.
fn read_header(file: &File, path: &Path) -> Result<LogHeader> {
    let mut hb = vec![0u8; 1024];
    let n = file
        .read_at(&mut hb, 0)
        .map_err(|e| Error::io("read log header", path, e))?;
    hb.truncate(n);
    let a = hb.get(0..52).and_then(LogHeader::decode);
    let b = hb.get(512..564).and_then(LogHeader::decode);
    match (a, b) {
        (Some(a), Some(b)) => Ok(if a.seq >= b.seq { a } else { b }),
        (Some(h), None) | (None, Some(h)) => Ok(h),
        (None, None) => Err(Error::corrupt(path, "not a refdb log (no valid header)")),
    }
}

/// Writes the header into the given slots (0 and/or 512) and makes it durable.
fn write_header(file: &File, path: &Path, h: &LogHeader, slots: &[u64]) -> Result<()> {
    let b = h.encode();
    for &off in slots {
        file.write_all_at(&b, off)
            .map_err(|e| Error::io("write log header", path, e))?;
    }
    file.sync_data().map_err(|e| Error::io("fsync", path, e))
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("fsync directory", dir, e))
}

impl Log {
    /// Creates a new, empty log (failing if the file exists).
    pub fn create(path: &Path, db_guid: [u8; 16]) -> Result<Log> {
        let file = super::file::open_own(
            path,
            OpenOptions::new().read(true).write(true).create_new(true),
            "create log",
        )?;
        let header = LogHeader {
            seq: 1,
            db_guid,
            base: FIRST_LSN,
            ckpt: 0,
        };
        let log = Log::from_parts(path, file, header, FIRST_LSN);
        log.write_header_both()?;
        Ok(log)
    }

    fn from_parts(path: &Path, file: File, header: LogHeader, end: Lsn) -> Log {
        Log {
            path: path.to_path_buf(),
            inner: Mutex::new(Inner {
                file,
                header,
                end,
                buf: Vec::new(),
                buf_start: end,
                durable: end,
                flushing: false,
                failed: None,
            }),
            flushed: Condvar::new(),
            fsyncs: Default::default(),
        }
    }

    fn write_header_both(&self) -> Result<()> {
        let g = self.lock();
        write_header(&g.file, &self.path, &g.header, &[0, 512])
    }

    /// The database id a log file's header names (to find the database when its boot page
    /// is unreadable).
    pub fn peek_guid(path: &Path) -> Result<[u8; 16]> {
        use std::os::unix::fs::OpenOptionsExt;
        // O_NONBLOCK: a FIFO at the path would block the open until someone writes to it; it
        // is opened at once and refused below.
        let f = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_CLOEXEC | libc::O_NONBLOCK)
            .open(path)
            .map_err(|e| Error::io("open log", path, e))?;
        if !f
            .metadata()
            .map_err(|e| Error::io("stat", path, e))?
            .is_file()
        {
            return Err(Error::Invalid(format!(
                "open log {}: not a regular file",
                path.display()
            )));
        }
        Ok(read_header(&f, path)?.db_guid)
    }

    /// The newest image of page `id` in the log file at `path` (of database `db_guid`), with
    /// the LSN of the record that holds it; read only, the file left exactly as it is (a
    /// restoring log must keep its length: [`Log::open`] would cut a torn tail). A file restore
    /// of the primary filegroup reads the boot record this way when the damaged primary's boot
    /// page does not read: the log holds every change of it as an image of the page.
    pub fn newest_image(path: &Path, db_guid: [u8; 16], id: PageId) -> Result<Option<Page>> {
        let file = super::file::open_own(path, OpenOptions::new().read(true), "open log")?;
        let header = read_header(&file, path)?;
        if header.db_guid != db_guid {
            return Err(Error::corrupt(path, "log belongs to another database"));
        }
        let mut found = None;
        for r in Scan::new(&file, path, header.base, header.base)? {
            let r = r?;
            let imgs: Vec<&Page> = match &r.body {
                RecordBody::Fpi(p) => vec![p],
                RecordBody::Smo { ops, .. } => ops
                    .iter()
                    .filter_map(|o| match o {
                        SmoOp::Image(p) => Some(p),
                        _ => None,
                    })
                    .collect(),
                _ => vec![],
            };
            for p in imgs.into_iter().filter(|p| p.id() == id) {
                let mut p = p.clone();
                p.set_lsn(r.lsn);
                found = Some(p);
            }
        }
        Ok(found)
    }

    /// Opens a log, finds its end, and cuts a torn tail there.
    pub fn open(path: &Path, db_guid: [u8; 16]) -> Result<(Log, OpenReport)> {
        let tmp = path.with_extension("ldf.tmp");
        if tmp.exists() {
            // A truncation that crashed before its rename: the old log is still whole.
            std::fs::remove_file(&tmp).map_err(|e| Error::io("remove", &tmp, e))?;
        }
        let file =
            super::file::open_own(path, OpenOptions::new().read(true).write(true), "open log")?;
        let header = read_header(&file, path)?;
        if header.db_guid != db_guid {
            return Err(Error::corrupt(path, "log belongs to another database"));
        }
        if header.ckpt != 0 && header.ckpt < header.base {
            return Err(Error::corrupt(
                path,
                "checkpoint LSN before the start of the log",
            ));
        }
        // Find the end: scan from the last checkpoint (records before it were durable when
        // it was taken), else from the start.
        let start = if header.ckpt != 0 {
            header.ckpt
        } else {
            header.base
        };
        let mut scan = Scan::new(&file, path, header.base, start)?;
        let mut end = start;
        for r in scan.by_ref() {
            let r = r?;
            end = r.lsn + r.len as u64;
        }
        if header.ckpt != 0 && end == header.ckpt {
            return Err(Error::corrupt(
                path,
                format!(
                    "the checkpoint record at LSN {} is missing or damaged",
                    header.ckpt
                ),
            ));
        }
        let len = file
            .metadata()
            .map_err(|e| Error::io("stat", path, e))?
            .len();
        let want = FILE_HEADER + (end - header.base);
        // A torn tail is the end of the last write: nothing whole follows it. A whole record
        // after the bad one means the damage is in the middle of the log, and cutting there
        // would throw away committed work: refuse, and leave the file as it is.
        if let Some(next) = whole_record_after(&file, path, header.base, end, len)? {
            return Err(Error::corrupt(
                path,
                format!(
                    "damaged log record at LSN {end}, followed by whole records (the next at LSN \
                     {next}): damage inside the log, not a torn tail; not cut"
                ),
            ));
        }
        let report = OpenReport {
            torn_bytes: len.saturating_sub(want),
        };
        if len != want {
            file.set_len(want)
                .map_err(|e| Error::io("cut torn tail of", path, e))?;
            file.sync_all().map_err(|e| Error::io("fsync", path, e))?;
        }
        Ok((Log::from_parts(path, file, header, end), report))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The log file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Buffers a record; returns its LSN and the LSN after it. Not durable until `flush_to`.
    pub fn append(&self, prev: Lsn, txn: u64, body: &RecordBody) -> (Lsn, Lsn) {
        let mut g = self.lock();
        let lsn = g.end;
        let bytes = encode(lsn, prev, txn, body);
        g.end += bytes.len() as u64;
        g.buf.extend_from_slice(&bytes);
        (lsn, g.end)
    }

    /// The next LSN to be handed out (the end of the log).
    pub fn end(&self) -> Lsn {
        self.lock().end
    }

    /// The header as last written.
    pub fn header(&self) -> LogHeader {
        self.lock().header
    }

    /// The log file's size in bytes.
    pub fn file_len(&self) -> Result<u64> {
        let g = self.lock();
        Ok(g.file
            .metadata()
            .map_err(|e| Error::io("stat", &self.path, e))?
            .len())
    }

    /// Makes every record before `upto` durable. Callers that arrive while another thread is
    /// in `fsync` wait, and are covered by the next `fsync` together (group commit).
    pub fn flush_to(&self, upto: Lsn) -> Result<()> {
        let mut g = self.lock();
        loop {
            if let Some(e) = &g.failed {
                return Err(Error::Invalid(format!(
                    "{}: log unusable after: {e}",
                    self.path.display()
                )));
            }
            if g.durable >= upto {
                return Ok(());
            }
            if g.flushing {
                g = self.flushed.wait(g).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            g.flushing = true;
            let buf = std::mem::take(&mut g.buf);
            let start = g.buf_start;
            let end = g.end;
            g.buf_start = end;
            let off = FILE_HEADER + (start - g.header.base);
            let file = g.file.try_clone();
            drop(g);
            let res = file
                .and_then(|f| {
                    f.write_all_at(&buf, off)?;
                    crash::point(Point::Fsync);
                    self.fsyncs
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    f.sync_data()
                })
                .map_err(|e| Error::io("write log", &self.path, e));
            g = self.lock();
            g.flushing = false;
            match res {
                Ok(()) => g.durable = end,
                // After a failed write or fsync nothing about the file is known: refuse to
                // acknowledge anything more (as PostgreSQL learned to).
                Err(e) => g.failed = Some(e.to_string()),
            }
            self.flushed.notify_all();
        }
    }

    /// Log flushes (write and fsync) since the log was opened: fewer than commits when
    /// commits share them.
    pub fn fsyncs(&self) -> u64 {
        self.fsyncs.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Makes the whole log durable.
    pub fn flush_all(&self) -> Result<()> {
        let end = self.end();
        self.flush_to(end)
    }

    /// Reads the record at `lsn` (from the buffer or the file).
    pub fn read(&self, lsn: Lsn) -> Result<LogRecord> {
        let mut g = self.lock();
        // A record in the buffer a flush is writing right now is in neither place: wait.
        while g.flushing && lsn < g.buf_start && lsn >= g.durable {
            g = self.flushed.wait(g).unwrap_or_else(|e| e.into_inner());
        }
        let bad = || Error::corrupt(&self.path, format!("no valid log record at LSN {lsn}"));
        if lsn < g.header.base || lsn >= g.end {
            return Err(bad());
        }
        if lsn >= g.buf_start {
            let o = (lsn - g.buf_start) as usize;
            let len = g
                .buf
                .get(o..o + 4)
                .map_or(0, |b| u32::from_le_bytes(b.try_into().unwrap()) as usize);
            return g
                .buf
                .get(o..o + len)
                .and_then(|b| check(lsn, b))
                .ok_or_else(bad);
        }
        let off = FILE_HEADER + (lsn - g.header.base);
        let mut h = [0u8; 4];
        g.file
            .read_exact_at(&mut h, off)
            .map_err(|e| Error::io("read log", &self.path, e))?;
        let len = u32::from_le_bytes(h) as usize;
        if !(REC_HEADER..=MAX_RECORD).contains(&len) {
            return Err(bad());
        }
        let mut b = vec![0u8; len];
        g.file
            .read_exact_at(&mut b, off)
            .map_err(|e| Error::io("read log", &self.path, e))?;
        check(lsn, &b).ok_or_else(bad)
    }

    /// Records from `from` (a record boundary) to the durable end, in order.
    pub fn scan(&self, from: Lsn) -> Result<Vec<LogRecord>> {
        self.flush_all()?;
        let g = self.lock();
        let from = from.max(g.header.base);
        let scan = Scan::new(&g.file, &self.path, g.header.base, from)?;
        scan.collect()
    }

    /// Calls `f` on each record from `from` to the durable end, streaming (recovery of a large
    /// log must not hold it in memory).
    pub fn for_each(&self, from: Lsn, mut f: impl FnMut(LogRecord) -> Result<()>) -> Result<()> {
        self.flush_all()?;
        let (file, base, durable) = {
            let g = self.lock();
            (
                g.file
                    .try_clone()
                    .map_err(|e| Error::io("reopen", &self.path, e))?,
                g.header.base,
                g.durable,
            )
        };
        let mut scan = Scan::new(&file, &self.path, base, from.max(base))?;
        for r in scan.by_ref() {
            f(r?)?;
        }
        // Stopping short of what was made durable is damage, not the end: a reader (redo
        // above all) must not take the records before it for the whole log.
        if scan.lsn < durable {
            return Err(Error::corrupt(
                &self.path,
                format!("no valid log record at LSN {}", scan.lsn),
            ));
        }
        Ok(())
    }

    /// Records the last complete checkpoint in the header (durably).
    pub fn set_checkpoint(&self, ckpt: Lsn) -> Result<()> {
        let mut g = self.lock();
        g.header.seq += 1;
        g.header.ckpt = ckpt;
        let slot = if g.header.seq % 2 == 0 { 0 } else { 512 };
        write_header(&g.file, &self.path, &g.header, &[slot])
    }

    /// Truncates the log before `to` (a record boundary): the records from `to` on are copied
    /// into a new file that replaces the old one by an atomic rename, so a crash leaves one
    /// whole log or the other. Returns the bytes given back.
    pub fn truncate_before(&self, to: Lsn) -> Result<u64> {
        let mut g = self.lock();
        while g.flushing {
            g = self.flushed.wait(g).unwrap_or_else(|e| e.into_inner());
        }
        if to <= g.header.base || to > g.end {
            return Ok(0);
        }
        if let Some(e) = &g.failed {
            return Err(Error::Invalid(format!(
                "{}: log unusable after: {e}",
                self.path.display()
            )));
        }
        // Write out the buffer first, so the copy below sees every record. If that fails the
        // records are in neither place: the log takes no more work (as after a failed flush),
        // or later records would be written where these should have been.
        let buf = std::mem::take(&mut g.buf);
        let off = FILE_HEADER + (g.buf_start - g.header.base);
        if let Err(e) = g.file.write_all_at(&buf, off) {
            let e = Error::io("write log", &self.path, e);
            g.failed = Some(e.to_string());
            return Err(e);
        }
        g.buf_start = g.end;
        let tmp = self.path.with_extension("ldf.tmp");
        // A fresh file, never one (or a link) found in the way.
        match std::fs::remove_file(&tmp) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("remove", &tmp, e)),
        }
        let new = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| Error::io("create", &tmp, e))?;
        let mut header = g.header;
        header.seq += 1;
        header.base = to;
        let copy = || -> Result<()> {
            write_header(&new, &tmp, &header, &[0, 512])?;
            let mut src = g
                .file
                .try_clone()
                .map_err(|e| Error::io("reopen", &self.path, e))?;
            src.seek(SeekFrom::Start(FILE_HEADER + (to - g.header.base)))
                .map_err(|e| Error::io("seek", &self.path, e))?;
            let mut dst = new.try_clone().map_err(|e| Error::io("reopen", &tmp, e))?;
            dst.seek(SeekFrom::Start(FILE_HEADER))
                .map_err(|e| Error::io("seek", &tmp, e))?;
            let want = g.end - to;
            let copied = mtf::fileio::copy_from_file(&mut src, want, &mut dst)
                .map_err(|e| Error::io("copy log into", &tmp, e))?;
            if copied != want {
                return Err(Error::corrupt(&self.path, "log shorter than its end LSN"));
            }
            new.sync_all().map_err(|e| Error::io("fsync", &tmp, e))?;
            std::fs::rename(&tmp, &self.path).map_err(|e| Error::io("rename over", &self.path, e))
        };
        if let Err(e) = copy() {
            // The old log is still the log: the half-made copy only takes space (a full disk
            // is the likely cause).
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        // The new file is the log from here on, whatever the directory fsync says: records
        // written to the old, unlinked one would be lost.
        let freed = to - g.header.base;
        g.file = new;
        g.header = header;
        g.durable = g.end;
        if let Some(dir) = self.path.parent() {
            if let Err(e) = sync_dir(dir) {
                g.failed = Some(e.to_string());
                return Err(e);
            }
        }
        Ok(freed)
    }
}

/// The LSN of the first whole record (length, CRC and LSN all right) that starts after
/// `bad` in the file, if any: read in bounded chunks, every byte position a candidate.
fn whole_record_after(
    file: &File,
    path: &Path,
    base: Lsn,
    bad: Lsn,
    file_len: u64,
) -> Result<Option<Lsn>> {
    const CHUNK: usize = 1 << 20;
    let mut off = FILE_HEADER + (bad - base) + 1;
    let mut buf = Vec::new();
    while off + REC_HEADER as u64 <= file_len {
        let n = CHUNK.min((file_len - off) as usize);
        buf.resize(n, 0);
        file.read_exact_at(&mut buf, off)
            .map_err(|e| Error::io("read log", path, e))?;
        for i in 0..=n - REC_HEADER {
            let lsn = base + (off + i as u64 - FILE_HEADER);
            // Cheap filter first: the LSN field must name this very position.
            if buf[i + 8..i + 16] != lsn.to_le_bytes() {
                continue;
            }
            let len = u32::from_le_bytes(buf[i..i + 4].try_into().expect("4 bytes")) as usize;
            if !(REC_HEADER..=MAX_RECORD).contains(&len) || off + (i + len) as u64 > file_len {
                continue;
            }
            let mut b = vec![0u8; len];
            file.read_exact_at(&mut b, off + i as u64)
                .map_err(|e| Error::io("read log", path, e))?;
            if check(lsn, &b).is_some() {
                return Ok(Some(lsn));
            }
        }
        off += (n - REC_HEADER + 1) as u64;
    }
    Ok(None)
}

/// Reads records in order from a file position until the end or the first bad record.
struct Scan<'a> {
    rd: BufReader<&'a File>,
    path: &'a Path,
    lsn: Lsn,
    done: bool,
}

impl<'a> Scan<'a> {
    fn new(file: &'a File, path: &'a Path, base: Lsn, from: Lsn) -> Result<Scan<'a>> {
        let mut rd = BufReader::with_capacity(1 << 16, file);
        rd.seek(SeekFrom::Start(FILE_HEADER + (from - base)))
            .map_err(|e| Error::io("seek", path, e))?;
        Ok(Scan {
            rd,
            path,
            lsn: from,
            done: false,
        })
    }
}

impl Iterator for Scan<'_> {
    type Item = Result<LogRecord>;
    fn next(&mut self) -> Option<Result<LogRecord>> {
        if self.done {
            return None;
        }
        let mut h = [0u8; 4];
        if let Err(e) = self.rd.read_exact(&mut h) {
            self.done = true;
            return (e.kind() != std::io::ErrorKind::UnexpectedEof)
                .then(|| Err(Error::io("read log", self.path, e)));
        }
        let len = u32::from_le_bytes(h) as usize;
        if !(REC_HEADER..=MAX_RECORD).contains(&len) {
            self.done = true;
            return None;
        }
        let mut b = vec![0u8; len];
        b[..4].copy_from_slice(&h);
        if let Err(e) = self.rd.read_exact(&mut b[4..]) {
            self.done = true;
            return (e.kind() != std::io::ErrorKind::UnexpectedEof)
                .then(|| Err(Error::io("read log", self.path, e)));
        }
        match check(self.lsn, &b) {
            Some(r) => {
                self.lsn += len as u64;
                Some(Ok(r))
            }
            None => {
                self.done = true;
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_a_torn_tail_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.ldf");
        let guid = [7u8; 16];
        let log = Log::create(&path, guid).unwrap();
        let mut lsns = vec![];
        let mut prev = 0;
        for i in 0..50u64 {
            let body = RecordBody::Update {
                page: PageId { file: 1, page: 2 },
                key: format!("k{i}").into_bytes(),
                before: None,
                after: Some(vec![i as u8; i as usize]),
            };
            let (l, _) = log.append(prev, 9, &body);
            prev = l;
            lsns.push(l);
        }
        let (c, end) = log.append(prev, 9, &RecordBody::Commit { ts_ms: 5 });
        log.flush_to(end).unwrap();
        let r = log.read(lsns[10]).unwrap();
        assert_eq!((r.prev, r.txn), (lsns[9], 9));
        assert!(matches!(r.body, RecordBody::Update { ref key, .. } if key == b"k10"));
        drop(log);
        // Tear the commit record: cut a few bytes off the file's end.
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        let len = f.metadata().unwrap().len();
        f.set_len(len - 3).unwrap();
        let (log, rep) = Log::open(&path, guid).unwrap();
        assert_eq!(log.end(), c, "cut at the last whole record");
        assert_eq!(rep.torn_bytes, (end - c) - 3);
        assert_eq!(log.scan(0).unwrap().len(), 50);
        assert!(
            Log::open(&path, [8u8; 16]).is_err(),
            "another database's log is refused"
        );
    }
}
