//! End of medium: deciding whether a refused write is on the medium.
//!
//! The st driver's answers near the end of the medium are ambiguous
//! (README "Observed st semantics", 16-18, and st.c's `st_write`):
//!
//! * In variable mode the write that crosses early warning may return ENOSPC
//!   although its block *was* written (scsi_debug), or succeed (drives that
//!   report no residue); either way st is now in its "EOM" state.
//! * From then on st refuses every other write with ENOSPC *without* sending
//!   it to the drive (the refusal is the signal; the next write is allowed),
//!   so results alternate: refused, written, refused, written, ...
//! * At the physical end the drive refuses for real; on scsi_debug the very
//!   last block that fits again comes back as ENOSPC although written.
//!
//! The errno alone therefore never tells whether a block is on the medium;
//! the position does. `EomTracker` keeps the logical position (read once
//! with MTIOCPOS, then counted), compares it after every ENOSPC, and turns
//! the alternation into a plain contract: `Ok` = written (with the
//! early-warning flag), [`TapeError::EndOfMedium`] = not written, because the
//! drive refused twice in a row. A refused write is retried exactly once, and
//! only after the position proved it was not written, so nothing is written
//! twice and nothing is reported written that is not.
//!
//! The same code runs for [`St`](crate::St) and, over a model of st's state
//! machine, for [`EmulatedTape`](crate::EmulatedTape), which is how the
//! randomized test checks every decision without hardware.

use nix::errno::Errno;

use crate::device::WriteResult;
use crate::error::{Result, TapeError};

/// The raw driver calls the decision needs, answered the way st answers them.
pub(crate) trait RawDrive {
    /// One write(2) of one block.
    fn raw_write(&mut self, buf: &[u8]) -> std::result::Result<usize, Errno>;
    /// MTWEOF `count`.
    fn raw_write_filemarks(&mut self, count: u32) -> std::result::Result<(), Errno>;
    /// MTIOCPOS.
    fn raw_position(&mut self) -> std::result::Result<u64, Errno>;
    /// GMT_EOT from MTIOCGET: st is in its early-warning state.
    fn raw_eot(&mut self) -> std::result::Result<bool, Errno>;
}

/// Counters of the decisions taken, for diagnostics and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EomStats {
    /// ENOSPC answers whose block the position showed to be written.
    pub enospc_written: u64,
    /// ENOSPC answers whose block the position showed not to be written.
    pub enospc_not_written: u64,
    /// Writes reported as [`TapeError::EndOfMedium`].
    pub end_of_medium: u64,
}

/// The write-side state a backend keeps between calls.
#[derive(Debug, Default)]
pub(crate) struct EomTracker {
    /// The logical position, while it is known without asking the drive.
    position: Option<u64>,
    /// A write since the last repositioning reported early warning.
    early_warning: bool,
    /// The last operation wrote data (st's `rw == ST_WRITING`): the next
    /// rewind, seek, bsf, bsfm, unload or close writes a filemark first.
    writing: bool,
    stats: EomStats,
}

impl EomTracker {
    /// Something other than our own writes moved the tape (or may have).
    pub(crate) fn moved(&mut self) {
        self.position = None;
        self.early_warning = false;
        self.writing = false;
    }

    /// The position is known to be `p` (after MTIOCPOS).
    pub(crate) fn set_position(&mut self, p: u64) {
        self.position = Some(p);
    }

    /// The last operation wrote data.
    pub(crate) fn writing(&self) -> bool {
        self.writing
    }

    /// A write since the last repositioning reported early warning.
    pub(crate) fn early_warning(&self) -> bool {
        self.early_warning
    }

    /// The position counted since the last MTIOCPOS, if any.
    pub(crate) fn position(&self) -> Option<u64> {
        self.position
    }

    pub(crate) fn stats(&self) -> EomStats {
        self.stats
    }

    fn position_before(&mut self, raw: &mut impl RawDrive) -> std::result::Result<u64, Errno> {
        match self.position {
            Some(p) => Ok(p),
            None => {
                let p = raw.raw_position()?;
                self.position = Some(p);
                Ok(p)
            }
        }
    }

    /// Writes one block and decides, from the position, whether it is on the
    /// medium. See the module documentation.
    pub(crate) fn write_block(
        &mut self,
        raw: &mut impl RawDrive,
        buf: &[u8],
    ) -> Result<WriteResult> {
        // Without a position the write can still go ahead; only an ENOSPC
        // answer then stays undecided.
        let before = self.position_before(raw);
        let mut refused = 0;
        loop {
            match raw.raw_write(buf) {
                Ok(n) if n == buf.len() => {
                    self.position = before.ok().map(|p| p + 1);
                    self.writing = true;
                    // A failing status query must not turn a written block
                    // into an error.
                    if refused > 0 || raw.raw_eot().unwrap_or(false) {
                        self.early_warning = true;
                    }
                    return Ok(if self.early_warning {
                        WriteResult::EarlyWarning
                    } else {
                        WriteResult::Written
                    });
                }
                Ok(n) => {
                    // Only a multi-block fixed-mode write can be short, and
                    // none is ever issued; say so rather than guess.
                    self.moved();
                    return Err(TapeError::invalid(format!(
                        "short write: {n} of {} bytes (multi-block writes are not used)",
                        buf.len()
                    )));
                }
                Err(Errno::ENOSPC) => {
                    self.early_warning = true;
                    let before = match before {
                        Ok(p) => p,
                        Err(errno) => {
                            self.moved();
                            return Err(TapeError::WriteOutcomeUnknown { errno });
                        }
                    };
                    let after = match raw.raw_position() {
                        Ok(p) => p,
                        Err(errno) => {
                            self.position = None;
                            return Err(TapeError::WriteOutcomeUnknown { errno });
                        }
                    };
                    if after == before + 1 {
                        self.stats.enospc_written += 1;
                        self.position = Some(after);
                        self.writing = true;
                        return Ok(WriteResult::EarlyWarning);
                    }
                    if after != before {
                        self.position = None;
                        return Err(TapeError::PositionMismatch {
                            expected_before: before,
                            expected_after: before + 1,
                            actual: after,
                        });
                    }
                    self.stats.enospc_not_written += 1;
                    refused += 1;
                    if refused >= 2 {
                        self.stats.end_of_medium += 1;
                        return Err(TapeError::EndOfMedium);
                    }
                    // The first refusal after early warning is st's signal;
                    // the write after it is allowed.
                }
                Err(errno) => {
                    self.position = None;
                    return Err(match errno {
                        Errno::EINVAL => TapeError::invalid(format!(
                            "write of {} bytes refused (EINVAL): outside the block limits or not a whole block",
                            buf.len()
                        )),
                        _ => TapeError::from_errno("write", errno),
                    });
                }
            }
        }
    }

    /// Writes `count` filemarks; at the end of the medium the position says
    /// how many made it.
    pub(crate) fn write_filemarks(
        &mut self,
        raw: &mut impl RawDrive,
        count: u32,
    ) -> Result<WriteResult> {
        let before = self.position_before(raw).ok();
        match raw.raw_write_filemarks(count) {
            Ok(()) => {
                self.position = before.map(|p| p + u64::from(count));
                self.writing = false;
                Ok(if self.early_warning {
                    WriteResult::EarlyWarning
                } else {
                    WriteResult::Written
                })
            }
            Err(errno) => {
                self.writing = false;
                let after = raw.raw_position().ok();
                self.position = after;
                let at_end =
                    errno == Errno::ENOSPC || self.early_warning || raw.raw_eot().unwrap_or(false);
                match (before, after) {
                    (Some(b), Some(a)) if at_end && a >= b => {
                        let written = u32::try_from(a - b).unwrap_or(u32::MAX).min(count);
                        self.early_warning = true;
                        if written == count {
                            Ok(WriteResult::EarlyWarning)
                        } else if written == 0 {
                            self.stats.end_of_medium += 1;
                            Err(TapeError::EndOfMedium)
                        } else {
                            Err(TapeError::FilemarksIncomplete {
                                written,
                                requested: count,
                            })
                        }
                    }
                    _ => Err(TapeError::from_errno("MTIOCTOP MTWEOF", errno)),
                }
            }
        }
    }
}
