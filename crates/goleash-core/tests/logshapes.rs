//! Dumps in the shapes real logs give them (`tests/data/go*/logshapes`, made by
//! `fixtures/go/crash/logshapes/capture.sh` with Go 1.21 and 1.27), and every stored text
//! capture under the line prefixes of loggers, journald and CI runners.

use std::path::{Path, PathBuf};

use goleash_core::model::{CauseKind, Record};
use goleash_core::parse::{self, ParseOptions, Records};
use goleash_core::{Capture, ReadOptions, Tables};

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data")
}

fn read_file(rel: &str) -> Vec<u8> {
    std::fs::read(data().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn capture(bytes: &[u8]) -> Capture {
    goleash_core::read(bytes, &ReadOptions::default(), None).unwrap_or_else(|e| {
        panic!(
            "{e}: {}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
        )
    })
}

fn records(bytes: &[u8]) -> (Tables, Records) {
    let mut tables = Tables::new();
    let mut records = Records::default();
    parse::parse(bytes, &ParseOptions::default(), &mut tables, &mut records).expect("parses");
    (tables, records)
}

fn function(tables: &Tables, record: &Record, at: usize) -> String {
    tables
        .str(tables.get_frame(record.frames[at]).function)
        .into_owned()
}

/// Every stored text capture that holds a dump, relative to `tests/data`.
fn text_captures() -> Vec<String> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, base, out);
            } else if path.extension().is_some_and(|e| e == "txt") {
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
    walk(&data(), &data(), &mut out);
    out.retain(|rel| {
        goleash_core::read(&read_file(rel)[..], &ReadOptions::default(), None).is_ok()
    });
    out.sort();
    assert!(
        out.len() > 70,
        "captures missing under {}",
        data().display()
    );
    out
}

/// Goroutine headers counted without our parser: whole lines `goroutine N [state]:`.
fn header_lines(text: &[u8]) -> Vec<u64> {
    text.split(|&b| b == b'\n')
        .enumerate()
        .filter(|(_, line)| {
            let Some(rest) = line.strip_prefix(b"goroutine ") else {
                return false;
            };
            let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
            digits > 0
                && (rest[digits..].starts_with(b" [") || rest[digits..].starts_with(b" gp="))
                && line.ends_with(b"]:")
        })
        .map(|(i, _)| i as u64 + 1)
        .collect()
}

/// What a reader of the capture learns, whatever the bytes that carried it: per dump its
/// cause, total, groups and whether it was cut short; the warnings by line.
fn model(c: &Capture) -> Vec<String> {
    let mut out = Vec::new();
    for s in &c.snapshots {
        let cause = &s.info.cause;
        let runtime_stack: Vec<String> = cause
            .runtime_stack
            .map(|stack| {
                c.tables
                    .frames(stack)
                    .iter()
                    .map(|&f| c.tables.str(c.tables.get_frame(f).function).into_owned())
                    .collect()
            })
            .unwrap_or_default();
        out.push(format!(
            "dump {:?} {:?} {:?} {:?} {:?} total {} truncated {}",
            cause.kind,
            cause.message,
            cause.details,
            cause.running_tests,
            runtime_stack,
            s.total,
            s.truncated
        ));
        let mut groups: Vec<String> = s
            .groups
            .iter()
            .map(|g| format!("  {} × {} parents {:?}", g.count, g.signature, g.parents))
            .collect();
        groups.sort();
        out.extend(groups);
    }
    out.extend(
        c.warnings
            .iter()
            .map(|w| format!("warning line {:?}: {}", w.line, w.message)),
    );
    out
}

/// Puts `head(line number)` in front of every line, as a logger does.
fn prefixed(bytes: &[u8], head: impl Fn(usize) -> String) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() * 2);
    for (i, line) in bytes.split_inclusive(|&b| b == b'\n').enumerate() {
        out.extend_from_slice(head(i).as_bytes());
        out.extend_from_slice(line);
    }
    out
}

#[test]
fn every_text_capture_reads_the_same_under_every_line_prefix() {
    // Timestamps that change from line to line, as they do in a real log.
    type Head = fn(usize) -> String;
    let prefixes: [(&str, Head); 4] = [
        ("RFC 3339", |i| {
            format!(
                "2024-01-0{}T00:{:02}:{:02}Z ",
                1 + i % 9,
                i / 60 % 60,
                i % 60
            )
        }),
        ("RFC 3339 with offset and a level", |i| {
            format!(
                "2024-01-01T10:{:02}:{:02}.{:06}+02:00 ERROR ",
                i / 60 % 60,
                i % 60,
                i * 7919 % 1_000_000
            )
        }),
        ("journald", |i| {
            format!("Feb {:2} 04:53:{:02} host app[1]: ", 1 + i % 28, i % 60)
        }),
        ("GitHub Actions", |i| {
            format!(
                "2024-01-01T00:00:{:02}.{:07}Z ",
                i % 60,
                i * 104_729 % 10_000_000
            )
        }),
    ];
    let mut checked = 0;
    for rel in text_captures() {
        // Garbled text parses differently wherever the garbling lands; it has its own test.
        if rel.contains("interleaved") {
            continue;
        }
        let bytes = read_file(&rel);
        let expected = model(&capture(&bytes));
        for (name, head) in &prefixes {
            let with_prefix = prefixed(&bytes, head);
            let got = model(&capture(&with_prefix));
            assert_eq!(got, expected, "{rel} under the {name} prefix");
            // A writer that trims line ends leaves an empty line as the prefix without its
            // last space.
            let trimmed: Vec<u8> = with_prefix
                .split_inclusive(|&b| b == b'\n')
                .flat_map(|line| {
                    let body = line.strip_suffix(b"\n").unwrap_or(line);
                    let end = body.trim_ascii_end().len();
                    let mut out = body[..end].to_vec();
                    out.extend_from_slice(&line[body.len()..]);
                    out
                })
                .collect();
            let got = model(&capture(&trimmed));
            assert_eq!(
                got, expected,
                "{rel} under the {name} prefix, line ends trimmed"
            );
        }
        checked += 1;
    }
    assert!(checked > 70, "{checked} captures");
}

#[test]
fn a_prefixed_deadlock_is_a_deadlock() {
    for release in ["go1.21", "go1.27"] {
        for shape in ["journald", "rfc3339"] {
            let rel = format!("{release}/logshapes/deadlock.{shape}.txt");
            let c = capture(&read_file(&rel));
            assert_eq!(c.snapshots.len(), 1, "{rel}");
            let cause = &c.snapshots[0].info.cause;
            assert_eq!(cause.kind, CauseKind::Fatal, "{rel}");
            assert_eq!(
                cause.message, "all goroutines are asleep - deadlock!",
                "{rel}"
            );
            // main and the three producers of crash/deadlock.
            assert_eq!(c.snapshots[0].total, 4, "{rel}");
        }
    }
}

#[test]
fn sigquit_typed_on_a_terminal() {
    for release in ["go1.21", "go1.27"] {
        let rel = format!("{release}/logshapes/sigquit.tty.txt");
        let bytes = read_file(&rel);
        assert!(
            bytes.windows(15).any(|w| w == b"^\\SIGQUIT: quit"),
            "{rel} has the echo"
        );
        let c = capture(&bytes);
        assert_eq!(c.snapshots.len(), 1, "{rel}");
        let cause = &c.snapshots[0].info.cause;
        assert_eq!(
            (cause.kind, cause.message.as_str()),
            (CauseKind::Signal, "SIGQUIT: quit"),
            "{rel}"
        );
        assert_eq!(
            c.snapshots[0].total,
            header_lines(&bytes).len() as u64,
            "{rel}"
        );
    }
}

#[test]
fn a_panic_value_over_several_lines_is_one_cause_in_every_release() {
    // Go 1.21 prints the value's further lines as they are, Go 1.27 indents them.
    for rel in [
        "go1.21/logshapes/multiline.stderr.txt",
        "go1.27/logshapes/multiline.stderr.txt",
        "go1.21/logshapes/multiline.github.txt",
        "go1.27/logshapes/multiline.github.txt",
    ] {
        let bytes = read_file(rel);
        let c = capture(&bytes);
        assert_eq!(c.snapshots.len(), 1, "{rel}");
        let cause = &c.snapshots[0].info.cause;
        assert_eq!(cause.kind, CauseKind::Panic, "{rel}");
        assert_eq!(cause.message, "config: 2 errors:", "{rel}");
        assert_eq!(
            cause.details,
            vec![
                "listen: address already in use".to_string(),
                "cache: no such directory".to_string()
            ],
            "{rel}"
        );
        assert!(c.warnings.is_empty(), "{rel}: {:?}", c.warnings);
    }
    assert_eq!(
        capture(&read_file("go1.21/logshapes/multiline.github.txt")).snapshots[0].total,
        5,
        "GOTRACEBACK=all: main, three waiters and the ticker"
    );
}

#[test]
fn a_header_at_the_end_of_a_log_message_keeps_the_whole_stack() {
    for release in ["go1.21", "go1.27"] {
        let (plain_tables, plain) = records(&read_file(&format!(
            "{release}/logshapes/logged.stderr.txt"
        )));
        let rel = format!("{release}/logshapes/logged.journald.txt");
        let bytes = read_file(&rel);
        let (tables, logged) = records(&bytes);
        assert!(logged.warnings.is_empty(), "{rel}: {:?}", logged.warnings);
        assert_eq!(logged.dumps.len(), 1, "{rel}");
        let (info, goroutines) = &logged.dumps[0];
        // The journald prefix, as the line after the header carries it; not the log message.
        let second_line = bytes.split(|&b| b == b'\n').nth(1).unwrap();
        let prefix = info.prefix.as_deref().expect("a prefix");
        assert!(prefix.ends_with("]: "), "{rel}: {prefix:?}");
        assert!(
            second_line.starts_with(prefix.as_bytes()),
            "{rel}: {prefix:?}"
        );
        assert!(!prefix.contains("runtime error"), "{rel}: {prefix:?}");
        let g = &goroutines[0];
        let p = &plain.dumps[0].1[0];
        assert_eq!(function(&tables, g, 0), "runtime/debug.Stack", "{rel}");
        assert_eq!(g.frames.len(), p.frames.len(), "{rel}");
        for at in 0..g.frames.len() {
            assert_eq!(
                function(&tables, g, at),
                function(&plain_tables, p, at),
                "{rel}"
            );
        }
        let creator = g.created_by.expect("created by is kept");
        assert_eq!(
            tables.str(tables.get_frame(creator.frame).function),
            "main.main"
        );
        assert_eq!(creator.parent, Some(1));
    }
}

#[test]
fn dumps_back_to_back_are_two_dumps() {
    for release in ["go1.21", "go1.27"] {
        let rel = format!("{release}/logshapes/twice.debug2.txt");
        let bytes = read_file(&rel);
        let c = capture(&bytes);
        assert_eq!(c.snapshots.len(), 2, "{rel}");
        let headers = header_lines(&bytes).len() as u64;
        assert_eq!(
            c.snapshots[0].total + c.snapshots[1].total,
            headers,
            "{rel}"
        );
        // main, three waiters, the ticker: each dump lists them once.
        assert_eq!(c.snapshots[0].total, 5, "{rel}");
        assert_eq!(c.snapshots[1].total, 5, "{rel}");
    }
}

#[test]
fn ancestors_name_the_parent_when_created_by_does_not() {
    // gostackparse's capture predates Go 1.21: `created by main.d1` without `in goroutine`.
    let (_, records) = records(&read_file("corpus/public/gostackparse/ancestors.txt"));
    let mut with_ancestors = 0;
    for record in &records.dumps[0].1 {
        if let Some(first) = record.ancestors.first() {
            assert_eq!(
                record.created_by.and_then(|c| c.parent),
                Some(first.id),
                "goroutine {:?}",
                record.id
            );
            with_ancestors += 1;
        }
    }
    assert_eq!(with_ancestors, 2);
    let c = capture(&read_file("corpus/public/gostackparse/ancestors.txt"));
    let parents: usize = c.snapshots[0].groups.iter().map(|g| g.parents.len()).sum();
    assert!(parents > 0, "the spawn tree has the parents");
}

/// The line numbers a warning names: its line, to the `to line N` it mentions.
fn warned_lines(warning: &goleash_core::model::Warning) -> std::ops::RangeInclusive<u64> {
    let first = warning.line.expect("every warning names its line");
    let last = warning
        .message
        .split("to line ")
        .nth(1)
        .and_then(|rest| {
            rest.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or(first);
    first..=last
}

#[test]
fn interleaved_dumps_are_salvaged_and_what_was_dropped_is_named() {
    for release in ["go1.21", "go1.27"] {
        let rel = format!("{release}/logshapes/interleaved.stderr.txt");
        let bytes = read_file(&rel);
        let (_, records) = records(&bytes);
        assert!(!records.warnings.is_empty(), "{rel} is garbled");
        let warned: Vec<_> = records.warnings.iter().map(warned_lines).collect();
        let read: std::collections::HashSet<u64> = records
            .dumps
            .iter()
            .flat_map(|(_, goroutines)| goroutines.iter().map(|g| g.line))
            .collect();
        // Every whole header line is a goroutine or inside what a warning names.
        let mut missing = Vec::new();
        for line in header_lines(&bytes) {
            if !read.contains(&line) && !warned.iter().any(|range| range.contains(&line)) {
                missing.push(line);
            }
        }
        assert!(
            missing.is_empty(),
            "{rel}: headers dropped silently at {missing:?}"
        );
        // What parses is kept: most of the goroutines whose headers survived whole.
        assert!(
            read.len() * 2 > header_lines(&bytes).len(),
            "{rel}: {} goroutines salvaged",
            read.len()
        );
    }
}
