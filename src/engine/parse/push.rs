//! The push stream: raw JSON lines of `POST /images/{name}/push` as
//! [`PushEvent`]s, and the daemon's push errors classified once, here.

use super::floor_boundary;
use crate::protocol::{DaemonPushError, PushEvent};
use crate::sanitize::sanitize;

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

/// A line of the push stream that is not one kiln can read. Its message
/// is one short line (at most [`PushLineError::MAX_MESSAGE`] bytes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushLineError {
    /// Not JSON: serde_json's words, cut short.
    #[error("malformed push line: {0}")]
    NotJson(String),
    /// JSON, but not an object.
    #[error("malformed push line: not a JSON object")]
    NotAnObject,
}

impl PushLineError {
    /// The longest message, in bytes.
    pub const MAX_MESSAGE: usize = 120;

    fn not_json(e: &serde_json::Error) -> PushLineError {
        const PREFIX: &str = "malformed push line: ";
        let mut detail = e.to_string();
        detail.truncate(floor_boundary(&detail, Self::MAX_MESSAGE - PREFIX.len()));
        PushLineError::NotJson(detail)
    }
}

/// Parses one raw JSON line of `POST /images/{name}/push`.
///
/// An empty (whitespace) line gives no events. Malformed JSON, or JSON that
/// is not an object, is a [`PushLineError`]. All text is sanitised; an
/// error line becomes a classified [`DaemonPushError`].
pub fn parse_push_line(line: &[u8]) -> Result<Vec<PushEvent>, PushLineError> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    let v: serde_json::Value =
        serde_json::from_slice(line).map_err(|e| PushLineError::not_json(&e))?;
    if !v.is_object() {
        return Err(PushLineError::NotAnObject);
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
    fn a_malformed_line_says_which_way() {
        assert_eq!(parse_push_line(b"[1,2]"), Err(PushLineError::NotAnObject));
        assert!(matches!(
            parse_push_line(b"{\"status\":\"Pus"),
            Err(PushLineError::NotJson(_))
        ));
        let long = format!("{{\"{}", "x".repeat(500));
        let e = parse_push_line(long.as_bytes()).unwrap_err();
        assert!(e.to_string().len() <= PushLineError::MAX_MESSAGE, "{e}");
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
            let e = parse_push_line(bad).unwrap_err().to_string();
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
