//! `mtfpack`: back up directory trees into an MTF medium, the way NTBackup lays out a file
//! backup: one volume per tree, each directory (full path, NUL-separated) before its files.

use mtf::date::DateTime;
use mtf::writer::{
    BlockSink, EntryMeta, FileOutcome, MediaSupplier, SetOptions, VolumeOptions, Writer,
};
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
    /// Entries that could not be backed up (names that would not restore, files that could not
    /// be opened, unreadable directories), with the path and the reason: the run's exit
    /// status says so.
    pub skipped: Vec<String>,
    /// Entries left out by design (symlinks, devices, sockets, FIFOs, the output medium
    /// itself), with the path: logged, not a failure.
    pub left_out: Vec<String>,
    /// Files written but not whole (a read failed, or the file changed length while read):
    /// zero-filled to their size and marked with a CFIL on the medium.
    pub not_whole: Vec<String>,
}

impl PackStats {
    /// Adds another tree's counts.
    pub fn add(&mut self, o: PackStats) {
        self.directories += o.directories;
        self.files += o.files;
        self.bytes += o.bytes;
        self.skipped.extend(o.skipped);
        self.left_out.extend(o.left_out);
        self.not_whole.extend(o.not_whole);
    }

    /// Every entry went in whole.
    pub fn is_whole(&self) -> bool {
        self.skipped.is_empty() && self.not_whole.is_empty()
    }
}

/// Opens a file's data for reading: the file system, or a test's stand-in.
pub type Opener<'a> = dyn FnMut(&Path) -> io::Result<Box<dyn io::Read>> + 'a;

/// What to leave out of a tree: the output medium (and its temporary file) when they lie
/// inside it, by device and inode.
#[derive(Clone, Debug, Default)]
pub struct Exclude {
    /// (device, inode) pairs.
    pub inodes: Vec<(u64, u64)>,
}

impl Exclude {
    /// Leaves out whatever `path` is (if it exists): a file, or a directory and everything in
    /// it.
    pub fn add_path(&mut self, path: &Path) {
        use std::os::unix::fs::MetadataExt;
        if let Ok(m) = fs::metadata(path) {
            self.inodes.push((m.dev(), m.ino()));
        }
    }

    fn contains(&self, m: &fs::Metadata) -> bool {
        use std::os::unix::fs::MetadataExt;
        self.inodes.contains(&(m.dev(), m.ino()))
    }
}

/// A name from the file system as the medium will store it, or why it cannot be stored so that
/// it restores to the same bytes (not UTF-8, or refused by the extractor's sanitiser).
fn storable_name(n: &std::ffi::OsStr) -> Result<String, String> {
    let s = n.to_str().ok_or_else(|| {
        "name is not valid UTF-8 (would not restore to the same bytes)".to_string()
    })?;
    mtf::extract::check_component(s).map_err(|r| format!("name would not restore: {r}"))?;
    Ok(s.to_owned())
}

/// Checks that every source is an existing directory, given once (the same directory twice,
/// however spelt, would back up twice into volumes that restore to one directory), before any
/// output is opened.
pub fn check_sources(dirs: &[std::path::PathBuf]) -> Result<(), String> {
    let mut seen: Vec<(std::path::PathBuf, &Path)> = Vec::new();
    for d in dirs {
        match fs::metadata(d) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(format!("{}: not a directory", d.display())),
            Err(e) => return Err(format!("{}: {e}", d.display())),
        }
        let real = fs::canonicalize(d).map_err(|e| format!("{}: {e}", d.display()))?;
        if let Some((_, first)) = seen.iter().find(|(r, _)| *r == real) {
            return Err(format!(
                "{} and {}: the same directory given twice",
                first.display(),
                d.display()
            ));
        }
        seen.push((real, d));
    }
    Ok(())
}

/// Checks, before it is opened, that an existing file `output` inside a source tree is a
/// medium (a previous backup, which the run replaces and leaves out), not one of the files
/// being backed up: replacing that would lose it from both the tree and the backup.
pub fn check_output(output: &Path, dirs: &[std::path::PathBuf]) -> Result<(), String> {
    use std::io::Read;
    use std::os::unix::fs::FileTypeExt;
    let Ok(real) = fs::canonicalize(output) else {
        return Ok(()); // not there yet: nothing to lose
    };
    let Ok(ft) = fs::metadata(&real).map(|m| m.file_type()) else {
        return Ok(());
    };
    // A FIFO, socket or block device would be replaced by a regular file of the same name.
    if ft.is_fifo() || ft.is_socket() || ft.is_block_device() {
        return Err(format!(
            "{}: is a FIFO, socket or block device; the output is a file, a .tap image or a \
             tape device",
            output.display()
        ));
    }
    if !ft.is_file() {
        return Ok(());
    }
    let Some(dir) = dirs
        .iter()
        .find(|d| fs::canonicalize(d).is_ok_and(|d| real.starts_with(d)))
    else {
        return Ok(());
    };
    let mut magic = [0u8; 4];
    let is_medium = fs::File::open(&real)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && &magic == b"TAPE";
    if is_medium {
        return Ok(());
    }
    Err(format!(
        "{}: is a file inside the source {} and not a medium; writing the backup there would \
         lose it",
        output.display(),
        dir.display()
    ))
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

/// Opens a file for reading without following a symlink swapped in since the walk saw it, and
/// without blocking on a FIFO.
pub fn open_nofollow(p: &Path) -> io::Result<Box<dyn io::Read>> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
        .open(p)?;
    if !f.metadata()?.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    Ok(Box::new(f))
}

/// Where packed entries go: one medium's [`Writer`], or a striped media set
/// (`media::stripe::StripedWriter`, in [`crate::packset`]).
pub trait PackTarget {
    fn add_volume(&mut self, v: &VolumeOptions) -> mtf::Result<()>;
    fn add_directory(&mut self, components: &[String], meta: &EntryMeta) -> mtf::Result<()>;
    /// A file in the directory last added; what its source gave (a file that failed or changed
    /// length while read went in zero-filled or cut, and marked).
    fn add_file(
        &mut self,
        dir: &[String],
        name: &str,
        meta: &EntryMeta,
        size: u64,
        data: &mut dyn io::Read,
    ) -> mtf::Result<FileOutcome>;
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
    ) -> mtf::Result<FileOutcome> {
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
    let mut open = |p: &Path| -> io::Result<Box<dyn io::Read>> { Ok(Box::new(fs::File::open(p)?)) };
    pack_tree_with(
        w,
        root,
        machine,
        backup_date,
        log,
        &Exclude::default(),
        &mut open,
    )
}

/// [`pack_tree`], leaving out `exclude` and opening files with `open`. A file that cannot be
/// opened, or whose name would not restore, is left out and named; one that fails or changes
/// length while read goes in zero-filled and marked (CFIL), and is named. The caller's exit
/// status says so ([`PackStats::is_whole`]).
pub fn pack_tree_with<T: PackTarget>(
    w: &mut T,
    root: &Path,
    machine: &str,
    backup_date: DateTime,
    log: &mut dyn Write,
    exclude: &Exclude,
    open: &mut Opener<'_>,
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
    let mut walker = walker;
    while let Some(entry) = walker.next() {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                stats.skipped.push(format!("{e}"));
                continue;
            }
        };
        if entry.file_type().is_dir() {
            if entry.metadata().is_ok_and(|m| exclude.contains(&m)) {
                stats.left_out.push(format!(
                    "{}: the output's directory (a changer's library) and everything in it",
                    entry.path().display()
                ));
                walker.skip_current_dir();
                continue;
            }
            let rel = entry.path().strip_prefix(root).unwrap_or(entry.path());
            let comps: Result<Vec<String>, String> = rel
                .components()
                .map(|c| storable_name(c.as_os_str()))
                .collect();
            let comps = match comps {
                Ok(c) => c,
                Err(reason) => {
                    stats.skipped.push(format!(
                        "{}: {reason}; the directory and everything in it left out",
                        entry.path().display()
                    ));
                    walker.skip_current_dir();
                    continue;
                }
            };
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
                stats.left_out.push(format!(
                    "{}: not a regular file (symlink, device, FIFO or socket)",
                    p.display()
                ));
                continue;
            }
            let name = match storable_name(&child.file_name()) {
                Ok(n) => n,
                Err(reason) => {
                    stats.skipped.push(format!("{}: {reason}", p.display()));
                    continue;
                }
            };
            let meta = match fs::symlink_metadata(&p) {
                Ok(m) => m,
                Err(e) => {
                    stats.skipped.push(format!("{}: stat: {e}", p.display()));
                    continue;
                }
            };
            if exclude.contains(&meta) {
                stats
                    .left_out
                    .push(format!("{}: the output medium itself", p.display()));
                continue;
            }
            let mut f = match open(&p) {
                Ok(f) => f,
                Err(e) => {
                    stats.skipped.push(format!("{}: open: {e}", p.display()));
                    continue;
                }
            };
            let em = entry_meta(&meta, backup_date);
            if meta.modified().is_ok() && em.dates.last_modification.is_none() {
                // MTF holds years 0 to 16383; a date beyond is not invented, and said.
                stats.not_whole.push(format!(
                    "{}: modification time outside what MTF can hold (years 0 to 16383); \
                     stored as unknown",
                    p.display()
                ));
            }
            let got = w.add_file(&comps, &name, &em, meta.len(), &mut f)?;
            if !got.is_whole() {
                let why = match (&got.read_error, got.grew) {
                    (Some(e), _) => format!("read failed after {} bytes: {e}", got.bytes_read),
                    (None, true) => format!("grew while read (only {} bytes kept)", got.declared),
                    (None, false) => format!(
                        "shrank while read ({} of {} bytes; zero-filled)",
                        got.bytes_read, got.declared
                    ),
                };
                stats.not_whole.push(format!(
                    "{}: {why}; marked corrupt (CFIL) on the medium",
                    p.display()
                ));
            }
            stats.files += 1;
            stats.bytes += meta.len();
        }
    }
    for s in &stats.left_out {
        let _ = writeln!(log, "mtfpack: left out {s}");
    }
    for s in &stats.skipped {
        let _ = writeln!(log, "mtfpack: NOT BACKED UP {s}");
    }
    for s in &stats.not_whole {
        let _ = writeln!(log, "mtfpack: NOT WHOLE {s}");
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
    if !dt.is_valid() {
        return Err(bad());
    }
    mtf::MtfDateTime::from_datetime(dt)
        .map(|_| dt)
        .ok_or_else(|| format!("date {s:?} is outside what MTF can hold (years 0 to 16383)"))
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
