//! Stream payload decoders on arbitrary bytes: Type 1 catalog (set map, FDD), Type 2 catalog
//! (packed block copies), compression/encryption frames, SQL Server's RAID stream, and the small
//! streams (CSUM, PNAM/FNAM, SPAR, ADAT, CRPT) and OS data. Each decodes to a value whose raw
//! writer gives back exactly the bytes it read, or fails with a typed error naming an offset.
//! The fixed writers never panic and write what they leave the value holding.
#![no_main]

use libfuzzer_sys::fuzz_target;
// Links the counting allocator (and its allocation limit).
use mtf::os_data::OsData;
use mtf::spec::{BlockType, OsId, StringType};
use mtf::stream::catalog1::{Fdd, SetMap};
use mtf::stream::catalog2::{PackedBlocks, FDD2_TYPES, MAP2_TYPES};
use mtf::stream::{frames, AdatHeader, Crpt, Csum, NameStream, Raid, SparHeader};
use mtf_fuzz as _;

fn typed(e: &mtf::Error) {
    assert!(e.offset().is_some(), "error without an offset: {e}");
    assert!(!e.to_string().is_empty());
}

fuzz_target!(|data: &[u8]| {
    // Type 1 catalog.
    match SetMap::decode(data) {
        Ok(mut m) => {
            assert_eq!(m.encode_raw(), data, "set map raw round trip");
            for e in &m.entries {
                let _ = e.data_set_name.display(e.string_type);
                for v in &e.volumes {
                    let _ = v.name();
                    let _ = v.os_data();
                }
            }
            let _ = m.entry_for_set(1);
            if let Ok(fixed) = m.encode_fixed() {
                assert_eq!(
                    m.encode_raw(),
                    fixed,
                    "set map fixed write vs updated value"
                );
            }
        }
        Err(e) => typed(&e),
    }
    let mut count = 0usize;
    for r in Fdd::entries(data) {
        count += 1;
        match r {
            Ok((at, e)) => {
                assert!(at < data.len());
                let _ = e.name();
                let _ = e.os_data();
            }
            Err(e) => typed(&e),
        }
    }
    assert!(
        count <= data.len() / 36 + 1,
        "more FDD entries than bytes allow"
    );
    match Fdd::decode(data) {
        Ok(mut f) => {
            assert_eq!(f.encode_raw(), data, "FDD raw round trip");
            if let Ok(fixed) = f.encode_fixed() {
                assert_eq!(f.encode_raw(), fixed, "FDD fixed write vs updated value");
            }
        }
        Err(e) => typed(&e),
    }

    // Type 2 catalog.
    match PackedBlocks::decode(data) {
        Ok(mut p) => {
            assert_eq!(
                p.encode_raw().expect("decoded copies write back"),
                data,
                "packed blocks raw round trip"
            );
            let offsets = p.offsets();
            assert_eq!(offsets.len(), p.blocks.len());
            for (b, o) in p.blocks.iter().zip(&offsets) {
                assert!(*o < data.len());
                let _ = PackedBlocks::media_sequence_number(b);
            }
            for allowed in [MAP2_TYPES, FDD2_TYPES] {
                if let Err(e) = p.check_types(allowed) {
                    typed(&e);
                }
            }
            let _ = p.trailing_is_zero();
            if let Ok(fixed) = p.encode_fixed() {
                assert_eq!(
                    p.encode_raw().expect("laid-out copies write back"),
                    fixed,
                    "packed blocks fixed write vs updated value"
                );
            }
        }
        Err(e) => typed(&e),
    }

    // Frames: whatever is framed before an error is the data's prefix.
    let mut back = Vec::new();
    let mut it = frames(data);
    for f in it.by_ref() {
        match f {
            Ok(f) => {
                assert_eq!(f.offset, back.len());
                f.write_raw(&mut back);
                let _ = f.header.is_stored_raw();
            }
            Err(e) => {
                typed(&e);
                break;
            }
        }
    }
    assert_eq!(&data[..back.len()], &back[..]);

    // SQL Server RAID.
    match Raid::decode(data) {
        Ok(r) => {
            assert_eq!(r.encode_raw(), data);
            if let Err(e) = r.check() {
                typed(&e);
            }
            let text = r.media_set_id.to_string();
            assert_eq!(text.parse::<mtf::stream::Guid>().unwrap(), r.media_set_id);
        }
        Err(e) => typed(&e),
    }

    // The small streams.
    match Csum::decode(data) {
        Ok(c) => {
            assert_eq!(c.encode_raw(), data);
            let _ = c.verify(data);
        }
        Err(e) => typed(&e),
    }
    let _ = Csum::of(data);
    // Names: any bytes are a name (decoding is linear; a short prefix is enough for coverage).
    let n = NameStream::decode(data);
    assert_eq!(n.encode_raw(), data);
    let head = NameStream::decode(&data[..data.len().min(256)]);
    for st in [StringType::ANSI, StringType::UNICODE] {
        let _ = head.name(st);
        let _ = head.components(st);
    }
    match SparHeader::decode(data) {
        Ok((h, rest)) => {
            let mut v = Vec::new();
            h.write_raw(&mut v);
            v.extend_from_slice(rest);
            assert_eq!(v, data);
        }
        Err(e) => typed(&e),
    }
    match AdatHeader::decode(data) {
        Ok((h, rest)) => {
            let mut v = Vec::new();
            h.write_raw(&mut v).unwrap();
            v.extend_from_slice(rest);
            assert_eq!(v, data);
            let _ = h.name();
        }
        Err(e) => typed(&e),
    }
    if let Err(e) = Crpt::decode(data) {
        typed(&e);
    }
    if let Err(e) = mtf::stream::simple::check_zero_pad(data) {
        typed(&e);
    }
    if let Some(&b) = data.first() {
        let _ = mtf::stream::simple::spad_data_len(u64::from(b) << 40, u64::from(b));
    }

    // OS data of every block type that has a known layout.
    for t in [
        BlockType::DIRB,
        BlockType::FILE,
        BlockType::VOLB,
        BlockType::SSET,
    ] {
        for v in 0..3 {
            let d = OsData::decode(t, OsId::WINDOWS_NT, v, data);
            if !data.is_empty() {
                assert_eq!(d.encode(), data, "OS data round trip");
            }
        }
    }
});
