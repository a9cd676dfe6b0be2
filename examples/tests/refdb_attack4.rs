//! File restore of the primary filegroup, log backups between piecemeal stages and
//! `refdb restore DIR --recovery` with no backup, attacked from outside as an administrator
//! would use them. The rule each asserts: exit 0 means the database is whole, a refusal says
//! why and changes nothing.

use std::path::Path;
use std::process::Command;

const REFDB: &str = env!("CARGO_BIN_EXE_refdb");

fn refdb_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut c = Command::new(REFDB);
    c.current_dir(dir).args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let (c, out, err) = refdb_env(dir, args, &[]);
    assert_eq!(c, 0, "refdb {args:?}: {out}{err}");
    out + &err
}

fn scan(dir: &Path, db: &str) -> String {
    let (c, out, err) = refdb_env(dir, &["scan", db], &[]);
    assert_eq!(c, 0, "scan {db}: {err}");
    out
}

/// Database `db` (full recovery, filegroups PRIMARY and b) with rows in both, its full
/// backup `full.tap`, a log backup `log1.tap`, more rows, and the tail-log backup `tail.tap`
/// (NO_TRUNCATE, NORECOVERY) that leaves it restoring. Returns the rows before the tail.
fn tail_logged(t: &Path) -> String {
    ok(
        t,
        &["create", "db", "--recovery", "full", "--filegroup", "b"],
    );
    let put = |i: u32| {
        ok(t, &["put", "db", &format!("k{i}"), &format!("v{i}")]);
        ok(
            t,
            &[
                "put",
                "db",
                &format!("b{i}"),
                &format!("bv{i}"),
                "--filegroup",
                "b",
            ],
        );
    };
    (1..4).for_each(put);
    ok(
        t,
        &[
            "backup", "db", "--type", "full", "--to", "full.tap", "--format",
        ],
    );
    (4..6).for_each(put);
    ok(
        t,
        &[
            "backup", "db", "--type", "log", "--to", "log1.tap", "--format",
        ],
    );
    (6..8).for_each(put);
    let rows = scan(t, "db");
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
            "--no-truncate",
            "--norecovery",
        ],
    );
    rows
}

/// A file restore killed after it put the filegroup's file back from the full backup, but
/// before it wrote its restoring state (which still says "left restoring by the tail-log
/// backup"): `refdb restore db --recovery` took that for a tail-log backup WITH NORECOVERY
/// and opened the files "where they stand", exit 0, with the old copy of the file from the
/// full backup and the database's own log: the rows written since the full silently gone,
/// and `check` clean. It must be refused (the file restore is to be run again), and running
/// it again must finish it.
#[test]
fn recovery_refuses_a_killed_file_restore() {
    for fg in ["PRIMARY", "b"] {
        for n in ["1", "2"] {
            let tmp = tempfile::tempdir().unwrap();
            let t = tmp.path();
            let rows = tail_logged(t);
            let (c, _, err) = refdb_env(
                t,
                &[
                    "restore",
                    "db",
                    "--from",
                    "full.tap",
                    "--filegroup",
                    fg,
                    "--norecovery",
                ],
                &[("REFDB_CRASH", &format!("restore:{n}"))],
            );
            assert_ne!(c, 0, "--filegroup {fg} restore:{n} was not killed: {err}");
            let (c, _, err) = refdb_env(t, &["restore", "db", "--recovery"], &[]);
            if c == 0 {
                let now = scan(t, "db");
                assert_eq!(
                    now, rows,
                    "--filegroup {fg} killed at restore:{n}, then --recovery exit 0: rows lost"
                );
                continue;
            }
            assert!(
                err.contains("did not finish") || err.contains("interrupted"),
                "--filegroup {fg} restore:{n}: the refusal should say why: {err}"
            );
            ok(
                t,
                &[
                    "restore",
                    "db",
                    "--from",
                    "full.tap",
                    "--filegroup",
                    fg,
                    "--norecovery",
                ],
            );
            ok(t, &["restore", "db", "--from", "log1.tap", "--norecovery"]);
            ok(t, &["restore", "db", "--from", "tail.tap"]);
            assert_eq!(scan(t, "db"), rows, "--filegroup {fg} restore:{n}");
            ok(t, &["check", "db"]);
        }
    }
}

/// A later piecemeal stage whose log restore (into the work database `refdb.piecemeal`) was
/// killed half way: running that restore again was refused, saying the work database "was
/// opened since" (it was not) and `--restart` that there was nothing to restart, while every
/// other log restore killed half way goes on when run again. It must go on and bring the
/// filegroup online whole.
#[test]
fn a_killed_log_restore_of_a_later_piecemeal_stage_goes_on_when_run_again() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    ok(
        t,
        &[
            "create",
            "sales",
            "--recovery",
            "full",
            "--filegroup",
            "a",
            "--filegroup",
            "b",
        ],
    );
    let put = |i: u32| {
        for fg in ["PRIMARY", "a", "b"] {
            ok(
                t,
                &[
                    "put",
                    "sales",
                    &format!("{fg}{i}"),
                    &format!("v{i}"),
                    "--filegroup",
                    fg,
                ],
            );
        }
    };
    (1..4).for_each(put);
    ok(
        t,
        &[
            "backup", "sales", "--type", "full", "--to", "full.tap", "--format",
        ],
    );
    (4..6).for_each(put);
    let rows = scan(t, "sales");
    ok(
        t,
        &[
            "backup", "sales", "--type", "log", "--to", "log1.tap", "--format",
        ],
    );
    ok(
        t,
        &[
            "restore",
            "s",
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
    ok(t, &["restore", "s", "--from", "log1.tap"]);
    ok(
        t,
        &["restore", "s", "--from", "full.tap", "--filegroup", "b"],
    );
    let (c, _, err) = refdb_env(
        t,
        &["restore", "s", "--from", "log1.tap"],
        &[("REFDB_CRASH", "restore:20")],
    );
    assert_ne!(c, 0, "not killed: {err}");
    ok(t, &["restore", "s", "--from", "log1.tap"]);
    assert_eq!(scan(t, "s"), rows);
    ok(t, &["check", "s"]);
}

/// MOVE of a data file whose filegroup a partial restore leaves out is refused as that, not
/// as a file the backup lacks (it has it), and nothing is made.
#[test]
fn partial_restore_with_a_left_out_file_moved_says_it_is_left_out() {
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
            "b",
            "--file",
            "b:b2",
        ],
    );
    ok(t, &["put", "db", "k", "v"]);
    ok(
        t,
        &[
            "backup", "db", "--type", "full", "--to", "f.tap", "--format",
        ],
    );
    let moved = t.join("b2x.ndf");
    let mv = format!("b2={}", moved.display());
    let (c, out, err) = refdb_env(
        t,
        &[
            "restore",
            "r",
            "--from",
            "f.tap",
            "--partial",
            "--filegroup",
            "PRIMARY",
            "--move",
            &mv,
        ],
        &[],
    );
    assert_eq!(c, 1, "{out}{err}");
    assert!(
        err.contains("\"b2\" is in filegroup b, which this partial restore leaves out"),
        "{err}"
    );
    assert!(
        !t.join("r").exists() && !moved.exists(),
        "a refused restore made files"
    );
    // The file moved with its filegroup in the first stage: restored there.
    ok(
        t,
        &[
            "restore",
            "r",
            "--from",
            "f.tap",
            "--partial",
            "--filegroup",
            "b",
            "--move",
            &mv,
        ],
    );
    assert!(moved.is_file(), "b2 was not moved");
    assert!(scan(t, "r").contains('k'));
}
