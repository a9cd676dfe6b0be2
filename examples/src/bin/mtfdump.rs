//! mtfdump: inspect MTF media (tapes, tape images, `.bak`/`.bkf`/`.trn` files).

use clap::{Parser, Subcommand};
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use mtf_examples::dump::{self, DumpResult, Options, Outcome};

#[derive(Parser)]
#[command(
    name = "mtfdump",
    version,
    about = "Inspect Microsoft Tape Format media"
)]
struct Cli {
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Args)]
struct Common {
    /// The media: files, tape images (.tap) or tape devices. Several are the families (and
    /// continuation media) of one media set.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Stop at the first damage instead of stepping over it.
    #[arg(long)]
    strict: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// The media header (like RESTORE LABELONLY). Reads nothing past it.
    Label(Common),
    /// One row per data set (like RESTORE HEADERONLY), foreign sets included.
    Sets(Common),
    /// Volumes, directories and files of each set; for SQL Server sets, the database files.
    Ls {
        #[command(flatten)]
        common: Common,
        /// Only this set (its position, 1-based).
        #[arg(long)]
        set: Option<usize>,
    },
    /// Read everything and check every checksum and every set. Exit 0 = intact, 1 = problems.
    Verify(Common),
    /// Restore a set's files into a directory (SQL Server sets: the raw database streams).
    Extract {
        /// The set to extract (its position, 1-based).
        #[arg(long)]
        set: usize,
        /// The directory to extract into.
        #[arg(short = 'C', long = "directory")]
        dir: PathBuf,
        /// The media, then optional patterns (`*`, `?`) selecting paths; give the media
        /// first, or use `--pattern`.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Only paths matching one of these.
        #[arg(long = "pattern")]
        patterns: Vec<String>,
        /// Stop at the first damage instead of stepping over it.
        #[arg(long)]
        strict: bool,
        /// Replace existing files (each new file is written beside the old one and renamed
        /// over it once whole). Without it, an existing file is never touched: it is refused.
        #[arg(long)]
        replace: bool,
        /// Remove a file that is not whole (CSUM mismatch, damage, a missing medium) instead of
        /// keeping it as NAME.corrupt.
        #[arg(long)]
        remove_damaged: bool,
    },
    /// Every block and stream with its offset, for debugging.
    Blocks(Common),
    /// The restore sequence for each database, to the latest point or to --stopat, from the
    /// media (files, folders, tape images, devices) and/or a backup history.
    Plan(PlanCmd),
    /// The backup history (an SQLite catalog like msdb): import media or msdb CSV exports, list.
    #[command(subcommand)]
    History(HistoryCmd),
    /// Parse every block and stream, re-encode it, and compare with the original.
    /// Exits 0 only when the re-encoding is identical.
    Roundtrip {
        /// The medium to check.
        file: PathBuf,
        /// Also write the re-encoded bytes here.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
struct PlanCmd {
    /// Media files, folders (recursive), tape images, tape devices, msdb CSV exports.
    paths: Vec<PathBuf>,
    /// The point in time, in the server's local time: YYYY-MM-DDTHH:MM:SS.
    #[arg(long)]
    stopat: Option<String>,
    /// Only this database.
    #[arg(long)]
    database: Option<String>,
    /// Plan from this backup history (too).
    #[arg(long)]
    history: Option<PathBuf>,
    /// Print the T-SQL script.
    #[arg(long, conflicts_with = "json")]
    tsql: bool,
    /// MOVE a logical file to a path on the first step (the full) of the script (repeatable).
    #[arg(long = "move", value_name = "LOGICAL=PATH")]
    moves: Vec<String>,
}

#[derive(Subcommand)]
enum HistoryCmd {
    /// Record the backup sets found under the paths (files, folders, tape images, devices,
    /// msdb CSV exports). Idempotent: the history can be rebuilt from the media.
    Import {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// The history file (created if missing).
        #[arg(long, required = true)]
        history: PathBuf,
    },
    /// List the recorded backup sets.
    List {
        #[arg(long, required = true)]
        history: PathBuf,
        #[arg(long)]
        database: Option<String>,
    },
}

fn dump(
    cli_json: bool,
    strict: bool,
    f: impl FnOnce(&Options, &mut dyn Write) -> DumpResult<Outcome>,
) -> Result<u8, String> {
    let opts = Options {
        json: cli_json,
        strict,
        progress: true,
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let outcome = f(&opts, &mut out).map_err(|e| e.to_string())?;
    out.flush().map_err(|e| e.to_string())?;
    Ok(outcome.exit_code())
}

/// Splits extract's positional arguments into media (existing paths) and patterns.
fn media_and_patterns(
    args: Vec<PathBuf>,
    mut patterns: Vec<String>,
) -> (Vec<PathBuf>, Vec<String>) {
    let mut media = Vec::new();
    for a in args {
        if media.is_empty() || a.exists() && patterns.is_empty() {
            media.push(a);
        } else {
            patterns.push(a.to_string_lossy().into_owned());
        }
    }
    (media, patterns)
}

fn run(cli: Cli) -> Result<u8, String> {
    let json = cli.json;
    match cli.cmd {
        Cmd::Label(c) => dump(json, c.strict, |o, w| dump::label::run(&c.files, o, w)),
        Cmd::Sets(c) => dump(json, c.strict, |o, w| dump::sets::run(&c.files, o, w)),
        Cmd::Ls { common: c, set } => {
            dump(json, c.strict, |o, w| dump::ls::run(&c.files, set, o, w))
        }
        Cmd::Verify(c) => dump(json, c.strict, |o, w| dump::verify::run(&c.files, o, w)),
        Cmd::Blocks(c) => dump(json, c.strict, |o, w| dump::blocks::run(&c.files, o, w)),
        Cmd::Plan(p) => {
            let format = match (json, p.tsql) {
                (true, _) => dump::plan::Format::Json,
                (_, true) => dump::plan::Format::Tsql,
                _ => dump::plan::Format::Text,
            };
            let args = dump::plan::PlanArgs {
                paths: p.paths,
                stopat: p.stopat,
                database: p.database,
                history: p.history,
                moves: p.moves,
            };
            dump(json, false, |_, w| dump::plan::run(&args, format, w))
        }
        Cmd::History(HistoryCmd::Import { paths, history }) => dump(json, false, |o, w| {
            dump::history::run_import(&paths, &history, o.json, w)
        }),
        Cmd::History(HistoryCmd::List { history, database }) => dump(json, false, |o, w| {
            dump::history::run_list(&history, database.as_deref(), o.json, w)
        }),
        Cmd::Extract {
            set,
            dir,
            files,
            patterns,
            strict,
            replace,
            remove_damaged,
        } => {
            let (media, patterns) = media_and_patterns(files, patterns);
            let mut eo = dump::extract::with_patterns(&patterns).map_err(|e| e.to_string())?;
            eo.replace = replace;
            if remove_damaged {
                eo.damaged = mtf::extract::DamagedFiles::Remove;
            }
            dump(json, strict, |o, w| {
                dump::extract::run_with(&media, set, &dir, eo, o, w)
            })
        }
        Cmd::Roundtrip { file, output } => {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            let open = || File::open(&file).map_err(|e| format!("{}: open: {e}", file.display()));
            let len = open()?
                .metadata()
                .map_err(|e| format!("{}: stat: {e}", file.display()))?
                .len();
            if let Some(p) = &output {
                refuse_same_file(&file, p)?;
            }
            let mut copy = match &output {
                Some(p) => Some(BufWriter::new(
                    File::create(p).map_err(|e| format!("{}: create: {e}", p.display()))?,
                )),
                None => None,
            };
            let rep = mtf_examples::roundtrip::round_trip(
                BufReader::new(open()?),
                BufReader::new(open()?),
                len,
                copy.as_mut().map(|w| w as &mut dyn Write),
            )
            .map_err(|e| e.to_string())?;
            if let Some(mut w) = copy {
                w.flush().map_err(|e| e.to_string())?;
            }
            if cli.json {
                serde_json::to_writer_pretty(&mut out, &rep).map_err(|e| e.to_string())?;
                writeln!(out).ok();
            } else {
                mtf_examples::roundtrip::print_report(&mut out, &file.display().to_string(), &rep)
                    .map_err(|e| e.to_string())?;
            }
            Ok(if rep.identical() { 0 } else { 1 })
        }
    }
}

/// Refuses an output that is the input itself (the same file, directly or through a link):
/// creating it would empty the input before it is read.
fn refuse_same_file(input: &std::path::Path, output: &std::path::Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let id = |p: &std::path::Path| std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()));
    match (id(input), id(output)) {
        (Some(a), Some(b)) if a == b => Err(format!(
            "{}: is the input {} itself; refusing to overwrite it",
            output.display(),
            input.display()
        )),
        _ => Ok(()),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            if json {
                // With --json, errors are JSON too (on standard output, where the report goes;
                // never a panic when that is a pipe closed early, `| head`: the exit code says
                // it).
                use std::io::Write;
                let _ = writeln!(std::io::stdout(), "{}", serde_json::json!({ "error": e }));
            } else {
                // Errors name paths and names from the user and from media: no raw control
                // characters on the terminal (the message's own line breaks are kept).
                let lines: Vec<String> = e.split('\n').map(media::history::printable).collect();
                eprintln!("mtfdump: {}", lines.join("\n"));
            }
            ExitCode::from(2)
        }
    }
}
