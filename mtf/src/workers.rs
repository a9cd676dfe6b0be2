//! Two worker threads, and the caller reporting their progress while it waits for them: the
//! shape of `verify`'s checksum workers and `extract`'s copy workers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, RecvTimeoutError};
use std::time::Duration;

/// How often `progress` is called while the workers run.
const TICK: Duration = Duration::from_millis(50);

/// Runs `work` on two threads and returns what each returned (a worker's panic is re-raised).
/// Meanwhile `progress` is called every tick with `done` (capped at `total`). The wait ends
/// the moment both workers end: polling with a sleep added up to a tick to every run, a fifth
/// of a `verify` of a medium in the page cache.
pub(crate) fn run_two<T: Send>(
    work: impl Fn() -> T + Sync,
    done: &AtomicU64,
    total: u64,
    progress: &mut dyn FnMut(u64),
) -> Vec<T> {
    // Each worker holds a sender and drops it when it ends (or panics): the channel is
    // disconnected once both have.
    let (alive, ended) = channel::<()>();
    std::thread::scope(|scope| {
        let work = &work;
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let alive = alive.clone();
                scope.spawn(move || {
                    let _alive = alive;
                    work()
                })
            })
            .collect();
        drop(alive);
        loop {
            progress(done.load(Ordering::Relaxed).min(total));
            if let Err(RecvTimeoutError::Disconnected) = ended.recv_timeout(TICK) {
                break;
            }
        }
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn both_results_come_back_without_waiting_for_a_tick() {
        let done = AtomicU64::new(0);
        let mut calls = 0;
        let t = Instant::now();
        let out = run_two(
            || {
                done.fetch_add(1, Ordering::Relaxed);
                7
            },
            &done,
            10,
            &mut |_| calls += 1,
        );
        assert_eq!(out, vec![7, 7]);
        assert_eq!(done.load(Ordering::Relaxed), 2);
        assert!(calls >= 1);
        // Far below a tick, however loaded the machine: the old polling waited one whole.
        assert!(t.elapsed() < TICK, "{:?}", t.elapsed());
    }
}
