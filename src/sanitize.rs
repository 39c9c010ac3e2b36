//! Making untrusted text safe to show in a terminal: [`sanitize`] (a line
//! of build output), [`sanitize_text`] (several lines), [`visible`] (a
//! name or value quoted in kiln's own message). `crate::output` applies
//! them to everything printed; the model applies them to every string
//! that arrives in a message (`app::message`).
//!
//! Everything a build prints (RUN output, daemon messages, registry errors)
//! is untrusted: it can hold escape sequences that clear the screen, move the
//! cursor, set the window title or write the clipboard (OSC 52). This module
//! owns turning one such line into plain text. It is pure: no I/O, no global
//! state.
//!
//! What [`sanitize`] does to a line:
//! - removes CSI sequences (`ESC [` params final, and the 8-bit CSI U+009B),
//! - removes OSC strings (`ESC ]`/U+009D up to BEL or ST, i.e. `ESC \` or
//!   U+009C) and DCS/SOS/PM/APC strings (`ESC P`/`ESC X`/`ESC ^`/`ESC _` and
//!   their 8-bit forms U+0090/U+0098/U+009E/U+009F, up to ST or BEL); an
//!   unterminated string swallows the rest of the line, as a terminal would,
//! - removes every other `ESC x` / `ESC <intermediates> x` sequence and a
//!   lone ESC; an ESC inside a sequence aborts it and starts a new one,
//! - removes every other C1 control (U+0080–U+009F) and C0 control, and DEL,
//! - expands TAB to spaces up to the next multiple of 8 (columns count
//!   chars, not display width),
//! - a bare CR means the terminal would overwrite the line: only the text
//!   after the last CR is kept (a trailing CR, even followed by escapes
//!   only, is ignored), backspace is dropped,
//! - LF is a C0 control too: callers split lines before calling.
//!
//! A line that needs none of this is returned borrowed, without allocating.

use std::borrow::Cow;

/// Sanitises one line of untrusted output; borrowed when already clean.
pub fn sanitize(s: &str) -> Cow<'_, str> {
    match next_special(s.as_bytes(), 0) {
        None => Cow::Borrowed(s),
        Some(first) => Cow::Owned(sanitize_slow(s, first)),
    }
}

/// [`sanitize`] as an owned `String`.
pub fn sanitize_line(s: &str) -> String {
    sanitize(s).into_owned()
}

/// Sanitises text of several lines: each line as [`sanitize`] does, the
/// line breaks kept (`\r\n` and `\n`). Borrowed when already clean.
pub fn sanitize_text(s: &str) -> Cow<'_, str> {
    if s.split('\n')
        .all(|line| next_special(line.as_bytes(), 0).is_none())
    {
        return Cow::Borrowed(s);
    }
    let lines: Vec<Cow<'_, str>> = s.split('\n').map(sanitize).collect();
    Cow::Owned(lines.join("\n"))
}

/// A name or value from outside kiln (a file name, a key, a tag, a config
/// value) quoted inside one of kiln's messages: every control character is
/// written out visibly (`\n`, `\t`, `\e`, `\u{9b}`), so it can neither
/// drive the terminal nor break a line, and what is odd about it shows
/// (where [`sanitize`] would silently drop it).
pub fn visible(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| c.is_control()) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x1b' => out.push_str("\\e"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

const ESC: u8 = 0x1b;
const BEL: u8 = 0x07;

/// Is `b[i..]` a C1 control encoded in UTF-8 (0xC2 0x80..=0x9F)?
#[inline]
fn c1_at(b: &[u8], i: usize) -> Option<u8> {
    if b[i] == 0xC2 {
        match b.get(i + 1) {
            Some(&n) if (0x80..=0x9F).contains(&n) => Some(n),
            _ => None,
        }
    } else {
        None
    }
}

/// Index of the first byte at or after `from` that needs handling.
#[inline]
fn next_special(b: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i < b.len() {
        let c = b[i];
        if c < 0x20 || c == 0x7f || (c == 0xC2 && c1_at(b, i).is_some()) {
            return Some(i);
        }
        i += 1;
    }
    None
}

struct Out {
    text: String,
    /// Column (in chars) of the next char, for TAB expansion.
    col: usize,
    /// A CR was seen: the next visible text overwrites the line.
    overwrite: bool,
}

impl Out {
    #[inline]
    fn before_text(&mut self) {
        if self.overwrite {
            self.text.clear();
            self.col = 0;
            self.overwrite = false;
        }
    }

    fn push(&mut self, run: &str) {
        if run.is_empty() {
            return;
        }
        self.before_text();
        self.text.push_str(run);
        self.col += run.bytes().filter(|&c| (c & 0xC0) != 0x80).count();
    }

    fn tab(&mut self) {
        self.before_text();
        let n = 8 - self.col % 8;
        for _ in 0..n {
            self.text.push(' ');
        }
        self.col += n;
    }
}

fn sanitize_slow(s: &str, first: usize) -> String {
    let b = s.as_bytes();
    let mut out = Out {
        text: String::with_capacity(s.len()),
        col: 0,
        overwrite: false,
    };
    out.push(s.get(..first).unwrap_or_default());
    let mut i = first;
    while i < b.len() {
        let j = next_special(b, i).unwrap_or(b.len());
        // Every index we stop at is an ASCII byte or a C1 lead byte, so
        // this is always on characters.
        out.push(s.get(i..j).unwrap_or_default());
        if j >= b.len() {
            break;
        }
        i = match b[j] {
            ESC => after_escape(b, j + 1),
            b'\t' => {
                out.tab();
                j + 1
            }
            b'\r' => {
                out.overwrite = true;
                j + 1
            }
            0xC2 => match c1_at(b, j) {
                Some(0x9B) => after_csi(b, j + 2),
                Some(0x90 | 0x98 | 0x9D | 0x9E | 0x9F) => after_string(b, j + 2),
                _ => j + 2,
            },
            // Other C0 controls (incl. BS, BEL, LF) and DEL: dropped.
            _ => j + 1,
        };
    }
    out.text
}

/// `k` is the index just after an ESC; returns where normal text resumes.
fn after_escape(b: &[u8], k: usize) -> usize {
    let Some(&c) = b.get(k) else {
        return b.len();
    };
    match c {
        b'[' => after_csi(b, k + 1),
        b']' | b'P' | b'X' | b'^' | b'_' => after_string(b, k + 1),
        0x20..=0x2F => {
            // nF: intermediates then one final byte.
            let mut k = k;
            while k < b.len() && (0x20..=0x2F).contains(&b[k]) {
                k += 1;
            }
            match b.get(k) {
                Some(&f) if (0x30..=0x7E).contains(&f) => k + 1,
                Some(_) => k,
                None => b.len(),
            }
        }
        0x30..=0x7E => k + 1,
        // ESC followed by a control or non-ASCII: drop the ESC alone.
        _ => k,
    }
}

/// `k` is just after the CSI introducer.
fn after_csi(b: &[u8], mut k: usize) -> usize {
    while k < b.len() && (0x20..=0x3F).contains(&b[k]) {
        k += 1;
    }
    match b.get(k) {
        Some(&f) if (0x40..=0x7E).contains(&f) => k + 1,
        // Aborted (control, ESC, non-ASCII): reprocess that byte.
        Some(_) => k,
        None => b.len(),
    }
}

/// `k` is just after an OSC/DCS/SOS/PM/APC introducer: skip to the string
/// terminator (BEL, `ESC \` or U+009C). Another ESC ends the string and is
/// reprocessed; no terminator swallows the rest of the line.
fn after_string(b: &[u8], mut k: usize) -> usize {
    while k < b.len() {
        match b[k] {
            BEL => return k + 1,
            ESC => {
                return if b.get(k + 1) == Some(&b'\\') {
                    k + 2
                } else {
                    k
                };
            }
            0xC2 if b.get(k + 1) == Some(&0x9C) => return k + 2,
            _ => k += 1,
        }
    }
    b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> String {
        sanitize_line(x)
    }

    #[test]
    fn clean_line_is_borrowed() {
        let line = "Step 1/5 : FROM scratch — ünïcödé ✓";
        assert!(matches!(sanitize(line), Cow::Borrowed(_)));
        assert!(matches!(sanitize(""), Cow::Borrowed(_)));
        assert_eq!(s(line), line);
    }

    #[test]
    fn csi_sgr_colours() {
        assert_eq!(
            s("\x1b[31mred\x1b[0m plain \x1b[1;32mbold\x1b[m"),
            "red plain bold"
        );
        assert_eq!(s("\x1b[38;5;196mx\x1b[48;2;1;2;3my"), "xy");
    }

    #[test]
    fn csi_clear_screen_and_cursor_moves() {
        assert_eq!(s("\x1b[2J\x1b[Hcleared"), "cleared");
        assert_eq!(s("a\x1b[10;20Hb\x1b[Ac\x1b[?25l\x1b[?1049hd"), "abcd");
        assert_eq!(s("x\x1b[K\x1b[1Ky"), "xy");
    }

    #[test]
    fn csi_unterminated_and_aborted() {
        assert_eq!(s("abc\x1b[31"), "abc");
        assert_eq!(s("abc\x1b["), "abc");
        // ESC inside CSI aborts it and starts a new sequence.
        assert_eq!(s("a\x1b[3\x1b[31mb"), "ab");
        // A non-ASCII char aborts CSI and is kept.
        assert_eq!(s("a\x1b[3éb"), "aéb");
    }

    #[test]
    fn osc_title_bel_and_st() {
        assert_eq!(s("\x1b]0;evil title\x07after"), "after");
        assert_eq!(s("\x1b]2;evil\x1b\\after"), "after");
        assert_eq!(s("\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\"), "link");
    }

    #[test]
    fn osc52_clipboard() {
        assert_eq!(s("\x1b]52;c;ZXZpbA==\x07clip"), "clip");
        assert_eq!(s("pre\x1b]52;c;ZXZpbA==\x1b\\post"), "prepost");
    }

    #[test]
    fn osc_unterminated_swallows_rest() {
        assert_eq!(s("before\x1b]0;title without end"), "before");
        assert_eq!(s("before\x1b]"), "before");
        assert_eq!(s("x\x1b]52;c;AAAA\r\nrest"), "x");
    }

    #[test]
    fn nested_strings() {
        // A new ESC ends the string and starts another sequence.
        assert_eq!(s("\x1b]0;a\x1b]0;b\x07text"), "text");
        assert_eq!(s("\x1b]0;a\x1b[31mtext"), "text");
        assert_eq!(s("\x1bP\x1b]0;x\x07\x1b\\y"), "y");
    }

    #[test]
    fn dcs_sos_pm_apc() {
        assert_eq!(s("a\x1bPq#0;2;0;0;0\x1b\\b"), "ab");
        assert_eq!(s("a\x1bXsos\x1b\\b"), "ab");
        assert_eq!(s("a\x1b^pm\x1b\\b"), "ab");
        assert_eq!(s("a\x1b_Gapc payload\x1b\\b"), "ab");
        assert_eq!(s("a\x1b_unterminated"), "a");
    }

    #[test]
    fn two_byte_and_nf_escapes() {
        assert_eq!(s("a\x1b7b\x1b8c\x1bcd\x1b=e\x1bMf"), "abcdef");
        assert_eq!(s("a\x1b(Bb\x1b)0c\x1b#8d"), "abcd");
        assert_eq!(s("a\x1b( "), "a");
    }

    #[test]
    fn esc_at_end_and_esc_before_non_ascii() {
        assert_eq!(s("abc\x1b"), "abc");
        assert_eq!(s("\x1b"), "");
        assert_eq!(s("a\x1bé"), "aé");
        assert_eq!(s("a\x1b\x1b[1mb"), "ab");
    }

    #[test]
    fn eight_bit_c1_forms() {
        assert_eq!(s("a\u{9b}31mred\u{9b}0m"), "ared");
        assert_eq!(s("a\u{9d}0;title\u{9c}b"), "ab");
        assert_eq!(s("a\u{9d}0;title\x07b"), "ab");
        assert_eq!(
            s("a\u{90}dcs\u{9c}b\u{98}sos\u{9c}c\u{9e}pm\u{9c}d\u{9f}apc\u{9c}e"),
            "abcde"
        );
        assert_eq!(s("a\u{85}b\u{84}c\u{9c}d\u{80}e"), "abcde");
        assert_eq!(s("a\u{9b}"), "a");
        assert_eq!(s("a\u{9d}unterminated"), "a");
        // Not C1: U+00A0 and U+201C (whose UTF-8 ends in 0x9C) are kept.
        assert_eq!(s("a\u{a0}b\u{201c}c"), "a\u{a0}b\u{201c}c");
        assert!(matches!(sanitize("\u{201c}q\u{201d}"), Cow::Borrowed(_)));
        // ...also inside an OSC string: only a real U+009C terminates it.
        assert_eq!(s("\x1b]0;\u{201c}x\u{9c}y"), "y");
    }

    #[test]
    fn c0_controls_and_del() {
        assert_eq!(s("a\x00b\x01c\x07d\x7fe\x0bf\x0cg\x1ah\nI"), "abcdefghI");
    }

    #[test]
    fn tab_expansion() {
        assert_eq!(s("\tx"), "        x");
        assert_eq!(s("ab\tc"), "ab      c");
        assert_eq!(s("abcdefgh\ti"), "abcdefgh        i");
        assert_eq!(s("tab\there"), "tab     here");
        // Columns count chars, and escapes take no column.
        assert_eq!(s("é\x1b[1m\tx"), "é       x");
    }

    #[test]
    fn carriage_return_overwrites() {
        assert_eq!(
            s("progress 10%\rprogress 50%\rprogress 100%"),
            "progress 100%"
        );
        assert_eq!(s("done\r"), "done");
        assert_eq!(s("done\r\r"), "done");
        assert_eq!(s("done\r\x1b[K"), "done");
        assert_eq!(s("10%\r\x1b[K20%"), "20%");
        assert_eq!(s("abc\r\tx"), "        x");
        assert_eq!(s("\r"), "");
    }

    #[test]
    fn backspace_dropped() {
        assert_eq!(s("ab\x08c"), "abc");
        assert_eq!(s("\x08\x08x"), "x");
    }

    #[test]
    fn text_keeps_its_line_breaks() {
        assert!(matches!(sanitize_text("a\nb"), Cow::Borrowed(_)));
        assert_eq!(sanitize_text("a\x1b[31m\nb\x07\r\nc"), "a\nb\nc");
        assert_eq!(sanitize_text("one \x1b]0;t\x07line"), "one line");
    }

    #[test]
    fn visible_names_show_their_controls() {
        assert!(matches!(visible("web/index.html"), Cow::Borrowed(_)));
        assert_eq!(visible("a\nb"), "a\\nb");
        assert_eq!(visible("\x1b]52;c;x\x07"), "\\e]52;c;x\\u{7}");
        assert_eq!(visible("t\tab\u{9b}"), "t\\tab\\u{9b}");
        assert!(!visible("\x1b\u{85}\x7f").chars().any(|c| c.is_control()));
    }

    #[test]
    fn output_never_has_controls() {
        let nasty = [
            "\x1b]0;\x1b",
            "\x1b[\u{9b}\u{9d}\x1b\\",
            "\u{9b}\x1b]\u{9c}\x1b\x1b\x1b",
            "\x1bP\u{9c}\x1b[?\x1b(\x1b",
            "a\rb\r\x1b\r",
        ];
        for n in nasty {
            let out = s(n);
            assert!(!out.chars().any(|c| c.is_control()), "{n:?} -> {out:?}");
        }
    }

    #[test]
    fn exhaustive_short_inputs_never_leak_controls() {
        let alphabet = [
            '\x1b', '[', ']', '\\', '\x07', '\r', '\t', 'P', 'a', '\u{9b}', '\u{9c}', '\u{9d}',
            '1', ';', 'm', 'é',
        ];
        let n = alphabet.len();
        let mut buf = String::new();
        for code in 0..n.pow(4) {
            buf.clear();
            let mut c = code;
            for _ in 0..4 {
                buf.push(alphabet[c % n]);
                c /= n;
            }
            let out = s(&buf);
            assert!(!out.chars().any(|c| c.is_control()), "{buf:?} -> {out:?}");
        }
    }
}
