//! One stack across several engines: the system daemon and the two test
//! engines `scripts/hosts-multi` starts in network namespaces (kilnm1,
//! kilnm2: `tcp://10.214.N.2:2375`). Placement, parents moved to where
//! their children build (by id, proved fresh by a nonce), collecting on
//! the first engine, a rerun that skips everything, pins, an engine
//! unreachable at the start, a partition survived, pushes from the engine
//! that holds the image, an engine out of a watch session (at the start,
//! then partitioned) rejoining it, and the config's errors.
#![allow(clippy::unwrap_used, clippy::string_slice)]

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use common::engines::{docker_at, engines_up, remove_references, M1, M2};
use common::{events, of_type, Stack};

/// The partition test takes kilnm2 off the network: it runs alone (write),
/// the other tests that use the engines beside each other (read).
static ENGINES: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// Removes the stack's images from the test engines when dropped (the
/// stack itself cleans the system daemon).
struct CleanEngines(String);

impl Drop for CleanEngines {
    fn drop(&mut self) {
        for h in [M1, M2] {
            remove_references(h, &self.0);
        }
    }
}

fn engines_yaml(extra: &str) -> String {
    format!(
        "engines:\n  - {{name: local, host: \"unix:///var/run/docker.sock\", jobs: 2}}\n  - {{name: m1, host: \"{M1}\", jobs: 2}}\n  - {{name: m2, host: \"{M2}\", jobs: 2}}\n{extra}"
    )
}

/// The engine each image's `started` event names.
fn started_on(evs: &[serde_json::Value]) -> Vec<(String, String)> {
    of_type(evs, "started", None)
        .into_iter()
        .map(|e| {
            (
                e["image"].as_str().unwrap().to_string(),
                e["engine"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn a_wide_stack_spreads_moves_parents_collects_and_skips_on_rerun() {
    let _shared = ENGINES.read().unwrap_or_else(|e| e.into_inner());
    if !engines_up() {
        return;
    }
    let s = Stack::new();
    let _clean = CleanEngines(s.prefix.clone());
    let nonce = format!("nonce-{}", s.prefix);
    s.busybox_context("base", &format!("RUN echo {nonce} > /nonce\n"));
    let kids = ["a", "b", "c", "d", "e"];
    for k in kids {
        s.child_context(k, "base", &format!("RUN sleep 2 && echo {k} > /{k}\n"));
    }
    s.child_context("gc", "a", "RUN cat /nonce /a > /gc\n");
    let mut yaml = engines_yaml("images:\n");
    yaml.push_str("  - {name: base, tags: [\"{prefix}/base:latest\"]}\n");
    yaml.push_str("  - {name: a, tags: [\"{prefix}/a:latest\"], engine: m1}\n");
    for k in &kids[1..] {
        yaml.push_str(&format!(
            "  - {{name: {k}, tags: [\"{{prefix}}/{k}:latest\"]}}\n"
        ));
    }
    yaml.push_str("  - {name: gc, tags: [\"{prefix}/gc:latest\"], engine: m2}\n");
    s.config(&yaml);

    let out = s.kiln(&["build", "--json"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let evs = events(&out);
    let started = started_on(&evs);
    assert_eq!(started.len(), 7, "{started:?}");
    let engines: BTreeSet<&str> = started.iter().map(|(_, e)| e.as_str()).collect();
    assert_eq!(
        engines,
        ["local", "m1", "m2"].into_iter().collect(),
        "the stack spreads over the three engines: {started:?}"
    );
    assert!(
        started.contains(&("a".into(), "m1".into())),
        "a is pinned to m1"
    );
    assert!(
        started.contains(&("gc".into(), "m2".into())),
        "gc is pinned to m2"
    );
    // gc's parent a, built on m1, was moved to m2 before gc built there.
    let moved_a = of_type(&evs, "transfer", None).into_iter().any(|e| {
        e["image"] == "gc"
            && e["of"] == "a"
            && e["from"] == "m1"
            && e["to"] == "m2"
            && e["done"] == true
    });
    assert!(moved_a, "a moved from m1 to m2 for gc");
    // Every image is on the first engine, with the id its build reported;
    // gc holds this run's nonce: its grandparent is this run's base.
    for e in of_type(&evs, "built", None).into_iter() {
        let name = e["image"].as_str().unwrap();
        let id =
            common::inspect(&s.tag(name)).expect("collected on the first engine")["Id"].clone();
        assert_eq!(
            id, e["image_id"],
            "{name} on the first engine is the one built"
        );
    }
    let gc = common::docker(&["run", "--rm", &s.tag("gc"), "cat", "/gc"]);
    assert_eq!(common::stdout(&gc), format!("{nonce}\na\n"));

    // A second run: everything is where it was built, nothing rebuilds.
    let again = s.kiln(&["build", "--json"]);
    assert!(again.status.success(), "{}", common::stderr(&again));
    let evs = events(&again);
    assert_eq!(of_type(&evs, "started", None).len(), 0, "nothing rebuilt");
    let summary = of_type(&evs, "summary", None)[0];
    assert_eq!(summary["skipped"].as_array().unwrap().len(), 7);
}

#[test]
fn collect_false_leaves_images_where_they_were_built() {
    let _shared = ENGINES.read().unwrap_or_else(|e| e.into_inner());
    if !engines_up() {
        return;
    }
    let s = Stack::new();
    let _clean = CleanEngines(s.prefix.clone());
    s.busybox_context("solo", "RUN echo solo > /solo\n");
    s.config(&engines_yaml(
        "collect: false\nimages:\n  - {name: solo, tags: [\"{prefix}/solo:latest\"], engine: m2}\n",
    ));
    let out = s.kiln(&["build", "--json"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert_eq!(of_type(&events(&out), "transfer", None).len(), 0);
    assert!(common::inspect(&s.tag("solo")).is_none(), "not collected");
    assert!(docker_at(M2, &["image", "inspect", &s.tag("solo")])
        .status
        .success());
}

#[test]
fn an_engine_unreachable_at_start_is_left_out_and_its_pins_fail() {
    let _shared = ENGINES.read().unwrap_or_else(|e| e.into_inner());
    if !engines_up() {
        return;
    }
    let s = Stack::new();
    let _clean = CleanEngines(s.prefix.clone());
    s.busybox_context("ok", "RUN echo ok > /ok\n");
    s.busybox_context("stuck", "RUN echo stuck > /stuck\n");
    s.config(
        "engines:\n  - {name: local, host: \"unix:///var/run/docker.sock\"}\n  - {name: gone, host: \"tcp://10.214.1.2:2399\"}\nimages:\n  - {name: ok, tags: [\"{prefix}/ok:latest\"]}\n  - {name: stuck, tags: [\"{prefix}/stuck:latest\"], engine: gone}\n",
    );
    let out = s.kiln(&["build", "--json"]);
    assert!(!out.status.success());
    let err = common::stderr(&out);
    assert!(
        err.contains("engine 'gone' is left out of this run"),
        "{err}"
    );
    let evs = events(&out);
    assert!(of_type(&evs, "built", None)
        .into_iter()
        .any(|e| e["image"] == "ok"));
    let failed = of_type(&evs, "failed", Some("stuck"))[0];
    let why = failed["error"].as_str().unwrap();
    assert!(
        why.contains("pinned to engine 'gone'") && why.contains("unreachable"),
        "{why}"
    );
    // `kiln check` lists the engines, each reachable (with its version) or not.
    let check = common::stdout(&s.kiln(&["check"]));
    assert!(
        check.contains("  local (unix:///var/run/docker.sock, jobs 2): reachable, Docker Engine "),
        "{check}"
    );
    assert!(
        check.contains("  gone (tcp://10.214.1.2:2399, jobs 2): unreachable: "),
        "{check}"
    );
    // `kiln ls` says where each image was built.
    let ls = common::stdout(&s.kiln(&["ls"]));
    let ok_row = ls.lines().find(|l| l.starts_with("ok ")).unwrap();
    assert!(
        ls.starts_with("IMAGE") && ls.lines().next().unwrap().contains("ENGINE"),
        "{ls}"
    );
    assert!(ok_row.contains(" local "), "{ls}");
}

#[test]
fn engine_restricts_a_run_to_the_named_engines() {
    let _shared = ENGINES.read().unwrap_or_else(|e| e.into_inner());
    if !engines_up() {
        return;
    }
    let s = Stack::new();
    let _clean = CleanEngines(s.prefix.clone());
    s.busybox_context("one", "RUN echo one > /one\n");
    s.busybox_context("two", "RUN echo two > /two\n");
    s.config(&engines_yaml(
        "images:\n  - {name: one, tags: [\"{prefix}/one:latest\"]}\n  - {name: two, tags: [\"{prefix}/two:latest\"]}\n",
    ));
    let out = s.kiln(&["build", "--json", "--engine", "m1"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let started = started_on(&events(&out));
    assert!(started.iter().all(|(_, e)| e == "m1"), "{started:?}");
    let bad = s.kiln(&["build", "--engine", "nope"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(common::stderr(&bad).contains("--engine nope: no such engine"));
}

/// The config's mistakes, at FILE:LINE:COL (no daemon needed).
#[test]
fn engines_config_errors_are_located() {
    let s = Stack::new();
    s.busybox_context("x", "");
    s.config(
        "engines:\n  - {name: a, host: \"unix:///run/a.sock\"}\n  - {name: a, host: \"tcp://h:1\"}\n  - {name: b, host: \"ftp://nope\"}\n  - {name: c, host: \"tcp://h:2\", jobs: 0}\nimages:\n  - name: x\n    engine: zz\n",
    );
    let out = s.kiln(&["check"]);
    assert!(!out.status.success());
    let err = common::stderr(&out);
    assert!(
        err.contains("kiln.yaml:3:12: duplicate engine name 'a' (first defined on line 2)"),
        "{err}"
    );
    assert!(
        err.contains("kiln.yaml:4:21: unsupported engine host 'ftp://nope'"),
        "{err}"
    );
    assert!(
        err.contains("kiln.yaml:5:40: engine 'jobs' must be a whole number"),
        "{err}"
    );
    assert!(err.contains("kiln.yaml:8:13: unknown engine 'zz'"), "{err}");
}

/// Compose: `x-kiln: engines` at the top, `x-kiln: engine` on a service.
#[test]
fn compose_takes_engines_in_x_kiln() {
    let s = Stack::new();
    s.busybox_context("app", "");
    s.write(
        "compose.yaml",
        "x-kiln:\n  engines:\n    - {name: one, host: \"unix:///run/x.sock\", jobs: 3}\nservices:\n  app:\n    build: ./app\n    x-kiln:\n      engine: two\n",
    );
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kiln"));
    cmd.arg("-f").arg(s.path("compose.yaml")).arg("check");
    common::isolate(&mut cmd, s.home.path());
    let out = cmd.output().unwrap();
    assert!(!out.status.success());
    let err = common::stderr(&out);
    assert!(
        err.contains("compose.yaml:8:15: unknown engine 'two'"),
        "{err}"
    );
}

/// Sets the host side of kilnm2's veth up again when dropped.
struct LinkBackUp;

impl Drop for LinkBackUp {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "set", "kilnm2h", "up"])
            .status();
    }
}

/// m2's network goes down while it builds: kiln notices, the builds it had
/// are retried elsewhere, and the run ends (bounded: killed after 60 s).
#[test]
fn an_engine_partitioned_mid_run_is_survived() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    let _alone = ENGINES.write().unwrap_or_else(|e| e.into_inner());
    if !engines_up() {
        return;
    }
    let s = Stack::new();
    let _clean = CleanEngines(s.prefix.clone());
    s.busybox_context("base", "RUN echo base > /base\n");
    let kids = ["k1", "k2", "k3", "k4", "k5", "k6"];
    let mut yaml = engines_yaml("images:\n  - {name: base, tags: [\"{prefix}/base:latest\"]}\n");
    for k in kids {
        s.child_context(k, "base", &format!("RUN sleep 8 && echo {k} > /{k}\n"));
        yaml.push_str(&format!(
            "  - {{name: {k}, tags: [\"{{prefix}}/{k}:latest\"]}}\n"
        ));
    }
    s.config(&yaml);
    let mut child = s
        .kiln_cmd(&["build", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<serde_json::Value>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str(&line) {
                let _ = tx.send(v);
            }
        }
    });
    let mut evs = Vec::new();
    let mut guard = None;
    let mut cut_at = None;
    loop {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(v) => {
                let on_m2 = v["type"] == "started" && v["engine"] == "m2";
                evs.push(v);
                if on_m2 && guard.is_none() {
                    guard = Some(LinkBackUp);
                    let down = Command::new("ip")
                        .args(["link", "set", "kilnm2h", "down"])
                        .status()
                        .unwrap();
                    assert!(down.success());
                    cut_at = Some(Instant::now());
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
        let started = cut_at.unwrap_or_else(Instant::now);
        if cut_at.is_some() && started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("kiln was still running 60 s after the partition");
        }
    }
    let status = child.wait().unwrap();
    drop(guard);
    assert!(cut_at.is_some(), "something built on m2");
    let lost = of_type(&evs, "notice", None).into_iter().any(|e| {
        e["message"]
            .as_str()
            .unwrap_or("")
            .contains("engine 'm2' was lost")
    });
    assert!(lost, "the loss is said");
    let retried: Vec<&str> = of_type(&evs, "notice", None)
        .into_iter()
        .filter(|e| {
            e["message"]
                .as_str()
                .unwrap_or("")
                .contains("retrying on another engine")
        })
        .map(|e| e["image"].as_str().unwrap())
        .collect();
    assert!(!retried.is_empty(), "m2's builds are retried");
    for k in retried {
        assert!(
            of_type(&evs, "built", Some(k)).len() == 1,
            "{k} was built elsewhere"
        );
    }
    assert!(status.success(), "every image built in the end");
}

/// The `notice` messages of `image`.
fn notices<'a>(evs: &'a [serde_json::Value], image: &str) -> Vec<&'a str> {
    of_type(evs, "notice", Some(image))
        .into_iter()
        .map(|e| e["message"].as_str().unwrap_or(""))
        .collect()
}

/// `collect: true`: an image built on m1 is collected on the first engine
/// and pushed from there, by `kiln build --push` and by `kiln push` alike.
/// m1 cannot reach the registry (127.0.0.1 is its own loopback there), so
/// a push that succeeds went from the first engine.
#[test]
fn with_collect_pushes_go_from_the_first_engine() {
    use common::registry::Registry;
    let _shared = ENGINES.read().unwrap_or_else(|e| e.into_inner());
    if !engines_up() {
        return;
    }
    let reg = Registry::start();
    let s = Stack::new();
    let tag = format!("{}/kiln/{}-p:1", reg.host, s.prefix);
    let _clean = CleanEngines(s.prefix.clone());
    let _clean_reg = CleanEngines(format!("{}/kiln/{}", reg.host, s.prefix));
    let _local = common::RemoveImages(vec![tag.clone()]);
    s.busybox_context("p", &format!("RUN echo {} > /id\n", s.prefix));
    s.config(&engines_yaml(&format!(
        "images:\n  - {{name: p, tags: [\"{tag}\"], engine: m1}}\n"
    )));
    let out = s.kiln(&["build", "--push", "--json"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let evs = events(&out);
    assert_eq!(started_on(&evs), vec![("p".to_string(), "m1".to_string())]);
    assert!(
        notices(&evs, "p").contains(&"pushing from engine local"),
        "{evs:?}"
    );
    assert_eq!(of_type(&evs, "pushed", Some("p")).len(), 1, "{evs:?}");
    let repo = format!("kiln/{}-p", s.prefix);
    let digest = reg.manifest_digest(&repo, "1").expect("in the registry");

    let out = s.kiln(&["push", "--json"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let evs = events(&out);
    assert!(
        notices(&evs, "p").contains(&"pushing from engine local"),
        "{evs:?}"
    );
    let pushed = of_type(&evs, "pushed", Some("p"));
    assert_eq!(pushed[0]["digest"], digest.as_str());
}

/// `collect: false`: `kiln push` pushes an image from the engine its last
/// success was built on (m1), never from the first engine, which lacks it.
/// From m1 the registry's 127.0.0.1 address is m1's own loopback, where
/// nothing listens: the push fails at once, naming that address, which
/// proves it went from m1 (from the first engine it would have failed for
/// a missing image). An image whose engine is out of the run fails naming
/// the engine.
#[test]
fn without_collect_kiln_push_goes_from_the_engine_the_image_was_built_on() {
    let _shared = ENGINES.read().unwrap_or_else(|e| e.into_inner());
    if !engines_up() {
        return;
    }
    let s = Stack::new();
    // A port nothing listens on, inside m1 or here.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let tag = format!("127.0.0.1:{port}/kiln/{}-q:1", s.prefix);
    let _clean = CleanEngines(s.prefix.clone());
    let _clean_reg = CleanEngines(format!("127.0.0.1:{port}/kiln/{}", s.prefix));
    s.busybox_context("q", "RUN echo q > /q\n");
    s.config(&engines_yaml(&format!(
        "collect: false\nimages:\n  - {{name: q, tags: [\"{tag}\"], engine: m1}}\n"
    )));
    let out = s.kiln(&["build", "--json"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(common::inspect(&tag).is_none(), "not on the first engine");

    let out = s.kiln(&["push", "--json"]);
    assert!(!out.status.success());
    let evs = events(&out);
    assert!(
        notices(&evs, "q").contains(&"pushing from engine m1"),
        "{evs:?}"
    );
    let failed = of_type(&evs, "failed", Some("q"));
    let error = failed[0]["error"].as_str().unwrap();
    assert!(
        error.contains(&format!("127.0.0.1:{port}")) && error.contains("connection refused"),
        "{error}"
    );
    assert!(!error.contains("does not exist"), "{error}");

    // m1 out of the run (a host that does not answer in its place): the
    // push fails naming it, and nothing is pushed from elsewhere.
    s.config(&format!(
        "engines:\n  - {{name: local, host: \"unix:///var/run/docker.sock\"}}\n  - {{name: m1, host: \"tcp://10.214.1.2:2399\"}}\ncollect: false\nimages:\n  - {{name: q, tags: [\"{tag}\"], engine: m1}}\n"
    ));
    let out = s.kiln(&["push", "--json"]);
    assert!(!out.status.success());
    let evs = events(&out);
    let error = of_type(&evs, "failed", Some("q"))[0]["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        error.contains("cannot push from engine 'm1'")
            && error.contains("out of this run: unreachable at the start"),
        "{error}"
    );
}

/// `kiln watch --json` running, its events collected as they come; sent
/// SIGINT when dropped.
struct Watched {
    child: std::process::Child,
    events: std::sync::Arc<(std::sync::Mutex<Vec<serde_json::Value>>, std::sync::Condvar)>,
}

impl Watched {
    fn start(s: &Stack) -> Watched {
        use std::io::{BufRead, BufReader};
        let mut child = s
            .kiln_cmd(&["watch", "--json"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let events =
            std::sync::Arc::new((std::sync::Mutex::new(Vec::new()), std::sync::Condvar::new()));
        let sink = events.clone();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str(&line) {
                    sink.0.lock().unwrap().push(v);
                    sink.1.notify_all();
                }
            }
        });
        Watched { child, events }
    }

    /// Wait (at most 120 s: a bound, not a measure) until an event after
    /// the first `from` satisfies `check`; its index.
    fn until(&self, from: usize, what: &str, check: impl Fn(&serde_json::Value) -> bool) -> usize {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        let (lock, cvar) = &*self.events;
        let mut events = lock.lock().unwrap();
        loop {
            if let Some(i) = events.iter().skip(from).position(&check) {
                return from + i;
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            assert!(!left.is_zero(), "waited for {what}; events: {events:#?}");
            events = cvar.wait_timeout(events, left).unwrap().0;
        }
    }

    fn events(&self) -> Vec<serde_json::Value> {
        self.events.0.lock().unwrap().clone()
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        common::send_signal(self.child.id(), libc::SIGINT);
        let _ = self.child.wait();
    }
}

fn says(e: &serde_json::Value, text: &str) -> bool {
    e["type"] == "notice" && e["message"].as_str().unwrap_or("").contains(text)
}

/// Sets kilnm2's veth (host side) down or up.
fn m2_link(up: bool) {
    let state = if up { "up" } else { "down" };
    let done = Command::new("ip")
        .args(["link", "set", "kilnm2h", state])
        .status()
        .unwrap();
    assert!(done.success());
}

/// A `kiln watch` session starts with m2 off the network (w, pinned there,
/// fails), gets m2 when it answers, builds there, loses it in a partition
/// (a change to w fails naming it), and gets it back again: the next
/// change builds on m2.
#[test]
fn an_engine_out_of_a_watch_session_rejoins_when_it_answers_again() {
    let _alone = ENGINES.write().unwrap_or_else(|e| e.into_inner());
    if !engines_up() {
        return;
    }
    let s = Stack::new();
    let _clean = CleanEngines(s.prefix.clone());
    s.busybox_context("w", "COPY src.txt /src.txt\n");
    s.write("w/src.txt", "one\n");
    s.config(&engines_yaml(
        "images:\n  - {name: w, tags: [\"{prefix}/w:latest\"], engine: m2}\n",
    ));
    let _guard = LinkBackUp;
    m2_link(false);
    let w = Watched::start(&s);
    let failed_w = |e: &serde_json::Value| e["type"] == "failed" && e["image"] == "w";
    let built_w = |e: &serde_json::Value| e["type"] == "built" && e["image"] == "w";
    let error = |at: usize| w.events()[at]["error"].as_str().unwrap().to_string();
    let first = w.until(0, "w failed at the start", failed_w);
    let why = error(first);
    assert!(
        why.contains("pinned to engine 'm2', which is out of this run: unreachable at the start"),
        "{why}"
    );

    // m2 answers: it joins the session, and a change builds w there.
    m2_link(true);
    let back = w.until(first, "m2 joins", |e| {
        says(e, "engine 'm2' answers again and rejoins this run")
    });
    s.write("w/src.txt", "two\n");
    let built = w.until(back, "w built on m2", built_w);
    assert!(started_on(&w.events()[back..built]).contains(&("w".into(), "m2".into())));

    // Partitioned: kiln notices while idle (the engines are pinged
    // between builds too), and a change to w fails naming m2.
    m2_link(false);
    let lost = w.until(built, "m2 lost", |e| says(e, "engine 'm2' was lost"));
    s.write("w/src.txt", "three\n");
    let failed = w.until(lost, "w failed", failed_w);
    let why = error(failed);
    assert!(
        why.contains("pinned to engine 'm2', which is out of this run: lost: "),
        "{why}"
    );

    // Back on the network: m2 rejoins (w's image was looked up there),
    // and the next change builds on m2 again.
    m2_link(true);
    let back = w.until(failed, "m2 rejoins", |e| {
        says(e, "engine 'm2' answers again and rejoins this run")
    });
    let rejoined = w.events()[back]["message"].as_str().unwrap().to_string();
    assert!(!rejoined.contains("without"), "{rejoined}");
    s.write("w/src.txt", "four\n");
    let started = w.until(back, "w started again", |e| {
        e["type"] == "started" && e["image"] == "w"
    });
    assert_eq!(w.events()[started]["engine"], "m2");
    w.until(started, "w built again", built_w);
    let on_m2 = docker_at(M2, &["run", "--rm", &s.tag("w"), "cat", "/src.txt"]);
    assert_eq!(common::stdout(&on_m2), "four\n");
}
