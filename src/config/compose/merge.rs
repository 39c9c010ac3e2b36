//! Merging several compose files (`-f a.yaml -f b.yaml`, or a file and
//! its `compose.override.yaml`) the way compose-go's `override/merge.go`
//! does:
//!
//! - mappings merge key by key; lists are appended; scalars are replaced;
//!   a null in the later file keeps the earlier value;
//! - key-value lists (`build.args`, `build.labels`, `environment`,
//!   `labels`, ...) merge by key: both sides become `KEY=VALUE` lists and
//!   are appended, and the later `KEY` wins when the list is read;
//! - `build: ./dir` is `build: {context: ./dir}`; `depends_on` lists become
//!   mappings; `extra_hosts` keeps each host once; `command`, `entrypoint`
//!   and `healthcheck.test` are replaced;
//! - `!reset` removes a key (from earlier files too), `!override` replaces
//!   a value without merging.
//!
//! Every node keeps its own file and position, so a merged value is
//! reported where it was written. A mapping replaced by a list (or the
//! reverse) is an error, as in compose.

use super::tree::{Entry, Kind, MergeTag, Node};
use crate::config::checks::Problems;

/// How the value at one path is merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// Mappings by key, lists appended, scalars replaced.
    Default,
    /// Both sides as `KEY=VALUE` lists, appended.
    KeyValueList,
    /// `build`: a string is `{context: STRING}`.
    Build,
    /// `depends_on`: a list of names is a mapping of names.
    DependsOn,
    /// `extra_hosts`: as lists, each entry once.
    ExtraHosts,
    /// The later value replaces the earlier one.
    Replace,
    /// A list of names is a mapping of names to null (`networks`).
    NameMapping,
    /// `logging`: merged when both use the same driver, else replaced.
    Logging,
}

/// compose-go's `mergeSpecials`, as paths with `*` for any one key.
const RULES: &[(&str, Rule)] = &[
    ("networks.*.labels", Rule::KeyValueList),
    ("volumes.*.labels", Rule::KeyValueList),
    ("services.*.annotations", Rule::KeyValueList),
    ("services.*.build", Rule::Build),
    ("services.*.build.args", Rule::KeyValueList),
    ("services.*.build.additional_contexts", Rule::KeyValueList),
    ("services.*.build.extra_hosts", Rule::ExtraHosts),
    ("services.*.build.labels", Rule::KeyValueList),
    ("services.*.command", Rule::Replace),
    ("services.*.depends_on", Rule::DependsOn),
    ("services.*.deploy.labels", Rule::KeyValueList),
    ("services.*.dns", Rule::KeyValueList),
    ("services.*.dns_opt", Rule::KeyValueList),
    ("services.*.dns_search", Rule::KeyValueList),
    ("services.*.entrypoint", Rule::Replace),
    ("services.*.env_file", Rule::KeyValueList),
    ("services.*.label_file", Rule::KeyValueList),
    ("services.*.environment", Rule::KeyValueList),
    ("services.*.extra_hosts", Rule::ExtraHosts),
    ("services.*.healthcheck.test", Rule::Replace),
    ("services.*.labels", Rule::KeyValueList),
    ("services.*.logging", Rule::Logging),
    ("services.*.models", Rule::NameMapping),
    ("services.*.networks", Rule::NameMapping),
    ("services.*.sysctls", Rule::KeyValueList),
    ("services.*.tmpfs", Rule::KeyValueList),
    ("services.*.ulimits.*", Rule::Replace),
];

fn rule_for(path: &[String]) -> Rule {
    RULES
        .iter()
        .find(|(pattern, _)| {
            let parts: Vec<&str> = pattern.split('.').collect();
            parts.len() == path.len() && parts.iter().zip(path).all(|(p, k)| *p == "*" || p == k)
        })
        .map_or(Rule::Default, |(_, r)| *r)
}

/// Merges `later` into `earlier` (both file roots, or two services being
/// merged for `extends`), reporting impossible overrides in `out`.
pub(crate) fn merge(
    earlier: Node,
    later: Node,
    path: &mut Vec<String>,
    out: &mut Problems,
) -> Node {
    match rule_for(path) {
        Rule::Default => merge_default(earlier, later, path, out),
        Rule::KeyValueList => {
            let mut items = key_value_list(earlier);
            let at = later.at.clone();
            items.extend(key_value_list(later));
            Node::new(Kind::Seq(items), at)
        }
        Rule::Build => merge_default(build_mapping(earlier), build_mapping(later), path, out),
        Rule::DependsOn => merge_default(name_mapping(earlier), name_mapping(later), path, out),
        Rule::NameMapping => merge_default(name_mapping(earlier), name_mapping(later), path, out),
        Rule::ExtraHosts => {
            let mut items = key_value_list(earlier);
            let at = later.at.clone();
            for item in key_value_list(later) {
                if !items.iter().any(|i| i.scalar_text() == item.scalar_text()) {
                    items.push(item);
                }
            }
            Node::new(Kind::Seq(items), at)
        }
        Rule::Replace => later,
        Rule::Logging => {
            let driver = |n: &Node| n.get("driver").and_then(Node::scalar_text);
            let same = match (driver(&earlier), driver(&later)) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            };
            if same {
                merge_default(earlier, later, path, out)
            } else {
                later
            }
        }
    }
}

fn merge_default(earlier: Node, later: Node, path: &mut Vec<String>, out: &mut Problems) -> Node {
    let (was, now) = (earlier.describe(), later.describe());
    match (earlier.kind, later.kind) {
        (earlier_kind, Kind::Null) => Node::new(earlier_kind, earlier.at),
        (Kind::Map(base), Kind::Map(over)) => {
            Node::new(Kind::Map(merge_entries(base, over, path, out)), later.at)
        }
        (Kind::Seq(mut base), Kind::Seq(over)) => {
            base.extend(over);
            Node::new(Kind::Seq(base), later.at)
        }
        (Kind::Map(_) | Kind::Seq(_), _) => {
            out.error(
                &later.at,
                format!(
                    "cannot override '{}' ({was} at {}:{}) with {now}",
                    path.join("."),
                    earlier.at.file.display(),
                    earlier.at.pos.line,
                ),
            );
            Node::new(Kind::Null, later.at)
        }
        (_, over) => Node::new(over, later.at),
    }
}

fn merge_entries(
    mut base: Vec<Entry>,
    over: Vec<Entry>,
    path: &mut Vec<String>,
    out: &mut Problems,
) -> Vec<Entry> {
    for entry in over {
        let existing = base.iter().position(|e| e.key == entry.key);
        match (entry.value.tag, existing) {
            (MergeTag::Reset, Some(i)) => {
                base.remove(i);
            }
            (MergeTag::Reset, None) => {}
            (MergeTag::Override, Some(i)) => base[i] = entry,
            (MergeTag::Merge, Some(i)) => {
                let old = base[i].value.clone();
                path.push(entry.key.clone());
                let value = merge(old, entry.value, path, out);
                path.pop();
                base[i].value = value;
            }
            (_, None) => base.push(entry),
        }
    }
    base
}

/// `build: DIR` as `build: {context: DIR}`.
fn build_mapping(node: Node) -> Node {
    match node.kind {
        Kind::Str(_) => {
            let at = node.at.clone();
            Node::new(
                Kind::Map(vec![Entry {
                    key: "context".to_string(),
                    key_at: at.clone(),
                    value: node,
                }]),
                at,
            )
        }
        _ => node,
    }
}

/// A list of names as a mapping of those names to null.
fn name_mapping(node: Node) -> Node {
    match node.kind {
        Kind::Seq(items) => {
            let entries = items
                .into_iter()
                .filter_map(|item| {
                    let key = item.scalar_text()?;
                    Some(Entry {
                        key,
                        key_at: item.at.clone(),
                        value: Node::new(Kind::Null, item.at),
                    })
                })
                .collect();
            Node::new(Kind::Map(entries), node.at)
        }
        kind => Node::new(kind, node.at),
    }
}

/// A key-value mapping as a `KEY=VALUE` list sorted by text (a null value
/// gives `KEY`, a list value one `KEY=ITEM` each), as compose-go's
/// `convertIntoSequence`; a list stays as it is; a string is a one-item list.
pub(crate) fn key_value_list(node: Node) -> Vec<Node> {
    match node.kind {
        Kind::Seq(items) => items,
        Kind::Map(entries) => {
            let mut items = Vec::new();
            for e in entries {
                match e.value.kind {
                    Kind::Null => items.push(Node::new(Kind::Str(e.key), e.key_at)),
                    Kind::Seq(values) => {
                        for v in values {
                            let text = format!("{}={}", e.key, v.scalar_text().unwrap_or_default());
                            items.push(Node::new(Kind::Str(text), v.at));
                        }
                    }
                    ref kind => {
                        let value = Node::new(kind.clone(), e.value.at.clone());
                        let text = format!("{}={}", e.key, value.scalar_text().unwrap_or_default());
                        items.push(Node::new(Kind::Str(text), e.value.at));
                    }
                }
            }
            items.sort_by_key(Node::scalar_text);
            items
        }
        Kind::Str(_) => vec![node],
        Kind::Null | Kind::Bool(_) | Kind::Number(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::compose::tree::parse;
    use std::path::Path;

    fn tree(file: &str, text: &str) -> Node {
        let mut out = Problems::default();
        let env = |_: &str| None;
        parse(Path::new(file), text, &env, &mut out).unwrap()
    }

    fn merged(a: &str, b: &str) -> (Node, Problems) {
        let mut out = Problems::default();
        let m = merge(
            tree("a.yaml", a),
            tree("b.yaml", b),
            &mut Vec::new(),
            &mut out,
        );
        (m, out)
    }

    fn texts(n: &Node) -> Vec<String> {
        match &n.kind {
            Kind::Seq(items) => items.iter().filter_map(Node::scalar_text).collect(),
            _ => panic!("not a list: {n:?}"),
        }
    }

    #[test]
    fn maps_merge_scalars_replace_lists_append() {
        let a = "services:\n  web:\n    image: a\n    build: ./web\n    profiles: [x]\n    platform: linux/amd64\n";
        let b = "services:\n  web:\n    image: b\n    build:\n      target: prod\n    profiles: [y]\n    platform: ~\n  db:\n    image: pg\n";
        let (m, out) = merged(a, b);
        assert!(out.errors.is_empty());
        let services = m.get("services").unwrap();
        let keys: Vec<&str> = services.entries().iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["web", "db"]);
        let web = services.get("web").unwrap();
        let image = web.get("image").unwrap();
        assert_eq!(image.scalar_text().unwrap(), "b");
        assert_eq!(image.at.file, Path::new("b.yaml"));
        let build = web.get("build").unwrap();
        assert_eq!(
            build.get("context").unwrap().scalar_text().unwrap(),
            "./web"
        );
        assert_eq!(build.get("context").unwrap().at.file, Path::new("a.yaml"));
        assert_eq!(build.get("target").unwrap().scalar_text().unwrap(), "prod");
        assert_eq!(texts(web.get("profiles").unwrap()), ["x", "y"]);
        // A null in the later file keeps the earlier value.
        assert_eq!(
            web.get("platform").unwrap().scalar_text().unwrap(),
            "linux/amd64"
        );
    }

    #[test]
    fn key_value_lists_merge_by_key() {
        let a = "services:\n  web:\n    build:\n      context: .\n      args: {B: 1, A: x}\n      labels: [team=a]\n      extra_hosts: [\"db:10.0.0.1\"]\n";
        let b = "services:\n  web:\n    build:\n      args: [A=y, C]\n      labels: {team: b}\n      extra_hosts: {db: 10.0.0.1, cache: 10.0.0.2}\n";
        let (m, out) = merged(a, b);
        assert!(out.errors.is_empty());
        let build = m
            .get("services")
            .unwrap()
            .get("web")
            .unwrap()
            .get("build")
            .unwrap();
        assert_eq!(
            texts(build.get("args").unwrap()),
            ["A=x", "B=1", "A=y", "C"]
        );
        assert_eq!(texts(build.get("labels").unwrap()), ["team=a", "team=b"]);
        assert_eq!(
            texts(build.get("extra_hosts").unwrap()),
            ["db:10.0.0.1", "cache=10.0.0.2", "db=10.0.0.1"]
        );
    }

    #[test]
    fn depends_on_reset_and_override() {
        let a = "services:\n  web:\n    depends_on: [db]\n    cache_from: [a]\n    ports: [\"80:80\"]\n";
        let b = "services:\n  web:\n    depends_on:\n      cache: {condition: service_started}\n    cache_from: !override [b]\n    ports: !reset []\n";
        let (m, out) = merged(a, b);
        assert!(out.errors.is_empty());
        let web = m.get("services").unwrap().get("web").unwrap();
        let deps: Vec<&str> = web
            .get("depends_on")
            .unwrap()
            .entries()
            .iter()
            .map(|e| e.key.as_str())
            .collect();
        assert_eq!(deps, ["db", "cache"]);
        assert_eq!(texts(web.get("cache_from").unwrap()), ["b"]);
        assert!(web.entry("ports").is_none());
    }

    #[test]
    fn a_mapping_cannot_become_a_list() {
        let a = "services:\n  web:\n    deploy: {replicas: 2}\n";
        let b = "services:\n  web:\n    deploy: [x]\n";
        let (_, out) = merged(a, b);
        assert_eq!(
            out.errors[0].to_string(),
            "b.yaml:3:13: cannot override 'services.web.deploy' (a mapping at a.yaml:3) with a list"
        );
    }
}
