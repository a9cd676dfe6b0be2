//! Recovery models: how long the log is kept, what a model switch does to the log backup
//! chain, minimal logging of bulk loads, and the allocation map's change tracking.

use media::engine::db::Options;
use media::engine::{Database, FilegroupSpec, RecoveryModel};

fn opts() -> Options {
    Options {
        checkpoint_every: 256 << 10,
        ..Options::default()
    }
}

fn churn(db: &Database, txns: u32, salt: u32) {
    for t in 0..txns {
        db.run(|x| {
            for i in 0..10u32 {
                let k = format!("key{:05}", (t * 37 + i * 101 + salt) % 3000);
                x.put("PRIMARY", k.as_bytes(), &[b'v'; 100])?;
            }
            Ok(())
        })
        .unwrap();
    }
}

fn make(dir: &std::path::Path, model: RecoveryModel) -> Database {
    Database::create(
        dir,
        "m",
        model,
        &[FilegroupSpec {
            name: "bulk".into(),
            read_only: false,
        }],
    )
    .unwrap();
    Database::open_with(dir, opts()).unwrap()
}

#[test]
fn simple_keeps_the_log_bounded_full_keeps_it_until_a_log_backup() {
    let tmp = tempfile::tempdir().unwrap();
    // Simple: truncated at checkpoints.
    let db = make(&tmp.path().join("simple"), RecoveryModel::Simple);
    let mut max = 0;
    for round in 0..20 {
        churn(&db, 100, round);
        max = max.max(db.log_file_len().unwrap());
    }
    let written = db.info().log_end;
    assert!(
        written > 20 << 20,
        "the workload wrote {written} bytes of log"
    );
    assert!(
        max < 4 << 20,
        "simple: log file reached {max} bytes of {written} written"
    );
    assert!(
        db.note_log_backup(db.info().log_end).is_err(),
        "no log backups under simple"
    );

    // Full, with a log backup chain started by a full backup: nothing is truncated...
    let db = make(&tmp.path().join("full"), RecoveryModel::Full);
    let start = db.info().log_end;
    db.note_full_backup(start).unwrap();
    for round in 0..10 {
        churn(&db, 100, round);
    }
    db.checkpoint().unwrap();
    let i = db.info();
    assert!(
        i.log_start <= start,
        "the log since the full backup is all there"
    );
    let grown = db.log_file_len().unwrap();
    assert!(
        grown >= i.log_end - start,
        "full: {grown} bytes on disk for {} logged",
        i.log_end - start
    );
    // ...until a log backup allows it (at a record boundary only).
    let upto = db.info().log_end;
    assert!(db.note_log_backup(upto - 1).is_err());
    db.note_log_backup(upto).unwrap();
    churn(&db, 1, 0);
    db.checkpoint().unwrap();
    let after = db.log_file_len().unwrap();
    assert!(
        after < grown / 10,
        "after the log backup: {after} bytes (was {grown})"
    );
    assert!(db.info().log_start <= upto);
    // The log kept is readable by LSN range, with commit timestamps.
    let mut commits = 0;
    db.read_log(db.info().log_start, db.info().log_end, |r| {
        if let media::engine::RecordBody::Commit { ts_ms } = r.body {
            assert!(ts_ms > 1_700_000_000_000);
            commits += 1;
        }
        Ok(())
    })
    .unwrap();
    assert!(commits >= 1);
    assert!(
        db.read_log(0, 10, |_| Ok(())).is_err(),
        "truncated LSNs are refused"
    );
}

#[test]
fn full_without_a_full_backup_is_truncated_like_simple_and_switches_follow_the_rules() {
    let tmp = tempfile::tempdir().unwrap();
    let db = make(&tmp.path().join("db"), RecoveryModel::Full);
    // No full backup yet: no chain, so no log backup and the log is truncated at checkpoints.
    assert!(db.note_log_backup(db.info().log_end).is_err());
    for round in 0..8 {
        churn(&db, 100, round);
    }
    assert!(db.log_file_len().unwrap() < 4 << 20);
    db.note_full_backup(db.info().log_end).unwrap();
    let chain = db.info().log_chain_lsn;
    assert!(chain > 0);
    // Full -> bulk-logged -> full keeps the chain.
    db.set_recovery_model(RecoveryModel::BulkLogged).unwrap();
    db.set_recovery_model(RecoveryModel::Full).unwrap();
    assert_eq!(db.info().log_chain_lsn, chain);
    db.note_log_backup(db.info().log_end).unwrap();
    // To simple breaks it; back to full does not restore it until the next full backup.
    db.set_recovery_model(RecoveryModel::Simple).unwrap();
    assert_eq!(db.info().log_chain_lsn, 0);
    db.set_recovery_model(RecoveryModel::Full).unwrap();
    assert!(db.note_log_backup(db.info().log_end).is_err());
    // A differential (on the earlier full backup) restarts the chain as well as a full would.
    db.note_differential_backup(db.info().log_end).unwrap();
    assert!(db.info().log_chain_lsn > chain);
    db.note_log_backup(db.info().log_end).unwrap();
    db.set_recovery_model(RecoveryModel::Simple).unwrap();
    db.set_recovery_model(RecoveryModel::Full).unwrap();
    let fork = db.info().fork_guid;
    assert_eq!(
        db.info().fork_point_lsn,
        0,
        "the fork made at creation has no fork point"
    );
    let point = db.info().log_end;
    let new_fork = db.start_recovery_fork(point).unwrap();
    assert_ne!(fork, new_fork);
    // The model, chain and fork survive a reopen (the boot page is logged like any page).
    drop(db);
    let db = Database::open(&tmp.path().join("db")).unwrap();
    assert_eq!(db.info().model, RecoveryModel::Full);
    assert_eq!(db.info().log_chain_lsn, 0);
    assert_eq!(db.info().fork_guid, new_fork);
    assert_eq!(db.info().fork_point_lsn, point);
}

#[test]
fn bulk_logged_loads_are_minimally_logged_and_marked() {
    let tmp = tempfile::tempdir().unwrap();
    let rows: Vec<(Vec<u8>, Vec<u8>)> = (0..3000u32)
        .map(|i| (format!("row{i:06}").into_bytes(), vec![b'x'; 150]))
        .collect();
    let mut growth = Vec::new();
    for model in [RecoveryModel::Full, RecoveryModel::BulkLogged] {
        let dir = tmp.path().join(model.name());
        let db = make(&dir, model);
        db.note_full_backup(db.info().log_end).unwrap();
        let before = db.info().log_end;
        let pages = db.bulk_load("bulk", &rows).unwrap();
        assert!(pages > 50);
        growth.push(db.info().log_end - before);
        let marked = db.bulk_changed_extents().unwrap();
        if model == RecoveryModel::BulkLogged {
            assert!(
                !marked.is_empty() && marked.iter().all(|(f, _)| *f == 2),
                "{marked:?}"
            );
            db.note_log_backup(db.info().log_end).unwrap();
            assert!(
                db.bulk_changed_extents().unwrap().is_empty(),
                "a log backup clears the marks"
            );
        } else {
            assert!(marked.is_empty());
        }
        let e = db.bulk_load("bulk", &rows[..1]).unwrap_err().to_string();
        assert!(e.contains("already in the table"), "{e}");
        drop(db);
        let db = Database::open(&dir).unwrap();
        let r = db.check().unwrap();
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        assert_eq!(r.rows, rows.len() as u64);
        assert_eq!(db.get("bulk", b"row002999").unwrap(), Some(vec![b'x'; 150]));
    }
    let (full, bulk) = (growth[0], growth[1]);
    assert!(full > 3000 * 150, "full logs the pages: {full}");
    assert!(
        bulk * 20 < full,
        "bulk-logged logs allocations only: {bulk} vs {full}"
    );
}

#[test]
fn the_allocation_map_answers_changed_since() {
    let tmp = tempfile::tempdir().unwrap();
    let db = make(&tmp.path().join("db"), RecoveryModel::Full);
    churn(&db, 200, 0);
    let base = db.info().log_end;
    db.checkpoint().unwrap();
    let all = db.changed_extents(0).unwrap();
    assert!(all.len() >= 2, "{all:?}");
    assert!(db.changed_extents(db.info().log_end).unwrap().is_empty());
    // One row in the other filegroup: only that file's extents change.
    db.run(|t| t.put("bulk", b"one", b"row")).unwrap();
    let changed = db.changed_extents(base).unwrap();
    assert!(
        !changed.is_empty() && changed.iter().all(|(f, _)| *f == 2),
        "{changed:?}"
    );
    // It survives a reopen (the map is on disk).
    drop(db);
    let db = Database::open(&tmp.path().join("db")).unwrap();
    assert_eq!(db.changed_extents(base).unwrap(), changed);
}
