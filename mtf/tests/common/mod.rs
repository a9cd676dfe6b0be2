//! Locating the media tests run on: the foreign samples (real backups we may read but not
//! redistribute) and this project's own images in `testdata/`. Shared by the `mtf` and
//! `mtf-examples` tests (the latter include this file by path).
//!
//! `MTF_FOREIGN_DIR` names the foreign folder (relative paths are taken from the workspace
//! root); the default is `../shared/testdata/foreign`. When it is missing, tests skip with a
//! printed notice, unless `MTF_REQUIRE_FOREIGN=1` (set by `.ci/run`), which makes the absence a
//! failure.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The foreign sample folder, or `None` (after printing a notice) when it is absent and not
/// required.
pub fn foreign_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("MTF_FOREIGN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("../shared/testdata/foreign"));
    let dir = if dir.is_absolute() {
        dir
    } else {
        workspace_root().join(dir)
    };
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var("MTF_REQUIRE_FOREIGN").as_deref() == Ok("1") {
        panic!(
            "MTF_REQUIRE_FOREIGN=1 but the foreign samples are missing at {}",
            dir.display()
        );
    }
    eprintln!(
        "NOTICE: foreign samples not found at {}; skipping",
        dir.display()
    );
    None
}

fn media_in(dir: &Path, exts: &[&str]) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .map(|e| e.expect("dir entry").path())
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| exts.contains(&e))
        })
        .collect();
    v.sort();
    v
}

/// The subfolders of the foreign folder whose media join the samples (the folder listing does
/// not recurse, so each is named here).
pub const FOREIGN_SUBFOLDERS: &[&str] = &["ntbackup"];

/// Every foreign sample (`.bak`, `.trn`, `.bkf`), sorted by name: the SQL Server samples at the
/// top of the folder, then the NTBackup media in `ntbackup/`.
pub fn foreign_samples() -> Vec<PathBuf> {
    let Some(dir) = foreign_dir() else {
        return Vec::new();
    };
    let mut v = media_in(&dir, &["bak", "trn", "bkf"]);
    assert!(!v.is_empty(), "no samples in {}", dir.display());
    for sub in FOREIGN_SUBFOLDERS {
        let found = media_in(&dir.join(sub), &["bkf"]);
        assert!(!found.is_empty(), "no media in {}", dir.join(sub).display());
        v.extend(found);
    }
    v
}

/// The SQL Server samples (the top of the foreign folder), sorted by name: for tests of SQL
/// Server's own habits.
pub fn sql_server_samples() -> Vec<PathBuf> {
    let Some(dir) = foreign_dir() else {
        return Vec::new();
    };
    media_in(&dir, &["bak", "trn"])
}

/// The NTBackup media (`ntbackup/*.bkf`), sorted by name.
pub fn ntbackup_samples() -> Vec<PathBuf> {
    foreign_dir()
        .map(|d| media_in(&d.join("ntbackup"), &["bkf"]))
        .unwrap_or_default()
}

/// Every image this project made (`testdata/*.bkf`, `*.tap`, `*.mtf`), sorted by name.
pub fn own_images() -> Vec<PathBuf> {
    media_in(&workspace_root().join("testdata"), &["bkf", "tap", "mtf"])
}

/// A foreign sample by name (if the folder is there).
pub fn foreign(name: &str) -> Option<PathBuf> {
    foreign_dir().map(|d| d.join(name))
}
