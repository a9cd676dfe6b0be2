//! Helpers for the tests of the reference engine's backups: restoring a set from a directory
//! library of emulated tapes, committing rows while keeping the test's own model of them, and
//! reading a database's rows back in the same form.

use media::changer::dir::DirectoryLibrary;
use media::changer::MediaChanger;
use media::dbbackup::{self, RestoreOptions};
use media::engine::Database;
use media::restore::ReadSpec;
use std::collections::BTreeMap;
use std::path::Path;

/// (filegroup, key) → value: a test's own record of the committed rows.
pub type Rows = BTreeMap<(String, String), String>;

/// Restores the set on the 64 MiB emulated tapes of directory library `lib` into `into`.
pub fn restore(
    into: &Path,
    lib: &Path,
    opts: &RestoreOptions,
) -> dbbackup::Result<dbbackup::RestoreOutcome> {
    let changers: Vec<Box<dyn MediaChanger>> = vec![Box::new(
        DirectoryLibrary::new(lib, super::tape(64 << 20)).unwrap(),
    )];
    dbbackup::restore(into, changers, &ReadSpec::default(), opts)
}

/// Puts (or deletes, for `None`) rows in one transaction, recorded in `rows` once it commits.
pub fn commit(db: &Database, rows: &mut Rows, changes: &[(&str, String, Option<String>)]) {
    db.run(|t| {
        for (g, k, v) in changes {
            match v {
                Some(v) => t.put(g, k.as_bytes(), v.as_bytes())?,
                None => t.delete(g, k.as_bytes())?,
            }
        }
        Ok(())
    })
    .unwrap();
    for (g, k, v) in changes {
        match v {
            Some(v) => rows.insert((g.to_string(), k.clone()), v.clone()),
            None => rows.remove(&(g.to_string(), k.clone())),
        };
    }
}

/// The rows of filegroups `groups` of the database in `dir` (opened, then closed), in the
/// form [`commit`] records them.
pub fn rows_in(dir: &Path, groups: &[&str]) -> Rows {
    let db = Database::open(dir).unwrap();
    let mut rows = Rows::new();
    for g in groups {
        for (k, v) in db.begin().scan(g, None, None).unwrap() {
            let k = String::from_utf8(k).unwrap();
            rows.insert((g.to_string(), k), String::from_utf8(v).unwrap());
        }
    }
    db.close().unwrap();
    rows
}
