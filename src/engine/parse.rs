//! Parsing what the Docker daemon says during builds and pushes.
//!
//! This module owns turning daemon output into typed events:
//! [`LegacyParser`] for the classic builder's `stream` messages,
//! [`BuildKitParser`] for BuildKit's `moby.buildkit.trace` status items, and
//! [`parse_push_line`] for the raw JSON lines of `POST /images/{name}/push`.
//! Both build parsers yield the same builder-agnostic [`BuildEvent`]s.
//!
//! It must do no I/O: callers read the daemon (through bollard or raw
//! HTTP) and feed what they got; parsers keep only the state needed to
//! reassemble lines and steps. Every text that reaches an event went through
//! [`crate::sanitize::sanitize`], because build output is untrusted.
//!
//! Conventions shared by both build parsers:
//! - Every `Step` is followed by exactly one `StepDone` with the same id.
//!   A step that is still open when the daemon reports an error is closed
//!   with that error; one still open at `finish` (stream cut short) is
//!   closed with [`INCOMPLETE`] as its error.
//! - A line that was non-empty but is empty once sanitised (it held only
//!   escape sequences, e.g. the colour reset the daemon appends to stderr)
//!   is not emitted; a line that was empty to begin with is.
//! - Lines longer than [`MAX_LINE`] bytes are cut into several `Log`s.
//!
//! Note for callers using bollard's `build_image`: bollard turns a message
//! carrying `errorDetail` into `Err(Error::DockerStreamError { error })`, so
//! the parsers never see it; map that error to [`BuildEvent::Error`] yourself
//! (after feeding everything before it, and calling `finish`).

use std::collections::HashMap;

use bollard::moby::buildkit::v1::StatusResponse;
use bollard::models::{BuildInfo, BuildInfoAux, ImageId};

use crate::protocol::{BuildEvent, DaemonPushError, PushEvent};
use crate::sanitize::sanitize;

/// The error given to a step that was still open when the stream ended.
pub const INCOMPLETE: &str = "build stream ended before the step finished";

/// Longest line kept whole; longer output is cut into several lines.
pub const MAX_LINE: usize = 64 * 1024;

/// The image id carried in a build message's `aux`, if it is one.
///
/// Legacy builder: `{"aux":{"ID":"sha256:…"}}` (no `id`). BuildKit:
/// `{"id":"moby.image.id","aux":{"ID":"sha256:…"}}`, which bollard surfaces
/// as `BuildInfo { id: Some("moby.image.id"), aux: Some(BuildInfoAux::Default(ImageId { id })) }`.
pub fn image_id_from_aux(info: &BuildInfo) -> Option<&str> {
    match (&info.id, &info.aux) {
        (None, Some(BuildInfoAux::Default(ImageId { id: Some(id) })))
            if id.starts_with("sha256:") =>
        {
            Some(id)
        }
        (Some(tag), Some(BuildInfoAux::Default(ImageId { id: Some(id) })))
            if tag == "moby.image.id" =>
        {
            Some(id)
        }
        _ => None,
    }
}

/// `(i, N)` from a BuildKit step name `[i/N] …` or `[stage i/N] …`.
pub fn buildkit_step_position(name: &str) -> Option<(u32, u32)> {
    let inner = name.strip_prefix('[')?.split_once(']')?.0;
    let pos = inner.rsplit(' ').next()?;
    let (i, n) = pos.split_once('/')?;
    Some((i.parse().ok()?, n.parse().ok()?))
}

fn error_message(info: &BuildInfo) -> Option<String> {
    let detail = info.error_detail.as_ref()?;
    Some(match (&detail.message, detail.code) {
        (Some(m), _) => sanitize(m).into_owned(),
        (None, Some(code)) => format!("build failed (code {code})"),
        (None, None) => "build failed".to_string(),
    })
}

/// Sanitise `raw` and push it as a Log, unless only escapes made it empty.
fn push_log(out: &mut Vec<BuildEvent>, step: Option<&str>, raw: &str) {
    let line = sanitize(raw);
    if line.is_empty() && !raw.is_empty() {
        return;
    }
    out.push(BuildEvent::Log {
        step: step.map(str::to_owned),
        line: line.into_owned(),
    });
}

/// Largest char boundary `<= max` in `s`.
fn floor_boundary(s: &str, max: usize) -> usize {
    let mut i = max.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

// ---------------------------------------------------------------- legacy

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
            match s.find('\n') {
                Some(pos) => {
                    self.buf.push_str(&s[..pos]);
                    let mut line = std::mem::take(&mut self.buf);
                    self.line(&line, out);
                    // Reuse the allocation for the next partial line.
                    line.clear();
                    self.buf = line;
                    s = &s[pos + 1..];
                }
                None => {
                    self.buf.push_str(s);
                    self.cap_buf(out);
                    return;
                }
            }
        }
        while let Some(pos) = s.find('\n') {
            self.line(&s[..pos], out);
            s = &s[pos + 1..];
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
            if rest.starts_with("Running in ") {
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

// -------------------------------------------------------------- buildkit

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

// ------------------------------------------------------------------ push

/// What registries and the daemon say, lower-cased, when credentials are
/// missing or rejected.
const AUTHENTICATION_WORDS: &[&str] = &[
    "unauthorized",
    "no basic auth credentials",
    "authentication required",
    "denied",
];

/// Sanitises and classifies one error message of a push stream (or of
/// bollard's typed push, which hands it over as an error). This is the one
/// place that reads the daemon's words to tell an authentication failure
/// from any other.
pub fn classify_push_error(raw: &str) -> DaemonPushError {
    let message = sanitize(raw).into_owned();
    let lower = message.to_ascii_lowercase();
    if AUTHENTICATION_WORDS.iter().any(|w| lower.contains(w)) {
        DaemonPushError::Authentication(message)
    } else {
        DaemonPushError::Other(message)
    }
}

/// A push the daemon refused outright with a non-2xx reply: the `message`
/// of its JSON body, else the body as text, then the status.
pub fn parse_push_refusal(status: http::StatusCode, body: &[u8]) -> DaemonPushError {
    let message = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("message")?.as_str().map(String::from))
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_string());
    if status == http::StatusCode::NOT_FOUND {
        DaemonPushError::NoSuchImage(sanitize(&message).into_owned())
    } else {
        classify_push_error(&format!("{message} (HTTP {status})"))
    }
}

fn json_u64(v: Option<&serde_json::Value>) -> Option<u64> {
    let v = v?;
    v.as_u64()
        .or_else(|| v.as_i64().map(|i| i.max(0) as u64))
        .or_else(|| {
            v.as_f64()
                .filter(|f| f.is_finite())
                .map(|f| f.max(0.0) as u64)
        })
}

fn json_str<'a>(v: &'a serde_json::Value, key: &str) -> Option<&'a str> {
    v.get(key)?.as_str()
}

/// Parses `"<tag>: digest: <digest> size: <n>"`.
fn parse_digest_status(status: &str) -> Option<PushEvent> {
    let (tag, rest) = status.split_once(": digest: ")?;
    let (digest, size) = match rest.split_once(" size: ") {
        Some((d, s)) => (d, s.trim().parse().ok()),
        None => (rest.trim(), None),
    };
    if tag.is_empty() || !digest.contains(':') || digest.contains(' ') {
        return None;
    }
    Some(PushEvent::Digest {
        tag: sanitize(tag).into_owned(),
        digest: sanitize(digest).into_owned(),
        size,
    })
}

/// Parses "Retrying in 5 seconds" / "Retrying in 1 second".
fn parse_retrying(status: &str) -> Option<u64> {
    let rest = status.strip_prefix("Retrying in ")?;
    let n = rest.split(' ').next()?;
    n.parse().ok()
}

/// Parses one raw JSON line of `POST /images/{name}/push`.
///
/// An empty (whitespace) line gives no events. Malformed JSON, or JSON that
/// is not an object, is an `Err` with a short message (a `String`: it is
/// only ever shown, as a notice; nothing branches on it). All text is
/// sanitised; an error line becomes a classified [`DaemonPushError`].
pub fn parse_push_line(line: &[u8]) -> Result<Vec<PushEvent>, String> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    let v: serde_json::Value = serde_json::from_slice(line).map_err(|e| {
        let mut msg = format!("malformed push line: {e}");
        msg.truncate(floor_boundary(&msg, 120));
        msg
    })?;
    if !v.is_object() {
        return Err("malformed push line: not a JSON object".to_string());
    }
    let mut events = Vec::new();

    let error = v
        .get("errorDetail")
        .and_then(|d| json_str(d, "message"))
        .or_else(|| json_str(&v, "error"));
    if let Some(msg) = error {
        events.push(PushEvent::Error(classify_push_error(msg)));
        return Ok(events);
    }

    if let Some(aux) = v.get("aux") {
        if let (Some(tag), Some(digest)) = (json_str(aux, "Tag"), json_str(aux, "Digest")) {
            events.push(PushEvent::Digest {
                tag: sanitize(tag).into_owned(),
                digest: sanitize(digest).into_owned(),
                size: json_u64(aux.get("Size")),
            });
        }
    }

    if let Some(status) = json_str(&v, "status") {
        let id = json_str(&v, "id").filter(|id| !id.is_empty());
        match id {
            Some(id) => {
                let id = sanitize(id).into_owned();
                if let Some(secs) = parse_retrying(status) {
                    events.push(PushEvent::Retrying { id, secs });
                } else {
                    let detail = v.get("progressDetail");
                    let total = json_u64(detail.and_then(|d| d.get("total")));
                    let current = json_u64(detail.and_then(|d| d.get("current")))
                        .map(|c| total.map_or(c, |t| c.min(t)));
                    events.push(PushEvent::Layer {
                        id,
                        status: sanitize(status).into_owned(),
                        current,
                        total,
                    });
                }
            }
            None => match parse_digest_status(status) {
                Some(d) => events.push(d),
                None => events.push(PushEvent::Status(sanitize(status).into_owned())),
            },
        }
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::moby::buildkit::v1::{Vertex, VertexLog};
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

    fn log(step: Option<&str>, line: &str) -> BuildEvent {
        BuildEvent::Log {
            step: step.map(str::to_owned),
            line: line.to_owned(),
        }
    }

    fn done(id: &str, cached: bool) -> BuildEvent {
        BuildEvent::StepDone {
            id: id.into(),
            cached,
            error: None,
        }
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

    #[test]
    fn image_id_only_from_image_aux() {
        let legacy_aux = BuildInfo {
            aux: Some(BuildInfoAux::Default(ImageId {
                id: Some("sha256:ab".into()),
            })),
            ..Default::default()
        };
        assert_eq!(image_id_from_aux(&legacy_aux), Some("sha256:ab"));
        let bk = BuildInfo {
            id: Some("moby.image.id".into()),
            ..legacy_aux.clone()
        };
        assert_eq!(image_id_from_aux(&bk), Some("sha256:ab"));
        let other = BuildInfo {
            id: Some("moby.buildkit.trace".into()),
            ..legacy_aux
        };
        assert_eq!(image_id_from_aux(&other), None);
        assert_eq!(image_id_from_aux(&BuildInfo::default()), None);
    }

    #[test]
    fn internal_and_position_helpers() {
        assert!(crate::protocol::is_internal_step(
            "[internal] load build definition from Dockerfile"
        ));
        assert!(crate::protocol::is_internal_step("exporting to image"));
        assert!(crate::protocol::is_internal_step("copy /context /"));
        assert!(!crate::protocol::is_internal_step("[2/3] RUN make"));
        assert!(!crate::protocol::is_internal_step(
            "[build 1/4] FROM docker.io/library/alpine"
        ));
        assert_eq!(buildkit_step_position("[2/3] RUN make"), Some((2, 3)));
        assert_eq!(buildkit_step_position("[build 1/4] FROM x"), Some((1, 4)));
        assert_eq!(buildkit_step_position("[internal] load"), None);
        assert_eq!(buildkit_step_position("exporting to image"), None);
    }

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

    fn push(line: &str) -> Vec<PushEvent> {
        parse_push_line(line.as_bytes()).unwrap()
    }

    #[test]
    fn push_lines() {
        assert_eq!(
            push(r#"{"status":"Preparing","progressDetail":{},"id":"5f70bf18a086"}"#),
            vec![PushEvent::Layer {
                id: "5f70bf18a086".into(),
                status: "Preparing".into(),
                current: None,
                total: None
            }]
        );
        assert_eq!(
            push(
                r#"{"status":"Pushing","progressDetail":{"current":2048,"total":1024},"progress":"[==> ]","id":"ab"}"#
            ),
            vec![PushEvent::Layer {
                id: "ab".into(),
                status: "Pushing".into(),
                current: Some(1024),
                total: Some(1024)
            }]
        );
        assert_eq!(
            push(r#"{"status":"Retrying in 5 seconds","progressDetail":{},"id":"ab"}"#),
            vec![PushEvent::Retrying {
                id: "ab".into(),
                secs: 5
            }]
        );
        assert_eq!(
            push(r#"{"status":"Retrying in 1 second","progressDetail":{},"id":"ab"}"#),
            vec![PushEvent::Retrying {
                id: "ab".into(),
                secs: 1
            }]
        );
        let digest = PushEvent::Digest {
            tag: "latest".into(),
            digest: "sha256:abc".into(),
            size: Some(528),
        };
        assert_eq!(
            push(r#"{"status":"latest: digest: sha256:abc size: 528"}"#),
            vec![digest.clone()]
        );
        assert_eq!(
            push(
                r#"{"progressDetail":{},"aux":{"Tag":"latest","Digest":"sha256:abc","Size":528}}"#
            ),
            vec![digest]
        );
        assert_eq!(
            push(r#"{"errorDetail":{"message":"denied"},"error":"denied"}"#),
            vec![PushEvent::Error(DaemonPushError::Authentication(
                "denied".into()
            ))]
        );
        assert_eq!(
            push(r#"{"error":"only error"}"#),
            vec![PushEvent::Error(DaemonPushError::Other(
                "only error".into()
            ))]
        );
        assert_eq!(
            push(r#"{"status":"The push refers to repository [\u001b[2Jx]"}"#),
            vec![PushEvent::Status(
                "The push refers to repository [x]".into()
            )]
        );
        assert_eq!(push("  \r\n"), vec![]);
        assert_eq!(push("{}"), vec![]);
    }

    #[test]
    fn push_errors_are_classified_where_they_are_parsed() {
        use DaemonPushError::{Authentication, NoSuchImage, Other};
        for auth in [
            "unauthorized: authentication required",
            "no basic auth credentials",
            "denied: requested access to the resource is denied",
            "Authentication Required",
        ] {
            assert_eq!(classify_push_error(auth), Authentication(auth.into()));
        }
        assert_eq!(
            classify_push_error("connect: connection refused\u{1b}[2J"),
            Other("connect: connection refused".into())
        );
        // A refused request: the body's message, then the HTTP status.
        let body = br#"{"message":"bad \u001b[31mthing"}"#;
        assert_eq!(
            parse_push_refusal(http::StatusCode::INTERNAL_SERVER_ERROR, body),
            Other("bad thing (HTTP 500 Internal Server Error)".into())
        );
        assert_eq!(
            parse_push_refusal(http::StatusCode::UNAUTHORIZED, b" plain text "),
            Authentication("plain text (HTTP 401 Unauthorized)".into())
        );
        let missing = parse_push_refusal(
            http::StatusCode::NOT_FOUND,
            br#"{"message":"An image does not exist locally with the tag: x"}"#,
        );
        assert_eq!(
            missing,
            NoSuchImage("An image does not exist locally with the tag: x".into())
        );
        assert_eq!(
            missing.to_string(),
            "An image does not exist locally with the tag: x"
        );
    }

    #[test]
    fn push_malformed_is_err() {
        for bad in [
            &b"{"[..],
            b"not json",
            b"[1,2]",
            b"\"str\"",
            b"{\"status\":\"Pus",
            b"\xff\xfe",
        ] {
            let e = parse_push_line(bad).unwrap_err();
            assert!(e.len() <= 120, "{e}");
        }
        // Odd but valid shapes do not panic.
        for odd in [
            r#"{"status":5,"id":[]}"#,
            r#"{"status":"Pushing","id":"a","progressDetail":{"current":-5,"total":"x"}}"#,
            r#"{"status":"Pushing","id":"a","progressDetail":{"current":1e300,"total":null}}"#,
            r#"{"aux":"str"}"#,
            r#"{"status":": digest: "}"#,
        ] {
            let _ = parse_push_line(odd.as_bytes()).unwrap();
        }
    }
}
