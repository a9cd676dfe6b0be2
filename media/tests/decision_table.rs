//! The safety decision over every combination the issue lists: format / init / append × skip ×
//! (expired, unexpired) × (name matches, differs, not given) × (password-protected, foreign
//! header, empty, write-protected, plain MTF medium), on real emulated media written through
//! the write path itself. The expected verdict comes from a table written from the reference
//! documents' rules (media-model.md §6, "Overwriting Media"), not from the code; refused media
//! must be byte for byte unchanged, allowed ones must take the new set.

mod common;

use common::*;
use media::changer::{open_path, ScriptedChanger};
use media::changer::{MediaChanger, Mounted};
use media::decision::{Action, Operation, Reason};
use media::family::{judge, FamilySpec, FamilyWriter, MediaError, WriteOptions};
use media::set::{inspect, MediaPassword, MediaSet, MediumContents};
use mtf::writer::EntryMeta;
use std::path::{Path, PathBuf};
use tape_sys::{EmulatedOptions, EmulatedTape, TapeDevice};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cond {
    Password,
    Foreign,
    Empty,
    WriteProtected,
    Plain,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Name {
    Matches,
    Differs,
    NotGiven,
}

/// The rules, as the reference documents state them.
fn expected(
    op: Operation,
    skip: bool,
    expired: bool,
    name: Name,
    cond: Cond,
) -> (Option<Action>, Vec<&'static str>) {
    let mut refuse = Vec::new();
    match cond {
        // Nothing writes a write-protected medium, not even FORMAT.
        Cond::WriteProtected => return (None, vec!["WriteProtected"]),
        // "Empty tape or missing disk file: all combos write a header and proceed."
        Cond::Empty => return (Some(Action::WriteHeader), vec![]),
        // "Non-empty media without a valid MTF header: all combos refuse" — FORMAT writes anyway.
        Cond::Foreign if op == Operation::Format => return (Some(Action::WriteHeader), vec![]),
        Cond::Foreign => return (None, vec!["ForeignHeader"]),
        _ => {}
    }
    // FORMAT overrides every check but write protection.
    if op == Operation::Format {
        return (Some(Action::WriteHeader), vec![]);
    }
    // A password-protected medium is not written without its password; SKIP does not help.
    if cond == Cond::Password {
        refuse.push("PasswordRequired");
    }
    // MEDIANAME must match when given (INIT and NOINIT), unless SKIP.
    if name == Name::Differs && !skip {
        refuse.push("NameMismatch");
    }
    // INIT refuses unexpired sets, unless SKIP; appending destroys nothing.
    if op == Operation::Init && !expired && !skip {
        refuse.push("Unexpired");
    }
    if refuse.is_empty() {
        let action = if op == Operation::Init {
            Action::OverwriteSets
        } else {
            Action::AppendAfterLastSet
        };
        (Some(action), refuse)
    } else {
        (None, refuse)
    }
}

fn kind(r: &Reason) -> &'static str {
    match r {
        Reason::WriteProtected => "WriteProtected",
        Reason::ForeignHeader(_) => "ForeignHeader",
        Reason::Unreadable(_) => "Unreadable",
        Reason::Unexpired(_) => "Unexpired",
        Reason::NameMismatch { .. } => "NameMismatch",
        Reason::PasswordRequired => "PasswordRequired",
        Reason::PasswordWrong => "PasswordWrong",
        Reason::DeviceCount { .. } => "DeviceCount",
        Reason::MirrorCount { .. } => "MirrorCount",
        Reason::WrongFamily { .. } => "WrongFamily",
        Reason::WrongSet { .. } => "WrongSet",
        Reason::PartOfThisSet { .. } => "PartOfThisSet",
        Reason::NotLastMedium { .. } => "NotLastMedium",
        Reason::UnfinishedSet { .. } => "UnfinishedSet",
    }
}

/// Formats a one-family medium named SALES at `path` holding one set that expires at
/// `expires`, with an optional media password.
fn make_mtf(path: &Path, expires: i64, password: Option<&str>) {
    let mut set = MediaSet::new("SALES", 1);
    set.password = password.map(MediaPassword::new);
    let spec = spec(&set, Operation::Format, false, None);
    let dev = open_path(path, true, EmulatedOptions::new()).unwrap();
    let mut fw = FamilyWriter::open(
        Mounted {
            device: dev,
            name: path.display().to_string(),
        },
        Box::new(ScriptedChanger::new(
            Vec::<PathBuf>::new(),
            EmulatedOptions::new(),
        )),
        spec,
    )
    .unwrap();
    let b = backup_set();
    fw.begin_set(b.options, Some(expires)).unwrap();
    fw.add_volume(b.volume.as_ref().unwrap()).unwrap();
    fw.add_file(
        &["d".into()],
        "old.txt",
        &EntryMeta::default(),
        5,
        &mut &b"hello"[..],
    )
    .unwrap();
    fw.end_set().unwrap();
    fw.finish().unwrap();
}

fn spec(set: &MediaSet, op: Operation, skip: bool, check_name: Option<String>) -> FamilySpec {
    FamilySpec {
        set: set.clone(),
        family_number: 1,
        mirror: 0,
        write: WriteOptions {
            skip,
            check_name,
            block_size: BLOCK,
            ..WriteOptions::new(op, NOW)
        },
        replay_until: 0,
    }
}

#[test]
fn every_combination_decides_as_the_rules_say() {
    let dir = tempfile::tempdir().unwrap();
    // The media each case starts from.
    let src = |n: &str| dir.path().join(n);
    make_mtf(&src("plain-expired.tap"), NOW - 86_400, None);
    make_mtf(&src("plain-unexpired.tap"), NOW + 30 * 86_400, None);
    make_mtf(&src("pw-expired.tap"), NOW - 86_400, Some("secret"));
    make_mtf(&src("pw-unexpired.tap"), NOW + 30 * 86_400, Some("secret"));
    {
        let mut t = EmulatedTape::create(src("foreign.tap"), EmulatedOptions::new()).unwrap();
        t.write_block(b"this is a tar archive, not MTF; ".repeat(32).as_slice())
            .unwrap();
        t.write_filemarks(1).unwrap();
        t.close().unwrap();
    }
    EmulatedTape::create(src("empty.tap"), EmulatedOptions::new())
        .unwrap()
        .close()
        .unwrap();

    let mut cases = 0;
    for op in [Operation::Format, Operation::Init, Operation::Append] {
        for skip in [false, true] {
            for expired in [true, false] {
                for name in [Name::Matches, Name::Differs, Name::NotGiven] {
                    for cond in [
                        Cond::Password,
                        Cond::Foreign,
                        Cond::Empty,
                        Cond::WriteProtected,
                        Cond::Plain,
                    ] {
                        cases += 1;
                        let exp = if expired { "expired" } else { "unexpired" };
                        let from = match cond {
                            Cond::Password => format!("pw-{exp}.tap"),
                            Cond::Foreign => "foreign.tap".into(),
                            Cond::Empty => "empty.tap".into(),
                            Cond::WriteProtected | Cond::Plain => format!("plain-{exp}.tap"),
                        };
                        let case = format!("{op:?} skip={skip} {exp} name={name:?} {cond:?}");
                        let path = dir.path().join(format!("case{cases}.tap"));
                        std::fs::copy(src(&from), &path).unwrap();
                        let before = std::fs::read(&path).unwrap();
                        let opts =
                            EmulatedOptions::new().write_protected(cond == Cond::WriteProtected);
                        let check_name = match name {
                            Name::Matches => Some("SALES".to_string()),
                            Name::Differs => Some("PAYROLL".to_string()),
                            Name::NotGiven => None,
                        };
                        let set = MediaSet::new("NEWSET", 1);
                        let s = spec(&set, op, skip, check_name);
                        let mut m = Mounted {
                            device: open_path(&path, false, opts).unwrap(),
                            name: case.clone(),
                        };
                        let j = judge(&mut m, &s);
                        let (want_action, want_reasons) = expected(op, skip, expired, name, cond);
                        let mut got: Vec<&str> = j.decision.reasons.iter().map(kind).collect();
                        got.sort_unstable();
                        let mut want = want_reasons.clone();
                        want.sort_unstable();
                        assert_eq!(j.decision.action, want_action, "{case}: {:?}", j.decision);
                        assert_eq!(got, want, "{case}");
                        // Now through the write path itself.
                        let r = FamilyWriter::open(
                            m,
                            Box::new(ScriptedChanger::new(
                                Vec::<PathBuf>::new(),
                                EmulatedOptions::new(),
                            )),
                            s,
                        );
                        match r {
                            Err(MediaError::Refused { .. }) => {
                                assert!(want_action.is_none(), "{case}: refused by the write path");
                                assert_eq!(
                                    std::fs::read(&path).unwrap(),
                                    before,
                                    "{case}: a refused medium changed"
                                );
                            }
                            Err(e) => panic!("{case}: {e}"),
                            Ok(mut fw) => {
                                assert!(want_action.is_some(), "{case}: the write path wrote");
                                let b = backup_set();
                                fw.begin_set(b.options, None).unwrap();
                                fw.add_volume(b.volume.as_ref().unwrap()).unwrap();
                                fw.add_file(
                                    &["n".into()],
                                    "new.txt",
                                    &EntryMeta::default(),
                                    3,
                                    &mut &b"new"[..],
                                )
                                .unwrap();
                                fw.end_set().unwrap();
                                fw.finish().unwrap();
                                let mut d =
                                    open_path(&path, false, EmulatedOptions::new()).unwrap();
                                let MediumContents::Mtf { label, sets, .. } =
                                    inspect(&mut d).contents
                                else {
                                    panic!("{case}: not MTF after writing")
                                };
                                let names: Vec<u16> =
                                    sets.iter().map(|s| s.data_set_number).collect();
                                match want_action.unwrap() {
                                    Action::WriteHeader => {
                                        assert_eq!(label.name, "NEWSET", "{case}");
                                        assert_eq!(names, vec![1], "{case}");
                                        assert!(label.password.is_none(), "{case}");
                                    }
                                    Action::OverwriteSets => {
                                        assert_eq!(
                                            label.name, "SALES",
                                            "{case}: init keeps the header"
                                        );
                                        assert_eq!(
                                            names,
                                            vec![1],
                                            "{case}: init leaves only the new set"
                                        );
                                    }
                                    Action::AppendAfterLastSet => {
                                        assert_eq!(label.name, "SALES", "{case}");
                                        assert_eq!(
                                            names,
                                            vec![1, 2],
                                            "{case}: appended after set 1"
                                        );
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    assert_eq!(cases, 3 * 2 * 2 * 3 * 5);
}

#[test]
fn the_right_password_opens_a_protected_medium_and_a_wrong_one_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("pw.tap");
    make_mtf(&p, NOW - 1, Some("secret"));
    let before = std::fs::read(&p).unwrap();
    // The digest sits in the TAPE block's password field with algorithm 5, as in SQL Server's
    // MEDIAPASSWORD sample.
    let mut d = open_path(&p, false, EmulatedOptions::new()).unwrap();
    let l = inspect(&mut d).contents;
    let MediumContents::Mtf { label, .. } = l else {
        panic!()
    };
    let (alg, field) = label.password.clone().unwrap();
    assert_eq!(alg, 5);
    assert_eq!(field.len(), 16);
    drop(d);
    for (given, ok) in [("wrong", false), ("secret", true)] {
        let set = MediaSet::new("X", 1);
        let mut s = spec(&set, Operation::Append, false, None);
        s.write.password = Some(MediaPassword::new(given));
        let mut m = Mounted {
            device: open_path(&p, false, EmulatedOptions::new()).unwrap(),
            name: given.into(),
        };
        let j = judge(&mut m, &s);
        assert_eq!(j.decision.allowed(), ok, "{given}: {:?}", j.decision);
        if !ok {
            assert_eq!(j.decision.reasons, vec![Reason::PasswordWrong]);
        }
        assert_eq!(std::fs::read(&p).unwrap(), before);
    }
}

#[test]
fn shape_checks_refuse_the_wrong_family_and_device_count_and_a_medium_that_continues() {
    let dir = tempfile::tempdir().unwrap();
    // A 2-family set whose family 1 runs over several media.
    let t = tree(11, 30, 8000);
    let total: usize = t.iter().map(|e| e.2.len()).sum();
    let (report, _) = backup_tree(dir.path(), 2, 1, (total / 2 / 3 + 40 * 1024) as u64, &t);
    let f1 = &report.families[0].used;
    assert!(f1.len() >= 2);
    let set = MediaSet::new("X", 2);
    let cases: Vec<(&str, u16, u16, Vec<&str>)> = vec![
        // (medium, devices, family written, reasons)
        (&f1[0].name, 2, 1, vec!["NotLastMedium"]),
        (&f1[f1.len() - 1].name, 2, 1, vec![]),
        (&f1[f1.len() - 1].name, 2, 2, vec!["WrongFamily"]),
        (&f1[f1.len() - 1].name, 3, 1, vec!["DeviceCount"]),
    ];
    for (name, devices, family, want) in cases {
        let before = std::fs::read(name).unwrap();
        let mut s = spec(&set, Operation::Append, true, None);
        s.set.family_count = devices;
        s.family_number = family;
        let mut m = Mounted {
            device: open_path(name.as_ref(), false, EmulatedOptions::new()).unwrap(),
            name: name.to_string(),
        };
        let j = judge(&mut m, &s);
        let got: Vec<&str> = j.decision.reasons.iter().map(kind).collect();
        assert_eq!(got, want, "{name} devices={devices} family={family}");
        assert_eq!(std::fs::read(name).unwrap(), before);
        let _ = (
            &mut m as &mut Mounted,
            Box::new(ScriptedChanger::new(
                Vec::<PathBuf>::new(),
                Default::default(),
            )) as Box<dyn MediaChanger>,
        );
    }
}

/// Continuation media, by the rule "formatted only when empty or holding nothing that
/// matters": judged on inspections made by hand (the rule's inputs), not on media.
#[test]
fn continuation_media_are_taken_only_when_nothing_on_them_matters() {
    use media::decision::{decide, Request};
    use media::set::{Guid, Inspection, MediumLabel, SetOnMedium};
    let this: Guid = "11111111-2222-4333-8444-555555555555".parse().unwrap();
    let other: Guid = "99999999-2222-4333-8444-555555555555".parse().unwrap();
    let label = |set: Guid, password: bool| MediumLabel {
        media_set_id: Some(set),
        family_count: Some(2),
        family_number: Some(1),
        mirror_count: Some(1),
        media_family_id: 7,
        media_sequence_number: 1,
        name: "X".into(),
        description: String::new(),
        software_name: String::new(),
        password: password.then(|| (5, vec![0; 16])),
        block_size: 4096,
        written: None,
    };
    let mtf = |set: Guid, expires: i64, password: bool| MediumContents::Mtf {
        label: label(set, password),
        sets: vec![SetOnMedium {
            position: 1,
            data_set_number: 1,
            name: String::new(),
            expires: Some(expires),
            continued_from_earlier: false,
            closed: true,
        }],
        continues: false,
        damage: None,
    };
    let cases: Vec<(&str, bool, MediumContents, Option<&str>)> = vec![
        ("empty", false, MediumContents::Empty, None),
        (
            "write-protected empty",
            true,
            MediumContents::Empty,
            Some("WriteProtected"),
        ),
        (
            "foreign",
            false,
            MediumContents::Foreign {
                reason: "tar".into(),
            },
            Some("ForeignHeader"),
        ),
        (
            "this set, expired",
            false,
            mtf(this, NOW - 1, false),
            Some("PartOfThisSet"),
        ),
        (
            "other set, unexpired",
            false,
            mtf(other, NOW + 1, false),
            Some("Unexpired"),
        ),
        (
            "other set, expired",
            false,
            mtf(other, NOW - 1, false),
            None,
        ),
        (
            "other set, expired, password",
            false,
            mtf(other, NOW - 1, true),
            Some("PasswordRequired"),
        ),
    ];
    for (what, wp, contents, refused) in cases {
        let d = decide(
            &Inspection {
                write_protected: wp,
                contents,
            },
            &Request {
                operation: Operation::Continuation,
                skip: true, // skip never lets a continuation overwrite what matters
                media_name: None,
                password: None,
                devices: 2,
                family_number: 1,
                media_set_id: Some(this),
                now: NOW,
            },
        );
        match refused {
            None => assert_eq!(d.action, Some(Action::WriteHeader), "{what}: {d:?}"),
            Some(k) => {
                assert_eq!(d.action, None, "{what}");
                assert_eq!(
                    d.reasons.iter().map(kind).collect::<Vec<_>>(),
                    vec![k],
                    "{what}"
                );
            }
        }
    }
}
