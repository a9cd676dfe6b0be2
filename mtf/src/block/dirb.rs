//! DIRB: a directory. Its name is the full path from the volume root, NUL-separated.

use crate::date::MtfDateTime;
use crate::encode::PutLe;
use crate::error::Result;
use crate::parse::{array, le_u32, run};
use crate::spec::{DirectoryAttributes, StringType};
use crate::text::{split_dir_path, MtfText, TapeAddress};

/// The four dates DIRB and FILE share, in their on-media order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct ObjectDates {
    /// Last modification (all zero: unknown).
    pub last_modification: MtfDateTime,
    /// Creation (all zero: unknown).
    pub creation: MtfDateTime,
    /// Backup (all zero: unknown).
    pub backup: MtfDateTime,
    /// Last access (all zero: unknown).
    pub last_access: MtfDateTime,
}

impl ObjectDates {
    pub(crate) fn parse(i: &[u8]) -> nom::IResult<&[u8], ObjectDates> {
        let (i, m) = array::<5>(i)?;
        let (i, c) = array::<5>(i)?;
        let (i, b) = array::<5>(i)?;
        let (i, a) = array::<5>(i)?;
        Ok((
            i,
            ObjectDates {
                last_modification: MtfDateTime(m),
                creation: MtfDateTime(c),
                backup: MtfDateTime(b),
                last_access: MtfDateTime(a),
            },
        ))
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        for d in [
            self.last_modification,
            self.creation,
            self.backup,
            self.last_access,
        ] {
            out.extend_from_slice(&d.0);
        }
    }
}

/// DIRB fields after the common header (offsets 52..84).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Dirb {
    /// The attribute bits (unknown bits kept).
    pub attributes: DirectoryAttributes,
    /// The object's four dates.
    pub dates: ObjectDates,
    /// 1 for the first directory of the set, +1 for each.
    pub directory_id: u32,
    /// NUL-separated path ending in a separator; the root is a single NUL. Empty when the path
    /// is in a PNAM stream ([`DirectoryAttributes::PATH_IN_STREAM`]).
    pub directory_name: MtfText,
}

impl Dirb {
    /// Size of the fixed part after the common header.
    pub const FIXED_LEN: usize = 32;

    pub(crate) fn parse(fixed: &[u8], region: &[u8]) -> Result<Dirb> {
        let ((a, dates, id, name), _) = run(fixed, "DIRB block", Self::FIXED_LEN, |i| {
            let (i, a) = le_u32(i)?;
            let (i, dates) = ObjectDates::parse(i)?;
            let (i, id) = le_u32(i)?;
            let (i, name) = TapeAddress::parse(i)?;
            Ok((i, (a, dates, id, name)))
        })?;
        Ok(Dirb {
            attributes: DirectoryAttributes::from_bits_retain(a),
            dates,
            directory_id: id,
            directory_name: MtfText::resolve(name, region, "directory name")?,
        })
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.put_le(self.attributes.bits());
        self.dates.write(out);
        out.put_le(self.directory_id);
        self.directory_name.addr.write(out);
    }

    pub(crate) fn texts(&self) -> Vec<&MtfText> {
        vec![&self.directory_name]
    }

    pub(crate) fn texts_mut(&mut self) -> Vec<&mut MtfText> {
        vec![&mut self.directory_name]
    }

    /// The path components (empty for the root).
    pub fn components(&self, string_type: StringType) -> Vec<String> {
        split_dir_path(&self.directory_name.raw, string_type)
    }
}
