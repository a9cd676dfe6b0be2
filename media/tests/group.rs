//! Media given in any order grouped into a media set, its continuation media put in sequence,
//! and a set continued over several media merged back into one (`media::set::group`); media
//! made by `mtf`'s writer on in-memory media.

use media::set::group::{group_media, merge_sets, MediumIdentity};
use mtf::date::DateTime;
use mtf::reader::source::SeekSource;
use mtf::reader::{list_sets, Listing, Reader};
use mtf::writer::*;
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

fn list(bytes: &[u8]) -> Listing {
    list_sets(Reader::new(SeekSource::new(Cursor::new(bytes.to_vec())))).unwrap()
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
    // (How each medium lists on its own: mtf/tests/reader.rs.)
    let ids: Vec<MediumIdentity> = listings
        .iter()
        .map(|l| MediumIdentity::from_header(&l.header))
        .collect();
    let refs: Vec<&Listing> = listings.iter().collect();
    // Given in any order, the media are put in sequence and the set is whole.
    let mut order: Vec<usize> = (0..ids.len()).rev().collect();
    order.rotate_left(1);
    let shuffled: Vec<MediumIdentity> = order.iter().map(|&i| ids[i].clone()).collect();
    let shuffled_refs: Vec<&Listing> = order.iter().map(|&i| refs[i]).collect();
    let groups = group_media(&shuffled);
    assert_eq!(groups.len(), 1);
    assert!(groups[0].problems.is_empty(), "{:?}", groups[0].problems);
    let merged = merge_sets(&groups[0], &shuffled_refs);
    assert_eq!(merged.len(), 1);
    assert_eq!(merged[0].parts.len(), all.len());
    assert!(merged[0].complete);
    let seqs: Vec<u16> = merged[0]
        .parts
        .iter()
        .map(|p| p.media_sequence_number)
        .collect();
    assert_eq!(seqs, (1..=all.len() as u16).collect::<Vec<_>>());
    // Only the first medium: the set is reported as continued on a medium not given.
    let g = group_media(&ids[..1]);
    let m = merge_sets(&g[0], &refs[..1]);
    assert!(m[0].continues_on_missing_medium && !m[0].complete);
    // Missing the middle medium is named.
    let g = group_media(&[ids[0].clone(), ids[2].clone()]);
    assert!(
        g[0].problems.iter().any(|p| p.contains("missing")),
        "{:?}",
        g[0].problems
    );
}
