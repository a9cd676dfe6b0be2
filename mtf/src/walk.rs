//! Cutting a medium into its pieces: blocks, stream headers, stream data, alignment pads and
//! gaps, in medium order, from any `Read`, with bounded memory.
//!
//! This is the codec's own walk: it knows the framing rules (header checksums, Offset To First
//! Event, 4-byte stream alignment, SPAD ends a block, an SFMB fills one soft filemark block) and
//! nothing about data sets. Every byte of the input comes out in exactly one event, so writing
//! the events back with [`Event::write_raw`] reproduces the input; that is the round trip.
//!
//! After damage (a bad checksum, garbage) the default mode *resyncs*: it reports the bad bytes as
//! a [`Event::Gap`] with the reason, then scans 512-byte boundaries (the smallest FLB; SQL Server
//! places blocks on 512-byte boundaries even where its FLB is 1024) for the next block header
//! whose checksum holds, and carries on. Strict mode stops at the first error instead.

use crate::block::{Body, Dblk};
use crate::error::{Error, Result};
use crate::header::DbHeader;
use crate::spec::{align_up, BlockType, StreamId, DB_HDR_LEN, STREAM_ALIGN, STREAM_HDR_LEN};
use crate::stream::StreamHeader;
use std::io::{self, Read, Write};

/// Largest piece of stream data or gap handed out at once.
pub const CHUNK: usize = 64 * 1024;
/// Most the read buffer grows by ahead of the data actually read.
pub const READ_STEP: usize = 8 * 1024;
/// Granularity of the resync scan.
pub const RESYNC_ALIGN: u64 = 512;
/// Magic of SQL Server's compressed backup container.
pub const MSSQLBAK_MAGIC: &[u8; 8] = b"MSSQLBAK";

/// One piece of a medium.
#[derive(Debug)]
pub enum Event {
    /// A descriptor block's header region (everything before its first stream).
    Block { offset: u64, dblk: Dblk },
    /// A stream header.
    Stream { offset: u64, header: StreamHeader },
    /// A piece of the current stream's data (at most [`CHUNK`] bytes).
    Data { offset: u64, bytes: Vec<u8> },
    /// The bytes between a stream's data and the next 4-byte boundary (zero on valid media).
    Pad { offset: u64, bytes: Vec<u8> },
    /// Bytes that form no valid structure. `reason` is set on the first piece of a gap.
    Gap {
        offset: u64,
        bytes: Vec<u8>,
        reason: Option<Error>,
    },
    /// The current stream's data stops here, at the end of the medium: a soft filemark
    /// followed by an EOTM stands where its data would go on. `remaining` bytes of it continue
    /// on the next medium (in a stream with the CONTINUE attribute). Carries no bytes.
    StreamCut { offset: u64, remaining: u64 },
}

impl Event {
    /// Where the event's bytes start on the medium.
    pub fn offset(&self) -> u64 {
        match self {
            Event::Block { offset, .. }
            | Event::Stream { offset, .. }
            | Event::Data { offset, .. }
            | Event::Pad { offset, .. }
            | Event::Gap { offset, .. }
            | Event::StreamCut { offset, .. } => *offset,
        }
    }

    /// How many bytes of the medium the event covers.
    pub fn len(&self) -> u64 {
        match self {
            Event::Block { dblk, .. } => dblk.encoded_len() as u64,
            Event::Stream { .. } => STREAM_HDR_LEN as u64,
            Event::Data { bytes, .. } | Event::Pad { bytes, .. } | Event::Gap { bytes, .. } => {
                bytes.len() as u64
            }
            Event::StreamCut { .. } => 0,
        }
    }

    /// Whether the event covers no bytes (a [`Event::StreamCut`]).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes the event's bytes exactly as they were read.
    pub fn write_raw(&self, out: &mut (impl Write + ?Sized)) -> io::Result<()> {
        match self {
            Event::Block { dblk, .. } => {
                let mut v = Vec::with_capacity(dblk.encoded_len());
                dblk.write_raw(&mut v);
                out.write_all(&v)
            }
            Event::Stream { header, .. } => {
                let mut v = Vec::with_capacity(STREAM_HDR_LEN);
                header.write_raw(&mut v);
                out.write_all(&v)
            }
            Event::Data { bytes, .. } | Event::Pad { bytes, .. } | Event::Gap { bytes, .. } => {
                out.write_all(bytes)
            }
            Event::StreamCut { .. } => Ok(()),
        }
    }
}

/// How the walk treats damage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Mode {
    /// Report damage as gaps and carry on at the next valid block.
    #[default]
    Resync,
    /// Stop with an error at the first damage.
    Strict,
}

#[derive(Debug)]
enum State {
    Start,
    Block,
    Streams,
    Data {
        remaining: u64,
    },
    /// Up to the next 4-byte boundary; then a block after SPAD, else a stream header.
    Pad {
        spad: bool,
    },
    Resync {
        reason: Option<Error>,
        allow_here: bool,
    },
    Done,
}

/// The walk over a medium. Iterate it for `Result<Event>`; an `Err` ends the walk.
pub struct Walker<R> {
    src: R,
    buf: Vec<u8>,
    start: usize,
    eof: bool,
    pos: u64,
    state: State,
    mode: Mode,
    stream: Option<StreamId>,
    sfmb_len: Option<usize>,
    flb: Option<u16>,
    /// The medium uses soft filemarks, so a stream cut at end of medium shows only in-band.
    soft_filemarks: bool,
}

impl<R: Read> Walker<R> {
    /// A walk in resync mode.
    pub fn new(src: R) -> Self {
        Self::with_mode(src, Mode::Resync)
    }

    /// A walk in the given mode.
    pub fn with_mode(src: R, mode: Mode) -> Self {
        Walker {
            src,
            buf: Vec::new(),
            start: 0,
            eof: false,
            pos: 0,
            state: State::Start,
            mode,
            stream: None,
            sfmb_len: None,
            flb: None,
            soft_filemarks: false,
        }
    }

    /// The medium offset of the next unread byte.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// The Format Logical Block size from the TAPE block, once seen.
    pub fn flb_size(&self) -> Option<u16> {
        self.flb
    }

    /// The soft filemark block size in bytes from the TAPE block, once seen.
    pub fn soft_filemark_len(&self) -> Option<usize> {
        self.sfmb_len
    }

    fn buffered(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Makes up to `n` bytes available; fewer only at end of input.
    ///
    /// `n` may come from a length field (an SFMB size, say), so the buffer never grows by more
    /// than [`READ_STEP`] beyond the bytes actually read: a huge claimed size on a short input
    /// costs at most one step.
    fn fill(&mut self, n: usize) -> io::Result<usize> {
        if self.buffered().len() < n && !self.eof {
            if self.start > 0 {
                self.buf.drain(..self.start);
                self.start = 0;
            }
            while self.buf.len() < n && !self.eof {
                let old = self.buf.len();
                let step = (n - old).min(READ_STEP);
                self.buf.reserve_exact(step);
                self.buf.resize(old + step, 0);
                let got = loop {
                    match self.src.read(&mut self.buf[old..]) {
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        r => break r,
                    }
                };
                match got {
                    Ok(0) => {
                        self.buf.truncate(old);
                        self.eof = true;
                    }
                    Ok(k) => self.buf.truncate(old + k),
                    Err(e) => {
                        self.buf.truncate(old);
                        return Err(e);
                    }
                }
            }
        }
        Ok(self.buffered().len().min(n))
    }

    /// On soft-filemark media, looks for the end-of-medium mark inside the next `have` bytes of
    /// stream data: an SFMB on a physical block boundary whose header checksum holds, followed
    /// by an EOTM whose checksum holds. Returns how many data bytes precede it, if found.
    fn cut_within(&mut self, have: usize) -> io::Result<Option<usize>> {
        let Some(block) = self.sfmb_len.filter(|_| self.soft_filemarks) else {
            return Ok(None);
        };
        let block = block as u64;
        let mut b = crate::spec::align_up(self.pos, block);
        while b < self.pos + have as u64 {
            let at = (b - self.pos) as usize;
            // The data may end less than four bytes after the boundary: read the whole tag.
            let tag = at + BlockType::SFMB.0.len();
            if self.fill(tag)? >= tag && self.buffered()[at..].starts_with(&BlockType::SFMB.0) {
                let need = at + block as usize + DB_HDR_LEN;
                let got = self.fill(need)?;
                if got >= need && is_end_of_medium_mark(&self.buffered()[at..], block as usize) {
                    return Ok(Some(at));
                }
            }
            b += block;
        }
        Ok(None)
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.buffered().len());
        let v = self.buf[self.start..self.start + n].to_vec();
        self.consume(n);
        v
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        self.pos += n as u64;
    }

    /// Enters damage handling: in strict mode the error ends the walk, else a gap follows.
    fn damage(&mut self, err: Error, allow_here: bool) -> Option<Result<Event>> {
        if self.mode == Mode::Strict {
            self.state = State::Done;
            return Some(Err(err));
        }
        self.state = State::Resync {
            reason: Some(err),
            allow_here,
        };
        self.next()
    }

    fn truncated(&mut self, what: &'static str, needed: usize, have: usize) -> Error {
        Error::Truncated {
            offset: self.pos,
            what,
            needed: needed as u64,
            available: have as u64,
        }
    }

    fn step(&mut self) -> Option<Result<Event>> {
        let io_err = |e: io::Error| Some(Err(Error::Io(e)));
        match std::mem::replace(&mut self.state, State::Done) {
            State::Done => None,
            State::Start => {
                let have = match self.fill(8) {
                    Ok(n) => n,
                    Err(e) => return io_err(e),
                };
                let head = &self.buffered()[..have];
                if head == MSSQLBAK_MAGIC {
                    return Some(Err(Error::SqlServerCompressed));
                }
                if head.len() < 4 || head[..4] != BlockType::TAPE.0 {
                    let mut found = [0u8; 4];
                    found[..head.len().min(4)].copy_from_slice(&head[..head.len().min(4)]);
                    return Some(Err(Error::NotMtf { found }));
                }
                self.state = State::Block;
                self.step()
            }
            State::Block => {
                let have = match self.fill(DB_HDR_LEN) {
                    Ok(n) => n,
                    Err(e) => return io_err(e),
                };
                if have == 0 {
                    return None;
                }
                if have < DB_HDR_LEN {
                    let e = self.truncated("block header", DB_HDR_LEN, have);
                    return self.damage(e, false);
                }
                let header = match DbHeader::parse(self.buffered()) {
                    Ok(h) => h,
                    Err(e) => return self.damage(e.at(self.pos), false),
                };
                let sfmb_len = if header.block_type == BlockType::SFMB {
                    self.sfmb_len
                } else {
                    None
                };
                let len = match Dblk::region_len(&header, sfmb_len) {
                    Ok(n) => n,
                    Err(e) => return self.damage(e.at(self.pos), false),
                };
                let have = match self.fill(len) {
                    Ok(n) => n,
                    Err(e) => return io_err(e),
                };
                if have < len {
                    let e = self.truncated("block header region", len, have);
                    return self.damage(e, false);
                }
                let dblk = match Dblk::parse_region(header, &self.buffered()[..len]) {
                    Ok(d) => d,
                    Err(e) => return self.damage(e.at(self.pos), false),
                };
                if let Body::Tape(t) = &dblk.body {
                    self.flb = Some(t.format_logical_block_size);
                    self.soft_filemarks = t
                        .attributes
                        .contains(crate::spec::TapeAttributes::SOFT_FILEMARK);
                    if t.soft_filemark_block_size > 0 {
                        self.sfmb_len = Some(t.soft_filemark_bytes());
                    }
                }
                let offset = self.pos;
                self.consume(len);
                // The first stream header, like every other, starts on a 4-byte boundary: at
                // Offset To First Event rounded up (NTBackup's ESET ends at 85, its SPAD is at 88).
                self.state = if dblk.block_type() == BlockType::SFMB {
                    State::Block
                } else {
                    State::Pad { spad: false }
                };
                Some(Ok(Event::Block { offset, dblk }))
            }
            State::Streams => {
                let have = match self.fill(STREAM_HDR_LEN) {
                    Ok(n) => n,
                    Err(e) => return io_err(e),
                };
                if have < STREAM_HDR_LEN {
                    let e = self.truncated("stream header", STREAM_HDR_LEN, have);
                    if have == 0 {
                        self.state = State::Done;
                        return Some(Err(e));
                    }
                    return self.damage(e, false);
                }
                let header = match StreamHeader::parse(self.buffered()) {
                    Ok(h) => h,
                    Err(e) => {
                        let here = self.pos % RESYNC_ALIGN == 0;
                        return self.damage(e.at(self.pos), here);
                    }
                };
                let offset = self.pos;
                self.consume(STREAM_HDR_LEN);
                self.stream = Some(header.id);
                self.state = if header.length == 0 {
                    State::Pad {
                        spad: header.id == StreamId::SPAD,
                    }
                } else {
                    State::Data {
                        remaining: header.length,
                    }
                };
                Some(Ok(Event::Stream { offset, header }))
            }
            State::Data { remaining } => {
                let n = remaining.min(CHUNK as u64) as usize;
                let have = match self.fill(n) {
                    Ok(k) => k,
                    Err(e) => return io_err(e),
                };
                if have == 0 {
                    let id = self.stream.unwrap_or(StreamId([0; 4]));
                    let e = Error::Truncated {
                        offset: self.pos,
                        what: if id == StreamId::SPAD {
                            "SPAD stream data"
                        } else {
                            "stream data"
                        },
                        needed: remaining,
                        available: 0,
                    };
                    return Some(Err(e));
                }
                let have = match self.cut_within(have) {
                    Ok(Some(0)) => {
                        self.state = State::Block;
                        return Some(Ok(Event::StreamCut {
                            offset: self.pos,
                            remaining,
                        }));
                    }
                    Ok(Some(k)) => k,
                    Ok(None) => have,
                    Err(e) => return io_err(e),
                };
                let offset = self.pos;
                let bytes = self.take(have);
                let left = remaining - have as u64;
                self.state = if left == 0 {
                    State::Pad {
                        spad: self.stream == Some(StreamId::SPAD),
                    }
                } else {
                    State::Data { remaining: left }
                };
                Some(Ok(Event::Data { offset, bytes }))
            }
            State::Pad { spad } => {
                let pad = (align_up(self.pos, STREAM_ALIGN) - self.pos) as usize;
                let next = if spad {
                    State::Block
                } else {
                    State::Streams
                };
                if pad == 0 {
                    self.state = next;
                    return self.step();
                }
                let have = match self.fill(pad) {
                    Ok(k) => k,
                    Err(e) => return io_err(e),
                };
                self.state = next;
                if have == 0 {
                    return self.step();
                }
                let offset = self.pos;
                let bytes = self.take(have);
                Some(Ok(Event::Pad { offset, bytes }))
            }
            State::Resync {
                mut reason,
                allow_here,
            } => {
                let offset = self.pos;
                let mut cand = if allow_here && offset % RESYNC_ALIGN == 0 {
                    offset
                } else {
                    (offset / RESYNC_ALIGN + 1) * RESYNC_ALIGN
                };
                loop {
                    let dist = (cand - offset) as usize;
                    if dist >= CHUNK {
                        let bytes = self.take(CHUNK);
                        // The chunk end is 512-aligned when the gap start was; check it next.
                        self.state = State::Resync {
                            reason: None,
                            allow_here: true,
                        };
                        return Some(Ok(Event::Gap {
                            offset,
                            bytes,
                            reason: reason.take(),
                        }));
                    }
                    let have = match self.fill(dist + DB_HDR_LEN) {
                        Ok(k) => k,
                        Err(e) => return io_err(e),
                    };
                    if have < dist + DB_HDR_LEN {
                        // No further header: the rest of the input is the gap.
                        let rest = self.buffered().len();
                        if rest == 0 {
                            return None;
                        }
                        let bytes = self.take(rest.min(CHUNK));
                        self.state = State::Resync {
                            reason: None,
                            allow_here: false,
                        };
                        return Some(Ok(Event::Gap {
                            offset,
                            bytes,
                            reason: reason.take(),
                        }));
                    }
                    if DbHeader::looks_valid(&self.buffered()[dist..]) {
                        self.state = State::Block;
                        if dist == 0 {
                            return self.step();
                        }
                        let bytes = self.take(dist);
                        return Some(Ok(Event::Gap {
                            offset,
                            bytes,
                            reason: reason.take(),
                        }));
                    }
                    cand += RESYNC_ALIGN;
                }
            }
        }
    }
}

impl<R: Read> Iterator for Walker<R> {
    type Item = Result<Event>;

    fn next(&mut self) -> Option<Result<Event>> {
        self.step()
    }
}

/// Whether `bytes` (from a physical block boundary) begin with the mark a writer leaves where it
/// met the end of a soft-filemark medium in the middle of a stream's data: an SFMB whose header
/// checksum holds, and an EOTM whose header checksum holds one soft filemark block (`sfmb_len`
/// bytes) later. Stream data that merely contains the letters `SFMB` is not taken for one.
pub(crate) fn is_end_of_medium_mark(bytes: &[u8], sfmb_len: usize) -> bool {
    bytes.starts_with(&BlockType::SFMB.0)
        && DbHeader::looks_valid(bytes)
        && bytes.len() >= sfmb_len.saturating_add(DB_HDR_LEN)
        && bytes[sfmb_len..].starts_with(&BlockType::EOTM.0)
        && DbHeader::looks_valid(&bytes[sfmb_len..])
}
