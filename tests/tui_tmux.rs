//! End to end: the real binary's dashboard under tmux against the real
//! daemon. A build that sleeps longer than --stall-after shows the image, a
//! live "silent" counter, then done; `q` leaves the alternate screen and the
//! shell is back.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

/// A tmux server of our own (its own socket), killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn new() -> Tmux {
        Tmux {
            socket: format!("kiln-test-{}", std::process::id()),
        }
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "kiln"])
    }

    /// Poll the screen until `check` holds; panics with the screen if not.
    fn wait_for(&self, what: &str, limit: Duration, check: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if check(&screen) {
                return screen;
            }
            if start.elapsed() > limit {
                panic!("timed out waiting for {what}; screen:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

/// `s` quoted for sh.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[test]
fn dashboard_shows_a_stall_then_done_and_quits_cleanly() {
    require_docker!();
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("skipping: tmux is not installed");
        return;
    }
    let s = Stack::new();
    s.busybox_context("sleeper", "RUN echo before-sleep\nRUN sleep 4\n");
    s.config(
        r#"
images:
  - name: sleeper
    tags: ["{prefix}/sleeper:latest"]
"#,
    );
    // The command line, with the test's isolated environment spelled out
    // (a tmux server does not pass a client's environment on).
    let cmd = s.kiln_cmd(&[
        "--build",
        "--builder",
        "legacy",
        "--stall-after",
        "2s",
        "--no-cache",
    ]);
    let mut line = String::from("env");
    for (k, v) in cmd.get_envs() {
        let k = k.to_string_lossy();
        match v {
            Some(v) => line.push_str(&format!(" {k}={}", sh_quote(&v.to_string_lossy()))),
            None => line.push_str(&format!(" -u {k}")),
        }
    }
    line.push(' ');
    line.push_str(&sh_quote(&cmd.get_program().to_string_lossy()));
    for a in cmd.get_args() {
        line.push(' ');
        line.push_str(&sh_quote(&a.to_string_lossy()));
    }
    line.push_str("; echo KILN_EXIT=$?");

    let tmux = Tmux::new();
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "kiln",
        "-x",
        "120",
        "-y",
        "30",
        "sh",
    ]);
    tmux.run(&["send-keys", "-t", "kiln", "-l", &line]);
    tmux.run(&["send-keys", "-t", "kiln", "Enter"]);

    tmux.wait_for("the dashboard", Duration::from_secs(30), |sc| {
        sc.contains("images (1)") && sc.contains("sleeper")
    });
    let stalled = tmux.wait_for("the silent counter", Duration::from_secs(60), |sc| {
        sc.contains("silent ")
    });
    assert!(
        stalled.contains("stalled"),
        "status bar counts it:\n{stalled}"
    );
    let done = tmux.wait_for("done", Duration::from_secs(60), |sc| sc.contains("1 done"));
    assert!(done.contains("✓ sleeper"), "{done}");
    assert!(
        done.contains("output resumed after"),
        "the pane says so:\n{done}"
    );

    tmux.run(&["send-keys", "-t", "kiln", "q"]);
    let shell = tmux.wait_for("the shell", Duration::from_secs(20), |sc| {
        sc.lines().any(|l| l.starts_with("KILN_EXIT="))
    });
    assert!(shell.lines().any(|l| l == "KILN_EXIT=0"), "{shell}");
    assert!(
        !shell.contains("images (1)"),
        "alternate screen left:\n{shell}"
    );
    assert!(shell.contains("1 succeeded"), "summary printed:\n{shell}");
}
