//! Media label and catalog parsing on arbitrary media: the TAPE block (every string in every
//! string type), the Type 1 catalog streams found on the medium (set map, FDD) and the Type 2
//! ones (MAP2/FDD2), and `AppendPoint::scan`. When the scan accepts a medium, appending a set
//! there with the writer must give a medium the scan accepts again, one set longer.
#![no_main]

use libfuzzer_sys::fuzz_target;
// Links the counting allocator (and its allocation limit).
use mtf::block::{Body, Dblk};
use mtf::spec::{StreamId, StringType};
use mtf::stream::catalog1::{Fdd, SetMap};
use mtf::stream::catalog2::PackedBlocks;
use mtf::walk::{Event, Walker};
use mtf::writer::{
    AppendPoint, EntryMeta, MemorySink, NoMoreMedia, SetOptions, VolumeOptions, Writer,
};
use mtf_fuzz as _;

fn typed(e: &mtf::Error) {
    assert!(
        e.offset().is_some() || matches!(e, mtf::Error::Io(_)),
        "{e}"
    );
}

fuzz_target!(|data: &[u8]| {
    // The media label.
    if let Ok((d, _)) = Dblk::parse(data, None) {
        if let Body::Tape(t) = &d.body {
            for st in [d.header.string_type, StringType::ANSI, StringType::UNICODE] {
                for s in [
                    &t.media_name,
                    &t.media_description,
                    &t.media_password,
                    &t.software_name,
                ] {
                    let _ = s.display(st);
                }
            }
            let _ = t.media_date.to_datetime();
            let _ = t.soft_filemark_bytes();
        }
    }

    // Catalog streams found on the medium: each collected (bounded by the input) and decoded.
    let mut stream: Option<StreamId> = None;
    let mut payload = Vec::new();
    let decode = |id: Option<StreamId>, p: &[u8]| match id {
        Some(StreamId::TSMP) => match SetMap::decode(p) {
            Ok(m) => assert_eq!(m.encode_raw(), p),
            Err(e) => typed(&e),
        },
        Some(StreamId::TFDD) => match Fdd::decode(p) {
            Ok(f) => assert_eq!(f.encode_raw(), p),
            Err(e) => typed(&e),
        },
        Some(StreamId::MAP2) | Some(StreamId::FDD2) => match PackedBlocks::decode(p) {
            Ok(b) => assert_eq!(b.encode_raw().expect("a decoded copy writes back"), p),
            Err(e) => typed(&e),
        },
        _ => {}
    };
    for ev in Walker::new(data) {
        match ev {
            Ok(Event::Stream { header, .. }) => {
                decode(stream.take(), &payload);
                payload.clear();
                stream = Some(header.id);
            }
            Ok(Event::Data { bytes, .. }) => payload.extend_from_slice(&bytes),
            Ok(Event::Block { .. } | Event::Gap { .. } | Event::StreamCut { .. }) => {
                decode(stream.take(), &payload);
                payload.clear();
            }
            Ok(Event::Pad { .. }) => {}
            Err(e) => {
                typed(&e);
                break;
            }
        }
    }
    decode(stream.take(), &payload);

    // The append point, and an append there.
    let point = match AppendPoint::scan(data) {
        Ok(p) => p,
        Err(e) => {
            typed(&e);
            return;
        }
    };
    assert!(point.offset <= data.len() as u64);
    let before = point.sets.len();
    let offset = point.offset as usize;
    let appended = (|| -> mtf::Result<MemorySink> {
        let mut w = Writer::append(MemorySink::default(), point, NoMoreMedia)?;
        let date = mtf::date::DateTime::from_unix(1_700_000_000).unwrap();
        w.begin_set(SetOptions::new("appended", date))?;
        w.add_volume(&VolumeOptions {
            device: "C:".into(),
            volume: "V".into(),
            machine: "M".into(),
        })?;
        w.add_directory(&["d"], &EntryMeta::with_dates(Some(date), date))?;
        w.add_file(
            "f",
            &EntryMeta::with_dates(Some(date), date),
            5,
            &mut &b"hello"[..],
        )?;
        w.end_set()?;
        w.finish()
    })();
    match appended {
        Ok(sink) => {
            let mut medium = data[..offset].to_vec();
            medium.extend_from_slice(&sink.data);
            let again = AppendPoint::scan(&medium[..])
                .unwrap_or_else(|e| panic!("the scan refuses what was appended: {e}"));
            assert_eq!(
                again.sets.len(),
                before + 1,
                "the appended set is not listed"
            );
            assert_eq!(again.offset, medium.len() as u64);
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
