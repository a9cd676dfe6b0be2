//! The logic behind `refdb`, the reference engine's command line: the random workload and the
//! line protocol it prints, which the crash tests read to know what was acknowledged.
//!
//! Workload output, one line per event, written and flushed only after the event happened:
//! - `pending TXN OPS…` just before a transaction asks to commit (it may or may not be durable
//!   if the process dies before the matching `commit` line);
//! - `commit TIME lsn=LSN txn=TXN OPS…` once the commit is durable (acknowledged), before the
//!   transaction's locks are released. `TIME` is the commit timestamp, `YYYY-MM-DDTHH:MM:SS.fff`
//!   UTC;
//! - `rollback txn=TXN` once a rollback finished.
//!
//! Each op is `put:FILEGROUP:KEY=VALUE` or `del:FILEGROUP:KEY`. Keys and values are printable
//! and contain no spaces, `:` or `=`.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use media::engine::time::format_ms;
use media::engine::{Database, Result};

/// A small deterministic random generator (SplitMix64), so a seed reproduces a workload.
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// A number below `n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// One write of a workload transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Insert or update.
    Put {
        fg: String,
        key: String,
        value: String,
    },
    /// Delete.
    Del { fg: String, key: String },
}

impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Op::Put { fg, key, value } => write!(f, "put:{fg}:{key}={value}"),
            Op::Del { fg, key } => write!(f, "del:{fg}:{key}"),
        }
    }
}

impl std::str::FromStr for Op {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Op, String> {
        let bad = || format!("bad op {s:?}");
        let (kind, rest) = s.split_once(':').ok_or_else(bad)?;
        let (fg, kv) = rest.split_once(':').ok_or_else(bad)?;
        match kind {
            "put" => {
                let (k, v) = kv.split_once('=').ok_or_else(bad)?;
                Ok(Op::Put {
                    fg: fg.into(),
                    key: k.into(),
                    value: v.into(),
                })
            }
            "del" => Ok(Op::Del {
                fg: fg.into(),
                key: kv.into(),
            }),
            _ => Err(bad()),
        }
    }
}

/// What a workload does.
#[derive(Clone, Debug)]
pub struct WorkloadSpec {
    /// Writes in all (across all transactions).
    pub ops: u64,
    /// The random seed.
    pub seed: u64,
    /// Concurrent transactions (threads).
    pub threads: usize,
    /// Distinct keys per filegroup.
    pub keys: u64,
    /// Percent of transactions rolled back instead of committed.
    pub rollback_pct: u64,
    /// Bytes of padding in each value (to make the log grow faster).
    pub value_pad: usize,
}

/// Runs a workload on every writable filegroup, printing the line protocol to `out`.
pub fn workload(
    db: &Database,
    spec: &WorkloadSpec,
    out: &Mutex<Box<dyn Write + Send>>,
) -> Result<u64> {
    let fgs: Vec<String> = db
        .info()
        .filegroups
        .iter()
        .filter(|f| !f.read_only)
        .map(|f| f.name.clone())
        .collect();
    if fgs.is_empty() {
        return Err(media::engine::Error::Invalid(format!(
            "{}: every filegroup is read-only; the workload has nowhere to write",
            db.dir().display()
        )));
    }
    let remaining = AtomicU64::new(spec.ops);
    let commits = AtomicU64::new(0);
    let emit = |line: String| {
        let mut o = out.lock().unwrap_or_else(|e| e.into_inner());
        // A closed stdout (the harness went away) must not stop the workload's durability
        // story, only its reporting.
        let _ = writeln!(o, "{line}").and_then(|()| o.flush());
    };
    std::thread::scope(|s| -> Result<()> {
        let mut handles = Vec::new();
        for t in 0..spec.threads.max(1) {
            let (fgs, remaining, commits, emit) = (&fgs, &remaining, &commits, &emit);
            let spawned = std::thread::Builder::new().spawn_scoped(s, move || -> Result<()> {
                let mut rng = Rng::new(spec.seed.wrapping_mul(1000).wrapping_add(t as u64));
                let mut n = 0u64;
                loop {
                    // Mostly small transactions, now and then a long one (long undo).
                    let size = if rng.below(20) == 0 {
                        20 + rng.below(150)
                    } else {
                        1 + rng.below(8)
                    };
                    let Ok(left) =
                        remaining.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |r| {
                            (r > 0).then(|| r - size.min(r))
                        })
                    else {
                        return Ok(());
                    };
                    let size = size.min(left);
                    // Keys in one global order (filegroup, key), so two transactions never wait
                    // on each other in a cycle.
                    let mut keys: Vec<(String, String)> = (0..size)
                        .map(|_| {
                            let fg = fgs[rng.below(fgs.len() as u64) as usize].clone();
                            (fg, format!("k{:06}", rng.below(spec.keys)))
                        })
                        .collect();
                    keys.sort();
                    keys.dedup();
                    let mut tx = db.begin();
                    let id = tx.id();
                    let mut ops = Vec::new();
                    for (fg, key) in keys {
                        n += 1;
                        let op = if rng.below(100) < 20 {
                            Op::Del { fg, key }
                        } else {
                            let value =
                                format!("v{}.{id}.{n}{}", spec.seed, "x".repeat(spec.value_pad));
                            Op::Put { fg, key, value }
                        };
                        match &op {
                            Op::Put { fg, key, value } => {
                                tx.put(fg, key.as_bytes(), value.as_bytes())?
                            }
                            Op::Del { fg, key } => tx.delete(fg, key.as_bytes())?,
                        }
                        ops.push(op.to_string());
                    }
                    if rng.below(100) < spec.rollback_pct {
                        tx.rollback()?;
                        emit(format!("rollback txn={id}"));
                    } else {
                        emit(format!("pending {id} {}", ops.join(" ")));
                        // Printed before the locks go, so lines of transactions that touch the
                        // same keys come out in the order they committed.
                        tx.commit_then(|c| {
                            emit(format!(
                                "commit {} lsn={} txn={id} {}",
                                format_ms(c.ts_ms),
                                c.lsn,
                                ops.join(" ")
                            ))
                        })?;
                        commits.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
            // Too many threads for this machine: an error, not a panic (those started finish
            // their share).
            handles.push(spawned.map_err(|e| {
                media::engine::Error::Invalid(format!("start workload thread {t}: {e}"))
            })?);
        }
        for h in handles {
            h.join().expect("workload thread panicked")?;
        }
        Ok(())
    })?;
    Ok(commits.load(Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_print_and_parse_back() {
        for op in [
            Op::Put {
                fg: "PRIMARY".into(),
                key: "k000001".into(),
                value: "v1.2.3xx".into(),
            },
            Op::Del {
                fg: "sales".into(),
                key: "k000002".into(),
            },
        ] {
            assert_eq!(op.to_string().parse::<Op>().unwrap(), op);
        }
    }
}
