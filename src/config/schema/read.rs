//! kiln.yaml's typed readers: each takes a `serde_yaml::Value` at a node
//! path, interpolates strings, and either returns the value or records a
//! problem at the node's position (and returns `None`), so one run reports
//! every mistake. The scalar kinds' grammar and words are shared with
//! compose files (`values.rs`); the shapes here are kiln.yaml's own.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use serde_yaml::{Mapping, Value};

use crate::config::checks::{Loc, Problems};
use crate::config::fields::{Field, Kind};
use crate::config::interpolate::{interpolate, Env};
use crate::config::positions::{NodePath, Pos, Positions, Seg};
use crate::config::suggest::did_you_mean;
use crate::config::values::{scalar, FieldValue};
use crate::config::yaml::{key_text, untag};

/// Fields of one mapping that passed the unknown-key check.
pub(super) struct Fields<'v> {
    pub map: HashMap<&'static str, (&'v Value, NodePath)>,
}

impl<'v> Fields<'v> {
    /// Present and not null.
    pub fn get(&self, k: &str) -> Option<(&'v Value, &NodePath)> {
        self.map
            .get(k)
            .filter(|(v, _)| !matches!(untag(v), Value::Null))
            .map(|(v, p)| (*v, p))
    }

    pub fn has(&self, k: &str) -> bool {
        self.get(k).is_some()
    }
}

pub(super) fn child(path: &[Seg], key: &str) -> NodePath {
    let mut p = path.to_vec();
    p.push(Seg::Key(key.to_string()));
    p
}

pub(super) fn item(path: &[Seg], i: usize) -> NodePath {
    let mut p = path.to_vec();
    p.push(Seg::Index(i));
    p
}

pub(super) struct Ctx<'a> {
    pub file: PathBuf,
    /// The file's directory: relative paths start here.
    pub dir: PathBuf,
    pub pos: Positions<'a>,
    pub env: Env<'a>,
    pub out: Problems,
}

impl Ctx<'_> {
    pub fn loc(&self, at: Pos) -> Loc {
        Loc::new(&self.file, at)
    }

    pub fn error(&mut self, at: Pos, message: impl Into<String>) {
        let at = self.loc(at);
        self.out.error(&at, message);
    }

    pub fn warn(&mut self, at: Pos, message: impl Into<String>) {
        let at = self.loc(at);
        self.out.warn(&at, message);
    }

    /// Splits a mapping into known fields, reporting unknown keys (with a
    /// suggestion, or the list of valid fields). Keys starting with `x-`
    /// are allowed at the top level for YAML anchors, as in Compose.
    pub fn fields<'v>(
        &mut self,
        map: &'v Mapping,
        path: &[Seg],
        valid: &[&'static str],
        allow_x: bool,
    ) -> Fields<'v> {
        let mut out = HashMap::new();
        for (k, v) in map {
            let Some(name) = key_text(k) else {
                let at = self.pos.value(path);
                self.error(at, "mapping keys must be plain field names");
                continue;
            };
            let p = child(path, &name);
            if let Some(&known) = valid.iter().find(|f| **f == name) {
                out.insert(known, (v, p));
                continue;
            }
            if allow_x && name.starts_with("x-") {
                continue;
            }
            let mut hint = did_you_mean(&name, valid.iter().copied());
            if hint.is_empty() {
                hint = format!(" (valid fields: {})", valid.join(", "));
            }
            let at = self.pos.key(&p);
            self.error(at, format!("unknown field '{name}'{hint}"));
        }
        Fields { map: out }
    }

    fn interp(&mut self, s: &str, path: &[Seg]) -> Option<String> {
        match interpolate(s, self.env) {
            Ok(r) => {
                for w in r.warnings {
                    let at = self.pos.value(path);
                    self.warn(at, w);
                }
                Some(r.value)
            }
            Err(e) => {
                let at = self.pos.value(path);
                self.error(at, e);
                None
            }
        }
    }

    /// A string field (interpolated). Errors are recorded; `None` then.
    pub fn string(&mut self, v: &Value, path: &[Seg], field: &str) -> Option<String> {
        match untag(v) {
            Value::String(s) => self.interp(s, path),
            _ => {
                let at = self.pos.value(path);
                self.error(at, format!("'{field}' must be a string"));
                None
            }
        }
    }

    /// A string, number or bool, stringified (for args and labels).
    fn scalar_text(&mut self, v: &Value, path: &[Seg], what: &str) -> Option<String> {
        match untag(v) {
            Value::String(s) => self.interp(s, path),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => {
                let at = self.pos.value(path);
                self.error(at, format!("'{what}' must be a string, number or bool"));
                None
            }
        }
    }

    pub fn string_list(&mut self, v: &Value, path: &[Seg], field: &str) -> Option<Vec<String>> {
        let Value::Sequence(seq) = untag(v) else {
            let at = self.pos.value(path);
            self.error(at, format!("'{field}' must be a list of strings"));
            return None;
        };
        let mut out = Vec::with_capacity(seq.len());
        let mut ok = true;
        for (i, x) in seq.iter().enumerate() {
            let p = item(path, i);
            match untag(x) {
                Value::String(s) => match self.interp(s, &p) {
                    Some(s) => out.push(s),
                    None => ok = false,
                },
                _ => {
                    let at = self.pos.value(&p);
                    self.error(at, format!("'{field}' must be a list of strings"));
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    fn string_map(
        &mut self,
        v: &Value,
        path: &[Seg],
        field: &str,
    ) -> Option<BTreeMap<String, String>> {
        let Value::Mapping(m) = untag(v) else {
            let at = self.pos.value(path);
            self.error(at, format!("'{field}' must be a mapping of NAME: value"));
            return None;
        };
        let mut out = BTreeMap::new();
        let mut ok = true;
        for (k, x) in m {
            let Some(name) = key_text(k) else {
                let at = self.pos.value(path);
                self.error(at, format!("'{field}' keys must be plain names"));
                ok = false;
                continue;
            };
            // A plain string (the usual case: nothing to interpolate, so
            // nothing to report) is taken as it is, without a path.
            if let Value::String(s) = untag(x) {
                if !s.contains('$') {
                    out.insert(name, s.clone());
                    continue;
                }
            }
            let p = child(path, &name);
            match self.scalar_text(x, &p, &format!("{field}.{name}")) {
                Some(s) => {
                    out.insert(name, s);
                }
                None => ok = false,
            }
        }
        ok.then_some(out)
    }
    /// The value of `field`, written as `v`, read by the field's kind.
    pub fn value(&mut self, field: &Field, v: &Value, path: &[Seg]) -> Option<FieldValue> {
        let name = field.name;
        let text = match field.kind {
            Kind::Name | Kind::Text => {
                return self
                    .string(v, path, name)
                    .map(|s| FieldValue::Text(Some(s)))
            }
            Kind::List => return self.string_list(v, path, name).map(FieldValue::List),
            Kind::Map => return self.string_map(v, path, name).map(FieldValue::Map),
            Kind::Secrets => return self.secrets(v, path).map(FieldValue::Secrets),
            Kind::Ssh => return self.ssh(v, path).map(FieldValue::Ssh),
            Kind::Choice(_) => self.string(v, path, name)?,
            kind => match untag(v) {
                // After interpolation `push: ${PUSH:-false}` is a string.
                Value::String(s) => self.interp(s, path)?,
                Value::Bool(b) if kind == Kind::Flag => b.to_string(),
                Value::Number(n) if kind != Kind::Flag => n.to_string(),
                _ => String::new(),
            },
        };
        match scalar(field, &text)? {
            Ok(value) => Some(value),
            Err(message) => {
                let at = self.pos.value(path);
                self.error(at, message);
                None
            }
        }
    }
}
