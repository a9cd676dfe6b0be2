//! Fault injection for the emulated tape.
//!
//! Real media fail in a few characteristic ways that backup software must
//! survive: a write that fails (EIO, the block is not on the medium), the
//! power going away in the middle of a record (the image ends mid-record, as
//! a drive's buffer would have been lost), and blocks that cannot be read
//! back. Each fault here reproduces one of them at a chosen place.

use std::collections::BTreeSet;

/// The faults armed on an [`EmulatedTape`](super::EmulatedTape).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    /// Fail the first block write that would take the data bytes written
    /// through this handle past this many: it returns an EIO error
    /// ([`TapeError::Os`](crate::TapeError::Os)) and nothing of it reaches the
    /// medium. The fault then clears (arm it again for another).
    pub fail_write_after_bytes: Option<u64>,
    /// Cut the power when the image would grow past this many bytes: the
    /// object being written is stored only up to that byte (mid-record), the
    /// call fails with [`TapeError::PowerLost`](crate::TapeError::PowerLost),
    /// and so does every later call. Opening the image again finds it
    /// truncated ([`TapError::Truncated`](super::tap_format::TapError::Truncated)),
    /// or, with recovery, ending at the last complete object.
    pub power_cut_at_image_bytes: Option<u64>,
    /// Reading the object at any of these logical positions fails with
    /// [`TapeError::MediumError`](crate::TapeError::MediumError); the tape
    /// moves past it, so a reader can go on and report the gap.
    pub read_errors_at: BTreeSet<u64>,
}

impl Faults {
    /// No faults.
    pub fn none() -> Self {
        Self::default()
    }

    /// Fail a write after `bytes` data bytes.
    pub fn fail_write_after_bytes(mut self, bytes: u64) -> Self {
        self.fail_write_after_bytes = Some(bytes);
        self
    }

    /// Cut the power when the image reaches `bytes` bytes.
    pub fn power_cut_at_image_bytes(mut self, bytes: u64) -> Self {
        self.power_cut_at_image_bytes = Some(bytes);
        self
    }

    /// Make the object at `position` unreadable.
    pub fn read_error_at(mut self, position: u64) -> Self {
        self.read_errors_at.insert(position);
        self
    }
}
