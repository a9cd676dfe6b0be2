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
use crate::spec::{BlockAttributes, BlockType, StreamId, DB_HDR_LEN};
use crate::stream::StreamHeader;

/// Streams up to this size are kept in memory when captured (RAID, MQCI, TSMP, ...).
pub const SMALL_STREAM: usize = 64 * 1024;
/// How far before a data-end filemark the catalog path looks for trailer blocks (MSLS).
pub const TRAILER_WINDOW: u64 = 64 * 1024;

/// A stream seen in a captured block, with its data when it is small.
#[derive(Clone, Debug)]
pub struct CapturedStream {
    pub offset: u64,
    pub header: StreamHeader,
    /// The data, when it was at most [`SMALL_STREAM`] bytes and read whole.
    pub data: Option<Vec<u8>>,
}

/// A block kept by the listing, with its streams.
#[derive(Clone, Debug)]
pub struct CapturedBlock {
    pub offset: u64,
    pub dblk: Dblk,
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
    pub offset: u64,
    pub len: u64,
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
    pub tape: CapturedBlock,
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

    /// The set's ESET was found and the set was closed by a filemark.
    pub fn is_complete(&self) -> bool {
        !self.esets.is_empty() && self.end.is_some()
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
    /// From the soft filemark catalog (the last SFMB), reading only headers.
    Catalog,
    /// By reading the medium block by block.
    Scan,
}

/// Everything the listing found on one medium.
#[derive(Clone, Debug)]
pub struct Listing {
    pub header: MediaHeader,
    pub sets: Vec<SetEntry>,
    /// Filemark offsets (an SFMB's offset for a soft filemark).
    pub filemarks: Vec<u64>,
    /// Where an EOTM was found: the medium is full and the family continues on the next one.
    pub eotm: Option<u64>,
    /// Damage outside any set.
    pub damage: Vec<DamageInfo>,
    pub method: ListMethod,
    /// Bytes read from the source.
    pub bytes_read: u64,
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
            Event::Filemark { .. } => break,
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
    pub sets: Vec<SetEntry>,
    open: bool,
    pub filemarks: Vec<u64>,
    pub eotm: Option<u64>,
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

/// Lists the data sets of a medium (the reader must be at its start). Uses the soft filemark
/// catalog when it can, else scans.
pub fn list_sets<S: BlockSource>(mut reader: Reader<S>) -> Result<Listing> {
    reader.set_read_ahead(HEADER_READ_AHEAD);
    let header = read_media_header(&mut reader)?;
    let mut notes = Vec::new();
    if reader.can_seek() && header.params.soft_filemarks {
        match from_catalog(&mut reader, &header)? {
            Ok(listing) => return Ok(listing),
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

/// Lists sets from the soft filemark catalog. The outer `Result` is an I/O failure; the inner
/// `Err` says why the catalog could not be used (the caller then scans).
fn from_catalog<S: BlockSource>(
    reader: &mut Reader<S>,
    header: &MediaHeader,
) -> Result<std::result::Result<Listing, String>> {
    let params = header.params;
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
            Event::Filemark { .. } => break,
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
            Event::Filemark { .. } | Event::Damage(_) => break,
        }
    }
    Ok(())
}
