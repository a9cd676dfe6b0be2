//! The writer's output, read back with the codec's own walk: content, names, sizes and dates
//! survive; the layout obeys the spec's rules; a file spans media and comes back whole.

use mtf::block::Body;
use mtf::checksum::Xor32;
use mtf::date::{DateTime, MtfDateTime};
use mtf::spec::{BlockAttributes, BlockType, StreamId, StreamMediaAttributes};
use mtf::walk::{Event, Mode, Walker};
use mtf::writer::*;
use std::collections::BTreeMap;

fn date(s: u32) -> DateTime {
    DateTime::from_unix(1_700_000_000 + s as i64).unwrap()
}

/// A tiny deterministic generator, so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Clone, Debug, PartialEq)]
struct FileSpec {
    dir: Vec<String>,
    name: String,
    data: Vec<u8>,
    mtime: DateTime,
}

fn random_tree(seed: u64) -> Vec<FileSpec> {
    let mut r = Rng(seed | 1);
    let names = [
        "a",
        "Ümlaut",
        "日本語",
        "spaces in name",
        "x".repeat(200).leak(),
        "emoji😀",
        "UPPER",
    ];
    let mut files = Vec::new();
    let dirs: Vec<Vec<String>> = (0..6)
        .map(|_| {
            (0..r.below(12))
                .map(|i| format!("{}{}", names[r.below(names.len() as u64) as usize], i))
                .collect()
        })
        .collect();
    for (k, dir) in dirs.iter().enumerate() {
        for i in 0..r.below(20) {
            let len = match r.below(10) {
                0 => 0,
                1 => 200_000 + r.below(300_000) as usize,
                _ => r.below(3000) as usize,
            };
            let data = (0..len).map(|j| (j as u64 * 31 + seed + i) as u8).collect();
            files.push(FileSpec {
                dir: dir.clone(),
                name: format!(
                    "{}-{k}-{i}.bin",
                    names[r.below(names.len() as u64) as usize]
                ),
                data,
                mtime: date(r.below(1_000_000) as u32),
            });
        }
    }
    files
}

fn write_set<S: BlockSink, M: MediaSupplier<S>>(
    w: &mut Writer<S, M>,
    name: &str,
    files: &[FileSpec],
    checksums: bool,
) {
    let mut opts = SetOptions::new(name, date(5));
    opts.checksums = checksums;
    opts.user = "tester".into();
    w.begin_set(opts).unwrap();
    w.add_volume(&VolumeOptions {
        device: "C:".into(),
        volume: "SYS".into(),
        machine: "HOST".into(),
    })
    .unwrap();
    let mut by_dir: BTreeMap<Vec<String>, Vec<&FileSpec>> = BTreeMap::new();
    for f in files {
        by_dir.entry(f.dir.clone()).or_default().push(f);
    }
    for (dir, fs) in by_dir {
        w.add_directory(&dir, &EntryMeta::with_dates(Some(date(1)), date(5)))
            .unwrap();
        for f in fs {
            let meta = EntryMeta::with_dates(Some(f.mtime), date(5));
            w.add_file(&f.name, &meta, f.data.len() as u64, &mut &f.data[..])
                .unwrap();
        }
    }
    w.end_set().unwrap();
}

/// A restored file's content and modification date.
type Restored = (Vec<u8>, MtfDateTime);

/// What a full scan of the media finds.
#[derive(Default, Debug)]
struct Scan {
    sets: Vec<(u16, String)>,
    files: BTreeMap<(u16, Vec<String>, String), Restored>,
    sequences: Vec<u16>,
    set_maps: Vec<Vec<u8>>,
    fdds: Vec<Vec<u8>>,
    cuts: usize,
    eotms: Vec<(BlockAttributes, u64)>,
}

/// Reads media in order, following continuation, checking the layout rules on the way.
fn scan(media: &[Vec<u8>], block_size: usize, hardware_marks: &[Vec<u64>]) -> Scan {
    let mut s = Scan::default();
    let mut st = mtf::spec::StringType::NONE;
    let mut set = 0u16;
    let mut dir: Vec<String> = Vec::new();
    let mut file: Option<(Vec<String>, String, MtfDateTime)> = None;
    let mut data: Vec<u8> = Vec::new();
    let mut stream: Option<StreamId> = None;
    let mut stan_total = 0u64;
    let mut csum = Xor32::new();
    let mut flb = 0u64;
    for (m, medium) in media.iter().enumerate() {
        let mut last_stream_in_block: Option<StreamId> = None;
        let mut filemarks: Vec<u64> = Vec::new();
        // (offset, FLA) of the SSET in force on this medium: every later DBLK of the set must
        // satisfy FLA = SSET FLA + (offset - SSET offset) / FLB, the spec's PBA arithmetic.
        let mut sset_at: Option<(u64, u64)> = None;
        for ev in Walker::with_mode(&medium[..], Mode::Strict) {
            let ev = ev.unwrap_or_else(|e| panic!("medium {m}: {e}"));
            match ev {
                Event::Block { offset, dblk } => {
                    if let Some(l) = last_stream_in_block.take() {
                        assert_eq!(
                            l,
                            StreamId::SPAD,
                            "SPAD must be last in the block before {offset}"
                        );
                    }
                    if let Body::Tape(t) = &dblk.body {
                        flb = t.format_logical_block_size as u64;
                        s.sequences.push(t.media_sequence_number);
                        assert_eq!(t.soft_filemark_bytes(), block_size);
                    }
                    assert_eq!(offset % flb, 0, "DBLK at {offset} not on an FLB boundary");
                    st = if dblk.header.string_type.0 != 0 {
                        dblk.header.string_type
                    } else {
                        st
                    };
                    let cont = dblk
                        .header
                        .attributes
                        .contains(BlockAttributes::CONTINUATION);
                    let fla = dblk.header.format_logical_address;
                    match dblk.block_type() {
                        BlockType::SSET => sset_at = Some((offset, fla)),
                        BlockType::VOLB
                        | BlockType::DIRB
                        | BlockType::FILE
                        | BlockType::CFIL
                        | BlockType::ESPB => {
                            let (so, sf) = sset_at.expect("DBLK before SSET");
                            assert_eq!(
                                fla,
                                sf + (offset - so) / flb,
                                "medium {m}: FLA of {} at {offset}",
                                dblk.block_type()
                            );
                        }
                        _ => {}
                    }
                    match &dblk.body {
                        Body::Sset(x) => {
                            set = x.data_set_number;
                            if !cont {
                                s.sets.push((set, x.data_set_name.display(st)));
                            }
                        }
                        Body::Dirb(d) => dir = d.components(st),
                        Body::File(f) if !cont => {
                            file = Some((
                                dir.clone(),
                                f.file_name.display(st),
                                f.dates.last_modification,
                            ));
                            data.clear();
                        }
                        Body::Sfmb(sf) => {
                            assert_eq!(offset % block_size as u64, 0, "SFMB off a physical block");
                            assert_eq!(
                                sf.used_entries(),
                                filemarks
                                    .iter()
                                    .rev()
                                    .copied()
                                    .collect::<Vec<_>>()
                                    .as_slice()
                            );
                            filemarks.push(offset / block_size as u64);
                            last_stream_in_block = None;
                        }
                        Body::Eotm(e) => {
                            assert_eq!(offset % block_size as u64, 0);
                            s.eotms.push((dblk.header.attributes, e.last_eset_pba));
                        }
                        _ => {}
                    }
                    if dblk.block_type() != BlockType::SFMB {
                        last_stream_in_block = Some(StreamId([0; 4]));
                    }
                }
                Event::Stream { header, .. } => {
                    last_stream_in_block = Some(header.id);
                    stream = Some(header.id);
                    if header.id == StreamId::TFDD {
                        s.fdds.push(Vec::new());
                    }
                    if header.id == StreamId::STAN {
                        if header
                            .media_attributes
                            .contains(StreamMediaAttributes::CONTINUE)
                        {
                            assert_eq!(
                                stan_total - data.len() as u64,
                                header.length,
                                "continued length"
                            );
                        } else {
                            csum = Xor32::new();
                            stan_total = header.length;
                        }
                        if header.length == 0 {
                            let (d, n, t) = file.clone().unwrap();
                            s.files.insert((set, d, n), (Vec::new(), t));
                        }
                    }
                }
                Event::Data { bytes, .. } => match stream {
                    Some(StreamId::STAN) => {
                        csum.update(&bytes);
                        data.extend_from_slice(&bytes);
                        if data.len() as u64 == stan_total {
                            let (d, n, t) = file.clone().unwrap();
                            s.files.insert((set, d, n), (data.clone(), t));
                        }
                    }
                    Some(StreamId::CSUM) => assert_eq!(
                        u32::from_le_bytes(bytes[..4].try_into().unwrap()),
                        csum.value()
                    ),
                    Some(StreamId::TSMP) => s.set_maps.push(bytes),
                    Some(StreamId::TFDD) => s
                        .fdds
                        .last_mut()
                        .expect("TFDD stream")
                        .extend_from_slice(&bytes),
                    Some(StreamId::PNAM) => dir = mtf::text::split_dir_path(&bytes, st),
                    Some(StreamId::FNAM) => {
                        if let Some(f) = file.as_mut() {
                            f.1 = mtf::text::decode_str(&bytes, st);
                        }
                    }
                    _ => {}
                },
                Event::Pad { bytes, .. } => assert!(bytes.iter().all(|b| *b == 0)),
                Event::StreamCut { remaining, .. } => {
                    last_stream_in_block = None;
                    assert_eq!(stream, Some(StreamId::STAN));
                    assert_eq!(remaining, stan_total - data.len() as u64);
                    s.cuts += 1;
                }
                Event::Gap { offset, .. } => panic!("gap at {offset}"),
            }
        }
        if hardware_marks.is_empty() {
            assert!(medium.len() % block_size == 0);
        }
    }
    s
}

fn files_of(scan: &Scan, set: u16) -> BTreeMap<(Vec<String>, String), (Vec<u8>, MtfDateTime)> {
    scan.files
        .iter()
        .filter(|((s, _, _), _)| *s == set)
        .map(|((_, d, n), v)| ((d.clone(), n.clone()), v.clone()))
        .collect()
}

fn expected(files: &[FileSpec]) -> BTreeMap<(Vec<String>, String), (Vec<u8>, MtfDateTime)> {
    files
        .iter()
        .map(|f| {
            (
                (f.dir.clone(), f.name.clone()),
                (f.data.clone(), MtfDateTime::from_datetime(f.mtime).unwrap()),
            )
        })
        .collect()
}

#[test]
fn random_trees_round_trip_through_a_file_medium() {
    for seed in [1u64, 7, 42, 1234] {
        let tree = random_tree(seed);
        let mut opts = MediumOptions::new("Weekly", 0xFACE, date(0));
        opts.block_size = Some(16 * 1024);
        let mut w = Writer::new(MemorySink::default(), opts).unwrap();
        write_set(&mut w, "first", &tree, seed % 2 == 0);
        let tree2 = random_tree(seed + 100);
        write_set(&mut w, "second", &tree2, true);
        let sink = w.finish().unwrap();
        let s = scan(std::slice::from_ref(&sink.data), 16 * 1024, &[]);
        assert_eq!(
            s.sets,
            vec![(1, "first".to_string()), (2, "second".to_string())]
        );
        for (set, t) in [(1, &tree), (2, &tree2)] {
            let (got, want) = (files_of(&s, set), expected(t));
            let gk: Vec<_> = got.keys().collect();
            let wk: Vec<_> = want.keys().collect();
            assert_eq!(gk, wk, "seed {seed} set {set}: names");
            assert!(
                got == want,
                "seed {seed} set {set}: content or dates differ"
            );
        }
        assert_eq!(s.set_maps.len(), 2);
        // Each set's FDD, decoded independently, names exactly the files the scan found.
        for (i, t) in [&tree, &tree2].iter().enumerate() {
            let fdd = mtf::stream::catalog1::Fdd::decode(&s.fdds[i]).unwrap();
            let mut names: Vec<String> = fdd
                .entries
                .iter()
                .filter(|e| e.entry_type() == BlockType::FILE)
                .filter_map(|e| e.name())
                .collect();
            let mut want: Vec<String> = t.iter().map(|f| f.name.clone()).collect();
            names.sort();
            want.sort();
            assert_eq!(names, want, "seed {seed} set {}", i + 1);
        }
    }
}

#[test]
fn many_small_files_and_empty_ones() {
    let files: Vec<FileSpec> = (0..3000)
        .map(|i| FileSpec {
            dir: vec!["many".into()],
            name: format!("f{i:05}"),
            data: if i % 3 == 0 {
                vec![]
            } else {
                vec![i as u8; i % 97]
            },
            mtime: date(i as u32),
        })
        .collect();
    let mut w = Writer::new(MemorySink::default(), MediumOptions::new("m", 1, date(0))).unwrap();
    write_set(&mut w, "small", &files, false);
    let sink = w.finish().unwrap();
    let s = scan(&[sink.data], DEFAULT_FILE_BLOCK_SIZE, &[]);
    assert_eq!(files_of(&s, 1), expected(&files));
}

#[test]
fn a_file_spans_three_media_and_reads_back_whole() {
    let big: Vec<u8> = (0..300_000u32).map(|i| (i * 7 + i / 1000) as u8).collect();
    let files = vec![
        FileSpec {
            dir: vec!["d".into()],
            name: "before".into(),
            data: vec![1; 1000],
            mtime: date(1),
        },
        FileSpec {
            dir: vec!["d".into()],
            name: "huge".into(),
            data: big,
            mtime: date(2),
        },
        FileSpec {
            dir: vec!["d".into()],
            name: "z-after".into(),
            data: vec![2; 5000],
            mtime: date(3),
        },
    ];
    let mut opts = MediumOptions::new("span", 77, date(0));
    opts.block_size = Some(8 * 1024);
    let first = MemorySink {
        capacity: Some(160 * 1024),
        early_warning_zone: 40 * 1024,
        ..Default::default()
    };
    let mut w = Writer::with_media(first.clone(), opts, MemoryMedia::like(first)).unwrap();
    write_set(&mut w, "spanning", &files, true);
    let (last, done) = w.into_parts().unwrap();
    let mut media: Vec<Vec<u8>> = done.done.iter().map(|m| m.data.clone()).collect();
    media.push(last.data);
    assert!(
        media.len() >= 3,
        "expected at least 3 media, got {}",
        media.len()
    );
    let s = scan(&media, 8 * 1024, &[]);
    assert_eq!(s.sequences, (1..=media.len() as u16).collect::<Vec<_>>());
    assert_eq!(s.sets, vec![(1, "spanning".to_string())]);
    assert_eq!(files_of(&s, 1), expected(&files));
    assert!(s.cuts >= 2, "the big file's data was cut {} times", s.cuts);
    // No set had finished on the media that filled up, so their EOTMs say so.
    assert_eq!(s.eotms.len(), media.len() - 1);
    assert!(s
        .eotms
        .iter()
        .all(|(a, pba)| a.contains(BlockAttributes::EOTM_NO_ESET_PBA) && *pba == 0));
    // Every medium but the last ends FILEMARK, EOTM, FILEMARK; later ones start with a
    // continuation TAPE.
    for (i, m) in media.iter().enumerate() {
        let blocks: Vec<(BlockType, BlockAttributes)> = Walker::new(&m[..])
            .filter_map(|e| match e.unwrap() {
                Event::Block { dblk, .. } => Some((dblk.block_type(), dblk.header.attributes)),
                _ => None,
            })
            .collect();
        assert_eq!(blocks[0].0, BlockType::TAPE);
        assert_eq!(blocks[0].1.contains(BlockAttributes::CONTINUATION), i > 0);
        if i + 1 < media.len() {
            let n = blocks.len();
            assert_eq!(
                [blocks[n - 3].0, blocks[n - 2].0, blocks[n - 1].0],
                [BlockType::SFMB, BlockType::EOTM, BlockType::SFMB],
                "medium {i}"
            );
        }
        if i > 0 {
            assert_eq!(blocks[2].0, BlockType::SSET);
            assert!(blocks[2].1.contains(BlockAttributes::CONTINUATION));
        }
    }
}

#[test]
fn hardware_filemarks_go_to_the_sink_on_block_boundaries() {
    let files = random_tree(9);
    let mut opts = MediumOptions::new("tape", 5, date(0));
    opts.block_size = Some(32 * 1024);
    let mut w = Writer::new(
        MemorySink {
            hardware_filemarks: true,
            ..Default::default()
        },
        opts,
    )
    .unwrap();
    write_set(&mut w, "t1", &files, false);
    write_set(&mut w, "t2", &files[..3], false);
    let sink = w.finish().unwrap();
    // TAPE | FM | set 1 | FM | ESET | FM | set 2 | FM | ESET | FM
    assert_eq!(sink.filemarks.len(), 5);
    for fm in &sink.filemarks {
        assert_eq!(fm % (32 * 1024), 0);
    }
    // Reading file by file (between filemarks) gives every piece whole.
    let mut bounds = vec![0u64];
    bounds.extend(&sink.filemarks);
    let sections: Vec<&[u8]> = bounds
        .windows(2)
        .map(|w| &sink.data[w[0] as usize..w[1] as usize])
        .collect();
    assert!(sections[0].starts_with(b"TAPE"));
    assert!(sections[1].starts_with(b"SSET"));
    assert!(sections[2].starts_with(b"ESET"));
}

#[test]
fn appending_continues_set_numbers_and_the_set_map_matches_a_full_scan() {
    let mut opts = MediumOptions::new("append", 0xABCD, date(0));
    opts.block_size = Some(4096);
    let a = random_tree(3);
    let mut w = Writer::new(MemorySink::default(), opts).unwrap();
    write_set(&mut w, "one", &a, false);
    let first = w.finish().unwrap().data;

    let point = AppendPoint::scan(&first[..]).unwrap();
    assert_eq!(point.offset, first.len() as u64);
    assert_eq!(point.sets.len(), 1);
    let mut sink = MemorySink {
        data: first.clone(),
        ..Default::default()
    };
    sink.data.truncate(point.offset as usize);
    let mut w = Writer::append(sink, point, NoMoreMedia).unwrap();
    let b = random_tree(4);
    write_set(&mut w, "two", &b, true);
    write_set(&mut w, "three", &a[..2], false);
    let all = w.finish().unwrap().data;
    assert_eq!(
        &all[..first.len()],
        &first[..],
        "appending must not touch what was there"
    );

    let s = scan(std::slice::from_ref(&all), 4096, &[]);
    assert_eq!(
        s.sets,
        vec![(1, "one".into()), (2, "two".into()), (3, "three".into())]
    );
    assert_eq!(files_of(&s, 2), expected(&b));
    // The last set map is cumulative and lists exactly the sets the scan found.
    let map = mtf::stream::catalog1::SetMap::decode(s.set_maps.last().unwrap()).unwrap();
    assert_eq!(map.media_family_id, 0xABCD);
    let listed: Vec<(u16, String)> = map
        .entries
        .iter()
        .map(|e| {
            (
                e.data_set_number,
                e.data_set_name.display(mtf::spec::StringType::UNICODE),
            )
        })
        .collect();
    assert_eq!(listed, s.sets);
    assert_eq!(map.entries[1].number_of_files as usize, b.len());
    // Each entry's SSET address (in physical blocks) points at that set's SSET.
    for e in &map.entries {
        let at = e.sset_pba as usize * 4096;
        assert_eq!(&all[at..at + 4], b"SSET", "set {}", e.data_set_number);
        let sset_number = u16::from_le_bytes([all[at + 62], all[at + 63]]);
        assert_eq!(sset_number, e.data_set_number);
    }
    // The writer's set map and FDD re-encode byte-exactly through the independent decoder.
    assert_eq!(map.encode_raw(), *s.set_maps.last().unwrap());
}

#[test]
fn appending_refuses_a_medium_that_ends_inside_a_set() {
    let mut opts = MediumOptions::new("x", 1, date(0));
    opts.block_size = Some(4096);
    let mut w = Writer::new(MemorySink::default(), opts).unwrap();
    write_set(&mut w, "one", &random_tree(5), false);
    let data = w.finish().unwrap().data;
    // Cut the closing ESET and filemark off.
    // Without its closing filemark: the set is complete but not closed.
    // The reader reports the missing filemark itself (a soft-filemark medium must end with
    // one); the append scan, reading on, would say no filemark closes the set.
    let err = AppendPoint::scan(&data[..data.len() - 4096]).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("ends without its closing soft filemark")
            || text.contains("filemark that closes a set"),
        "{err}"
    );
    // Cut inside the set's data: refused as well (the walk reports the truncation).
    let err = AppendPoint::scan(&data[..data.len() / 2]).unwrap_err();
    assert!(err.offset().is_some(), "{err}");
}

#[test]
fn a_string_type_that_cannot_hold_names_is_refused() {
    for st in [0u8, 3, 255] {
        let mut opts = MediumOptions::new("names", 1, date(0));
        opts.string_type = mtf::spec::StringType(st);
        let err = Writer::new(MemorySink::default(), opts)
            .err()
            .expect("refused");
        assert!(err.to_string().contains("string type"), "{err}");
    }
}
