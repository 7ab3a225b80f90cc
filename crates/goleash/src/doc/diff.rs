//! `goleash diff`: two snapshots matched stack by stack.

use goleash_core::classify::{Assessment, Growth};
use goleash_core::diff::Row;
use goleash_core::{Capture, Snapshot};
use serde::Serialize;

use super::{Dump, Group, SCHEMA_VERSION};

/// `goleash diff --format json`.
#[derive(Clone, Debug, Serialize)]
pub struct DiffDoc {
    /// Always [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Goroutines in the earlier snapshot.
    pub goroutines_before: u64,
    /// Goroutines in the later snapshot; the `count`s of `groups` add up to it.
    pub goroutines: u64,
    /// The earlier dump (index 0).
    pub before: Dump,
    /// The later dump (index 1).
    pub after: Dump,
    /// Every stack of either snapshot, largest growth first.
    pub groups: Vec<DiffGroup>,
    /// What to do when the program's source was not found here (`--source DIR`).
    pub source_note: Option<String>,
    /// BEFORE and AFTER as the user gave them (`-` for standard input).
    #[serde(skip)]
    pub arguments: [String; 2],
}

/// How a stack changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Only in the later snapshot.
    New,
    /// More goroutines.
    Grew,
    /// As many.
    Same,
    /// Fewer.
    Shrank,
    /// Only in the earlier snapshot.
    Gone,
}

impl Change {
    /// How a stack with `before` goroutines then and `after` now changed.
    pub fn of(before: u64, after: u64) -> Change {
        match (before, after) {
            (0, _) => Change::New,
            (_, 0) => Change::Gone,
            (b, a) if a > b => Change::Grew,
            (b, a) if a < b => Change::Shrank,
            _ => Change::Same,
        }
    }
}

/// A group of a diff: the group as in the later snapshot, with its count before.
#[derive(Clone, Debug, Serialize)]
pub struct DiffGroup {
    /// The group (from the earlier snapshot, with `count` 0, when it is gone).
    #[serde(flatten)]
    pub group: Group,
    /// Goroutines with this stack in the earlier snapshot.
    pub count_before: u64,
    /// `count - count_before`, over every group of the stack in the later snapshot.
    pub delta: i64,
    /// How the stack changed.
    pub change: Change,
    /// Which stack of the diff it is: a stack can hold several groups of a snapshot (groups
    /// split by arguments or labels), each its own entry.
    #[serde(skip)]
    pub row: usize,
}

impl DiffGroup {
    /// The growth of its stack, over all its groups.
    pub fn growth(&self) -> Growth {
        Growth {
            before: self.count_before,
            after: self.count_before.saturating_add_signed(self.delta),
        }
    }
}

/// One side of a diff: the input's name, what was read, the snapshot compared, and the
/// assessment of each of its groups.
pub struct Side<'a> {
    /// How the input is named in the document.
    pub name: &'a str,
    /// As the user gave it.
    pub argument: &'a str,
    /// What was read.
    pub capture: &'a Capture,
    /// The snapshot compared.
    pub snapshot: &'a Snapshot,
    /// Per group of `snapshot`.
    pub assessments: &'a [Assessment],
}

impl DiffDoc {
    /// The document of a diff.
    pub fn build(before: Side<'_>, after: Side<'_>, rows: &[Row]) -> DiffDoc {
        let (b, a) = (before.snapshot, after.snapshot);
        // Rows may hold several groups of a side; each gets its own entry.
        let mut doc_index_of_after = vec![None; a.groups.len()];
        let mut next = 0;
        for row in rows {
            if row.after.is_empty() {
                next += 1;
            }
            for &i in &row.after {
                doc_index_of_after[i] = Some(next);
                next += 1;
            }
        }
        let mut groups = Vec::new();
        for (n, row) in rows.iter().enumerate() {
            let change = Change::of(row.count_before, row.count_after);
            let entry = |group: Group| DiffGroup {
                group,
                count_before: row.count_before,
                delta: row.delta(),
                change,
                row: n,
            };
            if row.after.is_empty() {
                let i = row.before[0];
                let mut group = Group::of(
                    &before.capture.tables,
                    b,
                    &b.groups[i],
                    &before.assessments[i],
                    0,
                    &|_| None,
                );
                group.count = 0;
                groups.push(entry(group));
                continue;
            }
            for &i in &row.after {
                groups.push(entry(Group::of(
                    &after.capture.tables,
                    a,
                    &a.groups[i],
                    &after.assessments[i],
                    1,
                    &|g| doc_index_of_after[g],
                )));
            }
        }
        DiffDoc {
            schema_version: SCHEMA_VERSION,
            goroutines_before: b.total,
            goroutines: a.total,
            before: Dump::of(0, before.name, b),
            after: Dump::of(1, after.name, a),
            groups,
            source_note: None,
            arguments: [before.argument.to_string(), after.argument.to_string()],
        }
    }
}
