//! Listing media (`mtf::reader::list_sets`: the media header, then the soft filemark catalog
//! or a scan) on arbitrary bytes, from a seekable source (the catalog path) and a pipe (the
//! scan), then grouping and merging the listings into media sets as the dumper does
//! (`media::set::group`). Never a
//! panic; errors are typed; every set listed lies inside the medium.
#![no_main]

use libfuzzer_sys::fuzz_target;
// Links the counting allocator (and its allocation limit).
use media::set::group::{group_media, merge_sets, MediumIdentity};
use mtf::reader::{list_sets, read_media_header, Listing, Mode, Reader, SeekSource, StreamSource};
use mtf_fuzz as _;
use std::io::Cursor;

fn check(l: &Listing, len: usize) {
    for s in &l.sets {
        assert!(
            s.offset() < len as u64,
            "set at {} past the end",
            s.offset()
        );
        let _ = (
            s.is_complete(),
            s.is_continuation(),
            s.size_on_medium(),
            s.volb(),
        );
        let _ = s
            .sset()
            .data_set_name
            .display(s.sset_block().dblk.header.string_type);
    }
    for d in &l.damage {
        let _ = format!("{d:?}");
    }
}

fuzz_target!(|medium: &[u8]| {
    let mut listings = Vec::new();
    for mode in [Mode::Resync, Mode::Strict] {
        let mut r = Reader::with_mode(SeekSource::new(Cursor::new(medium)), mode);
        if let Err(e) = read_media_header(&mut r) {
            assert!(
                e.offset().is_some() || matches!(e, mtf::Error::Io(_)),
                "{e}"
            );
        }
        for seekable in [true, false] {
            let listed = if seekable {
                list_sets(Reader::with_mode(
                    SeekSource::new(Cursor::new(medium)),
                    mode,
                ))
            } else {
                list_sets(Reader::with_mode(StreamSource::new(medium), mode))
            };
            match listed {
                Ok(l) => {
                    check(&l, medium.len());
                    listings.push(l);
                }
                Err(e) => assert!(
                    e.offset().is_some() || matches!(e, mtf::Error::Io(_)),
                    "{e}"
                ),
            }
        }
    }
    let ids: Vec<MediumIdentity> = listings
        .iter()
        .map(|l| MediumIdentity::from_header(&l.header))
        .collect();
    let refs: Vec<&Listing> = listings.iter().collect();
    for g in group_media(&ids) {
        let _ = g.media_in_order();
        for m in merge_sets(&g, &refs) {
            let _ = format!("{m:?}");
        }
    }
});
