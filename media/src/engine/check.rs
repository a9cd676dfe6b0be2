//! The consistency check: every page's checksum, every allocation map against the pages the
//! tables use, every tree page's keys against its parent's separators (the index against its
//! rows), and a digest of the visible rows so two databases can be compared.
//!
//! The digest is SHA-256 over the rows of every filegroup (in the boot record's order, primary
//! first), each row in key order as: filegroup name, key, value, each preceded by its length
//! as a big-endian u32. Anyone holding the rows can compute it without this engine.

use std::collections::BTreeSet;

use sha2::{Digest, Sha256};

use super::alloc;
use super::btree::{Node, ROOT};
use super::db::Core;
use super::file::parse_header;
use super::page::PageType;
use super::Result;

/// A tree page to visit: its number, the key bounds its parent gives, its depth.
type Visit = (u32, Option<Vec<u8>>, Option<Vec<u8>>, usize);

/// What the check found.
#[derive(Debug, Clone)]
pub struct CheckReport {
    /// Visible rows.
    pub rows: u64,
    /// SHA-256 over the visible rows (see the module documentation).
    pub digest: [u8; 32],
    /// Pages read and checked.
    pub pages: u64,
    /// Every inconsistency, naming the file and page. Empty = consistent.
    pub problems: Vec<String>,
}

impl CheckReport {
    /// The digest in lowercase hex.
    pub fn digest_hex(&self) -> String {
        self.digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The digest of rows given as (filegroup, key, value) in order.
pub fn digest_rows<'a>(rows: impl IntoIterator<Item = (&'a str, &'a [u8], &'a [u8])>) -> [u8; 32] {
    let mut h = Sha256::new();
    for (fg, k, v) in rows {
        for part in [fg.as_bytes(), k, v] {
            h.update((part.len() as u32).to_be_bytes());
            h.update(part);
        }
    }
    h.finalize().into()
}

/// Checks the files on disk (the caller has written every dirty page out).
pub(crate) fn check(c: &mut Core) -> Result<CheckReport> {
    let mut problems = Vec::new();
    let mut pages = 0u64;
    let mut all_rows: Vec<(String, Vec<u8>, Vec<u8>)> = Vec::new();
    let groups = c.boot.filegroups.clone();
    for g in &groups {
        let f = c.pool.file(g.id)?;
        let path = f.path.display().to_string();
        let len = f.len_pages()?;
        pages += len;
        let mut bad = BTreeSet::new();
        for no in 0..len.min(u32::MAX as u64) as u32 {
            let p = f.read_raw(no)?;
            if let Err(e) = p.verify(super::page::PageId {
                file: g.id,
                page: no,
            }) {
                problems.push(format!("{path}: page {no}: {e}"));
                bad.insert(no);
            }
        }
        match f.read_page(0).ok().and_then(|p| parse_header(&p)) {
            Some((guid, id)) if guid == c.boot.db_guid && id == g.id => {}
            _ => problems.push(format!("{path}: page 0 is not this database's file header")),
        }
        let map = match f.read_page(alloc::ALLOC_PAGE) {
            Ok(m) if alloc::is_valid(&m) => m,
            _ => {
                problems.push(format!("{path}: page 1 is not a valid allocation map"));
                continue;
            }
        };
        // Walk the tree from the root: every page once, keys in order and within the bounds
        // its parent's separators give, leaves all at one depth.
        let mut reached = BTreeSet::from([0u32, alloc::ALLOC_PAGE]);
        let mut leaf_depth = None;
        let mut stack: Vec<Visit> = vec![(ROOT, None, None, 0)];
        let mut rows = Vec::new();
        while let Some((no, lo, hi, depth)) = stack.pop() {
            if !reached.insert(no) {
                problems.push(format!("{path}: page {no} is reached twice in the tree"));
                continue;
            }
            if bad.contains(&no) {
                continue;
            }
            if !alloc::is_allocated(&map, no) {
                problems.push(format!(
                    "{path}: page {no} is in the tree but free in the allocation map"
                ));
            }
            let p = f.read_raw(no)?;
            let ext = no / super::page::EXTENT_PAGES;
            if alloc::changed_lsn(&map, ext) < p.lsn() {
                problems.push(format!(
                    "{path}: page {no} has LSN {} but the allocation map says extent {ext} last changed at {}",
                    p.lsn(),
                    alloc::changed_lsn(&map, ext)
                ));
            }
            let Some(node) = Node::from_page(&p) else {
                problems.push(format!(
                    "{path}: page {no} is not a well-formed tree page ({:?})",
                    p.page_type()
                ));
                continue;
            };
            let in_bounds = |k: &[u8]| {
                lo.as_deref().is_none_or(|l| k >= l) && hi.as_deref().is_none_or(|h| k < h)
            };
            match node {
                Node::Leaf(r) => {
                    if *leaf_depth.get_or_insert(depth) != depth {
                        problems.push(format!(
                            "{path}: leaf page {no} at depth {depth}, others at {leaf_depth:?}"
                        ));
                    }
                    if r.windows(2).any(|w| w[0].0 >= w[1].0) {
                        problems.push(format!("{path}: leaf page {no}: keys out of order"));
                    }
                    if let Some((k, _)) = r.iter().find(|(k, _)| !in_bounds(k)) {
                        problems.push(format!(
                            "{path}: leaf page {no}: key {:?} outside the range its parent gives",
                            String::from_utf8_lossy(k)
                        ));
                    }
                    rows.extend(r);
                }
                Node::Internal { keys, children } => {
                    if keys.windows(2).any(|w| w[0] >= w[1]) || keys.iter().any(|k| !in_bounds(k)) {
                        problems.push(format!(
                            "{path}: interior page {no}: separators out of order or range"
                        ));
                    }
                    if depth > 64 {
                        problems.push(format!("{path}: tree deeper than 64 levels at page {no}"));
                        continue;
                    }
                    for i in (0..children.len()).rev() {
                        let clo = if i == 0 {
                            lo.clone()
                        } else {
                            Some(keys[i - 1].clone())
                        };
                        let chi = keys.get(i).cloned().or_else(|| hi.clone());
                        stack.push((children[i], clo, chi, depth + 1));
                    }
                }
            }
        }
        for no in alloc::allocated_pages(&map) {
            if !reached.contains(&no) {
                let ty = f.read_raw(no).ok().and_then(|p| p.page_type());
                if ty != Some(PageType::FileHeader) {
                    problems.push(format!(
                        "{path}: page {no} is allocated but not used by the table"
                    ));
                }
            }
        }
        rows.sort();
        if rows.windows(2).any(|w| w[0].0 == w[1].0) {
            problems.push(format!("{path}: a key appears twice"));
        }
        all_rows.extend(rows.into_iter().map(|(k, v)| (g.name.clone(), k, v)));
    }
    let digest = digest_rows(
        all_rows
            .iter()
            .map(|(g, k, v)| (g.as_str(), k.as_slice(), v.as_slice())),
    );
    Ok(CheckReport {
        rows: all_rows.len() as u64,
        digest,
        pages,
        problems,
    })
}
