//! The module structure ARCHITECTURE.md describes, checked on the source:
//! the files form a tree (no two import each other, directly or around a
//! loop; `../shared/tools/modcycles` reads them the same way), and each
//! layer imports only what its row of ARCHITECTURE.md's table allows (the
//! engine nothing of the model, the model nothing of the engine or the
//! views, `protocol` nothing but the stack). An import is a `use` of
//! `crate::`, `super::` or `self::` paths, or a `crate::`/`super::` path
//! written inline, followed through `pub use` re-exports to the file that
//! defines it, as the compiler does; test code (`#[cfg(test)]` and after)
//! does not count, nor does importing one's own ancestor.
#![allow(clippy::unwrap_used, clippy::string_slice)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use regex::Regex;

static COMMENT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"//[^\n]*").unwrap());
static GROUP: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?s)^([\w:]*?)\{(.*)\}$").unwrap());

/// A module, by its path in the crate (`["app", "words"]`).
type Module = Vec<String>;

/// What each top-level layer may not import (besides itself).
const MAY_NOT: &[(&str, &[&str])] = &[
    (
        "app",
        &[
            "engine", "runtime", "history", "ui", "tui", "headless", "format", "output",
            "commands", "cli",
        ],
    ),
    (
        "engine",
        &[
            "app", "runtime", "history", "ui", "tui", "headless", "format", "commands", "cli",
        ],
    ),
    (
        "config",
        &[
            "app", "engine", "protocol", "runtime", "history", "ui", "tui", "headless", "format",
            "commands", "cli",
        ],
    ),
    (
        "history",
        &[
            "engine", "runtime", "ui", "tui", "headless", "commands", "cli",
        ],
    ),
    (
        "format",
        &[
            "engine", "runtime", "ui", "tui", "headless", "commands", "cli",
        ],
    ),
    (
        "ui",
        &[
            "engine", "runtime", "history", "tui", "headless", "format", "output", "commands",
            "cli",
        ],
    ),
    ("runtime", &["ui", "tui", "headless", "commands", "cli"]),
];

/// The leaves: all they may import of kiln's.
const ONLY: &[(&str, &[&str])] = &[
    ("protocol", &["config"]),
    ("human", &[]),
    ("sanitize", &[]),
    ("exit", &[]),
    ("output", &["sanitize"]),
];

/// Every source file, by module.
fn files(src: &Path) -> BTreeMap<Module, PathBuf> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(src).unwrap().with_extension("");
                let mut module: Module = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                if matches!(
                    module.last().map(String::as_str),
                    Some("mod" | "lib" | "main")
                ) {
                    module.pop();
                }
                out.insert(module, path);
            }
        }
    }
    out
}

/// A file's code as it counts: comments gone, test code cut off.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let text = COMMENT.replace_all(&text, "");
    let end = text.find("#[cfg(test)]").unwrap_or(text.len());
    text.get(..end).unwrap_or_default().to_string()
}

/// `a::{b, c::{d, e}}` under `prefix`, as paths.
fn expand(prefix: &[String], body: &str) -> Vec<Module> {
    let body = body.trim();
    let Some(m) = GROUP.captures(body) else {
        let mut path = prefix.to_vec();
        path.extend(
            body.split("::")
                .map(|s| s.split(" as ").next().unwrap_or(s).trim())
                .filter(|s| !s.is_empty() && *s != "self")
                .map(String::from),
        );
        return vec![path];
    };
    let mut head = prefix.to_vec();
    head.extend(m[1].split("::").filter(|s| !s.is_empty()).map(String::from));
    let (mut parts, mut part, mut depth) = (Vec::new(), String::new(), 0);
    for c in m[2].chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut part));
                continue;
            }
            _ => {}
        }
        part.push(c);
    }
    parts.push(part);
    parts
        .iter()
        .filter(|p| !p.trim().is_empty())
        .flat_map(|p| expand(&head, p))
        .collect()
}

/// `here`'s path for a `use` or inline path starting with `kind`
/// (`crate`, `super`, `self`) followed by `rest` (`super::super::x` too).
fn base(here: &[String], kind: &str, rest: &str) -> (Module, String) {
    let mut base: Module = match kind {
        "crate" => Vec::new(),
        "super" => here[..here.len().saturating_sub(1)].to_vec(),
        _ => here.to_vec(),
    };
    let mut rest = rest.trim_start_matches("::");
    while let Some(after) = rest.strip_prefix("super") {
        if !(after.is_empty() || after.starts_with("::")) {
            break;
        }
        base.pop();
        rest = after.trim_start_matches("::");
    }
    (base, rest.to_string())
}

/// Re-exports: `(module, name)` → the module that defines `name`.
fn reexports(files: &BTreeMap<Module, PathBuf>) -> BTreeMap<(Module, String), Module> {
    let re = Regex::new(
        r"(?s)\bpub(?:\([^)]*\))?\s+use\s+((?:self::|crate::|super::)?[\w:]*?)(?:\{([^}]*)\}|(\w+))\s*;",
    )
    .unwrap();
    let mut out = BTreeMap::new();
    for (module, path) in files {
        for m in re.captures_iter(&code(path)) {
            let head = &m[1];
            let (base, rest) = match head.split_once("::") {
                Some((k @ ("crate" | "super" | "self"), rest)) => base(module, k, rest),
                _ => (module.clone(), head.to_string()),
            };
            let mut from = base;
            from.extend(rest.split("::").filter(|s| !s.is_empty()).map(String::from));
            let names = m.get(2).or(m.get(3)).unwrap().as_str();
            for name in names.split(',') {
                let name = name.split(" as ").last().unwrap_or(name).trim();
                if !name.is_empty() && name != "self" {
                    out.insert((module.clone(), name.to_string()), from.clone());
                }
            }
        }
    }
    out
}

/// The file module `path` names, through re-exports.
fn resolve(
    mut path: Module,
    files: &BTreeMap<Module, PathBuf>,
    reexports: &BTreeMap<(Module, String), Module>,
) -> Option<Module> {
    for _ in 0..8 {
        let hop = (1..path.len()).rev().find_map(|i| {
            let key = (path[..i].to_vec(), path[i].clone());
            (files.contains_key(&key.0))
                .then(|| reexports.get(&key))
                .flatten()
                .map(|to| [to.as_slice(), &path[i..]].concat())
        });
        match hop {
            Some(next) => path = next,
            None => break,
        }
    }
    while !path.is_empty() && !files.contains_key(&path) {
        path.pop();
    }
    files.contains_key(&path).then_some(path)
}

/// Each module's imports of other modules (not of its ancestors).
fn imports(files: &BTreeMap<Module, PathBuf>) -> BTreeMap<Module, BTreeSet<Module>> {
    let reexports = reexports(files);
    let uses = Regex::new(r"(?s)\buse\s+(crate|super|self)((?:::[^;]*)?);").unwrap();
    let inline = Regex::new(r"\b(crate|super)((?:::\w+)+)").unwrap();
    let mut out = BTreeMap::new();
    for (module, path) in files {
        let code = code(path);
        let mut paths = Vec::new();
        for m in uses.captures_iter(&code) {
            let (base, rest) = base(module, &m[1], &m[2]);
            if !rest.is_empty() {
                paths.extend(expand(&base, &rest));
            }
        }
        for m in inline.captures_iter(&code) {
            let (mut base, rest) = base(module, &m[1], &m[2]);
            base.extend(rest.split("::").filter(|s| !s.is_empty()).map(String::from));
            paths.push(base);
        }
        let targets = paths
            .into_iter()
            .filter_map(|p| resolve(p, files, &reexports))
            .filter(|t| !module.starts_with(t))
            .collect();
        out.insert(module.clone(), targets);
    }
    out
}

/// The modules on a loop of imports, each loop once (Tarjan).
fn circles(edges: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<Module>> {
    struct Walk<'a> {
        edges: &'a BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<&'a Module, usize>,
        low: BTreeMap<&'a Module, usize>,
        stack: Vec<&'a Module>,
        found: Vec<Vec<Module>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, v: &'a Module) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            for w in self.edges.get(v).into_iter().flatten() {
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let low = self.low[v].min(self.low[w]);
                    self.low.insert(v, low);
                } else if self.stack.contains(&w) {
                    let low = self.low[v].min(self.index[w]);
                    self.low.insert(v, low);
                }
            }
            if self.low[v] == self.index[v] {
                let at = self.stack.iter().rposition(|m| *m == v).unwrap();
                let circle: Vec<Module> = self.stack.drain(at..).cloned().collect();
                if circle.len() > 1 {
                    self.found.push(circle);
                }
            }
        }
    }
    let mut walk = Walk {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for v in edges.keys() {
        if !walk.index.contains_key(v) {
            walk.visit(v);
        }
    }
    walk.found
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn shown(m: &Module) -> String {
    m.join("/")
}

#[test]
fn the_modules_form_a_tree() {
    let edges = imports(&files(&src()));
    let circles: Vec<String> = circles(&edges)
        .iter()
        .map(|c| c.iter().map(shown).collect::<Vec<_>>().join(" <-> "))
        .collect();
    assert!(
        circles.is_empty(),
        "import circles:\n{}",
        circles.join("\n")
    );
}

#[test]
fn each_layer_imports_only_what_it_may() {
    let edges = imports(&files(&src()));
    let layer = |m: &Module| m.first().cloned().unwrap_or_default();
    let mut wrong = Vec::new();
    for (from, targets) in &edges {
        for to in targets {
            let (a, b) = (layer(from), layer(to));
            if a == b || b.is_empty() {
                continue;
            }
            let denied = MAY_NOT
                .iter()
                .any(|(l, not)| *l == a && not.contains(&b.as_str()));
            let outside = ONLY
                .iter()
                .any(|(l, only)| *l == a && !only.contains(&b.as_str()));
            if denied || outside {
                wrong.push(format!("{} imports {}", shown(from), shown(to)));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The checks see what they must: a circle and a forbidden import, when
/// there are some.
#[test]
fn the_checks_see_circles_and_layers() {
    let dir = tempfile::tempdir().unwrap();
    let write = |rel: &str, text: &str| {
        let path = dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write(
        "lib.rs",
        "pub mod app;\npub mod engine;\npub mod protocol;\n",
    );
    write(
        "protocol/mod.rs",
        "mod run;\npub use run::{Event, RunId};\n",
    );
    write(
        "protocol/run.rs",
        "pub struct Event;\npub type RunId = u64;\n",
    );
    write(
        "app/mod.rs",
        "pub mod a;\npub mod b;\nuse crate::protocol::Event;\n",
    );
    write("app/a.rs", "use super::b::B;\npub struct A;\n");
    write(
        "app/b.rs",
        "pub struct B(super::a::A);\n#[cfg(test)]\nuse crate::engine::X;\n",
    );
    write(
        "engine/mod.rs",
        "use crate::{app::a::A, protocol::RunId};\n",
    );
    let edges = imports(&files(dir.path()));
    let m = |s: &str| s.split('/').map(String::from).collect::<Module>();
    assert_eq!(edges[&m("app")], BTreeSet::from([m("protocol/run")]));
    assert_eq!(
        edges[&m("engine")],
        BTreeSet::from([m("app/a"), m("protocol/run")])
    );
    assert_eq!(circles(&edges), vec![vec![m("app/a"), m("app/b")]]);
}
