//! A directory of `.tap` images acting as a tape library.
//!
//! For writing, each request gets an image named after the media set, the family, the
//! sequence number and the mirror (`NAME-f2-m3.tap`, `NAME-f2-m3-mirror1.tap`), created blank
//! with the library's capacity; when that image exists and is refused (it holds something that
//! matters), a fresh one with a numbered suffix is created instead. For reading, the library
//! looks through its images' labels and mounts the first one that is the medium asked for; the
//! caller still checks it.

use super::{
    log, log_refused, open_path, ChangerEvent, ChangerLog, MediaChanger, MediumRequest, Mounted,
    Purpose,
};
use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};
use tape_sys::EmulatedOptions;

/// A directory of tape images.
pub struct DirectoryLibrary {
    dir: PathBuf,
    opts: EmulatedOptions,
    /// Images refused or finished: not offered again.
    spent: HashSet<PathBuf>,
    /// Images created, in order (the tools print their names).
    pub created: Vec<PathBuf>,
    pub log: ChangerLog,
}

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
        })
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

    fn write_path(&self, req: &MediumRequest) -> PathBuf {
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
        let first = self.dir.join(format!("{base}.tap"));
        if !self.spent.contains(&first) {
            return first;
        }
        (2u32..)
            .map(|n| self.dir.join(format!("{base}.{n}.tap")))
            .find(|p| !self.spent.contains(p) && !p.exists())
            .expect("an unused name")
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
                    return Ok(Some((p, dev)));
                }
            }
        }
        Ok(None)
    }
}

impl MediaChanger for DirectoryLibrary {
    fn mount(&mut self, req: &MediumRequest) -> io::Result<Mounted> {
        log(&self.log, ChangerEvent::Asked(req.clone()));
        let (path, device) = match req.purpose {
            Purpose::Write => {
                let p = self.write_path(req);
                if !p.exists() {
                    self.created.push(p.clone());
                }
                let d = open_path(&p, true, self.opts.clone())?;
                (p, d)
            }
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
