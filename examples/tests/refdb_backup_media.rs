//! The reference engine's backup sets, read by `mtfdump` through the decoders it uses for SQL
//! Server's sets: `sets` shows each set's type, database and LSNs, `verify` passes, `ls` lists
//! the database files, and `plan` builds the restore sequence from the tape images alone.

use media::changer::dir::DirectoryLibrary;
use media::changer::{MediaChanger, MediumRequest};
use media::dbbackup::{self, header, BackupOptions, BackupType};
use media::decision::Operation;
use media::engine::{Database, RecoveryModel};
use media::history::sqlite::SqliteHistory;
use media::set::MediaSet;
use media::stripe::{StripeDevice, StripeOptions};
use std::path::{Path, PathBuf};
use std::process::Command;

fn backup(
    db: &Database,
    kind: BackupType,
    lib: &Path,
    history: &mut SqliteHistory,
) -> (dbbackup::SetHeader, Vec<PathBuf>) {
    let set = MediaSet::new("REFDB", 1);
    let opts = tape_sys::EmulatedOptions::new()
        .capacity(32 << 20)
        .early_warning(64 * 1024);
    let mut l = DirectoryLibrary::new(lib, opts).unwrap();
    let first = l.mount(&MediumRequest::first_write(&set, 1, 0)).unwrap();
    let devices = vec![vec![StripeDevice {
        first,
        changer: Box::new(l),
    }]];
    let mut so = StripeOptions::new(Operation::Format, 1_717_200_000);
    so.write.block_size = 16 * 1024;
    let mut o = BackupOptions::new(kind);
    o.checksum = true;
    o.name = format!("sales {kind:?}");
    let out = dbbackup::backup(db, &o, devices, set, &so, history).unwrap();
    let paths = out.report.families[0]
        .used
        .iter()
        .map(|u| PathBuf::from(&u.name))
        .collect();
    (out.header, paths)
}

fn mtfdump(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mtfdump"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

fn lsn(l: u64) -> String {
    header::history_lsn(l).0.to_string()
}

#[test]
fn refdb_sets_read_in_mtfdump_sets_verify_ls_and_plan() {
    let tmp = tempfile::tempdir().unwrap();
    let db =
        Database::create(&tmp.path().join("sales"), "sales", RecoveryModel::Full, &[]).unwrap();
    let mut hist = SqliteHistory::open(&tmp.path().join("h.db")).unwrap();
    let work = |n: u32| {
        for i in 0..n {
            db.run(|t| t.put("PRIMARY", format!("k{i}").as_bytes(), b"v"))
                .unwrap();
        }
    };
    work(30);
    let (full, full_tapes) = backup(&db, BackupType::Full, &tmp.path().join("t1"), &mut hist);
    work(20);
    let (log, log_tapes) = backup(&db, BackupType::Log, &tmp.path().join("t2"), &mut hist);
    work(20);
    let (diff, diff_tapes) = backup(
        &db,
        BackupType::Differential,
        &tmp.path().join("t3"),
        &mut hist,
    );
    db.close().unwrap();

    for (h, tapes, word) in [
        (&full, &full_tapes, "Database"),
        (&log, &log_tapes, "Transaction Log"),
        (&diff, &diff_tapes, "Database Differential"),
    ] {
        let t = tapes[0].to_str().unwrap();
        let (code, out) = mtfdump(&["sets", "--json", t]);
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("\"sales\""), "database name: {out}");
        assert!(out.contains(word), "type {word}: {out}");
        for l in [h.first_lsn, h.last_lsn, h.checkpoint_lsn] {
            assert!(out.contains(&lsn(l)), "LSN {} ({}) in {out}", l, lsn(l));
        }
        let (code, out) = mtfdump(&["verify", t]);
        assert_eq!(code, 0, "verify: {out}");
        let (code, out) = mtfdump(&["ls", t]);
        assert_eq!(code, 0, "ls: {out}");
        assert!(out.contains("primary.mdf"), "ls names the data file: {out}");
    }
    // The differential names its base: the full's checkpoint.
    assert_eq!(diff.base_lsn, full.checkpoint_lsn);
    assert_eq!(diff.base_guid, full.set_guid);
    // The log follows on from the full.
    assert_eq!(log.first_lsn, full.checkpoint_lsn);

    // `mtfdump plan` over the tape images: the full, then the differential (the latest point).
    let all: Vec<&str> = [&full_tapes, &log_tapes, &diff_tapes]
        .iter()
        .flat_map(|t| t.iter().map(|p| p.to_str().unwrap()))
        .collect();
    let mut args = vec!["plan", "--json"];
    args.extend(all.iter().copied());
    let (code, out) = mtfdump(&args);
    assert_eq!(code, 0, "plan: {out}");
    let full_at = out
        .find(full_tapes[0].to_str().unwrap())
        .expect("full in plan");
    let diff_at = out
        .find(diff_tapes[0].to_str().unwrap())
        .expect("diff in plan");
    assert!(full_at < diff_at, "{out}");
}
