//! `mtfdump`'s subcommands as library functions: each takes the media (one or more FILEs: the
//! families and continuation media of one media set, or unrelated media), options, and any
//! `impl Write`, and returns what the exit code should say.
//!
//! Every subcommand builds a report (a serde structure), then prints it as text or, with
//! `--json`, as JSON. The reports name media by file name only, so snapshots do not depend on
//! where the files are.

pub mod blocks;
pub mod extract;
pub mod history;
pub mod label;
pub mod ls;
pub mod plan;
pub mod sets;
pub mod text;
pub mod verify;

use mtf::reader::{
    list_sets, BlockRead, BlockSource, Event, FileSource, Listing, Mode, Reader, SetEntry,
    StreamSource,
};
use mtf::sqlserver::CompressedContainer;
use serde::Serialize;
use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Options every subcommand takes.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Print JSON instead of text.
    pub json: bool,
    /// Stop at the first damage instead of resyncing.
    pub strict: bool,
    /// Show a progress bar on stderr for long work (only honoured when stderr is a terminal).
    pub progress: bool,
}

impl Options {
    /// The reader mode.
    pub fn mode(&self) -> Mode {
        if self.strict {
            Mode::Strict
        } else {
            Mode::Resync
        }
    }
}

/// What a subcommand found, for the exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Everything asked for was done and nothing was wrong.
    Ok,
    /// Done, but something is wrong (damage, a failed check, an incomplete set, a refusal).
    Problems,
}

impl Outcome {
    /// Combines two outcomes.
    pub fn and(self, other: Outcome) -> Outcome {
        if self == Outcome::Ok && other == Outcome::Ok {
            Outcome::Ok
        } else {
            Outcome::Problems
        }
    }

    /// The process exit code: 0 or 1 (errors are 2).
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Ok => 0,
            Outcome::Problems => 1,
        }
    }
}

/// An error that stops a subcommand: one line for people.
#[derive(Debug)]
pub struct DumpError(pub String);

impl fmt::Display for DumpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DumpError {}

impl From<io::Error> for DumpError {
    fn from(e: io::Error) -> Self {
        DumpError(e.to_string())
    }
}

impl From<serde_json::Error> for DumpError {
    fn from(e: serde_json::Error) -> Self {
        DumpError(e.to_string())
    }
}

/// Result alias for the subcommands.
pub type DumpResult<T> = Result<T, DumpError>;

/// The name a report uses for a medium: its file name (`stdin` for `-`).
pub fn display_name(path: &Path) -> String {
    if path.as_os_str() == "-" {
        return "stdin".into();
    }
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// A tape device or image behind `mtf`'s block source trait (the `media` crate's).
pub type TapeSource = media::device::TapeSource<Box<dyn tape_sys::TapeDevice>>;

/// A medium opened for reading: a file, a tape (device or `.tap` image), or a stream (a pipe,
/// standard input as `-`) read once from start to end.
pub enum Source {
    File(FileSource),
    Tape(TapeSource),
    Stream(StreamSource<std::fs::File>),
}

impl BlockSource for Source {
    fn read_block(&mut self, buf: &mut [u8]) -> io::Result<BlockRead> {
        match self {
            Source::File(s) => s.read_block(buf),
            Source::Tape(s) => s.read_block(buf),
            Source::Stream(s) => s.read_block(buf),
        }
    }
    fn skip(&mut self, n: u64) -> io::Result<bool> {
        match self {
            Source::File(s) => s.skip(n),
            Source::Tape(s) => s.skip(n),
            Source::Stream(s) => s.skip(n),
        }
    }
    fn seek_to(&mut self, offset: u64) -> io::Result<bool> {
        match self {
            Source::File(s) => s.seek_to(offset),
            Source::Tape(s) => s.seek_to(offset),
            Source::Stream(s) => s.seek_to(offset),
        }
    }
    fn total_len(&mut self) -> Option<u64> {
        match self {
            Source::File(s) => s.total_len(),
            Source::Tape(s) => s.total_len(),
            Source::Stream(s) => s.total_len(),
        }
    }
    fn max_block_len(&self) -> usize {
        match self {
            Source::File(s) => s.max_block_len(),
            Source::Tape(s) => s.max_block_len(),
            Source::Stream(s) => s.max_block_len(),
        }
    }
    fn is_block_device(&self) -> bool {
        matches!(self, Source::Tape(_))
    }
    fn as_file(&mut self) -> Option<&mut std::fs::File> {
        match self {
            Source::File(s) => s.as_file(),
            Source::Tape(_) | Source::Stream(_) => None,
        }
    }
    fn end_of_data(&mut self) -> io::Result<bool> {
        match self {
            Source::File(s) => s.end_of_data(),
            Source::Tape(s) => s.end_of_data(),
            Source::Stream(s) => s.end_of_data(),
        }
    }
    fn space_filemarks_back(&mut self, n: u32) -> io::Result<bool> {
        match self {
            Source::File(s) => s.space_filemarks_back(n),
            Source::Tape(s) => s.space_filemarks_back(n),
            Source::Stream(s) => s.space_filemarks_back(n),
        }
    }
    fn space_filemarks_forward(&mut self, n: u32) -> io::Result<bool> {
        match self {
            Source::File(s) => s.space_filemarks_forward(n),
            Source::Tape(s) => s.space_filemarks_forward(n),
            Source::Stream(s) => s.space_filemarks_forward(n),
        }
    }
    fn rewind(&mut self) -> io::Result<bool> {
        match self {
            Source::File(s) => s.rewind(),
            Source::Tape(s) => s.rewind(),
            Source::Stream(s) => s.rewind(),
        }
    }
}

/// Whether a path names a tape: a character device, or a SIMH `.tap` image.
pub use media::device::is_tape_path as is_tape;

fn is_char_device(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(path).is_ok_and(|m| m.file_type().is_char_device())
}

/// The path to open for a medium argument: `-` is standard input.
fn real_path(path: &Path) -> &Path {
    if path.as_os_str() == "-" {
        Path::new("/dev/stdin")
    } else {
        path
    }
}

/// Whether a medium argument is a stream that can be read only once: `-` (standard input), a
/// pipe or a socket.
pub fn is_stream(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    path.as_os_str() == "-"
        || std::fs::metadata(path)
            .is_ok_and(|m| m.file_type().is_fifo() || m.file_type().is_socket())
}

/// Refuses streams for a command that reads each medium twice (once to list it, once to walk
/// a set), naming the medium.
pub fn refuse_streams(paths: &[PathBuf], command: &str) -> DumpResult<()> {
    match paths.iter().find(|p| is_stream(p)) {
        Some(p) => Err(DumpError(format!(
            "{}: {command} reads a medium twice, and a pipe or standard input can be read only \
             once: save it to a file first (label, sets and blocks read a stream)",
            display_name(p)
        ))),
        None => Ok(()),
    }
}

/// Opens a medium for reading.
pub fn open_source(path: &Path) -> DumpResult<Source> {
    let shown = if path.as_os_str() == "-" {
        "stdin".to_string()
    } else {
        path.display().to_string()
    };
    let err = |e: &dyn fmt::Display| DumpError(format!("{shown}: {e}"));
    if is_stream(path) {
        let f = std::fs::File::open(real_path(path)).map_err(|e| err(&format!("open: {e}")))?;
        return Ok(Source::Stream(StreamSource::new(f)));
    }
    if is_tape(path) {
        // Read-only, and an image cut short (a copy stopped midway) yields every block before
        // the cut, as a cut file medium does; the reader reports what is missing.
        let opts = tape_sys::EmulatedOptions::default()
            .write_protected(true)
            .recover_truncated(true);
        let tape = media::device::open_tape(path, false, true, opts).map_err(|e| {
            if is_char_device(path) {
                err(&format!(
                    "open as a tape drive: {e} (a character device that is not an st tape)"
                ))
            } else {
                err(&e)
            }
        })?;
        let device: Box<dyn tape_sys::TapeDevice> = tape.device;
        let mut device = device;
        // Every subcommand reads from the beginning of the medium.
        device.rewind().map_err(|e| {
            err(&format!(
                "rewind: {e} (a character device that is not an st tape drive?)"
            ))
        })?;
        return Ok(Source::Tape(TapeSource { device }));
    }
    let f = std::fs::File::open(path).map_err(|e| err(&format!("open: {e}")))?;
    if f.metadata().map(|m| m.is_dir()).unwrap_or(false) {
        return Err(DumpError(format!("{}: is a directory", path.display())));
    }
    Ok(Source::File(FileSource::new(f)))
}

/// Whether a file is SQL Server's compressed container; if so, what its header holds.
pub fn compressed_container(path: &Path) -> DumpResult<Option<CompressedContainer>> {
    if is_tape(path) || is_stream(path) {
        return Ok(None);
    }
    let mut f = std::fs::File::open(path)
        .map_err(|e| DumpError(format!("{}: open: {e}", path.display())))?;
    CompressedContainer::read(&mut f)
        .map_err(|e| DumpError(format!("{}: read: {e}", path.display())))
}

/// A medium that was listed.
pub struct Medium {
    pub path: PathBuf,
    pub name: String,
    pub listing: Listing,
}

/// Lists every medium (catalog or scan). A medium that is not MTF is an error naming it; the
/// compressed container says plainly that its payload is not decoded.
pub fn list_media(paths: &[PathBuf], opts: &Options) -> DumpResult<Vec<Medium>> {
    let mut out = Vec::new();
    for p in paths {
        if compressed_container(p)?.is_some() {
            return Err(DumpError(format!(
                "{}: SQL Server compressed backup (MSSQLBAK): the payload is compressed and not \
                 decoded; `mtfdump label` shows what its header holds",
                display_name(p)
            )));
        }
        let src = open_source(p)?;
        let listing = list_sets(Reader::with_mode(src, opts.mode()))
            .map_err(|e| DumpError(format!("{}: {e}", display_name(p))))?;
        out.push(Medium {
            path: p.clone(),
            name: display_name(p),
            listing,
        });
    }
    Ok(out)
}

/// Walks one set of one medium: calls `f` with every event from the set's SSET to the filemark
/// that closes it (or the next set, an EOTM, or the end). Seeks to the SSET when the source can,
/// else reads from the start. `f` may read the data of a stream event through the reader;
/// returning `false` stops the walk. To walk several sets of a medium that cannot seek, use one
/// [`SetWalker`]: it reads the medium once for sets walked in order.
pub fn walk_set<F>(
    path: &Path,
    listing: &Listing,
    set: &SetEntry,
    opts: &Options,
    f: F,
) -> DumpResult<()>
where
    F: FnMut(&mut Reader<Source>, Event) -> DumpResult<bool>,
{
    SetWalker::default().walk(path, listing, set, opts, f)
}

/// Walks sets one after another (see [`walk_set`]). A medium that cannot seek (a tape, a `.tap`
/// image) is read from its start; the walker keeps that reader after a walk, so that the next
/// set of the same medium, further on, continues from there instead of reading the medium from
/// its start again. Walking a medium's sets in their order then reads it once, whatever the
/// number of sets (a hostile image can hold hundreds).
#[derive(Default)]
pub struct SetWalker {
    kept: Option<Kept>,
    opened: usize,
}

/// A reader kept between walks of a medium that cannot seek.
struct Kept {
    path: PathBuf,
    reader: Reader<Source>,
    /// The block that ended the last walk without belonging to it (the next set's SSET).
    held: Option<Event>,
    /// The offset of the last block taken from the reader (when none is held: the reader has
    /// passed it).
    passed: Option<u64>,
}

impl SetWalker {
    /// How many times a walk opened a medium (and read it from its start, when it cannot
    /// seek).
    pub fn opened(&self) -> usize {
        self.opened
    }

    /// Walks one set, as [`walk_set`] does.
    pub fn walk<F>(
        &mut self,
        path: &Path,
        listing: &Listing,
        set: &SetEntry,
        opts: &Options,
        mut f: F,
    ) -> DumpResult<()>
    where
        F: FnMut(&mut Reader<Source>, Event) -> DumpResult<bool>,
    {
        use mtf::BlockType;
        let target = set.offset();
        // The kept reader serves if it has not passed the set's SSET yet: blocks come in
        // increasing offset order.
        let serves = |k: &Kept| {
            k.path == path
                && match &k.held {
                    Some(Event::Block { offset, .. }) => *offset <= target,
                    Some(_) => false,
                    None => k.passed.is_none_or(|p| p < target),
                }
        };
        let (mut r, mut held, mut passed, seeked) = match self.kept.take().filter(serves) {
            Some(k) => (k.reader, k.held, k.passed, false),
            None => {
                let src = open_source(path)?;
                self.opened += 1;
                let mut r = Reader::with_mode(src, opts.mode());
                let seeked = r.can_seek()
                    && r.seek_to_block(target, listing.header.params)
                        .map_err(mtf_err)?;
                if !seeked {
                    r.set_read_ahead(mtf::reader::core::DEFAULT_BUFFER);
                }
                (r, None, None, seeked)
            }
        };
        let mut inside = seeked;
        let mut eset_seen = false;
        let mut next_held = None;
        loop {
            let ev = match held.take() {
                Some(ev) => ev,
                None => match r.next_event().map_err(mtf_err)? {
                    Some(ev) => ev,
                    None => break,
                },
            };
            if let Event::Block { offset, .. } = &ev {
                passed = Some(*offset);
            }
            if !inside {
                match &ev {
                    Event::Block { offset, .. } if *offset == target => inside = true,
                    // Past the place of the set's SSET without meeting it: the reader does
                    // not find the set where the listing placed it. Reading on to the end
                    // would find nothing either (and would, set after set, read the medium
                    // once per set).
                    Event::Block { offset, .. } if *offset > target => {
                        next_held = Some(ev);
                        break;
                    }
                    _ => continue,
                }
            }
            match &ev {
                Event::Block { offset, dblk } => {
                    let t = dblk.block_type();
                    if t == BlockType::SSET && *offset != target {
                        next_held = Some(ev);
                        break;
                    }
                    if t == BlockType::ESET {
                        eset_seen = true;
                    }
                    let closing = (t == BlockType::SFMB && eset_seen) || t == BlockType::EOTM;
                    let go_on = f(&mut r, ev)?;
                    if closing || !go_on {
                        break;
                    }
                }
                Event::Filemark { .. } => {
                    let go_on = f(&mut r, ev)?;
                    if eset_seen || !go_on {
                        break;
                    }
                }
                _ => {
                    if !f(&mut r, ev)? {
                        break;
                    }
                }
            }
        }
        if !seeked {
            self.kept = Some(Kept {
                path: path.to_path_buf(),
                reader: r,
                held: next_held,
                passed,
            });
        }
        Ok(())
    }
}

/// An `mtf` error as a dump error.
pub fn mtf_err(e: mtf::Error) -> DumpError {
    DumpError(e.to_string())
}

/// Writes a report as pretty JSON with a final newline.
pub fn write_json<T: Serialize>(out: &mut dyn Write, v: &T) -> DumpResult<()> {
    serde_json::to_writer_pretty(&mut *out, v)?;
    writeln!(out)?;
    Ok(())
}
