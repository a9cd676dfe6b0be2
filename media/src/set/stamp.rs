//! Putting the media-set identity and a set's expiry on the media `mtf::writer` writes.
//!
//! The writer lays every medium out the same way: the TAPE block alone in the medium's first
//! physical block (padded by SPAD), and each new data set's SSET at the start of a physical
//! block (after the filemark that closes the previous set), padded by SPAD to the next FLB.
//! [`StampSink`] sits between the writer and the device and, in those two blocks only, adds a
//! stream before the SPAD (shortening the SPAD by as much) and sets the TAPE block's password
//! fields. Every other block passes through untouched, and nothing moves: FLAs, PBAs and
//! filemark tables stay what the writer computed.

use super::password::ALGORITHM_MD5;
use super::{MediaPassword, EXPIRY_STREAM, MIRROR_STREAM};
use mtf::block::{Body, Dblk};
use mtf::spec::{align_up, BlockType, StreamId, STREAM_HDR_LEN};
use mtf::stream::sqlserver::Raid;
use mtf::writer::{BlockSink, WriteStatus};
use mtf::{MtfText, StreamHeader};
use std::io;
use std::sync::{Arc, Mutex};

/// The expiry to put on the next SSET, shared by a family writer and its sinks.
pub type ExpirySlot = Arc<Mutex<Option<i64>>>;

/// A block sink that stamps the TAPE block of a fresh medium and the SSET of a new set.
pub struct StampSink<S> {
    inner: S,
    raid: Raid,
    password: Option<MediaPassword>,
    /// The mirror count to stamp on the TAPE block, if any.
    mirrors: Option<u8>,
    /// The next block is the medium's first.
    first: bool,
    expiry: ExpirySlot,
}

impl<S: BlockSink> StampSink<S> {
    /// A sink for a medium that will be written from its start.
    pub fn new(inner: S, raid: Raid, password: Option<MediaPassword>, expiry: ExpirySlot) -> Self {
        StampSink {
            inner,
            raid,
            password,
            mirrors: None,
            first: true,
            expiry,
        }
    }

    /// A sink for a medium appended to (its header is already there).
    pub fn appending(inner: S, raid: Raid, expiry: ExpirySlot) -> Self {
        StampSink {
            first: false,
            ..StampSink::new(inner, raid, None, expiry)
        }
    }

    /// Stamps the media set's mirror count ([`MIRROR_STREAM`]) on the TAPE block too.
    pub fn with_mirror_count(mut self, mirrors: u8) -> Self {
        self.mirrors = Some(mirrors);
        self
    }

    /// The device back.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// The device, by reference.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    fn stamp_tape(&self, block: &[u8]) -> io::Result<Vec<u8>> {
        let (mut dblk, _) = Dblk::parse(block, None).map_err(bad)?;
        let Body::Tape(t) = &mut dblk.body else {
            return Err(bad("the first block of a medium is not a TAPE block"));
        };
        if let Some(p) = &self.password {
            t.password_encryption_algorithm = ALGORITHM_MD5;
            t.media_password = MtfText {
                addr: Default::default(),
                raw: p.digest().to_vec(),
            };
        }
        let mut out = Vec::with_capacity(block.len());
        dblk.write_fixed(&mut out).map_err(bad)?;
        put_stream(&mut out, StreamId::RAID, &self.raid.encode_raw());
        if let Some(n) = self.mirrors {
            put_stream(&mut out, MIRROR_STREAM, &u16::from(n).to_le_bytes());
        }
        finish_with_spad(out, block.len())
    }

    fn stamp_sset(&self, block: &[u8], expires: i64) -> io::Result<Vec<u8>> {
        let (dblk, region) = Dblk::parse(block, None).map_err(bad)?;
        if dblk.block_type() != BlockType::SSET {
            return Err(bad("a new set does not start its physical block with SSET"));
        }
        let spad = StreamHeader::parse(&block[region..]).map_err(bad)?;
        if spad.id != StreamId::SPAD {
            return Err(bad("the SSET is not followed by SPAD"));
        }
        let flb_end = region + STREAM_HDR_LEN + spad.length as usize;
        let mut out = block[..region].to_vec();
        put_stream(&mut out, EXPIRY_STREAM, &expires.to_le_bytes());
        if out.len() + STREAM_HDR_LEN > flb_end {
            return Err(bad(
                "the set's names leave no room for its expiry in the SSET's FLB",
            ));
        }
        let mut head = finish_with_spad(out, flb_end)?;
        head.extend_from_slice(&block[flb_end..]);
        Ok(head)
    }
}

fn bad(e: impl ToString) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

/// Appends a stream (header, data, padding to 4 bytes).
fn put_stream(out: &mut Vec<u8>, id: StreamId, data: &[u8]) {
    StreamHeader::new(id, data.len() as u64).write_fixed(out);
    out.extend_from_slice(data);
    out.resize(align_up(out.len() as u64, 4) as usize, 0);
}

/// Pads `out` with an SPAD stream to exactly `len` bytes.
fn finish_with_spad(mut out: Vec<u8>, len: usize) -> io::Result<Vec<u8>> {
    if out.len() + STREAM_HDR_LEN > len {
        return Err(bad("the stamped block does not fit its physical block"));
    }
    let pad = len - out.len() - STREAM_HDR_LEN;
    StreamHeader::new(StreamId::SPAD, pad as u64).write_fixed(&mut out);
    out.resize(len, 0);
    Ok(out)
}

impl<S: BlockSink> BlockSink for StampSink<S> {
    fn write_block(&mut self, block: &[u8]) -> io::Result<WriteStatus> {
        let armed = *self.expiry.lock().unwrap_or_else(|p| p.into_inner());
        let stamped = if std::mem::take(&mut self.first) {
            Some(self.stamp_tape(block)?)
        } else if let (Some(at), true) = (armed, block.starts_with(b"SSET")) {
            *self.expiry.lock().unwrap_or_else(|p| p.into_inner()) = None;
            Some(self.stamp_sset(block, at)?)
        } else {
            None
        };
        self.inner.write_block(stamped.as_deref().unwrap_or(block))
    }

    fn has_filemarks(&self) -> bool {
        self.inner.has_filemarks()
    }

    fn write_filemark(&mut self) -> io::Result<WriteStatus> {
        self.inner.write_filemark()
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
