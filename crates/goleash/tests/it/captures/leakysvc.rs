//! leakysvc under Go 1.21, 1.23 and 1.27: every leak pattern driven a known number of
//! times, the goroutine and goroutineleak profiles captured at debug=2, 1 and 0 from one
//! quiet moment, then a SIGQUIT dump, with GOTRACEBACK unset and =crash.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use goleash_core::group::ParentRef;
use goleash_core::model::{CauseKind, Format, Profile};
use goleash_core::{Capture, Group, Snapshot};

use crate::support::go::{Fixtures, Toolchain, fixtures_dir, toolchain};
use crate::support::http::{self, Connection};
use crate::support::inspect::{
    Frame, by_signature, count_at, created_by, groups_at, has_function, labels, parse_one, states,
};
use crate::support::service::Service;
use crate::support::truth::{Markers, Site, Truth};

use super::stored::store;

/// How often each leak pattern of leakysvc runs, and how many goroutines each run leaves.
/// The resulting counts all differ, so that a group holding the wrong goroutines cannot
/// have the right count by chance.
const DRIVE: &[(&str, u64, u64)] = &[
    ("unclosed-body", 3, 1),
    ("send-after-timeout", 5, 1),
    ("recv-never-sent", 7, 1),
    ("ticker-no-stop", 2, 1),
    ("ticker-range", 4, 1),
    ("waitgroup", 6, 1),
    ("local-mutex", 15, 1),
    ("global-mutex", 8, 1),
    ("cond", 9, 1),
    // Three workers per run, one of which is read.
    ("abandoned-results", 5, 2),
    ("sleep-loop", 11, 1),
    ("nil-chan-recv", 12, 1),
    ("nil-chan-send", 13, 1),
    ("lingering-select", 14, 1),
    ("empty-select", 16, 1),
    ("select-loop", 17, 1),
    ("select-with-done", 18, 1),
    ("range-never-closed", 19, 1),
    ("rwmutex", 21, 1),
    ("sleep-once", 22, 1),
];

/// The wait reason a goroutine of a leakysvc site shows, from the runtime's
/// `waitReasonStrings` of each release.
fn wait_reason(site: &str, minor: u32) -> &'static str {
    match site {
        "send-after-timeout" | "abandoned-results" => "chan send",
        "recv-never-sent" | "ticker-range" | "signals" | "pool-worker" => "chan receive",
        "ticker-no-stop" | "lingering-select" | "metrics" | "select-loop" | "select-with-done" => {
            "select"
        }
        "range-never-closed" => "chan receive",
        "empty-select" => "select (no cases)",
        "rwmutex" => "sync.RWMutex.RLock",
        "sleep-once" => "sleep",
        // WaitGroup got its own reason in Go 1.25 (runtime/sema.go); Mutex and Cond have
        // had theirs since before 1.21.
        "waitgroup" if minor >= 25 => "sync.WaitGroup.Wait",
        "waitgroup" => "semacquire",
        "local-mutex" | "global-mutex" => "sync.Mutex.Lock",
        "cond" => "sync.Cond.Wait",
        "sleep-loop" => "sleep",
        "nil-chan-recv" => "chan receive (nil chan)",
        "nil-chan-send" => "chan send (nil chan)",
        "server" => "IO wait",
        _ => panic!("no expected wait reason for site {site}"),
    }
}

/// The leakysvc goroutines net/http starts for the unclosed-body pattern.
const READ_LOOP: &str = "net/http.(*persistConn).readLoop";
const WRITE_LOOP: &str = "net/http.(*persistConn).writeLoop";
const CONN_SERVE: &str = "net/http.(*conn).serve";
const SERVING: &str = "net/http.serverHandler.ServeHTTP";
const BACKGROUND_READ: &str = "net/http.(*connReader).backgroundRead";

/// The goroutines of the request that takes a capture: the one writing the profile, and
/// the one net/http starts to read the connection in the background while a handler runs.
/// The reader is often caught before its first instruction: debug=1 then prints just the
/// PC of `runtime.goexit` and debug=0 a sample without locations, an empty stack.
fn is_capture(capture: &Capture, group: &Group) -> bool {
    let frames = capture.tables.frames(group.stack);
    frames.is_empty()
        || has_function(capture, group, BACKGROUND_READ)
        || frames.iter().any(|&f| {
            let function = capture.tables.bytes(capture.tables.get_frame(f).function);
            function.starts_with(b"runtime/pprof.")
        })
}

/// A server connection goroutine waiting for its next request.
fn is_idle_conn(capture: &Capture, group: &Group) -> bool {
    has_function(capture, group, CONN_SERVE) && !has_function(capture, group, SERVING)
}

/// The goroutine profile of a quiet process in three formats, and the same for the
/// goroutineleak profile where the release has one.
pub(crate) struct Captured {
    pub(crate) debug2: Vec<u8>,
    pub(crate) debug1: Vec<u8>,
    pub(crate) debug0: Vec<u8>,
}

impl Captured {
    /// The captures as files: `<profile>_debug<N>.txt|.pb.gz`.
    fn files(&self, profile: &str) -> Vec<(String, Vec<u8>)> {
        vec![
            (format!("{profile}_debug2.txt"), self.debug2.clone()),
            (format!("{profile}_debug1.txt"), self.debug1.clone()),
            (format!("{profile}_debug0.pb.gz"), self.debug0.clone()),
        ]
    }
}

/// Captures `profile` at debug=2, 1 and 0 from one unchanging process state.
///
/// Tickers and sleep loops wake the process up now and then; a goroutine caught running
/// shows another stack than the one it waits on. So the formats are taken between two
/// debug=2 dumps and two debug=1 profiles and kept only when both pairs agree and nothing
/// but the capturing goroutine runs: a check on the raw text, independent of the parser.
pub(crate) fn capture_quiet(conn: &mut Connection, profile: &str) -> Captured {
    let mut get = |debug: u8| {
        let response = conn.get(&format!("/debug/pprof/{profile}?debug={debug}"));
        assert_eq!(response.status, 200, "{profile}?debug={debug}");
        response.body
    };
    // Its tickers fire every second; on a loaded machine a whole capture takes long enough
    // to straddle a tick often, so it takes many tries to find a quiet window.
    for _ in 0..80 {
        let before = get(2);
        let first = settled(&before, true);
        let running = first.iter().filter(|h| h.contains("[running")).count();
        let runnable = first.iter().filter(|h| h.contains("[runnable")).count();
        if running == 0 && runnable == 0 {
            let debug1 = get(1);
            let debug0 = get(0);
            let debug1_again = get(1);
            let after = get(2);
            if settled(&after, true) == first
                && settled(&debug1, false) == settled(&debug1_again, false)
            {
                return Captured {
                    debug2: after,
                    debug1,
                    debug0,
                };
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(150));
    }
    panic!("the service never stayed quiet for a whole {profile} capture");
}

/// The records of a debug=2 dump (their headers without ids, which change from slot to
/// slot) or a debug=1 profile, sorted, without those of the capturing request: they are
/// new each time, and its background reader is sometimes parked and sometimes in a read
/// syscall or not started yet (a record of nothing but the `runtime.goexit` PC).
fn settled(dump: &[u8], debug2: bool) -> Vec<String> {
    let text = String::from_utf8_lossy(dump);
    let mut records: Vec<String> = text
        .split("\n\n")
        .filter(|r| {
            !r.contains("runtime/pprof.") && !r.contains(BACKGROUND_READ) && r.contains('\t')
        })
        .map(|r| match debug2 {
            true => r
                .lines()
                .next()
                .unwrap_or_default()
                .trim_start_matches("goroutine ")
                .trim_start_matches(|c: char| c.is_ascii_digit())
                .to_string(),
            false => r.to_string(),
        })
        .collect();
    records.sort();
    records
}

/// What one leakysvc process was asked to do and reports it did.
pub(super) struct Expect {
    /// Where the binary was built from: the paths its tracebacks print.
    src: PathBuf,
    minor: u32,
    truth: Truth,
    markers: Markers,
    /// Runs of unclosed-body: each leaves a readLoop, a writeLoop and a server connection.
    unclosed: u64,
}

impl Expect {
    pub(super) fn new(truth: Truth, markers: Markers) -> Expect {
        let minor = truth
            .go_version
            .strip_prefix("go1.")
            .and_then(|v| v.split('.').next())
            .and_then(|m| m.parse().ok())
            .unwrap_or_else(|| panic!("no Go release in {:?}", truth.go_version));
        // The runtime names the file of every site; the marker says where in fixtures/go
        // it is.
        let server = &truth.site("server").file;
        let relative = markers
            .get("server", "block")
            .file
            .to_string_lossy()
            .into_owned();
        let src = server
            .strip_suffix(&relative)
            .unwrap_or_else(|| panic!("{server} does not end in {relative}"))
            .into();
        let unclosed = truth.site("unclosed-body").count;
        Expect {
            src,
            minor,
            truth,
            markers,
            unclosed,
        }
    }

    fn file(&self, site: &str) -> String {
        let mark = self.markers.get(site, "block");
        self.src.join(&mark.file).to_string_lossy().into_owned()
    }

    /// The sites whose goroutines the fixture's own code started.
    fn own_sites(&self) -> impl Iterator<Item = (&String, &Site)> {
        self.truth
            .sites
            .iter()
            .filter(|(_, site)| !site.function.is_empty())
    }

    fn site_groups<'s>(
        &self,
        capture: &Capture,
        snapshot: &'s Snapshot,
        name: &str,
    ) -> Vec<&'s Group> {
        let site = self.truth.site(name);
        groups_at(
            capture,
            snapshot,
            &self.file(name),
            self.markers.line(name, "block"),
            Some(&site.function),
        )
    }

    /// Checks every site of the ground truth in one snapshot: how many goroutines wait
    /// there, and what the format tells about them.
    fn check_sites(&self, capture: &Capture, snapshot: &Snapshot, what: &str, leaked: bool) {
        let traceback = snapshot.info.format == Format::Traceback;
        let server_id = self.truth.site("server").goroutines[0].id;
        for (name, site) in self.own_sites() {
            let what = format!("{what}, site {name}");
            assert_eq!(
                site.file,
                self.file(name),
                "{what}: the runtime and the marker name the same file"
            );
            let groups = self.site_groups(capture, snapshot, name);
            let count: u64 = groups.iter().map(|g| g.count).sum();
            assert_eq!(count, site.count, "{what}: goroutines at the site");
            // Labels are printed in tracebacks from Go 1.27 on (the fixture module says
            // `go 1.27` there); the profiles have always carried them.
            let want_labels = match traceback && self.minor < 27 {
                true => BTreeMap::new(),
                false => site.labels.clone(),
            };
            for group in &groups {
                let got: Vec<(BTreeMap<String, String>, u64)> = group
                    .labels
                    .iter()
                    .map(|&(set, n)| (labels(capture, set), n))
                    .collect();
                let want = match want_labels.is_empty() {
                    true => vec![],
                    false => vec![(want_labels.clone(), group.count)],
                };
                assert_eq!(got, want, "{what}: labels");
                if !traceback {
                    continue;
                }
                let reason = wait_reason(name, self.minor);
                assert_eq!(
                    states(capture, group),
                    vec![(reason.to_string(), group.count)],
                    "{what}: wait reason"
                );
                let creator = created_by(capture, group);
                match name.as_str() {
                    "server" => assert_eq!(creator, None, "{what}: main has no creator"),
                    _ => {
                        let creator = creator.unwrap_or_else(|| panic!("{what}: no creator"));
                        assert_eq!(
                            (creator.file.as_str(), creator.line),
                            (site.file.as_str(), self.markers.line(name, "go")),
                            "{what}: created by"
                        );
                    }
                }
                let want_leaked = match leaked && site.provable {
                    true => group.count,
                    false => 0,
                };
                assert_eq!(group.leaked, want_leaked, "{what}: (leaked)");
            }
            if !traceback {
                continue;
            }
            // Every goroutine the fixture names is in the dump, in a group of the site,
            // with the parent the fixture saw.
            for member in &site.goroutines {
                let (index, parent) = snapshot
                    .goroutines
                    .get(member.id)
                    .unwrap_or_else(|| panic!("{what}: goroutine {} is missing", member.id));
                assert!(
                    groups
                        .iter()
                        .any(|g| std::ptr::eq(*g, &snapshot.groups[index])),
                    "{what}: goroutine {} is in another group",
                    member.id
                );
                assert_eq!(
                    parent,
                    (member.parent != 0).then_some(member.parent),
                    "{what}: parent of goroutine {}",
                    member.id
                );
            }
            // Handlers run on connection goroutines that ended with their request; only
            // the main goroutine, which started the healthy ones, is still there.
            for group in &groups {
                let want = match name.as_str() {
                    "server" => vec![],
                    "metrics" | "signals" | "pool-worker" => {
                        let (main_group, _) = snapshot.goroutines.get(server_id).unwrap();
                        vec![(ParentRef::Group(main_group), group.count)]
                    }
                    _ => vec![(ParentRef::Exited, group.count)],
                };
                assert_eq!(group.parents, want, "{what}: where the parents are");
            }
        }
    }

    /// Checks the goroutines net/http keeps for the unclosed response bodies.
    fn check_unclosed(&self, capture: &Capture, snapshot: &Snapshot, what: &str, idle: u64) {
        let traceback = snapshot.info.format == Format::Traceback;
        for function in [READ_LOOP, WRITE_LOOP] {
            let groups: Vec<&Group> = snapshot
                .groups
                .iter()
                .filter(|g| has_function(capture, g, function))
                .collect();
            let count: u64 = groups.iter().map(|g| g.count).sum();
            assert_eq!(count, self.unclosed, "{what}: {function}");
            // The transport's goroutines inherit the labels of the handler that dialed.
            let site_labels = &self.truth.site("unclosed-body").labels;
            for group in &groups {
                let got: Vec<_> = group
                    .labels
                    .iter()
                    .map(|&(set, n)| (labels(capture, set), n))
                    .collect();
                let want = match traceback && self.minor < 27 {
                    true => vec![],
                    false => vec![(site_labels.clone(), group.count)],
                };
                assert_eq!(got, want, "{what}: {function} labels");
            }
            for group in groups.iter().filter(|_| traceback) {
                let creator = created_by(capture, group).expect("net/http names its creator");
                assert_eq!(creator.function, "net/http.(*Transport).dialConn", "{what}");
                // The dialing goroutine exits once the connection is up.
                assert_eq!(group.parents, vec![(ParentRef::Exited, group.count)]);
            }
        }
        let idle_conns: u64 = snapshot
            .groups
            .iter()
            .filter(|g| is_idle_conn(capture, g))
            .map(|g| g.count)
            .sum();
        assert_eq!(
            idle_conns,
            self.unclosed + idle,
            "{what}: idle server connections"
        );
    }

    /// Every goroutine of a profile capture is one the test can name: a site of the
    /// ground truth, net/http's for the unclosed bodies, the capture itself, or the
    /// signal loop os/signal starts.
    fn check_accounted(&self, capture: &Capture, snapshot: &Snapshot, what: &str) {
        let mut site_groups = Vec::new();
        for (name, _) in self.own_sites() {
            site_groups.extend(self.site_groups(capture, snapshot, name));
        }
        let unknown: Vec<Vec<_>> = snapshot
            .groups
            .iter()
            .filter(|g| {
                !site_groups.iter().any(|s| std::ptr::eq(*s, *g))
                    && !is_capture(capture, g)
                    && !is_idle_conn(capture, g)
                    && ![READ_LOOP, WRITE_LOOP, "os/signal.loop"]
                        .iter()
                        .any(|f| has_function(capture, g, f))
            })
            .map(|g| crate::support::inspect::frames(capture, g.stack))
            .collect();
        assert!(
            unknown.is_empty(),
            "{what}: unexplained goroutines {unknown:#?}"
        );
    }
}

/// Runs every leak pattern of [`DRIVE`] on a leakysvc, each request on a connection of its
/// own so that the goroutine that served it ends; returns the service's ground truth.
pub(crate) fn drive(service: &Service, conn: &mut Connection, version: &str) -> Truth {
    for &(pattern, runs, _) in DRIVE {
        let response = http::get(&service.addr, &format!("/leak/{pattern}?n={runs}"));
        assert_eq!(response.status, 200, "{pattern}: {}", response.text());
    }
    let truth = Truth::parse(&conn.get("/groundtruth").body);
    assert_eq!(truth.go_version, format!("go{version}"));
    for &(pattern, runs, per_run) in DRIVE {
        assert_eq!(truth.site(pattern).count, runs * per_run, "{pattern}");
    }
    truth
}

fn leakysvc(release: &str) {
    let go = toolchain(release);
    let fixtures = go.fixtures();
    let service = Service::start(&fixtures.binary("leakysvc"), &[]);
    let mut conn = Connection::open(&service.addr);
    let truth = drive(&service, &mut conn, &go.version);
    let goroutine = capture_quiet(&mut conn, "goroutine");
    let leak = (go.minor >= 27).then(|| capture_quiet(&mut conn, "goroutineleak"));
    let after = Truth::parse(&conn.get("/groundtruth").body);
    for (name, site) in &truth.sites {
        assert_eq!(
            after.site(name).count,
            site.count,
            "{name} changed while captured"
        );
    }
    // SIGQUIT: a level-2 dump with runtime frames and goroutines, whatever GOTRACEBACK
    // says. The capturing connection is still open, idle now; the goroutineleak requests
    // left their `(leaked)` marks behind.
    let quit = service.signal("QUIT");
    assert_eq!(quit.code(), 2, "go{} SIGQUIT exit code", go.version);

    let kept = fixtures.captures_dir("leakysvc");
    let mut files = goroutine.files("goroutine");
    if let Some(leak) = &leak {
        files.extend(leak.files("goroutineleak"));
    }
    files.push(("sigquit.stderr.txt".into(), quit.stderr.clone()));
    let markers = Markers::read(&fixtures_dir(), "leakysvc");
    keep(&kept, &files, &truth, &markers);
    if go.minor == 21 || go.minor >= 27 {
        // The level-2 dump is large; the stored GOTRACEBACK=crash one stands for it.
        let profiles: Vec<_> = files
            .iter()
            .filter(|(n, _)| n.contains("debug"))
            .cloned()
            .collect();
        store(&go.version, "leakysvc", &profiles, &truth, &markers);
    }

    let what = format!("go{} (captures in {})", go.version, kept.display());
    if go.minor >= 27 {
        // The dump names the build's copy of the sources; with the fixtures' checkout at
        // hand, every finding is at the line its marker names.
        let dump = kept.join("goroutine_debug2.txt");
        let run = crate::ci_formats::goleash(
            &[
                "inspect",
                "--format",
                "sarif",
                "--source",
                fixtures_dir().to_str().expect("a UTF-8 path"),
                dump.to_str().expect("a UTF-8 path"),
            ],
            &[],
        );
        let log: serde_json::Value = serde_json::from_slice(&run.stdout).expect("SARIF is JSON");
        let checked = crate::ci_formats::check_sarif_lines(&log, &markers, "leakysvc", &what);
        assert!(
            checked >= 15,
            "{what}: only {checked} SARIF results in leakysvc"
        );
    }
    let expect = Expect::new(truth, markers);
    let d2 = expect.check_profiles(&goroutine, leak.as_ref(), &what);
    expect.check_sigquit(
        &quit.stderr,
        &d2,
        leak.is_some(),
        &format!("{what} SIGQUIT"),
    );
    sigquit_crash(go, fixtures);
}

/// Writes a capture set and its ground truth to `dir`.
pub(super) fn keep(dir: &Path, files: &[(String, Vec<u8>)], truth: &Truth, markers: &Markers) {
    std::fs::create_dir_all(dir).expect("create a captures dir");
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).expect("keep a capture");
    }
    let truth = serde_json::to_string_pretty(truth).expect("serializable") + "\n";
    std::fs::write(dir.join("truth.json"), truth).expect("keep the truth");
    let markers = serde_json::to_string_pretty(markers).expect("serializable") + "\n";
    std::fs::write(dir.join("markers.json"), markers).expect("keep the markers");
}

impl Expect {
    /// Checks the goroutine profile at debug=2, 1 and 0, and the goroutineleak profile
    /// where there is one; returns the parsed debug=2 dump.
    pub(super) fn check_profiles(
        &self,
        goroutine: &Captured,
        leak: Option<&Captured>,
        what: &str,
    ) -> Capture {
        let d2 = parse_one(
            &goroutine.debug2,
            "debug=2",
            Format::Traceback,
            Profile::Goroutine,
        );
        let d1 = parse_one(
            &goroutine.debug1,
            "debug=1",
            Format::Debug1,
            Profile::Goroutine,
        );
        let d0 = parse_one(
            &goroutine.debug0,
            "debug=0",
            Format::Proto,
            Profile::Goroutine,
        );
        for (capture, format) in [(&d2, "debug=2"), (&d1, "debug=1"), (&d0, "debug=0")] {
            let what = format!("{what} goroutine {format}");
            let snapshot = &capture.snapshots[0];
            self.check_sites(capture, snapshot, &what, false);
            self.check_unclosed(capture, snapshot, &what, 0);
            self.check_accounted(capture, snapshot, &what);
        }

        // The same moment in three formats: the same goroutines, and the same stacks under
        // the same signatures (what `diff` relies on). Only the capturing goroutines
        // differ: each format is written by other code.
        let (s2, s1, s0) = (&d2.snapshots[0], &d1.snapshots[0], &d0.snapshots[0]);
        assert_eq!(
            s1.info.declared_total,
            Some(s1.total),
            "{what} debug=1 total"
        );
        assert_eq!(
            s0.info.declared_total,
            Some(s0.total),
            "{what} debug=0 total"
        );
        assert_eq!(
            s2.goroutines.len() as u64,
            s2.total,
            "{what} debug=2 records"
        );
        assert_eq!((s2.total, s0.total), (s1.total, s1.total), "{what} totals");
        let sig2 = by_signature(s2, |g| is_capture(&d2, g));
        assert_eq!(
            sig2,
            by_signature(s1, |g| is_capture(&d1, g)),
            "{what} 2 vs 1"
        );
        assert_eq!(
            sig2,
            by_signature(s0, |g| is_capture(&d0, g)),
            "{what} 2 vs 0"
        );

        if let Some(leak) = leak {
            self.check_goroutineleak(leak, what);
        }
        d2
    }

    /// Checks a SIGQUIT dump against the debug=2 dump taken just before it.
    pub(super) fn check_sigquit(&self, stderr: &[u8], d2: &Capture, leaked: bool, what: &str) {
        let dump = parse_one(stderr, what, Format::Traceback, Profile::Goroutine);
        let snapshot = &dump.snapshots[0];
        assert_eq!(
            (
                snapshot.info.cause.kind,
                snapshot.info.cause.message.as_str()
            ),
            (CauseKind::Signal, "SIGQUIT: quit"),
            "{what}"
        );
        self.check_sites(&dump, snapshot, what, leaked);
        self.check_unclosed(&dump, snapshot, what, 1);
        assert!(
            snapshot
                .groups
                .iter()
                .all(|g| g.example.thread.is_some() == (self.minor >= 23)),
            "{what}: gp= m= on every header from Go 1.23 on, on none before"
        );
        assert!(
            snapshot
                .groups
                .iter()
                .any(|g| has_function(&dump, g, "runtime.forcegchelper")),
            "{what}: the runtime's own goroutines are shown"
        );
        // The same stacks as at level 1, for all the runtime frames level 2 adds.
        for (name, _) in self.own_sites() {
            let level2 = self.site_groups(&dump, snapshot, name);
            let level1 = self.site_groups(d2, &d2.snapshots[0], name);
            let signatures = |groups: &[&Group]| -> Vec<_> {
                let mut s: Vec<_> = groups.iter().map(|g| g.signature).collect();
                s.sort();
                s
            };
            let calls_with_args = self
                .markers
                .find(name, "go")
                .is_some_and(|m| !m.code.starts_with("go func("));
            if self.minor <= 21 && calls_with_args {
                // Up to Go 1.21, `go f(args)` runs f from a wrapper closure of the creator
                // that only level 2 shows, named like any closure (Go 1.22 calls it
                // F.gowrapN): a dump's text cannot tell it from code of the program, so the
                // signatures differ. Pin down that this is the only difference.
                assert_eq!((level2.len(), level1.len()), (1, 1), "{what}: site {name}");
                let mut frames2 = significant(&dump, level2[0]);
                let wrapper = frames2.pop().expect("a frame");
                assert_eq!(frames2, significant(d2, level1[0]), "{what}: site {name}");
                let creator = created_by(&dump, level2[0]).expect("a creator");
                assert!(
                    wrapper
                        .function
                        .starts_with(&format!("{}.", creator.function))
                        && (wrapper.file.as_str(), wrapper.line)
                            == (creator.file.as_str(), creator.line),
                    "{what}: site {name}: {wrapper:?} is the go statement's wrapper"
                );
            } else {
                assert_eq!(
                    signatures(&level2),
                    signatures(&level1),
                    "{what}: site {name}"
                );
            }
        }
    }

    /// Checks a SIGQUIT dump taken with GOTRACEBACK=crash.
    pub(super) fn check_sigquit_crash(&self, stderr: &[u8], what: &str) {
        let text = String::from_utf8_lossy(stderr);
        let (main_section, threads) = text
            .split_once("\n-----\n")
            .unwrap_or_else(|| panic!("{what}: no thread sections"));
        assert!(threads.contains("\nSIGQUIT: quit\n"), "{what}");
        let records = main_section
            .lines()
            .filter(|l| l.starts_with("goroutine "))
            .count() as u64;
        let dump = parse_one(stderr, what, Format::Traceback, Profile::Goroutine);
        let snapshot = &dump.snapshots[0];
        assert_eq!(
            snapshot.total, records,
            "{what}: each goroutine counted once"
        );
        assert_eq!(snapshot.goroutines.len() as u64, records, "{what}");
        self.check_sites(&dump, snapshot, what, false);
        self.check_unclosed(&dump, snapshot, what, 1);
    }
}

/// The frames of a group that take part in its signature.
fn significant(capture: &Capture, group: &Group) -> Vec<Frame> {
    let frames = capture.tables.frames(group.stack);
    goleash_core::signature::significant_frames(&capture.tables, frames)
        .into_iter()
        .map(|id| {
            let f = capture.tables.get_frame(id);
            Frame {
                function: capture.tables.str(f.function).into_owned(),
                file: capture.tables.str(f.file).into_owned(),
                line: f.line,
            }
        })
        .collect()
}

/// GOTRACEBACK=crash: after the dump, every thread prints its own section (`-----`,
/// `SIGQUIT: quit`, the goroutine it runs or its g0, registers), and the process aborts.
/// The sections repeat goroutines the dump already listed.
fn sigquit_crash(go: &Toolchain, fixtures: &Fixtures) {
    let service = Service::start(&fixtures.binary("leakysvc"), &[("GOTRACEBACK", "crash")]);
    let mut conn = Connection::open(&service.addr);
    let truth = drive(&service, &mut conn, &go.version);
    // Let the last goroutines park: nothing checks for quiet here.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let quit = service.signal("QUIT");
    let kept = fixtures.captures_dir("leakysvc-crash");
    let files = vec![("sigquit.stderr.txt".to_string(), quit.stderr.clone())];
    let markers = Markers::read(&fixtures_dir(), "leakysvc");
    keep(&kept, &files, &truth, &markers);
    if go.minor >= 27 {
        store(&go.version, "leakysvc-crash", &files, &truth, &markers);
    }
    let what = format!(
        "go{} SIGQUIT GOTRACEBACK=crash ({})",
        go.version,
        kept.display()
    );
    assert_eq!(quit.code(), 128 + 6, "{what}: aborts");
    Expect::new(truth, markers).check_sigquit_crash(&quit.stderr, &what);
}

impl Expect {
    fn check_goroutineleak(&self, leak: &Captured, what: &str) {
        let l2 = parse_one(
            &leak.debug2,
            "leak debug=2",
            Format::Traceback,
            Profile::Goroutine,
        );
        let l1 = parse_one(
            &leak.debug1,
            "leak debug=1",
            Format::Debug1,
            Profile::GoroutineLeak,
        );
        let l0 = parse_one(
            &leak.debug0,
            "leak debug=0",
            Format::Proto,
            Profile::GoroutineLeak,
        );
        // debug=2 is the full dump, with `(leaked)` on what the runtime proved.
        let what2 = format!("{what} goroutineleak debug=2");
        self.check_sites(&l2, &l2.snapshots[0], &what2, true);
        self.check_unclosed(&l2, &l2.snapshots[0], &what2, 0);
        self.check_accounted(&l2, &l2.snapshots[0], &what2);
        // debug=1 and debug=0 hold the proven leaks only, all of them.
        let provable: u64 = self
            .own_sites()
            .filter(|(_, s)| s.provable)
            .map(|(_, s)| s.count)
            .sum();
        let mut leaked_in_dump = BTreeMap::new();
        for g in l2.snapshots[0].groups.iter().filter(|g| g.leaked > 0) {
            *leaked_in_dump.entry(g.signature).or_insert(0) += g.leaked;
        }
        for (capture, format) in [(&l1, "debug=1"), (&l0, "debug=0")] {
            let what = format!("{what} goroutineleak {format}");
            let snapshot = &capture.snapshots[0];
            assert_eq!(snapshot.total, provable, "{what}: total");
            assert_eq!(snapshot.info.declared_total, Some(provable), "{what}");
            for (name, site) in self.own_sites() {
                let at = count_at(
                    capture,
                    snapshot,
                    &self.file(name),
                    self.markers.line(name, "block"),
                    Some(&site.function),
                );
                let want = if site.provable { site.count } else { 0 };
                assert_eq!(at, want, "{what}: site {name}");
            }
            for group in &snapshot.groups {
                assert_eq!(
                    group.leaked, group.count,
                    "{what}: a leak profile lists leaks"
                );
            }
            assert_eq!(
                by_signature(snapshot, |_| false),
                leaked_in_dump,
                "{what}: the same leaks as the (leaked) marks of debug=2"
            );
        }
    }
}

/// `/burst` starts goroutines that sleep and end; `/exit` ends the process.
#[test]
fn leakysvc_burst_and_exit_go1_27() {
    let go = toolchain("1.27");
    let fixtures = go.fixtures();
    let service = Service::start(&fixtures.binary("leakysvc"), &[]);
    let markers = Markers::read(&fixtures_dir(), "leakysvc");
    let file = fixtures.src().join(&markers.get("burst", "block").file);
    let file = file.to_string_lossy();
    let line = markers.line("burst", "block");
    let mut conn = Connection::open(&service.addr);
    let sleeping = |conn: &mut Connection| {
        let dump = conn.get("/debug/pprof/goroutine?debug=2").body;
        let capture = parse_one(&dump, "burst", Format::Traceback, Profile::Goroutine);
        count_at(&capture, &capture.snapshots[0], &file, line, None)
    };
    assert_eq!(http::get(&service.addr, "/burst?n=40&ms=5000").status, 200);
    // Started, but on a loaded machine not every one has reached its sleep yet.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(4);
    let mut seen = sleeping(&mut conn);
    while seen < 40 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
        seen = sleeping(&mut conn);
    }
    assert_eq!(seen, 40, "the burst is running");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while sleeping(&mut conn) > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the burst never ended"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(conn.get("/exit").status, 200);
    let end = service.wait();
    assert_eq!(end.code(), 0, "exit status after /exit");
}

#[test]
fn leakysvc_go1_21() {
    leakysvc("1.21");
}

#[test]
fn leakysvc_go1_23() {
    leakysvc("1.23");
}

#[test]
fn leakysvc_go1_27() {
    leakysvc("1.27");
}
