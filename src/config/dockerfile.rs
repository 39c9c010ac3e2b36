//! Just enough Dockerfile reading to infer dependencies between images.
//!
//! This file owns [`dockerfile_refs`] (which external images a Dockerfile
//! names in `FROM`, `COPY --from=` and `RUN --mount=...,from=`) and
//! [`ref_matches_tag`] (whether such a reference names one of kiln's own
//! tags). It is not a Dockerfile parser: it handles what matters for finding
//! references (parser directives for the escape character, line
//! continuations, comments, case-insensitive instructions, global `ARG`
//! defaults overridden by build args, stage names) and ignores the rest.

use std::collections::{BTreeMap, HashSet};

/// Image references a Dockerfile pulls in from outside itself, in order of
/// first appearance, without duplicates. Stage names (`FROM x AS builder`
/// then `COPY --from=builder`), stage indexes and `scratch` are excluded;
/// references that still contain an unresolved `$` are dropped.
pub fn dockerfile_refs(text: &str, args: &BTreeMap<String, String>) -> Vec<String> {
    let mut refs: Vec<String> = Vec::new();
    let mut seen = HashSet::new();
    let mut stages: HashSet<String> = HashSet::new();
    // ARGs declared before the first FROM are the only ones FROM can use.
    let mut global_args: BTreeMap<String, String> = BTreeMap::new();
    let mut saw_from = false;

    let mut push = |r: String, stages: &HashSet<String>| {
        let lower = r.to_ascii_lowercase();
        if r.is_empty()
            || r.contains('$')
            || lower == "scratch"
            || stages.contains(&lower)
            || r.bytes().all(|b| b.is_ascii_digit())
        {
            return;
        }
        if seen.insert(r.clone()) {
            refs.push(r);
        }
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
                push(image, &stages);
                if let (Some(kw), Some(stage)) = (it.next(), it.next()) {
                    if kw.eq_ignore_ascii_case("as") {
                        stages.insert(stage.to_ascii_lowercase());
                    }
                }
            }
            "COPY" | "ADD" => {
                for w in rest.iter().take_while(|w| w.starts_with("--")) {
                    if let Some(v) = strip_prefix_ci(w, "--from=") {
                        push(substitute(&unquote(v), &global_args, args), &stages);
                    }
                }
            }
            "RUN" => {
                for w in rest.iter().take_while(|w| w.starts_with("--")) {
                    let Some(spec) = strip_prefix_ci(w, "--mount=") else {
                        continue;
                    };
                    for kv in unquote(spec).split(',') {
                        if let Some(v) = strip_prefix_ci(kv.trim(), "from=") {
                            push(substitute(v, &global_args, args), &stages);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    refs
}

/// Whether Dockerfile reference `r` names `tag`: exactly, or with `:latest`
/// implied on a side that has no tag. Docker Hub's implicit prefixes
/// (`docker.io/library/`) are ignored on both sides. Digests never match.
pub fn ref_matches_tag(r: &str, tag: &str) -> bool {
    if r.contains('@') || tag.contains('@') {
        return false;
    }
    normalize(r) == normalize(tag)
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
    let last_slash = s.rfind('/').map_or(0, |p| p + 1);
    let has_tag = s[last_slash..].contains(':');
    if has_tag {
        s.to_string()
    } else {
        format!("{s}:latest")
    }
}

pub(super) fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    if s.len() >= prefix.len()
        && s.is_char_boundary(prefix.len())
        && s[..prefix.len()].eq_ignore_ascii_case(prefix)
    {
        Some(&s[prefix.len()..])
    } else {
        None
    }
}

pub(super) fn unquote(s: &str) -> String {
    let t = s.trim();
    for q in ['"', '\''] {
        if t.len() >= 2 && t.starts_with(q) && t.ends_with(q) {
            return t[1..t.len() - 1].to_string();
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
    let b = s.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        let next = s[i..].find('$').map_or(b.len(), |p| i + p);
        out.push_str(&s[i..next]);
        i = next;
        if i >= b.len() {
            break;
        }
        if b.get(i + 1) == Some(&b'{') {
            let Some(close) = s[i..].find('}').map(|p| i + p) else {
                out.push_str(&s[i..]);
                break;
            };
            let inner = &s[i + 2..close];
            let (name, op, arg) = if let Some((n, a)) = inner.split_once(":-") {
                (n, "-", a)
            } else if let Some((n, a)) = inner.split_once(":+") {
                (n, "+", a)
            } else {
                (inner, "", "")
            };
            let v = lookup(name);
            match (op, v) {
                ("", Some(v)) => out.push_str(&v),
                ("-", Some(v)) if !v.is_empty() => out.push_str(&v),
                ("-", _) => out.push_str(arg),
                ("+", Some(v)) if !v.is_empty() => out.push_str(arg),
                ("+", _) => {}
                _ => out.push_str(&s[i..=close]),
            }
            i = close + 1;
        } else {
            let mut j = i + 1;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                j += 1;
            }
            match lookup(&s[i + 1..j]) {
                Some(v) if j > i + 1 => out.push_str(&v),
                _ => out.push_str(&s[i..j.max(i + 1)]),
            }
            i = j.max(i + 1);
        }
    }
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
        dockerfile_refs(text, &BTreeMap::new())
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
        assert_eq!(dockerfile_refs(df, &args)[0], "localhost:5001/base:1.0");
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
        }
    }
}
