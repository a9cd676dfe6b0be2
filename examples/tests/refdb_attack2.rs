//! The restore features STANDBY, `--restart` (re-running a failed restore) and piecemeal
//! restore attacked from outside: links, FIFOs and hostile contents planted at the progress
//! file, the work directory it names, the undo file; processes killed (`REFDB_CRASH`) and the
//! user doing the wrong thing next. The rule each asserts: nothing a user has is lost or
//! written through a link, a refusal names what it refused, no hang, exit 0 means the restored
//! database is whole.

use std::fs;
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

/// Runs a command that must fail with exit 1; its stderr.
fn fails(dir: &Path, args: &[&str]) -> String {
    let (c, out, err) = refdb_env(dir, args, &[]);
    assert_eq!(c, 1, "refdb {args:?} should fail: {out}{err}");
    err
}

/// Killed by an injected crash (abort), not a clean failure.
fn killed(dir: &Path, args: &[&str], crash: &str) {
    let (c, out, err) = refdb_env(dir, args, &[("REFDB_CRASH", crash)]);
    assert_ne!(c, 0, "refdb {args:?} with {crash}: {out}{err}");
    assert!(err.contains("injected crash"), "refdb {args:?}: {err}");
}

/// Runs refdb and gives it `secs` to finish (and 1 GiB of address space): a hang or a runaway
/// allocation is a failure, not a stuck test.
fn within(t: &Path, args: &[&str], secs: u64) -> (i32, String) {
    let mut cmd = vec![
        format!("ulimit -v 1048576; exec \"$0\" \"$@\""),
        REFDB.into(),
    ];
    cmd.extend(args.iter().map(|s| s.to_string()));
    let mut c = Command::new("bash")
        .arg("-c")
        .args(&cmd)
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

/// `refdb check`'s rows and digest lines.
fn digest(dir: &Path, db: &str) -> String {
    let out = ok(dir, &["check", db]);
    out.lines()
        .filter(|l| l.starts_with("rows:") || l.starts_with("digest:"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Database `db` (full recovery, filegroup `b`): `full.tap`, `log1.tap`, `log2.tap`; the
/// digests when each was taken.
struct Seq {
    full: String,
    log1: String,
    log2: String,
}

fn sequence(t: &Path) -> Seq {
    ok(
        t,
        &["create", "db", "--recovery", "full", "--filegroup", "b"],
    );
    for i in 0..10 {
        ok(t, &["put", "db", &format!("k{i}"), &format!("v{i}")]);
    }
    ok(t, &["put", "db", "kb", "vb", "--filegroup", "b"]);
    ok(
        t,
        &[
            "backup", "db", "--type", "full", "--to", "full.tap", "--format",
        ],
    );
    let full = digest(t, "db");
    ok(t, &["put", "db", "l1", "after the full"]);
    ok(
        t,
        &[
            "backup", "db", "--type", "log", "--to", "log1.tap", "--format",
        ],
    );
    let log1 = digest(t, "db");
    ok(t, &["put", "db", "l2", "after log 1"]);
    ok(t, &["put", "db", "kb", "vb2", "--filegroup", "b"]);
    ok(
        t,
        &[
            "backup", "db", "--type", "log", "--to", "log2.tap", "--format",
        ],
    );
    let log2 = digest(t, "db");
    Seq { full, log1, log2 }
}

/// A FIFO, or a link to an endless device, at the progress file beside the target: every
/// restore reads it first, and must neither wait on it nor read it without end.
#[test]
fn a_fifo_or_endless_file_at_the_progress_file_is_refused_not_read() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let s = sequence(t);
    mkfifo(&t.join(".r.restore-progress"));
    let (c, err) = within(t, &["restore", "r", "--from", "full.tap"], 20);
    assert_eq!(c, 1, "{err}");
    assert!(err.contains(".r.restore-progress"), "{err}");
    assert!(!t.join("r").exists());
    fs::remove_file(t.join(".r.restore-progress")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", t.join(".r.restore-progress")).unwrap();
    let (c, err) = within(t, &["restore", "r", "--from", "full.tap"], 20);
    assert_eq!(c, 1, "{err}");
    assert!(err.contains(".r.restore-progress"), "{err}");
    fs::remove_file(t.join(".r.restore-progress")).unwrap();
    // Without them, the restore goes through.
    ok(t, &["restore", "r", "--from", "full.tap"]);
    assert_eq!(digest(t, "r"), s.full);
}

/// The names in `dir` starting with `prefix`.
fn named(dir: &Path, prefix: &str) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix))
        .collect();
    v.sort();
    v
}

fn documents(t: &Path) {
    fs::create_dir(t.join("docs")).unwrap();
    for n in ["primary.mdf", "b.ndf", "log.ldf", "notes.txt"] {
        fs::write(t.join("docs").join(n), format!("the user's {n}")).unwrap();
    }
}

fn documents_intact(t: &Path) {
    for n in ["primary.mdf", "b.ndf", "log.ldf", "notes.txt"] {
        assert_eq!(
            fs::read_to_string(t.join("docs").join(n)).unwrap(),
            format!("the user's {n}"),
            "{n}"
        );
    }
}

/// A full restore killed after its first data file, its work directory then replaced by a link
/// to a directory of documents (or the progress file pointed at one): `--restart` and the same
/// restore run again never write into it, and the database is whole.
#[test]
fn a_restart_never_writes_through_a_link_at_its_work_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let s = sequence(t);
    documents(t);
    killed(t, &["restore", "r", "--from", "full.tap"], "restore:1");
    let work = named(t, ".r.restore.");
    assert_eq!(work.len(), 1, "{work:?}");
    fs::remove_dir_all(t.join(&work[0])).unwrap();
    std::os::unix::fs::symlink("docs", t.join(&work[0])).unwrap();
    let (c, out, err) = refdb_env(t, &["restore", "r", "--from", "full.tap", "--restart"], &[]);
    documents_intact(t);
    assert!(
        !fs::symlink_metadata(t.join("r")).unwrap().is_symlink(),
        "{out}{err}"
    );
    if c == 0 {
        assert_eq!(digest(t, "r"), s.full);
    } else {
        assert!(err.contains(&work[0]), "{err}");
    }
    // A progress file whose work line names the documents themselves.
    fs::remove_file(t.join(&work[0])).unwrap();
    let _ = fs::remove_dir_all(t.join("r"));
    killed(t, &["restore", "r", "--from", "full.tap"], "restore:1");
    let p = t.join(".r.restore-progress");
    let text = fs::read_to_string(&p).unwrap();
    let hex: String = t
        .join("docs")
        .as_os_str()
        .as_encoded_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let text: String = text
        .lines()
        .map(|l| {
            if l.starts_with("work ") {
                format!("work {hex}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    fs::write(&p, text).unwrap();
    for args in [
        &["restore", "r", "--from", "full.tap", "--restart"][..],
        &["restore", "r", "--from", "full.tap"][..],
        &["restore", "r", "--from", "full.tap", "--replace"][..],
    ] {
        let (c, out, err) = refdb_env(t, args, &[]);
        documents_intact(t);
        if c == 0 {
            assert_eq!(digest(t, "r"), s.full);
            let _ = fs::remove_dir_all(t.join("r"));
        } else {
            assert!(!err.is_empty(), "{out}");
        }
    }
    let _ = (s.log1, s.log2);
}

/// An undo file named where the restore itself puts the database or its progress file is
/// refused before anything is written (it was found taken only once the database was in
/// place, which left it restoring and the refusal after the fact).
#[test]
fn an_undo_file_at_the_targets_own_names_is_refused_before_anything_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    sequence(t);
    for undo in ["r", "./r", ".r.restore-progress"] {
        let err = fails(
            t,
            &["restore", "r", "--from", "full.tap", "--standby", undo],
        );
        assert!(err.contains("undo file"), "{err}");
        assert!(!t.join("r").exists(), "{undo}: {err}");
        assert!(named(t, ".r.").is_empty(), "{undo}: {:?}", named(t, ".r."));
    }
    // A missing directory, the medium, another database's data file.
    for undo in ["nowhere/u.undo", "full.tap", "db/primary.mdf", "db"] {
        let before = fs::read(t.join("full.tap")).unwrap();
        let err = fails(
            t,
            &["restore", "r", "--from", "full.tap", "--standby", undo],
        );
        assert!(err.contains(undo.split('/').next().unwrap()), "{err}");
        assert!(!t.join("r").exists(), "{undo}: {err}");
        assert_eq!(fs::read(t.join("full.tap")).unwrap(), before);
    }
    ok(t, &["check", "db"]);
    ok(
        t,
        &["restore", "r", "--from", "full.tap", "--standby", "u.undo"],
    );
    ok(t, &["get", "r", "k1"]);
}

/// The files of a database directory and their contents' digests (the lock file aside: a
/// process that takes the lock creates it).
fn snapshot(dir: &Path) -> Vec<(String, String)> {
    use sha2::Digest;
    let mut v: Vec<(String, String)> = fs::read_dir(dir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name() != "refdb.lock")
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                format!(
                    "{:x}",
                    sha2::Sha256::digest(fs::read(e.path()).unwrap_or_default())
                ),
            )
        })
        .collect();
    v.sort();
    v
}

/// A database in standby given the wrong thing next (a file or page restore refused, another
/// database's log, a log out of order, writes, backups): each is refused, and the database is
/// still in standby, readable, with its files and undo file as they were.
#[test]
fn a_refused_restore_into_a_standby_database_leaves_it_in_standby() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let s = sequence(t);
    ok(t, &["create", "other", "--recovery", "full"]);
    ok(t, &["put", "other", "a", "b"]);
    ok(
        t,
        &[
            "backup",
            "other",
            "--type",
            "full",
            "--to",
            "ofull.tap",
            "--format",
        ],
    );
    ok(t, &["put", "other", "c", "d"]);
    ok(
        t,
        &[
            "backup", "other", "--type", "log", "--to", "olog.tap", "--format",
        ],
    );
    ok(
        t,
        &["restore", "r", "--from", "full.tap", "--standby", "u.undo"],
    );
    ok(
        t,
        &["restore", "r", "--from", "log1.tap", "--standby", "u.undo"],
    );
    assert_eq!(digest(t, "r"), s.log1);
    let before = snapshot(&t.join("r"));
    let undo = fs::read(t.join("u.undo")).unwrap();
    for args in [
        &["restore", "r", "--from", "full.tap", "--filegroup", "b"][..],
        &["restore", "r", "--from", "full.tap", "--page", "1:5"][..],
        &["restore", "r", "--from", "olog.tap", "--standby", "n.undo"][..],
        &["restore", "r", "--from", "olog.tap"][..],
        &["restore", "r", "--from", "log1.tap", "--standby", "u.undo"][..],
        &["restore", "r", "--from", "full.tap", "--restart"][..],
        &["put", "r", "x", "y"][..],
        &["backup", "r", "--type", "log", "--to", "x.tap", "--format"][..],
        &["backup", "r", "--type", "full", "--to", "x.tap", "--format"][..],
    ] {
        let err = fails(t, args);
        assert!(!err.is_empty());
        assert_eq!(snapshot(&t.join("r")), before, "{args:?}: {err}");
        assert_eq!(fs::read(t.join("u.undo")).unwrap(), undo, "{args:?}");
        assert_eq!(digest(t, "r"), s.log1, "{args:?}: {err}");
    }
    ok(t, &["restore", "r", "--from", "log2.tap"]);
    assert_eq!(digest(t, "r"), s.log2);
}

/// A backup of a database being restored (left restoring, or killed while entering standby)
/// is refused and changes nothing: it opened the database, which recovered it, so that no
/// more logs could be restored to it (a tail-log backup even rewrote its restore state), and
/// a "full backup" of the half-restored copy was recorded as the database's.
#[test]
fn a_backup_of_a_restoring_database_is_refused_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let s = sequence(t);
    ok(t, &["restore", "q", "--from", "full.tap", "--norecovery"]);
    ok(
        t,
        &["restore", "r", "--from", "full.tap", "--standby", "u.undo"],
    );
    killed(
        t,
        &["restore", "r", "--from", "log1.tap", "--standby", "u.undo"],
        "pagewrite:2",
    );
    let history = fs::read(t.join("refdb-history.db")).unwrap();
    for db in ["q", "r"] {
        let before = snapshot(&t.join(db));
        for extra in [
            &["--type", "full"][..],
            &["--type", "log"][..],
            &["--type", "log", "--no-truncate", "--norecovery"][..],
            &["--type", "log", "--no-truncate"][..],
        ] {
            let mut args = vec!["backup", db, "--to", "x.tap", "--format"];
            args.extend_from_slice(extra);
            let err = fails(t, &args);
            assert!(err.contains("restoring"), "{args:?}: {err}");
            assert_eq!(snapshot(&t.join(db)), before, "{args:?}: {err}");
        }
    }
    assert_eq!(fs::read(t.join("refdb-history.db")).unwrap(), history);
    // The sequences go on.
    ok(t, &["restore", "q", "--from", "log1.tap"]);
    assert_eq!(digest(t, "q"), s.log1);
    ok(
        t,
        &["restore", "r", "--from", "log1.tap", "--standby", "u.undo"],
    );
    ok(t, &["restore", "r", "--from", "log2.tap"]);
    assert_eq!(digest(t, "r"), s.log2);
}

/// A later piecemeal stage killed again and again, then run whole: it leaves nothing behind in
/// the database directory (the killed stages' work directories stayed there for good, and a
/// full restore with REPLACE was then refused, naming them as a user's files); and a killed
/// stage does not stand in the way of a full restore with REPLACE either.
#[test]
fn killed_piecemeal_stages_leave_nothing_in_the_database_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let s = sequence(t);
    let stage1 = [
        "restore",
        "p",
        "--from",
        "full.tap",
        "--partial",
        "--filegroup",
        "PRIMARY",
    ];
    let mut args = stage1.to_vec();
    args.push("--norecovery");
    ok(t, &args);
    ok(t, &["restore", "p", "--from", "log1.tap", "--norecovery"]);
    ok(t, &["restore", "p", "--from", "log2.tap"]);
    let stage2 = ["restore", "p", "--from", "full.tap", "--filegroup", "b"];
    for n in ["restore:1", "restore:2", "restore:1"] {
        killed(t, &stage2, n);
    }
    ok(t, &stage2);
    ok(t, &["restore", "p", "--from", "log1.tap"]);
    ok(t, &["restore", "p", "--from", "log2.tap"]);
    assert_eq!(digest(t, "p"), s.log2);
    assert!(
        named(&t.join("p"), ".").is_empty(),
        "{:?}",
        named(&t.join("p"), ".")
    );
    assert!(!t.join("p/refdb.piecemeal").exists());
    // Killed in a stage, then replaced whole.
    ok(
        t,
        &[
            "restore",
            "p",
            "--from",
            "full.tap",
            "--replace",
            "--partial",
            "--filegroup",
            "PRIMARY",
        ],
    );
    killed(t, &stage2, "restore:1");
    ok(t, &["restore", "p", "--from", "full.tap", "--replace"]);
    assert_eq!(digest(t, "p"), s.full);
    assert!(
        named(&t.join("p"), ".").is_empty(),
        "{:?}",
        named(&t.join("p"), ".")
    );
}

/// A small tmpfs at `dir` (unmounted when dropped), when this process may mount one.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        fs::create_dir_all(dir).unwrap();
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .ok()?;
        st.success().then(|| Tmpfs(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// The undo file's disk fills while the restoring log is copied into it: the restore fails
/// saying so, leaves no temporary file there (it stayed for good, filling the disk), and the
/// same restore with an undo file elsewhere goes through.
#[test]
fn a_full_disk_under_the_undo_file_leaves_no_temporary_file() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let s = sequence(t);
    let Some(_small) = Tmpfs::mount(&t.join("small"), "24k") else {
        eprintln!("no tmpfs can be mounted here: skipped");
        return;
    };
    ok(
        t,
        &[
            "restore",
            "r",
            "--from",
            "full.tap",
            "--standby",
            "small/u.undo",
        ],
    );
    let undo = fs::read(t.join("small/u.undo")).unwrap();
    let err = fails(
        t,
        &[
            "restore",
            "r",
            "--from",
            "log1.tap",
            "--standby",
            "small/u.undo",
        ],
    );
    assert!(err.contains("No space left"), "{err}");
    assert_eq!(named(&t.join("small"), "."), Vec::<String>::new());
    assert_eq!(fs::read(t.join("small/u.undo")).unwrap(), undo);
    ok(
        t,
        &["restore", "r", "--from", "log1.tap", "--standby", "u.undo"],
    );
    assert_eq!(digest(t, "r"), s.log1);
    ok(t, &["restore", "r", "--from", "log2.tap"]);
    assert_eq!(digest(t, "r"), s.log2);
}

/// A log restore killed while it put a standby database's undo back: the read commands do not
/// take the half put back files for a database in standby (`check` passed them with the wrong
/// rows, exit 0); they refuse, and the restore run again finishes.
#[test]
fn a_standby_database_half_put_back_is_not_read() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let s = sequence(t);
    ok(
        t,
        &["restore", "r", "--from", "full.tap", "--standby", "u.undo"],
    );
    ok(
        t,
        &["restore", "r", "--from", "log1.tap", "--standby", "u.undo"],
    );
    assert_eq!(digest(t, "r"), s.log1);
    killed(
        t,
        &["restore", "r", "--from", "log2.tap", "--standby", "u.undo"],
        "restore:1",
    );
    for args in [
        &["check", "r"][..],
        &["get", "r", "l1"][..],
        &["scan", "r"][..],
        &["backup", "r", "--type", "log", "--to", "x.tap", "--format"][..],
    ] {
        let err = fails(t, args);
        assert!(err.contains("restoring"), "{args:?}: {err}");
    }
    ok(
        t,
        &["restore", "r", "--from", "log2.tap", "--standby", "u.undo"],
    );
    assert_eq!(digest(t, "r"), s.log2);
}

/// Restores WITH STANDBY killed at every step (a data file, a log record, a page written by
/// recovery), then the wrong thing next: another set (refused, naming the interrupted one), a
/// read (refused or right), a backup (refused); then the same restore run again finishes, and
/// the sequence ends with the source's rows.
#[test]
fn standby_restores_killed_anywhere_then_the_wrong_thing_next() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let s = sequence(t);
    for crash in [
        "restore:1",
        "restore:2",
        "restore:3",
        "pagewrite:1",
        "pagewrite:3",
    ] {
        let _ = fs::remove_dir_all(t.join("r"));
        let _ = fs::remove_file(t.join(".r.restore-progress"));
        ok(
            t,
            &["restore", "r", "--from", "full.tap", "--standby", "u.undo"],
        );
        let step = ["restore", "r", "--from", "log1.tap", "--standby", "u.undo"];
        let (c, out, err) = refdb_env(t, &step, &[("REFDB_CRASH", crash)]);
        if c == 0 {
            // The crash point lies past this restore's steps.
            assert_eq!(digest(t, "r"), s.log1, "{crash}: {out}{err}");
            continue;
        }
        assert!(err.contains("injected crash"), "{crash}: {err}");
        let err = fails(
            t,
            &["restore", "r", "--from", "log2.tap", "--standby", "u.undo"],
        );
        assert!(
            err.contains("interrupted") || err.contains("gap"),
            "{crash}: {err}"
        );
        let (c, out, err) = refdb_env(t, &["check", "r"], &[]);
        if c == 0 {
            assert!(
                out.contains(&s.full) || out.contains(&s.log1),
                "{crash}: {out}"
            );
        } else {
            assert!(err.contains("restoring"), "{crash}: {err}");
        }
        fails(
            t,
            &["backup", "r", "--type", "log", "--to", "x.tap", "--format"],
        );
        ok(t, &step);
        assert_eq!(digest(t, "r"), s.log1, "{crash}");
        ok(t, &["restore", "r", "--from", "log2.tap"]);
        assert_eq!(digest(t, "r"), s.log2, "{crash}");
    }
}

/// An undo file with a page record far past its data file's end (checksums right: damaged by
/// a tool, or forged): putting it back does not write there (it wrote 32 TiB out, which the
/// file system refused, and every later restore failed the same way).
#[test]
fn an_undo_page_past_its_files_end_is_not_written() {
    use media::engine::page::crc32c;
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let s = sequence(t);
    ok(
        t,
        &["restore", "r", "--from", "full.tap", "--standby", "u.undo"],
    );
    let mut u = fs::read(t.join("u.undo")).unwrap();
    // The end record: `E`, the page count, its checksum.
    let end = u.split_off(u.len() - 9);
    assert_eq!(end[0], b'E');
    let count = u32::from_le_bytes(end[1..5].try_into().unwrap()) + 1;
    let mut rec = vec![b'P'];
    rec.extend_from_slice(&1u16.to_le_bytes());
    rec.extend_from_slice(&u32::MAX.to_le_bytes());
    rec.extend_from_slice(&[0x5a; 8192]);
    let c = crc32c(&rec);
    rec.extend_from_slice(&c.to_le_bytes());
    u.extend_from_slice(&rec);
    let mut e = vec![b'E'];
    e.extend_from_slice(&count.to_le_bytes());
    let c = crc32c(&e);
    e.extend_from_slice(&c.to_le_bytes());
    u.extend_from_slice(&e);
    fs::write(t.join("u.undo"), &u).unwrap();
    ok(
        t,
        &["restore", "r", "--from", "log1.tap", "--standby", "u.undo"],
    );
    assert_eq!(digest(t, "r"), s.log1);
    assert!(fs::metadata(t.join("r/primary.mdf")).unwrap().len() < 1 << 30);
}

/// A database in standby open in another process (a reader; here a lock taken with
/// flock(1), as the engine takes it): the next restore is refused before it changes anything
/// (it put the undo back and applied the log under the reader, then failed at its end).
#[test]
fn a_standby_database_open_elsewhere_is_not_restored_under_it() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let s = sequence(t);
    ok(
        t,
        &["restore", "r", "--from", "full.tap", "--standby", "u.undo"],
    );
    let before = snapshot(&t.join("r"));
    let mut reader = Command::new("flock")
        .arg("--no-fork")
        .arg(t.join("r/refdb.lock"))
        .args(["sleep", "30"])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    for args in [
        &["restore", "r", "--from", "log1.tap", "--standby", "u.undo"][..],
        &["restore", "r", "--from", "log1.tap", "--norecovery"][..],
        &["restore", "r", "--from", "log1.tap"][..],
    ] {
        let err = fails(t, args);
        assert!(err.contains("open in another process"), "{args:?}: {err}");
        assert_eq!(snapshot(&t.join("r")), before, "{args:?}");
    }
    reader.kill().unwrap();
    reader.wait().unwrap();
    assert_eq!(digest(t, "r"), s.full);
    ok(t, &["restore", "r", "--from", "log1.tap"]);
    assert_eq!(digest(t, "r"), s.log1);
}

/// A later piecemeal stage while the online database is open in another process: refused
/// before anything is done (the filegroup's files were copied in under the other process, the
/// stage failed at its end, and its last log run again was refused as already restored).
#[test]
fn a_piecemeal_stage_is_not_run_under_a_process_that_has_the_database_open() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let s = sequence(t);
    ok(
        t,
        &[
            "restore",
            "p",
            "--from",
            "full.tap",
            "--partial",
            "--filegroup",
            "PRIMARY",
            "--norecovery",
        ],
    );
    ok(t, &["restore", "p", "--from", "log1.tap", "--norecovery"]);
    ok(t, &["restore", "p", "--from", "log2.tap"]);
    ok(
        t,
        &["restore", "p", "--from", "full.tap", "--filegroup", "b"],
    );
    let before = snapshot(&t.join("p"));
    let scratch = snapshot(&t.join("p/refdb.piecemeal"));
    let mut other = Command::new("flock")
        .arg("--no-fork")
        .arg(t.join("p/refdb.lock"))
        .args(["sleep", "30"])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    for args in [
        &["restore", "p", "--from", "log1.tap"][..],
        &["restore", "p", "--from", "full.tap", "--filegroup", "b"][..],
    ] {
        let err = fails(t, args);
        assert!(err.contains("open in another process"), "{args:?}: {err}");
        assert_eq!(snapshot(&t.join("p")), before, "{args:?}");
        assert_eq!(snapshot(&t.join("p/refdb.piecemeal")), scratch, "{args:?}");
    }
    other.kill().unwrap();
    other.wait().unwrap();
    ok(t, &["restore", "p", "--from", "log1.tap"]);
    ok(t, &["restore", "p", "--from", "log2.tap"]);
    assert_eq!(digest(t, "p"), s.log2);
}
