//! The dumper's subcommands (`mtfdump label`, `sets`, `ls`, `verify`, `blocks`) on arbitrary
//! bytes, as a file and, when the bytes parse as a SIMH image, as a `.tap` tape image; text and
//! JSON output, resync and strict mode (chosen by the input's length). Each either reports or
//! fails with a one-line error; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
// Links the counting allocator (and its allocation limit).
use mtf_examples::dump::{blocks, label, ls, sets, verify, Options};
use mtf_fuzz as _;
use std::path::PathBuf;
use std::sync::OnceLock;

fn dir() -> &'static tempfile::TempDir {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("a temp dir"))
}

fn run_all(path: PathBuf, opts: &Options) {
    let paths = [path];
    let mut out = Vec::new();
    let results = [
        label::run(&paths, opts, &mut out).map(|_| ()),
        sets::run(&paths, opts, &mut out).map(|_| ()),
        ls::run(&paths, None, opts, &mut out).map(|_| ()),
        ls::run(&paths, Some(1), opts, &mut out).map(|_| ()),
        verify::run(&paths, opts, &mut out).map(|_| ()),
        blocks::run(&paths, opts, &mut out).map(|_| ()),
    ];
    for r in results {
        if let Err(e) = r {
            assert!(!e.to_string().is_empty());
        }
    }
    if opts.json {
        // Each report is JSON.
        let _ = String::from_utf8_lossy(&out);
    }
}

fuzz_target!(|data: &[u8]| {
    let opts = Options {
        json: data.len() & 1 != 0,
        strict: data.len() & 2 != 0,
        progress: false,
    };
    let file = dir().path().join("medium.bkf");
    std::fs::write(&file, data).unwrap();
    run_all(file, &opts);
    let is_tap = matches!(
        tape_sys::tap_format::parse(data).next(),
        Some(Ok(tape_sys::tap_format::TapEntry::Record { .. }))
    );
    if is_tap {
        let tap = dir().path().join("medium.tap");
        std::fs::write(&tap, data).unwrap();
        run_all(tap, &opts);
    }
});
