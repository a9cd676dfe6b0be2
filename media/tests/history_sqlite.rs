//! The SQLite history: what recording, merging and reading back keep.

#[path = "common/synthetic.rs"]
mod synthetic;

use media::history::sqlite::SqliteHistory;
use media::history::{msdb_csv, BackupHistory, BackupKind, Recorded};
use synthetic::{day, Timeline};

fn timeline() -> Timeline {
    let mut t = Timeline::new();
    t.full(day(0, 0, 0), "/b/full.bak", false);
    t.diff(day(0, 6, 0), "/b/diff.bak");
    t.log(day(0, 7, 0), "/b/log.trn");
    t
}

#[test]
fn records_read_back_as_written() {
    let t = timeline();
    let mut h = SqliteHistory::in_memory().unwrap();
    assert_eq!(
        h.record_all(&t.recs).unwrap(),
        [Recorded::New, Recorded::New, Recorded::New]
    );
    let back = h.backups(None).unwrap();
    assert_eq!(back, t.recs);
    assert_eq!(h.backups(Some("SALES")).unwrap().len(), 3);
    assert!(h.backups(Some("other")).unwrap().is_empty());
}

#[test]
fn a_set_seen_again_is_merged_not_duplicated() {
    let t = timeline();
    let mut h = SqliteHistory::in_memory().unwrap();
    h.record_all(&t.recs).unwrap();
    // The same full found again, in another place and damaged there; the log found complete
    // after it was recorded incomplete.
    let mut again = t.recs[0].clone();
    again.families[0].media[0].path = "/copy/full.bak".into();
    again.damaged = true;
    assert_eq!(h.record(&again).unwrap(), Recorded::Updated);
    let back = h.backups(None).unwrap();
    assert_eq!(back.len(), 3);
    assert!(back[0].damaged, "a damaged mark stays");
    assert_eq!(
        back[0].families[0].media.len(),
        2,
        "both places are recorded"
    );
    // A plan names the medium once, at the place recorded last (files move; a new import
    // tells where they are now).
    let mut undamaged = back.clone();
    undamaged[0].damaged = false;
    let at = media::plan::Target::At(back[0].finish.unwrap());
    let plan = media::plan::plan_database(&undamaged, at);
    assert_eq!(plan.steps[0].files, ["/copy/full.bak"]);
    let mut log = t.recs[2].clone();
    log.incomplete = true;
    let mut h2 = SqliteHistory::in_memory().unwrap();
    h2.record(&log).unwrap();
    log.incomplete = false;
    h2.record(&log).unwrap();
    assert!(
        !h2.backups(None).unwrap()[0].incomplete,
        "a complete copy clears it"
    );
    // Marking by GUID.
    let g = t.recs[1].backup_set_guid.clone().unwrap();
    assert_eq!(h.set_damaged(&g.to_lowercase(), true).unwrap(), 1);
    assert!(h.backups(None).unwrap()[1].damaged);
}

#[test]
fn a_failed_import_leaves_the_history_as_it_was() {
    let t = timeline();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.db");
    let mut h = SqliteHistory::open(&path).unwrap();
    h.record(&t.recs[0]).unwrap();
    drop(h);
    // A store that fails on one record of a batch (a trigger stands in for a full disk or a
    // lost server): nothing of the batch is kept.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER boom BEFORE INSERT ON backup_set WHEN NEW.database_name = 'boom'
             BEGIN SELECT RAISE(ABORT, 'disk full'); END;",
        )
        .unwrap();
    let mut h = SqliteHistory::open(&path).unwrap();
    let mut bad = t.recs[2].clone();
    bad.database = "boom".into();
    let e = h.record_all(&[t.recs[1].clone(), bad]).unwrap_err();
    assert!(
        e.to_string()
            .contains("h.db: record log set 1 of /b/log.trn: disk full"),
        "{e}"
    );
    assert_eq!(h.backups(None).unwrap(), t.recs[..1]);
    // Not a history: refused by name.
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, b"junk").unwrap();
    let e = SqliteHistory::open(&junk).err().unwrap();
    assert!(
        e.to_string()
            .starts_with(&format!("{}: read the history", junk.display())),
        "{e}"
    );
    assert_eq!(std::fs::read(&junk).unwrap(), b"junk");
    // A link planted where the history should be: refused, nothing written through it.
    let link = dir.path().join("link.db");
    let elsewhere = dir.path().join("elsewhere.db");
    std::os::unix::fs::symlink(&elsewhere, &link).unwrap();
    let e = SqliteHistory::open(&link).err().unwrap();
    assert!(e.to_string().contains("symbolic link; refused"), "{e}");
    assert!(!elsewhere.exists());
}

#[test]
fn msdb_csv_reads_prefixed_and_quoted_headers_and_refuses_other_files() {
    let csv = "\u{feff}\"bs.database_name\",[type],bs.first_lsn,bs.last_lsn,bmf.physical_device_name,bmf.family_sequence_number,bs.backup_finish_date\n\
               Shop,D,1000,1100.0,/x/a.bak,1,2024-03-01 10:00:00.000\n\
               Shop,L,NULL,,/x/b.trn,1,\n";
    let recs = msdb_csv::read(csv.as_bytes(), "t.csv").unwrap();
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0].kind, BackupKind::Full);
    assert_eq!(recs[0].last_lsn.unwrap().0, 1100);
    assert_eq!(recs[1].first_lsn, None);
    assert_eq!(recs[0].paths(), ["/x/a.bak"]);
    let e = msdb_csv::read("name,size\nx,1\n".as_bytes(), "other.csv").unwrap_err();
    assert!(
        e.to_string()
            .starts_with("other.csv: line 1: no column \"database_name\""),
        "{e}"
    );
    let e = msdb_csv::read(
        "database_name,type,backup_finish_date\nA,D,yesterday\n".as_bytes(),
        "d.csv",
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "d.csv: line 2: column backup_finish_date: \"yesterday\" is not valid"
    );
}
