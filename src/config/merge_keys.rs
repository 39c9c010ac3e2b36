//! YAML merge keys (`<<: *defaults`, `<<: [*a, *b]`) resolved in a value
//! serde_yaml parsed, for kiln.yaml and compose files alike.
//!
//! serde_yaml's own `apply_merge` resolves a mapping's `<<` but not the
//! `<<` that the merged mapping itself holds (an anchor built on another
//! anchor, a pattern compose files use for shared defaults): that one
//! stayed behind as a key named `<<`. Here every mapping is resolved after
//! the values under it, so what a `<<` brings in is already resolved. The
//! rules are YAML's merge-key type: a key the mapping has itself wins over
//! a merged one, and of several merged mappings the earlier wins. Merged
//! keys come after the mapping's own, in order.
//!
//! No I/O; positions of merged keys are the positions table's business
//! (`positions/` follows `<<` and aliases to where a key was written).

use serde_yaml::{Mapping, Value};

use super::positions::{NodePath, Seg};

/// A `<<` whose value cannot be merged, and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MergeError {
    /// The path of the `<<` entry's value.
    pub path: NodePath,
    pub message: String,
}

/// Resolves every merge key in `value`.
pub(crate) fn apply(value: &mut Value) -> Result<(), MergeError> {
    resolve(value, &mut Vec::new())
}

fn resolve(value: &mut Value, path: &mut NodePath) -> Result<(), MergeError> {
    match value {
        Value::Mapping(map) => {
            for (k, v) in map.iter_mut() {
                // (Only a plain key can be on a path the table knows.)
                let key = match k {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ => String::new(),
                };
                path.push(Seg::Key(key));
                let resolved = resolve(v, path);
                path.pop();
                resolved?;
            }
            let Some(merged) = map.shift_remove("<<") else {
                return Ok(());
            };
            path.push(Seg::Key("<<".to_string()));
            let sources = sources(merged, path);
            path.pop();
            for source in sources? {
                for (k, v) in source {
                    if !map.contains_key(&k) {
                        map.insert(k, v);
                    }
                }
            }
            Ok(())
        }
        Value::Sequence(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                path.push(Seg::Index(i));
                let resolved = resolve(item, path);
                path.pop();
                resolved?;
            }
            Ok(())
        }
        Value::Tagged(tagged) => resolve(&mut tagged.value, path),
        _ => Ok(()),
    }
}

/// The mappings a `<<` value merges in, in order of precedence.
fn sources(merged: Value, path: &NodePath) -> Result<Vec<Mapping>, MergeError> {
    let error = |message: &str| MergeError {
        path: path.clone(),
        message: message.to_string(),
    };
    match merged {
        Value::Mapping(m) => Ok(vec![m]),
        Value::Sequence(items) => items
            .into_iter()
            .map(|item| match item {
                Value::Mapping(m) => Ok(m),
                _ => Err(error(
                    "a merge key '<<' takes a mapping or a list of mappings (an alias like *defaults), and this list holds something else",
                )),
            })
            .collect(),
        _ => Err(error(
            "a merge key '<<' takes a mapping or a list of mappings (an alias like *defaults)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(text: &str) -> Value {
        let mut v: Value = serde_yaml::from_str(text).unwrap();
        apply(&mut v).unwrap();
        v
    }

    #[test]
    fn merge_keys_inside_anchors_are_resolved() {
        let v = resolved(
            "x-a: &a\n  restart: always\n  image: a\nx-d: &d\n  <<: *a\n  image: nginx\nweb:\n  <<: *d\n  ports: [80]\n",
        );
        let web = serde_yaml::to_string(&v["web"]).unwrap();
        assert_eq!(web, "ports:\n- 80\nimage: nginx\nrestart: always\n");
        let d = serde_yaml::to_string(&v["x-d"]).unwrap();
        assert_eq!(d, "image: nginx\nrestart: always\n");
    }

    #[test]
    fn own_keys_win_then_earlier_sources() {
        let v = resolved(
            "a: &a {k: a, x: 1}\nb: &b {k: b, y: 2}\nc:\n  k: own\n  <<: [*a, *b]\n  z: 3\n",
        );
        let c = serde_yaml::to_string(&v["c"]).unwrap();
        assert_eq!(c, "k: own\nz: 3\nx: 1\ny: 2\n");
    }

    #[test]
    fn unmergeable_values_are_located() {
        let mut v: Value = serde_yaml::from_str("top:\n  inner:\n    <<: 3\n").unwrap();
        let e = apply(&mut v).unwrap_err();
        assert_eq!(
            e.path,
            [
                Seg::Key("top".into()),
                Seg::Key("inner".into()),
                Seg::Key("<<".into())
            ]
        );
        let mut v: Value = serde_yaml::from_str("a: {<<: [x]}\n").unwrap();
        assert!(apply(&mut v).unwrap_err().message.contains("list holds"));
    }
}
