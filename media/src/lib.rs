//! Media sets and families (striping, continuation media, append/overwrite safety checks) on top
//! of `mtf` and `tape-sys`, and the reference engine that produces backup streams.
//!
//! | module | what it holds |
//! | --- | --- |
//! | [`set`] | the model (media set, family, medium label) and its encoding on the TAPE block; media given in any order grouped into sets, what is missing named ([`set::group`]) |
//! | [`decision`] | the overwrite safety decision: may this medium be written, and why not |
//! | [`clock`] | the injected clock the decision judges expiry against |
//! | [`device`] | a tape opened by path, and `mtf`'s block sink and source over it |
//! | [`changer`] | media changers: operator prompt, scripted, a directory library, `mtx` |
//! | [`family`] | one family's writer: continuation through a changer, wrong media refused |
//! | [`stripe`] | one backup set over N devices (a thread each) with mirrors |
//! | [`restart`] | restarting an interrupted backup from the media completed on every mirror |
//! | [`restore`] | reading a media set back, with as few devices as one |
//! | [`history`] | the backup history (a durable catalog like msdb, SQLite by default) and its import from media and from msdb exports |
//! | [`plan`] | the restore planner over that history |
//! | [`dbbackup`] | the reference engine's backups and restore sequences through media, laid out like SQL Server's sets |
//! | [`engine`] | the reference engine (pages, write-ahead log, ARIES recovery, recovery models) whose backups the media layer will carry |

pub mod changer;
pub mod clock;
pub mod dbbackup;
pub mod decision;
pub mod device;
pub mod engine;
pub mod family;
pub mod history;
pub mod plan;
pub mod restart;
pub mod restore;
pub mod set;
pub mod stripe;
