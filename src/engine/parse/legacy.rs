//! The classic builder's output: `stream` messages, cut into lines, with
//! `Step i/N : …` headers made steps (see [`LegacyParser`]).

use std::collections::HashMap;

use bollard::models::BuildInfo;

use super::lines::{Header, LineStream, ReadLine, Steps};
use super::push_log;
use crate::protocol::BuildEvent;
use crate::sanitize::sanitize;

/// Parser for the classic (non-BuildKit) builder's output.
///
/// Feed every `BuildInfo` of the build in order, then call
/// [`finish`](Self::finish). The step id is the step index as a string
/// ("1", "2", …). A `Step` event is held back until the line after
/// `Step i/N : …` arrives, so that its `cached` flag is right.
#[derive(Debug, Default)]
pub struct LegacyParser {
    text: LineStream<LegacyLines>,
    /// Whether the partial line came from the container's stderr.
    buf_is_stderr: bool,
    /// Last status per pull-progress id, to collapse progress ticks.
    pull: HashMap<String, String>,
}

/// How the classic builder frames each write of a RUN's stderr (the
/// daemon's colour switch, bright red on, then reset): a message that
/// starts with it is stderr, any other is stdout.
const LEGACY_STDERR_START: &str = "\x1b[91m";

/// Prefixes of the daemon's own messages. Each arrives as its own `stream`
/// message, so one that follows output without a final newline starts a
/// new line (the daemon would otherwise glue it to the output).
const LEGACY_MARKERS: [&str; 5] = [
    "Step ",
    " ---> ",
    "Removing intermediate container ",
    "Successfully built ",
    "Successfully tagged ",
];

/// `line` is already sanitised.
fn parse_legacy_step(line: &str) -> Option<Header> {
    let rest = line.strip_prefix("Step ")?;
    let (pos, name) = rest.split_once(" : ")?;
    let (i, n) = pos.split_once('/')?;
    Some(Header {
        index: i.parse().ok()?,
        total: n.parse().ok()?,
        name: name.to_owned(),
    })
}

impl LegacyParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one message of the build stream.
    pub fn feed(&mut self, info: &BuildInfo, out: &mut Vec<BuildEvent>) {
        if let Some(stream) = info.stream.as_deref() {
            self.feed_stream(stream, out);
        }
        if let Some(status) = info.status.as_deref() {
            self.feed_status(info.id.as_deref(), status, out);
        }
        self.text.feed_id_and_error(info, out);
    }

    /// Ends the stream: flushes a partial line and a held-back step, and
    /// closes a step left open with [`INCOMPLETE`](super::INCOMPLETE).
    pub fn finish(&mut self, out: &mut Vec<BuildEvent>) {
        self.text.finish(out);
    }

    fn feed_stream(&mut self, s: &str, out: &mut Vec<BuildEvent>) {
        // An unfinished line ends where the daemon speaks, and where the
        // RUN's other stream takes over: it was written first, so it comes
        // out first, as a line of its own (the daemon's order).
        let stderr = s.starts_with(LEGACY_STDERR_START);
        if self.text.holds_partial()
            && (stderr != self.buf_is_stderr || LEGACY_MARKERS.iter().any(|m| s.starts_with(m)))
        {
            self.text.flush(out);
        }
        if !self.text.holds_partial() {
            self.buf_is_stderr = stderr;
        }
        self.text.feed(s, out);
    }

    /// Pull progress during FROM: one Log per (layer id, status) change.
    fn feed_status(&mut self, id: Option<&str>, status: &str, out: &mut Vec<BuildEvent>) {
        // Pulling means the held-back step (a FROM) is running, not cached.
        self.text.read.steps.release(false, out);
        let line = match id {
            Some(id) if !id.is_empty() => {
                if self.pull.get(id).is_some_and(|s| s == status) {
                    return;
                }
                self.pull.insert(id.to_owned(), status.to_owned());
                format!("{id}: {status}")
            }
            _ => status.to_owned(),
        };
        push_log(out, self.text.read.steps.open_id(), &line);
    }
}

/// What the legacy stream's lines have said: its steps.
#[derive(Debug, Default)]
struct LegacyLines {
    steps: Steps,
}

impl ReadLine for LegacyLines {
    fn steps(&mut self) -> &mut Steps {
        &mut self.steps
    }

    /// Daemon lines are recognised on the sanitised text, so the colour
    /// reset the daemon appends after stderr output (which lands at the
    /// start of the next line) does not hide them.
    fn line(&mut self, raw: &str, out: &mut Vec<BuildEvent>) {
        let clean = sanitize(raw);
        let line: &str = &clean;
        if self.steps.after_header(line == " ---> Using cache", out) {
            return;
        }
        if let Some(step) = parse_legacy_step(line) {
            self.steps.header(step, out);
            return;
        }
        if let Some(rest) = line.strip_prefix(" ---> ") {
            if rest == "Using cache" {
                self.steps.mark_cached();
                return;
            }
            // Docker 23 and later say "Removed intermediate container …"
            // here, where 20.10 said "Removing …" on a line of its own.
            if rest.starts_with("Running in ")
                || rest.starts_with("Removed intermediate container ")
            {
                return;
            }
            // " ---> <image id>" (empty after FROM scratch) ends the step;
            // anything else (" ---> [Warning] …") is output.
            if rest.bytes().all(|c| c.is_ascii_alphanumeric() || c == b':') {
                self.steps.close(out);
                return;
            }
        }
        if line.starts_with("Removing intermediate container ")
            || line.starts_with("Successfully built ")
            || line.starts_with("Successfully tagged ")
        {
            return;
        }
        self.steps.log(raw, clean, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::parse::tests::{done, log, stream};
    use crate::engine::parse::{INCOMPLETE, MAX_LINE};
    use bollard::models::ErrorDetail;

    /// The `Log`s of `ev`.
    fn logs(ev: &[BuildEvent]) -> Vec<BuildEvent> {
        ev.iter()
            .filter(|e| matches!(e, BuildEvent::Log { .. }))
            .cloned()
            .collect()
    }

    fn legacy(msgs: &[BuildInfo]) -> Vec<BuildEvent> {
        let mut p = LegacyParser::new();
        let mut out = Vec::new();
        for m in msgs {
            p.feed(m, &mut out);
        }
        p.finish(&mut out);
        out
    }

    #[test]
    fn legacy_step_held_until_next_line() {
        let ev = legacy(&[
            stream("Step 1/2 : COPY a /a"),
            stream("\n"),
            stream(" ---> Using cache\n ---> abc123\n"),
            stream("Step 2/2 : RUN echo hi\n ---> Running in 0123\nhi\n"),
            stream("Removing intermediate container 0123\n ---> def456\n"),
            stream("Successfully built def456\nSuccessfully tagged x:latest\n"),
        ]);
        assert_eq!(
            ev,
            vec![
                BuildEvent::Step {
                    id: "1".into(),
                    index: Some(1),
                    total: Some(2),
                    name: "COPY a /a".into(),
                    cached: true,
                    shared: false
                },
                done("1", true),
                BuildEvent::Step {
                    id: "2".into(),
                    index: Some(2),
                    total: Some(2),
                    name: "RUN echo hi".into(),
                    cached: false,
                    shared: false
                },
                log(Some("2"), "hi"),
                done("2", false),
            ]
        );
    }

    /// Docker Engine 26's legacy builder (recorded): the container's
    /// removal is an arrow line, not output.
    #[test]
    fn legacy_removed_container_of_newer_engines_is_not_output() {
        let ev = legacy(&[
            stream("Step 1/1 : RUN echo hi\n"),
            stream(" ---> Running in eb3ad65b74ee\n"),
            stream("hi\n"),
            stream(" ---> Removed intermediate container eb3ad65b74ee\n"),
            stream(" ---> 5d2f7e1b0c3a\n"),
        ]);
        assert_eq!(logs(&ev), [log(Some("1"), "hi")]);
        assert_eq!(ev.last(), Some(&done("1", false)));
    }

    #[test]
    fn legacy_partial_lines_and_daemon_message_after_unterminated_output() {
        let ev = legacy(&[
            stream("Step 1/1 : RUN x\n ---> Running in 1\n"),
            stream("hel"),
            stream("lo\nwor"),
            stream("ld\nno newline at end"),
            stream("Removing intermediate container 1\n"),
            stream(" ---> 2\n"),
        ]);
        assert_eq!(
            logs(&ev),
            vec![
                log(Some("1"), "hello"),
                log(Some("1"), "world"),
                log(Some("1"), "no newline at end")
            ]
        );
        assert_eq!(ev.last(), Some(&done("1", false)));
    }

    #[test]
    fn legacy_stderr_colour_reset_not_logged() {
        let ev = legacy(&[
            stream("Step 1/1 : RUN x\n ---> Running in 1\n"),
            stream("\x1b[91mto stderr\n\x1b[0m"),
            stream("Removing intermediate container 1\n ---> 2\n"),
        ]);
        assert!(ev.contains(&log(Some("1"), "to stderr")));
        assert_eq!(logs(&ev).len(), 1);
    }

    #[test]
    fn legacy_warning_arrow_is_a_log_and_empty_line_kept() {
        let ev = legacy(&[stream(
            "Step 1/1 : FROM x\n ---> [Warning] platform mismatch\n\n ---> abc\n",
        )]);
        assert!(ev.contains(&log(Some("1"), " ---> [Warning] platform mismatch")));
        assert!(ev.contains(&log(Some("1"), "")));
        assert_eq!(ev.last(), Some(&done("1", false)));
    }

    #[test]
    fn legacy_error_closes_step_and_pending_step() {
        let err = BuildInfo {
            error_detail: Some(ErrorDetail {
                code: Some(1),
                message: Some("COPY failed: \x1b]0;x\x07no such file".into()),
            }),
            ..Default::default()
        };
        let ev = legacy(&[stream("Step 1/1 : COPY nope /\n"), err]);
        let msg = "COPY failed: no such file".to_string();
        assert_eq!(
            ev,
            vec![
                BuildEvent::Step {
                    id: "1".into(),
                    index: Some(1),
                    total: Some(1),
                    name: "COPY nope /".into(),
                    cached: false,
                    shared: false
                },
                BuildEvent::StepDone {
                    id: "1".into(),
                    cached: false,
                    error: Some(msg.clone())
                },
                BuildEvent::Error(msg),
            ]
        );
    }

    #[test]
    fn legacy_truncated_stream_closes_with_incomplete() {
        let ev = legacy(&[stream("Step 1/3 : RUN x\n ---> Running in 1\npartial")]);
        assert_eq!(ev.len(), 3);
        assert_eq!(ev[1], log(Some("1"), "partial"));
        assert_eq!(
            ev[2],
            BuildEvent::StepDone {
                id: "1".into(),
                cached: false,
                error: Some(INCOMPLETE.into())
            }
        );
        // A held-back Step is flushed at finish.
        let ev = legacy(&[stream("Step 1/3 : RUN x\n")]);
        assert!(matches!(&ev[0], BuildEvent::Step { cached: false, .. }));
    }

    #[test]
    fn legacy_pull_progress_collapsed() {
        let st = |id: Option<&str>, s: &str| BuildInfo {
            id: id.map(str::to_owned),
            status: Some(s.to_string()),
            ..Default::default()
        };
        let ev = legacy(&[
            stream("Step 1/1 : FROM alpine\n"),
            st(Some("latest"), "Pulling from library/alpine"),
            st(Some("abc"), "Pulling fs layer"),
            st(Some("abc"), "Downloading"),
            st(Some("abc"), "Downloading"),
            st(Some("abc"), "Downloading"),
            st(Some("abc"), "Pull complete"),
            st(None, "Digest: sha256:00"),
            st(None, "Status: Downloaded newer image for alpine:latest"),
            stream(" ---> 1234\n"),
        ]);
        let lines: Vec<_> = ev
            .iter()
            .filter_map(|e| match e {
                BuildEvent::Log { step, line } => {
                    assert_eq!(step.as_deref(), Some("1"));
                    Some(line.as_str())
                }
                _ => None,
            })
            .collect();
        assert_eq!(
            lines,
            vec![
                "latest: Pulling from library/alpine",
                "abc: Pulling fs layer",
                "abc: Downloading",
                "abc: Pull complete",
                "Digest: sha256:00",
                "Status: Downloaded newer image for alpine:latest"
            ]
        );
    }

    #[test]
    fn legacy_overlong_line_is_cut() {
        let big = "x".repeat(MAX_LINE * 2 + 10);
        let ev = legacy(&[stream(&big)]);
        assert_eq!(ev.len(), 3);
        let total: usize = ev
            .iter()
            .map(|e| match e {
                BuildEvent::Log { line, .. } => line.len(),
                _ => 0,
            })
            .sum();
        assert_eq!(total, big.len());
    }
}
