//! Where the reader's bytes come from: a small block-source trait of the codec's own.
//!
//! A tape drive hands out one physical block per read and reports filemarks and end of data as
//! results; a file hands out any number of bytes and has no hardware filemarks (soft filemarks,
//! SFMB blocks, stand in for them). [`BlockSource`] covers both, so `mtf` never knows about
//! devices: the `media` crate implements it for tape devices, and this module implements it for
//! plain files ([`FileSource`], seekable) and for any byte stream ([`StreamSource`], a pipe).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};

/// What one [`BlockSource::read_block`] call found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockRead {
    /// `n` bytes were placed at the start of the buffer (one physical block on a tape).
    Data(usize),
    /// A hardware filemark. The next read returns what follows it.
    Filemark,
    /// End of recorded data: nothing follows.
    EndOfData,
}

/// A source of blocks: a tape device, a tape image, a file or a pipe.
///
/// Contract: `read_block` fills the start of `buf` and says how much it placed. A tape source
/// reads exactly one physical block (so `buf` must hold [`BlockSource::max_block_len`] bytes); a
/// byte-stream source may place any non-zero number of bytes. Filemarks and end of data are
/// results, not errors. The optional methods let the reader skip data without reading it.
pub trait BlockSource {
    /// Reads the next block (or, for a byte stream, the next bytes) into `buf`.
    fn read_block(&mut self, buf: &mut [u8]) -> io::Result<BlockRead>;

    /// Moves forward `n` bytes without reading them, if the source can; `Ok(false)` if it cannot
    /// (the reader then reads and discards). Only called between blocks of a byte stream source,
    /// where a skip cannot cross a hardware filemark.
    fn skip(&mut self, _n: u64) -> io::Result<bool> {
        Ok(false)
    }

    /// Moves to an absolute byte offset, if the source can; `Ok(false)` if it cannot.
    fn seek_to(&mut self, _offset: u64) -> io::Result<bool> {
        Ok(false)
    }

    /// The total length in bytes, when known (a file); `None` for tapes and pipes.
    fn total_len(&mut self) -> Option<u64> {
        None
    }

    /// The largest block a read can return; the reader's buffer is at least this big.
    fn max_block_len(&self) -> usize {
        64 * 1024
    }

    /// Whether the source hands out whole physical blocks (a tape) rather than a byte stream.
    fn is_block_device(&self) -> bool {
        false
    }

    /// The underlying file, when the source is one: lets the reader copy stream data to another
    /// file in the kernel (`copy_file_range`) instead of through its buffer.
    fn as_file(&mut self) -> Option<&mut File> {
        None
    }

    /// Tape positioning, used to reach a medium's last set without reading it all: goes to end
    /// of recorded data. `Ok(false)` (without moving) if the source cannot.
    fn end_of_data(&mut self) -> io::Result<bool> {
        Ok(false)
    }

    /// Spaces backward over `n` hardware filemarks, then forward over the last one crossed, so
    /// the next read returns the first block after it (mt's `bsfm`). `Ok(false)` (without
    /// moving) if the source cannot.
    fn space_filemarks_back(&mut self, _n: u32) -> io::Result<bool> {
        Ok(false)
    }

    /// Spaces forward over `n` hardware filemarks, stopping just after the last (mt's `fsf`).
    /// `Ok(false)` (without moving) if the source cannot.
    fn space_filemarks_forward(&mut self, _n: u32) -> io::Result<bool> {
        Ok(false)
    }

    /// Goes back to the start of the medium. `Ok(false)` (without moving) if the source cannot.
    fn rewind(&mut self) -> io::Result<bool> {
        Ok(false)
    }
}

impl<S: BlockSource + ?Sized> BlockSource for &mut S {
    fn read_block(&mut self, buf: &mut [u8]) -> io::Result<BlockRead> {
        (**self).read_block(buf)
    }
    fn skip(&mut self, n: u64) -> io::Result<bool> {
        (**self).skip(n)
    }
    fn seek_to(&mut self, offset: u64) -> io::Result<bool> {
        (**self).seek_to(offset)
    }
    fn total_len(&mut self) -> Option<u64> {
        (**self).total_len()
    }
    fn max_block_len(&self) -> usize {
        (**self).max_block_len()
    }
    fn is_block_device(&self) -> bool {
        (**self).is_block_device()
    }
    fn as_file(&mut self) -> Option<&mut File> {
        (**self).as_file()
    }
    fn end_of_data(&mut self) -> io::Result<bool> {
        (**self).end_of_data()
    }
    fn space_filemarks_back(&mut self, n: u32) -> io::Result<bool> {
        (**self).space_filemarks_back(n)
    }
    fn space_filemarks_forward(&mut self, n: u32) -> io::Result<bool> {
        (**self).space_filemarks_forward(n)
    }
    fn rewind(&mut self) -> io::Result<bool> {
        (**self).rewind()
    }
}

impl<S: BlockSource + ?Sized> BlockSource for Box<S> {
    fn read_block(&mut self, buf: &mut [u8]) -> io::Result<BlockRead> {
        (**self).read_block(buf)
    }
    fn skip(&mut self, n: u64) -> io::Result<bool> {
        (**self).skip(n)
    }
    fn seek_to(&mut self, offset: u64) -> io::Result<bool> {
        (**self).seek_to(offset)
    }
    fn total_len(&mut self) -> Option<u64> {
        (**self).total_len()
    }
    fn max_block_len(&self) -> usize {
        (**self).max_block_len()
    }
    fn is_block_device(&self) -> bool {
        (**self).is_block_device()
    }
    fn as_file(&mut self) -> Option<&mut File> {
        (**self).as_file()
    }
    fn end_of_data(&mut self) -> io::Result<bool> {
        (**self).end_of_data()
    }
    fn space_filemarks_back(&mut self, n: u32) -> io::Result<bool> {
        (**self).space_filemarks_back(n)
    }
    fn space_filemarks_forward(&mut self, n: u32) -> io::Result<bool> {
        (**self).space_filemarks_forward(n)
    }
    fn rewind(&mut self) -> io::Result<bool> {
        (**self).rewind()
    }
}

fn read_retry<R: Read + ?Sized>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match r.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// A seekable byte source over any `Read + Seek`: a disk image, a `Cursor` over bytes in
/// memory. No hardware filemarks; skipping seeks. For a plain [`File`] prefer [`FileSource`],
/// which can also copy data in the kernel.
#[derive(Debug)]
pub struct SeekSource<R> {
    inner: R,
    len: Option<u64>,
}

impl<R: Read + Seek> SeekSource<R> {
    /// Wraps a seekable reader positioned at the start of the medium.
    pub fn new(inner: R) -> Self {
        SeekSource { inner, len: None }
    }

    /// The wrapped reader.
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// The wrapped reader, by reference.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }
}

fn seek_len<R: Seek>(r: &mut R, cache: &mut Option<u64>) -> Option<u64> {
    if cache.is_none() {
        let here = r.stream_position().ok()?;
        let end = r.seek(SeekFrom::End(0)).ok()?;
        r.seek(SeekFrom::Start(here)).ok()?;
        *cache = Some(end);
    }
    *cache
}

fn seek_skip<R: Seek>(r: &mut R, n: u64) -> io::Result<bool> {
    let n = i64::try_from(n).map_err(|_| io::Error::other("skip too large"))?;
    r.seek(SeekFrom::Current(n))?;
    Ok(true)
}

impl<R: Read + Seek> BlockSource for SeekSource<R> {
    fn read_block(&mut self, buf: &mut [u8]) -> io::Result<BlockRead> {
        match read_retry(&mut self.inner, buf)? {
            0 => Ok(BlockRead::EndOfData),
            n => Ok(BlockRead::Data(n)),
        }
    }

    fn skip(&mut self, n: u64) -> io::Result<bool> {
        seek_skip(&mut self.inner, n)
    }

    fn seek_to(&mut self, offset: u64) -> io::Result<bool> {
        self.inner.seek(SeekFrom::Start(offset))?;
        Ok(true)
    }

    fn total_len(&mut self) -> Option<u64> {
        seek_len(&mut self.inner, &mut self.len)
    }

    fn max_block_len(&self) -> usize {
        1 << 20
    }
}

/// A plain file (a `.bak`, `.bkf`, `.trn`, a tape image of one file). No hardware filemarks;
/// skipping seeks; stream data can be copied to another file in the kernel.
#[derive(Debug)]
pub struct FileSource {
    inner: File,
    len: Option<u64>,
}

impl FileSource {
    /// Wraps an open file positioned at the start of the medium.
    pub fn new(inner: File) -> Self {
        FileSource { inner, len: None }
    }

    /// Opens a file.
    pub fn open(path: impl AsRef<std::path::Path>) -> io::Result<Self> {
        Ok(FileSource::new(File::open(path)?))
    }

    /// The wrapped file.
    pub fn into_inner(self) -> File {
        self.inner
    }
}

impl BlockSource for FileSource {
    fn read_block(&mut self, buf: &mut [u8]) -> io::Result<BlockRead> {
        match read_retry(&mut self.inner, buf)? {
            0 => Ok(BlockRead::EndOfData),
            n => Ok(BlockRead::Data(n)),
        }
    }

    fn skip(&mut self, n: u64) -> io::Result<bool> {
        seek_skip(&mut self.inner, n)
    }

    fn seek_to(&mut self, offset: u64) -> io::Result<bool> {
        self.inner.seek(SeekFrom::Start(offset))?;
        Ok(true)
    }

    fn total_len(&mut self) -> Option<u64> {
        seek_len(&mut self.inner, &mut self.len)
    }

    fn max_block_len(&self) -> usize {
        1 << 20
    }

    fn as_file(&mut self) -> Option<&mut File> {
        Some(&mut self.inner)
    }
}

/// A forward-only byte source (a pipe, standard input). No filemarks; skipping reads.
#[derive(Debug)]
pub struct StreamSource<R> {
    inner: R,
}

impl<R: Read> StreamSource<R> {
    /// Wraps a reader.
    pub fn new(inner: R) -> Self {
        StreamSource { inner }
    }

    /// The wrapped reader.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read> BlockSource for StreamSource<R> {
    fn read_block(&mut self, buf: &mut [u8]) -> io::Result<BlockRead> {
        match read_retry(&mut self.inner, buf)? {
            0 => Ok(BlockRead::EndOfData),
            n => Ok(BlockRead::Data(n)),
        }
    }

    fn max_block_len(&self) -> usize {
        1 << 20
    }
}

/// Counts the bytes read through a reader (and how many reads and seeks it took): the figures
/// the benchmarks report to show that listing reads only headers.
#[derive(Debug, Default)]
pub struct Counting<R> {
    inner: R,
    /// Bytes returned by `read`.
    pub bytes: u64,
    /// Calls to `read` that returned data.
    pub reads: u64,
    /// Calls to `seek`.
    pub seeks: u64,
}

impl<R> Counting<R> {
    /// Wraps a reader with zeroed counters.
    pub fn new(inner: R) -> Self {
        Counting {
            inner,
            bytes: 0,
            reads: 0,
            seeks: 0,
        }
    }

    /// The wrapped reader.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        if n > 0 {
            self.reads += 1;
        }
        Ok(n)
    }
}

impl<R: Seek> Seek for Counting<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.seeks += 1;
        self.inner.seek(pos)
    }
}

/// A shared byte counter for sources that are handed to a reader by value.
#[derive(Clone, Debug, Default)]
pub struct ByteCounter(std::sync::Arc<std::sync::atomic::AtomicU64>);

impl ByteCounter {
    /// A counter at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes counted so far.
    pub fn get(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Wraps a reader so that every byte it returns is counted here.
    pub fn wrap<R>(&self, inner: R) -> CountedReader<R> {
        CountedReader {
            inner,
            counter: self.clone(),
        }
    }
}

/// A reader that adds what it returns to a [`ByteCounter`].
#[derive(Debug)]
pub struct CountedReader<R> {
    inner: R,
    counter: ByteCounter,
}

impl<R: Read> Read for CountedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counter
            .0
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

impl<R: Seek> Seek for CountedReader<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

/// An in-memory tape for tests: records and filemarks, read one record per call.
#[derive(Clone, Debug, Default)]
pub struct MemoryTape {
    items: Vec<Option<Vec<u8>>>,
    next: usize,
}

impl MemoryTape {
    /// An empty tape.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a record.
    pub fn push_record(&mut self, bytes: Vec<u8>) {
        self.items.push(Some(bytes));
    }

    /// Appends a filemark.
    pub fn push_filemark(&mut self) {
        self.items.push(None);
    }

    /// Appends `bytes` cut into records of `block` bytes (the last may be short).
    pub fn push_blocks(&mut self, bytes: &[u8], block: usize) {
        for c in bytes.chunks(block.max(1)) {
            self.push_record(c.to_vec());
        }
    }
}

impl BlockSource for MemoryTape {
    fn read_block(&mut self, buf: &mut [u8]) -> io::Result<BlockRead> {
        let Some(item) = self.items.get(self.next) else {
            return Ok(BlockRead::EndOfData);
        };
        self.next += 1;
        match item {
            None => Ok(BlockRead::Filemark),
            Some(rec) => {
                if rec.len() > buf.len() {
                    return Err(io::Error::other(format!(
                        "record of {} bytes does not fit a {}-byte buffer",
                        rec.len(),
                        buf.len()
                    )));
                }
                buf[..rec.len()].copy_from_slice(rec);
                Ok(BlockRead::Data(rec.len()))
            }
        }
    }

    fn is_block_device(&self) -> bool {
        true
    }

    fn end_of_data(&mut self) -> io::Result<bool> {
        self.next = self.items.len();
        Ok(true)
    }

    fn space_filemarks_back(&mut self, n: u32) -> io::Result<bool> {
        if n == 0 {
            return Ok(true);
        }
        let mut seen = 0;
        for i in (0..self.next.min(self.items.len())).rev() {
            if self.items[i].is_none() {
                seen += 1;
                if seen == n {
                    self.next = i + 1;
                    return Ok(true);
                }
            }
        }
        self.next = 0;
        Err(io::Error::other(
            "beginning of medium reached while spacing back",
        ))
    }

    fn space_filemarks_forward(&mut self, n: u32) -> io::Result<bool> {
        if n == 0 {
            return Ok(true);
        }
        let mut seen = 0;
        for i in self.next..self.items.len() {
            if self.items[i].is_none() {
                seen += 1;
                if seen == n {
                    self.next = i + 1;
                    return Ok(true);
                }
            }
        }
        self.next = self.items.len();
        Err(io::Error::other(
            "end of data reached while spacing forward",
        ))
    }

    fn rewind(&mut self) -> io::Result<bool> {
        self.next = 0;
        Ok(true)
    }
}
