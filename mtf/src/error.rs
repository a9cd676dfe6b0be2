//! Typed errors. Every parse error names the byte offset (from the start of the medium when the
//! caller knows it, else from the start of the slice handed to the parser) and what was wrong.

use crate::spec::{BlockType, StreamId};
use thiserror::Error;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, and where.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// The input ended before a structure was complete.
    #[error("at offset {offset}: truncated {what}: need {needed} bytes, have {available}")]
    Truncated {
        /// Where on the medium (or in the structure) it starts.
        offset: u64,
        /// What was cut short.
        what: &'static str,
        /// Bytes it needs.
        needed: u64,
        /// Bytes that were there.
        available: u64,
    },
    /// A descriptor block header's checksum does not hold.
    #[error("at offset {offset}: {block_type} block header checksum mismatch (stored {stored:#06x}, computed {computed:#06x})")]
    BlockChecksum {
        /// Where on the medium (or in the structure) it starts.
        offset: u64,
        /// The block type.
        block_type: BlockType,
        /// The checksum as stored.
        stored: u16,
        /// The checksum computed from the bytes.
        computed: u16,
    },
    /// A stream header's checksum does not hold.
    #[error("at offset {offset}: {id} stream header checksum mismatch (stored {stored:#06x}, computed {computed:#06x})")]
    StreamChecksum {
        /// Where on the medium (or in the structure) it starts.
        offset: u64,
        /// The stream id.
        id: StreamId,
        /// The checksum as stored.
        stored: u16,
        /// The checksum computed from the bytes.
        computed: u16,
    },
    /// A frame (compression or encryption) header's checksum does not hold.
    #[error("at offset {offset}: frame header checksum mismatch (stored {stored:#06x}, computed {computed:#06x})")]
    FrameChecksum {
        /// Where on the medium (or in the structure) it starts.
        offset: u64,
        /// The checksum as stored.
        stored: u16,
        /// The checksum computed from the bytes.
        computed: u16,
    },
    /// A field holds a value the format does not allow.
    #[error("at offset {offset}: invalid {field}: {reason}")]
    Invalid {
        /// Where on the medium (or in the structure) it starts.
        offset: u64,
        /// The field at fault.
        field: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// A tape address points outside its block.
    #[error("at offset {offset}: {field} address (offset {addr_offset}, size {addr_size}) lies outside the {limit}-byte area")]
    AddressOutOfRange {
        /// Where on the medium (or in the structure) it starts.
        offset: u64,
        /// The field at fault.
        field: &'static str,
        /// The address's offset.
        addr_offset: u16,
        /// The address's size.
        addr_size: u16,
        /// Where the area it must lie in ends.
        limit: usize,
    },
    /// Not MTF at all: a SQL Server compressed backup container.
    #[error("not MTF: SQL Server compressed container (MSSQLBAK); the payload is compressed and not decoded")]
    SqlServerCompressed,
    /// Not MTF: the first block is not a TAPE header.
    #[error("not MTF: expected a TAPE block at offset 0, found {found:02x?}")]
    NotMtf {
        /// The first four bytes, found where `TAPE` belongs.
        found: [u8; 4],
    },
    /// Not MTF: the medium ends before a TAPE block could begin.
    #[error("not MTF: the medium holds only {len} bytes, too few for a TAPE block")]
    ShortMedium {
        /// The bytes the medium holds.
        len: usize,
    },
    /// Not MTF: a filemark or the end of the data comes before any TAPE block.
    #[error("not MTF: no TAPE block before the first filemark or the end of the data")]
    NoTapeBlock,
    /// A value does not fit the field it must be written into.
    #[error("cannot encode {field}: {reason}")]
    Encode {
        /// The field at fault.
        field: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// The underlying reader or writer failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// The medium offset the error names, if it names one.
    pub fn offset(&self) -> Option<u64> {
        match self {
            Error::Truncated { offset, .. }
            | Error::BlockChecksum { offset, .. }
            | Error::StreamChecksum { offset, .. }
            | Error::FrameChecksum { offset, .. }
            | Error::Invalid { offset, .. }
            | Error::AddressOutOfRange { offset, .. } => Some(*offset),
            Error::SqlServerCompressed
            | Error::NotMtf { .. }
            | Error::ShortMedium { .. }
            | Error::NoTapeBlock => Some(0),
            _ => None,
        }
    }

    /// Shifts a slice-relative offset into a medium-relative one.
    pub fn at(mut self, base: u64) -> Self {
        match &mut self {
            Error::Truncated { offset, .. }
            | Error::BlockChecksum { offset, .. }
            | Error::StreamChecksum { offset, .. }
            | Error::FrameChecksum { offset, .. }
            | Error::Invalid { offset, .. }
            | Error::AddressOutOfRange { offset, .. } => *offset = offset.saturating_add(base),
            _ => {}
        }
        self
    }

    pub(crate) fn truncated(
        offset: usize,
        what: &'static str,
        needed: usize,
        available: usize,
    ) -> Self {
        Error::Truncated {
            offset: offset as u64,
            what,
            needed: needed as u64,
            available: available as u64,
        }
    }

    pub(crate) fn invalid(offset: usize, field: &'static str, reason: impl Into<String>) -> Self {
        Error::Invalid {
            offset: offset as u64,
            field,
            reason: reason.into(),
        }
    }
}
