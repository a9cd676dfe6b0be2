//! Scale: the planner and the SQLite history over a history of distinct backup sets, timed.
//! Ignored by default (timings belong to the bench script, `examples/bench/plan.sh`); run with
//! `cargo test --release -p media --test plan_scale -- --ignored --nocapture`. The count is
//! `MEDIA_PLAN_SCALE` (default 1000 sets).

#[path = "common/synthetic.rs"]
mod synthetic;

use media::history::sqlite::SqliteHistory;
use media::history::BackupHistory;
use media::plan::{plan_all, Target};
use std::time::Instant;
use synthetic::{at, day, Timeline};

#[test]
#[ignore]
fn plan_over_a_thousand_sets() {
    let n: usize = std::env::var("MEDIA_PLAN_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    // Nightly full, hourly differential, a log every 10 minutes, as long as it takes.
    let mut t = Timeline::new();
    let mut k = 0;
    'days: for d in 0.. {
        t.full(day(d, 0, 0), &format!("full_{d}.bak"), false);
        for m in (10..24 * 60).step_by(10) {
            if m % 60 == 0 {
                t.diff(day(d, m / 60, 0), &format!("diff_{d}_{m}.bak"));
            }
            t.log(day(d, m / 60, m % 60), &format!("log_{d}_{m}.trn"));
            k += 1;
            if t.recs.len() >= n {
                let _ = k;
                break 'days;
            }
        }
    }
    let recs = t.recs;
    let last = recs.last().unwrap().finish.unwrap();
    let target = Target::At(at((last.to_unix() - at(0).to_unix()) / 60 - 3));
    let t0 = Instant::now();
    let plans = plan_all(&recs, None, target);
    let plan_ms = t0.elapsed().as_secs_f64() * 1e3;
    assert!(plans[0].is_valid());
    let t0 = Instant::now();
    let latest = plan_all(&recs, None, Target::Latest);
    let latest_ms = t0.elapsed().as_secs_f64() * 1e3;
    assert!(latest[0].is_valid());
    // With the last full damaged, the fallback walks back a day and the whole chain.
    let mut damaged = recs.clone();
    damaged
        .iter_mut()
        .filter(|r| r.kind == media::history::BackupKind::Full)
        .last()
        .unwrap()
        .damaged = true;
    let t0 = Instant::now();
    let fb = plan_all(&damaged, None, target);
    let fallback_ms = t0.elapsed().as_secs_f64() * 1e3;
    let dir = tempfile::tempdir().unwrap();
    let mut h = SqliteHistory::open(&dir.path().join("h.db")).unwrap();
    let t0 = Instant::now();
    h.record_all(&recs).unwrap();
    let record_ms = t0.elapsed().as_secs_f64() * 1e3;
    let t0 = Instant::now();
    let back = h.backups(None).unwrap();
    let plans2 = plan_all(&back, None, target);
    let hist_ms = t0.elapsed().as_secs_f64() * 1e3;
    assert_eq!(plans2, plans);
    println!(
        "{} sets: plan to a time {plan_ms:.2} ms ({} steps), latest {latest_ms:.2} ms, \
         fallback after a damaged full {fallback_ms:.2} ms ({} steps); history: record {record_ms:.1} ms, \
         read back + plan {hist_ms:.1} ms",
        recs.len(),
        plans[0].steps.len(),
        fb[0].steps.len()
    );
}
