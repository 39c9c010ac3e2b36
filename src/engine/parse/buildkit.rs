//! BuildKit's output: `moby.buildkit.trace` status items (vertexes and
//! their logs) as steps and lines (see [`BuildKitParser`]).

use std::collections::HashMap;

use bollard::moby::buildkit::v1::StatusResponse;
use bollard::models::{BuildInfo, BuildInfoAux};

use super::{error_message, image_id_from_aux, push_log, INCOMPLETE, MAX_LINE};
use crate::protocol::BuildEvent;
use crate::sanitize::sanitize;

/// Parser for BuildKit builds (`version=2`).
///
/// Feed every `StatusResponse` (bollard yields them as
/// `BuildInfo { aux: Some(BuildInfoAux::BuildKit(status)), .. }`), or feed
/// whole `BuildInfo`s with [`feed_info`](Self::feed_info), which also picks
/// up the image id and errors. Then call [`finish`](Self::finish).
///
/// A vertex is reported as a `Step` the first time it is seen started (or
/// completed), and as `StepDone` the first time it is seen completed; the
/// daemon repeats vertexes, and later copies are ignored. Vertexes that are
/// only queued (neither started nor completed) are not reported. Internal
/// vertexes are kept as steps; see [`crate::protocol::is_internal_step`]. `Step.cached` is the
/// vertex's flag when it started; `StepDone.cached` its flag on completion.
/// Progress `statuses` (layer exports, pulls) are not reported.
#[derive(Debug, Default)]
pub struct BuildKitParser {
    /// Vertex digest -> done?
    vertexes: HashMap<String, bool>,
    /// Vertex digests in the order their Step was emitted.
    order: Vec<String>,
    /// Partial log lines per (vertex, stream).
    logs: HashMap<(String, i64), Vec<u8>>,
}

impl BuildKitParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one BuildKit status item.
    pub fn feed(&mut self, status: &StatusResponse, out: &mut Vec<BuildEvent>) {
        for v in &status.vertexes {
            if v.started.is_none() && v.completed.is_none() {
                continue;
            }
            let done = match self.vertexes.get(&v.digest) {
                Some(&done) => done,
                None => {
                    out.push(BuildEvent::Step {
                        id: v.digest.clone(),
                        index: None,
                        total: None,
                        name: sanitize(&v.name).into_owned(),
                        cached: v.cached,
                        shared: false,
                    });
                    self.vertexes.insert(v.digest.clone(), false);
                    self.order.push(v.digest.clone());
                    false
                }
            };
            if v.completed.is_some() && !done {
                self.flush_vertex_logs(&v.digest, out);
                out.push(BuildEvent::StepDone {
                    id: v.digest.clone(),
                    cached: v.cached,
                    error: (!v.error.is_empty()).then(|| sanitize(&v.error).into_owned()),
                });
                self.vertexes.insert(v.digest.clone(), true);
            }
        }
        for log in &status.logs {
            self.feed_log(&log.vertex, log.stream, &log.msg, out);
        }
        for w in &status.warnings {
            let step = (!w.vertex.is_empty()).then_some(w.vertex.as_str());
            let text = String::from_utf8_lossy(&w.short);
            push_log(out, step, &format!("WARNING: {text}"));
        }
    }

    /// Feeds one message of the build stream as bollard yields it: BuildKit
    /// status items, the `moby.image.id` item, errors, and the plain
    /// `stream` lines the daemon adds (`Successfully tagged …` is dropped).
    pub fn feed_info(&mut self, info: &BuildInfo, out: &mut Vec<BuildEvent>) {
        if let Some(BuildInfoAux::BuildKit(status)) = &info.aux {
            self.feed(status, out);
        }
        if let Some(id) = image_id_from_aux(info) {
            out.push(BuildEvent::ImageId(id.to_owned()));
        }
        if let Some(stream) = info.stream.as_deref() {
            for line in stream.split_terminator('\n') {
                if !line.starts_with("Successfully tagged ") {
                    push_log(out, None, line);
                }
            }
        }
        if let Some(msg) = error_message(info) {
            out.push(BuildEvent::Error(msg));
        }
    }

    /// Ends the stream: flushes partial log lines and closes vertexes left
    /// open with [`INCOMPLETE`].
    pub fn finish(&mut self, out: &mut Vec<BuildEvent>) {
        let order = std::mem::take(&mut self.order);
        for digest in &order {
            if self.vertexes.get(digest) == Some(&false) {
                self.flush_vertex_logs(digest, out);
                out.push(BuildEvent::StepDone {
                    id: digest.clone(),
                    cached: false,
                    error: Some(INCOMPLETE.to_string()),
                });
                self.vertexes.insert(digest.clone(), true);
            }
        }
        self.order = order;
        // Logs of vertexes never seen started.
        let mut rest: Vec<_> = self.logs.drain().collect();
        rest.sort();
        for ((vertex, _), buf) in rest {
            if !buf.is_empty() {
                emit_bytes_line(out, &vertex, &buf);
            }
        }
    }

    fn feed_log(&mut self, vertex: &str, stream: i64, msg: &[u8], out: &mut Vec<BuildEvent>) {
        self.flush_other_stream(vertex, stream, out);
        let buf = self.logs.entry((vertex.to_owned(), stream)).or_default();
        let mut rest = msg;
        while let Some(pos) = rest.iter().position(|&b| b == b'\n') {
            if buf.is_empty() {
                emit_bytes_line(out, vertex, &rest[..pos]);
            } else {
                buf.extend_from_slice(&rest[..pos]);
                emit_bytes_line(out, vertex, buf);
                buf.clear();
            }
            rest = &rest[pos + 1..];
        }
        buf.extend_from_slice(rest);
        while buf.len() > MAX_LINE {
            let tail = buf.split_off(MAX_LINE);
            emit_bytes_line(out, vertex, buf);
            *buf = tail;
        }
    }

    /// The vertex's other stream (stdout 1, stderr 2) has an unfinished
    /// line: it was written before what `stream` says now, so it comes out
    /// first, as a line of its own (the daemon's order, not stderr's lines
    /// before the stdout text that ran first).
    fn flush_other_stream(&mut self, vertex: &str, stream: i64, out: &mut Vec<BuildEvent>) {
        let other = if stream == 1 { 2 } else { 1 };
        let Some(buf) = self.logs.get_mut(&(vertex.to_owned(), other)) else {
            return;
        };
        // A character cut between two writes stays whole: its first bytes
        // wait for the rest.
        let complete = match std::str::from_utf8(buf) {
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            _ => buf.len(),
        };
        if complete > 0 {
            let tail = buf.split_off(complete);
            let line = std::mem::replace(buf, tail);
            emit_bytes_line(out, vertex, &line);
        }
    }

    fn flush_vertex_logs(&mut self, vertex: &str, out: &mut Vec<BuildEvent>) {
        // stdout (1) before stderr (2), whatever the map order.
        let mut keys: Vec<i64> = self
            .logs
            .keys()
            .filter(|(v, _)| v == vertex)
            .map(|(_, s)| *s)
            .collect();
        keys.sort_unstable();
        for stream in keys {
            if let Some(buf) = self.logs.remove(&(vertex.to_owned(), stream)) {
                if !buf.is_empty() {
                    emit_bytes_line(out, vertex, &buf);
                }
            }
        }
    }
}

fn emit_bytes_line(out: &mut Vec<BuildEvent>, vertex: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let step = (!vertex.is_empty()).then_some(vertex);
    push_log(out, step, &text);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::parse::tests::{done, log};
    use bollard::moby::buildkit::v1::{Vertex, VertexLog};

    fn vertex(d: &str, name: &str, started: bool, completed: bool, cached: bool) -> Vertex {
        Vertex {
            digest: d.into(),
            name: name.into(),
            cached,
            started: started.then(Default::default),
            completed: completed.then(Default::default),
            ..Default::default()
        }
    }

    #[test]
    fn buildkit_dedupes_and_buffers_logs() {
        let mut p = BuildKitParser::new();
        let mut out = Vec::new();
        let s1 = StatusResponse {
            vertexes: vec![
                vertex("a", "[1/2] RUN x", false, false, false),
                vertex("b", "[2/2] RUN y", false, false, false),
            ],
            ..Default::default()
        };
        let s2 = StatusResponse {
            vertexes: vec![vertex("a", "[1/2] RUN x", true, false, false)],
            logs: vec![
                VertexLog {
                    vertex: "a".into(),
                    stream: 1,
                    msg: b"one\ntw".to_vec(),
                    ..Default::default()
                },
                VertexLog {
                    vertex: "a".into(),
                    stream: 1,
                    msg: b"o\n\x1b[0m".to_vec(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let s3 = StatusResponse {
            vertexes: vec![vertex("a", "[1/2] RUN x", true, false, false)],
            logs: vec![
                VertexLog {
                    vertex: "a".into(),
                    stream: 2,
                    msg: b"err\xe2\x9c".to_vec(),
                    ..Default::default()
                },
                VertexLog {
                    vertex: "a".into(),
                    stream: 2,
                    msg: b"\x93\n".to_vec(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let s4 = StatusResponse {
            vertexes: vec![Vertex {
                error: "boom".into(),
                ..vertex("a", "[1/2] RUN x", true, true, false)
            }],
            ..Default::default()
        };
        for s in [&s1, &s2, &s3, &s4, &s4] {
            p.feed(s, &mut out);
        }
        p.finish(&mut out);
        let a = Some("a");
        assert_eq!(
            out,
            vec![
                BuildEvent::Step {
                    id: "a".into(),
                    index: None,
                    total: None,
                    name: "[1/2] RUN x".into(),
                    cached: false,
                    shared: false
                },
                log(a, "one"),
                log(a, "two"),
                // A UTF-8 char split across two log items survives.
                log(a, "err✓"),
                BuildEvent::StepDone {
                    id: "a".into(),
                    cached: false,
                    error: Some("boom".into())
                },
            ]
        );
    }

    /// The daemon's order across stdout and stderr: an unfinished line of
    /// one stream comes out when the other writes, a character cut in two
    /// stays whole.
    #[test]
    fn buildkit_streams_interleave_in_the_daemons_order() {
        let mut p = BuildKitParser::new();
        let mut out = Vec::new();
        let item = |stream: i64, msg: &[u8]| VertexLog {
            vertex: "a".into(),
            stream,
            msg: msg.to_vec(),
            ..Default::default()
        };
        p.feed(
            &StatusResponse {
                vertexes: vec![vertex("a", "[1/1] RUN x", true, false, false)],
                logs: vec![
                    item(2, b"err\xe2\x9c"),
                    item(1, b"out\n"),
                    item(2, b"\x93\n"),
                ],
                ..Default::default()
            },
            &mut out,
        );
        let a = Some("a");
        assert_eq!(out[1..], [log(a, "err"), log(a, "out"), log(a, "✓")]);
    }

    #[test]
    fn buildkit_cached_vertex_and_finish_closes_open() {
        let mut p = BuildKitParser::new();
        let mut out = Vec::new();
        p.feed(
            &StatusResponse {
                vertexes: vec![
                    vertex("c", "[1/2] COPY a b", true, true, true),
                    vertex("d", "[2/2] RUN z", true, false, false),
                ],
                ..Default::default()
            },
            &mut out,
        );
        p.finish(&mut out);
        assert_eq!(
            out,
            vec![
                BuildEvent::Step {
                    id: "c".into(),
                    index: None,
                    total: None,
                    name: "[1/2] COPY a b".into(),
                    cached: true,
                    shared: false
                },
                done("c", true),
                BuildEvent::Step {
                    id: "d".into(),
                    index: None,
                    total: None,
                    name: "[2/2] RUN z".into(),
                    cached: false,
                    shared: false
                },
                BuildEvent::StepDone {
                    id: "d".into(),
                    cached: false,
                    error: Some(INCOMPLETE.into())
                },
            ]
        );
    }
}
