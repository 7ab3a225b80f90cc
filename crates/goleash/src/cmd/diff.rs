//! `goleash diff BEFORE AFTER`: what grew between two snapshots, matched by stack.

use std::io::{self, Write};

use anyhow::{Result, bail};
use clap::Args;
use goleash_core::classify::{Assessment, Verdict};
use goleash_core::diff::{self, Row};
use goleash_core::{Capture, ReadOptions, Snapshot};

use crate::Outcome;
use crate::analysis::{self, FileSource};
use crate::cli::{CommonArgs, HttpArgs, JudgeArgs, OutputFormat};
use crate::input::{self, Input};
use crate::render::json;
use crate::render::style::Style;
use crate::render::text::{self, GroupView, TextOptions, plural, thousands};

/// Compare two snapshots: which stacks grew, by how much, what is new and what is gone.
///
/// Groups are matched by stack signature, not goroutine id, so the snapshots can come from
/// different processes, restarts, instances and formats (a debug=0 profile before, a debug=2
/// dump after). Stacks that grew while blocked on something only another goroutine can end
/// are leaks.
#[derive(Args, Debug)]
#[command(after_help = "EXAMPLES:
    goleash diff before.txt after.txt
    goleash diff baseline.pb.gz http://127.0.0.1:6060
    goleash diff --format json before.txt after.txt | jq '.groups[] | select(.verdict == \"leak\")'")]
pub struct DiffArgs {
    /// The earlier snapshot: a file, `-`, or a service URL.
    pub before: String,
    /// The later snapshot.
    pub after: String,
    /// Also show the groups that did not change.
    #[arg(long)]
    pub all: bool,
    /// Show every frame instead of folding runtime and standard library runs.
    #[arg(long)]
    pub full: bool,
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub judge: JudgeArgs,
    #[command(flatten)]
    pub http: HttpArgs,
}

/// Reads an input that should hold one snapshot; when it holds several, the last is used.
pub fn read_one(input: &Input, options: &ReadOptions, http: &HttpArgs) -> Result<Capture> {
    let capture = input::read(input, options, &http.client(), None, http.leak_profile())?;
    if capture.snapshots.is_empty() {
        bail!(
            "{}: no goroutine dump in it (only race reports)",
            input.name()
        );
    }
    if capture.snapshots.len() > 1 {
        eprintln!(
            "goleash: note: {} holds {} dumps; comparing the last",
            input.name(),
            capture.snapshots.len()
        );
    }
    Ok(capture)
}

/// The assessments of the later snapshot's groups, each with its row's growth.
pub fn assess_after(
    before: &Capture,
    after: &Capture,
    rows: &[Row],
    judge: &JudgeArgs,
    source: &FileSource,
) -> Vec<Assessment> {
    let _ = before;
    let a = last(after);
    let mut growth_of = vec![None; a.groups.len()];
    for row in rows {
        for &i in &row.after {
            growth_of[i] = Some(row.growth());
        }
    }
    analysis::assess_snapshot(after, a, &|i| growth_of[i], judge.quiescent, source)
}

fn last(capture: &Capture) -> &Snapshot {
    capture
        .snapshots
        .last()
        .expect("read_one checked that there is one")
}

pub fn run(args: &DiffArgs) -> Result<Outcome> {
    let options = ReadOptions {
        group: args.common.group_options(),
        ..Default::default()
    };
    let before_input = Input::from_arg(&args.before);
    let after_input = Input::from_arg(&args.after);
    if before_input == Input::Stdin && after_input == Input::Stdin {
        bail!("only one of BEFORE and AFTER can be standard input");
    }
    let before = read_one(&before_input, &options, &args.http)?;
    let after = read_one(&after_input, &options, &args.http)?;
    let source = FileSource::new(args.judge.no_source);
    let (b, a) = (last(&before), last(&after));
    let rows = diff::diff((&before.tables, b), (&after.tables, a));
    let after_assessed = assess_after(&before, &after, &rows, &args.judge, &source);
    let before_assessed =
        analysis::assess_snapshot(&before, b, &|_| None, args.judge.quiescent, &source);
    let leaks = after_assessed.iter().any(|x| x.verdict == Verdict::Leak);

    let stdout = io::stdout();
    let mut out = stdout.lock();
    match args.common.format {
        OutputFormat::Json => {
            let doc = json::diff_doc(
                (&before_input.name(), &before, b, &before_assessed),
                (&after_input.name(), &after, a, &after_assessed),
                &rows,
            );
            json::write(&mut out, &doc)?;
        }
        OutputFormat::Text => {
            let style = Style::for_stdout(args.common.color);
            let options = TextOptions {
                full: args.full,
                all: args.all,
            };
            write_text(
                &mut out,
                args,
                (&before, b),
                (&after, a, &after_assessed),
                &rows,
                &style,
                &options,
            )?;
        }
    }
    out.flush()?;
    Ok(if leaks { Outcome::Leaks } else { Outcome::Ok })
}

fn write_text(
    out: &mut dyn Write,
    args: &DiffArgs,
    before: (&Capture, &Snapshot),
    after: (&Capture, &Snapshot, &[Assessment]),
    rows: &[Row],
    style: &Style,
    options: &TextOptions,
) -> io::Result<()> {
    let (before_capture, b) = before;
    let (after_capture, a, assessed) = after;
    let delta = a.total as i64 - b.total as i64;
    let grew = rows
        .iter()
        .filter(|r| r.count_before > 0 && r.delta() > 0)
        .count();
    let new = rows.iter().filter(|r| r.count_before == 0).count();
    let gone = rows.iter().filter(|r| r.count_after == 0).count();
    writeln!(
        out,
        "{} → {}: {} → {} ({delta:+}) · {grew} grew, {new} new, {gone} gone",
        style.bold(&args.before),
        style.bold(&args.after),
        thousands(b.total),
        plural(a.total, "goroutine", "goroutines"),
    )?;
    let changed: Vec<&Row> = rows
        .iter()
        .filter(|r| r.delta() != 0 || options.all)
        .filter(|r| !r.after.is_empty())
        .collect();
    let views: Vec<GroupView<'_>> = changed
        .iter()
        .flat_map(|row| {
            row.after.iter().map(move |&i| GroupView {
                tables: &after_capture.tables,
                snapshot: a,
                group: &a.groups[i],
                assessment: &assessed[i],
                growth: Some(row.growth()),
            })
        })
        .collect();
    if views.is_empty() {
        writeln!(out, "  no stack grew or appeared")?;
    }
    text::write_groups(out, &views, style, options)?;
    let gone_rows: Vec<&Row> = rows.iter().filter(|r| r.count_after == 0).collect();
    if !gone_rows.is_empty() {
        writeln!(out)?;
        writeln!(out, "  {}", style.dim("gone:"))?;
        for row in gone_rows {
            let group = &b.groups[row.before[0]];
            let tables = &before_capture.tables;
            let site = goleash_core::classify::sites(tables, group).1;
            let name = site
                .map(|f| tables.str(tables.get_frame(f).function).into_owned())
                .unwrap_or_default();
            writeln!(out, "  {:>8}  {name}", format!("{:+}", row.delta()))?;
        }
    }
    let unchanged: Vec<&Row> = rows.iter().filter(|r| r.delta() == 0).collect();
    if !unchanged.is_empty() && !options.all {
        let goroutines: u64 = unchanged.iter().map(|r| r.count_after).sum();
        writeln!(out)?;
        writeln!(
            out,
            "  {}",
            style.dim(&format!(
                "{} unchanged ({}); --all shows them",
                plural(unchanged.len() as u64, "stack", "stacks"),
                plural(goroutines, "goroutine", "goroutines")
            ))
        )?;
    }
    let verdicts: Vec<Verdict> = assessed.iter().map(|x| x.verdict).collect();
    if !verdicts.contains(&Verdict::Leak) && delta > 0 {
        writeln!(
            out,
            "  {}",
            style.dim("no group grew while stuck: no leak found")
        )?;
    }
    Ok(())
}
