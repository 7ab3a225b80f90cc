//! Reading a parsed capture back as plain strings, and the questions the tests ask of it.

use std::collections::BTreeMap;

use goleash_core::model::{Format, Profile};
use goleash_core::{Capture, Group, LabelSetId, ReadOptions, Signature, Snapshot, StackId};

/// Parses one input, failing the test on an error or a warning: every input here is real,
/// unedited Go output.
pub fn parse(bytes: &[u8], what: &str) -> Capture {
    let capture = goleash_core::read(bytes, &ReadOptions::default(), None)
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        capture.warnings.is_empty(),
        "{what}: warnings on real output: {:?}",
        capture.warnings
    );
    capture
}

/// Parses an input that holds exactly one dump, of the expected format and profile.
pub fn parse_one(bytes: &[u8], what: &str, format: Format, profile: Profile) -> Capture {
    let capture = parse(bytes, what);
    assert_eq!(capture.snapshots.len(), 1, "{what}: one dump");
    let info = &capture.snapshots[0].info;
    assert_eq!((info.format, info.profile), (format, profile), "{what}");
    capture
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub function: String,
    pub file: String,
    pub line: u32,
}

pub fn frames(capture: &Capture, stack: StackId) -> Vec<Frame> {
    let t = &capture.tables;
    t.frames(stack)
        .iter()
        .map(|&id| {
            let f = t.get_frame(id);
            Frame {
                function: t.str(f.function).into_owned(),
                file: t.str(f.file).into_owned(),
                line: f.line,
            }
        })
        .collect()
}

pub fn labels(capture: &Capture, set: LabelSetId) -> BTreeMap<String, String> {
    let t = &capture.tables;
    t.label_pairs(set)
        .iter()
        .map(|&(k, v)| (t.str(k).into_owned(), t.str(v).into_owned()))
        .collect()
}

/// The group's wait reasons and how many goroutines showed each.
pub fn states(capture: &Capture, group: &Group) -> Vec<(String, u64)> {
    group
        .states
        .iter()
        .map(|&(s, n)| {
            let reason = s.map(|s| capture.tables.str(s).into_owned());
            (reason.unwrap_or_default(), n)
        })
        .collect()
}

/// The innermost frame of the group in `file`: for a fixture, where its code waits.
pub fn frame_in(capture: &Capture, group: &Group, file: &str) -> Option<Frame> {
    frames(capture, group.stack)
        .into_iter()
        .find(|f| f.file == file)
}

/// Groups whose innermost frame in `file` is at `line` (in `function`, when given).
pub fn groups_at<'a>(
    capture: &Capture,
    snapshot: &'a Snapshot,
    file: &str,
    line: u32,
    function: Option<&str>,
) -> Vec<&'a Group> {
    snapshot
        .groups
        .iter()
        .filter(|g| {
            frame_in(capture, g, file).is_some_and(|f| {
                f.line == line && function.is_none_or(|function| f.function == function)
            })
        })
        .collect()
}

pub fn count_at(
    capture: &Capture,
    snapshot: &Snapshot,
    file: &str,
    line: u32,
    function: Option<&str>,
) -> u64 {
    groups_at(capture, snapshot, file, line, function)
        .iter()
        .map(|g| g.count)
        .sum()
}

/// Whether any frame of the group is in `function`.
pub fn has_function(capture: &Capture, group: &Group, function: &str) -> bool {
    frames(capture, group.stack)
        .iter()
        .any(|f| f.function == function)
}

/// Goroutines per stack signature, leaving out the groups `skip` picks.
pub fn by_signature(
    snapshot: &Snapshot,
    skip: impl Fn(&Group) -> bool,
) -> BTreeMap<Signature, u64> {
    let mut counts = BTreeMap::new();
    for group in snapshot.groups.iter().filter(|g| !skip(g)) {
        *counts.entry(group.signature).or_default() += group.count;
    }
    counts
}

/// The `created by` frame of a group.
pub fn created_by(capture: &Capture, group: &Group) -> Option<Frame> {
    let t = &capture.tables;
    group.created_by.map(|id| {
        let f = t.get_frame(id);
        Frame {
            function: t.str(f.function).into_owned(),
            file: t.str(f.file).into_owned(),
            line: f.line,
        }
    })
}
