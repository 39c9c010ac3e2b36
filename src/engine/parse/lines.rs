//! What the two builders that speak in lines of text share (the classic
//! builder, `legacy.rs`, and buildah, `buildah.rs`): their lines, put back
//! together from `stream` messages that cut them anywhere
//! ([`LineBuffer`]), the steps their headers open ([`Steps`]), and how a
//! message's image id and error end such a build ([`LineStream`]). Each
//! parser keeps what its builder's lines mean ([`ReadLine`]): which line is
//! a header, a cache hit, the end of a step.

use std::borrow::Cow;

use bollard::models::BuildInfo;

use super::{
    error_message, floor_boundary, image_id_from_aux, push_sanitised, INCOMPLETE, MAX_LINE,
};
use crate::protocol::BuildEvent;

/// A parser's reading of its builder's lines.
pub(super) trait ReadLine {
    /// One complete line of the stream (without its `\n`).
    fn line(&mut self, raw: &str, out: &mut Vec<BuildEvent>);
    /// The steps the headers opened.
    fn steps(&mut self) -> &mut Steps;
}

/// A build told in lines: the partial line, and the parser's reading of
/// the whole ones (`read`).
#[derive(Debug, Default)]
pub(super) struct LineStream<R> {
    buf: LineBuffer,
    pub(super) read: R,
}

impl<R: ReadLine> LineStream<R> {
    /// Whether part of a line is waiting for its end.
    pub(super) fn holds_partial(&self) -> bool {
        self.buf.holds_partial()
    }

    /// Feeds a message's text: the lines it completes are read.
    pub(super) fn feed(&mut self, s: &str, out: &mut Vec<BuildEvent>) {
        self.buf.feed(s, |l| self.read.line(l, out));
    }

    /// Reads the partial line as a whole one: the builder spoke.
    pub(super) fn flush(&mut self, out: &mut Vec<BuildEvent>) {
        self.buf.flush(|l| self.read.line(l, out));
    }

    /// What a message says besides its text: the image's id, and the
    /// daemon's error, which ends the build.
    pub(super) fn feed_id_and_error(&mut self, info: &BuildInfo, out: &mut Vec<BuildEvent>) {
        if let Some(id) = image_id_from_aux(info) {
            out.push(BuildEvent::ImageId(id.to_owned()));
        }
        if let Some(msg) = error_message(info) {
            self.end(&msg, out);
            out.push(BuildEvent::Error(msg));
        }
    }

    /// Ends the stream: reads a partial line and emits a held-back step,
    /// and closes a step left open with [`INCOMPLETE`].
    pub(super) fn finish(&mut self, out: &mut Vec<BuildEvent>) {
        self.end(INCOMPLETE, out);
    }

    fn end(&mut self, error: &str, out: &mut Vec<BuildEvent>) {
        self.flush(out);
        self.read.steps().end(error, out);
    }
}

/// The partial line carried over between `stream` messages.
#[derive(Debug, Default)]
pub(super) struct LineBuffer {
    buf: String,
}

impl LineBuffer {
    /// Whether part of a line is waiting for its end.
    pub(super) fn holds_partial(&self) -> bool {
        !self.buf.is_empty()
    }

    /// Feeds one message: each line it completes goes to `line` (without
    /// its `\n`); what follows the last `\n` waits for the next message,
    /// given out in pieces of [`MAX_LINE`] bytes while it is longer.
    pub(super) fn feed(&mut self, mut s: &str, mut line: impl FnMut(&str)) {
        while let Some((head, rest)) = s.split_once('\n') {
            if self.buf.is_empty() {
                line(head);
            } else {
                self.buf.push_str(head);
                line(&self.buf);
                // Keeps the allocation for the next partial line.
                self.buf.clear();
            }
            s = rest;
        }
        self.buf.push_str(s);
        while self.buf.len() > MAX_LINE {
            let rest = self.buf.split_off(floor_boundary(&self.buf, MAX_LINE));
            line(&self.buf);
            self.buf = rest;
        }
    }

    /// Gives out the partial line, if any, as a line: the builder spoke, or
    /// the stream ended.
    pub(super) fn flush(&mut self, mut line: impl FnMut(&str)) {
        if !self.buf.is_empty() {
            line(&self.buf);
            self.buf.clear();
        }
    }
}

/// A step's header, read: its number through the whole Dockerfile, the
/// number of steps, and its instruction.
#[derive(Debug, PartialEq)]
pub(super) struct Header {
    pub index: u32,
    pub total: u32,
    pub name: String,
}

/// The steps of a build told in lines. A header's `Step` is held back
/// until the line after it says whether it is cached; then the step is
/// open until the builder ends it, the next header comes, or the build
/// ends. Its id is its index as a string ("1", "2", …).
#[derive(Debug, Default)]
pub(super) struct Steps {
    /// A header seen, its step not yet emitted (waiting for "Using cache").
    held: Option<Header>,
    /// The emitted, still open step: (id, cached).
    open: Option<(String, bool)>,
}

impl Steps {
    /// Whether a step is held back waiting for the line after its header.
    pub(super) fn holds(&self) -> bool {
        self.held.is_some()
    }

    /// A new header: the open step ends, and the new one is held back.
    pub(super) fn header(&mut self, header: Header, out: &mut Vec<BuildEvent>) {
        self.close(out);
        self.held = Some(header);
    }

    /// The line after a header: emits the held step, cached if the line
    /// says so. True when it did, the line being used up.
    pub(super) fn after_header(&mut self, using_cache: bool, out: &mut Vec<BuildEvent>) -> bool {
        if self.held.is_none() {
            return false;
        }
        self.release(using_cache, out);
        using_cache
    }

    /// Emits the held step, if any, which is then the open one.
    pub(super) fn release(&mut self, cached: bool, out: &mut Vec<BuildEvent>) {
        if let Some(h) = self.held.take() {
            let id = h.index.to_string();
            out.push(BuildEvent::Step {
                id: id.clone(),
                index: Some(h.index),
                total: Some(h.total),
                name: h.name,
                cached,
                shared: false,
            });
            self.open = Some((id, cached));
        }
    }

    /// The builder says the open step is a cache hit.
    pub(super) fn mark_cached(&mut self) {
        if let Some((_, cached)) = self.open.as_mut() {
            *cached = true;
        }
    }

    /// The builder ended the open step.
    pub(super) fn close(&mut self, out: &mut Vec<BuildEvent>) {
        self.close_with(None, out);
    }

    /// The build ended (the daemon's error, or the stream cut short): a
    /// held step is emitted as not cached and the open one closed with
    /// `error`.
    pub(super) fn end(&mut self, error: &str, out: &mut Vec<BuildEvent>) {
        self.release(false, out);
        self.close_with(Some(error.to_owned()), out);
    }

    fn close_with(&mut self, error: Option<String>, out: &mut Vec<BuildEvent>) {
        if let Some((id, cached)) = self.open.take() {
            out.push(BuildEvent::StepDone { id, cached, error });
        }
    }

    /// The open step's id.
    pub(super) fn open_id(&self) -> Option<&str> {
        self.open.as_ref().map(|(id, _)| id.as_str())
    }

    /// A line of output (`clean` is `raw` sanitised), in the open step.
    pub(super) fn log(&self, raw: &str, clean: Cow<'_, str>, out: &mut Vec<BuildEvent>) {
        push_sanitised(out, self.open_id(), raw, clean);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::parse::tests::{done, log};

    fn lines_of(messages: &[&str]) -> Vec<String> {
        let mut buf = LineBuffer::default();
        let mut lines = Vec::new();
        for m in messages {
            buf.feed(m, |l| lines.push(l.to_owned()));
        }
        buf.flush(|l| lines.push(l.to_owned()));
        lines
    }

    #[test]
    fn lines_are_whole_wherever_the_messages_cut_them() {
        let whole = lines_of(&["one\ntwo\n\nthree"]);
        assert_eq!(whole, ["one", "two", "", "three"]);
        assert_eq!(lines_of(&["o", "ne\ntw", "o\n", "\nthr", "ee"]), whole);
        assert_eq!(lines_of(&["one\n", "two\n", "\n", "three"]), whole);
        assert!(lines_of(&["", ""]).is_empty());
    }

    #[test]
    fn a_partial_line_waits_until_flushed() {
        let mut buf = LineBuffer::default();
        let mut lines = Vec::new();
        buf.feed("done\npart", |l| lines.push(l.to_owned()));
        assert_eq!(lines, ["done"]);
        assert!(buf.holds_partial());
        buf.flush(|l| lines.push(l.to_owned()));
        assert_eq!(lines, ["done", "part"]);
        assert!(!buf.holds_partial());
        buf.flush(|l| lines.push(l.to_owned()));
        assert_eq!(lines.len(), 2);
    }

    #[test]
    fn an_overlong_partial_line_is_cut_on_char_boundaries() {
        // 'é' is two bytes: MAX_LINE falls inside one when the line starts
        // with an odd byte.
        let big = format!("x{}", "é".repeat(MAX_LINE));
        let (first, rest) = big.split_at(1);
        let lines = lines_of(&[first, rest]);
        assert!(lines.len() > 2);
        assert!(lines.iter().all(|l| l.len() <= MAX_LINE));
        assert_eq!(lines.concat(), big);
    }

    fn header(index: u32, name: &str) -> Header {
        Header {
            index,
            total: 2,
            name: name.into(),
        }
    }

    fn step(index: u32, name: &str, cached: bool) -> BuildEvent {
        BuildEvent::Step {
            id: index.to_string(),
            index: Some(index),
            total: Some(2),
            name: name.into(),
            cached,
            shared: false,
        }
    }

    #[test]
    fn a_header_is_held_until_the_line_after_it() {
        let mut steps = Steps::default();
        let mut out = Vec::new();
        steps.header(header(1, "COPY a /a"), &mut out);
        assert!(out.is_empty() && steps.holds());
        assert!(steps.after_header(true, &mut out));
        assert!(!steps.after_header(false, &mut out));
        steps.header(header(2, "RUN x"), &mut out);
        assert!(!steps.after_header(false, &mut out));
        steps.log("hi", "hi".into(), &mut out);
        steps.close(&mut out);
        steps.log("after", "after".into(), &mut out);
        assert_eq!(
            out,
            [
                step(1, "COPY a /a", true),
                done("1", true),
                step(2, "RUN x", false),
                log(Some("2"), "hi"),
                done("2", false),
                log(None, "after"),
            ]
        );
    }

    #[test]
    fn the_end_releases_a_held_step_and_closes_it_with_the_error() {
        let mut steps = Steps::default();
        let mut out = Vec::new();
        steps.header(header(1, "RUN x"), &mut out);
        steps.end("failed", &mut out);
        assert_eq!(
            out,
            [
                step(1, "RUN x", false),
                BuildEvent::StepDone {
                    id: "1".into(),
                    cached: false,
                    error: Some("failed".into())
                }
            ]
        );
        steps.end("again", &mut out);
        assert_eq!(out.len(), 2, "nothing left open");
    }

    #[test]
    fn a_step_marked_cached_late_closes_cached_and_escapes_alone_are_no_line() {
        let mut steps = Steps::default();
        let mut out = Vec::new();
        steps.header(header(1, "RUN x"), &mut out);
        steps.release(false, &mut out);
        assert_eq!(steps.open_id(), Some("1"));
        steps.log("\x1b[0m", "".into(), &mut out);
        steps.log("", "".into(), &mut out);
        steps.mark_cached();
        steps.close(&mut out);
        assert_eq!(
            out,
            [step(1, "RUN x", false), log(Some("1"), ""), done("1", true)]
        );
        assert_eq!(steps.open_id(), None);
    }
}
