//! Classifying what was read: verdicts for every group, with the program's source when it is
//! on this machine.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Read;

use goleash_core::classify::{self, AssessOptions, Assessment, Growth, Moment, SourceLookup};
use goleash_core::diff::Row;
use goleash_core::model::CauseKind;
use goleash_core::source::{SiteFacts, SourceFile};
use goleash_core::{Capture, Snapshot};

use crate::source_map::SourceMap;

/// Source files larger than this are not read: no Go file that size is hand-written.
const MAX_SOURCE_BYTES: u64 = 4 << 20;

/// Reads and lexes Go source files from disk, once each.
#[derive(Default)]
pub struct FileSource {
    files: RefCell<HashMap<String, Option<SourceFile>>>,
    map: SourceMap,
    disabled: bool,
}

impl FileSource {
    /// A reader of the files where the dump says they are; `disabled` turns source reading
    /// off (`--no-source`).
    pub fn new(disabled: bool) -> Self {
        FileSource::with_map(SourceMap::default(), disabled)
    }

    /// A reader that finds the files through `map` (`--source`).
    pub fn with_map(map: SourceMap, disabled: bool) -> Self {
        FileSource {
            files: RefCell::default(),
            map,
            disabled,
        }
    }

    /// Where the files of the dumps are.
    pub fn map(&self) -> &SourceMap {
        &self.map
    }
}

impl SourceLookup for FileSource {
    fn site(&self, file: &str, line: u32) -> Option<SiteFacts> {
        if self.disabled || !file.ends_with(".go") {
            return None;
        }
        let mut files = self.files.borrow_mut();
        let source = files.entry(file.to_string()).or_insert_with(|| {
            let f = std::fs::File::open(self.map.resolve(file)?).ok()?;
            let mut bytes = Vec::new();
            f.take(MAX_SOURCE_BYTES).read_to_end(&mut bytes).ok()?;
            Some(SourceFile::parse(&bytes))
        });
        source.as_ref()?.site(line)
    }
}

/// The moment a dump was taken at, from what printed it: goleak checks and test timeouts
/// happen when the goroutines they list should be gone.
pub fn moment_of(snapshot: &Snapshot, quiescent: bool) -> Moment {
    match snapshot.info.cause.kind {
        _ if quiescent => Moment::Quiescent,
        CauseKind::Goleak | CauseKind::TestTimeout => Moment::Quiescent,
        _ => Moment::Live,
    }
}

/// Assessments for every group of a snapshot; `growth` gives each group's change since an
/// earlier snapshot, when there is one.
pub fn assess_snapshot(
    capture: &Capture,
    snapshot: &Snapshot,
    growth: &dyn Fn(usize) -> Option<Growth>,
    quiescent: bool,
    source: &FileSource,
) -> Vec<Assessment> {
    let options = AssessOptions {
        moment: moment_of(snapshot, quiescent),
    };
    snapshot
        .groups
        .iter()
        .enumerate()
        .map(|(i, group)| {
            classify::assess(
                &capture.tables,
                snapshot,
                group,
                growth(i),
                &options,
                source,
            )
        })
        .collect()
}

/// Assessments for the groups of `snapshot`, the later of two that `rows` compare, each
/// judged with the growth of its stack.
pub fn assess_growth(
    capture: &Capture,
    snapshot: &Snapshot,
    rows: &[Row],
    quiescent: bool,
    source: &FileSource,
) -> Vec<(Assessment, Option<Growth>)> {
    let mut growth_of = vec![None; snapshot.groups.len()];
    for row in rows {
        for &i in &row.after {
            growth_of[i] = Some(row.growth());
        }
    }
    assess_snapshot(capture, snapshot, &|i| growth_of[i], quiescent, source)
        .into_iter()
        .zip(growth_of)
        .collect()
}

/// Assessments for every snapshot of a capture, each judged on its own.
pub fn assess_capture(
    capture: &Capture,
    quiescent: bool,
    source: &FileSource,
) -> Vec<Vec<Assessment>> {
    capture
        .snapshots
        .iter()
        .map(|s| assess_snapshot(capture, s, &|_| None, quiescent, source))
        .collect()
}
