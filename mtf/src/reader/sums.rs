//! Running checksums over stream data, fast enough to keep up with the disk.

/// The MTF CSUM value (XOR of little-endian 32-bit words, a short tail zero-padded), computed
/// eight bytes at a time. Gives the same value as [`crate::checksum::Xor32`] however the data
/// is chunked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FastXor32 {
    acc: u64,
    /// Bytes fed so far, modulo 8.
    phase: usize,
    tail: [u8; 8],
}

impl FastXor32 {
    /// A fresh accumulator.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds more data.
    pub fn update(&mut self, mut data: &[u8]) {
        // Finish a partial word first.
        while self.phase != 0 && !data.is_empty() {
            self.tail[self.phase] ^= data[0];
            self.phase = (self.phase + 1) & 7;
            data = &data[1..];
            if self.phase == 0 {
                self.acc ^= u64::from_le_bytes(self.tail);
                self.tail = [0; 8];
            }
        }
        // Four independent lanes of 8 bytes, so the loop vectorizes.
        let mut wide = data.chunks_exact(32);
        let mut a = [0u64; 4];
        for c in &mut wide {
            for (k, lane) in a.iter_mut().enumerate() {
                *lane ^= u64::from_le_bytes(c[k * 8..k * 8 + 8].try_into().expect("8 bytes"));
            }
        }
        let mut chunks = wide.remainder().chunks_exact(8);
        let mut x = a[0] ^ a[1] ^ a[2] ^ a[3];
        for c in &mut chunks {
            x ^= u64::from_le_bytes(c.try_into().expect("8 bytes"));
        }
        self.acc ^= x;
        for &b in chunks.remainder() {
            self.tail[self.phase] ^= b;
            self.phase += 1;
        }
    }

    /// The checksum of everything fed so far.
    pub fn value(&self) -> u32 {
        let v = self.acc ^ u64::from_le_bytes(self.tail);
        (v as u32) ^ ((v >> 32) as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checksum::Xor32;

    #[test]
    fn matches_the_reference_for_any_chunking() {
        let data: Vec<u8> = (0..5003u32).map(|i| (i * 31 + 7) as u8).collect();
        let mut r = Xor32::new();
        r.update(&data);
        for step in [1usize, 3, 7, 8, 13, 64, 1000, 5003] {
            let mut f = FastXor32::new();
            for c in data.chunks(step) {
                f.update(c);
            }
            assert_eq!(f.value(), r.value(), "step {step}");
        }
    }
}
