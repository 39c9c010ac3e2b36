//! Reading a stack file's YAML: serde_yaml's value (merge keys applied)
//! and where each node is ([`Positions`]), with a syntax error located and
//! said plainly. Shared by kiln.yaml (`schema/`) and compose files
//! (`compose/tree.rs`).

use std::path::Path;

use serde_yaml::Value;

use super::positions::{Pos, Positions, MAX_DEPTH};
use super::{ConfigError, ConfigErrors};

/// The YAML of `path` as a value (merge keys applied) and where its nodes
/// are. Positions are read first: that reading also refuses nesting
/// deeper than [`MAX_DEPTH`] before serde_yaml (whose cost grows with the
/// depth at every token) reads the text.
pub(crate) fn parse_yaml<'t>(
    path: &Path,
    text: &'t str,
) -> Result<(Value, Positions<'t>), ConfigErrors> {
    parse_read(path, text, Positions::read(text))
}

/// [`parse_yaml`] with the positions already read.
pub(crate) fn parse_read<'t>(
    path: &Path,
    text: &'t str,
    read: Result<Positions<'t>, Pos>,
) -> Result<(Value, Positions<'t>), ConfigErrors> {
    let positions = read.map_err(|at| ConfigErrors {
        errors: vec![ConfigError {
            file: path.to_path_buf(),
            line: at.line,
            col: at.col,
            message: format!("YAML nested deeper than {MAX_DEPTH} levels"),
        }],
    })?;
    let mut root: Value = serde_yaml::from_str(text).map_err(|e| syntax_error(path, text, &e))?;
    super::merge_keys::apply(&mut root).map_err(|e| {
        let at = positions.value(&e.path);
        ConfigErrors {
            errors: vec![ConfigError {
                file: path.to_path_buf(),
                line: at.line,
                col: at.col,
                message: e.message,
            }],
        }
    })?;
    Ok((root, positions))
}

/// A serde_yaml error as one located error, without serde_yaml's own
/// "at line X column Y" (the location is already in front). A duplicate
/// key is located at the key (serde_yaml gives its mapping's start); a
/// tab where the error is is named as the cause.
pub(crate) fn syntax_error(path: &Path, text: &str, e: &serde_yaml::Error) -> ConfigErrors {
    let (mut line, mut col) = e
        .location()
        .map_or((1, 1), |l| (l.line().max(1), l.column().max(1)));
    let mut message = e.to_string();
    let mark = format!(" at line {line} column {col}");
    if let Some(i) = message.find(&mark) {
        message.replace_range(i..i + mark.len(), "");
    }
    // A second mark (libyaml's "while parsing X at line L column C") is
    // kept, in the same LINE:COL notation as the prefix.
    message = shorten_marks(&message);
    if message.contains("duplicate entry with key") {
        if let Some(at) = Positions::build(text).first_duplicate_key() {
            (line, col) = (at.line, at.col);
        }
    }
    if tab_at(text, line, col) && !message.contains("tab") {
        message.push_str(" (a tab: YAML indents with spaces only)");
    }
    ConfigErrors {
        errors: vec![ConfigError {
            file: path.to_path_buf(),
            line,
            col,
            message: format!("YAML syntax error: {message}"),
        }],
    }
}

/// Whether the 1-based `line`:`col` of `text` is a tab, or in the line's
/// indentation holding one.
fn tab_at(text: &str, line: usize, col: usize) -> bool {
    let Some(l) = text.lines().nth(line.saturating_sub(1)) else {
        return false;
    };
    let indent: String = l.chars().take_while(|c| c.is_whitespace()).collect();
    l.chars().nth(col.saturating_sub(1)) == Some('\t')
        || (col <= indent.chars().count() + 1 && indent.contains('\t'))
}

/// Rewrites `at line L column C` as `at L:C`.
fn shorten_marks(msg: &str) -> String {
    let digits = |s: &str| s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let mut out = String::new();
    let mut rest = msg;
    while let Some((before, after)) = rest.split_once("at line ") {
        out.push_str(before);
        let (line, tail) = after.split_at(digits(after));
        let col_part = tail.strip_prefix(" column ").unwrap_or("");
        let (col, next) = col_part.split_at(digits(col_part));
        if line.is_empty() || col.is_empty() {
            out.push_str("at line ");
            rest = after;
            continue;
        }
        out.push_str(&format!("at {line}:{col}"));
        rest = next;
    }
    out.push_str(rest);
    out
}

/// A value with its YAML tag (`!foo x`) looked through: tags carry no
/// meaning for kiln.
pub(crate) fn untag(v: &Value) -> &Value {
    match v {
        Value::Tagged(t) => &t.value,
        other => other,
    }
}

/// A mapping key as text (a string, number, bool or null); `None` for a
/// list or mapping used as a key.
pub(crate) fn key_text(k: &Value) -> Option<String> {
    match untag(k) {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some("null".to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_are_shortened_only_when_whole() {
        for (given, want) in [
            (
                "x, while parsing a block at line 2 column 3",
                "x, while parsing a block at 2:3",
            ),
            (
                "at line 1 column 2 and at line 10 column 20",
                "at 1:2 and at 10:20",
            ),
            ("at line 3", "at line 3"),
            ("at line  column 2", "at line  column 2"),
            ("at line é column 1", "at line é column 1"),
            ("at line 7 column é", "at line 7 column é"),
            ("no mark", "no mark"),
        ] {
            assert_eq!(shorten_marks(given), want, "{given:?}");
        }
    }
}
