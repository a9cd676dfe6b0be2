//! The changers on their own: the mtx autoloader against a fake `mtx` on PATH (as Bacula's
//! mtx-changer is tested), the operator prompt with a scripted operator, and the directory
//! library creating blank images.

mod common;

use common::*;
use media::changer::mtx::{parse_status, MtxChanger, MtxStatus};
use media::changer::prompt::PromptChanger;
use media::changer::{open_path, ChangerEvent, MediaChanger, MediumRequest, Purpose};
use media::decision::Operation;
use media::family::{FamilySpec, FamilyWriter, WriteOptions};
use media::restore::{restore, MemoryFiles, ReadSpec};
use media::set::{read_label, MediaSet};
use mtf::writer::EntryMeta;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A fake `mtx`: slots are `slots/N.tap`, the drive is `drive.tap`, `loaded` holds the slot in
/// the drive. Speaks `-f DEV status|load S D|unload S D` and logs every call.
const FAKE_MTX: &str = r#"#!/bin/sh
state="$(dirname "$0")"
echo "$@" >> "$state/calls.log"
[ "$1" = "-f" ] || { echo "usage" >&2; exit 1; }
shift 2
case "$1" in
status)
  if [ -f "$state/loaded" ]; then
    echo "  Storage Changer $state:1 Drives, 4 Slots ( 0 Import/Export )"
    echo "Data Transfer Element 0:Full (Storage Element $(cat "$state/loaded") Loaded):VolumeTag = X"
  else
    echo "Data Transfer Element 0:Empty"
  fi
  for n in 1 2 3 4; do
    if [ -f "$state/slots/$n.tap" ]; then echo "      Storage Element $n:Full :VolumeTag=VOL00$n"; else echo "      Storage Element $n:Empty"; fi
  done ;;
load)
  [ -f "$state/loaded" ] && { echo "Drive $3 Full" >&2; exit 1; }
  [ -f "$state/slots/$2.tap" ] || { echo "Source Element Address $2 is Empty" >&2; exit 1; }
  mv "$state/slots/$2.tap" "$state/drive.tap" && echo "$2" > "$state/loaded" ;;
unload)
  mv "$state/drive.tap" "$state/slots/$2.tap" && rm -f "$state/loaded" ;;
*) echo "unknown $1" >&2; exit 1 ;;
esac
"#;

fn fake_mtx(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir.join("slots")).unwrap();
    let p = dir.join("mtx");
    std::fs::write(&p, FAKE_MTX).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

#[test]
fn mtx_status_parses_drives_and_slots() {
    let text = "  Storage Changer /dev/sg3:1 Drives, 4 Slots ( 1 Import/Export )\n\
                Data Transfer Element 0:Full (Storage Element 2 Loaded):VolumeTag = A2\n\
                      Storage Element 1:Full :VolumeTag=A1\n\
                      Storage Element 2:Empty\n\
                      Storage Element 3:Full :VolumeTag=A3\n\
                      Storage Element 4 IMPORT/EXPORT:Full :VolumeTag=A4\n";
    assert_eq!(
        parse_status(text),
        MtxStatus {
            full_slots: vec![1, 3, 4],
            loaded: vec![(0, 2)]
        }
    );
}

#[test]
fn an_autoloader_supplies_continuation_media_and_the_full_cartridge_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mtx = fake_mtx(dir.path());
    // Slot 1: a blank; slot 2: an unexpired medium of another set (must be refused); slot 3, 4:
    // blanks.
    open_path(&dir.path().join("slots/1.tap"), true, Default::default()).unwrap();
    let mut b = backup_set();
    b.expires = Some(NOW + 86_400);
    backup_tree_as(&dir.path().join("other"), 1, 1, 1 << 30, &tree(1, 2, 10), b);
    let other = std::fs::read_dir(dir.path().join("other"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::copy(&other, dir.path().join("slots/2.tap")).unwrap();
    let slot2 = std::fs::read(dir.path().join("slots/2.tap")).unwrap();
    for n in [3, 4] {
        open_path(
            &dir.path().join(format!("slots/{n}.tap")),
            true,
            Default::default(),
        )
        .unwrap();
    }
    let mut changer = MtxChanger::new("/dev/fake-sg".into(), 0, dir.path().join("drive.tap"))
        .emulated_options(tape(64 * 1024));
    changer.mtx = mtx;
    let log = changer.log.clone();
    let set = MediaSet::new("AUTO", 1);
    let first_req = MediumRequest {
        purpose: Purpose::Write,
        media_set_id: Some(set.id),
        media_name: "AUTO".into(),
        family_number: 1,
        family_count: 1,
        sequence: 1,
        mirror: 0,
    };
    let first = changer.mount(&first_req).unwrap();
    assert_eq!(first.name, "slot 1");
    let spec = FamilySpec {
        set: set.clone(),
        family_number: 1,
        mirror: 0,
        write: WriteOptions {
            block_size: BLOCK,
            ..WriteOptions::new(Operation::Format, NOW)
        },
        replay_until: 0,
    };
    let mut fw = FamilyWriter::open(first, Box::new(changer), spec).unwrap();
    let b = backup_set();
    fw.begin_set(b.options, None).unwrap();
    fw.add_volume(b.volume.as_ref().unwrap()).unwrap();
    let data: Vec<u8> = (0..40_000u32).map(|i| (i * 7 % 251) as u8).collect();
    fw.add_file(
        &["d".into()],
        "f",
        &EntryMeta::default(),
        data.len() as u64,
        &mut &data[..],
    )
    .unwrap();
    fw.end_set().unwrap();
    let rep = fw.finish().unwrap();
    // Slot 1 filled; slot 2 (unexpired, another set) was refused; slot 3 took medium 2.
    let names: Vec<(u16, &str)> = rep
        .used
        .iter()
        .map(|u| (u.sequence, u.name.as_str()))
        .collect();
    assert_eq!(names, vec![(1, "slot 1"), (2, "slot 3")]);
    assert_eq!(rep.refusals.len(), 1);
    assert_eq!(rep.refusals[0].0, "slot 2");
    assert!(
        rep.refusals[0].1.contains("unexpired"),
        "{}",
        rep.refusals[0].1
    );
    // The cartridges went back to their slots, labelled in sequence.
    for (slot, seq) in [(1, 1), (3, 2)] {
        let mut d = open_path(
            &dir.path().join(format!("slots/{slot}.tap")),
            false,
            Default::default(),
        )
        .unwrap();
        let l = read_label(&mut d).unwrap();
        assert_eq!(
            (l.media_set_id, l.media_sequence_number),
            (Some(set.id), seq)
        );
    }
    let calls = std::fs::read_to_string(dir.path().join("calls.log")).unwrap();
    for c in [
        "load 1 0",
        "unload 1 0",
        "load 2 0",
        "unload 2 0",
        "load 3 0",
        "unload 3 0",
    ] {
        assert!(calls.contains(c), "{c} missing from {calls}");
    }
    assert_eq!(
        std::fs::read(dir.path().join("slots/2.tap")).unwrap(),
        slot2
    );
    assert!(log
        .lock()
        .unwrap()
        .iter()
        .any(|e| matches!(e, ChangerEvent::Done(n) if n == "slot 1")));
    // And it reads back whole through the autoloader.
    let mut c = MtxChanger::new("/dev/fake-sg".into(), 0, dir.path().join("drive.tap"));
    c.mtx = dir.path().join("mtx");
    let mut out = MemoryFiles::default();
    restore(
        vec![Box::new(c)],
        &ReadSpec {
            media_set_id: Some(set.id),
            data_set: None,
        },
        &mut out,
    )
    .unwrap();
    assert_eq!(out.files.get("d/f"), Some(&data));
}

#[test]
fn an_autoloader_offers_the_next_cartridge_after_a_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let mtx = fake_mtx(dir.path());
    // Families 1 and 2 of a set in slots 1 and 2; reading family 2 must refuse slot 1.
    let lib = dir.path().join("lib");
    let (report, set) = backup_tree(&lib, 2, 1, 1 << 30, &tree(5, 6, 3000));
    std::fs::copy(
        &report.families[0].used[0].name,
        dir.path().join("slots/1.tap"),
    )
    .unwrap();
    std::fs::copy(
        &report.families[1].used[0].name,
        dir.path().join("slots/2.tap"),
    )
    .unwrap();
    let mut c1 = MtxChanger::new("/dev/fake-sg".into(), 0, dir.path().join("drive.tap"));
    c1.mtx = mtx;
    let log = c1.log.clone();
    let mut out = MemoryFiles::default();
    let r = restore(
        vec![Box::new(c1)],
        &ReadSpec {
            media_set_id: Some(set.id),
            data_set: None,
        },
        &mut out,
    )
    .unwrap();
    assert_eq!(out.files, expected(&tree(5, 6, 3000)));
    // Family 1 from slot 1, then family 2: slot 1 is spent, slot 2 offered.
    assert_eq!(r.requests, vec![(0, 1, 1), (0, 2, 1)]);
    let events = log.lock().unwrap().clone();
    let mounted: Vec<&ChangerEvent> = events
        .iter()
        .filter(|e| matches!(e, ChangerEvent::Mounted(_)))
        .collect();
    assert_eq!(
        mounted,
        vec![
            &ChangerEvent::Mounted("slot 1".into()),
            &ChangerEvent::Mounted("slot 2".into())
        ]
    );
}

#[test]
fn the_operator_is_asked_for_each_family_and_sequence_and_told_of_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let t = tree(9, 12, 9000);
    let total: usize = t.iter().map(|e| e.2.len()).sum();
    let (report, set) = backup_tree(dir.path(), 1, 1, (total / 3 + 40 * 1024) as u64, &t);
    let used = &report.families[0].used;
    assert!(used.len() >= 3);
    // The operator mounts medium 2 where 1 is asked (refused), then the right ones.
    let mut answers = format!("{}\n", used[1].name);
    for u in used {
        answers.push_str(&format!("{}\n", u.name));
    }
    let screen = SharedBuf::default();
    {
        let p = PromptChanger::new(
            std::io::Cursor::new(answers.into_bytes()),
            screen.clone(),
            Default::default(),
        );
        let mut out = MemoryFiles::default();
        let r = restore(
            vec![Box::new(p)],
            &ReadSpec {
                media_set_id: Some(set.id),
                data_set: None,
            },
            &mut out,
        );
        let r = r.unwrap();
        assert_eq!(out.files, expected(&t));
        assert_eq!(r.refusals.len(), 1);
    }
    let screen = String::from_utf8(screen.0.lock().unwrap().clone()).unwrap();
    let prompts: Vec<&str> = screen.lines().filter(|l| l.starts_with("Mount")).collect();
    assert!(prompts[0].contains("medium 1 of family 1 of 1"), "{screen}");
    assert!(prompts[1].contains("medium 1 of family 1 of 1"), "{screen}");
    for (k, p) in prompts[2..].iter().enumerate() {
        assert!(
            p.contains(&format!("medium {} of family 1 of 1", k + 2)),
            "{screen}"
        );
    }
    assert!(screen.contains("refused"), "{screen}");
}

/// An in-memory terminal screen shared with the changer.
#[derive(Clone, Default)]
struct SharedBuf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for SharedBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
