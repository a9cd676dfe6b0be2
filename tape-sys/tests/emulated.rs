//! The conformance suite on `EmulatedTape`: in memory and file-backed, with
//! scsi_debug's block limits and with the defaults, with both ways of
//! signalling early warning.

mod conformance;

use std::path::PathBuf;

use conformance::Backend;
use tape_sys::{EarlyWarningSignal, EmulatedOptions, EmulatedTape, TapeDevice};

enum Store {
    Memory,
    File(PathBuf),
}

struct Emulated {
    store: Store,
    opts: EmulatedOptions,
    min_block: usize,
    tape: Option<EmulatedTape>,
    _dir: Option<tempfile::TempDir>,
}

impl Emulated {
    fn new(file: bool, opts: EmulatedOptions, min_block: usize) -> Self {
        let (store, dir, tape) = if file {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("tape.tap");
            let tape = EmulatedTape::create(&path, opts.clone()).unwrap();
            (Store::File(path), Some(dir), tape)
        } else {
            (Store::Memory, None, EmulatedTape::in_memory(opts.clone()))
        };
        Emulated {
            store,
            opts,
            min_block,
            tape: Some(tape),
            _dir: dir,
        }
    }
}

impl Backend for Emulated {
    fn dev(&mut self) -> &mut dyn TapeDevice {
        self.tape.as_mut().unwrap()
    }

    fn reopen(&mut self, write_protected: bool) {
        let tape = self.tape.take().unwrap();
        let opts = self.opts.clone().write_protected(write_protected);
        self.tape = Some(match &self.store {
            Store::Memory => EmulatedTape::from_image(tape.into_image().unwrap(), opts).unwrap(),
            Store::File(path) => {
                tape.close().unwrap();
                EmulatedTape::open(path, opts).unwrap()
            }
        });
    }

    fn reopen_keeps_position(&self) -> bool {
        false
    }

    fn min_block(&self) -> usize {
        self.min_block
    }

    fn full_content(&self) -> bool {
        true
    }

    fn eom_report(&self) -> String {
        format!("{:?}", self.tape.as_ref().unwrap().stats().eom)
    }

    fn fill_limit(&self) -> usize {
        100_000
    }
}

fn run(mut b: Emulated) {
    let filter = std::env::var("CONFORMANCE_FILTER").ok();
    let (ran, failed) = conformance::run_all(&mut b, filter.as_deref());
    assert!(ran > 0, "no case matched the filter");
    assert!(failed.is_empty(), "failed: {failed:?}");
}

/// Like scsi_debug: 512-byte minimum, 1 MiB maximum, ENOSPC on the block
/// that enters the early-warning zone.
fn scsi_debug_like() -> EmulatedOptions {
    EmulatedOptions::new()
        .capacity(600 * 1024)
        .early_warning(20 * 1024)
        .block_limits(512, 1 << 20)
        .early_warning_signal(EarlyWarningSignal::Enospc)
}

#[test]
fn memory_scsi_debug_like() {
    run(Emulated::new(false, scsi_debug_like(), 512));
}

#[test]
fn file_scsi_debug_like() {
    run(Emulated::new(true, scsi_debug_like(), 512));
}

#[test]
fn memory_defaults_status_signal() {
    let opts = EmulatedOptions::new()
        .capacity(400 * 1024)
        .early_warning_signal(EarlyWarningSignal::Status);
    run(Emulated::new(false, opts, 1));
}

#[test]
fn file_defaults_status_signal() {
    let opts = EmulatedOptions::new()
        .capacity(300 * 1024)
        .early_warning(5000)
        .early_warning_signal(EarlyWarningSignal::Status);
    run(Emulated::new(true, opts, 1));
}
