//! A user's slips that must never look like success or cost a file: a pattern (or a mistyped
//! medium name, which `extract` reads as a pattern) that selects nothing; an `mtfpack` output
//! that is one of the files being backed up; a source given twice.

mod support;
use support::{run, tree};

use std::path::{Path, PathBuf};
use std::process::Command;

fn bin(name: &str) -> Command {
    Command::new(match name {
        "mtfpack" => env!("CARGO_BIN_EXE_mtfpack"),
        _ => env!("CARGO_BIN_EXE_mtfdump"),
    })
}

/// The one file named `name` under `dir` (the volume directory is named from the source path).
fn find(dir: &Path, name: &str) -> Vec<u8> {
    let hits: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap().into_path())
        .filter(|p| p.ends_with(name))
        .collect();
    assert_eq!(hits.len(), 1, "{name} under {}: {hits:?}", dir.display());
    std::fs::read(&hits[0]).unwrap()
}

fn pack(src: &[&Path], out: &Path) -> (i32, String) {
    let mut c = bin("mtfpack");
    c.args(src).arg("-o").arg(out);
    run(c)
}

#[test]
fn a_pattern_or_mistyped_medium_that_selects_nothing_is_not_success() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tree(tmp.path());
    let m = tmp.path().join("m.bkf");
    assert_eq!(pack(&[&src], &m).0, 0);
    // `m.bkf m2.bkf` where m2.bkf does not exist: it is read as a pattern.
    for (i, pat) in ["nomatch", "m2.bkf", "src/d/zz*"].iter().enumerate() {
        let dir = tmp.path().join(format!("o{i}"));
        let mut c = bin("mtfdump");
        c.args(["extract", "--set", "1", "-C"])
            .arg(&dir)
            .arg(&m)
            .arg(pat);
        let (code, text) = run(c);
        assert_eq!(code, 1, "{pat}: {text}");
        assert!(text.contains(pat), "{pat} named: {text}");
    }
    // One pattern matching and one not: the good one is written, the run still says so.
    let dir = tmp.path().join("mixed");
    let mut c = bin("mtfdump");
    c.args(["extract", "--set", "1", "-C"])
        .arg(&dir)
        .arg(&m)
        .args(["b.txt", "typo.txt"]);
    let (code, text) = run(c);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("typo.txt"), "{text}");
    assert_eq!(find(&dir, "b.txt"), b"bravo");
    // Every pattern matching: exit 0.
    let dir = tmp.path().join("good");
    let mut c = bin("mtfdump");
    c.args(["extract", "--set", "1", "-C"])
        .arg(&dir)
        .arg(&m)
        .args(["b.txt", "d"]);
    let (code, text) = run(c);
    assert_eq!(code, 0, "{text}");
    assert_eq!(find(&dir, "d/a.txt"), b"alpha");
}

#[test]
fn an_output_that_is_a_file_of_the_source_tree_is_refused_and_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tree(tmp.path());
    for out in [src.join("b.txt"), src.join("d/a.txt")] {
        let before = std::fs::read(&out).unwrap();
        let (code, text) = pack(&[&src], &out);
        assert_eq!(code, 2, "{text}");
        assert!(text.contains(&*out.to_string_lossy()), "{text}");
        assert_eq!(std::fs::read(&out).unwrap(), before, "{}", out.display());
    }
    // A previous backup inside the tree is still replaced (and left out), as before.
    let out = src.join("backup.bkf");
    assert_eq!(pack(&[&src], &out).0, 0);
    let (code, text) = pack(&[&src], &out);
    assert_eq!(code, 0, "{text}");
}

#[test]
fn a_source_given_twice_is_refused_before_the_output_is_opened() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tree(tmp.path());
    let out = tmp.path().join("m.bkf");
    assert_eq!(pack(&[&src], &out).0, 0);
    let before = std::fs::read(&out).unwrap();
    let again = src.join("d/..");
    let (code, text) = pack(&[&src, &again], &out);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("twice"), "{text}");
    assert_eq!(std::fs::read(&out).unwrap(), before);
}

#[test]
fn a_fifo_as_output_is_refused_not_replaced_by_a_file() {
    use std::os::unix::fs::FileTypeExt;
    let tmp = tempfile::tempdir().unwrap();
    let src = tree(tmp.path());
    let fifo = tmp.path().join("pipe");
    let ok = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let (code, text) = pack(&[&src], &fifo);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains(&*fifo.to_string_lossy()), "{text}");
    let ft = std::fs::symlink_metadata(&fifo).unwrap().file_type();
    assert!(ft.is_fifo(), "the FIFO was replaced");
}

#[test]
fn an_extraction_killed_midway_leaves_no_half_file_under_the_real_name() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let data: Vec<u8> = (0..64u32 << 20).map(|i| (i % 251) as u8 + 1).collect();
    std::fs::write(src.join("big"), &data).unwrap();
    let m = tmp.path().join("m.bkf");
    assert_eq!(pack(&[&src], &m).0, 0);
    let dir = tmp.path().join("out");
    let mut child = bin("mtfdump")
        .args(["extract", "--set", "1", "-C"])
        .arg(&dir)
        .arg(&m)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it as soon as any file appears in the target.
    let seen = |d: &Path| {
        walkdir::WalkDir::new(d)
            .into_iter()
            .filter_map(|e| e.ok())
            .any(|e| e.file_type().is_file())
    };
    let start = std::time::Instant::now();
    while !seen(&dir) && start.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    for e in walkdir::WalkDir::new(&dir)
        .into_iter()
        .filter_map(|e| e.ok())
    {
        if e.file_name() == "big" {
            let got = std::fs::read(e.path()).unwrap();
            assert!(got == data, "a half file under the real name");
        }
    }
}

#[test]
fn an_empty_or_tiny_medium_is_called_so_never_given_invented_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: [(&str, &[u8], &str); 3] = [
        ("empty.bkf", b"", "0 bytes"),
        ("two.bkf", b"TA", "2 bytes"),
        ("empty.tap", b"", "0 bytes"),
    ];
    for (name, bytes, says) in cases {
        let p = tmp.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        let mut c = bin("mtfdump");
        c.arg("label").arg(&p);
        let (code, text) = run(c);
        assert_eq!(code, 2, "{name}: {text}");
        assert!(text.contains(name) && text.contains(says), "{name}: {text}");
        assert!(!text.contains("00, 00"), "{name}: bytes invented: {text}");
    }
}
