//! Tape addresses and the strings they locate.
//!
//! A DBLK names its strings and OS data by MTF_TAPE_ADDRESS: a (size, offset) pair, offset from
//! the start of the DBLK. The strings are not NUL-terminated and their encoding comes from the
//! block's String Type. [`MtfText`] keeps the address *and* the raw bytes, so a block can be
//! written back exactly, and decodes on demand.

use crate::encode::PutLe;
use crate::error::{Error, Result};
use crate::parse::le_u16;
use crate::spec::StringType;
use nom::IResult;
use std::fmt;

/// MTF_TAPE_ADDRESS: where a variable-size field lies within its structure.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct TapeAddress {
    /// Size in bytes.
    pub size: u16,
    /// Offset from the start of the containing structure.
    pub offset: u16,
}

impl TapeAddress {
    pub(crate) fn parse(i: &[u8]) -> IResult<&[u8], TapeAddress> {
        let (i, size) = le_u16(i)?;
        let (i, offset) = le_u16(i)?;
        Ok((i, TapeAddress { size, offset }))
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.put_le(self.size);
        out.put_le(self.offset);
    }

    /// The bytes this address names inside `area` (which starts at the structure's offset 0).
    /// A zero size is always valid and yields an empty slice, wherever the offset points.
    pub fn resolve<'a>(&self, area: &'a [u8], field: &'static str) -> Result<&'a [u8]> {
        if self.size == 0 {
            return Ok(&[]);
        }
        let start = self.offset as usize;
        let end = start + self.size as usize;
        area.get(start..end).ok_or(Error::AddressOutOfRange {
            offset: 0,
            field,
            addr_offset: self.offset,
            addr_size: self.size,
            limit: area.len(),
        })
    }
}

/// A string field: its address and its raw bytes as stored.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct MtfText {
    /// Where the string was (or will be) stored.
    pub addr: TapeAddress,
    /// The stored bytes, in the block's string encoding.
    pub raw: Vec<u8>,
}

impl MtfText {
    /// Reads the string an address names inside a structure.
    pub fn resolve(addr: TapeAddress, area: &[u8], field: &'static str) -> Result<MtfText> {
        Ok(MtfText {
            addr,
            raw: addr.resolve(area, field)?.to_vec(),
        })
    }

    /// Encodes `s` in `string_type`; the address is assigned when the block is laid out.
    /// ANSI strings are Latin-1: characters outside it become `?`.
    pub fn encode(s: &str, string_type: StringType) -> MtfText {
        MtfText {
            addr: TapeAddress::default(),
            raw: encode_str(s, string_type),
        }
    }

    /// Whether the field is absent (size 0).
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// The string for display: decoded, with the trailing NULs some writers store (SQL Server's
    /// software name ends in two) removed.
    pub fn display(&self, string_type: StringType) -> String {
        let mut s = self.decode(string_type);
        s.truncate(s.trim_end_matches('\0').len());
        s
    }

    /// The string decoded with the block's string type (lossy: unpaired surrogates become U+FFFD).
    pub fn decode(&self, string_type: StringType) -> String {
        decode_str(&self.raw, string_type)
    }
}

impl fmt::Debug for MtfText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Without the string type we can only guess: UTF-16 if it looks like it.
        let guess =
            if self.raw.len() % 2 == 0 && self.raw.iter().skip(1).step_by(2).all(|b| *b == 0) {
                StringType::UNICODE
            } else {
                StringType::ANSI
            };
        write!(
            f,
            "{:?}@{}+{}",
            self.decode(guess),
            self.addr.offset,
            self.addr.size
        )
    }
}

/// Decodes stored string bytes.
pub fn decode_str(raw: &[u8], string_type: StringType) -> String {
    if string_type == StringType::UNICODE {
        let units: Vec<u16> = raw
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        let mut s = String::from_utf16_lossy(&units);
        if raw.len() % 2 == 1 {
            s.push(char::REPLACEMENT_CHARACTER);
        }
        s
    } else {
        raw.iter().map(|&b| b as char).collect()
    }
}

/// Encodes a string for storage.
pub fn encode_str(s: &str, string_type: StringType) -> Vec<u8> {
    if string_type == StringType::UNICODE {
        s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect()
    } else if string_type == StringType::NONE {
        Vec::new()
    } else {
        s.chars()
            .map(|c| if (c as u32) < 256 { c as u8 } else { b'?' })
            .collect()
    }
}

/// Splits a DIRB directory name (NUL-separated components ending in a separator) into its
/// components. The root is a single separator and yields no components.
pub fn split_dir_path(raw: &[u8], string_type: StringType) -> Vec<String> {
    decode_str(raw, string_type)
        .split('\0')
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Builds a DIRB directory name from components: each is followed by a NUL separator; no
/// components make the root (a single NUL).
pub fn join_dir_path<S: AsRef<str>>(components: &[S], string_type: StringType) -> Vec<u8> {
    let mut s = String::new();
    for c in components {
        s.push_str(c.as_ref());
        s.push('\0');
    }
    if s.is_empty() {
        s.push('\0');
    }
    encode_str(&s, string_type)
}

/// Text from a medium (or a file system) made safe for a terminal or a one-line comment:
/// control characters (ESC, newline, carriage return, DEL, C1 controls …) are shown as Rust
/// escapes (`\u{1b}`, `\n`), so no name can forge lines, end a script comment or move the
/// cursor. Everything else is unchanged, and nothing is copied when there is nothing to escape.
pub fn escape_controls(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut o = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() {
            o.extend(c.escape_default());
        } else {
            o.push(c);
        }
    }
    std::borrow::Cow::Owned(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_controls_shows_every_control_character_and_nothing_else() {
        assert!(matches!(
            escape_controls("plain é"),
            std::borrow::Cow::Borrowed("plain é")
        ));
        assert_eq!(
            escape_controls("a\nb\u{1b}[2J\u{7f}\u{85}c"),
            "a\\nb\\u{1b}[2J\\u{7f}\\u{85}c"
        );
    }

    #[test]
    fn utf16_and_ansi_round_trip() {
        for st in [StringType::UNICODE, StringType::ANSI] {
            let t = MtfText::encode("Northwind-Full Database Backup", st);
            assert_eq!(t.decode(st), "Northwind-Full Database Backup");
        }
        let zh = MtfText::encode("完整 数据库", StringType::UNICODE);
        assert_eq!(zh.raw.len(), 12);
        assert_eq!(zh.decode(StringType::UNICODE), "完整 数据库");
    }

    #[test]
    fn dir_paths_use_nul_separators() {
        let raw = join_dir_path(&["apps", "fred"], StringType::ANSI);
        assert_eq!(raw, b"apps\0fred\0");
        assert_eq!(split_dir_path(&raw, StringType::ANSI), ["apps", "fred"]);
        assert_eq!(join_dir_path::<&str>(&[], StringType::UNICODE), [0, 0]);
        assert!(split_dir_path(&[0, 0], StringType::UNICODE).is_empty());
    }

    #[test]
    fn out_of_range_address_is_an_error() {
        let addr = TapeAddress {
            size: 10,
            offset: 60,
        };
        let err = addr.resolve(&[0u8; 64], "media name").unwrap_err();
        assert!(matches!(
            err,
            Error::AddressOutOfRange {
                field: "media name",
                ..
            }
        ));
        assert!(TapeAddress {
            size: 0,
            offset: 9999
        }
        .resolve(&[], "x")
        .unwrap()
        .is_empty());
    }
}
