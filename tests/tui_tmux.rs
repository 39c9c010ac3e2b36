//! End to end: the real binary's dashboard under tmux against the real
//! daemon (and a real local registry). A build that sleeps longer than
//! --stall-after shows a live "silent" counter, then done; a dashboard
//! opened after a headless build shows history, reads a long error with
//! `w`, hands the full saved log to `$PAGER` with `o`, force-rebuilds a
//! cached image with `F`, and ignores the `q` that closes `?`; tags edited
//! with `e` are the ones pushed to the registry. `q` leaves the alternate
//! screen and the shell is back.
#![allow(clippy::unwrap_used, clippy::string_slice)]

mod common;

use std::time::Duration;

use common::registry::Registry;
use common::tmux::Tmux;
use common::*;

/// `kiln ARGS` of stack `s` in a shell in tmux, with `env` added to the
/// test's isolated environment; None without tmux.
fn kiln_in_tmux(s: &Stack, args: &[&str], env: &[(&str, &str)]) -> Option<Tmux> {
    Tmux::start(&command_line(s, args, env))
}

/// The shell command line running `kiln ARGS` with the test's isolated
/// environment spelled out (a tmux server does not pass a client's
/// environment on), then printing its exit code.
fn command_line(s: &Stack, args: &[&str], env: &[(&str, &str)]) -> String {
    let mut cmd = s.kiln_cmd(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    format!("{}; echo KILN_EXIT=$?", shell_words(&cmd))
}

/// The list row of image `name` (`✓ name …`), without the pane beside it.
fn row<'a>(screen: &'a str, name: &str) -> &'a str {
    screen
        .lines()
        .map(|l| l.split("││").next().unwrap_or(l))
        .find(|l| l.contains(&format!(" {name} ")) && l.starts_with('│'))
        .unwrap_or("")
}

#[test]
fn dashboard_shows_a_stall_then_done_and_quits_cleanly() {
    require_docker!();
    let s = Stack::new();
    s.busybox_context("sleeper", "RUN echo before-sleep\nRUN sleep 4\n");
    s.config(
        r#"
images:
  - name: sleeper
    tags: ["{prefix}/sleeper:latest"]
"#,
    );
    let args = [
        "--build",
        "--builder",
        "legacy",
        "--stall-after",
        "2s",
        "--no-cache",
    ];
    let Some(tmux) = kiln_in_tmux(&s, &args, &[]) else {
        return;
    };
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
    let (code, shell) = tmux.quit();
    assert_eq!(code, "0", "{shell}");
    assert!(
        !shell.contains("images (1)"),
        "alternate screen left:\n{shell}"
    );
    assert!(
        shell.contains("kiln | 1 built in"),
        "summary printed:\n{shell}"
    );
}

/// After a headless build: history on open, `w` on a long error, `?` then
/// `q`, `o` with a pager that copies the saved log, `F` on a cached image.
#[test]
fn dashboard_after_a_headless_build_reads_history_pages_and_force_rebuilds() {
    require_docker!();
    let s = Stack::new();
    // 12 000 lines: more than the pane keeps in memory (10 000).
    s.busybox_context("chatty", "RUN seq 1 12000\n");
    let long = format!("{}END-OF-LINE", "e".repeat(389));
    s.busybox_context(
        "broken",
        &format!("RUN echo starting && echo {long} >&2 && exit 3\n"),
    );
    s.config(
        r#"
images:
  - name: chatty
    tags: ["{prefix}/chatty:latest"]
  - name: broken
    tags: ["{prefix}/broken:latest"]
"#,
    );
    let out = s.kiln(&["build", "--builder", "legacy", "--no-cache"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let paged = s.path("paged.log");
    let pager = s.path("pager.sh");
    std::fs::write(
        &pager,
        format!("#!/bin/sh\ncp \"$1\" '{}'\n", paged.display()),
    )
    .unwrap();
    std::fs::set_permissions(&pager, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let pager = pager.display().to_string();
    let Some(tmux) = kiln_in_tmux(&s, &["--builder", "legacy"], &[("PAGER", &pager)]) else {
        return;
    };

    // History on open: each image's last result, its log in the pane.
    // (The whole first frame: under load tmux can show one half-drawn.)
    let screen = tmux.wait_for("history", Duration::from_secs(30), |sc| {
        row(sc, "broken").contains("failed") && sc.contains("12000")
    });
    assert!(row(&screen, "chatty").contains("built"), "{screen}");
    assert!(
        row(&screen, "broken").contains("exit 3 at"),
        "the reason:\n{screen}"
    );
    assert!(
        screen.contains("11999") && screen.contains("12000"),
        "{screen}"
    );

    // `w`: the end of the 400-character line is on screen.
    tmux.keys(&["j"]);
    let screen = tmux.wait_for("broken's log", Duration::from_secs(10), |sc| {
        sc.contains("starting")
    });
    assert!(!screen.contains("END-OF-LINE"), "cut before w:\n{screen}");
    tmux.keys(&["w"]);
    tmux.wait_for("the wrapped line's end", Duration::from_secs(10), |sc| {
        sc.contains("END-OF-LINE")
    });

    // `?` then `q`: the help closes, kiln stays.
    tmux.keys(&["?"]);
    tmux.wait_for("the help", Duration::from_secs(10), |sc| {
        sc.contains(" keys ")
    });
    tmux.keys(&["q"]);
    let screen = tmux.wait_for("the help to close", Duration::from_secs(10), |sc| {
        !sc.contains(" keys ")
    });
    assert!(
        screen.contains("images (2)") && !screen.contains(" keys "),
        "{screen}"
    );

    // `o`: the pager gets the saved file, every line.
    tmux.keys(&["k", "o"]);
    assert!(
        eventually(Duration::from_secs(20), || paged.exists()),
        "the pager never ran"
    );
    tmux.wait_for("the dashboard back", Duration::from_secs(10), |sc| {
        sc.contains("images (2)")
    });
    let text = std::fs::read_to_string(&paged).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines.contains(&"1") && lines.contains(&"12000"),
        "{}",
        text.len()
    );
    assert!(lines.len() > 12_000, "{} lines", lines.len());

    // `F`: the cached image is built again, not found unchanged; and `o`
    // does not stop the dashboard: while the pager has the terminal, the
    // build goes on and is recorded.
    let stop = s.path("pager.stop");
    std::fs::write(
        s.path("pager.sh"),
        format!(
            "#!/bin/sh\nwhile [ ! -e '{}' ]; do sleep 0.1; done\n",
            stop.display()
        ),
    )
    .unwrap();
    tmux.keys(&["F", "o"]);
    let history = kiln::history::History::open(
        &s.home.path().join("data").join("kiln"),
        &s.path("kiln.yaml"),
    )
    .expect("history");
    let recorded = eventually(Duration::from_secs(120), || {
        history
            .runs("chatty")
            .is_ok_and(|runs| runs.len() == 2 && runs[0].result == "built")
    });
    assert!(
        recorded,
        "the build did not finish while the pager was open"
    );
    std::fs::write(&stop, "").unwrap();
    let screen = tmux.wait_for("chatty rebuilt", Duration::from_secs(30), |sc| {
        row(sc, "chatty").contains("built,")
    });
    assert!(row(&screen, "chatty").contains("cached"), "{screen}");
    assert!(!screen.contains("stalled"), "no false stall:\n{screen}");
    let (code, shell) = tmux.quit();
    assert_eq!(code, "0", "nothing failed in this session:\n{shell}");
    assert!(shell.contains("kiln | 1 built in"), "{shell}");
}

/// Tags changed with `e` are built and pushed; the registry has the
/// edited tag, not the one in kiln.yaml; `kiln ls` records it.
#[test]
fn edited_tags_are_pushed_to_the_registry() {
    require_docker!();
    let registry = Registry::start();
    let s = Stack::new();
    s.busybox_context("app", "RUN echo built\n");
    let repo = format!("{}/{}", registry.host, s.prefix);
    s.config(&format!(
        "images:\n  - name: app\n    tags: [\"{repo}/app:old\"]\n"
    ));
    let Some(tmux) = kiln_in_tmux(&s, &["--builder", "legacy"], &[]) else {
        return;
    };
    tmux.wait_for("the dashboard", Duration::from_secs(30), |sc| {
        sc.contains("images (1)")
    });
    tmux.keys(&["e"]);
    tmux.wait_for("the edit prompt", Duration::from_secs(10), |sc| {
        sc.contains("tags: ")
    });
    // The cursor is on the last line (target:); the tags line is above it.
    tmux.keys(&["Up", "C-u"]);
    tmux.type_text(&format!("tags: {repo}/app:edited"));
    tmux.keys(&["Enter"]);
    tmux.wait_for("the edits saved", Duration::from_secs(10), |sc| {
        sc.contains("app ✎")
    });
    tmux.keys(&["b"]);
    tmux.wait_for("app built", Duration::from_secs(120), |sc| {
        row(sc, "app").contains("built")
    });
    tmux.keys(&["p"]);
    tmux.wait_for("app pushed", Duration::from_secs(120), |sc| {
        row(sc, "app").contains("pushed")
    });
    let (code, shell) = tmux.quit();
    assert_eq!(code, "0", "{shell}");

    let name = format!("{}/app", s.prefix);
    assert!(
        registry.manifest_digest(&name, "edited").is_some(),
        "the edited tag is not in the registry"
    );
    assert!(
        registry.manifest_digest(&name, "old").is_none(),
        "the config's tag was pushed"
    );
    let ls = stdout(&s.kiln(&["ls"]));
    assert!(ls.contains(&format!("{repo}/app:edited (pushed)")), "{ls}");
    remove_images(&[format!("{repo}/app:edited")]);
}

/// `p` on an image built before the dashboard opened pushes what the
/// daemon has, saying so, and only the tags `push_tags` chooses (the
/// local-only tag would go to docker.io and fail).
#[test]
fn p_pushes_an_image_built_earlier_with_its_push_tags() {
    require_docker!();
    let registry = Registry::start();
    let s = Stack::new();
    s.busybox_context("app", &format!("RUN echo {} > /id\n", s.prefix));
    let repo = format!("{}/{}", registry.host, s.prefix);
    s.config(&format!(
        "images:\n  - name: app\n    tags: [\"{{prefix}}/app:latest\", \"{repo}/app:1\"]\n    push_tags: [\"{}/*\"]\n",
        registry.host
    ));
    let _cleanup = RemoveImages(vec![format!("{repo}/app:1")]);
    let out = s.kiln(&["build", "--builder", "legacy"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let Some(tmux) = kiln_in_tmux(&s, &["--builder", "legacy"], &[]) else {
        return;
    };
    tmux.wait_for(
        "the dashboard with app's last build",
        Duration::from_secs(30),
        |sc| row(sc, "app").contains("built"),
    );
    tmux.keys(&["p"]);
    let screen = tmux.wait_for("app pushed", Duration::from_secs(120), |sc| {
        row(sc, "app").contains("pushed")
    });
    assert!(
        screen.contains("as the daemon has it") || screen.contains(&format!("{repo}/app:1")),
        "{screen}"
    );
    let (code, shell) = tmux.quit();
    assert_eq!(code, "0", "{shell}");
    let name = format!("{}/app", s.prefix);
    assert!(
        registry.manifest_digest(&name, "1").is_some(),
        "not in the registry"
    );
    let ls = stdout(&s.kiln(&["ls"]));
    assert!(ls.contains(&format!("{repo}/app:1 (pushed)")), "{ls}");
}

/// The id the daemon has for `tag`.
fn image_id(tag: &str) -> String {
    let out = std::process::Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}}", tag])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `N` rebuilds the selected image without the daemon's cache: a step
/// that stamps the time runs again, so the image is a new one (with the
/// cache, `F`, it would be the same image).
#[test]
fn capital_n_rebuilds_without_the_cache() {
    require_docker!();
    let s = Stack::new();
    // A chain of its own from the first step: the classic builder's cache
    // may otherwise continue an equal chain another test built meanwhile,
    // and the stamp would run again under `F` too.
    s.busybox_context("stamp", "RUN date +%s%N > /stamp\n");
    let dockerfile = std::fs::read_to_string(s.path("stamp/Dockerfile")).unwrap();
    s.write(
        "stamp/Dockerfile",
        &dockerfile.replacen(
            "FROM scratch\n",
            &format!("FROM scratch\nENV MARK={}\n", s.prefix),
            1,
        ),
    );
    s.config("images:\n  - name: stamp\n    tags: [\"{prefix}/stamp:latest\"]\n");
    let out = s.kiln(&["build", "--builder", "legacy"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let tag = s.tag("stamp");
    let first = image_id(&tag);
    assert!(first.starts_with("sha256:"), "{first}");
    let Some(tmux) = kiln_in_tmux(&s, &["--builder", "legacy"], &[]) else {
        return;
    };
    tmux.wait_for("the dashboard", Duration::from_secs(30), |sc| {
        row(sc, "stamp").contains("built")
    });
    tmux.keys(&["F"]);
    tmux.wait_for("the forced rebuild", Duration::from_secs(120), |sc| {
        row(sc, "stamp").contains("✓") && !row(sc, "stamp").contains("ago")
    });
    assert_eq!(
        image_id(&tag),
        first,
        "F builds on the cache: the same image; {}",
        stdout(&s.kiln(&["logs", "stamp"]))
    );
    tmux.keys(&["N"]);
    let screen = tmux.wait_for(
        "rebuilding without the cache",
        Duration::from_secs(30),
        |sc| sc.contains("without the cache"),
    );
    assert!(
        screen.contains("rebuilding stamp without the cache"),
        "{screen}"
    );
    tmux.wait_for(
        "the rebuild without the cache",
        Duration::from_secs(120),
        |sc| row(sc, "stamp").contains("✓") && image_id(&tag) != first,
    );
    let (code, shell) = tmux.quit();
    assert_eq!(code, "0", "{shell}");
    let log = stdout(&s.kiln(&["logs", "stamp"]));
    assert!(
        !log.contains("(cached)"),
        "a step came from the cache: {log}"
    );
}

/// After the terminal is resized (bigger), quitting leaves the main screen
/// clean: no rows of the dashboard around the shell's lines.
#[test]
fn quitting_after_a_resize_leaves_the_main_screen_clean() {
    require_docker!();
    let s = Stack::new();
    s.busybox_context("app", "");
    s.config("images:\n  - name: app\n    tags: [\"{prefix}/app:latest\"]\n");
    let Some(tmux) = kiln_in_tmux(&s, &[], &[]) else {
        return;
    };
    tmux.wait_for("the dashboard", Duration::from_secs(30), |sc| {
        sc.contains("images (1)")
    });
    tmux.run(&["resize-window", "-t", "kiln", "-x", "160", "-y", "50"]);
    tmux.wait_for(
        "the dashboard at its new size",
        Duration::from_secs(10),
        |sc| {
            sc.lines().count() >= 45
                && sc
                    .lines()
                    .any(|l| l.chars().count() >= 150 && l.contains("images (1)"))
        },
    );
    let (code, shell) = tmux.quit();
    assert_eq!(code, "0", "{shell}");
    for frame in ["│", "┌", "└", "images (1)"] {
        assert!(
            !shell.contains(frame),
            "the dashboard left {frame:?}:\n{shell}"
        );
    }
}

/// `kiln ARGS` (no `-f`: the stack is discovered) started in `dir` in a
/// shell in tmux, with the stack's isolated environment.
fn kiln_in_tmux_from(s: &Stack, dir: &std::path::Path, args: &[&str]) -> Option<Tmux> {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_kiln"));
    cmd.args(args);
    isolate(&mut cmd, s.home.path());
    let cd = sh_quote(&dir.display().to_string());
    Tmux::start(&format!(
        "cd {cd} && {}; echo KILN_EXIT=$?",
        shell_words(&cmd)
    ))
}

/// The frame names the stack on the list's bottom border: a kiln.yaml
/// found from a directory below it as `../kiln.yaml`, a compose file by
/// its project name (`-p`).
/// The dashboard's screen once it shows its one image, and the list's
/// bottom border (where the stack's name is).
fn list_bottom_border(tmux: &Tmux) -> (String, String) {
    let screen = tmux.wait_for("the dashboard", Duration::from_secs(30), |sc| {
        sc.contains("images (1)")
    });
    let border = screen
        .lines()
        .find(|l| l.starts_with('└'))
        .unwrap_or_default()
        .to_string();
    (screen, border)
}

#[test]
fn dashboard_names_its_stack_in_its_frame() {
    require_docker!();
    let s = Stack::new();
    s.busybox_context("app", "");
    s.config("images:\n  - name: app\n    tags: [\"{prefix}/app:latest\"]\n");
    let Some(tmux) = kiln_in_tmux_from(&s, &s.path("app"), &[]) else {
        return;
    };
    let (screen, border) = list_bottom_border(&tmux);
    assert!(border.starts_with("└ ../kiln.yaml ─"), "{screen}");
    let (code, shell) = tmux.quit();
    assert_eq!(code, "0", "{shell}");

    let c = Stack::new();
    c.busybox_context("proj/web", "");
    c.write(
        "proj/compose.yaml",
        &format!(
            "services:\n  web:\n    build: ./web\n    image: {}\n",
            c.tag("web")
        ),
    );
    let Some(tmux) = kiln_in_tmux_from(&c, &c.path("proj"), &["-p", "shop-eu"]) else {
        return;
    };
    let (screen, border) = list_bottom_border(&tmux);
    assert!(
        border.starts_with("└ compose project shop-eu ─"),
        "{screen}"
    );
    let (code, shell) = tmux.quit();
    assert_eq!(code, "0", "{shell}");
}
