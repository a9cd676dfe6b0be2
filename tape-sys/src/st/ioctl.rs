//! The st driver's ioctl interface (`<linux/mtio.h>`) and SG_IO, bound with
//! nix's ioctl macros. libc does not carry the mtio structs, so they are
//! declared here with libc's C types, field for field.
//!
//! Every call retries EINTR: st takes its mutex interruptibly and returns
//! EINTR/ERESTARTSYS *before* doing anything, so a retry cannot repeat an
//! operation.

use std::os::fd::{AsRawFd, BorrowedFd};

use libc::{c_int, c_long, c_short, c_uchar, c_uint, c_ushort, c_void};
use nix::errno::Errno;

/// `struct mtop`: an MTIOCTOP operation.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct MtOp {
    /// Mt op.
    pub mt_op: c_short,
    /// Mt count.
    pub mt_count: c_int,
}

/// `struct mtget`: what MTIOCGET returns.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct MtGet {
    /// Mt type.
    pub mt_type: c_long,
    /// Mt resid.
    pub mt_resid: c_long,
    /// Mt dsreg.
    pub mt_dsreg: c_long,
    /// Mt gstat.
    pub mt_gstat: c_long,
    /// Mt erreg.
    pub mt_erreg: c_long,
    /// `__kernel_daddr_t`, an `int`.
    pub mt_fileno: c_int,
    /// Mt blkno.
    pub mt_blkno: c_int,
}

/// `struct mtpos`: what MTIOCPOS returns.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct MtPos {
    /// Mt blkno.
    pub mt_blkno: c_long,
}

/// `sg_io_hdr_t` from `<scsi/sg.h>`.
#[repr(C)]
#[derive(Debug)]
pub struct SgIoHdr {
    /// Interface id.
    pub interface_id: c_int,
    /// Dxfer direction.
    pub dxfer_direction: c_int,
    /// Cmd len.
    pub cmd_len: c_uchar,
    /// Mx sb len.
    pub mx_sb_len: c_uchar,
    /// Iovec count.
    pub iovec_count: c_ushort,
    /// Dxfer len.
    pub dxfer_len: c_uint,
    /// Dxferp.
    pub dxferp: *mut c_void,
    /// Cmdp.
    pub cmdp: *mut c_uchar,
    /// Sbp.
    pub sbp: *mut c_uchar,
    /// Timeout.
    pub timeout: c_uint,
    /// Flags.
    pub flags: c_uint,
    /// Pack id.
    pub pack_id: c_int,
    /// Usr ptr.
    pub usr_ptr: *mut c_void,
    /// Status.
    pub status: c_uchar,
    /// Masked status.
    pub masked_status: c_uchar,
    /// Msg status.
    pub msg_status: c_uchar,
    /// Sb len wr.
    pub sb_len_wr: c_uchar,
    /// Host status.
    pub host_status: c_ushort,
    /// Driver status.
    pub driver_status: c_ushort,
    /// Resid.
    pub resid: c_int,
    /// Duration.
    pub duration: c_uint,
    /// Info.
    pub info: c_uint,
}

// MTIOCTOP operations.
/// MTFSF.
pub const MTFSF: c_short = 1;
/// MTBSF.
pub const MTBSF: c_short = 2;
/// MTFSR.
pub const MTFSR: c_short = 3;
/// MTBSR.
pub const MTBSR: c_short = 4;
/// MTWEOF.
pub const MTWEOF: c_short = 5;
/// MTREW.
pub const MTREW: c_short = 6;
/// MTOFFL.
pub const MTOFFL: c_short = 7;
/// MTNOP.
pub const MTNOP: c_short = 8;
/// MTBSFM.
pub const MTBSFM: c_short = 10;
/// MTFSFM.
pub const MTFSFM: c_short = 11;
/// MTEOM.
pub const MTEOM: c_short = 12;
/// MTERASE.
pub const MTERASE: c_short = 13;
/// MTSETBLK.
pub const MTSETBLK: c_short = 20;
/// MTSEEK.
pub const MTSEEK: c_short = 22;
/// MTLOAD.
pub const MTLOAD: c_short = 30;
/// MTCOMPRESSION.
pub const MTCOMPRESSION: c_short = 32;

// MTIOCGET mt_gstat bits.
/// GMT EOF.
pub const GMT_EOF: c_long = 0x8000_0000;
/// GMT BOT.
pub const GMT_BOT: c_long = 0x4000_0000;
/// GMT EOT.
pub const GMT_EOT: c_long = 0x2000_0000;
/// GMT EOD.
pub const GMT_EOD: c_long = 0x0800_0000;
/// GMT WR PROT.
pub const GMT_WR_PROT: c_long = 0x0400_0000;
/// GMT ONLINE.
pub const GMT_ONLINE: c_long = 0x0100_0000;
/// GMT DR OPEN.
pub const GMT_DR_OPEN: c_long = 0x0004_0000;

// mt_dsreg layout.
/// MT ST BLKSIZE MASK.
pub const MT_ST_BLKSIZE_MASK: c_long = 0x00ff_ffff;
/// MT ST DENSITY SHIFT.
pub const MT_ST_DENSITY_SHIFT: u32 = 24;

/// The st driver's character-device major.
pub const SCSI_TAPE_MAJOR: u64 = 9;

const SG_DXFER_FROM_DEV: c_int = -3;
const SG_INFO_OK_MASK: c_uint = 0x1;

nix::ioctl_write_ptr!(mtioctop, b'm', 1, MtOp);
nix::ioctl_read!(mtiocget, b'm', 2, MtGet);
nix::ioctl_read!(mtiocpos, b'm', 3, MtPos);
nix::ioctl_readwrite_bad!(sg_io, 0x2285, SgIoHdr);

/// Runs `f` until it does not fail with EINTR.
pub fn retry_eintr<T>(mut f: impl FnMut() -> nix::Result<T>) -> nix::Result<T> {
    loop {
        match f() {
            Err(Errno::EINTR) => continue,
            r => return r,
        }
    }
}

/// MTIOCTOP.
pub fn mt_op(fd: BorrowedFd<'_>, op: c_short, count: c_int) -> nix::Result<()> {
    let arg = MtOp {
        mt_op: op,
        mt_count: count,
    };
    // SAFETY: `arg` is a valid `struct mtop` for the duration of the call.
    retry_eintr(|| unsafe { mtioctop(fd.as_raw_fd(), &arg) }).map(drop)
}

/// MTIOCGET.
pub fn mt_get(fd: BorrowedFd<'_>) -> nix::Result<MtGet> {
    let mut g = MtGet::default();
    // SAFETY: `g` is a valid, writable `struct mtget`.
    retry_eintr(|| unsafe { mtiocget(fd.as_raw_fd(), &mut g) })?;
    Ok(g)
}

/// MTIOCPOS.
pub fn mt_pos(fd: BorrowedFd<'_>) -> nix::Result<u64> {
    let mut p = MtPos::default();
    // SAFETY: `p` is a valid, writable `struct mtpos`.
    retry_eintr(|| unsafe { mtiocpos(fd.as_raw_fd(), &mut p) })?;
    u64::try_from(p.mt_blkno).map_err(|_| Errno::EIO)
}

/// read(2), EINTR retried.
pub fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> nix::Result<usize> {
    retry_eintr(|| nix::unistd::read(fd.as_raw_fd(), buf))
}

/// write(2), EINTR retried.
pub fn write(fd: BorrowedFd<'_>, buf: &[u8]) -> nix::Result<usize> {
    retry_eintr(|| nix::unistd::write(fd, buf))
}

/// SCSI READ BLOCK LIMITS through SG_IO: `(granularity, max, min)`.
///
/// st has no ioctl for the limits it reads at open; SG_IO on the st node
/// needs CAP_SYS_RAWIO, so this fails with EPERM for ordinary users.
pub fn read_block_limits(fd: BorrowedFd<'_>) -> nix::Result<(u8, u32, u32)> {
    let mut cdb = [0x05u8, 0, 0, 0, 0, 0];
    let mut data = [0u8; 6];
    let mut sense = [0u8; 32];
    let mut hdr = SgIoHdr {
        interface_id: c_int::from(b'S'),
        dxfer_direction: SG_DXFER_FROM_DEV,
        cmd_len: cdb.len() as c_uchar,
        mx_sb_len: sense.len() as c_uchar,
        iovec_count: 0,
        dxfer_len: data.len() as c_uint,
        dxferp: data.as_mut_ptr().cast(),
        cmdp: cdb.as_mut_ptr(),
        sbp: sense.as_mut_ptr(),
        timeout: 60_000,
        flags: 0,
        pack_id: 0,
        usr_ptr: std::ptr::null_mut(),
        status: 0,
        masked_status: 0,
        msg_status: 0,
        sb_len_wr: 0,
        host_status: 0,
        driver_status: 0,
        resid: 0,
        duration: 0,
        info: 0,
    };
    // SAFETY: every pointer in `hdr` points to a live buffer of the stated
    // length for the duration of the call.
    retry_eintr(|| unsafe { sg_io(fd.as_raw_fd(), &mut hdr) })?;
    if hdr.info & SG_INFO_OK_MASK != 0 || hdr.status != 0 || hdr.resid as usize > 0 {
        return Err(Errno::EIO);
    }
    let max = u32::from(data[1]) << 16 | u32::from(data[2]) << 8 | u32::from(data[3]);
    let min = u32::from(data[4]) << 8 | u32::from(data[5]);
    Ok((data[0] & 0x1f, max, min))
}
