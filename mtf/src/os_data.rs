//! OS-specific data of VOLB, DIRB and FILE blocks: typed for Windows NT where the layout is
//! known (MTF Appendix A), raw bytes otherwise.

use crate::encode::PutLe;
use crate::spec::{BlockType, NtFileAttributes, OsId};

/// Decoded OS-specific data.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum OsData {
    /// No OS data (size 0).
    None,
    /// DIRB, Windows NT version 0: directory attributes.
    NtDirectory0 {
        /// The attribute bits (unknown bits kept).
        attributes: NtFileAttributes,
    },
    /// DIRB, Windows NT version 1.
    NtDirectory1 {
        /// The attribute bits (unknown bits kept).
        attributes: NtFileAttributes,
        /// Offset of the short (8.3) name.
        short_name_offset: u16,
        /// Size in bytes of the short (8.3) name.
        short_name_size: u16,
    },
    /// FILE, Windows NT version 0.
    NtFile0 {
        /// The attribute bits (unknown bits kept).
        attributes: NtFileAttributes,
        /// Offset of the short (8.3) name.
        short_name_offset: u16,
        /// Size in bytes of the short (8.3) name.
        short_name_size: u16,
        /// "Link to previously written file".
        link: u16,
        /// Reserved bytes, kept verbatim for the round trip.
        reserved: u16,
    },
    /// FILE, Windows NT version 1.
    NtFile1 {
        /// The attribute bits (unknown bits kept).
        attributes: NtFileAttributes,
        /// Offset of the short (8.3) name.
        short_name_offset: u16,
        /// Size in bytes of the short (8.3) name.
        short_name_size: u16,
        /// BIT0 NT_FILE_LINK_FLAG, BIT16 NT_FILE_POSIX.
        flags: u32,
    },
    /// VOLB, Windows NT version 1.
    NtVolume1 {
        /// File system flags, as GetVolumeInformation gives them.
        file_system_flags: u32,
        /// BIT0 NT_VOLB_IS_DR_CANDIDATE.
        backup_set_attributes: u32,
    },
    /// DIRB or FILE, a Windows NT version after the two the spec lays out (NTBackup 5 writes
    /// version 2: 12 bytes for a directory, 24 for a file). Every NT layout starts with the
    /// object's Win32 attributes, so those are read; the rest is kept as stored.
    NtLater {
        /// The attribute bits (unknown bits kept).
        attributes: NtFileAttributes,
        /// The bytes after the attributes, as stored.
        rest: Vec<u8>,
    },
    /// Any other OS or layout, kept as stored.
    Raw(Vec<u8>),
}

// The layouts below are chosen by exact size, so every field read is in range.
fn u16_at(b: &[u8], o: usize) -> u16 {
    crate::parse::u16_at(b, o).unwrap_or_default()
}
fn u32_at(b: &[u8], o: usize) -> u32 {
    crate::parse::u32_at(b, o).unwrap_or_default()
}

impl OsData {
    /// Decodes the bytes a block's OS data address names. Layouts are chosen by block type, OS
    /// id, OS version *and* exact size, so an unexpected size is kept raw instead of guessed.
    pub fn decode(block_type: BlockType, os_id: OsId, os_version: u8, b: &[u8]) -> OsData {
        if b.is_empty() {
            return OsData::None;
        }
        if os_id != OsId::WINDOWS_NT {
            return OsData::Raw(b.to_vec());
        }
        let attrs = |o| NtFileAttributes::from_bits_retain(u32_at(b, o));
        match (block_type, os_version, b.len()) {
            (BlockType::DIRB, 0, 4) => OsData::NtDirectory0 {
                attributes: attrs(0),
            },
            (BlockType::DIRB, 1, 8) => OsData::NtDirectory1 {
                attributes: attrs(0),
                short_name_offset: u16_at(b, 4),
                short_name_size: u16_at(b, 6),
            },
            (BlockType::FILE, 0, 12) => OsData::NtFile0 {
                attributes: attrs(0),
                short_name_offset: u16_at(b, 4),
                short_name_size: u16_at(b, 6),
                link: u16_at(b, 8),
                reserved: u16_at(b, 10),
            },
            (BlockType::FILE, 1, 12) => OsData::NtFile1 {
                attributes: attrs(0),
                short_name_offset: u16_at(b, 4),
                short_name_size: u16_at(b, 6),
                flags: u32_at(b, 8),
            },
            (BlockType::VOLB, 1, 8) => OsData::NtVolume1 {
                file_system_flags: u32_at(b, 0),
                backup_set_attributes: u32_at(b, 4),
            },
            (BlockType::DIRB | BlockType::FILE, 2.., 4..) => OsData::NtLater {
                attributes: attrs(0),
                rest: b[4..].to_vec(),
            },
            _ => OsData::Raw(b.to_vec()),
        }
    }

    /// The stored form.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::new();
        match self {
            OsData::None => {}
            OsData::NtDirectory0 { attributes } => v.put_le(attributes.bits()),
            OsData::NtDirectory1 {
                attributes,
                short_name_offset,
                short_name_size,
            } => {
                v.put_le(attributes.bits());
                v.put_le(short_name_offset);
                v.put_le(short_name_size);
            }
            OsData::NtFile0 {
                attributes,
                short_name_offset,
                short_name_size,
                link,
                reserved,
            } => {
                v.put_le(attributes.bits());
                v.put_le(short_name_offset);
                v.put_le(short_name_size);
                v.put_le(link);
                v.put_le(reserved);
            }
            OsData::NtFile1 {
                attributes,
                short_name_offset,
                short_name_size,
                flags,
            } => {
                v.put_le(attributes.bits());
                v.put_le(short_name_offset);
                v.put_le(short_name_size);
                v.put_le(flags);
            }
            OsData::NtVolume1 {
                file_system_flags,
                backup_set_attributes,
            } => {
                v.put_le(file_system_flags);
                v.put_le(backup_set_attributes);
            }
            OsData::NtLater { attributes, rest } => {
                v.put_le(attributes.bits());
                v.extend_from_slice(rest);
            }
            OsData::Raw(b) => v.extend_from_slice(b),
        }
        v
    }

    /// The NT file attributes, where the data carries them.
    pub fn nt_attributes(&self) -> Option<NtFileAttributes> {
        match self {
            OsData::NtDirectory0 { attributes }
            | OsData::NtDirectory1 { attributes, .. }
            | OsData::NtFile0 { attributes, .. }
            | OsData::NtFile1 { attributes, .. }
            | OsData::NtLater { attributes, .. } => Some(*attributes),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nt_layouts_round_trip_and_odd_sizes_stay_raw() {
        let file0 = [0x20, 0, 0, 0, 0x10, 0, 0x18, 0, 1, 0, 0, 0];
        let d = OsData::decode(BlockType::FILE, OsId::WINDOWS_NT, 0, &file0);
        assert_eq!(d.nt_attributes(), Some(NtFileAttributes::ARCHIVE));
        assert!(matches!(
            d,
            OsData::NtFile0 {
                short_name_offset: 0x10,
                short_name_size: 0x18,
                link: 1,
                ..
            }
        ));
        assert_eq!(d.encode(), file0);
        let odd = OsData::decode(BlockType::FILE, OsId::WINDOWS_NT, 0, &file0[..10]);
        assert_eq!(odd, OsData::Raw(file0[..10].to_vec()));
        let vol = OsData::decode(
            BlockType::VOLB,
            OsId::WINDOWS_NT,
            1,
            &[1, 2, 3, 4, 1, 0, 0, 0],
        );
        assert_eq!(
            vol,
            OsData::NtVolume1 {
                file_system_flags: 0x0403_0201,
                backup_set_attributes: 1
            }
        );
        assert_eq!(
            OsData::decode(BlockType::FILE, OsId::UNIX, 0, &[9]),
            OsData::Raw(vec![9])
        );
        // NT version 2 (NTBackup 5): the leading Win32 attributes (hidden + system = 6), the
        // rest kept.
        let mut file2 = [0u8; 24];
        file2[0] = 6;
        file2[20] = 0xaa;
        let d = OsData::decode(BlockType::FILE, OsId::WINDOWS_NT, 2, &file2);
        assert_eq!(
            d.nt_attributes(),
            Some(NtFileAttributes::HIDDEN | NtFileAttributes::SYSTEM)
        );
        assert_eq!(d.encode(), file2);
        assert_eq!(
            OsData::decode(BlockType::FILE, OsId::WINDOWS_NT, 2, &file2[..3]),
            OsData::Raw(file2[..3].to_vec())
        );
    }
}
