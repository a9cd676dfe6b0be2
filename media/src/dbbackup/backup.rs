//! Taking a backup: the pages and the log a set needs, written through the striped writer, and
//! the engine and the history told.
//!
//! - **Full:** a checkpoint first; the log the set holds starts at the oldest of the
//!   checkpoint, the oldest change its dirty page table still lacks on disk and the first record
//!   of the oldest active transaction (what recovery of the copy will read), and ends where the
//!   log ended after the last page was copied. Every allocated page of every data file is copied
//!   under the engine latch, one page at a time, so transactions run on meanwhile. The
//!   checkpoint is the differential base and, under full and bulk-logged, starts the log chain.
//! - **Differential:** the same, with only the extents changed since the base (and extent 0 of
//!   each file, which holds its header and allocation map).
//! - **Log:** the log from the end of the previous log backup to the end of the log, and the
//!   extents changed by minimally logged operations (which the log does not hold); refused under
//!   simple and without a chain, with the reason; truncates unless copy-only or NO_TRUNCATE.
//! - **Copy-only** moves neither the base nor the chain. **Tail-log** (NO_TRUNCATE) truncates
//!   nothing, and with NORECOVERY leaves the database restoring.

use super::header::{flags, FileEntry, SetHeader, FORMAT_VERSION};
use super::progress::{Counted, Progress};
use super::{BackupType, DbBackupError, Result};
use crate::engine::page::{self, PageId, PAGE_SIZE};
use crate::engine::wal::{self, RecordBody};
use crate::engine::{alloc, Database, Lsn};
use crate::history::BackupHistory;
use crate::set::MediaSet;
use crate::stripe::{
    BackupSet, InfoBlock, StripeDevice, StripeOptions, StripeReport, StripedWriter,
};
use mtf::spec::{BlockType, StreamId};
use mtf::writer::{EntryMeta, SetOptions, VolumeOptions};
use std::io::Read;
use std::sync::mpsc;

/// What to back up and how.
#[derive(Clone, Debug)]
pub struct BackupOptions {
    pub kind: BackupType,
    pub copy_only: bool,
    /// WITH CHECKSUM: every page read is checked against its CRC-32C (without it, only its page
    /// id, as SQL Server checks only page headers without CHECKSUM), and a CSUM stream follows
    /// every file of the set.
    pub checksum: bool,
    /// Goes on past a damaged page (copied as it is on disk) and marks the set damaged.
    pub continue_after_error: bool,
    /// A tail-log backup: truncates nothing.
    pub no_truncate: bool,
    /// Leaves the database restoring (see [`super::restore`]): a log backup WITH NORECOVERY
    /// is a tail-log backup, as in SQL Server, so it implies `no_truncate` (nothing more is
    /// backed up from a restoring database, so truncating would gain nothing). Refused on any
    /// other type of backup.
    pub norecovery: bool,
    /// The filegroup of a file backup (refused on any other type: they hold every filegroup).
    pub filegroup: Option<String>,
    pub name: String,
    pub description: String,
    pub user: String,
    pub server: String,
    /// When the set may be overwritten (Unix seconds).
    pub expires: Option<i64>,
    /// Counts the bytes copied (pages, then log) of the backup's total, for the caller to
    /// show (see [`Progress`]); `None`: nothing is counted.
    pub progress: Option<Progress>,
}

impl BackupOptions {
    /// A backup of the given type with no options.
    pub fn new(kind: BackupType) -> Self {
        BackupOptions {
            kind,
            copy_only: false,
            checksum: false,
            continue_after_error: false,
            no_truncate: false,
            norecovery: false,
            filegroup: None,
            name: String::new(),
            description: String::new(),
            user: std::env::var("USER").unwrap_or_default(),
            server: hostname(),
            expires: None,
            progress: None,
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// What a backup wrote.
#[derive(Debug)]
pub struct BackupOutcome {
    pub header: SetHeader,
    pub report: StripeReport,
    /// The set's position on the media set (`--set N` at restore), when it could be read back.
    pub position: u32,
    /// Pages copied as they were despite a failed check (CONTINUE_AFTER_ERROR).
    pub damaged_pages: Vec<PageId>,
}

/// The log range a data backup must hold to be made consistent: from the oldest record
/// recovery of the copy reads (the checkpoint, its dirty pages' first unwritten change, its
/// active transactions' first records) to the end.
fn checkpoint_start(db: &Database) -> Result<(Lsn, Lsn)> {
    let ckpt = db.checkpoint()?;
    let mut start = ckpt;
    let mut found = false;
    db.read_log(ckpt, Lsn::MAX, |r| {
        if let RecordBody::CkptEnd {
            begin, dpt, att, ..
        } = &r.body
        {
            if *begin == ckpt && !found {
                found = true;
                for (_, l) in dpt {
                    start = start.min(*l);
                }
                for (_, _, first) in att {
                    start = start.min(*first);
                }
            }
        }
        Ok(())
    })?;
    if !found {
        return Err(DbBackupError::Refused(format!(
            "{}: the checkpoint at LSN {ckpt} has no end record",
            db.dir().display()
        )));
    }
    Ok((ckpt, start))
}

/// The pages to copy: every allocated page of the chosen files, or of the chosen extents.
fn pages_of(
    db: &Database,
    files: &[u16],
    extents: Option<&[(u16, u32)]>,
) -> Result<Vec<(u16, Vec<u32>)>> {
    let maps = db.core().all_maps();
    let layout = db.core().layout;
    let mut out = Vec::new();
    for &fid in files {
        let mut pages = Vec::new();
        // Every allocation map of the file (a file grows one map interval at a time). The first
        // extent (boot record, first map, table root) and every map page always travel, so a
        // restore's allocation state is the set's.
        for id in maps.iter().filter(|m| m.file == fid) {
            let map = db.core().pool.read(*id)?;
            pages.extend(alloc::allocated_pages(&map).into_iter().filter(|&p| {
                let e = p / crate::engine::page::EXTENT_PAGES;
                e == 0
                    || layout.is_map(p)
                    || extents.is_none_or(|x| x.iter().any(|&(f, ex)| f == fid && ex == e))
            }));
        }
        pages.sort_unstable();
        pages.dedup();
        out.push((fid, pages));
    }
    Ok(out)
}

/// The set's list of data files (SQL Server lists every file of the database in every set;
/// those without pages in this set have 0).
fn file_entries(
    dir: &std::path::Path,
    files: &[crate::engine::file::DataFileInfo],
    groups: &[crate::engine::file::FilegroupInfo],
    pages: &[(u16, Vec<u32>)],
) -> Vec<FileEntry> {
    files
        .iter()
        .map(|f| {
            let g = groups.iter().find(|g| g.id == f.filegroup);
            FileEntry {
                file_id: f.id,
                filegroup_id: f.filegroup,
                filegroup: g.map_or_else(String::new, |g| g.name.clone()),
                logical_name: f.logical_name.clone(),
                file_name: f.file_name.clone(),
                physical_name: super::relocate::physical_name(dir, &f.path, &f.file_name),
                read_only: g.is_some_and(|g| g.read_only),
                pages_in_set: pages
                    .iter()
                    .find(|p| p.0 == f.id)
                    .map_or(0, |p| p.1.len() as u64),
            }
        })
        .collect()
}

/// Pages read in one go when their numbers follow each other and none is dirty in the pool.
const RUN_PAGES: usize = 64;

/// Reads pages under the engine latch: runs of consecutive pages unchanged in memory in one
/// read each (a page at a time cost a system call and a copy per 8 KiB), straight into the
/// caller's buffer when it holds whole pages; a page changed in memory from the pool.
struct PageReader<'a> {
    db: &'a Database,
    file: u16,
    pages: std::vec::IntoIter<u32>,
    /// For reads smaller than a page: the page being handed out.
    buf: Vec<u8>,
    at: usize,
    /// WITH CHECKSUM: every page's CRC-32C is checked (else only its id).
    checksum: bool,
    continue_after_error: bool,
    damaged: &'a mut Vec<PageId>,
}

impl PageReader<'_> {
    /// Reads the next run of pages (as many as fit in `dst`, at least one page, at most
    /// [`RUN_PAGES`]) into the start of `dst`; returns the bytes read, 0 at the end.
    fn fill(&mut self, dst: &mut [u8]) -> std::io::Result<usize> {
        let Some(no) = self.pages.next() else {
            return Ok(0);
        };
        let file = self.file;
        let pid = |page| PageId { file, page };
        let c = self.db.core();
        let rest = self.pages.as_slice();
        let most = (dst.len() / PAGE_SIZE).clamp(1, RUN_PAGES);
        let mut run = 1;
        while run < most
            && rest.get(run - 1) == Some(&(no + run as u32))
            && !c.pool.is_dirty(pid(no + run as u32))
        {
            run += 1;
        }
        if c.pool.is_dirty(pid(no)) {
            // Changed in memory since it was last written: its CRC is stale, the copy gets
            // its own.
            drop(c);
            let mut p = self
                .db
                .core()
                .pool
                .read(pid(no))
                .map_err(std::io::Error::other)?;
            p.seal();
            dst[..PAGE_SIZE].copy_from_slice(&p.0[..]);
            return Ok(PAGE_SIZE);
        }
        let dst = &mut dst[..run * PAGE_SIZE];
        // On disk as in memory (page writes take the engine latch, held here): read without
        // going through the pool, checked as asked.
        let f = c.pool.file(self.file).map_err(std::io::Error::other)?;
        f.read_raw_run(no, dst).map_err(std::io::Error::other)?;
        for (i, img) in dst.chunks_exact(PAGE_SIZE).enumerate() {
            let img: &[u8; PAGE_SIZE] = img.try_into().expect("one page");
            let id = pid(no + i as u32);
            let fault = if self.checksum {
                page::verify_image(img, id).err().map(|e| e.to_string())
            } else {
                let found = page::image_id(img);
                (found != id).then(|| format!("holds page {found} instead"))
            };
            match fault {
                None => {}
                Some(_) if self.continue_after_error => self.damaged.push(id),
                Some(why) => {
                    return Err(std::io::Error::other(format!(
                        "{}: page {}: {why}",
                        f.path.display(),
                        id.page
                    )))
                }
            }
        }
        drop(c);
        // The rest of the run was read: step past it.
        for _ in 1..run {
            self.pages.next();
        }
        Ok(dst.len())
    }
}

impl Read for PageReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.at == self.buf.len() {
            if out.len() >= PAGE_SIZE {
                return self.fill(out);
            }
            let mut page = std::mem::take(&mut self.buf);
            page.resize(PAGE_SIZE, 0);
            let n = self.fill(&mut page)?;
            page.truncate(n);
            self.buf = page;
            self.at = 0;
            if n == 0 {
                return Ok(0);
            }
        }
        let n = out.len().min(self.buf.len() - self.at);
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Reads log records, re-encoded byte for byte, from a thread that walks the log.
struct ChannelReader {
    rx: mpsc::Receiver<Vec<u8>>,
    cur: Vec<u8>,
    at: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.cur.len() {
            match self.rx.recv() {
                Ok(b) => {
                    self.cur = b;
                    self.at = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.cur.len() - self.at);
        out[..n].copy_from_slice(&self.cur[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Adds the set's `refdb/log` file: `size` bytes of records, re-encoded byte for byte as the
/// log holds them, from `walk` (run on a thread of its own, so the log is streamed).
fn add_log_file<W>(
    w: &mut StripedWriter,
    meta: &EntryMeta,
    size: u64,
    source: &std::path::Path,
    progress: Option<&Progress>,
    walk: W,
) -> Result<()>
where
    W: FnOnce(
            &mut dyn FnMut(&crate::engine::LogRecord) -> crate::engine::Result<()>,
        ) -> crate::engine::Result<()>
        + Send,
{
    let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(64);
    std::thread::scope(|s| -> Result<()> {
        let walker = s.spawn(move || {
            walk(&mut |r| {
                let b = wal::encode(r.lsn, r.prev, r.txn, &r.body);
                tx.send(b)
                    .map_err(|_| crate::engine::Error::Invalid("the backup stopped reading".into()))
            })
        });
        let mut r = Counted {
            inner: ChannelReader {
                rx,
                cur: Vec::new(),
                at: 0,
            },
            progress,
        };
        let out = w.add_file(&["refdb".to_string()], "log", meta, size, &mut r);
        drop(r);
        let walked = walker
            .join()
            .map_err(|_| DbBackupError::Refused("the log reader thread panicked".into()))?;
        let out = out?;
        walked?;
        if out.bytes_read != size || out.grew {
            return Err(DbBackupError::Refused(format!(
                "{}: the log changed while it was copied",
                source.display()
            )));
        }
        Ok(())
    })
}

/// Whether the log range holds a minimally logged (bulk) operation.
fn has_bulk(db: &Database, from: Lsn, to: Lsn) -> Result<bool> {
    let mut bulk = false;
    db.read_log(from, to, |r| {
        if let RecordBody::Smo { bulk: b, .. } = &r.body {
            bulk |= !b.is_empty();
        }
        Ok(())
    })?;
    Ok(bulk)
}

/// The BackupSetGUID of the full backup at `ckpt` (the differential base), from the history.
fn base_guid(history: &dyn BackupHistory, database: &str, ckpt: Lsn) -> Result<[u8; 16]> {
    if ckpt == 0 {
        return Ok([0; 16]);
    }
    let want = super::header::history_lsn(ckpt);
    let found = history
        .backups(Some(database))?
        .into_iter()
        .rev()
        .find(|r| {
            r.kind == crate::history::BackupKind::Full
                && r.copy_only != Some(true)
                && r.checkpoint_lsn == Some(want)
        })
        .and_then(|r| r.backup_set_guid);
    Ok(found.and_then(|g| parse_guid(&g)).unwrap_or([0; 16]))
}

/// A GUID's text back to its 16 bytes (mixed-endian, as [`mtf::stream::sqlserver::Guid`]).
pub fn parse_guid(s: &str) -> Option<[u8; 16]> {
    let h: String = s.chars().filter(|c| *c != '-').collect();
    if h.len() != 32 {
        return None;
    }
    let mut b = [0u8; 16];
    for (i, x) in b.iter_mut().enumerate() {
        *x = u8::from_str_radix(&h[2 * i..2 * i + 2], 16).ok()?;
    }
    // Data1..Data3 are little-endian in the bytes.
    b[0..4].reverse();
    b[4..6].reverse();
    b[6..8].reverse();
    Some(b)
}

fn new_guid() -> [u8; 16] {
    crate::set::new_guid().0
}

/// The options as a backup applies them, or why they do not go together: an option that
/// would be ignored is refused, so that nobody believes a backup holds what it does not.
fn checked(opts: &BackupOptions) -> Result<BackupOptions> {
    let kind = opts.kind.name();
    if opts.norecovery && opts.kind != BackupType::Log {
        return Err(DbBackupError::Refused(format!(
            "NORECOVERY (a tail-log backup, leaving the database restoring) applies to log backups only, not to a {kind} backup"
        )));
    }
    if let (Some(fg), false) = (&opts.filegroup, opts.kind == BackupType::File) {
        return Err(DbBackupError::Refused(format!(
            "a filegroup ({fg:?}) is named by file backups only: a {kind} backup holds every filegroup"
        )));
    }
    Ok(BackupOptions {
        no_truncate: opts.no_truncate || opts.norecovery,
        ..opts.clone()
    })
}

/// Takes a backup of `db` onto the devices (one per family; mirrors within) and records it in
/// `history`. `media` is the media set for a format (see [`StripedWriter::start`]).
pub fn backup(
    db: &Database,
    opts: &BackupOptions,
    devices: Vec<Vec<StripeDevice>>,
    media: MediaSet,
    stripe: &StripeOptions,
    history: &mut dyn BackupHistory,
) -> Result<BackupOutcome> {
    let opts = &checked(opts)?;
    let info = db.info();
    let start_ms = crate::engine::time::now_ms();
    let mut flag_bits = 0;
    if opts.copy_only {
        flag_bits |= flags::COPY_ONLY;
    }
    if opts.checksum {
        flag_bits |= flags::CHECKSUMS;
    }
    if opts.no_truncate {
        flag_bits |= flags::TAIL_LOG;
        if opts.norecovery {
            flag_bits |= flags::NORECOVERY;
        }
    }
    if opts.no_truncate && opts.kind != BackupType::Log {
        return Err(DbBackupError::Refused(
            "NO_TRUNCATE (a tail-log backup) applies to log backups only".into(),
        ));
    }
    super::piecemeal::refuse_offline_backup(&info, opts.kind, opts.filegroup.as_deref())?;
    let all_files: Vec<u16> = info.files.iter().map(|f| f.id).collect();
    // What the set holds: its log range, its pages, its base.
    let (first, checkpoint, files, extents, base) = match opts.kind {
        BackupType::Full | BackupType::File => {
            let (ckpt, start) = checkpoint_start(db)?;
            let files = match (&opts.filegroup, opts.kind) {
                (Some(fg), BackupType::File) => {
                    let g = info
                        .filegroups
                        .iter()
                        .find(|g| g.name.eq_ignore_ascii_case(fg))
                        .ok_or_else(|| {
                            DbBackupError::Refused(format!(
                                "database {} has no filegroup {fg:?}",
                                info.name
                            ))
                        })?;
                    info.files
                        .iter()
                        .filter(|f| f.filegroup == g.id)
                        .map(|f| f.id)
                        .collect()
                }
                (None, BackupType::File) => {
                    return Err(DbBackupError::Refused(
                        "a file backup needs a filegroup (--filegroup NAME)".into(),
                    ))
                }
                _ => all_files.clone(),
            };
            (start, ckpt, files, None, info.diff_base_lsn)
        }
        BackupType::Differential => {
            if info.diff_base_lsn == 0 {
                return Err(DbBackupError::Refused(format!(
                    "database {} has no full backup to be a differential's base: take a full backup first",
                    info.name
                )));
            }
            let (ckpt, start) = checkpoint_start(db)?;
            let ext = db.changed_extents(info.diff_base_lsn)?;
            (
                start,
                ckpt,
                all_files.clone(),
                Some(ext),
                info.diff_base_lsn,
            )
        }
        BackupType::Log => {
            if info.model == crate::engine::RecoveryModel::Simple {
                return Err(DbBackupError::Refused(format!(
                    "database {} uses the simple recovery model, which keeps no log to back up: take a full or differential backup",
                    info.name
                )));
            }
            if info.log_chain_lsn == 0 {
                return Err(DbBackupError::Refused(format!(
                    "database {} has no log backup chain: no full backup was taken since it was created or switched from the simple model; take a full backup first",
                    info.name
                )));
            }
            let ext = db.bulk_changed_extents()?;
            let files: Vec<u16> = all_files
                .iter()
                .copied()
                .filter(|f| ext.iter().any(|e| e.0 == *f))
                .collect();
            (
                info.log_backup_lsn,
                info.checkpoint_lsn,
                files,
                Some(ext),
                info.diff_base_lsn,
            )
        }
    };
    let base_guid = base_guid(history, &info.name, base)?;
    let set_guid = new_guid();
    let pages = pages_of(db, &files, extents.as_deref())?;
    let page_bytes = pages.iter().map(|p| p.1.len() as u64).sum::<u64>() * PAGE_SIZE as u64;
    let progress = opts.progress.as_ref();
    if let Some(p) = progress {
        // The log's part as it stands now; made exact once the pages are copied.
        p.set_total(page_bytes + db.info().log_end.saturating_sub(first));
    }
    let mut header = SetHeader {
        kind: opts.kind,
        database: info.name.clone(),
        db_guid: info.db_guid,
        set_guid,
        server: opts.server.clone(),
        model: info.model,
        first_lsn: first,
        last_lsn: 0,
        checkpoint_lsn: checkpoint,
        base_lsn: base,
        base_guid,
        fork_guid: info.fork_guid,
        fork_point_lsn: info.fork_point_lsn,
        first_fork_guid: first_fork(
            first,
            info.fork_guid,
            info.fork_point_lsn,
            info.parent_fork_guid,
        ),
        start_ms,
        finish_ms: 0,
        expires_ms: opts.expires.map_or(0, |s| s.max(0) as u64 * 1000),
        created_ms: db.core().boot.created_ms,
        flags: flag_bits,
        backup_size: 0,
        user: opts.user.clone(),
        // Every data file, as SQL Server lists every file of the database in every set;
        // those without pages in this set have 0.
        files: file_entries(db.dir(), &info.files, &info.filegroups, &pages),
        log_physical_name: super::relocate::physical_name(
            db.dir(),
            &crate::engine::db::locate(db.dir())?.log,
            crate::engine::db::LOG_FILE,
        ),
        format_version: FORMAT_VERSION,
    };
    let date = set_date(start_ms)?;
    let mut w = start_set(opts, &header, date, db.dir(), devices, media, stripe)?;
    let mut damaged = Vec::new();
    // Commit times run ahead of the clock when commits come faster than one a millisecond:
    // the set's finish is never before its newest commit.
    let mut newest_commit = 0u64;
    let written = (|| -> Result<Lsn> {
        w.add_info_block(InfoBlock {
            block_type: BlockType::MSCI,
            fixed: vec![0; 4],
            streams: vec![(StreamId::MQCI, header.to_mqci(false))],
        })?;
        let dir = vec!["refdb".to_string()];
        let meta = EntryMeta::with_dates(None, date);
        for (fid, list) in &pages {
            let size = list.len() as u64 * PAGE_SIZE as u64;
            let mut r = Counted {
                inner: PageReader {
                    db,
                    file: *fid,
                    pages: list.clone().into_iter(),
                    buf: Vec::new(),
                    at: 0,
                    checksum: opts.checksum,
                    continue_after_error: opts.continue_after_error,
                    damaged: &mut damaged,
                },
                progress,
            };
            let out = w.add_file(&dir, &format!("F{fid}.pages"), &meta, size, &mut r)?;
            if let Some(e) = out.read_error {
                return Err(DbBackupError::Refused(format!(
                    "reading data file {fid} of {}: {e}",
                    db.dir().display()
                )));
            }
        }
        // The log up to the end as it is now (after the copy).
        let last = db.info().log_end;
        let mut size = 0u64;
        db.read_log(first, last, |r| {
            size += r.len as u64;
            if let RecordBody::Commit { ts_ms } = r.body {
                newest_commit = newest_commit.max(ts_ms);
            }
            Ok(())
        })?;
        if let Some(p) = progress {
            p.set_total(page_bytes + size);
        }
        add_log_file(&mut w, &meta, size, db.dir(), progress, |f| {
            db.read_log(first, last, f)
        })?;
        Ok(last)
    })();
    let last = match written {
        Ok(l) => l,
        Err(e) => {
            w.abandon();
            return Err(e);
        }
    };
    header.last_lsn = last;
    if opts.kind == BackupType::Log && has_bulk(db, first, last)? {
        header.flags |= flags::BULK_LOGGED;
    }
    if !damaged.is_empty() {
        header.flags |= flags::DAMAGED;
    }
    header.finish_ms = crate::engine::time::now_ms()
        .max(start_ms)
        .max(newest_commit);
    header.backup_size = page_bytes + (last - first);
    let report = close_set(w, &header, date)?;
    // The set is on the media: now the history learns of it, and only then the database
    // (its log chain moves on, a tail-log backup leaves it restoring). A history that cannot
    // record the set (a full disk) fails the backup with the database as it was: the same
    // backup run again starts where this one did, and no log is left that no plan knows.
    let position = record(history, &header, &report)?;
    match opts.kind {
        BackupType::Full if !opts.copy_only => db.note_full_backup(checkpoint)?,
        BackupType::Differential if !opts.copy_only => db.note_differential_backup(checkpoint)?,
        BackupType::Log if !opts.copy_only && !opts.no_truncate => db.note_log_backup(last)?,
        _ => {}
    }
    if opts.no_truncate && opts.norecovery {
        super::restore::mark_restoring(db.dir(), &info.name, info.db_guid, info.fork_guid, last)?;
    }
    Ok(BackupOutcome {
        header,
        report,
        position,
        damaged_pages: damaged,
    })
}

fn set_date(ms: u64) -> Result<mtf::DateTime> {
    mtf::DateTime::from_unix((ms / 1000) as i64)
        .ok_or_else(|| DbBackupError::Refused("the clock is outside MTF's dates".into()))
}

/// Starts the set on the media (its SSET carries the BackupSetGUID as SQL Server's does) and
/// writes its MSCI block.
fn start_set(
    opts: &BackupOptions,
    header: &SetHeader,
    date: mtf::DateTime,
    source: &std::path::Path,
    devices: Vec<Vec<StripeDevice>>,
    media: MediaSet,
    stripe: &StripeOptions,
) -> Result<StripedWriter> {
    let mut set_opts = SetOptions::new(&opts.name, date);
    set_opts.description = opts.description.clone();
    set_opts.user = opts.user.clone();
    set_opts.checksums = opts.checksum;
    set_opts.time_zone = 0;
    let mut os = mtf::stream::sqlserver::Guid(header.set_guid).0.to_vec();
    os.extend_from_slice(&[0; 5]);
    set_opts.os_data = os;
    let set = BackupSet {
        options: set_opts,
        expires: opts.expires,
        volume: Some(VolumeOptions {
            device: source.display().to_string(),
            volume: String::new(),
            machine: opts.server.clone(),
        }),
    };
    let mut w = StripedWriter::start(devices, media, stripe, set)?;
    if let Err(e) = w.add_info_block(InfoBlock {
        block_type: BlockType::MSCI,
        fixed: vec![0; 4],
        streams: vec![(StreamId::MQCI, header.to_mqci(false))],
    }) {
        w.abandon();
        return Err(e.into());
    }
    Ok(w)
}

/// Ends the set: its final header as the `refdb/header.mqci` file and in the MSLS block.
fn close_set(
    mut w: StripedWriter,
    header: &SetHeader,
    date: mtf::DateTime,
) -> Result<StripeReport> {
    let final_mqci = header.to_mqci(true);
    w.add_file(
        &["refdb".to_string()],
        "header.mqci",
        &EntryMeta::with_dates(None, date),
        final_mqci.len() as u64,
        &mut &final_mqci[..],
    )?;
    w.add_info_block(InfoBlock {
        block_type: BlockType::MSLS,
        fixed: vec![0; 4],
        streams: vec![(StreamId::MQCI, final_mqci)],
    })?;
    Ok(w.finish()?)
}

/// Records the set in the history; returns its position on the media.
fn record(
    history: &mut dyn BackupHistory,
    header: &SetHeader,
    report: &StripeReport,
) -> Result<u32> {
    let position = position_of(report);
    let paths: Vec<Vec<String>> = report
        .families
        .iter()
        .filter(|f| f.mirror == 0)
        .map(|f| f.used.iter().map(|u| recorded_path(&u.name)).collect())
        .collect();
    let mut rec =
        super::header::history_record(header, &report.media_set_id.to_string(), position, &paths);
    // A mirror's media are the same media in another place (msdb's backupmediafamily rows of
    // mirror 1, 2, ...): recorded after the first copy's, so that a plan reads the first copy
    // and falls back on the mirror when it is lost.
    for m in report.families.iter().filter(|f| f.mirror != 0) {
        let Some(fam) = rec
            .families
            .iter_mut()
            .find(|f| f.family_number == m.family_number)
        else {
            continue;
        };
        for u in &m.used {
            let place = crate::history::MediumRecord {
                media_sequence_number: u.sequence,
                path: recorded_path(&u.name),
                is_tape: true,
            };
            if !fam.media.contains(&place) {
                fam.media.push(place);
            }
        }
        fam.media.sort_by_key(|x| x.media_sequence_number);
    }
    history.record(&rec)?;
    Ok(position)
}

/// A medium's name as the history keeps it: an image given relative to the working
/// directory, made absolute (as msdb records a device's full path), so that a plan run from
/// any directory reads this medium and never another file of the same relative name there.
/// A name that is not a file here (a tape device, a changer's slot) is kept as it is.
fn recorded_path(name: &str) -> String {
    let p = std::path::Path::new(name);
    if p.is_relative() && p.exists() {
        if let Ok(abs) = std::path::absolute(p) {
            return abs.display().to_string();
        }
    }
    name.to_owned()
}

/// A tail-log backup (NO_TRUNCATE) of a database that cannot be opened (a data file lost or
/// damaged), read from its files: as the reference documents require, the primary data file
/// (its boot page: the name, the model, where the last log backup ended) and the log must be
/// readable. The log from the end of the last log backup to its end goes to the media.
/// Minimally logged changes since the last log backup cannot be read from the damaged files:
/// the set is then marked bulk-logged and damaged (SQL Server's "incomplete metadata").
pub fn tail_log_from_files(
    dir: &std::path::Path,
    opts: &BackupOptions,
    devices: Vec<Vec<StripeDevice>>,
    media: MediaSet,
    stripe: &StripeOptions,
    history: &mut dyn BackupHistory,
) -> Result<BackupOutcome> {
    use crate::engine::file::{Boot, DataFile};
    let opts = &checked(opts)?;
    if opts.kind != BackupType::Log || !opts.no_truncate {
        return Err(DbBackupError::Refused(
            "a backup from the files of a database that cannot be opened is a tail-log backup only (a log backup, NO_TRUNCATE)".into(),
        ));
    }
    // Never under a process that has the database open (its log is still growing, and its
    // commits after the tail would be lost): the tail is taken only when nobody holds it.
    let _lock = crate::engine::db::lock_dir(dir)?;
    let loc = crate::engine::db::locate(dir)?;
    let primary = loc.primary(dir);
    let lpath = loc.log(dir);
    let unreadable = || {
        DbBackupError::Refused(format!(
            "{}: the primary data file's boot page is unreadable: a tail-log backup needs the primary data file and the log",
            primary.display()
        ))
    };
    let on_disk = DataFile::open(1, &primary, false)
        .and_then(|f| f.read_page(0))
        .map_err(|_| unreadable())?;
    let (log, _) = wal::Log::open(&lpath, wal::Log::peek_guid(&lpath)?)?;
    // The boot record as recovery would leave it: the newest image of it in the log, if newer
    // than the page on disk (boot changes are logged as page images and written out later).
    let boot_id = PageId { file: 1, page: 0 };
    let mut newest = on_disk;
    log.for_each(log.header().base, |r| {
        if let RecordBody::Smo { ops, .. } = &r.body {
            for op in ops {
                if let wal::SmoOp::Image(p) = op {
                    if p.id() == boot_id && r.lsn > newest.lsn() {
                        newest = p.clone();
                        newest.set_lsn(r.lsn);
                    }
                }
            }
        }
        Ok(())
    })?;
    let boot = Boot::from_page(&newest)
        .filter(|b| b.db_guid == log.header().db_guid)
        .ok_or_else(unreadable)?;
    if boot.model == crate::engine::RecoveryModel::Simple || boot.log_chain_lsn == 0 {
        return Err(DbBackupError::Refused(format!(
            "database {} has no log backup chain (simple model, or no full backup since it was switched): there is no tail of the log to back up",
            boot.name
        )));
    }
    let first = boot.log_backup_lsn;
    let last = log.end();
    let mut bulk = false;
    let mut newest_commit = 0u64;
    let mut size = 0u64;
    log.for_each(first, |r| {
        if r.lsn < last {
            size += r.len as u64;
            match &r.body {
                RecordBody::Smo { bulk: b, .. } => bulk |= !b.is_empty(),
                RecordBody::Commit { ts_ms } => newest_commit = newest_commit.max(*ts_ms),
                _ => {}
            }
        }
        Ok(())
    })?;
    if log.header().base > first {
        return Err(DbBackupError::Refused(format!(
            "{}: the log before LSN {} was truncated; the tail from LSN {first} is gone",
            lpath.display(),
            log.header().base
        )));
    }
    let start_ms = crate::engine::time::now_ms();
    let base_guid = base_guid(history, &boot.name, boot.diff_base_lsn)?;
    let mut header = SetHeader {
        kind: BackupType::Log,
        database: boot.name.clone(),
        db_guid: boot.db_guid,
        set_guid: new_guid(),
        server: opts.server.clone(),
        model: boot.model,
        first_lsn: first,
        last_lsn: last,
        checkpoint_lsn: log.header().ckpt,
        base_lsn: boot.diff_base_lsn,
        base_guid,
        fork_guid: boot.fork_guid,
        fork_point_lsn: boot.fork_point_lsn,
        first_fork_guid: first_fork(
            first,
            boot.fork_guid,
            boot.fork_point_lsn,
            boot.parent_fork_guid,
        ),
        start_ms,
        finish_ms: 0,
        expires_ms: opts.expires.map_or(0, |s| s.max(0) as u64 * 1000),
        created_ms: boot.created_ms,
        flags: flags::TAIL_LOG
            | if opts.norecovery {
                flags::NORECOVERY
            } else {
                0
            }
            | if bulk {
                flags::BULK_LOGGED | flags::DAMAGED
            } else {
                0
            },
        backup_size: last - first,
        user: opts.user.clone(),
        files: file_entries(dir, &boot.files, &boot.filegroups, &[]),
        log_physical_name: super::relocate::physical_name(
            dir,
            &loc.log,
            crate::engine::db::LOG_FILE,
        ),
        format_version: FORMAT_VERSION,
    };
    let date = set_date(start_ms)?;
    if let Some(p) = &opts.progress {
        p.set_total(size);
    }
    let mut w = start_set(opts, &header, date, dir, devices, media, stripe)?;
    let meta = EntryMeta::with_dates(None, date);
    if let Err(e) = add_log_file(&mut w, &meta, size, &lpath, opts.progress.as_ref(), |f| {
        log.for_each(first, |r| if r.lsn < last { f(&r) } else { Ok(()) })
    }) {
        w.abandon();
        return Err(e);
    }
    header.finish_ms = crate::engine::time::now_ms()
        .max(start_ms)
        .max(newest_commit);
    let report = close_set(w, &header, date)?;
    // Recorded first, as `backup`: a tail that no history knows leaves the database as it was.
    let position = record(history, &header, &report)?;
    if opts.norecovery {
        super::restore::mark_restoring(dir, &boot.name, boot.db_guid, boot.fork_guid, last)?;
    }
    Ok(BackupOutcome {
        header,
        report,
        position,
        damaged_pages: Vec::new(),
    })
}

/// The set's data set number on family 1 (every family numbers it alike), as its writer
/// numbered it: reading the medium back for it cost a second pass over the whole set.
fn position_of(report: &StripeReport) -> u32 {
    report
        .families
        .iter()
        .find(|f| f.family_number == 1 && f.mirror == 0)
        .map_or(0, |f| u32::from(f.set_number))
}

/// The fork a backup starting at `first` starts in: the parent fork for one starting exactly
/// at the point where a fork that kept the log chain began (the first log backup after the
/// first stage of a piecemeal restore: the restoring database it continues is in the parent
/// there), the current fork otherwise.
fn first_fork(first: Lsn, fork: [u8; 16], point: Lsn, parent: Option<[u8; 16]>) -> [u8; 16] {
    match parent {
        Some(p) if point != 0 && first == point => p,
        _ => fork,
    }
}
