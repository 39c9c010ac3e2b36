//! Several engines with a transfer registry (`transfer_registry:`): the
//! registry `scripts/hosts-registry` starts on 10.214.0.1:5050 (TLS, its CA
//! in /etc/docker/certs.d), reached by the system daemon and the test
//! engines of `scripts/hosts-multi`. A parent moves to its child's engine
//! through it and is exactly the image built (its id; a nonce), a stale
//! image under the parent's tag there is replaced, the child is collected
//! on the first engine through it, the transfer references are gone
//! afterwards; an unreachable registry falls back to streaming, saying why.
#![allow(clippy::unwrap_used, clippy::string_slice)]

mod common;

use std::process::Command;

use common::engines::{docker_at, engines_up, remove_references, LOCAL, M1, M2};
use common::{events, of_type, Stack};

const REGISTRY: &str = "10.214.0.1:5050";

/// Whether the test engines and the transfer registry answer
/// (scripts/setup starts them).
fn hosts_up() -> bool {
    if !engines_up() {
        return false;
    }
    let registry = Command::new("curl")
        .args(["-sf", "-o", "/dev/null", "--max-time", "5"])
        .args([
            "--cacert",
            &format!("/etc/docker/certs.d/{REGISTRY}/ca.crt"),
        ])
        .arg(format!("https://{REGISTRY}/v2/"))
        .status()
        .is_ok_and(|s| s.success());
    if !registry {
        common::cannot_run(
            "the transfer registry on 10.214.0.1:5050 is not up (run scripts/setup)",
        );
    }
    registry
}

/// Every reference on the engine at `host` that starts with `start`.
fn references(host: &str, start: &str) -> Vec<String> {
    let out = docker_at(
        host,
        &[
            "images",
            "--digests",
            "--format",
            "{{.Repository}}:{{.Tag}}@{{.Digest}}",
        ],
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with(start))
        .map(String::from)
        .collect()
}

/// Removes the stack's images and transfer references from both engines.
struct Clean(String);

impl Drop for Clean {
    fn drop(&mut self) {
        for h in [LOCAL, M1, M2] {
            for start in [self.0.clone(), format!("{REGISTRY}/{}", self.0)] {
                remove_references(h, &start);
            }
        }
    }
}

/// A stack of `base` (on local, with a nonce) and `child` (on m1, FROM
/// base, copying the nonce), moved through `registry`.
fn stack(registry: &str) -> (Stack, Clean, String) {
    let s = Stack::new();
    let clean = Clean(s.prefix.clone());
    let nonce = format!("nonce-{}", s.prefix);
    s.busybox_context("base", &format!("RUN echo {nonce} > /nonce\n"));
    s.child_context("child", "base", "RUN cat /nonce > /child\n");
    s.config(&format!(
        "engines:\n  - {{name: local, host: \"{LOCAL}\"}}\n  - {{name: m1, host: \"{M1}\"}}\ntransfer_registry: {registry}\nimages:\n  - {{name: base, tags: [\"{{prefix}}/base:latest\"], engine: local}}\n  - {{name: child, tags: [\"{{prefix}}/child:latest\"], engine: m1}}\n"
    ));
    (s, clean, nonce)
}

/// The finished `transfer` event of `of` moving `from` → `to`.
fn moved<'a>(
    evs: &'a [serde_json::Value],
    of: &str,
    from: &str,
    to: &str,
) -> Option<&'a serde_json::Value> {
    of_type(evs, "transfer", None)
        .into_iter()
        .find(|e| e["of"] == of && e["from"] == from && e["to"] == to && e["done"] == true)
}

#[test]
fn a_parent_moves_through_the_registry_exactly_as_built_and_the_child_is_collected() {
    if !hosts_up() {
        return;
    }
    let (s, _clean, nonce) = stack(&format!("{REGISTRY}/{{prefix}}"));
    // A stale image on m1 under base's tag: the child must not build on it.
    let stale_dir = s.path("stale");
    std::fs::create_dir_all(&stale_dir).unwrap();
    std::fs::write(
        stale_dir.join("Dockerfile"),
        "FROM scratch\nLABEL stale=1\n",
    )
    .unwrap();
    let stale = docker_at(
        M1,
        &[
            "build",
            "-q",
            "-t",
            &s.tag("base"),
            stale_dir.to_str().unwrap(),
        ],
    );
    assert!(stale.status.success(), "{}", common::stderr(&stale));

    let out = s.kiln(&["build", "--json"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let evs = events(&out);
    let registry = format!("{REGISTRY}/{}", s.prefix);
    let base = moved(&evs, "base", "local", "m1").expect("base moved to m1");
    assert_eq!(base["via"], "registry", "{base}");
    assert_eq!(base["registry"], registry.as_str(), "{base}");
    assert!(base["bytes"].as_u64().unwrap() > 0, "{base}");
    let child = moved(&evs, "child", "m1", "local").expect("child collected");
    assert_eq!(child["via"], "registry", "{child}");
    assert!(
        of_type(&evs, "transfer", None)
            .iter()
            .all(|e| e["via"] == "registry"),
        "nothing streamed"
    );
    assert!(
        of_type(&evs, "notice", None)
            .iter()
            .all(|e| !e["message"].as_str().unwrap().contains("streaming it")),
        "no fallback"
    );

    // base's tag on m1 names exactly the image built on local (the stale one
    // replaced), and the child built on it holds this run's nonce.
    let built = |name: &str| {
        of_type(&evs, "built", Some(name))[0]["image_id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let on_m1 = docker_at(M1, &["image", "inspect", "-f", "{{.Id}}", &s.tag("base")]);
    assert_eq!(common::stdout(&on_m1).trim(), built("base"));
    let collected = common::inspect(&s.tag("child")).expect("child on local")["Id"].clone();
    assert_eq!(collected, built("child").as_str());
    let run = common::docker(&["run", "--rm", &s.tag("child"), "cat", "/child"]);
    assert_eq!(common::stdout(&run), format!("{nonce}\n"));

    // The transfer references are gone on both sides (the images stay).
    for h in [LOCAL, M1] {
        assert_eq!(
            references(h, &registry),
            Vec::<String>::new(),
            "transfer references left on {h}"
        );
    }

    // `kiln check` says how images move.
    let check = common::stdout(&s.kiln(&["check"]));
    assert!(
        check.contains(&format!(
            "  images move through registry {registry} (pushed, pulled by digest)\n"
        )),
        "{check}"
    );

    // The log says which way it moved.
    let log = s.kiln(&["logs", "child"]);
    assert!(log.status.success(), "{}", common::stderr(&log));
    let log = common::stdout(&log);
    for line in [
        format!("moving base from engine local to engine m1 through registry {registry}"),
        format!("moving child from engine m1 to engine local through registry {registry}"),
    ] {
        assert!(log.contains(&line), "{line} in {log}");
    }
}

/// One parent to two engines at once: each move pushes and removes its
/// own transfer reference, neither falls back.
#[test]
fn one_parent_moves_to_two_engines_at_once_through_the_registry() {
    if !hosts_up() {
        return;
    }
    let s = Stack::new();
    let _clean = Clean(s.prefix.clone());
    let nonce = format!("nonce-{}", s.prefix);
    s.busybox_context("base", &format!("RUN echo {nonce} > /nonce\n"));
    s.child_context("k1", "base", "RUN cat /nonce > /k\n");
    s.child_context("k2", "base", "RUN cat /nonce > /k\n");
    s.config(&format!(
        "engines:\n  - {{name: local, host: \"{LOCAL}\"}}\n  - {{name: m1, host: \"{M1}\"}}\n  - {{name: m2, host: \"{M2}\"}}\ntransfer_registry: {REGISTRY}/{{prefix}}\ncollect: false\nimages:\n  - {{name: base, tags: [\"{{prefix}}/base:latest\"], engine: local}}\n  - {{name: k1, tags: [\"{{prefix}}/k1:latest\"], engine: m1}}\n  - {{name: k2, tags: [\"{{prefix}}/k2:latest\"], engine: m2}}\n"
    ));
    let out = s.kiln(&["build", "--json"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let evs = events(&out);
    let notices: Vec<&str> = of_type(&evs, "notice", None)
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert!(
        notices.iter().all(|m| !m.contains("streaming it")),
        "{notices:?}"
    );
    for to in ["m1", "m2"] {
        let base = moved(&evs, "base", "local", to).expect("base moved");
        assert_eq!(base["via"], "registry", "{base}");
    }
    let id = of_type(&evs, "built", Some("base"))[0]["image_id"].clone();
    for (h, kid) in [(M1, "k1"), (M2, "k2")] {
        let there = docker_at(h, &["image", "inspect", "-f", "{{.Id}}", &s.tag("base")]);
        assert_eq!(common::stdout(&there).trim(), id.as_str().unwrap());
        let run = docker_at(h, &["run", "--rm", &s.tag(kid), "cat", "/k"]);
        assert_eq!(common::stdout(&run), format!("{nonce}\n"), "{kid}");
    }
    let registry = format!("{REGISTRY}/{}", s.prefix);
    for h in [LOCAL, M1, M2] {
        assert_eq!(references(h, &registry), Vec::<String>::new(), "{h}");
    }
}

#[test]
fn an_unreachable_registry_falls_back_to_streaming_and_says_why() {
    if !hosts_up() {
        return;
    }
    // Nothing listens on port 5999 of the registry's address.
    let (s, _clean, nonce) = stack("10.214.0.1:5999/kiln");
    let out = s.kiln(&["build", "--json"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let evs = events(&out);
    let notices: Vec<String> = of_type(&evs, "notice", None)
        .iter()
        .map(|e| e["message"].as_str().unwrap().to_string())
        .collect();
    let fallback = notices.iter().find(|m| {
        m.starts_with("cannot move base through registry 10.214.0.1:5999/kiln: ")
            && m.contains("connection refused")
            && m.ends_with(
                "; streaming it from engine local to engine m1 instead (and every move after it in this run)",
            )
    });
    assert!(fallback.is_some(), "{notices:?}");
    // Once: the child's collection streams without trying the registry again.
    assert_eq!(
        notices
            .iter()
            .filter(|m| m.contains("through registry"))
            .count(),
        1,
        "{notices:?}"
    );
    let child = moved(&evs, "child", "m1", "local").expect("child collected");
    assert_eq!(child["via"], "stream", "{child}");
    assert!(of_type(&evs, "transfer", Some("child"))
        .iter()
        .filter(|e| e["of"] == "child")
        .all(|e| e["via"] == "stream"));
    let base = moved(&evs, "base", "local", "m1").expect("base moved to m1");
    assert_eq!(base["via"], "stream", "{base}");
    assert!(base.get("registry").is_none(), "{base}");
    let run = common::docker(&["run", "--rm", &s.tag("child"), "cat", "/child"]);
    assert_eq!(common::stdout(&run), format!("{nonce}\n"));
    // Nothing of the failed try is left on local.
    assert_eq!(references(LOCAL, "10.214.0.1:5999/"), Vec::<String>::new());
}

/// `transfer_registry:`'s mistakes at FILE:LINE:COL, in kiln.yaml and in a
/// compose file's `x-kiln:`; without `engines:` a warning (no daemon needed).
#[test]
fn transfer_registry_config_is_checked_where_it_is_written() {
    let s = Stack::new();
    s.busybox_context("x", "");
    let engines = "engines:\n  - {name: a, host: \"unix:///run/a.sock\"}\n";
    for (value, says) in [
        ("https://r.lan/kiln", "has a scheme"),
        ("kiln/moves", "does not start with a registry host"),
        ("r.lan/Kiln", "the repository path must be lowercase"),
        ("r.lan/kiln:1", "has a tag or digest"),
        ("[r.lan]", "'transfer_registry' must be a string"),
    ] {
        s.config(&format!(
            "{engines}transfer_registry: {value}\nimages:\n  - name: x\n"
        ));
        let out = s.kiln(&["check"]);
        assert_eq!(out.status.code(), Some(2), "{value}");
        let err = common::stderr(&out);
        assert!(err.contains("kiln.yaml:3:20: "), "{value}: {err}");
        assert!(err.contains(says), "{value}: {err}");
    }
    s.config("transfer_registry: r.lan:5000/kiln\nimages:\n  - name: x\n");
    let out = s.kiln(&["check"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(
        common::stderr(&out)
            .contains("kiln.yaml:1:20: 'transfer_registry' does nothing without 'engines:'"),
        "{}",
        common::stderr(&out)
    );
    s.write(
        "compose.yaml",
        "x-kiln:\n  engines:\n    - {name: one, host: \"unix:///run/x.sock\"}\n  transfer_registry: Nope\nservices:\n  x:\n    build: ./x\n",
    );
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kiln"));
    cmd.arg("-f").arg(s.path("compose.yaml")).arg("check");
    common::isolate(&mut cmd, s.home.path());
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = common::stderr(&out);
    assert!(
        err.contains(
            "compose.yaml:4:22: transfer_registry 'Nope' does not start with a registry host"
        ),
        "{err}"
    );
    // `kiln schema` takes it at the top level, as the loader does.
    let schema: serde_json::Value =
        serde_json::from_str(&common::stdout(&s.kiln(&["schema"]))).unwrap();
    assert_eq!(schema["properties"]["transfer_registry"]["type"], "string");
}
