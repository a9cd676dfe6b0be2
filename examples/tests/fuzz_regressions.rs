//! Regression tests for what the fuzz targets (`fuzz/`) found in the dumper. Each keeps the
//! input that showed the bug; the file is in `fuzz/regressions/<target>/` too, and
//! `fuzz/run.sh` replays it.

use mtf_examples::dump::{verify, Options};

/// dump_commands, artifact `verify-stream-length-overflow` (22,589 bytes): a stream header
/// declares close to 2^64 bytes of data. `mtfdump verify` hands large streams to its checksum
/// workers with the declared length, and adding it to the stream's offset overflowed (a panic
/// with overflow checks; a wrapped, empty read range without them).
#[test]
fn verify_survives_a_stream_length_near_2_64() {
    let bytes: &[u8] =
        include_bytes!("../../fuzz/regressions/dump_commands/verify-stream-length-overflow");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("medium.bkf");
    std::fs::write(&path, bytes).unwrap();
    for (json, strict) in [(false, false), (true, false), (false, true)] {
        let opts = Options {
            json,
            strict,
            progress: false,
        };
        let mut out = Vec::new();
        // Never a panic, and never "intact": the stream's data is not there. The report (or, in
        // strict mode, the error) says the stream data was cut short.
        let text = match verify::run(std::slice::from_ref(&path), &opts, &mut out) {
            Ok(outcome) => {
                assert_ne!(outcome.exit_code(), 0, "json {json} strict {strict}");
                String::from_utf8(out).unwrap()
            }
            Err(e) => e.to_string(),
        };
        assert!(
            text.contains("stream data") || text.contains("truncated"),
            "json {json} strict {strict}: {text}"
        );
    }
}
