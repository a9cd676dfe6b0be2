//! Media changers: who mounts the next medium when a family needs one.
//!
//! A [`MediaChanger`] is asked for a medium by [`MediumRequest`] (which media set, which
//! family, which medium in sequence, to write or to read). It answers with a mounted
//! [`Mounted`] device. The caller judges it (for writing, through the safety decision; for
//! reading, by its label) and either keeps it, handing it back with [`MediaChanger::done`]
//! when finished, or refuses it with [`MediaChanger::refused`] and asks again. A changer that
//! has nothing more to offer returns an error, which ends the operation.
//!
//! | changer | what it is |
//! | --- | --- |
//! | [`ScriptedChanger`] | hands out the images of a list in order, logging every request (tests) |
//! | [`dir::DirectoryLibrary`] | a directory of `.tap` images acting as a library; creates blank ones |
//! | [`prompt::PromptChanger`] | asks an operator on a terminal for the path of the next medium |
//! | [`mtx::MtxChanger`] | drives an autoloader through `mtx`, as Bacula's `mtx-changer` does |

pub mod dir;
pub mod mtx;
pub mod prompt;

use crate::device::Device;
use crate::set::Guid;
use std::collections::VecDeque;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tape_sys::{EmulatedOptions, StOptions};

/// Whether the medium will be written or read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Purpose {
    Write,
    Read,
}

/// The medium a family needs next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediumRequest {
    pub purpose: Purpose,
    /// The media set, when known (a format learns it before asking; a first read does not).
    pub media_set_id: Option<Guid>,
    /// The media set's name, for the operator.
    pub media_name: String,
    pub family_number: u16,
    pub family_count: u16,
    /// 1 = the family's first medium.
    pub sequence: u16,
    /// Which copy of a mirrored set (0 = the first).
    pub mirror: u8,
}

impl MediumRequest {
    /// The request for the first medium of a family of `set` (and mirror), to write.
    pub fn first_write(set: &crate::set::MediaSet, family_number: u16, mirror: u8) -> Self {
        MediumRequest {
            purpose: Purpose::Write,
            media_set_id: Some(set.id),
            media_name: set.name.clone(),
            family_number,
            family_count: set.family_count,
            sequence: 1,
            mirror,
        }
    }
}

impl std::fmt::Display for MediumRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.purpose {
            Purpose::Write => "a blank or expired medium for ",
            Purpose::Read => "",
        };
        write!(
            f,
            "{what}medium {} of family {} of {}",
            self.sequence, self.family_number, self.family_count
        )
        .map(|_| ())?;
        if self.mirror > 0 {
            write!(f, " (mirror {})", self.mirror)?;
        }
        if !self.media_name.is_empty() {
            write!(f, " of media set {:?}", self.media_name)?;
        }
        Ok(())
    }
}

/// A medium mounted by a changer.
pub struct Mounted {
    pub device: Device,
    /// What the operator or the log calls it (an image's path, a slot).
    pub name: String,
}

/// Mounts media on request.
pub trait MediaChanger: Send {
    /// Mounts a medium for `req`; an error when there is none to offer.
    fn mount(&mut self, req: &MediumRequest) -> io::Result<Mounted>;

    /// The caller refused the medium (`why` says so); the changer takes it back unchanged.
    fn refused(&mut self, medium: Mounted, why: &str) -> io::Result<()>;

    /// The caller has finished with the medium.
    fn done(&mut self, medium: Mounted) -> io::Result<()>;
}

impl<C: MediaChanger + ?Sized> MediaChanger for Box<C> {
    fn mount(&mut self, req: &MediumRequest) -> io::Result<Mounted> {
        (**self).mount(req)
    }
    fn refused(&mut self, medium: Mounted, why: &str) -> io::Result<()> {
        (**self).refused(medium, why)
    }
    fn done(&mut self, medium: Mounted) -> io::Result<()> {
        (**self).done(medium)
    }
}

/// Opens a path as a tape: a character device through the st driver, anything else as a
/// `.tap` image (created blank when `create` and it does not exist); see
/// [`crate::device::open_tape`].
pub fn open_path(path: &Path, create: bool, opts: EmulatedOptions) -> io::Result<Device> {
    crate::device::open_tape(path, create, StOptions::default().multi_file, opts)
        .map(|t| t.device)
        .map_err(|e| io::Error::other(format!("{}: {e}", path.display())))
}

/// What a changer was asked and told, in order (for tests and for reports).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChangerEvent {
    Asked(MediumRequest),
    Mounted(String),
    Refused { name: String, why: String },
    Done(String),
}

/// A shared log of changer events.
pub type ChangerLog = Arc<Mutex<Vec<ChangerEvent>>>;

pub(crate) fn log(log: &ChangerLog, ev: ChangerEvent) {
    log.lock().unwrap_or_else(|p| p.into_inner()).push(ev);
}

/// Logs a refusal.
pub(crate) fn log_refused(l: &ChangerLog, name: &str, why: &str) {
    log(
        l,
        ChangerEvent::Refused {
            name: name.to_owned(),
            why: why.to_owned(),
        },
    );
}

/// Hands out `.tap` images from a list, in order, whatever was asked; logs everything. Refused
/// images are not offered again.
pub struct ScriptedChanger {
    script: VecDeque<PathBuf>,
    opts: EmulatedOptions,
    pub log: ChangerLog,
}

impl ScriptedChanger {
    /// Images to hand out in order (created blank if missing), each with `opts`.
    pub fn new(script: impl IntoIterator<Item = PathBuf>, opts: EmulatedOptions) -> Self {
        ScriptedChanger {
            script: script.into_iter().collect(),
            opts,
            log: ChangerLog::default(),
        }
    }

    /// The script ran out before `req` was met: what was refused on the way says why (the
    /// media given in another order, twice, or of another set).
    fn exhausted(&self, req: &MediumRequest) -> io::Error {
        let refused: Vec<String> = self
            .log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter_map(|e| match e {
                ChangerEvent::Refused { name, why } => Some(format!("{name}: {why}")),
                _ => None,
            })
            .collect();
        let refused = if refused.is_empty() {
            String::new()
        } else {
            format!("; refused: {}", refused.join("; "))
        };
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("no more media in the script (asked for {req}){refused}"),
        )
    }
}

impl MediaChanger for ScriptedChanger {
    fn mount(&mut self, req: &MediumRequest) -> io::Result<Mounted> {
        log(&self.log, ChangerEvent::Asked(req.clone()));
        let mut unreadable: Option<io::Error> = None;
        loop {
            let Some(path) = self.script.pop_front() else {
                // Nothing else was given: the image that did not open is the error.
                return Err(match unreadable {
                    Some(e) => e,
                    None => self.exhausted(req),
                });
            };
            let name = path.display().to_string();
            match open_path(&path, true, self.opts.clone()) {
                Ok(device) => {
                    log(&self.log, ChangerEvent::Mounted(name.clone()));
                    return Ok(Mounted { device, name });
                }
                // Reading, an image that does not open (cut short, not an image at all) is
                // refused as a medium with the wrong label is, and the next one given is
                // tried: it may be a mirror's copy of the same medium, which must not be
                // hidden behind a lost copy.
                Err(e) if req.purpose == Purpose::Read => {
                    let text = e.to_string();
                    let why = text
                        .strip_prefix(&format!("{name}: "))
                        .unwrap_or(&text)
                        .to_owned();
                    log_refused(&self.log, &name, &why);
                    unreadable.get_or_insert(e);
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn refused(&mut self, medium: Mounted, why: &str) -> io::Result<()> {
        log_refused(&self.log, &medium.name, why);
        drop(medium.device);
        Ok(())
    }

    fn done(&mut self, medium: Mounted) -> io::Result<()> {
        log(&self.log, ChangerEvent::Done(medium.name.clone()));
        drop(medium.device);
        Ok(())
    }
}
