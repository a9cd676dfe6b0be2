//! mtfpack's tape path end to end: a tree packed onto an emulated tape (hardware filemarks,
//! one physical block per record) reads back through tape-sys record by record, and each
//! filemark-delimited section walks as the MTF layout says; a tape that fills continues on a
//! second one.

use mtf::block::Body;
use mtf::spec::{BlockType, StreamId};
use mtf::walk::{Event, Mode, Walker};
use mtf::writer::{MediaSupplier, MediumOptions, Writer};
use mtf_examples::pack::{pack_tree, parse_date, set_options};
use mtf_examples::tape::TapeSink;
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
    let mut w = Writer::new(TapeSink { device: dev }, opts).unwrap();
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
            Ok(TapeSink {
                device: EmulatedTape::in_memory(
                    EmulatedOptions::new()
                        .capacity(150 * 1024)
                        .early_warning(40 * 1024),
                ),
            })
        }
        fn medium_done(&mut self, _seq: u16, sink: TapeSink<EmulatedTape>) -> std::io::Result<()> {
            self.0.push(sink.device);
            Ok(())
        }
    }
    let first = TapeSink {
        device: EmulatedTape::in_memory(
            EmulatedOptions::new()
                .capacity(150 * 1024)
                .early_warning(40 * 1024),
        ),
    };
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
}
