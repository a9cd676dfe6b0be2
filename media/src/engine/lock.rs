//! The lock manager: shared and exclusive locks on keys, held to the end of the transaction
//! (strict two-phase locking), so that no transaction reads or overwrites another's
//! uncommitted row, and so undo may restore a row by its key wherever the row now lives.
//!
//! Deadlocks are found when they form: before a transaction waits, the wait-for graph (who waits
//! for whom, through the locks they hold and the one each waits for) is searched for a path
//! back to it; if there is one, its wait would close a cycle, and it gets [`Error::Deadlock`]
//! at once and should roll back (the requester is the victim, as it is the one whose work is
//! cheapest to know about; SQL Server picks by cost instead). Waits are also bounded: a
//! transaction that waits longer than the timeout gets [`Error::LockTimeout`].

use std::collections::{HashMap, HashSet};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use super::{Error, Result};

/// A lockable resource: a key in a table (the table is its filegroup's id).
pub type Resource = (u16, Vec<u8>);

/// Lock modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Readers share.
    Shared,
    /// One writer, nobody else.
    Exclusive,
}

#[derive(Default)]
struct Entry {
    shared: HashSet<u64>,
    exclusive: Option<u64>,
}

#[derive(Default)]
struct Table {
    locks: HashMap<Resource, Entry>,
    held: HashMap<u64, HashSet<Resource>>,
    /// What each waiting transaction waits for.
    waiting: HashMap<u64, (Resource, Mode)>,
}

impl Table {
    /// The transactions whose locks keep `txn` from taking `res` in `mode`.
    fn blockers(&self, txn: u64, res: &Resource, mode: Mode) -> Vec<u64> {
        let Some(e) = self.locks.get(res) else {
            return Vec::new();
        };
        let mut v: Vec<u64> = e.exclusive.into_iter().filter(|&x| x != txn).collect();
        if mode == Mode::Exclusive {
            v.extend(e.shared.iter().copied().filter(|&s| s != txn));
        }
        v
    }

    /// Whether `txn` waiting for `res` would close a cycle in the wait-for graph.
    fn would_deadlock(&self, txn: u64, res: &Resource, mode: Mode) -> bool {
        let mut stack = self.blockers(txn, res, mode);
        let mut seen = HashSet::new();
        while let Some(b) = stack.pop() {
            if b == txn {
                return true;
            }
            if seen.insert(b) {
                if let Some((r, m)) = self.waiting.get(&b) {
                    stack.extend(self.blockers(b, r, *m));
                }
            }
        }
        false
    }
}

/// Key locks for all transactions of a database.
pub struct LockManager {
    table: Mutex<Table>,
    released: Condvar,
    timeout: Duration,
}

impl LockManager {
    /// A lock manager whose waits give up after `timeout`.
    pub fn new(timeout: Duration) -> Self {
        LockManager {
            table: Mutex::default(),
            released: Condvar::new(),
            timeout,
        }
    }

    /// Takes (or upgrades to) a lock for `txn`, waiting for conflicting holders.
    pub fn acquire(&self, txn: u64, res: &Resource, mode: Mode) -> Result<()> {
        let deadline = Instant::now() + self.timeout;
        let mut t = self.table.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let e = t.locks.entry(res.clone()).or_default();
            let granted = match mode {
                Mode::Shared => match e.exclusive {
                    Some(x) => x == txn,
                    None => {
                        e.shared.insert(txn);
                        true
                    }
                },
                Mode::Exclusive => {
                    let others_share = e.shared.iter().any(|&s| s != txn);
                    match e.exclusive {
                        Some(x) => x == txn,
                        None if !others_share => {
                            e.exclusive = Some(txn);
                            true
                        }
                        None => false,
                    }
                }
            };
            if granted {
                t.waiting.remove(&txn);
                t.held.entry(txn).or_default().insert(res.clone());
                return Ok(());
            }
            let key = || String::from_utf8_lossy(&res.1).into_owned();
            if t.would_deadlock(txn, res, mode) {
                t.waiting.remove(&txn);
                return Err(Error::Deadlock { txn, key: key() });
            }
            let now = Instant::now();
            if now >= deadline {
                t.waiting.remove(&txn);
                return Err(Error::LockTimeout { txn, key: key() });
            }
            t.waiting.insert(txn, (res.clone(), mode));
            t = self
                .released
                .wait_timeout(t, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Releases every lock `txn` holds (at commit or after rollback).
    pub fn release_all(&self, txn: u64) {
        let mut t = self.table.lock().unwrap_or_else(|e| e.into_inner());
        t.waiting.remove(&txn);
        if let Some(held) = t.held.remove(&txn) {
            for r in held {
                if let Some(e) = t.locks.get_mut(&r) {
                    e.shared.remove(&txn);
                    if e.exclusive == Some(txn) {
                        e.exclusive = None;
                    }
                    if e.shared.is_empty() && e.exclusive.is_none() {
                        t.locks.remove(&r);
                    }
                }
            }
        }
        self.released.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn exclusive_excludes_and_shared_shares() {
        let lm = Arc::new(LockManager::new(Duration::from_millis(100)));
        let k: Resource = (1, b"a".to_vec());
        lm.acquire(1, &k, Mode::Shared).unwrap();
        lm.acquire(2, &k, Mode::Shared).unwrap();
        assert!(matches!(
            lm.acquire(2, &k, Mode::Exclusive),
            Err(Error::LockTimeout { .. })
        ));
        lm.release_all(1);
        lm.acquire(2, &k, Mode::Exclusive).unwrap();
        let lm2 = lm.clone();
        let k2 = k.clone();
        let waiter = std::thread::spawn(move || {
            let lm = LockManager::new(Duration::from_secs(5));
            drop(lm);
            lm2.acquire(3, &k2, Mode::Shared)
        });
        std::thread::sleep(Duration::from_millis(20));
        lm.release_all(2);
        // The waiter got the lock once 2 released it (within its 100 ms timeout).
        assert!(waiter.join().unwrap().is_ok());
    }

    #[test]
    fn a_deadlock_is_found_when_it_forms_not_after_the_timeout() {
        let lm = Arc::new(LockManager::new(Duration::from_secs(30)));
        let (a, b): (Resource, Resource) = ((1, b"a".to_vec()), (2, b"b".to_vec()));
        lm.acquire(1, &a, Mode::Exclusive).unwrap();
        lm.acquire(2, &b, Mode::Shared).unwrap();
        let started = Instant::now();
        let (lm2, b2) = (lm.clone(), b.clone());
        // 1 waits for b (2 shares it) ...
        let waiter = std::thread::spawn(move || lm2.acquire(1, &b2, Mode::Exclusive));
        while lm.table.lock().unwrap().waiting.is_empty() {
            std::thread::sleep(Duration::from_millis(1));
        }
        // ... so 2 waiting for a (1 holds it) would wait forever: refused at once.
        let e = lm.acquire(2, &a, Mode::Shared).unwrap_err();
        assert!(
            matches!(e, Error::Deadlock { txn: 2, ref key } if key == "a"),
            "{e}"
        );
        // A wait that closes no cycle still waits: 3 for a, behind 1.
        let lm3 = lm.clone();
        let a3 = a.clone();
        let third = std::thread::spawn(move || lm3.acquire(3, &a3, Mode::Shared));
        // The victim rolls back; the first waiter gets its lock, then 3 after 1 commits.
        lm.release_all(2);
        assert!(waiter.join().unwrap().is_ok());
        lm.release_all(1);
        assert!(third.join().unwrap().is_ok());
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
