//! Tapes for the example programs: open a path as a tape (a device node through the st driver,
//! anything else as a SIMH `.tap` image), and let `mtf`'s writer write to it.

use mtf::writer::{BlockSink, WriteStatus};
use std::io;
use std::path::Path;
use tape_sys::{EmulatedOptions, EmulatedTape, NodeKind, St, StOptions, TapeDevice, TapeError};

/// A tape opened by path, with what it is and any warnings the driver raised (e.g. a rewinding
/// node opened for multi-file work).
pub struct OpenedTape {
    pub device: Box<dyn TapeDevice>,
    /// One line saying what was opened.
    pub description: String,
    pub warnings: Vec<String>,
}

/// Opens `path` as a tape: a character device goes to the st driver (non-rewinding nodes are the
/// default; `multi_file` asks for a warning if a rewinding one is used for multi-file work), any
/// other path is a `.tap` image, created blank if `create` and it does not exist.
pub fn open_tape_with(
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

/// [`open_tape_with`] with default emulation options, for multi-file work.
pub fn open_tape(path: &Path, create: bool) -> tape_sys::Result<Box<dyn TapeDevice>> {
    let t = open_tape_with(path, create, true, EmulatedOptions::default())?;
    for w in &t.warnings {
        eprintln!("warning: {w}");
    }
    Ok(t.device)
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
        Ok(WriteStatus {
            early_warning: r.early_warning(),
        })
    }

    fn has_filemarks(&self) -> bool {
        true
    }

    fn write_filemark(&mut self) -> io::Result<WriteStatus> {
        let r = self.device.write_filemarks(1).map_err(to_io)?;
        Ok(WriteStatus {
            early_warning: r.early_warning(),
        })
    }
}
