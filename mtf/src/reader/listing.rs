//! What is on one medium: its media header, and its data sets with their boundaries.
//!
//! [`read_media_header`] reads the TAPE block and its small streams and nothing more (LABELONLY).
//! [`list_sets`] finds every data set (HEADERONLY). When the medium is a seekable file with soft
//! filemarks, it uses the catalog the last SFMB holds: the positions of every earlier filemark,
//! so each set's SSET and ESET can be read without reading the data between them. Otherwise (or
//! when the catalog does not check out) it scans the medium block by block, skipping stream data
//! (by seeking where it can). Both ways build the same [`Listing`].

use super::core::{Event, MediumParams, Reader, HEADER_READ_AHEAD};
use super::source::BlockSource;
use crate::block::{Body, Dblk};
use crate::error::{Error, Result};
use crate::header::DbHeader;
use crate::spec::{mbc_type, BlockAttributes, BlockType, StreamId, DB_HDR_LEN};
use crate::stream::{SetMap, SetMapEntry, StreamHeader};

/// Streams up to this size are kept in memory when captured (RAID, MQCI, TSMP, ...).
pub const SMALL_STREAM: usize = 64 * 1024;
/// The largest set map (TSMP stream) read into memory: a few hundred bytes per data set.
pub const SET_MAP_LIMIT: u64 = 4 << 20;
/// How far before a data-end filemark the catalog path looks for trailer blocks (MSLS).
pub const TRAILER_WINDOW: u64 = 64 * 1024;

/// A stream seen in a captured block, with its data when it is small.
#[derive(Clone, Debug)]
pub struct CapturedStream {
    /// Where on the medium (or in the structure) it starts.
    pub offset: u64,
    /// The header.
    pub header: StreamHeader,
    /// The data, when it was at most [`SMALL_STREAM`] bytes and read whole.
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
    /// Tape.
    pub tape: CapturedBlock,
    /// Params.
    pub params: MediumParams,
}

impl MediaHeader {
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
    /// Sset.
    pub sset: CapturedBlock,
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
    let tape = tape.ok_or(Error::NotMtf { found: [0; 4] })?;
    Ok(MediaHeader {
        tape,
        params: reader.params(),
    })
}

/// Block types whose blocks a listing keeps with their small streams.
pub fn is_info_block(t: BlockType) -> bool {
    matches!(
        t,
        BlockType::VOLB | BlockType::MSCI | BlockType::MSLS | BlockType::SSET | BlockType::ESET
    )
}

/// Builds sets from the events of a medium (all of them, or the ones a catalog pointed at).
#[derive(Debug, Default)]
pub struct SetBuilder {
    /// The data sets, in medium order.
    pub sets: Vec<SetEntry>,
    open: bool,
    /// Filemark offsets.
    pub filemarks: Vec<u64>,
    /// Eotm.
    pub eotm: Option<u64>,
    /// Damaged ranges.
    pub damage: Vec<DamageInfo>,
    /// The block being captured (its streams are attached as they come).
    capturing: Option<Target>,
}

#[derive(Debug, Clone, Copy)]
enum Target {
    Block,
    Eset,
}

impl SetBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    fn open_set(&mut self) -> Option<&mut SetEntry> {
        if self.open {
            self.sets.last_mut()
        } else {
            None
        }
    }

    /// Whether the next stream's data should be captured (read into memory).
    pub fn wants_stream(&self, header: &StreamHeader) -> bool {
        // File/directory detail catalogs (TFDD, FDD2) are not needed to list sets.
        self.capturing.is_some()
            && !matches!(header.id, StreamId::SPAD | StreamId::TFDD | StreamId::FDD2)
            && header.length <= SMALL_STREAM as u64
    }

    /// A block.
    pub fn block(&mut self, offset: u64, dblk: Dblk) {
        let t = dblk.block_type();
        self.capturing = None;
        match t {
            BlockType::SSET => {
                let position = self.sets.len() + 1;
                self.sets.push(SetEntry::new(
                    position,
                    CapturedBlock {
                        offset,
                        dblk,
                        streams: Vec::new(),
                    },
                ));
                self.open = true;
                // The SSET's own streams are captured into the set's SSET block.
                self.capturing = Some(Target::Block);
            }
            BlockType::ESET => {
                if let Some(set) = self.open_set() {
                    set.esets.push(CapturedBlock {
                        offset,
                        dblk,
                        streams: Vec::new(),
                    });
                    self.capturing = Some(Target::Eset);
                } else {
                    self.damage.push(DamageInfo {
                        offset,
                        len: 0,
                        reason: "ESET without a preceding SSET".into(),
                    });
                }
            }
            BlockType::EOTM => {
                self.eotm = Some(offset);
                if let Some(set) = self.open_set() {
                    if set.esets.is_empty() {
                        set.continues = true;
                    }
                }
                self.open = false;
            }
            BlockType::SFMB => self.filemark(offset),
            _ if is_info_block(t) => {
                if let Some(set) = self.open_set() {
                    if set.esets.is_empty() {
                        set.blocks.push(CapturedBlock {
                            offset,
                            dblk,
                            streams: Vec::new(),
                        });
                        self.capturing = Some(Target::Block);
                    }
                }
            }
            _ => {}
        }
    }

    fn target(&mut self) -> Option<&mut CapturedBlock> {
        let target = self.capturing?;
        let set = self.sets.last_mut()?;
        match target {
            Target::Eset => set.esets.last_mut(),
            Target::Block => {
                if set.blocks.is_empty() {
                    Some(&mut set.sset)
                } else {
                    set.blocks.last_mut()
                }
            }
        }
    }

    /// A stream of the current block, with its data if it was captured.
    pub fn stream(&mut self, offset: u64, header: StreamHeader, data: Option<Vec<u8>>) {
        if let Some(b) = self.target() {
            b.streams.push(CapturedStream {
                offset,
                header,
                data,
            });
        }
    }

    /// A filemark (hardware, or an SFMB at `offset`).
    pub fn filemark(&mut self, offset: u64) {
        self.capturing = None;
        self.filemarks.push(offset);
        if let Some(set) = self.open_set() {
            if set.esets.is_empty() {
                if set.data_end.is_none() {
                    set.data_end = Some(offset);
                }
            } else {
                set.end = Some(offset);
                self.open = false;
            }
        }
    }

    /// Sets the end of the set the last filemark closed to just past that filemark.
    pub fn filemark_end(&mut self, mark_offset: u64, end: u64) {
        if let Some(set) = self
            .sets
            .iter_mut()
            .rev()
            .find(|s| s.end == Some(mark_offset))
        {
            set.end = Some(end);
        }
    }

    /// Damage.
    pub fn damage(&mut self, d: DamageInfo) {
        self.capturing = None;
        match self.open_set() {
            Some(set) => set.damage.push(d),
            None => self.damage.push(d),
        }
    }
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

/// Scans from the current position (just after the media header) to the end.
fn scan<S: BlockSource>(reader: &mut Reader<S>, header: MediaHeader) -> Result<Listing> {
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
            Event::Stream { offset, header } => {
                let data = if b.wants_stream(&header) {
                    reader.read_data_to_vec(SMALL_STREAM)?
                } else {
                    None
                };
                b.stream(offset, header, data);
            }
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

/// Reads the SFMB at `offset`, if one with a valid header is there.
fn sfmb_at<S: BlockSource>(
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

fn is_sfmb_at<S: BlockSource>(reader: &mut Reader<S>, offset: u64) -> Result<bool> {
    let Some(bytes) = reader.read_at(offset, DB_HDR_LEN)? else {
        return Ok(false);
    };
    Ok(matches!(DbHeader::parse(&bytes), Ok(h) if h.block_type == BlockType::SFMB))
}

/// The filemarks the last SFMB lists, as sorted byte offsets, with the last SFMB's own offset at
/// the end; the soft filemark size; the medium's length. The inner `Err` says why the table
/// cannot be used.
type SfmbMarks = (Vec<u64>, usize, u64);

fn sfmb_marks<S: BlockSource>(
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
fn from_catalog<S: BlockSource>(
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
fn feed_region<S: BlockSource>(
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
            Event::Stream { offset, header } => {
                let data = if b.wants_stream(&header) {
                    reader.read_data_to_vec(SMALL_STREAM)?
                } else {
                    None
                };
                b.stream(offset, header, data);
            }
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
fn trailer<S: BlockSource>(
    reader: &mut Reader<S>,
    b: &mut SetBuilder,
    region: u64,
    mark: u64,
    params: MediumParams,
) -> Result<()> {
    // Look in a small window first (the MSLS block is a few KiB), then a larger one.
    let mut found = None;
    for window_len in [8 * 1024, TRAILER_WINDOW] {
        let start = mark.saturating_sub(window_len).max(region);
        let start = start.div_ceil(512) * 512;
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

fn feed_trailer<S: BlockSource>(
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
            Event::Stream { offset, header } => {
                let data = if b.wants_stream(&header) {
                    reader.read_data_to_vec(SMALL_STREAM)?
                } else {
                    None
                };
                b.stream(offset, header, data);
            }
            Event::Filemark { .. } | Event::Damage(_) | Event::StreamCut { .. } => break,
        }
    }
    Ok(())
}

/// Whether the TAPE block declares a set map: a Type 1 media based catalog, or SQL Server's
/// type 3 (which writes a Type 1 TSMP on each set's first ESET).
fn declares_set_map(header: &MediaHeader) -> bool {
    matches!(
        header.tape().media_based_catalog_type,
        mbc_type::TYPE1 | mbc_type::SQL_SERVER
    )
}

/// Back to the start of the medium after a look-up moved the source, with the media header read
/// again. `Ok(false)` if the source cannot go back.
fn restart<S: BlockSource>(reader: &mut Reader<S>, header: &MediaHeader) -> Result<bool> {
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

/// The last set's closing section (ESET blocks and their streams) with its set map.
struct EsetSection {
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
fn read_eset_section<S: BlockSource>(
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
fn check_set_map(
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
fn from_set_map<S: BlockSource>(
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

fn set_map_listing<S: BlockSource>(
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
fn read_sset<S: BlockSource>(
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
fn from_set_map_file<S: BlockSource>(
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
        b.open = false;
        b.capturing = None;
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

fn unrecorded_sset_notes(entries: &[SetMapEntry]) -> Option<String> {
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
fn shift_set(set: &mut SetEntry, delta: u64) {
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
fn from_set_map_tape<S: BlockSource>(
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
        b.open = false;
        b.capturing = None;
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
