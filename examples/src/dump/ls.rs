//! `mtfdump ls [--set N]`: volumes, directories and files with size, attributes and dates; for
//! SQL Server sets, the database files (like RESTORE FILELISTONLY) and the raw streams.

use super::sets::build as build_sets;
use super::text::{date_opt, esc, flag_names};
use super::{list_media, write_json, DumpError, DumpResult, Medium, Options, Outcome, SetWalker};
use media::set::group::{MergedSet, SetPart};
use mtf::block::Body;
use mtf::reader::{DamageInfo, Event};
use mtf::spec::{BlockAttributes, StreamId, StringType};
use mtf::sqlserver::SqlSetInfo;
use mtf::text::{decode_str, split_dir_path};
use serde::Serialize;
use std::io::Write;
use std::path::PathBuf;

const DIR_FLAGS: &[(u32, &str)] = &[
    (1 << 8, "read-only"),
    (1 << 9, "hidden"),
    (1 << 10, "system"),
    (1 << 11, "modified"),
    (1 << 16, "empty"),
    (1 << 17, "path-in-stream"),
    (1 << 18, "corrupt"),
];
const FILE_FLAGS: &[(u32, &str)] = &[
    (1 << 8, "read-only"),
    (1 << 9, "hidden"),
    (1 << 10, "system"),
    (1 << 11, "modified"),
    (1 << 16, "in-use"),
    (1 << 17, "name-in-stream"),
    (1 << 18, "corrupt"),
];

/// Win32 file attribute names (the OS data of NT blocks), as `attrib` and `dir /a` know them.
const WIN_FLAGS: &[(u32, &str)] = &[
    (0x1, "readonly"),
    (0x2, "hidden"),
    (0x4, "system"),
    (0x10, "directory"),
    (0x20, "archive"),
    (0x80, "normal"),
    (0x100, "temporary"),
    (0x200, "sparse"),
    (0x400, "reparse-point"),
    (0x800, "compressed"),
    (0x1000, "offline"),
    (0x2000, "not-content-indexed"),
    (0x4000, "encrypted"),
];

/// One line of a listing.
#[derive(Debug, Serialize, Clone)]
pub struct Entry {
    /// `volume`, `dir`, `file`, `corrupt` (a CFIL), or `stream` (a SQL Server data stream).
    pub kind: String,
    /// The volume's device name, or the path (components joined with `/`).
    pub path: String,
    pub size: Option<u64>,
    pub attributes: Option<String>,
    /// The Windows (Win32) attributes from the block's NT OS data, when it has them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub windows_attributes: Option<String>,
    pub modified: Option<String>,
    pub created: Option<String>,
    /// Stream ids of a file, or a SQL Server stream's block.
    pub streams: Vec<String>,
    pub offset: u64,
    pub family: u16,
    pub medium: u16,
    /// Media (sequence numbers) onto which the entry continues: a file cut by the end of a
    /// medium is listed once, where it starts.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub continues_on: Vec<u16>,
}

/// A database file, as FILELISTONLY shows it.
#[derive(Debug, Serialize, Clone)]
pub struct DatabaseFile {
    pub logical_name: Option<String>,
    pub physical_name: Option<String>,
    pub file_type: Option<String>,
    pub filegroup: Option<String>,
    pub size: Option<u64>,
    pub file_id: Option<u32>,
}

/// The listing of one set.
#[derive(Debug, Serialize)]
pub struct SetListing {
    pub position: usize,
    pub name: String,
    pub database_files: Option<Vec<DatabaseFile>>,
    pub entries: Vec<Entry>,
    pub damage: Vec<DamageInfo>,
    /// Why the set is not whole on the media given (missing families or media, media given
    /// twice): the same notion `sets`, `verify` and `extract` use.
    pub problems: Vec<String>,
}

/// The ls report.
#[derive(Debug, Serialize)]
pub struct LsReport {
    pub sets: Vec<SetListing>,
}

fn name_of(raw: &[u8], st: StringType) -> String {
    let mut s = decode_str(raw, st);
    s.truncate(s.trim_end_matches('\0').len());
    s
}

/// What one part of a set (the set on one medium) lists.
struct PartListing {
    entries: Vec<Entry>,
    /// Continuation FILE blocks: (how many of this part's entries came before it, the medium).
    /// Each marks the file listed last before it (on an earlier medium) as continuing there.
    continuations: Vec<(usize, u16)>,
    damage: Vec<DamageInfo>,
}

/// Lists the contents of one merged set.
pub fn list_set(media: &[Medium], m: &MergedSet, opts: &Options) -> DumpResult<SetListing> {
    let mut walker = SetWalker::default();
    let parts = m
        .parts
        .iter()
        .map(|p| list_part(&mut walker, media, p, opts))
        .collect::<DumpResult<Vec<_>>>()?;
    Ok(assemble(media, m, parts))
}

/// The listing of a merged set from the listings of its parts, in the set's order.
fn assemble(media: &[Medium], m: &MergedSet, parts: Vec<PartListing>) -> SetListing {
    let first = m.parts[0];
    let head = &media[first.medium].listing.sets[first.set];
    let st0 = head.sset_block().dblk.header.string_type;
    let mut entries: Vec<Entry> = Vec::new();
    let mut damage = Vec::new();
    // The last file listed so far, which a continuation FILE block marks.
    let mut last_file: Option<usize> = None;
    for part in parts {
        let mut marks = part.continuations.into_iter().peekable();
        for (k, e) in part.entries.into_iter().enumerate() {
            while let Some((_, seq)) = marks.next_if(|&(before, _)| before <= k) {
                if let Some(i) = last_file {
                    entries[i].continues_on.push(seq);
                }
            }
            if e.kind == "file" {
                last_file = Some(entries.len());
            }
            entries.push(e);
        }
        for (_, seq) in marks {
            if let Some(i) = last_file {
                entries[i].continues_on.push(seq);
            }
        }
        damage.extend(part.damage);
    }
    let database_files = SqlSetInfo::has_details(head).then(|| {
        let info = SqlSetInfo::from_set(head);
        let groups = info.mqci.clone().unwrap_or_default();
        info.files()
            .iter()
            .map(|f| DatabaseFile {
                logical_name: f.logical_name.clone(),
                physical_name: f.physical_name.clone(),
                file_type: f.file_type.map(|t| t.letter()),
                filegroup: f.filegroup_id.and_then(|id| {
                    if id == 0 {
                        // Filegroup id 0: the log, which belongs to no filegroup.
                        Some("-".to_owned())
                    } else {
                        groups.filegroup_name(id).map(str::to_owned)
                    }
                }),
                size: f.size,
                file_id: f.file_id,
            })
            .collect()
    });
    SetListing {
        position: m.position,
        name: head.sset().data_set_name.display(st0),
        database_files,
        entries,
        damage,
        problems: Vec::new(),
    }
}

/// Lists one part of a set: walks the set on that medium.
fn list_part(
    walker: &mut SetWalker,
    media: &[Medium],
    p: &SetPart,
    opts: &Options,
) -> DumpResult<PartListing> {
    let mut entries: Vec<Entry> = Vec::new();
    let mut continuations: Vec<(usize, u16)> = Vec::new();
    let mut damage = Vec::new();
    {
        let medium = &media[p.medium];
        let set = &medium.listing.sets[p.set];
        let mut dir: Vec<String> = Vec::new();
        let mut st = StringType::NONE;
        // The entry whose name may come in a PNAM/FNAM stream, and the block of raw streams.
        let mut pending: Option<usize> = None;
        let mut block_name = String::new();
        let mut block_offset = 0u64;
        // The current block repeats one from the previous medium.
        let mut repeated = false;
        walker.walk(&medium.path, &medium.listing, set, opts, |r, ev| {
            match ev {
                Event::Block { offset, dblk } => {
                    st = dblk.header.string_type;
                    pending = None;
                    block_name = dblk.block_type().to_string();
                    block_offset = offset;
                    let h = &dblk.header;
                    let mk = |kind: &str, path: String| Entry {
                        kind: kind.into(),
                        path,
                        size: None,
                        attributes: None,
                        windows_attributes: dblk
                            .os_data
                            .nt_attributes()
                            .map(|a| flag_names(a.bits(), WIN_FLAGS)),
                        modified: None,
                        created: None,
                        streams: Vec::new(),
                        offset,
                        family: p.family_number,
                        medium: p.media_sequence_number,
                        continues_on: Vec::new(),
                    };
                    // A continuation medium repeats the volume, directory and file that were
                    // cut; they are already listed.
                    if h.attributes.contains(BlockAttributes::CONTINUATION) {
                        match &dblk.body {
                            Body::Dirb(d) => dir = d.components(st),
                            Body::File(_) => {
                                continuations.push((entries.len(), p.media_sequence_number));
                            }
                            _ => {}
                        }
                        repeated = true;
                        return Ok(true);
                    }
                    repeated = false;
                    match &dblk.body {
                        Body::Volb(v) => {
                            let mut e = mk("volume", v.device_name.display(st));
                            e.attributes = Some(format!(
                                "volume {:?}, machine {:?}",
                                v.volume_name.display(st),
                                v.machine_name.display(st)
                            ));
                            entries.push(e);
                        }
                        Body::Dirb(d) => {
                            dir = d.components(st);
                            let mut e = mk("dir", dir.join("/"));
                            e.attributes = Some(flag_names(d.attributes.bits(), DIR_FLAGS));
                            e.modified = date_opt(d.dates.last_modification);
                            e.created = date_opt(d.dates.creation);
                            entries.push(e);
                            pending = Some(entries.len() - 1);
                        }
                        Body::File(f) => {
                            let name = f.file_name.display(st);
                            let mut path = dir.clone();
                            path.push(name);
                            let mut e = mk("file", path.join("/"));
                            e.size = Some(h.displayable_size);
                            e.attributes = Some(flag_names(f.attributes.bits(), FILE_FLAGS));
                            e.modified = date_opt(f.dates.last_modification);
                            e.created = date_opt(f.dates.creation);
                            entries.push(e);
                            pending = Some(entries.len() - 1);
                        }
                        Body::Cfil(c) => {
                            let mut e = mk("corrupt", String::new());
                            e.attributes = Some(format!(
                                "stream {} zero-filled from byte {}",
                                c.corrupt_stream_number, c.stream_offset
                            ));
                            entries.push(e);
                        }
                        _ => {}
                    }
                }
                Event::Stream { offset, header } => {
                    let id = header.id;
                    if repeated && id == StreamId::PNAM {
                        // The repeated directory's path, for the files after it.
                        if let Some(data) = r.read_data_to_vec(64 * 1024).map_err(super::mtf_err)? {
                            dir = split_dir_path(&data, st);
                        }
                    }
                    if let Some(i) = pending {
                        let e = &mut entries[i];
                        if id == StreamId::PNAM || id == StreamId::FNAM {
                            if let Some(data) =
                                r.read_data_to_vec(64 * 1024).map_err(super::mtf_err)?
                            {
                                if id == StreamId::PNAM {
                                    dir = split_dir_path(&data, st);
                                    e.path = dir.join("/");
                                } else {
                                    let mut path = dir.clone();
                                    path.push(name_of(&data, st));
                                    e.path = path.join("/");
                                }
                            }
                        }
                        if id != StreamId::SPAD {
                            e.streams.push(format!("{id} {}", header.length));
                        }
                    } else if matches!(id, StreamId::MQDA | StreamId::MQTL) && header.length > 0 {
                        entries.push(Entry {
                            kind: "stream".into(),
                            path: format!("{block_name}@{block_offset}/{id}"),
                            size: Some(header.length),
                            attributes: None,
                            windows_attributes: None,
                            modified: None,
                            created: None,
                            streams: vec![id.to_string()],
                            offset,
                            family: p.family_number,
                            medium: p.media_sequence_number,
                            continues_on: Vec::new(),
                        });
                    }
                }
                Event::Damage(d) => damage.push(DamageInfo::from(&d)),
                Event::Filemark { .. } | Event::StreamCut { .. } => {}
            }
            Ok(true)
        })?;
    }
    Ok(PartListing {
        entries,
        continuations,
        damage,
    })
}

/// `mtfdump ls`.
pub fn run(
    paths: &[PathBuf],
    set: Option<usize>,
    opts: &Options,
    out: &mut dyn Write,
) -> DumpResult<Outcome> {
    super::refuse_streams(paths, "ls")?;
    let media = list_media(paths, opts)?;
    let rep = report(&media, set, opts)?;
    if opts.json {
        write_json(out, &rep)?;
    } else {
        print(&rep, out)?;
    }
    Ok(
        if rep
            .sets
            .iter()
            .any(|s| !s.damage.is_empty() || !s.problems.is_empty())
        {
            Outcome::Problems
        } else {
            Outcome::Ok
        },
    )
}

/// Builds the report for all sets, or set `set` (1-based position) of the first media set.
pub fn report(media: &[Medium], set: Option<usize>, opts: &Options) -> DumpResult<LsReport> {
    let _ = build_sets;
    let ids: Vec<_> = media
        .iter()
        .map(|m| media::set::group::MediumIdentity::from_header(&m.listing.header))
        .collect();
    let groups = media::set::group::group_media(&ids);
    let listings: Vec<&mtf::reader::Listing> = media.iter().map(|m| &m.listing).collect();
    let mut wanted: Vec<(usize, MergedSet)> = Vec::new();
    for (gi, g) in groups.iter().enumerate() {
        for m in media::set::group::merge_sets(g, &listings) {
            if set.is_none_or(|n| n == m.position) {
                wanted.push((gi, m));
            }
        }
        if set.is_some() {
            break;
        }
    }
    // Every part is walked in the order of the media and of the sets on each, whatever the
    // order of the sets in the report: a medium that cannot seek is then read once, not once
    // per set (hundreds of sets fit in a small hostile `.tap` image).
    let mut order: Vec<(usize, usize)> = wanted
        .iter()
        .enumerate()
        .flat_map(|(i, (_, m))| (0..m.parts.len()).map(move |k| (i, k)))
        .collect();
    order.sort_by_key(|&(i, k)| {
        let p = &wanted[i].1.parts[k];
        (p.medium, p.set)
    });
    let mut parts: Vec<Vec<Option<PartListing>>> = wanted
        .iter()
        .map(|(_, m)| m.parts.iter().map(|_| None).collect())
        .collect();
    let mut walker = SetWalker::default();
    for (i, k) in order {
        parts[i][k] = Some(list_part(&mut walker, media, &wanted[i].1.parts[k], opts)?);
    }
    let mut sets = Vec::new();
    for ((gi, m), listed) in wanted.iter().zip(parts) {
        let mut l = assemble(media, m, listed.into_iter().flatten().collect());
        let mut seen: std::collections::HashSet<String> = l.problems.iter().cloned().collect();
        for p in groups[*gi].problems.iter().chain(&m.problems) {
            if seen.insert(p.clone()) {
                l.problems.push(p.clone());
            }
        }
        sets.push(l);
    }
    if let Some(n) = set {
        if sets.is_empty() {
            return Err(DumpError(format!("there is no set {n}")));
        }
    }
    Ok(LsReport { sets })
}

fn print(rep: &LsReport, out: &mut dyn Write) -> DumpResult<()> {
    for s in &rep.sets {
        writeln!(out, "set {} \"{}\"", s.position, esc(&s.name))?;
        for p in &s.problems {
            writeln!(out, "  WARNING: not whole on the media given: {}", esc(p))?;
        }
        if let Some(files) = &s.database_files {
            writeln!(out, "  database files:")?;
            if files.is_empty() {
                writeln!(out, "    unknown (the set's MQCI could not be decoded)")?;
            }
            for f in files {
                let u = |v: &Option<String>| {
                    v.as_deref()
                        .map_or("unknown".into(), |s| esc(s).into_owned())
                };
                writeln!(
                    out,
                    "    {} {:>2} {:<24} {:>12} {:<8} {}",
                    u(&f.file_type),
                    f.file_id.map_or("?".into(), |x| x.to_string()),
                    u(&f.logical_name),
                    f.size.map_or("unknown".into(), |x| x.to_string()),
                    u(&f.filegroup),
                    u(&f.physical_name)
                )?;
            }
        }
        for e in &s.entries {
            let size = e.size.map_or(String::new(), |x| x.to_string());
            match e.kind.as_str() {
                "volume" => writeln!(
                    out,
                    "  volume {} ({}) [family {} medium {}]",
                    esc(&e.path),
                    esc(e.attributes.as_deref().unwrap_or_default()),
                    e.family,
                    e.medium
                )?,
                "stream" => writeln!(
                    out,
                    "  stream {:>12} {} at offset {} [family {}]",
                    size,
                    esc(&e.path),
                    e.offset,
                    e.family
                )?,
                "corrupt" => writeln!(
                    out,
                    "  corrupt: {}",
                    esc(e.attributes.as_deref().unwrap_or_default())
                )?,
                kind => writeln!(
                    out,
                    "  {} {:>12} {:<19} {:<10} {}{}{}{}",
                    if kind == "dir" { "d" } else { "f" },
                    size,
                    e.modified.clone().unwrap_or_else(|| "unknown".into()),
                    esc(&match &e.windows_attributes {
                        Some(w) =>
                            format!("{} win:{w}", e.attributes.as_deref().unwrap_or_default()),
                        None => e.attributes.clone().unwrap_or_default(),
                    }),
                    esc(&e.path),
                    if kind == "dir" { "/" } else { "" },
                    if e.streams.is_empty() {
                        String::new()
                    } else {
                        format!(" [{}]", e.streams.join(", "))
                    },
                    if e.continues_on.is_empty() {
                        String::new()
                    } else {
                        let media: Vec<String> =
                            e.continues_on.iter().map(|m| m.to_string()).collect();
                        format!(" (continues on medium {})", media.join(", "))
                    }
                )?,
            }
        }
        for d in &s.damage {
            writeln!(
                out,
                "  damaged: {} bytes at offset {}: {}",
                d.len,
                d.offset,
                esc(&d.reason)
            )?;
        }
    }
    Ok(())
}
