//! Property: everything mtfpack writes, mtfdump reads. For every physical block size the writer
//! accepts (each multiple of the FLB size up to `MAX_BLOCK_SIZE`, both FLB sizes) and dates
//! drawn from MTF's whole range, a small tree packed the way `mtfpack` packs it verifies whole
//! and reads back with its date. Sizes the writer refuses are refused before anything is
//! written. `MTF_PACK_PROPERTY_CASES` sets how many block sizes of each FLB size are tried
//! (default: every one for FLB 1024, 64 spread over FLB 512; `0` = all).

use mtf::date::DateTime;
use mtf::writer::{check_options, FileSink, MediumOptions, Writer, MAX_BLOCK_SIZE};
use mtf_examples::dump::{self, Options, Outcome};
use mtf_examples::pack::{pack_tree, set_options};
use std::io::BufWriter;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A valid calendar date anywhere in MTF's range (years 0 to 16383).
fn any_date(r: &mut Rng) -> DateTime {
    let year = match r.below(4) {
        0 => r.below(3) as u16 * 8191,
        _ => r.below(16384) as u16,
    };
    let d = DateTime {
        year,
        month: 1 + r.below(12) as u8,
        day: 1 + r.below(28) as u8,
        hour: r.below(24) as u8,
        minute: r.below(60) as u8,
        second: r.below(60) as u8,
    };
    assert!(d.is_valid(), "{d:?}");
    d
}

fn sizes(flb: usize, cases: usize) -> Vec<usize> {
    let all: Vec<usize> = (1..=MAX_BLOCK_SIZE / flb).map(|k| k * flb).collect();
    if cases == 0 || cases >= all.len() {
        return all;
    }
    // The smallest, the largest, and an even spread between.
    let step = all.len() / cases;
    let mut v: Vec<usize> = all.iter().step_by(step.max(1)).copied().collect();
    v.push(*all.last().unwrap());
    v
}

#[test]
fn every_block_size_and_date_mtfpack_accepts_verifies() {
    let cases: Option<usize> = std::env::var("MTF_PACK_PROPERTY_CASES")
        .ok()
        .and_then(|s| s.parse().ok());
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir_all(src.join("sub/deeper")).unwrap();
    std::fs::write(src.join("empty"), b"").unwrap();
    std::fs::write(src.join("sub/small"), b"hello").unwrap();
    std::fs::write(
        src.join("sub/deeper/two-blocks"),
        (0..1_100_000u32)
            .map(|i| (i % 251) as u8)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let mut r = Rng(0x9e3779b97f4a7c15);
    let mut tried = 0;
    for (flb, n) in [(1024usize, cases.unwrap_or(0)), (512, cases.unwrap_or(64))] {
        for bs in sizes(flb, n) {
            let date = any_date(&mut r);
            let mut mo = MediumOptions::new("prop", r.next() as u32, date);
            mo.block_size = Some(bs);
            mo.flb_size = flb as u16;
            let set = set_options("prop", "", date, r.below(2) == 0);
            check_options(&mo, &set, false).unwrap_or_else(|e| panic!("{bs}/{flb}: {e}"));
            let out = tmp.path().join("m.bkf");
            let f = std::fs::File::create(&out).unwrap();
            let mut w = Writer::new(FileSink::new(BufWriter::new(f)), mo).unwrap();
            w.begin_set(set).unwrap();
            pack_tree(&mut w, &src, "HOST", date, &mut std::io::sink()).unwrap();
            w.end_set().unwrap();
            w.finish().unwrap().into_inner().into_inner().unwrap();
            let mut text = Vec::new();
            let o = dump::verify::run(std::slice::from_ref(&out), &Options::default(), &mut text)
                .unwrap();
            let text = String::from_utf8_lossy(&text);
            assert_eq!(
                o,
                Outcome::Ok,
                "block size {bs}, FLB {flb}, {date:?}:\n{text}"
            );
            // The date comes back as written.
            let media = dump::list_media(std::slice::from_ref(&out), &Options::default()).unwrap();
            let got = media[0].listing.sets[0]
                .sset()
                .media_write_date
                .to_datetime();
            assert_eq!(got, Some(date), "block size {bs}");
            tried += 1;
        }
    }
    println!("{tried} block size and date cases verified");
    // Beyond the largest size, and off the FLB grid: refused before anything is written.
    let date = any_date(&mut r);
    for (bs, flb) in [(MAX_BLOCK_SIZE + 1024, 1024), (1536, 1024), (1000, 512)] {
        let mut mo = MediumOptions::new("prop", 1, date);
        mo.block_size = Some(bs);
        mo.flb_size = flb;
        assert!(check_options(&mo, &set_options("p", "", date, false), false).is_err());
    }
}
