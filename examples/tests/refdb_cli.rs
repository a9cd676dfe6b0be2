//! `refdb`'s commands, their output and their errors.

use std::process::Command;

const REFDB: &str = env!("CARGO_BIN_EXE_refdb");

fn refdb(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(REFDB).args(args).output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8(o.stdout).unwrap(),
        String::from_utf8(o.stderr).unwrap(),
    )
}

#[test]
fn create_put_get_delete_scan_info_set() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("shop");
    let ds = d.to_str().unwrap();
    let (c, out, _) = refdb(&[
        "create",
        ds,
        "--recovery",
        "simple",
        "--filegroup",
        "sales",
        "--filegroup",
        "old:readonly",
    ]);
    assert_eq!(c, 0);
    assert!(out.starts_with("created shop ("), "{out}");
    assert_eq!(refdb(&["put", ds, "apple", "red"]).0, 0);
    assert_eq!(
        refdb(&["put", ds, "pear", "green", "--filegroup", "sales"]).0,
        0
    );
    assert_eq!(refdb(&["get", ds, "apple"]).1, "red\n");
    let (c, _, err) = refdb(&["get", ds, "nothing"]);
    assert_eq!(c, 1);
    assert!(err.contains("no such key"), "{err}");
    let (c, _, err) = refdb(&["put", ds, "k", "v", "--filegroup", "old"]);
    assert_eq!(c, 1);
    assert!(err.contains("read-only"), "{err}");
    assert_eq!(
        refdb(&["scan", ds]).1,
        "PRIMARY\tapple\tred\nsales\tpear\tgreen\n"
    );
    assert_eq!(
        refdb(&["scan", ds, "--filegroup", "sales"]).1,
        "pear\tgreen\n"
    );
    assert_eq!(refdb(&["delete", ds, "apple"]).0, 0);
    assert_eq!(refdb(&["scan", ds, "--filegroup", "PRIMARY"]).1, "");
    let (c, out, _) = refdb(&["check", ds]);
    assert_eq!(c, 0);
    assert!(out.contains("rows: 1\n"), "{out}");
    assert_eq!(
        refdb(&[
            "set",
            ds,
            "--recovery",
            "bulk-logged",
            "--read-write",
            "old"
        ])
        .0,
        0
    );
    let (_, info, _) = refdb(&["info", ds]);
    assert!(
        info.contains("name: shop\n") && info.contains("recovery model: bulk-logged\n"),
        "{info}"
    );
    assert!(info.contains("filegroup old\n"), "{info}");
    assert!(info.contains("file 3 old filegroup old "), "{info}");
    assert_eq!(refdb(&["put", ds, "k", "v", "--filegroup", "old"]).0, 0);
    let (c, out, err) = refdb(&["bulk-load", ds, "--filegroup", "sales", "--rows", "10"]);
    assert_eq!(c, 0, "into a table that has a row: {out}{err}");
    let (c, _, err) = refdb(&["bulk-load", ds, "--filegroup", "sales", "--rows", "10"]);
    assert_eq!(c, 1);
    assert!(err.contains("already in the table"), "{err}");
    let (c, out, _) = refdb(&["check", ds]);
    assert_eq!(c, 0);
    assert!(out.contains("rows: 12\n"), "{out}");
    let (c, log, _) = refdb(&["log", ds]);
    assert_eq!(c, 0);
    assert!(log.contains("checkpoint end"), "{log}");
}

#[test]
fn errors_name_the_directory_and_never_overwrite() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("db");
    let ds = d.to_str().unwrap();
    let (c, _, err) = refdb(&["check", ds]);
    assert_eq!(c, 1);
    assert!(err.contains(ds), "{err}");
    assert_eq!(refdb(&["create", ds]).0, 0);
    let (c, _, err) = refdb(&["create", ds]);
    assert_eq!(c, 1);
    assert!(err.contains("refusing to overwrite"), "{err}");
    let (c, _, err) = refdb(&[
        "create",
        tmp.path().join("x").to_str().unwrap(),
        "--filegroup",
        "../evil",
    ]);
    assert_eq!(c, 1);
    assert!(err.contains("filegroup name"), "{err}");
    assert!(
        !tmp.path().join("x").exists(),
        "a refused create leaves nothing behind"
    );
    let (c, _, _) = refdb(&[
        "create",
        tmp.path().join("y").to_str().unwrap(),
        "--recovery",
        "bogus",
    ]);
    assert_eq!(c, 2, "clap refuses a bad model");
    // A file that is not a database directory.
    let f = tmp.path().join("file");
    std::fs::write(&f, b"hello").unwrap();
    let (c, _, err) = refdb(&["scan", f.to_str().unwrap()]);
    assert_eq!(c, 1);
    assert!(err.contains("not a directory"), "{err}");
}

#[test]
fn files_added_to_filegroups_are_listed_filled_and_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("multi");
    let ds = d.to_str().unwrap();
    let (c, _, err) = refdb(&[
        "create",
        ds,
        "--filegroup",
        "sales",
        "--file",
        "sales:sales2",
        "--file",
        "PRIMARY:extra",
        "--map-extents",
        "1",
    ]);
    assert_eq!(c, 0, "{err}");
    let (c, _, err) = refdb(&["workload", ds, "--ops", "4000", "--value-pad", "1000"]);
    assert_eq!(c, 0, "{err}");
    let (c, out, err) = refdb(&["check", ds]);
    assert_eq!(c, 0, "{out}{err}");
    let (_, info, _) = refdb(&["info", ds]);
    assert!(
        info.contains("allocation map interval: 1 extents\n"),
        "{info}"
    );
    // Both files of each filegroup hold pages past their first interval (8 pages).
    let pages = |name: &str| -> u64 {
        let line = info
            .lines()
            .find(|l| l.starts_with("file ") && l.split(' ').nth(2) == Some(name))
            .unwrap_or_else(|| panic!("{name} not listed: {info}"));
        let n = line.rsplit('(').next().unwrap();
        n.split(' ').next().unwrap().parse().unwrap()
    };
    for (name, path) in [
        ("primary", "primary.mdf"),
        ("sales", "sales.ndf"),
        ("sales2", "sales2.ndf"),
        ("extra", "extra.ndf"),
    ] {
        assert!(pages(name) > 9, "{name}: {info}");
        assert!(d.join(path).exists());
    }
    for bad in ["nosuch:x", "sales", "sales:bad.name"] {
        let (c, _, err) = refdb(&[
            "create",
            tmp.path().join("e").to_str().unwrap(),
            "--file",
            bad,
        ]);
        assert_ne!(c, 0, "{bad}");
        assert!(!err.is_empty());
        assert!(!tmp.path().join("e").exists(), "{bad}: nothing made");
    }
}

fn md5ish(p: &std::path::Path) -> Vec<u8> {
    std::fs::read(p).unwrap()
}

#[test]
fn links_planted_in_a_database_directory_are_never_written_through() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("db");
    let ds = d.to_str().unwrap();
    assert_eq!(refdb(&["create", ds, "--recovery", "simple"]).0, 0);
    assert_eq!(refdb(&["put", ds, "a", "1"]).0, 0);
    // primary.mdf moved out and a symbolic link to it planted in its place.
    let outside = tmp.path().join("outside.mdf");
    std::fs::rename(d.join("primary.mdf"), &outside).unwrap();
    std::os::unix::fs::symlink(&outside, d.join("primary.mdf")).unwrap();
    let before = md5ish(&outside);
    let (c, _, err) = refdb(&["put", ds, "b", "2"]);
    assert_eq!(c, 1, "{err}");
    assert!(
        err.contains("primary.mdf") && err.contains("symbolic link"),
        "{err}"
    );
    assert_eq!(md5ish(&outside), before, "nothing written through the link");
    std::fs::remove_file(d.join("primary.mdf")).unwrap();
    std::fs::rename(&outside, d.join("primary.mdf")).unwrap();
    // A hard link to the log: its other name would see every write.
    let other = tmp.path().join("other-name.ldf");
    std::fs::hard_link(d.join("log.ldf"), &other).unwrap();
    let before = md5ish(&other);
    let (c, _, err) = refdb(&["put", ds, "b", "2"]);
    assert_eq!(c, 1, "{err}");
    assert!(
        err.contains("log.ldf") && err.contains("hard links"),
        "{err}"
    );
    assert_eq!(md5ish(&other), before);
    std::fs::remove_file(&other).unwrap();
    assert_eq!(refdb(&["get", ds, "a"]).1, "1\n");
    // The lock file: a link planted there must not create a file elsewhere.
    std::fs::remove_file(d.join("refdb.lock")).unwrap();
    let target = tmp.path().join("made-by-refdb");
    std::os::unix::fs::symlink(&target, d.join("refdb.lock")).unwrap();
    let (c, _, err) = refdb(&["get", ds, "a"]);
    assert_eq!(c, 1, "{err}");
    assert!(err.contains("refdb.lock"), "{err}");
    assert!(!target.exists(), "no file made through the link");
}

#[test]
fn a_create_that_fails_half_way_takes_back_what_it_made() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("db");
    std::fs::create_dir(&d).unwrap();
    std::fs::write(d.join("notes.txt"), b"mine").unwrap();
    // A dangling link where the log goes: the data files are made before the log fails.
    std::os::unix::fs::symlink(tmp.path().join("nowhere"), d.join("log.ldf")).unwrap();
    let ds = d.to_str().unwrap();
    let (c, _, err) = refdb(&["create", ds, "--filegroup", "sales"]);
    assert_eq!(c, 1, "{err}");
    assert!(err.contains("log.ldf"), "{err}");
    assert!(!d.join("primary.mdf").exists() && !d.join("sales.ndf").exists());
    assert!(!tmp.path().join("nowhere").exists());
    assert_eq!(std::fs::read(d.join("notes.txt")).unwrap(), b"mine");
    std::fs::remove_file(d.join("log.ldf")).unwrap();
    let (c, _, err) = refdb(&["create", ds, "--filegroup", "sales"]);
    assert_eq!(c, 0, "run again once the link is gone: {err}");
}

#[test]
fn garbage_numbers_and_a_database_with_nowhere_to_write_are_errors_not_panics() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("db");
    let ds = d.to_str().unwrap();
    assert_eq!(refdb(&["create", ds, "--filegroup", "old:readonly"]).0, 0);
    assert_eq!(refdb(&["set", ds, "--read-only", "PRIMARY"]).0, 0);
    let (c, _, err) = refdb(&["workload", ds, "--ops", "10"]);
    assert_eq!(c, 1, "{err}");
    assert!(
        err.contains("read-only") && !err.contains("panicked"),
        "{err}"
    );
    for threads in ["0", "100000"] {
        let (c, _, err) = refdb(&["workload", ds, "--ops", "10", "--threads", threads]);
        assert_eq!(c, 2, "--threads {threads}: {err}");
    }
    // Rows are built in memory: a number past the bound is refused before any is made.
    let (c, _, err) = refdb(&[
        "bulk-load",
        ds,
        "--filegroup",
        "old",
        "--rows",
        "100000000000",
    ]);
    assert_eq!(c, 2, "{err}");
    let (c, out, _) = refdb(&["check", ds]);
    assert_eq!(c, 0, "{out}");
}
