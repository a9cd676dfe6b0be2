//! The physical block being filled.
//!
//! Why not a `Vec` cleared after each block: file data is read straight into the block, and a
//! `Vec` must be grown (zero-filled) before it can be read into, once per block: a memset of
//! every byte backed up, which was a twentieth of a backup's profile on the thread that
//! writes the media. This buffer is zeroed once, and its bytes past the fill are only stale
//! data of earlier blocks, never handed out unwritten.

/// A block of a fixed size and how much of it is filled.
#[derive(Default)]
pub(super) struct BlockBuf {
    buf: Vec<u8>,
    len: usize,
}

impl BlockBuf {
    pub(super) fn new(size: usize) -> BlockBuf {
        BlockBuf {
            buf: vec![0; size],
            len: 0,
        }
    }

    /// Bytes filled.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(super) fn clear(&mut self) {
        self.len = 0;
    }

    /// The filled bytes.
    pub(super) fn filled(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Appends `bytes` (which must fit).
    pub(super) fn extend_from_slice(&mut self, bytes: &[u8]) {
        self.grow(bytes.len()).copy_from_slice(bytes);
    }

    /// Counts the next `n` bytes as filled and returns them, for the caller to write every one
    /// of them (they hold what an earlier block left there).
    pub(super) fn grow(&mut self, n: usize) -> &mut [u8] {
        let at = self.len;
        self.len += n;
        &mut self.buf[at..at + n]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Filled bytes are exactly those appended since the last clear, whatever an earlier
    /// block left in the buffer.
    #[test]
    fn filled_is_what_was_appended_since_clear() {
        let mut b = BlockBuf::new(8);
        b.extend_from_slice(b"abcdefgh");
        assert_eq!(b.filled(), b"abcdefgh");
        b.clear();
        assert!(b.is_empty());
        b.extend_from_slice(b"xy");
        b.grow(3).copy_from_slice(b"123");
        assert_eq!((b.len(), b.filled()), (5, &b"xy123"[..]));
    }
}
