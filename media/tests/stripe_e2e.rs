//! End to end: one backup set over 3 emulated tapes whose capacities force 2 to 4 continuation
//! media per family (the files assigned in turn, the bounds worked out from the layout rules), restored on 1 device and on 3, byte for byte, with every request naming
//! the right family and sequence number.

mod common;

use common::*;
use media::changer::dir::DirectoryLibrary;
use media::changer::{ChangerEvent, MediaChanger};
use media::restore::{restore, MemoryFiles, ReadSpec};
use media::set::{inspect, MediumContents};

/// Bounds on the media a family of `files` files holding `bytes` bytes fills on tapes of `cap`
/// bytes, from the layout rules alone (not from the writer): a medium holds at most
/// `cap - BLOCK` bytes of file data (its TAPE header takes a block), so at least
/// `ceil(bytes / (cap - BLOCK))` media are needed; every medium but the last is written up to
/// the early warning, `EW` bytes before its end, and gives at most 16 KiB to its own overhead
/// (its TAPE block; the SSET, VOLB, DIRB and FILE it starts with or repeats as continuation
/// blocks, each in a 1 KiB FLB; the ESPB that pads the cut) and at most 3 KiB per file
/// (DIRB, FILE and stream headers, each padded to a 1 KiB FLB), so the first `n - 1` media hold
/// at least `(n - 1) * (cap - EW - 16 KiB)` bytes of data and file overhead.
fn media_bounds(bytes: u64, files: u64, cap: u64) -> (u64, u64) {
    let ew = 8 * BLOCK as u64;
    let lo = bytes.div_ceil(cap - BLOCK as u64);
    let hi = (bytes + 3072 * files) / (cap - ew - 16 * 1024) + 1;
    (lo, hi)
}

#[test]
fn three_families_with_continuation_restore_on_one_and_three_devices() {
    let dir = tempfile::tempdir().unwrap();
    let t = tree(7, 30, 200_000);
    // The files go to the families in turn (file k to family k mod 3 + 1), so each family's
    // share follows from the tree; the capacity makes every family's bounds fall in 3 to 5
    // media: 2 to 4 continuation media each, whatever the timing.
    let cap = 360 * 1024;
    for f in 0..3 {
        let mine: Vec<&Entry> = t.iter().skip(f).step_by(3).collect();
        let bytes: u64 = mine.iter().map(|e| e.2.len() as u64).sum();
        let (lo, hi) = media_bounds(bytes, mine.len() as u64, cap);
        eprintln!(
            "family {}: {bytes} bytes in {} files: {lo} to {hi} media",
            f + 1,
            mine.len()
        );
        assert!(
            lo >= 3 && hi <= 5,
            "the tree does not force 2 to 4 continuation media"
        );
    }
    let (report, set) = backup_tree_in_turn(dir.path(), 3, cap, &t);
    assert_eq!(report.families.len(), 3);
    for fam in &report.families {
        let n = fam.used.len();
        eprintln!("family {} used {n} media", fam.family_number);
        assert!(
            (3..=5).contains(&n),
            "family {} used {n} media, not 1 + 2 to 4 continuation media",
            fam.family_number
        );
        let mine: Vec<&Entry> = t
            .iter()
            .skip(fam.family_number as usize - 1)
            .step_by(3)
            .collect();
        let bytes: u64 = mine.iter().map(|e| e.2.len() as u64).sum();
        let (lo, hi) = media_bounds(bytes, mine.len() as u64, cap);
        assert!(
            (lo..=hi).contains(&(n as u64)),
            "family {}",
            fam.family_number
        );
        // The family's media are numbered 1, 2, 3... in the order written.
        let seqs: Vec<u16> = fam.used.iter().map(|u| u.sequence).collect();
        assert_eq!(seqs, (1..=n as u16).collect::<Vec<_>>());
        assert!(fam.refusals.is_empty());
    }
    // Every medium's label names the set, its family and its sequence number.
    for fam in &report.families {
        for u in &fam.used {
            let mut d =
                media::changer::open_path(u.name.as_ref(), false, Default::default()).unwrap();
            let i = inspect(&mut d);
            let MediumContents::Mtf { label, .. } = i.contents else {
                panic!("{}: not MTF", u.name)
            };
            assert_eq!(label.media_set_id, Some(set.id));
            assert_eq!(label.family_count, Some(3));
            assert_eq!(label.family_number, Some(fam.family_number));
            assert_eq!(label.media_sequence_number, u.sequence);
        }
    }
    let want = expected(&t);
    for devices in [1usize, 3] {
        let changers: Vec<Box<dyn MediaChanger>> = (0..devices)
            .map(|_| {
                Box::new(DirectoryLibrary::new(dir.path(), Default::default()).unwrap())
                    as Box<dyn MediaChanger>
            })
            .collect();
        let mut out = MemoryFiles::default();
        let r = restore(changers, &ReadSpec::default(), &mut out).unwrap();
        assert!(out.duplicates.is_empty(), "{:?}", out.duplicates);
        assert_eq!(out.files, want, "restore on {devices} devices");
        // Requests: each device asks for its families in order, each family's media in order.
        for d in 0..devices {
            let mine: Vec<(u16, u16)> = r
                .requests
                .iter()
                .filter(|x| x.0 == d)
                .map(|x| (x.1, x.2))
                .collect();
            let mut expect = Vec::new();
            for fam in report
                .families
                .iter()
                .filter(|f| (f.family_number as usize - 1) % devices == d)
            {
                for u in &fam.used {
                    expect.push((fam.family_number, u.sequence));
                }
            }
            assert_eq!(mine, expect, "device {d} of {devices}");
        }
        assert!(r.refusals.is_empty(), "{:?}", r.refusals);
        // Every file's CSUM was checked.
        assert_eq!(r.csum_checked, t.len() as u64);
    }
}

#[test]
fn write_prompts_name_the_family_and_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let t = tree(3, 20, 8000);
    let total: usize = t.iter().map(|e| e.2.len()).sum();
    let (report, _) = backup_tree(dir.path(), 2, 1, (total / 2 / 3 + 40 * 1024) as u64, &t);
    // The library names its images after what was asked: family and sequence in the name.
    for fam in &report.families {
        for u in &fam.used {
            let want = format!("-f{}-m{}.tap", fam.family_number, u.sequence);
            assert!(u.name.ends_with(&want), "{} for {want}", u.name);
        }
    }
    let _ = ChangerEvent::Done(String::new());
}

#[test]
fn a_mirrors_medium_stands_in_for_a_damaged_one() {
    let dir = tempfile::tempdir().unwrap();
    let t = tree(13, 30, 9000);
    let total: usize = t.iter().map(|e| e.2.len()).sum();
    let (report, set) = backup_tree(dir.path(), 2, 2, (total / 2 / 3 + 40 * 1024) as u64, &t);
    // Damage medium 2 of family 1 in the copy the library offers first (the mirror's name
    // sorts first).
    let orig = report
        .families
        .iter()
        .find(|f| f.family_number == 1 && f.mirror == 1)
        .unwrap();
    let victim = &orig.used[1].name;
    let mut bytes = std::fs::read(victim).unwrap();
    let starts: Vec<usize> = records(&bytes).iter().map(|r| r.0).collect();
    // The last record that starts with a descriptor block other than TAPE or EOTM: its header
    // zeroed, the strict reader stops there.
    let s = *starts
        .iter()
        .rev()
        .find(|&&s| {
            bytes[s..s + 4].iter().all(|c| c.is_ascii_uppercase())
                && &bytes[s..s + 4] != b"TAPE"
                && &bytes[s..s + 4] != b"EOTM"
        })
        .unwrap();
    bytes[s..s + 52].fill(0);
    std::fs::write(victim, &bytes).unwrap();
    let changers: Vec<Box<dyn MediaChanger>> = vec![Box::new(
        DirectoryLibrary::new(dir.path(), Default::default()).unwrap(),
    )];
    let mut out = MemoryFiles::default();
    let r = restore(
        changers,
        &ReadSpec {
            media_set_id: Some(set.id),
            data_set: None,
        },
        &mut out,
    )
    .unwrap();
    assert_eq!(out.files, expected(&t));
    assert!(out.duplicates.is_empty());
    // The damaged medium was refused as damaged, and medium 2 of family 1 asked for again.
    assert!(
        r.refusals
            .iter()
            .any(|(n, w)| n == victim && w.starts_with("damaged")),
        "{:?}",
        r.refusals
    );
    let again = r.requests.iter().filter(|x| (x.1, x.2) == (1, 2)).count();
    assert_eq!(again, 2, "{:?}", r.requests);
}

/// The .tap records of an image: (offset of the data, length).
fn records(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut at = 0usize;
    let mut out = Vec::new();
    while at + 4 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        if len == 0 {
            at += 4;
            continue;
        }
        if len == 0xFFFF_FFFF {
            break;
        }
        out.push((at + 4, len));
        at += 4 + len + (len & 1) + 4;
    }
    out
}

#[test]
fn a_changed_data_byte_fails_its_csum_and_a_mirror_stands_in() {
    let dir = tempfile::tempdir().unwrap();
    // A file on one medium, two copies; checksums on. (A file whose data runs over several
    // media has its CSUM on the last: a mismatch there refuses that medium only, and the
    // restore fails naming it, since the bad byte may lie on an earlier one.)
    let mut t = tree(17, 1, 10);
    t[0].2 = (0..30_000u32).map(|i| (i % 253) as u8).collect();
    let (report, set) = backup_tree(dir.path(), 1, 2, 1 << 20, &t);
    let mirror = report.families.iter().find(|f| f.mirror == 1).unwrap();
    // Flip one byte of file data in the middle of the mirror's first medium (the copy the
    // library offers first): a block that is all file data (no descriptor block starts it).
    let victim = &mirror.used[0].name;
    let mut bytes = std::fs::read(victim).unwrap();
    let (at, _) = *records(&bytes)
        .iter()
        .find(|(at, len)| {
            *len == BLOCK && !bytes[*at..*at + 4].iter().all(|c| c.is_ascii_uppercase())
        })
        .unwrap();
    bytes[at + 100] ^= 0x40;
    std::fs::write(victim, &bytes).unwrap();
    let spec = ReadSpec {
        media_set_id: Some(set.id),
        data_set: None,
    };
    let changers: Vec<Box<dyn MediaChanger>> = vec![Box::new(
        DirectoryLibrary::new(dir.path(), Default::default()).unwrap(),
    )];
    let mut out = MemoryFiles::default();
    let r = restore(changers, &spec, &mut out).unwrap();
    assert_eq!(out.files, expected(&t));
    assert!(
        r.refusals
            .iter()
            .any(|(n, w)| n == victim && w.contains("CSUM")),
        "{:?}",
        r.refusals
    );
    // Without the other copy, the restore fails on the checksum.
    for u in &report.families.iter().find(|f| f.mirror == 0).unwrap().used {
        std::fs::remove_file(&u.name).unwrap();
    }
    let changers: Vec<Box<dyn MediaChanger>> = vec![Box::new(
        DirectoryLibrary::new(dir.path(), Default::default()).unwrap(),
    )];
    let e = restore(changers, &spec, &mut MemoryFiles::default()).unwrap_err();
    assert!(e.to_string().contains("no image holds"), "{e}");
}

#[test]
fn a_csum_mismatch_in_a_file_that_spans_media_fails_the_restore_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = tree(19, 1, 10);
    t[0].2 = (0..150_000u32).map(|i| (i % 251) as u8).collect();
    let (report, set) = backup_tree(dir.path(), 1, 1, 100 * 1024, &t);
    let used = &report.families[0].used;
    assert!(used.len() >= 2);
    let victim = &used[0].name;
    let mut bytes = std::fs::read(victim).unwrap();
    let (at, _) = *records(&bytes)
        .iter()
        .find(|(at, len)| {
            *len == BLOCK && !bytes[*at..*at + 4].iter().all(|c| c.is_ascii_uppercase())
        })
        .unwrap();
    bytes[at + 7] ^= 1;
    std::fs::write(victim, &bytes).unwrap();
    let changers: Vec<Box<dyn MediaChanger>> = vec![Box::new(
        DirectoryLibrary::new(dir.path(), Default::default()).unwrap(),
    )];
    let mut out = MemoryFiles::default();
    let spec = ReadSpec {
        media_set_id: Some(set.id),
        data_set: None,
    };
    let e = restore(changers, &spec, &mut out).unwrap_err().to_string();
    assert!(e.contains("CSUM") && e.contains("earlier medium"), "{e}");
    // Nothing of the bad file was left in the sink.
    assert!(out.files.is_empty(), "{:?}", out.files.keys());
}
