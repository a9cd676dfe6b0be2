//! Listing from the set map (TSMP) on the last set's ESET: the sets it names, each SSET read
//! where the map places it; on a file through the soft filemarks, on a tape by spacing over
//! hardware filemarks.

use super::catalog::{feed_region, sfmb_marks, trailer};
use super::{
    CapturedBlock, CapturedStream, ListMethod, Listing, MediaHeader, SetBuilder, SetEntry,
    SET_MAP_LIMIT,
};
use crate::block::Body;
use crate::error::Result;
use crate::reader::core::{Event, Reader};
use crate::reader::source::BlockSource;
use crate::spec::{mbc_type, BlockType, StreamId};
use crate::stream::{SetMap, SetMapEntry};

/// The last set's closing section (ESET blocks and their streams) with its set map.
pub(super) struct EsetSection {
    blocks: Vec<CapturedBlock>,
    set_map: SetMap,
    /// Offset of the TSMP stream header.
    tsmp_offset: u64,
    /// Offset just past the section's last byte read.
    end: u64,
}

/// Reads the ESET section at the reader's position: the ESET blocks with their streams, the
/// TSMP's data read whole (bounded by [`SET_MAP_LIMIT`] and by `limit`, the end of the section
/// when known), other streams skipped. Stops at a filemark, an SFMB, any other block or `limit`.
pub(super) fn read_eset_section<S: BlockSource>(
    reader: &mut Reader<S>,
    limit: Option<u64>,
) -> Result<std::result::Result<EsetSection, String>> {
    let mut blocks: Vec<CapturedBlock> = Vec::new();
    let mut tsmp: Option<(u64, Vec<u8>)> = None;
    while let Some(ev) = reader.next_event()? {
        match ev {
            Event::Block { offset, dblk } => {
                if limit.is_some_and(|l| offset >= l) {
                    break;
                }
                let t = dblk.block_type();
                if blocks.is_empty() && t != BlockType::ESET {
                    return Ok(Err(if t == BlockType::EOTM {
                        "the medium ends with an EOTM: the last set continues on the next medium"
                            .into()
                    } else {
                        format!("the last set's closing section starts with {t}, not an ESET")
                    }));
                }
                if t != BlockType::ESET {
                    break;
                }
                blocks.push(CapturedBlock {
                    offset,
                    dblk,
                    streams: Vec::new(),
                });
            }
            Event::Stream { offset, header } => {
                let Some(block) = blocks.last_mut() else {
                    break;
                };
                let mut data = None;
                if header.id == StreamId::TSMP && tsmp.is_none() {
                    let room = limit.map_or(u64::MAX, |l| l.saturating_sub(offset));
                    if header.length > SET_MAP_LIMIT || header.length > room {
                        return Ok(Err(format!(
                            "the TSMP stream claims {} bytes, more than {} allowed here",
                            header.length,
                            SET_MAP_LIMIT.min(room)
                        )));
                    }
                    // Grown as the data arrives: the length field alone allocates nothing.
                    let mut v = Vec::new();
                    while let Some(chunk) = reader.read_data()? {
                        v.extend_from_slice(chunk);
                    }
                    if v.len() as u64 != header.length {
                        return Ok(Err(format!(
                            "the TSMP stream is cut short: {} of {} bytes",
                            v.len(),
                            header.length
                        )));
                    }
                    tsmp = Some((offset, v.clone()));
                    data = Some(v);
                }
                block.streams.push(CapturedStream {
                    offset,
                    header,
                    data,
                });
            }
            Event::Filemark { .. } | Event::StreamCut { .. } => break,
            Event::Damage(d) => {
                return Ok(Err(format!(
                    "damage in the last set's closing section at offset {}: {}",
                    d.offset, d.reason
                )))
            }
        }
    }
    let Some((tsmp_offset, data)) = tsmp else {
        return Ok(Err(if blocks.is_empty() {
            "no ESET at the end of the medium".into()
        } else {
            "no TSMP stream on the last set's ESET".into()
        }));
    };
    let set_map = match SetMap::decode(&data) {
        Ok(m) => m,
        Err(e) => return Ok(Err(format!("the set map does not decode: {e}"))),
    };
    Ok(Ok(EsetSection {
        blocks,
        set_map,
        tsmp_offset,
        end: reader.position(),
    }))
}

/// Checks the set map against the medium: same family (where the map records one), every set on this medium, the last entry
/// being the set whose ESET holds the map. Returns the entries.
pub(super) fn check_set_map(
    header: &MediaHeader,
    sec: &EsetSection,
) -> std::result::Result<Vec<SetMapEntry>, String> {
    let tape = header.tape();
    let map = &sec.set_map;
    // NTBackup leaves the set map's family id 0: that records nothing, so it cannot disagree.
    if map.media_family_id != 0 && map.media_family_id != tape.media_family_id {
        return Err(format!(
            "the set map's media family id {:#010x} is not the TAPE block's {:#010x}",
            map.media_family_id, tape.media_family_id
        ));
    }
    let Some(last) = map.entries.last() else {
        return Err("the set map has no entries".into());
    };
    if let Some(e) = map
        .entries
        .iter()
        .find(|e| e.media_sequence_number != tape.media_sequence_number)
    {
        return Err(format!(
            "the set map places data set {} on medium {}, not this medium ({})",
            e.data_set_number, e.media_sequence_number, tape.media_sequence_number
        ));
    }
    let eset_number = sec.blocks.iter().find_map(|b| match &b.dblk.body {
        Body::Eset(e) => Some(e.data_set_number),
        _ => None,
    });
    if eset_number != Some(last.data_set_number) {
        return Err(format!(
            "the set map's last entry is data set {}, but the ESET holding it closes data set {}",
            last.data_set_number,
            eset_number.map_or("?".into(), |n| n.to_string())
        ));
    }
    Ok(map.entries.clone())
}

/// Lists sets from the set map. The outer `Result` is an I/O failure; the inner `Err` says why
/// the set map could not be used. `moved` is set once the source was moved in a way that only
/// a restart undoes (a tape spaced to its end).
pub(super) fn from_set_map<S: BlockSource>(
    reader: &mut Reader<S>,
    header: &MediaHeader,
    moved: &mut bool,
) -> Result<std::result::Result<Listing, String>> {
    if header.is_continuation() {
        return Ok(Err(
            "the medium continues a family from an earlier medium".into()
        ));
    }
    if reader.can_seek() && header.params.soft_filemarks {
        *moved = true;
        from_set_map_file(reader, header)
    } else if reader.is_block_device() {
        from_set_map_tape(reader, header, moved)
    } else {
        Ok(Err(
            "the source can neither seek nor space over filemarks".into()
        ))
    }
}

pub(super) fn set_map_listing<S: BlockSource>(
    reader: &Reader<S>,
    header: &MediaHeader,
    b: SetBuilder,
) -> Listing {
    Listing {
        header: header.clone(),
        sets: b.sets,
        filemarks: b.filemarks,
        eotm: b.eotm,
        damage: b.damage,
        method: ListMethod::SetMap,
        bytes_read: reader.bytes_read(),
        reads: reader.reads(),
        total_len: reader.total_len(),
        physical_block_size: reader.physical_block_size(),
        notes: Vec::new(),
    }
}

/// Reads a set's SSET (and the information blocks after it) at the reader's position into the
/// builder, checking it is the data set the set map names.
pub(super) fn read_sset<S: BlockSource>(
    reader: &mut Reader<S>,
    b: &mut SetBuilder,
    limit: u64,
    entry: &SetMapEntry,
    offset: u64,
) -> Result<std::result::Result<(), String>> {
    let before = b.sets.len();
    let first = feed_region(reader, b, limit)?;
    let found = (b.sets.len() == before + 1)
        .then(|| b.sets.last())
        .flatten()
        .filter(|s| s.offset() == offset)
        .map(|s| s.sset().data_set_number);
    if first != Some(BlockType::SSET) || found.is_none() {
        return Ok(Err(format!(
            "no SSET at offset {offset}, where the set map places data set {}",
            entry.data_set_number
        )));
    }
    if found != Some(entry.data_set_number) {
        return Ok(Err(format!(
            "the SSET at offset {offset} is data set {}, the set map says {}",
            found.unwrap_or(0),
            entry.data_set_number
        )));
    }
    Ok(Ok(()))
}

/// The set map of a seekable file with soft filemarks: the last SFMB's table gives the last
/// set's closing section and every set's boundaries; the set map there names the sets; each
/// SSET is read where the set map places it.
pub(super) fn from_set_map_file<S: BlockSource>(
    reader: &mut Reader<S>,
    header: &MediaHeader,
) -> Result<std::result::Result<Listing, String>> {
    let params = header.params;
    let (marks, sfm, _total) = match sfmb_marks(reader, params)? {
        Ok(x) => x,
        Err(why) => return Ok(Err(why)),
    };
    let sfm64 = sfm as u64;
    let n = marks.len();
    if n < 3 {
        return Ok(Err(
            "fewer than three soft filemarks: no closed data set".into()
        ));
    }
    let last = marks[n - 1];
    let section = marks[n - 2] + sfm64;
    if section >= last || !reader.seek_to_block(section, params)? {
        return Ok(Err(
            "no room for an ESET between the last two soft filemarks".into(),
        ));
    }
    let sec = match read_eset_section(reader, Some(last))? {
        Ok(s) => s,
        Err(why) => return Ok(Err(why)),
    };
    let entries = match check_set_map(header, &sec) {
        Ok(e) => e,
        Err(why) => return Ok(Err(why)),
    };
    // The filemarks delimit the sets: the TAPE block's, then two per set.
    if n != 2 * entries.len() + 1 {
        return Ok(Err(format!(
            "the set map names {} data sets, but the soft filemarks delimit {}",
            entries.len(),
            (n - 1) / 2
        )));
    }
    // The unit of the SSET addresses: physical blocks (the spec), or bytes (SQL Server). Block
    // addresses count from 0 or, as NTBackup writes them on a file, from 1 (its SSET in the
    // third 1 KiB block has address 3).
    let starts: Vec<u64> = (0..entries.len()).map(|k| marks[2 * k] + sfm64).collect();
    let flb = params.flb_size.unwrap_or(1024) as u64;
    // An address of 0 (where the TAPE block is) records nothing; the soft filemarks place the
    // set anyway.
    let units = [(sfm64, 0), (1, 0), (flb, 0), (512, 0), (sfm64, 1), (flb, 1)];
    let unit = units.into_iter().find(|&(u, origin)| {
        entries.iter().zip(&starts).all(|(e, &s)| {
            e.sset_pba == 0
                || e.sset_pba
                    .checked_sub(origin)
                    .and_then(|p| p.checked_mul(u))
                    == Some(s)
        })
    });
    let Some(_unit) = unit else {
        return Ok(Err(
            "the set map's SSET addresses do not point at the sets' starts".into(),
        ));
    };
    let mut b = SetBuilder::new();
    for (k, e) in entries.iter().enumerate() {
        let start = starts[k];
        let data_end = marks[2 * k + 1];
        if !reader.seek_to_block(start, params)? {
            return Ok(Err("the source cannot seek".into()));
        }
        if let Err(why) = read_sset(reader, &mut b, data_end, e, start)? {
            return Ok(Err(why));
        }
        let vendor_trailer = b
            .sets
            .last()
            .is_some_and(|s| s.blocks.iter().any(|x| x.block_type() == BlockType::MSCI));
        if vendor_trailer {
            trailer(reader, &mut b, start, data_end, params)?;
        }
        b.close_set();
        let set = b.sets.last_mut().expect("read_sset added the set");
        set.data_end = Some(data_end);
        set.end = Some(marks[2 * k + 2] + sfm64);
        set.set_map = Some(e.clone());
    }
    if let Some(set) = b.sets.last_mut() {
        set.esets = sec.blocks;
    }
    b.filemarks = marks;
    let mut listing = set_map_listing(reader, header, b);
    listing.notes.extend(unrecorded_sset_notes(&entries));
    Ok(Ok(listing))
}

pub(super) fn unrecorded_sset_notes(entries: &[SetMapEntry]) -> Option<String> {
    let missing: Vec<String> = entries
        .iter()
        .filter(|e| e.sset_pba == 0)
        .map(|e| e.data_set_number.to_string())
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "the set map records no SSET address for data set(s) {}; the medium's own was used",
            missing.join(", ")
        )
    })
}

/// Moves a set's captured offsets by `delta` (a set read before its place was known).
pub(super) fn shift_set(set: &mut SetEntry, delta: u64) {
    for blk in std::iter::once(&mut set.sset).chain(set.blocks.iter_mut()) {
        blk.offset += delta;
        for st in &mut blk.streams {
            st.offset += delta;
        }
    }
    for d in &mut set.damage {
        d.offset += delta;
    }
}

/// The set map of a tape: to end of data, back over the two filemarks around the last set's
/// closing section, read it; then from the start, forward over filemarks to each set's SSET.
pub(super) fn from_set_map_tape<S: BlockSource>(
    reader: &mut Reader<S>,
    header: &MediaHeader,
    moved: &mut bool,
) -> Result<std::result::Result<Listing, String>> {
    let params = header.params;
    let Some(bs) = reader.physical_block_size().map(|b| b as u64) else {
        return Ok(Err("the physical block size is not known".into()));
    };
    if bs == 0 || header.tape().media_based_catalog_type != mbc_type::TYPE1 {
        return Ok(Err(
            "only a Type 1 set map gives tape block addresses".into()
        ));
    }
    macro_rules! step {
        ($how:expr, $op:expr) => {
            match $op {
                Ok(true) => {}
                Ok(false) => return Ok(Err(format!("the source cannot {}", $how))),
                Err(e) => return Ok(Err(format!("{} failed: {e}", $how))),
            }
        };
    }
    step!("go to end of data", reader.source_mut().end_of_data());
    *moved = true;
    step!(
        "space back over filemarks",
        reader.source_mut().space_filemarks_back(2)
    );
    // Offsets are relative to the section until the set map places it.
    reader.repositioned(0, params);
    let mut sec = match read_eset_section(reader, None)? {
        Ok(s) => s,
        Err(why) => return Ok(Err(why)),
    };
    let entries = match check_set_map(header, &sec) {
        Ok(e) => e,
        Err(why) => return Ok(Err(why)),
    };
    // The second ESET says where the set map is: that places the section on the medium.
    let smap_pba = sec
        .blocks
        .iter()
        .filter_map(|b| match &b.dblk.body {
            Body::Eset(e) if e.reserved_for_mbc2 != 0 => Some(e.reserved_for_mbc2),
            _ => None,
        })
        .next_back();
    let base = smap_pba
        .and_then(|p| p.checked_mul(bs))
        .and_then(|at| at.checked_sub(sec.tsmp_offset))
        .filter(|base| base % bs == 0);
    let Some(base) = base else {
        return Ok(Err(
            "the ESETs do not say where the set map is, so the section cannot be placed".into(),
        ));
    };
    for blk in &mut sec.blocks {
        blk.offset += base;
        for st in &mut blk.streams {
            st.offset += base;
        }
    }
    let section_end = base + sec.end;
    step!("rewind", reader.source_mut().rewind());
    reader.repositioned(0, params);
    let mut b = SetBuilder::new();
    let mut offsets: Vec<u64> = Vec::with_capacity(entries.len());
    let mut marks_at_start = reader.source_filemarks();
    for (k, e) in entries.iter().enumerate() {
        // The TAPE block's filemark before the first set; two per set after that.
        let want: u64 = if k == 0 { 1 } else { 2 };
        let crossed = reader.source_filemarks() - marks_at_start;
        let need = want.saturating_sub(crossed) as u32;
        step!(
            "space forward over filemarks",
            reader.source_mut().space_filemarks_forward(need)
        );
        // Where the set map places the SSET; an address of 0 records nothing, and the SSET's
        // own address is taken once it is read.
        let mapped = (e.sset_pba != 0).then(|| e.sset_pba.checked_mul(bs));
        let provisional = match mapped {
            Some(None) => return Ok(Err(format!("the SSET address {} overflows", e.sset_pba))),
            Some(Some(o)) => o,
            None => 0,
        };
        reader.repositioned(provisional, params);
        marks_at_start = reader.source_filemarks();
        if let Err(why) = read_sset(reader, &mut b, u64::MAX, e, provisional)? {
            return Ok(Err(why));
        }
        b.close_set();
        let set = b.sets.last_mut().expect("read_sset added the set");
        let offset = if mapped.is_some() {
            provisional
        } else {
            match set.sset().physical_block_address.checked_mul(bs) {
                Some(o) if o != 0 => {
                    shift_set(set, o);
                    o
                }
                _ => {
                    return Ok(Err(format!(
                        "neither the set map nor the SSET place data set {}",
                        e.data_set_number
                    )))
                }
            }
        };
        if offsets.last().is_some_and(|&p| offset <= p) || offset >= base {
            return Ok(Err(format!(
                "data set {} at offset {offset} is out of order or past the last set's end",
                e.data_set_number
            )));
        }
        offsets.push(offset);
        set.set_map = Some(e.clone());
        // A set laid out like SQL Server's has its final details in a trailer block (MSLS)
        // at its data's end, which spacing over filemarks cannot reach: such a medium is
        // scanned instead, so that its sets are not listed with the preliminary copy.
        if set.blocks.iter().any(|x| x.block_type() == BlockType::MSCI) {
            return Ok(Err(format!(
                "data set {}'s final details (its MSLS trailer) lie at its data's end, which the set map cannot reach on tape",
                e.data_set_number
            )));
        }
    }
    for (k, set) in b.sets.iter_mut().enumerate() {
        let e = &entries[k];
        let next = offsets.get(k + 1).copied();
        set.data_end = match next {
            // The set's FDD begins in the block of its first ESET, just after the data's
            // filemark.
            Some(nx) => e
                .fdd_pba
                .checked_mul(bs)
                .filter(|&d| e.fdd_pba != 0 && d > offsets[k] && d < nx),
            None => Some(base),
        };
        set.end = Some(next.unwrap_or(section_end));
    }
    if let Some(set) = b.sets.last_mut() {
        set.esets = sec.blocks;
    }
    let mut marks = vec![offsets[0]];
    for s in &b.sets {
        marks.extend(s.data_end);
        marks.extend(s.end);
    }
    b.filemarks = marks;
    let mut listing = set_map_listing(reader, header, b);
    listing.notes.extend(unrecorded_sset_notes(&entries));
    Ok(Ok(listing))
}
