//! Typed reads of compose tree nodes. Each records a located problem and
//! returns `None` when a value has the wrong shape, so one run reports
//! every mistake.

use super::tree::{Kind, Node};
use crate::config::checks::{Loc, Problems};
use crate::config::fields::{Field, Kind as FieldKind};
use crate::config::suggest::did_you_mean;
use crate::config::values::{scalar_of, FieldValue};

/// One `KEY=VALUE` of a key-value list or mapping (`args`, `labels`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct KeyValue {
    pub key: String,
    /// `None` for a bare `KEY` or `KEY: null`.
    pub value: Option<String>,
    pub at: Loc,
}

/// Reports keys of mapping `node` that are not in `valid` (keys starting
/// with `x-` are extensions and always allowed), with a suggestion.
pub(crate) fn unknown_keys(node: &Node, valid: &[&str], what: &str, out: &mut Problems) {
    for e in node.entries() {
        if e.key.starts_with("x-") || valid.contains(&e.key.as_str()) {
            continue;
        }
        let hint = did_you_mean(&e.key, valid.iter().copied());
        out.error(&e.key_at, format!("unknown {what} '{}'{hint}", e.key));
    }
}

/// A mapping, or a located error naming what it should be.
pub(crate) fn mapping<'n>(node: &'n Node, what: &str, out: &mut Problems) -> Option<&'n Node> {
    match node.kind {
        Kind::Map(_) => Some(node),
        _ => {
            out.error(
                &node.at,
                format!("'{what}' must be a mapping, not {}", node.describe()),
            );
            None
        }
    }
}

pub(crate) fn string(node: &Node, what: &str, out: &mut Problems) -> Option<String> {
    match &node.kind {
        Kind::Str(s) => Some(s.clone()),
        _ => {
            out.error(
                &node.at,
                format!("'{what}' must be a string, not {}", node.describe()),
            );
            None
        }
    }
}

/// A string that must not be empty or blank.
pub(crate) fn non_empty(node: &Node, what: &str, out: &mut Problems) -> Option<String> {
    let s = string(node, what, out)?;
    if s.trim().is_empty() {
        out.error(&node.at, format!("'{what}' must not be empty"));
        return None;
    }
    Some(s)
}

/// `true`/`false`, also as a string (after interpolation `${X:-false}` is
/// one), case-insensitive.
pub(crate) fn boolean(node: &Node, what: &str, out: &mut Problems) -> Option<bool> {
    match scalar(node, FieldKind::Flag, what, &flag_text(node), out)? {
        FieldValue::Flag(b) => Some(b),
        _ => None,
    }
}

/// A list of strings, each with its position.
pub(crate) fn strings(node: &Node, what: &str, out: &mut Problems) -> Option<Vec<(String, Loc)>> {
    let Kind::Seq(items) = &node.kind else {
        out.error(
            &node.at,
            format!(
                "'{what}' must be a list of strings, not {}",
                node.describe()
            ),
        );
        return None;
    };
    let mut list = Vec::with_capacity(items.len());
    let mut ok = true;
    for item in items {
        match &item.kind {
            Kind::Str(s) => list.push((s.clone(), item.at.clone())),
            _ => {
                out.error(&item.at, format!("'{what}' must be a list of strings"));
                ok = false;
            }
        }
    }
    ok.then_some(list)
}

/// A mapping `KEY: value` (string, number, bool or null) or a list of
/// `KEY=VALUE` / `KEY` strings (compose's `list_or_dict`).
pub(crate) fn key_values(node: &Node, what: &str, out: &mut Problems) -> Option<Vec<KeyValue>> {
    match &node.kind {
        Kind::Map(entries) => {
            let mut list = Vec::with_capacity(entries.len());
            let mut ok = true;
            for e in entries {
                let value = match &e.value.kind {
                    Kind::Null => None,
                    Kind::Seq(_) | Kind::Map(_) => {
                        out.error(
                            &e.value.at,
                            format!("'{what}.{}' must be a string, number or boolean", e.key),
                        );
                        ok = false;
                        continue;
                    }
                    _ => e.value.scalar_text(),
                };
                list.push(KeyValue {
                    key: e.key.clone(),
                    value,
                    at: e.value.at.clone(),
                });
            }
            ok.then_some(list)
        }
        Kind::Seq(_) => {
            let items = strings(node, what, out)?;
            Some(
                items
                    .into_iter()
                    .map(|(s, at)| match s.split_once('=') {
                        Some((k, v)) => KeyValue {
                            key: k.to_string(),
                            value: Some(v.to_string()),
                            at,
                        },
                        None => KeyValue {
                            key: s,
                            value: None,
                            at,
                        },
                    })
                    .collect(),
            )
        }
        _ => {
            out.error(
                &node.at,
                format!(
                    "'{what}' must be a mapping or a list of KEY=VALUE strings, not {}",
                    node.describe()
                ),
            );
            None
        }
    }
}

/// The value of `field` at `node`, read by the field's kind; the scalar
/// kinds as kiln.yaml reads them (`values.rs`). `None` (the problem
/// recorded) when it is not one, and for the kinds whose compose shapes
/// are read where they are used (lists, mappings).
pub(crate) fn value(node: &Node, field: &Field, out: &mut Problems) -> Option<FieldValue> {
    let name = field.name;
    let text = match field.kind {
        FieldKind::Name | FieldKind::Text => {
            return string(node, name, out).map(|s| FieldValue::Text(Some(s)))
        }
        FieldKind::List => {
            return strings(node, name, out)
                .map(|l| FieldValue::List(l.into_iter().map(|(s, _)| s).collect()))
        }
        FieldKind::Map => return None,
        // A choice that is not a string is said twice: not a string, and
        // not one of the words.
        FieldKind::Choice(_) => string(node, name, out).unwrap_or_default(),
        FieldKind::Flag => flag_text(node),
        _ => node.scalar_text().unwrap_or_default(),
    };
    scalar(node, field.kind, name, &text, out)
}

/// A flag's text: a boolean or a string (anything else is no flag).
fn flag_text(node: &Node) -> String {
    match &node.kind {
        Kind::Bool(b) => b.to_string(),
        Kind::Str(s) => s.clone(),
        _ => String::new(),
    }
}

/// A scalar of `kind` read from `text`, with its problem located at `node`.
fn scalar(
    node: &Node,
    kind: FieldKind,
    what: &str,
    text: &str,
    out: &mut Problems,
) -> Option<FieldValue> {
    match scalar_of(kind, what, text)? {
        Ok(value) => Some(value),
        Err(message) => {
            out.error(&node.at, message);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::compose::tree::parse;
    use std::path::Path;

    fn node(text: &str) -> Node {
        let mut out = Problems::default();
        let env = |_: &str| None;
        parse(Path::new("c.yaml"), text, &env, &mut out).unwrap()
    }

    #[test]
    fn key_values_in_both_forms() {
        let mut out = Problems::default();
        let n = node("a: {X: 1, Y: ~, Z: true}\nb: [X=1, Y, Z=a=b]\n");
        let pairs = |kv: Vec<KeyValue>| -> Vec<(String, Option<String>)> {
            kv.into_iter().map(|k| (k.key, k.value)).collect()
        };
        let a = pairs(key_values(n.get("a").unwrap(), "args", &mut out).unwrap());
        assert_eq!(
            a,
            [
                ("X".into(), Some("1".into())),
                ("Y".into(), None),
                ("Z".into(), Some("true".into()))
            ]
        );
        let b = pairs(key_values(n.get("b").unwrap(), "args", &mut out).unwrap());
        assert_eq!(
            b,
            [
                ("X".into(), Some("1".into())),
                ("Y".into(), None),
                ("Z".into(), Some("a=b".into()))
            ]
        );
        assert!(out.errors.is_empty());
    }

    #[test]
    fn wrong_shapes_are_located() {
        let mut out = Problems::default();
        let n = node("a: 3\nb: [x, {y: 1}]\nc: maybe\nd: {K: [1]}\n");
        assert!(string(n.get("a").unwrap(), "image", &mut out).is_none());
        assert!(strings(n.get("b").unwrap(), "tags", &mut out).is_none());
        assert!(boolean(n.get("c").unwrap(), "no_cache", &mut out).is_none());
        assert!(key_values(n.get("d").unwrap(), "args", &mut out).is_none());
        let msgs: Vec<String> = out.errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            msgs,
            [
                "c.yaml:1:4: 'image' must be a string, not a number",
                "c.yaml:2:8: 'tags' must be a list of strings",
                "c.yaml:3:4: 'no_cache' must be true or false",
                "c.yaml:4:8: 'args.K' must be a string, number or boolean",
            ]
        );
    }
}
