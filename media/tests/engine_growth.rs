//! Data files that grow past many allocation maps, and filegroups of several files: the check,
//! crash recovery and the changed-extent questions of differential and log backups, with the
//! map interval made small (1 or 2 extents) so that small databases cross many maps.
//!
//! The expected changed extents are computed from the files' bytes by the documented layout
//! (page LSN at bytes 12..20 of each 8 KiB page; allocation maps at page `k × interval + 1`),
//! not by asking the engine.

mod common;
use common::model_digest;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use media::engine::db::{CreateOptions, DataFileSpec, Options};
use media::engine::{Database, FilegroupSpec, RecoveryModel};

type Model = BTreeMap<(String, Vec<u8>), Vec<u8>>;

fn opts() -> Options {
    Options {
        pool_pages: 16,
        checkpoint_every: 128 << 10,
        ..Options::default()
    }
}

fn spec(s: &str) -> DataFileSpec {
    s.parse().unwrap()
}

fn create(dir: &Path, model: RecoveryModel, map_extents: u32) -> Database {
    let fgs = [FilegroupSpec {
        name: "sales".into(),
        read_only: false,
    }];
    let co = CreateOptions {
        files: vec![
            spec("PRIMARY:primary2"),
            spec("sales:sales2"),
            spec("sales:sales3"),
        ],
        map_extents,
    };
    Database::create_with(dir, "grow", model, &fgs, &co).unwrap();
    Database::open_with(dir, opts()).unwrap()
}

/// Every page's LSN, per (file id, page), read from the files.
fn page_lsns(db: &Database) -> BTreeMap<(u16, u32), u64> {
    let mut out = BTreeMap::new();
    for f in db.data_files().unwrap() {
        let bytes = std::fs::read(&f.path).unwrap();
        for (no, p) in bytes.chunks(8192).enumerate() {
            out.insert(
                (f.id, no as u32),
                u64::from_le_bytes(p[12..20].try_into().unwrap()),
            );
        }
    }
    out
}

/// The extents holding a page (not an allocation map) whose LSN is after `since`.
fn expected_changed(db: &Database, since: u64, interval_pages: u32) -> Vec<(u16, u32)> {
    let set: BTreeSet<(u16, u32)> = page_lsns(db)
        .into_iter()
        .filter(|((_, no), lsn)| no % interval_pages != 1 && *lsn > since)
        .map(|((f, no), _)| (f, no / 8))
        .collect();
    set.into_iter().collect()
}

fn value(k: u32, salt: u8) -> Vec<u8> {
    vec![(b'a' + (k % 26) as u8) ^ salt; 150 + (k % 7) as usize * 20]
}

fn put_rows(db: &Database, m: &mut Model, fg: &str, keys: std::ops::Range<u32>, salt: u8) {
    let keys: Vec<u32> = keys.collect();
    for chunk in keys.chunks(40) {
        db.run(|t| {
            for k in chunk {
                let key = format!("k{k:06}");
                t.put(fg, key.as_bytes(), &value(*k, salt))?;
            }
            Ok(())
        })
        .unwrap();
        for k in chunk {
            m.insert(
                (fg.to_string(), format!("k{k:06}").into_bytes()),
                value(*k, salt),
            );
        }
    }
}

#[test]
fn a_database_grown_past_many_maps_checks_survives_a_crash_and_reports_changed_extents() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    // One extent per map: 8 pages per interval.
    let db = create(&dir, RecoveryModel::Full, 1);
    let mut m = Model::new();
    put_rows(&db, &mut m, "PRIMARY", 0..1500, 0);
    put_rows(&db, &mut m, "sales", 0..2400, 1);
    let r = db.check().unwrap();
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    assert_eq!(r.digest, model_digest(&m, &["PRIMARY", "sales"]));
    // Every file grew past two maps, and the filegroups' pages are spread over their files.
    let files = db.data_files().unwrap();
    let names: Vec<(u16, &str, &str)> = files
        .iter()
        .map(|f| (f.id, f.logical_name.as_str(), f.filegroup.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            (1, "primary", "PRIMARY"),
            (2, "sales", "sales"),
            (3, "primary2", "PRIMARY"),
            (4, "sales2", "sales"),
            (5, "sales3", "sales"),
        ]
    );
    for f in &files {
        assert!(
            f.pages > 2 * 8 + 1,
            "{} has {} pages",
            f.logical_name,
            f.pages
        );
        assert!(f.path.ends_with(if f.id == 1 {
            "primary.mdf".to_string()
        } else {
            format!("{}.ndf", f.logical_name)
        }));
    }

    // A differential's question after a checkpoint: changes to some rows.
    db.checkpoint().unwrap();
    let since = db.info().log_end;
    assert!(db.changed_extents(since).unwrap().is_empty());
    put_rows(&db, &mut m, "sales", 300..340, 2);
    put_rows(&db, &mut m, "PRIMARY", 650..660, 3);
    db.check().unwrap();
    let want = expected_changed(&db, since, 8);
    assert!(
        want.iter().map(|e| e.0).collect::<BTreeSet<_>>().len() >= 2,
        "the changes touch several files: {want:?}"
    );
    assert_eq!(db.changed_extents(since).unwrap(), want);
    // Since the start: every extent with a page in use.
    let all = db.changed_extents(0).unwrap();
    assert_eq!(all, expected_changed(&db, 0, 8));

    // A crash: committed work (growing the files further) and an unfinished transaction.
    put_rows(&db, &mut m, "sales", 2400..2800, 4);
    let mut t = db.begin();
    for k in 0..200u32 {
        t.put("PRIMARY", format!("u{k:05}").as_bytes(), &[b'x'; 300])
            .unwrap();
    }
    std::mem::forget(t);
    db.abandon();
    let db = Database::open_with(&dir, opts()).unwrap();
    assert_eq!(db.recovery_report().undone_txns, 1);
    let r = db.check().unwrap();
    for fg in ["PRIMARY", "sales"] {
        let (rows, _) = db.run(|t| t.scan(fg, None, None)).unwrap();
        let want: Vec<(Vec<u8>, Vec<u8>)> = m
            .iter()
            .filter(|((g, _), _)| g == fg)
            .map(|((_, k), v)| (k.clone(), v.clone()))
            .collect();
        let missing: Vec<String> = want
            .iter()
            .filter(|r| !rows.contains(r))
            .map(|r| String::from_utf8_lossy(&r.0).into_owned())
            .take(5)
            .collect();
        let extra: Vec<String> = rows
            .iter()
            .filter(|r| !want.contains(r))
            .map(|r| String::from_utf8_lossy(&r.0).into_owned())
            .take(5)
            .collect();
        assert_eq!(
            rows.len(),
            want.len(),
            "{fg}: missing {missing:?} extra {extra:?} {:?}",
            db.recovery_report()
        );
    }
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    assert_eq!(r.digest, model_digest(&m, &["PRIMARY", "sales"]));
    assert_eq!(
        db.changed_extents(since).unwrap(),
        expected_changed(&db, since, 8)
    );
    db.close().unwrap();
}

#[test]
fn bulk_changed_extents_span_every_map_and_file_and_a_log_backup_clears_them() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let db = create(&dir, RecoveryModel::BulkLogged, 2);
    db.note_full_backup(db.info().log_end).unwrap();
    let rows: Vec<(Vec<u8>, Vec<u8>)> = (0..3000u32)
        .map(|i| (format!("b{i:06}").into_bytes(), vec![b'q'; 120]))
        .collect();
    let pages = db.bulk_load("sales", &rows).unwrap();
    assert!(pages > 50, "{pages}");
    db.check().unwrap();
    // The loaded pages other than the root (logged whole) are the bulk-changed ones.
    let mut want = BTreeSet::new();
    for f in db.data_files().unwrap() {
        if f.filegroup != "sales" {
            continue;
        }
        let bytes = std::fs::read(&f.path).unwrap();
        for (no, p) in bytes.chunks(8192).enumerate() {
            let tree_page = p[4] == 3 || p[4] == 4;
            if tree_page && !(f.id == 2 && no == 2) {
                want.insert((f.id, no as u32 / 8));
            }
        }
    }
    let got = db.bulk_changed_extents().unwrap();
    assert_eq!(got, want.into_iter().collect::<Vec<_>>());
    assert_eq!(
        got.iter().map(|e| e.0).collect::<BTreeSet<_>>(),
        BTreeSet::from([2, 4, 5]),
        "all of sales' files"
    );
    assert!(got.iter().any(|e| e.1 >= 4), "past the second map: {got:?}");
    // The marks survive a crash, and a log backup clears them.
    db.abandon();
    let db = Database::open_with(&dir, opts()).unwrap();
    assert_eq!(db.bulk_changed_extents().unwrap(), got);
    let r = db.check().unwrap();
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    assert_eq!(r.rows, 3000);
    db.note_log_backup(db.info().log_end).unwrap();
    assert!(db.bulk_changed_extents().unwrap().is_empty());
    db.abandon();
    let db = Database::open_with(&dir, opts()).unwrap();
    assert!(db.bulk_changed_extents().unwrap().is_empty());
    db.close().unwrap();
}

#[test]
fn a_damaged_later_map_is_reported_by_the_check() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let db = create(&dir, RecoveryModel::Simple, 1);
    let mut m = Model::new();
    put_rows(&db, &mut m, "sales", 0..2400, 0);
    db.close().unwrap();
    // Map of interval 2 of sales2.ndf: page 17.
    let p = dir.join("sales2.ndf");
    let mut bytes = std::fs::read(&p).unwrap();
    assert!(bytes.len() > 18 * 8192);
    bytes[17 * 8192 + 100] ^= 0xff;
    std::fs::write(&p, &bytes).unwrap();
    let db = Database::open_with(&dir, opts()).unwrap();
    let r = db.check().unwrap();
    assert!(
        r.problems.iter().any(|s| s.contains("sales2.ndf: page 17")),
        "{:?}",
        r.problems
    );
}

#[test]
fn bad_file_specs_are_refused_before_anything_is_made() {
    let tmp = tempfile::tempdir().unwrap();
    for (files, extents, why) in [
        (vec!["nosuch:x"], 880, "no filegroup"),
        (vec!["PRIMARY:sales"], 880, "repeats"),
        (vec!["PRIMARY:a", "sales:A"], 880, "repeats"),
        (vec!["PRIMARY:../x"], 880, "bad logical file name"),
        (vec![], 0, "interval"),
        (vec![], 881, "interval"),
    ] {
        let dir = tmp.path().join("d");
        let co = CreateOptions {
            files: files.iter().map(|s| spec(s)).collect(),
            map_extents: extents,
        };
        let fgs = [FilegroupSpec {
            name: "sales".into(),
            read_only: false,
        }];
        let e = Database::create_with(&dir, "x", RecoveryModel::Full, &fgs, &co)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains(why), "{files:?}: {e}");
        assert!(!dir.exists(), "{files:?}: nothing made");
    }
    assert!("nocolon".parse::<DataFileSpec>().is_err());
}

/// By hand: `REFDB_BIG_MIB=220 cargo test -p media --test engine_growth -- --ignored
/// --nocapture`: a real database of that size at the default interval (one map per 55 MiB),
/// two files in PRIMARY; check, crash with an unfinished transaction, recover, check, and the
/// changed extents against the files' bytes.
#[test]
#[ignore = "slow: run by hand with REFDB_BIG_MIB"]
fn a_real_file_grows_past_several_maps() {
    let mib: u64 = std::env::var("REFDB_BIG_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(220);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let co = CreateOptions {
        files: vec![spec("PRIMARY:primary2")],
        ..CreateOptions::default()
    };
    Database::create_with(&dir, "big", RecoveryModel::Simple, &[], &co).unwrap();
    let o = Options {
        checkpoint_every: 64 << 20,
        pool_pages: 2048,
        ..Options::default()
    };
    let db = Database::open_with(&dir, o.clone()).unwrap();
    let started = std::time::Instant::now();
    let mut m = Model::new();
    let mut k = 0u32;
    let size = |db: &Database| {
        db.data_files()
            .unwrap()
            .iter()
            .map(|f| f.pages * 8192)
            .sum::<u64>()
    };
    while size(&db) < mib << 20 {
        db.run(|t| {
            for i in k..k + 500 {
                t.put("PRIMARY", format!("k{i:08}").as_bytes(), &[b'v'; 2000])?;
            }
            Ok(())
        })
        .unwrap();
        for i in k..k + 500 {
            m.insert(
                ("PRIMARY".into(), format!("k{i:08}").into_bytes()),
                vec![b'v'; 2000],
            );
        }
        k += 500;
        if k % 20_000 == 0 {
            db.checkpoint().unwrap();
        }
    }
    db.checkpoint().unwrap();
    eprintln!(
        "{} rows, {} MiB of data files in {:?}",
        k,
        size(&db) >> 20,
        started.elapsed()
    );
    let since = db.info().log_end;
    put_rows(&db, &mut m, "PRIMARY", 0..200, 9);
    let r = db.check().unwrap();
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    let want = expected_changed(&db, since, 880 * 8);
    assert_eq!(db.changed_extents(since).unwrap(), want);
    let mut t = db.begin();
    for i in 0..300u32 {
        t.put("PRIMARY", format!("z{i:05}").as_bytes(), &[b'x'; 1500])
            .unwrap();
    }
    // The unfinished transaction's pages and log reach the disk (a checkpoint), then a crash.
    db.checkpoint().unwrap();
    put_rows(&db, &mut m, "PRIMARY", 200..300, 7);
    std::mem::forget(t);
    db.abandon();
    let t0 = std::time::Instant::now();
    let db = Database::open_with(&dir, o).unwrap();
    eprintln!("recovery {:?}: {:?}", t0.elapsed(), db.recovery_report());
    assert_eq!(db.recovery_report().undone_txns, 1);
    let r = db.check().unwrap();
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    assert_eq!(r.digest, model_digest(&m, &["PRIMARY"]));
    assert_eq!(
        db.changed_extents(since).unwrap(),
        expected_changed(&db, since, 880 * 8)
    );
    for f in db.data_files().unwrap() {
        eprintln!(
            "{} {} pages ({} maps)",
            f.logical_name,
            f.pages,
            f.pages.div_ceil(880 * 8)
        );
    }
    eprintln!(
        "check: {} pages, {} rows, total {:?}",
        r.pages,
        r.rows,
        started.elapsed()
    );
}

#[test]
fn bulk_loads_into_a_non_empty_table_merge_survive_crashes_and_reuse_freed_pages() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    create(&dir, RecoveryModel::BulkLogged, 1).close().unwrap();
    // No checkpoint after the open: every record is in the redo range at the crash, among
    // them changes to pages the loads free and reuse.
    let no_ckpt = Options {
        checkpoint_every: 1 << 40,
        ..opts()
    };
    let db = Database::open_with(&dir, no_ckpt).unwrap();
    db.note_full_backup(db.info().log_end).unwrap();
    let mut m = Model::new();
    put_rows(&db, &mut m, "sales", 0..600, 0);
    let load = |m: &mut Model, db: &Database, keys: std::ops::Range<u32>, step: u32| {
        let rows: Vec<(Vec<u8>, Vec<u8>)> = keys
            .step_by(step as usize)
            .map(|k| (format!("k{k:06}b").into_bytes(), value(k, 5)))
            .collect();
        for (k, v) in &rows {
            m.insert(("sales".into(), k.clone()), v.clone());
        }
        db.bulk_load("sales", &rows).unwrap()
    };
    // Keys between the existing ones: the table is rebuilt around them.
    assert!(load(&mut m, &db, 0..600, 3) > 20);
    let r = db.check().unwrap();
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    assert_eq!(r.digest, model_digest(&m, &["PRIMARY", "sales"]));
    // More changes, then a second load that reuses the pages the first one freed.
    put_rows(&db, &mut m, "sales", 100..200, 6);
    load(&mut m, &db, 1..600, 3);
    db.abandon();
    let db = Database::open_with(&dir, opts()).unwrap();
    let r = db.check().unwrap();
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    assert_eq!(r.digest, model_digest(&m, &["PRIMARY", "sales"]));
    // A key already there is refused, and so is a load while a transaction is in flight;
    // neither changes anything.
    let e = db
        .bulk_load("sales", &[(b"k000001".to_vec(), b"v".to_vec())])
        .unwrap_err();
    assert!(e.to_string().contains("already in the table"), "{e}");
    let mut t = db.begin();
    t.put("PRIMARY", b"busy", b"1").unwrap();
    let e = db
        .bulk_load("sales", &[(b"zz".to_vec(), b"v".to_vec())])
        .unwrap_err();
    assert!(e.to_string().contains("in flight"), "{e}");
    t.rollback().unwrap();
    let r = db.check().unwrap();
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    assert_eq!(r.digest, model_digest(&m, &["PRIMARY", "sales"]));
    db.close().unwrap();
}
