//! `goleash check`: the CI gate. Exit 1 when a snapshot holds leaks.

use std::path::Path;
use std::time::Duration;

use std::io;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use goleash_core::trend::TrendOptions;
use goleash_core::{Capture, ReadOptions};

use crate::Outcome;
use crate::analysis::{self, FileSource};
use crate::cli::{
    GateArgs, GroupingArgs, HttpArgs, OutputArgs, ShowArgs, SourceArgs, parse_duration,
};
use crate::collect::{self, Client, Limits};
use crate::config::{self, BaselineEntry};
use crate::doc::check::{CheckDoc, Judged, LoadRun, Settled};
use crate::gate::{Gate, GateOutcome};
use crate::input::{self, Input};
use crate::render::findings;
use crate::render::style::Style;
use crate::render::text::{self, TextOptions};
use crate::watch::sources::CountSource;

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
    goleash check --load './loadtest.sh' http://127.0.0.1:6060
                                                  idle, load, settle, judge what stayed
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
    /// With a service URL: take an idle snapshot, run this shell command (a load generator,
    /// a test script), wait for the goroutine count to come back, and judge what stayed:
    /// proven leaks, stacks that grew, and their ways out where the source is at hand.
    #[arg(long, value_name = "CMD")]
    pub load: Option<String>,
    /// Longest wait after the load for the goroutine count to come back or stop falling.
    #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    pub settle_timeout: Duration,
    /// Do not copy text that is not part of a dump when reading standard input.
    #[arg(long, short)]
    pub quiet: bool,
    #[command(flatten)]
    pub show: ShowArgs,
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

    let mut load_run = None;
    let judged: Vec<Judged> = if let Some(command) = &args.load {
        let [Input::Url(url)] = inputs.as_slice() else {
            bail!(
                "--load needs one service URL to judge\n  hint: goleash check --load 'CMD' http://127.0.0.1:6060"
            );
        };
        let (judged, run) = judge_load(url, command, &options, args, quiescent, &source)?;
        load_run = Some(run);
        vec![judged]
    } else if inputs.len() >= 2 {
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

    let mut doc = CheckDoc::build(&judged, &gate);
    doc.load = load_run;
    doc.source_note = source.note();
    let style = Style::for_stdout(args.output.color);
    super::print(
        args.output.format(),
        "check",
        &doc,
        || findings::of_check(&doc),
        &source,
        |out| {
            let options = TextOptions {
                full: false,
                all: args.show.verbose,
            };
            text::check::write(out, &doc, &style, &options)
        },
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
    let judged = analysis::assess_growth((&last, a), (&first, b), &rows, quiescent, source);
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

/// The three looks of a load test, automated: the idle snapshot, the load, the wait for
/// the count to come back (bounded), the after snapshot; then the after judged against the
/// idle one, as two inputs are.
fn judge_load(
    url: &str,
    command: &str,
    options: &ReadOptions,
    args: &CheckArgs,
    quiescent: bool,
    source: &FileSource,
) -> Result<(Judged, LoadRun)> {
    let client = args.http.client();
    let snapshot = |when: &str| -> Result<Capture> {
        let body = input::fetch_dump(&client, url, args.http.leak_profile())?;
        let capture = goleash_core::read(&body[..], options, None)
            .with_context(|| format!("reading {url} {when}"))?;
        if capture.snapshots.is_empty() {
            bail!("{url} served no goroutine dump {when}");
        }
        Ok(capture)
    };
    let idle = snapshot("before the load")?;
    let goroutines_idle = input::last(&idle).total;
    eprintln!("goleash: {url}: {goroutines_idle} goroutines idle; running the load: {command}");

    let counter = Counter::new(&client, url);
    let started = Instant::now();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        // Standard output is the document's: the load's own output goes to stderr.
        .stdout(io::stderr())
        .spawn()
        .with_context(|| format!("cannot run the load command {command:?}"))?;
    let mut peak = goroutines_idle;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if let Ok(count) = counter.count() {
            peak = peak.max(count);
        }
        std::thread::sleep(counter.gap);
    };
    let load_secs = started.elapsed().as_secs_f64();
    if !status.success() {
        bail!(
            "the load command failed ({status}): {command}\n  hint: a load that did not run cannot tell a leak; fix it, or judge by hand with two snapshots"
        );
    }

    let settle_started = Instant::now();
    let settled = counter.settle(goroutines_idle, args.settle_timeout, &mut peak);
    let settle_secs = settle_started.elapsed().as_secs_f64();
    let after = snapshot("after the load")?;
    let goroutines_after = input::last(&after).total;
    let rows = goleash_core::diff::diff(
        (&idle.tables, input::last(&idle)),
        (&after.tables, input::last(&after)),
    );
    let judged = analysis::assess_growth(
        (&after, input::last(&after)),
        (&idle, input::last(&idle)),
        &rows,
        quiescent,
        source,
    );
    let mut capture = after;
    let keep = capture.snapshots.len() - 1;
    capture.snapshots.drain(..keep);
    Ok((
        Judged {
            name: url.to_string(),
            capture,
            snapshots: vec![judged],
        },
        LoadRun {
            command: command.to_string(),
            goroutines_idle,
            goroutines_peak: peak,
            goroutines_after,
            load_secs,
            settle_secs,
            settled,
        },
    ))
}

/// The goroutine count of a service, from its cheapest source, sampled no more often than
/// its cost allows.
struct Counter<'c> {
    client: &'c Client,
    source: Option<CountSource>,
    base: String,
    gap: Duration,
}

/// A count is asked for at most this often while a load runs or settles.
const COUNT_GAP: Duration = Duration::from_millis(250);

impl<'c> Counter<'c> {
    fn new(client: &'c Client, url: &str) -> Counter<'c> {
        let base = collect::pprof_base(url);
        let source = CountSource::LADDER.into_iter().find(|source| {
            client
                .get_with(
                    &source.url(&base),
                    Limits {
                        timeout: None,
                        html: *source == CountSource::Index,
                    },
                )
                .ok()
                .and_then(|body| source.read(&body))
                .is_some()
        });
        Counter {
            client,
            source,
            base,
            gap: COUNT_GAP,
        }
    }

    fn count(&self) -> Result<u64> {
        match self.source {
            Some(source) => {
                let body = self.client.get_with(
                    &source.url(&self.base),
                    Limits {
                        timeout: None,
                        html: source == CountSource::Index,
                    },
                )?;
                source.read(&body).map(|r| r.goroutines).with_context(|| {
                    format!("{} carries no goroutine count", source.url(&self.base))
                })
            }
            None => {
                let url = collect::profile_url(&self.base, "goroutine", 0);
                let body = self.client.get(&url)?;
                let capture = goleash_core::read(&body[..], &ReadOptions::default(), None)?;
                Ok(capture.snapshots.last().map_or(0, |s| s.total))
            }
        }
    }

    /// Waits until the count is back at `idle` (within the tolerance the trends use), or
    /// has not fallen for a while, or `timeout` passed.
    fn settle(&self, idle: u64, timeout: Duration, peak: &mut u64) -> Settled {
        let tolerance = TrendOptions::default();
        let back_at = idle as f64 + tolerance.return_abs.max(tolerance.return_rel * idle as f64);
        // A count that drains falls within a second or two; one that has not moved down for
        // this long is where it stays.
        let steady_for = Duration::from_secs(3).min(timeout);
        let started = Instant::now();
        let mut lowest = u64::MAX;
        let mut lowest_since = started;
        loop {
            if let Ok(count) = self.count() {
                *peak = (*peak).max(count);
                if count as f64 <= back_at {
                    return Settled::Back;
                }
                if count < lowest {
                    lowest = count;
                    lowest_since = Instant::now();
                } else if lowest_since.elapsed() >= steady_for {
                    return Settled::Steady;
                }
            }
            if started.elapsed() >= timeout {
                return Settled::Timeout;
            }
            std::thread::sleep(self.gap);
        }
    }
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
