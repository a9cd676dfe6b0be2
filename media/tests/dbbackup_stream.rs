//! The restore's one pass from the media into the data files, attacked: a page damaged on
//! the medium is refused before anything in the target changes (and nothing is left beside
//! it), and a set striped over two families read with two devices at once (their files
//! arriving interleaved) restores the rows a model of the commits holds.

use media::changer::dir::DirectoryLibrary;
use media::changer::{MediaChanger, MediumRequest};
use media::dbbackup::{self, BackupOptions, BackupType, Progress, RestoreOptions};
use media::decision::Operation;
use media::engine::{Database, RecoveryModel};
use media::history::sqlite::SqliteHistory;
use media::restore::ReadSpec;
use media::set::MediaSet;
use media::stripe::{StripeDevice, StripeOptions};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tape_sys::EmulatedOptions;

type Rows = BTreeMap<String, String>;

fn tape(cap: u64) -> EmulatedOptions {
    EmulatedOptions::new()
        .capacity(cap)
        .early_warning(64 * 1024)
}

/// A full backup over `families` devices of `cap`-byte media (each family continued in the
/// directory library `lib`).
fn full_backup(db: &Database, history: &mut SqliteHistory, lib: &Path, families: u16, cap: u64) {
    backup_with(
        db,
        history,
        lib,
        families,
        cap,
        &BackupOptions::new(BackupType::Full),
        Operation::Format,
    );
}

fn backup_with(
    db: &Database,
    history: &mut SqliteHistory,
    lib: &Path,
    families: u16,
    cap: u64,
    opts: &BackupOptions,
    op: Operation,
) {
    let set = MediaSet::new("STREAM", families);
    let devices: Vec<Vec<StripeDevice>> = (1..=families)
        .map(|f| {
            let mut l = DirectoryLibrary::new(lib, tape(cap)).unwrap();
            let first = l.mount(&MediumRequest::first_write(&set, f, 0)).unwrap();
            vec![StripeDevice {
                first,
                changer: Box::new(l),
            }]
        })
        .collect();
    let mut so = StripeOptions::new(op, 1_717_200_000);
    so.write.block_size = 16 * 1024;
    dbbackup::backup(db, opts, devices, set, &so, history).unwrap();
}

fn restore(into: &Path, lib: &Path, devices: usize, opts: &RestoreOptions) -> dbbackup::Result<()> {
    let changers: Vec<Box<dyn MediaChanger>> = (0..devices)
        .map(|_| {
            Box::new(DirectoryLibrary::new(lib, tape(64 << 20)).unwrap()) as Box<dyn MediaChanger>
        })
        .collect();
    dbbackup::restore(into, changers, &ReadSpec::default(), opts).map(|_| ())
}

fn rows_of(dir: &Path) -> Rows {
    let db = Database::open(dir).unwrap();
    let rows = db
        .begin()
        .scan("PRIMARY", None, None)
        .unwrap()
        .into_iter()
        .map(|(k, v)| (String::from_utf8(k).unwrap(), String::from_utf8(v).unwrap()))
        .collect();
    db.close().unwrap();
    rows
}

/// Every file under `dir` (path → bytes), and the names beside it.
fn snapshot(dir: &Path) -> (BTreeMap<PathBuf, Vec<u8>>, Vec<String>) {
    let files = walk(dir);
    let mut beside: Vec<String> = std::fs::read_dir(dir.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    beside.sort();
    (files, beside)
}

fn walk(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.insert(p.clone(), std::fs::read(&p).unwrap());
        }
    }
    out
}

fn put_rows(db: &Database, rows: &mut Rows, from: u32, n: u32, tag: &str) {
    for i in from..from + n {
        let k = format!("row{i:05}");
        let v = format!("{tag}{i}-{}", "z".repeat(300 + (i % 50) as usize));
        db.run(|t| t.put("PRIMARY", k.as_bytes(), v.as_bytes()))
            .unwrap();
        rows.insert(k, v);
    }
}

#[test]
fn a_page_damaged_on_the_medium_is_refused_and_the_target_stays_as_it_was() {
    let tmp = tempfile::tempdir().unwrap();
    let mut history = SqliteHistory::open(&tmp.path().join("history.db")).unwrap();
    let db = Database::create(&tmp.path().join("src"), "sales", RecoveryModel::Full, &[]).unwrap();
    let mut rows = Rows::new();
    put_rows(&db, &mut rows, 0, 300, "first");
    let good = tmp.path().join("good");
    full_backup(&db, &mut history, &good, 1, 64 << 20);
    let target = tmp.path().join("restored").join("sales");
    std::fs::create_dir(target.parent().unwrap()).unwrap();
    restore(&target, &good, 1, &RestoreOptions::default()).unwrap();
    assert_eq!(rows_of(&target), rows);

    // A later backup, one byte of a row's value flipped on its medium: the page holding it
    // fails its checksum as the restore reads it.
    put_rows(&db, &mut rows, 300, 200, "second");
    let bad = tmp.path().join("bad");
    full_backup(&db, &mut history, &bad, 1, 64 << 20);
    db.close().unwrap();
    let medium = std::fs::read_dir(&bad)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut image = std::fs::read(&medium).unwrap();
    let needle = b"second417-";
    let at = image
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("the row is on the medium");
    image[at + 3] ^= 0x20;
    std::fs::write(&medium, &image).unwrap();

    let before = snapshot(&target);
    let opts = RestoreOptions {
        replace: true,
        ..Default::default()
    };
    let why = restore(&target, &bad, 1, &opts).unwrap_err().to_string();
    assert!(why.contains("damaged") && why.contains("checksum"), "{why}");
    assert!(
        before == snapshot(&target),
        "the target or what is beside it changed"
    );
    // Still the first backup's database.
    assert_eq!(rows_of(&target).len(), 300);
}

#[test]
fn two_devices_read_a_striped_set_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let mut history = SqliteHistory::open(&tmp.path().join("history.db")).unwrap();
    let fgs = [media::engine::FilegroupSpec {
        name: "other".into(),
        read_only: false,
    }];
    let db = Database::create(&tmp.path().join("src"), "sales", RecoveryModel::Full, &fgs).unwrap();
    let mut rows = Rows::new();
    put_rows(&db, &mut rows, 0, 600, "v");
    for i in 0..300u32 {
        let k = format!("o{i:04}");
        db.run(|t| t.put("other", k.as_bytes(), &[b'o'; 500]))
            .unwrap();
    }
    let lib = tmp.path().join("lib");
    full_backup(&db, &mut history, &lib, 2, 192 * 1024);
    db.close().unwrap();
    let media = std::fs::read_dir(&lib).unwrap().count();
    assert!(media > 2, "expected continuation media, got {media}");
    let d = tmp.path().join("two");
    restore(&d, &lib, 2, &RestoreOptions::default()).unwrap();
    assert_eq!(rows_of(&d), rows);
    let db = Database::open(&d).unwrap();
    let other = db.begin().scan("other", None, None).unwrap();
    assert_eq!(other.len(), 300);
    assert!(other.iter().all(|(_, v)| v == &[b'o'; 500]));
    db.close().unwrap();
}

/// Runs `f` while a thread samples `p`: what it saw of `done` only grew and never passed the
/// total; at the end `done == total`, which is returned.
fn watched<T>(p: &Progress, f: impl FnOnce() -> T) -> (T, u64) {
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (out, samples) = std::thread::scope(|s| {
        let h = s.spawn(|| {
            let mut last = 0;
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let done = p.done();
                let total = p.total();
                assert!(done >= last, "done went back from {last} to {done}");
                assert!(done <= total, "done {done} passed the total {total}");
                last = done;
                n += 1;
                std::thread::yield_now();
            }
            n
        });
        let out = f();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        (out, h.join().unwrap())
    });
    assert!(samples > 0);
    assert_eq!(p.done(), p.total());
    (out, p.total())
}

#[test]
fn progress_counts_backups_and_restores_up_to_their_totals() {
    let tmp = tempfile::tempdir().unwrap();
    let mut history = SqliteHistory::open(&tmp.path().join("history.db")).unwrap();
    let db = Database::create(&tmp.path().join("src"), "sales", RecoveryModel::Full, &[]).unwrap();
    let mut rows = Rows::new();
    put_rows(&db, &mut rows, 0, 500, "v");
    // A full backup striped over 2 families with continuation media.
    let lib = tmp.path().join("full");
    let mut o = BackupOptions::new(BackupType::Full);
    let p = Progress::new();
    o.progress = Some(p.clone());
    let ((), total) = watched(&p, || {
        backup_with(
            &db,
            &mut history,
            &lib,
            2,
            192 * 1024,
            &o,
            Operation::Format,
        )
    });
    let pages = db
        .data_files()
        .unwrap()
        .iter()
        .map(|f| f.pages)
        .sum::<u64>();
    assert!(
        total > 0 && total <= pages * 8192 + db.info().log_end,
        "{total}"
    );
    // A log backup: its log.
    put_rows(&db, &mut rows, 500, 200, "w");
    let log_lib = tmp.path().join("log");
    let mut o = BackupOptions::new(BackupType::Log);
    let p = Progress::new();
    o.progress = Some(p.clone());
    let ((), log_total) = watched(&p, || {
        backup_with(
            &db,
            &mut history,
            &log_lib,
            1,
            64 << 20,
            &o,
            Operation::Format,
        )
    });
    assert!(log_total > 200 * 300, "{log_total}");
    db.close().unwrap();
    // The restores, the full one read with two devices at once.
    let d = tmp.path().join("restored");
    let p = Progress::new();
    let opts = RestoreOptions {
        recovery: dbbackup::Recovery::NoRecovery,
        progress: Some(p.clone()),
        ..Default::default()
    };
    let (r, read) = watched(&p, || restore(&d, &lib, 2, &opts));
    r.unwrap();
    // What was read is the set: its pages and log (and its small header file).
    assert!(
        read >= total && read < total + 64 * 1024,
        "{read} vs {total}"
    );
    let p = Progress::new();
    let opts = RestoreOptions {
        progress: Some(p.clone()),
        ..Default::default()
    };
    let (r, read) = watched(&p, || restore(&d, &log_lib, 1, &opts));
    r.unwrap();
    assert!(read >= log_total && read < log_total + 64 * 1024);
    assert_eq!(rows_of(&d), rows);
}
