//! Extraction into a hostile file system, and media that try to pass a broken result off as
//! whole. Each test plants something (symlinks and hard links at every output name, an existing
//! file, a crafted block type, a stray continuation, a missing or doubled medium, a bad CSUM,
//! a sparse piece far beyond the file) and proves: nothing outside the target changes, no
//! existing file is lost or written through, the exit is non-zero, and the report names the
//! file.

#[path = "../../mtf/tests/common/mod.rs"]
mod common;
mod support;

use mtf::extract::{DamagedFiles, ExtractOptions};
use mtf::writer::*;
use mtf_examples::dump::{self, Options, Outcome};
use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use support::*;

fn opts() -> Options {
    Options {
        json: false,
        strict: false,
        progress: false,
    }
}

fn small_bkf() -> PathBuf {
    common::workspace_root().join("testdata/small.bkf")
}

/// Every entry under `root` with what it is and holds (kind, size, content hash or link
/// target, inode): anything changed in the sandbox shows up as a difference.
fn state(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut m = BTreeMap::new();
    for e in walkdir::WalkDir::new(root).follow_links(false) {
        let e = e.unwrap();
        let md = e.path().symlink_metadata().unwrap();
        let what = if md.file_type().is_symlink() {
            format!(
                "link -> {}",
                std::fs::read_link(e.path()).unwrap().display()
            )
        } else if md.file_type().is_fifo() {
            format!("fifo ino {}", md.ino())
        } else if md.is_dir() {
            "dir".to_string()
        } else {
            let b = std::fs::read(e.path()).unwrap();
            format!("file {} {:x} ino {}", b.len(), fxhash(&b), md.ino())
        };
        m.insert(e.path().to_path_buf(), what);
    }
    m
}

fn fxhash(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf29ce484222325u64, |h, &c| {
        (h ^ c as u64).wrapping_mul(0x100000001b3)
    })
}

/// Runs extract; returns the outcome and the text.
fn extract(media: &[PathBuf], set: usize, dir: &Path, eo: ExtractOptions) -> (Outcome, String) {
    let mut out = Vec::new();
    let o = dump::extract::run_with(media, set, dir, eo, &opts(), &mut out).unwrap();
    (o, String::from_utf8_lossy(&out).into_owned())
}

/// Files and directories a clean extraction of `media` set `set` produces (relative paths).
fn outputs(media: &[PathBuf], set: usize) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let (o, text) = extract(media, set, &out, ExtractOptions::default());
    assert_eq!(o, Outcome::Ok, "{text}");
    let mut files = Vec::new();
    let mut dirs = Vec::new();
    for e in walkdir::WalkDir::new(&out).min_depth(1) {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(&out).unwrap().to_path_buf();
        if e.file_type().is_dir() {
            dirs.push(rel);
        } else {
            files.push(rel);
        }
    }
    assert!(!files.is_empty());
    (files, dirs)
}

#[derive(Clone, Copy, Debug)]
enum Plant {
    Symlink,
    DanglingSymlink,
    HardLink,
    Regular,
    Fifo,
    Directory,
}

/// Plants `what` at every output file name (and, for symlinks, at every directory name, deepest
/// first so that each directory stays reachable) of the set; extracts; checks.
fn planted_everywhere(media: &[PathBuf], set: usize, what: Plant, dirs_too: bool) {
    let (files, dirs) = outputs(media, set);
    let tmp = tempfile::tempdir().unwrap();
    let victim = tmp.path().join("victim");
    std::fs::create_dir(&victim).unwrap();
    std::fs::write(victim.join("precious"), b"precious data").unwrap();
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let planted: Vec<&PathBuf> = if dirs_too {
        // A symlink at the top directory names only: everything beneath leads out.
        dirs.iter()
            .filter(|d| d.components().count() == 1)
            .collect()
    } else {
        files.iter().collect()
    };
    for rel in &planted {
        let at = out.join(rel);
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        match what {
            Plant::Symlink if dirs_too => std::os::unix::fs::symlink(&victim, &at).unwrap(),
            Plant::Symlink => std::os::unix::fs::symlink(victim.join("precious"), &at).unwrap(),
            Plant::DanglingSymlink => {
                std::os::unix::fs::symlink(victim.join(rel.file_name().unwrap()), &at).unwrap()
            }
            Plant::HardLink => std::fs::hard_link(victim.join("precious"), &at).unwrap(),
            Plant::Regular => std::fs::write(&at, b"the user's own file").unwrap(),
            Plant::Fifo => assert!(std::process::Command::new("mkfifo")
                .arg(&at)
                .status()
                .unwrap()
                .success()),
            Plant::Directory => std::fs::create_dir(&at).unwrap(),
        }
    }
    let before_victim = state(&victim);
    let before_out = state(&out);
    let (o, text) = extract(media, set, &out, ExtractOptions::default());
    assert_eq!(o, Outcome::Problems, "{what:?}: {text}");
    assert_eq!(
        state(&victim),
        before_victim,
        "{what:?}: outside the target changed"
    );
    // Nothing planted was changed or replaced.
    let after_out = state(&out);
    for (p, s) in &before_out {
        assert_eq!(
            after_out.get(p),
            Some(s),
            "{what:?}: {} changed",
            p.display()
        );
    }
    // Every planted name is named in a refusal.
    for rel in &planted {
        let shown = rel.to_string_lossy();
        assert!(
            text.lines()
                .any(|l| l.starts_with("refused") && l.contains(&*shown)),
            "{what:?}: {shown} not named:\n{text}"
        );
    }
    // The set's other entries are still extracted.
    if !dirs_too && planted.len() < files.len() {
        assert!(text.contains("f "), "{text}");
    }
}

#[test]
fn links_and_files_planted_at_every_output_name_are_never_written_through() {
    let m = [small_bkf()];
    for set in [1, 2] {
        // Files with data and a file with none (created by another path: directly under its
        // name as its entry ends) are both planted over.
        let tmp = tempfile::tempdir().unwrap();
        let (o, text) = extract(&m, set, tmp.path(), ExtractOptions::default());
        assert_eq!(o, Outcome::Ok, "{text}");
        assert!(text.contains("docs/empty.txt (0 bytes)"), "{text}");
        assert!(text.contains("docs/readme.txt (13 bytes)"), "{text}");
        for what in [
            Plant::Symlink,
            Plant::DanglingSymlink,
            Plant::HardLink,
            Plant::Regular,
            Plant::Fifo,
            Plant::Directory,
        ] {
            planted_everywhere(&m, set, what, false);
        }
        planted_everywhere(&m, set, Plant::Symlink, true);
    }
}

fn sql_sample() -> Option<PathBuf> {
    let p = common::foreign_dir()?.join("sql2008r2_log_checksum_cubequery.trn");
    p.exists().then_some(p)
}

#[test]
fn sql_server_streams_never_follow_a_planted_link() {
    let Some(trn) = sql_sample() else {
        return;
    };
    let m = [trn];
    for what in [Plant::Symlink, Plant::DanglingSymlink, Plant::HardLink] {
        planted_everywhere(&m, 1, what, false);
    }
    planted_everywhere(&m, 1, Plant::Symlink, true);
}

#[test]
fn replace_is_explicit_and_never_follows_a_link() {
    let m = [small_bkf()];
    let (files, _) = outputs(&m, 1);
    let tmp = tempfile::tempdir().unwrap();
    let victim = tmp.path().join("precious");
    std::fs::write(&victim, b"precious data").unwrap();
    let out = tmp.path().join("out");
    let f0 = out.join(&files[0]);
    let f1 = out.join(&files[1]);
    std::fs::create_dir_all(f0.parent().unwrap()).unwrap();
    std::fs::create_dir_all(f1.parent().unwrap()).unwrap();
    std::fs::write(&f0, b"old").unwrap();
    std::os::unix::fs::symlink(&victim, &f1).unwrap();
    let eo = ExtractOptions {
        replace: true,
        ..Default::default()
    };
    let (o, text) = extract(&m, 1, &out, eo);
    assert_eq!(o, Outcome::Ok, "{text}");
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious data");
    assert!(!f1.symlink_metadata().unwrap().file_type().is_symlink());
    assert_ne!(std::fs::read(&f0).unwrap(), b"old");
    // No temporary names left behind.
    for e in walkdir::WalkDir::new(&out) {
        let n = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!n.ends_with(".mtf-part"), "{n}");
    }
}

/// Rewrites the block header at `at` with `f` applied, checksum fixed.
fn patch_header(m: &mut [u8], at: usize, f: impl FnOnce(&mut mtf::header::DbHeader)) {
    let mut h = mtf::header::DbHeader::parse(&m[at..at + 52]).unwrap();
    f(&mut h);
    let mut v = Vec::new();
    h.write_fixed(&mut v);
    m[at..at + 52].copy_from_slice(&v);
}

fn blocks_of(m: &[u8]) -> Vec<(usize, mtf::BlockType)> {
    mtf::walk::Walker::new(m)
        .filter_map(|e| match e.unwrap() {
            mtf::walk::Event::Block { offset, dblk } => Some((offset as usize, dblk.block_type())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_crafted_block_type_never_becomes_a_path() {
    let Some(trn) = sql_sample() else {
        return;
    };
    let mut m = std::fs::read(&trn).unwrap();
    let (at, _) = *blocks_of(&m)
        .iter()
        .find(|(_, t)| t.to_string() == "MSDA" || t.to_string() == "MSTL")
        .expect("a SQL Server data block");
    patch_header(&mut m, at, |h| h.block_type = mtf::BlockType(*b"/PWN"));
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("crafted.trn");
    std::fs::write(&p, &m).unwrap();
    let out = tmp.path().join("out");
    let (o, text) = extract(&[p], 1, &out, ExtractOptions::default());
    assert_eq!(o, Outcome::Problems, "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("refused:") && l.contains("/PWN")),
        "{text}"
    );
    // Nothing named PWN anywhere, in or out of the target.
    for e in walkdir::WalkDir::new(tmp.path()) {
        let e = e.unwrap();
        assert!(
            !e.file_name().to_string_lossy().contains("PWN"),
            "{:?}",
            e.path()
        );
    }
}

/// One set over three 160 KiB media: `before` (1000 bytes), `huge` (300,000), `after` (5000),
/// in `dir/` of volume `C:`.
fn spanned(checksums: bool) -> Vec<Vec<u8>> {
    spanned_media_with(checksums, 1)
}

fn files(dir: &Path, media: &[Vec<u8>]) -> Vec<PathBuf> {
    media
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let p = dir.join(format!("m{}.bkf", i + 1));
            std::fs::write(&p, m).unwrap();
            p
        })
        .collect()
}

#[test]
fn a_missing_middle_medium_is_never_spliced() {
    let media = spanned(false);
    assert_eq!(media.len(), 3);
    let tmp = tempfile::tempdir().unwrap();
    let p = files(tmp.path(), &media);
    let out = tmp.path().join("out");
    let (o, text) = extract(
        &[p[0].clone(), p[2].clone()],
        1,
        &out,
        ExtractOptions::default(),
    );
    assert_eq!(o, Outcome::Problems, "{text}");
    assert!(text.contains("media between them were not given"), "{text}");
    assert!(text.contains("NOT WHOLE: C/dir/huge"), "{text}");
    // No file named huge holds a spliced 300,000 bytes.
    assert!(!out.join("C/dir/huge").exists(), "{text}");
    let kept = std::fs::read(out.join("C/dir/huge.corrupt")).unwrap();
    assert!(kept.len() < 300_000);
    // Removed instead, on request.
    let out2 = tmp.path().join("out2");
    let eo = ExtractOptions {
        damaged: DamagedFiles::Remove,
        ..Default::default()
    };
    let (o, text) = extract(&[p[0].clone(), p[2].clone()], 1, &out2, eo);
    assert_eq!(o, Outcome::Problems, "{text}");
    assert!(!out2.join("C/dir/huge").exists() && !out2.join("C/dir/huge.corrupt").exists());
    assert!(text.contains("(not kept)"), "{text}");
}

#[test]
fn a_medium_given_twice_is_read_once_and_said() {
    let media = spanned(false);
    let tmp = tempfile::tempdir().unwrap();
    let p = files(tmp.path(), &media);
    let out = tmp.path().join("out");
    let given = vec![p[0].clone(), p[1].clone(), p[1].clone(), p[2].clone()];
    let (o, text) = extract(&given, 1, &out, ExtractOptions::default());
    assert_eq!(o, Outcome::Problems, "{text}");
    assert!(text.contains("given twice"), "{text}");
    assert_eq!(
        std::fs::read(out.join("C/dir/huge")).unwrap(),
        content(300_000, 1)
    );
    // A single medium twice: written once.
    let one = tmp.path().join("one");
    let (o, text) = extract(
        &[small_bkf(), small_bkf()],
        1,
        &one,
        ExtractOptions::default(),
    );
    assert_eq!(o, Outcome::Problems, "{text}");
    assert!(text.contains("given twice"), "{text}");
    assert!(
        !text.contains("refused:"),
        "read once, so nothing exists twice: {text}"
    );
}

#[test]
fn the_first_medium_alone_names_the_cut_file() {
    let media = spanned(false);
    let tmp = tempfile::tempdir().unwrap();
    let p = files(tmp.path(), &media);
    let out = tmp.path().join("out");
    let (o, text) = extract(&p[..1], 1, &out, ExtractOptions::default());
    assert_eq!(o, Outcome::Problems, "{text}");
    assert!(text.contains("NOT WHOLE: C/dir/huge"), "{text}");
    assert!(text.contains("not given"), "{text}");
}

#[test]
fn a_stray_continuation_never_appends_to_an_existing_file() {
    let media = spanned(false);
    let tmp = tempfile::tempdir().unwrap();
    // The second medium alone: its first FILE (huge) carries the continuation bit.
    let p = files(tmp.path(), &media);
    let out = tmp.path().join("out");
    std::fs::create_dir_all(out.join("C/dir")).unwrap();
    std::fs::write(out.join("C/dir/huge"), b"the user's file").unwrap();
    let (o, text) = extract(&p[1..2], 1, &out, ExtractOptions::default());
    assert_eq!(o, Outcome::Problems, "{text}");
    assert_eq!(
        std::fs::read(out.join("C/dir/huge")).unwrap(),
        b"the user's file"
    );
    assert!(text.contains("did not begin"), "{text}");
    // The same on a single medium whose FILE block was given the continuation bit.
    let mut m = std::fs::read(small_bkf()).unwrap();
    let files: Vec<usize> = blocks_of(&m)
        .into_iter()
        .filter(|(_, t)| *t == mtf::BlockType::FILE)
        .map(|(o, _)| o)
        .collect();
    patch_header(&mut m, files[1], |h| {
        h.attributes |= mtf::spec::BlockAttributes::CONTINUATION
    });
    let p = tmp.path().join("stray.bkf");
    std::fs::write(&p, &m).unwrap();
    let out = tmp.path().join("out2");
    std::fs::create_dir_all(out.join("docs")).unwrap();
    std::fs::write(out.join("docs/readme.txt"), b"mine").unwrap();
    let (o, text) = extract(&[p], 1, &out, ExtractOptions::default());
    assert_eq!(o, Outcome::Problems, "{text}");
    assert_eq!(std::fs::read(out.join("docs/readme.txt")).unwrap(), b"mine");
    assert!(text.contains("docs/readme.txt"), "{text}");
}

#[test]
fn a_csum_mismatch_fails_and_names_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let mut m = std::fs::read(small_bkf()).unwrap();
    // Set 2 has CSUMs; change one byte of photos/image.raw's data (100,000 bytes of it).
    let sets: Vec<usize> = blocks_of(&m)
        .into_iter()
        .filter(|(_, t)| *t == mtf::BlockType::SSET)
        .map(|(o, _)| o)
        .collect();
    let stan = sets[1]
        + m[sets[1]..]
            .windows(4)
            .enumerate()
            .filter(|(_, w)| *w == b"STAN")
            .map(|(i, _)| i)
            .find(|&i| {
                let h = mtf::stream::StreamHeader::parse(&m[sets[1] + i..sets[1] + i + 22]);
                h.is_ok_and(|h| h.length == 100_000)
            })
            .unwrap();
    m[stan + 22 + 5000] ^= 1;
    let p = tmp.path().join("bad.bkf");
    std::fs::write(&p, &m).unwrap();
    let out = tmp.path().join("out");
    let (o, text) = extract(std::slice::from_ref(&p), 2, &out, ExtractOptions::default());
    assert_eq!(o, Outcome::Problems, "{text}");
    assert!(
        text.contains("NOT WHOLE: volume1/photos/image.raw: CSUM mismatch"),
        "{text}"
    );
    assert!(out.join("volume1/photos/image.raw.corrupt").exists());
    assert!(!out.join("volume1/photos/image.raw").exists());
    assert!(out.join("volume1/docs/readme.txt").exists());
}

/// A file with no data is created only as its entry ends, directly under its real name; one
/// that is not whole (its CSUM does not match) must still never take that name.
#[test]
fn an_empty_file_that_is_not_whole_never_takes_its_real_name() {
    let mut m = std::fs::read(small_bkf()).unwrap();
    // Set 2 has CSUMs: change the stored CSUM of docs/empty.txt (its data, none, gives 0).
    let mut in_empty = false;
    let mut csum = None;
    for e in mtf::walk::Walker::new(&m[..]) {
        match e.unwrap() {
            mtf::walk::Event::Block { dblk, .. } => {
                in_empty = matches!(&dblk.body, mtf::block::Body::File(f)
                    if f.file_name.display(dblk.header.string_type) == "empty.txt");
            }
            mtf::walk::Event::Stream { offset, header }
                if in_empty && header.id == mtf::spec::StreamId::CSUM =>
            {
                csum = Some(offset as usize);
            }
            _ => {}
        }
    }
    let at = csum.expect("set 2's empty.txt has a CSUM") + 22;
    assert_eq!(m[at..at + 4], [0; 4], "the CSUM of no data");
    m[at] ^= 0x5a;
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("bad.bkf");
    std::fs::write(&p, &m).unwrap();
    for damaged in [DamagedFiles::KeepAside, DamagedFiles::Remove] {
        let out = tmp.path().join(format!("out-{damaged:?}"));
        let eo = ExtractOptions {
            damaged,
            ..ExtractOptions::default()
        };
        let (o, text) = extract(std::slice::from_ref(&p), 2, &out, eo);
        assert_eq!(o, Outcome::Problems, "{text}");
        assert!(
            text.contains("NOT WHOLE: volume1/docs/empty.txt: CSUM mismatch"),
            "{text}"
        );
        assert!(!out.join("volume1/docs/empty.txt").exists(), "{text}");
        assert_eq!(
            out.join("volume1/docs/empty.txt.corrupt").exists(),
            damaged == DamagedFiles::KeepAside,
            "{text}"
        );
        // The other files are whole, and no temporary file is left.
        assert!(out.join("volume1/docs/readme.txt").exists(), "{text}");
        for e in walkdir::WalkDir::new(&out) {
            let e = e.unwrap();
            assert!(!e.file_name().to_string_lossy().ends_with(".mtf-part"));
        }
    }
}

#[test]
fn a_csum_mismatch_in_data_copied_by_the_workers_is_found() {
    // A file of 3 MiB: its data goes to the copy workers, and is read back for the CSUM.
    let mut w = one_volume(64 * 1024, true);
    w.add_directory(&["d"], &EntryMeta::with_dates(Some(date(1)), date(5)))
        .unwrap();
    let data = content(3 << 20, 3);
    let meta = EntryMeta::with_dates(Some(date(2)), date(5));
    w.add_file("big", &meta, data.len() as u64, &mut &data[..])
        .unwrap();
    w.end_set().unwrap();
    let good = w.finish().unwrap().data;
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("good.bkf");
    std::fs::write(&p, &good).unwrap();
    let (o, text) = extract(&[p], 1, &tmp.path().join("good"), ExtractOptions::default());
    assert_eq!(o, Outcome::Ok, "{text}");
    assert_eq!(
        std::fs::read(tmp.path().join("good/C/d/big")).unwrap(),
        data
    );
    let mut bad = good.clone();
    let at = bad.windows(1000).position(|w| w == &data[..1000]).unwrap();
    bad[at + 2_000_000] ^= 0x80;
    let p = tmp.path().join("bad.bkf");
    std::fs::write(&p, &bad).unwrap();
    let (o, text) = extract(&[p], 1, &tmp.path().join("bad"), ExtractOptions::default());
    assert_eq!(o, Outcome::Problems, "{text}");
    assert!(text.contains("NOT WHOLE: C/d/big: CSUM mismatch"), "{text}");
}

#[test]
fn a_sparse_piece_beyond_the_declared_size_is_damage() {
    use mtf::stream::StreamHeader;
    let mut w = one_volume(4096, false);
    w.add_directory(&["d"], &EntryMeta::with_dates(Some(date(1)), date(5)))
        .unwrap();
    // An 8-byte offset of 1 TiB, then the piece.
    let mut piece = (1u64 << 40).to_le_bytes().to_vec();
    piece.extend_from_slice(b"far away");
    let meta = EntryMeta::with_dates(Some(date(2)), date(5));
    w.add_file("sparse", &meta, piece.len() as u64, &mut &piece[..])
        .unwrap();
    w.end_set().unwrap();
    let mut m = w.finish().unwrap().data;
    let events: Vec<_> = mtf::walk::Walker::new(&m[..]).map(|e| e.unwrap()).collect();
    for ev in events {
        if let mtf::walk::Event::Stream { offset, header } = ev {
            if header.id == mtf::spec::StreamId::STAN {
                let at = offset as usize;
                let mut h = StreamHeader::parse(&m[at..at + 22]).unwrap();
                h.id = mtf::spec::StreamId::SPAR;
                m[at..at + 22].copy_from_slice(&h.to_bytes_fixed());
            }
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("sparse.bkf");
    std::fs::write(&p, &m).unwrap();
    let out = tmp.path().join("out");
    let (o, text) = extract(&[p], 1, &out, ExtractOptions::default());
    assert_eq!(o, Outcome::Problems, "{text}");
    assert!(text.contains("NOT WHOLE: C/d/sparse"), "{text}");
    assert!(text.contains("beyond the file's declared size"), "{text}");
    for e in walkdir::WalkDir::new(&out) {
        let e = e.unwrap();
        assert!(
            e.metadata().unwrap().len() < 1 << 20,
            "{:?} is huge",
            e.path()
        );
    }
}

#[test]
fn names_with_control_characters_are_refused_and_printed_escaped() {
    let mut m = std::fs::read(small_bkf()).unwrap();
    let from: Vec<u8> = "readme.txt"
        .encode_utf16()
        .flat_map(|u| u.to_le_bytes())
        .collect();
    let to: Vec<u8> = "a\x1b[2Jb\nc.t"
        .encode_utf16()
        .flat_map(|u| u.to_le_bytes())
        .collect();
    assert_eq!(from.len(), to.len());
    let at = m.windows(from.len()).position(|w| w == from).unwrap();
    m[at..at + to.len()].copy_from_slice(&to);
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("ctl.bkf");
    std::fs::write(&p, &m).unwrap();
    let out = tmp.path().join("out");
    let (o, text) = extract(std::slice::from_ref(&p), 1, &out, ExtractOptions::default());
    assert_eq!(o, Outcome::Problems, "{text}");
    assert!(text.contains("control character"), "{text}");
    assert!(!text.contains('\x1b'), "{text:?}");
    let mut ls = Vec::new();
    dump::ls::run(&[p], Some(1), &opts(), &mut ls).unwrap();
    let ls = String::from_utf8_lossy(&ls);
    assert!(!ls.contains('\x1b'), "ls prints raw ESC: {ls:?}");
    assert!(
        !ls.lines().any(|l| l.trim_start().starts_with("c.t")),
        "{ls}"
    );
}
