//! `goleash check`: the CI gate. Exit 1 when a snapshot holds leaks.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use goleash_core::ReadOptions;

use crate::Outcome;
use crate::analysis::{self, FileSource};
use crate::cli::{GateArgs, GroupingArgs, HttpArgs, OutputArgs, SourceArgs};
use crate::config::{self, BaselineEntry};
use crate::doc::check::{CheckDoc, Judged};
use crate::gate::{Gate, GateOutcome};
use crate::input::{self, Input};
use crate::render::findings;
use crate::render::style::Style;
use crate::render::text;

/// Fail when goroutines leak: a CI gate that reads any dump or profile, or a live service.
///
/// By default the snapshot is taken to be of a program that should be idle (tests finished,
/// load drained): goroutines still waiting on another goroutine, unless long-lived by design,
/// are leaks. With two or more inputs, the last is judged against the first and stacks that
/// grew are leaks. A live service is sampled until its goroutines settle, like goleak's
/// retries, so goroutines that exit a moment late do not fail the build.
#[derive(Args, Debug)]
#[command(after_help = "EXAMPLES:
    go test ./... 2>&1 | goleash check            fail on goleak reports and leaks in panics
    goleash check http://127.0.0.1:6060           after a load test, against the live service
    goleash check before.pb.gz after.pb.gz        stacks that grew fail
    goleash check --write-baseline .goleash-baseline.json dump.txt

SUPPRESSIONS:
    .goleash.toml in this directory or a parent (see README.md):
        [[ignore]]
        reason = \"lives as long as the process\"
        function = \"github.com/acme/metrics.(*Pusher).loop\"")]
pub struct CheckArgs {
    /// Snapshots: files, `-` for standard input (the default), or a service URL.
    pub inputs: Vec<String>,
    /// The program is live, goroutines may be mid-request: only proven or growing leaks fail.
    #[arg(long)]
    pub live: bool,
    /// Most samples of a live service while waiting for its goroutines to settle.
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub settle_attempts: u32,
    /// Longest pause between those samples, in milliseconds (pauses double from 1 ms).
    #[arg(long, default_value_t = 100, value_name = "MS")]
    pub settle_max_delay: u64,
    /// Do not copy text that is not part of a dump when reading standard input.
    #[arg(long, short)]
    pub quiet: bool,
    #[command(flatten)]
    pub gate: GateArgs,
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub grouping: GroupingArgs,
    #[command(flatten)]
    pub http: HttpArgs,
}

pub fn run(args: &CheckArgs) -> Result<Outcome> {
    let inputs = Input::from_args(&args.inputs)?;
    let gate = args.gate.gate()?;
    let source = args.source.files();
    let options = args.grouping.read_options();
    let quiescent = !args.live;
    let json_output = args.output.stdout_is_data();

    let judged: Vec<Judged> = if inputs.len() >= 2 {
        vec![judge_series(&inputs, &options, args, quiescent, &source)?]
    } else if let Input::Url(url) = &inputs[0] {
        vec![settle(url, &options, args, &gate, quiescent, &source)?]
    } else {
        let mut passthrough = input::passthrough(json_output);
        let pass: Option<goleash_core::Passthrough<'_>> =
            if inputs[0] == Input::Stdin && !args.quiet {
                Some(&mut passthrough)
            } else {
                None
            };
        let capture = input::read(
            &inputs[0],
            &options,
            &args.http.client(),
            pass,
            args.http.leak_profile(),
        )?;
        let snapshots = analysis::assess_capture(&capture, quiescent, &source)
            .into_iter()
            .map(|a| a.into_iter().map(|a| (a, None)).collect())
            .collect();
        vec![Judged {
            name: inputs[0].name(),
            capture,
            snapshots,
        }]
    };
    source.report_warnings();

    if let Some(path) = &args.gate.write_baseline {
        return write_baseline(path, &judged);
    }
    for j in &judged {
        for warning in &j.capture.warnings {
            eprintln!("goleash: warning: {}: {warning}", j.name);
        }
    }

    let doc = CheckDoc::build(&judged, &gate);
    let style = Style::for_stdout(args.output.color);
    super::print(
        args.output.format(),
        "check",
        &doc,
        || findings::of_check(&doc),
        &source,
        |out| text::check::write(out, &doc, &style),
    )?;
    let failed = !doc.passed;
    Ok(if failed { Outcome::Leaks } else { Outcome::Ok })
}

/// Two or more inputs: the last judged against the first.
fn judge_series(
    inputs: &[Input],
    options: &ReadOptions,
    args: &CheckArgs,
    quiescent: bool,
    source: &FileSource,
) -> Result<Judged> {
    let first = input::read_snapshot(&inputs[0], options, &args.http)?;
    let last_input = inputs.last().expect("two or more");
    let last = input::read_snapshot(last_input, options, &args.http)?;
    let (b, a) = (input::last(&first), input::last(&last));
    let rows = goleash_core::diff::diff((&first.tables, b), (&last.tables, a));
    let judged = analysis::assess_growth(&last, a, &rows, quiescent, source);
    // Only the judged (last) snapshot is kept.
    let mut capture = last;
    let keep = capture.snapshots.len() - 1;
    capture.snapshots.drain(..keep);
    Ok(Judged {
        name: last_input.name(),
        capture,
        snapshots: vec![judged],
    })
}

/// Samples a live service until the failing groups stop changing.
fn settle(
    url: &str,
    options: &ReadOptions,
    args: &CheckArgs,
    gate: &Gate,
    quiescent: bool,
    source: &FileSource,
) -> Result<Judged> {
    let client = args.http.client();
    let max_delay = Duration::from_millis(args.settle_max_delay.max(1));
    let mut delay = Duration::from_millis(1);
    let mut previous: Option<Vec<(goleash_core::Signature, u64)>> = None;
    let attempts = args.settle_attempts.max(1);
    for attempt in 1..=attempts {
        let body = input::fetch_dump(&client, url, args.http.leak_profile())?;
        let capture = goleash_core::read(&body[..], options, None)
            .with_context(|| format!("reading {url}"))?;
        let assessed = analysis::assess_capture(&capture, quiescent, source);
        let mut failing: Vec<(goleash_core::Signature, u64)> = Vec::new();
        let mut proven = false;
        for (s, a) in capture.snapshots.iter().zip(&assessed) {
            for (i, x) in a.iter().enumerate() {
                if gate.outcome(&capture.tables, &s.groups[i], x).0 == GateOutcome::Fail {
                    failing.push((s.groups[i].signature, s.groups[i].count));
                    proven |= s.groups[i].leaked > 0;
                }
            }
        }
        failing.sort();
        // A goroutine the runtime marked (leaked) can never run again: no later sample can
        // take it back, so there is nothing to wait for.
        let settled = failing.is_empty()
            || proven
            || previous.as_ref() == Some(&failing)
            || attempt == attempts;
        if settled {
            if attempt > 1 {
                eprintln!("goleash: {url}: judged after {attempt} samples");
            }
            let snapshots = assessed
                .into_iter()
                .map(|a| a.into_iter().map(|a| (a, None)).collect())
                .collect();
            return Ok(Judged {
                name: url.to_string(),
                capture,
                snapshots,
            });
        }
        previous = Some(failing);
        std::thread::sleep(delay);
        delay = (delay * 2).min(max_delay);
    }
    unreachable!("the last attempt always settles")
}

fn write_baseline(path: &Path, judged: &[Judged]) -> Result<Outcome> {
    let mut groups = Vec::new();
    for j in judged {
        let tables = &j.capture.tables;
        for (snapshot, assessed) in j.capture.snapshots.iter().zip(&j.snapshots) {
            groups.extend(
                snapshot
                    .groups
                    .iter()
                    .zip(assessed)
                    .filter_map(|(group, (a, _))| BaselineEntry::accepting(tables, group, a)),
            );
        }
    }
    config::write_baseline(path, groups, "`goleash check` and `goleash test`")?;
    Ok(Outcome::Ok)
}
