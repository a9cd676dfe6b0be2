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
