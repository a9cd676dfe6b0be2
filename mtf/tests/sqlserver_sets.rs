//! Every SQL Server field the reader decodes, checked against the facts listed per sample in
//! mtf/docs/sqlserver-evidence.md §11 (each of which that document cross-checks against an
//! independent structure: boot pages, another backup of the same chain, SSET fields, ...).

mod common;

use mtf::reader::{list_sets, FileSource, Reader};
use mtf::spec::StreamId;
use mtf::sqlserver::{FileType, SqlSetInfo};
use mtf::stream::sqlserver::Guid;
use mtf::stream::sqlserver::Raid;

struct Fact {
    file: &'static str,
    set: usize,
    db: &'static str,
    server: &'static str,
    kind: char,
    version: &'static str,
    lsns: [&'static str; 4],
    size: u64,
    guid: &'static str,
}

const FACTS: &[Fact] = &[
    Fact {
        file: "sql2005_full_northwind.bak",
        set: 0,
        db: "Northwind",
        server: "I208789\\SQLEXPRESS",
        kind: 'D',
        version: "9.0.1399",
        lsns: ["31:331:70", "31:363:1", "31:331:70", "0:0:0"],
        size: 3497472,
        guid: "118d6451-9931-4bf5-9aee-565938e10aaf",
    },
    Fact {
        file: "sql2005_full_northwind_zh.bak",
        set: 0,
        db: "Northwind",
        server: "MICROSOF-2D00F5",
        kind: 'D',
        version: "9.0.1399",
        lsns: ["37:430:37", "37:448:1", "37:430:37", "23:151:3"],
        size: 3694080,
        guid: "086a5600-8e94-43a5-8f22-7762b2851dfe",
    },
    Fact {
        file: "sql2005_multiset_stdb2sql.bak",
        set: 0,
        db: "StDb2SQL",
        server: "PICO2",
        kind: 'D',
        version: "9.0.3077",
        lsns: ["28:252:37", "28:268:1", "28:252:37", "26:294:37"],
        size: 1798656,
        guid: "54e03e87-3787-4fa1-b877-33d49d30b7ed",
    },
    Fact {
        file: "sql2005_multiset_stdb2sql.bak",
        set: 1,
        db: "StDb2SQL",
        server: "PICO2",
        kind: 'D',
        version: "9.0.3077",
        lsns: ["37:480:37", "38:16:1", "37:480:37", "35:356:37"],
        size: 1806336,
        guid: "fa8ec667-2b90-409e-9d2d-94abf0f14797",
    },
    Fact {
        file: "sql2008_full_northwind.bak",
        set: 0,
        db: "Northwind",
        server: "B30",
        kind: 'D',
        version: "10.0.1600",
        lsns: ["37:297:73", "37:329:1", "37:297:73", "0:0:0"],
        size: 3692544,
        guid: "2cf26912-3fb5-4409-80cc-9ee0ed77421c",
    },
    Fact {
        file: "sql2008r2_diff_checksum_db1.bak",
        set: 0,
        db: "db1",
        server: "SQL2008",
        kind: 'I',
        version: "10.50.1600",
        lsns: ["323:131:34", "323:146:1", "323:131:34", "323:102:38"],
        size: 1137664,
        guid: "754f7493-f829-4671-93a2-e4bd0b6054e5",
    },
    Fact {
        file: "sql2008r2_full_mediapassword.bak",
        set: 0,
        db: "stripetest",
        server: "JUMPBOX\\SQL2008R2",
        kind: 'D',
        version: "10.50.4000",
        lsns: ["20:338:37", "20:354:1", "20:338:37", "20:188:43"],
        size: 1585152,
        guid: "32bedee6-5311-4f5c-9a45-5f3cf7633b2e",
    },
    Fact {
        file: "sql2008r2_full_singlerestore.bak",
        set: 0,
        db: "singlerestore",
        server: "SQL2008",
        kind: 'D',
        version: "10.50.1600",
        lsns: ["25:57:64", "25:83:1", "25:57:64", "0:0:0"],
        size: 1455104,
        guid: "e74e4686-9a28-4021-b630-0be330d820b3",
    },
    Fact {
        file: "sql2008r2_log_checksum_cubequery.trn",
        set: 0,
        db: "Cube_Query_History",
        server: "SQL2008",
        kind: 'L',
        version: "10.50.1600",
        lsns: ["24:217:37", "24:459:1", "24:457:1", "24:419:37"],
        size: 143360,
        guid: "8ed627f6-978e-4747-ab1b-01d15bc3123a",
    },
    Fact {
        file: "sql2008r2_log_nodata.trn",
        set: 0,
        db: "OlaMsFilterTest",
        server: "CGE100LAP-42\\SQL2008R2SP2",
        kind: 'L',
        version: "10.50.4042",
        lsns: ["21:182:1", "21:182:1", "21:159:37", "21:159:37"],
        size: 11264,
        guid: "9eb408e4-b8a0-4f91-902a-d2a47b9a5046",
    },
    Fact {
        file: "sql2008r2_stripe_full_1of2.bak",
        set: 0,
        db: "RestoreTimeStripe",
        server: "CGE100LAP-42\\SQL2008R2SP2",
        kind: 'D',
        version: "10.50.4042",
        lsns: ["20:74:170", "20:144:1", "20:74:170", "0:0:0"],
        size: 1661952,
        guid: "54a4e82d-bd4b-4887-885b-3ae8459d489d",
    },
    Fact {
        file: "sql2008r2_stripe_full_2of2.bak",
        set: 0,
        db: "RestoreTimeStripe",
        server: "CGE100LAP-42\\SQL2008R2SP2",
        kind: 'D',
        version: "10.50.4042",
        lsns: ["20:74:170", "20:144:1", "20:74:170", "0:0:0"],
        size: 1661952,
        guid: "54a4e82d-bd4b-4887-885b-3ae8459d489d",
    },
    Fact {
        file: "sql2008r2_stripe_log_1of2.trn",
        set: 0,
        db: "RestoreTimeStripe",
        server: "CGE100LAP-42\\SQL2008R2SP2",
        kind: 'L',
        version: "10.50.4042",
        lsns: ["20:74:170", "20:166:1", "20:74:170", "20:74:170"],
        size: 84992,
        guid: "47518aa3-1bf1-412c-ad2a-f6868a29ea07",
    },
    Fact {
        file: "sql2008r2_stripe_log_2of2.trn",
        set: 0,
        db: "RestoreTimeStripe",
        server: "CGE100LAP-42\\SQL2008R2SP2",
        kind: 'L',
        version: "10.50.4042",
        lsns: ["20:74:170", "20:166:1", "20:74:170", "20:74:170"],
        size: 84992,
        guid: "47518aa3-1bf1-412c-ad2a-f6868a29ea07",
    },
    Fact {
        file: "sql2012_full_pubs.bak",
        set: 0,
        db: "pubs",
        server: "DESKTOP-7LEAC57",
        kind: 'D',
        version: "11.0.6020",
        lsns: ["191:464:37", "192:16:1", "191:464:37", "191:288:37"],
        size: 3230720,
        guid: "5644b34a-3109-4c2f-86d1-9b70cf194266",
    },
    Fact {
        file: "sql2014_full_northwind.bak",
        set: 0,
        db: "Northwind",
        server: "LENOVO",
        kind: 'D',
        version: "12.0.2000",
        lsns: ["968:440:37", "968:480:1", "968:440:37", "0:0:0"],
        size: 4690944,
        guid: "1f2085ce-2006-4484-8ca9-8d6e32955872",
    },
    Fact {
        file: "sql2016_full_restoretimeclean.bak",
        set: 0,
        db: "RestoreTimeClean",
        server: "WIN-JNMR8KM0U3B\\SQL2016",
        kind: 'D',
        version: "13.0.5081",
        lsns: ["39:488:71", "39:518:1", "39:488:71", "39:354:71"],
        size: 2519040,
        guid: "c6c44151-8a2c-4c6c-9bf5-2e02090c8ebc",
    },
    Fact {
        file: "sql2016_log_restoretimeclean.trn",
        set: 0,
        db: "RestoreTimeClean",
        server: "WIN-JNMR8KM0U3B\\SQL2016",
        kind: 'L',
        version: "13.0.5081",
        lsns: ["39:474:1", "39:541:1", "39:488:71", "39:488:71"],
        size: 92160,
        guid: "eff03344-1bc7-43a9-aa21-7ba2cf1460a5",
    },
    Fact {
        file: "sql2016_diff_restoretimeclean.bak",
        set: 0,
        db: "RestoreTimeClean",
        server: "WIN-JNMR8KM0U3B\\SQL2016",
        kind: 'I',
        version: "13.0.5081",
        lsns: ["39:595:1", "39:598:1", "39:595:1", "39:488:71"],
        size: 749568,
        guid: "a62c00af-c30b-41e9-b2cd-ed06e068ede7",
    },
    Fact {
        file: "sql2017_full_qlbh.bak",
        set: 0,
        db: "QLBH",
        server: "LAPTOPOFETTEE97\\SQLEXPRESS",
        kind: 'D',
        version: "14.0.2027",
        lsns: ["37:1577:37", "37:1594:1", "37:1577:37", "37:780:52"],
        size: 3887104,
        guid: "9549eb72-508a-4d12-87d2-ad27cadf6d1e",
    },
    Fact {
        file: "sql2019_full_qlsv.bak",
        set: 0,
        db: "QLSV",
        server: "DESKTOP-BN2IH2M\\SQLEXPRESS",
        kind: 'D',
        version: "15.0.2000",
        lsns: ["47:487:1", "47:490:1", "47:487:1", "45:320:1"],
        size: 3623936,
        guid: "56be1f7f-0527-4f40-a48d-b36c5657bc15",
    },
    Fact {
        file: "sql2022_full_qlbh.bak",
        set: 0,
        db: "QuanLyBanHang",
        server: "Admin-PC",
        kind: 'D',
        version: "16.0.1050",
        lsns: ["43:520:1", "43:523:1", "43:520:1", "43:486:1"],
        size: 3572736,
        guid: "05b9169e-7f93-4e53-aa27-6eb7c7db8677",
    },
];

fn listing(name: &str) -> Option<mtf::reader::Listing> {
    let p = common::foreign_dir()?.join(name);
    Some(list_sets(Reader::new(FileSource::open(p).unwrap())).unwrap())
}

fn lsn_text(l: Option<mtf::sqlserver::Lsn>) -> String {
    let l = l.expect("LSN decoded");
    format!("{}:{}:{}", l.vlf, l.block, l.slot)
}

#[test]
fn set_details_match_the_evidence() {
    if common::foreign_dir().is_none() {
        return;
    }
    for f in FACTS {
        let l = listing(f.file).unwrap();
        let set = &l.sets[f.set];
        assert!(SqlSetInfo::is_sql_server(set), "{}", f.file);
        let info = SqlSetInfo::from_set(set);
        let scin = info.scin().unwrap_or_else(|| panic!("{}: no SCIN", f.file));
        let ctx = format!("{} set {}", f.file, f.set + 1);
        // The final (MSLS) copy is used.
        assert_eq!(
            info.mqci_source,
            Some(mtf::sqlserver::MqciSource::Msls),
            "{ctx}"
        );
        assert_eq!(scin.database_name.as_deref(), Some(f.db), "{ctx}");
        assert_eq!(scin.server_name.as_deref(), Some(f.server), "{ctx}");
        assert_eq!(scin.backup_type.map(|t| t.letter()), Some(f.kind), "{ctx}");
        assert_eq!(scin.version_string().as_deref(), Some(f.version), "{ctx}");
        // The SSET's product version agrees with SCIN's major.minor.
        let s = set.sset();
        assert!(
            f.version.starts_with(&format!(
                "{}.{}.",
                s.software_major_version, s.software_minor_version
            )),
            "{ctx}"
        );
        let got = [
            lsn_text(scin.first_lsn),
            lsn_text(scin.last_lsn),
            lsn_text(scin.checkpoint_lsn),
            lsn_text(scin.database_backup_lsn),
        ];
        assert_eq!(got, f.lsns.map(String::from), "{ctx}");
        assert_eq!(scin.backup_size, Some(f.size), "{ctx}");
        let guid: Guid = f.guid.parse().unwrap();
        assert_eq!(info.backup_set_guid, Some(guid), "{ctx}");
        // Backup start = the SSET date; finish is not before it.
        assert_eq!(scin.backup_start, Some(s.media_write_date), "{ctx}");
        let fin = scin.backup_finish.and_then(|d| d.to_datetime()).unwrap();
        assert!(fin >= s.media_write_date.to_datetime().unwrap(), "{ctx}");
        // Differential sets carry the SSET attribute 0x8, the others 0x4.
        let diff = s
            .attributes
            .contains(mtf::spec::SetAttributes::DIFFERENTIAL);
        assert_eq!(diff, f.kind == 'I', "{ctx}");
        // Log sets have no MQDA data (no MSDA block).
        let has_data = mtf::reader::Reader::new(
            FileSource::open(common::foreign_dir().unwrap().join(f.file)).unwrap(),
        );
        let mut r = has_data;
        let mut msda = false;
        while let Some(ev) = r.next_event().unwrap() {
            if let mtf::reader::Event::Block { dblk, .. } = ev {
                msda |= dblk.block_type() == mtf::BlockType::MSDA;
            }
        }
        assert_eq!(msda, f.kind != 'L', "{ctx}");
        // The VOLB machine name is the server name without the instance (case aside).
        let volb_st = set.blocks[0].dblk.header.string_type;
        let machine = set.volb().unwrap().machine_name.display(volb_st);
        let server_machine = f.server.split('\\').next().unwrap();
        assert!(
            machine.eq_ignore_ascii_case(server_machine),
            "{ctx}: {machine}"
        );
    }
}

#[test]
fn database_files_match_the_evidence() {
    if common::foreign_dir().is_none() {
        return;
    }
    let l = listing("sql2008r2_diff_checksum_db1.bak").unwrap();
    let info = SqlSetInfo::from_set(&l.sets[0]);
    let files: Vec<_> = info
        .files()
        .iter()
        .map(|f| {
            (
                f.file_id.unwrap(),
                f.file_type.unwrap(),
                f.logical_name.clone().unwrap(),
                f.physical_name.clone().unwrap(),
                f.size.unwrap(),
                f.filegroup_id.unwrap(),
            )
        })
        .collect();
    assert_eq!(
        files,
        [
            (
                1,
                FileType::Data,
                "db1".into(),
                "C:\\Move\\db1.mdf".into(),
                1073741824,
                1
            ),
            (
                3,
                FileType::Data,
                "db1_1".into(),
                "C:\\Move\\db1_1.ndf".into(),
                1073741824,
                1
            ),
            (
                2,
                FileType::Log,
                "db1_log".into(),
                "C:\\Tests\\db1_log.ldf".into(),
                3538944,
                0
            ),
        ]
    );
    let m = info.mqci.as_ref().unwrap();
    assert_eq!(m.filegroup_name(1), Some("PRIMARY"));
    let scin = info.scin().unwrap();
    assert_eq!(scin.has_checksums, Some(true));
    assert_eq!(scin.database_version, Some(661));
    assert_eq!(scin.compatibility_level, Some(100));

    let l = listing("sql2005_full_northwind.bak").unwrap();
    let info = SqlSetInfo::from_set(&l.sets[0]);
    let f = info.files();
    assert_eq!(f.len(), 2);
    assert_eq!(f[0].logical_name.as_deref(), Some("Northwind"));
    assert_eq!(
        f[0].physical_name.as_deref(),
        Some("C:\\SQL Server 2000 Sample Databases\\northwnd.mdf")
    );
    assert_eq!(f[0].size, Some(3801088));
    assert_eq!(f[1].logical_name.as_deref(), Some("Northwind_log"));
    assert_eq!(f[1].file_type, Some(FileType::Log));
    assert_eq!(f[1].size, Some(4325376));
    let scin = info.scin().unwrap();
    assert_eq!(scin.database_version, Some(611));
    assert_eq!(scin.compatibility_level, Some(80));
    assert_eq!(scin.collation_lcid, Some(1033));
    assert_eq!(scin.collation_sort_id, Some(52));
    assert_eq!(scin.has_checksums, Some(false));

    // The appended set's log file had grown.
    let l = listing("sql2005_multiset_stdb2sql.bak").unwrap();
    let sizes: Vec<u64> = l
        .sets
        .iter()
        .map(|s| SqlSetInfo::from_set(s).files()[1].size.unwrap())
        .collect();
    assert_eq!(sizes, [5832704, 8585216]);

    let l = listing("sql2005_full_northwind_zh.bak").unwrap();
    let scin = SqlSetInfo::from_set(&l.sets[0]).scin().cloned().unwrap();
    assert_eq!(scin.collation_lcid, Some(2052));
    assert_eq!(scin.collation_sort_id, Some(0));

    // The 2016 differential's base is the 2016 full backup: its checkpoint and its GUID.
    let l = listing("sql2016_diff_restoretimeclean.bak").unwrap();
    let scin = SqlSetInfo::from_set(&l.sets[0]).scin().cloned().unwrap();
    assert_eq!(lsn_text(scin.differential_base_lsn), "39:488:71");
    assert_eq!(
        scin.differential_base_guid,
        Some("c6c44151-8a2c-4c6c-9bf5-2e02090c8ebc".parse().unwrap())
    );
    // The 2016 log refers to the same full backup.
    let l = listing("sql2016_log_restoretimeclean.trn").unwrap();
    let scin = SqlSetInfo::from_set(&l.sets[0]).scin().cloned().unwrap();
    assert_eq!(
        scin.database_backup_set_guid,
        Some("c6c44151-8a2c-4c6c-9bf5-2e02090c8ebc".parse().unwrap())
    );
}

#[test]
fn media_set_identity_matches_the_evidence() {
    if common::foreign_dir().is_none() {
        return;
    }
    for (file, set_id, count, number) in [
        (
            "sql2008r2_stripe_full_1of2.bak",
            "dba99816-9a6c-4ab6-b68c-76b2a726823d",
            2,
            1,
        ),
        (
            "sql2008r2_stripe_full_2of2.bak",
            "dba99816-9a6c-4ab6-b68c-76b2a726823d",
            2,
            2,
        ),
        (
            "sql2008r2_stripe_log_1of2.trn",
            "59503ff7-12eb-47dd-9c26-cfd3abdfcdbc",
            2,
            1,
        ),
        (
            "sql2008r2_stripe_log_2of2.trn",
            "59503ff7-12eb-47dd-9c26-cfd3abdfcdbc",
            2,
            2,
        ),
        (
            "sql2014_full_northwind.bak",
            "258e4405-8273-410d-aa5f-7f0ff53b9a3e",
            2,
            1,
        ),
        (
            "sql2005_full_northwind.bak",
            "7c306626-e5bf-437d-8dc1-178909626a2d",
            1,
            1,
        ),
    ] {
        let l = listing(file).unwrap();
        let id = Raid::decode(l.header.tape_block().stream_data(StreamId::RAID).unwrap()).unwrap();
        assert_eq!(id.media_set_id, set_id.parse().unwrap(), "{file}");
        assert_eq!(id.family_count, count, "{file}");
        assert_eq!(id.family_number, number, "{file}");
        assert!(l.header.tape_block().stream_data(StreamId::RAID).is_some());
    }
    // The media password: TAPE password algorithm 5 (MD5) in that sample only.
    let l = listing("sql2008r2_full_mediapassword.bak").unwrap();
    assert_eq!(l.header.tape().password_encryption_algorithm, 5);
    let l = listing("sql2008r2_full_singlerestore.bak").unwrap();
    assert_eq!(l.header.tape().password_encryption_algorithm, 0);
}

#[test]
fn the_compressed_container_header() {
    let Some(dir) = common::foreign_dir() else {
        return;
    };
    let mut f = std::fs::File::open(dir.join("compressed_tsqlv4.bak")).unwrap();
    let c = mtf::sqlserver::CompressedContainer::read(&mut f)
        .unwrap()
        .unwrap();
    assert_eq!((c.word_8, c.word_12), (2, 3));
    assert_eq!(c.total_len, Some(864256));
    assert_eq!(c.last_soft_filemark, Some((860160, vec![851968, 4096])));
    let mut f = std::fs::File::open(dir.join("sql2005_full_northwind.bak")).unwrap();
    assert!(mtf::sqlserver::CompressedContainer::read(&mut f)
        .unwrap()
        .is_none());
}
