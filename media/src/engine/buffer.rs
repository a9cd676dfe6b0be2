//! The buffer pool: a bounded number of page frames over the data files.
//!
//! Steal: a dirty page, even one holding uncommitted changes, may be written out to make room
//! (undo can always take those changes back out, from the log). No-force: commit writes no data
//! pages; the log alone makes it durable. The write-ahead rule is kept here: before a page goes
//! to disk, the log is made durable up to that page's LSN.

use std::collections::HashMap;
use std::sync::Arc;

use super::alloc::ALLOC_PAGE;
use super::file::DataFile;
use super::page::{Page, PageId};
use super::wal::{Log, Lsn};
use super::{Error, Result};

/// A page in memory.
pub struct Frame {
    /// The page.
    pub page: Page,
    /// Changed since it was read or last written.
    pub dirty: bool,
    /// When dirty: the LSN of the first change not on disk (its recovery LSN).
    pub rec_lsn: Lsn,
    used: u64,
}

/// The frames, the files they come from, and the log they obey.
pub struct Pool {
    frames: HashMap<PageId, Frame>,
    capacity: usize,
    tick: u64,
    files: HashMap<u16, DataFile>,
    log: Arc<Log>,
    /// Pages written since the pool was made (for the benchmarks and tests).
    pub writes: u64,
    /// Called before each page write (see [`PreImageHook`]).
    pub before_write: Option<PreImageHook>,
}

/// Called with the file and the page about to be overwritten, before the write: it may read
/// the page's current image (a restore WITH STANDBY keeps the images recovery overwrites).
/// An error stops the write.
pub type PreImageHook = Box<dyn FnMut(&DataFile, PageId) -> Result<()> + Send>;

impl Pool {
    /// A pool of `capacity` frames (at least 16).
    pub fn new(capacity: usize, files: Vec<DataFile>, log: Arc<Log>) -> Pool {
        Pool {
            frames: HashMap::new(),
            capacity: capacity.max(16),
            tick: 0,
            files: files.into_iter().map(|f| (f.id, f)).collect(),
            log,
            writes: 0,
            before_write: None,
        }
    }

    /// The data file of an id.
    pub fn file(&self, id: u16) -> Result<&DataFile> {
        self.files
            .get(&id)
            .ok_or_else(|| Error::Invalid(format!("no data file with id {id}")))
    }

    /// Adds a data file (an offline filegroup's, brought online).
    pub fn add_file(&mut self, f: DataFile) {
        self.files.insert(f.id, f);
    }

    /// The ids of the data files.
    pub fn file_ids(&self) -> Vec<u16> {
        let mut v: Vec<u16> = self.files.keys().copied().collect();
        v.sort();
        v
    }

    /// The frame of a page, read (and checked) from its file if not in memory.
    pub fn frame(&mut self, id: PageId) -> Result<&mut Frame> {
        self.tick += 1;
        if !self.frames.contains_key(&id) {
            let page = self.file(id.file)?.read_page(id.page)?;
            self.make_room()?;
            self.frames.insert(
                id,
                Frame {
                    page,
                    dirty: false,
                    rec_lsn: 0,
                    used: 0,
                },
            );
        }
        let f = self.frames.get_mut(&id).expect("just inserted");
        f.used = self.tick;
        Ok(f)
    }

    /// A copy of a page's contents.
    pub fn read(&mut self, id: PageId) -> Result<Page> {
        Ok(self.frame(id)?.page.clone())
    }

    /// Whether a page is in memory and changed.
    pub fn is_dirty(&self, id: PageId) -> bool {
        self.frames.get(&id).is_some_and(|f| f.dirty)
    }

    /// Replaces a page's contents with an image, without reading the old one (which may be
    /// torn, or a freed page's leftovers).
    pub fn install(&mut self, page: Page) -> Result<&mut Frame> {
        let id = page.id();
        self.tick += 1;
        if !self.frames.contains_key(&id) {
            self.make_room()?;
            self.frames.insert(
                id,
                Frame {
                    page: Page::zeroed(),
                    dirty: false,
                    rec_lsn: 0,
                    used: 0,
                },
            );
        }
        let f = self.frames.get_mut(&id).expect("just inserted");
        f.page = page;
        f.used = self.tick;
        Ok(f)
    }

    /// Marks a frame changed by the record at `lsn` (keeping the first change's LSN).
    pub fn mark_dirty(f: &mut Frame, lsn: Lsn) {
        if !f.dirty {
            f.dirty = true;
            f.rec_lsn = lsn;
        }
    }

    fn make_room(&mut self) -> Result<()> {
        while self.frames.len() >= self.capacity {
            // Least recently used, preferring clean pages; the allocation maps and file headers
            // stay (they are touched by nearly every change).
            let victim = self
                .frames
                .iter()
                .filter(|(id, _)| id.page > ALLOC_PAGE)
                .min_by_key(|(_, f)| (f.dirty, f.used))
                .map(|(id, _)| *id);
            let Some(v) = victim else {
                return Ok(());
            };
            self.write_out(v)?;
            self.frames.remove(&v);
        }
        Ok(())
    }

    /// Writes a dirty page to its file (not fsynced), log first.
    pub fn write_out(&mut self, id: PageId) -> Result<()> {
        let Some(f) = self.frames.get_mut(&id) else {
            return Ok(());
        };
        if !f.dirty {
            return Ok(());
        }
        self.log.flush_to(f.page.lsn() + 1)?;
        let file = self
            .files
            .get(&id.file)
            .ok_or_else(|| Error::Invalid(format!("no file {}", id.file)))?;
        if let Some(hook) = self.before_write.as_mut() {
            hook(file, id)?;
        }
        file.write_page(&mut f.page)?;
        f.dirty = false;
        f.rec_lsn = 0;
        self.writes += 1;
        Ok(())
    }

    /// The dirty page table: every dirty page and its recovery LSN.
    pub fn dirty_pages(&self) -> Vec<(PageId, Lsn)> {
        let mut v: Vec<_> = self
            .frames
            .iter()
            .filter(|(_, f)| f.dirty)
            .map(|(id, f)| (*id, f.rec_lsn))
            .collect();
        v.sort();
        v
    }

    /// Writes every dirty page and fsyncs the files.
    pub fn flush_all(&mut self) -> Result<()> {
        for (id, _) in self.dirty_pages() {
            self.write_out(id)?;
        }
        self.sync_files()
    }

    /// Fsyncs every data file.
    pub fn sync_files(&self) -> Result<()> {
        for f in self.files.values() {
            f.sync()?;
        }
        Ok(())
    }

    /// Drops a page's frame without writing it (the page was written to its file directly).
    pub fn forget(&mut self, id: PageId) {
        self.frames.remove(&id);
    }

    /// Drops every frame without writing (after a failure, or to re-read from disk).
    pub fn discard_all(&mut self) {
        self.frames.clear();
    }
}
