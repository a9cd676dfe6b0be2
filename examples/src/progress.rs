//! The one progress line of the example programs (`mtfdump verify` and `extract`, `refdb
//! backup`, `restore` and `plan --execute`), drawn by `indicatif` on stderr, and only when
//! stderr is a terminal: tests, pipes and redirections see nothing of it, and stdout is never
//! touched. It redraws at most five times a second, shows what is being done, the bytes done of
//! the total, the percentage, the throughput and the time left, and is cleared when the work
//! ends (before any message about it is printed).

use indicatif::{BinaryBytes, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Redraws a second, at most.
const HZ: u8 = 5;

/// The average throughput since the start, bytes a second (indicatif's own estimate jumps to
/// absurd figures when the first bytes come in a burst).
fn rate(s: &ProgressState, start: Instant) -> f64 {
    let t = start.elapsed().as_secs_f64();
    if t > 0.0 {
        s.pos() as f64 / t
    } else {
        0.0
    }
}

/// A progress line for `total` bytes of work, or nothing (stderr not a terminal, nothing to
/// do, or not wanted).
pub struct Progress {
    bar: Option<ProgressBar>,
    start: Instant,
    /// When the line was last redrawn (ms since `start`; `u64::MAX`: never).
    last_ms: AtomicU64,
}

impl Progress {
    /// A line labelled `label` for `total` bytes; drawn only if `wanted`, `total` is not 0 and
    /// stderr is a terminal.
    pub fn new(wanted: bool, label: &str, total: u64) -> Progress {
        Self::since(Instant::now(), wanted, label, total)
    }

    /// The same for work that began at `start` (its throughput counted from then).
    fn since(start: Instant, wanted: bool, label: &str, total: u64) -> Progress {
        let bar = (wanted && total > 0 && std::io::stderr().is_terminal()).then(|| {
            let b = ProgressBar::with_draw_target(
                Some(total),
                ProgressDrawTarget::stderr_with_hz(HZ),
            );
            b.set_style(
                ProgressStyle::with_template(
                    "{msg} [{wide_bar}] {binary_bytes}/{binary_total_bytes} {percent:>3}% {rate} ETA {left}",
                )
                .expect("a valid template")
                .progress_chars("#>-")
                .with_key("rate", move |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{}/s", BinaryBytes(rate(s, start) as u64));
                })
                .with_key("left", move |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let r = rate(s, start);
                    let left = s.len().unwrap_or(0).saturating_sub(s.pos());
                    let secs = if r > 0.0 { (left as f64 / r) as u64 } else { 0 };
                    let _ = write!(w, "{}:{:02}", secs / 60, secs % 60);
                }),
            );
            b.set_message(label.to_owned());
            b
        });
        Progress {
            bar,
            start,
            last_ms: AtomicU64::new(u64::MAX),
        }
    }

    /// Whether the line is drawn at all.
    pub fn is_enabled(&self) -> bool {
        self.bar.is_some()
    }

    /// Sets the bytes done so far (cheap enough for every block: the line is redrawn only when
    /// a fifth of a second has passed since it last was).
    pub fn set(&self, done: u64) {
        if let Some(b) = &self.bar {
            let now = self.start.elapsed().as_millis() as u64;
            let last = self.last_ms.load(Ordering::Relaxed);
            if last == u64::MAX || now >= last + 1000 / u64::from(HZ) {
                self.last_ms.store(now, Ordering::Relaxed);
                b.set_position(done);
            }
        }
    }

    /// Sets the bytes done and the total (when it is learnt as the work goes on), and redraws.
    pub fn update(&self, done: u64, total: u64) {
        if let Some(b) = &self.bar {
            b.update(|s| {
                s.set_len(total);
                s.set_pos(done);
            });
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
        let (label, c, start) = (label.to_owned(), counters.clone(), Instant::now());
        let h = std::thread::spawn(move || {
            let mut line: Option<Progress> = None;
            loop {
                let stopped = !matches!(
                    rx.recv_timeout(Duration::from_millis(1000 / u64::from(HZ))),
                    Err(mpsc::RecvTimeoutError::Timeout)
                );
                let (done, total) = (c.done(), c.total());
                if total > 0 {
                    let l = line.get_or_insert_with(|| Progress::since(start, true, &label, total));
                    l.update(done, total);
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
