//! Allocation maps: one map page per interval of a data file, at a fixed place.
//!
//! A data file is cut into intervals of [`MapLayout::extents`] extents (at most
//! [`MAX_EXTENTS`], which one map page can describe: 55 MiB of data). The map of interval `k`
//! is page `k × interval pages + 1` (for the first interval, page 1, after the file header), so
//! any page's map is found by arithmetic, the way SQL Server finds a page's GAM, DCM and BCM
//! (one of each per 4 GB interval). A file grows one interval at a time: the next map page is
//! written, as a logged image, in the same structure change as the first allocation it serves.
//!
//! Each map answers three questions without reading the data pages:
//! - which pages of its interval are in use (one bit per page), so allocation finds a free page
//!   and the consistency check can compare the maps with the pages the tables reach;
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
//! The functions here take and return page and extent numbers of the whole file; a map knows
//! its own interval from its page id and its capacity field.

use super::page::{Page, PageId, PageType, EXTENT_PAGES};

/// Extents one allocation map page can describe (the largest interval).
pub const MAX_EXTENTS: u32 = 880;
/// The first allocation map's page number in every file.
pub const ALLOC_PAGE: u32 = 1;

const BITS: usize = 4;
const LSNS: usize = BITS + MAX_EXTENTS as usize;
const BULK: usize = LSNS + 8 * MAX_EXTENTS as usize;
const END: usize = BULK + MAX_EXTENTS as usize / 8;
const _: () = assert!(END <= super::page::BODY);

/// Where a database's allocation maps are: the interval size, fixed when the database is
/// created (small intervals let tests cross many maps with small files).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapLayout {
    /// Extents per interval (1..=[`MAX_EXTENTS`]).
    pub extents: u32,
}

impl Default for MapLayout {
    fn default() -> Self {
        MapLayout {
            extents: MAX_EXTENTS,
        }
    }
}

impl MapLayout {
    /// A layout, if the interval is one a map page can describe.
    pub fn new(extents: u32) -> Option<MapLayout> {
        (1..=MAX_EXTENTS)
            .contains(&extents)
            .then_some(MapLayout { extents })
    }
    /// Pages per interval.
    pub fn pages(self) -> u32 {
        self.extents * EXTENT_PAGES
    }
    /// The page number of interval `k`'s map.
    pub fn map_page(self, k: u32) -> u32 {
        k * self.pages() + 1
    }
    /// The interval a page is in.
    pub fn interval(self, page: u32) -> u32 {
        page / self.pages()
    }
    /// The map page that describes a page.
    pub fn map_for(self, page: u32) -> u32 {
        self.map_page(self.interval(page))
    }
    /// Whether a page number is a map's place.
    pub fn is_map(self, page: u32) -> bool {
        page % self.pages() == 1
    }
    /// How many intervals a file may have (page numbers stay within `u32`; at the default
    /// interval that is 32 TiB, far past the 64 GiB this engine is tested for).
    pub fn max_maps(self) -> u32 {
        u32::MAX / self.pages()
    }
}

/// A fresh allocation map at page `id` for an interval of `extents` extents, with its own page
/// in use (the caller marks the file header and the root in the first interval).
pub fn new_map(id: PageId, extents: u32) -> Page {
    let mut p = Page::new(id, PageType::AllocMap);
    p.body_mut()[0..4].copy_from_slice(&extents.min(MAX_EXTENTS).to_le_bytes());
    set_allocated(&mut p, id.page, true);
    p
}

/// The extents the map describes, as stored (capped at what a page holds).
fn capacity(map: &Page) -> u32 {
    u32::from_le_bytes(map.body()[0..4].try_into().expect("4 bytes")).min(MAX_EXTENTS)
}

/// The first page of the map's interval.
fn base(map: &Page) -> u32 {
    map.id().page.saturating_sub(1)
}

/// A file page's index within the map's interval, if the map describes it.
fn local_page(map: &Page, page: u32) -> Option<u32> {
    page.checked_sub(base(map))
        .filter(|&l| l < capacity(map) * EXTENT_PAGES)
}

/// A file extent's index within the map's interval, if the map describes it.
fn local_extent(map: &Page, extent: u32) -> Option<u32> {
    extent
        .checked_sub(base(map) / EXTENT_PAGES)
        .filter(|&l| l < capacity(map))
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

/// Whether a page is in use (false for a page the map does not describe).
pub fn is_allocated(map: &Page, page: u32) -> bool {
    local_page(map, page).is_some_and(|l| bit(map, BITS, l))
}

/// Marks a page in use or free (a page the map does not describe is ignored).
pub fn set_allocated(map: &mut Page, page: u32, on: bool) {
    if let Some(l) = local_page(map, page) {
        set_bit(map, BITS, l, on);
    }
}

/// The lowest free page of the interval, if any.
pub fn first_free(map: &Page) -> Option<u32> {
    (0..capacity(map) as usize).find_map(|e| {
        let b = map.body()[BITS + e];
        (b != 0xFF).then(|| base(map) + e as u32 * 8 + b.trailing_ones())
    })
}

/// The pages in use.
pub fn allocated_pages(map: &Page) -> Vec<u32> {
    (0..capacity(map) * EXTENT_PAGES)
        .filter(|&l| bit(map, BITS, l))
        .map(|l| base(map) + l)
        .collect()
}

/// The file extents the map describes.
pub fn extents(map: &Page) -> std::ops::Range<u32> {
    let first = base(map) / EXTENT_PAGES;
    first..first + capacity(map)
}

/// The newest LSN that changed a page of the extent (0 = none since the interval was made, or
/// an extent the map does not describe).
pub fn changed_lsn(map: &Page, extent: u32) -> u64 {
    let Some(l) = local_extent(map, extent) else {
        return 0;
    };
    let o = LSNS + 8 * l as usize;
    u64::from_le_bytes(map.body()[o..o + 8].try_into().expect("8 bytes"))
}

/// Records that a page changed at `lsn` (keeps the maximum). Returns whether the map changed.
pub fn note_change(map: &mut Page, page: u32, lsn: u64) -> bool {
    let Some(l) = local_page(map, page) else {
        return false;
    };
    let ext = page / EXTENT_PAGES;
    if changed_lsn(map, ext) >= lsn {
        return false;
    }
    let o = LSNS + 8 * (l / EXTENT_PAGES) as usize;
    map.body_mut()[o..o + 8].copy_from_slice(&lsn.to_le_bytes());
    true
}

/// Whether a minimally logged operation changed the extent since the last log backup.
pub fn bulk_changed(map: &Page, extent: u32) -> bool {
    local_extent(map, extent).is_some_and(|l| bit(map, BULK, l))
}

/// Marks an extent as changed by a minimally logged operation, or clears the mark.
pub fn set_bulk_changed(map: &mut Page, extent: u32, on: bool) {
    if let Some(l) = local_extent(map, extent) {
        set_bit(map, BULK, l, on);
    }
}

/// Clears every bulk-changed mark; returns whether there were any.
pub fn clear_bulk_changed(map: &mut Page) -> bool {
    let any = extents(map).any(|e| bulk_changed(map, e));
    for e in extents(map) {
        set_bulk_changed(map, e, false);
    }
    any
}

/// Whether the page is a well-formed map of the layout (its type, place and capacity field).
pub fn is_valid(map: &Page, layout: MapLayout) -> bool {
    map.page_type() == Some(PageType::AllocMap)
        && layout.is_map(map.id().page)
        && map.body()[0..4] == layout.extents.to_le_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_and_change_tracking() {
        let mut m = new_map(PageId { file: 3, page: 1 }, MAX_EXTENTS);
        set_allocated(&mut m, 0, true);
        set_allocated(&mut m, 2, true);
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
        for p in 0..MAX_EXTENTS * EXTENT_PAGES {
            set_allocated(&mut m, p, true);
        }
        assert_eq!(first_free(&m), None);
        assert!(is_valid(&m, MapLayout::default()));
        assert!(!is_valid(&m, MapLayout::new(4).unwrap()));
    }

    #[test]
    fn a_later_interval_describes_only_its_own_pages() {
        // Interval of 2 extents = 16 pages: map 0 at page 1, map 1 at page 17, map 2 at 33.
        let l = MapLayout::new(2).unwrap();
        assert_eq!((l.map_page(0), l.map_page(1), l.map_page(2)), (1, 17, 33));
        assert_eq!((l.map_for(15), l.map_for(16), l.map_for(40)), (1, 17, 33));
        assert!(l.is_map(17) && !l.is_map(16) && !l.is_map(18));
        let mut m = new_map(PageId { file: 1, page: 17 }, 2);
        assert!(is_valid(&m, l));
        assert_eq!(allocated_pages(&m), vec![17]);
        assert_eq!(first_free(&m), Some(16));
        set_allocated(&mut m, 16, true);
        assert_eq!(first_free(&m), Some(18));
        // Pages and extents of other intervals are not this map's.
        set_allocated(&mut m, 5, true);
        set_allocated(&mut m, 32, true);
        assert!(!is_allocated(&m, 5) && !is_allocated(&m, 32));
        assert_eq!(extents(&m), 2..4);
        assert!(note_change(&mut m, 25, 9));
        assert!(!note_change(&mut m, 33, 9));
        assert_eq!((changed_lsn(&m, 3), changed_lsn(&m, 2)), (9, 0));
        set_bulk_changed(&mut m, 2, true);
        set_bulk_changed(&mut m, 7, true);
        assert!(bulk_changed(&m, 2) && !bulk_changed(&m, 7));
        assert!(clear_bulk_changed(&mut m));
        assert!(!bulk_changed(&m, 2) && !clear_bulk_changed(&mut m));
        for p in 16..32 {
            set_allocated(&mut m, p, true);
        }
        assert_eq!(first_free(&m), None);
    }
}
