//! The media-set model and how it sits on the media.
//!
//! - A **media set** ([`MediaSet`]) has an id (a GUID), a name, a description, a family count and
//!   a mirror count. Only formatting creates one; it is then written with as many devices as it
//!   has families.
//! - A **media family** is what one device writes: its family number (1-based) and its media in
//!   sequence (1 = the initial medium, 2 and up = continuation media).
//! - Every medium carries its identity ([`MediumLabel`]) on its TAPE block the way SQL Server
//!   does: media set id, family count and family number in a `RAID` stream (the layout of
//!   `mtf::stream::sqlserver::Raid`, so SQL Server's striped media and ours read alike), the media
//!   sequence number in the TAPE block, and a media password as an MD5 digest in the TAPE
//!   block's password field with algorithm 5 (as SQL Server's `MEDIAPASSWORD` sample has it).
//! - The mirror count goes in a small stream of our own after the RAID stream on TAPE
//!   ([`MIRROR_STREAM`]): every copy of a medium says how many copies the set has, so a restart
//!   or a verify knows how many to look for.
//! - A backup set's expiry (EXPIREDATE / RETAINDAYS) goes in a small stream on its SSET
//!   ([`EXPIRY_STREAM`]), where other MTF readers skip it.
//!
//! [`inspect`] reads all of that back off a mounted medium, for the safety decision and for
//! reading.

pub mod group;
pub mod password;
pub mod stamp;

use crate::device::{Device, TapeSource};
use mtf::block::Body;
use mtf::reader::{Event, Mode, Reader};
use mtf::spec::{BlockAttributes, BlockType, StreamId};
pub use mtf::stream::sqlserver::Guid;
use mtf::stream::sqlserver::Raid;
pub use password::MediaPassword;
use tape_sys::ReadResult;

/// The SSET stream that holds a backup set's expiry: 8 bytes, seconds since the Unix epoch
/// (UTC), little-endian signed. Not an MTF stream; readers that do not know it skip it.
pub const EXPIRY_STREAM: StreamId = StreamId(*b"MXPR");

/// The TAPE stream that holds the media set's mirror count (copies written at once, 1 to 4):
/// 2 bytes, little-endian. Not an MTF stream; readers that do not know it skip it.
pub const MIRROR_STREAM: StreamId = StreamId(*b"MMIR");

/// The mirror count a [`MIRROR_STREAM`]'s data holds, if it is one (1 to 4).
pub fn decode_mirror_count(data: &[u8]) -> Option<u8> {
    let b = <[u8; 2]>::try_from(data).ok()?;
    u8::try_from(u16::from_le_bytes(b))
        .ok()
        .filter(|n| (1..=MediaSet::MAX_MIRRORS).contains(n))
}

/// The mirror count a media header read by `mtf` carries ([`MIRROR_STREAM`] on its TAPE
/// block), if any.
pub fn mirror_count_of(header: &mtf::reader::MediaHeader) -> Option<u8> {
    header
        .tape_block()
        .stream_data(MIRROR_STREAM)
        .and_then(decode_mirror_count)
}

/// A media set as the writer creates it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaSet {
    pub id: Guid,
    pub name: String,
    pub description: String,
    /// Families (devices written at once), 1 to 64.
    pub family_count: u16,
    /// Copies of the whole set written at once: 1 (no mirror) to 4.
    pub mirror_count: u8,
    pub password: Option<MediaPassword>,
}

impl MediaSet {
    /// Most families a set may have (SQL Server's device limit).
    pub const MAX_FAMILIES: u16 = 64;
    /// Most copies of a set (SQL Server's `TO` plus three `MIRROR TO`).
    pub const MAX_MIRRORS: u8 = 4;

    /// A new media set with a fresh random id.
    pub fn new(name: &str, family_count: u16) -> MediaSet {
        MediaSet {
            id: new_guid(),
            name: name.to_owned(),
            description: String::new(),
            family_count,
            mirror_count: 1,
            password: None,
        }
    }

    /// Checks the counts.
    pub fn check(&self) -> Result<(), String> {
        if !(1..=Self::MAX_FAMILIES).contains(&self.family_count) {
            return Err(format!(
                "a media set has 1 to {} families, not {}",
                Self::MAX_FAMILIES,
                self.family_count
            ));
        }
        if !(1..=Self::MAX_MIRRORS).contains(&self.mirror_count) {
            return Err(format!(
                "a media set has 1 to {} copies, not {}",
                Self::MAX_MIRRORS,
                self.mirror_count
            ));
        }
        Ok(())
    }

    /// The RAID stream payload of family `family_number`.
    pub fn raid(&self, family_number: u16) -> Raid {
        Raid::new(self.id, self.family_count, family_number)
    }
}

/// A version-4 (random) GUID in Windows byte order.
pub fn new_guid() -> Guid {
    let mut b = [0u8; 16];
    if getrandom::fill(&mut b).is_err() {
        // No entropy source: the time and process id still make a set id unlikely to repeat.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        b[..16].copy_from_slice(&(t ^ ((std::process::id() as u128) << 64)).to_le_bytes());
    }
    b[7] = (b[7] & 0x0f) | 0x40; // version 4 (Data3's high nibble, stored little-endian)
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
    Guid(b)
}

/// Who a medium is, as its TAPE block and RAID stream say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediumLabel {
    /// From the RAID stream; `None` on media written without one (NTBackup, older writers).
    pub media_set_id: Option<Guid>,
    pub family_count: Option<u16>,
    pub family_number: Option<u16>,
    /// Copies of the media set written at once ([`MIRROR_STREAM`]); `None` on media written
    /// without it (SQL Server's, NTBackup's).
    pub mirror_count: Option<u8>,
    pub media_family_id: u32,
    /// 1 = first medium of the family.
    pub media_sequence_number: u16,
    pub name: String,
    pub description: String,
    pub software_name: String,
    /// The TAPE block's password field: (algorithm, bytes), when set.
    pub password: Option<(u16, Vec<u8>)>,
    /// Physical block size recorded in the TAPE block.
    pub block_size: usize,
    /// When the medium was labelled (the TAPE media date, as Unix seconds), if valid.
    pub written: Option<i64>,
}

impl MediumLabel {
    /// The family this medium belongs to (1 when the medium names none).
    pub fn family(&self) -> u16 {
        self.family_number.unwrap_or(1)
    }

    /// "family 2, medium 3 of media set ..." for messages.
    pub fn describe(&self) -> String {
        match self.media_set_id {
            Some(id) => format!(
                "media set {id} ({:?}), family {} of {}, medium {}",
                self.name,
                self.family(),
                self.family_count.unwrap_or(1),
                self.media_sequence_number
            ),
            None => format!(
                "media family {:#010x} ({:?}), medium {}",
                self.media_family_id, self.name, self.media_sequence_number
            ),
        }
    }
}

/// A backup set's part on one medium.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetOnMedium {
    /// 1-based order of the set on this medium, foreign sets counted.
    pub position: usize,
    pub data_set_number: u16,
    pub name: String,
    /// When the set may be overwritten (Unix seconds), if it says.
    pub expires: Option<i64>,
    /// This part continues a set begun on an earlier medium.
    pub continued_from_earlier: bool,
    /// The set closes (ESET) on this medium.
    pub closed: bool,
}

/// What a mounted medium holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MediumContents {
    /// Nothing recorded.
    Empty,
    /// Data that is not an MTF media header (another format, or a header that does not parse).
    Foreign { reason: String },
    /// An MTF medium.
    Mtf {
        label: MediumLabel,
        sets: Vec<SetOnMedium>,
        /// The family continues on the next medium (EOTM): this is not its last medium.
        continues: bool,
        /// Damage found after the header (the sets may be incomplete).
        damage: Option<String>,
    },
}

/// A mounted medium as the safety decision sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inspection {
    pub write_protected: bool,
    pub contents: MediumContents,
}

impl Inspection {
    /// The label, for an MTF medium.
    pub fn label(&self) -> Option<&MediumLabel> {
        match &self.contents {
            MediumContents::Mtf { label, .. } => Some(label),
            _ => None,
        }
    }
}

/// Reads a medium from its start: its label, its sets and their expiry, whether it ends the
/// family. Reads only; leaves the tape rewound.
pub fn inspect(device: &mut Device) -> Inspection {
    let write_protected = device.status().map(|s| s.write_protected).unwrap_or(false);
    let contents = read_contents(device, false);
    let _ = device.rewind();
    Inspection {
        write_protected,
        contents,
    }
}

/// Reads only a medium's label (its first file), for a quick look (a library's inventory, a
/// restore checking that the right medium is mounted). Leaves the tape rewound.
pub fn read_label(device: &mut Device) -> Result<MediumLabel, String> {
    let contents = read_contents(device, true);
    let _ = device.rewind();
    match contents {
        MediumContents::Mtf { label, .. } => Ok(label),
        MediumContents::Empty => Err("the medium is empty".into()),
        MediumContents::Foreign { reason } => Err(reason),
    }
}

/// Lists the backup sets of a mounted medium from its on-media catalog (the set map at the
/// last set's end, reached by spacing over filemarks) instead of reading the whole tape, as
/// `mtf::reader::list_sets` does; falls back to a scan and says so in the listing's notes.
/// Leaves the tape rewound.
pub fn list_sets(device: &mut Device) -> Result<mtf::reader::Listing, String> {
    device.rewind().map_err(|e| e.to_string())?;
    let listing = mtf::reader::list_sets(Reader::new(TapeSource {
        device: device.as_mut(),
    }))
    .map_err(|e| e.to_string());
    let _ = device.rewind();
    listing
}

/// Reads the label off any block source from its start (a `.bak` file through
/// [`mtf::reader::FileSource`], a pipe): SQL Server's media read through the same code as
/// ours.
pub fn label_of<S: mtf::reader::BlockSource>(src: S) -> Result<MediumLabel, String> {
    let mut reader = Reader::with_mode(src, Mode::Strict);
    match scan(&mut reader, true) {
        MediumContents::Mtf { label, .. } => Ok(label),
        MediumContents::Empty => Err("the medium is empty".into()),
        MediumContents::Foreign { reason } => Err(reason),
    }
}

/// What is wrong with a list of media offered as one media set, in any order: families
/// missing, media of a family missing or given twice, media of other sets, and the order
/// (a family's media given out of sequence). Empty when the list is a whole media set.
pub fn check_media_list(labels: &[MediumLabel]) -> Vec<String> {
    use group::{group_media, MediumIdentity};
    let ids: Vec<MediumIdentity> = labels
        .iter()
        .map(|l| MediumIdentity {
            media_set_id: l.media_set_id,
            family_count: l.family_count,
            family_number: l.family_number,
            media_family_id: l.media_family_id,
            media_sequence_number: l.media_sequence_number,
            mirror_count: l.mirror_count,
        })
        .collect();
    let groups = group_media(&ids);
    let mut problems: Vec<String> = Vec::new();
    if groups.len() > 1 {
        problems.push(format!(
            "the media belong to {} media sets, not one",
            groups.len()
        ));
    }
    for g in &groups {
        problems.extend(g.problems.iter().cloned());
        for f in &g.families {
            // The caller's order against the sequence numbers.
            let given: Vec<u16> = {
                let mut v: Vec<(usize, u16)> = f.media.iter().map(|&(s, i)| (i, s)).collect();
                v.sort_unstable();
                // A medium given twice is named as such, not as out of order.
                let mut seen = std::collections::HashSet::new();
                v.into_iter()
                    .map(|x| x.1)
                    .filter(|s| seen.insert(*s))
                    .collect()
            };
            if given.windows(2).any(|w| w[0] > w[1]) {
                problems.push(format!(
                    "family {}: media given out of order ({}); read in sequence",
                    f.family_number,
                    given
                        .iter()
                        .map(|s| s.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
    }
    problems
}

fn read_contents(device: &mut Device, header_only: bool) -> MediumContents {
    if let Err(e) = device.rewind() {
        return MediumContents::Foreign {
            reason: format!("cannot rewind: {e}"),
        };
    }
    let mut probe = vec![0u8; 1 << 20];
    match device.read_block(&mut probe) {
        Ok(ReadResult::EndOfData) => return MediumContents::Empty,
        Ok(ReadResult::Filemark) => {
            return MediumContents::Foreign {
                reason: "the medium starts with a filemark, not an MTF media header".into(),
            }
        }
        Ok(ReadResult::Data(_)) => {}
        Err(e) => {
            return MediumContents::Foreign {
                reason: format!("the first block cannot be read: {e}"),
            }
        }
    }
    drop(probe);
    if let Err(e) = device.rewind() {
        return MediumContents::Foreign {
            reason: format!("cannot rewind: {e}"),
        };
    }
    let mut reader = Reader::with_mode(
        TapeSource {
            device: device.as_mut(),
        },
        Mode::Strict,
    );
    scan(&mut reader, header_only)
}

/// One pass over a medium's events.
fn scan<S: mtf::reader::BlockSource>(reader: &mut Reader<S>, header_only: bool) -> MediumContents {
    let mut label: Option<MediumLabel> = None;
    let mut st = mtf::spec::StringType::UNICODE;
    let mut sets: Vec<SetOnMedium> = Vec::new();
    let mut continues = false;
    let mut damage = None;
    // Which block the streams that follow belong to.
    let mut in_block: Option<BlockType> = None;
    loop {
        let ev = match reader.next_event() {
            Ok(Some(ev)) => ev,
            Ok(None) => break,
            Err(e) => {
                if label.is_none() {
                    return MediumContents::Foreign {
                        reason: format!("not an MTF media header: {e}"),
                    };
                }
                damage = Some(e.to_string());
                break;
            }
        };
        match ev {
            Event::Block { dblk, .. } => {
                in_block = Some(dblk.block_type());
                if dblk.header.string_type.0 != 0 {
                    st = dblk.header.string_type;
                }
                let cont = dblk
                    .header
                    .attributes
                    .contains(BlockAttributes::CONTINUATION);
                match &dblk.body {
                    Body::Tape(t) if label.is_none() => {
                        let password = (!t.media_password.is_empty()
                            || t.password_encryption_algorithm != 0)
                            .then(|| {
                                (
                                    t.password_encryption_algorithm,
                                    t.media_password.raw.clone(),
                                )
                            });
                        label = Some(MediumLabel {
                            media_set_id: None,
                            family_count: None,
                            family_number: None,
                            mirror_count: None,
                            media_family_id: t.media_family_id,
                            media_sequence_number: t.media_sequence_number,
                            name: t.media_name.display(st),
                            description: t.media_description.display(st),
                            software_name: t.software_name.display(st),
                            password,
                            block_size: t.soft_filemark_bytes(),
                            written: t.media_date.to_datetime().map(|d| d.to_unix()),
                        });
                    }
                    _ if label.is_none() => {
                        return MediumContents::Foreign {
                            reason: format!(
                                "the first block is {}, not an MTF media header (TAPE)",
                                dblk.block_type()
                            ),
                        }
                    }
                    Body::Sset(s) => {
                        if cont && sets.iter().any(|x| x.data_set_number == s.data_set_number) {
                            continue;
                        }
                        sets.push(SetOnMedium {
                            position: sets.len() + 1,
                            data_set_number: s.data_set_number,
                            name: s.data_set_name.display(st),
                            expires: None,
                            continued_from_earlier: cont,
                            closed: false,
                        });
                    }
                    Body::Eset(_) => {
                        if let Some(s) = sets.last_mut() {
                            s.closed = true;
                        }
                    }
                    Body::Eotm(_) => continues = true,
                    _ => {}
                }
            }
            Event::Stream { header, .. } => {
                let wanted = (in_block == Some(BlockType::TAPE)
                    && (header.id == StreamId::RAID || header.id == MIRROR_STREAM))
                    || (in_block == Some(BlockType::SSET) && header.id == EXPIRY_STREAM);
                if !wanted {
                    continue;
                }
                let data = match reader.read_data_to_vec(4096) {
                    Ok(Some(d)) => d,
                    _ => continue,
                };
                if header.id == StreamId::RAID {
                    if let (Some(l), Ok(r)) = (label.as_mut(), Raid::decode(&data)) {
                        if r.check().is_ok() {
                            l.media_set_id = Some(r.media_set_id);
                            l.family_count = Some(r.family_count);
                            l.family_number = Some(r.family_number);
                        }
                    }
                } else if header.id == MIRROR_STREAM {
                    if let Some(l) = label.as_mut() {
                        l.mirror_count = decode_mirror_count(&data);
                    }
                } else if let (Some(s), Ok(b)) = (sets.last_mut(), <[u8; 8]>::try_from(&data[..])) {
                    s.expires = Some(i64::from_le_bytes(b));
                }
            }
            Event::Damage(d) => {
                damage = Some(d.reason.to_string());
                break;
            }
            Event::Filemark { .. } if header_only => break,
            Event::Filemark { .. } | Event::StreamCut { .. } => {}
        }
    }
    match label {
        Some(label) => MediumContents::Mtf {
            label,
            sets,
            continues,
            damage,
        },
        None => MediumContents::Foreign {
            reason: damage.unwrap_or_else(|| "no MTF media header".into()),
        },
    }
}
