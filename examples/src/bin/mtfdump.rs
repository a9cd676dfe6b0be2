//! mtfdump: inspect MTF media (tapes, tape images, `.bak`/`.bkf`/`.trn` files).

use clap::{Parser, Subcommand};
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

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

#[derive(Subcommand)]
enum Cmd {
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

fn run(cli: Cli) -> Result<bool, String> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match cli.cmd {
        Cmd::Roundtrip { file, output } => {
            let open = || File::open(&file).map_err(|e| format!("{}: {e}", file.display()));
            let len = open()?.metadata().map_err(|e| e.to_string())?.len();
            let mut copy = match &output {
                Some(p) => Some(BufWriter::new(
                    File::create(p).map_err(|e| format!("{}: {e}", p.display()))?,
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
            Ok(rep.identical())
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("mtfdump: {e}");
            ExitCode::from(2)
        }
    }
}
