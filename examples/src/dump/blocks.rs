//! `mtfdump blocks`: every block and stream with its offset, filemarks and damage, for
//! debugging. Stream data is skipped (by seeking on files).

use super::text::date;
use super::{
    display_name, mtf_err, open_source, write_json, DumpError, DumpResult, Options, Outcome,
};
use mtf::block::Body;
use mtf::reader::{DamageInfo, Event, Reader};
use serde::Serialize;
use std::io::Write;
use std::path::PathBuf;

/// One line: a block, a stream, a filemark or damage.
#[derive(Debug, Serialize)]
pub struct Item {
    pub offset: u64,
    /// `block`, `stream`, `filemark` or `damage`.
    pub kind: String,
    /// Block type or stream id.
    pub id: String,
    /// Region length (block), data length (stream), damaged length.
    pub len: u64,
    pub detail: String,
}

/// The blocks of one medium.
#[derive(Debug, Serialize)]
pub struct MediumBlocks {
    pub file: String,
    pub items: Vec<Item>,
    pub bytes_read: u64,
    pub bytes_skipped: u64,
    pub error: Option<String>,
}

/// Lists the blocks of each medium.
pub fn report(paths: &[PathBuf], opts: &Options) -> DumpResult<Vec<MediumBlocks>> {
    let mut out = Vec::new();
    for p in paths {
        let file = display_name(p);
        if super::compressed_container(p)?.is_some() {
            return Err(DumpError(format!(
                "{file}: SQL Server compressed backup (MSSQLBAK): the payload is compressed and not decoded"
            )));
        }
        let mut r = Reader::with_mode(open_source(p)?, opts.mode());
        r.set_read_ahead(mtf::reader::core::HEADER_READ_AHEAD);
        let mut items = Vec::new();
        let mut error = None;
        loop {
            let ev = match r.next_event() {
                Ok(Some(ev)) => ev,
                Ok(None) => break,
                Err(e @ mtf::Error::Io(_)) => return Err(mtf_err(e)),
                Err(e) => {
                    error = Some(e.to_string());
                    break;
                }
            };
            items.push(match ev {
                Event::Block { offset, dblk } => {
                    let h = &dblk.header;
                    let st = h.string_type;
                    let mut d = format!(
                        "attr={:#x} fla={} cbid={} os={}/{}",
                        h.attributes.bits(),
                        h.format_logical_address,
                        h.control_block_id,
                        h.os_id.0,
                        h.os_version
                    );
                    match &dblk.body {
                        Body::Tape(t) => {
                            d += &format!(
                            " family={:#010x} seq={} flb={} sfm={} mbc={} software={:?} date={}",
                            t.media_family_id,
                            t.media_sequence_number,
                            t.format_logical_block_size,
                            t.soft_filemark_block_size,
                            t.media_based_catalog_type,
                            t.software_name.display(st),
                            date(t.media_date)
                        )
                        }
                        Body::Sset(s) => {
                            d += &format!(
                                " set={} name={:?} date={}",
                                s.data_set_number,
                                s.data_set_name.display(st),
                                date(s.media_write_date)
                            )
                        }
                        Body::Volb(v) => {
                            d += &format!(
                                " device={:?} machine={:?}",
                                v.device_name.display(st),
                                v.machine_name.display(st)
                            )
                        }
                        Body::Dirb(x) => d += &format!(" dir={:?}", x.components(st).join("/")),
                        Body::File(f) => {
                            d += &format!(
                                " name={:?} size={}",
                                f.file_name.display(st),
                                h.displayable_size
                            )
                        }
                        Body::Eset(e) => {
                            d += &format!(
                                " set={} mbc1={} mbc2={}",
                                e.data_set_number, e.reserved_for_mbc1, e.reserved_for_mbc2
                            )
                        }
                        Body::Eotm(e) => d += &format!(" last_eset_pba={}", e.last_eset_pba),
                        Body::Sfmb(s) => d += &format!(" marks={:?}", s.used_entries()),
                        Body::Cfil(c) => {
                            d += &format!(
                                " stream={} from={}",
                                c.corrupt_stream_number, c.stream_offset
                            )
                        }
                        _ => {}
                    }
                    Item {
                        offset,
                        kind: "block".into(),
                        id: dblk.block_type().to_string(),
                        len: dblk.encoded_len() as u64,
                        detail: d,
                    }
                }
                Event::Stream { offset, header } => Item {
                    offset,
                    kind: "stream".into(),
                    id: header.id.to_string(),
                    len: header.length,
                    detail: format!(
                        "fs={:#x} media={:#x}",
                        header.fs_attributes.bits(),
                        header.media_attributes.bits()
                    ),
                },
                Event::Filemark { offset } => Item {
                    offset,
                    kind: "filemark".into(),
                    id: String::new(),
                    len: 0,
                    detail: String::new(),
                },
                Event::StreamCut { offset, remaining } => Item {
                    offset,
                    kind: "cut".into(),
                    id: String::new(),
                    len: remaining,
                    detail: "the medium ends inside the stream; it continues on the next".into(),
                },
                Event::Damage(d) => {
                    let i = DamageInfo::from(&d);
                    Item {
                        offset: i.offset,
                        kind: "damage".into(),
                        id: String::new(),
                        len: i.len,
                        detail: i.reason,
                    }
                }
            });
        }
        out.push(MediumBlocks {
            file,
            items,
            bytes_read: r.bytes_read(),
            bytes_skipped: r.bytes_skipped(),
            error,
        });
    }
    Ok(out)
}

/// `mtfdump blocks`.
pub fn run(paths: &[PathBuf], opts: &Options, out: &mut dyn Write) -> DumpResult<Outcome> {
    let rep = report(paths, opts)?;
    if opts.json {
        write_json(out, &rep)?;
    } else {
        for m in &rep {
            writeln!(out, "{}", m.file)?;
            for i in &m.items {
                match i.kind.as_str() {
                    "block" => writeln!(
                        out,
                        "{:>10} {} ({} bytes) {}",
                        i.offset, i.id, i.len, i.detail
                    )?,
                    "stream" => {
                        writeln!(out, "{:>10}   {} {} {}", i.offset, i.id, i.len, i.detail)?
                    }
                    "filemark" => writeln!(out, "{:>10} FILEMARK", i.offset)?,
                    _ => writeln!(
                        out,
                        "{:>10} DAMAGED {} bytes: {}",
                        i.offset, i.len, i.detail
                    )?,
                }
            }
            if let Some(e) = &m.error {
                writeln!(out, "stopped: {e}")?;
            }
        }
    }
    let bad = rep
        .iter()
        .any(|m| m.error.is_some() || m.items.iter().any(|i| i.kind == "damage"));
    Ok(if bad { Outcome::Problems } else { Outcome::Ok })
}
