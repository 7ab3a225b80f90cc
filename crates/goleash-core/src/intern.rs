//! Interning of the strings, frames, stacks and label sets of a capture.
//!
//! A dump of a million goroutines usually holds a few dozen distinct stacks,
//! so everything that repeats is stored once and referred to by a `u32` id.
//! Identity is a 128-bit xxh3 fingerprint of the bytes: comparing the bytes
//! again on every hit would cost as much as hashing them, and a collision of
//! two 128-bit fingerprints is not a risk worth paying for.

use rustc_hash::FxHashMap;
use xxhash_rust::xxh3::xxh3_128;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub(crate) u32);

        impl $name {
            /// The index of this id in its table.
            pub fn index(self) -> usize {
                self.0 as usize
            }
        }
    };
}

id_type!(
    /// An interned byte string (function name, file path, wait reason, label key or value).
    Sym
);
id_type!(
    /// An interned [`Frame`].
    FrameId
);
id_type!(
    /// An interned sequence of frames, innermost first.
    StackId
);
id_type!(
    /// An interned, sorted set of pprof labels. [`LabelSetId::EMPTY`] is the empty set.
    LabelSetId
);

impl LabelSetId {
    /// The empty label set, present in every table.
    pub const EMPTY: LabelSetId = LabelSetId(0);
}

impl Default for LabelSetId {
    fn default() -> Self {
        LabelSetId::EMPTY
    }
}

/// One call site: a function and the position in it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Frame {
    /// The function as Go prints it: `net/http.(*Server).Serve`, `main.main.func1`, `main.Drain[...]`.
    pub function: Sym,
    /// The source file; empty when the format has none (C frames, unsymbolized PCs).
    pub file: Sym,
    /// The line in `file`; 0 when unknown.
    pub line: u32,
    /// The `+0x…` offset from the function's entry, when the format prints it.
    pub offset: Option<u32>,
    /// The call was inlined into its caller: `(...)` in a traceback, an inner `line` of a
    /// profile location.
    pub inlined: bool,
}

/// The interned data of one capture. Ids from one `Tables` mean nothing in another:
/// compare across captures through [`crate::Signature`]s or resolved strings.
#[derive(Debug)]
pub struct Tables {
    bytes: Vec<u8>,
    sym_spans: Vec<(u32, u32)>,
    sym_map: FxHashMap<u128, Sym>,
    frames: Vec<Frame>,
    frame_map: FxHashMap<Frame, FrameId>,
    /// Frames keyed by the fingerprint of their raw text, so the traceback parser can skip
    /// parsing lines it has seen before.
    frame_text_map: FxHashMap<u128, FrameId>,
    stack_frames: Vec<FrameId>,
    stack_spans: Vec<(u32, u32)>,
    stack_map: FxHashMap<u64, StackId>,
    label_pairs: Vec<(Sym, Sym)>,
    label_spans: Vec<(u32, u32)>,
    label_map: FxHashMap<u64, LabelSetId>,
}

impl Default for Tables {
    fn default() -> Self {
        let mut tables = Tables {
            bytes: Vec::new(),
            sym_spans: Vec::new(),
            sym_map: FxHashMap::default(),
            frames: Vec::new(),
            frame_map: FxHashMap::default(),
            frame_text_map: FxHashMap::default(),
            stack_frames: Vec::new(),
            stack_spans: Vec::new(),
            stack_map: FxHashMap::default(),
            label_pairs: Vec::new(),
            label_spans: Vec::new(),
            label_map: FxHashMap::default(),
        };
        let empty = tables.labels(&mut Vec::new());
        debug_assert_eq!(empty, LabelSetId::EMPTY);
        tables
    }
}

/// A quick hash of a sequence of ids. It only picks a slot: the ids are compared on every
/// hit, and a collision moves on to the next slot.
fn hash_ids(ids: impl Iterator<Item = u32>) -> u64 {
    use std::hash::Hasher;
    let mut hasher = rustc_hash::FxHasher::default();
    for id in ids {
        hasher.write_u32(id);
    }
    hasher.finish()
}

/// The slot after `hash` when it is taken by something else.
fn next_slot(hash: u64) -> u64 {
    hash.wrapping_add(0x9e37_79b9_7f4a_7c15)
}

impl Tables {
    /// An empty set of tables.
    pub fn new() -> Self {
        Self::default()
    }

    /// Interns a byte string.
    pub fn sym(&mut self, text: &[u8]) -> Sym {
        let fingerprint = xxh3_128(text);
        if let Some(&sym) = self.sym_map.get(&fingerprint) {
            return sym;
        }
        let sym = Sym(self.sym_spans.len() as u32);
        self.sym_spans
            .push((self.bytes.len() as u32, text.len() as u32));
        self.bytes.extend_from_slice(text);
        self.sym_map.insert(fingerprint, sym);
        sym
    }

    /// The bytes of an interned string.
    pub fn bytes(&self, sym: Sym) -> &[u8] {
        let (start, len) = self.sym_spans[sym.index()];
        &self.bytes[start as usize..(start + len) as usize]
    }

    /// An interned string as text; bytes that are not UTF-8 are replaced.
    pub fn str(&self, sym: Sym) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(self.bytes(sym))
    }

    /// Interns a frame.
    pub fn frame(&mut self, frame: Frame) -> FrameId {
        if let Some(&id) = self.frame_map.get(&frame) {
            return id;
        }
        let id = FrameId(self.frames.len() as u32);
        self.frames.push(frame.clone());
        self.frame_map.insert(frame, id);
        id
    }

    /// The frame previously interned under the fingerprint of its raw text, if any.
    pub(crate) fn frame_by_text(&self, fingerprint: u128) -> Option<FrameId> {
        self.frame_text_map.get(&fingerprint).copied()
    }

    /// Remembers that raw text with this fingerprint parses to `id`.
    pub(crate) fn remember_frame_text(&mut self, fingerprint: u128, id: FrameId) {
        self.frame_text_map.insert(fingerprint, id);
    }

    /// An interned frame.
    pub fn get_frame(&self, id: FrameId) -> &Frame {
        &self.frames[id.index()]
    }

    /// Interns a stack (frames innermost first).
    pub fn stack(&mut self, frames: &[FrameId]) -> StackId {
        let mut slot = hash_ids(frames.iter().map(|f| f.0));
        while let Some(&id) = self.stack_map.get(&slot) {
            if self.frames(id) == frames {
                return id;
            }
            slot = next_slot(slot);
        }
        let id = StackId(self.stack_spans.len() as u32);
        self.stack_spans
            .push((self.stack_frames.len() as u32, frames.len() as u32));
        self.stack_frames.extend_from_slice(frames);
        self.stack_map.insert(slot, id);
        id
    }

    /// The frames of an interned stack, innermost first.
    pub fn frames(&self, stack: StackId) -> &[FrameId] {
        let (start, len) = self.stack_spans[stack.index()];
        &self.stack_frames[start as usize..(start + len) as usize]
    }

    /// Interns a label set. `pairs` is sorted and deduplicated in place, because Go
    /// prints labels in different orders in different formats.
    pub fn labels(&mut self, pairs: &mut Vec<(Sym, Sym)>) -> LabelSetId {
        pairs.sort_by(|a, b| self.bytes(a.0).cmp(self.bytes(b.0)).then(a.1.cmp(&b.1)));
        pairs.dedup();
        let mut slot = hash_ids(pairs.iter().flat_map(|(k, v)| [k.0, v.0]));
        while let Some(&id) = self.label_map.get(&slot) {
            if self.label_pairs(id) == pairs.as_slice() {
                return id;
            }
            slot = next_slot(slot);
        }
        let id = LabelSetId(self.label_spans.len() as u32);
        self.label_spans
            .push((self.label_pairs.len() as u32, pairs.len() as u32));
        self.label_pairs.extend_from_slice(pairs);
        self.label_map.insert(slot, id);
        id
    }

    /// The `(key, value)` pairs of a label set, sorted by key.
    pub fn label_pairs(&self, set: LabelSetId) -> &[(Sym, Sym)] {
        let (start, len) = self.label_spans[set.index()];
        &self.label_pairs[start as usize..(start + len) as usize]
    }

    /// How many distinct stacks have been interned.
    pub fn stack_count(&self) -> usize {
        self.stack_spans.len()
    }

    /// Bytes held by the tables, to keep memory use observable.
    pub fn heap_bytes(&self) -> usize {
        self.bytes.capacity()
            + self.sym_spans.capacity() * 8
            + self.sym_map.capacity() * 24
            + self.frames.capacity() * std::mem::size_of::<Frame>()
            + self.frame_map.capacity() * (std::mem::size_of::<Frame>() + 4)
            + self.frame_text_map.capacity() * 24
            + self.stack_frames.capacity() * 4
            + self.stack_spans.capacity() * 8
            + self.stack_map.capacity() * 24
            + self.label_pairs.capacity() * 8
            + self.label_spans.capacity() * 8
            + self.label_map.capacity() * 24
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_returns_the_same_id_for_the_same_content() {
        let mut t = Tables::new();
        let a = t.sym(b"main.main");
        let b = t.sym(b"main.worker");
        assert_ne!(a, b);
        assert_eq!(t.sym(b"main.main"), a);
        assert_eq!(t.bytes(b), b"main.worker");

        let file = t.sym(b"/src/main.go");
        let f1 = t.frame(Frame {
            function: a,
            file,
            line: 10,
            offset: Some(0x1d),
            inlined: false,
        });
        let f2 = t.frame(Frame {
            function: b,
            file,
            line: 20,
            offset: None,
            inlined: true,
        });
        assert_eq!(t.frame(t.get_frame(f1).clone()), f1);
        let s = t.stack(&[f2, f1]);
        assert_eq!(t.stack(&[f2, f1]), s);
        assert_ne!(t.stack(&[f1, f2]), s);
        assert_eq!(t.frames(s), &[f2, f1]);
    }

    #[test]
    fn label_sets_ignore_order() {
        let mut t = Tables::new();
        let (k1, v1, k2, v2) = (
            t.sym(b"shard"),
            t.sym(b"7"),
            t.sym(b"component"),
            t.sym(b"consumer"),
        );
        let a = t.labels(&mut vec![(k1, v1), (k2, v2)]);
        let b = t.labels(&mut vec![(k2, v2), (k1, v1)]);
        assert_eq!(a, b);
        assert_ne!(a, LabelSetId::EMPTY);
        assert_eq!(t.label_pairs(a), &[(k2, v2), (k1, v1)]);
        assert_eq!(t.labels(&mut Vec::new()), LabelSetId::EMPTY);
    }
}
