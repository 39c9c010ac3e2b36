//! The environment a compose file is interpolated with, and the project
//! name, as the compose CLI (compose-go `cli/options.go`) works them out:
//!
//! - variables come from the process environment, then from `.env` in the
//!   project directory (or the `--env-file`s instead); the process wins;
//! - the project name is `-p`, else `COMPOSE_PROJECT_NAME`, else the last
//!   top-level `name:` among the files, else the project directory's name.
//!   A name from `-p` or `COMPOSE_PROJECT_NAME` must already be valid; one
//!   from `name:` or the directory is normalised (lowercased, anything but
//!   `a-z 0-9 _ -` dropped, leading `_`/`-` trimmed).
//!
//! The env-file grammar is compose-go's `dotenv` parser: `KEY=VALUE` or
//! `KEY: VALUE`, optional `export `, `#` comments (inline only after a
//! space on unquoted values), single quotes literal, double quotes with
//! backslash escapes and `${VAR}` substitution, a bare `KEY` taking the
//! process's value, quoted values over several lines.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::config::interpolate::{interpolate, Env};
use crate::config::ConfigError;

/// Variables read from env files, in the order files were given (a later
/// file's value wins).
pub(crate) type EnvVars = BTreeMap<String, String>;

/// Why the env files could not be read.
#[derive(Debug)]
pub(crate) enum EnvFileError {
    /// A syntax problem inside a file.
    Syntax(ConfigError),
    /// A named `--env-file` that is missing or unreadable.
    Missing(String),
}

/// Reads `--env-file`s (all must exist), else `.env` in `project_dir` if
/// it is a file (unless `COMPOSE_DISABLE_ENV_FILE` is true).
pub(crate) fn read_env_files(
    explicit: &[PathBuf],
    project_dir: &Path,
    process: Env<'_>,
) -> Result<EnvVars, EnvFileError> {
    let mut vars = EnvVars::new();
    let files: Vec<PathBuf> = if !explicit.is_empty() {
        explicit.to_vec()
    } else {
        let disabled = process("COMPOSE_DISABLE_ENV_FILE")
            .is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true"));
        let default = project_dir.join(".env");
        if disabled || !default.is_file() {
            return Ok(vars);
        }
        vec![default]
    };
    for file in &files {
        if !file.is_file() {
            return Err(EnvFileError::Missing(format!(
                "--env-file {}: no such file",
                file.display()
            )));
        }
        let text = crate::config::read_text(file).map_err(|e| {
            EnvFileError::Syntax(e.errors.into_iter().next().unwrap_or_else(|| ConfigError {
                file: file.clone(),
                line: 1,
                col: 1,
                message: "cannot read file".to_string(),
            }))
        })?;
        parse(file, &text, process, &mut vars).map_err(EnvFileError::Syntax)?;
    }
    Ok(vars)
}

/// Parses one env file into `vars`. `${VAR}` looks in `process` first, then
/// in the values read so far.
pub(crate) fn parse(
    file: &Path,
    text: &str,
    process: Env<'_>,
    vars: &mut EnvVars,
) -> Result<(), ConfigError> {
    let mut p = Parser { file, text, i: 0 };
    while let Some(start) = p.next_statement() {
        let (key, inherited) = p.key(start)?;
        if inherited {
            if let Some(v) = process(&key).or_else(|| vars.get(&key).cloned()) {
                vars.insert(key, v);
            }
            continue;
        }
        let value_at = p.i;
        let (raw, expand) = p.value()?;
        let value = if expand {
            let lookup = |k: &str| process(k).or_else(|| vars.get(k).cloned());
            interpolate(&raw, &lookup)
                .map_err(|e| p.error_at(value_at, e))?
                .value
        } else {
            raw
        };
        vars.insert(key, value);
    }
    Ok(())
}

struct Parser<'a> {
    file: &'a Path,
    text: &'a str,
    /// Byte offset of what is read next.
    i: usize,
}

/// Spaces that are not line breaks (compose-go's `isSpace`).
fn is_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{85}' | '\u{a0}'
    )
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        self.text.get(self.i..).unwrap_or_default()
    }

    fn error_at(&self, offset: usize, message: impl Into<String>) -> ConfigError {
        let before = self.text.get(..offset).unwrap_or(self.text);
        let line = before.matches('\n').count() + 1;
        let col = before
            .rsplit_once('\n')
            .map_or(before, |(_, col)| col)
            .chars()
            .count()
            + 1;
        ConfigError {
            file: self.file.to_path_buf(),
            line,
            col,
            message: message.into(),
        }
    }

    /// Skips blank lines and comments; the offset of the next statement.
    fn next_statement(&mut self) -> Option<usize> {
        loop {
            let skipped = self.rest().len() - self.rest().trim_start().len();
            self.i += skipped;
            if self.rest().is_empty() {
                return None;
            }
            if !self.rest().starts_with('#') {
                return Some(self.i);
            }
            match self.rest().find('\n') {
                Some(n) => self.i += n,
                None => self.i = self.text.len(),
            }
        }
    }

    /// Reads `[export ]KEY` and the separator; `inherited` when the line
    /// is the key alone.
    fn key(&mut self, start: usize) -> Result<(String, bool), ConfigError> {
        if let Some(after) = self.rest().strip_prefix("export") {
            if after.starts_with(is_space) {
                self.i += "export".len();
                self.i += self.rest().len() - self.rest().trim_start_matches(is_space).len();
            }
        }
        let src = self.rest();
        let mut end = None;
        for (n, c) in src.char_indices() {
            if is_space(c) {
                continue;
            }
            match c {
                '=' | ':' | '\n' => {
                    end = Some((n, c));
                    break;
                }
                '_' | '.' | '-' | '[' | ']' => {}
                c if c.is_alphanumeric() => {}
                c => {
                    let line = src.lines().next().unwrap_or("");
                    return Err(self.error_at(
                        self.i + n,
                        format!("unexpected character {c:?} in variable name {line:?}"),
                    ));
                }
            }
        }
        // A last line without a separator is a bare key, like a line
        // ending in a newline.
        let (n, sep) = end.unwrap_or((src.len(), '\n'));
        let key = src.get(..n).unwrap_or(src).trim_end().to_string();
        if key.contains(char::is_whitespace) {
            return Err(self.error_at(start, format!("key {key:?} cannot contain a space")));
        }
        if key.is_empty() {
            return Err(self.error_at(start, "missing variable name before the '='"));
        }
        self.i += (n + sep.len_utf8()).min(src.len());
        if sep != '\n' {
            self.i += self.rest().len() - self.rest().trim_start_matches(is_space).len();
        }
        Ok((key, sep == '\n'))
    }

    /// Reads a value; also says whether `${VAR}` substitution applies.
    fn value(&mut self) -> Result<(String, bool), ConfigError> {
        let src = self.rest();
        let quote = match src.chars().next() {
            Some(q @ ('"' | '\'')) => q,
            _ => {
                let line = src.split('\n').next().unwrap_or("");
                self.i += (line.len() + 1).min(src.len());
                let value = line.split_once(" #").map_or(line, |(value, _)| value);
                return Ok((value.trim_end().to_string(), true));
            }
        };
        let mut chars = String::new();
        let mut escaped = false;
        for (n, c) in src.char_indices().skip(1) {
            if c == quote && !escaped {
                self.i += n + 1;
                return Ok(if quote == '"' {
                    (expand_escapes(&chars), true)
                } else {
                    (chars, false)
                });
            }
            if c == '\\' && !escaped {
                escaped = true;
                continue;
            }
            if escaped && c != quote {
                chars.push('\\');
            }
            escaped = false;
            chars.push(c);
        }
        let line = src.split('\n').next().unwrap_or("");
        Err(self.error_at(self.i, format!("unterminated quoted value {line}")))
    }
}

/// Backslash escapes of double-quoted values: `\n \t \\ \"` and the other
/// C escapes, `\0NNN` octal, and `\$` for a literal `$`.
fn expand_escapes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(&next) = chars.peek() else {
            out.push('\\');
            break;
        };
        let simple = match next {
            'a' => Some('\u{7}'),
            'b' => Some('\u{8}'),
            'c' => None,
            'f' => Some('\u{c}'),
            'n' => Some('\n'),
            'r' => Some('\r'),
            't' => Some('\t'),
            'v' => Some('\u{b}'),
            '"' => Some('"'),
            '\\' => Some('\\'),
            _ => None,
        };
        if let Some(x) = simple {
            chars.next();
            out.push(x);
        } else if next == '$' {
            chars.next();
            // Interpolation runs next; `$$` is its literal `$`.
            out.push_str("$$");
        } else if next == '0' {
            chars.next();
            let mut digits = String::new();
            while digits.len() < 3 {
                match chars.peek() {
                    Some(d @ '0'..='7') => {
                        digits.push(*d);
                        chars.next();
                    }
                    _ => break,
                }
            }
            let code =
                u32::from_str_radix(if digits.is_empty() { "0" } else { &digits }, 8).unwrap_or(0);
            out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
        } else {
            out.push('\\');
        }
    }
    out
}

/// compose-go's `NormalizeProjectName`.
pub(crate) fn normalize_project_name(s: &str) -> String {
    let kept: String = s
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-'))
        .collect();
    kept.trim_start_matches(['_', '-']).to_string()
}

/// Where the project name came from, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameSource {
    Flag,
    Environment,
    File,
    Directory,
}

/// Picks the project name (see the module docs). `from_files` is the last
/// non-empty top-level `name:`, already interpolated.
pub(crate) fn project_name(
    flag: Option<&str>,
    from_env: Option<String>,
    from_files: Option<String>,
    project_dir: &Path,
) -> Result<(String, NameSource), String> {
    let imperative = match (flag, from_env.filter(|v| !v.is_empty())) {
        (Some(f), _) => Some((f.to_string(), NameSource::Flag, "-p/--project-name")),
        (None, Some(e)) => Some((e, NameSource::Environment, "COMPOSE_PROJECT_NAME")),
        (None, None) => None,
    };
    if let Some((name, source, what)) = imperative {
        if name.is_empty() || normalize_project_name(&name) != name {
            return Err(format!(
                "{what}: invalid project name {name:?}: use only lowercase letters, digits, '-' and '_', starting with a letter or digit"
            ));
        }
        return Ok((name, source));
    }
    let (name, source) = match from_files.map(|n| normalize_project_name(&n)) {
        Some(n) if !n.is_empty() => (n, NameSource::File),
        _ => {
            let dir = project_dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (normalize_project_name(&dir), NameSource::Directory)
        }
    };
    if name.is_empty() {
        return Err(format!(
            "cannot derive a project name from the directory {}; set 'name:' in the compose file or pass -p NAME",
            project_dir.display()
        ));
    }
    Ok((name, source))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str, process: Env<'_>) -> Result<EnvVars, String> {
        let mut vars = EnvVars::new();
        parse(Path::new(".env"), text, process, &mut vars).map_err(|e| e.to_string())?;
        Ok(vars)
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn dotenv_grammar() {
        let text = "\u{20}# comment\n\
                    A=plain value   # trailing comment\n\
                    export B=exported\n\
                    C='single ${A} \\n'\n\
                    D=\"double ${A}\\tand\\\"q\\\" \\$A\"\n\
                    E: yaml style\n\
                    F=\"multi\n\
                    line\"\n\
                    G=${A:-x}-${NOPE:-dflt}\n\
                    H=\n\
                    I=a#b\n\
                    J.K-L=dotted\n";
        let vars = parse_str(text, &no_env).unwrap();
        let get = |k: &str| vars.get(k).map(String::as_str);
        assert_eq!(get("A"), Some("plain value"));
        assert_eq!(get("B"), Some("exported"));
        assert_eq!(get("C"), Some("single ${A} \\n"));
        assert_eq!(get("D"), Some("double plain value\tand\"q\" $A"));
        assert_eq!(get("E"), Some("yaml style"));
        assert_eq!(get("F"), Some("multi\nline"));
        assert_eq!(get("G"), Some("plain value-dflt"));
        assert_eq!(get("H"), Some(""));
        assert_eq!(get("I"), Some("a#b"));
        assert_eq!(get("J.K-L"), Some("dotted"));
        assert_eq!(vars.len(), 10);
    }

    #[test]
    fn process_environment_is_seen_and_bare_keys_inherit() {
        let process = |k: &str| match k {
            "HOME_DIR" => Some("/home/me".to_string()),
            "ONLY_HERE" => Some("from process".to_string()),
            _ => None,
        };
        let vars = parse_str("P=${HOME_DIR}/x\nONLY_HERE\nMISSING\n", &process).unwrap();
        assert_eq!(vars["P"], "/home/me/x");
        assert_eq!(vars["ONLY_HERE"], "from process");
        assert!(!vars.contains_key("MISSING"));
    }

    #[test]
    fn errors_are_located() {
        let err = parse_str("A=1\nB C=2\n", &no_env).unwrap_err();
        assert_eq!(err, ".env:2:1: key \"B C\" cannot contain a space");
        let err = parse_str("A=1\nB$=2\n", &no_env).unwrap_err();
        assert_eq!(
            err,
            ".env:2:2: unexpected character '$' in variable name \"B$=2\""
        );
        let err = parse_str("A=\"open\nB=2\n", &no_env).unwrap_err();
        assert_eq!(err, ".env:1:3: unterminated quoted value \"open");
        let err = parse_str("A=${NEED:?set NEED}\n", &no_env).unwrap_err();
        assert_eq!(err, ".env:1:3: NEED: set NEED");
    }

    #[test]
    fn project_names() {
        let dir = Path::new("/work/My_App.v2");
        let pick = |flag: Option<&str>, env: Option<&str>, file: Option<&str>| {
            project_name(flag, env.map(String::from), file.map(String::from), dir)
        };
        assert_eq!(normalize_project_name("My_App.v2"), "my_appv2");
        assert_eq!(normalize_project_name("__-Web Shop"), "webshop");
        assert_eq!(
            pick(None, None, None).unwrap(),
            ("my_appv2".into(), NameSource::Directory)
        );
        assert_eq!(
            pick(None, None, Some("Shop!")).unwrap(),
            ("shop".into(), NameSource::File)
        );
        assert_eq!(
            pick(None, Some("envname"), Some("shop")).unwrap().0,
            "envname"
        );
        assert_eq!(
            pick(Some("flag"), Some("envname"), Some("shop")).unwrap().0,
            "flag"
        );
        assert_eq!(pick(None, Some(""), None).unwrap().0, "my_appv2");
        let err = pick(Some("Bad"), None, None).unwrap_err();
        assert!(
            err.starts_with("-p/--project-name: invalid project name \"Bad\""),
            "{err}"
        );
        let err = pick(None, Some("-x"), None).unwrap_err();
        assert!(
            err.starts_with("COMPOSE_PROJECT_NAME: invalid project name"),
            "{err}"
        );
        let err = project_name(None, None, None, Path::new("/tmp/___")).unwrap_err();
        assert!(err.contains("pass -p NAME"), "{err}");
    }
}
