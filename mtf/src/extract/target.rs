//! The target directory, reached only through directory handles.
//!
//! Every name is resolved one component at a time with `openat`/`mkdirat` relative to an
//! already opened directory, and `O_NOFOLLOW`: a symlink planted anywhere under the target is
//! never followed (no path is ever joined and handed to the kernel whole, so nothing needs
//! canonicalising). Files are created with `O_CREAT | O_EXCL`, which never opens an existing
//! file, hard link, symlink (even a dangling one) or special file. Replacing is a separate,
//! explicit mode: a new file under a temporary name, renamed over the old name once whole.
//!
//! The handles of the directory being written and its parents are kept on a stack, so that
//! the next entry in the same or a nearby directory costs the components that differ, not the
//! depth of the tree.

use rustix::fs::{mkdirat, openat, renameat, renameat_with, unlinkat, AtFlags, Mode, OFlags};
use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

/// A directory handle, shared by the files created in it.
pub type DirFd = Arc<OwnedFd>;

/// The target directory and the stack of handles down to the directory last used.
pub struct Target {
    path: PathBuf,
    root: DirFd,
    /// (component, handle) from the root down.
    stack: Vec<(String, DirFd)>,
}

const DIR_FLAGS: OFlags = OFlags::DIRECTORY
    .union(OFlags::NOFOLLOW)
    .union(OFlags::RDONLY)
    .union(OFlags::CLOEXEC);

fn named(path: &str, op: &str, e: impl Into<io::Error>) -> io::Error {
    let e = e.into();
    io::Error::new(e.kind(), format!("{path}: {op}: {e}"))
}

impl Target {
    /// Opens (creating it if needed) the target directory. The path itself is the user's
    /// choice and is followed as given; everything beneath it is not.
    pub fn open(path: &Path) -> io::Result<Target> {
        let shown = path.display().to_string();
        std::fs::create_dir_all(path).map_err(|e| named(&shown, "create directory", e))?;
        let root = openat(
            rustix::fs::CWD,
            path,
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| named(&shown, "open directory", e))?;
        Ok(Target {
            path: path.to_path_buf(),
            root: Arc::new(root),
            stack: Vec::new(),
        })
    }

    /// The target's path, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The handle of directory `rel` (components already checked by the sanitiser), creating
    /// what is missing. A component that exists as anything but a real directory (a symlink
    /// above all) is refused. Returns the handle and whether the last component was created.
    pub fn dir(&mut self, rel: &[String]) -> io::Result<(DirFd, bool)> {
        let common = self
            .stack
            .iter()
            .zip(rel)
            .take_while(|((a, _), b)| a == *b)
            .count();
        self.stack.truncate(common);
        let mut created = false;
        for c in &rel[common..] {
            let parent = self.stack.last().map_or(&self.root, |d| &d.1).clone();
            created = match mkdirat(&*parent, c.as_str(), Mode::from_raw_mode(0o777)) {
                Ok(()) => true,
                Err(rustix::io::Errno::EXIST) => false,
                Err(e) => return Err(named(&self.shown(rel), "create directory", e)),
            };
            let fd = match openat(&*parent, c.as_str(), DIR_FLAGS, Mode::empty()) {
                Ok(fd) => fd,
                Err(rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR) => {
                    let mut at: Vec<String> = self.stack.iter().map(|s| s.0.clone()).collect();
                    at.push(c.clone());
                    return Err(io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        format!(
                            "{}: exists and is not a directory (a symlink is never followed)",
                            at.join("/")
                        ),
                    ));
                }
                Err(e) => return Err(named(&self.shown(rel), "open directory", e)),
            };
            self.stack.push((c.clone(), Arc::new(fd)));
        }
        let fd = self.stack.last().map_or(&self.root, |d| &d.1).clone();
        Ok((fd, created))
    }

    fn shown(&self, rel: &[String]) -> String {
        rel.join("/")
    }
}

/// Creates `name` in `dir`, never over anything that exists there. The file is open for
/// reading too (the CSUM check reads back what the copy workers wrote).
pub fn create_new(dir: &OwnedFd, name: &str) -> io::Result<File> {
    let fd = openat(
        dir,
        name,
        OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o666),
    )?;
    Ok(File::from(fd))
}

/// Creates a new file beside `name` under a temporary name, for replacing `name` once the new
/// file is whole. Returns the file and its temporary name.
pub fn create_temp(dir: &OwnedFd, name: &str) -> io::Result<(File, String)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    // Asked once: `getpid` is a system call per file otherwise.
    static PID: OnceLock<u32> = OnceLock::new();
    let pid = *PID.get_or_init(std::process::id);
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = format!(".{name}.{pid}.{n}.mtf-part");
        match create_new(dir, &tmp) {
            Ok(f) => return Ok((f, tmp)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Renames `from` to `to` in `dir`, replacing what `to` names (the entry itself: a symlink
/// there is replaced, not followed).
pub fn replace(dir: &OwnedFd, from: &str, to: &str) -> io::Result<()> {
    renameat(dir, from, dir, to).map_err(io::Error::from)
}

/// Renames `from` to `to` in `dir` only if nothing is named `to` there (a new file with data
/// takes its real name only once whole: a run killed midway leaves a `.mtf-part` file, never a
/// half file under the real name; a file with no data is made with [`create_new`] instead).
pub fn rename_new(dir: &OwnedFd, from: &str, to: &str) -> io::Result<()> {
    renameat_with(dir, from, dir, to, rustix::fs::RenameFlags::NOREPLACE).map_err(io::Error::from)
}

/// Whether anything (a file, directory, link or special file) is named `name` in `dir`.
pub fn exists(dir: &OwnedFd, name: &str) -> io::Result<bool> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(_) => Ok(true),
        Err(rustix::io::Errno::NOENT) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Renames `from` to the first free one of `name.suffix`, `name.suffix.1`, … in `dir`, never
/// over an existing entry; returns the name used.
pub fn rename_aside(dir: &OwnedFd, from: &str, name: &str, suffix: &str) -> io::Result<String> {
    for i in 0..1000u32 {
        let to = if i == 0 {
            format!("{name}.{suffix}")
        } else {
            format!("{name}.{suffix}.{i}")
        };
        match renameat_with(
            dir,
            from,
            dir,
            to.as_str(),
            rustix::fs::RenameFlags::NOREPLACE,
        ) {
            Ok(()) => return Ok(to),
            Err(rustix::io::Errno::EXIST) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "no free name to set the file aside",
    ))
}

/// Removes `name` from `dir` (a file this run created).
pub fn remove(dir: &OwnedFd, name: &str) -> io::Result<()> {
    unlinkat(dir, name, AtFlags::empty()).map_err(io::Error::from)
}

/// Sets the modification time of an open file or directory.
pub fn set_mtime(fd: &impl std::os::fd::AsFd, secs: i64) -> io::Result<()> {
    let t = rustix::fs::Timestamps {
        last_access: rustix::fs::Timespec {
            tv_sec: 0,
            tv_nsec: rustix::fs::UTIME_OMIT,
        },
        last_modification: rustix::fs::Timespec {
            tv_sec: secs,
            tv_nsec: 0,
        },
    };
    rustix::fs::futimens(fd, &t).map_err(io::Error::from)
}
