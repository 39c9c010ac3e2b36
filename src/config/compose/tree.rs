//! A compose file as a tree whose every node knows where it was written
//! (file, line, column), so that after override files are merged a value
//! still reports its own file and position.
//!
//! The tree is built the way `kiln.yaml` is read: serde_yaml is the parser
//! of record (scalar types, anchors, `<<` merge keys), positions come from
//! the `yaml_rust2` side table in `positions/`. Every string value is
//! interpolated while the tree is built, as compose interpolates each file
//! before merging; keys are never interpolated.

use std::path::Path;

use serde_yaml::Value;

use crate::config::checks::{Loc, Problems};
use crate::config::interpolate::{interpolate, Env};
use crate::config::positions::{NodePath, Positions, Seg};
use crate::config::yaml::key_text;

/// How an override file asks a value to be merged (compose's YAML tags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MergeTag {
    /// No tag: compose's merge rules apply.
    Merge,
    /// `!reset`: the key is removed, from earlier files too.
    Reset,
    /// `!override`: the value replaces the earlier one instead of merging.
    Override,
}

/// One node: its value, where the value starts, and its merge tag.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub kind: Kind,
    pub at: Loc,
    pub tag: MergeTag,
}

#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Null,
    Bool(bool),
    /// A number, as written by serde_yaml (`8080`, `1.5`).
    Number(String),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

/// One `key: value` of a mapping.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub key: String,
    pub key_at: Loc,
    pub value: Node,
}

impl Node {
    pub fn new(kind: Kind, at: Loc) -> Node {
        Node {
            kind,
            at,
            tag: MergeTag::Merge,
        }
    }

    /// The entries of a mapping (none for other kinds).
    pub fn entries(&self) -> &[Entry] {
        match &self.kind {
            Kind::Map(entries) => entries,
            _ => &[],
        }
    }

    /// The entry `key` of a mapping.
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries().iter().find(|e| e.key == key)
    }

    /// The entries of a mapping, to change (None for other kinds).
    pub fn entries_mut(&mut self) -> Option<&mut Vec<Entry>> {
        match &mut self.kind {
            Kind::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// Removes the entry `key` of a mapping and returns it.
    pub fn take(&mut self, key: &str) -> Option<Entry> {
        let entries = self.entries_mut()?;
        let i = entries.iter().position(|e| e.key == key)?;
        Some(entries.remove(i))
    }

    /// The value of `key` in a mapping, unless absent or null.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key)
            .map(|e| &e.value)
            .filter(|v| !matches!(v.kind, Kind::Null))
    }

    /// A scalar as text (strings, numbers, bools); `None` for null and
    /// collections.
    pub fn scalar_text(&self) -> Option<String> {
        match &self.kind {
            Kind::Str(s) => Some(s.clone()),
            Kind::Number(n) => Some(n.clone()),
            Kind::Bool(b) => Some(b.to_string()),
            Kind::Null | Kind::Seq(_) | Kind::Map(_) => None,
        }
    }

    /// What kind of value this is, for messages: "a mapping", "a list", ...
    pub fn describe(&self) -> &'static str {
        match &self.kind {
            Kind::Null => "empty",
            Kind::Bool(_) => "a boolean",
            Kind::Number(_) => "a number",
            Kind::Str(_) => "a string",
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
        }
    }
}

/// Parses one compose file into a located, interpolated tree. A YAML
/// syntax error is returned as the only problem; interpolation problems
/// are recorded in `out` and the value is kept as written.
pub(crate) fn parse(
    file: &Path,
    text: &str,
    env: Env<'_>,
    out: &mut Problems,
) -> Result<Node, crate::config::ConfigErrors> {
    let (root, pos) = crate::config::yaml::parse_yaml(file, text)?;
    let mut builder = Builder {
        file,
        pos,
        env,
        out,
    };
    Ok(builder.node(&root, &mut Vec::new()))
}

struct Builder<'a, 'o> {
    file: &'a Path,
    pos: Positions<'a>,
    env: Env<'a>,
    out: &'o mut Problems,
}

impl Builder<'_, '_> {
    fn loc(&self, at: crate::config::positions::Pos) -> Loc {
        Loc::new(self.file, at)
    }

    fn node(&mut self, value: &Value, path: &mut NodePath) -> Node {
        let at = self.loc(self.pos.value(path));
        let (value, tag) = match value {
            Value::Tagged(t) if t.tag == "reset" => (&t.value, MergeTag::Reset),
            Value::Tagged(t) if t.tag == "override" => (&t.value, MergeTag::Override),
            // Other tags carry no meaning for compose; look through them.
            Value::Tagged(t) => (&t.value, MergeTag::Merge),
            v => (v, MergeTag::Merge),
        };
        let kind = match value {
            Value::Null => Kind::Null,
            Value::Bool(b) => Kind::Bool(*b),
            Value::Number(n) => Kind::Number(n.to_string()),
            Value::String(s) => Kind::Str(self.interpolated(s, &at)),
            Value::Sequence(items) => {
                let mut nodes = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    path.push(Seg::Index(i));
                    nodes.push(self.node(item, path));
                    path.pop();
                }
                Kind::Seq(nodes)
            }
            Value::Mapping(map) => Kind::Map(self.entries(map, path, &at)),
            // A tag on a tag: serde_yaml never produces it; keep it neutral.
            Value::Tagged(_) => Kind::Null,
        };
        Node { kind, at, tag }
    }

    fn entries(&mut self, map: &serde_yaml::Mapping, path: &mut NodePath, at: &Loc) -> Vec<Entry> {
        let mut entries = Vec::with_capacity(map.len());
        for (k, v) in map {
            let Some(key) = key_text(k) else {
                self.out.error(
                    at,
                    "mapping keys must be plain names, not lists or mappings",
                );
                continue;
            };
            path.push(Seg::Key(key.clone()));
            let key_at = self.loc(self.pos.key(path));
            let value = self.node(v, path);
            path.pop();
            entries.push(Entry { key, key_at, value });
        }
        entries
    }

    fn interpolated(&mut self, s: &str, at: &Loc) -> String {
        match interpolate(s, self.env) {
            Ok(r) => {
                for w in r.warnings {
                    self.out.warn(at, w);
                }
                r.value
            }
            Err(e) => {
                self.out.error(at, e);
                s.to_string()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::positions::Pos;

    fn parse_ok(text: &str, env: Env<'_>) -> (Node, Problems) {
        let mut out = Problems::default();
        let node = parse(Path::new("c.yaml"), text, env, &mut out).unwrap();
        (node, out)
    }

    #[test]
    fn positions_interpolation_and_tags() {
        let env = |k: &str| (k == "TAG").then(|| "v1".to_string());
        let text = "services:\n  web:\n    image: \"app:${TAG}\"\n    ports: !reset []\n    cost: $$5\n    n: 3\n";
        let (root, out) = parse_ok(text, &env);
        assert!(out.errors.is_empty() && out.warnings.is_empty());
        let web = root.get("services").unwrap().get("web").unwrap();
        let image = web.get("image").unwrap();
        assert!(matches!(&image.kind, Kind::Str(s) if s == "app:v1"));
        assert_eq!(image.at.pos, Pos { line: 3, col: 12 });
        assert_eq!(
            web.entry("image").unwrap().key_at.pos,
            Pos { line: 3, col: 5 }
        );
        assert_eq!(web.entry("ports").unwrap().value.tag, MergeTag::Reset);
        assert_eq!(web.get("cost").unwrap().scalar_text().unwrap(), "$5");
        assert_eq!(web.get("n").unwrap().scalar_text().unwrap(), "3");
    }

    #[test]
    fn interpolation_problems_are_located() {
        let env = |_: &str| None;
        let text = "services:\n  web:\n    image: ${NOPE}\n    build: ${REQ:?set REQ}\n";
        let (root, out) = parse_ok(text, &env);
        assert_eq!(out.warnings.len(), 1);
        assert_eq!(
            out.warnings[0].to_string(),
            "c.yaml:3:12: variable NOPE is not set; using an empty string"
        );
        assert_eq!(out.errors[0].to_string(), "c.yaml:4:12: REQ: set REQ");
        // The value is kept as written.
        let build = root
            .get("services")
            .unwrap()
            .get("web")
            .unwrap()
            .get("build");
        assert_eq!(build.unwrap().scalar_text().unwrap(), "${REQ:?set REQ}");
    }

    #[test]
    fn syntax_errors_are_located() {
        let mut out = Problems::default();
        let env = |_: &str| None;
        let err = parse(Path::new("c.yaml"), "services:\n  web: [\n", &env, &mut out).unwrap_err();
        assert!(err.to_string().starts_with("c.yaml:"), "{err}");
        assert!(err.to_string().contains("YAML syntax error"), "{err}");
    }
}
