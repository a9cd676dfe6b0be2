//! The backup history: a durable catalog of every backup set, like SQL Server's `msdb`, that the
//! restore planner ([`crate::plan`]) reads.
//!
//! - [`BackupRecord`] is one backup set as the history keeps it: what was backed up, how (full,
//!   differential, log; copy-only), its log sequence numbers and recovery forks, when, where it
//!   lies (media set, families, media, position) and whether it is damaged or incomplete. It is
//!   written in terms any engine can fill: an LSN is an ordered 128-bit number, a GUID its text.
//! - [`BackupHistory`] is the interface: record a set, read them back, mark one damaged. The
//!   embedded default is [`sqlite::SqliteHistory`]; a server database shared by many hosts can
//!   implement the same trait.
//! - [`from_media`] turns media listings (read through their catalogs) into records: the history
//!   can always be rebuilt from the media.
//! - [`msdb_csv`] reads a CSV export of `msdb.dbo.backupset` joined with `backupmediafamily`.

pub mod from_media;
pub mod msdb_csv;
pub mod sqlite;

use std::fmt;

pub use mtf::DateTime;

/// A log sequence number as SQL Server shows it (`numeric(25,0)`): only its order matters to
/// the planner, so an engine may use any increasing 128-bit counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Lsn(pub u128);

impl Lsn {
    /// Parses the decimal form (`25000000006200170`).
    pub fn parse(s: &str) -> Option<Lsn> {
        let s = s.trim();
        if s.is_empty() || s.len() > 38 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok().map(Lsn)
    }

    /// The zero-padded 25-digit text the SQLite history stores, so that text order is
    /// numeric order.
    pub fn padded(&self) -> String {
        format!("{:025}", self.0)
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl From<mtf::sqlserver::Lsn> for Lsn {
    fn from(l: mtf::sqlserver::Lsn) -> Lsn {
        Lsn(l.decimal())
    }
}

/// What a backup set holds, as the planner sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BackupKind {
    /// A full database backup (msdb type `D`).
    Full,
    /// A differential database backup (`I`): the changes since its base full.
    Differential,
    /// A transaction log backup (`L`).
    Log,
    /// Anything else (file, filegroup, partial backups: `F`, `G`, `P`, `Q`), kept by its letter
    /// and never planned.
    Other(char),
}

impl BackupKind {
    /// msdb's `backupset.type` letter.
    pub fn letter(&self) -> char {
        match self {
            BackupKind::Full => 'D',
            BackupKind::Differential => 'I',
            BackupKind::Log => 'L',
            BackupKind::Other(c) => *c,
        }
    }

    /// From msdb's letter (any case).
    pub fn from_letter(c: char) -> BackupKind {
        match c.to_ascii_uppercase() {
            'D' => BackupKind::Full,
            'I' => BackupKind::Differential,
            'L' => BackupKind::Log,
            x => BackupKind::Other(x),
        }
    }

    /// The plan's words: `full`, `differential`, `log`.
    pub fn word(&self) -> String {
        match self {
            BackupKind::Full => "full".into(),
            BackupKind::Differential => "differential".into(),
            BackupKind::Log => "log".into(),
            BackupKind::Other(c) => format!("type {c}"),
        }
    }
}

/// The database's recovery model when the set was taken (msdb `recovery_model`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecoveryModel {
    Full,
    BulkLogged,
    Simple,
}

impl RecoveryModel {
    /// msdb's words: `FULL`, `BULK-LOGGED`, `SIMPLE`.
    pub fn name(&self) -> &'static str {
        match self {
            RecoveryModel::Full => "FULL",
            RecoveryModel::BulkLogged => "BULK-LOGGED",
            RecoveryModel::Simple => "SIMPLE",
        }
    }

    /// From msdb's words (any case, `BULK_LOGGED` too).
    pub fn parse(s: &str) -> Option<RecoveryModel> {
        match s.trim().to_ascii_uppercase().replace('_', "-").as_str() {
            "FULL" => Some(RecoveryModel::Full),
            "BULK-LOGGED" => Some(RecoveryModel::BulkLogged),
            "SIMPLE" => Some(RecoveryModel::Simple),
            _ => None,
        }
    }
}

/// One volume of a family: where it was found or recorded.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MediumRecord {
    /// 1-based order within the family (continuation media).
    pub media_sequence_number: u16,
    /// The path as given or found (a file, a `.tap` image, a tape device), or msdb's
    /// `physical_device_name`.
    pub path: String,
    /// Whether the path is a tape (device or image): the T-SQL script says `TAPE =`.
    pub is_tape: bool,
}

/// One family of the media set holding a backup set.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FamilyRecord {
    /// 1-based family number.
    pub family_number: u16,
    /// The family's media in sequence order (several: the set continues on the next medium).
    /// A medium found in several places appears once per place, the preferred place first.
    pub media: Vec<MediumRecord>,
}

/// One backup set, as the history records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupRecord {
    /// The set's own identity (BackupSetGUID), canonical upper-case text.
    pub backup_set_guid: Option<String>,
    pub database: String,
    pub server: Option<String>,
    pub kind: BackupKind,
    /// `None` when the source does not say (the media headers do not carry it).
    pub copy_only: Option<bool>,
    pub first_lsn: Option<Lsn>,
    pub last_lsn: Option<Lsn>,
    pub checkpoint_lsn: Option<Lsn>,
    /// The full backup this set depends on (DatabaseBackupLSN).
    pub database_backup_lsn: Option<Lsn>,
    /// For a differential: its base full's checkpoint LSN and set GUID.
    pub differential_base_lsn: Option<Lsn>,
    pub differential_base_guid: Option<String>,
    /// The recovery fork the set starts in and ends in; `None` when unknown.
    pub first_recovery_fork_guid: Option<String>,
    pub last_recovery_fork_guid: Option<String>,
    pub fork_point_lsn: Option<Lsn>,
    /// Start and finish, in the server's local time (what the headers and msdb hold, and
    /// what RESTORE … STOPAT means).
    pub start: Option<DateTime>,
    pub finish: Option<DateTime>,
    /// The server's offset from UTC in minutes, when known.
    pub utc_offset_minutes: Option<i32>,
    pub recovery_model: Option<RecoveryModel>,
    /// Damaged: taken WITH CONTINUE_AFTER_ERROR, or found damaged when read.
    pub damaged: bool,
    /// Incomplete: the set was not finished on the media found (no trailer, a missing
    /// continuation medium).
    pub incomplete: bool,
    /// The media set's identity and family count.
    pub media_set_guid: Option<String>,
    pub family_count: Option<u16>,
    /// The set's position on the media set (`RESTORE … WITH FILE = n`).
    pub position: u32,
    /// The families found or recorded, by family number.
    pub families: Vec<FamilyRecord>,
    pub backup_size: Option<u64>,
    /// Where the record came from: `media`, `msdb-csv`, or an engine's name.
    pub source: String,
}

impl BackupRecord {
    /// A record with only the required fields; the rest unknown.
    pub fn new(database: &str, kind: BackupKind, position: u32, source: &str) -> BackupRecord {
        BackupRecord {
            backup_set_guid: None,
            database: database.to_string(),
            server: None,
            kind,
            copy_only: None,
            first_lsn: None,
            last_lsn: None,
            checkpoint_lsn: None,
            database_backup_lsn: None,
            differential_base_lsn: None,
            differential_base_guid: None,
            first_recovery_fork_guid: None,
            last_recovery_fork_guid: None,
            fork_point_lsn: None,
            start: None,
            finish: None,
            utc_offset_minutes: None,
            recovery_model: None,
            damaged: false,
            incomplete: false,
            media_set_guid: None,
            family_count: None,
            position,
            families: Vec::new(),
            backup_size: None,
            source: source.to_string(),
        }
    }

    /// The families missing from `families` (1..=family_count), as runs of consecutive family
    /// numbers (first, last), in order. The family count comes from a medium's header: a
    /// hostile one (65,535) must not turn into a list of that many numbers, so the result has
    /// at most one run more than `families` has entries, and takes n log n time in them.
    pub fn missing_families(&self) -> Vec<(u16, u16)> {
        let n = self.family_count.unwrap_or(1).max(1);
        let have: Vec<u16> = self
            .families
            .iter()
            .filter(|f| !f.media.is_empty())
            .map(|f| f.family_number)
            .collect();
        crate::set::group::missing_runs(&have, n)
    }

    /// How many families are missing: the sum of [`Self::missing_families`]' runs.
    pub fn missing_family_count(&self) -> u32 {
        self.missing_families()
            .iter()
            .map(|&(a, b)| u32::from(b) - u32::from(a) + 1)
            .sum()
    }

    /// A copy read from media with every family present, intact and complete: it can replace
    /// a damaged or incomplete copy of the same set read from media. (Damage found when
    /// reading belongs to the copy read; msdb's damaged flag belongs to the set.)
    pub fn is_whole_media_copy(&self) -> bool {
        self.source == "media"
            && !self.damaged
            && !self.incomplete
            && self.missing_families().is_empty()
    }

    /// A copy read from media that is damaged or incomplete.
    pub fn is_bad_media_copy(&self) -> bool {
        self.source == "media" && (self.damaged || self.incomplete)
    }

    /// Every path of the set, family by family, medium by medium.
    pub fn paths(&self) -> Vec<String> {
        let mut fams: Vec<&FamilyRecord> = self.families.iter().collect();
        fams.sort_by_key(|f| f.family_number);
        fams.iter()
            .flat_map(|f| f.media.iter().map(|m| m.path.clone()))
            .collect()
    }

    /// A short name for messages: the first path, else the GUID.
    pub fn label(&self) -> String {
        self.paths()
            .into_iter()
            .next()
            .or_else(|| self.backup_set_guid.clone())
            .unwrap_or_else(|| format!("{} set {}", self.kind.word(), self.position))
    }
}

/// Normalises a GUID's text: canonical upper-case when it parses, else trimmed upper-case;
/// the all-zero GUID and empty text are `None`.
pub fn normalize_guid(s: &str) -> Option<String> {
    let t = s.trim().trim_start_matches('{').trim_end_matches('}');
    if t.is_empty() {
        return None;
    }
    let canon = match t.parse::<mtf::stream::sqlserver::Guid>() {
        Ok(g) => g.to_string(),
        Err(_) => t.to_ascii_uppercase(),
    };
    if canon.chars().all(|c| c == '0' || c == '-') {
        None
    } else {
        Some(canon)
    }
}

/// Parses a local date and time: `YYYY-MM-DD[T| ]HH:MM[:SS[.fff]]`. Fractions are dropped.
pub fn parse_datetime(s: &str) -> Option<DateTime> {
    let s = s.trim();
    let b = s.as_bytes();
    if b.len() < 16 || b[4] != b'-' || b[7] != b'-' || !(b[10] == b'T' || b[10] == b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let t = s.get(r)?;
        if t.bytes().all(|c| c.is_ascii_digit()) {
            t.parse().ok()
        } else {
            None
        }
    };
    let second = if b.len() >= 19 && b[16] == b':' {
        let rest = &s[19..];
        if !(rest.is_empty() || rest.starts_with('.')) {
            return None;
        }
        if !rest.is_empty() && !rest[1..].bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        num(17..19)?
    } else if b.len() == 16 {
        0
    } else {
        return None;
    };
    if b[13] != b':' {
        return None;
    }
    let d = DateTime {
        year: u16::try_from(num(0..4)?).ok()?,
        month: num(5..7)? as u8,
        day: num(8..10)? as u8,
        hour: num(11..13)? as u8,
        minute: num(14..16)? as u8,
        second: second as u8,
    };
    d.is_valid().then_some(d)
}

/// Text safe to print on one line of a terminal or of a `--` comment in a T-SQL script: control
/// characters (line breaks, escape sequences) are shown escaped (`\n`, `\u{1b}`), since names
/// and paths come from media and file systems and a line break in a comment would end it.
pub fn printable(s: &str) -> String {
    mtf::text::escape_controls(s).into_owned()
}

/// The ISO text of a local time: `YYYY-MM-DDTHH:MM:SS`.
pub fn iso(d: &DateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        d.year, d.month, d.day, d.hour, d.minute, d.second
    )
}

/// Why the history failed: the operation and the store's own message.
#[derive(Debug)]
pub struct HistoryError(pub String);

impl fmt::Display for HistoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HistoryError {}

/// What recording a set did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// A set the history did not know.
    New,
    /// A known set (same BackupSetGUID, media set and position): its media paths and marks
    /// were merged into the existing record.
    Updated,
}

/// The backup history's interface. The planner only reads [`BackupHistory::backups`]; the
/// reference engine records its own backups with [`BackupHistory::record`].
///
/// An engine records each backup set it writes, then anyone can plan a restore from the
/// history:
///
/// ```
/// use media::history::sqlite::SqliteHistory;
/// use media::history::{parse_datetime, BackupHistory, BackupKind, BackupRecord};
/// use media::history::{FamilyRecord, Lsn, MediumRecord};
/// use media::plan::{plan_all, Target};
///
/// let mut history = SqliteHistory::in_memory()?;
/// let mut full = BackupRecord::new("Sales", BackupKind::Full, 1, "refdb");
/// full.backup_set_guid = Some("0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0".into());
/// full.first_lsn = Some(Lsn(100));
/// full.checkpoint_lsn = Some(Lsn(100));
/// full.last_lsn = Some(Lsn(120));
/// full.start = parse_datetime("2026-01-01T00:00:00");
/// full.finish = parse_datetime("2026-01-01T00:05:00");
/// full.family_count = Some(1);
/// full.families = vec![FamilyRecord {
///     family_number: 1,
///     media: vec![MediumRecord {
///         media_sequence_number: 1,
///         path: "/backups/sales.bak".into(),
///         is_tape: false,
///     }],
/// }];
/// history.record(&full)?;
/// let plans = plan_all(&history.backups(None)?, Some("Sales"), Target::Latest);
/// assert_eq!(plans[0].steps[0].files, ["/backups/sales.bak"]);
/// # Ok::<(), media::history::HistoryError>(())
/// ```
pub trait BackupHistory {
    /// Records a set, or merges it into the record of the same set (same BackupSetGUID, media
    /// set and position; paths are added, a damaged or incomplete mark is kept, except that a
    /// whole copy read from media replaces a damaged or incomplete copy read from media).
    fn record(&mut self, rec: &BackupRecord) -> Result<Recorded, HistoryError>;

    /// Records many sets at once, all or none.
    fn record_all(&mut self, recs: &[BackupRecord]) -> Result<Vec<Recorded>, HistoryError>;

    /// Every set, or the sets of one database (names compared without case), oldest first
    /// (by last LSN, then start date).
    fn backups(&self, database: Option<&str>) -> Result<Vec<BackupRecord>, HistoryError>;

    /// Marks a set (by BackupSetGUID) damaged, or clears the mark. Returns how many records
    /// matched.
    fn set_damaged(&mut self, backup_set_guid: &str, damaged: bool) -> Result<usize, HistoryError>;
}

/// A record of a backup over `count` families of which those in `present` were found (one
/// medium each): for the tests of what is missing, here and in the planner.
#[cfg(test)]
pub(crate) fn with_families(count: Option<u16>, present: &[u16]) -> BackupRecord {
    let mut r = BackupRecord::new("db", BackupKind::Full, 1, "media");
    r.family_count = count;
    r.families = present
        .iter()
        .map(|&k| FamilyRecord {
            family_number: k,
            media: vec![MediumRecord {
                media_sequence_number: 1,
                path: format!("f{k}.bak"),
                is_tape: false,
            }],
        })
        .collect();
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_parse_in_the_forms_given() {
        let d = parse_datetime("2017-06-01T13:22:44").unwrap();
        assert_eq!((d.year, d.month, d.day), (2017, 6, 1));
        assert_eq!((d.hour, d.minute, d.second), (13, 22, 44));
        assert_eq!(parse_datetime("2017-06-01 13:22:44.123"), Some(d));
        assert_eq!(
            iso(&parse_datetime("2017-06-01 13:22").unwrap()),
            "2017-06-01T13:22:00"
        );
        for bad in [
            "",
            "2017-06-01",
            "2017-13-01T00:00:00",
            "2017-02-30T00:00:00",
            "2017-06-01T24:00:00",
            "2017-06-01T13:22:44Z",
            "2017-06-01T13:22:4x",
            "17-06-01T13:22:44",
        ] {
            assert_eq!(parse_datetime(bad), None, "{bad}");
        }
    }

    #[test]
    fn lsns_order_as_numbers_and_as_padded_text() {
        let a = Lsn::parse("25000000006200170").unwrap();
        let b = Lsn::parse("125000000006200170").unwrap();
        assert!(a < b);
        assert!(a.padded() < b.padded());
        assert_eq!(Lsn::parse("12a"), None);
        assert_eq!(Lsn::parse(""), None);
        assert_eq!(Lsn::parse(&"9".repeat(40)), None);
    }

    use super::with_families;

    #[test]
    fn missing_families_are_runs_bounded_by_the_families_found() {
        assert!(with_families(None, &[1]).missing_families().is_empty());
        assert_eq!(with_families(None, &[]).missing_families(), [(1, 1)]);
        assert!(with_families(Some(2), &[2, 1])
            .missing_families()
            .is_empty());
        assert_eq!(with_families(Some(2), &[1]).missing_families(), [(2, 2)]);
        assert_eq!(
            with_families(Some(7), &[5, 2, 5]).missing_families(),
            [(1, 1), (3, 4), (6, 7)]
        );
        // Numbers outside 1..=count and families without media do not count as found.
        let mut r = with_families(Some(3), &[0, 2, 9]);
        r.families[1].media.clear();
        assert_eq!(r.missing_families(), [(1, 3)]);
        assert_eq!(r.missing_family_count(), 3);
        // A hostile count: one run, not 65,534 numbers.
        let r = with_families(Some(u16::MAX), &[1]);
        assert_eq!(r.missing_families(), [(2, u16::MAX)]);
        assert_eq!(r.missing_family_count(), 65_534);
        assert!(!r.is_whole_media_copy());
        let r = with_families(Some(u16::MAX), &[u16::MAX]);
        assert_eq!(r.missing_families(), [(1, u16::MAX - 1)]);
    }

    #[test]
    fn guids_normalise() {
        assert_eq!(
            normalize_guid("{5af3e50d-a4e0-4e9b-8aef-fe52898c6359}").as_deref(),
            Some("5AF3E50D-A4E0-4E9B-8AEF-FE52898C6359")
        );
        assert_eq!(normalize_guid("00000000-0000-0000-0000-000000000000"), None);
        assert_eq!(normalize_guid("  "), None);
    }
}
