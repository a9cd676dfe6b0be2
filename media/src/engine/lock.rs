//! The lock manager: shared and exclusive locks on keys, held to the end of the transaction
//! (strict two-phase locking), so that no transaction reads or overwrites another's
//! uncommitted row, and so undo may restore a row by its key wherever the row now lives.
//!
//! Waits are bounded: a transaction that waits longer than the timeout gets
//! [`Error::LockTimeout`] and should roll back. That resolves
//! deadlocks simply, at the cost of waiting the timeout out.

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
                t.held.entry(txn).or_default().insert(res.clone());
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::LockTimeout {
                    txn,
                    key: String::from_utf8_lossy(&res.1).into_owned(),
                });
            }
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
}
