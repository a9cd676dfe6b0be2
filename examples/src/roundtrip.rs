//! `mtfdump roundtrip`: proves the codec on a file by walking every block and stream, encoding
//! each back with the raw writers, and comparing the result with the original as it streams.

use mtf::walk::{Event, Mode, Walker};
use std::collections::BTreeMap;
use std::io::{self, Read, Write};

/// What a round trip found.
#[derive(Debug, Default, serde::Serialize)]
pub struct RoundTripReport {
    /// Bytes walked and re-encoded.
    pub bytes: u64,
    /// Blocks by type.
    pub blocks: BTreeMap<String, u64>,
    /// Streams by id.
    pub streams: BTreeMap<String, u64>,
    /// Damaged ranges the walk stepped over (offset, length).
    pub gaps: Vec<(u64, u64)>,
    /// First offset where the re-encoding differs from the original, if any.
    pub first_difference: Option<u64>,
    /// Length of the original, to catch a re-encoding that is short or long.
    pub original_len: u64,
    /// The error that ended the walk early, if one did.
    pub error: Option<String>,
}

impl RoundTripReport {
    /// Whether the re-encoding is identical to the original.
    pub fn identical(&self) -> bool {
        self.first_difference.is_none() && self.bytes == self.original_len && self.error.is_none()
    }
}

/// Compares written bytes against a second reader of the original.
struct Comparer<R> {
    original: R,
    pos: u64,
    first_difference: Option<u64>,
    scratch: Vec<u8>,
}

impl<R: Read> Write for Comparer<R> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.scratch.resize(buf.len(), 0);
        let mut got = 0;
        while got < buf.len() {
            match self.original.read(&mut self.scratch[got..])? {
                0 => break,
                n => got += n,
            }
        }
        if self.first_difference.is_none() {
            let mismatch = buf[..got]
                .iter()
                .zip(&self.scratch[..got])
                .position(|(a, b)| a != b);
            if let Some(i) = mismatch {
                self.first_difference = Some(self.pos + i as u64);
            } else if got < buf.len() {
                self.first_difference = Some(self.pos + got as u64);
            }
        }
        self.pos += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Walks `input` (resync mode, so damage is reported and stepped over), re-encodes every piece,
/// and compares against `original` (a second reader of the same bytes). `copy_to` receives the
/// re-encoded bytes if given.
pub fn round_trip<R: Read, O: Read>(
    input: R,
    original: O,
    original_len: u64,
    mut copy_to: Option<&mut dyn Write>,
) -> io::Result<RoundTripReport> {
    let mut rep = RoundTripReport {
        original_len,
        ..Default::default()
    };
    let mut cmp = Comparer {
        original,
        pos: 0,
        first_difference: None,
        scratch: Vec::new(),
    };
    for ev in Walker::with_mode(input, Mode::Resync) {
        let ev = match ev {
            Ok(ev) => ev,
            Err(e) => {
                rep.error = Some(e.to_string());
                break;
            }
        };
        match &ev {
            Event::Block { dblk, .. } => {
                *rep.blocks.entry(dblk.block_type().to_string()).or_default() += 1
            }
            Event::Stream { header, .. } => {
                *rep.streams.entry(header.id.to_string()).or_default() += 1
            }
            Event::Gap {
                offset,
                bytes,
                reason,
            } => match rep.gaps.last_mut() {
                Some((o, l)) if reason.is_none() && *o + *l == *offset => *l += bytes.len() as u64,
                _ => rep.gaps.push((*offset, bytes.len() as u64)),
            },
            _ => {}
        }
        ev.write_raw(&mut cmp)?;
        if let Some(w) = copy_to.as_deref_mut() {
            ev.write_raw(w)?;
        }
    }
    rep.bytes = cmp.pos;
    rep.first_difference = cmp
        .first_difference
        .or((cmp.pos != original_len).then_some(cmp.pos.min(original_len)));
    Ok(rep)
}

/// Prints a report for people.
pub fn print_report(out: &mut dyn Write, name: &str, rep: &RoundTripReport) -> io::Result<()> {
    writeln!(
        out,
        "{name}: {} of {} bytes re-encoded",
        rep.bytes, rep.original_len
    )?;
    let fmt = |m: &BTreeMap<String, u64>| {
        m.iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    writeln!(out, "  blocks:  {}", fmt(&rep.blocks))?;
    writeln!(out, "  streams: {}", fmt(&rep.streams))?;
    for (o, l) in &rep.gaps {
        writeln!(out, "  damaged: {l} bytes at offset {o} kept verbatim")?;
    }
    if let Some(e) = &rep.error {
        writeln!(out, "  stopped: {e}")?;
    }
    match rep.first_difference {
        None if rep.identical() => writeln!(out, "  identical")?,
        None => writeln!(out, "  NOT identical")?,
        Some(o) => writeln!(out, "  DIFFERS first at offset {o}")?,
    }
    Ok(())
}
