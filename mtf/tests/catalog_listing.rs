//! Listing from the set map: media written by this project's writer, with soft filemarks (a
//! seekable file) and with hardware filemarks (a tape that can space), list their sets from the
//! last set's TSMP and read a small part of the medium; a damaged set map falls back to the
//! older ways with the same sets.

use mtf::date::DateTime;
use mtf::reader::source::{BlockRead, BlockSource, Counting, MemoryTape, SeekSource};
use mtf::reader::{list_sets, ListMethod, Listing, Reader, StreamSource};
use mtf::writer::*;
use mtf::StreamId;
use std::io::{self, Cursor};

fn date(s: u32) -> DateTime {
    DateTime::from_unix(1_700_000_000 + s as i64).unwrap()
}

const BLOCK: usize = 4096;

/// Set `k` (0-based) has `k + 1` directories and `k + 2` files of 50 000 bytes.
fn medium(hardware_filemarks: bool, sets: usize) -> MemorySink {
    let mut opts = MediumOptions::new("catalog listing", 11, date(0));
    opts.block_size = Some(BLOCK);
    let sink = MemorySink {
        hardware_filemarks,
        ..Default::default()
    };
    let mut w = Writer::new(sink, opts).unwrap();
    for k in 0..sets {
        let mut so = SetOptions::new(&format!("set {k}"), date(10 + k as u32));
        so.description = format!("description {k}");
        so.user = format!("user{k}");
        w.begin_set(so).unwrap();
        w.add_volume(&VolumeOptions {
            device: "C:".into(),
            volume: "SYS".into(),
            machine: "HOST".into(),
        })
        .unwrap();
        let meta = EntryMeta::with_dates(Some(date(1)), date(2));
        for d in 0..=k {
            w.add_directory(&[&format!("d{d}")], &meta).unwrap();
        }
        for f in 0..k + 2 {
            let data = vec![f as u8; 50_000];
            w.add_file(&format!("f{f}"), &meta, data.len() as u64, &mut &data[..])
                .unwrap();
        }
        w.end_set().unwrap();
    }
    w.finish().unwrap()
}

fn tape_of(sink: &MemorySink) -> MemoryTape {
    let mut tape = MemoryTape::new();
    let mut at = 0usize;
    for &fm in &sink.filemarks {
        tape.push_blocks(&sink.data[at..fm as usize], BLOCK);
        tape.push_filemark();
        at = fm as usize;
    }
    tape.push_blocks(&sink.data[at..], BLOCK);
    tape
}

/// A tape that cannot space: the reader must scan it.
struct NoSpacing(MemoryTape);

impl BlockSource for NoSpacing {
    fn read_block(&mut self, buf: &mut [u8]) -> io::Result<BlockRead> {
        self.0.read_block(buf)
    }
    fn is_block_device(&self) -> bool {
        true
    }
}

fn check_sets(l: &Listing, sets: usize) {
    assert_eq!(l.sets.len(), sets);
    for (k, s) in l.sets.iter().enumerate() {
        let e = s.set_map.as_ref().expect("set map entry");
        assert_eq!(e.data_set_number as usize, k + 1);
        assert_eq!(s.sset().data_set_number as usize, k + 1);
        assert_eq!(e.data_set_name.display(e.string_type), format!("set {k}"));
        assert_eq!(
            e.data_set_description.display(e.string_type),
            format!("description {k}")
        );
        assert_eq!(e.user_name.display(e.string_type), format!("user{k}"));
        assert_eq!(e.number_of_directories as usize, k + 1);
        assert_eq!(e.number_of_files as usize, k + 2);
        assert_eq!(e.data_set_displayable_size, 50_000 * (k as u64 + 2));
        assert!(s.is_complete(), "{s:?}");
    }
}

fn same_boundaries(a: &Listing, b: &Listing) {
    assert_eq!(a.sets.len(), b.sets.len());
    for (x, y) in a.sets.iter().zip(&b.sets) {
        assert_eq!(x.offset(), y.offset());
        assert_eq!(x.data_end, y.data_end);
        assert_eq!(x.end, y.end);
        assert_eq!(x.sset().data_set_number, y.sset().data_set_number);
        assert_eq!(
            x.blocks.iter().map(|b| b.offset).collect::<Vec<_>>(),
            y.blocks.iter().map(|b| b.offset).collect::<Vec<_>>()
        );
    }
    assert_eq!(a.filemarks, b.filemarks);
    let last = |l: &Listing| {
        l.sets
            .last()
            .map(|s| s.esets.iter().map(|e| e.offset).collect::<Vec<_>>())
    };
    assert_eq!(last(a), last(b));
}

#[test]
fn a_file_lists_from_the_set_map() {
    let m = medium(false, 4).data;
    let l = list_sets(Reader::new(SeekSource::new(Counting::new(Cursor::new(
        m.clone(),
    )))))
    .unwrap();
    assert_eq!(l.method, ListMethod::SetMap, "{:?}", l.notes);
    check_sets(&l, 4);
    // The TAPE block, the last SFMB, the last set's ESETs and one SSET region per set.
    assert!(
        l.bytes_read <= (3 + 4) as u64 * BLOCK as u64 + 16 * 1024,
        "read {} of {}",
        l.bytes_read,
        m.len()
    );
    assert!(
        l.bytes_read * 10 < m.len() as u64,
        "read {} of {}",
        l.bytes_read,
        m.len()
    );
    let scan = list_sets(Reader::new(StreamSource::new(&m[..]))).unwrap();
    assert_eq!(scan.method, ListMethod::Scan);
    same_boundaries(&l, &scan);
}

#[test]
fn a_tape_lists_from_the_set_map_by_spacing() {
    let sink = medium(true, 3);
    let total = sink.data.len() as u64;
    let l = list_sets(Reader::new(tape_of(&sink))).unwrap();
    assert_eq!(l.method, ListMethod::SetMap, "{:?}", l.notes);
    check_sets(&l, 3);
    // The TAPE block, the last set's closing section (ESET, TFDD, TSMP, ESET) and a block or
    // two per SSET.
    assert!(l.reads <= 1 + 8 + 2 * 3, "{} reads", l.reads);
    assert!(
        l.bytes_read * 10 < total,
        "read {} of {total}",
        l.bytes_read
    );
    assert_eq!(l.filemarks.len(), sink.filemarks.len());
    let scan = list_sets(Reader::new(NoSpacing(tape_of(&sink)))).unwrap();
    assert_eq!(scan.method, ListMethod::Scan);
    assert_eq!(scan.bytes_read, total);
    same_boundaries(&l, &scan);
}

/// The offset of the last set's TSMP data.
fn tsmp_data_offset(l: &Listing) -> usize {
    let s = l.sets.last().unwrap();
    let st = s
        .esets
        .iter()
        .flat_map(|e| &e.streams)
        .find(|st| st.header.id == StreamId::TSMP)
        .expect("TSMP");
    st.offset as usize + 22
}

#[test]
fn a_damaged_set_map_falls_back_with_the_same_sets() {
    // Soft filemarks: the SFMB catalog takes over.
    let mut m = medium(false, 3).data;
    let good = list_sets(Reader::new(SeekSource::new(Cursor::new(m.clone())))).unwrap();
    let at = tsmp_data_offset(&good);
    // The media family id: no longer the TAPE block's.
    m[at] ^= 0xff;
    let l = list_sets(Reader::new(SeekSource::new(Cursor::new(m.clone())))).unwrap();
    assert_eq!(l.method, ListMethod::Catalog);
    assert!(
        l.notes.iter().any(|n| n.contains("set map not used")),
        "{:?}",
        l.notes
    );
    assert!(l.sets.iter().all(|s| s.set_map.is_none()));
    same_boundaries(&good, &l);
    // A set map that claims more entries than it holds does not decode.
    m[at] ^= 0xff;
    m[at + 4] = 0xff;
    m[at + 5] = 0x7f;
    let l = list_sets(Reader::new(SeekSource::new(Cursor::new(m)))).unwrap();
    assert_eq!(l.method, ListMethod::Catalog);
    assert!(
        l.notes.iter().any(|n| n.contains("does not decode")),
        "{:?}",
        l.notes
    );

    // Hardware filemarks: back to the start and a scan.
    let mut sink = medium(true, 2);
    let good = list_sets(Reader::new(tape_of(&sink))).unwrap();
    let at = tsmp_data_offset(&good);
    sink.data[at] ^= 0xff;
    let l = list_sets(Reader::new(tape_of(&sink))).unwrap();
    assert_eq!(l.method, ListMethod::Scan, "{:?}", l.notes);
    assert!(l.notes.iter().any(|n| n.contains("set map not used")));
    same_boundaries(&good, &l);
}

#[test]
fn a_medium_without_a_set_map_is_listed_as_before() {
    let mut opts = MediumOptions::new("no catalog", 12, date(0));
    opts.block_size = Some(BLOCK);
    opts.catalog = false;
    let mut w = Writer::new(MemorySink::default(), opts).unwrap();
    w.begin_set(SetOptions::new("plain", date(3))).unwrap();
    w.end_set().unwrap();
    let m = w.finish().unwrap().data;
    let l = list_sets(Reader::new(SeekSource::new(Cursor::new(m)))).unwrap();
    assert_eq!(l.method, ListMethod::Catalog);
    assert!(l.notes.is_empty(), "{:?}", l.notes);
    assert_eq!(l.sets.len(), 1);
}
