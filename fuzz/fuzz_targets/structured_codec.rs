//! Structured encode → decode: blocks and payloads built by `arbitrary` (the `Arbitrary`
//! derives on the block and stream types, behind mtf's `arbitrary` feature) are laid out by the
//! fixed writers, parsed back, and must give exactly the bytes written; laying the parsed value
//! out again gives the same bytes (the fixed layout is a fixed point).
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
// Links the counting allocator (and its allocation limit).
use mtf::block::{Body, Dblk};
use mtf::stream::catalog1::{Fdd, FddBody, FddEntry, SetMap, FEND};
use mtf::stream::catalog2::PackedBlocks;
use mtf::stream::{FrameHeader, Raid, StreamHeader};
use mtf::BlockType;
use mtf_fuzz as _;

#[derive(Arbitrary, Debug)]
enum Item {
    Block(Box<Dblk>),
    Stream(StreamHeader),
    Frame(FrameHeader),
    SetMap(SetMap),
    Fdd(Fdd),
    Packed(PackedBlocks),
    Raid(Raid),
}

/// Makes an FDD entry's type agree with its body, as in any parsed entry (the fixed writer
/// trusts that they agree); `false` if the entry cannot be made consistent.
fn consistent(e: &mut FddEntry) -> bool {
    let t = match e.body {
        FddBody::Volb(_) => BlockType::VOLB,
        FddBody::Dirb(_) => BlockType::DIRB,
        FddBody::File(_) => BlockType::FILE,
        FddBody::End => FEND,
        FddBody::Other => {
            let t = e.entry_type();
            return !matches!(t, BlockType::VOLB | BlockType::DIRB | BlockType::FILE) && t != FEND;
        }
    };
    e.header.entry_type = t;
    true
}

fuzz_target!(|item: Item| {
    match item {
        Item::Block(d) => {
            let mut d = *d;
            // The block type follows the body (the fixed writer trusts that they agree; a
            // parsed block always has them agree).
            let t = match &d.body {
                Body::Tape(_) => Some(BlockType::TAPE),
                Body::Sset(_) => Some(BlockType::SSET),
                Body::Volb(_) => Some(BlockType::VOLB),
                Body::Dirb(_) => Some(BlockType::DIRB),
                Body::File(_) => Some(BlockType::FILE),
                Body::Cfil(_) => Some(BlockType::CFIL),
                Body::Espb => Some(BlockType::ESPB),
                Body::Eset(_) => Some(BlockType::ESET),
                Body::Eotm(_) => Some(BlockType::EOTM),
                Body::Sfmb(_) => Some(BlockType::SFMB),
                _ => None,
            };
            match t {
                Some(t) => d.header.block_type = t,
                None if Body::fixed_len(d.block_type()) > 0
                    || d.block_type() == BlockType::ESPB
                    || d.block_type().0 == [0; 4] =>
                {
                    return
                }
                None => {}
            }
            let mut bytes = Vec::new();
            if d.write_fixed(&mut bytes).is_err() {
                return;
            }
            let sfmb = (d.block_type() == BlockType::SFMB).then_some(bytes.len());
            match Dblk::parse(&bytes, sfmb) {
                Ok((back, len)) => {
                    assert_eq!(len, bytes.len());
                    let mut raw = Vec::new();
                    back.write_raw(&mut raw)
                        .expect("a parsed block writes back");
                    assert_eq!(raw, bytes, "a parsed block writes back differently");
                    let mut again = Vec::new();
                    let mut back = back;
                    back.write_fixed(&mut again).unwrap();
                    assert_eq!(again, bytes, "the fixed layout is not a fixed point");
                }
                // The fixed writer lays out what it is given; a body the parser refuses (an SFMB
                // whose counts do not fit its block, say) must be refused with a typed error.
                Err(e) => assert!(e.offset().is_some(), "{e}"),
            }
        }
        Item::Stream(mut h) => {
            let mut b = Vec::new();
            h.write_fixed(&mut b);
            assert_eq!(StreamHeader::parse(&b).unwrap(), h);
        }
        Item::Frame(mut h) => {
            let mut b = Vec::new();
            h.write_fixed(&mut b);
            match FrameHeader::parse(&b) {
                Ok(back) => assert_eq!(back, h),
                Err(e) => assert!(!h.id.is_known(), "{e}"),
            }
        }
        Item::SetMap(mut m) => {
            for e in &mut m.entries {
                for v in &mut e.volumes {
                    if !matches!(v.body, FddBody::Volb(_)) || !consistent(v) {
                        return;
                    }
                }
            }
            let Ok(b) = m.encode_fixed() else { return };
            match SetMap::decode(&b) {
                Ok(back) => {
                    assert_eq!(back.encode_raw(), b);
                    let mut back = back;
                    assert_eq!(
                        back.encode_fixed().unwrap(),
                        b,
                        "set map layout not a fixed point"
                    );
                }
                Err(e) => assert!(e.offset().is_some(), "{e}"),
            }
        }
        Item::Fdd(mut f) => {
            if !f.entries.iter_mut().all(consistent) {
                return;
            }
            let Ok(b) = f.encode_fixed() else { return };
            match Fdd::decode(&b) {
                Ok(back) => assert_eq!(back.encode_raw(), b),
                Err(e) => assert!(e.offset().is_some(), "{e}"),
            }
        }
        Item::Packed(mut p) => {
            let Ok(b) = p.encode_fixed() else { return };
            match PackedBlocks::decode(&b) {
                Ok(back) => assert_eq!(back.encode_raw().expect("decoded copies write back"), b),
                Err(e) => assert!(e.offset().is_some(), "{e}"),
            }
        }
        Item::Raid(r) => {
            let b = r.encode_raw();
            assert_eq!(Raid::decode(&b).unwrap(), r);
        }
    }
});
