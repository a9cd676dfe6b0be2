//! Building the data sets of a medium from its events (all of them, or those a catalog pointed
//! at): which blocks open and close a set, which are kept with their small streams.

use super::{is_info_block, CapturedBlock, CapturedStream, DamageInfo, SetEntry, SMALL_STREAM};
use crate::block::Dblk;
use crate::error::Result;
use crate::reader::core::Reader;
use crate::reader::source::BlockSource;
use crate::spec::{BlockType, StreamId};
use crate::stream::StreamHeader;

/// Builds sets from the events of a medium (all of them, or the ones a catalog pointed at).
#[derive(Debug, Default)]
pub(crate) struct SetBuilder {
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

    /// A stream of the current block, its data read into memory when the builder keeps it
    /// ([`SetBuilder::wants_stream`]); else the data is left for the reader to skip.
    pub(super) fn read_stream<S: BlockSource>(
        &mut self,
        reader: &mut Reader<S>,
        offset: u64,
        header: StreamHeader,
    ) -> Result<()> {
        let data = if self.wants_stream(&header) {
            reader.read_data_to_vec(SMALL_STREAM)?
        } else {
            None
        };
        self.stream(offset, header, data);
        Ok(())
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

    /// Closes the open set where the caller placed its end itself (the set map path): later
    /// blocks and streams do not belong to it.
    pub(super) fn close_set(&mut self) {
        self.open = false;
        self.capturing = None;
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
