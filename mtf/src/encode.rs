//! Small writing plumbing shared by every structure: the one place where numbers become
//! little-endian bytes (MTF stores every integer little-endian), the counterpart of `parse`.

/// An integer MTF stores: written as its little-endian bytes.
pub(crate) trait LeInt: Copy {
    /// Appends the value's little-endian bytes to `out`.
    fn put(self, out: &mut Vec<u8>);
}

macro_rules! le_int {
    ($($t:ty),*) => {$(
        impl LeInt for $t {
            fn put(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
        }
    )*};
}
le_int!(u8, u16, u32, u64, i8, i16, i32, i64);

impl<T: LeInt> LeInt for &T {
    fn put(self, out: &mut Vec<u8>) {
        (*self).put(out);
    }
}

/// Little-endian writes onto a growing buffer.
pub(crate) trait PutLe {
    /// Appends `v` in little-endian byte order.
    fn put_le<T: LeInt>(&mut self, v: T);
}

impl PutLe for Vec<u8> {
    fn put_le<T: LeInt>(&mut self, v: T) {
        v.put(self);
    }
}

/// Overwrites the bytes at `at` with `v` in little-endian byte order (a field patched after
/// the structure around it was laid out). Panics if `buf` is too short: callers patch their own
/// freshly written structures.
pub(crate) fn patch_le<T: LeInt>(buf: &mut [u8], at: usize, v: T) {
    let mut b = Vec::with_capacity(8);
    b.put_le(v);
    buf[at..at + b.len()].copy_from_slice(&b);
}

#[cfg(test)]
mod tests {
    use super::{patch_le, PutLe};

    #[test]
    fn integers_are_written_little_endian() {
        let mut v = Vec::new();
        v.put_le(0x0102u16);
        v.put_le(0x0304_0506u32);
        v.put_le(-2i8);
        v.put_le(0x0708_090a_0b0c_0d0eu64);
        assert_eq!(
            v,
            [2, 1, 6, 5, 4, 3, 0xfe, 0x0e, 0x0d, 0x0c, 0x0b, 0x0a, 0x09, 0x08, 0x07]
        );
        patch_le(&mut v, 1, 0xaabbu16);
        assert_eq!(v[..4], [2, 0xbb, 0xaa, 5]);
    }
}
