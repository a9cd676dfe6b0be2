//! The reference documents' worked restore examples (`../shared/seeds/`), as planner tests over
//! synthetic history rows. The expected sequences are the documents' own words, quoted above
//! each test.

#[path = "common/synthetic.rs"]
mod synthetic;

use media::history::{iso, BackupKind, RecoveryModel};
use media::plan::{plan_all, plan_database, Plan, Problem, Target};
use synthetic::{at, day, Timeline};

/// A backup lost, or kept but marked damaged.
fn lose_or_damage(t: &mut Timeline, name: &str, damaged: bool) {
    if damaged {
        t.get(name).damaged = true;
    } else {
        t.lose(name);
    }
}

fn files(p: &Plan) -> Vec<String> {
    p.steps.iter().map(|s| s.files[0].clone()).collect()
}

fn stopats(p: &Plan) -> Vec<Option<String>> {
    p.steps.iter().map(|s| s.stopat.as_ref().map(iso)).collect()
}

/// "8:00 A.M. back up database; noon, 4:00 P.M. back up transaction log; 6:00 P.M. back up
/// database; 8:00 P.M. back up transaction log; 10:00 P.M. failure occurs. The transaction log
/// backup created at 8:00 P.M. contains transaction log records from 4:00 P.M. through
/// 8:00 P.M., spanning the time when the database backup was created at 6:00 P.M. … You can
/// restore an earlier database backup, and then restore all of the transaction log backups
/// created after the database backup was created."
fn eight_am() -> Timeline {
    let mut t = Timeline::new();
    t.full(day(0, 8, 0), "full_0800.bak", false);
    t.log(day(0, 12, 0), "log_1200.trn");
    t.log(day(0, 16, 0), "log_1600.trn");
    t.full(day(0, 18, 0), "full_1800.bak", false);
    t.log(day(0, 20, 0), "log_2000.trn");
    t
}

#[test]
fn eight_am_schedule_latest_uses_the_6pm_full_and_the_8pm_log() {
    let t = eight_am();
    let p = plan_database(&t.recs, Target::Latest);
    assert!(p.is_valid(), "{:?}", p.problems);
    assert_eq!(files(&p), ["full_1800.bak", "log_2000.trn"]);
    assert_eq!(stopats(&p), [None, None]);
    assert!(!p.steps[0].recovery && p.steps[1].recovery);
}

#[test]
fn eight_am_schedule_falls_back_to_the_8am_full_when_the_6pm_one_is_lost() {
    for damaged in [false, true] {
        let mut t = eight_am();
        lose_or_damage(&mut t, "full_1800.bak", damaged);
        let p = plan_database(&t.recs, Target::Latest);
        assert!(p.is_valid(), "{:?}", p.problems);
        assert_eq!(
            files(&p),
            [
                "full_0800.bak",
                "log_1200.trn",
                "log_1600.trn",
                "log_2000.trn"
            ]
        );
        if damaged {
            assert!(p.problems.contains(&Problem::Unusable {
                file: "full_1800.bak".into(),
                reason: "damaged".into()
            }));
        }
    }
}

#[test]
fn eight_am_schedule_point_in_time_and_the_failure_time() {
    let t = eight_am();
    // 7 PM: the 6 PM full, then the 8 PM log with STOPAT.
    let p = plan_database(&t.recs, Target::At(at(day(0, 19, 0))));
    assert_eq!(files(&p), ["full_1800.bak", "log_2000.trn"]);
    assert_eq!(stopats(&p), [None, Some("2024-01-01T19:00:00".into())]);
    // 2 PM: before the 6 PM full, so the 8 AM full and the logs to 4 PM.
    let p = plan_database(&t.recs, Target::At(at(day(0, 14, 0))));
    assert_eq!(files(&p), ["full_0800.bak", "log_1200.trn", "log_1600.trn"]);
    assert_eq!(stopats(&p)[2].as_deref(), Some("2024-01-01T14:00:00"));
    // 10 PM, the failure: no backup after 8 PM holds it (no tail-log backup was taken).
    let p = plan_database(&t.recs, Target::At(at(day(0, 22, 0))));
    assert!(p.steps.is_empty());
    assert_eq!(
        p.problems,
        [Problem::ChainEndsBeforeTarget {
            end: Some(at(day(0, 20, 0))),
            end_lsn: t.recs[4].last_lsn.unwrap(),
            file: "log_2000.trn".into()
        }]
    );
    assert!(p.problems[0]
        .to_string()
        .contains("log chain ends at 2024-01-01T20:00:00"));
    // 7 AM: before the earliest full.
    let p = plan_database(&t.recs, Target::At(at(day(0, 7, 0))));
    assert!(p.steps.is_empty());
    assert!(matches!(
        &p.problems[..],
        [Problem::TargetBeforeEarliestFull { file, .. }] if file == "full_0800.bak"
    ));
    assert!(p.problems[0]
        .to_string()
        .contains("target before the earliest full"));
}

/// "Midnight (Tuesday) database backup; 6:00 A.M., noon, 6:00 P.M. (Wednesday) differential;
/// midnight (Wednesday) database backup; 6:00 A.M., noon (Thursday) differential. To restore
/// the database to its state at noon on Thursday: 1. Restore the database backup created at
/// midnight on Wednesday. 2. Restore the differential database backup created at noon on
/// Thursday. … if the database backup from midnight on Wednesday is lost or damaged, it is
/// possible to restore the database only to its state at 6:00 P.M. on Wednesday."
fn tue_thu() -> Timeline {
    let mut t = Timeline::new();
    // "Midnight (Tuesday)" is the night from Tuesday to Wednesday.
    t.full(day(2, 0, 0), "full_tue.bak", false);
    t.diff(day(2, 6, 0), "diff_wed_0600.bak");
    t.diff(day(2, 12, 0), "diff_wed_1200.bak");
    t.diff(day(2, 18, 0), "diff_wed_1800.bak");
    t.full(day(3, 0, 0), "full_wed.bak", false);
    t.diff(day(3, 6, 0), "diff_thu_0600.bak");
    t.diff(day(3, 12, 0), "diff_thu_1200.bak");
    t
}

#[test]
fn tuesday_to_thursday_full_and_differentials() {
    let t = tue_thu();
    let noon = Target::At(at(day(3, 12, 0)));
    let p = plan_database(&t.recs, noon);
    assert!(p.is_valid(), "{:?}", p.problems);
    assert_eq!(files(&p), ["full_wed.bak", "diff_thu_1200.bak"]);
    assert_eq!(stopats(&p), [None, None]);
    assert_eq!(
        (p.steps[0].kind, p.steps[1].kind),
        (BackupKind::Full, BackupKind::Differential)
    );
    // Latest gives the same.
    assert_eq!(files(&plan_database(&t.recs, Target::Latest)), files(&p));
    for damaged in [false, true] {
        let mut t = tue_thu();
        lose_or_damage(&mut t, "full_wed.bak", damaged);
        let p = plan_database(&t.recs, noon);
        assert_eq!(files(&p), ["full_tue.bak", "diff_wed_1800.bak"]);
        // No log backups: no point in time, and the plan says where it stops.
        assert!(p.problems.contains(&Problem::NoPointInTime {
            simple_recovery: false,
            stops_at: Some(at(day(2, 18, 0))),
            file: "diff_wed_1800.bak".into()
        }));
        assert!(!p.problems.iter().any(Problem::is_refusal));
    }
}

#[test]
fn simple_recovery_stops_at_the_last_full_or_differential_and_says_so() {
    let mut t = tue_thu();
    for r in &mut t.recs {
        r.recovery_model = Some(RecoveryModel::Simple);
    }
    let p = plan_database(&t.recs, Target::At(at(day(3, 9, 30))));
    assert_eq!(files(&p), ["full_wed.bak", "diff_thu_0600.bak"]);
    assert_eq!(stopats(&p), [None, None]);
    let msg = p.problems.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        msg,
        ["simple recovery model: no point-in-time restore; the plan stops at 2024-01-04T06:00:00 (diff_thu_0600.bak)"]
    );
}

/// "a database backup is created each night at midnight, a differential database backup is
/// created on the hour, Monday through Saturday, and transaction log backups are created every
/// 10 minutes throughout the day. If the database needs to be restored to its state at
/// 5:19 A.M. on Wednesday: 1. Restore the database backup created on Tuesday night. 2. Restore
/// the differential database backup created at 5:00 A.M. on Wednesday. 3. Apply the
/// transaction log backup created at 5:10 A.M. on Wednesday. 4. Apply the transaction log
/// backup created at 5:20 A.M. on Wednesday, specifying that the recovery process only applies
/// transactions that occurred before 5:19 A.M. Alternatively, if the database needs to be
/// restored to its state at 3:04 A.M. on Thursday, but the differential database backup created
/// at 3:00 A.M. on Thursday is unavailable: 1. Restore the database backup created on Wednesday
/// night. 2. Restore the differential database backup created at 2:00 A.M. on Thursday. 3. Apply
/// all the transaction log backups created from 2:10 A.M. to 3:00 A.M. on Thursday. 4. Apply the
/// transaction log backup created at 3:10 A.M. on Thursday, specifying … before 3:04 A.M."
fn mission_critical() -> Timeline {
    let mut t = Timeline::new();
    // Monday midnight (the night to Tuesday) to Thursday night, in 10-minute steps.
    for d in 1..=4 {
        t.full(day(d, 0, 0), &format!("full_d{d}.bak"), false);
        for m in (10..24 * 60).step_by(10) {
            let (h, mi) = (m / 60, m % 60);
            if mi == 0 {
                t.diff(day(d, h, 0), &format!("diff_d{d}_{h:02}00.bak"));
            }
            t.log(day(d, h, mi), &format!("log_d{d}_{h:02}{mi:02}.trn"));
        }
    }
    t
}

#[test]
fn five_nineteen_wednesday_with_stopat() {
    let t = mission_critical();
    let p = plan_database(&t.recs, Target::At(at(day(2, 5, 19))));
    assert!(p.is_valid(), "{:?}", p.problems);
    assert_eq!(
        files(&p),
        [
            "full_d2.bak",
            "diff_d2_0500.bak",
            "log_d2_0510.trn",
            "log_d2_0520.trn"
        ]
    );
    assert_eq!(
        stopats(&p),
        [None, None, None, Some("2024-01-03T05:19:00".into())]
    );
}

#[test]
fn lost_three_am_differential_falls_back_to_the_two_am_one() {
    let want: Vec<String> = ["full_d3.bak", "diff_d3_0200.bak"]
        .into_iter()
        .map(String::from)
        .chain((10..=60).step_by(10).map(|m| {
            let (h, mi) = (2 + m / 60, m % 60);
            format!("log_d3_{h:02}{mi:02}.trn")
        }))
        .chain(["log_d3_0310.trn".to_string()])
        .collect();
    for damaged in [false, true] {
        let mut t = mission_critical();
        lose_or_damage(&mut t, "diff_d3_0300.bak", damaged);
        let p = plan_database(&t.recs, Target::At(at(day(3, 3, 4))));
        assert!(p.is_valid(), "{:?}", p.problems);
        assert_eq!(files(&p), want);
        assert_eq!(
            stopats(&p).last().unwrap().as_deref(),
            Some("2024-01-04T03:04:00")
        );
        assert_eq!(
            p.problems.len(),
            usize::from(damaged),
            "the damaged differential is named: {:?}",
            p.problems
        );
    }
    // With the 3 AM differential there, it is used.
    let t = mission_critical();
    let p = plan_database(&t.recs, Target::At(at(day(3, 3, 4))));
    assert_eq!(
        files(&p),
        ["full_d3.bak", "diff_d3_0300.bak", "log_d3_0310.trn"]
    );
}

#[test]
fn a_missing_log_is_a_gap_named_with_the_files_on_either_side() {
    let mut t = mission_critical();
    t.lose("log_d3_0220.trn");
    // 2:25 can only be reached through the lost log (the 2 AM differential is before it and
    // the 3 AM one after the target).
    let p = plan_database(&t.recs, Target::At(at(day(3, 2, 25))));
    assert!(p.steps.is_empty(), "{:?}", files(&p));
    let gap = p
        .problems
        .iter()
        .find_map(|x| match x {
            Problem::LsnGap {
                from,
                to,
                before,
                after,
            } => Some((*from, *to, before.clone(), after.clone())),
            _ => None,
        })
        .expect("a gap");
    assert_eq!(gap.2, "log_d3_0210.trn");
    assert_eq!(gap.3, "log_d3_0230.trn");
    assert!(gap.0 < gap.1);
    assert!(p.problems.iter().any(
        |x| matches!(x, Problem::ChainEndsBeforeTarget { file, .. } if file == "log_d3_0210.trn")
    ));
    // 3:04 is fine: the 3 AM differential is after the gap.
    let p = plan_database(&t.recs, Target::At(at(day(3, 3, 4))));
    assert_eq!(
        files(&p),
        ["full_d3.bak", "diff_d3_0300.bak", "log_d3_0310.trn"]
    );
}

#[test]
fn copy_only_full_serves_logs_never_differentials() {
    let mut t = Timeline::new();
    t.full(day(0, 0, 0), "full.bak", false);
    t.log(day(0, 1, 0), "log_01.trn");
    t.full(day(0, 2, 0), "copy.bak", true);
    t.log(day(0, 3, 0), "log_03.trn");
    t.diff(day(0, 4, 0), "diff_04.bak");
    t.log(day(0, 5, 0), "log_05.trn");
    // At 3:30 the copy-only full is the latest full before the target: a log base.
    let p = plan_database(&t.recs, Target::At(at(day(0, 3, 30))));
    assert_eq!(files(&p), ["copy.bak", "log_03.trn", "log_05.trn"]);
    // The differential is on the real full, never on the copy-only one: at 4:30 the copy-only
    // full is still the latest full, and the plan does not put the differential after it.
    let p = plan_database(&t.recs, Target::At(at(day(0, 4, 30))));
    assert_eq!(files(&p), ["copy.bak", "log_03.trn", "log_05.trn"]);
    // Without the copy-only full, the differential is used on its base.
    t.lose("copy.bak");
    let p = plan_database(&t.recs, Target::At(at(day(0, 4, 30))));
    assert_eq!(files(&p), ["full.bak", "diff_04.bak", "log_05.trn"]);
}

#[test]
fn a_missing_stripe_makes_the_set_unusable_and_names_it() {
    let mut t = eight_am();
    {
        let r = t.get("full_1800.bak");
        r.family_count = Some(2);
    }
    let p = plan_database(&t.recs, Target::Latest);
    assert_eq!(
        files(&p),
        [
            "full_0800.bak",
            "log_1200.trn",
            "log_1600.trn",
            "log_2000.trn"
        ]
    );
    let msg = p.problems[0].to_string();
    assert!(
        msg.starts_with("full_1800.bak: left out: media family 2 of 2 missing"),
        "{msg}"
    );
    // With both families, one step with both files.
    let mut second = t.get("full_1800.bak").families[0].clone();
    second.family_number = 2;
    second.media[0].path = "full_1800_2.bak".into();
    t.get("full_1800.bak").families.push(second);
    let p = plan_database(&t.recs, Target::Latest);
    assert_eq!(p.steps[0].files, ["full_1800.bak", "full_1800_2.bak"]);
    assert_eq!(p.steps.len(), 2);
}

#[test]
fn forks_never_mix() {
    let mut t = eight_am();
    for r in &mut t.recs {
        r.first_recovery_fork_guid = Some("A".into());
        r.last_recovery_fork_guid = Some("A".into());
    }
    // The 8 PM log belongs to another fork (the database was restored and recovered after
    // 4 PM): nothing on fork A follows the 6 PM full.
    t.get("log_2000.trn").first_recovery_fork_guid = Some("B".into());
    t.get("log_2000.trn").last_recovery_fork_guid = Some("B".into());
    let p = plan_database(&t.recs, Target::At(at(day(0, 19, 0))));
    assert!(p.steps.is_empty());
    assert!(p
        .problems
        .iter()
        .any(|x| matches!(x, Problem::ChainEndsBeforeTarget { .. })));
    // A log that starts in fork A and ends in B (it spans the fork point) may follow A.
    t.get("log_2000.trn").first_recovery_fork_guid = Some("A".into());
    let p = plan_database(&t.recs, Target::At(at(day(0, 19, 0))));
    assert_eq!(files(&p), ["full_1800.bak", "log_2000.trn"]);
    // As read from media: only the fork a set ends in, and the fork point.
    for r in &mut t.recs {
        r.first_recovery_fork_guid = None;
    }
    let p = plan_database(&t.recs, Target::At(at(day(0, 19, 0))));
    assert!(p.steps.is_empty(), "fork B without its fork point in range");
    let log = t.get("log_2000.trn");
    let (a, b) = (log.first_lsn.unwrap(), log.last_lsn.unwrap());
    log.fork_point_lsn = Some(media::history::Lsn((a.0 + b.0) / 2));
    let p = plan_database(&t.recs, Target::At(at(day(0, 19, 0))));
    assert_eq!(
        files(&p),
        ["full_1800.bak", "log_2000.trn"],
        "the log spans its fork point"
    );
}

#[test]
fn several_databases_get_one_plan_each() {
    let mut a = eight_am();
    let mut b = tue_thu();
    for r in &mut b.recs {
        r.database = "Orders".into();
    }
    a.recs.append(&mut b.recs);
    let plans = plan_all(&a.recs, None, Target::Latest);
    assert_eq!(
        plans
            .iter()
            .map(|p| p.database.as_str())
            .collect::<Vec<_>>(),
        ["Orders", "Sales"]
    );
    assert_eq!(plans[0].steps.len(), 2);
    assert_eq!(plans[1].steps.len(), 2);
    let only = plan_all(&a.recs, Some("sales"), Target::Latest);
    assert_eq!(only.len(), 1);
    assert_eq!(only[0].database, "Sales");
}

#[test]
fn no_full_at_all() {
    let mut t = eight_am();
    t.lose("full_0800.bak");
    t.lose("full_1800.bak");
    let p = plan_database(&t.recs, Target::Latest);
    assert_eq!(p.problems, [Problem::NoFull]);
    assert!(p.steps.is_empty());
}

#[test]
fn a_set_known_from_msdb_and_found_on_media_is_restored_from_the_file_found() {
    let mut t = eight_am();
    let mut from_msdb: Vec<_> = t.recs.clone();
    for r in &mut from_msdb {
        r.source = "msdb-csv".into();
        r.media_set_guid = None;
        let p = r.families[0].media[0].path.clone();
        r.families[0].media[0].path = format!("D:\\Backup\\{p}");
    }
    // A damaged mark from either source stays.
    from_msdb[4].damaged = true;
    for r in &mut t.recs {
        r.source = "media".into();
    }
    from_msdb.append(&mut t.recs);
    let p = plan_database(&from_msdb, Target::At(at(day(0, 14, 0))));
    assert_eq!(files(&p), ["full_0800.bak", "log_1200.trn", "log_1600.trn"]);
    // The 8 PM log is damaged: the latest point within reach is the 6 PM full, and the plan
    // names what it left out.
    let p = plan_database(&from_msdb, Target::Latest);
    assert_eq!(files(&p), ["full_1800.bak"]);
    assert_eq!(p.problems.len(), 1);
    assert_eq!(p.problems[0].to_string(), "log_2000.trn: left out: damaged");
}

#[test]
fn simple_recovery_takes_the_furthest_of_full_or_full_and_differential() {
    let mut t = Timeline::new();
    t.full(day(0, 0, 0), "full.bak", false);
    t.full(day(0, 2, 0), "copy.bak", true);
    t.diff(day(0, 4, 0), "diff.bak");
    for r in &mut t.recs {
        r.recovery_model = Some(RecoveryModel::Simple);
    }
    // The copy-only full is later than the full, but the differential on the full is later
    // still.
    let p = plan_database(&t.recs, Target::Latest);
    assert_eq!(files(&p), ["full.bak", "diff.bak"]);
    let p = plan_database(&t.recs, Target::At(at(day(0, 3, 0))));
    assert_eq!(files(&p), ["copy.bak"]);
    assert!(matches!(&p.problems[..], [Problem::NoPointInTime { file, .. }] if file == "copy.bak"));
}
