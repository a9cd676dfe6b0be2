//! Restart: a striped backup killed at a random point (between files or inside one) restarts
//! from its checkpoint (the media it completed); the result restores the same as an
//! uninterrupted run, the completed media are only read, never rewritten. `MEDIA_RESTART_RUNS`
//! sets the number of runs (default 100), `MEDIA_RANDOM_SEED` the first seed (default 1), and
//! `MEDIA_RESTART_KEEP=DIR` keeps each interrupted run's media in `DIR/seedN` to look at.

mod common;

use common::*;
use media::changer::dir::DirectoryLibrary;
use media::changer::MediaChanger;
use media::decision::Operation;
use media::restart::RestartPlan;
use media::restore::{restore, MemoryFiles, ReadSpec};
use media::set::MediaSet;
use media::stripe::{AbandonSwitch, StripeDevice, StripeOptions, StripedWriter};
use mtf::writer::EntryMeta;
use std::io::{self, Read};
use std::path::Path;

/// A source that kills the write after `left` bytes (the kill inside a file): it throws the
/// abandon switch, so every device stops where it is, then fails.
struct Dying<'a> {
    data: &'a [u8],
    left: usize,
    kill: AbandonSwitch,
}

impl Read for Dying<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            self.kill.abandon();
            return Err(io::Error::other("killed"));
        }
        let n = buf.len().min(self.left).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        self.left -= n;
        Ok(n)
    }
}

fn devices(dir: &Path, set: &MediaSet, mirrors: u8, cap: u64) -> Vec<Vec<StripeDevice>> {
    (1..=set.family_count)
        .map(|f| {
            (0..mirrors)
                .map(|m| {
                    let mut lib = DirectoryLibrary::new(dir, tape(cap)).unwrap();
                    let first = lib.mount(&write_request(set, f, m)).unwrap();
                    StripeDevice {
                        first,
                        changer: Box::new(lib),
                    }
                })
                .collect()
        })
        .collect()
}

fn options() -> StripeOptions {
    let mut o = StripeOptions::new(Operation::Format, NOW);
    o.write.block_size = BLOCK;
    o.chunk = 2000;
    o.queue = 2;
    o
}

fn one_run(seed: u64) -> (usize, usize) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let dir = tempfile::tempdir().unwrap();
    let lib = dir.path().join("lib");
    let families = rng.u16(1..=3);
    let mirrors = rng.u8(1..=2);
    let t = tree(seed, rng.usize(5..30), rng.usize(2000..15_000));
    let total: usize = t.iter().map(|e| e.2.len()).sum();
    let cap = (total / families as usize / rng.usize(2..5) + 40 * 1024) as u64;
    let mut set = MediaSet::new("RESTART", families);
    set.mirror_count = mirrors;
    // The interrupted run: killed before file `k`, `inside` bytes into it.
    let k = rng.usize(0..t.len());
    let inside = rng.usize(0..=t[k].2.len());
    let mut w = StripedWriter::start(
        devices(&lib, &set, mirrors, cap),
        set.clone(),
        &options(),
        backup_set(),
    )
    .unwrap();
    for (d, n, data) in &t[..k] {
        w.add_file(
            d,
            n,
            &EntryMeta::default(),
            data.len() as u64,
            &mut &data[..],
        )
        .unwrap();
    }
    let (d, n, data) = &t[k];
    let r = w.add_file(
        d,
        n,
        &EntryMeta::default(),
        data.len() as u64,
        &mut Dying {
            data,
            left: inside,
            kill: w.abandon_switch(),
        },
    );
    // The devices stopped at the kill: the file is reported cut, or the write failed.
    assert!(r.map_or(true, |o| o.read_error.is_some() || inside == data.len()));
    w.abandon();
    if let Ok(keep) = std::env::var("MEDIA_RESTART_KEEP") {
        let to = Path::new(&keep).join(format!("seed{seed}"));
        std::fs::create_dir_all(&to).unwrap();
        for e in std::fs::read_dir(&lib).unwrap() {
            let p = e.unwrap().path();
            std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
        }
    }
    // The checkpoint, and the completed media as they are now.
    let mut reader = DirectoryLibrary::new(&lib, Default::default()).unwrap();
    // Every family is asked for: a family whose first medium has no header yet does not hide
    // the others' completed media.
    let plan = match RestartPlan::read_families(&mut reader, set.id, families) {
        Ok(p) => Some(p),
        // Killed before any device wrote its media header: there is nothing to restart from,
        // and the backup starts again on the same (still blank) media.
        Err(e) if e.to_string().starts_with("no medium of media set") => None,
        Err(e) => panic!("seed {seed}: {e}"),
    };
    if let Some(plan) = &plan {
        assert_eq!(plan.family_count, families);
        assert_eq!(
            plan.mirror_count, mirrors,
            "seed {seed}: the media name their copies"
        );
    }
    if std::env::var("MEDIA_RANDOM_DEBUG").is_ok() {
        eprintln!("seed {seed}: kill before file {k} at {inside}; plan {plan:?}");
        eprintln!(
            "files: {:?}",
            t.iter()
                .map(|e| format!("{}/{}", e.0.join("/"), e.1))
                .collect::<Vec<_>>()
        );
    }
    let mut complete = Vec::new();
    for e in std::fs::read_dir(&lib).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_str().unwrap().to_owned();
        let fam: u16 = name
            .split("-f")
            .nth(1)
            .unwrap()
            .split('-')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let seq: u16 = name
            .split("-m")
            .nth(1)
            .unwrap()
            .split(['.', '-'])
            .next()
            .unwrap()
            .parse()
            .unwrap();
        if plan
            .as_ref()
            .is_some_and(|plan| seq < plan.families[fam as usize - 1].resume_at)
        {
            complete.push((p.clone(), std::fs::read(&p).unwrap()));
        }
    }
    // The restart: the same source, the same set.
    let mut w = match &plan {
        Some(plan) => StripedWriter::restart(
            devices(&lib, &set, mirrors, cap),
            plan,
            &options(),
            backup_set(),
        ),
        None => StripedWriter::start(
            devices(&lib, &set, mirrors, cap),
            set.clone(),
            &options(),
            backup_set(),
        ),
    }
    .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    for (d, n, data) in &t {
        w.add_file(
            d,
            n,
            &EntryMeta::default(),
            data.len() as u64,
            &mut &data[..],
        )
        .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    }
    w.finish().unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    for (p, before) in &complete {
        assert!(
            &std::fs::read(p).unwrap() == before,
            "seed {seed}: completed medium {} was rewritten",
            p.display()
        );
    }
    let mut out = MemoryFiles::default();
    let changers: Vec<Box<dyn MediaChanger>> = vec![Box::new(
        DirectoryLibrary::new(&lib, Default::default()).unwrap(),
    )];
    restore(changers, &ReadSpec::default(), &mut out)
        .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    assert!(out.duplicates.is_empty(), "seed {seed}");
    assert_eq!(
        out.files,
        expected(&t),
        "seed {seed}: the restarted backup restores differently"
    );
    (
        complete.len(),
        plan.map_or(0, |p| p.families.iter().map(|f| f.files.len()).sum()),
    )
}

#[test]
fn killed_striped_backups_restart_from_their_checkpoint_and_restore_whole() {
    let runs: u64 = std::env::var("MEDIA_RESTART_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let base: u64 = std::env::var("MEDIA_RANDOM_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let (mut replayed, mut files) = (0, 0);
    for i in 0..runs {
        let (r, f) = one_run(base + i);
        replayed += r;
        files += f;
    }
    eprintln!("{runs} restarts: {replayed} completed media replayed (not rewritten), {files} files on them");
    if runs >= 10 {
        assert!(replayed > 0, "no run had completed media to replay");
    }
}

/// Restarts the backup of `t` from `plan` on the library `lib` and checks that the set
/// restores whole.
fn restart_and_restore(lib: &Path, set: &MediaSet, plan: &RestartPlan, cap: u64, t: &[Entry]) {
    let devs = devices(lib, set, plan.mirror_count, cap);
    let mut w = StripedWriter::restart(devs, plan, &options(), backup_set()).unwrap();
    for (d, n, data) in t {
        w.add_file(
            d,
            n,
            &EntryMeta::default(),
            data.len() as u64,
            &mut &data[..],
        )
        .unwrap();
    }
    w.finish().unwrap();
    let mut out = MemoryFiles::default();
    let changers: Vec<Box<dyn MediaChanger>> = vec![Box::new(
        DirectoryLibrary::new(lib, Default::default()).unwrap(),
    )];
    restore(changers, &ReadSpec::default(), &mut out).unwrap();
    assert_eq!(out.files, expected(t));
}

/// Rewrites the tape image at `path` without its last `drop` objects (blocks or filemarks): a
/// device stopped before it wrote them.
fn cut_image(path: &Path, drop: usize, cap: u64) {
    use tape_sys::{EmulatedTape, ReadResult, TapeDevice};
    let mut objects = Vec::new();
    {
        let mut t = EmulatedTape::open(path, Default::default()).unwrap();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            match t.read_block(&mut buf).unwrap() {
                ReadResult::Data(n) => objects.push(Some(buf[..n].to_vec())),
                ReadResult::Filemark => objects.push(None),
                ReadResult::EndOfData => break,
            }
        }
    }
    std::fs::remove_file(path).unwrap();
    let mut t = EmulatedTape::create(path, tape(cap)).unwrap();
    for o in &objects[..objects.len() - drop] {
        match o {
            Some(b) => drop_status(t.write_block(b)),
            None => drop_status(t.write_filemarks(1)),
        }
    }
}

fn drop_status<T, E: std::fmt::Debug>(r: Result<T, E>) {
    r.unwrap();
}

/// A backup of one family over three media or more, on `mirrors` copies; then the interruption
/// is made by hand: the third medium and later are gone, and `cut(dir)` cuts the second. The
/// checkpoint must be medium 1 only, and the restart must restore the tree whole.
fn restart_after_a_cut(mirrors: u8, cut: impl Fn(&Path, u64)) {
    let dir = tempfile::tempdir().unwrap();
    let lib = dir.path().join("lib");
    let t = tree(77, 24, 12_000);
    let cap = 64 * 1024;
    let (report, set) = backup_tree(&lib, 1, mirrors, cap, &t);
    assert!(
        report.families[0].used.len() >= 3,
        "the tree fills at least three media: {:?}",
        report.families[0].used
    );
    for e in std::fs::read_dir(&lib).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_str().unwrap();
        if !name.contains("-m1") && !name.contains("-m2") {
            std::fs::remove_file(&p).unwrap();
        }
    }
    cut(&lib, cap);
    let mut reader = DirectoryLibrary::new(&lib, Default::default()).unwrap();
    let plan = RestartPlan::read(&mut reader, set.id).unwrap();
    assert_eq!(plan.mirror_count, mirrors);
    assert_eq!(
        plan.families[0].resume_at, 2,
        "medium 2 is cut on a copy: only medium 1 is a checkpoint"
    );
    let m1: Vec<_> = std::fs::read_dir(&lib)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_str().unwrap().contains("-m1"))
        .map(|p| (std::fs::read(&p).unwrap(), p))
        .collect();
    assert_eq!(m1.len(), mirrors as usize);
    restart_and_restore(&lib, &set, &plan, cap, &t);
    for (before, p) in &m1 {
        assert!(
            &std::fs::read(p).unwrap() == before,
            "{} rewritten",
            p.display()
        );
    }
}

/// The race the restart test found about once in 300 runs: a kill stops the mirrors' devices
/// at different points, so one copy of a medium is closed (EOTM) while the other is cut
/// short. The library offers whichever copy it finds first; the closed copy must not make the
/// medium a checkpoint, for the cut copy cannot be replayed.
#[test]
fn a_medium_cut_short_on_one_mirror_is_not_a_checkpoint() {
    restart_after_a_cut(2, |lib, cap| {
        // Mirror 0's copy loses its end-of-media procedure (filemark, EOTM, filemark) and
        // some data before it; mirror 1's stays closed.
        cut_image(&lib.join("TESTSET-f1-m2.tap"), 5, cap)
    });
}

/// A kill before a mirror's device wrote its copy of a medium: the other copy is closed, but
/// the medium is not a checkpoint while a copy is missing.
#[test]
fn a_medium_missing_on_one_mirror_is_not_a_checkpoint() {
    restart_after_a_cut(2, |lib, _| {
        std::fs::remove_file(lib.join("TESTSET-f1-m2-mirror1.tap")).unwrap()
    });
}

/// A kill before the first family wrote its first header, while the second family had closed a
/// medium: `read` cannot know the other families (the family count is on the media), so it
/// refuses; `read_families`, given the devices' count, still finds the second family's
/// checkpoint, and the restart restores the tree whole.
#[test]
fn a_family_without_a_header_does_not_hide_the_others_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let lib = dir.path().join("lib");
    let t = tree(78, 24, 12_000);
    let cap = 64 * 1024;
    let (report, set) = backup_tree(&lib, 2, 1, cap, &t);
    assert!(report.families.iter().all(|f| f.used.len() >= 2));
    // Family 1: only a blank first medium; family 2: its first medium closed, the rest gone.
    for e in std::fs::read_dir(&lib).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_str().unwrap().to_owned();
        if name.contains("-f1-") || !name.contains("-m1") {
            std::fs::remove_file(&p).unwrap();
        }
    }
    tape_sys::EmulatedTape::create(lib.join("TESTSET-f1-m1.tap"), tape(cap)).unwrap();
    let mut reader = DirectoryLibrary::new(&lib, Default::default()).unwrap();
    assert!(RestartPlan::read(&mut reader, set.id).is_err());
    let mut reader = DirectoryLibrary::new(&lib, Default::default()).unwrap();
    let plan = RestartPlan::read_families(&mut reader, set.id, 2).unwrap();
    assert_eq!(plan.families[0].resume_at, 1);
    assert_eq!(plan.families[1].resume_at, 2);
    let m1 = std::fs::read(lib.join("TESTSET-f2-m1.tap")).unwrap();
    restart_and_restore(&lib, &set, &plan, cap, &t);
    assert!(std::fs::read(lib.join("TESTSET-f2-m1.tap")).unwrap() == m1);
}
