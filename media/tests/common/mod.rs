//! Helpers shared by the media tests: trees of files, backing them up over emulated tapes in a
//! directory library, restoring them.
#![allow(dead_code)]

pub mod dbenv;

use media::changer::dir::DirectoryLibrary;
use media::changer::{MediaChanger, MediumRequest, Purpose};
use media::decision::Operation;
use media::set::MediaSet;
use media::stripe::{BackupSet, StripeDevice, StripeOptions, StripeReport, StripedWriter};
use mtf::writer::{EntryMeta, SetOptions, VolumeOptions};
use std::collections::BTreeMap;
use std::path::Path;
use tape_sys::EmulatedOptions;

pub const BLOCK: usize = 4096;
/// 2024-06-01 00:00:00 UTC.
pub const NOW: i64 = 1_717_200_000;

/// A file to back up: directory components, name, bytes.
pub type Entry = (Vec<String>, String, Vec<u8>);

/// A tree of `n` files of up to `max` bytes in a few directories, from `seed`.
pub fn tree(seed: u64, n: usize, max: usize) -> Vec<Entry> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut out = Vec::new();
    for i in 0..n {
        let dir = vec![
            format!("d{}", rng.usize(0..4)),
            format!("s{}", rng.usize(0..3)),
        ];
        let len = if rng.u8(0..10) == 0 {
            0
        } else {
            rng.usize(0..=max)
        };
        let mut data = vec![0u8; len];
        rng.fill(&mut data);
        out.push((dir, format!("f{i}.bin"), data));
    }
    out
}

/// The tree as a map of path to bytes (what a restore should give).
pub fn expected(t: &[Entry]) -> BTreeMap<String, Vec<u8>> {
    t.iter()
        .map(|(d, n, b)| (format!("{}/{n}", d.join("/")), b.clone()))
        .collect()
}

/// Tape options with `cap` bytes and an early-warning zone that holds the end-of-media
/// procedure.
pub fn tape(cap: u64) -> EmulatedOptions {
    EmulatedOptions::new()
        .capacity(cap)
        .early_warning(8 * BLOCK as u64)
}

pub fn write_request(set: &MediaSet, family: u16, mirror: u8) -> MediumRequest {
    MediumRequest {
        purpose: Purpose::Write,
        media_set_id: Some(set.id),
        media_name: set.name.clone(),
        family_number: family,
        family_count: set.family_count,
        sequence: 1,
        mirror,
    }
}

pub fn backup_set() -> BackupSet {
    let mut options = SetOptions::new("test set", mtf::DateTime::from_unix(NOW).unwrap());
    options.checksums = true;
    BackupSet {
        options,
        expires: None,
        volume: Some(VolumeOptions {
            device: "/".into(),
            volume: "test".into(),
            machine: "host".into(),
        }),
    }
}

/// Formats a media set of `families` × `mirrors` devices in `dir` (images of `cap` bytes)
/// and backs `t` up.
pub fn backup_tree(
    dir: &Path,
    families: u16,
    mirrors: u8,
    cap: u64,
    t: &[Entry],
) -> (StripeReport, MediaSet) {
    backup_tree_as(dir, families, mirrors, cap, t, backup_set())
}

/// [`backup_tree`] with the backup set given.
pub fn backup_tree_as(
    dir: &Path,
    families: u16,
    mirrors: u8,
    cap: u64,
    t: &[Entry],
    b: BackupSet,
) -> (StripeReport, MediaSet) {
    write_tree(dir, families, mirrors, cap, t, b, false)
}

/// [`backup_tree`] with file `k` going to family `k mod families` + 1
/// ([`StripedWriter::assign_in_turn`]): the split of the files, and so the media each family
/// fills, follow from the tree alone.
pub fn backup_tree_in_turn(
    dir: &Path,
    families: u16,
    cap: u64,
    t: &[Entry],
) -> (StripeReport, MediaSet) {
    write_tree(dir, families, 1, cap, t, backup_set(), true)
}

fn write_tree(
    dir: &Path,
    families: u16,
    mirrors: u8,
    cap: u64,
    t: &[Entry],
    b: BackupSet,
    in_turn: bool,
) -> (StripeReport, MediaSet) {
    let mut set = MediaSet::new("TESTSET", families);
    set.mirror_count = mirrors;
    let mut devices = Vec::new();
    for f in 1..=families {
        let mut ms = Vec::new();
        for m in 0..mirrors {
            let mut lib = DirectoryLibrary::new(dir, tape(cap)).unwrap();
            let first = lib.mount(&write_request(&set, f, m)).unwrap();
            ms.push(StripeDevice {
                first,
                changer: Box::new(lib),
            });
        }
        devices.push(ms);
    }
    let mut opts = StripeOptions::new(Operation::Format, NOW);
    opts.write.block_size = BLOCK;
    opts.chunk = 3000;
    opts.queue = 256;
    let mut w = StripedWriter::start(devices, set.clone(), &opts, b).unwrap();
    w.assign_in_turn(in_turn);
    for (d, n, b) in t {
        w.add_file(d, n, &EntryMeta::default(), b.len() as u64, &mut &b[..])
            .unwrap();
    }
    (w.finish().unwrap(), set)
}

/// The reference engine's content digest (see `media::engine::check`) of a model of its rows:
/// (filegroup, key) → value, digested filegroup by filegroup in `order`.
pub fn model_digest(m: &BTreeMap<(String, Vec<u8>), Vec<u8>>, order: &[&str]) -> [u8; 32] {
    let mut rows = Vec::new();
    for fg in order {
        for ((g, k), v) in m {
            if g == fg {
                rows.push((g.as_str(), k.as_slice(), v.as_slice()));
            }
        }
    }
    media::engine::check::digest_rows(rows)
}

/// Asserts that `got` holds exactly the rows of `want`, naming how many are missing or
/// changed and how many extra, with the first of each.
pub fn assert_same_rows<K: Ord + std::fmt::Debug, V: PartialEq>(
    got: &BTreeMap<K, V>,
    want: &BTreeMap<K, V>,
    what: &str,
) {
    let missing: Vec<&K> = want
        .iter()
        .filter(|(k, v)| got.get(*k) != Some(*v))
        .map(|(k, _)| k)
        .collect();
    let extra: Vec<&K> = got.keys().filter(|k| !want.contains_key(*k)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{what}: {} rows missing or changed (first {:?}), {} extra (first {:?})",
        missing.len(),
        missing.first(),
        extra.len(),
        extra.first()
    );
}
