//! The knowledge base: known shapes of goroutines, long-lived by design or leaking, each with
//! what a senior Go developer would say about it.
//!
//! Everything here is data. An entry matches on what any format shows (frames, the blocking
//! operation) and, when the source is at hand, on what the line says; adding an entry needs
//! no code. Entries are tried in order and the first match wins, so specific entries come
//! before general ones. `crates/goleash/tests/it/verdicts.rs` drives the leak entries and the
//! infrastructure a service runs against a real Go program (`fixtures/go/leakysvc`).

use crate::classify::Blocking;
use crate::exits::{ExitKind, Exits, Possibility, Statement};

/// What a matching goroutine is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Long-lived by design: infrastructure of the runtime, the standard library or a
    /// well-known library.
    Infrastructure,
    /// A known way goroutines leak.
    Leak,
    /// Blocked, but something will wake it (a timer).
    Lingering,
}

/// What the source line must say for an entry to match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceShape {
    /// A `select` with a ticker case, or `for range` over a ticker, with no way to be told
    /// to stop and no way out.
    TickerLoop,
    /// A `select` in a loop with no case that can stop it and no way out.
    SelectLoopWithoutExit,
    /// A `select` with a one-shot timer case (`time.After`) that will fire.
    SelectOnTimer,
    /// A `select` with a `ctx.Done()` case or a done channel.
    SelectWithDone,
    /// `time.Sleep` in a loop with no way out.
    SleepLoop,
    /// `for range ch`.
    RangeOverChannel,
}

/// When an entry matches. Empty lists match anything.
#[derive(Clone, Copy, Debug)]
pub struct When {
    /// Some frame's function starts with one of these.
    pub any_frame: &'static [&'static str],
    /// The goroutine is blocked in one of these operations.
    pub blocking: &'static [Blocking],
    /// The stack has none of the program's own frames (infrastructure idling, not a handler
    /// of the program stuck inside it).
    pub no_user_frames: bool,
    /// Every frame is the runtime's.
    pub only_runtime: bool,
    /// The source line has this shape (only checked when the source is readable).
    pub source: Option<SourceShape>,
    /// Several goroutines of the group share one parent: a pool started by one caller.
    pub several_per_parent: bool,
    /// Only for what a test left when it ended: what is by design in a running program
    /// (a server) must be gone when the test that started it is.
    pub after_test: bool,
}

/// A known shape of goroutine.
#[derive(Clone, Copy, Debug)]
pub struct Pattern {
    /// Stable identifier, used in JSON and suppression files.
    pub id: &'static str,
    /// What it is, in a few words.
    pub title: &'static str,
    /// What it means.
    pub kind: Kind,
    /// When it matches.
    pub when: When,
    /// What to do about it. Empty for infrastructure.
    pub hint: &'static str,
}

const ANY: When = When {
    any_frame: &[],
    blocking: &[],
    no_user_frames: false,
    only_runtime: false,
    source: None,
    several_per_parent: false,
    after_test: false,
};

use Blocking as B;

/// Every entry, most specific first.
pub const PATTERNS: &[Pattern] = &[
    // ---------------------------------------------------------------- infrastructure
    Pattern {
        id: "runtime",
        title: "the Go runtime's own goroutine",
        kind: Kind::Infrastructure,
        when: When {
            only_runtime: true,
            ..ANY
        },
        hint: "",
    },
    Pattern {
        id: "dump-writer",
        title: "the goroutine writing this dump",
        kind: Kind::Infrastructure,
        when: When {
            any_frame: &[
                "runtime/pprof.writeGoroutineStacks",
                "runtime/pprof.writeRuntimeProfile",
                "runtime/pprof.writeGoroutine",
                "runtime/pprof.(*Profile).WriteTo",
                "runtime/debug.Stack",
                "runtime.Stack",
            ],
            // A debug=1 profile states no wait: the writer, parked while the runtime
            // collects the stacks, reads as a channel operation there.
            blocking: &[B::Running, B::Runnable, B::Unknown, B::ChanOp],
            ..ANY
        },
        hint: "",
    },
    Pattern {
        id: "testing",
        title: "the testing package running tests",
        kind: Kind::Infrastructure,
        when: When {
            any_frame: &[
                "testing.tRunner",
                "testing.runTests",
                "testing.(*M).",
                "testing.(*T).Run",
                "testing.(*T).Parallel",
                "testing.(*F).",
                "testing.runFuzz",
                "testing.(*testContext).",
                "testing/synctest.",
                "internal/synctest.",
            ],
            ..ANY
        },
        hint: "",
    },
    Pattern {
        id: "signal",
        title: "os/signal delivering signals",
        kind: Kind::Infrastructure,
        when: When {
            any_frame: &["os/signal.signal_recv", "os/signal.loop"],
            ..ANY
        },
        hint: "",
    },
    Pattern {
        id: "trace-reader",
        title: "an execution trace reader",
        kind: Kind::Infrastructure,
        when: When {
            any_frame: &[
                "runtime/trace.Start",
                "runtime.ReadTrace",
                "runtime/trace.(*",
            ],
            no_user_frames: true,
            ..ANY
        },
        hint: "",
    },
    // Before the servers of a running program: in a test, one it started must not outlive
    // it (a server `TestMain` or `init` started is no test's).
    Pattern {
        id: "server-left-by-test",
        title: "a server its test started and never closed",
        kind: Kind::Leak,
        when: When {
            any_frame: &[
                "net.(*TCPListener).Accept",
                "net.(*UnixListener).Accept",
                "internal/poll.(*FD).Accept",
            ],
            blocking: &[B::IoWait],
            after_test: true,
            ..ANY
        },
        hint: "A server or listener the test started is still accepting connections after the test ended. Close it when the test ends: `t.Cleanup(srv.Close)` for an `httptest.Server`, `defer ln.Close()` for a `net.Listener` (which ends its accept loop); a server shared by every test belongs in `TestMain`.",
    },
    Pattern {
        id: "http-server",
        title: "an HTTP server accepting connections",
        kind: Kind::Infrastructure,
        when: When {
            any_frame: &[
                "net/http.(*Server).Serve",
                "net/http.(*Server).ListenAndServe",
            ],
            blocking: &[B::IoWait],
            ..ANY
        },
        hint: "",
    },
    // Any other server between connections: what blocks is a listener's Accept waiting for
    // the network, whichever loop calls it (gRPC's Serve, net/rpc's Accept, the program's
    // own `for { ln.Accept() }`).
    Pattern {
        id: "accept-loop",
        title: "a server accepting connections",
        kind: Kind::Infrastructure,
        when: When {
            any_frame: &["internal/poll.(*FD).Accept", "net.(*netFD).accept"],
            blocking: &[B::IoWait],
            ..ANY
        },
        hint: "",
    },
    Pattern {
        id: "http-server-conn",
        title: "an HTTP server connection, idle or serving",
        kind: Kind::Infrastructure,
        when: When {
            any_frame: &[
                "net/http.(*conn).serve",
                "net/http.(*connReader).backgroundRead",
                "net/http.(*http2serverConn).",
                "net/http.(*http2Server).ServeConn",
                "golang.org/x/net/http2.(*serverConn).",
            ],
            no_user_frames: true,
            ..ANY
        },
        hint: "",
    },
    // Before `http-client-conn`: the same goroutine, but parked on the response it handed out
    // instead of reading the idle connection.
    Pattern {
        id: "http-response-open",
        title: "an HTTP client connection held by a response body never closed",
        kind: Kind::Leak,
        when: When {
            any_frame: &["net/http.(*persistConn).readLoop"],
            blocking: &[B::Select, B::ChanSend, B::ChanReceive, B::ChanOp],
            no_user_frames: true,
            ..ANY
        },
        hint: "The connection's readLoop waits for the caller to finish with a response body: a body that is never closed keeps the connection, its readLoop and its writeLoop alive for good. Close every response body (`defer resp.Body.Close()` right after the error check, also when the body is not read, also on error paths), and drain it (`io.Copy(io.Discard, resp.Body)`) so the connection can be reused.",
    },
    Pattern {
        id: "http-client-conn",
        title: "an idle keep-alive connection of an http.Client",
        kind: Kind::Infrastructure,
        when: When {
            any_frame: &[
                "net/http.(*persistConn).readLoop",
                "net/http.(*persistConn).writeLoop",
                "net/http.(*http2ClientConn).readLoop",
                "net/http.(*http2clientConnReadLoop).run",
                "golang.org/x/net/http2.(*ClientConn).readLoop",
                "golang.org/x/net/http2.(*clientConnReadLoop).run",
            ],
            no_user_frames: true,
            ..ANY
        },
        hint: "An http.Transport keeps idle connections for reuse (2 per host and 100 in all by default), each with a readLoop and a writeLoop. If they keep growing, responses are not closed (look for readLoops that are not in IO wait) or a new Transport or Client is made per request: reuse one, or call CloseIdleConnections when done with it.",
    },
    Pattern {
        id: "database-sql",
        title: "database/sql connection management",
        kind: Kind::Infrastructure,
        when: When {
            any_frame: &[
                "database/sql.(*DB).connectionOpener",
                "database/sql.(*DB).connectionCleaner",
                "database/sql.(*DB).connectionResetter",
            ],
            no_user_frames: true,
            ..ANY
        },
        hint: "",
    },
    Pattern {
        id: "library-daemon",
        title: "a well-known library's background goroutine",
        kind: Kind::Infrastructure,
        when: When {
            any_frame: &[
                "github.com/golang/glog.(*loggingT).flushDaemon",
                "github.com/golang/glog.(*fileSink).flushDaemon",
                "k8s.io/klog.(*loggingT).flushDaemon",
                "k8s.io/klog/v2.(*flushDaemon).run",
                "go.opencensus.io/stats/view.(*worker).start",
                "go.opentelemetry.io/otel/sdk/trace.(*batchSpanProcessor).processQueue",
                "google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run",
            ],
            ..ANY
        },
        hint: "",
    },
    // ---------------------------------------------------------------- leaks
    Pattern {
        id: "nil-channel",
        title: "blocked forever on a nil channel",
        kind: Kind::Leak,
        when: When {
            blocking: &[B::ChanReceiveNil, B::ChanSendNil],
            ..ANY
        },
        hint: "A send or receive on a nil channel blocks forever: the channel variable was never made (`make(chan T)`) or was set to nil. A nil channel only makes sense as a disabled case inside a select.",
    },
    Pattern {
        id: "empty-select",
        title: "`select {}` outside main",
        kind: Kind::Leak,
        when: When {
            blocking: &[B::SelectNoCases],
            ..ANY
        },
        hint: "`select {}` blocks forever. It is a way to park main; in any other goroutine it is a leak. Wait on a context or a done channel instead.",
    },
    Pattern {
        id: "ticker-loop",
        title: "a ticker loop with no way to stop",
        kind: Kind::Leak,
        when: When {
            blocking: &[B::Select, B::ChanReceive],
            source: Some(SourceShape::TickerLoop),
            ..ANY
        },
        hint: "A ticker loop (`for range ticker.C`, or `for { select { case <-ticker.C: … } }` with no other way out) runs forever: nothing tells it to stop, and Stop does not close the ticker's channel. Loop on `select { case <-ticker.C: …; case <-ctx.Done(): return }` with `defer ticker.Stop()`, and cancel the context when the owner goes away.",
    },
    Pattern {
        id: "select-loop",
        title: "a for-select loop with no way to stop",
        kind: Kind::Leak,
        when: When {
            blocking: &[B::Select],
            source: Some(SourceShape::SelectLoopWithoutExit),
            ..ANY
        },
        hint: "This `for { select { … } }` loop has no case that ends it. Add `case <-ctx.Done(): return` and cancel the context when the loop's owner is done.",
    },
    Pattern {
        id: "select-on-timer",
        title: "waiting on a timer",
        kind: Kind::Lingering,
        when: When {
            blocking: &[B::Select],
            source: Some(SourceShape::SelectOnTimer),
            ..ANY
        },
        hint: "Waiting on `time.After`: it ends when the timer fires, but until then each call keeps a goroutine (and its timer). With long timeouts they pile up; prefer `context.WithTimeout` and cancel it when the result arrives.",
    },
    Pattern {
        id: "select-with-done",
        title: "a select that waits for cancellation",
        kind: Kind::Leak,
        when: When {
            blocking: &[B::Select],
            source: Some(SourceShape::SelectWithDone),
            ..ANY
        },
        hint: "The select has a `ctx.Done()` (or done-channel) case, so it stops when told to; these pile up because nobody tells them. Check that the context is cancelled (`defer cancel()`) and is not `context.Background()`.",
    },
    Pattern {
        id: "sleep-loop",
        title: "a sleep loop with no exit",
        kind: Kind::Leak,
        when: When {
            blocking: &[B::Sleep],
            source: Some(SourceShape::SleepLoop),
            ..ANY
        },
        hint: "A `for { …; time.Sleep(d) }` loop never ends. Use a `time.Ticker` in a `select` with a `case <-ctx.Done(): return`, and stop the ticker.",
    },
    Pattern {
        id: "abandoned-results",
        title: "workers blocked sending results nobody reads",
        kind: Kind::Leak,
        when: When {
            blocking: &[B::ChanSend],
            several_per_parent: true,
            ..ANY
        },
        hint: "A pool of workers is blocked sending results that the consumer stopped reading (it returned early or broke out of its loop). Drain the results channel, cancel the workers with a context they select on, or give the results channel room for every result.",
    },
    Pattern {
        id: "send-no-receiver",
        title: "a send nobody receives",
        kind: Kind::Leak,
        when: When {
            blocking: &[B::ChanSend],
            ..ANY
        },
        hint: "Blocked sending on a channel nobody receives from any more, typically because the receiver returned early (a timeout, an error, a cancelled context). Make the channel buffered with room for the result (`make(chan T, 1)`) or send in a `select` with `case <-ctx.Done():`.",
    },
    Pattern {
        id: "range-never-closed",
        title: "ranging over a channel that is not closed",
        kind: Kind::Leak,
        when: When {
            blocking: &[B::ChanReceive],
            source: Some(SourceShape::RangeOverChannel),
            ..ANY
        },
        hint: "A `for range ch` loop ends only when the channel is closed. Close it when the last sender is done (the sender owns closing), or stop the loop with a context.",
    },
    Pattern {
        id: "receive-never-sent",
        title: "a receive nothing will satisfy",
        kind: Kind::Leak,
        when: When {
            blocking: &[B::ChanReceive],
            ..ANY
        },
        hint: "Blocked receiving from a channel nobody sends to or closes. Close the channel when the producer is done, or receive in a `select` with `case <-ctx.Done():` so the goroutine can give up.",
    },
    Pattern {
        id: "channel-op",
        title: "blocked on a channel",
        kind: Kind::Leak,
        when: When {
            blocking: &[B::ChanOp],
            ..ANY
        },
        hint: "Blocked on a channel send or receive (this format does not say which) that nothing will complete. Make sure every channel has an owner that closes it, and that senders and receivers can give up on `ctx.Done()`.",
    },
    Pattern {
        id: "select-blocked",
        title: "a select nothing will wake",
        kind: Kind::Leak,
        when: When {
            blocking: &[B::Select],
            ..ANY
        },
        hint: "Blocked in a select whose channels nobody uses any more; a `for { select }` loop without `case <-ctx.Done(): return` looks like this, and so does a ticker loop nobody stops. Give the select a case that ends it.",
    },
    Pattern {
        id: "waitgroup-never-done",
        title: "a WaitGroup that never reaches zero",
        kind: Kind::Leak,
        when: When {
            blocking: &[B::WaitGroup],
            ..ANY
        },
        hint: "sync.WaitGroup.Wait never returns: some worker never called Done (an early return or a panic without `defer wg.Done()`), or Add counted more goroutines than were started.",
    },
    Pattern {
        id: "mutex-never-unlocked",
        title: "a mutex that is never unlocked",
        kind: Kind::Leak,
        when: When {
            blocking: &[B::Mutex, B::RWMutexRead, B::RWMutexWrite],
            ..ANY
        },
        hint: "Waiting for a lock that is never released: a Lock without an Unlock on some path (an early return, a panic). Write `mu.Lock(); defer mu.Unlock()`, and look for the goroutine holding it: it may be blocked itself (lock order).",
    },
    Pattern {
        id: "cond-never-signalled",
        title: "a sync.Cond nobody signals",
        kind: Kind::Leak,
        when: When {
            blocking: &[B::Cond],
            ..ANY
        },
        hint: "sync.Cond.Wait with no Signal or Broadcast to come. Every change a waiter waits for must Broadcast, shutdown included; a channel that is closed is often simpler.",
    },
    Pattern {
        id: "sleeping",
        title: "sleeping",
        kind: Kind::Lingering,
        when: When {
            blocking: &[B::Sleep],
            ..ANY
        },
        hint: "Sleeping: it wakes up by itself. If this group keeps growing, it is a `for { time.Sleep }` loop with no exit; use a ticker and a `case <-ctx.Done(): return`.",
    },
];

impl Pattern {
    /// The entry with this id.
    pub fn by_id(id: &str) -> Option<&'static Pattern> {
        PATTERNS.iter().find(|p| p.id == id)
    }
}

/// Whether what the source says about a leak site has a shape.
pub fn source_has_shape(exits: &Exits, shape: SourceShape) -> bool {
    let select = matches!(exits.statement, Statement::Select { cases } if cases > 0);
    let stop_case = exits.has(ExitKind::Cancel) || exits.has(ExitKind::DoneChannel);
    let no_way_out = !exits.conditions.is_empty() && exits.way_out() == Possibility::No;
    match shape {
        // `for { select { case <-ticker.C: … } }`, `for range ticker.C`: the ticker fires
        // forever and its channel is never closed.
        SourceShape::TickerLoop => {
            (select || exits.statement == Statement::Receive { range: true })
                && exits.has(ExitKind::Ticker)
                && !stop_case
                && no_way_out
        }
        SourceShape::SelectLoopWithoutExit => {
            select && exits.in_loop && !stop_case && !exits.has(ExitKind::Default) && no_way_out
        }
        SourceShape::SelectOnTimer => {
            select
                && exits
                    .conditions
                    .iter()
                    .any(|c| c.kind == ExitKind::Timer && c.can_happen == Possibility::Yes)
        }
        SourceShape::SelectWithDone => select && stop_case,
        SourceShape::SleepLoop => exits.statement == Statement::Sleep && no_way_out,
        SourceShape::RangeOverChannel => exits.statement == Statement::Receive { range: true },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_leaks_say_what_to_do() {
        for (i, p) in PATTERNS.iter().enumerate() {
            assert!(
                PATTERNS[..i].iter().all(|q| q.id != p.id),
                "duplicate id {}",
                p.id
            );
            if p.kind != Kind::Infrastructure {
                assert!(!p.hint.is_empty(), "{} has no hint", p.id);
            }
        }
        assert!(Pattern::by_id("send-no-receiver").is_some());
    }
}
