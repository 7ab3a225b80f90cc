//! `goleash inspect`: read dumps and show their goroutines grouped by stack.

use anyhow::Result;
use clap::Args;
use goleash_core::classify::{Assessment, Verdict};

use crate::Outcome;
use crate::analysis;
use crate::cli::{GroupingArgs, HttpArgs, JudgeArgs, OutputArgs, ShowArgs};
use crate::doc::inspect::{InspectDoc, Judged};
use crate::input::{self, Input};
use crate::render::text::{self, TextOptions};
use crate::render::{findings, style::Style};

/// Read goroutine dumps and profiles and show their goroutines grouped by stack.
#[derive(Args, Debug)]
#[command(after_help = "EXAMPLES:
    goleash inspect dump.txt
    go test ./... 2>&1 | goleash inspect
    curl -s localhost:6060/debug/pprof/goroutine?debug=2 | goleash inspect -
    goleash inspect http://127.0.0.1:6060
    goleash inspect --format json profile.pb.gz")]
pub struct InspectArgs {
    /// Dump files, `-` for standard input (the default), or the URL of a live service
    /// (`http://host:port`: reads /debug/pprof/goroutine?debug=2).
    pub inputs: Vec<String>,
    /// Show every frame instead of folding runtime and standard library runs.
    #[arg(long)]
    pub full: bool,
    #[command(flatten)]
    pub show: ShowArgs,
    /// Do not copy text that is not part of a dump to stdout when reading standard input.
    #[arg(long, short)]
    pub quiet: bool,
    #[command(flatten)]
    pub judge: JudgeArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub grouping: GroupingArgs,
    #[command(flatten)]
    pub http: HttpArgs,
}

impl InspectArgs {
    /// The arguments of a bare `goleash` reading standard input.
    pub fn parse_default() -> Self {
        #[derive(clap::Parser)]
        struct Wrapper {
            #[command(flatten)]
            inspect: InspectArgs,
        }
        <Wrapper as clap::Parser>::parse_from(["goleash"]).inspect
    }
}

pub fn run(args: &InspectArgs) -> Result<Outcome> {
    let inputs = Input::from_args(&args.inputs)?;
    let options = args.grouping.read_options();
    let client = args.http.client();
    let source = args.judge.source.files();
    let json_output = args.output.stdout_is_data();

    let mut passthrough = input::passthrough(json_output);

    let mut captures = Vec::new();
    let mut failed = false;
    for input in &inputs {
        let pass: Option<goleash_core::Passthrough<'_>> = if *input == Input::Stdin && !args.quiet {
            Some(&mut passthrough)
        } else {
            None
        };
        match input::read(input, &options, &client, pass, args.http.leak_profile()) {
            Ok(capture) => captures.push((input.name(), capture)),
            Err(e) if input::PassthroughFailed::is(&e) => return Err(e),
            Err(e) => {
                crate::report_error(&e);
                failed = true;
            }
        }
    }
    for (name, capture) in &captures {
        for warning in &capture.warnings {
            eprintln!("goleash: warning: {name}: {warning}");
        }
    }

    let assessments: Vec<Vec<Vec<Assessment>>> = captures
        .iter()
        .map(|(_, capture)| analysis::assess_capture(capture, args.judge.quiescent, &source))
        .collect();
    source.report_warnings();
    let judged: Vec<Judged<'_>> = captures
        .iter()
        .zip(&assessments)
        .map(|((name, capture), assessments)| Judged {
            name,
            capture,
            assessments,
        })
        .collect();
    let mut doc = InspectDoc::build(&judged);
    doc.source_note = source.note();
    let leaks = doc.groups.iter().any(|g| g.verdict == Verdict::Leak);

    let style = Style::for_stdout(args.output.color);
    let options = TextOptions {
        full: args.full,
        all: args.show.verbose,
    };
    super::print(
        args.output.format(),
        "inspect",
        &doc,
        || findings::of_inspect(&doc),
        &source,
        |out| text::inspect::write(out, &doc, &style, &options),
    )?;
    Ok(if failed {
        Outcome::InputError
    } else if leaks {
        Outcome::Leaks
    } else {
        Outcome::Ok
    })
}
