//! The reference documents' worked examples, run on the reference engine through media on
//! emulated tapes: backups taken between committed work, restore sequences, and the restored
//! rows compared row by row (and by `check`'s digest) with a model the test keeps of the
//! commits the engine acknowledged. Sequences that break the rules are refused with their
//! reasons.

use media::changer::dir::DirectoryLibrary;
use media::changer::{MediaChanger, MediumRequest};
use media::dbbackup::{self, BackupOptions, BackupType, Recovery, RestoreOptions};
use media::decision::Operation;
use media::engine::check::digest_rows;
use media::engine::{Database, RecoveryModel};
use media::history::sqlite::SqliteHistory;
use media::restore::ReadSpec;
use media::set::MediaSet;
use media::stripe::{StripeDevice, StripeOptions};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tape_sys::EmulatedOptions;

type Rows = BTreeMap<String, String>;

/// The test's own record of what the database holds after each acknowledged commit.
struct Model {
    rows: Rows,
    /// (commit time, rows after it).
    history: Vec<(u64, Rows)>,
}

impl Model {
    fn at(&self, ms: u64) -> Rows {
        self.history
            .iter()
            .rev()
            .find(|(t, _)| *t <= ms)
            .map(|h| h.1.clone())
            .unwrap_or_default()
    }
}

struct Env {
    tmp: tempfile::TempDir,
    db_dir: PathBuf,
    history: SqliteHistory,
    tapes: usize,
    model: Model,
    seq: u64,
}

fn tape(cap: u64) -> EmulatedOptions {
    EmulatedOptions::new()
        .capacity(cap)
        .early_warning(64 * 1024)
}

impl Env {
    fn new(model: RecoveryModel) -> (Env, Database) {
        let tmp = tempfile::tempdir().unwrap();
        let db_dir = tmp.path().join("sales");
        let fgs = [media::engine::FilegroupSpec {
            name: "bulk".into(),
            read_only: false,
        }];
        let db = Database::create(&db_dir, "sales", model, &fgs).unwrap();
        let history = SqliteHistory::open(&tmp.path().join("history.db")).unwrap();
        (
            Env {
                tmp,
                db_dir,
                history,
                tapes: 0,
                model: Model {
                    rows: Rows::new(),
                    history: vec![(0, Rows::new())],
                },
                seq: 0,
            },
            db,
        )
    }

    /// Some committed work: inserts, updates and deletes, each acknowledged commit recorded.
    fn work(&mut self, db: &Database, n: usize) {
        for _ in 0..n {
            self.seq += 1;
            let s = self.seq;
            let key = format!("k{:04}", (s * 7919) % 300);
            let delete = s % 5 == 0 && self.model.rows.contains_key(&key);
            let val = format!("v{s}-{}", "x".repeat((s % 40) as usize));
            let (_, info) = db
                .run(|t| {
                    if delete {
                        t.delete("PRIMARY", key.as_bytes())
                    } else {
                        t.put("PRIMARY", key.as_bytes(), val.as_bytes())
                    }
                })
                .unwrap();
            if delete {
                self.model.rows.remove(&key);
            } else {
                self.model.rows.insert(key, val);
            }
            self.model
                .history
                .push((info.ts_ms, self.model.rows.clone()));
        }
        // Commit times are in milliseconds: keep the next work strictly later.
        std::thread::sleep(std::time::Duration::from_millis(3));
    }

    /// A backup onto a new emulated tape (its own directory library); returns the library.
    fn backup_with(&mut self, db: &Database, opts: &BackupOptions, families: u16) -> PathBuf {
        self.backup_on(db, opts, families, 64 << 20)
    }

    /// A backup over `families` devices with media of `cap` bytes (continued through each
    /// family's directory library).
    fn backup_on(
        &mut self,
        db: &Database,
        opts: &BackupOptions,
        families: u16,
        cap: u64,
    ) -> PathBuf {
        self.tapes += 1;
        let lib = self.tmp.path().join(format!("tapes{}", self.tapes));
        let set = MediaSet::new(&format!("SET{}", self.tapes), families);
        let devices = devices(&lib, &set, cap);
        let mut so = StripeOptions::new(Operation::Format, 1_717_200_000);
        so.write.block_size = 16 * 1024;
        dbbackup::backup(db, opts, devices, set, &so, &mut self.history).unwrap();
        lib
    }

    /// A tail-log backup (NO_TRUNCATE, NORECOVERY) of the abandoned database's files onto
    /// library `tail`; leaves the directory restoring.
    fn tail_log(&mut self) -> PathBuf {
        let mut tail = BackupOptions::new(BackupType::Log);
        tail.no_truncate = true;
        tail.norecovery = true;
        // The first one in `tail`, where the tests that name it look; later ones beside it.
        let mut lib = self.tmp.path().join("tail");
        if lib.exists() {
            self.tapes += 1;
            lib = self.tmp.path().join(format!("tail{}", self.tapes));
        }
        let set = MediaSet::new("TAIL", 1);
        let so = StripeOptions::new(Operation::Format, 1_717_200_000);
        dbbackup::tail_log_from_files(
            &self.db_dir,
            &tail,
            devices(&lib, &set, 64 << 20),
            set,
            &so,
            &mut self.history,
        )
        .unwrap();
        lib
    }

    fn backup(&mut self, db: &Database, kind: BackupType) -> PathBuf {
        self.backup_with(db, &BackupOptions::new(kind), 1)
    }

    fn restore(
        &self,
        into: &Path,
        lib: &Path,
        opts: &RestoreOptions,
    ) -> dbbackup::Result<dbbackup::RestoreOutcome> {
        let changers: Vec<Box<dyn MediaChanger>> = vec![Box::new(
            DirectoryLibrary::new(lib, tape(64 << 20)).unwrap(),
        )];
        dbbackup::restore(into, changers, &ReadSpec::default(), opts)
    }
}

/// One device per family of `set`, each a directory library in `lib` with media of `cap` bytes.
fn devices(lib: &Path, set: &MediaSet, cap: u64) -> Vec<Vec<StripeDevice>> {
    (1..=set.family_count)
        .map(|f| {
            let mut l = DirectoryLibrary::new(lib, tape(cap)).unwrap();
            let first = l.mount(&MediumRequest::first_write(set, f, 0)).unwrap();
            vec![StripeDevice {
                first,
                changer: Box::new(l),
            }]
        })
        .collect()
}

fn norecovery() -> RestoreOptions {
    RestoreOptions {
        recovery: Recovery::NoRecovery,
        ..Default::default()
    }
}

/// The restored database's rows and check report against the model's rows.
fn assert_rows(dir: &Path, want: &Rows, what: &str) {
    assert_rows_with(dir, want, &Rows::new(), what)
}

/// The same, with the rows of filegroup `bulk`.
fn assert_rows_with(dir: &Path, want: &Rows, want_bulk: &Rows, what: &str) {
    let db = Database::open(dir).unwrap();
    let got: Rows = db
        .begin()
        .scan("PRIMARY", None, None)
        .unwrap()
        .into_iter()
        .map(|(k, v)| (String::from_utf8(k).unwrap(), String::from_utf8(v).unwrap()))
        .collect();
    let missing: Vec<_> = want
        .iter()
        .filter(|(k, v)| got.get(*k) != Some(v))
        .collect();
    let extra: Vec<_> = got.keys().filter(|k| !want.contains_key(*k)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{what}: rows differ: missing or changed {missing:?}, extra {extra:?}"
    );
    let bulk: Rows = db
        .begin()
        .scan("bulk", None, None)
        .unwrap()
        .into_iter()
        .map(|(k, v)| (String::from_utf8(k).unwrap(), String::from_utf8(v).unwrap()))
        .collect();
    assert_eq!(&bulk, want_bulk, "{what}: the bulk filegroup's rows");
    let report = db.check().unwrap();
    assert!(report.problems.is_empty(), "{what}: {:?}", report.problems);
    assert_eq!(report.rows, (want.len() + want_bulk.len()) as u64, "{what}");
    let digest = digest_rows(
        want.iter()
            .map(|(k, v)| ("PRIMARY", k.as_bytes(), v.as_bytes()))
            .chain(
                want_bulk
                    .iter()
                    .map(|(k, v)| ("bulk", k.as_bytes(), v.as_bytes())),
            ),
    );
    assert_eq!(report.digest, digest, "{what}: digest");
    db.close().unwrap();
}

fn refused(r: dbbackup::Result<dbbackup::RestoreOutcome>) -> String {
    match r {
        Err(e) => e.to_string(),
        Ok(o) => panic!("expected a refusal, got {:?}", o.header.kind),
    }
}

/// 8 AM full, noon log, 4 PM log, 6 PM full, 8 PM log, 10 PM failure: the database is
/// restored to the point of failure both ways the documents describe, with the tail of the
/// log backed up first.
#[test]
fn eight_am_full_to_ten_pm_failure_both_ways() {
    let (mut env, db) = Env::new(RecoveryModel::Full);
    env.work(&db, 20);
    // A transaction open across the full backup, committed after it: the full alone must not
    // hold it (recovery undoes it), the full and the next log must.
    let mut open = db.begin();
    open.put("PRIMARY", b"open-txn", b"committed after the full")
        .unwrap();
    let at_full8 = env.model.rows.clone();
    let full8 = env.backup(&db, BackupType::Full);
    let info = open.commit().unwrap();
    env.model
        .rows
        .insert("open-txn".into(), "committed after the full".into());
    env.model.history.push((info.ts_ms, env.model.rows.clone()));
    env.work(&db, 30);
    let at_log12 = env.model.rows.clone();
    let log12 = env.backup(&db, BackupType::Log);
    env.work(&db, 30);
    let log16 = env.backup(&db, BackupType::Log);
    env.work(&db, 10);
    let full18 = env.backup(&db, BackupType::Full);
    env.work(&db, 15);
    let log20 = env.backup(&db, BackupType::Log);
    env.work(&db, 25);
    // 10 PM: the failure. The log is still readable: its tail is backed up first.
    let mut tail = BackupOptions::new(BackupType::Log);
    tail.no_truncate = true;
    tail.norecovery = true;
    let tail_lib = env.backup_with(&db, &tail, 1);
    let want = env.model.rows.clone();
    db.close().unwrap();

    // The full alone, and the full with the noon log.
    let d0 = env.tmp.path().join("full-alone");
    env.restore(&d0, &full8, &RestoreOptions::default())
        .unwrap();
    assert_rows(&d0, &at_full8, "8 AM full alone");
    let d0 = env.tmp.path().join("full-noon");
    env.restore(&d0, &full8, &norecovery()).unwrap();
    env.restore(&d0, &log12, &RestoreOptions::default())
        .unwrap();
    assert_rows(&d0, &at_log12, "8 AM full + noon log");

    // Way 1: the 6 PM full, the 8 PM log (which spans it), the tail.
    let d1 = env.tmp.path().join("way1");
    env.restore(&d1, &full18, &norecovery()).unwrap();
    env.restore(&d1, &log20, &norecovery()).unwrap();
    let o = env
        .restore(&d1, &tail_lib, &RestoreOptions::default())
        .unwrap();
    assert!(o.recovered);
    assert_rows(&d1, &want, "6 PM full + 8 PM log + tail");

    // Way 2: the 8 AM full and every log since.
    let d2 = env.tmp.path().join("way2");
    env.restore(&d2, &full8, &norecovery()).unwrap();
    for l in [&log12, &log16, &log20] {
        env.restore(&d2, l, &norecovery()).unwrap();
    }
    env.restore(&d2, &tail_lib, &RestoreOptions::default())
        .unwrap();
    assert_rows(&d2, &want, "8 AM full + every log + tail");

    // Over the original directory, left restoring by the tail-log backup: no REPLACE needed.
    env.restore(&env.db_dir, &full18, &norecovery()).unwrap();
    env.restore(&env.db_dir, &log20, &norecovery()).unwrap();
    env.restore(&env.db_dir, &tail_lib, &RestoreOptions::default())
        .unwrap();
    assert_rows(&env.db_dir, &want, "in place");

    // The rules: a gap in the chain names the missing range.
    let d3 = env.tmp.path().join("gap");
    env.restore(&d3, &full8, &norecovery()).unwrap();
    env.restore(&d3, &log12, &norecovery()).unwrap();
    let why = refused(env.restore(&d3, &log20, &norecovery()));
    assert!(
        why.contains("log chain gap") && why.contains("is missing"),
        "{why}"
    );
    // An already-recovered database refuses more logs.
    let why = refused(env.restore(&d1, &log20, &norecovery()));
    assert!(why.contains("already recovered"), "{why}");
    // A full restore over another database of the same name needs REPLACE.
    let (other_env, other) = Env::new(RecoveryModel::Full);
    drop(other);
    let why = refused(env.restore(&other_env.db_dir, &full8, &norecovery()));
    assert!(why.contains("different database named sales"), "{why}");
    let replaced = RestoreOptions {
        replace: true,
        ..Default::default()
    };
    env.restore(&other_env.db_dir, &full8, &replaced).unwrap();
    // A log with nothing restoring.
    let why = refused(env.restore(&env.tmp.path().join("none"), &log12, &norecovery()));
    assert!(why.contains("restore a full backup"), "{why}");
}

/// STOPAT: a full, a differential, logs; the restore stops inside the last log at a commit
/// time, and what was committed at or before it is there, nothing after.
#[test]
fn stopat_inside_a_log_after_a_differential() {
    let (mut env, db) = Env::new(RecoveryModel::Full);
    env.work(&db, 20);
    let full = env.backup(&db, BackupType::Full);
    env.work(&db, 20);
    let diff = env.backup(&db, BackupType::Differential);
    env.work(&db, 10);
    let log1 = env.backup(&db, BackupType::Log);
    env.work(&db, 30);
    let log2 = env.backup(&db, BackupType::Log);
    env.work(&db, 5);
    // A point in the middle of log2: the commit 15 commits into its range.
    let n = env.model.history.len();
    let target = env.model.history[n - 5 - 15].0;
    let want = env.model.at(target);
    db.close().unwrap();
    let d = env.tmp.path().join("stopat");
    env.restore(&d, &full, &norecovery()).unwrap();
    env.restore(&d, &diff, &norecovery()).unwrap();
    let stop = RestoreOptions {
        stopat_ms: Some(target),
        ..Default::default()
    };
    // log1 ends before the point: applied whole, the database stays restoring.
    let o = env.restore(&d, &log1, &stop).unwrap();
    assert!(!o.recovered);
    let o = env.restore(&d, &log2, &stop).unwrap();
    assert!(o.recovered);
    assert!(o.fork.is_some());
    assert_rows(&d, &want, "STOPAT");
}

/// STOPAT at the last commit before the failure, restored through the tail-log backup: the
/// tail holds no commit after the point (nothing committed after it before the crash), yet the
/// point is reached in it (the tail was taken after the point, so it holds every commit up to
/// it): the database recovers there with every row. A point after the tail-log backup began
/// is beyond it: the database stays restoring, waiting for a later log, as SQL Server leaves
/// it. (Found by the randomized test once its points could fall in the tail.)
#[test]
fn stopat_at_the_last_commit_is_reached_in_the_tail_log() {
    let (mut env, db) = Env::new(RecoveryModel::Full);
    env.work(&db, 20);
    let full = env.backup(&db, BackupType::Full);
    env.work(&db, 10);
    let log = env.backup(&db, BackupType::Log);
    env.work(&db, 5);
    let last = env.model.history.last().unwrap().0;
    let want = env.model.at(last);
    db.abandon();
    let tail = env.tail_log();
    let later = media::engine::time::now_ms() + 1000;

    for (point, reached) in [(last, true), (later, false)] {
        let d = env.tmp.path().join(format!("at{point}"));
        env.restore(&d, &full, &norecovery()).unwrap();
        let stop = RestoreOptions {
            stopat_ms: Some(point),
            ..Default::default()
        };
        // The log was taken before the point: applied whole, still restoring.
        assert!(!env.restore(&d, &log, &stop).unwrap().recovered);
        let o = env.restore(&d, &tail, &stop).unwrap();
        assert_eq!(o.recovered, reached, "point {point}, last commit {last}");
        if reached {
            assert_rows(&d, &want, "STOPAT at the last commit, through the tail");
        } else {
            // Recovered where it stands: every row, as the tail left them.
            dbbackup::recover(&d).unwrap();
            assert_rows(&d, &want, "recovered after a point beyond the tail");
        }
    }
}

/// STOPAT before the full (or differential) backup began is too early, as SQL Server says:
/// refused, not restored to the copy's point and called done. The point is a commit a second
/// before the backups started, so the copies hold commits made after it.
#[test]
fn stopat_before_the_backup_began_is_too_early() {
    let (mut env, db) = Env::new(RecoveryModel::Full);
    env.work(&db, 10);
    let early = env.model.history[4].0;
    std::thread::sleep(std::time::Duration::from_millis(1100));
    env.work(&db, 10);
    let full = env.backup(&db, BackupType::Full);
    env.work(&db, 10);
    let diff = env.backup(&db, BackupType::Differential);
    db.close().unwrap();
    let at = |recovery| RestoreOptions {
        stopat_ms: Some(early),
        recovery,
        ..Default::default()
    };
    let d = env.tmp.path().join("early");
    for r in [Recovery::Recovery, Recovery::NoRecovery] {
        let why = refused(env.restore(&d, &full, &at(r)));
        assert!(why.contains("too early"), "{why}");
        assert!(!d.exists(), "a refused restore left {}", d.display());
    }
    env.restore(&d, &full, &norecovery()).unwrap();
    let why = refused(env.restore(&d, &diff, &at(Recovery::Recovery)));
    assert!(why.contains("too early"), "{why}");
}

/// The lost differential: with the latest differential unavailable, the restore falls back to
/// the one before it and the logs since that one.
#[test]
fn lost_differential_falls_back_to_the_earlier_one_and_its_logs() {
    let (mut env, db) = Env::new(RecoveryModel::Full);
    env.work(&db, 15);
    let full = env.backup(&db, BackupType::Full);
    env.work(&db, 10);
    let diff2am = env.backup(&db, BackupType::Differential);
    let mut logs = Vec::new();
    for _ in 0..3 {
        env.work(&db, 8);
        logs.push(env.backup(&db, BackupType::Log));
    }
    let _lost_diff3am = env.backup(&db, BackupType::Differential);
    env.work(&db, 8);
    logs.push(env.backup(&db, BackupType::Log));
    let want = env.model.rows.clone();
    db.close().unwrap();
    let d = env.tmp.path().join("fallback");
    env.restore(&d, &full, &norecovery()).unwrap();
    env.restore(&d, &diff2am, &norecovery()).unwrap();
    let last = logs.len() - 1;
    for (i, l) in logs.iter().enumerate() {
        let o = if i == last {
            RestoreOptions::default()
        } else {
            norecovery()
        };
        env.restore(&d, l, &o).unwrap();
    }
    assert_rows(&d, &want, "fallback");
    // A differential whose base is not the restored full is refused.
    let (mut env2, db2) = Env::new(RecoveryModel::Full);
    env2.work(&db2, 5);
    let f1 = env2.backup(&db2, BackupType::Full);
    env2.work(&db2, 5);
    let _f2 = env2.backup(&db2, BackupType::Full);
    env2.work(&db2, 5);
    let d_on_f2 = env2.backup(&db2, BackupType::Differential);
    db2.close().unwrap();
    let x = env2.tmp.path().join("x");
    env2.restore(&x, &f1, &norecovery()).unwrap();
    let why = refused(env2.restore(&x, &d_on_f2, &norecovery()));
    assert!(why.contains("is based on full backup"), "{why}");
}

/// Log backups are refused under simple and before the first full, with the reason.
#[test]
fn log_backups_refused_without_a_chain() {
    let (mut env, db) = Env::new(RecoveryModel::Simple);
    env.work(&db, 3);
    let e = try_backup(&mut env, &db, BackupType::Log);
    assert!(e.contains("simple recovery model"), "{e}");
    let (mut env, db) = Env::new(RecoveryModel::Full);
    env.work(&db, 3);
    let e = try_backup(&mut env, &db, BackupType::Log);
    assert!(e.contains("no log backup chain"), "{e}");
    let e = try_backup(&mut env, &db, BackupType::Differential);
    assert!(e.contains("no full backup"), "{e}");
}

fn try_backup(env: &mut Env, db: &Database, kind: BackupType) -> String {
    env.tapes += 1;
    let lib = env.tmp.path().join(format!("tapes{}", env.tapes));
    let set = MediaSet::new("X", 1);
    let devices = devices(&lib, &set, 8 << 20);
    let so = StripeOptions::new(Operation::Format, 1_717_200_000);
    match dbbackup::backup(
        db,
        &BackupOptions::new(kind),
        devices,
        set,
        &so,
        &mut env.history,
    ) {
        Ok(_) => panic!("{kind:?} backup should be refused"),
        Err(e) => e.to_string(),
    }
}

/// A striped backup over two families of tiny tapes, each continued on more media, restored
/// with one device.
#[test]
fn striped_over_tiny_tapes_with_continuation() {
    let (mut env, db) = Env::new(RecoveryModel::Full);
    for i in 0..400u32 {
        let k = format!("big{i:04}");
        let v = format!("{i}-{}", "y".repeat(900));
        db.run(|t| t.put("PRIMARY", k.as_bytes(), v.as_bytes()))
            .unwrap();
        env.model.rows.insert(k, v);
    }
    env.work(&db, 10);
    let lib = env.backup_on(&db, &BackupOptions::new(BackupType::Full), 2, 192 * 1024);
    let images = std::fs::read_dir(&lib).unwrap().count();
    assert!(
        images > 2,
        "expected continuation media, got {images} images"
    );
    let want = env.model.rows.clone();
    db.close().unwrap();
    let d = env.tmp.path().join("striped");
    env.restore(&d, &lib, &RestoreOptions::default()).unwrap();
    assert_rows(&d, &want, "striped full");
}

/// Under bulk-logged: a minimally logged bulk load, then a differential (the documents'
/// advice after a nonlogged operation) and a log backup. The differential carries the loaded
/// pages; the log backup carries them too (the log does not), and refuses a point in time.
#[test]
fn differential_after_a_bulk_operation_and_stopat_refused_in_a_bulk_log() {
    let (mut env, db) = Env::new(RecoveryModel::BulkLogged);
    env.work(&db, 10);
    let full = env.backup(&db, BackupType::Full);
    env.work(&db, 5);
    let rows: Vec<(Vec<u8>, Vec<u8>)> = (0..500u32)
        .map(|i| {
            (
                format!("b{i:05}").into_bytes(),
                format!("bulk-{i}").into_bytes(),
            )
        })
        .collect();
    db.bulk_load("bulk", &rows).unwrap();
    let bulk: Rows = rows
        .iter()
        .map(|(k, v)| {
            (
                String::from_utf8(k.clone()).unwrap(),
                String::from_utf8(v.clone()).unwrap(),
            )
        })
        .collect();
    let before_bulk_log = env.model.rows.clone();
    let log_before = env.model.history.last().unwrap().0;
    let log = env.backup(&db, BackupType::Log);
    env.work(&db, 5);
    let diff = env.backup(&db, BackupType::Differential);
    env.work(&db, 5);
    let log2 = env.backup(&db, BackupType::Log);
    let want = env.model.rows.clone();
    db.close().unwrap();

    // Full + differential + the log after it.
    let d = env.tmp.path().join("diff");
    env.restore(&d, &full, &norecovery()).unwrap();
    env.restore(&d, &diff, &norecovery()).unwrap();
    env.restore(&d, &log2, &RestoreOptions::default()).unwrap();
    assert_rows_with(&d, &want, &bulk, "full + differential after bulk + log");

    // Full + both logs: the bulk log carries the loaded pages.
    let d = env.tmp.path().join("logs");
    env.restore(&d, &full, &norecovery()).unwrap();
    env.restore(&d, &log, &norecovery()).unwrap();
    env.restore(&d, &log2, &RestoreOptions::default()).unwrap();
    assert_rows_with(&d, &want, &bulk, "full + bulk log + log");

    // STOPAT inside the log holding the bulk load is refused, and says why.
    let d = env.tmp.path().join("stopat");
    env.restore(&d, &full, &norecovery()).unwrap();
    let stop = RestoreOptions {
        stopat_ms: Some(log_before),
        ..Default::default()
    };
    let why = refused(env.restore(&d, &log, &stop));
    assert!(why.contains("bulk-logged changes"), "{why}");
    let _ = before_bulk_log;
}

/// Safety checks: existing files in the way need REPLACE (and are left as they were without
/// it); a set from a newer engine is refused.
#[test]
fn existing_files_need_replace_and_a_newer_format_is_refused() {
    let (mut env, db) = Env::new(RecoveryModel::Full);
    env.work(&db, 10);
    let full = env.backup(&db, BackupType::Full);
    let want = env.model.rows.clone();
    db.close().unwrap();
    let d = env.tmp.path().join("busy");
    std::fs::create_dir(&d).unwrap();
    std::fs::write(d.join("notes.txt"), b"mine").unwrap();
    let why = refused(env.restore(&d, &full, &RestoreOptions::default()));
    assert!(
        why.contains("notes.txt") && why.contains("REPLACE"),
        "{why}"
    );
    assert_eq!(std::fs::read(d.join("notes.txt")).unwrap(), b"mine");
    // The database is open (not restoring): restoring over it needs REPLACE too.
    let why = refused(env.restore(&env.db_dir, &full, &RestoreOptions::default()));
    assert!(why.contains("tail of its log"), "{why}");
    let replace = RestoreOptions {
        replace: true,
        ..Default::default()
    };
    // REPLACE overwrites files in the way (at the names the database's files take), never
    // other files: the user's notes stay, and the restore is refused until they are moved.
    let why = refused(env.restore(&d, &full, &replace));
    assert!(why.contains("notes.txt"), "{why}");
    assert_eq!(std::fs::read(d.join("notes.txt")).unwrap(), b"mine");
    std::fs::rename(d.join("notes.txt"), env.tmp.path().join("notes.txt")).unwrap();
    std::fs::write(d.join(media::engine::db::LOG_FILE), b"in the way").unwrap();
    env.restore(&d, &full, &replace).unwrap();
    assert_rows(&d, &want, "replaced");
    // Nothing is left beside the target.
    let stray: Vec<_> = std::fs::read_dir(env.tmp.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");

    // A set whose header names a newer backup format: rewrite the header of a copy.
    let h = media::dbbackup::SetHeader::from_mqci(&first_header(&full), "x").unwrap();
    let mut newer = h.clone();
    newer.format_version = media::dbbackup::header::FORMAT_VERSION + 1;
    let bytes = newer.to_mqci(true);
    let back = media::dbbackup::SetHeader::from_mqci(&bytes, "x").unwrap();
    assert_eq!(back, newer);
    // The same set written again with that header, as a newer engine would have.
    let forged = env.tmp.path().join("newer");
    let mut files = all_files(&full);
    files.insert("refdb/header.mqci".into(), bytes);
    write_set(&forged, &files);
    let why = refused(env.restore(
        &env.tmp.path().join("n"),
        &forged,
        &RestoreOptions::default(),
    ));
    assert!(why.contains("newer engine"), "{why}");
    assert!(!env.tmp.path().join("n").exists());
}

fn all_files(lib: &Path) -> BTreeMap<String, Vec<u8>> {
    let changers: Vec<Box<dyn MediaChanger>> = vec![Box::new(
        DirectoryLibrary::new(lib, tape(64 << 20)).unwrap(),
    )];
    let mut out = media::restore::MemoryFiles::default();
    media::restore::restore(changers, &ReadSpec::default(), &mut out).unwrap();
    out.files
}

/// Writes the files as one backup set on a new tape in `lib`.
fn write_set(lib: &Path, files: &BTreeMap<String, Vec<u8>>) {
    let set = MediaSet::new("FORGED", 1);
    let devices = devices(lib, &set, 64 << 20);
    let so = StripeOptions::new(Operation::Format, 1_717_200_000);
    let b = media::stripe::BackupSet {
        options: mtf::writer::SetOptions::new(
            "forged",
            mtf::DateTime::from_unix(1_717_200_000).unwrap(),
        ),
        expires: None,
        volume: Some(mtf::writer::VolumeOptions::default()),
    };
    let mut w = media::stripe::StripedWriter::start(devices, set, &so, b).unwrap();
    for (path, data) in files {
        let (d, n) = path.split_once('/').unwrap();
        w.add_file(
            &[d.to_string()],
            n,
            &mtf::writer::EntryMeta::default(),
            data.len() as u64,
            &mut &data[..],
        )
        .unwrap();
    }
    w.finish().unwrap();
}

/// The set's header as the restore reads it (its `refdb/header.mqci` file).
fn first_header(lib: &Path) -> Vec<u8> {
    all_files(lib)["refdb/header.mqci"].clone()
}

/// The tail of the log backed up from a damaged database (a data file lost; the primary file
/// and the log readable), then the restore to the point of failure: every acknowledged commit
/// is there. Without the primary file, the tail-log backup is refused and says why.
#[test]
fn tail_log_from_a_damaged_database_to_the_point_of_failure() {
    let (mut env, db) = Env::new(RecoveryModel::Full);
    env.work(&db, 20);
    let full = env.backup(&db, BackupType::Full);
    env.work(&db, 20);
    let log = env.backup(&db, BackupType::Log);
    env.work(&db, 20);
    let want = env.model.rows.clone();
    // The failure: the process dies, and the disk holding the secondary data file is lost.
    db.abandon();
    std::fs::remove_file(env.db_dir.join("bulk.ndf")).unwrap();
    assert!(Database::open(&env.db_dir).is_err());
    let mut tail = BackupOptions::new(BackupType::Log);
    tail.no_truncate = true;
    tail.norecovery = true;
    env.tapes += 1;
    let tail_lib = env.tmp.path().join("tail");
    let set = MediaSet::new("TAIL", 1);
    let so = StripeOptions::new(Operation::Format, 1_717_200_000);
    let out = dbbackup::tail_log_from_files(
        &env.db_dir,
        &tail,
        devices(&tail_lib, &set, 64 << 20),
        set,
        &so,
        &mut env.history,
    )
    .unwrap();
    assert_eq!(out.header.kind, BackupType::Log);
    // Restored in place: the directory was left restoring by the tail-log backup.
    env.restore(&env.db_dir, &full, &norecovery()).unwrap();
    env.restore(&env.db_dir, &log, &norecovery()).unwrap();
    env.restore(&env.db_dir, &tail_lib, &RestoreOptions::default())
        .unwrap();
    assert_rows(
        &env.db_dir,
        &want,
        "full + log + tail from the damaged database",
    );

    // No primary data file: refused, naming it.
    let (mut env2, db2) = Env::new(RecoveryModel::Full);
    env2.work(&db2, 5);
    env2.backup(&db2, BackupType::Full);
    db2.abandon();
    std::fs::remove_file(env2.db_dir.join("primary.mdf")).unwrap();
    let set = MediaSet::new("TAIL", 1);
    let lib = env2.tmp.path().join("tail");
    let e = dbbackup::tail_log_from_files(
        &env2.db_dir,
        &tail,
        devices(&lib, &set, 64 << 20),
        set,
        &so,
        &mut env2.history,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("primary.mdf") && e.contains("boot page"), "{e}");
}

/// A page damaged on disk: WITH CHECKSUM the backup fails naming it, unless
/// CONTINUE_AFTER_ERROR, which
/// copies the page as it is and marks the set damaged, in its header and in the history (the
/// planner then leaves it out); restoring the damaged set is refused.
#[test]
fn continue_after_error_marks_the_set_damaged() {
    use media::history::BackupHistory;
    let (mut env, db) = Env::new(RecoveryModel::Full);
    env.work(&db, 30);
    db.close().unwrap();
    // Rot in the middle of a page of the primary file that the table uses.
    let path = env.db_dir.join("primary.mdf");
    let mut bytes = std::fs::read(&path).unwrap();
    let page = 2usize;
    bytes[page * 8192 + 4000] ^= 0xFF;
    std::fs::write(&path, &bytes).unwrap();
    let db = Database::open(&env.db_dir).unwrap();
    env.tapes += 1;
    let lib = env.tmp.path().join("bad");
    let set = MediaSet::new("BAD", 1);
    let so = StripeOptions::new(Operation::Format, 1_717_200_000);
    let mut checked = BackupOptions::new(BackupType::Full);
    checked.checksum = true;
    let e = dbbackup::backup(
        &db,
        &checked,
        devices(&lib, &set, 64 << 20),
        set,
        &so,
        &mut env.history,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("page 2"), "{e}");
    let mut o = BackupOptions::new(BackupType::Full);
    o.continue_after_error = true;
    o.checksum = true;
    let lib = env.tmp.path().join("bad2");
    let set = MediaSet::new("BAD2", 1);
    let out = dbbackup::backup(
        &db,
        &o,
        devices(&lib, &set, 64 << 20),
        set,
        &so,
        &mut env.history,
    )
    .unwrap();
    assert_eq!(out.damaged_pages.len(), 1);
    assert!(out.header.flags & dbbackup::header::flags::DAMAGED != 0);
    let recs = env.history.backups(Some("sales")).unwrap();
    assert!(recs.last().unwrap().damaged);
    drop(db);
    let why = refused(env.restore(&env.tmp.path().join("r"), &lib, &RestoreOptions::default()));
    assert!(why.contains("damaged"), "{why}");
}

/// Recovery forks: a restore to a point in time starts a new fork; the restored database's
/// backups are planned on their own branch, never mixed with the old one's logs, and a log of
/// the old branch is refused on the new one.
#[test]
fn a_point_in_time_restore_starts_a_fork_the_planner_keeps_apart() {
    use media::history::BackupHistory;
    let (mut env, db) = Env::new(RecoveryModel::Full);
    env.work(&db, 10);
    let full1 = env.backup(&db, BackupType::Full);
    env.work(&db, 20);
    let point = env.model.history[env.model.history.len() - 10].0;
    let at_point = env.model.at(point);
    let log1 = env.backup(&db, BackupType::Log);
    env.work(&db, 10);
    let log2 = env.backup(&db, BackupType::Log);
    db.close().unwrap();
    // The restore to the point: a new fork.
    let b = env.tmp.path().join("branch");
    env.restore(&b, &full1, &norecovery()).unwrap();
    let stop = RestoreOptions {
        stopat_ms: Some(point),
        ..Default::default()
    };
    let o = env.restore(&b, &log1, &stop).unwrap();
    assert!(o.recovered);
    assert_rows(&b, &at_point, "at the point");
    // Life goes on in the branch: a log backup needs a full first, then logs follow.
    let db = Database::open(&b).unwrap();
    let e = try_backup(&mut env, &db, BackupType::Log);
    assert!(e.contains("no log backup chain"), "{e}");
    env.model.rows = at_point.clone();
    env.work(&db, 10);
    let full2 = env.backup(&db, BackupType::Full);
    env.work(&db, 10);
    let log3 = env.backup(&db, BackupType::Log);
    let want = env.model.rows.clone();
    db.close().unwrap();
    // The old branch's log does not follow the new branch's full.
    // Each set records its fork; the new branch's, the LSN it began at: where the restore
    // stopped, inside log1's range.
    let header =
        |lib: &Path| media::dbbackup::SetHeader::from_mqci(&first_header(lib), "x").unwrap();
    let (h1, hl1, h2) = (header(&full1), header(&log1), header(&full2));
    assert_eq!(h1.fork_point_lsn, 0);
    assert_eq!(Some(h2.fork_guid), o.fork);
    assert_ne!(h2.fork_guid, h1.fork_guid);
    assert_eq!(h2.fork_point_lsn, o.log_end);
    assert!(
        hl1.first_lsn < h2.fork_point_lsn && h2.fork_point_lsn < hl1.last_lsn,
        "fork point {} outside log1 {}..{}",
        h2.fork_point_lsn,
        hl1.first_lsn,
        hl1.last_lsn
    );
    let x = env.tmp.path().join("mixed");
    env.restore(&x, &full2, &norecovery()).unwrap();
    let why = refused(env.restore(&x, &log2, &norecovery()));
    assert!(why.contains("recovery fork"), "{why}");
    // The planner: the latest point is on the new branch: its full and its log.
    let recs = env.history.backups(Some("sales")).unwrap();
    let plan = media::plan::plan_database(&recs, media::plan::Target::Latest);
    assert!(plan.is_valid(), "{:?}", plan.problems);
    let guid = |lib: &Path| {
        let h = media::dbbackup::SetHeader::from_mqci(&first_header(lib), "x").unwrap();
        media::history::normalize_guid(&mtf::stream::sqlserver::Guid(h.set_guid).to_string())
    };
    let steps: Vec<_> = plan
        .steps
        .iter()
        .map(|s| s.backup_set_guid.clone())
        .collect();
    assert_eq!(steps, vec![guid(&full2), guid(&log3)]);
    let r = env.tmp.path().join("latest");
    env.restore(&r, &full2, &norecovery()).unwrap();
    env.restore(&r, &log3, &RestoreOptions::default()).unwrap();
    assert_rows(&r, &want, "the new branch's latest");
}

/// The Tuesday/Wednesday/Thursday schedule of full and differential backups: noon Thursday is
/// the Wednesday midnight full and the Thursday noon differential; with that full lost, the
/// Tuesday full and its last differential (6 PM Wednesday) are as far as one gets, and a
/// Thursday differential (based on the lost full) is refused on the Tuesday full.
#[test]
fn full_and_differential_schedule_and_the_lost_full() {
    let (mut env, db) = Env::new(RecoveryModel::Full);
    env.work(&db, 10);
    let tue_midnight = env.backup(&db, BackupType::Full);
    let mut wed = Vec::new();
    for _ in 0..3 {
        env.work(&db, 8);
        wed.push(env.backup(&db, BackupType::Differential)); // 6 AM, noon, 6 PM
    }
    let at_wed_6pm = env.model.rows.clone();
    env.work(&db, 8);
    let wed_midnight = env.backup(&db, BackupType::Full);
    let mut thu = Vec::new();
    for _ in 0..2 {
        env.work(&db, 8);
        thu.push(env.backup(&db, BackupType::Differential)); // 6 AM, noon
    }
    let at_thu_noon = env.model.rows.clone();
    db.close().unwrap();
    // Noon Thursday: the Wednesday midnight full and the Thursday noon differential only.
    let d = env.tmp.path().join("thu");
    env.restore(&d, &wed_midnight, &norecovery()).unwrap();
    env.restore(&d, &thu[1], &RestoreOptions::default())
        .unwrap();
    assert_rows(&d, &at_thu_noon, "Thursday noon");
    // The Wednesday midnight full lost: the Tuesday full and the 6 PM Wednesday differential.
    let d = env.tmp.path().join("wed");
    env.restore(&d, &tue_midnight, &norecovery()).unwrap();
    let why = refused(env.restore(&d, &thu[1], &norecovery()));
    assert!(why.contains("is based on full backup"), "{why}");
    env.restore(&d, &wed[2], &RestoreOptions::default())
        .unwrap();
    assert_rows(&d, &at_wed_6pm, "Wednesday 6 PM");
}

/// Committed work in filegroup `bulk` too, its rows kept in `bulk`.
fn work_both(env: &mut Env, db: &Database, bulk: &mut Rows, n: usize) {
    env.work(db, n);
    for i in 0..n {
        env.seq += 1;
        let key = format!("fb{:03}", (env.seq * 31 + i as u64) % 97);
        let val = format!("b{}", env.seq);
        db.run(|t| t.put("bulk", key.as_bytes(), val.as_bytes()))
            .unwrap();
        bulk.insert(key, val);
    }
}

fn file_backup_options() -> BackupOptions {
    let mut o = BackupOptions::new(BackupType::File);
    o.filegroup = Some("bulk".into());
    o
}

fn filegroup(opts: RestoreOptions) -> RestoreOptions {
    RestoreOptions {
        filegroup: Some("bulk".into()),
        ..opts
    }
}

/// The documents' filegroup_b example: a full backup, a filegroup backup later, hourly log
/// backups; the filegroup's file is lost; the tail of the log is backed up, the filegroup
/// backup restored, then every log backup since it and the tail, and the database recovers
/// with every committed row of both filegroups. Out-of-order and early steps are refused.
#[test]
fn filegroup_b_restore_plus_logs() {
    let (mut env, db) = Env::new(RecoveryModel::Full);
    let mut bulk = Rows::new();
    work_both(&mut env, &db, &mut bulk, 10);
    env.backup(&db, BackupType::Full);
    work_both(&mut env, &db, &mut bulk, 10);
    let fg = env.backup_with(&db, &file_backup_options(), 1);
    work_both(&mut env, &db, &mut bulk, 10);
    let log1 = env.backup(&db, BackupType::Log);
    work_both(&mut env, &db, &mut bulk, 10);
    let log2 = env.backup(&db, BackupType::Log);
    work_both(&mut env, &db, &mut bulk, 10);
    let want = env.model.rows.clone();
    // The failure: the disk holding the filegroup's file is lost.
    db.abandon();
    std::fs::remove_file(env.db_dir.join("bulk.ndf")).unwrap();
    assert!(Database::open(&env.db_dir).is_err());

    // Before the tail-log backup, the database is not restoring: refused, saying why.
    let why = refused(env.restore(&env.db_dir, &fg, &filegroup(norecovery())));
    assert!(why.contains("tail-log backup"), "{why}");

    let tail_lib = env.tail_log();

    // A file backup without the filegroup named; the filegroup restored WITH RECOVERY before
    // the logs bring it up to date; an unknown filegroup.
    let why = refused(env.restore(&env.db_dir, &fg, &norecovery()));
    assert!(why.contains("--filegroup"), "{why}");
    let why = refused(env.restore(&env.db_dir, &fg, &filegroup(Default::default())));
    assert!(why.contains("brought up to date only at LSN"), "{why}");
    let other = RestoreOptions {
        filegroup: Some("nosuch".into()),
        ..norecovery()
    };
    let why = refused(env.restore(&env.db_dir, &fg, &other));
    assert!(why.contains("no filegroup \"nosuch\""), "{why}");

    env.restore(&env.db_dir, &fg, &filegroup(norecovery()))
        .unwrap();
    // Skipping the first log: a gap.
    let why = refused(env.restore(&env.db_dir, &log2, &norecovery()));
    assert!(why.contains("log chain gap"), "{why}");
    // Recovering after the first log: the file is not up to the rest yet.
    let why = refused(env.restore(&env.db_dir, &log1, &RestoreOptions::default()));
    assert!(why.contains("brought up to date only at LSN"), "{why}");
    // A point in time after a file restore.
    let stop = RestoreOptions {
        stopat_ms: Some(1),
        ..norecovery()
    };
    let why = refused(env.restore(&env.db_dir, &log1, &stop));
    assert!(why.contains("no point in time"), "{why}");

    env.restore(&env.db_dir, &log1, &norecovery()).unwrap();
    env.restore(&env.db_dir, &log2, &norecovery()).unwrap();
    let out = env
        .restore(&env.db_dir, &tail_lib, &RestoreOptions::default())
        .unwrap();
    assert!(out.recovered);
    assert_rows_with(&env.db_dir, &want, &bulk, "filegroup bulk + logs + tail");
}

/// The same from the filegroup's files out of a full backup; and under the simple model, a
/// file restore only for a read-only filegroup (put back in place, the database online).
#[test]
fn filegroup_from_a_full_backup_and_the_simple_model_rules() {
    let (mut env, db) = Env::new(RecoveryModel::Full);
    let mut bulk = Rows::new();
    work_both(&mut env, &db, &mut bulk, 10);
    let full = env.backup(&db, BackupType::Full);
    work_both(&mut env, &db, &mut bulk, 10);
    let log = env.backup(&db, BackupType::Log);
    work_both(&mut env, &db, &mut bulk, 5);
    let want = env.model.rows.clone();
    db.abandon();
    // The lost file's name holds a planted link: the restore replaces the link, and the file
    // it points to stays as it was.
    let outside = env.tmp.path().join("outside");
    std::fs::write(&outside, b"not yours").unwrap();
    std::fs::remove_file(env.db_dir.join("bulk.ndf")).unwrap();
    std::os::unix::fs::symlink(&outside, env.db_dir.join("bulk.ndf")).unwrap();
    let tail_lib = env.tail_log();
    env.restore(&env.db_dir, &full, &filegroup(norecovery()))
        .unwrap();
    env.restore(&env.db_dir, &log, &norecovery()).unwrap();
    env.restore(&env.db_dir, &tail_lib, &RestoreOptions::default())
        .unwrap();
    assert_rows_with(&env.db_dir, &want, &bulk, "bulk from the full + log + tail");
    assert_eq!(std::fs::read(&outside).unwrap(), b"not yours");
    assert!(!std::fs::symlink_metadata(env.db_dir.join("bulk.ndf"))
        .unwrap()
        .file_type()
        .is_symlink());

    // Simple model: a read-write filegroup is refused; a read-only one goes back in place.
    let (mut env, db) = Env::new(RecoveryModel::Simple);
    let mut bulk = Rows::new();
    work_both(&mut env, &db, &mut bulk, 10);
    let rw = env.backup_with(&db, &file_backup_options(), 1);
    db.set_filegroup_read_only("bulk", true).unwrap();
    let ro = env.backup_with(&db, &file_backup_options(), 1);
    env.work(&db, 5);
    let want = env.model.rows.clone();
    db.close().unwrap();
    let why = refused(env.restore(&env.db_dir, &rw, &filegroup(Default::default())));
    assert!(
        why.contains("simple recovery model") && why.contains("read-only"),
        "{why}"
    );
    std::fs::write(env.db_dir.join("bulk.ndf"), b"damaged").unwrap();
    let out = env
        .restore(&env.db_dir, &ro, &filegroup(Default::default()))
        .unwrap();
    assert!(out.recovered);
    assert_rows_with(&env.db_dir, &want, &bulk, "read-only bulk in place");
}

/// Page restore: a page of rows in filegroup `bulk` is damaged on disk; after a tail-log
/// backup the page alone comes back out of the full backup, the logs since are restored, and
/// every row reads back. Refused: before the tail-log backup, a file header page,
/// and under the simple model.
#[test]
fn page_restore_plus_logs() {
    let (mut env, db) = Env::new(RecoveryModel::Full);
    let mut bulk = Rows::new();
    work_both(&mut env, &db, &mut bulk, 20);
    let full = env.backup(&db, BackupType::Full);
    // Work in PRIMARY only from here: the log since the full holds no image of bulk's pages,
    // so only the backup's copy can repair the damaged one.
    env.work(&db, 10);
    let log = env.backup(&db, BackupType::Log);
    env.work(&db, 10);
    let want = env.model.rows.clone();
    let file = db
        .info()
        .files
        .iter()
        .find(|f| f.logical_name == "bulk")
        .unwrap()
        .id;
    db.abandon();
    // Damage a page of bulk.ndf that holds rows (found by a key's bytes).
    let path = env.db_dir.join("bulk.ndf");
    let mut bytes = std::fs::read(&path).unwrap();
    let page = (2..bytes.len() / 8192)
        .find(|&p| {
            bytes[p * 8192..(p + 1) * 8192]
                .windows(3)
                .any(|w| w == b"fb0")
        })
        .expect("a page holding rows of bulk");
    bytes[page * 8192 + 100..page * 8192 + 4000].fill(0xAB);
    std::fs::write(&path, &bytes).unwrap();
    let page_opts = |recovery| RestoreOptions {
        page: Some((file, page as u32)),
        recovery,
        ..Default::default()
    };
    let why = refused(env.restore(&env.db_dir, &full, &page_opts(Recovery::NoRecovery)));
    assert!(why.contains("tail-log backup"), "{why}");
    let tail_lib = env.tail_log();
    let header = RestoreOptions {
        page: Some((file, 0)),
        ..norecovery()
    };
    let why = refused(env.restore(&env.db_dir, &full, &header));
    assert!(why.contains("header"), "{why}");
    let why = refused(env.restore(&env.db_dir, &full, &page_opts(Recovery::Recovery)));
    assert!(why.contains("brought up to date only at LSN"), "{why}");
    // A link planted at the data file's name is not written through.
    let outside = env.tmp.path().join("outside.ndf");
    std::fs::rename(&path, &outside).unwrap();
    std::os::unix::fs::symlink(&outside, &path).unwrap();
    let e = env
        .restore(&env.db_dir, &full, &page_opts(Recovery::NoRecovery))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("bulk.ndf") && e.contains("not following a link"),
        "{e}"
    );
    assert_eq!(std::fs::read(&outside).unwrap(), bytes);
    std::fs::remove_file(&path).unwrap();
    std::fs::rename(&outside, &path).unwrap();
    env.restore(&env.db_dir, &full, &page_opts(Recovery::NoRecovery))
        .unwrap();
    env.restore(&env.db_dir, &log, &norecovery()).unwrap();
    env.restore(&env.db_dir, &tail_lib, &RestoreOptions::default())
        .unwrap();
    assert_rows_with(&env.db_dir, &want, &bulk, "page + log + tail");

    let (mut env, db) = Env::new(RecoveryModel::Simple);
    env.work(&db, 5);
    let full = env.backup(&db, BackupType::Full);
    db.close().unwrap();
    let opts = RestoreOptions {
        page: Some((1, 2)),
        ..norecovery()
    };
    let why = refused(env.restore(&env.db_dir, &full, &opts));
    assert!(why.contains("simple recovery model"), "{why}");
}

/// The id of data file `bulk` and a page of it that holds rows of filegroup `bulk` (found by a
/// key's bytes), which the test then damages.
fn damage_a_bulk_page(env: &Env, db: &Database) -> (u16, u32) {
    let file = db
        .info()
        .files
        .iter()
        .find(|f| f.logical_name == "bulk")
        .unwrap()
        .id;
    let path = env.db_dir.join("bulk.ndf");
    let mut bytes = std::fs::read(&path).unwrap();
    let page = (2..bytes.len() / 8192)
        .find(|&p| {
            bytes[p * 8192..(p + 1) * 8192]
                .windows(3)
                .any(|w| w == b"fb0")
        })
        .expect("a page holding rows of bulk");
    bytes[page * 8192 + 100..page * 8192 + 4000].fill(0xAB);
    std::fs::write(&path, &bytes).unwrap();
    (file, page as u32)
}

/// An online file or page restore (SQL Server's) brings the damaged part up to where the rest
/// of the database is and breaks nothing: after it, the log backups go on from the end of the
/// tail-log backup (no full backup needed first), in the same recovery fork, a differential is
/// still based on the original full, and the whole database restores from that full through
/// every log (those before, the tail, those after), as the planner plans it.
fn a_file_or_page_restore_keeps_the_log_chain(page: bool) {
    use media::history::BackupHistory;
    let what = if page { "page restore" } else { "file restore" };
    let (mut env, db) = Env::new(RecoveryModel::Full);
    let mut bulk = Rows::new();
    work_both(&mut env, &db, &mut bulk, 15);
    let full = env.backup(&db, BackupType::Full);
    work_both(&mut env, &db, &mut bulk, 10);
    let log1 = env.backup(&db, BackupType::Log);
    work_both(&mut env, &db, &mut bulk, 10);
    let log2 = env.backup(&db, BackupType::Log);
    work_both(&mut env, &db, &mut bulk, 10);
    // The damage: a page of bulk.ndf, or the whole file lost.
    let (file, damaged) = damage_a_bulk_page(&env, &db);
    db.abandon();
    if !page {
        std::fs::remove_file(env.db_dir.join("bulk.ndf")).unwrap();
    }
    let tail1 = env.tail_log();
    let first = if page {
        RestoreOptions {
            page: Some((file, damaged)),
            ..norecovery()
        }
    } else {
        filegroup(norecovery())
    };
    env.restore(&env.db_dir, &full, &first).unwrap();
    env.restore(&env.db_dir, &log1, &norecovery()).unwrap();
    env.restore(&env.db_dir, &log2, &norecovery()).unwrap();
    let out = env
        .restore(&env.db_dir, &tail1, &RestoreOptions::default())
        .unwrap();
    assert!(out.recovered, "{what}");
    assert_eq!(out.fork, None, "{what}: nothing branched, no fork");
    assert_rows_with(&env.db_dir, &env.model.rows, &bulk, what);

    // Life goes on: a log backup is accepted at once and starts where the tail ended.
    let db = Database::open(&env.db_dir).unwrap();
    work_both(&mut env, &db, &mut bulk, 10);
    let log3 = env.backup(&db, BackupType::Log);
    let diff = env.backup(&db, BackupType::Differential);
    let (at_diff, bulk_at_diff) = (env.model.rows.clone(), bulk.clone());
    work_both(&mut env, &db, &mut bulk, 10);
    db.abandon();
    let tail2 = env.tail_log();
    let header =
        |lib: &Path| media::dbbackup::SetHeader::from_mqci(&first_header(lib), "x").unwrap();
    let (hf, ht1, hl3, hd, ht2) = (
        header(&full),
        header(&tail1),
        header(&log3),
        header(&diff),
        header(&tail2),
    );
    assert_eq!(hl3.first_lsn, ht1.last_lsn, "{what}: log3 follows the tail");
    assert_eq!(
        ht2.first_lsn, hl3.last_lsn,
        "{what}: the new tail follows log3"
    );
    for h in [&hl3, &hd, &ht2] {
        assert_eq!(h.fork_guid, hf.fork_guid, "{what}: one recovery fork");
        assert_eq!(h.fork_point_lsn, 0, "{what}: no fork point");
    }
    assert_eq!(hd.base_guid, hf.set_guid, "{what}: the differential's base");

    // The planner: with the differential, the full, it and the new tail; without it (lost),
    // the full and every log through the last. Each plan is run into a new directory.
    let libs = [&full, &log1, &log2, &tail1, &log3, &diff, &tail2];
    let guid = |lib: &Path| {
        let h = header(lib);
        media::history::normalize_guid(&mtf::stream::sqlserver::Guid(h.set_guid).to_string())
    };
    let recs = env.history.backups(Some("sales")).unwrap();
    let without_diff: Vec<_> = recs
        .iter()
        .filter(|r| r.backup_set_guid != guid(&diff))
        .cloned()
        .collect();
    let cases = [
        (&recs, vec![&full, &diff, &tail2], "with the differential"),
        (
            &without_diff,
            vec![&full, &log1, &log2, &tail1, &log3, &tail2],
            "through every log",
        ),
    ];
    for (n, (recs, want, how)) in cases.into_iter().enumerate() {
        let plan = media::plan::plan_database(recs, media::plan::Target::Latest);
        assert!(plan.is_valid(), "{what} {how}: {:?}", plan.problems);
        let steps: Vec<_> = plan
            .steps
            .iter()
            .map(|s| s.backup_set_guid.clone())
            .collect();
        let want_guids: Vec<_> = want.iter().map(|l| guid(l)).collect();
        assert_eq!(steps, want_guids, "{what}: plan {how}");
        let d = env.tmp.path().join(format!("whole{n}"));
        for (i, g) in steps.iter().enumerate() {
            let lib = libs.iter().find(|l| guid(l) == *g).unwrap();
            let opts = if i + 1 == steps.len() {
                RestoreOptions::default()
            } else {
                norecovery()
            };
            env.restore(&d, lib, &opts).unwrap();
        }
        assert_rows_with(&d, &env.model.rows, &bulk, &format!("{what}: whole, {how}"));
    }
    // The differential alone on its full: the rows when it was taken.
    let d = env.tmp.path().join("at_diff");
    env.restore(&d, &full, &norecovery()).unwrap();
    env.restore(&d, &diff, &RestoreOptions::default()).unwrap();
    assert_rows_with(&d, &at_diff, &bulk_at_diff, &format!("{what}: full + diff"));
}

#[test]
fn a_page_restore_keeps_the_log_chain_and_the_differential_base() {
    a_file_or_page_restore_keeps_the_log_chain(true);
}

#[test]
fn a_file_restore_keeps_the_log_chain_and_the_differential_base() {
    a_file_or_page_restore_keeps_the_log_chain(false);
}

/// The regular files of database directory `dir` and their bytes (its lock file aside, which
/// a restore may create): what a refused restore must leave as it was.
fn dir_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file() && e.file_name() != "refdb.lock")
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

/// Damages a page of primary.mdf that holds rows of PRIMARY (found by a key's bytes; the
/// database is closed, so the page on disk is the one recovery would read); returns it.
fn damage_a_primary_page(dir: &Path) -> usize {
    let path = dir.join("primary.mdf");
    let mut bytes = std::fs::read(&path).unwrap();
    let page = (2..bytes.len() / 8192)
        .find(|&p| {
            bytes[p * 8192..(p + 1) * 8192]
                .windows(2)
                .any(|w| w == b"k0")
        })
        .expect("a page holding rows of PRIMARY");
    bytes[page * 8192 + 100..page * 8192 + 4000].fill(0xAB);
    std::fs::write(&path, &bytes).unwrap();
    page
}

fn primary_fg(opts: RestoreOptions) -> RestoreOptions {
    RestoreOptions {
        filegroup: Some("PRIMARY".into()),
        ..opts
    }
}

/// File restore of the primary filegroup (the documents' offline file restore, full model):
/// after a full backup (and a file backup of PRIMARY), work in both filegroups, a recovery
/// model switch (a boot record change, logged as the boot page's image) and log backups, a
/// page of primary.mdf is damaged; the tail of the log is backed up, the primary filegroup is
/// restored from the full (or the file backup), then the logs and the tail WITH RECOVERY.
/// Every committed row of both filegroups is back, the boot record is the tail's (bulk-logged,
/// the full still the differential base), `check` is clean, filegroup bulk's file was not
/// touched before the recovery, and the next log backup is accepted at the tail's end. Refused,
/// each leaving the directory's files as they were: before the tail-log backup, a backup of
/// another database, a log gap, RECOVERY before the tail.
fn primary_filegroup_restore(from_file_backup: bool) {
    let what = if from_file_backup {
        "primary from its file backup"
    } else {
        "primary from the full"
    };
    let (mut env, db) = Env::new(RecoveryModel::Full);
    let mut bulk = Rows::new();
    work_both(&mut env, &db, &mut bulk, 15);
    let full = env.backup(&db, BackupType::Full);
    work_both(&mut env, &db, &mut bulk, 10);
    let mut fo = BackupOptions::new(BackupType::File);
    fo.filegroup = Some("PRIMARY".into());
    let fg_primary = env.backup_with(&db, &fo, 1);
    work_both(&mut env, &db, &mut bulk, 10);
    let log1 = env.backup(&db, BackupType::Log);
    db.set_recovery_model(RecoveryModel::BulkLogged).unwrap();
    work_both(&mut env, &db, &mut bulk, 10);
    let log2 = env.backup(&db, BackupType::Log);
    work_both(&mut env, &db, &mut bulk, 10);
    let want = env.model.rows.clone();
    db.close().unwrap();
    damage_a_primary_page(&env.db_dir);
    // The damage is real: a copy of the directory opened reads wrong or fails `check`.
    let copy = env.tmp.path().join("damaged-copy");
    std::fs::create_dir(&copy).unwrap();
    for (n, b) in dir_files(&env.db_dir) {
        std::fs::write(copy.join(n), b).unwrap();
    }
    let damaged = match Database::open(&copy) {
        Err(_) => true,
        Ok(d) => d.check().map_or(true, |r| !r.problems.is_empty()),
    };
    assert!(damaged, "{what}: the damaged primary reads clean");

    let source = if from_file_backup { &fg_primary } else { &full };
    // Before the tail-log backup: the database is not restoring.
    let why = refused(env.restore(&env.db_dir, source, &primary_fg(norecovery())));
    assert!(why.contains("tail-log backup"), "{what}: {why}");

    let tail = env.tail_log();
    if from_file_backup {
        // The boot page fails too, after the tail: the restoring log stands in for it.
        let path = env.db_dir.join("primary.mdf");
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[200..4000].fill(0x5A);
        std::fs::write(&path, &bytes).unwrap();
    }
    let before = dir_files(&env.db_dir);

    // A backup of another database of the same name.
    let (mut other, odb) = Env::new(RecoveryModel::Full);
    other.work(&odb, 5);
    let other_full = other.backup(&odb, BackupType::Full);
    odb.close().unwrap();
    let why = refused(env.restore(&env.db_dir, &other_full, &primary_fg(norecovery())));
    assert!(why.contains("is restoring database"), "{what}: {why}");
    assert_eq!(
        dir_files(&env.db_dir),
        before,
        "{what}: another database's backup"
    );
    // RECOVERY at once: the restored primary is not up to the rest yet.
    let why = refused(env.restore(&env.db_dir, source, &primary_fg(Default::default())));
    assert!(
        why.contains("brought up to date only at LSN"),
        "{what}: {why}"
    );
    assert_eq!(dir_files(&env.db_dir), before, "{what}: early recovery");

    let out = env
        .restore(&env.db_dir, source, &primary_fg(norecovery()))
        .unwrap();
    assert!(!out.recovered, "{what}");
    let restored = dir_files(&env.db_dir);
    assert_eq!(
        restored["bulk.ndf"], before["bulk.ndf"],
        "{what}: filegroup bulk's file is left alone"
    );
    // A gap: log2 without log1 (from the file backup, log1 is the next one too).
    let why = refused(env.restore(&env.db_dir, &log2, &norecovery()));
    assert!(why.contains("log chain gap"), "{what}: {why}");
    assert_eq!(dir_files(&env.db_dir), restored, "{what}: a log gap");
    env.restore(&env.db_dir, &log1, &norecovery()).unwrap();
    let why = refused(env.restore(&env.db_dir, &log2, &Default::default()));
    assert!(
        why.contains("brought up to date only at LSN"),
        "{what}: {why}"
    );
    env.restore(&env.db_dir, &log2, &norecovery()).unwrap();
    assert_eq!(
        dir_files(&env.db_dir)["bulk.ndf"],
        before["bulk.ndf"],
        "{what}: bulk's file untouched until the recovery"
    );
    let out = env
        .restore(&env.db_dir, &tail, &RestoreOptions::default())
        .unwrap();
    assert!(out.recovered, "{what}");
    assert_eq!(out.fork, None, "{what}: nothing branched, no fork");
    assert_rows_with(&env.db_dir, &want, &bulk, what);

    // The boot record is the tail's: the model switched after the backup, the log chain.
    let db = Database::open(&env.db_dir).unwrap();
    assert_eq!(db.info().model, RecoveryModel::BulkLogged, "{what}");
    work_both(&mut env, &db, &mut bulk, 10);
    let log3 = env.backup(&db, BackupType::Log);
    let diff = env.backup(&db, BackupType::Differential);
    db.close().unwrap();
    let header =
        |lib: &Path| media::dbbackup::SetHeader::from_mqci(&first_header(lib), "x").unwrap();
    let (hf, ht, hl3, hd) = (header(&full), header(&tail), header(&log3), header(&diff));
    assert_eq!(
        hl3.first_lsn, ht.last_lsn,
        "{what}: the next log follows the tail"
    );
    assert_eq!(hl3.fork_guid, hf.fork_guid, "{what}: one recovery fork");
    assert_eq!(hd.base_guid, hf.set_guid, "{what}: the differential's base");
    // And the whole database restores from the full through every log.
    let d = env.tmp.path().join("whole");
    for lib in [&full, &log1, &log2, &tail] {
        env.restore(&d, lib, &norecovery()).unwrap();
    }
    env.restore(&d, &log3, &RestoreOptions::default()).unwrap();
    assert_rows_with(&d, &env.model.rows, &bulk, &format!("{what}: whole"));
}

#[test]
fn primary_filegroup_restore_from_the_full_plus_logs() {
    primary_filegroup_restore(false);
}

#[test]
fn primary_filegroup_restore_from_a_file_backup_with_the_boot_page_damaged() {
    primary_filegroup_restore(true);
}

/// Under the simple model the primary filegroup (read-write) has no file restore: refused,
/// saying why, the database left as it was.
#[test]
fn primary_filegroup_restore_is_refused_under_simple() {
    let (mut env, db) = Env::new(RecoveryModel::Simple);
    env.work(&db, 10);
    let full = env.backup(&db, BackupType::Full);
    env.work(&db, 5);
    let want = env.model.rows.clone();
    db.close().unwrap();
    let before = dir_files(&env.db_dir);
    let why = refused(env.restore(&env.db_dir, &full, &primary_fg(Default::default())));
    assert!(
        why.contains("simple recovery model") && why.contains("primary filegroup"),
        "{why}"
    );
    assert_eq!(dir_files(&env.db_dir), before);
    assert_rows(&env.db_dir, &want, "simple, refused");
}
