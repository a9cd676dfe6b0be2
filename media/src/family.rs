//! One family's writer: `mtf::writer::Writer` on the family's device, every medium judged by
//! the safety decision before a byte is written, continuation media asked of a changer.
//!
//! At early warning the writer closes the medium by the MTF end-of-media procedure and asks
//! for the next one; [`ChangerSupplier`] asks the family's [`MediaChanger`] for medium
//! `sequence` of the family, inspects what is mounted, and takes it only if the decision allows
//! a continuation there (empty, or nothing of this media set, nothing unexpired, no password).
//! A refused medium is handed back untouched and the changer asked again.

use crate::changer::{MediaChanger, MediumRequest, Mounted, Purpose};
use crate::decision::{decide, Action, Decision, Operation, Request};
use crate::device::{tape_io, Device, TapeSink, TapeSource};
use crate::set::stamp::{ExpirySlot, StampSink};
use crate::set::{inspect, MediaPassword, MediaSet};
use mtf::block::Body;
use mtf::reader::{Mode, Reader};
use mtf::writer::{
    AppendPoint, BlockSink, EntryMeta, FileOutcome, MediaSupplier, MediumOptions, SetOptions,
    SetSummary, VolumeOptions, WriteStatus, Writer,
};
use std::io::{self, Read};
use tape_sys::{BlockSize, ReadResult, Space};

/// Most media a changer may offer for one request before the write gives up.
pub const MAX_OFFERS: usize = 64;

/// What went wrong writing or reading a media set.
#[derive(Debug)]
pub enum MediaError {
    /// The safety decision refused a medium.
    Refused {
        medium: String,
        decision: Decision,
    },
    /// The format layer.
    Mtf(mtf::Error),
    Io(io::Error),
    /// A misuse or an impossible request.
    Invalid(String),
}

impl std::fmt::Display for MediaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MediaError::Refused { medium, decision } => {
                write!(f, "{medium}: refused:")?;
                for r in &decision.reasons {
                    write!(f, "\n  {r}")?;
                }
                Ok(())
            }
            MediaError::Mtf(e) => write!(f, "{e}"),
            MediaError::Io(e) => write!(f, "{e}"),
            MediaError::Invalid(s) => f.write_str(s),
        }
    }
}

impl std::error::Error for MediaError {}

impl From<mtf::Error> for MediaError {
    fn from(e: mtf::Error) -> Self {
        MediaError::Mtf(e)
    }
}

impl From<io::Error> for MediaError {
    fn from(e: io::Error) -> Self {
        MediaError::Io(e)
    }
}

/// Result alias.
pub type Result<T> = std::result::Result<T, MediaError>;

/// How media are to be written: the operation and what the safety checks take, the same for
/// every device of a media set.
#[derive(Clone, Debug)]
pub struct WriteOptions {
    pub operation: Operation,
    pub skip: bool,
    /// The media name to check against the medium (MEDIANAME), when given.
    pub check_name: Option<String>,
    /// The password to open a protected medium with.
    pub password: Option<MediaPassword>,
    /// Physical block size for new media.
    pub block_size: usize,
    /// Now, in Unix seconds (the expiry checks and the dates written).
    pub now: i64,
    /// A switch that stops every write to the family's media once set
    /// ([`crate::stripe::StripedWriter::abandon`] sets it): an abandoned write stops each
    /// device where it is. Without it, the writer would treat the end of its data as a source
    /// that failed, zero-fill the file and go on, maybe onto the next medium.
    pub stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl WriteOptions {
    /// `operation` at `now`, no skip, no name or password, 64 KiB blocks.
    pub fn new(operation: Operation, now: i64) -> Self {
        WriteOptions {
            operation,
            skip: false,
            check_name: None,
            password: None,
            block_size: 64 * 1024,
            now,
            stop: None,
        }
    }
}

/// How a family is to be written.
#[derive(Clone, Debug)]
pub struct FamilySpec {
    /// The media set (its id, name, family count, password for new headers).
    pub set: MediaSet,
    pub family_number: u16,
    /// Which copy (0 = the first).
    pub mirror: u8,
    pub write: WriteOptions,
    /// A restart ([`crate::restart`]): the first medium not completed by the interrupted run
    /// (0 when not restarting).
    pub replay_until: u16,
}

impl FamilySpec {
    fn request(&self, sequence: u16) -> MediumRequest {
        MediumRequest {
            purpose: Purpose::Write,
            media_set_id: Some(self.set.id),
            media_name: self.set.name.clone(),
            family_number: self.family_number,
            family_count: self.set.family_count,
            sequence,
            mirror: self.mirror,
        }
    }
}

/// A medium the family used, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsedMedium {
    pub sequence: u16,
    pub name: String,
}

/// Where a family's blocks go: to the medium, or, when a restart replays the media the
/// interrupted run completed, compared with what is on them.
pub enum FamilySink {
    Write(TapeSink),
    Compare(crate::restart::CompareSink),
}

impl FamilySink {
    fn into_device(self) -> Device {
        match self {
            FamilySink::Write(t) => t.device,
            FamilySink::Compare(c) => c.into_device(),
        }
    }
}

impl BlockSink for FamilySink {
    fn write_block(&mut self, block: &[u8]) -> io::Result<WriteStatus> {
        match self {
            FamilySink::Write(t) => t.write_block(block),
            FamilySink::Compare(c) => c.write_block(block),
        }
    }
    fn has_filemarks(&self) -> bool {
        true
    }
    fn write_filemark(&mut self) -> io::Result<WriteStatus> {
        match self {
            FamilySink::Write(t) => t.write_filemark(),
            FamilySink::Compare(c) => c.write_filemark(),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            FamilySink::Write(t) => t.flush(),
            FamilySink::Compare(_) => Ok(()),
        }
    }
}

/// Asks a changer for continuation media.
pub struct ChangerSupplier {
    changer: Box<dyn MediaChanger>,
    spec: FamilySpec,
    expiry: ExpirySlot,
    /// The medium mounted now (empty between media), shared with the [`FamilyWriter`] so its
    /// errors name the medium they happened on.
    current: CurrentMedium,
    /// Media written, in order.
    pub used: Vec<UsedMedium>,
    /// Media refused: (name, reasons).
    pub refusals: Vec<(String, String)>,
    /// A restart: media below this sequence number are the interrupted run's complete media,
    /// replayed (compared, not written); from it on media are written again.
    replay_until: u16,
}

impl ChangerSupplier {
    /// The sink that writes a mounted medium: a tape sink that honours the write's stop
    /// switch, stamped with the set's label.
    fn write_sink(&self, device: Device, fresh: bool) -> StampSink<FamilySink> {
        let stop = self.spec.write.stop.clone();
        self.stamp(FamilySink::Write(TapeSink { device, stop }), fresh)
    }

    fn stamp(&self, sink: FamilySink, fresh: bool) -> StampSink<FamilySink> {
        let raid = self.spec.set.raid(self.spec.family_number);
        if fresh {
            StampSink::new(
                sink,
                raid,
                self.spec.set.password.clone(),
                self.expiry.clone(),
            )
            .with_mirror_count(self.spec.set.mirror_count)
        } else {
            StampSink::appending(sink, raid, self.expiry.clone())
        }
    }
}

impl MediaSupplier<StampSink<FamilySink>> for ChangerSupplier {
    fn next_medium(&mut self, sequence: u16) -> io::Result<StampSink<FamilySink>> {
        let req = self.spec.request(sequence);
        if sequence < self.replay_until {
            let (m, sink) =
                crate::restart::mount_for_replay(&mut *self.changer, &req, &mut self.refusals)?;
            self.current.set(&m);
            self.used.push(UsedMedium { sequence, name: m });
            return Ok(self.stamp(FamilySink::Compare(sink), true));
        }
        let operation = if self.replay_until > 0 {
            Operation::Restart {
                from_sequence: self.replay_until,
            }
        } else {
            Operation::Continuation
        };
        for _ in 0..MAX_OFFERS {
            let mut m = self.changer.mount(&req)?;
            let insp = inspect(&mut m.device);
            let d = decide(
                &insp,
                &Request {
                    operation,
                    skip: false,
                    media_name: None,
                    password: None,
                    devices: self.spec.set.family_count,
                    family_number: self.spec.family_number,
                    media_set_id: Some(self.spec.set.id),
                    now: self.spec.write.now,
                },
            );
            if !d.allowed() {
                let why = d.explain();
                self.refusals.push((m.name.clone(), why.clone()));
                self.changer.refused(m, &why)?;
                continue;
            }
            prepare(&mut m.device, true).map_err(io::Error::other)?;
            self.current.set(&m.name);
            self.used.push(UsedMedium {
                sequence,
                name: m.name,
            });
            return Ok(self.write_sink(m.device, true));
        }
        Err(io::Error::other(format!(
            "{MAX_OFFERS} media offered for {req}, none usable"
        )))
    }

    fn medium_done(&mut self, _sequence: u16, sink: StampSink<FamilySink>) -> io::Result<()> {
        let device = sink.into_inner().into_device();
        let name = self.current.take();
        self.changer.done(Mounted { device, name })
    }
}

/// Rewinds and sets variable blocks; for a new header, nothing else.
fn prepare(device: &mut Device, _fresh: bool) -> std::result::Result<(), String> {
    device.rewind().map_err(|e| e.to_string())?;
    device
        .set_block_size(BlockSize::Variable)
        .map_err(|e| e.to_string())
}

/// Writes one family of a backup set.
pub struct FamilyWriter {
    writer: Writer<StampSink<FamilySink>, ChangerSupplier>,
    expiry: ExpirySlot,
    /// The medium being written, for errors.
    current: CurrentMedium,
    /// The directory the last DIRB named, per volume.
    dir: Option<Vec<String>>,
    /// The data set number of the last set ended (0: none).
    ended_set: u16,
}

impl FamilyWriter {
    /// Judges the first medium (already mounted) and, if allowed, opens it for writing as the
    /// spec says: a new header, the header kept and the sets overwritten, or after the last set.
    /// A refused medium is handed back to the changer unwritten.
    pub fn open(
        mut first: Mounted,
        changer: Box<dyn MediaChanger>,
        spec: FamilySpec,
    ) -> Result<Self> {
        let judged = judge(&mut first, &spec);
        Self::open_judged(first, changer, spec, judged)
    }

    /// Opens a medium already judged by [`judge`] (a striped write judges every device before
    /// it writes to any). A refused medium is handed back to the changer unwritten.
    pub fn open_judged(
        first: Mounted,
        mut changer: Box<dyn MediaChanger>,
        mut spec: FamilySpec,
        judged: Judged,
    ) -> Result<Self> {
        let Judged {
            inspection: insp,
            decision: d,
        } = judged;
        let Some(action) = d.action else {
            let _ = changer.refused(
                Mounted {
                    device: first.device,
                    name: first.name.clone(),
                },
                &d.explain(),
            );
            return Err(MediaError::Refused {
                medium: first.name,
                decision: d,
            });
        };
        if action != Action::WriteHeader {
            // The medium's media set is the one written (init and append keep the header).
            if let Some(l) = insp.label() {
                if let Some(id) = l.media_set_id {
                    spec.set.id = id;
                }
                spec.set.name = l.name.clone();
                spec.set.description = l.description.clone();
            }
        }
        let expiry = ExpirySlot::default();
        let current = CurrentMedium::default();
        current.set(&first.name);
        let mut supplier = ChangerSupplier {
            changer,
            spec: spec.clone(),
            expiry: expiry.clone(),
            current: current.clone(),
            used: vec![UsedMedium {
                sequence: 1,
                name: first.name.clone(),
            }],
            refusals: Vec::new(),
            replay_until: spec.replay_until,
        };
        let mut device = first.device;
        let writer = (|| -> Result<_> {
            prepare(&mut device, true).map_err(MediaError::Invalid)?;
            Ok(match action {
                Action::WriteHeader if spec.replay_until > 1 => {
                    // A restart replays the first medium: compare, do not write.
                    let opts = new_medium_options(&spec);
                    let sink = crate::restart::CompareSink::new(device, &first.name)
                        .map_err(MediaError::Io)?;
                    let sink = supplier.stamp(FamilySink::Compare(sink), true);
                    Writer::with_media(sink, opts, supplier)?
                }
                Action::WriteHeader => {
                    let opts = new_medium_options(&spec);
                    let sink = supplier.write_sink(device, true);
                    Writer::with_media(sink, opts, supplier)?
                }
                Action::OverwriteSets => {
                    let point = after_header(&mut device)?;
                    supplier.used[0].sequence = point.tape.media_sequence_number;
                    let sink = supplier.write_sink(device, false);
                    Writer::append(sink, point, supplier)?
                }
                Action::AppendAfterLastSet => {
                    let point = {
                        let mut r = Reader::with_mode(
                            TapeSource {
                                device: device.as_mut(),
                            },
                            Mode::Strict,
                        );
                        AppendPoint::scan_tape(&mut r)?
                    };
                    device.rewind().map_err(tape_io)?;
                    let n = u32::try_from(point.filemarks.len())
                        .map_err(|_| MediaError::Invalid("too many filemarks".into()))?;
                    device.space(Space::Fsf, n).map_err(tape_io)?;
                    supplier.used[0].sequence = point.tape.media_sequence_number;
                    let sink = supplier.write_sink(device, false);
                    Writer::append(sink, point, supplier)?
                }
            })
        })()
        .map_err(|e| on_medium(&first.name, e))?;
        Ok(FamilyWriter {
            writer,
            expiry,
            current,
            dir: None,
            ended_set: 0,
        })
    }

    /// `e` with the name of the medium it happened on.
    fn named(&self, e: impl Into<MediaError>) -> MediaError {
        on_medium(&self.current.get(), e.into())
    }

    /// Starts the family's part of a backup set; `expires` (Unix seconds) is recorded with it.
    /// A volume ([`FamilyWriter::add_volume`]) comes next.
    pub fn begin_set(&mut self, opts: SetOptions, expires: Option<i64>) -> Result<()> {
        // The SSET reaches the sink with the first full block; the sink stamps it and clears
        // the slot then.
        *self.expiry.lock().unwrap_or_else(|p| p.into_inner()) = expires;
        self.writer.begin_set(opts).map_err(|e| self.named(e))?;
        self.dir = None;
        Ok(())
    }

    /// Starts a volume; the directories and files that follow belong to it.
    pub fn add_volume(&mut self, volume: &VolumeOptions) -> Result<()> {
        self.writer.add_volume(volume).map_err(|e| self.named(e))?;
        self.dir = None;
        Ok(())
    }

    /// Adds a block of set information (see [`crate::stripe::InfoBlock`]).
    pub fn add_info_block(&mut self, block: &crate::stripe::InfoBlock) -> Result<()> {
        self.writer
            .add_info_block(block.block_type, &block.fixed, &block.streams)?;
        Ok(())
    }

    /// Adds a directory by its components from the volume root.
    pub fn add_directory(&mut self, path: &[String], meta: &EntryMeta) -> Result<()> {
        self.writer
            .add_directory(path, meta)
            .map_err(|e| self.named(e))?;
        self.dir = Some(path.to_vec());
        Ok(())
    }

    /// Adds a file in directory `dir` (a DIRB is written first when the directory changes).
    pub fn add_file(
        &mut self,
        dir: &[String],
        name: &str,
        meta: &EntryMeta,
        size: u64,
        data: &mut dyn Read,
    ) -> Result<FileOutcome> {
        if self.dir.as_deref() != Some(dir) {
            self.writer
                .add_directory(dir, &EntryMeta::default())
                .map_err(|e| self.named(e))?;
            self.dir = Some(dir.to_vec());
        }
        self.writer
            .add_file(name, meta, size, data)
            .map_err(|e| self.named(e))
    }

    /// Ends the family's part of the set.
    pub fn end_set(&mut self) -> Result<SetSummary> {
        let s = self.writer.end_set().map_err(|e| self.named(e))?;
        self.ended_set = s.data_set_number;
        Ok(s)
    }

    /// Finishes: the last medium handed back to the changer. Returns the media used and the
    /// media refused on the way.
    pub fn finish(self) -> Result<FamilyReport> {
        let current = self.current.clone();
        let set_number = self.ended_set;
        let (sink, mut supplier) = self
            .writer
            .into_parts()
            .map_err(|e| on_medium(&current.get(), e.into()))?;
        let device = sink.into_inner().into_device();
        let name = supplier.current.take();
        supplier.changer.done(Mounted { device, name })?;
        Ok(FamilyReport {
            family_number: supplier.spec.family_number,
            mirror: supplier.spec.mirror,
            media_set_id: supplier.spec.set.id,
            used: supplier.used,
            refusals: supplier.refusals,
            set_number,
        })
    }
}

/// A first medium with what the decision made of it.
#[derive(Clone, Debug)]
pub struct Judged {
    pub inspection: crate::set::Inspection,
    pub decision: Decision,
}

/// Inspects the first medium of a family and decides whether the spec's operation may write it.
/// Reads only.
pub fn judge(first: &mut Mounted, spec: &FamilySpec) -> Judged {
    let inspection = inspect(&mut first.device);
    if spec.replay_until > 1 {
        // The first medium is replayed, not written: it must be this family's medium 1.
        let decision = crate::restart::judge_replay(&inspection, spec, 1);
        return Judged {
            inspection,
            decision,
        };
    }
    let restarting = spec.replay_until > 0;
    let decision = decide(
        &inspection,
        &Request {
            operation: if restarting {
                Operation::Restart {
                    from_sequence: spec.replay_until.max(1),
                }
            } else {
                spec.write.operation
            },
            skip: spec.write.skip,
            media_name: spec.write.check_name.clone(),
            password: spec.write.password.clone(),
            devices: spec.set.family_count,
            family_number: spec.family_number,
            media_set_id: restarting.then_some(spec.set.id),
            now: spec.write.now,
        },
    );
    Judged {
        inspection,
        decision,
    }
}

/// What a family's write used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FamilyReport {
    pub family_number: u16,
    pub mirror: u8,
    pub media_set_id: crate::set::Guid,
    pub used: Vec<UsedMedium>,
    pub refusals: Vec<(String, String)>,
    /// The data set number of the last set the family wrote (its position on the media,
    /// `--set N` at restore); 0 when it ended none. Known to the writer, so nobody reads the
    /// medium back for it.
    pub set_number: u16,
}

/// The TAPE media family id: from the set id and the family number, so each family's differs
/// (as SQL Server's do) and a mirror's equals its original's.
fn family_id(spec: &FamilySpec) -> u32 {
    let b = spec.set.id.0;
    u32::from_le_bytes([b[0], b[1], b[2], b[3]]) ^ u32::from(spec.family_number).rotate_left(16)
}

fn date_of(now: i64) -> mtf::DateTime {
    mtf::DateTime::from_unix(now).unwrap_or(mtf::DateTime {
        year: 1970,
        month: 1,
        day: 1,
        hour: 0,
        minute: 0,
        second: 0,
    })
}

/// Positions a tape just after its media header (its first filemark) and says what the writer
/// carries on from there: no sets (init overwrites them all).
fn after_header(device: &mut Device) -> Result<AppendPoint> {
    device.rewind().map_err(tape_io)?;
    let mut buf = vec![0u8; 1 << 20];
    let n = match device.read_block(&mut buf).map_err(tape_io)? {
        ReadResult::Data(n) => n,
        _ => return Err(MediaError::Invalid("no media header to keep".into())),
    };
    let (dblk, _) = mtf::Dblk::parse(&buf[..n], None)?;
    let Body::Tape(tape) = dblk.body else {
        return Err(MediaError::Invalid(
            "the first block is not a TAPE block".into(),
        ));
    };
    if tape.soft_filemark_bytes() != n {
        return Err(MediaError::Invalid(format!(
            "the media header's block ({n} bytes) is not the block size it records ({})",
            tape.soft_filemark_bytes()
        )));
    }
    match device.read_block(&mut buf).map_err(tape_io)? {
        ReadResult::Filemark => {}
        _ => {
            return Err(MediaError::Invalid(
                "the media header is not followed by a filemark".into(),
            ))
        }
    }
    Ok(AppendPoint {
        string_type: dblk.header.string_type,
        offset: n as u64,
        filemarks: vec![1],
        soft_filemarks: 0,
        sets: Vec::new(),
        tape,
    })
}

/// The name of the medium a family is writing, shared by its writer and its supplier.
#[derive(Clone, Debug, Default)]
struct CurrentMedium(std::sync::Arc<std::sync::Mutex<String>>);

impl CurrentMedium {
    fn lock(&self) -> std::sync::MutexGuard<'_, String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn set(&self, name: &str) {
        *self.lock() = name.to_owned();
    }
    fn get(&self) -> String {
        self.lock().clone()
    }
    fn take(&self) -> String {
        std::mem::take(&mut *self.lock())
    }
}

/// The options of a new medium of the family: the set's name and description, the family's
/// id, the block size.
fn new_medium_options(spec: &FamilySpec) -> MediumOptions {
    let mut opts = MediumOptions::new(&spec.set.name, family_id(spec), date_of(spec.write.now));
    opts.media_description = spec.set.description.clone();
    opts.block_size = Some(spec.write.block_size);
    opts
}

/// `e` with the medium it happened on in front (a refusal names its medium already; between
/// media there is none to name, and the changer's error says what it was asked).
fn on_medium(medium: &str, e: MediaError) -> MediaError {
    if medium.is_empty() || matches!(e, MediaError::Refused { .. }) {
        return e;
    }
    let kind = match &e {
        MediaError::Io(x) | MediaError::Mtf(mtf::Error::Io(x)) => x.kind(),
        _ => io::ErrorKind::Other,
    };
    MediaError::Io(io::Error::new(kind, format!("{medium}: {e}")))
}
