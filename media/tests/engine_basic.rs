//! The engine's transactions, splits, rollback, reopen and check, against a BTreeMap model.

mod common;
use common::model_digest;

use std::collections::BTreeMap;

use media::engine::{Database, FilegroupSpec, RecoveryModel};

#[test]
fn commit_rollback_split_reopen_and_check() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("db");
    let fgs = [FilegroupSpec {
        name: "sales".into(),
        read_only: false,
    }];
    let db = Database::create(&d, "test", RecoveryModel::Full, &fgs).unwrap();
    let mut model = BTreeMap::new();
    // Enough rows to split leaves and interior nodes several times.
    for batch in 0..20u32 {
        let mut t = db.begin();
        for i in 0..200u32 {
            let k = format!("key{:06}", (i * 7919 + batch * 31) % 5000);
            let v = format!("value-{batch}-{i}-{}", "x".repeat((i % 50) as usize));
            let fg = if i % 3 == 0 { "sales" } else { "PRIMARY" };
            t.put(fg, k.as_bytes(), v.as_bytes()).unwrap();
            model.insert((fg.to_string(), k.into_bytes()), v.into_bytes());
        }
        t.commit().unwrap();
    }
    // A rolled-back transaction leaves nothing, including its deletes.
    let mut t = db.begin();
    for ((fg, k), _) in model.iter().take(300) {
        t.delete(fg, k).unwrap();
    }
    t.put("PRIMARY", b"ghost", b"boo").unwrap();
    t.rollback().unwrap();
    // Deletes that commit.
    let gone: Vec<_> = model.keys().step_by(5).cloned().collect();
    db.run(|t| {
        for (fg, k) in &gone {
            t.delete(fg, k)?;
        }
        Ok(())
    })
    .unwrap();
    for k in &gone {
        model.remove(k);
    }
    let r = db.check().unwrap();
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    assert_eq!(r.rows, model.len() as u64);
    assert_eq!(r.digest, model_digest(&model, &["PRIMARY", "sales"]));
    assert_eq!(db.get("PRIMARY", b"ghost").unwrap(), None);
    drop(db);
    let db = Database::open(&d).unwrap();
    let r = db.check().unwrap();
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    assert_eq!(r.digest, model_digest(&model, &["PRIMARY", "sales"]));
    let mut t = db.begin();
    let scanned = t.scan("sales", None, None).unwrap();
    let want: Vec<_> = model
        .iter()
        .filter(|((g, _), _)| g == "sales")
        .map(|((_, k), v)| (k.clone(), v.clone()))
        .collect();
    assert_eq!(scanned, want);
    t.commit().unwrap();
}

#[test]
fn bad_directories_and_read_only_filegroups_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    assert!(Database::open(dir.path()).is_err());
    std::fs::write(dir.path().join("primary.mdf"), b"not a database").unwrap();
    std::fs::write(dir.path().join("log.ldf"), b"nor a log").unwrap();
    let e = Database::open(dir.path()).err().unwrap().to_string();
    assert!(e.contains("primary.mdf"), "{e}");
    let d = dir.path().join("db");
    let fgs = [FilegroupSpec {
        name: "archive".into(),
        read_only: true,
    }];
    let db = Database::create(&d, "t", RecoveryModel::Simple, &fgs).unwrap();
    let mut t = db.begin();
    assert!(t.put("archive", b"k", b"v").is_err());
    assert!(t.put("nosuch", b"k", b"v").is_err());
    t.commit().unwrap();
    assert!(
        Database::open(&d).is_err(),
        "a second open while the first holds the lock"
    );
    drop(db);
    assert!(
        Database::create(&d, "t", RecoveryModel::Simple, &[]).is_err(),
        "never overwrites"
    );
}

#[test]
fn a_torn_boot_page_is_rebuilt_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("db");
    let db = Database::create(&d, "boot", RecoveryModel::Full, &[]).unwrap();
    db.run(|t| t.put("PRIMARY", b"a", b"1")).unwrap();
    // A model switch rewrites the boot page (logged as its image), then a crash.
    db.set_recovery_model(RecoveryModel::Simple).unwrap();
    db.run(|t| t.put("PRIMARY", b"b", b"2")).unwrap();
    db.abandon();
    // The crash tore the boot page's write: its first half is garbage.
    let p = d.join("primary.mdf");
    let mut bytes = std::fs::read(&p).unwrap();
    bytes[100..4096].fill(0xA5);
    std::fs::write(&p, &bytes).unwrap();
    let db = Database::open(&d).unwrap();
    assert!(db
        .recovery_report()
        .repaired_pages
        .contains(&media::engine::PageId { file: 1, page: 0 }));
    assert_eq!(db.info().model, RecoveryModel::Simple);
    assert_eq!(db.get("PRIMARY", b"b").unwrap(), Some(b"2".to_vec()));
    assert!(db.check().unwrap().problems.is_empty());
}

#[test]
fn an_abandoned_transaction_is_rolled_back_by_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("db");
    let db = Database::create(&d, "undo", RecoveryModel::Full, &[]).unwrap();
    db.run(|t| t.put("PRIMARY", b"keep", b"yes")).unwrap();
    let mut t = db.begin();
    for i in 0..500u32 {
        t.put("PRIMARY", format!("tmp{i:04}").as_bytes(), &[b'z'; 300])
            .unwrap();
    }
    t.put("PRIMARY", b"keep", b"no").unwrap();
    // Make the uncommitted changes reach the disk (steal), then crash.
    db.checkpoint().unwrap();
    std::mem::forget(t);
    db.abandon();
    let db = Database::open(&d).unwrap();
    assert_eq!(db.recovery_report().undone_txns, 1);
    let r = db.check().unwrap();
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    assert_eq!(r.rows, 1);
    assert_eq!(db.get("PRIMARY", b"keep").unwrap(), Some(b"yes".to_vec()));
}

/// Damaged files of every kind give errors or reported problems, never a panic or a hang.
#[test]
fn damaged_files_give_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let pristine = dir.path().join("pristine");
    let fgs = [FilegroupSpec {
        name: "two".into(),
        read_only: false,
    }];
    let db = Database::create(&pristine, "hostile", RecoveryModel::Full, &fgs).unwrap();
    for b in 0..30u32 {
        db.run(|t| {
            for i in 0..40u32 {
                let k = format!("k{:05}", (b * 977 + i * 13) % 3000);
                t.put(
                    if i % 2 == 0 { "PRIMARY" } else { "two" },
                    k.as_bytes(),
                    &[b'q'; 60],
                )?;
            }
            Ok(())
        })
        .unwrap();
    }
    // Leave work for recovery: an unfinished transaction and unflushed pages.
    let mut t = db.begin();
    t.put("PRIMARY", b"loser", b"x").unwrap();
    std::mem::forget(t);
    db.abandon();
    let files = ["primary.mdf", "two.ndf", "log.ldf"];
    let mut seed = 0x1234_5678_9abc_def0u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..60 {
        let d = dir.path().join(format!("r{round}"));
        std::fs::create_dir(&d).unwrap();
        for f in files {
            std::fs::copy(pristine.join(f), d.join(f)).unwrap();
        }
        let f = files[(next() % 3) as usize];
        let mut bytes = std::fs::read(d.join(f)).unwrap();
        let len = bytes.len() as u64;
        for _ in 0..1 + next() % 8 {
            // Half the hits land in the first 64 bytes of a page (headers, counts, lengths).
            let off = if next() % 2 == 0 {
                (next() % (len / 8192).max(1)) * 8192 + next() % 64
            } else {
                next() % len
            };
            if let Some(b) = bytes.get_mut(off as usize) {
                *b = next() as u8;
            }
        }
        if next() % 4 == 0 {
            bytes.truncate((next() % len) as usize);
        }
        std::fs::write(d.join(f), &bytes).unwrap();
        if let Ok(db) = Database::open(&d) {
            let _ = db.check();
            let mut t = db.begin();
            let _ = t.scan("PRIMARY", None, None);
            let _ = t.put("two", b"after", b"damage");
            let _ = t.commit();
        }
    }
}

#[test]
fn concurrent_commits_share_fsyncs_and_all_land() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("db");
    let db = Database::create(&d, "group", RecoveryModel::Full, &[]).unwrap();
    let (threads, per) = (8u32, 40u32);
    let commits = (threads * per) as u64;
    // Independent transactions: commits that arrive during an fsync share the next one.
    let before = db.log_fsyncs();
    std::thread::scope(|s| {
        for t in 0..threads {
            let db = &db;
            s.spawn(move || {
                for i in 0..per {
                    db.run(|x| x.put("PRIMARY", format!("t{t}-{i}").as_bytes(), b"v"))
                        .unwrap();
                }
            });
        }
    });
    let fsyncs = db.log_fsyncs() - before;
    eprintln!("{commits} independent commits, {fsyncs} log fsyncs");
    assert!(
        fsyncs < commits,
        "{fsyncs} fsyncs for {commits} commits: no group commit"
    );
    // Conflicting transactions: read-then-write of one row queue on its lock; none is lost.
    std::thread::scope(|s| {
        for _ in 0..threads {
            let db = &db;
            s.spawn(move || {
                for _ in 0..per {
                    db.run(|x| {
                        let n = x
                            .get_for_update("PRIMARY", b"counter")?
                            .map_or(0, |v| String::from_utf8(v).unwrap().parse::<u64>().unwrap());
                        x.put("PRIMARY", b"counter", (n + 1).to_string().as_bytes())
                    })
                    .unwrap();
                }
            });
        }
    });
    assert_eq!(
        db.get("PRIMARY", b"counter").unwrap(),
        Some(commits.to_string().into_bytes())
    );
    assert_eq!(db.check().unwrap().rows, commits + 1);
}

/// Keys and values up to the limits: deep trees, interior splits with long separators.
#[test]
fn rows_at_the_size_limits_split_cleanly() {
    use media::engine::btree::{MAX_KEY, MAX_VALUE};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("db");
    let db = Database::create(&d, "limits", RecoveryModel::Simple, &[]).unwrap();
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    for _ in 0..40 {
        let mut t = db.begin();
        for _ in 0..50 {
            let klen = 1 + next(MAX_KEY as u64) as usize;
            let key: Vec<u8> = (0..klen)
                .map(|i| b'a' + ((i as u64 + next(3)) % 26) as u8)
                .collect();
            if next(5) == 0 && !model.is_empty() {
                let k = model
                    .keys()
                    .nth(next(model.len() as u64) as usize)
                    .cloned()
                    .unwrap();
                t.delete("PRIMARY", &k).unwrap();
                model.remove(&k);
            } else {
                let v = vec![b'0' + next(10) as u8; next(MAX_VALUE as u64 + 1) as usize];
                t.put("PRIMARY", &key, &v).unwrap();
                model.insert(key, v);
            }
        }
        t.commit().unwrap();
    }
    assert!(db
        .begin()
        .put("PRIMARY", &vec![b'k'; MAX_KEY + 1], b"v")
        .is_err());
    assert!(db
        .begin()
        .put("PRIMARY", b"k", &vec![b'v'; MAX_VALUE + 1])
        .is_err());
    let r = db.check().unwrap();
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    let want: BTreeMap<(String, Vec<u8>), Vec<u8>> = model
        .into_iter()
        .map(|(k, v)| (("PRIMARY".to_string(), k), v))
        .collect();
    assert_eq!(r.rows, want.len() as u64);
    assert_eq!(r.digest, model_digest(&want, &["PRIMARY"]));
}

#[test]
fn a_deadlock_between_transactions_is_refused_at_once_and_the_other_commits() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::create(dir.path(), "dl", RecoveryModel::Full, &[]).unwrap();
    let started = std::time::Instant::now();
    let mut t1 = db.begin();
    let mut t2 = db.begin();
    t1.put("PRIMARY", b"a", b"1").unwrap();
    t2.put("PRIMARY", b"b", b"2").unwrap();
    // Each then wants the other's key: whichever waits second closes the cycle, is refused
    // at once, and rolls back; the other gets its lock and commits.
    let run = |mut t: media::engine::Txn, key: &[u8], v: &[u8]| match t.put("PRIMARY", key, v) {
        Ok(()) => {
            t.commit().unwrap();
            None
        }
        Err(e) => {
            t.rollback().unwrap();
            Some(e)
        }
    };
    let (e1, e2) = std::thread::scope(|s| {
        let h = s.spawn(|| run(t1, b"b", b"1"));
        std::thread::sleep(std::time::Duration::from_millis(100));
        let e2 = run(t2, b"a", b"2");
        (h.join().unwrap(), e2)
    });
    let (winner, e) = match (e1, e2) {
        (None, Some(e)) => (b"1", e),
        (Some(e), None) => (b"2", e),
        other => panic!("exactly one victim expected: {other:?}"),
    };
    assert!(matches!(e, media::engine::Error::Deadlock { .. }), "{e}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "not the 10 s timeout"
    );
    for k in [b"a", b"b"] {
        assert_eq!(db.get("PRIMARY", k).unwrap().as_deref(), Some(&winner[..]));
    }
    let r = db.check().unwrap();
    assert!(r.problems.is_empty(), "{:?}", r.problems);
}
