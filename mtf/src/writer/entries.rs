//! Entries of a data set: volumes (VOLB), directories (DIRB) and files (FILE with their STAN
//! data, CSUM and, when the data changed or could not be read, a CFIL).

use super::*;

impl<S: BlockSink, M: MediaSupplier<S>> Writer<S, M> {
    /// Starts a volume (VOLB); directories and files that follow belong to it.
    pub fn add_volume(&mut self, v: &VolumeOptions) -> Result<()> {
        self.usable()?;
        let st = self.opts.string_type;
        let set = self.open_set()?;
        let date = MtfDateTime::from_datetime(set.opts.date).unwrap_or(MtfDateTime::NONE);
        let attributes = if v.device.len() == 2 && v.device.ends_with(':') {
            VolumeAttributes::DEV_DRIVE
        } else if v.device.starts_with("\\\\") {
            VolumeAttributes::DEV_UNC
        } else {
            VolumeAttributes::DEV_OS_SPEC
        };
        let mut d = Dblk::new(
            BlockType::VOLB,
            Body::Volb(Volb {
                attributes,
                device_name: MtfText::encode(&v.device, st),
                volume_name: MtfText::encode(&v.volume, st),
                machine_name: MtfText::encode(&v.machine, st),
                media_write_date: date,
            }),
        );
        d.header.os_id = OsId::WINDOWS_NT;
        d.header.string_type = st;
        d.header.os_version = 1;
        d.os_data = OsData::NtVolume1 {
            file_system_flags: 0,
            backup_set_attributes: 0,
        };
        let set = self.set.as_mut().expect("open set");
        set.volb = Some(d.clone());
        set.dirb = None;
        set.record.volumes.push(v.clone());
        let fla = self.write_dblk(d.clone(), &[])?;
        let seq = self.sequence;
        self.open_set()?.fdd.add(&d, fla, seq);
        Ok(())
    }

    /// Adds a directory (DIRB) by its path components from the volume root (none for the root).
    /// Files added next belong to it.
    pub fn add_directory<C: AsRef<str>>(
        &mut self,
        components: &[C],
        meta: &EntryMeta,
    ) -> Result<()> {
        self.usable()?;
        let st = self.opts.string_type;
        let set = self.open_set()?;
        if set.volb.is_none() {
            return Err(misuse("add_directory before add_volume"));
        }
        for c in components {
            let c = c.as_ref();
            if let Err(reason) = crate::extract::check_component(c) {
                return Err(misuse(&format!(
                    "directory component {c:?} would not restore: {reason}"
                )));
            }
        }
        let id = set.next_dir_id;
        set.next_dir_id += 1;
        set.dir_id = id;
        set.record.directories += 1;
        let mut attributes = DirectoryAttributes::empty();
        if meta.read_only {
            attributes |= DirectoryAttributes::READ_ONLY;
        }
        if meta.hidden {
            attributes |= DirectoryAttributes::HIDDEN;
        }
        let path = join_dir_path(components, st);
        let in_stream = DB_HDR_LEN + Dirb::FIXED_LEN + 4 + path.len() > MAX_DBLK_LEN;
        if in_stream {
            attributes |= DirectoryAttributes::PATH_IN_STREAM;
        }
        let mut d = Dblk::new(
            BlockType::DIRB,
            Body::Dirb(Dirb {
                attributes,
                dates: meta.dates,
                directory_id: id,
                directory_name: if in_stream {
                    MtfText::default()
                } else {
                    MtfText {
                        addr: Default::default(),
                        raw: path.clone(),
                    }
                },
            }),
        );
        d.header.os_id = OsId::WINDOWS_NT;
        d.header.string_type = st;
        d.header.os_version = 0;
        d.os_data = OsData::NtDirectory0 {
            attributes: meta.nt_attributes | crate::spec::NtFileAttributes::DIRECTORY,
        };
        let set = self.set.as_mut().expect("open set");
        let streams: NameStreams = if in_stream {
            vec![(StreamId::PNAM, path)]
        } else {
            Vec::new()
        };
        set.dirb = Some((d.clone(), streams.clone()));
        let fla = self.write_dblk(d.clone(), &streams)?;
        let seq = self.sequence;
        self.open_set()?.fdd.add(&d, fla, seq);
        Ok(())
    }

    /// Adds a file (FILE) in the current directory, with `size` bytes of data from `data` in a
    /// STAN stream (and a CSUM stream when the set asks for checksums). If `data` ends early or
    /// fails, the rest is zero-filled, so the declared length holds, and a CFIL block records
    /// the corruption, as the spec prescribes; one byte beyond `size` is asked for, and if it
    /// comes the file grew while it was read (also marked with a CFIL). The set goes on either
    /// way: the [`FileOutcome`] says what happened. The name must be one the extractor accepts
    /// ([`crate::extract::check_component`]).
    pub fn add_file(
        &mut self,
        name: &str,
        meta: &EntryMeta,
        size: u64,
        data: &mut dyn Read,
    ) -> Result<FileOutcome> {
        self.usable()?;
        let st = self.opts.string_type;
        let set = self.open_set()?;
        if set.dirb.is_none() {
            return Err(misuse("add_file before add_directory"));
        }
        if let Err(reason) = crate::extract::check_component(name) {
            return Err(misuse(&format!(
                "file name {name:?} would not restore: {reason}"
            )));
        }
        let id = set.next_file_id;
        set.next_file_id += 1;
        set.record.files += 1;
        set.record.size += size;
        let dir_id = set.dir_id;
        let checksums = set.opts.checksums;
        let mut attributes = FileAttributes::empty();
        if meta.read_only {
            attributes |= FileAttributes::READ_ONLY;
        }
        if meta.hidden {
            attributes |= FileAttributes::HIDDEN;
        }
        let raw_name = crate::text::encode_str(name, st);
        let in_stream = DB_HDR_LEN + File::FIXED_LEN + 12 + raw_name.len() > MAX_DBLK_LEN;
        if in_stream {
            attributes |= FileAttributes::NAME_IN_STREAM;
        }
        let mut d = Dblk::new(
            BlockType::FILE,
            Body::File(File {
                attributes,
                dates: meta.dates,
                directory_id: dir_id,
                file_id: id,
                file_name: if in_stream {
                    MtfText::default()
                } else {
                    MtfText {
                        addr: Default::default(),
                        raw: raw_name.clone(),
                    }
                },
            }),
        );
        d.header.displayable_size = size;
        d.header.string_type = st;
        d.header.os_id = OsId::WINDOWS_NT;
        d.header.os_version = 0;
        d.os_data = OsData::NtFile0 {
            attributes: meta.nt_attributes,
            short_name_offset: 0,
            short_name_size: 0,
            link: 0,
            reserved: 0,
        };
        let name_streams: NameStreams = if in_stream {
            vec![(StreamId::FNAM, raw_name)]
        } else {
            Vec::new()
        };
        let fla = self.write_dblk_open(d.clone(), &name_streams)?;
        let seq = self.sequence;
        self.open_set()?.fdd.add(&d, fla, seq);

        let mut stan = StreamHeader::new(StreamId::STAN, size);
        if checksums {
            stan.media_attributes |= StreamMediaAttributes::CHECKSUMED;
        }
        // Computed only when a CSUM stream will carry it: the XOR costs a pass over the data.
        let mut csum = FastXor32::new();
        let outcome = self.write_stream_data(
            &stan,
            (&d, &name_streams),
            size,
            data,
            checksums.then_some(&mut csum),
        )?;
        if checksums {
            self.write_stream(
                &StreamHeader::new(StreamId::CSUM, 4),
                &csum.value().to_le_bytes(),
            )?;
        }
        self.write_spad()?;
        if !outcome.is_whole() {
            let set = self.open_set()?;
            set.record.corrupt_files += 1;
            let mut c = Dblk::new(
                BlockType::CFIL,
                Body::Cfil(crate::block::Cfil {
                    attributes: crate::spec::CorruptAttributes::LENGTH_CHANGE,
                    reserved: [0; 8],
                    stream_offset: outcome.bytes_read,
                    corrupt_stream_number: 1,
                }),
            );
            c.header.os_id = OsId::WINDOWS_NT;
            self.write_dblk(c, &[])?;
        }
        Ok(outcome)
    }
}

/// What [`Writer::add_file`] got from its source. A file that is not whole was zero-filled to
/// its declared size (or its extra bytes left out) and marked with a CFIL block after it, so a
/// reader knows; the caller reports it by name.
#[derive(Debug)]
pub struct FileOutcome {
    /// The size declared (and written).
    pub declared: u64,
    /// Bytes the source gave before it ended or failed (at most `declared`).
    pub bytes_read: u64,
    /// The error the source failed with, if it failed.
    pub read_error: Option<io::Error>,
    /// The source had more bytes than declared (the file grew while it was read).
    pub grew: bool,
}

impl FileOutcome {
    /// The source gave exactly the declared bytes.
    pub fn is_whole(&self) -> bool {
        self.read_error.is_none() && !self.grew && self.bytes_read == self.declared
    }
}
