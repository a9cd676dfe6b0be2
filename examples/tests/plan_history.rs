//! `mtfdump plan` and `mtfdump history` on real SQL Server backups, read in place from the
//! foreign folder (`../shared/testdata/foreign`), on msdb CSV exports, and on hostile input.
//!
//! Expectations come from the samples' PROVENANCE (what dbatools' own tests expected when they
//! restored the RestoreTimeClean chain on a real SQL Server) and from the backup rules applied
//! to the dates and LSNs `mtfdump sets` shows, never from the planner's output.
//!
//! Time zones: the SQL Server headers hold the server's local time (the SSET time zone of this
//! chain is +8 quarter hours, UTC+2, which the dates are *not* shifted by), and RESTORE … STOPAT
//! takes the server's local time too. dbatools' expectation "2017-06-01 13:22:44, latest row
//! 13:22:43" is in that same clock: its table's rows, written by the server, span 12:59:12 (the
//! full's start in the header) to 13:28:43 (the last log starts at 13:29:13). So the target is
//! compared with the header dates as they are; no conversion.

#[path = "../../mtf/tests/common/mod.rs"]
mod common;

use mtf_examples::dump::history::{run_import, run_list};
use mtf_examples::dump::plan::{run, Format, PlanArgs};
use mtf_examples::dump::Outcome;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn chain_dir() -> Option<PathBuf> {
    common::foreign_dir().map(|d| d.join("chains/restoretimeclean-2008r2"))
}

/// The named files of a folder.
fn in_dir(dir: &Path, names: &[&str]) -> Vec<PathBuf> {
    names.iter().map(|n| dir.join(n)).collect()
}

fn plan_json(args: &PlanArgs) -> (Value, Outcome) {
    let mut out = Vec::new();
    let outcome = run(args, Format::Json, &mut out).expect("plan runs");
    (serde_json::from_slice(&out).expect("JSON"), outcome)
}

fn args(paths: Vec<PathBuf>, stopat: Option<&str>) -> PlanArgs {
    PlanArgs {
        paths,
        stopat: stopat.map(String::from),
        ..Default::default()
    }
}

fn names(step: &Value) -> Vec<String> {
    step["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            Path::new(f.as_str().unwrap())
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

fn step_names(plan: &Value) -> Vec<String> {
    plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| names(s).join("+"))
        .collect()
}

#[test]
fn restoretimeclean_2008r2_latest_is_full_differential_and_three_logs() {
    let Some(dir) = chain_dir() else { return };
    let (v, outcome) = plan_json(&args(vec![dir.clone()], None));
    assert_eq!(outcome, Outcome::Ok);
    let plans = v["plans"].as_array().unwrap();
    assert_eq!(plans.len(), 1);
    let p = &plans[0];
    assert_eq!(p["database"], "RestoreTimeClean");
    assert_eq!(p["target"], Value::Null);
    assert_eq!(
        step_names(p),
        [
            "RestoreTimeClean.bak",
            "RestoreTimeClean2.bak",
            "RestoreTimeClean2_1.trn",
            "RestoreTimeClean2_2.trn",
            "RestoreTimeClean2_3.trn"
        ]
    );
    let steps = p["steps"].as_array().unwrap();
    let types: Vec<&str> = steps
        .iter()
        .map(|s| s["backup_type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["full", "differential", "log", "log", "log"]);
    for (i, s) in steps.iter().enumerate() {
        assert_eq!(s["position"], 1);
        assert_eq!(s["stopat"], Value::Null);
        assert_eq!(
            s["recovery"],
            if i == 4 { "RECOVERY" } else { "NORECOVERY" }
        );
        // The files are as found: under the folder given.
        assert!(s["files"][0]
            .as_str()
            .unwrap()
            .starts_with(dir.to_str().unwrap()));
    }
    // LSNs as `mtfdump sets` shows them: the full 25:62:170 .. 25:132:1, the last log ends at
    // 25:220:1.
    assert_eq!(steps[0]["first_lsn"], "25000000006200170");
    assert_eq!(steps[0]["last_lsn"], "25000000013200001");
    assert_eq!(steps[4]["last_lsn"], "25000000022000001");
    assert!(p["problems"].as_array().unwrap().is_empty());
    // The exact key set of the JSON shape.
    let keys: Vec<&String> = steps[0].as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "backup_type",
            "files",
            "first_lsn",
            "last_lsn",
            "position",
            "recovery",
            "stopat"
        ]
    );
}

#[test]
fn restoretimeclean_2008r2_at_13_22_44_stops_in_the_second_log() {
    let Some(dir) = chain_dir() else { return };
    let (v, outcome) = plan_json(&args(vec![dir.clone()], Some("2017-06-01T13:22:44")));
    assert_eq!(outcome, Outcome::Ok);
    let p = &v["plans"][0];
    assert_eq!(p["target"], "2017-06-01T13:22:44");
    assert_eq!(
        step_names(p),
        [
            "RestoreTimeClean.bak",
            "RestoreTimeClean2.bak",
            "RestoreTimeClean2_1.trn",
            "RestoreTimeClean2_2.trn"
        ]
    );
    let steps = p["steps"].as_array().unwrap();
    assert_eq!(steps[3]["stopat"], "2017-06-01T13:22:44");
    assert_eq!(steps[3]["recovery"], "RECOVERY");
    assert!(steps[..3].iter().all(|s| s["stopat"].is_null()));

    // The T-SQL an administrator would run.
    let mut out = Vec::new();
    let mut a = args(vec![dir.clone()], Some("2017-06-01 13:22:44"));
    a.moves = vec!["RestoreTimeClean=/srv/sql/rtc.mdf".into()];
    run(&a, Format::Tsql, &mut out).unwrap();
    let sql = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = sql.lines().filter(|l| !l.starts_with("--")).collect();
    assert_eq!(lines.len(), 4, "{sql}");
    let f = |n: &str| dir.join(n).display().to_string();
    assert_eq!(
        lines[0],
        format!(
            "RESTORE DATABASE [RestoreTimeClean] FROM DISK = N'{}' WITH FILE = 1, MOVE N'RestoreTimeClean' TO N'/srv/sql/rtc.mdf', NORECOVERY;",
            f("RestoreTimeClean.bak")
        )
    );
    assert!(lines[1].starts_with("RESTORE DATABASE [RestoreTimeClean] FROM DISK"));
    assert!(lines[1].ends_with("RestoreTimeClean2.bak' WITH FILE = 1, NORECOVERY;"));
    assert_eq!(
        lines[3],
        format!(
            "RESTORE LOG [RestoreTimeClean] FROM DISK = N'{}' WITH FILE = 1, STOPAT = '2017-06-01T13:22:44', RECOVERY;",
            f("RestoreTimeClean2_2.trn")
        )
    );
}

#[test]
fn restoretimeclean_2008r2_other_targets_follow_the_rules() {
    let Some(dir) = chain_dir() else { return };
    // 13:10: the differential finished at 13:14:13, after the target: the full and the first
    // chain of logs; _3 (13:14:13) holds 13:10.
    let (v, _) = plan_json(&args(vec![dir.clone()], Some("2017-06-01T13:10:00")));
    assert_eq!(
        step_names(&v["plans"][0]),
        [
            "RestoreTimeClean.bak",
            "RestoreTimeClean_1.trn",
            "RestoreTimeClean_2.trn",
            "RestoreTimeClean_3.trn"
        ]
    );
    // Before the full.
    let (v, outcome) = plan_json(&args(vec![dir.clone()], Some("2017-06-01T12:00:00")));
    assert_eq!(outcome, Outcome::Problems);
    assert!(v["plans"][0]["steps"].as_array().unwrap().is_empty());
    let why = v["plans"][0]["problems"][0].as_str().unwrap();
    assert!(
        why.starts_with("target before the earliest full backup ("),
        "{why}"
    );
    assert!(
        why.contains("RestoreTimeClean.bak, finished 2017-06-01T12:59:12"),
        "{why}"
    );
    // After the last log: the chain ends at 13:29:13.
    let (v, outcome) = plan_json(&args(vec![dir], Some("2017-06-01T14:00:00")));
    assert_eq!(outcome, Outcome::Problems);
    let why = v["plans"][0]["problems"][0].as_str().unwrap();
    assert!(
        why.starts_with("log chain ends at 2017-06-01T13:29:13 (LSN 25000000022000001, "),
        "{why}"
    );
    assert!(
        why.ends_with("RestoreTimeClean2_3.trn) before the target"),
        "{why}"
    );
}

#[test]
fn a_missing_log_in_the_chain_is_an_lsn_gap_between_named_files() {
    let Some(dir) = chain_dir() else { return };
    let files = in_dir(
        &dir,
        &[
            "RestoreTimeClean.bak",
            "RestoreTimeClean2.bak",
            "RestoreTimeClean2_1.trn",
            "RestoreTimeClean2_3.trn",
            "RestoreTimeClean_1.trn",
            "RestoreTimeClean_2.trn",
            "RestoreTimeClean_3.trn",
        ],
    );
    let (v, outcome) = plan_json(&args(files.clone(), None));
    assert_eq!(outcome, Outcome::Problems);
    let p = &v["plans"][0];
    assert!(p["steps"].as_array().unwrap().is_empty());
    let problems: Vec<&str> = p["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    // 2_1 ends at 25:200:1, 2_3 starts at 25:210:1 (mtfdump sets).
    assert!(
        problems[0].starts_with(
            "LSN gap from 25000000020000001 to 25000000021000001: no backup covers it between "
        ),
        "{problems:?}"
    );
    assert!(problems[0].contains("RestoreTimeClean2_1.trn and "));
    assert!(problems[0].ends_with("RestoreTimeClean2_3.trn"));
    assert!(problems[1].starts_with("log chain ends at 2017-06-01T13:19:13"));
    // Up to 13:19 the plan is still there.
    let (v, outcome) = plan_json(&args(files, Some("2017-06-01T13:18:00")));
    assert_eq!(outcome, Outcome::Ok);
    assert_eq!(step_names(&v["plans"][0]).len(), 3);
}

#[test]
fn striped_full_and_log_merge_into_one_step_each() {
    let Some(f) = common::foreign_dir() else {
        return;
    };
    let all = in_dir(
        &f,
        &[
            "sql2008r2_stripe_full_1of2.bak",
            "sql2008r2_stripe_full_2of2.bak",
            "sql2008r2_stripe_log_1of2.trn",
            "sql2008r2_stripe_log_2of2.trn",
        ],
    );
    let (v, outcome) = plan_json(&args(all.clone(), None));
    assert_eq!(outcome, Outcome::Ok);
    let p = &v["plans"][0];
    assert_eq!(p["database"], "RestoreTimeStripe");
    assert_eq!(
        step_names(p),
        [
            "sql2008r2_stripe_full_1of2.bak+sql2008r2_stripe_full_2of2.bak",
            "sql2008r2_stripe_log_1of2.trn+sql2008r2_stripe_log_2of2.trn"
        ]
    );
    let mut out = Vec::new();
    run(&args(all.clone(), None), Format::Tsql, &mut out).unwrap();
    let sql = String::from_utf8(out).unwrap();
    assert!(sql.contains(&format!(
        "FROM DISK = N'{}', DISK = N'{}' WITH FILE = 1, NORECOVERY;",
        all[0].display(),
        all[1].display()
    )));
    // Without the full's second family: the full is unusable, and the plan says which family.
    let partial = vec![all[0].clone(), all[2].clone(), all[3].clone()];
    let (v, outcome) = plan_json(&args(partial, None));
    assert_eq!(outcome, Outcome::Problems);
    let problems = v["plans"][0]["problems"].as_array().unwrap();
    let first = problems[0].as_str().unwrap();
    assert!(
        first.contains("sql2008r2_stripe_full_1of2.bak: left out: media family 2 of 2 missing"),
        "{first}"
    );
    assert_eq!(problems[1], "no usable full backup of the database");
}

#[test]
fn the_2016_full_log_and_differential() {
    let Some(f) = common::foreign_dir() else {
        return;
    };
    let all = in_dir(
        &f,
        &[
            "sql2016_full_restoretimeclean.bak",
            "sql2016_log_restoretimeclean.trn",
            "sql2016_diff_restoretimeclean.bak",
        ],
    );
    // Latest: the differential (21:15:56) is the newest; the log (21:05:55) lies before it
    // and is left out.
    let (v, _) = plan_json(&args(all.clone(), None));
    assert_eq!(
        step_names(&v["plans"][0]),
        [
            "sql2016_full_restoretimeclean.bak",
            "sql2016_diff_restoretimeclean.bak"
        ]
    );
    // 21:03: the log, taken after the full started (its first LSN 39:474:1 is before the
    // full's), holds it.
    let (v, _) = plan_json(&args(all.clone(), Some("2019-05-02T21:03:00")));
    assert_eq!(
        step_names(&v["plans"][0]),
        [
            "sql2016_full_restoretimeclean.bak",
            "sql2016_log_restoretimeclean.trn"
        ]
    );
    assert_eq!(v["plans"][0]["steps"][1]["stopat"], "2019-05-02T21:03:00");
    // 21:10: after the log, before the differential finished: nothing holds it.
    let (v, outcome) = plan_json(&args(all, Some("2019-05-02T21:10:00")));
    assert_eq!(outcome, Outcome::Problems);
    assert!(v["plans"][0]["problems"][0]
        .as_str()
        .unwrap()
        .starts_with("log chain ends at 2019-05-02T21:05:55"));
}

#[test]
fn a_folder_of_several_databases_gets_one_plan_each() {
    let Some(f) = common::foreign_dir() else {
        return;
    };
    let (v, _) = plan_json(&args(vec![f], None));
    let dbs: Vec<&str> = v["plans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["database"].as_str().unwrap())
        .collect();
    for want in [
        "RestoreTimeClean",
        "RestoreTimeStripe",
        "pubs",
        "singlerestore",
    ] {
        assert_eq!(dbs.iter().filter(|d| **d == want).count(), 1, "{dbs:?}");
    }
    // --database picks one (without case).
    let mut a = args(vec![common::foreign_dir().unwrap()], None);
    a.database = Some("restoretimestripe".into());
    let (v, _) = plan_json(&a);
    assert_eq!(v["plans"].as_array().unwrap().len(), 1);
}

#[test]
fn history_import_is_idempotent_and_plans_like_the_media() {
    let Some(dir) = chain_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("history.db");
    let mut out = Vec::new();
    assert_eq!(
        run_import(std::slice::from_ref(&dir), &db, true, &mut out).unwrap(),
        Outcome::Ok
    );
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        (v["sets_new"].as_u64(), v["sets_updated"].as_u64()),
        (Some(8), Some(0))
    );
    out.clear();
    run_import(std::slice::from_ref(&dir), &db, true, &mut out).unwrap();
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        (v["sets_new"].as_u64(), v["sets_updated"].as_u64()),
        (Some(0), Some(8))
    );
    // Planned from the history alone: the same steps as from the media.
    let from_media = plan_json(&args(vec![dir.clone()], Some("2017-06-01T13:22:44"))).0;
    let from_history = plan_json(&PlanArgs {
        history: Some(db.clone()),
        stopat: Some("2017-06-01T13:22:44".into()),
        ..Default::default()
    })
    .0;
    assert_eq!(from_media, from_history);
    // Both together: the sets seen twice are one.
    let both = plan_json(&PlanArgs {
        paths: vec![dir],
        history: Some(db.clone()),
        stopat: Some("2017-06-01T13:22:44".into()),
        ..Default::default()
    })
    .0;
    assert_eq!(both, from_media);
    out.clear();
    run_list(&db, Some("restoretimeclean"), true, &mut out).unwrap();
    let v: Value = serde_json::from_slice(&out).unwrap();
    let rows = v["backups"].as_array().unwrap();
    assert_eq!(rows.len(), 8);
    // Oldest first; the media headers carry no copy-only flag: unknown.
    assert_eq!(rows[0]["backup_type"], "full");
    assert!(rows.iter().all(|r| r["copy_only"].is_null()));
}

const CSV: &str = "\
backup_set_id,backup_set_uuid,media_set_id,position,database_name,server_name,type,is_copy_only,first_lsn,last_lsn,checkpoint_lsn,database_backup_lsn,differential_base_lsn,differential_base_guid,backup_start_date,backup_finish_date,time_zone,recovery_model,is_damaged,has_incomplete_metadata,family_sequence_number,physical_device_name,device_type,mirror
1,{11111111-2222-3333-4444-555555555555},7,1,Shop,SRV1,D,0,1000,1100,1000,0,NULL,NULL,2024-03-01 10:00:00.000,2024-03-01 10:01:00.000,4,FULL,0,0,1,\\\\nas\\sql\\shop_1.bak,2,0
1,{11111111-2222-3333-4444-555555555555},7,1,Shop,SRV1,D,0,1000,1100,1000,0,NULL,NULL,2024-03-01 10:00:00.000,2024-03-01 10:01:00.000,4,FULL,0,0,2,\\\\nas\\sql\\shop_2.bak,2,0
1,{11111111-2222-3333-4444-555555555555},7,1,Shop,SRV1,D,0,1000,1100,1000,0,NULL,NULL,2024-03-01 10:00:00.000,2024-03-01 10:01:00.000,4,FULL,0,0,1,\\\\mirror\\shop_1.bak,2,1
2,{22222222-2222-3333-4444-555555555555},8,1,Shop,SRV1,L,0,1000,1200,1000,1000,NULL,NULL,2024-03-01 11:00:00.000,2024-03-01 11:00:05.000,4,FULL,0,0,1,\\\\.\\Tape0,5,0
3,{33333333-2222-3333-4444-555555555555},8,2,Shop,SRV1,L,1,1200,1250,1000,1000,NULL,NULL,2024-03-01 11:30:00.000,2024-03-01 11:30:05.000,4,FULL,0,0,1,\\\\.\\Tape0,5,0
4,{44444444-2222-3333-4444-555555555555},8,3,Shop,SRV1,L,0,1200,1300,1000,1000,NULL,NULL,2024-03-01 12:00:00.000,2024-03-01 12:00:05.000,4,FULL,0,0,1,\\\\.\\Tape0,5,0
";

#[test]
fn msdb_csv_export_imports_and_plans() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("backupset.csv");
    std::fs::write(&csv, CSV).unwrap();
    let db = tmp.path().join("h.db");
    let mut out = Vec::new();
    run_import(std::slice::from_ref(&csv), &db, true, &mut out).unwrap();
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["sets_new"], 4);
    let mut out = Vec::new();
    let a = PlanArgs {
        history: Some(db),
        stopat: Some("2024-03-01T11:45:00".into()),
        ..Default::default()
    };
    assert_eq!(run(&a, Format::Tsql, &mut out).unwrap(), Outcome::Ok);
    let sql = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = sql.lines().filter(|l| !l.starts_with("--")).collect();
    // Both families of the full (mirror 0's paths), then the regular log at position 1 and,
    // leaving out the copy-only log (its range is inside the next one), the 12:00 log with
    // STOPAT; the tape device named as a tape.
    assert_eq!(
        lines,
        [
            "RESTORE DATABASE [Shop] FROM DISK = N'\\\\nas\\sql\\shop_1.bak', DISK = N'\\\\nas\\sql\\shop_2.bak' WITH FILE = 1, NORECOVERY;",
            "RESTORE LOG [Shop] FROM TAPE = N'\\\\.\\Tape0' WITH FILE = 1, NORECOVERY;",
            "RESTORE LOG [Shop] FROM TAPE = N'\\\\.\\Tape0' WITH FILE = 3, STOPAT = '2024-03-01T11:45:00', RECOVERY;",
        ]
    );
}

#[test]
fn hostile_and_mistaken_input_is_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    // A history path that is some other file: refused, left as it was.
    let not_db = tmp.path().join("notes.txt");
    std::fs::write(&not_db, b"my precious notes, not a database\n").unwrap();
    let e = run_import(
        std::slice::from_ref(&not_db),
        &not_db,
        false,
        &mut Vec::new(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("notes.txt"), "{e}");
    assert_eq!(
        std::fs::read(&not_db).unwrap(),
        b"my precious notes, not a database\n"
    );
    // An SQLite database that is not a history: refused, unchanged.
    let other = tmp.path().join("other.db");
    {
        let c = rusqlite::Connection::open(&other).unwrap();
        c.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
            .unwrap();
    }
    let before = std::fs::read(&other).unwrap();
    let e = mtf_examples::dump::history::open_history(&other)
        .err()
        .unwrap();
    assert!(e.to_string().contains("not a backup history"), "{e}");
    assert_eq!(std::fs::read(&other).unwrap(), before);
    // A bad --stopat, a bad --move.
    let mut a = args(vec![tmp.path().to_path_buf()], Some("2017-06-01 25:00:00"));
    let e = run(&a, Format::Json, &mut Vec::new()).unwrap_err();
    assert!(e.to_string().contains("--stopat"), "{e}");
    a.stopat = None;
    a.moves = vec!["nodest".into()];
    let e = run(&a, Format::Json, &mut Vec::new()).unwrap_err();
    assert!(e.to_string().contains("--move \"nodest\""), "{e}");
    // A folder with nothing to plan.
    let e = run(
        &args(vec![tmp.path().to_path_buf()], None),
        Format::Json,
        &mut Vec::new(),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("no SQL Server backup sets found"),
        "{e}"
    );
    // A CSV with a bad cell: the file, the line and the column.
    let csv = tmp.path().join("bad.csv");
    std::fs::write(
        &csv,
        "database_name,type,first_lsn\nShop,D,1000\nShop,L,12x4\n",
    )
    .unwrap();
    let db = tmp.path().join("h.db");
    let mut out = Vec::new();
    assert_eq!(
        run_import(&[csv], &db, false, &mut out).unwrap(),
        Outcome::Problems
    );
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("bad.csv: line 3: column first_lsn: \"12x4\" is not valid"),
        "{text}"
    );
    // A named file that is not MTF is reported; the import goes on.
    let junk = tmp.path().join("junk.bak");
    std::fs::write(&junk, vec![0x41u8; 4096]).unwrap();
    let mut out = Vec::new();
    let o = run_import(&[junk], &db, false, &mut out).unwrap();
    assert_eq!(o, Outcome::Problems);
    assert!(String::from_utf8(out).unwrap().contains("junk.bak"));
}

#[test]
fn tape_images_and_other_mtf_media_import_without_sql_sets() {
    // This project's own images (a .tap tape image and a .bkf file, file-tree backups): read
    // through the same sources as every mtfdump command, no SQL Server set, no problem.
    let root = common::workspace_root().join("testdata");
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("h.db");
    let mut out = Vec::new();
    let o = run_import(
        &[root.join("small.tap"), root.join("small.bkf")],
        &db,
        true,
        &mut out,
    )
    .unwrap();
    assert_eq!(o, Outcome::Ok);
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["sets_new"], 0);
    assert!(v["problems"].as_array().unwrap().is_empty());
    // Planning from them: nothing to plan, said plainly.
    let e = run(
        &args(vec![root.join("small.tap")], None),
        Format::Text,
        &mut Vec::new(),
    )
    .unwrap_err();
    assert_eq!(e.to_string(), "no SQL Server backup sets found");
}

#[test]
fn a_truncated_log_is_left_out_by_name_and_the_gap_it_leaves_is_explained() {
    let Some(dir) = chain_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    // The log that holds 13:22:44, cut short (a copy of its first 40,000 bytes, in a temporary
    // folder): its set has no trailer and damage where it stops.
    let cut = tmp.path().join("RestoreTimeClean2_2.trn");
    let bytes = std::fs::read(dir.join("RestoreTimeClean2_2.trn")).unwrap();
    std::fs::write(&cut, &bytes[..40_000]).unwrap();
    let mut files = in_dir(
        &dir,
        &[
            "RestoreTimeClean.bak",
            "RestoreTimeClean2.bak",
            "RestoreTimeClean2_1.trn",
            "RestoreTimeClean2_3.trn",
        ],
    );
    files.push(cut.clone());
    let (v, outcome) = plan_json(&args(files, Some("2017-06-01T13:22:44")));
    assert_eq!(outcome, Outcome::Problems);
    let p = &v["plans"][0];
    assert!(p["steps"].as_array().unwrap().is_empty());
    let problems: Vec<&str> = p["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    assert_eq!(problems[0], format!("{}: left out: damaged", cut.display()));
    assert!(problems[1].starts_with("LSN gap from 25000000020000001 to 25000000021000001"));
    assert!(problems[2].starts_with("log chain ends at 2017-06-01T13:19:13"));
}

#[test]
fn compressed_and_unreadable_files_are_named_and_the_rest_still_read() {
    let Some(f) = common::foreign_dir() else {
        return;
    };
    let (recs, problems) = mtf_examples::dump::history::read_records(&[
        f.join("compressed_tsqlv4.bak"),
        f.join("sql2012_full_pubs.bak"),
    ])
    .unwrap();
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].database, "pubs");
    assert_eq!(problems.len(), 1);
    assert!(problems[0].contains("compressed_tsqlv4.bak: SQL Server compressed backup"));
    // A path that does not exist is the user's typo: an error naming it.
    let e = mtf_examples::dump::history::read_records(&[f.join("no-such.bak")]).unwrap_err();
    assert!(e.to_string().contains("no-such.bak"), "{e}");
}
