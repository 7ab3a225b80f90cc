//! goleash on a second service it was not written against: `fixtures/go/relay`, a
//! notification relay (a pub/sub broker long-polled by clients, a delivery pool with
//! retries behind a rate limiter, a settings cache with a janitor, a lookup fanned out to
//! three regions, a graceful shutdown). Its leaks: a long poll that ends its subscription
//! only when a message came, a `wg.Done` an early return skips, a cache made per request and
//! never closed (its janitor beside the service's own), and a lock an error path keeps, on
//! which later requests wait inside their handler.

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;

use crate::realworld::{assert_only_expected, goleash, tally};
use crate::support::go::toolchain;
use crate::support::http::get;
use crate::support::service::{Service, idle_dump};
use crate::support::truth::Markers;

/// Requests of each leaky kind.
const ROUNDS: u64 = 5;

/// Long-lived by design.
const HEALTHY: [&str; 3] = ["relay-worker", "relay-broker", "relay-refill"];

/// Drives every handler: each leaky path [`ROUNDS`] times, the healthy ones as often; then
/// the request that keeps the stats lock, and [`ROUNDS`] requests that wait for it, their
/// connections left open as a client that gave up would.
fn drive(addr: &str) -> Vec<TcpStream> {
    for i in 0..ROUNDS {
        for path in [
            format!("/poll?topic=quiet{i}"),
            "/lookup?down=eu".to_string(),
            format!("/tenant?id=t{i}"),
            "/deliver".to_string(),
            "/deliver?fail=1".to_string(),
            "/lookup".to_string(),
            format!("/publish?topic=news&body={i}"),
        ] {
            get(addr, &path);
        }
    }
    assert_eq!(get(addr, "/stats?reset=bad").status, 400);
    (0..ROUNDS)
        .map(|_| {
            let mut stream = TcpStream::connect(addr).expect("connect");
            stream
                .write_all(b"GET /stats HTTP/1.1\r\nHost: relay\r\n\r\n")
                .expect("send a request");
            stream
        })
        .collect()
}

/// A debug=2 dump once the requests waiting for the stats lock are all in their wait, and
/// so are the forwarders their polls started: on a loaded machine a forwarder can still be
/// runnable at its first line when the poll's response is already back.
fn dump_with_waiters(addr: &str) -> Vec<u8> {
    for _ in 0..100 {
        let body = get(addr, "/debug/pprof/goroutine?debug=2").body;
        let text = String::from_utf8_lossy(&body);
        let count = |frame: &str, wait: &str| {
            text.split("\n\n")
                .filter(|g| g.contains(frame) && g.contains(wait))
                .count() as u64
        };
        if count("main.(*relay).handleStats", "sync.Mutex.Lock") >= ROUNDS
            && count("main.(*broker).Subscribe.func1", "[chan receive") >= ROUNDS
        {
            return body;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the stats requests never all waited for the lock, or the forwarders for messages");
}

fn group_at<'d>(doc: &'d Value, markers: &Markers, site: &str) -> &'d Value {
    doc["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .find(|g| {
            let (Some(file), Some(line)) = (
                g["leak_site"]["file"].as_str(),
                g["leak_site"]["line"].as_u64(),
            ) else {
                return false;
            };
            markers.block_site(file, line) == Some(site)
        })
        .unwrap_or_else(|| panic!("no group at {site}: {doc}"))
}

#[test]
fn relay_service_go_1_27() {
    let fixtures = toolchain("1.27").fixtures();
    let markers = Markers::read(&fixtures.src(), "relay");
    let dir = fixtures.captures_dir("relay-1.27");
    let service = Service::start(&fixtures.binary("relay"), &[]);
    let addr = service.addr.clone();
    let before = dir.join("before.txt");
    std::fs::write(&before, idle_dump(&addr)).expect("write");
    let waiting = drive(&addr);
    let after = dir.join("after.txt");
    std::fs::write(&after, dump_with_waiters(&addr)).expect("write");
    let (before, after) = (before.to_string_lossy(), after.to_string_lossy());

    // Against the idle service, every leak is a leak in the numbers the requests made.
    let (code, doc) = goleash(&["check", &before, &after, "--format", "json"]);
    assert_eq!(code, 1, "{doc}");
    let tally = tally(&doc, &markers);
    let leak = |site: &str| tally.get(&(site.to_string(), "leak".to_string())).copied();
    assert_eq!(leak("relay-forwarder"), Some(ROUNDS), "{tally:#?}");
    assert_eq!(leak("relay-lookup"), Some(ROUNDS), "{tally:#?}");
    assert_eq!(leak("relay-stats"), Some(ROUNDS), "{tally:#?}");
    // The service's own janitor shares the stack of the leaked ones.
    assert_eq!(leak("relay-janitor"), Some(ROUNDS + 1), "{tally:#?}");
    assert_only_expected(&tally, &HEALTHY, "check before after");

    // One dump alone: requests stuck in a handler are not a pool of the accept loop, and
    // the lock they wait for was kept by the same code on its error path.
    let (_, doc) = goleash(&["inspect", &after, "--format", "json"]);
    let stats = group_at(&doc, &markers, "relay-stats");
    assert_eq!(stats["verdict"], "suspect", "{stats}");
    let why = stats["why"].as_str().expect("a why");
    assert!(
        why.starts_with(&format!("{ROUNDS} goroutines with no way out"))
            && why.contains("is where the holder locked it too: the return at handlers.go:126 skips its unlock (handlers.go:129)"),
        "{why}"
    );
    assert!(
        stats["hint"].as_str().is_some_and(|h| h.starts_with(
            "The return at handlers.go:126 leaves `statsMu` locked (its Unlock at handlers.go:129 is never reached)"
        )),
        "{stats}"
    );
    // net/http's returns under the stuck handler are one line of the text, not one each.
    let text = std::process::Command::new(env!("CARGO_BIN_EXE_goleash"))
        .args(["inspect", &after, "--color", "never"])
        .output()
        .expect("run goleash");
    let text = String::from_utf8_lossy(&text.stdout);
    let folded = text
        .lines()
        .filter(|l| l.contains("`return`s (server.go:"))
        .count();
    assert_eq!(folded, 1, "{text}");
    assert!(
        text.contains("main.(*relay).handleStats never returns to them"),
        "{text}"
    );
    // The lookup's Done that an early return skips is named in the fix, not only in the why.
    let lookup = group_at(&doc, &markers, "relay-lookup");
    assert!(
        lookup["hint"].as_str().is_some_and(|h| h.starts_with(
            "`wg.Done()` (handlers.go:75) is reached only when the goroutine gets that far: the return at handlers.go:72 skips it"
        ) && h.contains("Make `defer wg.Done()` the goroutine's first statement")),
        "{lookup}"
    );
    // Of the janitors, those of finished requests are counted apart from the service's.
    let janitors = group_at(&doc, &markers, "relay-janitor");
    assert_eq!(
        janitors["why"],
        format!(
            "{ROUNDS} of {} blocked in select after the goroutines that started them exited",
            ROUNDS + 1
        )
        .as_str()
    );
    assert!(
        janitors["hint"]
            .as_str()
            .is_some_and(|h| h.contains("call `Close()` on every cache")
                && h.ends_with("`c := newCache(time.Second, 50*time.Millisecond)` (handlers.go:103) makes one and never calls `c.Close()`.")),
        "{janitors}"
    );
    // The long poll keeps its stop function but calls it on one path only.
    let forwarders = group_at(&doc, &markers, "relay-forwarder");
    let hint = forwarders["hint"].as_str().expect("a fix");
    assert!(
        hint.contains("(handlers.go:28) keeps it as `stop` but does not defer it")
            && hint.contains("`defer stop()` right after the call"),
        "{hint}"
    );
    drop(waiting);
    drop(service);
}

/// `goleash test` on the relay's own tests: the two that leak fail, each at its site with the
/// one goroutine it left; the three that clean up are not reported.
#[test]
fn relay_tests_go_1_27() {
    let markers = Markers::read(&toolchain("1.27").fixtures().src(), "relay");
    let (code, doc) = crate::realworld::goleash_test("1.27", "relay");
    assert_eq!(code, 1, "{doc}");
    let failing: Vec<(String, String, u64)> = doc["leaks"]
        .as_array()
        .expect("leaks")
        .iter()
        .filter(|l| l["outcome"] == "fail")
        .map(|l| {
            let site = l["leak_site"]["file"]
                .as_str()
                .zip(l["leak_site"]["line"].as_u64())
                .and_then(|(file, line)| markers.block_site(file, line))
                .unwrap_or("unmarked");
            (
                l["test"].as_str().expect("a test").to_string(),
                site.to_string(),
                l["count"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        failing,
        [
            (
                "TestLookupWithARegionDown".to_string(),
                "relay-lookup".to_string(),
                1
            ),
            (
                "TestTenantDefaults".to_string(),
                "relay-janitor".to_string(),
                1
            ),
        ],
        "{doc}"
    );
}
