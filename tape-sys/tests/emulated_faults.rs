//! The emulated tape's own features: the `.tap` image on disk, fault
//! injection, and hostile images.

use tape_sys::tap_format::{self, TapEntry, TapError};
use tape_sys::{
    EmulatedOptions, EmulatedTape, Faults, ReadResult, TapeDevice, TapeError, WriteResult,
};

fn read_all(tape: &mut EmulatedTape) -> Vec<Result<ReadResult, String>> {
    let mut buf = vec![0u8; 1 << 16];
    let mut out = Vec::new();
    loop {
        let r = tape.read_block(&mut buf).map_err(|e| e.to_string());
        let done = matches!(r, Ok(ReadResult::EndOfData));
        out.push(r);
        if done || out.len() > 10_000 {
            return out;
        }
    }
}

#[test]
fn image_is_standard_simh() {
    let mut tape = EmulatedTape::in_memory(EmulatedOptions::new());
    tape.write_block(b"odd").unwrap();
    tape.write_block(b"even").unwrap();
    tape.write_filemarks(2).unwrap();
    let img = tape.into_image().unwrap();
    let mut want = Vec::new();
    want.extend_from_slice(&3u32.to_le_bytes());
    want.extend_from_slice(b"odd\0");
    want.extend_from_slice(&3u32.to_le_bytes());
    want.extend_from_slice(&4u32.to_le_bytes());
    want.extend_from_slice(b"even");
    want.extend_from_slice(&4u32.to_le_bytes());
    want.extend_from_slice(&[0; 8]);
    assert_eq!(img, want);
}

#[test]
fn dropping_after_a_write_writes_a_filemark() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.tap");
    {
        let mut tape = EmulatedTape::create(&path, EmulatedOptions::new()).unwrap();
        tape.write_block(&[1; 100]).unwrap();
    }
    let img = std::fs::read(&path).unwrap();
    assert_eq!(img.len(), 108 + 4);
    assert_eq!(&img[108..], &[0, 0, 0, 0]);
    let mut tape = EmulatedTape::open(&path, EmulatedOptions::new()).unwrap();
    let got = read_all(&mut tape);
    assert_eq!(
        got,
        vec![
            Ok(ReadResult::Data(100)),
            Ok(ReadResult::Filemark),
            Ok(ReadResult::EndOfData)
        ]
    );
}

#[test]
fn an_end_of_medium_marker_ends_the_data_and_is_cut_on_write() {
    let mut img = tap_format::encode_record(&[5; 10]).unwrap();
    img.extend_from_slice(&tap_format::END_OF_MEDIUM.to_le_bytes());
    img.extend_from_slice(b"garbage after the end");
    let mut tape = EmulatedTape::from_image(img, EmulatedOptions::new()).unwrap();
    assert_eq!(tape.objects(), 1);
    tape.end_of_data().unwrap();
    tape.write_block(&[6; 2]).unwrap();
    let img = tape.into_image().unwrap();
    let entries: Vec<_> = tap_format::parse(&img).collect::<Result<_, _>>().unwrap();
    assert_eq!(entries.len(), 3, "{entries:?}");
    assert!(
        matches!(entries[2], TapEntry::TapeMark { .. }),
        "close wrote a filemark"
    );
}

#[test]
fn failed_write_after_n_bytes() {
    let faults = Faults::none().fail_write_after_bytes(250);
    let mut tape = EmulatedTape::in_memory(EmulatedOptions::new().faults(faults));
    tape.write_block(&[1; 100]).unwrap();
    tape.write_block(&[2; 100]).unwrap();
    let e = tape.write_block(&[3; 100]).unwrap_err();
    assert_eq!(e.errno(), nix::errno::Errno::EIO, "{e}");
    assert_eq!(tape.objects(), 2, "the failed block is not on the medium");
    assert_eq!(
        tape.faults_mut().fail_write_after_bytes,
        None,
        "the fault cleared"
    );
    tape.write_block(&[4; 100]).unwrap();
    tape.write_filemarks(1).unwrap();
    tape.rewind().unwrap();
    let mut buf = [0u8; 200];
    for want in [1u8, 2, 4] {
        assert_eq!(tape.read_block(&mut buf).unwrap(), ReadResult::Data(100));
        assert_eq!(buf[0], want);
    }
}

#[test]
fn power_cut_truncates_mid_record_and_recovery_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.tap");
    // Two 100-byte records take 216 bytes; cut 50 bytes into the third.
    let faults = Faults::none().power_cut_at_image_bytes(216 + 4 + 50);
    let mut tape = EmulatedTape::create(&path, EmulatedOptions::new().faults(faults)).unwrap();
    tape.write_block(&[1; 100]).unwrap();
    tape.write_block(&[2; 100]).unwrap();
    assert!(matches!(
        tape.write_block(&[3; 100]),
        Err(TapeError::PowerLost)
    ));
    assert!(matches!(tape.rewind(), Err(TapeError::PowerLost)));
    assert!(matches!(tape.status(), Ok(s) if !s.online));
    drop(tape);
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        270,
        "image ends mid-record"
    );

    match EmulatedTape::open(&path, EmulatedOptions::new()) {
        Err(TapeError::Image(TapError::Truncated { offset: 216, .. })) => {}
        r => panic!("strict open of a cut image: {r:?}"),
    }
    let mut tape =
        EmulatedTape::open(&path, EmulatedOptions::new().recover_truncated(true)).unwrap();
    assert_eq!(tape.objects(), 2);
    assert_eq!(
        read_all(&mut tape),
        vec![
            Ok(ReadResult::Data(100)),
            Ok(ReadResult::Data(100)),
            Ok(ReadResult::EndOfData)
        ]
    );
    // Appending cuts the damaged tail off; the image is whole again.
    tape.write_block(&[9; 10]).unwrap();
    tape.close().unwrap();
    let mut tape = EmulatedTape::open(&path, EmulatedOptions::new()).unwrap();
    assert_eq!(tape.objects(), 4);
    assert_eq!(read_all(&mut tape).len(), 5);
}

#[test]
fn read_errors_at_a_position_and_bad_records() {
    let faults = Faults::none().read_error_at(1);
    let mut tape = EmulatedTape::in_memory(EmulatedOptions::new().faults(faults));
    for i in 0..3u8 {
        tape.write_block(&[i; 10]).unwrap();
    }
    tape.rewind().unwrap();
    let mut buf = [0u8; 64];
    assert_eq!(tape.read_block(&mut buf).unwrap(), ReadResult::Data(10));
    match tape.read_block(&mut buf) {
        Err(TapeError::MediumError { position: Some(1) }) => {}
        r => panic!("{r:?}"),
    }
    assert_eq!(tape.tell().unwrap(), 2, "moved past the bad block");
    assert_eq!(tape.read_block(&mut buf).unwrap(), ReadResult::Data(10));
    assert_eq!(buf[0], 2);

    // SIMH's error class on a record in the image reads as a medium error.
    let mut img = (tap_format::BAD_RECORD_CLASS | 4).to_le_bytes().to_vec();
    img.extend_from_slice(b"oops");
    img.extend_from_slice(&(tap_format::BAD_RECORD_CLASS | 4).to_le_bytes());
    let mut tape = EmulatedTape::from_image(img, EmulatedOptions::new()).unwrap();
    assert!(matches!(
        tape.read_block(&mut buf),
        Err(TapeError::MediumError { position: Some(0) })
    ));
}

#[test]
fn write_protection_and_read_only_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wp.tap");
    let mut tape = EmulatedTape::create(&path, EmulatedOptions::new()).unwrap();
    tape.write_block(&[1; 10]).unwrap();
    tape.set_write_protected(true);
    assert!(matches!(
        tape.write_block(&[2; 10]),
        Err(TapeError::WriteProtected { .. })
    ));
    assert!(tape.status().unwrap().write_protected);
    tape.set_write_protected(false);
    tape.close().unwrap();
    let tape = EmulatedTape::open(&path, EmulatedOptions::new().write_protected(true)).unwrap();
    assert_eq!(tape.objects(), 2);
}

#[test]
fn early_warning_zone_and_capacity() {
    let opts = EmulatedOptions::new().capacity(1000).early_warning(200);
    let mut tape = EmulatedTape::in_memory(opts);
    let mut results = Vec::new();
    loop {
        match tape.write_block(&[0; 92]) {
            Ok(r) => results.push(r),
            Err(TapeError::EndOfMedium) => break,
            Err(e) => panic!("{e}"),
        }
    }
    // 100 bytes a block: blocks 1-8 end at or before 800; the 9th enters
    // the zone; the 10th is the last that fits.
    assert_eq!(results.len(), 10);
    assert!(results[..8].iter().all(|r| *r == WriteResult::Written));
    assert!(results[8..].iter().all(|r| *r == WriteResult::EarlyWarning));
    assert_eq!(tape.used_bytes(), 1000);
    assert!(matches!(
        tape.write_filemarks(1),
        Err(TapeError::EndOfMedium)
    ));
}

/// SplitMix64 for generating hostile inputs.
fn rng(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[test]
fn hostile_images_give_typed_errors() {
    // A claim of 16 MiB backed by nothing must not allocate or read it.
    let claim = tap_format::MAX_RECORD_LEN.to_le_bytes();
    assert!(matches!(
        EmulatedTape::from_image(claim.to_vec(), EmulatedOptions::new()),
        Err(TapeError::Image(TapError::Truncated { .. }))
    ));

    let mut valid = Vec::new();
    for (i, len) in [1usize, 2, 3, 600, 7].into_iter().enumerate() {
        valid.extend(tap_format::encode_record(&vec![i as u8; len]).unwrap());
        valid.extend_from_slice(&tap_format::TAPE_MARK.to_le_bytes());
    }
    let mut state = 0x5EED;
    let mut opened = 0;
    for i in 0..20_000 {
        let bytes: Vec<u8> = if i % 2 == 0 {
            // Random bytes, biased towards small length words.
            let n = (rng(&mut state) % 64) as usize;
            (0..n)
                .map(|k| {
                    if k % 4 == 0 {
                        (rng(&mut state) % 8) as u8
                    } else {
                        rng(&mut state) as u8
                    }
                })
                .collect()
        } else {
            // A valid image with a few bytes flipped and maybe cut short.
            let mut v = valid.clone();
            for _ in 0..(rng(&mut state) % 4 + 1) {
                let at = (rng(&mut state) % v.len() as u64) as usize;
                v[at] = rng(&mut state) as u8;
            }
            let keep = (rng(&mut state) % (v.len() as u64 + 1)) as usize;
            v.truncate(keep);
            v
        };
        for e in tap_format::parse(&bytes) {
            if e.is_err() {
                break;
            }
        }
        for recover in [false, true] {
            let opts = EmulatedOptions::new().recover_truncated(recover);
            match EmulatedTape::from_image(bytes.clone(), opts) {
                Ok(mut tape) => {
                    opened += 1;
                    let n = tape.objects();
                    let got = read_all(&mut tape);
                    assert!(got.len() <= n + 1, "reading stops at end of data");
                }
                Err(TapeError::Image(_)) => assert!(!recover, "recovery opens anything"),
                Err(e) => panic!("untyped failure: {e:?}"),
            }
        }
    }
    assert!(opened > 10_000);
}

#[test]
fn devices_can_move_to_other_threads() {
    fn send<T: Send>() {}
    send::<EmulatedTape>();
    send::<tape_sys::St>();
}

#[test]
fn zero_filemarks_only_flush() {
    let mut tape = EmulatedTape::in_memory(EmulatedOptions::new());
    tape.write_block(&[1; 10]).unwrap();
    tape.write_block(&[2; 10]).unwrap();
    tape.rewind().unwrap();
    assert_eq!(tape.objects(), 3, "rewind after a write added a filemark");
    tape.write_filemarks(0).unwrap();
    assert_eq!(
        tape.objects(),
        3,
        "weof 0 at BOT does not make it end of data"
    );
    tape.write_block(&[3; 10]).unwrap();
    tape.write_filemarks(0).unwrap();
    tape.rewind().unwrap();
    assert_eq!(
        tape.objects(),
        1,
        "weof 0 ends the writing state: no implicit filemark"
    );
}

/// A file-backed image holds each record as the standard format lays it out (length word,
/// data, a pad byte after odd lengths, length word again), filemarks as a zero word: the
/// frame and the data go to the file in one vectored write, and must land byte for byte.
#[test]
fn a_file_image_holds_records_byte_for_byte_in_the_standard_layout() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("layout.tap");
    let mut tape = EmulatedTape::create(&path, EmulatedOptions::new()).unwrap();
    let mut expected = Vec::new();
    for (i, len) in [1usize, 2, 3, 8192, 65_535, 65_536].into_iter().enumerate() {
        let data: Vec<u8> = (0..len).map(|k| (k * 7 + i) as u8).collect();
        tape.write_block(&data).unwrap();
        expected.extend_from_slice(&(len as u32).to_le_bytes());
        expected.extend_from_slice(&data);
        if len % 2 == 1 {
            expected.push(0);
        }
        expected.extend_from_slice(&(len as u32).to_le_bytes());
    }
    tape.write_filemarks(1).unwrap();
    expected.extend_from_slice(&[0; 4]);
    drop(tape);
    let image = std::fs::read(&path).unwrap();
    assert_eq!(image.len(), expected.len());
    assert!(
        image == expected,
        "the image differs from the standard layout"
    );
}
