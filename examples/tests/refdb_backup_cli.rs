//! `refdb backup`, `restore`, `plan` and `history` end to end on tape images, as the README's
//! walk-through runs them: full → differential → log → a failure → tail-log → restore to a
//! point in time. The expected rows come from the commits `refdb workload` acknowledged
//! (its `commit TIME … OPS` lines), replayed by the test up to the point.

use media::engine::check::digest_rows;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

const REFDB: &str = env!("CARGO_BIN_EXE_refdb");

fn refdb(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let o = Command::new(REFDB)
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    let err = String::from_utf8(o.stderr).unwrap();
    // stderr is a pipe here: no progress line (it is drawn only on a terminal).
    assert!(
        !err.contains('\r') && !err.contains('\x1b') && !err.contains("ETA"),
        "refdb {args:?} drew progress on a pipe: {err:?}"
    );
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8(o.stdout).unwrap(),
        err,
    )
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let (c, out, err) = refdb(dir, args);
    assert_eq!(c, 0, "refdb {args:?}: {out}{err}");
    out + &err
}

/// The acknowledged commits of a workload's output: (time, ops).
fn commits(out: &str) -> Vec<(String, Vec<String>)> {
    out.lines()
        .filter_map(|l| l.strip_prefix("commit "))
        .map(|l| {
            let mut parts = l.split(' ');
            let time = parts.next().unwrap().to_string();
            let ops = parts
                .filter(|p| p.starts_with("put:") || p.starts_with("del:"))
                .map(str::to_owned)
                .collect();
            (time, ops)
        })
        .collect()
}

/// The rows after every commit up to `until` (inclusive; times compare as text, being of one
/// fixed form).
fn model(
    commits: &[(String, Vec<String>)],
    until: Option<&str>,
) -> BTreeMap<(String, String), String> {
    let mut m = BTreeMap::new();
    for (t, ops) in commits {
        if until.is_some_and(|u| t.as_str() > u) {
            break;
        }
        for op in ops {
            let (kind, rest) = op.split_once(':').unwrap();
            let (fg, kv) = rest.split_once(':').unwrap();
            if kind == "put" {
                let (k, v) = kv.split_once('=').unwrap();
                m.insert((fg.to_owned(), k.to_owned()), v.to_owned());
            } else {
                m.remove(&(fg.to_owned(), kv.to_owned()));
            }
        }
    }
    m
}

fn expected_check(m: &BTreeMap<(String, String), String>) -> (usize, String) {
    let d = digest_rows(
        m.iter()
            .map(|((fg, k), v)| (fg.as_str(), k.as_bytes(), v.as_bytes())),
    );
    (m.len(), d.iter().map(|b| format!("{b:02x}")).collect())
}

fn assert_check(dir: &Path, db: &str, m: &BTreeMap<(String, String), String>, what: &str) {
    let out = ok(dir, &["check", db]);
    let (rows, digest) = expected_check(m);
    assert!(out.contains(&format!("rows: {rows}\n")), "{what}: {out}");
    assert!(
        out.contains(&format!("digest: {digest}\n")),
        "{what}: {out}"
    );
}

#[test]
fn walk_through_full_differential_log_failure_tail_and_point_in_time() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    ok(t, &["create", "sales", "--recovery", "full"]);
    let mut all = Vec::new();
    // The planner and the history work in whole seconds (as msdb does): each phase starts in
    // a later second than the backup before it finished.
    let mut work = |seed: &str| {
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let out = ok(
            t,
            &[
                "workload",
                "sales",
                "--ops",
                "200",
                "--seed",
                seed,
                "--threads",
                "1",
                "--keys",
                "200",
            ],
        );
        all.extend(commits(&out));
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    work("1");
    ok(
        t,
        &[
            "backup",
            "sales",
            "--type",
            "full",
            "--to",
            "full.tap",
            "--format",
            "--checksum",
            "--capacity",
            "8000000",
        ],
    );
    work("2");
    ok(
        t,
        &[
            "backup",
            "sales",
            "--type",
            "differential",
            "--to",
            "diff.tap",
            "--format",
        ],
    );
    work("3");
    ok(
        t,
        &[
            "backup", "sales", "--type", "log", "--to", "log1.tap", "--format",
        ],
    );
    work("4");
    // The failure: the tail of the log is backed up, the database left restoring.
    ok(
        t,
        &[
            "backup",
            "sales",
            "--type",
            "log",
            "--to",
            "tail.tap",
            "--format",
            "--no-truncate",
            "--norecovery",
        ],
    );
    let n = all.len();
    assert!(n > 40, "{n} commits");

    let hist = ok(t, &["history", "--database", "sales"]);
    assert_eq!(hist.lines().count(), 4, "{hist}");
    assert!(hist.lines().next().unwrap().contains("\tD\t"), "{hist}");
    // A mistyped name is not "never backed up": both history and plan say what is recorded.
    for args in [
        &["history", "--database", "slaes"][..],
        &["plan", "slaes"][..],
    ] {
        let (c, out, err) = refdb(t, args);
        assert_eq!((c, out.as_str()), (1, ""), "{args:?}: {err}");
        assert!(
            err.contains("no backup of database \"slaes\"") && err.contains("backups of sales"),
            "{args:?}: {err}"
        );
    }

    // The database left restoring by the tail-log backup is not opened (which would recover it).
    let (c, _, err) = refdb(t, &["check", "sales"]);
    assert_eq!(c, 1);
    assert!(err.contains("restoring"), "{err}");

    // To the point of failure, by hand: full, differential, log, tail.
    ok(t, &["restore", "r1", "--from", "full.tap", "--norecovery"]);
    ok(t, &["restore", "r1", "--from", "diff.tap", "--norecovery"]);
    ok(t, &["restore", "r1", "--from", "log1.tap", "--norecovery"]);
    let (c, _, err) = refdb(t, &["scan", "r1"]);
    assert_eq!(c, 1, "a restoring database is not opened");
    assert!(err.contains("restoring"), "{err}");
    ok(t, &["restore", "r1", "--from", "tail.tap"]);
    assert_check(t, "r1", &model(&all, None), "to the point of failure");

    // A log restored to a recovered database is refused, saying why.
    let (c, _, err) = refdb(t, &["restore", "r1", "--from", "tail.tap"]);
    assert_eq!(c, 1);
    assert!(err.contains("already recovered"), "{err}");

    // To a point in time inside the tail, through the planner.
    let point = all[n - 4].0.clone();
    let plan = ok(t, &["plan", "sales", "--stopat", &point]);
    assert!(plan.contains("STOPAT"), "{plan}");
    ok(t, &["plan", "sales", "--stopat", &point, "--execute", "r2"]);
    assert_check(
        t,
        "r2",
        &model(&all, Some(&point)),
        "STOPAT through the plan",
    );

    // Bad input: a time in another form, a medium that does not exist (and is not created).
    let (c, _, err) = refdb(
        t,
        &[
            "restore",
            "r3",
            "--from",
            "full.tap",
            "--stopat",
            "yesterday",
        ],
    );
    assert_eq!(c, 1);
    assert!(err.contains("YYYY-MM-DDTHH:MM:SS"), "{err}");
    let (c, _, err) = refdb(t, &["restore", "r3", "--from", "nothere.tap"]);
    assert_eq!(c, 1);
    assert!(err.contains("no such medium"), "{err}");
    assert!(!t.join("nothere.tap").exists());
    assert!(!t.join("r3").exists());
}

/// Two sets appended to one tape image: each restored by its position (`--set`), and the plan
/// names the positions.
#[test]
fn sets_appended_to_one_tape_restore_by_position() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    ok(t, &["create", "s", "--recovery", "full"]);
    let mut all = commits(&ok(t, &["workload", "s", "--ops", "60", "--threads", "1"]));
    ok(
        t,
        &["backup", "s", "--type", "full", "--to", "t.tap", "--format"],
    );
    all.extend(commits(&ok(
        t,
        &[
            "workload",
            "s",
            "--ops",
            "60",
            "--seed",
            "5",
            "--threads",
            "1",
        ],
    )));
    let out = ok(t, &["backup", "s", "--type", "log", "--to", "t.tap"]);
    assert!(out.contains("as set 2"), "{out}");
    ok(
        t,
        &[
            "restore",
            "r",
            "--from",
            "t.tap",
            "--set",
            "1",
            "--norecovery",
        ],
    );
    ok(t, &["restore", "r", "--from", "t.tap", "--set", "2"]);
    assert_check(t, "r", &model(&all, None), "two sets of one tape");
    let plan = ok(t, &["plan", "s"]);
    assert!(
        plan.contains("Full set 1") && plan.contains("Log set 2"),
        "{plan}"
    );
}

/// A file restore from the command line: filegroup `b`'s file is lost; the tail of the log is
/// backed up, `--filegroup b` restores its file backup, the log backups since follow, and
/// every row put (the test's own list) reads back from both filegroups.
#[test]
fn filegroup_restore_plus_logs_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    ok(
        t,
        &["create", "db", "--recovery", "full", "--filegroup", "b"],
    );
    let mut want = BTreeMap::new();
    let put = |want: &mut BTreeMap<_, _>, n: std::ops::Range<u32>| {
        for i in n {
            for fg in ["PRIMARY", "b"] {
                let (k, v) = (format!("k{:02}", i % 23), format!("{fg}-{i}"));
                ok(t, &["put", "db", &k, &v, "--filegroup", fg]);
                want.insert((fg.to_string(), k), v);
            }
        }
    };
    put(&mut want, 0..10);
    let backup = |kind: &str, to: &str, extra: &[&str]| {
        let mut a = vec!["backup", "db", "--type", kind, "--to", to, "--format"];
        a.extend_from_slice(extra);
        ok(t, &a);
    };
    backup("full", "full.tap", &[]);
    put(&mut want, 10..20);
    backup("file", "fg.tap", &["--filegroup", "b"]);
    put(&mut want, 20..30);
    backup("log", "log1.tap", &[]);
    put(&mut want, 30..40);
    std::fs::remove_file(t.join("db/b.ndf")).unwrap();
    let tail = ok(
        t,
        &[
            "backup",
            "db",
            "--type",
            "log",
            "--to",
            "tail.tap",
            "--format",
            "--no-truncate",
            "--norecovery",
        ],
    );

    let (c, _, err) = refdb(
        t,
        &["restore", "db", "--from", "fg.tap", "--filegroup", "b"],
    );
    assert_eq!(c, 1);
    assert!(err.contains("brought up to date only at LSN"), "{err}");
    ok(
        t,
        &[
            "restore",
            "db",
            "--from",
            "fg.tap",
            "--filegroup",
            "b",
            "--norecovery",
        ],
    );
    ok(t, &["restore", "db", "--from", "log1.tap", "--norecovery"]);
    ok(t, &["restore", "db", "--from", "tail.tap"]);
    let mut got = BTreeMap::new();
    for line in ok(t, &["scan", "db"]).lines() {
        let mut p = line.splitn(3, '\t');
        let (fg, k, v) = (p.next().unwrap(), p.next().unwrap(), p.next().unwrap());
        got.insert((fg.to_string(), k.to_string()), v.to_string());
    }
    assert_eq!(got, want);
    assert_check(t, "db", &want, "filegroup b + log + tail");

    // The file restore broke no chain: a log backup is taken at once, starting where the tail
    // ended, and the planner restores the whole database from the full through every log.
    put(&mut want, 40..50);
    let log2 = ok(
        t,
        &[
            "backup", "db", "--type", "log", "--to", "log2.tap", "--format",
        ],
    );
    assert_eq!(lsns(&log2).0, lsns(&tail).1, "{tail}{log2}");
    put(&mut want, 50..60);
    backup("log", "tail2.tap", &["--no-truncate", "--norecovery"]);
    let plan = ok(t, &["plan", "db"]);
    let media: Vec<&str> = plan
        .lines()
        .filter_map(|l| l.split(" from ").nth(1))
        .filter_map(|l| l.split(' ').next())
        .collect();
    assert_eq!(
        media,
        ["full.tap", "log1.tap", "tail.tap", "log2.tap", "tail2.tap"],
        "{plan}"
    );
    ok(t, &["plan", "db", "--execute", "whole"]);
    assert_eq!(scan(t, "whole"), want);
    assert_check(t, "whole", &want, "the whole database through every log");
}

/// The LSN range a `refdb backup` reports (`… backup of DB as set N: LSN A..B …`).
fn lsns(out: &str) -> (u64, u64) {
    let r = out
        .split(": LSN ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    let (a, b) = r.split_once("..").unwrap();
    (a.parse().unwrap(), b.parse().unwrap())
}

/// The rows `refdb scan DIR` prints: (filegroup, key) → value.
fn scan(t: &Path, db: &str) -> BTreeMap<(String, String), String> {
    let mut got = BTreeMap::new();
    for line in ok(t, &["scan", db]).lines() {
        if line.starts_with("refdb: ") {
            continue;
        }
        let mut p = line.splitn(3, '\t');
        let (fg, k, v) = (p.next().unwrap(), p.next().unwrap(), p.next().unwrap());
        got.insert((fg.to_string(), k.to_string()), v.to_string());
    }
    got
}

/// Piecemeal restore: `--partial --filegroup PRIMARY --filegroup a` from a full backup and a
/// log, the database online with `b` offline (its reads refused with the reason), then `b`
/// from the full backup and the same log.
#[test]
fn piecemeal_restore_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    ok(
        t,
        &[
            "create",
            "db",
            "--recovery",
            "full",
            "--filegroup",
            "a",
            "--filegroup",
            "b",
        ],
    );
    let mut want = BTreeMap::new();
    let mut put = |n: std::ops::Range<u32>| {
        for i in n {
            for fg in ["PRIMARY", "a", "b"] {
                let (k, v) = (format!("k{:02}", i % 17), format!("{fg}-{i}"));
                ok(t, &["put", "db", &k, &v, "--filegroup", fg]);
                want.insert((fg.to_string(), k), v);
            }
        }
    };
    put(0..8);
    ok(
        t,
        &[
            "backup", "db", "--type", "full", "--to", "full.tap", "--format",
        ],
    );
    put(8..20);
    ok(
        t,
        &[
            "backup", "db", "--type", "log", "--to", "log.tap", "--format",
        ],
    );

    // Two filegroups without --partial: refused by the command line.
    let (c, _, err) = refdb(
        t,
        &[
            "restore",
            "r",
            "--from",
            "full.tap",
            "--filegroup",
            "a",
            "--filegroup",
            "b",
        ],
    );
    assert_eq!(c, 1);
    assert!(err.contains("unless --partial"), "{err}");

    let out = ok(
        t,
        &[
            "restore",
            "r",
            "--from",
            "full.tap",
            "--partial",
            "--filegroup",
            "PRIMARY",
            "--filegroup",
            "a",
            "--norecovery",
        ],
    );
    assert!(out.contains("restoring"), "{out}");
    let out = ok(t, &["restore", "r", "--from", "log.tap"]);
    assert!(
        out.contains("filegroup b is offline") && out.contains("--filegroup b"),
        "{out}"
    );
    let online: BTreeMap<_, _> = want
        .iter()
        .filter(|((fg, _), _)| fg != "b")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert_eq!(scan(t, "r"), online);
    assert_check(
        t,
        "r",
        &online,
        "piecemeal: PRIMARY and a online, b offline",
    );
    let info = ok(t, &["info", "r"]);
    assert!(
        info.contains("filegroup b offline (recovery pending at LSN"),
        "{info}"
    );
    let (c, _, err) = refdb(t, &["get", "r", "k01", "--filegroup", "b"]);
    assert_eq!(c, 1);
    assert!(err.contains("filegroup \"b\" is offline"), "{err}");
    let (c, _, err) = refdb(t, &["put", "r", "k01", "x", "--filegroup", "b"]);
    assert_eq!(c, 1);
    assert!(err.contains("filegroup \"b\" is offline"), "{err}");

    let out = ok(
        t,
        &["restore", "r", "--from", "full.tap", "--filegroup", "b"],
    );
    assert!(out.contains("restoring"), "{out}");
    let out = ok(t, &["restore", "r", "--from", "log.tap"]);
    assert!(
        out.contains("recovered") && !out.contains("offline"),
        "{out}"
    );
    assert_eq!(scan(t, "r"), want);
    assert_check(t, "r", &want, "piecemeal: PRIMARY and a, then b");
}

/// The number after `prefix` in `out`.
fn number_after(out: &str, prefix: &str) -> u64 {
    let rest = &out[out
        .find(prefix)
        .unwrap_or_else(|| panic!("no {prefix:?} in {out}"))
        + prefix.len()..];
    rest.chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap()
}

/// Log backups between the stages of a piecemeal restore: after stage 1 the database, online
/// with b offline, takes log backups (the first starts at the LSN stage 1 recovered it at); a
/// differential is refused while b is offline; stage 2 refuses those logs as not needed and
/// brings b online from the full backup and the log it was restored with; the log backups go
/// on after it; the whole database restored from the full, that log and the new logs has every
/// row put (the test's own record), and a log out of turn is refused.
#[test]
fn log_backups_between_piecemeal_stages_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    ok(
        t,
        &[
            "create",
            "db",
            "--recovery",
            "full",
            "--filegroup",
            "a",
            "--filegroup",
            "b",
        ],
    );
    let mut want = BTreeMap::new();
    let put = |want: &mut BTreeMap<(String, String), String>,
               db: &str,
               n: std::ops::Range<u32>,
               fgs: &[&str]| {
        for i in n {
            for fg in fgs {
                let (k, v) = (format!("k{:02}", i % 17), format!("{fg}-{i}"));
                ok(t, &["put", db, &k, &v, "--filegroup", fg]);
                want.insert((fg.to_string(), k), v);
            }
        }
    };
    let all = ["PRIMARY", "a", "b"];
    put(&mut want, "db", 0..8, &all);
    ok(
        t,
        &[
            "backup", "db", "--type", "full", "--to", "full.tap", "--format",
        ],
    );
    put(&mut want, "db", 8..14, &all);
    ok(
        t,
        &[
            "backup", "db", "--type", "log", "--to", "log.tap", "--format",
        ],
    );

    // Stage 1.
    ok(
        t,
        &[
            "restore",
            "r",
            "--from",
            "full.tap",
            "--partial",
            "--filegroup",
            "PRIMARY",
            "--filegroup",
            "a",
            "--norecovery",
        ],
    );
    let out = ok(t, &["restore", "r", "--from", "log.tap"]);
    let point = number_after(&out, "recovered at LSN ");
    assert!(
        out.contains(&format!("log backups go on from LSN {point}")),
        "{out}"
    );
    let info = ok(t, &["info", "r"]);
    assert!(
        info.contains(&format!(
            "recovery fork began at LSN {point}, branched from fork"
        )) && info.contains(&format!("backed up to {point})")),
        "{info}"
    );

    // Between the stages.
    put(&mut want, "r", 14..20, &["PRIMARY", "a"]);
    let out = ok(
        t,
        &[
            "backup",
            "r",
            "--type",
            "log",
            "--to",
            "between1.tap",
            "--format",
        ],
    );
    assert!(out.contains(&format!("LSN {point}..")), "{out}");
    let (c, _, err) = refdb(
        t,
        &[
            "backup",
            "r",
            "--type",
            "differential",
            "--to",
            "diff.tap",
            "--format",
        ],
    );
    assert_eq!(c, 1);
    assert!(
        err.contains("filegroup b") && err.contains("offline"),
        "{err}"
    );
    put(&mut want, "r", 20..24, &["PRIMARY", "a"]);
    ok(
        t,
        &[
            "backup",
            "r",
            "--type",
            "log",
            "--to",
            "between2.tap",
            "--format",
        ],
    );

    // Stage 2: the logs taken since stage 1 are not needed for b.
    ok(
        t,
        &["restore", "r", "--from", "full.tap", "--filegroup", "b"],
    );
    let (c, _, err) = refdb(t, &["restore", "r", "--from", "between1.tap"]);
    assert_eq!(c, 1);
    assert!(
        err.contains("not needed") && err.contains("filegroup b"),
        "{err}"
    );
    let out = ok(t, &["restore", "r", "--from", "log.tap"]);
    assert!(
        out.contains("recovered") && !out.contains("offline"),
        "{out}"
    );
    assert_eq!(scan(t, "r"), want);
    assert_check(
        t,
        "r",
        &want,
        "b online after log backups between the stages",
    );
    // Log backups go on, b included.
    put(&mut want, "r", 24..28, &all);
    ok(
        t,
        &[
            "backup",
            "r",
            "--type",
            "log",
            "--to",
            "after.tap",
            "--format",
        ],
    );

    // The whole database: the full, the log to the point, the new fork's logs.
    ok(t, &["restore", "w", "--from", "full.tap", "--norecovery"]);
    ok(t, &["restore", "w", "--from", "log.tap", "--norecovery"]);
    let (c, _, err) = refdb(
        t,
        &["restore", "w", "--from", "between2.tap", "--norecovery"],
    );
    assert_eq!(c, 1);
    assert!(err.contains("cannot be mixed"), "{err}");
    ok(
        t,
        &["restore", "w", "--from", "between1.tap", "--norecovery"],
    );
    ok(
        t,
        &["restore", "w", "--from", "between2.tap", "--norecovery"],
    );
    let out = ok(t, &["restore", "w", "--from", "after.tap"]);
    assert!(out.contains("recovered"), "{out}");
    assert_eq!(scan(t, "w"), want);
    assert_check(t, "w", &want, "whole database through the new fork");
}

/// A piecemeal restore to a point in time: `--partial … --stopat T` on the full backup and
/// `--stopat T` on the logs bring PRIMARY and a to T; b later, from the full backup and the
/// same logs without STOPAT, comes to exactly T. The rows of every filegroup are those of the
/// commits `refdb workload` acknowledged up to T. Under the simple model, refused saying why.
#[test]
fn piecemeal_restore_to_a_point_in_time_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    ok(
        t,
        &[
            "create",
            "db",
            "--recovery",
            "full",
            "--filegroup",
            "a",
            "--filegroup",
            "b",
        ],
    );
    let work = |seed: &str| {
        ok(
            t,
            &[
                "workload",
                "db",
                "--ops",
                "80",
                "--threads",
                "1",
                "--seed",
                seed,
            ],
        )
    };
    let backup = |kind: &str, to: &str| {
        ok(t, &["backup", "db", "--type", kind, "--to", to, "--format"]);
    };
    let mut all = commits(&work("1"));
    backup("full", "full.tap");
    all.extend(commits(&work("2")));
    backup("log", "log1.tap");
    let w3 = commits(&work("3"));
    let point = w3[w3.len() / 2].0.clone();
    all.extend(w3);
    backup("log", "log2.tap");
    let at_t = model(&all, Some(&point));
    assert_ne!(at_t, model(&all, None), "work after T");
    let without_b: BTreeMap<_, _> = at_t
        .iter()
        .filter(|((fg, _), _)| fg != "b")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();

    ok(
        t,
        &[
            "restore",
            "r",
            "--from",
            "full.tap",
            "--partial",
            "--filegroup",
            "PRIMARY",
            "--filegroup",
            "a",
            "--norecovery",
            "--stopat",
            &point,
        ],
    );
    ok(
        t,
        &[
            "restore",
            "r",
            "--from",
            "log1.tap",
            "--norecovery",
            "--stopat",
            &point,
        ],
    );
    let out = ok(
        t,
        &["restore", "r", "--from", "log2.tap", "--stopat", &point],
    );
    assert!(out.contains("filegroup b is offline"), "{out}");
    assert_eq!(scan(t, "r"), without_b);
    assert_check(t, "r", &without_b, "PRIMARY and a at T");

    ok(
        t,
        &["restore", "r", "--from", "full.tap", "--filegroup", "b"],
    );
    ok(t, &["restore", "r", "--from", "log1.tap"]);
    let out = ok(t, &["restore", "r", "--from", "log2.tap"]);
    assert!(
        out.contains("recovered") && !out.contains("offline"),
        "{out}"
    );
    assert_eq!(scan(t, "r"), at_t);
    assert_check(t, "r", &at_t, "b brought to T");

    ok(
        t,
        &["create", "s", "--recovery", "simple", "--filegroup", "a"],
    );
    ok(t, &["put", "s", "k", "v"]);
    ok(
        t,
        &["backup", "s", "--type", "full", "--to", "s.tap", "--format"],
    );
    let (c, _, err) = refdb(
        t,
        &[
            "restore",
            "rs",
            "--from",
            "s.tap",
            "--partial",
            "--filegroup",
            "PRIMARY",
            "--filegroup",
            "a",
            "--stopat",
            &point,
        ],
    );
    assert_eq!(c, 1);
    assert!(
        err.contains("simple recovery model") && err.contains("point in time"),
        "{err}"
    );
    assert!(!t.join("rs").exists());
}

/// `--page FILE:PAGE`: a typo is refused by the parser, and a page restore under the simple
/// model says why.
#[test]
fn page_restore_refusals_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    ok(t, &["create", "db", "--recovery", "simple"]);
    ok(t, &["put", "db", "k", "v"]);
    ok(
        t,
        &[
            "backup", "db", "--type", "full", "--to", "full.tap", "--format",
        ],
    );
    let (c, _, err) = refdb(t, &["restore", "db", "--from", "full.tap", "--page", "x"]);
    assert_eq!(c, 2, "{err}");
    assert!(err.contains("not FILE:PAGE"), "{err}");
    let (c, _, err) = refdb(t, &["restore", "db", "--from", "full.tap", "--page", "1:2"]);
    assert_eq!(c, 1, "{err}");
    assert!(err.contains("simple recovery model"), "{err}");
    assert_eq!(ok(t, &["get", "db", "k"]).trim(), "v");
}

/// `--move LOGICAL=PATH`: a typo in the option, an unknown name, then a restore that puts
/// filegroup b's file in another directory; the database opens there and takes writes.
#[test]
fn move_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    ok(
        t,
        &["create", "db", "--recovery", "full", "--filegroup", "b"],
    );
    ok(t, &["put", "db", "k1", "v1", "--filegroup", "b"]);
    ok(
        t,
        &[
            "backup", "db", "--type", "full", "--to", "full.tap", "--format",
        ],
    );
    std::fs::create_dir(t.join("disk2")).unwrap();
    let (c, _, err) = refdb(t, &["restore", "r", "--from", "full.tap", "--move", "b"]);
    assert_eq!(c, 2, "{err}");
    assert!(err.contains("expected LOGICAL=PATH"), "{err}");
    let (c, _, err) = refdb(
        t,
        &[
            "restore",
            "r",
            "--from",
            "full.tap",
            "--move",
            "c=../disk2/c.ndf",
        ],
    );
    assert_eq!(c, 1, "{err}");
    assert!(err.contains("no data file \"c\""), "{err}");
    assert!(!t.join("r").exists());
    ok(
        t,
        &[
            "restore",
            "r",
            "--from",
            "full.tap",
            "--move",
            "b=../disk2/b.ndf",
        ],
    );
    assert!(t.join("disk2/b.ndf").is_file() && !t.join("r/b.ndf").exists());
    ok(t, &["put", "r", "k2", "v2", "--filegroup", "b"]);
    assert_eq!(ok(t, &["get", "r", "k1", "--filegroup", "b"]).trim(), "v1");
    assert_eq!(ok(t, &["get", "r", "k2", "--filegroup", "b"]).trim(), "v2");
    ok(t, &["check", "r"]);

    // The primary file and the log outside the directory, through a log restore in standby.
    ok(t, &["put", "db", "k3", "v3"]);
    ok(
        t,
        &[
            "backup", "db", "--type", "log", "--to", "log1.tap", "--format",
        ],
    );
    ok(t, &["put", "db", "k4", "v4"]);
    ok(
        t,
        &[
            "backup", "db", "--type", "log", "--to", "log2.tap", "--format",
        ],
    );
    let primary = t.join("disk2/p.mdf");
    let primary_move = format!("primary={}", primary.display());
    let (c, _, err) = refdb(
        t,
        &[
            "restore",
            "p",
            "--from",
            "full.tap",
            "--move",
            &primary_move,
            "--move",
            "log=../disk2/b.ndf",
            "--norecovery",
        ],
    );
    assert_eq!(c, 1, "{err}");
    assert!(err.contains("exists: use REPLACE"), "{err}");
    assert!(!t.join("p").exists() && !primary.exists());
    ok(
        t,
        &[
            "restore",
            "p",
            "--from",
            "full.tap",
            "--move",
            &primary_move,
            "--move",
            "LOG=../disk2/p.ldf",
            "--norecovery",
        ],
    );
    ok(
        t,
        &["restore", "p", "--from", "log1.tap", "--standby", "p.undo"],
    );
    assert_eq!(ok(t, &["get", "p", "k3"]).trim(), "v3");
    ok(t, &["restore", "p", "--from", "log2.tap"]);
    for gone in ["primary.mdf", "log.ldf"] {
        assert!(!t.join("p").join(gone).exists(), "{gone} in p");
    }
    assert!(primary.is_file() && t.join("disk2/p.ldf").is_file());
    assert_eq!(ok(t, &["get", "p", "k4"]).trim(), "v4");
    assert_eq!(ok(t, &["get", "p", "k1", "--filegroup", "b"]).trim(), "v1");
    ok(t, &["check", "p"]);
    ok(
        t,
        &["backup", "p", "--type", "full", "--to", "p.tap", "--format"],
    );
    // The set lists the files where they are (SFIN physical names).
    let ls = Command::new(env!("CARGO_BIN_EXE_mtfdump"))
        .current_dir(t)
        .args(["ls", "p.tap"])
        .output()
        .unwrap();
    let ls = String::from_utf8_lossy(&ls.stdout);
    for f in [primary.clone(), t.join("disk2/p.ldf")] {
        assert!(
            ls.contains(f.to_str().unwrap()),
            "{} not in {ls}",
            f.display()
        );
    }
    ok(t, &["restore", "q", "--from", "p.tap"]);
    assert!(t.join("q/primary.mdf").is_file() && t.join("q/log.ldf").is_file());
    assert_eq!(ok(t, &["get", "q", "k4"]).trim(), "v4");
    // A data file lost: the tail-log backup is read from the moved primary file and log.
    ok(t, &["put", "p", "k5", "v5"]);
    std::fs::remove_file(t.join("p/b.ndf")).unwrap();
    ok(
        t,
        &[
            "backup",
            "p",
            "--type",
            "log",
            "--to",
            "tail.tap",
            "--format",
            "--no-truncate",
            "--norecovery",
        ],
    );
    ok(t, &["restore", "q2", "--from", "p.tap", "--norecovery"]);
    ok(t, &["restore", "q2", "--from", "tail.tap"]);
    assert_eq!(ok(t, &["get", "q2", "k5"]).trim(), "v5");
    // A damaged location file is named, never taken for the usual layout.
    std::fs::write(t.join("q/refdb.location"), "x").unwrap();
    let (c, _, err) = refdb(t, &["get", "q", "k4"]);
    assert_ne!(c, 0);
    assert!(err.contains("refdb.location"), "{err}");
}

/// Under a terminal (a pseudo-terminal made by util-linux's `script`; skipped where there is
/// none) a backup and a restore draw their progress line on stderr, and clear it before what
/// they print.
#[test]
fn progress_is_drawn_on_a_terminal() {
    let has_script = Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_script {
        eprintln!("no `script` command: the terminal test is skipped");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    ok(t, &["create", "sales", "--recovery", "bulk-logged"]);
    ok(
        t,
        &[
            "bulk-load",
            "sales",
            "--filegroup",
            "PRIMARY",
            "--rows",
            "20000",
            "--value-bytes",
            "400",
        ],
    );
    let under_tty = |cmd: &str| -> String {
        let o = Command::new("script")
            .current_dir(t)
            .args(["-qec", &format!("{REFDB} {cmd}"), "/dev/null"])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(o.status.success(), "{cmd}: {o:?}");
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let out = under_tty("backup sales --type full --to a.tap --to b.tap --format");
    assert!(
        out.contains("backup sales (full) to 2 devices") && out.contains("100%"),
        "{out:?}"
    );
    // The line is cleared (a carriage return and erase) before the summary is printed.
    let line = out.find("backup sales (full)").unwrap();
    let summary = out.find("refdb: Full backup of sales").unwrap();
    assert!(
        line < summary && out[line..summary].contains("\r\x1b[2K"),
        "{out:?}"
    );
    let out = under_tty("restore copy --from a.tap --from b.tap");
    assert!(
        out.contains("restore copy from a.tap, b.tap") && out.contains("100%"),
        "{out:?}"
    );
    assert!(
        out.contains("refdb: restored Full backup of sales"),
        "{out:?}"
    );
}

/// File restore of the primary filegroup from the command line (full model, offline): a page
/// of primary.mdf holding rows is damaged; after the tail-log backup, `--filegroup PRIMARY`
/// from the full (the first run killed half way, the second finishing it), the logs, the tail:
/// every acknowledged row is back, `check` agrees, filegroup b's file was not touched before
/// the recovery, and the next log backup follows the tail. Refused: a backup of another
/// database, a log gap, and the simple model.
#[test]
fn primary_filegroup_restore_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    ok(
        t,
        &["create", "db", "--recovery", "full", "--filegroup", "b"],
    );
    let mut want = BTreeMap::new();
    let put = |want: &mut BTreeMap<_, _>, n: std::ops::Range<u32>| {
        for i in n {
            for fg in ["PRIMARY", "b"] {
                let (k, v) = (format!("k{:02}", i % 23), format!("{fg}-{i}"));
                ok(t, &["put", "db", &k, &v, "--filegroup", fg]);
                want.insert((fg.to_string(), k), v);
            }
        }
    };
    let backup = |kind: &str, to: &str, extra: &[&str]| {
        let mut a = vec!["backup", "db", "--type", kind, "--to", to, "--format"];
        a.extend_from_slice(extra);
        ok(t, &a)
    };
    put(&mut want, 0..10);
    backup("full", "full.tap", &[]);
    put(&mut want, 10..20);
    backup("log", "log1.tap", &[]);
    put(&mut want, 20..30);
    backup("log", "log2.tap", &[]);
    put(&mut want, 30..40);
    // The damage: the page of primary.mdf holding PRIMARY's rows.
    let path = t.join("db/primary.mdf");
    let mut bytes = std::fs::read(&path).unwrap();
    let page = (2..bytes.len() / 8192)
        .find(|&p| {
            bytes[p * 8192..(p + 1) * 8192]
                .windows(8)
                .any(|w| w == b"PRIMARY-")
        })
        .expect("a page of PRIMARY's rows");
    bytes[page * 8192 + 100..page * 8192 + 4000].fill(0xAB);
    std::fs::write(&path, &bytes).unwrap();
    let tail = backup("log", "tail.tap", &["--no-truncate", "--norecovery"]);
    let b_before = std::fs::read(t.join("db/b.ndf")).unwrap();

    // Another database of the same name: refused, nothing changed.
    ok(t, &["create", "other", "--recovery", "full"]);
    ok(t, &["put", "other", "x", "y"]);
    ok(
        t,
        &[
            "backup",
            "other",
            "--type",
            "full",
            "--to",
            "other.tap",
            "--format",
        ],
    );
    let primary_before = std::fs::read(&path).unwrap();
    let restore_primary = [
        "restore",
        "db",
        "--from",
        "other.tap",
        "--filegroup",
        "PRIMARY",
    ];
    let (c, _, err) = refdb(t, &[&restore_primary[..], &["--norecovery"]].concat());
    assert_eq!(c, 1, "{err}");
    assert!(err.contains("is restoring database"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), primary_before);

    // Killed half way through (after the primary file, writing the log), then run again: it
    // finishes.
    let args = [
        "restore",
        "db",
        "--from",
        "full.tap",
        "--filegroup",
        "PRIMARY",
        "--norecovery",
    ];
    let o = Command::new(REFDB)
        .current_dir(t)
        .args(args)
        .env("REFDB_CRASH", "restore:1")
        .output()
        .unwrap();
    assert_ne!(o.status.code(), Some(0), "the killed restore finished");
    // Killed writing the new log, the primary already put back: the directory is half way.
    assert_ne!(std::fs::read(&path).unwrap(), primary_before);
    ok(t, &args);
    let (c, _, err) = refdb(t, &["restore", "db", "--from", "log2.tap", "--norecovery"]);
    assert_eq!(c, 1, "{err}");
    assert!(err.contains("log chain gap"), "{err}");
    ok(t, &["restore", "db", "--from", "log1.tap", "--norecovery"]);
    ok(t, &["restore", "db", "--from", "log2.tap", "--norecovery"]);
    assert_eq!(std::fs::read(t.join("db/b.ndf")).unwrap(), b_before);
    ok(t, &["restore", "db", "--from", "tail.tap"]);
    assert_eq!(scan(t, "db"), want);
    assert_check(t, "db", &want, "PRIMARY + logs + tail");

    // The chain goes on from the tail's end.
    put(&mut want, 40..45);
    let log3 = backup("log", "log3.tap", &[]);
    assert_eq!(lsns(&log3).0, lsns(&tail).1, "{tail}{log3}");

    // Simple: refused, saying why.
    ok(t, &["create", "s", "--recovery", "simple"]);
    ok(t, &["put", "s", "x", "y"]);
    ok(
        t,
        &["backup", "s", "--type", "full", "--to", "s.tap", "--format"],
    );
    let (c, _, err) = refdb(
        t,
        &["restore", "s", "--from", "s.tap", "--filegroup", "PRIMARY"],
    );
    assert_eq!(c, 1, "{err}");
    assert!(
        err.contains("simple recovery model") && err.contains("primary filegroup"),
        "{err}"
    );
    assert_eq!(ok(t, &["get", "s", "x"]).trim(), "y");
}

/// Options that a backup would ignore are refused before any medium is touched, and a log
/// backup WITH NORECOVERY alone is the tail-log backup SQL Server makes of it.
#[test]
fn ignored_backup_options_are_refused_and_norecovery_alone_takes_the_tail() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    ok(
        t,
        &["create", "db", "--recovery", "full", "--filegroup", "fg_b"],
    );
    ok(t, &["put", "db", "k1", "v1"]);
    ok(
        t,
        &[
            "backup", "db", "--type", "full", "--to", "full.tap", "--format",
        ],
    );
    let before = std::fs::read(t.join("full.tap")).unwrap();
    for (args, want) in [
        (
            &[
                "backup",
                "db",
                "--type",
                "full",
                "--to",
                "full.tap",
                "--norecovery",
            ][..],
            "NORECOVERY",
        ),
        (
            &[
                "backup",
                "db",
                "--type",
                "differential",
                "--to",
                "full.tap",
                "--filegroup",
                "fg_b",
            ][..],
            "file backups only",
        ),
        (
            &[
                "backup",
                "db",
                "--type",
                "log",
                "--to",
                "full.tap",
                "--filegroup",
                "fg_b",
            ][..],
            "file backups only",
        ),
    ] {
        let (c, _, err) = refdb(t, args);
        assert_eq!(c, 1, "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert_eq!(
            std::fs::read(t.join("full.tap")).unwrap(),
            before,
            "{args:?}"
        );
    }
    // The database is still online and whole: nothing of the refused backups happened.
    ok(t, &["put", "db", "k2", "v2"]);
    ok(
        t,
        &[
            "backup",
            "db",
            "--type",
            "log",
            "--to",
            "tail.tap",
            "--format",
            "--norecovery",
        ],
    );
    let (c, _, err) = refdb(t, &["get", "db", "k1"]);
    assert_eq!(c, 1, "left restoring: {err}");
    assert!(err.contains("restoring"), "{err}");
    ok(t, &["restore", "r", "--from", "full.tap", "--norecovery"]);
    ok(t, &["restore", "r", "--from", "tail.tap"]);
    let out = ok(t, &["get", "r", "k2"]);
    assert!(out.contains("v2"), "{out}");
    let hist = ok(t, &["history", "--database", "db"]);
    assert_eq!(hist.lines().count(), 2, "{hist}");

    // A database that does not open: NORECOVERY alone says what reads its tail.
    ok(t, &["create", "d2", "--recovery", "full"]);
    ok(
        t,
        &[
            "backup", "d2", "--type", "full", "--to", "d2.tap", "--format",
        ],
    );
    std::fs::remove_file(t.join("d2/log.ldf")).unwrap();
    let (c, _, err) = refdb(
        t,
        &[
            "backup",
            "d2",
            "--type",
            "log",
            "--to",
            "t2.tap",
            "--norecovery",
        ],
    );
    assert_eq!(c, 1, "{err}");
    assert!(err.contains("--no-truncate"), "{err}");
    assert!(!t.join("t2.tap").exists(), "a refused backup left a medium");
}
