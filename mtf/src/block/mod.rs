//! Descriptor blocks (DBLKs): the common header, the per-type fixed part, and the OS data and
//! string area, parsed from one bounded slice and written back either exactly (raw) or laid out
//! afresh (fixed).

mod dirb;
mod file;
mod small;
mod sset;
mod tape;
mod volb;

pub use dirb::{Dirb, ObjectDates};
pub use file::File;
pub use small::{Cfil, Eotm, Eset, Sfmb, SfmbLayout};
pub use sset::Sset;
pub use tape::Tape;
pub use volb::Volb;

use crate::error::{Error, Result};
use crate::header::DbHeader;
use crate::os_data::OsData;
use crate::spec::{align_up, BlockType, DB_HDR_LEN};
use crate::text::{MtfText, TapeAddress};

/// The type-specific part of a DBLK.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Body {
    /// A TAPE entry or block.
    Tape(Tape),
    /// A SSET entry or block.
    Sset(Sset),
    /// A VOLB entry or block.
    Volb(Volb),
    /// A DIRB entry or block.
    Dirb(Dirb),
    /// A FILE entry or block.
    File(File),
    /// A CFIL entry or block.
    Cfil(Cfil),
    /// ESPB has no fields of its own.
    Espb,
    /// A ESET entry or block.
    Eset(Eset),
    /// A EOTM entry or block.
    Eotm(Eotm),
    /// A SFMB entry or block.
    Sfmb(Sfmb),
    /// A block type without a layout here (SQL Server's MSCI/MSDA/MSTL/MSLS, vendor blocks):
    /// everything after the common header is kept in the block's variable area.
    Other,
}

impl Body {
    /// Size of the fixed part for a block type (0 for types without one).
    pub fn fixed_len(block_type: BlockType) -> usize {
        match block_type {
            BlockType::TAPE => Tape::FIXED_LEN,
            BlockType::SSET => Sset::FIXED_LEN,
            BlockType::VOLB => Volb::FIXED_LEN,
            BlockType::DIRB => Dirb::FIXED_LEN,
            BlockType::FILE => File::FIXED_LEN,
            BlockType::CFIL => Cfil::FIXED_LEN,
            BlockType::ESET => Eset::FIXED_LEN,
            BlockType::EOTM => Eotm::FIXED_LEN,
            BlockType::SFMB => Sfmb::FIXED_LEN,
            _ => 0,
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Body::Tape(b) => b.write(out),
            Body::Sset(b) => b.write(out),
            Body::Volb(b) => b.write(out),
            Body::Dirb(b) => b.write(out),
            Body::File(b) => b.write(out),
            Body::Cfil(b) => b.write(out),
            Body::Eset(b) => b.write(out),
            Body::Eotm(b) => b.write(out),
            Body::Sfmb(b) => b.write(out),
            Body::Espb | Body::Other => {}
        }
    }

    fn texts(&self) -> Vec<&MtfText> {
        match self {
            Body::Tape(b) => b.texts(),
            Body::Sset(b) => b.texts(),
            Body::Volb(b) => b.texts(),
            Body::Dirb(b) => b.texts(),
            Body::File(b) => b.texts(),
            _ => Vec::new(),
        }
    }

    fn texts_mut(&mut self) -> Vec<&mut MtfText> {
        match self {
            Body::Tape(b) => b.texts_mut(),
            Body::Sset(b) => b.texts_mut(),
            Body::Volb(b) => b.texts_mut(),
            Body::Dirb(b) => b.texts_mut(),
            Body::File(b) => b.texts_mut(),
            _ => Vec::new(),
        }
    }
}

/// One descriptor block: everything before its first stream.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Dblk {
    /// The header.
    pub header: DbHeader,
    /// The type-specific fixed part.
    pub body: Body,
    /// The OS-specific data the header's address names, decoded where the layout is known.
    pub os_data: OsData,
    /// The bytes from the end of the fixed part to Offset To First Event (for an SFMB, to the end
    /// of the block), verbatim. OS data and strings live here. The typed strings and OS data are
    /// the truth: the fixed writer rebuilds this area from them, and the raw writer, which
    /// returns it as it was, refuses a block whose strings or OS data say otherwise.
    pub var_area: Vec<u8>,
}

impl Dblk {
    /// A block of `body`'s type with an empty header; lay it out with [`Dblk::write_fixed`].
    pub fn new(block_type: BlockType, body: Body) -> Dblk {
        Dblk {
            header: DbHeader::new(block_type),
            body,
            os_data: OsData::None,
            var_area: Vec::new(),
        }
    }

    /// How many bytes the block's header region spans: Offset To First Event, or for an SFMB the
    /// soft filemark block size (`sfmb_len`) when known. Checks the value against the fixed part.
    pub fn region_len(header: &DbHeader, sfmb_len: Option<usize>) -> Result<usize> {
        let min = DB_HDR_LEN + Body::fixed_len(header.block_type);
        let len = match (header.block_type, sfmb_len) {
            (BlockType::SFMB, Some(n)) => n,
            _ => header.offset_to_first_event as usize,
        };
        if len < min {
            return Err(Error::invalid(
                8,
                "offset to first event",
                format!(
                    "{len} is shorter than the {min}-byte {} header",
                    header.block_type
                ),
            ));
        }
        Ok(len)
    }

    /// Parses a block from `bytes`, which start at the block and hold at least its header
    /// region. Returns the block and the region length. The header checksum must hold.
    pub fn parse(bytes: &[u8], sfmb_len: Option<usize>) -> Result<(Dblk, usize)> {
        let header = DbHeader::parse(bytes)?;
        let len = Self::region_len(&header, sfmb_len)?;
        let region = bytes
            .get(..len)
            .ok_or_else(|| Error::truncated(0, "block header region", len, bytes.len()))?;
        Ok((Self::parse_region(header, region)?, len))
    }

    /// Parses the type-specific part of a block whose header is already checked. `region` is
    /// exactly the block's header region.
    pub fn parse_region(header: DbHeader, region: &[u8]) -> Result<Dblk> {
        let fixed_end = DB_HDR_LEN + Body::fixed_len(header.block_type);
        let fixed = &region[DB_HDR_LEN..fixed_end];
        let at = |e: Error| e.at(DB_HDR_LEN as u64);
        let body = match header.block_type {
            BlockType::TAPE => Body::Tape(Tape::parse(fixed, region).map_err(at)?),
            BlockType::SSET => Body::Sset(Sset::parse(fixed, region).map_err(at)?),
            BlockType::VOLB => Body::Volb(Volb::parse(fixed, region).map_err(at)?),
            BlockType::DIRB => Body::Dirb(Dirb::parse(fixed, region).map_err(at)?),
            BlockType::FILE => Body::File(File::parse(fixed, region).map_err(at)?),
            BlockType::CFIL => Body::Cfil(Cfil::parse(fixed).map_err(at)?),
            BlockType::ESPB => Body::Espb,
            BlockType::ESET => Body::Eset(Eset::parse(fixed).map_err(at)?),
            BlockType::EOTM => Body::Eotm(Eotm::parse(fixed).map_err(at)?),
            BlockType::SFMB => Body::Sfmb(Sfmb::parse(region)?),
            _ => Body::Other,
        };
        let os_bytes = header.os_data.resolve(region, "OS specific data")?;
        let os_data = OsData::decode(header.block_type, header.os_id, header.os_version, os_bytes);
        Ok(Dblk {
            body,
            os_data,
            var_area: region[fixed_end..].to_vec(),
            header,
        })
    }

    /// Writes the header region exactly as held: header (stored checksum), fixed part (stored
    /// addresses), variable area. The area is written only when it agrees with the typed fields:
    /// every string's address names its bytes there, and the OS data address names the OS data's
    /// encoding. A block edited without [`Dblk::write_fixed`] (a string or OS data changed, the
    /// area not) is an [`Error::Encode`], and nothing is appended to `out`.
    pub fn write_raw(&self, out: &mut Vec<u8>) -> Result<()> {
        let start = out.len();
        self.header.write_raw(out);
        self.body.write(out);
        out.extend_from_slice(&self.var_area);
        if let Err(e) = self.check_area(&out[start..]) {
            out.truncate(start);
            return Err(e);
        }
        Ok(())
    }

    /// Whether the typed strings and OS data are what `region` (the header region as written)
    /// holds at their addresses.
    fn check_area(&self, region: &[u8]) -> Result<()> {
        for t in self.body.texts() {
            if t.addr.resolve(region, "string").ok() != Some(&t.raw[..]) {
                return Err(Error::Encode {
                    field: "string",
                    reason: format!(
                        "the {} block's string at offset {} ({} bytes) differs from the variable                          area; lay the block out with write_fixed",
                        self.header.block_type, t.addr.offset, t.addr.size
                    ),
                });
            }
        }
        // OS data decodes exactly (a layout it does not know is kept whole), so only an edit
        // makes the two differ. An SFMB's area is its table, which owns every byte.
        if !matches!(self.body, Body::Sfmb(_))
            && self.header.os_data.resolve(region, "OS specific data").ok()
                != Some(&self.os_data.encode()[..])
        {
            return Err(Error::Encode {
                field: "OS specific data",
                reason: format!(
                    "the {} block's OS data differs from the variable area; lay the block out \
                     with write_fixed",
                    self.header.block_type
                ),
            });
        }
        Ok(())
    }

    /// Lays the block out afresh and writes it: OS data then strings in field order after the
    /// fixed part, addresses and Offset To First Event (4-byte aligned) recomputed, checksum
    /// recomputed. An SFMB keeps its block size and gets its table rebuilt. `self` is updated to
    /// what was written, so a later raw write gives the same bytes.
    pub fn write_fixed(&mut self, out: &mut Vec<u8>) -> Result<()> {
        let fixed_end = DB_HDR_LEN + Body::fixed_len(self.header.block_type);
        if let Body::Sfmb(s) = &mut self.body {
            let block_len =
                (fixed_end + self.var_area.len()).max(self.header.offset_to_first_event as usize);
            let table_offset = s.layout.table_offset();
            // The table must lie in the block (else laying it out would allocate up to 4 GiB of
            // zeros for a block of a few hundred bytes).
            if table_offset >= block_len {
                return Err(Error::Encode {
                    field: "SFMB table offset",
                    reason: format!("{table_offset} lies beyond the {block_len}-byte block"),
                });
            }
            let capacity = s.layout.capacity(block_len);
            // The layouts a reader tries before this one (it tries Spec, then Wide, then
            // Extended).
            let earlier: &[SfmbLayout] = match s.layout {
                SfmbLayout::Spec => &[],
                SfmbLayout::Wide => &[SfmbLayout::Spec],
                SfmbLayout::Extended { .. } => &[SfmbLayout::Spec, SfmbLayout::Wide],
            };
            if (matches!(s.layout, SfmbLayout::Extended { .. }) && table_offset < 64)
                || earlier.iter().any(|l| l.capacity(block_len) == capacity)
            {
                // A reader tells the layouts apart by the entry count; here it would read
                // another layout, so this one cannot be written.
                return Err(Error::Encode {
                    field: "SFMB table offset",
                    reason: format!(
                        "a {:?} table in a {block_len}-byte block reads as another layout",
                        s.layout
                    ),
                });
            }
            // The table fills the block with whole entries: the counts say so, entries beyond
            // it are dropped and missing ones are zero (what a reader sizes it by).
            s.entries.resize(capacity, 0);
            s.number_of_entries = u32::try_from(capacity).map_err(|_| Error::Encode {
                field: "SFMB number of entries",
                reason: format!("{capacity} entries do not fit 32 bits"),
            })?;
            s.entries_used = s.entries_used.min(s.number_of_entries);
            self.var_area = s.table_bytes(block_len)?;
            // An SFMB has no streams; readers size it from the TAPE block. OFE records the
            // block size where it fits 16 bits (as SQL Server does), else the largest
            // 512-byte multiple that does.
            self.header.offset_to_first_event = block_len.min(SFMB_MAX_OFE) as u16;
        } else if matches!(self.body, Body::Other) {
            // Unknown layout: the variable area is opaque, so it is kept as it is.
            self.header.offset_to_first_event =
                to_u16(fixed_end + self.var_area.len(), "offset to first event")?;
        } else {
            let mut var = Vec::new();
            let os = self.os_data.encode();
            self.header.os_data = if os.is_empty() {
                TapeAddress::default()
            } else {
                TapeAddress {
                    size: to_u16(os.len(), "OS data size")?,
                    offset: to_u16(fixed_end, "OS data offset")?,
                }
            };
            var.extend_from_slice(&os);
            for t in self.body.texts_mut() {
                t.addr = if t.raw.is_empty() {
                    TapeAddress::default()
                } else {
                    TapeAddress {
                        size: to_u16(t.raw.len(), "string size")?,
                        offset: to_u16(fixed_end + var.len(), "string offset")?,
                    }
                };
                var.extend_from_slice(&t.raw);
            }
            let end = align_up((fixed_end + var.len()) as u64, 4) as usize;
            var.resize(end - fixed_end, 0);
            self.var_area = var;
            self.header.offset_to_first_event = to_u16(end, "offset to first event")?;
        }
        let mut fixed = Vec::new();
        self.body.write(&mut fixed);
        self.header.write_fixed(out);
        out.extend_from_slice(&fixed);
        out.extend_from_slice(&self.var_area);
        Ok(())
    }

    /// The header region's length as currently held.
    pub fn encoded_len(&self) -> usize {
        DB_HDR_LEN + Body::fixed_len(self.header.block_type) + self.var_area.len()
    }

    /// The block type.
    pub fn block_type(&self) -> BlockType {
        self.header.block_type
    }
}

/// Largest Offset To First Event written for an SFMB whose block is larger than 16 bits allow.
pub const SFMB_MAX_OFE: usize = 65024;

fn to_u16(n: usize, field: &'static str) -> Result<u16> {
    u16::try_from(n).map_err(|_| Error::Encode {
        field,
        reason: format!("{n} does not fit 16 bits"),
    })
}

#[cfg(test)]
mod tests;
