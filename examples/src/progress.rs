//! The one progress line of the example programs (`mtfdump verify` and `extract`, `refdb
//! backup`, `restore` and `plan --execute`), drawn by `indicatif` on stderr, and only when
//! stderr is a terminal: tests, pipes and redirections see nothing of it, and stdout is never
//! touched. It redraws at most five times a second, shows what is being done, the bytes done of
//! the total, the percentage, the throughput and the time left, and is cleared when the work
//! ends (before any message about it is printed).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::mpsc;
use std::time::Duration;

/// Redraws a second, at most.
const HZ: u8 = 5;

/// A progress line for `total` bytes of work, or nothing (stderr not a terminal, or not wanted).
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A line labelled `label` for `total` bytes; drawn only if `wanted` and stderr is a
    /// terminal.
    pub fn new(wanted: bool, label: &str, total: u64) -> Progress {
        let bar = (wanted && std::io::stderr().is_terminal()).then(|| {
            let b = ProgressBar::with_draw_target(
                Some(total),
                ProgressDrawTarget::stderr_with_hz(HZ),
            );
            b.set_style(
                ProgressStyle::with_template(
                    "{msg} [{wide_bar}] {binary_bytes}/{binary_total_bytes} {percent:>3}% {binary_bytes_per_sec} ETA {eta}",
                )
                .expect("a valid template")
                .progress_chars("#>-"),
            );
            b.set_message(label.to_owned());
            b
        });
        Progress { bar }
    }

    /// Whether the line is drawn at all.
    pub fn is_enabled(&self) -> bool {
        self.bar.is_some()
    }

    /// Sets the bytes done so far.
    pub fn set(&self, done: u64) {
        if let Some(b) = &self.bar {
            b.set_position(done);
        }
    }

    /// Sets the total (when it is learnt as the work goes on).
    pub fn set_total(&self, total: u64) {
        if let Some(b) = &self.bar {
            b.set_length(total);
        }
    }

    /// Clears the line (again and again: it is drawn no more).
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Shows the counters of a library call that counts its own progress
/// ([`media::dbbackup::Progress`]: a backup or a restore, which print nothing) while it runs:
/// a thread reads them five times a second. Dropping it (or [`Watch::finish`]) stops the
/// thread and clears the line, so an error printed after it stands on a line of its own.
pub struct Watch {
    stop: Option<(mpsc::Sender<()>, std::thread::JoinHandle<()>)>,
}

impl Watch {
    /// Starts showing `counters` under `label` (when stderr is a terminal). Nothing is drawn
    /// before the work knows its total.
    pub fn start(label: &str, counters: &media::dbbackup::Progress) -> Watch {
        if !std::io::stderr().is_terminal() {
            return Watch { stop: None };
        }
        let (tx, rx) = mpsc::channel::<()>();
        let (label, c) = (label.to_owned(), counters.clone());
        let h = std::thread::spawn(move || {
            let mut line: Option<Progress> = None;
            loop {
                let stopped = !matches!(
                    rx.recv_timeout(Duration::from_millis(1000 / u64::from(HZ))),
                    Err(mpsc::RecvTimeoutError::Timeout)
                );
                let (done, total) = (c.done(), c.total());
                if total > 0 {
                    let l = line.get_or_insert_with(|| Progress::new(true, &label, total));
                    l.set_total(total);
                    l.set(done);
                }
                if stopped {
                    break;
                }
            }
            if let Some(l) = line {
                l.finish();
            }
        });
        Watch {
            stop: Some((tx, h)),
        }
    }

    /// Stops the thread and clears the line.
    pub fn finish(&mut self) {
        if let Some((tx, h)) = self.stop.take() {
            let _ = tx.send(());
            let _ = h.join();
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.finish();
    }
}
