//! `mtfdump verify`: reads every byte and checks every block header checksum, every stream
//! header checksum, the CSUM streams, the soft filemark tables, and that every set is complete.
//! The exit code says the result: 0 intact, 1 problems.

use super::sets::build as build_sets;
use super::{
    display_name, list_media, open_source, write_json, DumpError, DumpResult, Options, Outcome,
};
use crate::progress::Progress;
use mtf::reader::Reader;
pub use mtf::verify::{Carried, CsumCheck, MediumVerify};
use serde::Serialize;
use std::io::Write;
use std::path::PathBuf;

/// The verify report.
#[derive(Debug, Serialize)]
pub struct VerifyReport {
    pub media: Vec<MediumVerify>,
    /// Media-set level problems (missing families or media, sets incomplete across them).
    pub media_set_errors: Vec<String>,
    pub result: Outcome,
}

/// Verifies one medium (see [`mtf::verify::verify_medium`]), reporting progress from `base`.
pub fn verify_medium(
    path: &std::path::Path,
    opts: &Options,
    progress: &Progress,
    base: u64,
    carry_in: Option<Carried>,
) -> DumpResult<(MediumVerify, Option<Carried>)> {
    let file = display_name(path);
    let src = open_source(path)?;
    // Large stream data of a plain file goes to the checksum workers.
    let file_for_jobs = match &src {
        super::Source::File(_) => std::fs::File::open(path).ok(),
        super::Source::Tape(_) | super::Source::Stream(_) => None,
    };
    let r = Reader::with_mode(src, opts.mode());
    mtf::verify::verify_medium(
        r,
        &file,
        file_for_jobs,
        &mut |n| progress.set(base + n),
        carry_in,
    )
    .map_err(|e| DumpError(format!("{file}: read: {e}")))
}

/// Verifies the media, then the media sets they form.
pub fn report(paths: &[PathBuf], opts: &Options) -> DumpResult<VerifyReport> {
    super::refuse_streams(paths, "verify")?;
    let media_listed = list_media(paths, opts)?;
    let total: u64 = media_listed
        .iter()
        .filter_map(|m| m.listing.total_len)
        .sum();
    let progress = Progress::new(opts.progress, "verify", total);
    // Each family's media in sequence, so that a stream cut at the end of one medium is
    // checked over its parts on the next; reported in the order given.
    let mut order: Vec<usize> = (0..media_listed.len()).collect();
    order.sort_by_key(|&i| {
        let t = media_listed[i].listing.header.tape();
        (t.media_family_id, t.media_sequence_number)
    });
    let mut done: Vec<Option<MediumVerify>> = (0..media_listed.len()).map(|_| None).collect();
    let mut carry: Option<(u32, u16, Carried)> = None; // family id, next sequence number
    let mut base = 0;
    for i in order {
        let t = media_listed[i].listing.header.tape();
        let carry_in = carry
            .take()
            .filter(|c| c.0 == t.media_family_id && c.1 == t.media_sequence_number)
            .map(|c| c.2);
        let (v, out) = verify_medium(&media_listed[i].path, opts, &progress, base, carry_in)?;
        carry = out.map(|c| {
            (
                t.media_family_id,
                t.media_sequence_number.wrapping_add(1),
                c,
            )
        });
        base += v.bytes;
        done[i] = Some(v);
    }
    let media: Vec<MediumVerify> = done.into_iter().flatten().collect();
    progress.finish();
    let sets = build_sets(&media_listed);
    let mut media_set_errors = Vec::new();
    for g in &sets.media_sets {
        let id = g
            .media_set_id
            .clone()
            .unwrap_or_else(|| "(no media set id)".into());
        for p in &g.problems {
            media_set_errors.push(format!("media set {id}: {p}"));
        }
        for s in g.sets.iter().filter(|s| !s.complete) {
            media_set_errors.push(format!(
                "media set {id}: set {} is not complete on the media given: {}",
                s.position,
                s.problems.join("; ")
            ));
        }
    }
    let bad = media
        .iter()
        .any(|m| !m.damage.is_empty() || !m.errors.is_empty())
        || !media_set_errors.is_empty();
    Ok(VerifyReport {
        media,
        media_set_errors,
        result: if bad { Outcome::Problems } else { Outcome::Ok },
    })
}

/// `mtfdump verify`.
pub fn run(paths: &[PathBuf], opts: &Options, out: &mut dyn Write) -> DumpResult<Outcome> {
    let rep = report(paths, opts)?;
    if opts.json {
        write_json(out, &rep)?;
    } else {
        print(&rep, out)?;
    }
    Ok(rep.result)
}

fn print(rep: &VerifyReport, out: &mut dyn Write) -> DumpResult<()> {
    for m in &rep.media {
        writeln!(
            out,
            "{}: {} bytes, {} blocks, {} streams, {} of {} sets closed on this medium, {} CSUM checked",
            m.file,
            m.bytes,
            m.blocks,
            m.streams,
            m.complete_sets,
            m.sets,
            m.csums.len()
        )?;
        for c in &m.csums {
            writeln!(
                out,
                "  CSUM at {} ({}, covers {}): stored {}, computed {}: {}",
                c.offset,
                c.algorithm,
                c.covers,
                c.stored,
                c.computed,
                if c.ok { "ok" } else { "MISMATCH" }
            )?;
        }
        if m.stream_cuts > 0 {
            writeln!(
                out,
                "  {} stream(s) cut by the end of the medium, continued on the next",
                m.stream_cuts
            )?;
        }
        for d in &m.damage {
            writeln!(
                out,
                "  damaged: {} bytes at offset {}: {}",
                d.len, d.offset, d.reason
            )?;
        }
        for e in &m.errors {
            writeln!(out, "  error: {e}")?;
        }
        for w in &m.warnings {
            writeln!(out, "  warning: {w}")?;
        }
    }
    for e in &rep.media_set_errors {
        writeln!(out, "error: {e}")?;
    }
    writeln!(
        out,
        "{}",
        match rep.result {
            Outcome::Ok => "verify: OK",
            Outcome::Problems => "verify: FAILED",
        }
    )?;
    Ok(())
}
