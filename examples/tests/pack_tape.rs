//! mtfpack's tape path end to end: a tree packed onto an emulated tape (hardware filemarks,
//! one physical block per record) reads back through tape-sys record by record, and each
//! filemark-delimited section walks as the MTF layout says; a tape that fills continues on a
//! second one.

use media::device::TapeSink;
use mtf::block::Body;
use mtf::spec::{BlockType, StreamId};
use mtf::walk::{Event, Mode, Walker};
use mtf::writer::{MediaSupplier, MediumOptions, Writer};
use mtf_examples::pack::{pack_tree, parse_date, set_options};
use tape_sys::{EmulatedOptions, EmulatedTape, ReadResult, TapeDevice};

fn tree() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("a/b")).unwrap();
    std::fs::write(d.path().join("a/one.txt"), b"one").unwrap();
    std::fs::write(
        d.path().join("a/b/big.bin"),
        (0..200_000u32).map(|i| i as u8).collect::<Vec<_>>(),
    )
    .unwrap();
    std::fs::write(d.path().join("top.txt"), b"").unwrap();
    d
}

/// Reads a whole tape: the sections between filemarks, and each record's size.
fn sections(tape: &mut EmulatedTape, block: usize) -> Vec<Vec<u8>> {
    tape.rewind().unwrap();
    let mut out = vec![Vec::new()];
    let mut buf = vec![0u8; block * 2];
    loop {
        match tape.read_block(&mut buf).unwrap() {
            ReadResult::Data(n) => {
                assert_eq!(n, block, "every record is one physical block");
                out.last_mut().unwrap().extend_from_slice(&buf[..n]);
            }
            ReadResult::Filemark => out.push(Vec::new()),
            ReadResult::EndOfData => break,
        }
    }
    if out.last().is_some_and(|s| s.is_empty()) {
        out.pop();
    }
    out
}

fn files_in(section: &[u8]) -> Vec<(String, u64)> {
    let mut v = Vec::new();
    let mut name = String::new();
    let mut len = 0;
    for ev in Walker::with_mode(section, Mode::Strict) {
        match ev.unwrap() {
            Event::Block { dblk, .. } => {
                if let Body::File(f) = &dblk.body {
                    name = f.file_name.display(dblk.header.string_type);
                }
            }
            Event::Stream { header, .. } if header.id == StreamId::STAN => {
                len = header.length;
                v.push((name.clone(), len));
            }
            _ => {}
        }
    }
    let _ = len;
    v
}

#[test]
fn a_tree_packed_to_an_emulated_tape_reads_back_by_filemarks() {
    let src = tree();
    let date = parse_date("2026-01-02T03:04:05").unwrap();
    let mut opts = MediumOptions::new("tape", 42, date);
    opts.block_size = Some(16 * 1024);
    let dev = EmulatedTape::in_memory(EmulatedOptions::default());
    let mut w = Writer::new(TapeSink::new(dev), opts).unwrap();
    w.begin_set(set_options("s", "", date, true)).unwrap();
    let stats = pack_tree(&mut w, src.path(), "host", date, &mut std::io::sink()).unwrap();
    assert_eq!(
        (stats.directories, stats.files, stats.bytes),
        (3, 3, 200_003)
    );
    w.end_set().unwrap();
    let mut tape = w.finish().unwrap().device;
    let secs = sections(&mut tape, 16 * 1024);
    // TAPE | FM | set data | FM | ESET + catalog | FM
    assert_eq!(secs.len(), 3);
    let first_block = |s: &[u8]| -> BlockType {
        match Walker::with_mode(s, Mode::Strict).next().unwrap().unwrap() {
            Event::Block { dblk, .. } => dblk.block_type(),
            e => panic!("{e:?}"),
        }
    };
    // The TAPE section parses alone only after its TAPE block; walk it for the header.
    assert_eq!(first_block(&secs[0]), BlockType::TAPE);
    assert_eq!(&secs[1][..4], b"SSET");
    assert_eq!(&secs[2][..4], b"ESET");
    let mut with_tape = secs[0].clone();
    with_tape.extend_from_slice(&secs[1]);
    let mut files = files_in(&with_tape);
    files.sort();
    assert_eq!(
        files,
        vec![
            ("big.bin".into(), 200_000),
            ("one.txt".into(), 3),
            ("top.txt".into(), 0)
        ]
    );
}

#[test]
fn a_full_tape_continues_on_the_next_one() {
    let src = tree();
    let date = parse_date("2026-01-02T03:04:05").unwrap();
    let mut opts = MediumOptions::new("tape", 43, date);
    opts.block_size = Some(8 * 1024);
    struct Changer(Vec<EmulatedTape>);
    impl MediaSupplier<TapeSink<EmulatedTape>> for Changer {
        fn next_medium(&mut self, _seq: u16) -> std::io::Result<TapeSink<EmulatedTape>> {
            Ok(TapeSink::new(EmulatedTape::in_memory(
                EmulatedOptions::new()
                    .capacity(150 * 1024)
                    .early_warning(40 * 1024),
            )))
        }
        fn medium_done(&mut self, _seq: u16, sink: TapeSink<EmulatedTape>) -> std::io::Result<()> {
            self.0.push(sink.device);
            Ok(())
        }
    }
    let first = TapeSink::new(EmulatedTape::in_memory(
        EmulatedOptions::new()
            .capacity(150 * 1024)
            .early_warning(40 * 1024),
    ));
    let mut w = Writer::with_media(first, opts, Changer(Vec::new())).unwrap();
    w.begin_set(set_options("s", "", date, false)).unwrap();
    pack_tree(&mut w, src.path(), "host", date, &mut std::io::sink()).unwrap();
    w.end_set().unwrap();
    let (last, changer) = w.into_parts().unwrap();
    let mut tapes = changer.0;
    tapes.push(last.device);
    assert!(
        tapes.len() >= 2,
        "the tree needs more than one 150 KiB tape"
    );
    let n = tapes.len();
    for (i, t) in tapes.iter_mut().enumerate() {
        let secs = sections(t, 8 * 1024);
        let mut blocks = Vec::new();
        for s in &secs {
            for ev in Walker::new(&s[..]) {
                if let Ok(Event::Block { dblk, .. }) = ev {
                    blocks.push(dblk.block_type());
                    if let Body::Tape(tp) = &dblk.body {
                        assert_eq!(tp.media_sequence_number as usize, i + 1);
                    }
                }
            }
        }
        if i + 1 < n {
            // ... FM | EOTM | FM closes every full tape.
            assert_eq!(secs.last().map(|s| &s[..4]), Some(&b"EOTM"[..]), "tape {i}");
        }
        assert_eq!(blocks[0], BlockType::TAPE);
    }
    // The dumper, given the tapes as .tap images (last first), verifies the set as one and
    // restores the tree whole: the stream cut at each tape's end (a filemark inside the data)
    // goes on in the next tape's continued FILE.
    let tmp = tempfile::tempdir().unwrap();
    let mut images = Vec::new();
    for (i, t) in tapes.into_iter().enumerate().rev() {
        let p = tmp.path().join(format!("tape{}.tap", i + 1));
        std::fs::write(&p, t.into_image().unwrap()).unwrap();
        images.push(p);
    }
    let o = mtf_examples::dump::Options {
        json: false,
        strict: false,
        progress: false,
    };
    let mut out = Vec::new();
    let verdict = mtf_examples::dump::verify::run(&images, &o, &mut out).unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    assert_eq!(verdict, mtf_examples::dump::Outcome::Ok, "{text}");
    assert!(text.contains("cut by the end of the medium"), "{text}");
    let dir = tmp.path().join("out");
    std::fs::create_dir(&dir).unwrap();
    let mut out = Vec::new();
    let verdict = mtf_examples::dump::extract::run(&images, 1, &dir, &[], &o, &mut out).unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    assert_eq!(verdict, mtf_examples::dump::Outcome::Ok, "{text}");
    for rel in ["a/one.txt", "a/b/big.bin", "top.txt"] {
        let want = std::fs::read(src.path().join(rel)).unwrap();
        let got = walkdir::WalkDir::new(&dir)
            .into_iter()
            .filter_map(|e| e.ok())
            .find(|e| e.path().ends_with(rel))
            .unwrap_or_else(|| panic!("{rel} restored:\n{text}"));
        assert!(std::fs::read(got.path()).unwrap() == want, "{rel} differs");
    }
}

/// Runs the mtfpack binary; returns (success, stderr).
fn mtfpack(args: &[&std::ffi::OsStr]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mtfpack"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn sets_of(image: &std::path::Path) -> (mtf_examples::dump::Outcome, String) {
    let o = mtf_examples::dump::Options {
        json: false,
        strict: false,
        progress: false,
    };
    let mut out = Vec::new();
    let verdict = mtf_examples::dump::verify::run(&[image.to_path_buf()], &o, &mut out).unwrap();
    let mut text = String::from_utf8_lossy(&out).into_owned();
    out.clear();
    mtf_examples::dump::sets::run(&[image.to_path_buf()], &o, &mut out).unwrap();
    text.push_str(&String::from_utf8_lossy(&out));
    (verdict, text)
}

#[test]
fn mtfpack_appends_a_set_to_a_tape_image() {
    let t = tree();
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("t.tap");
    let (i, d) = (img.as_os_str(), t.path().as_os_str());
    let o = std::ffi::OsStr::new;
    let (ok, err) = mtfpack(&[
        d,
        o("-o"),
        i,
        o("--name"),
        o("first"),
        o("--block-size"),
        o("16384"),
    ]);
    assert!(ok, "{err}");
    let (ok, err) = mtfpack(&[d, o("-o"), i, o("--append"), o("--name"), o("second")]);
    assert!(ok, "{err}");
    let (verdict, text) = sets_of(&img);
    assert_eq!(verdict, mtf_examples::dump::Outcome::Ok, "{text}");
    assert!(
        text.contains("\"first\"") && text.contains("\"second\""),
        "{text}"
    );
    assert!(text.contains("data set number 2"), "{text}");
    // The layout after the append: TAPE | set 1 | ESET 1 | set 2 | ESET 2, one record per
    // 16 KiB block (the appended set kept the medium's block size).
    let mut tape = EmulatedTape::open(&img, EmulatedOptions::default()).unwrap();
    let secs = sections(&mut tape, 16384);
    let heads: Vec<&[u8]> = secs.iter().map(|s| &s[..4]).collect();
    assert_eq!(heads, [&b"TAPE"[..], b"SSET", b"ESET", b"SSET", b"ESET"]);
    // The appended set lists the same files.
    let o = mtf_examples::dump::Options {
        json: false,
        strict: false,
        progress: false,
    };
    let mut out = Vec::new();
    mtf_examples::dump::ls::run(std::slice::from_ref(&img), Some(2), &o, &mut out).unwrap();
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.contains("a/b/big.bin") && text.contains("200000"),
        "{text}"
    );
    assert!(
        text.contains("a/one.txt") && text.contains("top.txt"),
        "{text}"
    );
}

#[test]
fn mtfpack_refuses_to_append_where_a_set_is_unfinished() {
    let t = tree();
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("t.tap");
    let (i, d) = (img.as_os_str(), t.path().as_os_str());
    let o = std::ffi::OsStr::new;
    let (ok, err) = mtfpack(&[d, o("-o"), i, o("--block-size"), o("16384")]);
    assert!(ok, "{err}");
    // A copy of the tape that stops inside the set: its first two sections only.
    let mut tape = EmulatedTape::open(&img, EmulatedOptions::default()).unwrap();
    let secs = sections(&mut tape, 16384);
    let cut = tmp.path().join("cut.tap");
    let mut w = EmulatedTape::create(&cut, EmulatedOptions::default()).unwrap();
    for rec in secs[0].chunks(16384) {
        w.write_block(rec).unwrap();
    }
    w.write_filemarks(1).unwrap();
    for rec in secs[1].chunks(16384) {
        w.write_block(rec).unwrap();
    }
    drop(w);
    let before = std::fs::read(&cut).unwrap();
    let (ok, err) = mtfpack(&[d, o("-o"), cut.as_os_str(), o("--append")]);
    assert!(!ok, "appended to a tape that ends inside a set");
    assert!(err.contains("cannot append"), "{err}");
    assert_eq!(
        std::fs::read(&cut).unwrap(),
        before,
        "the refused tape is unchanged"
    );
}
