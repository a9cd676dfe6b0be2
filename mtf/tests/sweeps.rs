//! Systematic damage to real media: every single-bit flip in the first 16 KiB of two real
//! samples, truncation at every FLB boundary, and every length field (block Offset To First
//! Event, stream lengths, SFMB counts, string and OS data tape address sizes, set map and FDD
//! counts and lengths) set to 0, 1 and its maximum, with the checksums fixed up so the damage
//! gets past them.
//!
//! Every damaged medium is walked in both modes. Each walk gives pieces that are exactly the
//! input's bytes, in order, or ends with a typed error naming an offset, never a panic; the
//! heap stays within a small multiple of the input (a counting global allocator measures it);
//! and in resync mode every data set (SSET) that lies wholly before the damage is still
//! reported, at its offset. Damaged catalog payloads decode to exactly their bytes or fail
//! typed.
//!
//! The samples are the multi-set SQL Server 2005 backup (two sets, 3.5 MiB) and a SQL Server
//! 2008 R2 log backup with checksums; the length-field sweep also covers `testdata/small.bkf`
//! (this project's own medium: DIRB, FILE, CSUM, SFMB, Type 1 catalog). Without the foreign
//! samples those parts print a notice and skip.

mod common;

use mtf::block::Body;
use mtf::checksum::xor16;
use mtf::reader::{Event as ReaderEvent, Reader, SeekSource};
use mtf::spec::{BlockType, StreamId};
use mtf::stream::catalog1::{Fdd, SetMap};
use mtf::walk::{Event, Mode, Walker, READ_STEP};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Counts live heap bytes per thread, and the peak, so a test can bound what a walk allocates.
struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let _ = LIVE.try_with(|c| {
            let v = c.get() + l.size() as isize;
            c.set(v);
            let _ = PEAK.try_with(|p| p.set(p.get().max(v)));
        });
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        let _ = LIVE.try_with(|c| c.set(c.get() - l.size() as isize));
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static A: Counting = Counting;

const MULTISET: &str = "sql2005_multiset_stdb2sql.bak";
const LOG: &str = "sql2008r2_log_checksum_cubequery.trn";

fn foreign(name: &str) -> Option<Vec<u8>> {
    let dir = common::foreign_dir()?;
    Some(std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}")))
}

fn own_medium() -> Vec<u8> {
    std::fs::read(common::workspace_root().join("testdata/small.bkf")).expect("testdata/small.bkf")
}

/// Peak heap a walk may use: the read buffer (the input plus at most one read step) and the
/// pieces in flight; never what a length field asks for.
fn bound(len: usize) -> isize {
    (2 * len + 3 * READ_STEP) as isize
}

/// What one walk found: the SSET offsets (resync mode) and the peak heap.
struct Walked {
    ssets: Vec<u64>,
    peak: isize,
}

/// Walks `input` in both modes, checking the invariants; `what` names the damage in messages.
fn walk(input: &[u8], what: &dyn Fn() -> String) -> Walked {
    let base = LIVE.with(|c| c.get());
    PEAK.with(|p| p.set(base));
    let mut ssets = Vec::new();
    let mut covered = 0u64;
    let mut ended_clean = true;
    for ev in Walker::new(input) {
        match ev {
            Ok(ev) => {
                assert_eq!(ev.offset(), covered, "{}: events not contiguous", what());
                covered += ev.len();
                match &ev {
                    Event::Block { offset, dblk } if dblk.block_type() == BlockType::SSET => {
                        ssets.push(*offset)
                    }
                    Event::Gap {
                        reason: Some(r), ..
                    } => assert!(r.offset().is_some(), "{}: gap reason {r}", what()),
                    _ => {}
                }
            }
            Err(e) => {
                assert!(
                    e.offset().is_some(),
                    "{}: error without offset: {e}",
                    what()
                );
                ended_clean = false;
                break;
            }
        }
    }
    assert!(covered <= input.len() as u64, "{}", what());
    if ended_clean {
        assert_eq!(covered, input.len() as u64, "{}: bytes unaccounted", what());
    }
    for ev in Walker::with_mode(input, Mode::Strict) {
        if let Err(e) = ev {
            assert!(e.offset().is_some(), "{}: strict error {e}", what());
            break;
        }
    }
    let peak = PEAK.with(|p| p.get()) - base;
    assert!(
        peak <= bound(input.len()),
        "{}: peak heap {peak} for {} bytes",
        what(),
        input.len()
    );
    same_frames_as_the_dumper(input, what);
    Walked { ssets, peak }
}

/// The blocks and stream headers (offset and type) the codec walk finds, and those the reader
/// finds as `mtfdump` runs it (over a seekable source, skipping data by seeking) must be the
/// same: one framer serves both.
fn same_frames_as_the_dumper(input: &[u8], what: &dyn Fn() -> String) {
    let walked: Vec<(u64, String)> = Walker::new(input)
        .map_while(|e| e.ok())
        .filter_map(|e| match e {
            Event::Block { offset, dblk } => Some((offset, dblk.block_type().to_string())),
            Event::Stream { offset, header } => Some((offset, header.id.to_string())),
            _ => None,
        })
        .collect();
    let mut r = Reader::new(SeekSource::new(std::io::Cursor::new(input)));
    let mut read = Vec::new();
    while let Ok(Some(ev)) = r.next_event() {
        match ev {
            ReaderEvent::Block { offset, dblk } => {
                read.push((offset, dblk.block_type().to_string()))
            }
            ReaderEvent::Stream { offset, header } => read.push((offset, header.id.to_string())),
            _ => {}
        }
    }
    assert_eq!(
        walked,
        read,
        "{}: the walk and the dumper's reader differ",
        what()
    );
}

/// The clean medium's data sets: (SSET offset, end of its header region). A cut sample's walk
/// ends with a truncation error, after its sets.
fn sets_of(input: &[u8]) -> Vec<(u64, u64)> {
    Walker::with_mode(input, Mode::Strict)
        .map_while(|e| e.ok())
        .filter_map(|e| match e {
            Event::Block { offset, dblk } if dblk.block_type() == BlockType::SSET => {
                Some((offset, offset + dblk.encoded_len() as u64))
            }
            _ => None,
        })
        .collect()
}

/// Checks that every set wholly before `damage` is still reported.
fn sets_before_still_listed(
    sets: &[(u64, u64)],
    damage: u64,
    got: &[u64],
    what: &dyn Fn() -> String,
) {
    for &(at, end) in sets {
        if end <= damage {
            assert!(
                got.contains(&at),
                "{}: the set at {at} (before the damage) is not listed; found {got:?}",
                what()
            );
        }
    }
}

/// Runs `f` over `0..n` on two threads (CI has two cores) and returns the worst peak.
fn in_parallel(n: usize, f: impl Fn(usize) -> isize + Sync) -> isize {
    let threads = 2;
    let per = n.div_ceil(threads);
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|t| {
                let f = &f;
                s.spawn(move || (t * per..((t + 1) * per).min(n)).map(f).max().unwrap_or(0))
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).max().unwrap()
    })
}

/// Every single-bit flip in the first 16 KiB of a sample, walked over the first 32 KiB (the
/// flips' effects are local; walking the whole file 131,072 times would add nothing).
fn bit_flips(name: &str) {
    let Some(data) = foreign(name) else { return };
    let data = &data[..data.len().min(32 * 1024)];
    let sets = sets_of(data);
    assert!(!sets.is_empty(), "{name}: no SSET in the first 32 KiB");
    let end = data.len().min(16 * 1024);
    let worst = in_parallel(end, |pos| {
        let mut buf = data.to_vec();
        let mut worst = 0;
        for bit in 0..8 {
            buf[pos] ^= 1 << bit;
            let what = || format!("{name}: bit {bit} of byte {pos} flipped");
            let w = walk(&buf, &what);
            sets_before_still_listed(&sets, pos as u64, &w.ssets, &what);
            worst = worst.max(w.peak);
            buf[pos] ^= 1 << bit;
        }
        worst
    });
    println!(
        "{name}: {} bit flips walked in both modes; worst peak heap {worst} bytes",
        end * 8
    );
}

#[test]
fn every_bit_flip_in_the_first_16k_of_the_multiset_backup() {
    bit_flips(MULTISET);
}

#[test]
fn every_bit_flip_in_the_first_16k_of_the_log_backup() {
    bit_flips(LOG);
}

/// Truncation at every FLB boundary (from the TAPE block) of a whole sample.
fn truncations(name: &str) {
    let Some(data) = foreign(name) else { return };
    let flb = Walker::new(&data[..])
        .find_map(|e| match e {
            Ok(Event::Block { dblk, .. }) => match dblk.body {
                Body::Tape(t) => Some(t.format_logical_block_size as usize),
                _ => None,
            },
            _ => None,
        })
        .expect("a TAPE block");
    assert!(flb == 512 || flb == 1024, "{name}: FLB {flb}");
    let sets = sets_of(&data);
    let cuts = data.len() / flb + 1;
    let worst = in_parallel(cuts, |k| {
        let cut = k * flb;
        let what = || format!("{name}: truncated at {cut}");
        let w = walk(&data[..cut], &what);
        sets_before_still_listed(&sets, cut as u64, &w.ssets, &what);
        w.peak
    });
    println!("{name}: {cuts} truncations at FLB boundaries; worst peak heap {worst} bytes");
}

/// Lists a damaged medium as `mtfdump sets` does (`mtf::reader::list_sets` from a seekable
/// source, so the soft filemark catalog is tried first) and checks that every set wholly before
/// the damage at `damage` is listed at its offset; a listing may fail (typed) only when the
/// damage is in the media header, before every set.
fn listed(input: &[u8], sets: &[(u64, u64)], damage: u64, what: &dyn Fn() -> String) {
    use mtf::reader::{list_sets, Reader, SeekSource};
    let src = SeekSource::new(std::io::Cursor::new(input));
    match list_sets(Reader::new(src)) {
        Ok(l) => {
            let got: Vec<u64> = l.sets.iter().map(|s| s.offset()).collect();
            sets_before_still_listed(sets, damage, &got, what);
        }
        Err(e) => {
            assert!(e.offset().is_some(), "{}: {e}", what());
            assert!(
                sets.iter().all(|&(_, end)| end > damage),
                "{}: listing failed: {e}",
                what()
            );
        }
    }
}

/// The same truncations, listed as `mtfdump sets` lists them (`mtf::reader::list_sets`, from a
/// seekable source): every set wholly before the cut is still listed, at its offset.
fn truncations_listed(name: &str) {
    let Some(data) = foreign(name) else { return };
    let sets = sets_of(&data);
    let flb = 1024;
    let cuts = data.len() / flb + 1;
    in_parallel(cuts, |k| {
        let cut = k * flb;
        let what = || format!("{name}: truncated at {cut}, listed");
        listed(&data[..cut], &sets, cut as u64, &what);
        0
    });
}

#[test]
fn truncation_at_every_flb_boundary_still_lists_the_sets_before_it() {
    truncations_listed(MULTISET);
    truncations_listed(LOG);
}

#[test]
fn truncation_at_every_flb_boundary_of_the_multiset_backup() {
    truncations(MULTISET);
}

#[test]
fn truncation_at_every_flb_boundary_of_the_log_backup() {
    truncations(LOG);
}

/// Where a length field lies and how wide it is.
#[derive(Clone, Copy, Debug)]
enum Fix {
    /// A field in a block header region: fix the block header checksum (at `block`).
    Block { block: usize },
    /// A field in a stream header: fix the stream header checksum (at `stream`).
    Stream { stream: usize },
    /// A field in a stream's data (no checksum covers it); `data` is where the data starts and
    /// `len` its length, `id` the stream.
    Payload {
        data: usize,
        len: usize,
        id: StreamId,
    },
}

#[derive(Clone, Copy, Debug)]
struct Field {
    name: &'static str,
    at: usize,
    width: usize,
    fix: Fix,
}

/// Tape address size fields (offset of the size word within the block) per block type.
fn address_fields(t: BlockType) -> &'static [(&'static str, usize)] {
    match t {
        BlockType::TAPE => &[
            ("TAPE media name size", 68),
            ("TAPE media description size", 72),
            ("TAPE media password size", 76),
            ("TAPE software name size", 80),
        ],
        BlockType::SSET => &[
            ("SSET data set name size", 64),
            ("SSET description size", 68),
            ("SSET password size", 72),
            ("SSET user name size", 76),
        ],
        BlockType::VOLB => &[
            ("VOLB device name size", 56),
            ("VOLB volume name size", 60),
            ("VOLB machine name size", 64),
        ],
        BlockType::DIRB => &[("DIRB directory name size", 80)],
        BlockType::FILE => &[("FILE file name size", 84)],
        _ => &[],
    }
}

/// Every length field of a clean medium.
fn length_fields(data: &[u8]) -> Vec<Field> {
    let mut fields = Vec::new();
    let mut stream: Option<(StreamId, usize, usize)> = None; // id, data start, length
    for ev in Walker::new(data) {
        let ev = ev.expect("clean medium walks");
        match ev {
            Event::Block { offset, dblk } => {
                let b = offset as usize;
                let fix = Fix::Block { block: b };
                let mut add = |name, at, width| {
                    fields.push(Field {
                        name,
                        at,
                        width,
                        fix,
                    })
                };
                add("offset to first event", b + 8, 2);
                add("OS data size", b + 44, 2);
                for &(name, off) in address_fields(dblk.block_type()) {
                    add(name, b + off, 2);
                }
                match dblk.block_type() {
                    BlockType::TAPE => {
                        add("TAPE soft filemark block size", b + 64, 2);
                        add("TAPE FLB size", b + 84, 2);
                    }
                    BlockType::SFMB => {
                        add("SFMB number of entries", b + 52, 4);
                        add("SFMB entries used", b + 56, 4);
                    }
                    _ => {}
                }
            }
            Event::Stream { offset, header } => {
                let s = offset as usize;
                fields.push(Field {
                    name: "stream length",
                    at: s + 8,
                    width: 8,
                    fix: Fix::Stream { stream: s },
                });
                stream = Some((header.id, s + 22, header.length as usize));
            }
            Event::Data { .. } | Event::Pad { .. } => {}
            _ => stream = None,
        }
        // Catalog payloads, once their stream header is seen.
        if let Some((id, d, len)) = stream.take() {
            let fix = Fix::Payload { data: d, len, id };
            let payload = &data[d..(d + len).min(data.len())];
            if id == StreamId::TSMP {
                if let Ok(m) = SetMap::decode(payload) {
                    fields.push(Field {
                        name: "set map number of entries",
                        at: d + 4,
                        width: 2,
                        fix,
                    });
                    let mut e = d + 8;
                    for entry in &m.entries {
                        for (name, off) in [
                            ("set map entry length", 0),
                            ("set map number of volumes", 60),
                            ("set map data set name size", 64),
                            ("set map password size", 68),
                            ("set map description size", 72),
                            ("set map user name size", 76),
                        ] {
                            fields.push(Field {
                                name,
                                at: e + off,
                                width: 2,
                                fix,
                            });
                        }
                        let mut v = e + entry.length as usize;
                        for vol in &entry.volumes {
                            fields.push(Field {
                                name: "set map volume entry length",
                                at: v,
                                width: 2,
                                fix,
                            });
                            v += vol.encoded_len();
                        }
                        e += entry.encoded_len();
                    }
                }
            } else if id == StreamId::TFDD {
                for r in Fdd::entries(payload) {
                    let Ok((at, _)) = r else { break };
                    fields.push(Field {
                        name: "FDD entry length",
                        at: d + at,
                        width: 2,
                        fix,
                    });
                }
            }
        }
    }
    fields
}

/// Sets a field to `value` (truncated to its width) and fixes the checksum that covers it.
fn set_field(buf: &mut [u8], f: &Field, value: u64) {
    buf[f.at..f.at + f.width].copy_from_slice(&value.to_le_bytes()[..f.width]);
    match f.fix {
        Fix::Block { block } if f.at < block + 52 => {
            let c = xor16(&buf[block..block + 50]);
            buf[block + 50..block + 52].copy_from_slice(&c.to_le_bytes());
        }
        Fix::Stream { stream } => {
            let c = xor16(&buf[stream..stream + 20]);
            buf[stream + 20..stream + 22].copy_from_slice(&c.to_le_bytes());
        }
        _ => {}
    }
}

fn length_field_sweep(name: &str, data: &[u8]) {
    let sets = sets_of(data);
    let fields = length_fields(data);
    let mut kinds: Vec<&str> = fields.iter().map(|f| f.name).collect();
    kinds.sort();
    kinds.dedup();
    let worst = in_parallel(fields.len(), |i| {
        let f = &fields[i];
        let max = if f.width == 8 {
            u64::MAX
        } else {
            (1u64 << (8 * f.width)) - 1
        };
        let mut worst = 0;
        for value in [0, 1, max] {
            let mut buf = data.to_vec();
            set_field(&mut buf, f, value);
            if buf == data {
                continue;
            }
            let what = || format!("{name}: {} at {} set to {value}", f.name, f.at);
            let w = walk(&buf, &what);
            sets_before_still_listed(&sets, f.at as u64, &w.ssets, &what);
            worst = worst.max(w.peak);
            listed(&buf, &sets, f.at as u64, &what);
            if let Fix::Payload { data: d, len, id } = f.fix {
                let p = &buf[d..(d + len).min(buf.len())];
                let back = match id {
                    StreamId::TSMP => SetMap::decode(p).map(|m| m.encode_raw()),
                    _ => Fdd::decode(p).map(|m| m.encode_raw()),
                };
                match back {
                    Ok(v) => assert_eq!(v, p, "{}: decoded value is not the bytes", what()),
                    Err(e) => assert!(e.offset().is_some(), "{}: {e}", what()),
                }
            }
        }
        worst
    });
    println!(
        "{name}: {} length fields ({} kinds: {}) set to 0, 1 and max; worst peak heap {worst} bytes",
        fields.len(),
        kinds.len(),
        kinds.join(", ")
    );
}

#[test]
fn length_fields_at_zero_one_and_max_in_the_samples() {
    for name in [MULTISET, LOG] {
        let Some(data) = foreign(name) else { return };
        length_field_sweep(name, &data);
    }
}

#[test]
fn length_fields_at_zero_one_and_max_in_our_own_medium() {
    let data = own_medium();
    let fields = length_fields(&data);
    for kind in [
        "DIRB directory name size",
        "FILE file name size",
        "SFMB number of entries",
        "set map number of volumes",
        "FDD entry length",
        "stream length",
    ] {
        assert!(
            fields.iter().any(|f| f.name == kind),
            "testdata/small.bkf has no {kind}"
        );
    }
    length_field_sweep("testdata/small.bkf", &data);
}
