//! Everything kiln prints goes out through here: results on stdout (each
//! line passed through `sanitize`, whatever it holds: a config value, a
//! file name, a saved log), messages on stderr (errors, warnings, config
//! mistakes: control characters written out visibly, `\e`, `\n`, so an
//! odd value shows as odd instead of silently changing) and JSON (every
//! control character escaped as data, C1 controls too, which serde_json
//! would write raw). `println!` and friends are not used (clippy denies them):
//! they bypass this, and they panic when the stream is closed.
//!
//! Writing to a closed or broken stream is an error value here, never a
//! panic; for the messages on stderr it is ignored (there is nowhere left
//! to say it).

use std::fmt::Display;
use std::io::{self, BufRead, Write};

use serde::Serialize;

use crate::sanitize::{sanitize, sanitize_text, visible};

/// `kiln: error: MESSAGE` on stderr.
pub fn error(message: impl Display) {
    stderr(&format!("kiln: error: {message}"));
}

/// `warning: MESSAGE` on stderr.
pub fn warning(message: impl Display) {
    stderr(&format!("warning: {message}"));
}

/// A message on stderr, its control characters visible, one line per
/// line, ending with a newline.
pub fn stderr(text: &str) {
    let mut err = io::stderr().lock();
    let _ = text
        .trim_end_matches('\n')
        .split('\n')
        .try_for_each(|line| writeln!(err, "{}", visible(line)));
}

/// Text on stdout, sanitised, ending with a newline.
pub fn stdout(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    write_text(&mut out, text)?;
    out.flush()
}

/// `text` on `out`, each line sanitised, ending with a newline.
pub fn write_text(out: &mut impl Write, text: &str) -> io::Result<()> {
    let clean = sanitize_text(text);
    out.write_all(clean.as_bytes())?;
    if !clean.ends_with('\n') {
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// One line on `out`, sanitised (a line break inside is dropped).
pub fn write_line(out: &mut impl Write, line: &str) -> io::Result<()> {
    out.write_all(sanitize(line).as_bytes())?;
    out.write_all(b"\n")
}

/// Copy `from` to `out` line by line, each sanitised (a saved log: it may
/// be from an older kiln, or edited). Bytes that are not UTF-8 are shown
/// as U+FFFD. Returns the last line written.
pub fn copy_lines(mut from: impl BufRead, out: &mut impl Write) -> io::Result<Option<String>> {
    let mut buf = Vec::new();
    let mut last = None;
    loop {
        buf.clear();
        if from.read_until(b'\n', &mut buf)? == 0 {
            return Ok(last);
        }
        let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
        let line = sanitize(&String::from_utf8_lossy(line)).into_owned();
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")?;
        last = Some(line);
    }
}

/// `value` as one line of JSON on `out` (no newline), with every control
/// character in its strings escaped: serde_json escapes C0 (`\u001b`),
/// this adds DEL and C1 (U+0080–U+009F, which a terminal may take as
/// controls).
pub fn write_json(out: &mut impl Write, value: &impl Serialize) -> io::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(out, EscapeControls);
    value.serialize(&mut ser).map_err(io::Error::other)
}

/// serde_json's compact format, with DEL and C1 escaped too.
struct EscapeControls;

impl serde_json::ser::Formatter for EscapeControls {
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        out: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        // C1 is 0xC2 0x80..=0x9F in UTF-8: a byte scan finds the rare case.
        if !fragment.bytes().any(|b| b == 0xC2 || b == 0x7F) {
            return out.write_all(fragment.as_bytes());
        }
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if ('\u{7f}'..='\u{9f}').contains(&c) {
                out.write_all(&fragment.as_bytes()[start..i])?;
                write!(out, "\\u{:04x}", c as u32)?;
                start = i + c.len_utf8();
            }
        }
        out.write_all(&fragment.as_bytes()[start..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_sanitised_line_by_line() {
        let mut out = Vec::new();
        write_text(&mut out, "a\x1b[31m\nb\x1b]52;c;x\x07").unwrap();
        assert_eq!(out, b"a\nb\n");
        let mut out = Vec::new();
        copy_lines(&b"one\x1b[2J\ntwo\xff\x07"[..], &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "one\ntwo\u{fffd}\n");
    }

    #[test]
    fn json_escapes_every_control_as_data() {
        let mut out = Vec::new();
        let value = serde_json::json!({"line": "a\x1b[2J\u{9b}31m\x7f\x07é→"});
        write_json(&mut out, &value).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text, r#"{"line":"a\u001b[2J\u009b31m\u007f\u0007é→"}"#);
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, value, "the data is kept");
    }
}
