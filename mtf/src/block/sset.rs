//! SSET: start of a data set.

use crate::date::MtfDateTime;
use crate::encode::PutLe;
use crate::error::Result;
use crate::parse::{array, le_u16, le_u32, le_u64, run};
use crate::spec::SetAttributes;
use crate::text::{MtfText, TapeAddress};

/// SSET fields after the common header (offsets 52..98).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Sset {
    /// The operation: one of COPY, NORMAL, DIFFERENTIAL, INCREMENTAL, DAILY (plus TRANSFER).
    pub attributes: SetAttributes,
    /// Password encryption algorithm.
    pub password_encryption_algorithm: u16,
    /// Software compression algorithm.
    pub software_compression_algorithm: u16,
    /// Software vendor id.
    pub software_vendor_id: u16,
    /// 1-based within the media family; unchanged on continuation media.
    pub data_set_number: u16,
    /// Data set name, as stored (decode with the block's string type).
    pub data_set_name: MtfText,
    /// Data set description, as stored (decode with the block's string type).
    pub data_set_description: MtfText,
    /// Data set password, as stored (decode with the block's string type).
    pub data_set_password: MtfText,
    /// User name, as stored (decode with the block's string type).
    pub user_name: MtfText,
    /// Physical block address of this SSET, as the device gave it.
    pub physical_block_address: u64,
    /// Media write date (all zero: unknown).
    pub media_write_date: MtfDateTime,
    /// Software major version.
    pub software_major_version: u8,
    /// Software minor version.
    pub software_minor_version: u8,
    /// Offset from UTC in 15-minute units (-48..=48); 127 means local time.
    pub time_zone: i8,
    /// Mtf minor version.
    pub mtf_minor_version: u8,
    /// Media catalog version.
    pub media_catalog_version: u8,
}

impl Sset {
    /// Size of the fixed part after the common header.
    pub const FIXED_LEN: usize = 46;
    /// `time_zone` value for "local time, not UTC-based".
    pub const LOCAL_TZ: i8 = 127;

    pub(crate) fn parse(fixed: &[u8], region: &[u8]) -> Result<Sset> {
        let (t, _) = run(fixed, "SSET block", Self::FIXED_LEN, |i| {
            let (i, attributes) = le_u32(i)?;
            let (i, pw_alg) = le_u16(i)?;
            let (i, comp) = le_u16(i)?;
            let (i, vendor) = le_u16(i)?;
            let (i, number) = le_u16(i)?;
            let (i, name) = TapeAddress::parse(i)?;
            let (i, desc) = TapeAddress::parse(i)?;
            let (i, pw) = TapeAddress::parse(i)?;
            let (i, user) = TapeAddress::parse(i)?;
            let (i, pba) = le_u64(i)?;
            let (i, date) = array::<5>(i)?;
            let (i, v) = array::<5>(i)?;
            Ok((
                i,
                (
                    attributes,
                    [pw_alg, comp, vendor, number],
                    [name, desc, pw, user],
                    pba,
                    date,
                    v,
                ),
            ))
        })?;
        let (attributes, [pw_alg, comp, vendor, number], [name, desc, pw, user], pba, date, v) = t;
        Ok(Sset {
            attributes: SetAttributes::from_bits_retain(attributes),
            password_encryption_algorithm: pw_alg,
            software_compression_algorithm: comp,
            software_vendor_id: vendor,
            data_set_number: number,
            data_set_name: MtfText::resolve(name, region, "data set name")?,
            data_set_description: MtfText::resolve(desc, region, "data set description")?,
            data_set_password: MtfText::resolve(pw, region, "data set password")?,
            user_name: MtfText::resolve(user, region, "user name")?,
            physical_block_address: pba,
            media_write_date: MtfDateTime(date),
            software_major_version: v[0],
            software_minor_version: v[1],
            time_zone: v[2] as i8,
            mtf_minor_version: v[3],
            media_catalog_version: v[4],
        })
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.put_le(self.attributes.bits());
        for v in [
            self.password_encryption_algorithm,
            self.software_compression_algorithm,
            self.software_vendor_id,
            self.data_set_number,
        ] {
            out.put_le(v);
        }
        self.data_set_name.addr.write(out);
        self.data_set_description.addr.write(out);
        self.data_set_password.addr.write(out);
        self.user_name.addr.write(out);
        out.put_le(self.physical_block_address);
        out.extend_from_slice(&self.media_write_date.0);
        out.extend_from_slice(&[
            self.software_major_version,
            self.software_minor_version,
            self.time_zone as u8,
            self.mtf_minor_version,
            self.media_catalog_version,
        ]);
    }

    pub(crate) fn texts(&self) -> Vec<&MtfText> {
        vec![
            &self.data_set_name,
            &self.data_set_description,
            &self.data_set_password,
            &self.user_name,
        ]
    }

    pub(crate) fn texts_mut(&mut self) -> Vec<&mut MtfText> {
        vec![
            &mut self.data_set_name,
            &mut self.data_set_description,
            &mut self.data_set_password,
            &mut self.user_name,
        ]
    }
}
