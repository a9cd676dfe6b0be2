//! Stream data copied from a medium file into restored files by two workers, in the kernel.
//!
//! A file's data starts 22 bytes after its stream header, so it never lies at a page-aligned
//! offset of the medium, and the kernel copies misaligned data at about two thirds of the speed
//! of an aligned copy such as `cp` (measured: 2.1–2.3 GB/s against 3.2 GB/s). Two workers
//! copying different pieces at once make up for it. Each piece is one `copy_file_range` at
//! explicit offsets on both sides, so the workers share the file handles; where the kernel
//! cannot copy between the two files, the piece goes through a buffer instead.

use rustix::io::Errno;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// Pieces are at most this long, so that one large file keeps both workers busy.
const PIECE: u64 = 64 << 20;

/// One stream's data (or the part of it on this medium) to copy.
pub struct CopyJob {
    /// The medium file.
    pub src: Arc<File>,
    /// Where the data starts on the medium.
    pub src_offset: u64,
    /// Bytes to copy.
    pub len: u64,
    /// The restored file.
    pub dest: Arc<File>,
    /// Where the data goes in it.
    pub dest_offset: u64,
    /// The restored file's path in the target, for error messages.
    pub path: String,
}

/// Copies every job on two threads, calling `progress` with the bytes copied so far now and
/// then. Returns, per job that failed, its index and a message naming its path.
pub fn run(jobs: &[CopyJob], progress: &mut dyn FnMut(u64)) -> Vec<(usize, String)> {
    // Pieces taken in turn from each job: two workers writing into the same file would wait
    // on its lock, so the one after a piece is, where there is one, another file's.
    let mut pieces: Vec<(usize, u64, u64)> = Vec::new(); // job, offset within it, length
    for (i, j) in jobs.iter().enumerate() {
        let mut at = 0;
        while at < j.len {
            let n = (j.len - at).min(PIECE);
            pieces.push((i, at, n));
            at += n;
        }
    }
    pieces.sort_by_key(|&(i, at, _)| (at / PIECE, i));
    let total: u64 = jobs.iter().map(|j| j.len).sum();
    let next = AtomicUsize::new(0);
    let done = AtomicU64::new(0);
    let outs = crate::workers::run_two(
        || {
            let mut failed = Vec::new();
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some(&(i, at, n)) = pieces.get(k) else {
                    break;
                };
                let j = &jobs[i];
                if let Err(e) = copy_piece(j, at, n, &done) {
                    failed.push((i, format!("{}: write: {e}", j.path)));
                }
            }
            failed
        },
        &done,
        total,
        progress,
    );
    let mut errors: Vec<(usize, String)> = outs.into_iter().flatten().collect();
    // One message per job, in job order.
    errors.sort_by_key(|e| e.0);
    errors.dedup_by_key(|e| e.0);
    errors
}

/// Copies `n` bytes of job `j` from `at` within it.
fn copy_piece(j: &CopyJob, at: u64, n: u64, done: &AtomicU64) -> std::io::Result<()> {
    let mut off_in = j.src_offset + at;
    let mut off_out = j.dest_offset + at;
    to_off(off_in)?;
    to_off(off_out)?;
    let mut left = n;
    while left > 0 {
        let want = left.min(1 << 30) as usize;
        match rustix::fs::copy_file_range(
            &*j.src,
            Some(&mut off_in),
            &*j.dest,
            Some(&mut off_out),
            want,
        ) {
            Ok(0) => return Err(ended_early()),
            Ok(k) => {
                left -= k as u64;
                done.fetch_add(k as u64, Ordering::Relaxed);
            }
            Err(Errno::INTR) => {}
            Err(Errno::XDEV | Errno::NOSYS | Errno::INVAL | Errno::OPNOTSUPP | Errno::BADF) => {
                // No in-kernel copy between these two files: through a buffer.
                return copy_buffered(j, off_in, off_out, left, done);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn copy_buffered(
    j: &CopyJob,
    mut from: u64,
    mut to: u64,
    mut left: u64,
    done: &AtomicU64,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; (1 << 20).min(left as usize)];
    while left > 0 {
        let want = (left as usize).min(buf.len());
        let k = j.src.read_at(&mut buf[..want], from)?;
        if k == 0 {
            return Err(ended_early());
        }
        j.dest.write_all_at(&buf[..k], to)?;
        from += k as u64;
        to += k as u64;
        left -= k as u64;
        done.fetch_add(k as u64, Ordering::Relaxed);
    }
    Ok(())
}

fn to_off(v: u64) -> std::io::Result<i64> {
    i64::try_from(v).map_err(|_| std::io::Error::other("offset beyond what a file can hold"))
}

fn ended_early() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::UnexpectedEof,
        "the medium ends before the stream's data does",
    )
}
