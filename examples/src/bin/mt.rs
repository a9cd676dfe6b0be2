//! `mt`: drive control with mt-st's verbs, on a Linux tape device
//! (`/dev/nstN`, through the st driver) or a SIMH `.tap` image alike.
//!
//! ```text
//! mt -f /dev/nst0 status
//! mt -f /dev/nst0 rewind fsf 2 tell
//! mt -f backup.tap eod weof 1 status
//! mt -f new.tap --create status          # a blank image, made only when asked
//! ```
//!
//! Several commands may follow each other in one invocation; they run in
//! order on one open device and stop at the first failure. That matters for
//! images: an image has no drive to remember the position between two runs,
//! so every run starts at its beginning (a drive keeps its position).
//!
//! Exit status as mt-st: 0 done, 1 bad arguments, 2 an operation failed.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use tape_sys::{BlockSize, EmulatedOptions, Number, Space, Status, TapeDevice, TapeError};

#[derive(Parser, Debug)]
#[command(
    name = "mt",
    about = "Control a tape drive (/dev/nstN) or a .tap image with mt-st's verbs",
    after_help = "Commands (COUNT defaults to 1; k, M, G suffixes allowed):\n  \
        status                  show file/block numbers, position, block size and status bits\n  \
        rewind                  rewind to the beginning of the medium\n  \
        eod | seod              go to end of data (where appending happens)\n  \
        fsf|bsf|fsfm|bsfm COUNT space over filemarks\n  \
        fsr|bsr COUNT           space over blocks\n  \
        weof | eof COUNT        write filemarks\n  \
        setblk SIZE             fixed block size SIZE, 0 = variable\n  \
        tell                    print the logical position\n  \
        seek POSITION           go to a logical position\n  \
        load                    load the medium\n  \
        unload | offline | rewoffl | eject   rewind and unload\n  \
        erase                   erase from the position to the end of the medium\n  \
        compression [0|1]       turn drive compression off or on (default on)\n  \
        limits                  print the drive's block limits"
)]
struct Args {
    /// Tape device or .tap image (default: $TAPE, else /dev/nst0).
    #[arg(short = 'f', long = "file", value_name = "DEVICE")]
    file: Option<PathBuf>,

    /// Create a blank .tap image if DEVICE does not exist. Without it, a missing DEVICE is an
    /// error: a query or a typo never creates a file.
    #[arg(long)]
    create: bool,

    /// Capacity of a .tap image in bytes (default: unlimited).
    #[arg(long, value_name = "BYTES")]
    capacity: Option<u64>,

    /// Early-warning zone of a .tap image in bytes (default: capacity/32).
    #[arg(long, value_name = "BYTES")]
    early_warning: Option<u64>,

    /// Commands with their counts.
    #[arg(required = true, num_args = 1.., value_name = "COMMAND [COUNT]")]
    commands: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Status,
    Rewind,
    Eod,
    Space(Space, u32),
    Weof(u32),
    SetBlk(u32),
    Tell,
    Seek(u64),
    Load,
    Unload,
    Erase,
    Compression(bool),
    Limits,
}

/// A count with mt-st's optional k/M/G suffix.
fn parse_count(s: &str) -> Result<u64, String> {
    let (digits, mult) = match s.chars().last() {
        Some('k' | 'K') => (&s[..s.len() - 1], 1024),
        Some('M') => (&s[..s.len() - 1], 1024 * 1024),
        Some('G') => (&s[..s.len() - 1], 1024 * 1024 * 1024),
        _ => (s, 1),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("bad count {s:?}"))
}

fn parse_ops(words: &[String]) -> Result<Vec<Op>, String> {
    let mut ops = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let verb = words[i].as_str();
        i += 1;
        // The next word is this verb's count when it is a number.
        let mut arg = |default: Option<u64>| -> Result<u64, String> {
            match words.get(i).map(|w| parse_count(w)) {
                Some(Ok(n)) => {
                    i += 1;
                    Ok(n)
                }
                _ => default.ok_or_else(|| format!("{verb} needs a number")),
            }
        };
        let small = |n: u64| u32::try_from(n).map_err(|_| format!("{verb}: {n} is too large"));
        let op = match verb {
            "status" => Op::Status,
            "rewind" => Op::Rewind,
            "eod" | "seod" | "eom" => Op::Eod,
            "fsf" => Op::Space(Space::Fsf, small(arg(Some(1))?)?),
            "bsf" => Op::Space(Space::Bsf, small(arg(Some(1))?)?),
            "fsfm" => Op::Space(Space::Fsfm, small(arg(Some(1))?)?),
            "bsfm" => Op::Space(Space::Bsfm, small(arg(Some(1))?)?),
            "fsr" => Op::Space(Space::Fsr, small(arg(Some(1))?)?),
            "bsr" => Op::Space(Space::Bsr, small(arg(Some(1))?)?),
            "weof" | "eof" => Op::Weof(small(arg(Some(1))?)?),
            "setblk" => Op::SetBlk(small(arg(None)?)?),
            "tell" => Op::Tell,
            "seek" => Op::Seek(arg(None)?),
            "load" => Op::Load,
            "unload" | "offline" | "rewoffl" | "eject" => Op::Unload,
            "erase" => Op::Erase,
            "compression" => Op::Compression(arg(Some(1))? != 0),
            "limits" => Op::Limits,
            other => return Err(format!("unknown command {other:?} (see --help)")),
        };
        ops.push(op);
    }
    Ok(ops)
}

fn open(path: &Path, args: &Args) -> Result<(Box<dyn TapeDevice>, String), TapeError> {
    let mut opts = EmulatedOptions::new();
    if let Some(c) = args.capacity {
        opts = opts.capacity(c);
    }
    if let Some(ew) = args.early_warning {
        opts = opts.early_warning(ew);
    }
    let t = media::device::open_tape(path, args.create, false, opts)?;
    for w in &t.warnings {
        eprintln!("mt: warning: {w}");
    }
    Ok((t.device, t.description))
}

fn print_status(kind: &str, s: &Status, position: Option<u64>) {
    println!("{kind}");
    println!(
        "File number={}, block number={}, position={}.",
        s.file_number,
        s.block_number,
        position.map_or(Number::Unknown, Number::Known)
    );
    println!(
        "Tape block size {} bytes{}. Density code {:#x}{}.",
        s.block_size.as_mt_count(),
        if s.block_size == BlockSize::Variable {
            " (variable)"
        } else {
            ""
        },
        s.density,
        if s.density == 0 { " (default)" } else { "" }
    );
    let bits: Vec<&str> = [
        (s.eof, "EOF"),
        (s.bot, "BOT"),
        (s.eot, "EOT"),
        (s.eod, "EOD"),
        (s.write_protected, "WR_PROT"),
        (s.online, "ONLINE"),
        (s.door_open, "DR_OPEN"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect();
    println!("General status bits on:");
    println!(" {}", bits.join(" "));
}

fn run(dev: &mut dyn TapeDevice, kind: &str, op: Op) -> Result<(), TapeError> {
    match op {
        Op::Status => {
            let s = dev.status()?;
            let position = if s.online { dev.tell().ok() } else { None };
            print_status(kind, &s, position);
        }
        Op::Rewind => dev.rewind()?,
        Op::Eod => dev.end_of_data()?,
        Op::Space(how, n) => dev.space(how, n)?,
        Op::Weof(n) => {
            if dev.write_filemarks(n)?.early_warning() {
                eprintln!("mt: early warning: the medium is nearly full");
            }
        }
        Op::SetBlk(n) => dev.set_block_size(BlockSize::from_mt_count(n))?,
        Op::Tell => println!("At block {}.", dev.tell()?),
        Op::Seek(p) => dev.seek(p)?,
        Op::Load => dev.load()?,
        Op::Unload => dev.unload()?,
        Op::Erase => dev.erase()?,
        Op::Compression(on) => dev.set_compression(on)?,
        Op::Limits => {
            let l = dev.block_limits()?;
            println!(
                "Block limits: {}..={} bytes, granularity 2^{}.",
                l.min, l.max, l.granularity
            );
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    // Like mt-st and every filter: a closed standard output (`mt status | head -0`) ends the
    // process by SIGPIPE, rather than a panic in `println!` (Rust ignores SIGPIPE by default).
    // SAFETY: setting a signal's disposition to the default, before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let args = Args::parse();
    let ops = match parse_ops(&args.commands) {
        Ok(ops) => ops,
        Err(e) => {
            eprintln!("mt: {e}");
            return ExitCode::from(1);
        }
    };
    let path = args
        .file
        .clone()
        .or_else(|| std::env::var_os("TAPE").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("/dev/nst0"));
    if !args.create && std::fs::symlink_metadata(&path).is_err() {
        eprintln!(
            "mt: {}: no such tape device or image (--create makes a blank .tap image)",
            path.display()
        );
        return ExitCode::from(2);
    }
    let (mut dev, kind) = match open(&path, &args) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("mt: {}: open: {e}", path.display());
            return ExitCode::from(2);
        }
    };
    for op in ops {
        if let Err(e) = run(dev.as_mut(), &kind, op) {
            eprintln!("mt: {}: {op:?}: {e} (errno {})", path.display(), e.errno());
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_verbs_and_counts() {
        assert_eq!(
            parse_ops(&words("rewind fsf 2 bsr weof 1k setblk 512 seek 7 tell")).unwrap(),
            vec![
                Op::Rewind,
                Op::Space(Space::Fsf, 2),
                Op::Space(Space::Bsr, 1),
                Op::Weof(1024),
                Op::SetBlk(512),
                Op::Seek(7),
                Op::Tell
            ]
        );
        assert_eq!(
            parse_ops(&words("compression 0 offline")).unwrap(),
            vec![Op::Compression(false), Op::Unload]
        );
        assert!(parse_ops(&words("setblk")).is_err());
        assert!(parse_ops(&words("frobnicate")).is_err());
        assert!(
            parse_ops(&words("fsf 5G")).is_err(),
            "does not fit the driver's int"
        );
    }
}
