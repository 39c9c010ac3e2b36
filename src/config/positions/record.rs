//! Reading the text into the table: `yaml_rust2`'s marked events, one at
//! a time, made nodes (where each key and value starts, what each alias
//! and anchor stands for) under their parents, down to the depth the
//! table keeps; the depth check that stops the reading.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, Parser};

use super::{At, Node, Pads, Pos, Seg, Table, MAX_DEPTH, ROOT, SKIP};

impl Table {
    /// Read `text` (indented as `pads` says), keeping nodes whose paths are
    /// at most `keep` long; Err: where it nests too deep (see
    /// [`Positions::read`](super::Positions::read)).
    pub(super) fn read(text: &str, keep: usize, pads: &Pads) -> Result<Table, Pos> {
        let mut rec = Recorder {
            table: Table {
                keep,
                ..Table::default()
            },
            stack: Vec::new(),
            anchors: HashMap::new(),
            done: false,
        };
        let mut parser = Parser::new_from_str(text);
        while !rec.done {
            let (event, mark) = match parser.next_token() {
                Ok(next) => next,
                Err(e) if e.info() == "recursion limit exceeded" => {
                    return Err(Pos::unpadded(e.marker(), pads))
                }
                Err(e) => {
                    if matches!(
                        e.info(),
                        "invalid indentation" | "invalid indentation in flow construct"
                    ) {
                        rec.table.indent_error = Some(Pos::from_marker(e.marker()));
                    }
                    break;
                }
            };
            if matches!(event, Event::StreamEnd) {
                break;
            }
            rec.on_event(event, Pos::unpadded(&mark, pads));
            if rec.stack.len() > MAX_DEPTH {
                return Err(Pos::unpadded(&mark, pads));
            }
        }
        Ok(rec.table)
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
    /// yaml_rust2's anchor ids → the nodes they name.
    anchors: HashMap<usize, u32>,
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

    /// Starts a mapping or sequence; its node.
    fn begin_collection(&mut self, pos: Pos, is_map: bool) -> u32 {
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
        node
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

    /// A scalar; its node when it is a value (not a key).
    fn scalar(&mut self, text: String, pos: Pos) -> Option<u32> {
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
                Some(id)
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
                None
            }
        }
    }

    /// Anchor `anchor` (0: none) names node `id`.
    fn name_anchor(&mut self, anchor: usize, id: u32) {
        if anchor != 0 && id != SKIP {
            self.anchors.insert(anchor, id);
        }
    }

    fn on_event(&mut self, ev: Event, pos: Pos) {
        match ev {
            Event::Scalar(text, _, anchor, _) => {
                if let Some(id) = self.scalar(text, pos) {
                    self.name_anchor(anchor, id);
                }
            }
            // An alias is recorded like a scalar, so the alias itself is
            // where its value is; what is under it is found at its anchor.
            Event::Alias(anchor) => {
                self.table.has_alias = true;
                let target = self.anchors.get(&anchor).copied();
                if let Some(id) = self.scalar(String::from("*alias"), pos) {
                    if let Some(n) = self.table.node(id) {
                        n.alias = target;
                    }
                }
            }
            Event::MappingStart(anchor, _) => {
                let id = self.begin_collection(pos, true);
                self.name_anchor(anchor, id);
            }
            Event::SequenceStart(anchor, _) => {
                let id = self.begin_collection(pos, false);
                self.name_anchor(anchor, id);
            }
            Event::MappingEnd | Event::SequenceEnd => self.end_collection(),
            Event::DocumentEnd => self.done = true,
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentStart => {}
        }
    }
}
