//! Bytes onto physical blocks: DBLKs on FLB boundaries, streams with their 4-byte alignment,
//! SPAD padding, and data streams that may be cut by the end of a medium.

use super::*;

impl<S: BlockSink, M: MediaSupplier<S>> Writer<S, M> {
    /// Appends bytes to the current physical block, writing full blocks to the sink.
    pub(super) fn emit(&mut self, mut bytes: &[u8]) -> Result<()> {
        while !bytes.is_empty() {
            let n = (self.block_size - self.block.len()).min(bytes.len());
            self.block.extend_from_slice(&bytes[..n]);
            self.pos += n as u64;
            bytes = &bytes[n..];
            if self.block.len() == self.block_size {
                self.flush_block()?;
            }
        }
        Ok(())
    }

    pub(super) fn emit_zeros(&mut self, mut n: u64) -> Result<()> {
        const Z: [u8; 4096] = [0; 4096];
        while n > 0 {
            let k = n.min(Z.len() as u64) as usize;
            self.emit(&Z[..k])?;
            n -= k as u64;
        }
        Ok(())
    }

    pub(super) fn flush_block(&mut self) -> Result<()> {
        debug_assert_eq!(self.block.len(), self.block_size);
        let block = std::mem::take(&mut self.block);
        let st = match self.sink() {
            Ok(sink) => sink.write_block(block.filled()),
            Err(e) => {
                self.block = block;
                return Err(e);
            }
        };
        self.block = block;
        self.block.clear();
        if st?.early_warning {
            self.early_warning = true;
        }
        Ok(())
    }

    pub(super) fn flush_sink(&mut self) -> Result<()> {
        self.sink()?.flush()?;
        Ok(())
    }

    /// Where the current position lies as an FLA of the open set.
    pub(super) fn fla(&self) -> u64 {
        match &self.set {
            Some(s) => (self.pos - s.fla_origin) / self.opts.flb_size as u64,
            None => 0,
        }
    }

    /// Writes a DBLK (header region, then the given small streams, then SPAD to the next FLB)
    /// and returns its FLA.
    pub(super) fn write_dblk(&mut self, d: Dblk, streams: &[(StreamId, Vec<u8>)]) -> Result<u64> {
        let fla = self.write_dblk_open(d, streams)?;
        self.write_spad()?;
        Ok(fla)
    }

    /// Like [`Self::write_dblk`] but leaves the block open for more streams.
    pub(super) fn write_dblk_open(
        &mut self,
        mut d: Dblk,
        streams: &[(StreamId, Vec<u8>)],
    ) -> Result<u64> {
        self.at_safe_point()?;
        let fla = self.fla();
        let st = self.opts.string_type;
        if let Some(set) = self.set.as_mut() {
            d.header.format_logical_address = fla;
            d.header.control_block_id = set.cbid;
            set.cbid += 1;
        }
        d.header.string_type = st;
        let mut region = Vec::new();
        d.write_fixed(&mut region)?;
        self.emit(&region)?;
        for (id, data) in streams {
            self.write_stream(&StreamHeader::new(*id, data.len() as u64), data)?;
        }
        Ok(fla)
    }

    /// Writes a block outside the set's FLA/CBID numbering (TAPE, EOTM, ESET) followed by SPAD
    /// to the next multiple of `align`.
    pub(super) fn write_raw_dblk(&mut self, d: &mut Dblk, align: u64) -> Result<()> {
        d.header.string_type = self.opts.string_type;
        let mut region = Vec::new();
        d.write_fixed(&mut region)?;
        self.emit(&region)?;
        self.write_spad_to(align)
    }

    pub(super) fn write_stream(&mut self, h: &StreamHeader, data: &[u8]) -> Result<()> {
        let mut hb = Vec::with_capacity(STREAM_HDR_LEN);
        h.clone().write_fixed(&mut hb);
        self.emit(&hb)?;
        self.emit(data)?;
        let pad = align_up(self.pos, 4) - self.pos;
        self.emit_zeros(pad)
    }

    pub(super) fn write_spad(&mut self) -> Result<()> {
        self.write_spad_to(self.opts.flb_size as u64)
    }

    /// SPAD from here to the next multiple of `align` (after room for its own header).
    pub(super) fn write_spad_to(&mut self, align: u64) -> Result<()> {
        let end = align_up(self.pos + STREAM_HDR_LEN as u64, align);
        let len = end - self.pos - STREAM_HDR_LEN as u64;
        let mut hb = Vec::with_capacity(STREAM_HDR_LEN);
        StreamHeader::new(StreamId::SPAD, len).write_fixed(&mut hb);
        self.emit(&hb)?;
        self.emit_zeros(len)
    }

    /// Writes a data stream's header and `size` bytes from `src`, continuing onto the next
    /// medium if early warning comes in the middle. What the source gave: a source that ends
    /// early or fails is zero-filled to `size` (the error kept); one byte more is asked for
    /// afterwards, to find a source that grew.
    pub(super) fn write_stream_data(
        &mut self,
        header: &StreamHeader,
        file: (&Dblk, &NameStreams),
        size: u64,
        src: &mut dyn Read,
        mut csum: Option<&mut FastXor32>,
    ) -> Result<FileOutcome> {
        let mut hb = Vec::with_capacity(STREAM_HDR_LEN);
        header.clone().write_fixed(&mut hb);
        self.emit(&hb)?;
        let mut remaining = size;
        let mut short: Option<u64> = None;
        let mut read_error: Option<io::Error> = None;
        while remaining > 0 {
            if self.early_warning && self.block.is_empty() {
                // At a physical block boundary inside the data: cut here and go on.
                self.end_of_medium(Some(file))?;
                let mut cont = header.clone();
                cont.media_attributes |= StreamMediaAttributes::CONTINUE;
                cont.length = remaining;
                let mut hb = Vec::with_capacity(STREAM_HDR_LEN);
                cont.write_fixed(&mut hb);
                self.emit(&hb)?;
            }
            let room = self.block_size - self.block.len();
            let n = (room as u64).min(remaining) as usize;
            let room = self.block.grow(n);
            let got = if short.is_some() {
                0
            } else {
                match read_full(src, room) {
                    Ok(n) => n,
                    Err((n, e)) => {
                        read_error = Some(e);
                        n
                    }
                }
            };
            if got < n {
                short.get_or_insert(size - remaining + got as u64);
                room[got..].fill(0);
            }
            if let Some(c) = csum.as_deref_mut() {
                c.update(room);
            }
            self.pos += n as u64;
            remaining -= n as u64;
            if self.block.len() == self.block_size {
                self.flush_block()?;
            }
        }
        let pad = align_up(self.pos, 4) - self.pos;
        self.emit_zeros(pad)?;
        let grew = short.is_none() && matches!(src.read(&mut [0u8; 1]), Ok(1..));
        Ok(FileOutcome {
            declared: size,
            bytes_read: short.unwrap_or(size),
            read_error,
            grew,
        })
    }
}

/// Fills `buf` from `src` as far as it goes; on an error, the bytes read before it and the
/// error.
pub(super) fn read_full(
    src: &mut dyn Read,
    buf: &mut [u8],
) -> std::result::Result<usize, (usize, io::Error)> {
    let mut got = 0;
    while got < buf.len() {
        match src.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err((got, e)),
        }
    }
    Ok(got)
}
