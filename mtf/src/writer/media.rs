//! The medium: its TAPE header, filemarks (hardware or SFMB), ESPB padding to a physical block,
//! and the end-of-medium procedure with continuation onto the next medium.

use super::*;

impl<S: BlockSink, M: MediaSupplier<S>> Writer<S, M> {
    /// At a point where a new DBLK may start: if the medium reported early warning, close it
    /// and continue on the next one.
    pub(super) fn at_safe_point(&mut self) -> Result<()> {
        if self.early_warning {
            self.pad_to_physical()?;
            self.end_of_medium(None)?;
        }
        Ok(())
    }

    /// Pads with an ESPB to the next physical block boundary, if not on one.
    pub(super) fn pad_to_physical(&mut self) -> Result<()> {
        if self.pos % self.block_size as u64 == 0 {
            return Ok(());
        }
        let mut d = Dblk::new(BlockType::ESPB, Body::Espb);
        d.header.format_logical_address = self.fla();
        if let Some(set) = self.set.as_mut() {
            d.header.control_block_id = set.cbid;
            set.cbid += 1;
        }
        self.write_raw_dblk(&mut d, self.block_size as u64)
    }

    /// Writes a filemark: hardware if the sink has them, else an SFMB. We are on a physical
    /// block boundary.
    pub(super) fn filemark(&mut self) -> Result<()> {
        debug_assert!(self.block.is_empty());
        let pba = self.pos / self.block_size as u64;
        if self.sink()?.has_filemarks() {
            if self.sink()?.write_filemark()?.early_warning {
                self.early_warning = true;
            }
        } else {
            let cap = (self.block_size - Sfmb::SPEC_TABLE_OFFSET) / 8;
            let mut entries: Vec<u64> = self.filemarks.iter().rev().take(cap).copied().collect();
            let used = entries.len() as u32;
            entries.resize(cap, 0);
            // Numbered on from the highest id on the medium, which another writer (or damage)
            // may have left anywhere up to u32::MAX: the numbers go round rather than
            // overflow. Nothing reads them as a sequence; an append point takes the highest.
            self.soft_filemarks = self.soft_filemarks.wrapping_add(1);
            let mut d = Dblk::new(
                BlockType::SFMB,
                Body::Sfmb(Sfmb {
                    number_of_entries: cap as u32,
                    entries_used: used,
                    layout: SfmbLayout::Spec,
                    entries,
                }),
            );
            d.header.format_logical_address = pba;
            d.header.control_block_id = self.soft_filemarks;
            d.header.offset_to_first_event = self.block_size.min(crate::block::SFMB_MAX_OFE) as u16;
            d.var_area = vec![0; self.block_size - DB_HDR_LEN - Sfmb::FIXED_LEN];
            let mut b = Vec::with_capacity(self.block_size);
            d.write_fixed(&mut b)?;
            debug_assert_eq!(b.len(), self.block_size);
            self.emit(&b)?;
        }
        self.filemarks.push(pba);
        Ok(())
    }

    pub(super) fn write_media_header(&mut self, continuation: bool) -> Result<()> {
        let st = self.opts.string_type;
        let mut attributes = TapeAttributes::empty();
        if !self.sink()?.has_filemarks() {
            attributes |= TapeAttributes::SOFT_FILEMARK;
        }
        let mut d = Dblk::new(
            BlockType::TAPE,
            Body::Tape(Tape {
                media_family_id: self.opts.media_family_id,
                attributes,
                media_sequence_number: self.sequence,
                password_encryption_algorithm: 0,
                soft_filemark_block_size: (self.block_size / SOFT_FILEMARK_UNIT) as u16,
                media_based_catalog_type: if self.opts.catalog {
                    mbc_type::TYPE1
                } else {
                    mbc_type::NONE
                },
                media_name: MtfText::encode(&self.opts.media_name, st),
                media_description: MtfText::encode(&self.opts.media_description, st),
                media_password: MtfText::default(),
                software_name: MtfText::encode(&self.opts.software_name, st),
                format_logical_block_size: self.opts.flb_size,
                software_vendor_id: self.opts.software_vendor_id,
                media_date: MtfDateTime::from_datetime(self.opts.media_date)
                    .unwrap_or(MtfDateTime::NONE),
                mtf_major_version: 1,
            }),
        );
        d.header.os_id = OsId::WINDOWS_NT;
        if self.opts.catalog {
            d.header.attributes |=
                BlockAttributes::TAPE_SET_MAP_EXISTS | BlockAttributes::TAPE_FDD_ALLOWED;
        }
        if continuation {
            d.header.attributes |= BlockAttributes::CONTINUATION;
        }
        self.write_raw_dblk(&mut d, self.block_size as u64)?;
        self.filemark()
    }

    /// The MTF end-of-media procedure, on a physical block boundary: filemark, EOTM, filemark;
    /// then the next medium's TAPE block and filemark, and the open set's SSET, VOLB, DIRB and
    /// (when cutting a file's data) FILE again, marked as continuations, each with its name
    /// stream (PNAM, FNAM) when it has one.
    pub(super) fn end_of_medium(
        &mut self,
        cutting_file: Option<(&Dblk, &NameStreams)>,
    ) -> Result<()> {
        self.early_warning = false;
        // The FLA where the set goes on; the repeated blocks take the ones just before it.
        let split_fla = self.fla();
        self.filemark()?;
        let mut eotm = Dblk::new(
            BlockType::EOTM,
            Body::Eotm(Eotm {
                last_eset_pba: self.last_eset_pba.unwrap_or(0),
            }),
        );
        if self.last_eset_pba.is_none() {
            eotm.header.attributes |= BlockAttributes::EOTM_NO_ESET_PBA;
        }
        eotm.header.os_id = OsId::WINDOWS_NT;
        self.write_raw_dblk(&mut eotm, self.block_size as u64)?;
        self.filemark()?;
        self.flush_sink()?;
        let old = self.sink.take().ok_or_else(|| self.unusable())?;
        if let Err(e) = self.media.medium_done(self.sequence, old) {
            self.failed = Some(format!("finishing medium {}: {e}", self.sequence));
            return Err(e.into());
        }
        let Some(sequence) = self.sequence.checked_add(1) else {
            self.failed = Some("media sequence numbers exhausted".into());
            return Err(self.unusable());
        };
        self.sequence = sequence;
        let next = match self.media.next_medium(self.sequence) {
            Ok(n) => n,
            Err(e) => {
                self.failed = Some(format!("no medium {}: {e}", self.sequence));
                return Err(self.unusable());
            }
        };
        self.sink = Some(next);
        self.pos = 0;
        self.block.clear();
        self.filemarks.clear();
        self.last_eset_pba = None;
        self.write_media_header(true)?;
        self.early_warning = false;
        if self.set.is_none() {
            return Ok(());
        }
        let mut repeats: Vec<(Dblk, NameStreams)> = vec![(self.sset_block(true), Vec::new())];
        let set = self.set.as_ref().expect("set");
        repeats.extend(set.volb.iter().map(|d| (d.clone(), Vec::new())));
        repeats.extend(set.dirb.iter().cloned());
        repeats.extend(cutting_file.map(|(d, s)| (d.clone(), s.clone())));
        let flb = self.opts.flb_size as u64;
        let last = repeats.len() - 1;
        // The FLBs the repeats take (a name stream can make one longer than an FLB).
        let mut flbs = 0u64;
        for (i, (d, streams)) in repeats.iter().enumerate() {
            let mut region = Vec::new();
            d.clone().write_fixed(&mut region)?;
            let mut len = region.len() as u64;
            for (_, data) in streams {
                len = align_up(len + STREAM_HDR_LEN as u64 + data.len() as u64, 4);
            }
            if !(cutting_file.is_some() && i == last) {
                len += STREAM_HDR_LEN as u64;
            }
            flbs += align_up(len, flb) / flb;
        }
        let first = split_fla.saturating_sub(flbs);
        let pos = self.pos;
        self.set.as_mut().expect("set").fla_origin = pos.saturating_sub(first * flb);
        for (i, (mut d, streams)) in repeats.into_iter().enumerate() {
            d.header.attributes |= BlockAttributes::CONTINUATION;
            d.header.format_logical_address = self.fla();
            d.header.string_type = self.opts.string_type;
            let mut region = Vec::new();
            d.write_fixed(&mut region)?;
            self.emit(&region)?;
            for (id, data) in &streams {
                self.write_stream(&StreamHeader::new(*id, data.len() as u64), data)?;
            }
            // A cut file's data stream follows its repeated FILE block directly.
            if !(cutting_file.is_some() && i == last) {
                self.write_spad()?;
            }
        }
        Ok(())
    }
}
