//! Fixed-size pages: 8 KiB, each carrying its own id, the LSN of the last log record applied to
//! it, and a CRC-32C over everything after the checksum field.
//!
//! The page id inside the page lets a read detect a page written to the wrong place; the page LSN
//! is what redo compares against a record's LSN ("already applied?"); the checksum finds torn
//! writes (half old, half new after a crash in the middle of a write) and rot.
//!
//! Layout: `0..4` CRC-32C of bytes `4..8192`; `4` page type; `6..8` file id; `8..12` page number;
//! `12..20` page LSN; `32..` the body, whose format belongs to the page type.

/// Bytes in a page.
pub const PAGE_SIZE: usize = 8192;
/// Pages in an extent, the unit of allocation tracking and of differential backups.
pub const EXTENT_PAGES: u32 = 8;
/// Where the body starts.
pub const HEADER: usize = 32;
/// Bytes available to the body.
pub const BODY: usize = PAGE_SIZE - HEADER;

/// A page's address: the data file's id and the page number within it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PageId {
    /// The data file (1 = the primary file).
    pub file: u16,
    /// The page number in the file (page 0 is the file header, 1 the allocation map).
    pub page: u32,
}

impl std::fmt::Display for PageId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.page)
    }
}

/// What a page holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum PageType {
    /// Never written (all zeros): a page past the last one the file has held.
    Unformatted = 0,
    /// Page 0 of every file: the file header (and, in the primary file, the database's boot
    /// record).
    FileHeader = 1,
    /// Page 1 of every file: the allocation map.
    AllocMap = 2,
    /// A B+tree leaf: sorted rows.
    Leaf = 3,
    /// A B+tree interior node: separator keys and child pages.
    Internal = 4,
}

impl PageType {
    fn from_u8(v: u8) -> Option<PageType> {
        Some(match v {
            0 => PageType::Unformatted,
            1 => PageType::FileHeader,
            2 => PageType::AllocMap,
            3 => PageType::Leaf,
            4 => PageType::Internal,
            _ => return None,
        })
    }
}

/// One page's bytes.
#[derive(Clone)]
pub struct Page(pub Box<[u8; PAGE_SIZE]>);

/// Why a page read from disk is not usable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageFault {
    /// The checksum does not match: torn or damaged.
    Checksum { stored: u32, computed: u32 },
    /// The page says it is another page.
    WrongId { found: PageId },
    /// An unknown page type.
    BadType(u8),
}

impl std::fmt::Display for PageFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PageFault::Checksum { stored, computed } => write!(
                f,
                "checksum mismatch (stored {stored:08x}, computed {computed:08x}): torn or damaged page"
            ),
            PageFault::WrongId { found } => write!(f, "page claims to be page {found}"),
            PageFault::BadType(t) => write!(f, "unknown page type {t}"),
        }
    }
}

impl Page {
    /// An all-zero (unformatted) page.
    pub fn zeroed() -> Page {
        Page(Box::new([0u8; PAGE_SIZE]))
    }

    /// A fresh page of a type, with its id and an empty body.
    pub fn new(id: PageId, ty: PageType) -> Page {
        let mut p = Page::zeroed();
        p.0[4] = ty as u8;
        p.0[6..8].copy_from_slice(&id.file.to_le_bytes());
        p.0[8..12].copy_from_slice(&id.page.to_le_bytes());
        p
    }

    /// A page from bytes of the right size.
    pub fn from_slice(b: &[u8]) -> Option<Page> {
        let arr: [u8; PAGE_SIZE] = b.try_into().ok()?;
        Some(Page(Box::new(arr)))
    }

    /// The page's type (an unknown type reads as `None`).
    pub fn page_type(&self) -> Option<PageType> {
        PageType::from_u8(self.0[4])
    }
    /// The id the page carries.
    pub fn id(&self) -> PageId {
        image_id(&self.0)
    }
    /// The LSN of the last log record applied to the page.
    pub fn lsn(&self) -> u64 {
        u64::from_le_bytes(self.0[12..20].try_into().unwrap())
    }
    /// Sets the page LSN.
    pub fn set_lsn(&mut self, lsn: u64) {
        self.0[12..20].copy_from_slice(&lsn.to_le_bytes());
    }
    /// The body.
    pub fn body(&self) -> &[u8] {
        &self.0[HEADER..]
    }
    /// The body, writable.
    pub fn body_mut(&mut self) -> &mut [u8] {
        &mut self.0[HEADER..]
    }

    /// Computes and stores the checksum (just before the page is written).
    pub fn seal(&mut self) {
        let c = crc32c(&self.0[4..]);
        self.0[0..4].copy_from_slice(&c.to_le_bytes());
    }

    /// Checks a page read from disk at `expected`. An all-zero page is a valid unformatted page
    /// (files grow by writes of later pages, leaving holes that read as zeros).
    pub fn verify(&self, expected: PageId) -> Result<(), PageFault> {
        verify_image(&self.0, expected)
    }
}

/// The id a page image carries (bytes `6..12`).
pub fn image_id(b: &[u8; PAGE_SIZE]) -> PageId {
    PageId {
        file: u16::from_le_bytes([b[6], b[7]]),
        page: u32::from_le_bytes(b[8..12].try_into().unwrap()),
    }
}

/// [`Page::verify`] on a page image in place: backups check runs of pages read in one go
/// without boxing each.
pub fn verify_image(b: &[u8; PAGE_SIZE], expected: PageId) -> Result<(), PageFault> {
    if b.iter().all(|&x| x == 0) {
        return Ok(());
    }
    let stored = u32::from_le_bytes(b[0..4].try_into().unwrap());
    let computed = crc32c(&b[4..]);
    if stored != computed {
        return Err(PageFault::Checksum { stored, computed });
    }
    if PageType::from_u8(b[4]).is_none() {
        return Err(PageFault::BadType(b[4]));
    }
    if image_id(b) != expected {
        return Err(PageFault::WrongId { found: image_id(b) });
    }
    Ok(())
}

/// CRC-32C of bytes (the log uses the same checksum as the pages). Every page read and
/// written is checksummed, so it runs on the processor's carry-less multiply where there is one
/// (the `crc-fast` crate): slice-by-16 tables did ~2.2 GB/s and were a sixth of a restore's
/// profile; the CRC instruction in 3 lanes (the `crc32c` crate) did 4.7 GB/s on 8 KiB pages,
/// this 6.6 GB/s, on the same processor.
pub fn crc32c(b: &[u8]) -> u32 {
    crc_fast::crc32_iscsi(b)
}

/// CRC-32C taken piece by piece, for what is streamed rather than held (a file, a copy of
/// the log): the same value as [`crc32c`] of all the pieces together.
#[derive(Clone, Copy, Debug, Default)]
pub struct Crc32c(u32);

impl Crc32c {
    pub fn new() -> Crc32c {
        Crc32c(0)
    }

    pub fn update(&mut self, b: &[u8]) {
        // Continued from the value so far: the register holds it before the final inversion.
        let mut d = crc_fast::Digest::new_with_init_state(
            crc_fast::CrcAlgorithm::Crc32Iscsi,
            u64::from(!self.0),
        );
        d.update(b);
        self.0 = d.finalize() as u32;
    }

    pub fn finalize(&self) -> u32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_matches_the_standard_check_value() {
        // The CRC-32C (Castagnoli) check value for "123456789" is 0xE3069283 (RFC 3720, B.4).
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn crc32c_matches_a_bitwise_model_at_every_length_and_alignment() {
        // The reflected Castagnoli polynomial, one bit at a time (RFC 3720, B.4): an
        // independent model of what the accelerated code computes in wide steps.
        fn model(b: &[u8]) -> u32 {
            let mut c = !0u32;
            for &x in b {
                c ^= u32::from(x);
                for _ in 0..8 {
                    c = if c & 1 != 0 {
                        (c >> 1) ^ 0x82F6_3B78
                    } else {
                        c >> 1
                    };
                }
            }
            !c
        }
        let data: Vec<u8> = (0..PAGE_SIZE as u32 + 77)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for start in 0..9 {
            for len in (0..300).chain([PAGE_SIZE - 4, PAGE_SIZE, PAGE_SIZE + 67]) {
                let b = &data[start..start + len];
                assert_eq!(crc32c(b), model(b), "start {start} len {len}");
            }
        }
        // Taken piece by piece, cut anywhere (empty pieces too), it is the same value.
        for cut in [0, 1, 3, 64, 255, 4096, PAGE_SIZE + 76] {
            for second in [0, 1, 17, 512] {
                let mut d = Crc32c::new();
                let a = cut.min(data.len());
                let b = (a + second).min(data.len());
                d.update(&data[..a]);
                d.update(&data[a..b]);
                d.update(&data[b..]);
                assert_eq!(d.finalize(), model(&data), "cut {cut} second {second}");
            }
        }
        assert_eq!(Crc32c::new().finalize(), model(b""));
    }

    #[test]
    fn a_flipped_bit_or_a_misplaced_page_is_found() {
        let id = PageId { file: 1, page: 7 };
        let mut p = Page::new(id, PageType::Leaf);
        p.body_mut()[100] = 42;
        p.seal();
        assert_eq!(p.verify(id), Ok(()));
        assert!(matches!(
            p.verify(PageId { file: 1, page: 8 }),
            Err(PageFault::WrongId { .. })
        ));
        let mut torn = p.clone();
        torn.0[5000] ^= 1;
        assert!(matches!(torn.verify(id), Err(PageFault::Checksum { .. })));
        assert_eq!(Page::zeroed().verify(id), Ok(()));
    }
}
