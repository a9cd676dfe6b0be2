//! Striping throughput: one backup set of SIZE MiB (files of 8 MiB) written over N in-memory
//! emulated tapes of 64 MiB each, the changer handing out fresh ones and dropping full ones (so
//! memory stays bounded by the media in the drives, not by the size of the backup). The data
//! comes as shared buffers ([`StripedWriter::add_file_chunks`]), so the feeding thread costs
//! next to nothing and what is measured is the devices' work.
//!
//! `cargo run --release -p media --example stripe_bench -- N SIZE_MIB`; prints MiB/s.

use media::changer::{MediaChanger, MediumRequest, Mounted};
use media::decision::Operation;
use media::set::MediaSet;
use media::stripe::{BackupSet, StripeDevice, StripeOptions, StripedWriter};
use mtf::writer::{EntryMeta, SetOptions, VolumeOptions};
use std::io;
use std::time::Instant;
use tape_sys::{EmulatedOptions, EmulatedTape};

const MEDIUM: u64 = 64 << 20;

struct Blank;

impl MediaChanger for Blank {
    fn mount(&mut self, _req: &MediumRequest) -> io::Result<Mounted> {
        Ok(Mounted {
            device: Box::new(EmulatedTape::in_memory(
                EmulatedOptions::new()
                    .capacity(MEDIUM)
                    .early_warning(8 << 20),
            )),
            name: "memory".into(),
        })
    }
    fn refused(&mut self, _m: Mounted, why: &str) -> io::Result<()> {
        Err(io::Error::other(why.to_owned()))
    }
    fn done(&mut self, _m: Mounted) -> io::Result<()> {
        Ok(())
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: u16 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1);
    let size: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(1024);
    let set = MediaSet::new("BENCH", n);
    let devices = (1..=n)
        .map(|f| {
            let mut c = Blank;
            let first = c
                .mount(&MediumRequest {
                    purpose: media::changer::Purpose::Write,
                    media_set_id: Some(set.id),
                    media_name: "BENCH".into(),
                    family_number: f,
                    family_count: n,
                    sequence: 1,
                    mirror: 0,
                })
                .unwrap();
            vec![StripeDevice {
                first,
                changer: Box::new(c) as Box<dyn MediaChanger>,
            }]
        })
        .collect();
    let mut opts = StripeOptions::new(Operation::Format, 1_717_200_000);
    opts.write.block_size = 256 * 1024;
    let date = mtf::DateTime::from_unix(1_717_200_000).unwrap();
    let backup = BackupSet {
        options: SetOptions::new("bench", date),
        expires: None,
        volume: Some(VolumeOptions::default()),
    };
    let file: Vec<u8> = (0..8u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    // The source hands over its buffers (as a product reading into buffers of its own would):
    // 256 KiB each, shared, not copied.
    let chunks: Vec<std::sync::Arc<[u8]>> =
        file.chunks(256 * 1024).map(std::sync::Arc::from).collect();
    let start = Instant::now();
    let mut w = StripedWriter::start(devices, set, &opts, backup).unwrap();
    let files = size / 8;
    for i in 0..files {
        w.add_file_chunks(
            &["d".into()],
            &format!("f{i}"),
            &EntryMeta::default(),
            file.len() as u64,
            &mut chunks.iter().cloned(),
        )
        .unwrap();
    }
    let r = w.finish().unwrap();
    let secs = start.elapsed().as_secs_f64();
    let media: usize = r.families.iter().map(|f| f.used.len()).sum();
    println!(
        "devices {n}: {} MiB in {secs:.2} s = {:.0} MiB/s ({media} media)",
        files * 8,
        (files * 8) as f64 / secs
    );
}
