//! Databases of several data files per filegroup, each crossing many allocation maps (one
//! extent per map), through full, differential and log backups striped over two tiny
//! emulated tapes (every family continued on more media), restored and compared row by row
//! with a model the test keeps of the commits the engine acknowledged: a backup must read
//! every map of every file.

mod common;

use media::changer::dir::DirectoryLibrary;
use media::changer::{MediaChanger, MediumRequest};
use media::dbbackup::{self, BackupOptions, BackupType, Recovery, RestoreOptions};
use media::decision::Operation;
use media::engine::{CreateOptions, DataFileSpec, Database, FilegroupSpec, RecoveryModel};
use media::history::sqlite::SqliteHistory;
use media::restore::ReadSpec;
use media::set::MediaSet;
use media::stripe::{StripeDevice, StripeOptions};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tape_sys::EmulatedOptions;

/// (filegroup, key) → value: the test's own record of the committed rows.
type Rows = BTreeMap<(String, String), String>;

const GROUPS: [&str; 3] = ["PRIMARY", "a", "b"];
/// Media small enough that every family of a full backup continues on several.
const CAP: u64 = 192 * 1024;

fn tape(cap: u64) -> EmulatedOptions {
    EmulatedOptions::new()
        .capacity(cap)
        .early_warning(64 * 1024)
}

struct Env {
    tmp: tempfile::TempDir,
    history: SqliteHistory,
    sets: usize,
    rows: Rows,
}

impl Env {
    /// A backup striped over two families of `CAP`-byte media; returns the directory library
    /// holding every medium written.
    fn backup(&mut self, db: &Database, kind: BackupType) -> PathBuf {
        self.backup_opts(db, &BackupOptions::new(kind))
    }

    fn backup_opts(&mut self, db: &Database, opts: &BackupOptions) -> PathBuf {
        self.sets += 1;
        let lib = self.tmp.path().join(format!("set{}", self.sets));
        let set = MediaSet::new(&format!("SET{}", self.sets), 2);
        let devices: Vec<Vec<StripeDevice>> = (1..=2)
            .map(|f| {
                let mut l = DirectoryLibrary::new(&lib, tape(CAP)).unwrap();
                let first = l.mount(&MediumRequest::first_write(&set, f, 0)).unwrap();
                vec![StripeDevice {
                    first,
                    changer: Box::new(l),
                }]
            })
            .collect();
        let mut so = StripeOptions::new(Operation::Format, 1_717_200_000);
        so.write.block_size = 16 * 1024;
        dbbackup::backup(db, opts, devices, set, &so, &mut self.history).unwrap();
        lib
    }

    fn restore(&self, into: &Path, lib: &Path, recovery: Recovery) -> dbbackup::RestoreOutcome {
        let opts = RestoreOptions {
            recovery,
            ..Default::default()
        };
        self.restore_with(into, lib, &opts).unwrap()
    }

    fn restore_with(
        &self,
        into: &Path,
        lib: &Path,
        opts: &RestoreOptions,
    ) -> dbbackup::Result<dbbackup::RestoreOutcome> {
        let changers: Vec<Box<dyn MediaChanger>> =
            vec![Box::new(DirectoryLibrary::new(lib, tape(CAP)).unwrap())];
        dbbackup::restore(into, changers, &ReadSpec::default(), opts)
    }

    /// Puts (or deletes, for `None`) rows in one transaction, recorded once it commits.
    fn commit(&mut self, db: &Database, changes: Vec<(&str, String, Option<String>)>) {
        common::dbenv::commit(db, &mut self.rows, &changes)
    }

    /// Inserts `n` rows of about 700 bytes per filegroup, keys `{prefix}{i}`.
    fn load(&mut self, db: &Database, prefix: &str, n: usize) {
        for batch in (0..n).collect::<Vec<_>>().chunks(50) {
            let mut changes = Vec::new();
            for g in GROUPS {
                for &i in batch {
                    let v = format!("{g}-{prefix}{i}-{}", "r".repeat(650 + i % 50));
                    changes.push((g, format!("{prefix}{i:05}"), Some(v)));
                }
            }
            self.commit(db, changes);
        }
    }
}

/// A database of filegroups `a` and `b`, and a second file `a2` of filegroup `a`.
fn create(tmp: tempfile::TempDir, db_dir: &Path, extra: &[(&str, &str)]) -> (Database, Env) {
    let fgs: Vec<FilegroupSpec> = ["a", "b"]
        .iter()
        .map(|n| FilegroupSpec {
            name: n.to_string(),
            read_only: false,
        })
        .collect();
    let files = extra
        .iter()
        .map(|(g, n)| DataFileSpec {
            filegroup: g.to_string(),
            logical_name: n.to_string(),
        })
        .collect();
    let opts = CreateOptions {
        files,
        map_extents: 1,
    };
    let db = Database::create_with(db_dir, "sales", RecoveryModel::Full, &fgs, &opts).unwrap();
    let history = SqliteHistory::open(&tmp.path().join("history.db")).unwrap();
    let env = Env {
        tmp,
        history,
        sets: 0,
        rows: Rows::new(),
    };
    (db, env)
}

/// The restored database's rows, read through the engine, against the model.
fn assert_rows(dir: &Path, want: &Rows, what: &str) {
    let db = Database::open(dir).unwrap();
    let mut got = Rows::new();
    for g in GROUPS {
        for (k, v) in db.begin().scan(g, None, None).unwrap() {
            got.insert(
                (g.to_string(), String::from_utf8(k).unwrap()),
                String::from_utf8(v).unwrap(),
            );
        }
    }
    let missing: Vec<_> = want
        .iter()
        .filter(|(k, v)| got.get(*k) != Some(v))
        .collect();
    let extra: Vec<_> = got.keys().filter(|k| !want.contains_key(*k)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{what}: {} rows missing or changed (first {:?}), {} extra (first {:?})",
        missing.len(),
        missing.first().map(|m| m.0),
        extra.len(),
        extra.first()
    );
    let report = db.check().unwrap();
    assert!(report.problems.is_empty(), "{what}: {:?}", report.problems);
    db.close().unwrap();
}

#[test]
fn several_files_per_filegroup_across_many_maps_full_differential_and_logs() {
    let tmp = tempfile::tempdir().unwrap();
    let db_dir = tmp.path().join("sales");
    let (db, mut env) = create(
        tmp,
        &db_dir,
        &[("PRIMARY", "primary2"), ("a", "a2"), ("b", "b2")],
    );

    env.load(&db, "k", 700);
    let full = env.backup(&db, BackupType::Full);
    // The backup checkpointed: the files on disk hold every page. One extent per map: a map
    // every 8 pages or so; every file past several of them.
    let status = db.data_files().unwrap();
    assert_eq!(status.len(), 6, "{status:?}");
    let at_full: BTreeMap<u16, u64> = status.iter().map(|f| (f.id, f.pages)).collect();
    for f in &status {
        assert!(
            f.pages >= 48,
            "{} has only {} pages",
            f.logical_name,
            f.pages
        );
    }
    let want_full = env.rows.clone();

    // Changes in the later map intervals only: rows past every key so far, on new pages at
    // the files' ends (the trees' last leaves and their parents change too).
    env.load(&db, "z", 150);
    let diff = env.backup(&db, BackupType::Differential);
    let status = db.data_files().unwrap();
    let grown: BTreeMap<u16, u64> = status
        .iter()
        .map(|f| (f.id, f.pages - at_full[&f.id]))
        .collect();
    for f in &status {
        assert!(
            f.pages > at_full[&f.id],
            "{} did not grow ({} pages)",
            f.logical_name,
            f.pages
        );
    }
    let want_diff = env.rows.clone();

    // Updates and deletes everywhere, then inserts: two log backups.
    let mut changes = Vec::new();
    for g in GROUPS {
        for i in (0..700).step_by(7) {
            let v = (i % 3 != 0).then(|| format!("{g}-updated-{i}"));
            changes.push((g, format!("k{i:05}"), v));
        }
    }
    env.commit(&db, changes);
    let log1 = env.backup(&db, BackupType::Log);
    env.load(&db, "m", 60);
    let log2 = env.backup(&db, BackupType::Log);
    let want_end = env.rows.clone();
    db.close().unwrap();

    let d = env.tmp.path().join("full-only");
    env.restore(&d, &full, Recovery::Recovery);
    assert_rows(&d, &want_full, "full");
    let media = std::fs::read_dir(&full).unwrap().count();
    assert!(media > 4, "expected continuation media, got {media}");

    let d = env.tmp.path().join("full-diff");
    env.restore(&d, &full, Recovery::NoRecovery);
    let o = env.restore(&d, &diff, Recovery::Recovery);
    // The differential carries at least every page each file grew by since the full (all in
    // maps after the first ones).
    for f in &o.header.files {
        assert!(
            f.pages_in_set >= grown[&f.file_id],
            "differential: {} pages of {}, which grew by {}",
            f.pages_in_set,
            f.logical_name,
            grown[&f.file_id]
        );
    }
    assert_rows(&d, &want_diff, "full + differential");

    let d = env.tmp.path().join("all");
    env.restore(&d, &full, Recovery::NoRecovery);
    env.restore(&d, &diff, Recovery::NoRecovery);
    env.restore(&d, &log1, Recovery::NoRecovery);
    let o = env.restore(&d, &log2, Recovery::Recovery);
    assert!(o.recovered);
    assert_rows(&d, &want_end, "full + differential + 2 logs");

    // The full and both logs, without the differential, reach the same rows.
    let d = env.tmp.path().join("logs");
    env.restore(&d, &full, Recovery::NoRecovery);
    env.restore(&d, &log1, Recovery::NoRecovery);
    env.restore(&d, &log2, Recovery::Recovery);
    assert_rows(&d, &want_end, "full + 2 logs");
}

/// The restore's error message (the restore must fail).
fn refused(r: dbbackup::Result<dbbackup::RestoreOutcome>) -> String {
    match r {
        Ok(o) => panic!("restore succeeded: {:?}", o.header.kind),
        Err(e) => e.to_string(),
    }
}

#[test]
fn move_relocates_data_files_through_full_differential_and_log_restores() {
    let tmp = tempfile::tempdir().unwrap();
    let db_dir = tmp.path().join("sales");
    let (db, mut env) = create(tmp, &db_dir, &[("a", "a2")]);
    env.load(&db, "k", 120);
    let full = env.backup(&db, BackupType::Full);
    env.load(&db, "d", 40);
    let diff = env.backup(&db, BackupType::Differential);
    let mut changes = Vec::new();
    for g in GROUPS {
        for i in (0..120).step_by(5) {
            let v = (i % 2 == 0).then(|| format!("{g}-updated-{i}"));
            changes.push((g, format!("k{i:05}"), v));
        }
    }
    env.commit(&db, changes);
    // Boot record changes in the log: recovery redoes images of the boot page that name the
    // files where they were when the backups were taken.
    db.set_recovery_model(RecoveryModel::BulkLogged).unwrap();
    db.set_recovery_model(RecoveryModel::Full).unwrap();
    let log = env.backup(&db, BackupType::Log);
    db.close().unwrap();
    let want = env.rows.clone();

    let root = env.tmp.path().to_path_buf();
    let elsewhere = root.join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let d = root.join("moved");
    let mv = |moves: &[(&str, String)], replace: bool| RestoreOptions {
        recovery: Recovery::NoRecovery,
        replace,
        moves: moves
            .iter()
            .map(|(l, p)| (l.to_string(), p.clone()))
            .collect(),
        ..Default::default()
    };
    let abs_a = elsewhere.join("a-moved.ndf");
    let abs_a = abs_a.to_str().unwrap().to_string();

    // Refusals, each leaving nothing behind.
    let cases: Vec<(Vec<(&str, String)>, &str)> = vec![
        (vec![("nosuch", "x.ndf".into())], "no data file \"nosuch\""),
        (
            vec![
                ("a", "../elsewhere/same.ndf".into()),
                ("a2", format!("{}/same.ndf", elsewhere.display())),
            ],
            "two data files would be at",
        ),
        (vec![("b", "a2.ndf".into())], "would be at"),
        (vec![("b", "refdb.location".into())], "plain file name"),
        (
            vec![("a", "a-x.ndf".into()), ("A", "a-y.ndf".into())],
            "moved twice",
        ),
        (vec![("a", "../nodir/a.ndf".into())], "does not exist"),
        (vec![("a", "sub/a.ndf".into())], "plain file name"),
        (
            vec![("a", "../elsewhere/./a.ndf".into())],
            "not a usable path",
        ),
    ];
    for (moves, why) in cases {
        let e = refused(env.restore_with(&d, &full, &mv(&moves, false)));
        assert!(e.contains(why), "{moves:?}: {e}");
        assert!(!d.exists(), "{moves:?} left {}", d.display());
        let left: Vec<_> = std::fs::read_dir(&elsewhere).unwrap().collect();
        assert!(left.is_empty(), "{moves:?} left {left:?}");
    }
    // A file at the target stays as it was without REPLACE.
    let kept = elsewhere.join("kept.ndf");
    std::fs::write(&kept, b"the user's file").unwrap();
    let e = refused(env.restore_with(
        &d,
        &full,
        &mv(&[("a", abs_a.replace("a-moved", "kept"))], false),
    ));
    assert!(e.contains("exists: use REPLACE"), "{e}");
    assert_eq!(std::fs::read(&kept).unwrap(), b"the user's file");
    // A link planted at the target is replaced, never written through (REPLACE).
    let victim = root.join("victim");
    std::fs::write(&victim, b"not a data file").unwrap();
    std::os::unix::fs::symlink(&victim, elsewhere.join("a2.ndf")).unwrap();

    // Full (a absolute, a2 relative outside, b renamed inside), differential, log.
    let moves = [
        ("a", abs_a.clone()),
        ("a2", "../elsewhere/a2.ndf".to_string()),
        ("b", "b-renamed.ndf".to_string()),
    ];
    env.restore_with(&d, &full, &mv(&moves, true)).unwrap();
    assert_eq!(std::fs::read(&victim).unwrap(), b"not a data file");
    assert!(!std::fs::symlink_metadata(elsewhere.join("a2.ndf"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(std::fs::read(&kept).is_ok());
    // MOVE belongs to the full backup's restore.
    let e = refused(env.restore_with(&d, &diff, &mv(&moves, false)));
    assert!(e.contains("MOVE relocates files when a full backup"), "{e}");
    env.restore(&d, &diff, Recovery::NoRecovery);
    let o = env.restore(&d, &log, Recovery::Recovery);
    assert!(o.recovered);
    for gone in ["a.ndf", "a2.ndf", "b.ndf"] {
        assert!(
            !d.join(gone).exists(),
            "{gone} is in the database directory"
        );
    }
    assert_rows(&d, &want, "moved full + differential + log");

    // The database opens where its files are, and takes writes.
    let db = Database::open(&d).unwrap();
    let paths: BTreeMap<String, PathBuf> = db
        .data_files()
        .unwrap()
        .into_iter()
        .map(|f| (f.logical_name, f.path))
        .collect();
    assert_eq!(paths["a"], PathBuf::from(&abs_a));
    assert_eq!(paths["a2"], d.join("../elsewhere/a2.ndf"));
    assert_eq!(paths["b"], d.join("b-renamed.ndf"));
    assert_eq!(paths["primary"], d.join("primary.mdf"));
    env.load(&db, "w", 30);
    let after = env.backup(&db, BackupType::Full);
    db.close().unwrap();
    assert_rows(&d, &env.rows, "moved database after writes");

    // A backup of the moved database, restored without MOVE: the files come back into the
    // database directory.
    let back = root.join("back");
    env.restore(&back, &after, Recovery::Recovery);
    for f in ["a.ndf", "a2.ndf", "b.ndf"] {
        assert!(back.join(f).is_file(), "{f} not in {}", back.display());
    }
    assert_rows(
        &back,
        &env.rows,
        "backup of the moved database, restored in place",
    );
}

/// Every file of a directory and its bytes (to show that a refused restore changed nothing).
fn snapshot(dirs: &[&Path]) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    for d in dirs {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_file() {
                out.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

#[test]
fn move_relocates_the_primary_file_and_the_log_through_a_whole_sequence() {
    let tmp = tempfile::tempdir().unwrap();
    let db_dir = tmp.path().join("sales");
    let (db, mut env) = create(tmp, &db_dir, &[("a", "a2")]);
    env.load(&db, "k", 80);
    let full = env.backup(&db, BackupType::Full);
    env.load(&db, "d", 30);
    let diff = env.backup(&db, BackupType::Differential);
    let mut changes = Vec::new();
    for g in GROUPS {
        for i in (0..80).step_by(4) {
            let v = (i % 3 != 0).then(|| format!("{g}-updated-{i}"));
            changes.push((g, format!("k{i:05}"), v));
        }
    }
    env.commit(&db, changes);
    let log1 = env.backup(&db, BackupType::Log);
    env.load(&db, "l", 20);
    // A boot record change in the log: redo must keep the moved paths.
    db.set_recovery_model(RecoveryModel::BulkLogged).unwrap();
    db.set_recovery_model(RecoveryModel::Full).unwrap();
    let log2 = env.backup(&db, BackupType::Log);
    db.close().unwrap();
    let want = env.rows.clone();

    let root = env.tmp.path().to_path_buf();
    let disk2 = root.join("disk2");
    std::fs::create_dir(&disk2).unwrap();
    let d = root.join("moved");
    let mv = |moves: &[(&str, String)], recovery: Recovery, replace: bool| RestoreOptions {
        recovery,
        replace,
        moves: moves
            .iter()
            .map(|(l, p)| (l.to_string(), p.clone()))
            .collect(),
        ..Default::default()
    };
    let abs = |n: &str| disk2.join(n).to_str().unwrap().to_string();

    // Refusals, each leaving nothing behind.
    std::fs::write(disk2.join("taken.ldf"), b"the user's").unwrap();
    let other_primary = disk2.join("other.mdf");
    std::fs::copy(db_dir.join("primary.mdf"), &other_primary).unwrap();
    let other_log = disk2.join("other.ldf");
    std::fs::copy(db_dir.join("log.ldf"), &other_log).unwrap();
    let before = snapshot(&[&disk2, &db_dir]);
    type Case<'a> = (Vec<(&'a str, String)>, bool, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec![("LOG", "../disk2/taken.ldf".into())],
            false,
            "exists: use REPLACE",
        ),
        (
            vec![("primary", abs("same")), ("log", "../disk2/same".into())],
            false,
            "would be at",
        ),
        (vec![("log", "primary.mdf".into())], false, "would be at"),
        (vec![("primary", "a2.ndf".into())], false, "would be at"),
        (
            vec![("log", "../nodir/log.ldf".into())],
            false,
            "does not exist",
        ),
        (
            vec![("primary", d.join("p.mdf").to_str().unwrap().into())],
            true,
            "in the database directory",
        ),
        (
            vec![("log", "../sales/elsewhere.ldf".into())],
            true,
            "directory of database sales",
        ),
        (
            vec![("primary", other_primary.to_str().unwrap().into())],
            true,
            "is a data file of database",
        ),
        (
            vec![("log", other_log.to_str().unwrap().into())],
            true,
            "is a data file of database",
        ),
        (vec![("log", "refdb.lock".into())], false, "plain file name"),
    ];
    for (moves, replace, why) in cases {
        let e = refused(env.restore_with(&d, &full, &mv(&moves, Recovery::NoRecovery, replace)));
        assert!(e.contains(why), "{moves:?}: {e}");
        assert!(!d.exists(), "{moves:?} left {}", d.display());
        assert_eq!(
            snapshot(&[&disk2, &db_dir]),
            before,
            "{moves:?} changed files"
        );
    }
    // A link planted at the log's target is replaced (REPLACE), never written through.
    let victim = root.join("victim");
    std::fs::write(&victim, b"not a log").unwrap();
    std::os::unix::fs::symlink(&victim, disk2.join("log.ldf")).unwrap();

    // Full: the primary (absolute) and the log (relative, outside) on disk2, a renamed
    // inside; then the differential, the first log WITH STANDBY, the last one WITH RECOVERY.
    let moves = [
        ("primary", abs("sales.mdf")),
        ("log", "../disk2/log.ldf".to_string()),
        ("a", "a-renamed.ndf".to_string()),
    ];
    env.restore_with(&d, &full, &mv(&moves, Recovery::NoRecovery, true))
        .unwrap();
    assert_eq!(std::fs::read(&victim).unwrap(), b"not a log");
    assert!(std::fs::symlink_metadata(disk2.join("log.ldf"))
        .unwrap()
        .file_type()
        .is_file());
    for gone in ["primary.mdf", "log.ldf", "a.ndf"] {
        assert!(
            !d.join(gone).exists(),
            "{gone} is in the database directory"
        );
    }
    assert!(d.join("refdb.location").is_file());
    env.restore(&d, &diff, Recovery::NoRecovery);
    let undo = root.join("sales.undo");
    env.restore(&d, &log1, Recovery::Standby(undo.clone()));
    // In standby the log is the recovered one; leaving standby puts the restoring log back
    // where it is, and the next log continues it.
    let o = env.restore(&d, &log2, Recovery::Recovery);
    assert!(o.recovered);
    for gone in ["primary.mdf", "log.ldf", "a.ndf"] {
        assert!(
            !d.join(gone).exists(),
            "{gone} is in the database directory"
        );
    }
    assert_rows(
        &d,
        &want,
        "primary and log moved: full + differential + logs",
    );

    let db = Database::open(&d).unwrap();
    let paths: BTreeMap<String, PathBuf> = db
        .data_files()
        .unwrap()
        .into_iter()
        .map(|f| (f.logical_name, f.path))
        .collect();
    assert_eq!(paths["primary"], disk2.join("sales.mdf"));
    assert_eq!(paths["a"], d.join("a-renamed.ndf"));
    // A second directory whose location file is a copy of this one's names the same primary
    // and log: it cannot open them while this database is open (its own directory's lock
    // would not stop it; the primary data file's lock does).
    let twin = root.join("twin");
    std::fs::create_dir(&twin).unwrap();
    std::fs::copy(d.join("refdb.location"), twin.join("refdb.location")).unwrap();
    let e = Database::open(&twin)
        .err()
        .expect("a twin opened the open database's files");
    assert!(
        e.to_string()
            .contains("open through another database directory"),
        "{e}"
    );
    std::fs::remove_dir_all(&twin).unwrap();
    env.load(&db, "w", 20);
    let after = env.backup(&db, BackupType::Full);
    env.load(&db, "x", 10);
    let log3 = env.backup(&db, BackupType::Log);
    env.load(&db, "y", 10);
    // The failure: a tail-log backup leaves the moved database restoring.
    let mut tail = BackupOptions::new(BackupType::Log);
    tail.no_truncate = true;
    tail.norecovery = true;
    let tail = env.backup_opts(&db, &tail);
    db.close().unwrap();
    let want2 = env.rows.clone();

    // A backup of the moved database, restored without MOVE: into the directory.
    let back = root.join("back");
    env.restore(&back, &after, Recovery::NoRecovery);
    assert!(back.join("primary.mdf").is_file() && back.join("log.ldf").is_file());
    assert!(!back.join("refdb.location").exists());
    env.restore(&back, &log3, Recovery::NoRecovery);
    env.restore(&back, &tail, Recovery::Recovery);
    assert_rows(
        &back,
        &want2,
        "backup of the moved database restored without MOVE",
    );

    // File restore of filegroup a (moved inside) out of the full of the moved database,
    // then the logs since: into the files where they are.
    let fr = RestoreOptions {
        recovery: Recovery::NoRecovery,
        filegroup: Some("a".into()),
        ..Default::default()
    };
    env.restore_with(&d, &after, &fr).unwrap();
    env.restore(&d, &log3, Recovery::NoRecovery);
    env.restore(&d, &tail, Recovery::Recovery);
    assert!(!d.join("a.ndf").exists() && !d.join("log.ldf").exists());
    assert_rows(&d, &want2, "file restore into the moved database");

    // A damaged location file, and a link planted in its place: refused naming it, and
    // nothing changes.
    let loc = d.join("refdb.location");
    let good = std::fs::read(&loc).unwrap();
    let files = snapshot(&[&disk2]);
    for damage in ["garbage\n", "refdb location 1\nprimary \nlog log.ldf\n"] {
        std::fs::write(&loc, damage).unwrap();
        let e = Database::open(&d)
            .err()
            .expect("a damaged location opened")
            .to_string();
        assert!(e.contains("refdb.location"), "{e}");
        for (lib, replace) in [(&log3, false), (&full, true)] {
            let o = RestoreOptions {
                replace,
                ..Default::default()
            };
            let e = refused(env.restore_with(&d, lib, &o));
            assert!(e.contains("refdb.location"), "{e}");
        }
        assert_eq!(std::fs::read(&loc).unwrap(), damage.as_bytes());
        assert_eq!(snapshot(&[&disk2]), files, "{damage:?}");
    }
    std::fs::remove_file(&loc).unwrap();
    let planted = root.join("planted");
    std::fs::write(&planted, &good).unwrap();
    std::os::unix::fs::symlink(&planted, &loc).unwrap();
    let e = Database::open(&d)
        .err()
        .expect("opened through a link")
        .to_string();
    assert!(
        e.contains("refdb.location") && e.contains("symbolic link"),
        "{e}"
    );
    std::fs::remove_file(&loc).unwrap();
    std::fs::write(&loc, &good).unwrap();
    assert_rows(&d, &want2, "the location put back");
    let _ = after;

    // REPLACE with the same MOVE: the files at the targets are the replaced database's own.
    env.restore_with(&d, &after, &mv(&moves, Recovery::NoRecovery, true))
        .unwrap();
    env.restore(&d, &log3, Recovery::NoRecovery);
    env.restore(&d, &tail, Recovery::Recovery);
    assert_rows(&d, &want2, "replaced with the same MOVE");
    let left: Vec<_> = std::fs::read_dir(&disk2)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "left on disk2: {left:?}");

    // REPLACE of the moved database by a restore without MOVE: its files on disk2 stay
    // where they are (never deleted outside the directory); the new one is in the directory.
    env.restore_with(
        &d,
        &full,
        &RestoreOptions {
            replace: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(d.join("primary.mdf").is_file() && !d.join("refdb.location").exists());
    assert!(disk2.join("sales.mdf").is_file());
}

/// File restore of the primary filegroup into a database whose primary file and log a MOVE put
/// outside its directory (and a data file under another name inside): the restored primary goes
/// where the location file says (under a temporary name beside it, renamed over it), its boot
/// record keeps the paths the database has now, the log is replaced where it is, the other
/// files stay untouched until the recovery, and every row comes back with `check` clean.
#[test]
fn primary_filegroup_restore_into_a_moved_database() {
    let tmp = tempfile::tempdir().unwrap();
    let db_dir = tmp.path().join("sales");
    let (db, mut env) = create(tmp, &db_dir, &[("a", "a2")]);
    env.load(&db, "k", 40);
    let full = env.backup(&db, BackupType::Full);
    db.close().unwrap();
    let root = env.tmp.path().to_path_buf();
    let disk2 = root.join("disk2");
    std::fs::create_dir(&disk2).unwrap();
    let d = root.join("moved");
    let moves: Vec<(String, String)> = vec![
        (
            "primary".into(),
            disk2.join("sales.mdf").to_str().unwrap().into(),
        ),
        ("log".into(), "../disk2/log.ldf".into()),
        ("a".into(), "a-renamed.ndf".into()),
    ];
    let o = RestoreOptions {
        moves,
        ..Default::default()
    };
    env.restore_with(&d, &full, &o).unwrap();
    let db = Database::open(&d).unwrap();
    env.load(&db, "w", 30);
    let after = env.backup(&db, BackupType::Full);
    env.load(&db, "x", 20);
    let mut changes = Vec::new();
    for g in GROUPS {
        for i in (0..30).step_by(3) {
            changes.push((
                g,
                format!("w{i:05}"),
                (i % 2 == 0).then(|| format!("{g}-u{i}")),
            ));
        }
    }
    env.commit(&db, changes);
    let log = env.backup(&db, BackupType::Log);
    env.load(&db, "y", 10);
    let mut tail = BackupOptions::new(BackupType::Log);
    tail.no_truncate = true;
    tail.norecovery = true;
    let tail = env.backup_opts(&db, &tail);
    db.close().unwrap();
    let want = env.rows.clone();
    // The primary file lost: garbage where it is.
    let primary = disk2.join("sales.mdf");
    std::fs::write(&primary, vec![0x33u8; 8192 * 4]).unwrap();
    let others = snapshot(&[&d]);

    let fr = RestoreOptions {
        recovery: Recovery::NoRecovery,
        filegroup: Some("PRIMARY".into()),
        ..Default::default()
    };
    env.restore_with(&d, &after, &fr).unwrap();
    env.restore(&d, &log, Recovery::NoRecovery);
    let now = snapshot(&[&d]);
    for name in ["a-renamed.ndf", "a2.ndf", "b.ndf"] {
        let p = d.join(name);
        assert_eq!(now[&p], others[&p], "{name} touched before the recovery");
    }
    env.restore(&d, &tail, Recovery::Recovery);
    for gone in ["primary.mdf", "log.ldf", "a.ndf"] {
        assert!(
            !d.join(gone).exists(),
            "{gone} is in the database directory"
        );
    }
    let left: Vec<_> = std::fs::read_dir(&disk2)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "left on disk2: {left:?}");
    assert_rows(&d, &want, "primary restored into the moved database");
    let db = Database::open(&d).unwrap();
    let paths: BTreeMap<String, PathBuf> = db
        .data_files()
        .unwrap()
        .into_iter()
        .map(|f| (f.logical_name, f.path))
        .collect();
    assert_eq!(paths["primary"], primary);
    assert_eq!(paths["a"], d.join("a-renamed.ndf"));
    db.close().unwrap();
}
