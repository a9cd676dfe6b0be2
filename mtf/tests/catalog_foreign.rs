//! The Type 1 set map (TSMP) that SQL Server writes on each data set's first ESET, decoded from
//! every foreign sample and checked against what the same file shows elsewhere: the TAPE
//! block's media family id, each SSET's number, strings, attributes, date and position, and the
//! VOLB's strings. Decoding must give the payload back byte for byte, and since SQL Server lays
//! set maps out the way the fixed writer does, so must re-laying it out.

mod common;

use mtf::block::{Body, Sset, Tape, Volb};
use mtf::stream::catalog1::{SetMap, VolumePlacement};
use mtf::walk::{Event, Mode, Walker};
use mtf::{DbHeader, StreamId};
use std::io::BufReader;

/// What one walk of a sample yields for this test.
#[derive(Default)]
struct Seen {
    tape: Option<Tape>,
    /// Each SSET with its header and file offset, in order.
    ssets: Vec<(u64, DbHeader, Sset)>,
    /// Each VOLB with its header, in order.
    volbs: Vec<(DbHeader, Volb)>,
    /// Each TSMP: its stream header's offset and its data.
    tsmps: Vec<(u64, Vec<u8>)>,
    /// How many SSETs preceded each TSMP.
    sets_before: Vec<usize>,
    /// Each ESET's Reserved for MBC #1, with its offset.
    esets: Vec<(u64, u64)>,
}

fn walk(path: &std::path::Path) -> Seen {
    let f = std::fs::File::open(path).unwrap();
    let mut seen = Seen::default();
    let mut in_tsmp = false;
    for ev in Walker::with_mode(BufReader::new(f), Mode::Strict) {
        let ev = ev.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if !matches!(ev, Event::Data { .. }) {
            in_tsmp = false;
        }
        match ev {
            Event::Block { offset, dblk } => match dblk.body {
                Body::Tape(t) => seen.tape = Some(t),
                Body::Sset(s) => seen.ssets.push((offset, dblk.header, s)),
                Body::Volb(v) => seen.volbs.push((dblk.header, v)),
                Body::Eset(e) => seen.esets.push((offset, e.reserved_for_mbc1)),
                _ => {}
            },
            Event::Stream { offset, header } if header.id == StreamId::TSMP => {
                in_tsmp = true;
                seen.tsmps.push((offset, Vec::new()));
                seen.sets_before.push(seen.ssets.len());
            }
            Event::Data { bytes, .. } if in_tsmp => {
                seen.tsmps.last_mut().unwrap().1.extend_from_slice(&bytes)
            }
            _ => {}
        }
    }
    seen
}

#[test]
fn every_sql_server_set_map_decodes_matches_the_file_and_round_trips() {
    let mut maps = 0;
    let mut entries = 0;
    for path in common::sql_server_samples() {
        let head = std::fs::read(&path).unwrap();
        if !head.starts_with(b"TAPE") {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let seen = walk(&path);
        let tape = seen.tape.as_ref().expect("TAPE block");
        assert!(!seen.tsmps.is_empty(), "{name}: no TSMP stream");
        for (k, (tsmp_offset, data)) in seen.tsmps.iter().enumerate() {
            let map = SetMap::decode(data).unwrap_or_else(|e| panic!("{name}: {e}"));
            maps += 1;
            assert_eq!(map.encode_raw(), *data, "{name}: raw round trip");
            let mut fixed = map.clone();
            assert_eq!(
                fixed.encode_fixed().unwrap(),
                *data,
                "{name}: SQL Server's layout is the fixed writer's"
            );
            assert_eq!(map.media_family_id, tape.media_family_id, "{name}");
            assert!(map.trailing.is_empty(), "{name}");
            // The map is cumulative: one entry per set written so far.
            let sets = seen.sets_before[k];
            assert_eq!(map.number_of_entries as usize, sets, "{name}");
            assert_eq!(map.entries.len(), sets, "{name}");
            for (i, e) in map.entries.iter().enumerate() {
                entries += 1;
                let (sset_offset, sh, s) = &seen.ssets[i];
                let (vh, v) = &seen.volbs[i];
                assert_eq!(e.data_set_number, s.data_set_number, "{name}");
                assert_eq!(e.data_set_name.raw, s.data_set_name.raw, "{name}");
                assert_eq!(e.user_name.raw, s.user_name.raw, "{name}");
                assert_eq!(e.data_set_password.raw, s.data_set_password.raw);
                assert_eq!(e.data_set_description.raw, s.data_set_description.raw);
                assert_eq!(e.sset_attributes, s.attributes, "{name}");
                assert_eq!(e.media_write_date, s.media_write_date, "{name}");
                assert_eq!(e.time_zone, s.time_zone, "{name}");
                assert_eq!(e.string_type, sh.string_type, "{name}");
                assert_eq!((e.os_id, e.os_version), (sh.os_id, sh.os_version));
                assert_eq!(e.mtf_minor_version, s.mtf_minor_version, "{name}");
                assert_eq!(e.block_attributes, sh.attributes, "{name}");
                // SQL Server's PBAs are byte offsets in the file.
                assert_eq!(e.sset_pba, *sset_offset, "{name}");
                assert_eq!(e.sset_pba, s.physical_block_address, "{name}");
                assert_eq!(e.fdd_pba, 0, "{name}: SQL Server writes no FDD");
                assert_eq!(e.media_catalog_version, 2, "{name}");
                // One volume, after the entry's Length, mirroring the set's VOLB.
                assert_eq!(e.placement, VolumePlacement::AfterEntry, "{name}");
                assert_eq!(e.number_of_volumes, 1, "{name}");
                assert_eq!(e.volumes.len(), 1, "{name}");
                assert_eq!(e.var_area.first(), Some(&0), "{name}: pad at 91");
                let vol = &e.volumes[0];
                let mtf::stream::catalog1::FddBody::Volb(fv) = &vol.body else {
                    panic!("{name}: volume entry is not a VOLB")
                };
                assert_eq!(fv.device_name.raw, v.device_name.raw, "{name}");
                assert_eq!(fv.volume_name.raw, v.volume_name.raw, "{name}");
                assert_eq!(fv.machine_name.raw, v.machine_name.raw, "{name}");
                assert_eq!(fv.attributes, v.attributes, "{name}");
                assert_eq!(fv.media_write_date, v.media_write_date, "{name}");
                assert_eq!(
                    vol.header.format_logical_address, vh.format_logical_address,
                    "{name}"
                );
                assert_eq!(vol.header.string_type, vh.string_type, "{name}");
                assert_eq!(vol.header.link, 0, "{name}");
            }
            // The ESETs around this TSMP: the second one's MBC #1 is the TSMP header's offset
            // (SQL Server 2005) or the first ESET's offset (2008 and later).
            let first = seen.esets.iter().rfind(|(o, _)| o < tsmp_offset);
            let second = seen.esets.iter().find(|(o, _)| o > tsmp_offset);
            let (Some(first), Some(second)) = (first, second) else {
                panic!("{name}: TSMP not between two ESETs")
            };
            let version = seen.ssets[sets - 1].2.software_major_version;
            let expected = if version == 9 { *tsmp_offset } else { first.0 };
            assert_eq!(second.1, expected, "{name}: second ESET MBC #1");
        }
        println!("{name}: {} set map(s)", seen.tsmps.len());
    }
    if common::foreign_dir().is_some() {
        println!("decoded {maps} set maps with {entries} entries");
        assert!(
            maps >= 20 && entries > maps,
            "{maps} maps, {entries} entries"
        );
    }
}

#[test]
fn every_truncation_of_a_real_set_map_is_an_error() {
    let Some(path) = common::sql_server_samples()
        .into_iter()
        .find(|p| p.ends_with("sql2005_multiset_stdb2sql.bak"))
    else {
        return;
    };
    let seen = walk(&path);
    let data = &seen.tsmps.last().expect("TSMP").1;
    assert_eq!(SetMap::decode(data).unwrap().entries.len(), 2);
    for cut in 0..data.len() {
        let e = SetMap::decode(&data[..cut]).unwrap_err();
        assert!(e.offset().is_some(), "cut {cut}: {e}");
    }
}

/// NTBackup's Type 1 catalog on the first ESET: the FDD (TFDD) and the set map (TSMP) decode and
/// give their payload back byte for byte, and say what PROVENANCE.md says the medium holds: one
/// set of one directory and one file, `boot.ini` on volume `C:`, listed VOLB, DIRB, FILE, FEND.
#[test]
fn ntbackup_type1_catalog_decodes_and_round_trips() {
    let Some(path) = common::ntbackup_samples()
        .into_iter()
        .find(|p| p.ends_with("ntbackup_2003_bootini.bkf"))
    else {
        return;
    };
    let f = std::fs::File::open(&path).unwrap();
    let mut tfdd = Vec::new();
    let mut tsmp = Vec::new();
    let mut current: Option<StreamId> = None;
    for ev in Walker::with_mode(BufReader::new(f), Mode::Strict) {
        match ev.unwrap() {
            Event::Stream { header, .. } => current = Some(header.id),
            Event::Data { bytes, .. } => match current {
                Some(StreamId::TFDD) => tfdd.extend_from_slice(&bytes),
                Some(StreamId::TSMP) => tsmp.extend_from_slice(&bytes),
                _ => {}
            },
            _ => current = None,
        }
    }
    let map = SetMap::decode(&tsmp).unwrap();
    assert_eq!(map.encode_raw(), tsmp);
    assert_eq!(map.entries.len(), 1);
    let e = &map.entries[0];
    assert_eq!((e.data_set_number, e.number_of_volumes), (1, 1));
    assert_eq!((e.number_of_directories, e.number_of_files), (1, 1));
    let fdd = mtf::stream::catalog1::Fdd::decode(&tfdd).unwrap();
    assert_eq!(fdd.encode_raw(), tfdd);
    let kinds: Vec<String> = fdd
        .entries
        .iter()
        .map(|e| e.entry_type().to_string())
        .collect();
    assert_eq!(kinds, ["VOLB", "DIRB", "FILE", "FEND"]);
    let names: Vec<Option<String>> = fdd.entries.iter().map(|e| e.name()).collect();
    assert_eq!(names[0].as_deref(), Some("C:"));
    assert_eq!(names[2].as_deref(), Some("boot.ini"));
    assert_eq!(fdd.entries[2].header.displayable_size, 210);
}
