//! `mtfdump plan`: which backups to restore, in which order and with which options, to bring
//! each database back to a point in time (or to the latest point), from the media found under
//! the paths given and/or from a backup history; as text, JSON or a T-SQL script.
//!
//! `--json` prints `{"plans":[{"database","target","steps":[{"backup_type","files","position",
//! "first_lsn","last_lsn","recovery","stopat"}],"problems":[…]}]}`: `target` is the `--stopat`
//! time, or null for the latest point; `steps` is empty when no plan exists and `problems` says
//! why (it also names the sets a valid plan had to leave out).
//!
//! Exit status: 0 when every database has a plan that reaches its target, 1 when one has none
//! (the reasons are printed), 2 on errors.

use super::history::{open_history, read_records};
use super::{write_json, DumpError, DumpResult, Outcome};
use media::history::{iso, parse_datetime, BackupHistory, BackupRecord};
use media::plan::tsql::{self, Move};
use media::plan::{plan_all, Plan, Target};
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};

/// How to print the plans.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Tsql,
}

/// What `plan` was asked.
#[derive(Debug, Default)]
pub struct PlanArgs {
    pub paths: Vec<PathBuf>,
    /// `YYYY-MM-DDTHH:MM:SS`, server local time; none = the latest point.
    pub stopat: Option<String>,
    pub database: Option<String>,
    pub history: Option<PathBuf>,
    pub moves: Vec<String>,
}

#[derive(Serialize)]
struct JsonStep {
    backup_type: String,
    files: Vec<String>,
    position: u32,
    first_lsn: String,
    last_lsn: String,
    recovery: &'static str,
    stopat: Option<String>,
}

#[derive(Serialize)]
struct JsonPlan {
    database: String,
    target: Option<String>,
    steps: Vec<JsonStep>,
    problems: Vec<String>,
}

#[derive(Serialize)]
struct JsonPlans {
    plans: Vec<JsonPlan>,
}

fn json_plan(p: &Plan) -> JsonPlan {
    JsonPlan {
        database: p.database.clone(),
        target: match p.target {
            Target::Latest => None,
            Target::At(t) => Some(iso(&t)),
        },
        steps: p
            .steps
            .iter()
            .map(|s| JsonStep {
                backup_type: s.kind.word(),
                files: s.files.clone(),
                position: s.position,
                first_lsn: s.first_lsn.to_string(),
                last_lsn: s.last_lsn.to_string(),
                recovery: if s.recovery { "RECOVERY" } else { "NORECOVERY" },
                stopat: s.stopat.as_ref().map(iso),
            })
            .collect(),
        problems: p.problems.iter().map(|x| x.to_string()).collect(),
    }
}

fn print_text(plans: &[Plan], out: &mut dyn Write) -> DumpResult<()> {
    for p in plans {
        writeln!(out, "{}: restore to {}", p.database, p.target)?;
        for (i, s) in p.steps.iter().enumerate() {
            writeln!(
                out,
                "  {}. {:<12} {} (FILE = {}) LSN {}..{} {}{}",
                i + 1,
                s.kind.word(),
                s.files.join(" + "),
                s.position,
                s.first_lsn,
                s.last_lsn,
                if s.recovery { "RECOVERY" } else { "NORECOVERY" },
                s.stopat
                    .as_ref()
                    .map(|t| format!(" STOPAT {}", iso(t)))
                    .unwrap_or_default()
            )?;
        }
        if p.steps.is_empty() {
            writeln!(out, "  no valid plan")?;
        }
        for x in &p.problems {
            writeln!(
                out,
                "  {}: {x}",
                if x.is_refusal() { "why" } else { "note" }
            )?;
        }
    }
    Ok(())
}

/// Reads the records the plan works from: the history's, then the media's and CSVs' under the
/// paths (a set seen in both is merged by the planner).
pub fn records(
    paths: &[PathBuf],
    history: Option<&Path>,
) -> DumpResult<(Vec<BackupRecord>, Vec<String>)> {
    let mut recs = Vec::new();
    if let Some(h) = history {
        if !h.exists() {
            return Err(DumpError(format!(
                "{}: no such history (create it with `mtfdump history import`)",
                h.display()
            )));
        }
        recs = open_history(h)?
            .backups(None)
            .map_err(|e| DumpError(e.to_string()))?;
    }
    let (mut more, problems) = if paths.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        read_records(paths)?
    };
    recs.append(&mut more);
    Ok((recs, problems))
}

/// `mtfdump plan`.
pub fn run(args: &PlanArgs, format: Format, out: &mut dyn Write) -> DumpResult<Outcome> {
    let target = match &args.stopat {
        None => Target::Latest,
        Some(s) => Target::At(parse_datetime(s).ok_or_else(|| {
            DumpError(format!(
                "--stopat {s:?}: expected YYYY-MM-DDTHH:MM:SS (the server's local time)"
            ))
        })?),
    };
    let moves = args
        .moves
        .iter()
        .map(|m| {
            Move::parse(m).ok_or_else(|| DumpError(format!("--move {m:?}: expected LOGICAL=PATH")))
        })
        .collect::<DumpResult<Vec<_>>>()?;
    if args.paths.is_empty() && args.history.is_none() {
        return Err(DumpError(
            "plan: give media paths, --history, or both".into(),
        ));
    }
    let (recs, read_problems) = records(&args.paths, args.history.as_deref())?;
    let plans = plan_all(&recs, args.database.as_deref(), target);
    if plans.is_empty() {
        let mut msg = match &args.database {
            Some(d) => format!("no backup of database {d:?} found"),
            None => "no SQL Server backup sets found".to_string(),
        };
        for p in &read_problems {
            msg.push_str(&format!("\n  {p}"));
        }
        return Err(DumpError(msg));
    }
    match format {
        Format::Json => write_json(
            out,
            &JsonPlans {
                plans: plans.iter().map(json_plan).collect(),
            },
        )?,
        Format::Tsql => {
            for p in &plans {
                out.write_all(tsql::script(p, &moves).as_bytes())?;
            }
        }
        Format::Text => print_text(&plans, out)?,
    }
    for p in &read_problems {
        eprintln!("mtfdump: {p}");
    }
    Ok(if plans.iter().all(Plan::is_valid) {
        Outcome::Ok
    } else {
        Outcome::Problems
    })
}
