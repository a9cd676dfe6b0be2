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

/// Two standby copies of one database (the same backups, one undo file named for both): the
/// second is refused, naming the first's directory, and the first still leaves standby and
/// reads as the model. A copy whose undo file was replaced by another copy's (same database,
/// full backup and LSN) refuses to put back the other's pages. An owner that no longer names
/// the file (recovered, removed) lets it be replaced; a directory renamed while in standby
/// still owns its undo file.
#[test]
fn an_undo_file_belongs_to_one_standby_directory() {
    let (mut env, db) = Env::new("sales");
    env.work(&db, 40);
    let full = env.backup(&db, BackupType::Full);
    let at_full = env.rows.clone();
    env.work(&db, 20);
    let log1 = env.backup(&db, BackupType::Log);
    let at_log1 = env.rows.clone();
    env.work(&db, 20);
    let log2 = env.backup(&db, BackupType::Log);
    let at_log2 = env.rows.clone();
    db.close().unwrap();

    let t = env.tmp.path();
    let (a, b) = (t.join("a"), t.join("b"));
    let undo = t.join("undo.dat");
    let st = |u: &Path| Recovery::Standby(u.to_path_buf());
    restore(&a, &full, st(&undo)).unwrap();
    let a_undo = std::fs::read(&undo).unwrap();
    let why = refused(restore(&b, &full, st(&undo)));
    let a_canon = std::fs::canonicalize(&a).unwrap();
    assert!(
        why.contains(&format!("in standby in {}", a_canon.display()))
            && why.contains("refusing to overwrite"),
        "{why}"
    );
    assert!(!b.exists(), "the refused full restore left {}", b.display());
    assert_eq!(
        std::fs::read(&undo).unwrap(),
        a_undo,
        "a's undo file changed"
    );
    // A log restore into a copy in standby is refused the same way, before it changes it.
    restore(&b, &full, st(&t.join("b.undo"))).unwrap();
    let why = refused(restore(&b, &log1, st(&undo)));
    assert!(why.contains(&a_canon.display().to_string()), "{why}");
    assert_standby(&b, &at_full, "b after its refusal");
    assert_eq!(
        std::fs::read(&undo).unwrap(),
        a_undo,
        "a's undo file changed"
    );
    // The same directory naming the same file again: allowed.
    restore(&a, &log1, st(&undo)).unwrap();
    assert_standby(&a, &at_log1, "a after log1");

    // b's undo file in a's place: same database, full backup and LSN once b is at log1, but
    // b's pages: refused, naming b, and a is left as it was.
    restore(&b, &log1, st(&t.join("b.undo"))).unwrap();
    let a_undo = std::fs::read(&undo).unwrap();
    std::fs::copy(t.join("b.undo"), &undo).unwrap();
    let why = refused(restore(&a, &log2, Recovery::Recovery));
    let b_canon = std::fs::canonicalize(&b).unwrap();
    assert!(
        why.contains(&format!(
            "belongs to the database in standby in {}",
            b_canon.display()
        )),
        "{why}"
    );
    assert_standby(&a, &at_log1, "a after the refusal of b's undo file");
    std::fs::write(&undo, &a_undo).unwrap();
    restore(&a, &log2, Recovery::Recovery).unwrap();
    let db = Database::open(&a).unwrap();
    assert_eq!(rows_of(&db), at_log2, "a recovered after log2");
    db.close().unwrap();

    // a recovered (no marker): its undo file may now be taken by another standby.
    let c = t.join("c");
    restore(&c, &full, st(&undo)).unwrap();
    assert_standby(&c, &at_full, "c on a recovered database's undo file");
    // c removed while in standby: its undo file may be taken too.
    std::fs::remove_dir_all(&c).unwrap();
    let d = t.join("d");
    restore(&d, &full, st(&undo)).unwrap();
    // d renamed while in standby: still its undo file, and its next logs apply.
    let moved = t.join("d-moved");
    std::fs::rename(&d, &moved).unwrap();
    restore(&moved, &log1, st(&undo)).unwrap();
    assert_standby(&moved, &at_log1, "the renamed directory after log1");
    // ... and it is recorded as the new owner: a standby at the old name is refused.
    let why = refused(restore(&d, &full, st(&undo)));
    let m_canon = std::fs::canonicalize(&moved).unwrap();
    assert!(why.contains(&m_canon.display().to_string()), "{why}");
    restore(&moved, &log2, Recovery::Recovery).unwrap();
    let db = Database::open(&moved).unwrap();
    assert_eq!(rows_of(&db), at_log2, "the renamed directory recovered");
    db.close().unwrap();

    // e's next log in standby with another undo file: the first one is no longer e's.
    let e = t.join("e");
    restore(&e, &full, st(&undo)).unwrap();
    let why = refused(restore(&t.join("f"), &full, st(&undo)));
    assert!(why.contains("refusing to overwrite"), "{why}");
    restore(&e, &log1, st(&t.join("e2.undo"))).unwrap();
    restore(&t.join("f"), &full, st(&undo)).unwrap();
    assert_standby(&t.join("f"), &at_full, "f on the undo file e left");
    restore(&e, &log2, Recovery::Recovery).unwrap();
    let db = Database::open(&e).unwrap();
    assert_eq!(
        rows_of(&db),
        at_log2,
        "e recovered from its second undo file"
    );
    db.close().unwrap();
}

/// The fields of an `RDBUNDO2` header as the layout documented in `standby.rs` places them:
/// (offset of the owner path length, of the file count, of the owner path).
const V2_OWNER_LEN: usize = 8 + 16 + 16 + 8 + 8 + 8;
const V2_COUNT: usize = V2_OWNER_LEN + 2;
const V2_OWNER: usize = V2_COUNT + 2;

/// The previous release's form (`RDBUNDO1`: no owner fields) of an `RDBUNDO2` undo file,
/// built from the documented layout.
fn as_v1(v2: &[u8]) -> Vec<u8> {
    assert_eq!(&v2[..8], b"RDBUNDO2");
    let ol = u16::from_le_bytes([v2[V2_OWNER_LEN], v2[V2_OWNER_LEN + 1]]) as usize;
    let n = u16::from_le_bytes([v2[V2_COUNT], v2[V2_COUNT + 1]]) as usize;
    let files_at = V2_OWNER + ol;
    let end = files_at + n * 10 + 8;
    let mut v1 = b"RDBUNDO1".to_vec();
    v1.extend_from_slice(&v2[8..48]);
    v1.extend_from_slice(&v2[V2_COUNT..V2_COUNT + 2]);
    v1.extend_from_slice(&v2[files_at..end]);
    let c = media::engine::page::crc32c(&v1);
    v1.extend_from_slice(&c.to_le_bytes());
    v1.extend_from_slice(&v2[end + 4..]);
    v1
}

/// Re-seals an `RDBUNDO2` header after a change (its CRC-32C over the bytes before it).
fn reseal(v2: &mut [u8]) {
    let ol = u16::from_le_bytes([v2[V2_OWNER_LEN], v2[V2_OWNER_LEN + 1]]) as usize;
    let n = u16::from_le_bytes([v2[V2_COUNT], v2[V2_COUNT + 1]]) as usize;
    let end = V2_OWNER + ol + n * 10 + 8;
    let c = media::engine::page::crc32c(&v2[..end]);
    v2[end..end + 4].copy_from_slice(&c.to_le_bytes());
}

/// An undo file of the previous release (no owner) is still put back by the directory whose
/// marker names it, and entering standby with it again from that directory works; another
/// directory may not replace it. A hostile owner field (a length past the limit, a relative
/// path under a valid checksum, a length past the file's end) is refused naming the file,
/// and the standby is left as it was.
#[test]
fn undo_files_of_the_previous_release_and_hostile_owner_fields() {
    let (mut env, db) = Env::new("sales");
    env.work(&db, 30);
    let full = env.backup(&db, BackupType::Full);
    env.work(&db, 20);
    let log1 = env.backup(&db, BackupType::Log);
    let at_log1 = env.rows.clone();
    env.work(&db, 20);
    let log2 = env.backup(&db, BackupType::Log);
    let at_log2 = env.rows.clone();
    db.close().unwrap();

    let t = env.tmp.path();
    let (a, b) = (t.join("a"), t.join("b"));
    let undo = t.join("undo.dat");
    let st = |u: &Path| Recovery::Standby(u.to_path_buf());
    restore(&a, &full, st(&undo)).unwrap();
    let good = std::fs::read(&undo).unwrap();
    assert_eq!(&good[..8], b"RDBUNDO2");

    let hostile = |what: &str, bytes: Vec<u8>, want: &str| {
        std::fs::write(&undo, &bytes).unwrap();
        let why = refused(restore(&a, &log1, Recovery::Recovery));
        assert!(
            why.contains(&undo.display().to_string()) && why.contains(want),
            "{what}: {why}"
        );
        assert!(is_standby(&a), "{what}: a left standby");
        // Entering standby elsewhere does not overwrite it either.
        let why = refused(restore(&b, &full, st(&undo)));
        assert!(why.contains("refusing to overwrite"), "{what}: {why}");
        assert_eq!(std::fs::read(&undo).unwrap(), bytes, "{what}: overwritten");
    };
    let mut huge = good.clone();
    huge[V2_OWNER_LEN..V2_OWNER_LEN + 2].copy_from_slice(&u16::MAX.to_le_bytes());
    hostile("owner length 65535", huge, "owner path length");
    let mut relative = good.clone();
    relative[V2_OWNER] = b'x';
    reseal(&mut relative);
    hostile("a relative owner path", relative, "owner path");
    let mut long = good[..V2_OWNER + 10].to_vec();
    long[V2_OWNER_LEN..V2_OWNER_LEN + 2].copy_from_slice(&4000u16.to_le_bytes());
    hostile("an owner path past the end", long, "damaged header");

    // The previous release's undo file.
    std::fs::write(&undo, as_v1(&good)).unwrap();
    let why = refused(restore(&b, &full, st(&undo)));
    assert!(why.contains("earlier refdb"), "{why}");
    restore(&a, &log1, st(&undo)).unwrap();
    assert_standby(
        &a,
        &at_log1,
        "a after log1 from a previous release's undo file",
    );
    let now = std::fs::read(&undo).unwrap();
    assert_eq!(
        &now[..8],
        b"RDBUNDO2",
        "entering standby again writes the new form"
    );
    std::fs::write(&undo, as_v1(&now)).unwrap();
    restore(&a, &log2, Recovery::Recovery).unwrap();
    let db = Database::open(&a).unwrap();
    assert_eq!(rows_of(&db), at_log2);
    db.close().unwrap();
}

/// Another standby writes the undo file while this one is recovering to enter standby (two
/// standby servers' restores at the same time): this one is refused at its end, naming the
/// other, and left restoring with nothing lost (the same restore run again with an undo file
/// of its own finishes it); the other's undo file is untouched. The other's file is put in
/// place by a thread as soon as this restore's standby marker appears; when the thread comes
/// too late (this restore already renamed its undo file), the next restore is refused by the
/// owner check instead, and the attempt is made again with a fresh directory.
#[test]
fn an_undo_file_taken_while_entering_standby_is_left_to_its_owner() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let (mut env, db) = Env::new("sales");
    env.work(&db, 60);
    let full = env.backup(&db, BackupType::Full);
    env.work(&db, 200);
    // Open across log1: recovery for standby has undo to do too (a longer window).
    let mut open = db.begin();
    for i in 0..40 {
        open.put("PRIMARY", format!("o{i:03}").as_bytes(), b"uncommitted")
            .unwrap();
    }
    let log1 = env.backup(&db, BackupType::Log);
    let at_log1 = env.rows.clone();
    open.rollback().unwrap();
    env.work(&db, 10);
    let log2 = env.backup(&db, BackupType::Log);
    let at_log2 = env.rows.clone();
    db.close().unwrap();

    let t = env.tmp.path();
    let a = t.join("a");
    let undo = t.join("undo.dat");
    let saved = t.join("saved.dat");
    restore(&a, &full, Recovery::Standby(undo.clone())).unwrap();
    let a_undo = std::fs::read(&undo).unwrap();
    let a_canon = std::fs::canonicalize(&a).unwrap();
    let mut caught = 0;
    let mut late = 0;
    for attempt in 0..6 {
        let b = t.join(format!("b{attempt}"));
        restore(&b, &full, Recovery::NoRecovery).unwrap();
        std::fs::write(&undo, &a_undo).unwrap();
        std::fs::rename(&undo, &saved).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (marker, from, to, s) = (
            b.join(dbbackup::standby::STANDBY_FILE),
            saved.clone(),
            undo.clone(),
            stop.clone(),
        );
        let th = std::thread::spawn(move || {
            while !marker.exists() {
                if s.load(Ordering::Relaxed) {
                    return false;
                }
                std::hint::spin_loop();
            }
            std::fs::rename(&from, &to).unwrap();
            true
        });
        let r = restore(&b, &log1, Recovery::Standby(undo.clone()));
        stop.store(true, Ordering::Relaxed);
        assert!(
            th.join().unwrap(),
            "attempt {attempt}: no standby marker appeared"
        );
        assert_eq!(std::fs::read(&undo).unwrap(), a_undo, "attempt {attempt}");
        match r {
            Err(e) => {
                let e = e.to_string();
                assert!(
                    e.contains(&a_canon.display().to_string())
                        && e.contains("another standby wrote it"),
                    "attempt {attempt}: {e}"
                );
                assert!(!is_standby(&b), "attempt {attempt}: b in standby");
                // Nothing lost: run again with its own undo file, it ends in standby at log1.
                let own = t.join(format!("b{attempt}.undo"));
                restore(&b, &log1, Recovery::Standby(own)).unwrap();
                assert_standby(&b, &at_log1, "b after the same restore run again");
                caught += 1;
            }
            Ok(_) => {
                // Too late: b renamed its undo file before a's was put back over it.
                let why = refused(restore(&b, &log2, Recovery::Recovery));
                assert!(why.contains(&a_canon.display().to_string()), "{why}");
                late += 1;
            }
        }
        if caught > 0 {
            break;
        }
    }
    eprintln!("caught while entering standby: {caught}, too late: {late}");
    assert!(
        caught > 0,
        "the thread never came in time ({late} attempts)"
    );
    // a, the owner, goes on.
    restore(&a, &log1, Recovery::Standby(undo.clone())).unwrap();
    assert_standby(&a, &at_log1, "a after log1");
    restore(&a, &log2, Recovery::Recovery).unwrap();
    let db = Database::open(&a).unwrap();
    assert_eq!(rows_of(&db), at_log2);
    db.close().unwrap();
}
