//! mtfpack's media-set path: a striped backup over several tapes (one family per `-o`), with
//! mirrors, continuation media from a directory library, and the overwrite safety decision —
//! all done by the `media` crate; this module only turns the command line into its calls.

use crate::pack::{pack_tree, PackStats, PackTarget};
use media::changer::dir::DirectoryLibrary;
use media::changer::{open_path, MediaChanger, Mounted, ScriptedChanger};
use media::family::{MediaError, WriteOptions};
use media::set::{MediaPassword, MediaSet};
use media::stripe::{BackupSet, StripeDevice, StripeOptions, StripedWriter};
use mtf::writer::{EntryMeta, FileOutcome, SetOptions, VolumeOptions};
use std::io::{self, Read, Write};
use std::path::PathBuf;
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
}

impl PreparedMedia {
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
    let copies = 1 + job.mirrors.len() / families;
    let opts = tape_options(job.capacity, job.write.block_size);
    let mut created: Vec<PathBuf> = Vec::new();
    let mut devices: Vec<Vec<StripeDevice>> = Vec::new();
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
                    Ok(l) => Box::new(l),
                    Err(e) => {
                        PreparedMedia::cleanup(&created);
                        return Err(e.to_string());
                    }
                },
                None => Box::new(ScriptedChanger::new(Vec::<PathBuf>::new(), opts.clone())),
            };
            if !path.exists() {
                created.push(path.clone());
            }
            let device = match open_path(&path, true, opts.clone()) {
                Ok(d) => d,
                Err(e) => {
                    PreparedMedia::cleanup(&created);
                    return Err(e.to_string());
                }
            };
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
    })
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
    let prepared = prepare_media(job)?;
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
    let mut total = PackStats::default();
    for d in &job.dirs {
        let t = pack_tree(&mut Target(&mut w), d, &job.machine, job.set.date, log)
            .map_err(|e| e.to_string())?;
        total.directories += t.directories;
        total.files += t.files;
        total.bytes += t.bytes;
    }
    let report = w.finish().map_err(|e| e.to_string())?;
    log_media("mtfpack", &report, log);
    Ok(total)
}
