//! MTF_DATE_TIME: a 40-bit packed civil date and time.
//!
//! The five bytes are one big-endian 40-bit value: year (14 bits), month (4), day (5), hour (5),
//! minute (6), second (6). All zero means "no date". There is no time zone inside; SSET carries
//! one separately. The raw bytes are kept, because real media hold values that are not valid
//! dates (month 0, say) and a byte-exact writer must return them.

use std::fmt;

/// The packed date exactly as stored.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct MtfDateTime(pub [u8; 5]);

/// A calendar date and time (no time zone), the decoded form of [`MtfDateTime`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct DateTime {
    /// Year.
    pub year: u16,
    /// Month.
    pub month: u8,
    /// Day.
    pub day: u8,
    /// Hour.
    pub hour: u8,
    /// Minute.
    pub minute: u8,
    /// Second.
    pub second: u8,
}

impl MtfDateTime {
    /// The "no date" value.
    pub const NONE: MtfDateTime = MtfDateTime([0; 5]);

    fn packed(self) -> u64 {
        self.0.iter().fold(0u64, |acc, &b| (acc << 8) | b as u64)
    }

    /// Whether the date is the all-zero "undefined" value.
    pub fn is_none(self) -> bool {
        self.0 == [0; 5]
    }

    /// The raw fields, whatever their values.
    pub fn fields(self) -> DateTime {
        let v = self.packed();
        DateTime {
            year: ((v >> 26) & 0x3FFF) as u16,
            month: ((v >> 22) & 0xF) as u8,
            day: ((v >> 17) & 0x1F) as u8,
            hour: ((v >> 12) & 0x1F) as u8,
            minute: ((v >> 6) & 0x3F) as u8,
            second: (v & 0x3F) as u8,
        }
    }

    /// The calendar value, or `None` for the undefined date or an impossible one.
    pub fn to_datetime(self) -> Option<DateTime> {
        if self.is_none() {
            return None;
        }
        let d = self.fields();
        d.is_valid().then_some(d)
    }

    /// Packs a calendar value. Returns `None` if it cannot be represented (year > 16383) or is
    /// not a real date and time.
    pub fn from_datetime(d: DateTime) -> Option<MtfDateTime> {
        if !d.is_valid() || d.year > 0x3FFF {
            return None;
        }
        let v = (d.year as u64) << 26
            | (d.month as u64) << 22
            | (d.day as u64) << 17
            | (d.hour as u64) << 12
            | (d.minute as u64) << 6
            | d.second as u64;
        let b = v.to_be_bytes();
        Some(MtfDateTime([b[3], b[4], b[5], b[6], b[7]]))
    }
}

impl DateTime {
    /// Whether the fields name a real calendar date and time of day.
    pub fn is_valid(&self) -> bool {
        (1..=12).contains(&self.month)
            && self.day >= 1
            && self.day <= days_in_month(self.year, self.month)
            && self.hour < 24
            && self.minute < 60
            && self.second < 60
    }

    /// Seconds since 1970-01-01 00:00:00, treating the value as UTC.
    pub fn to_unix(&self) -> i64 {
        days_from_civil(self.year as i64, self.month as i64, self.day as i64) * 86_400
            + self.hour as i64 * 3600
            + self.minute as i64 * 60
            + self.second as i64
    }

    /// The calendar value of a Unix time (UTC), if its year fits MTF (0..=16383).
    pub fn from_unix(secs: i64) -> Option<DateTime> {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        if !(0..=0x3FFF).contains(&y) {
            return None;
        }
        Some(DateTime {
            year: y as u16,
            month: m as u8,
            day: d as u8,
            hour: (rem / 3600) as u8,
            minute: (rem % 3600 / 60) as u8,
            second: (rem % 60) as u8,
        })
    }

    /// The calendar value of a `SystemTime` (UTC).
    pub fn from_system_time(t: std::time::SystemTime) -> Option<DateTime> {
        let secs = match t.duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).ok()?,
            Err(e) => -i64::try_from(e.duration().as_secs()).ok()?,
        };
        Self::from_unix(secs)
    }
}

fn is_leap(y: u16) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: u16, m: u8) -> u8 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

// Howard Hinnant's days-from-civil algorithm (proleptic Gregorian calendar).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (y, m, d)
}

impl fmt::Display for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

impl fmt::Display for MtfDateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_none() {
            return f.write_str("(none)");
        }
        match self.to_datetime() {
            Some(d) => d.fmt(f),
            None => write!(f, "(invalid {:02x?})", self.0),
        }
    }
}

impl fmt::Debug for MtfDateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MtfDateTime({self})")
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for MtfDateTime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.to_datetime() {
            Some(d) => s.collect_str(&d),
            None => s.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dt(year: u16, month: u8, day: u8, hour: u8, minute: u8, second: u8) -> DateTime {
        DateTime {
            year,
            month,
            day,
            hour,
            minute,
            second,
        }
    }

    #[test]
    fn spec_example_encodes_and_decodes() {
        let d = dt(1996, 12, 31, 20, 7, 30);
        let packed = MtfDateTime::from_datetime(d).unwrap();
        assert_eq!(packed.0, [0x1F, 0x33, 0x3F, 0x41, 0xDE]);
        assert_eq!(
            MtfDateTime([0x1F, 0x33, 0x3F, 0x41, 0xDE]).to_datetime(),
            Some(d)
        );
        assert_eq!(packed.to_string(), "1996-12-31 20:07:30");
    }

    #[test]
    fn zero_is_no_date_and_invalid_values_keep_their_bytes() {
        assert_eq!(MtfDateTime::NONE.to_datetime(), None);
        // Month 0 is not a date, but the raw fields are still there.
        let bad = MtfDateTime([0x1F, 0x30, 0x3F, 0x41, 0xDE]);
        assert_eq!(bad.to_datetime(), None);
        assert_eq!(bad.fields().year, 1996);
        assert_eq!(bad.fields().month, 0);
        assert!(MtfDateTime::from_datetime(dt(2023, 2, 29, 0, 0, 0)).is_none());
        assert!(MtfDateTime::from_datetime(dt(2024, 2, 29, 23, 59, 59)).is_some());
    }

    #[test]
    fn unix_conversion_round_trips() {
        assert_eq!(dt(1970, 1, 1, 0, 0, 0).to_unix(), 0);
        assert_eq!(dt(1996, 12, 31, 20, 7, 30).to_unix(), 852_062_850);
        for secs in [0i64, 852_062_850, 951_782_400, 4_102_444_799, -86_400] {
            assert_eq!(DateTime::from_unix(secs).unwrap().to_unix(), secs);
        }
    }
}
