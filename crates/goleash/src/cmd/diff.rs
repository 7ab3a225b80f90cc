//! `goleash diff BEFORE AFTER`: what grew between two snapshots, matched by stack.

use anyhow::{Result, bail};
use clap::Args;
use goleash_core::classify::{Assessment, Verdict};
use goleash_core::diff;

use crate::Outcome;
use crate::analysis;
use crate::cli::{GroupingArgs, HttpArgs, JudgeArgs, OutputArgs, ShowArgs};
use crate::doc::diff::{DiffDoc, Side};
use crate::input::{self, Input};
use crate::render::findings;
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
    #[command(flatten)]
    pub show: ShowArgs,
    /// Show every frame instead of folding runtime and standard library runs.
    #[arg(long)]
    pub full: bool,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub grouping: GroupingArgs,
    #[command(flatten)]
    pub judge: JudgeArgs,
    #[command(flatten)]
    pub http: HttpArgs,
}

pub fn run(args: &DiffArgs) -> Result<Outcome> {
    let options = args.grouping.read_options();
    let before_input = Input::from_arg(&args.before);
    let after_input = Input::from_arg(&args.after);
    if before_input == Input::Stdin && after_input == Input::Stdin {
        bail!("only one of BEFORE and AFTER can be standard input");
    }
    let before = input::read_snapshot(&before_input, &options, &args.http)?;
    let after = input::read_snapshot(&after_input, &options, &args.http)?;
    let source = args.judge.source.files();
    let (b, a) = (input::last(&before), input::last(&after));
    let rows = diff::diff((&before.tables, b), (&after.tables, a));
    let after_assessed: Vec<Assessment> = analysis::assess_growth(
        (&after, a),
        (&before, b),
        &rows,
        args.judge.quiescent,
        &source,
    )
    .into_iter()
    .map(|(assessment, _)| assessment)
    .collect();
    let before_assessed =
        analysis::assess_snapshot(&before, b, &|_| None, args.judge.quiescent, &source);
    source.report_warnings();
    let mut doc = DiffDoc::build(
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
    doc.source_note = source.note();
    let leaks = after_assessed.iter().any(|x| x.verdict == Verdict::Leak);

    let style = Style::for_stdout(args.output.color);
    let options = TextOptions {
        full: args.full,
        all: args.show.verbose,
    };
    super::print(
        args.output.format(),
        "diff",
        &doc,
        || findings::of_diff(&doc),
        &source,
        |out| text::diff::write(out, &doc, &style, &options),
    )?;
    Ok(if leaks { Outcome::Leaks } else { Outcome::Ok })
}
