//! VOLB: a volume (drive, share) whose directories and files follow.

use crate::date::MtfDateTime;
use crate::encode::PutLe;
use crate::error::Result;
use crate::parse::{array, le_u32, run};
use crate::spec::VolumeAttributes;
use crate::text::{MtfText, TapeAddress};

/// VOLB fields after the common header (offsets 52..73).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Volb {
    /// The attribute bits (unknown bits kept).
    pub attributes: VolumeAttributes,
    /// E.g. `C:` or `\\server\share`.
    pub device_name: MtfText,
    /// Volume name, as stored (decode with the block's string type).
    pub volume_name: MtfText,
    /// Machine name, as stored (decode with the block's string type).
    pub machine_name: MtfText,
    /// Media write date (all zero: unknown).
    pub media_write_date: MtfDateTime,
}

impl Volb {
    /// Size of the fixed part after the common header.
    pub const FIXED_LEN: usize = 21;

    pub(crate) fn parse(fixed: &[u8], region: &[u8]) -> Result<Volb> {
        let ((attributes, dev, vol, mach, date), _) =
            run(fixed, "VOLB block", Self::FIXED_LEN, |i| {
                let (i, a) = le_u32(i)?;
                let (i, dev) = TapeAddress::parse(i)?;
                let (i, vol) = TapeAddress::parse(i)?;
                let (i, mach) = TapeAddress::parse(i)?;
                let (i, date) = array::<5>(i)?;
                Ok((i, (a, dev, vol, mach, date)))
            })?;
        Ok(Volb {
            attributes: VolumeAttributes::from_bits_retain(attributes),
            device_name: MtfText::resolve(dev, region, "device name")?,
            volume_name: MtfText::resolve(vol, region, "volume name")?,
            machine_name: MtfText::resolve(mach, region, "machine name")?,
            media_write_date: MtfDateTime(date),
        })
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.put_le(self.attributes.bits());
        self.device_name.addr.write(out);
        self.volume_name.addr.write(out);
        self.machine_name.addr.write(out);
        out.extend_from_slice(&self.media_write_date.0);
    }

    pub(crate) fn texts(&self) -> Vec<&MtfText> {
        vec![&self.device_name, &self.volume_name, &self.machine_name]
    }

    pub(crate) fn texts_mut(&mut self) -> Vec<&mut MtfText> {
        vec![
            &mut self.device_name,
            &mut self.volume_name,
            &mut self.machine_name,
        ]
    }
}
