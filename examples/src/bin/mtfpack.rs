//! mtfpack: back up directory trees into an MTF medium: a file (soft filemarks), a `.tap` tape
//! image, or a tape device (hardware filemarks).

use clap::Parser;
use mtf::writer::{AppendPoint, FileSink, MediumOptions, Writer};
use mtf_examples::dump::TapeSource;
use mtf_examples::pack::{now, pack_tree, parse_date, set_options};
use mtf_examples::tape::{is_tape_path, open_tape, TapeSink};
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
    /// The medium: a file, a `.tap` tape image, or a tape device such as /dev/nst0.
    #[arg(short, long)]
    output: PathBuf,
    /// Add a data set after the existing ones instead of formatting the medium.
    #[arg(long)]
    append: bool,
    /// Media name (when formatting).
    #[arg(long, default_value = "mtfpack")]
    media_name: String,
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
    let family_id = cli
        .family_id
        .unwrap_or_else(|| (date.to_unix() as u32) ^ std::process::id().rotate_left(16));
    let mut opts = MediumOptions::new(&cli.media_name, family_id, date);
    opts.block_size = cli.block_size;
    opts.flb_size = cli.flb;
    opts.catalog = !cli.no_catalog;
    let set = set_options(&cli.name, &cli.description, date, cli.csum);
    let mut stderr = std::io::stderr();
    let e = |e: mtf::Error| e.to_string();
    let mut total = mtf_examples::pack::PackStats::default();
    let mut add = |t: mtf_examples::pack::PackStats| {
        total.directories += t.directories;
        total.files += t.files;
        total.bytes += t.bytes;
    };
    if is_tape_path(&cli.output) && cli.append {
        let (dev, point) = tape_append_point(&cli.output)?;
        let mut w =
            Writer::append(TapeSink { device: dev }, point, mtf::writer::NoMoreMedia).map_err(e)?;
        w.begin_set(set).map_err(e)?;
        for d in &cli.dirs {
            add(pack_tree(&mut w, d, &machine, date, &mut stderr).map_err(e)?);
        }
        w.end_set().map_err(e)?;
        w.finish().map_err(e)?;
    } else if is_tape_path(&cli.output) {
        let dev =
            open_tape(&cli.output, true).map_err(|e| format!("{}: {e}", cli.output.display()))?;
        let mut w = Writer::new(TapeSink { device: dev }, opts).map_err(e)?;
        w.begin_set(set).map_err(e)?;
        for d in &cli.dirs {
            add(pack_tree(&mut w, d, &machine, date, &mut stderr).map_err(e)?);
        }
        w.end_set().map_err(e)?;
        w.finish().map_err(e)?;
    } else if cli.append {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&cli.output)
            .map_err(|x| format!("{}: {x}", cli.output.display()))?;
        let point = AppendPoint::scan(std::io::BufReader::new(&file))
            .map_err(|x| format!("{}: cannot append: {x}", cli.output.display()))?;
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
        durable(w.finish().map_err(e)?, &cli.output)?;
    } else {
        let f = std::fs::File::create(&cli.output)
            .map_err(|x| format!("{}: {x}", cli.output.display()))?;
        let mut w =
            Writer::new(FileSink::new(BufWriter::with_capacity(1 << 20, f)), opts).map_err(e)?;
        w.begin_set(set).map_err(e)?;
        for d in &cli.dirs {
            add(pack_tree(&mut w, d, &machine, date, &mut stderr).map_err(e)?);
        }
        w.end_set().map_err(e)?;
        durable(w.finish().map_err(e)?, &cli.output)?;
    }
    eprintln!(
        "mtfpack: {} directories, {} files, {} bytes -> {}",
        total.directories,
        total.files,
        total.bytes,
        cli.output.display()
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

/// Reads a tape from its beginning to find where a new set may go (after the filemark that
/// closes its last complete set), refusing a tape that is damaged, ends inside a set or whose
/// family goes on to another tape; then positions the tape there.
fn tape_append_point(
    path: &std::path::Path,
) -> Result<(Box<dyn tape_sys::TapeDevice>, AppendPoint), String> {
    use mtf::reader::{Mode, Reader};
    use tape_sys::Space;
    let shown = path.display();
    let mut dev = open_tape(path, false).map_err(|x| format!("{shown}: {x}"))?;
    dev.rewind()
        .map_err(|x| format!("{shown}: rewinding: {x}"))?;
    let mut reader = Reader::with_mode(TapeSource::new(dev), Mode::Strict);
    let point =
        AppendPoint::scan_tape(&mut reader).map_err(|x| format!("{shown}: cannot append: {x}"))?;
    let mut dev = reader.into_source().into_device();
    dev.rewind()
        .map_err(|x| format!("{shown}: rewinding: {x}"))?;
    let marks = u32::try_from(point.filemarks.len()).map_err(|_| "too many filemarks")?;
    dev.space(Space::Fsf, marks)
        .map_err(|x| format!("{shown}: spacing over {marks} filemarks: {x}"))?;
    Ok((dev, point))
}
