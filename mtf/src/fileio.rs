//! Copies out of a file that a signal cannot cut short.
//!
//! `std::io::copy` from a `File` copies in the kernel (`copy_file_range`, `sendfile`,
//! `splice`), and a signal caught by a handler installed without `SA_RESTART` (libFuzzer's
//! timer, many products' own) makes that call fail with `EINTR`, which `io::copy` hands back
//! as an error after some bytes already went. Measured: a 256 MiB copy under a 50 µs timer
//! failed 20 times in 20. A library linked into other programs cannot choose their signal
//! handlers, so its file-to-writer copies go through here.

use std::fs::File;
use std::io::{self, Read, Seek, Write};

/// Copies up to `n` bytes from `src`'s position to `dst`, as `io::copy` of `src.take(n)`
/// does (in the kernel where it can), going on where it stopped when a signal interrupts it.
/// Returns the bytes copied: fewer than `n` only when `src` ends first.
///
/// Why the source's position tells what went: the kernel calls move exactly the bytes they
/// report, advancing `src`'s offset by as many, and the buffered fallback retries
/// interruptions itself; so after an interrupted call, what `src` advanced is what `dst` got.
pub fn copy_from_file<W: Write + ?Sized>(src: &mut File, n: u64, dst: &mut W) -> io::Result<u64> {
    let mut done = 0;
    while done < n {
        let before = src.stream_position()?;
        match io::copy(&mut Read::take(&mut *src, n - done), dst) {
            Ok(0) => break,
            Ok(k) => done += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                done += src.stream_position()? - before;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}
