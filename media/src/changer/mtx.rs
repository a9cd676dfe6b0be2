//! An autoloader driven through `mtx`, the way Bacula's `mtx-changer` script drives one:
//! `mtx -f CHANGER status` for the inventory, `mtx -f CHANGER load SLOT DRIVE` and
//! `mtx -f CHANGER unload SLOT DRIVE` to move cartridges; the drive itself is then opened by its
//! path. Slots are offered in order; a refused or finished cartridge is not offered again.

use super::{
    log, log_refused, open_path, ChangerEvent, ChangerLog, MediaChanger, MediumRequest, Mounted,
};
use std::collections::HashSet;
use std::io;
use std::path::PathBuf;
use std::process::Command;
use tape_sys::EmulatedOptions;

/// What `mtx status` says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MtxStatus {
    /// Storage slots holding a cartridge.
    pub full_slots: Vec<u32>,
    /// (drive index, slot the loaded cartridge came from), for loaded drives.
    pub loaded: Vec<(u32, u32)>,
}

/// Parses `mtx status` output (lines `Data Transfer Element D:Full (Storage Element S Loaded)`
/// and `Storage Element S:Full ...`; import/export slots count as storage).
pub fn parse_status(text: &str) -> MtxStatus {
    let mut st = MtxStatus::default();
    for line in text.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("Data Transfer Element ") {
            let Some((d, state)) = rest.split_once(':') else {
                continue;
            };
            let Ok(d) = d.trim().parse::<u32>() else {
                continue;
            };
            if let Some(s) = state
                .split("Storage Element ")
                .nth(1)
                .and_then(|x| x.split_whitespace().next())
                .and_then(|x| x.parse().ok())
            {
                st.loaded.push((d, s));
            }
        } else if let Some(rest) = line.strip_prefix("Storage Element ") {
            let Some((s, state)) = rest.split_once(':') else {
                continue;
            };
            let s = s.trim().trim_end_matches(" IMPORT/EXPORT");
            if let (Ok(s), true) = (s.trim().parse::<u32>(), state.starts_with("Full")) {
                st.full_slots.push(s);
            }
        }
    }
    st
}

/// An autoloader.
pub struct MtxChanger {
    /// The `mtx` program (found on PATH by default).
    pub mtx: PathBuf,
    /// The changer's device (`/dev/sg3`).
    pub changer: PathBuf,
    /// The drive's index in the changer and its tape device path.
    pub drive_index: u32,
    pub drive: PathBuf,
    opts: EmulatedOptions,
    loaded: Option<u32>,
    spent: HashSet<u32>,
    pub log: ChangerLog,
}

impl MtxChanger {
    /// A changer at `changer` loading into drive `drive_index`, opened at `drive`.
    pub fn new(changer: PathBuf, drive_index: u32, drive: PathBuf) -> Self {
        MtxChanger {
            mtx: PathBuf::from("mtx"),
            changer,
            drive_index,
            drive,
            opts: EmulatedOptions::new(),
            loaded: None,
            spent: HashSet::new(),
            log: ChangerLog::default(),
        }
    }

    /// Options for opening the drive when it is an emulated one (a `.tap` image): its capacity
    /// and early-warning zone.
    pub fn emulated_options(mut self, opts: EmulatedOptions) -> Self {
        self.opts = opts;
        self
    }

    fn run(&self, args: &[String]) -> io::Result<String> {
        let out = Command::new(&self.mtx)
            .arg("-f")
            .arg(&self.changer)
            .args(args)
            .output()
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", self.mtx.display())))?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "mtx -f {} {}: {}",
                self.changer.display(),
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The changer's inventory.
    pub fn status(&self) -> io::Result<MtxStatus> {
        Ok(parse_status(&self.run(&["status".into()])?))
    }

    fn unload(&mut self) -> io::Result<()> {
        if let Some(slot) = self.loaded.take() {
            self.run(&[
                "unload".into(),
                slot.to_string(),
                self.drive_index.to_string(),
            ])?;
        }
        Ok(())
    }
}

impl MediaChanger for MtxChanger {
    fn mount(&mut self, req: &MediumRequest) -> io::Result<Mounted> {
        log(&self.log, ChangerEvent::Asked(req.clone()));
        self.unload()?;
        let st = self.status()?;
        // A cartridge left in the drive by someone else goes back first.
        if let Some(&(_, slot)) = st.loaded.iter().find(|(d, _)| *d == self.drive_index) {
            self.loaded = Some(slot);
            self.unload()?;
        }
        let st = self.status()?;
        let slot = st
            .full_slots
            .iter()
            .copied()
            .find(|s| !self.spent.contains(s))
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("the autoloader has no more cartridges to offer for {req}"),
                )
            })?;
        self.run(&[
            "load".into(),
            slot.to_string(),
            self.drive_index.to_string(),
        ])?;
        self.loaded = Some(slot);
        let device = open_path(&self.drive, false, self.opts.clone())?;
        let name = format!("slot {slot}");
        log(&self.log, ChangerEvent::Mounted(name.clone()));
        Ok(Mounted { device, name })
    }

    fn refused(&mut self, medium: Mounted, why: &str) -> io::Result<()> {
        log_refused(&self.log, &medium.name, why);
        drop(medium.device);
        if let Some(s) = self.loaded {
            self.spent.insert(s);
        }
        self.unload()
    }

    fn done(&mut self, medium: Mounted) -> io::Result<()> {
        log(&self.log, ChangerEvent::Done(medium.name.clone()));
        drop(medium.device);
        if let Some(s) = self.loaded {
            self.spent.insert(s);
        }
        self.unload()
    }
}
