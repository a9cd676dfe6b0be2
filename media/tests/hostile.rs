//! Hostile input to the history and the planner: mangled msdb CSV exports, and records with any
//! field missing, repeated or contradictory. Nothing may panic; errors name the file and line;
//! any plan still chains by LSN. Cases: `MEDIA_HOSTILE_CASES` (default 3000).

use media::history::{
    msdb_csv, BackupKind, BackupRecord, FamilyRecord, Lsn, MediumRecord, RecoveryModel,
};
use media::plan::{plan_all, Target};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn cases() -> usize {
    std::env::var("MEDIA_HOSTILE_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000)
}

const CSV: &str = "backup_set_uuid,position,database_name,type,is_copy_only,first_lsn,last_lsn,checkpoint_lsn,differential_base_guid,backup_start_date,backup_finish_date,time_zone,recovery_model,is_damaged,family_sequence_number,physical_device_name,device_type,mirror,media_family_count
{11111111-2222-3333-4444-555555555555},1,Shop,D,0,1000,1100,1000,NULL,2024-03-01 10:00:00.000,2024-03-01 10:01:00.000,4,FULL,0,1,a.bak,2,0,2
{11111111-2222-3333-4444-555555555555},1,Shop,D,0,1000,1100,1000,NULL,2024-03-01 10:00:00.000,2024-03-01 10:01:00.000,4,FULL,0,2,\"b,1.bak\",2,0,2
{22222222-2222-3333-4444-555555555555},1,Shop,L,0,1000,1200,1000,NULL,2024-03-01 11:00:00.000,2024-03-01 11:00:05.000,4,FULL,0,1,t.trn,5,0,1
";

#[test]
fn mangled_msdb_exports_never_panic_and_errors_name_the_file() {
    let mut rng = Rng(0x1357_9bdf_2468_ace0);
    assert_eq!(msdb_csv::read(CSV.as_bytes(), "x.csv").unwrap().len(), 2);
    let (mut ok, mut refused) = (0, 0);
    for _ in 0..cases() {
        let mut b = CSV.as_bytes().to_vec();
        for _ in 0..1 + rng.below(6) {
            if b.is_empty() {
                break;
            }
            let i = rng.below(b.len() as u64) as usize;
            match rng.below(4) {
                0 => b[i] = rng.next() as u8,
                1 => {
                    b.remove(i);
                }
                2 => b.insert(i, b",\"\n9-0:{"[rng.below(8) as usize]),
                _ => b.truncate(i),
            }
        }
        match msdb_csv::read(&b[..], "mangled.csv") {
            Ok(recs) => {
                ok += 1;
                // Whatever was read plans without panicking.
                let _ = plan_all(&recs, None, Target::Latest);
            }
            Err(e) => {
                refused += 1;
                assert!(e.to_string().starts_with("mangled.csv: line "), "{e}");
            }
        }
    }
    assert!(ok > 0 && refused > 0, "{ok} read, {refused} refused");
}

/// `Some(v)` four times in five.
macro_rules! opt {
    ($rng:ident, $v:expr) => {{
        let v = $v;
        ($rng.below(5) != 0).then_some(v)
    }};
}

#[test]
fn arbitrary_records_never_panic_and_plans_still_chain() {
    let mut rng = Rng(0xdead_beef_cafe_f00d);
    for _ in 0..cases() / 10 {
        let n = 1 + rng.below(40);
        let mut recs = Vec::new();
        for _ in 0..n {
            let kind = match rng.below(5) {
                0 => BackupKind::Full,
                1 => BackupKind::Differential,
                2 | 3 => BackupKind::Log,
                _ => BackupKind::Other('F'),
            };
            let mut r = BackupRecord::new(
                ["a", "A", "b"][rng.below(3) as usize],
                kind,
                rng.below(3) as u32,
                ["media", "msdb-csv"][rng.below(2) as usize],
            );
            let g = |rng: &mut Rng| format!("G{}", rng.below(6));
            r.backup_set_guid = opt!(rng, g(&mut rng));
            r.differential_base_guid = opt!(rng, g(&mut rng));
            r.copy_only = opt!(rng, rng.below(2) == 0);
            let a = rng.below(50) as u128;
            let b = rng.below(50) as u128;
            r.first_lsn = opt!(rng, Lsn(a));
            r.last_lsn = opt!(rng, Lsn(b));
            r.checkpoint_lsn = opt!(rng, Lsn(a));
            r.differential_base_lsn = opt!(rng, Lsn(rng.below(50) as u128));
            r.last_recovery_fork_guid = opt!(rng, g(&mut rng));
            r.first_recovery_fork_guid = opt!(rng, g(&mut rng));
            r.fork_point_lsn = opt!(rng, Lsn(rng.below(50) as u128));
            let t = media::history::DateTime::from_unix(1_700_000_000 + rng.below(5000) as i64);
            r.start = t.and_then(|t| opt!(rng, t));
            r.finish = t.and_then(|t| opt!(rng, t));
            r.recovery_model = opt!(rng, RecoveryModel::Simple).filter(|_| rng.below(4) == 0);
            r.damaged = rng.below(8) == 0;
            r.incomplete = rng.below(8) == 0;
            r.family_count = opt!(rng, rng.below(4) as u16);
            for f in 0..rng.below(4) as u16 {
                r.families.push(FamilyRecord {
                    family_number: f,
                    media: (0..rng.below(3) as u16)
                        .map(|m| MediumRecord {
                            media_sequence_number: m,
                            path: format!("f{f}m{m}"),
                            is_tape: false,
                        })
                        .collect(),
                });
            }
            recs.push(r);
        }
        let target = if rng.below(2) == 0 {
            Target::Latest
        } else {
            Target::At(
                media::history::DateTime::from_unix(1_700_000_000 + rng.below(5000) as i64)
                    .unwrap(),
            )
        };
        for p in plan_all(&recs, None, target) {
            if !p.is_valid() {
                continue;
            }
            assert_eq!(p.steps[0].kind, BackupKind::Full);
            let mut cur = p.steps[0].last_lsn;
            for s in &p.steps[1..] {
                match s.kind {
                    BackupKind::Log => {
                        assert!(s.first_lsn <= cur && cur < s.last_lsn, "{p:#?}");
                        cur = s.last_lsn;
                    }
                    BackupKind::Differential => {
                        assert!(s.last_lsn > cur);
                        cur = s.last_lsn;
                    }
                    k => panic!("step of kind {k:?}"),
                }
            }
            assert!(p.steps.last().unwrap().recovery);
        }
    }
}
