//! Podman's builder, buildah, behind the Docker-compatible `/build`: its
//! `stream` messages, cut into lines, with `STEP i/N: …` headers made steps
//! named as the legacy builder names them (see [`BuildahParser`]).
//!
//! What buildah 1.28 (Podman 4.3) says, recorded in `tests/fixtures/buildah_*`:
//!
//! ```text
//! STEP 2/4: COPY a.txt /a.txt          a step ([1/2] STEP 1/2: … in a multi-stage build)
//! --> Using cache 7683b39b1889…        the step is a cache hit (right after its header)
//! --> 7683b39b188                      the step's layer: the step ends
//! COMMIT docker.io/library/app:1       the last step commits ([2/2] COMMIT … multi-stage)
//! --> 87f42fcfdbb                      … and ends
//! Successfully tagged docker.io/library/app:1
//! 87f42fcfdbb16a4a2ed6384ff2d064ea0ddab0c4eb7987548757df164145ec1d
//! ```
//!
//! then `aux.ID` and the compatibility layer's own `Successfully built …`,
//! `Successfully tagged …`. A FROM step has no `-->`: the next header
//! closes it. A RUN's output (stdout and stderr alike) comes as lines
//! between its header and its `-->`.

use bollard::models::BuildInfo;

use super::lines::{Header, LineStream, ReadLine, Steps};
use crate::protocol::BuildEvent;
use crate::sanitize::sanitize;

/// Parser for buildah's output.
///
/// Feed every `BuildInfo` of the build in order, then call
/// [`finish`](Self::finish). Steps are numbered through the whole
/// Dockerfile as the legacy builder numbers them (buildah numbers each
/// stage's steps from 1): the id is that number as a string. A `Step` is
/// held back until the line after its header, which says whether it is
/// cached; [`release`](Self::release) lets it go before that (the engine
/// calls it when the daemon stays silent, as a RUN does).
#[derive(Debug, Default)]
pub struct BuildahParser {
    text: LineStream<BuildahLines>,
}

/// What buildah's lines have said so far: the steps, how they are
/// numbered, whether the image is committed.
#[derive(Debug, Default)]
struct BuildahLines {
    steps: Steps,
    /// The stage of the last header (`[k/n]`), and the steps of the stages
    /// before it, and its own number of steps.
    stage: Option<u32>,
    offset: u32,
    stage_total: u32,
    /// The image is committed: the tag and id lines that follow are the
    /// builder's, not the build's.
    committed: bool,
}

/// `[k/n] STEP i/N: INSTR` or `STEP i/N: INSTR`: (stage k, i, N, INSTR).
fn parse_header(line: &str) -> Option<(Option<u32>, u32, u32, &str)> {
    let (stage, rest) = match line.strip_prefix('[') {
        Some(inner) => {
            let (pos, rest) = inner.split_once("] ")?;
            let (k, _) = pos.split_once('/')?;
            (Some(k.parse().ok()?), rest)
        }
        None => (None, line),
    };
    let (pos, name) = rest.strip_prefix("STEP ")?.split_once(": ")?;
    let (i, n) = pos.split_once('/')?;
    Some((stage, i.parse().ok()?, n.parse().ok()?, name))
}

/// `COMMIT name` or `[k/n] COMMIT name`.
fn is_commit(line: &str) -> bool {
    let rest = match line.strip_prefix('[') {
        Some(inner) => inner.split_once("] ").map_or("", |(_, r)| r),
        None => line,
    };
    rest == "COMMIT" || rest.starts_with("COMMIT ")
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|c| c.is_ascii_hexdigit())
}

impl BuildahParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one message of the build stream.
    pub fn feed(&mut self, info: &BuildInfo, out: &mut Vec<BuildEvent>) {
        if let Some(stream) = info.stream.as_deref() {
            self.feed_stream(stream, out);
        }
        self.text.feed_id_and_error(info, out);
    }

    /// Whether a step is held back waiting for the line after its header.
    pub fn holds_step(&self) -> bool {
        self.text.read.steps.holds()
    }

    /// Emits a held-back step as not cached: the daemon went on without
    /// saying "Using cache" (a RUN that prints nothing for a while).
    pub fn release(&mut self, out: &mut Vec<BuildEvent>) {
        self.text.read.steps.release(false, out);
    }

    /// Ends the stream: flushes a partial line and a held-back step, and
    /// closes a step left open with [`INCOMPLETE`](super::INCOMPLETE).
    pub fn finish(&mut self, out: &mut Vec<BuildEvent>) {
        self.text.finish(out);
    }

    fn feed_stream(&mut self, s: &str, out: &mut Vec<BuildEvent>) {
        // buildah's own lines come as messages of their own: output left
        // without a newline ends where one starts.
        if self.text.holds_partial() && (s.starts_with("STEP ") || s.starts_with("--> ")) {
            self.text.flush(out);
        }
        self.text.feed(s, out);
    }
}

impl BuildahLines {
    /// A new header: the steps of earlier stages count before it.
    fn number(&mut self, stage: Option<u32>, i: u32, n: u32, name: &str) -> Header {
        if stage != self.stage {
            if self.stage.is_some() {
                self.offset += self.stage_total;
            }
            self.stage = stage;
        }
        self.stage_total = n;
        Header {
            index: self.offset + i,
            total: self.offset + n,
            name: name.to_owned(),
        }
    }
}

impl ReadLine for BuildahLines {
    fn steps(&mut self) -> &mut Steps {
        &mut self.steps
    }

    /// buildah's own lines are recognised on the sanitised text.
    fn line(&mut self, raw: &str, out: &mut Vec<BuildEvent>) {
        let clean = sanitize(raw);
        let line: &str = &clean;
        let arrow = line.strip_prefix("--> ");
        let using_cache = arrow.is_some_and(|a| a.starts_with("Using cache"));
        if self.steps.after_header(using_cache, out) {
            return;
        }
        if let Some((stage, i, n, name)) = parse_header(line) {
            let header = self.number(stage, i, n, name);
            self.steps.header(header, out);
            return;
        }
        if let Some(rest) = arrow {
            if using_cache {
                self.steps.mark_cached();
                return;
            }
            if is_hex(rest) {
                self.steps.close(out);
                return;
            }
        }
        if is_commit(line) {
            self.committed = true;
            return;
        }
        if self.committed
            && (line.starts_with("Successfully tagged ")
                || line.starts_with("Successfully built ")
                || (line.len() == 64 && is_hex(line)))
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
    use crate::engine::parse::INCOMPLETE;

    fn buildah(msgs: &[&str]) -> Vec<BuildEvent> {
        let mut p = BuildahParser::new();
        let mut out = Vec::new();
        for m in msgs {
            p.feed(&stream(m), &mut out);
        }
        p.finish(&mut out);
        out
    }

    fn step(id: u32, total: u32, name: &str, cached: bool) -> BuildEvent {
        BuildEvent::Step {
            id: id.to_string(),
            index: Some(id),
            total: Some(total),
            name: name.into(),
            cached,
            shared: false,
        }
    }

    #[test]
    fn headers() {
        assert_eq!(
            parse_header("STEP 2/4: COPY a /a"),
            Some((None, 2, 4, "COPY a /a"))
        );
        assert_eq!(
            parse_header("[1/2] STEP 1/2: FROM x AS b"),
            Some((Some(1), 1, 2, "FROM x AS b"))
        );
        assert_eq!(parse_header("STEP two: x"), None);
        assert_eq!(parse_header("[1/2] COMMIT x"), None);
        assert!(is_commit("COMMIT docker.io/library/x:1"));
        assert!(is_commit("[2/2] COMMIT x"));
        assert!(!is_commit("COMMITTED"));
    }

    #[test]
    fn a_cached_step_and_a_run_and_the_commit() {
        let ev = buildah(&[
            "STEP 1/3: FROM base:1\n",
            "STEP 2/3: COPY a /a\n",
            "--> Using cache 7683b39b188937aece490e9eb3b9653cf2cade3e1d7192ad80af7c17a0140aab\n",
            "--> 7683b39b188\n",
            "STEP 3/3: RUN echo hi\n",
            "hi\n",
            "COMMIT docker.io/library/x:1\n",
            "--> 87f42fcfdbb\n",
            "Successfully tagged docker.io/library/x:1\n",
            "87f42fcfdbb16a4a2ed6384ff2d064ea0ddab0c4eb7987548757df164145ec1d\n",
            "Successfully built 87f42fcfdbb1\n",
        ]);
        assert_eq!(
            ev,
            vec![
                step(1, 3, "FROM base:1", false),
                done("1", false),
                step(2, 3, "COPY a /a", true),
                done("2", true),
                step(3, 3, "RUN echo hi", false),
                log(Some("3"), "hi"),
                done("3", false),
            ]
        );
    }

    #[test]
    fn stages_count_on_and_partial_lines_end_at_buildahs_own() {
        let ev = buildah(&[
            "[1/2] STEP 1/2: FROM b AS builder\n",
            "[1/2] STEP 2/2: RUN x\n",
            "no newline",
            "--> 9f0883e64b6\n",
            "[2/2] STEP 1/2: FROM b\n",
            "[2/2] STEP 2/2: RUN cat /out\n",
            "--> Using cache 109ae7f17e03\n",
            "[2/2] COMMIT x\n",
            "--> 109ae7f17e0\n",
        ]);
        let names: Vec<_> = ev
            .iter()
            .filter_map(|e| match e {
                BuildEvent::Step {
                    index,
                    total,
                    name,
                    cached,
                    ..
                } => Some((index.unwrap(), total.unwrap(), name.as_str(), *cached)),
                _ => None,
            })
            .collect();
        assert_eq!(
            names,
            vec![
                (1, 2, "FROM b AS builder", false),
                (2, 2, "RUN x", false),
                (3, 4, "FROM b", false),
                (4, 4, "RUN cat /out", true),
            ]
        );
        assert!(ev.contains(&log(Some("2"), "no newline")));
        assert_eq!(ev.last(), Some(&done("4", true)));
    }

    #[test]
    fn release_lets_a_silent_step_go_and_a_hex_line_of_output_stays() {
        let mut p = BuildahParser::new();
        let mut out = Vec::new();
        p.feed(&stream("STEP 1/1: RUN sleep 60; echo 0123abcd\n"), &mut out);
        assert!(out.is_empty() && p.holds_step());
        p.release(&mut out);
        assert_eq!(out, vec![step(1, 1, "RUN sleep 60; echo 0123abcd", false)]);
        assert!(!p.holds_step());
        p.feed(&stream("0123abcd\n"), &mut out);
        p.finish(&mut out);
        assert_eq!(out[1], log(Some("1"), "0123abcd"));
        assert_eq!(
            out[2],
            BuildEvent::StepDone {
                id: "1".into(),
                cached: false,
                error: Some(INCOMPLETE.into())
            }
        );
    }

    #[test]
    fn an_error_closes_the_open_step() {
        let mut p = BuildahParser::new();
        let mut out = Vec::new();
        p.feed(&stream("STEP 1/2: RUN exit 3\n"), &mut out);
        let err = BuildInfo {
            error_detail: Some(bollard::models::ErrorDetail {
                code: None,
                message: Some("building at STEP \"RUN exit 3\": exit status 3\n".into()),
            }),
            ..Default::default()
        };
        p.feed(&err, &mut out);
        p.finish(&mut out);
        let msg = "building at STEP \"RUN exit 3\": exit status 3".to_string();
        assert_eq!(
            out,
            vec![
                step(1, 2, "RUN exit 3", false),
                BuildEvent::StepDone {
                    id: "1".into(),
                    cached: false,
                    error: Some(msg.clone())
                },
                BuildEvent::Error(msg),
            ]
        );
    }
}
