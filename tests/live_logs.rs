//! A build's saved log is written while it runs: `kiln logs` during a
//! build prints the output so far, `kiln logs -f` follows it to its end
//! (exit 0; Ctrl-C 130), a `kill -9` keeps what had arrived, and the log
//! starts with why the image was built. The build waits at a gate the
//! test opens (an HTTP request to a server of the test's), so what the
//! test sees is the build's middle, not timing luck.
#![allow(clippy::unwrap_used, clippy::string_slice)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::*;

const WAIT: Duration = Duration::from_secs(60);

/// An HTTP server on the docker bridge whose one answer waits until the
/// test opens the gate (or the gate is dropped).
struct Gate {
    port: u16,
    open: Option<mpsc::Sender<()>>,
}

impl Gate {
    fn new() -> Gate {
        let listener = TcpListener::bind("0.0.0.0:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (open, opened) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            let mut held: Vec<TcpStream> = Vec::new();
            listener.set_nonblocking(true).unwrap();
            loop {
                if let Ok((stream, _)) = listener.accept() {
                    held.push(stream);
                }
                let go = !matches!(opened.try_recv(), Err(mpsc::TryRecvError::Empty));
                if go {
                    for mut s in held.drain(..) {
                        let mut buf = [0; 1024];
                        let _ = s.set_nonblocking(true);
                        let _ = s.read(&mut buf);
                        let _ = s.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\ngo\n");
                    }
                    // Later requests are answered at once.
                    listener.set_nonblocking(false).unwrap();
                    for s in listener.incoming().flatten() {
                        let mut s = s;
                        let mut buf = [0; 1024];
                        let _ = s.read(&mut buf);
                        let _ = s.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\ngo\n");
                    }
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        Gate {
            port,
            open: Some(open),
        }
    }

    fn open(&mut self) {
        if let Some(open) = self.open.take() {
            let _ = open.send(());
        }
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.open();
    }
}

/// A stack of one image, `gated`, that prints `before-gate`, waits at the
/// gate, then prints `after-gate`.
fn gated_stack(gate: &Gate) -> Stack {
    let s = Stack::new();
    s.busybox_context(
        "gated",
        &format!(
            "RUN echo before-gate && wget -q -O- http://172.17.0.1:{}/ && echo after-gate\n",
            gate.port
        ),
    );
    s.config("images:\n  - {name: gated, tags: [\"{prefix}/gated:latest\"]}\n");
    s
}

/// `kiln build` of the gated stack, running (legacy builder: its RUN
/// containers are on the docker bridge).
fn start_build(s: &Stack) -> Child {
    s.kiln_cmd(&["build", "--plain", "--no-cache", "--builder", "legacy"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Wait until `kiln logs gated` prints `what` (the build is running).
fn wait_for_saved(s: &Stack, what: &str) -> String {
    let mut last = String::new();
    let seen = eventually(WAIT, || {
        let out = s.kiln(&["logs", "gated"]);
        last = stdout(&out);
        out.status.success() && last.lines().any(|l| l == what)
    });
    assert!(
        seen,
        "the saved log never showed {what:?} while running: {last}"
    );
    last
}

#[test]
fn a_running_builds_log_is_saved_as_it_arrives_and_a_kill_9_keeps_it() {
    require_docker!();
    let gate = Gate::new();
    let s = gated_stack(&gate);
    let mut build = start_build(&s);
    let so_far = wait_for_saved(&s, "before-gate");
    // Why it was built comes first.
    let first = so_far.lines().next().unwrap_or("");
    assert!(first.starts_with("kiln: rebuilding: forced"), "{so_far}");
    assert!(!so_far.lines().any(|l| l == "after-gate"), "{so_far}");
    build.kill().unwrap(); // SIGKILL
    build.wait().unwrap();
    drop(gate);
    let out = s.kiln(&["logs", "gated"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).lines().any(|l| l == "before-gate"),
        "{}",
        stdout(&out)
    );
    let ls = stdout(&s.kiln(&["ls"]));
    assert!(ls.contains("interrupted"), "{ls}");
}

/// `kiln logs -f gated`, running, its stdout read line by line.
fn follow(s: &Stack) -> (Child, mpsc::Receiver<String>) {
    let mut child = s
        .kiln_cmd(&["logs", "-f", "gated"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (child, lines)
}

/// The lines until `what`, which must come.
fn read_until(lines: &mpsc::Receiver<String>, what: &str) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        match lines.recv_timeout(WAIT) {
            Ok(line) if line == what => {
                seen.push(line);
                return seen;
            }
            Ok(line) => seen.push(line),
            Err(_) => panic!("no {what:?} line; got {seen:?}"),
        }
    }
}

#[test]
fn logs_follow_follows_a_running_build_to_its_end() {
    require_docker!();
    let mut gate = Gate::new();
    let s = gated_stack(&gate);
    let mut build = start_build(&s);
    wait_for_saved(&s, "before-gate");
    let (mut follower, lines) = follow(&s);
    let first = read_until(&lines, "before-gate");
    let why = first.first().map(String::as_str).unwrap_or("");
    assert!(why.starts_with("kiln: rebuilding: forced"), "{first:?}");
    // It is following: the build is still at the gate.
    assert_eq!(follower.try_wait().unwrap(), None);
    gate.open();
    read_until(&lines, "after-gate");
    let status = follower.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(build.wait().unwrap().success());
    // Once the build is over there is nothing to follow: it prints and ends.
    let out = s.kiln(&["logs", "-f", "gated"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).lines().any(|l| l == "after-gate"));
}

#[test]
fn ctrl_c_stops_following_with_130() {
    require_docker!();
    let gate = Gate::new();
    let s = gated_stack(&gate);
    let mut build = start_build(&s);
    wait_for_saved(&s, "before-gate");
    let (mut follower, lines) = follow(&s);
    read_until(&lines, "before-gate");
    send_signal(follower.id(), libc::SIGINT);
    let status = follower.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    drop(gate);
    assert!(build.wait().unwrap().success());
}
