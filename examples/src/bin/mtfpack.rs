//! mtfpack: back up directory trees into an MTF medium: a file (soft filemarks), a `.tap` tape
//! image, or a tape device (hardware filemarks).
//!
//! Exit status: 0 every entry went in whole; 1 some entries could not be backed up or went in
//! marked corrupt (each named on standard error); 2 an error, with the previous medium left as
//! it was (options and sources are checked before the output is opened, a new file is written
//! beside it and renamed into place, a failed append puts the old tail back).

use clap::Parser;
use media::device::is_tape_path;
use mtf::writer::{
    check_options, AppendPoint, BlockSink, FileSink, MediaSupplier, MediumOptions, Writer,
};
use mtf_examples::pack::{
    check_output, check_sources, now, open_nofollow, pack_tree_with, parse_date, set_options,
    Exclude, PackStats,
};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "mtfpack",
    version,
    about = "Back up directory trees into an MTF medium"
)]
struct Cli {
    /// Directories to back up (one volume each).
    #[arg(required = true)]
    dirs: Vec<PathBuf>,
    /// The medium: a file, a `.tap` tape image, or a tape device such as /dev/nst0. Several
    /// `-o` (tapes or images) make a striped media set, one family per device.
    #[arg(short, long, required = true)]
    output: Vec<PathBuf>,
    /// Add a data set after the existing ones instead of formatting the medium (the default
    /// for media sets).
    #[arg(long)]
    append: bool,
    /// Media name: names a new medium; on a media set, the name the medium must have to be
    /// appended to or initialised (MEDIANAME).
    #[arg(long)]
    media_name: Option<String>,
    /// A mirror device per family, in the order of the `-o`s (repeat the list for more
    /// copies, up to 4 in all).
    #[arg(long)]
    mirror: Vec<PathBuf>,
    /// A directory of tape images acting as a library: a full medium's family continues on a
    /// new image there (its name is printed).
    #[arg(long)]
    changer: Option<PathBuf>,
    /// Capacity in bytes of the tape images created (the `-o` images and the changer's).
    #[arg(long)]
    capacity: Option<u64>,
    /// Give the files to the families strictly in turn (the first to family 1, the second to
    /// family 2, ...), so the same tree fills the same media every time. By default a file
    /// goes to the next family with room, and a device changing media does not hold the
    /// others up.
    #[arg(long)]
    stripe_in_turn: bool,
    /// Write a new media header on every device: a new media set (overrides every check but
    /// write protection).
    #[arg(long, conflicts_with_all = ["init", "append"])]
    format: bool,
    /// Overwrite the backup sets, keeping the media header.
    #[arg(long, conflicts_with = "append")]
    init: bool,
    /// Skip the expiry and media name checks.
    #[arg(long)]
    skip: bool,
    /// Media description of a new media set.
    #[arg(long)]
    media_description: Option<String>,
    /// The set may be overwritten after N days (wins over --expire).
    #[arg(long)]
    retain_days: Option<u32>,
    /// The set may be overwritten after DATE (UTC, YYYY-MM-DDTHH:MM:SS).
    #[arg(long)]
    expire: Option<String>,
    /// Media password: set on a new media set, required to append to or initialise a
    /// protected one.
    #[arg(long)]
    media_password: Option<String>,
    /// Data set name.
    #[arg(long, default_value = "mtfpack backup")]
    name: String,
    /// Data set description.
    #[arg(long, default_value = "")]
    description: String,
    /// Follow every file's data with a CSUM checksum stream.
    #[arg(long)]
    csum: bool,
    /// Physical block size in bytes: a multiple of the FLB size, at most 512 KiB (default 64 KiB
    /// on files, 256 KiB on tape).
    #[arg(long)]
    block_size: Option<usize>,
    /// Format Logical Block size: 512 or 1024.
    #[arg(long, default_value_t = 1024)]
    flb: u16,
    /// Media family id, decimal or 0x-hex (default: derived from the time and process id).
    #[arg(long, value_parser = parse_u32)]
    family_id: Option<u32>,
    /// Date to record for the medium and the set, UTC, YYYY-MM-DDTHH:MM:SS (default: now).
    #[arg(long)]
    date: Option<String>,
    /// Machine name to record (default: the host name).
    #[arg(long)]
    machine: Option<String>,
    /// Leave out the Type 1 catalog (FDD and set map) at each set's end.
    #[arg(long)]
    no_catalog: bool,
}

fn parse_u32(s: &str) -> Result<u32, String> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16),
        None => s.parse(),
    }
    .map_err(|e| format!("{s:?}: {e}"))
}

/// How a run ended well: every entry whole, or some left out or not whole (named on stderr).
enum Done {
    Whole,
    Partial,
}

fn run(cli: Cli) -> Result<Done, String> {
    // Everything is checked before the output is opened: a bad option never touches it.
    let date = match &cli.date {
        Some(d) => parse_date(d)?,
        None => now(),
    };
    check_sources(&cli.dirs)?;
    for o in cli.output.iter().chain(&cli.mirror) {
        check_output(o, &cli.dirs)?;
        if std::fs::metadata(o).is_ok_and(|m| m.is_dir()) {
            return Err(format!("{}: is a directory", o.display()));
        }
    }
    let machine = cli.machine.clone().unwrap_or_else(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_owned())
            .unwrap_or_default()
    });
    let family_id = cli
        .family_id
        .unwrap_or_else(|| (date.to_unix() as u32) ^ std::process::id().rotate_left(16));
    let media_name = cli.media_name.as_deref().unwrap_or("mtfpack");
    let mut opts = MediumOptions::new(media_name, family_id, date);
    opts.block_size = cli.block_size;
    opts.flb_size = cli.flb;
    opts.catalog = !cli.no_catalog;
    let set = set_options(&cli.name, &cli.description, date, cli.csum);
    // Tapes go through the media crate (the safety decision before any write); files keep the
    // single-medium writer.
    let media_set = cli.output.iter().all(|o| is_tape_path(o))
        || cli.output.len() > 1
        || !cli.mirror.is_empty()
        || cli.changer.is_some()
        || cli.capacity.is_some()
        || cli.stripe_in_turn
        || cli.format
        || cli.init
        || cli.skip
        || cli.media_description.is_some()
        || cli.retain_days.is_some()
        || cli.expire.is_some()
        || cli.media_password.is_some();
    check_options(&opts, &set, media_set).map_err(|x| format!("invalid options: {x}"))?;
    if media_set {
        return run_media_set(&cli, set, date, machine);
    }
    let output = &cli.output[0];
    let e = |e: mtf::Error| e.to_string();
    let total: PackStats;
    let mut exclude = Exclude::default();
    exclude.add_path(output);
    if cli.append {
        total = append_to_file(&cli, output, set, &machine, date, &exclude)?;
    } else {
        // A new file is written beside the output under a temporary name and renamed over it
        // only once whole and on disk: a failed run leaves the old medium as it was.
        let (tmp, f) = temp_beside(output)?;
        exclude.add_path(&tmp);
        let result = (|| -> Result<PackStats, String> {
            let mut w = Writer::new(FileSink::new(BufWriter::with_capacity(1 << 20, f)), opts)
                .map_err(e)?;
            let total = pack_set(&mut w, set, &cli.dirs, &machine, date, &exclude)?;
            durable(w.finish().map_err(e)?, &tmp)?;
            std::fs::rename(&tmp, output)
                .map_err(|x| format!("{}: renaming into place: {x}", output.display()))?;
            sync_parent(output)?;
            Ok(total)
        })();
        match result {
            Ok(t) => total = t,
            Err(msg) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(format!("{msg} ({} left as it was)", output.display()));
            }
        }
    }
    eprintln!(
        "mtfpack: {} directories, {} files, {} bytes -> {}",
        total.directories,
        total.files,
        total.bytes,
        output.display()
    );
    finish(&total)
}

/// The exit for what went in: whole, or some entries left out or not whole (named above).
fn finish(total: &PackStats) -> Result<Done, String> {
    if total.is_whole() {
        Ok(Done::Whole)
    } else {
        eprintln!(
            "mtfpack: {} entries left out and {} files not whole (named above); exit status 1",
            total.skipped.len(),
            total.not_whole.len()
        );
        Ok(Done::Partial)
    }
}

/// A media set: several devices, mirrors, a changer or the safety options.
fn run_media_set(
    cli: &Cli,
    set: mtf::writer::SetOptions,
    date: mtf::DateTime,
    machine: String,
) -> Result<Done, String> {
    use media::decision::Operation;
    if cli.family_id.is_some() || cli.no_catalog || cli.flb != 1024 {
        return Err("--family-id, --flb and --no-catalog apply to a single file medium".into());
    }
    for o in cli.output.iter().chain(&cli.mirror) {
        if !is_tape_path(o) {
            return Err(format!(
                "{}: a media set is written to tapes or .tap images",
                o.display()
            ));
        }
    }
    let now = date.to_unix();
    let expires = match (cli.retain_days, &cli.expire) {
        (Some(d), _) => Some(now + i64::from(d) * 86_400),
        (None, Some(e)) => Some(parse_date(e)?.to_unix()),
        (None, None) => None,
    };
    let job = mtf_examples::packset::MediaSetJob {
        outputs: cli.output.clone(),
        mirrors: cli.mirror.clone(),
        changer: cli.changer.clone(),
        capacity: cli.capacity,
        write: media::family::WriteOptions {
            skip: cli.skip,
            block_size: cli
                .block_size
                .unwrap_or(mtf::writer::DEFAULT_TAPE_BLOCK_SIZE),
            ..media::family::WriteOptions::new(
                if cli.format {
                    Operation::Format
                } else if cli.init {
                    Operation::Init
                } else {
                    Operation::Append
                },
                now,
            )
        },
        media_name: cli.media_name.clone(),
        media_description: cli.media_description.clone().unwrap_or_default(),
        password: cli.media_password.clone(),
        expires,
        set,
        machine,
        dirs: cli.dirs.clone(),
        in_turn: cli.stripe_in_turn,
    };
    let t = mtf_examples::packset::pack_media_set(&job, &mut std::io::stderr())?;
    eprintln!(
        "mtfpack: {} directories, {} files, {} bytes -> {} device(s)",
        t.directories,
        t.files,
        t.bytes,
        cli.output.len() + cli.mirror.len()
    );
    finish(&t)
}

/// Writes one set of every source tree; what went in, or the first error.
fn pack_set<S: BlockSink, M: MediaSupplier<S>>(
    w: &mut Writer<S, M>,
    set: mtf::writer::SetOptions,
    dirs: &[PathBuf],
    machine: &str,
    date: mtf::date::DateTime,
    exclude: &Exclude,
) -> Result<PackStats, String> {
    let e = |e: mtf::Error| e.to_string();
    w.begin_set(set).map_err(e)?;
    let mut total = PackStats::default();
    let mut open = open_nofollow;
    let mut log = std::io::stderr();
    for d in dirs {
        total.add(pack_tree_with(w, d, machine, date, &mut log, exclude, &mut open).map_err(e)?);
    }
    w.end_set().map_err(e)?;
    Ok(total)
}

/// A new file beside `out`, for writing the medium before it replaces `out`.
fn temp_beside(out: &Path) -> Result<(PathBuf, File), String> {
    let dir = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = out
        .file_name()
        .ok_or_else(|| format!("{}: not a file name", out.display()))?
        .to_string_lossy()
        .into_owned();
    for i in 0..100u32 {
        let tmp = dir.join(format!(".{name}.mtfpack-{}-{i}.tmp", std::process::id()));
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(x) if x.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(x) => return Err(format!("{}: create: {x}", tmp.display())),
        }
    }
    Err(format!("{}: no free temporary name", dir.display()))
}

/// Makes a rename in `path`'s directory durable.
fn sync_parent(path: &Path) -> Result<(), String> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|x| format!("{}: syncing the directory: {x}", dir.display()))
}

/// Largest tail after the append point that is kept in memory to restore on failure.
const MAX_TAIL: u64 = 64 << 20;

/// Appends a set to a medium file. The bytes after the append point are kept, and put back if
/// the run fails, so the existing sets stay as they were.
fn append_to_file(
    cli: &Cli,
    output: &Path,
    set: mtf::writer::SetOptions,
    machine: &str,
    date: mtf::date::DateTime,
    exclude: &Exclude,
) -> Result<PackStats, String> {
    let shown = output.display();
    let e = |e: mtf::Error| e.to_string();
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(output)
        .map_err(|x| format!("{shown}: open: {x}"))?;
    let point = AppendPoint::scan(std::io::BufReader::new(&file))
        .map_err(|x| format!("{shown}: cannot append: {x}"))?;
    let len = file.metadata().map_err(|x| format!("{shown}: {x}"))?.len();
    if len.saturating_sub(point.offset) > MAX_TAIL {
        return Err(format!(
            "{shown}: cannot append: {} bytes follow the last set (more than can be kept to \
             restore on failure)",
            len - point.offset
        ));
    }
    let mut tail = vec![0u8; (len - point.offset) as usize];
    std::os::unix::fs::FileExt::read_exact_at(&file, &mut tail, point.offset)
        .map_err(|x| format!("{shown}: read: {x}"))?;
    let restore = |f: &File| {
        let _ = f.set_len(point.offset);
        let _ = std::os::unix::fs::FileExt::write_all_at(f, &tail, point.offset);
        let _ = f.sync_all();
    };
    let keep = file.try_clone().map_err(|x| format!("{shown}: {x}"))?;
    let result = (|| -> Result<PackStats, String> {
        let mut f = file;
        f.set_len(point.offset)
            .map_err(|x| format!("{shown}: truncate: {x}"))?;
        f.seek(SeekFrom::Start(point.offset))
            .map_err(|x| format!("{shown}: seek: {x}"))?;
        let sink = FileSink::new(BufWriter::with_capacity(1 << 20, f)).resume(point.offset);
        let mut w = Writer::append(sink, point.clone(), mtf::writer::NoMoreMedia).map_err(e)?;
        let total = pack_set(&mut w, set, &cli.dirs, machine, date, exclude)?;
        durable(w.finish().map_err(e)?, output)?;
        Ok(total)
    })();
    result
        .inspect_err(|_| restore(&keep))
        .map_err(|m| format!("{m} ({shown} restored as it was)"))
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(Done::Whole) => ExitCode::SUCCESS,
        Ok(Done::Partial) => ExitCode::from(1),
        Err(e) => {
            eprintln!("mtfpack: {e}");
            ExitCode::from(2)
        }
    }
}

/// Flushes the medium file and waits until it is on stable storage: mtfpack reports success only
/// for a backup that would survive a crash.
fn durable(sink: FileSink<BufWriter<std::fs::File>>, path: &std::path::Path) -> Result<(), String> {
    let f = sink
        .into_inner()
        .into_inner()
        .map_err(|x| format!("{}: {}", path.display(), x.error()))?;
    f.sync_all()
        .map_err(|x| format!("{}: syncing to disk: {x}", path.display()))
}
