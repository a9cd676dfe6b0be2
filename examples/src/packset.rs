//! mtfpack's media-set path: a striped backup over several tapes (one family per `-o`), with
//! mirrors, continuation media from a directory library, and the overwrite safety decision —
//! all done by the `media` crate; this module only turns the command line into its calls.

use crate::pack::{open_nofollow, pack_tree_with, Exclude, PackStats, PackTarget};
use media::changer::dir::{CreatedImages, DirectoryLibrary};
use media::changer::{open_path, MediaChanger, Mounted, ScriptedChanger};
use media::decision::Operation;
use media::family::{MediaError, WriteOptions};
use media::set::{MediaPassword, MediaSet};
use media::stripe::{BackupSet, StripeDevice, StripeOptions, StripedWriter};
use mtf::writer::{EntryMeta, FileOutcome, SetOptions, VolumeOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use tape_sys::EmulatedOptions;

/// What the command line asks of a media set.
pub struct MediaSetJob {
    /// One device per family.
    pub outputs: Vec<PathBuf>,
    /// Mirror devices, one per family in order, repeated per extra copy.
    pub mirrors: Vec<PathBuf>,
    /// A directory library for continuation media.
    pub changer: Option<PathBuf>,
    /// Capacity of the tape images created (and of the `-o` images).
    pub capacity: Option<u64>,
    /// The operation, skip, block size and now (the name and password checked come from
    /// `media_name` and `password`).
    pub write: WriteOptions,
    /// MEDIANAME: the new set's name on format, the name to match on init and append.
    pub media_name: Option<String>,
    pub media_description: String,
    pub password: Option<String>,
    /// When the set may be overwritten (Unix seconds).
    pub expires: Option<i64>,
    pub set: SetOptions,
    pub machine: String,
    pub dirs: Vec<PathBuf>,
    /// Files to the families strictly in turn ([`StripedWriter::assign_in_turn`]).
    pub in_turn: bool,
}

/// The emulated-tape options for the images mtfpack opens or creates: the capacity, with an
/// early-warning zone that holds a set's end and the end-of-media procedure.
fn tape_options(capacity: Option<u64>, block_size: usize) -> EmulatedOptions {
    match capacity {
        Some(c) => {
            let zone = (c / 32).max(8 * block_size as u64).min(c / 2);
            EmulatedOptions::new().capacity(c).early_warning(zone)
        }
        None => EmulatedOptions::new(),
    }
}

struct Target<'a>(&'a mut StripedWriter);

fn to_mtf(e: MediaError) -> mtf::Error {
    match e {
        MediaError::Mtf(e) => e,
        other => mtf::Error::Io(io::Error::other(other.to_string())),
    }
}

impl PackTarget for Target<'_> {
    fn add_volume(&mut self, v: &VolumeOptions) -> mtf::Result<()> {
        self.0.add_volume(v).map_err(to_mtf)
    }
    fn add_directory(&mut self, components: &[String], meta: &EntryMeta) -> mtf::Result<()> {
        self.0.add_directory(components, meta).map_err(to_mtf)
    }
    fn add_file(
        &mut self,
        dir: &[String],
        name: &str,
        meta: &EntryMeta,
        size: u64,
        data: &mut dyn Read,
    ) -> mtf::Result<FileOutcome> {
        self.0.add_file(dir, name, meta, size, data).map_err(to_mtf)
    }
}

/// The devices of a media-set job, its media set and stripe options: what
/// [`StripedWriter::start`] takes. `created` lists the images this run created (to remove
/// again on a refusal).
pub struct PreparedMedia {
    pub devices: Vec<Vec<StripeDevice>>,
    pub set: MediaSet,
    pub options: StripeOptions,
    pub created: Vec<PathBuf>,
    /// The images that existed, with their lengths: a failed append cuts them back
    /// ([`put_back`]).
    pub ends: Vec<(PathBuf, u64)>,
    /// The images of this run, each held under an exclusive `flock` until this is dropped:
    /// a second backup to the same image (another process appending at once) is refused
    /// before it writes, and so can never cut the image back ([`put_back`]) under the
    /// writer. Callers keep it (see [`PreparedMedia::take_locks`]) until the set is finished
    /// or the images are put back.
    pub locks: Vec<std::fs::File>,
    /// The images the libraries (`--changer`) create for this run as it goes: a failed run
    /// removes them with the images it created itself ([`PreparedMedia::cleanup_all`]).
    pub library_created: CreatedImages,
}

impl PreparedMedia {
    /// Removes the images this run created, itself and through its libraries (after a
    /// failure: none of them holds a set that exists).
    pub fn cleanup_all(created: &[PathBuf], library_created: &CreatedImages) {
        Self::cleanup(created);
        let made = std::mem::take(&mut *library_created.lock().unwrap_or_else(|e| e.into_inner()));
        Self::cleanup(&made);
    }

    /// The image locks, for the caller to hold while the devices are handed on.
    pub fn take_locks(&mut self) -> Vec<std::fs::File> {
        std::mem::take(&mut self.locks)
    }

    /// Removes the images this run created (after a refusal).
    pub fn cleanup(created: &[PathBuf]) {
        for p in created {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Opens every device of the job (one per family, mirrors after), with a changer each.
pub fn prepare_media(job: &MediaSetJob) -> Result<PreparedMedia, String> {
    let families = job.outputs.len();
    if families == 0 || job.mirrors.len() % families != 0 {
        return Err(format!(
            "--mirror names one device per family: {} given for {families} families",
            job.mirrors.len()
        ));
    }
    check_devices(job)?;
    let copies = 1 + job.mirrors.len() / families;
    let opts = tape_options(job.capacity, job.write.block_size);
    let mut created: Vec<PathBuf> = Vec::new();
    // The images that exist, with their length: an append only adds after their end.
    let mut ends: Vec<(PathBuf, u64)> = Vec::new();
    let mut devices: Vec<Vec<StripeDevice>> = Vec::new();
    let mut locks: Vec<std::fs::File> = Vec::new();
    let library_created = CreatedImages::default();
    for f in 0..families {
        let mut ms = Vec::new();
        for m in 0..copies {
            let path = if m == 0 {
                job.outputs[f].clone()
            } else {
                job.mirrors[(m - 1) * families + f].clone()
            };
            let changer: Box<dyn MediaChanger> = match &job.changer {
                Some(dir) => match DirectoryLibrary::new(dir, opts.clone()) {
                    Ok(l) => Box::new(l.record_created(library_created.clone())),
                    Err(e) => {
                        PreparedMedia::cleanup(&created);
                        return Err(e.to_string());
                    }
                },
                None => Box::new(ScriptedChanger::new(Vec::<PathBuf>::new(), opts.clone())),
            };
            let existed = match std::fs::metadata(&path) {
                Ok(m) if m.is_file() => {
                    // Locked before its length is taken: the length another writer leaves.
                    match lock_image(&path) {
                        Ok(l) => locks.push(l),
                        Err(e) => {
                            PreparedMedia::cleanup(&created);
                            return Err(e);
                        }
                    }
                    let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(m.len());
                    ends.push((path.clone(), len));
                    true
                }
                Ok(_) => true,
                Err(_) => {
                    created.push(path.clone());
                    false
                }
            };
            let device = match open_path(&path, true, opts.clone()) {
                Ok(d) => d,
                Err(e) => {
                    PreparedMedia::cleanup(&created);
                    return Err(e.to_string());
                }
            };
            if !existed {
                // Made by this run, unless another run made it at the same moment: then it
                // is that run's, and is neither written nor removed here.
                match lock_image(&path) {
                    Ok(l) => locks.push(l),
                    Err(e) => {
                        created.retain(|c| c != &path);
                        PreparedMedia::cleanup(&created);
                        return Err(e);
                    }
                }
            }
            ms.push(StripeDevice {
                first: Mounted {
                    device,
                    name: path.display().to_string(),
                },
                changer,
            });
        }
        devices.push(ms);
    }
    let mut set = MediaSet::new(
        job.media_name.as_deref().unwrap_or("mtfpack"),
        families as u16,
    );
    set.description = job.media_description.clone();
    set.password = job.password.as_deref().map(MediaPassword::new);
    let mut sopts = StripeOptions::new(job.write.operation, job.write.now);
    sopts.write = job.write.clone();
    sopts.write.check_name = job.media_name.clone();
    sopts.write.password = set.password.clone();
    Ok(PreparedMedia {
        devices,
        set,
        options: sopts,
        created,
        ends,
        locks,
        library_created,
    })
}

/// Takes an exclusive lock (`flock(LOCK_EX|LOCK_NB)`) on the image at `path`, refused at
/// once when another process holds it: two backups writing one image at once would
/// interleave their blocks, and the one that fails would cut the image back under the other.
fn lock_image(path: &Path) -> Result<std::fs::File, String> {
    let f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    match media::engine::file::try_flock(&f) {
        Ok(true) => Ok(f),
        Ok(false) => Err(format!(
            "{}: the medium is in use by another process (another backup is writing it): nothing was written; run this backup again when that one has finished",
            path.display()
        )),
        Err(e) => Err(format!("{}: lock: {e}", path.display())),
    }
}

/// Prints where each family's media went, and the media refused on the way.
pub fn log_media(tool: &str, report: &media::stripe::StripeReport, log: &mut dyn Write) {
    let _ = writeln!(log, "{tool}: media set {}", report.media_set_id);
    for f in &report.families {
        for (name, why) in &f.refusals {
            let _ = writeln!(log, "{tool}: refused {name}: {}", why.replace('\n', "; "));
        }
        for u in &f.used {
            let copy = if f.mirror > 0 {
                format!(" (mirror {})", f.mirror)
            } else {
                String::new()
            };
            let _ = writeln!(
                log,
                "{tool}: family {}{copy}, medium {}: {}",
                f.family_number, u.sequence, u.name
            );
        }
    }
}

/// Writes the backup set; prints where each family's media went. A refusal leaves every
/// medium as it was (images this run created are removed again) and returns the reasons.
pub fn pack_media_set(job: &MediaSetJob, log: &mut dyn Write) -> Result<PackStats, String> {
    let mut prepared = prepare_media(job)?;
    // Held until the set is finished or the images are put back.
    let _locks = prepared.take_locks();
    let backup = BackupSet {
        options: job.set.clone(),
        expires: job.expires,
        volume: None,
    };
    let mut w =
        match StripedWriter::start(prepared.devices, prepared.set, &prepared.options, backup) {
            Ok(w) => w,
            Err(e) => {
                PreparedMedia::cleanup(&prepared.created);
                return Err(e.to_string());
            }
        };
    w.assign_in_turn(job.in_turn);
    // The media being written, and the library that takes the next ones, are left out when
    // they lie inside a source tree.
    let mut exclude = Exclude::default();
    for p in job.outputs.iter().chain(&job.mirrors).chain(&job.changer) {
        exclude.add_path(p);
    }
    let mut total = PackStats::default();
    let mut open = open_nofollow;
    let packed = job.dirs.iter().try_for_each(|d| {
        let t = pack_tree_with(
            &mut Target(&mut w),
            d,
            &job.machine,
            job.set.date,
            log,
            &exclude,
            &mut open,
        )?;
        total.add(t);
        Ok::<_, mtf::Error>(())
    });
    let finished = match packed {
        Ok(()) => w.finish().map_err(|e| e.to_string()),
        Err(e) => {
            w.abandon();
            Err(e.to_string())
        }
    };
    let report = match finished {
        Ok(r) => r,
        Err(e) if job.write.operation == Operation::Append => {
            return Err(format!("{e}{}", put_back(&prepared.ends)));
        }
        Err(e) => return Err(e),
    };
    log_media("mtfpack", &report, log);
    Ok(total)
}

/// What a device path names, for comparing: the real path of what exists, else the real path
/// of its directory with its name.
fn identity(p: &Path) -> PathBuf {
    if let Ok(real) = std::fs::canonicalize(p) {
        return real;
    }
    // A link to what does not exist yet: the image is made where it points (two names of one
    // new image, a link and its target, are one device).
    let mut p = p.to_path_buf();
    for _ in 0..40 {
        let Ok(to) = std::fs::read_link(&p) else {
            break;
        };
        p = match p.parent() {
            Some(d) if to.is_relative() => d.join(to),
            _ => to,
        };
    }
    let p = p.as_path();
    let dir = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    match (std::fs::canonicalize(dir), p.file_name()) {
        (Ok(d), Some(n)) => d.join(n),
        _ => p.to_path_buf(),
    }
}

/// Every device of the set once: the same image or drive given twice (two `-o`s, an `-o` and
/// a `--mirror`, however spelt or through a link) would be written by two device threads at
/// once, a broken set or a mirror that is no copy.
fn check_devices(job: &MediaSetJob) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    /// Device and inode number.
    type Inode = (u64, u64);
    let mut seen: Vec<(PathBuf, Option<Inode>, &Path)> = Vec::new();
    for p in job.outputs.iter().chain(&job.mirrors) {
        let id = identity(p);
        // Two hard links of one image have two real paths, one inode.
        let inode = std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()));
        if let Some((_, _, first)) = seen
            .iter()
            .find(|(s, i, _)| *s == id || (inode.is_some() && *i == inode))
        {
            return Err(format!(
                "{} and {}: the same device given twice",
                first.display(),
                p.display()
            ));
        }
        seen.push((id, inode, p));
    }
    Ok(())
}

/// After a failed append, cuts each image back to the length it had: an append writes only
/// after an image's end (the tape's end of data), so what the run added goes and the image is
/// byte for byte what it was. Says what was done, for the error message. (A tape drive cannot
/// be cut; its sets before the append stay readable and the next append is refused until the
/// unfinished set is dealt with.)
pub fn put_back(ends: &[(PathBuf, u64)]) -> String {
    let mut said = String::new();
    for (p, len) in ends {
        let cut = std::fs::OpenOptions::new()
            .write(true)
            .open(p)
            .and_then(|f| f.set_len(*len).and_then(|_| f.sync_all()));
        said.push_str(&match cut {
            Ok(()) => format!("\n{}: put back as it was", p.display()),
            Err(e) => format!("\n{}: could not be put back as it was: {e}", p.display()),
        });
    }
    said
}
