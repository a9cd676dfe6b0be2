//! One backup set written over N devices at once (one family per device), with up to three
//! mirrors of every family: the API a backup product links.
//!
//! Every device (family × mirror) has a thread of its own with a [`FamilyWriter`] and its own
//! changer, fed through a bounded channel ([`StripeOptions::queue`] messages of at most
//! [`StripeOptions::chunk`] bytes each), so memory stays bounded whatever is backed up. Each
//! file goes whole to one family: to the next family in turn whose queue has room, so a device
//! waiting for its next medium does not hold the others up; they stop only when every queue is
//! full, or at the sync point, the end of the set. The mirrors of a family get the same
//! messages and write the same bytes.
//!
//! Before any byte is written, every device's first medium is judged by the safety decision;
//! if one is refused, none is written.

use crate::changer::{MediaChanger, Mounted};
use crate::decision::{Action, Decision, Operation, Reason};
use crate::family::{
    judge, FamilyReport, FamilySpec, FamilyWriter, MediaError, Result, WriteOptions,
};
use crate::restart::RestartPlan;
use crate::set::{Guid, MediaSet};
use mtf::writer::{EntryMeta, FileOutcome, SetOptions, VolumeOptions};
use std::collections::VecDeque;
use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// One device: its first medium and the changer that supplies the rest.
pub struct StripeDevice {
    pub first: Mounted,
    pub changer: Box<dyn MediaChanger>,
}

/// How the media set is written.
#[derive(Clone, Debug)]
pub struct StripeOptions {
    pub write: WriteOptions,
    /// Messages each device's queue holds. Few: a device thread copies each chunk into its
    /// blocks, and a chunk still in the processor's cache copies faster. A 2 GiB backup to a
    /// tape image on tmpfs took 1.20 s with 16 (4 MiB in flight), 1.06 s with 4 (best of 5
    /// each, the same run, 2 cores); more would only absorb longer stalls of the source.
    pub queue: usize,
    /// Bytes per data message.
    pub chunk: usize,
}

impl StripeOptions {
    /// Defaults: 64 KiB blocks, queues of 4 chunks of 256 KiB.
    pub fn new(operation: Operation, now: i64) -> Self {
        StripeOptions {
            write: WriteOptions::new(operation, now),
            queue: 4,
            chunk: 256 * 1024,
        }
    }
}

/// The backup set.
#[derive(Clone, Debug)]
pub struct BackupSet {
    pub options: SetOptions,
    /// When the set may be overwritten (Unix seconds).
    pub expires: Option<i64>,
    /// The volume the set starts with; `None` when the caller adds volumes itself
    /// ([`StripedWriter::add_volume`]) before the first directory or file.
    pub volume: Option<VolumeOptions>,
}

enum Msg {
    Volume(VolumeOptions),
    Directory(Vec<String>, EntryMeta),
    File {
        dir: Vec<String>,
        name: String,
        meta: EntryMeta,
        size: u64,
    },
    /// A file's data: the first `len` bytes of the buffer (an empty one ends the file).
    Data(Arc<[u8]>, usize),
    /// A block of set information written by every family (see [`StripedWriter::add_info_block`]).
    Info(Arc<InfoBlock>),
}

/// A vendor block of set information: its type, what follows the common header, its streams.
#[derive(Clone, Debug)]
pub struct InfoBlock {
    pub block_type: mtf::spec::BlockType,
    pub fixed: Vec<u8>,
    pub streams: Vec<(mtf::spec::StreamId, Vec<u8>)>,
}

/// Writes one backup set over the devices.
pub struct StripedWriter {
    /// Per family, per mirror.
    queues: Vec<Vec<SyncSender<Msg>>>,
    threads: Vec<JoinHandle<Result<FamilyReport>>>,
    /// Set when the write is abandoned: the devices stop where they are.
    killed: Arc<AtomicBool>,
    /// What the device threads that stopped said.
    failures: Arc<Mutex<Vec<String>>>,
    /// A restart: per family, the files its replayed media hold, still to be sent to it.
    pending: Vec<VecDeque<String>>,
    /// A restart: per family, the directory its next file must be in (see
    /// [`crate::restart::FamilyCheckpoint::next_dir`]).
    next_dir: Vec<Option<Vec<String>>>,
    next: usize,
    /// Files go to the families strictly in turn ([`StripedWriter::assign_in_turn`]).
    in_turn: bool,
    chunk: usize,
    /// Buffers of `chunk` bytes that went to the device threads, reused once they let go.
    buffers: Vec<Arc<[u8]>>,
    media_set_id: Guid,
}

/// What the write did.
#[derive(Clone, Debug)]
pub struct StripeReport {
    pub media_set_id: Guid,
    /// One per device, family by family, mirror by mirror.
    pub families: Vec<FamilyReport>,
}

impl StripedWriter {
    /// Judges every device's first medium, and if all may be written, starts the set on each.
    /// `devices[f][m]` is family `f + 1`'s mirror `m`. For format, `set` is the new media set
    /// (its family count must be the number of families); for init and append, its name and id
    /// are taken from the media, which must all be of one media set.
    pub fn start(
        devices: Vec<Vec<StripeDevice>>,
        set: MediaSet,
        opts: &StripeOptions,
        backup: BackupSet,
    ) -> Result<Self> {
        Self::begin(devices, set, opts, backup, None)
    }

    /// Restarts an interrupted backup from its checkpoint ([`crate::restart`]): the same
    /// source must follow, in the same order, with the same `backup`. `devices[f][m]` holds
    /// each family's first medium. The media the interrupted run completed are replayed
    /// (compared, not written); writing resumes on each family's first incomplete medium.
    pub fn restart(
        devices: Vec<Vec<StripeDevice>>,
        plan: &RestartPlan,
        opts: &StripeOptions,
        backup: BackupSet,
    ) -> Result<Self> {
        if opts.write.operation != Operation::Format {
            return Err(MediaError::Invalid(
                "only a backup that formatted its media can be restarted".into(),
            ));
        }
        if plan.family_count as usize != devices.len() {
            return Err(MediaError::Invalid(format!(
                "the interrupted media set has {} families; {} devices given",
                plan.family_count,
                devices.len()
            )));
        }
        if devices
            .iter()
            .any(|m| m.len() != plan.mirror_count as usize)
        {
            return Err(MediaError::Invalid(format!(
                "the interrupted media set has {} cop{} of each medium; give as many devices \
                 per family",
                plan.mirror_count,
                if plan.mirror_count == 1 { "y" } else { "ies" }
            )));
        }
        let mut set = MediaSet::new(&plan.name, plan.family_count);
        set.id = plan.media_set_id;
        let mut opts = opts.clone();
        opts.write.now = plan.written;
        Self::begin(devices, set, &opts, backup, Some(plan))
    }

    fn begin(
        mut devices: Vec<Vec<StripeDevice>>,
        set: MediaSet,
        opts: &StripeOptions,
        backup: BackupSet,
        plan: Option<&RestartPlan>,
    ) -> Result<Self> {
        let mut set = set;
        let resume = |f: usize| {
            plan.and_then(|p| p.families.get(f))
                .map_or(0, |c| c.resume_at.max(1))
        };
        set.family_count = u16::try_from(devices.len()).unwrap_or(u16::MAX);
        set.mirror_count = devices.first().map_or(1, |m| m.len()) as u8;
        set.check().map_err(MediaError::Invalid)?;
        if devices.iter().any(|m| m.len() != set.mirror_count as usize) {
            return Err(MediaError::Invalid(
                "every family needs the same number of mirrors".into(),
            ));
        }
        let spec_of = |f: usize, m: usize, set: &MediaSet| FamilySpec {
            set: set.clone(),
            family_number: f as u16 + 1,
            mirror: m as u8,
            write: opts.write.clone(),
            replay_until: resume(f),
        };
        // Judge all before writing any.
        let mut judged = Vec::new();
        let mut refused = Vec::new();
        let mut ids = Vec::new();
        // Devices whose medium would get a new header (blank media).
        let mut blank = Vec::new();
        for (f, mirrors) in devices.iter_mut().enumerate() {
            for (m, d) in mirrors.iter_mut().enumerate() {
                let j = judge(&mut d.first, &spec_of(f, m, &set));
                match j.decision.action {
                    None => refused.push((d.first.name.clone(), j.decision.clone())),
                    Some(Action::WriteHeader) => blank.push(d.first.name.clone()),
                    Some(_) => {
                        let label = j.inspection.label();
                        ids.push((d.first.name.clone(), label.and_then(|l| l.media_set_id)));
                        let copies = label.and_then(|l| l.mirror_count).unwrap_or(1);
                        if copies != set.mirror_count {
                            refused.push((
                                d.first.name.clone(),
                                refusal(Reason::MirrorCount {
                                    devices: set.mirror_count,
                                    mirrors: copies,
                                }),
                            ));
                        }
                    }
                }
                judged.push(j);
            }
        }
        if let Some((_, first_id)) = ids.first().cloned() {
            if let Some((name, _)) = ids.iter().find(|(_, id)| *id != first_id) {
                refused.push((
                    name.clone(),
                    refusal(Reason::WrongSet {
                        wanted: first_id.unwrap_or_default(),
                        found: ids.iter().find(|(n, _)| n == name).and_then(|x| x.1),
                    }),
                ));
            }
            if let Some(id) = first_id {
                set.id = id;
            }
            // Init and append go on with the media set the media carry: a blank medium in it
            // would start a family (or a mirror) holding only the new backup set.
            for name in blank {
                refused.push((
                    name,
                    refusal(Reason::WrongSet {
                        wanted: first_id.unwrap_or_default(),
                        found: None,
                    }),
                ));
            }
        }
        if !refused.is_empty() {
            for mirrors in devices {
                for mut d in mirrors {
                    let why = refused
                        .iter()
                        .find(|(n, _)| *n == d.first.name)
                        .map(|(_, dec)| dec.explain())
                        .unwrap_or_else(|| "another device of the set was refused".into());
                    let _ = d.changer.refused(d.first, &why);
                }
            }
            let (medium, decision) = refused.swap_remove(0);
            return Err(MediaError::Refused { medium, decision });
        }
        let mut queues = Vec::new();
        let mut threads = Vec::new();
        let mut judged = judged.into_iter();
        let killed = Arc::new(AtomicBool::new(false));
        let failures: Arc<Mutex<Vec<String>>> = Arc::default();
        for (f, mirrors) in devices.into_iter().enumerate() {
            let mut fq = Vec::new();
            for (m, d) in mirrors.into_iter().enumerate() {
                let j = judged.next().expect("one judgement per device");
                let (tx, rx) = sync_channel::<Msg>(opts.queue.max(1));
                fq.push(tx);
                let spec = spec_of(f, m, &set);
                let backup = backup.clone();
                let killed = killed.clone();
                let failures = failures.clone();
                threads.push(
                    std::thread::Builder::new()
                        .name(format!("family {} mirror {m}", f + 1))
                        .spawn(move || {
                            let r = device_thread(d, spec, j, backup, rx, killed);
                            if let Err(e) = &r {
                                failures
                                    .lock()
                                    .unwrap_or_else(|p| p.into_inner())
                                    .push(e.to_string());
                            }
                            r
                        })
                        .map_err(MediaError::Io)?,
                );
            }
            queues.push(fq);
        }
        let pending = (0..queues.len())
            .map(|f| {
                plan.and_then(|p| p.families.get(f))
                    .map(|c| c.files.iter().cloned().collect())
                    .unwrap_or_default()
            })
            .collect();
        let next_dir = (0..queues.len())
            .map(|f| {
                plan.and_then(|p| p.families.get(f))
                    .and_then(|c| c.next_dir.clone())
            })
            .collect();
        Ok(StripedWriter {
            next_dir,
            queues,
            threads,
            killed,
            failures,
            pending,
            next: 0,
            in_turn: false,
            chunk: opts.chunk.max(1),
            buffers: Vec::new(),
            media_set_id: set.id,
        })
    }

    /// Sends file `k` to family `k mod N` (first file to family 1), waiting for that family
    /// when its queue is full, instead of to the next family whose queue has room. The split
    /// of the files over the families, and so how many media each family fills, then depends
    /// only on the source, never on thread timing: for a product that wants the same media
    /// from the same data, and for tests. The price is that a device waiting for its next
    /// medium holds the others up as soon as its queue is full. A restart places the files
    /// its replayed media hold as the interrupted run did, whichever way it assigned them.
    pub fn assign_in_turn(&mut self, in_turn: bool) {
        self.in_turn = in_turn;
    }

    /// The media set written.
    pub fn media_set_id(&self) -> Guid {
        self.media_set_id
    }

    /// Starts a volume (on every family: each family's directories and files belong to it).
    pub fn add_volume(&mut self, volume: &VolumeOptions) -> Result<()> {
        for f in 0..self.queues.len() {
            self.send_family(f, || Msg::Volume(volume.clone()))?;
        }
        Ok(())
    }

    /// Adds a block of set information to every family, after what each has been sent so far
    /// (SQL Server's layout writes its MSCI block before the data and its MSLS block after it
    /// on every family alike).
    pub fn add_info_block(&mut self, block: InfoBlock) -> Result<()> {
        let block = Arc::new(block);
        for f in 0..self.queues.len() {
            self.send_family(f, || Msg::Info(block.clone()))?;
        }
        Ok(())
    }

    /// Adds a directory (to the first family, every mirror).
    pub fn add_directory(&mut self, path: &[String], meta: &EntryMeta) -> Result<()> {
        self.send_family(0, || Msg::Directory(path.to_vec(), *meta))
    }

    /// Adds a file of `size` bytes read from `data`, in directory `dir`, to one family. What the
    /// source gave is returned at once (the device thread writes it later): a source that fails
    /// or ends early goes in zero-filled, one with more than `size` bytes (it grew while read)
    /// goes in cut; either way the device's writer marks the file with a CFIL, as
    /// [`mtf::writer::Writer::add_file`] does for any source.
    pub fn add_file(
        &mut self,
        dir: &[String],
        name: &str,
        meta: &EntryMeta,
        size: u64,
        data: &mut dyn Read,
    ) -> Result<FileOutcome> {
        let family = self.pick_family(dir, name, meta, size)?;
        let mut outcome = FileOutcome {
            declared: size,
            bytes_read: 0,
            read_error: None,
            grew: false,
        };
        let mut left = size;
        while left > 0 {
            let n = left.min(self.chunk as u64) as usize;
            // Read straight into a buffer the device threads share: no copy on the way, and
            // no allocation once the first chunks come back.
            let mut buf = self.free_buffer();
            let dst = Arc::get_mut(&mut buf).expect("a free buffer is not shared");
            let mut got = 0;
            while got < n {
                match data.read(&mut dst[got..n]) {
                    Ok(0) => break,
                    Ok(k) => got += k,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        // What was read before it goes in.
                        outcome.read_error = Some(e);
                        break;
                    }
                }
            }
            if got > 0 {
                left -= got as u64;
                outcome.bytes_read += got as u64;
                self.send_family(family, || Msg::Data(buf.clone(), got))?;
            }
            self.buffers.push(buf);
            if got == 0 || outcome.read_error.is_some() {
                break;
            }
        }
        if left == 0 {
            // One byte beyond the declared size says the file grew; the device's writer asks
            // for it too, and marks the file when it comes.
            let mut probe = [0u8; 1];
            if matches!(data.read(&mut probe), Ok(1)) {
                outcome.grew = true;
                self.send_family(family, || Msg::Data(Arc::from(&probe[..]), 1))?;
            }
        }
        self.end_file_data(family)?;
        Ok(outcome)
    }

    /// Ends a file's data on the device's queue (an empty chunk): the device's writer reads a
    /// file up to here, and never into the next message.
    fn end_file_data(&mut self, family: usize) -> Result<()> {
        self.send_family(family, || Msg::Data(Arc::from(Vec::new()), 0))
    }

    /// A buffer of `chunk` bytes no device thread holds any more: one of those sent before
    /// (the queues bound how many are out), or a new one.
    fn free_buffer(&mut self) -> Arc<[u8]> {
        match self
            .buffers
            .iter_mut()
            .position(|b| Arc::get_mut(b).is_some())
        {
            Some(i) => self.buffers.swap_remove(i),
            None => Arc::from(vec![0u8; self.chunk]),
        }
    }

    /// Adds a file whose data the caller already holds in shared buffers (a product that
    /// reads into buffers of its own): the buffers go to the device threads as they are,
    /// without a copy. Their lengths must add up to `size`; fewer bytes are zero-filled and
    /// the file recorded as corrupt, as with [`StripedWriter::add_file`].
    pub fn add_file_chunks(
        &mut self,
        dir: &[String],
        name: &str,
        meta: &EntryMeta,
        size: u64,
        chunks: &mut dyn Iterator<Item = Arc<[u8]>>,
    ) -> Result<()> {
        let family = self.pick_family(dir, name, meta, size)?;
        let mut left = size;
        for c in chunks {
            if left == 0 {
                break;
            }
            let c = if c.len() as u64 > left {
                Arc::from(&c[..left as usize])
            } else {
                c
            };
            if c.is_empty() {
                continue;
            }
            left -= c.len() as u64;
            let len = c.len();
            self.send_family(family, || Msg::Data(c.clone(), len))?;
        }
        self.end_file_data(family)
    }

    /// Sends the file's header to the next family in turn whose first queue has room.
    fn pick_family(
        &mut self,
        dir: &[String],
        name: &str,
        meta: &EntryMeta,
        size: u64,
    ) -> Result<usize> {
        let n = self.queues.len();
        let constrained =
            self.pending.iter().any(|p| !p.is_empty()) || self.next_dir.iter().any(Option::is_some);
        if constrained {
            // A restart: a file on a replayed medium goes to its family again; others only to
            // families whose replayed files are all sent.
            let path = if dir.is_empty() {
                name.to_owned()
            } else {
                format!("{}/{name}", dir.join("/"))
            };
            let replayed = self.pending.iter().position(|p| p.front() == Some(&path));
            // Else a family whose replayed media end with this file's directory takes it.
            let by_dir = || {
                (0..n).find(|&f| {
                    self.pending[f].is_empty() && self.next_dir[f].as_deref() == Some(dir)
                })
            };
            if let Some(f) = replayed.or_else(by_dir) {
                if replayed.is_some() {
                    self.pending[f].pop_front();
                } else {
                    self.next_dir[f] = None;
                }
                self.send_family(f, || Msg::File {
                    dir: dir.to_vec(),
                    name: name.to_owned(),
                    meta: *meta,
                    size,
                })?;
                return Ok(f);
            }
            if (0..n).all(|f| !self.pending[f].is_empty() || self.next_dir[f].is_some()) {
                return Err(MediaError::Invalid(format!(
                    "restart: {path} is not where the interrupted run had it; the source changed \
                     since (start the backup again from the beginning)"
                )));
            }
        }
        let free: Vec<bool> = (0..n)
            .map(|f| self.pending[f].is_empty() && self.next_dir[f].is_none())
            .collect();
        let mk = || Msg::File {
            dir: dir.to_vec(),
            name: name.to_owned(),
            meta: *meta,
            size,
        };
        if self.in_turn {
            let f = (0..n)
                .map(|k| (self.next + k) % n)
                .find(|&f| free[f])
                .ok_or_else(|| MediaError::Invalid("no family is free for the file".into()))?;
            self.send_family(f, mk)?;
            self.next = (f + 1) % n;
            return Ok(f);
        }
        let mut spins = 0u32;
        loop {
            for k in 0..n {
                let f = (self.next + k) % n;
                if !free[f] {
                    continue;
                }
                match self.queues[f][0].try_send(mk()) {
                    Ok(()) => {
                        for q in &self.queues[f][1..] {
                            q.send(mk()).map_err(|_| self.device_failed())?;
                        }
                        self.next = (f + 1) % n;
                        return Ok(f);
                    }
                    Err(TrySendError::Full(_)) => {}
                    Err(TrySendError::Disconnected(_)) => return Err(self.device_failed()),
                }
            }
            spins = spins.saturating_add(1);
            std::thread::sleep(std::time::Duration::from_micros(if spins < 100 {
                50
            } else {
                1000
            }));
        }
    }

    fn send_family(&mut self, f: usize, mk: impl Fn() -> Msg) -> Result<()> {
        for q in &self.queues[f] {
            q.send(mk()).map_err(|_| self.device_failed())?;
        }
        Ok(())
    }

    fn device_failed(&self) -> MediaError {
        // The thread records its error just before its queue closes; give it a moment.
        for _ in 0..100 {
            let f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
            if !f.is_empty() {
                return MediaError::Invalid(format!("a device stopped: {}", f.join("; ")));
            }
            drop(f);
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        MediaError::Invalid("a device stopped".into())
    }

    /// The sync point: ends the set on every device and waits for them. The first device error
    /// is returned (the others' follow in its message).
    pub fn finish(self) -> Result<StripeReport> {
        if let Some(p) = self.pending.iter().find(|p| !p.is_empty()) {
            return Err(MediaError::Invalid(format!(
                "restart: the source ended before {} (on a replayed medium); it changed since",
                p[0]
            )));
        }
        if let Some(d) = self.next_dir.iter().flatten().next() {
            return Err(MediaError::Invalid(format!(
                "restart: no file in {} came where the interrupted run had one; the source changed since",
                d.join("/")
            )));
        }
        drop(self.queues);
        let mut reports = Vec::new();
        let mut errors = Vec::new();
        for t in self.threads {
            match t.join() {
                Ok(Ok(r)) => reports.push(r),
                Ok(Err(e)) => errors.push(e),
                Err(_) => errors.push(MediaError::Invalid("a device thread panicked".into())),
            }
        }
        if !errors.is_empty() {
            let first = errors.remove(0);
            if errors.is_empty() {
                return Err(first);
            }
            let rest: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
            return Err(MediaError::Invalid(format!("{first}\n{}", rest.join("\n"))));
        }
        Ok(StripeReport {
            media_set_id: self.media_set_id,
            families: reports,
        })
    }

    /// A switch that abandons this write from anywhere (another thread, a signal handler's
    /// watcher), even in the middle of [`StripedWriter::add_file`]: every device stops where
    /// it is, as at [`StripedWriter::abandon`], which the owner still calls to join them.
    pub fn abandon_switch(&self) -> AbandonSwitch {
        AbandonSwitch(self.killed.clone())
    }

    /// Abandons the write (a failure of the source, a kill): every device stops where it is,
    /// without closing the set. [`StripedWriter::restart`] goes on from the media completed.
    pub fn abandon(self) {
        self.killed.store(true, Ordering::SeqCst);
        drop(self.queues);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// Abandons a striped write from anywhere: see [`StripedWriter::abandon_switch`].
#[derive(Clone, Debug)]
pub struct AbandonSwitch(Arc<AtomicBool>);

impl AbandonSwitch {
    /// Stops every device of the write where it is: each refuses any further write.
    pub fn abandon(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Reads a file's data from the queue.
struct QueueReader<'a> {
    rx: &'a Receiver<Msg>,
    cur: Arc<[u8]>,
    /// The bytes of `cur` that are data.
    len: usize,
    at: usize,
    ended: bool,
}

impl Read for QueueReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.ended {
            return Ok(0);
        }
        if self.at == self.len {
            // Let go of the buffer before waiting: the writer may reuse it.
            self.cur = Arc::from(Vec::new());
            match self.rx.recv() {
                Ok(Msg::Data(_, 0)) => {
                    self.ended = true;
                    return Ok(0);
                }
                Ok(Msg::Data(d, len)) => {
                    self.cur = d;
                    self.len = len;
                    self.at = 0;
                }
                _ => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the source stopped inside a file",
                    ))
                }
            }
        }
        let n = buf.len().min(self.len - self.at);
        buf[..n].copy_from_slice(&self.cur[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

fn device_thread(
    d: StripeDevice,
    spec: FamilySpec,
    judged: crate::family::Judged,
    backup: BackupSet,
    rx: Receiver<Msg>,
    killed: Arc<AtomicBool>,
) -> Result<FamilyReport> {
    let mut spec = spec;
    spec.write.stop = Some(killed.clone());
    let mut fw = FamilyWriter::open_judged(d.first, d.changer, spec, judged)?;
    fw.begin_set(backup.options.clone(), backup.expires)?;
    if let Some(v) = &backup.volume {
        fw.add_volume(v)?;
    }
    while let Ok(msg) = rx.recv() {
        match msg {
            Msg::Volume(v) => fw.add_volume(&v)?,
            Msg::Directory(path, meta) => fw.add_directory(&path, &meta)?,
            Msg::File {
                dir,
                name,
                meta,
                size,
            } => {
                let mut r = QueueReader {
                    rx: &rx,
                    cur: Arc::from(Vec::new()),
                    len: 0,
                    at: 0,
                    ended: false,
                };
                fw.add_file(&dir, &name, &meta, size, &mut r)?;
            }
            Msg::Info(b) => fw.add_info_block(&b)?,
            Msg::Data(..) => {
                return Err(MediaError::Invalid("data outside a file".into()));
            }
        }
    }
    if killed.load(Ordering::SeqCst) {
        return Err(MediaError::Invalid("abandoned".into()));
    }
    fw.end_set()?;
    fw.finish()
}

/// A refusal for one reason the striped write finds across its devices.
fn refusal(reason: Reason) -> Decision {
    Decision {
        action: None,
        reasons: vec![reason],
        overridden: Vec::new(),
    }
}
