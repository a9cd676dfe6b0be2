//! The allocation map: page 1 of every data file.
//!
//! It answers three questions without reading the data pages:
//! - which pages are in use (one bit per page), so allocation finds a free page and the
//!   consistency check can compare the map with the pages the tables reach;
//! - per extent (8 pages), the newest LSN that changed any page in it, so a differential backup
//!   asks "which extents changed since the full backup's LSN?" (SQL Server keeps a bitmap, the
//!   DCM, that a full backup clears; an LSN per extent answers the same question for any base
//!   and needs no clearing, so copy-only backups leave nothing to undo);
//! - per extent, whether a minimally logged (bulk) operation changed it since the last log
//!   backup (SQL Server's BCM), so a log backup under the bulk-logged model knows which extents
//!   it must copy because the log does not hold their contents.
//!
//! The change LSNs are maintained as a side effect of every page change (in normal work and in
//! redo) and are a maximum, so applying them twice is harmless; page allocation is logged.
//! One map page covers [`MAX_EXTENTS`] extents, which bounds a data file at 55 MiB.

use super::page::{Page, PageId, PageType, EXTENT_PAGES};

/// Extents one allocation map covers.
pub const MAX_EXTENTS: u32 = 880;
/// Pages one data file can hold.
pub const MAX_PAGES: u32 = MAX_EXTENTS * EXTENT_PAGES;
/// The allocation map's page number in every file.
pub const ALLOC_PAGE: u32 = 1;

const BITS: usize = 4;
const LSNS: usize = BITS + MAX_EXTENTS as usize;
const BULK: usize = LSNS + 8 * MAX_EXTENTS as usize;
const END: usize = BULK + MAX_EXTENTS as usize / 8;
const _: () = assert!(END <= super::page::BODY);

/// A fresh allocation map for a file, with pages 0 (header), 1 (this map) and 2 (the table's
/// root) in use.
pub fn new_map(file: u16) -> Page {
    let mut p = Page::new(
        PageId {
            file,
            page: ALLOC_PAGE,
        },
        PageType::AllocMap,
    );
    p.body_mut()[0..4].copy_from_slice(&MAX_EXTENTS.to_le_bytes());
    for pg in 0..3 {
        set_allocated(&mut p, pg, true);
    }
    p
}

/// Bit `i` of the bitmap starting at body offset `at`.
fn bit(map: &Page, at: usize, i: u32) -> bool {
    map.body()[at + (i / 8) as usize] & (1 << (i % 8)) != 0
}

fn set_bit(map: &mut Page, at: usize, i: u32, on: bool) {
    let b = &mut map.body_mut()[at + (i / 8) as usize];
    if on {
        *b |= 1 << (i % 8);
    } else {
        *b &= !(1 << (i % 8));
    }
}

/// Whether a page is in use.
pub fn is_allocated(map: &Page, page: u32) -> bool {
    page < MAX_PAGES && bit(map, BITS, page)
}

/// Marks a page in use or free.
pub fn set_allocated(map: &mut Page, page: u32, on: bool) {
    if page < MAX_PAGES {
        set_bit(map, BITS, page, on);
    }
}

/// The lowest free page, if any.
pub fn first_free(map: &Page) -> Option<u32> {
    (0..MAX_EXTENTS as usize).find_map(|e| {
        let b = map.body()[BITS + e];
        (b != 0xFF).then(|| e as u32 * 8 + b.trailing_ones())
    })
}

/// The pages in use.
pub fn allocated_pages(map: &Page) -> Vec<u32> {
    (0..MAX_PAGES).filter(|&p| is_allocated(map, p)).collect()
}

/// The newest LSN that changed a page of the extent (0 = none since the file was created).
pub fn changed_lsn(map: &Page, extent: u32) -> u64 {
    let o = LSNS + 8 * extent as usize;
    u64::from_le_bytes(map.body()[o..o + 8].try_into().unwrap())
}

/// Records that a page changed at `lsn` (keeps the maximum). Returns whether the map changed.
pub fn note_change(map: &mut Page, page: u32, lsn: u64) -> bool {
    if page >= MAX_PAGES {
        return false;
    }
    let o = LSNS + 8 * (page / EXTENT_PAGES) as usize;
    if changed_lsn(map, page / EXTENT_PAGES) >= lsn {
        return false;
    }
    map.body_mut()[o..o + 8].copy_from_slice(&lsn.to_le_bytes());
    true
}

/// Whether a minimally logged operation changed the extent since the last log backup.
pub fn bulk_changed(map: &Page, extent: u32) -> bool {
    extent < MAX_EXTENTS && bit(map, BULK, extent)
}

/// Marks an extent as changed by a minimally logged operation, or clears the mark.
pub fn set_bulk_changed(map: &mut Page, extent: u32, on: bool) {
    if extent < MAX_EXTENTS {
        set_bit(map, BULK, extent, on);
    }
}

/// Whether the page is a well-formed map (its capacity field matches this engine's).
pub fn is_valid(map: &Page) -> bool {
    map.page_type() == Some(PageType::AllocMap) && map.body()[0..4] == MAX_EXTENTS.to_le_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_and_change_tracking() {
        let mut m = new_map(3);
        assert_eq!(first_free(&m), Some(3));
        set_allocated(&mut m, 3, true);
        set_allocated(&mut m, 4, true);
        assert_eq!(first_free(&m), Some(5));
        set_allocated(&mut m, 3, false);
        assert_eq!(first_free(&m), Some(3));
        assert_eq!(allocated_pages(&m), vec![0, 1, 2, 4]);
        assert!(note_change(&mut m, 17, 500));
        assert!(!note_change(&mut m, 16, 400), "the maximum is kept");
        assert_eq!(changed_lsn(&m, 2), 500);
        assert_eq!(changed_lsn(&m, 1), 0);
        set_bulk_changed(&mut m, 9, true);
        assert!(bulk_changed(&m, 9) && !bulk_changed(&m, 8));
        for p in 0..MAX_PAGES {
            set_allocated(&mut m, p, true);
        }
        assert_eq!(first_free(&m), None);
    }
}
