//! The SIMH `.tap` tape image format.
//!
//! A tape is a sequence of objects, each starting with a 32-bit little-endian
//! word:
//!
//! * a **record**: the word is the record length `n`; `n` data bytes follow,
//!   then one pad byte when `n` is odd (SIMH's standard format keeps records
//!   at even offsets), then the length word again;
//! * a **tape mark** (filemark): the word 0;
//! * **end of medium**: the word `0xFFFF_FFFF`; nothing after it is part of
//!   the tape.
//!
//! The top four bits of a record word are SIMH's class: 0 is a good record,
//! 8 a record that was recorded with an error (reading it gives a medium
//! error). Other classes and the erase-gap markers are refused with a typed
//! error rather than guessed at. Reading also accepts odd records written
//! without the pad byte (the E11 variant), when the trailing word is found
//! there instead.
//!
//! Every length is checked against the bytes that are really there before
//! anything is read or allocated, so a truncated or hostile image gives a
//! [`TapError`], never a panic or a huge allocation. [`parse`] is the entry
//! point for arbitrary bytes (and for the fuzz target).

use std::io;

/// Word of a tape mark.
pub const TAPE_MARK: u32 = 0;
/// Word of the end-of-medium marker.
pub const END_OF_MEDIUM: u32 = 0xFFFF_FFFF;
/// SIMH's primary erase gap marker (not supported).
pub const ERASE_GAP: u32 = 0xFFFF_FFFE;
/// SIMH's reverse half-gap marker (not supported).
pub const HALF_GAP: u32 = 0xFFFE_FFFF;
/// The largest record length SIMH allows (24 bits).
pub const MAX_RECORD_LEN: u32 = 0x00FF_FFFF;
/// Class bits of a record written with an error.
pub const BAD_RECORD_CLASS: u32 = 0x8000_0000;

const CLASS_MASK: u32 = 0xF000_0000;
const LEN_MASK: u32 = 0x0FFF_FFFF;

/// Why an image could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TapError {
    /// The image ends inside an object.
    #[error(
        "truncated image: the object at byte {offset} needs {needed} bytes, {available} are left"
    )]
    Truncated {
        /// Where the object starts.
        offset: u64,
        /// Bytes the object needs.
        needed: u64,
        /// Bytes left in the image.
        available: u64,
    },
    /// A record's trailing length word does not repeat its leading one.
    #[error(
        "record at byte {offset}: leading length word {leading:#010x}, trailing {trailing:#010x}"
    )]
    LengthMismatch {
        /// Where the record starts.
        offset: u64,
        /// The leading word.
        leading: u32,
        /// The word found where the trailing one belongs.
        trailing: u32,
    },
    /// A marker or record class this crate does not read.
    #[error("unsupported marker {word:#010x} at byte {offset}")]
    UnsupportedMarker {
        /// Where it is.
        offset: u64,
        /// The word.
        word: u32,
    },
    /// A record longer than [`MAX_RECORD_LEN`].
    #[error(
        "record at byte {offset} claims {len} bytes, more than the {MAX_RECORD_LEN}-byte limit"
    )]
    RecordTooLong {
        /// Where it is.
        offset: u64,
        /// The claimed length.
        len: u32,
    },
}

/// What a length word announces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Marker {
    /// A record of `len` bytes; `bad` when SIMH's error class is set.
    Record {
        /// Data bytes.
        len: u32,
        /// Recorded with an error.
        bad: bool,
    },
    /// A tape mark (filemark).
    TapeMark,
    /// The end-of-medium marker.
    EndOfMedium,
}

/// Decodes a length word found at `offset`.
pub fn decode_marker(word: u32, offset: u64) -> Result<Marker, TapError> {
    match word {
        TAPE_MARK => return Ok(Marker::TapeMark),
        END_OF_MEDIUM => return Ok(Marker::EndOfMedium),
        ERASE_GAP | HALF_GAP => return Err(TapError::UnsupportedMarker { offset, word }),
        _ => {}
    }
    let bad = match word & CLASS_MASK {
        0 => false,
        BAD_RECORD_CLASS => true,
        _ => return Err(TapError::UnsupportedMarker { offset, word }),
    };
    let len = word & LEN_MASK;
    if len > MAX_RECORD_LEN {
        return Err(TapError::RecordTooLong { offset, len });
    }
    if len == 0 {
        // A zero-length record can only be a tape mark; with the error class
        // set it is nothing SIMH writes.
        return Err(TapError::UnsupportedMarker { offset, word });
    }
    Ok(Marker::Record { len, bad })
}

/// Bytes a record of `len` data bytes occupies in the standard format.
pub fn record_size(len: u32) -> u64 {
    8 + u64::from(len) + u64::from(len & 1)
}

/// Bytes of a tape mark.
pub const TAPE_MARK_SIZE: u64 = 4;

/// The bytes of one record in the standard (padded) format.
pub fn encode_record(data: &[u8]) -> Result<Vec<u8>, TapError> {
    let (word, pad) = record_frame(data)?;
    let mut out = Vec::with_capacity(data.len() + 9);
    for part in [&word[..], data, pad, &word[..]] {
        out.extend_from_slice(part);
    }
    Ok(out)
}

/// A record's frame: the length word that goes before and after `data`, and the pad byte
/// after data of odd length. Written around the data in place ([`encode_record`] copies them
/// together; the emulated drive writes the three parts with one vectored write, so a block is
/// not copied once more on its way to the image).
pub(crate) fn record_frame(data: &[u8]) -> Result<([u8; 4], &'static [u8]), TapError> {
    let len = u32::try_from(data.len())
        .ok()
        .filter(|&n| n > 0 && n <= MAX_RECORD_LEN)
        .ok_or(TapError::RecordTooLong {
            offset: 0,
            len: u32::try_from(data.len()).unwrap_or(u32::MAX),
        })?;
    let pad: &'static [u8] = if len & 1 == 1 { &[0] } else { &[] };
    Ok((len.to_le_bytes(), pad))
}

/// One object as the scanner found it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Scanned {
    /// Byte offset of the leading word.
    pub offset: u64,
    pub marker: Marker,
    /// Byte offset of the next object.
    pub next: u64,
}

/// Random access to the bytes of an image.
pub(crate) trait ReadAt {
    fn size(&self) -> u64;
    fn read_exact_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
}

impl ReadAt for &[u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }

    fn read_exact_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let start = usize::try_from(offset).map_err(|_| io::ErrorKind::UnexpectedEof)?;
        let src = start
            .checked_add(buf.len())
            .and_then(|end| self.get(start..end))
            .ok_or(io::ErrorKind::UnexpectedEof)?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

/// A scan failure: the image is bad, or reading it failed.
#[derive(Debug)]
pub(crate) enum ScanError {
    Image(TapError),
    Io(io::Error),
}

impl From<TapError> for ScanError {
    fn from(e: TapError) -> Self {
        ScanError::Image(e)
    }
}

impl From<io::Error> for ScanError {
    fn from(e: io::Error) -> Self {
        ScanError::Io(e)
    }
}

fn word_at(src: &mut impl ReadAt, offset: u64) -> io::Result<u32> {
    let mut w = [0u8; 4];
    src.read_exact_at(offset, &mut w)?;
    Ok(u32::from_le_bytes(w))
}

/// Reads the object at `offset`. `Ok(None)` at the end of the bytes.
pub(crate) fn scan_one(src: &mut impl ReadAt, offset: u64) -> Result<Option<Scanned>, ScanError> {
    let size = src.size();
    if offset >= size {
        return Ok(None);
    }
    let available = size - offset;
    if available < 4 {
        return Err(TapError::Truncated {
            offset,
            needed: 4,
            available,
        }
        .into());
    }
    let word = word_at(src, offset)?;
    let marker = decode_marker(word, offset)?;
    let next = match marker {
        Marker::TapeMark | Marker::EndOfMedium => offset + 4,
        Marker::Record { len, .. } => {
            let padded = record_size(len);
            let unpadded = 8 + u64::from(len);
            if available >= padded && word_at(src, offset + padded - 4)? == word {
                offset + padded
            } else if padded != unpadded
                && available >= unpadded
                && word_at(src, offset + unpadded - 4)? == word
            {
                offset + unpadded
            } else if available < unpadded {
                return Err(TapError::Truncated {
                    offset,
                    needed: padded,
                    available,
                }
                .into());
            } else {
                let at = if available >= padded {
                    padded
                } else {
                    unpadded
                };
                return Err(TapError::LengthMismatch {
                    offset,
                    leading: word,
                    trailing: word_at(src, offset + at - 4)?,
                }
                .into());
            }
        }
    };
    Ok(Some(Scanned {
        offset,
        marker,
        next,
    }))
}

/// One object of an image, borrowed from the image's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TapEntry<'a> {
    /// A record.
    Record {
        /// Byte offset of its leading length word.
        offset: u64,
        /// Its data.
        data: &'a [u8],
        /// Recorded with an error (SIMH class 8).
        bad: bool,
    },
    /// A tape mark (filemark).
    TapeMark {
        /// Byte offset.
        offset: u64,
    },
    /// The end-of-medium marker; the parser stops after it.
    EndOfMedium {
        /// Byte offset.
        offset: u64,
    },
}

/// Iterator over the objects of an image held in memory; see [`parse`].
#[derive(Clone, Debug)]
pub struct TapParser<'a> {
    bytes: &'a [u8],
    offset: u64,
    done: bool,
}

/// Parses arbitrary bytes as a `.tap` image.
///
/// Yields the objects in order; stops after an end-of-medium marker, at the
/// end of the bytes, or after the first error (which it yields). Never
/// panics and allocates nothing.
pub fn parse(bytes: &[u8]) -> TapParser<'_> {
    TapParser {
        bytes,
        offset: 0,
        done: false,
    }
}

impl<'a> Iterator for TapParser<'a> {
    type Item = Result<TapEntry<'a>, TapError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mut src: &[u8] = self.bytes;
        match scan_one(&mut src, self.offset) {
            Ok(None) => {
                self.done = true;
                None
            }
            Ok(Some(s)) => {
                self.offset = s.next;
                Some(Ok(match s.marker {
                    Marker::TapeMark => TapEntry::TapeMark { offset: s.offset },
                    Marker::EndOfMedium => {
                        self.done = true;
                        TapEntry::EndOfMedium { offset: s.offset }
                    }
                    Marker::Record { len, bad } => {
                        // scan_one checked that these bytes exist.
                        let start = (s.offset + 4) as usize;
                        let data = &self.bytes[start..start + len as usize];
                        TapEntry::Record {
                            offset: s.offset,
                            data,
                            bad,
                        }
                    }
                }))
            }
            Err(ScanError::Image(e)) => {
                self.done = true;
                Some(Err(e))
            }
            Err(ScanError::Io(_)) => {
                // Reading a slice cannot fail once scan_one checked the
                // bounds; report it as truncation should it ever happen.
                self.done = true;
                Some(Err(TapError::Truncated {
                    offset: self.offset,
                    needed: 4,
                    available: (self.bytes.len() as u64).saturating_sub(self.offset),
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_odd_and_even_records() {
        let mut img = encode_record(b"abc").unwrap();
        img.extend_from_slice(&TAPE_MARK.to_le_bytes());
        img.extend(encode_record(b"abcd").unwrap());
        img.extend_from_slice(&END_OF_MEDIUM.to_le_bytes());
        img.extend_from_slice(b"junk after the end");
        let entries: Vec<_> = parse(&img).collect::<Result<_, _>>().unwrap();
        assert_eq!(entries.len(), 4);
        assert!(matches!(
            entries[0],
            TapEntry::Record {
                offset: 0,
                data: b"abc",
                bad: false
            }
        ));
        assert!(matches!(entries[1], TapEntry::TapeMark { offset: 12 }));
        assert!(matches!(
            entries[2],
            TapEntry::Record {
                offset: 16,
                data: b"abcd",
                ..
            }
        ));
        assert!(matches!(entries[3], TapEntry::EndOfMedium { offset: 28 }));
    }

    #[test]
    fn unpadded_odd_record_is_accepted() {
        let mut img = 3u32.to_le_bytes().to_vec();
        img.extend_from_slice(b"xyz");
        img.extend_from_slice(&3u32.to_le_bytes());
        img.extend_from_slice(&TAPE_MARK.to_le_bytes());
        let entries: Vec<_> = parse(&img).collect::<Result<_, _>>().unwrap();
        assert!(matches!(entries[0], TapEntry::Record { data: b"xyz", .. }));
        assert!(matches!(entries[1], TapEntry::TapeMark { offset: 11 }));
    }

    #[test]
    fn damaged_images_give_typed_errors() {
        let good = encode_record(&[7u8; 10]).unwrap();
        for cut in 1..good.len() {
            let r: Result<Vec<_>, _> = parse(&good[..cut]).collect();
            assert!(
                matches!(r, Err(TapError::Truncated { offset: 0, .. })),
                "cut {cut}: {r:?}"
            );
        }
        let mut bad = good.clone();
        let n = bad.len();
        bad[n - 1] = 9;
        assert!(matches!(
            parse(&bad).next(),
            Some(Err(TapError::LengthMismatch { offset: 0, .. }))
        ));
        let huge = (MAX_RECORD_LEN + 1).to_le_bytes();
        assert!(matches!(
            parse(&huge).next(),
            Some(Err(TapError::RecordTooLong { .. }))
        ));
        let gap = ERASE_GAP.to_le_bytes();
        assert!(matches!(
            parse(&gap).next(),
            Some(Err(TapError::UnsupportedMarker { .. }))
        ));
        let class = 0x4000_0010u32.to_le_bytes();
        assert!(matches!(
            parse(&class).next(),
            Some(Err(TapError::UnsupportedMarker { .. }))
        ));
    }

    #[test]
    fn bad_record_class_is_kept() {
        let mut img = (BAD_RECORD_CLASS | 2).to_le_bytes().to_vec();
        img.extend_from_slice(b"ok");
        img.extend_from_slice(&(BAD_RECORD_CLASS | 2).to_le_bytes());
        let e = parse(&img).next().unwrap().unwrap();
        assert!(matches!(
            e,
            TapEntry::Record {
                bad: true,
                data: b"ok",
                ..
            }
        ));
    }
}
