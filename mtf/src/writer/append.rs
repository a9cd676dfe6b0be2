//! Finding where a medium can take another data set, and what the writer must carry on from
//! (set numbers, the filemark table, the cumulative set map).

use super::catalog::SetRecord;
use super::options::VolumeOptions;
use super::AppendPoint;
use crate::block::Body;
use crate::error::{Error, Result};
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
        let mut tape = None;
        let mut st = StringType::NONE;
        let mut filemarks = Vec::new();
        let mut soft = 0u32;
        let mut sets: Vec<SetRecord> = Vec::new();
        let mut open: Option<SetRecord> = None;
        let mut closing = false; // the set's data region is closed; ESETs follow
        let mut end_ok = None::<u64>;
        let mut ended_with_eotm = false;
        let mut block_size = 0u64;
        for ev in Walker::with_mode(src, Mode::Strict) {
            let ev = ev?;
            if let Event::Block { offset, dblk } = ev {
                let cont = dblk
                    .header
                    .attributes
                    .contains(BlockAttributes::CONTINUATION);
                if dblk.header.string_type.0 != 0 {
                    st = dblk.header.string_type;
                }
                match &dblk.body {
                    Body::Tape(t) => {
                        block_size = t.soft_filemark_bytes() as u64;
                        tape = Some((t.clone(), dblk.header.string_type));
                    }
                    Body::Sfmb(_) => {
                        if block_size == 0 {
                            return Err(Error::invalid(
                                offset as usize,
                                "SFMB",
                                "soft filemark before any TAPE block",
                            ));
                        }
                        filemarks.push(offset / block_size);
                        soft = soft.max(dblk.header.control_block_id);
                        if closing && open.is_none() {
                            end_ok = Some(offset + block_size);
                            closing = false;
                        } else if open.is_some() {
                            closing = true;
                        } else if filemarks.len() == 1 {
                            end_ok = Some(offset + block_size); // after the media header
                        }
                    }
                    Body::Sset(s) if !cont => {
                        ended_with_eotm = false;
                        end_ok = None;
                        open = Some(SetRecord {
                            data_set_number: s.data_set_number,
                            media_sequence_number: tape
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
                        if let Some(r) = open.as_mut() {
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
                        if let Some(r) = open.as_mut() {
                            r.directories += 1;
                        }
                    }
                    Body::File(_) if !cont => {
                        if let Some(r) = open.as_mut() {
                            r.files += 1;
                            r.size += dblk.header.displayable_size;
                        }
                    }
                    Body::Eset(e) => {
                        if let Some(mut r) = open.take() {
                            r.corrupt_files = e.number_of_corrupt_files;
                            r.fdd_pba = e.reserved_for_mbc1;
                            r.fdd_sequence = e.fdd_media_sequence_number;
                            sets.push(r);
                        } else if let Some(r) = sets.last_mut() {
                            // The second ESET of a Type 1 catalog records where the FDD went.
                            r.fdd_pba = e.reserved_for_mbc1;
                        }
                    }
                    Body::Eotm(_) => ended_with_eotm = true,
                    _ => {}
                }
                if dblk.block_type() == BlockType::EOTM {
                    end_ok = None;
                }
            }
        }
        let (tape, string_type) =
            tape.ok_or_else(|| Error::invalid(0, "medium", "no TAPE block"))?;
        if ended_with_eotm {
            return Err(Error::invalid(0, "medium", "the media family continues on another medium (EOTM); append to the family's last medium"));
        }
        if open.is_some() {
            return Err(Error::invalid(
                0,
                "medium",
                "the medium ends inside a data set; it cannot be appended to safely",
            ));
        }
        let offset = end_ok.ok_or_else(|| {
            Error::invalid(
                0,
                "medium",
                "the medium does not end with a closing soft filemark",
            )
        })?;
        // Only what lies before the append point counts.
        filemarks.retain(|pba| pba * block_size < offset);
        Ok(AppendPoint {
            tape,
            string_type,
            offset,
            filemarks,
            soft_filemarks: soft,
            sets,
        })
    }
}
