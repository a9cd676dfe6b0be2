//! Pieces of a file's data read from a medium, in buffers that go round: the medium is read
//! straight into a piece ([`mtf::reader::Reader::read_data_into`]), the sink hands the piece
//! on (to the thread that writes it), and when the piece is dropped its buffer goes back to the
//! pool it came from, for a later piece.
//!
//! Why: a restore copied every byte once more than it needed to, out of the reader's buffer
//! into a new `Vec` a piece (a sixth of a 2 GiB restore's time). A source may only read into
//! initialised memory, and zeroing a new buffer for every piece would cost what the copy did;
//! buffers that go round are zeroed once.

use std::ops::Deref;
use std::sync::{Arc, Mutex};

/// Buffers waiting for their next piece.
type Spare = Arc<Mutex<Vec<Vec<u8>>>>;

/// Buffers of one size, handed out as empty [`Piece`]s and taken back when the pieces are
/// dropped (up to `keep` of them; more are freed).
#[derive(Debug)]
pub struct PiecePool {
    spare: Spare,
    size: usize,
    keep: usize,
}

impl PiecePool {
    /// A pool of `size`-byte buffers, keeping at most `keep` unused ones.
    pub fn new(size: usize, keep: usize) -> PiecePool {
        PiecePool {
            spare: Arc::default(),
            size,
            keep,
        }
    }

    /// An empty piece whose buffer holds the pool's size.
    pub fn get(&self) -> Piece {
        let buf = lock(&self.spare)
            .pop()
            .unwrap_or_else(|| vec![0; self.size]);
        Piece {
            buf,
            len: 0,
            home: Some((self.spare.clone(), self.keep)),
        }
    }
}

fn lock(spare: &Spare) -> std::sync::MutexGuard<'_, Vec<Vec<u8>>> {
    // A thread that panicked while holding the lock left a list of buffers, nothing half done.
    spare.lock().unwrap_or_else(|p| p.into_inner())
}

/// Bytes of a file's data: the first `len` bytes of a buffer, which goes back to its pool
/// (if it has one) when the piece is dropped. Derefs to the bytes.
#[derive(Debug)]
pub struct Piece {
    buf: Vec<u8>,
    len: usize,
    home: Option<(Spare, usize)>,
}

impl Piece {
    /// The buffer's room after the bytes, to read more into (then [`Piece::grow`]).
    pub fn spare_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.len..]
    }

    /// Counts `n` more bytes, read into [`Piece::spare_mut`], as the piece's.
    pub fn grow(&mut self, n: usize) {
        assert!(n <= self.buf.len() - self.len, "grown past the buffer");
        self.len += n;
    }

    /// Drops the first `n` bytes (a restart passes what was delivered before it).
    pub fn drop_front(&mut self, n: usize) {
        let n = n.min(self.len);
        self.buf.copy_within(n..self.len, 0);
        self.len -= n;
    }
}

impl From<Vec<u8>> for Piece {
    /// A piece of the whole vector, freed when dropped.
    fn from(buf: Vec<u8>) -> Piece {
        Piece {
            len: buf.len(),
            buf,
            home: None,
        }
    }
}

impl Deref for Piece {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Drop for Piece {
    fn drop(&mut self) {
        if let Some((spare, keep)) = self.home.take() {
            let mut spare = lock(&spare);
            if spare.len() < keep {
                spare.push(std::mem::take(&mut self.buf));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_piece_holds_what_was_read_and_its_buffer_goes_round() {
        let pool = PiecePool::new(8, 1);
        let mut p = pool.get();
        assert!(p.is_empty());
        p.spare_mut()[..3].copy_from_slice(b"abc");
        p.grow(3);
        p.spare_mut()[..2].copy_from_slice(b"de");
        p.grow(2);
        assert_eq!(&p[..], b"abcde");
        p.drop_front(2);
        assert_eq!(&p[..], b"cde");
        p.drop_front(10);
        assert!(p.is_empty());
        let q = pool.get();
        drop(p);
        // The first buffer is back (the pool keeps one); the second is freed.
        drop(q);
        assert_eq!(lock(&pool.spare).len(), 1);
        let mut r = pool.get();
        assert_eq!(r.spare_mut().len(), 8);
        assert_eq!(&r[..], b"");
    }

    #[test]
    #[should_panic(expected = "grown past the buffer")]
    fn a_piece_cannot_grow_past_its_buffer() {
        let pool = PiecePool::new(4, 1);
        pool.get().grow(5);
    }

    #[test]
    fn a_vector_is_a_piece_of_itself() {
        let p = Piece::from(b"xyz".to_vec());
        assert_eq!(&p[..], b"xyz");
    }
}
