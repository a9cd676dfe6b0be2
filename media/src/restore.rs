//! Reading a backup set back from its media set, with as many devices as there are, down to
//! one.
//!
//! Families are shared out among the devices (family `f` on device `(f - 1) % devices`); each
//! device reads its families one after another, each family's media in sequence, asking its
//! changer for "medium `s` of family `f`" and refusing (handing back, asking again) a medium
//! whose label is not that one. With as many devices as families, all families are read at
//! once. When a medium turns out damaged, the changer is asked for the same medium again: a
//! mirror's copy is the same bytes, so reading goes on from where the damage was.
//!
//! What is read goes to a [`RestoreSink`] as file events tagged with their family. With two
//! devices or more, each reads on a thread of its own and the sink takes the events on the
//! caller's thread; with one device, reading and the sink share the caller's thread.

use crate::changer::{MediaChanger, MediumRequest, Mounted, Purpose};
use crate::device::{Device, TapeSource};
use crate::family::{MediaError, Result, MAX_OFFERS};
use crate::set::{read_label, Guid, MediumLabel};
use mtf::block::Body;
use mtf::checksum::FastXor32;
use mtf::reader::{Event, Mode, Reader};
use mtf::spec::{BlockAttributes, StreamId, StringType};
use mtf::text::{decode_str, split_dir_path};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::mpsc;

mod piece;
pub use piece::{Piece, PiecePool};

/// Where restored files go. Events of one family come in order; families interleave.
pub trait RestoreSink {
    /// A file starts: its path components from the volume root and its size.
    fn start(&mut self, family: u16, path: &[String], size: u64) -> Result<()>;
    /// More of the family's current file.
    fn data(&mut self, family: u16, bytes: &[u8]) -> Result<()>;
    /// [`RestoreSink::data`], given the piece to keep: a sink that hands the bytes to
    /// another thread (to write them while the next are checked) takes them without a copy.
    fn data_owned(&mut self, family: u16, bytes: Piece) -> Result<()> {
        self.data(family, &bytes)
    }
    /// The family's current file is complete.
    fn end(&mut self, family: u16) -> Result<()>;
    /// The family's current file failed its checksum: forget what was delivered of it (it comes
    /// again from a mirror's copy, or the restore fails).
    fn discard(&mut self, family: u16) -> Result<()>;
}

/// Files collected in memory by path (tests, small restores).
#[derive(Debug, Default)]
pub struct MemoryFiles {
    pub files: BTreeMap<String, Vec<u8>>,
    current: BTreeMap<u16, String>,
    /// Paths started more than once (a duplicated file is an error to the caller).
    pub duplicates: Vec<String>,
}

impl RestoreSink for MemoryFiles {
    fn start(&mut self, family: u16, path: &[String], _size: u64) -> Result<()> {
        let p = path.join("/");
        if self.files.insert(p.clone(), Vec::new()).is_some() {
            self.duplicates.push(p.clone());
        }
        self.current.insert(family, p);
        Ok(())
    }
    fn data(&mut self, family: u16, bytes: &[u8]) -> Result<()> {
        let p = self
            .current
            .get(&family)
            .ok_or_else(|| MediaError::Invalid("data before a file".into()))?;
        self.files
            .entry(p.clone())
            .or_default()
            .extend_from_slice(bytes);
        Ok(())
    }
    fn end(&mut self, family: u16) -> Result<()> {
        self.current.remove(&family);
        Ok(())
    }
    fn discard(&mut self, family: u16) -> Result<()> {
        if let Some(p) = self.current.remove(&family) {
            self.files.remove(&p);
        }
        Ok(())
    }
}

/// Which set to read.
#[derive(Clone, Debug, Default)]
pub struct ReadSpec {
    /// The media set; `None` takes the set of the first medium mounted.
    pub media_set_id: Option<Guid>,
    /// The data set number; `None` reads the first set found.
    pub data_set: Option<u16>,
}

/// What a restore did.
#[derive(Clone, Debug, Default)]
pub struct RestoreReport {
    pub media_set_id: Option<Guid>,
    pub family_count: u16,
    /// Every request made, in order per device: (device, family, sequence).
    pub requests: Vec<(usize, u16, u16)>,
    /// Media refused: (name, why).
    pub refusals: Vec<(String, String)>,
    pub files: u64,
    /// CSUM streams checked (every one read must hold, or the medium counts as damaged).
    pub csum_checked: u64,
}

enum Out {
    Start(u16, Vec<String>, u64),
    Data(u16, Piece),
    End(u16),
    Request(usize, u16, u16),
    Refused(String, String),
    /// A new backup set starts (listing the last set of a medium).
    NewSet,
    /// A directory (DIRB) not repeated from an earlier medium (listing a medium).
    Dir(Vec<String>),
    /// A family's CSUM streams checked.
    Checked(u64),
    /// The family's current file failed its checksum.
    Discard(u16),
}

/// Reads a backup set with `changers.len()` devices into `sink`.
pub fn restore(
    mut changers: Vec<Box<dyn MediaChanger>>,
    spec: &ReadSpec,
    sink: &mut dyn RestoreSink,
) -> Result<RestoreReport> {
    if changers.is_empty() {
        return Err(MediaError::Invalid("no device to read with".into()));
    }
    // The first medium of family 1 tells the set and its family count.
    let mut report = RestoreReport::default();
    let first_req = request(spec.media_set_id, 1, 1, 1);
    let (first, label) = mount_checked(&mut *changers[0], &first_req, &mut |n, w| {
        report.refusals.push((n, w))
    })?;
    report.requests.push((0, 1, 1));
    let set_id = label.media_set_id.or(spec.media_set_id);
    let family_count = label.family_count.unwrap_or(1);
    report.media_set_id = set_id;
    report.family_count = family_count;
    let devices = changers.len().min(family_count as usize);
    let data_set = spec.data_set;
    let mut first = Some((first, label));
    // Device `d` reads its families one after another, sending what it finds.
    let read_device = |d: usize,
                       changer: &mut dyn MediaChanger,
                       mut pre: Option<(Mounted, MediumLabel)>,
                       send: &dyn Fn(Out) -> Result<()>|
     -> Result<()> {
        for f in (1..=family_count).filter(|f| (*f as usize - 1) % devices == d) {
            read_family(
                changer,
                d,
                set_id,
                family_count,
                f,
                data_set,
                pre.take(),
                send,
            )?;
        }
        Ok(())
    };
    if devices == 1 {
        // One device: read here, handing each piece straight to the sink. A reading thread
        // would add a third busy thread to a sink that writes on its own (two cores, and the
        // three took turns); here the sink's writer overlaps this thread's reads and checks.
        let state = RefCell::new((&mut report, sink, None::<MediaError>));
        let send = |out: Out| -> Result<()> {
            let mut st = state.borrow_mut();
            let (report, sink, sink_err) = &mut *st;
            if sink_err.is_some() {
                return Err(MediaError::Invalid("the restore stopped".into()));
            }
            dispatch(out, report, &mut **sink).map_err(|e| {
                *sink_err = Some(e);
                MediaError::Invalid("the restore stopped".into())
            })
        };
        let read = read_device(0, &mut *changers[0], first.take(), &send);
        let sink_err = state.into_inner().2;
        return match (sink_err, read) {
            (Some(e), _) | (None, Err(e)) => Err(e),
            (None, Ok(())) => Ok(report),
        };
    }
    let (tx, rx) = mpsc::sync_channel::<Out>(QUEUE);
    let result = std::thread::scope(|scope| {
        let mut handles = Vec::new();
        for (d, changer) in changers.iter_mut().take(devices).enumerate() {
            let tx = tx.clone();
            let pre = if d == 0 { first.take() } else { None };
            handles.push(scope.spawn(move || -> Result<()> {
                let send = |o: Out| {
                    tx.send(o)
                        .map_err(|_| MediaError::Invalid("the restore stopped".into()))
                };
                read_device(d, &mut **changer, pre, &send)
            }));
        }
        drop(tx);
        let mut sink_err = None;
        for out in rx {
            if sink_err.is_some() {
                continue;
            }
            if let Err(e) = dispatch(out, &mut report, sink) {
                sink_err = Some(e);
            }
        }
        let mut errs: Vec<MediaError> = handles
            .into_iter()
            .filter_map(|h| match h.join() {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e),
                Err(_) => Some(MediaError::Invalid("a reading thread panicked".into())),
            })
            .collect();
        if let Some(e) = sink_err {
            errs.insert(0, e);
        }
        match errs.len() {
            0 => Ok(()),
            _ => Err(errs.remove(0)),
        }
    });
    result.map(|()| report)
}

/// Hands what a reader found to the sink, and notes it in the report.
fn dispatch(out: Out, report: &mut RestoreReport, sink: &mut dyn RestoreSink) -> Result<()> {
    match out {
        Out::Start(f, p, n) => {
            report.files += 1;
            sink.start(f, &p, n)
        }
        Out::Data(f, b) => sink.data_owned(f, b),
        Out::End(f) => sink.end(f),
        Out::Request(d, f, s) => {
            report.requests.push((d, f, s));
            Ok(())
        }
        Out::Refused(n, w) => {
            report.refusals.push((n, w));
            Ok(())
        }
        Out::Discard(f) => sink.discard(f),
        Out::Checked(n) => {
            report.csum_checked += n;
            Ok(())
        }
        Out::NewSet | Out::Dir(_) => Ok(()),
    }
}

fn request(set: Option<Guid>, family: u16, count: u16, sequence: u16) -> MediumRequest {
    MediumRequest {
        purpose: Purpose::Read,
        media_set_id: set,
        media_name: String::new(),
        family_number: family,
        family_count: count,
        sequence,
        mirror: 0,
    }
}

/// Mounts the medium `req` asks for, refusing others.
fn mount_checked(
    changer: &mut dyn MediaChanger,
    req: &MediumRequest,
    refused: &mut dyn FnMut(String, String),
) -> Result<(Mounted, MediumLabel)> {
    for _ in 0..MAX_OFFERS {
        let mut m = changer.mount(req)?;
        let why = match read_label(&mut m.device) {
            Err(e) => format!("not a medium of an MTF media set: {e}"),
            Ok(l) => {
                let set_ok = req.media_set_id.is_none() || l.media_set_id == req.media_set_id;
                if set_ok
                    && l.family() == req.family_number
                    && l.media_sequence_number == req.sequence
                {
                    return Ok((m, l));
                }
                format!("this is {}, not {req}", l.describe())
            }
        };
        refused(m.name.clone(), why.clone());
        changer.refused(m, &why)?;
    }
    Err(MediaError::Invalid(format!(
        "{MAX_OFFERS} media offered for {req}, none of them it"
    )))
}

/// Lists the files of the last backup set on one medium read on its own (a restart's
/// checkpoint), in order, as `dir/.../name`, and whether the medium is complete (ends with the
/// end-of-media procedure, the family going on on the next medium).
/// The third value is the directory of a DIRB written after the last file (the next file's,
/// which went on on the next medium), if any.
pub(crate) fn list_medium(
    device: &mut Device,
    family: u16,
) -> Result<(Vec<String>, bool, Option<Vec<String>>)> {
    let files = RefCell::new(Vec::<String>::new());
    let trailing = RefCell::new(None::<Vec<String>>);
    let mut fr = FamilyRead::new(family, None);
    let send = |o: Out| {
        match o {
            Out::Start(_, p, _) => {
                files.borrow_mut().push(p.join("/"));
                *trailing.borrow_mut() = None;
            }
            Out::NewSet => {
                files.borrow_mut().clear();
                *trailing.borrow_mut() = None;
            }
            Out::Dir(d) => *trailing.borrow_mut() = Some(d),
            _ => {}
        }
        Ok(())
    };
    let continues =
        read_medium(device, &mut fr, &send, true).map_err(|(_, e)| MediaError::Invalid(e))?;
    Ok((files.into_inner(), continues, trailing.into_inner()))
}

/// The most file data one message from a reading thread carries: with the queue's
/// [`QUEUE`] messages, what a restore holds in memory stays at 2 MiB. Not smaller: each
/// message costs a hand-over between threads (64 KiB pieces spent a fifth of the sink's
/// time on them).
const DATA_PIECE: usize = 256 * 1024;

/// Data buffers a medium's reading keeps for reuse: as many as can be in flight (queued to the
/// sink, queued to its writer, being read and written).
const POOL_KEEP: usize = QUEUE + 8;

/// Messages the reading threads may be ahead of the sink (with two devices or more: one
/// device is read on the sink's own thread).
const QUEUE: usize = 8;

/// The damage offset that says no stand-in can help.
const UNRECOVERABLE: u64 = u64::MAX;

/// State of one family's reading, carried from medium to medium.
struct FamilyRead {
    family: u16,
    data_set: Option<u16>,
    in_set: bool,
    /// The set's part on this family is over (ESET seen).
    done: bool,
    st: StringType,
    dir: Vec<String>,
    /// A file is open (its data may continue on the next medium).
    open_file: bool,
    /// A DIRB or FILE whose name comes in a PNAM / FNAM stream: (is_file, size).
    pending_name: Option<(bool, u64)>,
    /// On a stand-in medium, medium offsets below this were already delivered.
    skip_below: u64,
    /// XOR-32 of the open file's data so far, for its CSUM (carried from medium to medium).
    xor: FastXor32,
    /// `xor` as it was when the current medium started (a stand-in reads it again).
    xor_at_start: FastXor32,
    /// CSUM streams checked.
    checked: u64,
    /// Offset of the open file's FILE block on this medium (`None` when the file began on an
    /// earlier medium).
    file_at: Option<u64>,
    /// Whether the set asked for was met, and the highest set number seen (to say so when it
    /// is not there).
    found: bool,
    last_set: u16,
}

impl FamilyRead {
    fn new(family: u16, data_set: Option<u16>) -> Self {
        FamilyRead {
            family,
            data_set,
            in_set: false,
            done: false,
            st: StringType::UNICODE,
            dir: Vec::new(),
            open_file: false,
            pending_name: None,
            skip_below: 0,
            xor: FastXor32::new(),
            xor_at_start: FastXor32::new(),
            checked: 0,
            file_at: None,
            found: false,
            last_set: 0,
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn read_family(
    changer: &mut dyn MediaChanger,
    device: usize,
    set: Option<Guid>,
    count: u16,
    family: u16,
    data_set: Option<u16>,
    pre: Option<(Mounted, MediumLabel)>,
    send: &dyn Fn(Out) -> Result<()>,
) -> Result<()> {
    let mut fr = FamilyRead::new(family, data_set);
    let mut pre = pre;
    let mut sequence = 1u16;
    loop {
        let req = request(set, family, count, sequence);
        let mut m = match pre.take() {
            Some((m, _)) => m,
            None => {
                send(Out::Request(device, family, sequence))?;
                let mut refusals = Vec::new();
                let r = mount_checked(changer, &req, &mut |n, w| refusals.push((n, w)));
                for (n, w) in refusals {
                    send(Out::Refused(n, w))?;
                }
                r?.0
            }
        };
        fr.skip_below = 0;
        fr.xor_at_start = fr.xor;
        let continues = loop {
            match read_medium(&mut m.device, &mut fr, send, false) {
                Ok(c) => break c,
                Err((UNRECOVERABLE, e)) => {
                    return Err(MediaError::Invalid(format!(
                        "{}: {e}; the file began on an earlier medium, so another copy of this \
                         one cannot replace it",
                        m.name
                    )))
                }
                Err((reached, e)) => {
                    // Damaged: ask for the same medium again (a mirror's copy) and go on from
                    // where this one failed.
                    let why = format!("damaged: {e}");
                    let name = m.name.clone();
                    send(Out::Refused(m.name.clone(), why.clone()))?;
                    changer.refused(m, &why)?;
                    send(Out::Request(device, family, sequence))?;
                    let mut refusals = Vec::new();
                    let r = mount_checked(changer, &req, &mut |n, w| refusals.push((n, w)));
                    for (n, w) in refusals {
                        send(Out::Refused(n, w))?;
                    }
                    // Without another copy, the damage is the error (not the missing copy).
                    m = r
                        .map_err(|e2| {
                            MediaError::Invalid(format!(
                                "{name}: {why}; no other copy of it to read on ({e2})"
                            ))
                        })?
                        .0;
                    fr.skip_below = reached;
                    fr.xor = fr.xor_at_start;
                }
            }
        };
        changer.done(m)?;
        if fr.done || !continues {
            break;
        }
        sequence = sequence
            .checked_add(1)
            .ok_or_else(|| MediaError::Invalid("media sequence numbers exhausted".into()))?;
    }
    if fr.open_file {
        send(Out::End(family))?;
    }
    send(Out::Checked(fr.checked))?;
    if !fr.found && fr.last_set > 0 {
        if let Some(n) = fr.data_set {
            return Err(MediaError::Invalid(format!(
                "family {family}: there is no backup set {n} on its media (the last is set {})",
                fr.last_set
            )));
        }
    }
    if !fr.done {
        return Err(MediaError::Invalid(format!(
            "family {family}: the backup set does not close on its last medium (medium {sequence})"
        )));
    }
    Ok(())
}

/// Reads one medium of a family. `Ok(continues)`: whether the family goes on to the next
/// medium. `Err((offset, error))`: damage at `offset`; everything before it was delivered.
fn read_medium(
    device: &mut Device,
    fr: &mut FamilyRead,
    send: &dyn Fn(Out) -> Result<()>,
    last_set: bool,
) -> std::result::Result<bool, (u64, String)> {
    let skip_below = fr.skip_below;
    let fail = |at: u64, e: String| (at.max(skip_below), e);
    device.rewind().map_err(|e| fail(0, e.to_string()))?;
    let mut reader = Reader::with_mode(
        TapeSource {
            device: device.as_mut(),
        },
        Mode::Strict,
    );
    let mut continues = false;
    let mut at = 0u64;
    fr.file_at = None;
    let mut pieces = None::<PiecePool>;
    // Whether the last stream header seen belongs to the open file's data.
    loop {
        let ev = match reader.next_event() {
            Ok(Some(ev)) => ev,
            Ok(None) => break,
            Err(e) => return Err(fail(at, e.to_string())),
        };
        match ev {
            Event::Block { offset, dblk } => {
                at = offset;
                if dblk.header.string_type.0 != 0 {
                    fr.st = dblk.header.string_type;
                }
                let cont = dblk
                    .header
                    .attributes
                    .contains(BlockAttributes::CONTINUATION);
                let fresh = offset >= skip_below;
                match &dblk.body {
                    Body::Sset(s) if last_set => {
                        if !cont {
                            send(Out::NewSet).map_err(|e| fail(at, e.to_string()))?;
                        }
                        fr.in_set = true;
                        fr.done = false;
                    }
                    Body::Sset(s) => {
                        let want = fr.data_set.get_or_insert(s.data_set_number);
                        fr.in_set = *want == s.data_set_number && !fr.done;
                        fr.found |= fr.in_set;
                        fr.last_set = fr.last_set.max(s.data_set_number);
                    }
                    Body::Eset(_) if fr.in_set => {
                        if fr.open_file && fresh {
                            send(Out::End(fr.family)).map_err(|e| fail(at, e.to_string()))?;
                        }
                        fr.open_file = false;
                        fr.in_set = false;
                        fr.done = true;
                        if !last_set {
                            // The set asked for is whole: what follows on the medium (a later
                            // set, perhaps cut short by a killed append) is not read, so its
                            // damage cannot cost the restore of this one.
                            return Ok(false);
                        }
                    }
                    Body::Dirb(d) if fr.in_set => {
                        // A repeated DIRB on a continuation medium names the directory again
                        // (a medium read on its own learns it there); it ends nothing.
                        if !cont {
                            if fr.open_file && fresh {
                                send(Out::End(fr.family)).map_err(|e| fail(at, e.to_string()))?;
                            }
                            fr.open_file = false;
                        }
                        if d.directory_name.raw.is_empty() {
                            fr.pending_name = Some((false, 0));
                            fr.dir.clear();
                        } else {
                            fr.dir = split_dir_path(&d.directory_name.raw, fr.st);
                            if !cont && last_set {
                                send(Out::Dir(fr.dir.clone()))
                                    .map_err(|e| fail(at, e.to_string()))?;
                            }
                        }
                    }
                    Body::File(f) if fr.in_set && !cont => {
                        if fr.open_file && fresh {
                            send(Out::End(fr.family)).map_err(|e| fail(at, e.to_string()))?;
                        }
                        fr.file_at = Some(offset);
                        let size = dblk.header.displayable_size;
                        if f.file_name.raw.is_empty() {
                            fr.pending_name = Some((true, size));
                        } else {
                            let mut p = fr.dir.clone();
                            p.push(f.file_name.decode(fr.st));
                            if fresh {
                                send(Out::Start(fr.family, p, size))
                                    .map_err(|e| fail(at, e.to_string()))?;
                            }
                        }
                        fr.open_file = true;
                    }
                    Body::Eotm(_) => continues = true,
                    _ => {}
                }
            }
            Event::Stream { offset, header } => {
                at = offset;
                if !fr.in_set {
                    continue;
                }
                let name_stream = header.id == StreamId::PNAM || header.id == StreamId::FNAM;
                if let (true, Some((is_file, size))) = (name_stream, fr.pending_name) {
                    let raw = reader
                        .read_data_to_vec(64 * 1024)
                        .map_err(|e| fail(at, e.to_string()))?
                        .unwrap_or_default();
                    fr.pending_name = None;
                    if is_file {
                        let mut p = fr.dir.clone();
                        p.push(decode_str(&raw, fr.st));
                        if offset >= skip_below {
                            send(Out::Start(fr.family, p, size))
                                .map_err(|e| fail(at, e.to_string()))?;
                        }
                    } else {
                        fr.dir = split_dir_path(&raw, fr.st);
                    }
                    continue;
                }
                if header.id == StreamId::CSUM && fr.open_file {
                    let stored = reader
                        .read_data_to_vec(16)
                        .map_err(|e| fail(at, e.to_string()))?
                        .and_then(|d| <[u8; 4]>::try_from(&d[..]).ok())
                        .map(u32::from_le_bytes);
                    if stored != Some(fr.xor.value()) {
                        // What was delivered of the file is withdrawn; a stand-in reads it again
                        // from its FILE block when the file began on this medium.
                        send(Out::Discard(fr.family)).map_err(|e| fail(at, e.to_string()))?;
                        fr.open_file = false;
                        let again = fr.file_at.unwrap_or(UNRECOVERABLE);
                        return Err((
                            again,
                            format!(
                                "family {}: the CSUM at {offset} does not match the file's data \
                                 (stored {stored:?}, computed {:#010x})",
                                fr.family,
                                fr.xor.value()
                            ),
                        ));
                    }
                    fr.checked += 1;
                    continue;
                }
                // The file's data: its STAN stream, and on a continuation medium the rest of it
                // (the same id, with the CONTINUE attribute).
                if !(header.id == StreamId::STAN && fr.open_file) {
                    continue;
                }
                if !header
                    .media_attributes
                    .contains(mtf::spec::StreamMediaAttributes::CONTINUE)
                {
                    fr.xor = FastXor32::new();
                }
                let mut pos = offset + mtf::spec::STREAM_HDR_LEN as u64;
                // Pieces of up to DATA_PIECE bytes, each read straight into a buffer that
                // goes round (room for a whole tape record beyond DATA_PIECE).
                let pool = pieces.get_or_insert_with(|| {
                    PiecePool::new(DATA_PIECE + reader.direct_read_room(), POOL_KEEP)
                });
                let mut done = false;
                while !done {
                    let mut piece = pool.get();
                    while piece.len() < DATA_PIECE {
                        match reader.read_data_into(piece.spare_mut()) {
                            Ok(Some(n)) if n > 0 => piece.grow(n),
                            Ok(Some(_)) => break,
                            Ok(None) => {
                                done = true;
                                break;
                            }
                            // The piece read so far is not delivered: a stand-in reads from
                            // its start.
                            Err(e) => return Err(fail(pos, e.to_string())),
                        }
                    }
                    let end = pos + piece.len() as u64;
                    fr.xor.update(&piece);
                    if end > skip_below && !piece.is_empty() {
                        piece.drop_front(skip_below.saturating_sub(pos) as usize);
                        send(Out::Data(fr.family, piece)).map_err(|e| fail(pos, e.to_string()))?;
                    }
                    pos = end;
                }
                at = pos;
            }
            Event::Damage(d) => return Err(fail(at, d.reason.to_string())),
            Event::Filemark { .. } | Event::StreamCut { .. } => {}
        }
    }
    Ok(continues)
}
