//! Side table of source positions, built from `yaml_rust2`'s marked events.
//!
//! `serde_yaml` is the parser of record for values, but it can only tell the
//! position of the first syntax error. To report *every* problem as
//! `FILE:LINE:COL`, this file re-reads the (already syntax-checked) text with
//! `yaml_rust2`'s event parser and records, for each node path such as
//! `images[2].contxt`, where its key and its value start. The validator walks
//! the `serde_yaml::Value` with the same path and looks positions up here.
//!
//! Nodes the table cannot know (values reached through an alias `*x`, keys
//! added by a `<<` merge, or anything if the two parsers ever disagree) fall
//! back to the nearest ancestor that has a position, so a message is never
//! lost, only less precise.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// Collections nested deeper than this are refused before anything else
/// reads the file: a YAML parser's cost grows with the depth at every
/// token (100,000 nested `[` took 45 s to reach serde_yaml's recursion
/// limit), and no stack file needs more than a handful of levels.
pub const MAX_DEPTH: usize = 64;

/// Where `text` first nests collections deeper than [`MAX_DEPTH`], if it
/// does. Reading stops there, so the time spent is linear in the text
/// read. A syntax error ends the check (serde_yaml reports it), except
/// yaml_rust2's own limit on flow nesting (255 levels, which its
/// look-ahead can reach before the parser has said a thing): that is too
/// deep too.
pub fn too_deep(text: &str) -> Option<Pos> {
    let mut parser = Parser::new_from_str(text);
    let mut depth = 0usize;
    loop {
        let (event, mark) = match parser.next_token() {
            Ok(next) => next,
            Err(e) if e.info() == "recursion limit exceeded" => {
                return Some(Pos::from_marker(e.marker()))
            }
            Err(_) => return None,
        };
        match event {
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Some(Pos::from_marker(&mark));
                }
            }
            Event::MappingEnd | Event::SequenceEnd => depth = depth.saturating_sub(1),
            Event::StreamEnd => return None,
            _ => {}
        }
    }
}

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

impl Pos {
    pub const START: Pos = Pos { line: 1, col: 1 };

    fn from_marker(m: &Marker) -> Pos {
        // yaml_rust2 0.13 markers: line is 1-based, col is 0-based
        // (checked by the `marker_bases` test below).
        Pos {
            line: m.line().max(1),
            col: m.col() + 1,
        }
    }
}

/// One step of a node path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A node path from the document root.
pub type NodePath = Vec<Seg>;

#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    key: Option<Pos>,
    value: Option<Pos>,
}

/// Positions of keys and values by node path.
#[derive(Debug, Default, Clone)]
pub struct Positions {
    map: HashMap<NodePath, Entry>,
    /// The first key that repeats one before it in the same mapping.
    duplicate: Option<Pos>,
}

impl Positions {
    /// Builds the table for the first document of `text`. A text that
    /// `yaml_rust2` rejects yields whatever was recorded before the error
    /// (possibly nothing); lookups then fall back as described above.
    pub fn build(text: &str) -> Positions {
        let mut rec = Recorder::default();
        let mut parser = Parser::new_from_str(text);
        // Errors are deliberately ignored: serde_yaml already accepted the
        // text, and a partial table is still useful.
        let _ = parser.load(&mut rec, false);
        Positions {
            map: rec.map,
            duplicate: rec.duplicate,
        }
    }

    /// Where the first key that repeats an earlier key of its mapping is
    /// (serde_yaml only names the mapping).
    pub fn first_duplicate_key(&self) -> Option<Pos> {
        self.duplicate
    }

    /// Where the value at `path` starts, or the closest known ancestor.
    pub fn value(&self, path: &[Seg]) -> Pos {
        self.lookup(path, false)
    }

    /// Where the key of the mapping entry at `path` starts; for sequence
    /// items and the root this is the value position.
    pub fn key(&self, path: &[Seg]) -> Pos {
        self.lookup(path, true)
    }

    fn lookup(&self, path: &[Seg], want_key: bool) -> Pos {
        let mut p = path;
        let mut first = true;
        loop {
            if let Some(e) = self.map.get(p) {
                let hit = if want_key && first {
                    e.key.or(e.value)
                } else {
                    e.value.or(e.key)
                };
                if let Some(pos) = hit {
                    return pos;
                }
            }
            first = false;
            match p.split_last() {
                Some((_, parent)) => p = parent,
                None => return Pos::START,
            }
        }
    }
}

enum Frame {
    Map {
        path: NodePath,
        /// The key of the entry being read; `None` while expecting a key.
        key: Option<Seg>,
    },
    Seq {
        path: NodePath,
        index: usize,
    },
}

#[derive(Default)]
struct Recorder {
    map: HashMap<NodePath, Entry>,
    stack: Vec<Frame>,
    done: bool,
    duplicate: Option<Pos>,
}

/// Placeholder key for non-scalar keys (`? [a, b]: x`), which kiln never
/// accepts; anything under it is recorded but never looked up.
const COMPLEX_KEY: &str = "\u{0}complex";

impl Recorder {
    /// Where the next node goes: `Ok(path)` for a value, `Err(path)` when the
    /// node is a mapping key (the path of the entry it names).
    fn slot(&self) -> Result<NodePath, NodePath> {
        match self.stack.last() {
            None => Ok(Vec::new()),
            Some(Frame::Seq { path, index }) => {
                let mut p = path.clone();
                p.push(Seg::Index(*index));
                Ok(p)
            }
            Some(Frame::Map { path, key: Some(k) }) => {
                let mut p = path.clone();
                p.push(k.clone());
                Ok(p)
            }
            Some(Frame::Map { path, key: None }) => Err(path.clone()),
        }
    }

    /// A complete node was consumed in the current parent.
    fn finish_node(&mut self) {
        match self.stack.last_mut() {
            Some(Frame::Seq { index, .. }) => *index += 1,
            Some(Frame::Map { key, .. }) => {
                // A finished value closes the entry; a finished complex key
                // is handled in `begin_collection`.
                *key = None;
            }
            None => self.done = true,
        }
    }

    fn begin_collection(&mut self, pos: Pos, is_map: bool) {
        let path = match self.slot() {
            Ok(p) => {
                self.map.entry(p.clone()).or_default().value = Some(pos);
                p
            }
            Err(parent) => {
                // Collection used as a key: give the entry a placeholder key
                // so the following value lands somewhere harmless.
                if let Some(Frame::Map { key, .. }) = self.stack.last_mut() {
                    *key = Some(Seg::Key(COMPLEX_KEY.to_string()));
                }
                let mut p = parent;
                p.push(Seg::Key(format!("{COMPLEX_KEY}-key")));
                p
            }
        };
        self.stack.push(if is_map {
            Frame::Map { path, key: None }
        } else {
            Frame::Seq { path, index: 0 }
        });
    }

    fn end_collection(&mut self) {
        let popped = self.stack.pop();
        let was_complex_key = match &popped {
            Some(Frame::Map { path, .. }) | Some(Frame::Seq { path, .. }) => matches!(
                path.last(),
                Some(Seg::Key(k)) if k.starts_with(COMPLEX_KEY) && k.ends_with("-key")
            ),
            None => false,
        };
        // A complex key leaves its parent waiting for the value, whose key
        // placeholder was already set.
        if !was_complex_key {
            self.finish_node();
        }
    }

    fn scalar(&mut self, text: String, pos: Pos) {
        match self.slot() {
            Ok(p) => {
                self.map.entry(p).or_default().value = Some(pos);
                self.finish_node();
            }
            Err(mut p) => {
                // yaml_rust2 marks a block mapping's start at the first
                // key's ':'; the first key itself is where a reader looks.
                if let Some(e) = self.map.get_mut(&p) {
                    if e.value.is_none_or(|v| pos < v) {
                        e.value = Some(pos);
                    }
                }
                p.push(Seg::Key(text.clone()));
                let entry = self.map.entry(p).or_default();
                if entry.key.is_some() && self.duplicate.is_none() {
                    self.duplicate = Some(pos);
                }
                entry.key = Some(pos);
                if let Some(Frame::Map { key, .. }) = self.stack.last_mut() {
                    *key = Some(Seg::Key(text));
                }
            }
        }
    }
}

impl MarkedEventReceiver for Recorder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.done {
            return;
        }
        let pos = Pos::from_marker(&mark);
        match ev {
            Event::Scalar(text, ..) => self.scalar(text, pos),
            // An alias's target has no positions of its own here; the alias
            // itself is recorded like a scalar so lookups land on `*x`.
            Event::Alias(_) => self.scalar(String::from("*alias"), pos),
            Event::MappingStart(..) => self.begin_collection(pos, true),
            Event::SequenceStart(..) => self.begin_collection(pos, false),
            Event::MappingEnd | Event::SequenceEnd => self.end_collection(),
            Event::DocumentEnd => self.done = true,
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentStart => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &str) -> Seg {
        Seg::Key(s.to_string())
    }

    #[test]
    fn depth_is_checked_without_reading_on() {
        let deep = format!("a: {}", "[".repeat(100_000));
        assert!(too_deep(&deep).is_some());
        let lines = format!("a:\n{}", " [\n".repeat(100_000));
        assert!(too_deep(&lines).is_some_and(|p| p.line > MAX_DEPTH));
        let ok = format!(
            "a: {}{}",
            "[".repeat(MAX_DEPTH - 1),
            "]".repeat(MAX_DEPTH - 1)
        );
        assert_eq!(too_deep(&ok), None);
        let block: String = (0..200)
            .map(|i| format!("{}- x:\n", " ".repeat(i * 2)))
            .collect();
        assert!(too_deep(&block).is_some());
        assert_eq!(too_deep("a: [\n"), None, "a syntax error is serde_yaml's");
    }

    #[test]
    fn marker_bases() {
        let p = Positions::build("a: 1\nbb:\n  - x\n  - {c: 2}\n");
        assert_eq!(p.key(&[k("a")]), Pos { line: 1, col: 1 });
        assert_eq!(p.value(&[k("a")]), Pos { line: 1, col: 4 });
        assert_eq!(p.key(&[k("bb")]), Pos { line: 2, col: 1 });
        assert_eq!(p.value(&[k("bb")]), Pos { line: 3, col: 3 });
        assert_eq!(p.value(&[k("bb"), Seg::Index(0)]), Pos { line: 3, col: 5 });
        assert_eq!(p.value(&[k("bb"), Seg::Index(1)]), Pos { line: 4, col: 5 });
        assert_eq!(
            p.key(&[k("bb"), Seg::Index(1), k("c")]),
            Pos { line: 4, col: 6 }
        );
        assert_eq!(
            p.value(&[k("bb"), Seg::Index(1), k("c")]),
            Pos { line: 4, col: 9 }
        );
    }

    #[test]
    fn unknown_paths_fall_back_to_ancestors() {
        let p = Positions::build("top:\n  inner: 1\n");
        assert_eq!(p.value(&[k("top")]), Pos { line: 2, col: 3 });
        assert_eq!(p.value(&[]), Pos { line: 1, col: 1 });
        assert_eq!(
            p.value(&[k("top"), k("nope"), Seg::Index(3)]),
            Pos { line: 2, col: 3 }
        );
        assert_eq!(p.key(&[k("missing")]), Pos::START);
    }

    #[test]
    fn complex_keys_and_aliases_do_not_confuse_siblings() {
        let text = "x: &a {p: 1}\n? [k1, k2]\n: v\ny: *a\nz: 3\n";
        let p = Positions::build(text);
        assert_eq!(p.key(&[k("y")]), Pos { line: 4, col: 1 });
        assert_eq!(p.value(&[k("y")]), Pos { line: 4, col: 4 });
        assert_eq!(p.value(&[k("y"), k("p")]), Pos { line: 4, col: 4 });
        assert_eq!(p.key(&[k("z")]), Pos { line: 5, col: 1 });
    }
}
