//! Verification of one medium: every block header checksum, every stream header checksum, the
//! CSUM streams (MTF XOR-32, and SQL Server's backup checksum on its sets), the soft filemark
//! tables, the format logical addresses, and that every set closes. A stream cut by the end of
//! a medium is checked over its parts on the family's next media ([`Carried`]).
//!
//! Completeness across media (missing families or media) is
//! `media::set::group::MergedSet::problems`'s job; this module says what one medium holds.

use crate::block::Body;
use crate::checksum::FastXor32;
use crate::reader::listing::SetBuilder;
use crate::reader::{BlockSource, DamageInfo, Event, Reader};
use crate::spec::{BlockType, StreamId, StreamMediaAttributes};
use crate::sqlserver::{FastBackupChecksum, VENDOR_ID};

/// A CSUM stream and what the data before it gives.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct CsumCheck {
    /// Offset of the CSUM stream header.
    pub offset: u64,
    /// The stream it covers.
    pub covers: String,
    /// `MTF XOR-32` or `SQL Server backup checksum`.
    pub algorithm: String,
    /// The value the CSUM stream holds (hex).
    pub stored: String,
    /// The value the data gives (hex).
    pub computed: String,
    /// They agree.
    pub ok: bool,
}

/// What verifying one medium found.
#[derive(Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct MediumVerify {
    /// The medium's name, as the caller gave it.
    pub file: String,
    /// Bytes read.
    pub bytes: u64,
    /// Descriptor blocks seen.
    pub blocks: u64,
    /// Stream headers seen.
    pub streams: u64,
    /// Data sets that begin or go on on this medium.
    pub sets: usize,
    /// Those closed by an ESET on this medium.
    pub complete_sets: usize,
    /// Every CSUM checked.
    pub csums: Vec<CsumCheck>,
    /// Damage stepped over.
    pub damage: Vec<DamageInfo>,
    /// Problems that fail the verification (incomplete sets, bad CSUMs, a stopped read).
    pub errors: Vec<String>,
    /// Oddities that do not (an unexpected FLA, a soft filemark table that disagrees).
    pub warnings: Vec<String>,
    /// Streams cut by the end of the medium (continued on the next medium).
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "is_zero"))]
    pub stream_cuts: usize,
}

#[cfg(feature = "serde")]
fn is_zero(n: &usize) -> bool {
    *n == 0
}

struct Current {
    xor: FastXor32,
    sql: Option<FastBackupChecksum>,
}

/// Streams at least this long are checksummed by worker threads reading with `pread`, so the
/// reading (a kernel copy) and the checksumming run on both cores.
const PARALLEL_MIN: u64 = 1 << 20;

/// A stream's data for the workers.
struct Job {
    offset: u64,
    len: u64,
    sql: bool,
}

/// The checksums of a data stream: known, or to come from a worker.
enum Sums {
    Done(u32, Option<u32>),
    Job(usize),
}

/// The data stream a CSUM would cover.
struct Prev {
    id: StreamId,
    offset: u64,
    sums: Sums,
    /// Bytes of its data on this medium (for a worker's job: the job's length).
    len: u64,
    /// The stream continues one cut on an earlier medium (CONTINUE attribute): a CSUM after it
    /// covers data this medium does not hold.
    continued: bool,
    /// What the earlier media held of it, when they were verified just before.
    carried: Option<Carried>,
}

/// The earlier parts of a data stream cut by the end of a medium: their XOR-32 and length, so
/// that a CSUM on a later medium can be checked over the whole stream.
#[derive(Clone, Copy, Debug)]
pub struct Carried {
    /// XOR-32 of the parts so far.
    pub xor: u32,
    /// Their length in bytes.
    pub len: u64,
}

impl Carried {
    /// The parts so far followed by `len` more bytes whose own XOR-32 is `xor`. XOR-32 works on
    /// 4-byte words from the stream's start, so a later part's bytes fall into word lanes
    /// shifted by the earlier length.
    fn then(self, xor: u32, len: u64) -> Carried {
        let shift = 8 * (self.len % 4) as u32;
        Carried {
            xor: self.xor ^ xor.rotate_left(shift),
            len: self.len + len,
        }
    }
}

/// What a worker found for a job: XOR-32, SQL checksum, bytes read, an I/O error.
type JobResult = (u32, Option<u32>, u64, Option<String>);

/// Runs the jobs on two threads, each reading with `pread` into its own buffer.
fn run_jobs(file: &std::fs::File, jobs: &[Job], progress: &mut dyn FnMut(u64)) -> Vec<JobResult> {
    use std::os::unix::fs::FileExt;
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
    const CHUNK: usize = 128 * 1024;
    let next = AtomicUsize::new(0);
    let done = AtomicU64::new(0);
    // Lengths are as the stream headers declare them (hostile media may claim up to 2^64 - 1).
    let total: u64 = jobs.iter().fold(0u64, |t, j| t.saturating_add(j.len));
    let mut results: Vec<Option<JobResult>> = (0..jobs.len()).map(|_| None).collect();
    let outs = crate::workers::run_two(
        || {
            let mut buf = vec![0u8; CHUNK];
            let mut out = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(job) = jobs.get(i) else { break };
                let mut xor = FastXor32::new();
                let mut sql = job.sql.then(FastBackupChecksum::new);
                let mut read = 0u64;
                let mut err = None;
                // Read at page-aligned file offsets: the kernel's copy to user space
                // runs far faster when source and destination share an alignment.
                let end = job.offset.saturating_add(job.len);
                let mut pos = job.offset & !4095;
                while pos < end {
                    let want = ((end - pos) as usize).min(CHUNK);
                    match file.read_at(&mut buf[..want], pos) {
                        Ok(0) => break,
                        Ok(n) => {
                            let skip = job.offset.saturating_sub(pos) as usize;
                            let piece = &buf[skip.min(n)..n];
                            xor.update(piece);
                            if let Some(s) = sql.as_mut() {
                                s.update(piece);
                            }
                            read += piece.len() as u64;
                            pos += n as u64;
                            done.fetch_add(piece.len() as u64, Ordering::Relaxed);
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            err = Some(e.to_string());
                            break;
                        }
                    }
                }
                out.push((i, (xor.value(), sql.map(|s| s.value()), read, err)));
            }
            out
        },
        &done,
        total,
        progress,
    );
    for (i, r) in outs.into_iter().flatten() {
        results[i] = Some(r);
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or((0, None, 0, Some("not read".into()))))
        .collect()
}

/// Verifies one medium, read by `r` from its start, named `file` in the report.
///
/// `file_for_jobs` is the medium again as a plain file, when it is one: large stream data is
/// then checksummed by two workers reading it with `pread` while the walk seeks on.
/// `progress` is called with the position now and then. `carry_in` is what the previous medium
/// of the family held of a stream it cut; the result gives the same for the next medium, if
/// this one cuts a stream. An I/O error stops the verification (the caller names the medium);
/// damage is reported in the result.
pub fn verify_medium<S: BlockSource>(
    mut r: Reader<S>,
    file: &str,
    file_for_jobs: Option<std::fs::File>,
    progress: &mut dyn FnMut(u64),
    mut carry_in: Option<Carried>,
) -> crate::Result<(MediumVerify, Option<Carried>)> {
    let file = file.to_string();
    let strict = r.mode() == crate::walk::Mode::Strict;
    // Reads of 128 KiB keep each piece in the CPU cache while it is checksummed.
    r.set_read_ahead(128 * 1024);
    let mut v = MediumVerify {
        file: file.clone(),
        bytes: 0,
        blocks: 0,
        streams: 0,
        sets: 0,
        complete_sets: 0,
        csums: Vec::new(),
        damage: Vec::new(),
        errors: Vec::new(),
        warnings: Vec::new(),
        stream_cuts: 0,
    };
    let mut b = SetBuilder::new();
    let mut sql_set = false;
    let mut prev: Option<Prev> = None;
    let mut pending: Vec<(u64, Prev, u32)> = Vec::new();
    let mut jobs: Vec<Job> = Vec::new();
    if file_for_jobs.is_some() {
        // The walk reads headers and small streams; large data goes to the workers.
        r.set_read_ahead(64 * 1024);
    }
    let mut sset: Option<(u64, bool)> = None; // offset, continued
    let mut last_cbid: Option<u32> = None;
    let mut flb = 1024u64;
    let mut sfmbs: Vec<u64> = Vec::new();
    let mut sfmb_unit: Option<u64> = None;
    let mut sfmb_len = 0u64;
    // The stream cut by the end of this medium, if any.
    let mut cut: Option<Prev> = None;
    loop {
        let ev = match r.next_event() {
            Ok(Some(ev)) => ev,
            Ok(None) => break,
            Err(e @ crate::Error::Io(_)) => return Err(e),
            Err(e) => {
                v.errors.push(format!("stopped (strict mode): {e}"));
                break;
            }
        };
        if file_for_jobs.is_none() {
            progress(r.position());
        }
        match ev {
            Event::Block { offset, dblk } => {
                v.blocks += 1;
                let t = dblk.block_type();
                let h = &dblk.header;
                match &dblk.body {
                    Body::Tape(tape) => {
                        flb = tape.format_logical_block_size.max(1) as u64;
                        sfmb_len = tape.soft_filemark_bytes() as u64;
                    }
                    Body::Sset(s) => {
                        sql_set = s.software_vendor_id == VENDOR_ID;
                        sset = Some((
                            offset,
                            h.attributes
                                .contains(crate::spec::BlockAttributes::CONTINUATION),
                        ));
                        last_cbid = Some(h.control_block_id);
                    }
                    Body::Sfmb(s) => {
                        // Each SFMB lists the earlier filemarks, newest first.
                        let used = s.used_entries();
                        let expect: Vec<u64> = sfmbs.iter().rev().copied().collect();
                        if sfmb_unit.is_none() {
                            if let (Some(&e), Some(&x)) = (used.first(), expect.first()) {
                                sfmb_unit = [1u64, sfmb_len.max(1), flb]
                                    .into_iter()
                                    .find(|u| e.checked_mul(*u) == Some(x));
                            }
                        }
                        let unit = sfmb_unit.unwrap_or(1);
                        let listed: Vec<u64> =
                            used.iter().map(|e| e.saturating_mul(unit)).collect();
                        let n = listed.len().min(expect.len());
                        if listed[..n] != expect[..n]
                            || (listed.len() < expect.len()
                                && (s.entries_used as usize) < s.number_of_entries as usize)
                        {
                            v.warnings.push(format!(
                                "SFMB at {offset} lists filemarks {listed:?}; the earlier soft filemarks are at {expect:?}"
                            ));
                        }
                        sfmbs.push(offset);
                    }
                    _ => {}
                }
                if let Some((so, continued)) = sset {
                    let in_set = !matches!(
                        t,
                        BlockType::SSET
                            | BlockType::ESET
                            | BlockType::SFMB
                            | BlockType::EOTM
                            | BlockType::TAPE
                    );
                    if in_set && !continued {
                        let d = offset - so;
                        if d % flb == 0 && h.format_logical_address != d / flb {
                            v.warnings.push(format!(
                                "{t} at {offset}: format logical address {} where the set's layout gives {}",
                                h.format_logical_address,
                                d / flb
                            ));
                        }
                        if let Some(c) = last_cbid {
                            if h.control_block_id <= c {
                                v.warnings.push(format!(
                                    "{t} at {offset}: control block id {} does not increase (previous {c})",
                                    h.control_block_id
                                ));
                            }
                        }
                        last_cbid = Some(h.control_block_id);
                    }
                    if matches!(t, BlockType::ESET | BlockType::EOTM) {
                        sset = None;
                    }
                }
                if let Body::Eset(e) = &dblk.body {
                    if let Some(set) = b.sets.last() {
                        let n = set.sset().data_set_number;
                        if e.data_set_number != n {
                            v.errors.push(format!(
                                "ESET at {offset} names data set {} but closes set {n}",
                                e.data_set_number
                            ));
                        }
                    }
                }
                prev = None;
                b.block(offset, dblk);
            }
            Event::Stream { offset, header } => {
                v.streams += 1;
                let id = header.id;
                if id == StreamId::CSUM {
                    let data = r.read_data_to_vec(64)?;
                    match (data, prev.take()) {
                        (Some(_), Some(p)) if p.continued && p.carried.is_none() => v.warnings.push(format!(
                            "CSUM at {offset} covers the {} stream at {} with its part on an earlier medium: not checked",
                            p.id, p.offset
                        )),
                        (Some(d), Some(p)) if d.len() == 4 => {
                            let stored = u32::from_le_bytes(d[..4].try_into().expect("4 bytes"));
                            pending.push((offset, p, stored));
                        }
                        (Some(d), _) if d.len() != 4 => v.errors.push(format!(
                            "CSUM at {offset} holds {} bytes; a CSUM holds 4",
                            d.len()
                        )),
                        _ => v
                            .warnings
                            .push(format!("CSUM at {offset} follows no data stream")),
                    }
                    b.stream(offset, header, None);
                    continue;
                }
                let announced = header
                    .media_attributes
                    .contains(StreamMediaAttributes::CHECKSUMED)
                    || header.media_attributes.bits() & 0x0100 != 0;
                let want_sql = sql_set && announced;
                let len = header.length;
                let continued = header
                    .media_attributes
                    .contains(StreamMediaAttributes::CONTINUE);
                // The first continued stream on a medium goes on from the previous one.
                let carried = if continued { carry_in.take() } else { None };
                b.stream(offset, header, None);
                if file_for_jobs.is_some() && len >= PARALLEL_MIN {
                    // Large data: checksummed by the workers below, read with pread; the walk
                    // seeks past it (and reports it if the medium is cut short).
                    jobs.push(Job {
                        offset: offset + crate::spec::STREAM_HDR_LEN as u64,
                        len,
                        sql: want_sql,
                    });
                    if let Err(e) = r.skip_data() {
                        match e {
                            crate::Error::Io(_) => return Err(e),
                            e => v.errors.push(format!("stopped (strict mode): {e}")),
                        }
                    }
                    prev = (id != StreamId::SPAD).then_some(Prev {
                        id,
                        offset,
                        sums: Sums::Job(jobs.len() - 1),
                        len,
                        continued,
                        carried,
                    });
                    continue;
                }
                let mut cur = Current {
                    xor: FastXor32::new(),
                    sql: want_sql.then(FastBackupChecksum::new),
                };
                let mut part_len = 0u64;
                loop {
                    let chunk = match r.read_data() {
                        Ok(Some(c)) => c,
                        Ok(None) => break,
                        Err(e @ crate::Error::Io(_)) => return Err(e),
                        Err(e) => {
                            v.errors.push(format!("stopped (strict mode): {e}"));
                            break;
                        }
                    };
                    cur.xor.update(chunk);
                    part_len += chunk.len() as u64;
                    if let Some(s) = cur.sql.as_mut() {
                        s.update(chunk);
                    }
                }
                if file_for_jobs.is_none() {
                    progress(r.position());
                }
                prev = (id != StreamId::SPAD).then(|| Prev {
                    id,
                    offset,
                    sums: Sums::Done(cur.xor.value(), cur.sql.as_ref().map(|s| s.value())),
                    len: part_len,
                    continued,
                    carried,
                });
            }
            Event::Filemark { offset } => {
                prev = None;
                b.filemark(offset);
            }
            Event::StreamCut { offset, .. } => {
                // The medium ended inside the stream: its data here stops at the cut, and the
                // rest (with any CSUM) is on the next medium.
                if let Some(mut p) = prev.take() {
                    if let Sums::Job(i) = p.sums {
                        let job = &mut jobs[i];
                        job.len = job.len.min(offset.saturating_sub(job.offset));
                        p.len = job.len;
                    }
                    cut = Some(p);
                }
                v.stream_cuts += 1;
            }
            Event::Damage(d) => {
                prev = None;
                let info = DamageInfo::from(&d);
                v.damage.push(info.clone());
                b.damage(info);
            }
        }
        if !v.errors.is_empty() && strict {
            break;
        }
    }
    v.bytes = r.position();
    let results = match file_for_jobs.as_ref() {
        Some(f) if !jobs.is_empty() => run_jobs(f, &jobs, progress),
        _ => Vec::new(),
    };
    for (i, (_, _, read, err)) in results.iter().enumerate() {
        if let Some(e) = err {
            v.errors.push(format!(
                "reading the stream data at {}: {e}",
                jobs[i].offset
            ));
        } else if *read < jobs[i].len {
            // The walk reports the truncation as damage; nothing more to say here.
        }
    }
    let sums_of = |p: &Prev| -> Option<(u32, Option<u32>)> {
        match p.sums {
            Sums::Done(x, s) => Some((x, s)),
            Sums::Job(i) => match results.get(i) {
                Some((x, s, _, None)) => Some((*x, *s)),
                _ => None,
            },
        }
    };
    let carry_out = cut.as_ref().and_then(|p| {
        let (xor, _) = sums_of(p)?;
        let before = p.carried.unwrap_or(Carried { xor: 0, len: 0 });
        // A stream continued from a medium not verified just before cannot be carried on.
        (!p.continued || p.carried.is_some()).then(|| before.then(xor, p.len))
    });
    for (offset, p, stored) in pending {
        let Some((xor, sql)) = sums_of(&p) else {
            continue;
        };
        let (alg, computed) = match (sql, p.carried) {
            (Some(_), Some(_)) => {
                v.warnings.push(format!(
                    "CSUM at {offset}: the SQL Server checksum of a stream continued over media is not checked"
                ));
                continue;
            }
            (Some(s), None) => ("SQL Server backup checksum", s),
            (None, Some(c)) => (
                "MTF XOR-32 (over the stream's parts on all media)",
                c.then(xor, p.len).xor,
            ),
            (None, None) => ("MTF XOR-32", xor),
        };
        let ok = stored == computed;
        if !ok {
            v.errors.push(format!(
                "CSUM at {offset} for the {} stream at {}: stored {stored:#010x}, the data gives {computed:#010x}",
                p.id, p.offset
            ));
        }
        v.csums.push(CsumCheck {
            offset,
            covers: format!("{} at {}", p.id, p.offset),
            algorithm: alg.into(),
            stored: format!("{stored:#010x}"),
            computed: format!("{computed:#010x}"),
            ok,
        });
    }
    v.sets = b.sets.len();
    for s in &b.sets {
        if s.is_complete() {
            v.complete_sets += 1;
        } else if s.continues {
            // Whether the next medium was given is judged for the media set below.
        } else {
            v.errors.push(format!(
                "set {} (at {}) is incomplete: {}",
                s.position,
                s.offset(),
                if s.esets.is_empty() {
                    "no ESET"
                } else {
                    "not closed by a filemark"
                }
            ));
        }
    }
    Ok((v, carry_out))
}
