//! The overwrite safety decision: may this mounted medium be written, how, and if not, why not.
//!
//! The rules are the reference documents' (BACKUP's FORMAT / INIT / SKIP, MEDIANAME,
//! MEDIAPASSWORD, EXPIREDATE / RETAINDAYS; "Overwriting Media" and "Appending Backup Sets"):
//!
//! - A write-protected medium is never written.
//! - An empty medium is formatted by every operation (it gets a media header and the set).
//! - A medium whose start is not an MTF media header (another format, unreadable) is refused
//!   unless formatting.
//! - **format** writes a new media header (a new media set) over anything else: it overrides
//!   every check but write protection.
//! - **init** (overwrite the backup sets, keep the media header) refuses unexpired sets and a
//!   media name that differs from the one asked for; **skip** overrides both.
//! - **append** (the default) refuses a media name that differs; **skip** overrides it. Sets'
//!   expiry does not matter: appending destroys nothing.
//! - A password-protected medium is refused by init and append without its password; skip
//!   does not override it (only format does).
//! - init and append keep the media set, so the medium must be of the set's shape: its family
//!   count equal to the number of devices, the family the device writes, and (append) the
//!   family's last medium (the one without EOTM). Skip does not override these either.
//! - append also refuses a medium that ends inside a backup set (an interrupted write).
//! - A **continuation** medium (asked for when a medium fills) is formatted, as SQL Server
//!   does, but only if it is empty or holds nothing that matters: not a medium of the media
//!   set being written, no unexpired set, no password, nothing foreign.
//!
//! - A **restart** may write again the media of the interrupted family from its first
//!   incomplete medium on; other media are judged as continuation media.
//!
//! Expiry is judged against an injected [`Clock`](crate::clock::Clock).

use crate::set::{Guid, Inspection, MediaPassword, MediumContents};

/// What the caller wants to do with the mounted medium.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    /// Write a new media header: a new media set.
    Format,
    /// Overwrite the backup sets, keeping the media header.
    Init,
    /// Add a backup set after the last one.
    Append,
    /// Take the medium as the next medium of a family being written.
    Continuation,
    /// Take the medium for a restarted family from medium `from_sequence` on: the media of
    /// this family of this set from that sequence number on are the interrupted run's and may
    /// be written again; anything else is judged as a continuation medium.
    Restart { from_sequence: u16 },
}

/// The request, as the decision needs it.
#[derive(Clone, Debug)]
pub struct Request {
    pub operation: Operation,
    /// Skip the expiry and media name checks.
    pub skip: bool,
    /// The media name asked for (MEDIANAME), to match the medium's.
    pub media_name: Option<String>,
    /// The media password given (MEDIAPASSWORD).
    pub password: Option<MediaPassword>,
    /// How many devices (families) are being written at once.
    pub devices: u16,
    /// The family this device writes (1-based).
    pub family_number: u16,
    /// The media set being written, when it is already known (the other devices' set when
    /// appending; the set being continued).
    pub media_set_id: Option<Guid>,
    /// Now, in Unix seconds.
    pub now: i64,
}

/// How the medium will be written when the decision allows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Write a new media header from the start of the medium.
    WriteHeader,
    /// Keep the media header, overwrite everything after it.
    OverwriteSets,
    /// Write after the last set.
    AppendAfterLastSet,
}

/// Why a medium is refused (or would have been, had an override not been given).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    WriteProtected,
    /// The medium does not start with an MTF media header.
    ForeignHeader(String),
    /// Damage after the header: the sets cannot all be read.
    Unreadable(String),
    /// Sets that may not be overwritten yet: (position, expiry in Unix seconds).
    Unexpired(Vec<(usize, i64)>),
    NameMismatch {
        asked: String,
        found: String,
    },
    /// Password-protected and no password given.
    PasswordRequired,
    /// Password-protected and the password given is not its password.
    PasswordWrong,
    /// The medium's family count is not the number of devices.
    DeviceCount {
        devices: u16,
        families: u16,
    },
    /// The media set has `mirrors` copies of each medium, but `devices` are written per
    /// family.
    MirrorCount {
        devices: u8,
        mirrors: u8,
    },
    /// The medium is of another family than the device writes.
    WrongFamily {
        wanted: u16,
        found: u16,
    },
    /// The medium is of another media set.
    WrongSet {
        wanted: Guid,
        found: Option<Guid>,
    },
    /// The medium belongs to the media set being written: taking it as a continuation medium
    /// would destroy part of the set.
    PartOfThisSet {
        family: u16,
        sequence: u16,
    },
    /// Not the family's last medium (the family continues on medium `sequence + 1`).
    NotLastMedium {
        sequence: u16,
    },
    /// The medium ends inside backup set `position` (an interrupted write): appending after
    /// it would bury an unfinished set.
    UnfinishedSet {
        position: usize,
    },
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::WriteProtected => write!(f, "the medium is write-protected"),
            Reason::ForeignHeader(why) => write!(f, "not an MTF medium: {why}"),
            // After a killed append this is the only answer every later append gets: say
            // what is still there and how to go on.
            Reason::Unreadable(why) => write!(
                f,
                "the medium is damaged after its header: {why}; nothing is appended after \
                 damage (the sets before it still restore): write to another medium, or start \
                 this one over with --init once its sets are kept elsewhere"
            ),
            Reason::Unexpired(sets) => {
                write!(f, "unexpired backup sets:")?;
                for (pos, at) in sets {
                    write!(f, " set {pos} until {}", fmt_time(*at))?;
                }
                Ok(())
            }
            Reason::NameMismatch { asked, found } => {
                write!(
                    f,
                    "media name {found:?} is not the name asked for, {asked:?}"
                )
            }
            Reason::PasswordRequired => write!(f, "the medium is password-protected"),
            Reason::PasswordWrong => write!(f, "the media password given is not the medium's"),
            Reason::DeviceCount { devices, families } => write!(
                f,
                "the media set has {families} families but {devices} devices are written"
            ),
            Reason::MirrorCount { devices, mirrors } => write!(
                f,
                "the media set has {mirrors} mirror cop{} of each medium but {devices} devices \
                 per family are written",
                if *mirrors == 1 { "y" } else { "ies" }
            ),
            Reason::WrongFamily { wanted, found } => {
                write!(
                    f,
                    "the medium is of family {found}, this device writes family {wanted}"
                )
            }
            Reason::WrongSet { wanted, found } => match found {
                Some(g) => write!(f, "the medium is of media set {g}, not {wanted}"),
                None => write!(f, "the medium names no media set, not {wanted}"),
            },
            Reason::PartOfThisSet { family, sequence } => write!(
                f,
                "the medium is medium {sequence} of family {family} of the media set being written"
            ),
            Reason::UnfinishedSet { position } => write!(
                f,
                "cannot append: the medium ends inside backup set {position}, which never \
                 closed (the sets before it still restore): write to another medium, or start \
                 this one over with --init once its sets are kept elsewhere"
            ),
            Reason::NotLastMedium { sequence } => write!(
                f,
                "the medium is medium {sequence} of its family, which continues on medium {}",
                sequence.saturating_add(1)
            ),
        }
    }
}

/// A UTC date and time for messages.
pub fn fmt_time(unix: i64) -> String {
    match mtf::date::DateTime::from_unix(unix) {
        Some(d) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            d.year, d.month, d.day, d.hour, d.minute, d.second
        ),
        None => format!("{unix} (Unix time)"),
    }
}

/// The verdict: an action, or the reasons for refusing. `overridden` lists the checks that
/// failed but were overridden (by skip or format), so a caller can report them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub action: Option<Action>,
    pub reasons: Vec<Reason>,
    pub overridden: Vec<Reason>,
}

impl Decision {
    /// Whether the medium may be written.
    pub fn allowed(&self) -> bool {
        self.action.is_some()
    }

    /// The reasons, one per line, for messages.
    pub fn explain(&self) -> String {
        self.reasons
            .iter()
            .map(|r| r.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Decides whether the mounted medium may be written as `req` asks.
pub fn decide(m: &Inspection, req: &Request) -> Decision {
    let mut refuse: Vec<Reason> = Vec::new();
    let mut overridden: Vec<Reason> = Vec::new();
    let op = req.operation;
    if m.write_protected {
        return Decision {
            action: None,
            reasons: vec![Reason::WriteProtected],
            overridden: Vec::new(),
        };
    }
    let (label, sets, continues, damage) = match &m.contents {
        MediumContents::Empty => {
            return Decision {
                action: Some(Action::WriteHeader),
                reasons: Vec::new(),
                overridden: Vec::new(),
            }
        }
        MediumContents::Foreign { reason } => {
            let r = Reason::ForeignHeader(reason.clone());
            return if op == Operation::Format {
                Decision {
                    action: Some(Action::WriteHeader),
                    reasons: Vec::new(),
                    overridden: vec![r],
                }
            } else {
                Decision {
                    action: None,
                    reasons: vec![r],
                    overridden: Vec::new(),
                }
            };
        }
        MediumContents::Mtf {
            label,
            sets,
            continues,
            damage,
        } => (label, sets, *continues, damage),
    };
    let unexpired: Vec<(usize, i64)> = sets
        .iter()
        .filter_map(|s| s.expires.filter(|&t| t > req.now).map(|t| (s.position, t)))
        .collect();
    let password = match (&label.password, &req.password) {
        (None, _) => None,
        (Some(_), None) => Some(Reason::PasswordRequired),
        (Some((alg, field)), Some(p)) => (!p.matches(*alg, field)).then_some(Reason::PasswordWrong),
    };
    let name = req.media_name.as_ref().and_then(|asked| {
        (asked != &label.name).then(|| Reason::NameMismatch {
            asked: asked.clone(),
            found: label.name.clone(),
        })
    });
    // The set's shape: family count, family number, set id.
    let mut shape = Vec::new();
    let families = label.family_count.unwrap_or(1);
    if families != req.devices {
        shape.push(Reason::DeviceCount {
            devices: req.devices,
            families,
        });
    }
    if label.family() != req.family_number {
        shape.push(Reason::WrongFamily {
            wanted: req.family_number,
            found: label.family(),
        });
    }
    if let Some(wanted) = req.media_set_id {
        if label.media_set_id != Some(wanted) {
            shape.push(Reason::WrongSet {
                wanted,
                found: label.media_set_id,
            });
        }
    }
    match op {
        Operation::Format => {
            overridden.extend(password);
            overridden.extend(name);
            if !unexpired.is_empty() {
                overridden.push(Reason::Unexpired(unexpired));
            }
            return Decision {
                action: Some(Action::WriteHeader),
                reasons: Vec::new(),
                overridden,
            };
        }
        Operation::Restart { from_sequence }
            if req.media_set_id.is_some()
                && label.media_set_id == req.media_set_id
                && label.family() == req.family_number
                && label.media_sequence_number >= from_sequence =>
        {
            return Decision {
                action: Some(Action::WriteHeader),
                reasons: Vec::new(),
                overridden,
            };
        }
        Operation::Continuation | Operation::Restart { .. } => {
            if let (Some(wanted), Some(found)) = (req.media_set_id, label.media_set_id) {
                if wanted == found {
                    refuse.push(Reason::PartOfThisSet {
                        family: label.family(),
                        sequence: label.media_sequence_number,
                    });
                }
            }
            refuse.extend(password);
            if !unexpired.is_empty() {
                refuse.push(Reason::Unexpired(unexpired));
            }
            if let Some(d) = damage {
                refuse.push(Reason::Unreadable(d.clone()));
            }
            let action = refuse.is_empty().then_some(Action::WriteHeader);
            return Decision {
                action,
                reasons: refuse,
                overridden,
            };
        }
        Operation::Init | Operation::Append => {}
    }
    refuse.extend(password);
    if let Some(n) = name {
        skippable(req.skip, n, &mut refuse, &mut overridden);
    }
    refuse.extend(shape);
    if op == Operation::Init {
        if !unexpired.is_empty() {
            skippable(
                req.skip,
                Reason::Unexpired(unexpired),
                &mut refuse,
                &mut overridden,
            );
        }
        if let Some(d) = damage {
            // The expiry of sets past the damage cannot be known.
            skippable(
                req.skip,
                Reason::Unreadable(d.clone()),
                &mut refuse,
                &mut overridden,
            );
        }
    } else {
        if continues {
            refuse.push(Reason::NotLastMedium {
                sequence: label.media_sequence_number,
            });
        } else if let Some(last) = sets.last().filter(|s| !s.closed) {
            refuse.push(Reason::UnfinishedSet {
                position: last.position,
            });
        }
        if let Some(d) = damage {
            refuse.push(Reason::Unreadable(d.clone()));
        }
    }
    let action = refuse.is_empty().then_some(match op {
        Operation::Init => Action::OverwriteSets,
        _ => Action::AppendAfterLastSet,
    });
    Decision {
        action,
        reasons: refuse,
        overridden,
    }
}

/// A check that skip overrides.
fn skippable(skip: bool, r: Reason, refuse: &mut Vec<Reason>, overridden: &mut Vec<Reason>) {
    if skip {
        overridden.push(r)
    } else {
        refuse.push(r)
    }
}
