//! A plan as the T-SQL script an administrator runs: one `RESTORE DATABASE` or `RESTORE LOG` per
//! step, every family of a striped set on one statement, `NORECOVERY` until the last step, which
//! gets `STOPAT` (when it holds the target) and `RECOVERY`.

use super::{Plan, Step};
use crate::history::{iso, BackupKind};

/// `MOVE` options: a logical file name and where it goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Move {
    pub logical: String,
    pub path: String,
}

impl Move {
    /// Parses `LOGICAL=PATH`.
    pub fn parse(s: &str) -> Option<Move> {
        let (l, p) = s.split_once('=')?;
        (!l.is_empty() && !p.is_empty()).then(|| Move {
            logical: l.to_string(),
            path: p.to_string(),
        })
    }
}

/// A T-SQL string literal: `N'…'` with quotes doubled.
pub fn literal(s: &str) -> String {
    format!("N'{}'", s.replace('\'', "''"))
}

/// A bracketed T-SQL identifier: `[…]` with `]` doubled.
pub fn ident(s: &str) -> String {
    format!("[{}]", s.replace(']', "]]"))
}

fn statement(database: &str, step: &Step, moves: &[Move], first: bool) -> String {
    let verb = match step.kind {
        BackupKind::Log => "LOG",
        _ => "DATABASE",
    };
    let from: Vec<String> = step
        .files
        .iter()
        .zip(step.tapes.iter().chain(std::iter::repeat(&false)))
        .map(|(f, &tape)| format!("{} = {}", if tape { "TAPE" } else { "DISK" }, literal(f)))
        .collect();
    let mut with = vec![format!("FILE = {}", step.position)];
    if first {
        for m in moves {
            with.push(format!(
                "MOVE {} TO {}",
                literal(&m.logical),
                literal(&m.path)
            ));
        }
    }
    if let Some(t) = &step.stopat {
        with.push(format!("STOPAT = '{}'", iso(t)));
    }
    with.push(
        if step.recovery {
            "RECOVERY"
        } else {
            "NORECOVERY"
        }
        .to_string(),
    );
    format!(
        "RESTORE {verb} {} FROM {} WITH {};",
        ident(database),
        from.join(", "),
        with.join(", ")
    )
}

/// The script for one plan. A plan without steps gives its problems as comments only.
pub fn script(plan: &Plan, moves: &[Move]) -> String {
    let mut out = format!("-- {}: restore to {}\n", plan.database, plan.target);
    for p in &plan.problems {
        out.push_str(&format!("-- {p}\n"));
    }
    for (i, s) in plan.steps.iter().enumerate() {
        out.push_str(&statement(&plan.database, s, moves, i == 0));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Lsn;
    use crate::plan::Target;

    #[test]
    fn statements_quote_and_merge_stripes() {
        let step = |kind, files: &[&str], recovery, stopat| Step {
            kind,
            files: files.iter().map(|s| s.to_string()).collect(),
            tapes: vec![false; files.len()],
            position: 2,
            first_lsn: Lsn(1),
            last_lsn: Lsn(2),
            recovery,
            stopat,
            backup_set_guid: None,
            finish: None,
        };
        let plan = Plan {
            database: "O'Neil]db".into(),
            target: Target::Latest,
            steps: vec![
                step(BackupKind::Full, &["/b/a'1.bak", "/b/a2.bak"], false, None),
                step(
                    BackupKind::Log,
                    &["/b/l.trn"],
                    true,
                    crate::history::parse_datetime("2017-06-01T13:22:44"),
                ),
            ],
            problems: vec![],
        };
        let s = script(&plan, &[Move::parse("data=/srv/x.mdf").unwrap()]);
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(
            lines[1],
            "RESTORE DATABASE [O'Neil]]db] FROM DISK = N'/b/a''1.bak', DISK = N'/b/a2.bak' WITH FILE = 2, MOVE N'data' TO N'/srv/x.mdf', NORECOVERY;"
        );
        assert_eq!(
            lines[2],
            "RESTORE LOG [O'Neil]]db] FROM DISK = N'/b/l.trn' WITH FILE = 2, STOPAT = '2017-06-01T13:22:44', RECOVERY;"
        );
        assert_eq!(Move::parse("noequals"), None);
        assert_eq!(Move::parse("=x"), None);
    }
}
