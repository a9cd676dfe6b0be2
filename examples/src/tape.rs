//! Tapes for the example programs: open a path as a tape (a device node through the st driver,
//! anything else as a SIMH `.tap` image), and let `mtf`'s writer write to it.

use mtf::writer::{BlockSink, WriteStatus};
use std::io;
use std::path::Path;
use tape_sys::{EmulatedOptions, EmulatedTape, St, TapeDevice, TapeError};

/// Opens `path` as a tape: a character device goes to the st driver, any other path is a
/// `.tap` image (created if `create` and it does not exist).
pub fn open_tape(path: &Path, create: bool) -> tape_sys::Result<Box<dyn TapeDevice>> {
    use std::os::unix::fs::FileTypeExt;
    let is_char_device = std::fs::metadata(path).map(|m| m.file_type().is_char_device()).unwrap_or(false);
    if is_char_device {
        return Ok(Box::new(St::open(path)?));
    }
    if create && !path.exists() {
        return Ok(Box::new(EmulatedTape::create(path, EmulatedOptions::default())?));
    }
    Ok(Box::new(EmulatedTape::open(path, EmulatedOptions::default())?))
}

/// Whether `path` names a tape (a character device, or a file ending in `.tap`).
pub fn is_tape_path(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(path).map(|m| m.file_type().is_char_device()).unwrap_or(false)
        || path.extension().is_some_and(|e| e.eq_ignore_ascii_case("tap"))
}

/// `mtf`'s block sink over a tape device: one physical block per tape record, hardware
/// filemarks, early warning passed on.
pub struct TapeSink<D> {
    pub device: D,
}

fn to_io(e: TapeError) -> io::Error {
    match e {
        TapeError::EndOfMedium => io::Error::new(io::ErrorKind::StorageFull, e.to_string()),
        other => io::Error::other(other.to_string()),
    }
}

impl<D: TapeDevice> BlockSink for TapeSink<D> {
    fn write_block(&mut self, block: &[u8]) -> io::Result<WriteStatus> {
        let r = self.device.write_block(block).map_err(to_io)?;
        Ok(WriteStatus { early_warning: r.early_warning() })
    }

    fn has_filemarks(&self) -> bool {
        true
    }

    fn write_filemark(&mut self) -> io::Result<WriteStatus> {
        let r = self.device.write_filemarks(1).map_err(to_io)?;
        Ok(WriteStatus { early_warning: r.early_warning() })
    }
}
