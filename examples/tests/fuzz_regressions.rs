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

/// dump_commands, artifact `ls-hostile-family-count` (4,096 bytes, a CI timeout): the media
/// header claims 62,721 families. Every missing family was a problem line of its own, and
/// `mtfdump ls` merged the media set's problems into each set's with a linear search: about
/// 4·10⁹ string comparisons, minutes for one 4 KiB file. Missing families are now named as
/// runs, and the merge is hashed.
#[test]
fn ls_names_missing_families_as_runs_and_stays_fast() {
    use mtf_examples::dump::ls;
    let bytes: &[u8] =
        include_bytes!("../../fuzz/regressions/dump_commands/ls-hostile-family-count");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("medium.bkf");
    std::fs::write(&path, bytes).unwrap();
    let opts = Options {
        json: false,
        strict: false,
        progress: false,
    };
    let started = std::time::Instant::now();
    let mut out = Vec::new();
    let outcome = ls::run(std::slice::from_ref(&path), None, &opts, &mut out).unwrap();
    assert_ne!(
        outcome.exit_code(),
        0,
        "a set missing families is not whole"
    );
    let text = String::from_utf8(out).unwrap();
    let missing: Vec<&str> = text.lines().filter(|l| l.contains("missing")).collect();
    assert_eq!(missing.len(), 1, "{text}");
    assert!(missing[0].contains("families 2 to "), "{text}");
    // Generous for a debug build on a loaded machine; it took minutes before.
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

/// `ls-tap-image-with-hundreds-of-sets` (65,344 bytes, made to show a slow path the fuzzer had
/// not reached yet): a SIMH image of 284 sets, each an SSET and an empty SPAD in a 192-byte
/// record. A tape image cannot seek, and `mtfdump ls` (and `extract`, for the parts of one set)
/// read it from its start for every set: 284 passes over the image, 53,580 reads, work that
/// grows with the square of the image's size. One walker now reads a medium's sets in their
/// order in one pass.
#[test]
fn ls_reads_a_tape_image_once_however_many_sets_it_holds() {
    use mtf_examples::dump::{list_media, ls, SetWalker};
    let bytes: &[u8] =
        include_bytes!("../../fuzz/regressions/dump_commands/ls-tap-image-with-hundreds-of-sets");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("medium.tap");
    std::fs::write(&path, bytes).unwrap();
    for strict in [false, true] {
        let opts = Options {
            json: false,
            strict,
            progress: false,
        };
        let started = std::time::Instant::now();
        let mut out = Vec::new();
        let outcome = ls::run(std::slice::from_ref(&path), None, &opts, &mut out).unwrap();
        assert_ne!(outcome.exit_code(), 0, "no set closes with an ESET");
        let text = String::from_utf8(out).unwrap();
        let sets: Vec<&str> = text.lines().filter(|l| l.starts_with("set ")).collect();
        assert_eq!(sets.len(), 284, "strict {strict}: {text}");
        assert_eq!(sets[283], "set 284 \"Full backup\"");
        let unclosed = text
            .lines()
            .filter(|l| l.ends_with("the set's last part (medium 1) does not close with an ESET"))
            .count();
        assert_eq!(unclosed, 284, "strict {strict}: {text}");
        // Generous for a debug build on a loaded machine.
        assert!(started.elapsed() < std::time::Duration::from_secs(10));

        // Walking every set in order opens the image once (it was once per set).
        let media = list_media(std::slice::from_ref(&path), &opts).unwrap();
        let m = &media[0];
        assert_eq!(m.listing.sets.len(), 284);
        let mut walker = SetWalker::default();
        let mut ssets = 0;
        for set in &m.listing.sets {
            walker
                .walk(&m.path, &m.listing, set, &opts, |_, ev| {
                    if let mtf::reader::Event::Block { offset, dblk } = &ev {
                        assert_eq!(*offset, set.offset());
                        assert_eq!(dblk.block_type(), mtf::BlockType::SSET);
                        ssets += 1;
                    }
                    Ok(true)
                })
                .unwrap();
        }
        assert_eq!(ssets, 284);
        assert_eq!(walker.opened(), 1);
        // Back to an earlier set: the image is opened again, and the set is found.
        let mut found = false;
        walker
            .walk(&m.path, &m.listing, &m.listing.sets[3], &opts, |_, ev| {
                found |= matches!(ev, mtf::reader::Event::Block { offset, .. } if offset == m.listing.sets[3].offset());
                Ok(true)
            })
            .unwrap();
        assert!(found);
        assert_eq!(walker.opened(), 2);
    }
}

/// dump_commands, artifact `sets-two-parts-on-medium-65535` (16,948 bytes, a crash): the TAPE
/// block says medium 65,535, and the medium holds two SSETs of the same data set. Checking that
/// a set's parts lie on consecutive media added 1 to 65,535 in u16: a panic with overflow
/// checks (every build the tests and the fuzzer make).
#[test]
fn sets_survive_two_parts_on_the_last_medium_number() {
    use mtf_examples::dump::sets;
    let bytes: &[u8] =
        include_bytes!("../../fuzz/regressions/dump_commands/sets-two-parts-on-medium-65535");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("medium.bkf");
    std::fs::write(&path, bytes).unwrap();
    for json in [false, true] {
        let opts = Options {
            json,
            strict: false,
            progress: false,
        };
        let mut out = Vec::new();
        let outcome = sets::run(std::slice::from_ref(&path), &opts, &mut out).unwrap();
        assert_ne!(
            outcome.exit_code(),
            0,
            "json {json}: media 1 to 65534 are missing"
        );
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("family 1: the set goes on from medium 65535 to medium 65535"),
            "json {json}: {text}"
        );
        assert!(
            text.contains("family 1: media 1 to 65534 missing"),
            "json {json}: {text}"
        );
    }
}
