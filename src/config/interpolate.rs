//! `${VAR}` interpolation of string scalars, Compose-style.
//!
//! This file owns the substitution grammar:
//! `$$` (literal `$`), `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
//! `${VAR:+alt}`, `${VAR+alt}`, `${VAR:?message}` and `${VAR?message}`.
//! Defaults and alternatives may themselves contain substitutions.
//!
//! Unset `${VAR}` becomes an empty string plus a warning (Docker Compose's
//! behaviour), so a missing optional variable does not block a build but is
//! still visible. The environment is injected as a closure so tests never
//! touch the process environment.
//!
//! Errors are `String`s, only ever shown after `FILE:LINE:COL:` (see
//! `config/mod.rs`).

/// Looks up an environment variable; `None` means unset.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Substitutions nested deeper than this are refused instead of recursing,
/// so hostile input cannot exhaust the stack.
const MAX_NESTING: usize = 16;

/// The result of interpolating one string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interpolated {
    /// The string with every substitution applied.
    pub value: String,
    /// Non-fatal notes, e.g. `variable X is not set; using an empty string`.
    pub warnings: Vec<String>,
}

/// Interpolates `input` against `env`. Errors are complete messages such as
/// `X: need X` or `unterminated '${' in '${X'`.
pub fn interpolate(input: &str, env: Env<'_>) -> Result<Interpolated, String> {
    let mut warnings = Vec::new();
    let value = expand(input, input, env, &mut warnings, 0)?;
    Ok(Interpolated { value, warnings })
}

fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Where the name at the start of `s` ends (names are ASCII: the end is on
/// a character).
fn name_end(s: &str) -> usize {
    s.bytes().position(|b| !is_name_char(b)).unwrap_or(s.len())
}

fn expand(
    s: &str,
    whole: &str,
    env: Env<'_>,
    warnings: &mut Vec<String>,
    depth: usize,
) -> Result<String, String> {
    if depth > MAX_NESTING {
        return Err(format!("substitutions nested too deeply in '{whole}'"));
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    // Copy the run up to the next '$' in one go.
    while let Some((before, after)) = rest.split_once('$') {
        out.push_str(before);
        rest = if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            tail
        } else if let Some(body) = after.strip_prefix('{') {
            let close = matching_brace(body.as_bytes(), 0)
                .ok_or_else(|| format!("unterminated '${{' in '{whole}' (missing '}}')"))?;
            // `}` is ASCII: `close` is on a character.
            let (inner, tail) = body.split_at(close);
            out.push_str(&braced(inner, whole, env, warnings, depth)?);
            tail.strip_prefix('}').unwrap_or(tail)
        } else if after.bytes().next().is_some_and(is_name_start) {
            let (name, tail) = after.split_at(name_end(after));
            out.push_str(&plain(name, env, warnings));
            tail
        } else {
            // A '$' not starting a substitution (e.g. "$1", trailing "$")
            // is kept literally rather than rejected: shell snippets in
            // args should not need escaping for that.
            out.push('$');
            after
        };
    }
    out.push_str(rest);
    Ok(out)
}

/// Index of the `}` closing a `${` whose body starts at `from`.
fn matching_brace(b: &[u8], from: usize) -> Option<usize> {
    let mut level = 1usize;
    let mut j = from;
    while j < b.len() {
        if b[j] == b'$' && b.get(j + 1) == Some(&b'{') {
            level += 1;
            j += 2;
            continue;
        }
        if b[j] == b'}' {
            level -= 1;
            if level == 0 {
                return Some(j);
            }
        }
        j += 1;
    }
    None
}

fn plain(name: &str, env: Env<'_>, warnings: &mut Vec<String>) -> String {
    match env(name) {
        Some(v) => v,
        None => {
            warnings.push(format!("variable {name} is not set; using an empty string"));
            String::new()
        }
    }
}

fn braced(
    inner: &str,
    whole: &str,
    env: Env<'_>,
    warnings: &mut Vec<String>,
    depth: usize,
) -> Result<String, String> {
    let ib = inner.as_bytes();
    if ib.is_empty() || !is_name_start(ib[0]) {
        return Err(format!("invalid variable name in '${{{inner}}}'"));
    }
    let (name, rest) = inner.split_at(name_end(inner));
    let value = env(name);
    let set_nonempty = value.as_deref().is_some_and(|v| !v.is_empty());
    let (op, arg) = if rest.is_empty() {
        ("", "")
    } else if let Some(a) = rest.strip_prefix(":-") {
        (":-", a)
    } else if let Some(a) = rest.strip_prefix(":?") {
        (":?", a)
    } else if let Some(a) = rest.strip_prefix(":+") {
        (":+", a)
    } else if let Some(a) = rest.strip_prefix('-') {
        ("-", a)
    } else if let Some(a) = rest.strip_prefix('?') {
        ("?", a)
    } else if let Some(a) = rest.strip_prefix('+') {
        ("+", a)
    } else {
        return Err(format!(
            "invalid substitution '${{{inner}}}' (use ${{VAR}}, ${{VAR:-default}} or ${{VAR:?message}})"
        ));
    };
    let sub = |w: &mut Vec<String>| expand(arg, whole, env, w, depth + 1);
    Ok(match op {
        "" => plain(name, env, warnings),
        ":-" if set_nonempty => value.unwrap_or_default(),
        ":-" => sub(warnings)?,
        "-" => match value {
            Some(v) => v,
            None => sub(warnings)?,
        },
        ":+" if set_nonempty => sub(warnings)?,
        "+" if value.is_some() => sub(warnings)?,
        ":+" | "+" => String::new(),
        _ => {
            // ":?" and "?"
            let missing = if op == ":?" {
                !set_nonempty
            } else {
                value.is_none()
            };
            if missing {
                let msg = arg.trim();
                return Err(if msg.is_empty() {
                    format!("{name}: required variable is not set")
                } else {
                    format!("{name}: {msg}")
                });
            }
            value.unwrap_or_default()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn run(s: &str) -> Result<Interpolated, String> {
        let vars: HashMap<&str, &str> = [("A", "alpha"), ("EMPTY", ""), ("V", "1.2")].into();
        let env = move |k: &str| vars.get(k).map(|v| v.to_string());
        interpolate(s, &env)
    }

    fn val(s: &str) -> String {
        run(s)
            .map(|i| i.value)
            .unwrap_or_else(|e| format!("ERR {e}"))
    }

    #[test]
    fn forms() {
        assert_eq!(val("plain"), "plain");
        assert_eq!(val("${A}"), "alpha");
        assert_eq!(val("x-$A-y"), "x-alpha-y");
        assert_eq!(val("$A_B"), ""); // name is A_B, unset
        assert_eq!(val("${V:-dev}"), "1.2");
        assert_eq!(val("${NOPE:-dev}"), "dev");
        assert_eq!(val("${EMPTY:-dev}"), "dev");
        assert_eq!(val("${EMPTY-dev}"), "");
        assert_eq!(val("${NOPE-dev}"), "dev");
        assert_eq!(val("${A:+set}"), "set");
        assert_eq!(val("${EMPTY:+set}"), "");
        assert_eq!(val("${EMPTY+set}"), "set");
        assert_eq!(val("${NOPE+set}"), "");
        assert_eq!(val("$$HOME"), "$HOME");
        assert_eq!(val("cost: 5$"), "cost: 5$");
        assert_eq!(val("$1"), "$1");
        assert_eq!(val("${NOPE:-${A}-x}"), "alpha-x");
        assert_eq!(val("é${A}ü"), "éalphaü");
        assert_eq!(val("${A:?need A}"), "alpha");
    }

    #[test]
    fn unset_warns() {
        let r = run("a${NOPE}b").unwrap();
        assert_eq!(r.value, "ab");
        assert_eq!(
            r.warnings,
            vec!["variable NOPE is not set; using an empty string"]
        );
        assert!(run("${NOPE:-x}").unwrap().warnings.is_empty());
    }

    #[test]
    fn errors() {
        assert_eq!(val("${X:?need X}"), "ERR X: need X");
        assert_eq!(val("${EMPTY:?need it}"), "ERR EMPTY: need it");
        assert_eq!(val("${EMPTY?need it}"), "");
        assert_eq!(val("${X?}"), "ERR X: required variable is not set");
        assert!(val("${A").starts_with("ERR unterminated '${'"));
        assert!(val("x ${A:-${B}").starts_with("ERR unterminated"));
        assert!(val("${}").starts_with("ERR invalid variable name"));
        assert!(val("${1A}").starts_with("ERR invalid variable name"));
        assert!(val("${A%x}").starts_with("ERR invalid substitution"));
        let deep = "${NOPE:-".repeat(100) + &"}".repeat(100);
        assert!(val(&deep).contains("nested too deeply"));
    }
}
