//! MTF 1.00a vocabulary, in one place: type codes, attribute bits, OS ids and sizes.
//!
//! Codes are *open*: a [`BlockType`] or [`StreamId`] is a newtype over the four ASCII bytes, so
//! an id this library has never heard of is still a value that parses, prints and writes back.
//! Attribute words are `bitflags` types that keep unknown bits (`from_bits_retain`), because a
//! byte-exact writer must return vendor bits 24–31 and historical MTF 1.0 bits unchanged.

use bitflags::bitflags;
use std::fmt;

/// Size of the common descriptor block header (MTF_DB_HDR).
pub const DB_HDR_LEN: usize = 52;
/// Size of a stream header (MTF_STREAM_HDR).
pub const STREAM_HDR_LEN: usize = 22;
/// Stream headers start on 4-byte boundaries; the gap is zero fill.
pub const STREAM_ALIGN: u64 = 4;
/// Format Logical Block sizes that MTF 1.00a allows.
pub const VALID_FLB_SIZES: [u16; 2] = [512, 1024];
/// A DBLK's fixed part, OS data and strings must fit in this many bytes (spec §3; longer names go
/// to PNAM/FNAM streams). Readers accept larger areas from foreign writers up to `u16::MAX`.
pub const MAX_DBLK_LEN: usize = 1024;
/// Soft filemark block sizes are counted in these units.
pub const SOFT_FILEMARK_UNIT: usize = 512;

/// How a reader treats damage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Mode {
    /// Report damage and carry on at the next valid block.
    #[default]
    Resync,
    /// Stop with an error at the first damage.
    Strict,
}

/// Magic of SQL Server's compressed backup container (not MTF).
pub const MSSQLBAK_MAGIC: &[u8; 8] = b"MSSQLBAK";

/// Granularity of the scan for the next block after damage: the smallest FLB (SQL Server places
/// blocks on 512-byte boundaries even where its FLB is 1024).
pub const RESYNC_ALIGN: u64 = 512;

/// How many soft filemark blocks before the end of a medium an end-of-medium mark may lie: the
/// procedure takes three (SFMB, EOTM, SFMB); up to eight are allowed.
pub const END_OF_MEDIUM_TAIL_BLOCKS: usize = 8;

/// Whether `bytes` start with a descriptor block header whose checksum holds: a non-zero type
/// and the XOR of the 25 words before the checksum equal to it. Cheap; how readers find blocks.
pub fn block_header_holds(bytes: &[u8]) -> bool {
    bytes.len() >= DB_HDR_LEN
        && bytes[..4] != [0; 4]
        && crate::checksum::xor16(&bytes[..DB_HDR_LEN - 2])
            == u16::from_le_bytes([bytes[DB_HDR_LEN - 2], bytes[DB_HDR_LEN - 1]])
}

/// Whether `bytes` (from a physical block boundary) begin with the mark a writer leaves where it
/// met the end of a soft-filemark medium in the middle of a stream's data: an SFMB whose header
/// checksum holds, and an EOTM whose header checksum holds one soft filemark block (`sfmb_len`
/// bytes) later (spec §7: filemark, EOTM, filemark). Stream data that merely contains the
/// letters `SFMB` is not taken for one. Readers also require the medium to end within
/// [`END_OF_MEDIUM_TAIL_BLOCKS`] blocks of the mark.
pub fn is_end_of_medium_mark(bytes: &[u8], sfmb_len: usize) -> bool {
    bytes.starts_with(&BlockType::SFMB.0)
        && block_header_holds(bytes)
        && bytes.len() >= sfmb_len.saturating_add(DB_HDR_LEN)
        && bytes[sfmb_len..].starts_with(&BlockType::EOTM.0)
        && block_header_holds(&bytes[sfmb_len..])
}

/// Defines an open four-character code: a newtype over the little-endian `u32` of its ASCII
/// bytes, with named constants and a `Display` that prints the characters (or hex if they are
/// not printable).
macro_rules! four_cc {
    ($(#[$m:meta])* $name:ident { $($(#[$cm:meta])* $c:ident = $s:literal,)* }) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
        pub struct $name(pub [u8; 4]);

        impl $name {
            $($(#[$cm])* pub const $c: $name = $name(*$s);)*

            /// Every code this library names, for listings and tests.
            pub const KNOWN: &'static [$name] = &[$($name::$c),*];

            /// The code as stored on the medium (little-endian u32 of the ASCII bytes).
            pub fn as_u32(self) -> u32 {
                u32::from_le_bytes(self.0)
            }

            /// Whether this library has a name for the code.
            pub fn is_known(self) -> bool {
                Self::KNOWN.contains(&self)
            }

            /// The four characters, if they are printable ASCII.
            pub fn as_str(&self) -> Option<&str> {
                if self.0.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
                    std::str::from_utf8(&self.0).ok()
                } else {
                    None
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.as_str() {
                    Some(s) => f.write_str(s),
                    None => write!(f, "0x{:08X}", self.as_u32()),
                }
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self)
            }
        }

        #[cfg(feature = "serde")]
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    };
}

four_cc! {
    /// Descriptor block (DBLK) type.
    BlockType {
        /// Media header.
        TAPE = b"TAPE",
        /// Start of data set.
        SSET = b"SSET",
        /// Volume.
        VOLB = b"VOLB",
        /// Directory.
        DIRB = b"DIRB",
        /// File.
        FILE = b"FILE",
        /// Corrupt object.
        CFIL = b"CFIL",
        /// End-of-set pad.
        ESPB = b"ESPB",
        /// End of data set.
        ESET = b"ESET",
        /// End of tape marker.
        EOTM = b"EOTM",
        /// Soft filemark.
        SFMB = b"SFMB",
        /// SQL Server: configuration/info block (holds an MQCI stream).
        MSCI = b"MSCI",
        /// SQL Server: database data block (holds MQDA streams).
        MSDA = b"MSDA",
        /// SQL Server: transaction log block (holds an MQTL stream or nothing).
        MSTL = b"MSTL",
        /// SQL Server: trailing info block after the log (holds an MQCI stream).
        MSLS = b"MSLS",
    }
}

four_cc! {
    /// Stream identifier.
    StreamId {
        /// Standard file data.
        STAN = b"STAN",
        /// Directory path too long for the DIRB.
        PNAM = b"PNAM",
        /// File name too long for the FILE.
        FNAM = b"FNAM",
        /// 32-bit XOR checksum of the preceding stream's data.
        CSUM = b"CSUM",
        /// Marks the preceding stream as corrupt.
        CRPT = b"CRPT",
        /// Pad to the next FLB or physical block; last stream of every DBLK.
        SPAD = b"SPAD",
        /// Sparse data chunk.
        SPAR = b"SPAR",
        /// Type 1 media based catalog: set map.
        TSMP = b"TSMP",
        /// Type 1 media based catalog: file/directory detail.
        TFDD = b"TFDD",
        /// Type 2 media based catalog: set map.
        MAP2 = b"MAP2",
        /// Type 2 media based catalog: file/directory detail.
        FDD2 = b"FDD2",
        /// NT alternate data stream.
        ADAT = b"ADAT",
        /// NT extended attributes.
        NTEA = b"NTEA",
        /// NT security descriptor.
        NACL = b"NACL",
        /// NT EFS encrypted data.
        NTED = b"NTED",
        /// NT quota data.
        NTQU = b"NTQU",
        /// NT property data.
        NTPR = b"NTPR",
        /// NT reparse point.
        NTRP = b"NTRP",
        /// NT object id.
        NTOI = b"NTOI",
        /// OS/2 access control list.
        OACL = b"OACL",
        /// OS/2 extended attributes.
        O2EA = b"O2EA",
        /// Macintosh resource fork.
        MRSC = b"MRSC",
        /// Macintosh privileges.
        MPRV = b"MPRV",
        /// Macintosh info.
        MINF = b"MINF",
        /// NetWare 386 data.
        N386 = b"N386",
        /// NetWare bindery.
        NBND = b"NBND",
        /// NetWare SMS data.
        SMSD = b"SMSD",
        /// Windows 9x registry.
        GERC = b"GERC",
        /// Backup Exec set map.
        SMP2 = b"SMP2",
        /// SQL Server: media set identity on the TAPE block (media set id, family count/number).
        RAID = b"RAID",
        /// SQL Server: configuration/info chunks.
        MQCI = b"MQCI",
        /// SQL Server: database file pages.
        MQDA = b"MQDA",
        /// SQL Server: transaction log.
        MQTL = b"MQTL",
        /// SQL Server: alignment pad before page data.
        APAD = b"APAD",
        /// SQL Server: catalog-like stream on the first ESET.
        OTCP = b"OTCP",
    }
}

/// Operating system id of a DBLK's OS-specific data (MTF Appendix A).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct OsId(pub u8);

impl OsId {
    /// NetWare (1).
    pub const NETWARE: OsId = OsId(1);
    /// NetWare SMS / SME (13).
    pub const NETWARE_SMS: OsId = OsId(13);
    /// Windows NT (14): the OS data layouts in [`crate::os_data`].
    pub const WINDOWS_NT: OsId = OsId(14);
    /// DOS / Windows 3.x (24).
    pub const DOS: OsId = OsId(24);
    /// OS/2 (25).
    pub const OS2: OsId = OsId(25);
    /// Windows 95 (26).
    pub const WINDOWS_95: OsId = OsId(26);
    /// Macintosh (27).
    pub const MACINTOSH: OsId = OsId(27);
    /// UNIX (28).
    pub const UNIX: OsId = OsId(28);

    /// A human name for the id.
    pub fn name(self) -> &'static str {
        match self.0 {
            1 => "NetWare",
            13 => "NetWare SMS",
            14 => "Windows NT",
            24 => "DOS/Windows 3.x",
            25 => "OS/2",
            26 => "Windows 95",
            27 => "Macintosh",
            28 => "UNIX",
            128..=255 => "vendor-specific",
            _ => "unassigned",
        }
    }
}

/// How a DBLK's strings are encoded (common header byte 48).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct StringType(pub u8);

impl StringType {
    /// The DBLK holds no strings.
    pub const NONE: StringType = StringType(0);
    /// Single-byte ANSI (decoded here as Latin-1, the only lossless choice without a code page).
    pub const ANSI: StringType = StringType(1);
    /// UTF-16LE; sizes are byte counts.
    pub const UNICODE: StringType = StringType(2);
}

/// Media based catalog type (TAPE offset 66).
pub mod mbc_type {
    /// No catalog.
    pub const NONE: u16 = 0;
    /// Type 1: TFDD and TSMP streams on the first ESET.
    pub const TYPE1: u16 = 1;
    /// Type 2: FDD2 and MAP2 streams.
    pub const TYPE2: u16 = 2;
    /// Seen on every SQL Server sample; not in the spec.
    pub const SQL_SERVER: u16 = 3;
}

/// Password encryption algorithm ids (TAPE and SSET).
pub mod password_algorithm {
    /// No password.
    pub const NONE: u16 = 0;
    /// MD5 digest of the password.
    pub const MD5: u16 = 5;
}

/// Software compression algorithm ids (SSET, stream header).
pub mod compression_algorithm {
    /// Stac LZS221 (ANSI X3.241).
    pub const LZS221: u16 = 0x0ABE;
}

macro_rules! open_flags {
    ($(#[$m:meta])* $name:ident : $t:ty { $($(#[$($cm:tt)*])* const $c:ident = $v:expr;)* }) => {
        bitflags! {
            $(#[$m])*
            #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
            pub struct $name: $t {
                $($(#[$($cm)*])* const $c = $v;)*
                // Keep every other bit (vendor bits, MTF 1.0 bits) on round trip.
                const _ = !0;
            }
        }

        #[cfg(feature = "arbitrary")]
        impl<'a> arbitrary::Arbitrary<'a> for $name {
            fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
                Ok(Self::from_bits_retain(<$t>::arbitrary(u)?))
            }
        }

        #[cfg(feature = "serde")]
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&format!("{:#x}", self.bits()))
            }
        }
    };
}

open_flags! {
    /// Generic block attributes (low 16 bits of every DBLK's attribute word). The high 16 bits
    /// mean different things per block type; see [`TapeBlockAttributes`] and friends.
    BlockAttributes: u32 {
        /// The DBLK is repeated from the previous medium.
        const CONTINUATION = 1 << 0;
        /// Compression may be active in this set.
        const COMPRESSION = 1 << 2;
        /// End of medium was hit during end-of-set processing.
        const EOS_AT_EOM = 1 << 3;
        /// TAPE: a set map is written for every set.
        const TAPE_SET_MAP_EXISTS = 1 << 16;
        /// TAPE: FDD may be written.
        const TAPE_FDD_ALLOWED = 1 << 17;
        /// SSET: an FDD will be written for this set.
        const SSET_FDD_EXISTS = 1 << 16;
        /// SSET: stream encryption is active in this set.
        const SSET_ENCRYPTION = 1 << 17;
        /// ESET: the FDD was aborted.
        const ESET_FDD_ABORTED = 1 << 16;
        /// ESET: the set map was aborted; no further appends.
        const ESET_END_OF_FAMILY = 1 << 17;
        /// ESET: the set was aborted while writing.
        const ESET_ABORTED_SET = 1 << 18;
        /// EOTM: no set ends on this medium.
        const EOTM_NO_ESET_PBA = 1 << 16;
        /// EOTM: the drive cannot give physical block addresses.
        const EOTM_INVALID_ESET_PBA = 1 << 17;
    }
}

open_flags! {
    /// TAPE attributes (TAPE offset 56).
    TapeAttributes: u32 {
        /// Soft filemarks (SFMB) stand in for hardware filemarks.
        const SOFT_FILEMARK = 1 << 0;
        /// The description field holds a media label.
        const MEDIA_LABEL = 1 << 1;
    }
}

open_flags! {
    /// Data set operation attributes, shared by SSET (offset 52) and ESET (offset 52).
    SetAttributes: u32 {
        /// Transfer (1 << 0).
        const TRANSFER = 1 << 0;
        /// Copy (1 << 1).
        const COPY = 1 << 1;
        /// Normal (1 << 2).
        const NORMAL = 1 << 2;
        /// Differential (1 << 3).
        const DIFFERENTIAL = 1 << 3;
        /// Incremental (1 << 4).
        const INCREMENTAL = 1 << 4;
        /// Daily (1 << 5).
        const DAILY = 1 << 5;
    }
}

open_flags! {
    /// VOLB attributes.
    VolumeAttributes: u32 {
        /// No redirect restore (1 << 0).
        const NO_REDIRECT_RESTORE = 1 << 0;
        /// Non volume (1 << 1).
        const NON_VOLUME = 1 << 1;
        /// Dev drive (1 << 2).
        const DEV_DRIVE = 1 << 2;
        /// Dev unc (1 << 3).
        const DEV_UNC = 1 << 3;
        /// Dev os spec (1 << 4).
        const DEV_OS_SPEC = 1 << 4;
        /// Dev vend spec (1 << 5).
        const DEV_VEND_SPEC = 1 << 5;
    }
}

open_flags! {
    /// DIRB attributes.
    DirectoryAttributes: u32 {
        /// Read only (1 << 8).
        const READ_ONLY = 1 << 8;
        /// Hidden (1 << 9).
        const HIDDEN = 1 << 9;
        /// System (1 << 10).
        const SYSTEM = 1 << 10;
        /// Modified (1 << 11).
        const MODIFIED = 1 << 11;
        /// Empty (1 << 16).
        const EMPTY = 1 << 16;
        /// Path in stream (1 << 17).
        const PATH_IN_STREAM = 1 << 17;
        /// Corrupt (1 << 18).
        const CORRUPT = 1 << 18;
    }
}

open_flags! {
    /// FILE attributes.
    FileAttributes: u32 {
        /// Read only (1 << 8).
        const READ_ONLY = 1 << 8;
        /// Hidden (1 << 9).
        const HIDDEN = 1 << 9;
        /// System (1 << 10).
        const SYSTEM = 1 << 10;
        /// Modified (1 << 11).
        const MODIFIED = 1 << 11;
        /// In use (1 << 16).
        const IN_USE = 1 << 16;
        /// Name in stream (1 << 17).
        const NAME_IN_STREAM = 1 << 17;
        /// Corrupt (1 << 18).
        const CORRUPT = 1 << 18;
    }
}

open_flags! {
    /// CFIL attributes.
    CorruptAttributes: u32 {
        /// Length change (1 << 16).
        const LENGTH_CHANGE = 1 << 16;
        /// Unreadable blk (1 << 17).
        const UNREADABLE_BLK = 1 << 17;
        /// Deadlock (1 << 18).
        const DEADLOCK = 1 << 18;
    }
}

open_flags! {
    /// Stream file system attributes (stream header offset 4).
    StreamFsAttributes: u16 {
        /// Modified by read (1 << 0).
        const MODIFIED_BY_READ = 1 << 0;
        /// Contains security (1 << 1).
        const CONTAINS_SECURITY = 1 << 1;
        /// Is non portable (1 << 2).
        const IS_NON_PORTABLE = 1 << 2;
        /// Is sparse (1 << 3).
        const IS_SPARSE = 1 << 3;
    }
}

open_flags! {
    /// Stream media format attributes (stream header offset 6).
    StreamMediaAttributes: u16 {
        /// The stream continues from the previous medium.
        const CONTINUE = 1 << 0;
        /// One segment of a variable-length stream.
        const VARIABLE = 1 << 1;
        /// The last segment of a variable-length stream.
        const VAR_END = 1 << 2;
        /// Encrypted (1 << 3).
        const ENCRYPTED = 1 << 3;
        /// Compressed (1 << 4).
        const COMPRESSED = 1 << 4;
        /// A CSUM stream follows.
        const CHECKSUMED = 1 << 5;
        /// Obsolete.
        const EMBEDDED_LENGTH = 1 << 6;
    }
}

open_flags! {
    /// Windows NT file attributes as GetFileAttributes returns them (OS-specific data).
    NtFileAttributes: u32 {
        /// Readonly (0x1).
        const READONLY = 0x1;
        /// Hidden (0x2).
        const HIDDEN = 0x2;
        /// System (0x4).
        const SYSTEM = 0x4;
        /// Directory (0x10).
        const DIRECTORY = 0x10;
        /// Archive (0x20).
        const ARCHIVE = 0x20;
        /// Normal (0x80).
        const NORMAL = 0x80;
        /// Temporary (0x100).
        const TEMPORARY = 0x100;
        /// Sparse file (0x200).
        const SPARSE_FILE = 0x200;
        /// Reparse point (0x400).
        const REPARSE_POINT = 0x400;
        /// Compressed (0x800).
        const COMPRESSED = 0x800;
        /// Offline (0x1000).
        const OFFLINE = 0x1000;
        /// Not content indexed (0x2000).
        const NOT_CONTENT_INDEXED = 0x2000;
        /// Encrypted (0x4000).
        const ENCRYPTED = 0x4000;
    }
}

/// Rounds `n` up to a multiple of `align` (a power of two or any non-zero value).
pub fn align_up(n: u64, align: u64) -> u64 {
    debug_assert!(align > 0);
    n.div_ceil(align).saturating_mul(align)
}
