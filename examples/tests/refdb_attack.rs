//! `refdb backup` and `restore` attacked as a demanding administrator would: links, FIFOs and
//! other people's files planted where a restore writes, REPLACE over a directory of documents
//! or through a MOVE into another database, damaged and foreign media, stripes in the wrong
//! order, log restores out of order, a full disk, a process that has the database open, a
//! process killed mid-restore, a corrupt history. The rule each asserts: nothing a user has is
//! lost or written through a link, a refusal names what it refused, exit 0 means the restored
//! database is whole. Expected contents are the source database's own `check` digest (the
//! engine's row digest) taken when the backup was made, and rows the test put itself.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const REFDB: &str = env!("CARGO_BIN_EXE_refdb");
const MTFPACK: &str = env!("CARGO_BIN_EXE_mtfpack");

fn refdb(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let o = Command::new(REFDB)
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let (c, out, err) = refdb(dir, args);
    assert_eq!(c, 0, "refdb {args:?}: {out}{err}");
    out + &err
}

/// Runs a command that must fail with exit 1; its stderr.
fn fails(dir: &Path, args: &[&str]) -> String {
    let (c, out, err) = refdb(dir, args);
    assert_eq!(c, 1, "refdb {args:?} should fail: {out}{err}");
    err
}

/// `refdb check`'s rows and digest lines.
fn digest(dir: &Path, db: &str) -> String {
    let out = ok(dir, &["check", db]);
    out.lines()
        .filter(|l| l.starts_with("rows:") || l.starts_with("digest:"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The names in `dir` that begin with a dot (work directories a restore left behind).
fn hidden(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    v.sort();
    v
}

/// Database `db` (full recovery, a second filegroup `b`) with a full backup `full.tap`, a
/// differential `diff.tap`, and log backups `log1.tap`, `log2.tap`; the digests of the
/// database when each was taken.
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
    ok(t, &["delete", "db", "k3"]);
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
            "backup",
            "db",
            "--type",
            "differential",
            "--to",
            "diff.tap",
            "--format",
        ],
    );
    ok(
        t,
        &[
            "backup", "db", "--type", "log", "--to", "log2.tap", "--format",
        ],
    );
    let log2 = digest(t, "db");
    assert_ne!(full, log1);
    assert_ne!(log1, log2);
    Seq { full, log1, log2 }
}

#[test]
fn replace_never_deletes_files_that_are_not_the_databases() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let s = sequence(t);
    // A directory of documents named by mistake: REPLACE does not make it a database.
    fs::create_dir(t.join("thesis")).unwrap();
    fs::write(t.join("thesis/chapter1.txt"), "years of work").unwrap();
    fs::create_dir(t.join("thesis/figures")).unwrap();
    fs::write(t.join("thesis/figures/f1.svg"), "<svg/>").unwrap();
    let err = fails(t, &["restore", "thesis", "--from", "full.tap", "--replace"]);
    assert!(
        err.contains("chapter1.txt") && err.contains("figures"),
        "{err}"
    );
    assert_eq!(
        fs::read_to_string(t.join("thesis/chapter1.txt")).unwrap(),
        "years of work"
    );
    assert!(t.join("thesis/figures/f1.svg").is_file());
    assert!(!t.join("thesis/primary.mdf").exists());
    // A database directory where the user keeps a note: replacing the database keeps it.
    ok(t, &["restore", "copy", "--from", "full.tap"]);
    fs::write(t.join("copy/README.txt"), "ask Ann before restoring").unwrap();
    let err = fails(t, &["restore", "copy", "--from", "log1.tap", "--replace"]);
    assert!(err.contains("already recovered"), "{err}");
    let err = fails(t, &["restore", "copy", "--from", "full.tap", "--replace"]);
    assert!(err.contains("README.txt"), "{err}");
    assert!(t.join("copy/README.txt").is_file());
    assert_eq!(digest(t, "copy"), s.full);
    // Without the note, REPLACE does replace the database.
    fs::remove_file(t.join("copy/README.txt")).unwrap();
    ok(t, &["restore", "copy", "--from", "full.tap", "--replace"]);
    assert_eq!(digest(t, "copy"), s.full);
    assert!(hidden(t).is_empty(), "{:?}", hidden(t));
}

/// Runs refdb and gives it `secs` to finish: a hang is a failure, not a stuck test.
fn within(t: &Path, args: &[&str], secs: u64) -> (i32, String) {
    let mut c = Command::new(REFDB)
        .current_dir(t)
        .args(args)
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

#[test]
fn fifos_planted_where_a_restore_reads_or_writes_are_refused_not_waited_on() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let s = sequence(t);
    // At the primary file's name in the target (a restore reads its boot page to see what is
    // there).
    fs::create_dir(t.join("r")).unwrap();
    mkfifo(&t.join("r/primary.mdf"));
    let (c, err) = within(t, &["restore", "r", "--from", "full.tap"], 30);
    assert_eq!(c, 1, "{err}");
    assert!(err.contains("primary.mdf"), "{err}");
    // In a restoring directory: the log, then a data file.
    ok(t, &["restore", "r2", "--from", "full.tap", "--norecovery"]);
    fs::rename(t.join("r2/log.ldf"), t.join("log.saved")).unwrap();
    mkfifo(&t.join("r2/log.ldf"));
    let (c, err) = within(
        t,
        &["restore", "r2", "--from", "log1.tap", "--norecovery"],
        30,
    );
    assert_eq!(c, 1, "{err}");
    assert!(
        err.contains("log.ldf") && err.contains("not a regular file"),
        "{err}"
    );
    fs::remove_file(t.join("r2/log.ldf")).unwrap();
    fs::rename(t.join("log.saved"), t.join("r2/log.ldf")).unwrap();
    ok(t, &["restore", "r2", "--from", "log1.tap", "--norecovery"]);
    fs::rename(t.join("r2/b.ndf"), t.join("b.ndf.saved")).unwrap();
    mkfifo(&t.join("r2/b.ndf"));
    let (c, err) = within(
        t,
        &["restore", "r2", "--from", "diff.tap", "--norecovery"],
        30,
    );
    assert_eq!(c, 1, "{err}");
    assert!(
        err.contains("b.ndf") && err.contains("not a regular file"),
        "{err}"
    );
    fs::remove_file(t.join("r2/b.ndf")).unwrap();
    fs::rename(t.join("b.ndf.saved"), t.join("r2/b.ndf")).unwrap();
    // The differential wrote the primary file's pages before it met the FIFO: no log may
    // follow on those files until the differential is restored whole.
    let err = fails(t, &["restore", "r2", "--from", "log2.tap"]);
    assert!(err.contains("differential"), "{err}");
    ok(t, &["restore", "r2", "--from", "diff.tap", "--norecovery"]);
    ok(t, &["restore", "r2", "--from", "log2.tap"]);
    assert_eq!(digest(t, "r2"), s.log2);
}

#[test]
fn links_planted_in_a_restoring_directory_are_never_written_through() {
    use std::os::unix::fs::symlink;
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let s = sequence(t);
    ok(t, &["restore", "r", "--from", "full.tap", "--norecovery"]);
    // The name the restore state is written under before it is renamed into place.
    fs::write(t.join("victim.txt"), "keep me").unwrap();
    symlink("../victim.txt", t.join("r/.refdb.restoring.tmp")).unwrap();
    ok(t, &["restore", "r", "--from", "log1.tap", "--norecovery"]);
    assert_eq!(fs::read_to_string(t.join("victim.txt")).unwrap(), "keep me");
    // The restoring log, swapped for a link to another file.
    fs::rename(t.join("r/log.ldf"), t.join("elsewhere.ldf")).unwrap();
    let before = fs::read(t.join("elsewhere.ldf")).unwrap();
    symlink("../elsewhere.ldf", t.join("r/log.ldf")).unwrap();
    let err = fails(t, &["restore", "r", "--from", "log2.tap", "--norecovery"]);
    assert!(err.contains("log.ldf") && err.contains("link"), "{err}");
    assert_eq!(fs::read(t.join("elsewhere.ldf")).unwrap(), before);
    fs::remove_file(t.join("r/log.ldf")).unwrap();
    fs::rename(t.join("elsewhere.ldf"), t.join("r/log.ldf")).unwrap();
    // A data file with a second name (a hard link): the differential would write both.
    ok(t, &["restore", "r2", "--from", "full.tap", "--norecovery"]);
    fs::hard_link(t.join("r2/b.ndf"), t.join("b-link.ndf")).unwrap();
    let before = fs::read(t.join("b-link.ndf")).unwrap();
    let err = fails(t, &["restore", "r2", "--from", "diff.tap", "--norecovery"]);
    assert!(err.contains("hard link"), "{err}");
    assert_eq!(fs::read(t.join("b-link.ndf")).unwrap(), before);
    // After the refusals, both sequences finish whole.
    ok(t, &["restore", "r", "--from", "log2.tap"]);
    assert_eq!(digest(t, "r"), s.log2);
    fs::remove_file(t.join("b-link.ndf")).unwrap();
    ok(t, &["restore", "r2", "--from", "diff.tap", "--norecovery"]);
    ok(t, &["restore", "r2", "--from", "log2.tap"]);
    assert_eq!(digest(t, "r2"), s.log2);
}

/// Runs refdb with files limited to `kib` KiB (RLIMIT_FSIZE), SIGXFSZ ignored: writes past
/// the limit fail as on a full disk. (`sh`'s `ulimit -f` counts 512-byte blocks.)
fn with_file_limit(t: &Path, kib: u64, args: &[&str]) -> (i32, String) {
    let mut script = format!("trap '' XFSZ; ulimit -f {}; exec '{REFDB}'", kib * 2);
    for a in args {
        script.push_str(&format!(" '{a}'"));
    }
    let o = Command::new("sh")
        .current_dir(t)
        .args(["-c", &script])
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn a_full_disk_during_a_restore_leaves_it_repeatable() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    // Enough log in a log backup that its file sizes fall into distinct KiB.
    ok(t, &["create", "db", "--recovery", "full"]);
    ok(t, &["workload", "db", "--ops", "50", "--threads", "1"]);
    ok(
        t,
        &[
            "backup", "db", "--type", "full", "--to", "full.tap", "--format",
        ],
    );
    let full = digest(t, "db");
    ok(
        t,
        &[
            "workload",
            "db",
            "--ops",
            "300",
            "--threads",
            "1",
            "--seed",
            "2",
        ],
    );
    let out = ok(
        t,
        &[
            "backup", "db", "--type", "log", "--to", "log1.tap", "--format",
        ],
    );
    let log1 = digest(t, "db");
    // The log backup's size: its LSN range (`LSN first..last`).
    let range = out.split("LSN ").nth(1).unwrap();
    let (a, b) = range.split_once("..").unwrap();
    let b: String = b.chars().take_while(|c| c.is_ascii_digit()).collect();
    let len = b.parse::<u64>().unwrap() - a.parse::<u64>().unwrap();
    assert!(len > 20_000, "{out}");
    // A full restore that runs out of room leaves nothing: no directory, no work files.
    let (c, err) = with_file_limit(t, 8, &["restore", "r", "--from", "full.tap"]);
    assert_eq!(c, 1, "{err}");
    assert!(
        !t.join("r").exists() && hidden(t).is_empty(),
        "{:?}",
        hidden(t)
    );
    // The same over an existing restoring database leaves it as it was.
    ok(t, &["restore", "r", "--from", "full.tap", "--norecovery"]);
    let (c, err) = with_file_limit(
        t,
        8,
        &["restore", "r", "--from", "full.tap", "--norecovery"],
    );
    assert_eq!(c, 1, "{err}");
    // A log restore whose staging fits (the set's log) but whose restoring log (the full's
    // log, then the set's records, after a 4 KiB header) does not.
    let kib = len / 1024 + 2;
    let (c, err) = with_file_limit(t, kib, &["restore", "r", "--from", "log1.tap"]);
    assert_eq!(c, 1, "{err}");
    assert!(err.contains("log.ldf"), "{err}");
    assert!(t.join("r/refdb.restoring").exists());
    // Room again: the same log restores, and the database is the source's at the backup.
    ok(t, &["restore", "r", "--from", "log1.tap"]);
    assert_eq!(digest(t, "r"), log1);
    assert_ne!(full, log1);
    assert!(hidden(t).is_empty(), "{:?}", hidden(t));
}

#[test]
fn move_never_overwrites_another_databases_files() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let s = sequence(t);
    ok(t, &["create", "other", "--recovery", "full"]);
    ok(t, &["put", "other", "mine", "not yours"]);
    let other = digest(t, "other");
    // Into another database's directory, over its files or beside them, REPLACE or not.
    for target in [
        "../other/primary.mdf",
        "../other/log.ldf",
        "../other/new.ndf",
    ] {
        let err = fails(
            t,
            &[
                "restore",
                "r",
                "--from",
                "full.tap",
                "--move",
                &format!("b={target}"),
                "--replace",
            ],
        );
        assert!(err.contains("database other"), "{target}: {err}");
        assert!(!t.join("r").exists());
    }
    assert_eq!(digest(t, "other"), other);
    assert_eq!(
        fs::read_dir(t.join("other")).unwrap().count(),
        3,
        "primary.mdf, log.ldf, refdb.lock"
    );
    // A copy of db with its file b moved out; a second copy may not take that file over.
    ok(
        t,
        &[
            "restore",
            "c1",
            "--from",
            "full.tap",
            "--move",
            "b=../c1-b.ndf",
        ],
    );
    let err = fails(
        t,
        &[
            "restore",
            "c2",
            "--from",
            "full.tap",
            "--move",
            "b=../c1-b.ndf",
            "--replace",
        ],
    );
    assert!(err.contains("data file of database"), "{err}");
    assert!(!t.join("c2").exists());
    assert_eq!(digest(t, "c1"), s.full);
    // c1 itself may be replaced with its own moved file.
    ok(
        t,
        &[
            "restore",
            "c1",
            "--from",
            "full.tap",
            "--move",
            "b=../c1-b.ndf",
            "--replace",
            "--norecovery",
        ],
    );
    ok(t, &["restore", "c1", "--from", "log1.tap"]);
    assert_eq!(digest(t, "c1"), s.log1);
    // An absolute path into the database directory itself (which the restore replaces whole).
    fs::create_dir(t.join("c3")).unwrap();
    let inside = t.join("c3/b.ndf");
    let err = fails(
        t,
        &[
            "restore",
            "c3",
            "--from",
            "full.tap",
            "--move",
            &format!("b={}", inside.display()),
        ],
    );
    assert!(err.contains("database directory"), "{err}");
    assert!(!inside.exists());
    assert!(hidden(t).is_empty(), "{:?}", hidden(t));
}

/// The offset and length of file `name`'s data stream in a medium, as `mtfdump blocks` lists
/// them (a FILE block, then its STAN stream).
fn stream_of(t: &Path, medium: &str, name: &str) -> (usize, usize) {
    let o = Command::new(env!("CARGO_BIN_EXE_mtfdump"))
        .current_dir(t)
        .args(["blocks", medium])
        .output()
        .unwrap();
    let text = String::from_utf8(o.stdout).unwrap();
    let mut lines = text.lines();
    while let Some(l) = lines.next() {
        if l.contains(" FILE ") && l.contains(&format!("name=\"{name}\"")) {
            let stan = lines.next().unwrap();
            let mut w = stan.split_whitespace();
            let off: usize = w.next().unwrap().parse().unwrap();
            assert_eq!(w.next(), Some("STAN"), "{stan}");
            let len: usize = w.next().unwrap().parse().unwrap();
            return (off, len);
        }
    }
    panic!("no {name} in {medium}:\n{text}");
}

#[test]
fn damaged_or_foreign_media_are_refused_naming_the_medium() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let s = sequence(t);
    let image = fs::read(t.join("full.tap")).unwrap();
    // One bit flipped in each of the set's files (pages, log, header).
    for name in ["F1.pages", "F2.pages", "log", "header.mqci"] {
        let (off, len) = stream_of(t, "full.tap", name);
        let mut bad = image.clone();
        bad[off + 16 + len / 2] ^= 0x08;
        fs::write(t.join("bad.tap"), &bad).unwrap();
        let (c, out, err) = refdb(t, &["restore", "r", "--from", "bad.tap"]);
        if name == "header.mqci" && c == 0 {
            // The header has no checksum of its own (without --checksum): a flip in a field
            // the restore does not depend on (a name, a date) passes, the data stay whole.
            assert_eq!(digest(t, "r"), s.full, "{out}{err}");
            fs::remove_dir_all(t.join("r")).unwrap();
            continue;
        }
        assert_eq!(c, 1, "{name}: {out}{err}");
        if name != "header.mqci" {
            assert!(
                err.contains("bad.tap") && err.contains("damaged"),
                "{name}: {err}"
            );
        }
        assert!(!t.join("r").exists(), "{name}");
    }
    // Cut short.
    fs::write(t.join("cut.tap"), &image[..image.len() / 2]).unwrap();
    let err = fails(t, &["restore", "r", "--from", "cut.tap"]);
    assert!(err.contains("cut.tap"), "{err}");
    // A restoring database is left as it was by a damaged log backup.
    ok(t, &["restore", "r", "--from", "full.tap", "--norecovery"]);
    let log = fs::read(t.join("log1.tap")).unwrap();
    let (off, len) = stream_of(t, "log1.tap", "log");
    let mut bad = log.clone();
    bad[off + 16 + len / 2] ^= 0x01;
    fs::write(t.join("badlog.tap"), &bad).unwrap();
    let err = fails(t, &["restore", "r", "--from", "badlog.tap"]);
    assert!(err.contains("badlog.tap"), "{err}");
    ok(t, &["restore", "r", "--from", "log1.tap"]);
    assert_eq!(digest(t, "r"), s.log1);
    // A file backup made by mtfpack, even of a tree shaped like a refdb set.
    fs::create_dir_all(t.join("tree/refdb")).unwrap();
    fs::write(t.join("tree/refdb/log"), "not a log").unwrap();
    fs::write(t.join("tree/refdb/header.mqci"), "not a header").unwrap();
    for root in ["tree", "tree/refdb"] {
        let st = Command::new(MTFPACK)
            .current_dir(t)
            .args(["-o", "pack.tap", root])
            .output()
            .unwrap();
        assert!(st.status.success());
        let err = fails(t, &["restore", "p", "--from", "pack.tap"]);
        assert!(err.contains("refdb"), "{root}: {err}");
        assert!(!t.join("p").exists());
    }
    // SQL Server and NTBackup media (read in place, when the samples are there).
    let foreign = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/foreign");
    for name in [
        "sql2008r2_full_singlerestore.bak",
        "sql2008r2_log_nodata.trn",
        "ntbackup/ntbackup_2003_bootini.bkf",
    ] {
        let p = foreign.join(name);
        if !p.exists() {
            eprintln!("skipped: {} is missing", p.display());
            continue;
        }
        let err = fails(t, &["restore", "p", "--from", p.to_str().unwrap()]);
        assert!(
            err.contains(p.file_name().unwrap().to_str().unwrap()),
            "{err}"
        );
        assert!(!t.join("p").exists());
    }
    assert!(hidden(t).is_empty(), "{:?}", hidden(t));
}

#[test]
fn stripes_missing_twice_or_out_of_order_are_refused_saying_which() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    ok(t, &["create", "db", "--recovery", "full"]);
    ok(t, &["workload", "db", "--ops", "100", "--threads", "1"]);
    ok(
        t,
        &[
            "backup", "db", "--type", "full", "--to", "s1.tap", "--to", "s2.tap", "--format",
            "--mirror", "m1.tap", "--mirror", "m2.tap",
        ],
    );
    let d = digest(t, "db");
    let err = fails(t, &["restore", "r", "--from", "s1.tap"]);
    assert!(err.contains("family 2 of 2"), "{err}");
    let err = fails(t, &["restore", "r", "--from", "s1.tap", "--from", "s1.tap"]);
    assert!(err.contains("refused: s1.tap"), "{err}");
    let err = fails(t, &["restore", "r", "--from", "s2.tap", "--from", "s1.tap"]);
    assert!(err.contains("refused: s2.tap"), "{err}");
    assert!(!t.join("r").exists() && hidden(t).is_empty());
    // A set the media do not hold.
    let err = fails(
        t,
        &[
            "restore", "r", "--from", "s1.tap", "--from", "s2.tap", "--set", "2",
        ],
    );
    assert!(err.contains("no backup set 2"), "{err}");
    // A mirror stands in for its family.
    ok(t, &["restore", "r", "--from", "s1.tap", "--from", "m2.tap"]);
    assert_eq!(digest(t, "r"), d);
}

#[test]
fn log_restores_out_of_order_twice_or_of_another_database_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let s = sequence(t);
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
            "ofull.tap",
            "--format",
        ],
    );
    ok(t, &["put", "other", "x2", "y2"]);
    ok(
        t,
        &[
            "backup", "other", "--type", "log", "--to", "olog.tap", "--format",
        ],
    );
    ok(t, &["restore", "r", "--from", "full.tap", "--norecovery"]);
    let err = fails(t, &["restore", "r", "--from", "log2.tap", "--norecovery"]);
    assert!(err.contains("log chain gap"), "{err}");
    let err = fails(t, &["restore", "r", "--from", "olog.tap", "--norecovery"]);
    assert!(err.contains("database other"), "{err}");
    let err = fails(t, &["restore", "r", "--from", "ofull.tap", "--norecovery"]);
    assert!(err.contains("REPLACE"), "{err}");
    ok(t, &["restore", "r", "--from", "log1.tap", "--norecovery"]);
    let err = fails(t, &["restore", "r", "--from", "log1.tap", "--norecovery"]);
    assert!(err.contains("too early"), "{err}");
    let (c, _, err) = refdb(
        t,
        &[
            "restore",
            "r",
            "--from",
            "log2.tap",
            "--stopat",
            "2026-12-03T21:0:00",
        ],
    );
    assert_ne!(c, 0);
    assert!(err.contains("not a time"), "{err}");
    ok(t, &["restore", "r", "--from", "log2.tap"]);
    assert_eq!(digest(t, "r"), s.log2);
    let err = fails(t, &["restore", "r", "--from", "log2.tap"]);
    assert!(err.contains("already recovered"), "{err}");
}

#[test]
fn backup_onto_a_users_file_leaves_it_as_it_was() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    ok(t, &["create", "db"]);
    fs::write(t.join("report.txt"), "quarterly figures").unwrap();
    for extra in [&[][..], &["--init"], &["--format"]] {
        let mut args = vec!["backup", "db", "--type", "full", "--to", "report.txt"];
        args.extend_from_slice(extra);
        let err = fails(t, &args);
        assert!(err.contains("report.txt"), "{extra:?}: {err}");
        assert_eq!(
            fs::read_to_string(t.join("report.txt")).unwrap(),
            "quarterly figures"
        );
    }
}

#[test]
fn a_process_that_has_the_database_open_keeps_it() {
    use std::io::BufRead;
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    ok(t, &["create", "db", "--recovery", "full"]);
    ok(t, &["put", "db", "k", "v"]);
    ok(
        t,
        &[
            "backup", "db", "--type", "full", "--to", "full.tap", "--format",
        ],
    );
    let mut w = Command::new(REFDB)
        .current_dir(t)
        .args(["workload", "db", "--ops", "1000000", "--threads", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // It has the database open once it prints its first commit.
    let mut out = std::io::BufReader::new(w.stdout.take().unwrap());
    let mut line = String::new();
    while !line.starts_with("commit ") {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "the workload ended");
    }
    let tail = refdb(
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
    let restore = refdb(t, &["restore", "db", "--from", "full.tap", "--replace"]);
    let _ = w.kill();
    let _ = w.wait();
    assert_eq!(tail.0, 1, "{tail:?}");
    assert!(tail.2.contains("open in another process"), "{tail:?}");
    assert_eq!(restore.0, 1, "{restore:?}");
    assert!(restore.2.contains("open in another process"), "{restore:?}");
    // The database stays online (not marked restoring), its rows there.
    assert!(!t.join("db/refdb.restoring").exists());
    assert_eq!(refdb(t, &["get", "db", "k"]).1.trim(), "v");
}

#[test]
fn a_restore_killed_anywhere_is_finished_by_running_it_again() {
    let runs: u64 = std::env::var("REFDB_ATTACK_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let s = sequence(t);
    ok(t, &["restore", "r", "--from", "full.tap"]);
    for i in 0..runs {
        let mut c = Command::new(REFDB)
            .current_dir(t)
            .args(["restore", "r", "--from", "full.tap", "--replace"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Spread the kills over the restore's run (a few tens of milliseconds).
        std::thread::sleep(Duration::from_micros(i * 40_000 / runs.max(1)));
        let _ = c.kill();
        let _ = c.wait();
        // Whatever it left, the database in r is whole, or absent, and a plain re-run
        // restores it.
        if t.join("r/primary.mdf").exists() {
            assert_eq!(digest(t, "r"), s.full, "run {i}");
        }
        let (c, out, err) = refdb(t, &["restore", "r", "--from", "full.tap", "--replace"]);
        assert_eq!(c, 0, "run {i}: {out}{err}");
        assert_eq!(digest(t, "r"), s.full, "run {i}");
        // The work directories of the killed run, and the database it had put aside, are
        // gone once the new one is in place.
        assert!(hidden(t).is_empty(), "run {i}: {:?}", hidden(t));
    }
}

#[test]
fn a_corrupt_history_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    ok(t, &["create", "db", "--recovery", "full"]);
    ok(t, &["put", "db", "k", "v"]);
    ok(
        t,
        &[
            "backup", "db", "--type", "full", "--to", "full.tap", "--format",
        ],
    );
    let good = fs::read(t.join("refdb-history.db")).unwrap();
    let mut flipped = good.clone();
    for i in (100..flipped.len()).step_by(97) {
        flipped[i] ^= 0xff;
    }
    for (name, bytes) in [
        ("flipped.db", flipped),
        ("cut.db", good[..good.len() / 3].to_vec()),
        ("text.db", b"not a database at all".to_vec()),
    ] {
        fs::write(t.join(name), &bytes).unwrap();
        let err = fails(t, &["history", "--history", name]);
        assert!(err.contains(name), "{err}");
        let err = fails(t, &["plan", "db", "--history", name, "--execute", "x"]);
        assert!(err.contains(name), "{err}");
        assert!(!t.join("x").exists());
    }
    // A mistyped history path is not made into a new, empty history.
    let err = fails(t, &["history", "--history", "typo.db"]);
    assert!(err.contains("typo.db"), "{err}");
    let err = fails(t, &["plan", "db", "--history", "typo.db"]);
    assert!(err.contains("typo.db"), "{err}");
    assert!(!t.join("typo.db").exists());
}

#[test]
fn backup_through_two_names_of_one_image_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    ok(t, &["create", "db"]);
    ok(t, &["put", "db", "k", "v"]);
    // A link to an image not made yet, and the image's own name: one file, two families
    // (the second would overwrite the first, and the set would be unrestorable).
    std::os::unix::fs::symlink("new.tap", t.join("alias.tap")).unwrap();
    let err = fails(
        t,
        &[
            "backup",
            "db",
            "--type",
            "full",
            "--to",
            "new.tap",
            "--to",
            "alias.tap",
            "--format",
        ],
    );
    assert!(err.contains("the same device given twice"), "{err}");
    assert!(!t.join("new.tap").exists());
    // Two hard links of one existing image, as two families or as a mirror.
    ok(
        t,
        &[
            "backup", "db", "--type", "full", "--to", "one.tap", "--format",
        ],
    );
    fs::hard_link(t.join("one.tap"), t.join("two.tap")).unwrap();
    let before = fs::read(t.join("one.tap")).unwrap();
    for how in ["--to", "--mirror"] {
        let err = fails(
            t,
            &[
                "backup", "db", "--type", "full", "--to", "one.tap", how, "two.tap", "--init",
            ],
        );
        assert!(err.contains("the same device given twice"), "{how}: {err}");
        assert_eq!(fs::read(t.join("one.tap")).unwrap(), before);
    }
    ok(t, &["restore", "r", "--from", "one.tap"]);
    assert_eq!(refdb(t, &["get", "r", "k"]).1.trim(), "v");
}
