//! Telling leaks from long-lived goroutines.
//!
//! For every group: what it is blocked in (read from the wait reason, or from the stack where
//! the format has none), where in the program's own code (the leak site), and a verdict from
//! the evidence at hand, strongest first:
//!
//! 1. the runtime's proof: `(leaked)` from the goroutineleak profile, or a deadlock report;
//! 2. what the goroutine is: infrastructure of the runtime, the standard library or a
//!    well-known library ([`crate::kb`]);
//! 3. growth between snapshots: a group that grew and waits on something that cannot end by
//!    itself is a leak;
//! 4. the shape of one snapshot: a goroutine that outlived its creator waiting on a channel
//!    is a suspect; one loop, or a small pool, started by a goroutine still alive is by
//!    design.
//!
//! With the program's source at hand, the ways out of the wait ([`crate::exits`]) come
//! between 2 and 3: a group whose only way out is a timer lingers, one that a live
//! goroutine can cancel is by design, and one with no way out at all is a leak as soon as
//! it grows, the program should be idle, or its test has ended.
//!
//! Verdicts never depend on the names of the program's own functions.

use std::borrow::Cow;

use rustc_hash::FxHashMap;

use crate::code::{Origin, origin};
use crate::exits::{self, ExitCondition, ExitKind, Exits, Possibility, Statement};
pub use crate::exits::{NoSource, SourceLookup};
use crate::group::{Group, ParentRef, Snapshot};
use crate::intern::{FrameId, Tables};
use crate::kb::{self, Kind, PATTERNS, Pattern};
pub use crate::model::Blocking;
use crate::model::CauseKind;

/// How sure goleash is that a group leaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verdict {
    /// Proven by the runtime, or grew while blocked on something that cannot end by itself.
    Leak,
    /// Looks stuck, but one snapshot cannot prove it (or it has a plausible way out).
    Suspect,
    /// Blocked, but something will wake it: a timer, I/O.
    Lingering,
    /// Long-lived by design: infrastructure, a loop, a pool, running code.
    Expected,
}

impl Verdict {
    /// The name used in JSON and text.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Leak => "leak",
            Verdict::Suspect => "suspect",
            Verdict::Lingering => "lingering",
            Verdict::Expected => "expected",
        }
    }
}

/// What the dump's moment says about goroutines that wait.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Moment {
    /// A live program: goroutines may be mid-request.
    #[default]
    Live,
    /// The program should have been idle (tests finished, goleak's check): whatever waits on
    /// another goroutine is left over.
    Quiescent,
    /// The test that started the group has ended (`goleash test`, from an execution trace):
    /// the group is left over from it, so whatever waits on another goroutine leaks, even
    /// a single goroutine or a pool whose creator is still alive (long-lived by design at
    /// [`Moment::Quiescent`]): that creator is a leftover of the same test.
    TestEnded,
}

/// How a group's count changed between two snapshots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Growth {
    /// Goroutines in the earlier snapshot (0 when the group is new).
    pub before: u64,
    /// Goroutines in the later one.
    pub after: u64,
}

impl Growth {
    /// Whether the group grew.
    pub fn grew(self) -> bool {
        self.after > self.before
    }
}

/// The classification of one group.
#[derive(Clone, Debug)]
pub struct Assessment {
    /// What the goroutines wait for.
    pub blocking: Blocking,
    /// The innermost frame that is not the runtime's: where the wait is.
    pub blocking_frame: Option<FrameId>,
    /// The innermost frame in the program's own code (or of a dependency, or the standard
    /// library, when that is all there is).
    pub leak_site: Option<FrameId>,
    /// The verdict.
    pub verdict: Verdict,
    /// The evidence, in a sentence.
    pub why: String,
    /// The knowledge-base entry that matched.
    pub pattern: Option<&'static Pattern>,
    /// What the source says about the leak site: the line, and every way out of the wait
    /// with whether it can still happen. `None` without source, or when it does not match.
    pub exits: Option<Exits>,
    /// Why the source at hand is not what the binary was built from: the verdict then
    /// rests on the dump alone.
    pub source_mismatch: Option<String>,
    /// The fix this group's code needs, read from its source (the method that closes its
    /// done channel, the caller that must cancel its context, or that there is no way to stop
    /// it): said instead of the pattern's general hint.
    pub fix: Option<String>,
    /// The HTTP client connections a response body never closed holds, when this group is
    /// their readLoops or their writeLoops ([`pair_held_connections`]).
    pub held_connections: Option<HeldConnections>,
}

/// HTTP client connections held open by response bodies nobody closed. Each keeps two
/// goroutines, its readLoop (waiting for the body to be closed) and its writeLoop, in two
/// groups of different stacks that are one leak.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeldConnections {
    /// The group of the readLoops, by index in [`Snapshot::groups`].
    pub read_loops: usize,
    /// The group their writeLoops are in.
    pub write_loops: usize,
    /// How many connections: the leak is twice as many goroutines.
    pub connections: u64,
    /// Every goroutine of the writeLoops' group belongs to these connections (otherwise
    /// the rest are the writeLoops of idle keep-alive connections).
    pub whole_write_group: bool,
}

impl HeldConnections {
    /// Goroutines of the leak: a readLoop and a writeLoop per connection.
    pub fn goroutines(&self) -> u64 {
        2 * self.connections
    }
}

impl Assessment {
    /// What to do about it, for groups that are not fine: what the source says the code
    /// needs, else the hint of the matched pattern.
    pub fn hint(&self) -> Option<Cow<'static, str>> {
        match (self.verdict, self.pattern) {
            (Verdict::Expected, _) => None,
            _ if self.fix.is_some() => self.fix.clone().map(Cow::Owned),
            (_, Some(p)) if !p.hint.is_empty() => Some(Cow::Borrowed(p.hint)),
            _ => None,
        }
    }
}

/// What the group's goroutines wait for, independent of any verdict: what their input said
/// they wait for, else what their wait reason and stack reveal.
pub fn blocking_of(tables: &Tables, group: &Group) -> Blocking {
    if let Some(blocking) = group.blocking() {
        return blocking;
    }
    if let Some(reason) = group.state() {
        let from_state = match tables.bytes(reason) {
            b"chan receive" => Some(Blocking::ChanReceive),
            b"chan send" => Some(Blocking::ChanSend),
            b"chan receive (nil chan)" => Some(Blocking::ChanReceiveNil),
            b"chan send (nil chan)" => Some(Blocking::ChanSendNil),
            b"select" => Some(Blocking::Select),
            b"select (no cases)" => Some(Blocking::SelectNoCases),
            b"sync.WaitGroup.Wait" => Some(Blocking::WaitGroup),
            b"sync.Mutex.Lock" => Some(Blocking::Mutex),
            b"sync.RWMutex.RLock" => Some(Blocking::RWMutexRead),
            b"sync.RWMutex.Lock" => Some(Blocking::RWMutexWrite),
            b"sync.Cond.Wait" => Some(Blocking::Cond),
            b"sleep" => Some(Blocking::Sleep),
            b"IO wait" => Some(Blocking::IoWait),
            b"syscall" | b"waiting for cgo callback" => Some(Blocking::Syscall),
            b"running" => Some(Blocking::Running),
            b"runnable" | b"preempted" => Some(Blocking::Runnable),
            // Before Go 1.24-1.25 sync waits all said semacquire; the stack tells which.
            b"semacquire" => None,
            b"idle"
            | b"finalizer wait"
            | b"force gc (idle)"
            | b"GC sweep wait"
            | b"GC scavenge wait"
            | b"GC worker (idle)"
            | b"GC worker (active)"
            | b"GOMAXPROCS updater (idle)"
            | b"cleanup wait"
            | b"trace reader (blocked)"
            | b"garbage collection"
            | b"GC assist wait"
            | b"GC assist marking"
            | b"wait for GC cycle"
            | b"timer goroutine (idle)"
            | b"debug call"
            | b"dumping heap"
            | b"panicwait"
            | b"synctest.Run"
            | b"synctest.Wait" => Some(Blocking::Runtime),
            _ => Some(Blocking::Unknown),
        };
        if let Some(blocking) = from_state {
            return blocking;
        }
    }
    let frames = tables.frames(group.stack);
    // The sync API frame says which primitive a semaphore wait is for (Go before 1.24 and
    // debug=1 show only `sync.runtime_Semacquire…` below it); it sits right under the
    // runtime frames, before the program's own code.
    let below_user = frames
        .iter()
        .take_while(|&&f| origin(tables, f) != Origin::User)
        .map(|&f| tables.bytes(tables.get_frame(f).function));
    for function in below_user {
        let specific = match function {
            b"sync.(*WaitGroup).Wait" => Some(Blocking::WaitGroup),
            b"sync.(*Mutex).Lock" => Some(Blocking::Mutex),
            b"sync.(*RWMutex).RLock" => Some(Blocking::RWMutexRead),
            b"sync.(*RWMutex).Lock" => Some(Blocking::RWMutexWrite),
            b"sync.(*Cond).Wait" => Some(Blocking::Cond),
            _ => None,
        };
        if let Some(blocking) = specific {
            return blocking;
        }
    }
    for &frame in frames {
        if let Some(blocking) = blocking_function(tables.bytes(tables.get_frame(frame).function)) {
            return blocking;
        }
    }
    // debug=1 prints no runtime frames, but its `@` list still has their PCs: two hidden
    // frames (gopark, selectgo) are a select, three (gopark, chanrecv, chanrecv1 or the
    // send equivalents) a channel operation.
    if group.states.iter().all(|(s, _)| s.is_none()) && !group.example.pcs.is_empty() {
        let physical = frames
            .iter()
            .filter(|&&f| !tables.get_frame(f).inlined)
            .count();
        let runtime_shown = frames
            .iter()
            .take_while(|&&f| origin(tables, f) == Origin::Runtime)
            .count();
        if runtime_shown == 0 {
            match group.example.pcs.len().checked_sub(physical + 1) {
                Some(2) => return Blocking::Select,
                Some(3) => return Blocking::ChanOp,
                _ => {}
            }
        }
    }
    if frames.iter().all(|&f| origin(tables, f) == Origin::Runtime) && !frames.is_empty() {
        return Blocking::Runtime;
    }
    // Profiles catch a goroutine that was created but has not run yet with no frames but
    // `runtime.goexit` (debug=1) or none at all (debug=0).
    if frames.is_empty() && !group.example.stack_unavailable {
        return Blocking::Runnable;
    }
    Blocking::Unknown
}

/// What a group waits in, in words: the wait reason its dump printed, else the operation
/// its input said it waits for, else the one `assessment` read from its stack.
pub fn state_name<'t>(tables: &'t Tables, group: &Group, assessment: &Assessment) -> Cow<'t, str> {
    match group.state() {
        Some(reason) => tables.str(reason),
        None => Cow::Borrowed(group.blocking().unwrap_or(assessment.blocking).name()),
    }
}

/// The operation a function of the runtime or `sync` blocks in.
fn blocking_function(function: &[u8]) -> Option<Blocking> {
    Some(match function {
        b"runtime.chanrecv1" | b"runtime.chanrecv2" | b"runtime.chanrecv" => Blocking::ChanReceive,
        b"runtime.chansend1" | b"runtime.chansend" => Blocking::ChanSend,
        b"runtime.selectgo" => Blocking::Select,
        b"runtime.block" => Blocking::SelectNoCases,
        b"sync.runtime_SemacquireWaitGroup" | b"sync.(*WaitGroup).Wait" => Blocking::WaitGroup,
        b"sync.runtime_SemacquireRWMutexR" | b"sync.(*RWMutex).RLock" => Blocking::RWMutexRead,
        b"sync.runtime_SemacquireRWMutex" | b"sync.(*RWMutex).Lock" => Blocking::RWMutexWrite,
        b"internal/sync.runtime_SemacquireMutex"
        | b"sync.runtime_SemacquireMutex"
        | b"internal/sync.(*Mutex).Lock"
        | b"internal/sync.(*Mutex).lockSlow"
        | b"sync.(*Mutex).Lock"
        | b"sync.(*Mutex).lockSlow" => Blocking::Mutex,
        b"sync.runtime_notifyListWait" | b"sync.(*Cond).Wait" => Blocking::Cond,
        b"time.Sleep" | b"runtime.timeSleep" => Blocking::Sleep,
        b"internal/poll.runtime_pollWait" | b"runtime.netpollblock" => Blocking::IoWait,
        b"runtime.cgocall"
        | b"syscall.Syscall"
        | b"syscall.Syscall6"
        | b"syscall.RawSyscall"
        | b"syscall.RawSyscall6"
        | b"syscall.syscall"
        | b"syscall.rawsyscall" => Blocking::Syscall,
        _ if function.starts_with(b"internal/runtime/syscall.") => Blocking::Syscall,
        _ if function.starts_with(b"sync.runtime_Semacquire") => Blocking::Semaphore,
        _ => return None,
    })
}

/// The innermost frame not of the runtime, and the leak site.
pub fn sites(tables: &Tables, group: &Group) -> (Option<FrameId>, Option<FrameId>) {
    let frames = tables.frames(group.stack);
    let origins: Vec<Origin> = frames.iter().map(|&f| origin(tables, f)).collect();
    let blocking = frames
        .iter()
        .zip(&origins)
        .find(|(_, o)| **o != Origin::Runtime)
        .map(|(&f, _)| f);
    let first = |wanted: Origin| {
        frames
            .iter()
            .zip(&origins)
            .find(|(_, o)| **o == wanted)
            .map(|(&f, _)| f)
    };
    let leak_site = first(Origin::User)
        .or_else(|| first(Origin::Dependency))
        .or(blocking);
    (blocking, leak_site)
}

/// The facts a pattern is matched against.
struct Facts<'a> {
    functions: Vec<&'a [u8]>,
    blocking: Blocking,
    has_user_frames: bool,
    only_runtime: bool,
    exits: Option<&'a Exits>,
    several_per_parent: bool,
    /// An HTTP server's connection goroutine that waits inside the program's handler: a
    /// request, which should end, however long its parent (the accept loop) lives.
    serving_request: bool,
    test_ended: bool,
    new_server: bool,
}

fn matches(pattern: &Pattern, facts: &Facts<'_>) -> bool {
    let when = &pattern.when;
    (when.any_frame.is_empty()
        || when.any_frame.iter().any(|prefix| {
            facts
                .functions
                .iter()
                .any(|f| f.starts_with(prefix.as_bytes()))
        }))
        && (when.blocking.is_empty() || when.blocking.contains(&facts.blocking))
        && (!when.no_user_frames || !facts.has_user_frames)
        && (!when.only_runtime || facts.only_runtime)
        && (!when.several_per_parent || facts.several_per_parent)
        && (!when.after_test || facts.test_ended)
        && when
            .source
            .is_none_or(|shape| facts.exits.is_some_and(|s| kb::source_has_shape(s, shape)))
}

/// Options for [`assess`].
#[derive(Clone, Debug, Default)]
pub struct AssessOptions {
    /// What the moment of the dump says.
    pub moment: Moment,
    /// Goroutines of servers between connections ([`server_goroutines`]) in the baseline
    /// the snapshot is compared with, when it is: a server is long-lived by design only if
    /// it was there all along.
    pub baseline_servers: Option<u64>,
}

/// Goroutines of a snapshot that are servers between connections: blocked in a listener's
/// Accept, whatever loop calls it.
pub fn server_goroutines(tables: &Tables, snapshot: &Snapshot) -> u64 {
    snapshot
        .groups
        .iter()
        .filter(|g| is_server(tables, g))
        .map(|g| g.count)
        .sum()
}

fn is_server(tables: &Tables, group: &Group) -> bool {
    blocking_of(tables, group) == Blocking::IoWait
        && tables.frames(group.stack).iter().any(|&f| {
            let function = tables.bytes(tables.get_frame(f).function);
            ACCEPTS.iter().any(|a| function.starts_with(a.as_bytes()))
        })
}

/// Where a listener's Accept waits for the network.
const ACCEPTS: [&str; 2] = ["internal/poll.(*FD).Accept", "net.(*netFD).accept"];

/// Classifies one group of a snapshot. `growth` is how the group changed since an earlier
/// snapshot of the same program, when there is one.
pub fn assess(
    tables: &Tables,
    snapshot: &Snapshot,
    group: &Group,
    growth: Option<Growth>,
    options: &AssessOptions,
    source: &dyn SourceLookup,
) -> Assessment {
    let (blocking_frame, leak_site) = sites(tables, group);
    let frames = tables.frames(group.stack);
    let origins: Vec<Origin> = frames.iter().map(|&f| origin(tables, f)).collect();
    let blocking = blocking_of(tables, group);
    let analysis = leak_site
        .filter(|&f| origin(tables, f).is_user())
        .map(|f| exits::analyse(tables, snapshot, group, blocking, f, source))
        .unwrap_or_default();
    // debug=1 cannot tell a send from a receive, nor `select {}` from a select with cases;
    // the code can.
    let blocking = match (blocking, analysis.exits.as_ref().map(|e| e.statement)) {
        (Blocking::ChanOp, Some(Statement::Send)) => Blocking::ChanSend,
        (Blocking::ChanOp, Some(Statement::Receive { .. })) => Blocking::ChanReceive,
        (Blocking::Select, Some(Statement::Select { cases: 0 })) => Blocking::SelectNoCases,
        (blocking, _) => blocking,
    };
    // Goroutines of a pool share a parent; so do goroutines one caller started one at a
    // time, which are not a pool (requests on one keep-alive connection run on the same
    // goroutine). Only the source can tell: a pool's `go` statement is in a loop.
    let shared_parent = group.parent_runs > 0 && group.count >= 2 * group.parent_runs;
    let started_in_loop = group
        .created_by
        .filter(|&f| origin(tables, f).is_user())
        .and_then(|f| exits::started_in_loop(tables, f, source));
    let facts = Facts {
        // Wrappers are the `go` statement, not the code running: a SIGQUIT dump's
        // `Server.Serve.gowrap3` under a connection is not the accept loop.
        functions: frames
            .iter()
            .map(|&f| tables.bytes(tables.get_frame(f).function))
            .filter(|f| !crate::signature::is_wrapper(f))
            .collect(),
        blocking,
        has_user_frames: origins.iter().any(|o| o.is_user()),
        only_runtime: !origins.is_empty() && origins.iter().all(|&o| o == Origin::Runtime),
        exits: analysis.exits.as_ref(),
        several_per_parent: shared_parent && started_in_loop == Some(true),
        serving_request: origins.iter().any(|o| o.is_user())
            && group.created_by.is_some_and(|f| {
                tables.bytes(tables.get_frame(f).function) == b"net/http.(*Server).Serve"
            }),
        test_ended: options.moment == Moment::TestEnded,
        // New since the baseline, and more servers than there were: not the same servers
        // moved to other lines by a new build.
        new_server: growth.is_some_and(|g| g.before == 0 && g.after > 0)
            && options.baseline_servers.is_some_and(|before| {
                is_server(tables, group) && server_goroutines(tables, snapshot) > before
            }),
    };
    let pattern = PATTERNS.iter().find(|p| matches(p, &facts));
    let (verdict, why) = decide(snapshot, group, &facts, pattern, growth, options.moment);
    // A wait that ends by itself (lingering) is better served by its pattern's hint.
    let fix = match (&analysis.exits, leak_site) {
        (Some(exits), Some(site)) if matches!(verdict, Verdict::Leak | Verdict::Suspect) => {
            exits::how_to_stop(tables, group, site, exits, source)
        }
        _ => None,
    };
    Assessment {
        blocking,
        blocking_frame,
        leak_site,
        verdict,
        why,
        pattern,
        exits: analysis.exits,
        source_mismatch: analysis.mismatch,
        fix,
        held_connections: None,
    }
}

/// The pattern of a readLoop parked on a response body its caller never closed.
const HELD_BY_BODY: &str = "http-response-open";

/// Every group of `snapshot` judged ([`assess`]), then the groups that are one leak between
/// them tied together ([`pair_held_connections`]). `growth` gives a group's change since
/// an earlier snapshot, by index.
pub fn assess_all(
    tables: &Tables,
    snapshot: &Snapshot,
    growth: &dyn Fn(usize) -> Option<Growth>,
    options: &AssessOptions,
    source: &dyn SourceLookup,
) -> Vec<Assessment> {
    let mut assessments: Vec<Assessment> = snapshot
        .groups
        .iter()
        .enumerate()
        .map(|(i, group)| assess(tables, snapshot, group, growth(i), options, source))
        .collect();
    pair_held_connections(tables, snapshot, &mut assessments);
    assessments
}

/// Ties the readLoops of HTTP client connections a response body holds to their
/// writeLoops, so that the two groups are judged, explained and fixed as one leak of two
/// goroutines per connection. A connection's two goroutines share the goroutine that
/// dialled it, so with parent ids (tracebacks) each writeLoop is matched to a readLoop by
/// it; without them (profiles) the readLoop's wait says the body is open and the counts
/// pair: the connections held are the readLoops, up to as many writeLoops as there are.
/// `assessments` are those of `snapshot`'s groups, by index.
pub fn pair_held_connections(tables: &Tables, snapshot: &Snapshot, assessments: &mut [Assessment]) {
    let read_groups: Vec<usize> = assessments
        .iter()
        .enumerate()
        .filter(|(_, a)| a.pattern.is_some_and(|p| p.id == HELD_BY_BODY))
        .map(|(i, _)| i)
        .collect();
    if read_groups.is_empty() {
        return;
    }
    let mut write_groups: Vec<(usize, u64)> = snapshot
        .groups
        .iter()
        .enumerate()
        .filter(|(_, g)| is_write_loop(tables, g))
        .map(|(i, g)| (i, g.count))
        .collect();
    let mut pairs = Vec::new();
    let with_parents = read_groups
        .iter()
        .all(|&r| !snapshot.groups[r].parents.is_empty());
    if with_parents {
        let mut dialer_of: FxHashMap<u64, usize> = FxHashMap::default();
        for (_, parent, group) in snapshot.goroutines.iter() {
            if let Some(parent) = parent
                && read_groups.contains(&group)
            {
                dialer_of.insert(parent, group);
            }
        }
        let mut matched: FxHashMap<(usize, usize), u64> = FxHashMap::default();
        for (_, parent, group) in snapshot.goroutines.iter() {
            if let Some(&read) = parent.and_then(|p| dialer_of.get(&p))
                && write_groups.iter().any(|&(w, _)| w == group)
            {
                *matched.entry((read, group)).or_default() += 1;
            }
        }
        pairs.extend(matched.into_iter().map(|((r, w), n)| (r, w, n)));
        pairs.sort_unstable();
    } else {
        for &r in &read_groups {
            // The writeLoops with room left, the fullest group first.
            let Some(slot) = write_groups
                .iter_mut()
                .filter(|(_, left)| *left > 0)
                .max_by_key(|(w, left)| (*left, std::cmp::Reverse(*w)))
            else {
                break;
            };
            let n = snapshot.groups[r].count.min(slot.1);
            slot.1 -= n;
            pairs.push((r, slot.0, n));
        }
    }
    for (read_loops, write_loops, connections) in pairs {
        let held = HeldConnections {
            read_loops,
            write_loops,
            connections,
            whole_write_group: connections == snapshot.groups[write_loops].count,
        };
        let read = &mut assessments[read_loops];
        read.why = if connections == 1 {
            format!(
                "an HTTP client connection held by a response body never closed, with its \
                 readLoop and its writeLoop: {}",
                read.why
            )
        } else {
            format!(
                "{connections} HTTP client connections held by response bodies never closed, \
                 each with its readLoop and its writeLoop ({} goroutines): {}",
                held.goroutines(),
                read.why
            )
        };
        read.held_connections = Some(held);
        let (verdict, pattern) = (read.verdict, read.pattern);
        let write = &mut assessments[write_loops];
        if held.whole_write_group {
            write.verdict = verdict;
            write.pattern = pattern;
            write.why = if connections == 1 {
                "the writeLoop of an HTTP client connection whose readLoop waits for a response \
                 body never closed"
                    .to_string()
            } else {
                format!(
                    "the writeLoops of {connections} HTTP client connections whose readLoops \
                     wait for response bodies never closed"
                )
            };
        } else {
            write.why = format!(
                "{}; {connections} of these {} are the writeLoops of connections held by \
                 response bodies never closed",
                write.why, snapshot.groups[write_loops].count
            );
        }
        write.held_connections = Some(held);
    }
}

/// A writeLoop of an HTTP/1 client connection, idling in the transport.
fn is_write_loop(tables: &Tables, group: &Group) -> bool {
    let frames = tables.frames(group.stack);
    frames.iter().any(|&f| {
        tables.bytes(tables.get_frame(f).function) == b"net/http.(*persistConn).writeLoop"
    }) && frames.iter().all(|&f| !origin(tables, f).is_user())
}

fn decide(
    snapshot: &Snapshot,
    group: &Group,
    facts: &Facts<'_>,
    pattern: Option<&Pattern>,
    growth: Option<Growth>,
    moment: Moment,
) -> (Verdict, String) {
    let blocking = facts.blocking;
    let n = group.count;
    if group.leaked > 0 {
        let why = if group.proven() {
            "the runtime proved it leaked: nothing that could wake it is reachable".to_string()
        } else {
            format!(
                "the runtime proved {} of these {n} goroutines leaked",
                group.leaked
            )
        };
        return (Verdict::Leak, why);
    }
    let deadlocked = snapshot.info.cause.kind == CauseKind::Fatal
        && snapshot
            .info
            .cause
            .message
            .contains("all goroutines are asleep");
    if deadlocked && blocking.needs_another_goroutine() {
        return (
            Verdict::Leak,
            "the runtime found every goroutine asleep: a deadlock".into(),
        );
    }
    if let Some(p) = pattern.filter(|p| p.when.after_test) {
        return (
            Verdict::Leak,
            format!(
                "{}: still accepting connections after its test ended",
                p.title
            ),
        );
    }
    if facts.new_server
        && let Some(g) = growth
    {
        return (
            Verdict::Suspect,
            format!(
                "a server accepting connections, new since the baseline ({} now, none before, and more servers than then): started since and not closed",
                g.after
            ),
        );
    }
    if let Some(p) = pattern.filter(|p| p.kind == Kind::Infrastructure) {
        // Idle keep-alive connections are bounded by the Transport's pool, so more of them
        // is normal as a client reaches more hosts; unbounded growth (a Transport per
        // request) looks the same from one diff. Worth a look, not a failed build.
        if p.id == "http-client-conn"
            && let Some(g) = growth.filter(|g| g.grew() && g.after >= 2)
        {
            return (
                Verdict::Suspect,
                format!(
                    "HTTP client connections grew from {} to {}: idle ones are kept for reuse, \
                     but they should stop growing",
                    g.before, g.after
                ),
            );
        }
        return (Verdict::Expected, p.title.to_string());
    }
    match blocking {
        Blocking::Running | Blocking::Runnable => return (Verdict::Expected, "running".into()),
        Blocking::Runtime => return (Verdict::Expected, "a runtime wait".into()),
        _ => {}
    }
    if is_main_goroutine(facts, group) {
        return (Verdict::Expected, "the main goroutine".into());
    }
    if blocking.is_forever() {
        return (
            Verdict::Leak,
            format!("blocked forever: {}", blocking.name()),
        );
    }
    if let Some(exits) = facts.exits
        && let Some(decided) = by_exits(exits, group, facts, growth, moment)
    {
        return decided;
    }
    if let Some(p) = pattern.filter(|p| p.kind == Kind::Lingering) {
        // A sleeping group that grows is a sleep loop without a known exit, unless the
        // source shows a sleep that ends it (with one, the ways out said so already).
        let unexplained_growth = p.id == "sleeping"
            && growth.is_some_and(Growth::grew)
            && facts.exits.is_none_or(|e| !e.conditions.is_empty());
        if !unexplained_growth {
            return (Verdict::Lingering, p.title.to_string());
        }
    }
    if let Some(g) = growth.filter(|g| g.grew()) {
        let grown = format!("grew from {} to {}", g.before, g.after);
        // The source said more than the stack: a ticker does send, but its loop never ends.
        if let Some(p) = pattern.filter(|p| p.kind == Kind::Leak && p.when.source.is_some()) {
            return (Verdict::Leak, format!("{grown}: {}", p.title));
        }
        if blocking.needs_another_goroutine() {
            return (
                Verdict::Leak,
                format!(
                    "{grown} while blocked in {}, which only another goroutine can end",
                    blocking.name()
                ),
            );
        }
        return (
            Verdict::Suspect,
            format!("{grown} while in {}", blocking.name()),
        );
    }
    if let Some(g) = growth
        && g.after <= g.before
        && g.before > 0
    {
        return (
            Verdict::Expected,
            format!(
                "steady at {} goroutine{}, as long-lived ones are",
                g.after,
                if g.after == 1 { "" } else { "s" }
            ),
        );
    }
    if moment == Moment::TestEnded && blocking.needs_another_goroutine() {
        let why = if pattern.is_some_and(|p| p.id == "select-with-done") {
            "still waiting for a cancellation after its test ended: nothing cancelled it".into()
        } else {
            format!("still blocked in {} after its test ended", blocking.name())
        };
        return (Verdict::Leak, why);
    }
    if blocking.needs_another_goroutine() || blocking == Blocking::Unknown {
        // A readLoop parked on a body is the transport's, not a loop the program keeps:
        // its creator (the dialler) always exits, and without parent ids it would pass for
        // a single long-lived goroutine.
        let held_by_body = pattern.is_some_and(|p| p.id == HELD_BY_BODY);
        if !held_by_body && let Some(why) = by_design(group, facts) {
            return (Verdict::Expected, why);
        }
        let exited = group.parents.iter().any(|(p, _)| *p == ParentRef::Exited);
        let parents_known = !group.parents.is_empty();
        // When the program should be idle, goroutines that outlived their creator, or that
        // are too many to be a pool, are left over. Without parent ids (profiles, Go 1.20
        // and older) a pool and a leak look alike, so that stays a suspicion.
        if moment == Moment::Quiescent && parents_known {
            return (
                Verdict::Leak,
                format!(
                    "still blocked in {} after the program should have finished",
                    blocking.name()
                ),
            );
        }
        let why = if facts.serving_request {
            format!(
                "{} blocked in {} inside the handler: a request should end when it is answered, \
                 and one snapshot cannot tell whether this wait will",
                if n == 1 {
                    "a request".to_string()
                } else {
                    format!("{n} requests")
                },
                blocking.name()
            )
        } else if exited && n == 1 {
            format!(
                "blocked in {} after the goroutine that started it exited",
                blocking.name()
            )
        } else if exited {
            let starters = if group.parent.is_some() {
                "the goroutine that started them"
            } else {
                "the goroutines that started them"
            };
            let orphans: u64 = group
                .parents
                .iter()
                .filter(|(p, _)| *p == ParentRef::Exited)
                .map(|(_, c)| c)
                .sum();
            // Some of the group may still have their parent (the one a live goroutine
            // started beside those of finished requests): say how many outlived theirs.
            let how_many = if orphans < n {
                format!("{orphans} of {n}")
            } else {
                n.to_string()
            };
            format!(
                "{how_many} blocked in {} after {starters} exited",
                blocking.name()
            )
        } else {
            format!(
                "blocked in {}; one snapshot cannot tell whether it will end",
                blocking.name()
            )
        };
        return (Verdict::Suspect, why);
    }
    match blocking {
        Blocking::Sleep | Blocking::IoWait | Blocking::Syscall | Blocking::Semaphore => (
            Verdict::Lingering,
            format!("in {}: it can end without help", blocking.name()),
        ),
        _ => (Verdict::Suspect, format!("in {}", blocking.name())),
    }
}

/// The verdict the ways out of the wait give, when they settle it.
fn by_exits(
    exits: &Exits,
    group: &Group,
    facts: &Facts<'_>,
    growth: Option<Growth>,
    moment: Moment,
) -> Option<(Verdict, String)> {
    // Signal waiters wait as long as the program runs, on purpose; many of them that keep
    // coming are still a leak.
    if let Some(c) = exits
        .conditions
        .iter()
        .find(|c| c.kind == ExitKind::OsSignal)
        && !growth.is_some_and(|g| g.grew())
    {
        return Some((
            Verdict::Expected,
            format!(
                "waits for OS signals, long-lived by design: {}",
                say_condition(c)
            ),
        ));
    }
    // A deadline ends the wait whatever else does or does not happen.
    if let Some(c) = exits.conditions.iter().find(|c| {
        c.can_happen == Possibility::Yes
            && (matches!(c.kind, ExitKind::Timer | ExitKind::Sleep) || c.deadline.is_some())
    }) {
        return Some((
            Verdict::Lingering,
            format!("ends by itself: {}", say_condition(c)),
        ));
    }
    if exits.conditions.is_empty() {
        return None;
    }
    let grew = growth.filter(|g| g.grew());
    if exits.way_out() == Possibility::No {
        let none = no_way_out(exits);
        if let Some(g) = grew {
            return Some((
                Verdict::Leak,
                format!(
                    "grew from {} to {} with no way out: {none}",
                    g.before, g.after
                ),
            ));
        }
        if growth.is_some() {
            // Steady: long-lived by design, or leaked before the first snapshot; the rules
            // for a steady group decide.
            return None;
        }
        return match moment {
            Moment::TestEnded => Some((
                Verdict::Leak,
                format!("still blocked after its test ended, with no way out: {none}"),
            )),
            // A loop or a pool its live starter keeps is by design even then.
            // A loop or a pool its live starter keeps is by design even then; without
            // parent ids (profiles) a pool a live goroutine keeps and a leak look alike.
            Moment::Quiescent => Some(match by_design(group, facts) {
                Some(why) => (Verdict::Expected, format!("{why}, with no way out: {none}")),
                None if group.parents.is_empty() => (
                    Verdict::Suspect,
                    format!(
                        "{} with no way out, and no parent ids to tell a pool from a leak: {none}",
                        plural_goroutines(group.count)
                    ),
                ),
                None => (
                    Verdict::Leak,
                    format!(
                        "still blocked when the program should be idle, with no way out: {none}"
                    ),
                ),
            }),
            Moment::Live => match by_design(group, facts) {
                Some(why) => Some((Verdict::Expected, format!("{why}, with no way out: {none}"))),
                None => Some((
                    Verdict::Suspect,
                    format!("{} with no way out: {none}", plural_goroutines(group.count)),
                )),
            },
        };
    }
    if moment == Moment::Live
        && growth.is_none()
        && let Some(c) = exits
            .conditions
            .iter()
            .find(|c| c.kind == ExitKind::Cancel && c.can_happen == Possibility::Yes)
    {
        return Some((
            Verdict::Expected,
            format!("a live goroutine can cancel it: {}", say_condition(c)),
        ));
    }
    None
}

fn plural_goroutines(n: u64) -> String {
    if n == 1 {
        "a goroutine".to_string()
    } else {
        format!("{n} goroutines")
    }
}

/// `<code> (file:line): why`.
fn say_condition(c: &ExitCondition) -> String {
    let file = c.file.rsplit('/').next().unwrap_or(&c.file);
    format!("`{}` ({file}:{}): {}", c.code, c.line, c.why)
}

/// Why none of the ways out can happen, in a clause: the first one said.
fn no_way_out(exits: &Exits) -> String {
    match exits.conditions.as_slice() {
        [only] => say_condition(only),
        [first, rest @ ..] => format!(
            "{} (and {} other way{} out that cannot happen)",
            say_condition(first),
            rest.len(),
            if rest.len() == 1 { "" } else { "s" }
        ),
        [] => String::new(),
    }
}

/// The main goroutine: its outermost frame of the program is `main.main`.
fn is_main_goroutine(facts: &Facts<'_>, group: &Group) -> bool {
    group.created_by.is_none()
        && facts
            .functions
            .iter()
            .rev()
            .find(|f| !f.starts_with(b"runtime."))
            .is_some_and(|f| *f == b"main.main")
}

/// Most goroutines a pool started by one long-lived goroutine is taken to have by design.
const POOL_MAX: u64 = 256;

/// Why a blocked group looks long-lived by design: one loop, or a pool, whose creator is
/// still running (or is the program's start-up).
fn by_design(group: &Group, facts: &Facts<'_>) -> Option<String> {
    if facts.serving_request {
        return None;
    }
    let parents_alive = !group.parents.is_empty()
        && group
            .parents
            .iter()
            .all(|(p, _)| matches!(p, ParentRef::Group(_)));
    let no_parent_info = group.parents.is_empty();
    if group.count == 1 && (parents_alive || no_parent_info) {
        return Some("a single long-lived goroutine".into());
    }
    if group.count <= POOL_MAX && parents_alive && group.parent_runs <= 1 {
        return Some(format!(
            "a pool of {} started by one goroutine that is still running",
            group.count
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Assesses every group of a traceback dump at `moment`, keyed by the function of the
    /// innermost frame of the program's own code.
    fn verdicts(dump: &str, moment: Moment) -> Vec<(String, Verdict)> {
        let capture = crate::read(dump.as_bytes(), &Default::default(), None).unwrap();
        let snapshot = &capture.snapshots[0];
        let options = AssessOptions {
            moment,
            ..AssessOptions::default()
        };
        let mut out: Vec<_> = snapshot
            .groups
            .iter()
            .map(|g| {
                let a = assess(&capture.tables, snapshot, g, None, &options, &NoSource);
                let site = a.leak_site.map(|f| {
                    let tables = &capture.tables;
                    tables.str(tables.get_frame(f).function).into_owned()
                });
                (site.unwrap_or_default(), a.verdict)
            })
            .collect();
        out.sort();
        out
    }

    /// A worker that is still alive and blocked, the consumer it started (also blocked), a
    /// select waiting on ctx.Done(), and an idle HTTP client connection.
    const LEFTOVERS: &str = "goroutine 7 [chan receive]:
example.com/p.worker(0xc000010000)
	/src/p/p.go:10 +0x1d
created by example.com/p.TestX in goroutine 6
	/src/p/p_test.go:20 +0x2a

goroutine 8 [chan send]:
example.com/p.consumer(0xc000010000)
	/src/p/p.go:30 +0x1d
created by example.com/p.worker in goroutine 7
	/src/p/p.go:12 +0x2a

goroutine 9 [select]:
runtime.selectgo(0x1, 0x2)
	/usr/local/go/src/runtime/select.go:351 +0x1d
example.com/p.loop(0xc000010000)
	/src/p/p.go:40 +0x1d
created by example.com/p.TestY in goroutine 5
	/src/p/p_test.go:30 +0x2a

goroutine 10 [IO wait]:
internal/poll.runtime_pollWait(0x1, 0x72)
	/usr/local/go/src/runtime/netpoll.go:351 +0x85
net/http.(*persistConn).readLoop(0xc000010000)
	/usr/local/go/src/net/http/transport.go:2395 +0x1d
created by net/http.(*Transport).dialConn in goroutine 9
	/usr/local/go/src/net/http/transport.go:1944 +0x2a
";

    /// Two connections held by unclosed bodies (dialled by goroutines 20 and 30) and one
    /// idle keep-alive connection (dialled by 40): all three writeLoops share a stack.
    const HELD_AND_IDLE: &str = "goroutine 21 [select]:
net/http.(*persistConn).readLoop(0xc000010000)
	/go/src/net/http/transport.go:2616 +0xbdb
created by net/http.(*Transport).dialConn in goroutine 20
	/go/src/net/http/transport.go:2123 +0x1da5

goroutine 22 [select]:
net/http.(*persistConn).writeLoop(0xc000010000)
	/go/src/net/http/transport.go:2833 +0xe6
created by net/http.(*Transport).dialConn in goroutine 20
	/go/src/net/http/transport.go:2124 +0x1e05

goroutine 31 [select]:
net/http.(*persistConn).readLoop(0xc000020000)
	/go/src/net/http/transport.go:2616 +0xbdb
created by net/http.(*Transport).dialConn in goroutine 30
	/go/src/net/http/transport.go:2123 +0x1da5

goroutine 32 [select]:
net/http.(*persistConn).writeLoop(0xc000020000)
	/go/src/net/http/transport.go:2833 +0xe6
created by net/http.(*Transport).dialConn in goroutine 30
	/go/src/net/http/transport.go:2124 +0x1e05

goroutine 41 [IO wait]:
internal/poll.runtime_pollWait(0x1, 0x72)
	/go/src/runtime/netpoll.go:351 +0x85
net/http.(*persistConn).readLoop(0xc000030000)
	/go/src/net/http/transport.go:2395 +0x1d
created by net/http.(*Transport).dialConn in goroutine 40
	/go/src/net/http/transport.go:2123 +0x1da5

goroutine 42 [select]:
net/http.(*persistConn).writeLoop(0xc000030000)
	/go/src/net/http/transport.go:2833 +0xe6
created by net/http.(*Transport).dialConn in goroutine 40
	/go/src/net/http/transport.go:2124 +0x1e05
";

    /// gRPC's server between connections, as a SIGQUIT dump of a service shows it (frames
    /// of grpc-go 1.60's `Server.Serve`); and a handler of the program waiting for the
    /// network, which an accept loop is not.
    #[test]
    fn an_accept_loop_is_long_lived_whatever_package_loops() {
        let dump = "goroutine 12 [IO wait, 5 minutes]:
internal/poll.runtime_pollWait(0x7f1c2c0b1e28, 0x72)
	/usr/local/go/src/runtime/netpoll.go:343 +0x85
internal/poll.(*pollDesc).wait(0xc0001b6000?, 0x4?, 0x0)
	/usr/local/go/src/internal/poll/fd_poll_runtime.go:84 +0x27
internal/poll.(*pollDesc).waitRead(...)
	/usr/local/go/src/internal/poll/fd_poll_runtime.go:89
internal/poll.(*FD).Accept(0xc0001b6000)
	/usr/local/go/src/internal/poll/fd_unix.go:611 +0x2ac
net.(*netFD).accept(0xc0001b6000)
	/usr/local/go/src/net/fd_unix.go:172 +0x29
net.(*TCPListener).accept(0xc00009e1e0)
	/usr/local/go/src/net/tcpsock_posix.go:152 +0x1e
net.(*TCPListener).Accept(0xc00009e1e0)
	/usr/local/go/src/net/tcpsock.go:315 +0x30
google.golang.org/grpc.(*Server).Serve(0xc0001c4000, {0xa1b2c0?, 0xc00009e1e0})
	/root/go/pkg/mod/google.golang.org/grpc@v1.60.1/server.go:852 +0x462
main.main.func2()
	/src/svc/main.go:40 +0x2a
created by main.main in goroutine 1
	/src/svc/main.go:39 +0x1a5

goroutine 13 [IO wait]:
internal/poll.runtime_pollWait(0x7f1c2c0b1d30, 0x72)
	/usr/local/go/src/runtime/netpoll.go:343 +0x85
internal/poll.(*pollDesc).wait(0xc0001b6080?, 0xc0001d0000?, 0x0)
	/usr/local/go/src/internal/poll/fd_poll_runtime.go:84 +0x27
internal/poll.(*pollDesc).waitRead(...)
	/usr/local/go/src/internal/poll/fd_poll_runtime.go:89
internal/poll.(*FD).Read(0xc0001b6080, {0xc0001d0000, 0x1000, 0x1000})
	/usr/local/go/src/internal/poll/fd_unix.go:164 +0x27a
net.(*netFD).Read(0xc0001b6080, {0xc0001d0000?, 0x0?, 0x0?})
	/usr/local/go/src/net/fd_posix.go:55 +0x25
net.(*conn).Read(0xc0000a8010, {0xc0001d0000?, 0x0?, 0x0?})
	/usr/local/go/src/net/net.go:179 +0x45
main.serveConn({0xa1b3e0, 0xc0000a8010})
	/src/svc/main.go:60 +0x8e
created by main.main in goroutine 1
	/src/svc/main.go:45 +0x2b1
";
        let capture = crate::read(dump.as_bytes(), &Default::default(), None).unwrap();
        let (tables, snapshot) = (&capture.tables, &capture.snapshots[0]);
        let all = assess_all(
            tables,
            snapshot,
            &|_| None,
            &AssessOptions::default(),
            &NoSource,
        );
        let by_id = |id: u64| {
            let i = snapshot.groups.iter().position(|g| g.ids == [id]).unwrap();
            &all[i]
        };
        let grpc = by_id(12);
        assert_eq!(grpc.pattern.map(|p| p.id), Some("accept-loop"));
        assert_eq!(grpc.verdict, Verdict::Expected);
        assert_eq!(grpc.why, "a server accepting connections");
        let handler = by_id(13);
        assert!(handler.pattern.is_none());
        assert_eq!(handler.verdict, Verdict::Lingering);
    }

    #[test]
    fn held_connections_pair_by_dialler_and_leave_idle_ones_alone() {
        let capture = crate::read(HELD_AND_IDLE.as_bytes(), &Default::default(), None).unwrap();
        let (tables, snapshot) = (&capture.tables, &capture.snapshots[0]);
        let options = AssessOptions {
            moment: Moment::Quiescent,
            ..AssessOptions::default()
        };
        let all = assess_all(tables, snapshot, &|_| None, &options, &NoSource);
        let index_of = |count: u64, pattern: &str| {
            (0..all.len())
                .find(|&i| {
                    snapshot.groups[i].count == count
                        && all[i].pattern.map(|p| p.id) == Some(pattern)
                })
                .unwrap_or_else(|| panic!("no group of {count} at {pattern}"))
        };
        let read = index_of(2, "http-response-open");
        let write = index_of(3, "http-client-conn");
        let idle_read = index_of(1, "http-client-conn");
        let held = HeldConnections {
            read_loops: read,
            write_loops: write,
            connections: 2,
            whole_write_group: false,
        };
        assert_eq!(all[read].held_connections, Some(held));
        assert_eq!(all[write].held_connections, Some(held));
        assert_eq!(all[idle_read].held_connections, None);
        assert_eq!(all[read].verdict, Verdict::Leak);
        // The writeLoops' group holds an idle connection's too: it stays what it is, and says
        // how many of it belong to the leak.
        assert_eq!(all[write].verdict, Verdict::Expected);
        assert!(
            all[write].why.ends_with(
                "; 2 of these 3 are the writeLoops of connections held by response bodies never closed"
            ),
            "{}",
            all[write].why
        );

        // Without parent ids (a profile), the counts pair: as many writeLoops as readLoops.
        let no_parents = HELD_AND_IDLE
            .lines()
            .filter(|l| !l.starts_with("created by") && !l.contains("transport.go:212"))
            .collect::<Vec<_>>()
            .join("\n");
        let capture = crate::read(no_parents.as_bytes(), &Default::default(), None).unwrap();
        let (tables, snapshot) = (&capture.tables, &capture.snapshots[0]);
        let all = assess_all(tables, snapshot, &|_| None, &options, &NoSource);
        let read = (0..all.len())
            .find(|&i| all[i].pattern.map(|p| p.id) == Some("http-response-open"))
            .unwrap();
        assert_eq!(all[read].held_connections.map(|h| h.connections), Some(2));
    }

    #[test]
    fn after_its_test_a_blocked_goroutine_leaks_whoever_created_it() {
        let quiescent = verdicts(LEFTOVERS, Moment::Quiescent);
        let ended = verdicts(LEFTOVERS, Moment::TestEnded);
        let of = |rows: &[(String, Verdict)], site: &str| {
            rows.iter()
                .find(|r| r.0 == site)
                .map(|r| r.1)
                .unwrap_or_else(|| panic!("no {site} in {rows:?}"))
        };
        // Started by a goroutine that is still alive: long-lived by design in a program
        // that keeps running, left over once the test that started both has ended.
        assert_eq!(of(&quiescent, "example.com/p.consumer"), Verdict::Expected);
        assert_eq!(of(&ended, "example.com/p.consumer"), Verdict::Leak);
        assert_eq!(of(&ended, "example.com/p.worker"), Verdict::Leak);
        // Infrastructure (an idle HTTP client connection, its leak site the poller) stays
        // infrastructure.
        let conn = "internal/poll.runtime_pollWait";
        assert_eq!(of(&ended, conn), Verdict::Expected);
        assert_eq!(of(&quiescent, conn), Verdict::Expected);
    }

    #[test]
    fn after_its_test_a_select_waiting_for_cancellation_leaks() {
        // `example.com/p.loop` waits at /src/p/p.go:40 in a select on ctx.Done().
        let mut source = "package p\n".to_string();
        source.push_str(&"\n".repeat(36));
        source.push_str(
            "func loop(ctx context.Context, in chan int) {\n\tfor {\n\t\tselect {\n\t\tcase <-ctx.Done():\n\t\t\treturn\n\t\tcase v := <-in:\n\t\t\t_ = v\n\t\t}\n\t}\n}\n",
        );
        let source =
            crate::exits::Sources::new(crate::exits::Memory(vec![("/src/p/p.go", source)]));
        let capture = crate::read(LEFTOVERS.as_bytes(), &Default::default(), None).unwrap();
        let snapshot = &capture.snapshots[0];
        let tables = &capture.tables;
        let group = snapshot
            .groups
            .iter()
            .find(|g| g.state().is_some_and(|s| tables.bytes(s) == b"select"))
            .unwrap();
        let judge = |moment| {
            assess(
                tables,
                snapshot,
                group,
                None,
                &AssessOptions {
                    moment,
                    ..AssessOptions::default()
                },
                &source,
            )
        };
        let ended = judge(Moment::TestEnded);
        assert_eq!(ended.pattern.map(|p| p.id), Some("select-with-done"));
        assert_eq!(ended.verdict, Verdict::Leak);
        assert!(ended.why.contains("nothing cancelled it"), "{}", ended.why);
        assert!(ended.hint().is_some_and(|h| h.contains("cancel")));
    }

    /// Goroutines whose input says what they wait for (an execution trace) are judged by
    /// that, whatever their stack shows, and their state is named by it; the operation
    /// most of a group's goroutines wait for stands for the group.
    #[test]
    fn a_stated_blocking_operation_wins_over_the_stack() {
        use crate::model::{Record, State};
        let mut tables = Tables::new();
        let frame = |tables: &mut Tables, function: &str| {
            let frame = crate::intern::Frame {
                function: tables.sym(function.as_bytes()),
                file: tables.sym(b"/src/p/p.go"),
                line: 10,
                offset: None,
                inlined: false,
            };
            tables.frame(frame)
        };
        // The stack says a receive; the trace said the network.
        let frames = vec![
            frame(&mut tables, "runtime.chanrecv1"),
            frame(&mut tables, "example.com/p.worker"),
        ];
        let record = |id, blocking| Record {
            count: 1,
            id: Some(id),
            frames: frames.clone(),
            state: Some(State {
                blocking,
                ..State::default()
            }),
            ..Record::default()
        };
        let batch = [
            record(1, None),
            record(2, Some(Blocking::IoWait)),
            record(3, Some(Blocking::IoWait)),
        ];
        // Where most said nothing, the stack decides.
        let mostly_silent = [
            record(4, None),
            record(5, None),
            record(6, Some(Blocking::IoWait)),
        ];
        let capture = crate::Grouper::group_records(
            Default::default(),
            tables,
            [&batch[..], &mostly_silent[..]],
        );
        let (tables, snapshot) = (&capture.tables, &capture.snapshots[0]);
        let group = &snapshot.groups[0];
        assert_eq!(group.count, 3);
        assert_eq!(group.state(), None);
        assert_eq!(group.blocking(), Some(Blocking::IoWait));
        assert_eq!(blocking_of(tables, group), Blocking::IoWait);
        let options = AssessOptions::default();
        let assessment = assess(tables, snapshot, group, None, &options, &NoSource);
        assert_eq!(assessment.blocking, Blocking::IoWait);
        assert_eq!(state_name(tables, group, &assessment), "IO wait");

        let group = &capture.snapshots[1].groups[0];
        assert_eq!(group.blocking(), None);
        assert_eq!(blocking_of(tables, group), Blocking::ChanReceive);
    }

    /// A program whose goroutines wait two hours on a timer, sleep in a loop with no way out,
    /// and wait on a context main cancels; and a dump of it.
    const TIMED: &str = "package main

import (
	\"context\"
	\"time\"
)

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go watch(ctx)
	go poll()
	go func() {
		select {
		case <-time.After(2 * time.Hour):
		}
	}()
	select {}
}

func watch(ctx context.Context) {
	<-ctx.Done()
}

func poll() {
	for {
		time.Sleep(time.Second)
	}
}
";

    fn timed_dump(polls: u64) -> String {
        let mut dump = String::from(
            "goroutine 1 [select (no cases)]:\nmain.main()\n\t/src/t/main.go:18 +0x1d\n\n\
             goroutine 6 [chan receive, 3 minutes]:\nmain.watch({0x1, 0x2})\n\t/src/t/main.go:22 +0x1d\n\
             created by main.main in goroutine 1\n\t/src/t/main.go:11 +0x2a\n\n\
             goroutine 7 [select, 2 minutes]:\nmain.main.func1()\n\t/src/t/main.go:14 +0x1d\n\
             created by main.main in goroutine 1\n\t/src/t/main.go:13 +0x2a\n\n",
        );
        for n in 0..polls {
            dump.push_str(&format!(
                "goroutine {} [sleep]:\ntime.Sleep(0x3b9aca00)\n\t/usr/local/go/src/runtime/time.go:300 +0x1d\n\
                 main.poll()\n\t/src/t/main.go:27 +0x1d\ncreated by main.main in goroutine 1\n\t/src/t/main.go:12 +0x2a\n\n",
                100 + n
            ));
        }
        dump
    }

    #[test]
    fn ways_out_decide_timers_live_cancellations_and_sleep_loops() {
        let source = crate::exits::Sources::new(crate::exits::Memory(vec![(
            "/src/t/main.go",
            TIMED.to_string(),
        )]));
        let before = crate::read(timed_dump(1).as_bytes(), &Default::default(), None).unwrap();
        let after = crate::read(timed_dump(5).as_bytes(), &Default::default(), None).unwrap();
        let judge = |capture: &crate::Capture, site: &str, growth: Option<Growth>| {
            let snapshot = &capture.snapshots[0];
            let tables = &capture.tables;
            let group = snapshot
                .groups
                .iter()
                .find(|g| {
                    let (_, leak) = sites(tables, g);
                    leak.is_some_and(|f| tables.str(tables.get_frame(f).function) == site)
                })
                .unwrap_or_else(|| panic!("no group at {site}"));
            assess(
                tables,
                snapshot,
                group,
                growth,
                &AssessOptions::default(),
                &source,
            )
        };
        // Two hours on a timer, two minutes of them gone.
        let timer = judge(&after, "main.main.func1", None);
        assert_eq!(
            timer.verdict,
            Verdict::Lingering,
            "{} {:?}",
            timer.why,
            timer.exits
        );
        assert!(timer.why.contains("1 h 58 min left"), "{}", timer.why);
        let deadline = timer.exits.as_ref().unwrap().conditions[0]
            .deadline
            .unwrap();
        assert_eq!(deadline.after_secs, 7200.0);
        assert_eq!(deadline.left_secs, Some(7080.0));
        // main's deferred cancel can still run: main is alive.
        let watch = judge(&after, "main.watch", None);
        assert_eq!(
            watch.verdict,
            Verdict::Expected,
            "{} {:?}",
            watch.why,
            watch.exits
        );
        assert!(watch.why.contains("defer cancel()"), "{}", watch.why);
        // A sleep loop with no way out that grew is a leak; with the same count, by design.
        let grew = Growth {
            before: 1,
            after: 5,
        };
        let poll = judge(&after, "main.poll", Some(grew));
        assert_eq!(poll.verdict, Verdict::Leak, "{}", poll.why);
        assert_eq!(poll.pattern.map(|p| p.id), Some("sleep-loop"));
        assert!(poll.why.contains("no way out"), "{}", poll.why);
        let steady = Growth {
            before: 1,
            after: 1,
        };
        assert_eq!(
            judge(&before, "main.poll", Some(steady)).verdict,
            Verdict::Expected
        );
        // Without the source, a sleeping group is only lingering, as before.
        let snapshot = &after.snapshots[0];
        let group = snapshot.groups.iter().find(|g| g.count == 5).unwrap();
        let bare = assess(
            &after.tables,
            snapshot,
            group,
            None,
            &AssessOptions::default(),
            &NoSource,
        );
        assert_eq!(bare.verdict, Verdict::Lingering);
        assert!(bare.exits.is_none());
    }

    #[test]
    fn a_file_that_does_not_match_the_dump_is_not_used() {
        let shifted = format!("package main\n\n{}", &TIMED["package main\n".len()..]);
        let source =
            crate::exits::Sources::new(crate::exits::Memory(vec![("/src/t/main.go", shifted)]));
        let capture = crate::read(timed_dump(1).as_bytes(), &Default::default(), None).unwrap();
        let snapshot = &capture.snapshots[0];
        let mismatched: Vec<String> = snapshot
            .groups
            .iter()
            .map(|g| {
                assess(
                    &capture.tables,
                    snapshot,
                    g,
                    None,
                    &AssessOptions::default(),
                    &source,
                )
            })
            .filter_map(|a| a.source_mismatch)
            .collect();
        assert!(
            mismatched.iter().any(|m| m.contains("does not block in")),
            "{mismatched:?}"
        );
    }
}
