//! The restore planner: which backups, in which order and with which options, bring a database
//! back to a point in time, or why no sequence can.
//!
//! The rules are the reference documents' (SQL Server's "restore sequence"):
//!
//! 1. the latest full backup that can serve: usable (not damaged, complete, every family
//!    present), finished before the target, and leading to a sequence that reaches it. A
//!    copy-only full can serve as the base of a log chain, never of a differential;
//! 2. then the latest differential whose base is that full (its DifferentialBaseGUID, or its
//!    DifferentialBaseLSN when the GUID is not known) and that finished before the target;
//! 3. then the shortest unbroken chain of log backups by LSN from there to the target: each log
//!    starts at or before the LSN reached so far and ends after it (a log already covered adds
//!    nothing and is left out); the log that holds the target gets STOPAT.
//!
//! A base that leads nowhere makes the planner fall back: to an older differential, to the full
//! alone, then to an older full with a longer chain (the reference documents' lost 3 AM
//! differential). Consecutive steps must stay in one recovery fork (each step starts in the fork
//! the previous one ended in) when both forks are known, and the chain follows the fork the
//! target lies in (the latest point: the newest backup's fork), never the branch a restore to
//! a point in time abandoned. Under the simple recovery model (or,
//! when the model is not known, for a database with no log backups at all) there is no point in
//! time: the plan stops at the last full or differential before the target and says so.
//!
//! Times are the server's local time, as the headers, msdb and `STOPAT` all use them; LSNs, not
//! times, order the chain.

pub mod tsql;

use crate::history::{iso, BackupKind, BackupRecord, DateTime, Lsn, RecoveryModel};
use std::collections::BTreeMap;
use std::fmt;

/// Where to bring the database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// As far as the backups go: the newest usable backup of the database.
    Latest,
    /// A point in time (server local time), reached with STOPAT.
    At(DateTime),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Latest => f.write_str("latest"),
            Target::At(t) => f.write_str(&iso(t)),
        }
    }
}

/// One RESTORE statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub kind: BackupKind,
    /// Every file of the set (all families merged), family by family.
    pub files: Vec<String>,
    /// Whether each file is a tape.
    pub tapes: Vec<bool>,
    /// `WITH FILE = n`.
    pub position: u32,
    pub first_lsn: Lsn,
    pub last_lsn: Lsn,
    /// The last step recovers the database; the others leave it restoring.
    pub recovery: bool,
    pub stopat: Option<DateTime>,
    pub backup_set_guid: Option<String>,
    pub finish: Option<DateTime>,
}

/// Why a plan is missing, or what a plan had to work around.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// A set of this database left out, and why (damaged, incomplete, a missing family, no
    /// LSNs). Informational when a plan exists.
    Unusable { file: String, reason: String },
    /// No usable full backup of the database at all.
    NoFull,
    /// The target is before the earliest usable full backup finished.
    TargetBeforeEarliestFull { earliest: DateTime, file: String },
    /// The log chain breaks: nothing covers the LSNs from `from` to `to`.
    LsnGap {
        from: Lsn,
        to: Lsn,
        before: String,
        after: String,
    },
    /// The chain ends before the target.
    ChainEndsBeforeTarget {
        end: Option<DateTime>,
        end_lsn: Lsn,
        file: String,
    },
    /// No point in time: the plan stops at the last full or differential before the target.
    NoPointInTime {
        simple_recovery: bool,
        stops_at: Option<DateTime>,
        file: String,
    },
}

impl Problem {
    /// Whether the problem means there is no plan.
    pub fn is_refusal(&self) -> bool {
        !matches!(
            self,
            Problem::Unusable { .. } | Problem::NoPointInTime { .. }
        )
    }
}

fn opt_time(t: &Option<DateTime>) -> String {
    t.as_ref()
        .map(iso)
        .unwrap_or_else(|| "an unknown time".into())
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Unusable { file, reason } => write!(f, "{file}: left out: {reason}"),
            Problem::NoFull => f.write_str("no usable full backup of the database"),
            Problem::TargetBeforeEarliestFull { earliest, file } => write!(
                f,
                "target before the earliest full backup ({file}, finished {})",
                iso(earliest)
            ),
            Problem::LsnGap {
                from,
                to,
                before,
                after,
            } => write!(
                f,
                "LSN gap from {from} to {to}: no backup covers it between {before} and {after}"
            ),
            Problem::ChainEndsBeforeTarget { end, end_lsn, file } => write!(
                f,
                "log chain ends at {} (LSN {end_lsn}, {file}) before the target",
                opt_time(end)
            ),
            Problem::NoPointInTime {
                simple_recovery,
                stops_at,
                file,
            } => write!(
                f,
                "{}: no point-in-time restore; the plan stops at {} ({file})",
                if *simple_recovery {
                    "simple recovery model"
                } else {
                    "no log backups of this database"
                },
                opt_time(stops_at)
            ),
        }
    }
}

/// The plan for one database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub database: String,
    pub target: Target,
    /// Empty when no valid plan exists.
    pub steps: Vec<Step>,
    pub problems: Vec<Problem>,
}

impl Plan {
    /// Whether the plan restores the database (it may still carry notes).
    pub fn is_valid(&self) -> bool {
        !self.steps.is_empty() && !self.problems.iter().any(Problem::is_refusal)
    }
}

/// Plans every database found in `records` (one plan each, by name without case, in name
/// order), or only `database`.
pub fn plan_all(records: &[BackupRecord], database: Option<&str>, target: Target) -> Vec<Plan> {
    // One comparison for grouping and choosing: without case, for every letter.
    let wanted = database.map(str::to_lowercase);
    let mut by_db: BTreeMap<String, Vec<&BackupRecord>> = BTreeMap::new();
    for r in records {
        let key = r.database.to_lowercase();
        if wanted.as_ref().is_some_and(|d| *d != key) {
            continue;
        }
        by_db.entry(key).or_default().push(r);
    }
    by_db
        .into_values()
        .map(|recs| {
            let owned: Vec<BackupRecord> = recs.into_iter().cloned().collect();
            plan_database(&owned, target)
        })
        .collect()
}

/// Merges records of the same set seen more than once (copies of the files in several places,
/// a set imported from media and from msdb): families and media are united (the paths found on
/// media first), a damaged mark is kept, a complete copy clears the incomplete mark; a whole
/// copy read from media replaces a damaged or incomplete one read from media.
pub fn merge_duplicates(records: &[BackupRecord]) -> Vec<BackupRecord> {
    let mut out: Vec<BackupRecord> = Vec::with_capacity(records.len());
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    // Files found on media come first: a path msdb recorded on another host is a fallback.
    let mut ordered: Vec<&BackupRecord> = records.iter().collect();
    ordered.sort_by_key(|r| r.source != "media");
    for r in ordered {
        // The BackupSetGUID names one set wherever its copies lie.
        let key = r.backup_set_guid.clone();
        match key.as_ref().and_then(|k| index.get(k)) {
            Some(&i) => {
                let m = &mut out[i];
                // A damaged copy read from media adds nothing to an intact one, and an intact
                // one replaces it.
                if m.is_whole_media_copy() && r.is_bad_media_copy() {
                    continue;
                }
                if m.is_bad_media_copy() && r.is_whole_media_copy() {
                    *m = r.clone();
                    continue;
                }
                m.damaged |= r.damaged;
                m.incomplete &= r.incomplete;
                for fam in &r.families {
                    match m
                        .families
                        .iter_mut()
                        .find(|f| f.family_number == fam.family_number)
                    {
                        Some(f) => {
                            for med in &fam.media {
                                if !f
                                    .media
                                    .iter()
                                    .any(|x| x.media_sequence_number == med.media_sequence_number)
                                {
                                    f.media.push(med.clone());
                                }
                            }
                            f.media.sort_by_key(|x| x.media_sequence_number);
                        }
                        None => m.families.push(fam.clone()),
                    }
                }
                m.families.sort_by_key(|f| f.family_number);
            }
            None => {
                if let Some(k) = key {
                    index.insert(k, out.len());
                }
                out.push(r.clone());
            }
        }
    }
    out
}

/// Why a set cannot be restored, if it cannot.
pub fn unusable_reason(r: &BackupRecord) -> Option<String> {
    // RESTORE names the database: a set without a name cannot be restored by a script.
    if r.database.trim().is_empty() {
        return Some("no database name".into());
    }
    if r.damaged {
        return Some("damaged".into());
    }
    if r.incomplete {
        return Some("incomplete (the set is not finished on the media found)".into());
    }
    let missing = r.missing_families();
    if !missing.is_empty() {
        let n = r.family_count.unwrap_or(1);
        // Each missing family by number, as always; past a real media set's size (SQL Server
        // writes at most 64 families) the count came from a damaged or hostile header, and
        // the runs are named instead ("2 to 65535 of 65535").
        let list: Vec<String> = if r.missing_family_count() <= 64 {
            missing
                .iter()
                .flat_map(|&(a, b)| a..=b)
                .map(|k| format!("{k} of {n}"))
                .collect()
        } else {
            missing
                .iter()
                .map(|&(a, b)| {
                    if a == b {
                        format!("{a} of {n}")
                    } else {
                        format!("{a} to {b} of {n}")
                    }
                })
                .collect()
        };
        return Some(format!(
            "media family {} missing (media set {}); found: {}",
            list.join(", "),
            r.media_set_guid.as_deref().unwrap_or("unknown"),
            r.paths().join(", ")
        ));
    }
    if r.first_lsn.is_none() || r.last_lsn.is_none() {
        return Some("its LSNs are unknown".into());
    }
    None
}

/// The fork `r` starts in, when known. Without msdb's `first_recovery_fork_guid` (the media
/// headers do not carry it), a set starts in the fork it ends in, unless its LSN range holds its
/// fork point: then it began in the parent fork, which is not known.
fn first_fork(r: &BackupRecord) -> Option<&String> {
    if r.first_recovery_fork_guid.is_some() {
        return r.first_recovery_fork_guid.as_ref();
    }
    let spans_fork_point = match (r.fork_point_lsn, r.first_lsn, r.last_lsn) {
        (Some(p), Some(a), Some(b)) => a < p && p <= b,
        _ => false,
    };
    if spans_fork_point {
        None
    } else {
        r.last_recovery_fork_guid.as_ref()
    }
}

/// Whether `next` may follow `prev` without leaving a recovery fork: `next` starts in the fork
/// `prev` ended in (unknown forks do not refuse).
fn same_fork(prev: &BackupRecord, next: &BackupRecord) -> bool {
    match (&prev.last_recovery_fork_guid, first_fork(next)) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    }
}

/// Whether `d` is a differential on the full `f`.
fn is_diff_on(d: &BackupRecord, f: &BackupRecord) -> bool {
    if f.copy_only == Some(true) {
        return false;
    }
    match (&d.differential_base_guid, &f.backup_set_guid) {
        (Some(a), Some(b)) => a == b,
        _ => d.differential_base_lsn.is_some() && d.differential_base_lsn == f.checkpoint_lsn,
    }
}

/// Where a chain attempt got to.
struct Attempt<'a> {
    steps: Vec<(&'a BackupRecord, Option<DateTime>)>,
    reached: bool,
    /// The LSN and time reached, and the record that reached them.
    end_lsn: Lsn,
    end: &'a BackupRecord,
    /// The next log after a gap, if one exists.
    gap_to: Option<&'a BackupRecord>,
}

fn before_or_at(t: &Option<DateTime>, target: &Option<DateTime>) -> bool {
    match (t, target) {
        (_, None) => true,
        (Some(a), Some(b)) => a <= b,
        (None, Some(_)) => false,
    }
}

/// The recovery fork the target lies in, when the forks are known: the fork of the first log
/// that finished at or after the target, else (and for the latest point) the fork of the newest
/// backup. After a restore to a point in time the database lives on in a new fork; the
/// backups of the fork it left, with LSNs beyond the fork point, lead elsewhere.
fn target_fork<'a>(
    usable: &[&'a BackupRecord],
    logs: &[&'a BackupRecord],
    target: Option<DateTime>,
) -> Option<&'a String> {
    let holding = target.and_then(|t| {
        logs.iter()
            .filter(|l| l.finish.is_some_and(|f| f >= t))
            .min_by_key(|l| (l.finish, l.last_lsn))
    });
    holding
        .or_else(|| usable.iter().max_by_key(|r| (r.finish, r.last_lsn)))
        .and_then(|r| r.last_recovery_fork_guid.as_ref())
}

/// The shortest log chain from `base` (the last of `bases`) towards the target. Among logs
/// that carry the chain on, those ending in the target's fork (`fork`) come first.
fn chain<'a>(
    bases: &[&'a BackupRecord],
    logs: &[&'a BackupRecord],
    target: Option<DateTime>,
    newest: Lsn,
    fork: Option<&String>,
) -> Attempt<'a> {
    let base = *bases.last().expect("a base");
    let mut steps: Vec<(&BackupRecord, Option<DateTime>)> =
        bases.iter().map(|b| (*b, None)).collect();
    let mut cur = base.last_lsn.expect("usable");
    let mut last = base;
    let reached_at = |r: &BackupRecord| match (&target, &r.finish) {
        (Some(t), Some(f)) => f >= t,
        _ => false,
    };
    // A set ending in another fork does not hold or reach the target, even if it finished
    // later or reaches further: its later records are that fork's.
    let in_fork = |l: &BackupRecord| fork.is_some() && l.last_recovery_fork_guid.as_ref() == fork;
    let other_fork =
        |l: &BackupRecord| fork.is_some() && l.last_recovery_fork_guid.is_some() && !in_fork(l);
    if let Some(t) = target {
        if base.finish.as_ref() == Some(&t) {
            return Attempt {
                steps,
                reached: true,
                end_lsn: cur,
                end: base,
                gap_to: None,
            };
        }
    }
    loop {
        if target.is_none() && cur >= newest && !other_fork(last) {
            return Attempt {
                steps,
                reached: true,
                end_lsn: cur,
                end: last,
                gap_to: None,
            };
        }
        // Logs are sorted by first LSN: the candidates start at or before `cur`.
        let upto = logs.partition_point(|l| l.first_lsn.expect("usable") <= cur);
        let cands = logs[..upto]
            .iter()
            .filter(|l| l.last_lsn.expect("usable") > cur && same_fork(last, l));
        let mut best: Option<&BackupRecord> = None;
        let mut holding: Option<&BackupRecord> = None;
        for l in cands {
            if reached_at(l) && !other_fork(l) {
                if holding.is_none_or(|h| l.last_lsn < h.last_lsn) {
                    holding = Some(l);
                }
            } else if best.is_none_or(|b| (in_fork(l), l.last_lsn) > (in_fork(b), b.last_lsn)) {
                best = Some(l);
            }
        }
        if let Some(h) = holding {
            steps.push((h, target));
            return Attempt {
                steps,
                reached: true,
                end_lsn: h.last_lsn.expect("usable"),
                end: h,
                gap_to: None,
            };
        }
        match best {
            Some(l) => {
                steps.push((l, None));
                cur = l.last_lsn.expect("usable");
                last = l;
            }
            None => {
                let gap_to = logs[upto..]
                    .iter()
                    .find(|l| l.last_lsn.expect("usable") > cur && same_fork(last, l))
                    .copied();
                return Attempt {
                    steps,
                    reached: false,
                    end_lsn: cur,
                    end: last,
                    gap_to,
                };
            }
        }
    }
}

fn to_step(r: &BackupRecord, stopat: Option<DateTime>) -> Step {
    let mut fams: Vec<_> = r.families.iter().collect();
    fams.sort_by_key(|f| f.family_number);
    // One path per medium: the first of the places it was found (the history lists the most
    // recently recorded first), never the same medium twice.
    let mut media = Vec::new();
    for f in fams {
        let mut seen = std::collections::HashSet::new();
        media.extend(
            f.media
                .iter()
                .filter(|m| seen.insert(m.media_sequence_number)),
        );
    }
    Step {
        kind: r.kind,
        files: media.iter().map(|m| m.path.clone()).collect(),
        tapes: media.iter().map(|m| m.is_tape).collect(),
        position: r.position,
        first_lsn: r.first_lsn.unwrap_or_default(),
        last_lsn: r.last_lsn.unwrap_or_default(),
        recovery: false,
        stopat,
        backup_set_guid: r.backup_set_guid.clone(),
        finish: r.finish,
    }
}

fn finish_plan(database: String, target: Target, steps: Vec<Step>, problems: Vec<Problem>) -> Plan {
    let mut steps = steps;
    if let Some(s) = steps.last_mut() {
        s.recovery = true;
    }
    Plan {
        database,
        target,
        steps,
        problems,
    }
}

/// Plans one database from its records (all of one database).
pub fn plan_database(records: &[BackupRecord], target: Target) -> Plan {
    let database = records
        .first()
        .map(|r| r.database.clone())
        .unwrap_or_default();
    let records = merge_duplicates(records);
    let tgt = match target {
        Target::Latest => None,
        Target::At(t) => Some(t),
    };
    let mut problems = Vec::new();
    let mut usable: Vec<&BackupRecord> = Vec::new();
    // The sets left out, named where they matter.
    let mut left_out: Vec<(&BackupRecord, String)> = Vec::new();
    for r in &records {
        if matches!(r.kind, BackupKind::Other(_)) {
            continue;
        }
        match unusable_reason(r) {
            Some(reason) => left_out.push((r, reason)),
            None => usable.push(r),
        }
    }
    let name_left_out = |problems: &mut Vec<Problem>, wanted: &dyn Fn(&BackupRecord) -> bool| {
        for (r, reason) in &left_out {
            if wanted(r) {
                problems.push(Problem::Unusable {
                    file: r.label(),
                    reason: reason.clone(),
                });
            }
        }
    };
    // Sets that started by the target and end after `after` (a plan's full): they could have
    // served.
    let could_serve = |after: Option<Lsn>| {
        move |r: &BackupRecord| {
            before_or_at(&r.start, &tgt)
                && (after.is_none() || r.last_lsn.is_none() || r.last_lsn > after)
        }
    };
    let by_lsn_desc = |v: &mut Vec<&BackupRecord>| {
        v.sort_by(|a, b| b.last_lsn.cmp(&a.last_lsn).then(b.finish.cmp(&a.finish)))
    };
    let mut all_fulls: Vec<&BackupRecord> = usable
        .iter()
        .copied()
        .filter(|r| r.kind == BackupKind::Full)
        .collect();
    by_lsn_desc(&mut all_fulls);
    let fulls: Vec<&BackupRecord> = all_fulls
        .iter()
        .copied()
        .filter(|r| before_or_at(&r.finish, &tgt))
        .collect();
    let mut diffs: Vec<&BackupRecord> = usable
        .iter()
        .copied()
        .filter(|r| r.kind == BackupKind::Differential && before_or_at(&r.finish, &tgt))
        .collect();
    by_lsn_desc(&mut diffs);
    let mut logs: Vec<&BackupRecord> = usable
        .iter()
        .copied()
        .filter(|r| r.kind == BackupKind::Log)
        .collect();
    logs.sort_by(|a, b| {
        a.first_lsn
            .cmp(&b.first_lsn)
            .then(a.last_lsn.cmp(&b.last_lsn))
    });

    if fulls.is_empty() {
        name_left_out(&mut problems, &could_serve(None));
        match all_fulls
            .iter()
            .filter_map(|f| f.finish.map(|t| (t, f)))
            .min_by_key(|(t, _)| *t)
        {
            Some((earliest, f)) if tgt.is_some() => {
                problems.push(Problem::TargetBeforeEarliestFull {
                    earliest,
                    file: f.label(),
                })
            }
            _ => problems.push(Problem::NoFull),
        }
        return finish_plan(database, target, Vec::new(), problems);
    }

    // The recovery model in force at the target: the newest set's, of those taken by the
    // target, that says (a database switched to simple later keeps its earlier logs' points in
    // time); unknown without logs looks like simple.
    let model = usable
        .iter()
        .filter(|r| r.recovery_model.is_some() && before_or_at(&r.start, &tgt))
        .max_by_key(|r| r.last_lsn)
        .and_then(|r| r.recovery_model);
    let simple = model == Some(RecoveryModel::Simple);
    if simple || (model.is_none() && logs.is_empty()) {
        // The latest point a full, or a full and its differential, reach (a copy-only full
        // never takes a differential, so an older full may reach further).
        let (f, d) = fulls
            .iter()
            .map(|f| {
                let d = diffs
                    .iter()
                    .find(|d| is_diff_on(d, f) && d.last_lsn > f.last_lsn && same_fork(f, d));
                (*f, d.copied())
            })
            .max_by_key(|(f, d)| (d.unwrap_or(f).last_lsn, std::cmp::Reverse(d.is_some())))
            .expect("fulls is not empty");
        let mut steps = vec![to_step(f, None)];
        let stop = d.unwrap_or(f);
        if let Some(d) = d {
            steps.push(to_step(d, None));
        }
        name_left_out(&mut problems, &could_serve(f.first_lsn));
        let exact = tgt.is_some() && stop.finish == tgt;
        if simple || (tgt.is_some() && !exact) {
            problems.push(Problem::NoPointInTime {
                simple_recovery: simple,
                stops_at: stop.finish,
                file: stop.label(),
            });
        }
        return finish_plan(database, target, steps, problems);
    }

    // The newest point: the highest LSN any usable set of the target's fork reaches.
    let fork = target_fork(&usable, &logs, tgt);
    let newest = usable
        .iter()
        .filter(|r| {
            fork.is_none()
                || r.last_recovery_fork_guid.is_none()
                || r.last_recovery_fork_guid.as_ref() == fork
        })
        .filter_map(|r| r.last_lsn)
        .max()
        .unwrap_or_default();
    let mut furthest: Option<Attempt> = None;
    for f in &fulls {
        let mut bases: Vec<Vec<&BackupRecord>> = diffs
            .iter()
            .filter(|d| is_diff_on(d, f) && d.last_lsn > f.last_lsn && same_fork(f, d))
            .map(|d| vec![*f, *d])
            .collect();
        bases.push(vec![*f]);
        for b in &bases {
            let a = chain(b, &logs, tgt, newest, fork);
            if a.reached {
                let steps = a.steps.iter().map(|(r, s)| to_step(r, *s)).collect();
                // Only the sets the plan could have used matter: those after its full began.
                name_left_out(&mut problems, &could_serve(f.first_lsn));
                return finish_plan(database, target, steps, problems);
            }
            if furthest.as_ref().is_none_or(|x| a.end_lsn > x.end_lsn) {
                furthest = Some(a);
            }
        }
    }
    let a = furthest.expect("at least one full was tried");
    // Those that started by the target, and those that would have carried the chain on from
    // where it ends (the log holding the target starts after it).
    let end = a.end_lsn;
    name_left_out(&mut problems, &|r: &BackupRecord| {
        could_serve(None)(r)
            || (r.first_lsn.is_some_and(|f| f <= end) && r.last_lsn.is_some_and(|l| l > end))
    });
    if let Some(next) = a.gap_to {
        problems.push(Problem::LsnGap {
            from: a.end_lsn,
            to: next.first_lsn.expect("usable"),
            before: a.end.label(),
            after: next.label(),
        });
    }
    problems.push(Problem::ChainEndsBeforeTarget {
        end: a.end.finish,
        end_lsn: a.end_lsn,
        file: a.end.label(),
    });
    finish_plan(database, target, Vec::new(), problems)
}

#[cfg(test)]
mod tests {
    use super::unusable_reason;
    use crate::history::BackupRecord;

    fn with_families(count: u16, present: &[u16]) -> BackupRecord {
        crate::history::with_families(Some(count), present)
    }

    #[test]
    fn missing_families_are_listed_one_by_one_up_to_a_real_media_sets_size() {
        let why = unusable_reason(&with_families(4, &[1])).unwrap();
        assert!(
            why.starts_with(
                "media family 2 of 4, 3 of 4, 4 of 4 missing (media set unknown); found: f1.bak"
            ),
            "{why}"
        );
        let why = unusable_reason(&with_families(65, &[1])).unwrap();
        assert!(
            why.contains("63 of 65, 64 of 65, 65 of 65 missing"),
            "{why}"
        );
    }

    #[test]
    fn a_hostile_family_count_is_named_as_runs() {
        let why = unusable_reason(&with_families(u16::MAX, &[1, 3])).unwrap();
        assert!(
            why.starts_with("media family 2 of 65535, 4 to 65535 of 65535 missing"),
            "{why}"
        );
        assert!(why.len() < 200, "{why}");
    }
}
