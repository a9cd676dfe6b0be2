//! `mtfdump extract --set N -C DIR [PATTERN...]`: restores a set's file trees (directories and
//! modification times), or, for a SQL Server set, writes its raw database streams to files.
//!
//! The work is [`mtf::extract::Extractor`]'s (names, links, exclusive creation, continuation,
//! CSUM checks); this module picks the set, checks that the media given hold it whole (one
//! notion of completeness: [`media::set::group::MergedSet::problems`]), walks each medium's part
//! and prints the report.

use super::text::esc;
use super::{list_media, write_json, DumpError, DumpResult, Medium, Options, Outcome, SetWalker};
use crate::progress::Progress;
use media::set::group::{group_media, merge_sets, MediumIdentity};
use mtf::extract::{ExtractOptions, Extractor, Part, Patterns};
use mtf::sqlserver::SqlSetInfo;
use serde::Serialize;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use mtf::extract::{check_component, volume_dir, DamagedFile, Refusal, Written};

/// The extract report: the set, and what the library's extractor did.
#[derive(Debug, Serialize)]
pub struct ExtractReport {
    /// The set extracted (1-based position in the media set).
    pub set: usize,
    /// What was written, refused, damaged.
    #[serde(flatten)]
    pub report: mtf::extract::ExtractReport,
}

impl std::ops::Deref for ExtractReport {
    type Target = mtf::extract::ExtractReport;
    fn deref(&self) -> &Self::Target {
        &self.report
    }
}

/// Extracts set `set` (1-based position in the first media set) into `dir`, every entry
/// matching one of `patterns` (all when there are none).
pub fn extract(
    media: &[Medium],
    set: usize,
    dir: &Path,
    patterns: &[String],
    opts: &Options,
) -> DumpResult<ExtractReport> {
    extract_with(media, set, dir, with_patterns(patterns)?, opts)
}

/// The default extraction options with `patterns` compiled (an invalid one is an error).
pub fn with_patterns(patterns: &[String]) -> DumpResult<ExtractOptions> {
    Ok(ExtractOptions {
        patterns: Patterns::new(patterns).map_err(DumpError)?,
        ..Default::default()
    })
}

/// [`extract`] with every extraction option.
pub fn extract_with(
    media: &[Medium],
    set: usize,
    dir: &Path,
    eopts: ExtractOptions,
    opts: &Options,
) -> DumpResult<ExtractReport> {
    let ids: Vec<MediumIdentity> = media
        .iter()
        .map(|m| MediumIdentity::from_header(&m.listing.header))
        .collect();
    let groups = group_media(&ids);
    let listings: Vec<&mtf::reader::Listing> = media.iter().map(|m| &m.listing).collect();
    let Some(group) = groups.first() else {
        return Err(DumpError("no media".into()));
    };
    let merged = merge_sets(group, &listings);
    let Some(m) = merged.iter().find(|m| m.position == set) else {
        return Err(DumpError(format!(
            "there is no set {set} (the media hold {} sets)",
            merged.len()
        )));
    };
    let mut ex = Extractor::new(dir, eopts).map_err(|e| DumpError(e.to_string()))?;
    let mut seen = std::collections::HashSet::new();
    for p in group.problems.iter().chain(&m.problems) {
        if seen.insert(p) {
            ex.problem(p.clone());
        }
    }
    for other in groups.iter().skip(1) {
        for i in other.media_in_order() {
            ex.problem(format!(
                "{}: belongs to another media set; not read",
                media[i].name
            ));
        }
    }
    let head = &media[m.parts[0].medium].listing.sets[m.parts[0].set];
    let sql = SqlSetInfo::is_sql_server(head);
    let total: u64 = m
        .parts
        .iter()
        .filter_map(|p| media[p.medium].listing.sets[p.set].size_on_medium())
        .sum();
    let progress = Progress::new(opts.progress, "extract", total);
    let mut done_before = 0u64;
    // Family by family, medium by medium in sequence.
    let mut parts = m.parts.clone();
    parts.sort_by_key(|p| (p.family_number, p.media_sequence_number));
    // One walker: the parts of a set on one medium (a hostile medium holds hundreds) are then
    // read in one pass where the medium cannot seek.
    let mut walker = SetWalker::default();
    for p in &parts {
        let medium = &media[p.medium];
        let part = &medium.listing.sets[p.set];
        let start = part.offset();
        // A medium that is a plain file is read again by the copy workers.
        let source = if super::is_tape(&medium.path) {
            None
        } else {
            File::open(&medium.path)
                .ok()
                .and_then(|f| Some((f.metadata().ok().filter(|m| m.is_file())?.len(), f)))
                .map(|(len, f)| (Arc::new(f), len))
        };
        ex.begin_part(Part {
            family: p.family_number,
            sequence: p.media_sequence_number,
            sql_server: sql,
            source,
        });
        walker.walk(&medium.path, &medium.listing, part, opts, |r, ev| {
            progress.set(done_before + r.position().saturating_sub(start));
            ex.event(r, ev)
                .map_err(|e| DumpError(format!("{}: read: {e}", medium.name)))?;
            Ok(true)
        })?;
        ex.end_part();
        done_before += part.size_on_medium().unwrap_or(0);
    }
    progress.finish();
    let mut copying: Option<Progress> = None;
    let report = ex.finish(&mut |n, total| {
        copying
            .get_or_insert_with(|| Progress::new(opts.progress, "extract (copying)", total))
            .set(n)
    });
    if let Some(p) = copying {
        p.finish();
    }
    Ok(ExtractReport { set, report })
}

/// `mtfdump extract`.
pub fn run(
    paths: &[PathBuf],
    set: usize,
    dir: &Path,
    patterns: &[String],
    opts: &Options,
    out: &mut dyn Write,
) -> DumpResult<Outcome> {
    run_with(paths, set, dir, with_patterns(patterns)?, opts, out)
}

/// `mtfdump extract` with every extraction option.
pub fn run_with(
    paths: &[PathBuf],
    set: usize,
    dir: &Path,
    eopts: ExtractOptions,
    opts: &Options,
    out: &mut dyn Write,
) -> DumpResult<Outcome> {
    super::refuse_streams(paths, "extract")?;
    let media = list_media(paths, opts)?;
    let rep = extract_with(&media, set, dir, eopts, opts)?;
    if opts.json {
        write_json(out, &rep)?;
    } else {
        print(&rep, out)?;
    }
    Ok(if rep.is_whole() {
        Outcome::Ok
    } else {
        Outcome::Problems
    })
}

fn print(rep: &ExtractReport, out: &mut dyn Write) -> DumpResult<()> {
    for d in &rep.directories {
        writeln!(out, "d {}/", esc(d))?;
    }
    for f in &rep.files {
        writeln!(out, "f {} ({} bytes)", esc(&f.path), f.bytes)?;
    }
    for r in &rep.refused {
        writeln!(
            out,
            "refused: {:?} at offset {}: {}",
            r.name,
            r.offset,
            esc(&r.reason)
        )?;
    }
    for d in &rep.damaged_files {
        let fate = match &d.kept_as {
            Some(k) => format!("kept as {}", esc(k)),
            None => "not kept".into(),
        };
        writeln!(
            out,
            "NOT WHOLE: {}: {} ({fate})",
            esc(&d.path),
            esc(&d.reason)
        )?;
    }
    for (k, n) in &rep.streams_not_restored {
        writeln!(out, "not restored: {n} {} stream(s)", esc(k))?;
    }
    for d in &rep.damage {
        writeln!(
            out,
            "damaged: {} bytes at offset {}: {}",
            d.len,
            d.offset,
            esc(&d.reason)
        )?;
    }
    for p in &rep.problems {
        writeln!(out, "incomplete: {}", esc(p))?;
    }
    for e in &rep.errors {
        writeln!(out, "error: {}", esc(e))?;
    }
    writeln!(
        out,
        "set {}: {} directories, {} files written, {} refused, {} not whole",
        rep.set,
        rep.directories.len(),
        rep.files.len(),
        rep.refused.len(),
        rep.damaged_files.len(),
    )?;
    Ok(())
}
