//! What a user installing kiln meets besides the builds: completion scripts
//! that real bash, zsh and fish load and that complete the stack's image
//! names, a man page `man` renders without a warning that documents every
//! environment variable kiln reads, and `--version` naming the commit.
#![allow(clippy::unwrap_used, clippy::string_slice)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::Stack;

/// `shell ARGS` in `dir`, with `kiln` on PATH (the scripts call it by name).
fn shell(stack: &Stack, dir: &Path, program: &str, args: &[&str]) -> Output {
    let bin = stack.home.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let link = bin.join("kiln");
    if !link.exists() {
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_kiln"), &link).unwrap();
    }
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new(program);
    cmd.current_dir(dir)
        .args(args)
        .env("PATH", path)
        .stdin(Stdio::null());
    common::isolate(&mut cmd, stack.home.path());
    cmd.output()
        .unwrap_or_else(|e| panic!("run {program} (run scripts/setup): {e}"))
}

/// A stack of three images (kiln.yaml) beside another file of two; their
/// contexts under `ctx/`, so no file name is an image name.
fn stacks() -> Stack {
    let s = Stack::new();
    let entries = |names: &[&str]| {
        let mut yaml = String::from("images:\n");
        for name in names {
            s.write(&format!("ctx/{name}/Dockerfile"), "FROM scratch\n");
            yaml.push_str(&format!("  - name: {name}\n    context: ./ctx/{name}\n"));
        }
        yaml
    };
    let kiln = entries(&["base", "api", "web"]);
    let other = entries(&["alpha", "beta"]);
    s.write("kiln.yaml", &kiln);
    s.write("other.yaml", &other);
    s
}

fn words(out: &Output) -> Vec<String> {
    assert!(
        out.status.success(),
        "{}{}",
        common::stdout(out),
        common::stderr(out)
    );
    common::stdout(out)
        .split_whitespace()
        .map(String::from)
        .collect()
}

/// Runs bash's completion function for `line` (the word being completed
/// is the last one, possibly empty) and returns what it offers.
fn bash_complete(s: &Stack, line: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = line.iter().map(|w| common::sh_quote(w)).collect();
    let script = format!(
        "source <(kiln completions bash) || exit 9
COMP_WORDS=({words}); COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
_kiln_with_images kiln \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"
printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        words = quoted.join(" ")
    );
    words(&shell(s, s.dir.path(), "bash", &["-c", &script]))
}

#[test]
fn bash_loads_the_script_and_completes_image_names() {
    let s = stacks();
    let out = shell(
        &s,
        s.dir.path(),
        "bash",
        &["-c", "source <(kiln completions bash) && complete -p kiln"],
    );
    let registered = common::stdout(&out);
    assert!(out.status.success(), "{registered}{}", common::stderr(&out));
    assert!(
        registered.starts_with("complete ") && registered.contains("-F _kiln_with_images"),
        "{registered}"
    );
    assert!(registered.trim_end().ends_with(" kiln"), "{registered}");

    assert_eq!(
        bash_complete(&s, &["kiln", "build", ""]),
        ["base", "api", "web"]
    );
    assert_eq!(bash_complete(&s, &["kiln", "push", "--json", "a"]), ["api"]);
    assert_eq!(bash_complete(&s, &["kiln", "logs", "w"]), ["web"]);
    // The stack named on the line, before or after the command.
    assert_eq!(
        bash_complete(&s, &["kiln", "-f", "other.yaml", "watch", ""]),
        ["alpha", "beta"]
    );
    assert_eq!(
        bash_complete(&s, &["kiln", "build", "--file", "other.yaml", "b"]),
        ["beta"]
    );
    assert_eq!(
        bash_complete(&s, &["kiln", "--file", "=", "other.yaml", "build", ""]),
        ["alpha", "beta"]
    );
    // Not where a value or an option goes, nor for other commands.
    assert!(!bash_complete(&s, &["kiln", "build", "--jobs", ""]).contains(&"base".to_string()));
    assert!(bash_complete(&s, &["kiln", "build", "--j"]).contains(&"--jobs".to_string()));
    assert!(!bash_complete(&s, &["kiln", "check", ""]).contains(&"base".to_string()));
    // Subcommands still complete.
    assert!(bash_complete(&s, &["kiln", "comp"]).contains(&"completions".to_string()));
}

#[test]
fn fish_completes_image_names() {
    let s = stacks();
    let complete = |line: &str| {
        let script = format!(
            "kiln completions fish | source; and complete -C {}",
            common::sh_quote(line)
        );
        words(&shell(&s, s.dir.path(), "fish", &["-c", &script]))
    };
    assert_eq!(complete("kiln build "), ["api", "base", "web"]);
    assert_eq!(complete("kiln -f other.yaml watch "), ["alpha", "beta"]);
    assert_eq!(complete("kiln push --file=other.yaml a"), ["alpha"]);
    assert!(complete("kiln ch").contains(&"check".to_string()));
}

/// zsh completes for real in a pseudo-terminal (zpty): `kiln build <Tab>`
/// lists the names.
#[test]
fn zsh_completes_image_names() {
    let s = stacks();
    let script = r#"
zmodload zsh/zpty || exit 9
zpty z 'zsh -f -i'
zpty -w z 'PS1="> "; autoload -U compinit; compinit -u -D; source <(kiln completions zsh)'
zpty -w z 'print READY'
out=""
for i in {1..100}; do zpty -r -t z chunk && out+=$chunk; [[ $out == *READY*'> '* ]] && break; sleep 0.1; done
zpty -w -n z $'kiln -f other.yaml build \t'
out=""
for i in {1..100}; do zpty -r -t z chunk && out+=$chunk; [[ $out == *alpha*beta* ]] && break; sleep 0.1; done
zpty -d z
print -r -- "$out"
"#;
    let out = shell(&s, s.dir.path(), "zsh", &["-f", "-c", script]);
    let text = common::stdout(&out);
    assert!(out.status.success(), "{text}{}", common::stderr(&out));
    assert!(text.contains("alpha") && text.contains("beta"), "{text}");
    assert!(!text.contains("api"), "{text}");
}

#[test]
fn every_shell_gets_a_script_naming_every_command() {
    let s = stacks();
    for sh in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = shell(&s, s.dir.path(), "kiln", &["completions", sh]);
        let script = common::stdout(&out);
        assert!(out.status.success(), "{sh}: {}", common::stderr(&out));
        for command in [
            "build",
            "watch",
            "check",
            "ls",
            "logs",
            "push",
            "init",
            "completions",
            "man",
        ] {
            assert!(script.contains(command), "{sh} script lacks {command}");
        }
    }
    let out = shell(&s, s.dir.path(), "kiln", &["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn ls_names_prints_the_stack_without_the_history() {
    let s = stacks();
    let out = shell(&s, s.dir.path(), "kiln", &["ls", "--names"]);
    assert_eq!(words(&out), ["base", "api", "web"]);
    // No history was opened, let alone created.
    assert!(!s.home.path().join("data/kiln").exists());
}

/// `kiln man` through `man -l -`: rendered, without a groff warning.
fn rendered_man_page(s: &Stack) -> String {
    let out = shell(
        s,
        s.dir.path(),
        "sh",
        &["-c", "kiln man | MANWIDTH=100 man --warnings -l -"],
    );
    let text = common::stdout(&out);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert_eq!(common::stderr(&out), "", "man warned");
    text
}

#[test]
fn man_renders_the_page_with_commands_options_environment_and_files() {
    let s = Stack::new();
    let page = rendered_man_page(&s);
    for heading in [
        "NAME",
        "SYNOPSIS",
        "DESCRIPTION",
        "OPTIONS",
        "COMMANDS",
        "EXIT STATUS",
        "ENVIRONMENT",
        "FILES",
        "VERSION",
    ] {
        assert!(
            page.lines().any(|l| l == heading),
            "no {heading} section:\n{page}"
        );
    }
    for command in [
        "kiln build",
        "kiln watch",
        "kiln check",
        "kiln ls",
        "kiln logs",
        "kiln push",
        "kiln init",
        "kiln completions",
        "kiln man",
    ] {
        assert!(
            page.contains(&format!("   {command}\n")),
            "no {command} subsection"
        );
    }
    for text in [
        "--stall-after <DUR>",
        "--ignore-compose",
        "--run <N>",
        "history.sqlite",
        "config.json",
        "$XDG_DATA_HOME/kiln/logs/",
    ] {
        assert!(page.contains(text), "the page lacks {text}");
    }
}

/// Every `NAME` kiln reads with `std::env::var("NAME")` and the like, in
/// the source, is in the man page's ENVIRONMENT section.
#[test]
fn man_documents_every_environment_variable_the_code_reads() {
    let s = Stack::new();
    let page = rendered_man_page(&s);
    let start = page.find("\nENVIRONMENT\n").expect("ENVIRONMENT");
    let end = page[start..]
        .find("\nFILES\n")
        .map_or(page.len(), |e| start + e);
    let section = &page[start..end];
    let mut read = Vec::new();
    collect_env_reads(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut read,
    );
    assert!(
        read.contains(&"DOCKER_HOST".to_string()) && read.contains(&"KILN_FILE".to_string()),
        "{read:?}"
    );
    for name in read {
        assert!(
            section.contains(&name),
            "{name} is read by kiln but not in the man page's ENVIRONMENT"
        );
    }
}

/// Names in `var("NAME")`, `var_os("NAME")`, `env("NAME")`,
/// `process("NAME")`, `base_env("NAME")` calls under `dir`.
fn collect_env_reads(dir: &Path, out: &mut Vec<String>) {
    let re = regex::Regex::new(r#"\b(?:var|var_os|env|process|base_env)\("([A-Z][A-Z0-9_]+)"\)"#)
        .unwrap();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect_env_reads(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            // Tests set variables of their own; only the code counts.
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            for c in re.captures_iter(code) {
                if !out.contains(&c[1].to_string()) {
                    out.push(c[1].to_string());
                }
            }
        }
    }
}

#[test]
fn version_names_the_commit_it_was_built_from() {
    let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .arg("--version")
        .output()
        .unwrap();
    let line = common::stdout(&out);
    assert!(out.status.success());
    let version = env!("CARGO_PKG_VERSION");
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(manifest)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let checkout = git(&["rev-parse", "--show-toplevel"])
        .is_some_and(|top| Path::new(&top).canonicalize().ok() == manifest.canonicalize().ok());
    if checkout {
        let head = git(&["rev-parse", "HEAD"]).unwrap();
        let date = git(&["log", "-1", "--date=short", "--format=%cd"]).unwrap();
        let re =
            regex::Regex::new(r"^kiln (\S+) \(([0-9a-f]{9}) (\d{4}-\d{2}-\d{2})\)\n$").unwrap();
        let c = re.captures(&line).unwrap_or_else(|| panic!("{line:?}"));
        assert_eq!(&c[1], version);
        assert!(head.starts_with(&c[2]), "{line} is not HEAD {head}");
        assert_eq!(c[3], date);
    } else {
        assert_eq!(line, format!("kiln {version}\n"));
    }
}
