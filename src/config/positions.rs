//! Side table of source positions, built from `yaml_rust2`'s marked events.
//!
//! `serde_yaml` is the parser of record for values, but it can only tell the
//! position of the first syntax error. To report *every* problem as
//! `FILE:LINE:COL`, this file reads the text with `yaml_rust2`'s event
//! parser and records, for each node such as `images[2].contxt`, where its
//! key and its value start. The validator walks the `serde_yaml::Value`
//! with the same path and looks positions up here.
//!
//! It is also the first reader of the text: collections nested deeper than
//! [`MAX_DEPTH`] stop it at once, before serde_yaml (whose cost grows with
//! the depth at every token) sees them.
//!
//! The table is a tree of node ids: each node holds its positions, and one
//! map takes (parent, key or index) to a child. The first reading (with
//! the depth check) keeps only the nodes down to an image's fields
//! ([`SHALLOW`]), which is what a valid file's checks ask for; the first
//! question about anything deeper (a label, a tag: asked when something is
//! wrong with it) reads the whole table. So a file with a million labels
//! costs one pass and no table for them unless one of them is wrong.
//!
//! Nodes the table cannot know (values reached through an alias `*x`, keys
//! added by a `<<` merge, or anything if the two parsers ever disagree) fall
//! back to the nearest ancestor that has a position, so a message is never
//! lost, only less precise.

use std::cell::OnceCell;
use std::collections::HashMap;

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::Marker;

/// Collections nested deeper than this are refused before anything else
/// reads the file: a YAML parser's cost grows with the depth at every
/// token (100,000 nested `[` took 45 s to reach serde_yaml's recursion
/// limit), and no stack file needs more than a handful of levels.
pub const MAX_DEPTH: usize = 64;

/// Where `text` first nests collections deeper than [`MAX_DEPTH`], if it
/// does (see [`Positions::read`]).
pub fn too_deep(text: &str) -> Option<Pos> {
    Positions::read(text).err()
}

/// Paths up to this long (`images[2].context`) are kept by the first
/// reading; longer ones are read on demand.
const SHALLOW: usize = 3;

/// A node that is not recorded (deeper than the table keeps).
const SKIP: u32 = u32::MAX;

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

/// A position stored small: line and column, 0 for none.
#[derive(Debug, Clone, Copy, Default)]
struct At {
    line: u32,
    col: u32,
}

impl At {
    fn of(p: Pos) -> At {
        let small = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        At {
            line: small(p.line),
            col: small(p.col),
        }
    }

    fn get(self) -> Option<Pos> {
        (self.line > 0).then_some(Pos {
            line: self.line as usize,
            col: self.col as usize,
        })
    }
}

/// One node: where its key and its value start.
#[derive(Debug, Clone, Copy, Default)]
struct Node {
    key: At,
    value: At,
}

/// Node id of the document root.
const ROOT: u32 = 0;

/// Positions of keys and values by node path, in `text`.
#[derive(Debug, Clone)]
pub struct Positions<'t> {
    text: &'t str,
    /// The nodes down to [`SHALLOW`], from the first reading.
    shallow: Table,
    /// Every node, read when first asked for.
    full: OnceCell<Table>,
}

impl<'t> Positions<'t> {
    /// Builds the whole table for the first document of `text`. A text
    /// that `yaml_rust2` rejects yields whatever was recorded before the
    /// error (possibly nothing); lookups then fall back as described above.
    pub fn build(text: &'t str) -> Positions<'t> {
        let full = Table::read(text, usize::MAX).unwrap_or_default();
        Positions {
            text,
            shallow: full.clone(),
            full: OnceCell::from(full),
        }
    }

    /// Reads `text` once, keeping the shallow nodes, or says where it first
    /// nests collections deeper than [`MAX_DEPTH`]: reading stops there, so
    /// the time spent is linear in the text read. A syntax error ends the
    /// reading (serde_yaml reports it; the table keeps what came before),
    /// except yaml_rust2's own limit on flow nesting (255 levels, which its
    /// look-ahead can reach before the parser has said a thing): that is
    /// too deep too.
    pub fn read(text: &'t str) -> Result<Positions<'t>, Pos> {
        Ok(Positions {
            text,
            shallow: Table::read(text, SHALLOW)?,
            full: OnceCell::new(),
        })
    }

    /// Where the first key that repeats an earlier key of its mapping is
    /// (serde_yaml only names the mapping).
    pub fn first_duplicate_key(&self) -> Option<Pos> {
        self.table(usize::MAX).duplicate
    }

    /// Whether the document is a mapping with the key `name` at its top.
    pub fn has_top_key(&self, name: &str) -> bool {
        self.shallow
            .children
            .contains_key(&(ROOT, Seg::Key(name.to_string())))
    }

    /// Where the value at `path` starts, or the closest known ancestor.
    pub fn value(&self, path: &[Seg]) -> Pos {
        self.table(path.len()).lookup(path, false)
    }

    /// Where the key of the mapping entry at `path` starts; for sequence
    /// items and the root this is the value position.
    pub fn key(&self, path: &[Seg]) -> Pos {
        self.table(path.len()).lookup(path, true)
    }

    /// A table that knows paths `len` long.
    fn table(&self, len: usize) -> &Table {
        if len <= SHALLOW {
            return &self.shallow;
        }
        self.full
            .get_or_init(|| Table::read(self.text, usize::MAX).unwrap_or_default())
    }
}

/// Nodes and their children, down to some depth.
#[derive(Debug, Clone)]
struct Table {
    nodes: Vec<Node>,
    children: HashMap<(u32, Seg), u32>,
    /// The first key that repeats one before it in the same mapping.
    duplicate: Option<Pos>,
    /// Nodes whose paths are longer are not kept.
    keep: usize,
}

impl Default for Table {
    fn default() -> Self {
        Table {
            nodes: vec![Node::default()],
            children: HashMap::new(),
            duplicate: None,
            keep: usize::MAX,
        }
    }
}

impl Table {
    /// Read `text`, keeping nodes whose paths are at most `keep` long; Err:
    /// where it nests too deep (see [`Positions::read`]).
    fn read(text: &str, keep: usize) -> Result<Table, Pos> {
        let mut rec = Recorder {
            table: Table {
                keep,
                ..Table::default()
            },
            stack: Vec::new(),
            done: false,
        };
        let mut parser = Parser::new_from_str(text);
        while !rec.done {
            let (event, mark) = match parser.next_token() {
                Ok(next) => next,
                Err(e) if e.info() == "recursion limit exceeded" => {
                    return Err(Pos::from_marker(e.marker()))
                }
                Err(_) => break,
            };
            if matches!(event, Event::StreamEnd) {
                break;
            }
            rec.on_event(event, Pos::from_marker(&mark));
            if rec.stack.len() > MAX_DEPTH {
                return Err(Pos::from_marker(&mark));
            }
        }
        Ok(rec.table)
    }

    fn lookup(&self, path: &[Seg], want_key: bool) -> Pos {
        // The nodes along the path, as far as the table knows it.
        let mut known = vec![ROOT];
        for seg in path {
            let parent = known[known.len() - 1];
            match self.children.get(&(parent, seg.clone())) {
                Some(&child) => known.push(child),
                None => break,
            }
        }
        let whole = known.len() == path.len() + 1;
        for (i, &id) in known.iter().enumerate().rev() {
            let node = self.nodes[id as usize];
            let hit = if want_key && whole && i == known.len() - 1 {
                node.key.get().or(node.value.get())
            } else {
                node.value.get().or(node.key.get())
            };
            if let Some(pos) = hit {
                return pos;
            }
        }
        Pos::START
    }

    /// The node `seg` under `parent` (at `depth`), made when new; [`SKIP`]
    /// when it is deeper than the table keeps.
    fn child(&mut self, parent: u32, seg: Seg, depth: usize) -> u32 {
        if parent == SKIP || depth > self.keep {
            return SKIP;
        }
        let next = u32::try_from(self.nodes.len()).unwrap_or(u32::MAX);
        let id = *self.children.entry((parent, seg)).or_insert(next);
        if id == next {
            self.nodes.push(Node::default());
        }
        id
    }

    /// A node no path leads to (under a complex key).
    fn orphan(&mut self) -> u32 {
        SKIP
    }

    /// The node `id`, unless it is not kept.
    fn node(&mut self, id: u32) -> Option<&mut Node> {
        self.nodes.get_mut(id as usize)
    }
}

enum Frame {
    Map {
        node: u32,
        /// The node of the entry whose key was just read; `None` while
        /// expecting a key.
        entry: Option<u32>,
        /// This mapping is itself a key (`? {a: 1}: x`).
        complex_key: bool,
    },
    Seq {
        node: u32,
        index: usize,
        complex_key: bool,
    },
}

/// Where the next node goes.
enum Slot {
    /// The document's root value.
    Root,
    /// A value: this node.
    Value(u32),
    /// A key of this mapping.
    KeyOf(u32),
}

struct Recorder {
    table: Table,
    stack: Vec<Frame>,
    done: bool,
}

impl Recorder {
    fn slot(&mut self) -> Slot {
        let (parent, seg) = match self.stack.last() {
            None => return Slot::Root,
            Some(Frame::Seq { node, index, .. }) => (*node, Seg::Index(*index)),
            Some(Frame::Map {
                entry: Some(id), ..
            }) => return Slot::Value(*id),
            Some(Frame::Map {
                node, entry: None, ..
            }) => return Slot::KeyOf(*node),
        };
        let depth = self.stack.len();
        Slot::Value(self.table.child(parent, seg, depth))
    }

    /// A complete node was consumed in the current parent.
    fn finish_node(&mut self) {
        match self.stack.last_mut() {
            Some(Frame::Seq { index, .. }) => *index += 1,
            // A finished value closes the entry.
            Some(Frame::Map { entry, .. }) => *entry = None,
            None => self.done = true,
        }
    }

    fn begin_collection(&mut self, pos: Pos, is_map: bool) {
        let (node, complex_key) = match self.slot() {
            Slot::Root => (ROOT, false),
            Slot::Value(id) => (id, false),
            Slot::KeyOf(_) => {
                // A collection used as a key (kiln never accepts one): its
                // nodes and the value after it go where no lookup leads.
                let value = self.table.orphan();
                if let Some(Frame::Map { entry, .. }) = self.stack.last_mut() {
                    *entry = Some(value);
                }
                (self.table.orphan(), true)
            }
        };
        if let Some(n) = self.table.node(node) {
            n.value = At::of(pos);
        }
        self.stack.push(if is_map {
            Frame::Map {
                node,
                entry: None,
                complex_key,
            }
        } else {
            Frame::Seq {
                node,
                index: 0,
                complex_key,
            }
        });
    }

    fn end_collection(&mut self) {
        let was_complex_key = match self.stack.pop() {
            Some(Frame::Map { complex_key, .. }) | Some(Frame::Seq { complex_key, .. }) => {
                complex_key
            }
            None => false,
        };
        // A complex key leaves its parent waiting for the value.
        if !was_complex_key {
            self.finish_node();
        }
    }

    fn scalar(&mut self, text: String, pos: Pos) {
        match self.slot() {
            slot @ (Slot::Root | Slot::Value(_)) => {
                let id = match slot {
                    Slot::Value(id) => id,
                    _ => ROOT,
                };
                if let Some(n) = self.table.node(id) {
                    n.value = At::of(pos);
                }
                self.finish_node();
            }
            Slot::KeyOf(map) => {
                // yaml_rust2 marks a block mapping's start at the first
                // key's ':'; the first key itself is where a reader looks.
                if let Some(n) = self.table.node(map) {
                    if n.value.get().is_none_or(|v| pos < v) {
                        n.value = At::of(pos);
                    }
                }
                let depth = self.stack.len();
                let id = self.table.child(map, Seg::Key(text), depth);
                let mut repeated = false;
                if let Some(n) = self.table.node(id) {
                    repeated = n.key.get().is_some();
                    n.key = At::of(pos);
                }
                if repeated && self.table.duplicate.is_none() {
                    self.table.duplicate = Some(pos);
                }
                if let Some(Frame::Map { entry, .. }) = self.stack.last_mut() {
                    *entry = Some(id);
                }
            }
        }
    }

    fn on_event(&mut self, ev: Event, pos: Pos) {
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
    fn deep_positions_are_read_when_first_asked_for() {
        let text = "images:\n  - name: a\n    labels:\n      x: 1\n      y: [2, 3]\n";
        let p = Positions::read(text).unwrap();
        let full = Positions::build(text);
        let name = [k("images"), Seg::Index(0), k("name")];
        assert_eq!(p.value(&name), Pos { line: 2, col: 11 });
        assert!(
            p.full.get().is_none(),
            "an image's field is in the first reading"
        );
        let y = [
            k("images"),
            Seg::Index(0),
            k("labels"),
            k("y"),
            Seg::Index(1),
        ];
        assert_eq!(p.value(&y), Pos { line: 5, col: 14 });
        assert!(p.full.get().is_some(), "a label needs the whole table");
        for path in [&name[..], &y[..], &y[..4], &y[..3], &[k("nope")][..]] {
            assert_eq!(p.value(path), full.value(path), "{path:?}");
            assert_eq!(p.key(path), full.key(path), "{path:?}");
        }
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
