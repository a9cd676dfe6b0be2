//! The dumper on hostile input: names that try to escape the target directory are refused and
//! reported, damaged media are listed and extracted around the damage, and no truncation or
//! byte flip makes any subcommand panic.

#[path = "../../mtf/tests/common/mod.rs"]
mod common;

use mtf_examples::dump::{self, Options, Outcome};
use std::path::{Path, PathBuf};

fn opts(strict: bool) -> Options {
    Options {
        json: false,
        strict,
        progress: false,
    }
}

fn small_bkf() -> Vec<u8> {
    std::fs::read(common::workspace_root().join("testdata/small.bkf")).unwrap()
}

/// Replaces the first occurrence of `from` (UTF-16LE) by `to` (same length in UTF-16 units).
fn patch_name(bytes: &mut [u8], from: &str, to: &str) {
    let f: Vec<u8> = from.encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
    let t: Vec<u8> = to.encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
    assert_eq!(f.len(), t.len());
    let at = bytes
        .windows(f.len())
        .position(|w| w == f)
        .expect("name present");
    bytes[at..at + t.len()].copy_from_slice(&t);
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// Runs every command; returns whether `verify` said the media are intact (exit 0).
fn run_all(paths: &[PathBuf], out_dir: &Path, strict: bool) -> bool {
    let o = opts(strict);
    let mut sink = Vec::new();
    let _ = dump::label::run(paths, &o, &mut sink);
    let _ = dump::sets::run(paths, &o, &mut sink);
    let _ = dump::ls::run(paths, None, &o, &mut sink);
    let verified = matches!(dump::verify::run(paths, &o, &mut sink), Ok(r) if r.exit_code() == 0);
    let _ = dump::blocks::run(paths, &o, &mut sink);
    let _ = dump::extract::run(paths, 1, out_dir, &[], &o, &mut sink);
    verified
}

/// The names directly in `dir`, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Where a medium may end and still be whole: just past each soft filemark that closes a set
/// (an SFMB after an ESET), as the codec walk of the whole medium finds them.
fn set_ends(bytes: &[u8]) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut after_eset = false;
    for ev in mtf::walk::Walker::new(bytes).map_while(|e| e.ok()) {
        if let mtf::walk::Event::Block { offset, dblk } = &ev {
            match dblk.block_type() {
                mtf::BlockType::ESET => after_eset = true,
                mtf::BlockType::SFMB if after_eset => {
                    ends.push((*offset + ev.len()) as usize);
                    after_eset = false;
                }
                _ => {}
            }
        }
    }
    ends
}

#[test]
fn escaping_names_are_refused_and_reported() {
    if !common::workspace_root().join("testdata/small.bkf").exists() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    for (from, to, reason) in [
        ("readme.txt", "../evil.tx", "contains a path separator"),
        ("readme.txt", "..", "parent directory"),
        ("readme.txt", "/etc/passw", "absolute path"),
        ("readme.txt", "C:evil.txt", "drive letter"),
        ("readme.txt", "a\0evil.txt", "NUL"),
        ("readme.txt", "..\\..\\x.tx", "contains a path separator"),
        ("reports", "..\0\0\0\0\0", "parent directory"),
    ] {
        let mut b = small_bkf();
        let to_padded = if to.chars().count() < from.chars().count() {
            // Shorter names: pad the UTF-16 with NULs inside the same field (refused as NUL).
            format!(
                "{to}{}",
                "\0".repeat(from.chars().count() - to.chars().count())
            )
        } else {
            to.to_string()
        };
        patch_name(&mut b, from, &to_padded);
        let media = write(tmp.path(), "evil.bkf", &b);
        let out = tmp.path().join("out");
        let _ = std::fs::remove_dir_all(&out);
        let mut text = Vec::new();
        let outcome = dump::extract::run(&[media], 1, &out, &[], &opts(false), &mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert_eq!(outcome, Outcome::Problems, "{to:?}: {text}");
        assert!(text.contains("refused"), "{to:?}: {text}");
        assert!(
            text.contains(reason) || text.contains("NUL"),
            "{to:?} should be refused for {reason}: {text}"
        );
        // Nothing escaped: the only things next to `out` are the medium and `out` itself.
        let mut names: Vec<String> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["evil.bkf", "out"], "{to:?}");
        assert!(!Path::new("/etc/passw").exists());
        // Everything else of the set is still there.
        assert!(out.join("photos/image.raw").exists(), "{to:?}: {text}");
    }
}

#[test]
fn extracted_files_have_the_packed_contents() {
    let path = common::workspace_root().join("testdata/small.bkf");
    if !path.exists() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let mut text = Vec::new();
    // Set 2 was packed from the whole tree, with CSUM streams.
    let o = dump::extract::run(&[path], 2, &out, &[], &opts(false), &mut text).unwrap();
    assert_eq!(o, Outcome::Ok, "{}", String::from_utf8_lossy(&text));
    let vol = std::fs::read_dir(&out)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert_eq!(
        std::fs::read(vol.join("docs/readme.txt")).unwrap(),
        b"Hello, tape.\n"
    );
    assert_eq!(
        std::fs::read(vol.join("docs/reports/2026/q3.csv")).unwrap(),
        "quarterly numbers\n".repeat(200).as_bytes()
    );
    let raw: Vec<u8> = (0..100_000u32)
        .map(|i| ((i * 37 + 11) % 256) as u8)
        .collect();
    assert_eq!(std::fs::read(vol.join("photos/image.raw")).unwrap(), raw);
    assert_eq!(
        std::fs::read_to_string(vol.join("日本語/ファイル.txt")).unwrap(),
        "grüße\n"
    );
    assert!(vol.join("empty-dir").is_dir());
    let mtime = std::fs::metadata(vol.join("docs/readme.txt"))
        .unwrap()
        .modified()
        .unwrap();
    // 2026-01-02 03:04:05 UTC.
    assert_eq!(
        mtime
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
        1_767_323_045
    );
    // A pattern selects.
    let out2 = tmp.path().join("out2");
    let path = common::workspace_root().join("testdata/small.bkf");
    dump::extract::run(
        &[path],
        2,
        &out2,
        &["*.csv".to_string()],
        &opts(false),
        &mut Vec::new(),
    )
    .unwrap();
    let vol = std::fs::read_dir(&out2)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert!(vol.join("docs/reports/2026/q3.csv").exists());
    assert!(!vol.join("docs/readme.txt").exists());
}

#[test]
fn damage_is_stepped_over_and_reported() {
    let Some(p) = common::foreign("sql2005_multiset_stdb2sql.bak") else {
        return;
    };
    let mut b = std::fs::read(&p).unwrap();
    // Wreck set 2's VOLB and MSCI (1805824..1808896): garbage over three FLBs.
    for (i, x) in b[1805824..1808896].iter_mut().enumerate() {
        *x = (i * 7 + 1) as u8;
    }
    let tmp = tempfile::tempdir().unwrap();
    let m = write(tmp.path(), "damaged.bak", &b);
    let mut text = Vec::new();
    let o = dump::verify::run(std::slice::from_ref(&m), &opts(false), &mut text).unwrap();
    let text = String::from_utf8(text).unwrap();
    assert_eq!(o, Outcome::Problems);
    assert!(
        text.contains("damaged: 3072 bytes at offset 1805824"),
        "{text}"
    );
    // Both sets are still listed; set 2 has lost its VOLB and MQCI details only.
    let mut text = Vec::new();
    dump::sets::run(std::slice::from_ref(&m), &opts(false), &mut text).unwrap();
    let text = String::from_utf8(text).unwrap();
    assert!(text.contains("set 2 (data set number 2"), "{text}");
    // Strict mode stops at the damage.
    let err =
        dump::verify::run(std::slice::from_ref(&m), &opts(true), &mut Vec::new()).unwrap_err();
    assert!(err.to_string().contains("checksum mismatch"), "{err}");
    // Set 2's data is still extracted around the damage.
    let out = tmp.path().join("out");
    let mut text = Vec::new();
    dump::extract::run(&[m], 2, &out, &[], &opts(false), &mut text).unwrap();
    let text = String::from_utf8(text).unwrap();
    assert!(text.contains("MQDA (1703938 bytes)"), "{text}");
}

#[test]
fn truncations_and_flips_never_panic() {
    let mut inputs: Vec<(String, Vec<u8>)> = Vec::new();
    if let Some(p) = common::foreign("sql2008r2_log_nodata.trn") {
        inputs.push(("nodata.trn".into(), std::fs::read(p).unwrap()));
    }
    let own = common::workspace_root().join("testdata/small.bkf");
    if own.exists() {
        inputs.push(("small.bkf".into(), std::fs::read(own).unwrap()));
    }
    for (name, bytes) in inputs {
        // A directory of its own per medium: only it and the target may appear there.
        let tmp = tempfile::tempdir().unwrap();
        let step = (bytes.len() / 60).max(1);
        let mut cuts: Vec<usize> = (0..bytes.len()).step_by(step).collect();
        cuts.extend([
            1,
            7,
            51,
            52,
            53,
            511,
            512,
            513,
            1023,
            1024,
            1025,
            bytes.len() - 1,
        ]);
        let whole = set_ends(&bytes);
        assert!(!whole.is_empty(), "{name}: no closed set");
        let mut expected = [name.clone(), "out".to_string()];
        expected.sort();
        for cut in cuts {
            let cut = cut.min(bytes.len());
            let p = write(tmp.path(), &name, &bytes[..cut]);
            let out = tmp.path().join("out");
            let _ = std::fs::remove_dir_all(&out);
            let ok = run_all(std::slice::from_ref(&p), &out, false);
            let ok_strict = run_all(&[p], &out, true);
            // A cut medium verifies only where it ends with a closed set (an earlier, whole
            // medium: small.bkf before its second set was appended).
            if cut < bytes.len() && !whole.contains(&cut) {
                assert!(!ok && !ok_strict, "{name} cut at {cut} verified OK");
            }
            // Nothing was written beside the medium and the target directory.
            let found = entries(tmp.path());
            assert!(
                found.iter().all(|e| expected.contains(e)),
                "{name} cut at {cut}: {found:?} beside the target"
            );
        }
        let flip_step = (bytes.len() / 80).max(1);
        for at in (0..bytes.len())
            .step_by(flip_step)
            .chain([8, 50, 84, 140, 1024 + 56, 1536 + 62])
        {
            if at >= bytes.len() {
                continue;
            }
            let mut b = bytes.clone();
            b[at] ^= 0xFF;
            let p = write(tmp.path(), &name, &b);
            let out = tmp.path().join("out");
            let _ = std::fs::remove_dir_all(&out);
            run_all(&[p], &out, false);
            let found = entries(tmp.path());
            assert!(
                found.iter().all(|e| expected.contains(e)),
                "{name} byte {at} flipped: {found:?} beside the target"
            );
        }
    }
}
