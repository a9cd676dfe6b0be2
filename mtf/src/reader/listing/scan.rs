//! The listing strategy of last resort: read the medium block by block from the media header
//! to its end, skipping stream data (by seeking where the source can).

use super::{DamageInfo, ListMethod, Listing, MediaHeader, SetBuilder};
use crate::error::Result;
use crate::reader::core::{Event, Reader};
use crate::reader::source::BlockSource;
use crate::spec::BlockType;

/// Scans from the current position (just after the media header) to the end.
pub(super) fn scan<S: BlockSource>(reader: &mut Reader<S>, header: MediaHeader) -> Result<Listing> {
    let mut b = SetBuilder::new();
    let mut sfmb_len = header.params.soft_filemark_len;
    while let Some(ev) = reader.next_event()? {
        match ev {
            Event::Block { offset, dblk } => {
                let is_sfmb = dblk.block_type() == BlockType::SFMB;
                if is_sfmb && sfmb_len.is_none() {
                    sfmb_len = Some(dblk.header.offset_to_first_event as usize);
                }
                b.block(offset, dblk);
                if is_sfmb {
                    let end = offset + sfmb_len.unwrap_or(0) as u64;
                    b.filemark_end(offset, end);
                }
            }
            Event::Stream { offset, header } => b.read_stream(reader, offset, header)?,
            Event::Filemark { offset } => b.filemark(offset),
            Event::Damage(d) => b.damage(DamageInfo::from(&d)),
            // The EOTM after it says the set continues.
            Event::StreamCut { .. } => {}
        }
    }
    Ok(Listing {
        header,
        sets: b.sets,
        filemarks: b.filemarks,
        eotm: b.eotm,
        damage: b.damage,
        method: ListMethod::Scan,
        bytes_read: reader.bytes_read(),
        reads: reader.reads(),
        total_len: reader.total_len(),
        physical_block_size: reader.physical_block_size(),
        notes: Vec::new(),
    })
}
