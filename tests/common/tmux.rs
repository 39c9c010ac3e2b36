//! A tmux server of a test's own, to drive a terminal program (the
//! dashboard) as a user would: type, read the screen, wait for text.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static SERVERS: AtomicUsize = AtomicUsize::new(0);

/// A tmux server of our own (its own socket), killed on drop, with one
/// 120x30 window running a shell.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    /// Start a server with a 120x30 shell and type `line` into it; None
    /// without tmux (a failure with KILN_REQUIRE_DOCKER=1: `cannot_run`).
    pub fn start(line: &str) -> Option<Tmux> {
        if Command::new("tmux").arg("-V").output().is_err() {
            super::cannot_run("tmux is not installed (run scripts/setup)");
            return None;
        }
        let tmux = Tmux {
            socket: format!(
                "kiln-test-{}-{}",
                std::process::id(),
                SERVERS.fetch_add(1, Ordering::SeqCst)
            ),
        };
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
        tmux.run(&["send-keys", "-t", "kiln", "-l", line]);
        tmux.run(&["send-keys", "-t", "kiln", "Enter"]);
        Some(tmux)
    }

    pub fn run(&self, args: &[&str]) -> String {
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

    pub fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "kiln"])
    }

    /// Keys by tmux's names (`Up`, `C-u`, `Enter`, `q`).
    pub fn keys(&self, keys: &[&str]) {
        for key in keys {
            self.run(&["send-keys", "-t", "kiln", key]);
        }
    }

    /// Text typed as is.
    pub fn type_text(&self, text: &str) {
        self.run(&["send-keys", "-t", "kiln", "-l", text]);
    }

    /// Poll the screen until `check` holds; panics with the screen if not.
    pub fn wait_for(&self, what: &str, limit: Duration, check: impl Fn(&str) -> bool) -> String {
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

    /// `q` (nothing left running), and the shell is back: kiln's exit code
    /// and the screen after it.
    pub fn quit(&self) -> (String, String) {
        self.keys(&["q"]);
        let shell = self.wait_for("the shell", Duration::from_secs(30), |sc| {
            sc.lines().any(|l| exit_code(l).is_some())
        });
        let code = shell
            .lines()
            .find_map(exit_code)
            .unwrap_or_default()
            .to_string();
        (code, shell)
    }
}

/// The code of a `KILN_EXIT=N` line (not of the command line that prints
/// it, `KILN_EXIT=$?`, which the screen may wrap to the start of a line).
/// The shell's prompt may stand before it (`# KILN_EXIT=0`): the command
/// line was typed before the shell printed its first prompt.
pub fn exit_code(line: &str) -> Option<&str> {
    let line = line
        .strip_prefix("# ")
        .or_else(|| line.strip_prefix("$ "))
        .unwrap_or(line);
    line.strip_prefix("KILN_EXIT=")
        .map(str::trim_end)
        .filter(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit()))
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}
