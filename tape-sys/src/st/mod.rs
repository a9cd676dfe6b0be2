//! The Linux SCSI tape driver (st), through MTIOCTOP, MTIOCGET and MTIOCPOS.
//!
//! [`St`] presents st's contract as it really behaves on a real drive
//! (`docs/st-semantics.md` in this crate, checked again by
//! the conformance suite in the VM), with the quirks resolved like this:
//!
//! * **End of medium.** An ENOSPC write may or may not be on the medium, and
//!   after early warning st refuses every other write unsent. The position
//!   before and after decides (module [`eom`](crate::eom)); a refusal is
//!   retried once; `Ok` means written, [`TapeError::EndOfMedium`] means not.
//!   The crossing write is reported as [`WriteResult::EarlyWarning`] whether
//!   st said ENOSPC or gave a full count (then GMT_EOT tells; one MTIOCGET,
//!   which sends no SCSI command, follows each write for that).
//! * **Filemark or end of data.** A read returning 0 is a filemark unless
//!   GMT_EOD is set: st returns 0 once more at end of data right after a
//!   filemark. A read failing with EIO is end of data when GMT_EOD is set,
//!   when the position is the end of data this handle wrote or went to, or
//!   when MTEOM from there does not move the tape (st gives EIO without
//!   GMT_EOD at a freshly written end of data, on a blank tape, after MTSEEK);
//!   otherwise it is a [`TapeError::MediumError`] and the tape is put back.
//! * **Too-small read buffers.** st answers ENOMEM and *consumes* the block;
//!   here the tape is spaced back over it, so the error
//!   ([`TapeError::BlockTooLarge`]) loses nothing. Buffers below the drive's
//!   minimum block size (which st refuses with EINVAL) are served through an
//!   internal buffer of the maximum block size.
//! * **Implicit filemarks.** st writes a filemark when a rewind, unload,
//!   seek, bsf or bsfm, or closing, follows a write; the trait documents it
//!   and the emulated tape does the same. At the physical end that filemark
//!   cannot be written and st then fails every rewind; `rewind` ends st's
//!   writing state with MTEOM (no filemark) and rewinds again.
//! * **bsr n** is sent as n single-block spaces: a drive must stop a
//!   multi-block reverse space at a filemark or BOT and report it, but
//!   scsi_debug's emulation crosses filemarks silently and runs past BOT
//!   (observed in the VM); one block at a time is exact on both.
//! * **Block limits.** st reads them at open but has no ioctl for them; they
//!   come from SG_IO READ BLOCK LIMITS, which needs CAP_SYS_RAWIO. Without
//!   them [`TapeDevice::block_limits`] is unsupported, and a read with a
//!   small buffer that st refuses (EINVAL, below the minimum) is retried
//!   through a 64 KiB buffer.
//! * **Unknown numbers.** st reports -1 for file or block numbers it does not
//!   know; they are [`Number::Unknown`] here.
//! * **Status flags.** st's GMT_EOT/GMT_EOD alternate with its internal state
//!   after early warning; `status().eot` is true once a write reported early
//!   warning, until the tape is repositioned. `write_protected` is also true
//!   for a handle opened read-only.
//!
//! Non-rewinding nodes (`/dev/nstN`) are the default ([`St::open_drive`]);
//! opening a rewinding node (`/dev/stN`) for multi-file work records a
//! [`StWarning`], because closing it rewinds and the next file would
//! overwrite the first. EINTR is retried everywhere.

// The raw ioctl bindings issue requests on any descriptor: kept inside the crate, behind `St`.
// The whole MTIOCTOP vocabulary is bound as the kernel defines it, used or not.
#[allow(dead_code)]
pub(crate) mod ioctl;

use std::fs::OpenOptions;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, IntoRawFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;

use self::ioctl::*;
use crate::device::{
    BlockLimits, BlockSize, Number, ReadResult, Space, Status, TapeDevice, WriteResult,
};
use crate::eom::{EomStats, EomTracker, RawDrive};
use crate::error::{Result, TapeError};

/// What kind of device node a path is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NodeKind {
    /// An st node that does not rewind on close (`/dev/nstN`, minor bit 7).
    NonRewinding,
    /// An st node that rewinds on close (`/dev/stN`).
    Rewinding,
    /// Not an st character device (another driver, or not a device).
    Other,
}

impl NodeKind {
    /// Classifies `path` by its device numbers.
    pub fn of(path: impl AsRef<Path>) -> std::io::Result<NodeKind> {
        let m = std::fs::metadata(path)?;
        if !m.file_type().is_char_device() {
            return Ok(NodeKind::Other);
        }
        let rdev = m.rdev();
        let (major, minor) = (nix::sys::stat::major(rdev), nix::sys::stat::minor(rdev));
        Ok(if major != SCSI_TAPE_MAJOR {
            NodeKind::Other
        } else if minor & 0x80 != 0 {
            NodeKind::NonRewinding
        } else {
            NodeKind::Rewinding
        })
    }
}

/// The non-rewinding sibling of a rewinding node (`/dev/st0l` ->
/// `/dev/nst0l`), when the name follows the usual scheme.
pub fn non_rewinding_path(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?.to_str()?;
    name.starts_with("st")
        .then(|| path.with_file_name(format!("n{name}")))
}

/// Something worth telling the user about an open [`St`]; the `mt` example
/// prints them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StWarning {
    /// A rewinding node was opened for multi-file work: closing it rewinds,
    /// so the next file written would overwrite the first.
    RewindingNode {
        /// The node opened.
        path: PathBuf,
        /// Its non-rewinding sibling, when it could be derived.
        use_instead: Option<PathBuf>,
    },
    /// A read-write open was refused (EROFS for a write-protected cartridge,
    /// EACCES for a node the user may only read) and the device was opened
    /// read-only.
    OpenedReadOnly {
        /// The node.
        path: PathBuf,
        /// Why the read-write open failed.
        errno: Errno,
    },
}

impl std::fmt::Display for StWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StWarning::RewindingNode { path, use_instead } => {
                write!(
                    f,
                    "{} rewinds when closed: a multi-file tape written through it loses all but the last file",
                    path.display()
                )?;
                if let Some(p) = use_instead {
                    write!(f, "; use {}", p.display())?;
                }
                Ok(())
            }
            StWarning::OpenedReadOnly { path, errno } => write!(
                f,
                "{} cannot be opened for writing ({}): opened read-only",
                path.display(),
                errno.desc()
            ),
        }
    }
}

/// How to open an [`St`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StOptions {
    /// Open read-only (default: read-write, falling back to read-only for a
    /// write-protected cartridge).
    pub read_only: bool,
    /// The handle will read or write more than one file, so a rewinding node
    /// deserves a warning (default: true).
    pub multi_file: bool,
    /// Wait (up to st's two minutes) for the drive to become ready at open;
    /// without it the open succeeds with no medium loaded, which `load` and
    /// `status` need (default: false, like mt-st).
    pub wait_ready: bool,
    /// Ask the drive for its block limits with SG_IO (READ BLOCK LIMITS).
    /// st offers no other way, and SG_IO needs CAP_SYS_RAWIO; without the
    /// limits [`TapeDevice::block_limits`] is unsupported and reads work
    /// around them (default: true).
    pub query_block_limits: bool,
}

impl Default for StOptions {
    fn default() -> Self {
        StOptions {
            read_only: false,
            multi_file: true,
            wait_ready: false,
            query_block_limits: true,
        }
    }
}

/// A tape drive through the Linux st driver; see the [module docs](self).
#[derive(Debug)]
pub struct St {
    fd: OwnedFd,
    path: PathBuf,
    node: NodeKind,
    read_only: bool,
    warnings: Vec<StWarning>,
    limits: Option<std::result::Result<BlockLimits, Errno>>,
    block_size: Option<BlockSize>,
    eom: EomTracker,
    /// End of data, when this handle wrote there or went there.
    known_eod: Option<u64>,
    bounce: Vec<u8>,
}

/// The raw driver calls [`EomTracker`] needs.
struct Raw<'a>(BorrowedFd<'a>);

impl RawDrive for Raw<'_> {
    fn raw_write(&mut self, buf: &[u8]) -> std::result::Result<usize, Errno> {
        write(self.0, buf)
    }

    fn raw_write_filemarks(&mut self, count: u32) -> std::result::Result<(), Errno> {
        mt_op(self.0, MTWEOF, c_count(count).ok_or(Errno::EINVAL)?)
    }

    fn raw_position(&mut self) -> std::result::Result<u64, Errno> {
        mt_pos(self.0)
    }

    fn raw_eot(&mut self) -> std::result::Result<bool, Errno> {
        Ok(mt_get(self.0)?.mt_gstat & GMT_EOT != 0)
    }
}

/// The read size for small buffers when the block limits are unknown.
const UNKNOWN_LIMITS_BOUNCE: usize = 64 * 1024;

fn c_count(n: u32) -> Option<i32> {
    i32::try_from(n).ok()
}

fn count_arg(n: u64, what: &str) -> Result<i32> {
    i32::try_from(n).map_err(|_| TapeError::invalid(format!("{what} {n} exceeds the driver's int")))
}

impl St {
    /// Opens `/dev/nst{index}`, the non-rewinding node of drive `index`.
    pub fn open_drive(index: u32) -> Result<St> {
        St::open(format!("/dev/nst{index}"))
    }

    /// Opens a tape device node with the default [`StOptions`].
    pub fn open(path: impl AsRef<Path>) -> Result<St> {
        St::open_with(path, StOptions::default())
    }

    /// Opens a tape device node.
    pub fn open_with(path: impl AsRef<Path>, opts: StOptions) -> Result<St> {
        let path = path.as_ref().to_path_buf();
        let node = NodeKind::of(&path).map_err(|e| io_errno("stat", &e))?;
        let flags = if opts.wait_ready { 0 } else { libc::O_NONBLOCK };
        let open = |write: bool| {
            OpenOptions::new()
                .read(true)
                .write(write)
                .custom_flags(flags)
                .open(&path)
        };
        let mut warnings = Vec::new();
        let mut read_only = opts.read_only;
        let file = match open(!read_only) {
            Err(e)
                if !read_only
                    && matches!(e.raw_os_error(), Some(libc::EROFS) | Some(libc::EACCES)) =>
            {
                read_only = true;
                warnings.push(StWarning::OpenedReadOnly {
                    path: path.clone(),
                    errno: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EROFS)),
                });
                open(false)
            }
            r => r,
        }
        .map_err(|e| io_errno("open", &e))?;
        if opts.multi_file && node == NodeKind::Rewinding {
            warnings.push(StWarning::RewindingNode {
                use_instead: non_rewinding_path(&path).filter(|p| p.exists()),
                path: path.clone(),
            });
        }
        let mut st = St {
            fd: file.into(),
            path,
            node,
            read_only,
            warnings,
            limits: (!opts.query_block_limits).then_some(Err(Errno::EOPNOTSUPP)),
            block_size: None,
            eom: EomTracker::default(),
            known_eod: None,
            bounce: Vec::new(),
        };
        st.refresh_block_size();
        Ok(st)
    }

    /// The device node.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Rewinding or not.
    pub fn node_kind(&self) -> NodeKind {
        self.node
    }

    /// Opened read-only.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Warnings collected at open.
    pub fn warnings(&self) -> &[StWarning] {
        &self.warnings
    }

    /// Counters of the end-of-medium decisions taken.
    pub fn eom_stats(&self) -> EomStats {
        self.eom.stats()
    }

    /// Closes the device and reports what closing did: after a write st
    /// writes a filemark here (and a rewinding node rewinds), which can fail.
    pub fn close(self) -> Result<()> {
        let St { fd, .. } = self;
        nix::unistd::close(fd.into_raw_fd()).map_err(|e| TapeError::from_errno("close", e))
    }

    fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    fn refresh_block_size(&mut self) {
        self.block_size = mt_get(self.fd())
            .ok()
            .map(|g| BlockSize::from_mt_count((g.mt_dsreg & MT_ST_BLKSIZE_MASK) as u32));
    }

    fn current_block_size(&mut self) -> Result<BlockSize> {
        if self.block_size.is_none() {
            let g = mt_get(self.fd()).map_err(|e| TapeError::from_errno("MTIOCGET", e))?;
            self.block_size = Some(BlockSize::from_mt_count(
                (g.mt_dsreg & MT_ST_BLKSIZE_MASK) as u32,
            ));
        }
        Ok(self.block_size.unwrap_or(BlockSize::Variable))
    }

    fn limits_known(&mut self) -> Option<BlockLimits> {
        self.block_limits().ok()
    }

    fn op(&self, name: &'static str, op: libc::c_short, count: i32) -> Result<()> {
        mt_op(self.fd(), op, count).map_err(|e| TapeError::from_errno(name, e))
    }

    /// After a read failed with EIO: is the tape at end of data?
    fn eio_is_eod(&mut self) -> Result<(bool, Option<u64>)> {
        let fd = self.fd();
        if mt_get(fd).is_ok_and(|g| g.mt_gstat & GMT_EOD != 0) {
            return Ok((true, None));
        }
        let Ok(pos) = mt_pos(fd) else {
            return Ok((false, None));
        };
        if self.known_eod == Some(pos) {
            return Ok((true, Some(pos)));
        }
        // Ask the drive: MTEOM from end of data does not move.
        if mt_op(fd, MTEOM, 1).is_ok() {
            if let Ok(end) = mt_pos(fd) {
                if end == pos {
                    self.known_eod = Some(end);
                    return Ok((true, Some(pos)));
                }
            }
        }
        mt_op(fd, MTSEEK, count_arg(pos, "position")?)
            .map_err(|e| TapeError::from_errno("MTIOCTOP MTSEEK", e))?;
        Ok((false, Some(pos)))
    }

    /// Interprets what read(2) returned.
    fn finish_read(&mut self, r: nix::Result<usize>, buffer_len: usize) -> Result<ReadResult> {
        match r {
            Ok(0) => {
                let g = mt_get(self.fd()).map_err(|e| TapeError::from_errno("MTIOCGET", e))?;
                Ok(if g.mt_gstat & GMT_EOD != 0 {
                    ReadResult::EndOfData
                } else {
                    ReadResult::Filemark
                })
            }
            Ok(n) => Ok(ReadResult::Data(n)),
            Err(Errno::ENOMEM) => {
                // st consumed the block; put the tape back before it.
                self.op("MTIOCTOP MTBSR", MTBSR, 1)?;
                Err(TapeError::BlockTooLarge {
                    block_len: None,
                    buffer_len,
                })
            }
            Err(Errno::EIO) => match self.eio_is_eod()? {
                (true, _) => Ok(ReadResult::EndOfData),
                (false, position) => Err(TapeError::MediumError { position }),
            },
            Err(e) => Err(TapeError::from_errno("read", e)),
        }
    }

    /// Reads one block into an internal buffer of `size` bytes and copies it
    /// out; a block larger than `buf` is spaced back over.
    fn read_through_bounce(&mut self, buf: &mut [u8], size: usize) -> Result<ReadResult> {
        let mut bounce = std::mem::take(&mut self.bounce);
        bounce.resize(size, 0);
        let out = match read(self.fd(), &mut bounce) {
            Ok(n) if n > buf.len() => {
                self.op("MTIOCTOP MTBSR", MTBSR, 1)
                    .and(Err(TapeError::BlockTooLarge {
                        block_len: Some(n),
                        buffer_len: buf.len(),
                    }))
            }
            Ok(n) => {
                buf[..n].copy_from_slice(&bounce[..n]);
                self.finish_read(Ok(n), buf.len())
            }
            Err(e) => self.finish_read(Err(e), buf.len()),
        };
        self.bounce = bounce;
        out
    }

    /// Classifies an EIO from spacing by where the tape ended up.
    fn space_error(&self, how: Space, errno: Errno) -> TapeError {
        let op = "MTIOCTOP space";
        if errno != Errno::EIO {
            return TapeError::from_errno(op, errno);
        }
        let fd = self.fd();
        let g = mt_get(fd).ok();
        let flag = |bit| g.is_some_and(|g| g.mt_gstat & bit != 0);
        if !how.is_backward() && flag(GMT_EOD) {
            return TapeError::EndOfData;
        }
        if how.is_backward() && (flag(GMT_BOT) || mt_pos(fd) == Ok(0)) {
            return TapeError::BeginningOfMedium;
        }
        match how {
            Space::Fsr if flag(GMT_EOF) => TapeError::FilemarkEncountered,
            Space::Bsr => TapeError::FilemarkEncountered,
            _ => TapeError::Os { op, errno },
        }
    }
}

impl TapeDevice for St {
    fn read_block(&mut self, buf: &mut [u8]) -> Result<ReadResult> {
        self.eom.moved();
        if buf.is_empty() {
            return Err(TapeError::invalid("empty read buffer"));
        }
        match self.current_block_size()? {
            BlockSize::Fixed(n) => {
                let n = n as usize;
                if buf.len() < n {
                    return Err(TapeError::BlockTooLarge {
                        block_len: Some(n),
                        buffer_len: buf.len(),
                    });
                }
                let r = read(self.fd(), &mut buf[..n]);
                self.finish_read(r, buf.len())
            }
            BlockSize::Variable => {
                let limits = self.limits_known();
                let min = limits.map_or(1, |l| l.min as usize);
                let max = limits.map_or(usize::MAX, |l| l.max as usize);
                if buf.len() < min {
                    // st refuses reads below the minimum block size.
                    return self.read_through_bounce(buf, max);
                }
                let count = buf.len().min(max);
                let r = read(self.fd(), &mut buf[..count]);
                if r == Err(Errno::EINVAL) && limits.is_none() && buf.len() < UNKNOWN_LIMITS_BOUNCE
                {
                    // Limits unknown (no SG_IO): the buffer was probably
                    // below the minimum; a 64 KiB one is not.
                    return self.read_through_bounce(buf, UNKNOWN_LIMITS_BOUNCE);
                }
                self.finish_read(r, buf.len())
            }
        }
    }

    fn write_block(&mut self, buf: &[u8]) -> Result<WriteResult> {
        if self.read_only {
            // write(2) on a read-only descriptor fails with EBADF before st
            // sees it; say what it means.
            return Err(TapeError::WriteProtected {
                errno: Errno::EBADF,
            });
        }
        match self.current_block_size()? {
            BlockSize::Fixed(n) if buf.len() != n as usize => {
                return Err(TapeError::invalid(format!(
                    "a {}-byte block in fixed {n}-byte mode",
                    buf.len()
                )))
            }
            BlockSize::Variable => {
                if buf.is_empty() {
                    return Err(TapeError::invalid("an empty block"));
                }
                if let Some(l) = self.limits_known() {
                    if buf.len() < l.min as usize || buf.len() > l.max as usize {
                        return Err(TapeError::invalid(format!(
                            "a {}-byte block outside the drive's block limits {}..={}",
                            buf.len(),
                            l.min,
                            l.max
                        )));
                    }
                }
            }
            _ => {}
        }
        let fd = self.fd.as_fd();
        let r = self.eom.write_block(&mut Raw(fd), buf);
        if r.is_ok() {
            // Writing makes this the end of data.
            self.known_eod = self.eom.position();
        }
        r
    }

    fn write_filemarks(&mut self, count: u32) -> Result<WriteResult> {
        count_arg(u64::from(count), "filemark count")?;
        let fd = self.fd.as_fd();
        let r = self.eom.write_filemarks(&mut Raw(fd), count);
        self.known_eod = self.eom.position();
        r
    }

    fn space(&mut self, how: Space, count: u32) -> Result<()> {
        let n = count_arg(u64::from(count), "count")?;
        if count == 0 {
            return Ok(());
        }
        if matches!(how, Space::Bsf | Space::Bsfm) && self.eom.writing() {
            self.known_eod = None;
        }
        self.eom.moved();
        let op = match how {
            Space::Fsf => MTFSF,
            Space::Bsf => MTBSF,
            Space::Fsfm => MTFSFM,
            Space::Bsfm => MTBSFM,
            Space::Fsr => MTFSR,
            Space::Bsr => MTBSR,
        };
        if how == Space::Bsr {
            // One block at a time: a drive must stop a multi-block reverse
            // space at a filemark or BOT and say so (SSC), but scsi_debug's
            // emulation crosses filemarks silently and runs past BOT to
            // position -1. Single steps are exact everywhere, and bsr is
            // rare and short (seek is the way to go far).
            for _ in 0..n {
                mt_op(self.fd(), op, 1).map_err(|e| self.space_error(how, e))?;
            }
            return Ok(());
        }
        mt_op(self.fd(), op, n).map_err(|e| self.space_error(how, e))
    }

    fn rewind(&mut self) -> Result<()> {
        if self.eom.writing() {
            self.known_eod = None;
        }
        self.eom.moved();
        match mt_op(self.fd(), MTREW, 1) {
            Ok(()) => Ok(()),
            Err(Errno::EIO) => {
                // At the physical end st's implicit filemark fails, and st
                // stays in its writing state, failing every rewind. MTEOM
                // writes no filemark but ends that state.
                let _ = mt_op(self.fd(), MTEOM, 1);
                self.op("MTIOCTOP MTREW", MTREW, 1)
            }
            Err(e) => Err(TapeError::from_errno("MTIOCTOP MTREW", e)),
        }
    }

    fn end_of_data(&mut self) -> Result<()> {
        self.eom.moved();
        self.op("MTIOCTOP MTEOM", MTEOM, 1)?;
        self.known_eod = mt_pos(self.fd()).ok();
        Ok(())
    }

    fn load(&mut self) -> Result<()> {
        self.eom.moved();
        self.known_eod = None;
        self.op("MTIOCTOP MTLOAD", MTLOAD, 1)?;
        self.refresh_block_size();
        Ok(())
    }

    fn unload(&mut self) -> Result<()> {
        self.eom.moved();
        self.known_eod = None;
        self.op("MTIOCTOP MTOFFL", MTOFFL, 1)
    }

    fn erase(&mut self) -> Result<()> {
        self.eom.moved();
        self.op("MTIOCTOP MTERASE", MTERASE, 1)?;
        self.known_eod = mt_pos(self.fd()).ok();
        Ok(())
    }

    fn set_block_size(&mut self, size: BlockSize) -> Result<()> {
        let n = count_arg(u64::from(size.as_mt_count()), "block size")?;
        match mt_op(self.fd(), MTSETBLK, n) {
            Ok(()) => {
                self.block_size = Some(size);
                Ok(())
            }
            Err(Errno::EINVAL) => Err(TapeError::invalid(format!(
                "block size {size} refused: outside the drive's block limits"
            ))),
            Err(e) => Err(TapeError::from_errno("MTIOCTOP MTSETBLK", e)),
        }
    }

    fn block_limits(&mut self) -> Result<BlockLimits> {
        if self.limits.is_none() {
            self.limits =
                Some(
                    read_block_limits(self.fd()).map(|(granularity, max, min)| BlockLimits {
                        min: min.max(1),
                        max,
                        granularity,
                    }),
                );
        }
        match self.limits {
            Some(Ok(l)) => Ok(l),
            Some(Err(errno)) => Err(TapeError::Unsupported {
                what: "reading the block limits (SG_IO READ BLOCK LIMITS; needs CAP_SYS_RAWIO)",
                errno,
            }),
            None => unreachable!("set above"),
        }
    }

    fn status(&mut self) -> Result<Status> {
        let g = mt_get(self.fd()).map_err(|e| TapeError::from_errno("MTIOCGET", e))?;
        let flag = |bit| g.mt_gstat & bit != 0;
        let online = flag(GMT_ONLINE);
        Ok(Status {
            file_number: Number::from_st(i64::from(g.mt_fileno)),
            block_number: Number::from_st(i64::from(g.mt_blkno)),
            block_size: BlockSize::from_mt_count((g.mt_dsreg & MT_ST_BLKSIZE_MASK) as u32),
            density: ((g.mt_dsreg as u64) >> MT_ST_DENSITY_SHIFT) as u8,
            bot: flag(GMT_BOT),
            eof: flag(GMT_EOF),
            eot: flag(GMT_EOT) || (online && self.eom.early_warning()),
            eod: flag(GMT_EOD),
            write_protected: flag(GMT_WR_PROT) || self.read_only,
            online,
            door_open: flag(GMT_DR_OPEN),
        })
    }

    fn tell(&mut self) -> Result<u64> {
        let p = mt_pos(self.fd()).map_err(|e| TapeError::from_errno("MTIOCPOS", e))?;
        self.eom.set_position(p);
        Ok(p)
    }

    fn seek(&mut self, position: u64) -> Result<()> {
        let n = count_arg(position, "position")?;
        if self.eom.writing() {
            self.known_eod = None;
        }
        self.eom.moved();
        match mt_op(self.fd(), MTSEEK, n) {
            Ok(()) => Ok(()),
            Err(Errno::EIO) if mt_pos(self.fd()).is_ok_and(|p| p < position) => {
                Err(TapeError::EndOfData)
            }
            Err(e) => Err(TapeError::from_errno("MTIOCTOP MTSEEK", e)),
        }
    }

    fn set_compression(&mut self, on: bool) -> Result<()> {
        match mt_op(self.fd(), MTCOMPRESSION, i32::from(on)) {
            Ok(()) => Ok(()),
            // st answers EIO when the drive has no data compression page.
            Err(errno @ Errno::EIO) => Err(TapeError::Unsupported {
                what: "drive compression",
                errno,
            }),
            Err(e) => Err(TapeError::from_errno("MTIOCTOP MTCOMPRESSION", e)),
        }
    }
}

fn io_errno(op: &'static str, e: &std::io::Error) -> TapeError {
    match e.raw_os_error() {
        Some(code) => TapeError::from_errno(op, Errno::from_raw(code)),
        None => TapeError::Os {
            op,
            errno: Errno::EIO,
        },
    }
}

impl AsRawFd for St {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_nodes() {
        assert_eq!(NodeKind::of("/dev/null").unwrap(), NodeKind::Other);
        assert_eq!(NodeKind::of("/").unwrap(), NodeKind::Other);
        assert_eq!(
            non_rewinding_path(Path::new("/dev/st0l")),
            Some(PathBuf::from("/dev/nst0l"))
        );
        assert_eq!(non_rewinding_path(Path::new("/dev/nst0")), None);
    }

    #[test]
    fn opening_a_missing_node_keeps_the_errno() {
        let e = St::open("/nonexistent/nst0").unwrap_err();
        assert_eq!(e.errno(), Errno::ENOENT);
    }

    #[test]
    fn ioctl_numbers_match_linux() {
        // _IOW('m', 1, struct mtop) etc. on x86_64 / aarch64.
        assert_eq!(std::mem::size_of::<MtOp>(), 8);
        assert_eq!(std::mem::size_of::<MtGet>(), 48);
        assert_eq!(std::mem::size_of::<MtPos>(), 8);
        assert_eq!(nix::request_code_write!(b'm', 1, 8), 0x4008_6d01);
        assert_eq!(nix::request_code_read!(b'm', 2, 48), 0x8030_6d02);
        assert_eq!(nix::request_code_read!(b'm', 3, 8), 0x8008_6d03);
    }
}
