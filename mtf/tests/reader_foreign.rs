//! The reader over the foreign samples: the soft filemark catalog and a full scan find the same
//! sets, boundaries and SQL Server details, and the catalog reads only headers.

mod common;

use mtf::reader::{list_sets, FileSource, ListMethod, Listing, Reader, StreamSource};
use mtf::sqlserver::SqlSetInfo;
use std::path::Path;

fn listing_catalog(p: &Path) -> Listing {
    list_sets(Reader::new(FileSource::open(p).unwrap())).unwrap()
}

fn listing_scan(p: &Path) -> Listing {
    let f = std::fs::File::open(p).unwrap();
    list_sets(Reader::new(StreamSource::new(f))).unwrap()
}

#[test]
fn catalog_and_scan_agree_on_every_sample() {
    for p in common::foreign_samples() {
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with("compressed") {
            continue;
        }
        let a = listing_catalog(&p);
        let b = listing_scan(&p);
        assert_eq!(a.method, ListMethod::Catalog, "{name}: {:?}", a.notes);
        assert_eq!(b.method, ListMethod::Scan);
        let summary = |l: &Listing| {
            l.sets
                .iter()
                .map(|s| {
                    (
                        s.offset(),
                        s.data_end,
                        s.end,
                        s.esets.iter().map(|e| e.offset).collect::<Vec<_>>(),
                        s.blocks
                            .iter()
                            .map(|b| (b.offset, b.block_type()))
                            .collect::<Vec<_>>(),
                        SqlSetInfo::from_set(s),
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(summary(&a), summary(&b), "{name}");
        assert_eq!(a.filemarks, b.filemarks, "{name}");
        assert!(a.sets.iter().all(|s| s.is_complete()), "{name}");

        assert!(
            a.bytes_read < 32 * 1024 + 64 * 1024 * a.sets.len() as u64,
            "{name}: catalog read {} bytes",
            a.bytes_read
        );
    }
}
