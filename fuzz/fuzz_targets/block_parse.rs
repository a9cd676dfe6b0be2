//! Block parse: the common block header, every descriptor block type, and the stream header, on
//! arbitrary bytes. A parse either fails with a typed error naming an offset, or gives a value
//! whose raw writer returns the parsed bytes exactly; the fixed writer never panics, and what it
//! writes is what the value then holds.
#![no_main]

use libfuzzer_sys::fuzz_target;
// Links the counting allocator (and its allocation limit).
use mtf::block::Dblk;
use mtf::header::DbHeader;
use mtf::stream::StreamHeader;
use mtf_fuzz as _;

fn parse_block(bytes: &[u8], sfmb_len: Option<usize>) {
    match Dblk::parse(bytes, sfmb_len) {
        Ok((mut d, len)) => {
            assert!(len <= bytes.len());
            assert_eq!(d.encoded_len(), len);
            let mut raw = Vec::new();
            d.write_raw(&mut raw).expect("a parsed block writes back");
            assert_eq!(raw, &bytes[..len], "raw write must give back the block");
            let _ = format!("{d:?}");
            let mut fixed = Vec::new();
            if d.write_fixed(&mut fixed).is_ok() {
                // `self` is updated to what was written: a raw write now gives the same bytes.
                let mut again = Vec::new();
                d.write_raw(&mut again)
                    .expect("a laid-out block writes back");
                assert_eq!(again, fixed, "fixed write and the updated value disagree");
                assert!(DbHeader::looks_valid(&fixed));
            }
        }
        Err(e) => assert!(e.offset().is_some(), "{e}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let bytes = data;

    match DbHeader::parse(bytes) {
        Ok(h) => {
            let mut v = Vec::new();
            h.write_raw(&mut v);
            assert_eq!(v, &bytes[..52]);
            assert_eq!(h.compute_checksum(), h.checksum);
            assert!(DbHeader::looks_valid(bytes));
        }
        Err(e) => {
            assert!(e.offset().is_some(), "{e}");
            assert!(!DbHeader::looks_valid(bytes) || bytes.len() < 52);
        }
    }
    if let Ok(h) = DbHeader::parse_unchecked(bytes) {
        let mut v = Vec::new();
        h.write_raw(&mut v);
        assert_eq!(v, &bytes[..52]);
    }

    // An SFMB is sized by Offset To First Event, or by the TAPE block's soft filemark size
    // (here: the whole input, or its first 512-byte multiple).
    for sfmb_len in [None, Some(bytes.len()), Some(bytes.len() & !511)] {
        parse_block(bytes, sfmb_len);
    }

    match StreamHeader::parse(bytes) {
        Ok(h) => {
            let mut v = Vec::new();
            h.write_raw(&mut v);
            assert_eq!(v, &bytes[..22]);
            assert_eq!(h.to_bytes_fixed()[..], bytes[..22]);
        }
        Err(e) => assert!(e.offset().is_some(), "{e}"),
    }
});
