//! Attacks on the history's inputs and the planner that the other test files do not make.
//! Expected values come from msdb's and RESTORE's definitions, not from the code.

use media::history::msdb_csv;

/// msdb's `backupset.position` counts backup sets on the media from 1, and `RESTORE … WITH
/// FILE = 0` names no set: a 0 or negative position in an export is a bad cell, named.
#[test]
fn msdb_csv_position_below_one_is_refused_by_line_and_column() {
    for bad in ["0", "-1"] {
        let csv = format!("database_name,type,position\nShop,D,{bad}\n");
        let e = msdb_csv::read(csv.as_bytes(), "p.csv").unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("p.csv: line 2: column position: \"{bad}\" is not valid")
        );
    }
    let ok = msdb_csv::read(
        "database_name,type,position\nShop,D,3\n".as_bytes(),
        "p.csv",
    )
    .unwrap();
    assert_eq!(ok[0].position, 3);
}
