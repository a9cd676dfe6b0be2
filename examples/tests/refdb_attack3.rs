//! MOVE, STANDBY undo ownership, file/page restores that keep the log chain and piecemeal
//! restore to a point in time, attacked from outside as an administrator would use them. The
//! rule each asserts: nothing outside the target is written or removed unless it is a file the
//! restore may replace, no hang, exit 0 means the restored database is whole.

use std::fs;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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

/// Runs refdb and gives it `secs` to finish: a hang is a failure, not a stuck test.
fn within(t: &Path, args: &[&str], secs: u64) -> (i32, String) {
    let mut c = Command::new(REFDB)
        .args(args)
        .current_dir(t)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if let Some(st) = c.try_wait().unwrap() {
            let mut err = String::new();
            use std::io::Read;
            c.stderr.take().unwrap().read_to_string(&mut err).unwrap();
            return (st.code().unwrap_or(-1), err);
        }
        if start.elapsed() > Duration::from_secs(secs) {
            c.kill().unwrap();
            c.wait().unwrap();
            panic!("refdb {args:?} hangs");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn mkfifo(p: &Path) {
    let st = Command::new("mkfifo").arg(p).status().unwrap();
    assert!(st.success());
}

/// Database `db` (full recovery) with a few rows and its full backup `full.tap`.
fn full_backup(t: &Path) {
    ok(t, &["create", "db", "--recovery", "full"]);
    for i in 0..5 {
        ok(t, &["put", "db", &format!("k{i}"), &format!("v{i}")]);
    }
    ok(
        t,
        &[
            "backup", "db", "--type", "full", "--to", "full.tap", "--format",
        ],
    );
}

/// REPLACE lets MOVE overwrite a file at the target, never a FIFO, a socket or a device
/// (`--move log=/dev/null --replace` run as root would put the log in place of the device
/// node): refused naming it, promptly (a FIFO is never opened to read a header, which waited
/// for a writer forever), the node left as it was and nothing restored.
#[test]
fn move_replace_never_replaces_a_fifo_socket_or_device() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    full_backup(t);
    mkfifo(&t.join("fifo"));
    let _sock = std::os::unix::net::UnixListener::bind(t.join("sock")).unwrap();
    for (node, logical) in [("fifo", "log"), ("sock", "log"), ("fifo", "primary")] {
        let mv = format!("{logical}=../{node}");
        let (code, err) = within(
            t,
            &[
                "restore",
                "r",
                "--from",
                "full.tap",
                "--move",
                &mv,
                "--replace",
            ],
            20,
        );
        assert_eq!(code, 1, "--move {mv} --replace: {err}");
        assert!(err.contains("not a regular file"), "--move {mv}: {err}");
        let ty = fs::symlink_metadata(t.join(node)).unwrap().file_type();
        assert!(ty.is_fifo() || ty.is_socket(), "{node} was replaced");
        assert!(
            !t.join("r").exists(),
            "--move {mv}: a refused restore made r"
        );
    }
}

/// A link planted at a MOVE target that points at a FIFO: the restore neither hangs opening
/// it nor writes through it (the link itself is what REPLACE may replace).
#[test]
fn move_replace_over_a_link_to_a_fifo_does_not_hang() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    full_backup(t);
    mkfifo(&t.join("fifo"));
    std::os::unix::fs::symlink("fifo", t.join("link")).unwrap();
    let (code, err) = within(
        t,
        &[
            "restore",
            "r",
            "--from",
            "full.tap",
            "--move",
            "log=../link",
            "--replace",
        ],
        20,
    );
    assert!(
        fs::symlink_metadata(t.join("fifo"))
            .unwrap()
            .file_type()
            .is_fifo(),
        "{err}"
    );
    if code == 0 {
        assert!(fs::symlink_metadata(t.join("link")).unwrap().is_file());
        assert!(ok(t, &["get", "r", "k3"]).contains("v3"));
    } else {
        assert_eq!(code, 1, "{err}");
        assert!(fs::symlink_metadata(t.join("link")).unwrap().is_symlink());
    }
}

/// The location file of a moved database names a FIFO as its log (edited, or the log replaced
/// by one): the tail-log backup read from the files (the database does not open) refuses it,
/// naming it, rather than waiting for a writer forever.
#[test]
fn tail_log_backup_of_a_moved_log_that_is_a_fifo_does_not_hang() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    full_backup(t);
    fs::create_dir(t.join("ext")).unwrap();
    ok(
        t,
        &[
            "restore",
            "r",
            "--from",
            "full.tap",
            "--move",
            "primary=../ext/p.mdf",
            "--move",
            "log=../ext/l.ldf",
        ],
    );
    ok(
        t,
        &["backup", "r", "--type", "full", "--to", "r.tap", "--format"],
    );
    fs::remove_file(t.join("ext/l.ldf")).unwrap();
    mkfifo(&t.join("ext/l.ldf"));
    let (code, err) = within(
        t,
        &[
            "backup",
            "r",
            "--type",
            "log",
            "--to",
            "tail.tap",
            "--format",
            "--no-truncate",
            "--norecovery",
        ],
        20,
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not a regular file"), "{err}");
    assert!(fs::symlink_metadata(t.join("ext/l.ldf"))
        .unwrap()
        .file_type()
        .is_fifo());
}

/// A tail-log backup WITH NORECOVERY of a database that turns out not to need a restore, or a
/// sequence whose last log was restored WITH NORECOVERY (or STANDBY): refdb used to tell the
/// user to "restore … the last one with recovery", which is refused as too early (as SQL
/// Server refuses it), and there was no RESTORE … WITH RECOVERY without a set: the only way
/// back online was the whole sequence again. `refdb restore DIR --recovery` alone recovers it
/// where it stands; the rows are the ones written, and a log backup after continues the chain.
#[test]
fn a_database_left_restoring_is_recovered_where_it_stands() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    full_backup(t);
    ok(t, &["put", "db", "tail", "row"]);
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
    let (c, _, err) = refdb_env(t, &["get", "db", "tail"], &[]);
    assert_eq!(c, 1, "{err}");
    assert!(err.contains("refdb restore DIR --recovery"), "{err}");
    // Restoring the tail again is refused (it is the database's own log already).
    let (c, _, err) = refdb_env(t, &["restore", "db", "--from", "tail.tap"], &[]);
    assert_eq!(c, 1, "{err}");
    // No medium and other options: refused, saying what the bare form does.
    for extra in [
        &["--stopat", "2030-01-01T00:00:00"][..],
        &["--replace"],
        &[],
    ] {
        let mut args = vec!["restore", "db"];
        args.extend_from_slice(extra);
        let (c, _, err) = refdb_env(t, &args, &[]);
        assert_eq!(c, 1, "{args:?}: {err}");
        assert!(
            err.contains("--recovery` alone recovers"),
            "{args:?}: {err}"
        );
    }
    let said = ok(t, &["restore", "db", "--recovery"]);
    assert!(said.contains("recovered"), "{said}");
    assert!(!said.contains("new recovery fork"), "{said}");
    assert!(ok(t, &["get", "db", "tail"]).contains("row"));
    for i in 0..5 {
        assert!(ok(t, &["get", "db", &format!("k{i}")]).contains(&format!("v{i}")));
    }
    ok(t, &["check", "db"]);
    // Online now: recovering again is refused, saying why.
    let (c, _, err) = refdb_env(t, &["restore", "db", "--recovery"], &[]);
    assert_eq!(c, 1, "{err}");
    assert!(err.contains("not restoring"), "{err}");
    // The chain goes on: a log backup after, and the whole sequence into another directory.
    ok(t, &["put", "db", "after", "yes"]);
    ok(
        t,
        &[
            "backup", "db", "--type", "log", "--to", "log1.tap", "--format",
        ],
    );
    ok(t, &["restore", "r", "--from", "full.tap", "--norecovery"]);
    ok(t, &["restore", "r", "--from", "log1.tap", "--norecovery"]);
    // A restore sequence left restoring, then in standby: each recovered where it stands.
    let (c, _, err) = refdb_env(t, &["get", "r", "after"], &[]);
    assert_eq!(c, 1, "{err}");
    let said = ok(t, &["restore", "r", "--recovery"]);
    assert!(said.contains("new recovery fork"), "{said}");
    for (k, v) in [("tail", "row"), ("after", "yes"), ("k4", "v4")] {
        assert!(ok(t, &["get", "r", k]).contains(v), "{k}");
    }
    ok(
        t,
        &["restore", "s", "--from", "full.tap", "--standby", "s.undo"],
    );
    ok(
        t,
        &["restore", "s", "--from", "log1.tap", "--standby", "s.undo"],
    );
    assert!(ok(t, &["get", "s", "after"]).contains("yes"));
    ok(t, &["restore", "s", "--recovery"]);
    ok(t, &["put", "s", "writable", "again"]);
    assert!(ok(t, &["get", "s", "tail"]).contains("row"));
    ok(t, &["check", "s"]);
    // Nothing there: refused.
    let (c, _, err) = refdb_env(t, &["restore", "none", "--recovery"], &[]);
    assert_eq!(c, 1, "{err}");
    assert!(err.contains("nothing to recover"), "{err}");
    assert!(!t.join("none").exists());
}

/// MOVE to a name beside the database directory that a restore uses itself (its progress file
/// `.DIR.restore-progress`, removed when the restore ends): the restore said it succeeded and
/// the moved primary file was gone with the progress file. Refused, nothing left behind.
#[test]
fn move_to_the_restores_own_names_beside_the_directory_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    full_backup(t);
    let abs = format!("primary={}/.r.restore-progress", t.display());
    for mv in [
        "primary=../.r.restore-progress",
        "log=../.r.restore-progress",
        "primary=../.r.restore.1.0",
        abs.as_str(),
    ] {
        let (code, out, err) = refdb_env(
            t,
            &["restore", "r", "--from", "full.tap", "--move", mv],
            &[],
        );
        if code == 0 {
            // Whole, or refused: never "restored" with a file missing.
            assert!(
                ok(t, &["get", "r", "k3"]).contains("v3"),
                "--move {mv}: {out}{err}"
            );
            fs::remove_dir_all(t.join("r")).unwrap();
            continue;
        }
        assert_eq!(code, 1, "--move {mv}: {out}{err}");
        assert!(err.contains("refdb's own"), "--move {mv}: {err}");
        assert!(!t.join("r").exists());
        assert!(!t.join(".r.restore-progress").exists());
    }
}

/// A full restore WITH STANDBY naming as its undo file the path the restore puts the log at
/// (moved, or in the directory): the path was free when it started, so it went ahead, put
/// the database in place and failed at its end, leaving a restoring directory (and, moved,
/// its files removed again). Refused before anything is done.
#[test]
fn standby_undo_at_the_restores_own_log_is_refused_before_it_starts() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    full_backup(t);
    fs::create_dir(t.join("ext")).unwrap();
    fs::create_dir(t.join("r")).unwrap();
    for args in [
        vec![
            "--move",
            "primary=../ext/p.mdf",
            "--move",
            "log=../ext/l.ldf",
            "--standby",
            "ext/l.ldf",
        ],
        vec!["--standby", "r/log.ldf"],
        vec!["--standby", "r/primary.mdf"],
    ] {
        let mut a = vec!["restore", "r", "--from", "full.tap"];
        a.extend(&args);
        let (code, out, err) = refdb_env(t, &a, &[]);
        assert_eq!(code, 1, "{args:?}: {out}{err}");
        assert!(err.contains("where the restore puts"), "{args:?}: {err}");
        assert_eq!(fs::read_dir(t.join("r")).unwrap().count(), 0, "{args:?}");
        assert_eq!(fs::read_dir(t.join("ext")).unwrap().count(), 0, "{args:?}");
        assert!(!t.join(".r.restore-progress").exists(), "{args:?}");
    }
}
