//! A bounded ring of log lines for one image, plus how many older lines were
//! dropped from memory (the full log is on disk) and the pane's scroll state.
//! Memory stays bounded however much a build prints.

use std::collections::VecDeque;

/// Lines kept in memory per image unless configured otherwise.
pub const DEFAULT_CAPACITY: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    /// A step header ("Step 2/5 : RUN make", "[2/3] RUN make").
    Step,
    /// Ordinary build output.
    Output,
    /// An error from the daemon or from kiln.
    Error,
    /// Something kiln says about the build (stalls, skips, timeouts).
    Note,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub kind: LineKind,
    pub text: String,
}

#[derive(Debug, Clone)]
pub struct LogRing {
    lines: VecDeque<LogLine>,
    capacity: usize,
    dropped: u64,
    /// Lines from the bottom the view is scrolled up by; 0 with `follow`.
    pub scroll_back: usize,
    /// Follow the tail as lines arrive.
    pub follow: bool,
}

impl Default for LogRing {
    fn default() -> Self {
        LogRing::with_capacity(DEFAULT_CAPACITY)
    }
}

impl LogRing {
    pub fn with_capacity(capacity: usize) -> Self {
        LogRing {
            lines: VecDeque::new(),
            capacity: capacity.max(1),
            dropped: 0,
            scroll_back: 0,
            follow: true,
        }
    }

    /// An empty log of the same capacity.
    pub fn emptied(&self) -> LogRing {
        LogRing::with_capacity(self.capacity)
    }

    pub fn push(&mut self, kind: LineKind, text: String) {
        if self.lines.len() == self.capacity {
            self.lines.pop_front();
            self.dropped += 1;
        }
        self.lines.push_back(LogLine { kind, text });
        // A reader scrolled up keeps looking at the same lines as new ones
        // arrive below; only a follower stays pinned to the tail.
        if !self.follow {
            self.scroll_back = (self.scroll_back + 1).min(self.lines.len().saturating_sub(1));
        }
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Lines dropped from memory because the ring was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    pub fn get(&self, i: usize) -> Option<&LogLine> {
        self.lines.get(i)
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &LogLine> + ExactSizeIterator {
        self.lines.iter()
    }

    /// The last `n` lines' text, oldest first.
    pub fn tail(&self, n: usize) -> Vec<String> {
        let skip = self.lines.len().saturating_sub(n);
        self.lines
            .iter()
            .skip(skip)
            .map(|l| l.text.clone())
            .collect()
    }

    /// The build's own last lines, for a failure's `log_tail`: its output
    /// only (no step headers, none of kiln's notes or errors), the last
    /// `last` of them, reaching back to its first error line when that is
    /// among the last `reach` (a compiler's first error comes before its
    /// notes and the "could not compile" at the end).
    pub fn failure_tail(&self, last: usize, reach: usize) -> Vec<String> {
        let output: Vec<&LogLine> = self
            .lines
            .iter()
            .filter(|l| l.kind == LineKind::Output)
            .collect();
        let end = output.len();
        let earliest = end.saturating_sub(reach.max(last));
        let first_error = output
            .iter()
            .skip(earliest)
            .position(|l| is_error_line(&l.text))
            .map(|p| p + earliest);
        let start = first_error.map_or(end.saturating_sub(last), |e| {
            e.min(end.saturating_sub(last))
        });
        output.iter().skip(start).map(|l| l.text.clone()).collect()
    }

    pub fn clear(&mut self) {
        self.lines.clear();
        self.dropped = 0;
        self.scroll_back = 0;
        self.follow = true;
    }

    /// Scroll up (positive) or down (negative) by `delta` lines. Reaching the
    /// bottom turns follow back on, like `less +F`.
    pub fn scroll_by(&mut self, delta: isize) {
        let max = self.lines.len().saturating_sub(1);
        let next = (self.scroll_back as isize + delta).clamp(0, max as isize) as usize;
        self.scroll_back = next;
        self.follow = next == 0;
    }

    pub fn scroll_to_top(&mut self) {
        self.scroll_back = self.lines.len().saturating_sub(1);
        self.follow = self.scroll_back == 0;
    }

    pub fn scroll_to_bottom(&mut self) {
        self.scroll_back = 0;
        self.follow = true;
    }

    /// Index of the line shown at the bottom of the pane.
    pub fn bottom_index(&self) -> usize {
        self.lines.len().saturating_sub(1 + self.scroll_back)
    }

    /// Scroll so that line `index` is at the bottom of the pane.
    pub fn reveal(&mut self, index: usize) {
        let last = self.lines.len().saturating_sub(1);
        self.scroll_back = last.saturating_sub(index.min(last));
        self.follow = self.scroll_back == 0;
    }

    /// Scroll so that line `index` shows with up to `below` lines after
    /// it (what follows a match or an error is what one reads next).
    pub fn reveal_with_context(&mut self, index: usize, below: usize) {
        self.reveal(index.saturating_add(below));
    }

    /// The first line that reads as an error: kiln's own (`Error`) or
    /// build output [`is_error_line`] finds.
    pub fn first_error(&self) -> Option<usize> {
        self.lines.iter().position(LogLine::is_error)
    }
}

impl LogLine {
    /// An error of the daemon's or kiln's, or build output that reads as
    /// one ([`is_error_line`]); never a step header or kiln's note.
    pub fn is_error(&self) -> bool {
        match self.kind {
            LineKind::Error => true,
            LineKind::Output => is_error_line(&self.text),
            LineKind::Step | LineKind::Note => false,
        }
    }
}

/// Words that make a line of build output an error line (any case, as a
/// whole word: `error`, `error[E0308]`, `ERROR:`, `fatal:`, `failed`),
/// unless a `0 ` or `no ` before it says there were none (`0 failed`).
const ERROR_WORDS: &[&str] = &["error", "fatal", "failed"];

/// Whether a line of build output reads as an error (highlighted in the
/// pane, where `E` goes).
pub fn is_error_line(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    let word_edge = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric() && c != '_');
    ERROR_WORDS.iter().any(|word| {
        lower.match_indices(word).any(|(at, _)| {
            let before = lower.get(..at).unwrap_or_default();
            let after = lower.get(at + word.len()..).unwrap_or_default();
            word_edge(before.chars().next_back())
                && word_edge(after.chars().next())
                && !before.ends_with("0 ")
                && !before.ends_with("no ")
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_lines_are_found_by_their_words() {
        for line in [
            "error[E0308]: mismatched types",
            "src/x.c:12: error: expected ';'",
            "ERROR: failed to solve",
            "fatal: not a git repository",
            "npm ERR! build failed",
            "Error: Cannot find module 'x'",
            "make: *** [all] Error 2",
        ] {
            assert!(is_error_line(line), "{line}");
        }
        for line in [
            "Compiling kiln v0.1.0",
            "-Werror=format is on",
            "test result: ok. 5 passed; 0 failed",
            "no error here",
            "error_count = 0",
            "terrors and failedness",
        ] {
            assert!(!is_error_line(line), "{line}");
        }
    }

    #[test]
    fn ring_drops_oldest_and_counts() {
        let mut r = LogRing::with_capacity(3);
        for i in 0..5 {
            r.push(LineKind::Output, format!("l{i}"));
        }
        assert_eq!(r.len(), 3);
        assert_eq!(r.dropped(), 2);
        assert_eq!(r.tail(2), vec!["l3", "l4"]);
    }

    #[test]
    fn scrolled_view_keeps_its_place_while_lines_arrive() {
        let mut r = LogRing::with_capacity(100);
        for i in 0..10 {
            r.push(LineKind::Output, format!("l{i}"));
        }
        r.scroll_by(3);
        assert!(!r.follow);
        let shown = r.get(r.bottom_index()).unwrap().text.clone();
        r.push(LineKind::Output, "new".into());
        assert_eq!(r.get(r.bottom_index()).unwrap().text, shown);
        r.scroll_by(-100);
        assert!(r.follow);
        assert_eq!(r.get(r.bottom_index()).unwrap().text, "new");
    }
}
