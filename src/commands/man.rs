//! `kiln man`: kiln(1) in roff, for `man -l`. The synopsis, the options
//! and each command's options come from the command line's definition
//! (clap_mangen), so they cannot drift from `--help`; the description,
//! exit status, environment and files are written here, and must stay
//! true to the code they describe (`engine/connect.rs`, `cli`,
//! `config/compose/`, `history/`, `engine/hash_cache.rs`, `tui.rs`).

use std::io::{self, Write};

use clap::CommandFactory;
use clap_mangen::Man;
use roff::{bold, italic, roman, Roff};

use crate::cli::args::Cli;
use crate::output;

pub(crate) fn run() -> i32 {
    let mut page = Vec::new();
    if let Err(e) = render(&mut page) {
        output::error(format_args!("cannot render the manual page: {e}"));
        return crate::exit::FAILED;
    }
    super::printed(output::stdout(&String::from_utf8_lossy(&page)))
}

const DESCRIPTION: &[&str] = &[
    "kiln builds a stack of Docker images (a base, services on top, tools) \
     concurrently and in dependency order, against the Docker daemon, and shows each \
     image on its own: its step, its cache hits, its log, and how long a silent build \
     has been silent.",
    "The stack is a kiln.yaml, or the compose files a project already has. With no \
     command, kiln opens the dashboard; kiln build runs the same engine headless, \
     printing lines or JSON events. README.md has the whole reference: the \
     configuration, the JSON events, the dashboard's keys.",
];

/// (name, what it means) of the variables kiln reads.
const ENVIRONMENT: &[(&str, &str)] = &[
    ("DOCKER_HOST", "The daemon (unix://, tcp://, ssh://[user@]host[:port]); wins over contexts. Over ssh:// kiln runs `ssh -o BatchMode=yes [-l user] [-p port] -- host docker system dial-stdio` for each connection, as the docker CLI does (sharing one login, see KILN_SSH_MULTIPLEX): the remote needs the docker CLI on PATH, the login must work without a prompt (a key), and its host key must be known."),
    ("DOCKER_TLS_VERIFY, DOCKER_CERT_PATH", "TLS for a tcp:// DOCKER_HOST, as the docker CLI reads them."),
    ("DOCKER_CONTEXT", "The docker context to use, else the currentContext of config.json."),
    ("DOCKER_CONFIG", "The docker CLI's configuration directory (default ~/.docker): config.json, contexts, .buildNodeID."),
    ("KILN_SSH_MULTIPLEX", "When 0, every connection to an ssh:// daemon logs in by itself (as the docker CLI does), instead of sharing one ssh login (a ControlMaster of kiln's own, gone when kiln ends)."),
    ("KILN_FILE", "The stack file, when no --file is given."),
    ("COMPOSE_FILE", "Compose files to read, when neither --file nor KILN_FILE is given: it comes before looking for a kiln.yaml (also read from .env and the --env-files)."),
    ("COMPOSE_PATH_SEPARATOR", "What separates the files of COMPOSE_FILE (default :)."),
    ("COMPOSE_PROJECT_NAME", "The compose project name, when no -p is given."),
    ("COMPOSE_PROFILES", "Compose profiles to enable (comma-separated), when no --profile is given."),
    ("COMPOSE_DISABLE_ENV_FILE", "When 1 or true, the compose .env file is not read."),
    ("XDG_DATA_HOME, XDG_CACHE_HOME", "Where history, logs and the context hash cache live (see FILES)."),
    ("PAGER", "The pager for the dashboard's o key (default: less -R)."),
    ("NO_COLOR", "When set and not empty, the dashboard draws no colours."),
    ("PATH", "Where the docker-credential-NAME helpers are looked for, OpenSSH's ssh-agent and ssh-add (for an image's ssh key files), and ssh (for an ssh:// daemon; it reads its own configuration, ~/.ssh/config, as always)."),
    ("SSH_AUTH_SOCK", "The SSH agent an image's ssh: [default] forwards to its build (RUN --mount=type=ssh)."),
    ("XDG_RUNTIME_DIR", "Where the private directory of an ssh-agent kiln starts for key files is made (else the temp directory)."),
    ("HOME", "The default DOCKER_CONFIG is $HOME/.docker."),
];

/// (path, what it holds) of the files kiln reads and writes.
const FILES: &[(&str, &str)] = &[
    ("kiln.yaml, kiln.yml", "The stack, looked for in the current directory and its parents."),
    ("compose.yaml, compose.yml, docker-compose.yml, docker-compose.yaml", "Read as the stack when there is no kiln.yaml, with compose.override.yml & co. and .env beside them."),
    ("$XDG_DATA_HOME/kiln/history.sqlite", "Every run's result, duration, tags, step durations and input digests (default ~/.local/share/kiln; 0600)."),
    ("$XDG_DATA_HOME/kiln/logs/", "Every run's full build log (kiln logs; 0700 directories, 0600 files)."),
    ("$XDG_CACHE_HOME/kiln/context-hashes/", "Content hashes of context files, so a rebuild re-reads only what changed (default ~/.cache/kiln)."),
    ("$DOCKER_CONFIG/config.json", "Registry credentials (auths, credHelpers, credsStore) and the current context; read, never written, never printed."),
    ("$DOCKER_CONFIG/contexts/", "Docker contexts' endpoints and TLS material."),
    ("$XDG_CACHE_HOME/kiln/session-copies/", "What the daemon's copy of each BuildKit context was given, so a new content behind an old size and mtime is not left stale (0600)."),
    (".dockerignore", "In each build context: what the build leaves out, and what watch mode does not watch."),
    ("DOCKERFILE.dockerignore", "Beside a Dockerfile: its own ignore file, which replaces .dockerignore when it exists."),
];

/// The whole page: title, name, synopsis, description, the options, each
/// command with its options, exit status, environment, files, version.
pub fn render(w: &mut dyn Write) -> io::Result<()> {
    let cmd = Cli::command();
    let man = Man::new(cmd.clone()).title("KILN");
    man.render_title(w)?;
    man.render_name_section(w)?;
    man.render_synopsis_section(w)?;
    let mut roff = Roff::new();
    roff.control("SH", ["DESCRIPTION"]);
    for (i, para) in DESCRIPTION.iter().enumerate() {
        if i > 0 {
            roff.control("PP", []);
        }
        roff.text([roman(*para)]);
    }
    roff.to_writer(w)?;
    man.render_options_section(w)?;
    render_commands(w, &cmd)?;
    let mut roff = Roff::new();
    roff.control("SH", ["EXIT STATUS"]);
    roff.text([roman(EXIT_STATUS)]);
    definitions(&mut roff, "ENVIRONMENT", ENVIRONMENT);
    definitions(&mut roff, "FILES", FILES);
    roff.control("SH", ["SEE ALSO"]);
    roff.text([
        bold("docker"),
        roman("(1), "),
        bold("docker-compose"),
        roman("(1)"),
    ]);
    roff.to_writer(w)?;
    man.render_version_section(w)
}

const EXIT_STATUS: &str = "0 all succeeded or unchanged; 1 a build or push failed, timed out \
     or was cancelled, or stdout was closed, or kiln watch cannot watch files; 2 invalid configuration or usage; 3 the Docker \
     daemon is unreachable; 130 interrupted (SIGINT); 143 terminated (SIGTERM); 129 hung up \
     (SIGHUP).";

/// A section of `.TP` entries: the term in bold, its meaning below.
fn definitions(roff: &mut Roff, heading: &str, entries: &[(&str, &str)]) {
    roff.control("SH", [heading]);
    for (term, meaning) in entries {
        roff.control("TP", []);
        roff.text([bold(*term)]);
        roff.text([roman(*meaning)]);
    }
}

/// COMMANDS: a subsection per visible command, with its synopsis, what it
/// does and its own options (the global ones are in OPTIONS).
fn render_commands(w: &mut dyn Write, cmd: &clap::Command) -> io::Result<()> {
    let mut roff = Roff::new();
    roff.control("SH", ["COMMANDS"]);
    roff.to_writer(w)?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("kiln {}", sub.get_name());
        let page = Man::new(sub.clone().bin_name(&name).disable_help_flag(true));
        let mut roff = Roff::new();
        roff.control("SS", [name.as_str()]);
        roff.to_writer(w)?;
        write_body(w, |b| page.render_synopsis_section(b))?;
        if let Some(about) = sub.get_about() {
            let mut roff = Roff::new();
            roff.control("PP", []);
            roff.text([roman(about.to_string())]);
            roff.to_writer(w)?;
        }
        if sub.get_arguments().any(|a| !a.is_hide_set()) {
            write_body(w, |b| page.render_options_section(b))?;
        } else {
            let mut roff = Roff::new();
            roff.control("PP", []);
            roff.text([italic("No options of its own.")]);
            roff.to_writer(w)?;
        }
    }
    Ok(())
}

/// A section clap_mangen renders, without its `.SH` heading: within
/// COMMANDS it is part of the command's subsection.
fn write_body(
    w: &mut dyn Write,
    section: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let mut buf = Vec::new();
    section(&mut buf)?;
    let text = String::from_utf8_lossy(&buf);
    let mut heading_dropped = false;
    for line in text.lines() {
        if !heading_dropped && line.starts_with(".SH") {
            heading_dropped = true;
            continue;
        }
        writeln!(w, "{line}")?;
    }
    Ok(())
}
