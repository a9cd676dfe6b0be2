//! The table: a B+tree per filegroup, rows (key, value) in its leaves, separator keys in its
//! interior nodes. The root is always page 2 of the filegroup's first file, so nothing needs to
//! remember where it is: when the root splits, its contents move down into two new pages. The
//! other pages may be in any of the filegroup's files (children are `FILE:PAGE` addresses);
//! new pages go to the files in turn ([`Core::allocate`](super::db::Core)).
//!
//! Row changes are logged as physiological records (one leaf page, the row's key, its value
//! before and after); splits are logged as one structure-change record with the after-images
//! of every page they touch, so a split is redone whole or not at all and never undone (it
//! does not change what the table holds). Pages are not merged after deletes: an empty leaf
//! stays in the tree, which keeps every structure change a split.

use super::codec::Dec;
use super::db::Core;
use super::page::{Page, PageId, PageType, BODY};
use super::wal::{RecordBody, SmoOp};
use super::{Error, Result};

/// The root page's number in every filegroup's file.
pub const ROOT: u32 = 2;
/// The longest key.
pub const MAX_KEY: usize = 512;
/// The longest value.
pub const MAX_VALUE: usize = 2048;

/// A decoded tree page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    /// Rows, sorted by key.
    Leaf(Vec<(Vec<u8>, Vec<u8>)>),
    /// `children[i]` holds the keys from `keys[i-1]` (inclusive) to `keys[i]` (exclusive).
    Internal {
        /// Separators, sorted.
        keys: Vec<Vec<u8>>,
        /// Child pages (in any file of the filegroup), one more than the keys.
        children: Vec<PageId>,
    },
}

fn entry_size(k: &[u8], v: &[u8]) -> usize {
    4 + k.len() + v.len()
}

impl Node {
    /// An empty leaf.
    pub fn empty() -> Node {
        Node::Leaf(Vec::new())
    }

    /// Bytes the node takes in a page body.
    pub fn size(&self) -> usize {
        match self {
            Node::Leaf(rows) => 2 + rows.iter().map(|(k, v)| entry_size(k, v)).sum::<usize>(),
            Node::Internal { keys, .. } => 8 + keys.iter().map(|k| 8 + k.len()).sum::<usize>(),
        }
    }

    /// The node as a page.
    pub fn to_page(&self, id: PageId) -> Page {
        let ty = match self {
            Node::Leaf(_) => PageType::Leaf,
            Node::Internal { .. } => PageType::Internal,
        };
        let mut p = Page::new(id, ty);
        let mut out = Vec::with_capacity(self.size());
        match self {
            Node::Leaf(rows) => {
                out.extend_from_slice(&(rows.len() as u16).to_le_bytes());
                for (k, v) in rows {
                    out.extend_from_slice(&(k.len() as u16).to_le_bytes());
                    out.extend_from_slice(&(v.len() as u16).to_le_bytes());
                    out.extend_from_slice(k);
                    out.extend_from_slice(v);
                }
            }
            Node::Internal { keys, children } => {
                let child = |out: &mut Vec<u8>, c: &PageId| {
                    out.extend_from_slice(&c.file.to_le_bytes());
                    out.extend_from_slice(&c.page.to_le_bytes());
                };
                out.extend_from_slice(&(keys.len() as u16).to_le_bytes());
                child(&mut out, &children[0]);
                for (k, c) in keys.iter().zip(&children[1..]) {
                    out.extend_from_slice(&(k.len() as u16).to_le_bytes());
                    out.extend_from_slice(k);
                    child(&mut out, c);
                }
            }
        }
        debug_assert!(out.len() <= BODY);
        p.body_mut()[..out.len()].copy_from_slice(&out);
        p
    }

    /// Decodes a tree page; `None` if it is not one or is malformed.
    pub fn from_page(p: &Page) -> Option<Node> {
        let mut d = Dec::new(p.body());
        match p.page_type()? {
            PageType::Leaf => {
                let n = d.u16()?;
                let mut rows = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    let (kl, vl) = (d.u16()? as usize, d.u16()? as usize);
                    // Longer than this engine writes: not its page (and the split rules rely
                    // on the limits).
                    if kl > MAX_KEY || vl > MAX_VALUE {
                        return None;
                    }
                    rows.push((d.take(kl)?.to_vec(), d.take(vl)?.to_vec()));
                }
                Some(Node::Leaf(rows))
            }
            PageType::Internal => {
                let child = |d: &mut Dec| {
                    Some(PageId {
                        file: d.u16()?,
                        page: d.u32()?,
                    })
                };
                let n = d.u16()?;
                let mut children = vec![child(&mut d)?];
                let mut keys = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    let kl = d.u16()? as usize;
                    if kl > MAX_KEY {
                        return None;
                    }
                    keys.push(d.take(kl)?.to_vec());
                    children.push(child(&mut d)?);
                }
                Some(Node::Internal { keys, children })
            }
            _ => None,
        }
    }

    /// Sets (`Some`) or removes (`None`) a row in a leaf.
    pub fn leaf_set(&mut self, key: &[u8], value: Option<&[u8]>) {
        if let Node::Leaf(rows) = self {
            match (rows.binary_search_by(|(k, _)| k.as_slice().cmp(key)), value) {
                (Ok(i), Some(v)) => rows[i].1 = v.to_vec(),
                (Ok(i), None) => {
                    rows.remove(i);
                }
                (Err(i), Some(v)) => rows.insert(i, (key.to_vec(), v.to_vec())),
                (Err(_), None) => {}
            }
        }
    }

    /// The value of a key in a leaf.
    pub fn leaf_get(&self, key: &[u8]) -> Option<&[u8]> {
        match self {
            Node::Leaf(rows) => rows
                .binary_search_by(|(k, _)| k.as_slice().cmp(key))
                .ok()
                .map(|i| rows[i].1.as_slice()),
            Node::Internal { .. } => None,
        }
    }

    /// The child to follow for a key.
    fn child_for(&self, key: &[u8]) -> Option<PageId> {
        match self {
            Node::Internal { keys, children } => {
                Some(children[keys.partition_point(|k| k.as_slice() <= key)])
            }
            Node::Leaf(_) => None,
        }
    }

    /// Splits an over-full node in two halves by size: (left, separator, right).
    fn split(self) -> (Node, Vec<u8>, Node) {
        let half = self.size() / 2;
        match self {
            Node::Leaf(mut rows) => {
                let mut acc = 2;
                let mut at = rows.len() - 1;
                for (i, (k, v)) in rows.iter().enumerate() {
                    acc += entry_size(k, v);
                    if acc >= half {
                        at = (i + 1).clamp(1, rows.len() - 1);
                        break;
                    }
                }
                let right = rows.split_off(at);
                let sep = right[0].0.clone();
                (Node::Leaf(rows), sep, Node::Leaf(right))
            }
            Node::Internal {
                mut keys,
                mut children,
            } => {
                let mut acc = 8;
                let mut at = keys.len() / 2;
                for (i, k) in keys.iter().enumerate() {
                    acc += 8 + k.len();
                    if acc >= half {
                        at = i.clamp(1, keys.len() - 2);
                        break;
                    }
                }
                let rkeys = keys.split_off(at + 1);
                let sep = keys.pop().expect("at least one key left of the middle");
                let rchildren = children.split_off(at + 1);
                (
                    Node::Internal { keys, children },
                    sep,
                    Node::Internal {
                        keys: rkeys,
                        children: rchildren,
                    },
                )
            }
        }
    }
}

/// Checks a key and value against the limits.
pub fn check_row(key: &[u8], value: Option<&[u8]>) -> Result<()> {
    if key.is_empty() || key.len() > MAX_KEY {
        return Err(Error::Invalid(format!(
            "key length {} (1..={MAX_KEY})",
            key.len()
        )));
    }
    if let Some(v) = value {
        if v.len() > MAX_VALUE {
            return Err(Error::Invalid(format!(
                "value length {} (max {MAX_VALUE})",
                v.len()
            )));
        }
    }
    Ok(())
}

impl Core {
    fn node(&mut self, id: PageId) -> Result<Node> {
        let path = self.pool.file(id.file)?.path.clone();
        let f = self.pool.frame(id)?;
        Node::from_page(&f.page).ok_or_else(|| {
            Error::corrupt(
                path,
                format!("page {}: not a well-formed tree page", id.page),
            )
        })
    }

    /// The pages from the root to the leaf that holds (or would hold) `key`.
    fn path_to(&mut self, table: u16, key: &[u8]) -> Result<Vec<(PageId, Node)>> {
        let mut path = Vec::new();
        let mut no = root(table);
        loop {
            let n = self.node(no)?;
            let next = n.child_for(key);
            path.push((no, n));
            match next {
                Some(c) if path.len() < 64 => no = c,
                Some(_) => {
                    let p = self.pool.file(table)?.path.clone();
                    return Err(Error::corrupt(p, "tree deeper than 64 levels (a cycle?)"));
                }
                None => return Ok(path),
            }
        }
    }

    /// The value of a key.
    pub fn tree_get(&mut self, table: u16, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let path = self.path_to(table, key)?;
        Ok(path
            .last()
            .and_then(|(_, n)| n.leaf_get(key))
            .map(<[u8]>::to_vec))
    }

    /// Rows with keys in `[from, to)` (unbounded where `None`), in key order.
    pub fn tree_scan(
        &mut self,
        table: u16,
        from: Option<&[u8]>,
        to: Option<&[u8]>,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.tree_walk(table, from, to, &mut Vec::new())
    }

    /// The rows with keys in `[from, to)`, and in `pages` the tree pages visited.
    pub(crate) fn tree_walk(
        &mut self,
        table: u16,
        from: Option<&[u8]>,
        to: Option<&[u8]>,
        pages: &mut Vec<PageId>,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut out = Vec::new();
        let mut stack = vec![(root(table), 0usize)];
        let mut seen = std::collections::HashSet::new();
        while let Some((no, depth)) = stack.pop() {
            if depth > 64 || !seen.insert(no) {
                let p = self.pool.file(table)?.path.clone();
                return Err(Error::corrupt(
                    p,
                    format!("page {no} reached twice, or the tree is deeper than 64 levels"),
                ));
            }
            pages.push(no);
            match self.node(no)? {
                Node::Leaf(rows) => out.extend(rows.into_iter().filter(|(k, _)| {
                    from.is_none_or(|f| k.as_slice() >= f) && to.is_none_or(|t| k.as_slice() < t)
                })),
                Node::Internal { keys, children } => {
                    // Push right to left so the leftmost child is visited first.
                    for i in (0..children.len()).rev() {
                        let lo = if i == 0 {
                            None
                        } else {
                            Some(keys[i - 1].as_slice())
                        };
                        let hi = keys.get(i).map(Vec::as_slice);
                        let before_from = matches!((hi, from), (Some(h), Some(f)) if h <= f);
                        let after_to = matches!((lo, to), (Some(l), Some(t)) if l >= t);
                        if !before_from && !after_to {
                            stack.push((children[i], depth + 1));
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// Sets or removes a row for a transaction, logging an update (or, in undo, a compensation
    /// record with `undo_next`). Splits the leaf first when the row does not fit.
    pub fn tree_set(
        &mut self,
        txn: u64,
        table: u16,
        key: &[u8],
        value: Option<&[u8]>,
        clr_undo_next: Option<u64>,
    ) -> Result<()> {
        loop {
            let path = self.path_to(table, key)?;
            let (page, leaf) = path.last().expect("a path has a leaf");
            let before = leaf.leaf_get(key).map(<[u8]>::to_vec);
            if before.is_none() && value.is_none() && clr_undo_next.is_none() {
                return Ok(());
            }
            let old = before.as_ref().map_or(0, |b| entry_size(key, b));
            let new = value.map_or(0, |v| entry_size(key, v));
            if leaf.size() - old + new > BODY {
                self.split(table, path)?;
                continue;
            }
            let page = *page;
            let after = value.map(<[u8]>::to_vec);
            let body = match clr_undo_next {
                None => RecordBody::Update {
                    page,
                    key: key.to_vec(),
                    before,
                    after,
                },
                Some(undo_next) => RecordBody::Clr {
                    page,
                    key: key.to_vec(),
                    after,
                    undo_next,
                },
            };
            self.log_txn(txn, body)?;
            return Ok(());
        }
    }

    /// Splits the last node of `path` (and its ancestors as needed), as one logged structure
    /// change.
    fn split(&mut self, table: u16, mut path: Vec<(PageId, Node)>) -> Result<()> {
        let mut a = super::db::Allocation::default();
        let mut images: Vec<(PageId, Node)> = Vec::new();
        let (mut no, mut node) = path.pop().expect("a path has a leaf");
        loop {
            let (left, sep, right) = node.split();
            let Some((parent_no, mut parent)) = path.pop() else {
                // The root: its halves move to two new pages, it becomes their parent.
                let l = self.allocate(table, &mut a)?;
                let r = self.allocate(table, &mut a)?;
                images.push((l, left));
                images.push((r, right));
                images.push((
                    no,
                    Node::Internal {
                        keys: vec![sep],
                        children: vec![l, r],
                    },
                ));
                break;
            };
            let r = self.allocate(table, &mut a)?;
            images.push((no, left));
            images.push((r, right));
            if let Node::Internal { keys, children } = &mut parent {
                let at = children
                    .iter()
                    .position(|&c| c == no)
                    .expect("child is in its parent");
                keys.insert(at, sep);
                children.insert(at + 1, r);
            }
            if parent.size() <= BODY {
                images.push((parent_no, parent));
                break;
            }
            (no, node) = (parent_no, parent);
        }
        let mut ops = a.into_ops();
        for (id, n) in images {
            ops.push(SmoOp::Image(n.to_page(id)));
        }
        self.log_system(RecordBody::Smo {
            ops,
            bulk: Vec::new(),
        })?;
        Ok(())
    }
}

/// The root page of a filegroup's table: page [`ROOT`] of its first file.
pub fn root(table: u16) -> PageId {
    PageId {
        file: table,
        page: ROOT,
    }
}
