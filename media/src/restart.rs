//! Restarting an interrupted backup from its last checkpoint instead of from the beginning
//! (the RESTART of the reference documents, for tapes).
//!
//! **The checkpoint is a completed medium.** When a family's medium fills, the writer closes it
//! with the MTF end-of-media procedure (filemark, EOTM, filemark) and goes on on the next one;
//! from then on that medium is final. After an interruption, each family's media that end with
//! the whole procedure **on every mirror** are its checkpoint; its first medium that does not
//! (on any mirror, or is missing there) is where writing resumes. Every copy counts because
//! the mirrors' devices run on their own threads and stop at different points when the write is
//! killed: one copy may be closed while another is cut short, and a cut copy cannot be
//! replayed. The mirror count is read off the media ([`crate::set::MIRROR_STREAM`]).
//!
//! A restart runs the backup again over the same source, in the same order, with the same
//! backup set: [`RestartPlan::read`] reads the checkpoint off the media (which files each
//! family's complete media hold, in order), the striped writer sends those files to the same
//! families again, and each family *replays* its complete media: the blocks it would write are
//! compared with the ones on the medium instead of being written ([`CompareSink`]), so a
//! complete medium is only read, never rewritten, and a source that changed since the
//! interruption is caught. From the first incomplete medium on, the family writes again. The
//! restarted media set is block for block what an uninterrupted run would have written.
//!
//! The one thing the media do not record is where the drive signalled early warning on a
//! replayed medium; it is recovered from the medium's layout ([`early_warning_block`]): the
//! writer closes a medium at the first point where a block may end after the warning, so the
//! warning is given on the last block before the end-of-media filemark, or on the one before it
//! when that last block was padded (ESPB) up to the cut.

use crate::changer::{MediaChanger, MediumRequest, Purpose};
use crate::decision::{Action, Decision, Reason};
use crate::device::{tape_io, Device};
use crate::family::{FamilySpec, MediaError, Result, MAX_OFFERS};
use crate::set::{read_label, Guid, Inspection};
use mtf::header::DbHeader;
use mtf::spec::BlockType;
use mtf::writer::WriteStatus;
use std::io;
use tape_sys::ReadResult;

/// Compares what a replayed family writes with what its medium holds.
pub struct CompareSink {
    device: Device,
    name: String,
    buf: Vec<u8>,
    /// Blocks compared so far.
    blocks: u64,
    /// Give early warning with this block (as the drive did when the medium was written).
    warn_at: Option<u64>,
}

impl CompareSink {
    /// A replay of the medium in `device` (`name` for messages), from its start.
    pub fn new(mut device: Device, name: &str) -> io::Result<Self> {
        let warn_at = early_warning_block(&mut device)?;
        device.rewind().map_err(tape_io)?;
        Ok(CompareSink {
            device,
            name: name.to_owned(),
            buf: vec![0; 1 << 20],
            blocks: 0,
            warn_at,
        })
    }

    /// The device back.
    pub fn into_device(self) -> Device {
        self.device
    }

    fn differs(&self, what: &str) -> io::Error {
        io::Error::other(format!(
            "{}: the restarted backup differs from the interrupted one at block {} ({what}): \
             the source changed since; start the backup again from the beginning",
            self.name, self.blocks
        ))
    }

    pub(crate) fn write_block(&mut self, block: &[u8]) -> io::Result<WriteStatus> {
        match self.device.read_block(&mut self.buf).map_err(tape_io)? {
            ReadResult::Data(n) if self.buf[..n] == *block => {}
            ReadResult::Data(_) => return Err(self.differs("other bytes")),
            _ => return Err(self.differs("the medium has no block there")),
        }
        let early_warning = self.warn_at == Some(self.blocks);
        self.blocks += 1;
        Ok(WriteStatus { early_warning })
    }

    pub(crate) fn write_filemark(&mut self) -> io::Result<WriteStatus> {
        match self.device.read_block(&mut self.buf).map_err(tape_io)? {
            ReadResult::Filemark => Ok(WriteStatus::default()),
            _ => Err(self.differs("the medium has no filemark there")),
        }
    }
}

/// Reads a complete medium through and finds the block (counted from 0, filemarks not counted)
/// with which the drive gave early warning. `None` if the medium does not end with the
/// end-of-media procedure.
pub fn early_warning_block(device: &mut Device) -> io::Result<Option<u64>> {
    device.rewind().map_err(tape_io)?;
    let mut buf = vec![0u8; 1 << 20];
    // Per object: None for a filemark, Some((block index, ends with ESPB padding)).
    let mut objects: Vec<Option<(u64, bool)>> = Vec::new();
    let mut blocks = 0u64;
    loop {
        match device.read_block(&mut buf).map_err(tape_io)? {
            ReadResult::EndOfData => break,
            ReadResult::Filemark => objects.push(None),
            ReadResult::Data(n) => {
                objects.push(Some((blocks, has_espb(&buf[..n]))));
                blocks += 1;
            }
        }
    }
    device.rewind().map_err(tape_io)?;
    // The end-of-media procedure: ..., filemark, EOTM block, filemark.
    let k = objects.len();
    if k < 4 || objects[k - 1].is_some() || objects[k - 3].is_some() || objects[k - 2].is_none() {
        return Ok(None);
    }
    Ok(match objects[k - 4] {
        // The cut came at a DBLK after a set's filemark: the warning came with the block
        // before that filemark.
        None => objects[..k - 4].iter().rev().find_map(|o| o.map(|b| b.0)),
        Some((b, true)) => b.checked_sub(1),
        Some((b, false)) => Some(b),
    })
}

/// Whether an ESPB block header starts at a 512-byte boundary of the block (its header
/// checksum must hold).
fn has_espb(block: &[u8]) -> bool {
    (0..block.len()).step_by(512).any(|o| {
        block[o..].starts_with(b"ESPB")
            && DbHeader::parse(&block[o..]).is_ok_and(|h| h.block_type == BlockType::ESPB)
    })
}

/// Mounts medium `req.sequence` of the family for replay, refusing other media.
pub(crate) fn mount_for_replay(
    changer: &mut dyn MediaChanger,
    req: &MediumRequest,
    refusals: &mut Vec<(String, String)>,
) -> io::Result<(String, CompareSink)> {
    let req = MediumRequest {
        purpose: Purpose::Read,
        ..req.clone()
    };
    for _ in 0..MAX_OFFERS {
        let mut m = changer.mount(&req)?;
        let why = match read_label(&mut m.device) {
            Ok(l)
                if l.media_set_id == req.media_set_id
                    && l.family() == req.family_number
                    && l.media_sequence_number == req.sequence =>
            {
                let sink = CompareSink::new(m.device, &m.name)?;
                return Ok((m.name, sink));
            }
            Ok(l) => format!("this is {}, not {req}", l.describe()),
            Err(e) => e,
        };
        refusals.push((m.name.clone(), why.clone()));
        changer.refused(m, &why)?;
    }
    Err(io::Error::other(format!(
        "{MAX_OFFERS} media offered for {req}, none of them it"
    )))
}

/// The decision for a medium a restart replays: it must be that medium.
pub(crate) fn judge_replay(m: &Inspection, spec: &FamilySpec, sequence: u16) -> Decision {
    let mut reasons = Vec::new();
    match m.label() {
        None => reasons.push(Reason::WrongSet {
            wanted: spec.set.id,
            found: None,
        }),
        Some(l) => {
            if l.media_set_id != Some(spec.set.id) {
                reasons.push(Reason::WrongSet {
                    wanted: spec.set.id,
                    found: l.media_set_id,
                });
            } else if l.family() != spec.family_number {
                reasons.push(Reason::WrongFamily {
                    wanted: spec.family_number,
                    found: l.family(),
                });
            } else if l.media_sequence_number != sequence {
                reasons.push(Reason::NotLastMedium {
                    sequence: l.media_sequence_number,
                });
            }
        }
    }
    Decision {
        action: reasons.is_empty().then_some(Action::WriteHeader),
        reasons,
        overridden: Vec::new(),
    }
}

/// What a complete medium holds for the checkpoint: its files and the directory after its
/// last file ([`FamilyCheckpoint`]); `None` if the medium is not complete. A medium is complete
/// when it names its continuation (EOTM) and ends with the whole end-of-media procedure, the
/// layout its replay finds its early warning in ([`early_warning_block`]): the plan and the
/// replay judge a medium by one rule.
fn medium_checkpoint(
    device: &mut Device,
    family: u16,
) -> Option<(Vec<String>, Option<Vec<String>>)> {
    // A medium that does not read through (cut by the interruption) is incomplete.
    let (files, continues, next_dir) = crate::restore::list_medium(device, family).ok()?;
    let complete = continues && early_warning_block(device).ok()?.is_some();
    complete.then_some((files, next_dir))
}

/// One family's checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FamilyCheckpoint {
    pub family_number: u16,
    /// The first medium to write again (1 when no medium was completed).
    pub resume_at: u16,
    /// The files on the complete media, in order, as `dir/.../name`.
    pub files: Vec<String>,
    /// A directory the complete media name after their last file: the family's next file
    /// was in it (its DIRB is replayed, so the restarted family's next file must be too).
    pub next_dir: Option<Vec<String>>,
}

/// What a restart carries on from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestartPlan {
    pub media_set_id: Guid,
    pub name: String,
    pub family_count: u16,
    /// Copies of each medium (1 when the media do not say).
    pub mirror_count: u8,
    /// When the media set was labelled (the restarted run writes the same date).
    pub written: i64,
    pub families: Vec<FamilyCheckpoint>,
}

impl RestartPlan {
    /// Reads the checkpoint of an interrupted backup to media set `set` with one changer
    /// (reading the families one after another). The family count comes from the first
    /// family's first medium; when that one never got its header, nothing is known of the
    /// others and the plan is refused ([`RestartPlan::read_families`] asks for every family).
    pub fn read(changer: &mut dyn MediaChanger, set: Guid) -> Result<RestartPlan> {
        Self::read_inner(changer, set, None)
    }

    /// [`RestartPlan::read`] for a media set of `family_count` families (the devices the
    /// restart is given): every family is asked for, so the others' completed media still
    /// count when the first family's first medium has no header yet.
    pub fn read_families(
        changer: &mut dyn MediaChanger,
        set: Guid,
        family_count: u16,
    ) -> Result<RestartPlan> {
        Self::read_inner(changer, set, Some(family_count))
    }

    fn read_inner(
        changer: &mut dyn MediaChanger,
        set: Guid,
        family_count: Option<u16>,
    ) -> Result<RestartPlan> {
        let mut families = Vec::new();
        let mut header: Option<(String, u16, i64)> = None;
        let mut f = 1u16;
        // Copies of each medium, from the first label read.
        let mut mirrors = 1u8;
        loop {
            let count = family_count.unwrap_or_else(|| header.as_ref().map_or(1, |h| h.1));
            if f > count {
                break;
            }
            let mut cp = FamilyCheckpoint {
                family_number: f,
                resume_at: 1,
                files: Vec::new(),
                next_dir: None,
            };
            'media: for seq in 1u16.. {
                // Every copy of the medium (one per mirror) must be complete for it to be a
                // checkpoint: the mirrors' devices stop at different points when a write is
                // killed, and a copy cut short cannot be replayed.
                let mut on_medium = None;
                let mut mirror = 0;
                // `mirrors` is learned from the first label read.
                while mirror < mirrors {
                    let req = MediumRequest {
                        purpose: Purpose::Read,
                        media_set_id: Some(set),
                        media_name: String::new(),
                        family_number: f,
                        family_count: count,
                        sequence: seq,
                        mirror,
                    };
                    let Ok(mut m) = changer.mount(&req) else {
                        break 'media;
                    };
                    let label = match read_label(&mut m.device) {
                        Ok(l)
                            if l.media_set_id == Some(set)
                                && l.family() == f
                                && l.media_sequence_number == seq =>
                        {
                            l
                        }
                        _ => {
                            changer.refused(m, "not the medium asked for")?;
                            break 'media;
                        }
                    };
                    if header.is_none() {
                        header = Some((
                            label.name.clone(),
                            label.family_count.unwrap_or(1),
                            label.written.unwrap_or(0),
                        ));
                        mirrors = label.mirror_count.unwrap_or(1);
                    }
                    let listed = medium_checkpoint(&mut m.device, f);
                    changer.done(m)?;
                    match listed {
                        Some(l) => on_medium = Some(l),
                        None => break 'media,
                    }
                    mirror += 1;
                }
                let Some((files, next_dir)) = on_medium else {
                    break;
                };
                if !files.is_empty() || next_dir.is_some() {
                    cp.next_dir = next_dir;
                }
                cp.files.extend(files);
                cp.resume_at = seq + 1;
            }
            families.push(cp);
            f += 1;
        }
        let (name, family_count, written) = header
            .ok_or_else(|| MediaError::Invalid(format!("no medium of media set {set} found")))?;
        if families.len() != family_count as usize {
            return Err(MediaError::Invalid(format!(
                "media set {set} has {family_count} families, not {}",
                families.len()
            )));
        }
        Ok(RestartPlan {
            media_set_id: set,
            name,
            family_count,
            mirror_count: mirrors,
            written,
            families,
        })
    }
}
