//! The steps a Dockerfile makes under BuildKit, named as BuildKit's
//! Dockerfile frontend (the one built into Docker 20.10, buildkit v0.8)
//! names them: `[builder 2/9] RUN …`. BuildKit shares identical work
//! between builds, and the status stream of one build then names a step
//! as the *other* build's Dockerfile does; knowing what this image's own
//! Dockerfile calls each step lets the engine show the image its own steps
//! (`engine::steps`).
//!
//! The frontend's rules (`dockerfile2llb/convert.go`), followed here:
//! - a stage is named by its `AS` name (lower-cased), else `stage-N` (its
//!   index); with a single stage (counting the images `COPY --from` and
//!   `RUN --mount` name, and cache mounts, which count as stages of their
//!   own) the name is left out: `[2/5]`;
//! - a stage's total N counts its FROM (unless `scratch` or another
//!   stage), and every ADD, COPY, RUN and WORKDIR; the index pads to N's
//!   width: `[ 1/10]`; a `WORKDIR /` counts in N but makes no step (so
//!   no step is ever `N/N`);
//! - only the target stage and the stages it uses are built.
//!
//! Not followed: ONBUILD triggers of base images and `--platform` prefixes
//! of multi-platform builds. A Dockerfile that chooses its frontend with
//! `# syntax=` gets no plan: that frontend's rules are its own.

use std::collections::{BTreeMap, HashSet};

use super::dockerfile::{logical_lines, normalize, strip_prefix_ci, substitute, unquote};

/// One step of a Dockerfile as BuildKit names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedStep {
    /// `[builder 2/9]`, `[1/4]`, `[ 3/10]`
    pub label: String,
    /// The instruction as written: keyword upper-cased, continuation lines
    /// joined, each run of whitespace one space (`RUN make all`). A FROM
    /// names its image after global ARG substitution (`FROM debian:12`).
    pub instruction: String,
}

impl PlannedStep {
    /// `[builder 2/9] RUN make all`
    pub fn name(&self) -> String {
        format!("{} {}", self.label, self.instruction)
    }

    /// Whether BuildKit's text of a step (`RUN make all`, `FROM
    /// docker.io/library/debian:12@sha256:…`) is this instruction. BuildKit
    /// expands variables and drops some quotes, so a `$VAR` here matches
    /// any text, quotes are ignored, and whitespace runs are one space.
    pub fn matches(&self, text: &str) -> bool {
        let (Some((kw, rest)), Some((their_kw, their_rest))) =
            (split_keyword(&self.instruction), split_keyword(text))
        else {
            return false;
        };
        if !kw.eq_ignore_ascii_case(their_kw) {
            return false;
        }
        if kw == "FROM" {
            // BuildKit names a FROM by its image only: `--platform=…` goes.
            let rest = without_flags(rest);
            let theirs = their_rest.split('@').next().unwrap_or_default();
            return rest.contains('$') && glob_matches(rest, theirs)
                || normalize(rest) == normalize(theirs);
        }
        glob_matches(&loosen(rest), &loosen(their_rest))
    }
}

/// An instruction's arguments without its leading `--flag=value` words.
fn without_flags(rest: &str) -> &str {
    let mut rest = rest.trim_start();
    while rest.starts_with("--") {
        rest = rest
            .split_once(char::is_whitespace)
            .map_or("", |(_, r)| r.trim_start());
    }
    rest
}

fn split_keyword(text: &str) -> Option<(&str, &str)> {
    let text = text.trim();
    let (kw, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    (!kw.is_empty()).then_some((kw, rest.trim()))
}

/// Quotes dropped and whitespace runs as one space.
fn loosen(s: &str) -> String {
    s.split_whitespace()
        .map(|w| w.replace(['"', '\''], ""))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether `text` matches `pattern`, in which each `$NAME` or `${…}`
/// stands for any text.
fn glob_matches(pattern: &str, text: &str) -> bool {
    let parts = literal_parts(pattern);
    let (first, rest) = parts.split_first().expect("at least one part");
    let Some(mut remaining) = text.strip_prefix(first.as_str()) else {
        return false;
    };
    let Some((last, middle)) = rest.split_last() else {
        return remaining.is_empty();
    };
    for part in middle {
        match remaining.split_once(part.as_str()) {
            Some((_, after)) => remaining = after,
            None => return false,
        }
    }
    remaining.ends_with(last.as_str())
}

/// The literal text between the variables of `pattern` (one part more
/// than there are variables).
fn literal_parts(pattern: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        let starts_variable = c == '$'
            && chars
                .peek()
                .is_some_and(|n| *n == '{' || *n == '_' || n.is_ascii_alphanumeric());
        if !starts_variable {
            parts.last_mut().expect("never empty").push(c);
            continue;
        }
        if chars.peek() == Some(&'{') {
            for n in chars.by_ref() {
                if n == '}' {
                    break;
                }
            }
        } else {
            while chars
                .peek()
                .is_some_and(|n| *n == '_' || n.is_ascii_alphanumeric())
            {
                chars.next();
            }
        }
        parts.push(String::new());
    }
    parts
}

/// One stage of the Dockerfile, as far as naming its steps needs.
#[derive(Debug)]
struct Stage {
    /// The `AS` name, lower-cased.
    name: Option<String>,
    /// The FROM image (global ARGs substituted) or stage name.
    base: String,
    commands: Vec<Command>,
}

#[derive(Debug)]
struct Command {
    /// Upper-cased.
    keyword: String,
    /// The rest of the line, whitespace runs as one space.
    rest: String,
    /// What `COPY --from=` and `RUN --mount=…,from=` name (a stage name,
    /// a stage index or an image), and `scratch` for a cache mount
    /// without `from`: each is a stage the frontend knows.
    sources: Vec<String>,
}

/// The steps a build of `target` (None: the last stage) makes, in
/// Dockerfile order. Empty when the target names no stage, or the
/// Dockerfile chooses another frontend.
pub fn buildkit_steps(
    text: &str,
    args: &BTreeMap<String, String>,
    target: Option<&str>,
) -> Vec<PlannedStep> {
    if chooses_frontend(text) {
        return Vec::new();
    }
    let stages = parse_stages(text, args);
    let Some(target) = target_index(&stages, target) else {
        return Vec::new();
    };
    let reachable = reachable_from(&stages, target);
    let single = stages.len() == 1 && !has_foreign_sources(&stages);
    let mut steps = Vec::new();
    let mut workdirs: Vec<String> = Vec::with_capacity(stages.len());
    for (i, stage) in stages.iter().enumerate() {
        let base_stage = stage_index(&stages[..i], &stage.base);
        let label_of = |index: usize, total: usize| {
            let width = total.to_string().len();
            let prefix = match (&stage.name, single) {
                (_, true) => String::new(),
                (Some(name), false) => format!("{name} "),
                (None, false) => format!("stage-{i} "),
            };
            format!("[{prefix}{index:>width$}/{total}]")
        };
        let counts_from = stage.base != "scratch" && base_stage.is_none();
        let total = usize::from(counts_from)
            + stage
                .commands
                .iter()
                .filter(|c| matches!(c.keyword.as_str(), "ADD" | "COPY" | "RUN" | "WORKDIR"))
                .count();
        let mut workdir = base_stage
            .and_then(|b| workdirs.get(b).cloned())
            .unwrap_or_else(|| "/".to_string());
        let mut index = 0;
        let mut push = |instruction: String, steps: &mut Vec<PlannedStep>| {
            index += 1;
            if reachable[i] {
                steps.push(PlannedStep {
                    label: label_of(index, total),
                    instruction,
                });
            }
        };
        if counts_from {
            push(format!("FROM {}", stage.base), &mut steps);
        }
        for c in &stage.commands {
            let makes_step = match c.keyword.as_str() {
                "ADD" | "COPY" | "RUN" => true,
                "WORKDIR" => {
                    workdir = join_workdir(&workdir, &unquote(&c.rest));
                    workdir != "/"
                }
                _ => false,
            };
            if makes_step {
                push(format!("{} {}", c.keyword, c.rest), &mut steps);
            }
        }
        workdirs.push(workdir);
    }
    steps
}

/// Whether the Dockerfile starts with a `# syntax=` parser directive.
fn chooses_frontend(text: &str) -> bool {
    for line in text.lines() {
        let Some(directive) = line.trim().strip_prefix('#') else {
            return false;
        };
        match directive.split_once('=') {
            Some((key, _)) if key.trim().eq_ignore_ascii_case("syntax") => return true,
            Some(_) => {}
            None => return false,
        }
    }
    false
}

/// The stages of a Dockerfile with the commands that matter for naming.
fn parse_stages(text: &str, args: &BTreeMap<String, String>) -> Vec<Stage> {
    let mut stages: Vec<Stage> = Vec::new();
    let mut globals: BTreeMap<String, String> = BTreeMap::new();
    for line in logical_lines(text) {
        let (keyword, rest) = split_keyword(&line).unwrap_or_default();
        let keyword = keyword.to_ascii_uppercase();
        let rest = rest.split_whitespace().collect::<Vec<_>>().join(" ");
        match keyword.as_str() {
            "ARG" if stages.is_empty() => {
                for decl in rest.split_whitespace() {
                    let (name, default) = match decl.split_once('=') {
                        Some((n, d)) => (n, unquote(d)),
                        None => (decl, String::new()),
                    };
                    let value = args.get(name).cloned().unwrap_or(default);
                    globals.insert(name.to_string(), value);
                }
            }
            "FROM" => {
                let mut words = rest.split_whitespace().filter(|w| !w.starts_with("--"));
                let base = substitute(words.next().unwrap_or_default(), &globals, args);
                let name = match (words.next(), words.next()) {
                    (Some(kw), Some(name)) if kw.eq_ignore_ascii_case("as") => {
                        Some(name.to_ascii_lowercase())
                    }
                    _ => None,
                };
                stages.push(Stage {
                    name,
                    base,
                    commands: Vec::new(),
                });
            }
            _ => {
                if let Some(stage) = stages.last_mut() {
                    let sources = command_sources(&keyword, &rest);
                    stage.commands.push(Command {
                        keyword,
                        rest,
                        sources,
                    });
                }
            }
        }
    }
    stages
}

/// What a command takes from other stages or images.
fn command_sources(keyword: &str, rest: &str) -> Vec<String> {
    let flags = rest.split_whitespace().take_while(|w| w.starts_with("--"));
    let mut sources = Vec::new();
    for flag in flags {
        if keyword == "COPY" {
            if let Some(from) = strip_prefix_ci(flag, "--from=") {
                sources.push(unquote(from));
            }
        } else if keyword == "RUN" {
            if let Some(spec) = strip_prefix_ci(flag, "--mount=") {
                sources.extend(mount_source(&unquote(spec)));
            }
        }
    }
    sources
}

/// The stage a `--mount` reads from: its `from`, `scratch` for a cache
/// mount without one, nothing for tmpfs or a mount of the context.
fn mount_source(spec: &str) -> Option<String> {
    let mut kind = "bind".to_string();
    let mut from = None;
    for kv in spec.split(',') {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        match k.trim().to_ascii_lowercase().as_str() {
            "type" => kind = v.trim().to_ascii_lowercase(),
            "from" => from = Some(v.trim().to_string()),
            _ => {}
        }
    }
    match (kind.as_str(), from) {
        ("tmpfs", _) => None,
        (_, Some(from)) if !from.is_empty() => Some(from),
        ("cache", _) => Some("scratch".to_string()),
        _ => None,
    }
}

/// The stage `name` names among `stages`: by `AS` name (any case) or
/// index.
fn stage_index(stages: &[Stage], name: &str) -> Option<usize> {
    if !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) {
        return name.parse().ok().filter(|i| *i < stages.len());
    }
    let lower = name.to_ascii_lowercase();
    stages
        .iter()
        .position(|s| s.name.as_deref() == Some(lower.as_str()))
}

/// Whether a source names something that is not a stage: the frontend
/// counts it as a stage of its own.
fn has_foreign_sources(stages: &[Stage]) -> bool {
    stages
        .iter()
        .flat_map(|s| &s.commands)
        .flat_map(|c| &c.sources)
        .any(|src| stage_index(stages, src).is_none())
}

fn target_index(stages: &[Stage], target: Option<&str>) -> Option<usize> {
    match target {
        Some(t) => stage_index(stages, t).filter(|_| !t.bytes().all(|b| b.is_ascii_digit())),
        None => stages.len().checked_sub(1),
    }
}

/// Which stages a build of `target` runs: the target and, recursively,
/// the stages it builds on or takes files from.
fn reachable_from(stages: &[Stage], target: usize) -> Vec<bool> {
    let mut reachable = vec![false; stages.len()];
    let mut todo = vec![target];
    let mut seen = HashSet::new();
    while let Some(i) = todo.pop() {
        if !seen.insert(i) {
            continue;
        }
        reachable[i] = true;
        let stage = &stages[i];
        let uses =
            std::iter::once(&stage.base).chain(stage.commands.iter().flat_map(|c| &c.sources));
        // A stage can only build on the stages before it.
        todo.extend(uses.filter_map(|name| stage_index(&stages[..i], name)));
    }
    reachable
}

/// The working directory after `WORKDIR path` in `current` ("/" for an
/// image's, which kiln cannot know). A path with variables is taken not
/// to be "/".
fn join_workdir(current: &str, path: &str) -> String {
    if path.contains('$') {
        return format!("{current}/{path}");
    }
    let joined = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("{current}/{path}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str, target: Option<&str>) -> Vec<String> {
        buildkit_steps(text, &BTreeMap::new(), target)
            .iter()
            .map(PlannedStep::name)
            .collect()
    }

    #[test]
    fn single_stage_has_no_stage_name_and_scratch_no_from() {
        assert_eq!(
            names(
                "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\"]\nENV A=1\nRUN echo \\\n   hi\n",
                None
            ),
            vec![
                "[1/3] COPY busybox /bin/busybox",
                "[2/3] RUN [\"/bin/busybox\", \"--install\"]",
                "[3/3] RUN echo hi",
            ]
        );
    }

    /// What the daemon named the steps of tests/fixtures/contexts/parallel
    /// (buildkit_parallel_stages.jsonl), plus the second FROM, which is the
    /// same work as the first and never shows as a vertex of its own.
    #[test]
    fn stages_named_and_unnamed_as_the_daemon_names_them() {
        let df = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/contexts/parallel/Dockerfile"
        ))
        .unwrap();
        assert_eq!(
            names(&df, None),
            vec![
                "[builder 1/3] FROM kilnfix/base",
                "[builder 2/3] RUN for i in 1 2 3 4 5 6; do echo \"builder line $i\"; sleep 0.4; done",
                "[builder 3/3] RUN echo \"builder done\" > /built",
                "[stage-1 1/4] FROM kilnfix/base",
                "[stage-1 2/4] RUN for i in 1 2 3 4 5 6; do echo \"runtime line $i\"; sleep 0.4; done",
                "[stage-1 3/4] COPY --from=builder /built /built",
                "[stage-1 4/4] RUN cat /built",
            ]
        );
        // Building the builder alone leaves the last stage out.
        assert_eq!(names(&df, Some("Builder")).len(), 3);
        assert!(names(&df, Some("nope")).is_empty());
    }

    #[test]
    fn unused_stages_are_not_built_and_stage_bases_not_counted() {
        let df = "FROM base:1 AS deps\nRUN a\nFROM deps AS test\nRUN b\nFROM base:1\nCOPY --from=0 /x /x\n";
        assert_eq!(
            names(df, None),
            vec![
                "[deps 1/2] FROM base:1",
                "[deps 2/2] RUN a",
                "[stage-2 1/2] FROM base:1",
                "[stage-2 2/2] COPY --from=0 /x /x",
            ]
        );
        assert_eq!(
            names(df, Some("test")),
            vec![
                "[deps 1/2] FROM base:1",
                "[deps 2/2] RUN a",
                "[test 1/1] RUN b"
            ]
        );
    }

    #[test]
    fn wide_totals_pad_and_foreign_sources_name_the_stage() {
        let mut df = String::from("FROM base\n");
        for i in 0..9 {
            df.push_str(&format!("RUN step{i}\n"));
        }
        let n = names(&df, None);
        assert_eq!(n[0], "[ 1/10] FROM base");
        assert_eq!(n[9], "[10/10] RUN step8");
        // An image in COPY --from, or a cache mount, is a stage of its own.
        for extra in [
            "COPY --from=alpine:3 /x /x\n",
            "RUN --mount=type=cache,target=/c make\n",
        ] {
            let df = format!("FROM base\n{extra}");
            assert!(names(&df, None)[0].starts_with("[stage-0 1/2] "), "{df}");
        }
        // A tmpfs mount is not.
        assert_eq!(
            names("FROM base\nRUN --mount=type=tmpfs,target=/t x\n", None)[0],
            "[1/2] FROM base"
        );
    }

    #[test]
    fn workdir_slash_counts_but_makes_no_step() {
        // As the daemon names them: `[2/4] WORKDIR app`, `[3/4] RUN x`.
        assert_eq!(
            names("FROM b\nWORKDIR /\nWORKDIR app\nRUN x\n", None),
            vec!["[1/4] FROM b", "[2/4] WORKDIR app", "[3/4] RUN x"]
        );
    }

    #[test]
    fn another_frontend_gets_no_plan() {
        assert!(names("# syntax=docker/dockerfile:1.4\nFROM b\nRUN x\n", None).is_empty());
        assert!(names("# escape=`\n# Syntax = x/y\nFROM b\nRUN x\n", None).is_empty());
        // A comment that is no directive ends the directives.
        assert_eq!(
            names("# a comment\n# syntax=x/y\nFROM b\nRUN x\n", None).len(),
            2
        );
    }

    #[test]
    fn from_uses_global_args() {
        let df = "ARG REG=localhost:5001\nFROM ${REG}/base:1 AS b\nRUN x\n";
        assert_eq!(names(df, None)[0], "[1/2] FROM localhost:5001/base:1");
    }

    #[test]
    fn buildkit_text_matches_the_instruction() {
        let step = |instruction: &str| PlannedStep {
            label: "[1/2]".into(),
            instruction: instruction.into(),
        };
        assert!(step("FROM kilnfix/base").matches("FROM docker.io/kilnfix/base"));
        assert!(step("FROM debian:12").matches("FROM docker.io/library/debian:12@sha256:ab"));
        assert!(step("FROM localhost:5001/b").matches("FROM localhost:5001/b:latest"));
        assert!(!step("FROM debian:12").matches("FROM debian:11"));
        assert!(step("FROM --platform=linux/amd64 debian:12")
            .matches("FROM docker.io/library/debian:12"));
        assert!(step("FROM --platform=$BUILDPLATFORM debian:12")
            .matches("FROM docker.io/library/debian:12"));
        assert!(!step("FROM --platform=linux/amd64 debian:12").matches("FROM debian:11"));
        assert!(step("RUN echo \"a  b\" $HOME").matches("RUN echo \"a b\" /root"));
        assert!(step("RUN pip install ${PKGS}").matches("RUN pip install a b c"));
        assert!(step("COPY \"x y\" /z").matches("COPY x y /z"));
        assert!(!step("RUN make").matches("RUN make all"));
        assert!(!step("RUN make").matches("COPY make"));
        assert!(step("run make").matches("RUN make"));
    }
}
