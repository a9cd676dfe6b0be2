//! `mtfdump extract --set N -C DIR [PATTERN...]`: restores a set's file trees (directories and
//! modification times), or, for a SQL Server set, writes its raw database streams to files.
//!
//! # Security
//! Names on a medium are untrusted. Every path component is checked before anything is created:
//! absolute paths, `..` and `.`, drive letters, NUL bytes and path separators inside a
//! component are refused, each refusal is reported, and the entry is skipped. Parent directories
//! are created one by one and each must resolve inside DIR (a symlink planted in DIR cannot lead
//! out); an existing symlink is never written through.

use super::copyjobs::{self, CopyJob, PARALLEL_MIN};
use super::progress::Progress;
use super::{
    list_media, mtf_err, walk_set, write_json, DumpError, DumpResult, Medium, Options, Outcome,
};
use mtf::block::Body;
use mtf::reader::{group_media, merge_sets, DamageInfo, Event, MediumIdentity};
use mtf::spec::{BlockAttributes, StreamId, StreamMediaAttributes, StringType};
use mtf::sqlserver::SqlSetInfo;
use mtf::text::{decode_str, split_dir_path};
use mtf::MtfDateTime;
use serde::Serialize;
use std::fs::{self, File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A name that was not extracted, and why.
#[derive(Debug, Serialize, Clone)]
pub struct Refusal {
    pub name: String,
    pub reason: String,
    pub offset: u64,
}

/// A file written.
#[derive(Debug, Serialize, Clone)]
pub struct Written {
    pub path: String,
    pub bytes: u64,
}

/// The extract report.
#[derive(Debug, Serialize, Default)]
pub struct ExtractReport {
    pub set: usize,
    pub directories: Vec<String>,
    pub files: Vec<Written>,
    pub refused: Vec<Refusal>,
    /// Streams not restored (security, alternate data, compressed ...), by id: count.
    pub streams_not_restored: std::collections::BTreeMap<String, u64>,
    pub damage: Vec<DamageInfo>,
    pub errors: Vec<String>,
}

/// Checks one path component from the medium; the reason if it must be refused.
pub fn check_component(c: &str) -> Result<(), String> {
    if c.is_empty() {
        return Err("empty name".into());
    }
    if c.contains('\0') {
        return Err("contains a NUL byte".into());
    }
    if c.starts_with('/') || c.starts_with('\\') {
        return Err("absolute path".into());
    }
    let b = c.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        return Err("drive letter".into());
    }
    if c == ".." {
        return Err("parent directory (..)".into());
    }
    if c == "." {
        return Err("current directory (.)".into());
    }
    if c.contains('/') || c.contains('\\') {
        return Err("contains a path separator".into());
    }
    Ok(())
}

/// The directory a volume's files go under: the device name with the drive colon and any
/// separators removed (`C:` gives `C`, `\\srv\share` gives `srv_share`).
pub fn volume_dir(device: &str, index: usize) -> String {
    let s: String = device
        .trim_start_matches(['\\', '/'])
        .chars()
        .filter(|&c| c != ':' && c != '\0')
        .map(|c| if c == '\\' || c == '/' { '_' } else { c })
        .collect();
    if s.is_empty() || s == "." || s == ".." {
        format!("volume{index}")
    } else {
        s
    }
}

/// Whether a relative path matches a pattern: `*` any run of characters, `?` one; a pattern
/// matches a path, or any directory above it.
pub fn matches(pattern: &str, path: &str) -> bool {
    fn glob(p: &[char], s: &[char]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some('*'), _) => glob(&p[1..], s) || (!s.is_empty() && glob(p, &s[1..])),
            (Some('?'), Some(_)) => glob(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => glob(&p[1..], &s[1..]),
            _ => false,
        }
    }
    let p: Vec<char> = pattern.trim_end_matches('/').chars().collect();
    let s: Vec<char> = path.chars().collect();
    if glob(&p, &s) {
        return true;
    }
    // A directory pattern covers what is under it.
    s.iter()
        .enumerate()
        .filter(|(_, c)| **c == '/')
        .any(|(i, _)| glob(&p, &s[..i]))
}

/// Creates `rel` (components already checked) under `root`, one directory at a time, each
/// resolving inside `root`.
fn make_dirs(root: &Path, root_canon: &Path, rel: &[String]) -> Result<PathBuf, String> {
    let mut p = root.to_path_buf();
    for c in rel {
        p.push(c);
        match fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = fs::canonicalize(&p).map_err(|e| e.to_string())?;
                if !target.starts_with(root_canon) {
                    return Err(format!(
                        "{} is a symlink leading out of the target",
                        p.display()
                    ));
                }
            }
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(format!("{} exists and is not a directory", p.display())),
            Err(_) => fs::create_dir(&p).map_err(|e| format!("{}: {e}", p.display()))?,
        }
        let canon = fs::canonicalize(&p).map_err(|e| e.to_string())?;
        if !canon.starts_with(root_canon) {
            return Err(format!("{} resolves outside the target", p.display()));
        }
    }
    Ok(p)
}

fn set_mtime(path: &Path, d: MtfDateTime) {
    // MTF dates carry no time zone; they are applied as UTC.
    if let Some(dt) = d.to_datetime() {
        let secs = dt.to_unix();
        let t = if secs >= 0 {
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs as u64)
        } else {
            std::time::UNIX_EPOCH - std::time::Duration::from_secs(secs.unsigned_abs())
        };
        if let Ok(f) = File::open(path) {
            let _ = f.set_modified(t);
        }
    }
}

fn name_of(raw: &[u8], st: StringType) -> String {
    let mut s = decode_str(raw, st);
    s.truncate(s.trim_end_matches('\0').len());
    s
}

/// The file being restored.
struct OpenFile {
    file: File,
    path: PathBuf,
    /// Its modification date, set once it is closed.
    date: MtfDateTime,
    /// Bytes written by this part.
    bytes: u64,
    /// It continues a file begun from an earlier medium.
    appended: bool,
    /// Its size, when its data came in sparse (SPAR) pieces: a hole at the end must still
    /// count.
    sparse_size: Option<u64>,
}

/// Extracts set `set` (1-based position in the first media set) into `dir`.
pub fn extract(
    media: &[Medium],
    set: usize,
    dir: &Path,
    patterns: &[String],
    opts: &Options,
) -> DumpResult<ExtractReport> {
    let ids: Vec<MediumIdentity> = media
        .iter()
        .map(|m| MediumIdentity::from_header(&m.listing.header))
        .collect();
    let groups = group_media(&ids);
    let listings: Vec<&mtf::reader::Listing> = media.iter().map(|m| &m.listing).collect();
    let Some(group) = groups.first() else {
        return Err(DumpError("no media".into()));
    };
    let merged = merge_sets(group, &listings);
    let Some(m) = merged.iter().find(|m| m.position == set) else {
        return Err(DumpError(format!(
            "there is no set {set} (the media hold {} sets)",
            merged.len()
        )));
    };
    fs::create_dir_all(dir).map_err(|e| DumpError(format!("{}: {e}", dir.display())))?;
    let root_canon =
        fs::canonicalize(dir).map_err(|e| DumpError(format!("{}: {e}", dir.display())))?;
    let mut rep = ExtractReport {
        set,
        ..Default::default()
    };
    let head = &media[m.parts[0].medium].listing.sets[m.parts[0].set];
    let sql = SqlSetInfo::is_sql_server(head);
    let total: u64 = m
        .parts
        .iter()
        .filter_map(|p| media[p.medium].listing.sets[p.set].size_on_medium())
        .sum();
    let mut progress = Progress::new(opts.progress, "extract", total);
    let mut done_before = 0u64;
    // Directories to date once their contents are written.
    let mut dir_dates: Vec<(PathBuf, MtfDateTime)> = Vec::new();
    // Files to date once the copy workers have written their data.
    let mut file_dates: Vec<(PathBuf, MtfDateTime)> = Vec::new();
    // Large stream data, copied by the workers once the walk has planned every file.
    let mut jobs: Vec<CopyJob> = Vec::new();
    let mut sql_index = 0usize;
    let mut volumes = 0usize;
    for p in &m.parts {
        let medium = &media[p.medium];
        let part = &medium.listing.sets[p.set];
        let start = part.offset();
        // A medium that is a plain file is read again by the copy workers.
        let src_file: Option<(Arc<File>, u64)> = if super::is_tape(&medium.path) {
            None
        } else {
            File::open(&medium.path)
                .ok()
                .and_then(|f| Some((f.metadata().ok().filter(|m| m.is_file())?.len(), f)))
                .map(|(len, f)| (Arc::new(f), len))
        };
        // The job for the stream being walked, until the next event.
        let mut last_job: Option<usize> = None;
        let mut st = StringType::NONE;
        let mut vol = String::from("volume0");
        let mut cur_dir: Option<Vec<String>> = Some(Vec::new());
        // The file being written: its output, path, date, and whether to write its data.
        let mut out: Option<OpenFile> = None;
        let mut pending_name: Option<(u64, MtfDateTime, bool)> = None; // FILE offset, date, continuation
        let mut block_label = String::new();
        let mut in_file = false;
        // The current FILE block's size (its Displayable Size field).
        let mut file_size = 0u64;
        let close = |out: &mut Option<OpenFile>,
                     rep: &mut ExtractReport,
                     root: &Path,
                     dates: &mut Vec<(PathBuf, MtfDateTime)>| {
            if let Some(OpenFile {
                mut file,
                path,
                date,
                bytes,
                appended,
                sparse_size,
            }) = out.take()
            {
                // Data planned for the copy workers lies beyond what is written so far: the
                // file takes its planned length now, so that a continuation on the next medium
                // appends after it.
                if let Ok(end) = file.stream_position() {
                    if file.metadata().is_ok_and(|m| m.len() < end) {
                        if let Err(e) = file.set_len(end) {
                            rep.errors.push(format!("{}: {e}", path.display()));
                        }
                    }
                }
                if let Some(n) = sparse_size {
                    if file.metadata().is_ok_and(|m| m.len() < n) {
                        if let Err(e) = file.set_len(n) {
                            rep.errors.push(format!("{}: {e}", path.display()));
                        }
                    }
                }
                drop(file);
                dates.push((path.clone(), date));
                let rel = path
                    .strip_prefix(root)
                    .unwrap_or(&path)
                    .to_string_lossy()
                    .into_owned();
                // A file continued from an earlier medium is one entry, with all its bytes.
                match rep.files.iter_mut().rev().find(|w| w.path == rel) {
                    Some(w) if appended => w.bytes += bytes,
                    _ => rep.files.push(Written { path: rel, bytes }),
                }
            }
        };
        let open_file = |rep: &mut ExtractReport,
                         vol: &str,
                         dir: &[String],
                         name: &str,
                         offset: u64,
                         date: MtfDateTime,
                         append: bool|
         -> Option<OpenFile> {
            if let Err(reason) = check_component(name) {
                rep.refused.push(Refusal {
                    name: format!("{}/{}", dir.join("/"), name),
                    reason,
                    offset,
                });
                return None;
            }
            let mut rel_all: Vec<String> = vec![vol.to_string()];
            rel_all.extend(dir.iter().cloned());
            let rel_path = {
                let mut v = dir.to_vec();
                v.push(name.to_string());
                v.join("/")
            };
            let full_rel = format!("{vol}/{rel_path}");
            if !patterns.is_empty()
                && !patterns
                    .iter()
                    .any(|p| matches(p, &rel_path) || matches(p, &full_rel))
            {
                return None;
            }
            let parent = match make_dirs(&root_canon, &root_canon, &rel_all) {
                Ok(p) => p,
                Err(e) => {
                    rep.refused.push(Refusal {
                        name: full_rel,
                        reason: e,
                        offset,
                    });
                    return None;
                }
            };
            let path = parent.join(name);
            if let Ok(md) = fs::symlink_metadata(&path) {
                if md.file_type().is_symlink() || md.is_dir() {
                    rep.refused.push(Refusal {
                        name: full_rel,
                        reason: "exists as a symlink or directory".into(),
                        offset,
                    });
                    return None;
                }
            }
            // Not O_APPEND: the copy workers write at explicit offsets.
            let f = if append {
                OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(&path)
                    .and_then(|mut f| f.seek(SeekFrom::End(0)).map(|_| f))
            } else {
                File::create(&path)
            };
            match f {
                Ok(file) => Some(OpenFile {
                    file,
                    path,
                    date,
                    bytes: 0,
                    appended: append,
                    sparse_size: None,
                }),
                Err(e) => {
                    rep.errors.push(format!("{}: {e}", path.display()));
                    None
                }
            }
        };
        let root_dir = root_canon.clone();
        walk_set(&medium.path, &medium.listing, part, opts, |r, ev| {
            progress.set(done_before + r.position().saturating_sub(start));
            match ev {
                Event::Block { offset, dblk } => {
                    last_job = None;
                    close(&mut out, &mut rep, &root_dir, &mut file_dates);
                    pending_name = None;
                    in_file = matches!(dblk.body, Body::File(_));
                    st = dblk.header.string_type;
                    block_label = format!("{}", dblk.block_type());
                    match &dblk.body {
                        Body::Volb(v) => {
                            // A continuation medium repeats the volume: same directory.
                            if !dblk
                                .header
                                .attributes
                                .contains(BlockAttributes::CONTINUATION)
                            {
                                volumes += 1;
                            }
                            vol = volume_dir(&v.device_name.display(st), volumes);
                            cur_dir = Some(Vec::new());
                        }
                        Body::Dirb(d) => {
                            let comps = d.components(st);
                            match comps.iter().try_for_each(|c| check_component(c)) {
                                Ok(()) => {
                                    cur_dir = Some(comps.clone());
                                    if !d
                                        .attributes
                                        .contains(mtf::spec::DirectoryAttributes::PATH_IN_STREAM)
                                    {
                                        let mut rel = vec![vol.clone()];
                                        rel.extend(comps);
                                        let shown = rel.join("/");
                                        // With patterns, directories are made as the files
                                        // that match need them.
                                        if patterns.is_empty() {
                                            match make_dirs(&root_dir, &root_dir, &rel) {
                                                Ok(pth) => {
                                                    rep.directories.push(shown);
                                                    dir_dates
                                                        .push((pth, d.dates.last_modification));
                                                }
                                                Err(e) => rep.refused.push(Refusal {
                                                    name: shown,
                                                    reason: e,
                                                    offset,
                                                }),
                                            }
                                        }
                                    }
                                }
                                Err(reason) => {
                                    rep.refused.push(Refusal {
                                        name: comps.join("/"),
                                        reason,
                                        offset,
                                    });
                                    cur_dir = None;
                                }
                            }
                        }
                        Body::File(f) => {
                            file_size = dblk.header.displayable_size;
                            let date = f.dates.last_modification;
                            let cont = dblk
                                .header
                                .attributes
                                .contains(BlockAttributes::CONTINUATION);
                            match &cur_dir {
                                None => rep.refused.push(Refusal {
                                    name: f.file_name.display(st),
                                    reason: "its directory was refused".into(),
                                    offset,
                                }),
                                Some(d) => {
                                    if f.attributes
                                        .contains(mtf::spec::FileAttributes::NAME_IN_STREAM)
                                    {
                                        pending_name = Some((offset, date, cont));
                                    } else {
                                        let d = d.clone();
                                        out = open_file(
                                            &mut rep,
                                            &vol,
                                            &d,
                                            &f.file_name.display(st),
                                            offset,
                                            date,
                                            cont,
                                        );
                                    }
                                }
                            }
                        }
                        _ => {}
                    }
                }
                Event::Stream { offset, header } => {
                    last_job = None;
                    let id = header.id;
                    if id == StreamId::FNAM {
                        if let Some((foff, date, cont)) = pending_name.take() {
                            if let Some(data) = r.read_data_to_vec(64 * 1024).map_err(mtf_err)? {
                                if let Some(d) = cur_dir.clone() {
                                    out = open_file(
                                        &mut rep,
                                        &vol,
                                        &d,
                                        &name_of(&data, st),
                                        foff,
                                        date,
                                        cont,
                                    );
                                }
                            }
                        }
                        return Ok(true);
                    }
                    if id == StreamId::PNAM {
                        if let Some(data) = r.read_data_to_vec(64 * 1024).map_err(mtf_err)? {
                            let comps = split_dir_path(&data, st);
                            match comps.iter().try_for_each(|c| check_component(c)) {
                                Ok(()) => {
                                    let mut rel = vec![vol.clone()];
                                    rel.extend(comps.iter().cloned());
                                    match make_dirs(&root_dir, &root_dir, &rel) {
                                        Ok(_) => rep.directories.push(rel.join("/")),
                                        Err(e) => rep.refused.push(Refusal {
                                            name: rel.join("/"),
                                            reason: e,
                                            offset,
                                        }),
                                    }
                                    cur_dir = Some(comps);
                                }
                                Err(reason) => {
                                    rep.refused.push(Refusal {
                                        name: comps.join("/"),
                                        reason,
                                        offset,
                                    });
                                    cur_dir = None;
                                }
                            }
                        }
                        return Ok(true);
                    }
                    if sql && matches!(id, StreamId::MQDA | StreamId::MQTL) && header.length > 0 {
                        sql_index += 1;
                        let rel = vec![format!("family{}", p.family_number)];
                        let name = format!("{:02}-{}-{}.{}", sql_index, block_label, offset, id);
                        match make_dirs(&root_dir, &root_dir, &rel) {
                            Ok(parent) => {
                                let path = parent.join(&name);
                                match File::create(&path) {
                                    Ok(mut f) => {
                                        let n = r.copy_data(&mut f).map_err(mtf_err)?;
                                        rep.files.push(Written {
                                            path: format!("{}/{name}", rel[0]),
                                            bytes: n,
                                        });
                                    }
                                    Err(e) => rep.errors.push(format!("{}: {e}", path.display())),
                                }
                            }
                            Err(e) => rep.errors.push(e),
                        }
                        return Ok(true);
                    }
                    let Some(OpenFile {
                        file: f,
                        bytes,
                        sparse_size,
                        path: out_path,
                        ..
                    }) = out.as_mut()
                    else {
                        if in_file && id != StreamId::SPAD && header.length > 0 {
                            *rep.streams_not_restored.entry(id.to_string()).or_default() += 1;
                        }
                        return Ok(true);
                    };
                    let coded = header.media_attributes.intersects(
                        StreamMediaAttributes::COMPRESSED | StreamMediaAttributes::ENCRYPTED,
                    );
                    let data_at = offset + mtf::spec::STREAM_HDR_LEN as u64;
                    let plain = id == StreamId::STAN && !coded;
                    // Large plain data from a medium file goes to the copy workers.
                    let to_workers = src_file
                        .as_ref()
                        .filter(|_| plain && header.length >= PARALLEL_MIN);
                    if let Some((src, src_len)) = to_workers {
                        // Planned now, copied by the workers after the walk; the walk seeks on.
                        // Only what the medium holds (a cut-short medium reports the damage).
                        let len = header.length.min(src_len.saturating_sub(data_at));
                        let dest_offset = f.stream_position().map_err(DumpError::from)?;
                        let dest = f.try_clone().map_err(DumpError::from)?;
                        f.seek(SeekFrom::Start(dest_offset + len))
                            .map_err(DumpError::from)?;
                        jobs.push(CopyJob {
                            src: src.clone(),
                            src_offset: data_at,
                            len,
                            dest: Arc::new(dest),
                            dest_offset,
                            path: out_path.clone(),
                        });
                        last_job = Some(jobs.len() - 1);
                        *bytes += len;
                        r.skip_data().map_err(mtf_err)?;
                    } else if plain {
                        *bytes += r.copy_data(f).map_err(mtf_err)?;
                    } else if id == StreamId::SPAR && !coded {
                        *sparse_size = Some(file_size);
                        // 8-byte offset, then the chunk's bytes.
                        let mut head = Vec::with_capacity(8);
                        let mut at = 0u64;
                        while let Some(chunk) = r.read_data().map_err(mtf_err)? {
                            let mut c = chunk;
                            if head.len() < 8 {
                                let k = (8 - head.len()).min(c.len());
                                head.extend_from_slice(&c[..k]);
                                c = &c[k..];
                                if head.len() == 8 {
                                    at = u64::from_le_bytes(head[..8].try_into().expect("8 bytes"));
                                }
                            }
                            if !c.is_empty() {
                                f.seek(SeekFrom::Start(at)).map_err(DumpError::from)?;
                                f.write_all(c).map_err(DumpError::from)?;
                                at += c.len() as u64;
                                *bytes = (*bytes).max(at);
                            }
                        }
                    } else if id != StreamId::SPAD && id != StreamId::CSUM && header.length > 0 {
                        let key = if coded {
                            format!("{id} (compressed or encrypted, not decoded)")
                        } else {
                            id.to_string()
                        };
                        *rep.streams_not_restored.entry(key).or_default() += 1;
                    }
                }
                Event::Damage(d) => rep.damage.push(DamageInfo::from(&d)),
                Event::Filemark { .. } => {
                    last_job = None;
                    close(&mut out, &mut rep, &root_dir, &mut file_dates)
                }
                // The file stays as written so far; its FILE block on the next medium (with the
                // continuation bit) reopens it for appending. A planned copy stops at the cut.
                Event::StreamCut { offset, .. } => {
                    if let Some(i) = last_job.take() {
                        let job = &mut jobs[i];
                        let kept = job.len.min(offset.saturating_sub(job.src_offset));
                        if let Some(o) = out.as_mut() {
                            o.bytes -= job.len - kept;
                            o.file
                                .seek(SeekFrom::Start(job.dest_offset + kept))
                                .map_err(DumpError::from)?;
                        }
                        job.len = kept;
                    }
                }
            }
            Ok(true)
        })?;
        close(&mut out, &mut rep, &root_canon, &mut file_dates);
        done_before += part.size_on_medium().unwrap_or(0);
    }
    if !jobs.is_empty() {
        progress.finish();
        let copied: u64 = jobs.iter().map(|j| j.len).sum();
        progress = Progress::new(opts.progress, "extract (copying)", copied);
        rep.errors.extend(copyjobs::run(&jobs, &mut progress, 0));
        drop(jobs);
    }
    progress.finish();
    for (p, d) in file_dates {
        set_mtime(&p, d);
    }
    // Date directories deepest first, after their contents.
    dir_dates.sort_by_key(|d| std::cmp::Reverse(d.0.components().count()));
    for (p, d) in dir_dates {
        set_mtime(&p, d);
    }
    Ok(rep)
}

/// `mtfdump extract`.
pub fn run(
    paths: &[PathBuf],
    set: usize,
    dir: &Path,
    patterns: &[String],
    opts: &Options,
    out: &mut dyn Write,
) -> DumpResult<Outcome> {
    let media = list_media(paths, opts)?;
    let rep = extract(&media, set, dir, patterns, opts)?;
    if opts.json {
        write_json(out, &rep)?;
    } else {
        print(&rep, out)?;
    }
    Ok(
        if rep.refused.is_empty() && rep.damage.is_empty() && rep.errors.is_empty() {
            Outcome::Ok
        } else {
            Outcome::Problems
        },
    )
}

fn print(rep: &ExtractReport, out: &mut dyn Write) -> DumpResult<()> {
    for d in &rep.directories {
        writeln!(out, "d {d}/")?;
    }
    for f in &rep.files {
        writeln!(out, "f {} ({} bytes)", f.path, f.bytes)?;
    }
    for r in &rep.refused {
        writeln!(
            out,
            "refused: {:?} at offset {}: {}",
            r.name, r.offset, r.reason
        )?;
    }
    for (k, n) in &rep.streams_not_restored {
        writeln!(out, "not restored: {n} {k} stream(s)")?;
    }
    for d in &rep.damage {
        writeln!(
            out,
            "damaged: {} bytes at offset {}: {}",
            d.len, d.offset, d.reason
        )?;
    }
    for e in &rep.errors {
        writeln!(out, "error: {e}")?;
    }
    writeln!(
        out,
        "set {}: {} directories, {} files written, {} refused",
        rep.set,
        rep.directories.len(),
        rep.files.len(),
        rep.refused.len()
    )?;
    Ok(())
}
