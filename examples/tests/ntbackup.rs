//! The NTBackup media in `../shared/testdata/foreign/ntbackup/`, read through the dumper's
//! commands, checked against facts that do not come from this code: the folder's PROVENANCE.md
//! (size and SHA-256 of each medium, and what independent readers report on it: one set, volume
//! `C:`, file `C:/boot.ini` of 210 bytes, hidden and system, with NTQU, NACL, NTOI, STAN and
//! CSUM streams and a Type 1 catalog) and NTBackup's own CSUM streams (each file's extracted
//! bytes must give the XOR-32 NTBackup stored after its STAN stream, computed here by a separate
//! implementation of the spec's rule).

#[path = "../../mtf/tests/common/mod.rs"]
mod common;

use mtf_examples::dump::{self, DumpResult, Options, Outcome};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

fn run_json(f: impl FnOnce(&Options, &mut Vec<u8>) -> DumpResult<Outcome>) -> (u8, Value) {
    let opts = Options {
        json: true,
        strict: false,
        progress: false,
    };
    let mut out = Vec::new();
    let code = f(&opts, &mut out)
        .unwrap_or_else(|e| panic!("{e}"))
        .exit_code();
    let v = serde_json::from_slice(&out).expect("JSON output");
    (code, v)
}

/// MTF's CSUM: the XOR of the data taken as little-endian 32-bit words, a short last word
/// padded with zeros.
fn xor32(data: &[u8]) -> u32 {
    data.chunks(4).fold(0, |acc, c| {
        let mut w = [0u8; 4];
        w[..c.len()].copy_from_slice(c);
        acc ^ u32::from_le_bytes(w)
    })
}

/// The PROVENANCE.md row of a medium: (size, sha256).
fn provenance(path: &Path) -> Option<(u64, String)> {
    let text = std::fs::read_to_string(path.with_file_name("PROVENANCE.md")).ok()?;
    let name = path.file_name()?.to_str()?;
    let row = text
        .lines()
        .find(|l| l.starts_with(&format!("| {name} |")))?;
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    Some((cells[2].parse().ok()?, cells[3].to_string()))
}

fn samples() -> Vec<PathBuf> {
    let v = common::ntbackup_samples();
    if common::foreign_dir().is_some() {
        assert!(!v.is_empty(), "no NTBackup media in the foreign folder");
    }
    v
}

#[test]
fn every_ntbackup_medium_is_the_one_its_provenance_describes() {
    for path in samples() {
        let (size, sha) = provenance(&path)
            .unwrap_or_else(|| panic!("{}: no row in PROVENANCE.md", path.display()));
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len() as u64, size, "{}", path.display());
        let got: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(got, sha, "{}", path.display());
    }
}

#[test]
fn every_ntbackup_medium_verifies_with_no_damage_and_one_complete_set() {
    for path in samples() {
        let paths = vec![path.clone()];
        let name = path.display().to_string();
        let (code, v) = run_json(|o, w| dump::verify::run(&paths, o, w));
        assert_eq!(code, 0, "{name}: verify {v:#}");
        let m = &v["media"][0];
        assert_eq!(m["damage"], Value::Array(vec![]), "{name}");
        assert_eq!(m["errors"], Value::Array(vec![]), "{name}");
        assert_eq!(
            (m["sets"].as_u64(), m["complete_sets"].as_u64()),
            (Some(1), Some(1))
        );
        let csums = m["csums"].as_array().unwrap();
        assert!(!csums.is_empty(), "{name}: NTBackup checksums its streams");
        assert!(csums.iter().all(|c| c["ok"] == true), "{name}");

        let (code, v) = run_json(|o, w| dump::sets::run(&paths, o, w));
        assert_eq!(code, 0, "{name}: sets {v:#}");
        let sets = v["media_sets"][0]["sets"].as_array().unwrap();
        assert_eq!(sets.len(), 1, "{name}");
        let s = &sets[0];
        assert_eq!(s["complete"], true, "{name}");
        assert!(s["start_date"].is_string(), "{name}");
        assert!(
            s["finish_date"].is_string(),
            "{name}: the ESET dates the set's end"
        );
        assert!(
            s["finish_date"].as_str() >= s["start_date"].as_str(),
            "{name}"
        );
        assert!(
            s["set_map"].is_object(),
            "{name}: the Type 1 set map was read"
        );
    }
}

#[test]
fn every_ntbackup_file_extracts_to_the_bytes_ntbackup_checksummed() {
    for path in samples() {
        let paths = vec![path.clone()];
        let name = path.display().to_string();
        let (_, verify) = run_json(|o, w| dump::verify::run(&paths, o, w));
        // NTBackup's stored checksums of the STAN streams, in medium order.
        let stan_csums: Vec<u32> = verify["media"][0]["csums"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["covers"].as_str().unwrap().starts_with("STAN"))
            .map(|c| {
                let s = c["stored"].as_str().unwrap();
                u32::from_str_radix(s.trim_start_matches("0x"), 16).unwrap()
            })
            .collect();
        let (_, ls) = run_json(|o, w| dump::ls::run(&paths, None, o, w));
        let entries = ls["sets"][0]["entries"].as_array().unwrap();
        let files: Vec<&Value> = entries.iter().filter(|e| e["kind"] == "file").collect();
        let volume = entries.iter().find(|e| e["kind"] == "volume").unwrap();
        let vol_dir = volume["path"].as_str().unwrap().trim_end_matches(':');
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let mut text = Vec::new();
        let opts = Options {
            json: false,
            strict: false,
            progress: false,
        };
        let code = dump::extract::run(&paths, 1, &out, &[], &opts, &mut text)
            .unwrap()
            .exit_code();
        assert_eq!(code, 0, "{name}: {}", String::from_utf8_lossy(&text));
        let mut with_data = 0;
        for f in &files {
            let rel = f["path"].as_str().unwrap();
            let data = std::fs::read(out.join(vol_dir).join(rel))
                .unwrap_or_else(|e| panic!("{name}: {rel}: {e}"));
            assert_eq!(Some(data.len() as u64), f["size"].as_u64(), "{name}: {rel}");
            let streams: Vec<&str> = f["streams"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap())
                .collect();
            if streams.iter().any(|s| s.starts_with("STAN")) {
                assert_eq!(
                    xor32(&data),
                    stan_csums[with_data],
                    "{name}: {rel}: extracted bytes differ from what NTBackup checksummed"
                );
                with_data += 1;
            }
        }
        assert_eq!(with_data, stan_csums.len(), "{name}");
    }
}

/// The facts PROVENANCE.md lists for the Windows Server 2003 medium.
#[test]
fn the_boot_ini_medium_shows_what_independent_readers_report() {
    let Some(path) = samples()
        .into_iter()
        .find(|p| p.ends_with("ntbackup_2003_bootini.bkf"))
    else {
        return;
    };
    let paths = vec![path];
    let (_, label) = run_json(|o, w| dump::label::run(&paths, o, w));
    let l = &label["media"][0];
    assert_eq!(
        l["software_name"],
        "Backup Utility (NTBACKUP.EXE) Version 1.0 Rev. 3.41"
    );
    let description = l["media_description"].as_str().unwrap();
    assert!(description.contains("|NTBackup5.0|"), "{description}");
    assert_eq!(l["software_vendor_id"], 0x0cbe, "{l:#}");

    let (_, sets) = run_json(|o, w| dump::sets::run(&paths, o, w));
    let s = &sets["media_sets"][0]["sets"][0];
    assert!(s["start_date"].as_str().unwrap().starts_with("2012-11-19"));
    assert_eq!(s["set_map"]["files"], 1);
    assert_eq!(s["set_map"]["directories"], 1);

    let (_, ls) = run_json(|o, w| dump::ls::run(&paths, None, o, w));
    let entries = ls["sets"][0]["entries"].as_array().unwrap();
    let kinds: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (e["kind"].as_str().unwrap(), e["path"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [("volume", "C:"), ("dir", ""), ("file", "boot.ini")],
        "one volume C:, its root directory, one file"
    );
    let dir = &entries[1];
    let file = &entries[2];
    assert_eq!(file["size"], 210);
    assert_eq!(file["windows_attributes"], "hidden,system");
    let mut named: Vec<String> = [dir, file]
        .iter()
        .flat_map(|e| e["streams"].as_array().unwrap().iter())
        .map(|s| s.as_str().unwrap().split(' ').next().unwrap().to_string())
        .collect();
    named.sort();
    named.dedup();
    assert_eq!(named, ["CSUM", "NACL", "NTOI", "NTQU", "STAN"]);

    let (_, blocks) = run_json(|o, w| dump::blocks::run(&paths, o, w));
    let text = blocks.to_string();
    for id in ["TFDD", "TSMP"] {
        assert!(
            text.contains(id),
            "the set ends with its {id} catalog stream"
        );
    }
}

/// `extract` names every stream it did not restore, for directories as for files: each NT
/// stream `ls` lists on a DIRB (NTQU, NACL, NTOI ...) or on a FILE (NACL ...) is counted in the
/// report, directories apart. Only the file data (STAN), the CSUMs that check streams, and the
/// padding and name streams are restored or are not data.
#[test]
fn every_ntbackup_stream_not_restored_is_named_for_directories_and_files() {
    for path in samples() {
        let paths = vec![path.clone()];
        let name = path.display().to_string();
        let (_, ls) = run_json(|o, w| dump::ls::run(&paths, None, o, w));
        let mut expected = std::collections::BTreeMap::<String, u64>::new();
        for e in ls["sets"][0]["entries"].as_array().unwrap() {
            let suffix = match e["kind"].as_str().unwrap() {
                "dir" => " (on directories)",
                "file" => "",
                _ => continue,
            };
            for s in e["streams"].as_array().unwrap() {
                let id = s.as_str().unwrap().split(' ').next().unwrap();
                if !["STAN", "CSUM", "SPAD", "PNAM", "FNAM"].contains(&id) {
                    *expected.entry(format!("{id}{suffix}")).or_default() += 1;
                }
            }
        }
        assert!(
            expected.keys().any(|k| k.ends_with("(on directories)")),
            "{name}: NTBackup records its directories' security and quota streams: {expected:?}"
        );
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let (code, rep) = run_json(|o, w| dump::extract::run(&paths, 1, &out, &[], o, w));
        assert_eq!(code, 0, "{name}: {rep:#}");
        let got: std::collections::BTreeMap<String, u64> =
            serde_json::from_value(rep["streams_not_restored"].clone())
                .unwrap_or_else(|e| panic!("{name}: {e}: {rep:#}"));
        assert_eq!(got, expected, "{name}");
    }
}
