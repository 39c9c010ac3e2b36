//! Replays output recorded from a real Docker 20.10 daemon (see
//! tests/fixtures/README.md) through the public parsing API.
#![allow(clippy::unwrap_used, clippy::string_slice)]

use std::path::{Path, PathBuf};

use bollard::models::BuildInfo;
use kiln::engine::parse::{
    parse_push_line, BuildKitParser, BuildahParser, LegacyParser, INCOMPLETE,
};
use kiln::protocol::{is_internal_step, BuildEvent, DaemonPushError, PushEvent};
use kiln::sanitize::sanitize_line;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn read_infos(path: &Path) -> Vec<BuildInfo> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<BuildInfo>(l).unwrap())
        .collect()
}

fn run_legacy(infos: &[BuildInfo]) -> Vec<BuildEvent> {
    let mut p = LegacyParser::new();
    let mut out = Vec::new();
    for i in infos {
        p.feed(i, &mut out);
    }
    p.finish(&mut out);
    out
}

fn run_buildkit(infos: &[BuildInfo]) -> Vec<BuildEvent> {
    let mut p = BuildKitParser::new();
    let mut out = Vec::new();
    for i in infos {
        p.feed_info(i, &mut out);
    }
    p.finish(&mut out);
    out
}

pub fn replay_legacy(path: &Path) -> Vec<BuildEvent> {
    run_legacy(&read_infos(path))
}

pub fn replay_buildkit(path: &Path) -> Vec<BuildEvent> {
    run_buildkit(&read_infos(path))
}

pub fn replay_push(path: &Path) -> Vec<PushEvent> {
    std::fs::read(path)
        .unwrap()
        .split(|&b| b == b'\n')
        .flat_map(|l| parse_push_line(l).unwrap())
        .collect()
}

/// (id, name, cached at Step, cached at StepDone, error) per step, checking
/// every Step has exactly one StepDone after it.
fn steps(ev: &[BuildEvent]) -> Vec<(String, String, bool, bool, Option<String>)> {
    let mut res = Vec::new();
    for (i, e) in ev.iter().enumerate() {
        if let BuildEvent::Step {
            id, name, cached, ..
        } = e
        {
            let dones: Vec<_> = ev[i + 1..]
                .iter()
                .filter_map(|d| match d {
                    BuildEvent::StepDone {
                        id: did,
                        cached,
                        error,
                    } if did == id => Some((*cached, error.clone())),
                    _ => None,
                })
                .collect();
            assert_eq!(dones.len(), 1, "step {name} has {} StepDone", dones.len());
            let (done_cached, error) = dones[0].clone();
            res.push((id.clone(), name.clone(), *cached, done_cached, error));
        }
    }
    let n_steps = ev
        .iter()
        .filter(|e| matches!(e, BuildEvent::Step { .. }))
        .count();
    let n_done = ev
        .iter()
        .filter(|e| matches!(e, BuildEvent::StepDone { .. }))
        .count();
    assert_eq!(n_steps, n_done);
    res
}

fn names_cached(ev: &[BuildEvent]) -> Vec<(String, bool)> {
    steps(ev)
        .into_iter()
        .map(|(_, n, c, d, _)| {
            assert_eq!(c, d, "cached flag changed for {n}");
            (n, c)
        })
        .collect()
}

fn logs(ev: &[BuildEvent]) -> Vec<(Option<String>, String)> {
    ev.iter()
        .filter_map(|e| match e {
            BuildEvent::Log { step, line } => Some((step.clone(), line.clone())),
            _ => None,
        })
        .collect()
}

fn image_ids(ev: &[BuildEvent]) -> Vec<String> {
    ev.iter()
        .filter_map(|e| match e {
            BuildEvent::ImageId(id) => Some(id.clone()),
            _ => None,
        })
        .collect()
}

fn errors(ev: &[BuildEvent]) -> Vec<String> {
    ev.iter()
        .filter_map(|e| match e {
            BuildEvent::Error(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

fn assert_clean_text(ev: &[BuildEvent]) {
    for e in ev {
        let texts: Vec<&str> = match e {
            BuildEvent::Log { line, .. } => vec![line],
            BuildEvent::Step { name, .. } => vec![name],
            BuildEvent::StepDone { error, .. } => error.iter().map(|s| s.as_str()).collect(),
            BuildEvent::Error(m) => vec![m],
            BuildEvent::ImageId(_) => vec![],
        };
        for t in texts {
            assert!(
                !t.chars().any(|c| c.is_control() || c == '\u{9b}'),
                "control char in {t:?}"
            );
            assert!(!t.contains('\x1b') && !t.contains('\r'), "{t:?}");
        }
    }
}

fn s(x: &str) -> String {
    x.to_string()
}

const ALL_BUILD_FIXTURES: [&str; 10] = [
    "legacy_success.jsonl",
    "legacy_cache_hits.jsonl",
    "legacy_failure.jsonl",
    "legacy_multiline_and_escapes.jsonl",
    "buildkit_success.jsonl",
    "buildkit_cached.jsonl",
    "buildkit_failure.jsonl",
    "buildkit_multiline_and_escapes.jsonl",
    "legacy_partial_stdout_then_stderr.jsonl",
    "buildkit_partial_stdout_then_stderr.jsonl",
];

const RUN_INSTALL: &str = r#"RUN ["/bin/busybox","--install","-s","/bin"]"#;
const RUN_ECHO: &str = r#"RUN echo "kiln fixture success" && echo "second line""#;

// ------------------------------------------------------------- legacy

#[test]
fn legacy_success_steps_logs_and_image() {
    let ev = replay_legacy(&fixture("legacy_success.jsonl"));
    assert_clean_text(&ev);
    let st = steps(&ev);
    let ids: Vec<_> = st.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(ids, ["1", "2", "3", "4", "5"]);
    assert_eq!(
        names_cached(&ev),
        vec![
            (s("FROM scratch"), false),
            (s("COPY busybox /bin/busybox"), false),
            (s(RUN_INSTALL), false),
            (s(RUN_ECHO), false),
            (s("ENV KILN_FIXTURE=success"), false),
        ]
    );
    assert!(st.iter().all(|s| s.4.is_none()));
    match &ev[0] {
        BuildEvent::Step { index, total, .. } => assert_eq!((*index, *total), (Some(1), Some(5))),
        e => panic!("{e:?}"),
    }
    assert_eq!(
        logs(&ev),
        vec![
            (Some(s("4")), s("kiln fixture success")),
            (Some(s("4")), s("second line")),
        ]
    );
    assert_eq!(
        image_ids(&ev),
        ["sha256:3a2f6a75123f30a5d15e3bdd28d897a411e6a92d02ea6772bcfc849dbd6fbce4"]
    );
    assert!(errors(&ev).is_empty());
    // The image id comes after the last step is done.
    assert!(matches!(ev.last(), Some(BuildEvent::ImageId(_))));
}

#[test]
fn legacy_cache_hits_marked_at_step_time() {
    let ev = replay_legacy(&fixture("legacy_cache_hits.jsonl"));
    assert_clean_text(&ev);
    assert_eq!(
        names_cached(&ev),
        vec![
            (s("FROM scratch"), false),
            (s("COPY busybox /bin/busybox"), true),
            (s(RUN_INSTALL), true),
            (s(RUN_ECHO), true),
            (s("ENV KILN_FIXTURE=success"), true),
            (s(r#"RUN echo "a new step after cache hits""#), false),
        ]
    );
    assert_eq!(
        logs(&ev),
        vec![(Some(s("6")), s("a new step after cache hits"))]
    );
    assert_eq!(
        image_ids(&ev),
        ["sha256:680f4322ff7877496e7c4246a17d485e1379d92755ce7f49ef711e9120200c6f"]
    );
}

#[test]
fn legacy_failure_error_and_failed_step() {
    let ev = replay_legacy(&fixture("legacy_failure.jsonl"));
    assert_clean_text(&ev);
    let msg = r#"The command '/bin/sh -c echo "about to fail" && echo "to stderr" >&2 && exit 3' returned a non-zero code: 3"#;
    assert_eq!(errors(&ev), [msg]);
    let st = steps(&ev);
    assert_eq!(st.len(), 4);
    assert!(st[..3].iter().all(|s| s.4.is_none()));
    assert_eq!(st[3].0, "4");
    assert_eq!(st[3].4.as_deref(), Some(msg));
    // stdout and (colour-wrapped) stderr both attributed to step 4.
    assert_eq!(
        logs(&ev),
        vec![
            (Some(s("4")), s("about to fail")),
            (Some(s("4")), s("to stderr")),
        ]
    );
    assert!(image_ids(&ev).is_empty());
    assert_eq!(ev.last(), Some(&BuildEvent::Error(msg.to_string())));
}

const ESCAPE_LINES: [&str; 7] = [
    "red plain bold green",
    "progress 100%",
    "after title",
    "cleared",
    "clip",
    "tab     here",
    "no newline at end",
];

#[test]
fn legacy_escapes_are_stripped() {
    let ev = replay_legacy(&fixture("legacy_multiline_and_escapes.jsonl"));
    assert_clean_text(&ev);
    let l = logs(&ev);
    let expected: Vec<_> = ESCAPE_LINES.iter().map(|x| (Some(s("4")), s(x))).collect();
    assert_eq!(l, expected);
    assert_eq!(steps(&ev).len(), 4);
    assert_eq!(image_ids(&ev).len(), 1);
}

/// The classic builder's frame around each write of a RUN's stderr.
const STDERR_ON: &str = "\x1b[91m";
const STDERR_OFF: &str = "\x1b[0m";

#[test]
fn legacy_same_events_when_stream_messages_are_split() {
    for name in ALL_BUILD_FIXTURES
        .iter()
        .filter(|n| n.starts_with("legacy"))
    {
        let infos = read_infos(&fixture(name));
        let whole = run_legacy(&infos);
        for (i, info) in infos.iter().enumerate() {
            let Some(text) = &info.stream else { continue };
            // The daemon writes each of its own messages whole; only build
            // output can arrive in arbitrary pieces.
            if ["Step ", " ---> ", "Removing ", "Successfully "]
                .iter()
                .any(|m| text.starts_with(m))
            {
                continue;
            }
            // A RUN's stderr comes one write at a time, each framed by
            // the daemon's colour switch: a piece of one is framed too.
            let (open, inner, close) = match text
                .strip_prefix(STDERR_ON)
                .and_then(|t| t.strip_suffix(STDERR_OFF))
            {
                Some(inner) => (STDERR_ON, inner, STDERR_OFF),
                None => ("", text.as_str(), ""),
            };
            for cut in 1..inner.len() {
                if !inner.is_char_boundary(cut) {
                    continue;
                }
                let mut split = infos.clone();
                let a = BuildInfo {
                    stream: Some(format!("{open}{}{close}", &inner[..cut])),
                    ..Default::default()
                };
                let b = BuildInfo {
                    stream: Some(format!("{open}{}{close}", &inner[cut..])),
                    ..Default::default()
                };
                split.splice(i..=i, [a, b]);
                assert_eq!(
                    run_legacy(&split),
                    whole,
                    "{name}: message {i} cut at {cut}"
                );
            }
        }
    }
}

// ----------------------------------------------------------- buildkit

#[test]
fn buildkit_success_steps_logs_and_image() {
    let ev = replay_buildkit(&fixture("buildkit_success.jsonl"));
    assert_clean_text(&ev);
    let st = steps(&ev);
    assert_eq!(
        names_cached(&ev),
        vec![
            (s("[internal] load remote build context"), false),
            (s("copy /context /"), false),
            (s("[1/3] COPY busybox /bin/busybox"), false),
            (s(&format!("[2/3] {RUN_INSTALL}")), false),
            (s(&format!("[3/3] {RUN_ECHO}")), false),
            (s("exporting to image"), false),
        ]
    );
    let user: Vec<_> = st.iter().filter(|s| !is_internal_step(&s.1)).collect();
    assert_eq!(user.len(), 3);
    assert!(st
        .iter()
        .all(|s| s.0.starts_with("sha256:") && s.4.is_none()));
    let echo = &st[4].0;
    assert_eq!(
        logs(&ev),
        vec![
            (Some(echo.clone()), s("kiln fixture success")),
            (Some(echo.clone()), s("second line")),
        ]
    );
    assert_eq!(
        image_ids(&ev),
        ["sha256:cb64536f5452ca78899e2529634bb565d8f0e057d8e6a8afdfaf29fce6be4183"]
    );
    assert!(errors(&ev).is_empty());
}

#[test]
fn buildkit_cached_vertices() {
    let ev = replay_buildkit(&fixture("buildkit_cached.jsonl"));
    assert_clean_text(&ev);
    assert_eq!(
        names_cached(&ev),
        vec![
            (s("[internal] load remote build context"), false),
            (s("copy /context /"), false),
            (s("[1/4] COPY busybox /bin/busybox"), true),
            (s(&format!("[2/4] {RUN_INSTALL}")), true),
            (s(&format!("[3/4] {RUN_ECHO}")), true),
            (s(r#"[4/4] RUN echo "a new step after cache hits""#), false),
            (s("exporting to image"), false),
        ]
    );
    let st = steps(&ev);
    assert_eq!(
        logs(&ev),
        vec![(Some(st[5].0.clone()), s("a new step after cache hits"))]
    );
    assert_eq!(
        image_ids(&ev),
        ["sha256:5d37eb1b9976e19b4495ca9e2b107a6b5bbe3470e4e1aa6cac8e1096c9468cd5"]
    );
}

#[test]
fn buildkit_failure_vertex_error_and_error() {
    let ev = replay_buildkit(&fixture("buildkit_failure.jsonl"));
    assert_clean_text(&ev);
    let msg = r#"executor failed running [/bin/sh -c echo "about to fail" && echo "to stderr" >&2 && exit 3]: exit code: 3"#;
    assert_eq!(errors(&ev), [msg]);
    let st = steps(&ev);
    let names: Vec<_> = st.iter().map(|s| s.1.as_str()).collect();
    // [4/4] was queued but never started: no Step for it.
    assert_eq!(
        names,
        [
            "[internal] load remote build context",
            "copy /context /",
            "[1/4] COPY busybox /bin/busybox",
            &format!("[2/4] {RUN_INSTALL}"),
            r#"[3/4] RUN echo "about to fail" && echo "to stderr" >&2 && exit 3"#,
        ]
    );
    let failed = &st[4];
    assert_eq!(failed.4.as_deref(), Some(msg));
    assert!(st[..4].iter().all(|s| s.4.is_none()));
    assert_eq!(
        logs(&ev),
        vec![
            (Some(failed.0.clone()), s("about to fail")),
            (Some(failed.0.clone()), s("to stderr")),
        ]
    );
    assert!(image_ids(&ev).is_empty());
}

#[test]
fn buildkit_escapes_are_stripped_and_partial_line_flushed() {
    let ev = replay_buildkit(&fixture("buildkit_multiline_and_escapes.jsonl"));
    assert_clean_text(&ev);
    let st = steps(&ev);
    let run = st.iter().find(|s| s.1.starts_with("[3/3]")).unwrap();
    let expected: Vec<_> = ESCAPE_LINES
        .iter()
        .map(|x| (Some(run.0.clone()), s(x)))
        .collect();
    assert_eq!(logs(&ev), expected);
    // The unterminated last line is flushed when its vertex completes,
    // i.e. before its StepDone.
    let last_log = ev
        .iter()
        .position(|e| matches!(e, BuildEvent::Log { line, .. } if line == "no newline at end"))
        .unwrap();
    let done = ev
        .iter()
        .position(|e| matches!(e, BuildEvent::StepDone { id, .. } if *id == run.0))
        .unwrap();
    assert!(last_log < done);
}

#[test]
fn buildkit_truncated_stream_closes_open_steps() {
    let infos = read_infos(&fixture("buildkit_success.jsonl"));
    // Cut just after [3/3] started (its log lines follow).
    let cut = infos
        .iter()
        .position(|i| {
            matches!(&i.aux, Some(bollard::models::BuildInfoAux::BuildKit(s)) if !s.logs.is_empty())
        })
        .unwrap();
    let ev = run_buildkit(&infos[..cut]);
    let st = steps(&ev);
    let last = st.last().unwrap();
    assert!(last.1.starts_with("[3/3]"));
    assert_eq!(last.4.as_deref(), Some(INCOMPLETE));
}

// ----------------------------------------------------------- both

/// The RUN of both `*_partial_stdout_then_stderr` fixtures prints, 0.5 s
/// apart: `Reading package lists... ` (stdout, no newline),
/// `W: err first >&2` (stderr), `Done` and `out2` (stdout). The lines keep
/// the daemon's order: the unfinished stdout line comes out when stderr
/// takes over, not after it.
const INTERLEAVED: [&str; 4] = [
    "Reading package lists... ",
    "W: err first >&2",
    "Done",
    "out2",
];

#[test]
fn legacy_stdout_and_stderr_keep_the_daemons_order() {
    let ev = replay_legacy(&fixture("legacy_partial_stdout_then_stderr.jsonl"));
    let lines: Vec<String> = logs(&ev).into_iter().map(|(_, l)| l).collect();
    assert_eq!(lines, INTERLEAVED);
}

#[test]
fn buildkit_stdout_and_stderr_keep_the_daemons_order() {
    let ev = replay_buildkit(&fixture("buildkit_partial_stdout_then_stderr.jsonl"));
    let lines: Vec<String> = logs(&ev).into_iter().map(|(_, l)| l).collect();
    assert_eq!(lines, INTERLEAVED);
}

#[test]
fn cut_lines_and_garbage_never_panic() {
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for name in ALL_BUILD_FIXTURES.iter().chain(BUILDAH_FIXTURES.iter()) {
        let text = std::fs::read_to_string(fixture(name)).unwrap();
        let mut legacy = LegacyParser::new();
        let mut bk = BuildKitParser::new();
        let mut buildah = BuildahParser::new();
        let mut out = Vec::new();
        for line in text.lines() {
            for cut in [line.len() / 2, line.len() / 3, line.len().saturating_sub(3)] {
                let half = &line.as_bytes()[..cut];
                // Deserialising fails cleanly; nothing to feed then.
                if let Ok(info) = serde_json::from_slice::<BuildInfo>(half) {
                    legacy.feed(&info, &mut out);
                    bk.feed_info(&info, &mut out);
                    buildah.feed(&info, &mut out);
                }
                let _ = parse_push_line(half);
            }
            // Whole lines through the "wrong" parser too.
            let info: BuildInfo = serde_json::from_str(line).unwrap();
            legacy.feed(&info, &mut out);
            bk.feed_info(&info, &mut out);
            buildah.feed(&info, &mut out);
        }
        legacy.finish(&mut out);
        bk.finish(&mut out);
        buildah.finish(&mut out);
        assert_clean_text(&out);
    }
    // Random bytes as stream text, log bytes, names and push lines.
    let alphabet: &[u8] =
        b"\x1b[]\\\x07\r\n\t\x08P_^X;0123m{}\":,a\xc2\x9b\x9c\x9d\xe2\x9c\x93\xff";
    let mut legacy = LegacyParser::new();
    let mut bk = BuildKitParser::new();
    let mut buildah = BuildahParser::new();
    let mut out = Vec::new();
    for round in 0..3000 {
        let len = (next() % 40) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
            .collect();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let _ = sanitize_line(&text);
        let _ = parse_push_line(&bytes);
        let info = BuildInfo {
            stream: Some(format!(
                "{}{text}",
                if round % 7 == 0 { "Step 1/2 : " } else { "" }
            )),
            status: (round % 5 == 0).then(|| text.clone()),
            id: (round % 3 == 0).then(|| text.clone()),
            ..Default::default()
        };
        legacy.feed(&info, &mut out);
        let buildah_info = BuildInfo {
            stream: Some(format!(
                "{}{text}",
                ["", "STEP 1/2: ", "[1/2] STEP 2/2: ", "--> ", "COMMIT "][round % 5]
            )),
            ..Default::default()
        };
        buildah.feed(&buildah_info, &mut out);
        if round % 11 == 0 {
            buildah.release(&mut out);
        }
        let status = bollard::moby::buildkit::v1::StatusResponse {
            vertexes: vec![bollard::moby::buildkit::v1::Vertex {
                digest: format!("d{}", next() % 4),
                name: text.clone(),
                started: (next() % 2 == 0).then(Default::default),
                completed: (next() % 3 == 0).then(Default::default),
                error: text.clone(),
                ..Default::default()
            }],
            logs: vec![bollard::moby::buildkit::v1::VertexLog {
                vertex: format!("d{}", next() % 4),
                stream: (next() % 3) as i64,
                msg: bytes.clone(),
                ..Default::default()
            }],
            ..Default::default()
        };
        bk.feed(&status, &mut out);
    }
    legacy.finish(&mut out);
    bk.finish(&mut out);
    buildah.finish(&mut out);
    assert_clean_text(&out);
}

// --------------------------------------------------------------- push

const PUSH_NEW_DIGEST: &str =
    "sha256:b8002bdbe77d5bfccb4f0ad05c1448eedbbe1c4151f1f9efee67d3e50933ca6f";
const PUSH_V2_DIGEST: &str =
    "sha256:410dc2c9da106489abe0d3992db31236d0d9359b64cfe2b5134d352bb8f4c134";

fn layer_statuses(ev: &[PushEvent], id: &str) -> Vec<String> {
    ev.iter()
        .filter_map(|e| match e {
            PushEvent::Layer { id: l, status, .. } if l == id => Some(status.clone()),
            _ => None,
        })
        .collect()
}

fn digests(ev: &[PushEvent]) -> Vec<PushEvent> {
    ev.iter()
        .filter(|e| matches!(e, PushEvent::Digest { .. }))
        .cloned()
        .collect()
}

#[test]
fn push_new_layers_progress_clamped_and_digest() {
    let ev = replay_push(&fixture("push_new.jsonl"));
    assert_eq!(
        ev[0],
        PushEvent::Status(s("The push refers to repository [127.0.0.1:5001/kiln/x]"))
    );
    assert_eq!(
        layer_statuses(&ev, "0e1d1955bd16"),
        ["Preparing", "Pushing", "Pushing", "Pushed"]
    );
    assert_eq!(
        layer_statuses(&ev, "e9d438ee2b8d"),
        ["Preparing", "Pushing", "Pushing", "Pushing", "Pushed"]
    );
    // The daemon reports current > total at the end of an upload.
    let pushing: Vec<_> = ev
        .iter()
        .filter_map(|e| match e {
            PushEvent::Layer {
                id,
                status,
                current,
                total,
            } if status == "Pushing" => Some((id.as_str(), *current, *total)),
            _ => None,
        })
        .collect();
    assert_eq!(
        pushing,
        [
            ("e9d438ee2b8d", Some(33792), Some(1982256)),
            ("0e1d1955bd16", Some(512), Some(3216)),
            ("0e1d1955bd16", Some(3216), Some(3216)),
            ("e9d438ee2b8d", Some(1606656), Some(1982256)),
            ("e9d438ee2b8d", Some(1982256), Some(1982256)),
        ]
    );
    let d = PushEvent::Digest {
        tag: s("latest"),
        digest: s(PUSH_NEW_DIGEST),
        size: Some(736),
    };
    // Once from the status line, once from aux.
    assert_eq!(digests(&ev), [d.clone(), d]);
    assert!(!ev.iter().any(|e| matches!(e, PushEvent::Error(_))));
}

#[test]
fn push_existing_and_mounted_layers() {
    let ev = replay_push(&fixture("push_existing_layers.jsonl"));
    for id in ["0e1d1955bd16", "e9d438ee2b8d"] {
        assert_eq!(
            layer_statuses(&ev, id),
            ["Preparing", "Layer already exists"]
        );
    }
    let d = PushEvent::Digest {
        tag: s("v2"),
        digest: s(PUSH_V2_DIGEST),
        size: Some(736),
    };
    assert_eq!(digests(&ev), [d.clone(), d]);

    let ev = replay_push(&fixture("push_mounted.jsonl"));
    for id in ["0e1d1955bd16", "e9d438ee2b8d"] {
        assert_eq!(
            layer_statuses(&ev, id),
            ["Preparing", "Mounted from kiln/x"]
        );
    }
    assert_eq!(digests(&ev).len(), 2);
}

#[test]
fn push_failures() {
    for (name, error) in [
        (
            "push_auth_failure.jsonl",
            DaemonPushError::Authentication(s("unauthorized: authentication required")),
        ),
        (
            "push_no_credentials.jsonl",
            DaemonPushError::Authentication(s("no basic auth credentials")),
        ),
        (
            "push_registry_down.jsonl",
            DaemonPushError::Other(s(
                r#"Get "http://127.0.0.1:5009/v2/": dial tcp 127.0.0.1:5009: connect: connection refused"#,
            )),
        ),
    ] {
        let ev = replay_push(&fixture(name));
        assert_eq!(ev.last(), Some(&PushEvent::Error(error)), "{name}");
        assert!(digests(&ev).is_empty());
    }
}

#[test]
fn push_cut_lines_are_errors_not_panics() {
    for name in [
        "push_new.jsonl",
        "push_existing_layers.jsonl",
        "push_mounted.jsonl",
        "push_auth_failure.jsonl",
    ] {
        let data = std::fs::read(fixture(name)).unwrap();
        for line in data.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            for cut in 1..line.len() {
                let r = parse_push_line(&line[..cut]);
                if let Err(e) = r.map_err(|e| e.to_string()) {
                    assert!(e.starts_with("malformed push line"), "{e}");
                }
            }
        }
    }
}

// ------------------------------------------------------------- buildah (Podman 4.3.1)

fn run_buildah(infos: &[BuildInfo]) -> Vec<BuildEvent> {
    let mut p = BuildahParser::new();
    let mut out = Vec::new();
    for i in infos {
        p.feed(i, &mut out);
    }
    p.finish(&mut out);
    out
}

fn replay_buildah(name: &str) -> Vec<BuildEvent> {
    let ev = run_buildah(&read_infos(&fixture(name)));
    assert_clean_text(&ev);
    ev
}

const BUILDAH_FIXTURES: [&str; 6] = [
    "buildah_success.jsonl",
    "buildah_cache_hits.jsonl",
    "buildah_stdout_stderr.jsonl",
    "buildah_failure.jsonl",
    "buildah_multi_stage.jsonl",
    "buildah_multi_stage_cached.jsonl",
];

const BUILDAH_INSTALL: &str = r#"RUN ["/bin/busybox", "--install", "-s", "/bin"]"#;

/// The steps are named as the legacy builder names them (`Step 2/4 :
/// COPY …` there, `STEP 2/4: COPY …` here), numbered alike, nothing cached
/// on a first build, and buildah's own lines (`-->`, `COMMIT`, the tag
/// and id lines) are not logged.
#[test]
fn buildah_success_steps_and_image() {
    let ev = replay_buildah("buildah_success.jsonl");
    let st = steps(&ev);
    let ids: Vec<_> = st.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(ids, ["1", "2", "3", "4"]);
    assert_eq!(
        names_cached(&ev),
        vec![
            (s("FROM scratch"), false),
            (s("COPY busybox /bin/busybox"), false),
            (s(BUILDAH_INSTALL), false),
            (s("ENV PATH=/bin"), false),
        ]
    );
    assert!(st.iter().all(|s| s.4.is_none()));
    assert_eq!(logs(&ev), vec![]);
    assert_eq!(
        image_ids(&ev),
        [s(
            "sha256:c417d15eebd2053da609fc18e6b2dca1b81708c6fc5c831699fdbfbbce93106a"
        )]
    );
    match &ev[0] {
        BuildEvent::Step { index, total, .. } => assert_eq!((*index, *total), (Some(1), Some(4))),
        e => panic!("{e:?}"),
    }
}

/// `--> Using cache <id>` makes its step cached (the last step's comes
/// before the COMMIT); FROM is not a cache hit, as under the legacy builder.
#[test]
fn buildah_cache_hits() {
    let ev = replay_buildah("buildah_cache_hits.jsonl");
    assert_eq!(
        names_cached(&ev),
        vec![
            (s("FROM lp-rec-base:1"), false),
            (s("COPY a.txt /a.txt"), true),
            (s("RUN echo hello && echo oops >&2"), true),
            (s("RUN cat /a.txt"), true),
        ]
    );
    assert_eq!(logs(&ev), vec![]);
    assert_eq!(image_ids(&ev).len(), 1);
}

/// A RUN's stdout and stderr lines are its step's.
#[test]
fn buildah_output_is_its_steps() {
    let ev = replay_buildah("buildah_stdout_stderr.jsonl");
    assert_eq!(
        names_cached(&ev).iter().filter(|(_, c)| *c).count(),
        0,
        "a.txt changed: nothing after FROM is cached"
    );
    assert_eq!(
        logs(&ev),
        vec![
            (Some(s("3")), s("hello")),
            (Some(s("3")), s("oops")),
            (Some(s("4")), s("two")),
        ]
    );
}

#[test]
fn buildah_failure_closes_the_step_with_the_error() {
    let infos = read_infos(&fixture("buildah_failure.jsonl"));
    let ev = run_buildah(&infos);
    let msg =
        s(r#"building at STEP "RUN echo partial && exit 3": while running runtime: exit status 3"#);
    let st = steps(&ev);
    assert_eq!(st.len(), 3);
    assert_eq!(st[1].4, None);
    assert_eq!(st[2].1, "RUN echo partial && exit 3");
    assert_eq!(st[2].4, Some(msg.clone()));
    assert_eq!(errors(&ev), [msg]);
    assert_eq!(
        logs(&ev),
        vec![(Some(s("2")), s("before")), (Some(s("3")), s("partial"))]
    );
    assert!(image_ids(&ev).is_empty());
}

/// Buildah numbers each stage's steps from 1 (`[2/2] STEP 1/3`); kiln
/// numbers them through the Dockerfile, as the legacy builder does.
#[test]
fn buildah_multi_stage_numbers_through_the_dockerfile() {
    for (name, cached) in [
        ("buildah_multi_stage.jsonl", false),
        ("buildah_multi_stage_cached.jsonl", true),
    ] {
        let ev = replay_buildah(name);
        let st = steps(&ev);
        let ids: Vec<_> = st.iter().map(|s| s.0.as_str()).collect();
        assert_eq!(ids, ["1", "2", "3", "4", "5"], "{name}");
        assert_eq!(
            names_cached(&ev),
            vec![
                (s("FROM lp-rec-base:1 AS builder"), false),
                (s("RUN echo built > /out"), cached),
                (s("FROM lp-rec-base:1"), false),
                (s("COPY --from=builder /out /out"), cached),
                (s("RUN cat /out"), cached),
            ],
            "{name}"
        );
        let expected_logs = if cached {
            vec![]
        } else {
            vec![(Some(s("5")), s("built"))]
        };
        assert_eq!(logs(&ev), expected_logs, "{name}");
        // The last stage's total is the Dockerfile's.
        match ev
            .iter()
            .rev()
            .find(|e| matches!(e, BuildEvent::Step { .. }))
        {
            Some(BuildEvent::Step { index, total, .. }) => {
                assert_eq!((*index, *total), (Some(5), Some(5)))
            }
            e => panic!("{e:?}"),
        }
    }
}

/// Output arriving in pieces (not buildah's own lines, which come whole)
/// gives the same events.
#[test]
fn buildah_same_events_when_stream_messages_are_split() {
    for name in BUILDAH_FIXTURES {
        let infos = read_infos(&fixture(name));
        let whole = run_buildah(&infos);
        let mut split = Vec::new();
        for info in &infos {
            match &info.stream {
                Some(text)
                    if !text.starts_with("STEP ")
                        && !text.starts_with("-->")
                        && !text.starts_with('[') =>
                {
                    let cut = text.len() / 2;
                    for piece in [&text[..cut], &text[cut..]] {
                        split.push(BuildInfo {
                            stream: Some(piece.to_string()),
                            ..Default::default()
                        });
                    }
                }
                _ => split.push(info.clone()),
            }
        }
        assert_eq!(run_buildah(&split), whole, "{name}");
    }
}

/// Podman's push stream: no layer progress, the digest in a status line.
#[test]
fn push_through_podman_says_its_digest() {
    let ev = replay_push(&fixture("push_podman.jsonl"));
    assert_eq!(
        digests(&ev),
        [PushEvent::Digest {
            tag: s("1"),
            digest: s("sha256:5936aa3b74ed8f5b329cf129187af915ef42db6353f5af6a8d6741653c35640c"),
            size: Some(1049),
        }]
    );
    assert!(!ev.iter().any(|e| matches!(e, PushEvent::Error(_))));
}
