//! `mtf`'s block sink and block source over a `tape-sys` tape: one physical block per tape
//! record, hardware filemarks, the early-warning zone passed on to the writer.
//!
//! Every medium `media` writes or reads is a [`Device`]: a real drive through the st driver or
//! an [`tape_sys::EmulatedTape`] (a `.tap` image or memory).

use mtf::reader::{BlockRead, BlockSource};
use mtf::writer::{BlockSink, WriteStatus};
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tape_sys::{ReadResult, Space, TapeDevice, TapeError};

/// A tape drive with a medium in it, movable between threads.
pub type Device = Box<dyn TapeDevice + Send>;

/// The `io::Error` for a tape error (end of medium becomes `StorageFull`).
pub fn tape_io(e: TapeError) -> io::Error {
    match e {
        TapeError::EndOfMedium => io::Error::new(io::ErrorKind::StorageFull, e.to_string()),
        other => io::Error::other(other.to_string()),
    }
}

/// The writer's sink over a tape.
pub struct TapeSink {
    pub device: Device,
    /// Once set, every write fails: see [`crate::family::WriteOptions::stop`].
    pub stop: Option<Arc<AtomicBool>>,
}

impl TapeSink {
    fn stopped(&self) -> io::Result<()> {
        match &self.stop {
            Some(s) if s.load(Ordering::SeqCst) => Err(io::Error::other(
                "the write was abandoned: the device stops where it is",
            )),
            _ => Ok(()),
        }
    }
}

impl BlockSink for TapeSink {
    fn write_block(&mut self, block: &[u8]) -> io::Result<WriteStatus> {
        self.stopped()?;
        let r = self.device.write_block(block).map_err(tape_io)?;
        Ok(WriteStatus {
            early_warning: r.early_warning(),
        })
    }

    fn has_filemarks(&self) -> bool {
        true
    }

    fn write_filemark(&mut self) -> io::Result<WriteStatus> {
        self.stopped()?;
        let r = self.device.write_filemarks(1).map_err(tape_io)?;
        Ok(WriteStatus {
            early_warning: r.early_warning(),
        })
    }
}

/// The reader's source over a tape, from where it is positioned.
pub struct TapeSource<'a> {
    pub device: &'a mut (dyn TapeDevice + Send),
}

impl BlockSource for TapeSource<'_> {
    fn read_block(&mut self, buf: &mut [u8]) -> io::Result<BlockRead> {
        match self.device.read_block(buf).map_err(tape_io)? {
            ReadResult::Data(n) => Ok(BlockRead::Data(n)),
            ReadResult::Filemark => Ok(BlockRead::Filemark),
            ReadResult::EndOfData => Ok(BlockRead::EndOfData),
        }
    }

    fn max_block_len(&self) -> usize {
        1 << 20
    }

    fn is_block_device(&self) -> bool {
        true
    }

    fn end_of_data(&mut self) -> io::Result<bool> {
        self.device.end_of_data().map_err(tape_io)?;
        Ok(true)
    }

    fn space_filemarks_back(&mut self, n: u32) -> io::Result<bool> {
        self.device.space(Space::Bsfm, n).map_err(tape_io)?;
        Ok(true)
    }

    fn space_filemarks_forward(&mut self, n: u32) -> io::Result<bool> {
        self.device.space(Space::Fsf, n).map_err(tape_io)?;
        Ok(true)
    }

    fn rewind(&mut self) -> io::Result<bool> {
        self.device.rewind().map_err(tape_io)?;
        Ok(true)
    }
}
