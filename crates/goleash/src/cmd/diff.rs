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
use crate::doc::diff::{DiffDoc, Side};
use crate::input::{self, Input};
use crate::render::json;
use crate::render::style::Style;
use crate::render::text::{self, TextOptions};

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
    let doc = DiffDoc::build(
        Side {
            name: &before_input.name(),
            argument: &args.before,
            capture: &before,
            snapshot: b,
            assessments: &before_assessed,
        },
        Side {
            name: &after_input.name(),
            argument: &args.after,
            capture: &after,
            snapshot: a,
            assessments: &after_assessed,
        },
        &rows,
    );
    let leaks = after_assessed.iter().any(|x| x.verdict == Verdict::Leak);

    let stdout = io::stdout();
    let mut out = stdout.lock();
    match args.common.format {
        OutputFormat::Json => json::write(&mut out, &doc)?,
        OutputFormat::Text => {
            let style = Style::for_stdout(args.common.color);
            let options = TextOptions {
                full: args.full,
                all: args.all,
            };
            text::diff::write(&mut out, &doc, &style, &options)?;
        }
    }
    out.flush()?;
    Ok(if leaks { Outcome::Leaks } else { Outcome::Ok })
}
