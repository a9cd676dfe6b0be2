//! TAPE: the media header, first block of every medium.

use crate::date::MtfDateTime;
use crate::encode::PutLe;
use crate::error::Result;
use crate::parse::{array, le_u16, le_u32, le_u8, run};
use crate::spec::TapeAttributes;
use crate::text::{MtfText, TapeAddress};

/// TAPE fields after the common header (offsets 52..94).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Tape {
    /// Constant across the media family.
    pub media_family_id: u32,
    /// The attribute bits (unknown bits kept).
    pub attributes: TapeAttributes,
    /// 1 for the first medium of the family, +1 for each continuation medium.
    pub media_sequence_number: u16,
    /// Password encryption algorithm.
    pub password_encryption_algorithm: u16,
    /// Soft filemark block size in 512-byte units.
    pub soft_filemark_block_size: u16,
    /// See [`crate::spec::mbc_type`].
    pub media_based_catalog_type: u16,
    /// Media name, as stored (decode with the block's string type).
    pub media_name: MtfText,
    /// The media description, or a media label if [`TapeAttributes::MEDIA_LABEL`] is set.
    pub media_description: MtfText,
    /// Media password, as stored (decode with the block's string type).
    pub media_password: MtfText,
    /// Software name, as stored (decode with the block's string type).
    pub software_name: MtfText,
    /// 512 or 1024.
    pub format_logical_block_size: u16,
    /// Software vendor id.
    pub software_vendor_id: u16,
    /// When the medium was first written.
    pub media_date: MtfDateTime,
    /// Mtf major version.
    pub mtf_major_version: u8,
}

impl Tape {
    /// Size of the fixed part after the common header.
    pub const FIXED_LEN: usize = 42;

    pub(crate) fn parse(fixed: &[u8], region: &[u8]) -> Result<Tape> {
        let (t, _) = run(fixed, "TAPE block", Self::FIXED_LEN, |i| {
            let (i, media_family_id) = le_u32(i)?;
            let (i, attributes) = le_u32(i)?;
            let (i, media_sequence_number) = le_u16(i)?;
            let (i, password_encryption_algorithm) = le_u16(i)?;
            let (i, soft_filemark_block_size) = le_u16(i)?;
            let (i, media_based_catalog_type) = le_u16(i)?;
            let (i, name) = TapeAddress::parse(i)?;
            let (i, desc) = TapeAddress::parse(i)?;
            let (i, pw) = TapeAddress::parse(i)?;
            let (i, sw) = TapeAddress::parse(i)?;
            let (i, format_logical_block_size) = le_u16(i)?;
            let (i, software_vendor_id) = le_u16(i)?;
            let (i, date) = array::<5>(i)?;
            let (i, mtf_major_version) = le_u8(i)?;
            Ok((
                i,
                (
                    media_family_id,
                    attributes,
                    media_sequence_number,
                    password_encryption_algorithm,
                    soft_filemark_block_size,
                    media_based_catalog_type,
                    [name, desc, pw, sw],
                    format_logical_block_size,
                    software_vendor_id,
                    date,
                    mtf_major_version,
                ),
            ))
        })?;
        let [name, desc, pw, sw] = t.6;
        Ok(Tape {
            media_family_id: t.0,
            attributes: TapeAttributes::from_bits_retain(t.1),
            media_sequence_number: t.2,
            password_encryption_algorithm: t.3,
            soft_filemark_block_size: t.4,
            media_based_catalog_type: t.5,
            media_name: MtfText::resolve(name, region, "media name")?,
            media_description: MtfText::resolve(desc, region, "media description")?,
            media_password: MtfText::resolve(pw, region, "media password")?,
            software_name: MtfText::resolve(sw, region, "software name")?,
            format_logical_block_size: t.7,
            software_vendor_id: t.8,
            media_date: MtfDateTime(t.9),
            mtf_major_version: t.10,
        })
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.put_le(self.media_family_id);
        out.put_le(self.attributes.bits());
        out.put_le(self.media_sequence_number);
        out.put_le(self.password_encryption_algorithm);
        out.put_le(self.soft_filemark_block_size);
        out.put_le(self.media_based_catalog_type);
        self.media_name.addr.write(out);
        self.media_description.addr.write(out);
        self.media_password.addr.write(out);
        self.software_name.addr.write(out);
        out.put_le(self.format_logical_block_size);
        out.put_le(self.software_vendor_id);
        out.extend_from_slice(&self.media_date.0);
        out.push(self.mtf_major_version);
    }

    pub(crate) fn texts(&self) -> Vec<&MtfText> {
        vec![
            &self.media_name,
            &self.media_description,
            &self.media_password,
            &self.software_name,
        ]
    }

    pub(crate) fn texts_mut(&mut self) -> Vec<&mut MtfText> {
        vec![
            &mut self.media_name,
            &mut self.media_description,
            &mut self.media_password,
            &mut self.software_name,
        ]
    }

    /// Soft filemark block size in bytes.
    pub fn soft_filemark_bytes(&self) -> usize {
        self.soft_filemark_block_size as usize * crate::spec::SOFT_FILEMARK_UNIT
    }
}
