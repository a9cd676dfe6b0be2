//! Tape drives behind one trait: the Linux SCSI tape driver ([`St`]) and an
//! emulated drive over SIMH `.tap` images ([`EmulatedTape`]).
//!
//! [`TapeDevice`] is the contract: read and write one block, filemarks,
//! spacing, rewind, end of data, load and unload, erase, block size and
//! limits, status, tell and seek, compression. Filemarks and end of data are
//! results of a read ([`ReadResult`]); the early-warning zone is a result of
//! a write ([`WriteResult`]); real failures are [`TapeError`]s that keep the
//! errno.
//!
//! The contract is the st driver's as it really behaves (see
//! `docs/st-semantics.md` in this crate), including end of
//! medium, where st's answers are ambiguous and the position decides whether
//! a block was written (module [`eom`]). The same conformance suite
//! (`tests/conformance/`) runs on both backends: on [`EmulatedTape`] in
//! `cargo test`, and on [`St`] against the real driver in a VM with
//! scsi_debug's tape emulation: `sudo tape-sys/tests/vm/run.sh --mt` (it
//! installs qemu and downloads a Debian kernel itself; about a minute).
//!
//! | module | what it holds |
//! | --- | --- |
//! | [`device`] | the trait and the values it speaks |
//! | [`error`] | [`TapeError`], with the errno of each condition |
//! | [`eom`] | deciding whether a write refused at end of medium is on the medium |
//! | [`st`] | the Linux st driver; `st::ioctl` binds MTIOCTOP/MTIOCGET/MTIOCPOS and SG_IO |
//! | [`emulated`] | the emulated drive; `tap_format` (SIMH `.tap`, with a parser for arbitrary bytes), `faults` |

#![deny(missing_docs)]

pub mod device;
pub mod emulated;
pub mod eom;
pub mod error;
pub mod st;

pub use device::{
    BlockLimits, BlockSize, Number, ReadResult, Space, Status, TapeDevice, WriteResult,
};
pub use emulated::faults::Faults;
pub use emulated::tap_format;
pub use emulated::{EarlyWarningSignal, EmulatedOptions, EmulatedStats, EmulatedTape};
pub use eom::EomStats;
pub use error::{Result, TapeError};
pub use st::{NodeKind, St, StOptions, StWarning};
