//! Builds small media block by block, with names the writer would refuse (for the extract
//! target): FLB and physical block 1024 bytes, soft filemarks, every DBLK padded by SPAD.

use mtf::block::{Body, Dblk, Dirb, Eset, File, ObjectDates, Sfmb, SfmbLayout, Sset, Tape, Volb};
use mtf::date::MtfDateTime;
use mtf::spec::{
    BlockAttributes, BlockType, DirectoryAttributes, FileAttributes, OsId, SetAttributes, StreamId,
    StringType, TapeAttributes, VolumeAttributes,
};
use mtf::stream::StreamHeader;
use mtf::text::MtfText;

/// FLB and physical block size.
pub const BLOCK: usize = 1024;

/// A medium under construction.
pub struct MediumBuilder {
    pub bytes: Vec<u8>,
    st: StringType,
    filemarks: Vec<u64>,
    cbid: u32,
    set_start: usize,
    next_id: u32,
}

const DATE: MtfDateTime = MtfDateTime([0x1F, 0x33, 0x3F, 0x41, 0xDE]);

impl MediumBuilder {
    /// A medium with its TAPE block and first soft filemark.
    pub fn new(st: StringType) -> Self {
        let mut b = MediumBuilder {
            bytes: Vec::new(),
            st,
            filemarks: Vec::new(),
            cbid: 0,
            set_start: 0,
            next_id: 1,
        };
        let tape = Tape {
            media_family_id: 0xF022,
            attributes: TapeAttributes::SOFT_FILEMARK,
            media_sequence_number: 1,
            password_encryption_algorithm: 0,
            soft_filemark_block_size: (BLOCK / 512) as u16,
            media_based_catalog_type: 0,
            media_name: MtfText::encode("hostile", st),
            media_description: MtfText::default(),
            media_password: MtfText::default(),
            software_name: MtfText::encode("mtf-fuzz", st),
            format_logical_block_size: BLOCK as u16,
            software_vendor_id: 0,
            media_date: DATE,
            mtf_major_version: 1,
        };
        b.block(Dblk::new(BlockType::TAPE, Body::Tape(tape)), &[]);
        b.filemark();
        b
    }

    fn fla(&self) -> u64 {
        ((self.bytes.len() - self.set_start) / BLOCK) as u64
    }

    /// Writes a DBLK, its streams, and SPAD to the next block boundary.
    pub fn block(&mut self, mut d: Dblk, streams: &[(StreamId, Vec<u8>)]) {
        d.header.string_type = self.st;
        d.header.os_id = OsId::WINDOWS_NT;
        d.header.control_block_id = self.cbid;
        d.header.format_logical_address = self.fla();
        self.cbid += 1;
        d.write_fixed(&mut self.bytes).expect("a small block");
        for (id, data) in streams {
            let mut h = StreamHeader::new(*id, data.len() as u64);
            h.write_fixed(&mut self.bytes);
            self.bytes.extend_from_slice(data);
            let pad = (4 - self.bytes.len() % 4) % 4;
            self.bytes.resize(self.bytes.len() + pad, 0);
        }
        let end = (self.bytes.len() + 22).div_ceil(BLOCK) * BLOCK;
        let len = end - self.bytes.len() - 22;
        StreamHeader::new(StreamId::SPAD, len as u64).write_fixed(&mut self.bytes);
        self.bytes.resize(end, 0);
    }

    /// A soft filemark (an SFMB filling one block).
    pub fn filemark(&mut self) {
        let pba = (self.bytes.len() / BLOCK) as u64;
        let cap = (BLOCK - Sfmb::SPEC_TABLE_OFFSET) / 8;
        let mut entries: Vec<u64> = self.filemarks.iter().rev().copied().take(cap).collect();
        let used = entries.len() as u32;
        entries.resize(cap, 0);
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
        d.header.offset_to_first_event = BLOCK as u16;
        d.var_area = vec![0; BLOCK - Sfmb::SPEC_TABLE_OFFSET];
        d.write_fixed(&mut self.bytes).expect("an SFMB");
        self.filemarks.push(pba);
    }

    /// Starts data set `number`.
    pub fn sset(&mut self, number: u16, name: &str) {
        self.set_start = self.bytes.len();
        self.cbid = 0;
        let s = Sset {
            attributes: SetAttributes::NORMAL,
            password_encryption_algorithm: 0,
            software_compression_algorithm: 0,
            software_vendor_id: 0,
            data_set_number: number,
            data_set_name: MtfText::encode(name, self.st),
            data_set_description: MtfText::default(),
            data_set_password: MtfText::default(),
            user_name: MtfText::default(),
            physical_block_address: (self.bytes.len() / BLOCK) as u64,
            media_write_date: DATE,
            software_major_version: 1,
            software_minor_version: 0,
            time_zone: 127,
            mtf_minor_version: 0,
            media_catalog_version: 0,
        };
        self.block(Dblk::new(BlockType::SSET, Body::Sset(s)), &[]);
    }

    /// A volume with the device name's raw bytes.
    pub fn volb(&mut self, device: Vec<u8>) {
        let v = Volb {
            attributes: VolumeAttributes::DEV_OS_SPEC,
            device_name: MtfText {
                addr: Default::default(),
                raw: device,
            },
            volume_name: MtfText::default(),
            machine_name: MtfText::default(),
            media_write_date: DATE,
        };
        self.block(Dblk::new(BlockType::VOLB, Body::Volb(v)), &[]);
    }

    /// A directory with the path's raw bytes (NUL-separated components), in the block or in a
    /// PNAM stream.
    pub fn dirb(&mut self, path: Vec<u8>, in_stream: bool) {
        self.next_id += 1;
        let d = Dirb {
            attributes: if in_stream {
                DirectoryAttributes::PATH_IN_STREAM
            } else {
                DirectoryAttributes::empty()
            },
            dates: ObjectDates::default(),
            directory_id: self.next_id,
            directory_name: MtfText {
                addr: Default::default(),
                raw: if in_stream { Vec::new() } else { path.clone() },
            },
        };
        let streams = if in_stream {
            vec![(StreamId::PNAM, path)]
        } else {
            Vec::new()
        };
        self.block(Dblk::new(BlockType::DIRB, Body::Dirb(d)), &streams);
    }

    /// A file with the name's raw bytes (in the block or in an FNAM stream) and its data.
    pub fn file(&mut self, name: Vec<u8>, in_stream: bool, data: &[u8], continuation: bool) {
        self.next_id += 1;
        let f = File {
            attributes: if in_stream {
                FileAttributes::NAME_IN_STREAM
            } else {
                FileAttributes::empty()
            },
            dates: ObjectDates::default(),
            directory_id: 0,
            file_id: self.next_id,
            file_name: MtfText {
                addr: Default::default(),
                raw: if in_stream { Vec::new() } else { name.clone() },
            },
        };
        let mut d = Dblk::new(BlockType::FILE, Body::File(f));
        if continuation {
            d.header.attributes |= BlockAttributes::CONTINUATION;
        }
        d.header.displayable_size = data.len() as u64;
        let mut streams = Vec::new();
        if in_stream {
            streams.push((StreamId::FNAM, name));
        }
        streams.push((StreamId::STAN, data.to_vec()));
        self.block(d, &streams);
    }

    /// Ends the set: filemark, ESET, filemark.
    pub fn eset(&mut self, number: u16) {
        self.filemark();
        let e = Eset {
            attributes: SetAttributes::NORMAL,
            number_of_corrupt_files: 0,
            reserved_for_mbc1: 0,
            reserved_for_mbc2: 0,
            fdd_media_sequence_number: 1,
            data_set_number: number,
            media_write_date: DATE,
        };
        self.block(Dblk::new(BlockType::ESET, Body::Eset(e)), &[]);
        self.filemark();
    }
}
