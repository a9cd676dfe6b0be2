//! Property test of the planner against an independent brute-force search.
//!
//! Random histories (fulls, copy-only fulls, differentials, logs and copy-only logs whose ranges
//! overlap the next log's, at random times; some damaged,
//! some lost) and random targets. For each, the brute force below — written apart from the
//! planner, sharing none of its code — enumerates every valid restore sequence:
//!
//! - a usable full finished by the target; optionally a usable differential on that full (not
//!   on a copy-only one) finished by the target; then log backups, each starting at or before
//!   the LSN reached and ending after it, every one but the last finished before the target and
//!   the last holding it (or, for "latest", reaching the newest LSN of any usable backup);
//!
//! and checks that the planner finds a plan exactly when one exists, that the plan's LSN ranges
//! chain without gaps from the full to the target, that its full and differential are the ones
//! the rules choose (the latest full that leads to the target, the latest differential on it that
//! does), that no valid sequence on that base uses fewer log backups, and, against every valid
//! sequence on any base, that none is shorter (see the test for the one exception the rules
//! make: a differential is restored even when one log alone spans it).
//!
//! Cases: `MEDIA_PLAN_CASES` (default 2000); seed: `MEDIA_PLAN_SEED`.

#[path = "common/synthetic.rs"]
mod synthetic;

use media::history::{BackupKind, BackupRecord, DateTime, Lsn};
use media::plan::{plan_database, Target};
use std::collections::{HashMap, VecDeque};
use synthetic::{at, Timeline};

/// splitmix64: a small seeded generator.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
}

fn history(rng: &mut Rng) -> (Vec<BackupRecord>, i64) {
    let mut t = Timeline::new();
    let mut now = 0i64;
    let mut n = 0;
    let mut have_base_full = false;
    t.full(now, "f0", false);
    have_base_full |= true;
    let events = 3 + rng.below(25);
    for _ in 0..events {
        now += 1 + rng.below(30) as i64;
        n += 1;
        let name = format!("b{n}");
        match rng.below(10) {
            0 => {
                let copy = rng.chance(30);
                t.full(now, &name, copy);
                have_base_full |= !copy;
            }
            1 | 2 if have_base_full => {
                t.diff(now, &name);
            }
            3 => {
                t.copy_only_log(now, &name);
            }
            _ => {
                t.log(now, &name);
            }
        }
    }
    // Damage and loss.
    let mut recs = Vec::new();
    for mut r in t.recs {
        match rng.below(100) {
            0..=7 => r.damaged = true,
            8..=12 => continue,
            _ => {}
        }
        recs.push(r);
    }
    (recs, now)
}

fn usable(r: &BackupRecord) -> bool {
    !r.damaged
}

fn by_time(d: &Option<DateTime>, t: Option<DateTime>) -> bool {
    match t {
        None => true,
        Some(t) => d.is_some_and(|d| d <= t),
    }
}

/// The fewest logs from `from` to the goal, by breadth-first search over the LSN reached.
fn fewest_logs(
    recs: &[BackupRecord],
    from: Lsn,
    target: Option<DateTime>,
    newest: Lsn,
) -> Option<usize> {
    if target.is_none() && from >= newest {
        return Some(0);
    }
    let logs: Vec<&BackupRecord> = recs
        .iter()
        .filter(|r| r.kind == BackupKind::Log && usable(r))
        .collect();
    let mut seen: HashMap<Lsn, usize> = HashMap::new();
    let mut q = VecDeque::new();
    q.push_back((from, 0usize));
    seen.insert(from, 0);
    while let Some((cur, n)) = q.pop_front() {
        for l in &logs {
            let (f, e) = (l.first_lsn.unwrap(), l.last_lsn.unwrap());
            if !(f <= cur && cur < e) {
                continue;
            }
            let holds = match target {
                Some(t) => l.finish.unwrap() >= t,
                None => e >= newest,
            };
            if holds {
                return Some(n + 1);
            }
            if seen.insert(e, n + 1).is_none() {
                q.push_back((e, n + 1));
            }
        }
    }
    None
}

/// The rules' choice by brute force: (full, differential, number of logs).
fn brute(
    recs: &[BackupRecord],
    target: Option<DateTime>,
) -> Option<(String, Option<String>, usize, usize)> {
    let newest = recs
        .iter()
        .filter(|r| usable(r))
        .filter_map(|r| r.last_lsn)
        .max()?;
    let mut best: Option<(Lsn, Lsn, String, Option<String>, usize)> = None;
    // The fewest steps of any valid sequence, whatever its base.
    let mut fewest_steps = usize::MAX;
    for f in recs
        .iter()
        .filter(|r| r.kind == BackupKind::Full && usable(r) && by_time(&r.finish, target))
    {
        let mut bases: Vec<(Lsn, Option<&BackupRecord>)> = vec![(Lsn(0), None)];
        for d in recs.iter().filter(|d| {
            d.kind == BackupKind::Differential
                && usable(d)
                && by_time(&d.finish, target)
                && f.copy_only != Some(true)
                && d.differential_base_guid == f.backup_set_guid
                && d.last_lsn > f.last_lsn
        }) {
            bases.push((d.last_lsn.unwrap(), Some(d)));
        }
        for (rank, d) in bases {
            let end = d
                .map(|d| d.last_lsn.unwrap())
                .unwrap_or(f.last_lsn.unwrap());
            let end_time = d.map(|d| d.finish).unwrap_or(f.finish);
            let n = if target.is_some() && end_time == target {
                Some(0)
            } else {
                fewest_logs(recs, end, target, newest)
            };
            let Some(n) = n else { continue };
            fewest_steps = fewest_steps.min(1 + usize::from(d.is_some()) + n);
            let key = (f.last_lsn.unwrap(), rank);
            let better = match &best {
                None => true,
                Some((bf, bd, _, _, bn)) => key > (*bf, *bd) || (key == (*bf, *bd) && n < *bn),
            };
            if better {
                best = Some((
                    key.0,
                    key.1,
                    f.backup_set_guid.clone().unwrap(),
                    d.map(|d| d.backup_set_guid.clone().unwrap()),
                    n,
                ));
            }
        }
    }
    best.map(|(_, _, f, d, n)| (f, d, n, fewest_steps))
}

#[test]
fn plans_match_an_independent_brute_force() {
    let cases: usize = std::env::var("MEDIA_PLAN_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let seed: u64 = std::env::var("MEDIA_PLAN_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed_0013);
    let mut rng = Rng(seed);
    let (mut planned, mut refused, mut skipped) = (0, 0, 0);
    for case in 0..cases {
        let (recs, end) = history(&mut rng);
        // Without any usable log the planner stops at the last full or differential (no
        // point in time): a different contract, tested in plan_seeds.rs.
        if !recs.iter().any(|r| r.kind == BackupKind::Log && usable(r)) {
            skipped += 1;
            continue;
        }
        let target = if rng.chance(20) {
            None
        } else {
            Some(at(rng.below(end as u64 + 40) as i64 - 10))
        };
        let plan = plan_database(&recs, target.map(Target::At).unwrap_or(Target::Latest));
        let want = brute(&recs, target);
        let ctx = || format!("case {case} seed {seed:#x} target {target:?}\n{recs:#?}\n{plan:#?}");
        match want {
            None => {
                assert!(
                    plan.steps.is_empty(),
                    "planned where none exists: {}",
                    ctx()
                );
                assert!(plan.problems.iter().any(|p| p.is_refusal()), "{}", ctx());
                refused += 1;
            }
            Some((full, diff, logs, fewest_steps)) => {
                planned += 1;
                assert!(plan.is_valid(), "no plan where one exists: {}", ctx());
                let s = &plan.steps;
                assert_eq!(s[0].kind, BackupKind::Full, "{}", ctx());
                assert_eq!(
                    s[0].backup_set_guid.as_deref(),
                    Some(full.as_str()),
                    "{}",
                    ctx()
                );
                let has_diff = s.len() > 1 && s[1].kind == BackupKind::Differential;
                assert_eq!(
                    has_diff.then(|| s[1].backup_set_guid.clone().unwrap()),
                    diff,
                    "{}",
                    ctx()
                );
                let n_logs = s.iter().filter(|x| x.kind == BackupKind::Log).count();
                assert_eq!(n_logs, logs, "not the fewest logs: {}", ctx());
                // Against every valid sequence on any base: without a copy-only full (which
                // the rules take as the latest full even when an older full and its
                // differential are shorter), no sequence is shorter, except by the one step a
                // differential costs when a single log already spans it (the rules restore
                // the differential).
                let copy_only_full = recs
                    .iter()
                    .any(|r| r.kind == BackupKind::Full && r.copy_only == Some(true) && usable(r));
                if !copy_only_full {
                    assert!(s.len() <= fewest_steps + usize::from(has_diff), "{}", ctx());
                    if !has_diff {
                        assert_eq!(s.len(), fewest_steps, "a shorter plan exists: {}", ctx());
                    }
                }
                // The LSN ranges chain without gaps, from the full to the target.
                let mut cur = s[if has_diff { 1 } else { 0 }].last_lsn;
                if has_diff {
                    assert!(s[1].last_lsn > s[0].last_lsn);
                }
                for x in &s[1 + usize::from(has_diff)..] {
                    assert_eq!(x.kind, BackupKind::Log);
                    assert!(x.first_lsn <= cur && cur < x.last_lsn, "gap: {}", ctx());
                    cur = x.last_lsn;
                }
                for (i, x) in s.iter().enumerate() {
                    let last = i + 1 == s.len();
                    assert_eq!(x.recovery, last);
                    if let Some(t) = target {
                        assert!(x.stopat.is_none() || last);
                        if x.kind == BackupKind::Log && last {
                            assert_eq!(x.stopat, Some(t));
                            assert!(x.finish.unwrap() >= t);
                        } else {
                            assert!(x.finish.unwrap() <= t, "{}", ctx());
                        }
                    } else {
                        assert_eq!(x.stopat, None);
                    }
                }
            }
        }
    }
    eprintln!(
        "{cases} cases: {planned} planned, {refused} refused, {skipped} skipped (no usable log)"
    );
    assert!(
        planned > cases / 4 && refused > 0,
        "the generator must give both outcomes"
    );
}
