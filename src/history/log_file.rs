//! One run's saved log, and what happens to it when the disk fills up: the
//! log is cut back a little at a line boundary (to give the disk, and the
//! history's last writes, some room) and ends with a marker line, so
//! `kiln logs` shows where it stops and why; the run goes on and is
//! recorded, with the note [`INCOMPLETE_NOTE`].

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::private_file;

/// The last line of a log cut short by a full disk.
pub const INCOMPLETE_MARKER: &str = "kiln: log incomplete (disk full)";
/// What history notes about such a run (`kiln ls` shows it).
pub const INCOMPLETE_NOTE: &str = "log incomplete (disk full)";
/// How much of a log is given back when the disk is full.
const ROOM: u64 = 64 * 1024;

/// A run's log file, written line by line.
pub(crate) struct LogFile {
    path: PathBuf,
    /// None once ended (cut short, or finished).
    out: Option<BufWriter<File>>,
}

/// How a write went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Written {
    Ok,
    /// The disk is full: the log was cut back and marked incomplete, and
    /// takes no more lines.
    DiskFull,
}

impl Written {
    /// How two writes went together: cut short if either was.
    pub(crate) fn or(self, other: Written) -> Written {
        if self == Written::DiskFull {
            self
        } else {
            other
        }
    }
}

impl LogFile {
    /// Create the log (0600).
    pub(crate) fn create(path: PathBuf) -> io::Result<LogFile> {
        let file = private_file(&path, false)?;
        Ok(LogFile {
            path,
            out: Some(BufWriter::new(file)),
        })
    }

    /// Append a line. A full disk is not an error (see [`Written`]); other
    /// write errors are.
    pub(crate) fn line(&mut self, line: &str) -> io::Result<Written> {
        let Some(out) = self.out.as_mut() else {
            return Ok(Written::Ok);
        };
        let result = writeln!(out, "{line}");
        self.settle(result)
    }

    /// Write what is buffered (someone is about to read the file).
    pub(crate) fn flush(&mut self) -> io::Result<Written> {
        let Some(out) = self.out.as_mut() else {
            return Ok(Written::Ok);
        };
        let result = out.flush();
        self.settle(result)
    }

    /// Write what is buffered and close the log.
    pub(crate) fn finish(&mut self) -> io::Result<Written> {
        let Some(out) = self.out.as_mut() else {
            return Ok(Written::Ok);
        };
        let result = out.flush();
        let written = self.settle(result)?;
        self.out = None;
        Ok(written)
    }

    /// The disk is full elsewhere (the history): end this log now, cut
    /// back and marked, to give the disk some room.
    pub(crate) fn end_incomplete(&mut self) {
        if let Some(out) = self.out.take() {
            // What is still buffered is dropped, not written after the mark.
            let _ = out.into_parts();
            let _ = cut_and_mark(&self.path);
        }
    }

    fn settle(&mut self, result: io::Result<()>) -> io::Result<Written> {
        match result {
            Ok(()) => Ok(Written::Ok),
            Err(e) if is_disk_full(&e) => {
                self.end_incomplete();
                Ok(Written::DiskFull)
            }
            Err(e) => Err(e),
        }
    }
}

impl Drop for LogFile {
    fn drop(&mut self) {
        if let Some(mut out) = self.out.take() {
            let _ = out.flush();
        }
    }
}

/// No space (or no quota) left.
pub(crate) fn is_disk_full(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::StorageFull
        || matches!(e.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT))
}

/// Cut the log back by [`ROOM`] to the start of a line, and end it with
/// [`INCOMPLETE_MARKER`].
fn cut_and_mark(path: &Path) -> io::Result<()> {
    let mut f = OpenOptions::new().read(true).write(true).open(path)?;
    let len = f.metadata()?.len();
    let keep = line_start_before(&mut f, len.saturating_sub(ROOM))?;
    f.set_len(keep)?;
    f.seek(SeekFrom::Start(keep))?;
    f.write_all(format!("{INCOMPLETE_MARKER}\n").as_bytes())?;
    f.flush()
}

/// The start of the line `at` is in (0 if it is in the first line).
fn line_start_before(f: &mut File, at: u64) -> io::Result<u64> {
    if at == 0 {
        return Ok(0);
    }
    let from = at.saturating_sub(4096);
    let mut buf = vec![0; (at - from) as usize];
    f.seek(SeekFrom::Start(from))?;
    f.read_exact(&mut buf)?;
    Ok(match buf.iter().rposition(|&b| b == b'\n') {
        Some(i) => from + i as u64 + 1,
        // A line longer than 4 KiB: cut inside it.
        None => from,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_log_ends_at_a_line_with_the_marker() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1.log");
        let lines: String = (0..20_000).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&path, &lines).unwrap();
        cut_and_mark(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.len() < lines.len() - ROOM as usize + 100, "cut back");
        assert!(
            text.ends_with(&format!("\n{INCOMPLETE_MARKER}\n")),
            "marked"
        );
        let before = text.lines().rev().nth(1).unwrap();
        assert!(
            before.starts_with("line ") && lines.contains(&format!("{before}\n")),
            "whole lines kept: {before}"
        );
        // A short log: only the marker is left.
        std::fs::write(&path, "a\nb\n").unwrap();
        cut_and_mark(&path).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{INCOMPLETE_MARKER}\n")
        );
    }

    #[test]
    fn an_ended_log_drops_what_was_buffered() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = LogFile::create(dir.path().join("2.log")).unwrap();
        assert_eq!(log.line("kept? no: still buffered").unwrap(), Written::Ok);
        log.end_incomplete();
        assert_eq!(log.line("after").unwrap(), Written::Ok);
        drop(log);
        let text = std::fs::read_to_string(dir.path().join("2.log")).unwrap();
        assert_eq!(text, format!("{INCOMPLETE_MARKER}\n"));
    }
}
