//! `refdb backup` to media, `refdb plan --execute` over media the history names, and
//! restores into directories holding other files, attacked from outside as a backup
//! administrator would use them. The rule each asserts: exit 0 means the result is whole and
//! what was asked, a refusal says why (and what would get past it) and changes nothing.

use std::fs;
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

fn refdb(dir: &Path, args: &[&str]) -> (i32, String, String) {
    refdb_env(dir, args, &[])
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let (c, out, err) = refdb(dir, args);
    assert_eq!(c, 0, "refdb {args:?}: {out}{err}");
    out + &err
}

fn scan(dir: &Path, db: &str) -> String {
    let (c, out, err) = refdb(dir, &["scan", db]);
    assert_eq!(c, 0, "scan {db}: {err}");
    out
}

/// A backup whose `--to` is a name refdb keeps for itself in the database's own directory
/// was taken, exit 0, and recorded in the history. At `db/refdb.restoring` (the marker of a
/// database left restoring) the marker it wrote then locked the database out: every command
/// called it "restoring (a restore sequence, or a tail-log backup WITH NORECOVERY, left it
/// so)", which nothing did, and `refdb restore db --recovery` refused it ("not a file refdb
/// wrote"). At `db/refdb.lock` the backup lives in the database's lock file, which the next
/// `refdb restore db --replace` recreates empty: the set the history names is gone. A
/// backup medium inside the database directory at a `refdb.*` name must be refused before
/// anything is written (as `--move` refuses such names), and the database must stay usable.
#[test]
fn a_backup_to_a_name_refdb_keeps_in_the_database_directory_is_refused() {
    let mut taken = Vec::new();
    for name in [
        "refdb.restoring",
        "refdb.lock",
        "refdb.standby",
        "refdb.piecemeal",
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path();
        ok(t, &["create", "db", "--recovery", "full"]);
        ok(t, &["put", "db", "k1", "v1"]);
        let to = format!("db/{name}");
        let (c, _, _) = refdb(
            t,
            &["backup", "db", "--type", "full", "--to", &to, "--format"],
        );
        // The database is as it was: open, writable.
        let (pc, _, perr) = refdb(t, &["put", "db", "k2", "v2"]);
        if c == 0 || pc != 0 {
            taken.push(format!(
                "--to {to}: backup exit {c}; put afterwards: exit {pc} {perr}"
            ));
        }
    }
    assert!(
        taken.is_empty(),
        "backups onto names refdb uses in the database directory were taken:\n{}",
        taken.join("\n")
    );
}

/// The medium the history names for a database's full backup was later reused (`--format`)
/// for another database's full backup, under the same file name: `refdb plan db --execute`
/// restored the other database's set (the history's backup set GUID is not checked against
/// the medium), exit 0, printing "restored Full backup of other": a restore directory
/// holding another database's rows, reported as the plan of `db` carried out. It must
/// refuse: the set on the medium is not the one planned.
#[test]
fn plan_execute_refuses_a_medium_that_now_holds_another_set() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    ok(t, &["create", "db", "--recovery", "full"]);
    ok(t, &["put", "db", "k1", "v1"]);
    ok(
        t,
        &[
            "backup", "db", "--type", "full", "--to", "full.tap", "--format",
        ],
    );
    ok(t, &["create", "other", "--recovery", "full"]);
    ok(t, &["put", "other", "secret", "s"]);
    ok(
        t,
        &[
            "backup", "other", "--type", "full", "--to", "full.tap", "--format",
        ],
    );
    let (c, out, err) = refdb(t, &["plan", "db", "--execute", "r"]);
    if c == 0 {
        panic!(
            "plan db --execute restored from a medium now holding another set, exit 0; r holds:\n{}{out}{err}",
            scan(t, "r")
        );
    }
    assert!(
        err.contains("full.tap"),
        "the refusal does not name the medium: {err}"
    );
}

/// The same with one database: `full.tap` held Monday's full backup, Tuesday's full was
/// written over it with `--format` (the walk-through's own habit). A plan to a point on
/// Monday names Monday's full on `full.tap` and the log after it; what it reads from
/// `full.tap` is Tuesday's. It must be refused naming the medium (the set there is not the
/// planned one), never restored as Monday's.
#[test]
fn plan_execute_to_a_point_refuses_a_full_overwritten_by_a_later_one() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    ok(t, &["create", "db", "--recovery", "full"]);
    ok(t, &["put", "db", "k1", "v1"]);
    ok(
        t,
        &[
            "backup", "db", "--type", "full", "--to", "full.tap", "--format",
        ],
    );
    ok(t, &["put", "db", "k2", "v2"]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let w = ok(t, &["workload", "db", "--ops", "5", "--threads", "1"]);
    // A commit time inside the first log backup.
    let at = w
        .lines()
        .find_map(|l| {
            l.split_whitespace()
                .find(|s| s.len() >= 19 && s.as_bytes()[4] == b'-' && s.contains('T'))
        })
        .expect("a commit time")
        .to_string();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    ok(
        t,
        &[
            "backup", "db", "--type", "log", "--to", "log1.tap", "--format",
        ],
    );
    std::thread::sleep(std::time::Duration::from_millis(1100));
    ok(t, &["put", "db", "k3", "v3"]);
    ok(
        t,
        &[
            "backup", "db", "--type", "full", "--to", "full.tap", "--format",
        ],
    );
    let (c, out, err) = refdb(t, &["plan", "db", "--stopat", &at, "--execute", "r"]);
    if c == 0 {
        let rows = scan(t, "r");
        assert!(
            !rows.contains("k3"),
            "plan --stopat {at} restored a later full (k3 is there), exit 0: {out}{err}\n{rows}"
        );
    } else {
        assert!(
            err.contains("full.tap") && !err.contains("panicked"),
            "{out}{err}"
        );
    }
}

/// A restore into a directory holding a user's file said "holds files that are not a refdb
/// database (notes.txt): use REPLACE to overwrite them"; with `--replace` it refused again:
/// "never deletes other files, even with REPLACE". The first refusal must not send the user
/// to an option that cannot help (or REPLACE must do what it says).
#[test]
fn a_refusal_over_a_users_file_does_not_advise_replace_that_is_refused_too() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    ok(t, &["create", "db", "--recovery", "full"]);
    ok(t, &["put", "db", "k1", "v1"]);
    ok(
        t,
        &[
            "backup", "db", "--type", "full", "--to", "full.tap", "--format",
        ],
    );
    fs::create_dir(t.join("r")).unwrap();
    fs::write(t.join("r/notes.txt"), "mine").unwrap();
    let (c, _, first) = refdb(t, &["restore", "r", "--from", "full.tap"]);
    assert_ne!(c, 0);
    let (c, _, second) = refdb(t, &["restore", "r", "--from", "full.tap", "--replace"]);
    assert_eq!(fs::read_to_string(t.join("r/notes.txt")).unwrap(), "mine");
    if c != 0 {
        assert!(
            !first.contains("use REPLACE"),
            "the refusal advises REPLACE:\n  {first}\nand REPLACE is refused:\n  {second}"
        );
    }
}

/// A differential restore killed half way (`REFDB_CRASH=restore:1`, after its pages): every
/// read command (`scan`, `check`, `info`, `get`) says the database "is restoring (a restore
/// sequence, or a tail-log backup WITH NORECOVERY, left it so): restore its next backup, or
/// recover it where it stands with `refdb restore DIR --recovery`", and both ways out it
/// names are refused ("an interrupted restore of the differential backup … is in progress:
/// run that restore again"). The read commands must say what the restore commands say: the
/// interrupted differential is to be run again.
#[test]
fn a_killed_differential_restore_is_named_by_the_read_commands() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    ok(t, &["create", "db", "--recovery", "full"]);
    ok(t, &["put", "db", "k1", "v1"]);
    ok(
        t,
        &[
            "backup", "db", "--type", "full", "--to", "full.tap", "--format",
        ],
    );
    ok(t, &["put", "db", "k2", "v2"]);
    ok(
        t,
        &[
            "backup",
            "db",
            "--type",
            "differential",
            "--to",
            "d1.tap",
            "--format",
        ],
    );
    ok(t, &["restore", "r", "--from", "full.tap", "--norecovery"]);
    let (c, _, _) = refdb_env(
        t,
        &["restore", "r", "--from", "d1.tap", "--norecovery"],
        &[("REFDB_CRASH", "restore:1")],
    );
    assert_ne!(c, 0, "the differential restore was not killed");
    let (c, _, recovery) = refdb(t, &["restore", "r", "--recovery"]);
    assert_ne!(c, 0, "--recovery recovered a half-restored differential");
    for cmd in [&["scan", "r"][..], &["check", "r"], &["info", "r"]] {
        let (c, _, err) = refdb(t, cmd);
        assert_ne!(c, 0);
        assert!(
            !err.contains("--recovery"),
            "{cmd:?} sends the user to `refdb restore DIR --recovery`:\n  {err}\nwhich refuses:\n  {recovery}"
        );
        assert!(
            err.contains("differential") || err.contains("interrupted"),
            "{cmd:?} does not say a differential restore was interrupted: {err}"
        );
    }
}

/// The offsets in a `.tap` image at which a record (or a filemark) ends: where a writer
/// killed between two writes leaves the image.
fn record_ends(image: &[u8]) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut at = 0;
    while at + 4 <= image.len() {
        let n = u32::from_le_bytes(image[at..at + 4].try_into().unwrap()) as usize;
        let n = n & 0x00FF_FFFF;
        at += if n == 0 { 4 } else { 4 + n + 4 };
        if at > image.len() {
            break;
        }
        ends.push(at);
    }
    ends
}

/// A full backup appended to `f.tap` after an earlier one was killed (`timeout -s KILL`,
/// here: the image cut where a killed writer leaves it, at a record's end inside the second
/// set). The first set is whole and closed, and `mtfdump verify` says so ("1 of 2 sets
/// closed"); yet `refdb restore r --from f.tap --set 1` (and `refdb plan db --execute`, which
/// plans just that set) was refused when the cut fell inside a stream of the second set:
/// "f.tap: damaged: at offset …: truncated stream header/data" — a read past the set asked
/// for. The killed append cost the administrator the backup that was already on the medium.
#[test]
fn a_killed_append_does_not_make_the_earlier_set_unrestorable() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    ok(t, &["create", "db", "--recovery", "full"]);
    ok(t, &["workload", "db", "--ops", "300", "--threads", "1"]);
    ok(
        t,
        &[
            "backup", "db", "--type", "full", "--to", "f.tap", "--format",
        ],
    );
    let first_len = fs::metadata(t.join("f.tap")).unwrap().len() as usize;
    let (c, want, _) = refdb(t, &["scan", "db"]);
    assert_eq!(c, 0);
    ok(
        t,
        &[
            "workload",
            "db",
            "--ops",
            "300",
            "--seed",
            "2",
            "--threads",
            "1",
        ],
    );
    ok(t, &["backup", "db", "--type", "full", "--to", "f.tap"]);
    let whole = fs::read(t.join("f.tap")).unwrap();
    let mut refused = Vec::new();
    for end in record_ends(&whole)
        .into_iter()
        .filter(|&e| e > first_len + 4 && e < whole.len())
    {
        fs::write(t.join("g.tap"), &whole[..end]).unwrap();
        let r = format!("r{end}");
        let (c, _, err) = refdb(t, &["restore", &r, "--from", "g.tap", "--set", "1"]);
        if c != 0 {
            refused.push(format!("cut at {end}: {err}"));
        } else {
            assert_eq!(scan(t, &r), want, "cut at {end}: set 1 restored other rows");
        }
    }
    assert!(
        refused.is_empty(),
        "the whole first set is refused once a later append was cut:\n{}",
        refused.join("")
    );
}

fn changer_backup(t: &Path, capacity: &str) -> (i32, String) {
    let (c, out, err) = refdb(
        t,
        &[
            "backup",
            "db",
            "--type",
            "full",
            "--to",
            "f.tap",
            "--format",
            "--capacity",
            capacity,
            "--changer",
            "lib",
        ],
    );
    (c, out + &err)
}

fn library(t: &Path) -> Vec<String> {
    let mut v: Vec<_> = fs::read_dir(t.join("lib"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// A backup continued through a `--changer` library that fails (`--capacity 200000`:
/// "lib/mtfpack-f1-m2.tap: I/O error: end of medium: nothing was written") removed the
/// `--to` image it created but left the continuation image it created in the library
/// (`mtfpack-f1-m2.tap`), a fragment of a set that does not exist and is in no history. The
/// library never reuses an existing name, so every retry adds more (`mtfpack-f1-m2.2.tap`,
/// …). A failed backup must leave the library as it was.
#[test]
fn a_failed_backup_through_a_changer_leaves_the_library_as_it_was() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    ok(t, &["create", "db", "--recovery", "full"]);
    ok(t, &["workload", "db", "--ops", "2000", "--threads", "1"]);
    fs::create_dir(t.join("lib")).unwrap();
    for _ in 0..2 {
        let (c, said) = changer_backup(t, "200000");
        if c == 0 {
            return; // It fitted: nothing to check.
        }
        assert!(!t.join("f.tap").exists());
        assert!(
            library(t).is_empty(),
            "the failed backup ({said}) left images in the library: {:?}",
            library(t)
        );
    }
}

/// The same database (a 57 KB set) backs up to one image of `--capacity 400000`, and at
/// `--capacity 200000` goes on to a second image from the library; at `--capacity 300000`
/// it fails on the first image, "f.tap: I/O error: end of medium: nothing was
/// written", without asking the library for the next medium it has. A medium that fills
/// is what `--changer` is for: the backup must continue (or at least be refused saying the
/// capacity is too small, not as an I/O error).
#[test]
fn a_backup_that_fills_its_first_medium_continues_on_the_changer() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    ok(t, &["create", "db", "--recovery", "full"]);
    ok(t, &["workload", "db", "--ops", "2000", "--threads", "1"]);
    fs::create_dir(t.join("lib")).unwrap();
    let (c, said) = changer_backup(t, "300000");
    assert!(
        c == 0 || said.contains("capacity"),
        "a full first medium did not continue on the changer: {said} (library: {:?})",
        library(t)
    );
}

/// `refdb backup --to a.tap --mirror m.tap` writes two copies, but the history records only
/// `a.tap` (`refdb history` lists it alone, as does the plan). Once `a.tap` is lost,
/// `refdb plan db --execute r` fails "a.tap: no such medium" while `m.tap`, the mirror taken
/// for exactly this, holds the set (`refdb restore r --from m.tap` restores it). The history
/// must know the mirror, and the plan must read it when the first copy is gone.
#[test]
fn plan_execute_reads_the_mirror_when_the_first_copy_is_lost() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    ok(t, &["create", "db", "--recovery", "full"]);
    ok(t, &["put", "db", "k1", "v1"]);
    ok(
        t,
        &[
            "backup", "db", "--type", "full", "--to", "a.tap", "--mirror", "m.tap", "--format",
        ],
    );
    let want = scan(t, "db");
    fs::remove_file(t.join("a.tap")).unwrap();
    let (c, out, err) = refdb(t, &["plan", "db", "--execute", "r"]);
    assert_eq!(
        c, 0,
        "the mirror m.tap was not used for the lost a.tap: {out}{err}"
    );
    assert_eq!(scan(t, "r"), want);
}

/// `refdb backup --to f.tap` records `f.tap` in the history as given, relative to the
/// working directory of the backup: `refdb plan db --history ../refdb-history.db --execute
/// r` run from another directory reads "f.tap" there ("f.tap: no such medium"), or whatever
/// other `f.tap` lies there. (`mtfdump history import` records absolute paths:
/// `plan_history.rs`.) The history must name the media so that any directory finds them.
#[test]
fn the_history_names_media_so_a_plan_from_another_directory_finds_them() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    ok(t, &["create", "db", "--recovery", "full"]);
    ok(t, &["put", "db", "k1", "v1"]);
    ok(
        t,
        &[
            "backup", "db", "--type", "full", "--to", "f.tap", "--format",
        ],
    );
    let want = scan(t, "db");
    let sub = t.join("elsewhere");
    fs::create_dir(&sub).unwrap();
    let (c, out, err) = refdb(
        &sub,
        &[
            "plan",
            "db",
            "--history",
            "../refdb-history.db",
            "--execute",
            "r",
        ],
    );
    assert_eq!(c, 0, "{out}{err}");
    assert_eq!(scan(&sub, "r"), want);
}

/// A backup appended to an image on a file system that is full (here: the file size limit,
/// EFBIG; on a full tmpfs, ENOSPC, the same) is refused as "f.tap: I/O error: write: EIO: I/O
/// error": the image is put back, but the administrator is told the medium failed, not that
/// the disk is full. The cause must be named.
#[test]
fn a_backup_onto_a_full_disk_says_the_disk_is_full_not_an_io_error() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    ok(t, &["create", "db", "--recovery", "full"]);
    ok(t, &["put", "db", "k1", "v1"]);
    ok(
        t,
        &[
            "backup", "db", "--type", "full", "--to", "f.tap", "--format",
        ],
    );
    let before = fs::read(t.join("f.tap")).unwrap();
    let limit = before.len() / 512 + 100; // 512-byte blocks: room for part of a second set
    let o = Command::new("sh")
        .current_dir(t)
        .args([
            "-c",
            &format!(
                "trap '' XFSZ; ulimit -f {limit}; exec '{REFDB}' backup db --type full --to f.tap"
            ),
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_ne!(o.status.code(), Some(0), "{err}");
    assert_eq!(fs::read(t.join("f.tap")).unwrap(), before);
    assert!(
        !err.contains("EIO") && (err.contains("large") || err.contains("space")),
        "a full disk is reported as a failing medium: {err}"
    );
}

/// A log backup whose set was written but could not be recorded in the history (the disk
/// holding the history full: "h.db: record log set 1 of log1.tap: database or disk is full";
/// here the insert is made to fail by a trigger) exits 1, as failed — yet it truncated the
/// log: the next log backup starts where the "failed" one ended. The administrator does
/// what a failure calls for and runs the same command again (`--to log1.tap --format`),
/// which overwrites the only copy of the log since the full backup: `refdb plan` then finds
/// "LSN gap …: no backup covers it" and no restore plan; every change since the full is
/// lost to the backups. A backup reported as failed must leave the log chain where it was
/// (or, once written, the set must be kept in the history), so that running it again loses
/// nothing.
#[test]
fn a_log_backup_that_could_not_be_recorded_does_not_move_the_log_chain() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    ok(t, &["create", "db", "--recovery", "full"]);
    ok(t, &["workload", "db", "--ops", "100", "--threads", "1"]);
    ok(
        t,
        &[
            "backup", "db", "--type", "full", "--to", "full.tap", "--format",
        ],
    );
    ok(
        t,
        &[
            "workload",
            "db",
            "--ops",
            "100",
            "--seed",
            "2",
            "--threads",
            "1",
        ],
    );
    let h = rusqlite::Connection::open(t.join("refdb-history.db")).unwrap();
    h.execute_batch(
        "CREATE TRIGGER full_disk BEFORE INSERT ON backup_set \
         BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;",
    )
    .unwrap();
    let (c, out, err) = refdb(
        t,
        &[
            "backup", "db", "--type", "log", "--to", "log1.tap", "--format",
        ],
    );
    assert_ne!(c, 0, "the history insert did not fail: {out}{err}");
    h.execute_batch("DROP TRIGGER full_disk;").unwrap();
    drop(h);
    // The disk has room again: the failed backup is run again.
    ok(
        t,
        &[
            "backup", "db", "--type", "log", "--to", "log1.tap", "--format",
        ],
    );
    let want = scan(t, "db");
    let (c, out, err) = refdb(t, &["plan", "db", "--execute", "r"]);
    assert_eq!(
        c, 0,
        "after a log backup that failed and was run again, no restore: {out}{err}"
    );
    assert_eq!(scan(t, "r"), want);
}

/// The same with a tail-log backup WITH NORECOVERY: it could not be recorded (exit 1,
/// "record log set 1 of tail.tap: database or disk is full") but left the database
/// restoring, and a retry is refused ("the database is restoring … no backup of it is
/// taken"). `refdb plan db --execute db` (no `--replace`: the database is restoring, as after
/// any tail-log backup) then restores the full backup alone over it, exit 0: every row since
/// the full is gone from the database, and their only copy is on `tail.tap`, which no plan
/// knows. A tail-log backup reported as failed must leave the database as it was (online).
#[test]
fn a_tail_log_backup_that_could_not_be_recorded_leaves_the_database_online() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    ok(t, &["create", "db", "--recovery", "full"]);
    ok(t, &["workload", "db", "--ops", "100", "--threads", "1"]);
    ok(
        t,
        &[
            "backup", "db", "--type", "full", "--to", "full.tap", "--format",
        ],
    );
    ok(
        t,
        &[
            "workload",
            "db",
            "--ops",
            "100",
            "--seed",
            "2",
            "--threads",
            "1",
        ],
    );
    let want = scan(t, "db");
    let h = rusqlite::Connection::open(t.join("refdb-history.db")).unwrap();
    h.execute_batch(
        "CREATE TRIGGER full_disk BEFORE INSERT ON backup_set \
         BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;",
    )
    .unwrap();
    let (c, out, err) = refdb(
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
    assert_ne!(c, 0, "the history insert did not fail: {out}{err}");
    h.execute_batch("DROP TRIGGER full_disk;").unwrap();
    drop(h);
    let (c, _, err) = refdb(t, &["scan", "db"]);
    let (pc, pout, perr) = refdb(t, &["plan", "db", "--execute", "db"]);
    let now = refdb(t, &["scan", "db"]).1;
    assert!(
        pc != 0 || now == want,
        "a plan over the database a failed tail-log backup left restoring, exit 0, lost rows ({} of {}): {pout}{perr}",
        now.lines().count(),
        want.lines().count()
    );
    assert_eq!(
        c, 0,
        "a tail-log backup reported as failed left the database offline: {err}"
    );
}

/// Two directories whose `refdb.location` files name the same moved files (A restored with
/// `--move primary=/abs --move log=/abs`, its location file copied into B). While a process
/// has A open (a workload committing), `refdb restore B --from full.tap --replace --move
/// primary=<same> --move log=<same>` exits 0 and replaces the files under it: A's row written
/// before the workload and every commit the workload acknowledged are gone (A holds the
/// backup's one row), and the workload goes on writing into files that no longer have a
/// name. (A plain `--replace` of B, or a second open through B, is refused or stays in B.) A
/// database open in another process must never be replaced, through whichever directory.
#[test]
fn a_replace_through_a_second_location_file_never_replaces_an_open_database() {
    use std::io::BufRead;
    use std::process::Stdio;
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let moved = t.join("moved");
    fs::create_dir(&moved).unwrap();
    let p = format!("primary={}", moved.join("p.mdf").display());
    let l = format!("log={}", moved.join("l.ldf").display());
    ok(t, &["create", "src", "--recovery", "full"]);
    ok(t, &["put", "src", "k1", "v1"]);
    ok(
        t,
        &[
            "backup", "src", "--type", "full", "--to", "full.tap", "--format",
        ],
    );
    ok(
        t,
        &[
            "restore", "A", "--from", "full.tap", "--move", &p, "--move", &l,
        ],
    );
    ok(t, &["put", "A", "mine", "precious"]);
    fs::create_dir(t.join("B")).unwrap();
    fs::copy(t.join("A/refdb.location"), t.join("B/refdb.location")).unwrap();
    let mut w = Command::new(REFDB)
        .current_dir(t)
        .args(["workload", "A", "--ops", "1000000", "--threads", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(w.stdout.take().unwrap());
    let mut line = String::new();
    while !line.starts_with("commit ") {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "the workload ended");
    }
    let (c, rout, rerr) = refdb(
        t,
        &[
            "restore",
            "B",
            "--from",
            "full.tap",
            "--replace",
            "--move",
            &p,
            "--move",
            &l,
        ],
    );
    let _ = w.kill();
    let _ = w.wait();
    let (gc, got, _) = refdb(t, &["get", "A", "mine"]);
    assert_ne!(
        c, 0,
        "the files of A, open in a workload, were replaced through B: {rout}{rerr}"
    );
    assert!(gc == 0 && got.contains("precious"), "A lost its rows");
}

/// The same through `--history`: `refdb backup db … --history db/refdb.restoring` creates
/// the history (an SQLite file) at the database's restoring marker, exit 0, and the
/// database is then refused by every command as "restoring". A history inside the
/// database's directory at a name refdb keeps must be refused before anything is written.
#[test]
fn a_history_at_a_name_refdb_keeps_in_the_database_directory_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    ok(t, &["create", "db", "--recovery", "full"]);
    ok(t, &["put", "db", "k1", "v1"]);
    let (c, out, err) = refdb(
        t,
        &[
            "backup",
            "db",
            "--type",
            "full",
            "--to",
            "x.tap",
            "--format",
            "--history",
            "db/refdb.restoring",
        ],
    );
    let (pc, _, perr) = refdb(t, &["put", "db", "k2", "v2"]);
    assert_eq!(
        pc, 0,
        "after a backup with --history db/refdb.restoring ({c}: {out}{err}), the database is unusable: {perr}"
    );
}

/// A `--changer` library (a directory of images, as a tape library holds many tapes) with
/// the media of two backups: Monday's (`a.tap`) and Tuesday's (`b.tap`), each its own media
/// set with a set 1. `refdb restore r --changer lib` restores whichever image sorts first
/// (Monday's), exit 0, without a word that another media set was there; with Monday's
/// continuation medium missing it fails instead of taking Tuesday's whole set. Which backup
/// is restored must not depend on file names: the restore must refuse, naming the media sets
/// it found (or say which it took).
#[test]
fn a_changer_restore_with_two_media_sets_does_not_pick_one_silently() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    ok(t, &["create", "db", "--recovery", "full"]);
    ok(t, &["put", "db", "k1", "monday"]);
    fs::create_dir(t.join("lib")).unwrap();
    ok(
        t,
        &[
            "backup",
            "db",
            "--type",
            "full",
            "--to",
            "lib/a.tap",
            "--format",
        ],
    );
    ok(t, &["put", "db", "k1", "tuesday"]);
    ok(
        t,
        &[
            "backup",
            "db",
            "--type",
            "full",
            "--to",
            "lib/b.tap",
            "--format",
        ],
    );
    let (c, out, err) = refdb(t, &["restore", "r", "--changer", "lib"]);
    if c == 0 {
        let said = out + &err;
        assert!(
            said.contains("a.tap") && said.contains("b.tap"),
            "restored {} from a library holding two media sets without saying which: {said}",
            refdb(t, &["get", "r", "k1"]).1.trim()
        );
    }
}

/// Full, differential, then a log backup that covers everything since the full. The
/// differential's medium is lost: `refdb plan db --execute r` plans full + differential +
/// log, fails at the differential ("d.tap: no such medium") and leaves `r` restoring, though
/// the full and the log restore the database whole (`refdb restore r --from l.tap` after
/// the full does it). The plan must not depend on a medium it can do without: run, it
/// leaves out the set whose medium is lost, saying so, and the logs carry it.
#[test]
fn plan_execute_does_without_a_lost_differential_that_the_logs_cover() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    ok(t, &["create", "db", "--recovery", "full"]);
    ok(t, &["put", "db", "k1", "v1"]);
    ok(
        t,
        &[
            "backup", "db", "--type", "full", "--to", "f.tap", "--format",
        ],
    );
    ok(t, &["put", "db", "k2", "v2"]);
    ok(
        t,
        &[
            "backup",
            "db",
            "--type",
            "differential",
            "--to",
            "d.tap",
            "--format",
        ],
    );
    ok(t, &["put", "db", "k3", "v3"]);
    ok(
        t,
        &["backup", "db", "--type", "log", "--to", "l.tap", "--format"],
    );
    let want = scan(t, "db");
    fs::remove_file(t.join("d.tap")).unwrap();
    let (c, out, err) = refdb(t, &["plan", "db", "--execute", "r"]);
    assert_eq!(
        c, 0,
        "the plan needs the lost differential though the log covers it: {out}{err}"
    );
    assert_eq!(scan(t, "r"), want);
    assert!(
        out.contains("differential backup set 1 of db left out")
            && out.contains("d.tap: no such medium"),
        "the plan says what it does without: {out}"
    );
    // Shown only, the plan keeps every recorded set: nothing is left out before it is run.
    let (c, out, err) = refdb(t, &["plan", "db"]);
    assert_eq!(c, 0, "{err}");
    assert!(
        out.contains("Differential") && !out.contains("left out"),
        "{out}"
    );
}

/// The other side of doing without a lost set: a lost *last* log cannot be done without. The
/// plan that is run must not restore to an earlier point and exit 0 as if it were the latest.
#[test]
fn plan_execute_refuses_to_do_without_the_last_log() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    ok(t, &["create", "db", "--recovery", "full"]);
    ok(t, &["put", "db", "k1", "v1"]);
    ok(
        t,
        &[
            "backup", "db", "--type", "full", "--to", "f.tap", "--format",
        ],
    );
    ok(t, &["put", "db", "k2", "v2"]);
    ok(
        t,
        &[
            "backup", "db", "--type", "log", "--to", "l1.tap", "--format",
        ],
    );
    ok(t, &["put", "db", "k3", "v3"]);
    ok(
        t,
        &[
            "backup", "db", "--type", "log", "--to", "l2.tap", "--format",
        ],
    );
    fs::remove_file(t.join("l2.tap")).unwrap();
    let (c, out, err) = refdb(t, &["plan", "db", "--execute", "r"]);
    assert_eq!(
        c, 1,
        "restored less than the latest point and said nothing: {out}{err}"
    );
    assert!(
        out.contains("log backup set 1 of db left out") && err.contains("nothing is restored"),
        "{out}{err}"
    );
    assert!(
        !t.join("r").exists(),
        "a refused plan left a directory behind"
    );
}

/// `refdb plan db --execute r` killed while it restores the plan's differential
/// (`REFDB_CRASH=restore:4`, `restore:5`), then run again, as the README says of any killed
/// restore: it starts the plan again at the full backup, which is refused ("an interrupted
/// restore of the differential backup … is in progress: run that restore again …"), exit 1,
/// for ever: the plan cannot finish its own interrupted run; the administrator must work out
/// the plan's remaining steps and run them by hand. Running the plan again must finish it.
#[test]
fn a_killed_plan_execute_is_finished_by_running_it_again() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    ok(t, &["create", "db", "--recovery", "full"]);
    ok(t, &["workload", "db", "--ops", "300", "--threads", "1"]);
    ok(
        t,
        &[
            "backup", "db", "--type", "full", "--to", "f.tap", "--format",
        ],
    );
    ok(
        t,
        &[
            "workload",
            "db",
            "--ops",
            "300",
            "--seed",
            "2",
            "--threads",
            "1",
        ],
    );
    ok(
        t,
        &[
            "backup",
            "db",
            "--type",
            "differential",
            "--to",
            "d.tap",
            "--format",
        ],
    );
    ok(
        t,
        &[
            "workload",
            "db",
            "--ops",
            "300",
            "--seed",
            "3",
            "--threads",
            "1",
        ],
    );
    ok(
        t,
        &["backup", "db", "--type", "log", "--to", "l.tap", "--format"],
    );
    let want = scan(t, "db");
    let mut stuck = Vec::new();
    for n in 1..=8 {
        let r = format!("r{n}");
        let (c, _, _) = refdb_env(
            t,
            &["plan", "db", "--execute", &r],
            &[("REFDB_CRASH", &format!("restore:{n}"))],
        );
        if c == 0 {
            continue; // finished before the crash point
        }
        let (c, out, err) = refdb(t, &["plan", "db", "--execute", &r]);
        if c != 0 {
            stuck.push(format!("restore:{n}: {out}{err}"));
        } else {
            assert_eq!(scan(t, &r), want, "restore:{n}");
        }
    }
    assert!(
        stuck.is_empty(),
        "plan --execute killed, run again, refused:\n{}",
        stuck.join("\n")
    );
}

/// `refdb plan` (and `refdb history`) print a set's LSNs in the history's form, `refdb
/// restore` and `refdb backup` in the engine's: the same log backup is "Log set 1 LSN
/// 39479..129608" in the plan and "restored Log backup of db (LSN 39479..95144)" two lines
/// later (they agree only below 65536). An administrator matching a refusal ("the log backup
/// LSN … is too early", "an interrupted restore of the differential backup (LSN …)") to the
/// plan's steps finds no such set. One set must have one LSN range in every message.
#[test]
fn the_plan_and_the_restore_name_a_set_by_the_same_lsns() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    ok(t, &["create", "db", "--recovery", "full"]);
    ok(t, &["workload", "db", "--ops", "300", "--threads", "1"]);
    ok(
        t,
        &[
            "backup", "db", "--type", "full", "--to", "f.tap", "--format",
        ],
    );
    ok(
        t,
        &[
            "workload",
            "db",
            "--ops",
            "300",
            "--seed",
            "2",
            "--threads",
            "1",
        ],
    );
    ok(
        t,
        &["backup", "db", "--type", "log", "--to", "l.tap", "--format"],
    );
    let said = ok(t, &["plan", "db", "--execute", "r"]);
    let lsns = |line: &str| -> String {
        let at = line.find("LSN ").unwrap() + 4;
        line[at..]
            .split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .next()
            .unwrap()
            .to_string()
    };
    let planned = lsns(said.lines().find(|l| l.starts_with("2. Log")).unwrap());
    let restored = lsns(
        said.lines()
            .find(|l| l.contains("restored Log backup"))
            .unwrap(),
    );
    assert_eq!(planned, restored, "{said}");
}

/// `refdb restore X --from full.tap --replace --move primary=/abs/full.tap` (a slip of the
/// path) exits 0 having written the restored primary data file over `full.tap`, the very
/// medium it read: the full backup the history names is gone (`refdb restore Y --from
/// full.tap` then fails: "unsupported marker"). REPLACE overwrites what is at the target;
/// a MOVE target that is a medium of the restore (or any backup medium) must be refused,
/// as the same device twice is refused by a backup.
#[test]
fn move_over_the_medium_being_restored_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    ok(t, &["create", "db", "--recovery", "full"]);
    ok(t, &["put", "db", "k1", "v1"]);
    ok(
        t,
        &[
            "backup", "db", "--type", "full", "--to", "full.tap", "--format",
        ],
    );
    let before = fs::read(t.join("full.tap")).unwrap();
    let mv = format!("primary={}", t.join("full.tap").display());
    let (c, out, err) = refdb(
        t,
        &[
            "restore",
            "X",
            "--from",
            "full.tap",
            "--norecovery",
            "--replace",
            "--move",
            &mv,
        ],
    );
    assert_eq!(
        fs::read(t.join("full.tap")).unwrap(),
        before,
        "the restore (exit {c}: {out}{err}) overwrote the medium it read"
    );
    assert_ne!(c, 0);
}

/// The same slip onto the backup history: `refdb restore Z --from full.tap --norecovery
/// --replace --move log=/abs/refdb-history.db` exits 0 with the restoring log written over
/// the history; `refdb history` then fails "not an SQLite database": every recorded backup
/// (and every plan) is gone. A MOVE target that is not a database file must be refused.
#[test]
fn move_over_the_backup_history_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    ok(t, &["create", "db", "--recovery", "full"]);
    ok(t, &["put", "db", "k1", "v1"]);
    ok(
        t,
        &[
            "backup", "db", "--type", "full", "--to", "full.tap", "--format",
        ],
    );
    let mv = format!("log={}", t.join("refdb-history.db").display());
    let (c, out, err) = refdb(
        t,
        &[
            "restore",
            "Z",
            "--from",
            "full.tap",
            "--norecovery",
            "--replace",
            "--move",
            &mv,
        ],
    );
    let (hc, _, herr) = refdb(t, &["history"]);
    assert_eq!(
        hc, 0,
        "the restore (exit {c}: {out}{err}) wrote over the history: {herr}"
    );
}

/// A restored WITH NORECOVERY with its files moved (`--move primary=/abs --move log=/abs`),
/// its `refdb.location` copied into B. The files are restoring, but the restoring state is
/// kept only in A's directory: `refdb scan B` opens them (crash recovery: the half-restored
/// database recovered), `refdb put B` writes into them, and A's restore sequence is broken:
/// `refdb restore A --from log.tap` fails "the restoring log no longer ends at LSN … (the
/// database was opened since): restore the sequence again from its full backup". Files that
/// are restoring must be refused as restoring through any directory that names them.
#[test]
#[ignore = "not fixed: the restoring state is kept only in the directory that restored the files; a second directory's copied location file opens them (needs a restoring mark the files themselves carry)"]
fn restoring_files_named_by_a_second_location_file_are_not_opened() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let moved = t.join("moved");
    fs::create_dir(&moved).unwrap();
    let p = format!("primary={}", moved.join("p.mdf").display());
    let l = format!("log={}", moved.join("l.ldf").display());
    ok(t, &["create", "db", "--recovery", "full"]);
    ok(t, &["put", "db", "k1", "v1"]);
    ok(
        t,
        &[
            "backup", "db", "--type", "full", "--to", "full.tap", "--format",
        ],
    );
    ok(t, &["put", "db", "k2", "v2"]);
    ok(
        t,
        &[
            "backup", "db", "--type", "log", "--to", "log.tap", "--format",
        ],
    );
    let want = scan(t, "db");
    ok(
        t,
        &[
            "restore",
            "A",
            "--from",
            "full.tap",
            "--norecovery",
            "--move",
            &p,
            "--move",
            &l,
        ],
    );
    fs::create_dir(t.join("B")).unwrap();
    fs::copy(t.join("A/refdb.location"), t.join("B/refdb.location")).unwrap();
    let (sc, sout, _) = refdb(t, &["scan", "B"]);
    let (pc, _, _) = refdb(t, &["put", "B", "x", "y"]);
    let (c, out, err) = refdb(t, &["restore", "A", "--from", "log.tap"]);
    assert!(
        sc != 0 && pc != 0,
        "restoring files were opened through B (scan exit {sc}: {sout}; put exit {pc})"
    );
    assert_eq!(
        c, 0,
        "A's restore sequence was broken through B: {out}{err}"
    );
    assert_eq!(scan(t, "A"), want);
}

/// `refdb backup --to a.tap --mirror m.tap`; `a.tap` is later cut short (a copy that did not
/// finish). `refdb restore r --from a.tap --from m.tap` fails "a.tap: tape image: truncated
/// image …", though the intact mirror is given and a copy damaged in its middle is read on
/// from the mirror (exit 0). A cut copy must not hide an intact mirror.
#[test]
fn a_cut_first_copy_does_not_hide_the_intact_mirror() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    ok(t, &["create", "db", "--recovery", "full"]);
    ok(t, &["put", "db", "k1", "v1"]);
    ok(
        t,
        &[
            "backup", "db", "--type", "full", "--to", "a.tap", "--mirror", "m.tap", "--format",
        ],
    );
    let want = scan(t, "db");
    let a = fs::read(t.join("a.tap")).unwrap();
    fs::write(t.join("a.tap"), &a[..a.len() * 2 / 3]).unwrap();
    let (c, out, err) = refdb(t, &["restore", "r", "--from", "a.tap", "--from", "m.tap"]);
    assert_eq!(c, 0, "the mirror was not read: {out}{err}");
    assert_eq!(scan(t, "r"), want);
}

/// Two backups appended to one medium at once (two jobs scheduled onto the same image; the
/// second started while the first is writing). The second finds the first's unfinished set,
/// is refused, and "puts the medium back as it was" — cutting it to the length it had when
/// it looked, under the first, which goes on writing past a hole. The first exits 0 and is
/// recorded as set 2; `mtfdump verify` fails, and neither set 2 nor the earlier, whole set 1
/// restores ("damaged: … invalid block type: zero block type"). A backup must not write (or
/// cut) a medium another backup is writing: the second must be refused without touching it.
#[test]
fn two_backups_appending_to_one_medium_do_not_destroy_it() {
    use std::process::Stdio;
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    ok(t, &["create", "small", "--recovery", "full"]);
    ok(t, &["put", "small", "k1", "v1"]);
    ok(
        t,
        &[
            "backup", "small", "--type", "full", "--to", "s.tap", "--format",
        ],
    );
    let small = scan(t, "small");
    ok(
        t,
        &[
            "create",
            "big",
            "--recovery",
            "bulk-logged",
            "--filegroup",
            "g1",
            "--filegroup",
            "g2",
        ],
    );
    ok(
        t,
        &[
            "bulk-load",
            "big",
            "--filegroup",
            "g1",
            "--rows",
            "20000",
            "--value-bytes",
            "2000",
        ],
    );
    ok(
        t,
        &[
            "bulk-load",
            "big",
            "--filegroup",
            "g2",
            "--rows",
            "20000",
            "--value-bytes",
            "2000",
        ],
    );
    ok(t, &["set", "big", "--recovery", "full"]);
    let start = fs::metadata(t.join("s.tap")).unwrap().len();
    let first = Command::new(REFDB)
        .current_dir(t)
        .args(["backup", "big", "--type", "full", "--to", "s.tap"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once the first is writing, the second starts.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while fs::metadata(t.join("s.tap")).unwrap().len() < start + 4 * 1024 * 1024 {
        assert!(
            std::time::Instant::now() < deadline,
            "the first never wrote"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let (c2, _, err2) = refdb(t, &["backup", "small", "--type", "full", "--to", "s.tap"]);
    let o = first.wait_with_output().unwrap();
    let c1 = o.status.code().unwrap_or(-1);
    let err1 = String::from_utf8_lossy(&o.stderr).into_owned();
    // Set 1 (small's, whole before either started) must still restore.
    let (c, out, err) = refdb(t, &["restore", "r1", "--from", "s.tap", "--set", "1"]);
    assert_eq!(
        c, 0,
        "set 1 no longer restores after two appends at once (first exit {c1}: {err1}; second exit {c2}: {err2}): {out}{err}"
    );
    assert_eq!(scan(t, "r1"), small);
    if c1 == 0 {
        let (c, out, err) = refdb(t, &["restore", "r2", "--from", "s.tap", "--set", "2"]);
        assert_eq!(
            c, 0,
            "the first backup said it was whole (exit 0) but its set does not restore: {out}{err}"
        );
    }
}

/// Two restores into one directory at once (the second with `--replace`, started while the
/// first runs). One of them fails with "create ./.r.restore.PID.0/log.ldf: No such file or
/// directory": the other removed its work directory under it. Whichever loses must be
/// refused saying another restore into the directory is running, and the directory must
/// hold one whole database.
#[test]
fn two_restores_into_one_directory_at_once_refuse_by_name() {
    use std::process::Stdio;
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    ok(
        t,
        &[
            "create",
            "big",
            "--recovery",
            "bulk-logged",
            "--filegroup",
            "g1",
        ],
    );
    ok(
        t,
        &[
            "bulk-load",
            "big",
            "--filegroup",
            "g1",
            "--rows",
            "20000",
            "--value-bytes",
            "2000",
        ],
    );
    ok(t, &["set", "big", "--recovery", "full"]);
    ok(
        t,
        &[
            "backup", "big", "--type", "full", "--to", "x.tap", "--format",
        ],
    );
    let want = refdb(t, &["check", "big"]).1;
    let mut lost = Vec::new();
    for delay in [20u64, 100, 300] {
        let r = format!("r{delay}");
        let first = Command::new(REFDB)
            .current_dir(t)
            .args(["restore", &r, "--from", "x.tap"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay));
        let (c2, _, err2) = refdb(t, &["restore", &r, "--from", "x.tap", "--replace"]);
        let o = first.wait_with_output().unwrap();
        let err1 = String::from_utf8_lossy(&o.stderr).into_owned();
        for (c, err) in [(o.status.code().unwrap_or(-1), &err1), (c2, &err2)] {
            if c != 0 && err.contains("No such file or directory") {
                lost.push(format!("{delay} ms: {err}"));
            }
        }
        assert_eq!(refdb(t, &["check", &r]).1, want, "{delay} ms");
    }
    assert!(
        lost.is_empty(),
        "a concurrent restore removed the other's work directory:\n{}",
        lost.join("")
    );
}
