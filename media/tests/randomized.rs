//! Randomized: random capacities, 1 to 4 families, 0 to 2 mirrors, a changer that offers wrong
//! media at random (a medium of this very set, an unexpired medium of another set, a
//! write-protected one when writing; another family's or another sequence number's medium when
//! reading). No byte may be lost or duplicated, every wrong medium must be refused and left
//! unchanged. `MEDIA_RANDOM_RUNS` sets the number of runs (default 30).

mod common;

use common::*;
use media::changer::dir::DirectoryLibrary;
use media::changer::{open_path, MediaChanger, MediumRequest, Mounted, Purpose};
use media::decision::Operation;
use media::restore::{restore, MemoryFiles, ReadSpec};
use media::set::MediaSet;
use media::stripe::{StripeDevice, StripeOptions, StripedWriter};
use mtf::writer::EntryMeta;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tape_sys::EmulatedOptions;

#[derive(Default)]
struct Tally {
    /// Wrong media offered: (path, bytes before).
    offered: Vec<(PathBuf, Vec<u8>)>,
    refused: usize,
    accepted_wrong: Vec<String>,
}

/// A library that sometimes offers the wrong medium first.
struct Mischief {
    inner: DirectoryLibrary,
    rng: fastrand::Rng,
    p: f64,
    /// Media to offer wrongly when writing (read-only to everyone else).
    foreign: Vec<PathBuf>,
    /// This changer's own finished media (part of the set being written).
    own: Vec<PathBuf>,
    /// Every medium of the set, for wrong offers when reading.
    all: Vec<PathBuf>,
    tally: Arc<Mutex<Tally>>,
}

fn family_seq(p: &Path) -> Option<(u16, u16)> {
    let s = p.file_name()?.to_str()?;
    let f = s.split("-f").nth(1)?.split('-').next()?.parse().ok()?;
    let m = s
        .split("-m")
        .nth(1)?
        .split(['.', '-'])
        .next()?
        .parse()
        .ok()?;
    Some((f, m))
}

impl MediaChanger for Mischief {
    fn mount(&mut self, req: &MediumRequest) -> io::Result<Mounted> {
        if self.rng.f64() < self.p {
            let pool: Vec<PathBuf> = match req.purpose {
                Purpose::Write => self
                    .foreign
                    .iter()
                    .chain(self.own.iter())
                    .cloned()
                    .collect(),
                Purpose::Read => self
                    .all
                    .iter()
                    .filter(|p| family_seq(p) != Some((req.family_number, req.sequence)))
                    .cloned()
                    .collect(),
            };
            if !pool.is_empty() {
                let p = pool[self.rng.usize(0..pool.len())].clone();
                let wp = p.file_name().unwrap().to_str().unwrap().starts_with("wp");
                let before = std::fs::read(&p).unwrap();
                self.tally.lock().unwrap().offered.push((p.clone(), before));
                let device = open_path(&p, false, EmulatedOptions::new().write_protected(wp))?;
                return Ok(Mounted {
                    device,
                    name: format!("WRONG:{}", p.display()),
                });
            }
        }
        self.inner.mount(req)
    }

    fn refused(&mut self, m: Mounted, why: &str) -> io::Result<()> {
        if m.name.starts_with("WRONG:") {
            self.tally.lock().unwrap().refused += 1;
            Ok(())
        } else {
            self.inner.refused(m, why)
        }
    }

    fn done(&mut self, m: Mounted) -> io::Result<()> {
        if m.name.starts_with("WRONG:") {
            self.tally
                .lock()
                .unwrap()
                .accepted_wrong
                .push(m.name.clone());
            return Ok(());
        }
        self.own.push(PathBuf::from(&m.name));
        self.inner.done(m)
    }
}

/// Returns (wrong media offered and refused, media written).
fn one_run(seed: u64) -> (usize, usize) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let dir = tempfile::tempdir().unwrap();
    let lib = dir.path().join("lib");
    let families = rng.u16(1..=4);
    let mirrors = rng.u8(1..=3);
    let t = tree(seed, rng.usize(1..40), rng.usize(1..20_000));
    let total: usize = t.iter().map(|e| e.2.len()).sum();
    let per_family = total / families as usize;
    // From "everything fits" to several media per family.
    let cap = (per_family / rng.usize(1..=4) + rng.usize(60..100) * 1024) as u64;
    let tally = Arc::new(Mutex::new(Tally::default()));
    if std::env::var("MEDIA_RANDOM_DEBUG").is_ok() {
        eprintln!("seed {seed}: {families} families, {mirrors} copies, {} files, {total} bytes, capacity {cap}", t.len());
    }
    // An unexpired medium of another set and a write-protected blank, to be offered wrongly.
    let other = dir.path().join("other.tap");
    {
        let mut b = backup_set();
        b.expires = Some(NOW + 86_400);
        backup_tree_as(
            &dir.path().join("o"),
            1,
            1,
            1 << 30,
            &tree(seed ^ 1, 2, 100),
            b,
        );
        let made = std::fs::read_dir(dir.path().join("o"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        std::fs::rename(made, &other).unwrap();
    }
    let wp = dir.path().join("wp-blank.tap");
    open_path(&wp, true, EmulatedOptions::new()).unwrap();
    let p = if rng.bool() { 0.3 } else { 0.0 };
    let mut set = MediaSet::new("RND", families);
    set.mirror_count = mirrors;
    let mut devices = Vec::new();
    for f in 1..=families {
        let mut ms = Vec::new();
        for m in 0..mirrors {
            let mut inner = DirectoryLibrary::new(&lib, tape(cap)).unwrap();
            let first = inner.mount(&write_request(&set, f, m)).unwrap();
            let changer = Mischief {
                inner,
                rng: fastrand::Rng::with_seed(seed * 31 + f as u64 * 7 + m as u64),
                p,
                foreign: vec![other.clone(), wp.clone()],
                own: Vec::new(),
                all: Vec::new(),
                tally: tally.clone(),
            };
            ms.push(StripeDevice {
                first,
                changer: Box::new(changer),
            });
        }
        devices.push(ms);
    }
    let mut opts = StripeOptions::new(Operation::Format, NOW);
    opts.write.block_size = BLOCK;
    opts.chunk = rng.usize(500..5000);
    opts.queue = rng.usize(1..6);
    let mut b = backup_set();
    b.options.checksums = rng.bool();
    let mut w = StripedWriter::start(devices, set.clone(), &opts, b).unwrap();
    let shared = rng.bool();
    for (d, n, data) in &t {
        if shared {
            // The same bytes handed over as shared buffers of random sizes.
            let mut chunks = Vec::new();
            let mut at = 0;
            while at < data.len() {
                let k = rng.usize(1..=data.len() - at);
                chunks.push(Arc::<[u8]>::from(&data[at..at + k]));
                at += k;
            }
            w.add_file_chunks(
                d,
                n,
                &EntryMeta::default(),
                data.len() as u64,
                &mut chunks.into_iter(),
            )
            .unwrap();
        } else {
            w.add_file(
                d,
                n,
                &EntryMeta::default(),
                data.len() as u64,
                &mut &data[..],
            )
            .unwrap();
        }
    }
    let report = w.finish().unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    // Mirrors wrote the same bytes as their originals.
    for f in report.families.iter().filter(|f| f.mirror > 0) {
        let orig = report
            .families
            .iter()
            .find(|o| o.family_number == f.family_number && o.mirror == 0)
            .unwrap();
        assert_eq!(f.used.len(), orig.used.len(), "seed {seed}");
        for (a, b) in f.used.iter().zip(&orig.used) {
            let (x, y) = (
                std::fs::read(&a.name).unwrap_or_else(|e| panic!("{}: {e}", a.name)),
                std::fs::read(&b.name).unwrap_or_else(|e| panic!("{}: {e}", b.name)),
            );
            assert!(
                x == y,
                "seed {seed}: mirror {} differs from {}",
                a.name,
                b.name
            );
        }
    }
    // Restore with a random number of devices, mistakes included.
    let all: Vec<PathBuf> = report
        .families
        .iter()
        .flat_map(|f| f.used.iter().map(|u| PathBuf::from(&u.name)))
        .collect();
    let n_dev = rng.usize(1..=families as usize);
    let changers: Vec<Box<dyn MediaChanger>> = (0..n_dev)
        .map(|d| {
            Box::new(Mischief {
                inner: DirectoryLibrary::new(&lib, EmulatedOptions::new()).unwrap(),
                rng: fastrand::Rng::with_seed(seed ^ (d as u64 + 99)),
                p,
                foreign: Vec::new(),
                own: Vec::new(),
                all: all.clone(),
                tally: tally.clone(),
            }) as Box<dyn MediaChanger>
        })
        .collect();
    let mut out = MemoryFiles::default();
    restore(changers, &ReadSpec::default(), &mut out)
        .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    assert!(
        out.duplicates.is_empty(),
        "seed {seed}: duplicated {:?}",
        out.duplicates
    );
    assert_eq!(
        out.files,
        expected(&t),
        "seed {seed}: restored bytes differ"
    );
    let tally = tally.lock().unwrap();
    assert!(
        tally.accepted_wrong.is_empty(),
        "seed {seed}: accepted {:?}",
        tally.accepted_wrong
    );
    assert_eq!(
        tally.refused,
        tally.offered.len(),
        "seed {seed}: a wrong medium was not refused"
    );
    for (p, before) in &tally.offered {
        assert_eq!(
            &std::fs::read(p).unwrap(),
            before,
            "seed {seed}: {} changed",
            p.display()
        );
    }
    (tally.refused, all.len())
}

#[test]
fn random_media_sets_lose_and_duplicate_nothing_and_refuse_every_wrong_medium() {
    let runs: u64 = std::env::var("MEDIA_RANDOM_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let base: u64 = std::env::var("MEDIA_RANDOM_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let (mut refused, mut media, mut multi) = (0, 0, 0);
    for i in 0..runs {
        let (r, m) = one_run(base + i);
        refused += r;
        media += m;
        multi += usize::from(m > 4);
    }
    eprintln!("{runs} runs: {media} media written, {refused} wrong media offered and refused, {multi} runs over more than 4 media");
    if runs >= 10 {
        assert!(
            refused > 0 && multi > 0,
            "the runs exercised no mistakes or no continuation"
        );
    }
}
