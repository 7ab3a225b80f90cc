//! Comparing two snapshots of a program by stack signature.
//!
//! Goroutine ids mean nothing across processes (and since Go 1.26 not even creation order),
//! so groups are matched by what they run: the signature of their stack and, when both
//! snapshots say, the `go` statement that started them. Any mix of formats can be compared:
//! a debug=0 profile before, a debug=2 dump after.

use rustc_hash::FxHashMap;

use crate::classify::Growth;
use crate::group::Snapshot;
use crate::intern::Tables;
use crate::model::Format;
use crate::signature::{Signature, creator_hash};

/// One stack that is in either snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// The stack's signature.
    pub signature: Signature,
    /// Its groups in the earlier snapshot (indices into its `groups`).
    pub before: Vec<usize>,
    /// Its groups in the later snapshot.
    pub after: Vec<usize>,
    /// Goroutines before.
    pub count_before: u64,
    /// Goroutines after.
    pub count_after: u64,
}

impl Row {
    /// How many more goroutines there are (negative: fewer).
    pub fn delta(&self) -> i64 {
        self.count_after as i64 - self.count_before as i64
    }

    /// The change, for classification.
    pub fn growth(&self) -> Growth {
        Growth {
            before: self.count_before,
            after: self.count_after,
        }
    }
}

/// Matches the groups of two snapshots. Rows come largest growth first, then the groups that
/// shrank or disappeared.
pub fn diff(before: (&Tables, &Snapshot), after: (&Tables, &Snapshot)) -> Vec<Row> {
    // Creators tell apart two `go` statements running the same function, but only
    // tracebacks print them: comparing with a profile, the stack alone must do.
    let use_creators =
        before.1.info.format == Format::Traceback && after.1.info.format == Format::Traceback;
    let key = |tables: &Tables, snapshot: &Snapshot, i: usize| {
        let group = &snapshot.groups[i];
        let creator = match (use_creators, group.created_by) {
            (true, Some(frame)) => creator_hash(tables, frame),
            _ => 0,
        };
        (group.signature, creator)
    };
    let mut index: FxHashMap<(Signature, u64), usize> = FxHashMap::default();
    let mut rows: Vec<Row> = Vec::new();
    for (side, (tables, snapshot)) in [before, after].into_iter().enumerate() {
        for (i, group) in snapshot.groups.iter().enumerate() {
            let k = key(tables, snapshot, i);
            let row = *index.entry(k).or_insert_with(|| {
                rows.push(Row {
                    signature: k.0,
                    before: Vec::new(),
                    after: Vec::new(),
                    count_before: 0,
                    count_after: 0,
                });
                rows.len() - 1
            });
            let row = &mut rows[row];
            if side == 0 {
                row.before.push(i);
                row.count_before += group.count;
            } else {
                row.after.push(i);
                row.count_after += group.count;
            }
        }
    }
    rows.sort_by(|a, b| {
        b.delta()
            .cmp(&a.delta())
            .then(b.count_after.cmp(&a.count_after))
            .then(a.signature.cmp(&b.signature))
    });
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ReadOptions;

    fn snapshot(text: &str) -> crate::Capture {
        crate::read(text.as_bytes(), &ReadOptions::default(), None).unwrap()
    }

    const BEFORE: &str = "goroutine 1 [running]:\nmain.main()\n\t/src/main.go:10 +0x1\n\ngoroutine 5 [chan receive]:\nmain.worker()\n\t/src/main.go:20 +0x1\ncreated by main.main in goroutine 1\n\t/src/main.go:9 +0x1\n";

    #[test]
    fn matches_by_signature_not_id() {
        let before = snapshot(BEFORE);
        let after = snapshot(&format!(
            "{BEFORE}\ngoroutine 9 [chan send]:\nmain.leak()\n\t/src/main.go:30 +0x1\ncreated by main.handle in goroutine 7\n\t/src/main.go:29 +0x1\n\ngoroutine 10 [chan send]:\nmain.leak()\n\t/src/main.go:30 +0x1\ncreated by main.handle in goroutine 8\n\t/src/main.go:29 +0x1\n"
        ));
        let rows = diff(
            (&before.tables, &before.snapshots[0]),
            (&after.tables, &after.snapshots[0]),
        );
        assert_eq!(rows.len(), 3);
        assert_eq!((rows[0].count_before, rows[0].count_after), (0, 2));
        assert!(rows[1..].iter().all(|r| r.delta() == 0));
    }
}
