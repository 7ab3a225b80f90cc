//! The crash programs of `fixtures/go/crash`: a panic with blocked goroutines of every
//! shape, deadlocks, `go test -timeout`, tracebackancestors, a data race and a deadlocked
//! synctest bubble.

use std::collections::BTreeMap;
use std::path::PathBuf;

use goleash_core::group::ParentRef;
use goleash_core::model::{CauseKind, Elision, Format, Profile, RaceSectionKind};
use goleash_core::{Capture, Group, Snapshot};

use super::stored::store;
use crate::support::go::{Run, fixtures_dir, scratch, toolchain};
use crate::support::inspect::{created_by, frames, groups_at, labels, parse, parse_one, states};
use crate::support::truth::{Markers, Truth};

/// Runs a fixture with `$GOLEASH_TRUTH` pointing at a fresh file; returns the run and the
/// ground truth the program wrote before it crashed.
fn run_with_truth(run: impl FnOnce(&[(&str, &str)]) -> Run) -> (Run, Truth) {
    let path = scratch("truth.json");
    let path_text = path.to_string_lossy().into_owned();
    let result = run(&[("GOLEASH_TRUTH", path_text.as_str())]);
    let json = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "the fixture wrote no ground truth ({e}); its output:\n{}{}",
            String::from_utf8_lossy(&result.stdout),
            String::from_utf8_lossy(&result.stderr)
        )
    });
    let _ = std::fs::remove_file(&path);
    (result, Truth::parse(&json))
}

/// What the tests of one crash program know: its markers and what it reported.
pub(super) struct Crash {
    /// Where the program was built from: the paths its tracebacks print.
    src: PathBuf,
    minor: u32,
    markers: Markers,
    truth: Truth,
    what: String,
}

impl Crash {
    pub(super) fn new(truth: Truth, markers: Markers, what: String) -> Crash {
        let minor = truth
            .go_version
            .strip_prefix("go1.")
            .and_then(|v| v.split('.').next())
            .and_then(|m| m.parse().ok())
            .unwrap_or_else(|| panic!("no Go release in {:?}", truth.go_version));
        // The runtime names the file of a site; its marker says where in fixtures/go it is.
        let (name, site) = truth
            .sites
            .iter()
            .find(|(_, s)| !s.file.is_empty())
            .expect("a site the runtime named the file of");
        let relative = markers
            .get(name, "block")
            .file
            .to_string_lossy()
            .into_owned();
        let src = site
            .file
            .strip_suffix(&relative)
            .unwrap_or_else(|| panic!("{} does not end in {relative}", site.file))
            .into();
        Crash {
            src,
            minor,
            markers,
            truth,
            what,
        }
    }

    fn file(&self, site: &str) -> String {
        let mark = self.markers.get(site, "block");
        self.src.join(&mark.file).to_string_lossy().into_owned()
    }

    /// The groups waiting at a site of the ground truth; checks how many goroutines they
    /// hold and where they were created.
    fn site<'s>(&self, capture: &Capture, snapshot: &'s Snapshot, name: &str) -> Vec<&'s Group> {
        let site = self.truth.site(name);
        let function = (!site.function.is_empty()).then_some(site.function.as_str());
        let file = self.file(name);
        if function.is_some() {
            assert_eq!(site.file, file, "{}: {name}: the runtime's file", self.what);
        }
        let groups = groups_at(
            capture,
            snapshot,
            &file,
            self.markers.line(name, "block"),
            function,
        );
        let count: u64 = groups.iter().map(|g| g.count).sum();
        assert_eq!(count, site.count, "{}: goroutines at {name}", self.what);
        if let Some(go) = self.markers.find(name, "go") {
            for group in &groups {
                let creator = created_by(capture, group).expect("a creator");
                assert_eq!(
                    (creator.file, creator.line),
                    (file.clone(), go.line),
                    "{}: {name} created by",
                    self.what
                );
            }
        }
        groups
    }

    /// Checks that the goroutines the fixture names are in the site's groups with the
    /// parents it saw, and where those parents are.
    fn parents(&self, snapshot: &Snapshot, name: &str, groups: &[&Group], place: ParentRef) {
        for member in &self.truth.site(name).goroutines {
            let (index, parent) = snapshot
                .goroutines
                .get(member.id)
                .unwrap_or_else(|| panic!("{}: goroutine {} missing", self.what, member.id));
            assert!(
                groups
                    .iter()
                    .any(|g| std::ptr::eq(*g, &snapshot.groups[index])),
                "{}: goroutine {} is not at {name}",
                self.what,
                member.id
            );
            assert_eq!(parent, Some(member.parent), "{}: {name}", self.what);
        }
        for group in groups {
            assert_eq!(
                group.parents,
                vec![(place, group.count)],
                "{}: {name}",
                self.what
            );
        }
    }

    fn reason(&self, capture: &Capture, groups: &[&Group], reason: &str) {
        for group in groups {
            assert_eq!(
                states(capture, group),
                vec![(reason.to_string(), group.count)],
                "{}",
                self.what
            );
        }
    }
}

/// The group of goroutine `id`.
fn group_of(snapshot: &Snapshot, id: u64) -> (usize, &Group) {
    let (index, _) = snapshot
        .goroutines
        .get(id)
        .unwrap_or_else(|| panic!("goroutine {id} is not in the dump"));
    (index, &snapshot.groups[index])
}

/// The group of the dump's first goroutine.
fn first(snapshot: &Snapshot) -> &Group {
    snapshot
        .groups
        .iter()
        .min_by_key(|g| g.example.line)
        .expect("a goroutine")
}

/// `const name = value` from a fixture source.
fn go_const(path: &str, name: &str) -> u64 {
    let text = std::fs::read_to_string(fixtures_dir().join(path)).expect("read a fixture");
    let prefix = format!("const {name} = ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {prefix}N in {path}"))
}

fn panicdump(release: &str) {
    let go = toolchain(release);
    let fixtures = go.fixtures();
    let markers = Markers::read(&fixtures_dir(), "crash/panicdump");
    for traceback in ["all", "crash"] {
        let (run, truth) = run_with_truth(|env| {
            let mut env = env.to_vec();
            env.push(("GOTRACEBACK", traceback));
            fixtures.run("crash/panicdump", &["-mode=main"], &env)
        });
        let what = format!("go{} panicdump GOTRACEBACK={traceback}", go.version);
        // GOTRACEBACK=crash ends in SIGABRT.
        let want_code = if traceback == "crash" { 128 + 6 } else { 2 };
        assert_eq!(run.code(), want_code, "{what}");
        let capture = parse_one(&run.stderr, &what, Format::Traceback, Profile::Goroutine);
        let snapshot = &capture.snapshots[0];
        let crash = Crash::new(
            truth,
            Markers::read(&fixtures_dir(), "crash/panicdump"),
            what.clone(),
        );
        assert_eq!(
            (
                snapshot.info.cause.kind,
                snapshot.info.cause.message.as_str()
            ),
            (
                CauseKind::Panic,
                r#"validation failed: field "name" code 42"#
            ),
            "{what}"
        );
        let (main_index, main) = group_of(snapshot, 1);
        let panic_site = frames(&capture, main.stack)
            .into_iter()
            .find(|f| f.function == "main.main")
            .expect("main.main");
        assert_eq!(panic_site.line, markers.line("panic", "main"), "{what}");
        assert_eq!(states(&capture, main), vec![("running".to_string(), 1)]);

        for name in ["consumer", "locked", "deep", "manyargs", "generic", "mutex"] {
            let groups = crash.site(&capture, snapshot, name);
            let reason = if name == "mutex" {
                "sync.Mutex.Lock"
            } else {
                "chan receive"
            };
            crash.reason(&capture, &groups, reason);
            crash.parents(snapshot, name, &groups, ParentRef::Group(main_index));
            for group in &groups {
                let locked = if name == "locked" { group.count } else { 0 };
                assert_eq!(group.locked_to_thread, locked, "{what}: {name}");
                let got: Vec<_> = group
                    .labels
                    .iter()
                    .map(|&(set, n)| (labels(&capture, set), n))
                    .collect();
                let site_labels = &crash.truth.site(name).labels;
                // Tracebacks print labels from Go 1.27 on.
                let want = match go.minor >= 27 && !site_labels.is_empty() {
                    true => vec![(site_labels.clone(), group.count)],
                    false => vec![],
                };
                assert_eq!(got, want, "{what}: {name} labels");
            }
        }

        // 120 frames of recursion: the runtime prints the innermost and outermost 50 and
        // counts the rest.
        let depth = go_const("crash/panicdump/main.go", "depth");
        let deep = crash.site(&capture, snapshot, "deep");
        let example = &deep[0].example;
        let printed = capture.tables.frames(deep[0].stack).len() as u64;
        assert_eq!(printed, 100, "{what}: frames printed");
        let Some(Elision::Middle { after, count }) = example.elided else {
            panic!("{what}: no elision in {:?}", example.elided);
        };
        assert_eq!(after, 50, "{what}");
        if traceback == "all" {
            // Level 1 counts only the recursion; level 2 also counts the frames it shows
            // below it (runtime.goexit and, from Go 1.22, the go statement's wrapper).
            assert_eq!(count, depth - 100, "{what}: frames elided");
        } else {
            assert!(count > depth - 100, "{what}: frames elided at level 2");
        }
        if traceback == "all" {
            let lines: Vec<u32> = frames(&capture, deep[0].stack)
                .iter()
                .map(|f| f.line)
                .collect();
            let mut want = vec![markers.line("deep", "block")];
            want.resize(100, markers.line("deep", "recurse"));
            assert_eq!(lines, want, "{what}: the recursion's lines");
        }

        // Ten words of arguments, then "...".
        let many = crash.site(&capture, snapshot, "manyargs");
        let index = frames(&capture, many[0].stack)
            .iter()
            .position(|f| f.function == "main.manyArgs")
            .expect("main.manyArgs");
        let args = String::from_utf8_lossy(&many[0].example.args[index]).into_owned();
        let words: Vec<&str> = args.split(", ").collect();
        assert_eq!((words.len(), words[10]), (11, "..."), "{what}: {args}");

        if traceback == "crash" {
            let level2 = snapshot
                .groups
                .iter()
                .all(|g| g.example.thread.is_some() == (go.minor >= 23));
            assert!(level2, "{what}: gp= m= from Go 1.23 on");
            assert!(
                snapshot.groups.iter().any(|g| frames(&capture, g.stack)
                    .iter()
                    .any(|f| f.function == "runtime.forcegchelper")),
                "{what}: runtime goroutines"
            );
        } else {
            let total: u64 = crash.truth.sites.values().map(|s| s.count).sum();
            assert_eq!(snapshot.total, total + 1, "{what}: the sites and main");
        }
    }

    // The default GOTRACEBACK=single shows the panicking goroutine only.
    let run = fixtures.run("crash/panicdump", &["-mode=main"], &[]);
    let capture = parse_one(&run.stderr, "single", Format::Traceback, Profile::Goroutine);
    assert_eq!(
        capture.snapshots[0].total, 1,
        "go{} GOTRACEBACK=single",
        go.version
    );
    assert!(capture.snapshots[0].goroutines.get(1).is_some());

    // A panic in a goroutine main started: it comes first, with its creator.
    let (run, truth) = run_with_truth(|env| {
        let mut env = env.to_vec();
        env.push(("GOTRACEBACK", "all"));
        fixtures.run("crash/panicdump", &["-mode=goroutine"], &env)
    });
    let what = format!("go{} panicdump -mode=goroutine", go.version);
    assert_eq!(run.code(), 2, "{what}");
    let capture = parse_one(&run.stderr, &what, Format::Traceback, Profile::Goroutine);
    let snapshot = &capture.snapshots[0];
    assert_eq!(
        (
            snapshot.info.cause.kind,
            snapshot.info.cause.message.as_str()
        ),
        (CauseKind::Panic, r#"validation failed: field "id" code 7"#)
    );
    let file = fixtures.src().join("crash/panicdump/main.go");
    let file = file.to_string_lossy();
    let panicking = groups_at(
        &capture,
        snapshot,
        &file,
        markers.line("panic", "goroutine"),
        None,
    );
    assert_eq!(panicking.len(), 1, "{what}");
    let group = panicking[0];
    assert_eq!(states(&capture, group), vec![("running".to_string(), 1)]);
    assert!(
        std::ptr::eq(first(snapshot), group),
        "{what}: the panicking goroutine comes first"
    );
    let creator = created_by(&capture, group).expect("a creator");
    assert_eq!(creator.line, markers.line("panic", "go"), "{what}");
    let (main_index, _) = group_of(snapshot, 1);
    assert_eq!(group.parents, vec![(ParentRef::Group(main_index), 1)]);
    let total: u64 = truth.sites.values().map(|s| s.count).sum();
    assert_eq!(
        snapshot.total,
        total + 2,
        "{what}: the sites, main and the panicking one"
    );
}

fn deadlock(release: &str) {
    let go = toolchain(release);
    let fixtures = go.fixtures();
    for mode in ["wg", "select"] {
        let (run, truth) =
            run_with_truth(|env| fixtures.run("crash/deadlock", &[&format!("-mode={mode}")], env));
        let what = format!("go{} deadlock -mode={mode}", go.version);
        assert_eq!(run.code(), 2, "{what}");
        let capture = parse_one(&run.stderr, &what, Format::Traceback, Profile::Goroutine);
        let snapshot = &capture.snapshots[0];
        assert_eq!(
            (
                snapshot.info.cause.kind,
                snapshot.info.cause.message.as_str()
            ),
            (CauseKind::Fatal, "all goroutines are asleep - deadlock!"),
            "{what}"
        );
        let crash = Crash::new(
            truth,
            Markers::read(&fixtures_dir(), "crash/deadlock"),
            what.clone(),
        );
        let main_site = format!("main-{mode}");
        let main = crash.site(&capture, snapshot, &main_site);
        let reason = match mode {
            "select" => "select (no cases)",
            _ if crash.minor >= 25 => "sync.WaitGroup.Wait",
            _ => "semacquire",
        };
        crash.reason(&capture, &main, reason);
        let producers = crash.site(&capture, snapshot, "producer");
        crash.reason(&capture, &producers, "chan send");
        let (main_index, _) = group_of(snapshot, 1);
        crash.parents(
            snapshot,
            "producer",
            &producers,
            ParentRef::Group(main_index),
        );
        // producer is inlined into the closure that calls it: both frames are there.
        let file = crash.file("producer");
        let lines: Vec<u32> = frames(&capture, producers[0].stack)
            .iter()
            .filter(|f| f.file == file)
            .map(|f| f.line)
            .collect();
        let markers = &crash.markers;
        assert_eq!(
            lines,
            [
                markers.line("producer", "block"),
                markers.line("producer", "caller")
            ],
            "{what}"
        );
        // A deadlock lists every goroutine, and the program has no others.
        let total: u64 = crash.truth.sites.values().map(|s| s.count).sum();
        assert_eq!(snapshot.total, total, "{what}");
    }
}

fn ancestors(release: &str) {
    let go = toolchain(release);
    let fixtures = go.fixtures();
    let (run, truth) = run_with_truth(|env| {
        let mut env = env.to_vec();
        env.extend([("GOTRACEBACK", "all"), ("GODEBUG", "tracebackancestors=5")]);
        fixtures.run("crash/ancestors", &[], &env)
    });
    let what = format!("go{} ancestors", go.version);
    assert_eq!(run.code(), 2, "{what}");
    let capture = parse_one(&run.stderr, &what, Format::Traceback, Profile::Goroutine);
    let snapshot = &capture.snapshots[0];
    assert_eq!(
        (
            snapshot.info.cause.kind,
            snapshot.info.cause.message.as_str()
        ),
        (CauseKind::Panic, "dump with ancestors")
    );
    let crash = Crash::new(
        truth,
        Markers::read(&fixtures_dir(), "crash/ancestors"),
        what.clone(),
    );
    let markers = &crash.markers;
    let (main_index, _) = group_of(snapshot, 1);
    let tops = crash.site(&capture, snapshot, "top");
    crash.reason(&capture, &tops, "chan receive");
    crash.parents(snapshot, "top", &tops, ParentRef::Group(main_index));
    let leaves = crash.site(&capture, snapshot, "leaf");
    crash.reason(&capture, &leaves, "chan receive");
    // The middle goroutines that started the leaves have exited.
    crash.parents(snapshot, "leaf", &leaves, ParentRef::Exited);

    // The first leaf of the group carries the chain: its exited parent, the top that
    // started that one, then main. The `created by` of each section names the go
    // statement; its frames are where the ancestor was when it ran it.
    let leaf = &leaves[0].example;
    let id = leaf.id.expect("a goroutine id");
    let member = crash
        .truth
        .site("leaf")
        .goroutines
        .iter()
        .find(|m| m.id == id)
        .expect("the example leaf is in the ground truth");
    let tops_ids: Vec<u64> = crash
        .truth
        .site("top")
        .goroutines
        .iter()
        .map(|m| m.id)
        .collect();
    let t = &capture.tables;
    let chain: Vec<(u64, Vec<String>, Option<u32>)> = leaf
        .ancestors
        .iter()
        .map(|a| {
            let functions = a
                .frames
                .iter()
                .map(|&f| t.str(t.get_frame(f).function).into_owned())
                .collect();
            (a.id, functions, a.created_by.map(|f| t.get_frame(f).line))
        })
        .collect();
    assert_eq!(chain.len(), 3, "{what}: {chain:?}");
    assert_eq!(
        chain[0],
        (
            member.parent,
            vec!["main.middle".to_string()],
            Some(markers.line("middle", "go"))
        ),
        "{what}"
    );
    assert!(tops_ids.contains(&chain[1].0), "{what}: {chain:?}");
    assert_eq!(
        (&chain[1].1, chain[1].2),
        (
            &vec!["main.top".to_string()],
            Some(markers.line("top", "go"))
        ),
        "{what}"
    );
    assert_eq!(chain[2], (1, vec!["main.main".to_string()], None), "{what}");
    let total: u64 = crash.truth.sites.values().map(|s| s.count).sum();
    assert_eq!(snapshot.total, total + 1, "{what}: the chains and main");
}

fn test_timeout(release: &str) {
    let go = toolchain(release);
    let fixtures = go.fixtures();
    let (run, truth) = run_with_truth(|env| {
        fixtures.go_test("crash/testtimeout", &["-count=1", "-timeout", "2s"], env)
    });
    let what = format!("go{} go test -timeout 2s", go.version);
    assert_eq!(run.code(), 1, "{what}");
    let markers = Markers::read(&fixtures_dir(), "crash/testtimeout");
    if go.minor == 21 {
        let files = [("gotest_timeout_2s.txt".to_string(), run.stdout.clone())];
        store(&go.version, "testtimeout", &files, &truth, &markers);
    }
    Crash::new(truth, markers, what).check_test_timeout(&run.stdout);
}

impl Crash {
    /// Checks the output of `go test -timeout 2s` of crash/testtimeout.
    pub(super) fn check_test_timeout(&self, output: &[u8]) {
        let what = &self.what;
        let capture = parse_one(output, what, Format::Traceback, Profile::Goroutine);
        let snapshot = &capture.snapshots[0];
        let cause = &snapshot.info.cause;
        assert_eq!(
            (
                cause.kind,
                cause.message.as_str(),
                cause.running_tests.as_slice()
            ),
            (
                CauseKind::TestTimeout,
                "test timed out after 2s",
                &["TestHangsForever".to_string()][..]
            ),
            "{what}"
        );
        let fetch = self.site(&capture, snapshot, "fetch");
        self.reason(&capture, &fetch, "chan send");
        // The test that called FetchWithTimeout has ended.
        for group in &fetch {
            assert_eq!(
                group.parents,
                vec![(ParentRef::Exited, group.count)],
                "{what}"
            );
        }
        let hang = self.site(&capture, snapshot, "hang");
        let reason = if self.minor >= 25 {
            "sync.WaitGroup.Wait"
        } else {
            "semacquire"
        };
        self.reason(&capture, &hang, reason);
        let alarm = frames(&capture, first(snapshot).stack);
        assert_eq!(
            alarm[0].function, "testing.(*M).startAlarm.func1",
            "{what}: the alarm goroutine comes first"
        );
    }
}

fn race(release: &str) {
    let go = toolchain(release);
    let fixtures = go.fixtures();
    let run = fixtures.go_test(
        "crash/racy",
        &["-count=1", "-race"],
        &[("CGO_ENABLED", "1")],
    );
    let what = format!("go{} go test -race", go.version);
    assert_eq!(
        run.code(),
        1,
        "{what}: {}",
        String::from_utf8_lossy(&run.stdout)
    );
    let capture = parse(&run.stdout, &what);
    assert!(
        capture.snapshots.is_empty(),
        "{what}: a race report is no dump"
    );
    assert!(!capture.races.is_empty(), "{what}: races");
    let markers = Markers::read(&fixtures_dir(), "crash/racy");
    let file = |name: &str| {
        let mark = markers.get("race", name);
        fixtures
            .src()
            .join(&mark.file)
            .to_string_lossy()
            .into_owned()
    };
    let t = &capture.tables;
    let mut accesses = 0;
    for report in &capture.races {
        let mut racing = Vec::new();
        let mut created = Vec::new();
        for section in &report.sections {
            let stack: Vec<(String, String, u32)> = t
                .frames(section.stack)
                .iter()
                .map(|&f| {
                    let f = t.get_frame(f);
                    (
                        t.str(f.function).into_owned(),
                        t.str(f.file).into_owned(),
                        f.line,
                    )
                })
                .collect();
            match section.kind {
                RaceSectionKind::Access { .. } => {
                    racing.push(section.goroutine.expect("an access names its goroutine"));
                    let inc = (
                        "goleashfixtures/crash/racy.(*Stats).Inc".to_string(),
                        file("access"),
                        markers.line("race", "access"),
                    );
                    accesses += usize::from(stack.contains(&inc));
                }
                RaceSectionKind::Creation { .. } => {
                    created.push(section.goroutine.expect("a creation names its goroutine"));
                    let test = (
                        "goleashfixtures/crash/racy.TestConcurrentInc".to_string(),
                        file("go"),
                        markers.line("race", "go"),
                    );
                    assert!(stack.contains(&test), "{what}: {stack:?}");
                }
                RaceSectionKind::Other => {}
            }
        }
        racing.sort();
        created.sort();
        assert_eq!(racing.len(), 2, "{what}: two accesses per report");
        assert_eq!(
            racing, created,
            "{what}: where each racing goroutine came from"
        );
    }
    assert!(accesses > 0, "{what}: an access in Stats.Inc");
}

fn synctest_deadlock(release: &str) {
    let go = toolchain(release);
    let fixtures = go.fixtures();
    let (run, truth) =
        run_with_truth(|env| fixtures.go_test("crash/synctestdump", &["-count=1"], env));
    let what = format!("go{} synctest bubble deadlock", go.version);
    assert_eq!(run.code(), 1, "{what}");
    let capture = parse_one(&run.stdout, &what, Format::Traceback, Profile::Goroutine);
    let snapshot = &capture.snapshots[0];
    let cause = &snapshot.info.cause;
    assert_eq!(cause.kind, CauseKind::Panic, "{what}");
    assert!(
        cause
            .message
            .starts_with("deadlock: all goroutines in bubble are blocked"),
        "{what}: {cause:?}"
    );
    let crash = Crash::new(
        truth,
        Markers::read(&fixtures_dir(), "crash/synctestdump"),
        what.clone(),
    );
    let senders = crash.site(&capture, snapshot, "bubble-send");
    let main = crash.site(&capture, snapshot, "bubble-main");
    crash.reason(&capture, &senders, "chan send");
    crash.reason(&capture, &main, "chan receive");
    let mut bubbles = BTreeMap::new();
    for group in senders.iter().chain(&main) {
        assert_eq!(group.durable, group.count, "{what}: durably blocked");
        assert_eq!(group.synctest_bubbles.len(), 1, "{what}");
        bubbles.insert(group.synctest_bubbles[0], ());
    }
    assert_eq!(bubbles.len(), 1, "{what}: one bubble");
    let (parent_index, _) = group_of(snapshot, crash.truth.site("bubble-main").goroutines[0].id);
    crash.parents(
        snapshot,
        "bubble-send",
        &senders,
        ParentRef::Group(parent_index),
    );
}

#[test]
fn panic_go1_21() {
    panicdump("1.21");
}

#[test]
fn panic_go1_23() {
    panicdump("1.23");
}

#[test]
fn panic_go1_27() {
    panicdump("1.27");
}

#[test]
fn deadlock_go1_21() {
    deadlock("1.21");
}

#[test]
fn deadlock_go1_27() {
    deadlock("1.27");
}

#[test]
fn ancestors_go1_21() {
    ancestors("1.21");
}

#[test]
fn ancestors_go1_27() {
    ancestors("1.27");
}

#[test]
fn test_timeout_go1_21() {
    test_timeout("1.21");
}

#[test]
fn test_timeout_go1_27() {
    test_timeout("1.27");
}

#[test]
fn race_go1_27() {
    race("1.27");
}

#[test]
fn synctest_go1_25() {
    synctest_deadlock("1.25");
}

#[test]
fn synctest_go1_27() {
    synctest_deadlock("1.27");
}
