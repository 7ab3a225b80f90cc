//! `goleash inspect`: read dumps and show their goroutines grouped by stack.

use std::io::{self, Write};

use anyhow::Result;
use clap::Args;
use goleash_core::ReadOptions;
use goleash_core::classify::{Assessment, Verdict};

use crate::Outcome;
use crate::analysis::{self, FileSource};
use crate::cli::{CommonArgs, HttpArgs, JudgeArgs, OutputFormat};
use crate::input::{self, Input};
use crate::render::{json, style::Style, text};

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
    /// Show the groups that are long-lived by design in full, not one line each.
    #[arg(long)]
    pub all: bool,
    /// Do not copy text that is not part of a dump to stdout when reading standard input.
    #[arg(long, short)]
    pub quiet: bool,
    #[command(flatten)]
    pub judge: JudgeArgs,
    #[command(flatten)]
    pub common: CommonArgs,
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
    let options = ReadOptions {
        group: args.common.group_options(),
        ..Default::default()
    };
    let client = args.http.client();
    let source = FileSource::new(args.judge.no_source);
    let json_output = args.common.format == OutputFormat::Json;

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
    let leaks = assessments
        .iter()
        .flatten()
        .flatten()
        .any(|a| a.verdict == Verdict::Leak);

    let stdout = io::stdout();
    let mut out = stdout.lock();
    if json_output {
        let sources: Vec<(String, &goleash_core::Capture, &[Vec<Assessment>])> = captures
            .iter()
            .zip(&assessments)
            .map(|((n, c), a)| (n.clone(), c, a.as_slice()))
            .collect();
        json::write(&mut out, &json::inspect_doc(&sources))?;
    } else {
        let sources: Vec<text::Source<'_>> = captures
            .iter()
            .zip(&assessments)
            .map(|((name, capture), assessments)| text::Source {
                name: name.clone(),
                capture,
                assessments,
            })
            .collect();
        let style = Style::for_stdout(args.common.color);
        let options = text::TextOptions {
            full: args.full,
            all: args.all,
        };
        text::write_report(&mut out, &sources, &style, &options)?;
    }
    out.flush()?;
    Ok(if failed {
        Outcome::InputError
    } else if leaks {
        Outcome::Leaks
    } else {
        Outcome::Ok
    })
}
