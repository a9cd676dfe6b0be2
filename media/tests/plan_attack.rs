//! Attacks on the history's inputs and the planner that the other test files do not make.
//! Expected values come from msdb's and RESTORE's definitions, not from the code.

use media::history::msdb_csv;

/// msdb's `backupset.position` counts backup sets on the media from 1, and `RESTORE … WITH
/// FILE = 0` names no set: a 0 or negative position in an export is a bad cell, named.
#[test]
fn msdb_csv_position_below_one_is_refused_by_line_and_column() {
    for bad in ["0", "-1"] {
        let csv = format!("database_name,type,position\nShop,D,{bad}\n");
        let e = msdb_csv::read(csv.as_bytes(), "p.csv").unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("p.csv: line 2: column position: \"{bad}\" is not valid")
        );
    }
    let ok = msdb_csv::read(
        "database_name,type,position\nShop,D,3\n".as_bytes(),
        "p.csv",
    )
    .unwrap();
    assert_eq!(ok[0].position, 3);
}

#[path = "common/synthetic.rs"]
mod synthetic;

use media::history::Lsn;
use media::plan::{plan_database, Target};
use synthetic::{day, Timeline};

fn files(p: &media::plan::Plan) -> Vec<String> {
    p.steps.iter().map(|s| s.files[0].clone()).collect()
}

/// After a restore to a point in time the database lives on in a new recovery fork; the
/// backups of the fork it left (taken before the restore, with higher LSNs) are history. The
/// latest point is the database as it is now: the newest backup's fork, never the abandoned
/// one. (The reference documents: a restore to a point in time starts a new recovery branch;
/// the plan never mixes forks.)
#[test]
fn latest_follows_the_fork_the_database_lives_on_after_a_point_in_time_restore() {
    let mut t = Timeline::new();
    t.full(day(0, 0, 0), "full.bak", false);
    t.log(day(0, 1, 0), "a1.trn");
    t.log(day(0, 2, 0), "a2.trn");
    t.log(day(0, 3, 0), "a3.trn");
    for r in &mut t.recs {
        r.first_recovery_fork_guid = Some("A".into());
        r.last_recovery_fork_guid = Some("A".into());
    }
    // At 04:00 the database was restored (full, a1, a2 STOPAT 01:30) and recovered: fork B
    // begins inside a2's range. Its first log starts where a2 starts, in fork A, and ends in
    // B; LSNs of fork B stay below the abandoned a3's.
    let a2 = t.get("a2.trn").clone();
    let (a2_first, a2_last) = (a2.first_lsn.unwrap().0, a2.last_lsn.unwrap().0);
    let fork_point = (a2_first + a2_last) / 2;
    let mut b1 = a2.clone();
    b1.backup_set_guid = Some("00000000-0000-0000-0000-0000000000B1".into());
    b1.media_set_guid = Some("11111111-0000-0000-0000-0000000000B1".into());
    b1.families[0].media[0].path = "b1.trn".into();
    b1.start = Some(synthetic::at(day(0, 5, 0)));
    b1.finish = b1.start;
    b1.last_lsn = Some(Lsn(fork_point + 100));
    b1.last_recovery_fork_guid = Some("B".into());
    b1.fork_point_lsn = Some(Lsn(fork_point));
    let mut b2 = b1.clone();
    b2.backup_set_guid = Some("00000000-0000-0000-0000-0000000000B2".into());
    b2.media_set_guid = Some("11111111-0000-0000-0000-0000000000B2".into());
    b2.families[0].media[0].path = "b2.trn".into();
    b2.start = Some(synthetic::at(day(0, 6, 0)));
    b2.finish = b2.start;
    b2.first_lsn = b1.last_lsn;
    b2.last_lsn = Some(Lsn(fork_point + 200));
    b2.first_recovery_fork_guid = Some("B".into());
    t.recs.push(b1);
    t.recs.push(b2);
    let p = plan_database(&t.recs, Target::Latest);
    assert!(p.is_valid(), "{:?}", p.problems);
    assert_eq!(files(&p), ["full.bak", "a1.trn", "b1.trn", "b2.trn"]);
    // A point after the restore lies in fork B; a point before it, in fork A.
    let after = synthetic::at(day(0, 5, 30));
    let p = plan_database(&t.recs, Target::At(after));
    assert!(p.is_valid(), "{:?}", p.problems);
    assert_eq!(files(&p), ["full.bak", "a1.trn", "b1.trn", "b2.trn"]);
    assert_eq!(p.steps[3].stopat, Some(after));
    let before = synthetic::at(day(0, 2, 30));
    let p = plan_database(&t.recs, Target::At(before));
    assert!(p.is_valid(), "{:?}", p.problems);
    assert_eq!(files(&p), ["full.bak", "a1.trn", "a2.trn", "a3.trn"]);
    assert_eq!(p.steps[3].stopat, Some(before));
    // A full taken on fork A at 03:30, before the restore: its LSNs are beyond all of fork
    // B's, but it is the abandoned branch's, not the latest point.
    let mut fa = t.get("full.bak").clone();
    fa.backup_set_guid = Some("00000000-0000-0000-0000-0000000000FA".into());
    fa.media_set_guid = Some("11111111-0000-0000-0000-0000000000FA".into());
    fa.families[0].media[0].path = "full_a_0330.bak".into();
    fa.start = Some(synthetic::at(day(0, 3, 30)));
    fa.finish = fa.start;
    let a3_last = t.get("a3.trn").last_lsn.unwrap().0;
    fa.first_lsn = Some(Lsn(a3_last + 10));
    fa.checkpoint_lsn = fa.first_lsn;
    fa.last_lsn = Some(Lsn(a3_last + 20));
    t.recs.push(fa);
    let p = plan_database(&t.recs, Target::Latest);
    assert!(p.is_valid(), "{:?}", p.problems);
    assert_eq!(files(&p), ["full.bak", "a1.trn", "b1.trn", "b2.trn"]);
}

/// Two databases of the same name on two servers (a production server and a test copy
/// created separately: each its own fork from its creation). Neither's backups make the other
/// unrestorable, and no plan takes one's full with the other's logs.
#[test]
fn same_name_on_two_servers_is_planned_without_mixing_or_refusing() {
    let mut prod = Timeline::new();
    prod.full(day(0, 0, 0), "prod_full.bak", false);
    prod.log(day(0, 1, 0), "prod_1.trn");
    prod.log(day(0, 2, 0), "prod_2.trn");
    for r in &mut prod.recs {
        r.server = Some("PROD".into());
        r.first_recovery_fork_guid = Some("P".into());
        r.last_recovery_fork_guid = Some("P".into());
    }
    // The test copy: younger, smaller LSNs... and one full far ahead in LSN.
    let mut test = Timeline::new();
    test.full(day(3, 0, 0), "test_full.bak", false);
    for r in &mut test.recs {
        r.server = Some("TEST".into());
        r.backup_set_guid = Some("22222222-0000-0000-0000-000000000001".into());
        r.media_set_guid = Some("33333333-0000-0000-0000-000000000001".into());
        r.first_recovery_fork_guid = Some("T".into());
        r.last_recovery_fork_guid = Some("T".into());
    }
    let mut all = prod.recs.clone();
    all.extend(test.recs.clone());
    let plans = media::plan::plan_all(&all, None, Target::Latest);
    for p in &plans {
        let f = files(p);
        assert!(p.is_valid(), "{f:?} {:?}", p.problems);
        let prefixes: std::collections::BTreeSet<&str> = f.iter().map(|x| &x[..4]).collect();
        assert_eq!(prefixes.len(), 1, "mixed: {f:?}");
    }
}

/// Runs `job(i)` on `n` threads released at once, `MEDIA_CONCURRENT_OPEN_ROUNDS` times
/// (default 10) with a fresh history path each round (made first when `existing`), and returns
/// the path of each round for checking.
fn at_once(
    n: usize,
    existing: bool,
    job: impl Fn(usize, &std::path::Path) -> Result<(), String> + Send + Sync + 'static,
    check: impl Fn(&std::path::Path),
) {
    let rounds: usize = std::env::var("MEDIA_CONCURRENT_OPEN_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let job = std::sync::Arc::new(job);
    for round in 0..rounds {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("history.db");
        if existing {
            media::history::sqlite::SqliteHistory::open(&path).unwrap();
        }
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(n));
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let (path, barrier, job) = (path.clone(), barrier.clone(), job.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    job(i, &path)
                })
            })
            .collect();
        for h in handles {
            h.join()
                .unwrap()
                .unwrap_or_else(|e| panic!("round {round}: {e}"));
        }
        check(&path);
    }
}

/// Two imports start at once on a history that does not exist yet (two cron jobs, two
/// administrators): both must open it and record, neither may fail on the other's half-made
/// schema ("table media_set already exists").
#[test]
fn concurrent_first_opens_of_a_new_history_all_succeed() {
    use media::history::sqlite::SqliteHistory;
    use media::history::BackupHistory;
    let n = 6;
    at_once(
        n,
        false,
        |i, path| {
            let mut t = Timeline::new();
            t.full(day(0, 0, 0), &format!("full_{i}.bak"), false);
            let mut r = t.recs.remove(0);
            r.backup_set_guid = Some(format!("44444444-0000-0000-0000-{i:012}"));
            r.media_set_guid = Some(format!("55555555-0000-0000-0000-{i:012}"));
            let mut h = SqliteHistory::open(path).map_err(|e| e.to_string())?;
            h.record(&r).map_err(|e| e.to_string())?;
            Ok(())
        },
        |path| {
            let h = SqliteHistory::open(path).unwrap();
            assert_eq!(h.backups(None).unwrap().len(), n);
        },
    );
}

/// Imports running at once into one history (several hosts' jobs feeding a shared catalog):
/// each import waits for the other's transaction instead of failing with "database is
/// locked", and every set is recorded once.
#[test]
fn concurrent_imports_into_one_history_wait_for_each_other() {
    use media::history::sqlite::SqliteHistory;
    use media::history::BackupHistory;
    let mut t = Timeline::new();
    t.full(day(0, 0, 0), "full.bak", false);
    for h in 1..12 {
        t.log(day(0, h, 0), &format!("log_{h}.trn"));
    }
    let recs = std::sync::Arc::new(t.recs);
    let count = recs.len();
    at_once(
        4,
        true,
        move |_, path| {
            let mut h = SqliteHistory::open(path).map_err(|e| e.to_string())?;
            h.record_all(&recs).map_err(|e| e.to_string())?;
            Ok(())
        },
        |path| {
            let h = SqliteHistory::open(path).unwrap();
            assert_eq!(h.backups(None).unwrap().len(), count);
        },
    );
}

/// The recovery model is the database's at the target, not today's: a database in the full
/// model with log backups on Monday, switched to simple on Wednesday, can still be brought to
/// Monday 01:30 with its logs (the reference documents: point-in-time restore needs the full
/// or bulk-logged model *when the logs were taken*). The latest point is under simple.
#[test]
fn the_recovery_model_is_the_one_in_force_at_the_target() {
    use media::history::RecoveryModel;
    let mut t = Timeline::new();
    t.full(day(0, 0, 0), "mon_full.bak", false);
    t.log(day(0, 1, 0), "mon_0100.trn");
    t.log(day(0, 2, 0), "mon_0200.trn");
    for r in &mut t.recs {
        r.recovery_model = Some(RecoveryModel::Full);
    }
    t.full(day(2, 0, 0), "wed_full.bak", false).recovery_model = Some(RecoveryModel::Simple);
    let target = synthetic::at(day(0, 1, 30));
    let p = plan_database(&t.recs, Target::At(target));
    assert!(p.is_valid(), "{:?}", p.problems);
    assert_eq!(files(&p), ["mon_full.bak", "mon_0100.trn", "mon_0200.trn"]);
    assert_eq!(p.steps[2].stopat, Some(target));
    let p = plan_database(&t.recs, Target::Latest);
    assert_eq!(files(&p), ["wed_full.bak"]);
    assert!(p.problems.iter().any(|x| matches!(
        x,
        media::plan::Problem::NoPointInTime {
            simple_recovery: true,
            ..
        }
    )));
}

/// A set without a database name (a damaged or hostile header) cannot be restored by name:
/// `RESTORE DATABASE []` is refused by SQL Server. It is left out with its reason, and no
/// statement is made for it.
#[test]
fn a_set_without_a_database_name_is_left_out_not_scripted() {
    let mut t = Timeline::new();
    t.full(day(0, 0, 0), "noname.bak", false);
    t.log(day(0, 1, 0), "noname.trn");
    for r in &mut t.recs {
        r.database = " ".into();
    }
    let plans = media::plan::plan_all(&t.recs, None, Target::Latest);
    assert_eq!(plans.len(), 1);
    assert!(plans[0].steps.is_empty(), "{:?}", plans[0].steps);
    assert!(plans[0]
        .problems
        .iter()
        .any(|p| p.to_string() == "noname.bak: left out: no database name"));
    let script = media::plan::tsql::script(&plans[0], &[]);
    assert!(!script.contains("RESTORE"), "{script}");
}

/// Database names compare without case, as SQL Server's default (case-insensitive) collations
/// compare them, for every letter: the plans group "Ärger" and "ärger" as one database, so
/// `--database ärger` must find it too.
#[test]
fn database_names_compare_without_case_beyond_ascii() {
    let mut t = Timeline::new();
    t.full(day(0, 0, 0), "full.bak", false);
    for r in &mut t.recs {
        r.database = "Ärger".into();
    }
    let all = media::plan::plan_all(&t.recs, None, Target::Latest);
    assert_eq!(all.len(), 1);
    let one = media::plan::plan_all(&t.recs, Some("ärger"), Target::Latest);
    assert_eq!(one.len(), 1, "--database ärger");
    assert_eq!(files(&one[0]), ["full.bak"]);
}
