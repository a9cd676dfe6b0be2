//! Stream data copied from a medium file into restored files by two workers, in the kernel.
//!
//! A file's data starts 22 bytes after its stream header, so it never lies at a page-aligned
//! offset of the medium, and the kernel copies misaligned data at about two thirds of the speed
//! of an aligned copy such as `cp` (measured: 2.1–2.3 GB/s against 3.2 GB/s). Two workers
//! copying different pieces at once make up for it. Each piece is one `copy_file_range` at
//! explicit offsets on both sides, so the workers share the file handles; where the kernel
//! cannot copy between the two files, the piece goes through a buffer instead.

use super::progress::Progress;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// Streams at least this long are copied by the workers; shorter ones as the walk meets them.
pub const PARALLEL_MIN: u64 = 1 << 20;

/// Pieces are at most this long, so that one large file keeps both workers busy.
const PIECE: u64 = 64 << 20;

/// One stream's data (or the part of it on this medium) to copy.
pub struct CopyJob {
    pub src: Arc<File>,
    pub src_offset: u64,
    pub len: u64,
    pub dest: Arc<File>,
    pub dest_offset: u64,
    /// The restored file, for error messages.
    pub path: PathBuf,
}

/// Copies every job on two threads, updating `progress` from `base`. Returns one message per
/// job that failed (with its path).
pub fn run(jobs: &[CopyJob], progress: &mut Progress, base: u64) -> Vec<String> {
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
    let mut errors: Vec<(usize, String)> = Vec::new();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    let mut failed = Vec::new();
                    loop {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&(i, at, n)) = pieces.get(k) else {
                            break;
                        };
                        let j = &jobs[i];
                        if let Err(e) = copy_piece(j, at, n, &done) {
                            failed.push((i, format!("{}: {e}", j.path.display())));
                        }
                    }
                    failed
                })
            })
            .collect();
        while progress.is_enabled() && !workers.iter().all(|w| w.is_finished()) {
            progress.set(base + done.load(Ordering::Relaxed).min(total));
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        for w in workers {
            errors.extend(w.join().expect("copy worker"));
        }
    });
    // One message per job, in job order.
    errors.sort_by_key(|e| e.0);
    errors.dedup_by_key(|e| e.0);
    errors.into_iter().map(|e| e.1).collect()
}

/// Copies `n` bytes of job `j` from `at` within it.
fn copy_piece(j: &CopyJob, at: u64, n: u64, done: &AtomicU64) -> std::io::Result<()> {
    let mut off_in = to_off(j.src_offset + at)?;
    let mut off_out = to_off(j.dest_offset + at)?;
    let mut left = n;
    while left > 0 {
        let want = left.min(1 << 30) as usize;
        match nix::fcntl::copy_file_range(
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
            Err(nix::errno::Errno::EINTR) => {}
            Err(
                nix::errno::Errno::EXDEV
                | nix::errno::Errno::ENOSYS
                | nix::errno::Errno::EINVAL
                | nix::errno::Errno::EOPNOTSUPP
                | nix::errno::Errno::EBADF,
            ) => {
                // No in-kernel copy between these two files: through a buffer.
                return copy_buffered(j, off_in as u64, off_out as u64, left, done);
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
