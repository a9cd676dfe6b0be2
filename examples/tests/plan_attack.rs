//! `mtfdump plan` under attack: copies of the same set, hostile file and database names in the
//! script and on the terminal. Expectations come from the restore rules and the chain's
//! PROVENANCE (full + differential + 3 logs to the latest point), never from the planner.

#[path = "../../mtf/tests/common/mod.rs"]
mod common;

use mtf_examples::dump::plan::{run, Format, PlanArgs};
use mtf_examples::dump::Outcome;
use std::path::PathBuf;

fn chain_dir() -> Option<PathBuf> {
    common::foreign_dir().map(|d| d.join("chains/restoretimeclean-2008r2"))
}

fn plan(paths: Vec<PathBuf>, stopat: Option<&str>, format: Format) -> (String, Outcome) {
    let args = PlanArgs {
        paths,
        stopat: stopat.map(String::from),
        ..Default::default()
    };
    let mut out = Vec::new();
    let outcome = run(&args, format, &mut out).expect("plan runs");
    (String::from_utf8(out).unwrap(), outcome)
}

/// Does `f` to each file of `dir`.
fn each_file(dir: &std::path::Path, f: impl Fn(&std::path::Path) -> std::io::Result<()>) {
    for e in std::fs::read_dir(dir).unwrap() {
        f(&e.unwrap().path()).unwrap();
    }
}

/// A truncated copy of the differential lies next to the intact one (an interrupted copy to the
/// share). The intact copy is the same set and restores: the plan is the one PROVENANCE gives
/// for the latest point (full, differential, the differential's 3 logs), and it names the
/// intact file, never the damaged one.
#[test]
fn a_damaged_copy_does_not_hide_an_intact_copy_of_the_same_set() {
    let Some(dir) = chain_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    each_file(&dir, |p| {
        std::fs::copy(p, tmp.path().join(p.file_name().unwrap())).map(drop)
    });
    // Named to sort (and be found) before the intact copy.
    let bytes = std::fs::read(dir.join("RestoreTimeClean2.bak")).unwrap();
    std::fs::write(tmp.path().join("0-partial-copy.bak"), &bytes[..300_000]).unwrap();
    let (out, outcome) = plan(vec![tmp.path().to_path_buf()], None, Format::Json);
    assert_eq!(outcome, Outcome::Ok, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let steps: Vec<String> = v["plans"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let f = s["files"][0].as_str().unwrap();
            f.rsplit('/').next().unwrap().to_string()
        })
        .collect();
    assert_eq!(
        steps,
        [
            "RestoreTimeClean.bak",
            "RestoreTimeClean2.bak",
            "RestoreTimeClean2_1.trn",
            "RestoreTimeClean2_2.trn",
            "RestoreTimeClean2_3.trn"
        ]
    );
}

/// A file name with a line break ends a `--` comment of the script: what follows would run as
/// T-SQL. Every line of the script must be a comment or a RESTORE statement, and the script
/// must carry no terminal control characters.
#[test]
fn hostile_file_names_cannot_break_out_of_the_scripts_comments() {
    let Some(dir) = chain_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let evil = "x\nGO\nDROP DATABASE master;--\x1b[31m.trn";
    std::fs::copy(dir.join("RestoreTimeClean.bak"), tmp.path().join("a.bak")).unwrap();
    std::fs::copy(dir.join("RestoreTimeClean_1.trn"), tmp.path().join(evil)).unwrap();
    std::fs::copy(dir.join("RestoreTimeClean_3.trn"), tmp.path().join("z.trn")).unwrap();
    // The gap after the evil-named log is reported in comments naming it.
    let (script, outcome) = plan(vec![tmp.path().to_path_buf()], None, Format::Tsql);
    assert_eq!(outcome, Outcome::Problems);
    assert!(script.contains("LSN gap"), "{script}");
    for line in script.lines() {
        assert!(
            line.starts_with("--") || line.starts_with("RESTORE "),
            "a line that is neither a comment nor a RESTORE: {line:?}\n{script}"
        );
    }
    assert!(!script.contains('\x1b'), "{script:?}");
    // The text form shows every plan line as one line, without raw control characters.
    let (text, _) = plan(vec![tmp.path().to_path_buf()], None, Format::Text);
    assert!(!text.contains('\x1b'), "{text:?}");
    assert!(!text.lines().any(|l| l == "GO"), "{text}");
}

/// A file whose name is not UTF-8 cannot be named in a T-SQL script, JSON or the history (its
/// name would be replaced by U+FFFD: a file that does not exist). It is refused by name, never
/// planned under a name that is not its own.
#[cfg(unix)]
#[test]
fn a_file_name_that_is_not_utf8_is_refused_by_name_not_mangled() {
    use std::os::unix::ffi::OsStrExt;
    let Some(dir) = chain_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let name = std::ffi::OsStr::from_bytes(b"caf\xe9.bak");
    std::fs::copy(dir.join("RestoreTimeClean.bak"), tmp.path().join(name)).unwrap();
    let args = PlanArgs {
        paths: vec![tmp.path().to_path_buf()],
        ..Default::default()
    };
    let mut out = Vec::new();
    match run(&args, Format::Tsql, &mut out) {
        Ok(o) => panic!(
            "planned ({o:?}) from a file it cannot name:\n{}",
            String::from_utf8_lossy(&out)
        ),
        Err(e) => assert!(e.to_string().contains("not valid UTF-8"), "{e}"),
    }
}

/// A folder of links to the backup files (a share arranged by links), with a link back to
/// itself: the linked files are read like files, the loop is not followed, and the plan is
/// PROVENANCE's for the latest point.
#[cfg(unix)]
#[test]
fn a_folder_of_links_to_backups_plans_like_the_files_and_a_loop_is_not_followed() {
    let Some(dir) = chain_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    each_file(&dir, |p| {
        std::os::unix::fs::symlink(p, tmp.path().join(p.file_name().unwrap()))
    });
    std::os::unix::fs::symlink(tmp.path(), tmp.path().join("loop")).unwrap();
    let (out, outcome) = plan(vec![tmp.path().to_path_buf()], None, Format::Json);
    assert_eq!(outcome, Outcome::Ok, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["plans"].as_array().unwrap().len(), 1);
    assert_eq!(v["plans"][0]["steps"].as_array().unwrap().len(), 5, "{out}");
}

/// `--stopat 13:22:44.9` asks for the transactions up to 44.9 s; a plan that silently stops at
/// 13:22:44 loses those committed in the last 0.9 s. Fractions are refused by name (the issue's
/// form is YYYY-MM-DDTHH:MM:SS), never dropped; so is a date that does not exist.
#[test]
fn stopat_with_a_fraction_or_an_impossible_date_is_refused_not_truncated() {
    let Some(dir) = chain_dir() else { return };
    for bad in [
        "2017-06-01T13:22:44.9",
        "2017-02-30T13:22:44",
        "2017-06-01T13:22:44+02:00",
    ] {
        let args = PlanArgs {
            paths: vec![dir.clone()],
            stopat: Some(bad.into()),
            ..Default::default()
        };
        let mut out = Vec::new();
        let e = run(&args, Format::Json, &mut out).expect_err(bad);
        assert!(e.to_string().contains("--stopat"), "{e}");
        assert!(out.is_empty());
    }
}

/// The history is read later, from another folder or host (`plan --history`): a path
/// recorded relative to the folder the import ran in would make the script name files that
/// are not there. Like msdb's `physical_device_name`, the history records absolute paths.
#[test]
fn history_import_of_a_relative_path_records_absolute_paths() {
    let Some(dir) = chain_dir() else { return };
    let cwd = std::env::current_dir().unwrap();
    let Some(rel) = cwd
        .parent()
        .and_then(|p| dir.strip_prefix(p).ok())
        .map(|rest| PathBuf::from("..").join(rest))
    else {
        return;
    };
    assert!(rel.is_relative() && rel.is_dir());
    let tmp = tempfile::tempdir().unwrap();
    let h = tmp.path().join("h.db");
    let mut out = Vec::new();
    mtf_examples::dump::history::run_import(&[rel], &h, false, &mut out).unwrap();
    let mut out = Vec::new();
    mtf_examples::dump::history::run_list(&h, None, true, &mut out).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let rows = v["backups"].as_array().unwrap();
    assert_eq!(rows.len(), 8);
    for r in rows {
        for f in r["files"].as_array().unwrap() {
            let f = f.as_str().unwrap();
            assert!(std::path::Path::new(f).is_absolute(), "{f}");
            assert!(std::path::Path::new(f).is_file(), "{f}");
        }
    }
}

/// The history learns of a set from a damaged copy first (an interrupted copy imported from
/// one share), then from an intact copy (another share), or the other way round; and a plan
/// may combine a history holding the damaged copy with the intact file given. In every order
/// the set is restorable from the intact copy: the plan is PROVENANCE's latest (full,
/// differential, 3 logs) and names the intact file.
#[test]
fn an_intact_copy_imported_before_or_after_a_damaged_one_makes_the_set_usable() {
    let Some(dir) = chain_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let bad_dir = tmp.path().join("partial");
    std::fs::create_dir(&bad_dir).unwrap();
    let bytes = std::fs::read(dir.join("RestoreTimeClean2.bak")).unwrap();
    std::fs::write(bad_dir.join("RestoreTimeClean2.bak"), &bytes[..300_000]).unwrap();
    let expect = [
        "RestoreTimeClean.bak",
        "RestoreTimeClean2.bak",
        "RestoreTimeClean2_1.trn",
        "RestoreTimeClean2_2.trn",
        "RestoreTimeClean2_3.trn",
    ];
    let check = |args: PlanArgs, what: &str| {
        let mut out = Vec::new();
        let outcome = run(&args, Format::Json, &mut out).expect("plan runs");
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(outcome, Outcome::Ok, "{what}: {v}");
        let steps = v["plans"][0]["steps"].as_array().unwrap();
        let names: Vec<&str> = steps
            .iter()
            .map(|s| s["files"][0].as_str().unwrap().rsplit('/').next().unwrap())
            .collect();
        assert_eq!(names, expect, "{what}");
        let diff = steps[1]["files"][0].as_str().unwrap();
        assert!(!diff.contains("partial"), "{what}: {diff}");
    };
    for (i, order) in [
        [bad_dir.clone(), dir.clone()],
        [dir.clone(), bad_dir.clone()],
    ]
    .iter()
    .enumerate()
    {
        let h = tmp.path().join(format!("h{i}.db"));
        for p in order {
            let mut out = Vec::new();
            mtf_examples::dump::history::run_import(std::slice::from_ref(p), &h, false, &mut out)
                .unwrap();
        }
        check(
            PlanArgs {
                history: Some(h),
                ..Default::default()
            },
            &format!("history, import order {i}"),
        );
    }
    // The history knows only the damaged copy; the intact file is given with it.
    let h = tmp.path().join("hbad.db");
    let mut out = Vec::new();
    mtf_examples::dump::history::run_import(std::slice::from_ref(&bad_dir), &h, false, &mut out)
        .unwrap();
    check(
        PlanArgs {
            history: Some(h),
            paths: vec![dir.clone()],
            ..Default::default()
        },
        "history and media",
    );
}

/// An error naming a path the user gave (a typo, a hostile name pasted from a listing) must not
/// carry its control characters raw to the terminal (an escape sequence can rewrite the
/// screen or the window title); the exit status is 2.
#[test]
fn errors_print_paths_without_raw_control_characters() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mtfdump"))
        .args(["plan", "/nonexistent/\x1b]0;pwned\x07\x1b[2J.bak"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nonexistent"), "{err}");
    assert!(!err.contains('\x1b') && !err.contains('\x07'), "{err:?}");
}
