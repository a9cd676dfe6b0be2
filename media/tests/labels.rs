//! Labels as SQL Server writes them read through the same API (its striped and password
//! samples, read in place), and the checks on a list of media given in any order.

mod common;

use common::*;
use media::changer::open_path;
use media::set::{check_media_list, label_of, read_label, MediumLabel};
use mtf::reader::FileSource;
use std::path::PathBuf;

fn foreign(name: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("MTF_FOREIGN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../shared/testdata/foreign"
            ))
        });
    let p = dir.join(name);
    if p.exists() {
        return Some(p);
    }
    assert!(
        std::env::var("MTF_REQUIRE_FOREIGN").as_deref() != Ok("1"),
        "{} missing",
        p.display()
    );
    eprintln!("NOTICE: {} not found; skipping", p.display());
    None
}

#[test]
fn sql_server_stripes_read_as_two_families_of_one_set() {
    let (Some(a), Some(b)) = (
        foreign("sql2008r2_stripe_full_1of2.bak"),
        foreign("sql2008r2_stripe_full_2of2.bak"),
    ) else {
        return;
    };
    let la = label_of(FileSource::open(&a).unwrap()).unwrap();
    let lb = label_of(FileSource::open(&b).unwrap()).unwrap();
    // PROVENANCE: "media family 1 of 2 (RAID stream: family count 2, family no 1)", and 2 of 2.
    assert_eq!((la.family_count, la.family_number), (Some(2), Some(1)));
    assert_eq!((lb.family_count, lb.family_number), (Some(2), Some(2)));
    assert!(la.media_set_id.is_some());
    assert_eq!(la.media_set_id, lb.media_set_id);
    // INVENTORY: media family id 0x62f92839, media seq 1, software 'Microsoft SQL Server'.
    assert_eq!(la.media_family_id, 0x62f9_2839);
    assert_eq!(la.media_sequence_number, 1);
    assert_eq!(la.software_name, "Microsoft SQL Server");
    // Both given, in either order: a whole set.
    assert_eq!(
        check_media_list(&[lb.clone(), la.clone()]),
        Vec::<String>::new()
    );
    let missing = check_media_list(&[la]);
    assert_eq!(missing, vec!["family 2 of 2 missing".to_string()]);
}

#[test]
fn sql_server_media_password_reads_as_algorithm_5_with_a_16_byte_digest() {
    let Some(p) = foreign("sql2008r2_full_mediapassword.bak") else {
        return;
    };
    let l = label_of(FileSource::open(&p).unwrap()).unwrap();
    // PROVENANCE: "TAPE DBLK has password-encryption-algorithm = 5 and a 16-byte media password
    // field".
    let (alg, field) = l.password.unwrap();
    assert_eq!(alg, 5);
    assert_eq!(field.len(), 16);
}

#[test]
fn a_media_list_names_missing_duplicated_and_out_of_order_media() {
    let dir = tempfile::tempdir().unwrap();
    let t = tree(21, 20, 9000);
    let total: usize = t.iter().map(|e| e.2.len()).sum();
    let (report, _) = backup_tree(dir.path(), 2, 1, (total / 2 / 3 + 40 * 1024) as u64, &t);
    let labels: Vec<Vec<MediumLabel>> = report
        .families
        .iter()
        .map(|f| {
            f.used
                .iter()
                .map(|u| {
                    read_label(&mut open_path(u.name.as_ref(), false, Default::default()).unwrap())
                        .unwrap()
                })
                .collect()
        })
        .collect();
    let f1 = &labels[0];
    let f2 = &labels[1];
    assert!(f1.len() >= 3, "family 1 has {} media", f1.len());
    // Everything, shuffled family against family: whole.
    let mut all: Vec<MediumLabel> = f2.iter().chain(f1.iter()).cloned().collect();
    all.sort_by_key(|l| (l.family(), l.media_sequence_number));
    assert_eq!(check_media_list(&all), Vec::<String>::new());
    // Medium 2 of family 1 missing.
    let gap: Vec<MediumLabel> = all
        .iter()
        .filter(|l| !(l.family() == 1 && l.media_sequence_number == 2))
        .cloned()
        .collect();
    assert_eq!(
        check_media_list(&gap),
        vec!["family 1: media 2 to 2 missing".to_string()]
    );
    // Medium 1 of family 2 given twice.
    let mut twice = all.clone();
    twice.push(f2[0].clone());
    assert_eq!(
        check_media_list(&twice),
        vec!["family 2: medium 1 given twice (read once)".to_string()]
    );
    // Family 1's media given backwards.
    let mut backwards: Vec<MediumLabel> = f1.iter().rev().cloned().collect();
    backwards.extend(f2.iter().cloned());
    let p = check_media_list(&backwards);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].starts_with("family 1: media given out of order"),
        "{p:?}"
    );
    // A whole family missing.
    assert_eq!(
        check_media_list(f1),
        vec!["family 2 of 2 missing".to_string()]
    );
}

#[test]
fn sets_are_listed_from_the_on_media_catalog_with_positions_counting_every_set() {
    use media::changer::{Mounted, ScriptedChanger};
    use media::decision::Operation;
    use media::family::{FamilySpec, FamilyWriter, WriteOptions};
    use media::set::{list_sets, MediaSet};
    use mtf::reader::ListMethod;
    use mtf::writer::EntryMeta;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.tap");
    // Three sets appended one after another on one medium.
    for k in 0..3 {
        let set = MediaSet::new("CAT", 1);
        let op = if k == 0 {
            Operation::Format
        } else {
            Operation::Append
        };
        let spec = FamilySpec {
            set,
            family_number: 1,
            mirror: 0,
            write: WriteOptions {
                block_size: BLOCK,
                ..WriteOptions::new(op, NOW)
            },
            replay_until: 0,
        };
        let dev = open_path(&p, true, Default::default()).unwrap();
        let mut fw = FamilyWriter::open(
            Mounted {
                device: dev,
                name: "m".into(),
            },
            Box::new(ScriptedChanger::new(
                Vec::<PathBuf>::new(),
                Default::default(),
            )),
            spec,
        )
        .unwrap();
        let mut b = backup_set();
        b.options.name = format!("set {k}");
        fw.begin_set(b.options, None).unwrap();
        fw.add_volume(b.volume.as_ref().unwrap()).unwrap();
        fw.add_file(
            &["d".into()],
            "f",
            &EntryMeta::default(),
            4,
            &mut &b"data"[..],
        )
        .unwrap();
        fw.end_set().unwrap();
        fw.finish().unwrap();
    }
    let mut d = open_path(&p, false, Default::default()).unwrap();
    let l = list_sets(&mut d).unwrap();
    assert_eq!(l.method, ListMethod::SetMap, "{:?}", l.notes);
    let numbers: Vec<u16> = l.sets.iter().map(|s| s.sset().data_set_number).collect();
    assert_eq!(numbers, vec![1, 2, 3]);
    let positions: Vec<usize> = l.sets.iter().map(|s| s.position).collect();
    assert_eq!(positions, vec![1, 2, 3]);
}
