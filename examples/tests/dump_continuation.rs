//! A backup set that runs over three media, written by `mtf::writer` to files (soft filemarks)
//! with a tiny capacity, read back by the dumper given all three: `verify` passes, `ls` lists each
//! file once, and `extract` restores the file cut twice byte for byte. Given only the first
//! medium, the set is reported as continuing on a medium that was not given. Also: a sparse
//! file (SPAR) is restored at its full size, a hole at its end included.

mod support;

use mtf::writer::*;
use mtf_examples::dump::{self, Options, Outcome};
use std::path::PathBuf;
use support::*;

fn opts() -> Options {
    Options {
        json: false,
        strict: false,
        progress: false,
    }
}

#[test]
fn a_set_over_three_media_verifies_lists_and_extracts_whole() {
    let media = spanned_media();
    assert_eq!(
        media.len(),
        3,
        "the capacity should force exactly three media"
    );
    let tmp = tempfile::tempdir().unwrap();
    let paths: Vec<PathBuf> = media
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let p = tmp.path().join(format!("span{}.bkf", i + 1));
            std::fs::write(&p, m).unwrap();
            p
        })
        .collect();
    // Given out of order, the media are still read in sequence.
    let shuffled = vec![paths[2].clone(), paths[0].clone(), paths[1].clone()];

    let mut out = Vec::new();
    dump::ls::run(&shuffled, Some(1), &opts(), &mut out).unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    println!("{text}");
    for (name, size) in FILES {
        let lines: Vec<&str> = text.lines().filter(|l| l.contains(name)).collect();
        assert_eq!(lines.len(), 1, "{name} listed once:\n{text}");
        assert!(lines[0].contains(&size.to_string()), "{name} size:\n{text}");
    }

    let dir = tmp.path().join("out");
    std::fs::create_dir(&dir).unwrap();
    let mut out = Vec::new();
    let verdict = dump::extract::run(&shuffled, 1, &dir, &[], &opts(), &mut out).unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    assert_eq!(verdict, Outcome::Ok, "{text}");
    let restored: Vec<PathBuf> = walkdir::WalkDir::new(&dir)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect();
    assert_eq!(restored.len(), FILES.len(), "{restored:?}\n{text}");
    for (i, (name, size)) in FILES.iter().enumerate() {
        let p = restored
            .iter()
            .find(|p| p.file_name().unwrap() == *name)
            .unwrap_or_else(|| panic!("{name} restored: {restored:?}"));
        let got = std::fs::read(p).unwrap();
        assert_eq!(got.len(), *size, "{name}");
        assert!(got == content(*size, i), "{name}: content differs");
    }
    let mut out = Vec::new();
    let verdict = dump::verify::run(&shuffled, &opts(), &mut out).unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    println!("{text}");
    assert_eq!(verdict, Outcome::Ok, "{text}");
}

#[test]
fn the_first_medium_alone_says_the_set_continues() {
    let media = spanned_media();
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("span1.bkf");
    std::fs::write(&p, &media[0]).unwrap();
    let mut out = Vec::new();
    let verdict = dump::verify::run(std::slice::from_ref(&p), &opts(), &mut out).unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    assert_ne!(
        verdict,
        Outcome::Ok,
        "an incomplete set must not verify:\n{text}"
    );
    let mut out = Vec::new();
    dump::sets::run(std::slice::from_ref(&p), &opts(), &mut out).unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    assert!(text.to_lowercase().contains("contin"), "{text}");
}

/// A medium whose file `sparse` comes as one SPAR piece (13 bytes at offset 100) while its FILE
/// block says 4096 bytes: made by the writer (a STAN stream holding the SPAR payload), then the
/// stream id and the FILE's size patched with the codec's fixed writers.
fn sparse_medium() -> Vec<u8> {
    use mtf::header::DbHeader;
    use mtf::stream::StreamHeader;
    use mtf::walk::{Event, Walker};
    let mut opts = MediumOptions::new("sparse", 3, date(0));
    opts.block_size = Some(4096);
    let mut w = Writer::new(MemorySink::default(), opts).unwrap();
    w.begin_set(SetOptions::new("sparse", date(5))).unwrap();
    w.add_volume(&VolumeOptions {
        device: "C:".into(),
        volume: "SYS".into(),
        machine: "HOST".into(),
    })
    .unwrap();
    w.add_directory(&["holes"], &EntryMeta::with_dates(Some(date(1)), date(5)))
        .unwrap();
    let mut piece = 100u64.to_le_bytes().to_vec();
    piece.extend_from_slice(b"hello, holes!");
    let meta = EntryMeta::with_dates(Some(date(2)), date(5));
    w.add_file("sparse", &meta, piece.len() as u64, &mut &piece[..])
        .unwrap();
    w.end_set().unwrap();
    let mut m = w.finish().unwrap().data;
    let events: Vec<Event> = Walker::new(&m[..]).map(|e| e.unwrap()).collect();
    for ev in events {
        match ev {
            Event::Block { offset, dblk } if dblk.block_type() == mtf::BlockType::FILE => {
                let at = offset as usize;
                let mut h = DbHeader::parse(&m[at..at + 52]).unwrap();
                h.displayable_size = 4096;
                let mut v = Vec::new();
                h.write_fixed(&mut v);
                m[at..at + 52].copy_from_slice(&v);
            }
            Event::Stream { offset, header } if header.id == mtf::spec::StreamId::STAN => {
                let at = offset as usize;
                let mut h = StreamHeader::parse(&m[at..at + 22]).unwrap();
                h.id = mtf::spec::StreamId::SPAR;
                m[at..at + 22].copy_from_slice(&h.to_bytes_fixed());
            }
            _ => {}
        }
    }
    m
}

#[test]
fn a_sparse_file_is_restored_at_its_full_size() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("sparse.bkf");
    std::fs::write(&p, sparse_medium()).unwrap();
    let dir = tmp.path().join("out");
    std::fs::create_dir(&dir).unwrap();
    let mut out = Vec::new();
    let verdict = dump::extract::run(&[p], 1, &dir, &[], &opts(), &mut out).unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    assert_eq!(verdict, Outcome::Ok, "{text}");
    let f = walkdir::WalkDir::new(&dir)
        .into_iter()
        .filter_map(|e| e.ok())
        .find(|e| e.file_name() == "sparse")
        .unwrap_or_else(|| panic!("restored:\n{text}"));
    let got = std::fs::read(f.path()).unwrap();
    assert_eq!(got.len(), 4096, "the hole at the end counts");
    assert!(got[..100].iter().all(|b| *b == 0));
    assert_eq!(&got[100..113], b"hello, holes!");
    assert!(got[113..].iter().all(|b| *b == 0));
}

/// Writes `media` to files in `dir`; returns their paths, last medium first.
fn files_of(dir: &std::path::Path, media: &[Vec<u8>]) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = media
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let p = dir.join(format!("csum{}.bkf", i + 1));
            std::fs::write(&p, m).unwrap();
            p
        })
        .collect();
    paths.reverse();
    paths
}

#[test]
fn the_csum_of_a_file_over_three_media_is_checked_over_all_its_parts() {
    // Parts under 1 MiB are checksummed as they are read; larger ones by the worker threads.
    for scale in [1, 20] {
        csum_over_media(scale);
    }
}

fn csum_over_media(scale: usize) {
    let media = spanned_media_with(true, scale);
    assert_eq!(media.len(), 3);
    let tmp = tempfile::tempdir().unwrap();
    let paths = files_of(tmp.path(), &media);
    let mut out = Vec::new();
    let verdict = dump::verify::run(&paths, &opts(), &mut out).unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    assert_eq!(verdict, Outcome::Ok, "{text}");
    assert!(
        text.contains("over the stream's parts on all media"),
        "{text}"
    );
    assert!(!text.contains("not checked"), "{text}");
    // Extracted whole (at scale 20 each part is over 1 MiB: the copy workers write it at its
    // offset, and the planned copy stops at each cut).
    let dir = tmp.path().join("out");
    std::fs::create_dir(&dir).unwrap();
    let mut out = Vec::new();
    let verdict = dump::extract::run(&paths, 1, &dir, &[], &opts(), &mut out).unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    assert_eq!(verdict, Outcome::Ok, "{text}");
    let huge = walkdir::WalkDir::new(&dir)
        .into_iter()
        .filter_map(|e| e.ok())
        .find(|e| e.file_name() == "huge")
        .unwrap_or_else(|| panic!("huge restored:\n{text}"));
    let got = std::fs::read(huge.path()).unwrap();
    assert_eq!(got.len(), 300_000 * scale, "{text}");
    assert!(
        got == content(300_000 * scale, 1),
        "huge differs at scale {scale}"
    );
    assert!(
        text.contains(&format!("dir/huge ({} bytes)", 300_000 * scale)),
        "one entry with all its bytes:\n{text}"
    );

    // One byte of the huge file's part on the middle medium changed: the CSUM at its end on
    // the last medium no longer matches. (The damage is in stream data, which only CSUM covers.)
    let mut bad = media.clone();
    let mid = &mut bad[1];
    let stan = mid.windows(4).position(|w| w == b"STAN").unwrap();
    mid[stan + 22 + 1000 * scale] ^= 0x40;
    let tmp2 = tempfile::tempdir().unwrap();
    let paths = files_of(tmp2.path(), &bad);
    let mut out = Vec::new();
    let verdict = dump::verify::run(&paths, &opts(), &mut out).unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    assert_eq!(verdict, Outcome::Problems, "{text}");
    assert!(text.contains("MISMATCH"), "{text}");

    // Without the earlier media, the last one's CSUM cannot be checked, and says so.
    let mut out = Vec::new();
    let _ = dump::verify::run(&paths[..1], &opts(), &mut out).unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    assert!(text.contains("not checked"), "{text}");
}
