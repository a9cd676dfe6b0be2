//! The device contract: the [`TapeDevice`] trait and the values it speaks.
//!
//! The contract is the Linux st driver's, as observed on the real driver
//! (`docs/st-semantics.md` in this crate), with its quirks
//! resolved in one documented way so that code written against an
//! [`EmulatedTape`](crate::EmulatedTape) behaves the same on a real drive.
//!
//! Positions are *logical objects*, as MTIOCPOS counts them: every block and
//! every filemark takes one position, the first block is at 0, and end of
//! data is the position after the last object.

use std::fmt;

use crate::error::Result;

/// What one [`TapeDevice::read_block`] found.
///
/// Filemarks and end of data are ordinary answers when reading a tape, so they
/// are values, not errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReadResult {
    /// A block of this many bytes was read into the start of the buffer.
    Data(usize),
    /// A filemark was read; the tape is now at the start of the next file.
    Filemark,
    /// There is nothing more on the medium; the tape did not move.
    EndOfData,
}

/// What one successful write did. Both values mean the data is on the medium.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WriteResult {
    /// Written; the medium is not in its early-warning zone.
    Written,
    /// Written, and the medium is in its early-warning zone: there is room
    /// for a trailer (end-of-media labels, a filemark), not for much more.
    /// Keep writing and [`TapeError::EndOfMedium`](crate::TapeError::EndOfMedium)
    /// eventually says a block was *not* written.
    EarlyWarning,
}

impl WriteResult {
    /// True for [`WriteResult::EarlyWarning`].
    pub fn early_warning(self) -> bool {
        self == WriteResult::EarlyWarning
    }
}

/// Fixed or variable blocks (MTSETBLK).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BlockSize {
    /// Variable mode (MTSETBLK 0): one write makes one block of the write's
    /// length, one read returns one block.
    Variable,
    /// Fixed mode: every block has this many bytes; a write or read moves
    /// exactly one block of this size.
    Fixed(u32),
}

impl BlockSize {
    /// The MTSETBLK argument: 0 for variable.
    pub fn as_mt_count(self) -> u32 {
        match self {
            BlockSize::Variable => 0,
            BlockSize::Fixed(n) => n,
        }
    }

    /// The block size for an MTSETBLK argument.
    pub fn from_mt_count(n: u32) -> Self {
        if n == 0 {
            BlockSize::Variable
        } else {
            BlockSize::Fixed(n)
        }
    }
}

impl fmt::Display for BlockSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlockSize::Variable => f.write_str("variable"),
            BlockSize::Fixed(n) => write!(f, "{n} bytes"),
        }
    }
}

/// The drive's block limits (SCSI READ BLOCK LIMITS).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BlockLimits {
    /// Smallest block the drive writes or reads in variable mode.
    pub min: u32,
    /// Largest block.
    pub max: u32,
    /// Block sizes must be a multiple of 2^granularity.
    pub granularity: u8,
}

/// How [`TapeDevice::space`] moves; the names are `mt`'s.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Space {
    /// MTFSF: forward over `count` filemarks; stops *after* the last one, at
    /// the start of a file.
    Fsf,
    /// MTBSF: backward over `count` filemarks; stops *before* the last one
    /// (on its BOT side), at the end of the previous file.
    Bsf,
    /// MTFSFM: forward over `count` filemarks, then back over one: stops
    /// *before* the last filemark, where appending to a file happens.
    Fsfm,
    /// MTBSFM: backward over `count` filemarks, then forward over one: stops
    /// *after* the last one, at the start of that file.
    Bsfm,
    /// MTFSR: forward over `count` blocks. A filemark on the way stops it
    /// ([`TapeError::FilemarkEncountered`](crate::TapeError::FilemarkEncountered)),
    /// after the filemark.
    Fsr,
    /// MTBSR: backward over `count` blocks. A filemark on the way stops it,
    /// before the filemark.
    Bsr,
}

impl Space {
    /// The `mt` verb.
    pub fn name(self) -> &'static str {
        match self {
            Space::Fsf => "fsf",
            Space::Bsf => "bsf",
            Space::Fsfm => "fsfm",
            Space::Bsfm => "bsfm",
            Space::Fsr => "fsr",
            Space::Bsr => "bsr",
        }
    }

    /// True for the backward-moving operations.
    pub fn is_backward(self) -> bool {
        matches!(self, Space::Bsf | Space::Bsfm | Space::Bsr)
    }
}

/// A file or block number that the driver may not know.
///
/// st forgets the numbers after MTSEEK, after spacing backward over a
/// filemark (block number), at end of data (block number), after an error,
/// and when it is loaded; it reports -1 then. Here that is
/// [`Number::Unknown`], so nobody computes with a -1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Number {
    /// The number.
    Known(u64),
    /// The driver does not know.
    Unknown,
}

impl Number {
    /// `Some(n)` when known.
    pub fn known(self) -> Option<u64> {
        match self {
            Number::Known(n) => Some(n),
            Number::Unknown => None,
        }
    }

    /// From st's signed representation (-1, or any negative, is unknown).
    pub fn from_st(n: i64) -> Self {
        u64::try_from(n).map_or(Number::Unknown, Number::Known)
    }

    /// True when this is unknown or equal to `n`: the check a caller can make
    /// against a value it computed itself.
    pub fn is_unknown_or(self, n: u64) -> bool {
        match self {
            Number::Known(v) => v == n,
            Number::Unknown => true,
        }
    }

    pub(crate) fn map(self, f: impl FnOnce(u64) -> u64) -> Self {
        match self {
            Number::Known(n) => Number::Known(f(n)),
            Number::Unknown => Number::Unknown,
        }
    }

    pub(crate) fn checked_sub(self, k: u64) -> Self {
        match self {
            Number::Known(n) => n.checked_sub(k).map_or(Number::Unknown, Number::Known),
            Number::Unknown => Number::Unknown,
        }
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Number::Known(n) => write!(f, "{n}"),
            Number::Unknown => f.write_str("unknown"),
        }
    }
}

/// A snapshot of the drive's state (MTIOCGET).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Status {
    /// Files (filemarks) before the position, counted from BOT.
    pub file_number: Number,
    /// Blocks between the last filemark (or BOT) and the position.
    pub block_number: Number,
    /// The current block mode.
    pub block_size: BlockSize,
    /// The density code (0 = the drive's default).
    pub density: u8,
    /// At the beginning of the medium (st derives it from file 0, block 0).
    pub bot: bool,
    /// Just after a filemark, at the start of a file (block 0 of a file > 0).
    pub eof: bool,
    /// In the early-warning zone: the last write reported early warning.
    pub eot: bool,
    /// End of data was detected (by a read, [`TapeDevice::end_of_data`], or
    /// spacing that ran into it).
    pub eod: bool,
    /// Writing is not possible: the medium is write-protected or the handle
    /// is read-only.
    pub write_protected: bool,
    /// A medium is loaded and ready.
    pub online: bool,
    /// No medium in the drive.
    pub door_open: bool,
}

/// A tape drive with a medium: the Linux st driver ([`St`](crate::St)) or an
/// emulated one ([`EmulatedTape`](crate::EmulatedTape)).
///
/// The trait is object-safe; code that should run on both takes
/// `&mut dyn TapeDevice` or a generic `D: TapeDevice`.
///
/// Writing anywhere but at end of data makes that position the new end of
/// data: everything after it is gone, as on a real tape. Directly after
/// writing data, [`rewind`](TapeDevice::rewind), [`unload`](TapeDevice::unload),
/// [`seek`](TapeDevice::seek), [`Space::Bsf`], [`Space::Bsfm`] and closing
/// the device first write one filemark, as st does, so a file is always
/// terminated.
pub trait TapeDevice {
    /// Reads one block into `buf`.
    ///
    /// In variable mode the buffer should be as large as the largest block
    /// expected (the drive's [`BlockLimits::max`] is always enough). A block
    /// larger than `buf` gives [`TapeError::BlockTooLarge`](crate::TapeError::BlockTooLarge)
    /// and leaves the tape before the block: nothing is skipped silently. In
    /// fixed mode `buf` must hold one block.
    fn read_block(&mut self, buf: &mut [u8]) -> Result<ReadResult>;

    /// Writes `buf` as one block (in fixed mode `buf.len()` must be the block
    /// size). `Ok` means the block is on the medium;
    /// [`TapeError::EndOfMedium`](crate::TapeError::EndOfMedium) means it is
    /// not. The result says whether the early-warning zone was reached.
    fn write_block(&mut self, buf: &[u8]) -> Result<WriteResult>;

    /// Writes `count` filemarks (0 only flushes what the driver buffered).
    fn write_filemarks(&mut self, count: u32) -> Result<WriteResult>;

    /// Spaces over filemarks or blocks; see [`Space`].
    fn space(&mut self, how: Space, count: u32) -> Result<()>;

    /// Rewinds to the beginning of the medium.
    fn rewind(&mut self) -> Result<()>;

    /// Goes to end of data, where appending happens.
    fn end_of_data(&mut self) -> Result<()>;

    /// Loads the medium (MTLOAD) and leaves it at BOT.
    fn load(&mut self) -> Result<()>;

    /// Rewinds and unloads the medium (MTOFFL); the drive goes offline.
    fn unload(&mut self) -> Result<()>;

    /// Erases from the position to the end of the medium (MTERASE, long).
    fn erase(&mut self) -> Result<()>;

    /// Selects fixed or variable blocks (MTSETBLK).
    fn set_block_size(&mut self, size: BlockSize) -> Result<()>;

    /// The drive's block limits.
    fn block_limits(&mut self) -> Result<BlockLimits>;

    /// The drive's state.
    fn status(&mut self) -> Result<Status>;

    /// The logical position (MTIOCPOS): blocks and filemarks from BOT.
    fn tell(&mut self) -> Result<u64>;

    /// Goes to a logical position (MTSEEK). Past end of data it stops at end
    /// of data with [`TapeError::EndOfData`](crate::TapeError::EndOfData).
    fn seek(&mut self, position: u64) -> Result<()>;

    /// Turns the drive's data compression on or off (MTCOMPRESSION).
    fn set_compression(&mut self, on: bool) -> Result<()>;
}

macro_rules! forward_tape_device {
    ($($ty:ty),*) => {$(
        impl<T: TapeDevice + ?Sized> TapeDevice for $ty {
            fn read_block(&mut self, buf: &mut [u8]) -> Result<ReadResult> { (**self).read_block(buf) }
            fn write_block(&mut self, buf: &[u8]) -> Result<WriteResult> { (**self).write_block(buf) }
            fn write_filemarks(&mut self, count: u32) -> Result<WriteResult> { (**self).write_filemarks(count) }
            fn space(&mut self, how: Space, count: u32) -> Result<()> { (**self).space(how, count) }
            fn rewind(&mut self) -> Result<()> { (**self).rewind() }
            fn end_of_data(&mut self) -> Result<()> { (**self).end_of_data() }
            fn load(&mut self) -> Result<()> { (**self).load() }
            fn unload(&mut self) -> Result<()> { (**self).unload() }
            fn erase(&mut self) -> Result<()> { (**self).erase() }
            fn set_block_size(&mut self, size: BlockSize) -> Result<()> { (**self).set_block_size(size) }
            fn block_limits(&mut self) -> Result<BlockLimits> { (**self).block_limits() }
            fn status(&mut self) -> Result<Status> { (**self).status() }
            fn tell(&mut self) -> Result<u64> { (**self).tell() }
            fn seek(&mut self, position: u64) -> Result<()> { (**self).seek(position) }
            fn set_compression(&mut self, on: bool) -> Result<()> { (**self).set_compression(on) }
        }
    )*};
}

forward_tape_device!(&mut T, Box<T>);
