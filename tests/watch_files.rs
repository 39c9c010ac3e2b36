//! `kiln watch` against real files and the real daemon: a saved file
//! rebuilds its image and the images built on it, and nothing else; ignored
//! and unread files rebuild nothing; saves during a build give one more
//! build; a broken stack file keeps the last good stack until it is fixed;
//! a compose stack's `.env` is watched too; a renamed context fails its
//! image only; Ctrl-C cancels and exits 130.
#![allow(clippy::unwrap_used, clippy::string_slice)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// How long a test waits for something kiln should do (the machine is
/// shared and loaded: generous, and never a measure of speed).
const PATIENCE: Duration = Duration::from_secs(120);

/// `kiln watch --json` running on a stack, its events collected as they
/// come.
struct Watching {
    child: Child,
    events: Arc<(Mutex<Vec<Value>>, Condvar)>,
    /// The stack file it watches (see [`Watching::settled_since`]).
    stack_file: PathBuf,
}

impl Watching {
    /// `kiln watch --json` with `args`, on `s`'s kiln.yaml.
    fn start(s: &Stack, args: &[&str]) -> Watching {
        let mut cmd_args = vec!["watch", "--json"];
        cmd_args.extend_from_slice(args);
        Watching::spawn(s.kiln_cmd(&cmd_args), s.path("kiln.yaml"))
    }

    /// [`Watching::start`], then waits for the first builds of `images`
    /// to end.
    fn built(s: &Stack, args: &[&str], images: &[&str]) -> Watching {
        let w = Watching::start(s, args);
        w.until_done(0, images);
        w
    }

    /// `cmd`, a `kiln watch --json` of `stack_file`.
    fn spawn(mut cmd: Command, stack_file: PathBuf) -> Watching {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("run kiln watch");
        let events = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let sink = events.clone();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let v: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
                sink.0.lock().unwrap().push(v);
                sink.1.notify_all();
            }
        });
        Watching {
            child,
            events,
            stack_file,
        }
    }

    /// Wait until `check` holds for the events so far; they are returned.
    fn until(&self, what: &str, check: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + PATIENCE;
        let (lock, cvar) = &*self.events;
        let mut events = lock.lock().unwrap();
        while !check(&events) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "waited for {what}; events: {events:#?}");
            events = cvar.wait_timeout(events, left).unwrap().0;
        }
        events.clone()
    }

    /// How many events there are now.
    fn mark(&self) -> usize {
        self.events.0.lock().unwrap().len()
    }

    /// The events after `mark` that anything done so far brings: the
    /// stack file is saved unchanged and kiln reloads it ("no
    /// image changed"). kiln takes what the watcher reports in order, and
    /// a change's (or a build's) consequences are printed when it is, so
    /// whatever earlier saves and builds were to bring comes before that
    /// reload's notice: the events up to it are all of them. (No waiting
    /// for a silence that proves nothing.)
    fn settled_since(&self, mark: usize) -> Vec<Value> {
        let fence = self.mark();
        let text = std::fs::read(&self.stack_file).unwrap();
        std::fs::write(&self.stack_file, text).unwrap();
        let reloaded = |e: &Value| {
            e["type"] == "notice"
                && e["message"]
                    .as_str()
                    .is_some_and(|m| m.ends_with("reloaded (no image changed)"))
        };
        let events = self.until("the stack file saved unchanged to be reloaded", |ev| {
            ev[fence..].iter().any(reloaded)
        });
        let end = fence + events[fence..].iter().position(reloaded).unwrap();
        events[mark..end].to_vec()
    }

    /// Wait until every image in `images` has ended a build (built or
    /// skipped) after `mark`; the events after `mark`.
    fn until_done(&self, mark: usize, images: &[&str]) -> Vec<Value> {
        let events = self.until(&format!("{images:?} to finish"), |ev| {
            images
                .iter()
                .all(|i| ended(&ev[mark.min(ev.len())..], i) > 0)
        });
        events[mark..].to_vec()
    }

    fn interrupt(&mut self) -> Option<i32> {
        send_signal(self.child.id(), libc::SIGINT);
        self.child.wait().unwrap().code()
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            send_signal(self.child.id(), libc::SIGINT);
            let _ = self.child.wait();
        }
    }
}

/// How many builds of `image` ended (built, or skipped as unchanged or
/// prebuilt) in `events`.
fn ended(events: &[Value], image: &str) -> usize {
    events
        .iter()
        .filter(|e| e["image"] == image && (e["type"] == "built" || e["type"] == "skipped"))
        .count()
}

fn count(events: &[Value], ty: &str, image: &str) -> usize {
    of_type(events, ty, Some(image)).len()
}

/// The messages of the notices in `events`.
fn notices(events: &[Value]) -> Vec<&str> {
    of_type(events, "notice", None)
        .iter()
        .filter_map(|n| n["message"].as_str())
        .collect()
}

/// `events` have one `changed` event of `image`, and it names `files`.
fn assert_changed_once(events: &[Value], image: &str, files: Value) {
    let changed = of_type(events, "changed", Some(image));
    assert_eq!(changed.len(), 1, "{events:#?}");
    assert_eq!(changed[0]["files"], files);
}

/// A stack of base (busybox, copies motd) ← web (copies public/, has a
/// .dockerignore; `web_run` ends its Dockerfile), and other (copies extra).
fn web_stack(web_run: &str) -> Stack {
    let s = Stack::new();
    s.busybox_context("base", "COPY motd /etc/motd\n");
    s.write("base/motd", "v1\n");
    s.child_context(
        "web",
        "base",
        &format!("COPY public/ /srv/public/\n{web_run}"),
    );
    s.write("web/public/index.html", "<p>v1</p>\n");
    s.write("web/.dockerignore", "node_modules\n*.log\n");
    s.write("web/notes.md", "not copied by the Dockerfile\n");
    s.write("web/node_modules/left/pad/index.js", "module.exports = 1\n");
    s.busybox_context("other", "COPY extra /extra\n");
    s.write("other/extra", "v1\n");
    s.config(
        r#"
images:
  - {name: base, tags: ["{prefix}/base:latest"]}
  - {name: web, tags: ["{prefix}/web:latest"]}
  - {name: other, tags: ["{prefix}/other:latest"]}
"#,
    );
    s
}

/// base (busybox, `base_dockerfile`) ← app (`app_dockerfile`; its file
/// src/a).
fn base_and_app_stack(s: &Stack, base_dockerfile: &str, app_dockerfile: &str) {
    s.busybox_context("base", base_dockerfile);
    s.child_context("app", "base", app_dockerfile);
    s.write("app/src/a", "a1\n");
    s.config(
        r#"
images:
  - {name: base, tags: ["{prefix}/base:latest"]}
  - {name: app, tags: ["{prefix}/app:latest"]}
"#,
    );
}

/// Start watching `s` (a [`web_stack`]); wait for the first builds to end.
fn watch_all(s: &Stack, args: &[&str]) -> Watching {
    Watching::built(s, args, &["base", "web", "other"])
}

#[test]
fn a_saved_file_rebuilds_its_image_and_dependents_only() {
    require_docker!();
    let s = web_stack("");
    let w = watch_all(&s, &[]);
    let first = w.until("watching", |ev| !of_type(ev, "watching", None).is_empty());
    let watching = of_type(&first, "watching", None)[0];
    assert_eq!(watching["images"], 3);
    // base, web, web/public, other, and the stack's directory (for
    // kiln.yaml and the contexts themselves): not node_modules.
    assert_eq!(watching["dirs"], 5, "{watching}");
    assert!(watching["paths"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p.as_str().unwrap().ends_with("kiln.yaml")));

    let mark = w.mark();
    s.write("base/motd", "v2\n");
    let after = w.until_done(mark, &["base", "web"]);
    assert_changed_once(&after, "base", serde_json::json!(["motd"]));
    assert_eq!(count(&after, "started", "base"), 1);
    assert_eq!(count(&after, "started", "web"), 1, "web builds on base");
    assert!(position(&after, "built", "base") < position(&after, "started", "web"));
    let later = w.settled_since(mark);
    assert!(
        later.iter().all(|e| e["image"] != "other"),
        "other rebuilt: {later:#?}"
    );

    let mark = w.mark();
    s.write("web/public/new/deep/page.html", "<p>new</p>\n");
    let after = w.until_done(mark, &["web"]);
    let changed = of_type(&after, "changed", Some("web"));
    let files: Vec<&str> = changed
        .iter()
        .flat_map(|c| c["files"].as_array().unwrap())
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(files.contains(&"public/new/deep/page.html"), "{files:?}");
    assert_eq!(count(&after, "built", "web"), 1, "{after:#?}");
    let later = w.settled_since(mark);
    assert!(later
        .iter()
        .all(|e| e["image"] != "base" && e["image"] != "other"));
}

#[test]
fn a_base_and_its_dependent_saved_together_build_in_dependency_order() {
    require_docker!();
    let s = Stack::new();
    // `app` sorts before `base`: the watcher names it first.
    base_and_app_stack(&s, "COPY motd /etc/motd\n", "COPY src /src\n");
    s.write("base/motd", "v1\n");
    let w = Watching::built(&s, &[], &["base", "app"]);
    let good = std::fs::read_to_string(s.path("base/Dockerfile")).unwrap();

    // Saved in one go: a base that fails, and a file of the app.
    let mark = w.mark();
    s.write("base/Dockerfile", &format!("{good}RUN exit 3\n"));
    s.write("app/src/a", "a2\n");
    w.until("base to fail", |ev| {
        count(&ev[mark..], "failed", "base") == 1
    });
    let after = w.settled_since(mark);
    assert_eq!(count(&after, "changed", "app"), 1, "{after:#?}");
    assert_eq!(
        count(&after, "started", "app"),
        0,
        "app built on the old base: {after:#?}"
    );
    let skipped = of_type(&after, "skipped", Some("app"));
    assert_eq!(skipped.len(), 1, "{after:#?}");
    assert_eq!(skipped[0]["reason"], "dependency_failed");

    // Fixed, with another file of the app: app builds once, on the new
    // base.
    let mark = w.mark();
    s.write("base/Dockerfile", &format!("{good}LABEL fixed=yes\n"));
    s.write("app/src/b", "b1\n");
    w.until_done(mark, &["base", "app"]);
    let after = w.settled_since(mark);
    assert_eq!(count(&after, "built", "base"), 1, "{after:#?}");
    assert_eq!(count(&after, "started", "app"), 1, "{after:#?}");
    assert_eq!(count(&after, "built", "app"), 1, "{after:#?}");
    assert!(position(&after, "built", "base") < position(&after, "started", "app"));
    let app = inspect(&s.tag("app")).unwrap();
    assert_eq!(
        app["Config"]["Labels"]["fixed"], "yes",
        "built on the new base"
    );
}

#[test]
fn ignored_and_unread_files_rebuild_nothing() {
    require_docker!();
    let s = web_stack("");
    let w = watch_all(&s, &[]);
    let mark = w.mark();
    s.write("web/debug.log", "ignored by .dockerignore\n");
    s.write("web/node_modules/left/pad/index.js", "module.exports = 2\n");
    s.write("web/node_modules/new/index.js", "module.exports = 3\n");
    s.write("web/notes.md", "the Dockerfile never copies this\n");
    s.write("web/public/.index.html.swp", "an editor's swap file\n");
    let quiet = w.settled_since(mark);
    assert!(quiet.is_empty(), "{quiet:#?}");

    // The watcher still sees what matters, and names only that.
    s.write("web/public/index.html", "<p>v2</p>\n");
    let after = w.until_done(mark, &["web"]);
    assert_changed_once(&after, "web", serde_json::json!(["public/index.html"]));
    assert_eq!(count(&after, "built", "web"), 1);
}

#[test]
fn changed_file_names_are_json_data() {
    require_docker!();
    let s = web_stack("");
    let w = watch_all(&s, &[]);
    let mark = w.mark();
    s.write("web/public/c2\u{9b}\u{1b}", "odd\n");
    let after = w.until("the change", |ev| count(&ev[mark..], "changed", "web") == 1);
    let changed = of_type(&after[mark..], "changed", Some("web"))[0];
    // The name itself, escaped as JSON escapes any string (`\u009b`,
    // `\u001b`), not text pre-rendered for a terminal (`\\e`).
    assert_eq!(
        changed["files"],
        serde_json::json!(["public/c2\u{9b}\u{1b}"]),
        "{changed}"
    );
}

#[test]
fn saves_during_a_build_give_exactly_one_more_build() {
    require_docker!();
    let s = web_stack("RUN sleep 4\n");
    // (--no-cache: the sleep must run, even on a second run of the suite.)
    let w = watch_all(&s, &["--no-cache"]);
    let mark = w.mark();
    s.write("web/public/a.txt", "a\n");
    w.until("web to start", |ev| {
        count(&ev[mark..], "started", "web") == 1
    });
    s.write("web/public/b.txt", "b\n");
    // Seen (a change of its own), then saved again.
    w.until("the save during the build", |ev| {
        count(&ev[mark..], "changed", "web") == 2
    });
    s.write("web/public/b.txt", "b, saved again\n");
    w.until("a second build of web", |ev| {
        count(&ev[mark..], "started", "web") == 2
    });
    let after = w.until("the second build to end", |ev| {
        count(&ev[mark..], "built", "web") == 2
    });
    let later = w.settled_since(mark);
    assert_eq!(count(&later, "started", "web"), 2, "{later:#?}");
    assert_eq!(count(&later, "queued", "web"), 2, "{later:#?}");
    assert_eq!(count(&later, "cancelled", "web"), 0);
    let second = position(&after[mark..], "built", "web");
    assert!(
        second
            < after[mark..]
                .iter()
                .rposition(|e| e["type"] == "started" && e["image"] == "web")
                .unwrap(),
        "the second build starts after the first ends"
    );
}

#[test]
fn with_restart_a_save_cancels_the_running_build() {
    require_docker!();
    let s = web_stack("RUN sleep 30\n");
    s.write("web/public/index.html", "<p>first</p>\n");
    let w = Watching::start(&s, &["--restart", "--no-cache"]);
    w.until("web to start", |ev| count(ev, "started", "web") == 1);
    s.write("web/public/index.html", "<p>second</p>\n");
    w.until("web to be cancelled and started again", |ev| {
        count(ev, "cancelled", "web") == 1 && count(ev, "started", "web") == 2
    });
}

#[test]
fn a_broken_stack_file_keeps_the_last_good_stack_until_fixed() {
    require_docker!();
    let s = web_stack("");
    let w = watch_all(&s, &[]);
    let good = std::fs::read_to_string(s.path("kiln.yaml")).unwrap();

    let mark = w.mark();
    s.write(
        "kiln.yaml",
        &good.replace("- {name: other,", "- {name: other, contxt: x,"),
    );
    let after = w.until("the stack error", |ev| {
        !of_type(&ev[mark..], "notice", None).is_empty()
    });
    let notice = notices(&after[mark..])[0].to_string();
    assert!(notice.contains("still using the last good one"), "{notice}");
    assert!(notice.contains("kiln.yaml:5:"), "the position: {notice}");
    assert!(notice.contains("contxt"), "{notice}");

    // The last good stack still runs.
    let mark = w.mark();
    s.write("other/extra", "v2\n");
    w.until_done(mark, &["other"]);

    // Fixed, with web's args changed: web (only) rebuilds.
    let mark = w.mark();
    s.write(
        "kiln.yaml",
        &good.replace(
            "- {name: web, tags:",
            "- {name: web, args: {EDITION: \"2\"}, tags:",
        ),
    );
    let after = w.until_done(mark, &["web"]);
    let said = notices(&after);
    assert!(
        said.iter()
            .any(|m| m.ends_with("kiln.yaml reloaded (changed: web)")),
        "{said:?}"
    );
    assert!(!of_type(&after, "watching", None).is_empty());
    assert_eq!(count(&after, "built", "web"), 1, "{after:#?}");
    let later = w.settled_since(mark);
    assert_eq!(count(&later, "started", "base"), 0);
    assert_eq!(count(&later, "started", "other"), 0);
}

#[test]
fn a_compose_stacks_env_file_is_watched_and_reloads_it() {
    require_docker!();
    let s = Stack::new();
    s.busybox_context("base", "");
    s.child_context("web", "base", "ARG EDITION\nLABEL edition=$EDITION\n");
    s.write(
        "compose.yaml",
        &format!(
            "services:\n  base:\n    build: ./base\n    image: {p}/base:latest\n  \
             web:\n    build:\n      context: ./web\n      args:\n        \
             EDITION: ${{EDITION:-0}}\n    image: {p}/web:latest\n",
            p = s.prefix
        ),
    );
    s.write(".env", "EDITION=1\n");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kiln"));
    cmd.current_dir(s.dir.path())
        .args(["-f", "compose.yaml", "-p", &s.prefix, "watch", "--json"])
        .env_remove("EDITION")
        .env_remove("COMPOSE_PROJECT_NAME")
        .env_remove("COMPOSE_PROFILES");
    isolate(&mut cmd, s.home.path());
    let w = Watching::spawn(cmd, s.path("compose.yaml"));
    let first = w.until_done(0, &["base", "web"]);
    let watching = of_type(&first, "watching", None)[0];
    let paths: Vec<&str> = watching["paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert!(
        paths.iter().any(|p| p.ends_with("/compose.yaml")),
        "{paths:?}"
    );
    assert!(paths.iter().any(|p| p.ends_with("/.env")), "{paths:?}");

    let mark = w.mark();
    s.write(".env", "EDITION=2\n");
    let after = w.until_done(mark, &["web"]);
    let said = notices(&after);
    assert!(
        said.iter().any(|m| m.ends_with("reloaded (changed: web)")),
        "{said:?}"
    );
    assert_eq!(count(&after, "built", "web"), 1, "{after:#?}");
    let web = inspect(&format!("{}/web:latest", s.prefix)).unwrap();
    assert_eq!(web["Config"]["Labels"]["edition"], "2");
    let later = w.settled_since(mark);
    assert_eq!(count(&later, "started", "base"), 0);
}

#[test]
fn a_dockerfile_outside_the_context_is_watched() {
    require_docker!();
    let s = Stack::new();
    s.busybox_context("app", "");
    let dockerfile = std::fs::read_to_string(s.path("app/Dockerfile")).unwrap();
    std::fs::remove_file(s.path("app/Dockerfile")).unwrap();
    s.write("docker/app.Dockerfile", &dockerfile);
    s.config(
        "images:\n  - {name: app, dockerfile: ../docker/app.Dockerfile, tags: [\"{prefix}/app:latest\"]}\n",
    );
    let w = Watching::built(&s, &[], &["app"]);
    let mark = w.mark();
    s.write(
        "docker/app.Dockerfile",
        &format!("{dockerfile}LABEL edited=yes\n"),
    );
    let after = w.until_done(mark, &["app"]);
    let changed = of_type(&after, "changed", Some("app"));
    assert_eq!(changed.len(), 1, "{after:#?}");
    assert!(changed[0]["files"][0]
        .as_str()
        .unwrap()
        .ends_with("docker/app.Dockerfile"));
    assert_eq!(count(&after, "built", "app"), 1, "{after:#?}");
}

#[test]
fn a_renamed_context_fails_its_image_only() {
    require_docker!();
    let s = web_stack("");
    let w = watch_all(&s, &[]);
    let mark = w.mark();
    std::fs::rename(s.path("other"), s.path("other-moved")).unwrap();
    let after = w.until("other to fail", |ev| {
        count(&ev[mark..], "failed", "other") == 1
    });
    let failed = of_type(&after[mark..], "failed", Some("other"))[0];
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .contains("was deleted or renamed"),
        "{failed}"
    );
    // The others are still watched.
    let mark = w.mark();
    s.write("web/public/index.html", "<p>still here</p>\n");
    let after = w.until_done(mark, &["web"]);
    assert_eq!(count(&after, "built", "web"), 1);
    assert_eq!(count(&after, "failed", "web"), 0);
}

/// A base whose Dockerfile says `ONBUILD COPY src /src`: an image built on
/// it reads its own `src`, which its own Dockerfile never names.
#[test]
fn what_a_bases_onbuild_copy_reads_is_watched() {
    require_docker!();
    let s = Stack::new();
    base_and_app_stack(&s, "ONBUILD COPY src /src\n", "LABEL app=yes\n");
    let w = Watching::built(&s, &[], &["base", "app"]);
    let mark = w.mark();
    s.write("app/src/a", "a2\n");
    let later = w.settled_since(mark);
    assert_changed_once(&later, "app", serde_json::json!(["src/a"]));
    w.until_done(mark, &["app"]);
    let later = w.settled_since(mark);
    assert_eq!(count(&later, "built", "app"), 1, "{later:#?}");
    assert_eq!(count(&later, "started", "base"), 0);
}

/// kiln's data and cache directories inside a watched context: its own
/// writes (the history's WAL, logs, the hash cache) are no change.
#[test]
fn kilns_own_writes_inside_a_context_are_no_change() {
    require_docker!();
    let s = Stack::new();
    s.busybox_context("app", "COPY . /x/\n");
    s.write("app/src/a", "a\n");
    s.config("images:\n  - {name: app, tags: [\"{prefix}/app:latest\"]}\n");
    let home = s.path("app/home");
    let mut cmd = s.kiln_cmd(&["watch", "--json"]);
    cmd.env("XDG_DATA_HOME", home.join(".local/share"))
        .env("XDG_CACHE_HOME", home.join(".cache"));
    let w = Watching::spawn(cmd, s.path("kiln.yaml"));
    let first = w.until_done(0, &["app"]);
    let warned = notices(&first)
        .into_iter()
        .filter(|m| m.contains("kiln's own data or cache directory is inside"));
    assert_eq!(warned.count(), 1, "{first:#?}");
    // A real change still counts, once; what kiln writes meanwhile does not.
    let mark = w.mark();
    s.write("app/src/a", "a2\n");
    w.until_done(mark, &["app"]);
    let later = w.settled_since(mark);
    assert_changed_once(&later, "app", serde_json::json!(["src/a"]));
    assert_eq!(count(&later, "started", "app"), 1, "{later:#?}");
}

/// `kiln watch` where inotify cannot start: in a user namespace of its
/// own whose limit of inotify instances is 0 (`/proc/sys/user/
/// max_inotify_instances`, per user namespace), so inotify_init fails
/// with EMFILE every time.
#[test]
fn watch_that_cannot_start_inotify_exits_failed_saying_why() {
    require_docker!();
    let userns = Command::new("unshare").args(["-Ur", "true"]).status();
    if !userns.is_ok_and(|s| s.success()) {
        cannot_run("user namespaces are not available (unshare -Ur)");
        return;
    }
    let s = web_stack("");
    let kiln = s.kiln_cmd(&["watch", "--json"]);
    let mut cmd = Command::new("unshare");
    cmd.args([
        "-Ur",
        "sh",
        "-c",
        "echo 0 > /proc/sys/user/max_inotify_instances && exec \"$0\" \"$@\"",
    ]);
    cmd.arg(kiln.get_program()).args(kiln.get_args());
    for (k, v) in kiln.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let out = common::fake_daemon::run_bounded(cmd, PATIENCE);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}\n{}", stdout(&out));
    assert!(
        err.contains("watch mode cannot watch files: inotify cannot start"),
        "{err}"
    );
    assert!(err.contains("max_user_instances"), "{err}");
    let events = events(&out);
    assert!(of_type(&events, "watching", None).is_empty(), "{events:#?}");
    assert!(
        !events.iter().any(|e| e["type"] == "started"),
        "nothing built: {events:#?}"
    );
    assert_eq!(events.last().unwrap()["type"], "summary");
}

#[test]
fn ctrl_c_cancels_the_builds_and_exits_130() {
    require_docker!();
    let s = Stack::new();
    let marker = format!("{}-watch-sleeper", s.prefix);
    s.busybox_context("slow", &format!("RUN echo {marker} && sleep 120\n"));
    s.config("images:\n  - name: slow\n    tags: [\"{prefix}/slow:latest\"]\n");
    let mut w = Watching::start(&s, &["--builder", "legacy", "--no-cache"]);
    w.until("the slow step to run", |ev| {
        ev.iter()
            .any(|e| e["type"] == "log" && e["line"] == marker.as_str())
    });
    let running =
        || stdout(&docker(&["ps", "--no-trunc", "--format", "{{.Command}}"])).contains(&marker);
    // (docker ps lags the log line under load.)
    assert!(
        eventually(Duration::from_secs(10), running),
        "the build container should be running"
    );
    assert_eq!(w.interrupt(), Some(130));
    let events = w.until("the summary", |ev| {
        ev.last().is_some_and(|e| e["type"] == "summary")
    });
    assert_eq!(count(&events, "cancelled", "slow"), 1);
    // The session's runs, said once before the summary.
    let session: Vec<&str> = notices(&events)
        .into_iter()
        .filter(|m| m.starts_with("this session: "))
        .collect();
    assert_eq!(session.len(), 1, "{events:?}");
    assert!(
        session[0].starts_with("this session: 1 cancelled (slow) in "),
        "{session:?}"
    );
    assert!(
        eventually(Duration::from_secs(20), || !running()),
        "the build container is still running after Ctrl-C"
    );
}

/// Issue 21, item 5: the Dockerfile's own ignore file replaces
/// `.dockerignore` for the daemon, and so for watch: a file only
/// `.dockerignore` leaves out rebuilds; one the Dockerfile's own file
/// leaves out does not; a change to the Dockerfile's own file is read.
#[test]
fn the_dockerfiles_own_ignore_file_decides_what_is_watched() {
    require_docker!();
    let s = Stack::new();
    s.busybox_context("w", "COPY . /x/\n");
    s.write("w/.dockerignore", "a\n");
    s.write("w/Dockerfile.dockerignore", "b/x\n");
    s.write("w/a/only", "v1\n");
    s.write("w/b/x", "v1\n");
    s.config("images:\n  - {name: w, builder: buildkit, tags: [\"{prefix}/w:latest\"]}\n");
    let w = Watching::built(&s, &[], &["w"]);

    let mark = w.mark();
    s.write("w/b/x", "v2\n");
    let quiet = w.settled_since(mark);
    assert!(quiet.is_empty(), "{quiet:#?}");

    let mark = w.mark();
    s.write("w/a/only", "v2\n");
    let after = w.until_done(mark, &["w"]);
    assert_changed_once(&after, "w", serde_json::json!(["a/only"]));
    assert_eq!(count(&after, "built", "w"), 1, "{after:#?}");

    // The Dockerfile's own file gone: `.dockerignore` rules again.
    let mark = w.mark();
    std::fs::remove_file(s.path("w/Dockerfile.dockerignore")).unwrap();
    w.until_done(mark, &["w"]);
    let mark = w.mark();
    s.write("w/a/only", "v3\n");
    let quiet = w.settled_since(mark);
    assert!(quiet.is_empty(), "{quiet:#?}");
}
