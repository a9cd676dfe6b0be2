//! A set as it comes off the media, in one pass: each data file's pages are written straight
//! into an image of that data file (every page at its place, checked as it arrives: its
//! CRC-32C, and that it is a page of that file), the set's log and its final header kept
//! beside. Nothing is written into the target here: the images live in a work directory
//! beside it, removed when the restore ends.
//!
//! Why images and not the set's files as they are: a full restore then links each image into
//! its new database directory (no second copy of the data, which made restores three times
//! slower than a copy of the database); the other restores (differential, log, file, page)
//! copy only the pages the set holds from the images into the files in place, by the runs of
//! page numbers recorded as they came (memory grows with the set's fragmentation, 8 bytes a
//! run, not with its size).
//!
//! The pages are checked here, as they come; the writes are handed to an [`ImageWriter`],
//! which does them on its own thread meanwhile.

use super::header::SetHeader;
use super::image_writer::ImageWriter;
use super::progress::Progress;
use super::relocate::Placement;
use super::restore::TempDir;
use super::{io_err, DbBackupError, Result};
use crate::changer::MediaChanger;
use crate::engine::file::valid_file_name;
use crate::engine::page::{self, Page, PAGE_SIZE};
use crate::family::MediaError;
use crate::restore::{Piece, ReadSpec, RestoreReport, RestoreSink};
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The set's final header is small; a larger one is not a refdb set's.
const MAX_HEADER: usize = 16 << 20;

/// Pages copied out of an image in one read.
const COPY_PAGES: usize = 32;

/// The set, received.
pub(crate) struct Incoming {
    dir: TempDir,
    images: BTreeMap<u16, Image>,
    log: Option<PathBuf>,
    header: Option<Vec<u8>>,
    /// Per family, the file being received.
    open: BTreeMap<u16, Open>,
    /// The set's file names seen so far (each may come once).
    names: Vec<String>,
    /// Why the set was refused, in the restore's words (the media layer's error says less).
    error: Option<String>,
    /// Counts each file's size as it starts (the total) and its data as it arrives (done).
    progress: Option<Progress>,
    /// Per family, its current file's size and the bytes of it delivered so far (what a
    /// discard reads again).
    delivered: BTreeMap<u16, (u64, u64)>,
    /// Sizes of discarded files, already in the total: their copies that come again add
    /// nothing more to it.
    credit: u64,
    /// Writes the checked pages into the images.
    writer: ImageWriter,
}

/// One data file's pages, at their places.
pub(crate) struct Image {
    path: Arc<PathBuf>,
    file: Arc<File>,
    /// The page numbers received, as runs (first, count), in the order they came.
    runs: Vec<(u32, u32)>,
    /// Pages received (a page sent twice counts twice, as the set's header counts them).
    pages: u64,
}

enum Open {
    Pages {
        id: u16,
        name: String,
        /// The start of a page cut between two pieces of data.
        partial: Vec<u8>,
    },
    Log(String, File),
    Header(String),
}

impl Open {
    fn name(&self) -> &str {
        match self {
            Open::Pages { name, .. } | Open::Log(name, _) | Open::Header(name) => name,
        }
    }
}

/// What a file of the set is, by its path (`refdb/F<id>.pages`, `refdb/log`,
/// `refdb/header.mqci`).
enum SetFile {
    Pages(u16),
    Log,
    Header,
}

fn set_file(path: &[String]) -> Option<SetFile> {
    match path {
        [d, n] if d == "refdb" => match n.as_str() {
            "log" => Some(SetFile::Log),
            "header.mqci" => Some(SetFile::Header),
            _ => n
                .strip_prefix('F')
                .and_then(|s| s.strip_suffix(".pages"))
                .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|s| s.parse::<u16>().ok())
                .map(SetFile::Pages),
        },
        _ => None,
    }
}

impl Incoming {
    /// Reads the set `spec` names from the media the changers give, into a work directory
    /// beside `target`. `progress` counts the set's files' sizes and their data as it comes.
    pub(crate) fn receive(
        target: &Path,
        changers: Vec<Box<dyn MediaChanger>>,
        spec: &ReadSpec,
        progress: Option<Progress>,
    ) -> Result<(Incoming, RestoreReport)> {
        let mut inc = Incoming::empty(TempDir::beside(target, "incoming")?, progress);
        // Every page handed over is written before the images are used (or removed).
        let done = crate::restore::restore(changers, spec, &mut inc)
            .and_then(|report| inc.writer.finish().map(|()| report));
        match done {
            Ok(report) => {
                inc.open.clear();
                Ok((inc, report))
            }
            Err(e) => {
                let _ = inc.writer.finish();
                Err(match inc.error.take() {
                    Some(w) => DbBackupError::Refused(w),
                    None => e.into(),
                })
            }
        }
    }

    /// Nothing received yet, into the work directory `dir`.
    fn empty(dir: TempDir, progress: Option<Progress>) -> Incoming {
        Incoming {
            dir,
            images: BTreeMap::new(),
            log: None,
            header: None,
            open: BTreeMap::new(),
            names: Vec::new(),
            error: None,
            progress,
            delivered: BTreeMap::new(),
            credit: 0,
            writer: ImageWriter::new(),
        }
    }

    /// The set's final header (its `refdb/header.mqci`), decoded.
    pub(crate) fn header(&self) -> Result<SetHeader> {
        let data = self.header.as_deref().ok_or_else(|| {
            DbBackupError::Refused(
                "the set is not a refdb backup, or it is incomplete (no refdb/header.mqci)".into(),
            )
        })?;
        SetHeader::from_mqci(data, "the set's header")
    }

    /// Where the set's log was put.
    pub(crate) fn log_path(&self) -> Result<&Path> {
        self.log
            .as_deref()
            .ok_or_else(|| DbBackupError::Refused("the set has no log".into()))
    }

    /// Data file `id`'s pages, if the set holds the file.
    pub(crate) fn image(&self, id: u16) -> Option<&Image> {
        self.images.get(&id)
    }

    fn refuse(&mut self, why: String) -> MediaError {
        let e = MediaError::Invalid(why.clone());
        self.error.get_or_insert(why);
        e
    }

    /// Takes in whole pages of data file `id` (`buf[range]` holds a multiple of the page
    /// size): each checked, then runs of consecutive pages handed to the writer, one write a
    /// run. The pages before a damaged one are still written (the restore fails anyway).
    fn put_pages(
        &mut self,
        id: u16,
        buf: Piece,
        range: std::ops::Range<usize>,
    ) -> crate::family::Result<()> {
        let Some(img) = self.images.get_mut(&id) else {
            return Err(MediaError::Invalid("pages of no file".into()));
        };
        // The run being gathered: its first page number, where it starts in `buf`, pages.
        let mut run: Option<(u32, usize, u32)> = None;
        let mut writes = Vec::new();
        let mut fault = None;
        for (i, b) in buf[range.clone()].chunks_exact(PAGE_SIZE).enumerate() {
            let b: &[u8; PAGE_SIZE] = b.try_into().expect("one page");
            let pid = page::image_id(b);
            let bad = if pid.file != id {
                Some(format!("holds page {pid}"))
            } else {
                page::verify_image(b, pid).err().map(|e| e.to_string())
            };
            if let Some(why) = bad {
                fault = Some(format!(
                    "the set's data file {id} (F{id}.pages) is damaged: its page {} {why}",
                    img.pages
                ));
                break;
            }
            let at = range.start + i * PAGE_SIZE;
            run = match run {
                Some((first, start, n)) if pid.page.checked_sub(n) == Some(first) => {
                    Some((first, start, n + 1))
                }
                Some(r) => {
                    writes.push(img.note_run(r));
                    Some((pid.page, at, 1))
                }
                None => Some((pid.page, at, 1)),
            };
            img.pages += 1;
        }
        if let Some(r) = run {
            writes.push(img.note_run(r));
        }
        self.writer.write(&img.file, &img.path, buf, writes)?;
        match fault {
            Some(why) => Err(self.refuse(why)),
            None => Ok(()),
        }
    }

    /// More of `family`'s current file. Pages are handed to the writer in the piece they came
    /// in.
    fn take(&mut self, family: u16, bytes: Piece) -> crate::family::Result<()> {
        if let Some(p) = &self.progress {
            p.add(bytes.len() as u64);
            self.delivered.entry(family).or_default().1 += bytes.len() as u64;
        }
        let Some(open) = self.open.get_mut(&family) else {
            return Err(MediaError::Invalid("data before a file".into()));
        };
        match open {
            Open::Log(_, f) => f.write_all(&bytes).map_err(|e| {
                MediaError::Invalid(format!("write into {}: {e}", self.dir.0.display()))
            }),
            Open::Header(_) => {
                let h = self.header.get_or_insert_with(Vec::new);
                if h.len() + bytes.len() > MAX_HEADER {
                    return Err(self.refuse(format!(
                        "the set's refdb/header.mqci is larger than {MAX_HEADER} bytes: not a refdb backup header"
                    )));
                }
                h.extend_from_slice(&bytes);
                Ok(())
            }
            Open::Pages { id, partial, .. } => {
                let id = *id;
                // A page begun in the last piece is finished first.
                let mut start = 0;
                let mut first = None;
                if !partial.is_empty() {
                    start = (PAGE_SIZE - partial.len()).min(bytes.len());
                    partial.extend_from_slice(&bytes[..start]);
                    if partial.len() == PAGE_SIZE {
                        first = Some(std::mem::take(partial));
                    }
                }
                // Then the whole pages; a page cut at the end waits for the next piece.
                let end = start + (bytes.len() - start) / PAGE_SIZE * PAGE_SIZE;
                partial.extend_from_slice(&bytes[end..]);
                if let Some(p) = first {
                    self.put_pages(id, p.into(), 0..PAGE_SIZE)?;
                }
                if end > start {
                    self.put_pages(id, bytes, start..end)?;
                }
                Ok(())
            }
        }
    }

    /// Waits for the pages handed over to be written (tests; `receive` does it).
    #[cfg(test)]
    fn finish_writes(&mut self) {
        self.writer.finish().unwrap();
    }
}

impl Image {
    /// Notes the run of `n` pages at page `first` (held from `at` in a buffer): the write that
    /// puts them there, (offset, at, length).
    fn note_run(&mut self, (first, at, n): (u32, usize, u32)) -> (u64, usize, usize) {
        match self.runs.last_mut() {
            Some((f, c))
                if u64::from(*f) + u64::from(*c) == u64::from(first) && *c <= u32::MAX - n =>
            {
                *c += n
            }
            _ => self.runs.push((first, n)),
        }
        (
            u64::from(first) * PAGE_SIZE as u64,
            at,
            n as usize * PAGE_SIZE,
        )
    }

    /// Pages received.
    pub(crate) fn pages(&self) -> u64 {
        self.pages
    }

    /// Page `no`, if the set holds it.
    pub(crate) fn read_page(&self, no: u32) -> Result<Option<Page>> {
        let held = self
            .runs
            .iter()
            .any(|&(f, c)| no >= f && u64::from(no) < u64::from(f) + u64::from(c));
        if !held {
            return Ok(None);
        }
        let mut b = vec![0u8; PAGE_SIZE];
        self.file
            .read_exact_at(&mut b, u64::from(no) * PAGE_SIZE as u64)
            .map_err(io_err("read", &self.path))?;
        Ok(Page::from_slice(&b))
    }

    /// Copies the pages the set holds into `out` (at the same places).
    fn copy_into(&self, out: &File, out_path: &Path) -> Result<()> {
        let mut buf = vec![0u8; COPY_PAGES * PAGE_SIZE];
        for &(first, count) in &self.runs {
            let mut done = 0u32;
            while done < count {
                let n = (count - done).min(COPY_PAGES as u32);
                let off = (u64::from(first) + u64::from(done)) * PAGE_SIZE as u64;
                let b = &mut buf[..n as usize * PAGE_SIZE];
                self.file
                    .read_exact_at(b, off)
                    .map_err(io_err("read", &self.path))?;
                out.write_all_at(b, off)
                    .map_err(io_err("write", out_path))?;
                done += n;
            }
        }
        Ok(())
    }
}

impl RestoreSink for Incoming {
    fn start(&mut self, family: u16, path: &[String], size: u64) -> crate::family::Result<()> {
        if let Some(p) = &self.progress {
            let again = self.credit.min(size);
            self.credit -= again;
            p.add_total(size - again);
            self.delivered.insert(family, (size, 0));
        }
        let name = path.join("/");
        let Some(kind) = set_file(path) else {
            return Err(self.refuse(format!(
                "the set holds {name:?}, which is not part of a refdb backup"
            )));
        };
        if self.names.contains(&name) {
            return Err(self.refuse(format!("the set holds {name} twice")));
        }
        let create = |p: &Path| {
            OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(p)
                .map_err(|e| MediaError::Invalid(format!("create {}: {e}", p.display())))
        };
        let open = match kind {
            SetFile::Pages(id) => {
                let path = self.dir.0.join(format!("F{id}.image"));
                let file = create(&path)?;
                self.images.insert(
                    id,
                    Image {
                        path: Arc::new(path),
                        file: Arc::new(file),
                        runs: Vec::new(),
                        pages: 0,
                    },
                );
                Open::Pages {
                    id,
                    name: name.clone(),
                    partial: Vec::new(),
                }
            }
            SetFile::Log => {
                let path = self.dir.0.join("log");
                let f = create(&path)?;
                self.log = Some(path);
                Open::Log(name.clone(), f)
            }
            SetFile::Header => {
                self.header = Some(Vec::new());
                Open::Header(name.clone())
            }
        };
        self.names.push(name);
        self.open.insert(family, open);
        Ok(())
    }

    fn data(&mut self, family: u16, bytes: &[u8]) -> crate::family::Result<()> {
        // Lent bytes (a caller other than the restore's reading): copied to be kept.
        self.take(family, bytes.to_vec().into())
    }

    fn data_owned(&mut self, family: u16, bytes: Piece) -> crate::family::Result<()> {
        self.take(family, bytes)
    }

    fn end(&mut self, family: u16) -> crate::family::Result<()> {
        if let Some(Open::Pages { id, partial, .. }) = self.open.remove(&family) {
            if !partial.is_empty() {
                return Err(self.refuse(format!(
                    "the set's data file {id} (F{id}.pages) ends with a page cut short ({} bytes)",
                    partial.len()
                )));
            }
        }
        Ok(())
    }

    fn discard(&mut self, family: u16) -> crate::family::Result<()> {
        // Forgotten: the file comes again from the start (a mirror's copy), or the restore
        // fails.
        let Some(open) = self.open.remove(&family) else {
            return Ok(());
        };
        if let (Some(p), Some((size, d))) = (&self.progress, self.delivered.remove(&family)) {
            // What was read of it is done twice: the total says so. Its size is in the total
            // once already: the copy that comes again adds nothing more to it.
            p.add_total(d);
            self.credit += size;
        }
        self.names.retain(|n| n != open.name());
        match open {
            Open::Pages { id, .. } => {
                if let Some(img) = self.images.remove(&id) {
                    let _ = fs::remove_file(&*img.path);
                }
            }
            Open::Log(..) => {
                if let Some(p) = self.log.take() {
                    let _ = fs::remove_file(p);
                }
            }
            Open::Header(_) => self.header = None,
        }
        Ok(())
    }
}

/// Puts the set's pages into the data files in `into` (creating them when `create`), where
/// `placement` puts them; the boot page gets the placement's paths. Each file's page count is
/// checked against the header before anything is written. A new file inside `into` is the
/// image itself, moved there (no copy; so this is done once per set); other files get the
/// pages the set holds copied in.
pub(super) fn write_data_files(
    into: &Path,
    stage: &Incoming,
    h: &SetHeader,
    create: bool,
    placement: &Placement,
) -> Result<()> {
    for f in &h.files {
        if !valid_file_name(&f.file_name) {
            return Err(DbBackupError::Refused(format!(
                "the set names data file {:?}, which is not a plain file name",
                f.file_name
            )));
        }
        let held = stage.image(f.file_id).map_or(0, Image::pages);
        if held != f.pages_in_set {
            return Err(DbBackupError::Refused(format!(
                "the set holds {held} pages of data file {}, its header says {}",
                f.file_id, f.pages_in_set
            )));
        }
    }
    for f in &h.files {
        let Some(img) = stage.image(f.file_id) else {
            continue;
        };
        let path = placement.write_at(into, f.file_id, &f.file_name);
        let fresh = create && !placement.made_before(f.file_id);
        // The image becomes the data file: linked where no file is (as create_new: a name
        // twice in the set fails below), then its own name goes (the engine refuses a data
        // file that other names share). Its handle still reads it.
        let linked = fresh && fs::hard_link(&*img.path, &path).is_ok();
        if linked {
            fs::remove_file(&*img.path).map_err(io_err("remove", &img.path))?;
        }
        let out = if linked || !fresh {
            // Never through a symbolic or hard link planted there, never a FIFO.
            crate::engine::file::open_own(
                &path,
                OpenOptions::new().read(true).write(true),
                "open data file",
            )?
        } else {
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .map_err(io_err("create data file", &path))?
        };
        if !linked {
            img.copy_into(&out, &path)?;
        }
        if f.file_id == 1 {
            if let Some(boot) = img.read_page(0)? {
                let placed = placement.place_boot(&boot)?;
                out.write_all_at(&placed.0[..], 0)
                    .map_err(io_err("write", &path))?;
            }
        }
        out.sync_all().map_err(io_err("fsync", &path))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::page::{PageId, PageType};

    fn incoming(tmp: &Path) -> Incoming {
        Incoming::empty(TempDir::beside(&tmp.join("db"), "incoming").unwrap(), None)
    }

    fn page(file: u16, no: u32) -> Vec<u8> {
        let mut p = Page::new(PageId { file, page: no }, PageType::Leaf);
        p.body_mut()[..8].copy_from_slice(&(u64::from(no) * 31 + 7).to_le_bytes());
        p.seal();
        p.0.to_vec()
    }

    fn path(name: &str) -> Vec<String> {
        vec!["refdb".to_string(), name.to_string()]
    }

    /// Pages sent in pieces of every size (cut inside pages, several pages at once, out of
    /// order, runs and gaps) land at their places, as a model of the file built page by page
    /// says, and the runs name exactly the pages sent.
    #[test]
    fn pages_in_pieces_of_any_size_land_at_their_places() {
        let tmp = tempfile::tempdir().unwrap();
        let mut rng = fastrand::Rng::with_seed(15);
        for round in 0..20 {
            let mut inc = incoming(tmp.path());
            let order: Vec<u32> = match round % 3 {
                0 => (0..40).collect(),
                1 => (0..40)
                    .map(|i| if i < 20 { i * 2 } else { 100 + i })
                    .collect(),
                _ => {
                    let mut v: Vec<u32> = (0..40).collect();
                    rng.shuffle(&mut v);
                    v
                }
            };
            let stream: Vec<u8> = order.iter().flat_map(|&n| page(3, n)).collect();
            inc.start(1, &path("F3.pages"), stream.len() as u64)
                .unwrap();
            let mut at = 0;
            while at < stream.len() {
                let n = rng.usize(1..3 * PAGE_SIZE).min(stream.len() - at);
                inc.data(1, &stream[at..at + n]).unwrap();
                at += n;
            }
            inc.end(1).unwrap();
            inc.finish_writes();
            let img = inc.image(3).unwrap();
            assert_eq!(img.pages(), order.len() as u64);
            let bytes = fs::read(&*img.path).unwrap();
            let top = *order.iter().max().unwrap() as usize;
            assert_eq!(bytes.len(), (top + 1) * PAGE_SIZE, "round {round}");
            for n in 0..=top as u32 {
                let got = &bytes[n as usize * PAGE_SIZE..][..PAGE_SIZE];
                let held = img.read_page(n).unwrap();
                if order.contains(&n) {
                    assert_eq!(got, &page(3, n)[..], "round {round} page {n}");
                    assert_eq!(held.map(|p| p.0.to_vec()), Some(page(3, n)));
                } else {
                    assert!(
                        got.iter().all(|&b| b == 0),
                        "round {round}: page {n} is a hole"
                    );
                    assert!(held.is_none(), "round {round}: page {n} was not sent");
                }
            }
        }
    }

    /// A page that fails its checksum, a page of another file, and a file that ends inside a
    /// page are refused, naming the data file.
    #[test]
    fn damaged_misplaced_and_cut_pages_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let mut bad = page(2, 5);
        bad[5000] ^= 1;
        let cases: Vec<(Vec<u8>, &str)> = vec![
            ([page(2, 4), bad].concat(), "checksum"),
            ([page(2, 4), page(3, 5)].concat(), "holds page"),
            (vec![0u8; PAGE_SIZE], "holds page"),
        ];
        for (stream, why) in cases {
            let mut inc = incoming(tmp.path());
            inc.start(1, &path("F2.pages"), stream.len() as u64)
                .unwrap();
            inc.data(1, &stream).unwrap_err();
            let e = inc.error.clone().unwrap();
            assert!(e.contains("data file 2") && e.contains(why), "{e}");
        }
        let mut inc = incoming(tmp.path());
        inc.start(1, &path("F2.pages"), 0).unwrap();
        inc.data(1, &page(2, 1)[..PAGE_SIZE - 1]).unwrap();
        inc.end(1).unwrap_err();
        assert!(inc.error.unwrap().contains("cut short"));
    }

    /// Two families' files arrive interleaved, each to its own place; a file withdrawn (its
    /// CSUM failed) is forgotten and may come again; foreign and repeated files are refused.
    #[test]
    fn families_interleave_and_a_discarded_file_comes_again() {
        let tmp = tempfile::tempdir().unwrap();
        let mut inc = incoming(tmp.path());
        inc.start(1, &path("F1.pages"), 0).unwrap();
        inc.start(2, &path("F2.pages"), 0).unwrap();
        for n in 0..6 {
            inc.data(1, &page(1, n)).unwrap();
            inc.data(2, &page(2, 10 + n)).unwrap();
        }
        inc.discard(2).unwrap();
        inc.end(1).unwrap();
        assert!(inc.image(2).is_none());
        inc.start(2, &path("F2.pages"), 0).unwrap();
        inc.data(2, &page(2, 10)).unwrap();
        inc.end(2).unwrap();
        assert_eq!(inc.image(1).unwrap().pages(), 6);
        assert_eq!(inc.image(2).unwrap().pages(), 1);
        inc.start(1, &path("log"), 3).unwrap();
        inc.data(1, b"abc").unwrap();
        inc.end(1).unwrap();
        assert_eq!(fs::read(inc.log_path().unwrap()).unwrap(), b"abc");
        inc.start(1, &path("F1.pages"), 0).unwrap_err();
        assert!(inc.error.take().unwrap().contains("twice"));
        for name in ["../F1.pages", "F1.pagesx", "F+1.pages", "F70000.pages"] {
            inc.start(1, &path(name), 0).unwrap_err();
            assert!(inc
                .error
                .take()
                .unwrap()
                .contains("not part of a refdb backup"));
        }
    }

    /// The progress counts each file's size in the total as it starts and its data as done;
    /// a file withdrawn half-way and read again from the start adds what was read twice to
    /// the total (its size only once): done reaches the total, never passing it.
    #[test]
    fn progress_reaches_the_total_across_a_discarded_file() {
        let tmp = tempfile::tempdir().unwrap();
        let mut inc = incoming(tmp.path());
        let p = Progress::new();
        inc.progress = Some(p.clone());
        let pg = PAGE_SIZE as u64;
        inc.start(1, &path("F1.pages"), 4 * pg).unwrap();
        inc.start(2, &path("F2.pages"), 3 * pg).unwrap();
        assert_eq!((p.done(), p.total()), (0, 7 * pg));
        for n in 0..2 {
            inc.data(1, &page(1, n)).unwrap();
            inc.data(2, &page(2, n)).unwrap();
        }
        inc.discard(2).unwrap();
        assert_eq!((p.done(), p.total()), (4 * pg, 9 * pg));
        inc.start(2, &path("F2.pages"), 3 * pg).unwrap();
        assert_eq!(p.total(), 9 * pg);
        for n in 0..3 {
            inc.data(2, &page(2, n)).unwrap();
        }
        inc.end(2).unwrap();
        for n in 2..4 {
            inc.data(1, &page(1, n)).unwrap();
        }
        inc.end(1).unwrap();
        inc.start(1, &path("log"), 3).unwrap();
        inc.data(1, b"abc").unwrap();
        inc.end(1).unwrap();
        assert_eq!((p.done(), p.total()), (9 * pg + 3, 9 * pg + 3));
    }
}
