//! Crash tests for the reference engine, through the `refdb` binary: a workload is killed
//! (SIGKILL at a random moment, or an injected crash in the middle of a checkpoint, a page
//! write, a torn page write, a log fsync), sometimes killed again during the undo of the
//! recovery that follows, and then the database must hold exactly what was acknowledged.
//!
//! The expected contents come from the workload's own acknowledgements (`commit` lines,
//! printed after the commit is durable), replayed into a `BTreeMap` here; the digest is
//! recomputed here from that map by the documented formula, not by the engine. A transaction
//! that asked to commit but was not acknowledged (`pending`) may be there or not, but whole.
//!
//! Runs: `REFDB_CRASH_RUNS` (default 12 for CI; the issue asks for at least 200 by hand).

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use mtf_examples::refdb::{Op, Rng};
use sha2::{Digest, Sha256};

const REFDB: &str = env!("CARGO_BIN_EXE_refdb");

type Model = BTreeMap<(String, String), String>;

fn runs() -> u64 {
    std::env::var("REFDB_CRASH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12)
}

fn refdb(args: &[&str], env: &[(&str, String)]) -> std::process::Output {
    let mut c = Command::new(REFDB);
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run refdb")
}

/// The digest by the formula documented in `media::engine::check`, computed independently.
fn digest(m: &Model, order: &[&str]) -> String {
    let mut h = Sha256::new();
    for fg in order {
        for ((g, k), v) in m.range((fg.to_string(), String::new())..) {
            if g != fg {
                break;
            }
            for part in [g.as_bytes(), k.as_bytes(), v.as_bytes()] {
                h.update((part.len() as u32).to_be_bytes());
                h.update(part);
            }
        }
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn apply(m: &mut Model, ops: &[Op]) {
    for op in ops {
        match op {
            Op::Put { fg, key, value } => {
                m.insert((fg.clone(), key.clone()), value.clone());
            }
            Op::Del { fg, key } => {
                m.remove(&(fg.clone(), key.clone()));
            }
        }
    }
}

fn parse_ops(words: &[&str]) -> Vec<Op> {
    words
        .iter()
        .map(|w| w.parse().expect("workload op"))
        .collect()
}

fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 23
        && b.iter().enumerate().all(|(i, &c)| match i {
            4 | 7 => c == b'-',
            10 => c == b'T',
            13 | 16 => c == b':',
            19 => c == b'.',
            _ => c.is_ascii_digit(),
        })
}

/// What a killed workload acknowledged: commits in order, and the in-doubt transactions.
#[derive(Default)]
struct Acks {
    commits: Vec<(u64, String, Vec<Op>)>,
    pending: HashMap<u64, Vec<Op>>,
}

fn read_acks(lines: &[String]) -> Acks {
    let mut a = Acks::default();
    for l in lines {
        let w: Vec<&str> = l.split(' ').collect();
        match w[0] {
            "pending" => {
                a.pending.insert(w[1].parse().unwrap(), parse_ops(&w[2..]));
            }
            "commit" => {
                assert!(is_timestamp(w[1]), "commit time {:?} in {l:?}", w[1]);
                let lsn: u64 = w[2].strip_prefix("lsn=").unwrap().parse().unwrap();
                let txn: u64 = w[3].strip_prefix("txn=").unwrap().parse().unwrap();
                a.pending.remove(&txn);
                a.commits.push((lsn, w[1].to_string(), parse_ops(&w[4..])));
            }
            "rollback" => {}
            _ => panic!("unexpected workload line {l:?}"),
        }
    }
    a
}

fn scan(dir: &Path) -> Model {
    let o = refdb(&["scan", dir.to_str().unwrap()], &[]);
    assert!(
        o.status.success(),
        "scan failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let mut m = Model::new();
    for l in String::from_utf8(o.stdout).unwrap().lines() {
        let mut p = l.splitn(3, '\t');
        let (g, k, v) = (p.next().unwrap(), p.next().unwrap(), p.next().unwrap());
        m.insert((g.into(), k.into()), v.into());
    }
    m
}

fn check(dir: &Path, model: &Model) {
    let o = refdb(&["check", dir.to_str().unwrap()], &[]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "check failed:\n{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains(&format!("rows: {}\n", model.len())), "{out}");
    assert!(
        out.contains(&format!(
            "digest: {}\n",
            digest(model, &["PRIMARY", "sales"])
        )),
        "{out}"
    );
}

/// Resolves the in-doubt transactions against what the database holds (each must be there
/// whole or not at all) and checks that the database holds exactly the model.
fn settle(dir: &Path, model: &mut Model, pending: &HashMap<u64, Vec<Op>>, ctx: &str) {
    let got = scan(dir);
    for (txn, ops) in pending {
        let mut with = model.clone();
        apply(&mut with, ops);
        let keys: Vec<(String, String)> = ops
            .iter()
            .map(|o| match o {
                Op::Put { fg, key, .. } | Op::Del { fg, key } => (fg.clone(), key.clone()),
            })
            .collect();
        let now: Vec<_> = keys.iter().map(|k| got.get(k)).collect();
        let after: Vec<_> = keys.iter().map(|k| with.get(k)).collect();
        let before: Vec<_> = keys.iter().map(|k| model.get(k)).collect();
        if now == after {
            *model = with;
        } else {
            assert_eq!(
                now, before,
                "{ctx}: in-doubt transaction {txn} is half there"
            );
        }
    }
    if got != *model {
        let missing: Vec<_> = model
            .iter()
            .filter(|(k, v)| got.get(*k) != Some(v))
            .take(5)
            .collect();
        let extra: Vec<_> = got
            .iter()
            .filter(|(k, v)| model.get(*k) != Some(v))
            .take(5)
            .collect();
        panic!("{ctx}: contents differ from the acknowledged commits; expected-but-not: {missing:?}; there-but-unexpected: {extra:?}");
    }
}

#[test]
fn crash_anywhere_keeps_every_acknowledged_commit_and_nothing_else() {
    let runs = runs();
    let seed: u64 = std::env::var("REFDB_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20261203);
    let mut rng = Rng::new(seed);
    let tmp = tempfile::tempdir().unwrap();
    // REFDB_CRASH_KEEP=1 keeps the databases for a post-mortem.
    let tmp = if std::env::var_os("REFDB_CRASH_KEEP").is_some() {
        let p = tmp.keep();
        eprintln!("keeping {}", p.display());
        tempfile::TempDir::new_in(p).unwrap()
    } else {
        tmp
    };
    let mut stats: BTreeMap<&str, u64> = BTreeMap::new();
    let mut dir = tmp.path().join("db0");
    let mut model = Model::new();
    // Debugging knobs: a fresh database every N runs, and one crash kind only.
    let fresh_every: u64 = std::env::var("REFDB_CRASH_FRESH")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let only_kind: Option<u64> = std::env::var("REFDB_CRASH_KIND")
        .ok()
        .and_then(|v| v.parse().ok());
    for run in 0..runs {
        // A fresh database every 10 runs; in between, each run crashes a database that has
        // already been crashed and recovered.
        if run % fresh_every == 0 {
            dir = tmp.path().join(format!("db{run}"));
            model.clear();
            let model_name = ["full", "simple", "bulk-logged"][(run / fresh_every % 3) as usize];
            let mut args = vec![
                "create",
                dir.to_str().unwrap(),
                "--recovery",
                model_name,
                "--filegroup",
                "sales",
            ];
            // Every other database: several files per filegroup and one allocation map per
            // extent, so crashes hit files growing by a map and trees spanning files.
            if run / fresh_every % 2 == 1 {
                args.extend(["--file", "sales:sales2", "--file", "PRIMARY:primary2"]);
                args.extend(["--map-extents", "1"]);
            }
            let o = refdb(&args, &[]);
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        }
        let kind = only_kind.unwrap_or_else(|| rng.below(5));
        let (label, crash) = match kind {
            0 => ("sigkill", None),
            1 => ("ckpt", Some(format!("ckpt:{}", 1 + rng.below(4)))),
            2 => (
                "pagewrite",
                Some(format!("pagewrite:{}", 1 + rng.below(40))),
            ),
            3 => ("torn", Some(format!("torn:{}", 1 + rng.below(40)))),
            _ => ("fsync", Some(format!("fsync:{}", 1 + rng.below(200)))),
        };
        let wseed = rng.next_u64() % 1_000_000;
        let mut cmd = Command::new(REFDB);
        cmd.args([
            "workload",
            dir.to_str().unwrap(),
            "--ops",
            "2500",
            "--seed",
            &wseed.to_string(),
        ]);
        cmd.args([
            "--pool-pages",
            "16",
            "--checkpoint-every",
            &(32768 + rng.below(200_000)).to_string(),
        ]);
        cmd.args([
            "--keys",
            "600",
            "--threads",
            &(1 + rng.below(3)).to_string(),
        ]);
        if let Some(c) = &crash {
            cmd.env("REFDB_CRASH", c);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<_>>()
        });
        if crash.is_none() {
            std::thread::sleep(Duration::from_millis(20 + rng.below(600)));
            let _ = child.kill();
        }
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        let status = child.wait().unwrap();
        let lines = reader.join().unwrap();
        let crashed = status.signal().is_some();
        assert!(
            crashed || status.success(),
            "run {run}: workload failed: {stderr}"
        );
        *stats
            .entry(if crashed { label } else { "finished" })
            .or_default() += 1;
        let acks = read_acks(&lines);
        let ctx = format!(
            "run {run} ({label} {crash:?}, workload seed {wseed}, {})",
            dir.display()
        );
        let mut last: Option<(u64, String)> = None;
        for (lsn, ts, ops) in &acks.commits {
            apply(&mut model, ops);
            // Commit times grow with the LSN (a point in time names one place in the log).
            // LSN 0: a transaction that changed nothing (deletes of absent keys) logs nothing.
            if *lsn == 0 {
                continue;
            }
            if let Some((l, t)) = &last {
                if lsn > l {
                    assert!(
                        ts >= t,
                        "{ctx}: commit at LSN {lsn} has time {ts} before {t}"
                    );
                }
            }
            last = Some((*lsn, ts.clone()));
        }
        // Sometimes crash the recovery itself in the middle of its undo, then recover again.
        if crashed && rng.below(2) == 0 {
            let n = 1 + rng.below(20);
            let o = refdb(
                &["check", dir.to_str().unwrap()],
                &[("REFDB_CRASH", format!("undo:{n}"))],
            );
            if o.status.signal().is_some() {
                *stats.entry("undo-crash").or_default() += 1;
            } else {
                assert!(
                    o.status.success(),
                    "{ctx}: {}",
                    String::from_utf8_lossy(&o.stderr)
                );
            }
        }
        settle(&dir, &mut model, &acks.pending, &ctx);
        check(&dir, &model);
    }
    eprintln!("crash runs: {runs}, seed {seed}: {stats:?}");
    if runs >= 50 {
        for k in [
            "sigkill",
            "ckpt",
            "pagewrite",
            "torn",
            "fsync",
            "undo-crash",
        ] {
            assert!(
                stats.get(k).copied().unwrap_or(0) > 0,
                "no run crashed at {k}: {stats:?}"
            );
        }
    }
}

/// The pages of a data file whose checksum (or id) does not hold.
fn bad_pages(file: &Path) -> Vec<u32> {
    use media::engine::page::{Page, PageId, PAGE_SIZE};
    let bytes = std::fs::read(file).unwrap();
    bytes
        .chunks(PAGE_SIZE)
        .enumerate()
        .filter(|(i, c)| {
            let p = Page::from_slice(c).unwrap();
            p.verify(PageId {
                file: 1,
                page: *i as u32,
            })
            .is_err()
        })
        .map(|(i, _)| i as u32)
        .collect()
}

fn run_workload(dir: &Path, args: &[&str], crash: Option<&str>) -> (Vec<String>, bool) {
    let mut cmd = Command::new(REFDB);
    cmd.arg("workload").arg(dir).args(args);
    if let Some(c) = crash {
        cmd.env("REFDB_CRASH", c);
    }
    let o = cmd.output().unwrap();
    let lines = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    let crashed = o.status.signal().is_some();
    assert!(
        crashed || o.status.success(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    (lines, crashed)
}

#[test]
fn a_torn_page_is_found_by_its_checksum_and_rebuilt_from_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    let mut repaired_any = false;
    for n in [3u64, 9, 17, 30] {
        let dir = tmp.path().join(format!("db{n}"));
        assert!(refdb(
            &["create", dir.to_str().unwrap(), "--recovery", "simple"],
            &[]
        )
        .status
        .success());
        let mut model = Model::new();
        let (lines, _) = run_workload(
            &dir,
            &[
                "--ops",
                "1500",
                "--keys",
                "3000",
                "--value-pad",
                "100",
                "--threads",
                "1",
            ],
            None,
        );
        let a = read_acks(&lines);
        for (_, _, ops) in &a.commits {
            apply(&mut model, ops);
        }
        // The Nth page write is cut after its first half: a torn page on disk.
        let args = [
            "--ops",
            "3000",
            "--keys",
            "3000",
            "--value-pad",
            "100",
            "--pool-pages",
            "16",
            "--seed",
            "5",
            "--threads",
            "1",
        ];
        let (lines, crashed) = run_workload(&dir, &args, Some(&format!("torn:{n}")));
        assert!(crashed, "torn:{n} did not happen");
        let torn = bad_pages(&dir.join("primary.mdf"));
        assert_eq!(torn.len(), 1, "exactly one torn page: {torn:?}");
        let a = read_acks(&lines);
        for (_, _, ops) in &a.commits {
            apply(&mut model, ops);
        }
        let o = refdb(&["check", dir.to_str().unwrap()], &[]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{err}");
        assert!(
            err.contains(&format!("repaired from the log: [1:{}]", torn[0])),
            "{err}"
        );
        repaired_any = true;
        settle(&dir, &mut model, &a.pending, &format!("torn:{n}"));
        check(&dir, &model);
        assert!(bad_pages(&dir.join("primary.mdf")).is_empty());
    }
    assert!(repaired_any);
}

#[test]
fn a_torn_page_without_an_image_in_the_log_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    assert!(refdb(&["create", dir.to_str().unwrap()], &[])
        .status
        .success());
    run_workload(
        &dir,
        &["--ops", "3000", "--keys", "3000", "--value-pad", "50"],
        None,
    );
    // Closed cleanly: every page is on disk and the log holds no image of it. Tear the root:
    // its first half rewritten (as if a newer version's first half had reached the disk), the
    // second half old.
    let path = dir.join("primary.mdf");
    let mut bytes = std::fs::read(&path).unwrap();
    let root = 2 * 8192;
    for b in &mut bytes[root + 64..root + 4096] {
        *b ^= 0x5A;
    }
    std::fs::write(&path, &bytes).unwrap();
    let o = refdb(&["check", dir.to_str().unwrap()], &[]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(!o.status.success());
    assert!(
        out.contains("primary.mdf: page 2: checksum mismatch"),
        "{out}"
    );
    let o = refdb(&["get", dir.to_str().unwrap(), "k000001"], &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err.contains("primary.mdf") && err.contains("page 2"),
        "{err}"
    );
}

#[test]
fn a_torn_log_tail_is_cut_at_the_last_whole_record() {
    let tmp = tempfile::tempdir().unwrap();
    let mut rng = Rng::new(99);
    for i in 0..6 {
        let dir = tmp.path().join(format!("db{i}"));
        assert!(refdb(&["create", dir.to_str().unwrap()], &[])
            .status
            .success());
        let args = [
            "--ops",
            "3000",
            "--keys",
            "300",
            "--checkpoint-every",
            "1000000000",
            "--threads",
            "1",
        ];
        let crash = format!("fsync:{}", 20 + rng.below(100));
        let (lines, crashed) = run_workload(&dir, &args, Some(&crash));
        assert!(crashed);
        let a = read_acks(&lines);
        let mut model = Model::new();
        for (_, _, ops) in &a.commits {
            apply(&mut model, ops);
        }
        // The log header (documented in media::engine::wal) gives the LSN of the file's
        // first record byte; a commit record is 37 bytes.
        let log = dir.join("log.ldf");
        let bytes = std::fs::read(&log).unwrap();
        let base = u64::from_le_bytes(bytes[32..40].try_into().unwrap());
        let acked_end = a
            .commits
            .iter()
            .map(|c| 4096 + c.0 - base + 37)
            .max()
            .unwrap_or(4096);
        let len = bytes.len() as u64;
        assert!(acked_end <= len);
        // Tear inside the part written after the last acknowledged commit: cut it, or
        // overwrite it with garbage.
        let cut = acked_end + rng.below(len - acked_end + 1);
        let f = std::fs::OpenOptions::new().write(true).open(&log).unwrap();
        if i % 2 == 0 {
            f.set_len(cut).unwrap();
        } else {
            use std::os::unix::fs::FileExt;
            let junk: Vec<u8> = (0..(len - cut).min(5000))
                .map(|_| rng.below(256) as u8)
                .collect();
            f.write_all_at(&junk, cut).unwrap();
        }
        drop(f);
        let o = refdb(&["check", dir.to_str().unwrap()], &[]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        settle(
            &dir,
            &mut model,
            &a.pending,
            &format!("log cut at {cut} of {len}"),
        );
        check(&dir, &model);
    }
}
