//! The consistency check: every page's checksum, every allocation map of every data file
//! against the pages the tables use (in any of their filegroup's files), every tree page's
//! keys against its parent's separators (the index against its rows), and a digest of the
//! visible rows so two databases can be compared.
//!
//! The digest is SHA-256 over the rows of every filegroup (in the boot record's order, primary
//! first), each row in key order as: filegroup name, key, value, each preceded by its length
//! as a big-endian u32. Anyone holding the rows can compute it without this engine.

use std::collections::{BTreeSet, HashMap};

use sha2::{Digest, Sha256};

use super::alloc;
use super::btree::{self, Node};
use super::db::Core;
use super::file::parse_header;
use super::page::{Page, PageId};
use super::Result;

/// A tree page to visit: its address, the key bounds its parent gives, its depth.
type Visit = (PageId, Option<Vec<u8>>, Option<Vec<u8>>, usize);

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
    let layout = c.layout;
    let log_end = c.log.end();
    // An offline filegroup's files are not checked (they may be missing until restored).
    for g in groups.iter().filter(|g| g.offline.is_none()) {
        // Every file of the filegroup: checksums, header, maps.
        let mut bad = BTreeSet::new();
        let mut maps: HashMap<u16, Vec<Page>> = HashMap::new();
        let mut paths: HashMap<u16, String> = HashMap::new();
        for fid in c.boot.files_of(g.id) {
            let f = c.pool.file(fid)?;
            let path = f.path.display().to_string();
            let len = f.len_pages()?.min(u32::MAX as u64) as u32;
            pages += len as u64;
            for no in 0..len {
                let p = f.read_raw(no)?;
                let verified = p.verify(PageId {
                    file: fid,
                    page: no,
                });
                // A page goes to disk only after the log up to its LSN (the write-ahead rule;
                // a bulk load flushes the log before it writes its pages): a page newer than
                // the log's end means the log lost records that were durable (cut, or an
                // older copy put back), and with them, perhaps, commits that the pages on
                // disk no longer show.
                if verified.is_ok() && p.lsn() >= log_end {
                    problems.push(format!(
                        "{path}: page {no} has LSN {} at or past the end of the log ({log_end}): the log has lost records",
                        p.lsn()
                    ));
                }
                if let Err(e) = verified {
                    problems.push(format!("{path}: page {no}: {e}"));
                    bad.insert(PageId {
                        file: fid,
                        page: no,
                    });
                }
            }
            match f.read_page(0).ok().and_then(|p| parse_header(&p)) {
                Some((guid, id)) if guid == c.boot.db_guid && id == fid => {}
                _ => problems.push(format!("{path}: page 0 is not this database's file header")),
            }
            // A map at the place of every interval the file reaches (and the first one always).
            let intervals = len.saturating_sub(1) / layout.pages() + 1;
            let mut file_maps = Vec::new();
            for k in 0..intervals {
                let no = layout.map_page(k);
                match f.read_page(no) {
                    Ok(m) if alloc::is_valid(&m, layout) => file_maps.push(m),
                    _ if no >= len => problems.push(format!(
                        "{path}: ends at page {len}, before its allocation map at page {no}"
                    )),
                    _ => problems.push(format!(
                        "{path}: page {no} is not a valid allocation map (interval {k})"
                    )),
                }
            }
            maps.insert(fid, file_maps);
            paths.insert(fid, path);
        }
        let map_of = |id: PageId| {
            maps.get(&id.file)
                .and_then(|ms| ms.iter().find(|m| m.id().page == layout.map_for(id.page)))
        };
        let name = |id: PageId| {
            format!(
                "{}: page {}",
                paths.get(&id.file).map_or("?", String::as_str),
                id.page
            )
        };
        // Walk the tree from the root: every page once, keys in order and within the bounds
        // its parent's separators give, leaves all at one depth, every page in the filegroup.
        let mut reached: BTreeSet<PageId> = BTreeSet::new();
        let mut leaf_depth = None;
        let mut stack: Vec<Visit> = vec![(btree::root(g.id), None, None, 0)];
        let mut rows = Vec::new();
        while let Some((id, lo, hi, depth)) = stack.pop() {
            let at = name(id);
            if !paths.contains_key(&id.file) {
                problems.push(format!(
                    "filegroup {}: the tree points to page {id}, outside the filegroup's files",
                    g.name
                ));
                continue;
            }
            if !reached.insert(id) {
                problems.push(format!("{at} is reached twice in the tree"));
                continue;
            }
            if bad.contains(&id) {
                continue;
            }
            let Some(map) = map_of(id) else {
                problems.push(format!(
                    "{at} is in the tree but past the file's allocation maps"
                ));
                continue;
            };
            if !alloc::is_allocated(map, id.page) || layout.is_map(id.page) || id.page == 0 {
                problems.push(format!(
                    "{at} is in the tree but free in the allocation map (or not a data page)"
                ));
            }
            let ext = id.page / super::page::EXTENT_PAGES;
            let changed = alloc::changed_lsn(map, ext);
            let p = c.pool.file(id.file)?.read_raw(id.page)?;
            if changed < p.lsn() {
                problems.push(format!(
                    "{at} has LSN {} but the allocation map says extent {ext} last changed at {changed}",
                    p.lsn(),
                ));
            }

            let Some(node) = Node::from_page(&p) else {
                problems.push(format!(
                    "{at} is not a well-formed tree page ({:?})",
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
                            "{at}: a leaf at depth {depth}, others at {leaf_depth:?}"
                        ));
                    }
                    if r.windows(2).any(|w| w[0].0 >= w[1].0) {
                        problems.push(format!("{at}: leaf keys out of order"));
                    }
                    if let Some((k, _)) = r.iter().find(|(k, _)| !in_bounds(k)) {
                        problems.push(format!(
                            "{at}: leaf key {:?} outside the range its parent gives",
                            String::from_utf8_lossy(k)
                        ));
                    }
                    rows.extend(r);
                }
                Node::Internal { keys, children } => {
                    if keys.windows(2).any(|w| w[0] >= w[1]) || keys.iter().any(|k| !in_bounds(k)) {
                        problems.push(format!("{at}: interior separators out of order or range"));
                    }
                    if depth > 64 {
                        problems.push(format!("{at}: tree deeper than 64 levels"));
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
        // Every page a map says is in use is the file header, a map, or a page of the tree.
        for (fid, file_maps) in &maps {
            for m in file_maps {
                for no in alloc::allocated_pages(m) {
                    let id = PageId {
                        file: *fid,
                        page: no,
                    };
                    if no != 0 && !layout.is_map(no) && !reached.contains(&id) {
                        problems.push(format!(
                            "{} is allocated but not used by the table",
                            name(id)
                        ));
                    }
                }
                if !alloc::is_allocated(m, m.id().page) {
                    problems.push(format!(
                        "{}: the allocation map is free in itself",
                        name(m.id())
                    ));
                }
            }
        }
        rows.sort();
        if rows.windows(2).any(|w| w[0].0 == w[1].0) {
            problems.push(format!("filegroup {}: a key appears twice", g.name));
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
