//! Ending a run from outside: SIGTERM and SIGHUP are handled like Ctrl-C
//! (builds cancelled on the daemon, history `cancelled`, the terminal
//! restored, exit 143 / 129); a kiln killed outright leaves no run
//! `running` forever; a closed stdout (`| head`) cancels the builds and
//! exits 1 unless `--keep-going-without-output`. Real daemon, real binary.
#![allow(clippy::unwrap_used, clippy::string_slice)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::tmux::Tmux;
use common::*;

/// A stack whose one image, `slow`, prints `marker` then sleeps (or ticks).
fn slow_stack(body: &str) -> (Stack, String) {
    let s = Stack::new();
    let marker = format!("{}-marker", s.prefix);
    s.busybox_context("slow", &format!("RUN echo {marker} && {body}\n"));
    s.config("images:\n  - name: slow\n    tags: [\"{prefix}/slow:latest\"]\n");
    (s, marker)
}

/// Start `kiln build --json` and wait until the slow step has printed its
/// marker; the child and the rest of its output.
fn start_build(
    s: &Stack,
    marker: &str,
    extra: &[&str],
) -> (Child, std::io::Lines<BufReader<std::process::ChildStdout>>) {
    let mut args = vec!["build", "--json", "--builder", "legacy", "--no-cache"];
    args.extend_from_slice(extra);
    let mut child = s
        .kiln_cmd(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let line = lines.next().expect("kiln ended early").unwrap();
        if line.contains(&format!("\"line\":\"{marker}\"")) {
            break;
        }
        assert!(Instant::now() < deadline, "the build never started");
    }
    (child, lines)
}

fn container_running(marker: &str) -> bool {
    let out = docker(&["ps", "--no-trunc", "--format", "{{.Command}}"]);
    stdout(&out).contains(marker)
}

/// `kiln ls`'s line for `slow`.
fn ls_line(s: &Stack) -> String {
    let out = s.kiln(&["ls"]);
    stdout(&out)
        .lines()
        .find(|l| l.starts_with("slow"))
        .unwrap_or_default()
        .to_string()
}

#[test]
fn sigterm_and_sighup_cancel_the_builds_and_exit_143_and_129() {
    require_docker!();
    for (signal, code) in [(libc::SIGTERM, 143), (libc::SIGHUP, 129)] {
        let (s, marker) = slow_stack("sleep 120");
        let (mut child, lines) = start_build(&s, &marker, &[]);
        assert!(
            eventually(Duration::from_secs(20), || container_running(&marker)),
            "signal {signal}: the build is not running"
        );
        send_signal(child.id(), signal);
        let rest: Vec<String> = lines.map_while(Result::ok).collect();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(code), "signal {signal}: {rest:?}");
        assert!(
            rest.iter().any(|l| l.contains("\"type\":\"cancelled\"")),
            "{rest:?}"
        );
        assert!(
            eventually(Duration::from_secs(20), || !container_running(&marker)),
            "signal {signal}: the build container is still running"
        );
        let line = ls_line(&s);
        assert!(line.contains("cancelled"), "signal {signal}: {line}");
    }
}

#[test]
fn a_killed_kiln_leaves_no_run_running() {
    require_docker!();
    let (s, marker) = slow_stack("sleep 120");
    let (mut child, _lines) = start_build(&s, &marker, &[]);
    child.kill().unwrap();
    child.wait().unwrap();
    let line = ls_line(&s);
    assert!(line.contains("interrupted"), "{line}");
    assert!(!line.contains("running"), "{line}");
    // The daemon notices the lost connection and stops the build too.
    assert!(eventually(Duration::from_secs(30), || !container_running(
        &marker
    )));
}

#[test]
fn a_closed_stdout_cancels_the_builds_and_exits_1() {
    require_docker!();
    let ticks = "for i in $(seq 1 240); do echo tick $i; sleep 0.5; done";
    let (s, marker) = slow_stack(ticks);
    // `kiln build --json | head`: read a few lines, then stop reading.
    let (mut child, lines) = start_build(&s, &marker, &[]);
    drop(lines);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1));
    assert!(eventually(Duration::from_secs(20), || !container_running(
        &marker
    )));
    let line = ls_line(&s);
    assert!(line.contains("cancelled"), "{line}");

    // Told to keep going, it builds to the end without anyone reading.
    let short = "for i in $(seq 1 20); do echo tick $i; sleep 0.1; done";
    let (s, marker) = slow_stack(short);
    let (mut child, lines) = start_build(&s, &marker, &["--keep-going-without-output"]);
    drop(lines);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let line = ls_line(&s);
    assert!(line.contains("built"), "{line}");
}

#[test]
fn the_dashboard_restores_the_terminal_on_sigterm() {
    require_docker!();
    let (s, marker) = slow_stack("sleep 120");
    let pidfile = s.home.path().join("kiln.pid");
    let cmd = s.kiln_cmd(&["--build", "--builder", "legacy", "--no-cache"]);
    // `exec` keeps the pid the shell wrote down.
    let line = format!(
        "sh -c 'echo $$ > {}; exec \"$@\"' kiln {}; echo KILN_EXIT=$?",
        pidfile.display(),
        shell_words(&cmd)
    );
    let Some(tmux) = Tmux::start(&line) else {
        return;
    };
    let wait = Duration::from_secs(90);
    tmux.wait_for("the dashboard", wait, |sc| sc.contains("images (1)"));
    assert!(eventually(Duration::from_secs(90), || container_running(
        &marker
    )));
    let modes = || {
        tmux.run(&[
            "display-message",
            "-p",
            "-t",
            "kiln",
            "#{alternate_on} #{cursor_flag} #{mouse_any_flag} #{mouse_button_flag} #{mouse_standard_flag}",
        ])
    };
    let on = modes();
    let on: Vec<&str> = on.split_whitespace().collect();
    assert_eq!(
        on[..2],
        ["1", "0"],
        "alternate screen, hidden cursor: {on:?}"
    );
    assert!(on[2..].contains(&"1"), "mouse tracking on: {on:?}");
    let pid: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    send_signal(pid, libc::SIGTERM);
    let shell = tmux.wait_for("the shell", wait, |sc| {
        sc.lines().any(|l| common::tmux::exit_code(l).is_some())
    });
    assert!(shell.lines().any(|l| l == "KILN_EXIT=143"), "{shell}");
    assert_eq!(
        modes().trim(),
        "0 1 0 0 0",
        "alternate screen off, cursor shown, mouse tracking off"
    );
    assert!(eventually(Duration::from_secs(20), || !container_running(
        &marker
    )));
    assert!(ls_line(&s).contains("cancelled"), "{}", ls_line(&s));
}
