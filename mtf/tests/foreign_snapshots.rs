//! Snapshots of the parsed block sequence of every foreign sample: block types, offsets and the
//! key fields, checked by hand against the samples' INVENTORY.md.

mod common;

use mtf::block::Body;
use mtf::walk::{Event, Mode, Walker};
use std::fmt::Write as _;
use std::io::BufReader;

fn summarize(path: &std::path::Path) -> String {
    let mut s = String::new();
    let f = std::fs::File::open(path).unwrap();
    let mut streams: Vec<String> = Vec::new();
    let mut line = String::new();
    let flush = |s: &mut String, line: &mut String, streams: &mut Vec<String>| {
        if !line.is_empty() {
            let _ = writeln!(
                s,
                "{line}{}",
                if streams.is_empty() {
                    String::new()
                } else {
                    format!(" [{}]", streams.join(", "))
                }
            );
        }
        line.clear();
        streams.clear();
    };
    for ev in Walker::with_mode(BufReader::new(f), Mode::Strict) {
        match ev {
            Err(e) => {
                flush(&mut s, &mut line, &mut streams);
                let _ = writeln!(s, "error: {e}");
                break;
            }
            Ok(Event::Block { offset, dblk }) => {
                flush(&mut s, &mut line, &mut streams);
                let st = dblk.header.string_type;
                let h = &dblk.header;
                let _ = write!(
                    line,
                    "{offset:>8} {} attr={:#x} fla={} cbid={}",
                    h.block_type,
                    h.attributes.bits(),
                    h.format_logical_address,
                    h.control_block_id
                );
                match &dblk.body {
                    Body::Tape(t) => {
                        let _ = write!(
                            line,
                            " family={:#010x} seq={} flb={} sfm={} mbc={} vendor={:#x} software={:?} date={} tape_attr={:#x} pw_alg={} name={:?}",
                            t.media_family_id,
                            t.media_sequence_number,
                            t.format_logical_block_size,
                            t.soft_filemark_block_size,
                            t.media_based_catalog_type,
                            t.software_vendor_id,
                            t.software_name.display(st),
                            t.media_date,
                            t.attributes.bits(),
                            t.password_encryption_algorithm,
                            t.media_name.display(st),
                        );
                    }
                    Body::Sset(x) => {
                        let _ = write!(
                            line,
                            " set={} name={:?} user={:?} sw={}.{} set_attr={:#x} date={} tz={}",
                            x.data_set_number,
                            x.data_set_name.display(st),
                            x.user_name.display(st),
                            x.software_major_version,
                            x.software_minor_version,
                            x.attributes.bits(),
                            x.media_write_date,
                            x.time_zone
                        );
                    }
                    Body::Volb(v) => {
                        let _ = write!(
                            line,
                            " device={:?} volume={:?} machine={:?}",
                            v.device_name.display(st),
                            v.volume_name.display(st),
                            v.machine_name.display(st)
                        );
                    }
                    Body::Eset(e) => {
                        let _ = write!(
                            line,
                            " set={} mbc1={} mbc2={} date={}",
                            e.data_set_number,
                            e.reserved_for_mbc1,
                            e.reserved_for_mbc2,
                            e.media_write_date
                        );
                    }
                    Body::Sfmb(m) => {
                        let _ = write!(
                            line,
                            " entries={}/{} layout={:?} marks={:?}",
                            m.entries_used,
                            m.number_of_entries,
                            m.layout,
                            m.used_entries()
                        );
                    }
                    _ => {}
                }
            }
            Ok(Event::Stream { header, .. }) => {
                streams.push(format!("{} {}", header.id, header.length))
            }
            Ok(_) => {}
        }
    }
    flush(&mut s, &mut line, &mut streams);
    s
}

#[test]
fn block_sequences_of_foreign_samples() {
    for path in common::foreign_samples() {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        insta::assert_snapshot!(name, summarize(&path));
    }
}
