use super::*;
use crate::date::{DateTime, MtfDateTime};
use crate::spec::{OsId, StringType, TapeAttributes};

fn sample_tape() -> Dblk {
    let st = StringType::UNICODE;
    let tape = Tape {
        media_family_id: 0x1234_5678,
        attributes: TapeAttributes::SOFT_FILEMARK,
        media_sequence_number: 1,
        password_encryption_algorithm: 0,
        soft_filemark_block_size: 2,
        media_based_catalog_type: 1,
        media_name: MtfText::encode("Weekly", st),
        media_description: MtfText::encode("", st),
        media_password: MtfText::default(),
        software_name: MtfText::encode("writer", st),
        format_logical_block_size: 1024,
        software_vendor_id: 0,
        media_date: MtfDateTime::from_datetime(DateTime {
            year: 2026,
            month: 11,
            day: 23,
            hour: 12,
            minute: 0,
            second: 0,
        })
        .unwrap(),
        mtf_major_version: 1,
    };
    let mut d = Dblk::new(BlockType::TAPE, Body::Tape(tape));
    d.header.os_id = OsId::WINDOWS_NT;
    d.header.string_type = st;
    d
}

#[test]
fn fixed_layout_places_strings_and_round_trips() {
    let mut d = sample_tape();
    let mut out = Vec::new();
    d.write_fixed(&mut out).unwrap();
    // 94-byte fixed part, then "Weekly" (12 bytes) and "writer" (12 bytes), aligned to 4.
    assert_eq!(out.len(), 120);
    assert_eq!(d.header.offset_to_first_event, 120);
    let Body::Tape(t) = &d.body else {
        unreachable!()
    };
    assert_eq!(
        t.media_name.addr,
        TapeAddress {
            size: 12,
            offset: 94
        }
    );
    assert_eq!(
        t.software_name.addr,
        TapeAddress {
            size: 12,
            offset: 106
        }
    );
    assert_eq!(crate::checksum::xor16(&out[..52]), 0);
    let (parsed, len) = Dblk::parse(&out, None).unwrap();
    assert_eq!(len, 120);
    assert_eq!(parsed, d);
    let mut again = Vec::new();
    parsed.write_raw(&mut again).unwrap();
    assert_eq!(again, out);
    let Body::Tape(t) = parsed.body else {
        unreachable!()
    };
    assert_eq!(t.media_name.decode(StringType::UNICODE), "Weekly");
}

#[test]
fn short_offset_to_first_event_is_rejected_with_its_offset() {
    let mut d = sample_tape();
    let mut out = Vec::new();
    d.write_fixed(&mut out).unwrap();
    out[8] = 60; // OFE 60 < 94
    out[9] = 0;
    let c = crate::checksum::xor16(&out[..50]);
    out[50..52].copy_from_slice(&c.to_le_bytes());
    let e = Dblk::parse(&out, None).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Invalid {
                offset: 8,
                field: "offset to first event",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn string_address_outside_block_is_an_error() {
    let mut d = sample_tape();
    let mut out = Vec::new();
    d.write_fixed(&mut out).unwrap();
    out[68..70].copy_from_slice(&200u16.to_le_bytes()); // media name size 200
    let c = crate::checksum::xor16(&out[..50]);
    out[50..52].copy_from_slice(&c.to_le_bytes());
    assert!(matches!(
        Dblk::parse(&out, None),
        Err(Error::AddressOutOfRange {
            field: "media name",
            ..
        })
    ));
}

#[test]
fn sfmb_spec_wide_and_extended_layouts_round_trip() {
    // Capacities from the spec's rule, (block - table offset) / entry width, in 512 bytes.
    for (layout, cap) in [
        (SfmbLayout::Spec, (512u32 - 60) / 4),
        (SfmbLayout::Wide, (512 - 60) / 8),
        (SfmbLayout::Extended { table_offset: 72 }, (512 - 72) / 8),
    ] {
        let mut entries = vec![0u64; cap as usize];
        entries[0] = 0x3e00;
        entries[1] = 0x400;
        let s = Sfmb {
            number_of_entries: cap,
            entries_used: 2,
            layout,
            entries,
        };
        let mut d = Dblk::new(BlockType::SFMB, Body::Sfmb(s));
        d.header.offset_to_first_event = 512;
        let mut out = Vec::new();
        d.write_fixed(&mut out).unwrap();
        assert_eq!(out.len(), 512);
        let (p, len) = Dblk::parse(&out, Some(512)).unwrap();
        assert_eq!(len, 512);
        let Body::Sfmb(s) = &p.body else {
            unreachable!()
        };
        assert_eq!(s.used_entries(), &[0x3e00, 0x400]);
        assert_eq!(s.layout, layout);
    }
}

/// Fuzz finding (structured_codec): an SFMB whose entries overflowed its table was laid out
/// with a partial entry, which the parser (sizing the table by the block) read back as nothing,
/// so the fixed layout was not a fixed point. The fixed writer now makes the table fill the
/// block with whole entries and sets the counts to match.
#[test]
fn sfmb_fixed_layout_fits_the_table_to_the_block() {
    let s = Sfmb {
        number_of_entries: 0,
        entries_used: 7,
        layout: SfmbLayout::Wide,
        entries: vec![0x3530_8585, 1, 2],
    };
    let mut d = Dblk::new(BlockType::SFMB, Body::Sfmb(s));
    d.header.offset_to_first_event = 64;
    let mut out = Vec::new();
    d.write_fixed(&mut out).unwrap();
    assert_eq!(out.len(), 64);
    // 64 - 60 = 4 bytes: no whole entry fits, so no partial one is written.
    assert_eq!(&out[52..64], &[0u8; 12]);
    let (mut back, _) = Dblk::parse(&out, Some(64)).unwrap();
    let mut again = Vec::new();
    back.write_fixed(&mut again).unwrap();
    assert_eq!(again, out);
    // A 512-byte block: 56 entries, the given ones first, the rest zero; used capped.
    let s = Sfmb {
        number_of_entries: 3,
        entries_used: 99,
        layout: SfmbLayout::Wide,
        entries: vec![0x400, 0x200],
    };
    let mut d = Dblk::new(BlockType::SFMB, Body::Sfmb(s));
    d.header.offset_to_first_event = 512;
    let mut out = Vec::new();
    d.write_fixed(&mut out).unwrap();
    let (p, _) = Dblk::parse(&out, Some(512)).unwrap();
    let Body::Sfmb(s) = &p.body else {
        unreachable!()
    };
    assert_eq!((s.number_of_entries, s.entries_used), (56, 56));
    assert_eq!(&s.entries[..3], &[0x400, 0x200, 0]);
}

/// The spec layout in a 1 KiB block, as NTBackup writes it: 241 four-byte entries at offset 60,
/// most recent first (the bytes written here by hand from the spec's table, not by the writer).
#[test]
fn sfmb_spec_layout_has_241_four_byte_entries_in_a_kib() {
    let mut block = vec![0u8; 1024];
    block[..4].copy_from_slice(b"SFMB");
    block[8..10].copy_from_slice(&1024u16.to_le_bytes());
    block[52..56].copy_from_slice(&241u32.to_le_bytes());
    block[56..60].copy_from_slice(&2u32.to_le_bytes());
    block[60..64].copy_from_slice(&26u32.to_le_bytes());
    block[64..68].copy_from_slice(&1u32.to_le_bytes());
    let c = crate::checksum::xor16(&block[..50]);
    block[50..52].copy_from_slice(&c.to_le_bytes());
    let (mut d, len) = Dblk::parse(&block, Some(1024)).unwrap();
    assert_eq!(len, 1024);
    let Body::Sfmb(s) = &d.body else {
        unreachable!()
    };
    assert_eq!(s.layout, SfmbLayout::Spec);
    assert_eq!(s.used_entries(), &[26, 1]);
    assert_eq!(s.entries.len(), 241);
    let mut out = Vec::new();
    d.write_fixed(&mut out).unwrap();
    assert_eq!(out, block);
    // An entry beyond 32 bits cannot be laid out in it.
    if let Body::Sfmb(s) = &mut d.body {
        s.entries[0] = 1 << 32;
    }
    let err = d.write_fixed(&mut Vec::new()).unwrap_err();
    assert!(err.to_string().contains("SFMB entry"), "{err}");
}

/// An extended layout that a reader would take for the spec one (the same number of whole
/// entries fits either way), or whose table starts at or past the block's end, is refused.
#[test]
fn sfmb_extended_layouts_a_reader_cannot_tell_apart_are_refused() {
    for (table_offset, block) in [(64u32, 64u16), (64, 520), (60, 512), (512, 512), (600, 512)] {
        let s = Sfmb {
            number_of_entries: 0,
            entries_used: 0,
            layout: SfmbLayout::Extended { table_offset },
            entries: Vec::new(),
        };
        let mut d = Dblk::new(BlockType::SFMB, Body::Sfmb(s));
        d.header.offset_to_first_event = block;
        let err = d.write_fixed(&mut Vec::new()).unwrap_err();
        assert!(
            err.to_string().contains("SFMB table offset"),
            "{table_offset}: {err}"
        );
    }
}

#[test]
fn every_block_type_lays_out_and_parses_back() {
    let st = StringType::ANSI;
    let dates = ObjectDates::default();
    let bodies = vec![
        Body::Sset(Sset {
            attributes: crate::spec::SetAttributes::NORMAL,
            password_encryption_algorithm: 0,
            software_compression_algorithm: 0,
            software_vendor_id: 7,
            data_set_number: 3,
            data_set_name: MtfText::encode("set", st),
            data_set_description: MtfText::encode("desc", st),
            data_set_password: MtfText::default(),
            user_name: MtfText::encode("me", st),
            physical_block_address: 9,
            media_write_date: MtfDateTime::NONE,
            software_major_version: 1,
            software_minor_version: 2,
            time_zone: Sset::LOCAL_TZ,
            mtf_minor_version: 0,
            media_catalog_version: 2,
        }),
        Body::Volb(Volb {
            attributes: crate::spec::VolumeAttributes::DEV_DRIVE,
            device_name: MtfText::encode("C:", st),
            volume_name: MtfText::encode("SYS", st),
            machine_name: MtfText::encode("HOST", st),
            media_write_date: MtfDateTime::NONE,
        }),
        Body::Dirb(Dirb {
            attributes: crate::spec::DirectoryAttributes::empty(),
            dates,
            directory_id: 1,
            directory_name: MtfText {
                addr: TapeAddress::default(),
                raw: crate::text::join_dir_path(&["a", "b"], st),
            },
        }),
        Body::File(File {
            attributes: crate::spec::FileAttributes::MODIFIED,
            dates,
            directory_id: 1,
            file_id: 1,
            file_name: MtfText::encode("x.txt", st),
        }),
        Body::Cfil(Cfil {
            attributes: crate::spec::CorruptAttributes::UNREADABLE_BLK,
            reserved: [0; 8],
            stream_offset: 4096,
            corrupt_stream_number: 1,
        }),
        Body::Espb,
        Body::Eset(Eset {
            attributes: crate::spec::SetAttributes::NORMAL,
            number_of_corrupt_files: 0,
            reserved_for_mbc1: 10,
            reserved_for_mbc2: 11,
            fdd_media_sequence_number: 1,
            data_set_number: 3,
            media_write_date: MtfDateTime::NONE,
        }),
        Body::Eotm(Eotm { last_eset_pba: 77 }),
    ];
    for body in bodies {
        let ty = match &body {
            Body::Sset(_) => BlockType::SSET,
            Body::Volb(_) => BlockType::VOLB,
            Body::Dirb(_) => BlockType::DIRB,
            Body::File(_) => BlockType::FILE,
            Body::Cfil(_) => BlockType::CFIL,
            Body::Espb => BlockType::ESPB,
            Body::Eset(_) => BlockType::ESET,
            Body::Eotm(_) => BlockType::EOTM,
            _ => unreachable!(),
        };
        let mut d = Dblk::new(ty, body);
        d.header.string_type = st;
        if ty == BlockType::FILE {
            d.header.os_id = OsId::WINDOWS_NT;
            d.os_data = OsData::NtFile0 {
                attributes: crate::spec::NtFileAttributes::ARCHIVE,
                short_name_offset: 0,
                short_name_size: 0,
                link: 0,
                reserved: 0,
            };
        }
        let mut out = Vec::new();
        d.write_fixed(&mut out).unwrap();
        assert_eq!(out.len() % 4, 0, "{ty}");
        let (p, len) = Dblk::parse(&out, None).unwrap();
        assert_eq!(len, out.len());
        assert_eq!(p, d, "{ty}");
    }
}

/// The typed strings and OS data are the truth: a block edited without laying it out again
/// cannot be written raw with its old variable area (the two would disagree on the medium).
#[test]
fn raw_write_refuses_strings_or_os_data_that_disagree_with_the_area() {
    let mut d = sample_tape();
    let mut laid = Vec::new();
    d.write_fixed(&mut laid).unwrap();
    let (parsed, _) = Dblk::parse(&laid, None).unwrap();

    // A string changed, the area not: refused, nothing appended.
    let mut edited = parsed.clone();
    let Body::Tape(t) = &mut edited.body else {
        unreachable!()
    };
    t.media_name = MtfText::encode("Monthly", StringType::UNICODE);
    let mut out = b"before".to_vec();
    let e = edited.write_raw(&mut out).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Encode {
                field: "string",
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(out, b"before");
    // Same length, other bytes (the address still fits): refused too.
    let Body::Tape(t) = &mut edited.body else {
        unreachable!()
    };
    t.media_name = MtfText {
        addr: t.media_name.addr,
        raw: MtfText::encode("Wookly", StringType::UNICODE).raw,
    };
    assert!(edited.write_raw(&mut Vec::new()).is_err());
    // Laid out afresh, the edit is written, and reads back.
    let mut fixed = Vec::new();
    edited.write_fixed(&mut fixed).unwrap();
    let mut raw = Vec::new();
    edited.write_raw(&mut raw).unwrap();
    assert_eq!(raw, fixed);
    let (back, _) = Dblk::parse(&fixed, None).unwrap();
    let Body::Tape(t) = &back.body else {
        unreachable!()
    };
    assert_eq!(t.media_name.decode(StringType::UNICODE), "Wookly");

    // OS data changed, the area not: refused.
    let mut edited = parsed.clone();
    edited.os_data = OsData::Raw(vec![1, 2, 3, 4]);
    let e = edited.write_raw(&mut Vec::new()).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Encode {
                field: "OS specific data",
                ..
            }
        ),
        "{e}"
    );

    // Untouched, the raw write gives the bytes back.
    let mut again = Vec::new();
    parsed.write_raw(&mut again).unwrap();
    assert_eq!(again, laid);
}
