//! Data sets: the SSET that opens one, and the end of set (filemark, ESET with the Type 1
//! catalog, filemark).

use super::*;

impl<S: BlockSink, M: MediaSupplier<S>> Writer<S, M> {
    /// Starts a data set (SSET).
    pub fn begin_set(&mut self, opts: SetOptions) -> Result<()> {
        self.usable()?;
        if self.set.is_some() {
            return Err(misuse("begin_set while a set is open"));
        }
        mtf_date(opts.date, "set date")?;
        self.at_safe_point()?;
        let number = self.next_set_number;
        self.next_set_number = number
            .checked_add(1)
            .ok_or_else(|| misuse("data set numbers exhausted"))?;
        let date = MtfDateTime::from_datetime(opts.date).unwrap_or(MtfDateTime::NONE);
        let record = SetRecord {
            data_set_number: number,
            media_sequence_number: self.sequence,
            sset_pba: self.pos / self.block_size as u64,
            attributes: opts.kind.attributes(),
            name: opts.name.clone(),
            description: opts.description.clone(),
            user: opts.user.clone(),
            date,
            time_zone: opts.time_zone,
            ..SetRecord::default()
        };
        self.set = Some(OpenSet {
            number,
            cbid: 0,
            fla_origin: self.pos,
            sset_sequence: self.sequence,
            volb: None,
            dirb: None,
            next_dir_id: 1,
            next_file_id: 1,
            dir_id: 0,
            record,
            fdd: catalog::FddBuilder::default(),
            opts,
        });
        let sset = self.sset_block(false);
        self.write_dblk(sset, &[])?;
        Ok(())
    }

    /// Adds a block of set information of a type MTF leaves to vendors (SQL Server's MSCI
    /// before the data and MSLS after it): `fixed` is what follows the common header, then the
    /// given streams, then SPAD to the next logical block. The block starts at a safe point
    /// (after early warning the medium is changed first) and is small, so it is never cut
    /// across media.
    pub fn add_info_block(
        &mut self,
        block_type: BlockType,
        fixed: &[u8],
        streams: &[(StreamId, Vec<u8>)],
    ) -> Result<()> {
        self.usable()?;
        self.open_set()?;
        let mut d = Dblk::new(block_type, Body::Other);
        d.header.os_id = OsId::WINDOWS_NT;
        d.header.os_version = 1;
        d.var_area = fixed.to_vec();
        self.write_dblk(d, streams)?;
        Ok(())
    }

    /// Ends the data set: pads to a physical block, filemark, ESET (with the catalog when the
    /// medium has one), filemark.
    pub fn end_set(&mut self) -> Result<SetSummary> {
        self.usable()?;
        self.open_set()?;
        self.at_safe_point()?;
        self.pad_to_physical()?;
        self.filemark()?;
        let mut set = self.set.take().expect("open set");
        let st = self.opts.string_type;
        let date = MtfDateTime::from_datetime(set.opts.date).unwrap_or(MtfDateTime::NONE);
        set.cbid += 1;
        let eset = |mbc1: u64, mbc2: u64, cbid: u32, flags: BlockAttributes| -> Dblk {
            let mut d = Dblk::new(
                BlockType::ESET,
                Body::Eset(Eset {
                    attributes: set.opts.kind.attributes(),
                    number_of_corrupt_files: set.record.corrupt_files,
                    reserved_for_mbc1: mbc1,
                    reserved_for_mbc2: mbc2,
                    fdd_media_sequence_number: set.sset_sequence,
                    data_set_number: set.number,
                    media_write_date: date,
                }),
            );
            d.header.control_block_id = cbid;
            d.header.attributes = flags;
            d.header.os_id = OsId::WINDOWS_NT;
            d.header.string_type = st;
            d
        };
        let mut record = set.record.clone();
        record.fdd_pba = 0;
        if self.opts.catalog {
            let mut d = eset(0, 0, set.cbid, BlockAttributes::empty());
            let mut region = Vec::new();
            d.write_fixed(&mut region)?;
            self.emit(&region)?;
            // FDD: entries, FEND, zeros to the next physical block so the set map is aligned.
            let fdd_pba = self.pos / self.block_size as u64;
            let fdd = set.fdd.finish(st);
            let fdd_start = self.pos + STREAM_HDR_LEN as u64;
            let fdd_len =
                align_up(fdd_start + fdd.len() as u64, self.block_size as u64) - fdd_start;
            let mut data = fdd;
            data.resize(fdd_len as usize, 0);
            self.write_stream(&StreamHeader::new(StreamId::TFDD, fdd_len), &data)?;
            record.fdd_pba = fdd_pba;
            record.fdd_sequence = self.sequence;
            self.sets.push(record.clone());
            let smap_pba = self.pos / self.block_size as u64;
            let smap = catalog::set_map(self.opts.media_family_id, &self.sets, st);
            self.write_stream(&StreamHeader::new(StreamId::TSMP, smap.len() as u64), &smap)?;
            self.write_spad_to(self.block_size as u64)?;
            let eset2_pba = self.pos / self.block_size as u64;
            let mut d2 = eset(fdd_pba, smap_pba, set.cbid, BlockAttributes::empty());
            self.write_raw_dblk(&mut d2, self.block_size as u64)?;
            self.last_eset_pba = Some(eset2_pba);
        } else {
            self.sets.push(record.clone());
            let pba = self.pos / self.block_size as u64;
            let mut d = eset(0, 0, set.cbid, BlockAttributes::empty());
            self.write_raw_dblk(&mut d, self.block_size as u64)?;
            self.last_eset_pba = Some(pba);
        }
        self.filemark()?;
        self.flush_sink()?;
        Ok(record)
    }

    pub(super) fn sset_block(&self, continuation: bool) -> Dblk {
        let st = self.opts.string_type;
        let set = self.set.as_ref().expect("open set");
        let o = &set.opts;
        let mut d = Dblk::new(
            BlockType::SSET,
            Body::Sset(Sset {
                attributes: o.kind.attributes(),
                password_encryption_algorithm: 0,
                software_compression_algorithm: 0,
                software_vendor_id: self.opts.software_vendor_id,
                data_set_number: set.number,
                data_set_name: MtfText::encode(&o.name, st),
                data_set_description: MtfText::encode(&o.description, st),
                data_set_password: MtfText::default(),
                user_name: MtfText::encode(&o.user, st),
                physical_block_address: self.pos / self.block_size as u64,
                media_write_date: MtfDateTime::from_datetime(o.date).unwrap_or(MtfDateTime::NONE),
                software_major_version: o.software_version.0,
                software_minor_version: o.software_version.1,
                time_zone: o.time_zone,
                mtf_minor_version: 0,
                media_catalog_version: if self.opts.catalog { 2 } else { 0 },
            }),
        );
        d.header.os_id = OsId::WINDOWS_NT;
        if !o.os_data.is_empty() {
            d.header.os_version = 1;
            d.os_data = crate::os_data::OsData::Raw(o.os_data.clone());
        }
        if self.opts.catalog {
            d.header.attributes |= BlockAttributes::SSET_FDD_EXISTS;
        }
        if continuation {
            d.header.attributes |= BlockAttributes::CONTINUATION;
        }
        d
    }
}
