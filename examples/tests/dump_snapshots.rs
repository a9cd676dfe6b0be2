//! Snapshots of every `mtfdump` subcommand over every foreign sample (and the striped pairs read
//! together as one media set) and over every image in `testdata/`. Each snapshot was checked by
//! hand against the samples' INVENTORY.md and mtf/docs/sqlserver-evidence.md.

#[path = "../../mtf/tests/common/mod.rs"]
mod common;

use mtf_examples::dump::{self, DumpResult, Options, Outcome};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The media groups: every sample alone, the striped pairs together, every own image.
fn groups() -> Vec<(String, Vec<PathBuf>)> {
    let mut v: Vec<(String, Vec<PathBuf>)> = common::foreign_samples()
        .into_iter()
        .map(|p| (stem(&p), vec![p]))
        .collect();
    if let Some(dir) = common::foreign_dir() {
        for pair in ["sql2008r2_stripe_full", "sql2008r2_stripe_log"] {
            let ext = if pair.ends_with("log") { "trn" } else { "bak" };
            v.push((
                format!("{pair}_both"),
                vec![
                    dir.join(format!("{pair}_1of2.{ext}")),
                    dir.join(format!("{pair}_2of2.{ext}")),
                ],
            ));
        }
    }
    for p in common::own_images() {
        let name = p.file_name().unwrap().to_string_lossy().replace('.', "_");
        v.push((format!("own_{name}"), vec![p]));
    }
    v
}

fn stem(p: &Path) -> String {
    p.file_stem().unwrap().to_string_lossy().into_owned()
}

fn capture(f: impl FnOnce(&Options, &mut Vec<u8>) -> DumpResult<Outcome>, json: bool) -> String {
    let opts = Options {
        json,
        strict: false,
        progress: false,
    };
    let mut out = Vec::new();
    let head = match f(&opts, &mut out) {
        Ok(o) => format!("exit {}\n", o.exit_code()),
        Err(e) => format!("exit 2\nerror: {e}\n"),
    };
    head + &String::from_utf8(out).expect("UTF-8 output")
}

fn tree(dir: &Path, show_mtime: bool) -> String {
    let mut lines = Vec::new();
    for e in walkdir::WalkDir::new(dir).sort_by_file_name().min_depth(1) {
        let e = e.unwrap();
        let rel = e
            .path()
            .strip_prefix(dir)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let md = e.metadata().unwrap();
        let mtime = md
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs());
        // Only file trees carry dates; SQL Server sets get plain directories dated now.
        let mt = match mtime {
            Some(s) if show_mtime => format!(" mtime={s}"),
            _ => String::new(),
        };
        if md.is_dir() {
            lines.push(format!("d {rel}/{mt}"));
        } else {
            let data = std::fs::read(e.path()).unwrap();
            let h = Sha256::digest(&data);
            let hex: String = h[..8].iter().map(|b| format!("{b:02x}")).collect();
            lines.push(format!("f {rel} {} sha256:{hex}{mt}", data.len()));
        }
    }
    lines.join("\n")
}

#[test]
fn label() {
    for (name, paths) in groups() {
        let text = capture(|o, w| dump::label::run(&paths, o, w), false);
        insta::assert_snapshot!(format!("label__{name}"), text);
        let json = capture(|o, w| dump::label::run(&paths, o, w), true);
        insta::assert_snapshot!(format!("label_json__{name}"), json);
    }
}

#[test]
fn sets() {
    for (name, paths) in groups() {
        let text = capture(|o, w| dump::sets::run(&paths, o, w), false);
        insta::assert_snapshot!(format!("sets__{name}"), text);
        let json = capture(|o, w| dump::sets::run(&paths, o, w), true);
        insta::assert_snapshot!(format!("sets_json__{name}"), json);
    }
}

#[test]
fn ls() {
    for (name, paths) in groups() {
        let text = capture(|o, w| dump::ls::run(&paths, None, o, w), false);
        insta::assert_snapshot!(format!("ls__{name}"), text);
    }
}

#[test]
fn ls_json_is_valid() {
    for (_, paths) in groups() {
        let json = capture(|o, w| dump::ls::run(&paths, None, o, w), true);
        let body = json.split_once('\n').unwrap().1;
        if !body.starts_with("error") {
            serde_json::from_str::<serde_json::Value>(body).expect("valid JSON");
        }
    }
}

#[test]
fn verify() {
    for (name, paths) in groups() {
        let text = capture(|o, w| dump::verify::run(&paths, o, w), false);
        insta::assert_snapshot!(format!("verify__{name}"), text);
        let json = capture(|o, w| dump::verify::run(&paths, o, w), true);
        let body = json.split_once('\n').unwrap().1;
        if !body.starts_with("error") {
            serde_json::from_str::<serde_json::Value>(body).expect("valid JSON");
        }
    }
}

#[test]
fn blocks() {
    for (name, paths) in groups() {
        let text = capture(|o, w| dump::blocks::run(&paths, o, w), false);
        insta::assert_snapshot!(format!("blocks__{name}"), text);
    }
}

#[test]
fn extract() {
    for (name, paths) in groups() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("out");
        let text = capture(|o, w| dump::extract::run(&paths, 1, &dir, &[], o, w), false);
        let listing = if dir.exists() {
            tree(&dir, name.starts_with("own_"))
        } else {
            String::new()
        };
        insta::assert_snapshot!(
            format!("extract__{name}"),
            format!("{text}--- tree\n{listing}\n")
        );
    }
}
