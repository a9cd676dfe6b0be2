//! The streaming reader: descriptor blocks, stream headers, filemarks and damage, in medium
//! order, from any [`BlockSource`], with one fixed buffer.
//!
//! [`Reader::next_event`] hands out owned events; after a [`Event::Stream`] the caller may read
//! the stream's data in borrowed chunks ([`Reader::read_data`]), into buffers of its own that
//! the source fills directly ([`Reader::read_data_into`]), or copy it ([`Reader::copy_data`]);
//! whatever it leaves unread is skipped by the next `next_event`, by a seek when the source can
//! seek. Memory is the buffer (1 MiB by default) plus one block.

use super::source::{BlockRead, BlockSource};
use crate::block::{Body, Dblk};
use crate::error::{Error, Result};
use crate::header::DbHeader;
use crate::spec::{
    align_up, BlockType, StreamId, TapeAttributes, DB_HDR_LEN, STREAM_ALIGN, STREAM_HDR_LEN,
    VALID_FLB_SIZES,
};
use crate::spec::{Mode, END_OF_MEDIUM_TAIL_BLOCKS, MSSQLBAK_MAGIC, RESYNC_ALIGN};
use crate::stream::StreamHeader;
use std::io::{self, Write};

/// Default buffer size.
pub const DEFAULT_BUFFER: usize = 1 << 20;
/// Read-ahead while browsing headers: small reads, so that listing reads little.
pub const HEADER_READ_AHEAD: usize = 4096;

/// A damaged range: bytes that form no valid structure, or a structure cut short.
#[derive(Debug)]
pub struct Damage {
    /// Where the damage starts on the medium.
    pub offset: u64,
    /// How many bytes it spans (for a truncation: how many bytes are missing).
    pub len: u64,
    /// What was wrong.
    pub reason: Error,
}

/// One thing found on the medium.
// Events are handed out one at a time and moved straight on; boxing the block would cost an
// allocation per block for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Event {
    /// A descriptor block (its header region; an SFMB is a whole soft filemark block).
    Block {
        /// Where on the medium (or in the structure) it starts.
        offset: u64,
        /// The block's header region, parsed.
        dblk: Dblk,
    },
    /// A stream header; its data follows (read it with [`Reader::read_data`] or let it be
    /// skipped).
    Stream {
        /// Where on the medium (or in the structure) it starts.
        offset: u64,
        /// The header.
        header: StreamHeader,
    },
    /// A hardware filemark (from a tape source), before the byte at `offset`.
    Filemark {
        /// Where on the medium (or in the structure) it starts.
        offset: u64,
    },
    /// The current stream's data stops at `offset`, `remaining` bytes short of its declared
    /// length, because the medium ends there: the MTF end-of-medium procedure (a filemark, hard
    /// or soft, then EOTM) follows, and the data goes on in a stream with the CONTINUE
    /// attribute on the next medium. If no EOTM follows, the reader reports the cut as damage
    /// too.
    StreamCut {
        /// Where on the medium (or in the structure) it starts.
        offset: u64,
        /// Bytes of the stream's declared length that are not on this medium (they continue on the next one).
        remaining: u64,
    },
    /// Damage that the reader stepped over (resync mode only).
    Damage(Damage),
}

#[derive(Debug)]
enum State {
    Start,
    Block,
    Streams,
    Data {
        spad: bool,
    },
    Pad {
        spad: bool,
    },
    Resync {
        reason: Option<Error>,
        allow_here: bool,
    },
    Done,
}

/// What the reader has learnt about the medium so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MediumParams {
    /// Format Logical Block size from the TAPE block.
    pub flb_size: Option<u16>,
    /// Soft filemark block size in bytes from the TAPE block (when soft filemarks are in use or
    /// the size is given).
    pub soft_filemark_len: Option<usize>,
    /// Whether the TAPE block says soft filemarks are in use.
    pub soft_filemarks: bool,
}

/// Bytes the reader passed without handing them out in an event: alignment pads and damaged
/// ranges. Kept only by the byte-exact walk ([`crate::walk::Walker`]), which returns every byte.
#[derive(Debug)]
pub(crate) struct Passed {
    pub(crate) offset: u64,
    pub(crate) bytes: Vec<u8>,
    /// Alignment pad (else damage).
    pub(crate) pad: bool,
}

/// The streaming reader. See the module documentation.
pub struct Reader<S> {
    src: S,
    /// The buffer; it grows up to `cap` as needed (allocated whole up front unless `exact`).
    buf: Vec<u8>,
    cap: usize,
    /// Byte-exact mode (the codec walk): every byte not handed out in an event is kept in
    /// `passed`, nothing is skipped by seeking, the buffer grows only as data arrives, and a long
    /// damaged range is reported in pieces of at most [`crate::walk::CHUNK`] bytes.
    exact: bool,
    passed: Vec<Passed>,
    start: usize,
    end: usize,
    pos: u64,
    eof: bool,
    filemark: bool,
    mode: Mode,
    state: State,
    params: MediumParams,
    stream: Option<StreamHeader>,
    data_left: u64,
    pending: Vec<Event>,
    total_len: Option<u64>,
    read_ahead: usize,
    block_device: bool,
    record_len: Option<usize>,
    filemarks: u64,
    bytes_read: u64,
    reads: u64,
    bytes_skipped: u64,
    /// A stream cut at end of medium (offset, bytes missing) whose EOTM has not been seen yet.
    cut: Option<(u64, u64)>,
    /// The last thing read was a filemark (an SFMB, or a hardware one).
    last_was_filemark: bool,
}

impl<S: BlockSource> Reader<S> {
    /// A reader in resync mode at the start of a medium (the first block must be TAPE).
    pub fn new(src: S) -> Self {
        Self::with_mode(src, Mode::Resync)
    }

    /// A reader in the given mode at the start of a medium.
    pub fn with_mode(src: S, mode: Mode) -> Self {
        Self::build(src, mode, false)
    }

    fn build(mut src: S, mode: Mode, exact: bool) -> Self {
        let block_device = src.is_block_device();
        let cap = DEFAULT_BUFFER.max(src.max_block_len().saturating_mul(2) + 128 * 1024);
        let total_len = if block_device { None } else { src.total_len() };
        Reader {
            // The exact mode grows its buffer as data arrives.
            buf: if exact { Vec::new() } else { vec![0; cap] },
            cap,
            exact,
            passed: Vec::new(),
            start: 0,
            end: 0,
            pos: 0,
            eof: false,
            filemark: false,
            mode,
            state: State::Start,
            params: MediumParams::default(),
            stream: None,
            data_left: 0,
            pending: Vec::new(),
            total_len,
            read_ahead: if exact { 0 } else { DEFAULT_BUFFER },
            block_device,
            record_len: None,
            filemarks: 0,
            bytes_read: 0,
            reads: 0,
            bytes_skipped: 0,
            cut: None,
            last_was_filemark: false,
            src,
        }
    }

    /// A reader in byte-exact mode (see the `exact` field): what [`crate::walk::Walker`] runs
    /// on. Reads only what each step needs, so memory follows the input, not the buffer's cap.
    pub(crate) fn exact(src: S, mode: Mode) -> Self {
        Self::build(src, mode, true)
    }

    /// The bytes passed since the last call (pads and damaged ranges), in medium order.
    pub(crate) fn take_passed(&mut self) -> Vec<Passed> {
        std::mem::take(&mut self.passed)
    }

    /// Whether bytes were passed since the last [`Reader::take_passed`].
    pub(crate) fn has_passed(&self) -> bool {
        !self.passed.is_empty()
    }

    /// Whether the reader has come to its end (nothing more will be read).
    pub(crate) fn is_done(&self) -> bool {
        matches!(self.state, State::Done) && self.pending.is_empty()
    }

    /// Sets how much a read asks for beyond what is needed: small when browsing headers (so
    /// listing reads little), large when reading data (fewer calls). Capped by the buffer.
    pub fn set_read_ahead(&mut self, n: usize) {
        self.read_ahead = n.clamp(512, self.cap / 2);
    }

    /// The damage mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The medium offset of the next unread byte (bytes only; hardware filemarks take none).
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// What the TAPE block said (or what [`Reader::seek_to_block`] was told).
    pub fn params(&self) -> MediumParams {
        self.params
    }

    /// The total length of the medium, when the source knows it (a file).
    pub fn total_len(&self) -> Option<u64> {
        self.total_len
    }

    /// The physical block size: the record size a tape source returns, or the soft filemark
    /// block size on soft-filemark media (it is derived from the device's physical block size).
    pub fn physical_block_size(&self) -> Option<usize> {
        self.record_len.or(if self.params.soft_filemarks {
            self.params.soft_filemark_len
        } else {
            None
        })
    }

    /// Hardware filemarks passed so far.
    pub fn filemarks(&self) -> u64 {
        self.filemarks
    }

    /// Bytes read from the source so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// Reads from the source that returned data so far (physical blocks on a tape).
    pub fn reads(&self) -> u64 {
        self.reads
    }

    /// Hardware filemarks read from the source so far, including one the reader has met but not
    /// yet handed out as an event: how far the source itself has moved past filemarks.
    pub fn source_filemarks(&self) -> u64 {
        self.filemarks + u64::from(self.filemark)
    }

    /// Bytes skipped by seeking so far.
    pub fn bytes_skipped(&self) -> u64 {
        self.bytes_skipped
    }

    /// Whether the source hands out physical blocks (a tape).
    pub fn is_block_device(&self) -> bool {
        self.block_device
    }

    /// The source.
    pub fn source_mut(&mut self) -> &mut S {
        &mut self.src
    }

    /// Gives the source back.
    pub fn into_source(self) -> S {
        self.src
    }

    /// Whether the reader can reposition ([`Reader::seek_to_block`]).
    pub fn can_seek(&self) -> bool {
        !self.block_device && self.total_len.is_some()
    }

    /// Repositions at a block boundary of a byte-stream source: the next event is the block at
    /// `offset`. `params` are the medium's parameters (from its TAPE block), which a reader that
    /// starts mid-medium cannot see. Returns `Ok(false)` if the source cannot seek.
    pub fn seek_to_block(&mut self, offset: u64, params: MediumParams) -> Result<bool> {
        if self.block_device || !self.src.seek_to(offset)? {
            return Ok(false);
        }
        self.pos = offset;
        self.start = self.aligned_index();
        self.end = self.start;
        self.eof = false;
        self.filemark = false;
        self.stream = None;
        self.data_left = 0;
        self.pending.clear();
        self.params = params;
        self.state = State::Block;
        Ok(true)
    }

    /// Tells the reader that its source was moved by the caller (a tape spaced over filemarks,
    /// rewound): whatever was buffered is dropped, and the next event is the block at the
    /// source's position, taken to be at medium offset `offset`. `params` are the medium's.
    pub fn repositioned(&mut self, offset: u64, params: MediumParams) {
        self.pos = offset;
        self.start = self.aligned_index();
        self.end = self.start;
        self.eof = false;
        self.filemark = false;
        self.stream = None;
        self.data_left = 0;
        self.pending.clear();
        self.params = params;
        self.state = State::Block;
    }

    /// Reads exactly `len` bytes at `offset` (a byte-stream source that can seek), leaving the
    /// reader positioned after them in the Block state. For catalog look-ups.
    pub fn read_at(&mut self, offset: u64, len: usize) -> Result<Option<Vec<u8>>> {
        let params = self.params;
        if !self.seek_to_block(offset, params)? {
            return Ok(None);
        }
        let want = len.min(self.cap / 2);
        let ahead = std::mem::replace(&mut self.read_ahead, 512);
        let have = self.fill(want);
        self.read_ahead = ahead;
        let have = have?;
        if have < want {
            return Ok(None);
        }
        let v = self.buf[self.start..self.start + want].to_vec();
        self.consume(want);
        Ok(Some(v))
    }

    /// How much to ask for when reading data: the read-ahead, or in exact mode (which reads
    /// only what headers need) a walk's chunk.
    fn data_ahead(&self) -> usize {
        if self.exact {
            crate::walk::CHUNK
        } else {
            self.read_ahead
        }
    }

    fn buffered(&self) -> usize {
        self.end - self.start
    }

    /// Passes `n` buffered bytes that no event hands out (a pad, damaged bytes): in exact mode
    /// they are kept for the walk.
    fn pass(&mut self, n: usize, pad: bool) {
        if self.exact && n > 0 {
            let bytes = &self.buf[self.start..self.start + n];
            match self.passed.last_mut() {
                Some(p) if p.pad == pad && p.offset + p.bytes.len() as u64 == self.pos => {
                    // Grown by half again at most, not doubled: a long damaged run is held
                    // about once, which keeps the walk's heap within its bound (fuzz finding).
                    if p.bytes.len() + bytes.len() > p.bytes.capacity() {
                        p.bytes.reserve_exact((p.bytes.len() / 2).max(bytes.len()));
                    }
                    p.bytes.extend_from_slice(bytes)
                }
                _ => {
                    self.passed.reserve_exact(1);
                    self.passed.push(Passed {
                        offset: self.pos,
                        bytes: bytes.to_vec(),
                        pad,
                    })
                }
            }
        }
        self.consume(n);
    }

    fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.buffered());
        self.start += n;
        self.pos += n as u64;
        if self.start == self.end {
            self.start = self.aligned_index();
            self.end = self.start;
        }
    }

    /// Where in the buffer the byte at `pos` should sit so that file offsets and buffer
    /// addresses agree modulo a page: the kernel copies into user space much faster then.
    fn aligned_index(&self) -> usize {
        if self.block_device || self.exact {
            0
        } else {
            (self.pos % 4096) as usize
        }
    }

    /// Makes up to `n` bytes available (fewer only at end of data or a filemark). `n` is capped
    /// by the buffer, so a length field cannot make it grow.
    fn fill(&mut self, n: usize) -> io::Result<usize> {
        let n = n.min(self.cap / 2);
        while self.buffered() < n && !self.eof && !self.filemark {
            let cap = self.cap;
            let room_needed = if self.block_device {
                self.src.max_block_len().min(cap / 2)
            } else {
                (n - self.buffered()).max(self.read_ahead.min(cap / 2))
            };
            // Exact mode moves the unread bytes to the front before its buffer would grow (or
            // once a read step's worth was consumed): memory follows what is unread.
            let compact_exact = self.exact
                && self.start > 0
                && (self.end + room_needed.min(crate::walk::READ_STEP) > self.buf.len()
                    || self.start >= crate::walk::READ_STEP);
            if cap - self.end < room_needed || compact_exact {
                let dst = self.aligned_index();
                let len = self.buffered();
                self.buf.copy_within(self.start..self.end, dst);
                self.start = dst;
                self.end = dst + len;
            }
            let mut want = if self.block_device {
                cap - self.end
            } else {
                room_needed.min(cap - self.end)
            };
            if self.exact {
                // Grow by what is asked, a step at a time: a length field claiming gigabytes
                // costs one step beyond the bytes really there.
                want = want.min(crate::walk::READ_STEP);
                let need = self.end + want;
                if need > self.buf.len() {
                    self.buf.reserve_exact(need - self.buf.len());
                    self.buf.resize(need, 0);
                }
            }
            let got = self
                .src
                .read_block(&mut self.buf[self.end..self.end + want])?;
            if let Some(k) = self.note_read(got, want) {
                self.end += k;
            }
        }
        Ok(self.buffered().min(n))
    }

    /// Takes note of a read from the source of at most `want` bytes: the bytes it placed
    /// (counted), or `None` for a filemark or the end of data (flagged).
    fn note_read(&mut self, got: BlockRead, want: usize) -> Option<usize> {
        match got {
            BlockRead::Data(k) => {
                let k = k.min(want);
                self.bytes_read += k as u64;
                self.reads += 1;
                if self.block_device && self.record_len.is_none() {
                    self.record_len = Some(k);
                }
                Some(k)
            }
            BlockRead::Filemark => {
                self.filemark = true;
                None
            }
            BlockRead::EndOfData => {
                self.eof = true;
                None
            }
        }
    }

    /// Skips `n` bytes: from the buffer, then by seeking when the source can (checked against
    /// the total length), else by reading. Returns how many bytes were actually passed (fewer at
    /// end of data or a filemark).
    fn skip_bytes(&mut self, n: u64) -> io::Result<u64> {
        let from_buf = (self.buffered() as u64).min(n) as usize;
        self.consume(from_buf);
        let mut left = n - from_buf as u64;
        if left == 0 {
            return Ok(n);
        }
        if !self.block_device && !self.eof && !self.filemark {
            let room = self.total_len.map(|t| t.saturating_sub(self.pos));
            let step = room.map_or(left, |r| r.min(left));
            if step > 0 && self.src.skip(step)? {
                self.pos += step;
                self.bytes_skipped += step;
                left -= step;
                if left > 0 {
                    self.eof = true;
                }
                return Ok(n - left);
            }
        }
        while left > 0 {
            let have = self.fill((left as usize).min(self.data_ahead()).max(1))?;
            if have == 0 {
                break;
            }
            let k = (have as u64).min(left) as usize;
            self.consume(k);
            left -= k as u64;
        }
        Ok(n - left)
    }

    /// Queues an event to hand out before anything else is read (at `at`, or last). The queue
    /// holds at most a few events; it grows one at a time, so that a short input costs only the
    /// events it yields.
    fn queue(&mut self, at: usize, ev: Event) {
        self.pending.reserve_exact(1);
        self.pending.insert(at.min(self.pending.len()), ev);
    }

    /// Records damage: in strict mode it is the error that ends the read; in resync mode an
    /// event, after which the reader scans for the next valid block header.
    fn damage(&mut self, err: Error, allow_here: bool) -> Result<()> {
        if self.mode == Mode::Strict {
            self.state = State::Done;
            return Err(err);
        }
        self.state = State::Resync {
            reason: Some(err),
            allow_here,
        };
        Ok(())
    }

    /// A truncation (end of data or a filemark inside a structure): there is nothing to resync
    /// over; the reader goes on after the filemark, or ends.
    fn truncation(&mut self, err: Error, missing: u64) -> Result<()> {
        if self.mode == Mode::Strict {
            self.state = State::Done;
            return Err(err);
        }
        self.queue(
            usize::MAX,
            Event::Damage(Damage {
                offset: self.pos,
                len: missing,
                reason: err,
            }),
        );
        self.state = if self.filemark {
            State::Block
        } else {
            State::Done
        };
        Ok(())
    }

    fn truncated(&self, what: &'static str, needed: u64, available: u64) -> Error {
        Error::Truncated {
            offset: self.pos,
            what,
            needed,
            available,
        }
    }

    /// The next event, or `None` at the end of the medium. In strict mode the first damage is
    /// an `Err`; in resync mode it is an [`Event::Damage`] and reading goes on. I/O errors are
    /// always `Err`.
    #[allow(clippy::should_implement_trait)]
    pub fn next_event(&mut self) -> Result<Option<Event>> {
        loop {
            if !self.pending.is_empty() {
                let ev = self.pending.remove(0);
                if self.pending.is_empty() {
                    self.pending = Vec::new();
                }
                return Ok(Some(ev));
            }
            match std::mem::replace(&mut self.state, State::Done) {
                State::Done => return Ok(None),
                State::Start => {
                    let have = self.fill(8)?;
                    let head = &self.buf[self.start..self.start + have];
                    if head == MSSQLBAK_MAGIC {
                        return Err(Error::SqlServerCompressed);
                    }
                    if head.len() < 4 {
                        return Err(Error::ShortMedium { len: head.len() });
                    }
                    if head[..4] != BlockType::TAPE.0 {
                        let mut found = [0u8; 4];
                        found.copy_from_slice(&head[..4]);
                        return Err(Error::NotMtf { found });
                    }
                    self.state = State::Block;
                }
                State::Block => {
                    if let Some(ev) = self.block()? {
                        return Ok(Some(ev));
                    }
                }
                State::Streams => {
                    if let Some(ev) = self.stream_header()? {
                        return Ok(Some(ev));
                    }
                }
                State::Data { spad } => {
                    self.state = State::Data { spad };
                    self.skip_data()?;
                }
                State::Pad { spad } => {
                    let pad = (align_up(self.pos, STREAM_ALIGN) - self.pos) as usize;
                    if pad > 0 {
                        let have = self.fill(pad)?;
                        self.pass(have.min(pad), true);
                    }
                    self.state = if spad { State::Block } else { State::Streams };
                }
                State::Resync { reason, allow_here } => {
                    if let Some(ev) = self.resync(reason, allow_here)? {
                        return Ok(Some(ev));
                    }
                }
            }
        }
    }

    fn block(&mut self) -> Result<Option<Event>> {
        let have = self.fill(DB_HDR_LEN)?;
        if have == 0 {
            if self.filemark {
                self.filemark = false;
                self.filemarks += 1;
                self.last_was_filemark = true;
                self.state = State::Block;
                return Ok(Some(Event::Filemark { offset: self.pos }));
            }
            self.state = State::Done;
            if let Some(d) = self.cut_without_eotm()? {
                return Ok(Some(d));
            }
            return self.end_without_filemark();
        }
        if have < DB_HDR_LEN {
            let e = self.truncated("block header", DB_HDR_LEN as u64, have as u64);
            if self.filemark {
                // A short record before a filemark: damage, then the filemark.
                self.damage(e, false)?;
                return Ok(None);
            }
            self.pass(have, false);
            self.truncation(e, (DB_HDR_LEN - have) as u64)?;
            return Ok(None);
        }
        let header = match DbHeader::parse(&self.buf[self.start..self.end]) {
            Ok(h) => h,
            Err(e) => {
                self.damage(e.at(self.pos), false)?;
                return Ok(None);
            }
        };
        let sfmb_len = if header.block_type == BlockType::SFMB {
            self.params.soft_filemark_len
        } else {
            None
        };
        let len = match Dblk::region_len(&header, sfmb_len) {
            Ok(n) => n,
            Err(e) => {
                self.damage(e.at(self.pos), false)?;
                return Ok(None);
            }
        };
        if len > self.cap / 2 {
            let e = Error::Invalid {
                offset: self.pos + 8,
                field: "block header region",
                reason: format!("{len} bytes is beyond what a block header region can be"),
            };
            self.damage(e, false)?;
            return Ok(None);
        }
        let have = self.fill(len)?;
        if have < len {
            // Either the medium is cut short or the header is nonsense that passed its
            // checksum: resync either way (a real truncation leaves nothing to find).
            let e = self.truncated("block header region", len as u64, have as u64);
            self.damage(e, false)?;
            return Ok(None);
        }
        let dblk = match Dblk::parse_region(header, &self.buf[self.start..self.start + len]) {
            Ok(d) => d,
            Err(e) => {
                self.damage(e.at(self.pos), false)?;
                return Ok(None);
            }
        };
        let offset = self.pos;
        self.consume(len);
        self.last_was_filemark = dblk.block_type() == BlockType::SFMB;
        // After a stream cut, the end-of-medium procedure: soft filemarks, then EOTM.
        let cut_damage = match dblk.block_type() {
            BlockType::EOTM => {
                self.cut = None;
                None
            }
            BlockType::SFMB => None,
            _ => self.cut_without_eotm()?,
        };
        if let Body::Tape(t) = &dblk.body {
            if let Err(e) = self.learn_tape(offset, t) {
                if self.mode == Mode::Strict {
                    self.state = State::Done;
                    return Err(e);
                }
                self.queue(
                    usize::MAX,
                    Event::Damage(Damage {
                        offset,
                        len: 0,
                        reason: e,
                    }),
                );
            }
        }
        // The first stream header, like every other, starts on a 4-byte boundary: at Offset To
        // First Event rounded up (NTBackup's ESET ends at 85, its SPAD is at 88).
        self.state = if dblk.block_type() == BlockType::SFMB {
            State::Block
        } else {
            State::Pad { spad: false }
        };
        let ev = Event::Block { offset, dblk };
        if let Some(d) = cut_damage {
            self.queue(0, ev);
            self.queue(0, d);
            Ok(None)
        } else if self.pending.is_empty() {
            Ok(Some(ev))
        } else {
            self.queue(0, ev);
            Ok(None)
        }
    }

    /// The data ends: on a soft-filemark medium it must end with a filemark (an SFMB), as every
    /// section of an MTF medium does (the media header, each set, the end-of-medium procedure).
    /// Data that ends anywhere else was cut short, even on a block boundary.
    fn end_without_filemark(&mut self) -> Result<Option<Event>> {
        if !self.params.soft_filemarks || self.last_was_filemark || self.pos == 0 {
            return Ok(None);
        }
        let reason = Error::Truncated {
            offset: self.pos,
            what: "medium (it ends without its closing soft filemark)",
            needed: self.params.soft_filemark_len.unwrap_or(0) as u64,
            available: 0,
        };
        if self.mode == Mode::Strict {
            return Err(reason);
        }
        Ok(Some(Event::Damage(Damage {
            offset: self.pos,
            len: 0,
            reason,
        })))
    }

    /// A stream was cut at end of medium but what follows is not the end-of-medium procedure
    /// (another block, or the end of the data): the cut was damage after all.
    fn cut_without_eotm(&mut self) -> Result<Option<Event>> {
        let Some((offset, remaining)) = self.cut.take() else {
            return Ok(None);
        };
        let reason = Error::Truncated {
            offset,
            what: "stream data (cut at a filemark, and no EOTM follows)",
            needed: remaining,
            available: 0,
        };
        if self.mode == Mode::Strict {
            self.state = State::Done;
            return Err(reason);
        }
        Ok(Some(Event::Damage(Damage {
            offset,
            len: remaining,
            reason,
        })))
    }

    /// Ends the current stream's data here: the medium's end-of-medium mark follows.
    fn cut_stream(&mut self) {
        let remaining = self.data_left;
        self.data_left = 0;
        self.cut = Some((self.pos, remaining));
        self.state = State::Block;
        self.queue(
            usize::MAX,
            Event::StreamCut {
                offset: self.pos,
                remaining,
            },
        );
    }

    /// How close to the end of the medium an end-of-medium mark must lie: the procedure takes
    /// three soft filemark blocks (SFMB, EOTM, SFMB); up to eight are allowed, as far as the
    /// buffer can hold them (a source of unknown length reads that far ahead to confirm the
    /// end). 0 when not even one block fits: no cut is recognised then.
    fn cut_tail(&self, sfm: usize) -> u64 {
        let fit = (self.cap / 2).saturating_sub(1) / sfm.max(1);
        (fit.min(END_OF_MEDIUM_TAIL_BLOCKS) * sfm) as u64
    }

    /// How much of the current stream's data can be passed before an end-of-medium mark could
    /// lie, and whether one lies right there (the stream is cut).
    ///
    /// On soft-filemark media the writer that met the end of its medium wrote an SFMB and an
    /// EOTM on physical block boundaries inside what the stream header declared (see
    /// [`crate::spec::is_end_of_medium_mark`]). A mark counts only within the medium's last
    /// blocks ([`Self::cut_tail`]): on a source of known length everything before them is passed
    /// without looking (so seeking and kernel copies stay fast); on a pipe each block boundary in
    /// the buffered data is checked and a mark confirmed by reading ahead to the end. Both
    /// kinds of source thus see the same cuts.
    fn uncut_len(&mut self) -> io::Result<(u64, bool)> {
        let left = self.data_left;
        let Some(sfm) = self
            .params
            .soft_filemark_len
            .filter(|_| self.params.soft_filemarks)
        else {
            return Ok((left, false));
        };
        // SPAD is padding up to a boundary that a filemark follows: nothing is cut there, and
        // not scanning it lets the padding in the medium's last blocks be seeked over.
        let padding = self.stream.as_ref().is_some_and(|h| h.id == StreamId::SPAD);
        if left == 0 || sfm == 0 || padding {
            return Ok((left, false));
        }
        let tail = self.cut_tail(sfm);
        if tail == 0 {
            return Ok((left, false));
        }
        if let Some(total) = self.total_len {
            let tail_start = total.saturating_sub(tail);
            if self.pos.saturating_add(left) <= tail_start {
                return Ok((left, false));
            }
            if self.pos < tail_start {
                return Ok((tail_start - self.pos, false));
            }
        }
        let have = self.fill((left.min(self.data_ahead() as u64) as usize).max(1))?;
        let span = (have as u64).min(left);
        let sfm64 = sfm as u64;
        let mut b = align_up(self.pos, sfm64);
        while b < self.pos + span {
            let at = (b - self.pos) as usize;
            let tag = at + BlockType::SFMB.0.len();
            // Where the buffer cannot hold what the check needs, hand out the data up to the
            // boundary and look again from there (at the boundary itself, give up on it, so
            // that reading always moves on).
            let more_to_come = at > 0 && !self.eof && !self.filemark;
            if self.fill(tag)? < tag {
                if more_to_come {
                    return Ok((at as u64, false));
                }
                break;
            }
            if self.buf[self.start + at..self.end].starts_with(&BlockType::SFMB.0) {
                let need = at + sfm + DB_HDR_LEN;
                let got = self.fill(need)?;
                if got < need && more_to_come && !self.eof && !self.filemark {
                    return Ok((at as u64, false));
                }
                if got >= need
                    && crate::spec::is_end_of_medium_mark(&self.buf[self.start + at..self.end], sfm)
                {
                    if self.total_len.is_some() {
                        // Only the tail is looked at, so the medium ends soon enough.
                        return Ok((at as u64, true));
                    }
                    // A source of unknown length: the medium must end within the tail too,
                    // the same rule as on a file.
                    let look = at + tail as usize + 1;
                    let got = self.fill(look)?;
                    if got < look && (self.eof || self.filemark) {
                        return Ok((at as u64, true));
                    }
                    if got < look && more_to_come {
                        return Ok((at as u64, false));
                    }
                }
            }
            b += sfm64;
        }
        Ok((span, false))
    }

    /// Takes the medium parameters from a TAPE block, refusing nonsense.
    fn learn_tape(&mut self, offset: u64, t: &crate::block::Tape) -> Result<()> {
        let soft = t.attributes.contains(TapeAttributes::SOFT_FILEMARK);
        self.params.soft_filemarks = soft;
        let flb = t.format_logical_block_size;
        if !VALID_FLB_SIZES.contains(&flb) {
            return Err(Error::Invalid {
                offset: offset + 84,
                field: "format logical block size",
                reason: format!("{flb}; MTF 1.00a allows 512 or 1024"),
            });
        }
        self.params.flb_size = Some(flb);
        let sfm = t.soft_filemark_bytes();
        if sfm > 0 {
            if sfm > self.cap / 4 {
                return Err(Error::Invalid {
                    offset: offset + 64,
                    field: "soft filemark block size",
                    reason: format!("{sfm} bytes is beyond any physical block size"),
                });
            }
            self.params.soft_filemark_len = Some(sfm);
        } else if soft {
            return Err(Error::Invalid {
                offset: offset + 64,
                field: "soft filemark block size",
                reason: "0 while the TAPE block says soft filemarks are in use".into(),
            });
        }
        Ok(())
    }

    fn stream_header(&mut self) -> Result<Option<Event>> {
        let have = self.fill(STREAM_HDR_LEN)?;
        if have < STREAM_HDR_LEN {
            let e = self.truncated("stream header", STREAM_HDR_LEN as u64, have as u64);
            if have > 0 && self.filemark {
                self.damage(e, false)?;
                return Ok(None);
            }
            self.pass(have, false);
            self.truncation(e, (STREAM_HDR_LEN - have) as u64)?;
            return Ok(None);
        }
        let header = match StreamHeader::parse(&self.buf[self.start..self.end]) {
            Ok(h) => h,
            Err(e) => {
                // Pre-1.00a writers let Offset To First Event (or a block's last stream) lead
                // straight to the next block, with no SPAD (spec Appendix D): where a block
                // header holds instead of a stream header, that block follows; no damage.
                if self.fill(DB_HDR_LEN)? >= DB_HDR_LEN
                    && DbHeader::looks_valid(&self.buf[self.start..self.end])
                {
                    self.state = State::Block;
                    return Ok(None);
                }
                let here = self.pos % RESYNC_ALIGN == 0;
                self.damage(e.at(self.pos), here)?;
                return Ok(None);
            }
        };
        let offset = self.pos;
        self.consume(STREAM_HDR_LEN);
        let spad = header.id == StreamId::SPAD;
        self.data_left = header.length;
        self.stream = Some(header.clone());
        self.state = State::Data { spad };
        Ok(Some(Event::Stream { offset, header }))
    }

    fn resync(&mut self, mut reason: Option<Error>, allow_here: bool) -> Result<Option<Event>> {
        let gap_start = self.pos;
        let mut cand = if allow_here && gap_start % RESYNC_ALIGN == 0 {
            gap_start
        } else {
            (gap_start / RESYNC_ALIGN + 1) * RESYNC_ALIGN
        };
        let gap = |this: &Self, reason: &mut Option<Error>| {
            let len = this.pos - gap_start;
            Damage {
                offset: gap_start,
                len,
                reason: reason.take().unwrap_or_else(|| Error::Invalid {
                    offset: gap_start,
                    field: "medium",
                    reason: "bytes that form no valid block".into(),
                }),
            }
        };
        loop {
            if self.exact && self.pos - gap_start >= crate::walk::CHUNK as u64 {
                // The walk hands out a long damaged range in pieces.
                self.state = State::Resync {
                    reason: None,
                    allow_here: true,
                };
                return Ok(Some(Event::Damage(gap(self, &mut reason))));
            }
            // Pass the bytes before the candidate.
            let dist = cand - self.pos;
            let passed = self.skip_read(dist)?;
            if passed < dist {
                // End of data or a filemark inside the gap.
                self.state = if self.filemark {
                    State::Block
                } else {
                    State::Done
                };
                if self.pos == gap_start && reason.is_none() {
                    return Ok(None);
                }
                return Ok(Some(Event::Damage(gap(self, &mut reason))));
            }
            let have = self.fill(DB_HDR_LEN)?;
            if have < DB_HDR_LEN {
                self.pass(have, false);
                self.state = if self.filemark {
                    State::Block
                } else {
                    State::Done
                };
                return Ok(Some(Event::Damage(gap(self, &mut reason))));
            }
            if DbHeader::looks_valid(&self.buf[self.start..self.end]) {
                self.state = State::Block;
                if self.pos == gap_start {
                    // Nothing to report as a gap (the damage was in a field, not in bytes);
                    // still say what was wrong.
                    return Ok(reason.map(|r| {
                        Event::Damage(Damage {
                            offset: gap_start,
                            len: 0,
                            reason: r,
                        })
                    }));
                }
                return Ok(Some(Event::Damage(gap(self, &mut reason))));
            }
            cand += RESYNC_ALIGN;
        }
    }

    /// Passes `n` damaged bytes by reading (the resync scan must look at every candidate).
    fn skip_read(&mut self, n: u64) -> io::Result<u64> {
        let mut left = n;
        while left > 0 {
            let have = self.fill((left as usize).min(self.data_ahead()).max(1))?;
            if have == 0 {
                break;
            }
            let k = (have as u64).min(left) as usize;
            self.pass(k, false);
            left -= k as u64;
        }
        Ok(n - left)
    }

    /// The header of the stream whose data is being read, if any.
    pub fn current_stream(&self) -> Option<&StreamHeader> {
        match self.state {
            State::Data { .. } => self.stream.as_ref(),
            _ => None,
        }
    }

    /// Bytes of the current stream's data not yet read.
    pub fn data_remaining(&self) -> u64 {
        match self.state {
            State::Data { .. } => self.data_left,
            _ => 0,
        }
    }

    fn data_done(&mut self) {
        if let State::Data { spad } = self.state {
            self.state = State::Pad { spad };
        }
    }

    fn data_truncated(&mut self) -> Result<()> {
        if self.filemark {
            // A hardware filemark inside the data: the end-of-medium procedure on tape.
            self.cut_stream();
            return Ok(());
        }
        let what = match &self.stream {
            Some(h) if h.id == StreamId::SPAD => "SPAD stream data",
            _ => "stream data",
        };
        let e = self.truncated(what, self.data_left, 0);
        let missing = self.data_left;
        self.data_left = 0;
        self.truncation(e, missing)
    }

    /// The next piece of the current stream's data (borrowed from the buffer), or `None` when
    /// the data is done (or cut short: the next event then reports the damage).
    pub fn read_data(&mut self) -> Result<Option<&[u8]>> {
        self.read_data_up_to(usize::MAX)
    }

    /// [`Reader::read_data`], handing out at most `limit` bytes.
    pub(crate) fn read_data_up_to(&mut self, limit: usize) -> Result<Option<&[u8]>> {
        if !matches!(self.state, State::Data { .. }) {
            return Ok(None);
        }
        if self.data_left == 0 {
            self.data_done();
            return Ok(None);
        }
        let (free, cut) = self.uncut_len()?;
        if free == 0 && cut {
            self.cut_stream();
            return Ok(None);
        }
        if self.buffered() == 0 {
            let want = (free.min(self.data_ahead() as u64) as usize).max(1);
            if self.fill(want)? == 0 {
                self.data_truncated()?;
                return Ok(None);
            }
        }
        let n = (self.buffered() as u64).min(free).min(limit as u64) as usize;
        let s = self.start;
        self.consume(n);
        self.data_left -= n as u64;
        Ok(Some(&self.buf[s..s + n]))
    }

    /// How big a buffer given to [`Reader::read_data_into`] must be for the source to read
    /// straight into it: a tape reads whole records, so its largest one; a byte stream any
    /// amount, but reads smaller than the read-ahead go through the reader's buffer.
    pub fn direct_read_room(&self) -> usize {
        if self.block_device {
            self.src.max_block_len()
        } else {
            self.read_ahead.max(1)
        }
    }

    /// [`Reader::read_data`] into the caller's buffer: the next piece of the current stream's
    /// data goes to the start of `dst` (at most `dst.len()` bytes), and how many bytes is
    /// returned; `None` when the data is done (or cut short, as with `read_data`). When nothing
    /// is buffered and `dst` holds [`Reader::direct_read_room`] bytes, the source reads straight
    /// into `dst`: a caller that keeps the bytes (hands them to another thread) saves a copy of
    /// every byte. A tape record that runs past the data leaves the rest in the reader's
    /// buffer. An empty `dst` gets `Some(0)`.
    pub fn read_data_into(&mut self, dst: &mut [u8]) -> Result<Option<usize>> {
        if dst.is_empty() {
            return Ok(Some(0));
        }
        // Everything but a read from the source into `dst` (the data's end, a cut, bytes
        // already buffered) is `read_data`'s, through the buffer.
        let direct = matches!(self.state, State::Data { .. })
            && self.data_left > 0
            && self.buffered() == 0
            && !self.exact
            && !self.eof
            && !self.filemark
            && dst.len() >= self.direct_read_room();
        if !direct {
            return self.read_buffered_into(dst);
        }
        let (free, _) = self.uncut_len()?;
        if self.buffered() > 0 || self.eof || self.filemark || free == 0 {
            // Looking for an end-of-medium mark read ahead: the data is in the buffer now, or
            // the medium ends or the stream is cut there, which the buffered path reports.
            return self.read_buffered_into(dst);
        }
        // A tape hands out a whole record, whatever follows the data in it; a byte stream
        // reads no further than the data that may be passed.
        let want = if self.block_device {
            // At most what the buffer could have read: what follows the data must fit in it.
            dst.len().min(self.cap / 2)
        } else {
            free.min(dst.len() as u64) as usize
        };
        let got = self.src.read_block(&mut dst[..want])?;
        let k = match self.note_read(got, want) {
            // An empty record holds nothing: on through the buffer, as `fill` goes on.
            Some(0) => return self.read_buffered_into(dst),
            Some(k) => k,
            None => {
                self.data_truncated()?;
                return Ok(None);
            }
        };
        let n = (k as u64).min(free) as usize;
        self.pos += n as u64;
        self.data_left -= n as u64;
        if k > n {
            // The record's bytes after the data (the next header, a pad) are the buffer's now,
            // as if they had been read into it.
            let rest = k - n;
            self.start = self.aligned_index();
            self.end = self.start + rest;
            self.buf[self.start..self.end].copy_from_slice(&dst[n..k]);
        }
        Ok(Some(n))
    }

    /// [`Reader::read_data_into`] through the reader's buffer: a copy.
    fn read_buffered_into(&mut self, dst: &mut [u8]) -> Result<Option<usize>> {
        Ok(self.read_data_up_to(dst.len())?.map(|piece| {
            dst[..piece.len()].copy_from_slice(piece);
            piece.len()
        }))
    }

    /// Reads the rest of the current stream's data into memory, if it is at most `limit` bytes;
    /// larger data is skipped and `None` returned. For small metadata streams.
    pub fn read_data_to_vec(&mut self, limit: usize) -> Result<Option<Vec<u8>>> {
        if self.data_remaining() > limit as u64 {
            self.skip_data()?;
            return Ok(None);
        }
        let mut v = Vec::with_capacity(self.data_remaining() as usize);
        while let Some(chunk) = self.read_data()? {
            v.extend_from_slice(chunk);
        }
        if !self.pending.is_empty() {
            return Ok(None);
        }
        Ok(Some(v))
    }

    /// Skips the rest of the current stream's data (seeking when the source can).
    pub fn skip_data(&mut self) -> Result<()> {
        self.pass_data(|r, n| {
            let got = r.skip_bytes(n)?;
            r.data_left -= got;
            Ok(got)
        })
        .map(|_| ())
    }

    /// Copies the rest of the current stream's data to `w`, in the kernel when both ends are
    /// files. Returns the bytes copied; fewer than the stream's length if it was cut short (the
    /// next event reports the damage).
    pub fn copy_data<W: Write>(&mut self, w: &mut W) -> Result<u64> {
        self.pass_data(|r, n| r.copy_some(w, n))
    }

    /// Passes the rest of the current stream's data in steps that stop short of any
    /// end-of-medium mark: `step(self, n)` passes up to `n` bytes (taking them off
    /// `data_left`) and says how many it passed. Ends at the data's end, at a cut (reported as
    /// [`Event::StreamCut`]) or where the medium ends early (reported as damage). Returns the
    /// bytes passed.
    fn pass_data(&mut self, mut step: impl FnMut(&mut Self, u64) -> Result<u64>) -> Result<u64> {
        let mut passed = 0u64;
        while matches!(self.state, State::Data { .. }) {
            if self.data_left == 0 {
                self.data_done();
                break;
            }
            let (free, cut) = self.uncut_len()?;
            if free == 0 && cut {
                self.cut_stream();
                break;
            }
            let got = step(self, free)?;
            passed += got;
            if got < free || got == 0 {
                self.data_truncated()?;
                break;
            }
        }
        Ok(passed)
    }

    /// Copies up to `n` bytes of the current stream's data to `w` (no end-of-medium mark lies
    /// within them), in the kernel when both ends are files. Fewer only at end of data or a
    /// filemark.
    fn copy_some<W: Write>(&mut self, w: &mut W, n: u64) -> Result<u64> {
        let mut left = n;
        let from_buf = (self.buffered() as u64).min(left) as usize;
        if from_buf > 0 {
            w.write_all(&self.buf[self.start..self.start + from_buf])?;
            self.consume(from_buf);
            left -= from_buf as u64;
        }
        if left > 0 && !self.block_device && !self.eof && !self.filemark {
            if let Some(f) = self.src.as_file() {
                let k = crate::fileio::copy_from_file(f, left, w)?;
                self.pos += k;
                self.bytes_read += k;
                self.reads += 1;
                left -= k;
                if left > 0 {
                    self.eof = true;
                }
            }
        }
        while left > 0 {
            let have = self.fill((left.min(self.data_ahead() as u64) as usize).max(1))?;
            if have == 0 {
                break;
            }
            let k = (have as u64).min(left) as usize;
            w.write_all(&self.buf[self.start..self.start + k])?;
            self.consume(k);
            left -= k as u64;
        }
        let done = n - left;
        self.data_left -= done;
        Ok(done)
    }
}

impl<S: BlockSource> std::fmt::Debug for Reader<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("pos", &self.pos)
            .field("state", &self.state)
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}
