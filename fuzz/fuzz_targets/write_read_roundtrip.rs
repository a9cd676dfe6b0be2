//! Structured write → read round trip: an arbitrary tree of sets, volumes, directories and files
//! (names in any script, long names that go to PNAM/FNAM streams, empty and short files) is
//! written with `mtf::writer::Writer` to memory — soft or hardware filemarks, FLB 512 or 1024,
//! small physical blocks, ANSI or Unicode strings, with or without the catalog and checksums,
//! and optionally on tiny media so that sets and file data continue on further media — then read
//! back with the walker. Set names, volumes, directory paths, file names and file contents must
//! come back exactly (names as the string type can hold them).
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
// Links the counting allocator (and its allocation limit).
use mtf::block::Body;
use mtf::date::DateTime;
use mtf::spec::{BlockAttributes, StreamId, StreamMediaAttributes, StringType};
use mtf::text::{decode_str, encode_str, split_dir_path};
use mtf::walk::{Event, Mode, Walker};
use mtf::writer::{
    EntryMeta, MediaSupplier, MediumOptions, MemorySink, SetOptions, VolumeOptions, Writer,
};
use mtf_fuzz as _;
use std::io;

#[derive(Arbitrary, Debug)]
struct Plan {
    flb_512: bool,
    /// Physical block size in FLBs, 1 + n % 16.
    block_flbs: u8,
    hardware_filemarks: bool,
    ansi: bool,
    catalog: bool,
    /// Soft filemark media only: capacity in physical blocks (24 + n % 40), to force
    /// continuation media.
    tiny: Option<u8>,
    sets: Vec<SetPlan>,
}

#[derive(Arbitrary, Debug)]
struct SetPlan {
    name: String,
    checksums: bool,
    volumes: Vec<VolumePlan>,
}

#[derive(Arbitrary, Debug)]
struct VolumePlan {
    device: String,
    dirs: Vec<DirPlan>,
}

#[derive(Arbitrary, Debug)]
struct DirPlan {
    components: Vec<Name>,
    files: Vec<FilePlan>,
}

#[derive(Arbitrary, Debug)]
enum Name {
    Plain(String),
    /// A character repeated (n % 1200) + 1 times: long names go to PNAM/FNAM streams.
    Long(char, u16),
}

impl Name {
    fn text(&self) -> String {
        let s = match self {
            Name::Plain(s) => s.clone(),
            Name::Long(c, n) => std::iter::repeat_n(*c, (*n % 1200) as usize + 1).collect(),
        };
        // The writer refuses empty names, NUL and (in file names) separators.
        let s: String = s
            .chars()
            .map(|c| {
                if matches!(c, '\0' | '/' | '\\') {
                    '_'
                } else {
                    c
                }
            })
            .collect();
        if s.is_empty() {
            "e".into()
        } else {
            s
        }
    }
}

#[derive(Arbitrary, Debug)]
struct FilePlan {
    name: Name,
    data: Data,
}

#[derive(Arbitrary, Debug)]
enum Data {
    Bytes(Vec<u8>),
    /// `byte` repeated (n % 4096) * 61 times (spans blocks and media cheaply).
    Repeat(u8, u16),
    /// Declares `declared` bytes but supplies fewer: zero-filled, and a CFIL follows.
    Short(u16, Vec<u8>),
}

impl Data {
    /// (declared size, bytes supplied)
    fn parts(&self) -> (u64, Vec<u8>) {
        match self {
            Data::Bytes(b) => (b.len() as u64, b.clone()),
            Data::Repeat(b, n) => {
                let len = (*n as usize % 4096) * 61;
                (len as u64, vec![*b; len])
            }
            Data::Short(n, b) => (*n as u64, b[..b.len().min(*n as usize)].to_vec()),
        }
    }
}

/// A file as read back: directory path, name, data.
type FileSeen = (Vec<String>, String, Vec<u8>);

/// What the media must hold: per set, its name, volumes, and files in order.
#[derive(Debug, Default, PartialEq, Eq)]
struct Content {
    sets: Vec<(String, Vec<String>, Vec<FileSeen>)>,
}

struct Media {
    done: Vec<MemorySink>,
    capacity: u64,
    zone: u64,
}

impl MediaSupplier<MemorySink> for Media {
    fn next_medium(&mut self, _sequence: u16) -> io::Result<MemorySink> {
        if self.done.len() >= 64 {
            return Err(io::Error::new(io::ErrorKind::StorageFull, "enough media"));
        }
        Ok(MemorySink {
            capacity: Some(self.capacity),
            early_warning_zone: self.zone,
            ..Default::default()
        })
    }

    fn medium_done(&mut self, _sequence: u16, sink: MemorySink) -> io::Result<()> {
        self.done.push(sink);
        Ok(())
    }
}

fn date() -> DateTime {
    DateTime::from_unix(1_700_000_000).unwrap()
}

/// Writes the plan; returns the media and what they must hold, or `None` if the writer refused
/// (a typed error: too small media, too many sets).
fn write(plan: &Plan, st: StringType) -> Option<(Vec<Vec<u8>>, Content)> {
    let flb: u16 = if plan.flb_512 { 512 } else { 1024 };
    let block_size = flb as usize * (1 + plan.block_flbs as usize % 16);
    let mut opts = MediumOptions::new("fuzz", 0xF022, date());
    opts.flb_size = flb;
    opts.block_size = Some(block_size);
    opts.string_type = st;
    opts.catalog = plan.catalog;
    let hardware = plan.hardware_filemarks;
    let tiny = plan.tiny.filter(|_| !hardware);
    let capacity = tiny.map(|n| block_size as u64 * (24 + n as u64 % 40));
    let zone = block_size as u64 * 8;
    let first = MemorySink {
        hardware_filemarks: hardware,
        capacity,
        early_warning_zone: if capacity.is_some() { zone } else { 0 },
        ..Default::default()
    };
    let media = Media {
        done: Vec::new(),
        capacity: capacity.unwrap_or(u64::MAX),
        zone,
    };
    // What the string type can hold of a name.
    let shown = |s: &str| {
        let d = decode_str(&encode_str(s, st), st);
        d.trim_end_matches('\0').to_string()
    };
    let mut want = Content::default();
    // At most this much file data in all, to keep executions fast.
    let mut budget: u64 = 2 << 20;
    let mut w = Writer::with_media(first, opts, media).ok()?;
    for set in plan.sets.iter().take(3) {
        let mut so = SetOptions::new(&set.name, date());
        so.checksums = set.checksums;
        w.begin_set(so).ok()?;
        let mut vols = Vec::new();
        let mut files = Vec::new();
        for v in set.volumes.iter().take(3) {
            w.add_volume(&VolumeOptions {
                device: v.device.clone(),
                volume: "vol".into(),
                machine: "host".into(),
            })
            .ok()?;
            vols.push(shown(&v.device));
            for d in v.dirs.iter().take(6) {
                let comps: Vec<String> = d.components.iter().take(8).map(Name::text).collect();
                let meta = EntryMeta::with_dates(Some(date()), date());
                w.add_directory(&comps, &meta).ok()?;
                let shown_dir: Vec<String> = comps.iter().map(|c| shown(c)).collect();
                for f in d.files.iter().take(8) {
                    let name = f.name.text();
                    let (size, given) = f.data.parts();
                    if size > budget {
                        continue;
                    }
                    budget -= size;
                    w.add_file(&name, &meta, size, &mut &given[..]).ok()?;
                    let mut content = given;
                    content.resize(size as usize, 0);
                    files.push((shown_dir.clone(), shown(&name), content));
                }
            }
        }
        w.end_set().ok()?;
        want.sets.push((shown(&set.name), vols, files));
    }
    let (last, media) = w.into_parts().ok()?;
    let mut out: Vec<Vec<u8>> = media.done.into_iter().map(|m| m.data).collect();
    out.push(last.data);
    Some((out, want))
}

/// Reads the media back in order, following continuation.
fn read(media: &[Vec<u8>], st: StringType) -> Content {
    let mut got = Content::default();
    let mut dir: Vec<String> = Vec::new();
    let mut file: Option<(Vec<String>, String)> = None;
    let mut data: Vec<u8> = Vec::new();
    let mut stream: Option<StreamId> = None;
    let mut stan_total = 0u64;
    let shown = |raw: &[u8]| decode_str(raw, st).trim_end_matches('\0').to_string();
    for (m, medium) in media.iter().enumerate() {
        for ev in Walker::with_mode(&medium[..], Mode::Strict) {
            let ev = ev.unwrap_or_else(|e| panic!("medium {m} of {}: {e}", media.len()));
            match ev {
                Event::Block { dblk, .. } => {
                    let cont = dblk
                        .header
                        .attributes
                        .contains(BlockAttributes::CONTINUATION);
                    stream = None;
                    match &dblk.body {
                        Body::Sset(s) if !cont => {
                            got.sets
                                .push((shown(&s.data_set_name.raw), Vec::new(), Vec::new()));
                        }
                        Body::Volb(v) if !cont => {
                            let set = got.sets.last_mut().expect("VOLB before SSET");
                            set.1.push(shown(&v.device_name.raw));
                        }
                        Body::Dirb(d) => dir = d.components(st),
                        Body::File(f) if !cont => {
                            file = Some((dir.clone(), shown(&f.file_name.raw)));
                            data.clear();
                            stan_total = 0;
                        }
                        _ => {}
                    }
                }
                Event::Stream { header, .. } => {
                    stream = Some(header.id);
                    if header.id == StreamId::STAN {
                        if header
                            .media_attributes
                            .contains(StreamMediaAttributes::CONTINUE)
                        {
                            assert_eq!(
                                stan_total - data.len() as u64,
                                header.length,
                                "continued length"
                            );
                        } else {
                            stan_total = header.length;
                            data.clear();
                        }
                        if header.length == 0 {
                            let (d, n) = file.clone().expect("STAN outside a file");
                            got.sets.last_mut().unwrap().2.push((d, n, Vec::new()));
                        }
                    }
                }
                Event::Data { bytes, .. } => match stream {
                    Some(StreamId::STAN) => {
                        data.extend_from_slice(&bytes);
                        if data.len() as u64 == stan_total {
                            let (d, n) = file.clone().expect("STAN outside a file");
                            got.sets.last_mut().unwrap().2.push((d, n, data.clone()));
                        }
                    }
                    Some(StreamId::PNAM) => dir = split_dir_path(&bytes, st),
                    Some(StreamId::FNAM) => {
                        if let Some(f) = file.as_mut() {
                            f.1 = shown(&bytes);
                        }
                    }
                    _ => {}
                },
                Event::Pad { bytes, .. } => assert!(bytes.iter().all(|b| *b == 0)),
                Event::StreamCut { remaining, .. } => {
                    assert_eq!(stream, Some(StreamId::STAN), "only file data is cut");
                    assert_eq!(remaining, stan_total - data.len() as u64);
                }
                Event::Gap { offset, .. } => panic!("gap at {offset} on medium {m}"),
            }
        }
    }
    got
}

fuzz_target!(|plan: Plan| {
    let st = if plan.ansi {
        StringType::ANSI
    } else {
        StringType::UNICODE
    };
    let Some((media, want)) = write(&plan, st) else {
        return;
    };
    let got = read(&media, st);
    assert_eq!(got, want, "read back differs from what was written");
});
