//! A directory of `.tap` images acting as a tape library.
//!
//! For writing, each request gets an image named after the media set, the family, the
//! sequence number and the mirror (`NAME-f2-m3.tap`, `NAME-f2-m3-mirror1.tap`), created blank
//! with the library's capacity. An existing image is offered only when it is that very medium
//! of that media set (a restart writes it again); when the name is taken by
//! anything else (another media set's medium, a foreign file, a link), or the image offered is
//! refused, a fresh one with a numbered suffix (`NAME-f2-m3.2.tap`) is created instead. Names
//! are created exclusively and never opened through a link. For reading, the library
//! looks through its images' labels and mounts the first one that is the medium asked for; the
//! caller still checks it.

use super::{
    log, log_refused, open_path, ChangerEvent, ChangerLog, MediaChanger, MediumRequest, Mounted,
    Purpose,
};
use crate::device::Device;
use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};
use tape_sys::{EmulatedOptions, EmulatedTape};

/// Names a library tries for one medium before it gives up.
const MAX_NAMES: u32 = 1000;

/// A directory of tape images.
pub struct DirectoryLibrary {
    dir: PathBuf,
    opts: EmulatedOptions,
    /// Images refused or finished: not offered again.
    spent: HashSet<PathBuf>,
    /// Images created, in order (the tools print their names).
    pub created: Vec<PathBuf>,
    pub log: ChangerLog,
    /// Where the images created are also recorded, for a caller that hands the library on
    /// (boxed, into a backup) and must remove them again if the backup fails: the library
    /// never reuses a name, so each failed run would leave another fragment of a set that
    /// exists nowhere.
    record: Option<CreatedImages>,
}

/// A shared list of the images libraries created ([`DirectoryLibrary::record_created`]).
pub type CreatedImages = std::sync::Arc<std::sync::Mutex<Vec<PathBuf>>>;

impl DirectoryLibrary {
    /// A library in `dir` (created if missing); new images get `opts` (their capacity).
    pub fn new(dir: &Path, opts: EmulatedOptions) -> io::Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
        Ok(DirectoryLibrary {
            dir: dir.to_path_buf(),
            opts,
            spent: HashSet::new(),
            created: Vec::new(),
            log: ChangerLog::default(),
            record: None,
        })
    }

    /// Records every image this library creates in `list` as well (see the field).
    pub fn record_created(mut self, list: CreatedImages) -> Self {
        self.record = Some(list);
        self
    }

    fn stem(req: &MediumRequest) -> String {
        let name: String = req
            .media_name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .take(40)
            .collect();
        if !name.is_empty() {
            return name;
        }
        match req.media_set_id {
            Some(id) => id.to_string()[..8].to_ascii_lowercase(),
            None => "medium".into(),
        }
    }

    /// The image a write of `req` gets: the first of the request's names (`BASE.tap`,
    /// `BASE.2.tap`, ...) not spent by this library that is free, created here exclusively,
    /// or that is this very medium of this media set (which only a restart writes again). An
    /// image holding anything else (another media set's medium, which may be all that is left
    /// of a backup, something foreign, an image another device is writing) is never offered
    /// for writing, and no name is opened through a link: images cost nothing, so the library
    /// takes a new name rather than recycle one.
    fn open_for_write(&mut self, req: &MediumRequest) -> io::Result<(PathBuf, Device)> {
        use std::os::unix::fs::OpenOptionsExt;
        let mirror = if req.mirror > 0 {
            format!("-mirror{}", req.mirror)
        } else {
            String::new()
        };
        let base = format!(
            "{}-f{}-m{}{mirror}",
            Self::stem(req),
            req.family_number,
            req.sequence
        );
        let tape = |f: std::fs::File, p: &Path| -> io::Result<Device> {
            EmulatedTape::open_file(f, self.opts.clone())
                .map(|t| Box::new(t) as Device)
                .map_err(|e| io::Error::other(format!("{}: {e}", p.display())))
        };
        for n in 1..=MAX_NAMES {
            let p = match n {
                1 => self.dir.join(format!("{base}.tap")),
                _ => self.dir.join(format!("{base}.{n}.tap")),
            };
            if self.spent.contains(&p) {
                continue;
            }
            let open = |create: bool| {
                std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create_new(create)
                    .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
                    .open(&p)
            };
            match open(true) {
                Ok(f) => {
                    let d = tape(f, &p)?;
                    self.created.push(p.clone());
                    if let Some(r) = &self.record {
                        r.lock().unwrap_or_else(|e| e.into_inner()).push(p.clone());
                    }
                    return Ok((p, d));
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", p.display()))),
            }
            // Taken (a link fails to open without following it): offered only when it is
            // this very medium. Not even a blank image is taken: it may be a device another
            // family of this very write is about to label.
            let Ok(f) = open(false) else { continue };
            if !f.metadata().is_ok_and(|m| m.is_file()) {
                continue;
            }
            let Ok(mut d) = tape(f, &p) else { continue };
            let this = crate::set::read_label(&mut d).is_ok_and(|l| {
                req.media_set_id.is_some()
                    && l.media_set_id == req.media_set_id
                    && l.family() == req.family_number
                    && l.media_sequence_number == req.sequence
            });
            if this {
                d.rewind().map_err(crate::device::tape_io)?;
                return Ok((p, d));
            }
        }
        Err(io::Error::other(format!(
            "{}: no free name for {req} ({base}.tap to {base}.{MAX_NAMES}.tap are taken)",
            self.dir.display()
        )))
    }

    fn find_for_read(
        &mut self,
        req: &MediumRequest,
    ) -> io::Result<Option<(PathBuf, crate::device::Device)>> {
        let mut images: Vec<PathBuf> = std::fs::read_dir(&self.dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "tap"))
            .filter(|p| !self.spent.contains(p))
            .collect();
        images.sort();
        // Asked for any media set's medium (the first medium of a read that names no set):
        // a library holding that medium of two media sets (Monday's and Tuesday's backups)
        // does not pick one by its file name.
        let mut found: Option<(PathBuf, crate::device::Device, Option<mtf::stream::Guid>)> = None;
        for p in images {
            let Ok(mut dev) = open_path(&p, false, EmulatedOptions::new()) else {
                continue;
            };
            if let Ok(l) = crate::set::read_label(&mut dev) {
                let set_ok = req.media_set_id.is_none() || l.media_set_id == req.media_set_id;
                if set_ok
                    && l.family() == req.family_number
                    && l.media_sequence_number == req.sequence
                {
                    if req.media_set_id.is_some() {
                        return Ok(Some((p, dev)));
                    }
                    match &found {
                        None => found = Some((p, dev, l.media_set_id)),
                        Some((first, _, id)) if *id != l.media_set_id => {
                            return Err(io::Error::other(format!(
                                "{}: {req} of more than one media set is there ({} and {}): name the media to read (--from, each in order) rather than the library",
                                self.dir.display(),
                                first.display(),
                                p.display()
                            )))
                        }
                        Some(_) => {}
                    }
                }
            }
        }
        Ok(found.map(|(p, d, _)| (p, d)))
    }
}

impl MediaChanger for DirectoryLibrary {
    fn mount(&mut self, req: &MediumRequest) -> io::Result<Mounted> {
        log(&self.log, ChangerEvent::Asked(req.clone()));
        let (path, device) = match req.purpose {
            Purpose::Write => self.open_for_write(req)?,
            Purpose::Read => self.find_for_read(req)?.ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("{}: no image holds {req}", self.dir.display()),
                )
            })?,
        };
        let name = path.display().to_string();
        log(&self.log, ChangerEvent::Mounted(name.clone()));
        Ok(Mounted { device, name })
    }

    fn refused(&mut self, medium: Mounted, why: &str) -> io::Result<()> {
        log_refused(&self.log, &medium.name, why);
        self.spent.insert(PathBuf::from(&medium.name));
        Ok(())
    }

    fn done(&mut self, medium: Mounted) -> io::Result<()> {
        log(&self.log, ChangerEvent::Done(medium.name.clone()));
        self.spent.insert(PathBuf::from(&medium.name));
        Ok(())
    }
}
