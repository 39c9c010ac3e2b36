//! Just enough Dockerfile reading to infer dependencies between images and
//! to know which files of its context a build can see.
//!
//! This file owns [`dockerfile_refs`] (which external images a Dockerfile
//! names in `FROM`, `COPY --from=` and `RUN --mount=...,from=`),
//! [`ref_matches_tag`] (whether such a reference names one of kiln's own
//! tags) and [`context_reads`] (which context paths `COPY`, `ADD` and bind
//! mounts read: what watch mode rebuilds for). It is not a Dockerfile
//! parser: it handles what matters for these (parser directives for the
//! escape character, line continuations, comments, case-insensitive
//! instructions, `ARG` defaults overridden by build args, `ENV`, stage
//! names) and ignores the rest.

use std::collections::{BTreeMap, HashSet};

/// Image references a Dockerfile pulls in from outside itself, in order of
/// first appearance, without duplicates. Stage names (`FROM x AS builder`
/// then `COPY --from=builder`), stage indexes and `scratch` are excluded;
/// references that still contain an unresolved `$` are dropped. With a
/// `target`, only the stages up to it count: stages after it are never
/// built (the legacy builder builds every stage before it, BuildKit only
/// those it uses); a target that names no stage counts them all.
pub fn dockerfile_refs(
    text: &str,
    args: &BTreeMap<String, String>,
    target: Option<&str>,
) -> Vec<String> {
    // Each reference with the index of the stage that names it.
    let mut found: Vec<(usize, String)> = Vec::new();
    let mut stages: HashSet<String> = HashSet::new();
    // Each stage's `AS` name (lower-cased), in order.
    let mut stage_names: Vec<Option<String>> = Vec::new();
    // ARGs declared before the first FROM are the only ones FROM can use.
    let mut global_args: BTreeMap<String, String> = BTreeMap::new();
    let mut saw_from = false;

    let mut push = |r: String, stages: &HashSet<String>, stage: usize| {
        let lower = r.to_ascii_lowercase();
        if r.is_empty()
            || r.contains('$')
            || lower == "scratch"
            || stages.contains(&lower)
            || r.bytes().all(|b| b.is_ascii_digit())
        {
            return;
        }
        found.push((stage, r));
    };

    for line in logical_lines(text) {
        let mut words = line.split_whitespace();
        let Some(instr) = words.next() else { continue };
        let rest: Vec<&str> = words.collect();
        match instr.to_ascii_uppercase().as_str() {
            "ARG" if !saw_from => {
                for decl in &rest {
                    let (name, default) = match decl.split_once('=') {
                        Some((n, d)) => (n, unquote(d)),
                        None => (*decl, String::new()),
                    };
                    let value = args.get(name).cloned().unwrap_or(default);
                    global_args.insert(name.to_string(), value);
                }
            }
            "FROM" => {
                saw_from = true;
                let mut it = rest.iter().filter(|w| !w.starts_with("--"));
                let Some(image) = it.next() else { continue };
                let image = substitute(image, &global_args, args);
                push(image, &stages, stage_names.len());
                let name = match (it.next(), it.next()) {
                    (Some(kw), Some(stage)) if kw.eq_ignore_ascii_case("as") => {
                        Some(stage.to_ascii_lowercase())
                    }
                    _ => None,
                };
                stages.extend(name.clone());
                stage_names.push(name);
            }
            kw @ ("COPY" | "ADD" | "RUN") => {
                for source in from_sources(kw, &rest) {
                    let r = substitute(&source, &global_args, args);
                    push(r, &stages, stage_names.len().saturating_sub(1));
                }
            }
            _ => {}
        }
    }
    up_to_target(found, &stage_names, target)
}

/// What `COPY --from=` / `ADD --from=` (unquoted), or a `RUN`'s
/// `--mount=…,from=…`, name.
fn from_sources(keyword: &str, rest: &[&str]) -> Vec<String> {
    let flags = rest.iter().take_while(|w| w.starts_with("--"));
    if keyword != "RUN" {
        return flags
            .filter_map(|w| strip_prefix_ci(w, "--from=").map(unquote))
            .collect();
    }
    flags
        .filter_map(|w| strip_prefix_ci(w, "--mount=").map(unquote))
        .flat_map(|spec| {
            spec.split(',')
                .filter_map(|kv| strip_prefix_ci(kv.trim(), "from=").map(String::from))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The references of the stages up to `target` (all without one, or when
/// it names no stage), each once, in order.
fn up_to_target(
    found: Vec<(usize, String)>,
    stage_names: &[Option<String>],
    target: Option<&str>,
) -> Vec<String> {
    let last = target
        .map(str::to_ascii_lowercase)
        .and_then(|t| stage_names.iter().position(|n| n.as_deref() == Some(&t)))
        .unwrap_or(usize::MAX);
    let mut seen = HashSet::new();
    found
        .into_iter()
        .filter(|(stage, r)| *stage <= last && seen.insert(r.clone()))
        .map(|(_, r)| r)
        .collect()
}

/// What a Dockerfile reads from its build context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContextReads {
    /// Possibly anything: `COPY . .`, a bind mount of the context root, or
    /// a source kiln cannot work out (an unresolved `$VAR`, a pattern it
    /// cannot read).
    Everything,
    /// Only paths these patterns match (or lie under), relative to the
    /// context root: `COPY`/`ADD` sources as written (`./src/`, `*.txt`,
    /// `/etc/conf`; `.` means the whole context).
    Paths(Vec<String>),
}

/// Which context paths a Dockerfile's `COPY`/`ADD` sources (without
/// `--from`) and `RUN --mount` bind mounts (without `from`) name, in every
/// stage. Heredocs and URLs read nothing from the context. Anything kiln
/// cannot resolve makes it [`ContextReads::Everything`]: a wrong "cannot
/// see" would miss a rebuild, a wrong "can see" only costs one.
pub fn context_reads(text: &str, args: &BTreeMap<String, String>) -> ContextReads {
    let mut paths = Vec::new();
    // Before the first FROM: global ARGs; after it, the stage's ARGs and ENV.
    let mut global_args: BTreeMap<String, String> = BTreeMap::new();
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    let mut saw_from = false;
    for line in logical_lines(text) {
        let mut words = line.split_whitespace();
        let Some(word) = words.next() else { continue };
        let instr = word.to_ascii_uppercase();
        let rest = line
            .trim_start()
            .strip_prefix(word)
            .unwrap_or_default()
            .trim();
        let sources = match instr.as_str() {
            "FROM" => {
                saw_from = true;
                vars = global_args.clone();
                continue;
            }
            "ARG" => {
                if saw_from {
                    declare_args(rest, args, &global_args, &mut vars);
                } else {
                    let mut declared = global_args.clone();
                    declare_args(rest, args, &global_args, &mut declared);
                    global_args = declared;
                }
                continue;
            }
            "ENV" if saw_from => {
                declare_env(rest, &mut vars);
                continue;
            }
            "COPY" | "ADD" => copy_sources(rest),
            "RUN" => mount_sources(rest),
            _ => continue,
        };
        let Some(sources) = sources else { continue };
        for source in sources {
            let source = substitute(&source, &vars, args);
            match context_pattern(&source) {
                Some(p) => paths.push(p),
                None => return ContextReads::Everything,
            }
        }
    }
    paths.sort();
    paths.dedup();
    ContextReads::Paths(paths)
}

/// `ARG a=1 b`: each name's value is the build arg, else its default, else
/// (in a stage) the global ARG of that name.
fn declare_args(
    rest: &str,
    args: &BTreeMap<String, String>,
    globals: &BTreeMap<String, String>,
    table: &mut BTreeMap<String, String>,
) {
    for decl in rest.split_whitespace() {
        let (name, default) = match decl.split_once('=') {
            Some((n, d)) => (n, Some(unquote(d))),
            None => (decl, None),
        };
        let value = args
            .get(name)
            .cloned()
            .or(default)
            .or_else(|| globals.get(name).cloned())
            .unwrap_or_default();
        table.insert(name.to_string(), value);
    }
}

/// `ENV a=1 b=2` or the old `ENV a 1`.
fn declare_env(rest: &str, vars: &mut BTreeMap<String, String>) {
    let words: Vec<&str> = rest.split_whitespace().collect();
    match words.first() {
        Some(first) if !first.contains('=') => {
            let value = words[1..].join(" ");
            vars.insert(first.to_string(), unquote(&value));
        }
        _ => {
            for w in words {
                if let Some((k, v)) = w.split_once('=') {
                    vars.insert(k.to_string(), unquote(v));
                }
            }
        }
    }
}

/// The context sources of `COPY`/`ADD` (all arguments but the last, after
/// the flags, in shell or JSON form); None when it copies from a stage or
/// an image, or reads no source.
fn copy_sources(rest: &str) -> Option<Vec<String>> {
    let mut words = rest.split_whitespace().peekable();
    while let Some(w) = words.peek() {
        if !w.starts_with("--") {
            break;
        }
        if strip_prefix_ci(w, "--from=").is_some() {
            return None;
        }
        words.next();
    }
    let args: Vec<String> = {
        let tail: Vec<&str> = words.collect();
        let joined = tail.join(" ");
        match serde_json::from_str::<Vec<String>>(&joined) {
            Ok(list) if joined.starts_with('[') => list,
            _ => tail.iter().map(|w| unquote(w)).collect(),
        }
    };
    let (_, sources) = args.split_last()?;
    let from_context = sources
        .iter()
        .filter(|s| !s.starts_with("<<") && !is_url(s))
        .cloned()
        .collect();
    Some(from_context)
}

/// `RUN --mount=...` bind mounts of the context (no `from`): their
/// `source` (default: the whole context).
fn mount_sources(rest: &str) -> Option<Vec<String>> {
    let mut sources = Vec::new();
    for w in rest.split_whitespace().take_while(|w| w.starts_with("--")) {
        let Some(spec) = strip_prefix_ci(w, "--mount=") else {
            continue;
        };
        let mut kind = "bind".to_string();
        let mut source = ".".to_string();
        let mut from = false;
        for kv in unquote(spec).split(',') {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            match k.trim().to_ascii_lowercase().as_str() {
                "type" => kind = v.trim().to_ascii_lowercase(),
                "source" | "src" => source = v.trim().to_string(),
                "from" => from = true,
                _ => {}
            }
        }
        if kind == "bind" && !from {
            sources.push(source);
        }
    }
    (!sources.is_empty()).then_some(sources)
}

fn is_url(s: &str) -> bool {
    s.contains("://") || s.starts_with("git@")
}

/// A source as written, for a pattern relative to the context root; None
/// when it could be anything (an unresolved variable, a spelling the
/// pattern syntax cannot carry). Cleaning it (and seeing that `.` or `/`
/// is the whole context) is the matcher's job.
fn context_pattern(source: &str) -> Option<String> {
    let unusable = source.is_empty()
        || source.contains('$')
        || source.starts_with('!')
        || source.starts_with('#');
    (!unusable).then(|| source.to_string())
}

/// Whether Dockerfile reference `r` names `tag`: exactly, or with `:latest`
/// implied on a side that has no tag. Docker Hub's implicit prefixes
/// (`docker.io/library/`) are ignored on both sides. Digests never match.
pub fn ref_matches_tag(r: &str, tag: &str) -> bool {
    tag_key(r).is_some_and(|k| Some(k) == tag_key(tag))
}

/// Tags, to ask in one lookup whether a reference names any of them (as
/// [`ref_matches_tag`] decides).
#[derive(Debug, Clone, Default)]
pub struct TagSet(HashSet<String>);

impl TagSet {
    pub fn new<'t>(tags: impl IntoIterator<Item = &'t String>) -> TagSet {
        TagSet(tags.into_iter().filter_map(|t| tag_key(t)).collect())
    }

    /// Whether `reference` names one of the tags.
    pub fn names(&self, reference: &str) -> bool {
        tag_key(reference).is_some_and(|k| self.0.contains(&k))
    }
}

/// What [`ref_matches_tag`] compares, to index tags by: two names match
/// when both have a key and the keys are equal. None for a digest, which
/// never matches.
pub(crate) fn tag_key(r: &str) -> Option<String> {
    (!r.contains('@')).then(|| normalize(r))
}

pub(super) fn normalize(r: &str) -> String {
    let mut s = r.trim();
    for prefix in [
        "docker.io/library/",
        "index.docker.io/library/",
        "docker.io/",
    ] {
        if let Some(rest) = s.strip_prefix(prefix) {
            s = rest;
            break;
        }
    }
    // A tag is what follows the last ':' after the last '/'; a ':' before
    // that is a registry port (`localhost:5001/base`).
    let has_tag = s.rsplit('/').next().unwrap_or(s).contains(':');
    if has_tag {
        s.to_string()
    } else {
        format!("{s}:latest")
    }
}

pub(super) fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
}

pub(super) fn unquote(s: &str) -> String {
    let t = s.trim();
    for q in ['"', '\''] {
        if let Some(inner) = t.strip_prefix(q).and_then(|t| t.strip_suffix(q)) {
            return inner.to_string();
        }
    }
    t.to_string()
}

/// Expands `$X`, `${X}`, `${X:-d}` and `${X:+a}` from global ARGs, with
/// build args winning. Unknown names stay unresolved (the caller drops the
/// reference) instead of guessing.
pub(super) fn substitute(
    s: &str,
    globals: &BTreeMap<String, String>,
    args: &BTreeMap<String, String>,
) -> String {
    let lookup = |n: &str| args.get(n).or_else(|| globals.get(n)).cloned();
    let mut out = String::new();
    let mut rest = s;
    while let Some((before, after)) = rest.split_once('$') {
        out.push_str(before);
        rest = if let Some(body) = after.strip_prefix('{') {
            let Some((inner, tail)) = body.split_once('}') else {
                out.push('$');
                out.push_str(after);
                return out;
            };
            let (name, op, arg) = if let Some((n, a)) = inner.split_once(":-") {
                (n, "-", a)
            } else if let Some((n, a)) = inner.split_once(":+") {
                (n, "+", a)
            } else {
                (inner, "", "")
            };
            match (op, lookup(name)) {
                ("", Some(v)) => out.push_str(&v),
                ("-", Some(v)) if !v.is_empty() => out.push_str(&v),
                ("-", _) => out.push_str(arg),
                ("+", Some(v)) if !v.is_empty() => out.push_str(arg),
                ("+", _) => {}
                _ => {
                    out.push_str("${");
                    out.push_str(inner);
                    out.push('}');
                }
            }
            tail
        } else {
            // Names are ASCII: where one ends is on a character.
            let end = after
                .bytes()
                .position(|b| !(b.is_ascii_alphanumeric() || b == b'_'))
                .unwrap_or(after.len());
            let (name, tail) = after.split_at(end);
            match lookup(name) {
                Some(v) if !name.is_empty() => out.push_str(&v),
                _ => {
                    out.push('$');
                    out.push_str(name);
                }
            }
            tail
        };
    }
    out.push_str(rest);
    out
}

/// Splits a Dockerfile into logical instruction lines: continuation lines
/// joined, comment and blank lines dropped (also inside continuations, as
/// Docker does), honouring a leading `# escape=` directive.
pub(super) fn logical_lines(text: &str) -> Vec<String> {
    let mut escape = '\\';
    for line in text.lines() {
        let t = line.trim();
        let Some(directive) = t.strip_prefix('#') else {
            break;
        };
        let d = directive.trim();
        if let Some((k, v)) = d.split_once('=') {
            if k.trim().eq_ignore_ascii_case("escape") {
                if let Some(c) = v.trim().chars().next() {
                    escape = c;
                }
                continue;
            }
            if k.trim().eq_ignore_ascii_case("syntax") || k.trim().eq_ignore_ascii_case("check") {
                continue;
            }
        }
        break;
    }
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut continuing = false;
    for raw in text.lines() {
        let t = raw.trim();
        if t.starts_with('#') || (continuing && t.is_empty()) {
            continue;
        }
        if let Some(body) = t.strip_suffix(escape) {
            cur.push_str(body);
            cur.push(' ');
            continuing = true;
            continue;
        }
        cur.push_str(t);
        if !cur.trim().is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        cur.clear();
        continuing = false;
    }
    if !cur.trim().is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(text: &str) -> Vec<String> {
        dockerfile_refs(text, &BTreeMap::new(), None)
    }

    #[test]
    fn from_forms() {
        let df = "# syntax=docker/dockerfile:1\n\
                  from --platform=$BUILDPLATFORM localhost:5001/base:latest AS build\n\
                  RUN make\n\
                  FROM build AS test\n\
                  FrOm alpine:3.20\n\
                  COPY --from=build /out /out\n\
                  COPY --from=0 /x /x\n\
                  COPY --from=localhost:5001/tools /t /t\n\
                  FROM scratch\n";
        assert_eq!(
            refs(df),
            vec![
                "localhost:5001/base:latest",
                "alpine:3.20",
                "localhost:5001/tools"
            ]
        );
    }

    #[test]
    fn args_defaults_and_overrides() {
        let df = "ARG REG=localhost:5001\nARG TAG=\"dev\" OTHER\nFROM ${REG}/base:${TAG}\nFROM $REG/x:${NOPE:-y}\nFROM ${UNSET}/z\n";
        assert_eq!(
            refs(df),
            vec!["localhost:5001/base:dev", "localhost:5001/x:y"]
        );
        let mut args = BTreeMap::new();
        args.insert("TAG".to_string(), "1.0".to_string());
        assert_eq!(
            dockerfile_refs(df, &args, None)[0],
            "localhost:5001/base:1.0"
        );
    }

    #[test]
    fn stages_after_the_target_are_never_built() {
        let df = "FROM node:20 AS Dev\nCOPY --from=tools:1 /t /t\nFROM dev AS test\nFROM nginx:1.27 AS prod\nCOPY --from=dev /app /app\n";
        let with = |target| dockerfile_refs(df, &BTreeMap::new(), target);
        assert_eq!(with(Some("dev")), ["node:20", "tools:1"]);
        assert_eq!(with(Some("TEST")), ["node:20", "tools:1"]);
        assert_eq!(with(Some("prod")), ["node:20", "tools:1", "nginx:1.27"]);
        assert_eq!(with(None), with(Some("prod")));
        assert_eq!(
            with(Some("nope")),
            with(None),
            "an unknown target counts all"
        );
    }

    #[test]
    fn continuations_comments_and_mounts() {
        let df = "FROM \\\n  # a comment inside\n  base:latest \\\n  AS b\n\
                  RUN --mount=type=cache,target=/c \\\n    --mount=type=bind,from=tools:latest,target=/t make\n\
                  RUN --mount=type=bind,from=b,target=/x true\n";
        assert_eq!(refs(df), vec!["base:latest", "tools:latest"]);
    }

    #[test]
    fn escape_directive() {
        let df = "# escape=`\nFROM `\n  mcr/base:1\nRUN dir c:\\\n";
        assert_eq!(refs(df), vec!["mcr/base:1"]);
    }

    #[test]
    fn tag_matching() {
        assert!(ref_matches_tag("base", "base:latest"));
        assert!(ref_matches_tag("base:latest", "base"));
        assert!(ref_matches_tag(
            "localhost:5001/base",
            "localhost:5001/base:latest"
        ));
        assert!(!ref_matches_tag(
            "localhost:5001/base",
            "localhost:5001/base:dev"
        ));
        assert!(ref_matches_tag(
            "docker.io/library/alpine:3.20",
            "alpine:3.20"
        ));
        assert!(!ref_matches_tag("base@sha256:abc", "base:latest"));
        assert!(!ref_matches_tag("other/base", "base"));
    }

    fn reads(text: &str) -> ContextReads {
        context_reads(text, &BTreeMap::new())
    }

    fn paths(list: &[&str]) -> ContextReads {
        ContextReads::Paths(list.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn copy_and_add_sources_are_what_a_build_reads() {
        let df = "FROM base AS build\n\
                  COPY --chown=1:1 src/ lib/*.rs /app/\n\
                  COPY --from=tools /bin/x /x\n\
                  ADD https://example.com/a.tgz /a.tgz\n\
                  copy [\"conf dir/a.json\", \"/etc/\"]\n\
                  COPY <<EOF /hello\nRUN true\n\
                  FROM scratch\nCOPY --from=build /app /app\nADD ./static /static\n";
        assert_eq!(
            reads(df),
            paths(&["./static", "conf dir/a.json", "lib/*.rs", "src/"])
        );
    }

    #[test]
    fn the_whole_context_or_an_unknown_source_reads_everything() {
        assert_eq!(reads("FROM a\nCOPY . /app\n"), paths(&["."]));
        assert_eq!(
            reads("FROM a\nCOPY $UNSET/x /x\n"),
            ContextReads::Everything
        );
        assert_eq!(
            reads("FROM a\nRUN --mount=target=/src make\n"),
            paths(&["."])
        );
        assert_eq!(
            reads("FROM a\nRUN --mount=type=bind,source=go.mod,target=/m make\n"),
            paths(&["go.mod"])
        );
        assert_eq!(
            reads("FROM a\nRUN --mount=type=cache,target=/c --mount=from=b,target=/b make\n"),
            paths(&[])
        );
    }

    #[test]
    fn sources_resolve_args_and_env() {
        let df = "ARG DIR=web\nFROM a\nARG DIR\nARG SUB=public\nENV CONF=conf\n\
                  COPY ${DIR}/$SUB $CONF/ /srv/\n";
        assert_eq!(reads(df), paths(&["conf/", "web/public"]));
        let mut args = BTreeMap::new();
        args.insert("DIR".to_string(), "api".to_string());
        assert_eq!(context_reads(df, &args), paths(&["api/public", "conf/"]));
    }

    #[test]
    fn garbage_does_not_panic() {
        for t in [
            "FROM",
            "ARG",
            "ARG =",
            "COPY --from=",
            "RUN --mount=",
            "FROM ${",
            "FROM $",
            "é\\",
            "\\\n\\",
        ] {
            let _ = refs(t);
            let _ = reads(t);
        }
    }
}
