//! Randomized end-of-medium test.
//!
//! On emulated tapes of random capacity and early-warning zone, in fixed and
//! variable mode, with both ways st signals the write that enters the zone,
//! it writes blocks and filemarks until early warning, goes on for a while
//! (sometimes after repositioning to end of data, which resets st's state),
//! and hits the end of the medium. After every single write it checks the
//! decision against the medium itself: `Ok` must have added exactly one
//! object, an end-of-medium error none. Then it reads the whole tape back:
//! every object reported written is there once, in order, and nothing else.
//!
//! The emulated drive answers like st (ENOSPC with or without the block
//! written, refusals after early warning), and the decisions are taken by
//! the same code as for the real driver, so this checks that code.
//! `TAPE_SYS_RANDOM_RUNS` and `TAPE_SYS_RANDOM_SEED` change the run count
//! (default 1500) and the seed.

use tape_sys::{
    BlockSize, EarlyWarningSignal, EmulatedOptions, EmulatedTape, EomStats, ReadResult, TapeDevice,
    TapeError, WriteResult,
};

/// SplitMix64: small, seedable, good enough to pick test parameters.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Obj {
    Block { tag: u32, len: usize },
    Filemark,
}

fn block(tag: u32, len: usize) -> Vec<u8> {
    let mut v: Vec<u8> = (0..len)
        .map(|i| (tag as usize ^ i.wrapping_mul(13)) as u8)
        .collect();
    let t = tag.to_le_bytes();
    let n = len.min(4);
    v[..n].copy_from_slice(&t[..n]);
    v
}

#[derive(Default)]
struct Totals {
    stats: EomStats,
    blocks: u64,
    filemarks: u64,
    early_warnings: u64,
    ends: u64,
    without_warning: u64,
}

/// One run; returns a description of the first violation.
fn one_run(seed: u64, totals: &mut Totals, dir: &std::path::Path) -> Result<(), String> {
    let mut rng = Rng(seed);
    let capacity = rng.range(64, 96 * 1024);
    let ew = match rng.range(0, 3) {
        0 => rng.range(0, 64),
        1 => rng.range(0, capacity / 4),
        _ => capacity / rng.range(4, 64),
    };
    let signal = if rng.chance(50) {
        EarlyWarningSignal::Enospc
    } else {
        EarlyWarningSignal::Status
    };
    let opts = EmulatedOptions::new()
        .capacity(capacity)
        .early_warning(ew)
        .early_warning_signal(signal);
    let fixed = if rng.chance(35) {
        Some([1u32, 2, 16, 512, 1000][rng.range(0, 4) as usize])
    } else {
        None
    };
    let max_len = rng.range(1, 4096) as usize;
    let fm_percent = rng.range(0, 20);
    let file_backed = seed % 10 == 0;
    let path = dir.join(format!("run-{seed:x}.tap"));
    let mut tape = if file_backed {
        EmulatedTape::create(&path, opts.clone()).map_err(|e| e.to_string())?
    } else {
        EmulatedTape::in_memory(opts.clone())
    };
    let ctx = format!(
        "seed {seed:#x}: capacity {capacity}, ew {ew}, {signal:?}, {fixed:?}, max_len {max_len}, file {file_backed}"
    );
    if let Some(bs) = fixed {
        tape.set_block_size(BlockSize::Fixed(bs))
            .map_err(|e| format!("{ctx}: setblk: {e}"))?;
    }

    let mut expected: Vec<Obj> = Vec::new();
    let mut tag = 0u32;
    let mut seen_ew = false;
    let mut ended = false;
    let mut extra_after_ew = rng.range(0, 40);
    let mut steps = 0u64;
    loop {
        steps += 1;
        if steps > 1_000_000 {
            return Err(format!("{ctx}: never reached the end"));
        }
        if seen_ew {
            if extra_after_ew == 0 {
                break;
            }
            extra_after_ew -= 1;
            if rng.chance(5) {
                // Repositioning resets st's end-of-medium state; writing at
                // end of data again must still decide right.
                let n = tape.objects();
                tape.rewind().map_err(|e| format!("{ctx}: rewind: {e}"))?;
                implicit_filemark(&tape, n, &mut expected);
                tape.end_of_data().map_err(|e| format!("{ctx}: eod: {e}"))?;
                // The emulated medium counts bytes: after repositioning, a
                // smaller block than the refused one may still fit.
                ended = false;
                if tape.tell().unwrap() != expected.len() as u64 {
                    return Err(format!(
                        "{ctx}: EOD at {} with {} objects",
                        tape.tell().unwrap(),
                        expected.len()
                    ));
                }
            }
        }
        let before = tape.objects();
        let result = if rng.chance(fm_percent) {
            tape.write_filemarks(1).map(|r| (r, Obj::Filemark))
        } else {
            tag += 1;
            let len = fixed.map_or_else(|| rng.range(1, max_len as u64) as usize, |bs| bs as usize);
            tape.write_block(&block(tag, len))
                .map(|r| (r, Obj::Block { tag, len }))
        };
        let after = tape.objects();
        match result {
            Ok((r, obj)) => {
                if after != before + 1 {
                    return Err(format!("{ctx}: {obj:?} reported written ({r:?}) but the medium went {before} -> {after}"));
                }
                if ended {
                    return Err(format!("{ctx}: {obj:?} written after end of medium"));
                }
                expected.push(obj);
                if r == WriteResult::EarlyWarning {
                    if !tape.status().unwrap().eot {
                        return Err(format!("{ctx}: EarlyWarning without EOT status"));
                    }
                    if !seen_ew {
                        totals.early_warnings += 1;
                    }
                    seen_ew = true;
                }
            }
            Err(TapeError::EndOfMedium) => {
                if after != before {
                    return Err(format!(
                        "{ctx}: EndOfMedium but the medium went {before} -> {after}"
                    ));
                }
                if !seen_ew {
                    // A zone smaller than a block: the end came first.
                    totals.without_warning += 1;
                }
                if !ended {
                    totals.ends += 1;
                }
                ended = true;
                seen_ew = true;
                if extra_after_ew > 3 {
                    extra_after_ew = 3;
                }
            }
            Err(e) => return Err(format!("{ctx}: write: {e}")),
        }
        if tape.used_bytes() > capacity {
            return Err(format!(
                "{ctx}: {} bytes used of {capacity}",
                tape.used_bytes()
            ));
        }
    }

    totals.stats.enospc_written += tape.stats().eom.enospc_written;
    totals.stats.enospc_not_written += tape.stats().eom.enospc_not_written;
    totals.stats.end_of_medium += tape.stats().eom.end_of_medium;

    // Read everything back, through a reopened image when file-backed.
    let n = tape.objects();
    if file_backed {
        let image_len = std::fs::metadata(&path).unwrap().len();
        tape.close().map_err(|e| format!("{ctx}: close: {e}"))?;
        // Closing after a block write adds a filemark when there is room.
        if std::fs::metadata(&path).unwrap().len() == image_len + 4 {
            expected.push(Obj::Filemark);
        }
        tape = EmulatedTape::open(&path, opts).map_err(|e| format!("{ctx}: reopen: {e}"))?;
        if let Some(bs) = fixed {
            tape.set_block_size(BlockSize::Fixed(bs)).unwrap();
        }
    } else {
        tape.rewind().map_err(|e| format!("{ctx}: rewind: {e}"))?;
        implicit_filemark(&tape, n, &mut expected);
    }
    let mut buf = vec![0u8; 1 << 16];
    for (i, want) in expected.iter().enumerate() {
        let got = match tape.read_block(&mut buf) {
            Ok(ReadResult::Data(n)) => {
                let Obj::Block { tag, len } = *want else {
                    return Err(format!(
                        "{ctx}: object {i}: a {n}-byte block instead of a filemark"
                    ));
                };
                if buf[..n] != block(tag, len)[..] {
                    return Err(format!("{ctx}: object {i}: block {tag} content differs"));
                }
                Obj::Block { tag, len: n }
            }
            Ok(ReadResult::Filemark) => Obj::Filemark,
            Ok(ReadResult::EndOfData) => {
                return Err(format!(
                    "{ctx}: end of data after {i} of {} objects (lost)",
                    expected.len()
                ))
            }
            Err(e) => return Err(format!("{ctx}: read {i}: {e}")),
        };
        if got != *want {
            return Err(format!(
                "{ctx}: object {i}: {got:?}, expected {want:?} (lost or duplicated)"
            ));
        }
        if got == Obj::Filemark {
            totals.filemarks += 1;
        } else {
            totals.blocks += 1;
        }
    }
    match tape.read_block(&mut buf) {
        Ok(ReadResult::EndOfData) => Ok(()),
        r => Err(format!(
            "{ctx}: after the last written object: {r:?} (written but reported not)"
        )),
    }
}

/// A rewind directly after a block write writes a filemark (when there is
/// room): the contract. Expect it when the medium grew by one object.
fn implicit_filemark(tape: &EmulatedTape, objects_before: usize, expected: &mut Vec<Obj>) {
    if tape.objects() == objects_before + 1 {
        expected.push(Obj::Filemark);
    }
}

#[test]
fn randomized_fill_until_early_warning() {
    let runs: u64 = std::env::var("TAPE_SYS_RANDOM_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500);
    let base: u64 = std::env::var("TAPE_SYS_RANDOM_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x7A9E_5EED);
    let dir = tempfile::tempdir().unwrap();
    let mut totals = Totals::default();
    let mut failures = Vec::new();
    for run in 0..runs {
        if let Err(e) = one_run(base.wrapping_add(run), &mut totals, dir.path()) {
            failures.push(e);
        }
    }
    println!(
        "{runs} runs: {} blocks and {} filemarks read back; early warning in {} runs, end of medium in {}, \
         end without warning in {}; ENOSPC decided written {} times, not written {} times",
        totals.blocks,
        totals.filemarks,
        totals.early_warnings,
        totals.ends,
        totals.without_warning,
        totals.stats.enospc_written,
        totals.stats.enospc_not_written,
    );
    assert!(
        failures.is_empty(),
        "{} of {runs} runs failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        runs < 100 || totals.stats.enospc_written > 0,
        "no ENOSPC-but-written case exercised"
    );
    assert!(
        runs < 100 || totals.stats.enospc_not_written > 0,
        "no refused write exercised"
    );
    assert!(
        runs < 100 || totals.ends > runs / 2,
        "too few runs reached the end of the medium"
    );
}
