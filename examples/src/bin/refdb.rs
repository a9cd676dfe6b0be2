//! `refdb`: the reference engine's command line.
//!
//! ```text
//! refdb create DIR [--recovery full|simple|bulk-logged] [--name NAME] [--filegroup NAME[:readonly]]…
//!                  [--file FILEGROUP:LOGICAL_NAME]… [--map-extents N]
//! refdb put DIR KEY VALUE [--filegroup FG]
//! refdb get DIR KEY [--filegroup FG]
//! refdb delete DIR KEY [--filegroup FG]
//! refdb scan DIR [--filegroup FG] [--from KEY] [--to KEY]
//! refdb workload DIR --ops N [--seed S] [--threads T]
//! refdb check DIR
//! refdb info DIR
//! refdb set DIR [--recovery MODEL] [--read-only FG] [--read-write FG]
//! refdb bulk-load DIR --filegroup FG --rows N [--value-bytes B]
//! refdb backup DIR --type full|differential|log|file --to DEV [--to DEV…] [options]
//! refdb restore DIR --from DEV… [--set N] [--norecovery | --standby UNDO_FILE] [--stopat TIME] [--replace] [--restart] [--filegroup NAME] [--partial --filegroup NAME…] [--page FILE:PAGE] [--move LOGICAL=PATH…]
//! refdb restore DIR --recovery      (no media: recover a database left restoring where it stands)
//! refdb plan NAME [--stopat TIME] [--execute DIR]
//! refdb history [--database NAME]
//! ```
//!
//! Backups go through the `media` crate (see `media::dbbackup`) to tape images, tapes or
//! files, and are recorded in the backup history (`--history DB`, default
//! `refdb-history.db`). Times are `YYYY-MM-DDTHH:MM:SS[.fff]` UTC, as `refdb workload` prints
//! them.
//!
//! `backup`, `restore` and `plan --execute` draw a progress line on stderr while they run, only
//! when stderr is a terminal (see `mtf_examples::progress`).
//!
//! Every command opens the database, which runs crash recovery if the last run did not close
//! it. A database in standby (`restore --standby`) opens read-only: the read commands work,
//! the others are refused.
//!
//! Exit status: 0 done (for `check`: consistent), 1 an error or an inconsistency.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;

use clap::{Parser, Subcommand};
use media::engine::db::{guid_string, CreateOptions, DataFileSpec, Options};
use media::engine::{Database, FilegroupSpec, RecordBody, RecoveryModel};
use mtf_examples::refdb::{workload, WorkloadSpec};

#[derive(Parser, Debug)]
#[command(
    name = "refdb",
    about = "The reference engine: a small durable key-value database with a write-ahead log"
)]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Args, Debug)]
struct Tuning {
    /// Buffer pool size in 8 KiB pages.
    #[arg(long, default_value_t = 512)]
    pool_pages: usize,
    /// Checkpoint after this many bytes of log.
    #[arg(long, default_value_t = 4 << 20)]
    checkpoint_every: u64,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Create a database in DIR (created if missing; never overwrites one).
    Create {
        dir: PathBuf,
        #[arg(long, default_value = "full")]
        recovery: RecoveryModel,
        /// Database name (default: the directory's name).
        #[arg(long)]
        name: Option<String>,
        /// A filegroup besides PRIMARY: NAME or NAME:readonly (repeatable). Its first data
        /// file is NAME.ndf (PRIMARY's is primary.mdf), with the logical name NAME.
        #[arg(long = "filegroup", value_name = "NAME[:readonly]")]
        filegroups: Vec<FilegroupSpec>,
        /// A further data file of a filegroup, LOGICAL_NAME.ndf (repeatable): new pages go to
        /// a filegroup's files in turn.
        #[arg(long = "file", value_name = "FILEGROUP:LOGICAL_NAME")]
        files: Vec<DataFileSpec>,
        /// Extents per allocation map (1 to 880, the default: one map page per 55 MiB of
        /// a data file). Small values make small databases cross many maps, for tests.
        #[arg(long, default_value_t = 880)]
        map_extents: u32,
    },
    /// Insert or replace a row (one committed transaction).
    Put {
        dir: PathBuf,
        key: String,
        value: String,
        #[arg(long, default_value = "PRIMARY")]
        filegroup: String,
    },
    /// Print a row's value (exit 1 if absent).
    Get {
        dir: PathBuf,
        key: String,
        #[arg(long, default_value = "PRIMARY")]
        filegroup: String,
    },
    /// Delete a row (one committed transaction).
    Delete {
        dir: PathBuf,
        key: String,
        #[arg(long, default_value = "PRIMARY")]
        filegroup: String,
    },
    /// Print rows as KEY<TAB>VALUE in key order (all filegroups, each line prefixed with its
    /// filegroup (FG<TAB>KEY<TAB>VALUE), unless one is chosen).
    Scan {
        dir: PathBuf,
        #[arg(long)]
        filegroup: Option<String>,
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        to: Option<String>,
    },
    /// Random inserts, updates and deletes in transactions, some rolled back.
    Workload {
        dir: PathBuf,
        #[arg(long)]
        ops: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Concurrent transactions (1 to 256).
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=256))]
        threads: u16,
        /// Distinct keys per filegroup.
        #[arg(long, default_value_t = 2000)]
        keys: u64,
        #[arg(long, default_value_t = 10)]
        rollback_pct: u64,
        /// Extra bytes in each value.
        #[arg(long, default_value_t = 0)]
        value_pad: usize,
        #[command(flatten)]
        tuning: Tuning,
    },
    /// Check every page, allocation map and index; print rows and digest.
    Check { dir: PathBuf },
    /// Print what the database is.
    Info { dir: PathBuf },
    /// Change the recovery model or a filegroup's read-only flag.
    Set {
        dir: PathBuf,
        #[arg(long)]
        recovery: Option<RecoveryModel>,
        #[arg(long)]
        read_only: Option<String>,
        #[arg(long)]
        read_write: Option<String>,
    },
    /// Print the log records from the start of the log (or LSN FROM).
    Log {
        dir: PathBuf,
        #[arg(long, default_value_t = 0)]
        from: u64,
    },
    /// Back the database up through media (striped over the --to devices, mirrored, continued
    /// through a changer), recorded in the backup history.
    Backup {
        dir: PathBuf,
        #[arg(long = "type", value_name = "full|differential|log|file")]
        kind: media::dbbackup::BackupType,
        /// One device (tape image, tape, file) per media family.
        #[arg(long = "to", required = true)]
        to: Vec<PathBuf>,
        /// A mirror device per family, in the order of the --to devices.
        #[arg(long)]
        mirror: Vec<PathBuf>,
        /// A new media set (overrides expiry and names).
        #[arg(long)]
        format: bool,
        /// Overwrite the sets, keeping the media header.
        #[arg(long, conflicts_with = "format")]
        init: bool,
        /// Skip the expiry and media name checks.
        #[arg(long)]
        skip: bool,
        #[arg(long)]
        media_name: Option<String>,
        /// The set may be overwritten after N days.
        #[arg(long)]
        retain_days: Option<u32>,
        #[arg(long, default_value = "")]
        name: String,
        #[arg(long, default_value = "")]
        description: String,
        /// A CSUM stream after every file of the set.
        #[arg(long)]
        checksum: bool,
        /// Moves neither the differential base nor the log chain.
        #[arg(long)]
        copy_only: bool,
        /// Go on past damaged pages; the set is marked damaged.
        #[arg(long)]
        continue_after_error: bool,
        /// A tail-log backup: truncates nothing.
        #[arg(long)]
        no_truncate: bool,
        /// Leave the database restoring: a log backup WITH NORECOVERY is a tail-log backup
        /// (it implies --no-truncate); refused on other types.
        #[arg(long)]
        norecovery: bool,
        /// The filegroup of a file backup (refused on other types).
        #[arg(long)]
        filegroup: Option<String>,
        /// A directory of tape images acting as a library for continuation media.
        #[arg(long)]
        changer: Option<PathBuf>,
        /// Capacity of the tape images created.
        #[arg(long)]
        capacity: Option<u64>,
        #[arg(long, default_value = "refdb-history.db")]
        history: PathBuf,
    },
    /// Restore one backup set into DIR (the media in order: each family's media in
    /// sequence, family after family; or a --changer library).
    Restore {
        dir: PathBuf,
        #[arg(long = "from")]
        from: Vec<PathBuf>,
        #[arg(long)]
        changer: Option<PathBuf>,
        /// The set's position on the media (default: the first).
        #[arg(long)]
        set: Option<u16>,
        /// Leave the database restoring, for more backups to follow.
        #[arg(long)]
        norecovery: bool,
        /// Recover (the default). Alone, with no --from: recover the database left restoring
        /// in DIR where it stands (RESTORE DATABASE … WITH RECOVERY).
        #[arg(long, conflicts_with = "norecovery")]
        recovery: bool,
        /// STANDBY: leave the database readable (read-only) between log restores, its undo
        /// kept in UNDO_FILE so that more logs can follow.
        #[arg(long, value_name = "UNDO_FILE", conflicts_with_all = ["norecovery", "recovery"])]
        standby: Option<PathBuf>,
        /// Stop at this time: YYYY-MM-DDTHH:MM:SS[.fff] UTC.
        #[arg(long)]
        stopat: Option<String>,
        /// Overwrite what is in DIR.
        #[arg(long)]
        replace: bool,
        /// File restore: only this filegroup's files (of a file or full backup), into the
        /// database in DIR left restoring by a tail-log backup (PRIMARY too, under the full
        /// and bulk-logged models); the logs since follow. With
        /// --partial, a filegroup restored besides PRIMARY (repeatable). Into an online
        /// database where the filegroup is offline (after --partial): the later stage of a
        /// piecemeal restore, followed (full model) by the logs up to where the database was
        /// recovered.
        #[arg(long = "filegroup", value_name = "NAME")]
        filegroups: Vec<String>,
        /// Piecemeal restore (PARTIAL): from a full backup, only the primary filegroup and
        /// those named with --filegroup; the others stay offline until restored later.
        #[arg(long)]
        partial: bool,
        /// Page restore: only page FILE:PAGE (a file id and page number, as `refdb check`
        /// names pages), into the database left restoring by a tail-log backup.
        #[arg(long, value_name = "FILE:PAGE", value_parser = parse_page)]
        page: Option<(u16, u32)>,
        /// MOVE (full restore): put the file LOGICAL (a data file's logical name, `primary`
        /// or `log`) at PATH: a plain name in DIR, or outside it (absolute, or relative to DIR
        /// starting with `..`); repeatable. DIR/refdb.location names a moved primary or log.
        #[arg(long = "move", value_name = "LOGICAL=PATH", value_parser = parse_move)]
        moves: Vec<(String, String)>,
        /// Continue an interrupted restore of the same set from where it stopped (refused
        /// when there is none).
        #[arg(long)]
        restart: bool,
    },
    /// The restore sequence for a database from the backup history; --execute runs it.
    Plan {
        name: String,
        #[arg(long)]
        stopat: Option<String>,
        #[arg(long)]
        execute: Option<PathBuf>,
        #[arg(long)]
        replace: bool,
        #[arg(long, default_value = "refdb-history.db")]
        history: PathBuf,
    },
    /// The backups recorded in the backup history.
    History {
        #[arg(long)]
        database: Option<String>,
        #[arg(long, default_value = "refdb-history.db")]
        history: PathBuf,
    },
    /// Load N generated rows (keys b000000000, b000000001, …) into a filegroup's table in
    /// one step (minimally logged under bulk-logged); refused if one of the keys is there.
    BulkLoad {
        dir: PathBuf,
        #[arg(long)]
        filegroup: String,
        /// How many rows (up to 1,000,000: they are built in memory).
        #[arg(long, value_parser = clap::value_parser!(u64).range(0..=1_000_000))]
        rows: u64,
        /// Pad each value to this many bytes (up to the engine's 2048), for a larger database
        /// from the same number of rows (benchmarks).
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u16).range(0..=2048))]
        value_bytes: u16,
    },
}

fn describe(b: &RecordBody) -> String {
    let s = |v: &Option<Vec<u8>>| {
        v.as_ref()
            .map_or("-".into(), |v| String::from_utf8_lossy(v).into_owned())
    };
    match b {
        RecordBody::Update {
            page,
            key,
            before,
            after,
        } => {
            format!(
                "update {page} {} {} -> {}",
                String::from_utf8_lossy(key),
                s(before),
                s(after)
            )
        }
        RecordBody::Clr {
            page,
            key,
            after,
            undo_next,
        } => {
            format!(
                "clr {page} {} -> {} undo-next={undo_next}",
                String::from_utf8_lossy(key),
                s(after)
            )
        }
        RecordBody::Commit { ts_ms } => {
            format!("commit {}", media::engine::time::format_ms(*ts_ms))
        }
        RecordBody::Abort => "abort".into(),
        RecordBody::Smo { ops, bulk } => format!(
            "structure change ({} steps, {} bulk pages)",
            ops.len(),
            bulk.len()
        ),
        RecordBody::Fpi(p) => format!("page image {}", p.id()),
        RecordBody::CkptBegin => "checkpoint begin".into(),
        RecordBody::CkptEnd {
            begin, dpt, att, ..
        } => {
            format!(
                "checkpoint end (begin {begin}, {} dirty pages, {} active transactions)",
                dpt.len(),
                att.len()
            )
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("refdb: {e}");
            ExitCode::from(1)
        }
    }
}

/// The commands that go through media and the history (`None` for the others).
fn media_command(cmd: &Cmd) -> Option<Result<(), String>> {
    use mtf_examples::refdb_media as rm;
    let mut err = std::io::stderr();
    let stopat = |s: &Option<String>| s.as_deref().map(rm::parse_time).transpose();
    Some(match cmd {
        Cmd::Backup {
            dir,
            kind,
            to,
            mirror,
            format,
            init,
            skip,
            media_name,
            retain_days,
            name,
            description,
            checksum,
            copy_only,
            continue_after_error,
            no_truncate,
            norecovery,
            filegroup,
            changer,
            capacity,
            history,
        } => {
            let now = media::engine::time::now_ms() as i64 / 1000;
            let mut o = media::dbbackup::BackupOptions::new(*kind);
            o.checksum = *checksum;
            o.copy_only = *copy_only;
            o.continue_after_error = *continue_after_error;
            o.no_truncate = *no_truncate;
            o.norecovery = *norecovery;
            o.filegroup = filegroup.clone();
            o.name = name.clone();
            o.description = description.clone();
            o.expires = retain_days.map(|d| now + i64::from(d) * 86_400);
            let job = rm::BackupJob {
                dir: dir.clone(),
                options: o.clone(),
                media: mtf_examples::packset::MediaSetJob {
                    outputs: to.clone(),
                    mirrors: mirror.clone(),
                    changer: changer.clone(),
                    capacity: *capacity,
                    write: media::family::WriteOptions {
                        skip: *skip,
                        ..media::family::WriteOptions::new(rm::operation(*format, *init), now)
                    },
                    media_name: media_name.clone(),
                    media_description: String::new(),
                    password: None,
                    expires: o.expires,
                    // The set's own options are made by the backup; this one is not used.
                    set: mtf::writer::SetOptions::new(name, mtf::DateTime::from_unix(0)?),
                    machine: o.server.clone(),
                    dirs: Vec::new(),
                    in_turn: false,
                },
                history: history.clone(),
            };
            rm::backup(&job, &mut err)
        }
        Cmd::Restore {
            dir,
            from,
            changer,
            set,
            norecovery,
            recovery,
            standby,
            stopat: s,
            replace,
            filegroups,
            partial,
            page,
            moves,
            restart,
        } => (|| {
            if from.is_empty() && changer.is_none() {
                // RESTORE DATABASE … WITH RECOVERY: no backup, only recovery where it stands.
                let alone = *recovery
                    && set.is_none()
                    && standby.is_none()
                    && s.is_none()
                    && !*replace
                    && filegroups.is_empty()
                    && !*partial
                    && page.is_none()
                    && moves.is_empty()
                    && !*restart;
                if !alone {
                    return Err("restore: no medium to read (--from DEV, or --changer DIR); `refdb restore DIR --recovery` alone recovers a database left restoring where it stands".into());
                }
                return rm::recover(dir, &mut err);
            }
            if !*partial && filegroups.len() > 1 {
                return Err(
                    "restore: --filegroup names one filegroup, unless --partial is given".into(),
                );
            }
            let opts = media::dbbackup::RestoreOptions {
                recovery: if *norecovery {
                    media::dbbackup::Recovery::NoRecovery
                } else if let Some(u) = standby {
                    media::dbbackup::Recovery::Standby(u.clone())
                } else {
                    media::dbbackup::Recovery::Recovery
                },
                stopat_ms: stopat(s)?,
                replace: *replace,
                filegroup: filegroups.first().filter(|_| !*partial).cloned(),
                page: *page,
                moves: moves.clone(),
                restart: *restart,
                partial: *partial,
                filegroups: if *partial {
                    filegroups.clone()
                } else {
                    Vec::new()
                },
                // rm::restore counts it, for its progress line.
                progress: None,
                // The set is named by its position on the media given.
                expect_set: None,
            };
            let changers = rm::readers(from, changer.as_deref())?;
            let source = rm::source_name(from, changer.as_deref());
            rm::restore(dir, changers, &source, *set, &opts, &mut err)
                .map(|_| ())
                .map_err(|e| rm::naming_media(e, from, changer.as_deref()))
        })(),
        Cmd::Plan {
            name,
            stopat: s,
            execute,
            replace,
            history,
        } => (|| {
            let t = stopat(s)?;
            rm::plan(
                history,
                name,
                t,
                execute.as_deref(),
                *replace,
                &mut std::io::stdout(),
            )
        })(),
        Cmd::History { database, history } => {
            rm::history(history, database.as_deref(), &mut std::io::stdout())
        }
        _ => return None,
    })
}

fn open(dir: &std::path::Path, t: Option<&Tuning>) -> media::engine::Result<Database> {
    let mut o = Options::default();
    if let Some(t) = t {
        o.pool_pages = t.pool_pages;
        o.checkpoint_every = t.checkpoint_every;
    }
    if media::dbbackup::standby::is_standby(dir) {
        // Readable, not writable: the next log restore puts its undo back.
        return media::dbbackup::standby::open_standby(dir, o).map_err(|e| match e {
            media::dbbackup::DbBackupError::Engine(e) => e,
            e => media::engine::Error::Invalid(e.to_string()),
        });
    }
    if dir.join(media::dbbackup::restore::RESTORING_FILE).exists() {
        // Opening would recover it, and no more backups could be restored to it.
        return Err(media::engine::Error::Invalid(
            mtf_examples::refdb_media::restoring_advice(dir),
        ));
    }
    let db = Database::open_with(dir, o)?;
    let r = db.recovery_report();
    if r.torn_log_bytes > 0 || r.undone_txns > 0 || !r.repaired_pages.is_empty() || r.redone > 0 {
        let pages: Vec<String> = r.repaired_pages.iter().map(|p| p.to_string()).collect();
        eprintln!(
            "refdb: recovered {}: {} torn log bytes cut, {} records redone, {} transactions rolled back, torn pages repaired from the log: [{}]",
            dir.display(),
            r.torn_log_bytes,
            r.redone,
            r.undone_txns,
            pages.join(", ")
        );
    }
    Ok(db)
}

fn run(args: Args) -> media::engine::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    let w = |out: &mut std::io::StdoutLock, s: String| {
        let _ = writeln!(out, "{s}");
    };
    if let Some(r) = media_command(&args.cmd) {
        return Ok(match r {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("refdb: {e}");
                ExitCode::from(1)
            }
        });
    }
    match args.cmd {
        Cmd::Create {
            dir,
            recovery,
            name,
            filegroups,
            files,
            map_extents,
        } => {
            let name = name.unwrap_or_else(|| {
                dir.file_name()
                    .map_or("refdb".into(), |n| n.to_string_lossy().into_owned())
            });
            let opts = CreateOptions { files, map_extents };
            let db = Database::create_with(&dir, &name, recovery, &filegroups, &opts)?;
            let i = db.info();
            w(
                &mut out,
                format!(
                    "created {} ({}) in {}",
                    i.name,
                    guid_string(&i.db_guid),
                    dir.display()
                ),
            );
            db.close()?;
        }
        Cmd::Put {
            dir,
            key,
            value,
            filegroup,
        } => {
            let db = open(&dir, None)?;
            db.run(|t| t.put(&filegroup, key.as_bytes(), value.as_bytes()))?;
            db.close()?;
        }
        Cmd::Delete {
            dir,
            key,
            filegroup,
        } => {
            let db = open(&dir, None)?;
            db.run(|t| t.delete(&filegroup, key.as_bytes()))?;
            db.close()?;
        }
        Cmd::Get {
            dir,
            key,
            filegroup,
        } => {
            let db = open(&dir, None)?;
            let (v, _) = db.run(|t| t.get(&filegroup, key.as_bytes()))?;
            db.close()?;
            match v {
                Some(v) => w(&mut out, String::from_utf8_lossy(&v).into_owned()),
                None => {
                    eprintln!("refdb: {key:?}: no such key");
                    return Ok(ExitCode::from(1));
                }
            }
        }
        Cmd::Scan {
            dir,
            filegroup,
            from,
            to,
        } => {
            let db = open(&dir, None)?;
            let fgs: Vec<String> = match &filegroup {
                Some(f) => vec![f.clone()],
                // Offline filegroups (a piecemeal restore not finished) are named, not read.
                None => db
                    .info()
                    .filegroups
                    .iter()
                    .filter(|f| {
                        if f.offline.is_some() {
                            eprintln!("refdb: filegroup {} is offline: not scanned", f.name);
                        }
                        f.offline.is_none()
                    })
                    .map(|f| f.name.clone())
                    .collect(),
            };
            let all = filegroup.is_none();
            for fg in fgs {
                let (rows, _) = db.run(|t| {
                    t.scan(
                        &fg,
                        from.as_deref().map(str::as_bytes),
                        to.as_deref().map(str::as_bytes),
                    )
                })?;
                for (k, v) in rows {
                    let (k, v) = (String::from_utf8_lossy(&k), String::from_utf8_lossy(&v));
                    w(
                        &mut out,
                        if all {
                            format!("{fg}\t{k}\t{v}")
                        } else {
                            format!("{k}\t{v}")
                        },
                    );
                }
            }
            db.close()?;
        }
        Cmd::Workload {
            dir,
            ops,
            seed,
            threads,
            keys,
            rollback_pct,
            value_pad,
            tuning,
        } => {
            drop(out);
            let db = open(&dir, Some(&tuning))?;
            let spec = WorkloadSpec {
                ops,
                seed,
                threads: threads.into(),
                keys: keys.max(1),
                rollback_pct,
                value_pad,
            };
            let sink: Mutex<Box<dyn Write + Send>> = Mutex::new(Box::new(std::io::stdout()));
            let commits = workload(&db, &spec, &sink)?;
            db.close()?;
            eprintln!("refdb: workload done: {commits} commits");
            return Ok(ExitCode::SUCCESS);
        }
        Cmd::Check { dir } => {
            let db = open(&dir, None)?;
            let r = db.check()?;
            w(&mut out, format!("pages: {}", r.pages));
            w(&mut out, format!("rows: {}", r.rows));
            w(&mut out, format!("digest: {}", r.digest_hex()));
            for p in &r.problems {
                w(&mut out, format!("problem: {p}"));
            }
            drop(db);
            if !r.problems.is_empty() {
                eprintln!(
                    "refdb: {}: {} inconsistencies",
                    dir.display(),
                    r.problems.len()
                );
                return Ok(ExitCode::from(1));
            }
        }
        Cmd::Info { dir } => {
            let db = open(&dir, None)?;
            let i = db.info();
            w(&mut out, format!("name: {}", i.name));
            w(
                &mut out,
                format!("database id: {}", guid_string(&i.db_guid)),
            );
            w(
                &mut out,
                format!("recovery fork: {}", guid_string(&i.fork_guid)),
            );
            if let Some(p) = i.parent_fork_guid {
                w(
                    &mut out,
                    format!(
                        "recovery fork began at LSN {}, branched from fork {} (log chain kept)",
                        i.fork_point_lsn,
                        guid_string(&p)
                    ),
                );
            }
            w(&mut out, format!("recovery model: {}", i.model.name()));
            for f in &i.filegroups {
                w(
                    &mut out,
                    format!(
                        "filegroup {}{}{}",
                        f.name,
                        if f.read_only { " read-only" } else { "" },
                        f.offline
                            .map(|l| format!(" offline (recovery pending at LSN {l})"))
                            .unwrap_or_default()
                    ),
                );
            }
            for f in db.data_files()? {
                w(
                    &mut out,
                    format!(
                        "file {} {} filegroup {} {} ({} pages)",
                        f.id,
                        f.logical_name,
                        f.filegroup,
                        f.path.display(),
                        f.pages
                    ),
                );
            }
            w(
                &mut out,
                format!("allocation map interval: {} extents", i.map_extents),
            );
            w(
                &mut out,
                format!(
                    "log: LSN {}..{} ({} bytes on disk)",
                    i.log_start,
                    i.log_end,
                    db.log_file_len()?
                ),
            );
            w(&mut out, format!("last checkpoint: {}", i.checkpoint_lsn));
            if i.log_chain_lsn == 0 {
                w(&mut out, "log chain: none (the log is truncated at checkpoints until a full backup starts one)".into());
            } else {
                w(
                    &mut out,
                    format!(
                        "log chain: from LSN {} (backed up to {})",
                        i.log_chain_lsn, i.log_backup_lsn
                    ),
                );
            }
            w(&mut out, format!("differential base: {}", i.diff_base_lsn));
            db.close()?;
        }
        Cmd::Set {
            dir,
            recovery,
            read_only,
            read_write,
        } => {
            let db = open(&dir, None)?;
            if let Some(m) = recovery {
                db.set_recovery_model(m)?;
            }
            if let Some(f) = read_only {
                db.set_filegroup_read_only(&f, true)?;
            }
            if let Some(f) = read_write {
                db.set_filegroup_read_only(&f, false)?;
            }
            db.close()?;
        }
        Cmd::Log { dir, from } => {
            let db = open(&dir, None)?;
            let i = db.info();
            db.read_log(from.max(i.log_start), i.log_end, |r| {
                w(
                    &mut out,
                    format!(
                        "{} txn={} prev={} {}",
                        r.lsn,
                        r.txn,
                        r.prev,
                        describe(&r.body)
                    ),
                );
                Ok(())
            })?;
        }
        Cmd::Backup { .. } | Cmd::Restore { .. } | Cmd::Plan { .. } | Cmd::History { .. } => {
            // Run by media_command above.
        }
        Cmd::BulkLoad {
            dir,
            filegroup,
            rows,
            value_bytes,
        } => {
            let db = open(&dir, None)?;
            let data: Vec<(Vec<u8>, Vec<u8>)> = (0..rows)
                .map(|i| {
                    let mut v = format!("bulk{i}").into_bytes();
                    if v.len() < value_bytes as usize {
                        v.resize(value_bytes as usize, b'.');
                    }
                    (format!("b{i:09}").into_bytes(), v)
                })
                .collect();
            let pages = db.bulk_load(&filegroup, &data)?;
            w(&mut out, format!("loaded {rows} rows in {pages} pages"));
            db.close()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `FILE:PAGE` of `--page`.
fn parse_move(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((l, p)) if !l.is_empty() && !p.is_empty() => Ok((l.to_owned(), p.to_owned())),
        _ => Err(format!("{s:?}: expected LOGICAL=PATH")),
    }
}

fn parse_page(s: &str) -> Result<(u16, u32), String> {
    s.split_once(':')
        .and_then(|(f, p)| Some((f.parse().ok()?, p.parse().ok()?)))
        .ok_or_else(|| format!("{s:?} is not FILE:PAGE (a data file id and a page number)"))
}
