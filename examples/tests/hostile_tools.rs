//! The other tools under user mistakes and hostile media: `roundtrip X -o X` never empties X,
//! `mt` never creates a file for a query or a typo, a cut `.tap` image still lists what lies
//! before the cut, standard input streams where a command can stream and is refused by name
//! where it cannot, errors name the file and the operation (as JSON with `--json`), and
//! strings from a medium never reach the terminal with control characters.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

fn bin(name: &str) -> Command {
    Command::new(match name {
        "mtfdump" => env!("CARGO_BIN_EXE_mtfdump"),
        "mtfpack" => env!("CARGO_BIN_EXE_mtfpack"),
        _ => env!("CARGO_BIN_EXE_mt"),
    })
}

fn run(mut c: Command) -> (i32, String, String) {
    let o = c.output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn packed(dir: &Path, out: &str, extra: &[&str]) -> std::path::PathBuf {
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("d")).unwrap();
    for i in 0..20 {
        std::fs::write(src.join(format!("d/f{i:02}")), vec![i as u8; 20_000]).unwrap();
    }
    let o = dir.join(out);
    let mut c = bin("mtfpack");
    c.arg(&src).arg("-o").arg(&o).args(extra);
    let (code, _, err) = run(c);
    assert_eq!(code, 0, "{err}");
    o
}

#[test]
fn roundtrip_never_overwrites_its_input() {
    let tmp = tempfile::tempdir().unwrap();
    let m = packed(tmp.path(), "m.bkf", &[]);
    let before = std::fs::read(&m).unwrap();
    let link = tmp.path().join("link.bkf");
    std::os::unix::fs::symlink(&m, &link).unwrap();
    for out in [&m, &link] {
        let mut c = bin("mtfdump");
        c.arg("roundtrip").arg(&m).arg("-o").arg(out);
        let (code, _, err) = run(c);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("refusing to overwrite"), "{err}");
        assert!(std::fs::read(&m).unwrap() == before, "the input changed");
    }
}

#[test]
fn mt_creates_an_image_only_when_asked() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("typo.tap");
    for args in [vec!["status"], vec!["weof", "1"], vec!["rewind"]] {
        let mut c = bin("mt");
        c.arg("-f").arg(&missing).args(&args);
        let (code, _, err) = run(c);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains("--create"), "{err}");
        assert!(!missing.exists(), "{args:?} created {}", missing.display());
    }
    // $TAPE naming nothing: no file either.
    let mut c = bin("mt");
    c.env("TAPE", &missing).arg("status");
    let (code, _, _) = run(c);
    assert_eq!(code, 2);
    assert!(!missing.exists());
    let mut c = bin("mt");
    c.arg("-f").arg(&missing).arg("--create").arg("status");
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{out}{err}");
    assert!(missing.exists());
}

#[test]
fn a_cut_tape_image_lists_what_lies_before_the_cut() {
    let tmp = tempfile::tempdir().unwrap();
    let tap = packed(tmp.path(), "m.tap", &["--block-size", "16384"]);
    let bytes = std::fs::read(&tap).unwrap();
    let cut = tmp.path().join("cut.tap");
    // Cut in the middle of a record, past the first files.
    std::fs::write(&cut, &bytes[..bytes.len() / 2 + 5]).unwrap();
    let mut c = bin("mtfdump");
    c.arg("ls").arg(&cut);
    let (code, out, err) = run(c);
    assert_ne!(code, 0, "a cut image is not whole:\n{out}{err}");
    for f in ["d/f00", "d/f01", "d/f05"] {
        assert!(out.contains(f), "{f} before the cut:\n{out}{err}");
    }
    assert!(
        std::fs::read(&cut).unwrap().len() == bytes.len() / 2 + 5,
        "read-only"
    );
}

#[test]
fn standard_input_streams_where_it_can_and_is_refused_by_name_where_it_cannot() {
    let tmp = tempfile::tempdir().unwrap();
    let m = packed(tmp.path(), "m.bkf", &[]);
    let bytes = std::fs::read(&m).unwrap();
    for (cmd, ok) in [
        ("label", true),
        ("sets", true),
        ("blocks", true),
        ("ls", false),
    ] {
        let mut c = bin("mtfdump");
        c.arg(cmd)
            .arg("-")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let data = bytes.clone();
        let feeder = std::thread::spawn(move || {
            let _ = stdin.write_all(&data);
        });
        let o = child.wait_with_output().unwrap();
        feeder.join().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        let out = String::from_utf8_lossy(&o.stdout);
        if ok {
            assert_eq!(o.status.code(), Some(0), "{cmd}: {out}{err}");
            assert!(!err.contains("Illegal seek"), "{cmd}: {err}");
        } else {
            assert_eq!(o.status.code(), Some(2), "{cmd}: {out}{err}");
            assert!(err.contains("stdin") && err.contains("only once"), "{err}");
        }
    }
}

#[test]
fn errors_name_the_file_and_the_operation_and_are_json_with_json() {
    let mut c = bin("mtfdump");
    c.arg("label").arg("/dev/zero");
    let (code, _, err) = run(c);
    assert_eq!(code, 2);
    assert!(
        err.contains("/dev/zero") && err.contains("not an st tape"),
        "{err}"
    );
    let mut c = bin("mtfdump");
    c.arg("--json").arg("verify").arg("/nonexistent/x.bkf");
    let (code, out, _) = run(c);
    assert_eq!(code, 2);
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON on stdout");
    let e = v["error"].as_str().unwrap();
    assert!(
        e.contains("/nonexistent/x.bkf") && e.contains("open"),
        "{e}"
    );
}

#[test]
fn strings_from_a_medium_are_printed_with_control_characters_escaped() {
    let tmp = tempfile::tempdir().unwrap();
    let m = packed(
        tmp.path(),
        "m.bkf",
        &[
            "--name",
            "evil\x1b[2J\nforged line",
            "--media-name",
            "m\x07\r",
            "--machine",
            "h\x1b]0;x\x07",
        ],
    );
    for cmd in ["label", "sets", "ls", "verify", "blocks"] {
        let mut c = bin("mtfdump");
        c.arg(cmd).arg(&m);
        let (_, out, err) = run(c);
        for bad in ['\x1b', '\x07', '\r'] {
            assert!(!out.contains(bad), "{cmd} printed {bad:?}: {out:?}");
            assert!(!err.contains(bad), "{cmd} printed {bad:?}: {err:?}");
        }
        assert!(
            !out.lines().any(|l| l.starts_with("forged line")),
            "{cmd}: {out}"
        );
    }
}

#[test]
fn extract_replaces_only_when_asked_and_removes_damaged_files_on_request() {
    let tmp = tempfile::tempdir().unwrap();
    let m = packed(tmp.path(), "m.bkf", &["--csum"]);
    let out = tmp.path().join("out");
    let extract = |extra: &[&str]| {
        let mut c = bin("mtfdump");
        c.arg("extract")
            .arg("--set")
            .arg("1")
            .arg("-C")
            .arg(&out)
            .arg(&m)
            .args(extra);
        run(c)
    };
    let (code, text, err) = extract(&[]);
    assert_eq!(code, 0, "{text}{err}");
    let f = walkdir::WalkDir::new(&out)
        .into_iter()
        .map(|e| e.unwrap().into_path())
        .find(|p| p.ends_with("d/f03"))
        .unwrap();
    std::fs::write(&f, b"the user's edit").unwrap();
    let (code, text, _) = extract(&[]);
    assert_eq!(code, 1, "{text}");
    assert_eq!(std::fs::read(&f).unwrap(), b"the user's edit");
    let (code, text, err) = extract(&["--replace"]);
    assert_eq!(code, 0, "{text}{err}");
    assert_eq!(std::fs::read(&f).unwrap(), vec![3u8; 20_000]);
    // One byte of f05's data changed: with --remove-damaged it is not kept at all.
    let mut bytes = std::fs::read(&m).unwrap();
    let at = bytes
        .windows(20_000)
        .position(|w| w == [5u8; 20_000])
        .unwrap();
    bytes[at + 100] ^= 1;
    std::fs::write(&m, &bytes).unwrap();
    std::fs::remove_dir_all(&out).unwrap();
    let (code, text, _) = extract(&["--remove-damaged"]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("d/f05: CSUM mismatch") && text.contains("not kept"),
        "{text}"
    );
    let left: Vec<_> = walkdir::WalkDir::new(&out)
        .into_iter()
        .map(|e| e.unwrap().into_path())
        .filter(|p| p.to_string_lossy().contains("f05"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// Standard output closed before anything is written (`| head` that has already left): the
/// error is still an exit code, never a panic, in text and in JSON.
#[test]
fn a_closed_standard_output_is_an_error_not_a_panic() {
    for json in [false, true] {
        let (r, w) = std::io::pipe().unwrap();
        drop(r);
        let mut c = bin("mtfdump");
        if json {
            c.arg("--json");
        }
        let out = c
            .args(["ls", "/nonexistent/medium.bkf"])
            .stdout(w)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "json {json}: {err}");
        assert_eq!(out.status.code(), Some(2), "json {json}: {err}");
    }
}

/// `mt status` into a pipe closed before it writes (`| head -0`): ended by SIGPIPE as mt-st is,
/// never a panic.
#[test]
fn mt_into_a_closed_pipe_ends_without_a_panic() {
    use std::os::unix::process::ExitStatusExt;
    let tmp = tempfile::tempdir().unwrap();
    let image = tmp.path().join("t.tap");
    let mut c = bin("mt");
    c.arg("-f").arg(&image).arg("--create").arg("status");
    assert_eq!(run(c).0, 0);
    let (r, w) = std::io::pipe().unwrap();
    drop(r);
    let out = bin("mt")
        .arg("-f")
        .arg(&image)
        .arg("status")
        .stdout(w)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGPIPE),
        "{:?} {err}",
        out.status
    );
}
