//! The writer's side of the Type 1 media based catalog: FDD entries collected as the set is
//! written, and the cumulative set map written at every set's end.
//!
//! Layouts are MTF 1.00a §7 (MTF_FDD_HDR and bodies, MTF_SM_HDR, MTF_SM_ENTRY). Volume entries
//! follow their set map entry outside its Length, as SQL Server writes them.

use super::options::VolumeOptions;
use crate::block::{Body, Dblk};
use crate::date::MtfDateTime;
use crate::encode::{patch_le, PutLe};
use crate::spec::{BlockType, OsId, SetAttributes, StringType};
use crate::text::encode_str;

/// What the set map records about one data set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SetRecord {
    /// The set's number on the medium family (SSET Data Set Number).
    pub data_set_number: u16,
    /// Medium on which the set starts.
    pub media_sequence_number: u16,
    /// Physical block address of the set's SSET.
    pub sset_pba: u64,
    /// Physical block address of the set's first FDD entry.
    pub fdd_pba: u64,
    /// Media sequence number of the medium holding the FDD.
    pub fdd_sequence: u16,
    /// The SSET attributes (backup kind).
    pub attributes: SetAttributes,
    /// Data set name.
    pub name: String,
    /// Data set description.
    pub description: String,
    /// User name.
    pub user: String,
    /// When the set was written.
    pub date: MtfDateTime,
    /// Offset from UTC in 15-minute units, or [`crate::block::Sset::LOCAL_TZ`].
    pub time_zone: i8,
    /// Directories in the set.
    pub directories: u32,
    /// Files in the set.
    pub files: u32,
    /// Files recorded as corrupt.
    pub corrupt_files: u32,
    /// Sum of the files' sizes.
    pub size: u64,
    /// The set's volumes, written after its set map entry.
    pub volumes: Vec<VolumeOptions>,
}

/// Size of MTF_FDD_HDR.
const FDD_HDR_LEN: usize = 36;
/// Size of an FDD VOLB body's fixed part (from the entry start).
const FDD_VOLB_FIXED: usize = 61;
/// Size of an FDD DIRB/FILE body's fixed part (from the entry start).
const FDD_OBJECT_FIXED: usize = 68;
/// Size of MTF_SM_ENTRY's fixed part.
const SM_ENTRY_FIXED: usize = 91;

struct FddEntry {
    kind: BlockType,
    bytes: Vec<u8>,
    /// For DIRB: path depth and parent path, to link siblings; for FILE: index of its DIRB.
    parent: Option<usize>,
    path: Vec<u8>,
}

/// Collects FDD entries in DBLK order.
#[derive(Default)]
pub(crate) struct FddBuilder {
    entries: Vec<FddEntry>,
    current_dir: Option<usize>,
}

fn fdd_header(out: &mut Vec<u8>, kind: BlockType, seq: u16, d: &Dblk, fla: u64) {
    out.put_le(0u16); // length, patched later
    out.extend_from_slice(&kind.0);
    out.put_le(seq);
    out.put_le(d.header.attributes.bits());
    out.put_le(fla);
    out.put_le(d.header.displayable_size);
    out.put_le(0i32); // link, patched later
    out.push(d.header.os_id.0);
    out.push(d.header.os_version);
    out.push(d.header.string_type.0);
    out.push(0);
}

/// Appends strings at the end of an entry, writing each TAPE_ADDRESS (relative to the entry
/// start) at its slot, then sets the entry length.
fn place_strings(e: &mut Vec<u8>, slots: &[(usize, &[u8])]) {
    for (slot, s) in slots {
        let (size, off) = if s.is_empty() {
            (0u16, 0u16)
        } else {
            (s.len() as u16, e.len() as u16)
        };
        patch_le(e, *slot, size);
        patch_le(e, *slot + 2, off);
        e.extend_from_slice(s);
    }
    if e.len() % 2 == 1 {
        e.push(0);
    }
    let len = e.len() as u16;
    patch_le(e, 0, len);
}

fn volume_entry(seq: u16, d: &Dblk, fla: u64, v: &crate::block::Volb, os: &[u8]) -> Vec<u8> {
    let mut e = Vec::with_capacity(FDD_VOLB_FIXED + 64);
    fdd_header(&mut e, BlockType::VOLB, seq, d, fla);
    e.put_le(v.attributes.bits());
    e.resize(56, 0); // four TAPE_ADDRESS slots at 40, 44, 48, 52
    e.extend_from_slice(&v.media_write_date.0);
    place_strings(
        &mut e,
        &[
            (40, &v.device_name.raw),
            (44, &v.volume_name.raw),
            (48, &v.machine_name.raw),
            (52, os),
        ],
    );
    e
}

impl FddBuilder {
    /// Records a VOLB, DIRB or FILE as written (at `fla`, on medium `seq`).
    pub(crate) fn add(&mut self, d: &Dblk, fla: u64, seq: u16) {
        let os = d.os_data.encode();
        match &d.body {
            Body::Volb(v) => {
                self.entries.push(FddEntry {
                    kind: BlockType::VOLB,
                    bytes: volume_entry(seq, d, fla, v, &os),
                    parent: None,
                    path: Vec::new(),
                });
                self.current_dir = None;
            }
            Body::Dirb(x) => {
                let mut e = Vec::with_capacity(FDD_OBJECT_FIXED + 64);
                fdd_header(&mut e, BlockType::DIRB, seq, d, fla);
                x.dates.write(&mut e);
                e.put_le(x.attributes.bits());
                e.resize(FDD_OBJECT_FIXED, 0);
                place_strings(&mut e, &[(60, &x.directory_name.raw), (64, &os)]);
                self.entries.push(FddEntry {
                    kind: BlockType::DIRB,
                    bytes: e,
                    parent: None,
                    path: x.directory_name.raw.clone(),
                });
                self.current_dir = Some(self.entries.len() - 1);
            }
            Body::File(x) => {
                let mut e = Vec::with_capacity(FDD_OBJECT_FIXED + 64);
                fdd_header(&mut e, BlockType::FILE, seq, d, fla);
                x.dates.write(&mut e);
                e.put_le(x.attributes.bits());
                e.resize(FDD_OBJECT_FIXED, 0);
                place_strings(&mut e, &[(60, &x.file_name.raw), (64, &os)]);
                self.entries.push(FddEntry {
                    kind: BlockType::FILE,
                    bytes: e,
                    parent: self.current_dir,
                    path: Vec::new(),
                });
            }
            _ => {}
        }
    }

    /// The FDD stream data: every entry with its links, then FEND.
    pub(crate) fn finish(&mut self, st: StringType) -> Vec<u8> {
        let mut offsets = Vec::with_capacity(self.entries.len());
        let mut off = 0usize;
        for e in &self.entries {
            offsets.push(off);
            off += e.bytes.len();
        }
        let sep = encode_str("\0", st);
        let parent_of = |p: &[u8]| -> Vec<u8> {
            // No separator (string type NONE stores no strings): no path to cut.
            if sep.is_empty() {
                return Vec::new();
            }
            // Drop the last component: the path up to the separator before the final one.
            let body = &p[..p.len().saturating_sub(sep.len())];
            let mut cut = 0;
            let mut i = 0;
            while i + sep.len() <= body.len() {
                if body[i..i + sep.len()] == sep[..] {
                    cut = i + sep.len();
                }
                i += sep.len();
            }
            body[..cut].to_vec()
        };
        let n = self.entries.len();
        let entries = &self.entries;
        let links: Vec<i32> = entries
            .iter()
            .enumerate()
            .map(|(i, e)| match e.kind {
                BlockType::VOLB => (i + 1..n)
                    .find(|&j| entries[j].kind == BlockType::VOLB)
                    .map_or(0, |j| offsets[j] as i32),
                BlockType::DIRB => {
                    let mine = parent_of(&e.path);
                    (i + 1..n)
                        .take_while(|&j| entries[j].kind != BlockType::VOLB)
                        .find(|&j| {
                            entries[j].kind == BlockType::DIRB
                                && entries[j].path != e.path
                                && parent_of(&entries[j].path) == mine
                        })
                        .map_or(0, |j| offsets[j] as i32)
                }
                _ => e.parent.map_or(0, |p| offsets[p] as i32),
            })
            .collect();
        let mut out = Vec::with_capacity(off + FDD_HDR_LEN);
        for (e, link) in self.entries.iter().zip(links) {
            let start = out.len();
            out.extend_from_slice(&e.bytes);
            patch_le(&mut out, start + 28, link);
        }
        let mut fend = vec![0u8; FDD_HDR_LEN];
        patch_le(&mut fend, 0, FDD_HDR_LEN as u16);
        fend[2..6].copy_from_slice(b"FEND");
        out.extend_from_slice(&fend);
        out
    }
}

/// The set map stream data for the family so far.
pub(crate) fn set_map(family_id: u32, sets: &[SetRecord], st: StringType) -> Vec<u8> {
    let mut out = Vec::new();
    out.put_le(family_id);
    out.put_le(sets.len() as u16);
    out.extend_from_slice(&[0, 0]);
    for s in sets {
        let mut e = Vec::with_capacity(SM_ENTRY_FIXED + 64);
        e.put_le(0u16);
        e.put_le(s.media_sequence_number);
        e.put_le(0u32);
        e.put_le(s.attributes.bits());
        e.put_le(s.sset_pba);
        e.put_le(s.fdd_pba);
        e.put_le(s.fdd_sequence);
        e.put_le(s.data_set_number);
        e.put_le(0u64); // FLA of the SSET
        e.put_le(s.directories);
        e.put_le(s.files);
        e.put_le(s.corrupt_files);
        e.put_le(s.size);
        e.put_le(s.volumes.len() as u16);
        e.put_le(0u16);
        e.resize(80, 0); // name, password, description, user addresses at 64..80
        e.extend_from_slice(&s.date.0);
        e.push(s.time_zone as u8);
        e.push(OsId::WINDOWS_NT.0);
        e.push(0);
        e.push(st.0);
        e.push(0); // MTF minor version
        e.push(2); // media catalog version (Type 1)
        debug_assert_eq!(e.len(), SM_ENTRY_FIXED);
        let name = encode_str(&s.name, st);
        let desc = encode_str(&s.description, st);
        let user = encode_str(&s.user, st);
        place_strings(&mut e, &[(64, &name), (68, &[]), (72, &desc), (76, &user)]);
        out.extend_from_slice(&e);
        for v in &s.volumes {
            let volb = crate::block::Volb {
                attributes: crate::spec::VolumeAttributes::empty(),
                device_name: crate::text::MtfText::encode(&v.device, st),
                volume_name: crate::text::MtfText::encode(&v.volume, st),
                machine_name: crate::text::MtfText::encode(&v.machine, st),
                media_write_date: s.date,
            };
            let mut d = Dblk::new(BlockType::VOLB, Body::Volb(volb.clone()));
            d.header.string_type = st;
            d.header.os_id = OsId::WINDOWS_NT;
            out.extend_from_slice(&volume_entry(s.media_sequence_number, &d, 1, &volb, &[]));
        }
    }
    out
}
