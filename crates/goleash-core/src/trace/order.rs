//! Puts the events of a generation in an order that the scheduler could have produced.
//!
//! Each M writes its own batches, so the events of one M are in order but the Ms
//! interleave only by timestamp, and timestamps from different CPUs can disagree. Go's
//! reader (`internal/trace/order.go`) solves this by simulating the scheduler: an event is
//! taken only when the state it starts from holds (a goroutine is unblocked only while
//! it waits, and only by the unblock with the next sequence number; a P starts only when
//! idle), trying the Ms in timestamp order. This is a port of that simulation, restricted
//! to what decides goroutine, P and M states; events about GC, tasks, regions and metrics
//! change none of those states and are taken as they come.
//!
//! The checks Go's reader makes on those transitions are kept: a trace that breaks them is
//! broken, and a model built from it would be wrong.

use rustc_hash::FxHashMap;

use super::TraceError;
use super::wire::*;

/// A goroutine's status as the trace's `GoStatus` events and the ordering know it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GStatus {
    Runnable,
    Running,
    Syscall,
    Waiting,
}

impl GStatus {
    fn from_wire(status: u64) -> Option<GStatus> {
        Some(match status {
            1 => GStatus::Runnable,
            2 => GStatus::Running,
            3 => GStatus::Syscall,
            4 => GStatus::Waiting,
            _ => return None,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PStatus {
    Running,
    Idle,
    Syscall,
    /// A P in a syscall whose M was lost track of: the only thing left to see is it being
    /// stolen.
    SyscallAbandoned,
}

impl PStatus {
    fn from_wire(status: u64) -> Option<PStatus> {
        Some(match status {
            1 => PStatus::Running,
            2 => PStatus::Idle,
            3 => PStatus::Syscall,
            4 => PStatus::SyscallAbandoned,
            _ => return None,
        })
    }
}

/// A sequence number, local to its generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Seq {
    gen_id: u64,
    n: u64,
}

impl Seq {
    fn succeeds(self, prev: Seq) -> bool {
        self.gen_id == prev.gen_id && prev.n.checked_add(1) == Some(self.n)
    }
}

struct GState {
    status: GStatus,
    seq: Seq,
}

struct PState {
    status: PStatus,
    seq: Seq,
}

#[derive(Default)]
struct MState {
    g: Option<u64>,
    p: Option<u64>,
}

/// What an M is running when an event happens on it.
#[derive(Clone, Copy, Debug)]
struct Ctx {
    m: Option<u64>,
    p: Option<u64>,
    g: Option<u64>,
}

/// `ThreadID`, `ProcID` and `GoID` of -1 (no thread, proc or goroutine) as they arrive
/// through an unsigned varint.
const NONE: u64 = u64::MAX;

/// A change to a goroutine, as the ordering took it. Stack and string IDs are the
/// generation's raw IDs; 0 is none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// `GoStatus`/`GoStatusStack`: the goroutine's status at a generation boundary.
    Status {
        g: u64,
        status: GStatus,
        stack: u64,
    },
    /// `GoCreate`/`GoCreateBlocked`, by `parent` when a goroutine ran the `go` statement.
    Create {
        g: u64,
        parent: Option<u64>,
        start_stack: u64,
        stack: u64,
        blocked: bool,
    },
    /// `GoCreateSyscall`: a goroutine appears in a syscall, for a cgo callback.
    CreateSyscall {
        g: u64,
    },
    Start {
        g: u64,
    },
    Block {
        g: u64,
        reason: u64,
        stack: u64,
    },
    Stop {
        g: u64,
        reason: u64,
        stack: u64,
    },
    Unblock {
        g: u64,
    },
    Destroy {
        g: u64,
    },
    SyscallBegin {
        g: u64,
        stack: u64,
    },
    SyscallEnd {
        g: u64,
    },
    /// The syscall lost its P: the goroutine must wait for one, so it is runnable.
    SyscallEndBlocked {
        g: u64,
    },
}

/// The simulated scheduler, kept across generations.
#[derive(Default)]
pub(crate) struct Ordering {
    g: FxHashMap<u64, GState>,
    p: FxHashMap<u64, PState>,
    m: FxHashMap<u64, MState>,
    initial_gen: Option<u64>,
}

type Advance = Result<Option<Ctx>, TraceError>;

impl Ordering {
    /// Takes `ev`, which came from thread `m`, if the state allows it now: its effect on
    /// goroutines goes to `steps`. `Ok(false)` means another M's events must come first.
    fn advance(
        &mut self,
        ev: &Event,
        m: u64,
        gen_id: u64,
        steps: &mut Vec<Step>,
    ) -> Result<bool, TraceError> {
        let initial = *self.initial_gen.get_or_insert(gen_id);
        let cur = if m == NONE {
            Ctx {
                m: None,
                p: None,
                g: None,
            }
        } else {
            let ms = self.m.entry(m).or_default();
            Ctx {
                m: Some(m),
                p: ms.p,
                g: ms.g,
            }
        };
        let a = ev.args;
        let e = |message: String| TraceError::Inconsistent {
            generation: gen_id,
            offset: ev.offset as u64,
            message,
        };
        let next = match ev.ty {
            EV_PROC_STATUS => self.proc_status(cur, a[0], a[1], gen_id, e),
            EV_PROC_START => self.proc_start(cur, a[0], Seq { gen_id, n: a[1] }, e),
            EV_PROC_STOP => self.proc_stop(cur, e),
            EV_PROC_STEAL => self.proc_steal(cur, a[0], Seq { gen_id, n: a[1] }, a[2], e),
            EV_GO_STATUS | EV_GO_STATUS_STACK => {
                let stack = if ev.ty == EV_GO_STATUS_STACK { a[3] } else { 0 };
                self.go_status(cur, a[0], a[1], a[2], stack, gen_id, initial, steps, e)
            }
            EV_GO_CREATE | EV_GO_CREATE_BLOCKED => {
                let blocked = ev.ty == EV_GO_CREATE_BLOCKED;
                self.go_create(cur, a[0], a[1], a[2], blocked, gen_id, steps, e)
            }
            EV_GO_CREATE_SYSCALL => self.go_create_syscall(cur, a[0], gen_id, steps, e),
            EV_GO_START => self.go_start(cur, a[0], Seq { gen_id, n: a[1] }, steps, e),
            EV_GO_DESTROY | EV_GO_STOP | EV_GO_BLOCK => self.go_stop_exec(cur, ev, steps, e),
            EV_GO_UNBLOCK => Ok(self.go_unblock(cur, a[0], Seq { gen_id, n: a[1] }, steps)),
            EV_GO_SWITCH | EV_GO_SWITCH_DESTROY => {
                let destroy = ev.ty == EV_GO_SWITCH_DESTROY;
                self.go_switch(cur, a[0], Seq { gen_id, n: a[1] }, destroy, steps, e)
            }
            EV_GO_SYSCALL_BEGIN => {
                self.go_syscall_begin(cur, Seq { gen_id, n: a[0] }, a[1], steps, e)
            }
            EV_GO_SYSCALL_END => self.go_syscall_end(cur, steps, e),
            EV_GO_SYSCALL_END_BLOCKED => self.go_syscall_end_blocked(cur, steps, e),
            EV_GO_DESTROY_SYSCALL => self.go_destroy_syscall(cur, steps, e),
            EV_CLOCK_SNAPSHOT => Err(e("a clock snapshot outside a sync batch".into())),
            // GC, STW, metrics, labels, tasks, regions, experimental events.
            _ => Ok(Some(cur)),
        }?;
        let Some(next) = next else {
            return Ok(false);
        };
        if m != NONE {
            let ms = self.m.entry(m).or_default();
            ms.p = next.p;
            ms.g = next.g;
        }
        Ok(true)
    }

    fn proc_status(
        &mut self,
        cur: Ctx,
        pid: u64,
        status: u64,
        gen_id: u64,
        e: impl Fn(String) -> TraceError,
    ) -> Advance {
        let status = PStatus::from_wire(status)
            .ok_or_else(|| e(format!("invalid status {status} for proc {pid}")))?;
        let mut was_running = false;
        match self.p.get_mut(&pid) {
            Some(s) => {
                match (status, s.status) {
                    // A P already known to be in a syscall loses nothing by being declared
                    // abandoned: it stays in its syscall, bound to its M.
                    (PStatus::SyscallAbandoned, PStatus::Syscall) => was_running = true,
                    (PStatus::SyscallAbandoned, PStatus::SyscallAbandoned) => {}
                    (new, old) if new != old => {
                        return Err(e(format!(
                            "inconsistent status for proc {pid}: {old:?}, then {new:?}"
                        )));
                    }
                    _ => {}
                }
                s.seq = Seq { gen_id, n: 0 };
            }
            None => {
                self.p.insert(
                    pid,
                    PState {
                        status,
                        seq: Seq { gen_id, n: 0 },
                    },
                );
            }
        }
        let mut next = cur;
        if matches!(status, PStatus::Running | PStatus::Syscall) {
            next.p = Some(pid);
        }
        // A steal from another M is about to follow: the P must be bound to some M.
        if was_running && !self.m.values().any(|ms| ms.p == Some(pid)) {
            return Err(e(format!(
                "no thread holds proc {pid}, which is about to be stolen"
            )));
        }
        Ok(Some(next))
    }

    fn proc_start(
        &mut self,
        cur: Ctx,
        pid: u64,
        seq: Seq,
        e: impl Fn(String) -> TraceError,
    ) -> Advance {
        match self.p.get_mut(&pid) {
            Some(s) if s.status == PStatus::Idle && seq.succeeds(s.seq) && cur.p.is_none() => {
                if cur.m.is_none() {
                    return Err(e(format!("proc {pid} started without a thread")));
                }
                s.status = PStatus::Running;
                s.seq = seq;
                Ok(Some(Ctx {
                    p: Some(pid),
                    ..cur
                }))
            }
            _ => Ok(None),
        }
    }

    fn proc_stop(&mut self, cur: Ctx, e: impl Fn(String) -> TraceError) -> Advance {
        let s = cur
            .p
            .and_then(|p| self.p.get_mut(&p))
            .ok_or_else(|| e("a proc stops on a thread that has none".into()))?;
        if !matches!(s.status, PStatus::Running | PStatus::Syscall) {
            return Err(e(format!("a proc stops in state {:?}", s.status)));
        }
        require(cur, Need::Have, Need::Have, Need::May, &e)?;
        s.status = PStatus::Idle;
        Ok(Some(Ctx { p: None, ..cur }))
    }

    fn proc_steal(
        &mut self,
        cur: Ctx,
        pid: u64,
        seq: Seq,
        victim: u64,
        e: impl Fn(String) -> TraceError,
    ) -> Advance {
        let Some(s) = self.p.get_mut(&pid) else {
            return Ok(None);
        };
        if !matches!(s.status, PStatus::Syscall | PStatus::SyscallAbandoned) || !seq.succeeds(s.seq)
        {
            return Ok(None);
        }
        require(cur, Need::Have, Need::May, Need::May, &e)?;
        let old = s.status;
        s.status = PStatus::Idle;
        s.seq = seq;
        if old == PStatus::SyscallAbandoned {
            // The thread it was bound to was lost track of: leave every M alone.
            return Ok(Some(cur));
        }
        if Some(victim) == cur.m {
            if cur.p != Some(pid) {
                return Err(e(format!(
                    "thread {victim} steals proc {pid} from itself but holds {:?}",
                    cur.p
                )));
            }
            return Ok(Some(Ctx { p: None, ..cur }));
        }
        let ms = self
            .m
            .get_mut(&victim)
            .ok_or_else(|| e(format!("proc {pid} stolen from unknown thread {victim}")))?;
        if ms.p != Some(pid) {
            return Err(e(format!(
                "proc {pid} stolen from thread {victim}, which holds {:?}",
                ms.p
            )));
        }
        ms.p = None;
        Ok(Some(cur))
    }

    #[allow(clippy::too_many_arguments)]
    fn go_status(
        &mut self,
        cur: Ctx,
        gid: u64,
        mid: u64,
        status: u64,
        stack: u64,
        gen_id: u64,
        initial: u64,
        steps: &mut Vec<Step>,
        e: impl Fn(String) -> TraceError,
    ) -> Advance {
        let status = GStatus::from_wire(status)
            .ok_or_else(|| e(format!("invalid status {status} for goroutine {gid}")))?;
        match self.g.get_mut(&gid) {
            Some(s) => {
                if s.status != status {
                    return Err(e(format!(
                        "inconsistent status for goroutine {gid}: {:?}, then {status:?}",
                        s.status
                    )));
                }
                s.seq = Seq { gen_id, n: 0 };
            }
            None if gen_id == initial => {
                self.g.insert(
                    gid,
                    GState {
                        status,
                        seq: Seq { gen_id, n: 0 },
                    },
                );
            }
            None => {
                return Err(e(format!(
                    "status of goroutine {gid}, unknown after the first generation"
                )));
            }
        }
        let mut next = cur;
        match status {
            GStatus::Running => next.g = Some(gid),
            GStatus::Syscall => {
                if mid == NONE {
                    return Err(e(format!("goroutine {gid} in a syscall without a thread")));
                }
                if Some(mid) == cur.m {
                    if gen_id != initial && cur.g != Some(gid) {
                        return Err(e(format!(
                            "goroutine {gid} in a syscall on thread {mid}, which runs {:?}",
                            cur.g
                        )));
                    }
                    next.g = Some(gid);
                } else {
                    // A goroutine blocked in a syscall on another thread for the whole
                    // generation.
                    match self.m.get(&mid) {
                        Some(ms) if ms.g != Some(gid) => {
                            return Err(e(format!(
                                "goroutine {gid} in a syscall on thread {mid}, which runs {:?}",
                                ms.g
                            )));
                        }
                        Some(_) => {}
                        None => {
                            self.m.insert(
                                mid,
                                MState {
                                    g: Some(gid),
                                    p: None,
                                },
                            );
                        }
                    }
                }
            }
            GStatus::Runnable | GStatus::Waiting => {}
        }
        steps.push(Step::Status {
            g: gid,
            status,
            stack,
        });
        Ok(Some(next))
    }

    #[allow(clippy::too_many_arguments)]
    fn go_create(
        &mut self,
        cur: Ctx,
        new: u64,
        start_stack: u64,
        stack: u64,
        blocked: bool,
        gen_id: u64,
        steps: &mut Vec<Step>,
        e: impl Fn(String) -> TraceError,
    ) -> Advance {
        require(cur, Need::Have, Need::Have, Need::May, &e)?;
        if let Some(g) = cur.g
            && let Some(s) = self.g.get(&g)
            && s.status != GStatus::Running
        {
            return Err(e(format!(
                "goroutine {g} creates a goroutine while {:?}",
                s.status
            )));
        }
        if self.g.contains_key(&new) {
            return Err(e(format!("goroutine {new} created twice")));
        }
        let status = if blocked {
            GStatus::Waiting
        } else {
            GStatus::Runnable
        };
        self.g.insert(
            new,
            GState {
                status,
                seq: Seq { gen_id, n: 0 },
            },
        );
        steps.push(Step::Create {
            g: new,
            parent: cur.g,
            start_stack,
            stack,
            blocked,
        });
        Ok(Some(cur))
    }

    fn go_create_syscall(
        &mut self,
        cur: Ctx,
        new: u64,
        gen_id: u64,
        steps: &mut Vec<Step>,
        e: impl Fn(String) -> TraceError,
    ) -> Advance {
        require(cur, Need::Have, Need::May, Need::Not, &e)?;
        if self.g.contains_key(&new) {
            return Err(e(format!("goroutine {new} created twice")));
        }
        self.g.insert(
            new,
            GState {
                status: GStatus::Syscall,
                seq: Seq { gen_id, n: 0 },
            },
        );
        steps.push(Step::CreateSyscall { g: new });
        Ok(Some(Ctx {
            g: Some(new),
            ..cur
        }))
    }

    /// The running goroutine of `cur`, which must exist and be `want`.
    fn current(
        &mut self,
        cur: Ctx,
        want: GStatus,
        e: &impl Fn(String) -> TraceError,
    ) -> Result<(u64, &mut GState), TraceError> {
        let g = cur
            .g
            .ok_or_else(|| e("a goroutine event on a thread running none".into()))?;
        let s = self
            .g
            .get_mut(&g)
            .ok_or_else(|| e(format!("an event for unknown goroutine {g}")))?;
        if s.status != want {
            return Err(e(format!(
                "goroutine {g} is {:?} where {want:?} was expected",
                s.status
            )));
        }
        Ok((g, s))
    }

    fn go_stop_exec(
        &mut self,
        cur: Ctx,
        ev: &Event,
        steps: &mut Vec<Step>,
        e: impl Fn(String) -> TraceError,
    ) -> Advance {
        require(cur, Need::Have, Need::Have, Need::Have, &e)?;
        let (g, s) = self.current(cur, GStatus::Running, &e)?;
        let (reason, stack) = (ev.args[0], ev.args[1]);
        match ev.ty {
            EV_GO_DESTROY => {
                self.g.remove(&g);
                steps.push(Step::Destroy { g });
            }
            EV_GO_STOP => {
                s.status = GStatus::Runnable;
                steps.push(Step::Stop { g, reason, stack });
            }
            _ => {
                s.status = GStatus::Waiting;
                steps.push(Step::Block { g, reason, stack });
            }
        }
        Ok(Some(Ctx { g: None, ..cur }))
    }

    fn go_start(
        &mut self,
        cur: Ctx,
        gid: u64,
        seq: Seq,
        steps: &mut Vec<Step>,
        e: impl Fn(String) -> TraceError,
    ) -> Advance {
        match self.g.get_mut(&gid) {
            Some(s) if s.status == GStatus::Runnable && seq.succeeds(s.seq) => {
                require(cur, Need::Have, Need::Have, Need::Not, &e)?;
                s.status = GStatus::Running;
                s.seq = seq;
                steps.push(Step::Start { g: gid });
                Ok(Some(Ctx {
                    g: Some(gid),
                    ..cur
                }))
            }
            _ => Ok(None),
        }
    }

    fn go_unblock(&mut self, cur: Ctx, gid: u64, seq: Seq, steps: &mut Vec<Step>) -> Option<Ctx> {
        match self.g.get_mut(&gid) {
            // Anything may unblock a goroutine, sysmon included: no context to check.
            Some(s) if s.status == GStatus::Waiting && seq.succeeds(s.seq) => {
                s.status = GStatus::Runnable;
                s.seq = seq;
                steps.push(Step::Unblock { g: gid });
                Some(cur)
            }
            _ => None,
        }
    }

    /// `coroswitch`: the running goroutine blocks (or exits) and hands its thread to a
    /// waiting one.
    fn go_switch(
        &mut self,
        cur: Ctx,
        next_g: u64,
        seq: Seq,
        destroy: bool,
        steps: &mut Vec<Step>,
        e: impl Fn(String) -> TraceError,
    ) -> Advance {
        require(cur, Need::Have, Need::Have, Need::Have, &e)?;
        let (g, _) = self.current(cur, GStatus::Running, &e)?;
        match self.g.get(&next_g) {
            Some(s) if s.status == GStatus::Waiting && seq.succeeds(s.seq) => {}
            _ => return Ok(None),
        }
        if destroy {
            self.g.remove(&g);
            steps.push(Step::Destroy { g });
        } else {
            if let Some(s) = self.g.get_mut(&g) {
                s.status = GStatus::Waiting;
            }
            steps.push(Step::Block {
                g,
                reason: 0,
                stack: 0,
            });
        }
        if let Some(s) = self.g.get_mut(&next_g) {
            s.status = GStatus::Running;
            s.seq = seq;
        }
        steps.push(Step::Unblock { g: next_g });
        steps.push(Step::Start { g: next_g });
        Ok(Some(Ctx {
            g: Some(next_g),
            ..cur
        }))
    }

    fn go_syscall_begin(
        &mut self,
        cur: Ctx,
        pseq: Seq,
        stack: u64,
        steps: &mut Vec<Step>,
        e: impl Fn(String) -> TraceError,
    ) -> Advance {
        require(cur, Need::Have, Need::Have, Need::Have, &e)?;
        let (g, s) = self.current(cur, GStatus::Running, &e)?;
        s.status = GStatus::Syscall;
        let p = cur.p.and_then(|p| self.p.get_mut(&p)).ok_or_else(|| {
            e(format!(
                "goroutine {g} enters a syscall on unknown proc {:?}",
                cur.p
            ))
        })?;
        p.status = PStatus::Syscall;
        // The P sequence number only disambiguates steals: on a running P it must simply
        // be the next one.
        if !pseq.succeeds(p.seq) {
            return Err(e(format!(
                "proc sequence {} does not follow {}",
                pseq.n, p.seq.n
            )));
        }
        p.seq = pseq;
        steps.push(Step::SyscallBegin { g, stack });
        Ok(Some(cur))
    }

    fn go_syscall_end(
        &mut self,
        cur: Ctx,
        steps: &mut Vec<Step>,
        e: impl Fn(String) -> TraceError,
    ) -> Advance {
        require(cur, Need::Have, Need::Have, Need::Have, &e)?;
        let (g, s) = self.current(cur, GStatus::Syscall, &e)?;
        s.status = GStatus::Running;
        let p = cur
            .p
            .and_then(|p| self.p.get_mut(&p))
            .ok_or_else(|| e(format!("goroutine {g} leaves a syscall on an unknown proc")))?;
        if p.status != PStatus::Syscall {
            return Err(e(format!(
                "goroutine {g} leaves a syscall on a proc that is {:?}",
                p.status
            )));
        }
        p.status = PStatus::Running;
        steps.push(Step::SyscallEnd { g });
        Ok(Some(cur))
    }

    fn go_syscall_end_blocked(
        &mut self,
        cur: Ctx,
        steps: &mut Vec<Step>,
        e: impl Fn(String) -> TraceError,
    ) -> Advance {
        // The event says the P was lost during the syscall: wait until the steal (or stop)
        // that took it has been seen.
        if let Some(p) = cur.p {
            let s = self
                .p
                .get(&p)
                .ok_or_else(|| e(format!("unknown proc {p} leaving a syscall")))?;
            if s.status == PStatus::Syscall {
                return Ok(None);
            }
        }
        require(cur, Need::Have, Need::May, Need::Have, &e)?;
        let (g, s) = self.current(cur, GStatus::Syscall, &e)?;
        s.status = GStatus::Runnable;
        steps.push(Step::SyscallEndBlocked { g });
        Ok(Some(Ctx { g: None, ..cur }))
    }

    fn go_destroy_syscall(
        &mut self,
        cur: Ctx,
        steps: &mut Vec<Step>,
        e: impl Fn(String) -> TraceError,
    ) -> Advance {
        require(cur, Need::Have, Need::May, Need::Have, &e)?;
        let (g, _) = self.current(cur, GStatus::Syscall, &e)?;
        self.g.remove(&g);
        steps.push(Step::Destroy { g });
        let mut next = Ctx { g: None, ..cur };
        if let Some(p) = cur.p {
            let s = self
                .p
                .get_mut(&p)
                .ok_or_else(|| e(format!("unknown proc {p} in a cgo callback's exit")))?;
            if s.status != PStatus::Syscall {
                return Err(e(format!(
                    "proc {p} is {:?} when a cgo callback exits",
                    s.status
                )));
            }
            // The thread ID may be reused by the OS: forget the binding, as Go does.
            s.status = PStatus::SyscallAbandoned;
            next.p = None;
        }
        Ok(Some(next))
    }
}

#[derive(Clone, Copy)]
enum Need {
    Have,
    May,
    Not,
}

/// Go's `validateCtx`: which of M, P and G an event needs its thread to hold.
fn require(
    cur: Ctx,
    m: Need,
    p: Need,
    g: Need,
    e: &impl Fn(String) -> TraceError,
) -> Result<(), TraceError> {
    fn check(has: bool, need: Need, what: &str) -> Result<(), String> {
        match (need, has) {
            (Need::Have, false) => Err(format!("expected a {what} but had none")),
            (Need::Not, true) => Err(format!("expected no {what} but had one")),
            _ => Ok(()),
        }
    }
    check(cur.m.is_some(), m, "thread")
        .and_then(|()| check(cur.p.is_some(), p, "proc"))
        .and_then(|()| check(cur.g.is_some(), g, "goroutine"))
        .map_err(e)
}

/// Orders one generation's events, handing each goroutine change to `emit` with the
/// event's time (nanoseconds, made strictly increasing as Go's reader does) and offset.
pub(crate) fn order_generation(
    ordering: &mut Ordering,
    generation: &Generation<'_>,
    last_time: &mut u64,
    mut emit: impl FnMut(u64, usize, &Step) -> Result<(), TraceError>,
) -> Result<(), TraceError> {
    let gen_id = generation.gen_id;
    let mut frontier: Vec<BatchCursor<'_>> = Vec::with_capacity(generation.ms.len());
    for (m, batches) in &generation.ms {
        if let Some(cursor) = BatchCursor::new(*m, batches.clone(), generation.ns_per_tick)? {
            heap_push(&mut frontier, cursor);
        }
    }
    let mut steps = Vec::with_capacity(3);
    let mut try_advance =
        |frontier: &mut Vec<BatchCursor<'_>>, i: usize| -> Result<bool, TraceError> {
            steps.clear();
            let cursor = &mut frontier[i];
            if !ordering.advance(&cursor.event, cursor.m, gen_id, &mut steps)? {
                return Ok(false);
            }
            let time = cursor.event.time.max(last_time.saturating_add(1));
            *last_time = time;
            for step in &steps {
                emit(time, cursor.event.offset, step)?;
            }
            if cursor.advance(generation.ns_per_tick, false)? {
                heap_fix(frontier, i);
            } else {
                heap_remove(frontier, i);
            }
            Ok(true)
        };
    while !frontier.is_empty() {
        if try_advance(&mut frontier, 0)? {
            continue;
        }
        // A sorted slice is still a heap.
        frontier.sort_by_key(|c| c.event.time);
        let mut advanced = false;
        for i in 1..frontier.len() {
            if try_advance(&mut frontier, i)? {
                advanced = true;
                break;
            }
        }
        if !advanced {
            let stuck: Vec<String> = frontier
                .iter()
                .map(|c| format!("M {} at event type {}", c.m, c.event.ty))
                .collect();
            return Err(TraceError::Inconsistent {
                generation: gen_id,
                offset: frontier[0].event.offset as u64,
                message: format!("no thread's next event can happen: {}", stuck.join(", ")),
            });
        }
    }
    Ok(())
}

// A binary min-heap on event time, kept by hand because Go's algorithm needs to advance an
// arbitrary element and re-sort the whole frontier in place.

fn heap_push<'a>(heap: &mut Vec<BatchCursor<'a>>, cursor: BatchCursor<'a>) {
    heap.push(cursor);
    let last = heap.len() - 1;
    sift_up(heap, last);
}

fn heap_fix(heap: &mut [BatchCursor<'_>], i: usize) {
    if sift_up(heap, i) == i {
        sift_down(heap, i);
    }
}

fn heap_remove(heap: &mut Vec<BatchCursor<'_>>, mut i: usize) {
    while i > 0 {
        heap.swap((i - 1) / 2, i);
        i = (i - 1) / 2;
    }
    let last = heap.len() - 1;
    heap.swap(0, last);
    heap.pop();
    sift_down(heap, 0);
}

fn sift_up(heap: &mut [BatchCursor<'_>], mut i: usize) -> usize {
    while i > 0 && heap[(i - 1) / 2].event.time > heap[i].event.time {
        heap.swap((i - 1) / 2, i);
        i = (i - 1) / 2;
    }
    i
}

fn sift_down(heap: &mut [BatchCursor<'_>], mut i: usize) {
    loop {
        let mut min = i;
        for child in [2 * i + 1, 2 * i + 2] {
            if child < heap.len() && heap[child].event.time < heap[min].event.time {
                min = child;
            }
        }
        if min == i {
            return;
        }
        heap.swap(i, min);
        i = min;
    }
}
