//! The engine against hostile bytes and planted links: a damaged database is refused with an
//! error that names the file, never opened into wrong contents, never a panic or a hang, and
//! nothing is written through a link planted in the database directory.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use media::engine::page::crc32c;
use media::engine::wal::{FILE_HEADER, FIRST_LSN};
use media::engine::{Database, RecordBody, RecoveryModel};

/// Runs `f` on another thread; fails the test if it panics or takes longer than `secs` (an
/// endless loop).
fn bounded<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        let _ = tx.send(r);
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(Ok(v)) => v,
        Ok(Err(_)) => panic!("the engine panicked"),
        Err(_) => panic!("the engine did not finish in {secs} s (an endless loop?)"),
    }
}

fn new_db(model: RecoveryModel) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("db");
    Database::create(&d, "hostile", model, &[])
        .unwrap()
        .close()
        .unwrap();
    (tmp, d)
}

/// Rewrites the record at `lsn` in the log file with `patch` applied to its bytes, and a
/// fresh CRC (what an attacker who knows the format does).
fn patch_record(dir: &Path, base: u64, lsn: u64, patch: impl FnOnce(&mut [u8])) {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(dir.join("log.ldf"))
        .unwrap();
    let off = FILE_HEADER + (lsn - base);
    let mut h = [0u8; 4];
    f.read_exact_at(&mut h, off).unwrap();
    let mut b = vec![0u8; u32::from_le_bytes(h) as usize];
    f.read_exact_at(&mut b, off).unwrap();
    patch(&mut b);
    let c = crc32c(&b[8..]);
    b[4..8].copy_from_slice(&c.to_le_bytes());
    f.write_all_at(&b, off).unwrap();
}

/// A database whose log holds a transaction that never finished (its update durable, no
/// commit): recovery must undo it. Returns the transaction's update LSN and the log's base.
fn db_with_loser() -> (tempfile::TempDir, PathBuf, u64, u64) {
    let (tmp, d) = new_db(RecoveryModel::Full);
    let db = Database::open(&d).unwrap();
    let mut loser = db.begin();
    loser.put("PRIMARY", b"loser", b"never committed").unwrap();
    let id = loser.id();
    // Another transaction's commit makes the loser's record durable too.
    db.run(|t| t.put("PRIMARY", b"winner", b"committed"))
        .unwrap();
    std::mem::forget(loser);
    let info = db.info();
    let mut upd = 0;
    db.read_log(info.log_start, info.log_end, |r| {
        if r.txn == id && matches!(r.body, RecordBody::Update { .. }) {
            upd = r.lsn;
        }
        Ok(())
    })
    .unwrap();
    assert_ne!(upd, 0);
    db.abandon();
    (tmp, d, upd, info.log_start)
}

#[test]
fn a_previous_lsn_loop_in_the_log_is_refused_not_followed_forever() {
    let (_tmp, d, upd, base) = db_with_loser();
    // The loser's update names itself as its previous record: undo would go round forever,
    // logging a compensation record each time.
    patch_record(&d, base, upd, |b| {
        b[16..24].copy_from_slice(&upd.to_le_bytes())
    });
    let log_len = std::fs::metadata(d.join("log.ldf")).unwrap().len();
    let r = bounded(30, move || Database::open(&d).map(|_| ()));
    let e = r
        .expect_err("a record that is its own predecessor is refused")
        .to_string();
    assert!(e.contains("log.ldf"), "{e}");
    let _ = log_len;
}

#[test]
fn a_previous_lsn_pointing_forward_is_refused() {
    let (_tmp, d, upd, base) = db_with_loser();
    // Forward links can make a cycle of any length.
    patch_record(&d, base, upd, |b| {
        b[16..24].copy_from_slice(&(upd + 1_000_000).to_le_bytes())
    });
    let r = bounded(30, move || Database::open(&d).map(|_| ()));
    let e = r
        .expect_err("a forward previous-LSN link is refused")
        .to_string();
    assert!(e.contains("log.ldf"), "{e}");
}

/// Writes both copies of the log header with the given base and checkpoint LSNs.
fn write_log_header(dir: &Path, base: u64, ckpt: u64) {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(dir.join("log.ldf"))
        .unwrap();
    let mut h = [0u8; 52];
    f.read_exact_at(&mut h, 0).unwrap();
    h[8..16].copy_from_slice(&1000u64.to_le_bytes());
    h[32..40].copy_from_slice(&base.to_le_bytes());
    h[40..48].copy_from_slice(&ckpt.to_le_bytes());
    let c = crc32c(&h[..48]);
    h[48..52].copy_from_slice(&c.to_le_bytes());
    f.write_all_at(&h, 0).unwrap();
    f.write_all_at(&h, 512).unwrap();
}

#[test]
fn log_header_lsns_near_the_top_of_the_range_are_refused() {
    for (base, ckpt) in [
        (FIRST_LSN, u64::MAX),
        (u64::MAX - 8, 0),
        (u64::MAX - 8, u64::MAX - 8),
        (1 << 63, 0),
    ] {
        let (_tmp, d) = new_db(RecoveryModel::Simple);
        let d2 = d.clone();
        write_log_header(&d, base, ckpt);
        let r = bounded(30, move || Database::open(&d2).map(|_| ()));
        let e = r
            .expect_err(&format!("base {base} ckpt {ckpt} refused"))
            .to_string();
        assert!(e.contains("log.ldf"), "{e}");
    }
}

#[test]
fn damage_in_the_middle_of_the_log_is_reported_not_cut_as_a_torn_tail() {
    let (_tmp, d) = new_db(RecoveryModel::Full);
    let db = Database::open(&d).unwrap();
    // Keep the log after the last checkpoint: the commits live only there.
    for i in 0..50u32 {
        db.run(|t| t.put("PRIMARY", format!("k{i:03}").as_bytes(), b"value"))
            .unwrap();
    }
    let info = db.info();
    let mut commits = Vec::new();
    db.read_log(info.checkpoint_lsn, info.log_end, |r| {
        if matches!(r.body, RecordBody::Commit { .. }) {
            commits.push(r.lsn);
        }
        Ok(())
    })
    .unwrap();
    db.abandon();
    // Rot one bit of a commit record early in the log: 40 later commits are whole.
    let rot = commits[5];
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(d.join("log.ldf"))
        .unwrap();
    let off = FILE_HEADER + (rot - info.log_start) + 30;
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, off).unwrap();
    f.write_all_at(&[b[0] ^ 0x10], off).unwrap();
    let before = std::fs::read(d.join("log.ldf")).unwrap();
    let d2 = d.clone();
    let r = bounded(30, move || Database::open(&d2).map(|_| ()));
    let e = r
        .expect_err("whole commits after a damaged record: not a torn tail")
        .to_string();
    assert!(e.contains("log.ldf"), "{e}");
    assert_eq!(
        std::fs::read(d.join("log.ldf")).unwrap(),
        before,
        "the log is left as it was"
    );
}

#[test]
fn check_reads_the_whole_log_and_reports_damage_before_the_last_checkpoint() {
    let (_tmp, d) = new_db(RecoveryModel::Full);
    let db = Database::open(&d).unwrap();
    for i in 0..20u32 {
        db.run(|t| t.put("PRIMARY", format!("k{i:03}").as_bytes(), b"value"))
            .unwrap();
    }
    assert_eq!(
        db.info().log_start,
        FIRST_LSN,
        "the log still holds its start"
    );
    db.close().unwrap();
    // Rot a byte of the first record: recovery starts after it (at the checkpoint), but a
    // log backup would copy it.
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(d.join("log.ldf"))
        .unwrap();
    let off = FILE_HEADER + 40;
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, off).unwrap();
    f.write_all_at(&[b[0] ^ 1], off).unwrap();
    let db = Database::open(&d).unwrap();
    let r = db.check().unwrap();
    assert!(
        r.problems
            .iter()
            .any(|p| p.contains("log.ldf") && p.contains("no valid log record at LSN")),
        "{:?}",
        r.problems
    );
}

/// The log header copy with the higher sequence number: (base LSN, file length).
fn log_base_and_len(dir: &Path) -> (u64, u64) {
    let b = std::fs::read(dir.join("log.ldf")).unwrap();
    let slot = |o: usize| {
        (
            u64::from_le_bytes(b[o + 8..o + 16].try_into().unwrap()),
            u64::from_le_bytes(b[o + 32..o + 40].try_into().unwrap()),
        )
    };
    let (a, c) = (slot(0), slot(512));
    (if a.0 >= c.0 { a.1 } else { c.1 }, b.len() as u64)
}

/// Appends a well-formed, checksummed record saying `body` to a closed database's log, opens
/// it, and checks that open is refused naming primary.mdf, which has not grown.
fn appended_record_is_refused(body: RecordBody) {
    let (_tmp, d) = new_db(RecoveryModel::Simple);
    let (base, len) = log_base_and_len(&d);
    let rec = media::engine::wal::encode(base + (len - FILE_HEADER), 0, 0, &body);
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(d.join("log.ldf"))
        .unwrap();
    f.write_all_at(&rec, len).unwrap();
    let d2 = d.clone();
    let r = bounded(60, move || Database::open(&d2).map(|_| ()));
    let e = r.expect_err("the record is refused").to_string();
    assert!(e.contains("primary.mdf"), "{e}");
    assert!(
        std::fs::metadata(d.join("primary.mdf")).unwrap().len() < 1 << 30,
        "the data file did not grow"
    );
}

/// Page 1:1,000,000,000: 8 TB into primary.mdf, far past its one allocation map.
const FAR: media::engine::PageId = media::engine::PageId {
    file: 1,
    page: 1_000_000_000,
};

#[test]
fn a_logged_page_far_past_its_files_allocation_maps_is_refused() {
    // Redo would write the image 8 TB into primary.mdf (a sparse file that check then reads
    // page by page), and note its change in a "map" that is only zeros past the file's end.
    let mut p = media::engine::btree::Node::empty().to_page(FAR);
    p.seal();
    appended_record_is_refused(RecordBody::Fpi(p));
}

#[test]
fn a_logged_allocation_far_past_its_files_allocation_maps_is_refused() {
    appended_record_is_refused(RecordBody::Smo {
        ops: vec![media::engine::wal::SmoOp::Alloc(FAR)],
        bulk: vec![],
    });
}

#[test]
fn check_reports_tree_pages_newer_than_the_end_of_a_cut_log() {
    let (_tmp, d) = new_db(RecoveryModel::Full);
    // A small pool: pages are written out (after the log up to their LSN) as the work goes.
    let opts = media::engine::db::Options {
        pool_pages: 16,
        ..Default::default()
    };
    let db = Database::open_with(&d, opts).unwrap();
    let ckpt_end = db.info().log_end;
    for i in 0..3000u32 {
        db.run(|t| t.put("PRIMARY", format!("k{i:05}").as_bytes(), &[b'v'; 100]))
            .unwrap();
    }
    db.abandon();
    // The log cut back to just after the checkpoint the open took: records that were durable,
    // and that pages on disk carry, are gone; what remains looks like a torn tail.
    let (base, _) = log_base_and_len(&d);
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(d.join("log.ldf"))
        .unwrap();
    f.set_len(FILE_HEADER + (ckpt_end - base)).unwrap();
    // What is on disk may be an older, consistent tree (the newer pages unreachable from it):
    // only the pages' LSNs tell that commits are gone.
    let r = Database::open(&d).and_then(|db| db.check());
    match r {
        Err(e) => assert!(e.to_string().contains("db/"), "{e}"),
        Ok(r) => assert!(
            r.problems
                .iter()
                .any(|p| p.contains("past the end of the log")),
            "{:?}",
            r.problems
        ),
    }
}

#[test]
#[ignore = "not fixed: needs a checkpoint stamp in every data file (written at each checkpoint, checked at open against the log's last checkpoint); the boot page changes only through logged images today"]
fn an_older_copy_of_a_data_file_put_back_is_reported() {
    let (tmp, d) = new_db(RecoveryModel::Full);
    for i in 0..3u32 {
        let db = Database::open(&d).unwrap();
        db.run(|t| t.put("PRIMARY", format!("a{i}").as_bytes(), b"v"))
            .unwrap();
        db.close().unwrap();
    }
    let old = tmp.path().join("old.mdf");
    std::fs::copy(d.join("primary.mdf"), &old).unwrap();
    for i in 0..3u32 {
        let db = Database::open(&d).unwrap();
        db.run(|t| t.put("PRIMARY", format!("b{i}").as_bytes(), b"v"))
            .unwrap();
        db.close().unwrap();
    }
    // The three later commits are before the last checkpoint: nothing in the log is redone,
    // and the older file holds a consistent tree without them.
    std::fs::copy(&old, d.join("primary.mdf")).unwrap();
    match Database::open(&d).and_then(|db| db.check()) {
        Err(e) => assert!(e.to_string().contains("primary.mdf"), "{e}"),
        Ok(r) => assert!(
            !r.problems.is_empty(),
            "3 commits gone, check passes: {r:?}"
        ),
    }
}
