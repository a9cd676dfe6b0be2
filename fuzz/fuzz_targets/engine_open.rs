//! The reference engine opening a database that an attacker has written into: records with
//! right lengths, LSNs and CRCs but any contents appended to its log, or a page of its primary
//! file rewritten with any contents and a right checksum and id. Opening (with recovery), a
//! read and the consistency check return a result or a typed error; never a panic, an endless
//! loop, or an allocation sized by a field.
#![no_main]

use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
// Links the counting allocator (and its allocation limit).
use media::engine::page::{crc32c, Page, PAGE_SIZE};
use media::engine::wal::FILE_HEADER;
use media::engine::{Database, RecoveryModel};
use mtf_fuzz as _;

/// A small database (a few leaves, a split) made once: the files every run starts from.
fn template() -> &'static (tempfile::TempDir, PathBuf) {
    static T: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    T.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("db");
        let db = Database::create(&d, "fuzz", RecoveryModel::Full, &[]).unwrap();
        for i in 0..300u32 {
            db.run(|t| t.put("PRIMARY", format!("k{i:05}").as_bytes(), &[b'v'; 40]))
                .unwrap();
        }
        db.close().unwrap();
        (tmp, d)
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (_, src) = template();
    let work = tempfile::tempdir().unwrap();
    let d = work.path().join("db");
    std::fs::create_dir(&d).unwrap();
    for f in ["primary.mdf", "log.ldf"] {
        // Read and written, not `fs::copy`: its copy_file_range gave up with EINTR when
        // libFuzzer's timer signal came (a CI run's finding), where read and write_all retry.
        std::fs::write(d.join(f), std::fs::read(src.join(f)).unwrap()).unwrap();
    }
    if mode % 2 == 0 {
        // Records appended to the log: each `len` from two bytes, its LSN field naming its
        // place, its CRC right; the rest as the input says.
        let log = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(d.join("log.ldf"))
            .unwrap();
        let mut h = [0u8; 1024];
        log.read_exact_at(&mut h, 0).unwrap();
        let slot = |o: usize| {
            (
                u64::from_le_bytes(h[o + 8..o + 16].try_into().unwrap()),
                u64::from_le_bytes(h[o + 32..o + 40].try_into().unwrap()),
            )
        };
        let (a, b) = (slot(0), slot(512));
        let base = if a.0 >= b.0 { a.1 } else { b.1 };
        let mut at = log.metadata().unwrap().len();
        let mut rest = rest;
        while rest.len() >= 2 {
            let want = u16::from_le_bytes([rest[0], rest[1]]) as usize;
            rest = &rest[2..];
            let n = want.clamp(29, 29.max(rest.len() + 16));
            let mut rec = vec![0u8; n];
            let body = rest.len().min(n - 16);
            rec[16..16 + body].copy_from_slice(&rest[..body]);
            rest = &rest[body..];
            let lsn = base + (at - FILE_HEADER);
            rec[0..4].copy_from_slice(&(n as u32).to_le_bytes());
            rec[8..16].copy_from_slice(&lsn.to_le_bytes());
            let c = crc32c(&rec[8..]);
            rec[4..8].copy_from_slice(&c.to_le_bytes());
            log.write_all_at(&rec, at).unwrap();
            at += n as u64;
        }
    } else {
        // One page of the primary file rewritten: any type and contents, its id and checksum
        // right (so it passes the page check and reaches the decoders).
        let Some((no, body)) = rest.split_first_chunk::<4>() else {
            return;
        };
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(d.join("primary.mdf"))
            .unwrap();
        let pages = f.metadata().unwrap().len() / PAGE_SIZE as u64;
        let no = (u32::from_le_bytes(*no) as u64 % pages) as u32;
        let mut p = Page::zeroed();
        f.read_exact_at(&mut p.0[..], no as u64 * PAGE_SIZE as u64)
            .unwrap();
        let n = body.len().min(PAGE_SIZE - 20);
        p.0[4] = body.first().copied().unwrap_or(0) % 6;
        p.0[20..20 + n.saturating_sub(1)].copy_from_slice(&body[n.min(1)..n]);
        p.seal();
        f.write_all_at(&p.0[..], no as u64 * PAGE_SIZE as u64)
            .unwrap();
    }
    if let Ok(db) = Database::open(&d) {
        let _ = db.get("PRIMARY", b"k00150");
        let _ = db.check();
        let _ = db.run(|t| t.put("PRIMARY", b"k00151", b"after"));
        let _ = db.close();
    }
});
