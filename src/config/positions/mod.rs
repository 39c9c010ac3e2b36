//! Side table of source positions, built from `yaml_rust2`'s marked events.
//!
//! `serde_yaml` is the parser of record for values, but it can only tell the
//! position of the first syntax error. To report *every* problem as
//! `FILE:LINE:COL`, this module reads the text with `yaml_rust2`'s event
//! parser and records, for each node such as `images[2].contxt`, where its
//! key and its value start (`record.rs`: the events made nodes). The
//! validator walks the `serde_yaml::Value` with the same path and looks
//! positions up here (this file: the lookups, through aliases and merge
//! keys, and the rereading with lines indented further).
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
//! A path through an alias (`web: *defaults`, then `web.image`) leads to
//! where the anchor's node was written, and a key a `<<` merge brings in
//! is found where the merged mapping has it (its own key first, then each
//! merged mapping in order, as `merge_keys.rs` resolves them): a problem in
//! shared defaults is reported once, where it is written. Nodes the table
//! cannot know (anything if the two parsers ever disagree) fall back to the
//! nearest ancestor that has a position, so a message is never lost, only
//! less precise.
//!
//! yaml_rust2 is stricter than serde_yaml (libyaml) and compose's go-yaml
//! about one thing real files do: a flow collection whose lines (often its
//! closing `]`) are indented no further than the key that holds it
//! (`command: [` … `]` under the key's column). Where yaml_rust2 stops at
//! such a line, the line is indented further for it and the text read
//! again, and the columns of that line are given back as written.

mod record;

use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::{BTreeMap, HashMap};

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

/// How many aliases and merge keys one step of a lookup follows (YAML
/// cannot nest them in a loop; this only bounds a malformed table).
const MAX_HOPS: usize = 32;

/// How many bytes may be read again while indenting lines further for
/// yaml_rust2 (see the module's doc): a few hundred reads of a typical
/// file, while a huge file with many such lines keeps the fallback.
const REREAD_BUDGET: usize = 32 << 20;

/// Lines indented further for yaml_rust2: 1-based line → spaces added.
type Pads = BTreeMap<usize, usize>;

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

    /// A marker of the padded text as a position in the text as written.
    fn unpadded(m: &Marker, pads: &Pads) -> Pos {
        let mut p = Pos::from_marker(m);
        if let Some(&pad) = pads.get(&p.line) {
            p.col = p.col.saturating_sub(pad).max(1);
        }
        p
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

/// One node: where its key and its value start, and for an alias the
/// node of its anchor.
#[derive(Debug, Clone, Copy, Default)]
struct Node {
    key: At,
    value: At,
    alias: Option<u32>,
}

/// Node id of the document root.
const ROOT: u32 = 0;

/// Positions of keys and values by node path, in `text`.
#[derive(Debug, Clone)]
pub struct Positions<'t> {
    text: &'t str,
    /// Lines the first reading indented further (see the module's doc).
    pads: Pads,
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
        let (full, pads) = Table::read_padded(text, usize::MAX).unwrap_or_default();
        Positions {
            text,
            pads,
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
        let (shallow, pads) = Table::read_padded(text, SHALLOW)?;
        Ok(Positions {
            text,
            pads,
            shallow,
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

    /// A table that knows paths `len` long (through an alias, a short
    /// path can lead anywhere).
    fn table(&self, len: usize) -> &Table {
        if len <= SHALLOW && !self.shallow.has_alias {
            return &self.shallow;
        }
        self.full.get_or_init(|| {
            Table::read(&padded(self.text, &self.pads), usize::MAX, &self.pads).unwrap_or_default()
        })
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
    /// Whether the text has an alias (then lookups use the whole table).
    has_alias: bool,
    /// Where yaml_rust2 stopped at a line indented too little for it.
    indent_error: Option<Pos>,
}

impl Default for Table {
    fn default() -> Self {
        Table {
            nodes: vec![Node::default()],
            children: HashMap::new(),
            duplicate: None,
            keep: usize::MAX,
            has_alias: false,
            indent_error: None,
        }
    }
}

/// `text` with each line in `pads` indented further.
fn padded<'a>(text: &'a str, pads: &Pads) -> Cow<'a, str> {
    if pads.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + pads.values().sum::<usize>());
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if let Some(&pad) = pads.get(&(i + 1)) {
            out.extend(std::iter::repeat_n(' ', pad));
        }
        out.push_str(line);
    }
    Cow::Owned(out)
}

/// Indents `line` of `text` (as padded so far) past every line before it,
/// so no block indentation can be deeper. False when it already was.
fn pad_line(text: &str, pads: &mut Pads, line: usize) -> bool {
    if pads.contains_key(&line) {
        return false;
    }
    let widest = text
        .split('\n')
        .take(line.saturating_sub(1))
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(0);
    pads.insert(line, widest + 1);
    true
}

impl Table {
    /// [`Table::read`], indenting lines further where yaml_rust2 wants them
    /// to be (see the module's doc), within [`REREAD_BUDGET`].
    fn read_padded(text: &str, keep: usize) -> Result<(Table, Pads), Pos> {
        let mut pads = Pads::new();
        let mut spent = 0;
        loop {
            let now = padded(text, &pads);
            let table = Table::read(&now, keep, &pads)?;
            spent += now.len();
            let Some(at) = table.indent_error else {
                return Ok((table, pads));
            };
            if spent > REREAD_BUDGET || !pad_line(&now, &mut pads, at.line) {
                return Ok((table, pads));
            }
        }
    }

    fn lookup(&self, path: &[Seg], want_key: bool) -> Pos {
        // The nodes along the path, as far as the table knows it.
        let mut known = vec![ROOT];
        for seg in path {
            let parent = self.through_aliases(known[known.len() - 1]);
            match self.find(parent, seg, 0) {
                Some(child) => known.push(child),
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

    /// The node an alias stands for (itself if it is none).
    fn through_aliases(&self, mut id: u32) -> u32 {
        for _ in 0..MAX_HOPS {
            match self.nodes.get(id as usize).and_then(|n| n.alias) {
                Some(target) if target != SKIP => id = target,
                _ => break,
            }
        }
        id
    }

    /// The child `seg` of mapping `parent`: its own, else one a `<<` merge
    /// brings in (of a list of merged mappings, the first that has it).
    fn find(&self, parent: u32, seg: &Seg, hops: usize) -> Option<u32> {
        if let Some(&child) = self.children.get(&(parent, seg.clone())) {
            return Some(child);
        }
        if hops > MAX_HOPS || !matches!(seg, Seg::Key(_)) {
            return None;
        }
        let merged = *self.children.get(&(parent, Seg::Key("<<".to_string())))?;
        let merged = self.through_aliases(merged);
        if let Some(child) = self.find(merged, seg, hops + 1) {
            return Some(child);
        }
        (0..)
            .map_while(|i| self.children.get(&(merged, Seg::Index(i))))
            .find_map(|&item| self.find(self.through_aliases(item), seg, hops + 1))
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
    fn merged_keys_are_found_where_they_are_written() {
        let text = "x-a: &a\n  restart: always\nx-d: &d\n  <<: *a\n  image: nginx\nservices:\n  web:\n    <<: [*d, {extra: 1}]\n    image: own\n";
        let p = Positions::build(text);
        let web = [k("services"), k("web")];
        let at = |key: &str| {
            let mut path = web.to_vec();
            path.push(k(key));
            (p.key(&path), p.value(&path))
        };
        // Its own key, a key of the first merged mapping, one that mapping
        // merged from another anchor, and one of the second merged mapping.
        assert_eq!(
            at("image"),
            (Pos { line: 9, col: 5 }, Pos { line: 9, col: 12 })
        );
        assert_eq!(at("restart").0, Pos { line: 2, col: 3 });
        assert_eq!(at("extra").0, Pos { line: 8, col: 15 });
        let read = Positions::read(text).unwrap();
        assert_eq!(
            read.key(&[k("services"), k("web"), k("restart")]),
            at("restart").0
        );
    }

    #[test]
    fn flow_collections_indented_like_their_key_keep_later_positions() {
        let text =
            "services:\n  a:\n    command: [\n    \"true\",\n    x\n    ]\n  b:\n    bogus: 1\n";
        for p in [Positions::build(text), Positions::read(text).unwrap()] {
            assert_eq!(
                p.key(&[k("services"), k("b"), k("bogus")]),
                Pos { line: 8, col: 5 }
            );
            let item = [k("services"), k("a"), k("command"), Seg::Index(1)];
            assert_eq!(p.value(&item), Pos { line: 5, col: 5 });
            assert!(!p.pads.is_empty());
        }
        // A file yaml_rust2 reads as it is is read once, unpadded.
        assert!(Positions::build("a: [\n  1\n  ]\n").pads.is_empty());
    }

    #[test]
    fn complex_keys_and_aliases_do_not_confuse_siblings() {
        let text = "x: &a {p: 1}\n? [k1, k2]\n: v\ny: *a\nz: 3\n";
        let p = Positions::build(text);
        assert_eq!(p.key(&[k("y")]), Pos { line: 4, col: 1 });
        assert_eq!(p.value(&[k("y")]), Pos { line: 4, col: 4 });
        // Under an alias: where the anchor's node has it.
        assert_eq!(p.value(&[k("y"), k("p")]), Pos { line: 1, col: 11 });
        assert_eq!(p.key(&[k("z")]), Pos { line: 5, col: 1 });
    }
}
