//! The parsers against the shared corpus of real dumps (`tests/data/corpus`): public dumps
//! from Go 1.3–1.21 era projects and Go 1.27.3 crash captures, each checked against facts
//! known independently of our parser (header counts, the producers' own golden files, the
//! ground truth of the fixtures that made them).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use goleash_core::group::ParentRef;
use goleash_core::model::{CauseKind, Format, Profile, RaceSectionKind, Record};
use goleash_core::parse::{self, ParseOptions, Records};
use goleash_core::{Capture, ParseError, ReadOptions, Snapshot, Tables};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/corpus")
}

fn read_file(rel: &str) -> Vec<u8> {
    std::fs::read(corpus().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn capture(bytes: &[u8]) -> Capture {
    goleash_core::read(bytes, &ReadOptions::default(), None).expect("parses")
}

fn records(bytes: &[u8]) -> (Tables, Records) {
    let mut tables = Tables::new();
    let mut records = Records::default();
    parse::parse(bytes, &ParseOptions::default(), &mut tables, &mut records).expect("parses");
    (tables, records)
}

fn all_files() -> Vec<String> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, base, out);
            } else if path.extension().is_some_and(|e| e == "txt" || e == "gz") {
                out.push(
                    path.strip_prefix(base)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    let mut out = Vec::new();
    walk(&corpus(), &corpus(), &mut out);
    out.sort();
    assert!(out.len() > 70, "corpus missing: {}", corpus().display());
    out
}

/// Goroutine headers counted without our parser: a line holding `goroutine <digits> [` or
/// `goroutine <digits> gp=` and ending with the header's colon.
fn count_headers(text: &[u8]) -> u64 {
    text.split(|&b| b == b'\n')
        .filter(|line| {
            let line = line.trim_ascii();
            line.ends_with(b":")
                && line.windows(10).enumerate().any(|(at, w)| {
                    if w != b"goroutine " {
                        return false;
                    }
                    let rest = &line[at + 10..];
                    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
                    digits > 0
                        && (rest[digits..].starts_with(b" [")
                            || rest[digits..].starts_with(b" gp="))
                })
        })
        .count() as u64
}

fn function(tables: &Tables, id: goleash_core::FrameId) -> String {
    tables.str(tables.get_frame(id).function).into_owned()
}

fn sole_group_by_function<'a>(
    tables: &Tables,
    snapshot: &'a Snapshot,
    name: &str,
) -> &'a goleash_core::Group {
    let found: Vec<_> = snapshot
        .groups
        .iter()
        .filter(|g| {
            tables
                .frames(g.stack)
                .iter()
                .any(|&f| function(tables, f) == name)
        })
        .collect();
    assert_eq!(found.len(), 1, "groups running {name}");
    found[0]
}

#[test]
fn every_file_parses_and_every_header_becomes_a_goroutine() {
    // Files that are not goroutine dumps, with the error they must give.
    let not_dumps: BTreeMap<&str, fn(&ParseError) -> bool> = BTreeMap::from([
        (
            "public/gostackparse/empty_input.txt",
            (|e| matches!(e, ParseError::Empty)) as fn(&ParseError) -> bool,
        ),
        ("go1.27/crash/gotest_synctest_bubble_stack.txt", |e| {
            matches!(e, ParseError::NoDump { .. })
        }),
    ]);
    // A header our parser must not turn into a goroutine: panicparse's deliberately broken
    // header (`goroutine 1 [running]` with no colon is no header at all, so it is not counted
    // either). Every other header is a goroutine.
    let mut checked = 0;
    for rel in all_files() {
        let bytes = read_file(&rel);
        let result = goleash_core::read(&bytes[..], &ReadOptions::default(), None);
        if let Some(expected) = not_dumps.get(rel.as_str()) {
            let err = result
                .err()
                .unwrap_or_else(|| panic!("{rel} should not parse"));
            assert!(expected(&err), "{rel}: unexpected error {err}");
            continue;
        }
        let capture = result.unwrap_or_else(|e| panic!("{rel}: {e}"));
        let total: u64 = capture.snapshots.iter().map(|s| s.total).sum();
        if rel.ends_with(".gz") || rel.contains("debug1") {
            // Aggregated profiles: the profile's own total is the ground truth.
            let declared: u64 = capture
                .snapshots
                .iter()
                .filter_map(|s| s.info.declared_total)
                .sum();
            assert_eq!(total, declared, "{rel}");
            assert!(total > 0, "{rel}");
        } else {
            assert_eq!(total, count_headers(&bytes), "{rel}: goroutines vs headers");
        }
        for snapshot in &capture.snapshots {
            assert_eq!(
                snapshot.groups.iter().map(|g| g.count).sum::<u64>(),
                snapshot.total,
                "{rel}"
            );
        }
        checked += 1;
    }
    assert!(checked > 70);
}

#[test]
fn gostackparse_golden_files_agree() {
    use serde_json::Value;
    for name in [
        "ancestors",
        "cgo",
        "frameselided",
        "frameselided_goroutine",
        "go121_createdby",
        "lockedm",
        "waitsince",
        "windows",
        "errorhandling",
    ] {
        let text = read_file(&format!("public/gostackparse/{name}.txt"));
        let golden: Value = serde_json::from_slice(&read_file(&format!(
            "public/gostackparse/{name}.golden.json"
        )))
        .unwrap();
        let (tables, records) = records(&text);
        let ours: BTreeMap<u64, &Record> = records
            .dumps
            .iter()
            .flat_map(|(_, r)| r.iter())
            .map(|r| (r.id.unwrap(), r))
            .collect();
        let expected = golden["Goroutines"].as_array().unwrap();
        assert!(!expected.is_empty(), "{name}");
        for g in expected {
            let id = g["ID"].as_u64().unwrap();
            let record = ours
                .get(&id)
                .unwrap_or_else(|| panic!("{name}: goroutine {id} missing"));
            let state = record.state.as_ref().unwrap();
            assert_eq!(
                tables.str(state.reason.unwrap()),
                g["State"].as_str().unwrap(),
                "{name} {id}"
            );
            assert_eq!(
                state.locked_to_thread,
                g["LockedToThread"].as_bool().unwrap(),
                "{name} {id}"
            );
            let minutes = g["Wait"].as_u64().unwrap() / 60_000_000_000;
            assert_eq!(
                u64::from(state.wait_minutes.unwrap_or(0)),
                minutes,
                "{name} {id}"
            );
            let stack: Vec<(String, String, u64)> = g["Stack"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| {
                    (
                        f["Func"].as_str().unwrap().to_string(),
                        f["File"].as_str().unwrap().to_string(),
                        f["Line"].as_u64().unwrap(),
                    )
                })
                .collect();
            let got: Vec<(String, String, u64)> = record
                .frames
                .iter()
                .map(|&f| {
                    let frame = tables.get_frame(f);
                    (
                        function(&tables, f),
                        tables.str(frame.file).into_owned(),
                        u64::from(frame.line),
                    )
                })
                .collect();
            assert_eq!(got, stack, "{name} goroutine {id}");
            assert_eq!(
                record.elided.is_some(),
                g["FramesElided"].as_bool().unwrap(),
                "{name} {id}"
            );
            match g["CreatedBy"].as_object() {
                None => assert!(record.created_by.is_none(), "{name} {id}"),
                Some(c) => {
                    let creator = record.created_by.unwrap();
                    let frame = tables.get_frame(creator.frame);
                    assert_eq!(
                        function(&tables, creator.frame),
                        c["Func"].as_str().unwrap()
                    );
                    assert_eq!(tables.str(frame.file), c["File"].as_str().unwrap());
                    assert_eq!(u64::from(frame.line), c["Line"].as_u64().unwrap());
                }
            }
            if let Some(ancestor) = g.get("Ancestor").and_then(Value::as_object) {
                assert_eq!(
                    record.ancestors[0].id,
                    ancestor["ID"].as_u64().unwrap(),
                    "{name} {id}"
                );
            }
        }
        // errorhandling.txt's goroutine 2 has one frame that is not a function call: the
        // golden drops the goroutine, we keep it (it existed) without that frame.
        let expected_ids: Vec<u64> = expected.iter().map(|g| g["ID"].as_u64().unwrap()).collect();
        let extra: Vec<u64> = ours
            .keys()
            .copied()
            .filter(|id| !expected_ids.contains(id))
            .collect();
        let allowed: &[u64] = if name == "errorhandling" { &[2] } else { &[] };
        assert_eq!(
            extra, allowed,
            "{name}: goroutines the golden does not have"
        );
    }
}

#[test]
fn one_process_in_three_formats_gives_the_same_signatures() {
    // go-profiler-notes captured one process as debug=0, debug=1 and debug=2 in a row.
    // The goroutines doing the capture (main.writeProfiles, the HTTP connection it reads
    // from, the pprof handler serving it) were in a different place for each format; every
    // other goroutine was not.
    let capturing = [
        "main.writeProfiles",
        "net/http.(*connReader).backgroundRead",
        "net/http/pprof.handler.ServeHTTP",
    ];
    for run in [
        "1.net.http.pprof",
        "2.net.http.pprof",
        "1.pprof.lookup",
        "2.pprof.lookup",
    ] {
        let by_signature = |rel: String| -> BTreeMap<String, u64> {
            let capture = capture(&read_file(&rel));
            let tables = &capture.tables;
            let mut map = BTreeMap::new();
            for g in &capture.snapshots[0].groups {
                if tables
                    .frames(g.stack)
                    .iter()
                    .any(|&f| capturing.contains(&function(tables, f).as_str()))
                {
                    continue;
                }
                *map.entry(g.signature.to_string()).or_default() += g.count;
            }
            assert!(map.len() >= 4, "{rel}");
            map
        };
        let debug0 = by_signature(format!(
            "public/go-profiler-notes/{run}.goroutine.debug0.pb.gz"
        ));
        let debug1 = by_signature(format!(
            "public/go-profiler-notes/{run}.goroutine.debug1.txt"
        ));
        let debug2 = by_signature(format!(
            "public/go-profiler-notes/{run}.goroutine.debug2.txt"
        ));
        assert_eq!(debug0, debug1, "{run}: debug=0 vs debug=1");
        assert_eq!(debug1, debug2, "{run}: debug=1 vs debug=2");
    }
}

#[test]
fn debug0_and_debug1_carry_labels_and_the_profile_total() {
    let capture = capture(&read_file(
        "public/go-profiler-notes/2.net.http.pprof.goroutine.debug0.pb.gz",
    ));
    let snapshot = &capture.snapshots[0];
    assert_eq!(snapshot.info.format, Format::Proto);
    assert_eq!(snapshot.info.declared_total, Some(10));
    let tables = &capture.tables;
    let labelled: u64 = snapshot
        .groups
        .iter()
        .flat_map(|g| &g.labels)
        .filter(|(set, _)| {
            tables
                .label_pairs(*set)
                .iter()
                .any(|&(k, v)| tables.str(k) == "test_label" && tables.str(v) == "test_value")
        })
        .map(|(_, n)| n)
        .sum();
    assert!(labelled >= 5, "labelled goroutines: {labelled}");
    let sleep = sole_group_by_function(tables, snapshot, "main.shortSleepLoop");
    assert_eq!(sleep.count, 2);
    // Inlined calls are extra lines of one location: FD.Read inlined into pollDesc.waitRead.
    let read = snapshot
        .groups
        .iter()
        .find(|g| {
            tables
                .frames(g.stack)
                .iter()
                .any(|&f| function(tables, f) == "internal/poll.(*FD).Read")
        })
        .unwrap();
    let inlined: Vec<bool> = tables
        .frames(read.stack)
        .iter()
        .map(|&f| tables.get_frame(f).inlined)
        .collect();
    assert!(inlined.contains(&true));
}

#[test]
fn go_test_timeout_names_the_test_and_the_exited_parent() {
    let capture = capture(&read_file("go1.27/crash/gotest_timeout_2s.txt"));
    let snapshot = &capture.snapshots[0];
    assert_eq!(snapshot.info.cause.kind, CauseKind::TestTimeout);
    assert_eq!(snapshot.info.cause.message, "test timed out after 2s");
    assert_eq!(snapshot.info.cause.running_tests, vec!["TestHangsForever"]);
    let tables = &capture.tables;
    let leaked = sole_group_by_function(
        tables,
        snapshot,
        "leakfixtures/crash/testtimeout.FetchWithTimeout.func1",
    );
    assert_eq!(leaked.count, 3);
    assert_eq!(tables.str(leaked.state().unwrap()), "chan send");
    assert_eq!(leaked.parent, Some(19));
    assert_eq!(leaked.parents, vec![(ParentRef::Exited, 3)]);
    let frame = tables.get_frame(tables.frames(leaked.stack)[0]);
    assert!(
        tables
            .str(frame.file)
            .ends_with("crash/testtimeout/leaky.go")
    );
    assert_eq!(frame.line, 12);
    let creator = tables.get_frame(leaked.created_by.unwrap());
    assert_eq!(creator.line, 10);
    // The test itself waits in a goroutine created by testing.(*T).Run in goroutine 1,
    // which is alive: the spawn tree links them.
    let hanging = sole_group_by_function(
        tables,
        snapshot,
        "leakfixtures/crash/testtimeout.TestHangsForever",
    );
    let (main_group, _) = snapshot.goroutines.get(1).unwrap();
    assert_eq!(hanging.parents, vec![(ParentRef::Group(main_group), 1)]);
    assert_eq!(tables.str(hanging.state().unwrap()), "sync.WaitGroup.Wait");
}

#[test]
fn panic_with_all_goroutines_keeps_every_fact() {
    let capture = capture(&read_file("go1.27/crash/panic_error_GOTRACEBACK-all.txt"));
    let snapshot = &capture.snapshots[0];
    let tables = &capture.tables;
    assert_eq!(snapshot.info.cause.kind, CauseKind::Panic);
    assert_eq!(
        snapshot.info.cause.message,
        r#"validation failed: field "name" code 42"#
    );
    assert_eq!(snapshot.total, 7);
    // The panicking goroutine comes first among equals, as the dump printed it.
    assert_eq!(snapshot.groups[0].ids, vec![1]);
    let consumer = sole_group_by_function(tables, snapshot, "main.blockedConsumer");
    let labels: Vec<(String, String)> = tables
        .label_pairs(consumer.labels[0].0)
        .iter()
        .map(|&(k, v)| (tables.str(k).into_owned(), tables.str(v).into_owned()))
        .collect();
    assert_eq!(
        labels,
        vec![
            ("component".into(), "consumer".into()),
            ("shard".into(), "7".into())
        ]
    );
    let locked = sole_group_by_function(tables, snapshot, "main.lockedWorker");
    assert_eq!(locked.locked_to_thread, 1);
    let deep = sole_group_by_function(tables, snapshot, "main.recurse");
    assert_eq!(
        deep.example.elided,
        Some(goleash_core::model::Elision::Middle {
            after: 50,
            count: 21
        })
    );
    assert_eq!(tables.frames(deep.stack).len(), 100);
    let many = sole_group_by_function(tables, snapshot, "main.manyArgs");
    assert!(many.example.args[0].ends_with(b", ..."));
    let generic = sole_group_by_function(tables, snapshot, "main.Drain[...]");
    assert_eq!(tables.get_frame(tables.frames(generic.stack)[0]).line, 66);
    let mutex = sole_group_by_function(tables, snapshot, "main.startBackground.func2");
    assert_eq!(tables.str(mutex.state().unwrap()), "sync.Mutex.Lock");
    assert_eq!(mutex.parents, vec![(ParentRef::Group(0), 1)]);
}

#[test]
fn level_two_dumps_match_level_one_by_signature() {
    // The same program and panic at GOTRACEBACK=all (level 1) and =system (level 2, with
    // runtime frames, gp= headers and fp/sp/pc): every user goroutine must match.
    let level1 = capture(&read_file("go1.27/crash/panic_error_GOTRACEBACK-all.txt"));
    let level2 = capture(&read_file(
        "go1.27/crash/panic_error_GOTRACEBACK-system.txt",
    ));
    // A stack deeper than 100 frames keeps its innermost 50 and outermost 50 frames, and at
    // level 2 the runtime frames take part of the 50: those stacks cannot match.
    let sigs = |c: &Capture| -> Vec<String> {
        let mut v: Vec<String> = c.snapshots[0]
            .groups
            .iter()
            .filter(|g| g.example.elided.is_none())
            .map(|g| g.signature.to_string())
            .collect();
        v.sort();
        v
    };
    let (one, two) = (sigs(&level1), sigs(&level2));
    for s in &one {
        assert!(two.contains(s), "level-1 group {s} missing at level 2");
    }
    // Level 2 adds the runtime's own goroutines.
    assert!(two.len() > one.len());
    let any_regs = level2.snapshots[0]
        .groups
        .iter()
        .any(|g| g.example.regs.iter().any(Option::is_some));
    assert!(any_regs);
    assert!(
        level2.snapshots[0]
            .groups
            .iter()
            .any(|g| g.example.thread.is_some())
    );
}

#[test]
fn ancestors_are_chained() {
    let (tables, records) = records(&read_file(
        "go1.27/crash/ancestors_tracebackancestors-5_GOTRACEBACK-all.txt",
    ));
    let leaf = records.dumps[0]
        .1
        .iter()
        .find(|r| {
            r.frames
                .first()
                .is_some_and(|&f| function(&tables, f) == "main.leaf")
        })
        .expect("main.leaf goroutine");
    // main (1) started top (20), which started middle (21), which started leaf.
    let ids: Vec<u64> = leaf.ancestors.iter().map(|a| a.id).collect();
    assert_eq!(ids, vec![21, 20, 1]);
    assert_eq!(
        function(&tables, leaf.ancestors[0].frames[0]),
        "main.middle"
    );
    assert_eq!(function(&tables, leaf.ancestors[1].frames[0]), "main.top");
    assert_eq!(function(&tables, leaf.ancestors[2].frames[0]), "main.main");
    assert_eq!(
        tables.get_frame(leaf.ancestors[1].created_by.unwrap()).line,
        30
    );
    assert!(leaf.ancestors[2].created_by.is_none());
}

#[test]
fn synctest_bubbles_and_durable_waits() {
    let capture = capture(&read_file("go1.27/crash/synctest_bubble_runtime_stack.txt"));
    let snapshot = &capture.snapshots[0];
    let durable: u64 = snapshot.groups.iter().map(|g| g.durable).sum();
    assert!(durable >= 5, "durable goroutines: {durable}");
    assert!(
        snapshot
            .groups
            .iter()
            .any(|g| g.synctest_bubbles == vec![1])
    );
    let reasons: Vec<String> = snapshot
        .groups
        .iter()
        .filter_map(|g| g.state())
        .map(|s| capture.tables.str(s).into_owned())
        .collect();
    for reason in ["chan receive", "sync.WaitGroup.Wait", "sleep", "select"] {
        assert!(
            reasons.iter().any(|r| r == reason),
            "{reason} in {reasons:?}"
        );
    }
}

#[test]
fn fatal_errors_signals_and_deadlocks() {
    let deadlock = capture(&read_file("go1.27/crash/fatal_deadlock_waitgroup.txt"));
    let snapshot = &deadlock.snapshots[0];
    assert_eq!(snapshot.info.cause.kind, CauseKind::Fatal);
    assert_eq!(
        snapshot.info.cause.message,
        "all goroutines are asleep - deadlock!"
    );
    let producers = sole_group_by_function(&deadlock.tables, snapshot, "main.producer");
    assert_eq!(producers.count, 3);

    let overflow = capture(&read_file("go1.27/crash/fatal_stack_overflow.txt"));
    let cause = &overflow.snapshots[0].info.cause;
    assert_eq!(
        (cause.kind, cause.message.as_str()),
        (CauseKind::Fatal, "stack overflow")
    );
    assert!(
        cause.runtime_stack.is_some(),
        "the runtime stack section is kept"
    );

    let cgo = capture(&read_file(
        "go1.27/crash/cgo_sigsegv_in_c_GOTRACEBACK-all.txt",
    ));
    let cause = &cgo.snapshots[0].info.cause;
    assert_eq!(cause.kind, CauseKind::Signal);
    assert_eq!(cause.message, "SIGSEGV: segmentation violation");
    let in_c = sole_group_by_function(&cgo.tables, &cgo.snapshots[0], "main.callC");
    assert_eq!(in_c.count, 2);
}

#[test]
fn race_reports() {
    let capture = capture(&read_file("go1.27/crash/gotest_race.txt"));
    assert_eq!(capture.races.len(), 2);
    let first = &capture.races[0];
    assert_eq!(
        first.sections[0].kind,
        RaceSectionKind::Access {
            write: true,
            previous: false
        }
    );
    assert_eq!(first.sections[0].goroutine, Some(10));
    assert_eq!(
        first.sections[2].kind,
        RaceSectionKind::Creation { finished: false }
    );
    let frames = capture.tables.frames(first.sections[0].stack);
    assert_eq!(
        function(&capture.tables, frames[1]),
        "leakfixtures/crash/racy.(*Stats).Inc"
    );
    assert_eq!(capture.tables.get_frame(frames[1]).line, 8);
}

#[test]
fn old_go_dumps() {
    // Go 1.20: `created by X` without a parent id.
    let old = capture(&read_file("public/goleak_testdata_http.go1.20.txt"));
    assert!(
        old.snapshots[0]
            .groups
            .iter()
            .all(|g| g.parent.is_none() && g.parents.is_empty())
    );
    assert!(
        old.snapshots[0]
            .groups
            .iter()
            .any(|g| g.created_by.is_some())
    );
    // gVisor crash logs: `fp= sp= pc=`, `[semacquire, 23 minutes]`, 7-digit ids, syzkaller
    // wrapper lines around the dump.
    let gvisor = capture(&read_file("public/syzkaller-gvisor/report_0.txt"));
    let minutes: Vec<(u32, u32)> = gvisor
        .snapshots
        .iter()
        .flat_map(|s| &s.groups)
        .filter_map(|g| g.wait_minutes)
        .collect();
    assert!(minutes.contains(&(23, 23)), "{minutes:?}");
}

/// The same real dump, transformed the ways logs mangle dumps, must read the same.
#[test]
fn prefixed_and_indented_dumps_read_like_the_original() {
    let original = read_file("go1.27/crash/panic_error_GOTRACEBACK-all.txt");
    let signature_counts = |c: &Capture| -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = c
            .snapshots
            .iter()
            .flat_map(|s| &s.groups)
            .map(|g| (g.signature.to_string(), g.count))
            .collect();
        v.sort();
        v
    };
    let expected = signature_counts(&capture(&original));
    let text = String::from_utf8(original).unwrap();
    let journald: String = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            format!(
                "Jun 2{} 11:0{}:18 worker1 kubelet[2291]: {l}\n",
                i % 10,
                i % 6
            )
        })
        .collect();
    let indented: String = text
        .lines()
        .map(|l| format!("    {}\n", l.replace('\t', "        ")))
        .collect();
    let crlf = text.replace('\n', "\r\n");
    let in_test_output = format!(
        "=== RUN   TestX\n--- FAIL: TestX (0.00s)\n{text}exit status 2\nFAIL\tpkg\t0.01s\n"
    );
    for (name, variant) in [
        ("journald", journald),
        ("indented", indented),
        ("crlf", crlf),
        ("go test", in_test_output),
    ] {
        let mut passthrough = Vec::new();
        let c = goleash_core::read(
            variant.as_bytes(),
            &ReadOptions::default(),
            Some(&mut passthrough),
        )
        .unwrap();
        assert_eq!(signature_counts(&c), expected, "{name}");
        assert_eq!(c.snapshots.len(), 1, "{name}");
        if name == "go test" {
            assert_eq!(
                String::from_utf8(passthrough).unwrap(),
                "=== RUN   TestX\n--- FAIL: TestX (0.00s)\nexit status 2\nFAIL\tpkg\t0.01s\n"
            );
        }
    }
}

#[test]
fn appended_dumps_stay_apart() {
    let a = read_file("public/go-profiler-notes/1.runtime.stack.txt");
    let b = read_file("public/go-profiler-notes/2.runtime.stack.txt");
    let mut both = a.clone();
    if !both.ends_with(b"\n") {
        both.push(b'\n');
    }
    both.extend_from_slice(&b);
    let c = capture(&both);
    assert_eq!(c.snapshots.len(), 2);
    assert_eq!(c.snapshots[0].total, count_headers(&a));
    assert_eq!(c.snapshots[1].total, count_headers(&b));
}

#[test]
fn a_goroutine_running_in_a_system_call_stays_in_its_dump() {
    // Go 1.27.3's ?debug=2 of leakysvc: after the writer (goroutine 5), the background
    // read of its own connection is `[running]` too, with a stack, in syscall.Syscall.
    let text = read_file("../go1.27/running-syscall/goroutine_debug2.txt");
    let (_, records) = records(&text);
    assert_eq!(records.dumps.len(), 1, "one ?debug=2 output is one dump");
    let ids: Vec<u64> = records.dumps[0].1.iter().filter_map(|r| r.id).collect();
    assert_eq!(ids.len() as u64, count_headers(&text));
    assert_eq!(ids.first(), Some(&5));
    assert_eq!(ids.last(), Some(&10));
    assert!(records.warnings.is_empty(), "{:?}", records.warnings);

    // Two of them appended are still two dumps.
    let mut both = text.clone();
    both.extend_from_slice(&text);
    assert_eq!(capture(&both).snapshots.len(), 2);
}

#[test]
fn a_dump_cut_anywhere_keeps_what_was_there() {
    let full = read_file("go1.27/crash/gotest_timeout_2s.txt");
    // The dump ends where `go test` prints its FAIL line; every frame in it has an offset.
    let dump_end = full.windows(6).position(|w| w == b"\nFAIL\t").unwrap() + 1;
    for cut in 1..dump_end {
        let bytes = &full[..cut];
        let headers = count_headers(bytes);
        match goleash_core::read(bytes, &ReadOptions::default(), None) {
            Ok(c) => {
                let total: u64 = c.snapshots.iter().map(|s| s.total).sum();
                assert_eq!(total, headers, "cut at {cut}");
                let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
                let last_line = body.rsplit(|&b| b == b'\n').next().unwrap();
                let has_offset = last_line
                    .windows(5)
                    .any(|w| w.starts_with(b" +0x") && w[4].is_ascii_hexdigit());
                let complete = last_line.is_empty() || (last_line.starts_with(b"\t") && has_offset);
                let truncated = c.snapshots.last().unwrap().truncated;
                assert_eq!(
                    truncated,
                    !complete,
                    "cut at {cut}: {:?}",
                    String::from_utf8_lossy(last_line)
                );
            }
            Err(ParseError::NoDump { .. }) => assert_eq!(headers, 0, "cut at {cut}"),
            Err(e) => panic!("cut at {cut}: {e}"),
        }
    }
}

#[test]
fn goroutineleak_debug1_marks_everything_proven() {
    let text = b"goroutineleak profile: total 3\n3 @ 0x48c6ea 0x418c9c 0x6bf6e8 0x4937a1\n#\t0x6bf6e7\tmain.leak+0x47\t/src/main.go:27\n\n";
    let c = capture(text);
    assert_eq!(c.snapshots[0].info.profile, Profile::GoroutineLeak);
    assert!(c.snapshots[0].groups[0].proven());
}

/// goleak's failure message, as `t.Error` prints it inside `go test -v` output: the message
/// indented by `testing`, each goroutine introduced by `[Goroutine N in state S, with F on top
/// of the stack:` and the list closed by `]`. Built from the records of a real Go 1.27 dump,
/// in the layout of goleak's `Stack.String` and `testing`'s `decorate`.
#[test]
fn goleak_messages_in_test_output() {
    let dump = String::from_utf8(read_file("go1.27/crash/gotest_timeout_2s.txt")).unwrap();
    let records: Vec<&str> = dump
        .split("\n\n")
        .filter(|r| r.starts_with("goroutine ") && r.contains("FetchWithTimeout.func1"))
        .map(|r| r.split("\nFAIL").next().unwrap())
        .collect();
    assert_eq!(records.len(), 3);
    let mut elements = Vec::new();
    for record in &records {
        let id = record["goroutine ".len()..].split(' ').next().unwrap();
        elements.push(format!(
            "Goroutine {id} in state chan send, with leakfixtures/crash/testtimeout.FetchWithTimeout.func1 on top of the stack:\n{record}\n"
        ));
    }
    let message = format!("found unexpected goroutines:\n[{}]", elements.join("\n "));
    let mut decorated = String::from("=== RUN   TestFetch\n    leaks_test.go:17: ");
    for (i, line) in message.lines().enumerate() {
        if i > 0 {
            decorated.push_str("\n        ");
        }
        decorated.push_str(line);
    }
    decorated.push_str("\n--- FAIL: TestFetch (0.44s)\nFAIL\n");

    let mut passthrough = Vec::new();
    let c = goleash_core::read(
        decorated.as_bytes(),
        &ReadOptions::default(),
        Some(&mut passthrough),
    )
    .unwrap();
    assert_eq!(c.snapshots.len(), 1);
    let snapshot = &c.snapshots[0];
    assert_eq!(snapshot.info.cause.kind, CauseKind::Goleak);
    assert_eq!(snapshot.info.prefix.as_deref(), Some("        "));
    assert_eq!(snapshot.total, 3);
    assert_eq!(snapshot.groups.len(), 1);
    assert_eq!(snapshot.groups[0].parent, Some(19));
    let text = String::from_utf8(passthrough).unwrap();
    assert!(text.starts_with("=== RUN   TestFetch\n"), "{text}");
    assert!(
        text.ends_with("--- FAIL: TestFetch (0.44s)\nFAIL\n"),
        "{text}"
    );
    assert!(
        !text.contains("goroutine "),
        "dump lines leaked into the passthrough: {text}"
    );
}
