//! Regression tests for what the fuzz targets (`fuzz/`) found. Each keeps the input that
//! showed the bug, as literal bytes or, for the structured targets, as the plan those bytes
//! decode to; the raw artifact is kept in `fuzz/regressions/<target>/` too, and `fuzz/run.sh`
//! replays it.

use mtf::block::Body;
use mtf::date::DateTime;
use mtf::spec::{BlockAttributes, BlockType, StreamId, StringType};
use mtf::text::{decode_str, split_dir_path};
use mtf::walk::{Event, Mode, Walker};
use mtf::writer::{
    EntryMeta, MediumOptions, MemoryMedia, MemorySink, SetOptions, VolumeOptions, Writer,
};

fn date() -> DateTime {
    DateTime::from_unix(1_700_000_000).unwrap()
}

/// Writes one set on small media (512-byte blocks, 25 blocks each, early warning 8 blocks
/// before the end) with `write` adding its entries; returns every medium.
fn tiny_media(write: impl FnOnce(&mut Writer<MemorySink, MemoryMedia>)) -> Vec<Vec<u8>> {
    let bs = 512usize;
    let mut opts = MediumOptions::new("fuzz", 0xF022, date());
    opts.flb_size = 512;
    opts.block_size = Some(bs);
    let (capacity, zone) = (bs as u64 * 25, bs as u64 * 8);
    let first = MemorySink {
        capacity: Some(capacity),
        early_warning_zone: zone,
        ..Default::default()
    };
    let mut w = Writer::with_media(first.clone(), opts, MemoryMedia::like(first)).unwrap();
    w.begin_set(SetOptions::new("", date())).unwrap();
    w.end_set().unwrap();
    w.begin_set(SetOptions::new("\u{1}", date())).unwrap();
    w.add_volume(&VolumeOptions::default()).unwrap();
    write(&mut w);
    w.end_set().unwrap();
    let (last, media) = w.into_parts().unwrap();
    let mut out: Vec<Vec<u8>> = media.done.into_iter().map(|m| m.data).collect();
    out.push(last.data);
    out
}

/// Per medium: the directory path and file name in force at each FILE block (continuations
/// included), read from that medium alone.
fn names_per_medium(media: &[Vec<u8>]) -> Vec<Vec<(Vec<String>, String, bool)>> {
    let st = StringType::UNICODE;
    media
        .iter()
        .map(|m| {
            let mut out = Vec::new();
            let mut dir = Vec::new();
            let mut stream = None;
            for ev in Walker::with_mode(&m[..], Mode::Strict) {
                match ev.unwrap() {
                    Event::Block { dblk, .. } => {
                        stream = None;
                        let cont = dblk
                            .header
                            .attributes
                            .contains(BlockAttributes::CONTINUATION);
                        match &dblk.body {
                            Body::Dirb(d) => dir = d.components(st),
                            Body::File(f) => {
                                out.push((dir.clone(), decode_str(&f.file_name.raw, st), cont))
                            }
                            _ => {}
                        }
                    }
                    Event::Stream { header, .. } => stream = Some(header.id),
                    Event::Data { bytes, .. } => match stream {
                        Some(StreamId::PNAM) => dir = split_dir_path(&bytes, st),
                        Some(StreamId::FNAM) => out.last_mut().unwrap().1 = decode_str(&bytes, st),
                        _ => {}
                    },
                    _ => {}
                }
            }
            out
        })
        .collect()
}

/// write_read_roundtrip, artifact `continued-dirb-loses-pnam` (48 bytes):
/// ff a0 a0 a8 79 79 79 79 a0 a0 9f 01 ff ff ff ff fe fe ff ff ff ff ff ff
/// ff ff ff 00 00 00 a0 ff 00 ff 2d cc ff cc ff b0 5d fe ff b0 5d fe f7 ff
///
/// A directory whose path is too long for its DIRB keeps it in a PNAM stream. When the medium
/// filled up, the writer repeated the DIRB on the next medium (as a continuation) without the
/// PNAM stream, so the files that followed there lost their directory.
#[test]
fn continued_dirb_keeps_its_pnam_stream() {
    let c1: String = "\u{ffff}".repeat(1200);
    let c2: String = "\u{b00ff}".repeat(685);
    let meta = EntryMeta::with_dates(Some(date()), date());
    let media = tiny_media(|w| {
        w.add_directory(&[c1.clone(), c2.clone()], &meta).unwrap();
        w.add_file("嶰", &meta, 0, &mut &b""[..]).unwrap();
    });
    assert!(media.len() >= 2, "the set must continue on a second medium");
    let names = names_per_medium(&media);
    let (dir, name, _) = names.iter().flatten().next().expect("the file");
    assert_eq!(name, "嶰");
    assert_eq!(dir, &vec![c1, c2], "the file lost its directory");
}

/// The same for a file: a long name (FNAM stream) whose data is cut across media is repeated
/// with its FNAM stream, and the whole name and path are known on every medium.
#[test]
fn continued_file_keeps_its_fnam_stream() {
    let long_dir = "d".repeat(700);
    let long_name = "n".repeat(700);
    let data = vec![0x5A; 40_000];
    let meta = EntryMeta::with_dates(Some(date()), date());
    let media = tiny_media(|w| {
        w.add_directory(std::slice::from_ref(&long_dir), &meta)
            .unwrap();
        w.add_file(&long_name, &meta, data.len() as u64, &mut &data[..])
            .unwrap();
    });
    assert!(media.len() >= 3, "the file's data must span media");
    let names = names_per_medium(&media);
    let files: Vec<_> = names.iter().flatten().collect();
    assert!(
        files.iter().filter(|f| f.2).count() >= 2,
        "continuations: {files:?}"
    );
    for (dir, name, _) in files {
        assert_eq!(name, &long_name);
        assert_eq!(dir, &vec![long_dir.clone()]);
    }
    // Every block type on the media is one the walk knows; nothing is left as a gap.
    for m in &media {
        assert!(Walker::new(&m[..]).all(|e| !matches!(e, Ok(Event::Gap { .. }))));
        assert!(Walker::new(&m[..]).any(|e| matches!(
            e,
            Ok(Event::Block { ref dblk, .. }) if dblk.block_type() == BlockType::TAPE
        )));
    }
}

/// media_catalog, artifact `append-to-tape-with-string-type-none` (8 KiB, a timeout): a medium
/// whose TAPE block has string type NONE (it stores no strings) and which ends cleanly. The
/// scan accepts it; the writer appending there took NONE as its string type, so every name came
/// out empty, and building the FDD looped for ever: the DIRB path separator, encoded in NONE, is
/// empty, and the search for it never advanced.
#[test]
fn appending_to_a_medium_whose_tape_block_has_no_string_type_terminates() {
    use mtf::writer::{AppendPoint, NoMoreMedia};
    let medium: &[u8] =
        include_bytes!("../../fuzz/regressions/media_catalog/append-to-tape-with-string-type-none");
    let point = AppendPoint::scan(medium).expect("the scan accepts the medium");
    assert_eq!(point.string_type, StringType::NONE);
    let offset = point.offset as usize;
    let point_offset = point.offset;
    let before = point.sets.len();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let r = (|| -> mtf::Result<MemorySink> {
            let mut w = Writer::append(MemorySink::default(), point, NoMoreMedia)?;
            w.begin_set(SetOptions::new("appended", date()))?;
            w.add_volume(&VolumeOptions {
                device: "C:".into(),
                volume: "V".into(),
                machine: "M".into(),
            })?;
            let meta = EntryMeta::with_dates(Some(date()), date());
            w.add_directory(&["d"], &meta)?;
            w.add_file("f", &meta, 5, &mut &b"hello"[..])?;
            w.end_set()?;
            w.finish()
        })();
        let _ = tx.send(r);
    });
    let sink = rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the append finishes")
        .expect("the append succeeds");
    let mut appended = medium[..offset].to_vec();
    appended.extend_from_slice(&sink.data);
    let again = AppendPoint::scan(&appended[..]).expect("the scan accepts the result");
    assert_eq!(again.sets.len(), before + 1);
    // The appended set's names are stored (in Unicode) and read back.
    let names: Vec<(BlockType, String)> = Walker::new(&appended[..])
        .filter_map(|e| match e.unwrap() {
            Event::Block { offset, dblk } if offset >= point_offset => {
                let st = dblk.header.string_type;
                match &dblk.body {
                    Body::Sset(s) => Some((BlockType::SSET, s.data_set_name.display(st))),
                    Body::Dirb(d) => Some((BlockType::DIRB, d.components(st).join("/"))),
                    Body::File(f) => Some((BlockType::FILE, f.file_name.display(st))),
                    _ => None,
                }
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        names,
        [
            (BlockType::SSET, "appended".to_string()),
            (BlockType::DIRB, "d".to_string()),
            (BlockType::FILE, "f".to_string()),
        ]
    );
}

/// Reads every medium in order with the walker (strict) and returns the STAN data of each
/// file, following continuations.
fn file_data(media: &[Vec<u8>]) -> Vec<Vec<u8>> {
    use mtf::spec::StreamMediaAttributes;
    let mut files: Vec<Vec<u8>> = Vec::new();
    let mut stream = None;
    for (m, medium) in media.iter().enumerate() {
        for ev in Walker::with_mode(&medium[..], Mode::Strict) {
            match ev.unwrap_or_else(|e| panic!("medium {m}: {e}")) {
                Event::Stream { header, .. } => {
                    stream = Some(header.id);
                    if header.id == StreamId::STAN
                        && !header
                            .media_attributes
                            .contains(StreamMediaAttributes::CONTINUE)
                    {
                        files.push(Vec::new());
                    }
                }
                Event::Data { bytes, .. } if stream == Some(StreamId::STAN) => {
                    files.last_mut().unwrap().extend_from_slice(&bytes)
                }
                Event::Block { .. } | Event::StreamCut { .. } => stream = None,
                Event::Pad { bytes, .. } => assert!(bytes.iter().all(|b| *b == 0)),
                Event::Gap { offset, .. } => panic!("medium {m}: gap at {offset}"),
                _ => {}
            }
        }
    }
    files
}

/// write_read_roundtrip, artifact `cut-three-bytes-before-the-end` (a file's data cut at a
/// block boundary with 3 bytes left to write): the walk looks for the end-of-medium mark (an
/// SFMB then an EOTM) at each block boundary inside a stream's data, but it tested the SFMB tag
/// against the data bytes buffered so far, and when the declared data ended less than four
/// bytes after the boundary the tag was not all there. The mark was missed, the SFMB's first
/// bytes were read as file data, and the rest became a gap. Here: file sizes that leave 0 to 5
/// bytes for the next medium at each of the first cuts.
#[test]
fn a_cut_less_than_four_bytes_before_the_data_ends_is_found() {
    let meta = EntryMeta::with_dates(Some(date()), date());
    let write = |size: u64| {
        let data: Vec<u8> = (0..size).map(|i| (i * 7 + 1) as u8).collect();
        let media = tiny_media(|w| {
            w.add_directory(&["d"], &meta).unwrap();
            w.add_file("f", &meta, size, &mut &data[..]).unwrap();
        });
        (data, media)
    };
    // Where the cuts fall: the data written before each (the layout before a cut does not
    // depend on the file's size).
    let (_, media) = write(40_000);
    let mut cuts = Vec::new();
    for m in &media {
        for ev in Walker::new(&m[..]) {
            if let Ok(Event::StreamCut { remaining, .. }) = ev {
                cuts.push(40_000 - remaining);
            }
        }
    }
    assert!(cuts.len() >= 2, "cuts {cuts:?}");
    for &c in &cuts[..2] {
        for left in 0..6 {
            let (data, media) = write(c + left);
            assert_eq!(
                file_data(&media),
                vec![data],
                "{left} bytes after the cut at {c}"
            );
        }
    }
}

/// structured_codec (`fuzz/regressions/structured_codec/sfmb-entries-overflow-the-table`): an
/// `Arbitrary` SFMB body with entries but a count of 0, in a 64-byte block. The fixed writer
/// wrote the first 4 bytes of an entry that does not fit (`85 85 30 35` at 60..64), which the
/// parser, sizing the table by the block, could not read back: the layout was not a fixed point.
#[test]
fn sfmb_with_more_entries_than_its_block_holds_lays_out_as_a_fixed_point() {
    use mtf::block::{Dblk, Sfmb, SfmbLayout};
    let body = Sfmb {
        number_of_entries: 0,
        entries_used: 0,
        // The finding's layout: 8-byte entries at 60 (then called the spec layout).
        layout: SfmbLayout::Wide,
        entries: vec![0x3530_8585],
    };
    let mut d = Dblk::new(BlockType::SFMB, Body::Sfmb(body));
    d.header.offset_to_first_event = 64;
    let mut once = Vec::new();
    d.write_fixed(&mut once).unwrap();
    assert_eq!(once.len(), 64);
    assert_eq!(&once[60..64], &[0; 4], "no partial entry");
    let (mut back, _) = Dblk::parse(&once, Some(64)).unwrap();
    let mut twice = Vec::new();
    back.write_fixed(&mut twice).unwrap();
    assert_eq!(once, twice);
}

/// media_catalog, artifact `append-after-a-soft-filemark-id-near-the-top` (8 KiB, a panic): a
/// medium whose soft filemark (SFMB) carries control block id 0xFFFFFFFE. An append numbers
/// its soft filemarks on from the highest id on the medium, and the second one overflowed
/// (a panic with overflow checks). The numbers now go round; the append is whole and listed.
#[test]
fn appending_after_a_soft_filemark_id_near_the_top_goes_round() {
    use mtf::writer::{AppendPoint, NoMoreMedia};
    let medium: &[u8] = include_bytes!(
        "../../fuzz/regressions/media_catalog/append-after-a-soft-filemark-id-near-the-top"
    );
    let point = AppendPoint::scan(medium).expect("the scan accepts the medium");
    assert!(
        point.soft_filemarks >= u32::MAX - 1,
        "{}",
        point.soft_filemarks
    );
    let offset = point.offset as usize;
    let before = point.sets.len();
    let mut w = Writer::append(MemorySink::default(), point, NoMoreMedia).unwrap();
    w.begin_set(SetOptions::new("appended", date())).unwrap();
    w.add_volume(&VolumeOptions {
        device: "C:".into(),
        volume: "V".into(),
        machine: "M".into(),
    })
    .unwrap();
    let meta = EntryMeta::with_dates(Some(date()), date());
    w.add_directory(&["d"], &meta).unwrap();
    w.add_file("f", &meta, 5, &mut &b"hello"[..]).unwrap();
    w.end_set().unwrap();
    let sink = w.finish().unwrap();
    let mut appended = medium[..offset].to_vec();
    appended.extend_from_slice(&sink.data);
    let again = AppendPoint::scan(&appended[..]).expect("the scan accepts the result");
    assert_eq!(again.sets.len(), before + 1);
    assert_eq!(again.offset, appended.len() as u64);
}
