//! Several media read as one media set, given in any order: the families of a striped set, and the continuation
//! media of each family, put in order and checked.
//!
//! A medium's identity comes from its TAPE block (media family id, media sequence number) and,
//! where present, from the `RAID` stream SQL Server puts on the TAPE block (media set id,
//! family count, family number). Media with the same media set id are families of one set;
//! media without one each form a set of one family. Within a family, media are ordered by their
//! sequence number. Data sets are matched across families and media by their data set number
//! and write date.

use mtf::reader::{Listing, MediaHeader, SetEntry};
use mtf::spec::StreamId;
use mtf::stream::sqlserver::{Guid, Raid};
use std::collections::BTreeMap;

/// Who a medium is: which media set, which family, which medium of the family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediumIdentity {
    /// The media set id (SQL Server's RAID stream), when the medium carries one.
    pub media_set_id: Option<Guid>,
    /// Families in the media set (RAID), when known.
    pub family_count: Option<u16>,
    /// This medium's family, 1-based (RAID), when known.
    pub family_number: Option<u16>,
    /// TAPE media family id.
    pub media_family_id: u32,
    /// TAPE media sequence number (1 = first medium of the family).
    pub media_sequence_number: u16,
    /// Copies of the media set written at once ([`crate::set::MIRROR_STREAM`]), when the
    /// medium says: that many copies of one medium are its mirrors, not a mistake.
    pub mirror_count: Option<u8>,
}

impl MediumIdentity {
    /// Reads the identity off a media header.
    pub fn from_header(h: &MediaHeader) -> Self {
        let t = h.tape();
        let raid = h
            .tape_block()
            .stream_data(StreamId::RAID)
            .and_then(|d| Raid::decode(d).ok());
        MediumIdentity {
            media_set_id: raid.as_ref().map(|r| r.media_set_id),
            family_count: raid.as_ref().map(|r| r.family_count),
            family_number: raid.as_ref().map(|r| r.family_number),
            media_family_id: t.media_family_id,
            media_sequence_number: t.media_sequence_number,
            mirror_count: crate::set::mirror_count_of(h),
        }
    }

    /// The family key within a media set: the RAID family number, else 1.
    pub fn family(&self) -> u16 {
        self.family_number.unwrap_or(1)
    }
}

/// One family of a media set: its media, by sequence number, as indices into the caller's list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FamilyMedia {
    /// Family number.
    pub family_number: u16,
    /// (media sequence number, index of the medium in the caller's list).
    pub media: Vec<(u16, usize)>,
}

/// The families of `1..=count` not in `present`, one problem per run of consecutive missing
/// numbers ("family 3 of 4 missing", "families 2 to 65535 of 65535 missing"). A hostile family
/// count must not turn into tens of thousands of lines that every report then carries.
fn missing_families(present: &[u16], count: u16) -> Vec<String> {
    missing_runs(present, count)
        .into_iter()
        .map(|(from, to)| {
            if from == to {
                format!("family {from} of {count} missing")
            } else {
                format!("families {from} to {to} of {count} missing")
            }
        })
        .collect()
}

/// The numbers 1..=`count` not in `present`, as runs (first, last) in order: bounded by the
/// numbers present, not by `count` (which a hostile medium sets). Numbers outside 1..=`count`
/// in `present` are ignored.
pub(crate) fn missing_runs(present: &[u16], count: u16) -> Vec<(u16, u16)> {
    let mut have: Vec<u16> = present
        .iter()
        .copied()
        .filter(|f| (1..=count).contains(f))
        .collect();
    have.sort_unstable();
    have.dedup();
    let mut runs = Vec::new();
    let mut next = 1u32; // the first number not yet accounted for
    for f in have
        .into_iter()
        .map(u32::from)
        .chain([u32::from(count) + 1])
    {
        if next < f {
            // Both fit: next ≥ 1 and f - 1 ≤ count.
            runs.push((next as u16, (f - 1) as u16));
        }
        next = f + 1;
    }
    runs
}

/// Media grouped into one media set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaSetGroup {
    /// Media set id.
    pub media_set_id: Option<Guid>,
    /// Family count.
    pub family_count: Option<u16>,
    /// Families.
    pub families: Vec<FamilyMedia>,
    /// What is missing or doubled (families, media sequence numbers).
    pub problems: Vec<String>,
}

impl MediaSetGroup {
    /// Every medium index in order: family by family, medium by medium.
    pub fn media_in_order(&self) -> Vec<usize> {
        self.families
            .iter()
            .flat_map(|f| f.media.iter().map(|m| m.1))
            .collect()
    }
}

/// Groups media by media set and family, in the order the caller gave the first medium of
/// each set.
pub fn group_media(ids: &[MediumIdentity]) -> Vec<MediaSetGroup> {
    #[derive(PartialEq, Eq, PartialOrd, Ord, Clone, Copy)]
    enum Key {
        Set(Guid),
        Family(u32),
    }
    let mut order: Vec<Key> = Vec::new();
    // Per set: the family count, the mirror count, and per family its (sequence number, medium
    // index) pairs.
    type Families = BTreeMap<u16, Vec<(u16, usize)>>;
    let mut groups: BTreeMap<Key, (Option<u16>, Option<u8>, Families)> = BTreeMap::new();
    for (i, id) in ids.iter().enumerate() {
        let key = match id.media_set_id {
            Some(g) => Key::Set(g),
            None => Key::Family(id.media_family_id),
        };
        if !order.contains(&key) {
            order.push(key);
        }
        let g = groups.entry(key).or_default();
        if g.0.is_none() {
            g.0 = id.family_count;
        }
        if g.1.is_none() {
            g.1 = id.mirror_count;
        }
        g.2.entry(id.family())
            .or_default()
            .push((id.media_sequence_number, i));
    }
    order
        .into_iter()
        .map(|key| {
            let (count, mirrors, fams) = groups.remove(&key).unwrap_or_default();
            let copies_allowed = usize::from(mirrors.unwrap_or(1).max(1));
            let mut problems = Vec::new();
            let families: Vec<FamilyMedia> = fams
                .into_iter()
                .map(|(family_number, mut media)| {
                    media.sort();
                    // The same medium given more often than the set has copies (mirrors) is
                    // named; every medium is read once (the first one given).
                    for run in media.chunk_by(|a, b| a.0 == b.0) {
                        if run.len() > copies_allowed {
                            let times = match run.len() {
                                2 => "twice".to_string(),
                                n => format!("{n} times"),
                            };
                            let copies = if copies_allowed > 1 {
                                format!(", more than the set's {copies_allowed} copies")
                            } else {
                                String::new()
                            };
                            problems.push(format!(
                                "family {family_number}: medium {} given {times}{copies} (read once)",
                                run[0].0
                            ));
                        }
                    }
                    media.dedup_by_key(|m| m.0);
                    for w in media.windows(2) {
                        if w[1].0 != w[0].0 + 1 {
                            problems.push(format!(
                                "family {family_number}: media {} to {} missing",
                                w[0].0 + 1,
                                w[1].0 - 1
                            ));
                        }
                    }
                    if let Some(first) = media.first() {
                        if first.0 > 1 {
                            problems.push(format!(
                                "family {family_number}: media 1 to {} missing",
                                first.0 - 1
                            ));
                        }
                    }
                    FamilyMedia {
                        family_number,
                        media,
                    }
                })
                .collect();
            if let Some(n) = count {
                let present: Vec<u16> = families.iter().map(|x| x.family_number).collect();
                problems.extend(missing_families(&present, n));
            }
            MediaSetGroup {
                media_set_id: match key {
                    Key::Set(g) => Some(g),
                    Key::Family(_) => None,
                },
                family_count: count,
                families,
                problems,
            }
        })
        .collect()
}

/// One piece of a data set: the set as found on one medium.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetPart {
    /// Index of the medium in the caller's list.
    pub medium: usize,
    /// Family number.
    pub family_number: u16,
    /// Media sequence number (1 for the first medium).
    pub media_sequence_number: u16,
    /// Index of the set in that medium's listing.
    pub set: usize,
}

/// A data set of a media set: its parts on every family and medium.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MergedSet {
    /// 1-based position in the media set.
    pub position: usize,
    /// The SSET data set number.
    pub data_set_number: u16,
    /// Parts.
    pub parts: Vec<SetPart>,
    /// Families that hold a part.
    pub families_present: Vec<u16>,
    /// Some family's last part goes on to a medium that was not given.
    pub continues_on_missing_medium: bool,
    /// Every family is present, each family's parts lie on consecutive media from the medium
    /// the set begins on, and every family's last part closes with an ESET: `problems` is empty.
    pub complete: bool,
    /// Why the set is not complete on the media given, one line each (empty when complete).
    /// This is the one notion of completeness that `sets`, `verify`, `ls` and `extract` share.
    pub problems: Vec<String>,
}

/// Matches the sets of grouped media. `listings[i]` is the listing of medium `i`.
pub fn merge_sets(group: &MediaSetGroup, listings: &[&Listing]) -> Vec<MergedSet> {
    let mut merged: Vec<(u16, [u8; 5], MergedSet)> = Vec::new();
    for fam in &group.families {
        for &(seq, idx) in &fam.media {
            let Some(listing) = listings.get(idx) else {
                continue;
            };
            for (si, set) in listing.sets.iter().enumerate() {
                let key = (set.sset().data_set_number, set.sset().media_write_date.0);
                let part = SetPart {
                    medium: idx,
                    family_number: fam.family_number,
                    media_sequence_number: seq,
                    set: si,
                };
                match merged.iter_mut().find(|m| (m.0, m.1) == key) {
                    Some(m) => m.2.parts.push(part),
                    None => {
                        let position = merged.len() + 1;
                        merged.push((
                            key.0,
                            key.1,
                            MergedSet {
                                position,
                                data_set_number: key.0,
                                parts: vec![part],
                                families_present: Vec::new(),
                                continues_on_missing_medium: false,
                                complete: false,
                                problems: Vec::new(),
                            },
                        ));
                    }
                }
            }
        }
    }
    // Keep the media set's order of first appearance, but put sets in data set number order
    // when every set has a distinct number (the common case).
    let mut out: Vec<MergedSet> = merged.into_iter().map(|m| m.2).collect();
    for m in &mut out {
        let mut fams: Vec<u16> = m.parts.iter().map(|p| p.family_number).collect();
        fams.sort_unstable();
        fams.dedup();
        let mut continues = false;
        let mut problems = Vec::new();
        for &f in &fams {
            let mut parts: Vec<SetPart> = m
                .parts
                .iter()
                .filter(|p| p.family_number == f)
                .copied()
                .collect();
            parts.sort_by_key(|p| p.media_sequence_number);
            if let Some(first) = parts.first() {
                if listings[first.medium].sets[first.set].is_continuation() {
                    problems.push(format!(
                        "family {f}: the set begins on a medium before medium {}, not given",
                        first.media_sequence_number
                    ));
                }
            }
            for w in parts.windows(2) {
                // In u32: a part on medium 65,535 has no next medium in u16 (fuzz finding:
                // two parts there overflowed).
                if u32::from(w[1].media_sequence_number)
                    != u32::from(w[0].media_sequence_number) + 1
                {
                    problems.push(format!(
                        "family {f}: the set goes on from medium {} to medium {}; media between \
                         them were not given",
                        w[0].media_sequence_number, w[1].media_sequence_number
                    ));
                }
            }
            if let Some(p) = parts.last() {
                let set: &SetEntry = &listings[p.medium].sets[p.set];
                if set.continues {
                    continues = true;
                    problems.push(format!(
                        "family {f}: the set continues on medium {}, not given",
                        p.media_sequence_number as u32 + 1
                    ));
                } else if !set.is_complete() {
                    problems.push(format!(
                        "family {f}: the set's last part (medium {}) does not close with an ESET",
                        p.media_sequence_number
                    ));
                }
            }
        }
        if let Some(n) = group.family_count {
            problems.extend(missing_families(&fams, n));
        }
        m.families_present = fams;
        m.continues_on_missing_medium = continues;
        m.complete = problems.is_empty();
        m.problems = problems;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::missing_families;

    #[test]
    fn missing_families_are_named_as_runs() {
        assert!(missing_families(&[1, 2], 2).is_empty());
        assert_eq!(missing_families(&[1], 2), ["family 2 of 2 missing"]);
        assert_eq!(
            missing_families(&[2, 5], 7),
            [
                "family 1 of 7 missing",
                "families 3 to 4 of 7 missing",
                "families 6 to 7 of 7 missing"
            ]
        );
        // A family number beyond the count is not a gap of its own.
        assert_eq!(missing_families(&[9], 2), ["families 1 to 2 of 2 missing"]);
        // A hostile count: one line, not 65,535.
        assert_eq!(
            missing_families(&[1], u16::MAX),
            ["families 2 to 65535 of 65535 missing"]
        );
    }
}
