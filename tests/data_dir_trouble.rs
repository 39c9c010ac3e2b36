//! History and logs are a convenience, never a reason to lose a build: with
//! a data dir that cannot be created, or a disk that fills up mid-build,
//! kiln still builds, says once that history and logs are off, and exits 0.
#![allow(clippy::unwrap_used, clippy::string_slice)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

fn notices(ev: &[serde_json::Value]) -> Vec<String> {
    of_type(ev, "notice", None)
        .iter()
        .filter_map(|e| e["message"].as_str().map(String::from))
        .collect()
}

/// The one notice saying history and logs are off (it must be said once).
fn history_off_notice(ev: &[serde_json::Value]) -> String {
    let n = notices(ev);
    let off: Vec<&String> = n
        .iter()
        .filter(|m| m.contains("history and logs are off"))
        .collect();
    assert_eq!(off.len(), 1, "said once: {n:?}");
    off[0].clone()
}

#[test]
fn an_uncreatable_data_dir_turns_history_off_and_builds() {
    require_docker!();
    let s = Stack::new();
    s.busybox_context("solo", "RUN echo solo-built\n");
    s.config("images:\n  - {name: solo, tags: [\"{prefix}/solo:latest\"]}\n");
    // A regular file where a directory would have to be.
    let file = s.home.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let mut cmd = s.kiln_cmd(&["build", "--json"]);
    cmd.env("XDG_DATA_HOME", file.join("data"));
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let ev = events(&out);
    assert_eq!(of_type(&ev, "built", Some("solo")).len(), 1, "{ev:#?}");
    let off = history_off_notice(&ev);
    assert!(off.contains("not-a-dir"), "names the path: {}", off);
}

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        ok.then(|| Tmpfs(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).output();
    }
}

/// A build printing ~400 KB on a data dir (a tmpfs) of `size`.
struct Filled {
    stack: Stack,
    data: PathBuf,
    events: Vec<serde_json::Value>,
    _mounted: Tmpfs,
}

impl Filled {
    fn kiln(&self, args: &[&str]) -> std::process::Output {
        self.stack
            .kiln_cmd(args)
            .env("XDG_DATA_HOME", &self.data)
            .output()
            .unwrap()
    }
}

/// Build `loud` on a data dir of `size`: it is built and every line is
/// printed. None when no tmpfs can be mounted here.
fn fill_the_disk(size: &str) -> Option<Filled> {
    let s = Stack::new();
    s.busybox_context(
        "loud",
        "RUN seq 1 6000 | sed 's/$/ filling the disk with build output, line after line/'\n",
    );
    s.config("images:\n  - {name: loud, tags: [\"{prefix}/loud:latest\"]}\n");
    let data = s.home.path().join("full");
    let Some(mounted) = Tmpfs::mount(&data, size) else {
        cannot_run("a tmpfs cannot be mounted here (needs root)");
        return None;
    };
    // The legacy builder: BuildKit clips output past 200 KiB/s.
    let mut cmd = s.kiln_cmd(&["build", "--json", "--no-cache", "--builder", "legacy"]);
    cmd.env("XDG_DATA_HOME", &data);
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let ev = events(&out);
    assert_eq!(of_type(&ev, "built", Some("loud")).len(), 1, "{ev:#?}");
    // Every line still reached the output.
    let lines = of_type(&ev, "log", Some("loud"));
    assert!(
        lines
            .iter()
            .any(|l| l["line"].as_str().unwrap_or("").starts_with("6000 filling")),
        "the last line was printed: {:?}",
        lines.iter().rev().take(5).collect::<Vec<_>>()
    );
    Some(Filled {
        stack: s,
        data,
        events: ev,
        _mounted: mounted,
    })
}

#[test]
fn a_full_disk_turns_history_off_and_the_build_still_succeeds() {
    require_docker!();
    // 64 KB: the history database fills first.
    if let Some(filled) = fill_the_disk("64k") {
        let notice = history_off_notice(&filled.events);
        assert!(notice.contains("full"), "says why: {notice}");
    }
}

#[test]
fn a_log_that_fills_the_disk_ends_marked_and_the_run_is_recorded() {
    require_docker!();
    // 320 KB: room for the database, not for the log.
    let Some(filled) = fill_the_disk("320k") else {
        return;
    };
    let said = notices(&filled.events);
    let full: Vec<&String> = said.iter().filter(|m| m.contains("disk is full")).collect();
    assert_eq!(full.len(), 1, "said once: {said:?}");
    assert!(full[0].contains("loud's log is incomplete"), "{}", full[0]);
    assert!(
        !said.iter().any(|m| m.contains("history and logs are off")),
        "history goes on: {said:?}"
    );
    // The run is recorded (not left `running`), with a note on its log.
    let out = filled.kiln(&["ls"]);
    let line = stdout(&out);
    let line = line.lines().find(|l| l.starts_with("loud")).unwrap_or("");
    assert!(line.contains("built"), "{line}");
    assert!(line.contains("log incomplete (disk full)"), "{line}");
    // The saved log ends with the marker, after whole lines.
    let out = filled.kiln(&["logs", "loud"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let mut last = text.lines().rev();
    assert_eq!(last.next(), Some("kiln: log incomplete (disk full)"));
    let before = last.next().unwrap_or("");
    assert!(
        before.ends_with("filling the disk with build output, line after line"),
        "a whole line before the marker: {before}"
    );
    // Room was given back: the data dir takes new writes.
    std::fs::write(filled.data.join("room"), vec![b'x'; 32 * 1024])
        .expect("the data dir is usable again");
}

#[test]
fn a_disk_already_full_turns_history_off_with_the_reason() {
    require_docker!();
    let s = Stack::new();
    s.busybox_context("solo", "RUN echo solo-built\n");
    s.config("images:\n  - {name: solo, tags: [\"{prefix}/solo:latest\"]}\n");
    let data = s.home.path().join("full");
    let Some(_mounted) = Tmpfs::mount(&data, "64k") else {
        cannot_run("a tmpfs cannot be mounted here (needs root)");
        return;
    };
    // Fill it up before kiln starts.
    let filler = vec![b'x'; 256 * 1024];
    let _ = std::fs::write(data.join("filler"), &filler);
    let mut cmd = s.kiln_cmd(&["build", "--json"]);
    cmd.env("XDG_DATA_HOME", &data);
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let ev = events(&out);
    assert_eq!(of_type(&ev, "built", Some("solo")).len(), 1, "{ev:#?}");
    let off = history_off_notice(&ev);
    assert!(off.contains("full"), "says why: {}", off);
    assert!(
        !off.contains("move it aside"),
        "a full disk is not a broken history: {}",
        off
    );
}

#[test]
fn a_log_directory_that_cannot_be_created_leaves_the_run_recorded_as_built() {
    require_docker!();
    let s = Stack::new();
    s.busybox_context("solo", "RUN echo solo-built\n");
    s.config("images:\n  - {name: solo, tags: [\"{prefix}/solo:latest\"]}\n");
    // The history can be written; its logs directory cannot be made (a
    // regular file is where it would go).
    let kiln_data = s.home.path().join("data").join("kiln");
    std::fs::create_dir_all(&kiln_data).unwrap();
    std::fs::write(kiln_data.join("logs"), "not a directory").unwrap();
    let out = s.kiln(&["build", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let ev = events(&out);
    assert_eq!(of_type(&ev, "built", Some("solo")).len(), 1, "{ev:#?}");
    let said = notices(&ev);
    let no_log: Vec<&String> = said
        .iter()
        .filter(|m| m.contains("log cannot be saved"))
        .collect();
    assert_eq!(no_log.len(), 1, "said once: {said:?}");
    assert!(
        !said.iter().any(|m| m.contains("history and logs are off")),
        "history goes on: {said:?}"
    );
    let ls = stdout(&s.kiln(&["ls"]));
    let line = ls.lines().find(|l| l.starts_with("solo")).unwrap_or("");
    assert!(line.contains("built"), "not interrupted: {ls}");
    // What was recorded is what change detection needs.
    let again = events(&s.kiln(&["build", "--json"]));
    let skipped = of_type(&again, "skipped", Some("solo"));
    assert_eq!(skipped.len(), 1, "{again:#?}");
    assert_eq!(skipped[0]["reason"], "unchanged");
    // `kiln logs` says why there is none.
    let logs = s.kiln(&["logs", "solo"]);
    assert!(!logs.status.success());
    assert!(stderr(&logs).contains("no saved log"), "{}", stderr(&logs));
}

#[test]
fn a_read_only_history_is_read_by_ls_and_logs() {
    require_docker!();
    let s = Stack::new();
    s.busybox_context("solo", "RUN echo solo-built-read-only\n");
    s.config("images:\n  - {name: solo, tags: [\"{prefix}/solo:latest\"]}\n");
    let data = s.home.path().join("ro");
    let Some(_mounted) = Tmpfs::mount(&data, "16m") else {
        cannot_run("a tmpfs cannot be mounted here (needs root)");
        return;
    };
    let kiln = |args: &[&str]| {
        s.kiln_cmd(args)
            .env("XDG_DATA_HOME", &data)
            .output()
            .unwrap()
    };
    let out = kiln(&["build", "--plain", "--no-cache"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Read-only for everyone, root included.
    let remount = Command::new("mount")
        .args(["-o", "remount,ro"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(remount.status.success(), "{}", stderr(&remount));
    let ls = kiln(&["ls"]);
    assert!(ls.status.success(), "{}", stderr(&ls));
    let line = stdout(&ls);
    assert!(
        line.lines()
            .any(|l| l.starts_with("solo") && l.contains("built")),
        "{line}"
    );
    let logs = kiln(&["logs", "solo"]);
    assert!(logs.status.success(), "{}", stderr(&logs));
    assert!(
        stdout(&logs).lines().any(|l| l == "solo-built-read-only"),
        "{}",
        stdout(&logs)
    );
}
