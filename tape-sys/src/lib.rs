//! Linux SCSI tape access through the st driver, and an emulated tape with the same contract.
//!
//! Skeleton: the device trait, the st backend and the emulated tape arrive with the tape-sys issue.
