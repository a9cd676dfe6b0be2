//! `refdb restore --standby UNDO_FILE` and `refdb restore --restart` from the command line, on
//! tape images: the read commands work on a database in standby and the write commands are
//! refused; a restore killed in the middle (an injected crash: `REFDB_CRASH`) is refused
//! without `--restart` and continued with it, and the contents then equal the commits
//! `refdb workload` acknowledged (replayed here into a model).

use media::engine::check::digest_rows;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

const REFDB: &str = env!("CARGO_BIN_EXE_refdb");

type Model = BTreeMap<(String, String), String>;

fn refdb_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut c = Command::new(REFDB);
    c.current_dir(dir).args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8(o.stdout).unwrap(),
        String::from_utf8(o.stderr).unwrap(),
    )
}

fn refdb(dir: &Path, args: &[&str]) -> (i32, String, String) {
    refdb_env(dir, args, &[])
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let (c, out, err) = refdb(dir, args);
    assert_eq!(c, 0, "refdb {args:?}: {out}{err}");
    out + &err
}

fn refused(dir: &Path, args: &[&str], why: &str) {
    let (c, out, err) = refdb(dir, args);
    assert_eq!(c, 1, "refdb {args:?} should fail: {out}{err}");
    assert!(err.contains(why), "refdb {args:?}: {err}");
}

/// Killed by an injected crash (abort), not a clean failure.
fn killed(dir: &Path, args: &[&str], crash: &str) {
    let (c, out, err) = refdb_env(dir, args, &[("REFDB_CRASH", crash)]);
    assert_ne!(c, 0, "refdb {args:?} with {crash}: {out}{err}");
    assert!(err.contains("injected crash"), "refdb {args:?}: {err}");
}

/// Applies a workload's acknowledged commits (`commit TIME … put:FG:K=V del:FG:K`).
fn replay(m: &mut Model, out: &str) {
    for l in out.lines().filter_map(|l| l.strip_prefix("commit ")) {
        for op in l.split(' ').skip(1) {
            if let Some(rest) = op.strip_prefix("put:") {
                let (fg, kv) = rest.split_once(':').unwrap();
                let (k, v) = kv.split_once('=').unwrap();
                m.insert((fg.into(), k.into()), v.into());
            } else if let Some(rest) = op.strip_prefix("del:") {
                let (fg, k) = rest.split_once(':').unwrap();
                m.remove(&(fg.to_string(), k.to_string()));
            }
        }
    }
}

fn work(t: &Path, db: &str, m: &mut Model, seed: &str) {
    let out = ok(
        t,
        &[
            "workload",
            db,
            "--ops",
            "150",
            "--seed",
            seed,
            "--threads",
            "1",
            "--keys",
            "120",
        ],
    );
    replay(m, &out);
}

/// Database `db`: PRIMARY, and filegroup `b` of two files (three data files).
fn create_three_files(t: &Path) {
    ok(
        t,
        &[
            "create",
            "db",
            "--recovery",
            "full",
            "--filegroup",
            "b",
            "--file",
            "b:b2",
        ],
    );
}

fn backup(t: &Path, db: &str, kind: &str, to: &str) {
    ok(t, &["backup", db, "--type", kind, "--to", to, "--format"]);
}

/// `check` reports the model's row count and digest (computed here by the documented formula).
fn assert_check(t: &Path, db: &str, m: &Model, what: &str) {
    let out = ok(t, &["check", db]);
    let d = digest_rows(
        m.iter()
            .map(|((fg, k), v)| (fg.as_str(), k.as_bytes(), v.as_bytes())),
    );
    let digest: String = d.iter().map(|b| format!("{b:02x}")).collect();
    assert!(
        out.contains(&format!("rows: {}\n", m.len())),
        "{what}: {out}"
    );
    assert!(
        out.contains(&format!("digest: {digest}\n")),
        "{what}: {out}"
    );
}

/// Full, three logs, restored WITH STANDBY in turn (reads between them), the second killed
/// while entering standby and continued; then RECOVERY.
#[test]
fn standby_from_the_command_line_with_a_kill_in_the_middle() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    ok(t, &["create", "sales", "--recovery", "full"]);
    let mut m = Model::new();
    work(t, "sales", &mut m, "1");
    backup(t, "sales", "full", "full.tap");
    let at_full = m.clone();
    work(t, "sales", &mut m, "2");
    backup(t, "sales", "log", "log1.tap");
    let at_log1 = m.clone();
    work(t, "sales", &mut m, "3");
    backup(t, "sales", "log", "log2.tap");
    let at_log2 = m.clone();
    work(t, "sales", &mut m, "4");
    backup(t, "sales", "log", "log3.tap");
    let at_log3 = m.clone();

    let out = ok(
        t,
        &["restore", "s", "--from", "full.tap", "--standby", "s.undo"],
    );
    assert!(out.contains("in standby"), "{out}");
    assert_check(t, "s", &at_full, "standby after the full");
    // The read commands work; the writes say why not.
    let ((fg, k), v) = at_full.iter().next().unwrap();
    assert_eq!(ok(t, &["get", "s", k, "--filegroup", fg]).trim(), v);
    let scan = ok(t, &["scan", "s", "--filegroup", "PRIMARY"]);
    assert_eq!(scan.lines().count(), at_full.len(), "{scan}");
    refused(t, &["put", "s", "x", "y"], "standby (read-only)");
    refused(t, &["delete", "s", k], "standby (read-only)");
    refused(
        t,
        &["set", "s", "--recovery", "simple"],
        "standby (read-only)",
    );
    assert_check(t, "s", &at_full, "unchanged by the refused writes");

    // --standby with --norecovery is a usage error.
    let (c, _, _) = refdb(
        t,
        &[
            "restore",
            "s",
            "--from",
            "log1.tap",
            "--standby",
            "s.undo",
            "--norecovery",
        ],
    );
    assert_eq!(c, 2);

    // Killed while recovery writes its first page for standby.
    killed(
        t,
        &["restore", "s", "--from", "log1.tap", "--standby", "s.undo"],
        "pagewrite:1",
    );
    refused(t, &["check", "s"], "restoring");
    // The same restore run again (without --restart) goes on from where it was killed.
    ok(
        t,
        &["restore", "s", "--from", "log1.tap", "--standby", "s.undo"],
    );
    assert_check(t, "s", &at_log1, "standby after log1 (run again)");

    ok(
        t,
        &["restore", "s", "--from", "log2.tap", "--standby", "s.undo"],
    );
    assert_check(t, "s", &at_log2, "standby after log2");
    // The undo file cannot be lost silently.
    std::fs::rename(t.join("s.undo"), t.join("elsewhere.undo")).unwrap();
    refused(
        t,
        &["restore", "s", "--from", "log3.tap", "--recovery"],
        "missing",
    );
    std::fs::rename(t.join("elsewhere.undo"), t.join("s.undo")).unwrap();
    ok(t, &["restore", "s", "--from", "log3.tap", "--recovery"]);
    assert_check(t, "s", &at_log3, "recovered after log3");
    ok(t, &["put", "s", "after", "recovery"]);
}

/// A full restore of a database of three data files killed after its second file, and a
/// log restore killed in the middle of its records: each refused without `--restart`,
/// continued with it; `--restart` with nothing interrupted is refused.
#[test]
fn restart_continues_a_killed_full_and_log_restore() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    create_three_files(t);
    let mut m = Model::new();
    work(t, "db", &mut m, "7");
    for i in 0..30 {
        let (k, v) = (format!("bk{i:02}"), format!("b-{i}"));
        ok(t, &["put", "db", &k, &v, "--filegroup", "b"]);
        m.insert(("b".into(), k), v);
    }
    backup(t, "db", "full", "full.tap");
    work(t, "db", &mut m, "8");
    backup(t, "db", "log", "log1.tap");

    refused(
        t,
        &["restore", "r", "--from", "full.tap", "--restart"],
        "nothing to restart",
    );
    // Killed once two data files are written and recorded.
    killed(
        t,
        &["restore", "r", "--from", "full.tap", "--norecovery"],
        "restore:2",
    );
    assert!(
        !t.join("r").exists(),
        "the target is put in place only at the end"
    );
    let work_dir = std::fs::read_dir(t)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".r.restore.")
        })
        .expect("the interrupted restore's work directory");
    // A finished file's inode and modification time: if --restart wrote it again (a new
    // file, or the same one rewritten), they would differ.
    let stamp = |p: &Path| {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(p).unwrap();
        (m.ino(), m.mtime(), m.mtime_nsec())
    };
    let before = stamp(&work_dir.join("b.ndf"));
    // A finished file changed since (cut to half its length): written again.
    {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(work_dir.join("primary.mdf"))
            .unwrap();
        f.set_len(f.metadata().unwrap().len() / 2).unwrap();
    }
    // Another set is not mixed in.
    refused(
        t,
        &["restore", "r", "--from", "log1.tap", "--restart"],
        "not of this log backup",
    );
    ok(
        t,
        &[
            "restore",
            "r",
            "--from",
            "full.tap",
            "--norecovery",
            "--restart",
        ],
    );
    assert_eq!(
        stamp(&t.join("r/b.ndf")),
        before,
        "a finished data file was written again"
    );
    // The one changed was: byte for byte what a restore never interrupted writes.
    ok(t, &["restore", "ref", "--from", "full.tap", "--norecovery"]);
    assert!(
        std::fs::read(t.join("r/primary.mdf")).unwrap()
            == std::fs::read(t.join("ref/primary.mdf")).unwrap(),
        "a finished data file changed since was not written again"
    );
    // A log restore killed after 5 of its records.
    killed(t, &["restore", "r", "--from", "log1.tap"], "restore:5");
    ok(t, &["restore", "r", "--from", "log1.tap", "--restart"]);
    assert_check(t, "r", &m, "after the continued log restore");
    refused(
        t,
        &["restore", "r", "--from", "log1.tap", "--restart"],
        "nothing to restart",
    );

    // Killed again: a full restore is started over with --replace.
    killed(
        t,
        &["restore", "r2", "--from", "full.tap", "--norecovery"],
        "restore:1",
    );
    ok(
        t,
        &[
            "restore",
            "r2",
            "--from",
            "full.tap",
            "--norecovery",
            "--replace",
        ],
    );
    ok(t, &["restore", "r2", "--from", "log1.tap"]);
    assert_check(t, "r2", &m, "started over");
    // Killed, and the same full restore run again without --restart: it starts over.
    killed(
        t,
        &["restore", "r3", "--from", "full.tap", "--norecovery"],
        "restore:2",
    );
    ok(t, &["restore", "r3", "--from", "full.tap", "--norecovery"]);
    ok(t, &["restore", "r3", "--from", "log1.tap"]);
    assert_check(t, "r3", &m, "run again");
    let left: Vec<_> = std::fs::read_dir(t)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".r"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

fn runs() -> u64 {
    std::env::var("REFDB_RESTART_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4)
}

/// Random restore sequences (full, a log, a differential, two logs; each step NORECOVERY or STANDBY, the last
/// RECOVERY or STANDBY) with a random step killed at a random point (a data file, a log
/// record, a differential's pages or log, a page written by recovery for standby, standby
/// put back); the next attempt is
/// the same restore again, plain or with `--restart` (chosen at random): either finishes. Each standby, and the end, reads as the model. `REFDB_RESTART_RUNS` runs
/// (default 4), `REFDB_RESTART_SEED` the first seed.
#[test]
fn randomly_killed_restore_sequences_end_as_the_model() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    create_three_files(t);
    let mut m = Model::new();
    let mut steps = Vec::new();
    work(t, "db", &mut m, "11");
    backup(t, "db", "full", "full.tap");
    steps.push(("full.tap", m.clone()));
    // log1, a differential, log2, log3, all restored in that order: log2 begins where log1
    // ended, inside what the differential holds, so it applies after it.
    work(t, "db", &mut m, "12");
    backup(t, "db", "log", "log1.tap");
    steps.push(("log1.tap", m.clone()));
    work(t, "db", &mut m, "13");
    backup(t, "db", "differential", "diff.tap");
    steps.push(("diff.tap", m.clone()));
    for (tap, seed) in [("log2.tap", "14"), ("log3.tap", "15")] {
        work(t, "db", &mut m, seed);
        backup(t, "db", "log", tap);
        steps.push((tap, m.clone()));
    }
    let first: u64 = std::env::var("REFDB_RESTART_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let (mut kills, mut restarts, mut diff_kills) = (0, 0, 0);
    for seed in first..first + runs() {
        let mut rng = fastrand::Rng::with_seed(seed);
        let dir = format!("r{seed}");
        let undo = format!("r{seed}.undo");
        let victim = rng.usize(0..steps.len());
        for (i, (tap, want)) in steps.iter().enumerate() {
            let last = i + 1 == steps.len();
            let standby = rng.bool();
            let mut args = vec!["restore", dir.as_str(), "--from", tap];
            if standby {
                args.extend(["--standby", undo.as_str()]);
            } else if !last {
                args.push("--norecovery");
            }
            let what = format!("seed {seed}, step {i} ({args:?})");
            if i == victim {
                let crash = if rng.bool() {
                    format!("pagewrite:{}", rng.u32(1..4))
                } else {
                    // A differential restore has few steps: aim inside them.
                    let range = if tap.starts_with("diff") { 1..4 } else { 1..40 };
                    format!("restore:{}", rng.u32(range))
                };
                let (c, out, err) = refdb_env(t, &args, &[("REFDB_CRASH", &crash)]);
                if c != 0 {
                    assert!(err.contains("injected crash"), "{what} {crash}: {out}{err}");
                    kills += 1;
                    if tap.starts_with("diff") {
                        diff_kills += 1;
                    }
                    // The same restore again: plain or with --restart, it finishes.
                    let mut again = args.clone();
                    if rng.bool() {
                        restarts += 1;
                        again.push("--restart");
                    }
                    let (c, out, err) = refdb(t, &again);
                    if c != 0 && again.len() > args.len() {
                        // Killed before it changed anything: nothing to restart.
                        assert!(
                            err.contains("nothing to restart"),
                            "{what} after {crash}: {out}{err}"
                        );
                        ok(t, &args);
                    } else {
                        assert_eq!(c, 0, "{what} {again:?} after {crash}: {out}{err}");
                    }
                }
            } else {
                ok(t, &args);
            }
            if standby || last {
                assert_check(t, &dir, want, &what);
            }
        }
    }
    eprintln!(
        "{} runs: {kills} restores killed ({diff_kills} differential), {restarts} continued with --restart",
        runs()
    );
    assert!(runs() < 4 || kills > 0, "no restore was killed");
}

/// A database whose primary file and log were moved (MOVE) outside its directory: a full
/// restore with MOVE killed in the middle is not continued without its MOVE (`--restart`
/// refused, naming it), run again with `--replace` it removes the dead restore's temporary
/// files; a log restore killed in the middle is continued by `--restart` into the moved log,
/// then STANDBY and RECOVERY.
#[test]
fn restart_and_standby_of_a_database_with_its_primary_and_log_moved() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    ok(t, &["create", "db", "--recovery", "full"]);
    let mut want = Vec::new();
    for i in 0..20 {
        let (k, v) = (format!("k{i:02}"), format!("v{i}"));
        ok(t, &["put", "db", &k, &v]);
        want.push((k, v));
    }
    ok(
        t,
        &[
            "backup", "db", "--type", "full", "--to", "full.tap", "--format",
        ],
    );
    for i in 20..60 {
        let (k, v) = (format!("k{i:02}"), format!("v{i}"));
        ok(t, &["put", "db", &k, &v]);
        want.push((k, v));
    }
    ok(
        t,
        &[
            "backup", "db", "--type", "log", "--to", "log1.tap", "--format",
        ],
    );
    ok(t, &["put", "db", "last", "one"]);
    want.push(("last".into(), "one".into()));
    ok(
        t,
        &[
            "backup", "db", "--type", "log", "--to", "log2.tap", "--format",
        ],
    );
    std::fs::create_dir(t.join("disk2")).unwrap();
    let primary = format!("primary={}", t.join("disk2/r.mdf").display());
    let full = [
        "restore",
        "r",
        "--from",
        "full.tap",
        "--move",
        &primary,
        "--move",
        "log=../disk2/r.ldf",
        "--norecovery",
    ];
    killed(t, &full, "restore:1");
    refused(
        t,
        &[
            "restore",
            "r",
            "--from",
            "full.tap",
            "--restart",
            "--norecovery",
        ],
        "moved files (MOVE)",
    );
    let mut again = full.to_vec();
    again.push("--replace");
    ok(t, &again);
    let mut left: Vec<String> = std::fs::read_dir(t.join("disk2"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["r.ldf", "r.mdf"], "temporary files left on disk2");
    // A log restore killed after some records went into the moved log, continued.
    killed(
        t,
        &["restore", "r", "--from", "log1.tap", "--norecovery"],
        "restore:5",
    );
    ok(
        t,
        &[
            "restore",
            "r",
            "--from",
            "log1.tap",
            "--restart",
            "--standby",
            "r.undo",
        ],
    );
    assert_eq!(ok(t, &["get", "r", "k59"]).trim(), "v59");
    ok(t, &["restore", "r", "--from", "log2.tap"]);
    assert!(!t.join("r/primary.mdf").exists() && !t.join("r/log.ldf").exists());
    for (k, v) in &want {
        assert_eq!(ok(t, &["get", "r", k]).trim(), v, "{k}");
    }
    ok(t, &["check", "r"]);
}

/// Two standby copies of one database given one undo file: the second is refused, naming the
/// first's directory, and changes nothing; the first goes on to its next log and recovers
/// with the model's contents; once the first no longer exists, the second may take the file.
#[test]
fn two_standby_copies_cannot_share_an_undo_file() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    ok(t, &["create", "sales", "--recovery", "full"]);
    let mut m = Model::new();
    work(t, "sales", &mut m, "21");
    backup(t, "sales", "full", "full.tap");
    let at_full = m.clone();
    work(t, "sales", &mut m, "22");
    backup(t, "sales", "log", "log1.tap");
    let at_log1 = m.clone();

    ok(
        t,
        &["restore", "a", "--from", "full.tap", "--standby", "x.undo"],
    );
    let undo = std::fs::read(t.join("x.undo")).unwrap();
    let a = std::fs::canonicalize(t.join("a")).unwrap();
    let (c, out, err) = refdb(
        t,
        &["restore", "b", "--from", "full.tap", "--standby", "x.undo"],
    );
    assert_eq!(c, 1, "{out}{err}");
    assert!(
        err.contains(&format!(
            "belongs to the database in standby in {}",
            a.display()
        )),
        "{err}"
    );
    assert!(!t.join("b").exists());
    assert_eq!(std::fs::read(t.join("x.undo")).unwrap(), undo);
    // The same directory naming it again goes on.
    ok(
        t,
        &["restore", "a", "--from", "log1.tap", "--standby", "x.undo"],
    );
    assert_check(t, "a", &at_log1, "a in standby after log1");
    // Started over with REPLACE: the directory is a new one (its inode), at the same path.
    ok(
        t,
        &[
            "restore",
            "a",
            "--from",
            "full.tap",
            "--standby",
            "x.undo",
            "--replace",
        ],
    );
    assert_check(t, "a", &at_full, "a in standby again after the full");
    ok(
        t,
        &["restore", "a", "--from", "log1.tap", "--standby", "x.undo"],
    );
    assert_check(t, "a", &at_log1, "a in standby after log1 again");

    // a gone: b may take the undo file.
    std::fs::remove_dir_all(t.join("a")).unwrap();
    ok(
        t,
        &["restore", "b", "--from", "full.tap", "--standby", "x.undo"],
    );
    assert_check(t, "b", &at_full, "b in standby on the undo file a left");
    ok(t, &["restore", "b", "--from", "log1.tap", "--recovery"]);
    assert_check(t, "b", &at_log1, "b recovered after log1");
}

/// A differential restore killed after its pages are written, and after its log is put in
/// place: the database is neither recovered (`restore --recovery` with no media refuses) nor
/// given a log on top; the same differential run again, plain or with `--restart`, finishes,
/// and the log after it applies. The rows are the model's.
#[test]
fn a_killed_differential_restore_is_refused_until_run_again() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    create_three_files(t);
    let mut m = Model::new();
    work(t, "db", &mut m, "21");
    backup(t, "db", "full", "full.tap");
    work(t, "db", &mut m, "22");
    backup(t, "db", "differential", "diff.tap");
    work(t, "db", &mut m, "23");
    backup(t, "db", "log", "log.tap");
    for (n, crash) in ["restore:1", "restore:2"].iter().enumerate() {
        for restart in [false, true] {
            let dir = format!("r{n}{restart}");
            let d = dir.as_str();
            ok(t, &["restore", d, "--from", "full.tap", "--norecovery"]);
            let diff = ["restore", d, "--from", "diff.tap", "--norecovery"];
            killed(t, &diff, crash);
            refused(t, &["restore", d, "--recovery"], "in progress");
            refused(t, &["restore", d, "--from", "log.tap"], "in progress");
            let mut again = diff.to_vec();
            if restart {
                again.push("--restart");
            }
            ok(t, &again);
            ok(t, &["restore", d, "--from", "log.tap"]);
            assert_check(t, d, &m, &format!("{crash}, restart {restart}"));
        }
    }
}
