//! Parsing what the Docker daemon says during builds and pushes.
//!
//! This module owns turning daemon output into typed events, one file per
//! stream: [`LegacyParser`] (`legacy.rs`) for the classic builder's `stream`
//! messages, [`BuildKitParser`] (`buildkit.rs`) for BuildKit's
//! `moby.buildkit.trace` status items, [`BuildahParser`] (`buildah.rs`) for
//! Podman's builder behind its Docker-compatible API, and
//! [`parse_push_line`] (`push.rs`) for the raw JSON lines of
//! `POST /images/{name}/push`. The build parsers
//! yield the same builder-agnostic [`BuildEvent`]s; what they share (image
//! ids, error messages, sanitised log lines) is here.
//!
//! It must do no I/O: callers read the daemon (through bollard or raw
//! HTTP) and feed what they got; parsers keep only the state needed to
//! reassemble lines and steps. Every text that reaches an event went through
//! [`crate::sanitize::sanitize`], because build output is untrusted.
//!
//! Conventions shared by the build parsers:
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

mod buildah;
mod buildkit;
mod legacy;
mod lines;
mod push;

use std::borrow::Cow;

use bollard::models::{BuildInfo, BuildInfoAux, ImageId};

use crate::protocol::BuildEvent;
use crate::sanitize::sanitize;

pub use buildah::BuildahParser;
pub use buildkit::BuildKitParser;
pub use legacy::LegacyParser;
pub use push::{classify_push_error, parse_push_line, parse_push_refusal, PushLineError};

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
    push_sanitised(out, step, raw, sanitize(raw));
}

/// Push `line`, which is `raw` sanitised, as a Log, unless only escapes
/// made it empty.
fn push_sanitised(out: &mut Vec<BuildEvent>, step: Option<&str>, raw: &str, line: Cow<'_, str>) {
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

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn log(step: Option<&str>, line: &str) -> BuildEvent {
        BuildEvent::Log {
            step: step.map(str::to_owned),
            line: line.to_owned(),
        }
    }

    /// A message of the build stream that carries text.
    pub(super) fn stream(s: &str) -> BuildInfo {
        BuildInfo {
            stream: Some(s.to_string()),
            ..Default::default()
        }
    }

    pub(super) fn done(id: &str, cached: bool) -> BuildEvent {
        BuildEvent::StepDone {
            id: id.into(),
            cached,
            error: None,
        }
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
}
