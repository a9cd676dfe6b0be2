//! `mtfdump sets`: one row per data set, like RESTORE HEADERONLY, foreign sets included.

use super::text::{date_opt, operation, or_unknown, yes_no};
use super::{list_media, write_json, DumpResult, Medium, Options, Outcome};
use media::set::group::{group_media, merge_sets, MediumIdentity, MergedSet};
use mtf::reader::{DamageInfo, SetEntry};
use mtf::spec::BlockAttributes;
use mtf::sqlserver::SqlSetInfo;
use serde::Serialize;
use std::io::Write;
use std::path::PathBuf;

/// Where a part of a set is.
#[derive(Debug, Serialize, Clone)]
pub struct PartRow {
    pub file: String,
    pub family: u16,
    pub medium: u16,
    pub offset: u64,
    pub bytes_on_medium: Option<u64>,
    pub complete: bool,
    pub continues_on_next_medium: bool,
    pub continued_from_previous_medium: bool,
}

/// SQL Server details of a set (each field as decoded; absent = unknown).
#[derive(Debug, Serialize, Clone, Default)]
pub struct SqlDetails {
    pub backup_set_guid: Option<String>,
    pub details_from: Option<String>,
    pub first_lsn: Option<String>,
    pub last_lsn: Option<String>,
    pub checkpoint_lsn: Option<String>,
    pub database_backup_lsn: Option<String>,
    pub differential_base_lsn: Option<String>,
    pub differential_base_guid: Option<String>,
    pub database_version: Option<u16>,
    pub compatibility_level: Option<u8>,
    pub has_backup_checksums: Option<bool>,
    pub collation_lcid: Option<u32>,
    pub collation_sort_id: Option<u8>,
    pub unicode_locale_id: Option<u32>,
    pub mqci_error: Option<String>,
}

/// What the set map (TSMP) says about a set, when the sets were listed from it.
#[derive(Debug, Serialize, Clone)]
pub struct SetMapRow {
    pub directories: u32,
    pub files: u32,
    pub corrupt_files: u32,
    /// The data set's displayable size (this project's writer: the sum of the file sizes;
    /// SQL Server: the backup size).
    pub displayable_size: u64,
}

/// One data set.
#[derive(Debug, Serialize, Clone)]
pub struct SetRow {
    pub position: usize,
    pub data_set_number: u16,
    pub name: String,
    pub description: String,
    /// SQL Server's backup type where decoded, else the MTF operation.
    pub backup_type: String,
    pub mtf_operation: String,
    pub start_date: Option<String>,
    pub finish_date: Option<String>,
    pub software_vendor_id: u16,
    pub software_version: String,
    pub user: String,
    pub machine: Option<String>,
    pub server: Option<String>,
    pub database: Option<String>,
    /// SQL Server's BackupSize, where decoded.
    pub backup_size: Option<u64>,
    /// Bytes the set occupies on the given media.
    pub bytes_on_media: u64,
    pub compressed: bool,
    pub encrypted: bool,
    /// The data set has a password (SSET).
    pub password_protected: bool,
    /// The medium it is on has a media password (TAPE), as `label` says.
    pub media_password_protected: bool,
    pub continued_from_previous_medium: bool,
    pub continues_on_missing_medium: bool,
    pub complete: bool,
    /// Why it is not complete on the media given (the one notion every command uses).
    pub problems: Vec<String>,
    pub families_present: Vec<u16>,
    pub family_count: Option<u16>,
    pub parts: Vec<PartRow>,
    pub sql: Option<SqlDetails>,
    /// The set map's figures, when the sets were listed from it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set_map: Option<SetMapRow>,
}

/// What was read of each medium.
#[derive(Debug, Serialize)]
pub struct MediumSummary {
    pub file: String,
    pub method: String,
    pub bytes_read: u64,
    /// Physical blocks read, for a tape.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocks_read: Option<u64>,
    pub total_len: Option<u64>,
    pub filemarks: usize,
    pub eotm: Option<u64>,
    pub damage: Vec<DamageInfo>,
    pub notes: Vec<String>,
}

/// A media set and its data sets.
#[derive(Debug, Serialize)]
pub struct MediaSetRows {
    pub media_set_id: Option<String>,
    pub family_count: Option<u16>,
    pub problems: Vec<String>,
    pub sets: Vec<SetRow>,
}

/// The sets report.
#[derive(Debug, Serialize)]
pub struct SetsReport {
    pub media: Vec<MediumSummary>,
    pub media_sets: Vec<MediaSetRows>,
}

impl SetsReport {
    /// Whether anything is wrong: damage, a missing family or medium, an incomplete set.
    pub fn has_problems(&self) -> bool {
        self.media.iter().any(|m| !m.damage.is_empty())
            || self
                .media_sets
                .iter()
                .any(|g| !g.problems.is_empty() || g.sets.iter().any(|s| !s.complete))
    }
}

fn lsn(v: Option<mtf::sqlserver::Lsn>) -> Option<String> {
    v.map(|l| l.to_string())
}

/// The SQL Server details of a set.
pub fn sql_details(info: &SqlSetInfo) -> SqlDetails {
    let scin = info.scin();
    SqlDetails {
        backup_set_guid: info.backup_set_guid.map(|g| g.to_string()),
        details_from: info.mqci_source.map(|s| format!("{s:?}").to_uppercase()),
        first_lsn: lsn(scin.and_then(|s| s.first_lsn)),
        last_lsn: lsn(scin.and_then(|s| s.last_lsn)),
        checkpoint_lsn: lsn(scin.and_then(|s| s.checkpoint_lsn)),
        database_backup_lsn: lsn(scin.and_then(|s| s.database_backup_lsn)),
        differential_base_lsn: lsn(scin.and_then(|s| s.differential_base_lsn)),
        differential_base_guid: scin
            .and_then(|s| s.differential_base_guid)
            .map(|g| g.to_string()),
        database_version: scin.and_then(|s| s.database_version),
        compatibility_level: scin.and_then(|s| s.compatibility_level),
        has_backup_checksums: scin.and_then(|s| s.has_checksums),
        collation_lcid: scin.and_then(|s| s.collation_lcid),
        collation_sort_id: scin.and_then(|s| s.collation_sort_id),
        unicode_locale_id: scin.and_then(|s| s.unicode_locale_id),
        mqci_error: info.mqci_error.clone(),
    }
}

/// One row for a merged set.
pub fn set_row(media: &[Medium], m: &MergedSet, family_count: Option<u16>) -> SetRow {
    let first = m.parts[0];
    let set: &SetEntry = &media[first.medium].listing.sets[first.set];
    let sset = set.sset();
    let st = set.sset_block().dblk.header.string_type;
    let volb_st = set
        .blocks
        .iter()
        .find(|b| b.block_type() == mtf::BlockType::VOLB)
        .map(|b| b.dblk.header.string_type)
        .unwrap_or(st);
    let is_sql = SqlSetInfo::has_details(set);
    let info = is_sql.then(|| SqlSetInfo::from_set(set));
    let scin = info.as_ref().and_then(|i| i.scin());
    let attrs = set.sset_block().dblk.header.attributes;
    let parts: Vec<PartRow> = m
        .parts
        .iter()
        .map(|p| {
            let s = &media[p.medium].listing.sets[p.set];
            PartRow {
                file: media[p.medium].name.clone(),
                family: p.family_number,
                medium: p.media_sequence_number,
                offset: s.offset(),
                bytes_on_medium: s.size_on_medium(),
                complete: s.is_complete(),
                continues_on_next_medium: s.continues,
                continued_from_previous_medium: s.is_continuation(),
            }
        })
        .collect();
    let version = match scin.and_then(|s| s.version_string()) {
        Some(v) => v,
        None => format!(
            "{}.{}",
            sset.software_major_version, sset.software_minor_version
        ),
    };
    SetRow {
        position: m.position,
        data_set_number: m.data_set_number,
        name: sset.data_set_name.display(st),
        description: sset.data_set_description.display(st),
        backup_type: match scin.and_then(|s| s.backup_type) {
            Some(t) => t.description(),
            None if is_sql => "unknown".into(),
            None => operation(sset.attributes),
        },
        mtf_operation: operation(sset.attributes),
        start_date: date_opt(sset.media_write_date),
        finish_date: scin
            .and_then(|s| s.backup_finish)
            .or_else(|| {
                // Else the ESET where the set ends.
                let last = m.parts.last()?;
                media[last.medium].listing.sets[last.set]
                    .eset()
                    .map(|e| e.media_write_date)
            })
            .and_then(date_opt),
        software_vendor_id: sset.software_vendor_id,
        software_version: version,
        user: sset.user_name.display(st),
        machine: set.volb().map(|v| v.machine_name.display(volb_st)),
        server: scin.and_then(|s| s.server_name.clone()),
        database: scin.and_then(|s| s.database_name.clone()),
        backup_size: scin.and_then(|s| s.backup_size),
        bytes_on_media: parts.iter().filter_map(|p| p.bytes_on_medium).sum(),
        compressed: sset.software_compression_algorithm != 0
            || attrs.contains(BlockAttributes::COMPRESSION),
        encrypted: attrs.contains(BlockAttributes::SSET_ENCRYPTION),
        password_protected: sset.password_encryption_algorithm != 0
            || !sset.data_set_password.is_empty(),
        media_password_protected: super::label::media_password_protected(
            media[first.medium].listing.header.tape(),
        ),
        continued_from_previous_medium: parts.iter().any(|p| p.continued_from_previous_medium),
        continues_on_missing_medium: m.continues_on_missing_medium,
        complete: m.complete,
        problems: m.problems.clone(),
        families_present: m.families_present.clone(),
        family_count,
        parts,
        sql: info.as_ref().map(sql_details),
        set_map: set.set_map.as_ref().map(|e| SetMapRow {
            directories: e.number_of_directories,
            files: e.number_of_files,
            corrupt_files: e.number_of_corrupt_files,
            displayable_size: e.data_set_displayable_size,
        }),
    }
}

/// Lists and groups the media, and builds the rows.
pub fn build(media: &[Medium]) -> SetsReport {
    let ids: Vec<MediumIdentity> = media
        .iter()
        .map(|m| MediumIdentity::from_header(&m.listing.header))
        .collect();
    let groups = group_media(&ids);
    let listings: Vec<&mtf::reader::Listing> = media.iter().map(|m| &m.listing).collect();
    let media_sets = groups
        .iter()
        .map(|g| {
            let merged = merge_sets(g, &listings);
            MediaSetRows {
                media_set_id: g.media_set_id.map(|x| x.to_string()),
                family_count: g.family_count,
                problems: g.problems.clone(),
                sets: merged
                    .iter()
                    .map(|m| set_row(media, m, g.family_count))
                    .collect(),
            }
        })
        .collect();
    SetsReport {
        media: media
            .iter()
            .map(|m| MediumSummary {
                file: m.name.clone(),
                method: m.listing.method.name().to_string(),
                bytes_read: m.listing.bytes_read,
                blocks_read: super::is_tape(&m.path).then_some(m.listing.reads),
                total_len: m.listing.total_len,
                filemarks: m.listing.filemarks.len(),
                eotm: m.listing.eotm,
                damage: m
                    .listing
                    .damage
                    .iter()
                    .cloned()
                    .chain(m.listing.sets.iter().flat_map(|s| s.damage.iter().cloned()))
                    .collect(),
                notes: m.listing.notes.clone(),
            })
            .collect(),
        media_sets,
    }
}

/// `mtfdump sets`.
pub fn run(paths: &[PathBuf], opts: &Options, out: &mut dyn Write) -> DumpResult<Outcome> {
    let media = list_media(paths, opts)?;
    let rep = build(&media);
    if opts.json {
        write_json(out, &rep)?;
    } else {
        print(&rep, out)?;
    }
    Ok(if rep.has_problems() {
        Outcome::Problems
    } else {
        Outcome::Ok
    })
}

fn opt(v: &Option<String>) -> String {
    v.as_deref()
        .map_or("unknown".into(), |s| super::text::esc(s).into_owned())
}

/// Prints the report as text.
pub fn print(rep: &SetsReport, out: &mut dyn Write) -> DumpResult<()> {
    for m in &rep.media {
        writeln!(
            out,
            "{}: {} bytes, sets found by {}, {} bytes read{}, {} filemarks{}",
            m.file,
            or_unknown(m.total_len),
            m.method,
            m.bytes_read,
            m.blocks_read
                .map(|n| format!(" ({n} blocks)"))
                .unwrap_or_default(),
            m.filemarks,
            m.eotm
                .map(|o| format!(", end of medium (EOTM) at {o}"))
                .unwrap_or_default()
        )?;
        for d in &m.damage {
            writeln!(
                out,
                "  damaged: {} bytes at offset {}: {}",
                d.len,
                d.offset,
                super::text::esc(&d.reason)
            )?;
        }
        for n in &m.notes {
            writeln!(out, "  note: {}", super::text::esc(n))?;
        }
    }
    for g in &rep.media_sets {
        writeln!(
            out,
            "media set {}",
            g.media_set_id.as_deref().unwrap_or("(no media set id)")
        )?;
        for p in &g.problems {
            writeln!(out, "  problem: {p}")?;
        }
        if g.sets.is_empty() {
            writeln!(out, "  no data sets")?;
        }
        for s in &g.sets {
            let fams: Vec<String> = s.families_present.iter().map(|f| f.to_string()).collect();
            match s.family_count {
                Some(n) => writeln!(
                    out,
                    "  set {} (data set number {}, families {} of {n})",
                    s.position,
                    s.data_set_number,
                    fams.join(",")
                )?,
                None => writeln!(
                    out,
                    "  set {} (data set number {})",
                    s.position, s.data_set_number
                )?,
            }
            writeln!(out, "    name:          {:?}", s.name)?;
            writeln!(out, "    description:   {:?}", s.description)?;
            if s.backup_type == s.mtf_operation {
                writeln!(
                    out,
                    "    type:          {} (MTF operation)",
                    s.mtf_operation
                )?;
            } else {
                writeln!(
                    out,
                    "    type:          {} (MTF operation: {})",
                    s.backup_type, s.mtf_operation
                )?;
            }
            if s.sql.is_some() {
                writeln!(out, "    database:      {}", opt(&s.database))?;
                writeln!(out, "    server:        {}", opt(&s.server))?;
            }
            writeln!(out, "    machine:       {}", opt(&s.machine))?;
            writeln!(out, "    user:          {:?}", s.user)?;
            writeln!(
                out,
                "    software:      vendor {:#06x}, version {}",
                s.software_vendor_id, s.software_version
            )?;
            writeln!(out, "    start:         {}", opt(&s.start_date))?;
            writeln!(out, "    finish:        {}", opt(&s.finish_date))?;
            match (&s.set_map, s.backup_size, &s.sql) {
                (Some(sm), None, None) => writeln!(
                    out,
                    "    size:          {} bytes (set map), {} bytes on media",
                    sm.displayable_size, s.bytes_on_media
                )?,
                _ => writeln!(
                    out,
                    "    size:          {} (backup size), {} bytes on media",
                    s.backup_size
                        .map_or("unknown".into(), |b| format!("{b} bytes")),
                    s.bytes_on_media
                )?,
            }
            if let (Some(sm), None) = (&s.set_map, &s.sql) {
                writeln!(
                    out,
                    "    contents:      {} directories, {} files, {} corrupt (set map)",
                    sm.directories, sm.files, sm.corrupt_files
                )?;
            }
            writeln!(
                out,
                "    compressed: {}, encrypted: {}, set password: {}, media password: {}",
                yes_no(s.compressed),
                yes_no(s.encrypted),
                yes_no(s.password_protected),
                yes_no(s.media_password_protected)
            )?;
            for p in &s.problems {
                writeln!(out, "    not complete: {}", super::text::esc(p))?;
            }
            writeln!(
                out,
                "    continued from an earlier medium: {}, continues on a medium not given: {}, complete: {}",
                yes_no(s.continued_from_previous_medium),
                yes_no(s.continues_on_missing_medium),
                yes_no(s.complete)
            )?;
            if let Some(q) = &s.sql {
                writeln!(out, "    backup set GUID: {}", opt(&q.backup_set_guid))?;
                writeln!(
                    out,
                    "    LSNs:          first {}, last {}, checkpoint {}, database backup {}",
                    opt(&q.first_lsn),
                    opt(&q.last_lsn),
                    opt(&q.checkpoint_lsn),
                    opt(&q.database_backup_lsn)
                )?;
                if q.differential_base_guid
                    .as_deref()
                    .is_some_and(|g| !g.starts_with("00000000-0000"))
                {
                    writeln!(
                        out,
                        "    differential base: {} {}",
                        opt(&q.differential_base_lsn),
                        opt(&q.differential_base_guid)
                    )?;
                }
                writeln!(
                    out,
                    "    database version {}, compatibility level {}, backup checksums {}, details from {}",
                    or_unknown(q.database_version),
                    or_unknown(q.compatibility_level),
                    q.has_backup_checksums.map_or("unknown", yes_no),
                    opt(&q.details_from)
                )?;
                if let Some(e) = &q.mqci_error {
                    writeln!(out, "    MQCI not decoded: {e}")?;
                }
            }
            for p in &s.parts {
                writeln!(
                    out,
                    "    part: {} family {} medium {} at offset {}, {} bytes{}{}{}",
                    p.file,
                    p.family,
                    p.medium,
                    p.offset,
                    or_unknown(p.bytes_on_medium),
                    if p.continued_from_previous_medium {
                        ", continued from the previous medium"
                    } else {
                        ""
                    },
                    if p.continues_on_next_medium {
                        ", continues on the next medium"
                    } else {
                        ""
                    },
                    if p.complete { "" } else { ", incomplete" },
                )?;
            }
        }
    }
    Ok(())
}
