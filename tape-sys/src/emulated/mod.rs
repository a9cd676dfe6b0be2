//! An emulated tape drive with the st driver's contract, over a SIMH `.tap`
//! image in a file or in memory.
//!
//! # How it matches the real driver
//!
//! [`EmulatedTape`] follows what the st driver does on a real drive
//! (`tape-sys/docs/st-semantics.md`): every block and
//! filemark is one logical position; reading a filemark returns
//! [`ReadResult::Filemark`] and moves past it; writing anywhere makes that the
//! new end of data; rewind, seek, bsf, bsfm, unload and closing directly
//! after writing data first write a filemark; file and block numbers follow
//! st's bookkeeping, including where st does not know them (after seek, bsf
//! and fsfm the block number is unknown, after seek the file number too, at
//! end of data the block number); BOT and EOF are derived from those numbers
//! as st derives them; spacing into a filemark, BOT or end of data stops
//! there with the same errors and positions.
//!
//! End of medium is modelled on st's state machine (st.c's `st_write`): the
//! write that enters the early-warning zone, st's refusal of every other
//! write after it, and the drive's refusal at the physical end. The public
//! `write_block` resolves those answers with the same code as [`St`](crate::St)
//! (the `eom` module), so its contract is identical, and the
//! randomized test exercises that code without hardware.
//!
//! # Deliberate differences
//!
//! * **Capacity is counted in image bytes** (a record costs its length plus
//!   8, plus a pad byte when odd; a filemark 4), not in drive units; the
//!   early-warning zone is the last [`EmulatedOptions::early_warning`] bytes
//!   of it.
//! * **Opening an image loads it at BOT** with file and block 0 known. st
//!   reports both numbers unknown on the first open after the driver loads,
//!   and keeps the drive's position across close and open; an image file
//!   has no drive to keep a position in.
//! * **The implicit filemark is skipped when there is no room for it.** st
//!   then fails the rewind (and every retry) with EIO until the tape is
//!   reloaded; here rewind, seek, unload and close still work. [`St`](crate::St)
//!   works around the same state on a real drive, so both backends agree.
//! * **MTERASE keeps the file and block numbers.** st resets them to 0 after
//!   an erase wherever the tape is; here they stay what they were.
//! * **Block data is kept whole.** scsi_debug keeps only the first 4 bytes of
//!   each block; a real drive keeps all, and so does this.
//! * **A fixed-mode read of a block of another length** gives
//!   [`TapeError::WrongBlockLength`] without moving; st gives EIO (which
//!   [`St`](crate::St) reports as a medium error) after spacing back.
//! * **Compression** is only remembered; nothing is compressed.

pub mod faults;
mod medium;
pub mod tap_format;

use std::fs::{File, OpenOptions};
use std::path::Path;

use nix::errno::Errno;

pub use self::faults::Faults;
use self::medium::{Appended, Backing, Kind, Medium};
use crate::device::{
    BlockLimits, BlockSize, Number, ReadResult, Space, Status, TapeDevice, WriteResult,
};
use crate::eom::{EomStats, EomTracker, RawDrive};
use crate::error::{Result, TapeError};

/// How the emulated drive signals the write that enters the early-warning
/// zone. Both occur on real systems; [`St`](crate::St) handles both, and the
/// randomized test runs both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum EarlyWarningSignal {
    /// The write returns ENOSPC although its block was written — what st
    /// does in variable mode on scsi_debug (README item 16).
    #[default]
    Enospc,
    /// The write succeeds and only the status (GMT_EOT) says so — what st
    /// does when the drive reports no residue, and in fixed mode.
    Status,
}

/// How to build an [`EmulatedTape`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmulatedOptions {
    capacity: Option<u64>,
    early_warning: Option<u64>,
    write_protected: bool,
    block_limits: BlockLimits,
    density: u8,
    signal: EarlyWarningSignal,
    faults: Faults,
    recover: bool,
}

impl Default for EmulatedOptions {
    fn default() -> Self {
        EmulatedOptions {
            capacity: None,
            early_warning: None,
            write_protected: false,
            block_limits: BlockLimits {
                min: 1,
                max: tap_format::MAX_RECORD_LEN,
                granularity: 0,
            },
            density: 0,
            signal: EarlyWarningSignal::default(),
            faults: Faults::default(),
            recover: false,
        }
    }
}

impl EmulatedOptions {
    /// Defaults: unlimited capacity, writable, blocks of 1 byte to 16 MiB.
    pub fn new() -> Self {
        Self::default()
    }

    /// The medium holds this many image bytes (see the module docs for how
    /// blocks and filemarks are counted). Default: unlimited.
    pub fn capacity(mut self, bytes: u64) -> Self {
        self.capacity = Some(bytes);
        self
    }

    /// The early-warning zone is the last `bytes` bytes of the capacity.
    /// Default: 1/32 of the capacity.
    pub fn early_warning(mut self, bytes: u64) -> Self {
        self.early_warning = Some(bytes);
        self
    }

    /// The medium is write-protected (the cartridge's tab).
    pub fn write_protected(mut self, on: bool) -> Self {
        self.write_protected = on;
        self
    }

    /// The drive's block limits (e.g. 512..=1 MiB to behave like
    /// scsi_debug). `max` is capped at the `.tap` format's 16 MiB - 1.
    pub fn block_limits(mut self, min: u32, max: u32) -> Self {
        self.block_limits = BlockLimits {
            min: min.max(1),
            max: max.min(tap_format::MAX_RECORD_LEN).max(min.max(1)),
            granularity: 0,
        };
        self
    }

    /// The density code the status reports.
    pub fn density(mut self, code: u8) -> Self {
        self.density = code;
        self
    }

    /// How the write entering the early-warning zone is signalled.
    pub fn early_warning_signal(mut self, signal: EarlyWarningSignal) -> Self {
        self.signal = signal;
        self
    }

    /// Faults to inject.
    pub fn faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    /// Open a damaged image anyway: keep every object before the damage and
    /// treat the damage as end of data (the first write cuts it off).
    /// Default: a damaged image is an error.
    pub fn recover_truncated(mut self, on: bool) -> Self {
        self.recover = on;
        self
    }

    fn ew_zone(&self) -> Option<(u64, u64)> {
        self.capacity
            .map(|c| (c, self.early_warning.unwrap_or(c / 32).min(c)))
    }
}

/// What the emulated drive has done, for diagnostics and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EmulatedStats {
    /// Decisions taken on refused writes (shared with [`St`](crate::St)).
    pub eom: EomStats,
    /// Blocks that reached the medium through this handle.
    pub blocks_written: u64,
    /// Filemarks that reached the medium through this handle.
    pub filemarks_written: u64,
}

/// st's end-of-medium state (`STps->eof` in st.c, the part that matters for
/// writing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StEof {
    /// Nothing pending.
    Normal,
    /// ST_EOM_OK: the next write is refused with ENOSPC, unsent.
    EomOk,
    /// ST_EOD_1: the refusal happened; the next write is sent.
    AllowNext,
}

/// Everything but the write-side tracker, so the tracker can drive it.
#[derive(Debug)]
struct Drive {
    medium: Medium,
    opts: EmulatedOptions,
    pos: usize,
    file_no: Number,
    block_no: Number,
    block_size: BlockSize,
    loaded: bool,
    eod_hit: bool,
    compression: bool,
    st_eof: StEof,
    dead: bool,
    /// The drive refused a write for lack of room: the tape is at its
    /// physical end and takes nothing more until it is repositioned.
    at_physical_end: bool,
    bytes_written: u64,
    blocks_written: u64,
    filemarks_written: u64,
    /// Why the file behind the image refused the last write (a full disk: ENOSPC; the file
    /// size limit: EFBIG). The drive answers EIO, as st does for a failed write, and the
    /// write then reports this error instead: "the medium failed" would send the
    /// administrator after the wrong cause.
    host_error: Option<TapeError>,
}

impl Drive {
    fn fits(&self, cost: u64) -> bool {
        match self.opts.capacity {
            None => true,
            Some(c) => self.medium.used() + cost <= c,
        }
    }

    fn in_zone(&self) -> bool {
        self.opts
            .ew_zone()
            .is_some_and(|(c, ew)| self.medium.used() > c - ew)
    }

    /// Writing at `pos` makes it the new end of data.
    fn cut_here(&mut self) -> std::result::Result<(), Errno> {
        match self.medium.truncate(self.pos) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.host_error = Some(e);
                Err(Errno::EIO)
            }
        }
    }

    fn append(&mut self, parts: &[&[u8]], kind: Kind) -> std::result::Result<(), Errno> {
        match self
            .medium
            .append(parts, kind, self.opts.faults.power_cut_at_image_bytes)
        {
            Ok(Appended::Done) => Ok(()),
            Ok(Appended::PowerCut) => {
                self.dead = true;
                Err(Errno::EIO)
            }
            Err(e) => {
                self.host_error = Some(e);
                Err(Errno::EIO)
            }
        }
    }

    /// A write's result, with the image file's own error in place of the EIO it caused.
    fn with_host_error<T>(&mut self, r: Result<T>) -> Result<T> {
        match (r, self.host_error.take()) {
            (Err(_), Some(e)) => Err(e),
            (r, _) => r,
        }
    }
}

impl RawDrive for Drive {
    fn raw_write(&mut self, buf: &[u8]) -> std::result::Result<usize, Errno> {
        if self.st_eof == StEof::EomOk {
            self.st_eof = StEof::AllowNext;
            return Err(Errno::ENOSPC);
        }
        self.cut_here()?;
        let len = buf.len() as u64;
        let cost = tap_format::record_size(buf.len() as u32);
        if self.at_physical_end || !self.fits(cost) {
            self.at_physical_end = true;
            self.st_eof = StEof::EomOk;
            return Err(Errno::ENOSPC);
        }
        if let Some(limit) = self.opts.faults.fail_write_after_bytes {
            if self.bytes_written + len > limit {
                self.opts.faults.fail_write_after_bytes = None;
                return Err(Errno::EIO);
            }
        }
        let (word, pad) = tap_format::record_frame(buf).map_err(|_| Errno::EINVAL)?;
        self.append(
            &[&word, buf, pad, &word],
            Kind::Record {
                len: buf.len() as u32,
                bad: false,
            },
        )?;
        self.pos += 1;
        self.block_no = self.block_no.map(|b| b + 1);
        self.bytes_written += len;
        self.blocks_written += 1;
        if !self.in_zone() {
            self.st_eof = StEof::Normal;
            return Ok(buf.len());
        }
        // In the zone the drive reports early warning on every write; st
        // turns that into ENOSPC or a full count as below.
        let entering = self.st_eof == StEof::Normal;
        self.st_eof = StEof::EomOk;
        let last_that_fits = !self.fits(cost);
        if last_that_fits || (entering && self.opts.signal == EarlyWarningSignal::Enospc) {
            Err(Errno::ENOSPC)
        } else {
            Ok(buf.len())
        }
    }

    fn raw_write_filemarks(&mut self, count: u32) -> std::result::Result<(), Errno> {
        // A filemark write in the zone succeeds and clears st's EOM state.
        self.st_eof = StEof::Normal;
        if count == 0 {
            // WRITE FILEMARKS 0 only flushes; it does not end the data here.
            return Ok(());
        }
        self.cut_here()?;
        for _ in 0..count {
            if self.at_physical_end || !self.fits(tap_format::TAPE_MARK_SIZE) {
                // st: the EOM sense puts it in its early-warning state
                // (GMT_EOT) and MTWEOF fails with EIO.
                self.at_physical_end = true;
                self.st_eof = StEof::EomOk;
                return Err(Errno::EIO);
            }
            self.append(&[&tap_format::TAPE_MARK.to_le_bytes()], Kind::Filemark)?;
            self.pos += 1;
            self.file_no = self.file_no.map(|f| f + 1);
            self.block_no = Number::Known(0);
            self.filemarks_written += 1;
        }
        Ok(())
    }

    fn raw_position(&mut self) -> std::result::Result<u64, Errno> {
        Ok(self.pos as u64)
    }

    fn raw_eot(&mut self) -> std::result::Result<bool, Errno> {
        Ok(self.st_eof == StEof::EomOk)
    }
}

/// An emulated tape drive with a medium; see the [module docs](self).
///
/// ```
/// use tape_sys::{EmulatedOptions, EmulatedTape, ReadResult, TapeDevice};
///
/// let mut tape = EmulatedTape::in_memory(EmulatedOptions::new().capacity(1 << 20));
/// tape.write_block(b"hello")?;
/// tape.write_filemarks(1)?;
/// tape.rewind()?;
/// let mut buf = vec![0; 1 << 16];
/// assert_eq!(tape.read_block(&mut buf)?, ReadResult::Data(5));
/// assert_eq!(tape.read_block(&mut buf)?, ReadResult::Filemark);
/// assert_eq!(tape.read_block(&mut buf)?, ReadResult::EndOfData);
/// # Ok::<(), tape_sys::TapeError>(())
/// ```
#[derive(Debug)]
pub struct EmulatedTape {
    drive: Drive,
    eom: EomTracker,
}

impl EmulatedTape {
    fn with_medium(medium: Medium, opts: EmulatedOptions) -> Self {
        EmulatedTape {
            drive: Drive {
                medium,
                opts,
                pos: 0,
                file_no: Number::Known(0),
                block_no: Number::Known(0),
                block_size: BlockSize::Variable,
                loaded: true,
                eod_hit: false,
                compression: false,
                st_eof: StEof::Normal,
                dead: false,
                at_physical_end: false,
                bytes_written: 0,
                blocks_written: 0,
                filemarks_written: 0,
                host_error: None,
            },
            eom: EomTracker::default(),
        }
    }

    /// A blank tape in memory.
    pub fn in_memory(opts: EmulatedOptions) -> Self {
        Self::with_medium(
            Medium::blank(Backing::Memory(Vec::new())).expect("a memory image cannot fail"),
            opts,
        )
    }

    /// A tape in memory holding an existing `.tap` image.
    pub fn from_image(image: Vec<u8>, opts: EmulatedOptions) -> Result<Self> {
        let medium = Medium::load(Backing::Memory(image), opts.recover)?;
        Ok(Self::with_medium(medium, opts))
    }

    /// Creates (or empties) the image file at `path`: a blank tape.
    pub fn create(path: impl AsRef<Path>, opts: EmulatedOptions) -> Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(|source| TapeError::Io {
                op: "creating the tape image",
                source,
            })?;
        Ok(Self::with_medium(Medium::blank(Backing::File(file))?, opts))
    }

    /// A tape holding the image in `file`, opened by the caller (read and write, or read only
    /// with `opts` write-protected): for a caller that must choose how the file is opened, say
    /// created exclusively or without following a link. An empty file is a blank tape.
    pub fn open_file(file: File, opts: EmulatedOptions) -> Result<Self> {
        let medium = Medium::load(Backing::File(file), opts.recover)?;
        Ok(Self::with_medium(medium, opts))
    }

    /// Opens an existing image file. A write-protected tape, or a file that
    /// cannot be opened for writing, is opened read-only.
    pub fn open(path: impl AsRef<Path>, mut opts: EmulatedOptions) -> Result<Self> {
        let path = path.as_ref();
        let file = if opts.write_protected {
            File::open(path)
        } else {
            match OpenOptions::new().read(true).write(true).open(path) {
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                    opts.write_protected = true;
                    File::open(path)
                }
                r => r,
            }
        }
        .map_err(|source| TapeError::Io {
            op: "opening the tape image",
            source,
        })?;
        let medium = Medium::load(Backing::File(file), opts.recover)?;
        Ok(Self::with_medium(medium, opts))
    }

    /// Writes the filemark that closing after a write owes, syncs a file
    /// image, and closes. Dropping does the same but cannot report errors.
    pub fn close(mut self) -> Result<()> {
        self.implicit_filemark();
        self.eom.moved();
        self.drive.medium.sync()
    }

    /// Closes like [`close`](Self::close) and returns the image bytes.
    pub fn into_image(mut self) -> Result<Vec<u8>> {
        self.implicit_filemark();
        self.eom.moved();
        match self.drive.medium.take_memory() {
            Some(v) => Ok(v),
            None => {
                self.drive.medium.sync()?;
                self.drive.medium.image()
            }
        }
    }

    /// The image bytes of an in-memory tape (`None` for a file).
    pub fn image(&self) -> Option<&[u8]> {
        self.drive.medium.memory()
    }

    /// The faults armed now; change them at any time.
    pub fn faults_mut(&mut self) -> &mut Faults {
        &mut self.drive.opts.faults
    }

    /// Flips the write-protect tab.
    pub fn set_write_protected(&mut self, on: bool) {
        self.drive.opts.write_protected = on;
    }

    /// Image bytes up to end of data.
    pub fn used_bytes(&self) -> u64 {
        self.drive.medium.used()
    }

    /// The capacity in image bytes, if limited.
    pub fn capacity(&self) -> Option<u64> {
        self.drive.opts.capacity
    }

    /// Blocks and filemarks on the medium.
    pub fn objects(&self) -> usize {
        self.drive.medium.len()
    }

    /// Counters of what this handle did.
    pub fn stats(&self) -> EmulatedStats {
        EmulatedStats {
            eom: self.eom.stats(),
            blocks_written: self.drive.blocks_written,
            filemarks_written: self.drive.filemarks_written,
        }
    }

    fn ready(&self) -> Result<()> {
        if self.drive.dead {
            Err(TapeError::PowerLost)
        } else if !self.drive.loaded {
            Err(TapeError::NoMedium)
        } else {
            Ok(())
        }
    }

    fn writable(&self) -> Result<()> {
        self.ready()?;
        if self.drive.opts.write_protected {
            Err(TapeError::WriteProtected {
                errno: Errno::EACCES,
            })
        } else {
            Ok(())
        }
    }

    /// The power-cut fault turns every error of the call that struck into
    /// [`TapeError::PowerLost`].
    fn check_power<T>(&self, r: Result<T>) -> Result<T> {
        if self.drive.dead {
            Err(TapeError::PowerLost)
        } else {
            r
        }
    }

    /// st writes a filemark before repositioning directly after a write.
    /// With no room left it is skipped (module docs: deliberate difference).
    fn implicit_filemark(&mut self) {
        if self.eom.writing() && !self.drive.dead && self.drive.loaded {
            let _ = self.drive.raw_write_filemarks(1);
        }
    }

    /// Forget write-side state before a repositioning.
    fn reposition(&mut self) {
        self.eom.moved();
        self.drive.st_eof = StEof::Normal;
        self.drive.eod_hit = false;
        self.drive.at_physical_end = false;
    }

    fn at_eod(&mut self) -> TapeError {
        self.drive.eod_hit = true;
        self.drive.block_no = Number::Unknown;
        TapeError::EndOfData
    }

    fn at_bot(&mut self) -> TapeError {
        self.drive.pos = 0;
        self.drive.file_no = Number::Known(0);
        self.drive.block_no = Number::Known(0);
        TapeError::BeginningOfMedium
    }

    fn is_filemark(&self, i: usize) -> bool {
        self.drive.medium.kind(i) == Kind::Filemark
    }

    fn fsf(&mut self, count: u32) -> Result<()> {
        for _ in 0..count {
            let d = &mut self.drive;
            while d.pos < d.medium.len() && d.medium.kind(d.pos) != Kind::Filemark {
                d.pos += 1;
            }
            if d.pos == d.medium.len() {
                return Err(self.at_eod());
            }
            d.pos += 1;
            d.file_no = d.file_no.map(|f| f + 1);
            d.block_no = Number::Known(0);
        }
        Ok(())
    }

    fn bsf(&mut self, count: u32) -> Result<()> {
        for _ in 0..count {
            let d = &mut self.drive;
            while d.pos > 0 && d.medium.kind(d.pos - 1) != Kind::Filemark {
                d.pos -= 1;
            }
            if d.pos == 0 {
                return Err(self.at_bot());
            }
            d.pos -= 1;
            d.file_no = d.file_no.checked_sub(1);
            d.block_no = Number::Unknown;
        }
        Ok(())
    }
}

impl Drop for EmulatedTape {
    fn drop(&mut self) {
        self.implicit_filemark();
    }
}

impl TapeDevice for EmulatedTape {
    fn read_block(&mut self, buf: &mut [u8]) -> Result<ReadResult> {
        self.ready()?;
        self.reposition();
        let d = &mut self.drive;
        if d.pos == d.medium.len() {
            d.eod_hit = true;
            d.block_no = Number::Unknown;
            return Ok(ReadResult::EndOfData);
        }
        let here = d.pos as u64;
        match d.medium.kind(d.pos) {
            Kind::Filemark => {
                d.pos += 1;
                d.file_no = d.file_no.map(|f| f + 1);
                d.block_no = Number::Known(0);
                Ok(ReadResult::Filemark)
            }
            Kind::Record { len, bad } => {
                if bad || d.opts.faults.read_errors_at.contains(&here) {
                    d.pos += 1;
                    d.block_no = Number::Unknown;
                    return Err(TapeError::MediumError {
                        position: Some(here),
                    });
                }
                let len = len as usize;
                match d.block_size {
                    BlockSize::Fixed(bs) if len != bs as usize => {
                        return Err(TapeError::WrongBlockLength {
                            block_len: len,
                            block_size: bs,
                        })
                    }
                    _ => {}
                }
                if len > buf.len() {
                    return Err(TapeError::BlockTooLarge {
                        block_len: Some(len),
                        buffer_len: buf.len(),
                    });
                }
                let n = d.medium.read_record(d.pos, buf)?;
                d.pos += 1;
                d.block_no = d.block_no.map(|b| b + 1);
                Ok(ReadResult::Data(n))
            }
        }
    }

    fn write_block(&mut self, buf: &[u8]) -> Result<WriteResult> {
        self.writable()?;
        let limits = self.drive.opts.block_limits;
        match self.drive.block_size {
            BlockSize::Fixed(bs) if buf.len() != bs as usize => {
                return Err(TapeError::invalid(format!(
                    "a {}-byte block in fixed {bs}-byte mode",
                    buf.len()
                )))
            }
            BlockSize::Variable
                if buf.len() < limits.min as usize || buf.len() > limits.max as usize =>
            {
                return Err(TapeError::invalid(format!(
                    "a {}-byte block outside the block limits {}..={}",
                    buf.len(),
                    limits.min,
                    limits.max
                )))
            }
            _ => {}
        }
        self.drive.eod_hit = false;
        self.drive.host_error = None;
        let r = self.eom.write_block(&mut self.drive, buf);
        let r = self.drive.with_host_error(r);
        self.check_power(r)
    }

    fn write_filemarks(&mut self, count: u32) -> Result<WriteResult> {
        self.writable()?;
        self.drive.eod_hit = false;
        self.drive.host_error = None;
        let r = self.eom.write_filemarks(&mut self.drive, count);
        let r = self.drive.with_host_error(r);
        self.check_power(r)
    }

    fn space(&mut self, how: Space, count: u32) -> Result<()> {
        self.ready()?;
        if count == 0 {
            return Ok(());
        }
        let mut count = count;
        if matches!(how, Space::Bsf | Space::Bsfm) && self.eom.writing() {
            // st writes the filemark and then spaces over one more, so the
            // count keeps meaning "filemarks that were there before".
            self.implicit_filemark();
            count = count.saturating_add(1);
        }
        self.reposition();
        match how {
            Space::Fsf => self.fsf(count),
            Space::Bsf => self.bsf(count),
            Space::Fsfm => {
                self.fsf(count)?;
                // Back over the last filemark crossed: before it.
                let d = &mut self.drive;
                d.pos -= 1;
                d.file_no = d.file_no.checked_sub(1);
                d.block_no = Number::Unknown;
                Ok(())
            }
            Space::Bsfm => {
                self.bsf(count)?;
                let d = &mut self.drive;
                d.pos += 1;
                d.file_no = d.file_no.map(|f| f + 1);
                d.block_no = Number::Known(0);
                Ok(())
            }
            Space::Fsr => {
                for _ in 0..count {
                    if self.drive.pos == self.drive.medium.len() {
                        return Err(self.at_eod());
                    }
                    let fm = self.is_filemark(self.drive.pos);
                    let d = &mut self.drive;
                    d.pos += 1;
                    if fm {
                        d.file_no = d.file_no.map(|f| f + 1);
                        d.block_no = Number::Known(0);
                        return Err(TapeError::FilemarkEncountered);
                    }
                    d.block_no = d.block_no.map(|b| b + 1);
                }
                Ok(())
            }
            Space::Bsr => {
                for _ in 0..count {
                    if self.drive.pos == 0 {
                        return Err(self.at_bot());
                    }
                    let fm = self.is_filemark(self.drive.pos - 1);
                    let d = &mut self.drive;
                    d.pos -= 1;
                    if fm {
                        d.file_no = d.file_no.checked_sub(1);
                        d.block_no = Number::Unknown;
                        return Err(TapeError::FilemarkEncountered);
                    }
                    d.block_no = d.block_no.checked_sub(1);
                }
                Ok(())
            }
        }
    }

    fn rewind(&mut self) -> Result<()> {
        self.ready()?;
        self.implicit_filemark();
        self.reposition();
        let d = &mut self.drive;
        d.pos = 0;
        d.file_no = Number::Known(0);
        d.block_no = Number::Known(0);
        Ok(())
    }

    fn end_of_data(&mut self) -> Result<()> {
        self.ready()?;
        self.reposition();
        let d = &mut self.drive;
        d.pos = d.medium.len();
        if d.file_no.known().is_some() {
            d.file_no = Number::Known(d.medium.filemarks_before(d.pos));
        }
        d.block_no = Number::Unknown;
        d.eod_hit = true;
        Ok(())
    }

    fn load(&mut self) -> Result<()> {
        if self.drive.dead {
            return Err(TapeError::PowerLost);
        }
        self.reposition();
        let d = &mut self.drive;
        d.loaded = true;
        d.pos = 0;
        d.file_no = Number::Known(0);
        d.block_no = Number::Known(0);
        Ok(())
    }

    fn unload(&mut self) -> Result<()> {
        self.ready()?;
        self.implicit_filemark();
        self.reposition();
        let d = &mut self.drive;
        d.loaded = false;
        d.pos = 0;
        d.file_no = Number::Known(0);
        d.block_no = Number::Known(0);
        Ok(())
    }

    fn erase(&mut self) -> Result<()> {
        self.writable()?;
        self.reposition();
        let pos = self.drive.pos;
        self.drive.medium.truncate(pos)
    }

    fn set_block_size(&mut self, size: BlockSize) -> Result<()> {
        self.ready()?;
        if let BlockSize::Fixed(n) = size {
            let l = self.drive.opts.block_limits;
            if n < l.min || n > l.max {
                return Err(TapeError::invalid(format!(
                    "block size {n} outside the block limits {}..={}",
                    l.min, l.max
                )));
            }
        }
        self.drive.block_size = size;
        Ok(())
    }

    fn block_limits(&mut self) -> Result<BlockLimits> {
        Ok(self.drive.opts.block_limits)
    }

    fn status(&mut self) -> Result<Status> {
        let d = &self.drive;
        let online = d.loaded && !d.dead;
        Ok(Status {
            file_number: d.file_no,
            block_number: d.block_no,
            block_size: d.block_size,
            density: d.opts.density,
            // st derives both from the numbers (st.c, MTIOCGET).
            bot: d.block_no == Number::Known(0) && d.file_no == Number::Known(0),
            eof: d.block_no == Number::Known(0) && d.file_no != Number::Known(0),
            eot: online && self.eom.early_warning(),
            eod: online && d.eod_hit,
            write_protected: d.opts.write_protected,
            online,
            door_open: !d.loaded,
        })
    }

    fn tell(&mut self) -> Result<u64> {
        self.ready()?;
        Ok(self.drive.pos as u64)
    }

    fn seek(&mut self, position: u64) -> Result<()> {
        self.ready()?;
        self.implicit_filemark();
        self.reposition();
        let d = &mut self.drive;
        if position > d.medium.len() as u64 {
            d.pos = d.medium.len();
            d.file_no = Number::Unknown;
            return Err(self.at_eod());
        }
        d.pos = position as usize;
        let n = if position == 0 {
            Number::Known(0)
        } else {
            Number::Unknown
        };
        d.file_no = n;
        d.block_no = n;
        Ok(())
    }

    fn set_compression(&mut self, on: bool) -> Result<()> {
        self.ready()?;
        self.drive.compression = on;
        Ok(())
    }
}
