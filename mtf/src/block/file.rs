//! FILE: a file; its data follows in streams (STAN and others).

use super::dirb::ObjectDates;
use crate::encode::PutLe;
use crate::error::Result;
use crate::parse::{le_u32, run};
use crate::spec::FileAttributes;
use crate::text::{MtfText, TapeAddress};

/// FILE fields after the common header (offsets 52..88).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct File {
    /// The attribute bits (unknown bits kept).
    pub attributes: FileAttributes,
    /// The object's four dates.
    pub dates: ObjectDates,
    /// The governing DIRB's directory id.
    pub directory_id: u32,
    /// 1-based within the set.
    pub file_id: u32,
    /// The name without a path; empty when it is in an FNAM stream.
    pub file_name: MtfText,
}

impl File {
    /// Size of the fixed part after the common header.
    pub const FIXED_LEN: usize = 36;

    pub(crate) fn parse(fixed: &[u8], region: &[u8]) -> Result<File> {
        let ((a, dates, dir, id, name), _) = run(fixed, "FILE block", Self::FIXED_LEN, |i| {
            let (i, a) = le_u32(i)?;
            let (i, dates) = ObjectDates::parse(i)?;
            let (i, dir) = le_u32(i)?;
            let (i, id) = le_u32(i)?;
            let (i, name) = TapeAddress::parse(i)?;
            Ok((i, (a, dates, dir, id, name)))
        })?;
        Ok(File {
            attributes: FileAttributes::from_bits_retain(a),
            dates,
            directory_id: dir,
            file_id: id,
            file_name: MtfText::resolve(name, region, "file name")?,
        })
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.put_le(self.attributes.bits());
        self.dates.write(out);
        out.put_le(self.directory_id);
        out.put_le(self.file_id);
        self.file_name.addr.write(out);
    }

    pub(crate) fn texts(&self) -> Vec<&MtfText> {
        vec![&self.file_name]
    }

    pub(crate) fn texts_mut(&mut self) -> Vec<&mut MtfText> {
        vec![&mut self.file_name]
    }
}
