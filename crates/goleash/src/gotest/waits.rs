//! What a stuck test waits on: for each way out of its wait that only another goroutine
//! can open (a lock's holder unlocking, a send, a close, a `Done`), the places in the code
//! the source shows for it, and the goroutines that were at those places when the binary
//! was stopped, with where they were blocked themselves. When those goroutines wait in
//! turn for what only the test (or the next of them) can do, the ring is the deadlock.
//!
//! A goroutine is at a place when one frame of its stack is in that function: for a lock,
//! past its `Lock` and before its `Unlock` (a deferred one holds until the function
//! returns). The source names the lock as its function writes it (`from.mu`), not which
//! instance: the ring says what each goroutine holds and waits for in its own code's
//! words, as a lock-order report does.

use std::collections::HashSet;

use goleash_core::classify::{self, Assessment};
use goleash_core::code::{Origin, origin};
use goleash_core::exits::{ExitCondition, Peer, PeerRole, Possibility, without_type_args};
use goleash_core::{Group, StackId, Tables};

use super::report::{Judged, PackageReport};
use crate::doc::test::{CycleStep, PeerAt, PeerGoroutine, Place, WaitsOn};

/// How many goroutines a ring may hold: enough for any inversion a person can follow.
const MAX_RING: usize = 8;

/// The goroutines the binary left with one stack, in one test, with what goleash knows
/// of them.
struct Live<'r> {
    ids: &'r [u64],
    /// The test it belongs to: its own goroutine's, or the one that started it.
    test: Option<&'r str>,
    /// It runs a test (`testing.tRunner` is on its stack).
    runs_test: bool,
    group: &'r Group,
    judged: &'r Judged,
}

impl Live<'_> {
    fn assessment(&self) -> &Assessment {
        &self.judged.assessment
    }

    /// The conditions another goroutine can open, when nothing ends its wait by itself.
    fn waits_on_others(&self) -> Vec<&ExitCondition> {
        let Some(exits) = &self.assessment().exits else {
            return Vec::new();
        };
        if exits
            .conditions
            .iter()
            .any(|c| c.can_happen == Possibility::Yes)
        {
            return Vec::new();
        }
        exits
            .conditions
            .iter()
            .filter(|c| !c.peers.is_empty())
            .collect()
    }
}

/// The goroutines of a package's report.
fn live(report: &PackageReport) -> Vec<Live<'_>> {
    let tables = &report.tables;
    let mut out = Vec::new();
    for test in &report.tests {
        for (group, judged) in test.snapshot.groups.iter().zip(&test.judged) {
            let runs_test = tables
                .frames(group.stack)
                .iter()
                .any(|&f| tables.bytes(tables.get_frame(f).function) == b"testing.tRunner");
            out.push(Live {
                ids: &group.ids,
                test: test.test.as_deref(),
                runs_test,
                group,
                judged,
            });
        }
    }
    out
}

fn short(file: &str) -> &str {
    file.rsplit('/').next().unwrap_or(file)
}

/// Whether a goroutine with `group`'s stack is at `peer`.
fn is_at(tables: &Tables, group: &Group, peer: &Peer) -> bool {
    stack_is_at(tables, group.stack, peer)
}

/// Whether a goroutine with stack `stack` is at `peer`.
fn stack_is_at(tables: &Tables, stack: StackId, peer: &Peer) -> bool {
    tables.frames(stack).iter().any(|&f| {
        let frame = tables.get_frame(f);
        // A generic function's frames say `F[...]`; the source names it `F`.
        if without_type_args(&tables.str(frame.function)) != peer.function
            || short(&tables.str(frame.file)) != peer.file
        {
            return false;
        }
        match peer.role {
            PeerRole::Holds => {
                frame.line > peer.line && peer.until.is_none_or(|until| frame.line < until)
            }
            _ => true,
        }
    })
}

/// The innermost frame of the program's own code.
fn own_frame(tables: &Tables, group: &Group) -> Option<Place> {
    own_frame_of(tables, group.stack)
}

fn own_frame_of(tables: &Tables, stack: StackId) -> Option<Place> {
    let &f = tables
        .frames(stack)
        .iter()
        .find(|&&f| origin(tables, f) == Origin::User)?;
    let frame = tables.get_frame(f);
    Some(Place {
        function: tables.str(frame.function).into_owned(),
        file: short(&tables.str(frame.file)).to_string(),
        line: frame.line,
    })
}

fn created_at(g: &Live<'_>) -> Option<Place> {
    g.judged.chain.first().map(|l| Place {
        function: l.function.clone(),
        file: short(&l.file).to_string(),
        line: l.line,
    })
}

fn test_goroutine_of(g: &Live<'_>) -> Option<String> {
    g.runs_test.then(|| g.test.map(str::to_string)).flatten()
}

/// What the stuck test whose own goroutine is `stuck` waits on, and the ring of goroutines
/// through it that wait on each other, if there is one.
pub fn waits_of(report: &PackageReport, stuck: u64) -> (Vec<WaitsOn>, Vec<CycleStep>) {
    let tables = &report.tables;
    let all = live(report);
    let Some(start) = all.iter().position(|g| g.ids.contains(&stuck)) else {
        return (Vec::new(), Vec::new());
    };
    let test = &all[start];
    let Some(exits) = &test.assessment().exits else {
        return (Vec::new(), Vec::new());
    };
    let waits = exits
        .conditions
        .iter()
        .filter(|c| !c.peers.is_empty())
        .map(|c| WaitsOn {
            kind: c.kind.name(),
            code: c.code.clone(),
            file: c.file.clone(),
            line: c.line,
            peers: c
                .peers
                .iter()
                .map(|p| PeerAt {
                    role: p.role,
                    function: p.function.clone(),
                    file: p.file.clone(),
                    line: p.line,
                    code: p.code.clone(),
                    goroutines: all
                        .iter()
                        .filter(|g| is_at(tables, g.group, p))
                        .map(|g| PeerGoroutine {
                            goroutine: if g.ids.contains(&stuck) {
                                stuck
                            } else {
                                g.ids[0]
                            },
                            count: g.ids.len() as u64,
                            test_goroutine_of: test_goroutine_of(g),
                            test: (!g.runs_test).then(|| g.test.map(str::to_string)).flatten(),
                            created_at: if g.runs_test { None } else { created_at(g) },
                            state: classify::state_name(tables, g.group, g.assessment())
                                .into_owned(),
                            at: own_frame(tables, g.group),
                            waits_in: g.assessment().exits.as_ref().map(|e| e.text.clone()),
                        })
                        // The dump holds every goroutine, those no test started too.
                        .chain(
                            report
                                .dumped
                                .iter()
                                .filter(|(id, stack, _)| {
                                    !all.iter().any(|g| g.ids.contains(id))
                                        && stack_is_at(tables, *stack, p)
                                })
                                .map(|(id, stack, reason)| PeerGoroutine {
                                    goroutine: *id,
                                    count: 1,
                                    test_goroutine_of: None,
                                    test: None,
                                    created_at: None,
                                    state: reason.clone().unwrap_or_default(),
                                    at: own_frame_of(tables, *stack),
                                    waits_in: None,
                                }),
                        )
                        .collect(),
                })
                .collect(),
        })
        .collect();
    let leaked = report.proven_leaked.as_deref();
    let mut cycle = ring(tables, &all, start, stuck, leaked);
    // Names alike are no proof: when another goroutine that can still run on its own (one
    // asleep, in I/O, running), or one goleash has not judged, is at a place that ends a
    // wait of the ring, it may be the one that holds what is waited for.
    let members: Vec<u64> = cycle.iter().map(|s| s.goroutine).collect();
    let ring_groups: Vec<&Live<'_>> = all
        .iter()
        .filter(|g| g.ids.iter().any(|id| members.contains(id)))
        .collect();
    let open = ring_groups.iter().any(|g| {
        g.waits_on_others().iter().flat_map(|c| &c.peers).any(|p| {
            all.iter().any(|other| {
                !ring_groups.iter().any(|r| std::ptr::eq(*r, other))
                    && is_at(tables, other.group, p)
                    && !other.assessment().blocking.needs_another_goroutine()
            }) || report.dumped.iter().any(|(id, stack, _)| {
                !all.iter().any(|g| g.ids.contains(id)) && stack_is_at(tables, *stack, p)
            })
        })
    });
    if open {
        cycle.clear();
    }
    // With the runtime's proof at hand, a goroutine it did not mark leaked can still run,
    // and can still end the wait it is in the ring for: that ring is only names alike.
    if let Some(leaked) = leaked
        && !cycle.iter().all(|step| leaked.contains(&step.goroutine))
    {
        cycle.clear();
    }
    (waits, cycle)
}

/// The shortest ring through `test` of goroutines each at a peer of the previous one's
/// wait. One through other goroutines comes before the test waiting on itself (a lock it
/// holds again), which the lock's name alone cannot tell from holding another of its kind.
fn ring(
    tables: &Tables,
    all: &[Live<'_>],
    start: usize,
    stuck: u64,
    leaked: Option<&[u64]>,
) -> Vec<CycleStep> {
    // (goroutine, (condition, peer) of the previous goroutine's wait it is at)
    type Step = (usize, Option<(usize, usize)>);
    let next = |g: &Live<'_>| -> Vec<(usize, (usize, usize))> {
        let mut out = Vec::new();
        for (ci, c) in g.waits_on_others().into_iter().enumerate() {
            for (pi, p) in c.peers.iter().enumerate() {
                for (gi, other) in all.iter().enumerate() {
                    if is_at(tables, other.group, p) {
                        out.push((gi, (ci, pi)));
                    }
                }
            }
        }
        out
    };
    let mut visited: HashSet<usize> = HashSet::from([start]);
    let mut paths: Vec<Vec<Step>> = vec![vec![(start, None)]];
    let mut found: Option<Vec<Step>> = None;
    'search: for _ in 0..MAX_RING {
        let mut longer = Vec::new();
        for path in &paths {
            let last = path[path.len() - 1].0;
            for (gi, via) in next(&all[last]) {
                if gi == start && path.len() > 1 {
                    let mut ring = path.clone();
                    ring[0].1 = Some(via);
                    found = Some(ring);
                    break 'search;
                }
                if visited.insert(gi) {
                    let mut p = path.clone();
                    p.push((gi, Some(via)));
                    longer.push(p);
                }
            }
        }
        paths = longer;
    }
    let found = found.or_else(|| {
        next(&all[start])
            .into_iter()
            .find(|&(gi, _)| gi == start)
            .map(|(_, via)| vec![(start, Some(via))])
    });
    let Some(found) = found else {
        return Vec::new();
    };
    let n = found.len();
    (0..n)
        .filter_map(|i| {
            let (gi, via) = found[i];
            let (ci, pi) = via?;
            let before = &all[found[(i + n - 1) % n].0];
            let peer = &before.waits_on_others()[ci].peers[pi];
            let g = &all[gi];
            Some(CycleStep {
                goroutine: if gi == start {
                    stuck
                } else {
                    // One the runtime proved leaked, when it looked.
                    g.ids
                        .iter()
                        .copied()
                        .find(|id| leaked.is_some_and(|l| l.contains(id)))
                        .unwrap_or(g.ids[0])
                },
                test_goroutine_of: test_goroutine_of(g),
                created_at: if g.runs_test { None } else { created_at(g) },
                role: peer.role,
                ends_wait_at: Place {
                    function: peer.function.clone(),
                    file: peer.file.clone(),
                    line: peer.line,
                },
                ends_wait_code: peer.code.clone(),
                waits_at: own_frame(tables, g.group),
                waits_in: g.assessment().exits.as_ref().map(|e| e.text.clone()),
            })
        })
        .collect()
}
