//! The conformance suite on the real Linux st driver.
//!
//! Needs `$TAPE`, a non-rewinding tape node with a scratch tape in it: the
//! suite overwrites the tape. The tests are ignored by a plain `cargo test`
//! (which lists them as ignored, "needs $TAPE"); `tests/vm/run.sh` runs them
//! with `--include-ignored` in a VM against scsi_debug's tape emulation.
//! `CONFORMANCE_FILTER=name` runs only the cases whose name contains it.

mod conformance;

use std::path::PathBuf;

use conformance::Backend;
use tape_sys::{NodeKind, St, StOptions, StWarning, TapeDevice};

struct Real {
    path: PathBuf,
    /// Whether to read the block limits with SG_IO (root only).
    query_block_limits: bool,
    dev: Option<St>,
}

impl Real {
    fn open(&self, read_only: bool) -> St {
        St::open_with(
            &self.path,
            StOptions {
                read_only,
                query_block_limits: self.query_block_limits,
                ..StOptions::default()
            },
        )
        .unwrap_or_else(|e| panic!("open {}: {e}", self.path.display()))
    }

    fn new(path: PathBuf, query_block_limits: bool) -> Real {
        let mut r = Real {
            path,
            query_block_limits,
            dev: None,
        };
        r.dev = Some(r.open(false));
        r
    }
}

impl Backend for Real {
    fn dev(&mut self) -> &mut dyn TapeDevice {
        self.dev.as_mut().unwrap()
    }

    fn reopen(&mut self, write_protected: bool) {
        self.dev.take().unwrap().close().expect("close");
        self.dev = Some(self.open(write_protected));
    }

    fn reopen_keeps_position(&self) -> bool {
        true
    }

    fn min_block(&self) -> usize {
        512
    }

    fn full_content(&self) -> bool {
        // scsi_debug keeps only the first 4 bytes of each block.
        std::env::var_os("TAPE_FULL_CONTENT").is_some()
    }

    fn eom_report(&self) -> String {
        format!("{:?}", self.dev.as_ref().unwrap().eom_stats())
    }

    fn fill_limit(&self) -> usize {
        // scsi_debug's tape has 10 000 units.
        std::env::var("TAPE_FILL_LIMIT")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(20_000)
    }
}

/// The tape node the tests run on. They are `#[ignore]`d, so a plain `cargo test` lists them as
/// ignored instead of passing empty; run with `--include-ignored` and `$TAPE` set (the VM script
/// does). Asked for without `$TAPE`, they fail.
fn tape() -> PathBuf {
    PathBuf::from(std::env::var_os("TAPE").expect(
        "$TAPE must name a non-rewinding st node (tape-sys/tests/vm/run.sh sets it up in a VM)",
    ))
}

#[test]
#[ignore = "needs $TAPE"]
fn st_conformance() {
    let path = tape();
    assert_eq!(
        NodeKind::of(&path).unwrap(),
        NodeKind::NonRewinding,
        "$TAPE must be a non-rewinding st node"
    );
    let mut b = Real::new(path, true);
    let filter = std::env::var("CONFORMANCE_FILTER").ok();
    let (ran, failed) = conformance::run_all(&mut b, filter.as_deref());
    println!(
        "st conformance: {} passed, {} failed",
        ran - failed.len(),
        failed.len()
    );
    assert!(failed.is_empty(), "failed: {failed:?}");
}

/// The suite again as an ordinary user would run it: st has no ioctl for
/// the block limits and SG_IO needs CAP_SYS_RAWIO, so reads must work
/// without knowing them. (The medium fills are skipped: they do not read
/// the limits, and they take most of the time.)
#[test]
#[ignore = "needs $TAPE"]
#[allow(clippy::unnecessary_map_or)] // Option::is_none_or is newer than the MSRV
fn st_conformance_without_block_limits() {
    let path = tape();
    let mut b = Real::new(path, false);
    let filter = std::env::var("CONFORMANCE_FILTER").ok();
    let (ran, failed) = conformance::run_matching(&mut b, |name| {
        !name.starts_with("end_of_medium") && filter.as_deref().map_or(true, |f| name.contains(f))
    });
    println!(
        "st conformance without block limits: {} passed, {} failed",
        ran - failed.len(),
        failed.len()
    );
    assert!(failed.is_empty(), "failed: {failed:?}");
}

/// Opening the rewinding sibling for multi-file work warns; opening it for
/// one file does not.
#[test]
#[ignore = "needs $TAPE"]
fn st_rewinding_node_warns() {
    let path = tape();
    let name = path.file_name().unwrap().to_str().unwrap();
    let Some(rewinding) = name.strip_prefix('n').map(|n| path.with_file_name(n)) else {
        return;
    };
    if !rewinding.exists() {
        eprintln!("no {}; skipping", rewinding.display());
        return;
    }
    let dev = St::open(&rewinding).unwrap();
    assert_eq!(dev.node_kind(), NodeKind::Rewinding);
    assert!(matches!(
        dev.warnings(),
        [StWarning::RewindingNode { use_instead: Some(p), .. }] if *p == path
    ));
    drop(dev);
    let dev = St::open_with(
        &rewinding,
        StOptions {
            multi_file: false,
            ..StOptions::default()
        },
    )
    .unwrap();
    assert!(dev.warnings().is_empty());
}
