//! The JSON output: versioned wire types, kept apart from the domain model so the model can
//! change without breaking scripts. The contract is documented in `docs/json.md`.

use std::collections::BTreeMap;
use std::io::{self, Write};

use goleash_core::classify::Assessment;
use goleash_core::diff::Row;
use goleash_core::group::{Group, ParentRef};
use goleash_core::model::{Elision, RaceSectionKind};
use goleash_core::{Capture, FrameId, Snapshot, Tables};
use serde::Serialize;

use crate::history::{Creator, Frame, Site};

/// Bumped on any incompatible change to the documents below.
pub const SCHEMA_VERSION: u32 = 1;

/// `goleash inspect --format json`.
#[derive(Serialize)]
pub struct InspectDoc {
    /// Always [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Goroutines in all the dumps read; the group counts add up to it.
    pub goroutines: u64,
    /// Every group of every dump, each dump's largest first.
    pub groups: Vec<GroupJson>,
    /// The dumps the groups came from.
    pub dumps: Vec<DumpJson>,
    /// Data race reports.
    pub races: Vec<RaceJson>,
    /// Problems with the input that did not stop the parse.
    pub warnings: Vec<WarningJson>,
}

/// One dump.
#[derive(Serialize)]
pub struct DumpJson {
    /// Index of the dump; groups refer to it.
    pub index: usize,
    /// The input it was read from.
    pub source: String,
    /// `traceback`, `debug1` or `proto`.
    pub format: &'static str,
    /// `goroutine` or `goroutineleak`.
    pub profile: &'static str,
    /// Why the dump was printed.
    pub cause: CauseJson,
    /// Goroutines in this dump.
    pub goroutines: u64,
    /// What the profile itself says its total is (debug=1, debug=0).
    pub declared_total: Option<u64>,
    /// The dump was cut short.
    pub truncated: bool,
    /// A prefix stripped from every line (log timestamps, indentation).
    pub line_prefix: Option<String>,
    /// Capture time of a protobuf profile, nanoseconds since the Unix epoch.
    pub time_nanos: Option<i64>,
}

/// Why a dump was printed.
#[derive(Serialize)]
pub struct CauseJson {
    /// `dump`, `panic`, `test_timeout`, `fatal_error`, `signal` or `goleak`.
    pub kind: &'static str,
    /// The panic value, fatal error or signal.
    pub message: String,
    /// Further preamble lines.
    pub details: Vec<String>,
    /// Tests named by `go test -timeout`.
    pub running_tests: Vec<String>,
}

/// One group of goroutines with the same stack.
#[derive(Serialize)]
pub struct GroupJson {
    /// Index of the dump in `dumps`.
    pub dump: usize,
    /// The stack's signature: equal across formats, processes and restarts.
    pub signature: String,
    /// How many goroutines.
    pub count: u64,
    /// The most frequent wait reason, without annotations; null where the format has none.
    pub state: Option<String>,
    /// Every wait reason seen, with counts.
    pub states: BTreeMap<String, u64>,
    /// The runtime proved every goroutine of the group leaked (`(leaked)`, goroutineleak).
    pub proven: bool,
    /// How many of the goroutines the runtime marked leaked.
    pub leaked: u64,
    /// Smallest and largest `N minutes` seen.
    pub wait_minutes: Option<MinMax>,
    /// Goroutines `locked to thread`.
    pub locked_to_thread: u64,
    /// Label sets seen, with counts.
    pub labels: Vec<LabelsJson>,
    /// The stack, innermost frame first.
    pub frames: Vec<FrameJson>,
    /// Where the runtime left frames out.
    pub elided: Option<ElidedJson>,
    /// The `go` statement that started the goroutines.
    pub created_by: Option<CreatorJson>,
    /// Where the parent goroutines are.
    pub parents: Vec<ParentJson>,
    /// Some goroutine ids of the group.
    pub ids: Vec<u64>,
    /// A goroutine of the group was cut short.
    pub truncated: bool,
    /// `leak`, `suspect`, `lingering` or `expected`.
    pub verdict: &'static str,
    /// The evidence behind the verdict, in a sentence.
    pub why: String,
    /// What the goroutines wait for, read from the state or the stack (`chan send`, `select`,
    /// `sync.WaitGroup.Wait`, `IO wait`, …).
    pub blocking: &'static str,
    /// The innermost frame in the program's own code.
    pub leak_site: Option<SiteJson>,
    /// The knowledge-base entry that matched, by id.
    pub pattern: Option<&'static str>,
    /// What to do about it; null for groups that are fine.
    pub hint: Option<&'static str>,
}

/// A position in the program.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SiteJson {
    /// The function.
    pub function: String,
    /// Its file.
    pub file: String,
    /// The line.
    pub line: u32,
    /// The source line, when the file was readable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl From<&Site> for SiteJson {
    fn from(site: &Site) -> Self {
        SiteJson {
            function: site.function.clone(),
            file: site.file.clone(),
            line: site.line,
            source: site.source.clone(),
        }
    }
}

/// The leak site of an assessment, with the line of source read there.
pub fn site_json(tables: &Tables, assessment: &Assessment) -> Option<SiteJson> {
    assessment.leak_site.map(|f| {
        let frame = tables.get_frame(f);
        SiteJson {
            function: tables.str(frame.function).into_owned(),
            file: tables.str(frame.file).into_owned(),
            line: frame.line,
            source: assessment.source.as_ref().map(|s| s.text.clone()),
        }
    })
}

/// A range.
#[derive(Serialize)]
pub struct MinMax {
    /// Smallest.
    pub min: u32,
    /// Largest.
    pub max: u32,
}

/// A label set and how many goroutines carried it.
#[derive(Serialize)]
pub struct LabelsJson {
    /// Key → value.
    pub labels: BTreeMap<String, String>,
    /// Goroutines with exactly this set.
    pub count: u64,
}

/// One frame.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FrameJson {
    /// The function as Go prints it.
    pub function: String,
    /// The source file; empty when unknown.
    pub file: String,
    /// The line; 0 when unknown.
    pub line: u32,
    /// The `+0x` offset, when printed.
    pub offset: Option<u32>,
    /// The call was inlined.
    pub inlined: bool,
    /// Raw arguments of the group's first goroutine, when printed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub args: Option<String>,
}

/// A recorded frame: its arguments are not recorded.
impl From<&Frame> for FrameJson {
    fn from(frame: &Frame) -> Self {
        FrameJson {
            function: frame.function.clone(),
            file: frame.file.clone(),
            line: frame.line,
            offset: frame.offset,
            inlined: frame.inlined,
            args: None,
        }
    }
}

/// Frames the runtime left out.
#[derive(Serialize)]
pub struct ElidedJson {
    /// Index in `frames` where frames are missing.
    pub at: usize,
    /// How many, when the runtime said.
    pub count: Option<u64>,
}

/// The `created by` of a group.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CreatorJson {
    /// The function holding the `go` statement.
    pub function: String,
    /// Its file.
    pub file: String,
    /// The line of the `go` statement.
    pub line: u32,
    /// The parent goroutine id, when every goroutine of the group has the same one.
    pub goroutine: Option<u64>,
}

/// A recorded creator: its parent goroutine is not recorded.
impl From<&Creator> for CreatorJson {
    fn from(creator: &Creator) -> Self {
        CreatorJson {
            function: creator.function.clone(),
            file: creator.file.clone(),
            line: creator.line,
            goroutine: None,
        }
    }
}

/// Where some of a group's parent goroutines are.
#[derive(Serialize)]
pub struct ParentJson {
    /// Index in `groups` of the parent's group, or null when the parent exited.
    pub group: Option<usize>,
    /// The parent is not in the dump any more.
    pub exited: bool,
    /// How many goroutines of the group have a parent there.
    pub count: u64,
}

/// A data race report.
#[derive(Serialize)]
pub struct RaceJson {
    /// The input.
    pub source: String,
    /// Its sections.
    pub sections: Vec<RaceSectionJson>,
}

/// One section of a race report.
#[derive(Serialize)]
pub struct RaceSectionJson {
    /// The title line.
    pub title: String,
    /// `access`, `creation` or `other`.
    pub kind: &'static str,
    /// The access wrote.
    pub write: bool,
    /// The goroutine named.
    pub goroutine: Option<u64>,
    /// Its stack.
    pub frames: Vec<FrameJson>,
}

/// A warning.
#[derive(Serialize)]
pub struct WarningJson {
    /// The input.
    pub source: String,
    /// Line number, when known.
    pub line: Option<u64>,
    /// What happened.
    pub message: String,
}

/// Builds the document for inputs that were read.
pub fn inspect_doc(sources: &[(String, &Capture, &[Vec<Assessment>])]) -> InspectDoc {
    let mut doc = InspectDoc {
        schema_version: SCHEMA_VERSION,
        goroutines: 0,
        groups: Vec::new(),
        dumps: Vec::new(),
        races: Vec::new(),
        warnings: Vec::new(),
    };
    for (name, capture, assessments) in sources {
        let tables = &capture.tables;
        for (snapshot, assessed) in capture.snapshots.iter().zip(assessments.iter()) {
            let index = doc.dumps.len();
            let base = doc.groups.len();
            doc.goroutines += snapshot.total;
            doc.dumps.push(dump_json(index, name, snapshot));
            for (group, assessment) in snapshot.groups.iter().zip(assessed) {
                doc.groups
                    .push(group_json(tables, group, assessment, index, &|g| {
                        Some(base + g)
                    }));
            }
        }
        for race in &capture.races {
            doc.races.push(RaceJson {
                source: name.clone(),
                sections: race
                    .sections
                    .iter()
                    .map(|s| {
                        let (kind, write) = match s.kind {
                            RaceSectionKind::Access { write, .. } => ("access", write),
                            RaceSectionKind::Creation { .. } => ("creation", false),
                            RaceSectionKind::Other => ("other", false),
                        };
                        RaceSectionJson {
                            title: s.title.clone(),
                            kind,
                            write,
                            goroutine: s.goroutine,
                            frames: tables
                                .frames(s.stack)
                                .iter()
                                .map(|&f| frame_json(tables, f, None))
                                .collect(),
                        }
                    })
                    .collect(),
            });
        }
        for warning in &capture.warnings {
            doc.warnings.push(WarningJson {
                source: name.clone(),
                line: warning.line,
                message: warning.message.clone(),
            });
        }
    }
    doc
}

/// The wire form of one dump.
pub fn dump_json(index: usize, source: &str, snapshot: &Snapshot) -> DumpJson {
    let info = &snapshot.info;
    DumpJson {
        index,
        source: source.to_string(),
        format: info.format.name(),
        profile: match info.profile {
            goleash_core::model::Profile::Goroutine => "goroutine",
            goleash_core::model::Profile::GoroutineLeak => "goroutineleak",
        },
        cause: CauseJson {
            kind: info.cause.kind.name(),
            message: info.cause.message.clone(),
            details: info.cause.details.clone(),
            running_tests: info.cause.running_tests.clone(),
        },
        goroutines: snapshot.total,
        declared_total: info.declared_total,
        truncated: snapshot.truncated,
        line_prefix: info.prefix.clone(),
        time_nanos: info.time_nanos,
    }
}

/// The wire form of one frame.
pub fn frame_json(tables: &Tables, id: FrameId, args: Option<&[u8]>) -> FrameJson {
    let frame = tables.get_frame(id);
    FrameJson {
        function: tables.str(frame.function).into_owned(),
        file: tables.str(frame.file).into_owned(),
        line: frame.line,
        offset: frame.offset,
        inlined: frame.inlined,
        args: args
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned()),
    }
}

/// The wire form of one group; `doc_index` turns a group index of its snapshot into its
/// index in the document's `groups`, so parent references point there.
pub fn group_json(
    tables: &Tables,
    group: &Group,
    assessment: &Assessment,
    dump: usize,
    doc_index: &dyn Fn(usize) -> Option<usize>,
) -> GroupJson {
    let frames = tables.frames(group.stack);
    GroupJson {
        dump,
        signature: group.signature.to_string(),
        count: group.count,
        state: group.state().map(|s| tables.str(s).into_owned()),
        states: group
            .states
            .iter()
            .filter_map(|&(s, n)| s.map(|s| (tables.str(s).into_owned(), n)))
            .collect(),
        proven: group.proven(),
        leaked: group.leaked,
        wait_minutes: group.wait_minutes.map(|(min, max)| MinMax { min, max }),
        locked_to_thread: group.locked_to_thread,
        labels: group
            .labels
            .iter()
            .map(|&(set, count)| LabelsJson {
                labels: tables
                    .label_pairs(set)
                    .iter()
                    .map(|&(k, v)| (tables.str(k).into_owned(), tables.str(v).into_owned()))
                    .collect(),
                count,
            })
            .collect(),
        frames: frames
            .iter()
            .enumerate()
            .map(|(i, &f)| frame_json(tables, f, group.example.args.get(i).map(|a| &a[..])))
            .collect(),
        elided: group.example.elided.map(|e| match e {
            Elision::Middle { after, count } => ElidedJson {
                at: after,
                count: Some(count),
            },
            Elision::Tail => ElidedJson {
                at: frames.len(),
                count: None,
            },
        }),
        created_by: group.created_by.map(|c| {
            let frame = tables.get_frame(c);
            CreatorJson {
                function: tables.str(frame.function).into_owned(),
                file: tables.str(frame.file).into_owned(),
                line: frame.line,
                goroutine: group.parent,
            }
        }),
        parents: group
            .parents
            .iter()
            .map(|&(place, count)| match place {
                ParentRef::Group(g) => ParentJson {
                    group: doc_index(g),
                    exited: false,
                    count,
                },
                ParentRef::Exited => ParentJson {
                    group: None,
                    exited: true,
                    count,
                },
            })
            .collect(),
        ids: group.ids.clone(),
        truncated: group.truncated,
        verdict: assessment.verdict.name(),
        why: assessment.why.clone(),
        blocking: assessment.blocking.name(),
        leak_site: site_json(tables, assessment),
        pattern: assessment.pattern.map(|p| p.id),
        hint: assessment.hint(),
    }
}

/// `goleash diff --format json`.
#[derive(Serialize)]
pub struct DiffDoc {
    /// Always [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Goroutines in the earlier snapshot.
    pub goroutines_before: u64,
    /// Goroutines in the later snapshot; the `count`s of `groups` add up to it.
    pub goroutines: u64,
    /// The earlier dump (index 0).
    pub before: DumpJson,
    /// The later dump (index 1).
    pub after: DumpJson,
    /// Every stack of either snapshot, largest growth first.
    pub groups: Vec<DiffGroupJson>,
}

/// A group of a diff: the group as in the later snapshot, with its count before.
#[derive(Serialize)]
pub struct DiffGroupJson {
    /// The group (from the earlier snapshot, with `count` 0, when it is gone).
    #[serde(flatten)]
    pub group: GroupJson,
    /// Goroutines with this stack in the earlier snapshot.
    pub count_before: u64,
    /// `count - count_before`.
    pub delta: i64,
    /// `new`, `grew`, `same`, `shrank` or `gone`.
    pub change: &'static str,
}

/// One side of a diff: its name, capture, snapshot and assessments.
pub type DiffSide<'a> = (&'a str, &'a Capture, &'a Snapshot, &'a [Assessment]);

/// Builds the diff document.
pub fn diff_doc(before: DiffSide<'_>, after: DiffSide<'_>, rows: &[Row]) -> DiffDoc {
    let (before_name, before_capture, b, before_assessed) = before;
    let (after_name, after_capture, a, after_assessed) = after;
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
    for row in rows {
        let change = match (row.count_before, row.count_after) {
            (0, _) => "new",
            (_, 0) => "gone",
            (b, a) if a > b => "grew",
            (b, a) if a < b => "shrank",
            _ => "same",
        };
        if row.after.is_empty() {
            let i = row.before[0];
            let mut group = group_json(
                &before_capture.tables,
                &b.groups[i],
                &before_assessed[i],
                0,
                &|_| None,
            );
            group.count = 0;
            groups.push(DiffGroupJson {
                group,
                count_before: row.count_before,
                delta: row.delta(),
                change,
            });
            continue;
        }
        for &i in &row.after {
            let group = group_json(
                &after_capture.tables,
                &a.groups[i],
                &after_assessed[i],
                1,
                &|g| doc_index_of_after[g],
            );
            groups.push(DiffGroupJson {
                group,
                count_before: row.count_before,
                delta: row.delta(),
                change,
            });
        }
    }
    DiffDoc {
        schema_version: SCHEMA_VERSION,
        goroutines_before: b.total,
        goroutines: a.total,
        before: dump_json(0, before_name, b),
        after: dump_json(1, after_name, a),
        groups,
    }
}

/// Writes a document as pretty JSON followed by a newline.
pub fn write(out: &mut dyn Write, doc: &impl Serialize) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, doc)?;
    writeln!(out)
}
