//! The writes of a restore's page images, on a thread of their own.
//!
//! Why: a restore reads the medium on one thread, then checks every page (its CRC-32C) and
//! writes it into its image. Done on one thread, the checks and the writes took turns, and a
//! restore ran at half the speed of `cp -r` of the same database. Here the thread that checks
//! hands each checked piece over, with the runs to write, and goes on to the next piece: the
//! writes (the bulk of a restore's time, a copy into the page cache) overlap the checks. The
//! queue is short, so at most [`QUEUE`] pieces are held in memory.
//!
//! A failed write is kept; the next hand-over and [`ImageWriter::finish`] return it, and the
//! writes after it are not done (the restore fails, and its work directory goes).

use crate::family::MediaError;
use crate::restore::Piece;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Pieces handed over and not yet written (each at most a medium's data piece, 256 KiB).
const QUEUE: usize = 4;

/// One piece of checked pages: where each run of it goes.
struct Job {
    file: Arc<File>,
    path: Arc<PathBuf>,
    buf: Piece,
    /// (offset in the file, start in `buf`, length).
    runs: Vec<(u64, usize, usize)>,
}

impl Job {
    /// Does the job's writes, stopping at the first that fails (named with the file).
    fn run(&self) -> Result<(), String> {
        for &(off, at, len) in &self.runs {
            self.file
                .write_all_at(&self.buf[at..at + len], off)
                .map_err(|e| format!("write {}: {e}", self.path.display()))?;
        }
        Ok(())
    }
}

/// The writing thread and the way to it.
pub(crate) struct ImageWriter {
    tx: Option<SyncSender<Job>>,
    thread: Option<JoinHandle<()>>,
    failed: Arc<AtomicBool>,
    error: Arc<Mutex<Option<String>>>,
}

impl ImageWriter {
    pub(crate) fn new() -> ImageWriter {
        let (tx, rx) = mpsc::sync_channel::<Job>(QUEUE);
        let failed = Arc::new(AtomicBool::new(false));
        let error = Arc::new(Mutex::new(None));
        let (f, e) = (failed.clone(), error.clone());
        let thread = std::thread::Builder::new()
            .name("image writer".into())
            .spawn(move || {
                for job in rx {
                    if f.load(Ordering::Acquire) {
                        continue;
                    }
                    if let Err(why) = job.run() {
                        e.lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .get_or_insert(why);
                        f.store(true, Ordering::Release);
                    }
                }
            })
            .ok();
        ImageWriter {
            tx: Some(tx),
            thread,
            failed,
            error,
        }
    }

    /// Writes `runs` of `buf` into `file` (soon, on the writing thread; or here, if that
    /// thread could not be started). An earlier write's failure is returned instead.
    pub(crate) fn write(
        &mut self,
        file: &Arc<File>,
        path: &Arc<PathBuf>,
        buf: Piece,
        runs: Vec<(u64, usize, usize)>,
    ) -> Result<(), MediaError> {
        self.check()?;
        if runs.is_empty() {
            return Ok(());
        }
        let job = Job {
            file: file.clone(),
            path: path.clone(),
            buf,
            runs,
        };
        let job = match (&self.thread, &self.tx) {
            (Some(_), Some(tx)) => match tx.send(job) {
                Ok(()) => return Ok(()),
                Err(mpsc::SendError(job)) => job,
            },
            _ => job,
        };
        // No thread to write: written here.
        job.run().map_err(MediaError::Invalid)
    }

    /// The first failed write, if any.
    fn check(&self) -> Result<(), MediaError> {
        if !self.failed.load(Ordering::Acquire) {
            return Ok(());
        }
        let why = self.error.lock().unwrap_or_else(|p| p.into_inner()).clone();
        Err(MediaError::Invalid(
            why.unwrap_or_else(|| "a write of a page image failed".into()),
        ))
    }

    /// Waits for every write handed over; the first failure, if one did.
    pub(crate) fn finish(&mut self) -> Result<(), MediaError> {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                return Err(MediaError::Invalid(
                    "the thread writing the page images failed".into(),
                ));
            }
        }
        self.check()
    }
}

impl Drop for ImageWriter {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pieces handed over land where their runs say, in any order, once `finish` returns.
    #[test]
    fn runs_land_at_their_offsets() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("img");
        let file = Arc::new(
            File::options()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&p)
                .unwrap(),
        );
        let path = Arc::new(p.clone());
        let mut w = ImageWriter::new();
        let mut model = vec![0u8; 100 * 64];
        for i in 0..100u64 {
            let buf: Vec<u8> = (0..128).map(|b| (b as u64 * 7 + i) as u8).collect();
            // The second half of each piece goes to slot i, backwards through the file.
            let slot = (99 - i) * 64;
            model[slot as usize..][..64].copy_from_slice(&buf[64..]);
            w.write(&file, &path, buf.into(), vec![(slot, 64, 64)])
                .unwrap();
        }
        w.finish().unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), model);
    }

    /// A write that fails (the file is open read-only) is returned by the next hand-over or by
    /// `finish`, naming the file; nothing after it is written.
    #[test]
    fn a_failed_write_is_returned_naming_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("ro");
        std::fs::write(&p, b"").unwrap();
        let file = Arc::new(File::open(&p).unwrap());
        let path = Arc::new(p.clone());
        let mut w = ImageWriter::new();
        let mut seen = None;
        for _ in 0..1000 {
            if let Err(e) = w.write(&file, &path, vec![1; 8].into(), vec![(0, 0, 8)]) {
                seen = Some(e.to_string());
                break;
            }
        }
        let e = match seen {
            Some(e) => e,
            None => w.finish().unwrap_err().to_string(),
        };
        assert!(e.contains("write") && e.contains("ro"), "{e}");
        w.finish().unwrap_err();
        assert_eq!(std::fs::read(&p).unwrap(), b"");
    }
}
