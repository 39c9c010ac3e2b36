//! End to end, the dashboard left open while other kiln processes share
//! its history (issue 22 §1): their runs show within seconds, ages tick
//! with no key pressed, change detection compares against what the other
//! process built, and a base rebuilt elsewhere marks what is built on it
//! stale. Real binary under tmux, real daemon.
#![allow(clippy::unwrap_used, clippy::string_slice)]

mod common;

use std::time::Duration;

use common::tmux::Tmux;
use common::*;

const WAIT: Duration = Duration::from_secs(60);

/// The dashboard of stack `s` in tmux (its environment spelled out).
fn dashboard(s: &Stack) -> Option<Tmux> {
    let cmd = s.kiln_cmd(&[]);
    Tmux::start(&format!("{}; echo KILN_EXIT=$?", shell_words(&cmd)))
}

/// The list row of image `name`, without the pane beside it.
fn row(screen: &str, name: &str) -> String {
    screen
        .lines()
        .map(|l| l.split("││").next().unwrap_or(l))
        .find(|l| l.contains(&format!(" {name} ")) && l.starts_with('│'))
        .unwrap_or("")
        .to_string()
}

/// The short (12 hex) id of the image a tag points at.
fn short_id_of(tag: &str) -> String {
    let id = inspect(tag).unwrap()["Id"].as_str().unwrap().to_string();
    id.trim_start_matches("sha256:")[..12].to_string()
}

fn built(s: &Stack, args: &[&str]) {
    let out = s.kiln(args);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
}

#[test]
fn another_kilns_build_shows_in_the_open_dashboard_and_ages_tick() {
    require_docker!();
    let s = Stack::new();
    s.busybox_context("api", "COPY api.txt /api.txt\n");
    s.write("api/api.txt", "one\n");
    s.config("images:\n  - {name: api, tags: [\"{prefix}/api:latest\"]}\n");
    built(&s, &["build", "--plain"]);
    let Some(tmux) = dashboard(&s) else {
        return;
    };
    // The age moves with no key pressed.
    let first = tmux.wait_for("api's age", WAIT, |sc| row(sc, "api").contains(" ago"));
    let first = row(&first, "api");
    tmux.wait_for("api's age to tick", WAIT, |sc| {
        let now = row(sc, "api");
        now.contains(" ago") && now != first
    });

    // Another kiln builds api anew: the dashboard shows the new image.
    s.write("api/api.txt", "two\n");
    built(&s, &["build", "--plain", "api"]);
    let id = short_id_of(&s.tag("api"));
    tmux.wait_for("the other kiln's build", WAIT, |sc| {
        sc.contains(&id) && row(sc, "api").contains("built")
    });

    // `B` compares against that build: nothing changed since.
    tmux.keys(&["B"]);
    let screen = tmux.wait_for("api checked", WAIT, |sc| {
        row(sc, "api").contains("unchanged")
    });
    assert!(!row(&screen, "api").contains("building"), "{screen}");
    let (code, shell) = tmux.quit();
    assert_eq!(code, "0", "{shell}");
}

#[test]
fn a_base_rebuilt_elsewhere_marks_its_dependents_stale() {
    require_docker!();
    let s = Stack::new();
    s.busybox_context("base", "COPY base.txt /base.txt\n");
    s.write("base/base.txt", "one\n");
    s.child_context("app", "base", "RUN echo app\n");
    s.config(
        "images:\n  - {name: base, tags: [\"{prefix}/base:latest\"]}\n  - {name: app, tags: [\"{prefix}/app:latest\"]}\n",
    );
    built(&s, &["build", "--plain"]);
    // Rebuilt before the dashboard opens: app is stale from the start.
    s.write("base/base.txt", "two\n");
    built(&s, &["build", "--plain", "base"]);
    let Some(tmux) = dashboard(&s) else {
        return;
    };
    tmux.wait_for("app stale at open", WAIT, |sc| {
        row(sc, "app").contains("stale")
    });

    // Another kiln rebuilds app on the new base: no longer stale; then
    // base again: app turns stale then.
    built(&s, &["build", "--plain"]);
    tmux.wait_for("app built by the other kiln", WAIT, |sc| {
        let app = row(sc, "app");
        app.contains("built") && !app.contains("stale")
    });
    s.write("base/base.txt", "three\n");
    built(&s, &["build", "--plain", "base"]);
    tmux.wait_for("app stale after another kiln rebuilt base", WAIT, |sc| {
        row(sc, "app").contains("stale")
    });
    let (code, shell) = tmux.quit();
    assert_eq!(code, "0", "{shell}");
}
