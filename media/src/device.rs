//! `mtf`'s block sink and block source over a `tape-sys` tape: one physical block per tape
//! record, hardware filemarks, the early-warning zone passed on to the writer.
//!
//! Every medium `media` writes or reads is a [`Device`]: a real drive through the st driver or
//! an [`tape_sys::EmulatedTape`] (a `.tap` image or memory), opened by path with
//! [`open_tape`]. The tools open their tapes here too, so a path means the same to all of them.

use mtf::reader::{BlockRead, BlockSource};
use mtf::writer::{BlockSink, WriteStatus};
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tape_sys::{
    EmulatedOptions, EmulatedTape, NodeKind, ReadResult, Space, St, StOptions, TapeDevice,
    TapeError,
};

/// A tape drive with a medium in it, movable between threads.
pub type Device = Box<dyn TapeDevice + Send>;

/// The `io::Error` for a tape error (end of medium becomes `StorageFull`).
pub fn tape_io(e: TapeError) -> io::Error {
    match e {
        TapeError::EndOfMedium => io::Error::new(io::ErrorKind::StorageFull, e.to_string()),
        other => io::Error::other(other.to_string()),
    }
}

/// A tape opened by path, with what it is and any warnings the driver raised (e.g. a rewinding
/// node opened for multi-file work).
pub struct OpenedTape {
    pub device: Device,
    /// One line saying what was opened.
    pub description: String,
    pub warnings: Vec<String>,
}

/// Opens `path` as a tape: a character device goes to the st driver (non-rewinding nodes are
/// the default; `multi_file` asks for a warning if a rewinding one is used for multi-file
/// work), any other path is a `.tap` image with `opts`, created blank if `create` and it does
/// not exist.
pub fn open_tape(
    path: &Path,
    create: bool,
    multi_file: bool,
    opts: EmulatedOptions,
) -> tape_sys::Result<OpenedTape> {
    use std::os::unix::fs::FileTypeExt;
    let is_device = std::fs::metadata(path).is_ok_and(|m| m.file_type().is_char_device());
    if is_device {
        let st = St::open_with(
            path,
            StOptions {
                multi_file,
                ..StOptions::default()
            },
        )?;
        let warnings = st.warnings().iter().map(|w| w.to_string()).collect();
        let node = match st.node_kind() {
            NodeKind::NonRewinding => "non-rewinding node",
            NodeKind::Rewinding => "rewinding node",
            NodeKind::Other => "not an st node",
        };
        let description = format!("{}: Linux st drive ({node})", path.display());
        return Ok(OpenedTape {
            device: Box::new(st),
            description,
            warnings,
        });
    }
    let mut warnings = Vec::new();
    let tape = if create && !path.exists() {
        warnings.push(format!(
            "{} does not exist: created a blank image",
            path.display()
        ));
        EmulatedTape::create(path, opts)?
    } else {
        EmulatedTape::open(path, opts)?
    };
    let description = format!("{}: emulated tape (SIMH .tap image)", path.display());
    Ok(OpenedTape {
        device: Box::new(tape),
        description,
        warnings,
    })
}

/// Whether `path` names a tape (a character device, or a file ending in `.tap`).
pub fn is_tape_path(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(path)
        .map(|m| m.file_type().is_char_device())
        .unwrap_or(false)
        || path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("tap"))
}

/// The writer's sink over a tape: one physical block per tape record, hardware filemarks,
/// early warning passed on.
pub struct TapeSink<D = Device> {
    pub device: D,
    /// Once set, every write fails: see [`crate::family::WriteOptions::stop`].
    pub stop: Option<Arc<AtomicBool>>,
}

impl<D> TapeSink<D> {
    /// A sink over `device` with no stop switch.
    pub fn new(device: D) -> Self {
        TapeSink { device, stop: None }
    }

    fn stopped(&self) -> io::Result<()> {
        match &self.stop {
            Some(s) if s.load(Ordering::SeqCst) => Err(io::Error::other(
                "the write was abandoned: the device stops where it is",
            )),
            _ => Ok(()),
        }
    }
}

impl<D: TapeDevice> BlockSink for TapeSink<D> {
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

/// The reader's source over a tape, from where it is positioned: an owned [`Device`] or a
/// borrowed one (`device.as_mut()`).
pub struct TapeSource<D> {
    pub device: D,
}

impl<D> TapeSource<D> {
    /// Reads blocks from `device`, from where it is positioned.
    pub fn new(device: D) -> Self {
        TapeSource { device }
    }

    /// The device back (to write after reading, say).
    pub fn into_device(self) -> D {
        self.device
    }
}

impl<D: TapeDevice> BlockSource for TapeSource<D> {
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
