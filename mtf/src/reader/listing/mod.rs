//! What is on one medium: its media header, and its data sets with their boundaries.
//!
//! [`read_media_header`] reads the TAPE block and its small streams and nothing more (LABELONLY).
//! [`list_sets`] finds every data set (HEADERONLY). When the medium is a seekable file with soft
//! filemarks, it uses the catalog the last SFMB holds: the positions of every earlier filemark,
//! so each set's SSET and ESET can be read without reading the data between them. Otherwise (or
//! when the catalog does not check out) it scans the medium block by block, skipping stream data
//! (by seeking where it can). Both ways build the same [`Listing`].
//!
//! The strategies live in their own modules, tried in this order by [`list_sets`]: the set map
//! (`set_map`), the soft filemark catalog (`catalog`), the scan (`scan`); all three feed a
//! `SetBuilder` (`builder`).

use super::core::{Event, MediumParams, Reader, HEADER_READ_AHEAD};
use super::source::BlockSource;
use crate::block::{Body, Dblk};
use crate::error::{Error, Result};
use crate::spec::{mbc_type, BlockAttributes, BlockType, StreamId};
use crate::stream::{SetMapEntry, StreamHeader};

mod builder;
mod catalog;
mod scan;
mod set_map;

pub(crate) use builder::SetBuilder;
use catalog::from_catalog;
use scan::scan;
use set_map::from_set_map;

/// Streams up to this size are kept in memory when captured (RAID, MQCI, TSMP, ...).
pub(crate) const SMALL_STREAM: usize = 64 * 1024;
/// The largest set map (TSMP stream) read into memory: a few hundred bytes per data set.
pub(crate) const SET_MAP_LIMIT: u64 = 4 << 20;
/// How far before a data-end filemark the catalog path looks for trailer blocks (MSLS).
pub(crate) const TRAILER_WINDOW: u64 = 64 * 1024;

/// A stream seen in a captured block, with its data when it is small.
#[derive(Clone, Debug)]
pub struct CapturedStream {
    /// Where on the medium (or in the structure) it starts.
    pub offset: u64,
    /// The header.
    pub header: StreamHeader,
    /// The data, when it was at most 64 KiB and read whole.
    pub data: Option<Vec<u8>>,
}

/// A block kept by the listing, with its streams.
#[derive(Clone, Debug)]
pub struct CapturedBlock {
    /// Where on the medium (or in the structure) it starts.
    pub offset: u64,
    /// The block's header region, parsed.
    pub dblk: Dblk,
    /// Streams.
    pub streams: Vec<CapturedStream>,
}

impl CapturedBlock {
    /// The data of the first stream with this id, if it was captured.
    pub fn stream_data(&self, id: StreamId) -> Option<&[u8]> {
        self.streams
            .iter()
            .find(|s| s.header.id == id)
            .and_then(|s| s.data.as_deref())
    }

    /// The block type.
    pub fn block_type(&self) -> BlockType {
        self.dblk.block_type()
    }
}

/// A damaged range, in a form that can be cloned and printed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct DamageInfo {
    /// Where on the medium (or in the structure) it starts.
    pub offset: u64,
    /// How many bytes.
    pub len: u64,
    /// What was wrong.
    pub reason: String,
}

impl From<&super::core::Damage> for DamageInfo {
    fn from(d: &super::core::Damage) -> Self {
        DamageInfo {
            offset: d.offset,
            len: d.len,
            reason: d.reason.to_string(),
        }
    }
}

/// The media header: the TAPE block and its streams (RAID on SQL Server media).
#[derive(Clone, Debug)]
pub struct MediaHeader {
    /// The TAPE block (private: [`MediaHeader::tape`] relies on it being one).
    pub(crate) tape: CapturedBlock,
    /// Params.
    pub params: MediumParams,
}

impl MediaHeader {
    /// The TAPE block as captured: its offset, common header and streams (RAID and the like).
    pub fn tape_block(&self) -> &CapturedBlock {
        &self.tape
    }

    /// The TAPE fields.
    pub fn tape(&self) -> &crate::block::Tape {
        match &self.tape.dblk.body {
            Body::Tape(t) => t,
            _ => unreachable!("a MediaHeader holds a TAPE block"),
        }
    }

    /// Whether this medium continues a family from an earlier medium (TAPE continuation bit or
    /// a media sequence number above 1).
    pub fn is_continuation(&self) -> bool {
        self.tape
            .dblk
            .header
            .attributes
            .contains(BlockAttributes::CONTINUATION)
            || self.tape().media_sequence_number > 1
    }
}

/// One data set as found on one medium.
#[derive(Clone, Debug)]
pub struct SetEntry {
    /// 1-based order among the sets on this medium.
    pub position: usize,
    /// The SSET block (private: [`SetEntry::sset`] relies on it being one).
    pub(crate) sset: CapturedBlock,
    /// The information blocks read with the set: VOLB, and vendor blocks such as SQL Server's
    /// MSCI (before the data) and MSLS (after it).
    pub blocks: Vec<CapturedBlock>,
    /// The ESET blocks (two with a Type 1 catalog).
    pub esets: Vec<CapturedBlock>,
    /// Offset of the filemark that ends the set's data (before the ESET).
    pub data_end: Option<u64>,
    /// Offset just past the filemark that closes the set.
    pub end: Option<u64>,
    /// The set goes on to the next medium (an EOTM came before its ESET).
    pub continues: bool,
    /// Damage found inside the set.
    pub damage: Vec<DamageInfo>,
    /// The set's entry in the set map (TSMP), when the sets were listed from it
    /// ([`ListMethod::SetMap`]): file, directory and corrupt file counts, displayable size.
    pub set_map: Option<SetMapEntry>,
}

impl SetEntry {
    fn new(position: usize, sset: CapturedBlock) -> Self {
        SetEntry {
            position,
            sset,
            blocks: Vec::new(),
            esets: Vec::new(),
            data_end: None,
            end: None,
            continues: false,
            damage: Vec::new(),
            set_map: None,
        }
    }

    /// The SSET fields.
    pub fn sset(&self) -> &crate::block::Sset {
        match &self.sset.dblk.body {
            Body::Sset(s) => s,
            _ => unreachable!("a SetEntry holds an SSET block"),
        }
    }

    /// The SSET block as captured: its offset, common header and streams.
    pub fn sset_block(&self) -> &CapturedBlock {
        &self.sset
    }

    /// The SSET's offset on the medium.
    pub fn offset(&self) -> u64 {
        self.sset.offset
    }

    /// The SSET says the set began on an earlier medium.
    pub fn is_continuation(&self) -> bool {
        self.sset
            .dblk
            .header
            .attributes
            .contains(BlockAttributes::CONTINUATION)
    }

    /// The set's ESET was found (or the set map, written at a set's end, names the set) and the
    /// set was closed by a filemark.
    pub fn is_complete(&self) -> bool {
        (!self.esets.is_empty() || self.set_map.is_some()) && self.end.is_some()
    }

    /// The fields of the set's last ESET read (the second one with a Type 1 catalog), if any.
    /// Its media write date is when the set was finished: the spec asks for the SSET's date
    /// there, but NTBackup records the time the set was closed.
    pub fn eset(&self) -> Option<&crate::block::Eset> {
        self.esets.iter().rev().find_map(|b| match &b.dblk.body {
            Body::Eset(e) => Some(e),
            _ => None,
        })
    }

    /// The first block of the given type among the captured information blocks.
    pub fn block(&self, t: BlockType) -> Option<&CapturedBlock> {
        self.blocks.iter().find(|b| b.block_type() == t)
    }

    /// The first VOLB.
    pub fn volb(&self) -> Option<&crate::block::Volb> {
        self.blocks.iter().find_map(|b| match &b.dblk.body {
            Body::Volb(v) => Some(v),
            _ => None,
        })
    }

    /// Bytes the set occupies on this medium (SSET to the end of its closing filemark).
    pub fn size_on_medium(&self) -> Option<u64> {
        self.end.map(|e| e.saturating_sub(self.sset.offset))
    }
}

/// How the sets were found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum ListMethod {
    /// From the set map (TSMP) on the last set's ESET: the sets it names, each SSET read where
    /// the set map says it is; only the last set's closing section and the SSETs are read.
    SetMap,
    /// From the soft filemark catalog (the last SFMB), reading only headers.
    Catalog,
    /// By reading the medium block by block.
    Scan,
}

impl ListMethod {
    /// A short name for reports: "set map", "catalog" or "scan".
    pub fn name(self) -> &'static str {
        match self {
            ListMethod::SetMap => "set map",
            ListMethod::Catalog => "catalog",
            ListMethod::Scan => "scan",
        }
    }
}

/// Everything the listing found on one medium.
#[derive(Clone, Debug)]
pub struct Listing {
    /// The header.
    pub header: MediaHeader,
    /// The data sets, in medium order.
    pub sets: Vec<SetEntry>,
    /// Filemark offsets (an SFMB's offset for a soft filemark).
    pub filemarks: Vec<u64>,
    /// Where an EOTM was found: the medium is full and the family continues on the next one.
    pub eotm: Option<u64>,
    /// Damage outside any set.
    pub damage: Vec<DamageInfo>,
    /// Method.
    pub method: ListMethod,
    /// Bytes read from the source.
    pub bytes_read: u64,
    /// Reads from the source that returned data (physical blocks on a tape).
    pub reads: u64,
    /// Total length, when known.
    pub total_len: Option<u64>,
    /// Physical block size (tape record size, or the soft filemark block size).
    pub physical_block_size: Option<usize>,
    /// Remarks (e.g. why the catalog was not used).
    pub notes: Vec<String>,
}

/// Reads the media header: the TAPE block and its streams up to SPAD, whose data is not read.
/// The reader must be at the start of the medium.
pub fn read_media_header<S: BlockSource>(reader: &mut Reader<S>) -> Result<MediaHeader> {
    let mut tape: Option<CapturedBlock> = None;
    while let Some(ev) = reader.next_event()? {
        match ev {
            Event::Block { offset, dblk } => {
                if tape.is_some() || dblk.block_type() != BlockType::TAPE {
                    break;
                }
                tape = Some(CapturedBlock {
                    offset,
                    dblk,
                    streams: Vec::new(),
                });
            }
            Event::Stream { offset, header } => {
                let Some(t) = tape.as_mut() else { break };
                if header.id == StreamId::SPAD {
                    t.streams.push(CapturedStream {
                        offset,
                        header,
                        data: None,
                    });
                    break;
                }
                let data = reader.read_data_to_vec(SMALL_STREAM)?;
                t.streams.push(CapturedStream {
                    offset,
                    header,
                    data,
                });
            }
            Event::Filemark { .. } | Event::StreamCut { .. } => break,
            Event::Damage(d) => {
                if tape.is_none() {
                    return Err(d.reason);
                }
                break;
            }
        }
    }
    let tape = tape.ok_or(Error::NoTapeBlock)?;
    Ok(MediaHeader {
        tape,
        params: reader.params(),
    })
}

/// Block types whose blocks a listing keeps with their small streams.
pub(crate) fn is_info_block(t: BlockType) -> bool {
    matches!(
        t,
        BlockType::VOLB | BlockType::MSCI | BlockType::MSLS | BlockType::SSET | BlockType::ESET
    )
}

/// Lists the data sets of a medium (the reader must be at its start). Uses the set map when the
/// medium declares one and the source can reach the last set's end (a seekable file with soft
/// filemarks, or a tape that can space over filemarks); else the soft filemark catalog when it
/// can; else scans. [`Listing::notes`] say why a faster way was not used.
pub fn list_sets<S: BlockSource>(mut reader: Reader<S>) -> Result<Listing> {
    reader.set_read_ahead(HEADER_READ_AHEAD);
    let header = read_media_header(&mut reader)?;
    let mut notes = Vec::new();
    if declares_set_map(&header) {
        let mut moved = false;
        match from_set_map(&mut reader, &header, &mut moved)? {
            Ok(listing) => return Ok(listing),
            Err(why) => notes.push(format!("set map not used: {why}")),
        }
        if moved && !restart(&mut reader, &header)? {
            return Err(Error::Io(std::io::Error::other(
                "the source was moved to read the set map and cannot go back to the start",
            )));
        }
    }
    if reader.can_seek() && header.params.soft_filemarks {
        match from_catalog(&mut reader, &header)? {
            Ok(mut listing) => {
                listing.notes.splice(0..0, notes);
                return Ok(listing);
            }
            Err(why) => notes.push(format!("catalog not used: {why}")),
        }
        // Back to the start for the scan.
        reader.seek_to_block(0, header.params)?;
        read_media_header(&mut reader)?;
    }
    let mut listing = scan(&mut reader, header)?;
    listing.notes.extend(notes);
    Ok(listing)
}

/// Whether the TAPE block declares a set map: a Type 1 media based catalog, or SQL Server's
/// type 3 (which writes a Type 1 TSMP on each set's first ESET).
pub(super) fn declares_set_map(header: &MediaHeader) -> bool {
    matches!(
        header.tape().media_based_catalog_type,
        mbc_type::TYPE1 | mbc_type::SQL_SERVER
    )
}

/// Back to the start of the medium after a look-up moved the source, with the media header read
/// again. `Ok(false)` if the source cannot go back.
pub(super) fn restart<S: BlockSource>(
    reader: &mut Reader<S>,
    header: &MediaHeader,
) -> Result<bool> {
    if reader.can_seek() {
        if !reader.seek_to_block(0, header.params)? {
            return Ok(false);
        }
    } else if reader.source_mut().rewind()? {
        reader.repositioned(0, MediumParams::default());
    } else {
        return Ok(false);
    }
    read_media_header(reader)?;
    Ok(true)
}
