//! The medium of an emulated tape: a `.tap` image in a file or in memory,
//! plus an index of where each object starts.
//!
//! The index is what makes positioning, backward spacing and MTSEEK cheap;
//! the data itself stays in the image and is read only into the caller's
//! buffer, so a large file-backed tape does not live in memory. The index
//! holds one entry per block but one per *run* of consecutive filemarks (each
//! a 4-byte marker in the image), with the count of filemarks before it: an
//! image of nothing but filemarks costs one entry however large it is, and
//! every lookup is a binary search.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use super::tap_format::{self, Marker, ReadAt, ScanError};
use crate::error::TapeError;

/// Where the image bytes live.
#[derive(Debug)]
pub(crate) enum Backing {
    Memory(Vec<u8>),
    File(File),
}

impl Backing {
    fn size(&self) -> io::Result<u64> {
        match self {
            Backing::Memory(v) => Ok(v.len() as u64),
            Backing::File(f) => Ok(f.metadata()?.len()),
        }
    }

    fn read_exact_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        match self {
            Backing::Memory(v) => {
                let mut s: &[u8] = v;
                s.read_exact_at(offset, buf)
            }
            Backing::File(f) => f.read_exact_at(buf, offset),
        }
    }

    fn write_all_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        match self {
            Backing::Memory(v) => {
                let start = usize::try_from(offset).map_err(|_| io::ErrorKind::OutOfMemory)?;
                let end = start + data.len();
                if v.len() < end {
                    v.resize(end, 0);
                }
                v[start..end].copy_from_slice(data);
                Ok(())
            }
            Backing::File(f) => f.write_all_at(data, offset),
        }
    }

    /// Writes the parts one after the other from `offset`: one vectored write for a file.
    fn write_parts_at(&mut self, mut offset: u64, parts: &[&[u8]]) -> io::Result<()> {
        match self {
            Backing::Memory(_) => {
                for p in parts {
                    self.write_all_at(offset, p)?;
                    offset += p.len() as u64;
                }
                Ok(())
            }
            Backing::File(f) => {
                let mut iov: Vec<io::IoSlice<'_>> =
                    parts.iter().map(|p| io::IoSlice::new(p)).collect();
                let mut iov = &mut iov[..];
                while !iov.is_empty() {
                    let at = libc::off_t::try_from(offset)
                        .map_err(|_| io::Error::from(io::ErrorKind::FileTooLarge))?;
                    match nix::sys::uio::pwritev(&*f, iov, at) {
                        Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                        Ok(n) => {
                            offset += n as u64;
                            io::IoSlice::advance_slices(&mut iov, n);
                        }
                        Err(nix::errno::Errno::EINTR) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                Ok(())
            }
        }
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        match self {
            Backing::Memory(v) => {
                v.truncate(usize::try_from(len).unwrap_or(usize::MAX));
                Ok(())
            }
            Backing::File(f) => f.set_len(len),
        }
    }

    pub(crate) fn sync(&mut self) -> io::Result<()> {
        match self {
            Backing::Memory(_) => Ok(()),
            Backing::File(f) => f.sync_data(),
        }
    }
}

/// Scanning view of a backing whose size was read once, read through a window of up to
/// [`SCAN_WINDOW`] bytes: the scan reads each object's 4-byte markers, and a read call per
/// marker would cost a system call per filemark. When the read that falls outside the window
/// jumped over more than [`SKIP_WINDOW`] bytes since the last one (over a record's data), the
/// next window is [`SKIP_WINDOW`] bytes: the markers at the end of one record and the start of
/// the next are side by side, and full windows there read the whole image to open it (an
/// eighth of a restore's time on a 1 GiB image of 64 KiB blocks).
struct Sized<'a> {
    backing: &'a mut Backing,
    size: u64,
    window: Vec<u8>,
    window_at: u64,
    /// Where the last read ended.
    last: u64,
}

const SCAN_WINDOW: usize = 1 << 20;
const SKIP_WINDOW: usize = 4 << 10;

impl ReadAt for Sized<'_> {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_exact_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        if buf.len() > SCAN_WINDOW / 2 {
            return self.backing.read_exact_at(offset, buf);
        }
        let end = offset + buf.len() as u64;
        let jumped = offset.saturating_sub(self.last);
        self.last = end;
        let have = self.window_at + self.window.len() as u64;
        if offset < self.window_at || end > have {
            let want = if jumped > SKIP_WINDOW as u64 {
                SKIP_WINDOW
            } else {
                SCAN_WINDOW
            };
            let n = (want as u64).min(self.size.saturating_sub(offset)) as usize;
            if n < buf.len() {
                return self.backing.read_exact_at(offset, buf);
            }
            self.window.resize(n, 0);
            self.backing.read_exact_at(offset, &mut self.window)?;
            self.window_at = offset;
        }
        let at = (offset - self.window_at) as usize;
        buf.copy_from_slice(&self.window[at..at + buf.len()]);
        Ok(())
    }
}

/// One block or filemark of the medium.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Record { len: u32, bad: bool },
    Filemark,
}

/// A block, or a run of consecutive filemarks, and where it starts.
#[derive(Clone, Copy, Debug)]
struct Run {
    /// Index of its first object.
    first: usize,
    /// Byte offset of its first object's leading length word.
    offset: u64,
    /// Filemarks before it.
    filemarks_before: u64,
    /// A block, or `None` for a run of filemarks.
    record: Option<(u32, bool)>,
    /// Objects in it (1 for a block).
    count: usize,
}

/// Bytes a filemark takes in the image.
const FILEMARK_BYTES: u64 = 4;

/// What an append did.
#[derive(Debug)]
pub(crate) enum Appended {
    Done,
    /// The power-cut fault struck: only a prefix reached the image.
    PowerCut,
}

/// The image and its index.
#[derive(Debug)]
pub(crate) struct Medium {
    backing: Backing,
    runs: Vec<Run>,
    /// Byte offset of end of data: where the next object goes.
    end: u64,
    /// The image has bytes after `end` (an end-of-medium marker, or a
    /// damaged tail dropped by recovery); the first write cuts them off.
    tail: bool,
}

impl Medium {
    pub(crate) fn blank(backing: Backing) -> Result<Self, TapeError> {
        let mut m = Medium {
            backing,
            runs: Vec::new(),
            end: 0,
            tail: false,
        };
        m.backing.set_len(0).map_err(|source| TapeError::Io {
            op: "truncating the tape image",
            source,
        })?;
        Ok(m)
    }

    /// Indexes an existing image. A damaged image is an error unless
    /// `recover`, which keeps every object before the damage and treats the
    /// damage as end of data.
    pub(crate) fn load(mut backing: Backing, recover: bool) -> Result<Self, TapeError> {
        let size = backing.size().map_err(|source| TapeError::Io {
            op: "reading the tape image size",
            source,
        })?;
        let mut m = Medium {
            backing: Backing::Memory(Vec::new()),
            runs: Vec::new(),
            end: 0,
            tail: false,
        };
        let mut offset = 0;
        let mut tail = false;
        let mut src = Sized {
            backing: &mut backing,
            size,
            window: Vec::new(),
            window_at: 0,
            last: 0,
        };
        loop {
            match tap_format::scan_one(&mut src, offset) {
                Ok(None) => break,
                Ok(Some(s)) => match s.marker {
                    Marker::EndOfMedium => {
                        tail = true;
                        break;
                    }
                    Marker::TapeMark => {
                        m.push(offset, Kind::Filemark);
                        offset = s.next;
                    }
                    Marker::Record { len, bad } => {
                        m.push(offset, Kind::Record { len, bad });
                        offset = s.next;
                    }
                },
                Err(ScanError::Image(e)) => {
                    if recover {
                        tail = true;
                        break;
                    }
                    return Err(TapeError::Image(e));
                }
                Err(ScanError::Io(source)) => {
                    return Err(TapeError::Io {
                        op: "reading the tape image",
                        source,
                    })
                }
            }
        }
        m.backing = backing;
        m.end = offset;
        m.tail = tail;
        Ok(m)
    }

    /// Adds an object at `offset` to the index: a block as a run of its own, a filemark to the
    /// run of filemarks it follows.
    fn push(&mut self, offset: u64, kind: Kind) {
        let first = self.len();
        match (kind, self.runs.last_mut()) {
            (Kind::Filemark, Some(r)) if r.record.is_none() => r.count += 1,
            _ => {
                let filemarks_before = self.runs.last().map_or(0, |r| {
                    r.filemarks_before
                        + if r.record.is_none() {
                            r.count as u64
                        } else {
                            0
                        }
                });
                self.runs.push(Run {
                    first,
                    offset,
                    filemarks_before,
                    record: match kind {
                        Kind::Record { len, bad } => Some((len, bad)),
                        Kind::Filemark => None,
                    },
                    count: 1,
                });
            }
        }
    }

    /// The run holding object `i` (which must exist).
    fn run_of(&self, i: usize) -> &Run {
        let k = self.runs.partition_point(|r| r.first <= i) - 1;
        &self.runs[k]
    }

    /// Byte offset of object `i`.
    fn offset_of(&self, i: usize) -> u64 {
        let r = self.run_of(i);
        r.offset + (i - r.first) as u64 * FILEMARK_BYTES
    }

    /// Objects (blocks and filemarks) on the medium.
    pub(crate) fn len(&self) -> usize {
        self.runs.last().map_or(0, |r| r.first + r.count)
    }

    pub(crate) fn kind(&self, i: usize) -> Kind {
        match self.run_of(i).record {
            Some((len, bad)) => Kind::Record { len, bad },
            None => Kind::Filemark,
        }
    }

    /// Image bytes up to end of data: what capacity is measured in.
    pub(crate) fn used(&self) -> u64 {
        self.end
    }

    /// Filemarks before object `i`.
    pub(crate) fn filemarks_before(&self, i: usize) -> u64 {
        if i == 0 {
            return 0;
        }
        // Those before object i-1, plus i-1 itself if it is one.
        let r = self.run_of(i - 1);
        match r.record {
            Some(_) => r.filemarks_before,
            None => r.filemarks_before + (i - r.first) as u64,
        }
    }

    /// Makes object `n` the new end of data, as writing there does.
    pub(crate) fn truncate(&mut self, n: usize) -> Result<(), TapeError> {
        if n < self.len() {
            self.end = self.offset_of(n);
            let k = self.runs.partition_point(|r| r.first < n);
            self.runs.truncate(k);
            if let Some(r) = self.runs.last_mut() {
                r.count = r.count.min(n - r.first);
            }
            self.tail = true;
        }
        if self.tail {
            self.backing
                .set_len(self.end)
                .map_err(|source| TapeError::Io {
                    op: "truncating the tape image",
                    source,
                })?;
            self.tail = false;
        }
        Ok(())
    }

    /// Appends one encoded object at end of data, given as the parts it is made of, one after
    /// the other (a record's frame around its data, see [`tap_format::record_frame`]). With
    /// `cut_at`, the image must not grow past that many bytes: the object is written only up
    /// to there, mid-record, as a power cut would leave it.
    pub(crate) fn append(
        &mut self,
        parts: &[&[u8]],
        kind: Kind,
        cut_at: Option<u64>,
    ) -> Result<Appended, TapeError> {
        self.truncate(self.len())?;
        let io = |source| TapeError::Io {
            op: "writing the tape image",
            source,
        };
        let size: u64 = parts.iter().map(|p| p.len() as u64).sum();
        if let Some(cut) = cut_at {
            if self.end + size > cut {
                let keep = usize::try_from(cut.saturating_sub(self.end)).unwrap_or(0);
                let mut left = keep;
                let kept: Vec<&[u8]> = parts
                    .iter()
                    .map(|p| {
                        let n = left.min(p.len());
                        left -= n;
                        &p[..n]
                    })
                    .collect();
                self.backing.write_parts_at(self.end, &kept).map_err(io)?;
                // The index stays as it was: the partial object is not a
                // block, and reopening the image will find it truncated.
                self.tail = keep > 0;
                return Ok(Appended::PowerCut);
            }
        }
        self.backing.write_parts_at(self.end, parts).map_err(io)?;
        self.push(self.end, kind);
        self.end += size;
        Ok(Appended::Done)
    }

    /// Reads the data of record `i` into the start of `buf`, which must be
    /// large enough.
    pub(crate) fn read_record(&mut self, i: usize, buf: &mut [u8]) -> Result<usize, TapeError> {
        let r = *self.run_of(i);
        let Some((len, _)) = r.record else {
            return Err(TapeError::invalid("not a record"));
        };
        let len = len as usize;
        self.backing
            .read_exact_at(r.offset + 4, &mut buf[..len])
            .map_err(|source| TapeError::Io {
                op: "reading the tape image",
                source,
            })?;
        Ok(len)
    }

    pub(crate) fn sync(&mut self) -> Result<(), TapeError> {
        self.backing.sync().map_err(|source| TapeError::Io {
            op: "syncing the tape image",
            source,
        })
    }

    /// The image bytes (the whole file for a file-backed medium).
    pub(crate) fn image(&mut self) -> Result<Vec<u8>, TapeError> {
        match &self.backing {
            Backing::Memory(v) => Ok(v.clone()),
            Backing::File(_) => {
                let size = self.backing.size().map_err(|source| TapeError::Io {
                    op: "reading the tape image size",
                    source,
                })?;
                let mut v = vec![0; usize::try_from(size).unwrap_or(0)];
                self.backing
                    .read_exact_at(0, &mut v)
                    .map_err(|source| TapeError::Io {
                        op: "reading the tape image",
                        source,
                    })?;
                Ok(v)
            }
        }
    }

    /// The in-memory image, when there is one.
    pub(crate) fn memory(&self) -> Option<&[u8]> {
        match &self.backing {
            Backing::Memory(v) => Some(v),
            Backing::File(_) => None,
        }
    }

    pub(crate) fn take_memory(&mut self) -> Option<Vec<u8>> {
        match &mut self.backing {
            Backing::Memory(v) => Some(std::mem::take(v)),
            Backing::File(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(kinds: &[Kind]) -> Medium {
        let mut m = Medium::blank(Backing::Memory(Vec::new())).unwrap();
        for k in kinds {
            let bytes = match k {
                Kind::Filemark => vec![0; 4],
                Kind::Record { len, .. } => {
                    let mut v = len.to_le_bytes().to_vec();
                    v.extend(vec![9u8; *len as usize + (*len as usize & 1)]);
                    v.extend(len.to_le_bytes());
                    v
                }
            };
            m.append(&[&bytes], *k, None).unwrap();
        }
        m
    }

    #[test]
    fn the_run_index_answers_like_a_list_of_objects() {
        let r = |len| Kind::Record { len, bad: false };
        let f = Kind::Filemark;
        let kinds = [f, f, r(3), f, r(4), r(5), f, f, f, r(1), f];
        let mut m = image(&kinds);
        assert_eq!(m.len(), kinds.len());
        for (i, k) in kinds.iter().enumerate() {
            assert_eq!(m.kind(i), *k, "object {i}");
            let fm = kinds[..i].iter().filter(|k| **k == f).count() as u64;
            assert_eq!(m.filemarks_before(i), fm, "before {i}");
        }
        assert_eq!(m.filemarks_before(kinds.len()), 7);
        // Reloaded from its bytes, the same index.
        let bytes = m.image().unwrap();
        let mut again = Medium::load(Backing::Memory(bytes), false).unwrap();
        assert_eq!(again.len(), kinds.len());
        let mut buf = [0u8; 8];
        assert_eq!(again.read_record(4, &mut buf).unwrap(), 4);
        // Truncated inside a run of filemarks, and at a block.
        for n in [7, 5, 1, 0] {
            let mut t = Medium::load(Backing::Memory(m.image().unwrap()), false).unwrap();
            t.truncate(n).unwrap();
            assert_eq!(t.len(), n);
            for (i, k) in kinds[..n].iter().enumerate() {
                assert_eq!(t.kind(i), *k);
            }
            t.append(&[&[0; 4]], f, None).unwrap();
            assert_eq!(t.kind(n), f);
        }
        m.truncate(3).unwrap();
        assert_eq!(m.used(), 4 + 4 + 4 + 3 + 1 + 4);
    }

    #[test]
    fn a_hundred_megabytes_of_filemarks_take_one_index_entry() {
        let m = Medium::load(Backing::Memory(vec![0; 100 << 20]), false).unwrap();
        assert_eq!(m.len(), 25 << 20);
        assert_eq!(m.runs.len(), 1);
        assert_eq!(m.filemarks_before(m.len()), 25 << 20);
    }
}
