//! Synthetic backup histories for planner tests: a timeline of backups of one database, with
//! LSNs that grow with time the way SQL Server's do (a log backup starts where the previous one
//! ended; a full or differential covers a short span at its own time).

#![allow(dead_code)]

use media::history::{
    parse_datetime, BackupKind, BackupRecord, DateTime, FamilyRecord, Lsn, MediumRecord,
};

/// Minutes since the start of the test week (Monday 00:00, 2024-01-01) as a local time.
pub fn at(minutes: i64) -> DateTime {
    let base = parse_datetime("2024-01-01T00:00:00").unwrap().to_unix();
    DateTime::from_unix(base + minutes * 60).unwrap()
}

/// Day (0 = Monday) and time as minutes.
pub fn day(d: i64, h: i64, m: i64) -> i64 {
    d * 24 * 60 + h * 60 + m
}

pub struct Timeline {
    pub recs: Vec<BackupRecord>,
    /// The LSN the next log backup starts at (None before the first full).
    log_from: Option<u128>,
    last_full_guid: Option<String>,
    last_full_ckpt: Option<u128>,
    n: u32,
}

impl Default for Timeline {
    fn default() -> Self {
        Self::new()
    }
}

impl Timeline {
    pub fn new() -> Timeline {
        Timeline {
            recs: Vec::new(),
            log_from: None,
            last_full_guid: None,
            last_full_ckpt: None,
            n: 0,
        }
    }

    fn lsn(t: i64) -> u128 {
        (t as u128 + 1) * 1000
    }

    fn rec(&mut self, kind: BackupKind, t: i64, name: &str) -> BackupRecord {
        self.n += 1;
        let mut r = BackupRecord::new("Sales", kind, 1, "test");
        r.backup_set_guid = Some(format!("00000000-0000-0000-0000-{:012}", self.n));
        r.start = Some(at(t));
        r.finish = Some(at(t));
        r.media_set_guid = Some(format!("11111111-0000-0000-0000-{:012}", self.n));
        r.family_count = Some(1);
        r.families = vec![FamilyRecord {
            family_number: 1,
            media: vec![MediumRecord {
                media_sequence_number: 1,
                path: name.to_string(),
                is_tape: false,
            }],
        }];
        r
    }

    /// A full backup at minute `t`; `copy_only` ones do not become a differential base.
    pub fn full(&mut self, t: i64, name: &str, copy_only: bool) -> &mut BackupRecord {
        let mut r = self.rec(BackupKind::Full, t, name);
        // After a log backup taken at the same minute.
        let ck = Self::lsn(t) + 25;
        r.first_lsn = Some(Lsn(ck));
        r.checkpoint_lsn = Some(Lsn(ck));
        r.last_lsn = Some(Lsn(ck + 10));
        r.copy_only = Some(copy_only);
        if !copy_only {
            self.last_full_guid = r.backup_set_guid.clone();
            self.last_full_ckpt = Some(ck);
        }
        if self.log_from.is_none() {
            self.log_from = Some(ck);
        }
        self.recs.push(r);
        self.recs.last_mut().unwrap()
    }

    /// A differential at minute `t` on the latest non-copy-only full.
    pub fn diff(&mut self, t: i64, name: &str) -> &mut BackupRecord {
        let mut r = self.rec(BackupKind::Differential, t, name);
        // After a log backup taken at the same minute.
        let ck = Self::lsn(t) + 25;
        r.first_lsn = Some(Lsn(ck));
        r.checkpoint_lsn = Some(Lsn(ck));
        r.last_lsn = Some(Lsn(ck + 10));
        r.differential_base_guid = self.last_full_guid.clone();
        r.differential_base_lsn = self.last_full_ckpt.map(Lsn);
        self.recs.push(r);
        self.recs.last_mut().unwrap()
    }

    /// A log backup at minute `t`: from where the previous log ended to now.
    pub fn log(&mut self, t: i64, name: &str) -> &mut BackupRecord {
        let mut r = self.rec(BackupKind::Log, t, name);
        let from = self.log_from.expect("a log needs a full first");
        let to = Self::lsn(t) + 20;
        r.first_lsn = Some(Lsn(from));
        r.last_lsn = Some(Lsn(to));
        self.log_from = Some(to);
        self.recs.push(r);
        self.recs.last_mut().unwrap()
    }

    /// A copy-only log backup at minute `t`: from where the previous log ended to now, without
    /// moving the start of the next one (its range overlaps the next log's).
    pub fn copy_only_log(&mut self, t: i64, name: &str) -> &mut BackupRecord {
        let from = self.log_from;
        self.log(t, name);
        self.log_from = from;
        let r = self.recs.last_mut().unwrap();
        r.copy_only = Some(true);
        r
    }

    /// The record named `name`.
    pub fn get(&mut self, name: &str) -> &mut BackupRecord {
        self.recs
            .iter_mut()
            .find(|r| r.paths()[0] == name)
            .unwrap_or_else(|| panic!("no record {name}"))
    }

    /// Removes the record named `name` (a lost backup).
    pub fn lose(&mut self, name: &str) {
        self.recs.retain(|r| r.paths()[0] != name);
    }
}
