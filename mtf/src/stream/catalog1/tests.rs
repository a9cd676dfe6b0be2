use super::*;
use crate::block::ObjectDates;
use crate::date::MtfDateTime;
use crate::os_data::OsData;
use crate::spec::NtFileAttributes;
use crate::spec::{
    BlockAttributes, BlockType, DirectoryAttributes, FileAttributes, OsId, SetAttributes,
    StringType, VolumeAttributes,
};
use crate::text::MtfText;

const ST: StringType = StringType::UNICODE;
const DATE: MtfDateTime = MtfDateTime([0x1F, 0x33, 0x3F, 0x41, 0xDE]);

fn volb_entry(device: &str, volume: &str, machine: &str) -> FddEntry {
    let mut e = FddEntry::new(
        BlockType::VOLB,
        FddBody::Volb(FddVolb {
            attributes: VolumeAttributes::DEV_DRIVE,
            device_name: MtfText::encode(device, ST),
            volume_name: MtfText::encode(volume, ST),
            machine_name: MtfText::encode(machine, ST),
            os_data: MtfText::default(),
            media_write_date: DATE,
        }),
    );
    e.header.media_sequence_number = 1;
    e.header.format_logical_address = 1;
    e.header.os_id = OsId::WINDOWS_NT;
    e.header.os_version = 1;
    e.header.string_type = ST;
    e
}

fn sm_entry(set: u16, name: &str, user: &str, volumes: Vec<FddEntry>) -> SetMapEntry {
    SetMapEntry {
        length: 0,
        media_sequence_number: 1,
        block_attributes: BlockAttributes::empty(),
        sset_attributes: SetAttributes::NORMAL,
        sset_pba: 0x600,
        fdd_pba: 0,
        fdd_media_sequence_number: 0,
        data_set_number: set,
        format_logical_address: 0,
        number_of_directories: 0,
        number_of_files: 0,
        number_of_corrupt_files: 0,
        data_set_displayable_size: 0x12_3400,
        number_of_volumes: 0,
        password_encryption_algorithm: 0,
        data_set_name: MtfText::encode(name, ST),
        data_set_password: MtfText::default(),
        data_set_description: MtfText::default(),
        user_name: MtfText::encode(user, ST),
        media_write_date: DATE,
        time_zone: -12,
        os_id: OsId::WINDOWS_NT,
        os_version: 1,
        string_type: ST,
        mtf_minor_version: 0,
        media_catalog_version: 2,
        var_area: Vec::new(),
        placement: VolumePlacement::AfterEntry,
        volumes,
        tail: Vec::new(),
    }
}

fn set_map() -> (SetMap, Vec<u8>) {
    let mut m = SetMap {
        media_family_id: 0xFA94_1F3F,
        number_of_entries: 0,
        pad: [0; 2],
        entries: vec![sm_entry(
            1,
            "Full",
            "sa",
            vec![volb_entry("C:", "", "HOST")],
        )],
        trailing: Vec::new(),
    };
    let bytes = m.encode_fixed().unwrap();
    (m, bytes)
}

fn u16_at(b: &[u8], o: usize) -> u16 {
    crate::parse::u16_at(b, o).expect("in range")
}

#[test]
fn set_map_fixed_layout_is_the_sql_server_layout() {
    let (m, b) = set_map();
    assert_eq!(&b[..8], [0x3F, 0x1F, 0x94, 0xFA, 1, 0, 0, 0]);
    assert_eq!(m.number_of_entries, 1);
    // Entry at 8: 91 fixed + 1 zero + "Full" (8) + "sa" (4) = 104; volumes after it.
    let e = &b[8..];
    assert_eq!(u16_at(e, 0), 104);
    assert_eq!(u16_at(e, 30), 1, "data set number");
    assert_eq!(u16_at(e, 60), 1, "number of volumes");
    assert_eq!((u16_at(e, 64), u16_at(e, 66)), (8, 92), "name");
    assert_eq!((u16_at(e, 68), u16_at(e, 70)), (0, 0), "password");
    assert_eq!((u16_at(e, 76), u16_at(e, 78)), (4, 100), "user");
    assert_eq!(e[85], 0xF4, "time zone -12");
    assert_eq!(e[91], 0, "pad before the strings");
    assert_eq!(&e[92..100], b"F\0u\0l\0l\0");
    // Volume entry at entry + 104: 36 header + 25 fixed + 1 zero + "C:" (4) + "HOST" (8).
    let v = &e[104..];
    assert_eq!(u16_at(v, 0), 74);
    assert_eq!(&v[2..6], b"VOLB");
    assert_eq!(v[32..36], [14, 1, 2, 0]);
    assert_eq!((u16_at(v, 40), u16_at(v, 42)), (4, 62), "device");
    assert_eq!((u16_at(v, 44), u16_at(v, 46)), (0, 0), "volume");
    assert_eq!((u16_at(v, 48), u16_at(v, 50)), (8, 66), "machine");
    assert_eq!(&v[56..61], DATE.0);
    assert_eq!(b.len(), 8 + 104 + 74);

    let d = SetMap::decode(&b).unwrap();
    assert_eq!(d, m);
    assert_eq!(d.entries[0].placement, VolumePlacement::AfterEntry);
    assert_eq!(d.encode_raw(), b);
    assert_eq!(d.entries[0].encoded_len(), 104 + 74);
    let e = d.entry_for_set(1).unwrap();
    assert_eq!(e.data_set_name.decode(e.string_type), "Full");
    assert_eq!(e.volumes[0].name().unwrap(), "C:");
    assert!(d.entry_for_set(2).is_none());
}

#[test]
fn volumes_inside_the_entry_length_round_trip() {
    let (mut m, _) = set_map();
    m.entries[0].placement = VolumePlacement::InsideEntry;
    let b = m.encode_fixed().unwrap();
    assert_eq!(u16_at(&b, 8), 104 + 74, "Length covers the volume");
    let d = SetMap::decode(&b).unwrap();
    assert_eq!(d.entries[0].placement, VolumePlacement::InsideEntry);
    assert_eq!(d.entries[0].var_area.len(), 104 - 91);
    assert_eq!(d.entries[0].volumes.len(), 1);
    assert_eq!(d.encode_raw(), b);

    // Hand-made: strings *after* the volume and two stray bytes after everything.
    let mut e = sm_entry(1, "", "", Vec::new());
    e.number_of_volumes = 1;
    let mut vol = Vec::new();
    volb_entry("D:", "", "").write_fixed(&mut vol).unwrap();
    let name_at = 92 + vol.len();
    e.data_set_name = MtfText {
        addr: TapeAddress {
            size: 4,
            offset: name_at as u16,
        },
        raw: b"X\0Y\0".to_vec(),
    };
    e.length = (name_at + 4 + 2) as u16;
    let mut b = vec![1, 0, 0, 0, 1, 0, 0, 0];
    e.write_fixed_part(&mut b);
    b.push(0xEE);
    b.extend_from_slice(&vol);
    b.extend_from_slice(b"X\0Y\0\x07\x07");
    let d = SetMap::decode(&b).unwrap();
    let de = &d.entries[0];
    assert_eq!(de.placement, VolumePlacement::InsideEntry);
    assert_eq!(de.var_area, [0xEE]);
    assert_eq!(de.tail, b"X\0Y\0\x07\x07");
    assert_eq!(de.data_set_name.decode(ST), "XY");
    assert_eq!(de.volumes[0].name().unwrap(), "D:");
    assert_eq!(d.encode_raw(), b);
}

#[test]
fn strings_in_another_order_round_trip_raw_and_relayout_fixed() {
    // User name stored before the data set name, with a gap.
    let mut e = sm_entry(7, "", "", Vec::new());
    e.user_name = MtfText {
        addr: TapeAddress {
            size: 2,
            offset: 95,
        },
        raw: b"u\0".to_vec(),
    };
    e.data_set_name = MtfText {
        addr: TapeAddress {
            size: 2,
            offset: 99,
        },
        raw: b"n\0".to_vec(),
    };
    e.length = 101;
    let mut b = vec![9, 9, 9, 9, 1, 0, 0xAA, 0xBB];
    e.write_fixed_part(&mut b);
    b.extend_from_slice(&[0, 0, 0, 0, b'u', 0, 0, 0, b'n', 0]);
    b.extend_from_slice(b"trail");
    let mut d = SetMap::decode(&b).unwrap();
    assert_eq!(d.pad, [0xAA, 0xBB]);
    assert_eq!(d.trailing, b"trail");
    assert_eq!(d.encode_raw(), b);
    let fixed = d.encode_fixed().unwrap();
    let again = SetMap::decode(&fixed).unwrap();
    assert_eq!(again.entries[0].data_set_name.addr.offset, 92);
    assert_eq!(again.entries[0].user_name.addr.offset, 94);
    assert_eq!(again.entries[0].user_name.decode(ST), "u");
    assert_eq!(again.trailing, b"trail");
}

#[test]
fn bad_set_map_entries_are_typed_errors_with_offsets() {
    let (_, b) = set_map();
    let mut bad = b.clone();
    bad[8] = 90; // Length below the fixed part.
    assert!(matches!(
        SetMap::decode(&bad),
        Err(Error::Invalid { offset: 8, .. })
    ));
    let mut bad = b.clone();
    bad[8 + 66] = 200; // Name address beyond the entry.
    let err = SetMap::decode(&bad).unwrap_err();
    assert!(
        matches!(err, Error::AddressOutOfRange { offset: 72, .. }),
        "{err}"
    );
    let mut bad = b.clone();
    bad[8 + 104 + 2..8 + 104 + 6].copy_from_slice(b"DIRB");
    let err = SetMap::decode(&bad).unwrap_err();
    assert!(err.offset().is_some(), "{err}");
}

fn fdd() -> (Fdd, Vec<u8>) {
    let mut dir = FddEntry::new(
        BlockType::DIRB,
        FddBody::Dirb(FddDirb {
            dates: ObjectDates {
                last_modification: DATE,
                ..ObjectDates::default()
            },
            attributes: DirectoryAttributes::empty(),
            directory_name: MtfText {
                addr: TapeAddress::default(),
                raw: crate::text::join_dir_path(&["apps"], ST),
            },
            os_data: MtfText {
                addr: TapeAddress::default(),
                raw: OsData::NtDirectory0 {
                    attributes: NtFileAttributes::DIRECTORY,
                }
                .encode(),
            },
        }),
    );
    dir.header.os_id = OsId::WINDOWS_NT;
    dir.header.string_type = ST;
    dir.header.format_logical_address = 2;
    let mut file = FddEntry::new(
        BlockType::FILE,
        FddBody::File(FddFile {
            dates: ObjectDates::default(),
            attributes: FileAttributes::MODIFIED,
            file_name: MtfText::encode("a.txt", ST),
            os_data: MtfText::default(),
        }),
    );
    file.header.string_type = ST;
    file.header.displayable_size = 1234;
    file.header.link = 74;
    let mut fend = FddEntry::fend();
    fend.var_area = vec![0; 12];
    let mut f = Fdd {
        entries: vec![volb_entry("C:", "", "HOST"), dir, file, fend],
        trailing: vec![0; 6],
    };
    let bytes = f.encode_fixed().unwrap();
    (f, bytes)
}

#[test]
fn fdd_fixed_layout_and_round_trip() {
    let (f, b) = fdd();
    // VOLB 74; DIRB 68 + OS data 4 + "apps\0" 10 = 82; FILE 68 + "a.txt" 10 = 78;
    // FEND 36 + 12 zero; 6 trailing.
    assert_eq!(b.len(), 74 + 82 + 78 + 48 + 6);
    let dirb = &b[74..];
    assert_eq!(u16_at(dirb, 0), 82);
    assert_eq!(&dirb[2..6], b"DIRB");
    assert_eq!(
        (u16_at(dirb, 64), u16_at(dirb, 66)),
        (4, 68),
        "OS data first"
    );
    assert_eq!(
        (u16_at(dirb, 60), u16_at(dirb, 62)),
        (10, 72),
        "then the name"
    );
    let file = &b[156..];
    assert_eq!(i32::from_le_bytes(file[28..32].try_into().unwrap()), 74);
    assert_eq!(u64::from_le_bytes(file[20..28].try_into().unwrap()), 1234);
    assert_eq!(&b[234..240], [48, 0, b'F', b'E', b'N', b'D']);

    let d = Fdd::decode(&b).unwrap();
    assert_eq!(d, f);
    assert_eq!(d.encode_raw(), b);
    assert_eq!(d.trailing.len(), 6);
    assert_eq!(
        d.entries[1].os_data(),
        OsData::NtDirectory0 {
            attributes: NtFileAttributes::DIRECTORY
        }
    );
    let FddBody::Dirb(dir) = &d.entries[1].body else {
        panic!("not a DIRB")
    };
    assert_eq!(dir.dates.last_modification, DATE);
    assert_eq!(d.entries[2].name().unwrap(), "a.txt");
    let offsets: Vec<usize> = Fdd::entries(&b).map(|r| r.unwrap().0).collect();
    assert_eq!(offsets, [0, 74, 156, 234]);
}

#[test]
fn fend_with_a_zero_length_and_unknown_entries_round_trip() {
    let mut b = Vec::new();
    let mut other = FddEntry::new(BlockType(*b"XTRA"), FddBody::Other);
    other.var_area = b"vendor".to_vec();
    other.write_fixed(&mut b).unwrap();
    let mut fend = FddEntry::fend();
    fend.header.length = 0;
    fend.write_raw(&mut b);
    let d = Fdd::decode(&b).unwrap();
    assert_eq!(d.entries.len(), 2);
    assert_eq!(d.entries[0].var_area, b"vendor");
    assert_eq!(d.entries[1].body, FddBody::End);
    assert!(d.trailing.is_empty());
    assert_eq!(d.encode_raw(), b);
}

#[test]
fn fdd_without_fend_is_truncated_and_iteration_keeps_what_came_before() {
    let (_, b) = fdd();
    let cut = &b[..234];
    let err = Fdd::decode(cut).unwrap_err();
    assert!(matches!(err, Error::Truncated { offset: 234, .. }), "{err}");
    let got: Vec<_> = Fdd::entries(cut).collect();
    assert_eq!(got.len(), 4);
    assert!(got[..3].iter().all(|r| r.is_ok()));
    assert!(got[3].is_err());
    let mut bad = b.clone();
    bad[74] = 10; // DIRB Length below its fixed part.
    assert!(matches!(
        Fdd::decode(&bad),
        Err(Error::Invalid { offset: 74, .. })
    ));
}

#[test]
fn hostile_truncations_are_errors_not_panics() {
    let (_, b) = set_map();
    for cut in 0..b.len() {
        let e = SetMap::decode(&b[..cut]).unwrap_err();
        assert!(e.offset().is_some(), "cut {cut}: {e}");
    }
    let (_, b) = fdd();
    let fend_end = b.len() - 6;
    for cut in 0..b.len() {
        match Fdd::decode(&b[..cut]) {
            Ok(d) => {
                assert!(cut >= fend_end, "cut {cut} decoded");
                assert_eq!(d.encode_raw(), &b[..cut]);
            }
            Err(e) => {
                assert!(cut < fend_end, "cut {cut}: {e}");
                assert!(e.offset().is_some(), "cut {cut}: {e}");
            }
        }
    }
}

#[test]
fn hostile_byte_changes_decode_to_what_was_read_or_fail() {
    for (bytes, is_map) in [(set_map().1, true), (fdd().1, false)] {
        for i in 0..bytes.len() {
            for x in [0x01u8, 0x80, 0xFF] {
                let mut b = bytes.clone();
                b[i] ^= x;
                let back = if is_map {
                    SetMap::decode(&b).map(|m| m.encode_raw())
                } else {
                    Fdd::decode(&b).map(|f| f.encode_raw())
                };
                match back {
                    Ok(v) => assert_eq!(v, b, "byte {i} ^ {x:#x}"),
                    Err(e) => assert!(e.offset().is_some(), "{e}"),
                }
            }
        }
    }
}
