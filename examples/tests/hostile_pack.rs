//! mtfpack and friends never destroy what the user has: invalid options, a missing source or a
//! failing run leave an existing backup byte for byte; the output inside a source tree is left
//! out; names that would not restore are named and left out, never merged; files that cannot be
//! read or change while read are named, marked on the medium, and give exit status 1; the
//! other tools refuse to overwrite their input or create files for a query.

mod support;
use support::{run, tree};

use mtf::date::DateTime;
use mtf::writer::{FileSink, MediumOptions, Writer};
use mtf_examples::dump::{self, Options, Outcome};
use mtf_examples::pack::{pack_tree_with, set_options, Exclude};
use std::io::{self, BufWriter, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Command;

fn mtfpack() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mtfpack"))
}

fn verify(p: &Path) -> (Outcome, String) {
    let mut out = Vec::new();
    let o = dump::verify::run(&[p.to_path_buf()], &Options::default(), &mut out).unwrap();
    (o, String::from_utf8_lossy(&out).into_owned())
}

#[test]
fn invalid_options_and_missing_sources_leave_the_existing_backup_as_it_was() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tree(tmp.path());
    let out = tmp.path().join("backup.bkf");
    let (code, text) = run({
        let mut c = mtfpack();
        c.arg(&src).arg("-o").arg(&out);
        c
    });
    assert_eq!(code, 0, "{text}");
    let before = std::fs::read(&out).unwrap();
    let long = "n".repeat(70_000);
    let file_src = src.join("b.txt");
    let missing = tmp.path().join("nope");
    let cases: Vec<Vec<std::ffi::OsString>> = vec![
        vec!["--block-size".into(), "1000".into()],
        vec!["--block-size".into(), "999999999".into()],
        vec!["--flb".into(), "700".into()],
        vec!["--name".into(), long.into()],
        vec!["--date".into(), "20000-01-01T00:00:00".into()],
        vec!["--date".into(), "2024-02-30T00:00:00".into()],
    ];
    for extra in cases {
        let mut c = mtfpack();
        c.arg(&src).arg("-o").arg(&out).args(&extra);
        let (code, text) = run(c);
        assert_eq!(code, 2, "{extra:?}: {text}");
        assert!(
            std::fs::read(&out).unwrap() == before,
            "{extra:?} changed the backup"
        );
    }
    for bad_src in [&missing, &file_src] {
        let mut c = mtfpack();
        c.arg(bad_src).arg("-o").arg(&out);
        let (code, text) = run(c);
        assert_eq!(code, 2, "{text}");
        assert!(
            text.contains(&*bad_src.to_string_lossy()),
            "the source is named: {text}"
        );
        assert!(std::fs::read(&out).unwrap() == before);
    }
    // Appending with an invalid option changes nothing either.
    let mut c = mtfpack();
    c.arg(&src)
        .arg("-o")
        .arg(&out)
        .arg("--append")
        .arg("--name")
        .arg("n".repeat(70_000));
    let (code, text) = run(c);
    assert_eq!(code, 2, "{text}");
    assert!(std::fs::read(&out).unwrap() == before);
    // No temporary files left beside it.
    let names: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.contains("mtfpack-")), "{names:?}");
}

#[test]
fn the_output_inside_the_source_tree_is_left_out() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tree(tmp.path());
    let out = src.join("d/inside.bkf");
    for _ in 0..2 {
        // The second run finds the first run's output in the tree.
        let mut c = mtfpack();
        c.arg(&src).arg("-o").arg(&out);
        let (code, text) = run(c);
        assert_eq!(code, 0, "{text}");
    }
    let mut ls = Vec::new();
    dump::ls::run(
        std::slice::from_ref(&out),
        None,
        &Options::default(),
        &mut ls,
    )
    .unwrap();
    let ls = String::from_utf8_lossy(&ls);
    assert!(ls.contains("a.txt") && !ls.contains("inside.bkf"), "{ls}");
    assert!(!ls.contains(".mtfpack-"), "{ls}");
}

#[test]
fn names_that_would_not_restore_are_named_and_never_collide() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tree(tmp.path());
    // Two names that are not UTF-8 (they would both become "a\u{fffd}"), a drive letter and a
    // backslash.
    for raw in [&b"a\xff"[..], b"a\xfe", b"c:notes.txt", b"dir\\with"] {
        std::fs::write(src.join(std::ffi::OsStr::from_bytes(raw)), b"x").unwrap();
    }
    let out = tmp.path().join("o.bkf");
    let mut c = mtfpack();
    c.arg(&src).arg("-o").arg(&out);
    let (code, text) = run(c);
    assert_eq!(code, 1, "{text}");
    for shown in ["c:notes.txt", "dir\\with", "not valid UTF-8"] {
        assert!(text.contains(shown), "{shown} not named: {text}");
    }
    let (o, vtext) = verify(&out);
    assert_eq!(o, Outcome::Ok, "{vtext}");
    // What went in restores whole, with nothing refused.
    let dir = tmp.path().join("x");
    let mut t = Vec::new();
    let o = dump::extract::run(&[out], 1, &dir, &[], &Options::default(), &mut t).unwrap();
    assert_eq!(o, Outcome::Ok, "{}", String::from_utf8_lossy(&t));
}

/// Stands in for the file system: `broken` fails after 100 bytes, `shrinks` gives 10 of its
/// bytes, `grows` gives 50 more than its size; the rest read normally.
fn injected(p: &Path) -> io::Result<Box<dyn Read>> {
    struct Fails(usize);
    impl Read for Fails {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0 == 0 {
                return Err(io::Error::from_raw_os_error(5)); // EIO
            }
            let n = buf.len().min(self.0);
            buf[..n].fill(b'z');
            self.0 -= n;
            Ok(n)
        }
    }
    let name = p.file_name().unwrap().to_string_lossy().into_owned();
    let data = std::fs::read(p)?;
    Ok(match name.as_str() {
        "broken" => Box::new(Fails(100)),
        "shrinks" => Box::new(io::Cursor::new(data[..10].to_vec())),
        "grows" => Box::new(io::Cursor::new([data.clone(), vec![1; 50]].concat())),
        "unopenable" => return Err(io::Error::from_raw_os_error(13)), // EACCES
        _ => Box::new(io::Cursor::new(data)),
    })
}

#[test]
fn unreadable_and_changing_files_are_named_marked_and_the_backup_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tree(tmp.path());
    for n in ["broken", "shrinks", "grows", "unopenable"] {
        std::fs::write(src.join(n), vec![b'q'; 1000]).unwrap();
    }
    let date = DateTime::from_unix(1_700_000_000).unwrap();
    let out = tmp.path().join("o.bkf");
    let f = std::fs::File::create(&out).unwrap();
    let mut mo = MediumOptions::new("t", 1, date);
    mo.block_size = Some(4096);
    let mut w = Writer::new(FileSink::new(BufWriter::new(f)), mo).unwrap();
    w.begin_set(set_options("s", "", date, true)).unwrap();
    let mut log = Vec::new();
    let stats = pack_tree_with(
        &mut w,
        &src,
        "H",
        date,
        &mut log,
        &Exclude::default(),
        &mut injected,
    )
    .unwrap();
    w.end_set().unwrap();
    w.finish().unwrap().into_inner().into_inner().unwrap();
    let log = String::from_utf8_lossy(&log);
    assert!(!stats.is_whole());
    for n in ["broken", "shrinks", "grows", "unopenable"] {
        assert!(log.contains(&format!("/{n}")), "{n} not named: {log}");
    }
    assert_eq!(stats.not_whole.len(), 3, "{log}");
    assert_eq!(stats.skipped.len(), 1, "{log}");
    // The medium is whole and says which files are not: ls shows the CFILs, extract sets them
    // aside and fails, the others restore.
    let (o, vtext) = verify(&out);
    assert_eq!(o, Outcome::Ok, "{vtext}");
    let dir = tmp.path().join("x");
    let mut t = Vec::new();
    let o = dump::extract::run(&[out], 1, &dir, &[], &Options::default(), &mut t).unwrap();
    let t = String::from_utf8_lossy(&t);
    assert_eq!(o, Outcome::Problems, "{t}");
    for n in ["broken", "shrinks", "grows"] {
        assert!(
            t.lines()
                .any(|l| l.starts_with("NOT WHOLE: ") && l.contains(&format!("src/{n}: "))),
            "{n}: {t}"
        );
    }
    let b = walkdir::WalkDir::new(&dir)
        .into_iter()
        .map(|e| e.unwrap())
        .find(|e| e.file_name() == "b.txt")
        .unwrap();
    assert_eq!(std::fs::read(b.path()).unwrap(), b"bravo");
}

#[test]
fn a_failing_run_leaves_the_old_backup_and_no_temporary_file() {
    // A source directory that cannot be listed after the options were checked is not a
    // failure of the run; a full disk is. Simulate one with a tiny tmpfs when we may mount,
    // else with RLIMIT_FSIZE (a file-size limit makes writes fail with EFBIG).
    let tmp = tempfile::tempdir().unwrap();
    let src = tree(tmp.path());
    std::fs::write(src.join("big"), vec![7u8; 3 << 20]).unwrap();
    let out = tmp.path().join("backup.bkf");
    std::fs::write(&out, b"the previous backup").unwrap();
    let mut c = mtfpack();
    c.arg(&src).arg("-o").arg(&out);
    // 1 MiB file-size limit, applied to the child only.
    use std::os::unix::process::CommandExt;
    unsafe {
        c.pre_exec(|| {
            let lim = nix::libc::rlimit {
                rlim_cur: 1 << 20,
                rlim_max: 1 << 20,
            };
            nix::libc::signal(nix::libc::SIGXFSZ, nix::libc::SIG_IGN);
            if nix::libc::setrlimit(nix::libc::RLIMIT_FSIZE, &lim) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let (code, text) = run(c);
    assert_eq!(code, 2, "{text}");
    assert_eq!(std::fs::read(&out).unwrap(), b"the previous backup");
    assert!(text.contains("left as it was"), "{text}");
    assert!(
        text.contains(".tmp") || text.contains("backup.bkf"),
        "names the file: {text}"
    );
    let names: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.contains("mtfpack-")), "{names:?}");
}

#[test]
fn a_modification_time_mtf_cannot_hold_is_named() {
    // tmpfs keeps 64-bit times (/tmp may clamp them); skip where there is none.
    let Ok(tmp) = tempfile::Builder::new().tempdir_in("/dev/shm") else {
        return;
    };
    let src = tree(tmp.path());
    let far = std::time::UNIX_EPOCH + std::time::Duration::from_secs(600_000_000_000);
    let f = std::fs::File::options()
        .write(true)
        .open(src.join("b.txt"))
        .unwrap();
    f.set_modified(far).unwrap();
    if std::fs::metadata(src.join("b.txt"))
        .unwrap()
        .modified()
        .unwrap()
        != far
    {
        return; // the file system clamps it
    }
    let out = tmp.path().join("o.bkf");
    let mut c = mtfpack();
    c.arg(&src).arg("-o").arg(&out);
    let (code, text) = run(c);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("b.txt") && text.contains("outside what MTF can hold"),
        "{text}"
    );
}

// The media-set path (tapes and `.tap` images): the same promises.

/// Runs mtfpack on `src` with `args`; (exit code, output).
fn pack(src: &Path, args: &[&std::ffi::OsStr]) -> (i32, String) {
    run({
        let mut c = mtfpack();
        c.arg(src).args(args);
        c
    })
}

fn os<S: AsRef<std::ffi::OsStr> + ?Sized>(s: &S) -> &std::ffi::OsStr {
    s.as_ref()
}

/// Formats `out` with small media continued in the library `lib`.
fn library_args(out: &Path, lib: &Path) -> Vec<std::ffi::OsString> {
    let mut a: Vec<std::ffi::OsString> = vec!["-o".into(), out.into(), "--changer".into()];
    a.push(lib.into());
    for x in ["--capacity", "200000", "--block-size", "4096", "--format"] {
        a.push(x.into());
    }
    a
}

#[test]
fn a_media_set_names_an_entry_left_out_with_exit_status_1() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tree(tmp.path());
    std::fs::write(src.join(std::ffi::OsStr::from_bytes(b"bad\xff")), b"x").unwrap();
    let out = tmp.path().join("a.tap");
    let (code, text) = pack(&src, &[os("-o"), out.as_os_str(), os("--format")]);
    assert_eq!(code, 1, "an entry left out is not a whole backup: {text}");
    assert!(text.contains("NOT BACKED UP"), "{text}");
}

#[test]
fn a_media_set_leaves_out_its_own_media_inside_the_source_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tree(tmp.path());
    let lib = src.join("lib");
    let out = src.join("a.tap");
    let args = library_args(&out, &lib);
    let (code, text) = pack(
        &src,
        &args.iter().map(|s| s.as_os_str()).collect::<Vec<_>>(),
    );
    assert_eq!(code, 0, "{text}");
    let mut listing = Vec::new();
    let media: Vec<std::path::PathBuf> = std::iter::once(out.clone())
        .chain(std::fs::read_dir(&lib).unwrap().map(|e| e.unwrap().path()))
        .collect();
    let o = dump::ls::run(&media, None, &Options::default(), &mut listing).unwrap();
    let listing = String::from_utf8_lossy(&listing);
    assert_eq!(o, Outcome::Ok, "{listing}");
    assert!(listing.contains("b.txt"), "{listing}");
    assert!(
        !listing.contains("a.tap") && !listing.contains("-f1-m"),
        "the media being written went into the backup:\n{listing}"
    );
}

#[test]
fn the_same_device_twice_in_a_media_set_is_refused_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tree(tmp.path());
    let a = tmp.path().join("a.tap");
    let (code, text) = pack(&src, &[os("-o"), a.as_os_str(), os("--format")]);
    assert_eq!(code, 0, "{text}");
    let before = std::fs::read(&a).unwrap();
    std::os::unix::fs::symlink(&a, tmp.path().join("link.tap")).unwrap();
    let dot = tmp.path().join(".").join("a.tap");
    let link = tmp.path().join("link.tap");
    let new = tmp.path().join("new.tap");
    let cases: Vec<Vec<&std::ffi::OsStr>> = vec![
        vec![os("-o"), a.as_os_str(), os("-o"), a.as_os_str()],
        vec![os("-o"), a.as_os_str(), os("--mirror"), dot.as_os_str()],
        vec![os("-o"), a.as_os_str(), os("--mirror"), link.as_os_str()],
        vec![os("-o"), new.as_os_str(), os("-o"), new.as_os_str()],
        vec![os("-o"), new.as_os_str(), os("--mirror"), new.as_os_str()],
    ];
    for args in cases {
        let mut args = args.clone();
        args.push(os("--format"));
        let (code, text) = pack(&src, &args);
        assert_eq!(code, 2, "{args:?}: {text}");
        assert!(text.contains("given twice"), "{args:?}: {text}");
        assert!(std::fs::read(&a).unwrap() == before, "{args:?}");
        assert!(!new.exists(), "{args:?}");
    }
}

#[test]
fn a_changer_directory_never_overwrites_another_media_set_nor_follows_a_planted_link() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    for i in 0..6 {
        std::fs::write(src.join(format!("f{i}")), support::content(60_000, i)).unwrap();
    }
    let lib = tmp.path().join("lib");
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let args = |out: &Path| library_args(out, &lib);
    let first = tmp.path().join("first.tap");
    let a: Vec<std::ffi::OsString> = args(&first);
    let (code, text) = pack(&src, &a.iter().map(|s| s.as_os_str()).collect::<Vec<_>>());
    assert_eq!(code, 0, "{text}");
    let snapshot = |d: &Path| -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<_> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| !p.is_symlink())
            .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
            .collect();
        v.sort();
        v
    };
    let lib_before = snapshot(&lib);
    assert!(lib_before.len() >= 2, "the first backup used the library");
    // Links planted at the names the second run's continuation media may take: the free
    // base names and the numbered ones a library uses when a base name is taken.
    for seq in 2..12 {
        for name in [
            format!("mtfpack-f1-m{seq}.tap"),
            format!("mtfpack-f1-m{seq}.2.tap"),
        ] {
            if !lib.join(&name).exists() {
                let target = outside.join(&name);
                std::os::unix::fs::symlink(target, lib.join(name)).unwrap();
            }
        }
    }
    let second = tmp.path().join("second.tap");
    let b = args(&second);
    let (code, text) = pack(&src, &b.iter().map(|s| s.as_os_str()).collect::<Vec<_>>());
    assert_eq!(code, 0, "{text}");
    let lib_after = snapshot(&lib);
    for (name, bytes) in &lib_before {
        let now = lib_after.iter().find(|(n, _)| n == name).map(|x| &x.1);
        assert!(
            now == Some(bytes),
            "{name} of the first media set was overwritten"
        );
    }
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        0,
        "written through a planted link"
    );
    // Both media sets verify whole from their own media.
    let new_media: Vec<(String, Vec<u8>)> = lib_after
        .iter()
        .filter(|(n, _)| !lib_before.iter().any(|(b, _)| b == n))
        .cloned()
        .collect();
    for (first_medium, set_media) in [(&first, &lib_before), (&second, &new_media)] {
        let mut media = vec![first_medium.to_path_buf()];
        media.extend(set_media.iter().map(|(n, _)| std::path::PathBuf::from(n)));
        let mut out = Vec::new();
        let o = dump::verify::run(&media, &Options::default(), &mut out).unwrap();
        assert_eq!(o, Outcome::Ok, "{}", String::from_utf8_lossy(&out));
    }
}

#[test]
fn a_media_set_write_that_fails_names_the_medium() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tree(tmp.path());
    std::fs::write(src.join("big"), support::content(300_000, 7)).unwrap();
    let out = tmp.path().join("a.tap");
    // Too small for the media header and the set: the write fails on the first medium.
    let (code, text) = pack(
        &src,
        &[
            os("-o"),
            out.as_os_str(),
            os("--capacity"),
            os("1000"),
            os("--format"),
        ],
    );
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("a.tap"), "the error names no medium: {text}");
}

#[test]
fn a_failed_append_to_a_media_set_leaves_the_medium_as_it_was() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tree(tmp.path());
    let out = tmp.path().join("a.tap");
    let cap = [
        os("--capacity"),
        os("200000"),
        os("--block-size"),
        os("4096"),
    ];
    let mut args = vec![os("-o"), out.as_os_str(), os("--format")];
    args.extend(cap);
    let (code, text) = pack(&src, &args);
    assert_eq!(code, 0, "{text}");
    let before = std::fs::read(&out).unwrap();
    // More than the medium holds, and no changer: the append fails.
    std::fs::write(src.join("big"), support::content(400_000, 3)).unwrap();
    let mut args = vec![os("-o"), out.as_os_str()];
    args.extend(cap);
    let (code, text) = pack(&src, &args);
    assert_eq!(code, 2, "{text}");
    assert!(
        std::fs::read(&out).unwrap() == before,
        "the failed append changed the medium"
    );
}

#[test]
fn an_append_never_starts_a_family_or_a_mirror_on_a_blank_medium() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tree(tmp.path());
    let [a, b, am, bm] = ["a.tap", "b.tap", "am.tap", "bm.tap"].map(|n| tmp.path().join(n));
    let (code, text) = pack(
        &src,
        &[
            os("-o"),
            a.as_os_str(),
            os("-o"),
            b.as_os_str(),
            os("--format"),
        ],
    );
    assert_eq!(code, 0, "{text}");
    let before = std::fs::read(&a).unwrap();
    // Mirrors the set was not formatted with: blank media that would hold only the new set.
    let (code, text) = pack(
        &src,
        &[
            os("-o"),
            a.as_os_str(),
            os("-o"),
            b.as_os_str(),
            os("--mirror"),
            am.as_os_str(),
            os("--mirror"),
            bm.as_os_str(),
        ],
    );
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("mirror"), "{text}");
    assert!(!am.exists() && !bm.exists(), "{text}");
    // A family whose medium is lost, given a blank one instead.
    std::fs::remove_file(&b).unwrap();
    let (code, text) = pack(&src, &[os("-o"), a.as_os_str(), os("-o"), b.as_os_str()]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("names no media set"), "{text}");
    assert!(std::fs::read(&a).unwrap() == before && !b.exists());
}
