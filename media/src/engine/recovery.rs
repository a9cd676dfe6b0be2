//! Applying log records to pages, and crash recovery in the three phases of ARIES:
//!
//! 1. **Analysis**, from the last complete checkpoint to the end of the log: rebuilds the dirty
//!    page table (which pages may be missing changes, and from which LSN) and the active
//!    transaction table (which transactions never committed or finished rolling back).
//! 2. **Redo**, from the smallest recovery LSN in the dirty page table: repeats history,
//!    applying every change whose page is not already at or past the record's LSN. A page
//!    whose checksum fails was torn by the crash; the full image logged when it was first
//!    dirtied is in the redo range and replaces it, or recovery stops and names it.
//! 3. **Undo** of each transaction in the active table, newest change first, by key (the key
//!    locks guarantee nobody else touched those keys). Each undone change is logged as a
//!    compensation record pointing at the next change to undo, so a crash during undo resumes
//!    where it stopped instead of undoing twice.
//!
//! Normal work uses the same `Core::apply` as redo: a change is logged, then applied by
//! applying its log record, so what redo does is what was done.

use std::collections::HashMap;

use super::alloc;
use super::btree::Node;
use super::buffer::{Frame, Pool};
use super::crash::{self, Point};
use super::db::{Core, TxnEntry};
use super::page::{Page, PageId};
use super::wal::{LogRecord, Lsn, RecordBody, SmoOp};
use super::{Error, Result};

/// The dirty page table recovery works from.
pub type Dpt = HashMap<PageId, Lsn>;

/// What analysis found.
#[derive(Debug, Default)]
pub struct Analysis {
    /// Pages that may lack changes, with the LSN of the first one.
    pub dpt: Dpt,
    /// Transactions to undo: id → (last LSN, first LSN).
    pub losers: HashMap<u64, (Lsn, Lsn)>,
    /// The next transaction id.
    pub next_txn: u64,
    /// The newest commit time seen (commit times keep increasing after recovery).
    pub last_ts: u64,
    /// Records read.
    pub records: u64,
}

/// What recovery did, for reports and tests.
#[derive(Debug, Default, Clone)]
pub struct RecoveryReport {
    /// Bytes of torn log tail cut at open.
    pub torn_log_bytes: u64,
    /// Records scanned by analysis.
    pub analysed: u64,
    /// Records redone (applied to at least one page).
    pub redone: u64,
    /// Transactions rolled back.
    pub undone_txns: u64,
    /// Torn pages rebuilt from a full image in the log.
    pub repaired_pages: Vec<PageId>,
}

enum Redo<'a> {
    /// Normal work: every change applies.
    Live,
    /// Recovery: only pages in the dirty page table, from their recovery LSN on.
    Recover(Recovering<'a>),
}

struct Recovering<'a> {
    dpt: &'a Dpt,
    /// Torn pages rebuilt from an image.
    repaired: Vec<PageId>,
    /// Torn pages waiting for an image (with what is wrong): the changes to them before it are
    /// skipped, since the image holds them.
    torn: HashMap<PageId, String>,
}

impl Redo<'_> {
    fn wanted(&self, id: PageId, lsn: Lsn) -> bool {
        match self {
            Redo::Live => true,
            Redo::Recover(r) => r.dpt.get(&id).is_some_and(|&l| lsn >= l),
        }
    }
}

impl Core {
    /// Applies a record to the pages it changes (those not already past its LSN).
    pub(crate) fn apply(&mut self, rec: &LogRecord) -> Result<bool> {
        self.apply_with(rec, &mut Redo::Live)
    }

    fn apply_with(&mut self, rec: &LogRecord, mode: &mut Redo) -> Result<bool> {
        let lsn = rec.lsn;
        let mut applied = false;
        match &rec.body {
            RecordBody::Update {
                page, key, after, ..
            }
            | RecordBody::Clr {
                page, key, after, ..
            } => {
                if mode.wanted(*page, lsn) {
                    let file = self.pool.file(page.file)?.path.clone();
                    if let Some(f) = self.frame_or_torn(*page, mode)? {
                        if f.page.lsn() < lsn {
                            let mut node = Node::from_page(&f.page).ok_or_else(|| {
                                Error::corrupt(
                                    &file,
                                    format!("page {}: not a leaf (LSN {lsn})", page.page),
                                )
                            })?;
                            node.leaf_set(key, after.as_deref());
                            let mut p = node.to_page(*page);
                            p.set_lsn(lsn);
                            f.page = p;
                            Pool::mark_dirty(f, lsn);
                            applied = true;
                        }
                    }
                }
                self.note_change(*page, lsn, mode)?;
            }
            RecordBody::Fpi(img) => {
                applied |= self.apply_image(img, lsn, mode)?;
            }
            RecordBody::Smo { ops, bulk } => {
                // Whether a map page takes this record is decided once, before any of the
                // record's changes to it (they all carry the same LSN; a map the record
                // creates gets its image first and then its allocations).
                let mut maps: HashMap<PageId, bool> = HashMap::new();
                for op in ops {
                    if let SmoOp::Alloc(id) | SmoOp::Free(id) = op {
                        self.map_takes(&mut maps, self.map_of(*id), lsn, mode)?;
                    }
                }
                for id in bulk {
                    self.map_takes(&mut maps, self.map_of(*id), lsn, mode)?;
                }
                for op in ops {
                    match op {
                        SmoOp::Image(img) => applied |= self.apply_image(img, lsn, mode)?,
                        SmoOp::Alloc(id) | SmoOp::Free(id) => {
                            let on = matches!(op, SmoOp::Alloc(_));
                            let map = self.map_of(*id);
                            if maps.get(&map) == Some(&true) {
                                self.map_change(map, lsn, |m| {
                                    alloc::set_allocated(m, id.page, on)
                                })?;
                                applied = true;
                            }
                            if !on {
                                self.free_hint.remove(&id.file);
                            }
                        }
                    }
                }
                for id in bulk {
                    let ext = id.page / super::page::EXTENT_PAGES;
                    let map = self.map_of(*id);
                    if maps.get(&map) == Some(&true) {
                        self.map_change(map, lsn, |m| alloc::set_bulk_changed(m, ext, true))?;
                        applied = true;
                    }
                    self.note_change(*id, lsn, mode)?;
                }
            }
            _ => {}
        }
        Ok(applied)
    }

    fn apply_image(&mut self, img: &Page, lsn: Lsn, mode: &mut Redo) -> Result<bool> {
        let id = img.id();
        let mut applied = false;
        if mode.wanted(id, lsn) {
            // An image replaces whatever is there: a torn page, or a never-used page's leftovers.
            let torn = matches!(mode, Redo::Recover(r) if r.torn.contains_key(&id));
            let current = match self.pool.frame(id) {
                Ok(f) if !torn => Some(f.page.lsn()),
                Ok(_) | Err(Error::Corrupt { .. }) => {
                    if let Redo::Recover(r) = mode {
                        r.torn.remove(&id);
                        r.repaired.push(id);
                    }
                    None
                }
                Err(e) => return Err(e),
            };
            if current.is_none_or(|l| l < lsn) {
                let mut p = self.boot_with_paths(img);
                p.set_lsn(lsn);
                let f = self.pool.install(p)?;
                Pool::mark_dirty(f, lsn);
                applied = true;
            }
        }
        if !self.layout.is_map(id.page) {
            self.note_change(id, lsn, mode)?;
        } else if img.page_type() == Some(super::page::PageType::AllocMap) {
            // A file grown by an interval (in normal work or in redo).
            let n = self.layout.interval(id.page) + 1;
            let e = self.maps.entry(id.file).or_insert(1);
            *e = (*e).max(n);
        }
        Ok(applied)
    }

    fn map_takes(
        &mut self,
        seen: &mut HashMap<PageId, bool>,
        id: PageId,
        lsn: Lsn,
        mode: &mut Redo,
    ) -> Result<bool> {
        if let Some(&b) = seen.get(&id) {
            return Ok(b);
        }
        let b = mode.wanted(id, lsn)
            && self
                .frame_or_torn(id, mode)?
                .is_some_and(|f| f.page.lsn() < lsn);
        seen.insert(id, b);
        Ok(b)
    }

    fn map_change(&mut self, map: PageId, lsn: Lsn, f: impl FnOnce(&mut Page)) -> Result<()> {
        let path = self.pool.file(map.file)?.path.clone();
        let fr = self.pool.frame(map)?;
        if fr.page.page_type() != Some(super::page::PageType::AllocMap) {
            return Err(Error::corrupt(
                path,
                format!(
                    "LSN {lsn} allocates or frees a page past the file's allocation maps (no map at page {})",
                    map.page
                ),
            ));
        }
        f(&mut fr.page);
        fr.page.set_lsn(fr.page.lsn().max(lsn));
        Pool::mark_dirty(fr, lsn);
        Ok(())
    }

    /// A page's frame; in recovery, `None` for a torn page (remembered until an image of it
    /// comes along in the log).
    fn frame_or_torn(&mut self, id: PageId, mode: &mut Redo) -> Result<Option<&mut Frame>> {
        if let Redo::Recover(r) = mode {
            if r.torn.contains_key(&id) {
                return Ok(None);
            }
        }
        match self.pool.frame(id) {
            Ok(f) => Ok(Some(f)),
            Err(Error::Corrupt { path, what }) => match mode {
                Redo::Recover(r) => {
                    r.torn.insert(id, format!("{}: {what}", path.display()));
                    Ok(None)
                }
                Redo::Live => Err(Error::Corrupt { path, what }),
            },
            Err(e) => Err(e),
        }
    }

    /// Keeps the allocation map's per-extent change LSN (a maximum, so idempotent).
    fn note_change(&mut self, id: PageId, lsn: Lsn, mode: &mut Redo) -> Result<()> {
        if self.layout.is_map(id.page) || self.boot.file_offline(id.file) {
            return Ok(());
        }
        let map = self.map_of(id);
        let path = self.pool.file(id.file)?.path.clone();
        let Some(fr) = self.frame_or_torn(map, mode)? else {
            return Ok(());
        };
        // Every page the log changes lies in an interval of its file whose map exists (a
        // file grows by logging the new map first): a record naming a page past them is
        // not this database's, and must not make the file reach it.
        if fr.page.page_type() != Some(super::page::PageType::AllocMap) {
            return Err(Error::corrupt(
                path,
                format!(
                    "page {} (changed at LSN {lsn}) lies past the file's allocation maps (no map at page {})",
                    id.page, map.page
                ),
            ));
        }
        // A maximum: applying it again, or out of turn within a record, changes nothing.
        if alloc::note_change(&mut fr.page, id.page, lsn) {
            fr.page.set_lsn(fr.page.lsn().max(lsn));
            Pool::mark_dirty(fr, lsn);
        }
        Ok(())
    }

    /// Analysis: from the checkpoint at `ckpt` (or the log's start) to the end.
    pub(crate) fn analyse(&self, ckpt: Lsn, start: Lsn) -> Result<Analysis> {
        let mut a = Analysis {
            next_txn: 1,
            ..Default::default()
        };
        let mut ended = std::collections::HashSet::new();
        self.log.for_each(start, |r| {
            a.records += 1;
            if r.txn != 0 {
                a.next_txn = a.next_txn.max(r.txn + 1);
                match r.body {
                    RecordBody::Commit { ts_ms } => {
                        a.last_ts = a.last_ts.max(ts_ms);
                        a.losers.remove(&r.txn);
                        ended.insert(r.txn);
                    }
                    RecordBody::Abort => {
                        a.losers.remove(&r.txn);
                        ended.insert(r.txn);
                    }
                    _ => {
                        let e = a.losers.entry(r.txn).or_insert((r.lsn, r.lsn));
                        e.0 = r.lsn;
                    }
                }
            }
            for p in r.pages(self.layout) {
                a.dpt.entry(p).or_insert(r.lsn);
            }
            if let RecordBody::CkptEnd {
                begin,
                dpt,
                att,
                next_txn,
            } = &r.body
            {
                if *begin == ckpt {
                    for (p, l) in dpt {
                        let e = a.dpt.entry(*p).or_insert(*l);
                        *e = (*e).min(*l);
                    }
                    for (t, last, first) in att {
                        if !ended.contains(t) {
                            let e = a.losers.entry(*t).or_insert((*last, *first));
                            e.1 = e.1.min(*first);
                        }
                    }
                    a.next_txn = a.next_txn.max(*next_txn);
                }
            }
            Ok(())
        })?;
        Ok(a)
    }

    /// Redo: repeats history from the smallest recovery LSN.
    pub(crate) fn redo(&mut self, a: &Analysis, rep: &mut RecoveryReport) -> Result<()> {
        // An offline filegroup's pages are left alone: its files are restored later, and
        // brought up to this point then (piecemeal restore).
        let dpt: Dpt = a
            .dpt
            .iter()
            .filter(|(id, _)| !self.boot.file_offline(id.file))
            .map(|(&id, &l)| (id, l))
            .collect();
        let Some(&start) = dpt.values().min() else {
            return Ok(());
        };
        let log = self.log.clone();
        let mut mode = Redo::Recover(Recovering {
            dpt: &dpt,
            repaired: Vec::new(),
            torn: HashMap::new(),
        });
        log.for_each(start, |r| {
            if self.apply_with(&r, &mut mode)? {
                rep.redone += 1;
            }
            Ok(())
        })?;
        let Redo::Recover(mut r) = mode else {
            unreachable!("made as Recover above")
        };
        if let Some((id, what)) = r.torn.iter().min_by_key(|(id, _)| **id) {
            return Err(Error::corrupt(
                self.log.path(),
                format!("page {id} is damaged ({what}) and the log holds no full image of it to repair it"),
            ));
        }
        r.repaired.sort();
        r.repaired.dedup();
        rep.repaired_pages = r.repaired;
        Ok(())
    }

    /// Rolls back a transaction from its last record: logical undo with compensation records.
    pub(crate) fn undo_txn(&mut self, txn: u64, last: Lsn) -> Result<()> {
        let mut next = last;
        while next != 0 {
            let r = self.log.read(next)?;
            if r.txn != txn {
                return Err(Error::corrupt(
                    self.log.path(),
                    format!("LSN {next} belongs to transaction {}, not {txn}", r.txn),
                ));
            }
            next = match r.body {
                // An offline filegroup's change is not undone here: the filegroup is restored
                // later to the point of this recovery, and its own recovery undoes it then.
                RecordBody::Update { page, .. } if self.boot.file_offline(page.file) => r.prev,
                RecordBody::Update {
                    page, key, before, ..
                } => {
                    // The table is the page's filegroup (the leaf may be in any of its files).
                    let table = self
                        .boot
                        .files
                        .iter()
                        .find(|f| f.id == page.file)
                        .map(|f| f.filegroup)
                        .ok_or_else(|| {
                            Error::corrupt(
                                self.log.path(),
                                format!("LSN {next} changes page {page} of no data file"),
                            )
                        })?;
                    self.tree_set(txn, table, &key, before.as_deref(), Some(r.prev))?;
                    if crash::hit(Point::Undo) {
                        let _ = self.log.flush_all();
                        crash::die();
                    }
                    r.prev
                }
                RecordBody::Clr { undo_next, .. } => undo_next,
                _ => r.prev,
            };
        }
        let prev = self.att.get(&txn).map_or(0, |e| e.last);
        self.log.append(prev, txn, &RecordBody::Abort);
        self.att.remove(&txn);
        Ok(())
    }

    /// Undo: rolls back every transaction analysis found unfinished.
    pub(crate) fn undo(&mut self, a: &Analysis, rep: &mut RecoveryReport) -> Result<()> {
        let mut losers: Vec<_> = a.losers.iter().map(|(&t, &(l, f))| (t, l, f)).collect();
        losers.sort();
        for &(t, last, first) in &losers {
            self.att.insert(t, TxnEntry { first, last });
        }
        for (t, last, _) in losers {
            self.undo_txn(t, last)?;
            rep.undone_txns += 1;
        }
        Ok(())
    }
}
