//! Backups and restores of the reference engine's databases through media: the engine's pages
//! and log, written by [`crate::stripe::StripedWriter`] as MTF sets laid out like SQL
//! Server's, read back by [`crate::restore::restore`], recorded in the backup history.
//!
//! Why a module of `media` and not of `media::engine`: it joins the engine, the media layer and
//! the history, which sit beside each other; the engine itself only offers the hooks a backup
//! calls (`note_full_backup`, `changed_extents`, ...), so it stays a database, and changes to
//! its storage do not meet changes to backups.
//!
//! | module | what it holds |
//! | --- | --- |
//! | [`header`] | what a set says about itself, and its MQCI encoding (SQL Server's SCIN/SFGI/SFIN chunks and an `RDBX` chunk of ours) |
//! | [`backup`] | full, differential, log (and copy-only, tail-log) backups onto media |
//! | [`restore`] | restore sequences: full, differential, logs, NORECOVERY/RECOVERY, STOPAT, the safety checks |
//! | `incoming` | a set as it comes off the media, one pass: data file images (pages checked as they come), its log and header |
//! | `file_restore` | file (filegroup) and page restore into an existing database, then its logs |
//! | `piecemeal` | piecemeal restore: PARTIAL (primary and named filegroups online, the others offline), then the others later |
//! | `relocate` | MOVE: where a restore puts the data files, and the boot record paths that say so |
//! | `restart` | RESTART: an interrupted restore's progress file, and continuing from it |
//! | [`progress`] | bytes done of a total, counted by a backup or restore for the caller to show (the library prints nothing) |
//! | [`standby`] | WITH STANDBY: the database readable between log restores, its undo kept in an undo file |
//!
//! **The set layout.** `SSET` (its OS data holds the BackupSetGUID, as SQL Server's does),
//! `VOLB` (the database directory and the machine), `MSCI` with the MQCI stream (the values
//! known before the data), then the data as files of directory `refdb`: `F<id>.pages` (the
//! copied 8 KiB pages of data file `<id>`, each carrying its page id and CRC-32C), `log` (the
//! log records the set holds, byte for byte as the log file holds them), and `header.mqci` (the
//! final MQCI, which the restore reads), then `MSLS` with the final MQCI, then the set's end.
//! SQL Server puts its pages in MSDA blocks (MQDA streams) and its log in MSTL blocks (MQTL
//! streams); here they are FILE blocks with STAN streams, because those are what the media
//! layer stripes over families, continues across media, checksums (CSUM) and restarts. So
//! `mtfdump sets`, `ls` and `plan` read a refdb set's type, database, LSNs and files through
//! SQL Server's decoders (its MSCI/MSLS blocks), and `ls` and `extract` show its data as files.

pub mod backup;
mod file_restore;
pub mod header;
mod image_writer;
mod incoming;
mod piecemeal;
pub mod progress;
mod recover;
mod relocate;
mod restart;
pub mod restore;
pub mod standby;

pub use backup::{backup, tail_log_from_files, BackupOptions, BackupOutcome};
pub use header::SetHeader;
pub use progress::Progress;
pub use recover::{recover, unfinished, Recovered};
pub use restore::{restore, standing, Recovery, RestoreOptions, RestoreOutcome, Standing};

/// The kind of backup (msdb's letters: `D`, `I`, `L`, `F`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackupType {
    Full,
    Differential,
    Log,
    /// A file (filegroup) backup.
    File,
}

impl BackupType {
    /// Every type, in the order the command line lists them.
    pub const ALL: [BackupType; 4] = [
        BackupType::Full,
        BackupType::Differential,
        BackupType::Log,
        BackupType::File,
    ];

    /// The word messages and the command line use: `full`, `differential`, `log`, `file`.
    pub fn name(self) -> &'static str {
        match self {
            BackupType::Full => "full",
            BackupType::Differential => "differential",
            BackupType::Log => "log",
            BackupType::File => "file",
        }
    }

    pub(crate) fn code(self) -> u8 {
        match self {
            BackupType::Full => b'D',
            BackupType::Differential => b'I',
            BackupType::Log => b'L',
            BackupType::File => b'F',
        }
    }
    pub(crate) fn from_code(c: u8) -> Option<Self> {
        Some(match c {
            b'D' => BackupType::Full,
            b'I' => BackupType::Differential,
            b'L' => BackupType::Log,
            b'F' => BackupType::File,
            _ => return None,
        })
    }
    pub(crate) fn sql_type(self) -> mtf::sqlserver::BackupType {
        match self {
            BackupType::Full => mtf::sqlserver::BackupType::Database,
            BackupType::Differential => mtf::sqlserver::BackupType::Differential,
            BackupType::Log => mtf::sqlserver::BackupType::Log,
            BackupType::File => mtf::sqlserver::BackupType::Other(b'F'),
        }
    }
}

impl std::str::FromStr for BackupType {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        BackupType::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| format!("unknown backup type {s:?} (full, differential, log, file)"))
    }
}

/// Why a backup or restore failed or was refused.
#[derive(Debug, thiserror::Error)]
pub enum DbBackupError {
    /// The rules refuse it; the message says why.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Engine(#[from] crate::engine::Error),
    #[error(transparent)]
    Media(#[from] crate::family::MediaError),
    #[error(transparent)]
    History(#[from] crate::history::HistoryError),
    #[error("{op} {path}: {source}")]
    Io {
        op: String,
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

pub type Result<T> = std::result::Result<T, DbBackupError>;

pub(crate) fn io_err(
    op: &str,
    path: &std::path::Path,
) -> impl FnOnce(std::io::Error) -> DbBackupError {
    let op = op.to_owned();
    let path = path.to_path_buf();
    move |source| DbBackupError::Io { op, path, source }
}

/// Lowercase hex of bytes (the state files' text form).
pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Bytes of lowercase or uppercase hex; `None` if it is not hex.
pub(crate) fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

/// Writes a small state file whole or not at all: a temporary file beside it (created new),
/// fsynced, renamed over it, and the directory fsynced.
pub(crate) fn write_state_file(path: &std::path::Path, text: &str) -> Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    let tmp = dir.join(name);
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(io_err("create", &tmp))?;
    f.write_all(text.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(io_err("write", &tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err("rename into place", path))?;
    restore::sync_dir(dir)
}

/// The most a state file (the restoring state, a standby marker, a restore's progress file)
/// is read of: the largest holds a line per data file, at most 65,535 of them.
const STATE_FILE_MAX: u64 = 4 << 20;

/// The text of a small state file, `None` when there is none. It lies beside the target or in
/// it, where anyone who can write there may have put something else: a symbolic link is not
/// followed, a FIFO is not waited on (opened non-blocking), a device or directory is refused,
/// and no more than [`STATE_FILE_MAX`] bytes are read (a link to `/dev/zero` or a huge file
/// would otherwise be read without end). Each is refused naming the file.
pub(crate) fn read_small_file(path: &std::path::Path) -> Result<Option<String>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let refuse = |why: &str| {
        DbBackupError::Refused(format!(
            "{}: {why}: it is not a file refdb wrote; refusing to read it (remove it)",
            path.display()
        ))
    };
    let f = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Err(refuse("a symbolic link")),
        Err(e) => return Err(io_err("read", path)(e)),
    };
    let m = f.metadata().map_err(io_err("stat", path))?;
    if !m.is_file() {
        return Err(refuse("not a regular file"));
    }
    if m.len() > STATE_FILE_MAX {
        return Err(refuse("far too large"));
    }
    let mut bytes = Vec::new();
    f.take(STATE_FILE_MAX + 1)
        .read_to_end(&mut bytes)
        .map_err(io_err("read", path))?;
    if bytes.len() as u64 > STATE_FILE_MAX {
        return Err(refuse("far too large"));
    }
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| refuse("not text"))
}

/// The lines of a state file written by [`write_state_file`], after its first line.
pub(crate) struct StateLines(std::vec::IntoIter<String>);

impl StateLines {
    /// The next line's value, when the line is `KEY VALUE`.
    pub(crate) fn get(&mut self, key: &str) -> Option<String> {
        let l = self.0.next()?;
        l.strip_prefix(key)?.strip_prefix(' ').map(str::to_owned)
    }

    /// The lines left.
    pub(crate) fn rest(self) -> impl Iterator<Item = String> {
        self.0
    }
}

/// Reads a state file: `None` when there is none, `Some(None)` when its first line is not
/// `magic`, else its other lines.
pub(crate) fn read_state_file(
    path: &std::path::Path,
    magic: &str,
) -> Result<Option<Option<StateLines>>> {
    let Some(text) = read_small_file(path)? else {
        return Ok(None);
    };
    let mut lines = text.lines().map(str::to_owned);
    if lines.next().as_deref() != Some(magic) {
        return Ok(Some(None));
    }
    Ok(Some(Some(StateLines(
        lines.collect::<Vec<_>>().into_iter(),
    ))))
}
