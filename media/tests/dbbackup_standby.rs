//! RESTORE ... WITH STANDBY through media on emulated tapes: a full, then logs, each restored
//! with STANDBY; between restores the database is read (rows, `check`'s digest) and compared
//! with a model the test keeps of the commits the engine acknowledged, writes are refused,
//! and the next log still applies. A transaction open across a log backup is invisible in
//! standby and appears once a later log holds its commit. Refusals: a missing, foreign or
//! damaged undo file, a planted link, a database changed since standby.

use media::changer::dir::DirectoryLibrary;
use media::changer::{MediaChanger, MediumRequest};
use media::dbbackup::standby::{is_standby, open_standby};
use media::dbbackup::{self, BackupOptions, BackupType, Recovery, RestoreOptions};
use media::decision::Operation;
use media::engine::check::digest_rows;
use media::engine::db::Options;
use media::engine::{Database, RecoveryModel};
use media::history::sqlite::SqliteHistory;
use media::restore::ReadSpec;
use media::set::MediaSet;
use media::stripe::{StripeDevice, StripeOptions};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tape_sys::EmulatedOptions;

type Rows = BTreeMap<String, String>;

struct Env {
    tmp: tempfile::TempDir,
    history: SqliteHistory,
    tapes: usize,
    /// The test's own record of the committed rows.
    rows: Rows,
    seq: u64,
}

fn tape() -> EmulatedOptions {
    EmulatedOptions::new()
        .capacity(64 << 20)
        .early_warning(64 * 1024)
}

impl Env {
    fn new(name: &str) -> (Env, Database) {
        let tmp = tempfile::tempdir().unwrap();
        let db = Database::create(&tmp.path().join(name), name, RecoveryModel::Full, &[]).unwrap();
        let history = SqliteHistory::open(&tmp.path().join("history.db")).unwrap();
        let env = Env {
            tmp,
            history,
            tapes: 0,
            rows: Rows::new(),
            seq: 0,
        };
        (env, db)
    }

    /// Committed inserts, updates and deletes, each recorded in the model once acknowledged.
    fn work(&mut self, db: &Database, n: usize) {
        for _ in 0..n {
            self.seq += 1;
            let s = self.seq;
            let key = format!("k{:04}", (s * 7919) % 200);
            let delete = s % 5 == 0 && self.rows.contains_key(&key);
            let val = format!("v{s}-{}", "y".repeat((s % 50) as usize));
            db.run(|t| {
                if delete {
                    t.delete("PRIMARY", key.as_bytes())
                } else {
                    t.put("PRIMARY", key.as_bytes(), val.as_bytes())
                }
            })
            .unwrap();
            if delete {
                self.rows.remove(&key);
            } else {
                self.rows.insert(key, val);
            }
        }
    }

    fn backup(&mut self, db: &Database, kind: BackupType) -> PathBuf {
        self.tapes += 1;
        let lib = self.tmp.path().join(format!("tapes{}", self.tapes));
        let set = MediaSet::new(&format!("SET{}", self.tapes), 1);
        let mut l = DirectoryLibrary::new(&lib, tape()).unwrap();
        let first = l.mount(&MediumRequest::first_write(&set, 1, 0)).unwrap();
        let devices = vec![vec![StripeDevice {
            first,
            changer: Box::new(l),
        }]];
        let so = StripeOptions::new(Operation::Format, 1_717_200_000);
        dbbackup::backup(
            db,
            &BackupOptions::new(kind),
            devices,
            set,
            &so,
            &mut self.history,
        )
        .unwrap();
        lib
    }
}

fn restore(
    into: &Path,
    lib: &Path,
    recovery: Recovery,
) -> dbbackup::Result<dbbackup::RestoreOutcome> {
    let changers: Vec<Box<dyn MediaChanger>> =
        vec![Box::new(DirectoryLibrary::new(lib, tape()).unwrap())];
    let opts = RestoreOptions {
        recovery,
        ..Default::default()
    };
    dbbackup::restore(into, changers, &ReadSpec::default(), &opts)
}

fn refused(r: dbbackup::Result<dbbackup::RestoreOutcome>) -> String {
    match r {
        Err(e) => e.to_string(),
        Ok(o) => panic!("expected a refusal, got {:?}", o.header.kind),
    }
}

fn rows_of(db: &Database) -> Rows {
    let mut t = db.begin();
    let r = t
        .scan("PRIMARY", None, None)
        .unwrap()
        .into_iter()
        .map(|(k, v)| (String::from_utf8(k).unwrap(), String::from_utf8(v).unwrap()))
        .collect();
    t.rollback().unwrap();
    r
}

/// Every file of a directory and its bytes (to show that reads change nothing).
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name() != "refdb.lock")
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

/// The database in standby reads as `want` (rows and `check`'s digest), refuses writes, and
/// reading it changes no byte of its files.
fn assert_standby(dir: &Path, want: &Rows, what: &str) {
    assert!(is_standby(dir), "{what}: not in standby");
    let before = snapshot(dir);
    let db = open_standby(dir, Options::default()).unwrap();
    assert_eq!(&rows_of(&db), want, "{what}: rows");
    let report = db.check().unwrap();
    assert!(report.problems.is_empty(), "{what}: {:?}", report.problems);
    let digest = digest_rows(
        want.iter()
            .map(|(k, v)| ("PRIMARY", k.as_bytes(), v.as_bytes())),
    );
    assert_eq!(report.digest, digest, "{what}: digest");
    let e = db
        .run(|t| t.put("PRIMARY", b"intruder", b"x"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("standby (read-only)"), "{what}: {e}");
    let e = db
        .set_recovery_model(RecoveryModel::Simple)
        .unwrap_err()
        .to_string();
    assert!(e.contains("standby (read-only)"), "{what}: {e}");
    db.close().unwrap();
    assert_eq!(snapshot(dir), before, "{what}: reading changed the files");
    // A plain open (which would recover and write) is what the read commands must not use:
    // the restoring marker stays.
    assert!(dir.join(dbbackup::restore::RESTORING_FILE).exists());
}

/// Full, log1 (a transaction open across it), log2 and log3 restored WITH STANDBY, STANDBY,
/// STANDBY, RECOVERY; the rows equal the model's at each step.
#[test]
fn standby_chain_reads_the_model_at_each_log_and_goes_on() {
    let (mut env, db) = Env::new("sales");
    env.work(&db, 60);
    let full = env.backup(&db, BackupType::Full);
    let at_full = env.rows.clone();
    env.work(&db, 40);
    // Open across log1, committed before log2: invisible at log1, there at log2.
    let mut open = db.begin();
    open.put("PRIMARY", b"open-txn", b"committed after log1")
        .unwrap();
    open.put("PRIMARY", b"k0001", b"changed by the open txn")
        .unwrap();
    let log1 = env.backup(&db, BackupType::Log);
    let at_log1 = env.rows.clone();
    open.commit().unwrap();
    env.rows
        .insert("open-txn".into(), "committed after log1".into());
    env.rows
        .insert("k0001".into(), "changed by the open txn".into());
    env.work(&db, 30);
    let log2 = env.backup(&db, BackupType::Log);
    let at_log2 = env.rows.clone();
    env.work(&db, 30);
    let log3 = env.backup(&db, BackupType::Log);
    let at_log3 = env.rows.clone();
    db.close().unwrap();

    let target = env.tmp.path().join("standby");
    let undo = env.tmp.path().join("sales.undo");
    let st = || Recovery::Standby(undo.clone());
    let o = restore(&target, &full, st()).unwrap();
    assert!(!o.recovered);
    assert_standby(&target, &at_full, "after the full");
    restore(&target, &log1, st()).unwrap();
    assert_standby(&target, &at_log1, "after log1");
    assert!(!rows_of_standby(&target).contains_key("open-txn"));
    restore(&target, &log2, st()).unwrap();
    assert_standby(&target, &at_log2, "after log2");
    let o = restore(&target, &log3, Recovery::Recovery).unwrap();
    assert!(o.recovered);
    assert!(!target.join(dbbackup::standby::STANDBY_FILE).exists());
    let db = Database::open(&target).unwrap();
    assert_eq!(rows_of(&db), at_log3, "after log3 with recovery");
    // Recovered: writable again.
    db.run(|t| t.put("PRIMARY", b"after", b"recovery")).unwrap();
    db.close().unwrap();

    // STANDBY then NORECOVERY then RECOVERY also gets there.
    let t2 = env.tmp.path().join("standby2");
    restore(&t2, &full, Recovery::NoRecovery).unwrap();
    restore(&t2, &log1, st()).unwrap();
    assert_standby(&t2, &at_log1, "second sequence, after log1");
    restore(&t2, &log2, Recovery::NoRecovery).unwrap();
    assert!(!is_standby(&t2));
    restore(&t2, &log3, Recovery::Recovery).unwrap();
    let db = Database::open(&t2).unwrap();
    assert_eq!(rows_of(&db), at_log3);
    db.close().unwrap();
}

fn rows_of_standby(dir: &Path) -> Rows {
    let db = open_standby(dir, Options::default()).unwrap();
    let r = rows_of(&db);
    db.close().unwrap();
    r
}

/// The refusals: each leaves the standby database as it was (still readable, and the right
/// undo file still lets the next log apply).
#[test]
fn standby_refusals() {
    let (mut env, db) = Env::new("sales");
    env.work(&db, 40);
    let full = env.backup(&db, BackupType::Full);
    env.work(&db, 20);
    let mut open = db.begin();
    open.put("PRIMARY", b"open-txn", b"x").unwrap();
    let log1 = env.backup(&db, BackupType::Log);
    let at_log1 = env.rows.clone();
    open.rollback().unwrap();
    env.work(&db, 20);
    let log2 = env.backup(&db, BackupType::Log);
    let at_log2 = env.rows.clone();
    db.close().unwrap();

    // Another database, in standby with its own undo file.
    let (mut other, odb) = Env::new("other");
    other.work(&odb, 10);
    let ofull = other.backup(&odb, BackupType::Full);
    odb.close().unwrap();

    let target = env.tmp.path().join("standby");
    let undo = env.tmp.path().join("sales.undo");
    let other_undo = env.tmp.path().join("other.undo");
    restore(&target, &full, Recovery::NoRecovery).unwrap();

    // The undo file may not go through a planted link, nor over an unrelated file.
    let victim = env.tmp.path().join("victim");
    std::fs::write(&victim, b"precious").unwrap();
    let link = env.tmp.path().join("link.undo");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let why = refused(restore(&target, &log1, Recovery::Standby(link.clone())));
    assert!(why.contains("symbolic link"), "{why}");
    let why = refused(restore(&target, &log1, Recovery::Standby(victim.clone())));
    assert!(why.contains("not a refdb undo file"), "{why}");
    let nowhere = env.tmp.path().join("nodir").join("sales.undo");
    let why = refused(restore(&target, &log1, Recovery::Standby(nowhere)));
    assert!(why.contains("its directory does not exist"), "{why}");
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");

    restore(&target, &log1, Recovery::Standby(undo.clone())).unwrap();
    assert_standby(&target, &at_log1, "after log1");

    let ot = env.tmp.path().join("other-db");
    restore(&ot, &ofull, Recovery::Standby(other_undo.clone())).unwrap();
    // The other database's undo file is not overwritten by this one's standby either.
    let why = refused(restore(
        &target,
        &log2,
        Recovery::Standby(other_undo.clone()),
    ));
    assert!(why.contains("another database"), "{why}");

    // Missing undo file.
    let kept = env.tmp.path().join("kept.undo");
    std::fs::rename(&undo, &kept).unwrap();
    let why = refused(restore(&target, &log2, Recovery::Recovery));
    assert!(
        why.contains("undo file") && why.contains("missing"),
        "{why}"
    );
    assert_standby(&target, &at_log1, "after a refusal (missing undo file)");

    // The undo file of another database in its place.
    std::fs::copy(&other_undo, &undo).unwrap();
    let why = refused(restore(&target, &log2, Recovery::Recovery));
    assert!(why.contains("belongs to database"), "{why}");
    assert_standby(&target, &at_log1, "after a refusal (foreign undo file)");

    // A damaged undo file: a byte flipped in each of a few places.
    let good = std::fs::read(&kept).unwrap();
    for at in [3, 60, good.len() / 2, good.len() - 20] {
        let mut bad = good.clone();
        bad[at] ^= 0x40;
        std::fs::write(&undo, &bad).unwrap();
        let why = refused(restore(&target, &log2, Recovery::Recovery));
        assert!(why.contains("undo file"), "byte {at}: {why}");
        assert_standby(&target, &at_log1, "after a refusal (damaged undo file)");
    }
    // Cut short.
    std::fs::write(&undo, &good[..good.len() - 5]).unwrap();
    let why = refused(restore(&target, &log2, Recovery::Recovery));
    assert!(why.contains("undo file"), "{why}");

    // The database changed since standby (opened with recovery by something else).
    std::fs::write(&undo, &good).unwrap();
    let saved: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&target)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    let db = Database::open(&target).unwrap();
    db.run(|t| t.put("PRIMARY", b"sneaky", b"write")).unwrap();
    db.close().unwrap();
    let why = refused(restore(&target, &log2, Recovery::Recovery));
    assert!(why.contains("changed since it was put in standby"), "{why}");
    for (p, b) in saved {
        std::fs::write(p, b).unwrap();
    }

    // With everything back, the next log applies.
    restore(&target, &log2, Recovery::Recovery).unwrap();
    let db = Database::open(&target).unwrap();
    assert_eq!(rows_of(&db), at_log2);
    db.close().unwrap();
}
