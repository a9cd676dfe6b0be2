//! The checksums of MTF: XOR of little-endian 16-bit words for headers, XOR of 32-bit words for
//! CSUM stream data.

/// XOR of the little-endian 16-bit words of `bytes` (an odd trailing byte counts as a word with
/// a zero high byte). DBLK headers use bytes 0..50, stream headers 0..20, frame headers 0..22.
pub fn xor16(bytes: &[u8]) -> u16 {
    let mut acc = 0u16;
    let mut chunks = bytes.chunks_exact(2);
    for c in &mut chunks {
        acc ^= u16::from_le_bytes([c[0], c[1]]);
    }
    if let [last] = chunks.remainder() {
        acc ^= *last as u16;
    }
    acc
}

/// Running XOR-32 over a stream's data, as a CSUM stream records it.
///
/// The result must not depend on how the data is chunked, so the accumulator keeps the byte
/// position modulo 4 between calls.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Xor32 {
    acc: [u8; 4],
    pos: usize,
}

impl Xor32 {
    /// A fresh accumulator.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds more data.
    pub fn update(&mut self, data: &[u8]) {
        for &b in data {
            self.acc[self.pos & 3] ^= b;
            self.pos = self.pos.wrapping_add(1);
        }
    }

    /// The checksum of everything fed so far (little-endian words; a short tail is zero-padded).
    pub fn value(&self) -> u32 {
        u32::from_le_bytes(self.acc)
    }
}

/// The MTF CSUM value (XOR of little-endian 32-bit words, a short tail zero-padded), computed
/// eight bytes at a time. Gives the same value as [`Xor32`] however the data
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

    #[test]
    fn xor16_of_valid_header_and_its_checksum_is_zero() {
        let mut h = [0u8; 52];
        h[..4].copy_from_slice(b"TAPE");
        h[8] = 0x8c;
        let c = xor16(&h[..50]);
        h[50..52].copy_from_slice(&c.to_le_bytes());
        assert_eq!(xor16(&h), 0);
        assert_eq!(c, 0x4154 ^ 0x4550 ^ 0x008c);
    }

    #[test]
    fn xor32_is_independent_of_chunking() {
        let data: Vec<u8> = (0..1003u32).map(|i| (i * 7 + 3) as u8).collect();
        let mut whole = Xor32::new();
        whole.update(&data);
        let mut parts = Xor32::new();
        for c in data.chunks(13) {
            parts.update(c);
        }
        assert_eq!(whole.value(), parts.value());
        let mut words = 0u32;
        for c in data.chunks(4) {
            let mut w = [0u8; 4];
            w[..c.len()].copy_from_slice(c);
            words ^= u32::from_le_bytes(w);
        }
        assert_eq!(whole.value(), words);
    }

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
