//! Piecemeal restore through media on emulated tapes: a database of the primary filegroup and
//! filegroups `a` and `b`; a partial restore brings PRIMARY and `a` online first (the rows
//! of their tables equal the model, `b`'s tables are refused with the reason), the database
//! is used meanwhile, then `b` is restored later (with the logs, under the full model; as it
//! is, read-only, under simple), and every row equals the model the test keeps of the
//! commits the engine acknowledged. The refusals the reference documents' rules call for are
//! asserted with their reasons.

mod common;

use media::changer::dir::DirectoryLibrary;
use media::changer::{MediaChanger, MediumRequest};
use media::dbbackup::{self, BackupOptions, BackupType, Recovery, RestoreOptions};
use media::decision::Operation;
use media::engine::{Database, FilegroupSpec, RecoveryModel};
use media::history::sqlite::SqliteHistory;
use media::history::BackupHistory;
use media::set::MediaSet;
use media::stripe::{StripeDevice, StripeOptions};
use std::path::{Path, PathBuf};
use tape_sys::EmulatedOptions;

use common::dbenv::{restore, Rows};

const GROUPS: [&str; 3] = ["PRIMARY", "a", "b"];

fn tape() -> EmulatedOptions {
    common::tape(64 << 20)
}

struct Env {
    tmp: tempfile::TempDir,
    history: SqliteHistory,
    sets: usize,
    rows: Rows,
}

impl Env {
    fn new() -> Env {
        let tmp = tempfile::tempdir().unwrap();
        let history = SqliteHistory::open(&tmp.path().join("history.db")).unwrap();
        Env {
            tmp,
            history,
            sets: 0,
            rows: Rows::new(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    fn create(&self, name: &str, model: RecoveryModel) -> Database {
        let fgs: Vec<FilegroupSpec> = ["a", "b"]
            .iter()
            .map(|n| FilegroupSpec {
                name: n.to_string(),
                read_only: false,
            })
            .collect();
        Database::create_with(&self.path(name), "sales", model, &fgs, &Default::default()).unwrap()
    }

    /// A backup onto a new emulated tape; the directory library holding it.
    fn try_backup(&mut self, db: &Database, kind: BackupType) -> dbbackup::Result<PathBuf> {
        self.sets += 1;
        let lib = self.path(&format!("set{}", self.sets));
        let set = MediaSet::new(&format!("SET{}", self.sets), 1);
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
        )?;
        Ok(lib)
    }

    fn backup(&mut self, db: &Database, kind: BackupType) -> PathBuf {
        self.try_backup(db, kind).unwrap()
    }

    fn commit(&mut self, db: &Database, changes: &[(&str, String, Option<String>)]) {
        common::dbenv::commit(db, &mut self.rows, changes)
    }

    /// `n` rows of about 300 bytes into each filegroup of `groups`, keys `{prefix}{i}`, in
    /// transactions of 40.
    fn load(&mut self, db: &Database, groups: &[&str], prefix: &str, n: usize) {
        for batch in (0..n).collect::<Vec<_>>().chunks(40) {
            let mut changes = Vec::new();
            for &g in groups {
                for &i in batch {
                    let v = format!("{g}-{prefix}{i}-{}", "v".repeat(250 + i % 50));
                    changes.push((g, format!("{prefix}{i:05}"), Some(v)));
                }
            }
            self.commit(db, &changes);
        }
    }
}

fn opts(recovery: Recovery) -> RestoreOptions {
    RestoreOptions {
        recovery,
        ..Default::default()
    }
}

fn partial(recovery: Recovery, groups: &[&str]) -> RestoreOptions {
    RestoreOptions {
        recovery,
        partial: true,
        filegroups: groups.iter().map(|g| g.to_string()).collect(),
        ..Default::default()
    }
}

fn filegroup(name: &str) -> RestoreOptions {
    RestoreOptions {
        filegroup: Some(name.into()),
        ..Default::default()
    }
}

fn refused<T: std::fmt::Debug>(r: dbbackup::Result<T>) -> String {
    match r {
        Ok(o) => panic!("not refused: {o:?}"),
        Err(e) => e.to_string(),
    }
}

/// The rows of the filegroups `online`, read through the engine, against the model's rows of
/// those filegroups; every other filegroup's table refuses reads and writes, naming it.
fn assert_rows(dir: &Path, want: &Rows, online: &[&str], what: &str) {
    let db = Database::open(dir).unwrap();
    let mut got = Rows::new();
    for g in GROUPS {
        if online.contains(&g) {
            for (k, v) in db.begin().scan(g, None, None).unwrap() {
                got.insert(
                    (g.to_string(), String::from_utf8(k).unwrap()),
                    String::from_utf8(v).unwrap(),
                );
            }
        } else {
            let why = format!("filegroup \"{g}\" is offline");
            let e = db.begin().scan(g, None, None).unwrap_err().to_string();
            assert!(e.contains(&why), "{what}: scan of {g}: {e}");
            let e = db.get(g, b"k00001").unwrap_err().to_string();
            assert!(e.contains(&why), "{what}: get from {g}: {e}");
            let e = db
                .run(|t| t.put(g, b"new", b"row"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(&why), "{what}: put into {g}: {e}");
            let info = db.info();
            let fg = info.filegroups.iter().find(|f| f.name == g).unwrap();
            assert!(fg.offline.is_some(), "{what}: {g} not marked offline");
        }
    }
    let want: Rows = want
        .iter()
        .filter(|((g, _), _)| online.contains(&g.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    common::assert_same_rows(&got, &want, what);
    let report = db.check().unwrap();
    assert!(report.problems.is_empty(), "{what}: {:?}", report.problems);
    db.close().unwrap();
}

/// Full model: full, two logs (the second taken while a transaction touching `a` and `b` is
/// in flight); PRIMARY and `a` first, online work, then `b` from the full backup and the two
/// logs. With `b_read_only`, `b` becomes read-only between the logs.
fn full_model_sequence(b_read_only: bool) {
    let mut env = Env::new();
    let db = env.create("sales", RecoveryModel::Full);
    env.load(&db, &GROUPS, "k", 200);
    let full = env.backup(&db, BackupType::Full);
    let mut changes = Vec::new();
    for g in GROUPS {
        for i in (0..200).step_by(6) {
            let v = (i % 4 != 0).then(|| format!("{g}-updated-{i}"));
            changes.push((g, format!("k{i:05}"), v));
        }
    }
    env.commit(&db, &changes);
    let log1 = env.backup(&db, BackupType::Log);
    env.load(&db, &GROUPS, "m", 60);
    if b_read_only {
        db.set_filegroup_read_only("b", true).unwrap();
        env.load(&db, &["PRIMARY", "a"], "r", 30);
    }
    // In flight across the second log backup: recovery undoes it in `a` when the database
    // comes online, and in `b` when `b` does.
    let mut t = db.begin();
    t.put("a", b"k00003", b"never committed").unwrap();
    if !b_read_only {
        t.put("b", b"k00003", b"never committed").unwrap();
        t.put("b", b"zz-in-flight", b"never committed").unwrap();
    }
    let log2 = env.backup(&db, BackupType::Log);
    t.rollback().unwrap();
    db.close().unwrap();
    let at_log2 = env.rows.clone();

    // Stage 1: PRIMARY and a, with the logs.
    let d = env.path("restored");
    restore(&d, &full, &partial(Recovery::NoRecovery, &["PRIMARY", "a"])).unwrap();
    assert!(
        !d.join("b.ndf").exists(),
        "the partial restore wrote b's file"
    );
    restore(&d, &log1, &opts(Recovery::NoRecovery)).unwrap();
    let o = restore(&d, &log2, &opts(Recovery::Recovery)).unwrap();
    assert!(o.recovered);
    assert!(!d.join("b.ndf").exists());
    assert_rows(&d, &at_log2, &["PRIMARY", "a"], "stage 1");
    // Again: the offline state is persisted, and recovery leaves b alone.
    assert_rows(&d, &at_log2, &["PRIMARY", "a"], "stage 1, reopened");

    // The database is used meanwhile; a full backup is refused (it would lack b).
    let db = Database::open(&d).unwrap();
    env.load(&db, &["PRIMARY", "a"], "online", 50);
    env.commit(
        &db,
        &[
            ("a", "k00000".into(), None),
            ("PRIMARY", "k00001".into(), None),
        ],
    );
    let e = refused(env.try_backup(&db, BackupType::Full));
    assert!(
        e.contains("filegroup b") && e.contains("offline"),
        "full backup: {e}"
    );
    // A crash: recovery of the database with b offline (the next look at the rows opens it).
    db.abandon();

    // Refused: b from a backup of another database of the same name.
    let other = env.create("other", RecoveryModel::Full);
    let other_full = env.backup(&other, BackupType::Full);
    other.close().unwrap();
    let e = refused(restore(&d, &other_full, &filegroup("b")));
    assert!(e.contains("same database"), "{e}");
    // Refused: logs before the filegroup's backup.
    let e = refused(restore(&d, &log1, &filegroup("b")));
    assert!(e.contains("full or file backup"), "{e}");

    // Stage 2: b from the full backup; it stays offline until the logs reach the point.
    let o = restore(&d, &full, &filegroup("b")).unwrap();
    assert!(!o.recovered);
    assert_rows(&d, &env.rows, &["PRIMARY", "a"], "b restoring");
    // Refused: a gap in b's log chain (log 2 before log 1), naming the missing range.
    let e = refused(restore(&d, &log2, &opts(Recovery::Recovery)));
    assert!(e.contains("log chain gap") && e.contains("missing"), "{e}");
    let o = restore(&d, &log1, &opts(Recovery::Recovery)).unwrap();
    assert!(!o.recovered);
    let o = restore(&d, &log2, &opts(Recovery::Recovery)).unwrap();
    assert!(o.recovered, "b not online after its last log");
    assert!(!d.join(dbbackup_work_dir()).exists());
    assert_rows(&d, &env.rows, &GROUPS, "stage 2");
    assert_rows(&d, &env.rows, &GROUPS, "stage 2, reopened");
    let db = Database::open(&d).unwrap();
    let e = db.run(|t| t.put("b", b"after", b"x"));
    if b_read_only {
        assert!(e.unwrap_err().to_string().contains("read-only"));
    } else {
        e.unwrap();
        env.rows.insert(("b".into(), "after".into()), "x".into());
    }
    // A full backup works again, and restores whole.
    let again = env.backup(&db, BackupType::Full);
    db.close().unwrap();
    let d2 = env.path("whole");
    restore(&d2, &again, &opts(Recovery::Recovery)).unwrap();
    assert_rows(
        &d2,
        &env.rows,
        &GROUPS,
        "full backup after the piecemeal restore",
    );
}

fn dbbackup_work_dir() -> &'static str {
    "refdb.piecemeal"
}

#[test]
fn full_model_primary_and_a_first_then_b_with_its_logs() {
    full_model_sequence(false);
}

#[test]
fn full_model_read_only_b_later_with_its_logs() {
    full_model_sequence(true);
}

#[test]
fn simple_model_read_write_filegroups_first_read_only_ones_later() {
    let mut env = Env::new();
    let db = env.create("sales", RecoveryModel::Simple);
    env.load(&db, &GROUPS, "k", 120);
    // A full backup while b is still read-write, then b becomes read-only.
    let full_rw = env.backup(&db, BackupType::Full);
    db.set_filegroup_read_only("b", true).unwrap();
    env.load(&db, &["PRIMARY", "a"], "n", 40);
    let full = env.backup(&db, BackupType::Full);
    db.close().unwrap();

    // Refused: a read-write filegroup left for later under simple.
    let d = env.path("restored");
    let e = refused(restore(
        &d,
        &full,
        &partial(Recovery::Recovery, &["PRIMARY"]),
    ));
    assert!(
        e.contains("simple recovery model") && e.contains("filegroup a is read-write"),
        "{e}"
    );
    assert!(!d.exists(), "a refused restore left {}", d.display());

    let o = restore(&d, &full, &partial(Recovery::Recovery, &["a"])).unwrap();
    assert!(o.recovered);
    assert!(!d.join("b.ndf").exists());
    assert_rows(&d, &env.rows, &["PRIMARY", "a"], "simple, stage 1");
    let db = Database::open(&d).unwrap();
    env.load(&db, &["a"], "online", 30);
    db.close().unwrap();

    // Refused: b from the backup in which it was read-write (its rows may have changed since).
    let e = refused(restore(&d, &full_rw, &filegroup("b")));
    assert!(
        e.contains("simple recovery model") && e.contains("filegroup b is read-write"),
        "{e}"
    );
    assert_rows(
        &d,
        &env.rows,
        &["PRIMARY", "a"],
        "simple, after the refusal",
    );

    let o = restore(&d, &full, &filegroup("b")).unwrap();
    assert!(o.recovered);
    assert_rows(&d, &env.rows, &GROUPS, "simple, stage 2");
}

#[test]
fn a_partial_restore_refuses_unknown_filegroups_and_non_full_backups() {
    let mut env = Env::new();
    let db = env.create("sales", RecoveryModel::Full);
    env.load(&db, &GROUPS, "k", 20);
    let full = env.backup(&db, BackupType::Full);
    env.load(&db, &GROUPS, "l", 20);
    let log = env.backup(&db, BackupType::Log);
    db.close().unwrap();
    let d = env.path("restored");
    let e = refused(restore(&d, &full, &partial(Recovery::Recovery, &["nope"])));
    assert!(e.contains("no filegroup \"nope\""), "{e}");
    let e = refused(restore(&d, &log, &partial(Recovery::Recovery, &["a"])));
    assert!(e.contains("starts from a full backup"), "{e}");
    assert!(!d.exists());
}

/// Stage 1 stops at the first log; b must come to that point, not past it.
#[test]
fn a_later_stage_refuses_backups_past_the_point_the_database_was_recovered_at() {
    let mut env = Env::new();
    let db = env.create("sales", RecoveryModel::Full);
    env.load(&db, &GROUPS, "k", 40);
    let full = env.backup(&db, BackupType::Full);
    env.load(&db, &GROUPS, "l", 40);
    let log1 = env.backup(&db, BackupType::Log);
    let at_log1 = env.rows.clone();
    env.load(&db, &GROUPS, "m", 40);
    let log2 = env.backup(&db, BackupType::Log);
    let full2 = env.backup(&db, BackupType::Full);
    db.close().unwrap();

    let d = env.path("restored");
    restore(&d, &full, &partial(Recovery::NoRecovery, &["a"])).unwrap();
    assert!(
        restore(&d, &log1, &opts(Recovery::Recovery))
            .unwrap()
            .recovered
    );
    let e = refused(restore(&d, &full2, &filegroup("b")));
    assert!(e.contains("after LSN") && e.contains("went offline"), "{e}");
    restore(&d, &full, &filegroup("b")).unwrap();
    let e = refused(restore(&d, &log2, &opts(Recovery::Recovery)));
    assert!(e.contains("goes past LSN") && e.contains("newer"), "{e}");
    assert_rows(&d, &at_log1, &["PRIMARY", "a"], "after the refusals");
    assert!(
        restore(&d, &log1, &opts(Recovery::Recovery))
            .unwrap()
            .recovered
    );
    assert_rows(&d, &at_log1, &GROUPS, "b at the first log");
}

/// Full, differential and log, in both stages: the differential writes only the files of the
/// filegroups each stage restores.
#[test]
fn differentials_in_both_stages() {
    let mut env = Env::new();
    let db = env.create("sales", RecoveryModel::Full);
    env.load(&db, &GROUPS, "k", 80);
    let full = env.backup(&db, BackupType::Full);
    env.load(&db, &GROUPS, "d", 80);
    let diff = env.backup(&db, BackupType::Differential);
    env.load(&db, &GROUPS, "l", 30);
    let log = env.backup(&db, BackupType::Log);
    db.close().unwrap();

    let d = env.path("restored");
    restore(&d, &full, &partial(Recovery::NoRecovery, &["b"])).unwrap();
    restore(&d, &diff, &opts(Recovery::NoRecovery)).unwrap();
    assert!(!d.join("a.ndf").exists(), "the differential wrote a's file");
    assert!(
        restore(&d, &log, &opts(Recovery::Recovery))
            .unwrap()
            .recovered
    );
    assert_rows(&d, &env.rows, &["PRIMARY", "b"], "stage 1");

    assert!(!restore(&d, &full, &filegroup("a")).unwrap().recovered);
    assert!(
        !restore(&d, &diff, &opts(Recovery::Recovery))
            .unwrap()
            .recovered
    );
    assert!(
        restore(&d, &log, &opts(Recovery::Recovery))
            .unwrap()
            .recovered
    );
    assert_rows(&d, &env.rows, &GROUPS, "stage 2");
}

/// A piecemeal restore of a database whose primary file and log a MOVE put outside its
/// directory: the later stage's work database (in the directory) and the filegroup brought
/// online go through the moved files.
#[test]
fn piecemeal_stages_with_the_primary_and_the_log_moved() {
    let mut env = Env::new();
    let db = env.create("sales", RecoveryModel::Full);
    env.load(&db, &GROUPS, "k", 80);
    let full = env.backup(&db, BackupType::Full);
    env.load(&db, &GROUPS, "m", 30);
    let log1 = env.backup(&db, BackupType::Log);
    db.close().unwrap();
    let disk2 = env.path("disk2");
    std::fs::create_dir(&disk2).unwrap();
    let d = env.path("restored");
    let mut stage1 = partial(Recovery::NoRecovery, &["PRIMARY", "a"]);
    stage1.moves = vec![
        (
            "primary".into(),
            disk2.join("s.mdf").to_str().unwrap().into(),
        ),
        ("log".into(), "../disk2/s.ldf".into()),
    ];
    restore(&d, &full, &stage1).unwrap();
    restore(&d, &log1, &opts(Recovery::Recovery)).unwrap();
    assert_rows(&d, &env.rows, &["PRIMARY", "a"], "stage 1, moved");
    restore(&d, &full, &filegroup("b")).unwrap();
    let o = restore(&d, &log1, &opts(Recovery::Recovery)).unwrap();
    assert!(o.recovered);
    for gone in ["primary.mdf", "log.ldf", dbbackup_work_dir()] {
        assert!(!d.join(gone).exists(), "{gone} in the database directory");
    }
    assert!(disk2.join("s.mdf").is_file() && disk2.join("s.ldf").is_file());
    assert_rows(&d, &env.rows, &GROUPS, "stage 2, moved");
}

/// With STOPAT: stage 1 restores PRIMARY and a to a point in time T (the full and the logs
/// WITH STOPAT, recovered at T), b goes offline at T's LSN; a transaction open across T (in a
/// and b) committed after it is left out of both. Stage 2 brings b to exactly that point: the
/// log that holds it is applied up to it, the log past it refused. The rows of every
/// filegroup equal the model at T (and the work done online between the stages).
#[test]
fn a_piecemeal_restore_to_a_point_in_time() {
    let mut env = Env::new();
    let db = env.create("sales", RecoveryModel::Full);
    env.load(&db, &GROUPS, "k", 60);
    let full = env.backup(&db, BackupType::Full);
    env.load(&db, &GROUPS, "l", 30);
    let log1 = env.backup(&db, BackupType::Log);
    env.load(&db, &GROUPS, "m", 20);
    // Open across T: committed after it, so not at T.
    let mut late = db.begin();
    late.put("a", b"k00001", b"late").unwrap();
    late.put("b", b"k00002", b"late").unwrap();
    late.put("b", b"zz-late", b"late").unwrap();
    // T: the commit time of the last commit restored.
    let mut at_t = env.rows.clone();
    let (_, c) = db
        .run(|t| {
            for g in GROUPS {
                t.put(g, b"t-marker", g.as_bytes())?;
            }
            Ok(())
        })
        .unwrap();
    for g in GROUPS {
        at_t.insert((g.into(), "t-marker".into()), g.into());
    }
    let point = c.ts_ms;
    std::thread::sleep(std::time::Duration::from_millis(5));
    late.commit().unwrap();
    for (g, k) in [("a", "k00001"), ("b", "k00002"), ("b", "zz-late")] {
        env.rows.insert((g.into(), k.into()), "late".into());
    }
    env.load(&db, &GROUPS, "n", 20);
    let log2 = env.backup(&db, BackupType::Log);
    env.load(&db, &GROUPS, "p", 20);
    let log3 = env.backup(&db, BackupType::Log);
    db.close().unwrap();
    assert_ne!(at_t, env.rows, "the work after T changes the rows");

    let stop = |recovery| RestoreOptions {
        stopat_ms: Some(point),
        ..opts(recovery)
    };
    let d = env.path("restored");
    let first = RestoreOptions {
        stopat_ms: Some(point),
        ..partial(Recovery::NoRecovery, &["PRIMARY", "a"])
    };
    restore(&d, &full, &first).unwrap();
    // T lies past log1: the database stays restoring, even WITH RECOVERY.
    assert!(
        !restore(&d, &log1, &stop(Recovery::Recovery))
            .unwrap()
            .recovered
    );
    let o = restore(&d, &log2, &stop(Recovery::Recovery)).unwrap();
    assert!(o.recovered);
    assert_rows(&d, &at_t, &["PRIMARY", "a"], "stage 1 at T");
    let recovered_at = o.log_end;
    let db = Database::open(&d).unwrap();
    let b = db.info().filegroups.into_iter().find(|g| g.name == "b");
    assert_eq!(
        b.unwrap().offline,
        Some(recovered_at),
        "b offline at T's LSN"
    );
    // Work online between the stages.
    let mut want = at_t.clone();
    common::dbenv::commit(
        &db,
        &mut want,
        &[
            ("a", "between".into(), Some("stages".into())),
            ("PRIMARY", "k00003".into(), None),
        ],
    );
    db.close().unwrap();

    // Stage 2: b from the full backup, log1 whole, log3 refused (past T), log2 up to T. A
    // STOPAT given to a later stage is refused, not ignored: the first stage fixed the point.
    let with_stopat = |o: RestoreOptions| RestoreOptions {
        stopat_ms: Some(point),
        ..o
    };
    let e = refused(restore(&d, &full, &with_stopat(filegroup("b"))));
    assert!(e.contains("restore without --stopat"), "{e}");
    assert!(
        !d.join(dbbackup_work_dir()).exists(),
        "a refused stage began"
    );
    assert!(!restore(&d, &full, &filegroup("b")).unwrap().recovered);
    let e = refused(restore(&d, &log1, &with_stopat(opts(Recovery::Recovery))));
    assert!(e.contains("restore without --stopat"), "{e}");
    assert!(
        !restore(&d, &log1, &opts(Recovery::Recovery))
            .unwrap()
            .recovered
    );
    let e = refused(restore(&d, &log3, &opts(Recovery::Recovery)));
    assert!(e.contains("goes past LSN"), "{e}");
    let o = restore(&d, &log2, &opts(Recovery::Recovery)).unwrap();
    assert!(o.recovered, "b not online after the log holding T");
    assert_eq!(o.log_end, recovered_at);
    assert!(!d.join(dbbackup_work_dir()).exists());
    assert_rows(&d, &want, &GROUPS, "stage 2: b at T");
    assert_rows(&d, &want, &GROUPS, "stage 2, reopened");
}

/// STOPAT with a partial restore: refused under the simple model (no point in time there),
/// and inside a log holding bulk-logged changes, saying why; nothing is left behind.
#[test]
fn a_piecemeal_restore_to_a_point_in_time_refused_under_simple_and_in_a_bulk_log() {
    let mut env = Env::new();
    let db = env.create("sales", RecoveryModel::Simple);
    env.load(&db, &GROUPS, "k", 10);
    let full = env.backup(&db, BackupType::Full);
    db.close().unwrap();
    let at = RestoreOptions {
        stopat_ms: Some(u64::MAX / 2),
        ..partial(Recovery::NoRecovery, &["PRIMARY", "a", "b"])
    };
    let d = env.path("simple");
    let e = refused(restore(&d, &full, &at));
    assert!(
        e.contains("simple recovery model") && e.contains("point in time"),
        "{e}"
    );
    assert!(!d.exists());

    let mut env = Env::new();
    let db = env.create("sales", RecoveryModel::BulkLogged);
    env.load(&db, &GROUPS, "k", 10);
    let full = env.backup(&db, BackupType::Full);
    let rows: Vec<(Vec<u8>, Vec<u8>)> = (0..200)
        .map(|i| (format!("bulk{i:04}").into_bytes(), vec![b'x'; 200]))
        .collect();
    db.bulk_load("a", &rows).unwrap();
    env.load(&db, &GROUPS, "l", 10);
    // T: inside the log that holds the bulk load.
    let (_, c) = db.run(|t| t.put("a", b"t-marker", b"x")).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(5));
    env.load(&db, &GROUPS, "m", 10);
    let log = env.backup(&db, BackupType::Log);
    db.close().unwrap();
    let d = env.path("bulk");
    let first = RestoreOptions {
        stopat_ms: Some(c.ts_ms),
        ..partial(Recovery::NoRecovery, &["PRIMARY", "a"])
    };
    restore(&d, &full, &first).unwrap();
    let at = RestoreOptions {
        stopat_ms: Some(c.ts_ms),
        ..opts(Recovery::Recovery)
    };
    let e = refused(restore(&d, &log, &at));
    assert!(e.contains("bulk-logged"), "{e}");
}

/// Log backups of the database between the stages (full model): stage 1 keeps the log chain,
/// so the database, online with `b` offline, is backed up by its logs; the first starts at the
/// fork point (where stage 1 recovered it) and names the fork it branched from. Stage 2 needs
/// none of them (`b` did not change after it went offline: refused as not needed), the log
/// backups go on after it, and the whole database restored from the original full, the log up
/// to the point and the new fork's logs has every row of the model. A sibling fork's log (a
/// second stage-1 restore from the same point) is not mixed in; a differential between the
/// stages is refused (it would lack `b`).
#[test]
fn log_backups_between_the_stages() {
    let mut env = Env::new();
    let db = env.create("sales", RecoveryModel::Full);
    env.load(&db, &GROUPS, "k", 60);
    let full = env.backup(&db, BackupType::Full);
    env.load(&db, &GROUPS, "l", 40);
    let log1 = env.backup(&db, BackupType::Log);
    db.close().unwrap();

    // Stage 1: PRIMARY and a; recovered at the end of log 1.
    let d = env.path("restored");
    restore(&d, &full, &partial(Recovery::NoRecovery, &["a"])).unwrap();
    let o = restore(&d, &log1, &opts(Recovery::Recovery)).unwrap();
    assert!(o.recovered);
    let point = o.log_end;
    let parent = o.header.fork_guid;
    let db = Database::open(&d).unwrap();
    let info = db.info();
    assert_eq!(info.fork_point_lsn, point);
    assert_eq!(info.parent_fork_guid, Some(parent));
    assert_ne!(info.fork_guid, parent);
    assert_eq!(
        info.log_backup_lsn, point,
        "the chain goes on from the fork point"
    );
    let child = info.fork_guid;

    // Between the stages: work, log backups (accepted), a differential refused.
    env.load(&db, &["PRIMARY", "a"], "s", 40);
    env.commit(&db, &[("a", "k00002".into(), None)]);
    let between1 = env.backup(&db, BackupType::Log);
    env.load(&db, &["PRIMARY", "a"], "t", 20);
    let between2 = env.backup(&db, BackupType::Log);
    let e = refused(env.try_backup(&db, BackupType::Differential));
    assert!(
        e.contains("filegroup b") && e.contains("offline"),
        "differential: {e}"
    );
    db.close().unwrap();

    // A sibling: a second stage 1 from the same point, another fork with the same parent.
    let sib = env.path("sibling");
    restore(&sib, &full, &partial(Recovery::NoRecovery, &["a"])).unwrap();
    restore(&sib, &log1, &opts(Recovery::Recovery)).unwrap();
    let sdb = Database::open(&sib).unwrap();
    assert_ne!(sdb.info().fork_guid, child);
    sdb.run(|t| t.put("a", b"sibling", b"row")).unwrap();
    let sibling_log = env.backup(&sdb, BackupType::Log);
    sdb.close().unwrap();

    // Stage 2: b from the full backup; the logs of the new fork are not needed for it.
    assert!(!restore(&d, &full, &filegroup("b")).unwrap().recovered);
    let e = refused(restore(&d, &between1, &opts(Recovery::Recovery)));
    assert!(
        e.contains("not needed") && e.contains(&format!("LSN {point}")),
        "{e}"
    );
    assert!(
        restore(&d, &log1, &opts(Recovery::Recovery))
            .unwrap()
            .recovered
    );
    assert_rows(&d, &env.rows, &GROUPS, "stage 2 after log backups");
    // Log backups go on after it, b included.
    let db = Database::open(&d).unwrap();
    env.load(&db, &GROUPS, "u", 20);
    let after = env.backup(&db, BackupType::Log);
    db.close().unwrap();

    // The whole database from the original full, log 1 and the new fork's logs.
    let w = env.path("whole");
    let mut used = Vec::new();
    let o = restore(&w, &full, &opts(Recovery::NoRecovery)).unwrap();
    used.push(o.header.set_guid);
    let o = restore(&w, &log1, &opts(Recovery::NoRecovery)).unwrap();
    used.push(o.header.set_guid);
    // Refused: the fork's second log (it does not start at the point: another fork).
    let e = refused(restore(&w, &between2, &opts(Recovery::NoRecovery)));
    assert!(e.contains("cannot be mixed"), "{e}");
    let o = restore(&w, &between1, &opts(Recovery::NoRecovery)).unwrap();
    assert_eq!(
        o.header.first_lsn, point,
        "the first log starts at the fork point"
    );
    assert_eq!(o.header.fork_guid, child);
    assert_eq!(o.header.first_fork_guid, parent);
    used.push(o.header.set_guid);
    // Refused: the sibling fork's log, once the database is in this fork.
    let e = refused(restore(&w, &sibling_log, &opts(Recovery::NoRecovery)));
    assert!(e.contains("cannot be mixed"), "{e}");
    let o = restore(&w, &between2, &opts(Recovery::NoRecovery)).unwrap();
    used.push(o.header.set_guid);
    let o = restore(&w, &after, &opts(Recovery::Recovery)).unwrap();
    used.push(o.header.set_guid);
    assert!(o.recovered);
    assert_eq!(o.header.first_fork_guid, child);
    assert_rows(
        &w,
        &env.rows,
        &GROUPS,
        "whole database through the new fork",
    );
    // The planner builds the same sequence from the history (the sibling's log, which also
    // starts in the parent fork at the point, ends in another fork than the latest point).
    let recs = env.history.backups(Some("sales")).unwrap();
    let plan = media::plan::plan_database(&recs, media::plan::Target::Latest);
    assert!(plan.is_valid(), "{:?}", plan.problems);
    let steps: Vec<_> = plan
        .steps
        .iter()
        .map(|s| s.backup_set_guid.clone())
        .collect();
    let want: Vec<_> = used
        .iter()
        .map(|g| media::history::normalize_guid(&mtf::stream::sqlserver::Guid(*g).to_string()))
        .collect();
    assert_eq!(steps, want);
}

/// A whole-database restore is not carried past the fork point by the new fork's logs when a
/// transaction was in flight there: stage 1 ended it without undoing its changes to `b` in
/// the database's log (the later stage undid them in its own work database).
#[test]
fn the_new_forks_logs_refuse_a_whole_restore_past_a_transaction_in_flight() {
    let mut env = Env::new();
    let db = env.create("sales", RecoveryModel::Full);
    env.load(&db, &GROUPS, "k", 40);
    let full = env.backup(&db, BackupType::Full);
    let mut t = db.begin();
    t.put("a", b"k00003", b"never committed").unwrap();
    t.put("b", b"k00003", b"never committed").unwrap();
    let log1 = env.backup(&db, BackupType::Log);
    t.rollback().unwrap();
    db.close().unwrap();

    let d = env.path("restored");
    restore(&d, &full, &partial(Recovery::NoRecovery, &["a"])).unwrap();
    assert!(
        restore(&d, &log1, &opts(Recovery::Recovery))
            .unwrap()
            .recovered
    );
    let db = Database::open(&d).unwrap();
    env.load(&db, &["a"], "s", 10);
    let between = env.backup(&db, BackupType::Log);
    db.close().unwrap();

    let w = env.path("whole");
    restore(&w, &full, &opts(Recovery::NoRecovery)).unwrap();
    restore(&w, &log1, &opts(Recovery::NoRecovery)).unwrap();
    let e = refused(restore(&w, &between, &opts(Recovery::Recovery)));
    assert!(e.contains("in flight") && e.contains("offline"), "{e}");
    // Left as it was: still restoring, at the end of log 1.
    let e = refused(restore(&w, &log1, &opts(Recovery::Recovery)));
    assert!(e.contains("too early"), "{e}");
}
