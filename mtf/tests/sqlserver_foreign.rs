//! SQL Server's own streams in the foreign samples: the RAID stream on the TAPE block (media
//! set id, family count and number) and the CSUM streams of backups taken WITH CHECKSUM.

mod common;

use mtf::stream::simple::Csum;
use mtf::stream::sqlserver::{BackupChecksum, Raid};
use mtf::walk::{Event, Mode, Walker};
use mtf::{Body, StreamId};
use std::collections::BTreeMap;
use std::io::BufReader;

/// A stream's data and the data of the stream before it.
type WithPreceding = (Vec<u8>, Vec<u8>);

/// The TAPE block's media family id, and every stream of one id in a sample with the stream
/// before it.
fn streams(path: &std::path::Path, id: StreamId) -> (u32, Vec<WithPreceding>) {
    let f = std::fs::File::open(path).unwrap();
    let mut family_id = 0;
    let mut out = Vec::new();
    let (mut prev, mut cur): (Vec<u8>, Vec<u8>) = (Vec::new(), Vec::new());
    let mut cur_id = None;
    let mut finish = |cur_id: &mut Option<StreamId>, prev: &mut Vec<u8>, cur: &mut Vec<u8>| {
        if *cur_id == Some(id) {
            out.push((std::mem::take(cur), prev.clone()));
        }
        *prev = std::mem::take(cur);
        *cur_id = None;
    };
    for ev in Walker::with_mode(BufReader::new(f), Mode::Strict) {
        match ev.unwrap_or_else(|e| panic!("{}: {e}", path.display())) {
            Event::Block { dblk, .. } => {
                finish(&mut cur_id, &mut prev, &mut cur);
                if let Body::Tape(t) = dblk.body {
                    family_id = t.media_family_id;
                }
            }
            Event::Stream { header, .. } => {
                finish(&mut cur_id, &mut prev, &mut cur);
                cur_id = Some(header.id);
            }
            Event::Data { bytes, .. } => cur.extend_from_slice(&bytes),
            _ => {}
        }
    }
    finish(&mut cur_id, &mut prev, &mut cur);
    (family_id, out)
}

#[test]
fn raid_streams_name_the_media_set_and_the_family() {
    let mut raids: BTreeMap<String, (u32, Raid)> = BTreeMap::new();
    for path in common::sql_server_samples() {
        if !std::fs::read(&path).unwrap().starts_with(b"TAPE") {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let (family_id, found) = streams(&path, StreamId::RAID);
        assert_eq!(found.len(), 1, "{name}: one RAID stream");
        let data = &found[0].0;
        assert_eq!(data.len(), Raid::LEN, "{name}");
        let r = Raid::decode(data).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(r.encode_raw(), *data, "{name}: round trip");
        r.check().unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(r.unknown_16, Raid::UNKNOWN_16_SEEN, "{name}");
        assert_eq!((r.unknown_22, r.unknown_30), (1, 1), "{name}");
        assert_eq!(r.reserved, [0; 4], "{name}");
        assert!(r.extra.is_empty(), "{name}");
        assert_eq!(r.media_set_id.version(), 4, "{name}: random GUID");
        assert_eq!(
            r,
            Raid::new(r.media_set_id, r.family_count, r.family_number)
        );
        println!(
            "{name}: media set {} family {}/{}",
            r.media_set_id, r.family_number, r.family_count
        );
        raids.insert(name, (family_id, r));
    }
    if raids.is_empty() {
        return;
    }
    for stem in ["sql2008r2_stripe_full", "sql2008r2_stripe_log"] {
        let ext = if stem.ends_with("log") { "trn" } else { "bak" };
        let (f1, a) = &raids[&format!("{stem}_1of2.{ext}")];
        let (f2, b) = &raids[&format!("{stem}_2of2.{ext}")];
        assert_eq!((a.family_count, a.family_number), (2, 1), "{stem}");
        assert_eq!((b.family_count, b.family_number), (2, 2), "{stem}");
        assert_eq!(a.media_set_id, b.media_set_id, "{stem}: one media set");
        assert_ne!(f1, f2, "{stem}: each family has its own media family id");
    }
    for (name, (_, r)) in &raids {
        if name.contains("stripe") {
            continue;
        }
        // The 2014 sample is family 1 of a two-family set whose second file is not here.
        let count = if name == "sql2014_full_northwind.bak" {
            2
        } else {
            1
        };
        assert_eq!((r.family_count, r.family_number), (count, 1), "{name}");
    }
    // Media set ids are unique apart from the stripe pairs.
    let mut ids: Vec<_> = raids.values().map(|(_, r)| r.media_set_id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), raids.len() - 2);
}

#[test]
fn sql_server_csum_is_its_own_checksum_not_mtf_xor32() {
    let mut checked = 0;
    for path in common::sql_server_samples() {
        if !std::fs::read(&path).unwrap().starts_with(b"TAPE") {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        for (data, preceding) in streams(&path, StreamId::CSUM).1 {
            let c = Csum::decode(&data).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(c.encode_raw(), data);
            assert!(!c.matches(&preceding), "{name}: unexpectedly MTF XOR-32");
            assert_eq!(c.value, BackupChecksum::of(&preceding), "{name}");
            checked += 1;
        }
    }
    if common::foreign_dir().is_some() {
        assert_eq!(checked, 3, "the two WITH CHECKSUM samples hold 3 CSUMs");
    }
}
