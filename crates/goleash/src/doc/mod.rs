//! The output contract: every document goleash prints, as typed values.
//!
//! Commands build these documents from what they read and judged, and hand them to the
//! renderers in [`crate::render`], which read nothing else: the JSON renderer serializes
//! them (the wire format is `docs/json.md`, schema version [`SCHEMA_VERSION`]), the text
//! and HTML renderers lay them out. Verdicts, states and kinds are enums here and become
//! strings only on the wire.
//!
//! A few fields are facts that text shows and JSON does not (yet): they are marked
//! `#[serde(skip)]`, so the JSON stays what `docs/json.md` promises.

pub mod check;
pub mod diff;
pub mod inspect;
pub mod metrics;
mod names;
pub mod report;
pub mod scan;
pub mod test;
pub mod watch;

use std::borrow::Cow;

use goleash_core::classify::{Assessment, Blocking, Verdict};
use goleash_core::code::{Origin, origin, origin_of};
use goleash_core::exits::{self, ExitKind, Possibility};
use goleash_core::group::{Group as CoreGroup, ParentRef};
use goleash_core::model::{CauseKind, Elision, Format, Profile, RaceReport, RaceSectionKind};
use goleash_core::{Capture, FrameId, Signature, Snapshot, Tables};
use serde::Serialize;

use crate::history;

/// Bumped on any incompatible change to the documents.
pub const SCHEMA_VERSION: u32 = 1;

/// One dump.
#[derive(Clone, Debug, Serialize)]
pub struct Dump {
    /// Index of the dump; groups refer to it.
    pub index: usize,
    /// The input it was read from.
    pub source: String,
    /// `traceback`, `debug1` or `proto`.
    #[serde(serialize_with = "names::format")]
    pub format: Format,
    /// `goroutine` or `goroutineleak`.
    #[serde(serialize_with = "names::profile")]
    pub profile: Profile,
    /// Why the dump was printed.
    pub cause: Cause,
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

impl Dump {
    /// The wire form of one dump.
    pub fn of(index: usize, source: &str, snapshot: &Snapshot) -> Dump {
        let info = &snapshot.info;
        Dump {
            index,
            source: source.to_string(),
            format: info.format,
            profile: info.profile,
            cause: Cause {
                kind: info.cause.kind,
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
}

/// Why a dump was printed.
#[derive(Clone, Debug, Serialize)]
pub struct Cause {
    /// `dump`, `panic`, `test_timeout`, `fatal_error`, `signal` or `goleak`.
    #[serde(serialize_with = "names::cause_kind")]
    pub kind: CauseKind,
    /// The panic value, fatal error or signal.
    pub message: String,
    /// Further preamble lines.
    pub details: Vec<String>,
    /// Tests named by `go test -timeout`.
    pub running_tests: Vec<String>,
}

/// One group of goroutines with the same stack, and its verdict.
#[derive(Clone, Debug, Serialize)]
pub struct Group {
    /// Index of the dump in `dumps`.
    pub dump: usize,
    /// The stack's signature: equal across formats, processes and restarts.
    #[serde(serialize_with = "names::signature")]
    pub signature: Signature,
    /// How many goroutines.
    pub count: u64,
    /// The most frequent wait reason, without annotations; null where the format has none.
    pub state: Option<String>,
    /// Every wait reason seen, with counts, in the order they were first seen (`None` where
    /// the format has none); the wire has the named ones as an object.
    #[serde(serialize_with = "names::states")]
    pub states: Vec<(Option<String>, u64)>,
    /// The runtime proved every goroutine of the group leaked (`(leaked)`, goroutineleak).
    pub proven: bool,
    /// How many of the goroutines the runtime marked leaked.
    pub leaked: u64,
    /// Smallest and largest `N minutes` seen.
    pub wait_minutes: Option<MinMax>,
    /// Goroutines `locked to thread`.
    pub locked_to_thread: u64,
    /// Label sets seen, with counts.
    pub labels: Vec<Labels>,
    /// The stack, innermost frame first.
    pub frames: Vec<Frame>,
    /// Where the runtime left frames out.
    pub elided: Option<Elided>,
    /// The `go` statement that started the goroutines.
    pub created_by: Option<Creator>,
    /// Where the parent goroutines are.
    pub parents: Vec<Parent>,
    /// Some goroutine ids of the group.
    pub ids: Vec<u64>,
    /// A goroutine of the group was cut short.
    pub truncated: bool,
    /// How sure goleash is that it leaks.
    #[serde(serialize_with = "names::verdict")]
    pub verdict: Verdict,
    /// The evidence behind the verdict, in a sentence.
    pub why: String,
    /// What the goroutines wait for, read from the state or the stack.
    #[serde(serialize_with = "names::blocking")]
    pub blocking: Blocking,
    /// The innermost frame in the program's own code.
    pub leak_site: Option<Site>,
    /// The knowledge-base entry that matched, by id.
    pub pattern: Option<&'static str>,
    /// What to do about it; null for groups that are fine.
    pub hint: Option<Cow<'static, str>>,
    /// Every way out of the wait, read from the source at the leak site; absent when the
    /// source was not read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_conditions: Option<Vec<ExitCondition>>,
    /// Why the source at hand was not used: it does not match the binary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_mismatch: Option<String>,
    /// HTTP client connections held by a response body never closed, when this group is
    /// their readLoops or their writeLoops: the two groups are one leak.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_connections: Option<HeldConnections>,
    /// Every goroutine of this group is part of the leak another group reports (the
    /// writeLoops of connections whose readLoops are that group): shown and counted there.
    #[serde(skip)]
    pub reported_with: Option<usize>,
    /// Goroutines durably blocked in a synctest bubble.
    #[serde(skip)]
    pub durable: u64,
    /// Its dump's format prints goroutine states and ids.
    #[serde(skip)]
    pub has_states: bool,
    /// Index in `frames` of the frame the goroutines wait in (`sync.(*Mutex).Lock`).
    #[serde(skip)]
    pub waits_in: Option<usize>,
    /// The function a group that is fine is named by in one line: its own code, else the
    /// frame its pattern recognised, else what it runs.
    #[serde(skip)]
    pub named_by: Option<String>,
}

/// HTTP client connections a response body never closed holds, each with two goroutines
/// in two groups.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HeldConnections {
    /// How many connections.
    pub connections: u64,
    /// Goroutines of the leak: a readLoop and a writeLoop per connection.
    pub goroutines: u64,
    /// Index in `groups` of the readLoops' group.
    pub read_loops: Option<usize>,
    /// Index in `groups` of the writeLoops' group; it holds other goroutines too (idle
    /// connections' writeLoops) when its count is larger than `connections`.
    pub write_loops: Option<usize>,
    /// This group is the readLoops: it reports the leak.
    #[serde(skip)]
    pub reports: bool,
    /// Goroutines of the writeLoops' group shown with this one: all of it, when every
    /// goroutine of it belongs to these connections; none otherwise.
    #[serde(skip)]
    pub write_loops_shown_here: u64,
    /// Where the writeLoops wait.
    #[serde(skip)]
    pub write_loop: Option<Frame>,
}

impl HeldConnections {
    /// The wire form of what `assessment` says of the group at `own` in its snapshot.
    fn of(
        tables: &Tables,
        snapshot: &Snapshot,
        group: &CoreGroup,
        assessment: &Assessment,
        doc_index: &dyn Fn(usize) -> Option<usize>,
    ) -> Option<HeldConnections> {
        let held = assessment.held_connections?;
        let own = own_index(snapshot, group);
        let write_loop = tables
            .frames(snapshot.groups[held.write_loops].stack)
            .iter()
            .find(|&&f| {
                tables
                    .bytes(tables.get_frame(f).function)
                    .ends_with(b".writeLoop")
            })
            .map(|&f| Frame::of(tables, f, None));
        Some(HeldConnections {
            connections: held.connections,
            goroutines: held.goroutines(),
            read_loops: doc_index(held.read_loops),
            write_loops: doc_index(held.write_loops),
            reports: own == Some(held.read_loops),
            write_loops_shown_here: if held.whole_write_group {
                held.connections
            } else {
                0
            },
            write_loop,
        })
    }
}

/// One way out of a group's wait, and whether it can still happen.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExitCondition {
    /// `cancel`, `done_channel`, `timer`, `ticker`, `channel`, `default`, `return`,
    /// `break`, `loop_condition`, `close`, `sleep`, `wait_group`, `unlock`, `signal`.
    #[serde(serialize_with = "names::exit_kind")]
    pub kind: ExitKind,
    /// The file, as the dump names it.
    pub file: String,
    /// The line.
    pub line: u32,
    /// The code there.
    pub code: String,
    /// `true`, `false` or `"unknown"`.
    #[serde(serialize_with = "names::possibility")]
    pub can_happen: Possibility,
    /// Why, in a sentence.
    pub why: String,
    /// For a way out that comes by itself (a timer, a sleep, a deadline): after how many
    /// seconds in all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_secs: Option<f64>,
    /// And how many are left for the group's longest waiter, by the dump's wait time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub left_secs: Option<f64>,
}

impl ExitCondition {
    /// The ways out an assessment read from the source, when it read it.
    pub fn all_of(assessment: &Assessment) -> Option<Vec<ExitCondition>> {
        let exits = assessment.exits.as_ref()?;
        Some(exits.conditions.iter().map(ExitCondition::from).collect())
    }

    /// Why the source at hand was not used for the assessment, said as the user reads it.
    pub fn mismatch_of(assessment: &Assessment) -> Option<String> {
        assessment
            .source_mismatch
            .as_ref()
            .map(|why| format!("source does not match the binary: {why}"))
    }
}

impl From<&exits::ExitCondition> for ExitCondition {
    fn from(c: &exits::ExitCondition) -> Self {
        ExitCondition {
            kind: c.kind,
            file: c.file.clone(),
            line: c.line,
            code: c.code.clone(),
            can_happen: c.can_happen,
            why: c.why.clone(),
            after_secs: c.deadline.map(|d| d.after_secs),
            left_secs: c.deadline.and_then(|d| d.left_secs),
        }
    }
}

/// A position in the program.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Site {
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

impl Site {
    /// The leak site of an assessment, with the line of source read there.
    pub fn of(tables: &Tables, assessment: &Assessment) -> Option<Site> {
        assessment.leak_site.map(|f| {
            let frame = tables.get_frame(f);
            Site {
                function: tables.str(frame.function).into_owned(),
                file: tables.str(frame.file).into_owned(),
                line: frame.line,
                source: assessment.exits.as_ref().map(|s| s.text.clone()),
            }
        })
    }
}

/// A recorded leak site.
impl From<&history::Site> for Site {
    fn from(site: &history::Site) -> Self {
        Site {
            function: site.function.clone(),
            file: site.file.clone(),
            line: site.line,
            source: site.source.clone(),
        }
    }
}

/// A range.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct MinMax {
    /// Smallest.
    pub min: u32,
    /// Largest.
    pub max: u32,
}

/// A label set and how many goroutines carried it.
#[derive(Clone, Debug, Serialize)]
pub struct Labels {
    /// Key → value, in the order the runtime printed them; the wire sorts them by key.
    #[serde(serialize_with = "names::pairs")]
    pub labels: Vec<(String, String)>,
    /// Goroutines with exactly this set.
    pub count: u64,
}

/// One frame.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Frame {
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
    /// Whose code it is.
    #[serde(skip)]
    pub origin: Origin,
    /// This is the group's leak site (a recursive stack can hold it more than once).
    #[serde(skip)]
    pub leak_site: bool,
}

impl Frame {
    /// The wire form of one frame.
    pub fn of(tables: &Tables, id: FrameId, args: Option<&[u8]>) -> Frame {
        let frame = tables.get_frame(id);
        Frame {
            function: tables.str(frame.function).into_owned(),
            file: tables.str(frame.file).into_owned(),
            line: frame.line,
            offset: frame.offset,
            inlined: frame.inlined,
            args: args
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned()),
            origin: origin(tables, id),
            leak_site: false,
        }
    }

    /// Whether `other` is the same code position: the frame a recursive stack repeats.
    pub fn same_place(&self, other: &Frame) -> bool {
        (
            &self.function,
            &self.file,
            self.line,
            self.offset,
            self.inlined,
        ) == (
            &other.function,
            &other.file,
            other.line,
            other.offset,
            other.inlined,
        )
    }

    /// The frames of a stack, without arguments.
    pub fn stack(tables: &Tables, frames: &[FrameId]) -> Vec<Frame> {
        frames.iter().map(|&f| Frame::of(tables, f, None)).collect()
    }
}

/// A recorded frame: its arguments are not recorded.
impl From<&history::Frame> for Frame {
    fn from(frame: &history::Frame) -> Self {
        Frame {
            function: frame.function.clone(),
            file: frame.file.clone(),
            line: frame.line,
            offset: frame.offset,
            inlined: frame.inlined,
            args: None,
            origin: origin_of(frame.function.as_bytes(), frame.file.as_bytes()),
            leak_site: false,
        }
    }
}

/// Frames the runtime left out.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Elided {
    /// Index in `frames` where frames are missing.
    pub at: usize,
    /// How many, when the runtime said; none when it cut the outermost frames.
    pub count: Option<u64>,
}

/// The `created by` of a group.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Creator {
    /// The function holding the `go` statement.
    pub function: String,
    /// Its file.
    pub file: String,
    /// The line of the `go` statement.
    pub line: u32,
    /// The parent goroutine id, when every goroutine of the group has the same one.
    pub goroutine: Option<u64>,
    /// Whose code the `go` statement is in.
    #[serde(skip)]
    pub origin: Origin,
    /// The parent is still in the dump.
    #[serde(skip)]
    pub parent_alive: bool,
}

/// A recorded `go` statement: its parent goroutine is not recorded.
impl From<&history::Creator> for Creator {
    fn from(creator: &history::Creator) -> Self {
        Creator {
            function: creator.function.clone(),
            file: creator.file.clone(),
            line: creator.line,
            goroutine: None,
            origin: origin_of(creator.function.as_bytes(), creator.file.as_bytes()),
            parent_alive: false,
        }
    }
}

/// Where some of a group's parent goroutines are.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Parent {
    /// Index in `groups` of the parent's group, or null when the parent exited.
    pub group: Option<usize>,
    /// The parent is not in the dump any more.
    pub exited: bool,
    /// How many goroutines of the group have a parent there.
    pub count: u64,
}

/// A data race report.
#[derive(Clone, Debug, Serialize)]
pub struct Race {
    /// The input.
    pub source: String,
    /// Its sections.
    pub sections: Vec<RaceSection>,
}

/// One section of a race report.
#[derive(Clone, Debug, Serialize)]
pub struct RaceSection {
    /// The title line.
    pub title: String,
    /// `access`, `creation` or `other`.
    #[serde(serialize_with = "names::race_section")]
    pub kind: RaceSectionKind,
    /// The access wrote.
    pub write: bool,
    /// The goroutine named.
    pub goroutine: Option<u64>,
    /// Its stack.
    pub frames: Vec<Frame>,
}

impl Race {
    /// The wire form of a race report read from `source`.
    pub fn of(tables: &Tables, source: &str, race: &RaceReport) -> Race {
        Race {
            source: source.to_string(),
            sections: race
                .sections
                .iter()
                .map(|s| RaceSection {
                    title: s.title.clone(),
                    kind: s.kind,
                    write: matches!(s.kind, RaceSectionKind::Access { write: true, .. }),
                    goroutine: s.goroutine,
                    frames: Frame::stack(tables, tables.frames(s.stack)),
                })
                .collect(),
        }
    }
}

/// A warning about an input.
#[derive(Clone, Debug, Serialize)]
pub struct Warning {
    /// The input.
    pub source: String,
    /// Line number, when known.
    pub line: Option<u64>,
    /// What happened.
    pub message: String,
}

impl Warning {
    /// The warnings of a capture read from `source`.
    pub fn all_of(source: &str, capture: &Capture) -> Vec<Warning> {
        capture
            .warnings
            .iter()
            .map(|w| Warning {
                source: source.to_string(),
                line: w.line,
                message: w.message.clone(),
            })
            .collect()
    }
}

impl Group {
    /// The wire form of one group of `snapshot`; `doc_index` turns a group index of the
    /// snapshot into its index in the document's `groups`, so parent references point there.
    pub fn of(
        tables: &Tables,
        snapshot: &Snapshot,
        group: &CoreGroup,
        assessment: &Assessment,
        dump: usize,
        doc_index: &dyn Fn(usize) -> Option<usize>,
    ) -> Group {
        let stack = tables.frames(group.stack);
        let frames = stack
            .iter()
            .enumerate()
            .map(|(i, &f)| {
                let mut frame = Frame::of(tables, f, group.example.args.get(i).map(|a| &a[..]));
                frame.leak_site = Some(f) == assessment.leak_site;
                frame
            })
            .collect();
        Group {
            dump,
            signature: group.signature,
            count: group.count,
            state: group.state().map(|s| tables.str(s).into_owned()),
            states: group
                .states
                .iter()
                .map(|&(s, n)| (s.map(|s| tables.str(s).into_owned()), n))
                .collect(),
            proven: group.proven(),
            leaked: group.leaked,
            wait_minutes: group.wait_minutes.map(|(min, max)| MinMax { min, max }),
            locked_to_thread: group.locked_to_thread,
            labels: group
                .labels
                .iter()
                .map(|&(set, count)| Labels {
                    labels: tables
                        .label_pairs(set)
                        .iter()
                        .map(|&(k, v)| (tables.str(k).into_owned(), tables.str(v).into_owned()))
                        .collect(),
                    count,
                })
                .collect(),
            frames,
            elided: group.example.elided.map(|e| match e {
                Elision::Middle { after, count } => Elided {
                    at: after,
                    count: Some(count),
                },
                Elision::Tail => Elided {
                    at: stack.len(),
                    count: None,
                },
            }),
            created_by: group.created_by.map(|c| {
                let frame = tables.get_frame(c);
                Creator {
                    function: tables.str(frame.function).into_owned(),
                    file: tables.str(frame.file).into_owned(),
                    line: frame.line,
                    goroutine: group.parent,
                    origin: origin(tables, c),
                    parent_alive: group
                        .parent
                        .is_some_and(|p| snapshot.goroutines.get(p).is_some()),
                }
            }),
            parents: group
                .parents
                .iter()
                .map(|&(place, count)| match place {
                    ParentRef::Group(g) => Parent {
                        group: doc_index(g),
                        exited: false,
                        count,
                    },
                    ParentRef::Exited => Parent {
                        group: None,
                        exited: true,
                        count,
                    },
                })
                .collect(),
            ids: group.ids.clone(),
            truncated: group.truncated,
            verdict: assessment.verdict,
            why: assessment.why.clone(),
            blocking: assessment.blocking,
            leak_site: Site::of(tables, assessment),
            pattern: assessment.pattern.map(|p| p.id),
            hint: assessment.hint(),
            exit_conditions: ExitCondition::all_of(assessment),
            source_mismatch: ExitCondition::mismatch_of(assessment),
            held_connections: HeldConnections::of(tables, snapshot, group, assessment, doc_index),
            reported_with: assessment
                .held_connections
                .filter(|h| {
                    h.whole_write_group && own_index(snapshot, group) == Some(h.write_loops)
                })
                .and_then(|h| doc_index(h.read_loops)),
            durable: group.durable,
            has_states: snapshot.has_states(),
            waits_in: assessment
                .blocking_frame
                .and_then(|f| stack.iter().position(|&g| g == f)),
            named_by: named_by(tables, group, assessment),
        }
    }

    /// Goroutines this group's entry stands for: its own, and those of a group reported
    /// with it.
    pub fn reported_count(&self) -> u64 {
        let with = self
            .held_connections
            .as_ref()
            .filter(|h| h.reports)
            .map_or(0, |h| h.write_loops_shown_here);
        self.count + with
    }

    /// The wait reasons seen, named (formats without states have none).
    pub fn named_states(&self) -> impl Iterator<Item = (&str, u64)> {
        self.states
            .iter()
            .filter_map(|(s, n)| s.as_deref().map(|s| (s, *n)))
    }
}

/// The index of `group` in its snapshot (a search: only for the few groups that need it).
fn own_index(snapshot: &Snapshot, group: &CoreGroup) -> Option<usize> {
    snapshot.groups.iter().position(|g| std::ptr::eq(g, group))
}

/// What a group is named by when it is shown in one line.
fn named_by(tables: &Tables, group: &CoreGroup, assessment: &Assessment) -> Option<String> {
    let function = |f: FrameId| tables.str(tables.get_frame(f).function).into_owned();
    // The runtime's own goroutines have no leak site: name them by the function they run.
    let entry = || {
        tables
            .frames(group.stack)
            .iter()
            .rev()
            .map(|&f| function(f))
            .find(|name| {
                name != "runtime.goexit" && !goleash_core::signature::is_wrapper(name.as_bytes())
            })
    };
    // Infrastructure idles deep in the standard library (`internal/poll.runtime_pollWait`):
    // the frame its pattern recognised says more.
    let recognised = || {
        let prefixes = assessment.pattern?.when.any_frame;
        tables
            .frames(group.stack)
            .iter()
            .map(|&f| function(f))
            .find(|name| prefixes.iter().any(|p| name.starts_with(p)))
    };
    // A server is named by the loop that calls its listener's Accept (`net/rpc`'s, gRPC's),
    // not by the poller inside the listener.
    let accepting = || {
        assessment.pattern.filter(|p| p.id == "accept-loop")?;
        tables
            .frames(group.stack)
            .iter()
            .find(|&&f| {
                origin(tables, f) != Origin::Runtime
                    && !matches!(
                        goleash_core::code::package_of(tables.bytes(tables.get_frame(f).function)),
                        b"internal/poll" | b"net"
                    )
            })
            .map(|&f| function(f))
    };
    assessment
        .leak_site
        .filter(|&f| origin(tables, f) == Origin::User)
        .map(function)
        .or_else(accepting)
        .or_else(recognised)
        .or_else(|| assessment.leak_site.map(function))
        .or_else(entry)
}
