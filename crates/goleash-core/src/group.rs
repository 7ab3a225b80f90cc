//! Grouping: goroutines with the same stack collapse into one [`Group`].
//!
//! [`Grouper`] is a [`Sink`]: it folds records into groups as the parser hands them over,
//! in O(1) per goroutine (one hash lookup), so a dump is never held in memory. What it keeps
//! per goroutine is one 12-byte row (id, parent id, group) for the spawn tree; everything
//! else is per group.

use std::io::{self, Write};

use rustc_hash::FxHashMap;
use xxhash_rust::xxh3::Xxh3;

use crate::intern::{FrameId, LabelSetId, StackId, Sym, Tables};
use crate::model::{
    Ancestor, Blocking, Cause, DumpInfo, Elision, Format, FrameRegs, Profile, RaceReport, Record,
    ThreadInfo, Warning,
};
use crate::parse::Sink;
use crate::signature::{Signature, creator_hash, signature};

/// How alike two stacks must be to share a group (panicparse's similarity levels).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Similarity {
    /// Same frames, same argument values and the same `locked to thread` flag.
    Exact,
    /// Same frames and the same non-pointer argument values; pointers (any value above
    /// 0xffff) may differ.
    AnyPointer,
    /// Same frames; arguments are ignored. The default: leaks are about where goroutines
    /// wait, not what they hold.
    #[default]
    AnyValue,
}

/// How to group.
#[derive(Clone, Debug)]
pub struct GroupOptions {
    /// How alike stacks must be. Default [`Similarity::AnyValue`].
    pub similarity: Similarity,
    /// Goroutines started by different `go` statements stay apart even with the same stack.
    /// Default true; formats without `created by` are unaffected.
    pub split_by_creator: bool,
    /// Goroutines with different pprof labels stay apart (what debug=1 does). Default false:
    /// labels are listed per group instead.
    pub split_by_labels: bool,
    /// How many goroutine ids each group lists. Default 16.
    pub ids_per_group: usize,
    /// How many distinct label sets each group counts before lumping the rest. Default 32.
    pub label_sets_per_group: usize,
}

impl Default for GroupOptions {
    fn default() -> Self {
        GroupOptions {
            similarity: Similarity::AnyValue,
            split_by_creator: true,
            split_by_labels: false,
            ids_per_group: 16,
            label_sets_per_group: 32,
        }
    }
}

/// Goroutines that share a stack.
#[derive(Clone, Debug)]
pub struct Group {
    /// The stack's identity across formats and processes.
    pub signature: Signature,
    /// The stack as the first goroutine of the group printed it.
    pub stack: StackId,
    /// How many goroutines.
    pub count: u64,
    /// Wait reasons seen, most frequent first; `None` where the format has no state.
    pub states: Vec<(Option<Sym>, u64)>,
    /// The operations the goroutines were said to wait for ([`crate::model::State::blocking`]),
    /// most frequent first; `None` for goroutines whose input did not say (every
    /// goroutine of a dump).
    pub blockings: Vec<(Option<Blocking>, u64)>,
    /// Goroutines the runtime marked `(leaked)` (or listed in a goroutineleak profile).
    pub leaked: u64,
    /// Goroutines `locked to thread`.
    pub locked_to_thread: u64,
    /// Goroutines `(durable)` in a synctest bubble.
    pub durable: u64,
    /// Smallest and largest `N minutes` seen, when any goroutine had one.
    pub wait_minutes: Option<(u32, u32)>,
    /// Goroutines that had no `N minutes` although the format can print it.
    pub without_wait_minutes: u64,
    /// Label sets seen and how many goroutines carried each, most frequent first.
    pub labels: Vec<(LabelSetId, u64)>,
    /// Goroutines whose label set was not counted because the group already had too many.
    pub labels_other: u64,
    /// Synctest bubbles seen.
    pub synctest_bubbles: Vec<u64>,
    /// `created by`: the function and line of the `go` statement, when the format has it.
    pub created_by: Option<FrameId>,
    /// The parent goroutine id, when every goroutine of the group has the same one.
    pub parent: Option<u64>,
    /// Where the parents of these goroutines are: in which group, or gone.
    pub parents: Vec<(ParentRef, u64)>,
    /// How many runs of goroutines with the same parent the dump listed for this group: a
    /// pool started by one goroutine is one run (the runtime lists goroutines roughly in
    /// creation order), one goroutine per request is as many runs as goroutines. 0 when
    /// the format has no parent ids.
    pub parent_runs: u64,
    last_parent: Option<u64>,
    /// Some goroutine ids of the group, ascending (at most `ids_per_group`).
    pub ids: Vec<u64>,
    /// The first goroutine of the group, with the facts that are not shared.
    pub example: Example,
    /// A goroutine of the group was cut short.
    pub truncated: bool,
}

impl Group {
    /// The most frequent wait reason.
    pub fn state(&self) -> Option<Sym> {
        self.states.first().and_then(|&(s, _)| s)
    }

    /// The operation most of the goroutines were said to wait for, if the input said.
    pub fn blocking(&self) -> Option<Blocking> {
        self.blockings.first().and_then(|&(b, _)| b)
    }

    /// Whether the runtime proved every goroutine of the group leaked.
    pub fn proven(&self) -> bool {
        self.leaked > 0 && self.leaked == self.count
    }
}

/// Where a goroutine's parent is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ParentRef {
    /// Alive, in the group with this index in [`Snapshot::groups`].
    Group(usize),
    /// Named by `in goroutine N` but not in the dump: it exited.
    Exited,
}

/// What the first goroutine of a group printed that others may print differently.
#[derive(Clone, Debug, Default)]
pub struct Example {
    /// Its id.
    pub id: Option<u64>,
    /// Raw arguments of each frame.
    pub args: Vec<Box<[u8]>>,
    /// `fp= sp= pc=` of each frame (level-2 dumps).
    pub regs: Vec<Option<FrameRegs>>,
    /// Program counters (aggregated profiles).
    pub pcs: Vec<u64>,
    /// `gp= m= mp=`.
    pub thread: Option<ThreadInfo>,
    /// Elided frames.
    pub elided: Option<Elision>,
    /// Ancestor sections.
    pub ancestors: Vec<Ancestor>,
    /// `stack unavailable`.
    pub stack_unavailable: bool,
    /// Line of the goroutine in the input.
    pub line: u64,
}

/// One dump, grouped.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// What the dump is.
    pub info: DumpInfo,
    /// Goroutines in the dump: the sum of the group counts.
    pub total: u64,
    /// Groups, largest first.
    pub groups: Vec<Group>,
    /// The dump was cut short somewhere.
    pub truncated: bool,
    /// Every goroutine's id, parent and group (traceback dumps only).
    pub goroutines: GoroutineIndex,
}

impl Snapshot {
    /// Whether the format carries goroutine states.
    pub fn has_states(&self) -> bool {
        self.info.format == crate::model::Format::Traceback
    }
}

/// Id → group and parent, for every goroutine of a traceback dump, sorted by id.
#[derive(Clone, Debug, Default)]
pub struct GoroutineIndex {
    narrow: Vec<Row<u32>>,
    wide: Vec<Row<u64>>,
}

#[derive(Clone, Copy, Debug)]
struct Row<T> {
    id: T,
    parent: T,
    group: u32,
}

const NO_PARENT: u64 = u64::MAX;

impl GoroutineIndex {
    fn push(&mut self, id: u64, parent: Option<u64>, group: u32) {
        let parent = parent.unwrap_or(NO_PARENT);
        // Ids fit in 32 bits in all but the longest-running processes; keep rows small until
        // one does not.
        let fits =
            id < u64::from(u32::MAX) && (parent == NO_PARENT || parent < u64::from(u32::MAX));
        if fits && self.wide.is_empty() {
            let parent = if parent == NO_PARENT {
                u32::MAX
            } else {
                parent as u32
            };
            self.narrow.push(Row {
                id: id as u32,
                parent,
                group,
            });
            return;
        }
        if !self.narrow.is_empty() {
            self.wide.extend(self.narrow.drain(..).map(|r| Row {
                id: u64::from(r.id),
                parent: if r.parent == u32::MAX {
                    NO_PARENT
                } else {
                    u64::from(r.parent)
                },
                group: r.group,
            }));
            self.narrow.shrink_to_fit();
        }
        self.wide.push(Row { id, parent, group });
    }

    fn rows(&self) -> Box<dyn Iterator<Item = (u64, Option<u64>, u32)> + '_> {
        if self.wide.is_empty() {
            Box::new(self.narrow.iter().map(|r| {
                (
                    u64::from(r.id),
                    (r.parent != u32::MAX).then_some(u64::from(r.parent)),
                    r.group,
                )
            }))
        } else {
            Box::new(
                self.wide
                    .iter()
                    .map(|r| (r.id, (r.parent != NO_PARENT).then_some(r.parent), r.group)),
            )
        }
    }

    fn sort(&mut self) {
        radix_sort(&mut self.narrow, 24);
        self.wide.sort_unstable_by_key(|r| r.id);
    }

    fn remap_groups(&mut self, new_index: &[u32]) {
        for r in &mut self.narrow {
            r.group = new_index[r.group as usize];
        }
        for r in &mut self.wide {
            r.group = new_index[r.group as usize];
        }
    }

    /// How many goroutines are indexed.
    pub fn len(&self) -> usize {
        self.narrow.len() + self.wide.len()
    }

    /// Whether no goroutine is indexed (aggregated formats).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every goroutine: its id, its parent's id when the dump named one, and its group
    /// index, by ascending id.
    pub fn iter(&self) -> impl Iterator<Item = (u64, Option<u64>, usize)> + '_ {
        self.rows()
            .map(|(id, parent, group)| (id, parent, group as usize))
    }

    /// The group index and parent id of goroutine `id`.
    pub fn get(&self, id: u64) -> Option<(usize, Option<u64>)> {
        if self.wide.is_empty() {
            let id = u32::try_from(id).ok()?;
            let i = self.narrow.binary_search_by_key(&id, |r| r.id).ok()?;
            let r = self.narrow[i];
            Some((
                r.group as usize,
                (r.parent != u32::MAX).then_some(u64::from(r.parent)),
            ))
        } else {
            let i = self.wide.binary_search_by_key(&id, |r| r.id).ok()?;
            let r = self.wide[i];
            Some((
                r.group as usize,
                (r.parent != NO_PARENT).then_some(r.parent),
            ))
        }
    }

    /// Bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.narrow.capacity() * std::mem::size_of::<Row<u32>>()
            + self.wide.capacity() * std::mem::size_of::<Row<u64>>()
    }
}

/// Sorts rows by id in place, one byte of the id at a time from the top (American flag
/// sort): a few passes over the rows and no extra memory, where a comparison sort costs
/// hundreds of instructions per goroutine of a large dump.
fn radix_sort(rows: &mut [Row<u32>], shift: u32) {
    if rows.len() <= 32 {
        rows.sort_unstable_by_key(|r| r.id);
        return;
    }
    let digit = |r: &Row<u32>| ((r.id >> shift) & 0xff) as usize;
    let mut ends = [0usize; 256];
    for r in rows.iter() {
        ends[digit(r)] += 1;
    }
    let mut starts = [0usize; 256];
    let mut sum = 0;
    for b in 0..256 {
        starts[b] = sum;
        sum += ends[b];
        ends[b] = sum;
    }
    let mut next = starts;
    for b in 0..256 {
        while next[b] < ends[b] {
            let d = digit(&rows[next[b]]);
            if d == b {
                next[b] += 1;
            } else {
                rows.swap(next[b], next[d]);
                next[d] += 1;
            }
        }
    }
    if shift > 0 {
        for b in 0..256 {
            if ends[b] - starts[b] > 1 {
                radix_sort(&mut rows[starts[b]..ends[b]], shift - 8);
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct GroupKey {
    signature: Signature,
    creator: u64,
    labels: LabelSetId,
    args: u64,
    /// The runtime's `(leaked)` proof is about each goroutine: a group that mixed proven and
    /// unproven ones would call healthy goroutines leaked.
    proven: bool,
}

struct Building {
    info: DumpInfo,
    groups: Vec<Group>,
    index: FxHashMap<GroupKey, u32>,
    goroutines: GoroutineIndex,
    total: u64,
}

/// Everything read from one input.
#[derive(Debug, Default)]
pub struct Capture {
    /// The interned strings, frames and stacks the snapshots refer to.
    pub tables: Tables,
    /// One snapshot per dump, in input order.
    pub snapshots: Vec<Snapshot>,
    /// Race reports, in input order.
    pub races: Vec<RaceReport>,
    /// What was wrong with the input but did not stop the parse.
    pub warnings: Vec<Warning>,
}

/// A [`Sink`] that groups each dump into a [`Snapshot`].
pub struct Grouper<'p> {
    options: GroupOptions,
    done: Vec<Snapshot>,
    current: Option<Building>,
    races: Vec<RaceReport>,
    warnings: Vec<Warning>,
    signatures: Vec<Option<Signature>>,
    creators: FxHashMap<FrameId, u64>,
    passthrough: Option<crate::Passthrough<'p>>,
}

impl<'p> Grouper<'p> {
    /// A grouper; `passthrough` receives the lines of the input that are not part of a dump,
    /// and the first error writing them stops the parse (see [`Sink`]).
    pub fn new(options: GroupOptions, passthrough: Option<crate::Passthrough<'p>>) -> Self {
        Grouper {
            options,
            done: Vec::new(),
            current: None,
            races: Vec::new(),
            warnings: Vec::new(),
            signatures: Vec::new(),
            creators: FxHashMap::default(),
            passthrough,
        }
    }

    /// The snapshots, races and warnings read so far.
    pub fn finish(mut self, tables: Tables) -> Capture {
        self.close(false);
        Capture {
            tables,
            snapshots: self.done,
            races: self.races,
            warnings: self.warnings,
        }
    }

    /// Groups goroutines that no dump printed as they stand (the leftovers of a test, from
    /// an execution trace or picked out of a crash's dump): each batch of records becomes
    /// one snapshot, grouped as a traceback of just those goroutines would be, with no
    /// cause.
    pub fn group_records<'r, B>(
        options: GroupOptions,
        mut tables: Tables,
        batches: impl IntoIterator<Item = B>,
    ) -> Capture
    where
        B: IntoIterator<Item = &'r Record>,
    {
        let mut grouper = Grouper::new(options, None);
        for batch in batches {
            grouper.start(DumpInfo {
                format: Format::Traceback,
                profile: Profile::Goroutine,
                cause: Cause::default(),
                declared_total: None,
                time_nanos: None,
                offset: 0,
                prefix: None,
            });
            for record in batch {
                grouper.add(&mut tables, record);
            }
            grouper.close(false);
        }
        grouper.finish(tables)
    }

    fn signature_of(&mut self, tables: &Tables, stack: StackId) -> Signature {
        if self.signatures.len() <= stack.index() {
            self.signatures.resize(stack.index() + 1, None);
        }
        *self.signatures[stack.index()]
            .get_or_insert_with(|| signature(tables, tables.frames(stack)))
    }

    fn args_key(&self, record: &Record) -> u64 {
        if self.options.similarity == Similarity::AnyValue {
            return 0;
        }
        let mut hasher = Xxh3::new();
        for i in 0..record.frames.len() {
            let args = record.args(i);
            match self.options.similarity {
                Similarity::Exact => hasher.update(args),
                _ => {
                    for word in args.split(|&b| matches!(b, b',' | b' ' | b'{' | b'}')) {
                        let word = word.strip_suffix(b"?").unwrap_or(word);
                        let value = word
                            .strip_prefix(b"0x")
                            .and_then(|h| std::str::from_utf8(h).ok())
                            .and_then(|h| u64::from_str_radix(h, 16).ok());
                        match value {
                            Some(v) if v > 0xffff => hasher.update(b"*"),
                            _ => hasher.update(word),
                        }
                        hasher.update(b",");
                    }
                }
            }
            hasher.update(&[0xff]);
        }
        if self.options.similarity == Similarity::Exact {
            let locked = record.state.as_ref().is_some_and(|s| s.locked_to_thread);
            hasher.update(&[u8::from(locked)]);
        }
        hasher.digest()
    }

    fn close(&mut self, truncated: bool) {
        let Some(building) = self.current.take() else {
            return;
        };
        let Building {
            info,
            mut groups,
            mut goroutines,
            total,
            ..
        } = building;

        // Largest groups first; equal counts in the order the dump printed them, which puts
        // the goroutine that panicked or called runtime.Stack first.
        let mut order: Vec<u32> = (0..groups.len() as u32).collect();
        order.sort_by(|&a, &b| {
            groups[b as usize]
                .count
                .cmp(&groups[a as usize].count)
                .then(a.cmp(&b))
        });
        let mut new_index = vec![0u32; groups.len()];
        for (new, &old) in order.iter().enumerate() {
            new_index[old as usize] = new as u32;
        }
        let mut slots: Vec<Option<Group>> = groups.drain(..).map(Some).collect();
        let mut groups: Vec<Group> = order
            .iter()
            .map(|&old| {
                slots[old as usize]
                    .take()
                    .expect("each group is moved once")
            })
            .collect();
        goroutines.remap_groups(&new_index);
        goroutines.sort();

        // The spawn tree: where each goroutine's parent is.
        let mut edges: FxHashMap<(u32, ParentRef), u64> = FxHashMap::default();
        for (_, parent, group) in goroutines.rows() {
            let Some(parent) = parent else { continue };
            let place = match goroutines.get(parent) {
                Some((parent_group, _)) => ParentRef::Group(parent_group),
                None => ParentRef::Exited,
            };
            *edges.entry((group, place)).or_default() += 1;
        }
        for ((group, place), count) in edges {
            groups[group as usize].parents.push((place, count));
        }
        for group in &mut groups {
            group
                .parents
                .sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            group.states.sort_by_key(|s| std::cmp::Reverse(s.1));
            group.blockings.sort_by_key(|b| std::cmp::Reverse(b.1));
            group
                .labels
                .sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            group.ids.sort_unstable();
            group.synctest_bubbles.sort_unstable();
        }
        if let Some(declared) = info.declared_total
            && declared != total
            && info.format == crate::model::Format::Debug1
        {
            self.warnings.push(Warning {
                offset: info.offset,
                line: None,
                message: format!(
                    "the profile says total {declared} but its records add up to {total}"
                ),
            });
        }
        self.done.push(Snapshot {
            info,
            total,
            groups,
            truncated,
            goroutines,
        });
    }
}

impl Grouper<'_> {
    fn start(&mut self, info: DumpInfo) {
        self.current = Some(Building {
            info,
            groups: Vec::new(),
            index: FxHashMap::default(),
            goroutines: GoroutineIndex::default(),
            total: 0,
        });
    }

    fn add(&mut self, tables: &mut Tables, record: &Record) {
        let stack = tables.stack(&record.frames);
        let signature = self.signature_of(tables, stack);
        let creator = match (self.options.split_by_creator, record.created_by) {
            (true, Some(c)) => *self
                .creators
                .entry(c.frame)
                .or_insert_with(|| creator_hash(tables, c.frame)),
            _ => 0,
        };
        let labels = if self.options.split_by_labels {
            record.labels
        } else {
            LabelSetId::EMPTY
        };
        let key = GroupKey {
            signature,
            creator,
            labels,
            args: self.args_key(record),
            proven: record.state.as_ref().is_some_and(|s| s.leaked),
        };
        let ids_per_group = self.options.ids_per_group;
        let label_sets_per_group = self.options.label_sets_per_group;
        let Some(building) = self.current.as_mut() else {
            return;
        };
        let next = building.groups.len() as u32;
        let index = *building.index.entry(key).or_insert(next);
        if index == next {
            building.groups.push(new_group(signature, stack, record));
        }
        let group = &mut building.groups[index as usize];
        let count = record.count;
        building.total += count;
        group.count += count;
        group.truncated |= record.truncated;
        let reason = record.state.as_ref().and_then(|s| s.reason);
        match group.states.iter_mut().find(|(s, _)| *s == reason) {
            Some(entry) => entry.1 += count,
            None => group.states.push((reason, count)),
        }
        if let Some(state) = &record.state {
            match group
                .blockings
                .iter_mut()
                .find(|(b, _)| *b == state.blocking)
            {
                Some(entry) => entry.1 += count,
                None => group.blockings.push((state.blocking, count)),
            }
            if state.leaked {
                group.leaked += count;
            }
            if state.locked_to_thread {
                group.locked_to_thread += count;
            }
            if state.durable {
                group.durable += count;
            }
            match state.wait_minutes {
                Some(m) => {
                    group.wait_minutes = Some(match group.wait_minutes {
                        Some((lo, hi)) => (lo.min(m), hi.max(m)),
                        None => (m, m),
                    })
                }
                None => group.without_wait_minutes += count,
            }
            if let Some(bubble) = state.synctest_bubble
                && !group.synctest_bubbles.contains(&bubble)
            {
                group.synctest_bubbles.push(bubble);
            }
        } else if building.info.profile == Profile::GoroutineLeak {
            group.leaked += count;
        }
        if record.labels != LabelSetId::EMPTY || !group.labels.is_empty() {
            if let Some(entry) = group.labels.iter_mut().find(|(l, _)| *l == record.labels) {
                entry.1 += count;
            } else if group.labels.len() < label_sets_per_group {
                group.labels.push((record.labels, count));
            } else {
                group.labels_other += count;
            }
        }
        if let Some(id) = record.id {
            if group.ids.len() < ids_per_group {
                group.ids.push(id);
            }
            let parent = record.created_by.and_then(|c| c.parent);
            if group.count == count {
                group.parent = parent;
            } else if group.parent != parent {
                group.parent = None;
            }
            if parent.is_some() && parent != group.last_parent {
                group.parent_runs += 1;
                group.last_parent = parent;
            }
            building.goroutines.push(id, parent, index);
        }
    }
}

impl Sink for Grouper<'_> {
    fn dump_start(&mut self, _tables: &Tables, info: &DumpInfo) -> io::Result<()> {
        self.start(info.clone());
        Ok(())
    }

    fn record(&mut self, tables: &mut Tables, record: &Record) -> io::Result<()> {
        self.add(tables, record);
        Ok(())
    }

    fn dump_end(&mut self, _tables: &mut Tables, truncated: bool) -> io::Result<()> {
        self.close(truncated);
        Ok(())
    }

    fn race(&mut self, _tables: &Tables, report: RaceReport) -> io::Result<()> {
        self.races.push(report);
        Ok(())
    }

    fn text(&mut self, raw_line: &[u8]) -> io::Result<()> {
        match self.passthrough.as_mut() {
            Some(passthrough) => passthrough.write_all(raw_line),
            None => Ok(()),
        }
    }

    fn warning(&mut self, warning: Warning) -> io::Result<()> {
        self.warnings.push(warning);
        Ok(())
    }
}

fn new_group(signature: Signature, stack: StackId, record: &Record) -> Group {
    Group {
        signature,
        stack,
        count: 0,
        states: Vec::new(),
        blockings: Vec::new(),
        leaked: 0,
        locked_to_thread: 0,
        durable: 0,
        wait_minutes: None,
        without_wait_minutes: 0,
        labels: Vec::new(),
        labels_other: 0,
        synctest_bubbles: Vec::new(),
        created_by: record.created_by.map(|c| c.frame),
        parent: None,
        parents: Vec::new(),
        parent_runs: 0,
        last_parent: None,
        ids: Vec::new(),
        example: Example {
            id: record.id,
            args: (0..record.frames.len())
                .map(|i| record.args(i).into())
                .collect(),
            regs: record.regs.clone(),
            pcs: record.pcs.clone(),
            thread: record.thread,
            elided: record.elided,
            ancestors: record.ancestors.clone(),
            stack_unavailable: record.stack_unavailable,
            line: record.line,
        },
        truncated: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn radix_sort_sorts_like_a_comparison_sort() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for len in [0, 1, 31, 33, 1000, 70_000] {
            let mut rows: Vec<Row<u32>> = (0..len)
                .map(|i| Row {
                    id: (next() >> (next() % 40)) as u32,
                    parent: i,
                    group: 0,
                })
                .collect();
            let mut expected: Vec<u32> = rows.iter().map(|r| r.id).collect();
            expected.sort_unstable();
            radix_sort(&mut rows, 24);
            assert_eq!(
                rows.iter().map(|r| r.id).collect::<Vec<_>>(),
                expected,
                "{len}"
            );
        }
    }
}
