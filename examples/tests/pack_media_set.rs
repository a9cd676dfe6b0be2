//! mtfpack's media-set path end to end: a tree striped over three tape images whose capacity
//! forces continuation media from a `--changer` directory, read back through the `media` crate
//! on one device and on three; a refused run (wrong media name on init) exits non-zero with the
//! decision's reasons and leaves every image byte for byte as it was.

use media::changer::dir::DirectoryLibrary;
use media::changer::MediaChanger;
use media::restore::{restore, MemoryFiles, ReadSpec};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Every file's size: 60 files, 20 per family.
const FILE: u64 = 48 * 1024;
/// The capacity of the images, and the block size.
const CAP: u64 = 400_000;
const BLOCK: u64 = 4096;

/// Bounds on the media a family fills, from the layout rules and mtfpack's documented tape
/// images alone (not from the writer): with `--stripe-in-turn` file k goes to family
/// `k mod 3 + 1`, so each family holds 20 files, 983,040 bytes. A medium holds at most `CAP - BLOCK`
/// bytes of data (its TAPE header takes a block): 983,040 / 395,904 = 2.48, so at least 3
/// media. Every medium but the last is written up to the early warning, which mtfpack's images
/// give 1/32 of the capacity before the end but at least 8 blocks (32,768 bytes), and gives at
/// most 16 KiB to its own overhead (TAPE block, SSET/VOLB/DIRB/FILE FLBs, the ESPB at the cut)
/// and 3 KiB per file (DIRB, FILE, stream headers in 1 KiB FLBs): the first n - 1 media hold at
/// least (n - 1) * 350,848 bytes of the family's 983,040 + 61,440, so n - 1 <= 2.98 and n <= 3.
/// Each family fills exactly 3 media, 2 of them continuation media, whatever the timing.
fn media_bounds() -> (usize, usize) {
    let bytes = 20 * FILE;
    let lo = bytes.div_ceil(CAP - BLOCK);
    let ew = (CAP / 32).max(8 * BLOCK);
    let hi = (bytes + 20 * 3072) / (CAP - ew - 16 * 1024) + 1;
    (lo as usize, hi as usize)
}

fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut want = BTreeMap::new();
    let mut rng = fastrand::Rng::with_seed(42);
    for i in 0..60 {
        let dir = format!("d{}", i % 4);
        std::fs::create_dir_all(root.join(&dir)).unwrap();
        let mut data = vec![0u8; FILE as usize];
        rng.fill(&mut data);
        std::fs::write(root.join(&dir).join(format!("f{i:02}.bin")), &data).unwrap();
        want.insert(format!("{dir}/f{i:02}.bin"), data);
    }
    want
}

/// A temporary directory with the source tree in `src` (and what a restore should give) and
/// an empty library directory `lib`.
fn workspace() -> (
    tempfile::TempDir,
    std::path::PathBuf,
    BTreeMap<String, Vec<u8>>,
    std::path::PathBuf,
) {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let want = tree(&src);
    let lib = tmp.path().join("lib");
    std::fs::create_dir_all(&lib).unwrap();
    (tmp, src, want, lib)
}

/// Runs mtfpack on `src` with the three images of `lib` (or the first `devices`) and `args`;
/// returns (success, stderr).
fn mtfpack(src: &Path, lib: &Path, devices: usize, args: &[&str]) -> (bool, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mtfpack"));
    c.arg(src);
    for n in ["a.tap", "b.tap", "c.tap"].iter().take(devices) {
        c.arg("-o").arg(lib.join(n));
    }
    let out = c.args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect()
}

#[test]
fn striped_backup_with_a_changer_restores_on_one_and_three_devices() {
    let (_tmp, src, want, lib) = workspace();
    let (ok, err) = mtfpack(
        &src,
        &lib,
        3,
        &[
            "--changer",
            lib.to_str().unwrap(),
            "--capacity",
            &CAP.to_string(),
            "--block-size",
            &BLOCK.to_string(),
            "--stripe-in-turn",
            "--media-name",
            "CLISET",
            "--retain-days",
            "7",
            "--date",
            "2024-06-01T00:00:00",
        ],
    );
    assert!(ok, "{err}");
    // Every family went onto 2 to 4 continuation media, the changer's named as they were
    // made; the files went to the families in turn, so the count follows from the tree.
    let (lo, hi) = media_bounds();
    assert!(
        lo >= 3 && hi <= 5,
        "the tree does not force 2 to 4 continuation media"
    );
    let mut written = Vec::new();
    for f in 1..=3u16 {
        let media: Vec<&str> = err
            .lines()
            .filter(|l| l.starts_with(&format!("mtfpack: family {f}, medium")))
            .collect();
        assert!(
            (lo..=hi).contains(&media.len()),
            "family {f}: {media:?}, not {lo} to {hi} media\n{err}"
        );
        written.extend((1..=media.len() as u16).map(|s| (f, s)));
        for (k, l) in media.iter().enumerate() {
            assert!(l.contains(&format!("medium {}:", k + 1)), "{l}");
            // The changer was asked for this family's next medium by number: its image says so.
            if k > 0 {
                assert!(l.ends_with(&format!("CLISET-f{f}-m{}.tap", k + 1)), "{l}");
            }
        }
    }
    // The dumper, an independent reader, verifies the media set whole from its images given in
    // any order, and its label shows the media set identity.
    let mut images: Vec<std::path::PathBuf> = std::fs::read_dir(&lib)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    images.sort();
    images.reverse();
    let o = mtf_examples::dump::Options {
        json: false,
        strict: true,
        progress: false,
    };
    let mut text = Vec::new();
    let verdict = mtf_examples::dump::verify::run(&images, &o, &mut text).unwrap();
    let text = String::from_utf8_lossy(&text).into_owned();
    assert_eq!(verdict, mtf_examples::dump::Outcome::Ok, "{text}");
    // Without family 2's second medium, the dumper names it as missing.
    let without: Vec<std::path::PathBuf> = images
        .iter()
        .filter(|p| !p.ends_with("CLISET-f2-m2.tap"))
        .cloned()
        .collect();
    assert_eq!(without.len() + 1, images.len());
    let mut text = Vec::new();
    let verdict = mtf_examples::dump::verify::run(&without, &o, &mut text).unwrap();
    let text = String::from_utf8_lossy(&text).into_owned();
    assert_ne!(verdict, mtf_examples::dump::Outcome::Ok, "{text}");
    assert!(text.contains("family 2: media 2 to 2 missing"), "{text}");
    let mut label = Vec::new();
    mtf_examples::dump::label::run(&[lib.join("b.tap")], &o, &mut label).unwrap();
    let label = String::from_utf8_lossy(&label).into_owned();
    for want in [
        "\"CLISET\"",
        "family count:            3",
        "family number:           2",
        "mirror count:            1",
    ] {
        assert!(label.contains(want), "{want} not in {label}");
    }
    for devices in [1usize, 3] {
        let changers: Vec<Box<dyn MediaChanger>> = (0..devices)
            .map(|_| {
                Box::new(DirectoryLibrary::new(&lib, Default::default()).unwrap())
                    as Box<dyn MediaChanger>
            })
            .collect();
        let mut got = MemoryFiles::default();
        let r = restore(changers, &ReadSpec::default(), &mut got).unwrap();
        assert_eq!(got.files, want, "restore on {devices} device(s)");
        // Every request named the right family and medium: device d reads families d + 1,
        // d + 1 + devices, ... one after another, each family's media in sequence.
        for d in 0..devices {
            let asked: Vec<(u16, u16)> = r
                .requests
                .iter()
                .filter(|x| x.0 == d)
                .map(|x| (x.1, x.2))
                .collect();
            let expect: Vec<(u16, u16)> = written
                .iter()
                .copied()
                .filter(|(f, _)| (*f as usize - 1) % devices == d)
                .collect();
            assert_eq!(asked, expect, "device {d} of {devices}");
        }
        assert!(r.refusals.is_empty(), "{:?}", r.refusals);
    }
    // Init with another media name: refused, nothing touched.
    let before = snapshot(&lib);
    let day2 = ["--date", "2024-06-02T00:00:00"];
    let (ok, err) = mtfpack(
        &src,
        &lib,
        3,
        &[&["--init", "--media-name", "OTHER"][..], &day2].concat(),
    );
    assert!(!ok);
    assert!(err.contains("refused") && err.contains("OTHER"), "{err}");
    assert_eq!(snapshot(&lib), before, "a refused run changed the media");
    // The same media name but unexpired sets (retain 7 days): refused.
    let (ok, err) = mtfpack(
        &src,
        &lib,
        3,
        &[&["--init", "--media-name", "CLISET"][..], &day2].concat(),
    );
    assert!(!ok, "{err}");
    assert!(err.contains("unexpired"), "{err}");
    assert_eq!(snapshot(&lib), before);
    // A device count that differs from the family count: refused even with --skip.
    let (ok, err) = mtfpack(&src, &lib, 2, &[&["--skip"][..], &day2].concat());
    assert!(!ok, "{err}");
    assert!(err.contains("3 families but 2 devices"), "{err}");
    assert_eq!(snapshot(&lib), before);
    // --skip overrides the expiry: init writes the set again over the first media, keeping
    // their headers.
    let (ok, err) = mtfpack(
        &src,
        &lib,
        3,
        &[&["--init", "--skip", "--media-name", "CLISET"][..], &day2].concat(),
    );
    assert!(ok, "{err}");
    assert_ne!(snapshot(&lib), before);
}

/// A mirrored media set: every copy of a medium carries the same identity (media set id,
/// family count and number) and says how many copies the set has; the dumper shows it, and
/// either copy restores the set.
#[test]
fn every_copy_of_a_mirrored_set_carries_its_identity_and_mirror_count() {
    let (_tmp, src, want, lib) = workspace();
    let (ok, err) = mtfpack(
        &src,
        &lib,
        2,
        &[
            "--mirror",
            lib.join("a2.tap").to_str().unwrap(),
            "--mirror",
            lib.join("b2.tap").to_str().unwrap(),
            "--media-name",
            "MIRRORED",
            "--date",
            "2024-06-01T00:00:00",
        ],
    );
    assert!(ok, "{err}");
    let o = mtf_examples::dump::Options {
        json: true,
        strict: true,
        progress: false,
    };
    let mut out = Vec::new();
    let files: Vec<std::path::PathBuf> = ["a.tap", "b.tap", "a2.tap", "b2.tap"]
        .iter()
        .map(|n| lib.join(n))
        .collect();
    mtf_examples::dump::label::run(&files, &o, &mut out).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let media = v["media"].as_array().unwrap();
    assert_eq!(media.len(), 4);
    for (m, family) in media.iter().zip([1, 2, 1, 2]) {
        assert_eq!(m["media_set_id"], media[0]["media_set_id"], "{m}");
        assert_eq!(m["family_count"], 2, "{m}");
        assert_eq!(m["family_number"], family, "{m}");
        assert_eq!(m["mirror_count"], 2, "{m}");
        assert_eq!(m["media_name"], "MIRRORED", "{m}");
    }
    assert!(
        v["media_sets"][0]["problems"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{v}"
    );
    // Both copies given: the mirror count says they are the set's copies, not a mistake, and
    // the set verifies.
    let o = mtf_examples::dump::Options { json: false, ..o };
    let mut text = Vec::new();
    let verdict = mtf_examples::dump::verify::run(&files, &o, &mut text).unwrap();
    let text = String::from_utf8_lossy(&text).into_owned();
    assert_eq!(verdict, mtf_examples::dump::Outcome::Ok, "{text}");
    // A mirror's copy is its original byte for byte.
    assert!(
        std::fs::read(lib.join("a.tap")).unwrap() == std::fs::read(lib.join("a2.tap")).unwrap()
    );
    assert!(
        std::fs::read(lib.join("b.tap")).unwrap() == std::fs::read(lib.join("b2.tap")).unwrap()
    );
    let changers: Vec<Box<dyn MediaChanger>> = vec![Box::new(
        DirectoryLibrary::new(&lib, Default::default()).unwrap(),
    )];
    let mut got = MemoryFiles::default();
    restore(changers, &ReadSpec::default(), &mut got).unwrap();
    assert_eq!(got.files, want);
}
