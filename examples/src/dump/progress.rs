//! A progress line on stderr for long work, shown only when stderr is a terminal.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Counts bytes done of a total and redraws a one-line bar at most five times a second.
pub struct Progress {
    enabled: bool,
    label: String,
    total: u64,
    done: u64,
    last: Instant,
    drawn: bool,
}

impl Progress {
    /// A bar for `total` bytes; silent unless `wanted` and stderr is a terminal.
    pub fn new(wanted: bool, label: &str, total: u64) -> Progress {
        Progress {
            enabled: wanted && std::io::stderr().is_terminal() && total > 0,
            label: label.to_string(),
            total,
            done: 0,
            last: Instant::now(),
            drawn: false,
        }
    }

    /// Whether the bar is drawn at all.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Sets the bytes done so far.
    pub fn set(&mut self, done: u64) {
        self.done = done;
        if self.enabled && self.last.elapsed() >= Duration::from_millis(200) {
            self.last = Instant::now();
            self.draw();
        }
    }

    fn draw(&mut self) {
        let pct = (self.done.min(self.total) as f64 / self.total as f64 * 100.0) as u32;
        let width = 30usize;
        let filled = (pct as usize * width / 100).min(width);
        let mut e = std::io::stderr().lock();
        let _ = write!(
            e,
            "\r{} [{}{}] {:>3}% {} / {} MiB",
            self.label,
            "#".repeat(filled),
            " ".repeat(width - filled),
            pct,
            self.done >> 20,
            self.total >> 20
        );
        let _ = e.flush();
        self.drawn = true;
    }

    /// Clears the line.
    pub fn finish(&mut self) {
        if self.drawn {
            let mut e = std::io::stderr().lock();
            let _ = write!(e, "\r{}\r", " ".repeat(self.label.len() + 60));
            let _ = e.flush();
            self.drawn = false;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
