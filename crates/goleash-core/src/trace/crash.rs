//! The goroutine dump a crashed test binary printed, and what it says the binary left
//! behind.
//!
//! A binary that panics or hits a fatal error does not stop its trace: the trace is cut
//! short, and states in it may be stale. With `GOTRACEBACK=all` the crash prints every
//! goroutine: the dump says which were alive and where, and the trace, as far as it goes,
//! and the dump's `created by` lines say which test started them.

use std::io::{self, Read};

use rustc_hash::FxHashMap;

use super::chain::{Link, dump_chain, trace_chain};
use super::leftovers::{Leftover, Leftovers, Site, finished_tests, runs_of, test_names};
use super::record::record;
use super::testlog::{TestAction, TestEvent};
use super::{GoState, Trace, attribute};
use crate::code::{Origin, origin};
use crate::intern::{FrameId, StackId, Sym, Tables};
use crate::model::{Cause, CauseKind, Creator, DumpInfo, Record, State};
use crate::parse::{self, ParseError, ParseOptions, Sink};

/// One goroutine of a crash's dump.
#[derive(Clone, Debug)]
pub(super) struct DumpGoroutine {
    pub(super) id: u64,
    pub(super) parent: Option<u64>,
    pub(super) created_by: Option<FrameId>,
    pub(super) stack: StackId,
    reason: Option<Sym>,
    /// The runtime marked it `(leaked)`: blocked forever.
    leaked: bool,
}

/// The goroutine dump a crash printed.
#[derive(Clone, Debug)]
pub struct Crash {
    /// Why: the panic, the fatal error or signal, the test timeout.
    pub cause: Cause,
    /// In the order printed: the goroutine that crashed first.
    goroutines: Vec<DumpGoroutine>,
}

/// The last goroutine dump with a crash's cause in a test binary's output (a panic, a
/// fatal error or signal, a test timeout), if there is one: output without any dump is not
/// an error.
pub fn read_crash(output: impl Read, tables: &mut Tables) -> Result<Option<Crash>, ParseError> {
    let mut sink = CrashSink::default();
    match parse::parse(output, &ParseOptions::default(), tables, &mut sink) {
        Ok(_) => Ok(sink.last),
        Err(ParseError::Empty | ParseError::NoDump { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

impl Crash {
    /// The line of the program's own code where the crashing goroutine was.
    pub fn panic_site(&self, tables: &Tables) -> Option<Site> {
        let first = self.goroutines.first()?;
        let frame = tables
            .frames(first.stack)
            .iter()
            .copied()
            .find(|&f| origin(tables, f) == Origin::User)?;
        let f = tables.get_frame(frame);
        Some(Site {
            function: tables.str(f.function).into_owned(),
            file: tables.str(f.file).into_owned(),
            line: f.line,
            state: None,
            goroutine: None,
        })
    }

    /// Every goroutine of the dump: its id, its stack and its wait reason.
    pub fn stacks(&self) -> impl Iterator<Item = (u64, StackId, Option<Sym>)> + '_ {
        self.goroutines.iter().map(|g| (g.id, g.stack, g.reason))
    }

    /// Whether the runtime marked any goroutine of the dump `(leaked)`: its goroutineleak
    /// detection ran, and every goroutine not marked could still run.
    pub fn has_leak_proof(&self) -> bool {
        self.goroutines.iter().any(|g| g.leaked)
    }

    /// Whether the dump shows goroutine `id` marked `(leaked)`: the runtime proved it
    /// blocked forever.
    pub fn leaked(&self, id: u64) -> bool {
        self.goroutines.iter().any(|g| g.id == id && g.leaked)
    }

    /// What the dump says the binary left behind: every goroutine a `go` statement
    /// started, except the tests' own. `trace` is the binary's trace as far as it went:
    /// what it got to see names tests (subtests too) and follows creators through
    /// goroutines that had exited. `events` are what the binary reported about its tests,
    /// and `panicked_in` the test whose output holds the panic, when one's does: it did
    /// not end, whatever it reported.
    pub fn leftovers(
        &self,
        trace: Option<&Trace>,
        tables: &Tables,
        events: &[TestEvent],
        panicked_in: Option<&str>,
    ) -> Leftovers {
        let mut found = Leftovers::default();
        let finished = finished_tests(events);
        let mut by_trace: FxHashMap<u64, (Option<String>, Vec<Link>, u32)> = FxHashMap::default();
        if let Some(trace) = trace {
            let attribution = attribute(trace, tables, events);
            let names = test_names(&attribution.tests);
            let runs = runs_of(&attribution.tests);
            for leak in attribution.leaks.iter().filter(|l| l.hops > 0) {
                let chain = trace_chain(trace, tables, leak.goroutine, leak.hops, &names);
                let run = runs.get(&leak.test_goroutine).copied().unwrap_or(1);
                by_trace.insert(leak.goroutine, (leak.test.clone(), chain, run));
            }
        }
        let alive: FxHashMap<u64, &DumpGoroutine> =
            self.goroutines.iter().map(|g| (g.id, g)).collect();
        let is_test_goroutine = |g: &DumpGoroutine| {
            tables
                .frames(g.stack)
                .iter()
                .any(|&f| tables.bytes(tables.get_frame(f).function) == b"testing.tRunner")
        };
        // The dump alone cannot tell runs apart: its goroutines count as the last run's,
        // the one the crash cut short.
        let mut last_run: FxHashMap<&str, u32> = FxHashMap::default();
        for e in events
            .iter()
            .filter(|e| e.action == TestAction::Run && !e.name.contains('/'))
        {
            *last_run.entry(e.name.as_str()).or_default() += 1;
        }
        for g in &self.goroutines {
            if g.created_by.is_none() || is_test_goroutine(g) {
                continue;
            }
            let (test, chain, run) = match by_trace.get(&g.id) {
                Some((test, chain, run)) => (test.clone(), chain.clone(), *run),
                None => {
                    let (test, chain) = dump_chain(g, &alive, tables, &is_test_goroutine);
                    let top = test.as_deref().map(|t| t.split('/').next().unwrap_or(t));
                    let run = top.and_then(|t| last_run.get(t)).copied().unwrap_or(1);
                    (test, chain, run)
                }
            };
            let ended = test
                .as_deref()
                .is_some_and(|t| finished.contains(t) && Some(t) != panicked_in);
            // As in a trace: a goroutine caught running, or not yet run, shows no wait.
            let state = g.reason.map(|r| tables.bytes(r));
            if ended && matches!(state, Some(b"runnable" | b"running" | b"preempted")) {
                let start = tables
                    .frames(g.stack)
                    .iter()
                    .rev()
                    .map(|&f| tables.str(tables.get_frame(f).function))
                    .find(|f| f != "runtime.goexit")
                    .unwrap_or_default()
                    .into_owned();
                let state = if state == Some(b"running") {
                    GoState::Running
                } else {
                    GoState::Runnable
                };
                found.not_judged(test, state, start, Some(g.stack));
                continue;
            }
            let record = record(
                g.id,
                State {
                    reason: g.reason,
                    ..State::default()
                },
                tables.frames(g.stack).to_vec(),
                g.created_by.map(|frame| Creator {
                    frame,
                    parent: g.parent,
                }),
            );
            found.goroutines.push(Leftover {
                finished: test.is_none() || ended,
                test,
                record,
                chain,
                run,
            });
        }
        found
    }
}

/// Keeps the last dump with a crash cause.
#[derive(Default)]
struct CrashSink {
    current: Option<Crash>,
    last: Option<Crash>,
}

impl Sink for CrashSink {
    fn dump_start(&mut self, _tables: &Tables, info: &DumpInfo) -> io::Result<()> {
        self.current = Some(Crash {
            cause: info.cause.clone(),
            goroutines: Vec::new(),
        });
        Ok(())
    }

    fn record(&mut self, tables: &mut Tables, record: &Record) -> io::Result<()> {
        let (Some(current), Some(id)) = (self.current.as_mut(), record.id) else {
            return Ok(());
        };
        current.goroutines.push(DumpGoroutine {
            id,
            parent: record.created_by.and_then(|c| c.parent),
            created_by: record.created_by.map(|c| c.frame),
            stack: tables.stack(&record.frames),
            reason: record.state.as_ref().and_then(|s| s.reason),
            leaked: record.state.as_ref().is_some_and(|s| s.leaked),
        });
        Ok(())
    }

    fn dump_end(&mut self, _tables: &mut Tables, _truncated: bool) -> io::Result<()> {
        if let Some(dump) = self.current.take()
            && matches!(
                dump.cause.kind,
                CauseKind::Panic | CauseKind::Fatal | CauseKind::Signal | CauseKind::TestTimeout
            )
        {
            self.last = Some(dump);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_without_a_dump_holds_no_crash() {
        let mut tables = Tables::new();
        for output in [
            &b""[..],
            b"=== RUN   TestX\n--- PASS: TestX (0.00s)\nPASS\n",
        ] {
            assert!(read_crash(output, &mut tables).unwrap().is_none());
        }
        // What cannot be read is said, not taken for no crash.
        let html = b"<!DOCTYPE html>\n<html></html>\n";
        assert!(matches!(
            read_crash(&html[..], &mut tables),
            Err(ParseError::Html)
        ));
    }

    #[test]
    fn the_dump_says_which_goroutines_the_runtime_proved_leaked() {
        let output =
            b"panic: goleash: deadlock: the runtime proved a test's goroutine blocked forever

goroutine 17 [running]:
example.com/p_test.goleash_deadlock_watch()
\t/src/p/zzzz_goleash_settle_test.go:41 +0x14f
created by time.goFunc
\t/usr/local/go/src/time/sleep.go:182 +0x2d

goroutine 9 [sync.Mutex.Lock (leaked)]:
sync.(*Mutex).Lock(...)
\t/usr/local/go/src/sync/mutex.go:46
example.com/p.TestX(0xc000010000)
\t/src/p/p_test.go:12 +0x1d
testing.tRunner(0xc000010000, 0x1)
\t/usr/local/go/src/testing/testing.go:1690 +0xf4
created by testing.(*T).Run in goroutine 1
\t/usr/local/go/src/testing/testing.go:1743 +0x390
";
        let mut tables = Tables::new();
        let crash = read_crash(&output[..], &mut tables).unwrap().unwrap();
        assert_eq!(crash.cause.kind, CauseKind::Panic);
        assert!(crash.leaked(9));
        assert!(crash.has_leak_proof());
        assert!(!crash.leaked(17));
        assert!(!crash.leaked(3), "a goroutine the dump does not hold");
    }

    #[test]
    fn a_panic_is_a_crash_and_names_its_test() {
        let output = b"=== RUN   TestX
panic: boom

goroutine 7 [running]:
example.com/p.TestX(0xc000010000)
\t/src/p/p_test.go:12 +0x1d
testing.tRunner(0xc000010000, 0x1)
\t/usr/local/go/src/testing/testing.go:1690 +0xf4
created by testing.(*T).Run in goroutine 1
\t/usr/local/go/src/testing/testing.go:1743 +0x390

goroutine 8 [chan receive]:
example.com/p.worker()
\t/src/p/p.go:5 +0x1d
created by example.com/p.TestX in goroutine 7
\t/src/p/p_test.go:10 +0x2a
";
        let mut tables = Tables::new();
        let crash = read_crash(&output[..], &mut tables).unwrap().unwrap();
        assert_eq!(crash.cause.kind, CauseKind::Panic);
        let site = crash.panic_site(&tables).unwrap();
        assert_eq!(
            (site.function.as_str(), site.line),
            ("example.com/p.TestX", 12)
        );
        let found = crash.leftovers(None, &tables, &[], Some("TestX"));
        assert_eq!(found.goroutines.len(), 1);
        let leftover = &found.goroutines[0];
        assert_eq!(leftover.test.as_deref(), Some("TestX"));
        assert!(!leftover.finished, "the test that panicked did not end");
        assert_eq!(leftover.chain.len(), 1);
        assert_eq!(leftover.chain[0].goroutine, Some(7));
        assert!(!leftover.chain[0].exited);
    }
}
