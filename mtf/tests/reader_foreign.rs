//! The reader over the foreign samples: the set map (with the soft filemark catalog) and a full
//! scan find the same sets, boundaries and SQL Server details, and the set map reads only
//! headers.

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
        assert_eq!(a.method, ListMethod::SetMap, "{name}: {:?}", a.notes);
        assert_eq!(b.method, ListMethod::Scan);
        let summary = |l: &Listing| {
            let n = l.sets.len();
            l.sets
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    (
                        s.offset(),
                        s.data_end,
                        s.end,
                        // The set map is read from the last set's ESETs only.
                        (i + 1 == n).then(|| s.esets.iter().map(|e| e.offset).collect::<Vec<_>>()),
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
        // Every set carries its set map entry, whose displayable size is SQL Server's
        // BackupSize.
        for s in &a.sets {
            let e = s.set_map.as_ref().expect("set map entry");
            assert_eq!(e.data_set_number, s.sset().data_set_number, "{name}");
            if let Some(size) = SqlSetInfo::from_set(s).scin().and_then(|c| c.backup_size) {
                assert_eq!(e.data_set_displayable_size, size, "{name}");
            }
        }

        assert!(
            a.bytes_read < 32 * 1024 + 64 * 1024 * a.sets.len() as u64,
            "{name}: catalog read {} bytes",
            a.bytes_read
        );
    }
}
