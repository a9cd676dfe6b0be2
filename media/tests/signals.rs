//! The engine's work and its backups and restores through media while signals interrupt the
//! thread doing them (a handler installed without `SA_RESTART`, as a product that links the
//! library may have): commits, a full backup, log backups (which truncate the log by copying
//! its active part), and restores of the full and the logs, whose rows must equal the commits'.
//!
//! One test in its own binary: the handler is the whole process's.

mod common;

use common::dbenv::{commit, restore, rows_in, Rows};
use media::changer::dir::DirectoryLibrary;
use media::changer::MediaChanger;
use media::dbbackup::{self, BackupOptions, BackupType, Recovery, RestoreOptions};
use media::decision::Operation;
use media::engine::{Database, RecoveryModel};
use media::history::sqlite::SqliteHistory;
use media::set::MediaSet;
use media::stripe::{StripeDevice, StripeOptions};
use std::path::Path;

#[path = "../../mtf/tests/support/interrupter.rs"]
mod interrupter;
use interrupter::Interrupter;

fn backup(db: &Database, history: &mut SqliteHistory, lib: &Path, kind: BackupType) {
    let set = MediaSet::new("SIGNALS", 1);
    let mut l = DirectoryLibrary::new(lib, common::tape(64 << 20)).unwrap();
    let first = l.mount(&common::write_request(&set, 1, 0)).unwrap();
    let devices = vec![vec![StripeDevice {
        first,
        changer: Box::new(l),
    }]];
    let so = StripeOptions::new(Operation::Format, common::NOW);
    dbbackup::backup(db, &BackupOptions::new(kind), devices, set, &so, history).unwrap();
}

fn restore_with(into: &Path, lib: &Path, recovery: Recovery) {
    let opts = RestoreOptions {
        recovery,
        ..Default::default()
    };
    restore(into, lib, &opts).unwrap();
}

/// Rows `from..from + n` of PRIMARY, 100 to a transaction.
fn put_rows(db: &Database, rows: &mut Rows, from: u32, n: u32, tag: &str) {
    let changes: Vec<(&str, String, Option<String>)> = (from..from + n)
        .map(|i| {
            let v = format!("{tag}{i}-{}", "z".repeat(1500 + (i % 50) as usize));
            ("PRIMARY", format!("row{i:05}"), Some(v))
        })
        .collect();
    for part in changes.chunks(100) {
        commit(db, rows, part);
    }
}

#[test]
fn backups_and_restores_are_whole_while_signals_interrupt_them() {
    let tmp = tempfile::tempdir().unwrap();
    let _timer = Interrupter::start();
    let mut history = SqliteHistory::open(&tmp.path().join("history.db")).unwrap();
    let db = Database::create(&tmp.path().join("src"), "sales", RecoveryModel::Full, &[]).unwrap();
    let mut rows = Rows::new();
    put_rows(&db, &mut rows, 0, 3000, "first");
    backup(
        &db,
        &mut history,
        &tmp.path().join("full"),
        BackupType::Full,
    );
    let mut logs = Vec::new();
    // Many log backups, each truncating the log: every truncation is a copy a signal can cut.
    for n in 0..8u32 {
        put_rows(&db, &mut rows, n * 300, 600, &format!("log{n}-"));
        let lib = tmp.path().join(format!("log{n}"));
        backup(&db, &mut history, &lib, BackupType::Log);
        logs.push(lib);
    }
    db.close().unwrap();

    let target = tmp.path().join("restored").join("sales");
    std::fs::create_dir(target.parent().unwrap()).unwrap();
    restore_with(&target, &tmp.path().join("full"), Recovery::NoRecovery);
    for (i, lib) in logs.iter().enumerate() {
        let last = i + 1 == logs.len();
        restore_with(
            &target,
            lib,
            if last {
                Recovery::Recovery
            } else {
                Recovery::NoRecovery
            },
        );
    }
    assert!(
        rows_in(&target, &["PRIMARY"]) == rows,
        "the restored rows differ"
    );
}
