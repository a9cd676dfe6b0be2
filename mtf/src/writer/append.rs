//! Finding where a medium can take another data set, and what the writer must carry on from
//! (set numbers, the filemark table, the cumulative set map).

use super::catalog::SetRecord;
use super::options::VolumeOptions;
use super::AppendPoint;
use crate::block::{Body, Dblk};
use crate::error::{Error, Result};
use crate::reader::source::BlockSource;
use crate::reader::{Event as ReaderEvent, Reader};
use crate::spec::{BlockAttributes, BlockType, StringType};
use crate::walk::{Event, Mode, Walker};
use std::io::Read;

impl AppendPoint {
    /// Reads a whole medium written with soft filemarks (a file) and returns where a new set
    /// may start: just after the filemark that closes the last complete set.
    ///
    /// Refuses, with a typed error, a medium that is damaged, that ends inside a set, or whose
    /// family continues on another medium (it ends with EOTM): appending there would lose data
    /// or break the family. Sets written by other software count too; their numbers are
    /// respected.
    pub fn scan<R: Read>(src: R) -> Result<AppendPoint> {
        let mut scan = Scanner::default();
        for ev in Walker::with_mode(src, Mode::Strict) {
            if let Event::Block { offset, dblk } = ev? {
                scan.block(offset, &dblk)?;
                if dblk.block_type() == BlockType::SFMB {
                    scan.filemark(offset, scan.block_size)?;
                    scan.soft = scan.soft.max(dblk.header.control_block_id);
                }
            }
        }
        scan.finish()
    }

    /// The same for a tape (hardware filemarks), read from its beginning through `reader` (in
    /// strict mode: damage refuses the append). The new set starts after the filemark that
    /// closes the last complete set: that is after `filemarks.len()` filemarks from the start,
    /// where the caller positions the tape (rewind, then space forward over that many).
    pub fn scan_tape<S: BlockSource>(reader: &mut Reader<S>) -> Result<AppendPoint> {
        let mut scan = Scanner {
            hardware: true,
            ..Scanner::default()
        };
        while let Some(ev) = reader.next_event()? {
            match ev {
                ReaderEvent::Block { offset, dblk } => scan.block(offset, &dblk)?,
                ReaderEvent::Filemark { offset } => scan.filemark(offset, 0)?,
                ReaderEvent::Damage(d) => return Err(d.reason),
                ReaderEvent::Stream { .. } | ReaderEvent::StreamCut { .. } => {}
            }
        }
        scan.finish()
    }
}

/// What a scan for the append point has seen so far.
#[derive(Default)]
struct Scanner {
    /// Filemarks are hardware ones (a tape), taking no bytes.
    hardware: bool,
    tape: Option<(crate::block::Tape, StringType)>,
    st: StringType,
    /// PBAs of the filemarks seen.
    filemarks: Vec<u64>,
    /// The highest control block id of a soft filemark.
    soft: u32,
    sets: Vec<SetRecord>,
    open: Option<SetRecord>,
    /// The set's data region is closed; ESETs follow.
    closing: bool,
    /// Where a new set could start, if the medium ended here.
    end_ok: Option<u64>,
    ended_with_eotm: bool,
    /// Physical block size (from the TAPE block).
    block_size: u64,
}

impl Scanner {
    /// A filemark at byte `offset`, taking `len` bytes (a soft filemark's block, or 0).
    fn filemark(&mut self, offset: u64, len: u64) -> Result<()> {
        if self.block_size == 0 {
            return Err(Error::invalid(
                offset as usize,
                "filemark",
                "filemark before any TAPE block",
            ));
        }
        self.filemarks.push(offset / self.block_size);
        if self.closing && self.open.is_none() {
            self.end_ok = Some(offset + len);
            self.closing = false;
        } else if self.open.is_some() {
            self.closing = true;
        } else if self.filemarks.len() == 1 {
            self.end_ok = Some(offset + len); // after the media header
        }
        Ok(())
    }

    fn block(&mut self, offset: u64, dblk: &Dblk) -> Result<()> {
        let cont = dblk
            .header
            .attributes
            .contains(BlockAttributes::CONTINUATION);
        if dblk.header.string_type.0 != 0 {
            self.st = dblk.header.string_type;
        }
        let st = self.st;
        match &dblk.body {
            Body::Tape(t) => {
                self.block_size = t.soft_filemark_bytes() as u64;
                self.tape = Some((t.clone(), dblk.header.string_type));
            }
            Body::Sfmb(_) if self.hardware => {
                return Err(Error::invalid(
                    offset as usize,
                    "SFMB",
                    "a soft filemark on a tape with hardware filemarks",
                ));
            }
            Body::Sset(s) if !cont => {
                self.ended_with_eotm = false;
                self.end_ok = None;
                self.open = Some(SetRecord {
                    data_set_number: s.data_set_number,
                    media_sequence_number: self
                        .tape
                        .as_ref()
                        .map_or(1, |t| t.0.media_sequence_number),
                    sset_pba: s.physical_block_address,
                    attributes: s.attributes,
                    name: s.data_set_name.display(st),
                    description: s.data_set_description.display(st),
                    user: s.user_name.display(st),
                    date: s.media_write_date,
                    time_zone: s.time_zone,
                    ..SetRecord::default()
                });
            }
            Body::Volb(v) => {
                if let Some(r) = self.open.as_mut() {
                    if !cont {
                        r.volumes.push(VolumeOptions {
                            device: v.device_name.display(st),
                            volume: v.volume_name.display(st),
                            machine: v.machine_name.display(st),
                        });
                    }
                }
            }
            Body::Dirb(_) if !cont => {
                if let Some(r) = self.open.as_mut() {
                    r.directories += 1;
                }
            }
            Body::File(_) if !cont => {
                if let Some(r) = self.open.as_mut() {
                    r.files += 1;
                    r.size += dblk.header.displayable_size;
                }
            }
            Body::Eset(e) => {
                if let Some(mut r) = self.open.take() {
                    r.corrupt_files = e.number_of_corrupt_files;
                    r.fdd_pba = e.reserved_for_mbc1;
                    r.fdd_sequence = e.fdd_media_sequence_number;
                    self.sets.push(r);
                } else if let Some(r) = self.sets.last_mut() {
                    // The second ESET of a Type 1 catalog records where the FDD went.
                    r.fdd_pba = e.reserved_for_mbc1;
                }
            }
            Body::Eotm(_) => {
                self.ended_with_eotm = true;
                self.end_ok = None;
            }
            _ => {}
        }
        Ok(())
    }

    fn finish(self) -> Result<AppendPoint> {
        let (tape, string_type) = self
            .tape
            .ok_or_else(|| Error::invalid(0, "medium", "no TAPE block"))?;
        if self.ended_with_eotm {
            return Err(Error::invalid(0, "medium", "the media family continues on another medium (EOTM); append to the family's last medium"));
        }
        if self.open.is_some() {
            return Err(Error::invalid(
                0,
                "medium",
                "the medium ends inside a data set; it cannot be appended to safely",
            ));
        }
        let offset = self.end_ok.ok_or_else(|| {
            Error::invalid(
                0,
                "medium",
                "the medium does not end with the filemark that closes a set",
            )
        })?;
        // Only what lies before the append point counts (a hardware filemark there is the one
        // closing the last set: it comes before).
        let mut filemarks = self.filemarks;
        let block_size = self.block_size;
        if self.hardware {
            filemarks.retain(|pba| pba * block_size <= offset);
        } else {
            filemarks.retain(|pba| pba * block_size < offset);
        }
        Ok(AppendPoint {
            tape,
            string_type,
            offset,
            filemarks,
            soft_filemarks: self.soft,
            sets: self.sets,
        })
    }
}
