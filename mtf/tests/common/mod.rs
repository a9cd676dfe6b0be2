//! Locating the foreign samples (real backups we may read but not redistribute).
//!
//! `MTF_FOREIGN_DIR` names the folder (relative paths are taken from the workspace root);
//! the default is `../shared/testdata/foreign`. When it is missing, tests skip with a printed
//! notice, unless `MTF_REQUIRE_FOREIGN=1` (set by `.ci/run`), which makes the absence a failure.

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

/// Every sample file (`.bak`, `.trn`, `.bkf`) in the foreign folder, sorted by name.
pub fn foreign_samples() -> Vec<PathBuf> {
    let Some(dir) = foreign_dir() else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("read foreign dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("bak" | "trn" | "bkf")
            )
        })
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no samples in {}", dir.display());
    v
}
