//! `goleash report`: the history a watch recorded, as an HTML page, JSON or text.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};

use crate::Outcome;
use crate::cli::SourceArgs;
use crate::doc::report::TargetVerdict;
use crate::render::style::{ColorChoice, Style};
use crate::render::{html, json, text};
use crate::report;
use crate::store::Store;

/// Report formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// One self-contained page with charts.
    Html,
    /// For machines: see docs/json.md.
    Json,
    /// For a terminal.
    Text,
}

/// Draw the history of `goleash watch`: the goroutine count over time per service, with
/// load phases and restarts, the stacks that grew with their verdicts, leak sites and
/// fixes, and the first and last snapshots compared.
#[derive(Args, Debug)]
#[command(after_help = "EXAMPLES:
    goleash report -o report.html                   the history of the last watches
    goleash report --db ci-watch.db --format text
    goleash report --format json | jq '.targets[] | {target, verdict}'")]
pub struct ReportArgs {
    /// The history database a watch wrote: a file, or a `postgres://` URL (default: the one
    /// `goleash watch` writes without --db, goleash/watch.db under $XDG_STATE_HOME or
    /// ~/.local/state).
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Html)]
    pub format: ReportFormat,
    /// Write here instead of standard output. An HTML report meant for a terminal goes to
    /// goleash-report.html when this is not given.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Only the targets whose URL contains this.
    #[arg(long, value_name = "TEXT")]
    pub target: Option<String>,
    #[command(flatten)]
    pub source: SourceArgs,
    /// When to colour text output (NO_COLOR is honoured).
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

pub fn run(args: &ReportArgs) -> Result<Outcome> {
    let db = super::history_db(args.db.as_deref())?;
    let store = Store::open_existing(&db)?;
    let source = args.source.files();
    let doc = report::build(
        &store,
        // Not `db`: a PostgreSQL URL's password stays out of the report.
        &store.path().display().to_string(),
        args.target.as_deref(),
        &source,
    )?;
    source.report_warnings();
    let output = match (&args.output, args.format) {
        (None, ReportFormat::Html) if io::stdout().is_terminal() => {
            Some(PathBuf::from("goleash-report.html"))
        }
        (output, _) => output.clone(),
    };
    let mut out: Box<dyn Write> = match &output {
        Some(path) => Box::new(BufWriter::new(
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(io::stdout().lock()),
    };
    match args.format {
        ReportFormat::Html => html::write(&mut out, &doc)?,
        ReportFormat::Json => json::write_line(&mut out, &doc)?,
        ReportFormat::Text => {
            let style = match output {
                Some(_) => Style::for_stdout(ColorChoice::Never),
                None => Style::for_stdout(args.color),
            };
            text::report::write(&mut out, &doc, &style)?;
        }
    }
    out.flush()?;
    if let Some(path) = &output {
        eprintln!("goleash: wrote {}", path.display());
    }
    Ok(
        if doc.targets.iter().any(|t| t.verdict == TargetVerdict::Leak) {
            Outcome::Leaks
        } else {
            Outcome::Ok
        },
    )
}
