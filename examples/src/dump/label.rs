//! `mtfdump label`: the media header, like RESTORE LABELONLY. Reads nothing past it.

use super::text::{date_opt, or_unknown, yes_no};
use super::{
    compressed_container, display_name, mtf_err, open_source, write_json, DumpError, DumpResult,
    Options, Outcome,
};
use media::set::group::{group_media, MediumIdentity};
use mtf::reader::{read_media_header, Reader};
use mtf::spec::TapeAttributes;
use serde::Serialize;
use std::io::Write;
use std::path::PathBuf;

/// What LABELONLY shows for one medium.
#[derive(Debug, Serialize)]
pub struct MediumLabel {
    pub file: String,
    /// `MTF`, or `MSSQLBAK` for SQL Server's compressed container.
    pub format: String,
    pub media_name: Option<String>,
    pub media_description: Option<String>,
    /// TAPE attribute: the description is an MTF media label.
    pub media_label_present: Option<bool>,
    pub software_name: Option<String>,
    pub software_vendor_id: Option<u16>,
    pub media_date: Option<String>,
    pub media_family_id: Option<String>,
    pub media_sequence_number: Option<u16>,
    /// The medium continues a family from an earlier medium.
    pub continuation: Option<bool>,
    pub media_set_id: Option<String>,
    pub family_count: Option<u16>,
    pub family_number: Option<u16>,
    /// Copies of the media set written at once (this project's media say; others do not).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mirror_count: Option<u8>,
    pub format_logical_block_size: Option<u16>,
    pub physical_block_size: Option<usize>,
    pub soft_filemarks: Option<bool>,
    pub media_based_catalog_type: Option<u16>,
    pub password_protected: Option<bool>,
    pub password_algorithm: Option<u16>,
    pub mtf_major_version: Option<u8>,
    /// Bytes read from the medium to produce this.
    pub bytes_read: u64,
    /// For the compressed container: what its header holds.
    pub container: Option<ContainerInfo>,
}

/// What the `MSSQLBAK` container's header holds.
#[derive(Debug, Serialize)]
pub struct ContainerInfo {
    /// u32 at offset 8 (meaning unknown).
    pub word_8: u32,
    /// u32 at offset 12 (meaning unknown).
    pub word_12: u32,
    pub total_len: Option<u64>,
    /// Offset of the uncompressed SFMB at the end and the filemark offsets it lists.
    pub last_soft_filemark: Option<(u64, Vec<u64>)>,
    pub payload: String,
}

/// Media grouped into media sets.
#[derive(Debug, Serialize)]
pub struct MediaSetSummary {
    pub media_set_id: Option<String>,
    pub family_count: Option<u16>,
    /// (family number, [(media sequence number, file)]).
    pub families: Vec<(u16, Vec<(u16, String)>)>,
    pub problems: Vec<String>,
}

/// The label report.
#[derive(Debug, Serialize)]
pub struct LabelReport {
    pub media: Vec<MediumLabel>,
    pub media_sets: Vec<MediaSetSummary>,
}

/// Builds the media set summaries of the MTF media.
pub fn summarize_sets(ids: &[MediumIdentity], names: &[String]) -> Vec<MediaSetSummary> {
    group_media(ids)
        .into_iter()
        .map(|g| MediaSetSummary {
            media_set_id: g.media_set_id.map(|x| x.to_string()),
            family_count: g.family_count,
            families: g
                .families
                .iter()
                .map(|f| {
                    (
                        f.family_number,
                        f.media
                            .iter()
                            .map(|&(seq, i)| (seq, names[i].clone()))
                            .collect(),
                    )
                })
                .collect(),
            problems: g.problems,
        })
        .collect()
}

/// Reads the labels.
pub fn report(paths: &[PathBuf], opts: &Options) -> DumpResult<LabelReport> {
    let mut media = Vec::new();
    let mut ids = Vec::new();
    let mut names = Vec::new();
    for p in paths {
        let file = display_name(p);
        if let Some(c) = compressed_container(p)? {
            media.push(MediumLabel {
                file,
                format: "MSSQLBAK".into(),
                media_name: None,
                media_description: None,
                media_label_present: None,
                software_name: None,
                software_vendor_id: None,
                media_date: None,
                media_family_id: None,
                media_sequence_number: None,
                continuation: None,
                media_set_id: None,
                family_count: None,
                family_number: None,
                mirror_count: None,
                format_logical_block_size: None,
                physical_block_size: None,
                soft_filemarks: None,
                media_based_catalog_type: None,
                password_protected: None,
                password_algorithm: None,
                mtf_major_version: None,
                bytes_read: 16 + c.last_soft_filemark.as_ref().map_or(0, |_| 4096),
                container: Some(ContainerInfo {
                    word_8: c.word_8,
                    word_12: c.word_12,
                    total_len: c.total_len,
                    last_soft_filemark: c.last_soft_filemark,
                    payload: "SQL Server compressed backup: the payload is compressed and not \
                              decoded; the media header inside it cannot be read"
                        .into(),
                }),
            });
            continue;
        }
        let mut r = Reader::with_mode(open_source(p)?, opts.mode());
        r.set_read_ahead(512);
        let h =
            read_media_header(&mut r).map_err(|e| DumpError(format!("{file}: {}", mtf_err(e))))?;
        let t = h.tape();
        let st = h.tape_block().dblk.header.string_type;
        let id = MediumIdentity::from_header(&h);
        media.push(MediumLabel {
            file: file.clone(),
            format: "MTF".into(),
            media_name: Some(t.media_name.display(st)),
            media_description: Some(t.media_description.display(st)),
            media_label_present: Some(t.attributes.contains(TapeAttributes::MEDIA_LABEL)),
            software_name: Some(t.software_name.display(st)),
            software_vendor_id: Some(t.software_vendor_id),
            media_date: date_opt(t.media_date),
            media_family_id: Some(format!("{:#010x}", t.media_family_id)),
            media_sequence_number: Some(t.media_sequence_number),
            continuation: Some(h.is_continuation()),
            media_set_id: id.media_set_id.map(|g| g.to_string()),
            family_count: id.family_count,
            family_number: id.family_number,
            mirror_count: media::set::mirror_count_of(&h),
            format_logical_block_size: Some(t.format_logical_block_size),
            physical_block_size: r.physical_block_size(),
            soft_filemarks: Some(h.params.soft_filemarks),
            media_based_catalog_type: Some(t.media_based_catalog_type),
            password_protected: Some(media_password_protected(t)),
            password_algorithm: Some(t.password_encryption_algorithm),
            mtf_major_version: Some(t.mtf_major_version),
            bytes_read: r.bytes_read(),
            container: None,
        });
        ids.push(id);
        names.push(file);
    }
    Ok(LabelReport {
        media,
        media_sets: if paths.len() > 1 {
            summarize_sets(&ids, &names)
        } else {
            Vec::new()
        },
    })
}

/// `mtfdump label`.
pub fn run(paths: &[PathBuf], opts: &Options, out: &mut dyn Write) -> DumpResult<Outcome> {
    let rep = report(paths, opts)?;
    if opts.json {
        write_json(out, &rep)?;
    } else {
        print(&rep, out)?;
    }
    Ok(Outcome::Ok)
}

fn print(rep: &LabelReport, out: &mut dyn Write) -> DumpResult<()> {
    for m in &rep.media {
        writeln!(out, "{}", m.file)?;
        if let Some(c) = &m.container {
            writeln!(
                out,
                "  format:                  MSSQLBAK (SQL Server compressed backup container)"
            )?;
            writeln!(
                out,
                "  header words at 8, 12:   {}, {} (meaning unknown)",
                c.word_8, c.word_12
            )?;
            writeln!(
                out,
                "  length:                  {}",
                or_unknown(c.total_len)
            )?;
            match &c.last_soft_filemark {
                Some((at, marks)) => writeln!(
                    out,
                    "  last soft filemark:      at {at}, lists filemarks at {marks:?}"
                )?,
                None => writeln!(out, "  last soft filemark:      none found")?,
            }
            writeln!(out, "  payload:                 {}", c.payload)?;
            writeln!(out, "  bytes read:              {}", m.bytes_read)?;
            continue;
        }
        let s = |v: &Option<String>| v.clone().unwrap_or_else(|| "unknown".into());
        let quoted = |v: &Option<String>| match v {
            Some(x) => format!("{x:?}"),
            None => "unknown".into(),
        };
        writeln!(out, "  media name:              {}", quoted(&m.media_name))?;
        writeln!(
            out,
            "  media description:       {}",
            quoted(&m.media_description)
        )?;
        writeln!(
            out,
            "  media label present:     {}",
            m.media_label_present.map_or("unknown", yes_no)
        )?;
        writeln!(
            out,
            "  software:                {}",
            quoted(&m.software_name)
        )?;
        writeln!(
            out,
            "  software vendor id:      {}",
            m.software_vendor_id
                .map_or("unknown".into(), |v| format!("{v} ({v:#06x})"))
        )?;
        writeln!(out, "  media date:              {}", s(&m.media_date))?;
        writeln!(out, "  media family id:         {}", s(&m.media_family_id))?;
        writeln!(
            out,
            "  media sequence number:   {}{}",
            or_unknown(m.media_sequence_number),
            if m.continuation == Some(true) {
                " (continuation medium)"
            } else {
                ""
            }
        )?;
        writeln!(out, "  media set id:            {}", s(&m.media_set_id))?;
        writeln!(
            out,
            "  family count:            {}",
            or_unknown(m.family_count)
        )?;
        writeln!(
            out,
            "  family number:           {}",
            or_unknown(m.family_number)
        )?;
        if let Some(n) = m.mirror_count {
            writeln!(out, "  mirror count:            {n}")?;
        }
        writeln!(
            out,
            "  format logical block:    {}",
            or_unknown(m.format_logical_block_size)
        )?;
        writeln!(
            out,
            "  physical block size:     {}",
            or_unknown(m.physical_block_size)
        )?;
        writeln!(
            out,
            "  soft filemarks:          {}",
            m.soft_filemarks.map_or("unknown", yes_no)
        )?;
        writeln!(
            out,
            "  catalog type:            {}",
            or_unknown(m.media_based_catalog_type)
        )?;
        writeln!(
            out,
            "  password protected:      {}",
            match (m.password_protected, m.password_algorithm) {
                (Some(true), Some(5)) => "yes (MD5)".to_string(),
                (Some(true), Some(a)) => format!("yes (algorithm {a})"),
                (Some(false), _) => "no".to_string(),
                _ => "unknown".to_string(),
            }
        )?;
        writeln!(
            out,
            "  MTF major version:       {}",
            or_unknown(m.mtf_major_version)
        )?;
        writeln!(out, "  bytes read:              {}", m.bytes_read)?;
    }
    for g in &rep.media_sets {
        writeln!(
            out,
            "media set {}: {} of {} families present",
            g.media_set_id.as_deref().unwrap_or("(no media set id)"),
            g.families.len(),
            or_unknown(g.family_count)
        )?;
        for (f, media) in &g.families {
            let list: Vec<String> = media
                .iter()
                .map(|(seq, n)| format!("medium {seq}: {n}"))
                .collect();
            writeln!(out, "  family {f}: {}", list.join(", "))?;
        }
        for p in &g.problems {
            writeln!(out, "  problem: {p}")?;
        }
    }
    Ok(())
}

/// Whether a medium is password-protected (TAPE: a password algorithm or a media password);
/// `label` and `sets` both say it from here.
pub fn media_password_protected(t: &mtf::block::Tape) -> bool {
    t.password_encryption_algorithm != 0 || !t.media_password.is_empty()
}
