//! `mtfpack`: back up directory trees into an MTF medium, the way NTBackup lays out a file
//! backup: one volume per tree, each directory (full path, NUL-separated) before its files.

use mtf::date::DateTime;
use mtf::writer::{BlockSink, EntryMeta, MediaSupplier, SetOptions, VolumeOptions, Writer};
use std::fs;
use std::io::{self, Write};
use std::path::Path;
use std::time::SystemTime;

/// What packing one tree found.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct PackStats {
    pub directories: u64,
    pub files: u64,
    pub bytes: u64,
    /// Entries left out (symlinks, devices, unreadable), with the reason.
    pub skipped: Vec<String>,
}

fn mtime(meta: &fs::Metadata) -> Option<DateTime> {
    meta.modified().ok().and_then(DateTime::from_system_time)
}

fn entry_meta(meta: &fs::Metadata, backup: DateTime) -> EntryMeta {
    let mut m = EntryMeta::with_dates(mtime(meta), backup);
    // Creation stays the modification date: Unix has no settable creation time, and btime
    // would make two backups of the same tree differ.
    if let Some(a) = meta.accessed().ok().and_then(DateTime::from_system_time) {
        m.dates.last_access = mtf::MtfDateTime::from_datetime(a).unwrap_or(m.dates.last_access);
    }
    m.read_only = meta.permissions().readonly();
    m
}

/// Where packed entries go: one medium's [`Writer`], or a striped media set
/// (`media::stripe::StripedWriter`, in [`crate::packset`]).
pub trait PackTarget {
    fn add_volume(&mut self, v: &VolumeOptions) -> mtf::Result<()>;
    fn add_directory(&mut self, components: &[String], meta: &EntryMeta) -> mtf::Result<()>;
    /// A file in the directory last added.
    fn add_file(
        &mut self,
        dir: &[String],
        name: &str,
        meta: &EntryMeta,
        size: u64,
        data: &mut dyn io::Read,
    ) -> mtf::Result<()>;
}

impl<S: BlockSink, M: MediaSupplier<S>> PackTarget for Writer<S, M> {
    fn add_volume(&mut self, v: &VolumeOptions) -> mtf::Result<()> {
        Writer::add_volume(self, v)
    }
    fn add_directory(&mut self, components: &[String], meta: &EntryMeta) -> mtf::Result<()> {
        Writer::add_directory(self, components, meta)
    }
    fn add_file(
        &mut self,
        _dir: &[String],
        name: &str,
        meta: &EntryMeta,
        size: u64,
        data: &mut dyn io::Read,
    ) -> mtf::Result<()> {
        Writer::add_file(self, name, meta, size, data)
    }
}

/// Adds one tree as a volume of the open set: the root directory, then every directory in
/// sorted order, each followed by its files.
pub fn pack_tree<T: PackTarget>(
    w: &mut T,
    root: &Path,
    machine: &str,
    backup_date: DateTime,
    log: &mut dyn Write,
) -> mtf::Result<PackStats> {
    let mut stats = PackStats::default();
    w.add_volume(&VolumeOptions {
        device: root.display().to_string(),
        volume: root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        machine: machine.to_owned(),
    })?;
    // Directories first (sorted, so parents precede children), files after their directory.
    let walker = walkdir::WalkDir::new(root)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter();
    let mut dirs: Vec<(Vec<String>, fs::Metadata, std::path::PathBuf)> = Vec::new();
    for entry in walker {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                stats.skipped.push(format!("{e}"));
                continue;
            }
        };
        if entry.file_type().is_dir() {
            let rel = entry.path().strip_prefix(root).unwrap_or(entry.path());
            let comps: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            match entry.metadata() {
                Ok(m) => dirs.push((comps, m, entry.path().to_owned())),
                Err(e) => stats
                    .skipped
                    .push(format!("{}: {e}", entry.path().display())),
            }
        }
    }
    for (comps, meta, path) in dirs {
        w.add_directory(&comps, &entry_meta(&meta, backup_date))?;
        stats.directories += 1;
        let mut children: Vec<fs::DirEntry> = match fs::read_dir(&path) {
            Ok(rd) => rd.filter_map(|e| e.ok()).collect(),
            Err(e) => {
                stats.skipped.push(format!("{}: {e}", path.display()));
                continue;
            }
        };
        children.sort_by_key(|e| e.file_name());
        for child in children {
            let p = child.path();
            let ft = match child.file_type() {
                Ok(t) => t,
                Err(e) => {
                    stats.skipped.push(format!("{}: {e}", p.display()));
                    continue;
                }
            };
            if ft.is_dir() {
                continue;
            }
            if !ft.is_file() {
                stats.skipped.push(format!(
                    "{}: not a regular file (symlink or special), left out",
                    p.display()
                ));
                continue;
            }
            let name = child.file_name().to_string_lossy().into_owned();
            let (meta, mut f) =
                match fs::metadata(&p).and_then(|m| fs::File::open(&p).map(|f| (m, f))) {
                    Ok(x) => x,
                    Err(e) => {
                        stats.skipped.push(format!("{}: {e}", p.display()));
                        continue;
                    }
                };
            w.add_file(
                &comps,
                &name,
                &entry_meta(&meta, backup_date),
                meta.len(),
                &mut f,
            )?;
            stats.files += 1;
            stats.bytes += meta.len();
        }
    }
    for s in &stats.skipped {
        let _ = writeln!(log, "mtfpack: skipped {s}");
    }
    Ok(stats)
}

/// The current time as a calendar value (UTC).
pub fn now() -> DateTime {
    DateTime::from_system_time(SystemTime::now()).unwrap_or(DateTime {
        year: 2000,
        month: 1,
        day: 1,
        hour: 0,
        minute: 0,
        second: 0,
    })
}

/// Parses `YYYY-MM-DDTHH:MM:SS` (UTC), for reproducible images.
pub fn parse_date(s: &str) -> Result<DateTime, String> {
    let bad = || format!("bad date {s:?}: want YYYY-MM-DDTHH:MM:SS");
    let (d, t) = s.split_once(['T', ' ']).ok_or_else(bad)?;
    let n: Vec<u16> = d
        .split('-')
        .chain(t.split(':'))
        .map(|x| x.parse().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    let [year, month, day, hour, minute, second] = n[..] else {
        return Err(bad());
    };
    let dt = DateTime {
        year,
        month: month as u8,
        day: day as u8,
        hour: hour as u8,
        minute: minute as u8,
        second: second as u8,
    };
    dt.is_valid().then_some(dt).ok_or_else(bad)
}

/// Options for one set, as `mtfpack` takes them.
pub fn set_options(name: &str, description: &str, date: DateTime, checksums: bool) -> SetOptions {
    let mut o = SetOptions::new(name, date);
    o.description = description.to_owned();
    o.user = std::env::var("USER").unwrap_or_default();
    o.checksums = checksums;
    o.time_zone = 0; // mtfpack records UTC
    o
}

/// Errors as one line.
pub fn io_err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}
