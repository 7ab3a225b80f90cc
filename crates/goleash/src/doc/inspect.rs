//! `goleash inspect`: every dump of every input, its groups judged, and the race reports.

use goleash_core::Capture;
use goleash_core::classify::Assessment;
use serde::Serialize;

use super::{Dump, Group, Race, SCHEMA_VERSION, Warning};

/// `goleash inspect --format json`.
#[derive(Clone, Debug, Serialize)]
pub struct InspectDoc {
    /// Always [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Goroutines in all the dumps read; the group counts add up to it.
    pub goroutines: u64,
    /// Every group of every dump, each dump's largest first.
    pub groups: Vec<Group>,
    /// The dumps the groups came from.
    pub dumps: Vec<Dump>,
    /// Data race reports.
    pub races: Vec<Race>,
    /// Problems with the input that did not stop the parse.
    pub warnings: Vec<Warning>,
    /// What to do when the program's source was not found here (`--source DIR`).
    pub source_note: Option<String>,
    /// The dumps and races in the order the inputs held them.
    #[serde(skip)]
    pub order: Vec<Section>,
}

/// A dump or a race report, by index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    /// Index in `dumps`.
    Dump(usize),
    /// Index in `races`.
    Race(usize),
}

/// One input as read and judged: its name, what was read, and per snapshot the assessment
/// of each group.
pub struct Judged<'a> {
    /// How the input is named: its path, `stdin` or its URL.
    pub name: &'a str,
    /// What was read.
    pub capture: &'a Capture,
    /// Per snapshot of `capture`, per group.
    pub assessments: &'a [Vec<Assessment>],
}

impl InspectDoc {
    /// The document of the inputs, in order.
    pub fn build(inputs: &[Judged<'_>]) -> InspectDoc {
        let mut doc = InspectDoc {
            schema_version: SCHEMA_VERSION,
            goroutines: 0,
            groups: Vec::new(),
            dumps: Vec::new(),
            races: Vec::new(),
            warnings: Vec::new(),
            source_note: None,
            order: Vec::new(),
        };
        for input in inputs {
            let tables = &input.capture.tables;
            for (snapshot, assessed) in input.capture.snapshots.iter().zip(input.assessments) {
                let index = doc.dumps.len();
                let base = doc.groups.len();
                doc.goroutines += snapshot.total;
                doc.dumps.push(Dump::of(index, input.name, snapshot));
                doc.order.push(Section::Dump(index));
                for (group, assessment) in snapshot.groups.iter().zip(assessed) {
                    doc.groups.push(Group::of(
                        tables,
                        snapshot,
                        group,
                        assessment,
                        index,
                        &|g| Some(base + g),
                    ));
                }
            }
            for race in &input.capture.races {
                doc.order.push(Section::Race(doc.races.len()));
                doc.races.push(Race::of(tables, input.name, race));
            }
            doc.warnings
                .extend(Warning::all_of(input.name, input.capture));
        }
        doc
    }

    /// The groups of dump `index`, in the order of its snapshot.
    pub fn groups_of(&self, index: usize) -> impl Iterator<Item = &Group> + Clone {
        self.groups.iter().filter(move |g| g.dump == index)
    }
}
