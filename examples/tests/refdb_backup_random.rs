//! Randomized: workloads interleaved with random backups (full, differential, log, copy-only;
//! some striped over two tiny tapes that force continuation media), a crash, a tail-log backup
//! from the files, then a restore to a random committed point, planned by the planner from the
//! backup history and executed. The restored rows must equal the test's own model of the
//! acknowledged commits at that point.
//!
//! Runs: `REFDB_BACKUP_RUNS` (default 6 in the ordinary suite; run with 100 or more by hand),
//! seeds from `REFDB_BACKUP_SEED` (default 1) on. Each run sleeps about a second (into new
//! whole seconds around one step), so that the point it restores to can be one in time: the
//! history keeps whole seconds.

use media::changer::dir::DirectoryLibrary;
use media::changer::{MediaChanger, MediumRequest};
use media::dbbackup::{self, BackupOptions, BackupType};
use media::decision::Operation;
use media::engine::{Database, RecoveryModel};
use media::history::sqlite::SqliteHistory;
use media::set::MediaSet;
use media::stripe::{StripeDevice, StripeOptions};
use std::collections::BTreeMap;
use std::path::Path;

type Rows = BTreeMap<String, String>;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn devices(lib: &Path, set: &MediaSet, cap: u64) -> Vec<Vec<StripeDevice>> {
    (1..=set.family_count)
        .map(|f| {
            let opts = tape_sys::EmulatedOptions::new()
                .capacity(cap)
                .early_warning(64 * 1024);
            let mut l = DirectoryLibrary::new(lib, opts).unwrap();
            let first = l.mount(&MediumRequest::first_write(set, f, 0)).unwrap();
            vec![StripeDevice {
                first,
                changer: Box::new(l),
            }]
        })
        .collect()
}

fn rows_of(dir: &Path) -> Rows {
    let db = Database::open(dir).unwrap();
    let r = db
        .begin()
        .scan("PRIMARY", None, None)
        .unwrap()
        .into_iter()
        .map(|(k, v)| (String::from_utf8(k).unwrap(), String::from_utf8(v).unwrap()))
        .collect();
    let check = db.check().unwrap();
    assert!(check.problems.is_empty(), "{:?}", check.problems);
    db.close().unwrap();
    r
}

/// Sleeps into the next whole second (and a little past it).
fn sleep_into_the_next_second() {
    let ms = media::engine::time::now_ms() % 1000;
    std::thread::sleep(std::time::Duration::from_millis(1000 - ms + 20));
}

/// One run; says whether it restored to a point in time (STOPAT) rather than the latest.
fn one_run(seed: u64) -> bool {
    let mut rng = fastrand::Rng::with_seed(seed);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let model = if rng.bool() {
        RecoveryModel::Full
    } else {
        RecoveryModel::BulkLogged
    };
    let db = Database::create(&dir, "db", model, &[]).unwrap();
    let hpath = tmp.path().join("history.db");
    let mut history = SqliteHistory::open(&hpath).unwrap();
    let mut rows = Rows::new();
    // (commit time, rows after it)
    let mut commits: Vec<(u64, Rows)> = Vec::new();
    // Whole seconds in which a backup finished (see below).
    let mut finish_secs = Vec::new();
    let mut first_full_done = None;
    let mut n = 0u64;
    let steps = rng.usize(4..9);
    // The history and the planner keep whole seconds, so a point is chosen only in a second
    // in which no backup started or finished (see below). A run takes well under a second on a
    // fast machine, so one step's commits after the first full (or the work before the crash,
    // `steps`) get seconds of their own: the run sleeps into a new second before and after it.
    let free_step = rng.usize(1..=steps);
    for step in 0..steps {
        if step == free_step {
            sleep_into_the_next_second();
        }
        for _ in 0..rng.usize(5..40) {
            n += 1;
            let key = format!("k{}", rng.u32(0..150));
            let del = rng.u8(0..6) == 0 && rows.contains_key(&key);
            let val = format!("v{n}-{}", "z".repeat(rng.usize(0..300)));
            let (_, c) = db
                .run(|t| {
                    if del {
                        t.delete("PRIMARY", key.as_bytes())
                    } else {
                        t.put("PRIMARY", key.as_bytes(), val.as_bytes())
                    }
                })
                .unwrap();
            if del {
                rows.remove(&key);
            } else {
                rows.insert(key, val);
            }
            commits.push((c.ts_ms, rows.clone()));
        }
        if step == free_step {
            sleep_into_the_next_second();
        }
        let kind = if step == 0 {
            BackupType::Full
        } else {
            match rng.u8(0..5) {
                0 => BackupType::Full,
                1 => BackupType::Differential,
                _ => BackupType::Log,
            }
        };
        let mut o = BackupOptions::new(kind);
        o.copy_only = step > 0 && rng.u8(0..8) == 0;
        o.checksum = rng.bool();
        let families = if rng.u8(0..3) == 0 { 2 } else { 1 };
        let cap = if families == 2 { 160 * 1024 } else { 32 << 20 };
        let lib = tmp.path().join(format!("b{step}"));
        let set = MediaSet::new(&format!("S{step}"), families);
        let mut so = StripeOptions::new(Operation::Format, 1_717_200_000);
        so.write.block_size = 16 * 1024;
        let out = dbbackup::backup(&db, &o, devices(&lib, &set, cap), set, &so, &mut history)
            .unwrap_or_else(|e| panic!("seed {seed} step {step} {kind:?}: {e}"));
        finish_secs.push(out.header.finish_ms / 1000);
        finish_secs.push(out.header.start_ms / 1000);
        if first_full_done.is_none() {
            first_full_done = Some(commits.len());
        }
    }
    // More work, then the crash, then the tail of the log from the files.
    if free_step == steps {
        sleep_into_the_next_second();
    }
    for _ in 0..rng.usize(1..20) {
        n += 1;
        let key = format!("k{}", rng.u32(0..150));
        let val = format!("tail{n}");
        let (_, c) = db
            .run(|t| t.put("PRIMARY", key.as_bytes(), val.as_bytes()))
            .unwrap();
        rows.insert(key, val);
        commits.push((c.ts_ms, rows.clone()));
    }
    if free_step == steps {
        sleep_into_the_next_second();
    }
    db.abandon();
    let mut tail = BackupOptions::new(BackupType::Log);
    tail.no_truncate = true;
    tail.norecovery = true;
    let set = MediaSet::new("TAIL", 1);
    let so = StripeOptions::new(Operation::Format, 1_717_200_000);
    let out = dbbackup::tail_log_from_files(
        &dir,
        &tail,
        devices(&tmp.path().join("tail"), &set, 32 << 20),
        set,
        &so,
        &mut history,
    )
    .unwrap_or_else(|e| panic!("seed {seed} tail: {e}"));
    finish_secs.push(out.header.finish_ms / 1000);
    drop(history);
    // A committed point after the first full backup. The history and the planner keep whole
    // seconds (as msdb does), so a point in a second in which a backup started or finished
    // cannot be told apart from the backup's edge: those are left out.
    let first = first_full_done.unwrap();
    let candidates: Vec<usize> = (first..commits.len())
        .filter(|&i| !finish_secs.contains(&(commits[i].0 / 1000)))
        .collect();
    let (point, want) = match candidates.is_empty() {
        true => (None, commits.last().unwrap().1.clone()),
        false => {
            let i = candidates[rng.usize(0..candidates.len())];
            // The latest point sometimes, else STOPAT.
            if i + 1 == commits.len() && rng.bool() {
                (None, commits[i].1.clone())
            } else {
                (Some(commits[i].0), commits[i].1.clone())
            }
        }
    };
    let target = tmp.path().join("restored");
    let mut log = Vec::new();
    mtf_examples::refdb_media::plan(&hpath, "db", point, Some(&target), false, &mut log)
        .unwrap_or_else(|e| {
            panic!(
                "seed {seed} point {point:?}: {e}\n{}",
                String::from_utf8_lossy(&log)
            )
        });
    let got = rows_of(&target);
    assert_eq!(
        got,
        want,
        "seed {seed} point {point:?}\n{}",
        String::from_utf8_lossy(&log)
    );
    point.is_some()
}

#[test]
fn random_workloads_backups_crash_tail_and_restore_to_a_planned_point() {
    let runs = env_u64("REFDB_BACKUP_RUNS", 6);
    let seed0 = env_u64("REFDB_BACKUP_SEED", 1);
    let mut to_a_point = 0;
    for seed in seed0..seed0 + runs {
        to_a_point += one_run(seed) as u64;
    }
    eprintln!(
        "{runs} runs, {to_a_point} restored to a point in time (STOPAT), the rest to the latest"
    );
    // Each run has a step whose commits are all candidates; the latest point is taken only
    // when the last commit is drawn and a coin says so. Most runs must be STOPAT restores.
    assert!(
        runs < 4 || to_a_point * 2 >= runs,
        "only {to_a_point} of {runs} runs restored to a point in time"
    );
}
