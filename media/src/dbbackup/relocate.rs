//! MOVE: where a restore puts the database's files, and what says so.
//!
//! A full restore may relocate any file of the database with `LOGICAL=PATH`: a data file by
//! its logical name (the primary one included), the log by `log`. The path is kept as it is
//! given: a relative one stays relative to the database directory, an absolute one is kept. A
//! plain file name is written into the new database directory; any other path (absolute, or
//! starting with `..`) is written outside it, under a temporary name beside the target (made
//! new, O_EXCL), and renamed into place only once the set's pages (or log) are in it, so
//! nothing is ever written through a link planted at the target, and a failed restore puts
//! back what was there.
//!
//! Where the files are is said in two places, each read in one place: the data files' paths in
//! the boot record (in the primary file), and the primary's and the log's in the directory's
//! location file (`engine::db::locate`, written here only when either is moved): the primary
//! cannot say where it is itself, and the log is opened before the boot record is trusted.
//!
//! Later restores of the sequence (differential, log, file) write into the files where the
//! restoring database says they are; a restore of a backup of a moved database without MOVE
//! puts its files back into the database directory. REPLACE of a database whose files were
//! moved outside its directory leaves those files where they are (a restore never deletes a
//! file outside its target), unless the new restore moves a file to the same path.

use super::header::SetHeader;
use super::restore::RestoreOptions;
use super::{io_err, DbBackupError, Result};
use crate::engine::db::{Location, LOCATION_FILE, LOG_FILE, PRIMARY_FILE};
use crate::engine::file::{read_boot, valid_file_name, valid_path, Boot};
use crate::engine::page::Page;
use std::fs;
use std::path::{Component, Path, PathBuf};

/// One moved data file: its id, where its pages are written now, and its path for the boot
/// record.
#[derive(Clone, Debug)]
pub(super) struct Moved {
    pub(super) id: u16,
    pub(super) write_at: PathBuf,
    pub(super) boot_path: String,
}

/// A file written outside the database directory, under a temporary name until it is placed.
#[derive(Debug)]
struct Outside {
    tmp: PathBuf,
    target: PathBuf,
    /// Where the file that was at the target (REPLACE) waits until the restore succeeded.
    aside: Option<PathBuf>,
    placed: bool,
}

/// The moved files of a full restore. Dropped before [`Placement::commit`], it removes what it
/// wrote and puts back what it moved aside.
#[derive(Debug, Default)]
pub(super) struct Placement {
    pub(super) moved: Vec<Moved>,
    /// The log, when moved: where it is written now, and its path for the location file.
    log: Option<(PathBuf, String)>,
    outside: Vec<Outside>,
    committed: bool,
}

/// The temporary name beside `target` that a file placed outside the database directory is
/// written under (a dead restore's left there removed first), recorded in `outside` so that
/// [`Placement::place`] renames it over the target. With `create` it is made here, exclusively
/// (O_EXCL follows no link), for the pages to be written into.
fn outside_tmp(outside: &mut Vec<Outside>, target: PathBuf, create: bool) -> Result<PathBuf> {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    sweep_dead_tmp(parent_of(&target), &name);
    let tmp = parent_of(&target).join(format!(".{name}.refdb-restore.{}", std::process::id()));
    if create {
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(io_err("create", &tmp))?;
    }
    outside.push(Outside {
        tmp: tmp.clone(),
        target,
        aside: None,
        placed: false,
    });
    Ok(tmp)
}

/// The logical name SQL Server's MOVE gives the log.
const LOG_LOGICAL: &str = "log";

/// Checks the MOVE options of a full restore into `dir` (built in `work`, beside it).
pub(super) fn plan(
    dir: &Path,
    work: &Path,
    h: &SetHeader,
    opts: &RestoreOptions,
) -> Result<Placement> {
    let refuse = |m: String| Err(DbBackupError::Refused(format!("MOVE: {m}")));
    let mut p = Placement::default();
    let mut targets: Vec<PathBuf> = Vec::new();
    for (i, (logical, path)) in opts.moves.iter().enumerate() {
        if opts.moves[..i]
            .iter()
            .any(|(l, _)| l.eq_ignore_ascii_case(logical))
        {
            return refuse(format!("{logical} is moved twice"));
        }
        let is_log = logical.eq_ignore_ascii_case(LOG_LOGICAL);
        // `log` names the log (as before the log could move), even beside a data file of
        // that logical name.
        let f = h
            .files
            .iter()
            .find(|f| !is_log && f.logical_name.eq_ignore_ascii_case(logical));
        if f.is_none() && !is_log {
            let names: Vec<&str> = h.files.iter().map(|f| f.logical_name.as_str()).collect();
            return refuse(format!(
                "the backup has no data file {logical:?} (its files: {}, and the log)",
                names.join(", ")
            ));
        }
        if !valid_path(path) {
            return refuse(format!(
                "{path:?} is not a usable path (no empty or `.` components)"
            ));
        }
        let inside = !path.starts_with('/') && !path.starts_with("../");
        // `..` taken lexically: the directory may not exist yet, and the work directory the
        // restore builds beside it has the same parent.
        let target = lexical(&dir.join(path));
        if targets.contains(&target) {
            return refuse(format!("two data files would be at {}", target.display()));
        }
        targets.push(target.clone());
        let write_at = if inside {
            // Not at a name the directory's own files have (the state files, the work files).
            if !valid_file_name(path)
                || path.starts_with('.')
                || path.starts_with("refdb.")
                || (path == LOG_FILE && !is_log)
            {
                return refuse(format!(
                    "{path:?}: a path inside the database directory must be a plain file name other than the log's and refdb's own (refdb.*)"
                ));
            }
            work.join(path)
        } else {
            let parent = parent_of(&target);
            refuse_own_names_beside(dir, &target)?;
            // Into the database directory by an absolute path (it may not exist yet).
            if lexical(parent) == lexical(dir) {
                refuse_other_database(dir, &target)?;
            }
            if !parent.is_dir() {
                return refuse(format!(
                    "{}: the directory {} does not exist",
                    target.display(),
                    parent.display()
                ));
            }
            match fs::symlink_metadata(&target) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("stat", &target)(e)),
                Ok(m) if m.is_dir() => {
                    return refuse(format!("{} is a directory", target.display()))
                }
                // A FIFO, a socket or a device is no file a restore put there: REPLACE
                // overwrites files (and the links it replaces, never following them).
                Ok(m) if !m.is_file() && !m.file_type().is_symlink() => {
                    return refuse(format!(
                        "{} is not a regular file (a FIFO, socket or device): REPLACE overwrites only files",
                        target.display()
                    ))
                }
                Ok(_) if !opts.replace => {
                    return refuse(format!(
                        "{} exists: use REPLACE to overwrite it",
                        target.display()
                    ))
                }
                Ok(_) => {}
            }
            refuse_other_database(dir, &target)?;
            // The log's temporary file is made by the restore that writes it, the same way.
            outside_tmp(&mut p.outside, target.clone(), !is_log)?
        };
        match f {
            Some(f) => p.moved.push(Moved {
                id: f.file_id,
                write_at,
                boot_path: path.clone(),
            }),
            None => p.log = Some((write_at, path.clone())),
        }
    }
    // Files not moved stay at their names in the directory: none may meet a moved one.
    let stay = h
        .files
        .iter()
        .filter(|f| !p.moved.iter().any(|m| m.id == f.file_id))
        .map(|f| f.file_name.as_str())
        .chain(p.log.is_none().then_some(LOG_FILE));
    for name in stay {
        if targets.contains(&lexical(&dir.join(name))) {
            return refuse(format!(
                "two files of the database would be at {}",
                dir.join(name).display()
            ));
        }
    }
    Ok(p)
}

/// Beside the database directory, a restore keeps files of its own named after it (the
/// progress file `.DIR.restore-progress`, the work and staging directories `.DIR.restore.…`
/// and `.DIR.incoming.…`), which it removes when it ends: a file moved to such a name was
/// removed with them (the restore said it succeeded, and the moved file was gone).
fn refuse_own_names_beside(dir: &Path, target: &Path) -> Result<()> {
    let dir = lexical(dir);
    let (Some(dname), Some(tname)) = (dir.file_name(), target.file_name()) else {
        return Ok(());
    };
    let own = format!(".{}.", dname.to_string_lossy());
    if !tname.to_string_lossy().starts_with(&own) {
        return Ok(());
    }
    let (a, b) = (parent_of(&dir), parent_of(target));
    let beside = lexical(a) == lexical(b)
        || matches!((fs::canonicalize(a), fs::canonicalize(b)), (Ok(x), Ok(y)) if x == y);
    if beside {
        return Err(DbBackupError::Refused(format!(
            "MOVE: {}: a name beginning with {own:?} beside the database directory is refdb's own (its restores' progress file and work directories, removed when a restore ends)",
            target.display()
        )));
    }
    Ok(())
}

/// REPLACE overwrites a file at a MOVE target, never another database's: not a file in the
/// directory of a database (its log, its data files, its lock), and not a data file of a
/// database that is not the one in `dir` (a moved file of another database, or of the
/// database the backup was taken from, whose copy is being restored elsewhere), not the
/// primary file of a database open anywhere, and no regular file that is not a database's
/// (the medium being restored, the history).
fn refuse_other_database(dir: &Path, target: &Path) -> Result<()> {
    let refuse = |why: String| {
        Err(DbBackupError::Refused(format!(
            "MOVE: {} {why}",
            target.display()
        )))
    };
    let parent = parent_of(target);
    let same = |a: &Path, b: &Path| {
        lexical(a) == lexical(b)
            || matches!((fs::canonicalize(a), fs::canonicalize(b)), (Ok(x), Ok(y)) if x == y)
    };
    if same(parent, dir) {
        return refuse(
            "is in the database directory, which the restore replaces whole: name the file plainly (LOGICAL=NAME)"
                .into(),
        );
    }
    let in_db_dir = read_boot(parent).map(|b| b.name).or_else(|| {
        // A database directory whose location file does not read (the files it names are
        // not known, so nothing there is taken for free).
        fs::symlink_metadata(parent.join(LOCATION_FILE))
            .is_ok()
            .then(|| "(its location file does not read)".to_string())
    });
    if let Some(name) = in_db_dir {
        return refuse(format!(
            "is in the directory of database {name} ({}): REPLACE never overwrites another database's files",
            parent.display()
        ));
    }
    // Nothing to read at a target that is not there, or that is (or links to) no regular
    // file: a FIFO would wait for a writer forever. A link is replaced, not followed.
    if fs::symlink_metadata(target).is_err() || !fs::metadata(target).is_ok_and(|m| m.is_file()) {
        return Ok(());
    }
    // Read as it is (the page's own file id is not known): a header page names its database,
    // and so does a log's header.
    let header = crate::engine::file::DataFile::open(0, target, false)
        .and_then(|f| f.read_raw(0))
        .ok()
        .and_then(|p| crate::engine::file::parse_header(&p))
        .map(|(g, _)| g);
    let Some(guid) = header.or_else(|| crate::engine::wal::Log::peek_guid(target).ok()) else {
        // A regular file that is no database's: a backup medium, a history, the user's own.
        // REPLACE is for database files (a link is replaced, never its target).
        if fs::symlink_metadata(target).is_ok_and(|m| m.is_file()) {
            return refuse(
                "is not a refdb data file or log (a backup medium, a backup history, a user's file?): REPLACE overwrites only database files; move it away first"
                    .into(),
            );
        }
        return Ok(());
    };
    // The primary data file of a database open in another process, through whichever
    // directory names it (its lock is the database's own).
    let open = crate::engine::file::DataFile::open(0, target, false)
        .and_then(|f| f.try_lock())
        .is_ok_and(|taken| !taken);
    if open {
        return refuse(
            "is the primary data file of a database open in another process: REPLACE never overwrites an open database"
                .into(),
        );
    }
    // The database being replaced in `dir` may own it (a moved file of an earlier restore).
    let owned = read_boot(dir).is_some_and(|b| {
        b.db_guid == guid
            && (b
                .files
                .iter()
                .any(|f| lexical(&f.resolve(dir)) == lexical(target))
                || crate::engine::db::log_path(dir).is_ok_and(|l| lexical(&l) == lexical(target)))
    });
    if owned {
        return Ok(());
    }
    refuse(format!(
        "is a data file of database id {}: REPLACE never overwrites another database's files",
        crate::engine::db::guid_string(&guid)
    ))
}

/// Removes the temporary files a killed restore (its process gone) left beside MOVE target
/// `name` in `parent`: `.NAME.refdb-restore.PID` exactly, a file or a link (unlinked, never
/// followed). What such a restore moved aside (`… .old`, a file REPLACE was overwriting) is
/// left for its owner to take back.
fn sweep_dead_tmp(parent: &Path, name: &str) {
    let Ok(rd) = fs::read_dir(parent) else { return };
    let prefix = format!(".{name}.refdb-restore.");
    for e in rd.flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        let Some(Ok(pid)) = n.strip_prefix(&prefix).map(str::parse::<i32>) else {
            continue;
        };
        if pid <= 0 || pid as u32 == std::process::id() || e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        // SAFETY: kill with signal 0 only asks whether the process exists.
        let gone = unsafe { libc::kill(pid, 0) } != 0
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        if gone {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// Where a file of the database in `dir` at `path` (as the boot record or the location file
/// holds it) is, for a set's SFIN physical name: the plain name of a file in its usual place,
/// else the whole path (absolute, `..` applied), as SQL Server lists a file it moved.
pub(super) fn physical_name(dir: &Path, path: &str, usual: &str) -> String {
    if path == usual {
        return path.to_string();
    }
    let p = dir.join(path);
    lexical(&std::path::absolute(&p).unwrap_or(p))
        .to_string_lossy()
        .into_owned()
}

/// The directory a MOVE target is in (`.` for a bare name, which `..` from a relative
/// database directory gives).
fn parent_of(target: &Path) -> &Path {
    match target.parent() {
        Some(p) if p.as_os_str().is_empty() => Path::new("."),
        Some(p) => p,
        None => Path::new("/"),
    }
}

/// `p` without `.` and with `..` applied to the components before it (the targets' parents
/// exist and are checked, so this is for telling two MOVE targets apart).
pub(super) fn lexical(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            c => out.push(c),
        }
    }
    out
}

impl Placement {
    /// The moved files of the database in `dir` (restoring, or online), as its boot page says.
    pub(super) fn of_database(dir: &Path) -> Result<Placement> {
        let primary = crate::engine::db::primary_path(dir)?;
        let boot = read_boot(dir).ok_or_else(|| {
            // Why, when the file does not even open (a link planted there, a FIFO).
            let why = match crate::engine::file::DataFile::open(1, &primary, false) {
                Err(e) => format!("{e}"),
                Ok(_) => format!("{}: the boot page cannot be read", primary.display()),
            };
            DbBackupError::Refused(format!(
                "{why}: restore the sequence again from its full backup"
            ))
        })?;
        Ok(Placement::from_boot(dir, &boot))
    }

    /// The moved files `boot` (a boot record of the database in `dir`) names.
    fn from_boot(dir: &Path, boot: &Boot) -> Placement {
        Placement {
            moved: boot
                .files
                .iter()
                .filter(|f| f.path != f.file_name)
                .map(|f| Moved {
                    id: f.id,
                    write_at: f.resolve(dir),
                    boot_path: f.path.clone(),
                })
                .collect(),
            log: None,
            outside: Vec::new(),
            committed: false,
        }
    }

    /// A file restore of data files `ids` of the database in `dir`: those of them that were
    /// moved are written under a temporary name beside where they are (made new, O_EXCL) and
    /// renamed over them by [`Placement::place`] (what was there waits aside until
    /// [`Placement::commit`], and is put back if the restore fails); the others are written
    /// where `write_at` is given.
    pub(super) fn for_file_restore(dir: &Path, ids: &[u16]) -> Result<Placement> {
        Placement::of_database(dir)?.outside_for(ids)
    }

    /// The same, the files where `boot` says they are: a file restore of the primary
    /// filegroup cannot take them from the damaged primary's boot page.
    pub(super) fn for_file_restore_by(dir: &Path, boot: &Boot, ids: &[u16]) -> Result<Placement> {
        Placement::from_boot(dir, boot).outside_for(ids)
    }

    fn outside_for(self, ids: &[u16]) -> Result<Placement> {
        let mut p = self;
        for m in p.moved.iter_mut().filter(|m| ids.contains(&m.id)) {
            m.write_at = outside_tmp(&mut p.outside, m.write_at.clone(), true)?;
        }
        Ok(p)
    }

    /// Where the log is written, restoring into `into`.
    pub(super) fn log_write_at(&self, into: &Path) -> PathBuf {
        self.log
            .as_ref()
            .map_or_else(|| into.join(LOG_FILE), |(w, _)| w.clone())
    }

    /// Writes the location file of the database built in `into` when the primary or the log is
    /// moved (and removes one an interrupted restore left there when neither is).
    pub(super) fn write_location(&self, into: &Path) -> Result<()> {
        let loc = Location {
            primary: self
                .moved
                .iter()
                .find(|m| m.id == 1)
                .map_or_else(|| PRIMARY_FILE.to_string(), |m| m.boot_path.clone()),
            log: self
                .log
                .as_ref()
                .map_or_else(|| LOG_FILE.to_string(), |(_, b)| b.clone()),
        };
        let path = into.join(LOCATION_FILE);
        if loc.is_default() {
            return match fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(io_err("remove", &path)(e))
                }
                _ => Ok(()),
            };
        }
        loc.validate()
            .map_err(|e| DbBackupError::Refused(format!("MOVE: {e}")))?;
        super::write_state_file(&path, &loc.to_text())
    }

    /// Where the pages of data file `id` (named `file_name`) are written, restoring into `into`.
    pub(super) fn write_at(&self, into: &Path, id: u16, file_name: &str) -> PathBuf {
        self.moved
            .iter()
            .find(|m| m.id == id)
            .map_or_else(|| into.join(file_name), |m| m.write_at.clone())
    }

    /// The set's boot page with the paths of this placement (the others at their names), its
    /// LSN kept: recovery then puts the paths back after it redoes older images of the page.
    pub(super) fn place_boot(&self, p: &Page) -> Result<Page> {
        let mut b = Boot::from_page(p).ok_or_else(|| {
            DbBackupError::Refused(
                "page 0 of the set's primary data file is not a boot page".into(),
            )
        })?;
        for f in &mut b.files {
            f.path = self
                .moved
                .iter()
                .find(|m| m.id == f.id)
                .map_or_else(|| f.file_name.clone(), |m| m.boot_path.clone());
        }
        b.validate()
            .map_err(|e| DbBackupError::Refused(format!("MOVE: {e}")))?;
        let mut out = b.to_page();
        out.set_lsn(p.lsn());
        out.seal();
        Ok(out)
    }

    /// Whether data file `id` is written into a file made beforehand (outside the directory).
    pub(super) fn made_before(&self, id: u16) -> bool {
        self.moved
            .iter()
            .any(|m| m.id == id && self.outside.iter().any(|o| o.tmp == m.write_at))
    }

    /// Renames the files written outside the directory to their targets (what was there, with
    /// REPLACE, waits aside until [`Placement::commit`]).
    pub(super) fn place(&mut self) -> Result<()> {
        for o in &mut self.outside {
            if fs::symlink_metadata(&o.target).is_ok() {
                // Beside the temporary file, named for this process; never over a file there.
                let mut aside = o.tmp.clone().into_os_string();
                aside.push(".old");
                let aside = PathBuf::from(aside);
                if fs::symlink_metadata(&aside).is_ok() {
                    return Err(DbBackupError::Refused(format!(
                        "MOVE: {} exists, where the file at {} would wait until the restore succeeds",
                        aside.display(),
                        o.target.display()
                    )));
                }
                fs::rename(&o.target, &aside).map_err(io_err("move aside", &o.target))?;
                o.aside = Some(aside);
            }
            fs::rename(&o.tmp, &o.target).map_err(io_err("rename into place", &o.target))?;
            o.placed = true;
            super::restore::sync_dir(parent_of(&o.target))?;
        }
        Ok(())
    }

    /// The restore succeeded: what REPLACE overwrote goes.
    pub(super) fn commit(mut self) {
        for o in &self.outside {
            if let Some(a) = &o.aside {
                let _ = fs::remove_file(a);
            }
        }
        self.committed = true;
    }
}

impl Drop for Placement {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        for o in &self.outside {
            if o.placed {
                let _ = fs::remove_file(&o.target);
            } else {
                let _ = fs::remove_file(&o.tmp);
            }
            if let Some(a) = &o.aside {
                let _ = fs::rename(a, &o.target);
            }
        }
    }
}
