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

#[cfg(test)]
mod tests {
    use super::PutLe;

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
    }
}
