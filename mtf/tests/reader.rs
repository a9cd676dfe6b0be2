//! The reader over media made by this project's writer: hardware and soft filemarks, data
//! skipped by seeking, truncation and damage, strict mode, nonsense refused, and a set that
//! continues over several media read back as one.

use mtf::date::DateTime;
use mtf::reader::source::{Counting, MemoryTape, SeekSource};
use mtf::reader::{list_sets, Event, ListMethod, Listing, Mode, Reader, StreamSource};
use mtf::writer::*;
use mtf::{BlockType, Error};
use std::io::Cursor;

fn date(s: u32) -> DateTime {
    DateTime::from_unix(1_700_000_000 + s as i64).unwrap()
}

/// Writes one set with the given files (name, size) into `w`.
fn write_set<S: BlockSink, M: MediaSupplier<S>>(w: &mut Writer<S, M>, files: &[(&str, usize)]) {
    w.begin_set(SetOptions::new("reader test", date(5)))
        .unwrap();
    w.add_volume(&VolumeOptions {
        device: "C:".into(),
        volume: "SYS".into(),
        machine: "HOST".into(),
    })
    .unwrap();
    w.add_directory(&["dir"], &EntryMeta::with_dates(Some(date(1)), date(5)))
        .unwrap();
    for (name, size) in files {
        let data: Vec<u8> = (0..*size).map(|i| (i * 7 + 3) as u8).collect();
        let meta = EntryMeta::with_dates(Some(date(2)), date(5));
        w.add_file(name, &meta, data.len() as u64, &mut &data[..])
            .unwrap();
    }
    w.end_set().unwrap();
}

fn file_medium(files: &[(&str, usize)], sets: usize) -> Vec<u8> {
    let mut opts = MediumOptions::new("reader", 7, date(0));
    opts.block_size = Some(4096);
    let mut w = Writer::new(MemorySink::default(), opts).unwrap();
    for _ in 0..sets {
        write_set(&mut w, files);
    }
    w.finish().unwrap().data
}

fn list(bytes: &[u8]) -> Listing {
    list_sets(Reader::new(SeekSource::new(Cursor::new(bytes.to_vec())))).unwrap()
}

#[test]
fn catalog_and_scan_find_the_same_sets() {
    let m = file_medium(&[("a", 100), ("b", 200_000)], 3);
    let cat = list(&m);
    let scan = list_sets(Reader::new(StreamSource::new(&m[..]))).unwrap();
    assert_eq!(cat.method, ListMethod::SetMap, "{:?}", cat.notes);
    assert_eq!(scan.method, ListMethod::Scan);
    assert_eq!(cat.sets.len(), 3);
    for (a, b) in cat.sets.iter().zip(&scan.sets) {
        assert_eq!(a.offset(), b.offset());
        assert_eq!(a.end, b.end);
        assert_eq!(a.data_end, b.data_end);
        assert!(a.is_complete() && b.is_complete());
        assert_eq!(a.sset().data_set_number, b.sset().data_set_number);
    }
    // The catalog reads headers only; the scan skips data but reads every block.
    assert!(cat.bytes_read < m.len() as u64 / 2, "{}", cat.bytes_read);
    assert_eq!(cat.physical_block_size, Some(4096));
    assert_eq!(cat.header.params.flb_size, Some(1024));
}

#[test]
fn stream_data_is_skipped_by_seeking() {
    let m = file_medium(&[("big", 3 << 20)], 1);
    let mut r = Reader::new(SeekSource::new(Counting::new(Cursor::new(m.clone()))));
    r.set_read_ahead(4096);
    let mut streams = 0;
    while let Some(ev) = r.next_event().unwrap() {
        if let Event::Stream { .. } = ev {
            streams += 1;
        }
    }
    assert!(streams > 3);
    // All but the medium's last blocks (8 soft filemark blocks of 4 KiB), which the reader
    // reads to look for an end-of-medium mark (a stream cut by the end of the medium).
    assert!(
        r.bytes_skipped() >= (3 << 20) - 8 * 4096,
        "{}",
        r.bytes_skipped()
    );
    assert!(r.bytes_read() < 512 * 1024, "read {}", r.bytes_read());
    let counted = r.into_source().into_inner().bytes;
    assert!(counted < 512 * 1024, "counted {counted}");
}

#[test]
fn a_truncated_stream_is_reported_even_when_skipped() {
    let m = file_medium(&[("big", 1 << 20)], 1);
    // Cut in the middle of the big file's data.
    let cut = 600_000;
    let mut r = Reader::new(SeekSource::new(Cursor::new(m[..cut].to_vec())));
    let mut damage = Vec::new();
    while let Some(ev) = r.next_event().unwrap() {
        if let Event::Damage(d) = ev {
            damage.push(d);
        }
    }
    assert_eq!(damage.len(), 1, "{damage:?}");
    assert!(matches!(damage[0].reason, Error::Truncated { .. }));
    assert_eq!(damage[0].offset, cut as u64);
    assert!(damage[0].len > 0);
    // Strict mode: the same cut is an error.
    let mut r = Reader::with_mode(
        SeekSource::new(Cursor::new(m[..cut].to_vec())),
        Mode::Strict,
    );
    let err = loop {
        match r.next_event() {
            Ok(Some(_)) => {}
            Ok(None) => panic!("no error"),
            Err(e) => break e,
        }
    };
    assert!(matches!(err, Error::Truncated { .. }), "{err}");
}

#[test]
fn damage_is_stepped_over_and_the_next_set_still_listed() {
    let mut m = file_medium(&[("a", 5000)], 2);
    let sets = list(&m);
    let second = sets.sets[1].offset() as usize;
    // Wreck the second set's VOLB (the block after its SSET).
    let volb = sets.sets[1].blocks[0].offset as usize;
    assert!(volb > second);
    for (i, b) in m[volb..volb + 60].iter_mut().enumerate() {
        *b = (i * 13 + 5) as u8;
    }
    let scan = list_sets(Reader::new(StreamSource::new(&m[..]))).unwrap();
    assert_eq!(scan.sets.len(), 2);
    let d = &scan.sets[1].damage;
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].offset, volb as u64);
    assert!(d[0].reason.contains("checksum"), "{}", d[0].reason);
    assert!(scan.sets[1].is_complete());
    // Strict mode stops there.
    let r = Reader::with_mode(StreamSource::new(&m[..]), Mode::Strict);
    assert!(matches!(
        list_sets(r),
        Err(Error::BlockChecksum { offset, .. }) if offset == volb as u64
    ));
}

#[test]
fn hardware_filemarks_from_a_block_source() {
    let mut opts = MediumOptions::new("tape", 9, date(0));
    opts.block_size = Some(8192);
    let sink = MemorySink {
        hardware_filemarks: true,
        ..Default::default()
    };
    let mut w = Writer::new(sink, opts).unwrap();
    write_set(&mut w, &[("x", 20_000)]);
    write_set(&mut w, &[("y", 1)]);
    let sink = w.finish().unwrap();
    let mut tape = MemoryTape::new();
    let mut at = 0usize;
    for &fm in &sink.filemarks {
        tape.push_blocks(&sink.data[at..fm as usize], 8192);
        tape.push_filemark();
        at = fm as usize;
    }
    tape.push_blocks(&sink.data[at..], 8192);
    let l = list_sets(Reader::new(tape)).unwrap();
    assert_eq!(l.method, ListMethod::SetMap);
    assert_eq!(l.physical_block_size, Some(8192));
    assert_eq!(l.sets.len(), 2);
    assert!(l.sets.iter().all(|s| s.is_complete()), "{:?}", l.sets);
    assert_eq!(l.filemarks.len(), sink.filemarks.len());
}

#[test]
fn a_set_continued_over_media_reads_as_one() {
    let mut opts = MediumOptions::new("span", 77, date(0));
    opts.block_size = Some(8 * 1024);
    let first = MemorySink {
        capacity: Some(160 * 1024),
        early_warning_zone: 40 * 1024,
        ..Default::default()
    };
    let mut w = Writer::with_media(first.clone(), opts, MemoryMedia::like(first)).unwrap();
    write_set(
        &mut w,
        &[("before", 1000), ("huge", 300_000), ("after", 5000)],
    );
    let (last, media) = w.into_parts().unwrap();
    let mut all: Vec<Vec<u8>> = media.done.iter().map(|m| m.data.clone()).collect();
    all.push(last.data);
    assert!(all.len() >= 3);
    let listings: Vec<Listing> = all.iter().map(|m| list(m)).collect();
    // Every medium but the last ends with an EOTM; the set continues there.
    for (i, l) in listings.iter().enumerate() {
        assert_eq!(l.sets.len(), 1, "medium {i}");
        let s = &l.sets[0];
        assert_eq!(s.is_continuation(), i > 0, "medium {i}");
        assert_eq!(l.header.is_continuation(), i > 0);
        if i + 1 < listings.len() {
            assert!(l.eotm.is_some(), "medium {i}");
            assert!(s.continues && !s.is_complete(), "medium {i}");
        } else {
            assert!(s.is_complete());
        }
    }
    // Grouping the media and merging the set across them: media/tests/group.rs.
}

#[test]
fn nonsense_media_headers_are_refused() {
    let mut m = file_medium(&[("a", 10)], 1);
    // FLB size 999 (offset 84), header checksum left valid (it covers bytes 0..50 only).
    m[84..86].copy_from_slice(&999u16.to_le_bytes());
    let r = Reader::with_mode(SeekSource::new(Cursor::new(m.clone())), Mode::Strict);
    let e = list_sets(r).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Invalid {
                field: "format logical block size",
                ..
            }
        ),
        "{e}"
    );
    // Not MTF at all.
    let e = list_sets(Reader::new(StreamSource::new(
        &b"hello world, no tape here"[..],
    )))
    .unwrap_err();
    assert!(matches!(e, Error::NotMtf { .. }), "{e}");
    let e = list_sets(Reader::new(StreamSource::new(&b"MSSQLBAK\x02\0\0\0"[..]))).unwrap_err();
    assert!(matches!(e, Error::SqlServerCompressed), "{e}");
    // A soft filemark size beyond reason.
    let mut m2 = file_medium(&[("a", 10)], 1);
    m2[64..66].copy_from_slice(&u16::MAX.to_le_bytes());
    let r = Reader::with_mode(SeekSource::new(Cursor::new(m2)), Mode::Strict);
    let e = list_sets(r).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Invalid {
                field: "soft filemark block size",
                ..
            }
        ),
        "{e}"
    );
    let _ = BlockType::TAPE;
}

/// Writes one set holding a 300,000-byte file onto small media (soft or hardware filemarks);
/// returns each medium's bytes and hardware filemark offsets.
fn spanned(hardware: bool) -> Vec<MemorySink> {
    let blank = MemorySink {
        capacity: Some(160 * 1024),
        early_warning_zone: 40 * 1024,
        hardware_filemarks: hardware,
        ..Default::default()
    };
    let mut opts = MediumOptions::new("cut", 5, date(0));
    opts.block_size = Some(8 * 1024);
    let mut w = Writer::with_media(blank.clone(), opts, MemoryMedia::like(blank)).unwrap();
    write_set(&mut w, &[("huge", 300_000)]);
    let (last, media) = w.into_parts().unwrap();
    let mut all = media.done;
    all.push(last);
    all
}

/// Every event of a medium, with the data of each stream read (sizes only).
fn events<S: mtf::reader::source::BlockSource>(mut r: Reader<S>) -> Vec<(String, u64, u64)> {
    let mut out = Vec::new();
    while let Some(ev) = r.next_event().unwrap() {
        out.push(match ev {
            Event::Block { offset, dblk } => (dblk.block_type().to_string(), offset, 0),
            Event::Stream { offset, header } => {
                let mut n = 0u64;
                while let Some(c) = r.read_data().unwrap() {
                    n += c.len() as u64;
                }
                (header.id.to_string(), offset, n)
            }
            Event::Filemark { offset } => ("filemark".into(), offset, 0),
            Event::StreamCut { offset, remaining } => ("cut".into(), offset, remaining),
            Event::Damage(d) => (format!("damage: {}", d.reason), d.offset, d.len),
        });
    }
    out
}

fn as_tape(sink: &MemorySink) -> MemoryTape {
    let mut tape = MemoryTape::new();
    let mut at = 0usize;
    for &fm in &sink.filemarks {
        tape.push_blocks(&sink.data[at..fm as usize], 8192);
        tape.push_filemark();
        at = fm as usize;
    }
    tape.push_blocks(&sink.data[at..], 8192);
    tape
}

#[test]
fn a_stream_cut_by_the_end_of_a_medium_is_reported_as_cut() {
    for hardware in [false, true] {
        let media = spanned(hardware);
        assert_eq!(media.len(), 3, "hardware filemarks: {hardware}");
        let mut data_per_medium = Vec::new();
        for (i, m) in media.iter().enumerate() {
            // Seekable file, pipe, and (hardware filemarks) tape records: the same events.
            let evs = if hardware {
                events(Reader::new(as_tape(m)))
            } else {
                let seek = events(Reader::new(SeekSource::new(Cursor::new(m.data.clone()))));
                let pipe = events(Reader::new(StreamSource::new(&m.data[..])));
                assert_eq!(seek, pipe, "medium {i}");
                seek
            };
            let what = format!("medium {i}, hardware filemarks {hardware}: {evs:?}");
            assert!(!evs.iter().any(|e| e.0.starts_with("damage")), "{what}");
            let stan: u64 = evs.iter().filter(|e| e.0 == "STAN").map(|e| e.2).sum();
            data_per_medium.push(stan);
            let cuts: Vec<_> = evs.iter().filter(|e| e.0 == "cut").collect();
            if i + 1 < media.len() {
                assert_eq!(cuts.len(), 1, "{what}");
                // The stream's declared length is what this medium holds plus what is cut off.
                let stan_hdr = evs.iter().rposition(|e| e.0 == "STAN").unwrap();
                let cut_at = evs.iter().position(|e| e.0 == "cut").unwrap();
                assert_eq!(cut_at, stan_hdr + 1, "{what}");
                // After the cut: the end-of-medium procedure, an EOTM between filemarks.
                let after: Vec<&str> = evs[cut_at + 1..]
                    .iter()
                    .map(|e| e.0.as_str())
                    .filter(|t| *t != "SPAD")
                    .collect();
                let mark = if hardware { "filemark" } else { "SFMB" };
                assert_eq!(after, [mark, "EOTM", mark], "{what}");
            } else {
                assert!(cuts.is_empty(), "{what}");
            }
        }
        assert_eq!(
            data_per_medium.iter().sum::<u64>(),
            300_000,
            "{data_per_medium:?}"
        );
    }
}

#[test]
fn a_cut_without_an_eotm_after_it_is_damage() {
    let media = spanned(false);
    let m = &media[0].data;
    // The medium's end-of-medium mark: an SFMB followed one block later by the EOTM.
    let eotm = m.windows(4).rposition(|w| w == b"EOTM").unwrap();
    let sfmb = eotm - 8192;
    assert_eq!(&m[sfmb..sfmb + 4], b"SFMB");
    // Without the EOTM (the medium ends after the SFMB), the data runs into the SFMB and then
    // ends short: a truncation, not a cut.
    let evs = events(Reader::new(SeekSource::new(Cursor::new(
        m[..eotm].to_vec(),
    ))));
    assert!(!evs.iter().any(|e| e.0 == "cut"), "{evs:?}");
    assert!(evs.iter().any(|e| e.0.starts_with("damage")), "{evs:?}");
    // On tape, a filemark in the middle of the data followed by something other than an EOTM.
    let tapes = spanned(true);
    let t = &tapes[0];
    let mut tape = MemoryTape::new();
    let first_fm = t.filemarks[0] as usize;
    // Filemarks: after the TAPE block, at the cut (before the EOTM), after the EOTM.
    assert_eq!(t.filemarks.len(), 3, "{:?}", t.filemarks);
    let cut = t.filemarks[1] as usize;
    tape.push_blocks(&t.data[..first_fm], 8192);
    tape.push_filemark();
    tape.push_blocks(&t.data[first_fm..cut], 8192);
    tape.push_filemark();
    // A second TAPE block where the EOTM should be.
    tape.push_blocks(&t.data[..8192], 8192);
    let evs = events(Reader::new(tape));
    let cut_at = evs.iter().position(|e| e.0 == "cut").expect("cut reported");
    assert!(
        evs[cut_at..]
            .iter()
            .any(|e| e.0.contains("no EOTM follows")),
        "{evs:?}"
    );
    // Strict mode: an error.
    let mut tape = MemoryTape::new();
    tape.push_blocks(&t.data[..first_fm], 8192);
    tape.push_filemark();
    tape.push_blocks(&t.data[first_fm..cut], 8192);
    tape.push_filemark();
    tape.push_blocks(&t.data[..8192], 8192);
    let mut r = Reader::with_mode(tape, Mode::Strict);
    let err = loop {
        match r.next_event() {
            Ok(Some(Event::Stream { .. })) => while r.read_data().unwrap().is_some() {},
            Ok(Some(_)) => {}
            Ok(None) => panic!("strict mode reached the end"),
            Err(e) => break e,
        }
    };
    assert!(err.to_string().contains("no EOTM follows"), "{err}");
}

/// Every event of a medium with each stream's data bytes, read by `read_data` (`into` None) or
/// by `read_data_into` with a buffer of `into` bytes.
fn events_and_data<S: mtf::reader::source::BlockSource>(
    mut r: Reader<S>,
    into: Option<usize>,
) -> Vec<(String, u64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; into.unwrap_or(0)];
    loop {
        let ev = match r.next_event() {
            Ok(Some(ev)) => ev,
            Ok(None) => break,
            Err(e) => {
                out.push((format!("error: {e}"), 0, Vec::new()));
                break;
            }
        };
        out.push(match ev {
            Event::Block { offset, dblk } => (dblk.block_type().to_string(), offset, Vec::new()),
            Event::Stream { offset, header } => {
                let mut data = Vec::new();
                match into {
                    None => {
                        while let Some(c) = r.read_data().unwrap() {
                            data.extend_from_slice(c);
                        }
                    }
                    Some(_) => {
                        while let Some(n) = r.read_data_into(&mut buf).unwrap() {
                            assert!(n > 0 && n <= buf.len(), "{n} bytes into {}", buf.len());
                            data.extend_from_slice(&buf[..n]);
                        }
                    }
                }
                (header.id.to_string(), offset, data)
            }
            Event::Filemark { offset } => ("filemark".into(), offset, Vec::new()),
            Event::StreamCut { offset, remaining } => {
                (format!("cut {remaining}"), offset, Vec::new())
            }
            Event::Damage(d) => (format!("damage: {}", d.reason), d.offset, Vec::new()),
        });
    }
    out
}

/// Makes the same medium's source afresh, for each way of reading it.
type SourceMaker = Box<dyn Fn() -> Box<dyn mtf::reader::source::BlockSource>>;

/// The bytes as a seekable file.
fn file_of(d: Vec<u8>) -> SourceMaker {
    Box::new(move || Box::new(SeekSource::new(Cursor::new(d.clone()))))
}

/// The bytes as a pipe.
fn pipe_of(d: Vec<u8>) -> SourceMaker {
    Box::new(move || Box::new(StreamSource::new(Cursor::new(d.clone()))))
}

/// The tape, from its start.
fn tape_of(t: MemoryTape) -> SourceMaker {
    Box::new(move || Box::new(t.clone()))
}

/// `read_data_into` straight into the caller's buffer (big enough for a whole record or
/// read-ahead) or through the reader's (smaller ones) gives the same events and bytes as
/// `read_data`: on files, pipes and tape records, with streams cut by the end of a medium, a
/// medium cut short, and several files a set.
#[test]
fn reading_data_into_a_buffer_gives_what_read_data_gives() {
    let mut cases: Vec<(String, SourceMaker)> = Vec::new();
    for (i, m) in spanned(false).into_iter().enumerate() {
        let d = m.data;
        cases.push((format!("soft medium {i}, file"), file_of(d.clone())));
        cases.push((format!("soft medium {i}, pipe"), pipe_of(d.clone())));
        // Cut short inside the data, where no end-of-medium mark is: a truncation.
        let short = d[..d.len() * 2 / 3].to_vec();
        cases.push((format!("soft medium {i}, cut short"), file_of(short)));
        // As tape records (no length known: the reader looks ahead for end-of-medium marks),
        // and cut by a filemark inside the data with more records after it, which the data
        // must not take.
        let mut t = MemoryTape::new();
        t.push_blocks(&d, 8192);
        cases.push((format!("soft medium {i}, tape"), tape_of(t)));
        let mut t = MemoryTape::new();
        t.push_blocks(&d[..d.len() / 2 / 8192 * 8192], 8192);
        t.push_filemark();
        t.push_blocks(&d[..8192 * 4], 8192);
        cases.push((
            format!("soft medium {i}, tape cut by a filemark"),
            tape_of(t),
        ));
    }
    for (i, m) in spanned(true).iter().enumerate() {
        cases.push((format!("tape medium {i}"), tape_of(as_tape(m))));
    }
    // An empty record amid the data (a tape may hold one): read past, both ways.
    let d = spanned(true).remove(2).data;
    let half = d.len() / 2 / 8192 * 8192;
    let mut t = MemoryTape::new();
    t.push_blocks(&d[..half], 8192);
    t.push_record(Vec::new());
    t.push_blocks(&d[half..], 8192);
    cases.push(("tape with an empty record".into(), tape_of(t)));
    let many = file_medium(&[("a", 10), ("b", 70_000), ("c", 0), ("d", 3_000_000)], 2);
    // Records of 5000 bytes: they do not fall on the format's blocks, so a record holds the
    // end of one stream's data and the next headers.
    let mut t = MemoryTape::new();
    t.push_blocks(&many, 5000);
    cases.push(("odd records".into(), tape_of(t)));
    cases.push(("files".into(), file_of(many)));
    for (what, source) in &cases {
        let want = events_and_data(Reader::new(source()), None);
        assert!(want.iter().any(|e| !e.2.is_empty()), "{what}: no data read");
        let room = Reader::new(source()).direct_read_room();
        for size in [1, 4099, room - 1, room, room + 12_345, 3 << 20] {
            let got = events_and_data(Reader::new(source()), Some(size));
            assert!(
                got == want,
                "{what}, buffer of {size} bytes: {} events, not {}",
                got.len(),
                want.len()
            );
        }
    }
}
