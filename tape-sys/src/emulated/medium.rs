//! The medium of an emulated tape: a `.tap` image in a file or in memory,
//! plus an index of where each object starts.
//!
//! The index (16 bytes per block or filemark) is what makes positioning,
//! backward spacing and MTSEEK cheap; the data itself stays in the image and
//! is read only into the caller's buffer, so a large file-backed tape does
//! not live in memory.

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

/// Scanning view of a backing whose size was read once.
struct Sized<'a> {
    backing: &'a mut Backing,
    size: u64,
}

impl ReadAt for Sized<'_> {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_exact_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.backing.read_exact_at(offset, buf)
    }
}

/// One block or filemark of the medium.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Record { len: u32, bad: bool },
    Filemark,
}

#[derive(Clone, Copy, Debug)]
struct Object {
    /// Byte offset of the leading length word.
    offset: u64,
    kind: Kind,
}

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
    objects: Vec<Object>,
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
            objects: Vec::new(),
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
        let mut objects = Vec::new();
        let mut offset = 0;
        let mut tail = false;
        let mut src = Sized {
            backing: &mut backing,
            size,
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
                        objects.push(Object {
                            offset,
                            kind: Kind::Filemark,
                        });
                        offset = s.next;
                    }
                    Marker::Record { len, bad } => {
                        objects.push(Object {
                            offset,
                            kind: Kind::Record { len, bad },
                        });
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
        Ok(Medium {
            backing,
            objects,
            end: offset,
            tail,
        })
    }

    /// Objects (blocks and filemarks) on the medium.
    pub(crate) fn len(&self) -> usize {
        self.objects.len()
    }

    pub(crate) fn kind(&self, i: usize) -> Kind {
        self.objects[i].kind
    }

    /// Image bytes up to end of data: what capacity is measured in.
    pub(crate) fn used(&self) -> u64 {
        self.end
    }

    /// Filemarks before object `i`.
    pub(crate) fn filemarks_before(&self, i: usize) -> u64 {
        self.objects[..i]
            .iter()
            .filter(|o| o.kind == Kind::Filemark)
            .count() as u64
    }

    /// Makes object `n` the new end of data, as writing there does.
    pub(crate) fn truncate(&mut self, n: usize) -> Result<(), TapeError> {
        if n < self.objects.len() {
            self.end = self.objects[n].offset;
            self.objects.truncate(n);
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

    /// Appends one encoded object at end of data. With `cut_at`, the image
    /// must not grow past that many bytes: the object is written only up to
    /// there, mid-record, as a power cut would leave it.
    pub(crate) fn append(
        &mut self,
        bytes: &[u8],
        kind: Kind,
        cut_at: Option<u64>,
    ) -> Result<Appended, TapeError> {
        self.truncate(self.objects.len())?;
        let io = |source| TapeError::Io {
            op: "writing the tape image",
            source,
        };
        if let Some(cut) = cut_at {
            if self.end + bytes.len() as u64 > cut {
                let keep = usize::try_from(cut.saturating_sub(self.end)).unwrap_or(0);
                self.backing
                    .write_all_at(self.end, &bytes[..keep])
                    .map_err(io)?;
                // The index stays as it was: the partial object is not a
                // block, and reopening the image will find it truncated.
                self.tail = keep > 0;
                return Ok(Appended::PowerCut);
            }
        }
        self.backing.write_all_at(self.end, bytes).map_err(io)?;
        self.objects.push(Object {
            offset: self.end,
            kind,
        });
        self.end += bytes.len() as u64;
        Ok(Appended::Done)
    }

    /// Reads the data of record `i` into the start of `buf`, which must be
    /// large enough.
    pub(crate) fn read_record(&mut self, i: usize, buf: &mut [u8]) -> Result<usize, TapeError> {
        let o = self.objects[i];
        let Kind::Record { len, .. } = o.kind else {
            return Err(TapeError::invalid("not a record"));
        };
        let len = len as usize;
        self.backing
            .read_exact_at(o.offset + 4, &mut buf[..len])
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
