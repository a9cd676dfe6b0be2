//! An operator at a terminal mounts the media: the changer prints what it needs and reads the
//! path of the mounted medium (a tape device or a `.tap` image) from a line of input.

use super::{
    log, log_refused, open_path, ChangerEvent, ChangerLog, MediaChanger, MediumRequest, Mounted,
    Purpose,
};
use std::io::{self, BufRead, Write};
use std::path::Path;
use tape_sys::EmulatedOptions;

/// Asks an operator.
pub struct PromptChanger<I, O> {
    input: I,
    output: O,
    opts: EmulatedOptions,
    pub log: ChangerLog,
}

impl PromptChanger<io::BufReader<io::Stdin>, io::Stderr> {
    /// On the process's terminal (prompts on stderr, answers on stdin).
    pub fn terminal(opts: EmulatedOptions) -> Self {
        PromptChanger::new(io::BufReader::new(io::stdin()), io::stderr(), opts)
    }
}

impl<I: BufRead + Send, O: Write + Send> PromptChanger<I, O> {
    /// Over any input and output (tests script the operator).
    pub fn new(input: I, output: O, opts: EmulatedOptions) -> Self {
        PromptChanger {
            input,
            output,
            opts,
            log: ChangerLog::default(),
        }
    }
}

impl<I: BufRead + Send, O: Write + Send> MediaChanger for PromptChanger<I, O> {
    fn mount(&mut self, req: &MediumRequest) -> io::Result<Mounted> {
        log(&self.log, ChangerEvent::Asked(req.clone()));
        loop {
            write!(
                self.output,
                "Mount {req}, then enter its path (empty to stop): "
            )?;
            self.output.flush()?;
            let mut line = String::new();
            if self.input.read_line(&mut line)? == 0 || line.trim().is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::Interrupted,
                    format!("the operator stopped (asked for {req})"),
                ));
            }
            let path = Path::new(line.trim());
            match open_path(path, req.purpose == Purpose::Write, self.opts.clone()) {
                Ok(device) => {
                    let name = path.display().to_string();
                    log(&self.log, ChangerEvent::Mounted(name.clone()));
                    return Ok(Mounted { device, name });
                }
                Err(e) => writeln!(self.output, "cannot open it: {e}")?,
            }
        }
    }

    fn refused(&mut self, medium: Mounted, why: &str) -> io::Result<()> {
        writeln!(
            self.output,
            "{} refused:\n  {}",
            medium.name,
            why.replace('\n', "\n  ")
        )?;
        log_refused(&self.log, &medium.name, why);
        Ok(())
    }

    fn done(&mut self, medium: Mounted) -> io::Result<()> {
        writeln!(self.output, "{} done; it may be removed", medium.name)?;
        log(&self.log, ChangerEvent::Done(medium.name));
        Ok(())
    }
}
