//! Databases of several data files per filegroup, each crossing many allocation maps (one
//! extent per map), through full, differential and log backups striped over two tiny
//! emulated tapes (every family continued on more media), restored and compared row by row
//! with a model the test keeps of the commits the engine acknowledged: a backup must read
//! every map of every file.

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

    fn restore(&self, into: &Path, lib: &Path, recovery: Recovery) -> dbbackup::RestoreOutcome {
        let changers: Vec<Box<dyn MediaChanger>> =
            vec![Box::new(DirectoryLibrary::new(lib, tape(CAP)).unwrap())];
        let opts = RestoreOptions {
            recovery,
            ..Default::default()
        };
        dbbackup::restore(into, changers, &ReadSpec::default(), &opts).unwrap()
    }

    /// Puts (or deletes, for `None`) rows in one transaction, recorded once it commits.
    fn commit(&mut self, db: &Database, changes: Vec<(&str, String, Option<String>)>) {
        db.run(|t| {
            for (g, k, v) in &changes {
                match v {
                    Some(v) => t.put(g, k.as_bytes(), v.as_bytes())?,
                    None => t.delete(g, k.as_bytes())?,
                }
            }
            Ok(())
        })
        .unwrap();
        for (g, k, v) in changes {
            match v {
                Some(v) => self.rows.insert((g.to_string(), k), v),
                None => self.rows.remove(&(g.to_string(), k)),
            };
        }
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
    let fgs: Vec<FilegroupSpec> = ["a", "b"]
        .iter()
        .map(|n| FilegroupSpec {
            name: n.to_string(),
            read_only: false,
        })
        .collect();
    let files = [("PRIMARY", "primary2"), ("a", "a2"), ("b", "b2")]
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
    let db = Database::create_with(&db_dir, "sales", RecoveryModel::Full, &fgs, &opts).unwrap();
    let history = SqliteHistory::open(&tmp.path().join("history.db")).unwrap();
    let mut env = Env {
        tmp,
        history,
        sets: 0,
        rows: Rows::new(),
    };

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
