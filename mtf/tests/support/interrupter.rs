//! A signal that keeps interrupting the thread that asked for it, for the tests that check
//! copies and backups survive signals (shared by `mtf/tests/signals.rs` and
//! `media/tests/signals.rs` through `#[path]`).

extern "C" fn caught(_: libc::c_int) {}

/// A SIGALRM every 20 µs to the thread that starts it (a timer of its own: a process-wide
/// timer's signal would mostly go to the test harness's idle main thread), caught by a handler
/// without `SA_RESTART`, until dropped.
pub struct Interrupter {
    timer: libc::timer_t,
}

impl Interrupter {
    pub fn start() -> Interrupter {
        // SAFETY: a handler that does nothing is async-signal-safe; the C structs are zeroed
        // and filled in before the calls, and the timer is deleted in drop.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = caught as *const () as usize;
            sa.sa_flags = 0;
            assert_eq!(libc::sigaction(libc::SIGALRM, &sa, std::ptr::null_mut()), 0);
            let mut ev: libc::sigevent = std::mem::zeroed();
            ev.sigev_notify = libc::SIGEV_THREAD_ID;
            ev.sigev_signo = libc::SIGALRM;
            ev.sigev_notify_thread_id = libc::gettid();
            let mut timer: libc::timer_t = std::mem::zeroed();
            assert_eq!(
                libc::timer_create(libc::CLOCK_MONOTONIC, &mut ev, &mut timer),
                0
            );
            let tick = libc::timespec {
                tv_sec: 0,
                tv_nsec: 20_000,
            };
            let spec = libc::itimerspec {
                it_interval: tick,
                it_value: tick,
            };
            assert_eq!(
                libc::timer_settime(timer, 0, &spec, std::ptr::null_mut()),
                0
            );
            Interrupter { timer }
        }
    }
}

impl Drop for Interrupter {
    fn drop(&mut self) {
        // SAFETY: the timer was made by timer_create and is deleted once.
        unsafe {
            libc::timer_delete(self.timer);
        }
    }
}
