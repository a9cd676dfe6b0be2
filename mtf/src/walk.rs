//! Cutting a medium into its pieces: blocks, stream headers, stream data, alignment pads and
//! gaps, in medium order, from any `Read`, with bounded memory.
//!
//! The walk is the streaming reader ([`crate::reader::Reader`]) in its byte-exact mode: one
//! framer knows the rules (header checksums, Offset To First Event, 4-byte stream alignment,
//! SPAD ends a block, an SFMB fills one soft filemark block, the end-of-medium mark), and the
//! walk adds only what a byte-exact codec needs: every byte of the input comes out in exactly
//! one event, so writing the events back with [`Event::write_raw`] reproduces the input; that is
//! the round trip.
//!
//! After damage (a bad checksum, garbage) the default mode *resyncs*: it reports the bad bytes as
//! a [`Event::Gap`] with the reason, then scans 512-byte boundaries ([`RESYNC_ALIGN`]) for the
//! next block header whose checksum holds, and carries on. Strict mode stops at the first error
//! instead.

use crate::block::Dblk;
use crate::error::{Error, Result};
use crate::reader::core::{Event as ReaderEvent, Passed, Reader};
use crate::reader::source::StreamSource;
use crate::spec::STREAM_HDR_LEN;
use crate::stream::StreamHeader;
use std::collections::VecDeque;
use std::io::{self, Read, Write};

pub use crate::spec::{Mode, MSSQLBAK_MAGIC, RESYNC_ALIGN};

/// Largest piece of stream data or gap handed out at once.
pub const CHUNK: usize = 64 * 1024;
/// Most the read buffer grows by ahead of the data actually read.
pub const READ_STEP: usize = 8 * 1024;

/// One piece of a medium.
// Events are handed out one at a time and moved straight on; boxing the block would cost an
// allocation per block for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Event {
    /// A descriptor block's header region (everything before its first stream).
    Block {
        /// Medium offset of the block.
        offset: u64,
        /// The parsed header region, its bytes kept for [`Event::write_raw`].
        dblk: Dblk,
    },
    /// A stream header.
    Stream {
        /// Medium offset of the stream header.
        offset: u64,
        /// The parsed 22 bytes.
        header: StreamHeader,
    },
    /// A piece of the current stream's data (at most [`CHUNK`] bytes).
    Data {
        /// Where on the medium (or in the structure) it starts.
        offset: u64,
        /// The bytes, as read.
        bytes: Vec<u8>,
    },
    /// The bytes between a stream's data and the next 4-byte boundary (zero on valid media).
    Pad {
        /// Where on the medium (or in the structure) it starts.
        offset: u64,
        /// The bytes, as read.
        bytes: Vec<u8>,
    },
    /// Bytes that form no valid structure. `reason` is set on the first piece of a gap.
    Gap {
        /// Where on the medium (or in the structure) it starts.
        offset: u64,
        /// The bytes, as read.
        bytes: Vec<u8>,
        /// What was wrong.
        reason: Option<Error>,
    },
    /// The current stream's data stops here, at the end of the medium: a soft filemark
    /// followed by an EOTM stands where its data would go on. `remaining` bytes of it continue
    /// on the next medium (in a stream with the CONTINUE attribute). Carries no bytes.
    StreamCut {
        /// Where on the medium (or in the structure) it starts.
        offset: u64,
        /// Bytes of the stream's declared length that are not on this medium (they continue on the next one).
        remaining: u64,
    },
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
                dblk.write_raw(&mut v)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
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

/// The walk over a medium. Iterate it for `Result<Event>`; an `Err` ends the walk.
pub struct Walker<R> {
    reader: Reader<StreamSource<R>>,
    queue: VecDeque<Event>,
    /// Inside a stream's data: the next events are its chunks.
    in_data: bool,
    /// The error that ends the walk, once the events before it are out.
    error: Option<Error>,
    done: bool,
}

impl<R: Read> Walker<R> {
    /// A walk in resync mode.
    pub fn new(src: R) -> Self {
        Self::with_mode(src, Mode::Resync)
    }

    /// A walk in the given mode.
    pub fn with_mode(src: R, mode: Mode) -> Self {
        Walker {
            reader: Reader::exact(StreamSource::new(src), mode),
            queue: VecDeque::new(),
            in_data: false,
            error: None,
            done: false,
        }
    }

    /// The medium offset of the next unread byte.
    pub fn position(&self) -> u64 {
        self.reader.position()
    }

    /// The Format Logical Block size from the TAPE block, once seen.
    pub fn flb_size(&self) -> Option<u16> {
        self.reader.params().flb_size
    }

    /// The soft filemark block size in bytes from the TAPE block, once seen.
    pub fn soft_filemark_len(&self) -> Option<usize> {
        self.reader.params().soft_filemark_len
    }

    /// Queues an event; the queue grows one event at a time (a short input costs only the
    /// events it yields).
    fn push(&mut self, ev: Event) {
        self.queue.reserve_exact(1);
        self.queue.push_back(ev);
    }

    /// Queues the bytes the reader passed (pads, damage) as events; `reason` goes with the first
    /// damaged piece. Gives `reason` back if no damaged bytes took it.
    fn queue_passed(&mut self, mut reason: Option<Error>) -> Option<Error> {
        if !self.reader.has_passed() {
            return reason;
        }
        for Passed { offset, bytes, pad } in self.reader.take_passed() {
            if pad {
                self.push(Event::Pad { offset, bytes });
                continue;
            }
            // Damaged bytes go out in pieces of at most CHUNK.
            let mut at = 0;
            while at < bytes.len() {
                let n = (bytes.len() - at).min(CHUNK);
                self.push(Event::Gap {
                    offset: offset + at as u64,
                    bytes: bytes[at..at + n].to_vec(),
                    reason: reason.take(),
                });
                at += n;
            }
        }
        reason
    }

    fn step(&mut self) -> Option<Result<Event>> {
        loop {
            if let Some(ev) = self.queue.pop_front() {
                if self.queue.is_empty() {
                    // Memory follows the input: a queue of a few events is not kept.
                    self.queue = VecDeque::new();
                }
                return Some(Ok(ev));
            }
            if self.done {
                return self.error.take().map(Err);
            }
            if self.in_data {
                let offset = self.reader.position();
                match self.reader.read_data_up_to(CHUNK) {
                    Ok(Some(bytes)) => {
                        return Some(Ok(Event::Data {
                            offset,
                            bytes: bytes.to_vec(),
                        }))
                    }
                    Ok(None) => self.in_data = false,
                    Err(e) => {
                        self.done = true;
                        return Some(Err(e));
                    }
                }
                continue;
            }
            match self.reader.next_event() {
                Err(e) => {
                    self.done = true;
                    self.queue_passed(None);
                    self.error = Some(e);
                }
                Ok(None) => {
                    self.done = true;
                    self.queue_passed(None);
                }
                Ok(Some(ReaderEvent::Damage(d))) => {
                    // Damage without bytes: a structure cut short by the end of the input ends
                    // the walk with its error; anything else (a field the next block stands in
                    // for) has no bytes to report.
                    if let Some(reason) = self.queue_passed(Some(d.reason)) {
                        if self.reader.is_done() {
                            self.done = true;
                            self.error = Some(reason);
                        }
                    }
                }
                Ok(Some(ev)) => {
                    self.queue_passed(None);
                    let ev = match ev {
                        ReaderEvent::Block { offset, dblk } => Event::Block { offset, dblk },
                        ReaderEvent::Stream { offset, header } => {
                            self.in_data = true;
                            Event::Stream { offset, header }
                        }
                        ReaderEvent::StreamCut { offset, remaining } => {
                            Event::StreamCut { offset, remaining }
                        }
                        // A byte stream has no hardware filemarks.
                        ReaderEvent::Filemark { .. } | ReaderEvent::Damage(_) => continue,
                    };
                    if self.queue.is_empty() {
                        return Some(Ok(ev));
                    }
                    self.push(ev);
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
