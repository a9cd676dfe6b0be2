//! Listing from the soft filemark catalog: the last SFMB lists every earlier filemark, so each
//! set's SSET and ESET can be read where the filemarks place them, without the data between.

use super::{
    is_info_block, DamageInfo, ListMethod, Listing, MediaHeader, SetBuilder, TRAILER_WINDOW,
};
use crate::block::{Body, Dblk};
use crate::error::Result;
use crate::header::DbHeader;
use crate::reader::core::{Event, MediumParams, Reader};
use crate::reader::source::BlockSource;
use crate::spec::{BlockType, StreamId, DB_HDR_LEN};

/// Reads the SFMB at `offset`, if one with a valid header is there.
pub(super) fn sfmb_at<S: BlockSource>(
    reader: &mut Reader<S>,
    offset: u64,
    len: usize,
) -> Result<Option<crate::block::Sfmb>> {
    let Some(bytes) = reader.read_at(offset, len)? else {
        return Ok(None);
    };
    match Dblk::parse(&bytes, Some(len)) {
        Ok((d, _)) => match d.body {
            Body::Sfmb(s) => Ok(Some(s)),
            _ => Ok(None),
        },
        Err(_) => Ok(None),
    }
}

pub(super) fn is_sfmb_at<S: BlockSource>(reader: &mut Reader<S>, offset: u64) -> Result<bool> {
    let Some(bytes) = reader.read_at(offset, DB_HDR_LEN)? else {
        return Ok(false);
    };
    Ok(matches!(DbHeader::parse(&bytes), Ok(h) if h.block_type == BlockType::SFMB))
}

/// The filemarks the last SFMB lists, as sorted byte offsets, with the last SFMB's own offset at
/// the end; the soft filemark size; the medium's length. The inner `Err` says why the table
/// cannot be used.
pub(super) type SfmbMarks = (Vec<u64>, usize, u64);

pub(super) fn sfmb_marks<S: BlockSource>(
    reader: &mut Reader<S>,
    params: MediumParams,
) -> Result<std::result::Result<SfmbMarks, String>> {
    let (Some(sfm), Some(total)) = (params.soft_filemark_len, reader.total_len()) else {
        return Ok(Err("no soft filemark size or length".into()));
    };
    let sfm64 = sfm as u64;
    if total < sfm64 || total % sfm64 != 0 {
        return Ok(Err(format!(
            "the length {total} is not a whole number of {sfm}-byte soft filemark blocks"
        )));
    }
    let last = total - sfm64;
    let Some(table) = sfmb_at(reader, last, sfm)? else {
        return Ok(Err(format!("no SFMB in the last {sfm} bytes")));
    };
    if table.entries_used >= table.number_of_entries && table.number_of_entries > 0 {
        return Ok(Err(
            "the last SFMB's table is full; older filemarks are not listed".into(),
        ));
    }
    let used = table.used_entries().to_vec();
    // The unit of the entries: SQL Server writes byte offsets; the spec says physical block
    // addresses. Take the first unit under which every entry lands on an SFMB.
    let flb = params.flb_size.unwrap_or(1024) as u64;
    let mut unit = None;
    'units: for u in [1u64, sfm64, flb, 512] {
        for &e in &used {
            let Some(off) = e.checked_mul(u) else {
                continue 'units;
            };
            if off >= last || off % 512 != 0 || !is_sfmb_at(reader, off)? {
                continue 'units;
            }
        }
        unit = Some(u);
        break;
    }
    let Some(unit) = unit else {
        return Ok(Err(
            "the last SFMB's entries do not all point at soft filemarks".into(),
        ));
    };
    let mut marks: Vec<u64> = used.iter().map(|e| e * unit).collect();
    marks.sort_unstable();
    marks.dedup();
    marks.push(last);
    Ok(Ok((marks, sfm, total)))
}

/// Lists sets from the soft filemark catalog. The outer `Result` is an I/O failure; the inner
/// `Err` says why the catalog could not be used (the caller then scans).
pub(super) fn from_catalog<S: BlockSource>(
    reader: &mut Reader<S>,
    header: &MediaHeader,
) -> Result<std::result::Result<Listing, String>> {
    let params = header.params;
    let (marks, sfm, total) = match sfmb_marks(reader, params)? {
        Ok(x) => x,
        Err(why) => return Ok(Err(why)),
    };
    // Every medium has a filemark right after its media header (where the TAPE block's SPAD
    // ends). A table that does not list it is damaged or stale, and trusting it would hide the
    // sets before its first entry.
    let spad = header
        .tape
        .streams
        .iter()
        .find(|s| s.header.id == StreamId::SPAD);
    if let (Some(spad), Some(&last)) = (spad, marks.last()) {
        let first = spad.offset + crate::spec::STREAM_HDR_LEN as u64 + spad.header.length;
        if first < last && !marks.contains(&first) {
            return Ok(Err(
                "the last SFMB's table does not list the filemark after the media header".into(),
            ));
        }
    }
    let sfm64 = sfm as u64;
    let mut b = SetBuilder::new();
    for (i, &m) in marks.iter().enumerate() {
        b.filemark(m);
        b.filemark_end(m, m + sfm64);
        let Some(&next) = marks.get(i + 1) else {
            break;
        };
        let region = m + sfm64;
        if region >= next {
            continue;
        }
        if !reader.seek_to_block(region, params)? {
            return Ok(Err("the source cannot seek".into()));
        }
        let first = feed_region(reader, &mut b, next)?;
        let vendor_trailer = b
            .sets
            .last()
            .is_some_and(|s| s.blocks.iter().any(|x| x.block_type() == BlockType::MSCI));
        if first == Some(BlockType::SSET) && vendor_trailer {
            // SQL Server's trailer block (MSLS) sits just before the next filemark.
            trailer(reader, &mut b, region, next, params)?;
        }
    }
    Ok(Ok(Listing {
        header: header.clone(),
        sets: b.sets,
        filemarks: b.filemarks,
        eotm: b.eotm,
        damage: b.damage,
        method: ListMethod::Catalog,
        bytes_read: reader.bytes_read(),
        reads: reader.reads(),
        total_len: Some(total),
        physical_block_size: reader.physical_block_size(),
        notes: Vec::new(),
    }))
}

/// Feeds the builder the blocks of a region from the reader's position: for a set's start, the
/// SSET and the information blocks after it; for a set's end, the ESETs; stops at the first other
/// block, at `limit`, or at a filemark. Returns the first block's type.
pub(super) fn feed_region<S: BlockSource>(
    reader: &mut Reader<S>,
    b: &mut SetBuilder,
    limit: u64,
) -> Result<Option<BlockType>> {
    let mut first = None;
    while let Some(ev) = reader.next_event()? {
        match ev {
            Event::Block { offset, dblk } => {
                if offset >= limit {
                    break;
                }
                let t = dblk.block_type();
                let keep = match first {
                    None => true,
                    Some(BlockType::ESET) => t == BlockType::ESET,
                    Some(_) => is_info_block(t) && t != BlockType::ESET && t != BlockType::SSET,
                };
                if !keep || t == BlockType::SFMB {
                    break;
                }
                if first.is_none() {
                    first = Some(t);
                    if !matches!(t, BlockType::SSET | BlockType::ESET | BlockType::EOTM) {
                        break;
                    }
                }
                b.block(offset, dblk);
                if t == BlockType::EOTM {
                    break;
                }
            }
            Event::Stream { offset, header } => b.read_stream(reader, offset, header)?,
            Event::Filemark { .. } | Event::StreamCut { .. } => break,
            Event::Damage(d) => {
                b.damage(DamageInfo::from(&d));
                break;
            }
        }
    }
    Ok(first)
}

/// Finds the information blocks (MSLS) just before a data-end filemark and feeds them.
pub(super) fn trailer<S: BlockSource>(
    reader: &mut Reader<S>,
    b: &mut SetBuilder,
    region: u64,
    mark: u64,
    params: MediumParams,
) -> Result<()> {
    // Look in a small window first (the MSLS block is a few KiB), then a larger one.
    let mut found = None;
    for window_len in [8 * 1024, TRAILER_WINDOW] {
        // A tape is read a physical block at a time: the window starts on one (512 bytes
        // otherwise, SQL Server's sector).
        let unit = reader.physical_block_size().unwrap_or(512).max(512) as u64;
        let start = mark.saturating_sub(window_len);
        let start = (start / unit * unit).max(region.div_ceil(unit) * unit);
        if start >= mark {
            return Ok(());
        }
        let Some(window) = reader.read_at(start, (mark - start) as usize)? else {
            return Ok(());
        };
        // The last MSLS block that starts in the window.
        let mut off = 0usize;
        while off + DB_HDR_LEN <= window.len() {
            if let Ok(h) = DbHeader::parse(&window[off..]) {
                if h.block_type == BlockType::MSLS {
                    found = Some(start + off as u64);
                }
            }
            off += 512;
        }
        if found.is_some() || start == region {
            break;
        }
    }
    let Some(at) = found else { return Ok(()) };
    if b.sets
        .last()
        .is_some_and(|s| s.blocks.iter().any(|x| x.offset == at))
    {
        return Ok(());
    }
    if reader.seek_to_block(at, params)? {
        feed_trailer(reader, b, mark)?;
    }
    Ok(())
}

pub(super) fn feed_trailer<S: BlockSource>(
    reader: &mut Reader<S>,
    b: &mut SetBuilder,
    mark: u64,
) -> Result<()> {
    let mut seen = false;
    while let Some(ev) = reader.next_event()? {
        match ev {
            Event::Block { offset, dblk } => {
                if seen || offset >= mark || dblk.block_type() != BlockType::MSLS {
                    break;
                }
                seen = true;
                b.block(offset, dblk);
            }
            Event::Stream { offset, header } => b.read_stream(reader, offset, header)?,
            Event::Filemark { .. } | Event::Damage(_) | Event::StreamCut { .. } => break,
        }
    }
    Ok(())
}
