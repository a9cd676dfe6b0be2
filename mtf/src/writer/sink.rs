//! Where a writer's physical blocks go.
//!
//! `mtf` never knows about devices: it writes whole physical blocks and filemarks to a
//! [`BlockSink`]. A tape (through `tape-sys`, adapted in `media` or the examples) has hardware
//! filemarks; a plain file or pipe has none, and the writer puts SFMB soft filemarks there
//! instead. The sink also reports the early-warning zone, which starts the MTF end-of-media
//! procedure.

use std::io::{self, Write};

/// What happened to one block write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct WriteStatus {
    /// The medium is in its early-warning zone: finish it and continue on the next one.
    pub early_warning: bool,
}

/// A destination for physical blocks.
pub trait BlockSink {
    /// Writes one physical block (always exactly the writer's block size). The block is on the
    /// medium when this returns `Ok`.
    fn write_block(&mut self, block: &[u8]) -> io::Result<WriteStatus>;

    /// Whether the medium records hardware filemarks. When it does not, the writer writes SFMB
    /// soft filemarks instead of calling [`BlockSink::write_filemark`].
    fn has_filemarks(&self) -> bool;

    /// Writes one hardware filemark.
    fn write_filemark(&mut self) -> io::Result<WriteStatus> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "this medium has no hardware filemarks",
        ))
    }

    /// Makes everything written so far durable.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A file, pipe or any `Write` as a medium without hardware filemarks, with an optional
/// capacity (to rehearse end of medium on small media, or to fill removable disks).
#[derive(Debug)]
pub struct FileSink<W> {
    inner: W,
    written: u64,
    capacity: Option<u64>,
    early_warning_zone: u64,
}

impl<W: Write> FileSink<W> {
    /// An unbounded sink.
    pub fn new(inner: W) -> Self {
        FileSink {
            inner,
            written: 0,
            capacity: None,
            early_warning_zone: 0,
        }
    }

    /// A sink that holds `capacity` bytes and reports early warning once fewer than
    /// `early_warning_zone` bytes are left. Writing past the capacity fails with `StorageFull`.
    pub fn with_capacity(inner: W, capacity: u64, early_warning_zone: u64) -> Self {
        FileSink {
            inner,
            written: 0,
            capacity: Some(capacity),
            early_warning_zone,
        }
    }

    /// Continues a medium that already holds `written` bytes (appending).
    pub fn resume(mut self, written: u64) -> Self {
        self.written = written;
        self
    }

    /// Bytes written so far (counting any the medium held before).
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The inner writer.
    pub fn into_inner(self) -> W {
        self.inner
    }

    /// The inner writer, by reference.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }
}

impl<W: Write> BlockSink for FileSink<W> {
    fn write_block(&mut self, block: &[u8]) -> io::Result<WriteStatus> {
        if let Some(cap) = self.capacity {
            if self.written + block.len() as u64 > cap {
                return Err(io::Error::new(io::ErrorKind::StorageFull, "end of medium"));
            }
        }
        self.inner.write_all(block)?;
        self.written += block.len() as u64;
        let early_warning = self
            .capacity
            .is_some_and(|cap| cap.saturating_sub(self.written) < self.early_warning_zone);
        Ok(WriteStatus { early_warning })
    }

    fn has_filemarks(&self) -> bool {
        false
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Supplies the next medium of a family when one fills, and takes back the full ones.
pub trait MediaSupplier<S> {
    /// The medium that will carry media sequence number `sequence` (2 for the first
    /// continuation medium).
    fn next_medium(&mut self, sequence: u16) -> io::Result<S>;

    /// A medium is finished (its last filemark written). The default drops it.
    fn medium_done(&mut self, sequence: u16, sink: S) -> io::Result<()> {
        let _ = (sequence, sink);
        Ok(())
    }
}

/// A supplier of media in memory: each new medium is a copy of `blank` (its capacity, early
/// warning zone and kind of filemarks), and the finished ones are kept in order in `done`.
#[derive(Debug, Default, Clone)]
pub struct MemoryMedia {
    /// What each new medium starts as.
    pub blank: MemorySink,
    /// The finished media, in order.
    pub done: Vec<MemorySink>,
}

impl MemoryMedia {
    /// Media like `blank`, none finished yet.
    pub fn like(blank: MemorySink) -> Self {
        MemoryMedia {
            blank,
            done: Vec::new(),
        }
    }
}

impl MediaSupplier<MemorySink> for MemoryMedia {
    fn next_medium(&mut self, _sequence: u16) -> io::Result<MemorySink> {
        Ok(self.blank.clone())
    }

    fn medium_done(&mut self, _sequence: u16, sink: MemorySink) -> io::Result<()> {
        self.done.push(sink);
        Ok(())
    }
}

/// A supplier for single-medium writing: asking for another medium is an error.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoMoreMedia;

impl<S> MediaSupplier<S> for NoMoreMedia {
    fn next_medium(&mut self, sequence: u16) -> io::Result<S> {
        Err(io::Error::new(
            io::ErrorKind::StorageFull,
            format!("medium full and no next medium supplied (would be sequence {sequence})"),
        ))
    }
}

impl<S, F: FnMut(u16) -> io::Result<S>> MediaSupplier<S> for F {
    fn next_medium(&mut self, sequence: u16) -> io::Result<S> {
        self(sequence)
    }
}

/// A sink in memory, with hardware filemarks or without: for tests and for building images.
#[derive(Debug, Default, Clone)]
pub struct MemorySink {
    /// The bytes written.
    pub data: Vec<u8>,
    /// Byte offsets of hardware filemarks (only when `hardware_filemarks`).
    pub filemarks: Vec<u64>,
    /// Whether this sink records hardware filemarks.
    pub hardware_filemarks: bool,
    /// Capacity in bytes, if bounded.
    pub capacity: Option<u64>,
    /// Early warning once fewer than this many bytes are left.
    pub early_warning_zone: u64,
}

impl MemorySink {
    fn status(&self) -> WriteStatus {
        WriteStatus {
            early_warning: self.capacity.is_some_and(|cap| {
                cap.saturating_sub(self.data.len() as u64) < self.early_warning_zone
            }),
        }
    }
}

impl BlockSink for MemorySink {
    fn write_block(&mut self, block: &[u8]) -> io::Result<WriteStatus> {
        if let Some(cap) = self.capacity {
            if self.data.len() as u64 + block.len() as u64 > cap {
                return Err(io::Error::new(io::ErrorKind::StorageFull, "end of medium"));
            }
        }
        self.data.extend_from_slice(block);
        Ok(self.status())
    }

    fn has_filemarks(&self) -> bool {
        self.hardware_filemarks
    }

    fn write_filemark(&mut self) -> io::Result<WriteStatus> {
        if !self.hardware_filemarks {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "no hardware filemarks",
            ));
        }
        self.filemarks.push(self.data.len() as u64);
        Ok(self.status())
    }
}
