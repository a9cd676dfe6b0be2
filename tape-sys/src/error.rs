//! The one error type of the crate.
//!
//! Every variant knows the errno the Linux st driver gives (or would give) for
//! it, so callers that speak errno (an `mt` front end, a C caller, a log line)
//! lose nothing, while Rust callers match on the variant. Conditions that are
//! normal on a tape — a filemark, end of data, the early-warning zone — are
//! *not* errors: they are values of [`ReadResult`](crate::ReadResult) and
//! [`WriteResult`](crate::WriteResult).

use nix::errno::Errno;

use crate::emulated::tap_format::TapError;

/// Result with [`TapeError`] as the default error.
pub type Result<T, E = TapeError> = std::result::Result<T, E>;

/// What went wrong with a tape operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TapeError {
    /// A system call failed in a way no other variant describes.
    #[error("{op}: {}", describe(*errno))]
    Os {
        /// The operation, e.g. `"MTIOCTOP MTFSF"` or `"read"`.
        op: &'static str,
        /// The errno the kernel returned.
        errno: Errno,
    },
    /// No medium is loaded (the drive is offline or the door is open).
    #[error("no medium loaded")]
    NoMedium,
    /// The medium (or the handle, opened read-only) does not allow writing.
    #[error("medium is write-protected ({})", describe(*errno))]
    WriteProtected {
        /// EACCES from write(2)/MTWEOF on st, EROFS from a read-write open.
        errno: Errno,
    },
    /// The medium is full: the block or filemark was **not** written.
    ///
    /// For a block, the drive refused it twice in a row (after early warning
    /// st refuses every other write without trying it; see
    /// [`eom`](crate::eom)). It normally follows
    /// [`WriteResult::EarlyWarning`](crate::WriteResult::EarlyWarning); a
    /// drive whose early-warning zone is smaller than a block can get here
    /// without one.
    #[error("end of medium: nothing was written")]
    EndOfMedium,
    /// Only some of the filemarks asked for fit before the end of the medium.
    #[error("end of medium: only {written} of {requested} filemarks were written")]
    FilemarksIncomplete {
        /// Filemarks that are on the medium.
        written: u32,
        /// Filemarks that were asked for.
        requested: u32,
    },
    /// The block is larger than the read buffer. The tape is left *before*
    /// the block, so reading again with a larger buffer gets it.
    #[error("block of {} does not fit a {buffer_len}-byte buffer", block_len.map_or("unknown size".to_string(), |n| format!("{n} bytes")))]
    BlockTooLarge {
        /// The block's length, when the backend could learn it.
        block_len: Option<usize>,
        /// The buffer that was too small.
        buffer_len: usize,
    },
    /// In fixed mode, the block under the head has another length than the
    /// block size; the tape did not move (st spaces back over it too).
    #[error("block of {block_len} bytes read in fixed {block_size}-byte mode")]
    WrongBlockLength {
        /// The block's length.
        block_len: usize,
        /// The fixed block size in force.
        block_size: u32,
    },
    /// Spacing over records ran into a filemark. Forward, the tape is left
    /// after the filemark; backward, before it (on its BOT side).
    #[error("spacing stopped at a filemark")]
    FilemarkEncountered,
    /// Spacing or seeking backward reached the beginning of the medium; the
    /// tape is at BOT.
    #[error("beginning of medium reached")]
    BeginningOfMedium,
    /// Spacing or seeking forward ran into end of data; the tape is left at
    /// end of data.
    #[error("end of data reached")]
    EndOfData,
    /// A read failed: the block at `position` could not be read.
    #[error("medium error{}", position.map_or(String::new(), |p| format!(" at block {p}")))]
    MediumError {
        /// The logical block that failed, when known.
        position: Option<u64>,
    },
    /// The caller asked for something the drive or medium cannot do with
    /// these arguments (block size outside the limits, a partial block in
    /// fixed mode, a count that does not fit the driver's `int`).
    #[error("invalid argument: {reason}")]
    InvalidArgument {
        /// Which argument, and why.
        reason: String,
    },
    /// The drive or backend does not offer this operation.
    #[error("not supported: {what} ({})", describe(*errno))]
    Unsupported {
        /// The operation.
        what: &'static str,
        /// The errno behind the refusal.
        errno: Errno,
    },
    /// A write failed at the end of medium and the position could not be read
    /// back, so whether the block is on the medium is unknown.
    #[error("end of medium, and whether the block was written is unknown ({})", describe(*errno))]
    WriteOutcomeUnknown {
        /// The errno of the failed position query.
        errno: Errno,
    },
    /// The position after a write is neither "before" nor "after" the block:
    /// something else moved the tape. Nothing is assumed about the data.
    #[error(
        "tape position {actual} after a write, expected {expected_before} or {expected_after}"
    )]
    PositionMismatch {
        /// Position if the write was not committed.
        expected_before: u64,
        /// Position if it was.
        expected_after: u64,
        /// What the drive reports.
        actual: u64,
    },
    /// An emulated power cut happened; the emulated drive is dead until the
    /// image is opened again.
    #[error("power lost (emulated fault)")]
    PowerLost,
    /// The `.tap` image is damaged or uses a feature this crate does not read.
    #[error("tape image: {0}")]
    Image(#[from] TapError),
    /// I/O on the file behind an emulated tape failed.
    #[error("{op}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

fn describe(errno: Errno) -> String {
    format!("{errno:?}: {}", errno.desc())
}

impl TapeError {
    /// The errno the Linux st driver returns for this condition.
    ///
    /// For errors that came from a system call this is the errno that call
    /// returned; for the others it is what st reports in the same situation
    /// (ENOSPC for end of medium, EIO for spacing that stopped early, ...).
    pub fn errno(&self) -> Errno {
        match self {
            TapeError::Os { errno, .. }
            | TapeError::WriteProtected { errno }
            | TapeError::Unsupported { errno, .. }
            | TapeError::WriteOutcomeUnknown { errno } => *errno,
            TapeError::NoMedium => Errno::ENOMEDIUM,
            TapeError::EndOfMedium | TapeError::FilemarksIncomplete { .. } => Errno::ENOSPC,
            TapeError::BlockTooLarge { .. } => Errno::ENOMEM,
            TapeError::FilemarkEncountered
            | TapeError::BeginningOfMedium
            | TapeError::EndOfData
            | TapeError::MediumError { .. }
            | TapeError::WrongBlockLength { .. }
            | TapeError::PositionMismatch { .. }
            | TapeError::PowerLost
            | TapeError::Image(_) => Errno::EIO,
            TapeError::InvalidArgument { .. } => Errno::EINVAL,
            TapeError::Io { source, .. } => source
                .raw_os_error()
                .map(Errno::from_raw)
                .unwrap_or(Errno::EIO),
        }
    }

    pub(crate) fn invalid(reason: impl Into<String>) -> Self {
        TapeError::InvalidArgument {
            reason: reason.into(),
        }
    }

    /// The generic mapping from an errno of `op` to a variant.
    pub(crate) fn from_errno(op: &'static str, errno: Errno) -> Self {
        match errno {
            Errno::ENOMEDIUM => TapeError::NoMedium,
            Errno::EACCES | Errno::EROFS => TapeError::WriteProtected { errno },
            Errno::EINVAL => TapeError::InvalidArgument {
                reason: format!("{op} refused by the driver (EINVAL)"),
            },
            _ => TapeError::Os { op, errno },
        }
    }
}
