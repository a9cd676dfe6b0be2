//! Extraction: restoring a data set's file trees (directories, files, modification times), or a
//! SQL Server set's raw database streams, into a target directory, from the reader's events.
//!
//! [`Extractor`] is driven by whoever reads the media (file, pipe or tape): it is told where
//! each medium's part of the set begins ([`Extractor::begin_part`]) and is handed every
//! [`Event`] of the set ([`Extractor::event`], or one method per event kind). It returns an
//! [`ExtractReport`] that says what was written and everything that is not whole.
//!
//! # Guarantees
//! - Nothing is written outside the target, and nothing through a link: every name is resolved
//!   beneath a directory handle one component at a time, never following a symlink
//!   ([`target`]).
//! - No existing file is opened for writing: files are created exclusively. An existing entry
//!   at an output name is a refusal, unless [`ExtractOptions::replace`] is set; then the new
//!   file is written beside it and renamed over it once whole, and a file that is not whole
//!   never replaces anything.
//! - Every name from the medium, including names derived from block types and stream ids, goes
//!   through one sanitiser ([`check_component`]).
//! - Data is appended only to a file this run created from the same entry on the previous
//!   medium of the same family.
//! - A file whose CSUM does not match, whose data is damaged, whose sparse pieces lie beyond
//!   its declared size, or that continues on a medium not given, is named in
//!   [`ExtractReport::damaged_files`] and set aside (`name.corrupt`) or removed, as
//!   [`ExtractOptions::damaged`] says; [`ExtractReport::is_whole`] is then false.
//! - The work per entry is proportional to that entry: directory handles are kept on a stack,
//!   patterns match in linear time, and the report is appended to, never searched.

pub mod copy;
mod names;
pub mod pattern;
pub mod target;

pub use names::{check_component, derived_name, volume_dir};
pub use pattern::Patterns;

use crate::block::{Body, Dblk};
use crate::checksum::FastXor32;
use crate::reader::{BlockSource, Damage, DamageInfo, Event, Reader};
use crate::spec::{
    BlockAttributes, DirectoryAttributes, FileAttributes, StreamId, StreamMediaAttributes,
    StringType,
};
use crate::stream::StreamHeader;
use crate::text::{decode_str, split_dir_path};
use crate::MtfDateTime;
use copy::CopyJob;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;
use target::{DirFd, Target};

/// Streams at least this long, from a medium that is a plain file, are copied by two workers
/// in the kernel after the walk; shorter ones as the walk meets them.
pub const PARALLEL_MIN: u64 = 1 << 20;

/// What happens to a file whose data is known not to be whole.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum DamagedFiles {
    /// Kept under the name with `.corrupt` added (never over an existing entry).
    #[default]
    KeepAside,
    /// Not kept: the file this run created is removed.
    Remove,
}

/// How to extract.
#[derive(Clone, Debug)]
pub struct ExtractOptions {
    /// Which entries (empty: all).
    pub patterns: Patterns,
    /// Replace existing files (new file beside, renamed into place once whole) instead of
    /// refusing them. Directories are never replaced.
    pub replace: bool,
    /// What to do with a file that is not whole.
    pub damaged: DamagedFiles,
    /// Copy large stream data with two workers after the walk (off: as the walk meets it).
    pub parallel_copy: bool,
}

impl Default for ExtractOptions {
    fn default() -> Self {
        ExtractOptions {
            patterns: Patterns::new::<&str>(&[]).expect("no patterns"),
            replace: false,
            damaged: DamagedFiles::KeepAside,
            parallel_copy: true,
        }
    }
}

/// A name that was not extracted, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Refusal {
    /// The entry's path as the medium gives it (volume directory first).
    pub name: String,
    /// Why it was refused.
    pub reason: String,
    /// Offset of the block or stream that named it.
    pub offset: u64,
}

/// A file written.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Written {
    /// Its path in the target.
    pub path: String,
    /// Bytes written (all parts of a file continued over media).
    pub bytes: u64,
}

/// A file that was written but is not whole.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct DamagedFile {
    /// Its path in the target.
    pub path: String,
    /// What is wrong with it.
    pub reason: String,
    /// Where it was kept (`….corrupt`), or `None` when it was removed.
    pub kept_as: Option<String>,
}

/// What an extraction did.
#[derive(Debug, Default, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ExtractReport {
    /// Directories created or entered (volume directory first).
    pub directories: Vec<String>,
    /// Files written.
    pub files: Vec<Written>,
    /// Entries not extracted, with the reason.
    pub refused: Vec<Refusal>,
    /// Files written that are not whole.
    pub damaged_files: Vec<DamagedFile>,
    /// Streams not restored (security, alternate data, compressed ...), by id: count. The
    /// streams of directories are counted apart, as `"<id> (on directories)"`.
    pub streams_not_restored: BTreeMap<String, u64>,
    /// Damage the reader stepped over.
    pub damage: Vec<DamageInfo>,
    /// Why the set is not whole on the media given (missing families or media, media given
    /// twice), as the caller found them.
    pub problems: Vec<String>,
    /// Errors on the target (each names the file and the operation).
    pub errors: Vec<String>,
}

impl ExtractReport {
    /// Whether everything asked for was written whole: nothing refused, damaged, missing or
    /// failed.
    pub fn is_whole(&self) -> bool {
        self.refused.is_empty()
            && self.damaged_files.is_empty()
            && self.damage.is_empty()
            && self.problems.is_empty()
            && self.errors.is_empty()
    }
}

/// One medium's part of the set, as the caller walks it.
#[derive(Clone, Debug)]
pub struct Part {
    /// The family (1 when the set is not striped).
    pub family: u16,
    /// The medium's media sequence number in its family (TAPE block).
    pub sequence: u16,
    /// The set is a SQL Server set: its database streams are written raw.
    pub sql_server: bool,
    /// The medium as a plain file, with its length, when it is one: large stream data is then
    /// copied from it by the workers.
    pub source: Option<(Arc<File>, u64)>,
}

/// Which kind of descriptor block the streams being read belong to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StreamOwner {
    /// A FILE: its streams are the file's data, or are reported as not restored.
    File,
    /// A DIRB: its streams (NACL, NTQU, NTOI ...) are reported as not restored.
    Dirb,
    /// Any other block (TAPE, SSET, VOLB, ESET ...): its streams are not the user's data.
    Other,
}

/// A file being restored.
struct OpenFile {
    /// The output, once created. A file is created when its first data arrives (under a
    /// temporary name), or, when it has none, as its entry ends (directly under its real
    /// name: a file with no data has no half state, and the exclusive create refuses any
    /// existing entry exactly as the rename would).
    file: Option<Created>,
    dir: DirFd,
    /// Directory components in the target (volume directory first).
    dir_rel: Vec<String>,
    name: String,
    /// Its path in the target, for the report.
    shown: String,
    /// The FILE block (or stream) that named it, for a refusal.
    offset: u64,
    date: MtfDateTime,
    family: u16,
    sequence: u16,
    /// Its data stream was cut by the end of the medium: it goes on on the next one.
    cut: bool,
    xor: FastXor32,
    /// Some data was planned for the copy workers: the CSUM is checked by reading it back.
    has_jobs: bool,
    /// The CSUM stream's value.
    expected: Option<u32>,
    /// Its declared size, when its data came in sparse pieces (a hole at the end counts).
    sparse_size: Option<u64>,
    /// Why it is not whole.
    damaged: Option<String>,
}

/// An output file created in the target.
struct Created {
    file: File,
    /// Its temporary name while it is written (renamed to the real name once whole); `None`
    /// when it was created under its real name.
    tmp: Option<String>,
    /// Its entry in the report's files.
    index: usize,
    /// Where the next data goes: writes are positioned (`pwrite`), so the position and the
    /// length are known here without asking the kernel.
    pos: u64,
    /// The end of what is written so far: the file's length.
    len: u64,
}

/// A file whose data the copy workers write; checked and dated after them.
struct Deferred {
    f: OpenFile,
    /// Why it is not whole, known before the copy.
    reason: Option<String>,
}

/// A FILE block whose name is in an FNAM stream.
#[derive(Clone, Copy)]
struct PendingFile {
    offset: u64,
    date: MtfDateTime,
    continuation: bool,
}

/// Writes into the restored file and the CSUM accumulator; a failed write is recorded (with the
/// error) instead of stopping the reader in the middle of a stream.
struct Sink<'a> {
    f: &'a mut OpenFile,
    failed: Option<io::Error>,
}

impl Write for Sink<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.f.xor.update(buf);
        if self.failed.is_none() && self.f.damaged.is_none() && !buf.is_empty() {
            // The output is created before a stream with data is copied.
            let Some(c) = self.f.file.as_mut() else {
                self.failed = Some(io::Error::other("the output was not created"));
                return Ok(buf.len());
            };
            match c.file.write_all_at(buf, c.pos) {
                Ok(()) => {
                    c.pos += buf.len() as u64;
                    c.len = c.len.max(c.pos);
                }
                Err(e) => self.failed = Some(e),
            }
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Restores one data set into a target directory, from the reader's events.
pub struct Extractor {
    target: Target,
    opts: ExtractOptions,
    rep: ExtractReport,
    part: Option<Part>,
    st: StringType,
    vol: String,
    volumes: usize,
    /// The current directory's components (within the volume); `None` when it was refused.
    cur_dir: Option<Vec<String>>,
    out: Option<OpenFile>,
    /// A file cut at the end of the previous medium, waiting for its continuation.
    carried: Option<OpenFile>,
    pending: Option<PendingFile>,
    block_label: String,
    /// The descriptor block whose streams come now: a FILE, a DIRB, or neither.
    owner: StreamOwner,
    file_size: u64,
    last_job: Option<usize>,
    sql_index: usize,
    jobs: Vec<CopyJob>,
    /// The file each job writes (index into `deferred`).
    job_file: Vec<usize>,
    deferred: Vec<Deferred>,
    dir_dates: Vec<(Vec<String>, MtfDateTime)>,
}

fn name_of(raw: &[u8], st: StringType) -> String {
    let mut s = decode_str(raw, st);
    s.truncate(s.trim_end_matches('\0').len());
    s
}

fn unix_secs(d: MtfDateTime) -> Option<i64> {
    // MTF dates carry no time zone; they are applied as UTC.
    d.to_datetime().map(|dt| dt.to_unix())
}

impl Extractor {
    /// Opens (creating it if needed) the target directory.
    pub fn new(target: &Path, opts: ExtractOptions) -> io::Result<Extractor> {
        Ok(Extractor {
            target: Target::open(target)?,
            opts,
            rep: ExtractReport::default(),
            part: None,
            st: StringType::NONE,
            vol: "volume0".into(),
            volumes: 0,
            cur_dir: Some(Vec::new()),
            out: None,
            carried: None,
            pending: None,
            block_label: String::new(),
            owner: StreamOwner::Other,
            file_size: 0,
            last_job: None,
            sql_index: 0,
            jobs: Vec::new(),
            job_file: Vec::new(),
            deferred: Vec::new(),
            dir_dates: Vec::new(),
        })
    }

    /// Records why the set is not whole on the media given (the caller's check of families and
    /// media sequence numbers, e.g. `media::set::group::MergedSet::problems`).
    pub fn problem(&mut self, p: String) {
        self.rep.problems.push(p);
    }

    /// The next medium's part of the set begins. A file cut at the end of the previous part
    /// goes on only if this is the next medium of the same family.
    pub fn begin_part(&mut self, part: Part) {
        self.close_out();
        if let Some(c) = &self.carried {
            if c.family != part.family || c.sequence.checked_add(1) != Some(part.sequence) {
                let reason = format!(
                    "continues on medium {} of family {}, which was not given next",
                    c.sequence as u32 + 1,
                    c.family
                );
                let c = self.carried.take().expect("carried");
                self.finalize(c, Some(reason));
            }
        }
        self.part = Some(part);
        self.st = StringType::NONE;
        self.vol = "volume0".into();
        self.cur_dir = Some(Vec::new());
        self.pending = None;
        self.owner = StreamOwner::Other;
        self.last_job = None;
    }

    /// The current part ends.
    pub fn end_part(&mut self) {
        self.close_out();
        self.last_job = None;
    }

    /// Hands one reader event to the method for its kind. Stream data is read through `r`.
    pub fn event<S: BlockSource>(&mut self, r: &mut Reader<S>, ev: Event) -> crate::Result<()> {
        match ev {
            Event::Block { offset, dblk } => self.block(offset, &dblk),
            Event::Stream { offset, header } => self.stream(r, offset, &header)?,
            Event::Damage(d) => self.damage(&d),
            Event::Filemark { .. } => self.filemark(),
            Event::StreamCut { offset, .. } => self.stream_cut(offset),
        }
        Ok(())
    }

    /// Damage the reader stepped over: reported; a file being written is not whole.
    pub fn damage(&mut self, d: &Damage) {
        self.rep.damage.push(DamageInfo::from(d));
        if let Some(o) = self.out.as_mut() {
            o.damaged
                .get_or_insert_with(|| format!("damaged medium at offset {} inside it", d.offset));
        }
    }

    /// A hardware filemark: the file being written is closed.
    pub fn filemark(&mut self) {
        self.last_job = None;
        self.close_out();
    }

    /// The current stream's data is cut by the end of the medium at `offset`: the file stays
    /// as written so far and waits for its continuation on the next medium; a planned copy
    /// stops at the cut.
    pub fn stream_cut(&mut self, offset: u64) {
        if let Some(i) = self.last_job.take() {
            let job = &mut self.jobs[i];
            let kept = job.len.min(offset.saturating_sub(job.src_offset));
            if let Some(c) = self.out.as_mut().and_then(|o| o.file.as_mut()) {
                self.rep.files[c.index].bytes -= job.len - kept;
                c.pos = job.dest_offset + kept;
            }
            job.len = kept;
        }
        if let Some(o) = self.out.as_mut() {
            o.cut = true;
        }
    }

    /// A descriptor block.
    pub fn block(&mut self, offset: u64, dblk: &Dblk) {
        self.last_job = None;
        // A CFIL right after a file says its data is not what the file held (it could not be
        // read, or changed length, while it was backed up).
        if let (Body::Cfil(c), Some(o)) = (&dblk.body, self.out.as_mut()) {
            o.damaged.get_or_insert(format!(
                "marked corrupt on the medium (CFIL at offset {offset}): its data from byte {} \
                 is not the file's",
                c.stream_offset
            ));
        }
        self.close_out();
        self.pending = None;
        self.owner = match dblk.body {
            Body::File(_) => StreamOwner::File,
            Body::Dirb(_) => StreamOwner::Dirb,
            _ => StreamOwner::Other,
        };
        self.st = dblk.header.string_type;
        self.block_label = dblk.block_type().to_string();
        let st = self.st;
        let cont = dblk
            .header
            .attributes
            .contains(BlockAttributes::CONTINUATION);
        match &dblk.body {
            Body::Volb(v) => {
                // A continuation medium repeats the volume: same directory.
                if !cont {
                    self.volumes += 1;
                }
                self.vol = volume_dir(&v.device_name.display(st), self.volumes);
                self.cur_dir = Some(Vec::new());
            }
            Body::Dirb(d) => {
                let comps = d.components(st);
                let in_stream = d.attributes.contains(DirectoryAttributes::PATH_IN_STREAM);
                self.enter_dir(comps, offset, d.dates.last_modification, !in_stream, cont);
            }
            Body::File(f) => {
                self.file_size = dblk.header.displayable_size;
                let p = PendingFile {
                    offset,
                    date: f.dates.last_modification,
                    continuation: cont,
                };
                if self.cur_dir.is_none() {
                    self.rep.refused.push(Refusal {
                        name: f.file_name.display(st),
                        reason: "its directory was refused".into(),
                        offset,
                    });
                } else if f.attributes.contains(FileAttributes::NAME_IN_STREAM) {
                    self.pending = Some(p);
                } else {
                    self.open_file(&f.file_name.display(st), p);
                }
            }
            _ => {}
        }
    }

    /// Makes the current directory `comps` (within the volume) after checking every component;
    /// creates it now when `make` (with patterns, directories are made as matching files need
    /// them).
    fn enter_dir(
        &mut self,
        comps: Vec<String>,
        offset: u64,
        date: MtfDateTime,
        make: bool,
        continuation: bool,
    ) {
        if let Err(reason) = comps.iter().try_for_each(|c| check_component(c)) {
            self.rep.refused.push(Refusal {
                name: format!("{}/{}", self.vol, comps.join("/")),
                reason,
                offset,
            });
            self.cur_dir = None;
            return;
        }
        if make && self.opts.patterns.is_empty() {
            let mut rel = vec![self.vol.clone()];
            rel.extend(comps.iter().cloned());
            match self.target.dir(&rel) {
                Ok(_) if continuation => {}
                Ok(_) => {
                    self.rep.directories.push(rel.join("/"));
                    self.dir_dates.push((rel, date));
                }
                Err(e) => {
                    self.rep.refused.push(Refusal {
                        name: rel.join("/"),
                        reason: e.to_string(),
                        offset,
                    });
                    self.cur_dir = None;
                    return;
                }
            }
        }
        self.cur_dir = Some(comps);
    }

    /// Opens the output for a FILE entry named `name` in the current directory.
    fn open_file(&mut self, name: &str, p: PendingFile) {
        let Some(dir) = self.cur_dir.clone() else {
            return;
        };
        let mut rel_path = dir.join("/");
        if !rel_path.is_empty() {
            rel_path.push('/');
        }
        rel_path.push_str(name);
        let shown = format!("{}/{rel_path}", self.vol);
        if let Err(reason) = check_component(name) {
            self.rep.refused.push(Refusal {
                name: shown,
                reason,
                offset: p.offset,
            });
            return;
        }
        if !self.opts.patterns.select(&self.vol, &rel_path) {
            return;
        }
        let mut dir_rel = vec![self.vol.clone()];
        dir_rel.extend(dir);
        let (family, sequence) = self
            .part
            .as_ref()
            .map_or((1, 1), |p| (p.family, p.sequence));
        let carried = self.carried.take();
        if p.continuation {
            match carried {
                Some(mut c)
                    if c.dir_rel == dir_rel
                        && c.name == name
                        && c.family == family
                        && c.sequence.checked_add(1) == Some(sequence) =>
                {
                    c.cut = false;
                    c.sequence = sequence;
                    self.out = Some(c);
                }
                other => {
                    if let Some(c) = other {
                        self.finalize(
                            c,
                            Some("its continuation is not on the next medium given".into()),
                        );
                    }
                    self.rep.refused.push(Refusal {
                        name: shown,
                        reason: "continues a file that this run did not begin on the previous \
                                 medium of the family: not appended"
                            .into(),
                        offset: p.offset,
                    });
                }
            }
            return;
        }
        if let Some(c) = carried {
            self.finalize(
                c,
                Some("its continuation is not on the next medium given".into()),
            );
        }
        let dir_fd = match self.target.dir(&dir_rel) {
            Ok((fd, _)) => fd,
            Err(e) => {
                self.rep.refused.push(Refusal {
                    name: shown,
                    reason: e.to_string(),
                    offset: p.offset,
                });
                return;
            }
        };
        // Created when its first data arrives, or as its entry ends.
        let f = self.start_file(dir_fd, dir_rel, name.to_string(), shown, p.offset, p.date);
        self.out = Some(f);
    }

    /// A file to restore, not created yet: what is known of it.
    fn start_file(
        &self,
        dir: DirFd,
        dir_rel: Vec<String>,
        name: String,
        shown: String,
        offset: u64,
        date: MtfDateTime,
    ) -> OpenFile {
        let (family, sequence) = self
            .part
            .as_ref()
            .map_or((1, 1), |p| (p.family, p.sequence));
        OpenFile {
            file: None,
            dir,
            dir_rel,
            name,
            shown,
            offset,
            date,
            family,
            sequence,
            cut: false,
            xor: FastXor32::new(),
            has_jobs: false,
            expected: None,
            sparse_size: None,
            damaged: None,
        }
    }

    /// Creates the output of `f` (when not created yet) and gives it its entry in the report.
    /// A file that gets data is written under a temporary name and renamed into place once
    /// whole; without `replace`, an existing entry is refused before any data is written (and
    /// again at the rename). With `final_name` (a whole file with no data) it is created
    /// directly under its real name, exclusively, which refuses an existing entry, link or
    /// special file the same way (in replace mode it too goes through a temporary name).
    /// Returns false when it was refused or failed (said in the report).
    fn create(&mut self, f: &mut OpenFile, final_name: bool) -> bool {
        if f.file.is_some() {
            return true;
        }
        let made = if final_name && !self.opts.replace {
            target::create_new(&f.dir, &f.name).map(|file| (file, None))
        } else if !self.opts.replace && target::exists(&f.dir, &f.name).unwrap_or(true) {
            Err(io::Error::from(io::ErrorKind::AlreadyExists))
        } else {
            target::create_temp(&f.dir, &f.name).map(|(file, t)| (file, Some(t)))
        };
        match made {
            Ok((file, tmp)) => {
                self.rep.files.push(Written {
                    path: f.shown.clone(),
                    bytes: 0,
                });
                f.file = Some(Created {
                    file,
                    tmp,
                    index: self.rep.files.len() - 1,
                    pos: 0,
                    len: 0,
                });
                true
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                self.rep.refused.push(Refusal {
                    name: f.shown.clone(),
                    reason: "exists in the target (never written over; replacing is an option)"
                        .into(),
                    offset: f.offset,
                });
                false
            }
            Err(e) => {
                self.rep.errors.push(format!("{}: create: {e}", f.shown));
                false
            }
        }
    }

    /// A stream header; its data is read (or left to be skipped) through `r`.
    pub fn stream<S: BlockSource>(
        &mut self,
        r: &mut Reader<S>,
        offset: u64,
        header: &StreamHeader,
    ) -> crate::Result<()> {
        self.last_job = None;
        let id = header.id;
        if id == StreamId::FNAM {
            if let Some(p) = self.pending.take() {
                if let Some(data) = r.read_data_to_vec(64 * 1024)? {
                    self.open_file(&name_of(&data, self.st), p);
                }
            }
            return Ok(());
        }
        if id == StreamId::PNAM {
            if let Some(data) = r.read_data_to_vec(64 * 1024)? {
                let comps = split_dir_path(&data, self.st);
                self.enter_dir(comps, offset, MtfDateTime::default(), true, false);
            }
            return Ok(());
        }
        let sql = self.part.as_ref().is_some_and(|p| p.sql_server);
        if sql && matches!(id, StreamId::MQDA | StreamId::MQTL) && header.length > 0 {
            return self.sql_stream(r, offset, id);
        }
        let coded = header
            .media_attributes
            .intersects(StreamMediaAttributes::COMPRESSED | StreamMediaAttributes::ENCRYPTED);
        let data = header.length > 0 && !coded && matches!(id, StreamId::STAN | StreamId::SPAR);
        if data && self.out.as_ref().is_some_and(|o| o.file.is_none()) {
            // The file's first data: its output is created now (a refused one is dropped, and
            // its data counted as not restored, before any of it is written).
            let mut o = self.out.take().expect("a file being restored");
            if self.create(&mut o, false) {
                self.out = Some(o);
            }
        }
        let Some(o) = self.out.as_mut() else {
            let key = match self.owner {
                StreamOwner::File if id != StreamId::SPAD => Some(id.to_string()),
                // A directory's own data (security, quota, object id) is not restored either;
                // its CSUMs only check those streams.
                StreamOwner::Dirb if !matches!(id, StreamId::SPAD | StreamId::CSUM) => {
                    Some(format!("{id} (on directories)"))
                }
                _ => None,
            };
            if let Some(key) = key.filter(|_| header.length > 0) {
                *self.rep.streams_not_restored.entry(key).or_default() += 1;
            }
            return Ok(());
        };
        if id == StreamId::CSUM {
            if let Some(d) = r.read_data_to_vec(64)? {
                match <[u8; 4]>::try_from(&d[..]) {
                    Ok(v) => o.expected = Some(u32::from_le_bytes(v)),
                    Err(_) => {
                        o.damaged.get_or_insert(format!(
                            "its CSUM at offset {offset} holds {} bytes, not 4",
                            d.len()
                        ));
                    }
                }
            }
            return Ok(());
        }
        let plain = id == StreamId::STAN && !coded;
        let data_at = offset + crate::spec::STREAM_HDR_LEN as u64;
        let to_workers = self
            .part
            .as_ref()
            .and_then(|p| p.source.clone())
            .filter(|_| {
                plain
                    && header.length >= PARALLEL_MIN
                    && self.opts.parallel_copy
                    && !self.opts.replace
            });
        // A stream with data has its output created (above).
        if let (Some((src, src_len)), Some(c)) = (to_workers, o.file.as_mut()) {
            // Planned now, copied by the workers after the walk; the walk seeks on. Only what
            // the medium holds (a cut-short medium reports the damage).
            let len = header.length.min(src_len.saturating_sub(data_at));
            match c.file.try_clone() {
                Ok(dest) => {
                    let dest_offset = c.pos;
                    c.pos += len;
                    self.jobs.push(CopyJob {
                        src,
                        src_offset: data_at,
                        len,
                        dest: Arc::new(dest),
                        dest_offset,
                        path: o.shown.clone(),
                    });
                    self.job_file.push(usize::MAX);
                    self.last_job = Some(self.jobs.len() - 1);
                    o.has_jobs = true;
                    self.rep.files[c.index].bytes += len;
                }
                Err(e) => {
                    o.damaged
                        .get_or_insert(format!("{}: duplicate handle: {e}", o.shown));
                }
            }
            r.skip_data()?;
        } else if plain {
            let mut sink = Sink { f: o, failed: None };
            let n = r.copy_data(&mut sink)?;
            if let Some(e) = sink.failed {
                let msg = format!("{}: write: {e}", o.shown);
                o.damaged.get_or_insert(msg.clone());
                self.rep.errors.push(msg);
            }
            if let Some(c) = &o.file {
                self.rep.files[c.index].bytes += n;
            }
        } else if id == StreamId::SPAR && !coded {
            self.sparse(r, offset)?;
        } else if id != StreamId::SPAD && header.length > 0 {
            let key = if coded {
                format!("{id} (compressed or encrypted, not decoded)")
            } else {
                id.to_string()
            };
            *self.rep.streams_not_restored.entry(key).or_default() += 1;
        }
        Ok(())
    }

    /// A sparse piece (SPAR): an 8-byte offset, then the piece's bytes. A piece beyond the
    /// file's declared size is damage, never written.
    fn sparse<S: BlockSource>(&mut self, r: &mut Reader<S>, offset: u64) -> crate::Result<()> {
        let size = self.file_size;
        let Some(o) = self.out.as_mut() else {
            return Ok(());
        };
        o.sparse_size = Some(size);
        let mut head = Vec::with_capacity(8);
        let mut at = 0u64;
        while let Some(chunk) = r.read_data()? {
            o.xor.update(chunk);
            let mut c = chunk;
            if head.len() < 8 {
                let k = (8 - head.len()).min(c.len());
                head.extend_from_slice(&c[..k]);
                c = &c[k..];
                if head.len() == 8 {
                    at = u64::from_le_bytes(head[..8].try_into().expect("8 bytes"));
                }
            }
            if c.is_empty() || o.damaged.is_some() {
                continue;
            }
            let end = at.checked_add(c.len() as u64);
            if end.is_none_or(|e| e > size) {
                o.damaged = Some(format!(
                    "its sparse piece (SPAR at offset {offset}) lies at {at}, beyond the file's \
                     declared size {size}"
                ));
                continue;
            }
            // Created before a SPAR stream with data is read.
            let Some(cr) = o.file.as_mut() else {
                continue;
            };
            if let Err(e) = cr.file.write_all_at(c, at) {
                let msg = format!("{}: write: {e}", o.shown);
                o.damaged = Some(msg.clone());
                self.rep.errors.push(msg);
                continue;
            }
            at += c.len() as u64;
            cr.len = cr.len.max(at);
            let w = &mut self.rep.files[cr.index].bytes;
            *w = (*w).max(at);
        }
        Ok(())
    }

    /// A SQL Server database stream, written raw to `family{N}/{nn}-{block}-{offset}.{id}`;
    /// every piece of the name goes through the sanitiser.
    fn sql_stream<S: BlockSource>(
        &mut self,
        r: &mut Reader<S>,
        offset: u64,
        id: StreamId,
    ) -> crate::Result<()> {
        self.sql_index += 1;
        let family = self.part.as_ref().map_or(1, |p| p.family);
        let rel = vec![format!("family{family}")];
        let index = format!("{:02}", self.sql_index);
        let tail = format!("{offset}.{id}");
        let label = self.block_label.clone();
        let name = match derived_name(&[&index, &label, &tail], "-") {
            Ok(n) => n,
            Err(reason) => {
                self.rep.refused.push(Refusal {
                    name: format!("{}/{index}-{label}-{tail}", rel[0]),
                    reason,
                    offset,
                });
                return Ok(());
            }
        };
        let shown = format!("{}/{name}", rel[0]);
        let dir = match self.target.dir(&rel) {
            Ok((fd, _)) => fd,
            Err(e) => {
                self.rep.refused.push(Refusal {
                    name: shown,
                    reason: e.to_string(),
                    offset,
                });
                return Ok(());
            }
        };
        let mut f = self.start_file(dir, rel, name, shown, offset, MtfDateTime::default());
        if !self.create(&mut f, false) {
            return Ok(());
        }
        let mut sink = Sink {
            f: &mut f,
            failed: None,
        };
        let n = r.copy_data(&mut sink)?;
        if let Some(e) = sink.failed {
            let msg = format!("{}: write: {e}", f.shown);
            f.damaged = Some(msg.clone());
            self.rep.errors.push(msg);
        }
        if let Some(c) = &f.file {
            self.rep.files[c.index].bytes = n;
        }
        self.finalize(f, None);
        Ok(())
    }

    /// Closes the file being written: a cut one waits for its continuation, any other is
    /// finished.
    fn close_out(&mut self) {
        let Some(o) = self.out.take() else {
            return;
        };
        if o.cut {
            if let Some(old) = self.carried.replace(o) {
                self.finalize(
                    old,
                    Some("its continuation is not on the next medium given".into()),
                );
            }
        } else {
            self.finalize(o, None);
        }
    }

    /// Finishes a file: its planned length, and, unless the workers still have to write it,
    /// its check, date and name.
    fn finalize(&mut self, mut f: OpenFile, reason: Option<String>) {
        // Data planned for the copy workers lies beyond what is written so far: the file takes
        // its planned length now. A sparse file takes its declared size.
        let mut want = f.file.as_ref().map_or(0, |c| c.pos);
        if let Some(n) = f.sparse_size {
            want = want.max(n);
        }
        // A file that is all hole has a length but no data: it is created as one with data.
        if want > 0 && !self.create(&mut f, false) {
            return;
        }
        if let Some(c) = f.file.as_mut().filter(|c| c.len < want) {
            match c.file.set_len(want) {
                Ok(()) => c.len = want,
                Err(e) => {
                    f.damaged
                        .get_or_insert(format!("{}: set length: {e}", f.shown));
                }
            }
        }
        let reason = reason.or(f.damaged.take());
        if f.has_jobs {
            let i = self.deferred.len();
            // Jobs planned since the last file went to this one.
            for j in self.job_file.iter_mut().rev() {
                if *j != usize::MAX {
                    break;
                }
                *j = i;
            }
            self.deferred.push(Deferred { f, reason });
            return;
        }
        let checked = f.expected.filter(|&e| e != f.xor.value());
        let reason = reason.or_else(|| {
            checked.map(|e| {
                format!(
                    "CSUM mismatch: stored {e:#010x}, the data gives {:#010x}",
                    f.xor.value()
                )
            })
        });
        self.settle(f, reason);
    }

    /// Dates and names a finished file, or sets it aside when it is not whole. A file with no
    /// data is created now: when whole, directly under its real name.
    fn settle(&mut self, mut f: OpenFile, reason: Option<String>) {
        if !self.create(&mut f, reason.is_none()) {
            return;
        }
        let c = f.file.take().expect("created");
        match reason {
            None => {
                if let Some(s) = unix_secs(f.date) {
                    if let Err(e) = target::set_mtime(&c.file, s) {
                        self.rep
                            .errors
                            .push(format!("{}: set modification time: {e}", f.shown));
                    }
                }
                drop(c.file);
                if let Some(tmp) = &c.tmp {
                    let renamed = if self.opts.replace {
                        target::replace(&f.dir, tmp, &f.name)
                    } else {
                        target::rename_new(&f.dir, tmp, &f.name)
                    };
                    if let Err(e) = renamed {
                        self.rep
                            .errors
                            .push(format!("{}: rename into place: {e}", f.shown));
                        let _ = target::remove(&f.dir, tmp);
                    }
                }
            }
            Some(reason) => {
                drop(c.file);
                let current = c.tmp.as_deref().unwrap_or(&f.name);
                let kept_as = match self.opts.damaged {
                    DamagedFiles::KeepAside => {
                        match target::rename_aside(&f.dir, current, &f.name, "corrupt") {
                            Ok(n) => {
                                let base = f.shown.rsplit_once('/').map_or("", |b| b.0);
                                Some(format!("{base}/{n}"))
                            }
                            Err(e) => {
                                self.rep.errors.push(format!("{}: set aside: {e}", f.shown));
                                None
                            }
                        }
                    }
                    DamagedFiles::Remove => {
                        if let Err(e) = target::remove(&f.dir, current) {
                            self.rep.errors.push(format!("{}: remove: {e}", f.shown));
                        }
                        None
                    }
                };
                self.rep.damaged_files.push(DamagedFile {
                    path: f.shown,
                    reason,
                    kept_as,
                });
            }
        }
    }

    /// Ends the extraction: copies the planned data (calling `progress` with the bytes copied
    /// so far and the total), checks the files the workers wrote, dates the directories, and
    /// returns the report.
    pub fn finish(mut self, progress: &mut dyn FnMut(u64, u64)) -> ExtractReport {
        self.close_out();
        if let Some(c) = self.carried.take() {
            let reason = format!(
                "continues on medium {} of family {}, which was not given",
                c.sequence as u32 + 1,
                c.family
            );
            self.finalize(c, Some(reason));
        }
        let total: u64 = self.jobs.iter().map(|j| j.len).sum();
        if !self.jobs.is_empty() {
            let failed = copy::run(&self.jobs, &mut |n| progress(n, total));
            for (i, msg) in failed {
                self.rep.errors.push(msg.clone());
                if let Some(d) = self.deferred.get_mut(self.job_file[i]) {
                    d.reason.get_or_insert(msg);
                }
            }
        }
        self.jobs.clear();
        progress(total, total);
        for d in std::mem::take(&mut self.deferred) {
            let mut reason = d.reason;
            // A file with work for the copy workers was created at its first data.
            if let (None, Some(e), Some(c)) = (&reason, d.f.expected, &d.f.file) {
                reason = match read_back_xor(&c.file) {
                    Ok(v) if v == e => None,
                    Ok(v) => Some(format!(
                        "CSUM mismatch: stored {e:#010x}, the data gives {v:#010x}"
                    )),
                    Err(err) => Some(format!("{}: read back: {err}", d.f.shown)),
                };
            }
            self.settle(d.f, reason);
        }
        // A pattern that selected nothing is a typo or a medium name mistyped: never success.
        let unmatched: Vec<String> = self
            .opts
            .patterns
            .unmatched()
            .map(|p| format!("pattern {p:?} selected no file of this set"))
            .collect();
        self.rep.problems.extend(unmatched);
        // Date directories deepest first, after their contents.
        let mut dates = std::mem::take(&mut self.dir_dates);
        dates.sort_by_key(|d| std::cmp::Reverse(d.0.len()));
        for (rel, date) in dates {
            let Some(secs) = unix_secs(date) else {
                continue;
            };
            match self.target.dir(&rel) {
                Ok((fd, _)) => {
                    if let Err(e) = target::set_mtime(&*fd, secs) {
                        self.rep
                            .errors
                            .push(format!("{}: set modification time: {e}", rel.join("/")));
                    }
                }
                Err(e) => self.rep.errors.push(e.to_string()),
            }
        }
        self.rep
    }
}

/// The CSUM value of a whole restored file, read back from it.
fn read_back_xor(f: &File) -> io::Result<u32> {
    let mut x = FastXor32::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut at = 0u64;
    loop {
        let n = f.read_at(&mut buf, at)?;
        if n == 0 {
            return Ok(x.value());
        }
        x.update(&buf[..n]);
        at += n as u64;
    }
}
