//! mtfpack: back up directory trees into an MTF medium: a file (soft filemarks), a `.tap` tape
//! image, or a tape device (hardware filemarks).

use clap::Parser;
use mtf::writer::{AppendPoint, FileSink, MediumOptions, Writer};
use mtf_examples::pack::{now, pack_tree, parse_date, set_options};
use mtf_examples::tape::is_tape_path;
use std::fs::OpenOptions;
use std::io::{BufWriter, Seek, SeekFrom};
use std::path::PathBuf;
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
    /// Physical block size in bytes (default 64 KiB on files, 256 KiB on tape).
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

fn run(cli: Cli) -> Result<(), String> {
    let date = match &cli.date {
        Some(d) => parse_date(d)?,
        None => now(),
    };
    let machine = cli.machine.clone().unwrap_or_else(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_owned())
            .unwrap_or_default()
    });
    let set = set_options(&cli.name, &cli.description, date, cli.csum);
    // Tapes go through the media crate (the safety decision before any write); files keep the
    // single-medium writer.
    let media_set = cli.output.iter().all(|o| is_tape_path(o))
        || cli.output.len() > 1
        || !cli.mirror.is_empty()
        || cli.changer.is_some()
        || cli.capacity.is_some()
        || cli.format
        || cli.init
        || cli.skip
        || cli.media_description.is_some()
        || cli.retain_days.is_some()
        || cli.expire.is_some()
        || cli.media_password.is_some();
    if media_set {
        return run_media_set(&cli, set, date, machine);
    }
    let output = &cli.output[0];
    let family_id = cli
        .family_id
        .unwrap_or_else(|| (date.to_unix() as u32) ^ std::process::id().rotate_left(16));
    let media_name = cli.media_name.as_deref().unwrap_or("mtfpack");
    let mut opts = MediumOptions::new(media_name, family_id, date);
    opts.block_size = cli.block_size;
    opts.flb_size = cli.flb;
    opts.catalog = !cli.no_catalog;
    let mut stderr = std::io::stderr();
    let e = |e: mtf::Error| e.to_string();
    let mut total = mtf_examples::pack::PackStats::default();
    let mut add = |t: mtf_examples::pack::PackStats| {
        total.directories += t.directories;
        total.files += t.files;
        total.bytes += t.bytes;
    };
    if cli.append {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(output)
            .map_err(|x| format!("{}: {x}", output.display()))?;
        let point = AppendPoint::scan(std::io::BufReader::new(&file))
            .map_err(|x| format!("{}: cannot append: {x}", output.display()))?;
        let mut f = file;
        f.set_len(point.offset).map_err(|x| x.to_string())?;
        f.seek(SeekFrom::Start(point.offset))
            .map_err(|x| x.to_string())?;
        let sink = FileSink::new(BufWriter::with_capacity(1 << 20, f)).resume(point.offset);
        let mut w = Writer::append(sink, point, mtf::writer::NoMoreMedia).map_err(e)?;
        w.begin_set(set).map_err(e)?;
        for d in &cli.dirs {
            add(pack_tree(&mut w, d, &machine, date, &mut stderr).map_err(e)?);
        }
        w.end_set().map_err(e)?;
        durable(w.finish().map_err(e)?, output)?;
    } else {
        let f = std::fs::File::create(output).map_err(|x| format!("{}: {x}", output.display()))?;
        let mut w =
            Writer::new(FileSink::new(BufWriter::with_capacity(1 << 20, f)), opts).map_err(e)?;
        w.begin_set(set).map_err(e)?;
        for d in &cli.dirs {
            add(pack_tree(&mut w, d, &machine, date, &mut stderr).map_err(e)?);
        }
        w.end_set().map_err(e)?;
        durable(w.finish().map_err(e)?, output)?;
    }
    eprintln!(
        "mtfpack: {} directories, {} files, {} bytes -> {}",
        total.directories,
        total.files,
        total.bytes,
        output.display()
    );
    Ok(())
}

/// A media set: several devices, mirrors, a changer or the safety options.
fn run_media_set(
    cli: &Cli,
    set: mtf::writer::SetOptions,
    date: mtf::DateTime,
    machine: String,
) -> Result<(), String> {
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
    };
    let t = mtf_examples::packset::pack_media_set(&job, &mut std::io::stderr())?;
    eprintln!(
        "mtfpack: {} directories, {} files, {} bytes -> {} device(s)",
        t.directories,
        t.files,
        t.bytes,
        cli.output.len() + cli.mirror.len()
    );
    Ok(())
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
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
