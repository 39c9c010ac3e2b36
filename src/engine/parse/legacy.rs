//! The classic builder's output: `stream` messages, cut into lines, with
//! `Step i/N : …` headers made steps (see [`LegacyParser`]).

use std::collections::HashMap;

use bollard::models::BuildInfo;

use super::{error_message, floor_boundary, image_id_from_aux, push_log, INCOMPLETE, MAX_LINE};
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
    /// Partial line carried over between `stream` messages.
    buf: String,
    /// `Step i/N` seen, not yet emitted (waiting for "Using cache").
    pending: Option<LegacyStep>,
    /// The emitted, still open step.
    current: Option<(String, bool)>,
    /// Last status per pull-progress id, to collapse progress ticks.
    pull: HashMap<String, String>,
    /// Whether `buf` came from the container's stderr.
    buf_is_stderr: bool,
}

/// How the classic builder frames each write of a RUN's stderr (the
/// daemon's colour switch, bright red on, then reset): a message that
/// starts with it is stderr, any other is stdout.
const LEGACY_STDERR_START: &str = "\x1b[91m";

#[derive(Debug)]
struct LegacyStep {
    index: u32,
    total: u32,
    name: String,
}

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
fn parse_legacy_step(line: &str) -> Option<LegacyStep> {
    let rest = line.strip_prefix("Step ")?;
    let (pos, name) = rest.split_once(" : ")?;
    let (i, n) = pos.split_once('/')?;
    Some(LegacyStep {
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
        if let Some(id) = image_id_from_aux(info) {
            out.push(BuildEvent::ImageId(id.to_owned()));
        }
        if let Some(msg) = error_message(info) {
            self.flush_buf(out);
            self.emit_pending(false, out);
            if let Some((id, cached)) = self.current.take() {
                out.push(BuildEvent::StepDone {
                    id,
                    cached,
                    error: Some(msg.clone()),
                });
            }
            out.push(BuildEvent::Error(msg));
        }
    }

    /// Ends the stream: flushes a partial line and a held-back step, and
    /// closes a step left open with [`INCOMPLETE`].
    pub fn finish(&mut self, out: &mut Vec<BuildEvent>) {
        self.flush_buf(out);
        self.emit_pending(false, out);
        if let Some((id, cached)) = self.current.take() {
            out.push(BuildEvent::StepDone {
                id,
                cached,
                error: Some(INCOMPLETE.to_string()),
            });
        }
    }

    fn feed_stream(&mut self, mut s: &str, out: &mut Vec<BuildEvent>) {
        // An unfinished line ends where the daemon speaks, and where the
        // RUN's other stream takes over: it was written first, so it comes
        // out first, as a line of its own (the daemon's order).
        let stderr = s.starts_with(LEGACY_STDERR_START);
        if !self.buf.is_empty()
            && (stderr != self.buf_is_stderr || LEGACY_MARKERS.iter().any(|m| s.starts_with(m)))
        {
            self.flush_buf(out);
        }
        if self.buf.is_empty() {
            self.buf_is_stderr = stderr;
        }
        if !self.buf.is_empty() {
            match s.split_once('\n') {
                Some((head, rest)) => {
                    self.buf.push_str(head);
                    let mut line = std::mem::take(&mut self.buf);
                    self.line(&line, out);
                    // Reuse the allocation for the next partial line.
                    line.clear();
                    self.buf = line;
                    s = rest;
                }
                None => {
                    self.buf.push_str(s);
                    self.cap_buf(out);
                    return;
                }
            }
        }
        while let Some((line, rest)) = s.split_once('\n') {
            self.line(line, out);
            s = rest;
        }
        self.buf.push_str(s);
        self.cap_buf(out);
    }

    fn cap_buf(&mut self, out: &mut Vec<BuildEvent>) {
        while self.buf.len() > MAX_LINE {
            let cut = floor_boundary(&self.buf, MAX_LINE);
            let rest = self.buf.split_off(cut);
            let line = std::mem::replace(&mut self.buf, rest);
            self.line(&line, out);
        }
    }

    fn flush_buf(&mut self, out: &mut Vec<BuildEvent>) {
        if !self.buf.is_empty() {
            let line = std::mem::take(&mut self.buf);
            self.line(&line, out);
        }
    }

    fn emit_pending(&mut self, cached: bool, out: &mut Vec<BuildEvent>) {
        if let Some(step) = self.pending.take() {
            let id = step.index.to_string();
            out.push(BuildEvent::Step {
                id: id.clone(),
                index: Some(step.index),
                total: Some(step.total),
                name: step.name,
                cached,
                shared: false,
            });
            self.current = Some((id, cached));
        }
    }

    fn close_current(&mut self, out: &mut Vec<BuildEvent>) {
        if let Some((id, cached)) = self.current.take() {
            out.push(BuildEvent::StepDone {
                id,
                cached,
                error: None,
            });
        }
    }

    /// One complete line of the legacy stream (without its `\n`).
    ///
    /// Daemon lines are recognised on the sanitised text, so the colour
    /// reset the daemon appends after stderr output (which lands at the
    /// start of the next line) does not hide them.
    fn line(&mut self, raw: &str, out: &mut Vec<BuildEvent>) {
        let clean = sanitize(raw);
        let line: &str = &clean;
        if self.pending.is_some() {
            let cached = line == " ---> Using cache";
            self.emit_pending(cached, out);
            if cached {
                return;
            }
        }
        if let Some(step) = parse_legacy_step(line) {
            self.close_current(out);
            self.pending = Some(step);
            return;
        }
        if let Some(rest) = line.strip_prefix(" ---> ") {
            if rest == "Using cache" {
                if let Some((_, cached)) = self.current.as_mut() {
                    *cached = true;
                }
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
                self.close_current(out);
                return;
            }
        }
        if line.starts_with("Removing intermediate container ")
            || line.starts_with("Successfully built ")
            || line.starts_with("Successfully tagged ")
        {
            return;
        }
        if line.is_empty() && !raw.is_empty() {
            return;
        }
        let step = self.current.as_ref().map(|(id, _)| id.clone());
        out.push(BuildEvent::Log {
            step,
            line: clean.into_owned(),
        });
    }

    /// Pull progress during FROM: one Log per (layer id, status) change.
    fn feed_status(&mut self, id: Option<&str>, status: &str, out: &mut Vec<BuildEvent>) {
        // Pulling means the held-back step (a FROM) is running, not cached.
        self.emit_pending(false, out);
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
        let step = self.current.as_ref().map(|(id, _)| id.as_str());
        push_log(out, step, &line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::parse::tests::{done, log};
    use bollard::models::ErrorDetail;

    fn stream(s: &str) -> BuildInfo {
        BuildInfo {
            stream: Some(s.to_string()),
            ..Default::default()
        }
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
        assert_eq!(
            ev.iter()
                .filter(|e| matches!(e, BuildEvent::Log { .. }))
                .collect::<Vec<_>>(),
            [&log(Some("1"), "hi")]
        );
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
        let logs: Vec<_> = ev
            .iter()
            .filter(|e| matches!(e, BuildEvent::Log { .. }))
            .cloned()
            .collect();
        assert_eq!(
            logs,
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
        assert_eq!(
            ev.iter()
                .filter(|e| matches!(e, BuildEvent::Log { .. }))
                .count(),
            1
        );
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
