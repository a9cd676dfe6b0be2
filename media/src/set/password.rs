//! Media passwords as MTF carries them: the TAPE block's Password Encryption Algorithm 5 and a
//! 16-byte MD5 digest in its Media Password field, the layout of SQL Server's `MEDIAPASSWORD`
//! sample (`sql2008r2_full_mediapassword.bak`: algorithm 5, a 16-byte field).
//!
//! The digest is MD5 over the password in UTF-16LE (the TAPE block's string type). The sample
//! shows the field's size and algorithm, not the password it was made from, so which bytes SQL
//! Server feeds MD5 is not confirmed; a password written here is checked here. As the reference
//! documents say, a media password is weak protection: it stops appending and re-initialising
//! by mistake, not formatting.

use md5::{Digest, Md5};

/// MTF password encryption algorithm 5: an MD5 digest.
pub const ALGORITHM_MD5: u16 = 5;

/// A media password, kept only as its digest.
#[derive(Clone, PartialEq, Eq)]
pub struct MediaPassword {
    digest: [u8; 16],
}

impl std::fmt::Debug for MediaPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MediaPassword(..)")
    }
}

impl MediaPassword {
    /// The digest of `password`.
    pub fn new(password: &str) -> MediaPassword {
        let utf16: Vec<u8> = password.encode_utf16().flat_map(u16::to_le_bytes).collect();
        MediaPassword {
            digest: Md5::digest(&utf16).into(),
        }
    }

    /// The bytes for the TAPE block's password field.
    pub fn digest(&self) -> &[u8; 16] {
        &self.digest
    }

    /// Whether a TAPE block's (algorithm, field) is this password.
    pub fn matches(&self, algorithm: u16, field: &[u8]) -> bool {
        algorithm == ALGORITHM_MD5 && field == self.digest
    }
}
